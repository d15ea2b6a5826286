//! A simulated device and the bookkeeping around it, shared by both drivers.
//!
//! A [`Device`] is a protocol client (DDI, OTAU or constrained, see
//! [`Client`]) plus what makes it one particular device: its number and
//! identity, its two random streams (decisions, link), the phase of its
//! online windows and its running trace hash. Drivers talk to devices only
//! through [`Device::poll_timeout`], [`Device::poll_transmit`],
//! [`Device::handle_response`] (and, over MQTT, [`Device::handle_published`]
//! and [`Device::handle_message`]), which step the client through the one
//! contract ([`DeviceClient`]) and hand what it observed to the [`Ledger`]
//! (trace hash, oracle, counters). The virtual engine and the real-time
//! driver differ only in how requests travel.
//!
//! Adding a protocol: implement [`fleetsim_core::protocol::Client`] and
//! [`DeviceClient`] for its client and [`Observation`] (with
//! [`crate::digest::Encode`] and [`crate::digest::Describe`]) for its events,
//! add a [`Client`] variant (and its arm in `each_client!` and
//! [`Device::poll_timeout`]) and construct it in [`Device::new`].

mod client;
mod ledger;
mod scratch;
mod trace;

use crate::rng::Stream;
use rand::Rng;

use client::Cx;
pub use client::DeviceClient;
pub use ledger::{Ledger, Observation};
pub use trace::{Keep, Retold, Said, TraceSink};

use crate::digest::TraceHash;
use crate::rng::{stream, Purpose};
use crate::scenario::Protocol;
use crate::setup::Setup;
use fleetsim_core::message::NetError;
use fleetsim_core::protocol::constrained::ConstrainedClient;
use fleetsim_core::protocol::ddi::{DdiClient, Phase};
use fleetsim_core::protocol::edge::{EdgeClient, EdgeConfig, GatewayRuntime, ModelError, Scope};
use fleetsim_core::protocol::otau::{OtauClient, Transport};
use fleetsim_core::protocol::{Delivery, ReqKind, Transmit};
use fleetsim_core::server::otau::{cik_for, identity_for};
use fleetsim_core::time::{Span, Time};

/// The protocol client of a device.
pub enum Client {
    /// hawkBit DDI.
    Ddi(DdiClient),
    /// Exosite OTAU (boxed: OTAU fleets are the smaller ones).
    Otau(Box<OtauClient>),
    /// A constrained device of the custom protocol gateway (seed 000).
    Constrained(Box<ConstrainedClient>),
    /// An edge gateway mirrored as Ditto twins (seed 002).
    Edge(Box<EdgeClient>),
}

/// Runs `$body` with `$c` bound to the device client (`&mut`, whatever its
/// protocol): the one place that lists the protocols.
macro_rules! each_client {
    ($client:expr, $c:ident => $body:expr) => {
        match $client {
            Client::Ddi($c) => $body,
            Client::Otau(b) => {
                let $c = &mut **b;
                $body
            }
            Client::Constrained(b) => {
                let $c = &mut **b;
                $body
            }
            Client::Edge(b) => {
                let $c = &mut **b;
                $body
            }
        }
    };
}

/// Steps the device's client: `$body` runs with the client `$c`, its
/// context `$cx` and a reused event buffer `$events`; what the client
/// observed is then booked in the ledger under `$slot`.
macro_rules! step_client {
    ($dev:ident, $slot:expr, $now:expr, $env:expr, $ledger:ident, $trace:expr,
     |$c:ident, $cx:ident, $events:ident| $body:expr) => {{
        let group = &$env.setup.groups[$dev.group as usize];
        each_client!(&mut $dev.client, $c => {
            let mut $events = $ledger.scratch.take();
            let $cx = Cx {
                now: $now,
                env: $env,
                group,
                number: $dev.number,
                id: &$dev.controller_id,
                rng: &mut $dev.rng,
                trace: &mut $dev.trace,
            };
            let out = $body;
            $ledger.record($slot, $dev, $now, &$events, $trace);
            $ledger.scratch.put($events);
            out
        })
    }};
}

/// One simulated device.
pub struct Device {
    /// Number in the fleet.
    pub number: u64,
    /// Controller id (DDI) or CIK (OTAU).
    pub controller_id: String,
    /// Fleet group index.
    pub group: u16,
    /// Coarse state, as last reported by the client.
    pub phase: Phase,
    /// The protocol client state machine.
    pub client: Client,
    /// Stream for the device's own decisions.
    pub rng: Stream,
    /// Stream for its link (loss, latency, faults).
    pub link_rng: Stream,
    /// Offset of its online windows.
    pub window_phase: Span,
    /// Running trace hash.
    pub trace: TraceHash,
    /// When an update was first assigned (virtual) or offered (real).
    pub assigned_at: Option<Time>,
    /// When it first finished an update after that.
    pub converged_at: Option<Time>,
}

