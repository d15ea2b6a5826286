//! The `config.polling.sleep` value in both of its formats (ddi.md §4).
//!
//! hawkBit's `DurationHelper.toString` writes `HH:mm:ss` below 24 hours and
//! ISO-8601 (`PT36H`) from 24 hours on, so a client must accept both; hawkBit's
//! own Java SDK and the `hawkbit` crate only parse the first and break on
//! long sleeps, which is exactly what constrained fleets use.

use crate::time::Span;

/// Formats `span` the way hawkBit does: `HH:mm:ss` below 24 h, else ISO-8601.
pub fn format_sleep(span: Span) -> String {
    let secs = span.as_millis() / 1000;
    if secs < 86_400 {
        // Every poll answer carries one: digits by hand, not `format!`.
        let mut out = String::with_capacity(8);
        for (i, part) in [secs / 3600, secs / 60 % 60, secs % 60]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                out.push(':');
            }
            out.push(char::from(b'0' + (part / 10) as u8));
            out.push(char::from(b'0' + (part % 10) as u8));
        }
        out
    } else {
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        let mut out = format!("PT{h}H");
        if m > 0 {
            out.push_str(&format!("{m}M"));
        }
        if s > 0 {
            out.push_str(&format!("{s}S"));
        }
        out
    }
}

/// Parses a sleep value in either format; `None` if it is neither.
pub fn parse_sleep(text: &str) -> Option<Span> {
    let text = text.trim();
    if text.starts_with('P') || text.starts_with('p') {
        parse_iso8601(text)
    } else {
        parse_hms(text)
    }
}

fn parse_hms(text: &str) -> Option<Span> {
    let mut parts = text.split(':');
    let h: u64 = parts.next()?.parse().ok()?;
    let m: u64 = parts.next()?.parse().ok()?;
    let s: u64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || m >= 60 || s >= 60 {
        return None;
    }
    Some(Span::secs(h * 3600 + m * 60 + s))
}

/// ISO-8601 duration as `java.time.Duration` prints and parses it:
/// `P[nD]T[nH][nM][n[.f]S]` (days allowed, no years/months).
fn parse_iso8601(text: &str) -> Option<Span> {
    let upper = text.to_ascii_uppercase();
    let rest = upper.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut ms: u64 = 0;
    let mut any = false;
    let mut take = |part: &str, units: &[(char, u64)]| -> Option<()> {
        let mut number = String::new();
        let mut next_unit = 0;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            let idx = units[next_unit..].iter().position(|(u, _)| *u == c)? + next_unit;
            let value: f64 = number.parse().ok()?;
            if !(value.is_finite() && value >= 0.0) || (c != 'S' && number.contains('.')) {
                return None;
            }
            ms = ms.checked_add((value * units[idx].1 as f64).round() as u64)?;
            number.clear();
            next_unit = idx + 1;
            any = true;
        }
        number.is_empty().then_some(())
    };
    take(date, &[('D', 86_400_000)])?;
    if let Some(t) = time {
        if t.is_empty() {
            return None;
        }
        take(t, &[('H', 3_600_000), ('M', 60_000), ('S', 1000)])?;
    }
    any.then_some(Span(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_parse() {
        assert_eq!(parse_sleep("00:05:00"), Some(Span::minutes(5)));
        assert_eq!(parse_sleep("23:59:59"), Some(Span::secs(86_399)));
        assert_eq!(parse_sleep("PT36H"), Some(Span::hours(36)));
        assert_eq!(
            parse_sleep("P2DT1H30M"),
            Some(Span::days(2) + Span::minutes(90))
        );
        assert_eq!(parse_sleep("PT0.5S"), Some(Span::millis(500)));
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            "",
            "5m",
            "00:60:00",
            "1:2",
            "1:2:3:4",
            "PT",
            "P",
            "PTXH",
            "PT1H1H",
            "PT1.5H",
            "-00:01:00",
        ] {
            assert_eq!(parse_sleep(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn format_matches_hawkbit_and_round_trips() {
        assert_eq!(format_sleep(Span::minutes(5)), "00:05:00");
        assert_eq!(format_sleep(Span::secs(86_399)), "23:59:59");
        assert_eq!(format_sleep(Span::secs(3_723)), "01:02:03");
        assert_eq!(format_sleep(Span::hours(36)), "PT36H");
        assert_eq!(format_sleep(Span::hours(24) + Span::secs(61)), "PT24H1M1S");
        for s in [
            Span::secs(30),
            Span::hours(12),
            Span::days(45),
            Span::secs(90_061),
        ] {
            assert_eq!(parse_sleep(&format_sleep(s)), Some(s));
        }
    }
}
