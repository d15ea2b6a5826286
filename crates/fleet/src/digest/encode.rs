//! The canonical encoding of everything that enters a device's trace hash:
//! the observations of each protocol client, the requests and answers of
//! clients whose observations do not carry them, MQTT deliveries, and what
//! the server cores did to the device.
//!
//! Each entry is the time in ms, then a code from [`code`], then its fields.
//! The codes are pinned by the shipped scenarios' digests
//! (`tests/data/scenario-digests.txt`): never renumber one, only add.

use fleetsim_core::message::NetError;
use fleetsim_core::protocol::constrained::ConstrainedEvent;
use fleetsim_core::protocol::ddi::{DdiEvent, Offer, Outcome};
use fleetsim_core::protocol::edge::EdgeEvent;
use fleetsim_core::protocol::otau::OtauEvent;
use fleetsim_core::protocol::{Delivery, ReqKind};
use fleetsim_core::time::Time;

use super::TraceHash;

/// The code word of each kind of trace entry.
pub mod code {
    /// DDI: a request left (`kind * 2 + scheduled` follows).
    pub const DDI_SENT: u64 = 1;
    /// DDI: no complete answer (`kind * 16 + error`).
    pub const DDI_NET_FAILED: u64 = 2;
    /// DDI: an answer (`kind * 1000 + status`).
    pub const DDI_ANSWERED: u64 = 3;
    /// DDI: a parsed root answer.
    pub const DDI_ROOT_SEEN: u64 = 4;
    /// DDI: a parsed `deploymentBase`.
    pub const DDI_DEPLOYMENT_SEEN: u64 = 5;
    /// DDI: a feedback's answer.
    pub const DDI_FEEDBACK_ANSWERED: u64 = 6;
    /// DDI: a Range request's answer.
    pub const DDI_RANGE_ANSWERED: u64 = 7;
    /// DDI: an artifact checked against its hashes.
    pub const DDI_ARTIFACT_CHECKED: u64 = 8;
    /// DDI: the coarse state changed.
    pub const DDI_PHASE_CHANGED: u64 = 9;
    /// DDI: an action ended.
    pub const DDI_ACTION_ENDED: u64 = 10;
    /// DDI: an unreadable 200 answer.
    pub const DDI_UNREADABLE: u64 = 11;
    /// DDI: `installedBase` read after the reboot (`action * 2 + matches`).
    pub const DDI_INSTALLED_CHECKED: u64 = 12;
    /// DDI: a 200 answer to a CBOR device that is not CBOR.
    pub const DDI_WRONG_MEDIA: u64 = 13;
    /// DDI: asked for consent (`confirmationBase/{id}` read).
    pub const DDI_CONSENT_ASKED: u64 = 14;
    /// DDI: a confirmation feedback's answer.
    pub const DDI_CONSENT_GIVEN: u64 = 15;
    /// DDI: the auto-confirm activation's answer.
    pub const DDI_AUTO_CONFIRM: u64 = 16;

    /// OTAU: a long poll answered 304.
    pub const OTAU_NOT_MODIFIED: u64 = 101;
    /// OTAU: a `config_otau` value offered (`+ 1` while busy).
    pub const OTAU_OFFERED: u64 = 102;
    /// OTAU: a manifest started.
    pub const OTAU_STARTED: u64 = 104;
    /// OTAU: a manifest refused.
    pub const OTAU_REFUSED: u64 = 105;
    /// OTAU: the write-back accepted.
    pub const OTAU_ACKED: u64 = 106;
    /// OTAU: a status write accepted.
    pub const OTAU_STATUS_ACCEPTED: u64 = 107;
    /// OTAU: a file unlike its info line.
    pub const OTAU_CONTENT_MISMATCH: u64 = 108;
    /// OTAU: a non-retriable error status.
    pub const OTAU_REJECTED: u64 = 109;
    /// OTAU: a retry.
    pub const OTAU_RETRY: u64 = 110;
    /// OTAU: connector content refused (403/404/410).
    pub const OTAU_CONTENT_REFUSED: u64 = 111;

