//! Determinism contract (DESIGN.md): same scenario + seed ⇒ same digest and
//! report; another seed ⇒ another digest; per-device streams make a device's
//! history independent of the rest of the fleet (growing the fleet, shards,
//! single-device replay).

use fleetsim::engine::{parallel, replay_device, Engine, RunResult, Selection};
use fleetsim::scenario::{load, load_str, Scenario};

fn quickstart(devices: u32) -> Scenario {
    let mut s = load(std::path::Path::new("scenarios/quickstart.yaml")).expect("quickstart loads");
    s.scale_fleet(devices);
    s
}

fn run(s: &Scenario, selection: Selection) -> RunResult {
    Engine::new(s, &selection).run(|_| {})
}

/// The report as JSON without its wall-clock section.
fn report_without_wall_clock(s: &Scenario, r: &RunResult) -> serde_json::Value {
    let report =
        fleetsim::report::build(s, "quickstart.yaml", r, std::time::Duration::from_millis(1));
    let mut v = serde_json::to_value(&report).expect("report serialises");
    v.as_object_mut().expect("object").remove("wall_clock");
    v
}

#[test]
fn same_seed_same_digest_and_report() {
    let s = quickstart(300);
    let a = run(&s, Selection::default());
    let b = run(&s, Selection::default());
    assert_eq!(a.digest, b.digest);
    assert!(a.stats.requests() > 10_000, "the run does real work");
    assert_eq!(
        report_without_wall_clock(&s, &a),
        report_without_wall_clock(&s, &b)
    );

    let mut other = s.clone();
    other.seed += 1;
    let c = run(&other, Selection::default());
    assert_ne!(a.digest, c.digest, "another seed gives another history");
}

const GROWING: &str = "
name: growing
seed: 3
duration: 1d
fleet:
  - kind: constrained
    count: 600
    connectivity: { online_every: 2h, online_for: 2m, loss: 0.05, bandwidth: 32KiB }
  - kind: always_on
    count: COUNT
    install_failure: 0.1
    connectivity: { loss: 0.02 }
campaigns:
  - at: 1h
    artifacts: [ { name: fw.bin, size: 1MiB } ]
    targets: { fraction: 0.8 }
";

#[test]
fn adding_a_device_changes_no_other_device() {
    let small = load_str("g.yaml", &GROWING.replace("COUNT", "400")).expect("loads");
    let large = load_str("g.yaml", &GROWING.replace("COUNT", "401")).expect("loads");
    let a = run(&small, Selection::default());
    let b = run(&large, Selection::default());
    assert_eq!(a.digests.len(), 1000);
    assert_eq!(b.digests.len(), 1001);
    assert_eq!(
        a.digests[..],
        b.digests[..1000],
        "first 1000 per-device digests unchanged"
    );
    assert_ne!(a.digest, b.digest);
}

#[test]
fn shards_and_replay_match_the_whole_run() {
    let s = load_str("g.yaml", &GROWING.replace("COUNT", "100")).expect("loads");
    let whole = run(&s, Selection::default());
    let mut merged: Vec<_> = (0..3)
        .flat_map(|i| {
            run(
                &s,
                Selection {
                    shard: Some((i, 3)),
                    ..Selection::default()
                },
            )
            .digests
        })
        .collect();
    merged.sort_by_key(|(n, _)| *n);
    assert_eq!(merged, whole.digests);
    let combined = fleetsim::digest::combine(merged.iter().map(|(n, h)| (*n, h)));
    assert_eq!(combined, whole.digest);

    for device in [0, 599, 650] {
        let (digest, trace) = replay_device(&s, device);
        assert_eq!(
            digest, whole.digests[device as usize].1,
            "replay of device {device}"
        );
        assert!(
            trace.iter().any(|l| l.contains("→ GET")),
            "replay records a trace"
        );
    }
}

/// `s` runs to the same digest twice and to another with another seed;
/// `shards` shards reproduce its per-device digests, and each of `replayed`
/// replays alone to its digest with a trace showing `marker`.
fn assert_deterministic(s: &Scenario, shards: u64, replayed: &[u64], marker: &str) -> RunResult {
    let a = run(s, Selection::default());
    let b = run(s, Selection::default());
    assert_eq!(a.digest, b.digest);
    let mut other = s.clone();
    other.seed += 1;
    assert_ne!(a.digest, run(&other, Selection::default()).digest);

    let mut merged: Vec<_> = (0..shards)
        .flat_map(|i| {
            let selection = Selection {
                shard: Some((i, shards)),
                ..Selection::default()
            };
            run(s, selection).digests
        })
        .collect();
    merged.sort_by_key(|(n, _)| *n);
    assert_eq!(merged, a.digests, "shards match the whole run");
    for &device in replayed {
        let (digest, trace) = replay_device(s, device);
        assert_eq!(
            digest, a.digests[device as usize].1,
            "replay of device {device}"
        );
        assert!(
            trace.iter().any(|l| l.contains(marker)),
            "the replay of device {device} shows {marker}"
        );
    }
    a
}

