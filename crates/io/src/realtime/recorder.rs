//! The recent exchanges of every device of a real-time run, kept so that a
//! violation's report entry shows what the device and the server said before
//! it (`fleetsim replay` prints them for real-time reports: a real server's
//! answers cannot be re-run).
//!
//! Each device keeps its last [`KEPT_LINES`] trace lines in a ring: bounded
//! memory whatever the run's length. A run of hours fills every ring, so a
//! line is one packed `u64` — its time as the difference from the line
//! before, and the index of what it says in the device's table of distinct
//! values (a request's method and URL, an answer's status and size, a
//! network error, a kept observation). A device says the same few things
//! over and over (every root poll of a sleepy device is the same request,
//! the same answer and the same observations), so the table stays small,
//! and devices share their copies of equal observations. Nothing is told
//! (formatted) until an excerpt or the TUI asks.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use fleetsim_core::message::{Method, NetError, Request};
use fleetsim_core::oracle::Violation;
use fleetsim_core::protocol::ddi::Delivery;
use fleetsim_core::time::Time;
use fleetsim_fleet::device::{Keep, Retold, Said, TraceSink};

/// Trace lines kept per device.
pub const KEPT_LINES: usize = 48;

/// Bits of a packed line that hold the value index; the rest hold the
/// zigzag-coded time difference from the line before.
const INDEX_BITS: u32 = 24;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
/// The largest time difference a packed line holds; a larger one goes
/// through a [`Value::Far`].
const NEAR: i64 = (1 << (63 - INDEX_BITS)) - 1;

/// What a line says.
enum Value {
    /// The device sent a request.
    Sent { method: Method, url: Arc<str> },
    /// An answer came back.
    Answer { status: u16, bytes: u64 },
    /// No (complete) answer came back.
    Broken(NetError),
    /// The device observed something (shared with other devices that
    /// observed the same, through [`Recorder`]'s `shared` table).
    Observed(Arc<dyn Retold>),
    /// Value `of`, on a line `delta` ms after the line before: a time
    /// difference too large for a packed line.
    Far { delta: i64, of: u32 },
}

/// One device's last lines.
#[derive(Default)]
struct Ring {
    /// Packed lines, oldest first: `zigzag(delta) << INDEX_BITS | index`.
    lines: VecDeque<u64>,
    /// The distinct values the lines refer to.
    values: Vec<Value>,
    /// Time of the oldest line.
    first_at: u64,
    /// Time of the newest line.
    last_at: u64,
}

fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

impl Ring {
    /// Adds a line saying the value `find` finds (or `make` makes) at `at`.
    fn push(&mut self, at: Time, find: impl Fn(&Value) -> bool, make: impl FnOnce() -> Value) {
        if self.lines.len() == KEPT_LINES {
            self.pop_oldest();
        } else if self.lines.len() == self.lines.capacity() {
            let room = self.lines.len().clamp(4, KEPT_LINES - self.lines.len());
            self.lines.reserve_exact(room);
        }
        if self.values.len() == self.values.capacity() {
            self.compact();
        }
        let index = match self.values.iter().rposition(find) {
            Some(i) => i,
            None => self.add(make()),
        };
        let delta = if self.lines.is_empty() {
            self.first_at = at.0;
            0
        } else {
            (at.0 as i64).wrapping_sub(self.last_at as i64)
        };
        self.last_at = at.0;
        let (delta, index) = if (-NEAR..=NEAR).contains(&delta) {
            (delta, index)
        } else {
            let of = index as u32;
            (0, self.add(Value::Far { delta, of }))
        };
        self.lines
            .push_back(zigzag(delta) << INDEX_BITS | index as u64);
    }

    fn add(&mut self, value: Value) -> usize {
        if self.values.len() == self.values.capacity() {
            self.values.reserve_exact(self.values.len().max(4));
        }
        self.values.push(value);
        self.values.len() - 1
    }

    /// The time difference and the value of a packed line.
    fn unpack(&self, line: u64) -> (i64, &Value) {
        let delta = unzigzag(line >> INDEX_BITS);
        match &self.values[(line & INDEX_MASK) as usize] {
            Value::Far { delta, of } => (*delta, &self.values[*of as usize]),
            value => (delta, value),
        }
    }

    fn pop_oldest(&mut self) {
        self.lines.pop_front();
        if let Some(&next) = self.lines.front() {
            let (delta, _) = self.unpack(next);
            self.first_at = self.first_at.wrapping_add_signed(delta);
        }
    }

    /// Drops the values no line refers to any more (a URL or an observation
    /// of long ago), in place, before the table would grow; then leaves room
    /// for as many new values as are live, so that the work is amortised.
    fn compact(&mut self) {
        let mut live = vec![false; self.values.len()];
        for &line in &self.lines {
            let i = (line & INDEX_MASK) as usize;
            if let Value::Far { of, .. } = self.values[i] {
                live[of as usize] = true;
            }
            live[i] = true;
        }
        // Live values keep their order, so each moves down by the number
        // of dead ones before it.
        let mut new_index = Vec::with_capacity(live.len());
        let mut kept = 0u32;
        for &l in &live {
            new_index.push(kept);
            kept += u32::from(l);
        }
        let mut i = 0;
        self.values.retain(|_| {
            i += 1;
            live[i - 1]
        });
        for value in &mut self.values {
            if let Value::Far { of, .. } = value {
                *of = new_index[*of as usize];
            }
        }
        for line in &mut self.lines {
            let i = (*line & INDEX_MASK) as usize;
            *line = (*line & !INDEX_MASK) | u64::from(new_index[i]);
        }
        let spare = self.values.capacity() - self.values.len();
        if spare < self.values.len().max(4) {
            self.values.reserve_exact(self.values.len().max(4) - spare);
        }
    }

