//! Rollouts (hawkBit `MgmtRolloutResource`; models `MgmtRolloutResponseBody`,
//! `MgmtRolloutGroupResponseBody`): `GET|POST /rollouts`, `GET /rollouts/{id}`,
//! `POST /rollouts/{id}/start|pause|resume`, `GET /rollouts/{id}/deploygroups`.
//!
//! Driven by `now` only. A rollout's targets are fixed at creation (a static
//! rollout) and split into groups in (index, controller id) order. Starting
//! it starts the first group; [`advance`] — run before every Management
//! request, and after DDI requests at most once per scenario second — starts the next group once the running group's finished share reaches
//! its success threshold (`THRESHOLD`, default 100 %), and pauses the rollout
//! when a group's error share exceeds its error threshold.
//!
//! Simplifications: the rollout is `ready` as soon as it is created (hawkBit
//! passes through `creating` asynchronously); actions are created when their
//! group starts rather than as SCHEDULED actions up front (the core has no
//! SCHEDULED state), so a target's action id appears when its group starts;
//! no approval workflow, no dynamic groups.

use std::collections::BTreeMap;

use crate::message::Response;
use crate::server::{ActionId, DistributionId, Server};
use crate::time::{Span, Time};

use super::repo::{execute, plan};

mod view;

use super::{fiql, parse_id, target_fields, wire, Call};
use view::{counts, group_json, rollout_json, status_name};

/// Most groups (hawkBit `maxRolloutGroupsPerRollout`).
const MAX_GROUPS: u32 = 500;
/// Shortest interval between two evaluations triggered by DDI requests.
const EVAL_EVERY: Span = Span::secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Ready,
    Running,
    Paused,
    Finished,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GroupStatus {
    Ready,
    Scheduled,
    Running,
    Finished,
    Error,
}

#[derive(Debug)]
struct Group {
    name: String,
    description: Option<String>,
    percentage: f64,
    filter: Option<String>,
    targets: Vec<String>,
    success: f64,
    error: Option<f64>,
    status: GroupStatus,
    actions: Vec<(String, ActionId)>,
    /// The next group has been started because of this one.
    triggered: bool,
    /// `confirmationRequired` of its actions (group's, else the rollout's;
    /// `None`: the tenant's confirmation flow decides).
    confirmation_required: Option<bool>,
}

#[derive(Debug)]
struct Rollout {
    id: u64,
    name: String,
    description: Option<String>,
    dist: DistributionId,
    filter: String,
    kind: Option<wire::ActionKind>,
    forcetime: Option<u64>,
    weight: Option<i64>,
    start_at: Option<Time>,
    status: Status,
    created_at: Time,
    modified_at: Time,
    groups: Vec<Group>,
}

/// Every rollout, and which rollout created each action.
#[derive(Debug, Default)]
pub(in crate::server) struct Rollouts {
    list: Vec<Rollout>,
    by_action: BTreeMap<u64, u64>,
    last_eval: Option<Time>,
}

fn illegal_state(message: impl Into<String>) -> Response {
    wire::error(
        400,
        "org.eclipse.hawkbit.repository.exception.RolloutIllegalStateException",
        "hawkbit.server.error.rollout.illegalstate",
        message,
    )
}

fn verification_failed(message: impl Into<String>) -> Response {
    wire::error(
        400,
        "org.eclipse.hawkbit.repository.exception.ValidationException",
        "hawkbit.server.error.rollout.verificationFailed",
        message,
    )
}

/// The percentage of a `THRESHOLD` condition (`None`: not given).
fn threshold(c: Option<&wire::Condition>, what: &str) -> Result<Option<f64>, Response> {
    let Some(c) = c else { return Ok(None) };
    if c.condition
        .as_deref()
        .is_some_and(|k| !k.eq_ignore_ascii_case("THRESHOLD"))
    {
        return Err(wire::invalid(format!(
            "{what}: only THRESHOLD conditions are supported"
        )));
    }
    match c.expression.as_deref().map(|e| e.trim().parse::<f64>()) {
        Some(Ok(p)) if (0.0..=100.0).contains(&p) => Ok(Some(p)),
        None => Ok(None),
        _ => Err(wire::invalid(format!(
            "{what}: expression must be a percentage 0..100"
        ))),
    }
}

