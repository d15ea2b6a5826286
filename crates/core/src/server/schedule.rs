//! Recurring maintenance windows (ddi.md §4): an assignment's
//! `maintenanceWindow {schedule, duration, timezone}` as hawkBit reads it
//! (`MaintenanceScheduleHelper`, cron-utils' Quartz definition).
//!
//! - `schedule`: Quartz cron `sec min hour day-of-month month day-of-week
//!   [year]`. Every field takes `*`, values, lists `a,b`, ranges `a-b` and
//!   steps `a/n`, `*/n`, `a-b/n`; months `JAN`–`DEC`, weekdays `SUN`–`SAT`
//!   (Sunday = 1); day-of-month `L`, `L-n`, `nW`, `LW`; day-of-week `nL`
//!   (last n-day of the month), `L` (= 7), `n#k` (k-th n-day). Exactly one of
//!   day-of-month and day-of-week is `?` (cron-utils'
//!   `ensureEitherDayOfWeekOrDayOfMonth`); years are 1970–2099.
//! - `duration`: `LocalTime.parse`, so `HH:mm` or `HH:mm:ss[.fff]`, below 24 h.
//! - `timezone`: `ZoneOffset.of`: `Z`, `±H`, `±HH`, `±HH:mm`, `±HHmm`,
//!   `±HH:mm:ss`, `±HHmmss`, within ±18:00.
//!
//! hawkBit's window is `nextExecution(now − duration)`: the first occurrence
//! strictly after `now − duration`, i.e. the open one or the next; none left
//! means the schedule has lapsed (`JpaAction.isMaintenanceScheduleLapsed`).
//! It is open while `start < now < start + duration` (both strict, as in
//! `isMaintenanceWindowAvailable`). Scenario time is milliseconds since
//! 1970-01-01T00:00Z.

use std::fmt;

use crate::time::{civil_from_days, days_from_civil, Span, Time};

const DAY_S: i64 = 86_400;
const FIRST_YEAR: i64 = 1970;
const LAST_YEAR: i64 = 2099;

/// Why a schedule is not one hawkBit accepts (its 400 `maintenanceScheduleInvalid`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, ScheduleError> {
    Err(ScheduleError(message.into()))
}

/// Day-of-month rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct MonthDays {
    /// Bits 1..=31.
    days: u32,
    /// `L` / `L-n`: the last day minus these offsets.
    from_last: Vec<u8>,
    /// `nW`: the weekday nearest to day n (within the month).
    nearest_weekday: Vec<u8>,
    /// `LW`: the last weekday of the month.
    last_weekday: bool,
}

/// Day-of-week rule (Quartz numbering: Sunday = 1 … Saturday = 7).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct WeekDays {
    /// Bits 1..=7.
    days: u8,
    /// `nL`: last n-day of the month (bits 1..=7).
    last: u8,
    /// `n#k`: the k-th n-day of the month.
    nth: Vec<(u8, u8)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Days {
    Month(MonthDays),
    Week(WeekDays),
}

/// A parsed Quartz cron expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    seconds: u64,
    minutes: u64,
    hours: u64,
    /// Bits 1..=12.
    months: u64,
    days: Days,
    /// Bit `y - 1970` for each allowed year (1970..=2099); all set without a year field.
    years: [u64; 3],
}

/// A maintenance schedule: the cron, each window's length and the offset
/// the cron's wall-clock times are in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    cron: Cron,
    duration: Span,
    /// Local time = UTC + this (milliseconds).
    offset_ms: i64,
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cron window of {}", self.duration)
    }
}

fn month_name(s: &str) -> Option<u32> {
    const N: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    N.iter()
        .position(|n| n.eq_ignore_ascii_case(s))
        .map(|i| i as u32 + 1)
}

fn day_name(s: &str) -> Option<u32> {
    const N: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    N.iter()
        .position(|n| n.eq_ignore_ascii_case(s))
        .map(|i| i as u32 + 1)
}

