//! Artifact resources (ddi.md §1.9): the per-module artifact list, file
//! downloads with `Range` / `If-Match` / `If-Range`, and `.MD5SUM` files.
//!
//! The file itself is served by `ranges.rs` (hawkBit's `FileStreamingUtil`:
//! headers, preconditions, single and multipart ranges); this module finds
//! the file, checks access and records the download.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::message::percent_decode;
use crate::message::{Body, Headers, Response};
use crate::protocol::ddi::wire::{Artifact, ArtifactHashes, Link};

use super::call::Call;
use super::distributions::{Module, Repo};
use super::fault::corrupt_hex;
use super::ranges::{serve_file, FileRef, Rules};
use super::state::{Action, Target};
use super::{respond, ActionId, ArtifactSpec, Server};

const MD5SUM_SUFFIX: &str = ".MD5SUM";

/// The `artifacts[]` entry of a chunk: hashes from the catalog (corrupted
/// under `WrongArtifactHash`), size, and absolute `download-http` /
/// `md5sum-http` links.
pub(super) fn artifact_json(
    repo: &Repo,
    call: &Call<'_>,
    module: u64,
    spec: &ArtifactSpec,
) -> Artifact {
    let hashes = repo.catalog.get(spec.content).map(|info| &info.hashes);
    let fix = |h: &str| {
        if call.faults.wrong_hash {
            corrupt_hex(h)
        } else {
            h.to_string()
        }
    };
    let href = call.link(format_args!(
        "/softwaremodules/{}/artifacts/{}",
        module, spec.filename
    ));
    let mut links = BTreeMap::new();
    if !call.faults.sha1_only {
        links.insert(
            "md5sum-http".to_string(),
            Link::new(format!("{href}{MD5SUM_SUFFIX}")),
        );
    }
    let full = !call.faults.sha1_only;
    links.insert("download-http".to_string(), Link::new(href));
    Artifact {
        filename: spec.filename.clone(),
        hashes: ArtifactHashes {
            sha1: hashes.map(|h| fix(&h.sha1)),
            md5: hashes.filter(|_| full).map(|h| fix(&h.md5)),
            sha256: hashes.filter(|_| full).map(|h| fix(&h.sha256)),
        },
        size: spec.size,
        links,
    }
}

/// The action a download of module `sm` counts for: active, not being
/// canceled, containing the module; the root's choice among several.
fn downloading_action<'t>(repo: &Repo, target: &'t Target, sm: u64) -> Option<&'t Action> {
    target
        .actions
        .iter()
        .filter(|a| a.active && !a.status.is_cancel() && repo.contains(a.dist, sm))
        .min_by_key(|a| (std::cmp::Reverse(a.weight), a.id))
}

fn not_found(what: &str) -> Response {
    respond::not_found(format!("{what} not found"))
}

/// `GET {base}/softwaremodules/{smId}/artifacts`: allowed when an active
/// non-canceling action or the installed action contains the module.
pub(super) fn list(server: &mut Server, call: &Call<'_>, sm: &str) -> Response {
    let Ok(sm) = sm.parse::<u64>() else {
        return respond::bad_param(format!("softwareModuleId {sm:?} is not a number"));
    };
    let repo = &server.repo;
    let Some(target) = server.targets.get(&call.cid) else {
        return not_found("Target");
    };
    let installed = target
        .installed
        .and_then(|id| target.action(id))
        .is_some_and(|a| repo.contains(a.dist, sm));
    let Some(module) = repo.module(sm) else {
        return not_found("Software module");
    };
    if !installed && downloading_action(repo, target, sm).is_none() {
        return not_found("Software module");
    }
    let body: Vec<Artifact> = module
        .artifacts
        .iter()
        .map(|a| artifact_json(repo, call, sm, a))
        .collect();
    respond::json_ok(call.req, call.json_type, &body)
}

