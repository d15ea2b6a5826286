//! The examples of ditto.md §1, reproduced as JSON values, and the rules
//! of topics, headers and pointers.

use super::*;
use crate::time::Span;

fn parse(v: Value) -> Envelope {
    Envelope::from_value(v).expect("valid envelope")
}

#[test]
fn modify_command_round_trips_and_its_reply_is_status_204_without_value() {
    let cmd = json!({"topic":"org.acme/gw1/things/twin/commands/modify","headers":{"correlation-id":"c1"},
                     "path":"/features/lamp/properties/on","value":true});
    let env = parse(cmd.clone());
    assert_eq!(env.topic.thing_id(), "org.acme:gw1");
    assert_eq!(
        env.topic.criterion,
        Criterion::Commands(CommandAction::Modify)
    );
    assert_eq!(env.topic.channel, Some(Channel::Twin));
    assert_eq!(
        env.path.segments(),
        ["features", "lamp", "properties", "on"]
    );
    assert_eq!(env.to_value(), cmd);
    let built = Envelope::twin_command(
        "org.acme:gw1",
        CommandAction::Modify,
        Pointer::parse("/features/lamp/properties/on").unwrap(),
        Some(json!(true)),
        "c1",
    );
    assert_eq!(built, env);
    assert_eq!(
        env.response(204, Some(json!(true))).to_value(),
        json!({"topic":"org.acme/gw1/things/twin/commands/modify","headers":{"correlation-id":"c1"},
               "path":"/features/lamp/properties/on","status":204})
    );
}

#[test]
fn created_response_carries_the_value() {
    let env = parse(
        json!({"topic":"org.acme/gw1/things/twin/commands/modify","headers":{"correlation-id":"c2"},
                           "path":"/features/Cam_1/properties/status/on","value":false}),
    );
    assert_eq!(
        env.response(201, Some(json!(false))).to_value(),
        json!({"topic":"org.acme/gw1/things/twin/commands/modify","headers":{"correlation-id":"c2"},
               "path":"/features/Cam_1/properties/status/on","status":201,"value":false})
    );
    let retrieve = parse(json!({"topic":"org.acme/gw1/things/twin/commands/retrieve",
                                "headers":{"correlation-id":"r"},"path":"/attributes"}));
    assert_eq!(
        retrieve.response(200, Some(json!({}))).value,
        Some(json!({}))
    );
    assert_eq!(retrieve.response(204, Some(json!({}))).value, None);
}

#[test]
fn event_of_the_modify_is_the_documented_one() {
    let cmd = parse(
        json!({"topic":"org.acme/gw1/things/twin/commands/modify","headers":{"correlation-id":"c1"},
                           "path":"/features/lamp/properties/on","value":true}),
    );
    let event = cmd.event(EventAction::Modified, Some(json!(true)), 7, None);
    let expected = json!({"topic":"org.acme/gw1/things/twin/events/modified","headers":{"correlation-id":"c1"},
                          "path":"/features/lamp/properties/on","value":true,"revision":7});
    assert_eq!(event.to_value(), expected);
    assert_eq!(parse(expected), event);
    let deleted = cmd.event(EventAction::Deleted, Some(json!(1)), 8, Some(iso8601(0)));
    assert_eq!(deleted.value, None);
    assert_eq!(deleted.to_value()["timestamp"], "1970-01-01T00:00:00.000Z");
    assert_eq!(
        deleted.to_value()["topic"],
        "org.acme/gw1/things/twin/events/deleted"
    );
}

#[test]
fn error_envelope_is_the_documented_one() {
    let cmd = parse(
        json!({"topic":"org.acme/gw1/things/twin/commands/modify","headers":{"correlation-id":"c3"},
                           "path":"/features/nope/properties/on","value":true}),
    );
    let mut error = DittoError::feature_not_found("org.acme:gw1", "nope");
    error.message = "…".into();
    error.description = Some("…".into());
    let expected = json!({"topic":"org.acme/gw1/things/twin/errors","headers":{"correlation-id":"c3"},"path":"/","status":404,
                          "value":{"status":404,"error":"things:feature.notfound","message":"…","description":"…"}});
    assert_eq!(cmd.error_response(&error).to_value(), expected);
    let back = parse(expected);
    assert_eq!(back.topic.criterion, Criterion::Errors);
    assert!(back.is_response());
}

