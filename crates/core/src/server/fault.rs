//! "Broken server" modes of the embedded server and the time windows they
//! are active in.
//!
//! Every oracle invariant needs a test in which it fires; these modes are how
//! a test (or a scenario's `faults.server` list) breaks the reference server
//! in exactly one, named way. A window is active while `from <= now < until`;
//! several windows may be active at once, and their faults combine.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::message::{Headers, Response};
use crate::time::Time;

use super::respond;

/// One way to break the server.
///
/// Serialised as a bare snake_case name (`accept_feedback_after_close`), or
/// for [`Fault::Respond`] as a one-key map: `{ respond: 503 }` (the long form
/// `{ respond: { status: 503 } }` is accepted too). Deserialisation is
/// hand-written so that the short YAML form works.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Every DDI request is answered with `status`: 5xx with `Retry-After: 5`
    /// and an empty body, 429 with hawkBit's quota JSON body, others empty.
    Respond {
        /// HTTP status, 100..=599.
        status: u16,
    },
    /// Feedback on an inactive action answers 200 instead of 410 (and is stored).
    AcceptFeedbackAfterClose,
    /// The latest FINISHED/ERROR action is offered again as `deploymentBase`
    /// by the root when no action is active.
    ReopenClosedActions,
    /// `closed` + `failure` is stored as FINISHED (so `installedBase` links it) —
    /// breaks the seed-001 mapping.
    WrongStatusMapping,
    /// The `deploymentBase` body's `id` is the action id + 1 (never offered).
    DeploymentIdMismatch,
    /// Advertised sha1/md5/sha256 (and the `.MD5SUM` file) are not the content's hashes.
    WrongArtifactHash,
    /// Range requests get a full 200 body.
    IgnoreRange,
    /// The root answers `sleep: "00:00:01"`, below hawkBit's 30 s minimum.
    SleepBelowMinimum,
    /// 200 JSON answers are cut off halfway: not a JSON document any more.
    GarbageJson,
    /// Artifacts advertise only `sha1` (no `md5`, no `sha256`, no
    /// `md5sum-http` link), as goosebit 0.2.12 does.
    Sha1OnlyHashes,
    /// A deployment's `update` ignores its maintenance window: `forced`
    /// while `maintenanceWindow` says `unavailable` (hawkBit's
    /// `calculateUpdateType` answers `skip` then).
    IgnoreWindowInUpdateType,
    /// OTAU: the first long poll after a manifest change is answered 304
    /// although the new value is pending (see [`crate::server::otau::OtauFaults`]).
    OtauNotModifiedAfterChange,
    /// OTAU: a status write mid-update is answered with a newer manifest.
    OtauOverlapManifest,
    /// OTAU: an acknowledged manifest is delivered once more.
    OtauRedeliverAcked,
    /// OTAU: `/provision/download` serves other bytes than its info line describes.
    OtauWrongContent,
    /// OTAU: `/provision/download` answers `410 Gone` for the bytes of
    /// content it holds (its info line still answers), as if connector
    /// content expired like a presigned URL.
    OtauContentGone,
    /// ConstrainedGateway: install commands carry CDN URLs valid for one minute only.
    UrlShortValidity,
    /// CDN: an expired URL is served instead of refused with 410.
    CdnIgnoreExpiry,
    /// CDN: a URL with a wrong signature (e.g. an extended `expires`) is served instead of refused with 403.
    CdnIgnoreSignature,
    /// ConstrainedGateway (`refresh_on_online`): every online event re-fires the install
    /// command, breaking "once-per-device".
    RetriggerEveryOnline,
    /// ConstrainedGateway (`long_lived_cache`): an artifact is evicted as soon as one
    /// device reports its install, although others still need it.
    CacheEvictEarly,
    /// ConstrainedGateway: install commands for devices that are offline are dropped —
    /// the "only forward when online" design seed 000 warns against.
    DropCommandsWhileOffline,
    /// DDI documents asked for as `application/cbor` are answered as HAL-JSON
    /// (what fleetsim's server did before it encoded CBOR).
    CborAnsweredAsJson,
    /// The root stops offering an action whose latest history entry is a
    /// device's `scheduled` (a server that parks deferred updates) — breaks
    /// DDI-SOFT-DEFER. Give it a window that opens after the devices deferred.
    HideDeferredActions,
    /// Confirmation flow: the root links `deploymentBase` (not
    /// `confirmationBase`) for an action waiting for confirmation; the
    /// deployment itself still answers 404 until it is confirmed.
    LinkDeploymentWhileWaiting,
    /// Confirmation flow: a `denied` confirmation feedback is taken as
    /// consent: the waiting action turns RUNNING.
    DenialAsConsent,
    /// Twin: every third change is answered 204 and not applied (TWIN-LOST;
    /// see [`super::twin::TwinFaults`] for the twin modes).
    TwinDropChange,
    /// Twin: every third change is answered at once and applied after the
    /// next command on its thing (TWIN-ORDER).
    TwinReorderChange,
    /// Twin: every third change is applied twice (TWIN-DUP).
    TwinApplyTwice,
    /// Twin: thing IDs are stored and reported with `:` encoded as `%3A` (TWIN-ID).
    TwinEncodeColon,
    /// Twin: thing IDs are stored and reported percent-decoded (TWIN-ID).
    TwinLosePercentEncoding,
    /// Twin: each inbox message reaches the gateway twice, under two
    /// correlation-ids (TWIN-ONCE).
    TwinDeliverMessagesTwice,
    /// Twin: an HTTP write of a configuration property is pushed to the
    /// gateway as `$set.configuration` (TWIN-NOPUSH).
    TwinPushWrites,
}