    /// OTAU: a request left (`+ kind`).
    pub const OTAU_SENT: u64 = 200;
    /// OTAU: an answer (`+ status`).
    pub const OTAU_ANSWERED: u64 = 300;
    /// OTAU: no complete answer (`+ error`).
    pub const OTAU_BROKEN: u64 = 1000;

    /// Constrained device: a request left (`+ kind`).
    pub const CONSTRAINED_SENT: u64 = 400;
    /// Constrained device: an answer (`+ status`).
    pub const CONSTRAINED_ANSWERED: u64 = 500;
    /// Constrained device: no complete answer (`+ error`).
    pub const CONSTRAINED_BROKEN: u64 = 1100;

    /// Edge gateway: an observation of its Ditto session (its `Debug` text follows).
    pub const EDGE: u64 = 600;

    /// MQTT: a PUBACK came.
    pub const PUBLISHED: u64 = 2000;
    /// MQTT: no PUBACK came (`+ error`).
    pub const PUBLISH_FAILED: u64 = 2001;
    /// MQTT: a retained value pushed to the device (its text follows).
    pub const MESSAGE: u64 = 3000;

    /// OTAU server: a campaign wrote `config_otau` (`| campaign index`).
    pub const MANIFEST_WRITTEN: u64 = 0x07a0_0000;
    /// Constrained-device gateway: an install command fired
    /// (`| command << 1 | reissue`).
    pub const COMMAND_FIRED: u64 = 0x0c90_0000;
}

/// Bases of the request and answer marks of a protocol whose client reports
/// neither as an observation: `sent + kind`, `answered + status`,
/// `broken + error`.
#[derive(Clone, Copy, Debug)]
pub struct TransportCodes {
    /// Base of a sent request's mark.
    pub sent: u64,
    /// Base of a complete answer's mark.
    pub answered: u64,
    /// Base of a failed request's mark.
    pub broken: u64,
}

/// What enters a device's trace hash for an observation.
pub trait Encode {
    /// The request and answer marks, for clients whose observations do not
    /// carry them.
    const TRANSPORT: Option<TransportCodes> = None;

    /// Mixes the observation, made at `at`, into `hash`.
    fn encode(&self, at: Time, hash: &mut TraceHash);
}

impl TraceHash {
    /// A request of `kind` left at `at` (see [`Encode::TRANSPORT`]).
    pub fn sent(&mut self, codes: TransportCodes, at: Time, kind: ReqKind) {
        self.word(at.as_millis());
        self.word(codes.sent + kind as u64);
    }

    /// What came of a request, at `at` (see [`Encode::TRANSPORT`]).
    pub fn delivered(&mut self, codes: TransportCodes, at: Time, delivery: &Delivery) {
        self.word(at.as_millis());
        self.word(match delivery {
            Delivery::Complete(r) => codes.answered + u64::from(r.status),
            Delivery::Broken(e, _) => codes.broken + *e as u64,
        });
    }

    /// What came of an MQTT publish.
    pub fn published(&mut self, at: Time, result: Result<(), NetError>) {
        self.word(at.as_millis());
        self.word(match result {
            Ok(()) => code::PUBLISHED,
            Err(e) => code::PUBLISH_FAILED + e as u64,
        });
    }

    /// An MQTT message pushed to the device.
    pub fn message(&mut self, at: Time, value: &str) {
        self.word(at.as_millis());
        self.word(code::MESSAGE);
        self.text(value);
    }

    /// The DDI server moved the device's action `action` to status `to`.
    pub fn action_status(&mut self, at: Time, action: u64, to: u64) {
        self.word(at.as_millis());
        self.word(action << 8 | to);
    }

    /// Campaign `campaign` (index) wrote the device's `config_otau`.
    pub fn manifest_written(&mut self, at: Time, campaign: usize) {
        self.word(at.as_millis());
        self.word(code::MANIFEST_WRITTEN | campaign as u64);
    }

