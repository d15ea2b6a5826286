//! The Ditto twin service of `fleetsim serve`: the sans-IO
//! [`TwinHub`] behind real HTTP and WebSocket (ditto.md §2, §5).
//!
//! - `GET|PUT|DELETE /api/2/things/…` and `POST …/inbox/messages/…` go to
//!   [`TwinHub::http`]. An inbox message is answered when the gateway's
//!   reply frame comes ([`HubOutput::HttpReply`]) or, at the latest, 408 at
//!   the request's `timeout` (default 10 s, scenario time): the request's
//!   task waits that long (real time = scenario time / `time_scale`), then
//!   lets the hub time it out.
//! - `GET /ws/2` with `Upgrade: websocket`: a Ditto Protocol WebSocket, one
//!   [`SessionId`] per connection; text frames both ways (control frames
//!   and Ditto Protocol JSON, see [`TwinHub`]); close or error →
//!   [`TwinHub::close`]. Ping/pong is tungstenite's.
//! - Both need the Management API's Basic credentials (`--mgmt-user`,
//!   password; like Ditto's nginx on `/api` and `/ws`): 401 with
//!   `WWW-Authenticate` otherwise, before any body is read.
//!
//! The hub lives behind its own lock ([`TwinHost`]), beside the server
//! state; outputs are routed under that lock to the sessions' channels and
//! the waiting requests' one-shot channels.
//! - Broken twin modes: the scenario's `twin_*` server faults (and their
//!   `at`/`for` windows, on serve's scenario clock) are put in force
//!   before every call into the hub, as the virtual engine does before
//!   each frame and request.
//! - Twin events go to serve's event stream (`GET /fleetsim/events`, kind
//!   `twin_event`: thing ID, action, path, `correlation-id`), and every
//!   JSON frame sent carries the stream's next number in its Ditto headers
//!   (`x-fleetsim-event-seq`, [`crate::server_events::stamp_frame`]): a
//!   reader applies the events numbered below it — a command's event
//!   before its response — before it hands the frame to the gateway.
//!
//! Gaps: WebSocket connections do not count
//! against `--max-connections` once upgraded, and the idle watchdog does
//! not apply to them (tungstenite answers pings; a dead peer ends at TCP's
//! pace).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::header::{HeaderValue, CONNECTION, UPGRADE};
use http::StatusCode;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::endpoint::{Endpoint, Shared};
use super::serve_body::ServeBody;
use crate::server_events::stamp_frame;
use fleetsim_core::ditto::protocol::parse_timeout;
use fleetsim_core::message::{Body, Headers, Method, Request, Response};
use fleetsim_core::server::twin::{
    HttpAnswer, HubConfig, HubOutput, PendingId, SessionId, TwinConfig, TwinHub,
};
use fleetsim_core::time::{Span, Time};

/// The WebSocket endpoint (Ditto's API version 2).
pub(super) const WS_PATH: &str = "/ws/2";
/// The HTTP API's prefix.
const API_PREFIX: &str = "/api/2/";
/// An inbox message's wait without a `timeout` (ditto.md §2 "Messages").
const DEFAULT_TIMEOUT: Span = Span::secs(10);
/// Real time allowed past the scaled deadline before the request answers
/// 408 by itself (the hub's answer normally comes first).
const SLACK: Duration = Duration::from_millis(200);

/// True for the twin's HTTP API paths.
pub(super) fn is_twin_path(path: &str) -> bool {
    path.starts_with(API_PREFIX)
}

/// The hub, the open sessions' outboxes and the requests waiting for a reply.
pub(super) struct TwinHost {
    inner: Mutex<Inner>,
}

struct Inner {
    hub: TwinHub,
    sessions: BTreeMap<SessionId, mpsc::UnboundedSender<String>>,
    pending: BTreeMap<PendingId, oneshot::Sender<Response>>,
    next_session: u64,
}

