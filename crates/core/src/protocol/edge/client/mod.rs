//! The edge gateway client (seed 002, the device half): one gateway's
//! runtime kept in sync with its Ditto twin over a Ditto Protocol session,
//! sans-IO, on the crate's [`Client`] contract.
//!
//! Transport: a Ditto Protocol WebSocket as on Ditto's `/ws/2` (ditto.md §5
//! "Without Hono"): one Ditto Protocol JSON per text frame
//! ([`Transmit::Frame`]); frames from the service arrive through
//! [`Client::handle_message`] with alias [`ALIAS`]; the driver reports the
//! session opening and dropping through [`Client::handle_session`].
//!
//! Flow:
//! - Session up: send `START-SEND-MESSAGES?filter=…` (this gateway's
//!   things only, [`start_send_messages`]), wait for its `:ACK` (resent if
//!   none comes within [`EdgeConfig::response_timeout`]); then
//!   [`TwinSync::connect`] hands out the first-connect `ModifyThing`s or the
//!   buffered replay, each a twin command with a unique correlation-id
//!   (`<serial>-<counter>`, deterministic).
//! - Commands: at most [`EdgeConfig::window`] in flight, in order per path
//!   (`queue.rs`); 2xx → done; `things:feature.notfound` on a property
//!   command → `ModifyFeature` with the runtime's feature first, then the
//!   command again (ditto.md §6 "Gateway sim must" 2; likewise `ModifyThing`
//!   after `things:thing.notfound` beneath a thing); 429/5xx/408 → again
//!   after [`backoff`](crate::protocol::backoff); 404 on a delete → done
//!   (already gone); other 4xx → refused, counted, not retried. Unanswered by the deadline, or in flight
//!   when the session drops → resent with the same correlation-id (twin
//!   commands replace or delete their path, so a second application is
//!   harmless).
//! - Runtime changes ([`EdgeClient::change`]): the diff goes out while the
//!   session is ready, to [`TwinSync`]'s bounded buffer otherwise.
//! - Live messages (`…/inbox/messages/$set.configuration/<prop>`): applied
//!   with [`handle_message`] and answered with a reply frame; the reply is
//!   remembered by correlation-id (the last [`EdgeConfig::remembered`]), so a
//!   redelivered message is answered again but applied once.
//!
//! Randomness: only the RNG passed in, for backoff jitter.

use std::collections::{BTreeMap, VecDeque};

use rand::RngCore;

use serde_json::Value;

use super::change::{diff, diff_twins, twin_of, Change, PropertyGroup};
use super::envelope::{handle_message, to_envelope};
use super::mapping::{feature_of, gateway_thing_id, Scope};
use super::model::{GatewayRuntime, ModelError};
use super::sync::TwinSync;
use crate::ditto::protocol::{Criterion, Envelope};
use crate::message::percent_encode;
use crate::protocol::client::Client;
use crate::protocol::transport::{Delivery, ReqKind, Transmit};
use crate::time::{Span, Time};

mod answer;
mod event;
mod queue;

pub use event::{EdgeEvent, EdgeStats};
use queue::Commands;

/// The alias of frames from the Ditto session in [`Client::handle_message`].
pub const ALIAS: &str = "ditto";
/// The control frame that asks for live messages (ditto.md §5); the
/// client sends it with a filter, see [`start_send_messages`].
pub const START_SEND_MESSAGES: &str = "START-SEND-MESSAGES";
/// Its acknowledgement (Ditto acknowledges without the parameters).
pub const START_SEND_MESSAGES_ACK: &str = "START-SEND-MESSAGES:ACK";

/// The RQL filter that selects the things of gateway `serial` in
/// `namespace`: the gateway thing and its edge things
/// (`or(eq(thingId,"<ns>:<serial>"),like(thingId,"<ns>:<serial>:*"))`).
/// Encoded IDs never hold `*`, `?` or `"`, so the pattern is exact.
pub fn messages_filter(namespace: &str, serial: &str) -> String {
    let gateway = gateway_thing_id(namespace, serial);
    format!("or(eq(thingId,\"{gateway}\"),like(thingId,\"{gateway}:*\"))")
}

/// The `START-SEND-MESSAGES` frame of gateway `serial`: its
/// [`messages_filter`] URL-encoded as the `filter` parameter, so a hub (or
/// a real Ditto) routes only this gateway's things' messages to it.
pub fn start_send_messages(namespace: &str, serial: &str) -> String {
    let filter = percent_encode(&messages_filter(namespace, serial));
    format!("{START_SEND_MESSAGES}?filter={filter}")
}

