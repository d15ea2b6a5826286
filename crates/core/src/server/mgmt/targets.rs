//! Targets and their actions (hawkBit `MgmtTargetResource`, models
//! `MgmtTarget`, `MgmtAction`, `MgmtActionStatus`):
//! `GET|POST /targets`, `GET|DELETE /targets/{id}`, `GET /targets/{id}/attributes`,
//! `GET /targets/{id}/actions[/{actionId}[/status]]` and
//! `DELETE /targets/{id}/actions/{actionId}[?force=true]`.
//!
//! Targets created here register in the DDI core like plug-and-play ones:
//! index from the scenario's numbering when the id is a scenario device's
//! (see `Targets::index_for`), so action ids (`index * 1000 + n`) never
//! collide. Names and descriptions live in a side map, only when set.

use serde_json::{json, Value};

use crate::message::percent_encode as encode;
use crate::message::Response;
use crate::server::state::{Action, Target};
use crate::server::{ActionId, ActionType, Server};
use crate::time::{Span, Time};

use super::target_fields::{field, update_status, Meta, FIELDS};
use super::{fiql, parse_id, wire, Call};

/// hawkBit's default `pollingOverdueTime`.
const OVERDUE: Span = Span::minutes(5);
/// hawkBit's creator of plug-and-play targets.
const PLUG_AND_PLAY: &str = "CONTROLLER_PLUG_AND_PLAY";

/// `MgmtTarget` of one target.
pub(super) fn target_json(server: &Server, call: &Call<'_>, cid: &str, t: &Target) -> Value {
    let meta = server.mgmt.target_meta.get(&t.index);
    let by = if meta.is_some() {
        server.mgmt.credentials.user.as_str()
    } else {
        PLUG_AND_PLAY
    };
    let enc = encode(cid);
    let mut v = json!({
        "controllerId": cid,
        "name": meta.and_then(|m| m.name.as_deref()).unwrap_or(cid),
        "createdAt": t.created_at.as_millis(),
        "createdBy": by,
        "lastModifiedAt": t.created_at.as_millis(),
        "lastModifiedBy": by,
        "updateStatus": update_status(t),
        "requestAttributes": t.request_config,
        "_links": {
            "self": call.link(format_args!("/targets/{enc}")),
            "assignedDS": call.link(format_args!("/targets/{enc}/assignedDS")),
            "installedDS": call.link(format_args!("/targets/{enc}/installedDS")),
            "attributes": call.link(format_args!("/targets/{enc}/attributes")),
            "actions": call.link(format_args!("/targets/{enc}/actions?offset=0&limit=50&sort=id%3ADESC")),
        },
    });
    v["_links"]["autoConfirm"] = call.link(format_args!("/targets/{enc}/autoConfirm"));
    if let Some(d) = meta.and_then(|m| m.description.as_deref()) {
        v["description"] = json!(d);
    }
    if let Some(g) = meta.and_then(|m| m.group.as_deref()) {
        v["group"] = json!(g);
    }
    if let Some(token) = t.token() {
        v["securityToken"] = json!(token);
    }
    if t.last_request != Time::NEVER {
        let last = t.last_request;
        let next = last + server.config.polling_sleep;
        v["lastControllerRequestAt"] = json!(last.as_millis());
        v["pollStatus"] = json!({
            "lastRequestAt": last.as_millis(),
            "nextExpectedRequestAt": next.as_millis(),
            "overdue": call.now > next + OVERDUE,
        });
    }
    let installed = t.installed.and_then(|id| t.action(id));
    if let Some(at) = installed.and_then(|a| a.history.last()).map(|e| e.at) {
        v["installedAt"] = json!(at.as_millis());
    }
    v
}

/// `GET /targets?q=&offset=&limit=`: sorted by controller id (hawkBit's
/// default sort; `sort=controllerId:DESC` reverses it, other sorts are ignored).
pub(super) fn list(server: &mut Server, call: &Call<'_>) -> Response {
    let (offset, limit) = or_answer!(call.page());
    let filter = match call.query("q") {
        Some(q) => Some(or_answer!(fiql::parse(&q, FIELDS))),
        None => None,
    };
    let mut all = server.targets.sorted();
    all.sort_unstable_by(|a, b| a.0.cmp(b.0));
    if call.descending(false) {
        all.reverse();
    }
    let hits: Vec<&(&str, &Target)> = all
        .iter()
        .filter(|(cid, t)| {
            filter
                .as_ref()
                .is_none_or(|f| f.matches(&|name| field(server, cid, t, name)))
        })
        .collect();
    let total = hits.len();
    let content: Vec<Value> = hits
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|(cid, t)| target_json(server, call, cid, t))
        .collect();
    let size = content.len();
    super::json(
        200,
        &json!({ "content": content, "total": total, "size": size }),
    )
}

