//! The HTTP API v2 subset of the twin (ditto.md §2, §6 "Twin service
//! must" 4–6), over [`Request`]/[`Response`]:
//!
//! - `GET /api/2/things/{thingId}[/<path>]` for `/`, `/attributes[/…]`,
//!   `/definition`, `/policyId`, `/features`, `/features/{featureId}`,
//!   `…/definition`, `…/properties[/…]`, `…/desiredProperties[/…]`: 200
//!   with the JSON and an `ETag` (`"rev:<n>"` on the thing, `"hash:<hex>"`
//!   on a part); `If-None-Match` naming it (or `*`) → 304; `If-Match`
//!   not naming it → 412 `things:precondition.failed`.
//! - `PUT` of the same paths: 201 with the entity (a thing also gets
//!   `Location`) or 204; a body that is not JSON by its `Content-Type` →
//!   415 (a missing `Content-Type` is read as JSON); a body `thingId` ≠ the
//!   path → 400 `things:id.notsettable`.
//! - `DELETE` of the same paths: 204.
//! - Writes honour `If-Match` (`*` = must exist) and `If-None-Match`
//!   (`*` = must not exist) with 412, and answer the new `ETag`.
//! - `POST /api/2/things/{thingId}/features/{featureId}/inbox/messages/{subject}`:
//!   a live message for the thing's gateway, answered by its reply (see
//!   `inbox.rs`); `timeout` (query parameter or header, seconds by default)
//!   10 s by default, at most 60 s (else 400 `timeout.invalid`); `timeout=0`
//!   → 202 at once.
//!
//! Path segments are percent-decoded one by one (ditto.md §3 "Encoding"),
//! so `%2F` in a feature ID is a `/` in it — and refused as a key.

use serde_json::Value;

use super::{error_response, json_response, rules, HttpAnswer, PendingId, TwinOutput, TwinService};
use crate::ditto::id::check_thing_id;
use crate::ditto::protocol::{
    parse_timeout, CommandAction, DittoError, DittoHeaders, Envelope, Pointer,
};
use crate::message::{percent_decode, Method, Request, Response};
use crate::time::{Span, Time};

/// Prefix of every twin route.
const PREFIX: &str = "/api/2/things/";
/// Default wait for a message reply (ditto.md §2 "Messages").
pub const DEFAULT_MESSAGE_TIMEOUT: Span = Span::secs(10);
/// Longest wait for a message reply a request may ask for.
pub const MAX_MESSAGE_TIMEOUT: Span = Span::secs(60);

/// A parsed twin route.
struct Route {
    thing_id: String,
    /// The decoded segments after the thing ID.
    rest: Vec<String>,
}

fn bad(code: &str, message: String) -> Response {
    error_response(&DittoError::bad_request(code, message))
}

/// Splits and decodes `/api/2/things/{thingId}/…`; `None` if not a twin route.
fn route(req: &Request) -> Option<Result<Route, Response>> {
    let tail = req.path().strip_prefix(PREFIX)?;
    let mut segments = Vec::new();
    for raw in tail.split('/') {
        match percent_decode(raw) {
            Some(s) => segments.push(s),
            None => {
                let msg = format!("The path segment '{raw}' is not percent-encoded UTF-8");
                return Some(Err(bad("things:uri.invalid", msg)));
            }
        }
    }
    let thing_id = segments.remove(0);
    if let Err(e) = check_thing_id(&thing_id) {
        let error = DittoError::id_invalid(&thing_id, &e.to_string());
        return Some(Err(error_response(&error)));
    }
    Some(Ok(Route {
        thing_id,
        rest: segments,
    }))
}

/// `"hash:<hex>"` of a part of a thing.
fn part_etag(value: &Value) -> String {
    let hash = xxhash_rust::xxh3::xxh3_64(value.to_string().as_bytes());
    format!("\"hash:{hash:016x}\"")
}

/// Whether an `If-Match` / `If-None-Match` value names `etag` (or is `*`).
fn lists(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == etag || tag.strip_prefix("W/") == Some(etag))
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn none_match(req: &Request, etag: &str) -> bool {
    req.headers
        .get("if-none-match")
        .is_some_and(|v| lists(v, etag))
}

/// `If-Match` (the resource must exist and, unless `*`, carry a listed
/// tag) and, for writes, `If-None-Match` (it must not): else 412
/// `things:precondition.failed` (ditto.md §2 "ETag").
fn precondition(req: &Request, current: Option<&str>, write: bool) -> Result<(), Response> {
    let header = |name| req.headers.get(name);
    let failed = |name: &str| {
        let error = DittoError::new(
            412,
            "things:precondition.failed",
            format!("The comparison of precondition header '{name}' for the requested resource evaluated to false."),
            "The comparison of the provided precondition header with the current ETag value of the requested resource evaluated to false. Check the value of your conditional header value.",
        );
        Err(error_response(&error))
    };
    if let Some(v) = header("if-match") {
        if !current.is_some_and(|c| lists(v, c)) {
            return failed("if-match");
        }
    }
    if let Some(v) = header("if-none-match") {
        if write && current.is_some_and(|c| lists(v, c)) {
            return failed("if-none-match");
        }
    }
    Ok(())
}

