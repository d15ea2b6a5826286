//! Rows: several open actions on one target — canceled actions served lowest
//! id first while the assigned set moves along, migration steps not
//! superseded, autoclose, and a failed action closing the target in ERROR.
//! Also the small Management API helpers the `installed`, `cancel` and `mgmt`
//! rows share (a set with or without `requiredMigrationStep`, an assignment).

use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::hawkbit_http::{closed, create_target, path_of, serve_with_gateway_token, Client};

/// Creates module `fw-<version>` (type `os`, no artifacts) and set `fw <version>`.
pub(super) async fn set(c: &mut Client, version: &str, migration: bool) -> u64 {
    let module = json!([{ "name": format!("fw-{version}"), "version": version, "type": "os" }]);
    let (st, sm) = c.mgmt(Method::POST, "/softwaremodules", Some(module)).await;
    assert_eq!(st, StatusCode::CREATED, "{sm}");
    let set = json!([{ "name": "fw", "version": version, "type": "os",
                       "requiredMigrationStep": migration, "modules": [{ "id": sm[0]["id"] }] }]);
    let (st, ds) = c.mgmt(Method::POST, "/distributionsets", Some(set)).await;
    assert_eq!(st, StatusCode::CREATED, "{ds}");
    assert_eq!(ds[0]["requiredMigrationStep"], migration);
    ds[0]["id"].as_u64().expect("set id")
}

/// `POST /targets/{cid}/assignedDS`; the new action's id (`None`: already assigned).
pub(super) async fn assign(c: &mut Client, cid: &str, ds: u64, kind: &str) -> Option<u64> {
    let body = json!({ "id": ds, "type": kind });
    let path = format!("/targets/{cid}/assignedDS");
    let (st, out) = c.mgmt(Method::POST, &path, Some(body)).await;
    assert_eq!(st, StatusCode::OK, "{out}");
    out["assignedActions"][0]["id"].as_u64()
}

