//! The TWIN-* invariants: gateways with edge devices and their Ditto twin
//! (seed 002, ditto.md).
//!
//! The oracle never looks inside the twin service; it is fed what can be
//! observed around it (all calls on [`super::Oracle`], `twin_*`):
//! - what each gateway's edge client observed ([`EdgeEvent`]s: commands
//!   sent, answered, refused; live messages applied; `TwinSynced`);
//! - the twin's events ([`Envelope`]s on `…/things/twin/events/…`), each
//!   carrying the `correlation-id` of the command that caused it — the
//!   gateway's commands' ids are `<serial>-<counter>`, which names the
//!   gateway and the command's place in its issue order;
//! - the live messages delivered to a gateway, the `$set.configuration`
//!   commands a backend posted and the writes it made through the twin's
//!   HTTP API;
//! - at a quiet period, the gateway's runtime and what the twin answers for
//!   its things (`twin_synced`, see `twin_sync.rs`).
//!
//! | ID | fed by | fires when |
//! |---|---|---|
//! | TWIN-LOST | `CommandAnswered` 2xx, twin events | a command answered 2xx has no event with its correlation-id by the gateway's next `TwinSynced` |
//! | TWIN-DUP | `CommandSent`, twin events | a command has more events than sends (first send + resends) |
//! | TWIN-ORDER | twin events | on one thing and exact path, an event's counter is below one applied before |
//! | TWIN-ID | twin events, synced things | a reported thing ID is not `<ns>:<serial>` or `<ns>:<serial>:<canonically encoded rest>` |
//! | TWIN-ONCE | posts, deliveries, `MessageApplied` | a `$set.configuration` is applied more often than it was posted |
//! | TWIN-NOPUSH | twin-side writes, deliveries, `MessageApplied` | the device applies a twin-written value nobody posted |
//! | TWIN-CONVERGE | `twin_synced` | the twin differs from the mapping of the runtime (twin-side writes excused) |
//!
//! Soundness notes (a correct twin and a correct edge client never fire):
//! - Events precede answers: the twin queues a command's event before its
//!   response, and the driver feeds each event when it polls it, before the
//!   response can reach the gateway. So an event-less 2xx at `TwinSynced`
//!   (nothing in flight) was lost. Ditto emits an event for every
//!   successful modify, equal value or not (`if-equal` defaults to
//!   `update`), so a no-op modify is no excuse. The event checks start with
//!   the first [`TwinOracle::event`] call: a driver that feeds events feeds
//!   all of them.
//! - Order: the edge client sends a command only when no earlier
//!   unanswered command overlaps its path (`edge::client::queue`), so two
//!   commands on one exact path are never unanswered together, and a
//!   resend keeps its id. Only the exact path is compared: a feature
//!   re-created after `feature.notfound` gets a fresh (higher) id while a
//!   disjoint property command of that feature, issued earlier, may still be
//!   in flight — legitimately applied after it. And a re-create is queued
//!   *ahead* of the older commands waiting behind the one that missed
//!   (`EdgeEvent::Recreated`), so its counter says nothing about order: it
//!   is neither checked nor recorded.
//! - Memory per gateway is bounded: a command's counts are dropped once it
//!   is answered and every send is accounted for (at most [`LINGER`] kept
//!   otherwise), per-path counters are hashes (cleared past [`MAX_PATHS`],
//!   which only forgets), posts, deliveries and twin-written values are
//!   capped. Forgetting never fires anything, except an evicted post
//!   ([`MAX_POSTS`] outstanding ones per gateway) applied later.
//! - TWIN-ONCE counts by content, which a twin cannot forge: each post
//!   adds one to its (thing, feature, property, `new_value`); each
//!   delivered `$set.configuration` the device applies (2xx) takes one
//!   off; one with nothing left to take fires (TWIN-NOPUSH instead when the
//!   value was written twin-side at that property). A twin that redelivers a
//!   message under a new correlation-id thus fires, a redelivery under the
//!   same id is the gateway's to answer from memory, and a backend posting
//!   the same value twice may see it applied twice. A backend that wants
//!   every post told apart makes each `new_value` unique. "At least once"
//!   is not checked: Ditto's live messages are at most once, unretained.
//! - A gateway whose command was refused (4xx, not retried) is no longer
//!   checked for convergence: it knowingly left its twin behind.
//! - A gateway's client must keep its counter for the registration's
//!   lifetime: register it again ([`TwinOracle::register`]) when it restarts.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::Value;

