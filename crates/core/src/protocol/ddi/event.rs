//! What a DDI client observed, as facts for the oracle, the trace and the report.
//!
//! The client parses every answer once; what it learned is emitted here so the
//! oracle never re-parses JSON and works the same for both drivers.

use crate::message::NetError;
use crate::time::Span;

use super::wire::{Execution, Finished, HandlingType};
use crate::protocol::transport::ReqKind;

/// The action link a root answer carried (ddi.md §1.1: at most one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// No action.
    Nothing,
    /// `deploymentBase` for this action id.
    Deployment(u64),
    /// `cancelAction` for this action id.
    Cancel(u64),
    /// `confirmationBase` for this action id.
    Confirmation(u64),
}

/// How an action ended for the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Installed (or downloaded, for download-only) and reported.
    Success,
    /// Reported `closed`/`failure` with this reason.
    Failure(String),
    /// Canceled by the server and confirmed.
    Canceled,
    /// The server withdrew the action (404/410) before the device finished.
    Withdrawn,
    /// The device refused it with an accepted `rejected` feedback (the
    /// action stays active on the server, ddi.md §1.4).
    Rejected,
}

/// A device's coarse state, for fleet-state counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Polling, nothing to do.
    Idle,
    /// Working on an action: fetching, downloading.
    Downloading,
    /// Downloaded, waiting for the maintenance window.
    Waiting,
    /// Installing.
    Installing,
    /// Last action installed.
    Updated,
    /// Last action failed.
    Failed,
    /// Last action canceled.
    Canceled,
}

impl Phase {
    /// Every phase, in report order.
    pub const ALL: [Phase; 7] = [
        Phase::Idle,
        Phase::Downloading,
        Phase::Waiting,
        Phase::Installing,
        Phase::Updated,
        Phase::Failed,
        Phase::Canceled,
    ];

    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Downloading => "downloading",
            Phase::Waiting => "waiting",
            Phase::Installing => "installing",
            Phase::Updated => "updated",
            Phase::Failed => "failed",
            Phase::Canceled => "canceled",
        }
    }
}

/// One fact observed by a DDI client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DdiEvent {
    /// A request left the device.
    Sent {
        /// Request kind.
        kind: ReqKind,
        /// True when this is a scheduled root poll (not a retry, not a return after work).
        scheduled: bool,
    },
    /// A request got no (complete) answer.
    NetFailed {
        /// Request kind.
        kind: ReqKind,
        /// Why.
        error: NetError,
    },
    /// A request got an answer with this status.
    Answered {
        /// Request kind.
        kind: ReqKind,
        /// HTTP status.
        status: u16,
    },
    /// A 200 answer that should be a DDI JSON document and is not.
    Unreadable {
        /// Request kind.
        kind: ReqKind,
    },
    /// A 200 document answer to a device that asked for CBOR came in
    /// another media type (ddi.md §0).
    WrongMedia {
        /// Request kind.
        kind: ReqKind,
    },
    /// A 200 root answer, parsed.
    RootSeen {
        /// `sleep`, `None` if it could not be parsed.
        sleep: Option<Span>,
        /// The action link.
        offer: Offer,
        /// Action id of the `installedBase` link.
        installed: Option<u64>,
        /// Whether `configData` was requested.
        config_data: bool,
    },
    /// A 200 deploymentBase answer, parsed.
    DeploymentSeen {
        /// Action id in the URL the device fetched.
        url_action: u64,
        /// Action id in the body.
        body_action: u64,
        /// Download handling.
        download: HandlingType,
        /// Update handling.
        update: HandlingType,
        /// Whether the deployment carried a maintenance window.
        windowed: bool,
        /// Whether it said `maintenanceWindow: unavailable`.
        window_closed: bool,
        /// The first artifact whose `hashes` lack `sha1` or `md5` or carry a
        /// malformed digest: its file name and what is wrong.
        bad_hashes: Option<Box<(String, &'static str)>>,
    },
    /// A feedback got an answer.
    FeedbackAnswered {
        /// Action id the feedback was posted to.
        action: u64,
        /// Posted to cancelAction feedback instead of deploymentBase.
        cancel: bool,
        /// What was reported.
        execution: Execution,
        /// With what result.
        finished: Finished,
        /// HTTP status of the answer.
        status: u16,
    },
    /// A Range request to an artifact got an answer.
    RangeAnswered {
        /// First byte asked for.
        from: u64,
        /// HTTP status.
        status: u16,
        /// First byte of `Content-Range`, if any.
        served_from: Option<u64>,
    },
    /// An artifact was received completely and checked against its hashes.
    ArtifactChecked {
        /// Action id.
        action: u64,
        /// Whether the bytes matched the advertised hashes.
        matches: bool,
    },
    /// The device's coarse state changed.
    PhaseChanged(Phase),
    /// After the reboot that follows an install, the device read
    /// `installedBase` (`check_installed`).
    InstalledChecked {
        /// The action it installed.
        action: u64,
        /// The root linked `installedBase/{action}` and it names the
        /// version the device installed.
        matches: bool,
    },
    /// A 200 `confirmationBase/{id}` answer: the device was asked for consent (ddi.md §1.8).
    ConsentAsked {
        /// Action id in the URL the device fetched.
        action: u64,
    },
    /// A confirmation feedback got an answer.
    ConsentGiven {
        /// Action id the feedback was posted to.
        action: u64,
        /// `confirmed` (true) or `denied`.
        confirmed: bool,
        /// HTTP status of the answer.
        status: u16,
    },
    /// `activateAutoConfirm` got an answer.
    AutoConfirmAnswered {
        /// HTTP status of the answer.
        status: u16,
    },
    /// The device finished with an action.
    ActionEnded {
        /// Action id.
        action: u64,
        /// How.
        outcome: Outcome,
    },
}
