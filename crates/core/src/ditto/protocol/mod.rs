//! The Ditto Protocol envelope (ditto.md §1): one JSON object with `topic`,
//! `headers`, `path` and, depending on the signal, `value`, `status`,
//! `revision`, `timestamp`, `fields` and `extra`.
//!
//! [`Envelope`] is the typed form; it (de)serializes to exactly the shape
//! the Ditto documentation shows (absent members are omitted, never
//! `null`). The builders make the signals the twin service and the gateway
//! exchange: a command's response (same topic and path, echoed
//! `correlation-id`, `status`, a `value` only with 200/201), its event
//! (`…/events/<action>`, `revision`, `timestamp`), its error
//! (`…/errors`, path `/`, value `{status,error,message,description}`) and
//! live messages with their replies.
//!
//! `"value": null` is read as a JSON null on commands (setting a property
//! to `null` is a valid modify) but as absent on responses: Ditto sends
//! `"value":null` with some 204 responses (ditto.md §1, "treat null as
//! absent").

mod headers;
mod topic;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value};

pub use headers::{parse_timeout, DittoHeaders, Pointer, PointerError};
pub use topic::{Channel, CommandAction, Criterion, EventAction, Group, Topic, TopicError};

/// The content type of a Ditto Protocol message.
pub const DITTO_CONTENT_TYPE: &str = "application/vnd.eclipse.ditto+json";

/// One Ditto Protocol message.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    /// The topic.
    pub topic: Topic,
    /// Headers (case-insensitive names).
    pub headers: DittoHeaders,
    /// Where in the entity the signal applies (`/` = the whole thing).
    pub path: Pointer,
    /// Payload, if any.
    pub value: Option<Value>,
    /// HTTP-like status (responses and errors only).
    pub status: Option<u16>,
    /// Entity revision after the change (events).
    pub revision: Option<u64>,
    /// ISO-8601 time of the change (events).
    pub timestamp: Option<String>,
    /// Field selector of a retrieve (`thingId,attributes(location)`).
    pub fields: Option<String>,
    /// Extra fields enriched into events.
    pub extra: Option<Value>,
}

/// Why a JSON text is not an envelope.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON, or a member of the wrong type or missing.
    #[error("not a Ditto Protocol envelope: {0}")]
    Json(String),
    /// The topic does not parse.
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// The path is not a valid pointer.
    #[error(transparent)]
    Path(#[from] PointerError),
}

/// The JSON shape, member for member.
#[derive(Serialize, Deserialize)]
struct Wire {
    topic: String,
    headers: serde_json::Map<String, Value>,
    path: String,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fields: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    extra: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revision: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
}

/// A member that is present is `Some`, even when it is `null`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl TryFrom<Wire> for Envelope {
    type Error = EnvelopeError;
    fn try_from(w: Wire) -> Result<Envelope, EnvelopeError> {
        let value = match (w.value, w.status) {
            (Some(Value::Null), Some(_)) => None,
            (value, _) => value,
        };
        Ok(Envelope {
            topic: Topic::parse(&w.topic)?,
            headers: DittoHeaders::from_json(w.headers),
            path: Pointer::parse(&w.path)?,
            value,
            status: w.status,
            revision: w.revision,
            timestamp: w.timestamp,
            fields: w.fields,
            extra: w.extra,
        })
    }
}

impl Envelope {
    fn to_wire(&self) -> Wire {
        Wire {
            topic: self.topic.to_string(),
            headers: self.headers.to_json(),
            path: self.path.to_string(),
            value: self.value.clone(),
            fields: self.fields.clone(),
            extra: self.extra.clone(),
            status: self.status,
            revision: self.revision,
            timestamp: self.timestamp.clone(),
        }
    }

    /// Parses one envelope from JSON text.
    pub fn parse(text: &[u8]) -> Result<Envelope, EnvelopeError> {
        let wire: Wire =
            serde_json::from_slice(text).map_err(|e| EnvelopeError::Json(e.to_string()))?;
        Envelope::try_from(wire)
    }

    /// Parses one envelope from a JSON value.
    pub fn from_value(value: Value) -> Result<Envelope, EnvelopeError> {
        let wire: Wire =
            serde_json::from_value(value).map_err(|e| EnvelopeError::Json(e.to_string()))?;
        Envelope::try_from(wire)
    }

