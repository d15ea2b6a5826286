//! The twin service with its Ditto Protocol WebSocket sessions, sans-IO
//! (ditto.md §5 "Without Hono", §6 "Twin service must" 4 and 6): what
//! Ditto's `/ws/2` endpoint does in front of the store, used by the
//! virtual engine and by `fleetsim serve` alike.
//!
//! Contract: the driver numbers its connections ([`SessionId`]), and feeds
//! - [`TwinHub::open`] / [`TwinHub::close`] when one is accepted / gone;
//! - [`TwinHub::frame`]: one WebSocket text frame from a session;
//! - [`TwinHub::http`]: an HTTP API v2 request ([`TwinService::handle_http`]);
//! - [`TwinHub::handle_timeout`] at [`TwinHub::poll_timeout`];
//!
//! and sends what [`TwinHub::poll_output`] hands out: frames to sessions
//! ([`HubOutput::Frame`]) and late HTTP answers ([`HubOutput::HttpReply`]
//! for a [`HttpAnswer::Pending`]). Every twin event also goes, in order,
//! to [`TwinHub::take_events`] (for the oracle), subscribed or not.
//!
//! Frames:
//! - Control frames `START-SEND-EVENTS` / `START-SEND-MESSAGES` (and
//!   `…-LIVE-COMMANDS`, `…-LIVE-EVENTS`, `…-POLICY-ANNOUNCEMENTS`, which
//!   the hub acknowledges but never has anything for), with optional
//!   `?filter=<RQL>&namespaces=a,b` (URL-encoded, as Ditto's
//!   `ProtocolMessageExtractor` decodes them), answered `<name>:ACK` —
//!   without the parameters, as Ditto's `WebSocketRoute` does. `STOP-…`
//!   ends the subscription, answered `STOP-…:ACK`.
//! - Filters: the RQL subset a gateway needs, on `thingId` only:
//!   `eq(thingId,"…")`, `like(thingId,"…")` (`*` any run, `?` one
//!   character) and `or(…)`/`and(…)`/`not(…)` of those. Any other filter is
//!   refused like an invalid one: an error frame on `_/_/things/twin/errors`,
//!   status 400, `rql.expression.invalid`, and no `:ACK` (the session's
//!   previous subscription stays, as in Ditto's `StreamingSessionActor`).
//! - Anything else is a Ditto Protocol JSON for the twin service: its
//!   response goes back to the session that sent it; its events go to the
//!   *other* sessions subscribed to events whose filter matches the thing
//!   (Ditto delivers events "to all other clients"); a frame that is not an
//!   envelope is answered with a 400 `json.invalid` error frame.
//!
//! Live messages (an HTTP `POST …/inbox/messages/…`) go to every session
//! subscribed to messages whose filter matches the thing. When none is,
//! the hub **holds** the message — unlike Ditto, which drops it and lets
//! the request time out, because the issue wants it "delivered to the
//! gateway at once when connected, on reconnect otherwise". The hold is
//! bounded per thing ([`HubConfig::hold_per_thing`]); a message beyond the
//! bound drops the thing's **oldest** held one (counted in
//! [`HubStats::hold_dropped`]; its HTTP request then ends in 408). Held
//! messages go out, oldest first, when a matching session subscribes. A
//! message delivered to sessions that all close before one of them
//! replies is held again (redelivered on the next subscription, counted
//! in [`HubStats::redelivered`]): a gateway that applies messages once per
//! correlation-id (`EdgeClient` does) gets each applied exactly once. A
//! message whose HTTP request is no longer waiting (answered or timed out)
//! is never held nor delivered from the hold. The reply frame answers the
//! waiting request ([`HubOutput::HttpReply`]).
//!
//! Frames from a session that is not open (never opened, or closed) are
//! ignored, and so is `JWT-TOKEN?…` (the driver authenticates the upgrade).
//!
//! ```
//! use fleetsim_core::message::{Method, Request};
//! use fleetsim_core::protocol::edge::start_send_messages;
//! use fleetsim_core::server::twin::{HttpAnswer, HubConfig, HubOutput, SessionId, TwinConfig, TwinHub};
//! use fleetsim_core::time::Time;
//!
//! let mut hub = TwinHub::new(TwinConfig::default(), HubConfig::default());
//! let gw = SessionId(1);
//! hub.open(Time(0), gw);
//! let thing = r#"{"topic":"org.acme/gw1/things/twin/commands/modify","headers":{"correlation-id":"c1"},
//!                 "path":"/","value":{"features":{"Configuration":{}}}}"#;
//! hub.frame(Time(0), gw, thing);
//! let Some(HubOutput::Frame { session, text }) = hub.poll_output() else { panic!() };
//! assert!(session == gw && text.contains(r#""status":201"#));
//! assert_eq!(hub.take_events().len(), 1, "the oracle sees every event");
//!
//! // The gateway leaves; a backend's message waits for it.
//! hub.close(Time(1), gw);
//! let url = "http://twin/api/2/things/org.acme:gw1/features/Configuration/inbox/messages/$set.configuration/name";
//! let Some(HttpAnswer::Pending(id)) = hub.http(Time(2), &Request::new(Method::Post, url)) else { panic!() };
//! assert_eq!(hub.held(), 1);
//!
//! // It comes back and subscribes to its own things' messages: ACK, then the message.
//! let again = SessionId(2);
//! hub.open(Time(3), again);
//! hub.frame(Time(3), again, &start_send_messages("org.acme", "gw1"));
//! let Some(HubOutput::Frame { text: ack, .. }) = hub.poll_output() else { panic!() };
//! assert_eq!(ack, "START-SEND-MESSAGES:ACK");
//! let Some(HubOutput::Frame { text: message, .. }) = hub.poll_output() else { panic!() };
//! assert!(message.contains("$set.configuration/name"));
//! # let _ = id;
//! ```

