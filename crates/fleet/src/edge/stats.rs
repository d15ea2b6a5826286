//! The figures of a run's edge gateways: per gateway its sessions, what it
//! buffered and dropped, its twin lag and how long a reconnect took to sync;
//! fleet-wide histograms of both times. Fed with each gateway's
//! [`EdgeEvent`]s by the ledger, the same way in both drivers, and written
//! to `report.json` as `twin`.
//!
//! - **Twin lag**: from the moment a gateway's state first differs from
//!   what the twin has acknowledged (a change sent or buffered while the
//!   gateway was in sync) to the next [`EdgeEvent::TwinSynced`].
//! - **Reconnect sync time**: from a session coming up
//!   ([`EdgeEvent::SessionUp`]) to the next `TwinSynced`.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use fleetsim_core::protocol::edge::EdgeEvent;
use fleetsim_core::time::Time;

/// One gateway's figures.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct GatewayFigures {
    /// Device number.
    pub device: u64,
    /// Sessions that became ready.
    pub sessions: u64,
    /// Session drops.
    pub drops: u64,
    /// Changes pushed to the offline buffer.
    pub buffered: u64,
    /// Changes dropped at the buffer's bound.
    pub dropped: u64,
    /// Connects that sent a catch-up diff because the buffer had overflowed.
    pub resyncs: u64,
    /// Command frames sent (resends included).
    pub sent: u64,
    /// Of them resent (timeout or drop).
    pub resent: u64,
    /// Commands the twin refused (4xx).
    pub refused: u64,
    /// `$set.configuration` messages applied.
    pub messages: u64,
    /// Messages delivered again and answered from memory.
    pub duplicates: u64,
    /// Longest twin lag, ms.
    pub max_lag_ms: u64,
    /// Longest reconnect sync time, ms.
    pub max_reconnect_sync_ms: u64,
    /// Whether the gateway was in sync with its twin at the end.
    pub synced_at_end: bool,
}

/// Per-gateway tracking: the figures plus the open intervals.
#[derive(Clone, Debug, Default)]
struct Track {
    figures: GatewayFigures,
    /// Out of sync since (twin lag running).
    behind_since: Option<Time>,
    /// Session up since, not yet synced.
    up_since: Option<Time>,
}

/// The run's edge-gateway figures.
#[derive(Clone, Debug)]
pub struct TwinStats {
    gateways: BTreeMap<u64, Track>,
    /// Gateways that told `TwinSynced` since [`TwinStats::take_synced`].
    synced: Vec<u64>,
    lag: Histogram<u64>,
    reconnect_sync: Histogram<u64>,
}

impl Default for TwinStats {
    fn default() -> TwinStats {
        let histogram = || {
            Histogram::new_with_bounds(1, 30 * 86_400_000, 3)
                .unwrap_or_else(|_| Histogram::new(3).expect("3 sigfig is valid"))
        };
        TwinStats {
            gateways: BTreeMap::new(),
            synced: Vec::new(),
            lag: histogram(),
            reconnect_sync: histogram(),
        }
    }
}

impl TwinStats {
    /// True when no gateway reported anything.
    pub fn is_empty(&self) -> bool {
        self.gateways.is_empty()
    }

    /// Books what gateway `device` observed at `now`.
    pub fn observe(&mut self, device: u64, now: Time, ev: &EdgeEvent) {
        let t = self.gateways.entry(device).or_default();
        t.figures.device = device;
        let f = &mut t.figures;
        match ev {
            EdgeEvent::SessionUp => t.up_since = Some(now),
            EdgeEvent::SessionReady { resync, .. } => {
                f.sessions += 1;
                f.resyncs += u64::from(*resync);
            }
            EdgeEvent::SessionDown { .. } => {
                f.drops += 1;
                f.synced_at_end = false;
                t.up_since = None;
            }
            EdgeEvent::CommandSent { resend, .. } => {
                f.sent += 1;
                f.resent += u64::from(*resend);
                t.behind_since.get_or_insert(now);
                f.synced_at_end = false;
            }
            EdgeEvent::Buffered { count, dropped } => {
                f.buffered += *count as u64;
                f.dropped += dropped;
                t.behind_since.get_or_insert(now);
                f.synced_at_end = false;
            }
            EdgeEvent::CommandRefused { .. } => f.refused += 1,
            EdgeEvent::MessageApplied { .. } => f.messages += 1,
            EdgeEvent::MessageDuplicate { .. } => f.duplicates += 1,
            EdgeEvent::TwinSynced { .. } => {
                f.synced_at_end = true;
                self.synced.push(device);
                if let Some(since) = t.behind_since.take() {
                    let ms = now.since(since).as_millis();
                    f.max_lag_ms = f.max_lag_ms.max(ms);
                    let _ = self.lag.record(ms.max(1));
                }
                if let Some(since) = t.up_since.take() {
                    let ms = now.since(since).as_millis();
                    f.max_reconnect_sync_ms = f.max_reconnect_sync_ms.max(ms);
                    let _ = self.reconnect_sync.record(ms.max(1));
                }
            }
            _ => {}
        }
    }

