//! One gateway end to end against the embedded twin service: first
//! connect, a backend's `$set.configuration` through the HTTP inbox, the
//! device's answer and its change flowing back into the twin, and a
//! twin-side write that never reaches the device (seed 002, "Setting a
//! property").

use serde_json::{json, Value};

use super::super::change::{diff, twin};
use super::super::envelope::handle_message;
use super::super::model::{FunctionalItem, GatewayRuntime};
use super::super::sync::TwinSync;
use super::def;
use crate::message::{percent_encode, Body, Method, Request, Response};
use crate::server::twin::{HttpAnswer, TwinConfig, TwinOutput, TwinService};
use crate::time::Time;

const THING: &str = "org.acme:gw%201:cam%2F1";

fn gateway() -> GatewayRuntime {
    let mut rt = GatewayRuntime::new("org.acme", "gw 1").expect("runtime");
    let device = FunctionalItem::new("cam/1", def("a:Camera:1")).named("cam");
    let config = FunctionalItem::new("da:item:Cameras:1:Configuration", def("a:Config:1"))
        .writable("resolution", json!("720p"));
    rt.add_edge_device(device, vec![config]).expect("device");
    rt
}

fn request(method: Method, rest: &str, body: &Value) -> Request {
    let url = format!(
        "http://twin/api/2/things/{}/features/Configuration/{rest}",
        percent_encode(THING)
    );
    let mut req = Request::new(method, url);
    req.headers.insert("content-type", "application/json");
    req.body = Body::Bytes(body.to_string().into_bytes().into());
    req
}

fn resolution(service: &TwinService) -> Value {
    let thing = service.thing(THING).expect("edge thing");
    thing.json["features"]["Configuration"]["properties"]["configuration"]["resolution"].clone()
}

/// Sends what the gateway hands out and drops the service's answers.
fn deliver(service: &mut TwinService, now: u64, changes: &[super::super::change::Change]) {
    for (i, change) in changes.iter().enumerate() {
        let env = super::super::envelope::to_envelope(change, &format!("g{now}-{i}"));
        service.handle_envelope(Time(now), &env);
    }
    while service.poll_output().is_some() {}
}

#[test]
fn a_set_configuration_reaches_the_device_once_and_flows_back() {
    let (mut rt, mut sync) = (gateway(), TwinSync::new(16));
    let mut service = TwinService::new(TwinConfig::default());
    deliver(&mut service, 1, &sync.connect(&rt));
    assert_eq!(resolution(&service), json!("720p"));

    let post = request(
        Method::Post,
        "inbox/messages/$set.configuration/resolution",
        &json!({"new_value": "4k"}),
    );
    let Some(HttpAnswer::Pending(id)) = service.handle_http(Time(2), &post) else {
        panic!("the inbox message waits for the gateway")
    };
    let Some(TwinOutput::LiveMessage(message)) = service.poll_output() else {
        panic!("a live message for the gateway")
    };
    let before = rt.clone();
    let handled = handle_message(&mut rt, &message);
    assert!(handled.changed);
    service.handle_envelope(Time(3), &handled.reply);
    let Some(TwinOutput::HttpReply {
        id: answered,
        response,
    }) = service.poll_output()
    else {
        panic!("the backend gets the device's answer")
    };
    assert_eq!((answered, response.status), (id, 204));
    assert_eq!(
        resolution(&service),
        json!("720p"),
        "the twin changes only when the device reports"
    );
    deliver(&mut service, 4, &sync.changed(diff(&before, &rt)));
    assert_eq!(resolution(&service), json!("4k"));
    assert!(
        service.poll_output().is_none(),
        "the device got the command once"
    );
}

#[test]
fn a_twin_side_write_is_not_pushed_to_the_device() {
    let (rt, mut sync) = (gateway(), TwinSync::new(16));
    let mut service = TwinService::new(TwinConfig::default());
    deliver(&mut service, 1, &sync.connect(&rt));
    let put = request(
        Method::Put,
        "properties/configuration/resolution",
        &json!("8k"),
    );
    let Some(HttpAnswer::Ready(Response { status, .. })) = service.handle_http(Time(2), &put)
    else {
        panic!("a PUT is answered at once")
    };
    assert_eq!(status, 204);
    let outputs: Vec<TwinOutput> = std::iter::from_fn(|| service.poll_output()).collect();
    assert!(
        !outputs
            .iter()
            .any(|o| matches!(o, TwinOutput::LiveMessage(_))),
        "{outputs:?}"
    );
    assert_eq!(resolution(&service), json!("8k"));
    assert_eq!(
        rt.item("da:item:Cameras:1:Configuration")
            .map(|fi| &fi.writable["resolution"]),
        Some(&json!("720p"))
    );
    let device_view =
        &twin(&rt)[THING]["features"]["Configuration"]["properties"]["configuration"]["resolution"];
    assert_eq!(
        device_view,
        &json!("720p"),
        "the gateway's mapping still says 720p"
    );
}
