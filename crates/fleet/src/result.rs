//! What a run produced, whichever driver ran it (the virtual engine or the
//! real-time driver), and how it is assembled from the ledger and the devices.

use std::collections::BTreeMap;

use crate::constrained_report::GatewayReport;
use crate::device::{Device, Ledger};
use crate::digest::{combine, TraceHash};
use crate::management_log::ManagementLog;
use crate::stats::Stats;
use fleetsim_core::oracle::Oracle;
use fleetsim_core::time::Span;

/// Results of a run, for the report.
pub struct RunResult {
    /// Counters, histograms, timeline.
    pub stats: Stats,
    /// The oracle, with its verdicts.
    pub oracle: Oracle,
    /// Per-device `(number, digest)` in device order.
    pub digests: Vec<(u64, TraceHash)>,
    /// Combined digest.
    pub digest: String,
    /// Final phase counts.
    pub phases: [u64; 7],
    /// Devices targeted by a campaign.
    pub targeted: u64,
    /// Per targeted device, in device order: its number and the time from
    /// assignment to success, if it succeeded.
    pub convergence: Vec<(u64, Option<Span>)>,
    /// The recorded device's readable trace.
    pub trace: Vec<String>,
    /// Events processed (virtual) or requests completed (real time).
    pub events: u64,
    /// Driver-specific counters (real time: late sends, injected drops).
    pub extra_counters: BTreeMap<&'static str, u64>,
    /// Real-time runs against a managed server: what the management side did.
    pub management: Option<ManagementLog>,
    /// Fleets with `cpg` devices: the strategies' results (virtual runs).
    pub gateway: Option<GatewayReport>,
    /// Fleets with edge gateways: the twin figures.
    pub twin: Option<crate::edge::stats::TwinReport>,
    /// `--shard i/n` of a virtual run.
    pub shard: Option<(u64, u64)>,
    /// True for real-time runs (`--target`).
    pub real_time: bool,
}

impl RunResult {
    /// The result of a run whose `ledger` recorded `devices` (in
    /// device-number order); the driver fills in its own sections after.
    pub fn assemble<'a>(
        ledger: Ledger,
        devices: impl Iterator<Item = &'a Device>,
        events: u64,
        trace: Vec<String>,
        extra_counters: BTreeMap<&'static str, u64>,
    ) -> RunResult {
        let mut digests = Vec::new();
        let mut convergence = Vec::new();
        for d in devices {
            digests.push((d.number, d.trace));
            if let Some(a) = d.assigned_at {
                convergence.push((d.number, d.converged_at.map(|c| c.since(a))));
            }
        }
        let digest = combine(digests.iter().map(|(n, h)| (*n, h)));
        RunResult {
            targeted: convergence.len() as u64,
            convergence,
            stats: ledger.stats,
            oracle: ledger.oracle,
            digests,
            digest,
            phases: ledger.phases,
            trace,
            events,
            extra_counters,
            management: None,
            gateway: None,
            twin: None,
            shard: None,
            real_time: false,
        }
    }
}
