//! TWIN-* against the embedded twin service: an edge client talks to a
//! twin service (a [`TwinHub`]) through the edge tests' [`Loop`] (which logs what the
//! oracle is fed), and each broken twin mode makes its invariant fire —
//! while the same steps against a correct twin fire nothing, and neither
//! do random gateway lives with flapping sessions, posts and twin-side
//! writes (the property test at the end).

use proptest::prelude::*;
use serde_json::{json, Value};

use super::super::{Oracle, OracleConfig};
use crate::ditto::protocol::Pointer;
use crate::message::{percent_encode, Body, Method, Request};
use crate::protocol::edge::mapping::features;
use crate::protocol::edge::tests::client_loop::Loop;
use crate::protocol::edge::tests::loop_log::Record;
use crate::protocol::edge::tests::props::{op, run, runtime, Op};
use crate::protocol::edge::tests::{def, sample, CAM_CONFIG};
use crate::protocol::edge::{EdgeConfig, EdgeEvent, FunctionalItem, GatewayRuntime};
use crate::server::twin::{HttpAnswer, HubConfig, TwinConfig, TwinFaults, TwinHub};
use crate::time::Span;

/// The gateway's number in the oracle.
const GW: u64 = 7;
/// The sample's edge thing.
const CAM: &str = "org.acme:gw-1:da:device:ZigBee:cam1";

/// A [`Loop`] whose observations go to an [`Oracle`].
struct Judge {
    l: Loop,
    oracle: Oracle,
    /// Whether twin events are fed (a driver that cannot see them).
    events: bool,
    /// How far each log is fed: client events, twin events, deliveries, syncs.
    fed: [usize; 4],
}

impl Judge {
    fn new(rt: GatewayRuntime, fault: Option<&str>, config: EdgeConfig, seed: u64) -> Judge {
        let mut l = Loop::new(rt, config, seed);
        let faults = fault.map_or_else(TwinFaults::default, |name| {
            TwinFaults::from_name(name).expect("a twin fault")
        });
        let config = TwinConfig {
            faults,
            ..TwinConfig::default()
        };
        l.hub = TwinHub::new(config, HubConfig::default());
        l.record = Some(Record::default());
        let config = OracleConfig {
            polling_jitter: 0.0,
            url_epoch_s: 0,
        };
        let mut oracle = Oracle::new(config, 0);
        oracle.twin_gateway(GW, "gw-1", l.client.runtime());
        oracle.twin_check_every_sync(true);
        Judge {
            l,
            oracle,
            events: true,
            fed: [0; 4],
        }
    }

    /// The sample gateway, connected and synced.
    fn connected(fault: Option<&str>, seed: u64) -> Judge {
        let mut j = Judge::new(sample(), fault, EdgeConfig::default(), seed);
        j.session(true);
        j.settle();
        j
    }

    /// Twin events and deliveries logged before client event `upto`.
    fn feed_side(&mut self, upto: usize) {
        let (l, o) = (&self.l, &mut self.oracle);
        let r = l.record.as_ref().expect("recording");
        while let Some((_, e)) = r.twin_log.get(self.fed[1]).filter(|(at, _)| *at <= upto) {
            if self.events {
                o.twin_event(l.now, e);
            }
            self.fed[1] += 1;
        }
        let delivered = |i: usize| r.delivered_log.get(i).filter(|(at, _)| *at <= upto);
        while let Some((_, m)) = delivered(self.fed[2]) {
            o.twin_message_delivered(GW, m);
            self.fed[2] += 1;
        }
    }

    /// Feeds everything logged so far, in the order it happened.
    fn feed(&mut self) {
        while self.fed[0] < self.l.events.len() {
            let i = self.fed[0];
            self.feed_side(i);
            let event = self.l.events[i].clone();
            self.oracle.twin_client_event(GW, self.l.now, &event);
            self.fed[0] += 1;
            if matches!(event, EdgeEvent::TwinSynced { .. }) {
                let (l, o) = (&self.l, &mut self.oracle);
                let r = l.record.as_ref().expect("recording");
                let (_, rt, things) = &r.synced_log[self.fed[3]];
                o.twin_synced(GW, l.now, rt, things);
                self.fed[3] += 1;
            }
        }
        self.feed_side(self.l.events.len());
    }

