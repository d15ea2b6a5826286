//! Unit tests of the confirmation flow, named after the hawkBit tests they
//! mirror (`DdiConfirmationBaseTest`, snake_case) where there is one.

use crate::message::{Body, Headers, Method, Request};
use crate::server::test_support::{json, CID, H};
use crate::server::{ActionId, ActionStatus, ActionType, Fault, FaultWindow, ServerConfig};
use crate::time::Time;

fn flow_on() -> H {
    H::with_config(ServerConfig {
        confirmation_flow: true,
        ..ServerConfig::default()
    })
}

fn answer(h: &mut H, id: ActionId, confirmation: &str, code: i32, detail: &str) -> u16 {
    let body =
        format!(r#"{{"confirmation":"{confirmation}","code":{code},"details":["{detail}"]}}"#);
    h.post(&format!("/confirmationBase/{id}/feedback"), &body)
        .status
}

/// Root links `confirmationBase/{id}` only; confirmationBase/{id} 200; deploymentBase 404.
fn assert_waiting(h: &mut H, id: ActionId) {
    let root = h.root();
    let link = root
        .links
        .confirmation_base
        .expect("confirmationBase link")
        .href;
    assert!(link.contains(&format!(
        "/DEFAULT/controller/v1/{CID}/confirmationBase/{id}?c="
    )));
    assert!(root.links.deployment_base.is_none());
    assert_eq!(h.get(&format!("/confirmationBase/{id}")).status, 200);
    assert_eq!(h.get(&format!("/deploymentBase/{id}")).status, 404);
}

/// Root links `deploymentBase/{id}` only, and it answers 200.
fn assert_deployable(h: &mut H, id: ActionId) {
    let root = h.root();
    assert!(root.links.confirmation_base.is_none());
    let link = root
        .links
        .deployment_base
        .expect("deploymentBase link")
        .href;
    assert!(link.contains(&format!("/deploymentBase/{id}")));
    assert_eq!(h.get(&format!("/deploymentBase/{id}")).status, 200);
}

#[test]
fn verify_confirmation_references_in_controller_base() {
    let mut h = flow_on();
    let a = h.assign(ActionType::Forced);
    assert_eq!(
        h.s.action_status(CID, a),
        Some(ActionStatus::WaitForConfirmation)
    );
    let history = h.s.action_history(CID, a).expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].status, ActionStatus::WaitForConfirmation);
    assert_waiting(&mut h, a);
    let doc = json(&h.get(&format!("/confirmationBase/{a}?actionHistory=5")));
    assert_eq!(doc["id"], a.to_string());
    assert_eq!(doc["confirmation"]["download"], "forced");
    assert_eq!(doc["confirmation"]["update"], "forced");
    assert_eq!(doc["confirmation"]["chunks"][0]["part"], "os");
    assert_eq!(doc["actionHistory"]["status"], "WAIT_FOR_CONFIRMATION");
    assert_eq!(
        doc["actionHistory"]["messages"][0],
        "Waiting for the confirmation by the device before processing with the deployment"
    );
}

#[test]
fn confirmation_endpoint_not_exposed() {
    let mut h = H::new();
    let a = h.assign(ActionType::Forced);
    assert!(h.root().links.confirmation_base.is_none());
    assert_eq!(h.get(&format!("/confirmationBase/{a}")).status, 404);
    assert_eq!(
        h.s.action_history(CID, a).expect("history")[0].status,
        ActionStatus::Running
    );
}

#[test]
fn send_confirmed_action_state_feedback() {
    let mut h = flow_on();
    let a = h.assign(ActionType::Forced);
    assert_eq!(
        answer(&mut h, a, "confirmed", 10, "Action confirmed message."),
        200
    );
    assert_eq!(h.s.action_status(CID, a), Some(ActionStatus::Running));
    assert_deployable(&mut h, a);
    assert_eq!(h.get(&format!("/confirmationBase/{a}")).status, 404);
}

#[test]
fn send_denied_action_state_feedback() {
    let mut h = flow_on();
    let a = h.assign(ActionType::Forced);
    assert_eq!(
        answer(&mut h, a, "denied", 10, "Action denied message."),
        200
    );
    assert_eq!(
        h.s.action_status(CID, a),
        Some(ActionStatus::WaitForConfirmation)
    );
    assert_waiting(&mut h, a);
    let last =
        h.s.action_history(CID, a)
            .expect("history")
            .pop()
            .expect("entry");
    assert_eq!(
        last.messages,
        vec![
            "Action denied message.".to_string(),
            "Update Server: Target rejected action. Action will stay in confirmation pending state."
                .to_string(),
            "Confirmation status code: 10".to_string(),
        ]
    );
}

