//! Link precedence (ddi.md §1.1): the root links at most one of
//! `confirmationBase`, `cancelAction` and `deploymentBase`, for the active
//! action (highest weight, ties → lowest id); an action being canceled is
//! linked as `cancelAction` although a newer one is open.

use super::super::{case_fn, ensure, Case, Ctx, Stop, Verdict};
use super::{action_of, expect_status, feedback, link, offered, status};
use crate::management::OrderKind;

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    vec![
        Case { id: "DDI-LINK-001", core: false, run: case_fn!(cancel_before_newer),
            clause: "ddi.md §1.1 (at most one link; active action = highest weight, ties → lowest id; cancelAction if CANCELING); ddi.md §3 (a newer assignment supersedes)",
            title: "With an action being canceled and a newer one assigned, the root links only cancelAction/{older}; once the cancel is closed it links deploymentBase/{newer}" },
        Case { id: "DDI-LINK-002", core: false, run: case_fn!(cancel_over_confirmation),
            clause: "ddi.md §1.1, §1.8 (confirmationBase only while WAIT_FOR_CONFIRMATION; cancelAction if CANCELING)",
            title: "An action canceled while waiting for confirmation is linked as cancelAction/{id}, not confirmationBase" },
    ]
}

/// The three action links the root of `cid` carries: (rel, href) each.
async fn action_links(cx: &mut Ctx<'_>, cid: &str) -> Result<Vec<(&'static str, String)>, Stop> {
    let root = cx.root(cid).await?;
    Ok(["confirmationBase", "cancelAction", "deploymentBase"]
        .into_iter()
        .filter_map(|rel| {
            let href = root["_links"][rel]["href"].as_str()?;
            Some((rel, href.to_string()))
        })
        .collect())
}

/// FAIL unless the root of `cid` links only `rel`, for action `action`.
async fn links_only(cx: &mut Ctx<'_>, cid: &str, rel: &str, action: &str) -> Verdict {
    let links = action_links(cx, cid).await?;
    let want = |l: &[(&str, String)]| l.len() == 1 && l[0].0 == rel && action_of(&l[0].1) == action;
    ensure(want(&links), || {
        format!("expected only `{rel}` of action {action}, the root links {links:?}")
    })
}

async fn cancel_before_newer(cx: &mut Ctx<'_>) -> Verdict {
    let (cid, older, href) = offered(cx, OrderKind::Forced).await?;
    cx.cancel(&older).await?;
    let first = action_of(&href);
    let one = std::slice::from_ref(&cid);
    cx.assign(one, OrderKind::Forced).await?;
    links_only(cx, &cid, "cancelAction", &first).await?;
    let cancel = link(cx, &cid, "cancelAction").await?;
    let st = feedback(cx, &cancel, &status("closed", "success")).await?;
    expect_status(st, 200, "closed/success on the older action's cancelAction")?;
    let newer = link(cx, &cid, "deploymentBase").await?;
    ensure(action_of(&newer) != first, || {
        format!("after the cancel the root links {newer}, the canceled action")
    })?;
    links_only(cx, &cid, "deploymentBase", &action_of(&newer)).await
}

async fn cancel_over_confirmation(cx: &mut Ctx<'_>) -> Verdict {
    super::confirm::in_flow(cx, case_fn!(cancel_over_confirmation_in_flow)).await
}

async fn cancel_over_confirmation_in_flow(cx: &mut Ctx<'_>) -> Verdict {
    let cid = cx.device(1);
    cx.register(std::slice::from_ref(&cid)).await?;
    let one = std::slice::from_ref(&cid);
    let c = cx
        .assign_full(one, (OrderKind::Forced, None), Some(true))
        .await?;
    let waiting = link(cx, &cid, "confirmationBase").await?;
    cx.cancel(&c).await?;
    links_only(cx, &cid, "cancelAction", &action_of(&waiting)).await
}