/// A JSON body by its `Content-Type` (absent = JSON): 415 otherwise, 400
/// when it does not parse.
fn json_body(req: &Request) -> Result<Value, Response> {
    if let Some(ct) = req.headers.get("content-type") {
        if !ct.to_ascii_lowercase().contains("json") {
            let error = DittoError::new(
                415,
                "mediatype.unsupported",
                format!("The Media-Type <{ct}> is not supported for this resource."),
                "Use application/json.",
            );
            return Err(error_response(&error));
        }
    }
    serde_json::from_slice(req.body.as_bytes())
        .map_err(|e| bad("json.invalid", format!("The body is not valid JSON: {e}")))
}

impl TwinService {
    /// Answers one HTTP request of the twin API; `None` if it is not one
    /// (the path is outside `/api/2/things/`).
    pub fn handle_http(&mut self, now: Time, req: &Request) -> Option<HttpAnswer> {
        let mut route = match route(req)? {
            Ok(r) => r,
            Err(response) => return Some(HttpAnswer::Ready(response)),
        };
        if self.config.faults.rewrites_ids() {
            route.thing_id = self.config.faults.stored_id(&route.thing_id);
        }
        let inbox = matches!(
            route.rest.iter().map(String::as_str).collect::<Vec<_>>()[..],
            ["features", _, "inbox", "messages", ..]
        );
        if inbox {
            return Some(match req.method {
                Method::Post => self.post_message(now, req, &route),
                _ => HttpAnswer::Ready(Response::status(405)),
            });
        }
        if route.rest.iter().any(String::is_empty) {
            return Some(HttpAnswer::Ready(Response::status(404)));
        }
        let path = Pointer::from_segments(route.rest.iter().cloned());
        let answer = match req.method {
            Method::Get => self.get(req, &route.thing_id, &path),
            Method::Head => {
                let mut response = self.get(req, &route.thing_id, &path);
                response.body = crate::message::Body::Empty;
                response
            }
            Method::Put => self.put(now, req, &route.thing_id, path),
            Method::Delete => self.delete(now, req, &route.thing_id, path),
            _ => Response::status(405),
        };
        Some(HttpAnswer::Ready(answer))
    }

    /// The entity tag of what `path` of thing `id` holds now, if anything:
    /// `"rev:<n>"` for the thing, `"hash:<hex>"` for a part.
    fn etag_of(&self, id: &str, path: &Pointer) -> Option<String> {
        let value = self.store.read(id, path).ok()?;
        Some(match (path.is_root(), self.store.get(id)) {
            (true, Some(thing)) => format!("\"rev:{}\"", thing.revision),
            _ => part_etag(&value),
        })
    }

    fn get(&self, req: &Request, id: &str, path: &Pointer) -> Response {
        let value = match self.store.read(id, path) {
            Ok(value) => value,
            Err(error) => return error_response(&error),
        };
        let etag = self.etag_of(id, path).unwrap_or_else(|| part_etag(&value));
        if let Err(response) = precondition(req, Some(&etag), false) {
            return response;
        }
        let mut response = if none_match(req, &etag) {
            Response::status(304)
        } else {
            json_response(200, &value)
        };
        response.headers.insert("etag", etag);
        response
    }

    fn put(&mut self, now: Time, req: &Request, id: &str, path: Pointer) -> Response {
        let value = match json_body(req) {
            Ok(v) => v,
            Err(response) => return response,
        };
        let current = self.etag_of(id, &path);
        if let Err(response) = precondition(req, current.as_deref(), true) {
            return response;
        }
        let at = path.clone();
        let pushed = value.clone();
        let mut response =
            match self.http_command(now, id, CommandAction::Modify, path, Some(value)) {
                Ok(change) if change.status == 201 => {
                    let mut response = json_response(201, &change.value.unwrap_or(Value::Null));
                    if at.is_root() {
                        let raw = req.path().strip_prefix(PREFIX).unwrap_or_default();
                        response
                            .headers
                            .insert("location", format!("{PREFIX}{raw}"));
                    }
                    response
                }
                Ok(change) => Response::status(change.status),
                Err(error) => return error_response(&error),
            };
        if let Some(etag) = self.etag_of(id, &at) {
            response.headers.insert("etag", etag);
        }
        if self.config.faults.push_writes {
            self.push_write(id, &at, pushed);
        }
        response
    }

