//! Rows: `installedBase` — 404 while pending, following several finished
//! actions, never a download-only or failed action, and `PUT installedBase`
//! (offline assignment).

use http::{Method, StatusCode};
use serde_json::json;

use super::multi::{assign, entries, get, link, post, set, target_set, update_status};
use crate::hawkbit_http::{closed, serve_with_gateway_token};

fn installed_path(cid: &str, id: u64) -> String {
    format!("/DEFAULT/controller/v1/{cid}/installedBase/{id}")
}

/// `DdiInstalledBaseTest.installedBaseReturns404ForPendingAction`.
#[tokio::test]
async fn pending_404() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let cid = "inst-pending";
    c.root(cid).await;
    let ds = set(&mut c, "1", false).await;
    let a = assign(&mut c, cid, ds, "forced").await.expect("assigned");
    assert_eq!(link(&mut c, cid, "installedBase").await, None);
    let deployment = link(&mut c, cid, "deploymentBase")
        .await
        .expect("deploymentBase");
    assert!(
        deployment.contains(&format!("/deploymentBase/{a}")),
        "{deployment}"
    );
    assert_eq!(
        get(&mut c, cid, &format!("deploymentBase/{a}")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(&mut c, cid, &format!("installedBase/{a}")).await.0,
        StatusCode::NOT_FOUND
    );
}

/// `DdiInstalledBaseTest.deploymentSeveralActionsInInstalledBase`: each
/// finished action becomes the root's installedBase; the older one stays readable.
#[tokio::test]
async fn moves_along() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let cid = "inst-moves";
    c.root(cid).await;
    let ds1 = set(&mut c, "1", true).await;
    let ds2 = set(&mut c, "2", true).await;
    let a1 = assign(&mut c, cid, ds1, "soft").await.expect("a1");
    assert_eq!(link(&mut c, cid, "installedBase").await, None);
    let (st, doc) = get(&mut c, cid, &format!("deploymentBase/{a1}")).await;
    assert_eq!(
        (st, doc["deployment"]["update"].clone()),
        (StatusCode::OK, json!("attempt"))
    );
    let fb = format!("deploymentBase/{a1}/feedback");
    assert_eq!(
        post(&mut c, cid, &fb, closed("success")).await,
        StatusCode::OK
    );
    let (st, doc) = get(&mut c, cid, &format!("installedBase/{a1}")).await;
    assert_eq!(
        (st, doc["id"].clone()),
        (StatusCode::OK, json!(a1.to_string()))
    );

    let a2 = assign(&mut c, cid, ds2, "forced").await.expect("a2");
    assert_eq!(
        link(&mut c, cid, "installedBase").await,
        Some(installed_path(cid, a1))
    );
    let deployment = link(&mut c, cid, "deploymentBase")
        .await
        .expect("deploymentBase");
    assert!(
        deployment.contains(&format!("/deploymentBase/{a2}")),
        "{deployment}"
    );
    let (st, doc) = get(&mut c, cid, &format!("deploymentBase/{a2}")).await;
    assert_eq!(
        (st, doc["deployment"]["update"].clone()),
        (StatusCode::OK, json!("forced"))
    );
    let fb = format!("deploymentBase/{a2}/feedback");
    assert_eq!(
        post(&mut c, cid, &fb, closed("success")).await,
        StatusCode::OK
    );
    let (st, doc) = get(&mut c, cid, &format!("installedBase/{a2}")).await;
    assert_eq!(
        (st, doc["id"].clone()),
        (StatusCode::OK, json!(a2.to_string()))
    );
    assert_eq!(
        link(&mut c, cid, "installedBase").await,
        Some(installed_path(cid, a2))
    );
    assert_eq!(link(&mut c, cid, "deploymentBase").await, None);
    let (st, doc) = get(&mut c, cid, &format!("installedBase/{a1}")).await;
    assert_eq!(
        (st, doc["id"].clone()),
        (StatusCode::OK, json!(a1.to_string()))
    );
    assert_eq!(target_set(&mut c, cid, "installedDS").await, Some(ds2));
}

