//! Fuzz and property harness (test builds only): hostile inputs for the
//! parts that read what other people wrote — the scenario loader, the
//! protocol clients (what a hostile server answers them), and the server's
//! request router (see `serve::fuzz_tests`).
//!
//! Each target is a proptest strategy plus a check that must hold for every
//! input: no panic, a clear error, bounded work. A plain `cargo test` runs
//! [`DEFAULT_CASES`] cases per target; CI sets `FLEETSIM_FUZZ_SECS=60` to run
//! each target for that long instead (`.ci/run`). A failing input is shrunk
//! by proptest and printed whole, so it can be pasted into a regression test.

#[cfg(test)]
mod hostile;
#[cfg(test)]
mod scenario;
#[cfg(test)]
mod wire;

use std::fmt::Debug;
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseResult, TestError, TestRunner};

/// Cases per target in a plain `cargo test`: enough to catch a regression
/// in the common paths, few enough for a 2-core machine.
pub const DEFAULT_CASES: u32 = 64;

/// The time budget per target from `FLEETSIM_FUZZ_SECS`, if set.
fn budget() -> Option<Duration> {
    let secs = std::env::var("FLEETSIM_FUZZ_SECS").ok()?;
    match secs.trim().parse::<u64>() {
        Ok(s) if s > 0 => Some(Duration::from_secs(s)),
        _ => panic!("FLEETSIM_FUZZ_SECS: expected a whole number of seconds, found `{secs}`"),
    }
}

/// Runs `check` on inputs drawn from `strategy` — [`DEFAULT_CASES`] of them,
/// or as many as fit in `FLEETSIM_FUZZ_SECS` — and panics with the shrunk
/// failing input on the first failure (a panic inside `check` counts).
/// `name` and the count of cases run are printed for the CI log.
pub fn fuzz<S>(name: &str, strategy: S, check: impl Fn(S::Value) -> TestCaseResult)
where
    S: Strategy,
    S::Value: Debug,
{
    let config = Config {
        cases: DEFAULT_CASES,
        failure_persistence: None,
        // Shrinking a slow input must not outlast the budget by much.
        max_shrink_time: 30_000,
        ..Config::default()
    };
    let budget = budget();
    let deadline = budget.map(|b| Instant::now() + b);
    let mut runner = TestRunner::new_with_rng(
        config,
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    if deadline.is_none() {
        if let Err(e) = runner.run(&strategy, &check) {
            panic!("fuzz target {name}: {}", describe(e));
        }
        eprintln!("fuzz {name}: {DEFAULT_CASES} cases, 0 failures");
        return;
    }
    // Time-boxed: a fresh random stream (seeded from the clock, printed) so
    // every CI run explores new inputs.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut runner = TestRunner::new_with_rng(
        runner.config().clone(),
        proptest::test_runner::TestRng::from_seed(
            proptest::test_runner::RngAlgorithm::ChaCha,
            &seed_bytes(seed),
        ),
    );
    let mut cases = 0u64;
    while deadline.is_some_and(|d| Instant::now() < d) {
        let tree = match strategy.new_tree(&mut runner) {
            Ok(tree) => tree,
            Err(reason) => panic!("fuzz target {name}: cannot generate an input: {reason}"),
        };
        if let Err(e) = runner.run_one(tree, &check) {
            panic!("fuzz target {name} (seed {seed}): {}", describe(e));
        }
        cases += 1;
    }
    eprintln!(
        "fuzz {name}: {cases} cases in {:?}, 0 failures (seed {seed})",
        budget.unwrap_or_default()
    );
}

fn seed_bytes(seed: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(
            &(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes(),
        );
    }
    out
}

fn describe<T: Debug>(e: TestError<T>) -> String {
    match e {
        TestError::Abort(reason) => format!("aborted: {reason}"),
        TestError::Fail(reason, input) => format!("{reason}\nminimal failing input: {input:#?}"),
    }
}

/// Byte-level mutations of a seed text, the way a fuzzer would make them:
/// flips, deletions, duplications, insertions of `fragments`.
pub fn mutated_text(
    seeds: &'static [&'static str],
    fragments: &'static [&'static str],
) -> impl Strategy<Value = String> {
    use proptest::prelude::*;
    let edit = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Set(at, b)),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), 1usize..64, any::<usize>()).prop_map(|(at, n, to)| Edit::Copy(at, n, to)),
        (any::<usize>(), 0..fragments.len().max(1)).prop_map(|(at, f)| Edit::Insert(at, f)),
    ];
    (0..seeds.len(), proptest::collection::vec(edit, 0..8)).prop_map(move |(seed, edits)| {
        let mut bytes = seeds[seed].as_bytes().to_vec();
        for edit in edits {
            edit.apply(&mut bytes, fragments);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

#[derive(Clone, Debug)]
enum Edit {
    Set(usize, u8),
    Delete(usize, usize),
    Copy(usize, usize, usize),
    Insert(usize, usize),
}

impl Edit {
    fn apply(self, bytes: &mut Vec<u8>, fragments: &[&str]) {
        let len = bytes.len().max(1);
        match self {
            Edit::Set(at, b) if !bytes.is_empty() => bytes[at % len] = b,
            Edit::Set(..) => {}
            Edit::Delete(at, n) => {
                let at = at % len.min(bytes.len() + 1);
                let end = (at + n).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            Edit::Copy(at, n, to) => {
                let at = at % len;
                let piece: Vec<u8> = bytes.iter().skip(at).take(n).copied().collect();
                let to = to % (bytes.len() + 1);
                bytes.splice(to..to, piece);
            }
            Edit::Insert(at, f) => {
                let Some(fragment) = fragments.get(f) else {
                    return;
                };
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, fragment.bytes());
            }
        }
    }
}