#[test]
fn live_message_is_the_documented_one_and_its_reply_matches_by_correlation_id() {
    let expected = json!({"topic":"org.acme/gw1:dev7/things/live/messages/$set.configuration/name",
        "headers":{"content-type":"application/json","correlation-id":"m1"},
        "path":"/features/Configuration/inbox/messages/$set.configuration/name","value":{"new_value":"kitchen"}});
    let env = parse(expected.clone());
    assert_eq!(
        env.topic.criterion,
        Criterion::Messages("$set.configuration/name".into())
    );
    assert_eq!(env.topic.thing_id(), "org.acme:gw1:dev7");
    assert!(!env.is_response());
    let headers = DittoHeaders::correlated("m1").with("Content-Type", "application/json");
    let built = Envelope::live_message(
        "org.acme:gw1:dev7",
        Some("Configuration"),
        "$set.configuration/name",
        headers,
        Some(json!({"new_value":"kitchen"})),
    );
    assert_eq!(built.to_value(), expected);
    let reply = env.message_reply(200, Some("application/json"), Some(json!("ok")));
    assert!(reply.is_response());
    assert_eq!(reply.correlation_id(), Some("m1"));
    assert_eq!(reply.headers.content_type(), Some("application/json"));
    assert_eq!(reply.topic, env.topic);
    assert_eq!(reply.to_value()["value"], "ok");
    let no_feature = Envelope::live_message("ns:t", None, "ping", DittoHeaders::new(), None);
    assert_eq!(no_feature.path.to_string(), "/inbox/messages/ping");
}

#[test]
fn topic_of_a_seed_edge_thing() {
    let topic = Topic::thing(
        "org.acme:gw1:dev7",
        Channel::Twin,
        Criterion::Commands(CommandAction::Modify),
    );
    assert_eq!(
        topic.to_string(),
        "org.acme/gw1:dev7/things/twin/commands/modify"
    );
    assert_eq!(Topic::parse(&topic.to_string()).unwrap(), topic);
}

#[test]
fn every_topic_form_round_trips() {
    for t in [
        "ns/n/things/twin/commands/create",
        "ns/n/things/twin/commands/retrieve",
        "ns/n/things/twin/commands/merge",
        "ns/n/things/twin/commands/delete",
        "ns/n/things/twin/commands/migrate",
        "ns/n/things/live/commands/modify",
        "ns/n/things/twin/events/created",
        "ns/n/things/twin/events/merged",
        "ns/n/things/twin/events/migrated",
        "ns/n/things/live/messages/a/b/c",
        "ns/n/things/twin/errors",
        "ns/n/things/live/errors",
        "_/_/things/twin/search/subscribe",
        "ns/n/things/twin/acks",
        "ns/n/things/live/acks/live-response",
        "ns/n/policies/commands/modify",
        "ns/n/policies/announcements/subjectDeletion",
        "/n/things/twin/commands/modify",
    ] {
        assert_eq!(Topic::parse(t).unwrap().to_string(), t);
    }
    let policies = Topic::parse("ns/n/policies/commands/modify").unwrap();
    assert_eq!((policies.group, policies.channel), (Group::Policies, None));
}