use super::InvariantId;
use crate::ditto::protocol::{Criterion, Envelope, EventAction, Pointer};
use crate::protocol::edge::mapping::gateway_thing_id;
use crate::protocol::edge::{EdgeEvent, GatewayRuntime};

#[path = "twin_sync.rs"]
mod sync;

pub use sync::canonical_thing_id;

/// A violation: which invariant, and what was seen.
pub type Finding = (InvariantId, String);

/// Answered commands whose sends are not all accounted for, kept per gateway.
pub const LINGER: usize = 256;
/// Per-path order counters kept per gateway before they are forgotten.
pub const MAX_PATHS: usize = 16_384;
/// Outstanding posted commands kept per gateway.
pub const MAX_POSTS: usize = 1024;
/// Twin-written configuration values (for TWIN-NOPUSH) kept per gateway.
const MAX_WRITTEN: usize = 4096;
/// Twin-side writes excused in TWIN-CONVERGE per gateway; past it the
/// gateway is no longer checked for convergence.
const MAX_EXCUSES: usize = 4096;
/// Live messages delivered and not yet applied, per gateway.
const MAX_DELIVERED: usize = 256;
/// Distinct bad thing IDs reported per gateway.
const MAX_BAD_IDS: usize = 64;

/// What the oracle knows of one command (by counter).
#[derive(Clone, Copy, Debug, Default)]
struct Sent {
    sends: u32,
    applied: u32,
    answered: bool,
    /// A re-create after `…notfound`: queued ahead of older commands.
    recreate: bool,
}

/// Per-gateway state.
#[derive(Debug, Default)]
pub(super) struct Gateway {
    /// Controller id (for violations).
    pub(super) controller_id: String,
    serial: String,
    /// `<namespace>:<encoded serial>`.
    thing_id: String,
    commands: BTreeMap<u64, Sent>,
    lingering: VecDeque<u64>,
    /// Answered 2xx without an event yet.
    unapplied: BTreeSet<u64>,
    /// (hash of thing ID, hash of path) → last counter applied.
    last: BTreeMap<(u64, u64), u64>,
    bad_ids: BTreeSet<String>,
    sync_due: bool,
    refused: bool,
    /// Twin-side writes: (thing ID, path) → value written (`None`: deleted).
    excuses: BTreeMap<(String, Vec<String>), Option<Value>>,
    excuses_overflowed: bool,
    written: BTreeSet<u64>,
    written_order: VecDeque<u64>,
    posted: BTreeMap<u64, u32>,
    posted_order: VecDeque<u64>,
    delivered: BTreeMap<String, u64>,
    delivered_order: VecDeque<String>,
}

/// State of the TWIN-* checks.
#[derive(Debug, Default)]
pub struct TwinOracle {
    pub(super) gateways: BTreeMap<u64, Gateway>,
    by_serial: BTreeMap<String, u64>,
    events_fed: bool,
    every_sync: bool,
}

fn hash(parts: &[&str]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(&[0]);
    }
    h.digest()
}

/// The key of a `$set.configuration`: thing, feature, property, value.
fn command_key(thing_id: &str, feature_id: &str, property: &str, value: &Value) -> u64 {
    hash(&[thing_id, feature_id, property, &value.to_string()])
}

/// Whether `inner` is `outer` or lies beneath it.
fn beneath(inner: &[String], outer: &[String]) -> bool {
    inner.len() >= outer.len() && inner[..outer.len()] == *outer
}

impl Gateway {
    /// The counter of one of this gateway's correlation-ids.
    fn counter(&self, correlation_id: &str) -> Option<u64> {
        let (serial, n) = correlation_id.rsplit_once('-')?;
        (serial == self.serial).then(|| n.parse().ok())?
    }

