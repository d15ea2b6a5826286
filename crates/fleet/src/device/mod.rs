//! A simulated device and the bookkeeping around it, shared by both drivers.
//!
//! A [`Device`] is a protocol client (DDI or OTAU, see [`Client`]) plus what
//! makes it one particular device: its number and identity, its two random
//! streams (decisions, link), the phase of its online windows and its running
//! trace hash. Drivers talk to devices only through [`Device::poll_transmit`]
//! and [`Device::handle_response`], which hand what the client observed to
//! the [`Ledger`] (trace hash, oracle, counters). The virtual engine and the
//! real-time driver differ only in how requests travel.

mod ledger;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub use ledger::Ledger;

use crate::digest::TraceHash;
use crate::rng::{stream, Purpose};
use crate::scenario::Protocol;
use crate::setup::{Group, Setup};
use fleetsim_core::message::NetError;
use fleetsim_core::protocol::constrained::{
    ConstrainedClient, ConstrainedEnv, ConstrainedEvent, ConstrainedReq,
};
use fleetsim_core::protocol::ddi::{ClientEnv, DdiClient, Delivery, Phase, ReqKind};
use fleetsim_core::protocol::otau::{OtauClient, OtauEnv, OtauEvent, Transmit, Transport};
use fleetsim_core::server::otau::cik_for;
use fleetsim_core::time::{Span, Time};

/// The protocol client of a device.
pub enum Client {
    /// hawkBit DDI.
    Ddi(DdiClient),
    /// Exosite OTAU (boxed: OTAU fleets are the smaller ones).
    Otau(Box<OtauClient>),
    /// A constrained device of the custom protocol gateway (seed 000).
    Cpg(Box<CpgDevice>),
}

/// A `cpg` client and the URL of its request in flight (the oracle judges
/// download answers by their URL).
pub struct CpgDevice {
    /// The client state machine.
    pub client: ConstrainedClient,
    /// URL of the request in flight.
    pub url: String,
}

impl Client {
    /// When the client next wants to act.
    pub fn poll_timeout(&self) -> Time {
        match self {
            Client::Ddi(c) => c.poll_timeout(),
            Client::Otau(c) => c.poll_timeout(),
            Client::Cpg(c) => c.client.poll_timeout(),
        }
    }
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
    pub rng: ChaCha8Rng,
    /// Stream for its link (loss, latency, faults).
    pub link_rng: ChaCha8Rng,
    /// Offset of its online windows.
    pub window_phase: Span,
    /// Running trace hash.
    pub trace: TraceHash,
    /// When an update was first assigned (virtual) or offered (real).
    pub assigned_at: Option<Time>,
    /// When it first finished an update after that.
    pub converged_at: Option<Time>,
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
        let window_phase = g.link.draw_phase(&mut link_rng);
        let start = match first {
            Some(t) => t,
            None if g.link.online_until(Time::ZERO, Span::ZERO) == Some(Time::NEVER) => {
                // Always-on devices start spread over their first poll interval.
                Time(link_rng.gen_range(0..g.settings.default_poll.as_millis().max(1)))
            }
            None => g.link.next_online(Time::ZERO, window_phase),
        };
        let (client, controller_id) = if g.protocol.is_otau() {
            let client = OtauClient::with_transport(start, g.otau.transport);
            (Client::Otau(Box::new(client)), cik_for(number))
        } else if g.protocol == Protocol::Cpg {
            let client = ConstrainedClient::new(start);
            let url = String::new();
            (
                Client::Cpg(Box::new(CpgDevice { client, url })),
                setup.controller_id(number),
            )
        } else {
            (
                Client::Ddi(DdiClient::new(start, &g.settings)),
                setup.controller_id(number),
            )
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

    /// The request to send at `now`, if one is due, with its kind; what the
    /// client observed goes to `books` (and to `trace` when given).
    pub fn poll_transmit(
        &mut self,
        slot: usize,
        now: Time,
        env: &Env<'_>,
        books: &mut Ledger,
        trace: Option<&mut Vec<String>>,
    ) -> Option<(ReqKind, Transmit)> {
        let group = &env.setup.groups[self.group as usize];
        match &mut self.client {
            Client::Ddi(c) => {
                let mut events = std::mem::take(&mut books.ddi_events);
                events.clear();
                let req = c.poll_transmit(
                    now,
                    &self.controller_id,
                    &ddi_env(env, group),
                    &mut self.rng,
                    &mut events,
                );
                let kind = events
                    .iter()
                    .find_map(|e| match e {
                        fleetsim_core::protocol::ddi::DdiEvent::Sent { kind, .. } => Some(*kind),
                        _ => None,
                    })
                    .unwrap_or(ReqKind::Root);
                books.record(slot, self, now, &events, trace);
                books.ddi_events = events;
                Some((kind, Transmit::Http(req?)))
            }
            Client::Otau(c) => {
                let req = c.poll_transmit(now, &otau_env(env, group, &self.controller_id))?;
                let kind = ReqKind::from(c.request_kind());
                self.trace.word(now.as_millis());
                self.trace.word(200 + kind as u64);
                Some((kind, req))
            }
            Client::Cpg(c) => {
                let req = c
                    .client
                    .poll_transmit(now, &cpg_env(env, group, &self.controller_id))?;
                let cpg_kind = c.client.request_kind();
                c.url.clone_from(&req.url);
                let kind = ReqKind::from(cpg_kind);
                self.trace.word(now.as_millis());
                self.trace.word(400 + kind as u64);
                books.record_cpg(
                    self,
                    now,
                    &[ConstrainedEvent::Sent { kind: cpg_kind }],
                    trace,
                );
                Some((kind, Transmit::Http(req)))
            }
        }
    }

    /// What came of the request sent last.
    pub fn handle_response(
        &mut self,
        slot: usize,
        now: Time,
        delivery: Delivery,
        env: &Env<'_>,
        books: &mut Ledger,
        trace: Option<&mut Vec<String>>,
    ) {
        let group = &env.setup.groups[self.group as usize];
        match &mut self.client {
            Client::Ddi(c) => {
                let mut events = std::mem::take(&mut books.ddi_events);
                events.clear();
                c.handle_response(
                    now,
                    delivery,
                    &ddi_env(env, group),
                    &mut self.rng,
                    &mut events,
                );
                books.record(slot, self, now, &events, trace);
                books.ddi_events = events;
            }
            Client::Otau(c) => {
                self.trace.word(now.as_millis());
                self.trace.word(match &delivery {
                    Delivery::Complete(r) => 300 + u64::from(r.status),
                    Delivery::Broken(e, _) => 1000 + *e as u64,
                });
                let mut events = std::mem::take(&mut books.otau_events);
                events.clear();
                c.handle_response(
                    now,
                    delivery,
                    &otau_env(env, group, &self.controller_id),
                    &mut self.rng,
                    &mut events,
                );
                books.record_otau(self, now, &events, trace);
                books.otau_events = events;
            }
            Client::Cpg(c) => {
                self.trace.word(now.as_millis());
                self.trace.word(match &delivery {
                    Delivery::Complete(r) => 500 + u64::from(r.status),
                    Delivery::Broken(e, _) => 1100 + *e as u64,
                });
                if let (ConstrainedReq::Download, Delivery::Complete(r)) =
                    (c.client.request_kind(), &delivery)
                {
                    let (number, cid) = (self.number, &self.controller_id);
                    books
                        .oracle
                        .url_download(number, cid, now, &c.url, r.status, false);
                }
                let mut events = std::mem::take(&mut books.cpg_events);
                events.clear();
                c.client.handle_response(
                    now,
                    delivery,
                    &cpg_env(env, group, &self.controller_id),
                    &mut self.rng,
                    &mut events,
                );
                books.record_cpg(self, now, &events, trace);
                books.cpg_events = events;
            }
        }
    }
}

impl Device {
    /// What came of the publish sent last (MQTT): its PUBACK, or why none came.
    pub fn handle_published(
        &mut self,
        now: Time,
        result: Result<(), NetError>,
        env: &Env<'_>,
        books: &mut Ledger,
        trace: Option<&mut Vec<String>>,
    ) {
        self.trace.word(now.as_millis());
        self.trace.word(match result {
            Ok(()) => 2000,
            Err(e) => 2001 + e as u64,
        });
        self.otau_step(now, env, books, trace, |c, env, rng, events| {
            c.handle_published(now, result, env, rng, events)
        });
    }

