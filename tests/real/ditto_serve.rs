//! `fleetsim serve`'s Ditto twin over real HTTP and WebSocket: Ditto
//! Protocol over `/ws/2` (the `fleetsim_io::ditto::session` client), the
//! HTTP API v2 under `/api/2/things/`, inbox messages answered by a
//! WebSocket client, held messages delivered on reconnect, Basic auth, and
//! an `EdgeClient` gateway kept in sync over the socket by
//! `session::drive`. Port 0, every wait bounded.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use fleetsim::protocol::edge::{
    self, start_send_messages, EdgeClient, EdgeConfig, EdgeEvent, FunctionalItem, GatewayRuntime,
};
use fleetsim::protocol::Client as _;
use fleetsim_core::ditto::protocol::{CommandAction, Criterion, Envelope, EventAction, Pointer};
use fleetsim_core::message::percent_encode;
use fleetsim_io::ditto::session::{self, BasicAuth, Pace, Session, SessionError};
use fleetsim_io::server_events::{frame_seq, parse_lines, ServerSide, SEQ_HEADER};

use crate::hawkbit_http::{bounded, serve, Answer, Client, AUTH};

fn ops() -> BasicAuth {
    BasicAuth {
        user: "ops".into(),
        password: "secret".into(),
    }
}

fn ws_url(server: &fleetsim::http_server::Running) -> String {
    format!("ws://{}/ws/2", server.local_addr)
}

async fn open(server: &fleetsim::http_server::Running) -> Session {
    bounded(
        "ws connect",
        session::connect(&ws_url(server), Some(&ops())),
    )
    .await
    .expect("the upgrade is accepted")
}

async fn next(s: &mut Session) -> String {
    bounded("a frame", s.recv())
        .await
        .expect("the socket is open")
}

async fn next_json(s: &mut Session) -> Value {
    let text = next(s).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

async fn subscribe(s: &mut Session, frame: &str) {
    s.send(frame.to_string());
    assert_eq!(next(s).await, "START-SEND-MESSAGES:ACK");
}

/// Creates `id` with feature `Configuration` over the socket; the answer's status.
async fn create(s: &mut Session, id: &str) -> Value {
    let thing = json!({
        "attributes": {"thing.type": "gateway"},
        "features": {"Configuration": {"properties": {"configuration": {"name": "hall"}}}}
    });
    let cmd = Envelope::twin_command(
        id,
        CommandAction::Modify,
        Pointer::root(),
        Some(thing),
        "create-1",
    );
    s.send(cmd.to_json());
    next_json(s).await
}

async fn http(server: &fleetsim::http_server::Running, method: Method, path: &str) -> Answer {
    let mut c = Client::connect(server.local_addr).await;
    c.send(method, path, &[("authorization", AUTH)], "").await
}

/// POSTs `$set.configuration/name` to `thing`'s inbox in a task.
fn post_message(
    server: &fleetsim::http_server::Running,
    thing: &str,
    value: &str,
) -> tokio::task::JoinHandle<Answer> {
    let addr = server.local_addr;
    let path = format!(
        "/api/2/things/{}/features/Configuration/inbox/messages/$set.configuration/name?timeout=20",
        percent_encode(thing)
    );
    let body = json!({"new_value": value}).to_string();
    tokio::spawn(async move {
        let mut c = Client::connect(addr).await;
        let headers = [
            ("authorization", AUTH),
            ("content-type", "application/json"),
        ];
        c.send(Method::POST, &path, &headers, body).await
    })
}

/// Answers a delivered live message with `value`.
fn reply(message: &Value, value: Value) -> String {
    let message = Envelope::from_value(message.clone()).expect("a live message");
    message
        .message_reply(200, Some("application/json"), Some(value))
        .to_json()
}

#[tokio::test]
async fn a_thing_made_over_the_socket_is_read_over_http() {
    let server = serve().await;
    let mut ws = open(&server).await;
    let answer = create(&mut ws, "org.acme:gw1").await;
    assert_eq!(answer["status"], 201, "{answer}");
    assert_eq!(answer["headers"]["correlation-id"], "create-1");
    assert_eq!(answer["topic"], "org.acme/gw1/things/twin/commands/modify");
    let got = http(&server, Method::GET, "/api/2/things/org.acme:gw1").await;
    assert_eq!(got.status, StatusCode::OK);
    let thing = got.json();
    assert_eq!(thing["thingId"], "org.acme:gw1");
    assert_eq!(
        thing["features"]["Configuration"]["properties"]["configuration"]["name"],
        "hall"
    );
    let etag = got.headers.get("etag").and_then(|v| v.to_str().ok());
    assert_eq!(etag, Some("\"rev:1\""));
    let missing = http(&server, Method::GET, "/api/2/things/org.acme:nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["error"], "things:thing.notfound");
}

#[tokio::test]
async fn an_inbox_message_is_answered_by_the_socket_client() {
    let server = serve().await;
    let mut ws = open(&server).await;
    assert_eq!(create(&mut ws, "org.acme:gw2").await["status"], 201);
    subscribe(&mut ws, &start_send_messages("org.acme", "gw2")).await;
    let post = post_message(&server, "org.acme:gw2", "kitchen");
    let message = next_json(&mut ws).await;
    assert_eq!(
        message["topic"],
        "org.acme/gw2/things/live/messages/$set.configuration/name"
    );
    assert_eq!(message["value"], json!({"new_value": "kitchen"}));
    ws.send(reply(&message, json!({"applied": true})));
    let answer = bounded("the POST", post).await.expect("the task");
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json(), json!({"applied": true}));
}

#[tokio::test]
async fn a_message_for_an_absent_gateway_is_held_until_it_reconnects() {
    let server = serve().await;
    let mut ws = open(&server).await;
    assert_eq!(create(&mut ws, "org.acme:gw3").await["status"], 201);
    ws.close();
    let post = post_message(&server, "org.acme:gw3", "porch");
    // Another gateway's session never sees it.
    let mut other = open(&server).await;
    subscribe(&mut other, &start_send_messages("org.acme", "gw30")).await;
    // Give the POST time to reach the hub (it is held, not lost, either way).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut ws = open(&server).await;
    subscribe(&mut ws, &start_send_messages("org.acme", "gw3")).await;
    let message = next_json(&mut ws).await;
    assert_eq!(message["value"], json!({"new_value": "porch"}));
    ws.send(reply(&message, json!("done")));
    let answer = bounded("the POST", post).await.expect("the task");
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json(), json!("done"));
    other.send("STOP-SEND-MESSAGES".into());
    assert_eq!(next(&mut other).await, "STOP-SEND-MESSAGES:ACK");
}

