//! Live messages waiting for their reply (ditto.md §2 "Messages", §6
//! "Twin service must" 6): an HTTP `POST …/inbox/messages/{subject}` is
//! parked here under its `correlation-id` until the device's reply arrives
//! or its deadline passes (then 408). The first reply wins; later ones and
//! replies after the deadline find nothing and are dropped.

use std::collections::BTreeMap;

use serde_json::Value;

use super::PendingId;
use crate::ditto::protocol::{DittoError, Envelope};
use crate::message::{Body, Response};
use crate::time::Time;

/// One message waiting for its reply.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Waiting {
    id: PendingId,
    deadline: Time,
}

/// The waiting messages, by correlation-id.
#[derive(Clone, Debug, Default)]
pub struct Inbox {
    waiting: BTreeMap<String, Waiting>,
}

impl Inbox {
    /// Parks a message; false if a message with this correlation-id
    /// already waits (replies could not be told apart, so the caller
    /// refuses the second one).
    pub fn park(&mut self, correlation_id: &str, id: PendingId, deadline: Time) -> bool {
        if self.waiting.contains_key(correlation_id) {
            return false;
        }
        self.waiting
            .insert(correlation_id.to_owned(), Waiting { id, deadline });
        true
    }

    /// The reply `reply` answers a waiting message: its id and the HTTP
    /// answer made of the reply's status, content-type and value.
    pub fn reply(&mut self, now: Time, reply: &Envelope) -> Option<(PendingId, Response)> {
        let correlation_id = reply.correlation_id()?;
        let waiting = self.waiting.get(correlation_id)?;
        if waiting.deadline <= now {
            // Past the deadline: the 408 is (or is about to be) sent.
            return None;
        }
        let id = waiting.id;
        self.waiting.remove(correlation_id);
        Some((id, http_of_reply(reply)))
    }

    /// Messages whose deadline has come, answered 408, in deadline then id order.
    pub fn expire(&mut self, now: Time) -> Vec<(PendingId, Response)> {
        let mut due: Vec<(Time, PendingId, String)> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.deadline <= now)
            .map(|(c, w)| (w.deadline, w.id, c.clone()))
            .collect();
        due.sort();
        due.into_iter()
            .map(|(_, id, correlation_id)| {
                self.waiting.remove(&correlation_id);
                (id, timeout_response(&correlation_id))
            })
            .collect()
    }

    /// The earliest deadline, if any message waits.
    pub fn next_deadline(&self) -> Option<Time> {
        self.waiting.values().map(|w| w.deadline).min()
    }

    /// Whether a message with this correlation-id still waits for its reply.
    pub fn waits(&self, correlation_id: &str) -> bool {
        self.waiting.contains_key(correlation_id)
    }

    /// Number of messages waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }
}

/// The reply as an HTTP answer: its status; no body with 204 or without a
/// value; a string value of a `text/*` reply as the text itself, any other
/// value as JSON (ditto.md §1 "`value` is read by `content-type`").
fn http_of_reply(reply: &Envelope) -> Response {
    let status = reply.status.unwrap_or(200);
    let mut response = Response::status(status);
    let value = match &reply.value {
        Some(v) if status != 204 => v,
        _ => return response,
    };
    let content_type = reply.headers.content_type().unwrap_or("application/json");
    let bytes = match value {
        Value::String(s) if content_type.starts_with("text/") => s.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    };
    response
        .headers
        .insert("content-type", content_type.to_owned());
    response.body = Body::Bytes(bytes.into());
    response
}

/// 408 with a Ditto error body (code inferred; ditto.md §2 "Messages").
fn timeout_response(correlation_id: &str) -> Response {
    let error = DittoError::new(
        408,
        "acknowledgement:request.timeout",
        format!("The request with correlation-id '{correlation_id}' got no reply in time."),
        "Try again later or with a longer timeout.",
    );
    super::error_response(&error)
}