    fn session(&mut self, up: bool) {
        self.l.session(up);
        self.feed();
    }

    fn tick(&mut self) {
        self.l.tick();
        self.feed();
    }

    fn settle(&mut self) {
        self.l.settle(Span::secs(120));
        self.feed();
    }

    fn change(&mut self, f: impl FnOnce(&mut GatewayRuntime)) {
        self.l.change(f);
        self.feed();
    }

    fn set(&mut self, value: &str) {
        self.change(|rt| {
            rt.set_property(CAM_CONFIG, "resolution", json!(value))
                .expect("set");
        });
    }

    fn url(thing: &str, path: &[&str]) -> String {
        let mut url = format!("http://twin/api/2/things/{}", percent_encode(thing));
        for segment in path {
            url.push('/');
            url.push_str(&percent_encode(segment));
        }
        url
    }

    /// A backend's twin-side `PUT` (`Some`) or `DELETE` (`None`), told to the oracle.
    fn write(&mut self, thing: &str, path: &[&str], value: Option<Value>) {
        let method = if value.is_some() {
            Method::Put
        } else {
            Method::Delete
        };
        let mut req = Request::new(method, Judge::url(thing, path));
        if let Some(v) = &value {
            req.headers.insert("content-type", "application/json");
            req.body = Body::Bytes(v.to_string().into_bytes().into());
        }
        let answer = self.l.http(&req);
        if let Some(HttpAnswer::Ready(r)) = answer {
            if (200..300).contains(&r.status) {
                let pointer = Pointer::from_segments(path.iter().copied());
                self.oracle
                    .twin_written(GW, thing, &pointer, value.as_ref());
            }
        }
    }

    /// A backend's `$set.configuration/<property>` post, told to the oracle.
    fn post(&mut self, thing: &str, feature: &str, property: &str, value: Value) {
        let subject = format!("$set.configuration/{property}");
        let mut path = vec!["features", feature, "inbox", "messages"];
        path.extend(subject.split('/'));
        let mut req = Request::new(Method::Post, Judge::url(thing, &path));
        req.headers.insert("content-type", "application/json");
        let body = json!({ "new_value": value });
        req.body = Body::Bytes(body.to_string().into_bytes().into());
        if let Some(HttpAnswer::Pending(_)) = self.l.http(&req) {
            self.oracle
                .twin_command_posted(GW, thing, feature, property, &value);
        }
    }

    fn fired(&self) -> Vec<&'static str> {
        self.oracle.counts().keys().map(|id| id.as_str()).collect()
    }
}

/// The steps of each broken-mode test, against `fault` (or a correct twin).
fn lost_noop(fault: Option<&str>) -> Judge {
    let mut j = Judge::connected(fault, 1);
    j.session(false);
    j.set("1080p");
    j.set("720p");
    j.session(true);
    j.settle();
    j
}

fn lost_change(fault: Option<&str>, events: bool) -> Judge {
    let mut j = Judge::new(sample(), fault, EdgeConfig::default(), 2);
    j.events = events;
    j.session(true);
    j.settle();
    j.session(false);
    j.set("1080p");
    j.change(|rt| {
        rt.set_property("da:item:Cameras:1:Status", "recording", json!(true))
            .expect("set");
    });
    j.session(true);
    j.settle();
    j
}

fn reordered(fault: Option<&str>) -> Judge {
    let mut j = Judge::connected(fault, 3);
    for value in ["a", "b", "c"] {
        j.set(value);
    }
    j.settle();
    j
}

fn doubled(fault: Option<&str>) -> Judge {
    let mut j = Judge::connected(fault, 4);
    j.set("4k");
    j.settle();
    j
}

fn encoded(fault: Option<&str>) -> Judge {
    let mut rt = GatewayRuntime::new("org.acme", "gw 1").expect("runtime");
    let device = FunctionalItem::new("cam/1", def("a:Camera:1")).named("cam");
    let config = FunctionalItem::new("da:item:Cameras:1:Configuration", def("a:Config:1"))
        .writable("resolution", json!("720p"));
    rt.add_edge_device(device, vec![config]).expect("device");
    let mut j = Judge::new(rt, fault, EdgeConfig::default(), 5);
    j.session(true);
    j.settle();
    j.change(|rt| {
        rt.set_property(
            "da:item:Cameras:1:Configuration",
            "resolution",
            json!("1080p"),
        )
        .expect("set");
    });
    j.settle();
    j
}

