//! Software modules, artifact upload, distribution sets and assignments
//! (hawkBit `MgmtSoftwareModuleResource`, `MgmtDistributionSetResource`,
//! `MgmtTargetResource.postAssignedDistributionSet`; models
//! `MgmtSoftwareModule`, `MgmtArtifact`, `MgmtDistributionSet`,
//! `MgmtTargetAssignmentResponseBody`).
//!
//! Uploaded artifacts hold real bytes: they are hashed once into the
//! server's [`Catalog`](crate::artifact::Catalog) and served to devices by the
//! DDI download resource like any other file. Assignments map onto
//! [`Server::assign`]. Simplifications: modules stay editable after
//! assignment (hawkBit locks them); distribution set types do not enforce
//! mandatory module types.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::message::Response;
use crate::server::state::{Distribution, Module};
use crate::server::{ActionType, ArtifactSpec, DistributionId, Server};
use crate::time::Time;

use super::{cron, multipart, parse_id, wire, Call};
use crate::message::percent_encode as encode;

/// Software module types (key, name): hawkBit's defaults.
const MODULE_TYPES: &[(&str, &str)] = &[
    ("os", "OS"),
    ("application", "Application"),
    ("runtime", "Runtime"),
];
/// Distribution set types (key, name): hawkBit's defaults.
const SET_TYPES: &[(&str, &str)] = &[
    ("os", "OS only"),
    ("os_app", "OS with app(s)"),
    ("app", "App(s) only"),
];
/// hawkBit `Dos.maxArtifactsPerSoftwareModule`.
const MAX_ARTIFACTS_PER_MODULE: usize = 50;
/// Most assignments per request (hawkBit `maxTargetDistributionSetAssignmentsPerManualAssignment`).
const MAX_ASSIGNMENTS: usize = 5000;

fn type_name(types: &[(&str, &'static str)], key: &str) -> Option<&'static str> {
    types.iter().find(|(k, _)| *k == key).map(|(_, n)| *n)
}

fn module_json(server: &Server, call: &Call<'_>, m: &Module) -> Value {
    let user = &server.mgmt.credentials.user;
    let mut v = json!({
        "id": m.id,
        "name": m.name,
        "version": m.version,
        "type": m.part,
        "typeName": type_name(MODULE_TYPES, &m.part).unwrap_or(&m.part),
        "deleted": false,
        "encrypted": false,
        "createdAt": m.created_at.as_millis(),
        "createdBy": user,
        "lastModifiedAt": m.created_at.as_millis(),
        "lastModifiedBy": user,
        "_links": {
            "self": call.link(format_args!("/softwaremodules/{}", m.id)),
            "artifacts": call.link(format_args!("/softwaremodules/{}/artifacts", m.id)),
        },
    });
    if let Some(vendor) = &m.vendor {
        v["vendor"] = json!(vendor);
    }
    v
}

fn artifact_json(server: &Server, call: &Call<'_>, m: &Module, i: usize) -> Value {
    let (spec, id) = (&m.artifacts[i], m.artifact_ids.get(i).copied().unwrap_or(0));
    let hashes = server.repo.catalog.get(spec.content).map(|c| &c.hashes);
    let user = &server.mgmt.credentials.user;
    json!({
        "id": id,
        "providedFilename": spec.filename,
        "size": spec.size,
        "hashes": {
            "sha1": hashes.map(|h| h.sha1.as_str()),
            "md5": hashes.map(|h| h.md5.as_str()),
            "sha256": hashes.map(|h| h.sha256.as_str()),
        },
        "createdAt": m.created_at.as_millis(),
        "createdBy": user,
        "lastModifiedAt": m.created_at.as_millis(),
        "lastModifiedBy": user,
        "_links": {
            "self": call.link(format_args!("/softwaremodules/{}/artifacts/{id}", m.id)),
            "download": call.link(format_args!("/softwaremodules/{}/artifacts/{id}/download", m.id)),
        },
    })
}

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
        "requiredMigrationStep": false,
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

fn required<'a>(value: &'a Option<String>, what: &str) -> Result<&'a str, Response> {
    match value.as_deref() {
        Some(v) if !v.trim().is_empty() && v.len() <= 128 => Ok(v),
        _ => Err(wire::invalid(format!("{what} must be 1 to 128 characters"))),
    }
}

/// `POST /softwaremodules` → 201 with the created modules.
pub(super) fn create_modules(server: &mut Server, call: &Call<'_>) -> Response {
    let body: Vec<wire::NewModule> = or_answer!(call.body());
    let mut seen: Vec<(&str, &str, &str)> = Vec::new();
    for m in &body {
        let name = or_answer!(required(&m.name, "name"));
        let version = or_answer!(required(&m.version, "version"));
        let kind = or_answer!(required(&m.kind, "type"));
        if type_name(MODULE_TYPES, kind).is_none() {
            return wire::no_entity("SoftwareModuleType", kind);
        }
        let exists = server
            .repo
            .modules
            .iter()
            .any(|x| x.name == name && x.version == version && x.part == kind);
        if exists || seen.contains(&(name, version, kind)) {
            return wire::already_exists(format!(
                "SoftwareModule {name}:{version} of type {kind} already exists"
            ));
        }
        seen.push((name, version, kind));
    }
    let mut out = Vec::with_capacity(body.len());
    for m in body {
        let id = server.repo.modules.len() as u64 + 1;
        server.repo.modules.push(Module {
            id,
            part: m.kind.unwrap_or_default(),
            name: m.name.unwrap_or_default(),
            version: m.version.unwrap_or_default(),
            artifacts: Vec::new(),
            artifact_ids: Vec::new(),
            vendor: m.vendor,
            created_at: call.now,
        });
        if let Some(m) = server.repo.module(id) {
            out.push(module_json(server, call, m));
        }
    }
    super::json(201, &out)
}

/// `GET /softwaremodules` (paged).
pub(super) fn list_modules(server: &mut Server, call: &Call<'_>) -> Response {
    let (offset, limit) = or_answer!(call.page());
    let items = server
        .repo
        .modules
        .iter()
        .map(|m| module_json(server, call, m))
        .collect();
    super::paged(items, offset, limit)
}

fn find_module<'a>(server: &'a Server, raw: &str) -> Result<&'a Module, Response> {
    let id = parse_id(raw, "softwareModuleId")?;
    server
        .repo
        .module(id)
        .ok_or_else(|| wire::no_entity("SoftwareModule", id))
}

