//! The twin service applying Ditto Protocol commands (ditto.md §1, §6).

use serde_json::{json, Value};

use super::*;

const GW: &str = "org.acme:gw1";

fn twin() -> TwinService {
    TwinService::new(TwinConfig {
        epoch_ms: 1_796_605_323_000,
        ..TwinConfig::default()
    })
}

fn drain(tw: &mut TwinService) -> Vec<TwinOutput> {
    std::iter::from_fn(|| tw.poll_output()).collect()
}

/// Sends a command `<action>` on `path` with `value`, returns (response, events).
fn cmd(
    tw: &mut TwinService,
    thing: &str,
    action: &str,
    path: &str,
    value: Option<Value>,
) -> (Option<Value>, Vec<Value>) {
    let (ns, name) = thing.split_once(':').unwrap();
    let mut v = json!({"topic": format!("{ns}/{name}/things/twin/commands/{action}"),
                       "headers": {"correlation-id": "c-1"}, "path": path});
    if let Some(value) = value {
        v["value"] = value;
    }
    tw.handle_envelope(Time(5), &Envelope::from_value(v).unwrap());
    let mut response = None;
    let mut events = Vec::new();
    for out in drain(tw) {
        match out {
            TwinOutput::Response(r) => response = Some(r.to_value()),
            TwinOutput::Event(e) => events.push(e.to_value()),
            other => panic!("unexpected {other:?}"),
        }
    }
    (response, events)
}

fn gateway_thing() -> Value {
    json!({"thingId": GW, "attributes": {"thing.type": "Gateway"},
           "features": {"DeviceInfo": {"definition": ["com.bosch:Device:1.0.0"],
                                       "properties": {"status": {"on": true}}}}})
}

fn status(r: &Option<Value>) -> u64 {
    r.as_ref().unwrap()["status"].as_u64().unwrap()
}

#[test]
fn modify_thing_creates_with_201_then_replaces_with_204() {
    let mut tw = twin();
    let (r, ev) = cmd(&mut tw, GW, "modify", "/", Some(gateway_thing()));
    let r = r.unwrap();
    assert_eq!(r["status"], 201);
    assert_eq!(r["topic"], "org.acme/gw1/things/twin/commands/modify");
    assert_eq!(r["path"], "/");
    assert_eq!(r["headers"]["correlation-id"], "c-1");
    assert_eq!(r["value"]["policyId"], GW);
    assert_eq!(
        r["value"]["features"]["DeviceInfo"]["properties"]["status"]["on"],
        true
    );
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["topic"], "org.acme/gw1/things/twin/events/created");
    assert_eq!(ev[0]["revision"], 1);
    assert_eq!(ev[0]["timestamp"], "2026-12-07T01:02:03.005Z");
    assert_eq!(tw.thing(GW).unwrap().revision, 1);

    let (r, ev) = cmd(&mut tw, GW, "modify", "/", Some(gateway_thing()));
    assert_eq!(r.as_ref().unwrap()["status"], 204);
    assert!(r.unwrap().get("value").is_none());
    assert_eq!(ev[0]["topic"], "org.acme/gw1/things/twin/events/modified");
    assert_eq!(ev[0]["revision"], 2);
    assert_eq!(ev[0]["value"]["thingId"], GW);
}

#[test]
fn create_is_201_then_409_conflict_on_the_errors_topic() {
    let mut tw = twin();
    let (r, ev) = cmd(&mut tw, GW, "create", "/", Some(json!({})));
    assert_eq!(status(&r), 201);
    assert_eq!(r.unwrap()["value"]["thingId"], GW);
    assert_eq!(ev[0]["topic"], "org.acme/gw1/things/twin/events/created");
    let (r, ev) = cmd(&mut tw, GW, "create", "/", Some(json!({})));
    let r = r.unwrap();
    assert_eq!(r["topic"], "org.acme/gw1/things/twin/errors");
    assert_eq!(r["path"], "/");
    assert_eq!(r["status"], 409);
    assert_eq!(r["value"]["error"], "things:thing.conflict");
    assert_eq!(r["value"]["status"], 409);
    assert!(r["value"]["message"].is_string());
    assert!(ev.is_empty());
    assert_eq!(tw.thing(GW).unwrap().revision, 1);
}

