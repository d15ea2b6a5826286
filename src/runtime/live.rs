//! Snapshots of a real-time run for `fleetsim tui --target`: every
//! [`EVERY`] the driver hands the UI thread a [`Snapshot`] of its books, and
//! the focused device's recorded exchanges; the UI's stop request ends the
//! run early.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::recorder::Recorder;
use crate::device::{Books, Device};
use crate::sim::Setup;
use crate::time::Time;
use crate::tui::snapshot::{campaign_members, Parts, Snapshot};
use crate::tui::source::Live;

/// How often the UI gets a snapshot.
pub const EVERY: Duration = Duration::from_millis(200);

/// The driver's side of the exchange.
pub struct LiveFeed {
    live: Arc<Live>,
    members: Vec<Vec<u32>>,
    last: Option<Instant>,
}

/// What a snapshot is taken from.
pub struct Run<'a> {
    pub now: Time,
    pub end: Time,
    pub events: u64,
    pub books: &'a Books,
    pub devices: &'a [Device],
    pub setup: &'a Setup,
    pub recorder: &'a Recorder,
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

    /// Publishes a snapshot when one is due (always when `last`); returns
    /// true when the UI asked the run to stop.
    pub fn publish(&mut self, run: Run<'_>, last: bool) -> bool {
        let due = self.last.is_none_or(|t| t.elapsed() >= EVERY);
        if due || last {
            let focus = self.live.focused().and_then(|n| {
                let slot = run.devices.binary_search_by_key(&n, |d| d.number).ok()?;
                Some((slot, run.recorder.lines(slot)))
            });
            self.live.publish(Snapshot::capture(Parts {
                now: run.now,
                end: run.end,
                events: run.events,
                books: run.books,
                devices: run.devices,
                setup: run.setup,
                members: &self.members,
                focus,
                finished: last,
            }));
            self.last = Some(Instant::now());
        }
        self.live.stopping()
    }
}
