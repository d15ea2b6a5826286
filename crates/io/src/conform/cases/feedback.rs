//! Deployment feedback and what it does: closing, 410 after close, 404 for
//! foreign actions, bad bodies, quotas, download-only, installedBase.

use serde_json::json;

use super::super::{case_fn, ensure, Case, Ctx, Verdict};
use super::{action_of, deployment, expect_status, feedback, link, offered, status};
use crate::management::OrderKind;
use fleetsim_core::message::Method;

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    vec![
        Case { id: "DDI-FB-001", core: true, run: case_fn!(proceeding_then_closed),
            clause: "ddi.md §1.4 (closed + success → FINISHED, inactive)",
            title: "proceeding, then closed/success are 200; the root then offers no deploymentBase" },
        Case { id: "DDI-FB-002", core: true, run: case_fn!(closed_twice_410),
            clause: "ddi.md §1.4; DdiRootControllerTest.tryToFinishAnUpdateProcessAfterItHasBeenFinished",
            title: "proceeding and closed/failure are 200; feedback on the then closed action is 410 Gone" },
        Case { id: "DDI-FB-003", core: false, run: case_fn!(failure_closes),
            clause: "ddi.md §1.4 (closed + failure → ERROR, inactive)",
            title: "closed/failure is 200 and the action is not offered again" },
        Case { id: "DDI-FB-004", core: false, run: case_fn!(foreign_action_404),
            clause: "ddi.md §1.4 (404: other target's action)",
            title: "Feedback on another device's action is 404" },
        Case { id: "DDI-FB-005", core: false, run: case_fn!(bad_bodies_400),
            clause: "ddi.md §0, §1.4; DdiDeploymentBaseTest.badDeploymentActionFeedback",
            title: "Feedback without status, or with an unknown execution, is 400" },
        Case { id: "DDI-FB-006", core: false, run: case_fn!(too_many_details_429),
            clause: "ddi.md §1.4 (maxMessagesPerActionStatus 50); DdiDeploymentBaseTest.tooMuchDeploymentActionMessagesInFeedback",
            title: "Feedback with 51 details is 429; with 50 it is 200" },
        Case { id: "DDI-FB-007", core: false, run: case_fn!(downloaded_closes),
            clause: "ddi.md §1.4, §3 (downloadonly closes as DOWNLOADED)",
            title: "downloaded closes a download-only action: later feedback is 410" },
        Case { id: "DDI-MEDIA-003", core: false, run: case_fn!(text_body_415),
            clause: "ddi.md §0 (bodies are JSON or CBOR)",
            title: "Feedback and configData with Content-Type text/plain are 415" },
        Case { id: "DDI-INST-001", core: true, run: case_fn!(installed_after_success),
            clause: "ddi.md §1.1, §1.7; DdiInstalledBaseTest",
            title: "After closed/success the root links installedBase/{action}, which is 200 with that id" },
        Case { id: "DDI-INST-002", core: false, run: case_fn!(installed_running_404),
            clause: "ddi.md §1.7 (404 if the action is active)",
            title: "The installedBase of an action still running is 404" },
    ]
}

async fn proceeding_then_closed(cx: &mut Ctx<'_>) -> Verdict {
    let (cid, _, href, _) = deployment(cx, OrderKind::Forced).await?;
    let st = feedback(cx, &href, &status("proceeding", "none")).await?;
    expect_status(st, 200, "proceeding feedback")?;
    let st = feedback(cx, &href, &status("closed", "success")).await?;
    expect_status(st, 200, "closed/success feedback")?;
    let root = cx.root(&cid).await?;
    ensure(root["_links"]["deploymentBase"].is_null(), || {
        format!("the closed action is still offered: {root}")
    })
}

async fn closed_twice_410(cx: &mut Ctx<'_>) -> Verdict {
    let (_, _, href, _) = deployment(cx, OrderKind::Forced).await?;
    let steps = [
        (status("proceeding", "none"), 200, "proceeding"),
        (status("closed", "failure"), 200, "closed/failure"),
        (
            status("closed", "success"),
            410,
            "closed/success on the closed action",
        ),
    ];
    for (body, want, what) in steps {
        let st = feedback(cx, &href, &body).await?;
        expect_status(st, want, what)?;
    }
    Ok(())
}

