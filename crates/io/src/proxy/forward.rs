//! One proxied exchange: decide its fate from the device's stream, then drop
//! it, hold it, forward it, lose its answer, or pace the answer's body to
//! the link's bandwidth and cut it when the device's online window ends.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;
use tokio::time::Instant;

use fleetsim_core::netem::{decide, Fate};
use fleetsim_core::time::{Span, Time};
use fleetsim_fleet::scenario::Scenario;
use fleetsim_fleet::setup::{Group, Setup};

use super::device::{key_of, DeviceNet, Key};
use crate::netem::{NetTally, Pace, Pacer, Shape, CLOCK_HEADER};

type Upstream = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Headers that belong to one hop, not to the exchange (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A [`CLOCK_HEADER`] stamp at or above this (about 139 years) is not a
/// scenario time; the request goes on the proxy's clock.
const MAX_STAMP_MS: u64 = 1 << 42;

/// The proxy's shared state.
pub(super) struct State {
    groups: Vec<Group>,
    seed: u64,
    scale: f64,
    started: Instant,
    upstream: String,
    client: Upstream,
    devices: Mutex<HashMap<Key, DeviceNet>>,
    tally: Mutex<NetTally>,
}

/// Why a proxied connection was closed without (all of) an answer.
#[derive(Debug, thiserror::Error)]
pub(super) enum Closed {
    /// The request was lost (or its device was offline).
    #[error("request dropped by the emulated network")]
    Request,
    /// The answer was lost after the server did the work.
    #[error("answer dropped by the emulated network")]
    Answer,
    /// The device's online window ended mid-exchange.
    #[error("cut by the end of the online window")]
    Window,
}

type Answer = hyper::Response<Paced>;

impl State {
    pub(super) fn new(s: &Scenario, upstream: String) -> Result<State, rustls::Error> {
        let setup = Setup::new(s);
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config()?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(State {
            groups: setup.groups,
            seed: s.seed,
            scale: s.load.time_scale,
            started: Instant::now(),
            upstream,
            client: Client::builder(TokioExecutor::new()).build(https),
            devices: Mutex::new(HashMap::new()),
            tally: Mutex::new(NetTally::default()),
        })
    }

    pub(super) fn tally(&self) -> NetTally {
        self.tally.lock().map(|t| *t).unwrap_or_default()
    }

    fn count(&self, f: impl FnOnce(&mut NetTally)) {
        if let Ok(mut t) = self.tally.lock() {
            f(&mut t);
        }
    }

    /// Scenario time of a request that arrives now with `headers`, and the
    /// real instant of that clock's zero: the client's clock when it sent
    /// its own ([`CLOCK_HEADER`], a fleetsim run), else the proxy's.
    fn clock(&self, headers: &hyper::HeaderMap) -> (Time, Instant) {
        let arrived = Instant::now();
        let stamped = headers
            .get(CLOCK_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|ms| *ms < MAX_STAMP_MS)
            .and_then(|ms| {
                let since_zero = crate::netem::real(Span(ms), self.scale);
                Some((Time(ms), arrived.checked_sub(since_zero)?))
            });
        match stamped {
            Some(clock) => clock,
            None => {
                let ms = self.started.elapsed().as_secs_f64() * 1000.0 * self.scale;
                (Time(ms as u64), self.started)
            }
        }
    }

    /// The fate of the next exchange of `key`'s device.
    fn fate(&self, key: &Key, now: Time) -> Fate {
        let Ok(mut devices) = self.devices.lock() else {
            return Fate::Offline { next_online: now };
        };
        let d = devices
            .entry(key.clone())
            .or_insert_with(|| DeviceNet::new(&self.groups, key, self.seed));
        decide(&self.groups[d.group].link, d.phase, now, &mut d.rng)
    }
}

/// TLS to an `https://` upstream: the web PKI's roots, ring as provider.
fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Proxies one request as its device's link says.
pub(super) async fn handle(
    state: Arc<State>,
    peer: SocketAddr,
    req: hyper::Request<Incoming>,
) -> Result<Answer, Closed> {
    let path = req.uri().path().to_string();
    let key = key_of(&state.groups, &path, peer.ip());
    let (now, zero) = state.clock(req.headers());
    let plan = match state.fate(&key, now) {
        Fate::Send(plan) => plan,
        Fate::Offline { next_online } => {
            state.count(|t| t.partition_refused += 1);
            tracing::info!(?key, %path, %now, %next_online, "offline: refused");
            return Err(Closed::Request);
        }
    };
    state.count(|t| t.planned(&plan));
    let cut_at = crate::netem::instant_of(zero, plan.window_end, state.scale);
    tokio::time::sleep(crate::netem::real(plan.up, state.scale)).await;
    if plan.drop_request {
        tracing::info!(?key, %path, "request dropped");
        return Err(Closed::Request);
    }
    if cut_at.is_some_and(|c| Instant::now() >= c) {
        state.count(|t| t.partition_cuts += 1);
        tracing::info!(?key, %path, "window ended before the request arrived");
        return Err(Closed::Window);
    }
    let resp = match forward(&state, req).await {
        Ok(r) => r,
        Err(status) => return Ok(status_only(status)),
    };
    let shape = Shape::of(&plan, state.scale, cut_at);
    if let Some(e) = crate::netem::hold_answer(&shape).await {
        if plan.drop_answer {
            tracing::info!(?key, %path, "answer dropped");
            return Err(Closed::Answer);
        }
        state.count(|t| t.partition_cuts += 1);
        tracing::info!(?key, %path, "window ended before the answer ({e})");
        return Err(Closed::Window);
    }
    tracing::debug!(?key, %path, up = %plan.up, down = %plan.down, "forwarded");
    Ok(paced(state, resp, shape, key))
}

/// Sends `req` upstream (its `Host` kept, so a server that builds URLs
/// from it points them at the proxy); an error status when it cannot.
async fn forward(
    state: &State,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Incoming>, u16> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| 400u16)?.to_bytes();
    let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri: hyper::Uri = format!("{}{pq}", state.upstream)
        .parse()
        .map_err(|_| 400u16)?;
    let mut out = hyper::Request::builder().method(parts.method).uri(uri);
    for (name, value) in parts.headers.iter() {
        if !HOP_BY_HOP.contains(&name.as_str()) && name != CLOCK_HEADER {
            out = out.header(name, value);
        }
    }
    let out = out.body(Full::new(body)).map_err(|_| 400u16)?;
    state.client.request(out).await.map_err(|e| {
        tracing::warn!("upstream {}: {e}", state.upstream);
        502u16
    })
}

