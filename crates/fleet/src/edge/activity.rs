//! What happens at a gateway over a run, apart from its connection: edge
//! devices change property values, leave and join (churn), and the backend
//! sends `$set.configuration` commands and writes straight to the twin.
//!
//! Each kind of act comes at exponentially distributed intervals whose mean
//! the scenario's `gateway:` block sets; all draws come from the gateway's
//! own activity stream ([`crate::rng::activity_stream`]), so a gateway's
//! acts depend only on the seed and its number — not on its link, the
//! server's answers or other gateways.

use crate::rng::Stream;
use rand::Rng;
use serde_json::{json, Value};

use super::model::{edge_device, item_uid, MODES, READ_ONLY};
use crate::scenario::GatewaySpec;
use fleetsim_core::protocol::edge::{FunctionalItem, GatewayRuntime};
use fleetsim_core::time::{Span, Time};

/// One act of a gateway's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// An edge device changes a property value.
    Change,
    /// An edge device leaves and a new one joins.
    Churn,
    /// The backend sends a `$set.configuration` command through the twin.
    Command,
    /// The backend writes a property straight to the twin.
    TwinWrite,
}

const ACTS: [Act; 4] = [Act::Change, Act::Churn, Act::Command, Act::TwinWrite];

/// A property change an edge device makes itself.
#[derive(Clone, Debug, PartialEq)]
pub struct PropertyChange {
    /// The FI.
    pub uid: String,
    /// The property.
    pub key: &'static str,
    /// Its new value.
    pub value: Value,
}

/// Churn at a gateway: an edge device leaves, a new one joins.
#[derive(Clone, Debug)]
pub struct Churn {
    /// The Device FI UID of the device that leaves (none when there is none).
    pub leaving: Option<String>,
    /// The device that joins: its Device FI and items.
    pub joining: (FunctionalItem, Vec<FunctionalItem>),
}

/// The acts still to come at one gateway.
#[derive(Clone, Debug)]
pub struct Activity {
    rng: Stream,
    /// Mean intervals by act (`None`: never; `Change` is per edge device).
    means: [Option<Span>; 4],
    /// When each act is next due.
    next: [Time; 4],
    /// Index of the next edge device to join.
    pub next_device: u64,
}

/// An exponential draw with mean `mean`.
fn exponential(rng: &mut Stream, mean: Span) -> Span {
    let u: f64 = rng.gen();
    let ms = -(mean.as_millis() as f64) * (1.0 - u).ln();
    Span(ms.round().max(1.0) as u64)
}

impl Activity {
    /// The acts of a gateway with `spec`, drawn from `rng`.
    pub fn new(spec: &GatewaySpec, rng: Stream) -> Activity {
        let mean = |d: Option<crate::scenario::Duration>| d.map(|d| d.0);
        let mut activity = Activity {
            rng,
            means: [
                mean(spec.change_every),
                mean(spec.churn_every),
                mean(spec.commands_every),
                mean(spec.twin_writes_every),
            ],
            next: [Time::NEVER; 4],
            next_device: u64::from(spec.edge_devices),
        };
        let devices = u64::from(spec.edge_devices);
        for i in 0..ACTS.len() {
            activity.reschedule(i, Time::ZERO, devices);
        }
        activity
    }

    fn reschedule(&mut self, i: usize, now: Time, devices: u64) {
        self.next[i] = match self.means[i] {
            None => Time::NEVER,
            // Changes: one stream for the whole gateway, `devices` times as frequent.
            Some(mean) if ACTS[i] == Act::Change => match devices {
                0 => now + mean,
                n => now + exponential(&mut self.rng, Span((mean.as_millis() / n).max(1))),
            },
            Some(mean) => now + exponential(&mut self.rng, mean),
        };
    }

    /// When the next act is due.
    pub fn next_at(&self) -> Time {
        self.next.iter().copied().min().unwrap_or(Time::NEVER)
    }

    /// The act due at `now` (the earliest, ties in [`Act`] order), its next
    /// occurrence drawn; `devices` is the gateway's edge-device count now.
    pub fn take_due(&mut self, now: Time, devices: u64) -> Option<Act> {
        let i = (0..ACTS.len())
            .filter(|i| self.next[*i] <= now)
            .min_by_key(|i| self.next[*i])?;
        self.reschedule(i, now, devices);
        Some(ACTS[i])
    }

