//! The hyper adapter: a hyper request becomes a [`Request`] for the server
//! core, and the core's [`Response`] becomes a hyper response whose synthetic
//! artifact bodies are generated chunk by chunk while they are sent.

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{HeaderName, HeaderValue, CONNECTION, HOST};
use http::StatusCode;
use hyper::body::{Body as HttpBody, Incoming};

use super::body::{self, Read};
use super::endpoint::Endpoint;
use super::hook::Shape;
use super::limits::body_limit;
use super::serve_body::{Abort, ServeBody};
use super::{events, long_poll, otau, twin};
use fleetsim_core::message::{Body, Headers, Method, Request, Response};
use fleetsim_core::server::MgmtCredentials;

/// Who answers a request, decided once from its path.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Twin,
    Events,
    Otau,
    /// The DDI, Management API, constrained-device and admin routes of
    /// the shared state.
    Core,
}

impl Route {
    fn of(path: &str) -> Route {
        if twin::is_twin_path(path) {
            Route::Twin
        } else if events::is_events_path(path) {
            Route::Events
        } else if otau::is_otau_path(path) {
            Route::Otau
        } else {
            Route::Core
        }
    }
}

/// True for the routes behind the Management API's Basic credentials:
/// the event stream and the twin API (by `route`), and these paths.
fn is_admin(req: &Request, route: Route) -> bool {
    let path = req.path();
    matches!(route, Route::Events | Route::Twin)
        || fleetsim_core::server::is_mgmt_request(req)
        || path.starts_with(otau::ADMIN_PREFIX)
        || path.starts_with(super::cpg_admin::PREFIX)
}