/// Splits `targets` into groups; `Err` when the request cannot be honoured.
fn make_groups(
    server: &Server,
    body: &wire::NewRollout,
    targets: Vec<String>,
) -> Result<Vec<Group>, Response> {
    let success = threshold(body.success_condition.as_ref(), "successCondition")?.unwrap_or(100.0);
    let error = threshold(body.error_condition.as_ref(), "errorCondition")?;
    let group = |name: String, targets: Vec<String>, percentage: f64| Group {
        name,
        description: None,
        percentage,
        filter: None,
        targets,
        success,
        error,
        status: GroupStatus::Ready,
        actions: Vec::new(),
        triggered: false,
        confirmation_required: body.confirmation_required,
    };
    if body.groups.is_empty() {
        return even_groups(body.amount_groups, targets, &group);
    }
    if body.groups.len() > MAX_GROUPS as usize {
        return Err(wire::invalid(format!("at most {MAX_GROUPS} groups")));
    }
    let mut remaining = targets;
    let mut out = Vec::with_capacity(body.groups.len());
    for (i, g) in body.groups.iter().enumerate() {
        out.push(listed_group(server, i, g, &mut remaining, &group)?);
    }
    if !remaining.is_empty() {
        return Err(verification_failed(format!(
            "Rollout groups do not cover all targets: {} left over",
            remaining.len()
        )));
    }
    Ok(out)
}

/// Makes a deploy group of `targets` (name, targets, percentage).
type MakeGroup<'a> = &'a dyn Fn(String, Vec<String>, f64) -> Group;

/// `amountGroups` groups of (nearly) equal size, in target order.
fn even_groups(
    amount: Option<u32>,
    targets: Vec<String>,
    group: MakeGroup<'_>,
) -> Result<Vec<Group>, Response> {
    let n = amount.unwrap_or(1);
    if n == 0 || n > MAX_GROUPS {
        return Err(wire::invalid(format!(
            "amountGroups must be 1 to {MAX_GROUPS}"
        )));
    }
    let total = targets.len();
    let n = n as usize;
    let mut out = Vec::with_capacity(n);
    let mut rest = targets.into_iter();
    for i in 0..n {
        let size = (i + 1) * total / n - i * total / n;
        let pct = 100.0 / (n - i) as f64;
        out.push(group(
            format!("group-{}", i + 1),
            rest.by_ref().take(size).collect(),
            pct,
        ));
    }
    Ok(out)
}

/// Explicit group `g` (number `i`): its share of the `remaining` targets its
/// filter matches, which are then no longer remaining.
fn listed_group(
    server: &Server,
    i: usize,
    g: &wire::NewGroup,
    remaining: &mut Vec<String>,
    group: MakeGroup<'_>,
) -> Result<Group, Response> {
    let pct = g.target_percentage.unwrap_or(100.0);
    if !(0.0..=100.0).contains(&pct) || pct == 0.0 {
        return Err(wire::invalid(
            "targetPercentage must be above 0 and at most 100",
        ));
    }
    let filter = match &g.target_filter_query {
        Some(q) => Some(fiql::parse(q, target_fields::FIELDS)?),
        None => None,
    };
    let matching: Vec<String> = match &filter {
        Some(f) => {
            let selected = target_fields::select(server, f);
            remaining
                .iter()
                .filter(|c| selected.contains(c))
                .cloned()
                .collect()
        }
        None => remaining.clone(),
    };
    // The percentage is of the targets still unassigned that the group's filter matches.
    let take = ((matching.len() as f64) * pct / 100.0).ceil() as usize;
    let chosen: Vec<String> = matching.into_iter().take(take).collect();
    remaining.retain(|c| !chosen.contains(c));
    let mut grp = group(
        g.name.clone().unwrap_or_else(|| format!("group-{}", i + 1)),
        chosen,
        pct,
    );
    grp.description = g.description.clone();
    grp.filter = g.target_filter_query.clone();
    grp.confirmation_required = g.confirmation_required.or(grp.confirmation_required);
    if let Some(s) = threshold(g.success_condition.as_ref(), "successCondition")? {
        grp.success = s;
    }
    if let Some(e) = threshold(g.error_condition.as_ref(), "errorCondition")? {
        grp.error = Some(e);
    }
    Ok(grp)
}