/// A deterministic 32-hex-digit security token (hawkBit generates 32 characters).
fn generate_token(cid: &str, n: u64) -> String {
    let h = xxhash_rust::xxh3::xxh3_128_with_seed(cid.as_bytes(), n ^ 0x0074_6f6b_656e);
    format!("{h:032x}")
}

/// `POST /targets`: an array of new targets → 201 with them (tokens included).
pub(super) fn create(server: &mut Server, call: &Call<'_>) -> Response {
    let body: Vec<wire::NewTarget> = or_answer!(call.body());
    let mut ids: Vec<&str> = Vec::with_capacity(body.len());
    for t in &body {
        let Some(cid) = t.controller_id.as_deref() else {
            return wire::invalid("controllerId must not be null");
        };
        if let Err(why) = crate::server::ids::check_id(cid) {
            return wire::invalid(format!("controllerId {why}"));
        }
        if t.security_token
            .as_ref()
            .is_some_and(|s| s.is_empty() || s.len() > 128)
        {
            return wire::invalid("securityToken must be 1 to 128 characters");
        }
        if server.targets.get(cid).is_some() || ids.contains(&cid) {
            return wire::already_exists(format!("Target with controllerId {cid} already exists"));
        }
        ids.push(cid);
    }
    let mut out = Vec::with_capacity(body.len());
    for t in body {
        let cid = t.controller_id.unwrap_or_default();
        let token = match t.security_token {
            Some(tok) => tok,
            None => {
                server.mgmt.tokens_issued += 1;
                generate_token(&cid, server.mgmt.tokens_issued)
            }
        };
        let index = server.targets.index_for(&cid);
        server.targets.register(&cid, index, Some(token));
        if let Some(target) = server.targets.get_mut(&cid) {
            target.created_at = call.now;
        }
        let meta = Meta {
            name: t.name.filter(|n| !n.is_empty()),
            description: t.description,
            group: t.group.filter(|g| !g.is_empty()),
        };
        server.mgmt.target_meta.insert(index, meta);
        server.mgmt.created.push(cid.clone());
        if let Some(target) = server.targets.get(&cid) {
            out.push(target_json(server, call, &cid, target));
        }
    }
    super::json(201, &out)
}

/// `GET /targets/{id}`.
pub(super) fn get(server: &mut Server, call: &Call<'_>, cid: &str) -> Response {
    match server.targets.get(cid) {
        Some(t) => super::json(200, &target_json(server, call, cid, t)),
        None => wire::no_entity("Target", cid),
    }
}

/// `PUT /targets/{id}` (`MgmtTargetResource.updateTarget`): the fields given
/// replace the target's name, description, group and security token → 200
/// with the target; an unknown target is 404.
pub(super) fn update(server: &mut Server, call: &Call<'_>, cid: &str) -> Response {
    let body: wire::NewTarget = or_answer!(call.body());
    if body
        .security_token
        .as_ref()
        .is_some_and(|s| s.is_empty() || s.len() > 128)
    {
        return wire::invalid("securityToken must be 1 to 128 characters");
    }
    let Some(target) = server.targets.get_mut(cid) else {
        return wire::no_entity("Target", cid);
    };
    if let Some(token) = body.security_token {
        target.set_token(token);
    }
    let index = target.index;
    let meta = server.mgmt.target_meta.entry(index).or_default();
    if let Some(name) = body.name.filter(|n| !n.is_empty()) {
        meta.name = Some(name);
    }
    if let Some(description) = body.description {
        meta.description = Some(description);
    }
    if let Some(group) = body.group {
        meta.group = Some(group).filter(|g| !g.is_empty());
    }
    match server.targets.get(cid) {
        Some(t) => super::json(200, &target_json(server, call, cid, t)),
        None => wire::no_entity("Target", cid),
    }
}

