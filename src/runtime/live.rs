//! Snapshots of a real-time run for `fleetsim tui --target`: every
//! [`EVERY`] the driver hands the UI thread a [`Snapshot`] of its books, and
//! the focused device's recorded exchanges; the UI's stop request ends the
//! run early.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::recorder::Recorder;
use crate::device::Device;
use crate::sim::Setup;
use crate::tui::snapshot::{campaign_members, FocusedTrace, Parts, Snapshot};
use crate::tui::source::Live;

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
    /// the run); the campaign members and the focused device's recorded
    /// lines are filled in here. Returns true when the UI asked the run to stop.
    pub fn publish(&mut self, run: Parts<'_>, recorder: &Recorder) -> bool {
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
