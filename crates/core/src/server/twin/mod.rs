//! The twin service core (seed 002; ditto.md §1, §2, §6): an Eclipse
//! Ditto–style store of digital twins, sans-IO.
//!
//! Contract: a state machine fed with `now` and inputs, queuing outputs.
//! - [`TwinService::handle_envelope`]`(now, &envelope)`: a Ditto Protocol
//!   signal from a gateway. Twin commands (`…/things/twin/commands/…`) are
//!   applied to the store; live message replies (`…/things/live/messages/…`
//!   with `status`) answer a waiting inbox message.
//! - [`TwinService::handle_http`]`(now, &request)`: the HTTP API v2 subset
//!   (see `http.rs`). Answers at once ([`HttpAnswer::Ready`]) or, for an
//!   inbox message, later ([`HttpAnswer::Pending`], then a
//!   [`TwinOutput::HttpReply`] with the same [`PendingId`]).
//! - [`TwinService::handle_timeout`]`(now)` at [`TwinService::poll_timeout`]:
//!   inbox messages without a reply by their deadline are answered 408.
//! - [`TwinService::poll_output`]: the queued [`TwinOutput`]s in the order
//!   they arose — protocol responses, events (one per change, for sessions
//!   that sent `START-SEND-EVENTS`), live messages to deliver to the
//!   thing's gateway, HTTP replies.
//!
//! ```
//! use fleetsim_core::ditto::protocol::{CommandAction, Envelope, Pointer};
//! use fleetsim_core::message::{Method, Request};
//! use fleetsim_core::server::twin::{HttpAnswer, TwinConfig, TwinOutput, TwinService};
//! use fleetsim_core::time::Time;
//! use serde_json::json;
//!
//! let mut twin = TwinService::new(TwinConfig::default());
//! // The gateway's first connect: ModifyThing on `/` creates the twin (201).
//! let thing = json!({"features": {"Configuration": {"properties": {"configuration": {"name": "hall"}}}}});
//! let cmd = Envelope::twin_command("org.acme:gw1", CommandAction::Modify, Pointer::root(), Some(thing), "c1");
//! twin.handle_envelope(Time(0), &cmd);
//! assert!(matches!(twin.poll_output(), Some(TwinOutput::Event(e)) if e.revision == Some(1)));
//! assert!(matches!(twin.poll_output(), Some(TwinOutput::Response(r)) if r.status == Some(201)));
//!
//! // A backend asks the device to rename itself; the twin hands the live
//! // message out for the gateway and answers the HTTP request with the reply.
//! let url = "http://twin/api/2/things/org.acme:gw1/features/Configuration/inbox/messages/$set.configuration/name";
//! let post = Request::new(Method::Post, url);
//! let Some(HttpAnswer::Pending(id)) = twin.handle_http(Time(10), &post) else { panic!() };
//! let Some(TwinOutput::LiveMessage(message)) = twin.poll_output() else { panic!() };
//! twin.handle_envelope(Time(20), &message.message_reply(200, Some("application/json"), Some(json!("ok"))));
//! let Some(TwinOutput::HttpReply { id: answered, response }) = twin.poll_output() else { panic!() };
//! assert_eq!((answered, response.status, response.body.as_bytes()), (id, 200, &b"\"ok\""[..]));
//! ```
//!
//! Layout: `store.rs` (things and the commands on them), `rules.rs` (what
//! a valid thing, feature, definition and key is; merge patches),
//! `http.rs` (routes), `inbox.rs` (messages waiting for replies), `hub.rs`
//! ([`TwinHub`]: the service with its Ditto Protocol WebSocket sessions —
//! what a driver hosts), `fault.rs` (broken twin modes, [`TwinFaults`], one
//! per TWIN-* invariant).
//!
//! Deliberate gaps, for later sessions: no policies or authentication, no
//! `fields` selection, no HTTP PATCH (merge goes through the protocol), no
//! If-Match / `if-equal` on protocol commands, no search.