/// `DELETE /targets/{id}` → 204.
pub(super) fn delete(server: &mut Server, _call: &Call<'_>, cid: &str) -> Response {
    let Some(index) = server.targets.get(cid).map(|t| t.index) else {
        return wire::no_entity("Target", cid);
    };
    server.targets.remove(cid);
    server.mgmt.target_meta.remove(&index);
    Response::status(204)
}

/// `GET /targets/{id}/attributes`: 200 with the map, 204 when there are none (as hawkBit).
pub(super) fn attributes(server: &mut Server, cid: &str) -> Response {
    let Some(t) = server.targets.get(cid) else {
        return wire::no_entity("Target", cid);
    };
    if t.attributes.is_empty() {
        return Response::status(204);
    }
    let map: serde_json::Map<String, Value> = t
        .attributes
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v.as_ref())))
        .collect();
    super::json(200, &map)
}

/// hawkBit `MgmtActionType` name of a kind.
pub(super) fn kind_name(kind: ActionType) -> &'static str {
    match kind {
        ActionType::Soft => "soft",
        ActionType::Forced => "forced",
        ActionType::TimeForced { .. } => "timeforced",
        ActionType::DownloadOnly => "downloadonly",
    }
}

/// `MgmtAction` of one action, hawkBit 1.x shape (`MgmtTargetMapper.toResponse`):
/// `active`, `status` = the lower-case `Action.Status`, `lastStatusCode` when
/// the last deployment feedback carried a code.
fn action_json(server: &Server, call: &Call<'_>, cid: &str, a: &Action) -> Value {
    let enc = encode(cid);
    let id = a.id.0;
    let first = a.history.first().map_or(0, |e| e.at.as_millis());
    let last = a.history.last().map_or(first, |e| e.at.as_millis());
    let dist = server.repo.distribution(a.dist);
    let mut v = json!({
        "id": id,
        "type": if a.status.is_cancel() { "cancel" } else { "update" },
        "active": a.active,
        "status": a.status.as_str().to_ascii_lowercase(),
        "forceType": kind_name(a.kind),
        "weight": a.weight,
        "createdAt": first,
        "createdBy": server.mgmt.credentials.user,
        "lastModifiedAt": last,
        "lastModifiedBy": server.mgmt.credentials.user,
        "_links": {
            "self": call.link(format_args!("/targets/{enc}/actions/{id}")),
            "target": call.link(format_args!("/targets/{enc}")),
            "distributionset": call.link(format_args!("/distributionsets/{}", a.dist.0)),
            "status": call.link(format_args!("/targets/{enc}/actions/{id}/status?offset=0&limit=50&sort=id%3ADESC")),
        },
    });
    if let Some(d) = dist {
        v["_links"]["distributionset"]["name"] = json!(format!("{}:{}", d.name, d.version));
    }
    v["_links"]["target"]["name"] = json!(cid);
    if a.status.is_cancel() {
        v["_links"]["canceledaction"] = call.link(format_args!("/targets/{enc}/actions/{id}"));
    }
    if let Some(code) = a.last_code {
        v["lastStatusCode"] = json!(code);
    }
    if let ActionType::TimeForced { force_at } = a.kind {
        v["forceTime"] = json!(force_at.as_millis());
    }
    if let Some(w) = server.mgmt.windows.get(&id) {
        v["maintenanceWindow"] = json!({
            "schedule": w.schedule, "duration": w.duration, "timezone": w.timezone,
        });
        if let Some((start, _)) = a.window.as_ref().and_then(|s| s.window(call.now)) {
            v["maintenanceWindow"]["nextStartAt"] = json!(start.as_millis());
        }
    }
    if let Some((rid, name)) = super::rollouts::of_action(server, a.id) {
        v["rollout"] = json!(rid);
        v["rolloutName"] = json!(name);
        v["_links"]["rollout"] = call.link(format_args!("/rollouts/{rid}"));
    }
    v
}

fn find_action<'t>(target: &'t Target, raw: &str) -> Result<&'t Action, Response> {
    let id = parse_id(raw, "actionId")?;
    target
        .action(ActionId(id))
        .ok_or_else(|| wire::no_entity("Action", id))
}