/// The edge client of gateway `serial` of group `g`: its runtime as the
/// group's `gateway:` block describes (the scenario check makes sure the
/// serial gives valid thing IDs).
fn edge_client(g: &crate::setup::Group, serial: &str) -> EdgeClient {
    let spec = g.gateway.clone().unwrap_or_default();
    let rt = crate::edge::model::runtime(&spec.namespace, serial, u64::from(spec.edge_devices))
        .unwrap_or_else(|e| {
            panic!("gateway {serial}: the scenario check admits only valid IDs: {e}")
        });
    let config = EdgeConfig {
        buffer_capacity: spec.buffer as usize,
        ..EdgeConfig::default()
    };
    EdgeClient::new(rt, config)
}

/// Where the devices' server is, as the driver sees it.
pub struct Env<'a> {
    /// The run setup (groups, embedded server catalogs).
    pub setup: &'a Setup,
    /// `scheme://host[:port]` of the server.
    pub base_url: &'a str,
    /// DDI tenant.
    pub tenant: &'a str,
    /// DDI `Authorization` header value.
    pub authorization: Option<&'a str>,
}

impl Device {
    /// Device `number` of group `group`, first acting at `first` if given,
    /// else within its first poll interval (always-on) or at its first online
    /// window (sleepy). All randomness comes from the device's own streams.
    pub fn new(setup: &Setup, group: usize, number: u64, seed: u64, first: Option<Time>) -> Device {
        let g = &setup.groups[group];
        let mut link_rng = stream(seed, number, Purpose::Link);
        let window_phase = match &g.companion {
            // A gateway's DDI controllers are online when their gateway is.
            Some(c) => {
                let (gateway, _) = c.gateway_of(g.first, number);
                g.link.draw_phase(&mut stream(seed, gateway, Purpose::Link))
            }
            None => g.link.draw_phase(&mut link_rng),
        };
        let start = match first {
            Some(t) => t,
            None if g.link.online_until(Time::ZERO, Span::ZERO) == Some(Time::NEVER) => {
                // Always-on devices start spread over their first poll interval.
                Time(link_rng.gen_range(0..g.settings.default_poll.as_millis().max(1)))
            }
            None => g.link.next_online(Time::ZERO, window_phase),
        };
        let (client, controller_id) = match g.protocol {
            Protocol::Otau | Protocol::OtauMqtt => {
                let mut client = OtauClient::with_transport(start, g.otau.transport)
                    .booting(g.otau.boot_version.clone());
                if g.otau.activate {
                    client = client.activating(identity_for(number));
                }
                (Client::Otau(Box::new(client)), cik_for(number))
            }
            Protocol::Cpg => {
                let client = Box::new(ConstrainedClient::new(start));
                (Client::Constrained(client), setup.controller_id(number))
            }
            Protocol::Ddi => {
                let client = DdiClient::new(start, &g.settings);
                (Client::Ddi(client), setup.controller_id(number))
            }
            Protocol::Ditto => {
                let serial = setup.controller_id(number);
                (Client::Edge(Box::new(edge_client(g, &serial))), serial)
            }
        };
        Device {
            number,
            controller_id,
            group: group as u16,
            phase: Phase::Idle,
            client,
            rng: stream(seed, number, Purpose::Device),
            link_rng,
            window_phase,
            trace: TraceHash::default(),
            assigned_at: None,
            converged_at: None,
        }
    }

    /// True for OTAU devices.
    pub fn is_otau(&self) -> bool {
        matches!(self.client, Client::Otau(_))
    }

    /// True for DDI devices (the targets of the embedded hawkBit core).
    pub fn is_ddi(&self) -> bool {
        matches!(self.client, Client::Ddi(_))
    }

    /// True for OTAU devices that reach their resources over MQTT.
    pub fn is_mqtt(&self, setup: &Setup) -> bool {
        self.is_otau() && setup.groups[self.group as usize].otau.transport == Transport::Mqtt
    }

    /// True for constrained devices (the custom protocol gateway's).
    pub fn is_constrained(&self) -> bool {
        matches!(self.client, Client::Constrained(_))
    }

    /// When the device's client next wants to act.
    pub fn poll_timeout(&self) -> Time {
        match &self.client {
            Client::Ddi(c) => c.poll_timeout(),
            Client::Otau(c) => c.poll_timeout(),
            Client::Constrained(c) => c.poll_timeout(),
            Client::Edge(c) => fleetsim_core::protocol::Client::poll_timeout(&**c),
        }
    }

    /// True for edge gateways (Ditto twins).
    pub fn is_edge(&self) -> bool {
        matches!(self.client, Client::Edge(_))
    }

