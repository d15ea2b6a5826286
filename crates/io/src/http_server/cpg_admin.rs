//! The update layer's side of constrained devices under `fleetsim serve`
//! (docs/guide/cpg.md), behind the Management API's Basic credentials like
//! the OTAU admin routes: what a scenario campaign does at its start, for
//! one device at a time, so `fleetsim conform --profile cpg` can prepare a
//! pending install without a scenario.
//!
//! `POST /fleetsim/cpg/devices/{device}/install` with
//! `{"version", "name", "size", "validity_s"?, "strategy"?}` registers the
//! device's twin if it is new, makes an install command of a synthetic
//! artifact of `size` bytes (its CDN URLs valid `validity_s` seconds,
//! default 30 days; `strategy` as a campaign's, default `none`) and fires
//! it at the twin: `201 {"device", "command"}`. The device sees it on its
//! next poll.

use serde::Deserialize;

use fleetsim_core::message::{percent_decode, ContentId, Method, Request, Response};
use fleetsim_core::server::constrained::{
    command_id, ConstrainedGateway, InstallCommand, Strategy,
};
use fleetsim_core::server::MgmtCredentials;
use fleetsim_core::time::{Span, Time};

/// Prefix of the route.
pub(super) const PREFIX: &str = "/fleetsim/cpg/";
/// Synthetic content ids of commands made here: apart from a scenario's
/// (small counters) and from uploads (the top bit).
const CONTENT_BASE: u64 = 1 << 62;
/// Largest artifact the route makes.
const MAX_SIZE: u64 = 64 << 20;
/// Longest URL validity the route accepts (ten years).
const MAX_VALIDITY_S: u64 = 10 * 365 * 86_400;
/// A campaign's default URL validity (cpg.md, "Download URLs").
const DEFAULT_VALIDITY_S: u64 = 30 * 86_400;

/// The body of an install request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Install {
    version: String,
    name: String,
    size: u64,
    #[serde(default)]
    validity_s: Option<u64>,
    #[serde(default)]
    strategy: Strategy,
}

/// Answers a request below [`PREFIX`] (`rest` is the path after it).
pub(super) fn answer(
    gw: &mut ConstrainedGateway,
    credentials: &MgmtCredentials,
    now: Time,
    req: &Request,
    rest: &str,
) -> Response {
    if !credentials.accept(req) {
        let mut r = error(401, "Basic credentials of the Management API required");
        r.headers
            .insert("www-authenticate", "Basic realm=\"fleetsim\"");
        return r;
    }
    let parts: Vec<&str> = rest.split('/').collect();
    match (req.method, parts.as_slice()) {
        (Method::Post, ["devices", device, "install"]) => match percent_decode(device) {
            Some(d) => install(gw, now, req, &d),
            None => error(400, "the device id is not percent-encoded UTF-8"),
        },
        (_, ["devices", _, "install"]) => {
            let mut r = Response::status(405);
            r.headers.insert("allow", "POST");
            r
        }
        _ => error(404, "not found"),
    }
}

/// Makes and fires one install command at `device`.
fn install(gw: &mut ConstrainedGateway, now: Time, req: &Request, device: &str) -> Response {
    let body: Install = match serde_json::from_slice(req.body.as_bytes()) {
        Ok(b) => b,
        Err(e) => return error(400, &format!("body: {e}")),
    };
    for (what, v) in [
        ("device", device),
        ("version", &body.version),
        ("name", &body.name),
    ] {
        if let Err(e) = fleetsim_core::server::ids::check_name(v) {
            return error(400, &format!("{what}: {e}"));
        }
    }
    if body.name.contains('/') {
        return error(400, "name: no `/`");
    }
    if body.size == 0 || body.size > MAX_SIZE {
        return error(400, &format!("size: 1..={MAX_SIZE} bytes"));
    }
    let validity_s = body.validity_s.unwrap_or(DEFAULT_VALIDITY_S);
    if validity_s == 0 || validity_s > MAX_VALIDITY_S {
        return error(400, &format!("validity_s: 1..={MAX_VALIDITY_S}"));
    }
    let twin = gw.register(device);
    let content = ContentId(CONTENT_BASE + gw.command_count() as u64);
    let command = gw.add_command(InstallCommand {
        version: body.version,
        name: body.name,
        size: body.size,
        content,
        sha256: String::new(),
        strategy: body.strategy,
        validity: Span::secs(validity_s),
    });
    gw.install(now, twin, command);
    let doc = serde_json::json!({ "device": device, "command": command_id(command) });
    Response::json(201, "application/json", doc.to_string().into_bytes())
}

/// A refusal with cpg.md's error body.
fn error(status: u16, message: &str) -> Response {
    let doc = serde_json::json!({ "error": "bad_request", "message": message });
    Response::json(status, "application/json", doc.to_string().into_bytes())
}
