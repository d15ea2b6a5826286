//! Tests of the twin hub: control frames, filters, routing of responses,
//! events and live messages, the hold. The edge client against the hub
//! over a session is in `protocol/edge/tests/client_loop.rs`.

use serde_json::{json, Value};

use super::rql::Filter;
use super::{HttpAnswer, HubConfig, HubOutput, PendingId, SessionId, TwinConfig, TwinHub};
use crate::ditto::protocol::{CommandAction, Envelope, Pointer};
use crate::message::{percent_encode, Body, Method, Request, Response};
use crate::protocol::edge::start_send_messages;
use crate::time::{Span, Time};

const A: SessionId = SessionId(1);
const B: SessionId = SessionId(2);

fn hub() -> TwinHub {
    TwinHub::new(TwinConfig::default(), HubConfig::default())
}

/// Frames as (session, text).
type Frames = Vec<(SessionId, String)>;

/// Every output: frames, HTTP replies.
fn outputs(hub: &mut TwinHub) -> (Frames, Vec<(PendingId, Response)>) {
    let (mut frames, mut replies) = (Vec::new(), Vec::new());
    while let Some(out) = hub.poll_output() {
        match out {
            HubOutput::Frame { session, text } => frames.push((session, text)),
            HubOutput::HttpReply { id, response } => replies.push((id, response)),
        }
    }
    (frames, replies)
}

fn frames(hub: &mut TwinHub) -> Frames {
    let (frames, replies) = outputs(hub);
    assert!(replies.is_empty(), "{replies:?}");
    frames
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).expect("a JSON frame")
}

fn modify_thing(id: &str, correlation_id: &str) -> String {
    let thing = json!({"attributes": {"a": 1}, "features": {"F": {}}});
    Envelope::twin_command(
        id,
        CommandAction::Modify,
        Pointer::root(),
        Some(thing),
        correlation_id,
    )
    .to_json()
}

/// Creates `id` through session 99 (opened and closed for it).
fn create(hub: &mut TwinHub, id: &str) {
    hub.open(Time(0), SessionId(99));
    hub.frame(Time(0), SessionId(99), &modify_thing(id, "setup"));
    hub.close(Time(0), SessionId(99));
    let _ = outputs(hub);
}

fn post(hub: &mut TwinHub, now: Time, thing: &str, value: &str, timeout: &str) -> PendingId {
    let url = format!(
        "http://twin/api/2/things/{}/features/F/inbox/messages/$set.configuration/x?timeout={timeout}",
        percent_encode(thing)
    );
    let mut req = Request::new(Method::Post, url);
    req.headers.insert("content-type", "application/json");
    req.body = Body::Bytes(json!({"new_value": value}).to_string().into_bytes().into());
    match hub.http(now, &req) {
        Some(HttpAnswer::Pending(id)) => id,
        other => panic!("an inbox message waits: {other:?}"),
    }
}

/// The reply frame of a delivered live message.
fn reply_to(text: &str, status: u16) -> String {
    let message = Envelope::parse(text.as_bytes()).expect("a live message");
    message
        .message_reply(status, Some("application/json"), Some(json!("done")))
        .to_json()
}

#[test]
fn control_frames_are_acknowledged_without_their_parameters() {
    let mut h = hub();
    h.open(Time(0), A);
    for frame in [
        "START-SEND-EVENTS",
        "START-SEND-MESSAGES?namespaces=org.acme&filter=eq(thingId,%22org.acme:x%22)",
        "START-SEND-LIVE-COMMANDS",
        "STOP-SEND-MESSAGES",
        "STOP-SEND-EVENTS",
        "JWT-TOKEN?jwtToken=x",
        "START-SEND-NOTHING",
    ] {
        h.frame(Time(0), A, frame);
    }
    let acks: Vec<String> = frames(&mut h).into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        acks,
        [
            "START-SEND-EVENTS:ACK",
            "START-SEND-MESSAGES:ACK",
            "START-SEND-LIVE-COMMANDS:ACK",
            "STOP-SEND-MESSAGES:ACK",
            "STOP-SEND-EVENTS:ACK",
        ]
    );
}

