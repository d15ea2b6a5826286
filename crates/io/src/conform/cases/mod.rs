//! The catalogue, one file per area; each file's `CASES` table lists its
//! cases with ID, clause and title beside the function that checks them.
//! The helpers here are what a DDI device does on the way to the state a
//! case wants to look at.

mod auth;
mod cancel;
mod confirm;
mod cpg;
mod deploy;
mod download;
mod feedback;
mod links;
mod mqtt_wire;
mod otau;
mod otau_mqtt;
mod root;
mod token;
mod twin;

use serde_json::{json, Value};

use super::{Campaign, Case, Ctx, Stop, Verdict};
use crate::management::{OrderKind, OrderWindow};

/// Every case, in catalogue order.
pub fn all() -> Vec<Case> {
    [
        root::cases(),
        deploy::cases(),
        feedback::cases(),
        cancel::cases(),
        links::cases(),
        confirm::cases(),
        download::cases(),
        auth::cases(),
        token::cases(),
        otau::cases(),
        otau_mqtt::cases(),
        cpg::cases(),
        twin::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Polls the root of `cid` until it links `rel` (at most a few polls; a
/// `configData` request is answered first, as a device would); the href.
pub async fn link(cx: &mut Ctx<'_>, cid: &str, rel: &str) -> Result<String, Stop> {
    for _ in 0..3 {
        let root = cx.root(cid).await?;
        if let Some(href) = root["_links"][rel]["href"].as_str() {
            return Ok(href.to_string());
        }
        if let Some(href) = root["_links"]["configData"]["href"].as_str() {
            let body = json!({ "mode": "merge", "data": { "conform": "fleetsim" } });
            cx.send_json(fleetsim_core::message::Method::Put, href, &body)
                .await?;
        }
    }
    Err(Stop::Fail(format!("the root never linked `{rel}`")))
}

/// The action id at the end of a link (`…/deploymentBase/12?c=3` → `12`).
pub fn action_of(href: &str) -> String {
    let path = href.split('?').next().unwrap_or(href);
    path.rsplit('/').next().unwrap_or("").to_string()
}

/// One device (`device(1)`) with a fresh `kind` campaign, offered to it:
/// (device, campaign, deploymentBase href).
pub async fn offered(
    cx: &mut Ctx<'_>,
    kind: OrderKind,
) -> Result<(String, Campaign, String), Stop> {
    offered_in(cx, kind, None).await
}

/// [`offered`], the assignment with a maintenance `window`.
pub async fn offered_in(
    cx: &mut Ctx<'_>,
    kind: OrderKind,
    window: Option<OrderWindow>,
) -> Result<(String, Campaign, String), Stop> {
    cx.require_manager("a campaign")?;
    let cid = cx.device(1);
    cx.register(std::slice::from_ref(&cid)).await?;
    let campaign = cx
        .assign_in_window(std::slice::from_ref(&cid), kind, window)
        .await?;
    let href = link(cx, &cid, "deploymentBase").await?;
    Ok((cid, campaign, href))
}

/// [`offered`] and the deploymentBase document (200 JSON).
pub async fn deployment(
    cx: &mut Ctx<'_>,
    kind: OrderKind,
) -> Result<(String, Campaign, String, Value), Stop> {
    deployment_in(cx, kind, None).await
}

/// [`deployment`], the assignment with a maintenance `window`.
pub async fn deployment_in(
    cx: &mut Ctx<'_>,
    kind: OrderKind,
    window: Option<OrderWindow>,
) -> Result<(String, Campaign, String, Value), Stop> {
    let (cid, campaign, href) = offered_in(cx, kind, window).await?;
    let a = cx.get(&href).await?;
    a.expect(200, "the deploymentBase")?;
    let doc = a.json()?;
    Ok((cid, campaign, href, doc))
}

/// A feedback body.
pub fn status(execution: &str, finished: &str) -> Value {
    json!({ "status": { "execution": execution, "result": { "finished": finished }, "details": ["fleetsim conform"] } })
}

/// Posts `body` to the feedback resource under `href`; its status.
pub async fn feedback(cx: &mut Ctx<'_>, href: &str, body: &Value) -> Result<u16, Stop> {
    let path = format!("{}/feedback", href.split('?').next().unwrap_or(href));
    let a = cx
        .send_json(fleetsim_core::message::Method::Post, &path, body)
        .await?;
    Ok(a.status)
}

/// FAIL unless `got` is `want`.
pub fn expect_status(got: u16, want: u16, what: &str) -> Verdict {
    super::ensure(got == want, || {
        format!("{what}: expected {want}, got {got}")
    })
}

/// The first artifact of the first chunk of a deploymentBase document.
pub fn first_artifact(doc: &Value) -> Result<&Value, Stop> {
    let a = &doc["deployment"]["chunks"][0]["artifacts"][0];
    if a.is_object() {
        Ok(a)
    } else {
        Err(Stop::Fail(format!("no artifact in the first chunk: {doc}")))
    }
}

/// The artifact's download link: the one whose scheme matches the target
/// (`download-http` over HTTP, `download` over HTTPS), else the other.
pub fn download_href(cx: &Ctx<'_>, artifact: &Value) -> Result<String, Stop> {
    let links = &artifact["_links"];
    let order = if cx.target_is_https() {
        ["download", "download-http"]
    } else {
        ["download-http", "download"]
    };
    order
        .iter()
        .find_map(|rel| links[*rel]["href"].as_str())
        .map(str::to_string)
        .ok_or_else(|| Stop::Fail(format!("the artifact links no download: {artifact}")))
}
