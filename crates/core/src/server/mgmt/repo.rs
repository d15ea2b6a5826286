//! Distribution sets and assignments (hawkBit `MgmtDistributionSetResource`,
//! `MgmtTargetResource.postAssignedDistributionSet`; models
//! `MgmtDistributionSet`, `MgmtTargetAssignmentResponseBody`). The software
//! modules a set holds live in `modules.rs`.
//!
//! Assignments map onto [`Server::assign`]. Simplification: distribution set
//! types do not enforce mandatory module types.

use serde_json::{json, Value};

use crate::message::percent_encode as encode;
use crate::message::Response;
use crate::server::distributions::Distribution;
use crate::server::{ActionType, DistributionId, Server};
use crate::time::Time;

use super::modules::{module_json, required, type_name};
use super::{cron, parse_id, wire, Call};

/// Distribution set types (key, name): hawkBit's defaults.
const SET_TYPES: &[(&str, &str)] = &[
    ("os", "OS only"),
    ("os_app", "OS with app(s)"),
    ("app", "App(s) only"),
];

/// Most assignments per request (hawkBit `maxTargetDistributionSetAssignmentsPerManualAssignment`).
const MAX_ASSIGNMENTS: usize = 5000;

fn set_json(server: &Server, call: &Call<'_>, id: u64, d: &Distribution) -> Value {
    let user = &server.mgmt.credentials.user;
    let modules: Vec<Value> = d
        .modules
        .iter()
        .filter_map(|m| server.repo.module(*m))
        .map(|m| module_json(server, call, m))
        .collect();
    json!({
        "id": id,
        "name": d.name,
        "version": d.version,
        "type": d.kind,
        "typeName": type_name(SET_TYPES, &d.kind).unwrap_or(&d.kind),
        "modules": modules,
        "requiredMigrationStep": d.required_migration_step,
        "complete": true,
        "valid": true,
        "deleted": false,
        "locked": false,
        "createdAt": d.created_at.as_millis(),
        "createdBy": user,
        "lastModifiedAt": d.created_at.as_millis(),
        "lastModifiedBy": user,
        "_links": {
            "self": call.link(format_args!("/distributionsets/{id}")),
        },
    })
}

/// `POST /distributionsets` → 201 with the created sets.
pub(super) fn create_sets(server: &mut Server, call: &Call<'_>) -> Response {
    let body: Vec<wire::NewSet> = or_answer!(call.body());
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for d in &body {
        let name = or_answer!(required(&d.name, "name"));
        let version = or_answer!(required(&d.version, "version"));
        let kind = d.kind.as_deref().unwrap_or("os_app");
        if type_name(SET_TYPES, kind).is_none() {
            return wire::no_entity("DistributionSetType", kind);
        }
        if let Some(m) = d
            .modules
            .iter()
            .find(|m| server.repo.module(m.id).is_none())
        {
            return wire::no_entity("SoftwareModule", m.id);
        }
        let exists = server
            .repo
            .distributions
            .iter()
            .any(|x| x.name == name && x.version == version);
        if exists || seen.contains(&(name, version)) {
            return wire::already_exists(format!(
                "DistributionSet {name}:{version} already exists"
            ));
        }
        seen.push((name, version));
    }
    let mut out = Vec::with_capacity(body.len());
    for d in body {
        let mut modules: Vec<u64> = d.modules.iter().map(|m| m.id).collect();
        modules.dedup();
        server.repo.distributions.push(Distribution {
            modules,
            name: d.name.unwrap_or_default(),
            version: d.version.unwrap_or_default(),
            kind: d.kind.unwrap_or_else(|| "os_app".to_string()),
            created_at: call.now,
            required_migration_step: d.required_migration_step.unwrap_or(false),
        });
        let id = server.repo.distributions.len() as u64;
        if let Some(d) = server.repo.distribution(DistributionId(id)) {
            out.push(set_json(server, call, id, d));
        }
    }
    super::json(201, &out)
}

/// `GET /distributionsets` (paged).
pub(super) fn list_sets(server: &mut Server, call: &Call<'_>) -> Response {
    let (offset, limit) = or_answer!(call.page());
    let items = (1..=server.repo.distributions.len() as u64)
        .filter_map(|id| {
            Some(set_json(
                server,
                call,
                id,
                server.repo.distribution(DistributionId(id))?,
            ))
        })
        .collect();
    super::paged(items, offset, limit)
}

/// `GET /distributionsets/{id}`.
pub(super) fn get_set(server: &mut Server, call: &Call<'_>, raw: &str) -> Response {
    let id = or_answer!(parse_id(raw, "distributionSetId"));
    match server.repo.distribution(DistributionId(id)) {
        Some(d) => super::json(200, &set_json(server, call, id, d)),
        None => wire::no_entity("DistributionSet", id),
    }
}

/// `GET /targets/{id}/assignedDS` (the target's stored assigned set, see
/// `assignment.rs`) or `/installedDS` (the set of the installed action); 204 when none.
pub(super) fn target_set(
    server: &mut Server,
    call: &Call<'_>,
    cid: &str,
    installed: bool,
) -> Response {
    let Some(t) = server.targets.get(cid) else {
        return wire::no_entity("Target", cid);
    };
    let dist = if installed {
        t.installed.and_then(|id| t.action(id)).map(|a| a.dist)
    } else {
        t.assigned()
    };
    let Some(dist) = dist else {
        return Response::status(204);
    };
    match server.repo.distribution(dist) {
        Some(d) => super::json(200, &set_json(server, call, dist.0, d)),
        None => Response::status(204),
    }
}

