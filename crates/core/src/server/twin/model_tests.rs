//! Property tests of the twin against a model: random property and
//! feature commands give the statuses ditto.md §1 prescribes, one revision
//! and one event per change, and the events alone rebuild the same twin.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::ditto::protocol::EventAction;

const ID: &str = "org.acme:gw1:dev7";

#[derive(Clone, Debug)]
enum Op {
    SetProp(&'static str, &'static str, i64),
    DeleteProp(&'static str, &'static str),
    SetFeature(&'static str, BTreeMap<&'static str, i64>),
    DeleteFeature(&'static str),
}

fn op() -> impl Strategy<Value = Op> {
    let feature = prop::sample::select(vec!["Cam", "Lamp", "Door 1"]);
    let key = prop::sample::select(vec!["on", "level", "name"]);
    prop_oneof![
        (feature.clone(), key.clone(), any::<i64>()).prop_map(|(f, k, v)| Op::SetProp(f, k, v)),
        (feature.clone(), key.clone()).prop_map(|(f, k)| Op::DeleteProp(f, k)),
        (
            feature.clone(),
            prop::collection::btree_map(key, any::<i64>(), 0..3)
        )
            .prop_map(|(f, p)| Op::SetFeature(f, p)),
        feature.prop_map(Op::DeleteFeature),
    ]
}

type Model = BTreeMap<String, BTreeMap<String, i64>>;

/// The command of `op` and the status the model expects.
fn command(op: &Op, model: &mut Model) -> (CommandAction, String, Option<Value>, u16) {
    match op {
        Op::SetProp(f, k, v) => {
            let path = format!("/features/{f}/properties/{k}");
            let status = match model.get_mut(*f) {
                None => 404,
                Some(props) => match props.insert(k.to_string(), *v) {
                    Some(_) => 204,
                    None => 201,
                },
            };
            (CommandAction::Modify, path, Some(json!(v)), status)
        }
        Op::DeleteProp(f, k) => {
            let path = format!("/features/{f}/properties/{k}");
            let status = match model.get_mut(*f).map(|p| p.remove(*k)) {
                Some(Some(_)) => 204,
                _ => 404,
            };
            (CommandAction::Delete, path, None, status)
        }
        Op::SetFeature(f, props) => {
            let props: BTreeMap<String, i64> =
                props.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            let value = json!({"properties": props});
            let status = match model.insert(f.to_string(), props) {
                Some(_) => 204,
                None => 201,
            };
            (
                CommandAction::Modify,
                format!("/features/{f}"),
                Some(value),
                status,
            )
        }
        Op::DeleteFeature(f) => {
            let status = if model.remove(*f).is_some() { 204 } else { 404 };
            (
                CommandAction::Delete,
                format!("/features/{f}"),
                None,
                status,
            )
        }
    }
}

fn send(tw: &mut TwinService, env: &Envelope) -> Vec<TwinOutput> {
    tw.handle_envelope(Time(1), env);
    std::iter::from_fn(|| tw.poll_output()).collect()
}

/// The command that redoes what `event` says happened.
fn redo(event: &Envelope) -> Envelope {
    let Criterion::Events(action) = event.topic.criterion else {
        panic!("not an event: {event:?}")
    };
    let action = match action {
        EventAction::Deleted => CommandAction::Delete,
        _ => CommandAction::Modify,
    };
    Envelope::twin_command(ID, action, event.path.clone(), event.value.clone(), "redo")
}

proptest! {
    #[test]
    fn twin_follows_the_model_and_events_rebuild_it(ops in prop::collection::vec(op(), 0..40)) {
        let mut tw = TwinService::new(TwinConfig::default());
        let mut replica = TwinService::new(TwinConfig::default());
        let create = Envelope::twin_command(ID, CommandAction::Modify, Pointer::root(), Some(json!({})), "c0");
        send(&mut tw, &create);
        send(&mut replica, &create);
        let mut model = Model::new();
        let mut changes = 0u64;
        for (i, op) in ops.iter().enumerate() {
            let (action, path, value, expected) = command(op, &mut model);
            let env = Envelope::twin_command(ID, action, Pointer::parse(&path).unwrap(), value, &format!("c{i}"));
            let out = send(&mut tw, &env);
            let response = out.iter().find_map(|o| match o {
                TwinOutput::Response(r) => Some(r.clone()),
                _ => None,
            }).unwrap();
            prop_assert_eq!(response.status, Some(expected), "{:?}", op);
            let correlation = format!("c{i}");
            prop_assert_eq!(response.correlation_id(), Some(correlation.as_str()));
            let events: Vec<&Envelope> = out.iter().filter_map(|o| match o {
                TwinOutput::Event(e) => Some(e),
                _ => None,
            }).collect();
            prop_assert_eq!(events.len(), usize::from(expected < 300));
            for event in events {
                changes += 1;
                prop_assert_eq!(event.revision, Some(1 + changes));
                send(&mut replica, &redo(event));
            }
        }
        let thing = tw.thing(ID).unwrap();
        prop_assert_eq!(thing.revision, 1 + changes);
        let features = thing.json.get("features").cloned().unwrap_or(json!({}));
        prop_assert_eq!(features, json!(model.iter().map(|(f, p)| (f.clone(), json!({"properties": p})))
            .collect::<serde_json::Map<_, _>>()));
        prop_assert_eq!(&replica.thing(ID).unwrap().json, &thing.json);
        prop_assert_eq!(replica.thing(ID).unwrap().revision, thing.revision);
    }
}