    /// `twin_push_writes`: a written configuration property goes to the
    /// gateway as `$set.configuration/<property>`, which the seed forbids.
    fn push_write(&mut self, id: &str, path: &Pointer, value: Value) {
        let segments: Vec<&str> = path.segments().iter().map(String::as_str).collect();
        let ["features", feature, "properties", "configuration", property] = segments[..] else {
            return;
        };
        let correlation_id = format!("twin-push-{}", self.fresh());
        let headers =
            DittoHeaders::correlated(&correlation_id).with("content-type", "application/json");
        let subject = format!("$set.configuration/{property}");
        let body = serde_json::json!({ "new_value": value });
        let env = Envelope::live_message(id, Some(feature), &subject, headers, Some(body));
        self.outputs.push_back(TwinOutput::LiveMessage(env));
    }

    /// Queues a live message for the gateway (twice, the second time under
    /// `<correlation-id>-again`, under `twin_deliver_messages_twice`).
    fn send_live(&mut self, env: Envelope) {
        let again = self.config.faults.deliver_twice.then(|| {
            let mut again = env.clone();
            let id = env.correlation_id().unwrap_or_default();
            again.headers.set("correlation-id", format!("{id}-again"));
            again
        });
        self.outputs.push_back(TwinOutput::LiveMessage(env));
        if let Some(again) = again {
            self.outputs.push_back(TwinOutput::LiveMessage(again));
        }
    }

    fn delete(&mut self, now: Time, req: &Request, id: &str, path: Pointer) -> Response {
        let current = self.etag_of(id, &path);
        if let Err(response) = precondition(req, current.as_deref(), true) {
            return response;
        }
        match self.http_command(now, id, CommandAction::Delete, path, None) {
            Ok(change) => Response::status(change.status),
            Err(error) => error_response(&error),
        }
    }

    /// `timeout` of a message request: query parameter, else header.
    fn message_timeout(req: &Request) -> Result<Span, Response> {
        let raw = req
            .query_param("timeout")
            .or_else(|| req.headers.get("timeout"));
        let Some(raw) = raw else {
            return Ok(DEFAULT_MESSAGE_TIMEOUT);
        };
        match parse_timeout(raw) {
            Some(t) if t <= MAX_MESSAGE_TIMEOUT => Ok(t),
            _ => Err(bad(
                "timeout.invalid",
                format!("The timeout <{raw}> is not a duration of at most 60 seconds."),
            )),
        }
    }

    /// The body of a message as the envelope's value: JSON by content type,
    /// else text (Ditto would base64 binary payloads; the gateway's
    /// operations take JSON).
    fn message_value(req: &Request) -> Result<Option<Value>, Response> {
        let bytes = req.body.as_bytes();
        if bytes.is_empty() {
            return Ok(None);
        }
        let ct = req
            .headers
            .get("content-type")
            .unwrap_or("application/json");
        if ct.to_ascii_lowercase().contains("json") {
            let v = serde_json::from_slice(bytes)
                .map_err(|e| bad("json.invalid", format!("The body is not valid JSON: {e}")))?;
            return Ok(Some(v));
        }
        Ok(Some(Value::String(
            String::from_utf8_lossy(bytes).into_owned(),
        )))
    }

    fn post_message(&mut self, now: Time, req: &Request, route: &Route) -> HttpAnswer {
        match self.try_post_message(now, req, route) {
            Ok(answer) => answer,
            Err(response) => HttpAnswer::Ready(response),
        }
    }

    fn try_post_message(
        &mut self,
        now: Time,
        req: &Request,
        route: &Route,
    ) -> Result<HttpAnswer, Response> {
        let id = route.thing_id.as_str();
        let feature = route.rest[1].as_str();
        let subject = route.rest[4..].join("/");
        if self.store.get(id).is_none() {
            return Err(error_response(&DittoError::thing_not_found(id)));
        }
        rules::check_feature(feature).map_err(|e| error_response(&e))?;
        if subject.is_empty() {
            return Err(bad(
                "messages:subject.invalid",
                "The message has no subject.".into(),
            ));
        }
        let timeout = Self::message_timeout(req)?;
        let value = Self::message_value(req)?;
        let correlation_id = match req
            .headers
            .get("correlation-id")
            .map(str::to_owned)
            .or_else(|| req.query_param("correlation-id").and_then(percent_decode))
        {
            Some(c) => c,
            None => format!("twin-msg-{}", self.fresh()),
        };
        let content_type = req
            .headers
            .get("content-type")
            .unwrap_or("application/json");
        let mut headers = DittoHeaders::correlated(&correlation_id)
            .with("content-type", content_type)
            .with("timeout", format!("{}ms", timeout.as_millis()));
        if timeout == Span::ZERO {
            headers.set("response-required", false);
        }
        let env = Envelope::live_message(id, Some(feature), &subject, headers, value);
        if timeout == Span::ZERO {
            self.send_live(env);
            return Ok(HttpAnswer::Ready(Response::status(202)));
        }
        let pending = PendingId(self.fresh());
        if !self.inbox.park(&correlation_id, pending, now + timeout) {
            return Err(bad(
                "messages:correlation-id.duplicate",
                format!("A message with correlation-id '{correlation_id}' already waits."),
            ));
        }
        self.send_live(env);
        Ok(HttpAnswer::Pending(pending))
    }
}
