//! Rows: the Management API shapes the DDI rows read — the feedback `code`
//! in an action's status history and as its `lastStatusCode`; a target's
//! security token replaced through the Management API.

use http::{Method, StatusCode};
use serde_json::json;

use super::multi::{action, assign, entries, post, set};
use crate::hawkbit_http::serve_with_gateway_token;

/// `MgmtTargetMapper.toResponse` (`lastStatusCode`, `active`, `status` =
/// lower-case `Action.Status`) and `toResponse(ActionStatus)` (`code`);
/// `ControllerManagementTest.lastActionStatusCodeIsSet`: each deployment
/// feedback replaces the last code, a feedback without one clears it.
#[tokio::test]
async fn last_status_code() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let cid = "mgmt-code";
    c.root(cid).await;
    let ds = set(&mut c, "1", false).await;
    let a = assign(&mut c, cid, ds, "forced").await.expect("assigned");
    let before = action(&mut c, cid, a).await;
    assert_eq!(
        (before["active"].clone(), before["status"].clone()),
        (json!(true), json!("running"))
    );
    assert!(before.get("lastStatusCode").is_none(), "{before}");
    assert!(before.get("detailStatus").is_none(), "{before}");

    let fb = format!("deploymentBase/{a}/feedback");
    let with = |code: Option<i64>| {
        let mut v =
            json!({ "status": { "execution": "proceeding", "result": { "finished": "none" } } });
        if let Some(code) = code {
            v["status"]["code"] = json!(code);
        }
        v
    };
    assert_eq!(post(&mut c, cid, &fb, with(Some(42))).await, StatusCode::OK);
    assert_eq!(action(&mut c, cid, a).await["lastStatusCode"], 42);
    let newest = entries(&mut c, cid, a).await.pop().expect("entry");
    assert_eq!(
        (newest["type"].clone(), newest["code"].clone()),
        (json!("running"), json!(42))
    );
    assert_eq!(
        newest["messages"],
        json!([
            "Target reported PROCEEDING",
            "Device reported status code: 42"
        ])
    );

    assert_eq!(post(&mut c, cid, &fb, with(None)).await, StatusCode::OK);
    assert!(action(&mut c, cid, a).await.get("lastStatusCode").is_none());
    let newest = entries(&mut c, cid, a).await.pop().expect("entry");
    assert!(newest.get("code").is_none(), "{newest}");

    let closed = json!({ "status": { "execution": "closed", "result": { "finished": "failure" }, "code": 500 } });
    assert_eq!(post(&mut c, cid, &fb, closed).await, StatusCode::OK);
    let after = action(&mut c, cid, a).await;
    assert_eq!(
        (
            after["active"].clone(),
            after["status"].clone(),
            after["lastStatusCode"].clone()
        ),
        (json!(false), json!("error"), json!(500))
    );
}

/// `MgmtTargetResource.updateTarget` (`PUT /rest/v1/targets/{id}` with
/// `securityToken`) and ddi.md §2: once the token is replaced, the device's
/// `TargetToken` must be the new one; the old one is 401. An unknown target
/// is 404.
#[tokio::test]
async fn update_target_token() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let config = json!({ "authentication.targettoken.enabled": true });
    let (st, _) = c.mgmt(Method::PUT, "/system/configs", Some(config)).await;
    assert_eq!(st, StatusCode::OK);
    let body = json!([{ "controllerId": "tok-dev", "securityToken": "old-token" }]);
    let (st, _) = c.mgmt(Method::POST, "/targets", Some(body)).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(root(&mut c, "old-token").await, StatusCode::OK);
    let update = json!({ "securityToken": "new-token", "name": "renamed" });
    let (st, target) = c
        .mgmt(Method::PUT, "/targets/tok-dev", Some(update.clone()))
        .await;
    assert_eq!(st, StatusCode::OK, "{target}");
    assert_eq!(
        (target["securityToken"].clone(), target["name"].clone()),
        (json!("new-token"), json!("renamed"))
    );
    assert_eq!(root(&mut c, "old-token").await, StatusCode::UNAUTHORIZED);
    assert_eq!(root(&mut c, "new-token").await, StatusCode::OK);
    let (st, _) = c.mgmt(Method::PUT, "/targets/nobody", Some(update)).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

/// The status of `tok-dev`'s root poll with `TargetToken token`.
async fn root(c: &mut crate::hawkbit_http::Client, token: &str) -> StatusCode {
    let auth = format!("TargetToken {token}");
    let path = "/DEFAULT/controller/v1/tok-dev";
    c.send(Method::GET, path, &[("authorization", auth.as_str())], "")
        .await
        .status
}