/// `POST /rollouts` → 201.
pub(super) fn create(server: &mut Server, call: &Call<'_>) -> Response {
    let body: wire::NewRollout = or_answer!(call.body());
    let Some(name) = body.name.clone().filter(|n| !n.trim().is_empty()) else {
        return wire::invalid("name must not be empty");
    };
    if server.mgmt.rollouts.list.iter().any(|r| r.name == name) {
        return wire::already_exists(format!("Rollout {name} already exists"));
    }
    let Some(dist) = body.distribution_set_id else {
        return wire::invalid("distributionSetId must not be null");
    };
    if server.repo.distribution(DistributionId(dist)).is_none() {
        return wire::no_entity("DistributionSet", dist);
    }
    let Some(query) = body.target_filter_query.clone() else {
        return wire::invalid("targetFilterQuery must not be null");
    };
    let filter = or_answer!(fiql::parse(&query, target_fields::FIELDS));
    let selected = target_fields::select(server, &filter);
    if selected.is_empty() {
        return verification_failed("Rollout does not match any existing targets");
    }
    // Check the action options once, as every assignment will use them.
    or_answer!(plan(
        call.now,
        String::new(),
        body.kind,
        body.forcetime,
        body.weight,
        None
    ));
    let groups = or_answer!(make_groups(server, &body, selected));
    let id = server.mgmt.rollouts.list.len() as u64 + 1;
    let rollout = Rollout {
        id,
        name,
        description: body.description.clone(),
        dist: DistributionId(dist),
        filter: query,
        kind: body.kind,
        forcetime: body.forcetime,
        weight: body.weight,
        start_at: body.start_at.map(Time),
        status: Status::Ready,
        created_at: call.now,
        modified_at: call.now,
        groups,
    };
    let json = rollout_json(server, call, &rollout);
    server.mgmt.rollouts.list.push(rollout);
    super::json(201, &json)
}

fn find(server: &Server, raw: &str) -> Result<usize, Response> {
    let id = parse_id(raw, "rolloutId")?;
    let i = id.checked_sub(1).and_then(|i| usize::try_from(i).ok());
    i.filter(|i| *i < server.mgmt.rollouts.list.len())
        .ok_or_else(|| wire::no_entity("Rollout", id))
}

/// `GET /rollouts` (paged).
pub(super) fn list(server: &mut Server, call: &Call<'_>) -> Response {
    let (offset, limit) = or_answer!(call.page());
    let items = server
        .mgmt
        .rollouts
        .list
        .iter()
        .map(|r| rollout_json(server, call, r))
        .collect();
    super::paged(items, offset, limit)
}

/// `GET /rollouts/{id}`.
pub(super) fn get(server: &mut Server, call: &Call<'_>, raw: &str) -> Response {
    let i = or_answer!(find(server, raw));
    super::json(
        200,
        &rollout_json(server, call, &server.mgmt.rollouts.list[i]),
    )
}

/// `GET /rollouts/{id}/deploygroups` (paged).
pub(super) fn groups(server: &mut Server, call: &Call<'_>, raw: &str) -> Response {
    let (offset, limit) = or_answer!(call.page());
    let i = or_answer!(find(server, raw));
    let r = &server.mgmt.rollouts.list[i];
    let items = (0..r.groups.len())
        .map(|g| group_json(server, call, r, g))
        .collect();
    super::paged(items, offset, limit)
}

/// `POST /rollouts/{id}/start|pause|resume` → 200, or 400 in the wrong state.
pub(super) fn verb(server: &mut Server, call: &Call<'_>, raw: &str, verb: &str) -> Response {
    let i = or_answer!(find(server, raw));
    let status = server.mgmt.rollouts.list[i].status;
    let next = match (verb, status) {
        ("start", Status::Ready) => Status::Running,
        ("pause", Status::Running) => Status::Paused,
        ("resume", Status::Paused) => Status::Running,
        _ => {
            return illegal_state(format!(
                "Rollout can only be {verb}ed in state {}, but is {}",
                match verb {
                    "start" => "ready",
                    "pause" => "running",
                    _ => "paused",
                },
                status_name(status)
            ))
        }
    };
    if verb == "start" {
        or_answer!(start(server, call.now, i));
    } else {
        let r = &mut server.mgmt.rollouts.list[i];
        r.status = next;
        r.modified_at = call.now;
    }
    evaluate(server, call.now, i);
    Response::status(200)
}

/// Starts rollout `i`: its first group runs, the others are scheduled.
fn start(server: &mut Server, now: Time, i: usize) -> Result<(), Response> {
    let r = &mut server.mgmt.rollouts.list[i];
    r.status = Status::Running;
    r.modified_at = now;
    for g in r.groups.iter_mut() {
        g.status = GroupStatus::Scheduled;
    }
    start_group(server, now, i, 0)
}

