//! Ditto Protocol headers (ditto.md §1 "Headers") and the JSON pointer of
//! an envelope's `path` (ditto.md §3 "Pointers").
//!
//! Header names are case-insensitive: they are stored lower-cased, in a
//! `BTreeMap` so that serialization is deterministic. Values stay JSON
//! (`response-required` may be a boolean or a string, `requested-acks` an
//! array).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::time::Span;

/// The `headers` object of an envelope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DittoHeaders(BTreeMap<String, Value>);

impl DittoHeaders {
    /// No headers.
    pub fn new() -> DittoHeaders {
        DittoHeaders::default()
    }

    /// Headers with just `correlation-id`.
    pub fn correlated(correlation_id: &str) -> DittoHeaders {
        DittoHeaders::new().with("correlation-id", correlation_id)
    }

    /// Sets header `name` (lower-cased) to `value`.
    pub fn set(&mut self, name: &str, value: impl Into<Value>) {
        self.0.insert(name.to_ascii_lowercase(), value.into());
    }

    /// Builder form of [`DittoHeaders::set`].
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> DittoHeaders {
        self.set(name, value);
        self
    }

    /// Removes header `name`.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.0.remove(&name.to_ascii_lowercase())
    }

    /// The JSON value of header `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(&name.to_ascii_lowercase())
    }

    /// Header `name` as a string, if it is one.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    /// `correlation-id`.
    pub fn correlation_id(&self) -> Option<&str> {
        self.get_str("correlation-id")
    }

    /// `content-type` (of the envelope's `value`).
    pub fn content_type(&self) -> Option<&str> {
        self.get_str("content-type")
    }

    /// `response-required`: `true` unless the header says `false` (boolean
    /// or string).
    pub fn response_required(&self) -> bool {
        !matches!(self.get("response-required"), Some(Value::Bool(false)))
            && !matches!(self.get_str("response-required"), Some("false"))
    }

    /// `timeout` as a span: `42s`, `250ms`, `1m` or bare seconds; `None`
    /// when absent or unreadable (Ditto's default is 60 s).
    pub fn timeout(&self) -> Option<Span> {
        match self.get("timeout")? {
            Value::Number(n) => n.as_u64().map(Span::secs),
            Value::String(s) => parse_timeout(s),
            _ => None,
        }
    }

    /// The headers without the `ditto-*` ones, which Ditto drops when a
    /// client sets them (ditto.md §1 "Headers").
    pub fn without_internal(&self) -> DittoHeaders {
        DittoHeaders(
            self.0
                .iter()
                .filter(|(k, _)| !k.starts_with("ditto-"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// All headers, names lower-cased, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The headers as a JSON object.
    pub fn to_json(&self) -> serde_json::Map<String, Value> {
        self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Headers from a JSON object (names lower-cased; a later duplicate
    /// that differs only in case wins).
    pub fn from_json(map: serde_json::Map<String, Value>) -> DittoHeaders {
        DittoHeaders(
            map.into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        )
    }
}

/// `42s`, `250ms`, `1m` or bare seconds (`42`).
pub fn parse_timeout(s: &str) -> Option<Span> {
    let number = |digits: &str| digits.parse::<u64>().ok();
    if let Some(ms) = s.strip_suffix("ms") {
        number(ms).map(Span::millis)
    } else if let Some(secs) = s.strip_suffix('s') {
        number(secs).map(Span::secs)
    } else if let Some(m) = s.strip_suffix('m') {
        number(m).map(Span::minutes)
    } else {
        number(s).map(Span::secs)
    }
}

/// A JSON pointer as Ditto reads one: `/` is the root, segments split on
/// `/`, no `~1` escapes, and an empty segment is invalid: `//` (ditto.md §3) and, inferred
/// from the same rule, a trailing `/` after a segment.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pointer(Vec<String>);

/// Why a string is not a pointer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PointerError {
    /// Does not start with `/`.
    #[error("pointer {0:?} does not start with '/'")]
    NoLeadingSlash(String),
    /// Holds an empty segment (`//`).
    #[error("pointer {0:?} has an empty segment")]
    EmptySegment(String),
}

impl Pointer {
    /// The root, `/`.
    pub fn root() -> Pointer {
        Pointer(Vec::new())
    }

    /// Parses a pointer.
    pub fn parse(s: &str) -> Result<Pointer, PointerError> {
        let rest = s
            .strip_prefix('/')
            .ok_or_else(|| PointerError::NoLeadingSlash(s.to_owned()))?;
        if rest.is_empty() {
            return Ok(Pointer::root());
        }
        let segments: Vec<String> = rest.split('/').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(PointerError::EmptySegment(s.to_owned()));
        }
        Ok(Pointer(segments))
    }

    /// A pointer from segments (each must be non-empty and hold no `/`;
    /// callers pass keys they have checked).
    pub fn from_segments<S: Into<String>>(segments: impl IntoIterator<Item = S>) -> Pointer {
        Pointer(segments.into_iter().map(Into::into).collect())
    }

    /// The segments, root = none.
    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// Whether this is the root `/`.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// This pointer with `segment` appended.
    pub fn join(&self, segment: &str) -> Pointer {
        let mut segments = self.0.clone();
        segments.push(segment.to_owned());
        Pointer(segments)
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.0 {
            write!(f, "/{segment}")?;
        }
        Ok(())
    }
}