/// `GET /softwaremodules/{id}`.
pub(super) fn get_module(server: &mut Server, call: &Call<'_>, raw: &str) -> Response {
    let m = or_answer!(find_module(server, raw));
    super::json(200, &module_json(server, call, m))
}

/// `GET /softwaremodules/{id}/artifacts`: a plain array.
pub(super) fn list_artifacts(server: &mut Server, call: &Call<'_>, raw: &str) -> Response {
    let m = or_answer!(find_module(server, raw));
    let out: Vec<Value> = (0..m.artifacts.len())
        .map(|i| artifact_json(server, call, m, i))
        .collect();
    super::json(200, &out)
}

fn upload_failed(message: impl Into<String>) -> Response {
    wire::error(
        400,
        "org.eclipse.hawkbit.rest.exception.MultiPartFileUploadException",
        "hawkbit.server.error.artifact.uploadFailed",
        message,
    )
}

fn hash_mismatch(kind: &str, given: &str, actual: &str) -> Response {
    let class = match kind {
        "md5" => "InvalidMD5HashException",
        "sha1" => "InvalidSHA1HashException",
        _ => "InvalidSHA256HashException",
    };
    wire::error(
        400,
        &format!("org.eclipse.hawkbit.repository.exception.{class}"),
        &format!("hawkbit.server.error.artifact.uploadFailed.checksum.{kind}.match"),
        format!(
            "The given {kind} hash {given} does not match the calculated {kind} hash {actual}."
        ),
    )
}