    /// The gateways that told `TwinSynced` since the last call, in order:
    /// the driver checks their twins (TWIN-CONVERGE) now.
    pub fn take_synced(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.synced)
    }

    /// The report section (`None` when the run had no gateways).
    pub fn report(&self) -> Option<TwinReport> {
        if self.gateways.is_empty() {
            return None;
        }
        let figures: Vec<GatewayFigures> =
            self.gateways.values().map(|t| t.figures.clone()).collect();
        let sum = |f: fn(&GatewayFigures) -> u64| figures.iter().map(f).sum::<u64>();
        let quantiles = |h: &Histogram<u64>| Quantiles {
            count: h.len(),
            p50_ms: h.value_at_quantile(0.5),
            p99_ms: h.value_at_quantile(0.99),
            max_ms: h.max(),
        };
        Some(TwinReport {
            gateways: figures.len() as u64,
            synced_at_end: figures.iter().filter(|f| f.synced_at_end).count() as u64,
            sessions: sum(|f| f.sessions),
            buffered: sum(|f| f.buffered),
            dropped: sum(|f| f.dropped),
            resyncs: sum(|f| f.resyncs),
            sent: sum(|f| f.sent),
            resent: sum(|f| f.resent),
            messages: sum(|f| f.messages),
            lag: quantiles(&self.lag),
            reconnect_sync: quantiles(&self.reconnect_sync),
            per_gateway: figures,
            backend: BackendCounts::default(),
        })
    }
}

/// p50/p99/max of a time, ms.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Quantiles {
    /// Samples.
    pub count: u64,
    /// Median, ms.
    pub p50_ms: u64,
    /// 99th percentile, ms.
    pub p99_ms: u64,
    /// Largest, ms.
    pub max_ms: u64,
}

/// What the backend did through the twin service, and what came of it.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct BackendCounts {
    /// `$set.configuration` commands posted.
    pub commands: u64,
    /// Of them answered by the gateway (2xx).
    pub answered: u64,
    /// Of them sent fire-and-forget (`timeout=0`, 202: the gateway was
    /// offline; the twin delivers it when the gateway is back).
    pub accepted: u64,
    /// Of them answered 408 (no reply within the message's timeout).
    pub timed_out: u64,
    /// Of them answered otherwise.
    pub failed: u64,
    /// Property writes straight to the twin.
    pub twin_writes: u64,
}

/// The `twin` section of `report.json`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TwinReport {
    /// Gateways.
    pub gateways: u64,
    /// Gateways in sync with their twin at the end.
    pub synced_at_end: u64,
    /// Sessions that became ready.
    pub sessions: u64,
    /// Changes buffered while disconnected.
    pub buffered: u64,
    /// Buffered changes dropped at the bound (each gateway's next connect
    /// then sends a catch-up diff: `resyncs`).
    pub dropped: u64,
    /// Catch-up diffs after an overflow.
    pub resyncs: u64,
    /// Command frames sent.
    pub sent: u64,
    /// Of them resent.
    pub resent: u64,
    /// `$set.configuration` messages applied on gateways.
    pub messages: u64,
    /// Twin lag (see the module doc).
    pub lag: Quantiles,
    /// Reconnect sync time (see the module doc).
    pub reconnect_sync: Quantiles,
    /// The backend's commands and writes.
    pub backend: BackendCounts,
    /// Per gateway, in device order.
    pub per_gateway: Vec<GatewayFigures>,
}
