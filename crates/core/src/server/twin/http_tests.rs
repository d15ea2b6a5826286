//! The HTTP API v2 subset and the live-message inbox (ditto.md §2, §6).

use serde_json::{json, Value};

use super::*;
use crate::message::{Method, Request};
use crate::time::Span;

const GW: &str = "org.acme:gw1";

fn request(method: Method, path: &str, body: Option<Value>) -> Request {
    let mut req = Request::new(method, format!("http://twin{path}"));
    if let Some(b) = body {
        req.headers.insert("content-type", "application/json");
        req.body = Body::Bytes(b.to_string().into_bytes().into());
    }
    req
}

fn ready(tw: &mut TwinService, req: &Request) -> Response {
    match tw.handle_http(Time(1), req) {
        Some(HttpAnswer::Ready(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn body(r: &Response) -> Value {
    serde_json::from_slice(r.body.as_bytes()).unwrap()
}

fn drain(tw: &mut TwinService) -> Vec<TwinOutput> {
    std::iter::from_fn(|| tw.poll_output()).collect()
}

/// A twin with gateway thing `org.acme:gw1` holding feature `Configuration`.
fn seeded() -> TwinService {
    let mut tw = TwinService::new(TwinConfig::default());
    let thing = json!({"features": {"Configuration": {"properties": {"configuration": {"name": "hall"}}},
                                    "Cam 1": {"properties": {"on": true}}}});
    let r = ready(
        &mut tw,
        &request(Method::Put, "/api/2/things/org.acme:gw1", Some(thing)),
    );
    assert_eq!(r.status, 201);
    drain(&mut tw);
    tw
}

#[test]
fn put_thing_is_201_with_location_then_204_and_emits_events() {
    let mut tw = TwinService::new(TwinConfig::default());
    let req = request(
        Method::Put,
        "/api/2/things/org.acme:gw1",
        Some(json!({"attributes": {"a": 1}})),
    );
    let r = ready(&mut tw, &req);
    assert_eq!(r.status, 201);
    assert_eq!(
        r.headers.get("location"),
        Some("/api/2/things/org.acme:gw1")
    );
    assert_eq!(body(&r)["thingId"], GW);
    let out = drain(&mut tw);
    assert!(matches!(&out[..], [TwinOutput::Event(e)] if e.revision == Some(1)));
    let r = ready(&mut tw, &req);
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(tw.thing(GW).unwrap().revision, 2);
    let other = request(
        Method::Put,
        "/api/2/things/org.acme:gw1",
        Some(json!({"thingId": "org.acme:x"})),
    );
    let r = ready(&mut tw, &other);
    assert_eq!(
        (r.status, body(&r)["error"].clone()),
        (400, json!("things:id.notsettable"))
    );
}

#[test]
fn get_thing_has_the_revision_etag_and_if_none_match_gives_304() {
    let mut tw = seeded();
    let r = ready(
        &mut tw,
        &request(Method::Get, "/api/2/things/org.acme:gw1", None),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.headers.get("etag"), Some("\"rev:1\""));
    assert_eq!(body(&r)["features"]["Cam 1"]["properties"]["on"], true);
    let mut cond = request(Method::Get, "/api/2/things/org.acme:gw1", None);
    cond.headers.insert("if-none-match", "\"rev:1\"");
    let r = ready(&mut tw, &cond);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.headers.get("etag"), Some("\"rev:1\""));
    let mut star = request(Method::Get, "/api/2/things/org.acme:gw1", None);
    star.headers.insert("if-none-match", "*");
    assert_eq!(ready(&mut tw, &star).status, 304);
    let put = request(
        Method::Put,
        "/api/2/things/org.acme:gw1/attributes/x",
        Some(json!(1)),
    );
    assert_eq!(ready(&mut tw, &put).status, 201);
    let r = ready(&mut tw, &cond);
    assert_eq!((r.status, r.headers.get("etag")), (200, Some("\"rev:2\"")));
}

#[test]
fn get_features_feature_and_properties_with_decoded_segments() {
    let mut tw = seeded();
    let get = |tw: &mut TwinService, p: &str| ready(tw, &request(Method::Get, p, None));
    let r = get(&mut tw, "/api/2/things/org.acme:gw1/features");
    assert_eq!(body(&r).as_object().unwrap().len(), 2);
    let r = get(&mut tw, "/api/2/things/org.acme:gw1/features/Cam%201");
    assert_eq!(body(&r), json!({"properties": {"on": true}}));
    let etag = r.headers.get("etag").unwrap().to_owned();
    assert!(etag.starts_with("\"hash:"), "{etag}");
    let mut cond = request(
        Method::Get,
        "/api/2/things/org.acme:gw1/features/Cam%201",
        None,
    );
    cond.headers.insert("if-none-match", etag);
    assert_eq!(ready(&mut tw, &cond).status, 304);
    let r = get(
        &mut tw,
        "/api/2/things/org.acme:gw1/features/Configuration/properties/configuration/name",
    );
    assert_eq!(body(&r), json!("hall"));
    let r = get(
        &mut tw,
        "/api/2/things/org.acme:gw1/features/Configuration/properties",
    );
    assert_eq!(body(&r), json!({"configuration": {"name": "hall"}}));
    // A thing ID with the seed's encoding, sent percent-encoded once more.
    let id = "org.acme:gw1:da%3Aitem%2F1";
    let put = request(
        Method::Put,
        "/api/2/things/org.acme:gw1:da%253Aitem%252F1",
        Some(json!({})),
    );
    assert_eq!(ready(&mut tw, &put).status, 201);
    assert!(tw.thing(id).is_some());
}

#[test]
fn not_found_and_bad_requests() {
    let mut tw = seeded();
    let get = |tw: &mut TwinService, p: &str| ready(tw, &request(Method::Get, p, None));
    let r = get(&mut tw, "/api/2/things/org.acme:nope");
    assert_eq!(
        (r.status, body(&r)["error"].clone()),
        (404, json!("things:thing.notfound"))
    );
    let r = get(&mut tw, "/api/2/things/org.acme:gw1/features/Nope");
    assert_eq!(
        (r.status, body(&r)["error"].clone()),
        (404, json!("things:feature.notfound"))
    );
    let r = get(
        &mut tw,
        "/api/2/things/org.acme:gw1/features/Nope/properties/x",
    );
    assert_eq!(body(&r)["error"], "things:feature.notfound");
    let r = get(&mut tw, "/api/2/things/nonamespace");
    assert_eq!(
        (r.status, body(&r)["error"].clone()),
        (400, json!("things:id.invalid"))
    );
    let r = get(&mut tw, "/api/2/things/org.acme:gw1/features/a%2Fb");
    assert_eq!(
        (r.status, body(&r)["error"].clone()),
        (400, json!("json.key.invalid"))
    );
    let r = get(&mut tw, "/api/2/things/org.acme:gw%ZZ");
    assert_eq!(r.status, 400);
    assert_eq!(
        get(&mut tw, "/api/2/things/org.acme:gw1/features/").status,
        404
    );
    assert!(tw
        .handle_http(Time(1), &request(Method::Get, "/api/2/search/things", None))
        .is_none());
    let post = request(
        Method::Post,
        "/api/2/things/org.acme:gw1/features",
        Some(json!({})),
    );
    assert_eq!(ready(&mut tw, &post).status, 405);
}

#[test]
fn put_feature_and_property_201_then_204_and_content_types() {
    let mut tw = seeded();
    let put = |p: &str, v: Value| request(Method::Put, p, Some(v));
    let f = put(
        "/api/2/things/org.acme:gw1/features/Lamp",
        json!({"properties": {"on": false}}),
    );
    let r = ready(&mut tw, &f);
    assert_eq!(
        (r.status, body(&r)),
        (201, json!({"properties": {"on": false}}))
    );
    assert!(r.headers.get("location").is_none());
    assert_eq!(ready(&mut tw, &f).status, 204);
    let p = put(
        "/api/2/things/org.acme:gw1/features/Lamp/properties/on",
        json!(true),
    );
    assert_eq!(ready(&mut tw, &p).status, 204);
    let p = put(
        "/api/2/things/org.acme:gw1/features/Lamp/properties/level",
        json!(3),
    );
    let r = ready(&mut tw, &p);
    assert_eq!((r.status, body(&r)), (201, json!(3)));
    let missing = put(
        "/api/2/things/org.acme:gw1/features/None/properties/x",
        json!(1),
    );
    assert_eq!(ready(&mut tw, &missing).status, 404);
    let mut text = put(
        "/api/2/things/org.acme:gw1/features/Lamp/properties/on",
        json!(1),
    );
    text.headers = crate::message::Headers::new().with("content-type", "text/plain");
    assert_eq!(ready(&mut tw, &text).status, 415);
    let mut broken = put(
        "/api/2/things/org.acme:gw1/features/Lamp/properties/on",
        json!(1),
    );
    broken.body = Body::Bytes(b"{".to_vec().into());
    let r = ready(&mut tw, &broken);
    assert_eq!(
        (r.status, body(&r)["error"].clone()),
        (400, json!("json.invalid"))
    );
    let del = request(
        Method::Delete,
        "/api/2/things/org.acme:gw1/features/Lamp",
        None,
    );
    assert_eq!(ready(&mut tw, &del).status, 204);
    assert_eq!(ready(&mut tw, &del).status, 404);
    let events = drain(&mut tw)
        .into_iter()
        .filter(|o| matches!(o, TwinOutput::Event(_)))
        .count();
    assert_eq!(events, 5);
}

fn post(path_tail: &str, body: Option<Value>) -> Request {
    request(
        Method::Post,
        &format!("/api/2/things/org.acme:gw1/features/Configuration/inbox/messages/{path_tail}"),
        body,
    )
}

/// Posts a message and returns its pending id and the delivered envelope.
fn post_pending(tw: &mut TwinService, now: Time, req: &Request) -> (PendingId, Envelope) {
    let Some(HttpAnswer::Pending(id)) = tw.handle_http(now, req) else {
        panic!("not pending")
    };
    let out = drain(tw);
    let [TwinOutput::LiveMessage(env)] = &out[..] else {
        panic!("{out:?}")
    };
    (id, env.clone())
}

#[test]
fn inbox_message_is_delivered_and_the_reply_answers_the_request() {
    let mut tw = seeded();
    let req = post(
        "$set.configuration/name",
        Some(json!({"new_value": "kitchen"})),
    );
    let (id, env) = post_pending(&mut tw, Time(100), &req);
    let v = env.to_value();
    assert_eq!(
        v["topic"],
        "org.acme/gw1/things/live/messages/$set.configuration/name"
    );
    assert_eq!(
        v["path"],
        "/features/Configuration/inbox/messages/$set.configuration/name"
    );
    assert_eq!(v["value"], json!({"new_value": "kitchen"}));
    assert_eq!(v["headers"]["content-type"], "application/json");
    assert_eq!(tw.poll_timeout(), Some(Time(100) + Span::secs(10)));
    assert_eq!(tw.waiting_messages(), 1);
    let reply = env.message_reply(200, Some("application/json"), Some(json!({"ok": true})));
    tw.handle_envelope(Time(200), &reply);
    let out = drain(&mut tw);
    let [TwinOutput::HttpReply { id: got, response }] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(*got, id);
    assert_eq!(response.status, 200);
    assert_eq!(
        response.headers.get("content-type"),
        Some("application/json")
    );
    assert_eq!(body(response), json!({"ok": true}));
    // First reply wins: a second one finds nothing.
    tw.handle_envelope(Time(201), &reply);
    assert!(drain(&mut tw).is_empty());
    assert_eq!(tw.poll_timeout(), None);
}

#[test]
fn reply_status_content_type_and_empty_204() {
    let mut tw = seeded();
    let mut req = post("ping", None);
    req.headers.insert("correlation-id", "mine");
    let (id, env) = post_pending(&mut tw, Time(0), &req);
    assert_eq!(env.correlation_id(), Some("mine"));
    tw.handle_envelope(
        Time(1),
        &env.message_reply(204, Some("application/json"), Some(json!(1))),
    );
    let out = drain(&mut tw);
    let [TwinOutput::HttpReply { id: got, response }] = &out[..] else {
        panic!()
    };
    assert_eq!(
        (*got, response.status, response.body.is_empty()),
        (id, 204, true)
    );
    let (_, env) = post_pending(&mut tw, Time(2), &post("text", Some(json!("x"))));
    tw.handle_envelope(
        Time(3),
        &env.message_reply(418, Some("text/plain"), Some(json!("teapot"))),
    );
    let out = drain(&mut tw);
    let [TwinOutput::HttpReply { response, .. }] = &out[..] else {
        panic!()
    };
    assert_eq!(response.status, 418);
    assert_eq!(response.headers.get("content-type"), Some("text/plain"));
    assert_eq!(response.body.as_bytes(), b"teapot");
}

#[test]
fn no_reply_by_the_deadline_is_408_and_late_replies_are_dropped() {
    let mut tw = seeded();
    let (id, env) = post_pending(&mut tw, Time(0), &post("op?timeout=2", None));
    let deadline = Time(2000);
    assert_eq!(tw.poll_timeout(), Some(deadline));
    tw.handle_timeout(Time(1999));
    assert!(drain(&mut tw).is_empty());
    tw.handle_timeout(deadline);
    let out = drain(&mut tw);
    let [TwinOutput::HttpReply { id: got, response }] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!((*got, response.status), (id, 408));
    assert_eq!(body(response)["status"], 408);
    tw.handle_envelope(Time(2001), &env.message_reply(200, None, None));
    assert!(drain(&mut tw).is_empty());
    assert_eq!(tw.waiting_messages(), 0);
}

#[test]
fn timeouts_zero_202_and_beyond_60_400() {
    let mut tw = seeded();
    let r = ready(&mut tw, &post("op?timeout=0", Some(json!({}))));
    assert_eq!(r.status, 202);
    let out = drain(&mut tw);
    let [TwinOutput::LiveMessage(env)] = &out[..] else {
        panic!("{out:?}")
    };
    assert!(!env.headers.response_required());
    assert_eq!(tw.waiting_messages(), 0);
    for bad in ["op?timeout=61", "op?timeout=abc", "op?timeout=2m"] {
        let r = ready(&mut tw, &post(bad, None));
        assert_eq!(
            (r.status, body(&r)["error"].clone()),
            (400, json!("timeout.invalid")),
            "{bad}"
        );
    }
    let (_, _) = post_pending(&mut tw, Time(0), &post("op?timeout=60", None));
    assert_eq!(tw.poll_timeout(), Some(Time(60_000)));
}

#[test]
fn inbox_refusals() {
    let mut tw = seeded();
    let r = ready(
        &mut tw,
        &request(
            Method::Post,
            "/api/2/things/org.acme:none/features/F/inbox/messages/op",
            None,
        ),
    );
    assert_eq!(r.status, 404);
    let r = ready(
        &mut tw,
        &request(
            Method::Get,
            "/api/2/things/org.acme:gw1/features/F/inbox/messages/op",
            None,
        ),
    );
    assert_eq!(r.status, 405);
    let r = ready(
        &mut tw,
        &request(
            Method::Post,
            "/api/2/things/org.acme:gw1/features/F/inbox/messages/",
            None,
        ),
    );
    assert_eq!(r.status, 400);
    let mut broken = post("op", None);
    broken.headers.insert("content-type", "application/json");
    broken.body = Body::Bytes(b"{".to_vec().into());
    assert_eq!(ready(&mut tw, &broken).status, 400);
    let mut twice = post("op", None);
    twice.headers.insert("correlation-id", "same");
    post_pending(&mut tw, Time(0), &twice);
    assert_eq!(ready(&mut tw, &twice).status, 400);
    assert!(
        drain(&mut tw).is_empty(),
        "the refused duplicate is not delivered"
    );
}

#[test]
fn several_deadlines_expire_in_order() {
    let mut tw = seeded();
    let (late, _) = post_pending(&mut tw, Time(0), &post("a?timeout=5", None));
    let (early, _) = post_pending(&mut tw, Time(0), &post("b?timeout=1", None));
    assert_eq!(tw.poll_timeout(), Some(Time(1000)));
    tw.handle_timeout(Time(10_000));
    let ids: Vec<PendingId> = drain(&mut tw)
        .into_iter()
        .map(|o| match o {
            TwinOutput::HttpReply { id, .. } => id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, [early, late]);
}

#[test]
fn preconditions_are_412() {
    let mut tw = seeded();
    let with = |method, path: &str, body: Option<Value>, header: &'static str, value: &str| {
        let mut req = request(method, path, body);
        req.headers.insert(header, value.to_owned());
        req
    };
    let thing = "/api/2/things/org.acme:gw1";
    // If-None-Match: * on a PUT = create only.
    let r = ready(
        &mut tw,
        &with(Method::Put, thing, Some(json!({})), "if-none-match", "*"),
    );
    assert_eq!(
        (r.status, body(&r)["error"].clone()),
        (412, json!("things:precondition.failed"))
    );
    let new = "/api/2/things/org.acme:gw2";
    let r = ready(
        &mut tw,
        &with(Method::Put, new, Some(json!({})), "if-none-match", "*"),
    );
    assert_eq!((r.status, r.headers.get("etag")), (201, Some("\"rev:1\"")));
    // If-Match: the current revision only.
    let r = ready(
        &mut tw,
        &with(Method::Put, new, Some(json!({})), "if-match", "\"rev:7\""),
    );
    assert_eq!(r.status, 412);
    let r = ready(
        &mut tw,
        &with(Method::Put, new, Some(json!({})), "if-match", "\"rev:1\""),
    );
    assert_eq!((r.status, r.headers.get("etag")), (204, Some("\"rev:2\"")));
    let missing = "/api/2/things/org.acme:gw1/features/None";
    let r = ready(
        &mut tw,
        &with(Method::Put, missing, Some(json!({})), "if-match", "*"),
    );
    assert_eq!(r.status, 412);
    assert!(tw.thing("org.acme:gw1").unwrap().json["features"]
        .get("None")
        .is_none());
    let r = ready(
        &mut tw,
        &with(Method::Get, thing, None, "if-match", "\"rev:9\""),
    );
    assert_eq!(r.status, 412);
    let r = ready(
        &mut tw,
        &with(Method::Delete, new, None, "if-match", "\"rev:1\""),
    );
    assert_eq!(r.status, 412);
    let r = ready(
        &mut tw,
        &with(Method::Delete, new, None, "if-match", "\"rev:2\""),
    );
    assert_eq!(r.status, 204);
}
