//! Property tests across model, mapping, diff and buffer: runtimes are built
//! from small alphabets so that short names collide, IDs need encoding and
//! random walks touch the same FIs and properties again and again.

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::json;

use super::super::buffer::Buffer;
use super::super::change::{
    apply, diff, diff_scoped, diff_twins, initial_sync, twin, Change, Twin,
};
use super::super::command::apply_command;
use super::super::envelope::{from_envelope, to_envelope};
use super::super::mapping::{feature_json, locate, map_runtime, Scope, DEVICE_INFO};
use super::super::model::{short_interface_name, FunctionalItem, GatewayRuntime};
use super::super::sync::TwinSync;
use super::def;
use crate::ditto::id::{check_encoded, check_feature_id, check_thing_id, decode};
use crate::ditto::protocol::Envelope;

const PREFIXES: [&str; 4] = ["da:item:A:1", "da:item:B:2", "x", "gw"];
const SHORTS: [&str; 9] = [
    "Config",
    "Config_2",
    "DeviceInfo",
    "a b",
    "50%",
    "q\"t",
    "s/l",
    "Status",
    "*",
];
const DEVICES: [&str; 5] = ["dev:1", "dev/2", "dev 3", "dev%4", "da:device:5"];
const WRITABLE: [&str; 2] = ["w1", "w2"];
const READ_ONLY: [&str; 2] = ["r1", "r2"];

fn uid() -> impl Strategy<Value = String> {
    (
        prop::sample::select(&PREFIXES[..]),
        prop::sample::select(&SHORTS[..]),
    )
        .prop_map(|(p, s)| format!("{p}:{s}"))
}

fn fi() -> impl Strategy<Value = FunctionalItem> {
    let keys = |names: &'static [&'static str]| {
        prop::collection::btree_map(prop::sample::select(names), 0..3i64, 0..3)
    };
    let defs = prop::sample::select(vec!["a:T:1", "a:U:1", "b.c:T:2.0"]);
    let tags = prop::collection::btree_set(prop::sample::select(vec!["t1", "t2"]), 0..2);
    (
        uid(),
        defs,
        prop::sample::select(vec!["", "n1", "n2"]),
        tags,
        keys(&WRITABLE),
        keys(&READ_ONLY),
        0..2i64,
    )
        .prop_map(|(uid, d, name, tags, w, r, attr)| {
            let mut fi = FunctionalItem::new(uid, def(d))
                .named(name)
                .attribute("a", json!(attr));
            fi.tags = tags.into_iter().map(str::to_string).collect();
            fi.writable = w
                .into_iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            fi.read_only = r
                .into_iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            fi
        })
}

fn device() -> impl Strategy<Value = (FunctionalItem, Vec<FunctionalItem>)> {
    (
        prop::sample::select(&DEVICES[..]),
        fi(),
        prop::collection::vec(fi(), 0..4),
    )
        .prop_map(|(uid, mut info, items)| {
            info.uid = uid.to_string();
            (info, items)
        })
}

/// A runtime from generated parts; refused adds (duplicate UIDs) are skipped.
pub(crate) fn runtime() -> impl Strategy<Value = GatewayRuntime> {
    let serials = prop::sample::select(vec!["gw-1", "gw /1", "50%\"", "g#?*,"]);
    (
        serials,
        prop::collection::vec(fi(), 0..4),
        prop::collection::vec(device(), 0..3),
    )
        .prop_map(|(serial, items, devices)| {
            let mut rt = GatewayRuntime::new("org.acme", serial).expect("valid runtime");
            for fi in items {
                let _ = rt.add_gateway_item(fi);
            }
            for (info, items) in devices {
                let _ = rt.add_edge_device(info, items);
            }
            rt
        })
}

/// One thing that happens to a gateway; `pick`s choose among the UIDs present.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Set {
        pick: usize,
        key: &'static str,
        value: i64,
    },
    Command {
        pick: usize,
        key: &'static str,
        value: i64,
    },
    AddGatewayItem(FunctionalItem),
    AddDeviceItem {
        pick: usize,
        fi: FunctionalItem,
    },
    AddDevice(FunctionalItem, Vec<FunctionalItem>),
    RemoveItem {
        pick: usize,
    },
    RemoveDevice {
        pick: usize,
    },
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
    let keys = prop::sample::select(vec!["w1", "w2", "r1", "r2", "name"]);
    prop_oneof![
        4 => (any::<usize>(), keys.clone(), 0..4i64).prop_map(|(pick, key, value)| Op::Set { pick, key, value }),
        2 => (any::<usize>(), keys, 0..4i64).prop_map(|(pick, key, value)| Op::Command { pick, key, value }),
        1 => fi().prop_map(Op::AddGatewayItem),
        1 => (any::<usize>(), fi()).prop_map(|(pick, fi)| Op::AddDeviceItem { pick, fi }),
        1 => device().prop_map(|(info, items)| Op::AddDevice(info, items)),
        1 => any::<usize>().prop_map(|pick| Op::RemoveItem { pick }),
        1 => any::<usize>().prop_map(|pick| Op::RemoveDevice { pick }),
    ]
}

