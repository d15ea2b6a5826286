//! The real-time driver: the same device state machines, against any DDI
//! server over real HTTP(S), on tokio.
//!
//! One driver task owns every device (its protocol client, RNG streams and trace
//! hash) and a heap of wake-up times, exactly like the virtual engine; only
//! the requests leave it, each in a task of its own, and come back through a
//! channel. So 100 000 sleepy devices cost 100 000 small structs and a heap
//! entry each, not 100 000 tasks. Time given to the devices and the oracle is
//! scenario time: real time since the start times `load.time_scale`, and a
//! request goes out at the time it was *meant* to (its due time), which is
//! also where its latency is measured from (no coordinated omission).
//!
//! OTAU devices of `otau_mqtt` groups (otau.md §8) each hold a
//! [`DeviceLink`](crate::mqtt::DeviceLink) to the MQTT endpoint given as
//! [`RealOptions::mqtt`] (`mqtt://`/`mqtts://` a Murano-shaped one,
//! `fleetsim+mqtt[s]://` a generic broker), connected before the fleet
//! starts; with `otau.activate` and a Murano-shaped endpoint a device
//! activates over MQTT first and connects with its token then
//! (`mqtt_links.rs`). A publish (ACK, status) runs in a task of its own like
//! an HTTP exchange and comes back through the same channel; `config_otau`
//! messages the server pushes come through it too (a device outside its
//! connectivity window gets them when its window opens). Content downloads
//! stay HTTP, to the MQTT port with ALPN `http/1.1` for groups with
//! `otau.http_over_mqtt_port` (`mqtt_port.rs`). Client fault windows apply
//! to HTTP exchanges only.
//!
//! Edge gateways (`protocol: ditto`) hold a Ditto Protocol WebSocket to the
//! twin's `/ws/2` per online window (the twin: the target, or
//! [`RealOptions::twin`]), and their backend's commands and twin-side
//! writes go to its HTTP API v2 (`edge.rs`); with [`TwinApi::Http`] the
//! gateways' own twin commands go over that API too (`edge/http.rs`).

/// The env of a call on a device of setup group `$group`, borrowing only
/// the driver's fields it needs (the base URL is the MQTT port's for groups
/// with `otau.http_over_mqtt_port`).
macro_rules! device_env {
    ($driver:ident, $group:expr) => {
        Env {
            setup: &$driver.setup,
            base_url: $crate::realtime::mqtt_port::base_of(
                &$driver.base,
                $driver.mqtt_port.as_ref(),
                $group,
            ),
            tenant: &$driver.tenant,
            authorization: $driver.authorization.as_deref(),
        }
    };
}

mod driver;
mod edge;
mod leak;
mod live;
mod managed_campaigns;
mod mqtt_links;
mod mqtt_port;
mod net;
mod prepare;
mod recorder;
mod server_feed;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use driver::Driver;
use fleetsim_fleet::device::{Device, Env, Ledger};
use fleetsim_fleet::fleet::Fleet;
use rand::Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub use crate::http_client::{Http, HttpSetupError, Injected};
pub use live::Live;

pub use crate::ditto::twin::{TwinApi, TwinOptions};

use fleetsim_core::message::{Method, NetError, Request};
use fleetsim_core::protocol::ddi::{Delivery, ReqKind};
use fleetsim_core::protocol::otau::Transmit;
use fleetsim_core::time::{Span, Time};
use fleetsim_fleet::result::RunResult;
use fleetsim_fleet::scenario::{ClientFault, ConnectionModel, Protocol, Scenario};
use fleetsim_fleet::setup::Setup;

/// Where and how to reach the server under test.
#[derive(Clone)]
pub struct Target {
    /// `scheme://host[:port]` (a path prefix is kept).
    pub base_url: String,
    /// DDI tenant (default: the scenario's).
    pub tenant: Option<String>,
    /// Gateway token (default: the scenario's). Never printed.
    pub gateway_token: Option<String>,
    /// PEM file with extra trusted roots, and its contents.
    pub ca_pem: Option<(String, Vec<u8>)>,
}

impl std::fmt::Debug for Target {
    /// Never shows the token: reports and logs may print a target.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("base_url", &self.base_url)
            .field("tenant", &self.tenant)
            .field(
                "gateway_token",
                &self.gateway_token.as_ref().map(|_| "<redacted>"),
            )
            .field("ca_pem", &self.ca_pem.as_ref().map(|(path, _)| path))
            .finish()
    }
}

