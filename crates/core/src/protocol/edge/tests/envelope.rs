//! Changes as Ditto Protocol envelopes, and inbound live messages.

use serde_json::json;

use super::super::change::{diff, Change, PropertyGroup};
use super::super::envelope::{from_envelope, handle_message, to_envelope, NotAChange};
use super::super::model::{FunctionalItem, GatewayRuntime};
use super::{def, sample, CAM, CAM_CONFIG};
use crate::ditto::protocol::{DittoHeaders, Envelope};

const EDGE: &str = "org.acme:gw-1:da:device:ZigBee:cam1";

fn set_message(
    thing: &str,
    feature: Option<&str>,
    subject: &str,
    value: serde_json::Value,
) -> Envelope {
    let headers = DittoHeaders::correlated("m1").with("content-type", "application/json");
    Envelope::live_message(thing, feature, subject, headers, Some(value))
}

#[test]
fn a_property_change_is_a_modify_command_in_the_documented_shape() {
    let before = sample();
    let mut after = before.clone();
    after
        .set_property(CAM_CONFIG, "resolution", json!("1080p"))
        .expect("set");
    let changes = diff(&before, &after);
    let want = json!({
        "topic": "org.acme/gw-1:da:device:ZigBee:cam1/things/twin/commands/modify",
        "headers": {"correlation-id": "c1"},
        "path": "/features/Configuration/properties/configuration/resolution",
        "value": "1080p",
    });
    assert_eq!(to_envelope(&changes[0], "c1").to_value(), want);
}

#[test]
fn deletes_carry_no_value_and_ids_stay_encoded() {
    let mut rt = GatewayRuntime::new("ns", "gw 1").expect("runtime");
    rt.add_edge_device(FunctionalItem::new("dev/1", def("a:b:1")), vec![])
        .expect("device");
    let gone = GatewayRuntime::new("ns", "gw 1").expect("runtime");
    let changes = diff(&rt, &gone);
    let want = json!({
        "topic": "ns/gw%201:dev%2F1/things/twin/commands/delete",
        "headers": {"correlation-id": "c2"},
        "path": "/",
    });
    assert_eq!(to_envelope(&changes[0], "c2").to_value(), want);
}

#[test]
fn every_change_kind_round_trips_through_json_text() {
    let t = || "org.acme:gw-1".to_string();
    let f = || "Con%20fig".to_string();
    let g = PropertyGroup::Attributes;
    let changes = [
        Change::ModifyThing {
            thing_id: t(),
            thing: json!({"thingId": t()}),
        },
        Change::DeleteThing { thing_id: t() },
        Change::ModifyFeature {
            thing_id: t(),
            feature_id: f(),
            feature: json!({}),
        },
        Change::DeleteFeature {
            thing_id: t(),
            feature_id: f(),
        },
        Change::ModifyFeatureProperties {
            thing_id: t(),
            feature_id: f(),
            properties: json!({"status": {}}),
        },
        Change::ModifyFeatureProperty {
            thing_id: t(),
            feature_id: f(),
            group: g,
            key: "k".into(),
            value: json!(null),
        },
        Change::DeleteFeatureProperty {
            thing_id: t(),
            feature_id: f(),
            group: g,
            key: "k".into(),
        },
    ];
    for change in changes {
        let text = to_envelope(&change, "c").to_json();
        let back = Envelope::parse(text.as_bytes()).expect("parses");
        assert_eq!(from_envelope(&back), Ok(change.clone()), "{text}");
    }
}