/// `GET|HEAD {base}/softwaremodules/{smId}/artifacts/{filename}[.MD5SUM]`.
pub(super) fn file(
    server: &mut Server,
    call: &Call<'_>,
    sm: &str,
    raw_file: &str,
    head: bool,
) -> Response {
    let Ok(sm) = sm.parse::<u64>() else {
        return respond::bad_param(format!("softwareModuleId {sm:?} is not a number"));
    };
    let Some(filename) = percent_decode(raw_file) else {
        return not_found("Artifact");
    };
    let cap = server.config.max_status_entries_per_action;
    let repo = &server.repo;
    let Some(target) = server.targets.get_mut(&call.cid) else {
        return not_found("Target");
    };
    let Some(action_id) = downloading_action(repo, target, sm).map(|a| a.id) else {
        return not_found("Software module");
    };
    let Some(module) = repo.module(sm) else {
        return not_found("Software module");
    };
    let Some((spec, md5sum)) = find_file(module, &filename) else {
        return not_found("Artifact");
    };
    let Some(info) = repo.catalog.get(spec.content) else {
        return not_found("Artifact");
    };
    let has_range = call.req.headers.get("range").is_some();
    let full_get = !head && (md5sum || !has_range);
    // Full downloads are recorded (quota-checked); Range requests and HEAD are not.
    if full_get {
        if let Err(refused) = record_download(target, action_id, cap, call) {
            return refused;
        }
    }
    if md5sum {
        return md5sum_file(call, &info.hashes.md5, &spec.filename, head);
    }
    let etag = format!("\"{}\"", info.hashes.sha1);
    let file = FileRef {
        filename: &spec.filename,
        content: spec.content,
        size: spec.size,
        uploaded: repo.catalog.bytes(spec.content),
        last_modified: Some(module.created_at),
    };
    let rules = Rules::Hawkbit {
        sha1: &info.hashes.sha1,
    };
    let h = &call.req.headers;
    serve_file(h, rules, call.faults.ignore_range, file, &etag, head)
}

/// The artifact of `module` that `filename` names, and whether it names
/// its `.MD5SUM` file rather than the artifact itself.
fn find_file<'m>(module: &'m Module, filename: &str) -> Option<(&'m ArtifactSpec, bool)> {
    match module.artifacts.iter().find(|a| a.filename == filename) {
        Some(spec) => Some((spec, false)),
        None => {
            let base = filename.strip_suffix(MD5SUM_SUFFIX).unwrap_or("");
            module
                .artifacts
                .iter()
                .find(|a| a.filename == base)
                .map(|spec| (spec, true))
        }
    }
}

/// Records a full download of action `action_id` in its history; `Err`
/// with the answer when the history is full (`cap` entries).
fn record_download(
    target: &mut Target,
    action_id: ActionId,
    cap: u32,
    call: &Call<'_>,
) -> Result<(), Response> {
    let Some(action) = target.action_mut(action_id) else {
        return Err(not_found("Action"));
    };
    if action.history_full(cap) {
        return Err(respond::quota(format!(
            "Action {action_id}: at most {cap} status entries allowed"
        )));
    }
    let message = format!("Update Server: Target downloads {}", call.req.path());
    action.push(
        super::ActionStatus::Download,
        call.now,
        vec![Cow::Owned(message)],
    );
    Ok(())
}

/// The `.MD5SUM` file of artifact `filename` whose MD5 is `md5`.
fn md5sum_file(call: &Call<'_>, md5: &str, filename: &str, head: bool) -> Response {
    let md5 = if call.faults.wrong_hash {
        corrupt_hex(md5)
    } else {
        md5.to_string()
    };
    let headers = Headers::new().with("content-type", "text/plain").with(
        "content-disposition",
        format!("attachment;filename={}{MD5SUM_SUFFIX}", filename),
    );
    let body = if head {
        Body::Empty
    } else {
        Body::Bytes(format!("{md5}  {}", filename).into_bytes().into())
    };
    Response {
        status: 200,
        headers,
        body,
    }
}

#[cfg(test)]
#[path = "artifacts_tests.rs"]
mod flow_tests;
