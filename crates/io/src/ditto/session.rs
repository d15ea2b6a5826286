//! A Ditto Protocol WebSocket session (ditto.md §5 "Without Hono"): one
//! Ditto Protocol JSON or control frame per text frame, to Ditto's `/ws/2`
//! or `fleetsim serve`'s, with HTTP Basic credentials on the upgrade.
//!
//! [`connect`] opens the socket and spawns a task that pumps frames both
//! ways; the [`Session`] it returns is two channels: [`Session::send`]
//! queues a frame, [`Session::recv`] waits for the next one (`None` once
//! the socket is closed, by either side or an error). Dropping the session
//! closes the socket.
//!
//! [`drive`] is the loop a driver needs to run a sans-IO client (the edge
//! gateway `EdgeClient`, or any [`Client`] that speaks
//! [`Transmit::Frame`]) over a session in real time:
//!
//! 1. the caller tells the client `handle_session(now, true)` once
//!    [`connect`] succeeds (not `drive`, which may be called again on the
//!    same session, e.g. between a test's steps);
//! 2. while `poll_timeout() <= now`: `poll_transmit` → each
//!    [`Transmit::Frame`] to [`Session::send`] (other transmits are not for
//!    a session and are dropped, counted in [`Driven::dropped`]);
//! 3. wait for a frame (→ `handle_message(now, alias, frame)`), the
//!    client's next timeout (scenario time, scaled by [`Pace`]), or the
//!    real-time bound; the socket closing → `handle_session(now, false)`.
//!
//! It returns when `done` says so, the socket closes, or the bound passes.
//! A real-time driver with many gateways runs one such loop per gateway (a
//! task each), reconnecting with [`connect`] after [`Driven::closed`] on the
//! scenario's schedule; the link model (loss, latency) is not applied
//! here: the real network is the link.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use http::HeaderValue;
use rand::RngCore;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use fleetsim_core::protocol::{Client, Transmit};
use fleetsim_core::time::Time;

use crate::management::client::base64_lite;

/// HTTP Basic credentials for the upgrade request.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl BasicAuth {
    /// The `Authorization` header value.
    pub fn header(&self) -> String {
        let pair = format!("{}:{}", self.user, self.password);
        format!("Basic {}", base64_lite::encode(pair.as_bytes()))
    }
}

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The URL is not a `ws://` or `wss://` URL.
    #[error("{url}: not a WebSocket URL (expected ws://host:port/ws/2): {message}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The server refused the upgrade (e.g. 401 for wrong credentials).
    #[error("{url}: the server answered {status} to the WebSocket upgrade")]
    Refused {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// Connecting or the handshake failed.
    #[error("{url}: {message}")]
    Connect {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// An open session: frames out and in (see the module doc).
#[derive(Debug)]
pub struct Session {
    out: mpsc::UnboundedSender<String>,
    incoming: mpsc::UnboundedReceiver<String>,
    _task: JoinHandle<()>,
}

/// How long the pump may take to send its close frame.
const CLOSE_BOUND: Duration = Duration::from_secs(1);

impl Session {
    /// Queues a text frame; false once the socket is closed.
    pub fn send(&self, frame: String) -> bool {
        self.out.send(frame).is_ok()
    }

    /// The next frame from the server; `None` once the socket is closed
    /// (frames that arrived before are still handed out first).
    pub async fn recv(&mut self) -> Option<String> {
        self.incoming.recv().await
    }

    /// Closes the socket: the pump sends a close frame (bounded) and ends.
    /// Dropping the session does the same.
    pub fn close(self) {}
}

/// Opens a session to `url` (`ws://host:port/ws/2`), with `auth` on the upgrade.
pub async fn connect(url: &str, auth: Option<&BasicAuth>) -> Result<Session, SessionError> {
    let mut request = url.into_client_request().map_err(|e| SessionError::Url {
        url: url.to_owned(),
        message: e.to_string(),
    })?;
    if let Some(auth) = auth {
        let value = HeaderValue::from_str(&auth.header()).map_err(|e| SessionError::Url {
            url: url.to_owned(),
            message: format!("credentials: {e}"),
        })?;
        request.headers_mut().insert("authorization", value);
    }
    let (ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(resp) => SessionError::Refused {
                url: url.to_owned(),
                status: resp.status().as_u16(),
            },
            other => SessionError::Connect {
                url: url.to_owned(),
                message: other.to_string(),
            },
        })?;
    let (out, mut outbox) = mpsc::unbounded_channel::<String>();
    let (inbox, incoming) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let (mut sink, mut stream) = ws.split();
        loop {
            tokio::select! {
                frame = outbox.recv() => match frame {
                    Some(text) => {
                        if sink.send(Message::text(text)).await.is_err() {
                            break;
                        }
                    }
                    None => {
                        let _ = tokio::time::timeout(CLOSE_BOUND, sink.send(Message::Close(None))).await;
                        break;
                    }
                },
                frame = stream.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        // The receiver may be gone (session dropped): keep
                        // pumping until the outbox ends too.
                        let _ = inbox.send(text.as_str().to_owned());
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
            }
        }
    });
    Ok(Session {
        out,
        incoming,
        _task: task,
    })
}