use super::rql::Filter;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{HttpAnswer, PendingId, TwinConfig, TwinOutput, TwinService};
use crate::ditto::protocol::{
    Channel, Criterion, DittoError, DittoHeaders, Envelope, Group, Pointer, Topic,
};
use crate::message::{percent_decode, Request, Response};
use crate::time::Time;

/// One WebSocket connection, numbered by the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u64);

/// Settings of the hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HubConfig {
    /// Live messages held per thing while no session takes them.
    pub hold_per_thing: usize,
    /// Keep every twin event for [`TwinHub::take_events`] (a driver that
    /// never drains them turns this off).
    pub record_events: bool,
}

impl Default for HubConfig {
    fn default() -> HubConfig {
        HubConfig {
            hold_per_thing: 64,
            record_events: true,
        }
    }
}

/// Something the hub wants sent.
#[derive(Clone, Debug, PartialEq)]
pub enum HubOutput {
    /// A WebSocket text frame to a session.
    Frame {
        /// To whom.
        session: SessionId,
        /// The frame.
        text: String,
    },
    /// The answer to an HTTP request that was [`HttpAnswer::Pending`].
    HttpReply {
        /// Which request.
        id: PendingId,
        /// Its answer.
        response: Response,
    },
}

/// The hub's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Live messages delivered to a session (each delivery to each session).
    pub delivered: u64,
    /// Live messages held because no session took them.
    pub held: u64,
    /// Held messages dropped at the per-thing bound (oldest first).
    pub hold_dropped: u64,
    /// Messages delivered again after every session they went to closed.
    pub redelivered: u64,
    /// Control frames refused (bad parameters or filter).
    pub refused: u64,
}

/// A subscription's selection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Selection {
    /// Empty = every namespace.
    namespaces: Vec<String>,
    /// `None` = every thing.
    filter: Option<Filter>,
}

impl Selection {
    fn matches(&self, thing_id: &str) -> bool {
        let namespace = thing_id.split(':').next().unwrap_or_default();
        (self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == namespace))
            && self.filter.as_ref().is_none_or(|f| f.matches(thing_id))
    }
}

/// One open session.
#[derive(Clone, Debug, Default)]
struct Session {
    events: Option<Selection>,
    messages: Option<Selection>,
}

/// A live message out to sessions, not replied yet.
#[derive(Clone, Debug)]
struct Delivered {
    message: Envelope,
    seq: u64,
    sessions: BTreeSet<SessionId>,
}