/// The service: answers one hyper request through the server core. `busy`
/// marks the connection busy (not idle) until the answer is made. With
/// `--metrics-listen`, each answer is counted by route kind and status.
pub(super) async fn answer<B: Send>(
    ep: Arc<Endpoint>,
    busy: B,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<ServeBody>, Abort> {
    let Some(metrics) = ep.metrics.clone() else {
        return respond(ep, busy, req).await;
    };
    let kind = crate::metrics::route_kind(req.uri().path());
    let started = std::time::Instant::now();
    let out = respond(ep, busy, req).await;
    let status = match &out {
        Ok(resp) => resp.status().as_u16().to_string(),
        Err(Abort::ResetFault) => "reset".to_string(),
        Err(Abort::Body(_)) => "bad_body".to_string(),
    };
    metrics.request(kind, &status, out.is_ok().then(|| started.elapsed()));
    out
}

/// [`answer`] without the metrics.
async fn respond<B: Send>(
    ep: Arc<Endpoint>,
    _busy: B,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<ServeBody>, Abort> {
    if req.uri().path() == twin::WS_PATH {
        return Ok(twin::websocket(&ep, req));
    }
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
    let known = |c: &MgmtCredentials| c.accept(&request);
    let authenticated = known(&ep.credentials) || ep.tenant_users.iter().any(known);
    let route = Route::of(request.path());
    let admin = is_admin(&request, route);
    let unread = admin && !authenticated && !body.is_end_stream();
    // Held until the request is answered: the body's share of the budget.
    let mut _permit = None;
    let mut close = false;
    if unread {
        close = !body::skip(&parts.headers, body, &ep.limits).await;
    } else {
        let limit = body_limit(request.method, request.path());
        // Only an authenticated client may reserve memory for what it has
        // not sent yet; device routes reserve bytes as they arrive.
        let upfront = admin;
        let budget = (&ep.body_budget, upfront);
        match body::read(&parts.headers, body, limit, &ep.limits, budget).await? {
            Read::Done(b, permit) => (request.body, _permit) = (b, permit),
            Read::Refused(resp) => return Ok(resp),
        }
    }
    // Not kept across a held long poll: the request has what is needed.
    drop(parts);
    let (mut shape, mut next_seq) = (Shape::Whole, None);
    let answered = match route {
        Route::Twin => Some(twin::answer(&ep, &request).await),
        Route::Events => Some(events::route(&ep, &request).await),
        Route::Otau => long_poll::answer(&ep, &request).await,
        Route::Core => answer_core(&ep, &request).map(|(resp, s, seq)| {
            (shape, next_seq) = (s, Some(seq));
            resp
        }),
    };
    let Some(mut resp) = answered else {
        tracing::debug!(method = %request.method, path = request.path_and_query(), "reset (fault window)");
        return Err(Abort::ResetFault);
    };
    if !admin {
        // Every server-side event this request caused has a lower number: a
        // reader of the event stream applies them before this answer.
        let next = next_seq.unwrap_or_else(|| ep.shared.lock().events().next_seq());
        resp.headers
            .insert(crate::server_events::SEQ_HEADER, next.to_string());
    }
    tracing::debug!(
        method = %request.method,
        path = request.path_and_query(),
        status = resp.status,
        bytes = resp.body.len(),
        "request"
    );
    let mut out = to_hyper(resp, request.method == Method::Head, shape);
    if close {
        out.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(out)
}

/// The shared state's answer to `request` (`None`: reset it), how to send
/// it, and the next event sequence number, all under one lock.
fn answer_core(ep: &Endpoint, request: &Request) -> Option<(Response, Shape, u64)> {
    let mut state = ep.shared.lock();
    // Read under the lock, so the core sees time in the order it is called.
    let now = ep.shared.clock().now();
    let (resp, shape) = match &ep.hook {
        Some(hook) => state.handle_hooked(now, request, hook.as_ref())?,
        None => (state.handle(now, request)?, Shape::Whole),
    };
    Some((decided_at(resp, now), shape, state.events().next_seq()))
}

/// `resp` stamped with the scenario time the server cores decided it at: a
/// reader on serve's clock judges a leaked URL's answer against its
/// `expires` at this time, not at its own.
fn decided_at(mut resp: Response, now: fleetsim_core::time::Time) -> Response {
    let at = now.as_millis().to_string();
    resp.headers.insert(crate::server_events::NOW_HEADER, at);
    resp
}

/// `scheme://host/path?query` from the request target and `Host` (an
/// absolute-form target wins, RFC 9112 §3.2.2); `None` for a host that is
/// not a plain `host[:port]`, which would otherwise end up in HAL links.
fn absolute_url(parts: &http::request::Parts, scheme: &str, local: SocketAddr) -> Option<String> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let local_name;
    let host = match (parts.uri.authority(), parts.headers.get(HOST)) {
        (Some(authority), _) => authority.as_str(),
        (None, Some(host)) => host.to_str().ok()?,
        (None, None) => {
            local_name = local.to_string();
            &local_name
        }
    };
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"-._~:[]%".contains(&b);
    if host.is_empty() || !host.bytes().all(plain) {
        return None;
    }
    // Built by hand: `format!` costs more than the request's routing.
    let mut url = String::with_capacity(scheme.len() + 3 + host.len() + path.len());
    for piece in [scheme, "://", host, path] {
        url.push_str(piece);
    }
    Some(url)
}

fn status_only(status: StatusCode) -> hyper::Response<ServeBody> {
    let mut resp = hyper::Response::new(ServeBody::Empty);
    *resp.status_mut() = status;
    resp
}

/// The core's answer as a hyper response (no body for HEAD, headers kept),
/// its body cut short when `shape` says so.
fn to_hyper(resp: Response, head: bool, shape: Shape) -> hyper::Response<ServeBody> {
    let body = match (head, shape) {
        (true, _) => ServeBody::Empty,
        (false, Shape::Whole) => ServeBody::from(resp.body),
        (false, Shape::CutAfter(keep)) => ServeBody::cut(resp.body, keep),
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

#[cfg(test)]
mod tests {
    use super::*;

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