#[test]
fn thing_id_in_the_value_must_match_the_topic() {
    let mut tw = twin();
    let (r, _) = cmd(
        &mut tw,
        GW,
        "modify",
        "/",
        Some(json!({"thingId": "org.acme:other"})),
    );
    assert_eq!(status(&r), 400);
    assert_eq!(r.unwrap()["value"]["error"], "things:id.notsettable");
    assert!(tw.thing(GW).is_none());
    let (r, _) = cmd(&mut tw, GW, "modify", "/", Some(json!({"attributes": {}})));
    assert_eq!(r.unwrap()["value"]["thingId"], GW);
}

#[test]
fn invalid_thing_ids_are_400() {
    let mut tw = twin();
    for id in ["1bad:gw", "org.acme:gw\u{7F}"] {
        let (r, ev) = cmd(&mut tw, id, "modify", "/", Some(json!({})));
        assert_eq!(status(&r), 400, "{id}");
        assert_eq!(r.unwrap()["value"]["error"], "things:id.invalid");
        assert!(ev.is_empty());
    }
    assert!(tw.store().is_empty());
}

#[test]
fn modify_of_a_part_of_a_missing_thing_is_404_thing_notfound() {
    let mut tw = twin();
    for path in [
        "/features/Cam",
        "/attributes/x",
        "/features/Cam/properties/on",
    ] {
        let (r, _) = cmd(&mut tw, GW, "modify", path, Some(json!(1)));
        assert_eq!(status(&r), 404, "{path}");
        assert_eq!(r.unwrap()["value"]["error"], "things:thing.notfound");
    }
}

#[test]
fn feature_then_properties_then_one_property_201_then_204() {
    let mut tw = twin();
    cmd(&mut tw, GW, "modify", "/", Some(json!({})));
    let feature =
        json!({"definition": ["com.bosch:Camera:1.0.0"], "properties": {"status": {"on": true}}});
    let (r, ev) = cmd(
        &mut tw,
        GW,
        "modify",
        "/features/Cam_1",
        Some(feature.clone()),
    );
    assert_eq!(status(&r), 201);
    assert_eq!(r.unwrap()["value"], feature);
    assert_eq!(ev[0]["topic"], "org.acme/gw1/things/twin/events/created");
    assert_eq!(ev[0]["path"], "/features/Cam_1");
    assert_eq!(ev[0]["revision"], 2);
    let (r, ev) = cmd(&mut tw, GW, "modify", "/features/Cam_1", Some(feature));
    assert_eq!(status(&r), 204);
    assert_eq!(ev[0]["topic"], "org.acme/gw1/things/twin/events/modified");

    let props = json!({"status": {"on": false}});
    let (r, _) = cmd(
        &mut tw,
        GW,
        "modify",
        "/features/Cam_1/properties",
        Some(props),
    );
    assert_eq!(status(&r), 204);
    let (r, ev) = cmd(
        &mut tw,
        GW,
        "modify",
        "/features/Cam_1/properties/status/on",
        Some(json!(true)),
    );
    assert_eq!(status(&r), 204);
    assert_eq!(ev[0]["value"], true);
    let (r, ev) = cmd(
        &mut tw,
        GW,
        "modify",
        "/features/Cam_1/properties/status/zoom",
        Some(json!(2)),
    );
    assert_eq!(status(&r), 201);
    assert_eq!(r.unwrap()["value"], 2);
    assert_eq!(ev[0]["revision"], 6);
    let thing = tw.thing(GW).unwrap();
    assert_eq!(thing.revision, 6);
    assert_eq!(
        thing.json["features"]["Cam_1"]["properties"],
        json!({"status": {"on": true, "zoom": 2}})
    );
}

