//! The edge client against the embedded twin hub (the twin service and
//! its WebSocket sessions), in one process: a tiny driver ([`Loop`])
//! passes frames both ways over a session that the test opens and drops,
//! in virtual time (ticks of 100 ms, one tick of latency each way, so a
//! drop loses what is on the wire). Each opening is a new [`SessionId`].

use std::collections::VecDeque;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::super::change::{twin, Twin};
use super::super::client::{start_send_messages, EdgeClient, EdgeConfig, EdgeEvent};
use super::super::mapping::Scope;
use super::super::model::{FunctionalItem, GatewayRuntime};
use super::{def, sample, CAM_CONFIG};
use crate::ditto::protocol::{Criterion, DittoError, Envelope};
use crate::message::{percent_encode, Body, Method, Request, Response};
use crate::protocol::{Client, Transmit};
use crate::server::twin::{
    HttpAnswer, HubConfig, HubOutput, PendingId, SessionId, TwinConfig, TwinHub,
};
use crate::time::{Span, Time};

pub(crate) const TICK: Span = Span::millis(100);

/// The test driver: one gateway, one twin hub, one session at a time.
pub(crate) struct Loop {
    pub client: EdgeClient,
    pub hub: TwinHub,
    pub now: Time,
    pub up: bool,
    /// The current (or last) session.
    pub session: SessionId,
    pub rng: ChaCha8Rng,
    pub events: Vec<EdgeEvent>,
    /// Frames on the wire to the device (delivered next tick).
    to_device: VecDeque<String>,
    /// Frames on the wire to the service (delivered next tick).
    to_service: VecDeque<String>,
    /// HTTP replies of inbox messages.
    pub replies: Vec<(PendingId, Response)>,
    /// Twin commands still to answer 503 without applying them.
    pub unavailable: u32,
    /// Twin command frames the service received.
    pub commands_seen: u64,
    /// Control frames the service received.
    pub control_frames: Vec<String>,
    /// What the oracle is fed, when logged (`loop_log.rs`).
    pub record: Option<super::loop_log::Record>,
}

impl Loop {
    pub fn new(rt: GatewayRuntime, config: EdgeConfig, seed: u64) -> Loop {
        Loop {
            client: EdgeClient::new(rt, config),
            hub: TwinHub::new(TwinConfig::default(), HubConfig::default()),
            now: Time(1_000),
            up: false,
            session: SessionId(0),
            rng: ChaCha8Rng::seed_from_u64(seed),
            events: Vec::new(),
            to_device: VecDeque::new(),
            to_service: VecDeque::new(),
            replies: Vec::new(),
            unavailable: 0,
            commands_seen: 0,
            control_frames: Vec::new(),
            record: None,
        }
    }

    /// Opens or drops the session; a drop loses the frames on the wire.
    pub fn session(&mut self, up: bool) {
        if up == self.up {
            return;
        }
        self.up = up;
        if up {
            self.session = SessionId(self.session.0 + 1);
            self.hub.open(self.now, self.session);
        } else {
            self.to_device.clear();
            self.to_service.clear();
            self.hub.close(self.now, self.session);
        }
        let (now, rng, events) = (self.now, &mut self.rng, &mut self.events);
        self.client.handle_session(now, up, &(), rng, events);
    }

    /// A runtime change made by the device.
    pub fn change(&mut self, f: impl FnOnce(&mut GatewayRuntime)) {
        self.client.change(self.now, f, &mut self.events);
    }

    /// An HTTP request to the hub.
    pub fn http(&mut self, req: &Request) -> Option<HttpAnswer> {
        let answer = self.hub.http(self.now, req);
        self.hub_outputs();
        answer
    }

    /// One tick: deliver the wire, let both sides act, advance time.
    pub fn tick(&mut self) {
        let now = self.now;
        while let Some(frame) = self.to_device.pop_front() {
            let (rng, events) = (&mut self.rng, &mut self.events);
            let before = events.len();
            self.client
                .handle_message(now, "ditto", &frame, &(), rng, events);
            self.log_synced(before);
        }
        let arrived: Vec<String> = self.to_service.drain(..).collect();
        for frame in arrived {
            self.at_service(&frame);
        }
        if self.hub.poll_timeout().is_some_and(|t| t <= now) {
            self.hub.handle_timeout(now);
        }
        self.hub_outputs();
        for _ in 0..10_000 {
            if !self.up || self.client.poll_timeout() > now {
                break;
            }
            let (rng, events) = (&mut self.rng, &mut self.events);
            match self.client.poll_transmit(now, &(), rng, events) {
                Some(Transmit::Frame(frame)) => self.to_service.push_back(frame),
                Some(other) => panic!("the edge client sends frames only: {other:?}"),
                None => break,
            }
        }
        self.now = now + TICK;
    }

