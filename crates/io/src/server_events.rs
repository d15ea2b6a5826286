//! The server-side event stream of `fleetsim serve` (`GET /fleetsim/events`),
//! shared by the server that writes it (`http_server`) and the real-time
//! driver that reads it (`realtime`): what the embedded server did that no
//! device can see — action status changes, OTAU manifests written, install
//! commands given and fired, cache evictions, the Ditto twin's events — so
//! the oracle can check in real time what it checks in virtual time.
//!
//! The wire format is NDJSON, one [`EventLine`] per line, each with a
//! sequence number (consecutive, from 0) and the scenario time of `serve`'s
//! clock. A reader asks `?from=SEQ` (the next sequence number it has not
//! seen) and, optionally, `&wait_ms=N` to have the request held until
//! something arrives (at most [`MAX_WAIT_MS`]). The server keeps the last
//! [`RING_CAPACITY`] events; a reader that fell further behind first gets a
//! [`ServerSide::Gap`] line saying how many it missed. Headers carry the
//! server's clock ([`NOW_HEADER`], [`EPOCH_HEADER`]) and the next sequence
//! number ([`NEXT_HEADER`]). Every device answer carries [`SEQ_HEADER`]:
//! a reader that applies the events below it before the answer sees them
//! in the order the virtual engine does.
//!
//! The twin's WebSocket frames (`/ws/2`) have no HTTP headers: serve puts
//! the same number in the Ditto headers of every JSON frame it sends
//! ([`stamp_frame`], header [`SEQ_HEADER`], a string as Ditto headers
//! are), read back with [`frame_seq`]. A frame's number is the next
//! event's when the twin made the frame, so the twin events that came
//! before it (a command's event before its response) are numbered below.
//! Plain-text control frames (`START-SEND-…:ACK`) carry none.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use fleetsim_core::ditto::protocol::{
    Channel, Criterion, DittoHeaders, Envelope, EventAction, Pointer, Topic,
};

/// The event route (Basic credentials of the Management API).
pub const EVENTS_PATH: &str = "/fleetsim/events";
/// The gateway statistics route (JSON [`GatewayStats`]; same credentials).
pub const GATEWAY_PATH: &str = "/fleetsim/gateway";
/// Events the server keeps for readers.
pub const RING_CAPACITY: usize = 65_536;
/// Lines in one answer at most (a reader asks again from the next one).
pub const MAX_LINES: usize = 4_096;
/// Longest hold a reader may ask for.
pub const MAX_WAIT_MS: u64 = 5_000;
/// Header: the server's scenario time (ms) when it answered — on the
/// stream's answers, and on every answer the server cores decided (the
/// time they decided at).
pub const NOW_HEADER: &str = "x-fleetsim-now-ms";
/// Header: Unix seconds of the server's scenario time zero (URL `expires` base).
pub const EPOCH_HEADER: &str = "x-fleetsim-epoch-s";
/// Header: the sequence number the next event will have.
pub const NEXT_HEADER: &str = "x-fleetsim-next";
/// Header of every device answer of `serve`: the sequence number the next
/// event had when the answer was made, so every event the request caused
/// is numbered below it.
pub const SEQ_HEADER: &str = "x-fleetsim-event-seq";

/// One event as it travels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLine {
    /// Sequence number (a gap line has the number of the first event kept).
    pub seq: u64,
    /// Scenario time of the server's clock, ms.
    pub at_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub event: ServerSide,
}

/// What the server did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServerSide {
    /// A DDI action's status changed (`from: None`: the action was created).
    Status {
        /// Target of the action.
        controller_id: String,
        /// The action.
        action: u64,
        /// Status before.
        from: Option<String>,
        /// Status after.
        to: String,
        /// The status before was final.
        from_final: bool,
        /// The status after is final.
        to_final: bool,
    },
    /// `config_otau` of OTAU device `device` was written (`None`: of every
    /// device, by the admin route); `campaign` when a campaign wrote it.
    Manifest {
        /// The device number.
        device: Option<u64>,
        /// Index of the campaign.
        campaign: Option<usize>,
    },
    /// A campaign gave its install command to constrained device `device`.
    Command {
        /// The device number.
        device: u64,
        /// Index of the campaign.
        campaign: usize,
    },
    /// The sidekick fired an install command at the device (`reissue`: again,
    /// on an online event).
    Fired {
        /// The device number.
        device: u64,
        /// Command index.
        command: usize,
        /// Fired again.
        reissue: bool,
    },
    /// A command was dropped because the device was offline.
    Dropped {
        /// The device number.
        device: u64,
        /// Command index.
        command: usize,
    },
    /// The device's result reached the gateway.
    Finished {
        /// The device number.
        device: u64,
        /// Command index.
        command: usize,
        /// Installed.
        ok: bool,
    },
    /// An artifact left the cache while `needed_by` pending installs needed it.
    Evicted {
        /// Its checksum.
        sha256: String,
        /// Pending installs that needed it.
        needed_by: u32,
    },
    /// The Ditto twin emitted an event (`…/things/twin/events/<action>`),
    /// with what the oracle's TWIN-LOST, -DUP, -ORDER and -ID checks read
    /// of it: thing ID, action, path and `correlation-id` (the value is
    /// left out). The thing ID travels as it is, not in a topic string: a
    /// broken twin's IDs may hold `/`.
    TwinEvent {
        /// The thing's ID as the event reports it (`namespace:name`).
        thing_id: String,
        /// The event's action (`created`, `modified`, `deleted`, …).
        action: String,
        /// The JSON pointer it changed.
        path: String,
        /// `correlation-id` of the command that caused it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        correlation_id: Option<String>,
    },
    /// The reader asked for events the server no longer keeps.
    Gap {
        /// How many it missed.
        missed: u64,
    },
}

