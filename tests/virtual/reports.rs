//! What a run leaves behind for CI and for people: `junit.xml` that test
//! viewers accept (validated against `tests/data/junit.xsd` with xmllint),
//! `report.json` with a schema version and the scenario as run, `replay` of
//! one device from a report, and `report merge` of shard reports equal to
//! the whole run.

use std::path::{Path, PathBuf};
use std::process::Command;

use fleetsim::engine::{attach_excerpts, Engine, Selection};
use fleetsim::report::merge::merge_dirs;
use fleetsim::report::replay::{replay, ReplayError};
use fleetsim::scenario::{load, load_str, ExpectedViolations, Scenario};
use serde_json::Value;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fleetsim-reports-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs `s` (selection `shard`) and writes its report files into `dir`.
fn run_to(s: &Scenario, shard: Option<(u64, u64)>, dir: &Path) -> Value {
    let selection = Selection {
        shard,
        ..Selection::default()
    };
    let mut r = Engine::new(s, &selection).run(|_| {});
    attach_excerpts(s, &mut r);
    let report = fleetsim::report::build(s, "t.yaml", &r, std::time::Duration::from_millis(5));
    let path = fleetsim::report::write(&report, dir).expect("report written");
    serde_json::from_slice(&std::fs::read(path).expect("readable")).expect("JSON")
}

/// `xmllint` validating `xml` against the JUnit schema, or `None` (loudly)
/// without xmllint (Debian `libxml2-utils`; `.ci/run` installs it).
fn validate_junit(xml: &Path) -> Option<std::process::Output> {
    let out = Command::new("xmllint")
        .args(["--noout", "--schema", "tests/data/junit.xsd"])
        .arg(xml)
        .output();
    match out {
        Ok(o) => Some(o),
        Err(e) => {
            eprintln!("SKIPPED: JUnit schema validation needs xmllint (libxml2-utils): {e}");
            None
        }
    }
}

