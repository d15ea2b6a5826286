//! Twin commands over a real Ditto's HTTP API v2 (ditto.md §2), sans-IO:
//! a gateway that cannot hold a WebSocket — or a test against a Ditto
//! behind nginx — sends each Ditto Protocol twin command as one HTTP
//! request and turns the answer back into the protocol response the
//! `EdgeClient` understands.
//!
//! - [`request_of`]: `modify` → `PUT`, `create` → `PUT` with
//!   `If-None-Match: *` (Ditto's HTTP API has no create-only verb; the
//!   precondition makes a second create fail 412), `delete` → `DELETE`,
//!   `retrieve` → `GET`, on `{base}/api/2/things/{thingId}{path}`, each
//!   segment percent-encoded (`%` → `%25`, ditto.md §6 "Gateway sim must"
//!   6; `:` kept, as Ditto's own clients do); JSON body; headers
//!   `correlation-id` and, with a body, `content-type: application/json`.
//!   `merge` (PATCH) and non-command signals are refused: `None`.
//! - [`response_of`]: 2xx → the command's response with that status and
//!   the body as value (none for 204 or an empty body); an error with a
//!   Ditto error body (`{"status","error","message",…}`) → the error
//!   envelope with that error, so `things:feature.notfound` still triggers
//!   the client's feature re-create; an error without one (nginx's HTML 401)
//!   → the status with an inferred code (`gateway:authentication.failed`
//!   for 401, inferred, not read from Ditto; else `fleetsim:http.unexpected`).
//!
//! An answer's `Retry-After` (seconds) is kept as the protocol answer's
//! `retry-after` header, so the client's backoff can honour it.
//!
//! Authentication (Basic) is the caller's: it adds `authorization` to the
//! request.

use serde_json::Value;

use super::protocol::{Channel, CommandAction, Criterion, DittoError, Envelope, Group};
use crate::message::{Body, Method, Request, Response};

/// Percent-encodes one path segment: unreserved characters and `:` stay.
pub fn encode_segment(s: &str) -> String {
    crate::message::percent_encode_keeping(s, b":")
}

/// The HTTP request of twin command `cmd` against the Ditto at `base_url`
/// (`http://host:8080`, no trailing slash needed); `None` if it has none.
pub fn request_of(base_url: &str, cmd: &Envelope) -> Option<Request> {
    let topic = &cmd.topic;
    let action = match (topic.group, topic.channel, &topic.criterion) {
        (Group::Things, Some(Channel::Twin), Criterion::Commands(a)) if !cmd.is_response() => *a,
        _ => return None,
    };
    let method = match action {
        CommandAction::Modify | CommandAction::Create => Method::Put,
        CommandAction::Delete => Method::Delete,
        CommandAction::Retrieve => Method::Get,
        _ => return None,
    };
    let mut url = format!(
        "{}/api/2/things/{}",
        base_url.trim_end_matches('/'),
        encode_segment(&topic.thing_id())
    );
    for segment in cmd.path.segments() {
        url.push('/');
        url.push_str(&encode_segment(segment));
    }
    let mut req = Request::new(method, url);
    if let Some(c) = cmd.correlation_id() {
        req.headers.insert("correlation-id", c.to_owned());
    }
    if action == CommandAction::Create {
        req.headers.insert("if-none-match", "*");
    }
    if matches!(action, CommandAction::Modify | CommandAction::Create) {
        let value = cmd.value.clone().unwrap_or(Value::Null);
        req.headers.insert("content-type", "application/json");
        req.body = Body::Bytes(value.to_string().into_bytes().into());
    }
    Some(req)
}

/// The protocol answer to `cmd` made of Ditto's HTTP answer `resp`.
pub fn response_of(cmd: &Envelope, resp: &Response) -> Envelope {
    let body: Option<Value> = match resp.body.as_bytes() {
        [] => None,
        bytes => serde_json::from_slice(bytes).ok(),
    };
    if (200..300).contains(&resp.status) {
        let value = body.filter(|_| resp.status != 204);
        return cmd.response(resp.status, value);
    }
    let error = body
        .as_ref()
        .and_then(|b| error_of(b, resp.status))
        .unwrap_or_else(|| inferred(resp.status));
    let mut answer = cmd.error_response(&error);
    if let Some(after) = resp.headers.get("retry-after") {
        answer.headers.set(RETRY_AFTER, after.trim());
    }
    answer
}