    fn at_service(&mut self, frame: &str) {
        if !frame.starts_with('{') {
            self.control_frames.push(frame.to_string());
            return self.hub.frame(self.now, self.session, frame);
        }
        let env = Envelope::parse(frame.as_bytes()).expect("the gateway sends Ditto Protocol");
        let is_command = matches!(env.topic.criterion, Criterion::Commands(_));
        if is_command {
            self.commands_seen += 1;
        }
        if is_command && self.unavailable > 0 {
            self.unavailable -= 1;
            let error = DittoError::new(
                503,
                "things:service.unavailable",
                "try again".to_string(),
                "injected",
            );
            self.to_device
                .push_back(env.error_response(&error).to_json());
            return;
        }
        self.hub.frame(self.now, self.session, frame);
    }

    fn hub_outputs(&mut self) {
        self.log_events();
        while let Some(out) = self.hub.poll_output() {
            match out {
                HubOutput::Frame { session, text } if self.up && session == self.session => {
                    self.log_delivery(&text);
                    self.to_device.push_back(text)
                }
                HubOutput::Frame { .. } => {}
                HubOutput::HttpReply { id, response } => self.replies.push((id, response)),
            }
        }
    }

    /// Runs `span` of virtual time.
    pub fn run(&mut self, span: Span) {
        let end = self.now + span;
        while self.now < end {
            self.tick();
        }
    }

    /// Runs until nothing is unanswered, queued or on the wire (at most `limit`).
    pub fn settle(&mut self, limit: Span) {
        let end = self.now + limit;
        while self.now < end {
            self.tick();
            let quiet = self.to_device.is_empty() && self.to_service.is_empty();
            if quiet && self.client.is_ready() && self.client.unanswered() == 0 {
                self.tick();
                return;
            }
        }
    }

    /// The service's things, less the `policyId` it adds.
    pub fn things(&self) -> Twin {
        let strip = |json: &Value| {
            let mut json = json.clone();
            json.as_object_mut().map(|m| m.remove("policyId"));
            json
        };
        let store = self.hub.service().store().iter();
        store
            .map(|(id, t)| (id.to_string(), strip(&t.json)))
            .collect()
    }

    /// What the twin should be: the mapping of the gateway's runtime.
    pub fn expected(&self) -> Twin {
        twin(self.client.runtime())
    }

    pub fn count(&self, f: impl Fn(&EdgeEvent) -> bool) -> usize {
        self.events.iter().filter(|e| f(e)).count()
    }
}

const THING: &str = "org.acme:gw-1:da:device:ZigBee:cam1";

fn resolution(rt: &GatewayRuntime) -> Value {
    rt.item(CAM_CONFIG).expect("config item").writable["resolution"].clone()
}

fn twin_resolution(l: &Loop) -> Value {
    let thing = l.hub.service().thing(THING).expect("edge thing");
    thing.json["features"]["Configuration"]["properties"]["configuration"]["resolution"].clone()
}

fn connected(seed: u64) -> Loop {
    let mut l = Loop::new(sample(), EdgeConfig::default(), seed);
    l.session(true);
    l.settle(Span::secs(5));
    l
}