    /// The gateway fired install command `command` for the device.
    pub fn command_fired(&mut self, at: Time, command: u64, reissue: bool) {
        self.word(at.as_millis());
        self.word(code::COMMAND_FIRED | command << 1 | u64::from(reissue));
    }

    fn optional(&mut self, value: Option<u64>) {
        self.word(value.unwrap_or(u64::MAX));
    }
}

impl Encode for DdiEvent {
    fn encode(&self, at: Time, h: &mut TraceHash) {
        h.word(at.as_millis());
        match self {
            DdiEvent::Sent { kind, scheduled } => {
                h.word(code::DDI_SENT);
                h.word(*kind as u64 * 2 + *scheduled as u64);
            }
            DdiEvent::NetFailed { kind, error } => {
                h.word(code::DDI_NET_FAILED);
                h.word(*kind as u64 * 16 + *error as u64);
            }
            DdiEvent::Answered { kind, status } => {
                h.word(code::DDI_ANSWERED);
                h.word(*kind as u64 * 1000 + u64::from(*status));
            }
            DdiEvent::RootSeen {
                sleep,
                offer,
                installed,
                config_data,
            } => {
                h.word(code::DDI_ROOT_SEEN);
                h.optional(sleep.map(|s| s.as_millis()));
                let (tag, id) = match offer {
                    Offer::Nothing => (0, 0),
                    Offer::Deployment(a) => (1, *a),
                    Offer::Cancel(a) => (2, *a),
                    Offer::Confirmation(a) => (3, *a),
                };
                h.word(tag);
                h.word(id);
                h.optional(*installed);
                h.word(*config_data as u64);
            }
            DdiEvent::DeploymentSeen {
                url_action,
                body_action,
                download,
                update,
                windowed,
                window_closed: _,
                bad_hashes: _,
            } => {
                h.word(code::DDI_DEPLOYMENT_SEEN);
                h.word(*url_action);
                h.word(*body_action);
                h.word(*download as u64 * 16 + *update as u64 * 2 + *windowed as u64);
            }
            DdiEvent::FeedbackAnswered {
                action,
                cancel,
                execution,
                finished,
                status,
            } => {
                h.word(code::DDI_FEEDBACK_ANSWERED);
                h.word(*action);
                h.word(
                    (*execution as u64) << 20
                        | (*finished as u64) << 16
                        | (*cancel as u64) << 12
                        | u64::from(*status),
                );
            }
            other => encode_ddi_rest(other, h),
        }
    }
}

/// The DDI observations about downloads, phases and endings.
fn encode_ddi_rest(ev: &DdiEvent, h: &mut TraceHash) {
    match ev {
        DdiEvent::RangeAnswered {
            from,
            status,
            served_from,
        } => {
            h.word(code::DDI_RANGE_ANSWERED);
            h.word(*from);
            h.word(u64::from(*status));
            h.optional(*served_from);
        }
        DdiEvent::ArtifactChecked { action, matches } => {
            h.word(code::DDI_ARTIFACT_CHECKED);
            h.word(*action * 2 + *matches as u64);
        }
        DdiEvent::Unreadable { kind } => {
            h.word(code::DDI_UNREADABLE);
            h.word(*kind as u64);
        }
        DdiEvent::WrongMedia { kind } => {
            h.word(code::DDI_WRONG_MEDIA);
            h.word(*kind as u64);
        }
        DdiEvent::ConsentAsked { action } => {
            h.word(code::DDI_CONSENT_ASKED);
            h.word(*action);
        }
        DdiEvent::ConsentGiven {
            action,
            confirmed,
            status,
        } => {
            h.word(code::DDI_CONSENT_GIVEN);
            h.word(*action);
            h.word((*confirmed as u64) << 12 | u64::from(*status));
        }
        DdiEvent::AutoConfirmAnswered { status } => {
            h.word(code::DDI_AUTO_CONFIRM);
            h.word(u64::from(*status));
        }
        DdiEvent::PhaseChanged(p) => {
            h.word(code::DDI_PHASE_CHANGED);
            h.word(*p as u64);
        }
        DdiEvent::ActionEnded { action, outcome } => {
            h.word(code::DDI_ACTION_ENDED);
            h.word(*action);
            match outcome {
                Outcome::Success => h.word(0),
                Outcome::Failure(reason) => {
                    h.word(1);
                    h.text(reason);
                }
                Outcome::Canceled => h.word(2),
                Outcome::Withdrawn => h.word(3),
                Outcome::Rejected => h.word(4),
            }
        }
        DdiEvent::InstalledChecked { action, matches } => {
            h.word(code::DDI_INSTALLED_CHECKED);
            h.word(*action * 2 + *matches as u64);
        }
        DdiEvent::Sent { .. }
        | DdiEvent::NetFailed { .. }
        | DdiEvent::Answered { .. }
        | DdiEvent::RootSeen { .. }
        | DdiEvent::DeploymentSeen { .. }
        | DdiEvent::FeedbackAnswered { .. } => {}
    }
}

