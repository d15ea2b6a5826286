//! Every invariant can fire: each scenario in `scenarios/broken/` runs the
//! embedded server with one fault mode (or, for the poll-rate invariant, a
//! device that ignores `sleep`) and must produce exactly the invariant IDs it
//! lists in `expect.violations` — and every other scenario must pass clean.

use std::collections::BTreeSet;

use fleetsim::oracle::InvariantId;
use fleetsim::scenario::{load, ExpectedViolations};
use fleetsim::sim::{Engine, Selection};

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
    for id in InvariantId::ALL {
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
        assert_eq!(
            r.oracle.total(),
            0,
            "{}: {:?}",
            path.display(),
            r.oracle.violations().first()
        );
        assert!(
            r.stats.updates_succeeded > 150,
            "{}: updates happen",
            path.display()
        );
    }
}