impl Fault {
    /// True for the faults of the OTAU server core (the DDI core ignores them).
    pub fn is_otau(self) -> bool {
        matches!(
            self,
            Fault::OtauNotModifiedAfterChange
                | Fault::OtauOverlapManifest
                | Fault::OtauRedeliverAcked
                | Fault::OtauWrongContent
                | Fault::OtauContentGone
        )
    }

    /// True for the faults of the twin service (seed 002; the DDI core
    /// ignores them).
    pub fn is_twin(self) -> bool {
        self.name().starts_with("twin_")
    }

    /// True for the faults of the sidekick, gateway and CDN (seed 000).
    pub fn is_sidekick(self) -> bool {
        matches!(
            self,
            Fault::UrlShortValidity
                | Fault::CdnIgnoreExpiry
                | Fault::CdnIgnoreSignature
                | Fault::RetriggerEveryOnline
                | Fault::CacheEvictEarly
                | Fault::DropCommandsWhileOffline
        )
    }
}

/// Names of the unit faults, for parsing and error messages.
const UNIT_FAULTS: &[(&str, Fault)] = &[
    (
        "accept_feedback_after_close",
        Fault::AcceptFeedbackAfterClose,
    ),
    ("reopen_closed_actions", Fault::ReopenClosedActions),
    ("wrong_status_mapping", Fault::WrongStatusMapping),
    ("deployment_id_mismatch", Fault::DeploymentIdMismatch),
    ("wrong_artifact_hash", Fault::WrongArtifactHash),
    ("ignore_range", Fault::IgnoreRange),
    ("sleep_below_minimum", Fault::SleepBelowMinimum),
    ("garbage_json", Fault::GarbageJson),
    ("sha1_only_hashes", Fault::Sha1OnlyHashes),
    (
        "ignore_window_in_update_type",
        Fault::IgnoreWindowInUpdateType,
    ),
    (
        "otau_not_modified_after_change",
        Fault::OtauNotModifiedAfterChange,
    ),
    ("otau_overlap_manifest", Fault::OtauOverlapManifest),
    ("otau_redeliver_acked", Fault::OtauRedeliverAcked),
    ("otau_wrong_content", Fault::OtauWrongContent),
    ("otau_content_gone", Fault::OtauContentGone),
    ("url_short_validity", Fault::UrlShortValidity),
    ("cdn_ignore_expiry", Fault::CdnIgnoreExpiry),
    ("cdn_ignore_signature", Fault::CdnIgnoreSignature),
    ("retrigger_every_online", Fault::RetriggerEveryOnline),
    ("cache_evict_early", Fault::CacheEvictEarly),
    (
        "drop_commands_while_offline",
        Fault::DropCommandsWhileOffline,
    ),
    ("cbor_answered_as_json", Fault::CborAnsweredAsJson),
    ("hide_deferred_actions", Fault::HideDeferredActions),
    (
        "link_deployment_while_waiting",
        Fault::LinkDeploymentWhileWaiting,
    ),
    ("denial_as_consent", Fault::DenialAsConsent),
    ("twin_drop_change", Fault::TwinDropChange),
    ("twin_reorder_change", Fault::TwinReorderChange),
    ("twin_apply_twice", Fault::TwinApplyTwice),
    ("twin_encode_colon", Fault::TwinEncodeColon),
    ("twin_lose_percent_encoding", Fault::TwinLosePercentEncoding),
    (
        "twin_deliver_messages_twice",
        Fault::TwinDeliverMessagesTwice,
    ),
    ("twin_push_writes", Fault::TwinPushWrites),
];