#[tokio::test]
async fn the_twin_wants_the_management_credentials() {
    let server = serve().await;
    let refused = session::connect(&ws_url(&server), None).await;
    assert!(
        matches!(refused, Err(SessionError::Refused { status: 401, .. })),
        "{refused:?}"
    );
    let wrong = BasicAuth {
        user: "ops".into(),
        password: "wrong".into(),
    };
    let refused = session::connect(&ws_url(&server), Some(&wrong)).await;
    assert!(matches!(
        refused,
        Err(SessionError::Refused { status: 401, .. })
    ));
    let mut c = Client::connect(server.local_addr).await;
    let anonymous = c
        .send(Method::GET, "/api/2/things/org.acme:gw1", &[], "")
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers.contains_key("www-authenticate"));
}

fn camera_gateway() -> GatewayRuntime {
    let def = |t: &str| edge::Definition::parse(t).expect("definition");
    let mut rt = GatewayRuntime::new("org.acme", "gw-ws").expect("runtime");
    let device = FunctionalItem::new("da:device:ZigBee:cam1", def("com.acme:Device:1.0.0"))
        .named("Front door camera")
        .writable("location", json!("porch"));
    let config = FunctionalItem::new(
        "da:item:Cameras:1:Configuration",
        def("com.acme:CameraConfig:1.0.0"),
    )
    .writable("resolution", json!("720p"));
    rt.add_edge_device(device, vec![config]).expect("device");
    rt
}

