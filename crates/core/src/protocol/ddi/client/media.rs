//! The media type a DDI device speaks (ddi.md §0): JSON, as most devices
//! do, or CBOR (`Accept` and `Content-Type: application/cbor`), as
//! constrained devices may. One place builds bodies and reads documents in
//! either encoding.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::message::{Body, Headers, Method, Request, Response};
use crate::protocol::ddi::event::DdiEvent;
use crate::protocol::transport::ReqKind;

/// `application/cbor`.
pub const CBOR: &str = "application/cbor";
const JSON_ACCEPT: &str = "application/hal+json, application/json";

/// How a device encodes its bodies and which documents it asks for.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// HAL-JSON / JSON (the default).
    #[default]
    Json,
    /// CBOR (RFC 8949) both ways.
    Cbor,
}

impl Encoding {
    /// True for the default, JSON.
    pub fn is_json(&self) -> bool {
        *self == Encoding::Json
    }

    /// The `Accept` header value of every request.
    pub(super) fn accept(self) -> &'static str {
        match self {
            Encoding::Json => JSON_ACCEPT,
            Encoding::Cbor => CBOR,
        }
    }
}

/// A request carrying `body` in `encoding`.
pub(super) fn body_request(
    method: Method,
    url: String,
    encoding: Encoding,
    body: &impl Serialize,
) -> Request {
    let (kind, bytes) = match encoding {
        Encoding::Json => ("application/json", serde_json::to_vec(body).ok()),
        Encoding::Cbor => {
            let mut out = Vec::new();
            (
                CBOR,
                ciborium::into_writer(body, &mut out).ok().map(|()| out),
            )
        }
    };
    Request {
        method,
        url,
        headers: Headers::new().with("content-type", kind),
        body: Body::Bytes(bytes.unwrap_or_default().into()),
    }
}

/// True when the answer's `Content-Type` is CBOR.
fn is_cbor(resp: &Response) -> bool {
    let media = resp.headers.get("content-type").unwrap_or("");
    let media = media.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case(CBOR)
}

/// The document of a 200 answer to a `kind` request as `T`, read in the
/// encoding its `Content-Type` names; `None` for other statuses or an
/// unreadable body. A CBOR device that gets something else than CBOR
/// reports it (`WrongMedia`) and still reads what it got, so one broken
/// rule does not hide the next.
pub(super) fn document_200<T: DeserializeOwned>(
    resp: &Response,
    encoding: Encoding,
    kind: ReqKind,
    events: &mut Vec<DdiEvent>,
) -> Option<T> {
    if resp.status != 200 {
        return None;
    }
    let cbor = is_cbor(resp);
    if encoding == Encoding::Cbor && !cbor {
        events.push(DdiEvent::WrongMedia { kind });
    }
    let bytes = resp.body.as_bytes();
    match cbor {
        true => ciborium::from_reader(bytes).ok(),
        false => serde_json::from_slice(bytes).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ddi::wire::{Config, ControllerBase, Polling, RootLinks};

    fn answer(kind: &'static str, bytes: Vec<u8>) -> Response {
        let mut r = Response::json(200, kind, bytes);
        r.status = 200;
        r
    }

    #[test]
    fn both_encodings_round_trip_and_a_json_answer_to_cbor_is_reported() {
        let doc = ControllerBase {
            config: Config {
                polling: Polling {
                    sleep: "00:05:00".into(),
                },
            },
            links: RootLinks::default(),
        };
        let req = body_request(Method::Put, "http://h/x".into(), Encoding::Cbor, &doc);
        assert_eq!(req.headers.get("content-type"), Some(CBOR));
        let cbor = answer(CBOR, req.body.as_bytes().to_vec());
        let json = answer(
            "application/hal+json",
            serde_json::to_vec(&doc).expect("json"),
        );
        let mut events = Vec::new();
        let got: Option<ControllerBase> =
            document_200(&cbor, Encoding::Cbor, ReqKind::Root, &mut events);
        assert_eq!(got.map(|d| d.config.polling.sleep), Some("00:05:00".into()));
        assert!(events.is_empty());
        let got: Option<ControllerBase> =
            document_200(&json, Encoding::Cbor, ReqKind::Root, &mut events);
        assert!(got.is_some(), "a JSON answer is still read");
        assert_eq!(
            events,
            vec![DdiEvent::WrongMedia {
                kind: ReqKind::Root
            }]
        );
        events.clear();
        let got: Option<ControllerBase> =
            document_200(&json, Encoding::Json, ReqKind::Root, &mut events);
        assert!(got.is_some() && events.is_empty());
        assert_eq!(Encoding::Cbor.accept(), CBOR);
    }
}
