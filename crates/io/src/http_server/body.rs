//! Reading a request body within its limits (`limits.rs`): the route's
//! largest size, checked against `Content-Length` before a byte is read and
//! while reading a chunked body; a share of the server-wide body memory,
//! held until the request is answered (reserved whole before reading for an
//! authenticated upload, as the bytes arrive for device routes); and a
//! deadline. A body refused is left unread and the connection closed after
//! the answer, so the client cannot make the server read what it refused.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::StatusCode;
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Incoming};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::limits::ServeLimits;
use super::serve_body::{Abort, ServeBody};
use fleetsim_core::message::Body;

/// Seconds a client is told to wait when the body memory is all taken.
const RETRY_AFTER_S: &str = "5";

/// A body read, or the answer that refused it unread.
pub(super) enum Read {
    /// The body, and its share of the body memory (held until answered).
    Done(Body, Option<OwnedSemaphorePermit>),
    /// Too large (413), no memory free (503) or too slow (408).
    Refused(hyper::Response<ServeBody>),
}

/// Reads `body` of at most `limit` bytes (the route's). Its share of the
/// body memory `budget` is reserved whole before reading when `upfront`
/// (authenticated uploads: a 503 before any byte is sent), else as its
/// bytes arrive, so a client that announces a large body and sends
/// nothing holds nothing.
pub(super) async fn read(
    headers: &http::HeaderMap,
    body: Incoming,
    limit: usize,
    limits: &ServeLimits,
    (budget, upfront): (&Arc<Semaphore>, bool),
) -> Result<Read, Abort> {
    if body.is_end_stream() {
        return Ok(Read::Done(Body::Empty, None));
    }
    let cap = limit.min(limits.max_body_memory);
    let declared = declared_length(headers);
    if declared.is_some_and(|n| n > cap as u64) {
        return Ok(Read::Refused(refusal(413, "request body too large")));
    }
    // `declared <= cap`, so the cast is exact; chunked bodies reserve `cap`.
    let reserve = declared.map_or(cap, |n| n as usize);
    let mut permit = match upfront {
        true => match budget.clone().try_acquire_many_owned(permits(reserve)) {
            Ok(permit) => Some(permit),
            Err(_) => return Ok(Read::Refused(busy())),
        },
        false => None,
    };
    let deadline = tokio::time::Instant::now() + limits.body_deadline(reserve);
    let first = if upfront {
        reserve
    } else {
        reserve.min(FIRST_CAPACITY)
    };
    let mut buf: Vec<u8> = Vec::with_capacity(first);
    let mut body = body;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Ok(Read::Refused(refusal(408, "request body too slow"))),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(Abort::Body(e.into())),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        if buf.len() + data.len() > cap {
            return Ok(Read::Refused(refusal(413, "request body too large")));
        }
        if !upfront {
            let Ok(more) = budget.clone().try_acquire_many_owned(permits(data.len())) else {
                return Ok(Read::Refused(busy()));
            };
            match &mut permit {
                Some(held) => held.merge(more),
                None => permit = Some(more),
            }
        }
        buf.extend_from_slice(&data);
    }
    let body = match buf.is_empty() {
        true => Body::Empty,
        false => Body::Bytes(buf.into()),
    };
    Ok(Read::Done(body, permit))
}

/// What a body reserved as it arrives starts with: most device bodies
/// (feedback, configData) are smaller.
const FIRST_CAPACITY: usize = 16 * 1024;

/// 503: the body memory is all taken; retry later.
fn busy() -> hyper::Response<ServeBody> {
    let mut r = refusal(503, "too many request bodies in flight; retry later");
    r.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_S));
    r
}

/// Largest body of a refused request that is read and thrown away, so the
/// connection stays open for the next request; larger ones are not read
/// and the connection is closed after the answer.
const MAX_SKIPPED_BYTES: u64 = 64 * 1024;

/// Reads and drops `body` of a request answered without it (401) when its
/// `Content-Length` is at most [`MAX_SKIPPED_BYTES`]; true when it was all
/// read (the connection may be kept), false when it must be closed.
pub(super) async fn skip(
    headers: &http::HeaderMap,
    mut body: Incoming,
    limits: &ServeLimits,
) -> bool {
    let small = declared_length(headers).is_some_and(|n| n <= MAX_SKIPPED_BYTES);
    if !small {
        return false;
    }
    let deadline = tokio::time::Instant::now() + limits.body_timeout;
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(None) => return true,
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_))) | Err(_) => return false,
        }
    }
}

fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Semaphore permits for `bytes` (one per byte; a reservation is at most
/// the largest route limit, far below `u32::MAX`).
fn permits(bytes: usize) -> u32 {
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// `status` with a one-line reason, closing the connection (the body is unread).
pub(super) fn refusal(status: u16, reason: &'static str) -> hyper::Response<ServeBody> {
    let mut r = hyper::Response::new(ServeBody::Bytes(Some(Bytes::from_static(
        reason.as_bytes(),
    ))));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(CONNECTION, HeaderValue::from_static("close"));
    r
}
