//! What travels between a protocol client and its driver, whatever the
//! protocol: what a client wants sent ([`Transmit`]), what came of it
//! ([`Delivery`]) and the kind of each request ([`ReqKind`]) for counters and
//! latency histograms.

use crate::message::{NetError, Request, Response};
#[cfg(doc)]
use crate::protocol::Client;

/// What the client wants sent: an HTTP request, (MQTT) a resource publish,
/// or a text frame on a message session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transmit {
    /// Send this HTTP request; answer with [`Client::handle_response`].
    Http(Request),
    /// Publish `value` (raw, no form encoding) to resource `alias`
    /// (`config_otau` for the ACK, `otau_in` for a status) with QoS 1; answer
    /// with [`Client::handle_published`].
    Publish {
        /// `config_otau` or `otau_in`.
        alias: &'static str,
        /// The raw value.
        value: String,
    },
    /// A text frame on the device's message session (a Ditto Protocol
    /// WebSocket, `/ws/2`: one Ditto Protocol JSON or control frame per
    /// frame). No transport-level acknowledgement: answers come back as
    /// frames through [`Client::handle_message`] (alias `ditto`).
    Frame(String),
}

impl Transmit {
    /// The HTTP request, if this is one.
    pub fn into_http(self) -> Option<Request> {
        match self {
            Transmit::Http(r) => Some(r),
            Transmit::Publish { .. } | Transmit::Frame(_) => None,
        }
    }
}

/// What came of a request.
pub enum Delivery {
    /// A complete response.
    Complete(Response),
    /// No complete response; a download may have received a prefix of its body.
    Broken(NetError, Option<Response>),
}

/// Kind of request, over all protocols, for counters and latency histograms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReqKind {
    /// `GET {base}`.
    Root,
    /// `PUT {base}/configData`.
    ConfigData,
    /// `GET deploymentBase/{id}`.
    Deployment,
    /// `POST deploymentBase/{id}/feedback`.
    Feedback,
    /// `GET cancelAction/{id}`.
    Cancel,
    /// `POST cancelAction/{id}/feedback`.
    CancelFeedback,
    /// `GET …/artifacts/{file}`.
    Download,
    /// OTAU: `GET /onep:v1/stack/alias?config_otau` (long poll).
    OtauLongPoll,
    /// OTAU: `config_otau` written back (ACK), over HTTP or MQTT.
    OtauAck,
    /// OTAU: an `otau_in` status write, over HTTP or MQTT.
    OtauStatus,
    /// OTAU: `GET /provision/download?…&info=true`.
    OtauInfo,
    /// OTAU: a payload file's content.
    OtauDownload,
    /// CPG: the constrained device's one poll of the gateway.
    CpgPoll,
    /// CPG: the online event (`refresh_on_online`).
    CpgOnline,
    /// CPG: an artifact download from the CDN or the cache.
    CpgDownload,
    /// `GET confirmationBase/{id}`.
    Confirmation,
    /// `POST confirmationBase/{id}/feedback`.
    ConfirmationFeedback,
    /// `POST confirmationBase/activateAutoConfirm`.
    AutoConfirm,
    /// Edge gateway: a Ditto Protocol twin command frame (seed 002).
    TwinCommand,
    /// OTAU: `POST /provision/activate`.
    OtauActivate,
}

impl ReqKind {
    /// Every kind, in report order.
    pub const ALL: [ReqKind; 20] = [
        ReqKind::Root,
        ReqKind::ConfigData,
        ReqKind::Deployment,
        ReqKind::Feedback,
        ReqKind::Cancel,
        ReqKind::CancelFeedback,
        ReqKind::Download,
        ReqKind::OtauLongPoll,
        ReqKind::OtauAck,
        ReqKind::OtauStatus,
        ReqKind::OtauInfo,
        ReqKind::OtauDownload,
        ReqKind::CpgPoll,
        ReqKind::CpgOnline,
        ReqKind::CpgDownload,
        ReqKind::Confirmation,
        ReqKind::ConfirmationFeedback,
        ReqKind::AutoConfirm,
        ReqKind::TwinCommand,
        ReqKind::OtauActivate,
    ];

    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReqKind::Root => "root",
            ReqKind::ConfigData => "config_data",
            ReqKind::Deployment => "deployment_base",
            ReqKind::Feedback => "feedback",
            ReqKind::Cancel => "cancel_action",
            ReqKind::CancelFeedback => "cancel_feedback",
            ReqKind::Download => "download",
            ReqKind::OtauLongPoll => "otau_long_poll",
            ReqKind::OtauAck => "otau_ack",
            ReqKind::OtauStatus => "otau_status",
            ReqKind::OtauInfo => "otau_info",
            ReqKind::OtauDownload => "otau_download",
            ReqKind::CpgPoll => "cpg_poll",
            ReqKind::CpgOnline => "cpg_online",
            ReqKind::CpgDownload => "cpg_download",
            ReqKind::Confirmation => "confirmation",
            ReqKind::ConfirmationFeedback => "confirm_feedback",
            ReqKind::AutoConfirm => "auto_confirm",
            ReqKind::TwinCommand => "twin_command",
            ReqKind::OtauActivate => "otau_activate",
        }
    }
}