    /// The Device FI UID of a random edge device of `rt`.
    pub fn pick_device(&mut self, rt: &GatewayRuntime) -> Option<String> {
        let n = rt.devices().len();
        if n == 0 {
            return None;
        }
        let i = self.rng.gen_range(0..n);
        rt.devices().keys().nth(i).cloned()
    }

    /// Churn at `rt`: a random edge device leaves, the next new one joins.
    pub fn churn(&mut self, rt: &GatewayRuntime) -> Churn {
        let leaving = self.pick_device(rt);
        let k = self.next_device;
        self.next_device += 1;
        Churn {
            leaving,
            joining: edge_device(k),
        }
    }

    /// A property change of a random edge device of `rt`: a new sensor
    /// `value`, the `battery` running down (and recharged), or the next `mode`.
    pub fn change(&mut self, rt: &GatewayRuntime) -> Option<PropertyChange> {
        let device = self.pick_device(rt)?;
        let k = edge_index(&device)?;
        let roll: u32 = self.rng.gen_range(0..10);
        let status = item_uid(k, "Status");
        let current = |uid: &str, key: &str| {
            let fi = rt.devices().get(&device)?.items.get(uid)?;
            fi.read_only
                .get(key)
                .or_else(|| fi.writable.get(key))
                .cloned()
        };
        Some(match roll {
            0..=5 => PropertyChange {
                uid: status,
                key: READ_ONLY[0],
                value: json!(self.rng.gen_range(0..1000)),
            },
            6..=8 => {
                let battery = current(&status, READ_ONLY[1])
                    .and_then(|v| v.as_u64())
                    .unwrap_or(100);
                let next = if battery <= 5 { 100 } else { battery - 1 };
                PropertyChange {
                    uid: status,
                    key: READ_ONLY[1],
                    value: json!(next),
                }
            }
            _ => {
                let config = item_uid(k, "Configuration");
                let mode = current(&config, "mode");
                let at = MODES
                    .iter()
                    .position(|m| mode.as_ref().and_then(|v| v.as_str()) == Some(m));
                let next = MODES[at.map_or(0, |i| (i + 1) % MODES.len())];
                PropertyChange {
                    uid: config,
                    key: "mode",
                    value: json!(next),
                }
            }
        })
    }
}

/// The index `k` of an edge device from its Device FI UID
/// (`da:device:<Kind>:<k>[ …]`).
pub fn edge_index(device_uid: &str) -> Option<u64> {
    let last = device_uid.rsplit(':').next()?;
    last.split(' ').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::model::{device_uid, runtime};

    #[test]
    fn acts_come_at_the_configured_rate() {
        let spec = GatewaySpec {
            edge_devices: 10,
            change_every: Some(crate::scenario::Duration(Span::hours(1))),
            commands_every: Some(crate::scenario::Duration(Span::hours(6))),
            ..GatewaySpec::default()
        };
        let mut a = Activity::new(&spec, Stream::new(7, 0));
        let (mut changes, mut commands) = (0, 0);
        let end = Time::ZERO + Span::hours(24 * 10);
        while a.next_at() <= end {
            match a.take_due(a.next_at(), 10) {
                Some(Act::Change) => changes += 1,
                Some(Act::Command) => commands += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        // 10 devices × 240 h ≈ 2400 changes; 40 commands.
        assert!((2200..2600).contains(&changes), "{changes}");
        assert!((25..60).contains(&commands), "{commands}");
    }

    #[test]
    fn changes_touch_existing_properties() {
        let rt = runtime("org.acme", "gw-1", 5).unwrap();
        let mut a = Activity::new(&GatewaySpec::default(), Stream::new(1, 0));
        for _ in 0..200 {
            let c = a.change(&rt).unwrap();
            let mut copy = rt.clone();
            copy.set_property(&c.uid, c.key, c.value).unwrap();
        }
        assert_eq!(edge_index(&device_uid(3)), Some(3));
        assert_eq!(edge_index(&device_uid(12)), Some(12));
    }
}
