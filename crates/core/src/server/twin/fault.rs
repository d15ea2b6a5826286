//! Broken twin modes: one deliberate bug per TWIN-* invariant of the
//! oracle (`crate::oracle::InvariantId`), so that each invariant has a twin
//! that makes it fire. All are deterministic (no RNG): a mode that hits
//! "some" commands hits every [`FAULT_EVERY`]th *change* — a twin command
//! beneath a feature's `properties` (`ModifyFeatureProperties`,
//! `ModifyFeatureProperty`, and their deletes), the commands a gateway
//! sends for changes while connected and replays from its offline buffer
//! after a reconnect; the first-connect `ModifyThing`s are never hit.
//!
//! In scenarios they are server fault modes ([`crate::server::Fault`],
//! names `twin_*`, see [`TwinFaults::NAMES`]), turned into a [`TwinFaults`]
//! by `Server::twin_faults_at` and handed to the twin with
//! [`super::TwinService::set_faults`] (or [`super::TwinConfig::faults`]).

use crate::ditto::id::decode;

/// A mode that hits "some" changes hits the 1st, then every this many.
pub const FAULT_EVERY: u64 = 3;

/// The broken twin modes in force (all off by default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TwinFaults {
    /// `twin_drop_change`: a hit change is answered `204` and not applied
    /// (no store change, no event) — TWIN-LOST.
    pub drop_change: bool,
    /// `twin_reorder_change`: a hit change is answered `204` at once but
    /// held, and applied right after the next command on the same thing
    /// (a change is not hit while another one of its thing is held; one
    /// that no later command of its thing releases is never applied, which
    /// TWIN-LOST sees) — TWIN-ORDER.
    pub reorder_change: bool,
    /// `twin_apply_twice`: a hit change is applied twice (two events with
    /// its correlation-id, one response) — TWIN-DUP.
    pub apply_twice: bool,
    /// `twin_encode_colon`: thing IDs are stored (and reported: `thingId`,
    /// event and live message topics) with every `:` after the namespace's
    /// encoded as `%3A`; lookups by the right ID still find them — TWIN-ID.
    pub encode_colon: bool,
    /// `twin_lose_percent_encoding`: thing IDs are stored (and reported)
    /// percent-decoded (`gw%201` becomes `gw 1`); lookups by the right ID
    /// still find them — TWIN-ID.
    pub lose_percent: bool,
    /// `twin_deliver_messages_twice`: each inbox message posted over HTTP
    /// goes to the gateway twice, the second time under the correlation-id
    /// `<id>-again` — TWIN-ONCE.
    pub deliver_twice: bool,
    /// `twin_push_writes`: an HTTP `PUT` of
    /// `…/features/{f}/properties/configuration/{p}` is also sent to the
    /// gateway as a `$set.configuration/{p}` live message — TWIN-NOPUSH.
    pub push_writes: bool,
}

impl TwinFaults {
    /// The scenario names of the modes, in field order.
    pub const NAMES: [&'static str; 7] = [
        "twin_drop_change",
        "twin_reorder_change",
        "twin_apply_twice",
        "twin_encode_colon",
        "twin_lose_percent_encoding",
        "twin_deliver_messages_twice",
        "twin_push_writes",
    ];

    /// The modes with `name` switched on; `None` for an unknown name.
    pub fn with_name(mut self, name: &str) -> Option<TwinFaults> {
        let flag = match name {
            "twin_drop_change" => &mut self.drop_change,
            "twin_reorder_change" => &mut self.reorder_change,
            "twin_apply_twice" => &mut self.apply_twice,
            "twin_encode_colon" => &mut self.encode_colon,
            "twin_lose_percent_encoding" => &mut self.lose_percent,
            "twin_deliver_messages_twice" => &mut self.deliver_twice,
            "twin_push_writes" => &mut self.push_writes,
            _ => return None,
        };
        *flag = true;
        Some(self)
    }

    /// The one mode `name` (see [`TwinFaults::NAMES`]).
    pub fn from_name(name: &str) -> Option<TwinFaults> {
        TwinFaults::default().with_name(name)
    }

    /// Whether any mode is on.
    pub fn any(&self) -> bool {
        *self != TwinFaults::default()
    }

    /// Whether a mode that changes how thing IDs are stored is on.
    pub(super) fn rewrites_ids(&self) -> bool {
        self.encode_colon || self.lose_percent
    }

    /// The ID a thing addressed as `id` is stored and reported under.
    pub(super) fn stored_id(&self, id: &str) -> String {
        let mut out = id.to_owned();
        if self.lose_percent {
            out = decode(&out).unwrap_or(out);
        }
        if self.encode_colon {
            if let Some((namespace, name)) = out.split_once(':') {
                out = format!("{namespace}:{}", name.replace(':', "%3A"));
            }
        }
        out
    }
}

/// Whether a command's path (segments) lies beneath a feature's
/// `properties`: a change the hit modes count.
pub(super) fn is_change(segments: &[String]) -> bool {
    segments.len() >= 3 && segments[0] == "features" && segments[2] == "properties"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_ids_are_rewritten() {
        for name in TwinFaults::NAMES {
            let f = TwinFaults::from_name(name).expect("known");
            assert!(f.any(), "{name}");
        }
        assert_eq!(TwinFaults::from_name("twin_nope"), None);
        let colon = TwinFaults::from_name("twin_encode_colon").expect("known");
        assert_eq!(colon.stored_id("org.acme:gw-1"), "org.acme:gw-1");
        assert_eq!(
            colon.stored_id("org.acme:gw-1:da:x"),
            "org.acme:gw-1%3Ada%3Ax"
        );
        let lose = TwinFaults::from_name("twin_lose_percent_encoding").expect("known");
        assert_eq!(
            lose.stored_id("org.acme:gw%201:cam%2F1"),
            "org.acme:gw 1:cam/1"
        );
        assert!(is_change(&[
            "features".into(),
            "F".into(),
            "properties".into()
        ]));
        assert!(!is_change(&["features".into(), "F".into()]));
    }
}