#[test]
fn otau_fleet_is_deterministic_and_replays_per_device() {
    let mut s = load(std::path::Path::new("scenarios/otau-http.yaml")).expect("otau-http loads");
    s.scale_fleet(150);
    let a = assert_deterministic(&s, 2, &[0, 100], "stack/alias?config_otau");
    assert!(
        a.stats.updates_succeeded > 100,
        "OTAU devices update: {}",
        a.stats.updates_succeeded
    );
}

#[test]
fn constrained_fleet_is_deterministic_and_replays_per_device() {
    let path = std::path::Path::new("scenarios/constrained-30d.yaml");
    let mut s = load(path).expect("constrained-30d loads");
    s.scale_fleet(400);
    let a = assert_deterministic(&s, 3, &[0, 201, 399], "/cpg/v1/devices/");
    let gateway = a
        .gateway
        .as_ref()
        .expect("a cpg fleet has a gateway section");
    assert_eq!(gateway.strategies.len(), 4, "one result per strategy");
    assert!(
        a.stats.updates_succeeded > 300,
        "{}",
        a.stats.updates_succeeded
    );
}

/// Every shipped scenario keeps the digest pinned in
/// `tests/data/scenario-digests.txt`, and every shipped scenario is pinned
/// there: a refactor changes no digest (DESIGN.md, determinism contract).
#[test]
fn every_shipped_scenario_keeps_its_pinned_digest() {
    let pins = std::fs::read_to_string("tests/data/scenario-digests.txt").expect("pin file");
    let pinned: Vec<(&str, &str)> = pins
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once("  "))
        .map(|(digest, file)| (file.trim(), digest.trim()))
        .collect();
    let mut shipped: Vec<String> = ["scenarios", "scenarios/broken"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).expect("scenario dir"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| p.display().to_string())
        .collect();
    shipped.sort();
    let mut files: Vec<String> = pinned.iter().map(|(f, _)| f.to_string()).collect();
    files.sort();
    assert_eq!(files, shipped, "pin every shipped scenario, and only those");
    // Two checker threads: the scenarios are independent and this is the slow test.
    let (a, b) = pinned.split_at(pinned.len() / 2);
    let check = |part: &[(&str, &str)]| -> Vec<String> {
        part.iter()
            .filter_map(|(file, want)| {
                let s = load(std::path::Path::new(file)).expect("shipped scenario loads");
                // The pins were taken on one thread: three give the same digest.
                let got = parallel::run(&s, &Selection::default(), 3, |_| {}).digest;
                (got != *want).then(|| format!("{file}: pinned {want}, now {got}"))
            })
            .collect()
    };
    let changed: Vec<String> = std::thread::scope(|scope| {
        let other = scope.spawn(|| check(b));
        let mut changed = check(a);
        changed.extend(other.join().expect("checker thread"));
        changed
    });
    assert!(
        changed.is_empty(),
        "digests changed:\n{}",
        changed.join("\n")
    );
}

/// A run on several threads writes the report of a run on one: digest,
/// counts, histograms, timeline, violations kept and their order — with the
/// fleet split across threads and, inside a `--shard`, split again.
#[test]
fn threads_change_nothing_in_the_report() {
    let cases = [
        ("scenarios/quickstart.yaml", Some(300)),
        ("scenarios/otau-murano.yaml", Some(120)),
        ("scenarios/consent.yaml", None),
        // More violations than the report keeps in full: the same first 200.
        ("scenarios/broken/device-ignores-sleep.yaml", None),
        ("scenarios/broken/otau-write-rate.yaml", None),
    ];
    for (file, devices) in cases {
        let mut s = load(std::path::Path::new(file)).expect("shipped scenario loads");
        if let Some(n) = devices {
            s.scale_fleet(n);
        }
        let one = run(&s, Selection::default());
        assert!(
            one.stats.requests() > 1_000,
            "{file}: the run does real work"
        );
        let three = parallel::run(&s, &Selection::default(), 3, |_| {});
        assert_eq!(one.events, three.events, "{file}: events");
        assert_eq!(
            report_without_wall_clock(&s, &one),
            report_without_wall_clock(&s, &three),
            "{file}: 3 threads"
        );
        let shard = Selection {
            shard: Some((1, 2)),
            ..Selection::default()
        };
        let whole_shard = run(&s, shard.clone());
        let split_shard = parallel::run(&s, &shard, 2, |_| {});
        assert_eq!(
            report_without_wall_clock(&s, &whole_shard),
            report_without_wall_clock(&s, &split_shard),
            "{file}: shard 1/2 on 2 threads"
        );
    }
    let broken = load(std::path::Path::new(
        "scenarios/broken/device-ignores-sleep.yaml",
    ))
    .expect("loads");
    let r = run(&broken, Selection::default());
    assert!(
        r.oracle.total() > 200,
        "the truncation is exercised: {}",
        r.oracle.total()
    );
}

#[test]
fn fleets_with_shared_gateway_state_run_on_one_thread() {
    let s = load(std::path::Path::new("scenarios/constrained-cache.yaml")).expect("loads");
    assert!(parallel::split_refusal(&s).is_some());
    assert_eq!(parallel::default_threads(&s), 1);
    let q = load(std::path::Path::new("scenarios/quickstart.yaml")).expect("loads");
    assert_eq!(parallel::split_refusal(&q), None);
}
