//! The engine's part for edge gateways (`protocol: ditto`, seed 002): each
//! gateway's Ditto Protocol session with the embedded twin hub, frames
//! travelling over the gateway's link, and the session following its online
//! windows and breaking on loss; the gateway's acts are `edge_acts.rs`.
//!
//! A session is a WebSocket over TCP: frames arrive in order (each at
//! `max(sent + latency, previous arrival)`), and a lost frame is a broken
//! connection rather than a gap — both sides see the session drop, and the
//! gateway reconnects [`RECONNECT_DELAY`] later if its window is still
//! open. A window's end closes the session; frames still on their way are
//! lost with it. The hub is one for the run; gateways' things are disjoint,
//! so a gateway's history does not depend on the others (shards agree).

use crate::device::TraceSink;
use std::collections::{BTreeMap, VecDeque};

use super::queue::What;
use super::{embedded_env, Engine};
use crate::edge::activity::Activity;
use crate::edge::stats::BackendCounts;
use crate::scenario::Scenario;
use serde_json::Value;

use fleetsim_core::ditto::protocol::{Criterion, Envelope};
use fleetsim_core::protocol::edge::client::ALIAS;
use fleetsim_core::protocol::edge::mapping::{edge_thing_id, gateway_thing_id};
use fleetsim_core::protocol::edge::GatewayRuntime;
use fleetsim_core::server::twin::TwinService;
use fleetsim_core::server::twin::{HubConfig, HubOutput, SessionId, TwinHub};
use fleetsim_core::server::twin::{PendingId, TwinConfig};
use fleetsim_core::time::Time;

pub use crate::edge::RECONNECT_DELAY;

/// One gateway's side of the engine.
pub(super) struct GatewaySide {
    /// What happens at the gateway.
    pub(super) activity: Activity,
    /// The open session, if any.
    pub(super) session: Option<SessionId>,
    /// When the online window of the open session ends.
    window_end: Time,
    /// The session's link event due (older queue entries are stale).
    link_due: Time,
    /// Frames to the hub and their arrival times, in order.
    up: VecDeque<(Time, SessionId, String)>,
    /// Frames to the gateway and their arrival times, in order.
    down: VecDeque<(Time, SessionId, String)>,
    /// Backend commands posted so far (numbers their values).
    pub(super) commands: u64,
    /// Backend twin writes so far.
    pub(super) writes: u64,
}

/// Per-run state of the edge side of the engine.
pub(super) struct EdgeState {
    /// The embedded twin service and its sessions.
    pub(super) hub: TwinHub,
    /// Per slot: the gateway's side (`None` for other devices).
    pub(super) gateways: Vec<Option<Box<GatewaySide>>>,
    /// Open sessions' slots.
    by_session: BTreeMap<SessionId, u32>,
    next_session: u64,
    /// The hub timer due (older queue entries are stale).
    hub_due: Option<Time>,
    /// Backend requests waiting for their answer, by slot.
    pub(super) pending: BTreeMap<PendingId, u32>,
    /// What the backend did.
    pub(super) backend: BackendCounts,
    /// Gateway number → slot.
    pub(super) slot_of: BTreeMap<u64, u32>,
    /// The scenario breaks the twin on purpose (`twin_*` server faults).
    pub(super) faulty: bool,
}

impl EdgeState {
    /// The edge state of a run whose devices are `edge` (per slot: whether
    /// it is a gateway, and its number).
    pub(super) fn new(
        scenario: &Scenario,
        edge: impl Iterator<Item = Option<(u64, Activity)>>,
    ) -> EdgeState {
        let mut slot_of = BTreeMap::new();
        let gateways = edge
            .enumerate()
            .map(|(slot, g)| {
                g.map(|(number, activity)| {
                    slot_of.insert(number, slot as u32);
                    Box::new(GatewaySide {
                        activity,
                        session: None,
                        window_end: Time::ZERO,
                        link_due: Time::NEVER,
                        up: VecDeque::new(),
                        down: VecDeque::new(),
                        commands: 0,
                        writes: 0,
                    })
                })
            })
            .collect();
        EdgeState {
            hub: TwinHub::new(TwinConfig::default(), HubConfig::default()),
            gateways,
            by_session: BTreeMap::new(),
            next_session: 0,
            hub_due: None,
            pending: BTreeMap::new(),
            backend: BackendCounts::default(),
            slot_of,
            faulty: scenario.faults.server.iter().any(|f| match f.what {
                crate::scenario::FaultKind::Server(fault) => fault.is_twin(),
                crate::scenario::FaultKind::Reset => false,
            }),
        }
    }
}

impl Engine {
    /// Queues every gateway's first connect and first act.
    pub(super) fn edge_start(&mut self) {
        for slot in 0..self.devices.len() {
            if self.edge.gateways[slot].is_none() {
                continue;
            }
            let d = &self.devices[slot];
            let g = &self.setup.groups[d.group as usize];
            let first = g.link.next_online(Time::ZERO, d.window_phase);
            self.edge_link_at(slot, first);
            self.edge_schedule_act(slot);
        }
    }