/// The protocol header that carries an HTTP answer's `Retry-After`.
pub const RETRY_AFTER: &str = "retry-after";

/// The `retry-after` of protocol answer `env` in seconds, if it has one
/// (the HTTP-date form is not used by Ditto: ignored).
pub fn retry_after(env: &Envelope) -> Option<crate::time::Span> {
    let secs: u64 = env.headers.get_str(RETRY_AFTER)?.trim().parse().ok()?;
    Some(crate::time::Span::secs(secs))
}

/// A Ditto error body, if `body` is one.
fn error_of(body: &Value, status: u16) -> Option<DittoError> {
    let code = body.get("error")?.as_str()?;
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(DittoError {
        status: body
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(status),
        error: code.to_owned(),
        message: text("message").unwrap_or_default(),
        description: text("description"),
    })
}

/// The error of an answer without a Ditto body.
fn inferred(status: u16) -> DittoError {
    let code = match status {
        401 => "gateway:authentication.failed",
        _ => "fleetsim:http.unexpected",
    };
    DittoError {
        status,
        error: code.to_owned(),
        message: format!("Ditto answered {status} without a Ditto error body."),
        description: None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ditto::protocol::Pointer;

    fn cmd(action: CommandAction, path: &str, value: Option<Value>) -> Envelope {
        let path = Pointer::parse(path).expect("pointer");
        Envelope::twin_command("org.acme:gw 1:cam%1", action, path, value, "gw-7")
    }

    #[test]
    fn commands_become_requests_on_encoded_paths() {
        let put = cmd(
            CommandAction::Modify,
            "/features/Cam_1/properties/status/on",
            Some(json!(true)),
        );
        let req = request_of("http://ditto:8080/", &put).expect("a request");
        assert_eq!(req.method, Method::Put);
        assert_eq!(
            req.url,
            "http://ditto:8080/api/2/things/org.acme:gw%201:cam%251/features/Cam_1/properties/status/on"
        );
        assert_eq!(req.headers.get("correlation-id"), Some("gw-7"));
        assert_eq!(req.headers.get("content-type"), Some("application/json"));
        assert_eq!(req.body.as_bytes(), b"true");
        let create = request_of(
            "http://d",
            &cmd(CommandAction::Create, "/", Some(json!({}))),
        );
        let create = create.expect("a request");
        assert_eq!(create.url, "http://d/api/2/things/org.acme:gw%201:cam%251");
        assert_eq!(create.headers.get("if-none-match"), Some("*"));
        let delete = request_of("http://d", &cmd(CommandAction::Delete, "/features/F", None));
        let delete = delete.expect("a request");
        assert_eq!(delete.method, Method::Delete);
        assert!(delete.body.as_bytes().is_empty());
        assert!(request_of("http://d", &cmd(CommandAction::Merge, "/", Some(json!({})))).is_none());
        assert!(request_of("http://d", &put.response(204, None)).is_none());
    }

    #[test]
    fn answers_become_protocol_responses() {
        let put = cmd(CommandAction::Modify, "/features/F", Some(json!({})));
        let mut created = Response::status(201);
        created.body = Body::Bytes(b"{}".to_vec().into());
        let r = response_of(&put, &created);
        assert_eq!((r.status, r.value.clone()), (Some(201), Some(json!({}))));
        assert_eq!(r.correlation_id(), Some("gw-7"));
        let r = response_of(&put, &Response::status(204));
        assert_eq!((r.status, r.value), (Some(204), None));
        let mut html = Response::status(401);
        html.body = Body::Bytes(b"<html>401</html>".to_vec().into());
        let r = response_of(&put, &html);
        assert_eq!(r.status, Some(401));
        assert_eq!(r.topic.criterion, Criterion::Errors);
        assert_eq!(retry_after(&r), None);
        let value = r.value.expect("an error value");
        assert_eq!(value["error"], "gateway:authentication.failed");
        let mut busy = Response::status(429);
        busy.headers.insert("retry-after", " 3");
        let r = response_of(&put, &busy);
        assert_eq!(r.status, Some(429));
        assert_eq!(retry_after(&r), Some(crate::time::Span::secs(3)));
    }
}
