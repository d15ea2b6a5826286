//! The root's `config.polling.sleep` (ddi.md §4) and hawkBit's `pollingTime`
//! setting it comes from.
//!
//! `pollingTime` (`tenancy.configuration.PollingTime`) is
//! `<interval>[, <query> -> <interval>]…`; an interval is `HH:mm:ss`, `mm:ss`,
//! `ss` or ISO-8601 (`PT5M`, `DurationHelper.fromString`) with an optional
//! `~NN%` deviation. The first override whose target query matches gives the
//! target's interval (`JpaControllerManagement.getPollingTime`); a query this
//! server cannot evaluate never matches (hawkBit logs and skips it).
//! Before a maintenance window the sleep shortens to `(start − now) /
//! maintenanceWindowPollCount`, within `[minPollingTime, pollingTime]`
//! (`getPollingTimeForAction` and its `EventTimer`).

use crate::protocol::ddi::sleep::{format_sleep, parse_sleep};
use crate::time::{Span, Time};

use super::call::Call;
use super::state::Target;
use super::{MaintenanceSchedule, Server};

/// hawkBit's `minPollingTime` / `maxPollingTime` defaults.
pub const MIN_POLL: Span = Span::secs(30);
pub(super) const MAX_POLL: Span = Span::secs(86_399);
/// Default `maintenanceWindowPollCount`.
pub(super) const WINDOW_POLL_COUNT: u32 = 3;

/// One polling interval with its `~NN%` deviation (`0.0..=0.99`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Interval {
    pub(super) span: Span,
    pub(super) jitter: f64,
}

/// A parsed `pollingTime`: the default and the overrides' query strings.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct PollingTime {
    pub(super) base: Interval,
    pub(super) overrides: Vec<(String, Interval)>,
}

/// `DurationHelper.fromString`: ISO-8601 from a leading `P`, else
/// `ss`, `mm:ss` or `HH:mm:ss` with unbounded parts.
fn parse_duration(text: &str) -> Option<Span> {
    if text.starts_with('P') {
        return parse_sleep(text);
    }
    let parts: Vec<u64> = text
        .split(':')
        .map(|p| p.parse::<u64>().ok())
        .collect::<Option<_>>()?;
    let secs = match parts.as_slice() {
        [s] => *s,
        [m, s] => m.checked_mul(60)?.checked_add(*s)?,
        [h, m, s] => h
            .checked_mul(3600)?
            .checked_add(m.checked_mul(60)?)?
            .checked_add(*s)?,
        _ => return None,
    };
    Some(Span::secs(secs))
}

/// `PollingInterval`: `(?<interval>[^~]+)(~(?<pct>\d{1,2})%)?\s{0,5}`,
/// within `[minPollingTime, maxPollingTime]` (the tenant validator).
fn parse_interval(text: &str) -> Result<Interval, String> {
    let bad = || {
        format!(
            "Invalid pollingInterval: '{text}', expecting: (HH:mm:ss|ISO-8601)(~\\d{{1,2}}%)? \
             between 00:00:30 and 23:59:59"
        )
    };
    let (interval, jitter) = match text.split_once('~') {
        Some((i, rest)) => {
            let rest = rest.trim_end_matches(' ');
            let digits = rest.strip_suffix('%').ok_or_else(bad)?;
            let spaces = text.len() - i.len() - 1 - rest.len();
            let valid = (1..=2).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && spaces <= 5;
            if !valid {
                return Err(bad());
            }
            (i, digits.parse::<u32>().map_err(|_| bad())?)
        }
        None => (text, 0),
    };
    let span = parse_duration(interval.trim()).ok_or_else(bad)?;
    if !(MIN_POLL..=MAX_POLL).contains(&span) {
        return Err(bad());
    }
    Ok(Interval {
        span,
        jitter: f64::from(jitter) / 100.0,
    })
}

impl PollingTime {
    /// Parses a `pollingTime` value as hawkBit's `PollingTime` constructor
    /// and validator do; `Err` carries hawkBit's message.
    pub(super) fn parse(text: &str) -> Result<PollingTime, String> {
        let Some((base, rest)) = text.split_once(',') else {
            return Ok(PollingTime {
                base: parse_interval(text)?,
                overrides: Vec::new(),
            });
        };
        let base = parse_interval(base)?;
        let rest = rest.trim();
        let mut overrides = Vec::new();
        let mut start = 0;
        loop {
            let Some(sep) = rest[start..].find("->").map(|i| start + i) else {
                return Err(format!(
                    "Invalid pollingTime override: '{}'",
                    &rest[start..]
                ));
            };
            let ql = rest[start..sep].trim().to_string();
            match rest[sep..].find(',').map(|i| sep + i) {
                None => {
                    overrides.push((ql, parse_interval(rest[sep + 2..].trim())?));
                    break;
                }
                Some(comma) => {
                    overrides.push((ql, parse_interval(rest[sep + 2..comma].trim())?));
                    start = comma + 1;
                }
            }
        }
        Ok(PollingTime { base, overrides })
    }
}

/// `getFormattedIntervalWithDeviation`: the interval scaled by a factor in
/// `[1 − j, 1 + j]` drawn from the target's stream, within `[min, max]`.
fn with_deviation(interval: Interval, target: &Target) -> String {
    let jitter = interval.jitter.clamp(0.0, 1.0);
    if jitter > 0.0 {
        let factor = 1.0 + jitter * (2.0 * unit_draw(target.index, target.polls) - 1.0);
        let span = interval.span.mul_f64(factor).max(MIN_POLL).min(MAX_POLL);
        format_sleep(span)
    } else {
        format_sleep(interval.span)
    }
}