/// Calls `f` with each value a field expression (`*`, values, lists,
/// ranges, steps) selects within `lo..=hi`.
fn each_value(
    text: &str,
    lo: u32,
    hi: u32,
    names: fn(&str) -> Option<u32>,
    mut f: impl FnMut(u32),
) -> Result<(), ScheduleError> {
    let value = |s: &str| -> Result<u32, ScheduleError> {
        let v = s.parse::<u32>().ok().or_else(|| names(s));
        match v {
            Some(v) if (lo..=hi).contains(&v) => Ok(v),
            _ => err(format!("{s:?} is not a value in {lo}-{hi}")),
        }
    };
    for term in text.split(',') {
        let (range, step) = match term.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| ScheduleError(format!("bad step in {term:?}")))?;
                (r, Some(step))
            }
            None => (term, None),
        };
        let (a, b) = match range {
            "*" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                // `a/n` runs from a to the top of the range.
                None if step.is_some() => (value(r)?, hi),
                None => {
                    let v = value(r)?;
                    (v, v)
                }
            },
        };
        if a > b {
            return err(format!("range {term:?} runs backwards"));
        }
        (a..=b).step_by(step.unwrap_or(1) as usize).for_each(&mut f);
    }
    Ok(())
}

/// One field's values as a bit set (bit v for value v; `hi` ≤ 63).
fn bits(
    text: &str,
    lo: u32,
    hi: u32,
    names: fn(&str) -> Option<u32>,
) -> Result<u64, ScheduleError> {
    let mut set = 0u64;
    each_value(text, lo, hi, names, |v| set |= 1 << v)?;
    Ok(set)
}

fn parse_month_days(text: &str) -> Result<MonthDays, ScheduleError> {
    let mut out = MonthDays::default();
    for term in text.split(',') {
        let upper = term.to_ascii_uppercase();
        if upper == "LW" {
            out.last_weekday = true;
        } else if upper == "L" {
            out.from_last.push(0);
        } else if let Some(n) = upper.strip_prefix("L-") {
            match n.parse::<u8>() {
                Ok(n) if n <= 30 => out.from_last.push(n),
                _ => return err(format!("day-of-month {term:?}")),
            }
        } else if let Some(n) = upper.strip_suffix('W') {
            match n.parse::<u8>() {
                Ok(n) if (1..=31).contains(&n) => out.nearest_weekday.push(n),
                _ => return err(format!("day-of-month {term:?}")),
            }
        } else {
            out.days |= bits(term, 1, 31, |_| None)? as u32;
        }
    }
    Ok(out)
}

fn parse_week_days(text: &str) -> Result<WeekDays, ScheduleError> {
    let mut out = WeekDays::default();
    let day = |s: &str| -> Result<u8, ScheduleError> {
        match s.parse::<u32>().ok().or_else(|| day_name(s)) {
            Some(d) if (1..=7).contains(&d) => Ok(d as u8),
            _ => err(format!("day-of-week {s:?}")),
        }
    };
    for term in text.split(',') {
        let upper = term.to_ascii_uppercase();
        if upper == "L" {
            out.days |= 1 << 7;
        } else if let Some((d, k)) = upper.split_once('#') {
            match k.parse::<u8>() {
                Ok(k) if (1..=5).contains(&k) => out.nth.push((day(d)?, k)),
                _ => return err(format!("day-of-week {term:?}")),
            }
        } else if let Some(d) = upper.strip_suffix('L') {
            out.last |= 1 << day(d)?;
        } else {
            out.days |= bits(term, 1, 7, day_name)? as u8;
        }
    }
    Ok(out)
}