/// Ditto's error code for a missing thing.
const THING_NOT_FOUND: &str = "things:thing.notfound";
/// Ditto's error code for a missing feature.
const FEATURE_NOT_FOUND: &str = "things:feature.notfound";

/// How the edge client behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EdgeConfig {
    /// Commands in flight at most.
    pub window: usize,
    /// The offline buffer's bound (changes).
    pub buffer_capacity: usize,
    /// A command (or the `START-SEND-MESSAGES`) unanswered this long is resent.
    pub response_timeout: Span,
    /// First retry delay after 429/5xx.
    pub backoff_base: Span,
    /// Longest retry delay.
    pub backoff_cap: Span,
    /// Replies to live messages remembered for redeliveries.
    pub remembered: usize,
}

impl Default for EdgeConfig {
    fn default() -> EdgeConfig {
        EdgeConfig {
            window: 16,
            buffer_capacity: 1024,
            response_timeout: Span::secs(10),
            backoff_base: Span::secs(1),
            backoff_cap: Span::secs(60),
            remembered: 1024,
        }
    }
}

/// Where the session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Session {
    /// No connection.
    Down,
    /// Connected, `START-SEND-MESSAGES` sent at `since`, no `:ACK` yet.
    Opening { since: Time, sent: bool },
    /// Acknowledged: commands flow.
    Ready,
}

/// The sans-IO edge gateway client (see the module doc).
#[derive(Clone, Debug)]
pub struct EdgeClient {
    config: EdgeConfig,
    rt: GatewayRuntime,
    sync: TwinSync,
    session: Session,
    commands: Commands,
    /// Frames to send before any command (replies to live messages).
    out: VecDeque<String>,
    /// Reply frames by the live message's correlation-id, and their order.
    answered: BTreeMap<String, String>,
    answered_order: VecDeque<String>,
    counter: u64,
    /// The latest `now` seen (what [`Client::poll_timeout`] means by "now").
    now: Time,
    /// [`EdgeEvent::TwinSynced`] told for the current quiet period.
    synced_told: bool,
    stats: EdgeStats,
}

impl EdgeClient {
    /// Waits at least `timeout` for a command's answer (and a session's
    /// `:ACK`) from now on: a real-time run at a high time scale gives the
    /// network's real round trip room (see `fleetsim_io::realtime`).
    pub fn wait_at_least(&mut self, timeout: Span) {
        self.config.response_timeout = self.config.response_timeout.max(timeout);
    }

    /// A client for this runtime, its session down.
    pub fn new(rt: GatewayRuntime, config: EdgeConfig) -> EdgeClient {
        EdgeClient {
            sync: TwinSync::new(config.buffer_capacity),
            config,
            rt,
            session: Session::Down,
            commands: Commands::default(),
            out: VecDeque::new(),
            answered: BTreeMap::new(),
            answered_order: VecDeque::new(),
            counter: 0,
            now: Time::ZERO,
            synced_told: false,
            stats: EdgeStats::default(),
        }
    }

    /// The gateway runtime.
    pub fn runtime(&self) -> &GatewayRuntime {
        &self.rt
    }

    /// The sync state (its counters, the buffer).
    pub fn sync(&self) -> &TwinSync {
        &self.sync
    }

    /// The client's counters.
    pub fn stats(&self) -> EdgeStats {
        self.stats
    }

    /// Whether the session is acknowledged and commands flow.
    pub fn is_ready(&self) -> bool {
        self.session == Session::Ready
    }

    /// Commands not yet answered (in flight or waiting).
    pub fn unanswered(&self) -> usize {
        self.commands.len()
    }

    /// Commands in flight.
    pub fn in_flight(&self) -> usize {
        self.commands.in_flight()
    }

    /// Changes the runtime with `f` (edge devices appear or disappear,
    /// values change): the diff goes out, or to the offline buffer.
    pub fn change<R>(
        &mut self,
        now: Time,
        f: impl FnOnce(&mut GatewayRuntime) -> R,
        events: &mut Vec<EdgeEvent>,
    ) -> R {
        self.now = self.now.max(now);
        let before = self.rt.clone();
        let result = f(&mut self.rt);
        let changes = diff(&before, &self.rt);
        self.hand_over(now, changes, events);
        result
    }

    /// [`EdgeClient::change`] of a change that stays inside `scope` (one
    /// edge device, or the gateway's own FIs): diffs that one thing only,
    /// without cloning the runtime — what a driver with many edge devices
    /// per gateway wants.
    pub fn change_in<R>(
        &mut self,
        now: Time,
        scope: &Scope,
        f: impl FnOnce(&mut GatewayRuntime) -> R,
        events: &mut Vec<EdgeEvent>,
    ) -> R {
        self.now = self.now.max(now);
        let before = twin_of(&self.rt, scope);
        let result = f(&mut self.rt);
        let changes = diff_twins(&before, &twin_of(&self.rt, scope));
        self.hand_over(now, changes, events);
        result
    }

