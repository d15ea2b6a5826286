//! The recent exchanges of every device of a real-time run, kept so that a
//! violation's report entry shows what the device and the server said before
//! it (`fleetsim replay` prints them for real-time reports: a real server's
//! answers cannot be re-run).
//!
//! Each device keeps its last [`KEPT_LINES`] trace lines in a ring: bounded
//! memory whatever the run's length.

use std::collections::VecDeque;

use fleetsim_core::message::Request;
use fleetsim_core::oracle::Violation;
use fleetsim_core::protocol::ddi::Delivery;
use fleetsim_core::time::Time;

/// Trace lines kept per device.
pub const KEPT_LINES: usize = 48;

/// Per device, the last trace lines.
pub struct Recorder {
    rings: Vec<VecDeque<String>>,
    /// Scratch buffer handed to the device calls.
    pub scratch: Vec<String>,
}

impl Recorder {
    /// A recorder for `devices` slots.
    pub fn new(devices: usize) -> Recorder {
        Recorder {
            rings: (0..devices).map(|_| VecDeque::new()).collect(),
            scratch: Vec::new(),
        }
    }

    fn push(&mut self, slot: usize, line: String) {
        let Some(ring) = self.rings.get_mut(slot) else {
            return;
        };
        if ring.len() == KEPT_LINES {
            ring.pop_front();
        }
        ring.push_back(line);
    }

    /// Moves the scratch lines (device events) to `slot`'s ring.
    pub fn take_scratch(&mut self, slot: usize) {
        let lines = std::mem::take(&mut self.scratch);
        for line in lines {
            self.push(slot, line);
        }
    }

    /// `slot` sent `req` at `now`.
    pub fn request(&mut self, slot: usize, now: Time, req: &Request) {
        self.push(slot, format!("{now:>14}  → {} {}", req.method, req.url));
    }

    /// What came back to `slot` at `now`.
    pub fn answer(&mut self, slot: usize, now: Time, delivery: &Delivery) {
        let line = match delivery {
            Delivery::Complete(r) => format!("{now:>14}  ← {} ({} bytes)", r.status, r.body.len()),
            Delivery::Broken(e, _) => format!("{now:>14}  ✗ {e}"),
        };
        self.push(slot, line);
    }

    /// The lines kept for `slot`, oldest first.
    pub fn lines(&self, slot: usize) -> Vec<String> {
        self.rings
            .get(slot)
            .map_or_else(Vec::new, |r| r.iter().cloned().collect())
    }

    /// Gives the violations in `new` (recorded since the last device call)
    /// that are about device `number` its recorded lines as their excerpt.
    pub fn capture(&self, slot: usize, number: u64, new: &mut [Violation]) {
        let Some(ring) = self.rings.get(slot) else {
            return;
        };
        for v in new
            .iter_mut()
            .filter(|v| v.device == number && v.excerpt.is_empty())
        {
            v.excerpt = ring.iter().cloned().collect();
        }
    }
}
