//! The hawkBit Management API v1 subset (`/rest/v1/...`) of the embedded
//! server, so tools and scripts written for hawkBit can drive `fleetsim serve`.
//!
//! Like the DDI side it is sans-IO: [`handle`] takes `now` and a
//! [`Request`] and returns a [`Response`]; it mutates the same [`Server`]
//! (its `ServerConfig`, targets, repository and actions) the devices talk to.
//! Timestamps in JSON are epoch milliseconds of scenario time (scenario time
//! 0 = 1970-01-01T00:00Z). Nothing here iterates a hash map into an output.
//!
//! Layout:
//! - `mod.rs` (this file): routing, HTTP Basic auth, shared helpers (paging, links, bodies).
//! - `wire.rs`: request bodies (serde) and hawkBit's error bodies.
//! - `config.rs`: tenant configuration (`/system/configs`).
//! - `confirm.rs`: a target's auto-confirmation (`/targets/{id}/autoConfirm`).
//! - `targets.rs`: targets, attributes and their actions (incl. cancel).
//! - `target_fields.rs`: what is known of a target beyond the core, and the
//!   fields `q=` filters name (shared by `targets.rs` and `rollouts/`).
//! - `modules.rs`: software modules and artifact upload.
//! - `repo.rs`: distribution sets and assignments.
//! - `rollouts/`: rollouts and their deploy groups, advanced by `now`.
//! - `multipart.rs`: a `multipart/form-data` parser over a byte slice.
//! - `fiql.rs`: the FIQL/RSQL subset of `q=` and `targetFilterQuery`.
//! - `cron.rs`: hawkBit maintenance-window schedules mapped onto one window.
//!
//! Source of truth: eclipse-hawkbit/hawkbit,
//! `hawkbit-mgmt/hawkbit-mgmt-api/.../mgmt/rest/api/Mgmt*RestApi.java`, the JSON
//! models in `.../mgmt/json/model/` and the resources in
//! `hawkbit-mgmt/hawkbit-mgmt-resource/.../mgmt/rest/resource/Mgmt*Resource.java`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::message::{Method, Request, Response};
use crate::time::Time;

use super::Server;

mod config;
mod confirm;
mod cron;
mod fiql;
mod metadata;
mod modules;
mod multipart;
mod repo;
mod rollouts;
mod target_fields;
mod targets;
mod wire;

#[cfg(test)]
mod tests;

pub(super) use config::{polling_override, window_poll_count};
pub(super) use rollouts::advance;

/// Path prefix of the Management API.
const PREFIX: &str = "/rest/v1/";
/// Default and largest page (`PagingUtility`: limit defaults to 50, capped at 500).
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

/// HTTP Basic credentials of the Management API. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct MgmtCredentials {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl Default for MgmtCredentials {
    /// hawkBit's monolith default, `admin` / `admin`.
    fn default() -> Self {
        MgmtCredentials {
            user: "admin".to_string(),
            password: "admin".to_string(),
        }
    }
}

impl MgmtCredentials {
    /// Whether `req` carries `Authorization: Basic` with these credentials
    /// (for other admin routes protected like the Management API).
    pub fn accept(&self, req: &Request) -> bool {
        authorized(self, req)
    }
}

impl fmt::Debug for MgmtCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MgmtCredentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// What the Management API keeps besides the DDI core's state. Small and
/// sparse: per-target data only for targets created or named through it.
#[derive(Debug, Default)]
pub(super) struct Mgmt {
    pub(super) credentials: MgmtCredentials,
    pub(super) config: config::Tenant,
    /// Names and descriptions of targets, by target index (only when set).
    pub(super) target_meta: BTreeMap<u64, target_fields::Meta>,
    /// Security tokens generated so far (keys the next one).
    pub(super) tokens_issued: u64,
    /// Maintenance windows as the client gave them, by action id.
    pub(super) windows: BTreeMap<u64, wire::MaintenanceWindow>,
    pub(super) rollouts: rollouts::Rollouts,
    /// Controller ids created since [`Server::take_mgmt_created`].
    pub(super) created: Vec<String>,
}