/// Scenario time in real time: zero at `start`, `scale` times faster.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// The real instant of scenario time zero.
    pub start: Instant,
    /// Scenario seconds per real second.
    pub scale: f64,
}

impl Pace {
    /// Scenario time now.
    pub fn now(&self) -> Time {
        Time((self.start.elapsed().as_secs_f64() * 1000.0 * self.scale) as u64)
    }

    /// Real time until scenario time `t` (zero if past; `None` for never).
    pub fn until(&self, t: Time) -> Option<Duration> {
        if t == Time::NEVER {
            return None;
        }
        let at = Duration::try_from_secs_f64(t.0 as f64 / 1000.0 / self.scale).ok()?;
        Some(at.saturating_sub(self.start.elapsed()))
    }
}

/// What [`drive`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Driven {
    /// Frames sent.
    pub sent: u64,
    /// Frames received.
    pub received: u64,
    /// Transmits that were not frames (dropped).
    pub dropped: u64,
    /// The socket closed (the client was told the session is down).
    pub closed: bool,
    /// `done` said so.
    pub done: bool,
}

/// Runs `client` over `session` until `done(client, events)` is true, the
/// socket closes, or `bound` (real time) passes (see the module doc).
/// The caller has told the client the session is up.
#[allow(clippy::too_many_arguments)]
pub async fn drive<C>(
    client: &mut C,
    session: &mut Session,
    alias: &str,
    pace: Pace,
    rng: &mut dyn RngCore,
    events: &mut Vec<C::Event>,
    mut done: impl FnMut(&C, &[C::Event]) -> bool,
    bound: Duration,
) -> Driven
where
    C: for<'a> Client<Env<'a> = ()>,
{
    let end = Instant::now() + bound;
    let mut driven = Driven::default();
    loop {
        let now = pace.now();
        for _ in 0..100_000 {
            if client.poll_timeout() > now {
                break;
            }
            match client.poll_transmit(now, &(), rng, events) {
                Some(Transmit::Frame(frame)) => {
                    driven.sent += 1;
                    session.send(frame);
                }
                Some(_) => driven.dropped += 1,
                None => break,
            }
        }
        if done(client, events) {
            driven.done = true;
            return driven;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return driven;
        }
        let wait = pace
            .until(client.poll_timeout())
            .map_or(left, |d| d.min(left));
        tokio::select! {
            frame = session.recv() => match frame {
                Some(text) => {
                    driven.received += 1;
                    client.handle_message(pace.now(), alias, &text, &(), rng, events);
                }
                None => {
                    driven.closed = true;
                    client.handle_session(pace.now(), false, &(), rng, events);
                    return driven;
                }
            },
            () = tokio::time::sleep(wait) => {}
        }
    }
}
