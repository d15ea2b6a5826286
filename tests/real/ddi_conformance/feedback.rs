//! Rows: deployment feedback (closed twice, quotas, bad bodies) and the
//! deploymentBase document (`c=`, action types, `actionHistory`), with the
//! Management API helpers the other row files share.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::hawkbit_http::{
    assign_set, create_target, module_and_set, serve_with_gateway_token, Client,
};

/// Creates target `cid` through the Management API.
pub(super) async fn target(c: &mut Client, cid: &str) {
    create_target(c, cid, false).await;
}

/// Assigns set `ds` as `assignment` (`{ "id": cid, "type": … }`).
pub(super) async fn assign(c: &mut Client, ds: u64, assignment: Value) {
    let out = assign_set(c, ds, json!([assignment])).await;
    assert_eq!(out["assigned"], 1, "{out}");
}

/// The id of the newest action of `cid`.
pub(super) async fn first_action(c: &mut Client, cid: &str) -> u64 {
    let (st, list) = c
        .mgmt(Method::GET, &format!("/targets/{cid}/actions"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{list}");
    list["content"]
        .as_array()
        .and_then(|a| a.iter().filter_map(|x| x["id"].as_u64()).max())
        .unwrap_or_else(|| panic!("no action: {list}"))
}

/// A target `cid` with one fresh `forced` action; (set id, action id).
pub(super) async fn assigned(c: &mut Client, cid: &str, version: &str) -> (u64, u64) {
    target(c, cid).await;
    let (_, ds) = module_and_set(c, version, b"firmware").await;
    assign(c, ds, json!({ "id": cid, "type": "forced" })).await;
    (ds, first_action(c, cid).await)
}

fn feedback_path(cid: &str, action: u64) -> String {
    format!("/DEFAULT/controller/v1/{cid}/deploymentBase/{action}/feedback")
}

/// A feedback body with `execution`, `finished` and `details`.
pub(super) fn status(execution: &str, finished: &str, details: &[&str]) -> Value {
    json!({ "status": { "execution": execution, "result": { "finished": finished }, "details": details } })
}

/// `DdiRootControllerTest.tryToFinishAnUpdateProcessAfterItHasBeenFinished`:
/// `proceeding` 200, `closed`/`failure` 200, then `closed`/`success` 410 Gone.
/// The check is the conform catalogue's `DDI-FB-002`.
#[tokio::test]
async fn closed_twice_410() {
    crate::conform::case_passes("DDI-FB-002").await;
}

/// `DdiDeploymentBaseTest.tooMuchDeploymentActionFeedback`: the assignment's
/// own status entry counts, so with hawkBit's default of 1000 entries per
/// action 999 `proceeding` feedbacks are accepted and the next one is 429.
#[tokio::test]
async fn quota_entries() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let (_, action) = assigned(&mut c, "4712", "1.0").await;
    let path = feedback_path("4712", action);
    let body = status("proceeding", "none", &["working"]);
    for i in 0..999 {
        let a = c.ddi(Method::POST, &path, &[], Some(body.clone())).await;
        assert_eq!(a.status, StatusCode::OK, "feedback {i}");
    }
    let a = c.ddi(Method::POST, &path, &[], Some(body)).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        a.json()["errorCode"],
        "hawkbit.server.error.quota.tooManyEntries"
    );
}

/// `DdiDeploymentBaseTest.tooMuchDeploymentActionMessagesInFeedback`: one
/// detail more than `maxMessagesPerActionStatus` (50) is 429.
#[tokio::test]
async fn quota_messages() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let (_, action) = assigned(&mut c, "4713", "1.0").await;
    let details: Vec<String> = (0..51).map(|i| i.to_string()).collect();
    let details: Vec<&str> = details.iter().map(String::as_str).collect();
    let body = status("proceeding", "none", &details);
    let a = c
        .ddi(
            Method::POST,
            &feedback_path("4713", action),
            &[],
            Some(body),
        )
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    let fifty = status("proceeding", "none", &details[..50]);
    let a = c
        .ddi(
            Method::POST,
            &feedback_path("4713", action),
            &[],
            Some(fifty),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "50 details are within the quota");
}

