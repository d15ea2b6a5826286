//! Software modules and their artifacts (hawkBit `MgmtSoftwareModuleResource`;
//! models `MgmtSoftwareModule`, `MgmtArtifact`): create, list and read
//! modules, upload artifacts, read or download them.
//!
//! Uploaded artifacts hold real bytes: they are hashed once into the
//! server's [`Catalog`](crate::artifact::Catalog) and served to devices by the
//! DDI download resource like any other file. Simplification: modules stay
//! editable after assignment (hawkBit locks them).

use bytes::Bytes;
use serde_json::{json, Value};

use crate::message::Response;
use crate::server::distributions::Module;
use crate::server::{ArtifactSpec, Server};

use super::{multipart, parse_id, wire, Call};

/// Software module types (key, name): hawkBit's defaults.
const MODULE_TYPES: &[(&str, &str)] = &[
    ("os", "OS"),
    ("application", "Application"),
    ("runtime", "Runtime"),
];

/// hawkBit `Dos.maxArtifactsPerSoftwareModule`.
const MAX_ARTIFACTS_PER_MODULE: usize = 50;

pub(super) fn type_name(types: &[(&str, &'static str)], key: &str) -> Option<&'static str> {
    types.iter().find(|(k, _)| *k == key).map(|(_, n)| *n)
}

pub(super) fn module_json(server: &Server, call: &Call<'_>, m: &Module) -> Value {
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

pub(super) fn required<'a>(value: &'a Option<String>, what: &str) -> Result<&'a str, Response> {
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
            metadata: Vec::new(),
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
    add_artifact(server, call, id, filename, file.data)
}

/// Adds the uploaded `data` as artifact `filename` of module `id` → 201
/// with it, unless the module has it or is full.
fn add_artifact(
    server: &mut Server,
    call: &Call<'_>,
    id: u64,
    filename: String,
    data: &[u8],
) -> Response {
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
    let size = data.len() as u64;
    let content = server
        .repo
        .catalog
        .register_bytes(Bytes::copy_from_slice(data));
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