/// Every fault name, `respond` first: derived from [`UNIT_FAULTS`], so a new
/// fault is named in one place.
const ALL_NAMES: &[&str] = &all_names();

const fn all_names() -> [&'static str; UNIT_FAULTS.len() + 1] {
    let mut names = ["respond"; UNIT_FAULTS.len() + 1];
    let mut i = 0;
    while i < UNIT_FAULTS.len() {
        names[i + 1] = UNIT_FAULTS[i].0;
        i += 1;
    }
    names
}

impl Fault {
    /// Stable snake_case name, as written in scenarios.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Respond { .. } => "respond",
            other => UNIT_FAULTS
                .iter()
                .find(|(_, f)| f == other)
                .map_or("respond", |(n, _)| n),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Respond { status } => write!(f, "respond: {status}"),
            other => f.write_str(other.name()),
        }
    }
}

impl Serialize for Fault {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Fault::Respond { status } => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("respond", status)?;
                map.end()
            }
            other => s.serialize_str(other.name()),
        }
    }
}

/// The value of `respond:` — a bare status or `{ status: N }`.
#[derive(Deserialize)]
#[serde(untagged)]
enum StatusArg {
    Bare(u16),
    Long { status: u16 },
}

struct FaultVisitor;

impl<'de> Visitor<'de> for FaultVisitor {
    type Value = Fault;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a fault name such as `ignore_range`, or `{ respond: 503 }`")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Fault, E> {
        if v == "respond" {
            return Err(E::custom(
                "fault `respond` needs a status, e.g. `{ respond: 503 }`",
            ));
        }
        unit_fault(v).ok_or_else(|| E::unknown_variant(v, ALL_NAMES))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fault, A::Error> {
        let key: String = map.next_key()?.ok_or_else(|| {
            de::Error::custom("empty fault map; expected e.g. `{ respond: 503 }`")
        })?;
        let fault = if key == "respond" {
            let status = match map.next_value::<StatusArg>()? {
                StatusArg::Bare(s) | StatusArg::Long { status: s } => s,
            };
            if !(100..=599).contains(&status) {
                return Err(de::Error::invalid_value(
                    de::Unexpected::Unsigned(status.into()),
                    &"an HTTP status between 100 and 599",
                ));
            }
            Fault::Respond { status }
        } else {
            let fault =
                unit_fault(&key).ok_or_else(|| de::Error::unknown_variant(&key, ALL_NAMES))?;
            map.next_value::<()>()?;
            fault
        };
        if map.next_key::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("a fault map has exactly one key"));
        }
        Ok(fault)
    }
}

fn unit_fault(name: &str) -> Option<Fault> {
    UNIT_FAULTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
}

impl<'de> Deserialize<'de> for Fault {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Fault, D::Error> {
        d.deserialize_any(FaultVisitor)
    }
}

