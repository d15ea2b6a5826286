//! Human-readable scenario units: durations (`30s`, `12h`, `1h30m`, `30d`),
//! sizes (`512KiB`, `8MiB`, `1GB`) and fractions (`0.05`).
//!
//! Each unit validates itself while it is deserialised, so a bad value is
//! reported by serde_yaml at the line and column where it stands.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use fleetsim_core::time::Span;

/// A duration written with units: `250ms`, `30s`, `5m`, `12h`, `30d`, `1h30m`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub Span);

/// A byte count written with units: `100B`, `64KiB`, `8MiB`, `1GB`, or a bare integer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

/// A number in `[0, 1]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Fraction(pub f64);

const DURATION_EXPECTED: &str =
    "a duration such as `250ms`, `30s`, `12h`, `30d` or `1h30m` (units: ms, s, m, h, d)";
const SIZE_EXPECTED: &str =
    "a size such as `512B`, `64KiB`, `8MiB` or `1GB` (units: B, KB, KiB, MB, MiB, GB, GiB)";

/// Parses a duration; the error says what was expected.
pub fn parse_duration(text: &str) -> Result<Span, String> {
    let bad = || format!("expected {DURATION_EXPECTED}, found `{text}`");
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = value
            .checked_mul(unit_ms)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration `{text}` is too long"))?;
    }
    Ok(Span(total))
}

/// Formats a span so that [`parse_duration`] reads it back: `1d2h`, `1s500ms`.
pub fn format_duration(span: Span) -> String {
    if span.0 == 0 {
        return "0s".to_string();
    }
    let mut rest = span.0;
    let mut out = String::new();
    for (unit, ms) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if rest >= ms {
            out.push_str(&format!("{}{unit}", rest / ms));
            rest %= ms;
        }
    }
    out
}

/// Parses a size; the error says what was expected.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || format!("expected {SIZE_EXPECTED}, found `{text}`");
    let s = text.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if digits == 0 {
        return Err(bad());
    }
    let value: u64 = s[..digits].parse().map_err(|_| bad())?;
    let factor: u64 = match s[digits..].trim() {
        "" | "B" => 1,
        "KB" => 1000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        _ => return Err(bad()),
    };
    value
        .checked_mul(factor)
        .ok_or_else(|| format!("size `{text}` is too large"))
}

/// Formats a byte count for people: `512 B`, `4 KiB`, `1000 GiB`, `7.5 GiB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let Some(i) = (0..UNITS.len())
        .rev()
        .find(|&i| bytes >> (10 * (i + 1)) > 0)
    else {
        return format!("{bytes} B");
    };
    let unit = 1u64 << (10 * (i + 1));
    if bytes.is_multiple_of(unit) {
        format!("{} {}", bytes / unit, UNITS[i])
    } else {
        format!("{:.1} {}", bytes as f64 / unit as f64, UNITS[i])
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(DURATION_EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                parse_duration(v).map(Duration).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                if v == 0 {
                    Ok(Duration(Span::ZERO))
                } else {
                    Err(E::custom(format!(
                        "expected {DURATION_EXPECTED}, found the bare number {v} (add a unit)"
                    )))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "expected {DURATION_EXPECTED}, found {v}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(SIZE_EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Size, E> {
                parse_size(v).map(Size).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                Err(E::custom(format!("expected {SIZE_EXPECTED}, found {v}")))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if (0.0..=1.0).contains(&v) {
            Ok(Fraction(v))
        } else {
            Err(de::Error::custom(format!(
                "expected a fraction between 0 and 1 (e.g. 0.05), found {v}"
            )))
        }
    }
}

impl Serialize for Fraction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Span::secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Span::millis(250)));
        assert_eq!(parse_duration("1h30m"), Ok(Span::minutes(90)));
        assert_eq!(parse_duration("45d"), Ok(Span::days(45)));
        for span in [
            Span::millis(1500),
            Span::days(3) + Span::secs(1),
            Span::ZERO,
        ] {
            assert_eq!(parse_duration(&format_duration(span)), Ok(span));
        }
        for bad in ["30x", "", "h", "1.5h", "-3s", "10 s"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("expected a duration"), "{bad}: {err}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("8mb").is_err());
        assert!(parse_size("MiB").is_err());
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(4 << 30), "4 GiB");
        assert_eq!(format_size(1000 << 30), "1000 GiB");
        assert_eq!(format_size(3 << 29), "1.5 GiB");
        assert_eq!(format_size(u64::MAX), "16.0 EiB");
    }
}
