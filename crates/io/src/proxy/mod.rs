//! `fleetsim proxy`: an HTTP reverse proxy that puts a scenario's flaky
//! network between any HTTP client and a server, toxiproxy-style — the same
//! seeded faults as a real-time run with `load.emulate_network` (drops each
//! way, latency, throttled bodies, online windows), decided by
//! [`fleetsim_core::netem`] per device.
//!
//! A request's device is its DDI controller id (`/{tenant}/controller/v1/{id}/…`),
//! matched to the fleet group whose id prefix it carries and seeded by its
//! device number, so a real device named like a scenario device meets that
//! device's faults; other requests are keyed by client address on the first
//! group's link. Scenario time runs `load.time_scale` times faster than real
//! time from the proxy's start.

mod device;
mod forward;

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use fleetsim_fleet::scenario::Scenario;

use crate::netem::NetTally;

/// What to proxy, and the scenario whose links to apply.
#[derive(Clone, Debug)]
pub struct ProxyOptions {
    /// Address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Where requests go: `http[s]://host:port` (a path prefix is kept).
    pub upstream: String,
    /// The scenario: its groups' `connectivity`, seed and `load.time_scale`.
    pub scenario: Scenario,
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// `--upstream` is not an http(s) URL.
    #[error("--upstream {0}: expected an http:// or https:// URL such as http://127.0.0.1:8080")]
    Upstream(String),
    /// `load.time_scale` is not a positive number.
    #[error("load.time_scale: expected a number above 0, found {0}")]
    TimeScale(f64),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The TLS client for an `https://` upstream could not be set up.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// Signal handlers could not be installed.
    #[error("cannot wait for signals: {0}")]
    Signal(std::io::Error),
}

/// A running proxy.
pub struct RunningProxy {
    /// The bound address.
    pub addr: SocketAddr,
    /// `http://addr`, for clients.
    pub base_url: String,
    stop: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
    state: Arc<forward::State>,
}

impl RunningProxy {
    /// What the proxy injected so far.
    pub fn tally(&self) -> NetTally {
        self.state.tally()
    }

    /// Stops accepting, lets requests in progress finish (bounded), and
    /// returns what the proxy injected.
    pub async fn shutdown(self) -> NetTally {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.accept).await;
        self.state.tally()
    }
}

/// Starts the proxy described by `opts`.
pub async fn start(opts: ProxyOptions) -> Result<RunningProxy, ProxyError> {
    let scale = opts.scenario.load.time_scale;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(ProxyError::TimeScale(scale));
    }
    let upstream = opts.upstream.trim_end_matches('/').to_string();
    if !(upstream.starts_with("http://") || upstream.starts_with("https://"))
        || upstream.parse::<hyper::Uri>().is_err()
    {
        return Err(ProxyError::Upstream(opts.upstream));
    }
    let listener = TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ProxyError::Bind {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ProxyError::Bind {
        addr: opts.listen,
        source,
    })?;
    let state = Arc::new(forward::State::new(&opts.scenario, upstream.clone())?);
    let (stop, stopped) = watch::channel(false);
    tracing::info!(%addr, %upstream, "proxy listening");
    let accept = tokio::spawn(accept_loop(listener, state.clone(), stopped));
    Ok(RunningProxy {
        addr,
        base_url: format!("http://{addr}"),
        stop,
        accept,
        state,
    })
}

/// Runs the proxy until Ctrl-C or SIGTERM, then prints what it injected.
pub async fn proxy_until_signal(opts: ProxyOptions) -> Result<NetTally, ProxyError> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(ProxyError::Signal)?;
    let running = start(opts).await?;
    #[cfg(unix)]
    let term = term.recv();
    #[cfg(not(unix))]
    let term = std::future::pending::<Option<()>>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
    Ok(running.shutdown().await)
}

/// The shutdown summary: one `name value` line per counter.
pub fn summary(t: &NetTally) -> String {
    t.counters()
        .iter()
        .map(|(name, n)| format!("{name} {n}\n"))
        .collect()
}

/// Resolves once a stop is asked for (or the [`RunningProxy`] is gone).
async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<forward::State>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = stop_requested(&mut stopped) => break,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let service = service_fn(move |req| forward::handle(state.clone(), peer, req));
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        while conns.try_join_next().is_some() {}
        conns.spawn(async move {
            // An error is how an injected drop closes the connection.
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "connection closed: {e}");
            }
        });
    }
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(std::time::Duration::from_secs(3), drain)
        .await
        .is_err()
    {
        conns.abort_all();
    }
}