impl ServerSide {
    /// The line of twin event `event` (`None` for a signal that is no event).
    pub fn twin_event(event: &Envelope) -> Option<ServerSide> {
        let Criterion::Events(action) = event.topic.criterion else {
            return None;
        };
        Some(ServerSide::TwinEvent {
            thing_id: event.topic.thing_id(),
            action: action.as_str().to_owned(),
            path: event.path.to_string(),
            correlation_id: event.correlation_id().map(str::to_owned),
        })
    }

    /// The twin event of a [`ServerSide::TwinEvent`] line, as an envelope
    /// without value; `None` for other lines and for an action or path
    /// that does not parse.
    pub fn twin_envelope(&self) -> Option<Envelope> {
        let ServerSide::TwinEvent {
            thing_id,
            action,
            path,
            correlation_id,
        } = self
        else {
            return None;
        };
        let headers = match correlation_id {
            Some(id) => DittoHeaders::correlated(id),
            None => DittoHeaders::new(),
        };
        let criterion = Criterion::Events(EventAction::parse(action)?);
        let topic = Topic::thing(thing_id, Channel::Twin, criterion);
        let path = Pointer::parse(path).ok()?;
        Some(Envelope::new(topic, headers, path))
    }
}

/// `text` (a frame serve sends on `/ws/2`) with [`SEQ_HEADER`] set to `seq`
/// in its Ditto headers; a frame that is not a JSON object is returned as
/// it is.
pub fn stamp_frame(text: String, seq: u64) -> String {
    if !text.starts_with('{') {
        return text;
    }
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(&text) else {
        return text;
    };
    let headers = map
        .entry("headers")
        .or_insert_with(|| Value::Object(Default::default()));
    let Value::Object(headers) = headers else {
        return text;
    };
    headers.insert(SEQ_HEADER.to_owned(), Value::String(seq.to_string()));
    Value::Object(map).to_string()
}

/// The [`SEQ_HEADER`] number serve stamped on a frame, if any.
pub fn frame_seq(text: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct Stamped {
        #[serde(default)]
        headers: BTreeMap<String, Value>,
    }
    if !text.starts_with('{') || !text.contains(SEQ_HEADER) {
        return None;
    }
    let stamped: Stamped = serde_json::from_str(text).ok()?;
    match stamped.headers.get(SEQ_HEADER)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// The gateway's statistics (`GET /fleetsim/gateway`), for the report's
/// gateway section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayStats {
    /// Bytes in the artifact cache now.
    pub cache_bytes: u64,
    /// Most bytes ever in it.
    pub cache_peak_bytes: u64,
    /// Artifacts fetched into it.
    pub cache_fetches: u64,
    /// Artifacts evicted from it.
    pub cache_evictions: u64,
    /// The sidekick's counters.
    pub counters: fleetsim_core::server::constrained::GatewayCounters,
}