/// `GET /targets/{cid}/actions/{id}` (Management API).
pub(super) async fn action(c: &mut Client, cid: &str, id: u64) -> Value {
    let (st, a) = c
        .mgmt(Method::GET, &format!("/targets/{cid}/actions/{id}"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{a}");
    a
}

/// Status entries of an action, oldest first.
pub(super) async fn entries(c: &mut Client, cid: &str, id: u64) -> Vec<Value> {
    let path = format!("/targets/{cid}/actions/{id}/status?sort=id:ASC&limit=500");
    let (st, page) = c.mgmt(Method::GET, &path, None).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    page["content"].as_array().cloned().unwrap_or_default()
}

/// The id of the target's assigned (or installed) set; `None` on 204.
pub(super) async fn target_set(c: &mut Client, cid: &str, which: &str) -> Option<u64> {
    let (st, ds) = c
        .mgmt(Method::GET, &format!("/targets/{cid}/{which}"), None)
        .await;
    match st {
        StatusCode::NO_CONTENT => None,
        StatusCode::OK => ds["id"].as_u64(),
        other => panic!("{which}: {other} {ds}"),
    }
}

pub(super) async fn update_status(c: &mut Client, cid: &str) -> String {
    let (_, t) = c.mgmt(Method::GET, &format!("/targets/{cid}"), None).await;
    t["updateStatus"].as_str().unwrap_or_default().to_string()
}

/// A DDI POST of `body` to `{base}/{tail}`; the status.
pub(super) async fn post(c: &mut Client, cid: &str, tail: &str, body: Value) -> StatusCode {
    let path = format!("/DEFAULT/controller/v1/{cid}/{tail}");
    c.ddi(Method::POST, &path, &[], Some(body)).await.status
}

/// A DDI GET of `{base}/{tail}`; the status and the body.
pub(super) async fn get(c: &mut Client, cid: &str, tail: &str) -> (StatusCode, Value) {
    let path = format!("/DEFAULT/controller/v1/{cid}/{tail}");
    let a = c.ddi(Method::GET, &path, &[], None).await;
    let body = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
    (a.status, body)
}

/// The root's link `rel` as a path, if present.
pub(super) async fn link(c: &mut Client, cid: &str, rel: &str) -> Option<String> {
    let root = c.root(cid).await;
    root["_links"][rel]["href"].as_str().map(path_of)
}

async fn cancel(c: &mut Client, cid: &str, id: u64) {
    let path = format!("/targets/{cid}/actions/{id}");
    let (st, body) = c.mgmt(Method::DELETE, &path, None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
}

async fn active_count(c: &mut Client, cid: &str, ids: &[u64]) -> usize {
    let mut n = 0;
    for id in ids {
        n += usize::from(action(c, cid, *id).await["active"] == true);
    }
    n
}

async fn all_entries(c: &mut Client, cid: &str, ids: &[u64]) -> usize {
    let mut n = 0;
    for id in ids {
        n += entries(c, cid, *id).await.len();
    }
    n
}

/// `DdiCancelActionTest.multipleCancelActionFeedback`: three migration-step
/// sets assigned; two canceled actions are served lowest id first, the
/// assigned set moves to the one left, and its `deploymentBase` is served.
#[tokio::test]
async fn cancel_in_order() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let cid = "multi-cancel";
    c.root(cid).await;
    let mut ds = Vec::new();
    for v in ["1", "2", "3"] {
        ds.push(set(&mut c, v, true).await);
    }
    let mut ids = Vec::new();
    for d in &ds {
        ids.push(assign(&mut c, cid, *d, "forced").await.expect("assigned"));
    }
    let (a1, a2, a3) = (ids[0], ids[1], ids[2]);
    assert_eq!(all_entries(&mut c, cid, &ids).await, 3);
    assert_eq!(active_count(&mut c, cid, &ids).await, 3);
    cancel(&mut c, cid, a1).await;
    cancel(&mut c, cid, a2).await;
    assert_eq!(active_count(&mut c, cid, &ids).await, 3);
    let (st, doc) = get(&mut c, cid, &format!("cancelAction/{a1}")).await;
    assert_eq!(
        (st, doc["cancelAction"]["stopId"].clone()),
        (StatusCode::OK, json!(a1.to_string()))
    );
    assert_eq!(all_entries(&mut c, cid, &ids).await, 6);
    let want = format!("/DEFAULT/controller/v1/{cid}/cancelAction/{a1}");
    assert_eq!(link(&mut c, cid, "cancelAction").await, Some(want));

    let ok = post(
        &mut c,
        cid,
        &format!("cancelAction/{a1}/feedback"),
        closed("success"),
    )
    .await;
    assert_eq!(ok, StatusCode::OK);
    assert_eq!(all_entries(&mut c, cid, &ids).await, 7);
    assert_eq!(active_count(&mut c, cid, &ids).await, 2);
    let (st, doc) = get(&mut c, cid, &format!("cancelAction/{a2}")).await;
    assert_eq!(
        (st, doc["cancelAction"]["stopId"].clone()),
        (StatusCode::OK, json!(a2.to_string()))
    );
    assert_eq!(all_entries(&mut c, cid, &ids).await, 8);
    let want = format!("/DEFAULT/controller/v1/{cid}/cancelAction/{a2}");
    assert_eq!(link(&mut c, cid, "cancelAction").await, Some(want));

    let ok = post(
        &mut c,
        cid,
        &format!("cancelAction/{a2}/feedback"),
        closed("success"),
    )
    .await;
    assert_eq!(ok, StatusCode::OK);
    assert_eq!(all_entries(&mut c, cid, &ids).await, 9);
    assert_eq!(target_set(&mut c, cid, "assignedDS").await, Some(ds[2]));
    assert_eq!(
        get(&mut c, cid, &format!("deploymentBase/{a3}")).await.0,
        StatusCode::OK
    );
    assert_eq!(all_entries(&mut c, cid, &ids).await, 10);
    assert_eq!(active_count(&mut c, cid, &ids).await, 1);

    cancel(&mut c, cid, a3).await;
    assert_eq!(active_count(&mut c, cid, &ids).await, 1);
    assert_eq!(target_set(&mut c, cid, "assignedDS").await, Some(ds[2]));
    let (st, doc) = get(&mut c, cid, &format!("cancelAction/{a3}")).await;
    assert_eq!(
        (st, doc["cancelAction"]["stopId"].clone()),
        (StatusCode::OK, json!(a3.to_string()))
    );
    assert_eq!(all_entries(&mut c, cid, &ids).await, 12);
    let ok = post(
        &mut c,
        cid,
        &format!("cancelAction/{a3}/feedback"),
        closed("success"),
    )
    .await;
    assert_eq!(ok, StatusCode::OK);
    assert_eq!(all_entries(&mut c, cid, &ids).await, 13);
    assert_eq!(active_count(&mut c, cid, &ids).await, 0);
    let (_, list) = c
        .mgmt(Method::GET, &format!("/targets/{cid}/actions"), None)
        .await;
    assert_eq!(list["total"], 3);
}

/// `AbstractDsAssignmentStrategy.overrideObsoleteUpdateActions`: a new
/// assignment cancels open actions ("cancel obsolete action due to new
/// update") except those of a `requiredMigrationStep` set.
#[tokio::test]
async fn migration_step_kept() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let cid = "multi-step";
    c.root(cid).await;
    let step = set(&mut c, "step", true).await;
    let plain = set(&mut c, "plain", false).await;
    let last = set(&mut c, "last", false).await;
    let a1 = assign(&mut c, cid, step, "forced").await.expect("a1");
    let a2 = assign(&mut c, cid, plain, "forced").await.expect("a2");
    let a3 = assign(&mut c, cid, last, "soft").await.expect("a3");
    assert_eq!(action(&mut c, cid, a1).await["status"], "running");
    let a = action(&mut c, cid, a2).await;
    assert_eq!(
        (a["status"].clone(), a["type"].clone()),
        (json!("canceling"), json!("cancel"))
    );
    let newest = entries(&mut c, cid, a2).await.pop().expect("entry");
    assert_eq!(newest["type"], "canceling");
    assert_eq!(
        newest["messages"],
        json!(["Update Server: cancel obsolete action due to new update"])
    );
    assert_eq!(action(&mut c, cid, a3).await["status"], "running");
    // The oldest open action (the migration step) is what the device gets first.
    let want = format!("/DEFAULT/controller/v1/{cid}/deploymentBase/{a1}");
    let got = link(&mut c, cid, "deploymentBase")
        .await
        .expect("deploymentBase");
    assert!(got.starts_with(&want), "{got}");
}

/// `repository.actions.autoclose.enabled` (`closeObsoleteUpdateActions`):
/// the superseded action is closed CANCELED at once; the device gets no
/// cancelAction, only the new deploymentBase.
#[tokio::test]
async fn autoclose() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let key = "/system/configs/repository.actions.autoclose.enabled";
    let (st, v) = c
        .mgmt(Method::PUT, key, Some(json!({ "value": true })))
        .await;
    assert_eq!((st, v["value"].clone()), (StatusCode::OK, json!(true)));
    let cid = "multi-autoclose";
    c.root(cid).await;
    let old = set(&mut c, "old", false).await;
    let new = set(&mut c, "new", false).await;
    let a1 = assign(&mut c, cid, old, "forced").await.expect("a1");
    let a2 = assign(&mut c, cid, new, "forced").await.expect("a2");
    let a = action(&mut c, cid, a1).await;
    assert_eq!(
        (a["active"].clone(), a["status"].clone()),
        (json!(false), json!("canceled"))
    );
    let newest = entries(&mut c, cid, a1).await.pop().expect("entry");
    assert_eq!(
        newest["messages"],
        json!(["Update Server: close obsolete action due to new update"])
    );
    let root = c.root(cid).await;
    assert!(root["_links"]["cancelAction"].is_null(), "{root}");
    let got = root["_links"]["deploymentBase"]["href"]
        .as_str()
        .map(path_of);
    let want = format!("/DEFAULT/controller/v1/{cid}/deploymentBase/{a2}");
    assert!(
        got.as_deref().is_some_and(|g| g.starts_with(&want)),
        "{root}"
    );
}

