//! Rows: media types (ddi.md §0) — CBOR documents and bodies on every DDI
//! resource, 406 for an `Accept` hawkBit does not produce, 415 for a body
//! type it does not consume. The CBOR rows of the other areas (root,
//! deployment, installed, cancel, config) live here too, named in each
//! test's comment.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::hawkbit_http::{
    assign_set, closed, create_target, module_and_set, path_of, serve_with_gateway_token, Answer,
    Client, GATEWAY,
};

const CBOR: &str = "application/cbor";

fn to_cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).expect("CBOR encodes");
    out
}

/// The CBOR body of `a`, read into a JSON value; the answer must say CBOR.
fn cbor(a: &Answer) -> Value {
    let media = a.headers.get("content-type").and_then(|v| v.to_str().ok());
    assert_eq!(media, Some(CBOR), "{:?}", a.headers);
    ciborium::from_reader(&a.body[..]).expect("a CBOR body")
}

/// A DDI GET asking for CBOR.
async fn get_cbor(c: &mut Client, path: &str) -> Answer {
    let headers = [("authorization", GATEWAY), ("accept", CBOR)];
    c.send(Method::GET, path, &headers, "").await
}

/// A DDI request with a CBOR body.
async fn send_cbor(c: &mut Client, method: Method, path: &str, body: &Value) -> Answer {
    let headers = [("authorization", GATEWAY), ("content-type", CBOR)];
    c.send(method, path, &headers, to_cbor(body)).await
}

/// Registers `cid`, assigns a fresh set to it (forced) and returns the
/// path of the deploymentBase link the device is offered, and the module id.
async fn assigned(c: &mut Client, cid: &str, version: &str) -> (String, u64) {
    create_target(c, cid, true).await;
    let (sm, ds) = module_and_set(c, version, b"cbor firmware bytes").await;
    assign_set(c, ds, json!([{ "id": cid, "type": "forced" }])).await;
    let root = c.root(cid).await;
    let href = root["_links"]["deploymentBase"]["href"]
        .as_str()
        .expect("deploymentBase link");
    (path_of(href), sm)
}

/// Row `root::cbor_root` — `DdiRootControllerTest.rootPollResourceCbor`:
/// `Accept: application/cbor` on the root → 200 `application/cbor`, the
/// same document as the JSON one, with an ETag that a conditional request
/// answers 304.
#[tokio::test]
async fn cbor_root() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let path = "/DEFAULT/controller/v1/dev-cbor-root";
    let a = get_cbor(&mut c, path).await;
    assert_eq!(a.status, StatusCode::OK);
    let doc = cbor(&a);
    assert_eq!(doc, c.root("dev-cbor-root").await);
    let etag = a.headers.get("etag").and_then(|v| v.to_str().ok());
    let etag = etag.expect("an ETag").to_string();
    let headers = [
        ("authorization", GATEWAY),
        ("accept", CBOR),
        ("if-none-match", etag.as_str()),
    ];
    let again = c.send(Method::GET, path, &headers, "").await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
}

/// Row `media::not_acceptable` — ddi.md §0 (DDI GETs produce HAL-JSON, JSON
/// and CBOR only): `Accept: text/plain` → 406 on the root and on an action.
/// The check is the conform catalogue's `DDI-MEDIA-001`.
#[tokio::test]
async fn not_acceptable() {
    crate::conform::case_passes("DDI-MEDIA-001").await;
}

/// Row `media::unsupported_body` — ddi.md §0 (DDI bodies are JSON or CBOR):
/// feedback and configData with `Content-Type: text/plain` → 415.
/// The check is the conform catalogue's `DDI-MEDIA-003`.
#[tokio::test]
async fn unsupported_body() {
    crate::conform::case_passes("DDI-MEDIA-003").await;
}

