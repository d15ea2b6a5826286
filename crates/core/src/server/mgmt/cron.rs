//! hawkBit maintenance-window schedules (`maintenanceWindow {schedule,
//! duration, timezone}` of an assignment; hawkBit `MaintenanceScheduleHelper`,
//! Quartz cron `sec min hour day-of-month month day-of-week [year]`) mapped
//! onto the core's single [`MaintenanceSchedule`] per action.
//!
//! Supported, honestly: fixed second, minute and hour; day-of-month `*`, `?`
//! or a number; month `*` or a number; day-of-week `*` or `?`; year absent,
//! `*` or a number. The window is the one hawkBit would use at assignment
//! time: the occurrence still open at `now` (start ≤ now < start + duration),
//! else the next one. Later occurrences are not modelled (the core keeps one
//! window; once it lapses the action is canceled, as in hawkBit when no
//! window is left). Anything else — ranges, lists, steps, `L`, `W`, `#`,
//! names — is answered 400 `maintenanceScheduleInvalid`.
//! Scenario time is taken as milliseconds since 1970-01-01T00:00Z.

use crate::message::Response;
use crate::server::MaintenanceSchedule;
use crate::time::{civil_from_days, Span, Time};

use super::wire::{self, MaintenanceWindow};

const DAY_MS: i64 = 86_400_000;
/// Furthest ahead a window is searched for (days): two centuries.
const MAX_SEARCH_DAYS: i64 = 200 * 366;

fn invalid(message: impl Into<String>) -> Response {
    wire::error(
        400,
        "org.eclipse.hawkbit.repository.exception.InvalidMaintenanceScheduleException",
        "hawkbit.server.error.maintenanceScheduleInvalid",
        message,
    )
}

/// `HH:mm:ss` (hours may exceed 23) as a span.
pub(super) fn parse_hms(text: &str) -> Option<Span> {
    let parts: Vec<&str> = text.trim().split(':').collect();
    let [h, m, s] = parts.as_slice() else {
        return None;
    };
    let h: u64 = h.parse().ok()?;
    let m: u64 = m.parse().ok().filter(|m| *m < 60)?;
    let s: u64 = s.parse().ok().filter(|s| *s < 60)?;
    Some(Span::secs(h.checked_mul(3600)? + m * 60 + s))
}