#[test]
fn other_signals_are_not_changes() {
    let modify = |path: &str, value| {
        let text = json!({"topic": "ns/gw/things/twin/commands/modify", "headers": {}, "path": path, "value": value});
        Envelope::from_value(text).expect("envelope")
    };
    assert_eq!(
        from_envelope(&modify("/attributes", json!({}))),
        Err(NotAChange::Path("/attributes".into()))
    );
    let bad_group = "/features/f/properties/desired/k";
    assert_eq!(
        from_envelope(&modify(bad_group, json!(1))),
        Err(NotAChange::Path(bad_group.into()))
    );
    let no_value =
        json!({"topic": "ns/gw/things/twin/commands/modify", "headers": {}, "path": "/"});
    assert_eq!(
        from_envelope(&Envelope::from_value(no_value).expect("envelope")),
        Err(NotAChange::NoValue)
    );
    let retrieve =
        json!({"topic": "ns/gw/things/twin/commands/retrieve", "headers": {}, "path": "/"});
    assert_eq!(
        from_envelope(&Envelope::from_value(retrieve).expect("envelope")),
        Err(NotAChange::Signal)
    );
    let message = set_message(
        "ns:gw",
        Some("f"),
        "$set.configuration/x",
        json!({"new_value": 1}),
    );
    assert_eq!(from_envelope(&message), Err(NotAChange::Signal));
}

#[test]
fn a_set_configuration_message_changes_the_device_and_is_answered_204() {
    let mut rt = sample();
    let msg = set_message(
        EDGE,
        Some("Configuration"),
        "$set.configuration/resolution",
        json!({"new_value": "4k"}),
    );
    let handled = handle_message(&mut rt, &msg);
    assert!(handled.changed);
    assert_eq!(
        rt.item(CAM_CONFIG).map(|fi| &fi.writable["resolution"]),
        Some(&json!("4k"))
    );
    let reply = handled.reply.to_value();
    assert_eq!(reply["status"], json!(204));
    assert_eq!(reply["topic"], json!("org.acme/gw-1:da:device:ZigBee:cam1/things/live/messages/$set.configuration/resolution"));
    assert_eq!(
        reply["path"],
        json!("/features/Configuration/inbox/messages/$set.configuration/resolution")
    );
    assert_eq!(
        reply["headers"],
        json!({"correlation-id": "m1", "content-type": "application/json"})
    );
    assert!(reply.get("value").is_none());
    // The same again: success, nothing changed.
    assert!(!handle_message(&mut rt, &msg).changed);
    let name = set_message(
        EDGE,
        Some("DeviceInfo"),
        "$set.configuration/name",
        json!({"new_value": "kitchen"}),
    );
    assert!(handle_message(&mut rt, &name).changed);
    assert_eq!(rt.item(CAM).map(|fi| fi.name.as_str()), Some("kitchen"));
}

#[test]
fn refused_messages_are_answered_with_the_typed_error() {
    let mut rt = sample();
    let before = rt.clone();
    let cases = [
        (
            EDGE,
            Some("Configuration"),
            "$set.configuration/maxResolution",
            403,
            "gateway:property.readonly",
        ),
        (
            EDGE,
            Some("Configuration"),
            "$set.configuration/zoom",
            404,
            "gateway:property.notfound",
        ),
        (
            EDGE,
            Some("Nope"),
            "$set.configuration/zoom",
            404,
            "gateway:item.notfound",
        ),
        (
            "org.acme:other",
            Some("Configuration"),
            "$set.configuration/zoom",
            404,
            "gateway:item.notfound",
        ),
        (
            EDGE,
            None,
            "$set.configuration/zoom",
            404,
            "gateway:item.notfound",
        ),
        (
            EDGE,
            Some("Configuration"),
            "reboot",
            404,
            "gateway:operation.notfound",
        ),
    ];
    for (thing, feature, subject, status, code) in cases {
        let handled = handle_message(
            &mut rt,
            &set_message(thing, feature, subject, json!({"new_value": 1})),
        );
        let reply = handled.reply.to_value();
        assert!(!handled.changed);
        assert_eq!(
            (reply["status"].clone(), reply["value"]["error"].clone()),
            (json!(status), json!(code)),
            "{subject}"
        );
        assert_eq!(reply["headers"]["content-type"], json!("application/json"));
    }
    let no_payload = set_message(
        EDGE,
        Some("Configuration"),
        "$set.configuration/resolution",
        json!("x"),
    );
    assert_eq!(handle_message(&mut rt, &no_payload).reply.status, Some(400));
    assert_eq!(rt, before);
}
