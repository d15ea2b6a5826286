//! The offline buffer of a gateway: the changes made while it is not
//! connected, applied in order once it is (seed 002: "If the gateway is not
//! connected, all changes are buffered and applied once a connection is
//! established").
//!
//! Policy (documented, counted):
//! - **Coalescing, always.** A pushed change removes every buffered change
//!   it supersedes ([`Change::supersedes`]: same thing, same path or a path
//!   beneath it). Every change replaces or deletes its whole path, so the
//!   twin ends the same with or without the removed ones; the remaining
//!   changes keep their order and the new one goes last. A property therefore
//!   has at most one buffered value, the newest. Counted in
//!   [`BufferStats::coalesced`].
//! - **At the bound, drop the oldest.** When the buffer holds more than its
//!   capacity after a push, the oldest change is dropped and counted in
//!   [`BufferStats::dropped`]. The twin can then no longer be brought up to
//!   date by replay alone, so [`Drained::resync`] is set: the client must
//!   catch up another way — [`super::sync::TwinSync`] sends
//!   `diff_twins(twin the service holds, twin now)` instead of the partial
//!   buffer.
//!
//! Counters add up: `pushed = coalesced + dropped + drained + len()`.
//! Each push costs O(log n) (two ordered indexes), so a long offline period
//! of a large gateway stays cheap.

use std::collections::BTreeMap;

use super::change::Change;

/// Counters of a buffer over its whole life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BufferStats {
    /// Changes pushed.
    pub pushed: u64,
    /// Buffered changes removed because a later one superseded them.
    pub coalesced: u64,
    /// Buffered changes dropped at the bound (oldest first).
    pub dropped: u64,
    /// Changes handed out by [`Buffer::drain`].
    pub drained: u64,
    /// The most changes held at once.
    pub high_water: u64,
}

/// What [`Buffer::drain`] hands out.
#[derive(Clone, Debug, PartialEq)]
pub struct Drained {
    /// The buffered changes, oldest first.
    pub changes: Vec<Change>,
    /// Changes were dropped since the last drain: replaying `changes` does
    /// not bring the twin up to date, the client must resync.
    pub resync: bool,
}

/// A bounded, ordered, coalescing buffer of changes (see the module doc).
#[derive(Clone, Debug)]
pub struct Buffer {
    capacity: usize,
    next_seq: u64,
    /// Sequence number → change; iteration order is push order.
    queue: BTreeMap<u64, Change>,
    /// (thing ID, path) → sequence number of the one buffered change there.
    index: BTreeMap<(String, String), u64>,
    overflowed: bool,
    stats: BufferStats,
}

impl Buffer {
    /// An empty buffer holding at most `capacity` changes (at least 1).
    pub fn new(capacity: usize) -> Buffer {
        Buffer {
            capacity: capacity.max(1),
            next_seq: 0,
            queue: BTreeMap::new(),
            index: BTreeMap::new(),
            overflowed: false,
            stats: BufferStats::default(),
        }
    }

    /// The bound.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Changes held now.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The counters.
    pub fn stats(&self) -> BufferStats {
        self.stats
    }

    /// The held changes, oldest first, without draining them.
    pub fn iter(&self) -> impl Iterator<Item = &Change> {
        self.queue.values()
    }

    /// Buffers one change: coalesce, append, drop the oldest past the bound.
    pub fn push(&mut self, change: Change) {
        self.stats.pushed += 1;
        let thing = change.thing_id().to_string();
        let path = change.path();
        let superseded: Vec<(String, String)> = self.beneath(&thing, &path).collect();
        for key in superseded {
            if let Some(seq) = self.index.remove(&key) {
                self.queue.remove(&seq);
                self.stats.coalesced += 1;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.insert(seq, change);
        self.index.insert((thing, path), seq);
        if self.queue.len() > self.capacity {
            if let Some((_, oldest)) = self.queue.pop_first() {
                self.index
                    .remove(&(oldest.thing_id().to_string(), oldest.path()));
                self.stats.dropped += 1;
                self.overflowed = true;
            }
        }
        self.stats.high_water = self.stats.high_water.max(self.queue.len() as u64);
    }

    /// Index keys of the buffered changes at `path` of `thing` or beneath it.
    fn beneath<'a>(
        &'a self,
        thing: &str,
        path: &str,
    ) -> impl Iterator<Item = (String, String)> + 'a {
        // Paths start with `/`; the ones beneath `p` start with `p/`, which
        // sorts in [`p/`, `p0`) as `0` follows `/`. The whole thing (`/`)
        // is every path of it: [``, `0`).
        let (lo, hi) = match path {
            "/" => (String::new(), "0".to_string()),
            _ => (format!("{path}/"), format!("{path}0")),
        };
        let exact = (thing.to_string(), path.to_string());
        let exact = self.index.get_key_value(&exact).map(|(k, _)| k.clone());
        let range = self
            .index
            .range((thing.to_string(), lo)..(thing.to_string(), hi));
        exact.into_iter().chain(range.map(|(k, _)| k.clone()))
    }

    /// Hands out every buffered change, oldest first, and empties the buffer.
    pub fn drain(&mut self) -> Drained {
        let changes: Vec<Change> = std::mem::take(&mut self.queue).into_values().collect();
        self.index.clear();
        self.stats.drained += changes.len() as u64;
        let resync = std::mem::replace(&mut self.overflowed, false);
        Drained { changes, resync }
    }
}
