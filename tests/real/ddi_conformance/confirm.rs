//! Rows: the confirmation flow (ddi.md §1.8) — `confirmationBase`, its
//! feedback, auto-confirm on the DDI and the Management side. Each row
//! mirrors a test of hawkBit's `DdiConfirmationBaseTest` (or the resource
//! code it names), driving `fleetsim serve` over HTTP.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::hawkbit_http::{
    assign_set, closed, create_target, module_and_set, path_of, serve_with_gateway_token, Client,
};
use fleetsim::http_server::Running;

fn base(cid: &str) -> String {
    format!("/DEFAULT/controller/v1/{cid}")
}

async fn set_flow(c: &mut Client, on: bool) {
    let (st, body) = c
        .mgmt(
            Method::PUT,
            "/system/configs/user.confirmation.flow.enabled",
            Some(json!({ "value": on })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
}

/// A served tenant (confirmation flow `flow`), target `cid` and one forced
/// assignment to it; (server, client, action id).
async fn assigned(flow: bool, cid: &str, extra: Value) -> (Running, Client, u64) {
    let (server, mut c) = serve_with_gateway_token().await;
    if flow {
        set_flow(&mut c, true).await;
    }
    create_target(&mut c, cid, false).await;
    let (_, ds) = module_and_set(&mut c, "1.0", b"firmware bytes").await;
    let mut one = json!({ "id": cid, "type": "forced" });
    if let (Some(o), Some(e)) = (one.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    let body = assign_set(&mut c, ds, json!([one])).await;
    let action = body["assignedActions"][0]["id"]
        .as_u64()
        .expect("action id");
    (server, c, action)
}

async fn get(c: &mut Client, path: &str) -> (StatusCode, Value) {
    let a = c.ddi(Method::GET, path, &[], None).await;
    let v = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
    (a.status, v)
}

async fn answer(c: &mut Client, cid: &str, id: u64, confirmation: &str, code: i32) -> StatusCode {
    let body = json!({ "confirmation": confirmation, "code": code, "details": [format!("{confirmation} message")] });
    let path = format!("{}/confirmationBase/{id}/feedback", base(cid));
    c.ddi(Method::POST, &path, &[], Some(body)).await.status
}

/// `verifyActionInConfirmationBaseState`: root links only `confirmationBase/{id}`,
/// it answers 200, `deploymentBase/{id}` 404.
async fn assert_waiting(c: &mut Client, cid: &str, id: u64) {
    let root = c.root(cid).await;
    let href = root["_links"]["confirmationBase"]["href"]
        .as_str()
        .unwrap_or_else(|| panic!("no confirmationBase link: {root}"))
        .to_string();
    assert!(href.contains(&format!(
        "/DEFAULT/controller/v1/{cid}/confirmationBase/{id}"
    )));
    assert!(root["_links"].get("deploymentBase").is_none(), "{root}");
    assert_eq!(get(c, &path_of(&href)).await.0, StatusCode::OK);
    let deployment = format!("{}/deploymentBase/{id}", base(cid));
    assert_eq!(get(c, &deployment).await.0, StatusCode::NOT_FOUND);
}

/// `verifyActionInDeploymentBaseState`: root links only `deploymentBase/{id}`, 200.
async fn assert_deployable(c: &mut Client, cid: &str, id: u64) {
    let root = c.root(cid).await;
    assert!(root["_links"].get("confirmationBase").is_none(), "{root}");
    let href = root["_links"]["deploymentBase"]["href"]
        .as_str()
        .unwrap_or_else(|| panic!("no deploymentBase link: {root}"))
        .to_string();
    assert!(href.contains(&format!("/DEFAULT/controller/v1/{cid}/deploymentBase/{id}")));
    assert_eq!(get(c, &path_of(&href)).await.0, StatusCode::OK);
}

/// `DdiConfirmationBaseTest.deploymentEndpointNotAccessibleForActionsWFC`
/// (+ `verifyConfirmationReferencesInControllerBase`: one WAIT_FOR_CONFIRMATION entry).
#[tokio::test]
async fn wfc_links() {
    let (_s, mut c, id) = assigned(true, "988", json!({})).await;
    assert_waiting(&mut c, "988", id).await;
    let (st, doc) = get(&mut c, &format!("{}/confirmationBase/{id}", base("988"))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(doc["id"], id.to_string());
    assert_eq!(doc["confirmation"]["download"], "forced");
    assert_eq!(
        doc["confirmation"]["chunks"][0]["artifacts"][0]["filename"],
        "fw.bin"
    );
    let (_, history) = c
        .mgmt(
            Method::GET,
            &format!("/targets/988/actions/{id}/status"),
            None,
        )
        .await;
    assert_eq!(history["total"], 1, "{history}");
    assert_eq!(history["content"][0]["type"], "wait_for_confirmation");
    let (_, action) = c
        .mgmt(Method::GET, &format!("/targets/988/actions/{id}"), None)
        .await;
    assert_eq!(action["status"], "wait_for_confirmation", "{action}");
}

/// `DdiConfirmationBaseTest.confirmationEndpointNotExposed`.
#[tokio::test]
async fn flow_off() {
    let (_s, mut c, id) = assigned(false, "988", json!({})).await;
    let root = c.root("988").await;
    assert!(root["_links"].get("confirmationBase").is_none(), "{root}");
    let (st, _) = get(&mut c, &format!("{}/confirmationBase/{id}", base("988"))).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

/// `DdiConfirmationBaseTest.verifyConfirmationBaseEndpointsArePresentAfterDisablingConfirmationFlow`.
#[tokio::test]
async fn flow_switched_off() {
    let (_s, mut c, id) = assigned(true, "988", json!({})).await;
    set_flow(&mut c, false).await;
    assert_waiting(&mut c, "988", id).await;
    assert_eq!(
        answer(&mut c, "988", id, "denied", 20).await,
        StatusCode::OK
    );
    assert_waiting(&mut c, "988", id).await;
    assert_eq!(
        answer(&mut c, "988", id, "confirmed", 10).await,
        StatusCode::OK
    );
    assert_deployable(&mut c, "988", id).await;
}

/// `DdiConfirmationBaseTest.sendConfirmedActionStateFeedbackTest`.
#[tokio::test]
async fn confirmed() {
    let (_s, mut c, id) = assigned(true, "988", json!({})).await;
    assert_eq!(
        answer(&mut c, "988", id, "confirmed", 10).await,
        StatusCode::OK
    );
    assert_deployable(&mut c, "988", id).await;
}

/// `DdiConfirmationBaseTest.sendDeniedActionStateFeedbackTest`.
#[tokio::test]
async fn denied() {
    let (_s, mut c, id) = assigned(true, "989", json!({})).await;
    assert_eq!(
        answer(&mut c, "989", id, "denied", 10).await,
        StatusCode::OK
    );
    assert_waiting(&mut c, "989", id).await;
}

/// `DdiConfirmationBaseTest.revokeConfirmationRevertsRunningActionToConfirmationBase`.
#[tokio::test]
async fn revoke() {
    let (_s, mut c, id) = assigned(true, "991", json!({})).await;
    assert_eq!(
        answer(&mut c, "991", id, "confirmed", 10).await,
        StatusCode::OK
    );
    assert_deployable(&mut c, "991", id).await;
    assert_eq!(
        answer(&mut c, "991", id, "denied", 20).await,
        StatusCode::OK
    );
    assert_waiting(&mut c, "991", id).await;
    assert_eq!(
        answer(&mut c, "991", id, "confirmed", 10).await,
        StatusCode::OK
    );
    assert_deployable(&mut c, "991", id).await;
}

/// `DdiConfirmationBaseTest.revokeConfirmationIsRejectedForCancelingAction`.
#[tokio::test]
async fn deny_canceling_404() {
    let (_s, mut c, id) = assigned(true, "992", json!({})).await;
    assert_eq!(
        answer(&mut c, "992", id, "confirmed", 10).await,
        StatusCode::OK
    );
    let (st, body) = c
        .mgmt(Method::DELETE, &format!("/targets/992/actions/{id}"), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        answer(&mut c, "992", id, "denied", 20).await,
        StatusCode::NOT_FOUND
    );
    let (_, action) = c
        .mgmt(Method::GET, &format!("/targets/992/actions/{id}"), None)
        .await;
    assert_eq!(action["status"], "canceling", "{action}");
}

/// `DdiConfirmationBaseTest.revokeConfirmationIsRejectedIfConfirmationFlowIsDisabled`.
#[tokio::test]
async fn deny_flow_off_404() {
    let (_s, mut c, id) = assigned(false, "993", json!({})).await;
    assert_eq!(
        answer(&mut c, "993", id, "denied", 20).await,
        StatusCode::NOT_FOUND
    );
    assert_deployable(&mut c, "993", id).await;
}

/// `DdiConfirmationBaseTest.testActionHistoryCount`: the confirmation's details
/// and "Confirmation status code: N" show in `actionHistory`.
#[tokio::test]
async fn history_code() {
    let (_s, mut c, id) = assigned(true, "990", json!({})).await;
    assert_eq!(
        answer(&mut c, "990", id, "confirmed", 10).await,
        StatusCode::OK
    );
    let (st, _) = get(&mut c, &format!("{}/confirmationBase/{id}", base("990"))).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let path = format!("{}/deploymentBase/{id}?actionHistory=2", base("990"));
    let (st, doc) = get(&mut c, &path).await;
    assert_eq!(st, StatusCode::OK);
    let messages = doc["actionHistory"]["messages"].to_string();
    assert!(messages.contains("confirmed message"), "{messages}");
    assert!(
        messages.contains("Confirmation status code: 10"),
        "{messages}"
    );
}

/// RES `postConfirmationActionFeedback`: `ACTION_CLOSED` → 410 (both answers).
#[tokio::test]
async fn closed_410() {
    let (_s, mut c, id) = assigned(true, "994", json!({})).await;
    assert_eq!(
        answer(&mut c, "994", id, "confirmed", 10).await,
        StatusCode::OK
    );
    let path = format!("{}/deploymentBase/{id}/feedback", base("994"));
    let done = c
        .ddi(Method::POST, &path, &[], Some(closed("success")))
        .await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(
        answer(&mut c, "994", id, "confirmed", 10).await,
        StatusCode::GONE
    );
    assert_eq!(
        answer(&mut c, "994", id, "denied", 10).await,
        StatusCode::GONE
    );
}

/// `DdiConfirmationBaseTest.getConfirmationBaseProvidesAutoConfirmStatusNotActive`
/// and `…StatusActive` (initiator/remark only when given).
#[tokio::test]
async fn auto_state() {
    let (_s, mut c, id) = assigned(true, "989", json!({})).await;
    let (st, doc) = get(&mut c, &format!("{}/confirmationBase", base("989"))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(doc["autoConfirm"]["active"], false);
    let links = &doc["_links"];
    let action_link = format!("/DEFAULT/controller/v1/989/confirmationBase/{id}");
    assert!(links["confirmationBase"]["href"]
        .as_str()
        .is_some_and(|h| h.contains(&action_link)));
    let activate = "/DEFAULT/controller/v1/989/confirmationBase/activateAutoConfirm";
    assert!(links["activateAutoConfirm"]["href"]
        .as_str()
        .is_some_and(|h| h.contains(activate)));
    assert!(links.get("deactivateAutoConfirm").is_none(), "{doc}");

    let body = json!({ "remark": "someRemark" });
    let on = c
        .ddi(
            Method::POST,
            &format!("{}/confirmationBase/activateAutoConfirm", base("989")),
            &[],
            Some(body),
        )
        .await;
    assert_eq!(on.status, StatusCode::OK);
    let (_, doc) = get(&mut c, &format!("{}/confirmationBase", base("989"))).await;
    assert_eq!(doc["autoConfirm"]["active"], true);
    assert!(doc["autoConfirm"].get("initiator").is_none(), "{doc}");
    assert_eq!(doc["autoConfirm"]["remark"], "someRemark");
    let deactivate = "/DEFAULT/controller/v1/989/confirmationBase/deactivateAutoConfirm";
    assert!(doc["_links"]["deactivateAutoConfirm"]["href"]
        .as_str()
        .is_some_and(|h| h.contains(deactivate)));
    assert!(doc["_links"].get("activateAutoConfirm").is_none(), "{doc}");
    // Activation confirmed the waiting action.
    assert_deployable(&mut c, "989", id).await;
}

/// `DdiConfirmationBaseTest.activateAutoConfirmation` / `deactivateAutoConfirmation`
/// (200, body optional); a second activation → 409 (REST L148).
#[tokio::test]
async fn auto_toggle() {
    let (_s, mut c) = serve_with_gateway_token().await;
    c.root("988").await;
    let on = format!("{}/confirmationBase/activateAutoConfirm", base("988"));
    let off = format!("{}/confirmationBase/deactivateAutoConfirm", base("988"));
    let gw = [("authorization", crate::hawkbit_http::GATEWAY)];
    let body = json!({ "initiator": "someInitiator", "remark": "someRemark" });
    assert_eq!(
        c.ddi(Method::POST, &on, &[], Some(body)).await.status,
        StatusCode::OK
    );
    let again = c.send(Method::POST, &on, &gw, "").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        again.json()["errorCode"],
        "hawkbit.server.error.repo.autoConfAlreadyActive"
    );
    assert_eq!(
        c.send(Method::POST, &off, &gw, "").await.status,
        StatusCode::OK
    );
    let (_, doc) = get(&mut c, &format!("{}/confirmationBase", base("988"))).await;
    assert_eq!(doc["autoConfirm"]["active"], false);
    assert_eq!(
        c.send(Method::POST, &on, &gw, "").await.status,
        StatusCode::OK
    );
    let (_, doc) = get(&mut c, &format!("{}/confirmationBase", base("988"))).await;
    assert_eq!(
        doc["autoConfirm"]["remark"],
        "Initiated using the Device Direct Integration API without providing a remark."
    );
}

/// Row `mgmt::auto_confirm`: `MgmtTargetResource` L450–469 — GET state,
/// activate (optional body) → 204, deactivate → 204; target `_links.autoConfirm`.
#[tokio::test]
async fn mgmt_auto_confirm() {
    let (_s, mut c, id) = assigned(true, "995", json!({})).await;
    let (st, target) = c.mgmt(Method::GET, "/targets/995", None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(target["_links"]["autoConfirm"]["href"]
        .as_str()
        .is_some_and(|h| h.ends_with("/rest/v1/targets/995/autoConfirm")));
    let (st, state) = c.mgmt(Method::GET, "/targets/995/autoConfirm", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(state["active"], false);
    assert!(state["_links"]["activate"]["href"].is_string(), "{state}");
    let body = json!({ "initiator": "ops-team", "remark": "" });
    let (st, _) = c
        .mgmt(
            Method::POST,
            "/targets/995/autoConfirm/activate",
            Some(body),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, state) = c.mgmt(Method::GET, "/targets/995/autoConfirm", None).await;
    assert_eq!(state["active"], true);
    assert_eq!(state["initiator"], "ops-team");
    assert!(state.get("remark").is_none(), "{state}");
    assert!(state["_links"]["deactivate"]["href"].is_string(), "{state}");
    let (st, _) = c
        .mgmt(Method::POST, "/targets/995/autoConfirm/activate", None)
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_deployable(&mut c, "995", id).await;
    let (st, _) = c
        .mgmt(Method::POST, "/targets/995/autoConfirm/deactivate", None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, state) = c.mgmt(Method::GET, "/targets/995/autoConfirm", None).await;
    assert_eq!(state["active"], false);
}

/// `confirmationRequired: false` on an assignment skips the wait (`MgmtDistributionSetResource` L288).
#[tokio::test]
async fn not_required() {
    let (_s, mut c, id) = assigned(true, "996", json!({ "confirmationRequired": false })).await;
    assert_deployable(&mut c, "996", id).await;
}