#[test]
fn bad_topics_are_typed_errors() {
    let short = |t: &str| TopicError::TooShort(t.into());
    assert_eq!(Topic::parse("ns/n/things"), Err(short("ns/n/things")));
    assert_eq!(
        Topic::parse("ns/n/things/twin"),
        Err(short("ns/n/things/twin"))
    );
    assert_eq!(
        Topic::parse("ns/n/things/twin/commands"),
        Err(short("ns/n/things/twin/commands"))
    );
    assert_eq!(
        Topic::parse("ns/n/things/live/messages/"),
        Err(short("ns/n/things/live/messages/"))
    );
    let unknown = |t: &str, what, found: &str| {
        Err(TopicError::Unknown {
            topic: t.into(),
            what,
            found: found.into(),
        })
    };
    let t = "ns/n/devices/twin/commands/modify";
    assert_eq!(Topic::parse(t), unknown(t, "group", "devices"));
    let t = "ns/n/things/shadow/commands/modify";
    assert_eq!(Topic::parse(t), unknown(t, "channel", "shadow"));
    let t = "ns/n/things/twin/commands/update";
    assert_eq!(Topic::parse(t), unknown(t, "action", "update"));
    let t = "ns/n/things/twin/events/modify";
    assert_eq!(Topic::parse(t), unknown(t, "action", "modify"));
    let t = "ns/n/things/twin/gossip/x";
    assert_eq!(Topic::parse(t), unknown(t, "criterion", "gossip"));
    for t in [
        "ns/n/things/twin/messages/x",
        "ns/n/things/live/search/x",
        "ns/n/things/twin/errors/x",
        "ns/n/things/twin/acks/a/b",
    ] {
        assert_eq!(Topic::parse(t), Err(TopicError::Misplaced(t.into())), "{t}");
    }
}

#[test]
fn headers_are_case_insensitive_and_typed() {
    let env = parse(json!({"topic":"ns/n/things/twin/commands/modify",
        "headers":{"Correlation-ID":"x","Response-Required":false,"TIMEOUT":"250ms","Content-Type":"application/json"},
        "path":"/"}));
    assert_eq!(env.correlation_id(), Some("x"));
    assert!(!env.headers.response_required());
    assert_eq!(env.headers.timeout(), Some(Span::millis(250)));
    assert_eq!(env.headers.content_type(), Some("application/json"));
    assert_eq!(env.to_value()["headers"]["correlation-id"], "x");
    let h = DittoHeaders::new();
    assert!(h.response_required());
    assert!(!h
        .clone()
        .with("response-required", "false")
        .response_required());
    assert!(h
        .clone()
        .with("response-required", "true")
        .response_required());
    assert_eq!(
        h.clone().with("timeout", 42).timeout(),
        Some(Span::secs(42))
    );
    assert_eq!(h.clone().with("timeout", "bogus").timeout(), None);
    for (s, span) in [
        ("42s", Span::secs(42)),
        ("1m", Span::minutes(1)),
        ("7", Span::secs(7)),
    ] {
        assert_eq!(parse_timeout(s), Some(span));
    }
    let internal = h.with("ditto-originator", "me").with("x", "y");
    assert_eq!(
        internal.without_internal(),
        DittoHeaders::new().with("x", "y")
    );
}

#[test]
fn pointers() {
    assert!(Pointer::parse("/").unwrap().is_root());
    assert_eq!(Pointer::parse("/a/b").unwrap().to_string(), "/a/b");
    assert_eq!(
        Pointer::parse("/a/b").unwrap(),
        Pointer::root().join("a").join("b")
    );
    for bad in ["//", "/a//b", "/a/"] {
        assert_eq!(
            Pointer::parse(bad),
            Err(PointerError::EmptySegment(bad.into()))
        );
    }
    assert_eq!(
        Pointer::parse("a"),
        Err(PointerError::NoLeadingSlash("a".into()))
    );
    let env = Envelope::from_value(
        json!({"topic":"ns/n/things/twin/commands/modify","headers":{},"path":"/a//b"}),
    );
    assert!(matches!(env, Err(EnvelopeError::Path(_))));
}

#[test]
fn null_values_are_kept_on_commands_and_dropped_on_responses() {
    let cmd = parse(
        json!({"topic":"ns/n/things/twin/commands/modify","headers":{},
                           "path":"/attributes/a","value":null}),
    );
    assert_eq!(cmd.value, Some(Value::Null));
    assert_eq!(cmd.to_value()["value"], Value::Null);
    let resp = parse(
        json!({"topic":"ns/n/things/twin/commands/modify","headers":{},
                            "path":"/features/f","value":null,"status":204}),
    );
    assert_eq!(resp.value, None);
    assert!(resp.to_value().get("value").is_none());
}

