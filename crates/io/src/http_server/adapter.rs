//! The hyper adapter: a hyper request becomes a [`Request`] for the server
//! core, and the core's [`Response`] becomes a hyper response whose synthetic
//! artifact bodies are generated chunk by chunk while they are sent.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONNECTION, HOST};
use http::StatusCode;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use tokio::sync::Semaphore;

use super::body::{self, Read};
use super::conn::Busy;
use super::limits::{body_limit, ServeLimits};
use super::otau::{self, Waiters};
use super::state::{Clock, State};
use fleetsim_core::artifact::fill;
use fleetsim_core::message::{Body, ContentId, Headers, Method, Request, Response};
use fleetsim_core::server::MgmtCredentials;

/// Largest piece of a synthetic artifact generated at once, so a 1 GiB
/// download never holds more than this in memory per connection.
const CHUNK_BYTES: u64 = 64 * 1024;

/// What every connection shares: the state behind one lock, the clock, and
/// the held OTAU long polls (behind their own lock).
pub(super) struct Shared {
    state: Mutex<State>,
    clock: Clock,
    waiters: Waiters,
}

impl Shared {
    pub(super) fn new(state: State, clock: Clock) -> Shared {
        Shared {
            state: Mutex::new(state),
            clock,
            waiters: Waiters::default(),
        }
    }

    /// The state, even after a panic elsewhere poisoned the lock: one broken
    /// request must not take every later one down with it.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn clock(&self) -> &Clock {
        &self.clock
    }

    pub(super) fn waiters(&self) -> &Waiters {
        &self.waiters
    }
}

/// One listener as its connections see it.
pub(super) struct Endpoint {
    pub(super) shared: Arc<Shared>,
    /// `http` or `https`: the scheme of the absolute URLs the core builds links from.
    pub(super) scheme: &'static str,
    /// Stands in for a missing `Host` header (HTTP/1.0 clients).
    pub(super) local_addr: SocketAddr,
    /// Turns `true` at shutdown (held long polls are answered then).
    pub(super) stopped: tokio::sync::watch::Receiver<bool>,
    /// Basic credentials of the Management API and the OTAU admin routes,
    /// checked from the headers before a body is read.
    pub(super) credentials: MgmtCredentials,
    pub(super) limits: ServeLimits,
    /// Bytes of request bodies that may be held at once (`limits.max_body_memory`).
    pub(super) body_budget: Arc<Semaphore>,
}

/// Why a connection is closed without an answer (hyper drops it on a service error).
#[derive(Debug, thiserror::Error)]
pub(super) enum Abort {
    /// A scenario `reset: true` fault window is active.
    #[error("connection dropped: a `reset` fault window of the scenario is active")]
    ResetFault,
    /// The client stopped sending its body, or sent a malformed one.
    #[error("cannot read the request body: {0}")]
    Body(Box<dyn std::error::Error + Send + Sync>),
}

/// True for the routes behind the Management API's Basic credentials.
fn is_admin(req: &Request) -> bool {
    fleetsim_core::server::is_mgmt_request(req) || req.path().starts_with(otau::ADMIN_PREFIX)
}

/// The service: answers one hyper request through the server core. `_busy`
/// marks the connection busy (not idle) until the answer is made.
pub(super) async fn answer(
    ep: Arc<Endpoint>,
    _busy: Busy,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<ServeBody>, Abort> {
    let (parts, body) = req.into_parts();
    let Some(url) = absolute_url(&parts, ep.scheme, ep.local_addr) else {
        return Ok(status_only(StatusCode::BAD_REQUEST));
    };
    let mut headers = Headers::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers.insert_dynamic(name.as_str(), value);
    }
    let mut request = Request {
        method: Method::parse(parts.method.as_str()),
        url,
        headers,
        body: Body::Empty,
    };
    // Credentials come from the headers: a request without them is
    // answered (401, by the core) without its body, which is skipped when
    // small and left unread (the connection closed) otherwise.
    let unread = is_admin(&request) && !ep.credentials.accept(&request) && !body.is_end_stream();
    // Held until the request is answered: the body's share of the budget.
    let mut _permit = None;
    let mut close = false;
    if unread {
        close = !body::skip(&parts.headers, body, &ep.limits).await;
    } else {
        let limit = body_limit(request.method, request.path());
        // Only an authenticated client may reserve memory for what it has
        // not sent yet; device routes reserve bytes as they arrive.
        let upfront = is_admin(&request);
        let budget = (&ep.body_budget, upfront);
        match body::read(&parts.headers, body, limit, &ep.limits, budget).await? {
            Read::Done(b, permit) => (request.body, _permit) = (b, permit),
            Read::Refused(resp) => return Ok(resp),
        }
    }
    // Not kept across a held long poll: the request has what is needed.
    drop(parts);
    let answered = if otau::is_otau_path(request.path()) {
        otau::answer(&ep, &request).await
    } else {
        let mut state = ep.shared.lock();
        // Read under the lock, so the core sees time in the order it is called.
        let now = ep.shared.clock().now();
        state.handle(now, &request)
    };
    let Some(resp) = answered else {
        tracing::debug!(method = %request.method, path = request.path_and_query(), "reset (fault window)");
        return Err(Abort::ResetFault);
    };
    tracing::debug!(
        method = %request.method,
        path = request.path_and_query(),
        status = resp.status,
        bytes = resp.body.len(),
        "request"
    );
    let mut out = to_hyper(resp, request.method == Method::Head);
    if close {
        out.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(out)
}

/// `scheme://host/path?query` from the request target and `Host` (an
/// absolute-form target wins, RFC 9112 §3.2.2); `None` for a host that is
/// not a plain `host[:port]`, which would otherwise end up in HAL links.
fn absolute_url(parts: &http::request::Parts, scheme: &str, local: SocketAddr) -> Option<String> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let host = match (parts.uri.authority(), parts.headers.get(HOST)) {
        (Some(authority), _) => authority.as_str().to_string(),
        (None, Some(host)) => host.to_str().ok()?.to_string(),
        (None, None) => local.to_string(),
    };
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"-._~:[]%".contains(&b);
    if host.is_empty() || !host.bytes().all(plain) {
        return None;
    }
    Some(format!("{scheme}://{host}{path}"))
}

