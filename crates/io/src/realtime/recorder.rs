//! The recent exchanges of every device of a real-time run, kept so that a
//! violation's report entry shows what the device and the server said before
//! it (`fleetsim replay` prints them for real-time reports: a real server's
//! answers cannot be re-run).
//!
//! Each device keeps its last [`KEPT_LINES`] trace lines in a ring: bounded
//! memory whatever the run's length.

use std::collections::VecDeque;
use std::fmt;

use fleetsim_core::message::{Method, NetError, Request};
use fleetsim_core::oracle::Violation;
use fleetsim_core::protocol::ddi::Delivery;
use fleetsim_core::time::Time;
use fleetsim_fleet::device::Kept;

/// Trace lines kept per device.
pub const KEPT_LINES: usize = 48;

/// One kept line, told (formatted) only when an excerpt or `lines` asks:
/// most are dropped from the ring untold.
enum Line {
    /// The device sent a request.
    Sent {
        at: Time,
        method: Method,
        url: Box<str>,
    },
    /// An answer came back.
    Answer { at: Time, status: u16, bytes: u64 },
    /// No (complete) answer came back.
    Broken { at: Time, error: NetError },
    /// The device observed something.
    Observed(Kept),
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Line::Sent { at, method, url } => write!(f, "{at:>14}  → {method} {url}"),
            Line::Answer { at, status, bytes } => write!(f, "{at:>14}  ← {status} ({bytes} bytes)"),
            Line::Broken { at, error } => write!(f, "{at:>14}  ✗ {error}"),
            Line::Observed(kept) => kept.fmt(f),
        }
    }
}

/// Per device, the last trace lines.
pub struct Recorder {
    rings: Vec<VecDeque<Line>>,
    /// Scratch buffer handed to the device calls.
    pub scratch: Vec<Kept>,
}

impl Recorder {
    /// A recorder for `devices` slots.
    pub fn new(devices: usize) -> Recorder {
        Recorder {
            rings: (0..devices).map(|_| VecDeque::new()).collect(),
            scratch: Vec::new(),
        }
    }

    fn push(&mut self, slot: usize, line: Line) {
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
        let mut lines = std::mem::take(&mut self.scratch);
        for kept in lines.drain(..) {
            self.push(slot, Line::Observed(kept));
        }
        // Keep the buffer's capacity for the next call.
        self.scratch = lines;
    }

    /// `slot` sent `req` at `now`.
    pub fn request(&mut self, slot: usize, now: Time, req: &Request) {
        let line = Line::Sent {
            at: now,
            method: req.method,
            url: req.url.as_str().into(),
        };
        self.push(slot, line);
    }

    /// What came back to `slot` at `now`.
    pub fn answer(&mut self, slot: usize, now: Time, delivery: &Delivery) {
        let line = match delivery {
            Delivery::Complete(r) => Line::Answer {
                at: now,
                status: r.status,
                bytes: r.body.len(),
            },
            Delivery::Broken(e, _) => Line::Broken { at: now, error: *e },
        };
        self.push(slot, line);
    }

    /// The lines kept for `slot`, oldest first.
    pub fn lines(&self, slot: usize) -> Vec<String> {
        self.rings
            .get(slot)
            .map_or_else(Vec::new, |r| r.iter().map(Line::to_string).collect())
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
            v.excerpt = ring.iter().map(Line::to_string).collect();
        }
    }
}
