//! Quartz schedules against hand-computed occurrences (1970-01-01 was a
//! Thursday; scenario time 0 is 1970-01-01T00:00Z).

use super::*;

const H: u64 = 3_600_000;
const D: u64 = 24 * H;

fn s(cron: &str, duration: &str, tz: &str) -> Schedule {
    Schedule::parse(cron, duration, tz).unwrap_or_else(|e| panic!("{cron}: {e}"))
}

fn start(sched: &Schedule, now: u64) -> Option<u64> {
    sched.next_window(Time(now)).map(|(s, _)| s.as_millis())
}

#[test]
fn daily_window_is_the_open_or_next_one_and_never_lapses() {
    let w = s("0 0 2 * * ?", "01:00:00", "+00:00");
    assert_eq!(w.next_window(Time(0)), Some((Time(2 * H), Time(3 * H))));
    assert_eq!(start(&w, 2 * H + 5), Some(2 * H)); // still open
    assert_eq!(start(&w, 3 * H), Some(26 * H)); // closed: tomorrow's
    assert_eq!(start(&w, 400 * D), Some(400 * D + 2 * H));
    // Open strictly between start and end (isMaintenanceWindowAvailable).
    assert!(!w.is_open(Time(2 * H)));
    assert!(w.is_open(Time(2 * H + 1)));
    assert!(!w.is_open(Time(3 * H)));
    // +02:00: 02:00 local is 00:00 UTC.
    let east = s("0 0 2 * * ?", "00:10:00", "+02:00");
    assert_eq!(start(&east, 1), Some(0));
    assert_eq!(start(&east, 11 * 60_000), Some(D));
    let west = s("0 0 2 * * ?", "00:10:00", "-01:30");
    assert_eq!(start(&west, 0), Some(3 * H + H / 2));
}

#[test]
fn lists_ranges_steps_and_names() {
    let quarter = s("0 */15 * * * ?", "00:01:00", "Z");
    assert_eq!(start(&quarter, 10 * 60_000), Some(15 * 60_000));
    let phase = s("0 5/20 * * * ?", "00:01:00", "Z");
    let mins: Vec<u64> = [0, 6, 26, 46]
        .iter()
        .map(|m| start(&phase, m * 60_000).expect("next") / 60_000)
        .collect();
    assert_eq!(mins, [5, 25, 45, 65]);
    let list = s("30 10,40 8-9 * * ?", "00:00:10", "Z");
    assert_eq!(
        start(&list, 8 * H + 11 * 60_000),
        Some(8 * H + 40 * 60_000 + 30_000)
    );
    assert_eq!(
        start(&list, 9 * H + 41 * 60_000),
        Some(D + 8 * H + 10 * 60_000 + 30_000)
    );
    // Weekdays at 22:30: Thursday 1 Jan, Friday 2 Jan, then Monday 5 Jan.
    let weekdays = s("0 30 22 ? * MON-FRI", "00:30:00", "Z");
    let at = 22 * H + 30 * 60_000;
    assert_eq!(start(&weekdays, 0), Some(at));
    assert_eq!(start(&weekdays, D + 23 * H), Some(4 * D + at));
    let named = s("0 0 0 1 jan,Mar ?", "00:10:00", "Z");
    assert_eq!(start(&named, D), Some(59 * D)); // 1 March 1970
}

#[test]
fn last_weekday_nearest_and_nth() {
    let last = s("0 0 0 L * ?", "00:10:00", "Z");
    assert_eq!(start(&last, 0), Some(30 * D)); // 31 January
    assert_eq!(start(&last, 31 * D), Some(58 * D)); // 28 February 1970
    let leap = days_from_civil(1972, 2, 1) as u64 * D;
    assert_eq!(start(&last, leap), Some(leap + 28 * D)); // 29 February 1972
    let before_last = s("0 0 0 L-2 * ?", "00:10:00", "Z");
    assert_eq!(start(&before_last, 0), Some(28 * D)); // 29 January
                                                      // 15 February 1970 is a Sunday: 15W is Monday the 16th; 15 January a Thursday.
    let near = s("0 0 12 15W * ?", "00:10:00", "Z");
    assert_eq!(start(&near, 0), Some(14 * D + 12 * H));
    assert_eq!(start(&near, 15 * D), Some(46 * D + 12 * H));
    // 1 August 1970 is a Saturday: 1W is Monday the 3rd.
    let aug = days_from_civil(1970, 8, 1) as u64 * D;
    let first = s("0 0 12 1W * ?", "00:10:00", "Z");
    assert_eq!(start(&first, aug - D), Some(aug + 2 * D + 12 * H));
    // 31 January 1970 is a Saturday: LW is Friday the 30th.
    let lw = s("0 0 12 LW * ?", "00:10:00", "Z");
    assert_eq!(start(&lw, 0), Some(29 * D + 12 * H));
    // Fridays of January 1970: 2, 9, 16, 23, 30.
    let third = s("0 0 12 ? * 6#3", "00:10:00", "Z");
    assert_eq!(start(&third, 0), Some(15 * D + 12 * H));
    let last_fri = s("0 0 12 ? * FRIL", "00:10:00", "Z");
    assert_eq!(start(&last_fri, 0), Some(29 * D + 12 * H));
    let sat = s("0 0 12 ? * L", "00:10:00", "Z"); // L alone = 7 = Saturday
    assert_eq!(start(&sat, 0), Some(2 * D + 12 * H));
}