/// `DdiDeploymentBaseTest.badDeploymentActionFeedback`,
/// `invalidIdInFeedbackReturnsBadRequest`,
/// `missingResultAttributeInFeedbackReturnsBadRequest` and
/// `missingFinishedAttributeInFeedbackReturnsBadRequest`: unknown target,
/// unknown action and another target's action are 404; GET/PUT/DELETE on the
/// feedback resource 405; an unreadable body, or one without `result` or
/// `finished`, 400 with hawkBit's three-field `MessageNotReadableException`.
#[tokio::test]
async fn bad_bodies() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let proceeding = status("proceeding", "none", &[""]);
    let a = c
        .ddi(
            Method::POST,
            &feedback_path("4712", 1234),
            &[],
            Some(proceeding.clone()),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "target does not exist");
    let (_, action) = assigned(&mut c, "4712", "1.0").await;
    assigned(&mut c, "4713", "1.1").await;
    let a = c
        .ddi(
            Method::POST,
            &feedback_path("4713", 99_999),
            &[],
            Some(proceeding.clone()),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "action does not exist");
    let a = c
        .ddi(
            Method::POST,
            &feedback_path("4713", action),
            &[],
            Some(proceeding),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "another target's action");
    for m in [Method::GET, Method::PUT, Method::DELETE] {
        let a = c
            .ddi(m.clone(), &feedback_path("4712", action), &[], None)
            .await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{m}");
    }
    let headers = [
        ("authorization", crate::hawkbit_http::GATEWAY),
        ("content-type", "application/json"),
    ];
    let invalid = r#"{"id":"AAAA","status":{"execution":"proceeding","result":{"finished":"none","progress":{"cnt":2,"of":5}},"details":"details"]}}"#;
    let a = c
        .send(
            Method::POST,
            &feedback_path("4712", action),
            &headers,
            invalid,
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "unreadable JSON");
    let no_result = json!({ "status": { "execution": "closed", "details": ["test"] } });
    let no_finished =
        json!({ "status": { "execution": "closed", "result": {}, "details": ["test"] } });
    for body in [no_result, no_finished] {
        let a = c
            .ddi(
                Method::POST,
                &feedback_path("4712", action),
                &[],
                Some(body.clone()),
            )
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}");
        let e = a.json();
        assert_eq!(e.as_object().map(|o| o.len()), Some(3), "{e}");
        assert_eq!(
            e["exceptionClass"],
            "org.eclipse.hawkbit.rest.exception.MessageNotReadableException"
        );
    }
}

/// The deploymentBase document (`DdiDeploymentBaseTest`, `DdiRootControllerTest`).
mod deployment {
    use std::time::Duration;

    use http::{Method, StatusCode};
    use serde_json::{json, Value};

    use super::{assign, feedback_path, first_action, status, target};
    use crate::hawkbit_http::{module_and_set, path_of, serve_with_gateway_token, Client};

    async fn deployment_href(c: &mut Client, cid: &str) -> String {
        let root = c.root(cid).await;
        root["_links"]["deploymentBase"]["href"]
            .as_str()
            .unwrap_or_else(|| panic!("no deploymentBase: {root}"))
            .to_string()
    }

    async fn get(c: &mut Client, path: &str) -> Value {
        let a = c.ddi(Method::GET, path, &[], None).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        a.json()
    }

    /// The server's clock, read as fleetsim's hawkBit adapter reads it: the
    /// `createdAt` of set `ds`. (hawkBit's clock is epoch ms; `serve`'s
    /// Management API counts from its start, so an epoch `forcetime` from
    /// `System.currentTimeMillis()` would lie years ahead there.)
    async fn server_now(c: &mut Client, ds: u64) -> u64 {
        let (st, set) = c
            .mgmt(Method::GET, &format!("/distributionsets/{ds}"), None)
            .await;
        assert_eq!(st, StatusCode::OK, "{set}");
        set["createdAt"]
            .as_u64()
            .unwrap_or_else(|| panic!("createdAt: {set}"))
    }

    /// `DdiDeploymentBaseTest.changeEtagIfActionSwitchesFromSoftToForced`: a
    /// timeforced action keeps its deploymentBase URL (`c=`) until its
    /// forcetime, then the URL changes.
    #[tokio::test]
    async fn etag_c_changes() {
        let (_server, mut c) = serve_with_gateway_token().await;
        target(&mut c, "4711").await;
        let (_, ds) = module_and_set(&mut c, "1.0", b"firmware").await;
        let forcetime = server_now(&mut c, ds).await + 2_000;
        let force = json!({ "id": "4711", "type": "timeforced", "forcetime": forcetime });
        assign(&mut c, ds, force).await;
        let action = first_action(&mut c, "4711").await;
        let before = deployment_href(&mut c, "4711").await;
        assert!(
            before.contains(&format!("/deploymentBase/{action}?c=")),
            "{before}"
        );
        assert_eq!(
            deployment_href(&mut c, "4711").await,
            before,
            "not forced yet"
        );
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        assert_ne!(deployment_href(&mut c, "4711").await, before, "forced now");
    }

