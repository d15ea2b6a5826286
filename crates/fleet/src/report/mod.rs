//! The run report: `report.json`, its HTML view `index.html`, the terminal
//! summary and the verdict.
//!
//! The JSON report is deterministic for a given scenario and seed, except for
//! its `wall_clock` section, which is the only place wall-clock figures go.

mod charts;
pub mod conform;
mod html;
mod junit;
pub mod merge;
pub mod replay;
mod summary;
mod twin;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use html::{escape, render as render_html};
pub use summary::print_summary;

use crate::engine::RunResult;
use crate::scenario::{ExpectedViolations, Fraction, Scenario, DEFAULT_LOST_REQUESTS};
use fleetsim_core::oracle::{InvariantId, Violation};
use fleetsim_core::protocol::ddi::{Phase, ReqKind};

/// Where a run's files go, and why writing them failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The report directory or file could not be written.
    #[error("cannot write report {path}: {source}")]
    Write {
        /// File or directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// Latency figures of one request kind, in milliseconds (`latency_ms`) or
/// microseconds (`latency_us`).
#[derive(Debug, Serialize)]
pub struct LatencySummary {
    /// Answers measured.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Maximum.
    pub max: u64,
    /// The histogram, hdrhistogram V2 serialisation, base16.
    pub histogram: String,
}

/// One sample of the fleet timeline.
#[derive(Debug, Serialize)]
pub struct TimelinePoint {
    /// Time in ms.
    pub at_ms: u64,
    /// Devices per phase.
    pub phases: BTreeMap<&'static str, u64>,
    /// Requests sent since the previous point (throughput over time).
    pub requests: u64,
}

/// Verdict of an invariant.
#[derive(Debug, Serialize)]
pub struct InvariantVerdict {
    /// Stable ID.
    pub id: &'static str,
    /// Its family (`DDI`, `OTAU`, `URL`).
    pub family: &'static str,
    /// The scenario expects it to fire (`expect.violations` lists it).
    pub expected: bool,
    /// What it says.
    pub summary: &'static str,
    /// Where it comes from.
    pub source: &'static str,
    /// Violations found.
    pub violations: u64,
}

/// How long one targeted device took from assignment to success.
#[derive(Debug, Serialize)]
pub struct DeviceConvergence {
    /// Device number in the fleet.
    pub device: u64,
    /// Time from the assignment to the reported success, in ms.
    pub converged_after_ms: u64,
}

/// Per-device convergence of the targeted devices: counts, the slowest ones
/// and the first that never converged. Sorted deterministically.
#[derive(Debug, Default, Serialize)]
pub struct Convergence {
    /// Devices a campaign targeted.
    pub targeted: u64,
    /// Targeted devices that reported success.
    pub converged: u64,
    /// The slowest converged devices, slowest first (ties: lower number first).
    pub slowest: Vec<DeviceConvergence>,
    /// The first targeted devices (by number) that never converged.
    pub not_converged: Vec<u64>,
}

/// Devices listed in [`Convergence::slowest`] and [`Convergence::not_converged`].
pub const SLOWEST_DEVICES: usize = 10;

fn convergence(r: &RunResult) -> Convergence {
    let mut done: Vec<DeviceConvergence> = r
        .convergence
        .iter()
        .filter_map(|(device, t)| {
            t.map(|t| DeviceConvergence {
                device: *device,
                converged_after_ms: t.as_millis(),
            })
        })
        .collect();
    let converged = done.len() as u64;
    done.sort_by(|a, b| {
        b.converged_after_ms
            .cmp(&a.converged_after_ms)
            .then(a.device.cmp(&b.device))
    });
    done.truncate(SLOWEST_DEVICES);
    let mut not_converged: Vec<u64> = r
        .convergence
        .iter()
        .filter(|(_, t)| t.is_none())
        .map(|(d, _)| *d)
        .collect();
    not_converged.sort_unstable();
    not_converged.truncate(SLOWEST_DEVICES);
    Convergence {
        targeted: r.convergence.len() as u64,
        converged,
        slowest: done,
        not_converged,
    }
}

/// Whether the run met its scenario's `expect:` block.
#[derive(Debug, Serialize)]
pub struct Verdict {
    /// True when everything expected held.
    pub passed: bool,
    /// What did not hold, one line each.
    pub problems: Vec<String>,
    /// Fraction of targeted devices that converged in time, if asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub converged_fraction: Option<f64>,
}

/// Wall-clock figures: the only part of the report that differs between
/// identical runs.
#[derive(Debug, Serialize)]
pub struct WallClock {
    /// Wall time of the run in ms.
    pub elapsed_ms: u64,
    /// Engine events per wall second.
    pub events_per_sec: f64,
    /// Simulated requests per wall second.
    pub requests_per_sec: f64,
    /// Threads the virtual engine ran on (`run --threads`).
    pub threads: usize,
}

/// Version of the `report.json` format; bumped on any incompatible change
/// (README, "Report files").
pub const SCHEMA_VERSION: u32 = 1;

/// The whole `report.json`.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Format version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Tool version.
    pub fleetsim: &'static str,
    /// `virtual` (embedded server, virtual time) or `real` (`--target`).
    pub mode: &'static str,
    /// `[i, n]` of a `--shard i/n` run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<[u64; 2]>,
    /// Scenario name.
    pub scenario: String,
    /// Scenario file.
    pub scenario_file: String,
    /// Seed used.
    pub seed: u64,
    /// The scenario as run (after `--seed`, `--devices`, `--duration`), as
    /// YAML, secrets replaced by `<redacted>`: what `fleetsim replay` re-runs.
    pub scenario_yaml: String,
    /// Virtual duration in ms.
    pub duration_ms: u64,
    /// Devices simulated.
    pub devices: u64,
    /// Combined trace digest.
    pub digest: String,
    /// Per device `[number, digest]` (16 hex digits), in device order.
    pub device_digests: Vec<(u64, String)>,
    /// Final devices per phase.
    pub final_phases: BTreeMap<&'static str, u64>,
    /// Counters.
    pub counters: BTreeMap<&'static str, u64>,
    /// Requests by kind.
    pub requests: BTreeMap<&'static str, u64>,
    /// Responses by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Failed requests by cause.
    pub net_errors: BTreeMap<&'static str, u64>,
    /// Virtual-time latency per request kind.
    pub latency_ms: BTreeMap<&'static str, LatencySummary>,
    /// Real-time runs: wall-clock latency per request kind in µs, from the
    /// intended send time (no coordinated omission). Virtual runs have none.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub latency_us: BTreeMap<&'static str, LatencySummary>,
    /// Fleet state over time.
    pub timeline: Vec<TimelinePoint>,
    /// Every invariant and its verdict.
    pub invariants: Vec<InvariantVerdict>,
    /// The first violations in full.
    pub violations: Vec<Violation>,
    /// Per-device convergence of the targeted devices.
    pub convergence: Convergence,
    /// Real-time runs with `--manage`: campaigns created on the server,
    /// failed management operations, and what the server recorded per device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub management: Option<crate::management_log::ManagementLog>,
    /// Fleets with `cpg` devices: each campaign's strategy, completion
    /// curve, re-fires and leaked-URL downloads; the artifact cache's size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<crate::constrained_report::GatewayReport>,
    /// Fleets with edge gateways (`protocol: ditto`): sessions, offline
    /// buffering, twin lag, reconnect sync time, per gateway and overall.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub twin: Option<crate::edge::stats::TwinReport>,
    /// The expectation verdict.
    pub verdict: Verdict,
    /// Wall-clock figures (not deterministic).
    pub wall_clock: WallClock,
}

