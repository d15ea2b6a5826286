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

#[cfg(test)]
mod tests {
    use super::*;

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
