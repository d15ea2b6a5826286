//! The event queue: a hierarchical timing wheel ordered by `(time, sequence
//! number)`.
//!
//! Ties break on the sequence number, i.e. on scheduling order, never on
//! allocation order or device id, so the order is a pure function of the run.
//!
//! The wheel has `LEVELS` levels of 64 buckets over integer-millisecond
//! times, relative to a cursor `cur` that never passes the earliest pending
//! event. An event is kept at the level of the highest 6-bit digit in which
//! its time differs from `cur`, in the bucket of that digit; level 0 buckets
//! therefore hold one time each. The earliest event is in the lowest occupied
//! bucket of the lowest occupied level; a bucket above level 0 is spread over
//! the levels below it when it is reached (the cursor moves to its start).
//! Buckets are FIFOs and spreading keeps their order, so the events of one
//! time stay in sequence order: the pop order is exactly the binary heap's it
//! replaced (a property test in this file holds the two together).
//!
//! An event scheduled before the cursor (which the engine never does, but the
//! API allows) goes to a small binary heap beside the wheel; every pop takes
//! the smaller of the two heads.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

use fleetsim_core::time::Time;

/// What an event does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum What {
    /// A device's timer.
    Wake,
    /// A device's request reaches the server.
    Arrive,
    /// The outcome of a device's request reaches the device.
    Deliver,
    /// A held long poll is re-asked (its timeout, or its manifest changed).
    Release,
    /// The MQTT broker pushes a device's pending `config_otau` value.
    Push,
    /// A campaign start or cancel is due (see [`crate::director`]).
    Campaigns,
    /// Take a sample of fleet state.
    Sample,
    /// Someone downloads with a URL leaked from campaign `n`'s devices.
    Leak(u16),
    /// An edge gateway's session connects or drops.
    EdgeLink,
    /// Frames of an edge gateway reach the twin hub.
    EdgeUp,
    /// Frames of the twin hub reach an edge gateway.
    EdgeDown,
    /// Something happens at an edge gateway (a change, churn, a backend request).
    EdgeAct,
    /// The twin hub's timer (inbox messages past their deadline).
    HubTimer,
}

/// A scheduled event.
#[derive(Clone, Copy, Debug)]
pub struct Event {
    /// When.
    pub at: Time,
    seq: u64,
    /// Device slot (unused for global events).
    pub slot: u32,
    /// What.
    pub what: What,
}

impl Event {
    fn key(&self) -> (Time, u64) {
        (self.at, self.seq)
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Event {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// Bits of time per wheel level.
const BITS: u32 = 6;
/// Buckets per level.
const SLOTS: usize = 1 << BITS;
/// Levels: enough for any `u64` time (11 × 6 bits ≥ 64).
const LEVELS: usize = 11;
/// An emptied bucket keeps its allocation up to this many events; a larger
/// one is freed, or the buckets' summed peaks would outgrow the pending
/// events by far (each 5-minute bucket once holds a whole fleet's polls).
const KEEP: usize = 256;

/// Events in `(time, sequence)` order.
pub struct Queue {
    /// `LEVELS × SLOTS` FIFO buckets, level-major.
    buckets: Vec<VecDeque<Event>>,
    /// Per level, bit `s` set when bucket `s` is non-empty.
    occupied: [u64; LEVELS],
    /// The wheel's cursor (ms): at or before every event in the wheel.
    cur: u64,
    /// Events scheduled before the cursor.
    early: BinaryHeap<Reverse<Event>>,
    len: usize,
    seq: u64,
}

impl Default for Queue {
    fn default() -> Self {
        Queue {
            buckets: (0..LEVELS * SLOTS).map(|_| VecDeque::new()).collect(),
            occupied: [0; LEVELS],
            cur: 0,
            early: BinaryHeap::new(),
            len: 0,
            seq: 0,
        }
    }
}

impl Queue {
    /// Schedules `what` for `slot` at `at`.
    pub fn push(&mut self, at: Time, slot: u32, what: What) {
        self.seq += 1;
        self.len += 1;
        let event = Event {
            at,
            seq: self.seq,
            slot,
            what,
        };
        if at.0 < self.cur {
            self.early.push(Reverse(event));
        } else {
            self.insert(event);
        }
    }

    /// Removes the earliest event if it is due at or before `limit`.
    pub fn pop_until(&mut self, limit: Time) -> Option<Event> {
        self.settle();
        let wheel = match self.occupied[0] {
            0 => None,
            bits => {
                let slot = bits.trailing_zeros() as usize;
                self.buckets[slot].front().map(|e| (slot, *e))
            }
        };
        let early = self.early.peek().map(|Reverse(e)| *e);
        match (wheel, early) {
            (Some((_, w)), Some(e)) if e < w => self.pop_early(limit),
            (None, Some(_)) => self.pop_early(limit),
            (Some((slot, w)), _) if w.at <= limit => {
                let bucket = &mut self.buckets[slot];
                bucket.pop_front();
                if bucket.is_empty() {
                    self.occupied[0] &= !(1 << slot);
                    if bucket.capacity() > KEEP {
                        *bucket = VecDeque::new();
                    }
                }
                self.cur = w.at.0;
                self.len -= 1;
                Some(w)
            }
            _ => None,
        }
    }

    /// When the earliest pending event is due.
    pub fn peek_at(&self) -> Option<Time> {
        let early = self.early.peek().map(|Reverse(e)| e.at);
        let wheel = (0..LEVELS).find(|&l| self.occupied[l] != 0).and_then(|l| {
            let slot = self.occupied[l].trailing_zeros() as usize;
            self.buckets[l * SLOTS + slot].iter().map(|e| e.at).min()
        });
        match (wheel, early) {
            (Some(w), Some(e)) => Some(w.min(e)),
            (w, e) => w.or(e),
        }
    }

    /// Pending events.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn pop_early(&mut self, limit: Time) -> Option<Event> {
        match self.early.peek() {
            Some(Reverse(e)) if e.at <= limit => {
                self.len -= 1;
                self.early.pop().map(|Reverse(e)| e)
            }
            _ => None,
        }
    }

    /// Puts an event due at or after the cursor into its bucket.
    fn insert(&mut self, event: Event) {
        let differ = event.at.0 ^ self.cur;
        let level = match differ {
            0 => 0,
            d => (63 - d.leading_zeros()) / BITS,
        };
        let slot = ((event.at.0 >> (level * BITS)) as usize) & (SLOTS - 1);
        self.buckets[level as usize * SLOTS + slot].push_back(event);
        self.occupied[level as usize] |= 1 << slot;
    }

    /// Spreads buckets down until the earliest wheel event is at level 0
    /// (or the wheel is empty).
    fn settle(&mut self) {
        while self.occupied[0] == 0 {
            let Some(level) = (1..LEVELS).find(|&l| self.occupied[l] != 0) else {
                return;
            };
            let slot = self.occupied[level].trailing_zeros() as usize;
            self.occupied[level] &= !(1 << slot);
            let shift = level as u32 * BITS;
            // The bucket's start: the cursor's higher digits, this digit, zeros below.
            self.cur = (((self.cur >> shift) & !(SLOTS as u64 - 1)) | slot as u64) << shift;
            let index = level * SLOTS + slot;
            let mut bucket = std::mem::take(&mut self.buckets[index]);
            for event in bucket.drain(..) {
                self.insert(event);
            }
            // Keep a small emptied bucket's allocation for the next round.
            if bucket.capacity() <= KEEP {
                self.buckets[index] = bucket;
            }
        }
    }
}

#[cfg(test)]
mod tests;
