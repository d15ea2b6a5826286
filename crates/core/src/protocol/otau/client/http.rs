//! Request building and answer reading shared by the OTAU client's steps:
//! the write-back form request, the `config_otau` value of a 200, retry
//! classification and backoff, payload URLs.

use rand::RngCore;

use super::OtauSettings;
use crate::message::{percent_encode, Method, Request, Response};
use crate::protocol::otau::wire::{form_decode, Status};
use crate::time::Span;

/// The `version` a status report carries: the manifest's, unless the
/// `wrong_installed_version` misbehaviour is on.
pub(super) fn report_version(version: &str, status: Status, settings: &OtauSettings) -> String {
    if status == Status::InstalledVersion && settings.wrong_installed_version {
        format!("{version}-wrong")
    } else {
        version.to_string()
    }
}

pub(super) fn write_request(base: &str, body: &str) -> Request {
    let mut r = Request::new(Method::Post, format!("{base}/onep:v1/stack/alias"));
    r.headers.insert(
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    );
    r.body = crate::message::Body::Bytes(body.as_bytes().to_vec().into());
    r
}

/// The `config_otau` value of a 200 form body, if it has one.
pub(super) fn config_value(resp: &Response) -> Option<String> {
    if resp.status != 200 {
        return None;
    }
    let text = std::str::from_utf8(resp.body.as_bytes()).ok()?;
    form_decode(text)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "config_otau")
        .map(|(_, v)| v)
}

/// Capped exponential backoff with ±25 % jitter for the `failures`-th failure.
pub(super) fn backoff(settings: &OtauSettings, failures: u32, rng: &mut dyn RngCore) -> Span {
    crate::protocol::backoff(settings.backoff_base, settings.backoff_cap, failures, rng)
}

/// The content URL of payload entry `file` (otau.md §2): an entry with a
/// scheme is fetched as is, anything else is connector content.
pub(super) fn content_url(base: &str, file: &str, info: bool) -> String {
    if file.contains("://") {
        return file.to_string();
    }
    let id = percent_encode(file);
    if info {
        format!("{base}/provision/download?id={id}&info=true")
    } else {
        format!("{base}/provision/download?id={id}")
    }
}