impl Cron {
    /// Parses a 6- or 7-field Quartz expression.
    pub fn parse(text: &str) -> Result<Cron, ScheduleError> {
        let f: Vec<&str> = text.split_whitespace().collect();
        if !(6..=7).contains(&f.len()) {
            return err(format!(
                "cron expression {text:?}: expected 6 or 7 fields, found {}",
                f.len()
            ));
        }
        let in_field = |i: usize, e: ScheduleError| {
            const NAMES: [&str; 7] = [
                "second",
                "minute",
                "hour",
                "day-of-month",
                "month",
                "day-of-week",
                "year",
            ];
            ScheduleError(format!("cron expression {text:?}, {}: {}", NAMES[i], e.0))
        };
        let field = |i: usize, lo, hi, names: fn(&str) -> Option<u32>| {
            bits(f[i], lo, hi, names).map_err(|e| in_field(i, e))
        };
        let days = match (f[3] == "?", f[5] == "?") {
            (false, true) => Days::Month(parse_month_days(f[3]).map_err(|e| in_field(3, e))?),
            (true, false) => Days::Week(parse_week_days(f[5]).map_err(|e| in_field(5, e))?),
            _ => {
                return err(format!(
                    "cron expression {text:?}: Both, a day-of-week AND a day-of-month parameter, \
                     are not supported."
                ))
            }
        };
        let mut years = [0u64; 3];
        let year_text = f.get(6).copied().unwrap_or("*");
        let (lo, hi) = (FIRST_YEAR as u32, LAST_YEAR as u32);
        each_value(
            year_text,
            lo,
            hi,
            |_| None,
            |y| {
                let i = (y - lo) as usize;
                years[i / 64] |= 1 << (i % 64);
            },
        )
        .map_err(|e| in_field(6, e))?;
        Ok(Cron {
            seconds: field(0, 0, 59, |_| None)?,
            minutes: field(1, 0, 59, |_| None)?,
            hours: field(2, 0, 23, |_| None)?,
            months: field(4, 1, 12, month_name)?,
            days,
            years,
        })
    }

    fn year_allowed(&self, y: i64) -> bool {
        if !(FIRST_YEAR..=LAST_YEAR).contains(&y) {
            return false;
        }
        let i = (y - FIRST_YEAR) as usize;
        self.years[i / 64] & (1 << (i % 64)) != 0
    }

    /// True if the cron fires on day `d` of month `m` of year `y` (at some time).
    fn day_matches(&self, y: i64, m: u32, d: u32) -> bool {
        let last = days_in_month(y, m);
        // Quartz numbering: 1 = Sunday; 1970-01-01 (day 0) was a Thursday (5).
        let weekday = |day: u32| ((days_from_civil(y, m, day) + 4).rem_euclid(7) + 1) as u32;
        match &self.days {
            Days::Month(r) => {
                let nearest = |n: u32| {
                    let n = n.min(last);
                    match weekday(n) {
                        7 if n == 1 => 3,        // Saturday the 1st → Monday the 3rd
                        7 => n - 1,              // Saturday → Friday
                        1 if n == last => n - 2, // Sunday the last → Friday
                        1 => n + 1,              // Sunday → Monday
                        _ => n,
                    }
                };
                r.days & (1 << d) != 0
                    || r.from_last
                        .iter()
                        .any(|o| u32::from(*o) < last && last - u32::from(*o) == d)
                    || r.nearest_weekday
                        .iter()
                        .any(|n| u32::from(*n) <= last && nearest(u32::from(*n)) == d)
                    || (r.last_weekday && nearest(last) == d)
            }
            Days::Week(r) => {
                let wd = weekday(d);
                r.days & (1 << wd) != 0
                    || (r.last & (1 << wd) != 0 && d + 7 > last)
                    || r.nth
                        .iter()
                        .any(|(n, k)| u32::from(*n) == wd && (d - 1) / 7 + 1 == u32::from(*k))
            }
        }
    }