#[test]
fn an_unsupported_or_broken_filter_is_refused_with_an_error_frame() {
    let mut h = hub();
    h.open(Time(0), A);
    for filter in [
        "gt(attributes/x,1)",
        "eq(attributes/gateway.id,\"g\")",
        "eq(thingId,\"unterminated)",
        "or(eq(thingId,\"a\")",
    ] {
        let frame = format!(
            "START-SEND-MESSAGES?filter={}&correlation-id=c7",
            percent_encode(filter)
        );
        h.frame(Time(0), A, &frame);
        let out = frames(&mut h);
        assert_eq!(out.len(), 1, "{filter}: {out:?}");
        let error = json_of(&out[0].1);
        assert_eq!(error["topic"], "_/_/things/twin/errors", "{filter}");
        assert_eq!(error["status"], 400);
        assert_eq!(error["path"], "/");
        assert_eq!(error["headers"]["correlation-id"], "c7");
        assert_eq!(error["value"]["error"], "rql.expression.invalid");
    }
    assert_eq!(h.stats().refused, 4);
    h.frame(Time(0), A, "START-SEND-MESSAGES?filter=%zz");
    let out = frames(&mut h);
    assert_eq!(json_of(&out[0].1)["value"]["error"], "ws.parameter.invalid");
    // Refused subscriptions take nothing: a message is held.
    create(&mut h, "org.acme:x");
    post(&mut h, Time(1), "org.acme:x", "v", "10");
    assert_eq!(h.held(), 1);
}

#[test]
fn filters_match_thing_ids_like_rql() {
    let f = Filter::parse(&crate::protocol::edge::messages_filter("ns", "gw1")).expect("parses");
    for (id, expected) in [
        ("ns:gw1", true),
        ("ns:gw1:dev", true),
        ("ns:gw1:da:device:x", true),
        ("ns:gw10", false),
        ("ns:gw10:dev", false),
        ("ns:gw", false),
        ("other:gw1", false),
    ] {
        assert_eq!(f.matches(id), expected, "{id}");
    }
    let cases = [
        ("like(thingId,\"*:cam?\")", "ns:cam1", true),
        ("like(thingId,\"*:cam?\")", "ns:cam12", false),
        ("like(thingId,'ns:*')", "ns:a", true),
        ("like(thingId,\"*\")", "", true),
        (
            "and(like(thingId,\"ns:*\"),not(eq(thingId,\"ns:a\")))",
            "ns:b",
            true,
        ),
        (
            "and(like(thingId,\"ns:*\"),not(eq(thingId,\"ns:a\")))",
            "ns:a",
            false,
        ),
        (
            " or( eq(thingId,\"a\\\"b\") , eq(thingId,\"c\") ) ",
            "a\"b",
            true,
        ),
    ];
    for (filter, id, expected) in cases {
        let f = Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        assert_eq!(f.matches(id), expected, "{filter} on {id}");
    }
}

#[test]
fn a_response_goes_to_its_sender_and_events_to_other_subscribers() {
    let mut h = hub();
    h.open(Time(0), A);
    h.open(Time(0), B);
    h.open(Time(0), SessionId(3));
    h.frame(Time(0), A, "START-SEND-EVENTS");
    h.frame(Time(0), B, "START-SEND-EVENTS");
    let filter = percent_encode("eq(thingId,\"org.acme:other\")");
    h.frame(
        Time(0),
        SessionId(3),
        &format!("START-SEND-EVENTS?filter={filter}"),
    );
    let _ = frames(&mut h);
    h.frame(Time(5), A, &modify_thing("org.acme:gw1", "c1"));
    let out = frames(&mut h);
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0].0, B, "the event to the other subscriber");
    assert_eq!(
        json_of(&out[0].1)["topic"],
        "org.acme/gw1/things/twin/events/created"
    );
    assert_eq!(out[1].0, A, "the response to the sender");
    assert_eq!(json_of(&out[1].1)["status"], 201);
    assert_eq!(json_of(&out[1].1)["headers"]["correlation-id"], "c1");
    // Over HTTP, events go to every subscriber; all land in the drain.
    let url = "http://twin/api/2/things/org.acme:gw1/attributes/a";
    let mut put = Request::new(Method::Put, url);
    put.body = Body::Bytes(b"2".to_vec().into());
    assert!(matches!(
        h.http(Time(6), &put),
        Some(HttpAnswer::Ready(Response { status: 204, .. }))
    ));
    let to: Vec<SessionId> = frames(&mut h).into_iter().map(|(s, _)| s).collect();
    assert_eq!(to, [A, B]);
    let events = h.take_events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].revision, Some(2));
    assert!(h.take_events().is_empty());
}

