//! Twin commands against a real Ditto's HTTP API v2, recorded: wiremock
//! answers as Eclipse Ditto does (bodies from eclipse-ditto/ditto
//! `documentation/src/main/resources/pages/ditto/protocol/examples/things/generated/exceptions/things_feature_notfound.md`
//! and `things/model/src/main/java/org/eclipse/ditto/things/model/signals/commands/exceptions/ThingPreconditionFailedException.java`;
//! 201/204 per ditto.md §2; 401 is nginx's HTML page), and
//! `fleetsim_io::ditto::http::DittoHttp` turns each answer into the
//! protocol response the edge client understands.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use fleetsim::http_client::Http;
use fleetsim_core::ditto::protocol::{CommandAction, Criterion, Envelope, Pointer};
use fleetsim_io::ditto::http::DittoHttp;
use fleetsim_io::ditto::session::BasicAuth;

const THING_PATH: &str = "/api/2/things/org.acme:gw1";

fn ditto(server: &MockServer) -> DittoHttp {
    let http = Http::new(Default::default(), true, None, Duration::from_secs(10)).expect("client");
    let auth = BasicAuth {
        user: "ditto".into(),
        password: "ditto".into(),
    };
    DittoHttp::new(http, server.uri(), Some(auth))
}

fn command(action: CommandAction, at: &str, value: Option<Value>) -> Envelope {
    let path = Pointer::parse(at).expect("pointer");
    Envelope::twin_command("org.acme:gw1", action, path, value, "gw1-1")
}

#[tokio::test]
async fn ditto_http_answers_become_protocol_responses() {
    let server = MockServer::start().await;
    let thing =
        json!({"thingId": "org.acme:gw1", "policyId": "org.acme:gw1", "attributes": {"a": 1}});
    Mock::given(method("PUT"))
        .and(path(THING_PATH))
        .and(header("authorization", "Basic ZGl0dG86ZGl0dG8="))
        .and(header("correlation-id", "gw1-1"))
        .respond_with(ResponseTemplate::new(201).set_body_json(thing.clone()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!(
            "{THING_PATH}/features/Cam_1/properties/status/on"
        )))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let not_found = json!({
        "status": 404,
        "error": "things:feature.notfound",
        "message": "The Feature with ID 'accelerometer' on the Thing with ID 'org.eclipse.ditto:fancy-thing' could not be found or the requester had insufficient permissions to access it.",
        "description": "Check if the ID of the Thing and the ID of your requested Feature was correct and you have sufficient permissions."
    });
    Mock::given(method("PUT"))
        .and(path(format!(
            "{THING_PATH}/features/accelerometer/properties/x"
        )))
        .respond_with(ResponseTemplate::new(404).set_body_json(not_found))
        .mount(&server)
        .await;
    let precondition = json!({
        "status": 412,
        "error": "things:precondition.failed",
        "message": "The comparison of precondition header 'if-none-match' for the requested Thing resource evaluated to false. Header value: '*', actual entity-tag: '\"rev:1\"'.",
        "description": "The comparison of the provided precondition header with the current ETag value of the requested Thing resource evaluated to false. Check the value of your conditional header value."
    });
    Mock::given(method("PUT"))
        .and(path("/api/2/things/org.acme:gw2"))
        .and(header("if-none-match", "*"))
        .respond_with(ResponseTemplate::new(412).set_body_json(precondition))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/2/things/org.acme:gw3"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("www-authenticate", "Basic realm=\"Basic ditto\"")
                .set_body_string(
                    "<html><head><title>401 Authorization Required</title></head></html>",
                ),
        )
        .mount(&server)
        .await;
    let d = ditto(&server);

    let created = command(
        CommandAction::Modify,
        "/",
        Some(json!({"attributes": {"a": 1}})),
    );
    let r = d.command(0, &created).await.expect("an answer");
    assert_eq!(r.status, Some(201));
    assert_eq!(r.value, Some(thing));
    assert_eq!(r.correlation_id(), Some("gw1-1"));
    assert_eq!(
        r.topic.criterion,
        Criterion::Commands(CommandAction::Modify)
    );

    let on = command(
        CommandAction::Modify,
        "/features/Cam_1/properties/status/on",
        Some(json!(true)),
    );
    let r = d.command(0, &on).await.expect("an answer");
    assert_eq!((r.status, r.value), (Some(204), None));

    let missing = command(
        CommandAction::Modify,
        "/features/accelerometer/properties/x",
        Some(json!(1)),
    );
    let r = d.command(0, &missing).await.expect("an answer");
    assert_eq!(r.topic.criterion, Criterion::Errors);
    assert_eq!(r.status, Some(404));
    assert_eq!(
        r.value.as_ref().map(|v| v["error"].clone()),
        Some(json!("things:feature.notfound"))
    );
    assert_eq!(r.path, Pointer::root());

    let path = Pointer::root();
    let create = Envelope::twin_command(
        "org.acme:gw2",
        CommandAction::Create,
        path.clone(),
        Some(json!({})),
        "c2",
    );
    let r = d.command(0, &create).await.expect("an answer");
    assert_eq!(r.status, Some(412));
    assert_eq!(
        r.value.as_ref().map(|v| v["error"].clone()),
        Some(json!("things:precondition.failed"))
    );

    let delete = Envelope::twin_command("org.acme:gw3", CommandAction::Delete, path, None, "c3");
    let r = d.command(0, &delete).await.expect("an answer");
    assert_eq!(r.status, Some(401));
    assert_eq!(
        r.value.as_ref().map(|v| v["error"].clone()),
        Some(json!("gateway:authentication.failed"))
    );
}
