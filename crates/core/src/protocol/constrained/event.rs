//! What a constrained device observed, as facts for the oracle, the trace and
//! the report.

use crate::protocol::transport::ReqKind;

/// The kinds of request a constrained device sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstrainedReq {
    /// The one poll of a wake-up.
    Poll,
    /// The online event (`connect: true`).
    Online,
    /// An artifact download (CDN or cache).
    Download,
}

impl From<ConstrainedReq> for ReqKind {
    fn from(kind: ConstrainedReq) -> ReqKind {
        match kind {
            ConstrainedReq::Poll => ReqKind::CpgPoll,
            ConstrainedReq::Online => ReqKind::CpgOnline,
            ConstrainedReq::Download => ReqKind::CpgDownload,
        }
    }
}

/// One observation of a constrained device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConstrainedEvent {
    /// A request went out.
    Sent {
        /// Its kind.
        kind: ConstrainedReq,
    },
    /// A poll or online answer carried a pending install.
    Offered {
        /// The install command's id.
        command: String,
        /// Artifact size.
        size: u64,
        /// Download URL, absent under `connect`.
        url: Option<String>,
        /// "Connect for update" (strategy `refresh_on_online`).
        connect: bool,
    },
    /// A download URL was refused (`410`, `403`, `404`, …).
    UrlRefused {
        /// The install command.
        command: String,
        /// The refused URL.
        url: String,
        /// The answer's status.
        status: u16,
    },
    /// The artifact arrived whole and matched its size and sha256.
    Downloaded {
        /// The install command.
        command: String,
    },
    /// The (offline) install ended.
    Installed {
        /// The install command.
        command: String,
        /// Whether it succeeded.
        ok: bool,
    },
    /// The gateway accepted the result report.
    Reported {
        /// The install command.
        command: String,
        /// Success or failure.
        ok: bool,
        /// Why it failed (`hash`, `size`, `url_refused`, `download`, `install`).
        detail: Option<String>,
    },
    /// The device gave up on the install command.
    Failed {
        /// The install command.
        command: String,
        /// Why (the report's `detail`).
        detail: &'static str,
    },
    /// A request failed in a way worth retrying (5xx, 429, network, garbage).
    Retry {
        /// Its kind.
        kind: ConstrainedReq,
    },
    /// The gateway changed the poll interval.
    Interval {
        /// The new interval.
        seconds: u64,
    },
}
