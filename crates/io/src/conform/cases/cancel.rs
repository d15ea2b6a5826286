//! The cancel flow: cancelAction offered, answered with success or
//! rejected, and refused on actions not being canceled.

use super::super::{case_fn, ensure, Case, Ctx, Stop, Verdict};
use super::{action_of, expect_status, feedback, link, offered, status};
use crate::management::OrderKind;

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    vec![
        Case { id: "DDI-CANCEL-001", core: false, run: case_fn!(cancel_confirmed),
            clause: "ddi.md §1.1, §1.5, §1.6; DdiCancelActionTest.rootRsCancelAction",
            title: "A canceled action is linked as cancelAction/{id} with cancelAction.stopId; closed/success on it is 200 and the root then links neither" },
        Case { id: "DDI-CANCEL-002", core: false, run: case_fn!(cancel_rejected),
            clause: "ddi.md §1.6 (rejected → RUNNING); DdiCancelActionTest.rootRsCancelActionButContinueAnyway",
            title: "A rejected cancel leaves the action running: deploymentBase is offered again and can be finished" },
        Case { id: "DDI-CANCEL-003", core: false, run: case_fn!(not_canceling_405),
            clause: "ddi.md §1.6 (CancelActionNotAllowedException); DdiCancelActionTest.badCancelActionFeedback",
            title: "Cancel feedback on an action that is not being canceled is 405" },
    ]
}

/// A device with an offered action that was then canceled: (device, the
/// deploymentBase href, the cancelAction href).
async fn canceled(cx: &mut Ctx<'_>) -> Result<(String, String, String), Stop> {
    let (cid, campaign, href) = offered(cx, OrderKind::Forced).await?;
    cx.cancel(&campaign).await?;
    let cancel = link(cx, &cid, "cancelAction").await?;
    Ok((cid, href, cancel))
}

async fn cancel_confirmed(cx: &mut Ctx<'_>) -> Verdict {
    let (cid, href, cancel) = canceled(cx).await?;
    let action = action_of(&href);
    ensure(action_of(&cancel) == action, || {
        format!("cancelAction links {cancel}, the canceled action is {action}")
    })?;
    let a = cx.get(&cancel).await?;
    a.expect(200, "the cancelAction")?;
    let doc = a.json()?;
    ensure(
        doc["cancelAction"]["stopId"].as_str() == Some(action.as_str()),
        || format!("cancelAction.stopId is not {action}: {doc}"),
    )?;
    let st = feedback(cx, &cancel, &status("closed", "success")).await?;
    expect_status(st, 200, "closed/success on the cancelAction")?;
    let root = cx.root(&cid).await?;
    let links = &root["_links"];
    ensure(
        links["cancelAction"].is_null() && links["deploymentBase"].is_null(),
        || format!("the canceled action is still linked: {root}"),
    )
}

async fn cancel_rejected(cx: &mut Ctx<'_>) -> Verdict {
    let (cid, href, cancel) = canceled(cx).await?;
    let st = feedback(cx, &cancel, &status("rejected", "none")).await?;
    expect_status(st, 200, "rejected on the cancelAction")?;
    let again = link(cx, &cid, "deploymentBase").await?;
    ensure(action_of(&again) == action_of(&href), || {
        format!("after the rejected cancel the root links {again}, not the action of {href}")
    })?;
    let st = feedback(cx, &again, &status("closed", "success")).await?;
    expect_status(st, 200, "closed/success after the rejected cancel")
}

async fn not_canceling_405(cx: &mut Ctx<'_>) -> Verdict {
    let (cid, _, href) = offered(cx, OrderKind::Forced).await?;
    let cancel = format!("{}/cancelAction/{}", cx.base(&cid), action_of(&href));
    let st = feedback(cx, &cancel, &status("closed", "success")).await?;
    expect_status(st, 405, "cancel feedback on a running action")
}