#[test]
fn property_commands_on_a_missing_feature_are_404_feature_notfound() {
    let mut tw = twin();
    cmd(&mut tw, GW, "modify", "/", Some(json!({})));
    for path in [
        "/features/Cam_1/properties",
        "/features/Cam_1/properties/on",
        "/features/Cam_1/definition",
    ] {
        let (r, ev) = cmd(&mut tw, GW, "modify", path, Some(json!({})));
        assert_eq!(status(&r), 404, "{path}");
        assert_eq!(r.unwrap()["value"]["error"], "things:feature.notfound");
        assert!(ev.is_empty());
    }
    assert_eq!(tw.thing(GW).unwrap().revision, 1);
}

#[test]
fn attributes_and_definitions() {
    let mut tw = twin();
    cmd(&mut tw, GW, "modify", "/", Some(json!({})));
    let (r, _) = cmd(
        &mut tw,
        GW,
        "modify",
        "/attributes/gateway.id",
        Some(json!("gw1")),
    );
    assert_eq!(status(&r), 201);
    let (r, _) = cmd(&mut tw, GW, "modify", "/attributes", Some(json!({"a": 1})));
    assert_eq!(status(&r), 204);
    let (r, _) = cmd(&mut tw, GW, "modify", "/attributes", Some(json!(3)));
    assert_eq!(status(&r), 400);
    let (r, _) = cmd(
        &mut tw,
        GW,
        "modify",
        "/definition",
        Some(json!("org.acme:Gateway:1.0")),
    );
    assert_eq!(status(&r), 201);
    let (r, _) = cmd(
        &mut tw,
        GW,
        "modify",
        "/definition",
        Some(json!("no-colons")),
    );
    assert_eq!(
        r.unwrap()["value"]["error"],
        "things:definition.identifier.invalid"
    );
    cmd(&mut tw, GW, "modify", "/features/F", Some(json!({})));
    for bad in [
        json!([]),
        json!(["a:b"]),
        json!(["a:b:c", "a:b:c"]),
        json!("a:b:c"),
        json!(["a:b c:d"]),
    ] {
        let (r, _) = cmd(
            &mut tw,
            GW,
            "modify",
            "/features/F/definition",
            Some(bad.clone()),
        );
        assert_eq!(status(&r), 400, "{bad}");
        assert_eq!(
            r.unwrap()["value"]["error"],
            "things:feature.definition.identifier.invalid"
        );
    }
    let ok = json!(["a.b:c-d:1.0_x", "https://example.com/m.json"]);
    let (r, _) = cmd(&mut tw, GW, "modify", "/features/F/definition", Some(ok));
    assert_eq!(status(&r), 201);
    let bad_feature = json!({"F2": {"definition": ["x"]}});
    let (r, _) = cmd(&mut tw, GW, "modify", "/features", Some(bad_feature));
    assert_eq!(status(&r), 400);
    assert!(tw.thing(GW).unwrap().json["features"].get("F2").is_none());
}

#[test]
fn invalid_feature_ids_and_keys_are_400_json_key_invalid() {
    let mut tw = twin();
    cmd(&mut tw, GW, "modify", "/", Some(json!({})));
    let (r, _) = cmd(&mut tw, GW, "modify", "/features/*", Some(json!({})));
    assert_eq!(r.unwrap()["value"]["error"], "json.key.invalid");
    let (r, _) = cmd(
        &mut tw,
        GW,
        "modify",
        "/attributes",
        Some(json!({"a\u{1}": 1})),
    );
    assert_eq!(r.unwrap()["value"]["error"], "json.key.invalid");
    let (r, _) = cmd(
        &mut tw,
        GW,
        "modify",
        "/",
        Some(json!({"features": {"*": {}}})),
    );
    assert_eq!(r.unwrap()["value"]["error"], "json.key.invalid");
    let (r, _) = cmd(
        &mut tw,
        GW,
        "modify",
        "/features/F/nothing",
        Some(json!({})),
    );
    assert_eq!(status(&r), 400);
}