fn phase_map(counts: &[u64; 7]) -> BTreeMap<&'static str, u64> {
    Phase::ALL
        .iter()
        .map(|p| (p.as_str(), counts[*p as usize]))
        .collect()
}

/// Checks the run against the scenario's `expect:` block.
pub fn verdict(s: &Scenario, r: &RunResult) -> Verdict {
    let mut problems = Vec::new();
    let fired: Vec<InvariantId> = r.oracle.counts().keys().copied().collect();
    match &s.expect.violations {
        ExpectedViolations::None => {
            for id in &fired {
                problems.push(format!(
                    "{id} fired {} times; expected no violations",
                    r.oracle.counts()[id]
                ));
            }
        }
        ExpectedViolations::Ids(ids) => {
            for id in ids {
                if !fired.iter().any(|f| f.as_str() == id) {
                    problems.push(format!("{id} was expected to fire but did not"));
                }
            }
            for id in &fired {
                if !ids.iter().any(|e| e == id.as_str()) {
                    problems.push(format!(
                        "{id} fired {} times but was not expected",
                        r.oracle.counts()[id]
                    ));
                }
            }
        }
    }
    if let Some(m) = &r.management {
        problems.extend(m.errors.iter().map(|e| format!("management: {e}")));
    }
    let bound = s.expect.lost_requests.unwrap_or(DEFAULT_LOST_REQUESTS);
    problems.extend(lost_requests_problem(
        r.stats.failed_not_injected,
        r.stats.requests(),
        r.stats.unanswered,
        bound,
    ));
    let converged_fraction = s.expect.converged.as_ref().map(|c| {
        let within = c.within.0;
        let ok = r
            .convergence
            .iter()
            .filter(|(_, d)| d.is_some_and(|t| t <= within))
            .count();
        let fraction = if r.targeted == 0 {
            1.0
        } else {
            ok as f64 / r.targeted as f64
        };
        if fraction < c.fraction.0 {
            problems.push(format!(
                "{:.2}% of {} targeted devices updated within {}; expected at least {:.2}%",
                fraction * 100.0,
                r.targeted,
                crate::scenario::units::format_duration(within),
                c.fraction.0 * 100.0
            ));
        }
        fraction
    });
    Verdict {
        passed: problems.is_empty(),
        problems,
        converged_fraction,
    }
}