fn all_uids(rt: &GatewayRuntime) -> Vec<String> {
    let devices = rt
        .devices()
        .values()
        .flat_map(|d| std::iter::once(&d.info.uid).chain(d.items.keys()));
    rt.gateway_items().keys().chain(devices).cloned().collect()
}

fn pick<T: Clone>(items: &[T], pick: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[pick % items.len()].clone())
}

/// Applies an op; refusals (the model's or the command's) leave `rt` as it was.
pub(crate) fn run(rt: &mut GatewayRuntime, op: &Op) {
    let uids = all_uids(rt);
    let devices: Vec<String> = rt.devices().keys().cloned().collect();
    match op.clone() {
        Op::Set {
            pick: p,
            key,
            value,
        } => {
            if let Some(uid) = pick(&uids, p) {
                let _ = rt.set_property(&uid, key, json!(value));
            }
        }
        Op::Command {
            pick: p,
            key,
            value,
        } => {
            if let Some(uid) = pick(&uids, p) {
                let value = if key == "name" {
                    json!(format!("n{value}"))
                } else {
                    json!(value)
                };
                let _ = apply_command(
                    rt,
                    &uid,
                    &format!("$set.configuration/{key}"),
                    &json!({"new_value": value}),
                );
            }
        }
        Op::AddGatewayItem(fi) => drop(rt.add_gateway_item(fi)),
        Op::AddDeviceItem { pick: p, fi } => {
            if let Some(device) = pick(&devices, p) {
                let _ = rt.add_device_item(&device, fi);
            }
        }
        Op::AddDevice(info, items) => drop(rt.add_edge_device(info, items)),
        Op::RemoveItem { pick: p } => {
            if let Some(uid) = pick(&uids, p) {
                let _ = rt.remove_item(&uid);
            }
        }
        Op::RemoveDevice { pick: p } => {
            if let Some(device) = pick(&devices, p) {
                let _ = rt.remove_edge_device(&device);
            }
        }
    }
}

/// Applies changes as Ditto would, ignoring refusals (Ditto answers 404 and
/// changes nothing).
fn applied(mut base: Twin, changes: &[Change]) -> Twin {
    for change in changes {
        let _ = apply(&mut base, change);
    }
    base
}

fn is_subsequence(sub: &[Change], of: &[Change]) -> bool {
    let mut rest = of.iter();
    sub.iter().all(|c| rest.any(|o| o == c))
}

