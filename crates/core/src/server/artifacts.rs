//! Artifact resources (ddi.md §1.9): the per-module artifact list, file
//! downloads with `Range` / `If-Match` / `If-Range`, and `.MD5SUM` files.
//!
//! Synthetic bodies are never materialised: a download answers
//! [`Body::Synthetic`] naming the content, offset and length, and the real
//! driver produces the bytes. Contents uploaded through the Management API
//! hold real bytes and are answered as [`Body::Bytes`] (the requested range
//! only), with the same ETag / Range / `If-Match` rules. A request for several ranges is answered with
//! ONE `206` part covering them all (from the lowest start to the highest
//! end) — RFC 7233 §4.1 lets a server coalesce ranges, and a single
//! synthetic body cannot hold a multipart document.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::message::percent_decode;
use crate::message::{Body, ContentId, Headers, Response};
use crate::protocol::ddi::wire::{Artifact, ArtifactHashes, Link};

use super::call::Call;
use super::distributions::{Module, Repo};
use super::fault::corrupt_hex;
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
    };
    serve_file(
        &call.req.headers,
        call.faults.ignore_range,
        file,
        &etag,
        head,
    )
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

/// A file to serve: synthetic content, or the bytes of an uploaded one.
pub(super) struct FileRef<'a> {
    /// Name for `Content-Disposition`.
    pub filename: &'a str,
    /// Its content (answered as [`Body::Synthetic`] unless `uploaded`).
    pub content: ContentId,
    /// Length in bytes.
    pub size: u64,
    /// The bytes, when the content was uploaded.
    pub uploaded: Option<&'a bytes::Bytes>,
}

/// Conditional (`If-Match`, `If-None-Match`, `If-Range`) and Range handling
/// of one file download with request headers `h`; `ignore_range` is the
/// fault mode that answers every Range request with the whole file.
pub(super) fn serve_file(
    h: &Headers,
    ignore_range: bool,
    file: FileRef<'_>,
    etag: &str,
    head: bool,
) -> Response {
    let len = file.size;
    if h.get("if-match")
        .is_some_and(|m| !respond::etag_listed(m, etag))
    {
        return Response::status(412);
    }
    let mut headers = Headers::new()
        .with("content-type", "application/octet-stream")
        .with(
            "content-disposition",
            format!("attachment;filename={}", file.filename),
        )
        .with("etag", etag.to_string())
        .with("accept-ranges", "bytes")
        .with("x-content-type-options", "nosniff");
    if h.get("if-none-match")
        .is_some_and(|m| respond::etag_listed(m, etag))
    {
        return Response {
            status: 304,
            headers,
            body: Body::Empty,
        };
    }
    let if_range_ok = h.get("if-range").is_none_or(|r| r.trim() == etag);
    let range = h
        .get("range")
        .filter(|_| if_range_ok && !ignore_range)
        .map(|r| parse_range(r, len));
    let (status, offset, n) = match range {
        None => (200, 0, len),
        Some(None) => {
            headers.insert("content-range", format!("bytes */{len}"));
            return Response {
                status: 416,
                headers,
                body: Body::Empty,
            };
        }
        Some(Some((a, b))) => {
            headers.insert("content-range", format!("bytes {a}-{b}/{len}"));
            (206, a, b - a + 1)
        }
    };
    headers.insert("content-length", n.to_string());
    let body = match file.uploaded {
        _ if head => Body::Empty,
        Some(bytes) => {
            let piece = usize::try_from(offset)
                .ok()
                .zip(usize::try_from(offset + n).ok())
                .filter(|(a, b)| a <= b && *b <= bytes.len())
                .map(|(a, b)| bytes.slice(a..b));
            match piece {
                Some(piece) => Body::Bytes(piece),
                None => return Response::status(500),
            }
        }
        None => Body::Synthetic {
            content: file.content,
            offset,
            len: n,
        },
    };
    Response {
        status,
        headers,
        body,
    }
}

/// Parses `Range: bytes=a-b|a-|-n[,...]` against a file of `len` bytes:
/// `Some((first, last))` inclusive, coalescing several ranges into one;
/// `None` when malformed, unsatisfiable or overlapping (→ 416), as
/// hawkBit's `FileStreamingUtil` does.
fn parse_range(header: &str, len: u64) -> Option<(u64, u64)> {
    let specs = header.trim().strip_prefix("bytes=")?;
    let mut ranges = Vec::new();
    for spec in specs.split(',') {
        let (a, b) = spec.trim().split_once('-')?;
        let digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
        if !digits(a) || !digits(b) || (a.is_empty() && b.is_empty()) {
            return None;
        }
        let (start, end) = if a.is_empty() {
            let n: u64 = b.parse().ok()?;
            (len.saturating_sub(n), len.checked_sub(1)?)
        } else {
            let start: u64 = a.parse().ok()?;
            let end = if b.is_empty() {
                u64::MAX
            } else {
                b.parse().ok()?
            };
            (start, end.min(len.checked_sub(1)?))
        };
        if start > end || (a.is_empty() && b == "0") {
            return None;
        }
        ranges.push((start, end));
    }
    ranges.sort_unstable();
    if ranges.windows(2).any(|w| w[1].0 <= w[0].1) {
        return None;
    }
    let first = ranges.first()?.0;
    let last = ranges.iter().map(|r| r.1).max()?;
    Some((first, last))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-1000", 100), Some((0, 99)));
        assert_eq!(parse_range("bytes=50-1000", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=0-9, 20-29", 100), Some((0, 29)));
        assert_eq!(parse_range("bytes=20-29,0-9", 100), Some((0, 29)));
    }

    #[test]
    fn bad_ranges() {
        for bad in [
            "bytes=100-",
            "bytes=10-5",
            "bytes=-0",
            "bytes=-",
            "bytes=a-b",
            "items=0-1",
            "bytes=0-9,5-20",
            "bytes=",
            "bytes=1",
            "0-9",
            "bytes=-5-",
        ] {
            assert_eq!(parse_range(bad, 100), None, "{bad}");
        }
        assert_eq!(parse_range("bytes=0-", 0), None);
    }
}

#[cfg(test)]
#[path = "artifacts_tests.rs"]
mod flow_tests;
