//! Rows: the root resource — media type by default, controller-id length,
//! plug and play, `If-None-Match`.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::feedback::{assign, first_action};
use crate::hawkbit_http::{closed, module_and_set, serve_with_gateway_token, Client};

/// `DdiRootControllerTest.apiReturnsJSONByDefault`: no `Accept` header gets
/// `application/hal+json`.
/// The check is the conform catalogue's `DDI-ROOT-001`.
#[tokio::test]
async fn json_by_default() {
    crate::conform::case_passes("DDI-ROOT-001").await;
}

/// `DdiRootControllerTest.rootRsWithInvalidControllerId`: a controller id
/// longer than 256 characters is refused with 400 (and nothing is created).
#[tokio::test]
async fn long_id_400() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let id = "x".repeat(257);
    let a = c
        .ddi(
            Method::GET,
            &format!("/DEFAULT/controller/v1/{id}"),
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let (st, _) = c.mgmt(Method::GET, &format!("/targets/{id}"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "no target was created");
}

/// `DdiRootControllerTest.rootRsPlugAndPlay`: an unknown controller id's
/// first poll registers it (REGISTERED) and answers HAL-JSON with the
/// polling time; POST, PUT and DELETE on the root are 405.
#[tokio::test]
async fn plug_and_play() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let (st, _) = c.mgmt(Method::GET, "/targets/4711", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let a = c
        .ddi(Method::GET, "/DEFAULT/controller/v1/4711", &[], None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let media = a.headers.get("content-type").and_then(|v| v.to_str().ok());
    assert_eq!(media, Some("application/hal+json"));
    assert_eq!(a.json()["config"]["polling"]["sleep"], "00:05:00");
    let (st, t) = c.mgmt(Method::GET, "/targets/4711", None).await;
    assert_eq!(st, StatusCode::OK, "{t}");
    assert_eq!(t["updateStatus"], "registered", "{t}");
    assert!(t["pollStatus"]["lastRequestAt"].is_u64(), "{t}");
    for m in [Method::POST, Method::PUT, Method::DELETE] {
        let a = c
            .ddi(m.clone(), "/DEFAULT/controller/v1/4711", &[], None)
            .await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{m}");
    }
}

async fn root_with(c: &mut Client, etag: &str) -> (StatusCode, String, Value) {
    let a = c
        .ddi(
            Method::GET,
            "/DEFAULT/controller/v1/4711",
            &[("if-none-match", etag), ("accept", "application/json")],
            None,
        )
        .await;
    let tag = a
        .headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = if a.status == StatusCode::OK {
        a.json()
    } else {
        assert!(a.body.is_empty(), "304 has no body");
        Value::Null
    };
    (a.status, tag, body)
}

/// `DdiRootControllerTest.rootRsNotModified`: the root's ETag answers a
/// matching `If-None-Match` with 304; an assignment, then the install,
/// change the document (deploymentBase, then installedBase) and so the tag.
#[tokio::test]
async fn not_modified() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let first = c
        .ddi(Method::GET, "/DEFAULT/controller/v1/4711", &[], None)
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.json()["_links"]["deploymentBase"].is_null());
    let etag = first.headers["etag"].to_str().expect("ascii").to_string();
    let (st, _, _) = root_with(&mut c, &etag).await;
    assert_eq!(st, StatusCode::NOT_MODIFIED);

    let (_, ds) = module_and_set(&mut c, "1.0", b"firmware").await;
    assign(&mut c, ds, json!({ "id": "4711", "type": "forced" })).await;
    let action = first_action(&mut c, "4711").await;
    let (st, with_update, doc) = root_with(&mut c, &etag).await;
    assert_eq!(st, StatusCode::OK);
    assert!(doc["_links"]["installedBase"].is_null(), "{doc}");
    let href = doc["_links"]["deploymentBase"]["href"]
        .as_str()
        .expect("deploymentBase");
    assert!(
        href.contains(&format!("/controller/v1/4711/deploymentBase/{action}")),
        "{href}"
    );
    let (st, _, _) = root_with(&mut c, &with_update).await;
    assert_eq!(st, StatusCode::NOT_MODIFIED);

    let fb = format!("/DEFAULT/controller/v1/4711/deploymentBase/{action}/feedback");
    let a = c.ddi(Method::POST, &fb, &[], Some(closed("success"))).await;
    assert_eq!(a.status, StatusCode::OK);
    let (st, _, doc) = root_with(&mut c, &etag).await;
    assert_eq!(st, StatusCode::OK);
    assert!(doc["_links"]["deploymentBase"].is_null(), "{doc}");
    let installed = doc["_links"]["installedBase"]["href"]
        .as_str()
        .expect("installedBase");
    assert!(installed.ends_with(&format!("/controller/v1/4711/installedBase/{action}")));
}
