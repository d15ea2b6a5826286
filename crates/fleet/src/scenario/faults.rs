//! Deliberate faults a scenario injects: on the embedded server (a status,
//! a protocol bug, connection resets) and on the device side of real-time runs.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use super::units::{Duration, Fraction};

/// Deliberate faults.
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Faults of the embedded server.
    #[serde(default)]
    pub server: Vec<ServerFault>,
    /// Faults injected on the device side of real-time runs.
    #[serde(default)]
    pub client: Vec<ClientFault>,
}

/// A client-side fault during `[at, at + for)` (scenario time; whole run without `for`).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientFault {
    /// Start.
    #[serde(default)]
    pub at: Duration,
    /// Length.
    #[serde(default, rename = "for")]
    pub for_: Option<Duration>,
    /// Fraction of requests dropped before they are sent (the device times out).
    #[serde(default)]
    pub drop: Fraction,
    /// Extra delay (real time, not scaled) before each request is sent.
    #[serde(default)]
    pub delay: Option<Duration>,
    /// Fraction of downloads whose connection is cut after half the body.
    #[serde(default)]
    pub disconnect_mid_download: Fraction,
    /// Fraction of responses whose body is cut short (the connection then closes).
    #[serde(default)]
    pub truncate: Fraction,
}

/// A server fault active during `[at, at + for)` (whole run when `for` is absent).
///
/// Serialised in the form it is written: `{ at, for, mode | respond | reset }`.
#[derive(Clone, Debug)]
pub struct ServerFault {
    /// Start.
    pub at: Duration,
    /// Length; `None` = until the end of the run.
    pub for_: Option<Duration>,
    /// What goes wrong.
    pub what: FaultKind,
}

impl Serialize for ServerFault {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("at", &self.at)?;
        if let Some(len) = &self.for_ {
            map.serialize_entry("for", len)?;
        }
        match &self.what {
            FaultKind::Server(fleetsim_core::server::Fault::Respond { status }) => {
                map.serialize_entry("respond", status)?
            }
            FaultKind::Server(mode) => map.serialize_entry("mode", mode)?,
            FaultKind::Reset => map.serialize_entry("reset", &true)?,
        }
        map.end()
    }
}

/// What a server fault does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A fault of the embedded server core: a status for every request
    /// (`respond: 503`) or a protocol bug (`mode: ignore_range`, see
    /// [`fleetsim_core::server::Fault`] for the list).
    Server(fleetsim_core::server::Fault),
    /// The server resets connections instead of answering.
    Reset,
}

impl<'de> Deserialize<'de> for ServerFault {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            #[serde(default)]
            at: Duration,
            #[serde(default, rename = "for")]
            for_: Option<Duration>,
            #[serde(default)]
            respond: Option<u16>,
            #[serde(default)]
            reset: Option<bool>,
            #[serde(default)]
            mode: Option<fleetsim_core::server::Fault>,
        }
        let raw = Raw::deserialize(d)?;
        let what = match (raw.respond, raw.reset, raw.mode) {
            (Some(status), None, None) if (100..=599).contains(&status) => {
                FaultKind::Server(fleetsim_core::server::Fault::Respond { status })
            }
            (Some(status), None, None) => {
                return Err(de::Error::custom(format!(
                    "expected an HTTP status between 100 and 599 in `respond`, found {status}"
                )))
            }
            (None, Some(true), None) => FaultKind::Reset,
            (None, None, Some(mode)) => FaultKind::Server(mode),
            _ => {
                return Err(de::Error::custom(
                    "expected exactly one of `respond: <status>`, `reset: true` or `mode: <fault mode>`",
                ))
            }
        };
        Ok(ServerFault {
            at: raw.at,
            for_: raw.for_,
            what,
        })
    }
}