/// What a verdict says when more requests were lost (for reasons the run
/// did not inject) than `bound` allows; the wording is what JUnit and
/// `report merge` look for.
pub fn lost_requests_problem(
    lost: u64,
    sent: u64,
    unanswered: u64,
    bound: Fraction,
) -> Option<String> {
    let fraction = lost as f64 / sent.max(1) as f64;
    if lost == 0 || fraction <= bound.0 {
        return None;
    }
    let unanswered = match unanswered {
        0 => String::new(),
        n => format!(", {n} of them unanswered when the run ended"),
    };
    Some(format!(
        "{LOST_REQUESTS_PROBLEM} {lost} of {sent} requests ({:.2}%) were refused, reset, \
         timed out or malformed without a fault of the scenario's{unanswered}; expected at \
         most {:.2}% (`expect: {{ lost_requests: … }}`): did the server stop answering?",
        fraction * 100.0,
        bound.0 * 100.0
    ))
}

/// How a lost-requests problem starts.
pub const LOST_REQUESTS_PROBLEM: &str = "lost requests:";

/// Builds the report of a finished run.
pub fn build(s: &Scenario, file: &str, r: &RunResult, elapsed: std::time::Duration) -> Report {
    let stats = &r.stats;
    let secs = elapsed.as_secs_f64().max(1e-9);
    let counters = counters_of(r);
    let mut net_errors: BTreeMap<&'static str, u64> =
        stats.errors.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    if stats.unanswered > 0 {
        net_errors.insert("unanswered", stats.unanswered);
    }
    let latency_ms = ReqKind::ALL
        .iter()
        .filter_map(|k| stats.latency.get(k).map(|h| (k.as_str(), summarize(h))))
        .collect();
    let latency_us = ReqKind::ALL
        .iter()
        .filter_map(|k| stats.latency_us.get(k).map(|h| (k.as_str(), summarize(h))))
        .collect();
    Report {
        schema_version: SCHEMA_VERSION,
        fleetsim: concat!("fleetsim ", env!("CARGO_PKG_VERSION")),
        mode: if r.real_time { "real" } else { "virtual" },
        shard: r.shard.map(|(i, n)| [i, n]),
        scenario: s.name.clone(),
        scenario_file: file.to_string(),
        seed: s.seed,
        scenario_yaml: serde_yaml::to_string(&s.redacted()).unwrap_or_default(),
        duration_ms: s.duration.0.as_millis(),
        devices: r.digests.len() as u64,
        digest: r.digest.clone(),
        device_digests: r.digests.iter().map(|(n, h)| (*n, h.to_hex())).collect(),
        final_phases: phase_map(&r.phases),
        counters,
        requests: stats.sent.iter().map(|(k, v)| (k.as_str(), *v)).collect(),
        statuses: stats.statuses.clone(),
        net_errors,
        latency_ms,
        latency_us,
        timeline: stats
            .timeline
            .iter()
            .map(|p| TimelinePoint {
                at_ms: p.at.as_millis(),
                phases: phase_map(&p.phases),
                requests: p.requests,
            })
            .collect(),
        invariants: invariant_verdicts(s, r),
        violations: r.oracle.violations().to_vec(),
        convergence: convergence(r),
        management: r.management.clone(),
        gateway: r.gateway.clone(),
        twin: r.twin.clone(),
        verdict: verdict(s, r),
        wall_clock: WallClock {
            elapsed_ms: elapsed.as_millis() as u64,
            events_per_sec: r.events as f64 / secs,
            requests_per_sec: stats.requests() as f64 / secs,
            threads: r.threads,
        },
    }
}

