//! Edge gateways writing a real Ditto through its HTTP API v2
//! (`--twin-api http`, [`crate::ditto::twin`]): the gateway's twin commands
//! leave as HTTP requests instead of `/ws/2` frames, and each answer comes
//! back to the gateway as the Ditto Protocol response it would have had
//! over the socket ([`fleetsim_core::ditto::http`]: `PUT`/`DELETE
//! /api/2/things/{thingId}{path}`, `If-None-Match: *` on a create, Basic
//! auth, every segment percent-encoded).
//!
//! - A command frame the client hands out (`poll_transmit`) while its
//!   session is up becomes one request, through the run's client fault
//!   windows and network emulation like any other real request; its answer
//!   goes to the client only if that session is still the current one (a
//!   session that ended had its commands re-queued by the client, which
//!   sends them again, in order, in the next one).
//! - What the client makes of the answer is its own retry and backoff
//!   (`EdgeClient`): 2xx done; `things:thing.notfound` /
//!   `things:feature.notfound` → the thing or feature re-created first;
//!   408/429/5xx → again after a backoff of at least the answer's
//!   `Retry-After`; other 4xx (400 `things:id.invalid`, 401, 412, …) →
//!   refused, counted per gateway in the report's `twin` section
//!   (`refused`) and in `twin_commands_refused`, not retried, each error
//!   code logged once; the oracle then stops judging that gateway's
//!   convergence (it knowingly left its twin behind). No HTTP answer (a
//!   reset, a timeout, an emulated loss) is a 503 `fleetsim:net.broken`
//!   for the client: retried after a backoff. A body that is not JSON is
//!   counted (`twin_http_garbage`); on a 2xx it does not matter, on an
//!   error it is an error without a Ditto code.
//! - `/ws/2` still carries `START-SEND-MESSAGES` and the live messages to
//!   the gateway. When its upgrade fails the session runs without it
//!   ([`without_socket`]): the `START-SEND-MESSAGES` is acknowledged here,
//!   the gateway writes its twin, commands to it are not delivered.

use std::collections::BTreeSet;

use fleetsim_core::ditto::http::{request_of, response_of};
use fleetsim_core::ditto::protocol::DittoError;
use fleetsim_core::protocol::edge::client::{START_SEND_MESSAGES, START_SEND_MESSAGES_ACK};

use super::*;

/// The error code a command without an HTTP answer gets (status 503).
const BROKEN: &str = "fleetsim:net.broken";
/// Distinct refusal codes logged at most.
const WARNED: usize = 16;

/// What came back for an HTTP twin command, or of an HTTP-mode session.
pub(in crate::realtime) enum HttpOutcome {
    /// The session's `/ws/2` upgrade failed: it runs without live messages.
    NoSocket,
    /// The answer to a twin command.
    Answer(Answer),
}

/// The answer to a twin command sent over HTTP.
pub(in crate::realtime) struct Answer {
    /// The session it was sent in.
    epoch: u64,
    /// The protocol answer for the client.
    text: String,
    /// The HTTP status, or why there was none.
    status: Result<u16, NetError>,
    /// The body was not JSON.
    garbage: bool,
    /// A fault of the scenario (client window, emulated network) was applied.
    injected: bool,
    /// When it was sent (for its latency).
    started: Instant,
    /// A refusal's error code and message (4xx but 404, 408 and 429).
    refusal: Option<(String, String)>,
}

/// The HTTP side of the edge's counters.
#[derive(Default)]
pub(in crate::realtime) struct HttpTwin {
    requests: u64,
    ok: u64,
    client_errors: u64,
    throttled: u64,
    server_errors: u64,
    broken: u64,
    garbage: u64,
    ws_unavailable: u64,
    /// Refusal codes logged.
    warned: BTreeSet<String>,
}

impl HttpTwin {
    fn count(&mut self, a: &Answer) {
        match a.status {
            Ok(s) if (200..300).contains(&s) => self.ok += 1,
            Ok(429) => self.throttled += 1,
            Ok(s) if s >= 500 => self.server_errors += 1,
            Ok(_) => self.client_errors += 1,
            Err(_) => self.broken += 1,
        }
        self.garbage += u64::from(a.garbage);
        if let Some((code, message)) = &a.refusal {
            if self.warned.len() < WARNED && self.warned.insert(code.clone()) {
                tracing::warn!("the twin refused a gateway's command: {code}: {message}");
            }
        }
    }
}

impl Edge {
    /// Gateways write their twin over its HTTP API (`--twin-api http`).
    pub(in crate::realtime) fn over_http(&mut self) {
        self.http = Some(Box::default());
    }
}