/// Row `deployment::cbor` — `DdiDeploymentBaseTest.deploymentResourceCbor`:
/// the deploymentBase and the module's artifact list in CBOR → 200, and a
/// CBOR feedback → 200 that closes the action.
#[tokio::test]
async fn deployment_cbor() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let (deployment, sm) = assigned(&mut c, "dev-cbor-dep", "1.0").await;
    let a = get_cbor(&mut c, &deployment).await;
    assert_eq!(a.status, StatusCode::OK);
    let doc = cbor(&a);
    let id = doc["id"].as_str().expect("action id").to_string();
    assert_eq!(doc["deployment"]["download"], "forced");
    let list = format!("/DEFAULT/controller/v1/dev-cbor-dep/softwaremodules/{sm}/artifacts");
    let a = get_cbor(&mut c, &list).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(cbor(&a)[0]["filename"], "fw.bin");
    let feedback = format!("/DEFAULT/controller/v1/dev-cbor-dep/deploymentBase/{id}/feedback");
    let a = send_cbor(&mut c, Method::POST, &feedback, &closed("success")).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let (_, action) = c
        .mgmt(
            Method::GET,
            &format!("/targets/dev-cbor-dep/actions/{id}"),
            None,
        )
        .await;
    assert_eq!(action["status"], "finished");
}

/// Row `installed::cbor` — `DdiInstalledBaseTest.installedBaseResourceCbor`:
/// the installedBase of a finished action in CBOR → 200 with its id.
#[tokio::test]
async fn installed_cbor() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let (deployment, _) = assigned(&mut c, "dev-cbor-inst", "1.0").await;
    let id = c.ddi(Method::GET, &deployment, &[], None).await.json()["id"]
        .as_str()
        .expect("id")
        .to_string();
    let feedback = format!("/DEFAULT/controller/v1/dev-cbor-inst/deploymentBase/{id}/feedback");
    let a = c
        .ddi(Method::POST, &feedback, &[], Some(closed("success")))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let root = c.root("dev-cbor-inst").await;
    let href = root["_links"]["installedBase"]["href"]
        .as_str()
        .expect("installedBase link");
    let a = get_cbor(&mut c, &path_of(href)).await;
    assert_eq!(a.status, StatusCode::OK);
    let doc = cbor(&a);
    assert_eq!(doc["id"], id.as_str());
    assert_eq!(
        doc["deployment"]["chunks"][0]["artifacts"][0]["filename"],
        "fw.bin"
    );
}

/// Row `cancel::cbor` — `DdiCancelActionTest.cancelActionCbor`: the
/// cancelAction document in CBOR carries `id` and `cancelAction.stopId`,
/// and a CBOR cancel feedback → 200 cancels the action.
#[tokio::test]
async fn cancel_cbor() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let (deployment, _) = assigned(&mut c, "dev-cbor-cancel", "1.0").await;
    let id = c.ddi(Method::GET, &deployment, &[], None).await.json()["id"]
        .as_str()
        .expect("id")
        .to_string();
    let path = format!("/targets/dev-cbor-cancel/actions/{id}");
    assert_eq!(
        c.mgmt(Method::DELETE, &path, None).await.0,
        StatusCode::NO_CONTENT
    );
    let cancel = format!("/DEFAULT/controller/v1/dev-cbor-cancel/cancelAction/{id}");
    let a = get_cbor(&mut c, &cancel).await;
    assert_eq!(a.status, StatusCode::OK);
    let doc = cbor(&a);
    assert_eq!(
        (doc["id"].as_str(), doc["cancelAction"]["stopId"].as_str()),
        (Some(id.as_str()), Some(id.as_str()))
    );
    let fb = format!("{cancel}/feedback");
    let a = send_cbor(&mut c, Method::POST, &fb, &closed("success")).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let (_, action) = c.mgmt(Method::GET, &path, None).await;
    assert_eq!(action["status"], "canceled");
}

/// Row `config::cbor` — `DdiConfigDataTest.putConfigDataAsCbor`: a CBOR
/// configData body → 200 and the attributes are stored.
#[tokio::test]
async fn config_cbor() {
    let (_server, mut c) = serve_with_gateway_token().await;
    c.root("dev-cbor-cfg").await;
    let body = json!({ "mode": "merge", "data": { "hwRevision": "2", "serial": "A-42" } });
    let path = "/DEFAULT/controller/v1/dev-cbor-cfg/configData";
    let a = send_cbor(&mut c, Method::PUT, path, &body).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let (st, attrs) = c
        .mgmt(Method::GET, "/targets/dev-cbor-cfg/attributes", None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        (attrs["hwRevision"].as_str(), attrs["serial"].as_str()),
        (Some("2"), Some("A-42"))
    );
    // A body that is not CBOR although it says so → 400 with hawkBit's JSON error.
    let headers = [("authorization", GATEWAY), ("content-type", CBOR)];
    let a = c.send(Method::PUT, path, &headers, "{\"data\":").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.json()["errorCode"],
        "hawkbit.server.error.rest.body.notReadable"
    );
}