/// True for a path the Management API answers.
pub(super) fn is_mgmt_path(path: &str) -> bool {
    path.starts_with(PREFIX) || path == "/rest/v1"
}

/// One Management API request being answered.
pub(super) struct Call<'a> {
    pub(super) now: Time,
    pub(super) req: &'a Request,
}

impl Call<'_> {
    /// Absolute link `{origin}/rest/v1{tail}`.
    pub(super) fn link(&self, tail: fmt::Arguments<'_>) -> serde_json::Value {
        serde_json::json!({ "href": format!("{}/rest/v1{tail}", self.req.origin()) })
    }

    /// Query parameter `name`, percent-decoded (`+` is a space).
    pub(super) fn query(&self, name: &str) -> Option<String> {
        let raw = self.req.query_param(name)?;
        crate::message::percent_decode(&raw.replace('+', " "))
    }

    /// The JSON body as `T`, or hawkBit's 400 `notReadable`.
    pub(super) fn body<T: DeserializeOwned>(&self) -> Result<T, Response> {
        if !is_json(self.req.headers.get("content-type")) {
            return Err(Response::status(415));
        }
        serde_json::from_slice(self.req.body.as_bytes()).map_err(|e| {
            wire::not_readable(format!("The given request body is not well formed: {e}"))
        })
    }

    /// `offset` / `limit` query parameters (400 when not numbers).
    pub(super) fn page(&self) -> Result<(usize, usize), Response> {
        let number = |name: &str, default: usize| match self.query(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<usize>()
                .map_err(|_| wire::bad_param(format!("{name} must be a non-negative number"))),
        };
        // As `PagingUtility`: a limit below 1 means the default, above the maximum the maximum.
        let limit = match number("limit", DEFAULT_LIMIT)? {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        };
        Ok((number("offset", 0)?, limit))
    }

    /// True when `sort` asks for descending ids (`id:DESC`); `default` otherwise.
    pub(super) fn descending(&self, default: bool) -> bool {
        match self.query("sort") {
            Some(s) => s.to_ascii_lowercase().ends_with(":desc"),
            None => default,
        }
    }
}

/// True for a JSON request body type.
fn is_json(content_type: Option<&str>) -> bool {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || media == "application/hal+json"
}

/// A JSON answer with `status`.
pub(super) fn json<T: Serialize>(status: u16, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => Response::json(status, "application/hal+json", bytes),
        Err(_) => Response::status(500),
    }
}

/// hawkBit's `PagedList`: `{"content":[…],"total":N,"size":n}` for one page.
pub(super) fn paged(items: Vec<serde_json::Value>, offset: usize, limit: usize) -> Response {
    let total = items.len();
    let content: Vec<serde_json::Value> = items.into_iter().skip(offset).take(limit).collect();
    let size = content.len();
    json(
        200,
        &serde_json::json!({ "content": content, "total": total, "size": size }),
    )
}

