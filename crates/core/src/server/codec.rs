//! DDI media types (ddi.md §0): which document type an `Accept` header asks
//! for, which body types a request may carry, and the one encode / decode
//! path every DDI handler uses for its documents and bodies.
//!
//! hawkBit's DDI controllers produce `application/hal+json` (the default),
//! `application/json` and `application/cbor`, and consume JSON or CBOR
//! bodies; anything else is 406 / 415. CBOR documents carry the same fields
//! as the JSON ones (Jackson's CBOR mapper over the same models), so one
//! serde model serves both. Error bodies stay JSON whatever was asked.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::message::Request;

/// hawkBit's default DDI content type.
pub(super) const HAL_JSON: &str = "application/hal+json";
/// Plain JSON, when the client's Accept names it first.
pub(super) const JSON: &str = "application/json";
/// Concise Binary Object Representation (RFC 8949).
pub(super) const CBOR: &str = "application/cbor";

/// The body encoding a content type stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Encoding {
    /// `application/json`.
    Json,
    /// `application/cbor`.
    Cbor,
}

/// Why a body could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub(super) enum CodecError {
    /// The JSON encoder or decoder refused the value.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// The CBOR encoder refused the value.
    #[error("{0}")]
    CborEncode(#[from] ciborium::ser::Error<std::io::Error>),
    /// The CBOR decoder refused the bytes.
    #[error("{0}")]
    CborDecode(#[from] ciborium::de::Error<std::io::Error>),
}

/// The media type part of a header value (`application/json; charset=…` →
/// `application/json`), trimmed.
fn media_of(value: &str) -> &str {
    value.split(';').next().unwrap_or("").trim()
}

/// The content type to answer a GET with, or `None` (406) when `Accept`
/// names nothing hawkBit produces. The first acceptable range in list order
/// wins (q-values are not weighed); no or an empty `Accept`, `*/*` and
/// `application/*` mean HAL-JSON.
pub(super) fn negotiate(accept: Option<&str>) -> Option<&'static str> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(HAL_JSON);
    };
    accept.split(',').find_map(|range| {
        let media = media_of(range);
        let is = |m: &str| media.eq_ignore_ascii_case(m);
        if is(JSON) {
            Some(JSON)
        } else if is(CBOR) {
            Some(CBOR)
        } else if is(HAL_JSON) || is("application/*") || is("*/*") {
            Some(HAL_JSON)
        } else {
            None
        }
    })
}

/// The encoding of a request body with `Content-Type` `content_type`, or
/// `None` (415) for a type hawkBit does not consume: its DDI bodies are
/// `application/json` or CBOR, so even `application/hal+json` is 415
/// (`DdiConfigDataTest.badConfigData`).
pub(super) fn body_encoding(content_type: Option<&str>) -> Option<Encoding> {
    let media = media_of(content_type.unwrap_or(""));
    let is = |m: &str| media.eq_ignore_ascii_case(m);
    if is(JSON) {
        Some(Encoding::Json)
    } else if is(CBOR) {
        Some(Encoding::Cbor)
    } else {
        None
    }
}

/// `value` encoded for an answer of type `content_type` (CBOR for
/// [`CBOR`], JSON for every other type).
pub(super) fn encode<T: Serialize>(content_type: &str, value: &T) -> Result<Vec<u8>, CodecError> {
    if content_type == CBOR {
        let mut out = Vec::new();
        ciborium::into_writer(value, &mut out)?;
        Ok(out)
    } else {
        Ok(serde_json::to_vec(value)?)
    }
}

/// The body of `req` read as a `T`, in the encoding its `Content-Type` names
/// (JSON when it names none: the dispatcher has refused other types already).
/// Every DDI handler that reads a body (feedback, configData, confirmation)
/// reads it through here.
pub(super) fn decode<T: DeserializeOwned>(req: &Request) -> Result<T, CodecError> {
    let bytes = req.body.as_bytes();
    match body_encoding(req.headers.get("content-type")) {
        Some(Encoding::Cbor) => Ok(ciborium::from_reader(bytes)?),
        _ => Ok(serde_json::from_slice(bytes)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Body, Method};

    #[test]
    fn negotiation_follows_list_order() {
        assert_eq!(negotiate(None), Some(HAL_JSON));
        assert_eq!(negotiate(Some(" ")), Some(HAL_JSON));
        assert_eq!(negotiate(Some("application/cbor")), Some(CBOR));
        assert_eq!(negotiate(Some("text/plain, application/cbor")), Some(CBOR));
        assert_eq!(
            negotiate(Some("application/json, application/cbor")),
            Some(JSON)
        );
        assert_eq!(negotiate(Some("*/*;q=0.1")), Some(HAL_JSON));
        assert_eq!(negotiate(Some("text/plain")), None);
        assert_eq!(negotiate(Some("application/xml, text/*")), None);
    }

    #[test]
    fn body_types() {
        assert_eq!(
            body_encoding(Some("application/json; charset=utf-8")),
            Some(Encoding::Json)
        );
        assert_eq!(
            body_encoding(Some("Application/CBOR")),
            Some(Encoding::Cbor)
        );
        assert_eq!(body_encoding(Some("text/plain")), None);
        assert_eq!(body_encoding(Some("application/hal+json")), None);
        assert_eq!(body_encoding(None), None);
    }

    #[test]
    fn cbor_round_trip_matches_json() {
        let doc = serde_json::json!({"id": "7", "config": {"polling": {"sleep": "00:05:00"}}});
        let cbor = encode(CBOR, &doc).expect("encode");
        assert_ne!(cbor, serde_json::to_vec(&doc).expect("json"));
        let mut req = Request::new(Method::Post, "http://h/x");
        req.headers.insert("content-type", CBOR);
        req.body = Body::Bytes(cbor.into());
        let back: serde_json::Value = decode(&req).expect("decode");
        assert_eq!(back, doc);
        req.body = Body::Bytes(b"{\"id\":".to_vec().into());
        assert!(decode::<serde_json::Value>(&req).is_err());
    }
}

#[cfg(test)]
#[path = "cbor_tests.rs"]
mod flow_tests;