/// `POST /softwaremodules/{id}/artifacts`: multipart part `file`, optional
/// `filename`, `md5sum`, `sha1sum`, `sha256sum` (query or form fields) → 201.
pub(super) fn upload(server: &mut Server, call: &Call<'_>, raw: &str) -> Response {
    let id = or_answer!(find_module(server, raw)).id;
    let content_type = call.req.headers.get("content-type").unwrap_or("");
    let boundary = match multipart::boundary(content_type) {
        Ok(b) => b,
        Err(multipart::Error(m)) => return upload_failed(m),
    };
    let parts = match multipart::parse(call.req.body.as_bytes(), &boundary) {
        Ok(p) => p,
        Err(multipart::Error(m)) => return upload_failed(format!("malformed multipart body: {m}")),
    };
    let Some(file) = parts.iter().find(|p| p.name == "file") else {
        return upload_failed("Required part 'file' is not present.");
    };
    let param = |name: &str| -> Option<String> {
        call.query(name).or_else(|| {
            let p = parts
                .iter()
                .find(|p| p.name == name && p.filename.is_none())?;
            Some(String::from_utf8_lossy(p.data).trim().to_string())
        })
    };
    let filename = param("filename")
        .or_else(|| file.filename.clone())
        .unwrap_or_default();
    if filename.is_empty() || filename.contains('/') || filename.len() > 256 {
        return upload_failed("filename must be 1 to 256 characters without '/'");
    }
    if file.data.is_empty() {
        return Response::status(400); // hawkBit answers an empty file with a bare 400
    }
    let hashes = crate::artifact::hash_bytes(file.data);
    for (name, actual) in [
        ("md5", &hashes.md5),
        ("sha1", &hashes.sha1),
        ("sha256", &hashes.sha256),
    ] {
        if let Some(given) = param(&format!("{name}sum")) {
            if !given.eq_ignore_ascii_case(actual) {
                return hash_mismatch(name, &given, actual);
            }
        }
    }
    let Some(module) = server.repo.module(id) else {
        return wire::no_entity("SoftwareModule", id);
    };
    if module.artifacts.iter().any(|a| a.filename == filename) {
        return wire::already_exists(format!(
            "Artifact {filename} already exists in software module {id}"
        ));
    }
    if module.artifacts.len() >= MAX_ARTIFACTS_PER_MODULE {
        return wire::quota(format!(
            "At most {MAX_ARTIFACTS_PER_MODULE} artifacts per software module"
        ));
    }
    let size = file.data.len() as u64;
    let content = server
        .repo
        .catalog
        .register_bytes(Bytes::copy_from_slice(file.data));
    server.repo.artifacts_added += 1;
    let artifact_id = server.repo.artifacts_added;
    let Some(module) = id
        .checked_sub(1)
        .and_then(|i| server.repo.modules.get_mut(i as usize))
    else {
        return wire::no_entity("SoftwareModule", id);
    };
    module.artifacts.push(ArtifactSpec {
        filename,
        content,
        size,
    });
    module.artifact_ids.push(artifact_id);
    let i = module.artifacts.len() - 1;
    match server.repo.module(id) {
        Some(m) => super::json(201, &artifact_json(server, call, m, i)),
        None => wire::no_entity("SoftwareModule", id),
    }
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

/// `GET /softwaremodules/{id}/artifacts/{artifactId}[/download]`: the
/// artifact's JSON, or its bytes (uploaded or synthetic) as an attachment.
pub(super) fn get_artifact(
    server: &mut Server,
    call: &Call<'_>,
    raw_sm: &str,
    raw_id: &str,
    download: bool,
) -> Response {
    let m = or_answer!(find_module(server, raw_sm));
    let id = or_answer!(parse_id(raw_id, "artifactId"));
    let Some(i) = m.artifact_ids.iter().position(|a| *a == id) else {
        return wire::no_entity("Artifact", id);
    };
    if !download {
        return super::json(200, &artifact_json(server, call, m, i));
    }
    let spec = &m.artifacts[i];
    let body = match server.repo.catalog.bytes(spec.content) {
        Some(bytes) => crate::message::Body::Bytes(bytes.clone()),
        None => crate::message::Body::Synthetic {
            content: spec.content,
            offset: 0,
            len: spec.size,
        },
    };
    let headers = crate::message::Headers::new()
        .with("content-type", "application/octet-stream")
        .with(
            "content-disposition",
            format!("attachment;filename={}", spec.filename),
        )
        .with("content-length", spec.size.to_string());
    Response {
        status: 200,
        headers,
        body,
    }
}

/// `GET /targets/{id}/assignedDS` (the set of the latest assignment not
/// canceled) or `/installedDS` (the set of the installed action); 204 when none.
pub(super) fn target_set(
    server: &mut Server,
    call: &Call<'_>,
    cid: &str,
    installed: bool,
) -> Response {
    let Some(t) = server.targets.get(cid) else {
        return wire::no_entity("Target", cid);
    };
    let action = if installed {
        t.installed.and_then(|id| t.action(id))
    } else {
        t.actions.iter().rev().find(|a| !a.status.is_cancel())
    };
    let Some(dist) = action.map(|a| a.dist) else {
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
            Some((w, schedule))
        }
        None => None,
    };
    Ok(Plan {
        cid,
        kind,
        weight,
        window,
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
        let same = server.targets.get(&p.cid).is_some_and(|t| {
            t.actions
                .iter()
                .any(|a| a.active && a.dist == dist && !a.status.is_cancel())
        });
        if same {
            already += 1;
            continue;
        }
        let schedule = p.window.as_ref().map(|(_, s)| *s);
        let Some(id) = server.assign(now, dist, &p.cid, p.kind, p.weight, schedule) else {
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
        plans.push(or_answer!(plan(
            call.now,
            a.id,
            a.kind,
            a.forcetime,
            a.weight,
            a.maintenance_window
        )));
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
        let p = or_answer!(plan(
            call.now,
            cid.to_string(),
            a.kind,
            a.forcetime,
            a.weight,
            a.maintenance_window
        ));
        let (done, same) = or_answer!(execute(server, call.now, DistributionId(a.id), vec![p]));
        assigned.extend(done);
        already += same;
    }
    assignment_body(call, &assigned, already)
}