#[test]
fn frames_of_unknown_sessions_are_ignored_and_garbage_is_answered() {
    let mut h = hub();
    h.frame(Time(0), A, &modify_thing("org.acme:gw1", "c1"));
    assert!(h.service().store().is_empty());
    assert!(frames(&mut h).is_empty());
    h.open(Time(0), A);
    h.frame(Time(0), A, "{not json");
    let out = frames(&mut h);
    assert_eq!(json_of(&out[0].1)["value"]["error"], "json.invalid");
    h.close(Time(0), A);
    h.frame(Time(0), A, "START-SEND-EVENTS");
    assert!(frames(&mut h).is_empty());
}

#[test]
fn two_gateways_never_get_each_others_messages() {
    let mut h = hub();
    for id in ["ns:gw1", "ns:gw1:cam", "ns:gw10", "ns:gw10:cam"] {
        create(&mut h, id);
    }
    h.open(Time(0), A);
    h.open(Time(0), B);
    h.frame(Time(0), A, &start_send_messages("ns", "gw1"));
    h.frame(Time(0), B, &start_send_messages("ns", "gw10"));
    let _ = frames(&mut h);
    for (k, thing) in ["ns:gw1", "ns:gw1:cam", "ns:gw10", "ns:gw10:cam"]
        .iter()
        .enumerate()
    {
        post(&mut h, Time(1), thing, &k.to_string(), "10");
    }
    let out = frames(&mut h);
    let to = |s: SessionId| -> Vec<String> {
        out.iter()
            .filter(|(t, _)| *t == s)
            .map(|(_, text)| {
                let topic = json_of(text)["topic"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                topic
                    .split("/things/")
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(to(A), ["ns/gw1", "ns/gw1:cam"]);
    assert_eq!(to(B), ["ns/gw10", "ns/gw10:cam"]);
    assert_eq!(h.held(), 0);
    // Each gateway's reply answers its own request.
    let replies: Vec<(SessionId, String)> = out
        .iter()
        .map(|(s, text)| (*s, reply_to(text, 200)))
        .collect();
    for (s, reply) in replies {
        h.frame(Time(2), s, &reply);
    }
    let (frames, answers) = outputs(&mut h);
    assert!(frames.is_empty(), "{frames:?}");
    let ids: Vec<u64> = answers.iter().map(|(id, _)| id.0).collect();
    assert_eq!(ids.len(), 4);
    assert!(answers.iter().all(|(_, r)| r.status == 200));
}

#[test]
fn held_messages_go_out_in_order_when_a_matching_session_subscribes() {
    let mut h = hub();
    create(&mut h, "ns:gw1");
    create(&mut h, "ns:gw1:cam");
    create(&mut h, "ns:gw2");
    let first = post(&mut h, Time(1), "ns:gw1:cam", "a", "30");
    post(&mut h, Time(2), "ns:gw2", "x", "30");
    post(&mut h, Time(3), "ns:gw1", "b", "30");
    post(&mut h, Time(4), "ns:gw1:cam", "c", "30");
    assert_eq!(h.held(), 4);
    assert_eq!(h.stats().held, 4);
    // A session that does not take messages, or not these, gets nothing.
    h.open(Time(5), A);
    h.frame(Time(5), A, "START-SEND-EVENTS");
    h.frame(Time(5), A, &start_send_messages("ns", "gw3"));
    assert_eq!(frames(&mut h).len(), 2, "two ACKs");
    h.close(Time(5), A);
    h.open(Time(6), B);
    h.frame(Time(6), B, &start_send_messages("ns", "gw1"));
    let out = frames(&mut h);
    let values: Vec<Value> = out[1..]
        .iter()
        .map(|(_, t)| json_of(t)["value"]["new_value"].clone())
        .collect();
    assert_eq!(out[0].1, "START-SEND-MESSAGES:ACK");
    assert_eq!(values, [json!("a"), json!("b"), json!("c")]);
    assert_eq!(h.held(), 1, "gw2's message waits for gw2");
    h.frame(Time(7), B, &reply_to(&out[1].1, 204));
    let (_, answers) = outputs(&mut h);
    assert_eq!(answers.len(), 1);
    assert_eq!((answers[0].0, answers[0].1.status), (first, 204));
}

#[test]
fn the_hold_is_bounded_per_thing_dropping_the_oldest() {
    let config = HubConfig {
        hold_per_thing: 2,
        ..HubConfig::default()
    };
    let mut h = TwinHub::new(TwinConfig::default(), config);
    create(&mut h, "ns:gw1");
    let ids: Vec<PendingId> = (0..3)
        .map(|k| post(&mut h, Time(k), "ns:gw1", &k.to_string(), "5"))
        .collect();
    assert_eq!(h.held(), 2);
    assert_eq!(h.stats().hold_dropped, 1);
    h.open(Time(10), A);
    h.frame(Time(10), A, &start_send_messages("ns", "gw1"));
    let values: Vec<Value> = frames(&mut h)[1..]
        .iter()
        .map(|(_, t)| json_of(t)["value"]["new_value"].clone())
        .collect();
    assert_eq!(values, [json!("1"), json!("2")], "the oldest was dropped");
    // The dropped one (and the unanswered others) end in 408.
    let deadline = h.poll_timeout().expect("requests wait");
    assert_eq!(deadline, Time(0) + Span::secs(5));
    h.handle_timeout(Time(0) + Span::secs(6));
    let (_, answers) = outputs(&mut h);
    let timed_out: Vec<(PendingId, u16)> = answers.iter().map(|(i, r)| (*i, r.status)).collect();
    assert_eq!(timed_out, [(ids[0], 408), (ids[1], 408), (ids[2], 408)]);
}

#[test]
fn a_held_message_whose_request_timed_out_is_not_delivered() {
    let mut h = hub();
    create(&mut h, "ns:gw1");
    post(&mut h, Time(0), "ns:gw1", "late", "1");
    h.handle_timeout(Time(0) + Span::secs(1));
    let (_, answers) = outputs(&mut h);
    assert_eq!(answers[0].1.status, 408);
    assert_eq!(h.held(), 0);
    h.open(Time(2_000), A);
    h.frame(Time(2_000), A, &start_send_messages("ns", "gw1"));
    assert_eq!(frames(&mut h), [(A, "START-SEND-MESSAGES:ACK".to_string())]);
}

#[test]
fn a_message_unreplied_when_its_only_session_closes_is_held_again() {
    let mut h = hub();
    create(&mut h, "ns:gw1");
    h.open(Time(0), A);
    h.open(Time(0), B);
    h.frame(Time(0), A, &start_send_messages("ns", "gw1"));
    h.frame(Time(0), B, "START-SEND-MESSAGES");
    let _ = frames(&mut h);
    post(&mut h, Time(1), "ns:gw1", "v", "10");
    assert_eq!(frames(&mut h).len(), 2, "fan-out to both subscribers");
    h.close(Time(2), A);
    assert_eq!(h.held(), 0, "B still has it");
    h.close(Time(3), B);
    assert_eq!(h.held(), 1);
    assert_eq!(h.stats().redelivered, 1);
    h.open(Time(4), SessionId(3));
    h.frame(Time(4), SessionId(3), &start_send_messages("ns", "gw1"));
    let out = frames(&mut h);
    assert_eq!(out.len(), 2);
    h.frame(Time(5), SessionId(3), &reply_to(&out[1].1, 200));
    h.close(Time(6), SessionId(3));
    assert_eq!(h.held(), 0, "replied: not held again");
    let (_, answers) = outputs(&mut h);
    assert_eq!(answers.len(), 1);
}
