//! `fleetsim serve`: the embedded reference server over real HTTP(S).
//!
//! The same sans-IO [`Server`](fleetsim_core::server::Server) core the virtual
//! driver calls in-process answers real requests here: a device developer
//! points a device (or `fleetsim run --target`) at it and gets hawkBit DDI
//! v1 behaviour — content negotiation, ETags, Range downloads, absolute HAL
//! links built from the `Host` the client used — plus, from a scenario, its
//! campaigns, artifacts and fault windows.
//!
//! - HTTP/1.1 with keep-alive over hyper, one task per connection; HTTPS via
//!   rustls (ring) from PEM files.
//! - Scenario time is real time since start × `time_scale`, so a campaign
//!   `at: 1h` fires after 3.6 s with `time_scale: 1000`.
//! - Devices register themselves (plug and play). A campaign is assigned,
//!   at its time, to every registered target it selects; a target that
//!   registers later gets every campaign already started (and not yet
//!   canceled) on its first poll — unlike hawkBit, where an assignment is
//!   one-shot, because a device pointed at `serve` late expects its update.
//!   Device kinds come from the fleet groups' controller-id prefixes
//!   (`<id_prefix><number>`); see `state.rs`.
//! - The hawkBit Management API v1 subset answers under `/rest/v1/` (HTTP
//!   Basic auth, default `admin`/`admin`; see [`start_with_credentials`]).
//!   Without a scenario the server starts empty and is driven by it alone;
//!   with one, the scenario's campaigns still run, and targets created
//!   through it get the campaigns already started, like self-registered ones.
//! - The Exosite OTAU device API (otau.md §4) of the embedded
//!   [`OtauServer`](fleetsim_core::server::otau::OtauServer), devices `0..n` (n = the
//!   scenario's device count, 10 000 without one) with CIK
//!   [`cik_for`](fleetsim_core::server::otau::cik_for)`(i)`: `GET|POST
//!   /onep:v1/stack/alias`, `GET /provision/download`, `GET /timestamp`,
//!   `POST /provision/activate`. Products (`--product-id`, a group's
//!   `otau.product`) and activation gating (a scenario group with
//!   `otau.activate`: only activated or pre-provisioned tokens work) are set
//!   up as in virtual time (`fleetsim_fleet::setup::configure_otau`).
//!   A long poll (`Request-Timeout`) is held by its connection task, not a
//!   thread or the lock, until the device's manifest changes or the timeout
//!   (scenario time) passes; shutdown answers held polls 304. Admin routes,
//!   with the Management API's Basic credentials, play the application:
//!   `PUT /fleetsim/otau/devices/{n}/config_otau` and
//!   `PUT /fleetsim/otau/config_otau` (all devices) publish a manifest (body
//!   = manifest JSON, UTF-8, ≤ 64 KiB; 204, 400, 404 for an unknown device)
//!   and wake the affected polls; `GET /fleetsim/otau/devices/{n}/otau_in`
//!   (recorded statuses as JSON), `GET /fleetsim/otau/devices/{n}/cik`,
//!   `PUT /fleetsim/otau/content/{id}` (body = the content's bytes, served
//!   with `info=true` and `Range`), `GET /fleetsim/otau/stats` (held polls).
//! - OTAU over MQTT (otau.md §8): with a scenario that has `otau_mqtt`
//!   groups, or with [`ServeMqtt::Embedded`] (`--mqtt-listen`), `serve`
//!   plays Murano's MQTT endpoint itself ([`crate::mqtt::murano`]: the
//!   token as the password, `$resource/...` topics, `$provision/<identity>`),
//!   over TLS with `serve`'s certificate when it has one, where a client
//!   negotiating ALPN `http/1.1` gets this HTTP service instead (otau.md
//!   §4.6). For development and third-party brokers, [`ServeMqtt::External`]
//!   (`--mqtt-broker`, e.g. Mosquitto) and [`ServeMqtt::EmbeddedBroker`]
//!   (rumqttd) connect a [`ServerBridge`](crate::mqtt::ServerBridge) to a
//!   generic broker with `fleetsim/<cik>/...` topics instead. Either way the
//!   MQTT side works on the same OTAU core as the HTTP routes (a device may
//!   download over HTTP and publish its statuses over MQTT) and sends every
//!   manifest a campaign or an admin route writes to an MQTT device
//!   ([`Running::mqtt_addr`], [`Running::mqtt_url`]).
//! - Server-side events (action status changes, OTAU manifests written,
//!   install commands given, fired and finished, cache evictions) on
//!   `GET /fleetsim/events?from=SEQ[&wait_ms=N]` as NDJSON, and the
//!   gateway's statistics on `GET /fleetsim/gateway`, both with the
//!   Management API's Basic credentials ([`crate::server_events`],
//!   `events.rs`): the real-time driver feeds them to its oracle.
//! - The Ditto twin service (`twin.rs`, [`TwinHub`](fleetsim_core::server::twin::TwinHub)):
//!   the HTTP API v2 subset under `/api/2/things/` and the Ditto Protocol
//!   WebSocket `GET /ws/2` that gateways keep their twins in sync over,
//!   both with the Management API's Basic credentials.
//! - Scenario `reset: true` fault windows close the connection without an answer.
//! - Artifact bodies are generated in 64 KiB chunks while they are sent.
//! - Shutdown stops accepting, lets in-flight requests finish and closes idle
//!   keep-alive connections, waiting at most [`SHUTDOWN_GRACE`].
//!
//! Limits against hostile or broken clients ([`ServeLimits`], `limits.rs`;
//! flags where a deployment at scale may need another value):
//!
//! | limit | default | outcome |
//! |---|---|---|
//! | credentials of `/rest/v1/` and `/fleetsim/otau/` | from the headers, before the body | 401; a body over 64 KiB is left unread and the connection closed |
//! | body size per route ([`limits::MAX_BODY_BYTES`], [`limits::MAX_UPLOAD_BYTES`]) | 1 MiB; 64 MiB for `POST /rest/v1/softwaremodules/{id}/artifacts` and `PUT /fleetsim/otau/content/{id}` | 413 from `Content-Length` before reading, or once a chunked body passes it |
//! | request bodies in memory, all connections (`--max-body-memory`) | 256 MiB | a body reserves its length first; 503 + `Retry-After: 5` when it does not fit |
//! | body time ([`ServeLimits::body_timeout`]) | 30 s + length at 64 KiB/s | 408, connection closed |
//! | request head time ([`ServeLimits::header_timeout`]) | 30 s from its first byte | connection closed |
//! | idle (`--idle-timeout`) | 60 s without a byte while no request is answered (a held OTAU long poll is being answered) | connection closed; also ends clients that stop reading |
//! | open connections (`--max-connections`) | 10 000, lowered to the open-file limit (soft raised to hard) − 256 | while full: no `accept`, the quietest connection is closed (below) |
//! | ids from the network (`server/ids.rs`) | hawkBit's controller-id rule: 1–256 chars, no whitespace, control chars, `/`, `\`, not `.`/`..` | 400 before anything is stored |
//!
//! When every connection slot is taken the server stops accepting (new
//! connections wait in the kernel's listen backlog) and closes the
//! connection that has been quiet longest (at least 1 s, no request being
//! answered) to make room; with none quiet enough it looks again every
//! 250 ms. So a flood of idle connections cannot lock devices out for the
//! idle timeout, and a server full of busy connections applies back-pressure.
//!
//! Layout: `mod.rs` (this file: options, start, shutdown), `conn.rs`
//! (listener, connection limit, idle watchdog), `adapter.rs` (hyper ↔
//! [`Request`](fleetsim_core::message::Request)/[`Response`](fleetsim_core::message::Response)),
//! `endpoint.rs` (what a listener's connections share), `serve_body.rs`
//! (response bodies, synthetic ones in chunks), `body.rs` (request bodies
//! within their limits), `limits.rs`, `state.rs` (server core, clock, campaign
//! schedule), `otau.rs` (OTAU routes and the registry of held polls),
//! `long_poll.rs` (holding a long poll), `tls.rs` (rustls from PEM files),
//! `twin.rs` (the Ditto twin: HTTP API and WebSocket sessions).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