    /// The envelope as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self.to_wire()).unwrap_or(Value::Null)
    }

    /// The envelope as compact JSON text.
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }

    /// A bare signal: topic, headers and path, nothing else.
    pub fn new(topic: Topic, headers: DittoHeaders, path: Pointer) -> Envelope {
        Envelope {
            topic,
            headers,
            path,
            value: None,
            status: None,
            revision: None,
            timestamp: None,
            fields: None,
            extra: None,
        }
    }

    /// A twin command on thing `thing_id` (topic
    /// `<ns>/<name>/things/twin/commands/<action>`).
    pub fn twin_command(
        thing_id: &str,
        action: CommandAction,
        path: Pointer,
        value: Option<Value>,
        correlation_id: &str,
    ) -> Envelope {
        let topic = Topic::thing(thing_id, Channel::Twin, Criterion::Commands(action));
        let mut env = Envelope::new(topic, DittoHeaders::correlated(correlation_id), path);
        env.value = value;
        env
    }

    /// Whether this signal is a response (it has a `status`; for `messages`
    /// this is how Ditto tells a reply from a message, ditto.md §1).
    pub fn is_response(&self) -> bool {
        self.status.is_some()
    }

    /// `correlation-id` of the signal.
    pub fn correlation_id(&self) -> Option<&str> {
        self.headers.correlation_id()
    }

    /// Headers of an answer to this signal: the `correlation-id`, echoed.
    fn answer_headers(&self) -> DittoHeaders {
        match self.correlation_id() {
            Some(id) => DittoHeaders::correlated(id),
            None => DittoHeaders::new(),
        }
    }

    /// The response to this command: same topic and path, the
    /// `correlation-id` echoed, `status`, and `value` only with 200 or 201
    /// (ditto.md §1 "Commands").
    pub fn response(&self, status: u16, value: Option<Value>) -> Envelope {
        let mut env = Envelope::new(self.topic.clone(), self.answer_headers(), self.path.clone());
        env.status = Some(status);
        env.value = value.filter(|_| matches!(status, 200 | 201));
        env
    }

    /// The event this command caused: topic `…/events/<action>`, the same
    /// path and `correlation-id`, `value` (none on `deleted`), `revision`
    /// and, when given, `timestamp`.
    pub fn event(
        &self,
        action: EventAction,
        value: Option<Value>,
        revision: u64,
        timestamp: Option<String>,
    ) -> Envelope {
        let topic = self.topic.with_criterion(Criterion::Events(action));
        let mut env = Envelope::new(topic, self.answer_headers(), self.path.clone());
        env.value = value.filter(|_| action != EventAction::Deleted);
        env.revision = Some(revision);
        env.timestamp = timestamp;
        env
    }

    /// The error answer to this signal: topic `<ns>/<name>/things/<channel>/errors`,
    /// path `/`, the error's status, and its body as value (ditto.md §1 "Errors").
    pub fn error_response(&self, error: &DittoError) -> Envelope {
        let topic = self.topic.with_criterion(Criterion::Errors);
        let mut env = Envelope::new(topic, self.answer_headers(), Pointer::root());
        env.status = Some(error.status);
        env.value = Some(error.to_value());
        env
    }

    /// A live message to a feature's inbox (or the thing's, without a
    /// feature): topic `<ns>/<name>/things/live/messages/<subject>`, path
    /// `[/features/<fid>]/inbox/messages/<subject>`, with `content-type`
    /// and `correlation-id` (ditto.md §1 "Live messages").
    pub fn live_message(
        thing_id: &str,
        feature_id: Option<&str>,
        subject: &str,
        headers: DittoHeaders,
        value: Option<Value>,
    ) -> Envelope {
        let topic = Topic::thing(
            thing_id,
            Channel::Live,
            Criterion::Messages(subject.to_owned()),
        );
        let mut segments: Vec<&str> = Vec::new();
        if let Some(fid) = feature_id {
            segments.extend(["features", fid]);
        }
        segments.extend(["inbox", "messages"]);
        segments.extend(subject.split('/'));
        let mut env = Envelope::new(topic, headers, Pointer::from_segments(segments));
        env.value = value;
        env
    }

    /// The reply to this live message: same topic, path and
    /// `correlation-id`, with `status`, `content-type` and `value`. The
    /// path keeps `inbox`, as Ditto's documentation sample does; Ditto
    /// matches replies by `correlation-id` alone (ditto.md §1).
    pub fn message_reply(
        &self,
        status: u16,
        content_type: Option<&str>,
        value: Option<Value>,
    ) -> Envelope {
        let mut headers = self.answer_headers();
        if let Some(ct) = content_type {
            headers.set("content-type", ct);
        }
        let mut env = Envelope::new(self.topic.clone(), headers, self.path.clone());
        env.status = Some(status);
        env.value = value;
        env
    }
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_wire().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Envelope, D::Error> {
        let wire = Wire::deserialize(d)?;
        Envelope::try_from(wire).map_err(serde::de::Error::custom)
    }
}