/// The answer of `cmd` made of `delivery`.
fn answer(
    cmd: &Envelope,
    delivery: Delivery,
    epoch: u64,
    injected: bool,
    started: Instant,
) -> Answer {
    let (reply, status, garbage) = match delivery {
        Delivery::Complete(resp) => {
            let body = resp.body.as_bytes();
            let garbage = !body.is_empty() && serde_json::from_slice::<Value>(body).is_err();
            (response_of(cmd, &resp), Ok(resp.status), garbage)
        }
        Delivery::Broken(e, _) => {
            let message = format!("no complete HTTP answer: {e}");
            let error = DittoError::new(503, BROKEN, message, "Sent again after a backoff.");
            (cmd.error_response(&error), Err(e), false)
        }
    };
    let refusal = match status {
        Ok(s) if (400..500).contains(&s) && !matches!(s, 404 | 408 | 429) => {
            let value = reply.value.as_ref();
            let text = |k: &str| value.and_then(|v| v.get(k)).and_then(Value::as_str);
            let code = text("error").unwrap_or("?").to_owned();
            Some((code, format!("{s} {}", text("message").unwrap_or_default())))
        }
        _ => None,
    };
    Answer {
        epoch,
        text: reply.to_json(),
        status,
        garbage,
        injected,
        started,
        refusal,
    }
}

/// An HTTP-mode session whose `/ws/2` upgrade failed: open at once, its
/// `START-SEND-MESSAGES` acknowledged here (no live messages come).
pub(super) async fn without_socket(epoch: u64, slot: usize, tx: mpsc::UnboundedSender<Done>) {
    let report = |outcome| {
        let outcome = Outcome::Edge(outcome);
        tx.send(Done {
            slot: slot as u32,
            outcome,
        })
        .is_ok()
    };
    let (out, mut outbox) = mpsc::unbounded_channel::<String>();
    let no_socket = EdgeOutcome::Http(Box::new(HttpOutcome::NoSocket));
    if !report(no_socket) || !report(EdgeOutcome::Opened { epoch, out }) {
        return;
    }
    // Until the driver ends the session (drops the sender).
    while let Some(frame) = outbox.recv().await {
        if frame.starts_with(START_SEND_MESSAGES) {
            let text = START_SEND_MESSAGES_ACK.to_owned();
            if !report(EdgeOutcome::Frame { epoch, text }) {
                return;
            }
        }
        // Anything else would answer a live message: none comes.
    }
}

impl Driver {
    /// In HTTP mode, sends the twin command `text` of gateway `slot` as an
    /// HTTP request (`None`: taken); any other frame is given back.
    pub(super) fn twin_http_send(
        &mut self,
        slot: usize,
        now: Time,
        text: String,
    ) -> Option<String> {
        let Some(edge) = self.edge.as_mut().filter(|e| e.http.is_some()) else {
            return Some(text);
        };
        let Ok(cmd) = Envelope::parse(text.as_bytes()) else {
            return Some(text);
        };
        let Some(mut req) = request_of(&edge.twin_base, &cmd) else {
            return Some(text);
        };
        let tx = edge.tx.clone();
        // Not a gateway: nothing to send it with (taken, dropped).
        let g = edge.gateways[slot].as_mut()?;
        let (Link::Up(_), Some(tx)) = (&g.link, tx) else {
            // Like a frame to a closed session: the client sends it again.
            self.edge_touch(slot);
            self.edge_after(slot, now);
            return None;
        };
        let epoch = g.epoch;
        g.requests_out += 1;
        edge.outstanding += 1;
        if let Some(h) = edge.http.as_mut() {
            h.requests += 1;
        }
        req.headers.insert("authorization", edge.auth.header());
        let mut fault = self.inject(slot, ReqKind::TwinCommand, now);
        self.dropped += u64::from(fault.drop);
        let (_, net_injected) = self.shape_net(slot, now, &mut fault);
        let injected = fault.drop || fault.cut_body || net_injected;
        self.ledger.stats.sent(ReqKind::TwinCommand);
        self.edge_touch(slot);
        let (http, number, started) =
            (self.http.clone(), self.devices[slot].number, Instant::now());
        tokio::spawn(async move {
            let delivery = http.execute(number, req, fault).await;
            let answer = answer(&cmd, delivery, epoch, injected, started);
            let outcome = EdgeOutcome::Http(Box::new(HttpOutcome::Answer(answer)));
            let _ = tx.send(Done {
                slot: slot as u32,
                outcome: Outcome::Edge(outcome),
            });
        });
        self.edge_after(slot, now);
        None
    }

