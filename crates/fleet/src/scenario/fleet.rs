//! The fleet a scenario describes: groups of identical devices, the protocol
//! each speaks, how OTAU devices behave, and each device's network link.

use serde::{Deserialize, Serialize};

pub use super::auth::{DeviceAuth, TokenFile};
pub use super::consent::ConsentSpec;
pub use super::gateway::GatewaySpec;
use super::units::{Duration, Fraction, Size};
use fleetsim_core::protocol::ddi::Encoding;
use fleetsim_core::time::Span;

/// Kind of device in a fleet group.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
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
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// hawkBit DDI v1.
    #[default]
    Ddi,
    /// Exosite OTAU over the HTTP device API (long poll of `config_otau`).
    Otau,
    /// Exosite OTAU over MQTT (`config_otau` pushed; content still over HTTP).
    OtauMqtt,
    /// One GET to the custom protocol gateway of seed 000 (`docs/guide/cpg.md`),
    /// downloads from the URL it hands out.
    Cpg,
    /// A gateway with edge devices, mirrored as Ditto digital twins over a
    /// Ditto Protocol session (seed 002; settings in `gateway:`).
    Ditto,
}

impl Protocol {
    /// Scenario spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Ddi => "ddi",
            Protocol::Otau => "otau",
            Protocol::OtauMqtt => "otau_mqtt",
            Protocol::Cpg => "cpg",
            Protocol::Ditto => "ditto",
        }
    }

    /// The invariant family its devices exercise (`DDI`, `OTAU`, `URL`, `TWIN`).
    pub fn family(self) -> &'static str {
        match self {
            Protocol::Ddi => "DDI",
            Protocol::Otau | Protocol::OtauMqtt => "OTAU",
            Protocol::Cpg => "URL",
            Protocol::Ditto => "TWIN",
        }
    }

    /// True for both OTAU transports.
    pub fn is_otau(self) -> bool {
        matches!(self, Protocol::Otau | Protocol::OtauMqtt)
    }
}

/// A group of identical devices.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// What a DDI device says beyond `proceeding` → `downloaded` → `closed`,
    /// and how it reads answers (absent: exactly that minimal chain).
    #[serde(default)]
    pub feedback: DdiFeedback,
    /// DDI body and document encoding: `json` (default) or `cbor`
    /// (`Accept` / `Content-Type: application/cbor`, ddi.md §0; DDI-CBOR).
    #[serde(default, skip_serializing_if = "Encoding::is_json")]
    pub encoding: Encoding,
    /// How a DDI device answers a request for consent (`confirmationBase`,
    /// ddi.md §1.8): `confirm`, `deny`, `{ confirm_after: 2h }` or `auto`
    /// (turn auto-confirm on). Default `ignore`: the link is not followed.
    #[serde(default, skip_serializing_if = "ConsentSpec::is_ignore")]
    pub consent: ConsentSpec,
    /// OTAU device behaviour (`protocol: otau` / `otau_mqtt` only).
    #[serde(default)]
    pub otau: OtauDevice,
    /// How DDI devices authenticate (ddi.md §2).
    #[serde(default)]
    pub auth: DeviceAuth,
    /// DDI tenant of the group's devices (`/{tenant}/controller/v1/...`);
    /// default `server.tenant`. Groups may name different tenants: the
    /// embedded server then hosts each, as a multi-tenant hawkBit does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// A gateway's runtime and its edge devices (`protocol: ditto` only;
    /// default [`GatewaySpec::default`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewaySpec>,
}

impl FleetGroup {
    /// The group's DDI tenant: its own, else the server's default.
    pub fn tenant_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.tenant.as_deref().unwrap_or(default)
    }

    /// The controller-id prefix: `id_prefix`, or the kind's name and `-`.
    pub fn prefix(&self) -> String {
        self.id_prefix
            .clone()
            .unwrap_or_else(|| format!("{}-", self.kind.as_str().replace('_', "-")))
    }
}

