//! The server-side event stream of `serve` (`GET /fleetsim/events`, wire
//! format in [`crate::server_events`]) and the gateway statistics route
//! (`GET /fleetsim/gateway`), both behind the Management API's Basic
//! credentials.
//!
//! Events are appended to a bounded ring under the state lock, where the
//! cores produce them; readers ask from a sequence number. A reader asking
//! with `wait_ms` and nothing new is held (by its connection task, not the
//! lock) until an event is appended, the wait ends or the server stops.
//! Memory is bounded by [`RING_CAPACITY`] events; a reader further behind
//! gets a `gap` line and continues from the oldest event kept.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::endpoint::Endpoint;
use crate::server_events::{
    EventLine, ServerSide, EPOCH_HEADER, EVENTS_PATH, GATEWAY_PATH, MAX_LINES, MAX_WAIT_MS,
    NEXT_HEADER, NOW_HEADER, RING_CAPACITY,
};
use fleetsim_core::message::{Body, Request, Response};
use fleetsim_core::time::Time;

/// The last events, numbered.
pub(super) struct EventRing {
    lines: VecDeque<EventLine>,
    /// Sequence number of the next event.
    next: u64,
    capacity: usize,
    /// Told when events are appended.
    appended: Arc<Notify>,
}

impl Default for EventRing {
    fn default() -> Self {
        EventRing::with_capacity(RING_CAPACITY)
    }
}

impl EventRing {
    pub(super) fn with_capacity(capacity: usize) -> EventRing {
        EventRing {
            lines: VecDeque::new(),
            next: 0,
            capacity: capacity.max(1),
            appended: Arc::new(Notify::new()),
        }
    }

    /// Appends `event` at scenario time `at`, dropping the oldest when full.
    pub(super) fn push(&mut self, at: Time, event: ServerSide) {
        if self.lines.len() == self.capacity {
            self.lines.pop_front();
        }
        self.lines.push_back(EventLine {
            seq: self.next,
            at_ms: at.as_millis(),
            event,
        });
        self.next += 1;
        self.appended.notify_waiters();
    }

    /// The sequence number of the next event.
    pub(super) fn next_seq(&self) -> u64 {
        self.next
    }

    /// Told when events are appended.
    pub(super) fn appended(&self) -> Arc<Notify> {
        self.appended.clone()
    }

    /// Up to [`MAX_LINES`] lines from sequence number `from`, preceded by a
    /// gap line when some of those are no longer kept.
    pub(super) fn read(&self, from: u64) -> Vec<EventLine> {
        let first = self.lines.front().map_or(self.next, |l| l.seq);
        let mut out = Vec::new();
        if from < first {
            out.push(EventLine {
                seq: first,
                at_ms: self.lines.front().map_or(0, |l| l.at_ms),
                event: ServerSide::Gap {
                    missed: first - from,
                },
            });
        }
        let skip = from.saturating_sub(first) as usize;
        out.extend(self.lines.iter().skip(skip).take(MAX_LINES).cloned());
        out
    }
}

/// `?from=N&wait_ms=M` of an events request (missing: 0).
fn query(req: &Request) -> (u64, u64) {
    let mut from = 0;
    let mut wait = 0;
    let query = req.url.split_once('?').map_or("", |(_, q)| q);
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("from", v)) => from = v.parse().unwrap_or(0),
            Some(("wait_ms", v)) => wait = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    (from, wait.min(MAX_WAIT_MS))
}

/// True for the routes answered here.
pub(super) fn is_events_path(path: &str) -> bool {
    path == EVENTS_PATH || path == GATEWAY_PATH
}

/// Answers a request to one of the routes answered here, once its Basic
/// credentials (the default tenant's Management API user) are accepted.
pub(super) async fn route(ep: &Endpoint, req: &Request) -> Response {
    if !ep.credentials.accept(req) {
        let mut r = Response::status(401);
        r.headers
            .insert("www-authenticate", "Basic realm=\"fleetsim\"");
        return r;
    }
    if req.path() == GATEWAY_PATH {
        let stats = ep.shared.lock().gateway_stats();
        return gateway(&stats);
    }
    answer(ep, req).await
}

/// Answers `GET /fleetsim/events`.
async fn answer(ep: &Endpoint, req: &Request) -> Response {
    if req.method != fleetsim_core::message::Method::Get {
        let mut r = Response::status(405);
        r.headers.insert("allow", "GET");
        return r;
    }
    let (from, wait_ms) = query(req);
    let appended = ep.shared.lock().events().appended();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms);
    let mut stopped = ep.stopped.clone();
    loop {
        // Registered before the ring is read: an append in between wakes us.
        let notified = appended.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (lines, next, now, epoch) = {
            let state = ep.shared.lock();
            let ring = state.events();
            let now = ep.shared.clock().now();
            (ring.read(from), ring.next_seq(), now, state.epoch_s())
        };
        let done = !lines.is_empty() || tokio::time::Instant::now() >= deadline;
        if done || *stopped.borrow() {
            return ndjson(&lines, next, now, epoch);
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep_until(deadline) => {}
            () = super::stop_requested(&mut stopped) => {}
        }
    }
}

/// Answers `GET /fleetsim/gateway`.
fn gateway(stats: &crate::server_events::GatewayStats) -> Response {
    let body = serde_json::to_vec(stats).unwrap_or_default();
    Response::json(200, "application/json", body)
}

fn ndjson(lines: &[EventLine], next: u64, now: Time, epoch_s: u64) -> Response {
    let mut body = Vec::new();
    for l in lines {
        if let Ok(json) = serde_json::to_vec(l) {
            body.extend(json);
            body.push(b'\n');
        }
    }
    let mut r = Response::status(200);
    r.headers.insert("content-type", "application/x-ndjson");
    r.headers.insert("cache-control", "no-store");
    r.headers.insert(NOW_HEADER, now.as_millis().to_string());
    r.headers.insert(EPOCH_HEADER, epoch_s.to_string());
    r.headers.insert(NEXT_HEADER, next.to_string());
    r.body = Body::Bytes(body.into());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fired(device: u64) -> ServerSide {
        ServerSide::Fired {
            device,
            command: 0,
            reissue: false,
        }
    }

    #[test]
    fn readers_get_what_they_have_not_seen_and_a_gap_when_behind() {
        let mut ring = EventRing::with_capacity(3);
        assert!(ring.read(0).is_empty());
        for d in 0..5 {
            ring.push(Time(d * 10), fired(d));
        }
        assert_eq!(ring.next_seq(), 5);
        let seqs = |ls: Vec<EventLine>| ls.iter().map(|l| l.seq).collect::<Vec<_>>();
        assert_eq!(seqs(ring.read(3)), [3, 4]);
        assert!(ring.read(5).is_empty());
        let behind = ring.read(0);
        assert_eq!(behind[0].event, ServerSide::Gap { missed: 2 });
        assert_eq!(seqs(behind), [2, 2, 3, 4]);
        assert_eq!(ring.read(4)[0].at_ms, 40);
    }

    #[test]
    fn the_query_is_read_and_the_wait_bounded() {
        let req = Request::new(
            fleetsim_core::message::Method::Get,
            "http://h/fleetsim/events?from=12&wait_ms=999999",
        );
        assert_eq!(query(&req), (12, MAX_WAIT_MS));
        let bare = Request::new(
            fleetsim_core::message::Method::Get,
            "http://h/fleetsim/events",
        );
        assert_eq!(query(&bare), (0, 0));
    }
}
