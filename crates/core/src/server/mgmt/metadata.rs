//! Software-module metadata (hawkBit `MgmtSoftwareModuleResource`):
//! `POST /softwaremodules/{id}/metadata` with `[{key, value, targetVisible}]`
//! → 201 (an existing key is overwritten), `GET` → paged list,
//! `GET|PUT|DELETE /softwaremodules/{id}/metadata/{key}` → the entry / 204 /
//! 204. Target-visible entries reach devices in the DDI chunk's `metadata`.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::message::{Method, Response};
use crate::server::distributions::Module;
use crate::server::Server;

use super::{parse_id, wire, Call};

/// hawkBit's `MetaData` column sizes.
const MAX_KEY: usize = 128;
const MAX_VALUE: usize = 4000;

/// `MgmtSoftwareModuleMetadata` (POST) and `…MetadataBodyPut` (PUT: no key).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    key: Option<String>,
    value: Option<String>,
    #[serde(default)]
    target_visible: bool,
}

fn entry_json(key: &str, value: &str, visible: bool) -> Value {
    json!({ "key": key, "value": value, "targetVisible": visible })
}

fn module_mut<'a>(server: &'a mut Server, raw: &str) -> Result<&'a mut Module, Response> {
    let id = parse_id(raw, "softwareModuleId")?;
    server
        .repo
        .modules
        .iter_mut()
        .find(|m| m.id == id)
        .ok_or_else(|| wire::no_entity("SoftwareModule", id))
}

fn checked(key: Option<String>, value: Option<String>) -> Result<(String, String), Response> {
    let key = key.filter(|k| !k.trim().is_empty() && k.len() <= MAX_KEY);
    let Some(key) = key else {
        return Err(wire::invalid(format!(
            "key must be 1 to {MAX_KEY} characters"
        )));
    };
    let value = value.unwrap_or_default();
    if value.len() > MAX_VALUE {
        return Err(wire::invalid(format!(
            "value must be at most {MAX_VALUE} characters"
        )));
    }
    Ok((key, value))
}

fn upsert(m: &mut Module, key: String, value: String, visible: bool) {
    match m.metadata.iter_mut().find(|(k, _, _)| *k == key) {
        Some(e) => *e = (key, value, visible),
        None => m.metadata.push((key, value, visible)),
    }
}

/// `POST /softwaremodules/{id}/metadata`: 201, empty body.
pub(super) fn create(server: &mut Server, call: &Call<'_>, raw: &str) -> Response {
    let entries: Vec<Entry> = or_answer!(call.body());
    let mut checked_entries = Vec::with_capacity(entries.len());
    for e in entries {
        let (key, value) = or_answer!(checked(e.key, e.value));
        checked_entries.push((key, value, e.target_visible));
    }
    let m = or_answer!(module_mut(server, raw));
    for (key, value, visible) in checked_entries {
        upsert(m, key, value, visible);
    }
    Response::status(201)
}

/// `GET /softwaremodules/{id}/metadata`: `{content, total, size}`.
pub(super) fn list(server: &mut Server, raw: &str) -> Response {
    let m = or_answer!(module_mut(server, raw));
    let content: Vec<Value> = m
        .metadata
        .iter()
        .map(|(k, v, visible)| entry_json(k, v, *visible))
        .collect();
    let n = content.len();
    super::json(200, &json!({ "content": content, "total": n, "size": n }))
}

/// `GET` (the entry), `PUT` (`{value, targetVisible}` → 204) and `DELETE`
/// (→ 204) of `/softwaremodules/{id}/metadata/{key}`.
pub(super) fn one(
    server: &mut Server,
    call: &Call<'_>,
    raw: &str,
    key: &str,
    method: Method,
) -> Response {
    let body = match method {
        Method::Put => Some(or_answer!(call.body::<Entry>())),
        _ => None,
    };
    let m = or_answer!(module_mut(server, raw));
    if let Some(entry) = body {
        let (key, value) = or_answer!(checked(Some(key.to_string()), entry.value));
        upsert(m, key, value, entry.target_visible);
        return Response::status(204);
    }
    let found = m.metadata.iter().position(|(k, _, _)| k == key);
    let missing = || {
        wire::not_found(format!(
            "SoftwareModule metadata with given identifier {{{}:{key}}} does not exist.",
            m.id
        ))
    };
    match (method, found) {
        (_, None) => missing(),
        (Method::Delete, Some(i)) => {
            m.metadata.remove(i);
            Response::status(204)
        }
        (_, Some(i)) => {
            let (k, v, visible) = &m.metadata[i];
            super::json(200, &entry_json(k, v, *visible))
        }
    }
}