#[test]
fn first_connect_asks_for_messages_then_creates_every_thing() {
    let mut l = Loop::new(sample(), EdgeConfig::default(), 1);
    l.run(Span::secs(1));
    assert!(
        l.hub.service().store().is_empty(),
        "nothing before the session"
    );
    l.session(true);
    l.settle(Span::secs(5));
    assert_eq!(l.things(), l.expected());
    assert_eq!(l.things().len(), 2);
    let ready = l
        .events
        .iter()
        .position(|e| matches!(e, EdgeEvent::SessionReady { .. }));
    let first_sent = l
        .events
        .iter()
        .position(|e| matches!(e, EdgeEvent::CommandSent { .. }));
    assert!(
        ready < first_sent,
        "commands only after the ACK: {:?}",
        l.events
    );
    assert_eq!(
        l.count(|e| matches!(
            e,
            EdgeEvent::CommandSent {
                command: "ModifyThing",
                ..
            }
        )),
        2
    );
    assert_eq!(
        l.count(|e| matches!(e, EdgeEvent::CommandAnswered { status: 201, .. })),
        2
    );
    assert_eq!(l.count(|e| matches!(e, EdgeEvent::TwinSynced { .. })), 1);
    assert_eq!(
        l.control_frames,
        vec![start_send_messages("org.acme", "gw-1")],
        "one filtered subscription, acknowledged"
    );
}

#[test]
fn changes_while_connected_arrive() {
    let mut l = connected(2);
    l.change(|rt| {
        rt.set_property(CAM_CONFIG, "resolution", json!("1080p"))
            .expect("set");
        let item = FunctionalItem::new("da:item:Cameras:1:Light", def("a:Light:1"))
            .writable("on", json!(false));
        rt.add_device_item("da:device:ZigBee:cam1", item)
            .expect("add");
    });
    l.settle(Span::secs(5));
    assert_eq!(twin_resolution(&l), json!("1080p"));
    assert_eq!(l.things(), l.expected());
    l.change(|rt| {
        rt.remove_edge_device("da:device:ZigBee:cam1")
            .expect("remove");
    });
    l.settle(Span::secs(5));
    assert_eq!(l.things(), l.expected());
    assert_eq!(l.things().len(), 1, "the edge thing is deleted");
    assert_eq!(l.client.stats().refused, 0);
}

#[test]
fn changes_while_disconnected_are_buffered_and_replayed_in_order() {
    let mut l = connected(3);
    l.session(false);
    for value in ["a", "b", "c"] {
        l.change(|rt| {
            rt.set_property(CAM_CONFIG, "resolution", json!(value))
                .expect("set");
        });
        l.run(Span::secs(1));
    }
    l.change(|rt| {
        rt.set_property("da:item:Cameras:1:Status", "recording", json!(true))
            .expect("set");
    });
    assert_eq!(
        twin_resolution(&l),
        json!("720p"),
        "nothing reaches the twin offline"
    );
    assert_eq!(
        l.client.sync().buffered(),
        2,
        "coalesced to one change per property"
    );
    assert_eq!(l.count(|e| matches!(e, EdgeEvent::Buffered { .. })), 4);
    l.session(true);
    l.settle(Span::secs(5));
    assert_eq!(twin_resolution(&l), json!("c"));
    assert_eq!(l.things(), l.expected());
    let replay = l.events.iter().rev().find_map(|e| match e {
        EdgeEvent::SessionReady { handed_out, resync } => Some((*handed_out, *resync)),
        _ => None,
    });
    assert_eq!(replay, Some((2, false)));
}

#[test]
fn unanswered_commands_are_resent_and_503_is_retried() {
    let mut l = connected(4);
    l.unavailable = 1;
    l.change(|rt| {
        rt.set_property(CAM_CONFIG, "resolution", json!("4k"))
            .expect("set");
    });
    // The command goes out; the session drops before the answer comes.
    l.tick();
    l.session(false);
    l.session(true);
    l.settle(Span::secs(10));
    assert_eq!(twin_resolution(&l), json!("4k"));
    assert!(l.count(|e| matches!(e, EdgeEvent::CommandRetry { status: 503, .. })) >= 1);
    assert!(l.count(|e| matches!(e, EdgeEvent::CommandSent { resend: true, .. })) >= 1);
    assert_eq!(l.things(), l.expected());
}

#[test]
fn a_deleted_feature_is_recreated_before_its_property_command() {
    let mut l = connected(5);
    let url = format!(
        "http://twin/api/2/things/{}/features/Configuration",
        percent_encode(THING)
    );
    let answer = l.http(&Request::new(Method::Delete, url));
    assert!(matches!(
        answer,
        Some(HttpAnswer::Ready(Response { status: 204, .. }))
    ));
    l.change(|rt| {
        rt.set_property(CAM_CONFIG, "resolution", json!("8k"))
            .expect("set");
    });
    l.settle(Span::secs(5));
    assert_eq!(l.client.stats().recreated, 1);
    assert_eq!(l.things(), l.expected());
}