/// The twin service and its sessions (see the module doc).
#[derive(Clone, Debug)]
pub struct TwinHub {
    config: HubConfig,
    service: TwinService,
    sessions: BTreeMap<SessionId, Session>,
    /// Held live messages by thing ID, oldest first, with their arrival number.
    held: BTreeMap<String, VecDeque<(u64, Envelope)>>,
    /// Delivered, unreplied messages by correlation-id.
    delivered: BTreeMap<String, Delivered>,
    seq: u64,
    outputs: VecDeque<HubOutput>,
    events: Vec<Envelope>,
    stats: HubStats,
}

/// The control frames (ditto.md §5), longest first where one prefixes another.
const STREAMS: [&str; 5] = [
    "EVENTS",
    "MESSAGES",
    "LIVE-COMMANDS",
    "LIVE-EVENTS",
    "POLICY-ANNOUNCEMENTS",
];

impl TwinHub {
    /// A hub over an empty twin, no sessions.
    pub fn new(config: TwinConfig, hub: HubConfig) -> TwinHub {
        TwinHub {
            config: hub,
            service: TwinService::new(config),
            sessions: BTreeMap::new(),
            held: BTreeMap::new(),
            delivered: BTreeMap::new(),
            seq: 0,
            outputs: VecDeque::new(),
            events: Vec::new(),
            stats: HubStats::default(),
        }
    }

    /// The twin service (the store, for GETs and the oracle).
    pub fn service(&self) -> &TwinService {
        &self.service
    }

    /// Switches the twin's broken modes on or off (a scenario's fault
    /// windows, `Server::twin_faults_at`).
    pub fn set_faults(&mut self, faults: super::TwinFaults) {
        self.service.set_faults(faults);
    }

    /// The hub's counters.
    pub fn stats(&self) -> HubStats {
        self.stats
    }

    /// Live messages held now, over all things.
    pub fn held(&self) -> usize {
        self.held.values().map(VecDeque::len).sum()
    }

    /// Whether `session` is open.
    pub fn is_open(&self, session: SessionId) -> bool {
        self.sessions.contains_key(&session)
    }

    /// A session connected (no subscriptions yet).
    pub fn open(&mut self, _now: Time, session: SessionId) {
        self.sessions.entry(session).or_default();
    }

    /// A session is gone: its subscriptions end; messages delivered to it
    /// (and to no other open session) that still wait for a reply are held
    /// again.
    pub fn close(&mut self, _now: Time, session: SessionId) {
        if self.sessions.remove(&session).is_none() {
            return;
        }
        let mut orphans = Vec::new();
        for (correlation_id, d) in &mut self.delivered {
            if d.sessions.remove(&session) && d.sessions.is_empty() {
                orphans.push(correlation_id.clone());
            }
        }
        for correlation_id in orphans {
            let Some(d) = self.delivered.remove(&correlation_id) else {
                continue;
            };
            if self.service.waits_for(&correlation_id) {
                self.stats.redelivered += 1;
                self.hold(d.seq, d.message);
            }
        }
    }

    /// One WebSocket text frame from `session`.
    pub fn frame(&mut self, now: Time, session: SessionId, text: &str) {
        if !self.sessions.contains_key(&session) {
            return;
        }
        if let Some(rest) = text.strip_prefix("START-SEND-") {
            return self.start(session, rest);
        }
        if let Some(rest) = text.strip_prefix("STOP-SEND-") {
            return self.stop(session, rest);
        }
        if text.starts_with("JWT-TOKEN") {
            // Authentication is the driver's (on the upgrade).
            return;
        }
        let env = match Envelope::parse(text.as_bytes()) {
            Ok(env) => env,
            Err(e) => {
                let error = DittoError::bad_request("json.invalid", e.to_string());
                return self.send(session, session_error(&error, None).to_json());
            }
        };
        let reply = matches!(env.topic.criterion, Criterion::Messages(_)) && env.is_response();
        if reply {
            if let Some(correlation_id) = env.correlation_id() {
                self.delivered.remove(correlation_id);
            }
        }
        self.service.handle_envelope(now, &env);
        self.drain(Some(session));
    }

    /// An HTTP API v2 request ([`TwinService::handle_http`]); the live
    /// messages it makes go to sessions or the hold.
    pub fn http(&mut self, now: Time, req: &Request) -> Option<HttpAnswer> {
        let answer = self.service.handle_http(now, req);
        self.drain(None);
        answer
    }

