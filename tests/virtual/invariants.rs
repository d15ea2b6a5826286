//! Every invariant can fire: each scenario in `scenarios/broken/` runs the
//! embedded server with one fault mode (or, for the poll-rate invariant, a
//! device that ignores `sleep`) and must produce exactly the invariant IDs it
//! lists in `expect.violations` — and every other scenario must pass clean.

use std::collections::BTreeSet;

use fleetsim::engine::{Engine, Selection};
use fleetsim::oracle::InvariantId;
use fleetsim::scenario::{load, ExpectedViolations};

fn scenario_files(dir: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("scenario dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn each_broken_server_mode_makes_its_invariant_fire() {
    let mut covered = BTreeSet::new();
    for path in scenario_files("scenarios/broken") {
        let s = load(&path).expect("broken scenario loads");
        let ExpectedViolations::Ids(expected) = &s.expect.violations else {
            panic!("{} must list the invariant it expects", path.display());
        };
        let r = Engine::new(&s, &Selection::default()).run(|_| {});
        let fired: BTreeSet<&str> = r.oracle.counts().keys().map(|id| id.as_str()).collect();
        let want: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
        assert_eq!(fired, want, "{}", path.display());
        let v = &r.oracle.violations()[0];
        assert!(!v.controller_id.is_empty() && !v.message.is_empty());
        covered.extend(want.iter().map(|s| s.to_string()));
        assert!(
            fleetsim::report::verdict(&s, &r).passed,
            "{}",
            path.display()
        );
    }
    // The MGMT family compares the server's Management API record, read
    // back after a managed real-time run, with the devices: its broken
    // server is in tests/real/server_view.rs.
    for id in InvariantId::ALL
        .into_iter()
        .filter(|id| id.family() != "MGMT")
    {
        assert!(
            covered.contains(id.as_str()),
            "no broken-server scenario makes {id} fire"
        );
    }
}

#[test]
fn healthy_scenarios_hold_every_invariant() {
    for path in scenario_files("scenarios") {
        let mut s = load(&path).expect("scenario loads");
        s.scale_fleet(200);
        let r = Engine::new(&s, &Selection::default()).run(|_| {});
        // A scenario may show a weakness on purpose (constrained-none's
        // expired URLs): only what it expects may fire.
        let expected = match &s.expect.violations {
            ExpectedViolations::None => Vec::new(),
            ExpectedViolations::Ids(ids) => ids.clone(),
        };
        let unexpected = r
            .oracle
            .violations()
            .iter()
            .find(|v| !expected.contains(&v.id.to_string()));
        assert!(unexpected.is_none(), "{}: {:?}", path.display(), unexpected);
        // Gateway fleets without campaigns mirror twins; they do not update.
        assert!(
            s.campaigns.is_empty() || r.stats.updates_succeeded > 150,
            "{}: updates happen",
            path.display()
        );
    }
}

/// The `resend_final_feedback` probe makes DDI-SM-410 observable on any
/// server: a healthy one answers the repeated `closed` with 410 (no
/// violation), one that accepts feedback after close is caught on every device.
#[test]
fn resending_the_final_feedback_probes_for_410() {
    let text = |fault: &str| {
        format!(
            "name: probe\nseed: 3\nduration: 6h\nserver: {{ polling: 1m }}\n\
             fleet:\n  - {{ kind: always_on, count: 40, resend_final_feedback: true, install_failure: 0.2 }}\n\
             campaigns:\n  - {{ at: 10m, artifacts: [ {{ name: fw.bin, size: 64KiB }} ] }}\n{fault}"
        )
    };
    let healthy = fleetsim::scenario::load_str("probe.yaml", &text("")).expect("loads");
    let r = Engine::new(&healthy, &Selection::default()).run(|_| {});
    assert_eq!(r.oracle.total(), 0, "{:?}", r.oracle.counts());
    assert_eq!(r.stats.statuses.get(&410).copied(), Some(40));
    let broken = fleetsim::scenario::load_str(
        "probe.yaml",
        &text("faults:\n  server:\n    - { mode: accept_feedback_after_close }\n"),
    )
    .expect("loads");
    let r = Engine::new(&broken, &Selection::default()).run(|_| {});
    let fired: Vec<&str> = r.oracle.counts().keys().map(|id| id.as_str()).collect();
    assert_eq!(fired, ["DDI-SM-410"]);
    assert_eq!(r.oracle.counts().values().sum::<u64>(), 40);
}