    /// The device (or gateway) sets property `key` of FI `uid` to `value`
    /// itself ([`GatewayRuntime::set_property`]): the one
    /// `ModifyFeatureProperty` goes out, or to the offline buffer — what
    /// [`EdgeClient::change`] would send, without mapping the whole thing.
    /// Returns the previous value.
    pub fn set_property(
        &mut self,
        now: Time,
        uid: &str,
        key: &str,
        value: Value,
        events: &mut Vec<EdgeEvent>,
    ) -> Result<Value, ModelError> {
        self.now = self.now.max(now);
        let group = match self.rt.item(uid) {
            Some(fi) if fi.writable.contains_key(key) => PropertyGroup::Configuration,
            _ => PropertyGroup::Status,
        };
        let previous = self.rt.set_property(uid, key, value.clone())?;
        if previous == value {
            return Ok(previous);
        }
        let Some((thing_id, feature_id)) = feature_of(&self.rt, uid) else {
            return Ok(previous);
        };
        let change = Change::ModifyFeatureProperty {
            thing_id,
            feature_id,
            group,
            key: key.to_string(),
            value,
        };
        self.hand_over(now, vec![change], events);
        Ok(previous)
    }

    /// Gives a diff to [`TwinSync`] and queues what it hands out.
    fn hand_over(&mut self, now: Time, changes: Vec<Change>, events: &mut Vec<EdgeEvent>) {
        if changes.is_empty() {
            return;
        }
        let before = self.sync.stats().buffer;
        let out = self.sync.changed(changes);
        let after = self.sync.stats().buffer;
        self.enqueue(now, out);
        // Before the first connect nothing is buffered: the first connect
        // sends the whole state.
        if after.pushed > before.pushed {
            events.push(EdgeEvent::Buffered {
                count: (after.pushed - before.pushed) as usize,
                dropped: after.dropped - before.dropped,
            });
        }
    }

    fn fresh_id(&mut self) -> String {
        self.counter += 1;
        format!("{}-{}", self.rt.serial(), self.counter)
    }

    fn enqueue(&mut self, now: Time, changes: Vec<Change>) {
        for change in changes {
            let id = self.fresh_id();
            self.commands.push(id, change, now);
            self.synced_told = false;
        }
    }

    /// Tells [`EdgeEvent::TwinSynced`] once nothing is left to deliver.
    fn check_synced(&mut self, now: Time, events: &mut Vec<EdgeEvent>) {
        let quiet = self.commands.is_empty() && self.sync.buffered() == 0;
        if self.session == Session::Ready && quiet && !self.synced_told {
            self.synced_told = true;
            events.push(EdgeEvent::TwinSynced { at: now });
        }
    }

    /// The `START-SEND-MESSAGES:ACK` came: the session is ready.
    fn on_ready(&mut self, now: Time, events: &mut Vec<EdgeEvent>) {
        if !matches!(self.session, Session::Opening { .. }) {
            return;
        }
        self.session = Session::Ready;
        self.stats.sessions += 1;
        let resyncs = self.sync.stats().resyncs;
        let out = self.sync.connect(&self.rt);
        let resync = self.sync.stats().resyncs > resyncs;
        events.push(EdgeEvent::SessionReady {
            handed_out: out.len(),
            resync,
        });
        self.enqueue(now, out);
        self.check_synced(now, events);
    }

    /// A live message: applied once, answered every time it comes.
    fn on_live_message(&mut self, env: &Envelope, events: &mut Vec<EdgeEvent>) {
        let correlation_id = env.correlation_id().unwrap_or_default().to_string();
        if let Some(reply) = self.answered.get(&correlation_id) {
            self.out.push_back(reply.clone());
            self.stats.duplicates += 1;
            events.push(EdgeEvent::MessageDuplicate { correlation_id });
            return;
        }
        // A message changes at most its own thing.
        let scope = Scope::find(&self.rt, &env.topic.thing_id());
        let before = scope.as_ref().map(|s| twin_of(&self.rt, s));
        let handled = handle_message(&mut self.rt, env);
        let reply = handled.reply.to_json();
        self.out.push_back(reply.clone());
        self.stats.messages += 1;
        events.push(EdgeEvent::MessageApplied {
            correlation_id: correlation_id.clone(),
            status: handled.reply.status.unwrap_or_default(),
            changed: handled.changed,
        });
        if !correlation_id.is_empty() {
            self.remember(correlation_id, reply);
        }
        if let (true, Some(scope), Some(before)) = (handled.changed, scope, before) {
            let changes = diff_twins(&before, &twin_of(&self.rt, &scope));
            self.hand_over(self.now, changes, events);
        }
    }