    /// Forgets a command once every send is accounted for (else keeps it
    /// a while: a resent copy may still be applied).
    fn settle(&mut self, counter: u64) {
        let Some(c) = self.commands.get(&counter) else {
            return;
        };
        if !c.answered {
            return;
        }
        if c.applied >= c.sends {
            self.commands.remove(&counter);
            return;
        }
        self.lingering.push_back(counter);
        while self.lingering.len() > LINGER {
            if let Some(old) = self.lingering.pop_front() {
                if self.commands.get(&old).is_some_and(|c| c.answered) {
                    self.commands.remove(&old);
                }
            }
        }
    }

    fn bad_id(&mut self, id: &str, what: &str) -> Option<Finding> {
        if self.bad_ids.len() >= MAX_BAD_IDS || !self.bad_ids.insert(id.to_owned()) {
            return None;
        }
        let expected = format!("{}[:<encoded Device FI ID>]", self.thing_id);
        Some((
            InvariantId::TwinId,
            format!(
                "the twin reports thing ID `{id}` ({what}), not the seed's encoding {expected}"
            ),
        ))
    }

    fn note_written(&mut self, key: u64) {
        if self.written.insert(key) {
            self.written_order.push_back(key);
        }
        while self.written_order.len() > MAX_WRITTEN {
            if let Some(old) = self.written_order.pop_front() {
                self.written.remove(&old);
            }
        }
    }

    /// Configuration leaves `[features, F, properties, configuration, P]`
    /// of a value written at `path`.
    fn config_leaves(&mut self, thing_id: &str, path: &mut Vec<String>, value: &Value) {
        match (path.len(), value) {
            (5, v) => {
                let shape = path[0] == "features" && path[2] == "properties";
                if shape && path[3] == "configuration" {
                    let key = command_key(thing_id, &path[1], &path[4], v);
                    self.note_written(key);
                }
            }
            (n, Value::Object(map)) if n < 5 => {
                for (k, v) in map {
                    path.push(k.clone());
                    self.config_leaves(thing_id, path, v);
                    path.pop();
                }
            }
            _ => {}
        }
    }
}

impl TwinOracle {
    /// Registers gateway `number` (again after a restart: its state is reset).
    pub fn register(&mut self, number: u64, controller_id: &str, rt: &GatewayRuntime) {
        self.by_serial.insert(rt.serial().to_owned(), number);
        let g = Gateway {
            controller_id: controller_id.to_owned(),
            serial: rt.serial().to_owned(),
            thing_id: gateway_thing_id(rt.namespace(), rt.serial()),
            ..Gateway::default()
        };
        self.gateways.insert(number, g);
    }

    /// Check convergence at every `TwinSynced`, not only the first after a
    /// (re)connect (tests; costs a full comparison per quiet period).
    pub fn check_every_sync(&mut self, on: bool) {
        self.every_sync = on;
    }

    /// The controller id of gateway `number`.
    pub fn controller_id(&self, number: u64) -> Option<&str> {
        self.gateways.get(&number).map(|g| g.controller_id.as_str())
    }

    /// What gateway `number`'s edge client observed.
    pub fn client_event(&mut self, number: u64, event: &EdgeEvent) -> Vec<Finding> {
        let events_fed = self.events_fed;
        let Some(g) = self.gateways.get_mut(&number) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        match event {
            EdgeEvent::SessionReady { .. } => g.sync_due = true,
            EdgeEvent::SessionDown { .. } => {
                g.delivered.clear();
                g.delivered_order.clear();
            }
            EdgeEvent::CommandSent { correlation_id, .. } => {
                if let Some(n) = g.counter(correlation_id) {
                    g.commands.entry(n).or_default().sends += 1;
                }
            }
            EdgeEvent::CommandAnswered {
                correlation_id,
                status,
            } => {
                if let Some(n) = g.counter(correlation_id) {
                    if let Some(c) = g.commands.get_mut(&n) {
                        c.answered = true;
                        if events_fed && (200..300).contains(status) && c.applied == 0 {
                            g.unapplied.insert(n);
                        }
                    }
                    g.settle(n);
                }
            }
            EdgeEvent::Recreated { correlation_id, .. } => {
                if let Some(n) = g.counter(correlation_id) {
                    g.commands.entry(n).or_default().recreate = true;
                }
            }
            EdgeEvent::CommandRefused { correlation_id, .. } => {
                g.refused = true;
                if let Some(n) = g.counter(correlation_id) {
                    if let Some(c) = g.commands.get_mut(&n) {
                        c.answered = true;
                    }
                    g.settle(n);
                }
            }
            EdgeEvent::MessageApplied {
                correlation_id,
                status,
                ..
            } => {
                if let Some(key) = g.delivered.remove(correlation_id) {
                    found.extend(applied(g, key, correlation_id, *status));
                }
            }
            EdgeEvent::MessageDuplicate { correlation_id } => {
                g.delivered.remove(correlation_id);
            }
            EdgeEvent::TwinSynced { .. } => {
                for n in std::mem::take(&mut g.unapplied) {
                    found.push((
                        InvariantId::TwinLost,
                        format!(
                            "command {}-{n} was answered 2xx but the twin never applied it (no event with its correlation-id) by the next quiet period",
                            g.serial
                        ),
                    ));
                }
            }
            _ => {}
        }
        found
    }

