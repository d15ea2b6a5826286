//! Rollout tests: groups start at the success threshold, the error
//! threshold pauses, as seen through the Management API and DDI.

use serde_json::{json, Value};

use super::H;
use crate::message::Method;

fn finish(h: &mut H, cid: &str) {
    let root: Value =
        serde_json::from_slice(h.ddi(Method::Get, &format!("/{cid}"), None).body.as_bytes())
            .expect("root");
    let href = root["_links"]["deploymentBase"]["href"]
        .as_str()
        .expect("deployment")
        .to_string();
    let id = href
        .rsplit('/')
        .next()
        .and_then(|s| s.split('?').next())
        .expect("id")
        .to_string();
    let fb = json!({ "status": { "execution": "closed", "result": { "finished": "success" } } });
    assert_eq!(
        h.ddi(
            Method::Post,
            &format!("/{cid}/deploymentBase/{id}/feedback"),
            Some(fb)
        )
        .status,
        200
    );
}

#[test]
fn rollout_groups_start_at_the_success_threshold() {
    let mut h = H::new();
    let ds = h.setup(&["r-1", "r-2", "r-3", "r-4", "x-1"], b"fw");
    let body = json!({ "name": "r", "distributionSetId": ds, "targetFilterQuery": "controllerId==r-*",
        "amountGroups": 2, "type": "forced",
        "successCondition": { "condition": "THRESHOLD", "expression": "50" },
        "errorCondition": { "condition": "THRESHOLD", "expression": "50" } });
    let (st, r) = h.call(Method::Post, "/rollouts", Some(body.clone()));
    assert_eq!(st, 201, "{r}");
    assert_eq!(
        (r["status"].clone(), r["totalTargets"].clone()),
        (json!("ready"), json!(4))
    );
    assert_eq!(r["totalTargetsPerStatus"]["notstarted"], 4);
    assert_eq!(h.call(Method::Post, "/rollouts", Some(body)).0, 409);
    assert_eq!(h.call(Method::Post, "/rollouts/1/pause", None).0, 400);
    assert_eq!(h.call(Method::Post, "/rollouts/1/start", None).0, 200);
    assert_eq!(h.call(Method::Post, "/rollouts/1/start", None).0, 400);
    let (_, groups) = h.call(Method::Get, "/rollouts/1/deploygroups", None);
    assert_eq!(groups["content"][0]["status"], "running");
    assert_eq!(groups["content"][1]["status"], "scheduled");
    assert_eq!(groups["content"][1]["totalTargets"], 2);
    // r-3 (group 2) has nothing yet; r-1 finishing reaches 50 % of group 1.
    assert!(
        !String::from_utf8_lossy(h.ddi(Method::Get, "/r-3", None).body.as_bytes())
            .contains("deploymentBase")
    );
    finish(&mut h, "r-1");
    let (_, groups) = h.call(Method::Get, "/rollouts/1/deploygroups", None);
    assert_eq!(groups["content"][1]["status"], "running");
    finish(&mut h, "r-3");
    let (_, actions) = h.call(Method::Get, "/targets/r-3/actions", None);
    assert_eq!(actions["content"][0]["rollout"], 1);
    assert_eq!(h.call(Method::Post, "/rollouts/1/pause", None).0, 200);
    assert_eq!(
        h.call(Method::Get, "/rollouts/1", None).1["status"],
        "paused"
    );
    assert_eq!(h.call(Method::Post, "/rollouts/1/resume", None).0, 200);
    finish(&mut h, "r-2");
    finish(&mut h, "r-4");
    let (_, r) = h.call(Method::Get, "/rollouts/1", None);
    assert_eq!(
        (
            r["status"].clone(),
            r["totalTargetsPerStatus"]["finished"].clone()
        ),
        (json!("finished"), json!(4))
    );
    assert_eq!(h.call(Method::Get, "/rollouts", None).1["total"], 1);
    assert_eq!(h.call(Method::Get, "/rollouts/7", None).0, 404);
    let none =
        json!({ "name": "n", "distributionSetId": ds, "targetFilterQuery": "controllerId==zzz" });
    assert_eq!(h.call(Method::Post, "/rollouts", Some(none)).0, 400);
}