/// A Ditto error: the value of an error envelope and the body of an HTTP
/// error answer (`{"status","error","message","description"?}`, ditto.md
/// §1 "Errors", §2 "Codes").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DittoError {
    /// HTTP status.
    pub status: u16,
    /// Error code, e.g. `things:feature.notfound`.
    pub error: String,
    /// Human-readable message.
    pub message: String,
    /// Longer description, if any.
    pub description: Option<String>,
}

impl DittoError {
    /// An error with a description.
    pub fn new(status: u16, error: &str, message: String, description: &str) -> DittoError {
        DittoError {
            status,
            error: error.to_owned(),
            message,
            description: Some(description.to_owned()),
        }
    }

    /// The error as JSON.
    pub fn to_value(&self) -> Value {
        let mut v = json!({"status": self.status, "error": self.error, "message": self.message});
        if let Some(d) = &self.description {
            v["description"] = Value::String(d.clone());
        }
        v
    }

    /// 404 `things:thing.notfound`.
    pub fn thing_not_found(thing_id: &str) -> DittoError {
        DittoError::new(
            404,
            "things:thing.notfound",
            format!("The Thing with ID '{thing_id}' could not be found or requester had insufficient permissions to access it."),
            "Check if the ID of your requested Thing was correct and you have sufficient permissions.",
        )
    }

    /// 404 `things:feature.notfound`.
    pub fn feature_not_found(thing_id: &str, feature_id: &str) -> DittoError {
        DittoError::new(
            404,
            "things:feature.notfound",
            format!("The Feature with ID '{feature_id}' on the Thing with ID '{thing_id}' could not be found or the requester had insufficient permissions to access it."),
            "Check if the ID of the Thing and the ID of your requested Feature was correct and you have sufficient permissions.",
        )
    }

    /// 404 for a missing attribute, property or definition at `pointer`
    /// (`code` e.g. `things:feature.property.notfound`).
    pub fn part_not_found(code: &str, thing_id: &str, pointer: &str) -> DittoError {
        DittoError::new(
            404,
            code,
            format!("Nothing at '{pointer}' of the Thing with ID '{thing_id}' could be found or the requester had insufficient permissions to access it."),
            "Check if the path of your request was correct and you have sufficient permissions.",
        )
    }

    /// 409 `things:thing.conflict` (create of an existing thing).
    pub fn thing_conflict(thing_id: &str) -> DittoError {
        DittoError::new(
            409,
            "things:thing.conflict",
            format!("The Thing with ID '{thing_id}' already exists"),
            "Choose another Thing ID",
        )
    }

    /// 400 `things:id.notsettable` (a body's thingId ≠ the addressed one).
    pub fn id_not_settable(thing_id: &str) -> DittoError {
        DittoError::new(
            400,
            "things:id.notsettable",
            format!("The Thing ID in the request body does not match '{thing_id}'."),
            "Either delete the Thing ID from the request body or use the same Thing ID as in the request URI.",
        )
    }

    /// 400 `things:id.invalid`.
    pub fn id_invalid(thing_id: &str, why: &str) -> DittoError {
        DittoError::new(
            400,
            crate::ditto::id::THING_ID_INVALID,
            format!("Thing ID '{thing_id}' is not valid: {why}"),
            "It must conform to the namespaced entity ID notation (see Ditto documentation)",
        )
    }

    /// 400 `json.key.invalid` (a feature ID or property key).
    pub fn key_invalid(key: &str, why: &str) -> DittoError {
        DittoError::new(
            400,
            crate::ditto::id::JSON_KEY_INVALID,
            format!("JSON key <{key}> is invalid: {why}"),
            "Neither slashes nor any control characters are allowed as part of the JSON key.",
        )
    }

    /// 400 with any code (bad payloads, pointers, definitions, timeouts).
    pub fn bad_request(code: &str, message: String) -> DittoError {
        DittoError {
            status: 400,
            error: code.to_owned(),
            message,
            description: None,
        }
    }
}

/// `2026-12-07T01:02:03.004Z` for milliseconds since 1970-01-01 UTC: the
/// form of an event's `timestamp` and a thing's `_modified`. The caller
/// supplies the epoch (nothing here reads a clock).
pub fn iso8601(unix_ms: u64) -> String {
    let (days, ms) = (unix_ms / 86_400_000, unix_ms % 86_400_000);
    let (y, m, d) = crate::time::civil_from_days(days as i64);
    let (h, min, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{frac:03}Z")
}

#[cfg(test)]
mod tests;