pub use fleetsim_core::server::MgmtCredentials;
use fleetsim_core::time::Time;
use fleetsim_fleet::scenario::Scenario;

mod adapter;
mod body;
mod conn;
mod cpg_admin;
mod endpoint;
mod events;
#[cfg(test)]
mod fuzz_tests;
mod hook;
pub mod limits;
mod long_poll;
mod mqtt_side;
mod otau;
mod serve_body;
mod state;
mod tls;
mod twin;

pub use hook::{DdiHook, Shape};
pub use limits::ServeLimits;
/// For the metrics' route kinds.
pub(crate) use otau::{is_otau_path, ADMIN_PREFIX as OTAU_ADMIN_PREFIX};

use endpoint::{Endpoint, Shared};
use mqtt_side::{start_mqtt, MqttSide};
use state::{Clock, State};

/// How long shutdown waits for in-flight requests before it drops them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a client may take to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed `accept` (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What `fleetsim serve` is asked to do.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Address to listen on (`--listen`); port 0 picks a free port.
    pub listen: SocketAddr,
    /// Campaigns, artifacts, faults and server settings (`--scenario`);
    /// `None` is an empty server with default settings and no authentication.
    pub scenario: Option<Scenario>,
    /// PEM certificate chain and key (`--tls-cert`, `--tls-key`): serve HTTPS.
    pub tls: Option<TlsFiles>,
    /// Scenario time runs this many times faster than real time (1.0 = real time).
    pub time_scale: f64,
    /// OTAU over MQTT: which broker the bridge uses.
    pub mqtt: ServeMqtt,
    /// Connection, timeout and body limits (`--max-connections`, ...).
    pub limits: ServeLimits,
    /// Tenants hosted beside the default one and those a scenario's fleet
    /// names (`--tenant`); each answers DDI under `/{tenant}/controller/v1/`
    /// and the Management API to a user named as the tenant.
    pub tenants: Vec<String>,
    /// Serve Prometheus metrics on `GET /metrics` here (`--metrics-listen`);
    /// port 0 picks a free port ([`Running::metrics_addr`]).
    pub metrics_listen: Option<SocketAddr>,
    /// OTAU product ids (`--product-id`): the first is the default product
    /// (every OTAU device whose scenario group names no `otau.product`),
    /// the others are hosted beside the scenario's (otau.md §4.5; see
    /// `provision.rs` of the OTAU core). Empty: the default `fleetsim`.
    pub products: Vec<String>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            scenario: None,
            tls: None,
            time_scale: 1.0,
            mqtt: ServeMqtt::Auto,
            limits: ServeLimits::default(),
            tenants: Vec::new(),
            metrics_listen: None,
            products: Vec::new(),
        }
    }
}