/// `+HH:mm` / `-HH:mm` (or `Z`) as an offset in milliseconds.
fn parse_offset(text: &str) -> Option<i64> {
    let t = text.trim();
    if t == "Z" {
        return Some(0);
    }
    let (sign, rest) = match t.as_bytes().first()? {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let h: i64 = h.parse().ok().filter(|h| *h <= 18)?;
    let m: i64 = m.parse().ok().filter(|m| *m < 60)?;
    Some(sign * (h * 3_600_000 + m * 60_000))
}

/// A cron field: any value, or one number within `range`.
fn field(
    text: &str,
    range: std::ops::RangeInclusive<i64>,
    any: &[&str],
) -> Result<Option<i64>, ()> {
    if any.contains(&text) {
        return Ok(None);
    }
    match text.parse::<i64>() {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(()),
    }
}

/// The window hawkBit would pick for `w` at `now`, or hawkBit's 400.
pub(super) fn window(w: &MaintenanceWindow, now: Time) -> Result<MaintenanceSchedule, Response> {
    let duration = parse_hms(&w.duration)
        .filter(|d| d.0 > 0)
        .ok_or_else(|| invalid(format!("duration {:?}: expected HH:mm:ss", w.duration)))?;
    let offset = parse_offset(&w.timezone).ok_or_else(|| {
        invalid(format!(
            "timezone {:?}: expected +HH:mm or -HH:mm",
            w.timezone
        ))
    })?;
    let fields: Vec<&str> = w.schedule.split_whitespace().collect();
    if !(6..=7).contains(&fields.len()) {
        return Err(invalid(
            "schedule: expected a Quartz cron expression with 6 or 7 fields",
        ));
    }
    let unsupported = || {
        invalid(format!(
            "schedule {:?}: only fixed second, minute and hour, day-of-month */?/N, month */N, \
             day-of-week */? and year */N are supported",
            w.schedule
        ))
    };
    let fixed = |i: usize, max: i64| field(fields[i], 0..=max, &[]).ok().flatten();
    let (Some(sec), Some(min), Some(hour)) = (fixed(0, 59), fixed(1, 59), fixed(2, 23)) else {
        return Err(unsupported());
    };
    let dom = field(fields[3], 1..=31, &["*", "?"]).map_err(|_| unsupported())?;
    let month = field(fields[4], 1..=12, &["*"]).map_err(|_| unsupported())?;
    if !matches!(fields[5], "*" | "?") {
        return Err(unsupported());
    }
    let year = match fields.get(6) {
        Some(y) => field(y, 1970..=2999, &["*"]).map_err(|_| unsupported())?,
        None => None,
    };
    let now_ms = i64::try_from(now.as_millis()).unwrap_or(i64::MAX / 2);
    let dur_ms = i64::try_from(duration.0)
        .unwrap_or(i64::MAX / 4)
        .min(i64::MAX / 4);
    let time_of_day = ((hour * 60 + min) * 60 + sec) * 1000;
    let first_day = (now_ms + offset - dur_ms).div_euclid(DAY_MS) - 1;
    for day in first_day..first_day + MAX_SEARCH_DAYS {
        let (y, m, d) = civil_from_days(day);
        let (m, d) = (i64::from(m), i64::from(d));
        if year.is_some_and(|want| y > want) {
            break;
        }
        let hit = dom.is_none_or(|want| want == d)
            && month.is_none_or(|want| want == m)
            && year.is_none_or(|want| want == y);
        let start = day * DAY_MS + time_of_day - offset;
        if hit && start >= 0 && start + dur_ms > now_ms {
            return Ok(MaintenanceSchedule {
                start: Time(start as u64),
                duration,
            });
        }
    }
    Err(invalid(format!(
        "schedule {:?}: no maintenance window in the future",
        w.schedule
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mw(schedule: &str, duration: &str, tz: &str) -> MaintenanceWindow {
        MaintenanceWindow {
            schedule: schedule.into(),
            duration: duration.into(),
            timezone: tz.into(),
        }
    }

    #[test]
    fn daily_window_is_the_open_or_next_one() {
        let hour = 3_600_000;
        let w = mw("0 0 2 * * ?", "01:00:00", "+00:00");
        let at = |t| window(&w, Time(t)).expect("valid");
        assert_eq!(at(0).start, Time(2 * hour));
        assert_eq!(at(2 * hour + 5).start, Time(2 * hour)); // still open
        assert_eq!(at(3 * hour).start, Time(26 * hour)); // lapsed: tomorrow
        assert_eq!(at(0).duration, Span::hours(1));
        // +02:00: 02:00 local is 00:00 UTC.
        let east = mw("0 0 2 * * ?", "00:10:00", "+02:00");
        assert_eq!(window(&east, Time(1)).expect("valid").start, Time(0));
        assert_eq!(
            window(&east, Time(11 * 60_000)).expect("valid").start,
            Time(24 * hour)
        );
    }

    #[test]
    fn fixed_dates_and_years() {
        // 14 March 1970 12:10:10 UTC = day 72.
        let w = mw("10 10 12 14 3 ? 1970", "00:10:00", "+00:00");
        let s = window(&w, Time(0)).expect("valid");
        assert_eq!(
            s.start,
            Time(72 * DAY_MS as u64 + (12 * 3600 + 10 * 60 + 10) * 1000)
        );
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        // Past its only year: no window.
        assert_eq!(
            window(&w, Time(400 * DAY_MS as u64))
                .map(|_| ())
                .map_err(|r| r.status),
            Err(400)
        );
    }

    #[test]
    fn unsupported_or_malformed_is_400() {
        for (s, d, tz) in [
            ("0 0/5 2 * * ?", "00:10:00", "+00:00"),
            ("0 0 2 * * MON", "00:10:00", "+00:00"),
            ("0 0 2 * JAN ?", "00:10:00", "+00:00"),
            ("0 0 2 * *", "00:10:00", "+00:00"),
            ("0 0 2 * * ?", "10 minutes", "+00:00"),
            ("0 0 2 * * ?", "00:00:00", "+00:00"),
            ("0 0 2 * * ?", "00:10:00", "CET"),
            ("0 0 2 31 2 ?", "00:10:00", "+00:00"),
        ] {
            let r = window(&mw(s, d, tz), Time(0)).expect_err(s);
            assert_eq!(r.status, 400, "{s} {d} {tz}");
        }
    }
}