    fn remember(&mut self, correlation_id: String, reply: String) {
        self.answered.insert(correlation_id.clone(), reply);
        self.answered_order.push_back(correlation_id);
        while self.answered_order.len() > self.config.remembered.max(1) {
            if let Some(old) = self.answered_order.pop_front() {
                self.answered.remove(&old);
            }
        }
    }

    /// The next command frame, if one may go at `now`.
    fn next_command(&mut self, now: Time, events: &mut Vec<EdgeEvent>) -> Option<Transmit> {
        let (key, _) = self.commands.plan(now, self.config.window);
        let deadline = now + self.config.response_timeout;
        let command = self.commands.sent(key?, deadline)?;
        let frame = to_envelope(&command.change, &command.id).to_json();
        let resend = command.sends > 1;
        events.push(EdgeEvent::CommandSent {
            correlation_id: command.id.clone(),
            command: command.change.command(),
            resend,
        });
        self.stats.sent += 1;
        self.stats.resent += u64::from(resend);
        Some(Transmit::Frame(frame))
    }
}

impl Client for EdgeClient {
    type Env<'a> = ();
    type Event = EdgeEvent;

    fn poll_timeout(&self) -> Time {
        match self.session {
            Session::Down => Time::NEVER,
            _ if !self.out.is_empty() => self.now,
            Session::Opening { sent: false, .. } => self.now,
            Session::Opening { since, .. } => since + self.config.response_timeout,
            Session::Ready => self.commands.plan(self.now, self.config.window).1,
        }
    }

    fn request_kind(&self) -> ReqKind {
        ReqKind::TwinCommand
    }

    fn poll_transmit(
        &mut self,
        now: Time,
        _env: &(),
        _rng: &mut dyn RngCore,
        events: &mut Vec<EdgeEvent>,
    ) -> Option<Transmit> {
        self.now = self.now.max(now);
        if let Some(frame) = self.out.pop_front() {
            return Some(Transmit::Frame(frame));
        }
        match self.session {
            Session::Down => None,
            Session::Opening { since, sent } => {
                let due = !sent || since + self.config.response_timeout <= now;
                due.then(|| {
                    self.session = Session::Opening {
                        since: now,
                        sent: true,
                    };
                    Transmit::Frame(start_send_messages(self.rt.namespace(), self.rt.serial()))
                })
            }
            Session::Ready => {
                for correlation_id in self.commands.expire(now) {
                    self.stats.timed_out += 1;
                    events.push(EdgeEvent::CommandTimedOut { correlation_id });
                }
                self.next_command(now, events)
            }
        }
    }

    /// Frames carry no HTTP responses; nothing to do.
    fn handle_response(
        &mut self,
        _now: Time,
        _delivery: Delivery,
        _env: &(),
        _rng: &mut dyn RngCore,
        _events: &mut Vec<EdgeEvent>,
    ) {
    }

    fn handle_message(
        &mut self,
        now: Time,
        alias: &str,
        value: &str,
        _env: &(),
        rng: &mut dyn RngCore,
        events: &mut Vec<EdgeEvent>,
    ) {
        self.now = self.now.max(now);
        if alias != ALIAS || self.session == Session::Down {
            return;
        }
        if value == START_SEND_MESSAGES_ACK {
            return self.on_ready(now, events);
        }
        let Ok(env) = Envelope::parse(value.as_bytes()) else {
            self.stats.stray += 1;
            events.push(EdgeEvent::StrayFrame);
            return;
        };
        match &env.topic.criterion {
            Criterion::Messages(_) if !env.is_response() => self.on_live_message(&env, events),
            _ => self.on_response(now, &env, rng, events),
        }
    }

    fn handle_session(
        &mut self,
        now: Time,
        up: bool,
        _env: &(),
        _rng: &mut dyn RngCore,
        events: &mut Vec<EdgeEvent>,
    ) {
        self.now = self.now.max(now);
        match (up, self.session) {
            (true, Session::Down) => {
                self.session = Session::Opening {
                    since: now,
                    sent: false,
                };
                events.push(EdgeEvent::SessionUp);
            }
            (false, Session::Opening { .. } | Session::Ready) => {
                self.session = Session::Down;
                self.sync.disconnect();
                self.out.clear();
                self.synced_told = false;
                let requeued = self.commands.requeue_all(now);
                events.push(EdgeEvent::SessionDown { requeued });
            }
            _ => {}
        }
    }
}