    /// Earliest second of the day at or after `t` (seconds since midnight) the cron fires at.
    fn time_at_or_after(&self, t: u32) -> Option<u32> {
        let (mut h, mut m, mut s) = (t / 3600, t / 60 % 60, t % 60);
        loop {
            let nh = next_bit(self.hours, h)?;
            if nh != h {
                (h, m, s) = (nh, 0, 0);
            }
            let Some(nm) = next_bit(self.minutes, m) else {
                (h, m, s) = (h + 1, 0, 0);
                continue;
            };
            if nm != m {
                (m, s) = (nm, 0);
            }
            match next_bit(self.seconds, s) {
                Some(ns) => return Some(h * 3600 + m * 60 + ns),
                None => (m, s) = (m + 1, 0),
            }
        }
    }

    /// First firing strictly after `after` (local milliseconds since the
    /// epoch), as local milliseconds; `None` if there is none up to 2099.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let from = after.div_euclid(1000) + 1;
        let mut day = from.div_euclid(DAY_S);
        let mut tod = from.rem_euclid(DAY_S) as u32;
        loop {
            let (y, m, d) = civil_from_days(day);
            if y > LAST_YEAR {
                return None;
            }
            if !self.year_allowed(y) {
                day = days_from_civil(y + 1, 1, 1);
                tod = 0;
                continue;
            }
            if self.months & (1 << m) == 0 {
                day = if m == 12 {
                    days_from_civil(y + 1, 1, 1)
                } else {
                    days_from_civil(y, m + 1, 1)
                };
                tod = 0;
                continue;
            }
            if self.day_matches(y, m, d) {
                if let Some(t) = self.time_at_or_after(tod) {
                    return Some((day * DAY_S + i64::from(t)) * 1000);
                }
            }
            day += 1;
            tod = 0;
        }
    }
}

/// Lowest set bit of `mask` at or above `from`.
fn next_bit(mask: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = mask >> from;
    (rest != 0).then(|| from + rest.trailing_zeros())
}

fn days_in_month(y: i64, m: u32) -> u32 {
    let next = if m == 12 {
        days_from_civil(y + 1, 1, 1)
    } else {
        days_from_civil(y, m + 1, 1)
    };
    (next - days_from_civil(y, m, 1)) as u32
}

/// `LocalTime.parse` of a duration: `HH:mm` or `HH:mm:ss[.f…]`, hours 00–23.
pub fn parse_duration(text: &str) -> Result<Span, ScheduleError> {
    let bad = || ScheduleError(format!("duration {text:?}: expected HH:mm:ss"));
    let t = text.trim();
    let parts: Vec<&str> = t.split(':').collect();
    let two = |s: &str, max: u64| -> Option<u64> {
        (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
            .filter(|v| *v <= max)
    };
    let (h, m, rest) = match parts.as_slice() {
        [h, m] => (two(h, 23), two(m, 59), None),
        [h, m, s] => (two(h, 23), two(m, 59), Some(*s)),
        _ => return Err(bad()),
    };
    let (Some(h), Some(m)) = (h, m) else {
        return Err(bad());
    };
    let ms = match rest {
        None => 0,
        Some(s) => {
            let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
            let sec = two(whole, 59).ok_or_else(bad)?;
            let valid_frac = frac.len() <= 9 && frac.bytes().all(|b| b.is_ascii_digit());
            if !valid_frac || (s.contains('.') && frac.is_empty()) {
                return Err(bad());
            }
            let millis = format!("{frac:0<3}")[..3].parse::<u64>().unwrap_or(0);
            sec * 1000 + millis
        }
    };
    Ok(Span((h * 3600 + m * 60) * 1000 + ms))
}

/// `ZoneOffset.of`: `Z`, `±H`, `±HH`, `±HH:mm`, `±HHmm`, `±HH:mm:ss`, `±HHmmss`.
pub fn parse_offset(text: &str) -> Result<i64, ScheduleError> {
    let bad = || ScheduleError(format!("timezone {text:?}: expected an offset like +01:00"));
    if text == "Z" {
        return Ok(0);
    }
    let sign = match text.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(bad()),
    };
    let body = &text[1..];
    if !body.bytes().all(|b| b.is_ascii_digit() || b == b':') {
        return Err(bad());
    }
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    let (h, m, s) = match (body.len(), body.contains(':')) {
        (1 | 2, false) => (num(body)?, 0, 0),
        (4, false) => (num(&body[..2])?, num(&body[2..])?, 0),
        (6, false) => (num(&body[..2])?, num(&body[2..4])?, num(&body[4..])?),
        (5, true) if &body[2..3] == ":" => (num(&body[..2])?, num(&body[3..])?, 0),
        (8, true) if &body[2..3] == ":" && &body[5..6] == ":" => {
            (num(&body[..2])?, num(&body[3..5])?, num(&body[6..])?)
        }
        _ => return Err(bad()),
    };
    let total = h * 3600 + m * 60 + s;
    if h > 18 || m > 59 || s > 59 || total > 18 * 3600 {
        return Err(bad());
    }
    Ok(sign * total * 1000)
}