#[test]
fn retrieve_is_200_with_the_value_and_404_with_the_part_code() {
    let mut tw = twin();
    cmd(&mut tw, GW, "modify", "/", Some(gateway_thing()));
    let (r, ev) = cmd(
        &mut tw,
        GW,
        "retrieve",
        "/features/DeviceInfo/properties/status",
        None,
    );
    assert!(ev.is_empty());
    let r = r.unwrap();
    assert_eq!(r["status"], 200);
    assert_eq!(r["value"], json!({"on": true}));
    let (r, _) = cmd(&mut tw, GW, "retrieve", "/", None);
    assert_eq!(r.unwrap()["value"]["thingId"], GW);
    for (path, code) in [
        (
            "/features/DeviceInfo/properties/nope",
            "things:feature.property.notfound",
        ),
        ("/features/Nope", "things:feature.notfound"),
        ("/features/Nope/properties", "things:feature.notfound"),
        ("/attributes/nope", "things:attribute.notfound"),
        ("/definition", "things:definition.notfound"),
    ] {
        let (r, _) = cmd(&mut tw, GW, "retrieve", path, None);
        assert_eq!(status(&r), 404, "{path}");
        assert_eq!(r.unwrap()["value"]["error"], code, "{path}");
    }
    let (r, _) = cmd(&mut tw, "org.acme:nope", "retrieve", "/", None);
    assert_eq!(r.unwrap()["value"]["error"], "things:thing.notfound");
}

#[test]
fn delete_parts_and_the_thing() {
    let mut tw = twin();
    cmd(&mut tw, GW, "modify", "/", Some(gateway_thing()));
    let (r, ev) = cmd(
        &mut tw,
        GW,
        "delete",
        "/features/DeviceInfo/properties/status/on",
        None,
    );
    assert_eq!(status(&r), 204);
    assert_eq!(ev[0]["topic"], "org.acme/gw1/things/twin/events/deleted");
    assert!(ev[0].get("value").is_none());
    assert_eq!(ev[0]["revision"], 2);
    let (r, _) = cmd(
        &mut tw,
        GW,
        "delete",
        "/features/DeviceInfo/properties/status/on",
        None,
    );
    assert_eq!(
        r.unwrap()["value"]["error"],
        "things:feature.property.notfound"
    );
    let (r, _) = cmd(&mut tw, GW, "delete", "/features/DeviceInfo", None);
    assert_eq!(status(&r), 204);
    let (r, _) = cmd(&mut tw, GW, "delete", "/features/DeviceInfo", None);
    assert_eq!(r.unwrap()["value"]["error"], "things:feature.notfound");
    let (r, ev) = cmd(&mut tw, GW, "delete", "/", None);
    assert_eq!(status(&r), 204);
    assert_eq!(ev[0]["revision"], 4);
    assert!(tw.thing(GW).is_none());
    let (r, _) = cmd(&mut tw, GW, "delete", "/", None);
    assert_eq!(status(&r), 404);
}

