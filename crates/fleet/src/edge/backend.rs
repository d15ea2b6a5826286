//! The backend's side of an edge gateway, as both drivers play it (the
//! virtual engine against the embedded twin, the real-time driver against
//! `fleetsim serve` over HTTP): which thing it addresses, the request it
//! sends, and what the oracle is told of it. Pure: the drivers carry the
//! requests and count the answers ([`BackendCounts::answer`]).
//!
//! - A `$set.configuration` command: `POST
//!   …/things/{thingId}/features/Configuration/inbox/messages/$set.configuration/interval`
//!   with `{"new_value": 1000 + n}` (a value no other command of the
//!   gateway uses, so TWIN-ONCE tells posts apart), `timeout=10` when the
//!   gateway is connected (the gateway's reply is the answer), `timeout=0`
//!   otherwise (202, delivered when it is back); header `correlation-id`
//!   `<serial>-backend-<n>`.
//! - A twin-side write: `PUT …/features/Configuration/properties/configuration/mode`
//!   with `"twin-write-<n>"` (seed 002: not reflected on the device).

use serde_json::{json, Value};

use super::activity::Activity;
use super::stats::BackendCounts;
use fleetsim_core::ditto::protocol::Pointer;
use fleetsim_core::message::{percent_encode, Body, Method, Request};
use fleetsim_core::oracle::Oracle;
use fleetsim_core::protocol::edge::{GatewayRuntime, Scope};

/// Seconds a backend waits for a connected gateway's answer to a command.
pub const COMMAND_TIMEOUT_S: u64 = 10;
/// The feature commands and writes address.
const FEATURE: &str = "Configuration";
/// The property commands set.
const COMMAND_PROPERTY: &str = "interval";
/// The property twin-side writes set.
const WRITE_PROPERTY: &str = "mode";

/// A random edge device of `rt` whose thing the backend can address
/// (`known(thing ID)`: the twin has it, as far as the driver can tell):
/// its thing ID. Draws from `activity` whether or not the thing is known.
pub fn target(
    activity: &mut Activity,
    rt: &GatewayRuntime,
    known: impl FnOnce(&str) -> bool,
) -> Option<String> {
    let device = activity.pick_device(rt)?;
    let thing = Scope::Device(device).thing_id(rt);
    known(&thing).then_some(thing)
}

/// A `$set.configuration` command of the backend and what the oracle is
/// told when the twin takes it.
#[derive(Clone, Debug)]
pub struct Command {
    /// The request (to `origin`, without credentials).
    pub request: Request,
    /// The addressed thing.
    pub thing_id: String,
    /// The value asked for.
    pub new_value: Value,
}

impl Command {
    /// The backend's `seq`-th command (from 1) of gateway `serial`, to
    /// `thing_id` at `origin` (`http://host:port`); `connected`: the
    /// gateway has a session (the backend waits for its answer).
    pub fn new(origin: &str, thing_id: &str, serial: &str, seq: u64, connected: bool) -> Command {
        let timeout = if connected { COMMAND_TIMEOUT_S } else { 0 };
        let url = format!(
            "{origin}/api/2/things/{}/features/{FEATURE}/inbox/messages/$set.configuration/{COMMAND_PROPERTY}?timeout={timeout}",
            percent_encode(thing_id)
        );
        let new_value = json!(1000 + seq);
        let mut request = json_request(Method::Post, url, &json!({ "new_value": new_value }));
        request
            .headers
            .insert("correlation-id", format!("{serial}-backend-{seq}"));
        Command {
            request,
            thing_id: thing_id.to_owned(),
            new_value,
        }
    }

    /// Tells the oracle gateway `number`'s twin took the command (TWIN-ONCE).
    pub fn tell(&self, oracle: &mut Oracle, number: u64) {
        oracle.twin_command_posted(
            number,
            &self.thing_id,
            FEATURE,
            COMMAND_PROPERTY,
            &self.new_value,
        );
    }
}

/// A twin-side write of the backend and what the oracle is told when the
/// twin answers it 2xx.
#[derive(Clone, Debug)]
pub struct TwinWrite {
    /// The request (to `origin`, without credentials).
    pub request: Request,
    /// The written thing.
    pub thing_id: String,
    /// The value written.
    pub value: Value,
}

impl TwinWrite {
    /// The backend's `seq`-th twin-side write (from 1), to `thing_id` at `origin`.
    pub fn new(origin: &str, thing_id: &str, seq: u64) -> TwinWrite {
        let value = Value::String(format!("twin-write-{seq}"));
        let url = format!(
            "{origin}/api/2/things/{}/features/{FEATURE}/properties/configuration/{WRITE_PROPERTY}",
            percent_encode(thing_id)
        );
        TwinWrite {
            request: json_request(Method::Put, url, &value),
            thing_id: thing_id.to_owned(),
            value,
        }
    }

    /// Tells the oracle the twin of gateway `number` took the write (TWIN-NOPUSH,
    /// TWIN-CONVERGE's excuses).
    pub fn tell(&self, oracle: &mut Oracle, number: u64) {
        let path = [
            "features",
            FEATURE,
            "properties",
            "configuration",
            WRITE_PROPERTY,
        ];
        let pointer = Pointer::from_segments(path);
        oracle.twin_written(number, &self.thing_id, &pointer, Some(&self.value));
    }
}

/// A request with a JSON body.
fn json_request(method: Method, url: String, value: &Value) -> Request {
    let mut req = Request::new(method, url);
    req.headers.insert("content-type", "application/json");
    req.body = Body::Bytes(value.to_string().into_bytes().into());
    req
}

impl BackendCounts {
    /// Counts the answer `status` to a command.
    pub fn answer(&mut self, status: u16) {
        match status {
            202 => self.accepted += 1,
            200..=299 => self.answered += 1,
            408 => self.timed_out += 1,
            _ => self.failed += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_and_write_requests() {
        let c = Command::new("http://t", "org.acme:gw 1:x", "gw-1", 3, true);
        assert_eq!(
            c.request.url,
            "http://t/api/2/things/org.acme%3Agw%201%3Ax/features/Configuration/inbox/messages/$set.configuration/interval?timeout=10"
        );
        assert_eq!(
            c.request.headers.get("correlation-id"),
            Some("gw-1-backend-3")
        );
        assert_eq!(c.new_value, json!(1003));
        let c = Command::new("http://t", "a:b", "gw-1", 1, false);
        assert!(c.request.url.ends_with("?timeout=0"));
        let w = TwinWrite::new("http://t", "a:b", 2);
        assert_eq!(w.request.method, Method::Put);
        assert_eq!(w.value, json!("twin-write-2"));
    }
}