    /// The edge gateway client, for an edge gateway.
    pub fn edge(&self) -> Option<&EdgeClient> {
        match &self.client {
            Client::Edge(c) => Some(c),
            _ => None,
        }
    }

    /// The edge gateway client, mutable; `None` for other devices.
    pub fn edge_mut(&mut self) -> Option<&mut EdgeClient> {
        match &mut self.client {
            Client::Edge(c) => Some(c),
            _ => None,
        }
    }

    /// An edge gateway's device sets a property value itself (see
    /// [`EdgeClient::set_property`]); what the client observed is booked.
    /// `None` for other devices.
    pub fn edge_set_property(
        &mut self,
        now: Time,
        uid: &str,
        key: &str,
        value: serde_json::Value,
        ledger: &mut Ledger,
        trace: Option<&mut dyn TraceSink>,
    ) -> Option<Result<serde_json::Value, ModelError>> {
        let Client::Edge(c) = &mut self.client else {
            return None;
        };
        let mut events = Vec::new();
        let result = c.set_property(now, uid, key, value, &mut events);
        ledger.record(0, self, now, &events, trace);
        Some(result)
    }

    /// An edge device of this gateway makes `change` (drawn from its
    /// runtime by [`crate::edge::activity::Activity::change`], so the FI and
    /// property exist); what the client observed is booked.
    pub fn edge_property_change(
        &mut self,
        now: Time,
        change: crate::edge::activity::PropertyChange,
        ledger: &mut Ledger,
        trace: Option<&mut dyn TraceSink>,
    ) {
        let (uid, key, value) = (&change.uid, change.key, change.value);
        let _ = self.edge_set_property(now, uid, key, value, ledger, trace);
    }

    /// The message session of the device opened (`up`) or dropped.
    pub fn handle_session(
        &mut self,
        now: Time,
        up: bool,
        env: &Env<'_>,
        ledger: &mut Ledger,
        trace: Option<&mut dyn TraceSink>,
    ) {
        step_client!(self, 0, now, env, ledger, trace, |c, cx, events| {
            client::session(c, cx, up, &mut events)
        })
    }

    /// Changes an edge gateway's runtime with `f` inside `scope` (see
    /// [`EdgeClient::change_in`]); what the client observed is booked. Does
    /// nothing (and returns `None`) for other devices.
    pub fn edge_change<R>(
        &mut self,
        now: Time,
        scope: &Scope,
        f: impl FnOnce(&mut GatewayRuntime) -> R,
        ledger: &mut Ledger,
        trace: Option<&mut dyn TraceSink>,
    ) -> Option<R> {
        let Client::Edge(c) = &mut self.client else {
            return None;
        };
        let mut events = Vec::new();
        let result = c.change_in(now, scope, f, &mut events);
        ledger.record(0, self, now, &events, trace);
        Some(result)
    }

    /// The request to send at `now`, if one is due, with its kind; what the
    /// client observed goes to `ledger` (and to `trace` when given).
    pub fn poll_transmit(
        &mut self,
        slot: usize,
        now: Time,
        env: &Env<'_>,
        ledger: &mut Ledger,
        trace: Option<&mut dyn TraceSink>,
    ) -> Option<(ReqKind, Transmit)> {
        step_client!(self, slot, now, env, ledger, trace, |c, cx, events| {
            client::transmit(c, cx, &mut events)
        })
    }

    /// What came of the request sent last.
    pub fn handle_response(
        &mut self,
        slot: usize,
        now: Time,
        delivery: Delivery,
        env: &Env<'_>,
        ledger: &mut Ledger,
        trace: Option<&mut dyn TraceSink>,
    ) {
        step_client!(self, slot, now, env, ledger, trace, |c, cx, events| {
            client::respond(c, cx, delivery, &mut ledger.oracle, &mut events)
        })
    }

    /// What came of the publish sent last (MQTT): its PUBACK, or why none came.
    pub fn handle_published(
        &mut self,
        now: Time,
        result: Result<(), NetError>,
        env: &Env<'_>,
        ledger: &mut Ledger,
        trace: Option<&mut dyn TraceSink>,
    ) {
        // The slot only matters to DDI observations; publishes make none.
        step_client!(self, 0, now, env, ledger, trace, |c, cx, events| {
            client::published(c, cx, result, &mut events)
        })
    }

    /// A resource value pushed to the device (MQTT `config_otau`).
    pub fn handle_message(
        &mut self,
        now: Time,
        alias: &str,
        value: &str,
        env: &Env<'_>,
        ledger: &mut Ledger,
        trace: Option<&mut dyn TraceSink>,
    ) {
        // The slot only matters to DDI observations; messages make none.
        step_client!(self, 0, now, env, ledger, trace, |c, cx, events| {
            client::message(c, cx, (alias, value), &mut events)
        })
    }
}
