//! A virtual run on several threads, with the digest and the report of a run
//! on one.
//!
//! A device's history depends only on the seed, its own random streams and
//! the server's state for its own target (see [`super::replay`]), so the
//! fleet splits into parts — device numbers modulo the part count, as
//! `--shard` splits it — each simulated by its own [`Engine`] on its own
//! thread over the whole virtual time. [`RunResult::merge`] puts the parts
//! back together in device order: the per-device digests combine into the
//! same run digest, counts add, latency histograms and timelines merge
//! exactly, and the same first violations are kept.
//!
//! Fleets with shared per-run state are not split: `cpg` devices share the
//! gateway's artifact cache and its URL-leak stream, and Ditto gateways share
//! the twin hub, whose figures (cache curves, lag quantiles) do not add up.
//!
//! ```
//! use fleetsim_fleet::engine::{parallel, Selection};
//! use fleetsim_fleet::scenario::load_str;
//!
//! let s = load_str("s.yaml", "
//! name: two-threads
//! seed: 7
//! duration: 6h
//! fleet: [ { kind: always_on, count: 40 } ]
//! campaigns: [ { at: 1h, artifacts: [ { name: fw.bin, size: 64KiB } ] } ]
//! ").unwrap();
//! let one = parallel::run(&s, &Selection::default(), 1, |_| {});
//! let two = parallel::run(&s, &Selection::default(), 2, |_| {});
//! assert_eq!(one.digest, two.digest);
//! assert_eq!(one.stats.requests(), two.stats.requests());
//! ```

use fleetsim_core::time::Time;

use super::{Engine, RunResult, Selection};
use crate::scenario::{Protocol, Scenario};

/// Why `scenario` cannot run split across threads, if it cannot.
pub fn split_refusal(scenario: &Scenario) -> Option<&'static str> {
    let has = |p: Protocol| {
        scenario
            .fleet
            .iter()
            .any(|g| g.protocol == p && g.count > 0)
    };
    if has(Protocol::Cpg) {
        Some("`cpg` devices share the gateway's artifact cache")
    } else if has(Protocol::Ditto) {
        Some("Ditto gateways share the twin hub")
    } else {
        None
    }
}

/// How many threads a run of `scenario` uses when `--threads` is not given:
/// one per available core, one for a fleet that cannot be split, and no more
/// than one per 1 000 devices (smaller parts do not pay for their threads).
pub fn default_threads(scenario: &Scenario) -> usize {
    if split_refusal(scenario).is_some() {
        return 1;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let by_size = (scenario.device_count() / 1_000).max(1) as usize;
    cores.min(by_size)
}

/// Runs the devices of `selection` split into `threads` parts, one thread
/// each, and merges the parts; `progress` hears the first part's progress.
/// `threads` ≤ 1, or a fleet [`split_refusal`] refuses, runs on this thread.
pub fn run(
    scenario: &Scenario,
    selection: &Selection,
    threads: usize,
    progress: impl FnMut(Time) + Send,
) -> RunResult {
    if threads <= 1 || split_refusal(scenario).is_some() || selection.only.is_some() {
        return Engine::new(scenario, selection).run(progress);
    }
    let (i, n) = selection.shard.filter(|(_, n)| *n > 0).unwrap_or((0, 1));
    let t = threads as u64;
    let part = |j: u64| Selection {
        // Of shard i/n, the devices with number % (n·t) == i + n·j.
        shard: Some((i + n * j, n * t)),
        only: None,
        record: selection.record,
    };
    let mut results = std::thread::scope(|scope| {
        let rest: Vec<_> = (1..t)
            .map(|j| {
                let part = part(j);
                scope.spawn(move || Engine::new(scenario, &part).run(|_| {}))
            })
            .collect();
        let first = Engine::new(scenario, &part(0)).run(progress);
        let rest: Vec<RunResult> = rest
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect();
        (first, rest)
    });
    results.0.shard = selection.shard;
    RunResult::merge(results.0, results.1)
}