fn inbox_post(l: &mut Loop, value: &str) -> PendingId {
    let url = format!(
        "http://twin/api/2/things/{}/features/Configuration/inbox/messages/$set.configuration/resolution",
        percent_encode(THING)
    );
    let mut req = Request::new(Method::Post, url);
    req.headers.insert("content-type", "application/json");
    req.body = Body::Bytes(json!({"new_value": value}).to_string().into_bytes().into());
    match l.http(&req) {
        Some(HttpAnswer::Pending(id)) => id,
        other => panic!("an inbox message waits for the gateway: {other:?}"),
    }
}

#[test]
fn a_set_configuration_is_applied_once_answered_204_and_flows_back() {
    let mut l = connected(6);
    let id = inbox_post(&mut l, "4k");
    // The hub sends the message; the device gets it twice more (a redelivery
    // on the wire): applied once, answered three times, one HTTP answer.
    let frame = l
        .to_device
        .front()
        .cloned()
        .expect("the message is on the wire");
    assert!(frame.contains("$set.configuration/resolution"), "{frame}");
    let (now, rng, events) = (l.now, &mut l.rng, &mut l.events);
    l.client
        .handle_message(now, "ditto", &frame, &(), rng, events);
    l.client
        .handle_message(now, "ditto", &frame, &(), rng, events);
    l.settle(Span::secs(5));
    assert_eq!(resolution(l.client.runtime()), json!("4k"));
    assert_eq!(
        l.count(|e| matches!(
            e,
            EdgeEvent::MessageApplied {
                status: 204,
                changed: true,
                ..
            }
        )),
        1
    );
    assert_eq!(
        l.count(|e| matches!(e, EdgeEvent::MessageDuplicate { .. })),
        2
    );
    let statuses: Vec<(PendingId, u16)> = l.replies.iter().map(|(i, r)| (*i, r.status)).collect();
    assert_eq!(statuses, vec![(id, 204)], "the backend gets one answer");
    assert_eq!(
        twin_resolution(&l),
        json!("4k"),
        "the device's change flows back"
    );
    assert_eq!(l.things(), l.expected());
}

#[test]
fn a_message_sent_while_offline_is_delivered_after_reconnect() {
    let mut l = connected(7);
    l.session(false);
    let id = inbox_post(&mut l, "2k");
    l.run(Span::secs(1));
    assert_eq!(resolution(l.client.runtime()), json!("720p"));
    l.session(true);
    l.settle(Span::secs(5));
    assert_eq!(resolution(l.client.runtime()), json!("2k"));
    assert_eq!(
        l.replies
            .iter()
            .map(|(i, r)| (*i, r.status))
            .collect::<Vec<_>>(),
        vec![(id, 204)]
    );
    assert_eq!(l.things(), l.expected());
}

#[test]
fn a_twin_side_put_is_never_pushed_to_the_device() {
    let mut l = connected(8);
    let url = format!(
        "http://twin/api/2/things/{}/features/Configuration/properties/configuration/resolution",
        percent_encode(THING)
    );
    let mut put = Request::new(Method::Put, url);
    put.headers.insert("content-type", "application/json");
    put.body = Body::Bytes(b"\"8k\"".to_vec().into());
    let answer = l.http(&put);
    assert!(matches!(
        answer,
        Some(HttpAnswer::Ready(Response { status: 204, .. }))
    ));
    l.run(Span::secs(3));
    assert_eq!(twin_resolution(&l), json!("8k"));
    assert_eq!(resolution(l.client.runtime()), json!("720p"));
    assert_eq!(
        l.count(|e| matches!(e, EdgeEvent::MessageApplied { .. })),
        0
    );
    assert_eq!(
        l.client.stats().stray,
        0,
        "no frame reached the device unasked"
    );
}