/// `DdiInstalledBaseTest.deploymentDownloadOnlyActionNotInInstalledBase` and
/// `deploymentActionFailedNotInInstalledBase`: neither becomes installedBase.
#[tokio::test]
async fn not_for_downloadonly_or_failed() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let ds = set(&mut c, "1", false).await;
    let cid = "inst-dlo";
    c.root(cid).await;
    let a = assign(&mut c, cid, ds, "downloadonly")
        .await
        .expect("assigned");
    assert!(link(&mut c, cid, "deploymentBase").await.is_some());
    assert_eq!(link(&mut c, cid, "installedBase").await, None);
    let fb = format!("deploymentBase/{a}/feedback");
    for exec in ["download", "downloaded"] {
        let body = json!({ "status": { "execution": exec, "result": { "finished": "none" } } });
        assert_eq!(post(&mut c, cid, &fb, body).await, StatusCode::OK);
    }
    assert_eq!(link(&mut c, cid, "deploymentBase").await, None);
    assert_eq!(link(&mut c, cid, "installedBase").await, None);

    for kind in ["soft", "forced"] {
        let cid = format!("inst-failed-{kind}");
        c.root(&cid).await;
        let a = assign(&mut c, &cid, ds, kind).await.expect("assigned");
        assert!(link(&mut c, &cid, "deploymentBase").await.is_some());
        assert_eq!(link(&mut c, &cid, "installedBase").await, None);
        let fb = format!("deploymentBase/{a}/feedback");
        let proceeding =
            json!({ "status": { "execution": "proceeding", "result": { "finished": "none" } } });
        assert_eq!(post(&mut c, &cid, &fb, proceeding).await, StatusCode::OK);
        let failed = json!({ "status": { "execution": "closed", "result": { "finished": "failure" },
                                         "details": ["Installation failed"] } });
        assert_eq!(post(&mut c, &cid, &fb, failed).await, StatusCode::OK);
        assert_eq!(link(&mut c, &cid, "deploymentBase").await, None);
        assert_eq!(link(&mut c, &cid, "installedBase").await, None);
    }
}

/// `DdiInstalledBaseTest.installedVersion` / `installedVersionNotExist`
/// (`JpaControllerManagement.updateOfflineAssignedVersion`): 201 and the set
/// assigned (and installed, in sync) the first time, 200 the second, 404 for
/// an unknown set with nothing assigned.
#[tokio::test]
async fn put_version() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let ds = set(&mut c, "1.0.0", false).await;
    let cid = "inst-put";
    c.root(cid).await;
    let path = format!("/DEFAULT/controller/v1/{cid}/installedBase");
    let unknown = json!({ "name": "unknown", "version": "1.0.0" });
    let a = c.ddi(Method::PUT, &path, &[], Some(unknown)).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(target_set(&mut c, cid, "assignedDS").await, None);

    let body = json!({ "name": "fw", "version": "1.0.0" });
    let a = c.ddi(Method::PUT, &path, &[], Some(body.clone())).await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(target_set(&mut c, cid, "assignedDS").await, Some(ds));
    assert_eq!(target_set(&mut c, cid, "installedDS").await, Some(ds));
    assert_eq!(update_status(&mut c, cid).await, "in_sync");
    let a = c.ddi(Method::PUT, &path, &[], Some(body)).await;
    assert_eq!(a.status, StatusCode::OK);

    // The offline action: closed FINISHED, linked as installedBase.
    let (_, list) = c
        .mgmt(Method::GET, &format!("/targets/{cid}/actions"), None)
        .await;
    assert_eq!(list["total"], 1, "{list}");
    let action = &list["content"][0];
    assert_eq!(
        (action["active"].clone(), action["status"].clone()),
        (json!(false), json!("finished"))
    );
    let id = action["id"].as_u64().expect("id");
    assert_eq!(
        link(&mut c, cid, "installedBase").await,
        Some(installed_path(cid, id))
    );
    let last = entries(&mut c, cid, id).await.pop().expect("entry");
    assert_eq!(last["type"], "finished");
}