/// An assignment ready for [`Server::assign`].
pub(super) struct Plan {
    pub(super) cid: String,
    pub(super) kind: ActionType,
    pub(super) weight: Option<u32>,
    pub(super) window: Option<(wire::MaintenanceWindow, crate::server::MaintenanceSchedule)>,
    /// `confirmationRequired`; `None`: the tenant's confirmation flow setting.
    pub(super) confirmation_required: Option<bool>,
}

/// Checks one assignment's type, time, weight and window.
pub(super) fn plan(
    now: Time,
    cid: String,
    kind: Option<wire::ActionKind>,
    forcetime: Option<u64>,
    weight: Option<i64>,
    window: Option<wire::MaintenanceWindow>,
) -> Result<Plan, Response> {
    let kind = match kind.unwrap_or(wire::ActionKind::Forced) {
        wire::ActionKind::Soft => ActionType::Soft,
        wire::ActionKind::Forced => ActionType::Forced,
        wire::ActionKind::Downloadonly => ActionType::DownloadOnly,
        wire::ActionKind::Timeforced => ActionType::TimeForced {
            // Scenario time is taken as milliseconds since the epoch.
            force_at: Time(forcetime.unwrap_or(0)),
        },
    };
    let weight = match weight {
        None => None,
        Some(w) => match u32::try_from(w) {
            Ok(w) if w <= 1000 => Some(w),
            _ => return Err(wire::invalid("weight must be between 0 and 1000")),
        },
    };
    let window = match window {
        Some(w) => {
            let schedule = cron::window(&w, now)?;
            schedule.map(|s| (w, s))
        }
        None => None,
    };
    Ok(Plan {
        cid,
        kind,
        weight,
        window,
        confirmation_required: None,
    })
}

/// Carries out checked plans; `(assigned action ids with their targets, already assigned)`.
pub(super) fn execute(
    server: &mut Server,
    now: Time,
    dist: DistributionId,
    plans: Vec<Plan>,
) -> Result<(Vec<(String, u64)>, usize), Response> {
    let mut assigned = Vec::new();
    let mut already = 0;
    for p in plans {
        // OnlineDsAssignmentStrategy.findTargetsForAssignment: targets whose
        // assigned set already is `dist` are skipped.
        let same = server
            .targets
            .get(&p.cid)
            .is_some_and(|t| t.assigned() == Some(dist));
        if same {
            already += 1;
            continue;
        }
        let schedule = p.window.as_ref().map(|(_, s)| s.clone());
        let how = (p.kind, p.weight, schedule);
        let Some(id) = server.assign_with(now, dist, &p.cid, how, p.confirmation_required) else {
            return Err(wire::quota(format!(
                "Target {}: at most {} actions",
                p.cid,
                crate::server::ACTIONS_PER_TARGET - 1
            )));
        };
        if let Some((w, _)) = p.window {
            server.mgmt.windows.insert(id.0, w);
        }
        assigned.push((p.cid, id.0));
    }
    Ok((assigned, already))
}

fn assignment_body(call: &Call<'_>, assigned: &[(String, u64)], already: usize) -> Response {
    let actions: Vec<Value> = assigned
        .iter()
        .map(|(cid, id)| {
            json!({
                "id": id,
                "_links": { "self": call.link(format_args!("/targets/{}/actions/{id}", encode(cid))) },
            })
        })
        .collect();
    super::json(
        200,
        &json!({
            "assigned": assigned.len(),
            "alreadyAssigned": already,
            "total": assigned.len() + already,
            "assignedActions": actions,
        }),
    )
}

/// `POST /distributionsets/{dsId}/assignedTargets`: an array of `{id: controllerId, type, …}`.
pub(super) fn assign_targets(server: &mut Server, call: &Call<'_>, raw: &str) -> Response {
    let id = or_answer!(parse_id(raw, "distributionSetId"));
    let body: wire::OneOrMany<wire::Assignment<String>> = or_answer!(call.body());
    let body = body.into_vec();
    if body.len() > MAX_ASSIGNMENTS {
        return wire::quota(format!("At most {MAX_ASSIGNMENTS} assignments per request"));
    }
    if server.repo.distribution(DistributionId(id)).is_none() {
        return wire::no_entity("DistributionSet", id);
    }
    let mut plans = Vec::with_capacity(body.len());
    for a in body {
        if server.targets.get(&a.id).is_none() {
            return wire::no_entity("Target", &a.id);
        }
        let required = a.confirmation_required;
        let mut p = or_answer!(plan(
            call.now,
            a.id,
            a.kind,
            a.forcetime,
            a.weight,
            a.maintenance_window
        ));
        p.confirmation_required = required;
        plans.push(p);
    }
    let (assigned, already) = or_answer!(execute(server, call.now, DistributionId(id), plans));
    assignment_body(call, &assigned, already)
}

/// `POST /targets/{controllerId}/assignedDS`: `{id: dsId, type, …}` (or an array).
pub(super) fn assign_to_target(server: &mut Server, call: &Call<'_>, cid: &str) -> Response {
    let body: wire::OneOrMany<wire::Assignment<u64>> = or_answer!(call.body());
    if server.targets.get(cid).is_none() {
        return wire::no_entity("Target", cid);
    }
    let mut assigned = Vec::new();
    let mut already = 0;
    for a in body.into_vec() {
        if server.repo.distribution(DistributionId(a.id)).is_none() {
            return wire::no_entity("DistributionSet", a.id);
        }
        let mut p = or_answer!(plan(
            call.now,
            cid.to_string(),
            a.kind,
            a.forcetime,
            a.weight,
            a.maintenance_window
        ));
        p.confirmation_required = a.confirmation_required;
        let (done, same) = or_answer!(execute(server, call.now, DistributionId(a.id), vec![p]));
        assigned.extend(done);
        already += same;
    }
    assignment_body(call, &assigned, already)
}