    /// A twin event; returns the gateway it concerns (by the correlation-id
    /// of the command that caused it) and what it breaks. Events of other
    /// causes (HTTP writes, other clients) are not judged.
    pub fn event(&mut self, event: &Envelope) -> Option<(u64, Vec<Finding>)> {
        let Criterion::Events(action) = event.topic.criterion else {
            return None;
        };
        self.events_fed = true;
        let correlation_id = event.correlation_id()?;
        let (serial, _) = correlation_id.rsplit_once('-')?;
        let number = *self.by_serial.get(serial)?;
        let g = self.gateways.get_mut(&number)?;
        let n = g.counter(correlation_id)?;
        let thing = event.topic.thing_id();
        let mut found = Vec::new();
        if !canonical_thing_id(&thing, &g.thing_id) {
            found.extend(g.bad_id(&thing, "in an event's topic"));
        }
        let recreate = g.commands.get(&n).is_some_and(|c| c.recreate);
        if let Some(c) = g.commands.get_mut(&n) {
            c.applied += 1;
            if c.applied > c.sends {
                found.push((
                    InvariantId::TwinDup,
                    format!(
                        "the twin applied command {correlation_id} (on {thing} {}) {} times; the gateway sent it {} times",
                        event.path, c.applied, c.sends
                    ),
                ));
            }
            g.settle(n);
        }
        g.unapplied.remove(&n);
        if !recreate {
            found.extend(order(g, &thing, event, action, n));
        }
        let path = event.path.segments();
        g.excuses
            .retain(|(t, p), _| !(t == &thing && beneath(p, path)));
        Some((number, found))
    }

    /// A live message delivered to gateway `number` (before its client
    /// handles it).
    pub fn message_delivered(&mut self, number: u64, message: &Envelope) {
        let Some(g) = self.gateways.get_mut(&number) else {
            return;
        };
        let Criterion::Messages(subject) = &message.topic.criterion else {
            return;
        };
        let (Some(property), Some(id)) = (
            subject.strip_prefix("$set.configuration/"),
            message.correlation_id(),
        ) else {
            return;
        };
        let feature = match message.path.segments() {
            [f, id, ..] if f == "features" => id.as_str(),
            _ => return,
        };
        let new_value = message.value.as_ref().and_then(|v| v.get("new_value"));
        let value = new_value.cloned().unwrap_or(Value::Null);
        let key = command_key(&message.topic.thing_id(), feature, property, &value);
        if g.delivered.insert(id.to_owned(), key).is_none() {
            g.delivered_order.push_back(id.to_owned());
        }
        while g.delivered_order.len() > MAX_DELIVERED {
            if let Some(old) = g.delivered_order.pop_front() {
                g.delivered.remove(&old);
            }
        }
    }

    /// A backend posted `$set.configuration/<property>` with `new_value`
    /// to `thing_id`'s feature `feature_id` (gateway `number`).
    pub fn command_posted(
        &mut self,
        number: u64,
        thing_id: &str,
        feature_id: &str,
        property: &str,
        new_value: &Value,
    ) {
        let Some(g) = self.gateways.get_mut(&number) else {
            return;
        };
        let key = command_key(thing_id, feature_id, property, new_value);
        *g.posted.entry(key).or_insert(0) += 1;
        g.posted_order.push_back(key);
        while g.posted_order.len() > MAX_POSTS {
            if let Some(old) = g.posted_order.pop_front() {
                unpost(g, old);
            }
        }
    }