/// Settings of a real-time run.
#[derive(Clone, Debug)]
pub struct RealOptions {
    /// The server.
    pub target: Target,
    /// Create the scenario's campaigns through this management API
    /// (`None`: the target runs them itself, as `fleetsim serve SCENARIO` does).
    pub manager: Option<crate::management::ManagerConfig>,
    /// The MQTT endpoint the `otau_mqtt` devices connect to (`--mqtt`):
    /// `[mqtt://]HOST:PORT` or `mqtts://HOST:PORT` (Murano-shaped; TLS
    /// trusts [`Target::ca_pem`]), `fleetsim+mqtt[s]://HOST:PORT` (a generic
    /// broker, `fleetsim/<cik>` topics); required when the fleet has such devices.
    pub mqtt: Option<String>,
    /// Where the run publishes its snapshots (for the TUI, the progress
    /// line, or any other reader), and where a reader may ask it to stop.
    pub live: Option<std::sync::Arc<crate::realtime::Live>>,
    /// Read the target's server-side event stream with these Basic
    /// credentials (`--server-events`): against `fleetsim serve` the oracle
    /// then also checks what needs the server's side (`server_feed.rs`).
    /// A target without the stream is run without it.
    pub server_events: Option<fleetsim_core::server::MgmtCredentials>,
    /// The twin of `protocol: ditto` gateways: where it lives (default: the
    /// target, as `fleetsim serve` hosts it), which API the gateways write
    /// it with, and its Basic credentials (`fleetsim serve` guards it with
    /// its Management API login; default `admin`/`admin`).
    pub twin: crate::ditto::twin::TwinOptions,
}

/// Why a real-time run could not be carried out (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// `--target` is not a usable URL.
    #[error("--target {0}: expected an http:// or https:// URL such as http://127.0.0.1:8080")]
    BadTarget(String),
    /// HTTP client setup failed.
    #[error(transparent)]
    Setup(#[from] HttpSetupError),
    /// The target could not be reached.
    #[error("target {url} is unreachable ({what}); is the server running and the address right?")]
    Unreachable {
        /// URL tried.
        url: String,
        /// What happened.
        what: String,
    },
    /// The target answered, but not like a DDI server.
    #[error("target {url} does not answer like a DDI server: {what}")]
    NotDdi {
        /// URL tried.
        url: String,
        /// What came back.
        what: String,
    },
    /// The management API could not be used to prepare the run.
    #[error("preparing the server: {0}")]
    Management(#[from] crate::management::AdapterError),
    /// The run cannot be carried out as asked (bad input, exit code 2).
    #[error("{0}")]
    Unsupported(String),
    /// The fleet has `otau_mqtt` devices but no broker was given (bad input).
    #[error("fleet group `{0}` speaks otau_mqtt: give the MQTT broker with --mqtt HOST:PORT (`fleetsim serve` prints its broker's address)")]
    MqttMissing(String),
    /// The MQTT broker could not be reached.
    #[error("MQTT broker {addr}: {what}; is the broker running and the address right?")]
    Mqtt {
        /// The broker as given.
        addr: String,
        /// What happened.
        what: String,
    },
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// What came back for a device.
enum Outcome {
    /// An HTTP exchange ended.
    Http(Delivery),
    /// An MQTT publish was acknowledged (or not).
    Published(Result<(), NetError>),
    /// The server pushed a resource value `(alias, value)`.
    Message(String, String),
    /// An activation over MQTT answered, and the device's link connected
    /// with its token (`mqtt_activate.rs`).
    Activated(Delivery, Box<crate::mqtt::DeviceLink>),
    /// Server-side events from `serve`'s stream (`server_feed.rs`).
    Server(Vec<crate::server_events::EventLine>),
    /// A download with a URL leaked from the device (`leak.rs`).
    Leaked(leak::Leaked),
    /// An edge gateway's session, backend request or twin read (`edge.rs`).
    Edge(edge::EdgeOutcome),
}

/// Completion of one request, or a message for a device.
struct Done {
    slot: u32,
    outcome: Outcome,
}

/// Raises this process's open-file limit to its hard limit: a fleet with a
/// connection per device needs one descriptor per device in flight. Returns
/// the soft limit now in force.
// `rlim_t` is u64 on Linux x86_64 but not on every platform.
#[allow(clippy::unnecessary_cast)]
pub fn raise_open_file_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur as u64;
            }
        }
    }
    lim.rlim_cur as u64
}

/// Runs `scenario` against `opts.target` in real time. Blocks.
pub fn run(scenario: &Scenario, opts: &RealOptions) -> Result<RunResult, RuntimeError> {
    run_with_metrics(scenario, opts, None)
}