#[test]
fn rollout_error_threshold_pauses() {
    let mut h = H::new();
    let ds = h.setup(&["e-1", "e-2"], b"fw");
    let body = json!({ "name": "r", "distributionSetId": ds, "targetFilterQuery": "id==e-*",
        "groups": [ { "name": "a", "targetPercentage": 50 }, { "name": "b" } ],
        "errorCondition": { "condition": "THRESHOLD", "expression": "0" } });
    assert_eq!(h.call(Method::Post, "/rollouts", Some(body)).0, 201);
    assert_eq!(h.call(Method::Post, "/rollouts/1/start", None).0, 200);
    let root: Value =
        serde_json::from_slice(h.ddi(Method::Get, "/e-1", None).body.as_bytes()).expect("root");
    let href = root["_links"]["deploymentBase"]["href"]
        .as_str()
        .expect("deployment")
        .to_string();
    let id = href
        .rsplit('/')
        .next()
        .and_then(|s| s.split('?').next())
        .expect("id")
        .to_string();
    let fb = json!({ "status": { "execution": "closed", "result": { "finished": "failure" } } });
    assert_eq!(
        h.ddi(
            Method::Post,
            &format!("/e-1/deploymentBase/{id}/feedback"),
            Some(fb)
        )
        .status,
        200
    );
    let (_, r) = h.call(Method::Get, "/rollouts/1", None);
    assert_eq!(r["status"], "paused");
    let (_, g) = h.call(Method::Get, "/rollouts/1/deploygroups", None);
    assert_eq!(
        (
            g["content"][0]["status"].clone(),
            g["content"][1]["status"].clone()
        ),
        (json!("error"), json!("scheduled"))
    );
}

/// `MgmtRolloutRestRequestBodyPost.confirmationRequired`, overridden per
/// group by `MgmtRolloutGroup.confirmationRequired`: with the confirmation
/// flow on, the rollout's actions wait for consent unless their group says
/// otherwise.
#[test]
fn rollout_confirmation_required_applies_per_group() {
    let mut h = H::new();
    let flow = json!({ "user.confirmation.flow.enabled": true });
    assert_eq!(h.call(Method::Put, "/system/configs", Some(flow)).0, 200);
    let ds = h.setup(&["c-1", "c-2"], b"fw");
    let body = json!({ "name": "c", "distributionSetId": ds, "targetFilterQuery": "controllerId==c-*",
        "type": "forced", "confirmationRequired": true,
        "groups": [
            { "name": "asks", "targetFilterQuery": "controllerId==c-1", "targetPercentage": 100 },
            { "name": "trusts", "targetFilterQuery": "controllerId==c-2", "targetPercentage": 100,
              "confirmationRequired": false,
              "successCondition": { "condition": "THRESHOLD", "expression": "0" } } ],
        "successCondition": { "condition": "THRESHOLD", "expression": "0" } });
    let (st, r) = h.call(Method::Post, "/rollouts", Some(body));
    assert_eq!(st, 201, "{r}");
    assert_eq!(h.call(Method::Post, "/rollouts/1/start", None).0, 200);
    let status = |h: &mut H, cid: &str| {
        let (_, actions) = h.call(Method::Get, &format!("/targets/{cid}/actions"), None);
        actions["content"][0]["status"].clone()
    };
    assert_eq!(status(&mut h, "c-1"), json!("wait_for_confirmation"));
    // Group 2 starts once group 1 reaches its 0 % threshold (next evaluation).
    h.ddi(Method::Get, "/c-1", None);
    let (_, groups) = h.call(Method::Get, "/rollouts/1/deploygroups", None);
    assert_eq!(groups["content"][1]["status"], "running", "{groups}");
    assert_eq!(status(&mut h, "c-2"), json!("running"));
}
