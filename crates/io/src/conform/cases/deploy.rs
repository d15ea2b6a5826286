//! The deploymentBase document: links, fields, hashes, action types, ids.

use super::super::{case_fn, ensure, Case, Ctx, Verdict};
use super::{action_of, deployment, deployment_in, download_href, first_artifact, status};
use crate::management::{OrderKind, OrderWindow};
use fleetsim_core::time::Span;

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    vec![
        Case { id: "DDI-DEPL-001", core: true, run: case_fn!(forced_document),
            clause: "ddi.md §1.1, §1.3; DdiDeploymentBaseTest.deploymentForceAction",
            title: "A forced assignment is linked as deploymentBase/{action}; its document has id, download and update forced, chunks with part, version, name and artifacts" },
        Case { id: "DDI-DEPL-002", core: true, run: case_fn!(hashes),
            clause: "ddi.md §1.3 (DdiArtifact: hashes sha1, md5; sha256 optional)",
            title: "Each artifact has filename, size and hashes sha1 and md5 matching the uploaded file" },
        Case { id: "DDI-DEPL-003", core: false, run: case_fn!(link_rels),
            clause: "ddi.md §1.9 (artifact link rels)",
            title: "Each artifact links download-http or download, and md5sum-http or md5sum" },
        Case { id: "DDI-DEPL-004", core: false, run: case_fn!(soft),
            clause: "ddi.md §1.3, §3 (action types); DdiDeploymentBaseTest.deploymentAttemptAction",
            title: "A soft assignment is offered with download and update attempt" },
        Case { id: "DDI-DEPL-005", core: false, run: case_fn!(download_only),
            clause: "ddi.md §1.3, §3 (downloadonly)",
            title: "A download-only assignment is offered with download forced and update skip" },
        Case { id: "DDI-DEPL-006", core: false, run: case_fn!(time_forced),
            clause: "ddi.md §1.3, §3 (timeforced); DdiDeploymentBaseTest.changeEtagIfActionSwitchesFromSoftToForced",
            title: "A time-forced assignment is offered as attempt before its force time" },
        Case { id: "DDI-DEPL-007", core: false, run: case_fn!(unknown_action_404),
            clause: "ddi.md §1.3, §2 (unknown or foreign action → 404)",
            title: "The deploymentBase of an action never offered to the device is 404" },
        Case { id: "DDI-DEPL-008", core: false, run: case_fn!(closed_still_served),
            clause: "ddi.md §1.3 (no isActive check: a closed action still returns 200)",
            title: "The deploymentBase of a closed action is still 200 with its document" },
        Case { id: "DDI-WIN-001", core: false, run: case_fn!(before_window),
            clause: "ddi.md §1.3, §4 (maintenance window not yet open: update skip, maintenanceWindow unavailable)",
            title: "Before its maintenance window a forced action is offered with update skip and maintenanceWindow unavailable" },
    ]
}

async fn forced_document(cx: &mut Ctx<'_>) -> Verdict {
    let (_, _, href, doc) = deployment(cx, OrderKind::Forced).await?;
    let action = action_of(&href);
    ensure(doc["id"].as_str() == Some(action.as_str()), || {
        format!("id is {} , the link names action {action}", doc["id"])
    })?;
    let d = &doc["deployment"];
    ensure(d["download"] == "forced" && d["update"] == "forced", || {
        format!(
            "expected download and update forced, got {} / {}",
            d["download"], d["update"]
        )
    })?;
    let chunk = &d["chunks"][0];
    for field in ["part", "version", "name"] {
        ensure(chunk[field].is_string(), || {
            format!("the chunk has no `{field}`: {chunk}")
        })?;
    }
    ensure(chunk["artifacts"].is_array(), || {
        format!("the chunk has no `artifacts`: {chunk}")
    })
}