/// [`run`], feeding `metrics` (`--metrics-listen`) as it goes.
pub fn run_with_metrics(
    scenario: &Scenario,
    opts: &RealOptions,
    metrics: Option<Arc<crate::metrics::Metrics>>,
) -> Result<RunResult, RuntimeError> {
    let rt = runtime().map_err(RuntimeError::Runtime)?;
    rt.block_on(run_async_with_metrics(scenario, opts, metrics))
}

/// The runtime of a real-time run: one thread per core the process may use
/// (`taskset`, a cgroup's CPU set), so a run pinned to one core does not
/// bounce its requests' wake-ups between threads sharing that core.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    if cores == 1 {
        return tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()
}

/// The twin's base URL (default: the target's `base`) and credentials
/// (default: `admin`/`admin`, serve's).
fn twin_of(
    twin: &TwinOptions,
    base: &str,
) -> Result<(String, crate::ditto::session::BasicAuth), RuntimeError> {
    let url = match &twin.url {
        Some(url) if is_http_url(url.trim_end_matches('/')) => url.trim_end_matches('/').to_owned(),
        Some(url) => {
            return Err(RuntimeError::Unsupported(format!(
                "--twin {url}: expected an http:// or https:// URL such as http://127.0.0.1:8080"
            )))
        }
        None => base.to_owned(),
    };
    let auth = twin
        .auth
        .clone()
        .unwrap_or_else(|| crate::ditto::session::BasicAuth {
            user: "admin".into(),
            password: "admin".into(),
        });
    Ok((url, auth))
}

fn base_url(target: &Target) -> Result<String, RuntimeError> {
    let url = target.base_url.trim_end_matches('/').to_string();
    if is_http_url(&url) {
        Ok(url)
    } else {
        Err(RuntimeError::BadTarget(target.base_url.clone()))
    }
}

/// True for a well-formed `http://` or `https://` URL with a host, such
/// as `http://127.0.0.1:8080` or `https://[::1]:8443/base`.
pub fn is_http_url(url: &str) -> bool {
    let Ok(uri) = url.parse::<::http::Uri>() else {
        return false;
    };
    matches!(uri.scheme_str(), Some("http" | "https"))
        && uri.host().is_some_and(|h| !h.is_empty() && h != "[]")
}

fn is_loopback(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    host == "localhost" || host.starts_with("127.") || host == "[::1]"
}

/// How the fleet reaches the target: the settings of `--target` with the
/// scenario's defaults, and the HTTP client.
struct Reach {
    base: String,
    tenant: String,
    /// The gateway token. Never printed.
    token: Option<String>,
    authorization: Option<String>,
    /// The request timeout.
    timeout: Duration,
    http: Arc<Http>,
}

impl Reach {
    /// `base`: the target's checked [`base_url`].
    fn new(scenario: &Scenario, target: &Target, base: String) -> Result<Reach, RuntimeError> {
        let tenant = target
            .tenant
            .clone()
            .unwrap_or_else(|| scenario.server.tenant.clone());
        let token = target
            .gateway_token
            .clone()
            .or_else(|| scenario.server.gateway_token.clone());
        let authorization = token.as_ref().map(|t| format!("GatewayToken {t}"));
        let load = &scenario.load;
        let timeout = Duration::from_millis(load.request_timeout.0.as_millis().max(1));
        let ca = target
            .ca_pem
            .as_ref()
            .map(|(p, b)| (p.as_str(), b.as_slice()));
        let max = match load.connections {
            ConnectionModel::Pool => load.max_connections,
            _ => 0,
        };
        let http = Http::limited(load.connections, is_loopback(&base), ca, timeout, max)?;
        Ok(Reach {
            base,
            tenant,
            token,
            authorization,
            timeout,
            http: Arc::new(http),
        })
    }
}

/// Every device of the scenario, arriving open-loop (with an optional
/// linear ramp of the rate); convergence is measured from the scenario's
/// campaigns, which the target carries out (`fleetsim serve`) or the
/// operator mirrors.
fn real_fleet(scenario: &Scenario, setup: &Setup, scale: f64, epoch: Option<u64>) -> Fleet {
    let first = |number| {
        let offset = scenario.load.start_offset_secs(number);
        offset.map(|secs| Time((secs * 1000.0 * scale) as u64))
    };
    // `serve` signs URLs in Unix seconds.
    let epoch_s = epoch.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    let mut fleet = Fleet::new(scenario, setup, |_| true, first, epoch_s);
    fleet.assigned_by_schedule(setup);
    // A gateway's answer deadline is scenario time; at 600× its 10 s are
    // 17 ms of real time, less than a busy loopback round trip, and every
    // command would be resent. It waits as long as an HTTP request may.
    let real_wait = scenario.load.request_timeout.0.as_millis() as f64 * scale;
    let wait = Span(real_wait.min(u64::MAX as f64 / 2.0) as u64);
    for d in &mut fleet.devices {
        if let Some(edge) = d.edge_mut() {
            edge.wait_at_least(wait);
        }
    }
    fleet
}