    /// `DdiDeploymentBaseTest.deploymentForceAction`, `deploymentAttemptAction`,
    /// `deploymentAutoForceAction` and `deploymentDownloadOnlyAction`:
    /// forced → forced/forced, soft → attempt/attempt, timeforced past its
    /// forcetime → forced/forced, downloadonly → forced/skip; the body's `id`
    /// is the action's, the chunk carries the module's artifact.
    #[tokio::test]
    async fn types() {
        let (_server, mut c) = serve_with_gateway_token().await;
        let cases = [
            ("forced", json!(null), "forced", "forced"),
            ("soft", json!(null), "attempt", "attempt"),
            ("timeforced", json!(true), "forced", "forced"),
            ("downloadonly", json!(null), "forced", "skip"),
        ];
        for (i, (kind, forcetime, download, update)) in cases.into_iter().enumerate() {
            let cid = format!("dev-{kind}");
            target(&mut c, &cid).await;
            let (_, ds) = module_and_set(&mut c, &format!("1.{i}"), b"firmware").await;
            let mut a = json!({ "id": cid, "type": kind });
            if forcetime == json!(true) {
                // Already past: hawkBit's test assigns with forcetime "now".
                a["forcetime"] = json!(server_now(&mut c, ds).await);
            }
            assign(&mut c, ds, a).await;
            let action = first_action(&mut c, &cid).await;
            let href = deployment_href(&mut c, &cid).await;
            let doc = get(&mut c, &path_of(&href)).await;
            assert_eq!(doc["id"], action.to_string(), "{kind}: {doc}");
            let d = &doc["deployment"];
            assert_eq!(
                (d["download"].as_str(), d["update"].as_str()),
                (Some(download), Some(update)),
                "{kind}: {doc}"
            );
            assert!(d.get("maintenanceWindow").is_none(), "{kind}: no window");
            let chunk = &d["chunks"][0];
            assert_eq!(chunk["version"], format!("1.{i}"), "{kind}");
            assert_eq!(chunk["artifacts"][0]["filename"], "fw.bin", "{kind}");
            assert_eq!(chunk["artifacts"][0]["size"], 8, "{kind}");
        }
    }

    /// `DdiRootControllerTest.testActionHistoryCount`, `testActionHistoryZeroInput`
    /// and `testActionHistoryNegativeInput`: `actionHistory=2` gives the two
    /// newest messages, `0` or a bare parameter none, `-1` all of them.
    #[tokio::test]
    async fn action_history() {
        let (_server, mut c) = serve_with_gateway_token().await;
        target(&mut c, "911").await;
        let (_, ds) = module_and_set(&mut c, "1.0", b"firmware").await;
        assign(&mut c, ds, json!({ "id": "911", "type": "forced" })).await;
        let action = first_action(&mut c, "911").await;
        let msgs = [
            ("scheduled", "none", "Target scheduled installation"),
            ("proceeding", "none", "Target proceeding installation"),
            ("closed", "success", "Target completed installation"),
        ];
        for (execution, finished, msg) in msgs {
            let body = status(execution, finished, &[msg]);
            let a = c
                .ddi(Method::POST, &feedback_path("911", action), &[], Some(body))
                .await;
            assert_eq!(a.status, StatusCode::OK, "{execution}");
        }
        let base = format!("/DEFAULT/controller/v1/911/deploymentBase/{action}");
        let messages = |doc: &Value| -> Vec<String> {
            doc["actionHistory"]["messages"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let has = |m: &[String], s: &str| m.iter().any(|x| x.contains(s));
        let two = messages(&get(&mut c, &format!("{base}?actionHistory=2")).await);
        assert!(has(&two, msgs[2].2) && has(&two, msgs[1].2), "{two:?}");
        assert!(!has(&two, msgs[0].2), "{two:?}");
        for q in ["?actionHistory=0", "?actionHistory"] {
            let doc = get(&mut c, &format!("{base}{q}")).await;
            assert!(doc["actionHistory"]["messages"].is_null(), "{q}: {doc}");
        }
        let all = messages(&get(&mut c, &format!("{base}?actionHistory=-1")).await);
        assert!(msgs.iter().all(|(_, _, m)| has(&all, m)), "{all:?}");
    }
}
