//! `fleetsim shrink`: a failing 5 000-device scenario shrinks to a handful of
//! devices that still fire the same invariant, and the written YAML loads
//! back and fires it too.

use crate::common::fleetsim;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use fleetsim::engine::{Engine, Selection};
use fleetsim::oracle::InvariantId;
use fleetsim::scenario::{self, ExpectedViolations, Scenario};
use fleetsim::shrink::{shrink, to_yaml, Budget, ShrinkError};

/// A broken-server scenario whose fault fires its invariant on any fleet size.
const BROKEN: &str = "scenarios/broken/feedback-after-close.yaml";
const BROKEN_ID: InvariantId = InvariantId::DdiSm410;

fn counts(s: &Scenario) -> BTreeMap<InvariantId, u64> {
    Engine::new(s, &Selection::default())
        .run(|_| {})
        .oracle
        .counts()
        .clone()
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fleetsim-shrink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn a_5000_device_failure_shrinks_to_a_handful_and_round_trips() {
    let mut s = scenario::load(Path::new(BROKEN)).expect("broken scenario loads");
    s.scale_fleet(5000);
    let started = Instant::now();
    let mut lines = Vec::new();
    let shrunk = shrink(&s, None, Budget::default(), |step| {
        lines.push(step.to_string())
    })
    .expect("shrinks");
    let elapsed = started.elapsed();
    eprintln!(
        "shrink: {} runs in {:.1}s: {} → {}\n  {}",
        shrunk.runs,
        elapsed.as_secs_f64(),
        shrunk.before,
        shrunk.after,
        lines.join("\n  ")
    );
    assert_eq!(shrunk.target, BROKEN_ID);
    assert_eq!(shrunk.before.devices, 5000);
    assert!(shrunk.after.devices <= 5, "{}", shrunk.after);
    assert!(shrunk.after.duration <= shrunk.before.duration);
    assert!(shrunk.runs <= Budget::default().max_runs);
    assert!(
        lines[0].starts_with("devices 5000 → ") && lines[0].ends_with("(still fires DDI-SM-410)"),
        "{lines:?}"
    );
    assert_eq!(shrunk.scenario.seed, s.seed);
    assert!(counts(&shrunk.scenario).contains_key(&BROKEN_ID));

    // The YAML loads back, keeps the seed, expects the ID and fires it.
    let yaml = to_yaml(&shrunk.scenario).expect("yaml");
    let back = scenario::load_str("shrunk.yaml", &yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert!(yaml.contains(&format!("seed: {}", s.seed)), "{yaml}");
    assert_eq!(back.device_count(), shrunk.after.devices);
    assert_eq!(back.duration, shrunk.scenario.duration);
    let ExpectedViolations::Ids(ids) = &back.expect.violations else {
        panic!("expect.violations: {:?}", back.expect.violations);
    };
    assert_eq!(ids[0], BROKEN_ID.as_str());
    let fired = counts(&back);
    assert!(fired.contains_key(&BROKEN_ID), "{fired:?}");
    let fired_ids: Vec<&str> = fired.keys().map(|i| i.as_str()).collect();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort();
    let mut got = fired_ids.clone();
    got.sort();
    assert_eq!(got, want, "the shrunk scenario passes as a regression test");
}

#[test]
fn the_same_scenario_shrinks_the_same_way() {
    let s = scenario::load(Path::new(BROKEN)).expect("loads");
    let a = shrink(&s, Some(BROKEN_ID), Budget::default(), |_| {}).expect("shrinks");
    let b = shrink(&s, Some(BROKEN_ID), Budget::default(), |_| {}).expect("shrinks");
    assert_eq!(a.runs, b.runs);
    assert_eq!(a.steps, b.steps);
    assert_eq!(to_yaml(&a.scenario).ok(), to_yaml(&b.scenario).ok());
}

#[test]
fn the_budget_bounds_the_runs() {
    let mut s = scenario::load(Path::new(BROKEN)).expect("loads");
    s.scale_fleet(200);
    let shrunk = shrink(&s, None, Budget { max_runs: 3 }, |_| {}).expect("shrinks");
    assert_eq!(shrunk.runs, 3);
    assert!(shrunk.budget_spent);
    assert!(counts(&shrunk.scenario).contains_key(&BROKEN_ID));
}

const HEALTHY: &str = "name: healthy\nduration: 1h\nserver: { polling: 1m }\nfleet:\n  - { kind: always_on, count: 5 }\n\
campaigns:\n  - { at: 5m, artifacts: [ { name: fw.bin, size: 64KiB } ] }\n";

#[test]
fn a_healthy_scenario_has_nothing_to_shrink() {
    let s = scenario::load_str("healthy.yaml", HEALTHY).expect("loads");
    let err = shrink(&s, None, Budget::default(), |_| {}).expect_err("nothing fires");
    assert!(matches!(err, ShrinkError::NothingFired { .. }), "{err}");
    assert!(err.to_string().contains("no invariant fired"), "{err}");
    let broken = scenario::load(Path::new(BROKEN)).expect("loads");
    let err = shrink(
        &broken,
        Some(InvariantId::UrlLive),
        Budget::default(),
        |_| {},
    )
    .expect_err("URL-LIVE does not fire");
    assert!(err.to_string().contains("URL-LIVE did not fire"), "{err}");
}

#[test]
fn cli_exit_codes_and_output() {
    let dir = temp_dir();
    let healthy = dir.join("healthy.yaml");
    std::fs::write(&healthy, HEALTHY).expect("write");
    let (code, _, err) = fleetsim(&["shrink", healthy.to_str().expect("utf8")]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no invariant fired"), "{err}");
    assert!(!dir.join("healthy.shrunk.yaml").exists());

    let malformed = dir.join("malformed.yaml");
    std::fs::write(&malformed, "name: x\nduration: 30x\nfleet: []\n").expect("write");
    let (code, _, err) = fleetsim(&["shrink", malformed.to_str().expect("utf8")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(":2:11: "), "{err}");

    let broken = dir.join("broken.yaml");
    std::fs::copy(BROKEN, &broken).expect("copy");
    let (code, out, err) = fleetsim(&[
        "shrink",
        broken.to_str().expect("utf8"),
        "--invariant",
        "DDI-SM-410",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let written = dir.join("broken.shrunk.yaml");
    assert!(out.contains("(still fires DDI-SM-410)"), "{out}");
    assert!(
        out.contains(&format!("fleetsim run {}", written.display())),
        "{out}"
    );
    let back = scenario::load(&written).expect("written scenario loads");
    assert!(counts(&back).contains_key(&BROKEN_ID));
    let (code, out, err) = fleetsim(&[
        "run",
        written.to_str().expect("utf8"),
        "--quiet",
        "--out",
        dir.join("report").to_str().expect("utf8"),
    ]);
    assert_eq!(
        code, 0,
        "the shrunk scenario passes as a regression test: {out}{err}"
    );

    let (code, _, err) = fleetsim(&["shrink", BROKEN, "--invariant", "NOPE"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn every_shipped_scenario_round_trips_through_yaml() {
    let mut files = Vec::new();
    for dir in ["scenarios", "scenarios/broken"] {
        for entry in std::fs::read_dir(dir).expect("scenario dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 20, "{files:?}");
    for path in files {
        let s = scenario::load(&path).expect("shipped scenario loads");
        let yaml = to_yaml(&s).expect("yaml");
        let back = scenario::load_str("back.yaml", &yaml)
            .unwrap_or_else(|e| panic!("{}: {e}\n{yaml}", path.display()));
        assert_eq!(
            serde_json::to_string(&s).ok(),
            serde_json::to_string(&back).ok(),
            "{}",
            path.display()
        );
    }
}

#[test]
fn a_twin_violation_shrinks_gateways_too() {
    // A gateway fleet with backend activity: shrinking also tries one edge
    // device and no churn, commands or twin writes, keeping what it needs.
    let s = scenario::load(Path::new("scenarios/broken/twin-reorder.yaml")).expect("loads");
    let mut lines = Vec::new();
    let shrunk = shrink(
        &s,
        Some(InvariantId::TwinOrder),
        Budget::default(),
        |step| lines.push(step.to_string()),
    )
    .expect("shrinks");
    assert_eq!(shrunk.after.devices, 1, "{lines:?}");
    let tried_gateway = lines.iter().any(|l| l.contains(".gateway."));
    assert!(tried_gateway, "a gateway setting was simplified: {lines:?}");
    let spec = shrunk.scenario.fleet[0]
        .gateway
        .as_ref()
        .expect("a gateway block");
    assert!(spec.churn_every.is_none(), "{spec:?}");
    assert!(counts(&shrunk.scenario).contains_key(&InvariantId::TwinOrder));
}
