use super::*;

const GOOD: &str = "\
name: t
seed: 7
duration: 2d
server: embedded
fleet:
  - kind: constrained
    count: 10
    connectivity: { online_every: 12h, online_for: 30s, loss: 0.05, latency: { p50: 300ms, p99: 4s } }
  - kind: always_on
    count: 5
campaigns:
  - at: 1h
    artifacts: [ { name: fw.bin, size: 8MiB } ]
    targets: { kind: constrained }
faults:
  server:
    - { at: 1d, for: 10m, respond: 503 }
    - { mode: accept_feedback_after_close }
expect:
  violations: [DDI-SM-410]
";

fn err(text: &str) -> String {
    load_str("s.yaml", text).unwrap_err().to_string()
}

#[test]
fn good_scenario_loads() {
    let s = load_str("s.yaml", GOOD).unwrap();
    assert_eq!(s.seed, 7);
    assert_eq!(s.duration.0, crate::time::Span::days(2));
    assert_eq!(
        s.fleet[0].connectivity.latency.p99.0,
        crate::time::Span::secs(4)
    );
    assert_eq!(s.campaigns[0].artifacts[0].size.0, 8 << 20);
    use crate::server::Fault;
    assert_eq!(
        s.faults.server[0].what,
        FaultKind::Server(Fault::Respond { status: 503 })
    );
    assert_eq!(
        s.faults.server[1].what,
        FaultKind::Server(Fault::AcceptFeedbackAfterClose)
    );
    assert_eq!(
        s.expect.violations,
        ExpectedViolations::Ids(vec!["DDI-SM-410".into()])
    );
    assert_eq!(s.server.tenant, "DEFAULT");
}

#[test]
fn bad_unit_points_at_the_value() {
    let e = err(&GOOD.replace("duration: 2d", "duration: 30x"));
    assert!(e.starts_with("s.yaml:3:11: "), "{e}");
    assert!(e.contains("expected a duration"), "{e}");
}

#[test]
fn unknown_field_is_named() {
    let e = err(&GOOD.replace("    count: 5", "    count: 5\n    cuont: 6"));
    assert!(e.starts_with("s.yaml:11:5: "), "{e}");
    assert!(e.contains("unknown field `cuont`"), "{e}");
}

#[test]
fn negative_count_and_wrong_type() {
    let e = err(&GOOD.replace("count: 5", "count: -5"));
    assert!(e.starts_with("s.yaml:10:12: "), "{e}");
    let e = err(&GOOD.replace("count: 5", "count: many"));
    assert!(
        e.starts_with("s.yaml:10:12: ") && e.contains("expected u32"),
        "{e}"
    );
    let e = err(&GOOD.replace("loss: 0.05", "loss: 1.5"));
    assert!(e.contains("expected a fraction between 0 and 1"), "{e}");
}

#[test]
fn bad_yaml_has_a_position() {
    let e = err("name: t\nfleet: [\n");
    assert!(e.starts_with("s.yaml:"), "{e}");
    assert!(!e.starts_with("s.yaml:1:1:"), "{e}");
}

#[test]
fn cross_field_errors_are_located() {
    let e = err(&GOOD.replace("online_for: 30s", "online_for: 13h"));
    assert!(e.starts_with("s.yaml:8:"), "{e}");
    assert!(e.contains("no longer than `online_every`"), "{e}");
    let e = err(&GOOD.replace("at: 1h", "at: 3d"));
    assert!(e.starts_with("s.yaml:12:9: "), "{e}");
    let e = err(&GOOD.replace("DDI-SM-410", "NOPE-1"));
    assert!(
        e.starts_with("s.yaml:20:") && e.contains("expected an invariant ID"),
        "{e}"
    );
    let e = err(&GOOD.replace("count: 10", "count: 0"));
    assert!(e.starts_with("s.yaml:7:12: "), "{e}");
    let e = err(&format!("{GOOD}load: {{ ramp_to: 100 }}\n"));
    assert!(
        e.starts_with("s.yaml:21:") && e.contains("`start_rate` beside"),
        "{e}"
    );
    let e = err(&format!("{GOOD}load: {{ time_scale: 0 }}\n"));
    assert!(e.contains("time scale above 0"), "{e}");
    let e = err(&GOOD.replace("respond: 503", "respond: 503, reset: true"));
    assert!(e.contains("exactly one of"), "{e}");
    let e = err(&GOOD.replace("server: embedded", "server: { gateway_token: \"\" }"));
    assert!(
        e.starts_with("s.yaml:4:") && e.contains("non-empty key"),
        "{e}"
    );
}

#[test]
fn scaling_keeps_proportions() {
    let mut s = load_str("s.yaml", GOOD).unwrap();
    s.scale_fleet(3000);
    assert_eq!(s.device_count(), 3000);
    assert_eq!(s.fleet[0].count, 2000);
    s.scale_fleet(1);
    assert_eq!(s.device_count(), 2, "each group keeps one device");
}

#[test]
fn open_loop_arrival_ramps_linearly() {
    let mut load = Load::default();
    assert_eq!(load.start_offset_secs(10), None);
    load.start_rate = Some(10.0);
    assert_eq!(load.start_offset_secs(25), Some(2.5));
    load.ramp_to = Some(30.0);
    load.ramp_over = Some(Duration(crate::time::Span::secs(10)));
    // 200 devices start during the ramp ((10 + 30) / 2 * 10 s), then 30/s.
    let at = |n| load.start_offset_secs(n).unwrap();
    assert!((at(200) - 10.0).abs() < 1e-9);
    assert!((at(260) - 12.0).abs() < 1e-9);
    assert!(at(10) < 1.0 && at(10) > 0.9, "{}", at(10));
    let mut last = 0.0;
    for n in 0..300 {
        assert!(at(n) >= last, "monotonic at {n}");
        last = at(n);
    }
}

#[test]
fn campaigns_may_be_external_and_a_wrong_word_is_located() {
    let base = "name: t\nduration: 1d\nfleet:\n  - { kind: always_on, count: 2 }\n";
    let s = load_str("s.yaml", &format!("{base}campaigns: external\n")).unwrap();
    assert!(s.campaigns.external);
    assert!(s.campaigns.is_empty());
    let s = load_str("s.yaml", GOOD).unwrap();
    assert!(!s.campaigns.external);
    let e = err(&format!("{base}campaigns: externel\n"));
    assert!(
        e.starts_with("s.yaml:5:12: ")
            && e.contains("expected a list of campaigns or `external`, found `externel`"),
        "{e}"
    );
    // Errors inside a listed campaign keep their own position.
    let e = err(&format!(
        "{base}campaigns:\n  - {{ at: 1h, artifacts: [], colour: red }}\n"
    ));
    assert!(e.starts_with("s.yaml:6:"), "{e}");
    assert!(e.contains("unknown field `colour`"), "{e}");
}