#[test]
fn a_year_bounded_schedule_lapses() {
    let w = s("0 0 2 * * ? 1970", "01:00:00", "+00:00");
    let dec31 = 364 * D;
    assert_eq!(start(&w, dec31), Some(dec31 + 2 * H));
    assert_eq!(start(&w, dec31 + 3 * H), None);
    let years = s("0 0 0 1 1 ? 1971-1975/2", "00:10:00", "Z");
    let y = |y| days_from_civil(y, 1, 1) as u64 * D;
    assert_eq!(start(&years, 0), Some(y(1971)));
    assert_eq!(start(&years, y(1971) + H), Some(y(1973)));
    assert_eq!(start(&years, y(1975) + H), None);
    // A date that never comes (30 February) has no window at all.
    assert_eq!(start(&s("0 0 2 30 2 ?", "00:10:00", "Z"), 0), None);
}

#[test]
fn fields_hawkbit_refuses() {
    for cron in [
        "0 0 2 * * *", // day-of-month and day-of-week both set
        "0 0 2 ? * ?", // neither
        "0 0 2 * *",   // 5 fields
        "0 0 2 * * ? 2099 1",
        "60 0 2 * * ?",
        "0 0 24 * * ?",
        "0 0 2 32 * ?",
        "0 0 2 * 13 ?",
        "0 0 2 ? * 8",
        "0 0 2 * * ? 2100",
        "0 0 2 * * ? 1969",
        "0 0/0 2 * * ?",
        "0 10-5 2 * * ?",
        "0 0 2 ? * 6#6",
        "0 0 2 L-31 * ?",
        "0 0 2 * FOO ?",
    ] {
        assert!(Cron::parse(cron).is_err(), "{cron}");
    }
}

#[test]
fn durations_and_offsets_as_java_time_reads_them() {
    assert_eq!(parse_duration("01:30"), Ok(Span::minutes(90)));
    assert_eq!(parse_duration(" 00:00:01.5 "), Ok(Span(1_500)));
    assert_eq!(parse_duration("23:59:59"), Ok(Span::secs(86_399)));
    assert_eq!(parse_duration("00:00:00"), Ok(Span::ZERO));
    for bad in ["24:00:00", "1:00:00", "00:60:00", "10 minutes", "00:00:01."] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
    let h = 3_600_000;
    assert_eq!(parse_offset("Z"), Ok(0));
    assert_eq!(parse_offset("+1"), Ok(h));
    assert_eq!(parse_offset("+01"), Ok(h));
    assert_eq!(parse_offset("-05:30"), Ok(-(5 * h + h / 2)));
    assert_eq!(parse_offset("+0530"), Ok(5 * h + h / 2));
    assert_eq!(parse_offset("+05:30:15"), Ok(5 * h + h / 2 + 15_000));
    assert_eq!(parse_offset("+18:00"), Ok(18 * h));
    for bad in ["CET", "+19:00", "+18:01", "01:00", "+1:00", "+01:60", ""] {
        assert!(parse_offset(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_zero_length_window_is_never_open() {
    let w = s("0 0 2 * * ?", "00:00", "Z");
    assert_eq!(start(&w, 2 * H), Some(26 * H));
    assert!(!w.is_open(Time(2 * H)));
}

#[test]
fn a_window_open_since_the_epoch() {
    let w = s("0 0 0 * * ?", "12:00:00", "+00:00");
    assert_eq!(w.next_window(Time(100)), Some((Time(0), Time(12 * H))));
    assert!(w.is_open(Time(100)));
}