impl Inner {
    /// Routes every output of the hub; JSON frames carry `seq` in their
    /// Ditto headers (see [`crate::server_events::stamp_frame`]).
    fn dispatch(&mut self, seq: u64) {
        while let Some(out) = self.hub.poll_output() {
            match out {
                HubOutput::Frame { session, text } => {
                    if let Some(tx) = self.sessions.get(&session) {
                        let _ = tx.send(stamp_frame(text, seq));
                    }
                }
                HubOutput::HttpReply { id, response } => {
                    if let Some(tx) = self.pending.remove(&id) {
                        let _ = tx.send(response);
                    }
                }
            }
        }
    }
}

impl TwinHost {
    /// An empty twin whose events are stamped from `epoch_ms` (Unix ms of scenario time zero).
    pub(super) fn new(epoch_ms: u64) -> TwinHost {
        TwinHost {
            inner: Mutex::new(Inner {
                hub: TwinHub::new(
                    TwinConfig {
                        epoch_ms,
                        ..TwinConfig::default()
                    },
                    HubConfig::default(),
                ),
                sessions: BTreeMap::new(),
                pending: BTreeMap::new(),
                next_session: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the hub at serve's scenario time, with the scenario's
    /// broken twin modes of that time in force; then the twin's events go
    /// to the event ring and its outputs out, frames stamped with the
    /// ring's next number. Locks: the twin's, then (briefly, twice) the
    /// state's — never the other way round.
    fn step<R>(&self, shared: &Shared, f: impl FnOnce(&mut Inner, Time) -> R) -> R {
        let mut inner = self.lock();
        let now = shared.clock().now();
        let faults = shared.lock().twin_faults_at(now);
        inner.hub.set_faults(faults);
        let out = f(&mut inner, now);
        let events = inner.hub.take_events();
        let seq = shared.lock().record_twin_events(now, &events);
        inner.dispatch(seq);
        out
    }

    /// Opens a session: its id and the frames for it.
    fn open(&self, shared: &Shared) -> (SessionId, mpsc::UnboundedReceiver<String>) {
        self.step(shared, |inner, now| {
            inner.next_session += 1;
            let id = SessionId(inner.next_session);
            let (tx, rx) = mpsc::unbounded_channel();
            inner.sessions.insert(id, tx);
            inner.hub.open(now, id);
            (id, rx)
        })
    }

    fn frame(&self, shared: &Shared, id: SessionId, text: &str) {
        self.step(shared, |inner, now| inner.hub.frame(now, id, text));
    }

    fn close(&self, shared: &Shared, id: SessionId) {
        self.step(shared, |inner, now| {
            inner.sessions.remove(&id);
            inner.hub.close(now, id);
        });
    }

    /// Lets the hub answer what is due (408s).
    fn expire(&self, shared: &Shared) {
        self.step(shared, |inner, now| {
            if inner.hub.poll_timeout().is_some_and(|t| t <= now) {
                inner.hub.handle_timeout(now);
            }
        });
    }
}

/// 401 with the challenge Ditto's nginx sends.
fn unauthorized() -> Response {
    let mut r = Response::status(401);
    r.headers
        .insert("www-authenticate", "Basic realm=\"fleetsim twin\"");
    r
}

fn authenticated(ep: &Endpoint, req: &Request) -> bool {
    ep.credentials.accept(req)
}

/// Answers one request of the twin's HTTP API (body already read).
pub(super) async fn answer(ep: &Endpoint, req: &Request) -> Response {
    if !authenticated(ep, req) {
        return unauthorized();
    }
    let shared = &ep.shared;
    let twin = shared.twin();
    let (id, rx) = match twin.step(shared, |inner, now| match inner.hub.http(now, req) {
        Some(HttpAnswer::Ready(r)) => Err(r),
        None => Err(Response::status(404)),
        Some(HttpAnswer::Pending(id)) => {
            // Registered before the outputs are routed: a reply already
            // queued finds its channel.
            let (tx, rx) = oneshot::channel();
            inner.pending.insert(id, tx);
            Ok((id, rx))
        }
    }) {
        Ok(waiting) => waiting,
        Err(answer) => return answer,
    };
    let span = req
        .query_param("timeout")
        .or_else(|| req.headers.get("timeout"))
        .and_then(parse_timeout)
        .unwrap_or(DEFAULT_TIMEOUT);
    let deadline = shared.clock().now() + span;
    let wait = shared
        .clock()
        .instant_of(deadline)
        .map(|at| at.saturating_duration_since(std::time::Instant::now()))
        .unwrap_or(Duration::from_secs(60));
    tokio::pin!(rx);
    if let Ok(Ok(response)) = tokio::time::timeout(wait, &mut rx).await {
        return response;
    }
    twin.expire(shared);
    match tokio::time::timeout(SLACK, &mut rx).await {
        Ok(Ok(response)) => response,
        _ => {
            twin.lock().pending.remove(&id);
            Response::status(408)
        }
    }
}

/// The headers of a hyper request as a core request (for the credentials).
fn head_of(req: &hyper::Request<Incoming>) -> Request {
    let mut headers = Headers::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers.insert_dynamic(name.as_str(), value);
    }
    Request {
        method: Method::parse(req.method().as_str()),
        url: format!("http://fleetsim{}", req.uri()),
        headers,
        body: Body::Empty,
    }
}

fn plain(status: StatusCode, response: Option<Response>) -> hyper::Response<ServeBody> {
    let mut out = hyper::Response::new(ServeBody::Empty);
    *out.status_mut() = status;
    if let Some(r) = response {
        for (name, value) in r.headers.iter() {
            if let (Ok(n), Ok(v)) = (
                http::header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                out.headers_mut().insert(n, v);
            }
        }
    }
    out
}

/// `GET /ws/2`: checks credentials and the handshake, answers 101 and runs
/// the session on the upgraded connection in its own task.
pub(super) fn websocket(
    ep: &Arc<Endpoint>,
    mut req: hyper::Request<Incoming>,
) -> hyper::Response<ServeBody> {
    if !authenticated(ep, &head_of(&req)) {
        return plain(StatusCode::UNAUTHORIZED, Some(unauthorized()));
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase)
    };
    let upgrade = header("upgrade").is_some_and(|v| v.split(',').any(|p| p.trim() == "websocket"));
    let version = header("sec-websocket-version").as_deref() == Some("13");
    let key = req.headers().get("sec-websocket-key").cloned();
    let (true, true, Some(key), true) = (upgrade, version, key, req.method() == http::Method::GET)
    else {
        let mut out = plain(StatusCode::BAD_REQUEST, None);
        out.headers_mut()
            .insert("sec-websocket-version", HeaderValue::from_static("13"));
        return out;
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut req);
    let ep = ep.clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                run_session(ep, ws).await;
            }
            Err(e) => tracing::debug!("websocket upgrade failed: {e}"),
        }
    });
    let mut out = plain(StatusCode::SWITCHING_PROTOCOLS, None);
    let headers = out.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        headers.insert("sec-websocket-accept", v);
    }
    out
}

/// One session: frames both ways until either side closes or serve stops.
async fn run_session<S>(ep: Arc<Endpoint>, ws: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let shared = ep.shared.clone();
    let twin = shared.twin();
    let (id, mut outbox) = twin.open(&shared);
    tracing::debug!(session = id.0, "ditto websocket session open");
    let (mut sink, mut stream) = ws.split();
    let mut stopped = ep.stopped.clone();
    loop {
        tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => twin.frame(&shared, id, text.as_str()),
                Some(Ok(Message::Binary(_))) => {
                    tracing::debug!(session = id.0, "binary frame ignored");
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            out = outbox.recv() => match out {
                Some(text) => {
                    if sink.send(Message::text(text)).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            _ = stopped.changed() => {
                let _ = sink.send(Message::Close(None)).await;
                break;
            }
        }
    }
    twin.close(&shared, id);
    tracing::debug!(session = id.0, "ditto websocket session closed");
}
