//! Rows: `cancelAction` — a rejected cancel lets the deployment go on, and
//! the cancel feedback resource's refusals.

use http::{Method, StatusCode};
use serde_json::json;

use super::multi::{action, assign, get, post, set, target_set, update_status};
use crate::hawkbit_http::{closed, serve_with_gateway_token, GATEWAY};

/// `DdiCancelActionTest.rootRsCancelActionButContinueAnyway`: the device
/// rejects the cancel, fetches the deployment anyway (forced/forced) and
/// finishes it; the set is then assigned and installed.
#[tokio::test]
async fn rejected_continue() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let cid = "cancel-continue";
    c.root(cid).await;
    let ds = set(&mut c, "1", false).await;
    let a = assign(&mut c, cid, ds, "forced").await.expect("assigned");
    let path = format!("/targets/{cid}/actions/{a}");
    assert_eq!(
        c.mgmt(Method::DELETE, &path, None).await.0,
        StatusCode::NO_CONTENT
    );
    let rejected =
        json!({ "status": { "execution": "rejected", "result": { "finished": "none" } } });
    let fb = format!("cancelAction/{a}/feedback");
    assert_eq!(post(&mut c, cid, &fb, rejected).await, StatusCode::OK);
    let got = action(&mut c, cid, a).await;
    assert_eq!(
        (got["active"].clone(), got["status"].clone()),
        (json!(true), json!("running"))
    );

    let (st, doc) = get(&mut c, cid, &format!("deploymentBase/{a}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(doc["id"], a.to_string());
    assert_eq!(
        (
            doc["deployment"]["download"].clone(),
            doc["deployment"]["update"].clone()
        ),
        (json!("forced"), json!("forced"))
    );
    let none = json!({ "status": { "execution": "closed", "result": { "finished": "none" }, "details": ["message"] } });
    assert_eq!(
        post(&mut c, cid, &format!("deploymentBase/{a}/feedback"), none).await,
        StatusCode::OK
    );
    assert_eq!(target_set(&mut c, cid, "assignedDS").await, Some(ds));
    assert_eq!(target_set(&mut c, cid, "installedDS").await, Some(ds));
    assert_eq!(update_status(&mut c, cid).await, "in_sync");
}

/// `DdiCancelActionTest.badCancelActionFeedback` (wrong methods 405, wrong
/// body type 415, unreadable body 400, unknown target 404, then accepted) and
/// `JpaControllerManagement.addCancelActionStatus`: cancel feedback on an
/// action that is not being canceled is refused 405 `notCancelable`.
#[tokio::test]
async fn not_canceling_405() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let cid = "cancel-bad";
    c.root(cid).await;
    let ds = set(&mut c, "1", false).await;
    let a = assign(&mut c, cid, ds, "forced").await.expect("assigned");
    let fb = format!("/DEFAULT/controller/v1/{cid}/cancelAction/{a}/feedback");
    let refused = c.ddi(Method::POST, &fb, &[], Some(closed("success"))).await;
    assert_eq!(refused.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        refused.json()["errorCode"],
        "hawkbit.server.error.action.notCancelable"
    );

    let path = format!("/targets/{cid}/actions/{a}");
    assert_eq!(
        c.mgmt(Method::DELETE, &path, None).await.0,
        StatusCode::NO_CONTENT
    );
    for method in [Method::PUT, Method::DELETE, Method::GET] {
        let st = c
            .ddi(method.clone(), &fb, &[], Some(closed("success")))
            .await
            .status;
        assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    let body = closed("success").to_string();
    let atom = [
        ("authorization", GATEWAY),
        ("content-type", "application/atom+xml"),
    ];
    let st = c.send(Method::POST, &fb, &atom, body).await.status;
    assert_eq!(st, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let bad = r#"{"status":{"execution":"546456456","result":{"finished":"none","progress":{"cnt":2,"of":5}},"details":"none"]}}"#;
    let json_headers = [
        ("authorization", GATEWAY),
        ("content-type", "application/json"),
    ];
    let st = c.send(Method::POST, &fb, &json_headers, bad).await.status;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let other = format!("/DEFAULT/controller/v1/12345/cancelAction/{a}/feedback");
    let st = c
        .ddi(Method::POST, &other, &[], Some(closed("success")))
        .await
        .status;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let ok = c
        .ddi(Method::POST, &fb, &[], Some(closed("success")))
        .await
        .status;
    assert_eq!(ok, StatusCode::OK);
    assert_eq!(action(&mut c, cid, a).await["status"], "canceled");
}