async fn failure_closes(cx: &mut Ctx<'_>) -> Verdict {
    let (cid, _, href, _) = deployment(cx, OrderKind::Forced).await?;
    let st = feedback(cx, &href, &status("closed", "failure")).await?;
    expect_status(st, 200, "closed/failure feedback")?;
    let root = cx.root(&cid).await?;
    ensure(root["_links"]["deploymentBase"].is_null(), || {
        format!("the failed action is still offered: {root}")
    })
}

async fn foreign_action_404(cx: &mut Ctx<'_>) -> Verdict {
    let (_, _, href, _) = deployment(cx, OrderKind::Forced).await?;
    let other = cx.device(2);
    cx.register(std::slice::from_ref(&other)).await?;
    let path = format!(
        "{}/deploymentBase/{}/feedback",
        cx.base(&other),
        action_of(&href)
    );
    let a = cx
        .send_json(Method::Post, &path, &status("proceeding", "none"))
        .await?;
    a.expect(404, "feedback by another device on this action")
}

async fn bad_bodies_400(cx: &mut Ctx<'_>) -> Verdict {
    let (_, _, href, _) = deployment(cx, OrderKind::Forced).await?;
    let bad = [
        json!({ "details": ["no status"] }),
        json!({ "status": { "execution": "546456456", "result": { "finished": "none" } } }),
    ];
    for body in bad {
        let st = feedback(cx, &href, &body).await?;
        expect_status(st, 400, &format!("feedback {body}"))?;
    }
    Ok(())
}

async fn too_many_details_429(cx: &mut Ctx<'_>) -> Verdict {
    let (_, _, href, _) = deployment(cx, OrderKind::Forced).await?;
    let details: Vec<String> = (0..51).map(|i| format!("step {i}")).collect();
    let body = |n: usize| json!({ "status": { "execution": "proceeding", "result": { "finished": "none" }, "details": &details[..n] } });
    let st = feedback(cx, &href, &body(51)).await?;
    expect_status(st, 429, "feedback with 51 details")?;
    let st = feedback(cx, &href, &body(50)).await?;
    expect_status(st, 200, "feedback with 50 details")
}

async fn downloaded_closes(cx: &mut Ctx<'_>) -> Verdict {
    let (_, _, href, _) = deployment(cx, OrderKind::DownloadOnly).await?;
    let st = feedback(cx, &href, &status("downloaded", "none")).await?;
    expect_status(st, 200, "downloaded feedback")?;
    let st = feedback(cx, &href, &status("closed", "success")).await?;
    expect_status(st, 410, "closed/success after downloaded")
}

async fn text_body_415(cx: &mut Ctx<'_>) -> Verdict {
    let (cid, _, href, _) = deployment(cx, OrderKind::Forced).await?;
    let feedback = format!("{}/feedback", href.split('?').next().unwrap_or(&href));
    let config = format!("{}/configData", cx.base(&cid));
    let text = [("content-type", "text/plain")];
    let bodies = [
        (
            Method::Post,
            feedback,
            status("closed", "success"),
            "feedback",
        ),
        (
            Method::Put,
            config,
            json!({ "data": { "hw": "1" } }),
            "configData",
        ),
    ];
    for (method, path, body, what) in bodies {
        let bytes = body.to_string().into_bytes();
        let a = cx.send(method, &path, &text, Some(bytes)).await?;
        a.expect(415, &format!("{what} sent as text/plain"))?;
    }
    Ok(())
}

async fn installed_after_success(cx: &mut Ctx<'_>) -> Verdict {
    let (cid, _, href, _) = deployment(cx, OrderKind::Forced).await?;
    let st = feedback(cx, &href, &status("closed", "success")).await?;
    expect_status(st, 200, "closed/success feedback")?;
    let installed = link(cx, &cid, "installedBase").await?;
    let action = action_of(&href);
    ensure(action_of(&installed) == action, || {
        format!("installedBase links {installed}, the finished action is {action}")
    })?;
    let a = cx.get(&installed).await?;
    a.expect(200, "the installedBase")?;
    let doc = a.json()?;
    ensure(doc["id"].as_str() == Some(action.as_str()), || {
        format!(
            "the installedBase document's id is {}, not {action}",
            doc["id"]
        )
    })
}

async fn installed_running_404(cx: &mut Ctx<'_>) -> Verdict {
    let (cid, _, href) = offered(cx, OrderKind::Forced).await?;
    let path = format!("{}/installedBase/{}", cx.base(&cid), action_of(&href));
    let a = cx.get(&path).await?;
    a.expect(404, "the installedBase of the running action")
}
