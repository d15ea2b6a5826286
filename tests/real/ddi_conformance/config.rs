//! Rows: `configData` — when the root asks for it, the update modes, and the
//! limits on attributes (`DdiConfigDataTest`, `DdiRootControllerTest`).

use http::{Method, StatusCode};
use serde_json::{json, Map, Value};

use super::feedback::{assign, first_action, target};
use crate::hawkbit_http::{closed, module_and_set, serve_with_gateway_token, Client, GATEWAY};

fn config_path(cid: &str) -> String {
    format!("/DEFAULT/controller/v1/{cid}/configData")
}

async fn put_config(c: &mut Client, cid: &str, body: Value) -> crate::hawkbit_http::Answer {
    c.ddi(Method::PUT, &config_path(cid), &[], Some(body)).await
}

async fn asks_config(c: &mut Client, cid: &str) -> Option<String> {
    let root = c.root(cid).await;
    root["_links"]["configData"]["href"]
        .as_str()
        .map(String::from)
}

async fn attributes(c: &mut Client, cid: &str) -> Map<String, Value> {
    let (st, v) = c
        .mgmt(Method::GET, &format!("/targets/{cid}/attributes"), None)
        .await;
    match st {
        StatusCode::NO_CONTENT => Map::new(),
        StatusCode::OK => v.as_object().cloned().unwrap_or_default(),
        other => panic!("attributes: {other} {v}"),
    }
}

/// `DdiRootControllerTest.attributeUpdateRequestSendingAfterSuccessfulDeployment`:
/// a new target is asked for configData; after a PUT it is not; a failed
/// deployment does not ask again, a successful one does.
#[tokio::test]
async fn requested_after_success() {
    let (_server, mut c) = serve_with_gateway_token().await;
    target(&mut c, "922").await;
    assert!(asks_config(&mut c, "922").await.is_some(), "new target");
    let a = put_config(
        &mut c,
        "922",
        json!({ "data": { "AttributeKey": "AttributeValue" } }),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(asks_config(&mut c, "922").await.is_none(), "after the PUT");
    let (_, ds) = module_and_set(&mut c, "1", b"firmware").await;
    for (finished, asks) in [("failure", false), ("success", true)] {
        assign(&mut c, ds, json!({ "id": "922", "type": "forced" })).await;
        let action = first_action(&mut c, "922").await;
        let fb = format!("/DEFAULT/controller/v1/922/deploymentBase/{action}/feedback");
        let a = c.ddi(Method::POST, &fb, &[], Some(closed(finished))).await;
        assert_eq!(a.status, StatusCode::OK, "{finished}");
        assert_eq!(
            asks_config(&mut c, "922").await.is_some(),
            asks,
            "after {finished}"
        );
    }
}

/// `DdiConfigDataTest.requestConfigDataIfEmpty`: the root links
/// `…/{cid}/configData` until attributes are stored, then no more.
#[tokio::test]
async fn requested_once() {
    let (server, mut c) = serve_with_gateway_token().await;
    target(&mut c, "4712").await;
    let href = asks_config(&mut c, "4712").await.expect("configData asked");
    let want = format!(
        "http://{}/DEFAULT/controller/v1/4712/configData",
        server.local_addr
    );
    assert_eq!(href, want);
    let a = put_config(&mut c, "4712", json!({ "data": { "dsafsdf": "sdsds" } })).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(asks_config(&mut c, "4712").await.is_none());
}

/// `DdiConfigDataTest.putConfigDataWithDifferentUpdateModes`: no mode
/// (merge into nothing), `replace`, `merge`, `remove`, and an unknown mode 400.
#[tokio::test]
async fn modes() {
    let (_server, mut c) = serve_with_gateway_token().await;
    target(&mut c, "4717").await;
    let steps = [
        (
            json!({ "data": { "k0": "v0", "k1": "v1" } }),
            json!({ "k0": "v0", "k1": "v1" }),
        ),
        (
            json!({ "mode": "replace", "data": { "k1": "v1_modified", "k2": "v2", "k3": "v3" } }),
            json!({ "k1": "v1_modified", "k2": "v2", "k3": "v3" }),
        ),
        (
            json!({ "mode": "merge", "data": { "k1": "v1_modified_again", "k4": "v4" } }),
            json!({ "k1": "v1_modified_again", "k2": "v2", "k3": "v3", "k4": "v4" }),
        ),
        (
            json!({ "mode": "remove", "data": { "k1": "foo", "k3": "bar" } }),
            json!({ "k2": "v2", "k4": "v4" }),
        ),
    ];
    for (body, want) in steps {
        let a = put_config(&mut c, "4717", body.clone()).await;
        assert_eq!(a.status, StatusCode::OK, "{body}");
        assert_eq!(
            Value::Object(attributes(&mut c, "4717").await),
            want,
            "{body}"
        );
    }
    let bad = json!({ "mode": "KJHGKJHGKJHG", "data": { "k0": "v0", "k1": "v1" } });
    assert_eq!(
        put_config(&mut c, "4717", bad).await.status,
        StatusCode::BAD_REQUEST
    );
}

/// `DdiConfigDataTest.putTooMuchConfigData`, `putConfigDataWithInvalidAttributes`
/// and `badConfigData`: 100 attributes fit, one more is 429 (quota); a key or
/// value over 128 characters is 400 `invalidTargetAttributes`; POST/GET/DELETE
/// are 405, a HAL-JSON body 415, an unknown target 404, a body without
/// `data` 400.
#[tokio::test]
async fn limits() {
    let (_server, mut c) = serve_with_gateway_token().await;
    target(&mut c, "4712").await;
    target(&mut c, "4718").await;
    let many: Map<String, Value> = (0..100)
        .map(|i| (format!("dsafsdf{i}"), json!(format!("sdsds{i}"))))
        .collect();
    let a = put_config(&mut c, "4712", json!({ "data": many })).await;
    assert_eq!(a.status, StatusCode::OK);
    let a = put_config(
        &mut c,
        "4712",
        json!({ "data": { "on too many": "sdsds" } }),
    )
    .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    let e = a.json();
    assert_eq!(
        e["errorCode"], "hawkbit.server.error.quota.tooManyEntries",
        "{e}"
    );
    assert_eq!(
        e["exceptionClass"],
        "org.eclipse.hawkbit.repository.exception.AssignmentQuotaExceededException"
    );

    let long = "a".repeat(129);
    for data in [json!({ long.clone(): "v" }), json!({ "k": long })] {
        let a = put_config(&mut c, "4718", json!({ "data": data })).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        let e = a.json();
        assert_eq!(
            e["errorCode"], "hawkbit.server.error.repo.invalidTargetAttributes",
            "{e}"
        );
        assert_eq!(
            e["exceptionClass"],
            "org.eclipse.hawkbit.repository.exception.InvalidTargetAttributeException"
        );
    }

    for m in [Method::POST, Method::GET, Method::DELETE] {
        let a = c.ddi(m.clone(), &config_path("4718"), &[], None).await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{m}");
    }
    let hal = [
        ("authorization", GATEWAY),
        ("content-type", "application/hal+json"),
    ];
    let body = json!({ "data": { "dsafsdf": "sdsds" } }).to_string();
    let a = c
        .send(Method::PUT, &config_path("4718"), &hal, body.clone())
        .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let a = c
        .ddi(
            Method::PUT,
            &config_path("456456"),
            &[],
            Some(json!({ "data": { "dsafsdf": "sdsds" } })),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "unknown target");
    let a = put_config(&mut c, "4718", json!({ "id": "51659181" })).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "no data");
}
