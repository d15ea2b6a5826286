//! What the oracle's TWIN-* checks are fed, logged by the edge client
//! loop ([`Loop`]) when its `record` is on (`oracle/twin_tests.rs` feeds
//! it to an oracle in the order it happened).

use std::collections::BTreeMap;

use serde_json::Value;

use super::super::change::twin;
use super::super::client::EdgeEvent;
use super::super::mapping::gateway_thing_id;
use super::super::model::GatewayRuntime;
use super::client_loop::Loop;
use crate::ditto::protocol::{Criterion, Envelope};

/// The logs; each entry with the number of client events before it.
#[derive(Default)]
pub(crate) struct Record {
    /// Twin events (the hub's `take_events`).
    pub twin_log: Vec<(usize, Envelope)>,
    /// Live messages handed to the device.
    pub delivered_log: Vec<(usize, Envelope)>,
    /// At each `TwinSynced` (counting it): the runtime and what the twin
    /// holds for the gateway then (`TwinService::gateway_things`).
    pub synced_log: Vec<(usize, GatewayRuntime, BTreeMap<String, Value>)>,
}

impl Loop {
    /// Logs the twin's events since the last call.
    pub(super) fn log_events(&mut self) {
        let marker = self.events.len();
        if let Some(r) = &mut self.record {
            let events = self.hub.take_events();
            r.twin_log.extend(events.into_iter().map(|e| (marker, e)));
        }
    }

    /// Logs a frame to the device if it is a live message.
    pub(super) fn log_delivery(&mut self, text: &str) {
        let marker = self.events.len();
        let Some(r) = &mut self.record else {
            return;
        };
        let Ok(env) = Envelope::parse(text.as_bytes()) else {
            return;
        };
        if matches!(env.topic.criterion, Criterion::Messages(_)) && !env.is_response() {
            r.delivered_log.push((marker, env));
        }
    }

    /// After the client handled a frame (its events from `before` on):
    /// at a `TwinSynced`, logs the runtime and the twin's things.
    pub(super) fn log_synced(&mut self, before: usize) {
        let synced = self.events[before..]
            .iter()
            .position(|e| matches!(e, EdgeEvent::TwinSynced { .. }));
        let (Some(at), Some(r)) = (synced, &mut self.record) else {
            return;
        };
        let rt = self.client.runtime().clone();
        let expected = twin(&rt);
        let gateway = gateway_thing_id(rt.namespace(), rt.serial());
        let service = self.hub.service();
        let things = service.gateway_things(&gateway, expected.keys().map(String::as_str));
        r.synced_log.push((before + at + 1, rt, things));
    }
}
