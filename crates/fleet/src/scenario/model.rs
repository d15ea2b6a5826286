//! The scenario schema: what a scenario file may say, with defaults.
//!
//! Every struct denies unknown fields, so a typo is an error at its line and
//! column rather than a silently ignored setting. Constraints that a type can
//! carry (non-negative counts, fractions in `[0, 1]`, durations with units)
//! are carried by the type so serde_yaml reports them with their position.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::shorthand::deserialize_server;
pub use super::shorthand::Campaigns;
use super::units::{Duration, Fraction, Size};
use fleetsim_core::time::Span;

/// A whole scenario file.
#[derive(Clone, Debug, Deserialize, Serialize)]
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
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// How long a device waits for an answer (real time).
    #[serde(default = "default_request_timeout")]
    pub request_timeout: Duration,
    /// Scenario time runs this many times faster than real time (1 = real time).
    #[serde(default = "default_time_scale")]
    pub time_scale: f64,
}

fn default_request_timeout() -> Duration {
    Duration(Span::secs(30))
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
            request_timeout: default_request_timeout(),
            time_scale: default_time_scale(),
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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

/// Server settings. `server: embedded` is the same as the defaults.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// DDI tenant.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// Polling interval the server tells devices (`config.polling.sleep`).
    #[serde(default = "default_polling")]
    pub polling: Duration,
    /// Random jitter on the polling interval, ±fraction (hawkBit `~NN%`).
    #[serde(default)]
    pub polling_jitter: Fraction,
    /// Devices authenticate with `GatewayToken <key>` when set.
    #[serde(default)]
    pub gateway_token: Option<String>,
    /// Status entries allowed per action (hawkBit `maxStatusEntriesPerAction`).
    #[serde(default = "default_max_status")]
    pub max_status_entries_per_action: u32,
}

fn default_tenant() -> String {
    "DEFAULT".to_string()
}
fn default_polling() -> Duration {
    Duration(Span::minutes(5))
}
fn default_max_status() -> u32 {
    1000
}

impl Default for ServerSpec {
    fn default() -> Self {
        ServerSpec {
            tenant: default_tenant(),
            polling: default_polling(),
            polling_jitter: Fraction(0.0),
            gateway_token: None,
            max_status_entries_per_action: default_max_status(),
        }
    }
}

/// Kind of device in a fleet group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// Sleepy: online only in short windows, polls when it wakes.
    Constrained,
    /// Always connected, polls as the server says.
    AlwaysOn,
}

impl DeviceKind {
    /// Scenario spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Constrained => "constrained",
            DeviceKind::AlwaysOn => "always_on",
        }
    }
}

/// Update protocol a device speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// hawkBit DDI v1.
    #[default]
    Ddi,
    /// Exosite OTAU over the HTTP device API (long poll of `config_otau`).
    Otau,
    /// Exosite OTAU over MQTT (`config_otau` pushed; content still over HTTP).
    OtauMqtt,
    /// One GET to the custom protocol gateway of seed 000 (`docs/cpg.md`),
    /// downloads from the URL it hands out.
    Cpg,
}

impl Protocol {
    /// Scenario spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Ddi => "ddi",
            Protocol::Otau => "otau",
            Protocol::OtauMqtt => "otau_mqtt",
            Protocol::Cpg => "cpg",
        }
    }

    /// The invariant family its devices exercise (`DDI`, `OTAU`, `URL`).
    pub fn family(self) -> &'static str {
        match self {
            Protocol::Ddi => "DDI",
            Protocol::Otau | Protocol::OtauMqtt => "OTAU",
            Protocol::Cpg => "URL",
        }
    }

    /// True for both OTAU transports.
    pub fn is_otau(self) -> bool {
        matches!(self, Protocol::Otau | Protocol::OtauMqtt)
    }
}