/// `GET /targets/{id}/actions`: paged, newest first unless `sort=id:ASC`
/// (hawkBit's default sort is `id:DESC`).
pub(super) fn actions(server: &mut Server, call: &Call<'_>, cid: &str) -> Response {
    let (offset, limit) = or_answer!(call.page());
    let Some(t) = server.targets.get(cid) else {
        return wire::no_entity("Target", cid);
    };
    let mut items: Vec<Value> = t
        .actions
        .iter()
        .map(|a| action_json(server, call, cid, a))
        .collect();
    if call.descending(true) {
        items.reverse();
    }
    super::paged(items, offset, limit)
}

/// `GET /targets/{id}/actions/{actionId}`.
pub(super) fn action(server: &mut Server, call: &Call<'_>, cid: &str, raw: &str) -> Response {
    let Some(t) = server.targets.get(cid) else {
        return wire::no_entity("Target", cid);
    };
    let a = or_answer!(find_action(t, raw));
    super::json(200, &action_json(server, call, cid, a))
}

/// `GET /targets/{id}/actions/{actionId}/status`: the history, newest first
/// unless `sort=id:ASC` (hawkBit's default sort is `id:DESC`). Entry ids are
/// `actionId * 10000 + position`.
pub(super) fn action_status(
    server: &mut Server,
    call: &Call<'_>,
    cid: &str,
    raw: &str,
) -> Response {
    let (offset, limit) = or_answer!(call.page());
    let Some(t) = server.targets.get(cid) else {
        return wire::no_entity("Target", cid);
    };
    let a = or_answer!(find_action(t, raw));
    let mut items: Vec<Value> = a
        .history
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut v = json!({
                "id": a.id.0.saturating_mul(10_000).saturating_add(i as u64 + 1),
                "type": e.status.as_str().to_ascii_lowercase(),
                "messages": e.messages,
                "reportedAt": e.at.as_millis(),
                "timestamp": e.at.as_millis(),
            });
            if let Some(code) = e.code {
                v["code"] = json!(code);
            }
            v
        })
        .collect();
    if call.descending(true) {
        items.reverse();
    }
    super::paged(items, offset, limit)
}

fn not_cancelable(message: String) -> Response {
    wire::error(
        405,
        "org.eclipse.hawkbit.repository.exception.CancelActionNotAllowedException",
        "hawkbit.server.error.action.notCancelable",
        message,
    )
}

fn not_force_quitable(message: String) -> Response {
    wire::error(
        405,
        "org.eclipse.hawkbit.repository.exception.ForceQuitActionNotAllowedException",
        "hawkbit.server.error.action.notForceQuitable",
        message,
    )
}

/// `DELETE /targets/{id}/actions/{actionId}[?force=true]` → 204. As hawkBit
/// (`JpaDeploymentManagement.cancelAction` / `forceQuitAction`): a cancel
/// needs an active action not yet canceling; a force-quit needs an active
/// action that is already CANCELING. Both refusals are 405.
pub(super) fn cancel(server: &mut Server, call: &Call<'_>, cid: &str, raw: &str) -> Response {
    let force = call
        .query("force")
        .is_some_and(|f| f.eq_ignore_ascii_case("true"));
    let Some(t) = server.targets.get(cid) else {
        return wire::no_entity("Target", cid);
    };
    let a = or_answer!(find_action(t, raw));
    let (id, active, status) = (a.id, a.active, a.status);
    match (force, active, status.is_cancel()) {
        (false, false, _) => {
            return not_cancelable(format!(
                "Action [id: {id}] is not active and cannot be canceled"
            ))
        }
        (false, true, true) => {
            return not_cancelable(
                "Actions in canceling or canceled state cannot be canceled".to_string(),
            )
        }
        (true, false, _) => {
            return not_force_quitable(format!(
                "Action [id: {id}] is not active and cannot be force quit"
            ))
        }
        (true, true, false) => {
            return not_force_quitable(format!(
                "Action [id: {id}] is not canceled yet and cannot be force quit"
            ))
        }
        _ => {}
    }
    if server.cancel(call.now, cid, id, force) {
        Response::status(204)
    } else {
        not_cancelable(format!("Action [id: {id}] cannot be canceled"))
    }
}
