//! What an OTAU client observed, as facts for the [`crate::oracle::otau`]
//! oracle, the trace and the report.
//!
//! The client parses every answer once; the oracle never re-parses form
//! bodies or JSON. Events are drained by the driver after each call.

use crate::message::NetError;
use crate::protocol::transport::ReqKind;
use crate::time::Time;

use super::wire::Status;

/// Kind of OTAU request, for counters and latency histograms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OtauReq {
    /// `GET /onep:v1/stack/alias?config_otau` (long poll).
    LongPoll,
    /// `POST /onep:v1/stack/alias` with `config_otau=` (ACK).
    Ack,
    /// `POST /onep:v1/stack/alias` with `otau_in=` (status).
    Status,
    /// `GET /provision/download?id=…&info=true`.
    Info,
    /// `GET /provision/download?id=…` or an absolute payload URL.
    Download,
    /// `POST /provision/activate` (otau.md §4.5).
    Activate,
}

impl From<OtauReq> for ReqKind {
    fn from(r: OtauReq) -> Self {
        match r {
            OtauReq::LongPoll => ReqKind::OtauLongPoll,
            OtauReq::Ack => ReqKind::OtauAck,
            OtauReq::Status => ReqKind::OtauStatus,
            OtauReq::Info => ReqKind::OtauInfo,
            OtauReq::Download => ReqKind::OtauDownload,
            OtauReq::Activate => ReqKind::OtauActivate,
        }
    }
}

impl OtauReq {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            OtauReq::LongPoll => "long_poll",
            OtauReq::Ack => "ack",
            OtauReq::Status => "status",
            OtauReq::Info => "info",
            OtauReq::Download => "download",
            OtauReq::Activate => "activate",
        }
    }
}

/// One observation of an OTAU client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OtauEvent {
    /// A long poll sent at `sent` with `If-Modified-Since: ims` was answered 304.
    NotModified {
        /// When the poll was sent.
        sent: Time,
        /// The `If-Modified-Since` it carried (unix seconds).
        ims: u64,
        /// Its `Request-Timeout` (ms): a 304 well before it ends is an early answer.
        timeout_ms: u64,
    },
    /// A 200 answer carried a `config_otau` value (long poll, or a write's
    /// hybrid read-back). `busy`: the device was inside a cycle.
    Offered {
        /// The value's `version` (empty if unreadable).
        version: String,
        /// The device was working on another manifest.
        busy: bool,
    },
    /// The device starts processing a manifest with `files` payload files.
    Started {
        /// The manifest's version.
        version: String,
        /// Number of payload files to download.
        files: u32,
    },
    /// A manifest was refused (unknown `type`, malformed payload, not JSON).
    Refused {
        /// Its `version`, if readable.
        version: String,
        /// Why.
        reason: String,
    },
    /// The server accepted the device's `config_otau` write-back.
    Acked {
        /// Version of the acknowledged manifest.
        version: String,
    },
    /// The server accepted an `otau_in` status write.
    StatusAccepted {
        /// The report's `version`.
        version: String,
        /// The status.
        status: Status,
    },
    /// A downloaded file's size or hash differs from what `info=true` advertised.
    ContentMismatch {
        /// The payload entry.
        file: String,
    },
    /// Connector content of the running manifest was refused: its
    /// `info=true` line or its bytes were answered 403, 404 or 410 (pushed
    /// beside [`OtauEvent::Rejected`]; absolute payload URLs never are).
    ContentRefused {
        /// The payload entry.
        file: String,
        /// The status code.
        status: u16,
    },
    /// A request got a non-retriable error status.
    Rejected {
        /// Which request.
        kind: OtauReq,
        /// The status code.
        status: u16,
    },
    /// A request got no complete answer (or a 5xx/429) and will be retried.
    Retry {
        /// Which request.
        kind: OtauReq,
        /// The network error, if there was one.
        error: Option<NetError>,
    },
}