    /// When [`TwinHub::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.service.poll_timeout()
    }

    /// Inbox messages past their deadline are answered 408; held and
    /// delivered copies of them are forgotten.
    pub fn handle_timeout(&mut self, now: Time) {
        self.service.handle_timeout(now);
        self.drain(None);
        let service = &self.service;
        let waits = |m: &Envelope| m.correlation_id().is_some_and(|c| service.waits_for(c));
        self.delivered.retain(|_, d| waits(&d.message));
        for queue in self.held.values_mut() {
            queue.retain(|(_, m)| waits(m));
        }
        self.held.retain(|_, q| !q.is_empty());
    }

    /// The next output.
    pub fn poll_output(&mut self) -> Option<HubOutput> {
        self.outputs.pop_front()
    }

    /// Every twin event since the last call, in order (empty if
    /// [`HubConfig::record_events`] is off).
    pub fn take_events(&mut self) -> Vec<Envelope> {
        std::mem::take(&mut self.events)
    }

    fn send(&mut self, session: SessionId, text: String) {
        self.outputs.push_back(HubOutput::Frame { session, text });
    }

    /// `START-SEND-<rest>`: parse, subscribe, ACK, hand out held messages.
    fn start(&mut self, session: SessionId, rest: &str) {
        let (name, query) = rest.split_once('?').unwrap_or((rest, ""));
        if !STREAMS.contains(&name) {
            return;
        }
        let selection = match parse_selection(query) {
            Ok(selection) => selection,
            Err((error, correlation_id)) => {
                self.stats.refused += 1;
                let frame = session_error(&error, correlation_id.as_deref()).to_json();
                return self.send(session, frame);
            }
        };
        let Some(state) = self.sessions.get_mut(&session) else {
            return;
        };
        match name {
            "EVENTS" => state.events = Some(selection.clone()),
            "MESSAGES" => state.messages = Some(selection.clone()),
            _ => {}
        }
        self.send(session, format!("START-SEND-{name}:ACK"));
        if name == "MESSAGES" {
            self.release(session, &selection);
        }
    }

    /// `STOP-SEND-<rest>`: end the subscription, ACK.
    fn stop(&mut self, session: SessionId, rest: &str) {
        let name = rest.split_once('?').map_or(rest, |(n, _)| n);
        if !STREAMS.contains(&name) {
            return;
        }
        if let Some(state) = self.sessions.get_mut(&session) {
            match name {
                "EVENTS" => state.events = None,
                "MESSAGES" => state.messages = None,
                _ => {}
            }
        }
        self.send(session, format!("STOP-SEND-{name}:ACK"));
    }

    /// Delivers the held messages `selection` takes to `session`, in arrival order.
    fn release(&mut self, session: SessionId, selection: &Selection) {
        let mut out: Vec<(u64, Envelope)> = Vec::new();
        let things: Vec<String> = self
            .held
            .keys()
            .filter(|t| selection.matches(t))
            .cloned()
            .collect();
        for thing in things {
            out.extend(self.held.remove(&thing).unwrap_or_default());
        }
        out.sort_by_key(|(seq, _)| *seq);
        for (seq, message) in out {
            let waits = message
                .correlation_id()
                .is_some_and(|c| self.service.waits_for(c));
            if waits {
                self.deliver(seq, message, &[session]);
            }
        }
    }

    /// Sends `message` to `sessions`, remembering it until replied.
    fn deliver(&mut self, seq: u64, message: Envelope, sessions: &[SessionId]) {
        let text = message.to_json();
        for &session in sessions {
            self.stats.delivered += 1;
            self.send(session, text.clone());
        }
        let waits = message
            .correlation_id()
            .filter(|c| self.service.waits_for(c));
        if let Some(correlation_id) = waits {
            let entry = self
                .delivered
                .entry(correlation_id.to_owned())
                .or_insert_with(|| Delivered {
                    message: message.clone(),
                    seq,
                    sessions: BTreeSet::new(),
                });
            entry.sessions.extend(sessions.iter().copied());
        }
    }

    /// Holds `message` for its thing, dropping the oldest past the bound.
    fn hold(&mut self, seq: u64, message: Envelope) {
        let queue = self.held.entry(message.topic.thing_id()).or_default();
        let at = queue.partition_point(|(s, _)| *s < seq);
        queue.insert(at, (seq, message));
        self.stats.held += 1;
        while queue.len() > self.config.hold_per_thing {
            queue.pop_front();
            self.stats.hold_dropped += 1;
        }
    }

    /// Routes the service's outputs; `from` sent the frame that made them.
    fn drain(&mut self, from: Option<SessionId>) {
        while let Some(out) = self.service.poll_output() {
            match out {
                TwinOutput::Response(r) => {
                    if let Some(session) = from {
                        self.send(session, r.to_json());
                    }
                }
                TwinOutput::Event(e) => self.event(from, e),
                TwinOutput::LiveMessage(m) => self.live_message(m),
                TwinOutput::HttpReply { id, response } => {
                    self.outputs
                        .push_back(HubOutput::HttpReply { id, response });
                }
            }
        }
    }

    fn event(&mut self, from: Option<SessionId>, event: Envelope) {
        let thing = event.topic.thing_id();
        let to: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(id, _)| Some(**id) != from)
            .filter(|(_, s)| s.events.as_ref().is_some_and(|sel| sel.matches(&thing)))
            .map(|(id, _)| *id)
            .collect();
        if !to.is_empty() {
            let text = event.to_json();
            for session in to {
                self.send(session, text.clone());
            }
        }
        if self.config.record_events {
            self.events.push(event);
        }
    }

    fn live_message(&mut self, message: Envelope) {
        self.seq += 1;
        let seq = self.seq;
        let thing = message.topic.thing_id();
        let to: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.messages.as_ref().is_some_and(|sel| sel.matches(&thing)))
            .map(|(id, _)| *id)
            .collect();
        if !to.is_empty() {
            return self.deliver(seq, message, &to);
        }
        let waits = message
            .correlation_id()
            .is_some_and(|c| self.service.waits_for(c));
        if waits {
            self.hold(seq, message);
        }
    }
}

