//! What a gateway sends to keep its twin true across connects and
//! disconnects (seed 002, "Synchronization flow"), sans-IO: the gateway
//! client calls [`TwinSync::changed`] after each change of its runtime and
//! [`TwinSync::connect`] / [`TwinSync::disconnect`] as its link comes and
//! goes, and sends what they return, in order.
//!
//! - Before the first connect nothing is sent or buffered: the first
//!   connect sends one `ModifyThing` per thing with the state of that
//!   moment ([`initial_sync`]).
//! - Connected: each change goes out at once.
//! - Disconnected: changes go to the bounded [`Buffer`]; on reconnect they
//!   are sent in order. If the buffer overflowed, the partial buffer is
//!   useless; it is replaced by one catch-up diff from the twin the service
//!   holds (every change sent so far applied to the twin of the first
//!   connect) to the runtime's twin now, and counted in
//!   [`SyncStats::resyncs`].
//!
//! Delivery is assumed: what happens to a send that fails (retry, resync)
//! is the client's, which can call [`TwinSync::assume_lost`].

use super::buffer::{Buffer, BufferStats};
use super::change::{apply, diff_twins, initial_sync, twin, Change, Twin};
use super::model::GatewayRuntime;

/// Counters of a [`TwinSync`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Changes handed out to send.
    pub sent: u64,
    /// Connects (the first included).
    pub connects: u64,
    /// Reconnects whose buffer had overflowed (catch-up diff sent instead).
    pub resyncs: u64,
    /// Buffered deletes not sent: their target never reached the service.
    pub skipped: u64,
    /// The offline buffer's counters.
    pub buffer: BufferStats,
}

/// The gateway side of twin synchronisation (see the module doc).
#[derive(Clone, Debug)]
pub struct TwinSync {
    online: bool,
    synced: bool,
    buffer: Buffer,
    /// The twin the service holds if every change handed out arrived.
    service: Twin,
    sent: u64,
    connects: u64,
    resyncs: u64,
    skipped: u64,
}

impl TwinSync {
    /// Not yet connected; the offline buffer holds `capacity` changes.
    pub fn new(capacity: usize) -> TwinSync {
        TwinSync {
            online: false,
            synced: false,
            buffer: Buffer::new(capacity),
            service: Twin::new(),
            sent: 0,
            connects: 0,
            resyncs: 0,
            skipped: 0,
        }
    }

    /// Whether the link is up.
    pub fn is_online(&self) -> bool {
        self.online
    }

    /// Changes waiting for the next connect.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The twin the service holds if every change handed out arrived.
    pub fn service_view(&self) -> &Twin {
        &self.service
    }

    /// The counters.
    pub fn stats(&self) -> SyncStats {
        SyncStats {
            sent: self.sent,
            connects: self.connects,
            resyncs: self.resyncs,
            skipped: self.skipped,
            buffer: self.buffer.stats(),
        }
    }

    /// The runtime changed by `changes` (a [`super::change::diff`] or
    /// [`super::change::diff_scoped`]): what to send now, if anything.
    pub fn changed(&mut self, changes: Vec<Change>) -> Vec<Change> {
        match (self.synced, self.online) {
            (false, _) => Vec::new(),
            (true, true) => self.hand_out(changes),
            (true, false) => {
                changes.into_iter().for_each(|c| self.buffer.push(c));
                Vec::new()
            }
        }
    }

    /// The link came up: what to send first, in order.
    pub fn connect(&mut self, rt: &GatewayRuntime) -> Vec<Change> {
        self.online = true;
        self.connects += 1;
        if !self.synced {
            self.synced = true;
            self.service = Twin::new();
            return self.hand_out(initial_sync(rt));
        }
        let drained = self.buffer.drain();
        if !drained.resync {
            return self.hand_out(drained.changes);
        }
        self.resyncs += 1;
        let catch_up = diff_twins(&self.service, &twin(rt));
        self.hand_out(catch_up)
    }

    /// The link went down.
    pub fn disconnect(&mut self) {
        self.online = false;
    }

    /// Sent changes may not have arrived (the client gave up on them): the
    /// next connect starts over with a first-connect sync, and the buffer
    /// is emptied (its changes are in that sync).
    pub fn assume_lost(&mut self) {
        self.synced = false;
        self.buffer.drain();
    }

    /// Applies `changes` to the service's view and returns those to send:
    /// all but deletes of what the service does not have. Those come from
    /// coalescing (an FI discovered and removed while offline leaves only
    /// its delete); Ditto would answer them 404 and change nothing.
    fn hand_out(&mut self, changes: Vec<Change>) -> Vec<Change> {
        let mut out = Vec::with_capacity(changes.len());
        for change in changes {
            match apply(&mut self.service, &change) {
                Err(_) if change.action() == "delete" => self.skipped += 1,
                // Any other refusal is sent all the same: the service
                // answers it as the view did, and the client sees that.
                _ => out.push(change),
            }
        }
        self.sent += out.len() as u64;
        out
    }
}
