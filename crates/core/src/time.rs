//! Time as the simulation sees it: milliseconds since the start of a run.
//!
//! Both drivers speak this type. In virtual mode it is the engine's clock; in
//! real mode it is milliseconds since the run started. Nothing below the
//! drivers ever reads a wall clock, which is what keeps runs reproducible.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A point in (virtual or real) time, in milliseconds since the run started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub u64);

/// A length of time in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub u64);

impl Time {
    /// The start of the run.
    pub const ZERO: Time = Time(0);
    /// A time later than every time a run reaches.
    pub const NEVER: Time = Time(u64::MAX);

    /// Milliseconds since the start of the run.
    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// Time elapsed since `earlier`, zero if `earlier` is later.
    pub fn since(self, earlier: Time) -> Span {
        Span(self.0.saturating_sub(earlier.0))
    }
}

impl Span {
    /// No time at all.
    pub const ZERO: Span = Span(0);

    /// A span of `ms` milliseconds.
    pub const fn millis(ms: u64) -> Span {
        Span(ms)
    }
    /// A span of `s` seconds.
    pub const fn secs(s: u64) -> Span {
        Span(s * 1000)
    }
    /// A span of `m` minutes.
    pub const fn minutes(m: u64) -> Span {
        Span(m * 60_000)
    }
    /// A span of `h` hours.
    pub const fn hours(h: u64) -> Span {
        Span(h * 3_600_000)
    }
    /// A span of `d` days.
    pub const fn days(d: u64) -> Span {
        Span(d * 86_400_000)
    }
    /// Length in milliseconds.
    pub fn as_millis(self) -> u64 {
        self.0
    }
    /// Length in (fractional) seconds.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
    /// This span scaled by `factor` (clamped at zero), rounded to whole milliseconds.
    pub fn mul_f64(self, factor: f64) -> Span {
        Span((self.0 as f64 * factor.max(0.0)).round() as u64)
    }
}

impl Add<Span> for Time {
    type Output = Time;
    fn add(self, rhs: Span) -> Time {
        Time(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign<Span> for Time {
    fn add_assign(&mut self, rhs: Span) {
        self.0 = self.0.saturating_add(rhs.0);
    }
}

impl Sub<Span> for Time {
    type Output = Time;
    fn sub(self, rhs: Span) -> Time {
        Time(self.0.saturating_sub(rhs.0))
    }
}

impl Add for Span {
    type Output = Span;
    fn add(self, rhs: Span) -> Span {
        Span(self.0.saturating_add(rhs.0))
    }
}

impl fmt::Display for Span {
    /// Human form used in summaries and scenario files: `1d2h3m4s`, `250ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms == 0 {
            return write!(f, "0s");
        }
        if ms < 1000 {
            return write!(f, "{ms}ms");
        }
        let (d, rem) = (ms / 86_400_000, ms % 86_400_000);
        let (h, rem) = (rem / 3_600_000, rem % 3_600_000);
        let (m, rem) = (rem / 60_000, rem % 60_000);
        let (s, frac) = (rem / 1000, rem % 1000);
        let mut out = String::new();
        for (v, unit) in [(d, "d"), (h, "h"), (m, "m")] {
            if v > 0 {
                out.push_str(&format!("{v}{unit}"));
            }
        }
        if s > 0 || frac > 0 {
            if frac > 0 {
                out.push_str(&format!("{s}.{frac:03}s"));
            } else {
                out.push_str(&format!("{s}s"));
            }
        }
        f.write_str(&out)
    }
}

impl fmt::Display for Time {
    /// Rendered as the span since the start of the run, e.g. `T+3d4h`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "T+{}", Span(self.0))
    }
}

/// (year, month 1–12, day 1–31) of a day count since 1970-01-01 in the
/// proleptic Gregorian calendar (Howard Hinnant's `civil_from_days`). Used
/// where scenario time is shown as a date: cron schedules, HTTP dates.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a (year, month 1–12, day) date; the inverse of
/// [`civil_from_days`] (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for days in [-800_000, -1, 0, 59, 11_016, 19_723, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn display_is_compact_and_exact() {
        assert_eq!(Span::ZERO.to_string(), "0s");
        assert_eq!(Span::millis(250).to_string(), "250ms");
        assert_eq!(
            (Span::days(1) + Span::hours(2) + Span::secs(3)).to_string(),
            "1d2h3s"
        );
        assert_eq!(Span::millis(1500).to_string(), "1.500s");
        assert_eq!(Time(Span::minutes(90).0).to_string(), "T+1h30m");
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Time::NEVER + Span::secs(1), Time::NEVER);
        assert_eq!(Time(5) - Span(10), Time::ZERO);
        assert_eq!(Time(10).since(Time(20)), Span::ZERO);
    }
}
