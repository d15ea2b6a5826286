//! The confirmation flow (ddi.md §1.8): with the tenant's
//! `user.confirmation.flow.enabled` on, an assignment with
//! `confirmationRequired` waits for the device's consent behind
//! `confirmationBase/{id}`; `confirmed` lets it proceed, `denied` keeps it
//! waiting, and auto-confirmation lets later ones run at once. Each case
//! turns the flow on through the management adapter and off again at its
//! end, whatever its verdict (the other cases expect it off).

use serde_json::{json, Value};

use super::super::{case_fn, ensure, Case, Ctx, RunFn, Stop, Verdict};
use super::{action_of, expect_status, link};
use crate::management::OrderKind;
use fleetsim_core::message::Method;

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    vec![
        Case { id: "DDI-CONFIRM-001", core: false, run: case_fn!(waits),
            clause: "ddi.md §1.1, §1.8; DdiConfirmationBaseTest.verifyConfirmationReferencesInControllerBase",
            title: "With the confirmation flow on, an assignment is linked as confirmationBase/{id} only; that is 200 with the deployment and deploymentBase/{id} is 404" },
        Case { id: "DDI-CONFIRM-002", core: false, run: case_fn!(confirmed),
            clause: "ddi.md §1.8 (confirmed → RUNNING, then exposed as deploymentBase); DdiConfirmationBaseTest.sendConfirmedActionStateFeedback",
            title: "confirmed on the confirmationBase is 200 and the root then links deploymentBase/{id} of the same action, which is 200" },
        Case { id: "DDI-CONFIRM-003", core: false, run: case_fn!(denied),
            clause: "ddi.md §1.8 (denied → stays WAIT_FOR_CONFIRMATION); DdiConfirmationBaseTest.sendDeniedActionStateFeedback",
            title: "denied on the confirmationBase is 200 and the action keeps waiting: the root links confirmationBase/{id} again, deploymentBase/{id} is 404" },
        Case { id: "DDI-CONFIRM-004", core: false, run: case_fn!(auto_confirm),
            clause: "ddi.md §1.8 (activateAutoConfirm 200, 409 if active; deactivateAutoConfirm 200)",
            title: "activateAutoConfirm is 200 (409 the second time) and the next assignment is linked as deploymentBase at once; after deactivateAutoConfirm the next one waits again" },
        Case { id: "DDI-CONFIRM-005", core: false, run: case_fn!(not_required),
            clause: "ddi.md §1.8; MgmtDistributionSetResource (confirmationRequired: false skips the wait)",
            title: "With the flow on, an assignment with confirmationRequired false is linked as deploymentBase at once" },
    ]
}

/// Runs `inner` with the tenant's confirmation flow on, and turns it off
/// again afterwards whatever `inner` found.
pub(super) async fn in_flow(cx: &mut Ctx<'_>, inner: RunFn) -> Verdict {
    cx.confirmation_flow(true).await?;
    let verdict = inner(cx).await;
    let off = cx.confirmation_flow(false).await;
    verdict.and(off)
}

/// Device `n` registered, with a fresh forced assignment that has
/// `confirmationRequired: required`: (device, the root's link of `rel`).
async fn assigned(
    cx: &mut Ctx<'_>,
    n: usize,
    required: bool,
    rel: &str,
) -> Result<(String, String), Stop> {
    let cid = cx.device(n);
    cx.register(std::slice::from_ref(&cid)).await?;
    cx.assign_full(
        std::slice::from_ref(&cid),
        (OrderKind::Forced, None),
        Some(required),
    )
    .await?;
    let href = link(cx, &cid, rel).await?;
    Ok((cid, href))
}

/// The root of `cid` links exactly `rel` of the three action links.
async fn root_links_only(cx: &mut Ctx<'_>, cid: &str, rel: &str) -> Result<String, Stop> {
    let root = cx.root(cid).await?;
    let links = &root["_links"];
    let others: Vec<&str> = ["confirmationBase", "cancelAction", "deploymentBase"]
        .into_iter()
        .filter(|r| *r != rel && !links[*r].is_null())
        .collect();
    ensure(others.is_empty(), || {
        format!("expected only `{rel}`, the root also links {others:?}: {root}")
    })?;
    links[rel]["href"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| Stop::Fail(format!("the root does not link `{rel}`: {root}")))
}

/// The deploymentBase of `cid`'s action `action`, its status.
async fn deployment_status(cx: &mut Ctx<'_>, cid: &str, action: &str) -> Result<u16, Stop> {
    let path = format!("{}/deploymentBase/{action}", cx.base(cid));
    Ok(cx.get(&path).await?.status)
}

/// Posts a confirmation feedback (`confirmed` / `denied`) on `href`; its status.
async fn consent(cx: &mut Ctx<'_>, href: &str, answer: &str) -> Result<u16, Stop> {
    let path = format!("{}/feedback", href.split('?').next().unwrap_or(href));
    let body = json!({ "confirmation": answer, "code": 0, "details": ["fleetsim conform"] });
    Ok(cx.send_json(Method::Post, &path, &body).await?.status)
}

async fn waits(cx: &mut Ctx<'_>) -> Verdict {
    in_flow(cx, case_fn!(waits_in_flow)).await
}