async fn hashes(cx: &mut Ctx<'_>) -> Verdict {
    let (_, campaign, _, doc) = deployment(cx, OrderKind::Forced).await?;
    let a = first_artifact(&doc)?;
    ensure(a["filename"].is_string(), || format!("no filename: {a}"))?;
    ensure(a["size"].is_u64(), || format!("no size: {a}"))?;
    let h = &a["hashes"];
    for (name, want) in [
        ("sha1", &campaign.hashes.sha1),
        ("md5", &campaign.hashes.md5),
    ] {
        ensure(h[name].is_string(), || {
            format!("hashes has no `{name}`: {h}")
        })?;
        // A server that repackages the file (goosebit's .swu) advertises
        // its own file's hashes; those are checked by the download cases.
        if a["size"].as_u64() == Some(campaign.bytes.len() as u64) {
            ensure(h[name].as_str() == Some(want.as_str()), || {
                format!(
                    "hashes.{name} {} is not the uploaded file's {want}",
                    h[name]
                )
            })?;
        }
    }
    Ok(())
}

async fn link_rels(cx: &mut Ctx<'_>) -> Verdict {
    let (_, _, _, doc) = deployment(cx, OrderKind::Forced).await?;
    let a = first_artifact(&doc)?;
    download_href(cx, a)?;
    let links = &a["_links"];
    ensure(
        links["md5sum-http"].is_object() || links["md5sum"].is_object(),
        || format!("no md5sum-http or md5sum link: {links}"),
    )
}

/// The deploymentBase of a `kind` assignment has `download`/`update` as `want`.
async fn offered_as(cx: &mut Ctx<'_>, kind: OrderKind, want: (&str, &str)) -> Verdict {
    let (_, _, _, doc) = deployment(cx, kind).await?;
    let d = &doc["deployment"];
    ensure(d["download"] == want.0 && d["update"] == want.1, || {
        format!(
            "expected download {} and update {}, got {} / {}",
            want.0, want.1, d["download"], d["update"]
        )
    })
}

async fn soft(cx: &mut Ctx<'_>) -> Verdict {
    offered_as(cx, OrderKind::Soft, ("attempt", "attempt")).await
}

async fn download_only(cx: &mut Ctx<'_>) -> Verdict {
    offered_as(cx, OrderKind::DownloadOnly, ("forced", "skip")).await
}

async fn time_forced(cx: &mut Ctx<'_>) -> Verdict {
    let kind = OrderKind::TimeForced {
        force_after: Span::minutes(30),
    };
    offered_as(cx, kind, ("attempt", "attempt")).await
}

async fn unknown_action_404(cx: &mut Ctx<'_>) -> Verdict {
    let (cid, _, href, _) = deployment(cx, OrderKind::Forced).await?;
    let other = action_of(&href)
        .parse::<u64>()
        .map_or(999_999, |a| a + 7919);
    let path = format!("{}/deploymentBase/{other}", cx.base(&cid));
    let a = cx.get(&path).await?;
    a.expect(404, "the deploymentBase of an action never offered")
}

async fn closed_still_served(cx: &mut Ctx<'_>) -> Verdict {
    let (_, _, href, _) = deployment(cx, OrderKind::Forced).await?;
    let st = super::feedback(cx, &href, &status("closed", "success")).await?;
    super::expect_status(st, 200, "closed/success feedback")?;
    let a = cx.get(&href).await?;
    a.expect(200, "the deploymentBase of the closed action")?;
    let doc = a.json()?;
    let action = action_of(&href);
    ensure(doc["id"].as_str() == Some(action.as_str()), || {
        format!("expected the closed action's document (id {action}), got {doc}")
    })
}

async fn before_window(cx: &mut Ctx<'_>) -> Verdict {
    let window = OrderWindow::After(Span::minutes(60), Span::minutes(10));
    let (_, _, _, doc) = deployment_in(cx, OrderKind::Forced, Some(window)).await?;
    let d = &doc["deployment"];
    ensure(
        d["update"] == "skip" && d["maintenanceWindow"] == "unavailable",
        || {
            format!(
                "expected update skip and maintenanceWindow unavailable, got {} / {}",
                d["update"], d["maintenanceWindow"]
            )
        },
    )
}