#[test]
fn revoke_confirmation_reverts_running_action_to_confirmation_base() {
    let mut h = flow_on();
    let a = h.assign(ActionType::Forced);
    assert_eq!(answer(&mut h, a, "confirmed", 10, "ok"), 200);
    assert_deployable(&mut h, a);
    assert_eq!(
        answer(&mut h, a, "denied", 20, "Consent revoked message."),
        200
    );
    assert_waiting(&mut h, a);
    assert_eq!(answer(&mut h, a, "confirmed", 10, "again"), 200);
    assert_deployable(&mut h, a);
}

#[test]
fn revoke_confirmation_is_rejected_for_canceling_action() {
    let mut h = flow_on();
    let a = h.assign(ActionType::Forced);
    assert_eq!(answer(&mut h, a, "confirmed", 10, "ok"), 200);
    assert!(h.s.cancel(h.now, CID, a, false));
    assert_eq!(answer(&mut h, a, "denied", 20, "revoked"), 404);
    assert_eq!(h.s.action_status(CID, a), Some(ActionStatus::Canceling));
}

#[test]
fn revoke_confirmation_is_rejected_if_confirmation_flow_is_disabled() {
    let mut h = H::new();
    let a = h.assign(ActionType::Forced);
    assert_eq!(answer(&mut h, a, "denied", 20, "revoked"), 404);
    assert_eq!(h.s.action_status(CID, a), Some(ActionStatus::Running));
    assert_deployable(&mut h, a);
}

#[test]
fn confirmed_on_running_action_is_404_and_on_closed_action_410() {
    let mut h = H::new();
    let a = h.assign(ActionType::Forced);
    assert_eq!(answer(&mut h, a, "confirmed", 1, "x"), 404);
    assert_eq!(h.feedback(a, "closed", "success").status, 200);
    assert_eq!(answer(&mut h, a, "confirmed", 1, "x"), 410);
    assert_eq!(answer(&mut h, a, "denied", 1, "x"), 410);
    assert_eq!(answer(&mut h, ActionId(999), "confirmed", 1, "x"), 404);
}

#[test]
fn verify_confirmation_base_endpoints_are_present_after_disabling_confirmation_flow() {
    let mut h = flow_on();
    let a = h.assign(ActionType::Forced);
    let off = r#"{"value":false}"#;
    let mut req = H::with_body(Method::Put, "", off);
    req.url = "http://h:8080/rest/v1/system/configs/user.confirmation.flow.enabled".into();
    req.headers
        .insert("authorization", "Basic YWRtaW46YWRtaW4=");
    assert_eq!(h.send(req).status, 200);
    assert!(!h.s.config().confirmation_flow);
    assert_waiting(&mut h, a);
    assert_eq!(answer(&mut h, a, "denied", 20, "no"), 200);
    assert_waiting(&mut h, a);
    assert_eq!(answer(&mut h, a, "confirmed", 10, "yes"), 200);
    assert_deployable(&mut h, a);
}

#[test]
fn test_action_history_count() {
    let mut h = flow_on();
    let a = h.assign(ActionType::Forced);
    assert_eq!(
        answer(&mut h, a, "confirmed", 10, "Action confirmed message."),
        200
    );
    assert_eq!(h.get(&format!("/confirmationBase/{a}")).status, 404);
    let doc = json(&h.get(&format!("/deploymentBase/{a}?actionHistory=2")));
    let messages = doc["actionHistory"]["messages"]
        .as_array()
        .expect("messages")
        .clone();
    assert!(
        messages.contains(&"Action confirmed message.".into()),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"Confirmation status code: 10".into()),
        "{messages:?}"
    );
}

#[test]
fn get_confirmation_base_provides_auto_confirm_status_not_active() {
    let mut h = flow_on();
    let a = h.assign(ActionType::Forced);
    let doc = json(&h.get("/confirmationBase"));
    assert_eq!(doc["autoConfirm"]["active"], false);
    let links = &doc["_links"];
    let href = |k: &str| links[k]["href"].as_str().unwrap_or_default().to_string();
    assert!(
        href("confirmationBase").contains(&format!("/controller/v1/{CID}/confirmationBase/{a}"))
    );
    assert!(href("activateAutoConfirm").ends_with("/confirmationBase/activateAutoConfirm"));
    assert!(links.get("deactivateAutoConfirm").is_none());
}

