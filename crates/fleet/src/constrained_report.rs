//! What a run of constrained (`cpg`) devices shows about the seed-000
//! strategies: per campaign its strategy, how many devices finished and
//! when (the completion curve), how often the install command was re-fired,
//! what leaked URLs could still fetch; and the artifact cache's size over
//! time. Filled by the virtual engine and the real-time driver, written to
//! `report.json` as `gateway` and printed side by side in the summary.

use serde::Serialize;

use fleetsim_core::protocol::ddi::Phase;
use fleetsim_core::server::constrained::GatewayCounters;
use fleetsim_core::time::{Span, Time};

/// Downloads by someone who is not a device, with a leaked URL.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct LeakCounts {
    /// Attempts (a refused expired URL followed by a tampered one counts twice).
    pub attempts: u64,
    /// Served with the URL as leaked.
    pub served: u64,
    /// Refused as expired (410).
    pub refused_expired: u64,
    /// Tampered URLs (`expires` pushed forward) that were refused (403).
    pub tampered_refused: u64,
    /// Tampered URLs that were served (a URL-REFUSE violation).
    pub tampered_served: u64,
}

impl LeakCounts {
    /// Counts one answer: `status` to a leaked URL (`tampered`: with its
    /// `expires` pushed forward).
    pub fn count(&mut self, tampered: bool, status: u16) {
        let served = (200..300).contains(&status);
        self.attempts += 1;
        match (tampered, served) {
            (false, true) => self.served += 1,
            (false, false) => self.refused_expired += u64::from(status == 410),
            (true, true) => self.tampered_served += 1,
            (true, false) => self.tampered_refused += 1,
        }
    }
}

/// One campaign's result for its `cpg` devices.
#[derive(Clone, Debug, Serialize)]
pub struct StrategyResult {
    /// Campaign name.
    pub campaign: String,
    /// Its strategy.
    pub strategy: &'static str,
    /// URL validity, seconds.
    pub url_validity_s: u64,
    /// `cpg` devices it targeted.
    pub targeted: u64,
    /// Devices that reported success.
    pub updated: u64,
    /// Devices that reported failure.
    pub failed: u64,
    /// Devices still without a result at the end.
    pub unfinished: u64,
    /// Install commands re-fired by online events.
    pub refired: u64,
    /// `[at_ms, fraction of targeted devices updated]`, one point per day.
    pub completion: Vec<(u64, f64)>,
    /// Leaked-URL downloads.
    pub leaks: LeakCounts,
}

/// The gateway section of a run's result.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GatewayReport {
    /// Per campaign that targets `cpg` devices.
    pub strategies: Vec<StrategyResult>,
    /// `[at_ms, bytes]` of the artifact cache at each sample.
    pub cache_bytes: Vec<(u64, u64)>,
    /// Most bytes the cache held.
    pub cache_peak_bytes: u64,
    /// Artifacts fetched into the cache, and evicted.
    pub cache_fetches: u64,
    /// Evictions.
    pub cache_evictions: u64,
    /// The sidekick's counters.
    pub counters: GatewayCounters,
}

/// Campaign `plan`'s result over the `cpg` devices it targeted (`slots`
/// into `devices`): who updated (and when), failed or did not finish by `end`.
/// The virtual engine and the real-time driver (from serve's events) share it.
pub fn strategy_result(
    plan: &crate::setup::CampaignPlan,
    slots: &[u32],
    devices: &[crate::device::Device],
    (refired, leaks): (u64, LeakCounts),
    end: Time,
) -> StrategyResult {
    let mut done: Vec<Time> = Vec::new();
    let (mut failed, mut unfinished) = (0, 0);
    for &slot in slots {
        let d = &devices[slot as usize];
        match (d.phase, d.converged_at) {
            (Phase::Updated, Some(t)) => done.push(t),
            (Phase::Failed, _) => failed += 1,
            _ => unfinished += 1,
        }
    }
    done.sort_unstable();
    let targeted = slots.len() as u64;
    StrategyResult {
        campaign: plan.name.clone(),
        strategy: plan.strategy.as_str(),
        url_validity_s: plan.url_validity.as_millis() / 1000,
        targeted,
        updated: done.len() as u64,
        failed,
        unfinished,
        refired,
        completion: completion_curve(&done, targeted, plan.at, end),
        leaks,
    }
}

/// A completion curve: for each day from `start` to `end`, the fraction of
/// `targeted` devices whose success time (`done`, sorted) is at or before it.
pub fn completion_curve(done: &[Time], targeted: u64, start: Time, end: Time) -> Vec<(u64, f64)> {
    let mut out = Vec::new();
    let mut t = start;
    loop {
        let n = done.partition_point(|d| *d <= t);
        out.push((t.as_millis(), n as f64 / targeted.max(1) as f64));
        if t >= end {
            break;
        }
        t = (t + Span::days(1)).min(end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_counts_devices_done_by_each_day() {
        let day = |d: u64| Time(Span::days(d).as_millis());
        let done = [day(1), day(1), day(3)];
        let c = completion_curve(&done, 4, day(0), day(3) + Span::hours(12));
        let fractions: Vec<f64> = c.iter().map(|p| p.1).collect();
        assert_eq!(fractions, vec![0.0, 0.5, 0.5, 0.75, 0.75]);
        assert_eq!(
            c.last().map(|p| p.0),
            Some(day(3).as_millis() + Span::hours(12).as_millis())
        );
    }
}