/// A group of identical devices.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetGroup {
    /// Name, for campaigns to target (`targets: { group: NAME }`) and reports.
    #[serde(default)]
    pub name: Option<String>,
    /// Device kind.
    pub kind: DeviceKind,
    /// Number of devices.
    pub count: u32,
    /// Protocol.
    #[serde(default)]
    pub protocol: Protocol,
    /// Controller-id prefix; ids are `<prefix><n>` with n the device number (default: kind name + `-`).
    #[serde(default)]
    pub id_prefix: Option<String>,
    /// Network link of each device.
    #[serde(default)]
    pub connectivity: Connectivity,
    /// Time from download complete to install result.
    #[serde(default = "default_install_time")]
    pub install_time: Duration,
    /// Fraction of installs that fail (device reports closed/failure).
    #[serde(default)]
    pub install_failure: Fraction,
    /// Deliberate device misbehaviour, for testing the oracle itself.
    #[serde(default)]
    pub misbehave: Option<Misbehaviour>,
    /// Probe: after its final `closed` feedback was accepted, send it once
    /// more, as a device whose answer got lost does; the server must answer
    /// `410 Gone` (DDI-SM-410).
    #[serde(default)]
    pub resend_final_feedback: bool,
    /// OTAU device behaviour (`protocol: otau` / `otau_mqtt` only).
    #[serde(default)]
    pub otau: OtauDevice,
}

/// How an OTAU device behaves (otau.md §9, §11); the defaults are the seed client's.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtauDevice {
    /// `Request-Timeout` of the long poll (at most 300 s, otau.md §4.1).
    #[serde(default = "default_long_poll")]
    pub long_poll: Duration,
    /// Pause before each status write (the seed sleeps 3 s; ≥ 1 s keeps the write-rate rule).
    #[serde(default = "default_status_gap")]
    pub status_gap: Duration,
    /// When the manifest is written back: `before_init` (the seed), `after_install`, `never`.
    #[serde(default)]
    pub ack: OtauAck,
    /// Send the last `Last-Modified` as `If-Modified-Since` (murano-client) instead of `0` (the seed).
    #[serde(default)]
    pub ims_from_last_modified: bool,
    /// Misbehaviour, to test the oracle: never send this status (e.g. `DOWNLOAD_SUCCESS`).
    #[serde(default)]
    pub skip_status: Option<String>,
    /// Misbehaviour: report `INSTALLED_VERSION` with a version that is not the manifest's.
    #[serde(default)]
    pub wrong_installed_version: bool,
}

fn default_long_poll() -> Duration {
    Duration(Span::minutes(5))
}
fn default_status_gap() -> Duration {
    Duration(Span::secs(3))
}

impl Default for OtauDevice {
    fn default() -> Self {
        OtauDevice {
            long_poll: default_long_poll(),
            status_gap: default_status_gap(),
            ack: OtauAck::default(),
            ims_from_last_modified: false,
            skip_status: None,
            wrong_installed_version: false,
        }
    }
}

/// When an OTAU device acknowledges a manifest (otau.md §5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OtauAck {
    /// Right after receiving it (the seed).
    #[default]
    BeforeInit,
    /// After the final status.
    AfterInstall,
    /// Never (misbehaviour).
    Never,
}

fn default_install_time() -> Duration {
    Duration(Span::secs(30))
}

/// Device-side deviations from the protocol.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Misbehaviour {
    /// Poll at this fixed interval, ignoring `sleep` (as hawkbit-device-simulator does).
    pub poll_every: Duration,
}

/// A device's network link.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connectivity {
    /// Online windows start this often (with a random phase per device); absent = always online.
    #[serde(default)]
    pub online_every: Option<Duration>,
    /// Length of each online window.
    #[serde(default)]
    pub online_for: Option<Duration>,
    /// Probability that a message (request or response) is lost.
    #[serde(default)]
    pub loss: Fraction,
    /// One-way latency distribution (log-normal through p50 and p99).
    #[serde(default)]
    pub latency: Latency,
    /// Download bandwidth, bytes per second.
    #[serde(default = "default_bandwidth")]
    pub bandwidth: Size,
}

impl Connectivity {
    /// The link model this block describes.
    pub fn link_spec(&self) -> fleetsim_core::connectivity::LinkSpec {
        fleetsim_core::connectivity::LinkSpec {
            online: self
                .online_every
                .zip(self.online_for)
                .map(|(e, f)| (e.0, f.0)),
            loss: self.loss.0,
            latency_p50: self.latency.p50.0,
            latency_p99: self.latency.p99.0,
            bandwidth: self.bandwidth.0,
        }
    }
}

fn default_bandwidth() -> Size {
    Size(1 << 20)
}

