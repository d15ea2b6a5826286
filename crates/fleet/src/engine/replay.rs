//! Replaying one device alone, and the trace excerpts built from it.
//!
//! A device's history depends only on the seed, its own random streams and the
//! server's state for its own target, so running the scenario with just that
//! device reproduces its history exactly (same digest; tested).

use super::{Engine, RunResult, Selection};
use crate::digest::TraceHash;
use crate::scenario::Scenario;

/// Violations whose devices get a trace excerpt in the report.
const EXCERPT_DEVICES: usize = 10;
/// Lines of trace kept up to each violation.
const EXCERPT_LINES: usize = 14;

/// Replays device `number` of `scenario` alone and returns its readable trace.
/// A device's history depends only on the seed, its own streams and the
/// server's per-target state, so the replay is exact (same digest).
pub fn replay_device(scenario: &Scenario, number: u64) -> (TraceHash, Vec<String>) {
    let selection = Selection {
        shard: None,
        only: Some(number),
        record: Some(number),
    };
    let result = Engine::new(scenario, &selection).run(|_| {});
    let digest = result
        .digests
        .first()
        .map_or(TraceHash::default(), |(_, h)| *h);
    (digest, result.trace)
}

/// Attaches trace excerpts (the device's events up to the violation) to the
/// first recorded violations, replaying each device alone.
pub fn attach_excerpts(scenario: &Scenario, result: &mut RunResult) {
    let mut devices: Vec<u64> = Vec::new();
    for v in result.oracle.violations() {
        if !devices.contains(&v.device) && devices.len() < EXCERPT_DEVICES {
            devices.push(v.device);
        }
    }
    for number in devices {
        let (_, trace) = replay_device(scenario, number);
        for v in result
            .oracle
            .violations_mut()
            .iter_mut()
            .filter(|v| v.device == number)
        {
            let upto = trace.partition_point(|line| line_time(line).is_none_or(|t| t <= v.at_ms));
            v.excerpt = trace[upto.saturating_sub(EXCERPT_LINES)..upto].to_vec();
        }
    }
}

/// Parses the `T+…` time at the start of a trace line.
pub fn line_time(line: &str) -> Option<u64> {
    let t = line.trim_start().strip_prefix("T+")?;
    let end = t.find(' ').unwrap_or(t.len());
    let text = &t[..end];
    if text == "0s" {
        return Some(0);
    }
    // Span's Display writes seconds as `1.500s`; the scenario parser wants `1s500ms`.
    let normal = match text.split_once('.') {
        Some((head, frac)) => format!("{head}s{}ms", frac.trim_end_matches('s')),
        None => text.to_string(),
    };
    crate::scenario::units::parse_duration(&normal)
        .ok()
        .map(|s| s.as_millis())
}
