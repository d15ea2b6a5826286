//! The event queue: a min-heap ordered by `(time, sequence number)`.
//!
//! Ties break on the sequence number, i.e. on scheduling order, never on
//! allocation order or device id, so the order is a pure function of the run.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

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

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
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
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Min-heap of events.
#[derive(Default)]
pub struct Queue {
    heap: BinaryHeap<Reverse<Event>>,
    seq: u64,
}

impl Queue {
    /// Schedules `what` for `slot` at `at`.
    pub fn push(&mut self, at: Time, slot: u32, what: What) {
        self.seq += 1;
        self.heap.push(Reverse(Event {
            at,
            seq: self.seq,
            slot,
            what,
        }));
    }

    /// Removes the earliest event if it is due at or before `limit`.
    pub fn pop_until(&mut self, limit: Time) -> Option<Event> {
        match self.heap.peek() {
            Some(Reverse(e)) if e.at <= limit => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// When the earliest pending event is due.
    pub fn peek_at(&self) -> Option<Time> {
        self.heap.peek().map(|Reverse(e)| e.at)
    }

    /// Pending events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_break_on_scheduling_order() {
        let mut q = Queue::default();
        q.push(Time(5), 9, What::Wake);
        q.push(Time(5), 1, What::Arrive);
        q.push(Time(3), 4, What::Deliver);
        let order: Vec<(u64, u32)> = std::iter::from_fn(|| q.pop_until(Time(10)))
            .map(|e| (e.at.as_millis(), e.slot))
            .collect();
        assert_eq!(order, vec![(3, 4), (5, 9), (5, 1)]);
    }
}
