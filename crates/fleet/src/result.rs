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
    /// Of `events`, those every part of a split run processes alike
    /// (samples, campaign steps): counted once when parts merge.
    pub shared_events: u64,
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
    /// Threads of a virtual run: the parts it was split into.
    pub threads: usize,
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
            shared_events: 0,
            extra_counters,
            management: None,
            gateway: None,
            twin: None,
            shard: None,
            real_time: false,
            threads: 1,
        }
    }
}

impl RunResult {
    /// The result of a run split into parts — `whole` and `rest`, disjoint
    /// sets of devices, each run over the whole scenario (`--threads`) — as one run over all
    /// of them gives it: per-device results in device order, counts added,
    /// histograms and timelines merged, the first violations kept. Per-run
    /// figures that do not add up (`gateway`, `twin`) come from no split
    /// run: [`crate::engine::parallel::split_refusal`] refuses those fleets.
    pub fn merge(mut whole: RunResult, rest: Vec<RunResult>) -> RunResult {
        let rest_len = rest.len();
        for part in rest {
            whole.stats.absorb(part.stats);
            whole.oracle.absorb(part.oracle);
            whole.digests.extend(part.digests);
            for (a, b) in whole.phases.iter_mut().zip(part.phases) {
                *a += b;
            }
            whole.targeted += part.targeted;
            whole.convergence.extend(part.convergence);
            whole.trace.extend(part.trace);
            whole.events += part.events - part.shared_events;
            for (k, v) in part.extra_counters {
                *whole.extra_counters.entry(k).or_insert(0) += v;
            }
        }
        whole.threads = 1 + rest_len;
        whole.digests.sort_by_key(|(n, _)| *n);
        whole.convergence.sort_by_key(|(n, _)| *n);
        whole.digest = combine(whole.digests.iter().map(|(n, h)| (*n, h)));
        whole
    }
}