#[tokio::test]
async fn an_edge_gateway_syncs_and_applies_a_message_over_the_real_socket() {
    let server = serve().await;
    let mut ws = open(&server).await;
    let mut client = EdgeClient::new(camera_gateway(), EdgeConfig::default());
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut events = Vec::new();
    let pace = Pace {
        start: Instant::now(),
        scale: 1.0,
    };
    let synced = |_: &EdgeClient, ev: &[EdgeEvent]| {
        ev.iter().any(|e| matches!(e, EdgeEvent::TwinSynced { .. }))
    };
    let bound = Duration::from_secs(10);
    client.handle_session(pace.now(), true, &(), &mut rng, &mut events);
    let driven = session::drive(
        &mut client,
        &mut ws,
        edge::client::ALIAS,
        pace,
        &mut rng,
        &mut events,
        synced,
        bound,
    )
    .await;
    assert!(driven.done, "{driven:?} {events:?}");
    let thing = "org.acme:gw-ws:da:device:ZigBee:cam1";
    let got = http(
        &server,
        Method::GET,
        &format!("/api/2/things/{}", percent_encode(thing)),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    let expected = edge::twin(client.runtime());
    let mut json = got.json();
    json.as_object_mut().map(|m| m.remove("policyId"));
    assert_eq!(Some(&json), expected.get(thing));

    // A backend renames the camera's resolution through the twin.
    let addr = server.local_addr;
    let path = format!(
        "/api/2/things/{}/features/Configuration/inbox/messages/$set.configuration/resolution?timeout=20",
        percent_encode(thing)
    );
    let post = tokio::spawn(async move {
        let mut c = Client::connect(addr).await;
        let headers = [
            ("authorization", AUTH),
            ("content-type", "application/json"),
        ];
        let body = json!({"new_value": "4k"}).to_string();
        c.send(Method::POST, &path, &headers, body).await
    });
    let applied_and_synced = |c: &EdgeClient, ev: &[EdgeEvent]| {
        let applied = ev
            .iter()
            .any(|e| matches!(e, EdgeEvent::MessageApplied { .. }));
        applied && c.unanswered() == 0
    };
    let driven = session::drive(
        &mut client,
        &mut ws,
        edge::client::ALIAS,
        pace,
        &mut rng,
        &mut events,
        applied_and_synced,
        bound,
    )
    .await;
    assert!(driven.done, "{driven:?} {events:?}");
    let answer = bounded("the POST", post).await.expect("the task");
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    let property = format!(
        "/api/2/things/{}/features/Configuration/properties/configuration/resolution",
        percent_encode(thing)
    );
    let got = http(&server, Method::GET, &property).await;
    assert_eq!(got.json(), json!("4k"), "the device's change flowed back");
}

/// The twin's events are on serve's event stream (kind `twin_event`),
/// numbered below the `x-fleetsim-event-seq` the response frame of the
/// command that caused them carries in its Ditto headers.
#[tokio::test]
async fn twin_events_are_streamed_and_number_the_frames_after_them() {
    let server = serve().await;
    let mut ws = open(&server).await;
    subscribe_events(&mut ws).await;
    let answer = create(&mut ws, "org.acme:gw1").await;
    assert_eq!(answer["status"], 201, "{answer}");
    let seq = answer["headers"][SEQ_HEADER]
        .as_str()
        .and_then(|s| s.parse::<u64>().ok());
    let seq = seq.expect("the response frame is numbered");
    assert_eq!(frame_seq(&answer.to_string()), Some(seq));
    let stream = http(&server, Method::GET, "/fleetsim/events?from=0").await;
    assert_eq!(stream.status, StatusCode::OK);
    let (lines, bad) = parse_lines(&stream.body);
    assert_eq!(bad, 0);
    let twin: Vec<_> = lines
        .iter()
        .filter(|l| matches!(l.event, ServerSide::TwinEvent { .. }))
        .collect();
    assert_eq!(twin.len(), 1, "{lines:?}");
    assert!(twin[0].seq < seq, "the event comes before the frame");
    let event = twin[0].event.twin_envelope().expect("an event");
    assert_eq!(event.correlation_id(), Some("create-1"));
    assert_eq!(event.topic.thing_id(), "org.acme:gw1");
    assert_eq!(
        event.topic.criterion,
        Criterion::Events(EventAction::Created)
    );
    assert!(event.path.is_root());
}

/// Subscribes to events: the ACK is a control frame, not numbered.
async fn subscribe_events(ws: &mut Session) {
    ws.send("START-SEND-EVENTS".to_string());
    let ack = next(ws).await;
    assert_eq!(ack, "START-SEND-EVENTS:ACK");
    assert_eq!(frame_seq(&ack), None);
}