/// `DdiDeploymentBaseTest.rootRsSingleDeploymentActionWithErrorFeedback`
/// (row `feedback::error_closes`): closed + failure closes the action ERROR,
/// the target `error` with no assigned set; the same set assigned again and
/// finished leaves it `in_sync`, 4 status entries in all.
#[tokio::test]
async fn error_closes() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let cid = "multi-error";
    create_target(&mut c, cid, false).await;
    assert_eq!(update_status(&mut c, cid).await, "unknown");
    let ds = set(&mut c, "1", false).await;
    let a1 = assign(&mut c, cid, ds, "forced").await.expect("a1");
    assert_eq!(update_status(&mut c, cid).await, "pending");
    let fb = json!({ "status": { "execution": "closed", "result": { "finished": "failure" },
                                 "details": ["Error message"] } });
    assert_eq!(
        post(&mut c, cid, &format!("deploymentBase/{a1}/feedback"), fb).await,
        StatusCode::OK
    );
    assert_eq!(update_status(&mut c, cid).await, "error");
    assert_eq!(target_set(&mut c, cid, "assignedDS").await, None);
    assert_eq!(target_set(&mut c, cid, "installedDS").await, None);
    let a = action(&mut c, cid, a1).await;
    assert_eq!(
        (a["active"].clone(), a["status"].clone()),
        (json!(false), json!("error"))
    );

    let a2 = assign(&mut c, cid, ds, "forced")
        .await
        .expect("redo is a new assignment");
    let ok = post(
        &mut c,
        cid,
        &format!("deploymentBase/{a2}/feedback"),
        closed("success"),
    )
    .await;
    assert_eq!(ok, StatusCode::OK);
    assert_eq!(update_status(&mut c, cid).await, "in_sync");
    assert_eq!(target_set(&mut c, cid, "assignedDS").await, Some(ds));
    assert_eq!(target_set(&mut c, cid, "installedDS").await, Some(ds));
    assert_eq!(all_entries(&mut c, cid, &[a1, a2]).await, 4);
    let types = |e: Vec<Value>| e.iter().map(|e| e["type"].clone()).collect::<Vec<_>>();
    assert!(types(entries(&mut c, cid, a1).await).contains(&json!("error")));
    assert!(types(entries(&mut c, cid, a2).await).contains(&json!("finished")));
    // assignedDS is now this set: assigning it again is "alreadyAssigned".
    assert_eq!(assign(&mut c, cid, ds, "forced").await, None);
}
