//! The stream a real-time run publishes: every [`EVERY`] the driver hands
//! its readers a [`Snapshot`] of its ledger (with the focused device's
//! recorded exchanges, if a reader focuses one) through [`Live`]. The TUI
//! and the command line's progress line both read it; nothing here knows
//! either. A reader's stop request ends the run early.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::recorder::Recorder;
use fleetsim_fleet::device::Device;
use fleetsim_fleet::setup::Setup;
use fleetsim_fleet::snapshot::{campaign_members, FocusedTrace, Parts, Snapshot};

/// How often the UI gets a snapshot.
pub const EVERY: Duration = Duration::from_millis(200);

/// The driver's side of the exchange.
pub struct LiveFeed {
    live: Arc<Live>,
    members: Vec<Vec<u32>>,
    last: Option<Instant>,
}

impl LiveFeed {
    /// A feed into `live` for this fleet.
    pub fn new(live: Arc<Live>, setup: &Setup, devices: &[Device]) -> LiveFeed {
        LiveFeed {
            live,
            members: campaign_members(setup, devices),
            last: None,
        }
    }

    /// Publishes a snapshot of `run` when one is due (always at the end of
    /// the run); the campaign members, the focused device's recorded lines
    /// and what only the real-time run knows (`real`) are filled in here.
    /// Returns true when the UI asked the run to stop.
    pub fn publish(&mut self, run: Parts<'_>, recorder: &Recorder, real: RealView) -> bool {
        let due = self.last.is_none_or(|t| t.elapsed() >= EVERY);
        if due || run.finished {
            let focus = self.live.focused().and_then(|n| {
                let slot = run.devices.binary_search_by_key(&n, |d| d.number).ok()?;
                let lines = recorder.lines(slot);
                Some(FocusedTrace {
                    slot,
                    total: lines.len() as u64,
                    lines,
                })
            });
            let mut snapshot = Snapshot::capture(Parts {
                members: &self.members,
                focus,
                ..run
            });
            snapshot.injected = real.injected;
            snapshot.server_events = real.server_events;
            // `serve` signs URLs in Unix seconds.
            snapshot.url_clock_s = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            self.live.publish(snapshot);
            self.last = Some(Instant::now());
        }
        self.live.stopping()
    }
}

/// What only a real-time run knows, for its snapshots.
#[derive(Clone, Debug, Default)]
pub struct RealView {
    /// Faults injected so far, by name; only those that happened.
    pub injected: Vec<(String, u64)>,
    /// Server-side events applied to the oracle (`--server-events`).
    pub server_events: Option<u64>,
}

/// What a real-time run shares with the UI thread.
#[derive(Debug)]
pub struct Live {
    /// The latest snapshot the run published.
    pub snapshot: Mutex<Option<Snapshot>>,
    /// The device the UI looks at (`u64::MAX`: none).
    pub focus: AtomicU64,
    /// Set by the UI to end the run early.
    pub stop: AtomicBool,
}

impl Default for Live {
    /// No device focused (a derived default would focus device 0).
    fn default() -> Live {
        Live::new()
    }
}

impl Live {
    /// A fresh exchange with no focused device.
    pub fn new() -> Live {
        Live {
            snapshot: Mutex::new(None),
            focus: AtomicU64::new(u64::MAX),
            stop: AtomicBool::new(false),
        }
    }

    /// The focused device, if any.
    pub fn focused(&self) -> Option<u64> {
        Some(self.focus.load(Ordering::Relaxed)).filter(|n| *n != u64::MAX)
    }

    /// Publishes a snapshot.
    pub fn publish(&self, snapshot: Snapshot) {
        if let Ok(mut slot) = self.snapshot.lock() {
            *slot = Some(snapshot);
        }
    }

    /// True once the UI asked the run to stop.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}
