//! Trace digests: a running 64-bit hash per device over a canonical encoding
//! of its events, and a combined digest over all devices in device order.
//!
//! The per-device hash is a fixed function of the event sequence (no
//! `Hash` impls, no pointer values, no map order), so it is identical across
//! runs, machines and shards. The combined digest is SHA-256 over the
//! per-device digests in device-number order.

use sha2::{Digest, Sha256};

use fleetsim_core::protocol::ddi::{DdiEvent, Offer, Outcome};
use fleetsim_core::protocol::otau::OtauEvent;
use fleetsim_core::time::Time;

/// A running per-device trace hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHash(pub u64);

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash(0x9E37_79B9_7F4A_7C15)
    }
}

impl TraceHash {
    /// The 16-hex-digit form reports store (`device_digests`).
    pub fn to_hex(self) -> String {
        format!("{:016x}", self.0)
    }

    /// Reads [`TraceHash::to_hex`]'s form back.
    pub fn from_hex(text: &str) -> Option<TraceHash> {
        u64::from_str_radix(text, 16).ok().map(TraceHash)
    }

    /// Mixes one word in.
    pub fn word(&mut self, w: u64) {
        let x = (self.0 ^ w).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        self.0 = (x ^ (x >> 31)).wrapping_mul(0x94D0_49BB_1331_11EB) ^ (x >> 29);
    }

    /// Mixes a string in.
    pub fn text(&mut self, s: &str) {
        self.word(xxhash_rust::xxh3::xxh3_64(s.as_bytes()));
    }

    /// Mixes an OTAU device event in.
    pub fn otau_event(&mut self, at: Time, ev: &OtauEvent) {
        self.word(at.as_millis());
        match ev {
            OtauEvent::NotModified { sent, ims, .. } => {
                self.word(101);
                self.word(sent.as_millis());
                self.word(*ims);
            }
            OtauEvent::Offered { version, busy } => {
                self.word(102 + u64::from(*busy));
                self.text(version);
            }
            OtauEvent::Started { version, files } => {
                self.word(104);
                self.text(version);
                self.word(u64::from(*files));
            }
            OtauEvent::Refused { version, reason } => {
                self.word(105);
                self.text(version);
                self.text(reason);
            }
            OtauEvent::Acked { version } => {
                self.word(106);
                self.text(version);
            }
            OtauEvent::StatusAccepted { version, status } => {
                self.word(107);
                self.text(version);
                self.text(status.as_str());
            }
            OtauEvent::ContentMismatch { file } => {
                self.word(108);
                self.text(file);
            }
            OtauEvent::Rejected { kind, status } => {
                self.word(109);
                self.word(*kind as u64 * 1000 + u64::from(*status));
            }
            OtauEvent::Retry { kind, error } => {
                self.word(110);
                self.word(*kind as u64 * 16 + error.map_or(15, |e| e as u64));
            }
        }
    }

    /// Mixes a device event in.
    pub fn event(&mut self, at: Time, ev: &DdiEvent) {
        self.word(at.as_millis());
        match ev {
            DdiEvent::Sent { kind, scheduled } => {
                self.word(1);
                self.word(*kind as u64 * 2 + *scheduled as u64);
            }
            DdiEvent::NetFailed { kind, error } => {
                self.word(2);
                self.word(*kind as u64 * 16 + *error as u64);
            }
            DdiEvent::Answered { kind, status } => {
                self.word(3);
                self.word(*kind as u64 * 1000 + u64::from(*status));
            }
            DdiEvent::RootSeen {
                sleep,
                offer,
                installed,
                config_data,
            } => {
                self.word(4);
                self.word(sleep.map_or(u64::MAX, |s| s.as_millis()));
                let (tag, id) = match offer {
                    Offer::Nothing => (0, 0),
                    Offer::Deployment(a) => (1, *a),
                    Offer::Cancel(a) => (2, *a),
                    Offer::Confirmation(a) => (3, *a),
                };
                self.word(tag);
                self.word(id);
                self.word(installed.map_or(u64::MAX, |a| a));
                self.word(*config_data as u64);
            }
            DdiEvent::DeploymentSeen {
                url_action,
                body_action,
                download,
                update,
                windowed,
                bad_hashes: _,
            } => {
                self.word(5);
                self.word(*url_action);
                self.word(*body_action);
                self.word(*download as u64 * 16 + *update as u64 * 2 + *windowed as u64);
            }
            DdiEvent::FeedbackAnswered {
                action,
                cancel,
                execution,
                finished,
                status,
            } => {
                self.word(6);
                self.word(*action);
                self.word(
                    (*execution as u64) << 20
                        | (*finished as u64) << 16
                        | (*cancel as u64) << 12
                        | u64::from(*status),
                );
            }
            DdiEvent::RangeAnswered {
                from,
                status,
                served_from,
            } => {
                self.word(7);
                self.word(*from);
                self.word(u64::from(*status));
                self.word(served_from.map_or(u64::MAX, |s| s));
            }
            DdiEvent::ArtifactChecked { action, matches } => {
                self.word(8);
                self.word(*action * 2 + *matches as u64);
            }
            DdiEvent::Unreadable { kind } => {
                self.word(11);
                self.word(*kind as u64);
            }
            DdiEvent::PhaseChanged(p) => {
                self.word(9);
                self.word(*p as u64);
            }
            DdiEvent::ActionEnded { action, outcome } => {
                self.word(10);
                self.word(*action);
                match outcome {
                    Outcome::Success => self.word(0),
                    Outcome::Failure(reason) => {
                        self.word(1);
                        self.text(reason);
                    }
                    Outcome::Canceled => self.word(2),
                    Outcome::Withdrawn => self.word(3),
                }
            }
        }
    }
}

/// Combines per-device digests, given in device-number order, into the run digest.
pub fn combine<'a>(digests: impl IntoIterator<Item = (u64, &'a TraceHash)>) -> String {
    let mut h = Sha256::new();
    for (device, d) in digests {
        h.update(device.to_le_bytes());
        h.update(d.0.to_le_bytes());
    }
    hex::encode(h.finalize())
}