#[test]
fn junit_report_fails_the_unexpected_invariant_with_details_and_a_replay_command() {
    let mut s = load(Path::new("scenarios/broken/feedback-after-close.yaml")).expect("loads");
    s.scale_fleet(60);
    // Without its expectation the broken server's invariant is a failure.
    s.expect.violations = ExpectedViolations::None;
    let dir = temp_dir("junit");
    let report = run_to(&s, None, &dir);
    let fired: Vec<&Value> = report["invariants"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["violations"].as_u64() > Some(0))
        .collect();
    assert_eq!(fired.len(), 1, "one invariant fires: {fired:?}");
    let id = fired[0]["id"].as_str().unwrap_or_default();
    let count = fired[0]["violations"].as_u64().unwrap_or_default();

    let xml_path = dir.join("junit.xml");
    let xml = std::fs::read_to_string(&xml_path).expect("junit.xml written");
    assert!(xml.contains(r#"<testsuite name="DDI invariants""#), "{xml}");
    assert!(
        xml.contains(&format!(r#"message="{count} violation"#)),
        "{xml}"
    );
    assert!(xml.contains(&format!(r#"type="{id}""#)));
    assert_eq!(xml.matches("<failure").count(), 1, "only {id} fails");
    let replay_line = xml
        .lines()
        .find(|l| l.starts_with("replay: fleetsim replay "))
        .expect("the failure says how to replay the first violation");
    assert!(replay_line.contains("--device "), "{replay_line}");
    assert!(xml.contains(" at T+"), "violations carry device and time");
    assert!(xml.contains("→ GET"), "trace excerpts are included");
    if let Some(out) = validate_junit(&xml_path) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The schema is not vacuous: a suite without its counts is refused.
        let broken = dir.join("broken-junit.xml");
        std::fs::write(&broken, xml.replacen(" tests=\"", " x=\"", 2)).expect("write");
        let refused = validate_junit(&broken).expect("xmllint ran before");
        assert!(
            !refused.status.success(),
            "a suite without `tests` must not validate"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn report_json_has_a_schema_and_the_scenario_as_run_for_every_scenario() {
    let mut files: Vec<PathBuf> = ["scenarios", "scenarios/broken"]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).expect("scenario dir"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for path in files {
        let s = load(&path).expect("scenario loads");
        let yaml = serde_yaml::to_string(&s).expect("serialises");
        let again = load_str("again.yaml", &yaml).unwrap_or_else(|e| {
            panic!(
                "{}: the serialised scenario must load: {e}\n{yaml}",
                path.display()
            )
        });
        assert_eq!(
            yaml,
            serde_yaml::to_string(&again).expect("serialises"),
            "{}",
            path.display()
        );
    }
}

#[test]
fn replay_reproduces_a_device_from_its_report_and_refuses_what_it_cannot() {
    let mut s = load(Path::new("scenarios/broken/wrong-status-mapping.yaml")).expect("loads");
    s.scale_fleet(40);
    let dir = temp_dir("replay");
    let report = run_to(&s, None, &dir);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["mode"], "virtual");
    let v = &report["violations"][0];
    let cid = v["controller_id"]
        .as_str()
        .expect("a violation")
        .to_string();
    let cid = cid.as_str();
    let device = v["device"].as_u64();
    let v_excerpt = v["excerpt"].clone();
    let replayed = replay(&dir, cid).expect("replays");
    assert!(
        replayed.matches(),
        "{} vs {}",
        replayed.digest,
        replayed.recorded
    );
    assert_eq!(Some(replayed.number), device);
    assert!(
        !replayed.violations.is_empty(),
        "the device's violations are listed"
    );
    assert!(
        replayed.trace.iter().any(|l| l.contains("→ GET")),
        "requests are in the trace"
    );
    assert!(
        replayed.trace.iter().any(|l| l.contains("← 200")),
        "answers too"
    );
    let by_number = replay(&dir.join("report.json"), "3").expect("by number");
    assert_eq!(by_number.number, 3);

    assert!(matches!(
        replay(&dir, "no-such-device"),
        Err(ReplayError::UnknownDevice { .. })
    ));
    // A real-time report shows the recorded exchange of a violating device,
    // and cannot help for a device without one.
    let mut real = report.clone();
    real["mode"] = "real".into();
    let real_path = dir.join("real.json");
    std::fs::write(&real_path, serde_json::to_vec(&real).expect("JSON")).expect("write");
    let recorded = replay(&real_path, cid).expect("the recorded exchange");
    assert!(!recorded.rerun && recorded.matches());
    let lines: Vec<String> = serde_json::from_value(v_excerpt).expect("excerpt lines");
    assert_eq!(recorded.trace, lines);
    let violating: Vec<u64> = report["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["device"].as_u64())
        .collect();
    let quiet = (0..40u64)
        .find(|n| !violating.contains(n))
        .expect("a quiet device");
    assert!(matches!(
        replay(&real_path, &quiet.to_string()),
        Err(ReplayError::RealTime { .. })
    ));
    let mut future = report;
    future["schema_version"] = 99.into();
    std::fs::write(&real_path, serde_json::to_vec(&future).expect("JSON")).expect("write");
    assert!(matches!(
        replay(&real_path, cid),
        Err(ReplayError::Schema { found: 99, .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn four_merged_shards_equal_the_whole_run() {
    let mut s = load(Path::new("scenarios/quickstart.yaml")).expect("loads");
    s.scale_fleet(400);
    let base = temp_dir("merge");
    let whole = run_to(&s, None, &base.join("whole"));
    let shards: Vec<PathBuf> = (0..4)
        .map(|i| {
            let dir = base.join(format!("shard-{i}"));
            run_to(&s, Some((i, 4)), &dir);
            dir
        })
        .collect();
    let merged = merge_dirs(&shards, &base.join("merged")).expect("merges");
    let m = &merged.report;
    assert_eq!(merged.digest, whole["digest"].as_str().unwrap_or_default());
    assert_eq!(m["device_digests"], whole["device_digests"]);
    for key in [
        "final_phases",
        "requests",
        "statuses",
        "net_errors",
        "timeline",
        "invariants",
        "devices",
    ] {
        assert_eq!(m[key], whole[key], "{key}");
    }
    let mut counters = m["counters"].clone();
    let mut expected = whole["counters"].clone();
    // Engine events are per-process work (each shard samples the timeline).
    for c in [&mut counters, &mut expected] {
        c.as_object_mut().expect("object").remove("events");
    }
    assert_eq!(counters, expected);
    // Histograms merge exactly: every percentile, not just the counts.
    for (kind, lat) in whole["latency_ms"].as_object().expect("latency") {
        for q in ["count", "p50", "p90", "p99", "p999", "max"] {
            assert_eq!(m["latency_ms"][kind][q], lat[q], "{kind} {q}");
        }
    }
    assert_eq!(m["verdict"]["passed"], whole["verdict"]["passed"]);
    let on_disk: Value = serde_json::from_slice(
        &std::fs::read(base.join("merged/report.json")).expect("merged report written"),
    )
    .expect("JSON");
    assert_eq!(on_disk["digest"], whole["digest"]);

    // Not shards of one run: refused with the file named.
    let err = merge_dirs(&[shards[0].clone(), base.join("whole")], &base.join("bad"))
        .expect_err("a whole run is not a shard");
    assert!(err.to_string().contains("whole"), "{err}");
    let _ = std::fs::remove_dir_all(&base);
}