/// The MQTT side of `serve` (OTAU over MQTT).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServeMqtt {
    /// The Murano-shaped endpoint ([`crate::mqtt::murano`]) on a free
    /// loopback port when the scenario has `otau_mqtt` groups; no MQTT otherwise.
    #[default]
    Auto,
    /// The Murano-shaped endpoint on this address (`--mqtt-listen`; port 0
    /// picks one). TLS (and HTTP over the port, ALPN `http/1.1`) when
    /// `serve` has a certificate.
    Embedded(SocketAddr),
    /// The embedded generic broker (rumqttd, `fleetsim/<cik>/...` topics)
    /// on this address and the bridge to it: development, plain TCP.
    EmbeddedBroker(SocketAddr),
    /// No broker of its own: the bridge connects to this one (`--mqtt-broker`,
    /// `fleetsim/<cik>/...` topics, plain TCP).
    External(SocketAddr),
}

/// PEM files for HTTPS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain (`--tls-cert`).
    pub cert: PathBuf,
    /// Private key: PKCS#8, PKCS#1 or SEC1 (`--tls-key`).
    pub key: PathBuf,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("--listen {addr}: cannot listen on this address: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The `--metrics-listen` address could not be bound.
    #[error(transparent)]
    Metrics(crate::metrics::ListenError),
    /// A TLS file is missing, unreadable or not what was expected.
    #[error("{flag} {}: {message}", path.display())]
    Tls {
        /// The flag that named the file (`--tls-cert` or `--tls-key`).
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A limit is out of range (see [`ServeLimits`]).
    #[error("{flag}: {message}")]
    Limit {
        /// The flag (or field) of the limit.
        flag: &'static str,
        /// What was expected.
        message: &'static str,
    },
    /// The time scale is not a positive finite number.
    #[error("--time-scale: expected a positive number such as 1 or 1000, found {0}")]
    TimeScale(f64),
    /// A `--tenant` is no tenant name.
    #[error(
        "--tenant {0:?}: expected a tenant name: 1 to 40 ASCII letters, digits, `-`, `_` or `.`"
    )]
    Tenant(String),
    /// A `--product-id` is no product id.
    #[error("--product-id {0:?}: expected 1 to 64 lowercase ASCII letters and digits")]
    Product(String),
    /// The embedded broker did not start or the bridge could not connect.
    #[error("mqtt {addr}: {source}")]
    Mqtt {
        /// The broker's address (asked for, for the embedded one).
        addr: String,
        /// What went wrong.
        source: crate::mqtt::MqttError,
    },
    /// The Ctrl-C / SIGTERM handler could not be installed.
    #[error("cannot listen for Ctrl-C/SIGTERM: {0}")]
    Signal(std::io::Error),
}