/// The JSON Schema of what [`Fault`]'s deserialiser accepts: a fault name,
/// or `{ respond: <status> }` (also `{ respond: { status: <status> } }`).
/// The names come from `UNIT_FAULTS`, so a new fault is in the schema too.
impl schemars::JsonSchema for Fault {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FaultMode".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = UNIT_FAULTS.iter().map(|(n, _)| *n).collect();
        let status = schemars::json_schema!({ "type": "integer", "minimum": 100, "maximum": 599 });
        schemars::json_schema!({
            "description": "A server fault mode (a protocol bug of the embedded server), or `{ respond: <HTTP status> }`.",
            "anyOf": [
                { "type": "string", "enum": names },
                {
                    "type": "object",
                    "properties": {
                        "respond": {
                            "anyOf": [
                                status,
                                {
                                    "type": "object",
                                    "properties": { "status": status },
                                    "required": ["status"],
                                    "additionalProperties": false
                                }
                            ]
                        }
                    },
                    "required": ["respond"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// A fault and the time it is active: `from <= now < until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultWindow {
    /// First instant the fault is active.
    pub from: Time,
    /// First instant it is no longer active.
    pub until: Time,
    /// What breaks.
    pub fault: Fault,
}

impl FaultWindow {
    /// True while the window is open.
    pub fn active_at(&self, now: Time) -> bool {
        self.from <= now && now < self.until
    }
}

/// The faults active at one instant, looked up once per request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Active {
    /// The first active `Respond` window's status.
    pub(super) respond: Option<u16>,
    pub(super) accept_after_close: bool,
    pub(super) reopen_closed: bool,
    pub(super) wrong_mapping: bool,
    pub(super) id_mismatch: bool,
    pub(super) wrong_hash: bool,
    pub(super) ignore_range: bool,
    pub(super) sleep_below_min: bool,
    pub(super) garbage_json: bool,
    pub(super) sha1_only: bool,
    pub(super) cbor_as_json: bool,
    pub(super) hide_deferred: bool,
    pub(super) deploy_unconfirmed: bool,
    pub(super) denial_as_consent: bool,
    pub(super) ignore_window: bool,
    /// Faults of the OTAU core.
    pub(super) otau: super::otau::OtauFaults,
    /// Faults of the sidekick, gateway and CDN.
    pub(super) sidekick: GatewayFaults,
    /// Faults of the twin service.
    pub(super) twin: super::twin::TwinFaults,
}

/// Deliberate bugs of the sidekick, gateway and CDN (one URL-* invariant each).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GatewayFaults {
    /// URLs are signed for one minute (URL-HANDOUT).
    pub short_validity: bool,
    /// The CDN serves expired URLs (URL-REFUSE).
    pub ignore_expiry: bool,
    /// The CDN serves URLs with a wrong signature (URL-REFUSE).
    pub ignore_signature: bool,
    /// Every online event re-fires the install command (URL-ONCE).
    pub retrigger_every_online: bool,
    /// The cache evicts an artifact when the first device finishes (URL-EVICT).
    pub cache_evict_early: bool,
    /// Commands for devices not seen in the last minutes are dropped (URL-LIVE).
    pub drop_while_offline: bool,
}

impl Active {
    pub(super) fn at(windows: &[FaultWindow], now: Time) -> Active {
        let mut a = Active::default();
        for w in windows.iter().filter(|w| w.active_at(now)) {
            match w.fault {
                Fault::Respond { status } => a.respond = a.respond.or(Some(status)),
                Fault::AcceptFeedbackAfterClose => a.accept_after_close = true,
                Fault::ReopenClosedActions => a.reopen_closed = true,
                Fault::WrongStatusMapping => a.wrong_mapping = true,
                Fault::DeploymentIdMismatch => a.id_mismatch = true,
                Fault::WrongArtifactHash => a.wrong_hash = true,
                Fault::IgnoreRange => a.ignore_range = true,
                Fault::SleepBelowMinimum => a.sleep_below_min = true,
                Fault::GarbageJson => a.garbage_json = true,
                Fault::Sha1OnlyHashes => a.sha1_only = true,
                Fault::IgnoreWindowInUpdateType => a.ignore_window = true,
                Fault::OtauNotModifiedAfterChange => a.otau.not_modified_after_change = true,
                Fault::OtauOverlapManifest => a.otau.overlap_manifest = true,
                Fault::OtauRedeliverAcked => a.otau.redeliver_acked = true,
                Fault::OtauWrongContent => a.otau.wrong_content = true,
                Fault::OtauContentGone => a.otau.content_gone = true,
                Fault::UrlShortValidity => a.sidekick.short_validity = true,
                Fault::CdnIgnoreExpiry => a.sidekick.ignore_expiry = true,
                Fault::CdnIgnoreSignature => a.sidekick.ignore_signature = true,
                Fault::RetriggerEveryOnline => a.sidekick.retrigger_every_online = true,
                Fault::CacheEvictEarly => a.sidekick.cache_evict_early = true,
                Fault::DropCommandsWhileOffline => a.sidekick.drop_while_offline = true,
                Fault::CborAnsweredAsJson => a.cbor_as_json = true,
                Fault::HideDeferredActions => a.hide_deferred = true,
                Fault::LinkDeploymentWhileWaiting => a.deploy_unconfirmed = true,
                Fault::DenialAsConsent => a.denial_as_consent = true,
                Fault::TwinDropChange
                | Fault::TwinReorderChange
                | Fault::TwinApplyTwice
                | Fault::TwinEncodeColon
                | Fault::TwinLosePercentEncoding
                | Fault::TwinDeliverMessagesTwice
                | Fault::TwinPushWrites => {
                    let named = a.twin.with_name(w.fault.name());
                    a.twin = named.unwrap_or(a.twin);
                }
            }
        }
        a
    }
}

/// The answer of an active `Respond { status }` fault.
pub(super) fn respond(status: u16) -> Response {
    match status {
        429 => respond::quota("Quota exceeded (injected fault)"),
        500..=599 => Response {
            status,
            headers: Headers::new().with("retry-after", "5"),
            body: Default::default(),
        },
        _ => Response::status(status),
    }
}

/// A hex digest with its first digit changed: looks valid, is wrong.
pub(super) fn corrupt_hex(hex: &str) -> String {
    let mut out = String::with_capacity(hex.len());
    let mut chars = hex.chars();
    match chars.next() {
        Some('0') => out.push('1'),
        Some(_) => out.push('0'),
        None => out.push('0'),
    }
    out.extend(chars);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_and_long_forms() {
        let f: Fault = serde_yaml::from_str("{ respond: 503 }").expect("short");
        assert_eq!(f, Fault::Respond { status: 503 });
        let f: Fault = serde_yaml::from_str("respond: { status: 429 }").expect("long");
        assert_eq!(f, Fault::Respond { status: 429 });
        let f: Fault = serde_yaml::from_str("accept_feedback_after_close").expect("bare");
        assert_eq!(f, Fault::AcceptFeedbackAfterClose);
        for name in super::super::twin::TwinFaults::NAMES {
            let f: Fault = serde_yaml::from_str(name).expect("twin fault");
            assert!(f.is_twin() && !f.is_otau() && !f.is_sidekick(), "{name}");
            let windows = [FaultWindow {
                from: Time(0),
                until: Time(10),
                fault: f,
            }];
            let twin = Active::at(&windows, Time(5)).twin;
            assert_eq!(Some(twin), super::super::twin::TwinFaults::from_name(name));
        }
        let f: Fault = serde_json::from_str(r#"{"ignore_range":null}"#).expect("map unit");
        assert_eq!(f, Fault::IgnoreRange);
        for &(name, fault) in UNIT_FAULTS {
            assert_eq!(fault.name(), name);
            let json = serde_json::to_string(&fault).expect("ser");
            assert_eq!(
                serde_json::from_str::<Fault>(&json).expect("round trip"),
                fault
            );
        }
        let json = serde_json::to_string(&Fault::Respond { status: 500 }).expect("ser");
        assert_eq!(json, r#"{"respond":500}"#);
        assert_eq!(Fault::Respond { status: 500 }.name(), "respond");
    }

    #[test]
    fn refuses_bad_faults_with_useful_errors() {
        let e = serde_yaml::from_str::<Fault>("ignore_ranges").expect_err("unknown");
        assert!(e.to_string().contains("ignore_range"), "{e}");
        assert!(serde_yaml::from_str::<Fault>("respond").is_err());
        assert!(serde_yaml::from_str::<Fault>("{ respond: 99 }").is_err());
        assert!(serde_yaml::from_str::<Fault>("{ respond: 503, ignore_range: null }").is_err());
    }

    #[test]
    fn windows_are_half_open_and_combine() {
        let w = |from, until, fault| FaultWindow {
            from: Time(from),
            until: Time(until),
            fault,
        };
        let ws = [
            w(10, 20, Fault::Respond { status: 503 }),
            w(15, 30, Fault::IgnoreRange),
            w(15, 30, Fault::Respond { status: 500 }),
        ];
        assert_eq!(Active::at(&ws, Time(9)), Active::default());
        assert_eq!(Active::at(&ws, Time(10)).respond, Some(503));
        let a = Active::at(&ws, Time(15));
        assert!(a.ignore_range);
        assert_eq!(a.respond, Some(503));
        assert_eq!(Active::at(&ws, Time(20)).respond, Some(500));
        assert_eq!(Active::at(&ws, Time(30)), Active::default());
    }

    #[test]
    fn injected_responses() {
        let r = respond(503);
        assert_eq!(r.headers.get("retry-after"), Some("5"));
        assert!(r.body.is_empty());
        let r = respond(429);
        let body: serde_json::Value = serde_json::from_slice(r.body.as_bytes()).expect("json");
        assert_eq!(
            body["errorCode"],
            "hawkbit.server.error.quota.tooManyEntries"
        );
        assert_eq!(respond(404).status, 404);
        assert_eq!(corrupt_hex("0abc"), "1abc");
        assert_eq!(corrupt_hex("fabc"), "0abc");
    }
}

#[cfg(test)]
#[path = "fault_tests.rs"]
mod behaviour_tests;