    /// The lines, told, oldest first.
    fn told(&self) -> Vec<String> {
        let mut at = self.first_at;
        let mut out = Vec::with_capacity(self.lines.len());
        for (n, &line) in self.lines.iter().enumerate() {
            let (delta, value) = self.unpack(line);
            if n > 0 {
                at = at.wrapping_add_signed(delta);
            }
            out.push(Told(Time(at), value).to_string());
        }
        out
    }
}

/// A line's value, told at its time.
struct Told<'a>(Time, &'a Value);

impl fmt::Display for Told<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.0;
        match self.1 {
            Value::Sent { method, url } => write!(f, "{at:>14}  → {method} {url}"),
            Value::Answer { status, bytes } => write!(f, "{at:>14}  ← {status} ({bytes} bytes)"),
            Value::Broken(error) => write!(f, "{at:>14}  ✗ {error}"),
            Value::Observed(kept) => Said(at, &**kept).fmt(f),
            // `unpack` resolves these.
            Value::Far { .. } => Ok(()),
        }
    }
}

/// Slots of the table of observations shared between devices.
const SHARED: usize = 4096;

/// Where one device's observations go during a device call.
pub struct RingSink<'a> {
    ring: &'a mut Ring,
    shared: &'a mut [Option<Arc<dyn Retold>>],
}

impl TraceSink for RingSink<'_> {
    fn observed(&mut self, at: Time, ev: &dyn Keep) {
        let shared = &mut *self.shared;
        self.ring.push(
            at,
            |v| matches!(v, Value::Observed(kept) if ev.is_kept_as(&**kept)),
            || {
                // The same observation kept for another device, if the
                // table still holds it; otherwise a new copy takes its slot.
                let slot = &mut shared[(ev.key() % SHARED as u64) as usize];
                let kept = match slot {
                    Some(kept) if ev.is_kept_as(&**kept) => kept.clone(),
                    _ => slot.insert(ev.keep()).clone(),
                };
                Value::Observed(kept)
            },
        );
    }
}

/// Per device, the last trace lines.
pub struct Recorder {
    rings: Vec<Ring>,
    /// Takes the observations of a device that has no ring.
    nowhere: Ring,
    /// Recently kept observations, by [`Keep::key`]: equal observations of
    /// different devices share one copy.
    shared: Vec<Option<Arc<dyn Retold>>>,
}

impl Recorder {
    /// A recorder for `devices` slots.
    pub fn new(devices: usize) -> Recorder {
        Recorder {
            rings: (0..devices).map(|_| Ring::default()).collect(),
            nowhere: Ring::default(),
            shared: vec![None; SHARED],
        }
    }

    /// The sink for what `slot` observes during a device call.
    pub fn sink(&mut self, slot: usize) -> RingSink<'_> {
        let ring = match self.rings.get_mut(slot) {
            Some(ring) => ring,
            None => {
                self.nowhere = Ring::default();
                &mut self.nowhere
            }
        };
        RingSink {
            ring,
            shared: &mut self.shared,
        }
    }

    /// `slot` sent `req` at `now`.
    pub fn request(&mut self, slot: usize, now: Time, req: &Request) {
        if let Some(ring) = self.rings.get_mut(slot) {
            ring.push(
                now,
                |v| matches!(v, Value::Sent { method, url } if *method == req.method && **url == *req.url),
                || Value::Sent {
                    method: req.method,
                    url: req.url.as_str().into(),
                },
            );
        }
    }

    /// What came back to `slot` at `now`.
    pub fn answer(&mut self, slot: usize, now: Time, delivery: &Delivery) {
        let Some(ring) = self.rings.get_mut(slot) else {
            return;
        };
        match delivery {
            Delivery::Complete(r) => {
                let (status, bytes) = (r.status, r.body.len());
                ring.push(
                    now,
                    |v| matches!(v, Value::Answer { status: s, bytes: b } if (*s, *b) == (status, bytes)),
                    || Value::Answer { status, bytes },
                );
            }
            Delivery::Broken(e, _) => ring.push(
                now,
                |v| matches!(v, Value::Broken(x) if x == e),
                || Value::Broken(*e),
            ),
        }
    }

    /// The lines kept for `slot`, oldest first.
    pub fn lines(&self, slot: usize) -> Vec<String> {
        self.rings.get(slot).map_or_else(Vec::new, Ring::told)
    }

    /// Gives the violations in `kept` that are about device `number` and
    /// have no excerpt yet (found by the last device call) its recorded
    /// lines as their excerpt.
    pub fn capture(&self, slot: usize, number: u64, kept: &mut [Violation]) {
        let Some(ring) = self.rings.get(slot) else {
            return;
        };
        let mut lines = None;
        for v in kept
            .iter_mut()
            .filter(|v| v.device == number && v.excerpt.is_empty())
        {
            v.excerpt = lines.get_or_insert_with(|| ring.told()).clone();
        }
    }
}

#[cfg(test)]
mod tests;