/// A started server; dropping it stops the server like [`Running::shutdown`],
/// without waiting.
pub struct Running {
    /// The address actually bound (the port is real when 0 was asked for).
    pub local_addr: SocketAddr,
    /// `http://addr` or `https://addr`.
    pub base_url: String,
    /// The MQTT endpoint or broker devices connect to (embedded or external), if any.
    pub mqtt_addr: Option<SocketAddr>,
    /// The same as a URL for [`crate::realtime::RealOptions::mqtt`]:
    /// `mqtt://` or `mqtts://` (the Murano-shaped endpoint) or
    /// `fleetsim+mqtt://` (a generic broker, `fleetsim/<cik>` topics).
    pub mqtt_url: Option<String>,
    /// Where `GET /metrics` is served (`--metrics-listen`), if anywhere.
    pub metrics_addr: Option<SocketAddr>,
    _metrics: Option<crate::metrics::MetricsServer>,
    stop: watch::Sender<bool>,
    accept: JoinHandle<()>,
    timer: JoinHandle<()>,
    mqtt: Option<MqttSide>,
    /// Connections open now.
    open: Arc<std::sync::atomic::AtomicUsize>,
    max_connections: usize,
    /// Free bytes of the body memory, of `max_body_memory`.
    body_budget: Arc<Semaphore>,
    max_body_memory: usize,
}