#[test]
fn merge_applies_rfc_7396_and_emits_merged_with_the_patch() {
    let mut tw = twin();
    cmd(&mut tw, GW, "modify", "/", Some(gateway_thing()));
    let patch = json!({"status": {"on": null, "zoom": 3}});
    let (r, ev) = cmd(
        &mut tw,
        GW,
        "merge",
        "/features/DeviceInfo/properties",
        Some(patch.clone()),
    );
    assert_eq!(status(&r), 204);
    assert_eq!(ev[0]["topic"], "org.acme/gw1/things/twin/events/merged");
    assert_eq!(ev[0]["value"], patch);
    let props = &tw.thing(GW).unwrap().json["features"]["DeviceInfo"]["properties"];
    assert_eq!(*props, json!({"status": {"zoom": 3}}));
    let (r, _) = cmd(
        &mut tw,
        GW,
        "merge",
        "/attributes/new",
        Some(json!({"x": 1, "y": null})),
    );
    let r = r.unwrap();
    assert_eq!(r["status"], 201);
    assert_eq!(r["value"], json!({"x": 1}));
    let (r, _) = cmd(
        &mut tw,
        GW,
        "merge",
        "/",
        Some(json!({"thingId": "org.acme:x"})),
    );
    assert_eq!(r.unwrap()["value"]["error"], "things:id.notsettable");
    let (r, _) = cmd(
        &mut tw,
        GW,
        "merge",
        "/",
        Some(json!({"features": {"F": {"definition": ["bad"]}}})),
    );
    assert_eq!(status(&r), 400);
    assert_eq!(tw.thing(GW).unwrap().revision, 3);
    let (r, _) = cmd(&mut tw, "org.acme:none", "merge", "/", Some(json!({})));
    assert_eq!(status(&r), 404);
}

#[test]
fn response_required_false_sends_nothing_but_the_event() {
    let mut tw = twin();
    let env = Envelope::from_value(json!({"topic": "org.acme/gw1/things/twin/commands/modify",
        "headers": {"correlation-id": "q", "response-required": false}, "path": "/", "value": {}}))
    .unwrap();
    tw.handle_envelope(Time(1), &env);
    let out = drain(&mut tw);
    assert_eq!(out.len(), 1);
    assert!(matches!(&out[0], TwinOutput::Event(e) if e.correlation_id() == Some("q")));
    let mut bad = env.clone();
    bad.topic.criterion = Criterion::Commands(CommandAction::Create);
    tw.handle_envelope(Time(2), &bad);
    assert!(drain(&mut tw).is_empty(), "409 not sent");
}

#[test]
fn modify_thing_without_policy_keeps_the_old_policy() {
    let mut tw = twin();
    cmd(
        &mut tw,
        GW,
        "modify",
        "/",
        Some(json!({"policyId": "org.acme:policy"})),
    );
    cmd(&mut tw, GW, "modify", "/", Some(json!({"attributes": {}})));
    assert_eq!(tw.thing(GW).unwrap().json["policyId"], "org.acme:policy");
}

#[test]
fn signals_the_twin_does_not_take_are_400() {
    let mut tw = twin();
    let env = Envelope::from_value(json!({"topic": "org.acme/p/policies/commands/modify",
        "headers": {"correlation-id": "p"}, "path": "/", "value": {}}))
    .unwrap();
    tw.handle_envelope(Time(1), &env);
    let out = drain(&mut tw);
    let [TwinOutput::Response(r)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(r.status, Some(400));
    assert_eq!(r.to_value()["topic"], "org.acme/p/policies/errors");
}

#[test]
fn a_live_reply_without_a_waiting_message_is_dropped() {
    let mut tw = twin();
    let reply = Envelope::from_value(json!({"topic": "org.acme/gw1/things/live/messages/x",
        "headers": {"correlation-id": "nobody"}, "path": "/features/F/inbox/messages/x", "status": 200}))
    .unwrap();
    tw.handle_envelope(Time(1), &reply);
    assert!(drain(&mut tw).is_empty());
}

#[test]
fn unknown_members_are_dropped_and_things_iterate_in_id_order() {
    let mut tw = twin();
    cmd(
        &mut tw,
        "b.ns:z",
        "modify",
        "/",
        Some(json!({"_revision": 99, "junk": 1,
        "features": {"F": {"properties": {}, "extra": 1}}})),
    );
    cmd(&mut tw, "a.ns:z", "modify", "/", Some(json!({})));
    let thing = tw.thing("b.ns:z").unwrap();
    assert_eq!(
        thing.json,
        json!({"thingId": "b.ns:z", "policyId": "b.ns:z", "features": {"F": {"properties": {}}}})
    );
    let ids: Vec<&str> = tw.store().iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["a.ns:z", "b.ns:z"]);
}