/// An error frame to a session, not about one thing (Ditto's topic
/// `_/_/things/twin/errors`, path `/`).
fn session_error(error: &DittoError, correlation_id: Option<&str>) -> Envelope {
    let topic = Topic {
        namespace: "_".into(),
        name: "_".into(),
        group: Group::Things,
        channel: Some(Channel::Twin),
        criterion: Criterion::Errors,
    };
    let headers = match correlation_id {
        Some(c) => DittoHeaders::correlated(c),
        None => DittoHeaders::new(),
    };
    let mut env = Envelope::new(topic, headers, Pointer::root());
    env.status = Some(error.status);
    env.value = Some(error.to_value());
    env
}

/// The RQL error Ditto answers a bad filter with.
fn rql_error(filter: &str, why: &str) -> DittoError {
    DittoError::new(
        400,
        "rql.expression.invalid",
        format!("The RQL expression '{filter}' is invalid or not supported: {why}."),
        "fleetsim's twin hub filters on thingId only: eq, like, and, or, not.",
    )
}

/// Decodes a control frame parameter like Java's `URLDecoder` (`+` is a space).
fn url_decode(s: &str) -> Option<String> {
    percent_decode(&s.replace('+', " "))
}

/// Parses `filter=…&namespaces=…&correlation-id=…` (other parameters, such
/// as `extraFields`, are accepted and ignored).
fn parse_selection(query: &str) -> Result<Selection, (DittoError, Option<String>)> {
    let mut params = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = || {
            let error = DittoError::bad_request(
                "ws.parameter.invalid",
                format!("The parameter '{pair}' is not URL-encoded."),
            );
            (error, None)
        };
        params.insert(
            url_decode(k).ok_or_else(bad)?,
            url_decode(v).ok_or_else(bad)?,
        );
    }
    let correlation_id = params.get("correlation-id").cloned();
    let namespaces = params
        .get("namespaces")
        .map(|n| {
            n.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let filter = match params.get("filter") {
        Some(text) => {
            Some(Filter::parse(text).map_err(|why| (rql_error(text, &why), correlation_id))?)
        }
        None => None,
    };
    Ok(Selection { namespaces, filter })
}