impl Running {
    /// Connections open now (at most `max_connections`).
    pub fn open_connections(&self) -> usize {
        self.open.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The connection limit in force (`max_connections`, lowered to what
    /// the open-file limit leaves).
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Bytes of request bodies reserved now (being read or answered).
    pub fn body_bytes_held(&self) -> usize {
        self.max_body_memory - self.body_budget.available_permits()
    }

    /// Graceful shutdown: stop accepting, let in-flight requests finish
    /// (at most [`SHUTDOWN_GRACE`], then drop them), close idle connections.
    pub async fn shutdown(self) {
        tracing::info!(addr = %self.local_addr, "shutting down");
        self.stop.send_replace(true);
        if let Err(e) = self.accept.await {
            tracing::warn!("listener task ended abnormally: {e}");
        }
        if let Err(e) = self.timer.await {
            tracing::warn!("campaign timer ended abnormally: {e}");
        }
        drop(self.mqtt);
        tracing::info!(addr = %self.local_addr, "stopped");
    }
}

/// Binds, spawns the listener and the campaign timer on the current tokio
/// runtime, and returns at once. The Management API takes `admin`/`admin`.
pub async fn start(opts: ServeOptions) -> Result<Running, ServeError> {
    start_with_credentials(opts, MgmtCredentials::default()).await
}

/// [`start`] with the Management API's Basic-auth credentials.
pub async fn start_with_credentials(
    opts: ServeOptions,
    mgmt: MgmtCredentials,
) -> Result<Running, ServeError> {
    let state = State::new(opts.scenario.as_ref(), mgmt.clone());
    start_state(opts, mgmt, state, None).await
}

/// An empty server of DDI settings `config` whose device requests pass
/// through `hook` (`fleetsim conform --device`); `opts.scenario` is not used.
pub async fn start_hooked(
    opts: ServeOptions,
    config: fleetsim_core::server::ServerConfig,
    hook: Arc<dyn DdiHook>,
) -> Result<Running, ServeError> {
    let mgmt = MgmtCredentials::default();
    let mut state = State::with_config(config, mgmt.clone());
    hook.init(state.tenants_mut());
    start_state(opts, mgmt, state, Some(hook)).await
}

/// Starts `state` as [`start_with_credentials`] describes.
async fn start_state(
    opts: ServeOptions,
    mgmt: MgmtCredentials,
    mut state: State,
    hook: Option<Arc<dyn DdiHook>>,
) -> Result<Running, ServeError> {
    if !(opts.time_scale.is_finite() && opts.time_scale > 0.0) {
        return Err(ServeError::TimeScale(opts.time_scale));
    }
    opts.limits.check()?;
    let tls_config = opts.tls.as_ref().map(tls::server_config).transpose()?;
    let tls = tls_config.clone().map(tokio_rustls::TlsAcceptor::from);
    if let Some(bad) = state.host_tenants(&opts.tenants) {
        return Err(ServeError::Tenant(bad));
    }
    if let Some(bad) = state.host_products(&opts.products) {
        return Err(ServeError::Product(bad));
    }
    state.log_tenants();
    let tenant_users = state.tenant_users();
    let bind_error = |source| ServeError::Bind {
        addr: opts.listen,
        source,
    };
    let listener = TcpListener::bind(opts.listen).await.map_err(bind_error)?;
    let local_addr = listener.local_addr().map_err(bind_error)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base_url = format!("{scheme}://{local_addr}");
    // Scenario time zero is now; the CDN's `expires` are Unix seconds.
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    state.rebase_gateway(&base_url, unix_now);
    let shared = Arc::new(Shared::new(state, Clock::new(opts.time_scale)));
    let (stop, stopped) = watch::channel(false);
    let max_connections = opts
        .limits
        .connections_allowed()
        .min(Semaphore::MAX_PERMITS);
    let max_body_memory = opts.limits.max_body_memory.min(Semaphore::MAX_PERMITS);
    let slots = conn::Slots {
        free: Arc::new(Semaphore::new(max_connections)),
        open: Default::default(),
        live: Default::default(),
    };
    let open = slots.open.clone();
    let body_budget = Arc::new(Semaphore::new(max_body_memory));
    let metrics = start_metrics(opts.metrics_listen).await?;
    let endpoint = Arc::new(Endpoint {
        shared: shared.clone(),
        scheme,
        local_addr,
        stopped: stopped.clone(),
        credentials: mgmt,
        tenant_users,
        limits: opts.limits.clone(),
        body_budget: body_budget.clone(),
        metrics: metrics.as_ref().map(|(m, _)| m.clone()),
        hook,
    });
    let mqtt = start_mqtt(
        opts.mqtt,
        opts.scenario.as_ref(),
        &shared,
        tls_config,
        endpoint.clone(),
    )
    .await?;
    let (mqtt_addr, mqtt_url, mqtt) = match mqtt {
        Some((a, u, m)) => (Some(a), Some(u), Some(m)),
        None => (None, None, None),
    };
    let accept = tokio::spawn(conn::accept_loop(
        listener,
        tls,
        endpoint,
        slots,
        stopped.clone(),
    ));
    let timer = tokio::spawn(campaign_timer(shared, stopped));
    match mqtt_addr {
        Some(_) => {
            let mqtt = mqtt_url.as_deref().unwrap_or_default();
            tracing::info!(%base_url, %mqtt, time_scale = opts.time_scale, "fleetsim serve listening (HTTP and MQTT)")
        }
        None => tracing::info!(%base_url, time_scale = opts.time_scale, "fleetsim serve listening"),
    }
    Ok(Running {
        local_addr,
        base_url,
        mqtt_addr,
        mqtt_url,
        metrics_addr: metrics.as_ref().map(|(_, s)| s.local_addr),
        _metrics: metrics.map(|(_, s)| s),
        stop,
        accept,
        timer,
        mqtt,
        open,
        max_connections,
        body_budget,
        max_body_memory,
    })
}

/// `serve`'s metrics and their listener, when `--metrics-listen` asks.
async fn start_metrics(
    listen: Option<SocketAddr>,
) -> Result<Option<(Arc<crate::metrics::Metrics>, crate::metrics::MetricsServer)>, ServeError> {
    let Some(addr) = listen else {
        return Ok(None);
    };
    let metrics = crate::metrics::Metrics::for_serve();
    let server = crate::metrics::listen(addr, metrics.clone())
        .await
        .map_err(ServeError::Metrics)?;
    tracing::info!(metrics = %format!("http://{}/metrics", server.local_addr), "fleetsim serve metrics");
    Ok(Some((metrics, server)))
}

/// For the CLI: start, wait for Ctrl-C or SIGTERM, shut down gracefully.
pub async fn serve_until_signal(opts: ServeOptions) -> Result<(), ServeError> {
    serve_until_signal_with_credentials(opts, MgmtCredentials::default()).await
}

/// [`serve_until_signal`] with the Management API's Basic-auth credentials.
pub async fn serve_until_signal_with_credentials(
    opts: ServeOptions,
    mgmt: MgmtCredentials,
) -> Result<(), ServeError> {
    let signal = shutdown_signal()?;
    let running = start_with_credentials(opts, mgmt).await?;
    signal.await;
    running.shutdown().await;
    Ok(())
}

/// A future that completes on Ctrl-C or (Unix) SIGTERM; installed before it is awaited.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, ServeError> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(ServeError::Signal)?;
    Ok(async move {
        #[cfg(unix)]
        let term = term.recv();
        #[cfg(not(unix))]
        let term = std::future::pending::<Option<()>>();
        tokio::select! {
            r = tokio::signal::ctrl_c() => match r {
                Ok(()) => tracing::info!("Ctrl-C received"),
                Err(e) => tracing::error!("cannot wait for Ctrl-C ({e}); shutting down"),
            },
            _ = term => tracing::info!("SIGTERM received"),
        }
    })
}

/// Resolves once a stop is asked for (or the [`Running`] handle is gone).
pub(super) async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Starts and cancels campaigns at their scenario times, whether or not
/// requests arrive (requests also catch up on due steps before they are answered).
async fn campaign_timer(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut woke_for = Time::ZERO;
    loop {
        let due = {
            let mut state = shared.lock();
            // Woken for `woke_for`: run it even if float rounding puts `now` a hair before.
            state.advance(shared.clock().now().max(woke_for));
            if state.take_otau_written() {
                shared.waiters().wake(otau::Wake::All);
            }
            state.next_due()
        };
        let Some(at) = (due != Time::NEVER)
            .then(|| shared.clock().instant_of(due))
            .flatten()
        else {
            return stop_requested(&mut stopped).await;
        };
        tokio::select! {
            () = tokio::time::sleep_until(at.into()) => woke_for = due,
            () = stop_requested(&mut stopped) => return,
        }
    }
}