fn colon(fault: Option<&str>) -> Judge {
    let mut j = Judge::connected(fault, 6);
    j.set("1080p");
    j.settle();
    j
}

fn posted(fault: Option<&str>) -> Judge {
    let mut j = Judge::connected(fault, 7);
    j.post(CAM, "Configuration", "resolution", json!("4k"));
    j.settle();
    j
}

fn written(fault: Option<&str>) -> Judge {
    let mut j = Judge::connected(fault, 8);
    let path = [
        "features",
        "Configuration",
        "properties",
        "configuration",
        "resolution",
    ];
    j.write(CAM, &path, Some(json!("8k")));
    j.settle();
    j.set("1080p");
    j.settle();
    j
}

#[test]
fn a_dropped_noop_replay_fires_twin_lost_only() {
    assert_eq!(lost_noop(Some("twin_drop_change")).fired(), ["TWIN-LOST"]);
    assert!(lost_noop(None).fired().is_empty());
}

#[test]
fn a_dropped_replayed_change_is_lost_and_the_twin_does_not_converge() {
    let j = lost_change(Some("twin_drop_change"), true);
    assert_eq!(j.fired(), ["TWIN-CONVERGE", "TWIN-LOST"]);
    let v = &j.oracle.violations()[0];
    assert_eq!((v.device, v.controller_id.as_str()), (GW, "gw-1"));
    // A driver that cannot see the twin's events still sees the divergence.
    let blind = lost_change(Some("twin_drop_change"), false);
    assert_eq!(blind.fired(), ["TWIN-CONVERGE"]);
    let message = &blind.oracle.violations()[0].message;
    assert!(
        message.contains("/features/Configuration/properties/configuration/resolution"),
        "{message}"
    );
    assert!(lost_change(None, true).fired().is_empty());
    assert!(lost_change(None, false).fired().is_empty());
}

#[test]
fn a_reordered_change_fires_twin_order() {
    let j = reordered(Some("twin_reorder_change"));
    assert_eq!(j.fired(), ["TWIN-ORDER"], "{:?}", j.oracle.violations());
    assert!(reordered(None).fired().is_empty());
}

#[test]
fn a_change_applied_twice_fires_twin_dup() {
    assert_eq!(doubled(Some("twin_apply_twice")).fired(), ["TWIN-DUP"]);
    assert!(doubled(None).fired().is_empty());
}

#[test]
fn mis_encoded_thing_ids_fire_twin_id() {
    let j = colon(Some("twin_encode_colon"));
    assert_eq!(j.fired(), ["TWIN-ID"], "{:?}", j.oracle.violations());
    assert!(j.oracle.violations()[0]
        .message
        .contains("gw-1%3Ada%3Adevice"));
    assert!(colon(None).fired().is_empty());
    let j = encoded(Some("twin_lose_percent_encoding"));
    assert_eq!(j.fired(), ["TWIN-ID"], "{:?}", j.oracle.violations());
    assert!(encoded(None).fired().is_empty());
}

#[test]
fn a_message_delivered_twice_fires_twin_once() {
    let j = posted(Some("twin_deliver_messages_twice"));
    assert_eq!(j.fired(), ["TWIN-ONCE"], "{:?}", j.oracle.violations());
    let j = posted(None);
    assert!(j.fired().is_empty());
    let applied =
        j.l.count(|e| matches!(e, EdgeEvent::MessageApplied { status: 204, .. }));
    assert_eq!(applied, 1);
}

#[test]
fn a_twin_side_write_pushed_to_the_device_fires_twin_nopush() {
    let j = written(Some("twin_push_writes"));
    assert_eq!(j.fired(), ["TWIN-NOPUSH"], "{:?}", j.oracle.violations());
    // Correct twin: the write stays twin-side (excused) until the device's
    // own change overwrites it.
    let j = written(None);
    assert!(j.fired().is_empty(), "{:?}", j.oracle.violations());
    assert_eq!(j.l.things(), j.l.expected());
}