fn status_only(status: u16) -> Answer {
    let mut r = hyper::Response::new(Paced::empty());
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    r
}

/// The upstream answer with its body paced to the link by a task of its own.
fn paced(state: Arc<State>, resp: hyper::Response<Incoming>, shape: Shape, key: Key) -> Answer {
    let (parts, mut body) = resp.into_parts();
    let (tx, rx) = mpsc::channel::<Result<Bytes, Closed>>(4);
    tokio::spawn(async move {
        let mut pacer = Pacer::new(&shape);
        let mut total = 0usize;
        while let Some(frame) = body.frame().await {
            let Ok(Ok(data)) = frame.map(|f| f.into_data()) else {
                // Trailers are not passed on; an upstream error ends the body.
                continue;
            };
            let len = data.len();
            total += len;
            if let Pace::Cut(n) = pacer.admit(total).await {
                let keep = len.saturating_sub(total - n);
                if keep > 0 {
                    let _ = tx.send(Ok(data.slice(..keep))).await;
                }
                state.count(|t| t.partition_cuts += 1);
                tracing::info!(?key, bytes = n, "window ended mid-body: cut");
                let _ = tx.send(Err(Closed::Window)).await;
                return;
            }
            if tx.send(Ok(data)).await.is_err() {
                return; // the client went away
            }
        }
    });
    let mut out = hyper::Response::from_parts(parts, Paced { rx: Some(rx) });
    for name in HOP_BY_HOP {
        out.headers_mut().remove(name);
    }
    out
}

/// A body fed by the pacing task; an error aborts the connection.
pub(super) struct Paced {
    rx: Option<mpsc::Receiver<Result<Bytes, Closed>>>,
}

impl Paced {
    fn empty() -> Paced {
        Paced { rx: None }
    }
}

impl Body for Paced {
    type Data = Bytes;
    type Error = Closed;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Closed>>> {
        let Some(rx) = self.rx.as_mut() else {
            return Poll::Ready(None);
        };
        rx.poll_recv(cx)
            .map(|next| next.map(|r| r.map(Frame::data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A proxy that started long before its client still puts the client's
    /// requests on the client's clock when they are stamped, and on its own
    /// when they are not (or carry no usable stamp).
    #[test]
    fn a_stamped_request_is_on_the_clients_clock() {
        let s = fleetsim_fleet::scenario::load_str(
            "t.yaml",
            "name: t\nseed: 1\nduration: 1d\nfleet:\n  - { kind: always_on, count: 1 }\nload: { time_scale: 1000 }\n",
        )
        .expect("scenario");
        let mut state = State::new(&s, "http://127.0.0.1:1".into()).expect("state");
        // The proxy has been up for an hour of scenario time (3.6 real s).
        state.started = Instant::now()
            .checked_sub(Duration::from_millis(3_600))
            .expect("the machine has been up for a few seconds");
        let stamp = |v: &str| {
            let mut h = hyper::HeaderMap::new();
            h.insert(CLOCK_HEADER, v.parse().expect("header value"));
            h
        };

        let (now, zero) = state.clock(&stamp("5000"));
        assert_eq!(now, Time(5_000));
        let since_zero = zero.elapsed();
        assert!(since_zero >= Duration::from_millis(5), "{since_zero:?}");
        assert!(since_zero < Duration::from_millis(3_000), "{since_zero:?}");

        for unstamped in [
            hyper::HeaderMap::new(),
            stamp("soon"),
            stamp("18446744073709551615"),
        ] {
            let (now, zero) = state.clock(&unstamped);
            assert!(now >= Time(3_600_000), "{now:?}");
            assert_eq!(zero, state.started);
        }
    }
}