    /// A resource value pushed to the device (MQTT `config_otau`).
    pub fn handle_message(
        &mut self,
        now: Time,
        alias: &str,
        value: &str,
        env: &Env<'_>,
        books: &mut Ledger,
        trace: Option<&mut Vec<String>>,
    ) {
        self.trace.word(now.as_millis());
        self.trace.word(3000);
        self.trace.text(value);
        self.otau_step(now, env, books, trace, |c, env, rng, events| {
            c.handle_message(now, alias, value, env, rng, events)
        });
    }

    /// Runs `step` on the OTAU client and books what it observed.
    fn otau_step(
        &mut self,
        now: Time,
        env: &Env<'_>,
        books: &mut Ledger,
        trace: Option<&mut Vec<String>>,
        step: impl FnOnce(&mut OtauClient, &OtauEnv<'_>, &mut ChaCha8Rng, &mut Vec<OtauEvent>),
    ) {
        let Client::Otau(c) = &mut self.client else {
            return;
        };
        let group = &env.setup.groups[self.group as usize];
        let mut events = std::mem::take(&mut books.otau_events);
        events.clear();
        step(
            c,
            &otau_env(env, group, &self.controller_id),
            &mut self.rng,
            &mut events,
        );
        books.record_otau(self, now, &events, trace);
        books.otau_events = events;
    }
}

fn ddi_env<'a>(env: &'a Env<'a>, group: &'a Group) -> ClientEnv<'a> {
    ClientEnv {
        base_url: env.base_url,
        tenant: env.tenant,
        authorization: env.authorization,
        catalog: env.setup.server.catalog(),
        settings: &group.settings,
    }
}

fn cpg_env<'a>(env: &'a Env<'a>, group: &'a Group, device: &'a str) -> ConstrainedEnv<'a> {
    ConstrainedEnv {
        base_url: env.base_url,
        device,
        catalog: env.setup.sidekick.catalog(),
        settings: &group.cpg,
    }
}

fn otau_env<'a>(env: &'a Env<'a>, group: &'a Group, cik: &'a str) -> OtauEnv<'a> {
    OtauEnv {
        base_url: env.base_url,
        cik,
        catalog: env.setup.otau.catalog(),
        settings: &group.otau,
    }
}