/// A uniform draw in `[0, 1)` from the per-target stream (index, poll count).
fn unit_draw(index: u64, poll: u32) -> f64 {
    let mut key = [0u8; 12];
    key[..8].copy_from_slice(&index.to_le_bytes());
    key[8..].copy_from_slice(&poll.to_le_bytes());
    let h = xxhash_rust::xxh3::xxh3_64_with_seed(&key, 0x6a69_7474_6572);
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// `EventTimer.timeToNextEvent`: `polling` unless a window starts later,
/// then `(start − now) / count` in whole seconds within `[30 s, polling]`.
fn before_window(polling: String, default: Span, start: Time, now: Time, count: u32) -> String {
    // hawkBit answers 30 s at exactly `start`; here the window's first
    // instant already counts as begun (a scenario `Once` window is open then).
    if now >= start {
        return polling;
    }
    let until = Span::secs(start.since(now).as_millis() / 1000 / u64::from(count.max(1)));
    if until > default {
        polling
    } else if until < MIN_POLL {
        format_sleep(MIN_POLL)
    } else {
        let s = until.as_millis() / 1000;
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    }
}

/// `config.polling.sleep` for the target `call.cid` (already registered).
pub(super) fn sleep(server: &Server, target: &Target, call: &Call<'_>) -> String {
    if call.faults.sleep_below_min {
        return "00:00:01".to_string();
    }
    let config = &server.config;
    let base = Interval {
        span: config.polling_sleep,
        jitter: config.polling_jitter,
    };
    let interval = super::mgmt::polling_override(server, &call.cid, target).unwrap_or(base);
    let polling = with_deviation(interval, target);
    let now = call.now;
    let window = target
        .active_action()
        .filter(|a| !a.status.is_cancel())
        .and_then(|a| a.window.as_ref())
        .and_then(|w| Some((w.window(now)?.0, w)));
    let count = super::mgmt::window_poll_count(server);
    match window {
        // hawkBit's EventTimer is bounded by the deviated polling string it
        // was given.
        Some((start, MaintenanceSchedule::Recurring(_))) => {
            let default = parse_sleep(&polling).unwrap_or(interval.span);
            before_window(polling, default, start, now, count)
        }
        // A scenario's one relative window keeps the rule its pinned
        // digests were made with: bounded by the undeviated interval.
        Some((start, MaintenanceSchedule::Once { .. })) => before_window(
            format_sleep(interval.span),
            interval.span,
            start,
            now,
            count,
        ),
        None => polling,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(secs: u64, pct: u32) -> Interval {
        Interval {
            span: Span::secs(secs),
            jitter: f64::from(pct) / 100.0,
        }
    }

    #[test]
    fn polling_time_forms_hawkbit_accepts() {
        // PollingTimeTest.testBackwardsCompatibility / testComplexWithOverrides*.
        let p = PollingTime::parse("01:00:00").expect("plain");
        assert_eq!((p.base, p.overrides.len()), (iv(3600, 0), 0));
        for text in [
            "01:00:00~10%, group == 'eu' -> 00:02:00~15%, status != in_sync -> 00:05:00",
            "PT1H~10%, group == 'eu' -> PT2M~15%, status != in_sync -> PT5M",
            " 01:00:00~10% , group == 'eu'  -> 00:02:00 ~15%, status != in_sync ->00:05:00  ",
        ] {
            let p = PollingTime::parse(text).expect(text);
            assert_eq!(p.base, iv(3600, 10), "{text}");
            assert_eq!(
                p.overrides[0],
                ("group == 'eu'".into(), iv(120, 15)),
                "{text}"
            );
            assert_eq!(
                p.overrides[1],
                ("status != in_sync".into(), iv(300, 0)),
                "{text}"
            );
        }
        // A comma inside a query belongs to it (testComplexWithOverridesWithCommaInQl).
        let p = PollingTime::parse(
            "01:00:00~10%, group == 'eu' -> 00:02:00~15%, status =in= (in_sync,pending) -> 00:05:00, region == us -> 00:10:00",
        )
        .expect("comma");
        let qls: Vec<&str> = p.overrides.iter().map(|(q, _)| q.as_str()).collect();
        assert_eq!(
            qls,
            [
                "group == 'eu'",
                "status =in= (in_sync,pending)",
                "region == us"
            ]
        );
        assert_eq!(PollingTime::parse("90").expect("ss").base, iv(90, 0));
        assert_eq!(PollingTime::parse("02:30").expect("mm:ss").base, iv(150, 0));
    }

    #[test]
    fn bad_polling_times_are_refused() {
        for text in [
            "00:00:10",
            "24:00:00",
            "PT25H",
            "00:05:00~100%",
            "00:05:00~5",
            "00:05:00, group == 'eu'",
            "00:05:00, group == 'eu' -> 00:00:01",
            "abc",
            "",
        ] {
            assert!(PollingTime::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn event_timer_matches_hawkbit() {
        // sleepTimeResponseForDifferentMaintenanceWindowParameters, pollingTime 00:05:00.
        let five = || "00:05:00".to_string();
        let d = Span::minutes(5);
        let now = Time(1_000_000);
        let at = |m: u64| now + Span::minutes(m);
        assert_eq!(before_window(five(), d, at(16), now, 3), "00:05:00");
        assert_eq!(before_window(five(), d, at(10), now, 3), "00:03:20");
        assert_eq!(before_window(five(), d, at(5), now, 3), "00:01:40");
        assert_eq!(
            before_window(five(), d, now + Span::secs(60), now, 3),
            "00:00:30"
        );
        assert_eq!(before_window(five(), d, now, now, 3), "00:05:00");
        assert_eq!(before_window(five(), d, Time(0), now, 3), "00:05:00");
        assert_eq!(before_window(five(), d, at(10), now, 10), "00:01:00");
    }
}

#[cfg(test)]
#[path = "window_tests.rs"]
mod window_tests;