/// Runs `scenario` against the target on the current tokio runtime.
pub async fn run_async(scenario: &Scenario, opts: &RealOptions) -> Result<RunResult, RuntimeError> {
    run_async_with_metrics(scenario, opts, None).await
}

/// [`run_async`], feeding `metrics` (`--metrics-listen`) as it goes.
pub async fn run_async_with_metrics(
    scenario: &Scenario,
    opts: &RealOptions,
    metrics: Option<Arc<crate::metrics::Metrics>>,
) -> Result<RunResult, RuntimeError> {
    raise_open_file_limit();
    let base = base_url(&opts.target)?;
    let mqtt_group = scenario
        .fleet
        .iter()
        .find(|g| g.protocol == Protocol::OtauMqtt && g.count > 0);
    if let (Some(g), None) = (mqtt_group, &opts.mqtt) {
        return Err(RuntimeError::MqttMissing(g.kind.as_str().to_string()));
    }
    let (twin_base, twin_auth) = twin_of(&opts.twin, &base)?;
    let reach = Reach::new(scenario, &opts.target, base)?;
    let mqtt_port = mqtt_port::MqttPort::of(scenario, opts, reach.timeout)?;
    let setup = Setup::new(scenario);
    let scale = scenario.load.time_scale.max(1e-6);
    let manager = prepare::prepare_manager(scenario, opts, &setup, &reach).await?;
    let auth = reach.authorization.as_deref();
    prepare::preflight(&reach.http, &reach.base, &reach.tenant, &setup, auth).await?;
    let probe = match &opts.server_events {
        Some(login) => server_feed::probe(&reach.http, &reach.base, login, scale).await,
        None => None,
    };
    let fleet = real_fleet(scenario, &setup, scale, probe.as_ref().map(|p| p.epoch_s));
    let (tx, rx) = mpsc::unbounded_channel::<Done>();
    let (links, forwarders, mqtt_broker) = match (&opts.mqtt, mqtt_group) {
        (Some(given), Some(_)) => {
            let ca = opts.target.ca_pem.as_ref().map(|(_, pem)| pem.as_slice());
            mqtt_links::connect_mqtt(given, ca, &setup, &fleet.devices, reach.timeout, &tx).await?
        }
        _ => (
            fleet.devices.iter().map(|_| None).collect(),
            Vec::new(),
            None,
        ),
    };
    let reach_tenant = reach.tenant.clone();
    let mut driver = Driver::new(scenario, setup, reach, fleet, links, scale);
    driver.mqtt_broker = mqtt_broker;
    driver.mqtt_port = mqtt_port;
    driver.edge = edge::Edge::new(
        scenario,
        &driver.setup,
        &driver.devices,
        &twin_base,
        twin_auth,
    );
    if let (Some(edge), TwinApi::Http) = (&mut driver.edge, opts.twin.api) {
        edge.over_http();
    }
    driver.metrics = metrics;
    if let Some(live) = &opts.live {
        let feed = live::LiveFeed::new(live.clone(), &driver.setup, &driver.devices);
        driver.live = Some(feed);
    }
    let sample_every = fleetsim_fleet::fleet::sample_interval(scenario);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    driver.started = Instant::now();
    if let Some(p) = probe {
        // `serve`'s clock is the run's: one time line for both sides.
        driver.started = p.zero;
        let campaigns = driver.setup.campaigns.len();
        let mut feed = server_feed::ServerFeed::new(p.stream, &driver.devices, campaigns);
        feed.subscribe(tx.clone());
        driver.server = Some(feed);
    }
    let conductors = manager.map(|(managers, api)| {
        managed_campaigns::spawn(managers, api, scenario, &mut driver, &reach_tenant, stopped)
    });
    let mut result = driver.run(sample_every, tx, rx).await;
    for f in forwarders {
        f.abort();
    }
    let _ = stop.send(true);
    if let Some(c) = conductors {
        c.finish(&mut result).await;
    }
    Ok(result)
}