    /// What came back of HTTP mode for gateway `slot`.
    pub(super) fn twin_http_outcome(&mut self, slot: usize, outcome: HttpOutcome) {
        let now = self.now();
        let Some(edge) = &mut self.edge else {
            return;
        };
        let Some(h) = edge.http.as_mut() else {
            return;
        };
        let a = match outcome {
            HttpOutcome::NoSocket => {
                h.ws_unavailable += 1;
                return;
            }
            HttpOutcome::Answer(a) => a,
        };
        h.count(&a);
        edge.outstanding = edge.outstanding.saturating_sub(1);
        let Some(g) = edge.gateways[slot].as_mut() else {
            return;
        };
        g.requests_out = g.requests_out.saturating_sub(1);
        let current = a.epoch == g.epoch && matches!(g.link, Link::Up(_));
        let latency = Instant::now().saturating_duration_since(a.started);
        let stats = &mut self.ledger.stats;
        match a.status {
            Ok(status) => stats.answered_real(ReqKind::TwinCommand, status, latency),
            Err(e) => {
                stats.failed(ReqKind::TwinCommand, e);
                stats.failed_not_injected += u64::from(!a.injected);
            }
        }
        self.edge_touch(slot);
        if !current {
            return; // its session ended: the client sent it again since
        }
        let env = env_of!(self);
        let d = &mut self.devices[slot];
        d.handle_message(now, ALIAS, &a.text, &env, &mut self.ledger, None);
        self.edge_after(slot, now);
    }

    /// HTTP mode's counters, and the gateways' own command counters.
    pub(super) fn twin_http_counters(&self) -> Vec<(&'static str, u64)> {
        let Some(h) = self.edge.as_ref().and_then(|e| e.http.as_deref()) else {
            return Vec::new();
        };
        let mut clients = fleetsim_core::protocol::edge::EdgeStats::default();
        for c in self.devices.iter().filter_map(|d| d.edge()) {
            let s = c.stats();
            clients.retried += s.retried;
            clients.refused += s.refused;
            clients.timed_out += s.timed_out;
            clients.recreated += s.recreated;
        }
        vec![
            ("twin_http_requests", h.requests),
            ("twin_http_2xx", h.ok),
            ("twin_http_4xx", h.client_errors),
            ("twin_http_429", h.throttled),
            ("twin_http_5xx", h.server_errors),
            ("twin_http_broken", h.broken),
            ("twin_http_garbage", h.garbage),
            ("twin_ws_unavailable", h.ws_unavailable),
            ("twin_commands_retried", clients.retried),
            ("twin_commands_refused", clients.refused),
            ("twin_commands_timed_out", clients.timed_out),
            ("twin_commands_recreated", clients.recreated),
        ]
    }
}

#[cfg(test)]
mod tests {
    use fleetsim_core::ditto::protocol::{CommandAction, Criterion, Pointer};
    use fleetsim_core::message::{Body, Response};
    use serde_json::json;

    use super::*;

    fn cmd() -> Envelope {
        let path = Pointer::parse("/features/F/properties/status/on").expect("pointer");
        Envelope::twin_command(
            "org.acme:gw-1",
            CommandAction::Modify,
            path,
            Some(json!(true)),
            "gw-1-3",
        )
    }

    fn reply(a: &Answer) -> Envelope {
        Envelope::parse(a.text.as_bytes()).expect("a protocol answer")
    }

    #[test]
    fn no_answer_is_a_retriable_error_for_the_client() {
        let a = answer(
            &cmd(),
            Delivery::Broken(NetError::Reset, None),
            4,
            false,
            Instant::now(),
        );
        assert_eq!(
            (a.status, a.epoch, a.garbage),
            (Err(NetError::Reset), 4, false)
        );
        let r = reply(&a);
        assert_eq!(r.topic.criterion, Criterion::Errors);
        assert_eq!(r.status, Some(503));
        assert_eq!(r.correlation_id(), Some("gw-1-3"));
        assert_eq!(r.value.expect("error")["error"], BROKEN);
        assert!(a.refusal.is_none());
    }

    #[test]
    fn garbage_and_refusals_are_noted() {
        let mut garbage = Response::status(502);
        garbage.body = Body::Bytes(b"{\"status\": 50".to_vec().into());
        let a = answer(
            &cmd(),
            Delivery::Complete(garbage),
            1,
            false,
            Instant::now(),
        );
        assert!(a.garbage && a.refusal.is_none());
        assert_eq!(reply(&a).status, Some(502));
        let mut created = Response::status(201);
        created.body = Body::Bytes(b"<html>".to_vec().into());
        let a = answer(
            &cmd(),
            Delivery::Complete(created),
            1,
            false,
            Instant::now(),
        );
        assert!(a.garbage);
        assert_eq!(reply(&a).status, Some(201));
        let mut invalid = Response::status(400);
        let body = json!({"status": 400, "error": "things:id.invalid", "message": "Thing ID 'x' is not valid!"});
        invalid.body = Body::Bytes(body.to_string().into_bytes().into());
        let a = answer(
            &cmd(),
            Delivery::Complete(invalid),
            1,
            false,
            Instant::now(),
        );
        let (code, message) = a.refusal.clone().expect("a refusal");
        assert_eq!(code, "things:id.invalid");
        assert!(message.starts_with("400 Thing ID"), "{message}");
        let mut busy = Response::status(429);
        busy.headers.insert("retry-after", "2");
        let a = answer(&cmd(), Delivery::Complete(busy), 1, false, Instant::now());
        assert!(a.refusal.is_none());
        let r = reply(&a);
        assert_eq!(r.headers.get_str("retry-after"), Some("2"));
    }
}
