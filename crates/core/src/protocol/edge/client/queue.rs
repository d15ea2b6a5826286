//! The edge client's commands between "handed out by [`TwinSync`]" and
//! "answered": ordered, each pending or in flight, at most a window of them
//! in flight.
//!
//! Order without waiting for each answer: a command is sent only when no
//! earlier unfinished command *overlaps* it (same thing, and one path is
//! the other or lies beneath it). Commands on disjoint subtrees commute
//! (each replaces or deletes its whole path), so the twin ends as if every
//! command had been applied one by one in order; a retried or resent
//! command still comes before every later command on its path, because
//! those wait for it. A property command waits for the `ModifyFeature`
//! that creates its feature for the same reason.
//!
//! [`TwinSync`]: super::super::sync::TwinSync

use std::collections::BTreeMap;

use super::super::change::Change;
use crate::time::Time;

/// Where a command is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// Waiting to be sent, not before this time.
    Pending { not_before: Time },
    /// Sent; resent if unanswered by `deadline`.
    InFlight { deadline: Time },
}

/// One command: a change and its correlation-id.
#[derive(Clone, Debug)]
pub(super) struct Command {
    /// Its correlation-id (kept across resends).
    pub id: String,
    /// What it changes.
    pub change: Change,
    /// Its thing ID and path, kept for the overlap test.
    thing: String,
    path: String,
    /// Where it is.
    pub state: State,
    /// Times sent.
    pub sends: u32,
    /// Consecutive retriable failures (backoff exponent).
    pub failures: u32,
    /// Its feature was re-created once after `feature.notfound`.
    pub recreated: bool,
}

impl Command {
    fn overlaps(&self, other: &Command) -> bool {
        fn beneath(inner: &str, outer: &str) -> bool {
            outer == "/"
                || inner == outer
                || (inner.starts_with(outer) && inner.as_bytes().get(outer.len()) == Some(&b'/'))
        }
        self.thing == other.thing
            && (beneath(&self.path, &other.path) || beneath(&other.path, &self.path))
    }
}

/// Key of a command: (sequence, 1); a feature re-created ahead of the
/// command with sequence `s` is `(s, 0)`, so it goes first.
pub(super) type Key = (u64, u8);

/// How far [`Commands::plan`] looks past the front: bounds the cost of a
/// poll on a long queue (a later command waits a little longer).
const LOOKAHEAD: usize = 64;

/// The ordered commands (see the module doc).
#[derive(Clone, Debug, Default)]
pub(super) struct Commands {
    by_key: BTreeMap<Key, Command>,
    key_of: BTreeMap<String, Key>,
    next_seq: u64,
    in_flight: usize,
}

impl Commands {
    /// Commands not yet answered.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether every command is answered.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Commands in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn command(id: String, change: Change, now: Time) -> Command {
        Command {
            id,
            thing: change.thing_id().to_string(),
            path: change.path(),
            change,
            state: State::Pending { not_before: now },
            sends: 0,
            failures: 0,
            recreated: false,
        }
    }

    /// Appends a change, due at `now`.
    pub fn push(&mut self, id: String, change: Change, now: Time) {
        let key = (self.next_seq, 1);
        self.next_seq += 1;
        self.key_of.insert(id.clone(), key);
        self.by_key.insert(key, Commands::command(id, change, now));
    }

    /// Inserts `change` right before the command at `before` (a feature
    /// re-created ahead of its property command).
    pub fn push_before(&mut self, before: Key, id: String, change: Change, now: Time) {
        let key = (before.0, 0);
        self.key_of.insert(id.clone(), key);
        self.by_key.insert(key, Commands::command(id, change, now));
    }

    /// Puts an answered command back (to retry it), pending from `not_before`.
    pub fn put_back(&mut self, key: Key, mut command: Command, not_before: Time) {
        command.state = State::Pending { not_before };
        self.key_of.insert(command.id.clone(), key);
        self.by_key.insert(key, command);
    }

    /// Takes out the command with this correlation-id (its answer came).
    pub fn take(&mut self, id: &str) -> Option<(Key, Command)> {
        let key = self.key_of.remove(id)?;
        let command = self.by_key.remove(&key)?;
        if matches!(command.state, State::InFlight { .. }) {
            self.in_flight -= 1;
        }
        Some((key, command))
    }

    /// The next command that may go at `now` with `window` in flight at
    /// most, and the time something next falls due (a pending command's
    /// `not_before` or an in-flight deadline), [`Time::NEVER`] if nothing.
    pub fn plan(&self, now: Time, window: usize) -> (Option<Key>, Time) {
        let mut next = Time::NEVER;
        let mut earlier: Vec<&Command> = Vec::new();
        for (key, c) in self.by_key.iter().take(LOOKAHEAD) {
            match c.state {
                State::InFlight { deadline } => next = next.min(deadline),
                State::Pending { not_before } if self.in_flight < window => {
                    if !earlier.iter().any(|e| e.overlaps(c)) {
                        if not_before <= now {
                            return (Some(*key), now);
                        }
                        next = next.min(not_before);
                    }
                }
                State::Pending { .. } => {}
            }
            earlier.push(c);
        }
        (None, next)
    }

    /// Marks the command at `key` sent at `now`; it is resent if still
    /// unanswered at `deadline`.
    pub fn sent(&mut self, key: Key, deadline: Time) -> Option<&Command> {
        let c = self.by_key.get_mut(&key)?;
        if !matches!(c.state, State::InFlight { .. }) {
            self.in_flight += 1;
        }
        c.state = State::InFlight { deadline };
        c.sends += 1;
        Some(c)
    }

    /// In-flight commands past their deadline go back to pending (resent
    /// at once, same correlation-id); returns their ids.
    pub fn expire(&mut self, now: Time) -> Vec<String> {
        let mut expired = Vec::new();
        for c in self.by_key.values_mut() {
            if let State::InFlight { deadline } = c.state {
                if deadline <= now {
                    c.state = State::Pending { not_before: now };
                    expired.push(c.id.clone());
                }
            }
        }
        self.in_flight -= expired.len();
        expired
    }

    /// The session dropped: every command in flight is resent after the
    /// next connect. Returns how many were in flight.
    pub fn requeue_all(&mut self, now: Time) -> usize {
        for c in self.by_key.values_mut() {
            if matches!(c.state, State::InFlight { .. }) {
                c.state = State::Pending { not_before: now };
            }
        }
        std::mem::take(&mut self.in_flight)
    }
}