    /// A backend wrote `value` (`None`: deleted) at `path` of `thing_id`
    /// through the twin's HTTP API (answered 2xx).
    pub fn written(&mut self, number: u64, thing_id: &str, path: &Pointer, value: Option<&Value>) {
        let Some(g) = self.gateways.get_mut(&number) else {
            return;
        };
        let at = path.segments().to_vec();
        g.excuses
            .retain(|(t, p), _| !(t == thing_id && beneath(p, &at)));
        if g.excuses.len() >= MAX_EXCUSES {
            g.excuses_overflowed = true;
        } else {
            g.excuses
                .insert((thing_id.to_owned(), at.clone()), value.cloned());
        }
        if let Some(v) = value {
            let mut path = at;
            g.config_leaves(thing_id, &mut path, v);
        }
    }

    /// Whether gateway `number`'s next `TwinSynced` is checked for
    /// convergence (so a driver builds the twin's view only then).
    pub fn sync_due(&self, number: u64) -> bool {
        self.gateways
            .get(&number)
            .is_some_and(|g| (g.sync_due || self.every_sync) && !g.refused && !g.excuses_overflowed)
    }

    /// The gateway's quiet period: `rt` is its runtime, `things` what the
    /// twin answers for its things (see [`super::Oracle::twin_synced`]).
    pub fn synced(
        &mut self,
        number: u64,
        rt: &GatewayRuntime,
        things: &BTreeMap<String, Value>,
    ) -> Vec<Finding> {
        if !self.sync_due(number) {
            return Vec::new();
        }
        let Some(g) = self.gateways.get_mut(&number) else {
            return Vec::new();
        };
        g.sync_due = false;
        sync::check(g, rt, things)
    }
}

/// Drops one outstanding post of `key`.
fn unpost(g: &mut Gateway, key: u64) {
    if let Some(n) = g.posted.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            g.posted.remove(&key);
        }
    }
}

/// The device answered the delivered `$set.configuration` with key `key`.
fn applied(g: &mut Gateway, key: u64, correlation_id: &str, status: u16) -> Option<Finding> {
    if g.posted.contains_key(&key) {
        unpost(g, key);
        if let Some(at) = g.posted_order.iter().position(|k| *k == key) {
            g.posted_order.remove(at);
        }
        return None;
    }
    if !(200..300).contains(&status) {
        return None;
    }
    if g.written.contains(&key) {
        return Some((
            InvariantId::TwinNopush,
            format!("the device applied live message {correlation_id}: a value written twin-side (HTTP API), which no one posted as a command, was pushed to the device"),
        ));
    }
    Some((
        InvariantId::TwinOnce,
        format!("the device applied live message {correlation_id}: a $set.configuration applied more often than it was posted"),
    ))
}

/// TWIN-ORDER on the event's exact path; a deleted thing forgets its paths.
fn order(
    g: &mut Gateway,
    thing: &str,
    event: &Envelope,
    action: EventAction,
    n: u64,
) -> Option<Finding> {
    let t = hash(&[thing]);
    let key = (t, hash(&[&event.path.to_string()]));
    if action == EventAction::Deleted && event.path.is_root() {
        let stale: Vec<(u64, u64)> = g
            .last
            .range((t, 0)..=(t, u64::MAX))
            .map(|(k, _)| *k)
            .collect();
        stale.iter().for_each(|k| {
            g.last.remove(k);
        });
    }
    let last = g.last.get(&key).copied();
    if last.is_some_and(|l| n < l) {
        return Some((
            InvariantId::TwinOrder,
            format!(
                "on {thing} {} the twin applied command {}-{n} after {}-{}, which the gateway issued later",
                event.path,
                g.serial,
                g.serial,
                last.unwrap_or_default()
            ),
        ));
    }
    if g.last.len() >= MAX_PATHS {
        g.last.clear();
    }
    g.last.insert(key, n);
    None
}

#[cfg(test)]
#[path = "twin_tests.rs"]
mod tests;
