//! DDI request routing, authentication and content negotiation, plus the
//! root poll (ddi.md §1.1, §4) and `PUT configData` (§1.2).
//!
//! Checks run in the order a hawkBit deployment applies them: path shape
//! (404) → tenant and credentials (401, empty body) → route (404) → method
//! (405) → `Accept` (406) → body `Content-Type` (415) → controller id (400)
//! → the handler. The handlers for actions and artifacts live in
//! `deployment.rs` and `artifacts.rs`.

use std::collections::BTreeMap;

use crate::message::{percent_decode_cow, Body, Method, Request, Response};
use crate::protocol::ddi::wire::{
    Config, ConfigData, ConfigMode, ControllerBase, Link, Polling, RootLinks,
};
use crate::time::Time;

use super::call::Call;
use super::fault::Active;
use super::state::{Emitter, Target};
use super::{
    artifacts, assignment, codec, confirmation, deployment, respond, ActionStatus, Server,
    ServerConfig,
};

/// Longest attribute key or value (JCM `updateControllerAttributes`).
const MAX_ATTRIBUTE_LEN: usize = 128;

/// Room for the path segments after the controller id: one more than the
/// longest route has, so that a longer path is seen as such.
const ROUTE_SEGMENTS: usize = 5;

/// The DDI resources below `{base}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route<'a> {
    Root,
    ConfigData,
    DeploymentBase(&'a str),
    DeploymentFeedback(&'a str),
    CancelAction(&'a str),
    CancelFeedback(&'a str),
    InstalledBase(&'a str),
    /// `PUT installedBase` (offline assignment, `assignment.rs`).
    InstalledVersion,
    ArtifactList(&'a str),
    ArtifactFile(&'a str, &'a str),
    ConfirmationBase,
    ConfirmationAction(&'a str),
    ConfirmationFeedback(&'a str),
    AutoConfirm(bool),
}

impl<'a> Route<'a> {
    fn parse(rest: &[&'a str]) -> Option<Route<'a>> {
        Some(match rest {
            [] => Route::Root,
            ["configData"] => Route::ConfigData,
            ["deploymentBase", id] => Route::DeploymentBase(id),
            ["deploymentBase", id, "feedback"] => Route::DeploymentFeedback(id),
            ["cancelAction", id] => Route::CancelAction(id),
            ["cancelAction", id, "feedback"] => Route::CancelFeedback(id),
            ["installedBase", id] => Route::InstalledBase(id),
            ["installedBase"] => Route::InstalledVersion,
            ["softwaremodules", sm, "artifacts"] => Route::ArtifactList(sm),
            ["softwaremodules", sm, "artifacts", file] => Route::ArtifactFile(sm, file),
            ["confirmationBase"] => Route::ConfirmationBase,
            ["confirmationBase", "activateAutoConfirm"] => Route::AutoConfirm(true),
            ["confirmationBase", "deactivateAutoConfirm"] => Route::AutoConfirm(false),
            ["confirmationBase", id] => Route::ConfirmationAction(id),
            ["confirmationBase", id, "feedback"] => Route::ConfirmationFeedback(id),
            _ => return None,
        })
    }

    /// The one method the route takes (GET routes also answer HEAD).
    fn method(self) -> Method {
        match self {
            Route::ConfigData | Route::InstalledVersion => Method::Put,
            Route::DeploymentFeedback(_) | Route::CancelFeedback(_) => Method::Post,
            Route::ConfirmationFeedback(_) | Route::AutoConfirm(_) => Method::Post,
            _ => Method::Get,
        }
    }
}

/// Answers a request that no active `Respond` fault has answered.
pub(super) fn dispatch(server: &mut Server, now: Time, req: &Request, faults: &Active) -> Response {
    let path = req.path();
    let mut segments = path.strip_prefix('/').unwrap_or(path).split('/');
    let (tenant, raw_cid) = match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some(tenant), Some("controller"), Some("v1"), Some(cid)) if !cid.is_empty() => {
            (tenant, cid)
        }
        _ => return Response::status(404),
    };
    // The segments after the controller id, without collecting them into a
    // `Vec` (every request passes here): no route has more than four.
    let mut rest = [""; ROUTE_SEGMENTS];
    let mut count = 0;
    for segment in segments {
        if count == ROUTE_SEGMENTS {
            count += 1; // too long for any route
            break;
        }
        rest[count] = segment;
        count += 1;
    }
    if percent_decode_cow(tenant).as_deref() != Some(server.config.tenant.as_str()) {
        return Response::status(401);
    }
    let cid = percent_decode_cow(raw_cid);
    let target = || cid.as_deref().and_then(|c| server.targets.get(c));
    if !authenticated(&server.config, req, target) {
        return Response::status(401);
    }
    let route = rest.get(..count).and_then(Route::parse);
    let Some(route) = route else {
        return Response::status(404);
    };
    let head = req.method == Method::Head && route.method() == Method::Get;
    if req.method != route.method() && !head {
        let mut r = Response::status(405);
        r.headers.insert("allow", route.method().as_str());
        return r;
    }
    // Only documents are negotiated: file downloads are octet streams,
    // and feedback / configData answer without a body.
    let negotiated = route.method() == Method::Get && !matches!(route, Route::ArtifactFile(..));
    let json_type = match negotiated {
        false => respond::HAL_JSON,
        true => match codec::negotiate(req.headers.get("accept")) {
            // The broken mode answers a CBOR request with HAL-JSON.
            Some(codec::CBOR) if faults.cbor_as_json => respond::HAL_JSON,
            Some(t) => t,
            None => return Response::status(406),
        },
    };
    // Auto-confirm toggles take an optional body: only a body must be JSON or CBOR.
    let bodyless = matches!(route, Route::AutoConfirm(_)) && req.body.is_empty();
    let body_type = req.headers.get("content-type");
    if route.method() != Method::Get && !bodyless && codec::body_encoding(body_type).is_none() {
        return Response::status(415);
    }
    let Some(cid) = cid else {
        return respond::bad_param("controllerId is not valid percent-encoded UTF-8");
    };
    // Before any handler: a root poll registers the id (plug and play).
    if let Err(why) = super::ids::check_id(&cid) {
        return respond::bad_param(format!("controllerId {why}"));
    }
    let call = Call {
        now,
        req,
        cid,
        raw_tenant: tenant,
        raw_cid,
        faults,
        json_type,
    };
    let mut resp = match route {
        Route::Root => root(server, &call),
        Route::ConfigData => config_data(server, &call),
        Route::DeploymentBase(id) => deployment::deployment_base(server, &call, id),
        Route::DeploymentFeedback(id) => deployment::deployment_feedback(server, &call, id),
        Route::CancelAction(id) => deployment::cancel_action(server, &call, id),
        Route::CancelFeedback(id) => deployment::cancel_feedback(server, &call, id),
        Route::InstalledBase(id) => deployment::installed_base(server, &call, id),
        Route::InstalledVersion => assignment::put_installed(server, &call),
        Route::ArtifactList(sm) => artifacts::list(server, &call, sm),
        Route::ArtifactFile(sm, file) => return artifacts::file(server, &call, sm, file, head),
        Route::ConfirmationBase => confirmation::confirmation_root(server, &call),
        Route::ConfirmationAction(id) => confirmation::confirmation_action(server, &call, id),
        Route::ConfirmationFeedback(id) => confirmation::confirmation_feedback(server, &call, id),
        Route::AutoConfirm(true) => confirmation::activate(server, &call),
        Route::AutoConfirm(false) => confirmation::deactivate(server, &call),
    };
    if head {
        resp.body = Body::Empty;
    }
    resp
}

/// ddi.md §2: GatewayToken / TargetToken; with neither configured, every
/// request is accepted (the embedded default for device developers). An
/// empty gateway key is no key: it matches no credential, `GatewayToken `
/// with nothing after it included.
/// `target` looks the addressed target up, only when a TargetToken needs it.
fn authenticated<'t>(
    config: &ServerConfig,
    req: &Request,
    target: impl FnOnce() -> Option<&'t Target>,
) -> bool {
    if config.gateway_token.is_none() && !config.target_token_auth {
        return true;
    }
    let Some((scheme, credential)) = req
        .headers
        .get("authorization")
        .and_then(|h| h.trim().split_once(' '))
    else {
        return false;
    };
    let credential = credential.trim();
    if scheme.eq_ignore_ascii_case("GatewayToken") {
        let key = config.gateway_token.as_deref().filter(|k| !k.is_empty());
        !credential.is_empty() && key == Some(credential)
    } else if scheme.eq_ignore_ascii_case("TargetToken") {
        config.target_token_auth && target().is_some_and(|t| t.token_matches(credential))
    } else {
        false
    }
}

/// The percent-decoded tenant and controller id of a DDI request path
/// (`/{tenant}/controller/v1/{controllerId}/...`), read as [`dispatch`] reads it.
pub(super) fn tenant_and_controller(req: &Request) -> Option<(String, String)> {
    let path = req.path();
    let mut segments = path.strip_prefix('/').unwrap_or(path).split('/');
    let (tenant, controller, v1, cid) = (
        segments.next()?,
        segments.next()?,
        segments.next()?,
        segments.next()?,
    );
    if controller != "controller" || v1 != "v1" || cid.is_empty() {
        return None;
    }
    Some((
        percent_decode_cow(tenant)?.into_owned(),
        percent_decode_cow(cid)?.into_owned(),
    ))
}

/// The percent-decoded controller id of a DDI request path.
pub(super) fn controller_id(req: &Request) -> Option<String> {
    tenant_and_controller(req).map(|(_, cid)| cid)
}

/// `GET {base}`: registers unknown controllers, cancels lapsed actions and
/// answers the sleep and at most one action link (ddi.md §1.1).
fn root(server: &mut Server, call: &Call<'_>) -> Response {
    // One lookup by id per poll; the target is then addressed by its slot.
    let (slot, fresh) = match server.targets.slot(&call.cid) {
        Some(slot) => (slot, false),
        None => {
            server.targets.auto_register(&call.cid);
            let Some(slot) = server.targets.slot(&call.cid) else {
                return respond::not_found("target");
            };
            (slot, true)
        }
    };
    let cap = server.config.max_status_entries_per_action;
    let target = server.targets.at_mut(slot);
    if fresh {
        target.created_at = call.now;
    }
    target.last_request = call.now;
    target.polled();
    let mut ev = Emitter::new(&call.cid, call.now, &mut server.events);
    target.cancel_lapsed(&mut ev, cap);
    target.polls = target.polls.wrapping_add(1);
    let target = server.targets.at(slot);
    let sleep = super::polling::sleep(server, target, call);
    let links = root_links(target, call);
    let body = ControllerBase {
        config: Config {
            polling: Polling { sleep },
        },
        links,
    };
    respond::json_ok(call.req, call.json_type, &body)
}

fn root_links(target: &Target, call: &Call<'_>) -> RootLinks {
    let mut links = RootLinks::default();
    let now = call.now;
    match target.active_action() {
        Some(a) if call.faults.hide_deferred && a.deferred => {}
        Some(a) if a.status.is_cancel() => {
            links.cancel_action =
                Some(Link::new(call.link(format_args!("/cancelAction/{}", a.id))));
        }
        Some(a)
            if a.status == ActionStatus::WaitForConfirmation && !call.faults.deploy_unconfirmed =>
        {
            links.confirmation_base = confirmation::root_link(target, call);
        }
        Some(a) => {
            let href = call.link(format_args!("/deploymentBase/{}?c={}", a.id, a.etag_c(now)));
            links.deployment_base = Some(Link::new(href));
        }
        None if call.faults.reopen_closed => {
            let closed = target
                .actions
                .iter()
                .filter(|a| matches!(a.status, ActionStatus::Finished | ActionStatus::Error))
                .max_by_key(|a| a.id);
            if let Some(a) = closed {
                let href = call.link(format_args!("/deploymentBase/{}?c={}", a.id, a.etag_c(now)));
                links.deployment_base = Some(Link::new(href));
            }
        }
        None => {}
    }
    let installed = target
        .installed
        .and_then(|id| target.action(id))
        .filter(|a| !a.active && a.status == ActionStatus::Finished);
    if let Some(a) = installed {
        links.installed_base = Some(Link::new(
            call.link(format_args!("/installedBase/{}", a.id)),
        ));
    }
    if target.request_config {
        links.config_data = Some(Link::new(call.link(format_args!("/configData"))));
    }
    links
}

/// `PUT {base}/configData` (ddi.md §1.2).
fn config_data(server: &mut Server, call: &Call<'_>) -> Response {
    let parsed: ConfigData = match codec::decode(call.req) {
        Ok(c) => c,
        Err(e) => return respond::not_readable(format!("configData body: {e}")),
    };
    if parsed.data.is_empty() {
        return respond::not_readable("configData: data must not be empty");
    }
    for (k, v) in &parsed.data {
        if !valid_attribute(k, false) || v.as_deref().is_some_and(|v| !valid_attribute(v, true)) {
            return respond::invalid_attributes(format!(
                "attribute keys and values are at most {MAX_ATTRIBUTE_LEN} printable ASCII characters"
            ));
        }
    }
    let max = server.config.max_attributes as usize;
    let Some(target) = server.targets.get_mut(&call.cid) else {
        return respond::not_found(format!("Target with controllerId {} not found", call.cid));
    };
    let updated = merge_attributes(&target.attributes, parsed);
    if updated.len() > max {
        return respond::quota(format!("Target attributes: at most {max} allowed"));
    }
    target.attributes = updated
        .into_iter()
        .map(|(k, v)| (k.into_boxed_str(), v.into_boxed_str()))
        .collect();
    target.request_config = false;
    Response::status(200)
}

/// Attribute rule: ≤128 chars of printable ASCII; keys must not be empty.
fn valid_attribute(s: &str, empty_ok: bool) -> bool {
    (empty_ok || !s.is_empty())
        && s.len() <= MAX_ATTRIBUTE_LEN
        && s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn merge_attributes(
    current: &[(Box<str>, Box<str>)],
    update: ConfigData,
) -> BTreeMap<String, String> {
    let current = || -> BTreeMap<String, String> {
        current
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    match update.mode.unwrap_or(ConfigMode::Merge) {
        ConfigMode::Merge => {
            let mut out = current();
            for (k, v) in update.data {
                match v {
                    Some(v) => out.insert(k, v),
                    None => out.remove(&k),
                };
            }
            out
        }
        ConfigMode::Replace => update
            .data
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect(),
        ConfigMode::Remove => {
            let mut out = current();
            for k in update.data.keys() {
                out.remove(k);
            }
            out
        }
    }
}

#[cfg(test)]
#[path = "ddi_tests.rs"]
mod tests;
