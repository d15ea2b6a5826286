//! The scenario schema: what a scenario file may say, with defaults.
//!
//! Every struct denies unknown fields, so a typo is an error at its line and
//! column rather than a silently ignored setting. Constraints that a type can
//! carry (non-negative counts, fractions in `[0, 1]`, durations with units)
//! are carried by the type so serde_yaml reports them with their position.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

pub use super::campaign::{
    ArtifactSpec, Campaign, CampaignType, Campaigns, RecurringWindow, RelativeWindow, Selector,
    WindowSpec,
};
pub use super::faults::{ClientFault, FaultKind, Faults, ServerFault};
pub use super::fleet::{
    Connectivity, ConsentSpec, DeviceAuth, DeviceKind, FleetGroup, GatewaySpec, Latency,
    Misbehaviour, OtauAck, OtauDevice, Protocol, TokenFile,
};
use super::server_spec::deserialize_server;
pub use super::server_spec::ServerSpec;
use super::units::{Duration, Fraction};
use fleetsim_core::time::Span;

/// A whole scenario file.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name; also the report directory under `reports/`.
    pub name: String,
    /// Seed of every random stream in the run (`--seed` overrides it).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Virtual time the run covers.
    pub duration: Duration,
    /// The server the fleet talks to (`embedded`, or a map of settings).
    #[serde(default, deserialize_with = "deserialize_server")]
    #[schemars(with = "super::schema::ServerField")]
    pub server: ServerSpec,
    /// Device groups.
    pub fleet: Vec<FleetGroup>,
    /// Update campaigns, in any order.
    /// `external`: the operator runs the rollouts, fleetsim only plays devices.
    #[serde(default)]
    pub campaigns: Campaigns,
    /// Deliberate faults.
    #[serde(default)]
    pub faults: Faults,
    /// What the run must show for the exit code to be 0.
    #[serde(default)]
    pub expect: Expect,
    /// Report sampling interval of fleet state (default: duration / 200).
    #[serde(default)]
    pub sample_every: Option<Duration>,
    /// Settings that apply to real-time runs (`--target`).
    #[serde(default)]
    pub load: Load,
}

/// How a real-time run (`fleetsim run --target URL`) drives the fleet.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// Devices started per second (open-loop arrival); absent = each device
    /// starts at a random point of its first poll interval.
    #[serde(default)]
    pub start_rate: Option<f64>,
    /// Ramp: the start rate grows linearly from `start_rate` to this rate
    /// over `ramp_over`, then stays there.
    #[serde(default)]
    pub ramp_to: Option<f64>,
    /// Length of the ramp (real time).
    #[serde(default)]
    pub ramp_over: Option<Duration>,
    /// `pool`: devices share keep-alive connections; `per_device`: each device
    /// opens its own connection for each exchange, as a real device does.
    #[serde(default)]
    pub connections: ConnectionModel,
    /// With `connections: pool`, at most this many requests are in flight
    /// at once (and so at most this many connections are open); more wait
    /// for a free one, and the wait counts in their latency. Long polls
    /// (held by the server by design) are not counted. 0 = no limit.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How long a device waits for an answer (real time).
    #[serde(default = "default_request_timeout")]
    pub request_timeout: Duration,
    /// Scenario time runs this many times faster than real time (1 = real time).
    #[serde(default = "default_time_scale")]
    pub time_scale: f64,
    /// Emulate each group's `connectivity` (loss, latency, bandwidth) on the
    /// real network too, per device and seeded; off: the network is what it
    /// is and only online windows apply.
    #[serde(default)]
    pub emulate_network: bool,
}

fn default_request_timeout() -> Duration {
    Duration(Span::secs(30))
}
fn default_max_connections() -> usize {
    512
}
fn default_time_scale() -> f64 {
    1.0
}

impl Default for Load {
    fn default() -> Self {
        Load {
            start_rate: None,
            ramp_to: None,
            ramp_over: None,
            connections: ConnectionModel::default(),
            max_connections: default_max_connections(),
            request_timeout: default_request_timeout(),
            time_scale: default_time_scale(),
            emulate_network: false,
        }
    }
}

impl Load {
    /// Real-time offset at which device `n` (0-based) starts under open-loop
    /// arrival, or `None` without a `start_rate`. Rate `r0` ramps linearly to
    /// `r1` over `T` seconds: n(t) = r0·t + (r1 − r0)·t²/(2T), solved for t.
    pub fn start_offset_secs(&self, n: u64) -> Option<f64> {
        let r0 = self.start_rate.filter(|r| *r > 0.0)?;
        let n = n as f64;
        let (Some(r1), Some(over)) = (self.ramp_to.filter(|r| *r > 0.0), self.ramp_over) else {
            return Some(n / r0);
        };
        let t_ramp = over.0.as_secs_f64();
        let ramped = (r0 + r1) / 2.0 * t_ramp;
        if t_ramp <= 0.0 || n >= ramped {
            return Some(t_ramp.max(0.0) + (n - ramped.max(0.0)) / r1);
        }
        let a = (r1 - r0) / (2.0 * t_ramp);
        if a.abs() < 1e-12 {
            return Some(n / r0);
        }
        Some((-r0 + (r0 * r0 + 4.0 * a * n).sqrt()) / (2.0 * a))
    }
}

/// Connection model of a real-time run.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionModel {
    /// Shared keep-alive pool.
    #[default]
    Pool,
    /// A connection of its own per device exchange.
    PerDevice,
}

fn default_seed() -> u64 {
    1
}

/// What a run must show.
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `none`, or the invariant IDs that must fire (and no others).
    #[serde(default)]
    pub violations: ExpectedViolations,
    /// Fraction of targeted devices that must finish their update within a time.
    #[serde(default)]
    pub converged: Option<Convergence>,
    /// The largest fraction of the requests sent that may be lost or broken
    /// for a reason the run did not inject: refused, reset, timed out,
    /// malformed, or still unanswered when the run ended. `None` means
    /// [`DEFAULT_LOST_REQUESTS`], so a run whose server stopped answering
    /// fails. Only real-time runs lose requests this way: the virtual engine
    /// injects every failure itself (its connectivity model and server faults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_requests: Option<Fraction>,
}

/// The bound on requests lost for reasons the run did not inject, unless a
/// scenario says `expect: { lost_requests: … }`: a healthy server on a
/// healthy network loses none, and one that died or froze mid-run loses far more.
pub const DEFAULT_LOST_REQUESTS: Fraction = Fraction(0.01);

/// Expected violations.
///
/// Serialised as it is written: `none` or a list of IDs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ExpectedViolations {
    /// No invariant may fire.
    #[default]
    None,
    /// Exactly these invariant IDs must fire.
    Ids(Vec<String>),
}

impl Serialize for ExpectedViolations {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ExpectedViolations::None => s.serialize_str("none"),
            ExpectedViolations::Ids(ids) => ids.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ExpectedViolations {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ExpectedViolations;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`none` or a list of invariant IDs such as [DDI-SM-410]")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v == "none" {
                    Ok(ExpectedViolations::None)
                } else {
                    Err(E::custom(format!(
                        "expected `none` or a list of invariant IDs such as [DDI-SM-410], found `{v}`"
                    )))
                }
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut ids = Vec::new();
                while let Some(id) = seq.next_element::<String>()? {
                    ids.push(id);
                }
                Ok(ExpectedViolations::Ids(ids))
            }
        }
        d.deserialize_any(V)
    }
}

/// A convergence expectation.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Convergence {
    /// Fraction of targeted devices.
    pub fraction: Fraction,
    /// Within this time after the campaign starts.
    pub within: Duration,
}
