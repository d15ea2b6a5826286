//! What an [`super::EdgeClient`] observes, for the oracle's TWIN-*
//! invariants, the trace and the report; and its running counters.

use crate::time::{Span, Time};

/// One observation of the edge client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EdgeEvent {
    /// The message session opened; `START-SEND-MESSAGES` goes out.
    SessionUp,
    /// `START-SEND-MESSAGES:ACK` came: the session carries commands now.
    /// `handed_out` changes came from [`super::super::TwinSync::connect`]
    /// (first-connect `ModifyThing`s, the buffered replay, or a catch-up);
    /// `resync` says the buffer had overflowed.
    SessionReady {
        /// Changes handed out by the connect.
        handed_out: usize,
        /// The buffer overflowed: a catch-up diff replaced the replay.
        resync: bool,
    },
    /// The session dropped; `requeued` commands in flight go again later.
    SessionDown {
        /// Commands in flight at the drop.
        requeued: usize,
    },
    /// A twin command frame went out.
    CommandSent {
        /// Its correlation-id.
        correlation_id: String,
        /// The Ditto command name.
        command: &'static str,
        /// Sent before with this id (a timeout or a drop).
        resend: bool,
    },
    /// A command was answered and is done (2xx, or 404 on a delete: the
    /// target is already gone).
    CommandAnswered {
        /// Its correlation-id.
        correlation_id: String,
        /// The status.
        status: u16,
    },
    /// The twin refused a command (4xx): counted, not retried.
    CommandRefused {
        /// Its correlation-id.
        correlation_id: String,
        /// The status.
        status: u16,
        /// The Ditto error code, if any.
        error: Option<String>,
    },
    /// 429/5xx (or 408): the command goes again after `after`.
    CommandRetry {
        /// Its correlation-id.
        correlation_id: String,
        /// The status.
        status: u16,
        /// The backoff.
        after: Span,
    },
    /// No answer by the deadline: resent with the same correlation-id.
    CommandTimedOut {
        /// Its correlation-id.
        correlation_id: String,
    },
    /// A command met `things:feature.notfound` (or `thing.notfound`): the
    /// feature (or thing) is re-created first with this command.
    Recreated {
        /// The re-creating command's correlation-id.
        correlation_id: String,
        /// `ModifyFeature` or `ModifyThing`.
        command: &'static str,
        /// Its thing.
        thing_id: String,
        /// Its path.
        path: String,
    },
    /// A response whose correlation-id no command waits for (a duplicate
    /// answer to a resend), or a frame that is not Ditto Protocol.
    StrayFrame,
    /// Runtime changes made while the session is not ready went to the
    /// offline buffer; `dropped` were dropped at its bound by this push.
    Buffered {
        /// Changes pushed.
        count: usize,
        /// Changes dropped at the bound.
        dropped: u64,
    },
    /// A live message was applied (first delivery) and answered.
    MessageApplied {
        /// Its correlation-id.
        correlation_id: String,
        /// The reply's status (204, or the refusal's 4xx).
        status: u16,
        /// Whether the runtime changed.
        changed: bool,
    },
    /// A live message already answered came again: answered again with
    /// the remembered reply, not applied.
    MessageDuplicate {
        /// Its correlation-id.
        correlation_id: String,
    },
    /// Nothing in flight, queued or buffered, session ready: the twin holds
    /// everything the gateway sent (once per such period).
    TwinSynced {
        /// When.
        at: Time,
    },
}

/// Running counters of an [`super::EdgeClient`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EdgeStats {
    /// Command frames sent (resends included).
    pub sent: u64,
    /// Of them, resends (timeout or session drop).
    pub resent: u64,
    /// Commands done.
    pub answered: u64,
    /// Commands refused (4xx).
    pub refused: u64,
    /// Retries after 429/5xx.
    pub retried: u64,
    /// Commands unanswered by their deadline.
    pub timed_out: u64,
    /// Features or things re-created after a `…notfound`.
    pub recreated: u64,
    /// Live messages applied (first deliveries).
    pub messages: u64,
    /// Live messages delivered again and answered from memory.
    pub duplicates: u64,
    /// Frames nobody waited for.
    pub stray: u64,
    /// Sessions that became ready.
    pub sessions: u64,
}
