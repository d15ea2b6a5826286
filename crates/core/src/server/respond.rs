//! Response building for the DDI surface: JSON or CBOR documents with ETags
//! and `If-None-Match`, and hawkBit's error bodies (`ExceptionInfo`, always JSON).
//!
//! The ETag imitates Spring's shallow ETag filter: a digest of the body, so
//! the same document always gets the same tag. It is `"` + 16 hex digits of
//! xxh3-64 + `"` rather than Spring's MD5, which nothing may rely on anyway.

use serde::Serialize;

use crate::message::{Body, Headers, Request, Response};
use crate::protocol::ddi::wire::ExceptionInfo;

pub(super) use super::codec::{HAL_JSON, JSON};

/// Spring's unreadable-body exception (ddi.md §0).
const NOT_READABLE_CLASS: &str = "org.eclipse.hawkbit.rest.exception.MessageNotReadableException";
const NOT_READABLE_CODE: &str = "hawkbit.server.error.rest.body.notReadable";

/// ETag of a response body.
pub(super) fn etag_of(bytes: &[u8]) -> String {
    // `format!("\"{:016x}\"")` by hand: this runs for every document answer.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let h = xxhash_rust::xxh3::xxh3_64(bytes);
    let mut tag = String::with_capacity(18);
    tag.push('"');
    for shift in (0..16).rev() {
        tag.push(char::from(HEX[(h >> (shift * 4)) as usize & 0xf]));
    }
    tag.push('"');
    tag
}

/// True when `header` (an `If-None-Match` / `If-Match` list) names `etag` or is `*`.
pub(super) fn etag_listed(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|t| {
        let t = t.strip_prefix("W/").unwrap_or(t);
        t == "*" || t == etag
    })
}

/// A 200 document answer of the negotiated `content_type` (CBOR for
/// [`CBOR`], JSON otherwise; see [`super::codec::encode`]) with an ETag over
/// the encoded bytes; 304 with an empty body when the request's
/// `If-None-Match` names it (the caller's side effects have happened already).
pub(super) fn json_ok<T: Serialize>(
    req: &Request,
    content_type: &'static str,
    value: &T,
) -> Response {
    let Ok(bytes) = super::codec::encode(content_type, value) else {
        return Response::status(500);
    };
    let etag = etag_of(&bytes);
    if req
        .headers
        .get("if-none-match")
        .is_some_and(|h| etag_listed(h, &etag))
    {
        return Response {
            status: 304,
            headers: Headers::new().with("etag", etag),
            body: Body::Empty,
        };
    }
    let mut resp = Response::json(200, content_type, bytes);
    resp.headers.insert("etag", etag);
    resp
}

/// A hawkBit error body with the given fields.
pub(super) fn error(status: u16, class: &str, code: &str, message: impl Into<String>) -> Response {
    let info = ExceptionInfo {
        exception_class: Some(class.to_string()),
        error_code: Some(code.to_string()),
        message: Some(message.into()),
        info: None,
    };
    match serde_json::to_vec(&info) {
        Ok(bytes) => Response::json(status, JSON, bytes),
        Err(_) => Response::status(status),
    }
}

/// 400 for a body that cannot be read: exactly the three fields hawkBit sends.
pub(super) fn not_readable(message: impl Into<String>) -> Response {
    error(400, NOT_READABLE_CLASS, NOT_READABLE_CODE, message)
}

/// 400 for a malformed path or query parameter (Spring's type mismatch).
pub(super) fn bad_param(message: impl Into<String>) -> Response {
    error(
        400,
        "org.springframework.web.method.annotation.MethodArgumentTypeMismatchException",
        "hawkbit.server.error.rest.param.invalid",
        message,
    )
}

/// 429 for an exceeded quota (status entries, messages, attributes).
pub(super) fn quota(message: impl Into<String>) -> Response {
    error(
        429,
        "org.eclipse.hawkbit.repository.exception.AssignmentQuotaExceededException",
        "hawkbit.server.error.quota.tooManyEntries",
        message,
    )
}

/// 404 for an unknown target, action, module or file.
pub(super) fn not_found(message: impl Into<String>) -> Response {
    error(
        404,
        "org.eclipse.hawkbit.repository.exception.EntityNotFoundException",
        "hawkbit.server.error.repo.entitiyNotFound",
        message,
    )
}

/// 405 for cancel feedback on an action that is not being canceled.
pub(super) fn not_cancelable(message: impl Into<String>) -> Response {
    error(
        405,
        "org.eclipse.hawkbit.repository.exception.CancelActionNotAllowedException",
        "hawkbit.server.error.action.notCancelable",
        message,
    )
}

/// 400 for controller attributes that break the key/value rules.
pub(super) fn invalid_attributes(message: impl Into<String>) -> Response {
    error(
        400,
        "org.eclipse.hawkbit.repository.exception.InvalidTargetAttributeException",
        "hawkbit.server.error.repo.invalidTargetAttributes",
        message,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Method;

    #[test]
    fn an_etag_is_the_quoted_16_digit_hex_hash() {
        for body in [&b""[..], b"{}", b"{\"config\":{}}", &[0xff; 300][..]] {
            let want = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(body));
            assert_eq!(etag_of(body), want);
        }
    }

    #[test]
    fn etag_and_not_modified() {
        let req = Request::new(Method::Get, "http://h/x");
        let ok = json_ok(&req, HAL_JSON, &serde_json::json!({"a": 1}));
        assert_eq!(ok.status, 200);
        let etag = ok.headers.get("etag").expect("etag").to_string();
        assert_eq!(etag, etag_of(ok.body.as_bytes()));
        let mut again = req.clone();
        again
            .headers
            .insert_dynamic("If-None-Match", format!("W/{etag}, \"other\""));
        let nm = json_ok(&again, HAL_JSON, &serde_json::json!({"a": 1}));
        assert_eq!(nm.status, 304);
        assert!(nm.body.is_empty());
        let changed = json_ok(&again, HAL_JSON, &serde_json::json!({"a": 2}));
        assert_eq!(changed.status, 200);
    }

    #[test]
    fn not_readable_has_exactly_three_fields() {
        let r = not_readable("bad");
        let v: serde_json::Value = serde_json::from_slice(r.body.as_bytes()).expect("json");
        assert_eq!(v.as_object().map(|o| o.len()), Some(3));
        assert_eq!(v["errorCode"], NOT_READABLE_CODE);
        assert_eq!(v["exceptionClass"], NOT_READABLE_CLASS);
    }
}