#[test]
fn get_confirmation_base_provides_auto_confirm_status_active() {
    for (initiator, remark) in [
        (Some("i"), Some("r")),
        (None, Some("r")),
        (Some("i"), None),
        (None, None),
    ] {
        let mut h = H::new();
        let mut body = serde_json::Map::new();
        if let Some(i) = initiator {
            body.insert("initiator".into(), i.into());
        }
        if let Some(r) = remark {
            body.insert("remark".into(), r.into());
        }
        let body = serde_json::Value::Object(body).to_string();
        assert_eq!(
            h.post("/confirmationBase/activateAutoConfirm", &body)
                .status,
            200
        );
        let doc = json(&h.get("/confirmationBase"));
        let auto = &doc["autoConfirm"];
        assert_eq!(auto["active"], true);
        assert_eq!(auto.get("initiator").and_then(|v| v.as_str()), initiator);
        assert_eq!(auto.get("remark").and_then(|v| v.as_str()), remark);
        assert!(doc["_links"]["deactivateAutoConfirm"]["href"]
            .as_str()
            .is_some_and(|h| h.ends_with("/confirmationBase/deactivateAutoConfirm")));
        assert!(doc["_links"].get("activateAutoConfirm").is_none());
    }
}

fn bare_post(rest: &str) -> Request {
    Request {
        method: Method::Post,
        url: H::url(rest),
        headers: Headers::new(),
        body: Body::Empty,
    }
}

#[test]
fn activate_twice_is_409_deactivate_is_200_and_bodies_are_optional() {
    let mut h = H::new();
    assert_eq!(
        h.send(bare_post("/confirmationBase/activateAutoConfirm"))
            .status,
        200
    );
    let doc = json(&h.get("/confirmationBase"));
    assert_eq!(
        doc["autoConfirm"]["remark"],
        "Initiated using the Device Direct Integration API without providing a remark."
    );
    let again = h.send(bare_post("/confirmationBase/activateAutoConfirm"));
    assert_eq!(again.status, 409);
    assert_eq!(
        json(&again)["errorCode"],
        "hawkbit.server.error.repo.autoConfAlreadyActive"
    );
    assert_eq!(
        h.send(bare_post("/confirmationBase/deactivateAutoConfirm"))
            .status,
        200
    );
    assert_eq!(
        json(&h.get("/confirmationBase"))["autoConfirm"]["active"],
        false
    );
    let mut typed = bare_post("/confirmationBase/activateAutoConfirm");
    typed.body = Body::Bytes(b"x".to_vec().into());
    typed.headers.insert("content-type", "text/plain");
    assert_eq!(h.send(typed).status, 415);
}

#[test]
fn activating_auto_confirm_confirms_waiting_actions_and_later_ones_start_running() {
    let mut h = flow_on();
    let a = h.assign(ActionType::Forced);
    assert_eq!(
        h.post(
            "/confirmationBase/activateAutoConfirm",
            r#"{"initiator":"me"}"#
        )
        .status,
        200
    );
    assert_eq!(h.s.action_status(CID, a), Some(ActionStatus::Running));
    let last =
        h.s.action_history(CID, a)
            .expect("history")
            .pop()
            .expect("entry");
    assert_eq!(
        last.messages,
        vec![format!(
            "Assignment automatically confirmed by initiator 'me'. \n\nAuto confirmation activated by system user: '{CID}' \n\nRemark: n/a"
        )]
    );
    h.now = Time(5_000);
    let b = h.assign(ActionType::Forced);
    assert_eq!(h.s.action_status(CID, b), Some(ActionStatus::Running));
    let first = &h.s.action_history(CID, b).expect("history")[0];
    assert_eq!(first.status, ActionStatus::WaitForConfirmation);
}

#[test]
fn faults_break_the_flow() {
    let mut h = flow_on();
    h.s.set_faults(vec![FaultWindow {
        from: Time::ZERO,
        until: Time(10_000_000),
        fault: Fault::LinkDeploymentWhileWaiting,
    }]);
    let a = h.assign(ActionType::Forced);
    let root = h.root();
    assert!(root.links.deployment_base.is_some());
    assert!(root.links.confirmation_base.is_none());
    assert_eq!(h.get(&format!("/deploymentBase/{a}")).status, 404);

    let mut h = flow_on();
    h.s.set_faults(vec![FaultWindow {
        from: Time::ZERO,
        until: Time(10_000_000),
        fault: Fault::DenialAsConsent,
    }]);
    let a = h.assign(ActionType::Forced);
    assert_eq!(answer(&mut h, a, "denied", 1, "no"), 200);
    assert_eq!(h.s.action_status(CID, a), Some(ActionStatus::Running));
}