/// The DDI feedback vocabulary a device uses (ddi.md §1.4) and how it reads
/// the server's answers (§0, §1.7). Every field defaults to today's minimal
/// device, so existing scenarios and their digests are unchanged:
///
/// ```yaml
/// feedback: { vocabulary: full, status_codes: true, soft_defer: 2h, reject: 5% }
/// ```
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DdiFeedback {
    /// `minimal` (default): `proceeding` (progress `cnt` 0), `downloaded`,
    /// `closed`. `full`, as rauc-hawkbit-updater and SWUpdate do: also
    /// `download` before each artifact, `proceeding` with `cnt` = artifacts
    /// finished after each one, `installedBase/{id}` read after the reboot
    /// that follows an install (its version checked), and `If-None-Match`
    /// with the last ETag on root and `deploymentBase` polls (a `304` reads
    /// as "unchanged").
    #[serde(default)]
    pub vocabulary: Vocabulary,
    /// `code` on final feedback: 200 on success, 400 when the download
    /// failed, 500 when the install failed.
    #[serde(default)]
    pub status_codes: bool,
    /// The user defers a soft update (`update: attempt`) this long: the
    /// device sends `scheduled`, keeps polling, and takes it up with `resumed`
    /// when the time is up — at once if the server makes it `forced` (a
    /// timeforced action past its forcetime). Checked by DDI-SOFT-DEFER.
    #[serde(default)]
    pub soft_defer: Option<Duration>,
    /// Share of deployments a device refuses with `rejected` (the action
    /// stays active on the server, which then has to cancel it).
    #[serde(default)]
    pub reject: Fraction,
}

/// How much of the DDI feedback vocabulary a device uses.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Vocabulary {
    /// `proceeding`, `downloaded`, `closed` (fleetsim's devices until now).
    #[default]
    Minimal,
    /// Everything a real update agent sends and reads (see [`DdiFeedback::vocabulary`]).
    Full,
}

impl DdiFeedback {
    /// The client settings this block describes.
    pub fn settings(&self) -> fleetsim_core::protocol::ddi::FeedbackSettings {
        let full = self.vocabulary == Vocabulary::Full;
        fleetsim_core::protocol::ddi::FeedbackSettings {
            per_artifact: full,
            status_codes: self.status_codes,
            soft_defer: self.soft_defer.map(|d| d.0),
            reject: self.reject.0,
            check_installed: full,
            if_none_match: full,
        }
    }
}

/// How an OTAU device behaves (otau.md §9, §11); the defaults are the seed client's.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// Report the test phase after `INIT` (`TEST`, `TEST_STEP` ×2,
    /// `TEST_SUCCESS`; otau.md §3.1); the seed has none.
    #[serde(default, skip_serializing_if = "is_false")]
    pub test_phase: bool,
    /// Share of cycles whose test phase fails (`TEST_ERROR`); needs `test_phase`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub test_failure: Fraction,
    /// `message`s on `_STEP` statuses ("Downloading file 2 of 5").
    #[serde(default, skip_serializing_if = "is_false")]
    pub progress: bool,
    /// Share of cycles the user aborts halfway through the download (`INSTALL_ABORTED`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub abort: Fraction,
    /// After `INSTALL_SUCCESS` the device reboots, taking this long, and
    /// reports `INSTALLED_VERSION` of the new version at boot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot_after_install: Option<Duration>,
    /// Version the device runs at its first start; it reports
    /// `INSTALLED_VERSION` of it before its first poll (otau.md §3.3 rule 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_version: Option<String>,
    /// Activate on first start (`POST /provision/activate` with
    /// `id=<identity>`, otau.md §4.5) and use the token returned; the
    /// server then accepts tokens only of activated devices (groups without
    /// it are pre-provisioned).
    #[serde(default, skip_serializing_if = "is_false")]
    pub activate: bool,
    /// Real time only: send the device's HTTP requests (long polls, writes,
    /// activation, content downloads) to the MQTT port over TLS with ALPN
    /// `http/1.1` (otau.md §4.6, a device with one open port), i.e. to the
    /// `mqtts://` endpoint given with `--mqtt`, instead of the target. The
    /// virtual engine has no ports and ignores it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub http_over_mqtt_port: bool,
    /// The Murano product id the group's devices belong to (lowercase
    /// letters and digits, as `d1zzd6dflnt50000`); default: the server's
    /// default product. The embedded server hosts every product named and
    /// answers an activation or token of one product's device at another
    /// product's host `<pid>.m2.exosite.io` with 403 / 401 (otau.md §4, §4.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero(f: &Fraction) -> bool {
    f.0 == 0.0
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
            test_phase: false,
            test_failure: Fraction::default(),
            progress: false,
            abort: Fraction::default(),
            reboot_after_install: None,
            boot_version: None,
            activate: false,
            http_over_mqtt_port: false,
            product: None,
        }
    }
}

/// When an OTAU device acknowledges a manifest (otau.md §5).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
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
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Misbehaviour {
    /// Poll at this fixed interval, ignoring `sleep` (as hawkbit-device-simulator does).
    pub poll_every: Duration,
}

/// A device's network link.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
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