    /// (Re)schedules the link event of gateway `slot` at `at`.
    fn edge_link_at(&mut self, slot: usize, at: Time) {
        if let Some(side) = self.edge.gateways[slot].as_mut() {
            side.link_due = at;
            self.queue.push(at, slot as u32, What::EdgeLink);
        }
    }

    /// The link event of gateway `slot`: connect when offline and the window
    /// is open; drop the session at the window's end.
    pub(super) fn edge_link(&mut self, slot: usize, now: Time) {
        let Some(side) = self.edge.gateways[slot].as_ref() else {
            return;
        };
        if side.link_due != now {
            return; // superseded
        }
        if side.session.is_some() {
            return self.edge_drop(slot, now);
        }
        let d = &self.devices[slot];
        let g = &self.setup.groups[d.group as usize];
        match g.link.online_until(now, d.window_phase) {
            Some(end) => self.edge_connect(slot, now, end),
            None => {
                let next = g.link.next_online(now, d.window_phase);
                self.edge_link_at(slot, next);
            }
        }
    }

    /// Gateway `slot` connects at `now` (its window ends at `end`): the
    /// hub opens a session, the client hears of it.
    fn edge_connect(&mut self, slot: usize, now: Time, end: Time) {
        self.edge.next_session += 1;
        let session = SessionId(self.edge.next_session);
        self.edge.hub.open(now, session);
        self.edge.by_session.insert(session, slot as u32);
        if let Some(side) = self.edge.gateways[slot].as_mut() {
            side.session = Some(session);
            side.window_end = end;
        }
        self.edge_link_at(slot, end);
        let env = embedded_env(&self.setup);
        let d = &mut self.devices[slot];
        let trace =
            (self.record == Some(d.number)).then_some(&mut self.trace as &mut dyn TraceSink);
        d.handle_session(now, true, &env, &mut self.ledger, trace);
        self.schedule_wake(slot);
    }

    /// The session of gateway `slot` ends at `now` (window end or a broken
    /// connection): frames on their way are lost; the next connect is at
    /// the next window, or after [`RECONNECT_DELAY`] within this one.
    fn edge_drop(&mut self, slot: usize, now: Time) {
        let Some(side) = self.edge.gateways[slot].as_mut() else {
            return;
        };
        let Some(session) = side.session.take() else {
            return;
        };
        side.up.clear();
        side.down.clear();
        self.edge.by_session.remove(&session);
        self.edge.hub.close(now, session);
        self.edge_drain(now);
        let env = embedded_env(&self.setup);
        let d = &mut self.devices[slot];
        let trace =
            (self.record == Some(d.number)).then_some(&mut self.trace as &mut dyn TraceSink);
        d.handle_session(now, false, &env, &mut self.ledger, trace);
        let g = &self.setup.groups[d.group as usize];
        let retry = now + RECONNECT_DELAY;
        let next = match g.link.online_until(retry, d.window_phase) {
            Some(_) => retry,
            None => g.link.next_online(retry, d.window_phase),
        };
        self.edge_link_at(slot, next);
    }

    /// Gateway `slot` sends `text` at `now`: it travels over the link, or
    /// the loss of it breaks the session.
    pub(super) fn edge_send(&mut self, slot: usize, now: Time, text: String) {
        self.ledger
            .stats
            .sent(fleetsim_core::protocol::ReqKind::TwinCommand);
        let d = &mut self.devices[slot];
        let g = &self.setup.groups[d.group as usize];
        let lost = g.link.lost(&mut d.link_rng);
        let latency = g.link.latency(&mut d.link_rng);
        let Some(side) = self.edge.gateways[slot].as_mut() else {
            return;
        };
        let Some(session) = side.session else {
            return self.schedule_wake(slot);
        };
        if lost {
            // The connection breaks: both ends notice now.
            side.link_due = now;
            self.queue.push(now, slot as u32, What::EdgeLink);
            return;
        }
        let after = side.up.back().map_or(Time::ZERO, |f| f.0);
        let at = (now + latency).max(after);
        if at < side.window_end {
            side.up.push_back((at, session, text));
            self.queue.push(at, slot as u32, What::EdgeUp);
        }
        self.schedule_wake(slot);
    }

    /// Frames of gateway `slot` due at `now` reach the hub.
    pub(super) fn edge_up(&mut self, slot: usize, now: Time) {
        while let Some(side) = self.edge.gateways[slot].as_mut() {
            if side.up.front().is_none_or(|f| f.0 > now) {
                break;
            }
            let Some((_, session, text)) = side.up.pop_front() else {
                break;
            };
            self.edge_faults(now);
            self.edge.hub.frame(now, session, &text);
            self.edge_drain(now);
        }
    }