impl Encode for OtauEvent {
    const TRANSPORT: Option<TransportCodes> = Some(TransportCodes {
        sent: code::OTAU_SENT,
        answered: code::OTAU_ANSWERED,
        broken: code::OTAU_BROKEN,
    });

    fn encode(&self, at: Time, h: &mut TraceHash) {
        h.word(at.as_millis());
        match self {
            OtauEvent::NotModified { sent, ims, .. } => {
                h.word(code::OTAU_NOT_MODIFIED);
                h.word(sent.as_millis());
                h.word(*ims);
            }
            OtauEvent::Offered { version, busy } => {
                h.word(code::OTAU_OFFERED + u64::from(*busy));
                h.text(version);
            }
            OtauEvent::Started { version, files } => {
                h.word(code::OTAU_STARTED);
                h.text(version);
                h.word(u64::from(*files));
            }
            OtauEvent::Refused { version, reason } => {
                h.word(code::OTAU_REFUSED);
                h.text(version);
                h.text(reason);
            }
            OtauEvent::Acked { version } => {
                h.word(code::OTAU_ACKED);
                h.text(version);
            }
            OtauEvent::StatusAccepted { version, status } => {
                h.word(code::OTAU_STATUS_ACCEPTED);
                h.text(version);
                h.text(status.as_str());
            }
            OtauEvent::ContentMismatch { file } => {
                h.word(code::OTAU_CONTENT_MISMATCH);
                h.text(file);
            }
            OtauEvent::ContentRefused { file, status } => {
                h.word(code::OTAU_CONTENT_REFUSED);
                h.text(file);
                h.word(u64::from(*status));
            }
            OtauEvent::Rejected { kind, status } => {
                h.word(code::OTAU_REJECTED);
                h.word(*kind as u64 * 1000 + u64::from(*status));
            }
            OtauEvent::Retry { kind, error } => {
                h.word(code::OTAU_RETRY);
                h.word(*kind as u64 * 16 + error.map_or(15, |e| e as u64));
            }
        }
    }
}

impl Encode for ConstrainedEvent {
    const TRANSPORT: Option<TransportCodes> = Some(TransportCodes {
        sent: code::CONSTRAINED_SENT,
        answered: code::CONSTRAINED_ANSWERED,
        broken: code::CONSTRAINED_BROKEN,
    });

    /// The event's `Debug` text, without a time (the request and answer
    /// marks carry it). Changing the event type's fields or names changes
    /// digests: the pinned digests test says so.
    fn encode(&self, _at: Time, h: &mut TraceHash) {
        h.text(&format!("{self:?}"));
    }
}

impl Encode for EdgeEvent {
    /// The time, then the event's `Debug` text (correlation-ids, statuses,
    /// counts): frames carry no HTTP requests to mark.
    fn encode(&self, at: Time, h: &mut TraceHash) {
        h.word(at.as_millis());
        h.word(code::EDGE);
        h.text(&format!("{self:?}"));
    }
}