#[test]
fn malformed_envelopes_are_typed_errors() {
    assert!(matches!(Envelope::parse(b"{"), Err(EnvelopeError::Json(_))));
    assert!(matches!(
        Envelope::parse(br#"{"topic":"ns/n/things/twin/errors","path":"/"}"#),
        Err(EnvelopeError::Json(_))
    ));
    assert!(matches!(
        Envelope::parse(br#"{"topic":"x","headers":{},"path":"/"}"#),
        Err(EnvelopeError::Topic(_))
    ));
    let text = br#"{"topic":"ns/n/things/twin/commands/retrieve","headers":{"correlation-id":"q"},"path":"/","fields":"thingId,attributes(location)"}"#;
    let env = Envelope::parse(text).unwrap();
    assert_eq!(env.fields.as_deref(), Some("thingId,attributes(location)"));
    let again: Envelope = serde_json::from_str(&env.to_json()).unwrap();
    assert_eq!(again, env);
}

#[test]
fn iso8601_formats_utc_milliseconds() {
    assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso8601(1_796_605_323_004), "2026-12-07T01:02:03.004Z");
    assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
}

#[test]
fn error_bodies() {
    let e = DittoError::thing_not_found("ns:x");
    assert_eq!(e.to_value()["error"], "things:thing.notfound");
    assert_eq!(e.to_value()["status"], 404);
    assert_eq!(DittoError::thing_conflict("ns:x").status, 409);
    assert_eq!(
        DittoError::id_not_settable("ns:x").error,
        "things:id.notsettable"
    );
    let bad = DittoError::bad_request("things:definition.identifier.invalid", "no".into());
    assert_eq!(
        bad.to_value(),
        json!({"status":400,"error":"things:definition.identifier.invalid","message":"no"})
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn word() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_.:$-]{1,8}"
    }

    fn criterion() -> impl Strategy<Value = (Channel, Criterion)> {
        let command = prop::sample::select(CommandAction::ALL.map(|(a, _)| a).to_vec());
        let event = prop::sample::select(EventAction::ALL.map(|(a, _)| a).to_vec());
        prop_oneof![
            (prop::bool::ANY, command).prop_map(|(live, a)| {
                let channel = if live { Channel::Live } else { Channel::Twin };
                (channel, Criterion::Commands(a))
            }),
            event.prop_map(|a| (Channel::Twin, Criterion::Events(a))),
            prop::collection::vec(word(), 1..4)
                .prop_map(|s| (Channel::Live, Criterion::Messages(s.join("/")))),
            Just((Channel::Twin, Criterion::Errors)),
            proptest::option::of(word()).prop_map(|l| (Channel::Live, Criterion::Acks(l))),
        ]
    }

    proptest! {
        #[test]
        fn topics_round_trip(ns in "([a-z][a-z0-9]{0,5}(\\.[a-z][a-z0-9]{0,5}){0,2})?",
                             name in "[^/\\x00-\\x1F]{1,12}", (channel, criterion) in criterion()) {
            let id = format!("{ns}:{name}");
            let topic = Topic::thing(&id, channel, criterion);
            let parsed = Topic::parse(&topic.to_string()).unwrap();
            prop_assert_eq!(parsed.thing_id(), id);
            prop_assert_eq!(parsed, topic);
        }

        #[test]
        fn envelopes_round_trip_through_json(path in prop::collection::vec(word(), 0..4),
                                             status in proptest::option::of(200u16..600),
                                             revision in proptest::option::of(0u64..1000),
                                             correlation in word(), n in any::<i64>()) {
            let topic = Topic::thing("ns:t", Channel::Twin, Criterion::Commands(CommandAction::Modify));
            let mut env = Envelope::new(topic, DittoHeaders::correlated(&correlation), Pointer::from_segments(path));
            env.value = Some(json!({"n": n}));
            env.status = status;
            env.revision = revision;
            let text = env.to_json();
            prop_assert_eq!(Envelope::parse(text.as_bytes()).unwrap(), env);
        }
    }
}