use std::collections::{BTreeMap, VecDeque};

use serde_json::Value;

use crate::ditto::id::check_thing_id;
use crate::ditto::protocol::{
    iso8601, Channel, CommandAction, Criterion, DittoError, Envelope, Group, Pointer,
};
use crate::message::{Body, Response};
use crate::time::Time;

mod fault;
mod http;
mod hub;
mod inbox;
mod rql;
mod rules;
mod store;

pub use fault::{TwinFaults, FAULT_EVERY};
pub use hub::{HubConfig, HubOutput, HubStats, SessionId, TwinHub};
pub use store::{Change, Store, Target, Thing};

/// Settings of the twin service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TwinConfig {
    /// Unix time in milliseconds of [`Time::ZERO`]: events' `timestamp` is
    /// this plus `now` (the service reads no clock).
    pub epoch_ms: u64,
    /// Broken modes (none by default; see [`TwinFaults`]).
    pub faults: TwinFaults,
}

/// Identifies an HTTP request answered later (an inbox message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PendingId(pub u64);

/// Something the service wants sent.
#[derive(Clone, Debug, PartialEq)]
pub enum TwinOutput {
    /// A protocol response or error to the sender of a command.
    Response(Envelope),
    /// An event of a change (`…/things/twin/events/…`).
    Event(Envelope),
    /// A live message to deliver to the gateway of the thing in its topic.
    LiveMessage(Envelope),
    /// The answer to an HTTP request that was [`HttpAnswer::Pending`].
    HttpReply {
        /// Which request.
        id: PendingId,
        /// Its answer.
        response: Response,
    },
}

/// The immediate result of an HTTP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpAnswer {
    /// Send this now.
    Ready(Response),
    /// Answered later by a [`TwinOutput::HttpReply`] with this id.
    Pending(PendingId),
}

/// The twin service: store, waiting messages and the output queue.
#[derive(Clone, Debug, Default)]
pub struct TwinService {
    config: TwinConfig,
    store: Store,
    inbox: inbox::Inbox,
    outputs: VecDeque<TwinOutput>,
    /// Counter behind generated correlation-ids and pending ids.
    next_id: u64,
    /// Changes counted by the hit modes of [`TwinFaults`].
    changes: u64,
    /// Commands held by `twin_reorder_change`: (stored thing ID, command).
    held: Vec<(String, Envelope)>,
}

/// A Ditto error as an HTTP answer (body `{"status","error","message",…}`).
pub(crate) fn error_response(error: &DittoError) -> Response {
    json_response(error.status, &error.to_value())
}

/// A JSON answer.
pub(crate) fn json_response(status: u16, value: &Value) -> Response {
    let mut r = Response::status(status);
    r.headers.insert("content-type", "application/json");
    r.body = Body::Bytes(value.to_string().into_bytes().into());
    r
}

impl TwinService {
    /// An empty twin.
    pub fn new(config: TwinConfig) -> TwinService {
        TwinService {
            config,
            ..TwinService::default()
        }
    }

    /// Thing `id`, if it exists.
    pub fn thing(&self, id: &str) -> Option<&Thing> {
        self.store.get(id)
    }

    /// The store (every thing, by ID).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The broken modes in force.
    pub fn faults(&self) -> TwinFaults {
        self.config.faults
    }

    /// Switches broken modes on or off (a scenario's fault windows).
    pub fn set_faults(&mut self, faults: TwinFaults) {
        self.config.faults = faults;
    }