/// The run's named counters (`report.json` `counters`).
fn counters_of(r: &RunResult) -> BTreeMap<&'static str, u64> {
    let stats = &r.stats;
    let mut counters = BTreeMap::new();
    counters.insert("requests", stats.requests());
    counters.insert("updates_succeeded", stats.updates_succeeded);
    counters.insert("updates_failed", stats.updates_failed);
    counters.insert("updates_canceled", stats.updates_canceled);
    counters.insert("updates_withdrawn", stats.updates_withdrawn);
    if stats.updates_rejected > 0 {
        // Only devices with `feedback.reject` reject; other reports keep their shape.
        counters.insert("updates_rejected", stats.updates_rejected);
    }
    counters.insert("devices_targeted", r.targeted);
    counters.insert("violations", r.oracle.total());
    counters.insert("events", r.events);
    counters.extend(r.extra_counters.iter().map(|(k, v)| (*k, *v)));
    if r.real_time {
        counters.insert("requests_lost_not_injected", stats.failed_not_injected);
        counters.insert("requests_unanswered", stats.unanswered);
    }
    counters
}

/// The verdict on each invariant the fleet's protocols can exercise.
fn invariant_verdicts(s: &Scenario, r: &RunResult) -> Vec<InvariantVerdict> {
    InvariantId::ALL
        .iter()
        .filter(|id| {
            // Only the families the fleet's protocols can exercise; the
            // server's own record only when the run read it back.
            let exercised = s.fleet.iter().any(|g| g.protocol.family() == id.family());
            exercised || (id.family() == "MGMT" && r.management.is_some())
        })
        .map(|id| InvariantVerdict {
            id: id.as_str(),
            family: id.family(),
            expected: matches!(&s.expect.violations,
                ExpectedViolations::Ids(ids) if ids.iter().any(|e| e == id.as_str())),
            summary: id.summary(),
            source: id.source(),
            violations: r.oracle.counts().get(id).copied().unwrap_or(0),
        })
        .collect()
}

pub(crate) fn summarize(h: &hdrhistogram::Histogram<u64>) -> LatencySummary {
    let mut buf = Vec::new();
    use hdrhistogram::serialization::Serializer as _;
    let _ = hdrhistogram::serialization::V2Serializer::new().serialize(h, &mut buf);
    LatencySummary {
        count: h.len(),
        p50: h.value_at_quantile(0.50),
        p90: h.value_at_quantile(0.90),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
        histogram: hex::encode(buf),
    }
}

/// A latency in µs as a person reads it: `850µs`, `1.24ms`, `31.2ms`,
/// `312ms`, `4.20s`.
pub fn format_us(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    match us {
        0..=999 => format!("{us}µs"),
        1_000..=9_999 => format!("{ms:.2}ms"),
        10_000..=99_999 => format!("{ms:.1}ms"),
        100_000..=999_999 => format!("{}ms", ms.round() as u64),
        _ => format!("{:.2}s", ms / 1000.0),
    }
}

/// The files [`write()`] puts in a report directory.
pub const REPORT_FILES: &[&str] = &["report.json", "junit.xml", "index.html"];

/// Writes the report files ([`REPORT_FILES`]) into `dir` (created if
/// needed); returns the path of `report.json`.
pub fn write(report: &Report, dir: &Path) -> Result<PathBuf, ReportError> {
    let fail = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(fail(dir))?;
    let path = dir.join("report.json");
    let json = serde_json::to_vec_pretty(report).unwrap_or_default();
    std::fs::write(&path, json).map_err(fail(&path))?;
    let junit_path = dir.join("junit.xml");
    let xml = junit::render(report, dir).map_err(|e| std::io::Error::other(e.to_string()));
    xml.and_then(|xml| std::fs::write(&junit_path, xml))
        .map_err(fail(&junit_path))?;
    let html_path = dir.join("index.html");
    std::fs::write(&html_path, html::render(report)).map_err(fail(&html_path))?;
    Ok(path)
}

pub use junit::replay_command;
