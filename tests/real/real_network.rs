//! A hostile network in real time (`load.emulate_network`): 10 % loss each
//! way, log-normal latency, a bandwidth cap that makes downloads crawl and
//! online windows that cut them, injected by the real-time driver's own
//! transport against `fleetsim serve` — and still every device converges,
//! every final feedback is accepted, no failure is blamed on the server,
//! and the report's counters show what the run injected.

use crate::common;

use fleetsim::scenario::{load_str, Scenario};

/// 12 h of scenario time in about 4 s.
const TIME_SCALE: f64 = 10_000.0;

/// Always-on devices on a lossy, slow link, and sleepy ones whose 256 KiB
/// download needs more than one 10-minute window at 256 B/s.
pub(crate) const HOSTILE: &str = r#"
name: hostile-network
seed: 7
duration: 12h
server: { polling: 5m, polling_jitter: 0.1 }
fleet:
  - kind: always_on
    count: 30
    connectivity:
      loss: 0.1
      latency: { p50: 40ms, p99: 400ms }
      bandwidth: 8KiB
  - kind: constrained
    id_prefix: sleepy-
    count: 10
    connectivity:
      online_every: 1h
      online_for: 10m
      loss: 0.1
      latency: { p50: 300ms, p99: 2s }
      bandwidth: 256
campaigns:
  - name: fw-2.0
    at: 20m
    version: 2.0.0
    artifacts: [ { name: fw-2.0.bin, size: 256KiB } ]
    type: forced
expect:
  violations: none
  converged: { fraction: 1.0, within: 12h }
load: { time_scale: 10000, emulate_network: true }
"#;

/// Runs `s` against a `fleetsim serve` of the same scenario, each on a
/// runtime of its own as two processes would be.
pub(crate) fn run_against_serve(s: &Scenario) -> fleetsim::engine::RunResult {
    crate::real_run::run_against_serve(s, s.load.time_scale).expect("serve is reachable")
}

fn counter(r: &fleetsim::engine::RunResult, name: &str) -> u64 {
    r.extra_counters.get(name).copied().unwrap_or(0)
}

#[test]
fn devices_converge_over_a_hostile_emulated_network() {
    let s = load_str("hostile-network.yaml", HOSTILE).expect("the hostile scenario parses");
    assert_eq!(s.load.time_scale, TIME_SCALE);
    let run = run_against_serve(&s);

    assert_eq!(run.oracle.total(), 0, "{}", common::violations(&run));
    let verdict = fleetsim::report::verdict(&s, &run);
    assert!(verdict.passed, "{:?}", verdict.problems);
    assert_eq!(
        run.stats.updates_succeeded, 40,
        "every device's final feedback was accepted"
    );
    // Every failure was one the run injected: none is the server's.
    assert_eq!(run.stats.failed_not_injected, 0);

    eprintln!("injected: {:?}", run.extra_counters);
    let dropped = counter(&run, "net_requests_dropped");
    let answers = counter(&run, "net_answers_dropped");
    let exchanges = counter(&run, "net_exchanges");
    assert!(exchanges > 200, "{exchanges} exchanges");
    // 10 % each way, with generous bounds: a seeded draw, not a timing.
    for (what, n) in [("requests", dropped), ("answers", answers)] {
        assert!(
            n * 100 >= exchanges * 4 && n * 100 <= exchanges * 18,
            "{n} {what} dropped of {exchanges}"
        );
    }
    assert!(counter(&run, "net_delay_ms_total") >= exchanges * 40);
    assert!(
        counter(&run, "net_partition_cuts") > 0,
        "a 256 KiB download at 256 B/s outlasts a 10-minute window"
    );
    assert!(run.stats.errors.values().sum::<u64>() > 0);
}