/// One step of a gateway's life on `rt` and its `sync`: what it sends.
pub(super) fn play(rt: &mut GatewayRuntime, sync: &mut TwinSync, step: &Step) -> Vec<Change> {
    match step {
        Step::Change(op) => {
            let before = rt.clone();
            run(rt, op);
            sync.changed(diff(&before, rt))
        }
        Step::Connect if !sync.is_online() => sync.connect(rt),
        Step::Connect => Vec::new(),
        Step::Disconnect => {
            sync.disconnect();
            Vec::new()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_fi_is_exactly_one_feature(rt in runtime()) {
        let mut mapped = Vec::new();
        for thing in map_runtime(&rt) {
            let features = thing.json["features"].as_object().expect("features object");
            prop_assert_eq!(features.len(), thing.features.len());
            for (fid, uid) in &thing.features {
                let fi = rt.item(uid).expect("mapped FI exists");
                prop_assert_eq!(&features[fid], &feature_json(fi));
                mapped.push(uid.clone());
            }
        }
        let mut want = all_uids(&rt);
        want.sort();
        mapped.sort();
        prop_assert_eq!(mapped, want);
    }

    #[test]
    fn ids_are_valid_encoded_and_unique(rt in runtime()) {
        let things = map_runtime(&rt);
        let ids: BTreeSet<&str> = things.iter().map(|t| t.thing_id.as_str()).collect();
        prop_assert_eq!(ids.len(), things.len());
        for thing in &things {
            let (_, name) = check_thing_id(&thing.thing_id).expect("valid thing ID");
            prop_assert!(check_encoded(name).is_ok(), "{}", name);
            for (fid, uid) in &thing.features {
                prop_assert!(check_feature_id(fid).is_ok() && check_encoded(fid).is_ok(), "{}", fid);
                let raw = decode(fid).expect("decodes");
                if Some(uid) == thing.device_uid.as_ref() {
                    prop_assert_eq!(fid.as_str(), DEVICE_INFO);
                    continue;
                }
                let short = short_interface_name(uid);
                let suffix = raw.strip_prefix(short).expect("starts with the short name");
                let numbered = suffix.strip_prefix('_').is_some_and(|n| n.parse::<u64>().is_ok_and(|n| n >= 2));
                prop_assert!(suffix.is_empty() || numbered, "{} for {}", fid, uid);
            }
        }
    }

    #[test]
    fn initial_sync_builds_the_twin(rt in runtime()) {
        prop_assert_eq!(applied(Twin::new(), &initial_sync(&rt)), twin(&rt));
    }

    #[test]
    fn diff_turns_one_twin_into_the_other(before in runtime(), ops in prop::collection::vec(op(), 0..8), other in runtime()) {
        let mut after = before.clone();
        for op in &ops {
            run(&mut after, op);
        }
        let changes = diff(&before, &after);
        let mut tw = twin(&before);
        for change in &changes {
            prop_assert!(apply(&mut tw, change).is_ok(), "{:?}", change);
        }
        prop_assert_eq!(tw, twin(&after));
        prop_assert!(diff(&after, &after).is_empty());
        for change in &changes {
            let text = to_envelope(change, "c").to_json();
            let back = Envelope::parse(text.as_bytes()).expect("an envelope parses");
            prop_assert_eq!(from_envelope(&back), Ok(change.clone()), "{}", text);
        }
        // Unrelated runtimes too (other serials: whole things come and go).
        prop_assert_eq!(applied(twin(&before), &diff(&before, &other)), twin(&other));
    }

    #[test]
    fn the_buffer_keeps_order_and_counts(start in runtime(), ops in prop::collection::vec(op(), 0..24), cap in 1usize..12) {
        let mut rt = start.clone();
        let (mut buffer, mut pushed) = (Buffer::new(cap), Vec::new());
        for op in &ops {
            let before = rt.clone();
            run(&mut rt, op);
            for change in diff(&before, &rt) {
                pushed.push(change.clone());
                buffer.push(change);
                let stats = buffer.stats();
                prop_assert!(buffer.len() <= cap);
                prop_assert_eq!(stats.pushed, stats.coalesced + stats.dropped + stats.drained + buffer.len() as u64);
            }
        }
        let drained = buffer.drain();
        let stats = buffer.stats();
        prop_assert_eq!(stats.pushed, pushed.len() as u64);
        prop_assert_eq!(stats.pushed, stats.coalesced + stats.dropped + stats.drained);
        prop_assert_eq!(drained.resync, stats.dropped > 0);
        prop_assert!(is_subsequence(&drained.changes, &pushed), "drained out of push order");
        // Replay (plus the documented resync after drops) brings the twin up to date.
        let mut tw = applied(twin(&start), &drained.changes);
        if drained.resync {
            let fix = diff_twins(&tw, &twin(&rt));
            tw = applied(tw, &fix);
        } else {
            prop_assert_eq!(&tw, &applied(twin(&start), &pushed), "coalescing changed the outcome");
        }
        prop_assert_eq!(tw, twin(&rt));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn scoped_diffs_add_up_to_the_whole_diff(before in runtime(), ops in prop::collection::vec(op(), 0..6)) {
        let mut after = before.clone();
        for op in &ops {
            run(&mut after, op);
        }
        let devices: BTreeSet<&String> = before.devices().keys().chain(after.devices().keys()).collect();
        let scopes = std::iter::once(Scope::Gateway).chain(devices.into_iter().map(|d| Scope::Device(d.clone())));
        let mut scoped: Vec<Change> = scopes.flat_map(|s| diff_scoped(&before, &after, &s)).collect();
        scoped.sort_by(|a, b| a.thing_id().cmp(b.thing_id()));
        prop_assert_eq!(scoped, diff(&before, &after));
    }

    #[test]
    fn locate_finds_every_feature_and_scope_every_fi(rt in runtime()) {
        for thing in map_runtime(&rt) {
            for (fid, uid) in &thing.features {
                prop_assert_eq!(locate(&rt, &thing.thing_id, fid), Some(uid.clone()));
                let scope = Scope::of(&rt, uid).expect("a scope");
                prop_assert_eq!(scope.thing_id(&rt), thing.thing_id.clone());
                prop_assert_eq!(Scope::find(&rt, &thing.thing_id), Some(scope));
            }
        }
    }
}

/// A step of a gateway's life: a runtime change or a link change.
#[derive(Clone, Debug)]
pub(super) enum Step {
    Change(Box<Op>),
    Connect,
    Disconnect,
}

pub(super) fn step() -> impl Strategy<Value = Step> {
    prop_oneof![6 => op().prop_map(|op| Step::Change(Box::new(op))), 1 => Just(Step::Connect), 1 => Just(Step::Disconnect)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_twin_is_true_after_the_last_connect(start in runtime(), steps in prop::collection::vec(step(), 0..40), cap in 1usize..10) {
        let (mut rt, mut sync, mut service) = (start, TwinSync::new(cap), Twin::new());
        for step in &steps {
            let out = play(&mut rt, &mut sync, step);
            for change in &out {
                prop_assert!(apply(&mut service, change).is_ok(), "refused: {:?}", change);
            }
            prop_assert_eq!(&service, sync.service_view());
            if sync.is_online() {
                prop_assert_eq!(&service, &twin(&rt), "connected, the twin follows at once");
            }
        }
        if !sync.is_online() {
            for change in sync.connect(&rt) {
                prop_assert!(apply(&mut service, &change).is_ok(), "refused: {:?}", change);
            }
        }
        prop_assert_eq!(service, twin(&rt));
        let stats = sync.stats();
        prop_assert_eq!(stats.buffer.pushed, stats.buffer.coalesced + stats.buffer.dropped + stats.buffer.drained);
        prop_assert!(stats.resyncs <= stats.connects);
    }
}