#[test]
fn twin_side_deletes_are_excused_until_the_gateway_recreates() {
    let mut j = Judge::connected(None, 9);
    j.write(CAM, &["features", "Configuration"], None);
    j.write(
        "org.acme:gw-1",
        &["features", "System", "properties", "configuration", "extra"],
        Some(json!(1)),
    );
    j.set("1080p");
    j.settle();
    j.write(CAM, &[], None);
    j.set("4k");
    j.settle();
    assert_eq!(j.l.client.stats().recreated, 2);
    assert!(j.fired().is_empty(), "{:?}", j.oracle.violations());
}

/// One step of a gateway's life against a correct twin.
#[derive(Clone, Debug)]
enum Act {
    Change(Box<Op>),
    Wait(u8),
    Flap,
    Unavailable(u8),
    /// A backend posts `$set.configuration` to the `pick`th feature.
    Post {
        pick: usize,
        key: usize,
        value: i64,
    },
    /// A backend writes a configuration property twin-side.
    Put {
        pick: usize,
        key: usize,
        value: i64,
    },
    /// A backend deletes a feature twin-side.
    Delete {
        pick: usize,
    },
}

fn act() -> impl Strategy<Value = Act> {
    let target = (any::<usize>(), 0..4usize, 0..3i64);
    prop_oneof![
        6 => op().prop_map(|op| Act::Change(Box::new(op))),
        3 => (1..30u8).prop_map(Act::Wait),
        2 => Just(Act::Flap),
        1 => (1..3u8).prop_map(Act::Unavailable),
        2 => target.clone().prop_map(|(pick, key, value)| Act::Post { pick, key, value }),
        1 => target.prop_map(|(pick, key, value)| Act::Put { pick, key, value }),
        1 => any::<usize>().prop_map(|pick| Act::Delete { pick }),
    ]
}

const KEYS: [&str; 4] = ["w1", "w2", "name", "r1"];

/// The `pick`th (thing ID, feature ID) of the runtime's mapping.
fn target(j: &Judge, pick: usize) -> Option<(String, String)> {
    let all = features(j.l.client.runtime());
    (!all.is_empty()).then(|| {
        let (thing, feature, _) = &all[pick % all.len()];
        (thing.clone(), feature.clone())
    })
}

fn play(j: &mut Judge, act: &Act) {
    match act {
        Act::Change(op) => j.change(|rt| run(rt, op)),
        Act::Wait(ticks) => (0..*ticks).for_each(|_| j.tick()),
        Act::Flap => j.session(!j.l.up),
        Act::Unavailable(n) => j.l.unavailable += u32::from(*n),
        Act::Post { pick, key, value } => {
            if let Some((thing, feature)) = target(j, *pick) {
                let key = KEYS[key % KEYS.len()];
                let value = if key == "name" {
                    json!(format!("n{value}"))
                } else {
                    json!(value)
                };
                j.post(&thing, &feature, key, value);
            }
        }
        Act::Put { pick, key, value } => {
            if let Some((thing, feature)) = target(j, *pick) {
                let key = KEYS[key % KEYS.len()];
                let path = ["features", &feature, "properties", "configuration", key];
                j.write(&thing, &path, Some(json!(value)));
            }
        }
        Act::Delete { pick } => {
            if let Some((thing, feature)) = target(j, *pick) {
                j.write(&thing, &["features", &feature], None);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_correct_twin_fires_no_twin_invariant(
        start in runtime(),
        acts in prop::collection::vec(act(), 0..40),
        capacity in 2..12usize,
        window in 1..8usize,
        seed in any::<u64>(),
    ) {
        let config = EdgeConfig {
            window,
            buffer_capacity: capacity,
            response_timeout: Span::secs(2),
            backoff_base: Span::millis(200),
            backoff_cap: Span::secs(2),
            ..EdgeConfig::default()
        };
        let mut j = Judge::new(start, None, config, seed);
        j.session(true);
        for act in &acts {
            play(&mut j, act);
        }
        j.session(true);
        j.settle();
        prop_assert!(j.l.client.is_ready());
        prop_assert!(j.fired().is_empty(), "{:?}", j.oracle.violations());
        let synced = j.l.count(|e| matches!(e, EdgeEvent::TwinSynced { .. }));
        prop_assert!(synced >= 1 && j.fed[3] == synced);
    }
}