impl Schedule {
    /// Parses an assignment's `maintenanceWindow` as hawkBit validates it.
    pub fn parse(
        schedule: &str,
        duration: &str,
        timezone: &str,
    ) -> Result<Schedule, ScheduleError> {
        Ok(Schedule {
            cron: Cron::parse(schedule)?,
            duration: parse_duration(duration)?,
            offset_ms: parse_offset(timezone)?,
        })
    }

    /// Length of each window.
    pub fn duration(&self) -> Span {
        self.duration
    }

    /// The open window or else the next one, as `(start, end)`; `None` once
    /// the schedule has no occurrence left (lapsed).
    pub fn next_window(&self, now: Time) -> Option<(Time, Time)> {
        let now_ms = i64::try_from(now.as_millis()).ok()?;
        let dur = i64::try_from(self.duration.as_millis()).ok()?;
        let mut after_local = now_ms - dur + self.offset_ms;
        // Occurrences before 1970 UTC (east of Greenwich) are not scenario times.
        let start = loop {
            let start_local = self.cron.next_after(after_local)?;
            match u64::try_from(start_local - self.offset_ms) {
                Ok(start) => break start,
                Err(_) => after_local = start_local,
            }
        };
        Some((Time(start), Time(start) + self.duration))
    }

    /// True while a window is open (`start < now < end`).
    pub fn is_open(&self, now: Time) -> bool {
        self.next_window(now)
            .is_some_and(|(start, end)| start < now && now < end)
    }
}

/// An action's maintenance windows (ddi.md §4): outside a window the action
/// is download-only (`update: skip`); once no window is left it is canceled
/// on the next request (RES `checkAndCancelExpiredAction`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MaintenanceSchedule {
    /// One window (a scenario's relative `start_after`/`duration` form), open
    /// while `start <= now < start + duration`.
    Once {
        /// Start of the window.
        start: Time,
        /// Length of the window.
        duration: Span,
    },
    /// hawkBit's recurring cron schedule (Management API assignments, a
    /// scenario's `schedule` form); see [`Schedule`].
    Recurring(std::sync::Arc<Schedule>),
}

impl MaintenanceSchedule {
    /// The open window, else the next one, as `(start, end)`; `None` when
    /// no window is left.
    pub fn window(&self, now: Time) -> Option<(Time, Time)> {
        match self {
            MaintenanceSchedule::Once { start, duration } => {
                let end = *start + *duration;
                (now < end).then_some((*start, end))
            }
            MaintenanceSchedule::Recurring(s) => s.next_window(now),
        }
    }

    /// True while a window is open.
    pub fn contains(&self, now: Time) -> bool {
        match self {
            MaintenanceSchedule::Once { start, duration } => {
                *start <= now && now < *start + *duration
            }
            MaintenanceSchedule::Recurring(s) => s.is_open(now),
        }
    }

    /// True once no window is left (`JpaAction.isMaintenanceScheduleLapsed`).
    pub fn lapsed(&self, now: Time) -> bool {
        self.window(now).is_none()
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