/// The routes of the subset, by path shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route<'a> {
    Configs,
    Config(&'a str),
    Targets,
    Target(&'a str),
    Attributes(&'a str),
    Actions(&'a str),
    Action(&'a str, &'a str),
    ActionStatus(&'a str, &'a str),
    AssignedDs(&'a str),
    InstalledDs(&'a str),
    Modules,
    Module(&'a str),
    Artifacts(&'a str),
    Artifact(&'a str, &'a str),
    ArtifactDownload(&'a str, &'a str),
    Sets,
    Set(&'a str),
    AssignedTargets(&'a str),
    Rollouts,
    ModuleMetadata(&'a str),
    ModuleMetadataKey(&'a str, &'a str),
    Rollout(&'a str),
    RolloutVerb(&'a str, &'a str),
    DeployGroups(&'a str),
    AutoConfirm(&'a str),
    AutoConfirmToggle(&'a str, bool),
}

impl<'a> Route<'a> {
    fn parse(segments: &[&'a str]) -> Option<Route<'a>> {
        Some(match segments {
            ["system", "configs"] => Route::Configs,
            ["system", "configs", key] => Route::Config(key),
            ["targets"] => Route::Targets,
            ["targets", t] => Route::Target(t),
            ["targets", t, "attributes"] => Route::Attributes(t),
            ["targets", t, "actions"] => Route::Actions(t),
            ["targets", t, "actions", a] => Route::Action(t, a),
            ["targets", t, "actions", a, "status"] => Route::ActionStatus(t, a),
            ["targets", t, "assignedDS"] => Route::AssignedDs(t),
            ["targets", t, "installedDS"] => Route::InstalledDs(t),
            ["softwaremodules"] => Route::Modules,
            ["softwaremodules", m] => Route::Module(m),
            ["softwaremodules", m, "artifacts"] => Route::Artifacts(m),
            ["softwaremodules", m, "metadata"] => Route::ModuleMetadata(m),
            ["softwaremodules", m, "metadata", k] => Route::ModuleMetadataKey(m, k),
            ["softwaremodules", m, "artifacts", a] => Route::Artifact(m, a),
            ["softwaremodules", m, "artifacts", a, "download"] => Route::ArtifactDownload(m, a),
            ["distributionsets"] => Route::Sets,
            ["distributionsets", d] => Route::Set(d),
            ["distributionsets", d, "assignedTargets"] => Route::AssignedTargets(d),
            ["rollouts"] => Route::Rollouts,
            ["rollouts", r] => Route::Rollout(r),
            ["rollouts", r, verb @ ("start" | "pause" | "resume")] => Route::RolloutVerb(r, verb),
            ["rollouts", r, "deploygroups"] => Route::DeployGroups(r),
            ["targets", t, "autoConfirm"] => Route::AutoConfirm(t),
            ["targets", t, "autoConfirm", "activate"] => Route::AutoConfirmToggle(t, true),
            ["targets", t, "autoConfirm", "deactivate"] => Route::AutoConfirmToggle(t, false),
            _ => return None,
        })
    }

    /// Methods the route answers.
    fn methods(self) -> &'static [Method] {
        use Method::*;
        match self {
            Route::Configs => &[Get, Put],
            Route::Config(_) => &[Get, Put, Delete],
            Route::Targets | Route::Modules | Route::Sets | Route::Rollouts => &[Get, Post],
            Route::Target(_) => &[Get, Put, Delete],
            Route::Action(..) => &[Get, Delete],
            Route::Artifacts(_) | Route::AssignedDs(_) | Route::ModuleMetadata(_) => &[Get, Post],
            Route::ModuleMetadataKey(..) => &[Get, Put, Delete],
            Route::AssignedTargets(_) | Route::RolloutVerb(..) => &[Post],
            Route::AutoConfirmToggle(..) => &[Post],
            _ => &[Get],
        }
    }
}

/// Answers one Management API request.
pub(super) fn handle(server: &mut Server, now: Time, req: &Request) -> Response {
    if !authorized(&server.mgmt.credentials, req) {
        let mut r = Response::status(401);
        r.headers
            .insert("www-authenticate", "Basic realm=\"hawkBit\"");
        return r;
    }
    let path = req.path();
    let rest = path.strip_prefix(PREFIX).unwrap_or("");
    let raw: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let Some(route) = Route::parse(&raw) else {
        return wire::not_found("No such resource");
    };
    let head = req.method == Method::Head && route.methods().contains(&Method::Get);
    if !route.methods().contains(&req.method) && !head {
        let allow: Vec<&str> = route.methods().iter().map(|m| m.as_str()).collect();
        let mut r = wire::error(
            405,
            "org.springframework.web.HttpRequestMethodNotSupportedException",
            "hawkbit.server.error.client.methodNotAllowed",
            format!("Request method '{}' is not supported", req.method),
        );
        r.headers.insert("allow", allow.join(", "));
        return r;
    }
    let call = Call { now, req };
    let method = if head { Method::Get } else { req.method };
    let mut resp = dispatch(server, &call, route, method);
    if head {
        resp.body = crate::message::Body::Empty;
    }
    resp
}

fn dispatch(server: &mut Server, call: &Call<'_>, route: Route<'_>, method: Method) -> Response {
    let decode = |s: &str| crate::message::percent_decode(s).unwrap_or_else(|| s.to_string());
    match (route, method) {
        (Route::Configs, Method::Get) => config::list(server, call),
        (Route::Configs, _) => config::put_many(server, call),
        (Route::Config(k), Method::Get) => config::get(server, call, &decode(k)),
        (Route::Config(k), Method::Put) => config::put_one(server, call, &decode(k)),
        (Route::Config(k), _) => config::delete(server, call, &decode(k)),
        (Route::Targets, Method::Get) => targets::list(server, call),
        (Route::Targets, _) => targets::create(server, call),
        (Route::Target(t), Method::Get) => targets::get(server, call, &decode(t)),
        (Route::Target(t), Method::Put) => targets::update(server, call, &decode(t)),
        (Route::Target(t), _) => targets::delete(server, call, &decode(t)),
        (Route::Attributes(t), _) => targets::attributes(server, &decode(t)),
        (Route::Actions(t), _) => targets::actions(server, call, &decode(t)),
        (Route::Action(t, a), Method::Get) => targets::action(server, call, &decode(t), a),
        (Route::Action(t, a), _) => targets::cancel(server, call, &decode(t), a),
        (Route::ActionStatus(t, a), _) => targets::action_status(server, call, &decode(t), a),
        (Route::AssignedDs(t), Method::Get) => repo::target_set(server, call, &decode(t), false),
        (Route::AssignedDs(t), _) => repo::assign_to_target(server, call, &decode(t)),
        (Route::InstalledDs(t), _) => repo::target_set(server, call, &decode(t), true),
        (Route::Artifact(m, a), _) => modules::get_artifact(server, call, m, a, false),
        (Route::ArtifactDownload(m, a), _) => modules::get_artifact(server, call, m, a, true),
        (Route::Modules, Method::Get) => modules::list_modules(server, call),
        (Route::Modules, _) => modules::create_modules(server, call),
        (Route::Module(m), _) => modules::get_module(server, call, m),
        (Route::Artifacts(m), Method::Get) => modules::list_artifacts(server, call, m),
        (Route::Artifacts(m), _) => modules::upload(server, call, m),
        (Route::ModuleMetadata(m), Method::Get) => metadata::list(server, m),
        (Route::ModuleMetadata(m), _) => metadata::create(server, call, m),
        (Route::ModuleMetadataKey(m, k), method) => {
            metadata::one(server, call, m, &decode(k), method)
        }
        (Route::Sets, Method::Get) => repo::list_sets(server, call),
        (Route::Sets, _) => repo::create_sets(server, call),
        (Route::Set(d), _) => repo::get_set(server, call, d),
        (Route::AssignedTargets(d), _) => repo::assign_targets(server, call, d),
        (Route::Rollouts, Method::Get) => rollouts::list(server, call),
        (Route::Rollouts, _) => rollouts::create(server, call),
        (Route::Rollout(r), _) => rollouts::get(server, call, r),
        (Route::RolloutVerb(r, verb), _) => rollouts::verb(server, call, r, verb),
        (Route::DeployGroups(r), _) => rollouts::groups(server, call, r),
        (Route::AutoConfirm(t), _) => confirm::get(server, call, &decode(t)),
        (Route::AutoConfirmToggle(t, true), _) => confirm::activate(server, call, &decode(t)),
        (Route::AutoConfirmToggle(t, false), _) => confirm::deactivate(server, &decode(t)),
    }
}

/// `Authorization: Basic base64(user:password)` with the configured credentials.
fn authorized(creds: &MgmtCredentials, req: &Request) -> bool {
    let Some((scheme, token)) = req
        .headers
        .get("authorization")
        .and_then(|h| h.trim().split_once(' '))
    else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Some(decoded) = base64_decode(token.trim()) else {
        return false;
    };
    let expected = format!("{}:{}", creds.user, creds.password);
    decoded == expected.as_bytes()
}

/// Standard base64 with optional padding; `None` for any other character.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let data = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    for chunk in data.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// Parses a numeric path id, or answers hawkBit's 400 for a type mismatch.
pub(super) fn parse_id(raw: &str, what: &str) -> Result<u64, Response> {
    raw.parse::<u64>()
        .map_err(|_| wire::bad_param(format!("{what} {raw:?} is not a number")))
}