fn status_only(status: StatusCode) -> hyper::Response<ServeBody> {
    let mut resp = hyper::Response::new(ServeBody::Empty);
    *resp.status_mut() = status;
    resp
}

/// The core's answer as a hyper response (no body for HEAD, headers kept).
fn to_hyper(resp: Response, head: bool) -> hyper::Response<ServeBody> {
    let body = match head {
        true => ServeBody::Empty,
        false => ServeBody::from(resp.body),
    };
    let mut out = hyper::Response::new(body);
    *out.status_mut() =
        StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let map = out.headers_mut();
    for (name, value) in resp.headers.iter() {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) => {
                map.append(name, value);
            }
            _ => tracing::warn!(name, "dropped a header the server core made invalid"),
        }
    }
    out
}

/// A response body: nothing, bytes, or synthetic artifact content made on the fly.
pub(super) enum ServeBody {
    /// No body.
    Empty,
    /// Bytes not yet sent (`None` once sent).
    Bytes(Option<Bytes>),
    /// `remaining` bytes of `content` from `offset`, generated [`CHUNK_BYTES`] at a time.
    Synthetic {
        content: ContentId,
        offset: u64,
        remaining: u64,
    },
}

impl From<Body> for ServeBody {
    fn from(body: Body) -> ServeBody {
        match body {
            Body::Empty => ServeBody::Empty,
            Body::Bytes(b) if b.is_empty() => ServeBody::Empty,
            Body::Bytes(b) => ServeBody::Bytes(Some(b)),
            Body::Synthetic {
                content,
                offset,
                len,
            } => ServeBody::Synthetic {
                content,
                offset,
                remaining: len,
            },
        }
    }
}

impl HttpBody for ServeBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = match self.get_mut() {
            ServeBody::Empty => None,
            ServeBody::Bytes(bytes) => bytes.take().map(Frame::data),
            ServeBody::Synthetic { remaining: 0, .. } => None,
            ServeBody::Synthetic {
                content,
                offset,
                remaining,
            } => {
                let n = (*remaining).min(CHUNK_BYTES);
                let mut chunk = vec![0u8; n as usize];
                fill(*content, *offset, &mut chunk);
                *offset += n;
                *remaining -= n;
                Some(Frame::data(Bytes::from(chunk)))
            }
        };
        Poll::Ready(frame.map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.size_hint().exact() == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(match self {
            ServeBody::Empty => 0,
            ServeBody::Bytes(b) => b.as_ref().map_or(0, |b| b.len() as u64),
            ServeBody::Synthetic { remaining, .. } => *remaining,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_bodies_stream_in_bounded_chunks_with_the_content_bytes() {
        let content = ContentId(7);
        let mut body = ServeBody::from(Body::Synthetic {
            content,
            offset: 10,
            len: 150_000,
        });
        assert_eq!(body.size_hint().exact(), Some(150_000));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut got = Vec::new();
        while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut body).poll_frame(&mut cx) {
            let data = frame.into_data().unwrap_or_default();
            assert!(data.len() as u64 <= CHUNK_BYTES);
            got.extend_from_slice(&data);
        }
        let mut want = vec![0u8; 150_000];
        fill(content, 10, &mut want);
        assert!(got == want);
        assert!(body.is_end_stream());
    }

    #[test]
    fn urls_are_absolute_and_hosts_plain() {
        let local: SocketAddr = ([127, 0, 0, 1], 9).into();
        let url = |req: http::Request<()>| absolute_url(&req.into_parts().0, "http", local);
        let with_host = |h: &str| {
            http::Request::get("/T/controller/v1/d?x=1")
                .header(HOST, h)
                .body(())
                .unwrap_or_default()
        };
        assert_eq!(
            url(with_host("example.org:8080")).as_deref(),
            Some("http://example.org:8080/T/controller/v1/d?x=1")
        );
        assert_eq!(
            url(with_host("[::1]:80")).as_deref(),
            Some("http://[::1]:80/T/controller/v1/d?x=1")
        );
        assert_eq!(url(with_host("evil/x")), None);
        assert_eq!(url(with_host("u@h")), None);
        let no_host = http::Request::get("/a").body(()).unwrap_or_default();
        assert_eq!(url(no_host).as_deref(), Some("http://127.0.0.1:9/a"));
        let absolute = http::Request::get("http://other:1/a")
            .header(HOST, "x")
            .body(())
            .unwrap_or_default();
        assert_eq!(url(absolute).as_deref(), Some("http://other:1/a"));
    }
}
