//! CBOR through the DDI surface (ddi.md §0): every GET document answers
//! `application/cbor` when asked, with the same content as the JSON one and
//! its own ETag; feedback and configData bodies are read as CBOR; other
//! media types are 406 / 415; error bodies stay JSON.

use serde_json::Value;

use crate::message::{Body, Headers, Method, Request, Response};
use crate::time::Span;

use super::super::test_support::{json, CID, FILE, H};
use super::super::{ActionStatus, ActionType, Fault, FaultWindow};
use super::CBOR;

/// The CBOR body of `r`, read into a JSON value.
fn cbor(r: &Response) -> Value {
    assert_eq!(r.headers.get("content-type"), Some(CBOR), "{r:?}");
    ciborium::from_reader(r.body.as_bytes()).expect("cbor body")
}

fn cbor_bytes(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).expect("encode");
    out
}

/// A request to `{base}{rest}` with a CBOR body.
fn cbor_request(method: Method, rest: &str, v: &Value) -> Request {
    Request {
        method,
        url: H::url(rest),
        headers: Headers::new().with("content-type", CBOR),
        body: Body::Bytes(cbor_bytes(v).into()),
    }
}

#[test]
fn every_document_answers_cbor_with_the_json_content() {
    let mut h = H::new();
    let a = h.assign(ActionType::Forced);
    let deployment = format!("/deploymentBase/{a}");
    for path in ["", deployment.as_str(), "/softwaremodules/1/artifacts"] {
        let as_json = json(&h.get(path));
        let r = h.get_with(path, "accept", CBOR);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(cbor(&r), as_json, "{path}");
        let etag = r.headers.get("etag").expect("etag").to_string();
        let again = h.get_with(path, "accept", CBOR);
        assert_eq!(again.headers.get("etag"), Some(etag.as_str()), "{path}");
        let mut conditional = Request::new(Method::Get, H::url(path));
        conditional.headers.insert("accept", CBOR);
        conditional.headers.insert("if-none-match", etag);
        let nm = h.send(conditional);
        assert_eq!((nm.status, nm.body.is_empty()), (304, true), "{path}");
    }
    // The same document has another ETag in another encoding.
    let j = h.get(&deployment);
    let c = h.get_with(&deployment, "accept", CBOR);
    assert_ne!(j.headers.get("etag"), c.headers.get("etag"));
}

#[test]
fn cbor_feedback_moves_the_action_and_cbor_documents_follow() {
    let mut h = H::new();
    let a = h.assign(ActionType::Soft);
    let fb =
        serde_json::json!({"status": {"execution": "closed", "result": {"finished": "success"}}});
    let r = h.send(cbor_request(
        Method::Post,
        &format!("/deploymentBase/{a}/feedback"),
        &fb,
    ));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(h.s.action_status(CID, a), Some(ActionStatus::Finished));
    let installed = h.get_with(&format!("/installedBase/{a}"), "accept", CBOR);
    assert_eq!(cbor(&installed)["id"], a.to_string());

    let b = h.assign(ActionType::Soft);
    assert!(h.s.cancel(h.now, CID, b, false));
    let doc = cbor(&h.get_with(&format!("/cancelAction/{b}"), "accept", CBOR));
    assert_eq!(
        (&doc["id"], &doc["cancelAction"]["stopId"]),
        (&Value::from(b.to_string()), &Value::from(b.to_string()))
    );
    let r = h.send(cbor_request(
        Method::Post,
        &format!("/cancelAction/{b}/feedback"),
        &fb,
    ));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(h.s.action_status(CID, b), Some(ActionStatus::Canceled));
}

#[test]
fn cbor_config_data_is_stored() {
    let mut h = H::new();
    let body = serde_json::json!({"data": {"hw": "rev2", "sn": "42"}, "mode": "merge"});
    let r = h.send(cbor_request(Method::Put, "/configData", &body));
    assert_eq!(r.status, 200, "{r:?}");
    let attrs = h.s.attributes(CID).expect("target");
    assert!(attrs.contains(&("hw".into(), "rev2".into())), "{attrs:?}");
    assert!(attrs.contains(&("sn".into(), "42".into())), "{attrs:?}");
}

#[test]
fn unreadable_cbor_is_400_with_a_json_error_body() {
    let mut h = H::new();
    let mut req = cbor_request(Method::Put, "/configData", &Value::Null);
    req.body = Body::Bytes(b"{\"data\":{}}".to_vec().into());
    let r = h.send(req);
    assert_eq!(r.status, 400);
    assert_eq!(r.headers.get("content-type"), Some("application/json"));
    assert_eq!(
        json(&r)["errorCode"],
        "hawkbit.server.error.rest.body.notReadable"
    );
    // An error answered to a CBOR request is JSON too.
    let r = h.get_with("/deploymentBase/99", "accept", CBOR);
    assert_eq!(r.status, 404);
    assert_eq!(r.headers.get("content-type"), Some("application/json"));
}

#[test]
fn other_media_types_are_406_and_415() {
    let mut h = H::new();
    assert_eq!(h.get_with("", "accept", "text/plain").status, 406);
    let a = h.assign(ActionType::Soft);
    let path = format!("/deploymentBase/{a}");
    assert_eq!(h.get_with(&path, "accept", "application/xml").status, 406);
    let mut req = cbor_request(Method::Post, &format!("{path}/feedback"), &Value::Null);
    req.headers = Headers::new().with("content-type", "text/plain");
    assert_eq!(h.send(req).status, 415);
    // Downloads are octet streams whatever the Accept says.
    let file = h.get_with(
        &format!("/softwaremodules/1/artifacts/{FILE}"),
        "accept",
        CBOR,
    );
    assert_eq!(file.status, 200);
    assert_eq!(
        file.headers.get("content-type"),
        Some("application/octet-stream")
    );
}

#[test]
fn broken_mode_answers_cbor_requests_with_json() {
    let mut h = H::new();
    h.s.set_faults(vec![FaultWindow {
        from: h.now,
        until: h.now + Span::hours(1),
        fault: Fault::CborAnsweredAsJson,
    }]);
    let r = h.get_with("", "accept", CBOR);
    assert_eq!(r.headers.get("content-type"), Some("application/hal+json"));
    assert!(serde_json::from_slice::<Value>(r.body.as_bytes()).is_ok());
    h.advance(Span::hours(1));
    let r = h.get_with("", "accept", CBOR);
    assert_eq!(r.headers.get("content-type"), Some(CBOR));
}