/// Parses an NDJSON answer; lines that do not parse are skipped and counted.
pub fn parse_lines(body: &[u8]) -> (Vec<EventLine>, u64) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice(line) {
            Ok(l) => out.push(l),
            Err(_) => bad += 1,
        }
    }
    (out, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_as_ndjson() {
        let lines = [
            EventLine {
                seq: 0,
                at_ms: 5,
                event: ServerSide::Status {
                    controller_id: "d1".into(),
                    action: 7,
                    from: None,
                    to: "RUNNING".into(),
                    from_final: false,
                    to_final: false,
                },
            },
            EventLine {
                seq: 1,
                at_ms: 9,
                event: ServerSide::Fired {
                    device: 3,
                    command: 0,
                    reissue: true,
                },
            },
        ];
        let mut body = Vec::new();
        for l in &lines {
            body.extend(serde_json::to_vec(l).unwrap_or_default());
            body.push(b'\n');
        }
        body.extend(b"not json\n");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(r#""kind":"fired""#), "{text}");
        assert_eq!(parse_lines(&body), (lines.to_vec(), 1));
    }

    #[test]
    fn twin_events_travel_as_thing_action_path_and_correlation_id() {
        let text = r#"{"topic":"org.acme/gw-1%3Ax/things/twin/events/modified","headers":{"correlation-id":"gw-1-7"},"path":"/features/Configuration/properties/configuration/mode","value":"on","revision":3}"#;
        let event = Envelope::parse(text.as_bytes()).expect("an event");
        let line = EventLine {
            seq: 4,
            at_ms: 1000,
            event: ServerSide::twin_event(&event).expect("an event"),
        };
        let json = serde_json::to_string(&line).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"seq":4,"at_ms":1000,"kind":"twin_event","thing_id":"org.acme:gw-1%3Ax","action":"modified","path":"/features/Configuration/properties/configuration/mode","correlation_id":"gw-1-7"}"#
        );
        let (back, bad) = parse_lines(json.as_bytes());
        assert_eq!((back.as_slice(), bad), (std::slice::from_ref(&line), 0));
        let again = back[0].event.twin_envelope().expect("an envelope");
        assert_eq!(again.topic, event.topic);
        assert_eq!(again.path, event.path);
        assert_eq!(again.correlation_id(), Some("gw-1-7"));
        assert_eq!(again.value, None);
        // A broken twin's decoded ID holds `/` and a space: it travels as it is.
        let mut decoded = event.clone();
        decoded.topic = Topic::thing(
            "org.acme:gw-1:cam 3/left",
            Channel::Twin,
            Criterion::Events(EventAction::Deleted),
        );
        decoded.path = Pointer::root();
        let side = ServerSide::twin_event(&decoded).expect("an event");
        let env = side.twin_envelope().expect("an envelope");
        assert_eq!(env.topic.thing_id(), "org.acme:gw-1:cam 3/left");
        assert_eq!(env.topic, decoded.topic);
        assert!(env.path.is_root());
        // Without a correlation-id the field is left out, and read back as none.
        let bare = r#"{"seq":5,"at_ms":1,"kind":"twin_event","thing_id":"a:b","action":"deleted","path":"/"}"#;
        let (lines, _) = parse_lines(bare.as_bytes());
        let env = lines[0].event.twin_envelope().expect("an envelope");
        assert_eq!(env.correlation_id(), None);
        assert_eq!(env.topic.criterion, Criterion::Events(EventAction::Deleted));
        // What is not an event does not travel; what does not parse is no event.
        let command = Envelope::twin_command(
            "a:b",
            fleetsim_core::ditto::protocol::CommandAction::Modify,
            Pointer::root(),
            None,
            "c",
        );
        assert_eq!(ServerSide::twin_event(&command), None);
        let broken = |action: &str, path: &str| ServerSide::TwinEvent {
            thing_id: "a:b".into(),
            action: action.into(),
            path: path.into(),
            correlation_id: None,
        };
        assert!(broken("exploded", "/").twin_envelope().is_none());
        assert!(broken("modified", "no-slash").twin_envelope().is_none());
        assert!(ServerSide::Gap { missed: 1 }.twin_envelope().is_none());
    }

    #[test]
    fn frames_carry_the_event_number_in_their_ditto_headers() {
        let response = r#"{"topic":"a/b/things/twin/commands/modify","headers":{"correlation-id":"c1"},"path":"/","status":204}"#;
        let stamped = stamp_frame(response.to_owned(), 42);
        assert_eq!(frame_seq(&stamped), Some(42));
        let env = Envelope::parse(stamped.as_bytes()).expect("still an envelope");
        assert_eq!(env.correlation_id(), Some("c1"));
        assert_eq!(env.status, Some(204));
        // No headers yet: they are added.
        let bare = stamp_frame(r#"{"topic":"a/b/things/twin/errors","path":"/"}"#.into(), 7);
        assert_eq!(frame_seq(&bare), Some(7));
        // Control frames and frames without a number.
        let ack = "START-SEND-EVENTS:ACK".to_owned();
        assert_eq!(stamp_frame(ack.clone(), 3), ack);
        assert_eq!(frame_seq(&ack), None);
        assert_eq!(frame_seq(response), None);
        assert_eq!(
            frame_seq(r#"{"headers":{"x-fleetsim-event-seq":12}}"#),
            Some(12)
        );
        assert_eq!(
            frame_seq(r#"{"headers":{"x-fleetsim-event-seq":"x"}}"#),
            None
        );
        assert_eq!(frame_seq(r#"{"headers":"x-fleetsim-event-seq"}"#), None);
        assert_eq!(frame_seq(r#"{"x-fleetsim-event-seq" broken"#), None);
    }
}