#[test]
fn a_deleted_thing_is_recreated_before_its_feature_command() {
    let mut l = connected(9);
    let url = format!("http://twin/api/2/things/{}", percent_encode(THING));
    let answer = l.http(&Request::new(Method::Delete, url));
    assert!(matches!(
        answer,
        Some(HttpAnswer::Ready(Response { status: 204, .. }))
    ));
    l.change(|rt| {
        rt.set_property(CAM_CONFIG, "resolution", json!("8k"))
            .expect("set");
    });
    l.settle(Span::secs(5));
    let recreated: Vec<&str> = l
        .events
        .iter()
        .filter_map(|e| match e {
            EdgeEvent::Recreated { command, .. } => Some(*command),
            _ => None,
        })
        .collect();
    assert_eq!(recreated, vec!["ModifyThing"]);
    assert_eq!(l.things(), l.expected());
}

fn fifty_devices() -> GatewayRuntime {
    let mut rt = GatewayRuntime::new("org.acme", "gw-m").expect("runtime");
    for d in 0..50 {
        let info = FunctionalItem::new(format!("dev:{d}"), def("a:D:1")).named("d");
        let items = (0..3).map(|i| {
            FunctionalItem::new(format!("da:item:X:{d}:I{i}"), def("a:I:1"))
                .writable("w", json!(0))
                .read_only("r", json!(0))
        });
        rt.add_edge_device(info, items.collect()).expect("device");
    }
    rt
}

/// Sets property `key` of item `k % 3` of device `k % 50` to `k`, scoped.
fn scoped_set(l: &mut Loop, k: u64, key: &str) {
    let d = k % 50;
    let scope = Scope::Device(format!("dev:{d}"));
    let uid = format!("da:item:X:{d}:I{}", k % 3);
    let set = |rt: &mut GatewayRuntime| rt.set_property(&uid, key, json!(k)).map(|_| ());
    let done = l.client.change_in(l.now, &scope, set, &mut l.events);
    assert!(done.is_ok());
}

#[test]
fn scoped_changes_of_a_fifty_device_gateway_reach_the_twin() {
    let mut l = Loop::new(fifty_devices(), EdgeConfig::default(), 10);
    l.session(true);
    l.settle(Span::secs(60));
    assert_eq!(l.commands_seen, 51, "one ModifyThing per thing");
    for k in 0..1000 {
        scoped_set(&mut l, k, "w");
        if k % 10 == 0 {
            l.tick();
        }
    }
    l.settle(Span::secs(60));
    assert_eq!(l.things(), l.expected());
    l.session(false);
    (0..1000).for_each(|k| scoped_set(&mut l, k, "r"));
    assert_eq!(l.client.sync().buffered(), 150, "one change per property");
    l.session(true);
    l.settle(Span::secs(60));
    assert_eq!(l.things(), l.expected());
    assert_eq!(l.client.stats().refused, 0);
}

#[test]
fn the_subscription_asks_for_this_gateways_things_only() {
    assert_eq!(
        start_send_messages("org.acme", "gw 1"),
        "START-SEND-MESSAGES?filter=or%28eq%28thingId%2C%22org.acme%3Agw%25201%22%29%2C\
         like%28thingId%2C%22org.acme%3Agw%25201%3A%2A%22%29%29",
        "the filter is URL-encoded, the encoded ID's own % too"
    );
}

#[test]
fn a_message_delivered_but_unanswered_when_the_session_drops_is_redelivered_and_applied_once() {
    let mut l = connected(11);
    let id = inbox_post(&mut l, "1440p");
    // The message reaches the device, which applies it; its reply is on
    // the wire when the session drops.
    l.tick();
    assert_eq!(resolution(l.client.runtime()), json!("1440p"));
    l.session(false);
    assert_eq!(l.hub.held(), 1, "held again: no reply came");
    l.session(true);
    l.settle(Span::secs(5));
    assert_eq!(l.hub.stats().redelivered, 1);
    assert_eq!(
        l.count(|e| matches!(e, EdgeEvent::MessageApplied { .. })),
        1
    );
    assert_eq!(
        l.count(|e| matches!(e, EdgeEvent::MessageDuplicate { .. })),
        1
    );
    let statuses: Vec<(PendingId, u16)> = l.replies.iter().map(|(i, r)| (*i, r.status)).collect();
    assert_eq!(statuses, vec![(id, 204)]);
    assert_eq!(l.hub.held(), 0);
    assert_eq!(l.things(), l.expected());
}
