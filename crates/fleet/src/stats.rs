//! Run statistics: request counters, latency histograms per request kind,
//! status and error counts, action outcomes and the sampled fleet timeline.
//! All maps are `BTreeMap`s so every output is in a fixed order.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use fleetsim_core::message::NetError;
use fleetsim_core::protocol::ddi::{Outcome, ReqKind};
use fleetsim_core::time::{Span, Time};

/// One sample of the fleet's phase counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// When.
    pub at: Time,
    /// Devices per phase, in [`fleetsim_core::protocol::ddi::Phase::ALL`] order.
    pub phases: [u64; 7],
    /// Requests sent since the previous sample.
    pub requests: u64,
}

/// Counters and histograms of a run.
pub struct Stats {
    /// Requests sent, by kind.
    pub sent: BTreeMap<ReqKind, u64>,
    /// Responses by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Failed requests by error.
    pub errors: BTreeMap<NetError, u64>,
    /// Latency (ms) per request kind, complete answers only.
    pub latency: BTreeMap<ReqKind, Histogram<u64>>,
    /// Latency (µs) per request kind, complete answers only: real-time runs,
    /// which measure wall-clock durations finer than a millisecond.
    pub latency_us: BTreeMap<ReqKind, Histogram<u64>>,
    /// Actions that ended in success.
    pub updates_succeeded: u64,
    /// Actions that ended in failure.
    pub updates_failed: u64,
    /// Actions canceled.
    pub updates_canceled: u64,
    /// Actions withdrawn by the server before completion.
    pub updates_withdrawn: u64,
    /// Actions the device refused with `rejected`.
    pub updates_rejected: u64,
    /// Fleet timeline.
    pub timeline: Vec<Sample>,
    /// Failed requests whose failure the run did not inject: connection
    /// refused, reset, timed out or malformed for no fault of the scenario's,
    /// or still unanswered when the run ended. Real-time runs only: the
    /// virtual engine models every failure, so it stays 0 there.
    pub failed_not_injected: u64,
    /// Requests still without an answer past their own deadline (request
    /// timeout, long-poll hold, injected delay) when the run ended (real
    /// time; also counted in `failed_not_injected` unless injected).
    pub unanswered: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

impl Stats {
    /// Empty statistics.
    pub fn new() -> Stats {
        Stats {
            sent: BTreeMap::new(),
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
            latency: BTreeMap::new(),
            latency_us: BTreeMap::new(),
            updates_succeeded: 0,
            updates_failed: 0,
            updates_canceled: 0,
            updates_withdrawn: 0,
            updates_rejected: 0,
            timeline: Vec::new(),
            failed_not_injected: 0,
            unanswered: 0,
        }
    }

    /// Total requests sent.
    pub fn requests(&self) -> u64 {
        self.sent.values().sum()
    }

    /// A request of `kind` was sent.
    pub fn sent(&mut self, kind: ReqKind) {
        *self.sent.entry(kind).or_insert(0) += 1;
    }

    /// A request got a complete answer after `latency`.
    pub fn answered(&mut self, kind: ReqKind, status: u16, latency: Span) {
        *self.statuses.entry(status).or_insert(0) += 1;
        let h = self.latency.entry(kind).or_insert_with(|| {
            // 1 ms .. 1 day at 3 significant digits; new() with these bounds cannot fail.
            Histogram::new_with_bounds(1, 86_400_000, 3)
                .unwrap_or_else(|_| Histogram::new(3).expect("3 sigfig is valid"))
        });
        h.saturating_record(latency.as_millis().max(1));
    }

    /// A request got a complete answer after the wall-clock `elapsed` (real
    /// time): counted as [`Stats::answered`] does, in whole ms, and kept in
    /// µs too.
    pub fn answered_real(&mut self, kind: ReqKind, status: u16, elapsed: std::time::Duration) {
        self.answered(kind, status, Span(elapsed.as_millis() as u64));
        let h = self.latency_us.entry(kind).or_insert_with(|| {
            // 1 µs .. 1 day at 3 significant digits; new() with these bounds cannot fail.
            Histogram::new_with_bounds(1, 86_400_000_000, 3)
                .unwrap_or_else(|_| Histogram::new(3).expect("3 sigfig is valid"))
        });
        h.saturating_record((elapsed.as_micros() as u64).max(1));
    }

    /// A request failed.
    pub fn failed(&mut self, _kind: ReqKind, error: NetError) {
        *self.errors.entry(error).or_insert(0) += 1;
    }

    /// An action ended.
    pub fn ended(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Success => self.updates_succeeded += 1,
            Outcome::Failure(_) => self.updates_failed += 1,
            Outcome::Canceled => self.updates_canceled += 1,
            Outcome::Withdrawn => self.updates_withdrawn += 1,
            Outcome::Rejected => self.updates_rejected += 1,
        }
    }

    /// Records the phase counts at `at`.
    pub fn sample(&mut self, at: Time, phases: &[u64; 7]) {
        if self.timeline.last().is_some_and(|s| s.at == at) {
            self.timeline.pop();
        }
        let before: u64 = self.timeline.iter().map(|s| s.requests).sum();
        self.timeline.push(Sample {
            at,
            phases: *phases,
            requests: self.requests() - before,
        });
    }

    /// Adds `other`, the statistics of another part of the same fleet over
    /// the same virtual time (a run on several threads): counts add,
    /// histograms merge exactly, and the timelines, sampled at the same
    /// times, add sample by sample.
    pub fn absorb(&mut self, other: Stats) {
        add_counts(&mut self.sent, other.sent);
        add_counts(&mut self.statuses, other.statuses);
        add_counts(&mut self.errors, other.errors);
        for (latency, theirs) in [
            (&mut self.latency, other.latency),
            (&mut self.latency_us, other.latency_us),
        ] {
            for (kind, h) in theirs {
                match latency.get_mut(&kind) {
                    // Same bounds on both sides, so `add` cannot fail.
                    Some(mine) => mine.add(&h).unwrap_or_default(),
                    None => drop(latency.insert(kind, h)),
                }
            }
        }
        self.updates_succeeded += other.updates_succeeded;
        self.updates_failed += other.updates_failed;
        self.updates_canceled += other.updates_canceled;
        self.updates_withdrawn += other.updates_withdrawn;
        self.updates_rejected += other.updates_rejected;
        self.failed_not_injected += other.failed_not_injected;
        self.unanswered += other.unanswered;
        debug_assert_eq!(self.timeline.len(), other.timeline.len());
        for (mine, theirs) in self.timeline.iter_mut().zip(other.timeline) {
            debug_assert_eq!(mine.at, theirs.at);
            for (a, b) in mine.phases.iter_mut().zip(theirs.phases) {
                *a += b;
            }
            mine.requests += theirs.requests;
        }
    }
}

fn add_counts<K: Ord>(mine: &mut BTreeMap<K, u64>, theirs: BTreeMap<K, u64>) {
    for (k, n) in theirs {
        *mine.entry(k).or_insert(0) += n;
    }
}