async fn waits_in_flow(cx: &mut Ctx<'_>) -> Verdict {
    let (cid, href) = assigned(cx, 1, true, "confirmationBase").await?;
    root_links_only(cx, &cid, "confirmationBase").await?;
    let action = action_of(&href);
    let a = cx.get(&href).await?;
    a.expect(200, "the confirmationBase of the waiting action")?;
    let doc = a.json()?;
    ensure(
        doc["id"].as_str() == Some(action.as_str()) && doc["confirmation"]["chunks"].is_array(),
        || format!("expected id {action} and confirmation.chunks: {doc}"),
    )?;
    let st = deployment_status(cx, &cid, &action).await?;
    expect_status(
        st,
        404,
        "the deploymentBase of an action waiting for confirmation",
    )
}

async fn confirmed(cx: &mut Ctx<'_>) -> Verdict {
    in_flow(cx, case_fn!(confirmed_in_flow)).await
}

async fn confirmed_in_flow(cx: &mut Ctx<'_>) -> Verdict {
    let (cid, href) = assigned(cx, 1, true, "confirmationBase").await?;
    let st = consent(cx, &href, "confirmed").await?;
    expect_status(st, 200, "confirmed on the confirmationBase")?;
    let deployment = root_links_only(cx, &cid, "deploymentBase").await?;
    ensure(action_of(&deployment) == action_of(&href), || {
        format!("the root links {deployment}, the confirmed action is {href}")
    })?;
    cx.get(&deployment)
        .await?
        .expect(200, "the deploymentBase of the confirmed action")
}

async fn denied(cx: &mut Ctx<'_>) -> Verdict {
    in_flow(cx, case_fn!(denied_in_flow)).await
}

async fn denied_in_flow(cx: &mut Ctx<'_>) -> Verdict {
    let (cid, href) = assigned(cx, 1, true, "confirmationBase").await?;
    let st = consent(cx, &href, "denied").await?;
    expect_status(st, 200, "denied on the confirmationBase")?;
    let again = root_links_only(cx, &cid, "confirmationBase").await?;
    let action = action_of(&href);
    ensure(action_of(&again) == action, || {
        format!("after the denial the root links {again}, not action {action}")
    })?;
    let st = deployment_status(cx, &cid, &action).await?;
    expect_status(st, 404, "the deploymentBase of the denied action")
}

/// `GET confirmationBase` of `cid`: `autoConfirm.active`, or a FAIL.
async fn auto_confirm_active(cx: &mut Ctx<'_>, cid: &str) -> Result<bool, Stop> {
    let path = format!("{}/confirmationBase", cx.base(cid));
    let a = cx.get(&path).await?;
    a.expect(200, "GET confirmationBase")?;
    let doc: Value = a.json()?;
    doc["autoConfirm"]["active"]
        .as_bool()
        .ok_or_else(|| Stop::Fail(format!("no autoConfirm.active: {doc}")))
}

/// POSTs `verb` (`activateAutoConfirm` …) under `cid`'s confirmationBase.
async fn toggle(cx: &mut Ctx<'_>, cid: &str, verb: &str) -> Result<u16, Stop> {
    let path = format!("{}/confirmationBase/{verb}", cx.base(cid));
    let body = json!({ "initiator": "fleetsim", "remark": "fleetsim conform" });
    Ok(cx.send_json(Method::Post, &path, &body).await?.status)
}

async fn auto_confirm(cx: &mut Ctx<'_>) -> Verdict {
    in_flow(cx, case_fn!(auto_confirm_in_flow)).await
}

async fn auto_confirm_in_flow(cx: &mut Ctx<'_>) -> Verdict {
    let cid = cx.device(1);
    cx.register(std::slice::from_ref(&cid)).await?;
    ensure(!auto_confirm_active(cx, &cid).await?, || {
        "auto-confirmation is active before it was activated".into()
    })?;
    let st = toggle(cx, &cid, "activateAutoConfirm").await?;
    expect_status(st, 200, "activateAutoConfirm")?;
    ensure(auto_confirm_active(cx, &cid).await?, || {
        "autoConfirm.active is false after activateAutoConfirm".into()
    })?;
    let st = toggle(cx, &cid, "activateAutoConfirm").await?;
    expect_status(st, 409, "activateAutoConfirm while active")?;
    let one = std::slice::from_ref(&cid);
    cx.assign_full(one, (OrderKind::Forced, None), Some(true))
        .await?;
    let first = root_links_only(cx, &cid, "deploymentBase").await?;
    let st = super::feedback(cx, &first, &super::status("closed", "success")).await?;
    expect_status(st, 200, "closed/success on the auto-confirmed action")?;
    let st = toggle(cx, &cid, "deactivateAutoConfirm").await?;
    expect_status(st, 200, "deactivateAutoConfirm")?;
    ensure(!auto_confirm_active(cx, &cid).await?, || {
        "autoConfirm.active is true after deactivateAutoConfirm".into()
    })?;
    cx.assign_full(one, (OrderKind::Forced, None), Some(true))
        .await?;
    root_links_only(cx, &cid, "confirmationBase").await?;
    Ok(())
}

async fn not_required(cx: &mut Ctx<'_>) -> Verdict {
    in_flow(cx, case_fn!(not_required_in_flow)).await
}

async fn not_required_in_flow(cx: &mut Ctx<'_>) -> Verdict {
    let (cid, _) = assigned(cx, 1, false, "deploymentBase").await?;
    root_links_only(cx, &cid, "deploymentBase").await?;
    Ok(())
}
