//! The `gateway:` block of a `protocol: ditto` fleet group (seed 002): what
//! each gateway's runtime holds, how its edge devices come, change and go,
//! and what the backend does through the twin service.
//!
//! ```yaml
//! fleet:
//!   - name: gateways
//!     kind: always_on
//!     count: 200
//!     protocol: ditto
//!     connectivity: { online_every: 4h, online_for: 3h, loss: 1% }
//!     gateway:
//!       namespace: org.acme
//!       edge_devices: 50        # at the start
//!       change_every: 2h        # each edge device changes a property this often (mean)
//!       churn_every: 1d         # an edge device leaves and a new one appears (mean, per gateway)
//!       commands_every: 12h     # a backend `$set.configuration` through the twin (mean, per gateway)
//!       twin_writes_every: 1d   # a backend write straight to the twin API (mean, per gateway)
//!       buffer: 1024            # offline buffer bound (changes)
//!       ddi: all                # DDI controllers: none (default), gateway, all
//! ```
//!
//! With `ddi: gateway` each gateway also runs a hawkBit DDI controller for
//! itself (controller id = the gateway's serial, the group's `auth`); with
//! `ddi: all` it runs one more per edge-device slot *through the gateway*
//! (controller id `<serial>-edge-<k>`, `Authorization: GatewayToken …`, so
//! `server.gateway_token` must be set). These controllers share the
//! gateway's link and online windows and take part in campaigns: a
//! campaign's `targets` select them as their gateway (group, kind,
//! `protocol: ditto`), `edge: false` only the gateways' own, `edge: true`
//! only the edge devices' (see `crate::gateway_ddi`).
//!
//! Every interval is the mean of an exponential draw from the gateway's own
//! random stream, so a gateway's history depends only on the seed and its
//! number.

use serde::{Deserialize, Serialize};

use super::units::Duration;
use fleetsim_core::time::Span;

/// A gateway group's settings (see the module doc).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewaySpec {
    /// Ditto namespace of the gateway's things.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Edge devices behind each gateway at the start.
    #[serde(default = "default_edge_devices")]
    pub edge_devices: u32,
    /// Mean time between property changes of one edge device (`null`: never).
    #[serde(default = "default_change_every")]
    pub change_every: Option<Duration>,
    /// Mean time between edge-device churns (one leaves, a new one comes) per gateway.
    #[serde(default)]
    pub churn_every: Option<Duration>,
    /// Mean time between backend `$set.configuration` commands per gateway.
    #[serde(default)]
    pub commands_every: Option<Duration>,
    /// Mean time between backend writes straight to the twin per gateway
    /// (seed 002: such a write is not reflected on the device).
    #[serde(default)]
    pub twin_writes_every: Option<Duration>,
    /// Bound of the offline buffer, in changes. At the bound the oldest
    /// change is dropped and counted, and the next connect sends a catch-up
    /// diff of the whole state instead of the replay.
    #[serde(default = "default_buffer")]
    pub buffer: u32,
    /// Which DDI controllers the gateway runs (see the module doc).
    #[serde(default)]
    pub ddi: GatewayDdi,
}

/// The DDI controllers a gateway runs (`gateway.ddi`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum GatewayDdi {
    /// None: the gateway only mirrors its edge devices.
    #[default]
    None,
    /// One for the gateway itself.
    Gateway,
    /// One for the gateway and one per edge-device slot (GatewayToken).
    All,
}

impl GatewayDdi {
    /// Whether the gateway runs a controller for itself.
    pub fn gateway(self) -> bool {
        self != GatewayDdi::None
    }

    /// Whether it runs one per edge-device slot.
    pub fn edge(self) -> bool {
        self == GatewayDdi::All
    }
}

fn default_namespace() -> String {
    "org.fleetsim".to_string()
}
fn default_edge_devices() -> u32 {
    10
}
fn default_change_every() -> Option<Duration> {
    Some(Duration(Span::hours(1)))
}
fn default_buffer() -> u32 {
    1024
}

impl Default for GatewaySpec {
    fn default() -> GatewaySpec {
        GatewaySpec {
            namespace: default_namespace(),
            edge_devices: default_edge_devices(),
            change_every: default_change_every(),
            churn_every: None,
            commands_every: None,
            twin_writes_every: None,
            buffer: default_buffer(),
            ddi: GatewayDdi::None,
        }
    }
}

/// Most edge devices a gateway may hold (the scenario check's bound).
pub const MAX_EDGE_DEVICES: u32 = 1000;
