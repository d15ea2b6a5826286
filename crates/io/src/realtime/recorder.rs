//! The recent exchanges of every device of a real-time run, kept so that a
//! violation's report entry shows what the device and the server said before
//! it (`fleetsim replay` prints them for real-time reports: a real server's
//! answers cannot be re-run).
//!
//! Each device keeps its last [`KEPT_LINES`] trace lines in a ring: bounded
//! memory whatever the run's length. The ring grows in steps up to exactly
//! that many lines, and a request line shares its URL with the last request
//! line of the same URL (most are the same poll), so a device's history
//! costs about 32 bytes a line.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

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
        url: Arc<str>,
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
        } else if ring.len() == ring.capacity() {
            ring.reserve_exact(ring.len().clamp(4, KEPT_LINES - ring.len()));
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
        let earlier = self.rings.get(slot).and_then(|ring| {
            ring.iter().rev().find_map(|line| match line {
                Line::Sent { url, .. } if **url == *req.url => Some(url.clone()),
                _ => None,
            })
        });
        let line = Line::Sent {
            at: now,
            method: req.method,
            url: earlier.unwrap_or_else(|| req.url.as_str().into()),
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

    /// Gives the violations in `kept` that are about device `number` and
    /// have no excerpt yet (found by the last device call) its recorded
    /// lines as their excerpt.
    pub fn capture(&self, slot: usize, number: u64, kept: &mut [Violation]) {
        let Some(ring) = self.rings.get(slot) else {
            return;
        };
        for v in kept
            .iter_mut()
            .filter(|v| v.device == number && v.excerpt.is_empty())
        {
            v.excerpt = ring.iter().map(Line::to_string).collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_keeps_the_last_lines_in_exactly_their_room_and_shares_repeated_urls() {
        let mut rec = Recorder::new(2);
        let poll = Request::new(Method::Get, "http://h/DEFAULT/controller/v1/dev-1");
        for i in 0..100 {
            rec.request(1, Time(i), &poll);
        }
        let ring = &rec.rings[1];
        assert_eq!((ring.len(), ring.capacity()), (KEPT_LINES, KEPT_LINES));
        let Some(Line::Sent { url, .. }) = ring.back() else {
            panic!("the last line is a request");
        };
        assert_eq!(Arc::strong_count(url), KEPT_LINES);
        let lines = rec.lines(1);
        assert!(lines[0].ends_with("→ GET http://h/DEFAULT/controller/v1/dev-1"));
        assert!(
            lines[0].contains("52"),
            "oldest kept is request 52: {}",
            lines[0]
        );
        assert!(rec.lines(0).is_empty());
    }
}