    /// What the twin holds for one gateway, as `GET /api/2/things/{id}`
    /// answers it: each ID of `expected` (the gateway's mapped thing IDs)
    /// the twin finds, under that ID, and every other thing stored as
    /// `gateway_thing_id` or beneath it (`<gateway_thing_id>:…`), under its
    /// stored ID. The input of the oracle's TWIN-CONVERGE and TWIN-ID
    /// checks (`Oracle::twin_synced`).
    pub fn gateway_things<'a>(
        &self,
        gateway_thing_id: &str,
        expected: impl IntoIterator<Item = &'a str>,
    ) -> BTreeMap<String, Value> {
        let faults = self.config.faults;
        let mut out = BTreeMap::new();
        let mut found = Vec::new();
        for id in expected {
            let stored = faults.stored_id(id);
            if let Some(thing) = self.store.get(&stored) {
                out.insert(id.to_owned(), thing.json.clone());
                found.push(stored);
            }
        }
        let beneath = format!("{gateway_thing_id}:");
        let own = self
            .store
            .get(gateway_thing_id)
            .map(|t| (gateway_thing_id, t));
        for (id, thing) in own.into_iter().chain(self.store.with_prefix(&beneath)) {
            if !found.iter().any(|f| f == id) && !out.contains_key(id) {
                out.insert(id.to_owned(), thing.json.clone());
            }
        }
        out
    }

    /// Number of inbox messages waiting for a reply.
    pub fn waiting_messages(&self) -> usize {
        self.inbox.len()
    }

    /// Whether the inbox message with this correlation-id still waits for
    /// its reply (neither answered nor timed out).
    pub fn waits_for(&self, correlation_id: &str) -> bool {
        self.inbox.waits(correlation_id)
    }

    /// The next queued output.
    pub fn poll_output(&mut self) -> Option<TwinOutput> {
        self.outputs.pop_front()
    }

    /// When [`TwinService::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.inbox.next_deadline()
    }

    /// Answers inbox messages whose deadline has come with 408.
    pub fn handle_timeout(&mut self, now: Time) {
        for (id, response) in self.inbox.expire(now) {
            self.outputs
                .push_back(TwinOutput::HttpReply { id, response });
        }
    }

    /// A fresh number for a correlation-id or a pending request.
    fn fresh(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Applies one Ditto Protocol signal from a gateway.
    ///
    /// Twin commands are executed; their response (or error, on
    /// `…/errors`, path `/`) is queued unless `response-required` is false,
    /// and each change queues its event. A live message reply answers the
    /// inbox message with its correlation-id. Any other signal is answered
    /// with a 400 error, since the twin does not take policies, live
    /// commands or search (status and code inferred).
    pub fn handle_envelope(&mut self, now: Time, env: &Envelope) {
        let topic = &env.topic;
        match (topic.group, topic.channel, &topic.criterion) {
            (Group::Things, Some(Channel::Twin), Criterion::Commands(action))
                if !env.is_response() =>
            {
                let result = self.command(now, env, *action);
                self.respond(env, result);
            }
            (Group::Things, Some(Channel::Live), Criterion::Messages(_)) if env.is_response() => {
                if let Some((id, response)) = self.inbox.reply(now, env) {
                    self.outputs
                        .push_back(TwinOutput::HttpReply { id, response });
                }
            }
            _ => {
                let error = DittoError::bad_request(
                    "things:signal.unsupported",
                    format!("The twin service does not take '{topic}' signals"),
                );
                self.respond(env, Err(error));
            }
        }
    }

    /// Queues the response to `env` (if it wants one).
    fn respond(&mut self, env: &Envelope, result: Result<Change, DittoError>) {
        if !env.headers.response_required() {
            return;
        }
        let response = match result {
            Ok(change) => env.response(change.status, change.value),
            Err(error) => env.error_response(&error),
        };
        self.outputs.push_back(TwinOutput::Response(response));
    }

    /// Executes a twin command and queues its event (and, under the
    /// broken modes, drops, holds, doubles or re-IDs it; see [`TwinFaults`]).
    fn command(
        &mut self,
        now: Time,
        env: &Envelope,
        action: CommandAction,
    ) -> Result<Change, DittoError> {
        let id = env.topic.thing_id();
        check_thing_id(&id).map_err(|e| DittoError::id_invalid(&id, &e.to_string()))?;
        let faults = self.config.faults;
        let rewritten;
        let env = if faults.rewrites_ids() {
            rewritten = rewrite_id(env, &id, &faults.stored_id(&id));
            &rewritten
        } else {
            env
        };
        let id = env.topic.thing_id();
        let hit = self.hit(&id, env, action);
        if hit && faults.drop_change {
            return Ok(applied_unseen());
        }
        if hit && faults.reorder_change {
            self.held.push((id, env.clone()));
            return Ok(applied_unseen());
        }
        let result = self.execute(now, &id, env, action);
        if hit && faults.apply_twice && result.is_ok() {
            let _ = self.execute(now, &id, env, action);
        }
        self.release_held(now, &id);
        result
    }

    /// Whether a command is hit by the modes that hit every
    /// [`FAULT_EVERY`]th change (never while a command of its thing is held).
    fn hit(&mut self, id: &str, env: &Envelope, action: CommandAction) -> bool {
        let f = self.config.faults;
        let on = f.drop_change || f.reorder_change || f.apply_twice;
        let change = fault::is_change(env.path.segments()) && action != CommandAction::Retrieve;
        if !on || !change || self.held.iter().any(|(t, _)| t == id) {
            return false;
        }
        self.changes += 1;
        (self.changes - 1).is_multiple_of(FAULT_EVERY)
    }

    /// Applies a command to the store and queues its event.
    fn execute(
        &mut self,
        now: Time,
        id: &str,
        env: &Envelope,
        action: CommandAction,
    ) -> Result<Change, DittoError> {
        let change = self
            .store
            .execute(now, id, action, &env.path, env.value.as_ref())?;
        self.queue_event(now, env, &change);
        Ok(change)
    }

    /// Applies the commands of thing `id` held by `twin_reorder_change`.
    fn release_held(&mut self, now: Time, id: &str) {
        if self.held.is_empty() {
            return;
        }
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(t, _)| t == id);
        self.held = rest;
        for (_, env) in mine {
            if let Criterion::Commands(action) = env.topic.criterion {
                let _ = self.execute(now, id, &env, action);
            }
        }
    }

    /// Queues the event of `change` (if it changed anything), made from the
    /// command `env` that caused it.
    fn queue_event(&mut self, now: Time, env: &Envelope, change: &Change) {
        if let Some((action, value, revision)) = &change.event {
            let timestamp = iso8601(self.config.epoch_ms.saturating_add(now.as_millis()));
            let event = env.event(*action, value.clone(), *revision, Some(timestamp));
            self.outputs.push_back(TwinOutput::Event(event));
        }
    }

    /// Executes a command that arrived over HTTP as if it were the protocol
    /// command `action` on `path`, queuing its event.
    fn http_command(
        &mut self,
        now: Time,
        id: &str,
        action: CommandAction,
        path: Pointer,
        value: Option<Value>,
    ) -> Result<Change, DittoError> {
        let correlation_id = format!("twin-http-{}", self.fresh());
        let env = Envelope::twin_command(id, action, path, value, &correlation_id);
        let change = self
            .store
            .execute(now, id, action, &env.path, env.value.as_ref())?;
        self.queue_event(now, &env, &change);
        Ok(change)
    }
}

/// The answer of a change a broken mode does not apply (now or at all).
fn applied_unseen() -> Change {
    Change {
        status: 204,
        value: None,
        event: None,
    }
}

/// `env` addressed to the thing stored as `stored` (the ID-rewriting
/// modes): its topic, and the `thingId` of a whole thing it carries.
fn rewrite_id(env: &Envelope, id: &str, stored: &str) -> Envelope {
    let mut env = env.clone();
    if let Some((_, name)) = stored.split_once(':') {
        env.topic.name = name.to_owned();
    }
    if let Some(Value::Object(thing)) = env.value.as_mut().filter(|_| env.path.is_root()) {
        if thing.get("thingId").and_then(Value::as_str) == Some(id) {
            thing.insert("thingId".into(), Value::String(stored.to_owned()));
        }
    }
    env
}

#[cfg(test)]
mod http_tests;
#[cfg(test)]
mod hub_tests;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