    /// Frames for gateway `slot` due at `now` reach it.
    pub(super) fn edge_down(&mut self, slot: usize, now: Time) {
        let Some(side) = self.edge.gateways[slot].as_mut() else {
            return;
        };
        let due = side.down.iter().take_while(|f| f.0 <= now).count();
        let frames: Vec<_> = side.down.drain(..due).collect();
        let env = embedded_env(&self.setup);
        let d = &mut self.devices[slot];
        for (_, _, text) in frames {
            if let Some(message) = live_message(&text) {
                self.ledger
                    .oracle
                    .twin_message_delivered(d.number, &message);
            }
            let trace =
                (self.record == Some(d.number)).then_some(&mut self.trace as &mut dyn TraceSink);
            d.handle_message(now, ALIAS, &text, &env, &mut self.ledger, trace);
        }
        self.edge_check_synced(now);
        self.schedule_wake(slot);
    }

    /// Routes what the hub wants sent at `now`, feeds its events to the
    /// oracle and keeps its timer.
    pub(super) fn edge_drain(&mut self, now: Time) {
        while let Some(out) = self.edge.hub.poll_output() {
            match out {
                HubOutput::Frame { session, text } => self.edge_to_gateway(now, session, text),
                HubOutput::HttpReply { id, response } => self.edge_answered(id, response.status),
            }
        }
        for event in self.edge.hub.take_events() {
            self.ledger.oracle.twin_event(now, &event);
        }
        let due = self.edge.hub.poll_timeout();
        if due != self.edge.hub_due {
            self.edge.hub_due = due;
            if let Some(at) = due {
                self.queue.push(at.max(now), 0, What::HubTimer);
            }
        }
    }

    /// The hub's timer: inbox messages past their deadline.
    pub(super) fn edge_hub_timer(&mut self, now: Time) {
        if self.edge.hub_due != Some(now) {
            return;
        }
        self.edge.hub_due = None;
        self.edge.hub.handle_timeout(now);
        self.edge_drain(now);
    }

    /// A frame for `session` leaves the hub at `now`.
    fn edge_to_gateway(&mut self, now: Time, session: SessionId, text: String) {
        let Some(&slot) = self.edge.by_session.get(&session) else {
            return;
        };
        let slot = slot as usize;
        let d = &mut self.devices[slot];
        let g = &self.setup.groups[d.group as usize];
        let latency = g.link.latency(&mut d.link_rng);
        let Some(side) = self.edge.gateways[slot].as_mut() else {
            return;
        };
        let after = side.down.back().map_or(Time::ZERO, |f| f.0);
        let at = (now + latency).max(after);
        if at < side.window_end {
            side.down.push_back((at, session, text));
            self.queue.push(at, slot as u32, What::EdgeDown);
        }
    }

    /// Gateways that told `TwinSynced` have their twins checked against
    /// their runtimes when the oracle wants it (TWIN-CONVERGE, TWIN-ID).
    pub(super) fn edge_check_synced(&mut self, now: Time) {
        for number in self.ledger.twin.take_synced() {
            if !self.ledger.oracle.twin_sync_due(number) {
                continue;
            }
            let Some(&slot) = self.edge.slot_of.get(&number) else {
                continue;
            };
            let Some(rt) = self.devices[slot as usize].edge().map(|c| c.runtime()) else {
                continue;
            };
            let things = gateway_things(self.edge.hub.service(), rt);
            self.ledger.oracle.twin_synced(number, now, rt, &things);
        }
    }

    /// Puts the twin's broken modes of `now` in force (scenarios with
    /// `twin_*` server faults).
    pub(super) fn edge_faults(&mut self, now: Time) {
        if self.edge.faulty {
            let faults = self.setup.server.default_tenant().twin_faults_at(now);
            self.edge.hub.set_faults(faults);
        }
    }
}

/// The frame as a live message to the gateway (not a response), if it is one.
fn live_message(text: &str) -> Option<Envelope> {
    if !text.contains("/things/live/messages/") {
        return None;
    }
    let env = Envelope::parse(text.as_bytes()).ok()?;
    (matches!(env.topic.criterion, Criterion::Messages(_)) && !env.is_response()).then_some(env)
}

/// What the twin holds for gateway `rt`'s things (the oracle's view).
pub(crate) fn gateway_things(twin: &TwinService, rt: &GatewayRuntime) -> BTreeMap<String, Value> {
    let gateway = gateway_thing_id(rt.namespace(), rt.serial());
    let mut expected = vec![gateway.clone()];
    expected.extend(
        rt.devices()
            .keys()
            .map(|uid| edge_thing_id(rt.namespace(), rt.serial(), uid)),
    );
    twin.gateway_things(&gateway, expected.iter().map(String::as_str))
}