/// Assigns the rollout's set to group `g`'s targets.
fn start_group(server: &mut Server, now: Time, i: usize, g: usize) -> Result<(), Response> {
    let r = &server.mgmt.rollouts.list[i];
    let Some(group) = r.groups.get(g) else {
        return Ok(());
    };
    let (dist, rid) = (r.dist, r.id);
    let mut plans = Vec::with_capacity(group.targets.len());
    for cid in group
        .targets
        .iter()
        .filter(|c| server.targets.get(c).is_some())
    {
        let mut p = plan(now, cid.clone(), r.kind, r.forcetime, r.weight, None)?;
        p.confirmation_required = group.confirmation_required;
        plans.push(p);
    }
    let (assigned, _already) = execute(server, now, dist, plans)?;
    let rollouts = &mut server.mgmt.rollouts;
    for (_, id) in &assigned {
        rollouts.by_action.insert(*id, rid);
    }
    let group = &mut rollouts.list[i].groups[g];
    group.status = GroupStatus::Running;
    group.actions = assigned
        .into_iter()
        .map(|(c, id)| (c, ActionId(id)))
        .collect();
    Ok(())
}

/// Applies the group conditions of rollout `i` at `now`: a running group
/// that reaches its success threshold triggers the next scheduled group
/// (once); one whose errors exceed its error threshold pauses the rollout.
/// A group finishes when none of its actions is active any more.
fn evaluate(server: &mut Server, now: Time, i: usize) {
    // Bounded: every pass but the last starts a group.
    for _ in 0..=server.mgmt.rollouts.list[i].groups.len() {
        let r = &server.mgmt.rollouts.list[i];
        if r.status != Status::Running {
            return;
        }
        let mut verdicts = Vec::new();
        for (g, group) in r.groups.iter().enumerate() {
            if group.status != GroupStatus::Running {
                continue;
            }
            let c = counts(server, group, r.status);
            let total = group.targets.len().max(1) as f64;
            let pct = |k: &str| c.get(k).copied().unwrap_or(0) as f64 * 100.0 / total;
            let done = c.get("running").copied().unwrap_or(0) == 0;
            let errored = group.error.is_some_and(|e| pct("error") > e);
            let succeeded = group.targets.is_empty() || pct("finished") >= group.success;
            verdicts.push((g, done, errored, succeeded && !group.triggered));
        }
        let next = r
            .groups
            .iter()
            .position(|g| g.status == GroupStatus::Scheduled);
        let r = &mut server.mgmt.rollouts.list[i];
        let mut trigger = false;
        for (g, done, errored, succeeded) in verdicts {
            if errored {
                r.groups[g].status = GroupStatus::Error;
                r.status = Status::Paused;
                r.modified_at = now;
                return;
            }
            if done {
                r.groups[g].status = GroupStatus::Finished;
            }
            if succeeded && next.is_some() {
                r.groups[g].triggered = true;
                trigger = true;
            }
        }
        let running = r.groups.iter().any(|g| g.status == GroupStatus::Running);
        match next {
            Some(n) if trigger => {
                if start_group(server, now, i, n).is_err() {
                    return;
                }
            }
            None if !running => {
                r.status = Status::Finished;
                r.modified_at = now;
                return;
            }
            _ => return,
        }
    }
}

/// Evaluates running rollouts and starts scheduled ones (`startAt`) at `now`.
/// Cheap when there are none; otherwise at most once per [`EVAL_EVERY`]
/// unless `force` (Management requests always evaluate).
pub(in crate::server) fn advance(server: &mut Server, now: Time, force: bool) {
    let r = &server.mgmt.rollouts;
    let live = r.list.iter().any(|r| {
        r.status == Status::Running || (r.status == Status::Ready && r.start_at.is_some())
    });
    if !live || (!force && r.last_eval.is_some_and(|t| now < t + EVAL_EVERY)) {
        return;
    }
    server.mgmt.rollouts.last_eval = Some(now);
    for i in 0..server.mgmt.rollouts.list.len() {
        let r = &server.mgmt.rollouts.list[i];
        if r.status == Status::Ready
            && r.start_at.is_some_and(|t| t <= now)
            && start(server, now, i).is_err()
        {
            continue;
        }
        evaluate(server, now, i);
    }
}

/// The rollout (id, name) that created action `id`.
pub(super) fn of_action(server: &Server, id: ActionId) -> Option<(u64, &str)> {
    let rid = *server.mgmt.rollouts.by_action.get(&id.0)?;
    let r = server
        .mgmt
        .rollouts
        .list
        .get(usize::try_from(rid.checked_sub(1)?).ok()?)?;
    Some((r.id, r.name.as_str()))
}