impl Default for Connectivity {
    fn default() -> Self {
        Connectivity {
            online_every: None,
            online_for: None,
            loss: Fraction(0.0),
            latency: Latency::default(),
            bandwidth: default_bandwidth(),
        }
    }
}

/// Latency percentiles.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    /// Median one-way latency.
    pub p50: Duration,
    /// 99th percentile one-way latency.
    pub p99: Duration,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            p50: Duration(Span::millis(50)),
            p99: Duration(Span::millis(200)),
        }
    }
}

/// DDI action type of a campaign's assignments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignType {
    /// Device may decide.
    Soft,
    /// Install now.
    #[default]
    Forced,
    /// Soft until `force_after`, then forced.
    Timeforced,
    /// Download only, no install.
    Downloadonly,
}

/// An update campaign: a distribution assigned to a selection of devices.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// Name (default: `campaign-<n>`).
    #[serde(default)]
    pub name: Option<String>,
    /// When the assignment is made.
    pub at: Duration,
    /// Distribution version.
    #[serde(default = "default_version")]
    pub version: String,
    /// Files, each its own software module chunk.
    pub artifacts: Vec<ArtifactSpec>,
    /// Which devices.
    #[serde(default)]
    pub targets: Selector,
    /// Action type.
    #[serde(default, rename = "type")]
    pub kind: CampaignType,
    /// For `timeforced`: time after `at` when it becomes forced.
    #[serde(default)]
    pub force_after: Option<Duration>,
    /// Action weight (0..=1000).
    #[serde(default)]
    pub weight: Option<u32>,
    /// Maintenance window, relative to `at`.
    #[serde(default)]
    pub maintenance_window: Option<WindowSpec>,
    /// Cancel the campaign's still-open actions at this time after `at`
    /// (DDI only: OTAU has no cancel).
    #[serde(default)]
    pub cancel_after: Option<Duration>,
    /// OTAU devices: the `config_otau` value written, verbatim, instead of the
    /// manifest built from `version`, `name` and `artifacts` (e.g. to check
    /// that devices refuse an unknown `type`).
    #[serde(default)]
    pub manifest: Option<String>,
    /// `cpg` devices: how the sidekick deals with URL expiry (seed 000):
    /// `none`, `long_lived_cache`, `refresh_on_online`, `long_validity`.
    #[serde(default)]
    pub strategy: fleetsim_core::server::constrained::Strategy,
    /// `cpg` devices: validity of the CDN URLs the install command carries
    /// (default 30d; 365d under `long_validity`).
    #[serde(default)]
    pub url_validity: Option<Duration>,
    /// `cpg` devices: downloads per day by someone who is not a device, with
    /// URLs leaked from devices (expired ones with `expires` pushed forward) —
    /// makes the misuse risk of long validity visible.
    #[serde(default)]
    pub leaked_downloads_per_day: Option<f64>,
}

fn default_version() -> String {
    "2.0.0".to_string()
}

/// One artifact of a campaign.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactSpec {
    /// File name.
    pub name: String,
    /// Size.
    pub size: Size,
}

/// Devices a campaign targets.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Only devices of this kind (default: all kinds).
    #[serde(default)]
    pub kind: Option<DeviceKind>,
    /// Only this fraction of the matching devices, chosen by device number.
    #[serde(default)]
    pub fraction: Option<Fraction>,
    /// Only devices speaking this protocol (default: all).
    #[serde(default)]
    pub protocol: Option<Protocol>,
    /// Only the fleet group of this `name`.
    #[serde(default)]
    pub group: Option<String>,
    /// Only every `every`-th device by number (with `offset`): splits a
    /// fleet into equal, interleaved parts, e.g. one per strategy.
    #[serde(default)]
    pub every: Option<u32>,
    /// Which of the `every` parts (`0..every`).
    #[serde(default)]
    pub offset: u32,
}

/// A maintenance window relative to the campaign start.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// Window opens this long after the campaign's `at`.
    pub start_after: Duration,
    /// Window length.
    pub duration: Duration,
}

/// Deliberate faults.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Serialize, Deserialize)]
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

/// What a run must show.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Convergence {
    /// Fraction of targeted devices.
    pub fraction: Fraction,
    /// Within this time after the campaign starts.
    pub within: Duration,
}
