//! JSON views of rollouts and their deploy groups (hawkBit
//! `MgmtRolloutResponseBody`, `MgmtRolloutGroupResponseBody`) and the
//! per-status target counts (`totalTargetsPerStatus`) the group conditions
//! of `rollouts.rs` are evaluated on.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::server::{ActionStatus, Server};

use super::super::{wire, Call};
use super::{Group, GroupStatus, Rollout, Status};

pub(super) fn status_name(s: Status) -> &'static str {
    match s {
        Status::Ready => "ready",
        Status::Running => "running",
        Status::Paused => "paused",
        Status::Finished => "finished",
    }
}

fn group_status_name(s: GroupStatus) -> &'static str {
    match s {
        GroupStatus::Ready => "ready",
        GroupStatus::Scheduled => "scheduled",
        GroupStatus::Running => "running",
        GroupStatus::Finished => "finished",
        GroupStatus::Error => "error",
    }
}

/// Per-status counts of a group's targets (hawkBit `TotalTargetCountStatus` keys).
pub(super) fn counts(server: &Server, g: &Group, rollout: Status) -> BTreeMap<&'static str, u64> {
    let mut c: BTreeMap<&'static str, u64> = [
        "running",
        "notstarted",
        "scheduled",
        "cancelled",
        "finished",
        "error",
    ]
    .into_iter()
    .map(|k| (k, 0))
    .collect();
    if matches!(g.status, GroupStatus::Ready | GroupStatus::Scheduled) {
        let key = if rollout == Status::Ready {
            "notstarted"
        } else {
            "scheduled"
        };
        *c.entry(key).or_default() += g.targets.len() as u64;
        return c;
    }
    for (cid, id) in &g.actions {
        let a = server.targets.get(cid).and_then(|t| t.action(*id));
        let key = match a.map(|a| (a.active, a.status)) {
            Some((true, _)) => "running",
            Some((_, ActionStatus::Finished | ActionStatus::Downloaded)) => "finished",
            Some((_, ActionStatus::Error)) => "error",
            _ => "cancelled",
        };
        *c.entry(key).or_default() += 1;
    }
    // Targets that already had the set assigned count as finished.
    let rest = (g.targets.len() - g.actions.len().min(g.targets.len())) as u64;
    *c.entry("finished").or_default() += rest;
    c
}

pub(super) fn rollout_json(server: &Server, call: &Call<'_>, r: &Rollout) -> Value {
    let user = &server.mgmt.credentials.user;
    let mut per: BTreeMap<&str, u64> = BTreeMap::new();
    for g in &r.groups {
        for (k, n) in counts(server, g, r.status) {
            *per.entry(k).or_default() += n;
        }
    }
    let id = r.id;
    let mut v = json!({
        "id": id,
        "name": r.name,
        "targetFilterQuery": r.filter,
        "distributionSetId": r.dist.0,
        "status": status_name(r.status),
        "totalTargets": r.groups.iter().map(|g| g.targets.len()).sum::<usize>(),
        "totalTargetsPerStatus": per,
        "totalGroups": r.groups.len(),
        "type": r.kind.unwrap_or(wire::ActionKind::Forced),
        "deleted": false,
        "dynamic": false,
        "createdAt": r.created_at.as_millis(),
        "createdBy": user,
        "lastModifiedAt": r.modified_at.as_millis(),
        "lastModifiedBy": user,
        "_links": {
            "self": call.link(format_args!("/rollouts/{id}")),
            "start": call.link(format_args!("/rollouts/{id}/start")),
            "pause": call.link(format_args!("/rollouts/{id}/pause")),
            "resume": call.link(format_args!("/rollouts/{id}/resume")),
            "groups": call.link(format_args!("/rollouts/{id}/deploygroups?offset=0&limit=50")),
            "distributionset": call.link(format_args!("/distributionsets/{}", r.dist.0)),
        },
    });
    if let Some(d) = &r.description {
        v["description"] = json!(d);
    }
    if let Some(t) = r.start_at {
        v["startAt"] = json!(t.as_millis());
    }
    if let Some(f) = r.forcetime {
        v["forcetime"] = json!(f);
    }
    if let Some(w) = r.weight {
        v["weight"] = json!(w);
    }
    v
}

pub(super) fn group_json(server: &Server, call: &Call<'_>, r: &Rollout, i: usize) -> Value {
    let g = &r.groups[i];
    let gid = r.id * 1000 + i as u64 + 1;
    let user = &server.mgmt.credentials.user;
    let mut v = json!({
        "id": gid,
        "name": g.name,
        "status": group_status_name(g.status),
        "totalTargets": g.targets.len(),
        "totalTargetsPerStatus": counts(server, g, r.status),
        "targetPercentage": g.percentage,
        "successCondition": { "condition": "THRESHOLD", "expression": g.success.to_string() },
        "successAction": { "action": "NEXTGROUP", "expression": "" },
        "createdAt": r.created_at.as_millis(),
        "createdBy": user,
        "lastModifiedAt": r.modified_at.as_millis(),
        "lastModifiedBy": user,
        "_links": { "self": call.link(format_args!("/rollouts/{}/deploygroups/{gid}", r.id)) },
    });
    if let Some(e) = g.error {
        v["errorCondition"] = json!({ "condition": "THRESHOLD", "expression": e.to_string() });
        v["errorAction"] = json!({ "action": "PAUSE", "expression": "" });
    }
    if let Some(f) = &g.filter {
        v["targetFilterQuery"] = json!(f);
    }
    if let Some(d) = &g.description {
        v["description"] = json!(d);
    }
    v
}
