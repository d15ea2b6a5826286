//! The virtual-time engine: one thread, one event heap, no clock.
//!
//! Each device is a [`DdiClient`] plus its link phase, two RNG streams and a
//! running trace hash. A device with something to send gets a `Wake`; the
//! engine asks the link whether it is online (a sleepy device waits for its
//! next window), samples loss and latency from the device's link stream, and
//! schedules the request's `Arrive` at the server. The embedded server core is
//! called in-process at arrival; the answer (or its loss, or a cut-off body
//! when the window closes mid-download) is scheduled as a `Deliver`.

use rand_chacha::ChaCha8Rng;

use super::digest::TraceHash;
use super::queue::{Queue, What};
use super::rng::{stream, Purpose};
use super::setup::{selects, Group, Setup, EMBEDDED_ORIGIN};
use super::stats::Stats;
use crate::message::{NetError, Request};
use crate::oracle::{Oracle, OracleConfig};
use crate::protocol::ddi::{ClientEnv, DdiClient, DdiEvent, Delivery, Outcome, Phase, ReqKind};
use crate::scenario::Scenario;
use crate::server::{ActionId, ServerEvent};
use crate::time::{Span, Time};

/// How long a device waits for an answer before giving up on a request.
pub const REQUEST_TIMEOUT: Span = Span::secs(30);

/// What part of the fleet to simulate.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Only devices with `number % n == i` (`--shard i/n`).
    pub shard: Option<(u64, u64)>,
    /// Only this device (replay).
    pub only: Option<u64>,
    /// Record a readable trace of this device.
    pub record: Option<u64>,
}

impl Selection {
    fn includes(&self, number: u64) -> bool {
        self.only.is_none_or(|d| d == number)
            && self.shard.is_none_or(|(i, n)| n == 0 || number % n == i)
    }
}

struct Flight {
    kind: ReqKind,
    sent_at: Time,
    window_end: Time,
    request: Option<Request>,
    delivery: Option<Delivery>,
}

struct Device {
    number: u64,
    controller_id: String,
    group: u16,
    phase: Phase,
    client: DdiClient,
    rng: ChaCha8Rng,
    link_rng: ChaCha8Rng,
    window_phase: Span,
    next_wake: Time,
    flight: Option<Box<Flight>>,
    trace: TraceHash,
    assigned_at: Option<Time>,
    converged_at: Option<Time>,
}

/// Results of a run, for the report.
pub struct RunResult {
    /// Counters, histograms, timeline.
    pub stats: Stats,
    /// The oracle, with its verdicts.
    pub oracle: Oracle,
    /// Per-device `(number, digest)` in device order.
    pub digests: Vec<(u64, TraceHash)>,
    /// Combined digest.
    pub digest: String,
    /// Final phase counts.
    pub phases: [u64; 7],
    /// Devices targeted by a campaign.
    pub targeted: u64,
    /// Per targeted device: time from assignment to success, if it succeeded.
    pub convergence: Vec<Option<Span>>,
    /// The recorded device's readable trace.
    pub trace: Vec<String>,
    /// Events processed (virtual) or requests completed (real time).
    pub events: u64,
    /// Driver-specific counters (real time: late sends, injected drops).
    pub extra_counters: std::collections::BTreeMap<&'static str, u64>,
}

/// The engine.
pub struct Engine {
    setup: Setup,
    end: Time,
    queue: Queue,
    devices: Vec<Device>,
    oracle: Oracle,
    stats: Stats,
    sample_every: Span,
    record: Option<u64>,
    trace: Vec<String>,
    events_buf: Vec<DdiEvent>,
    server_events: Vec<ServerEvent>,
    campaign_actions: Vec<Vec<(u32, ActionId)>>,
    phases: [u64; 7],
    processed: u64,
}

impl Engine {
    /// Prepares a run of `scenario` (its seed and fleet as given) for the selected devices.
    pub fn new(scenario: &Scenario, selection: &Selection) -> Engine {
        let mut setup = Setup::new(scenario);
        let seed = scenario.seed;
        let mut devices = Vec::new();
        for (gi, g) in setup.groups.iter().enumerate() {
            for number in g.first..g.first + g.count {
                if !selection.includes(number) {
                    continue;
                }
                let mut link_rng = stream(seed, number, Purpose::Link);
                let window_phase = g.link.draw_phase(&mut link_rng);
                // Always-on devices start within their first poll interval, not all at once.
                let start = if g.link.online_until(Time::ZERO, Span::ZERO) == Some(Time::NEVER) {
                    Time(rand::Rng::gen_range(
                        &mut link_rng,
                        0..g.settings.default_poll.as_millis().max(1),
                    ))
                } else {
                    g.link.next_online(Time::ZERO, window_phase)
                };
                devices.push(Device {
                    number,
                    controller_id: String::new(),
                    group: gi as u16,
                    phase: Phase::Idle,
                    client: DdiClient::new(start, &g.settings),
                    rng: stream(seed, number, Purpose::Device),
                    link_rng,
                    window_phase,
                    next_wake: Time::NEVER,
                    flight: None,
                    trace: TraceHash::default(),
                    assigned_at: None,
                    converged_at: None,
                });
            }
        }
        for d in devices.iter_mut() {
            d.controller_id = setup.controller_id(d.number);
            setup
                .server
                .register_target(&d.controller_id, d.number, None);
        }
        let end = Time(scenario.duration.0.as_millis());
        let sample_every = scenario
            .sample_every
            .map_or(Span((end.as_millis() / 200).max(1000)), |d| {
                d.0.max(Span::secs(1))
            });
        let mut queue = Queue::default();
        for (slot, d) in devices.iter_mut().enumerate() {
            d.next_wake = d.client.poll_timeout();
            queue.push(d.next_wake, slot as u32, What::Wake);
        }
        for (i, c) in setup.campaigns.iter().enumerate() {
            queue.push(c.at, 0, What::Campaign(i as u16));
            if let Some(at) = c.cancel_at {
                queue.push(at, 0, What::CancelCampaign(i as u16));
            }
        }
        queue.push(Time::ZERO, 0, What::Sample);
        let oracle = Oracle::new(
            OracleConfig {
                polling_jitter: scenario.server.polling_jitter.0,
            },
            devices.len(),
        );
        let mut phases = [0u64; 7];
        phases[Phase::Idle as usize] = devices.len() as u64;
        let campaign_actions = vec![Vec::new(); setup.campaigns.len()];
        Engine {
            setup,
            end,
            queue,
            devices,
            oracle,
            stats: Stats::new(),
            sample_every,
            record: selection.record,
            trace: Vec::new(),
            events_buf: Vec::new(),
            server_events: Vec::new(),
            campaign_actions,
            phases,
            processed: 0,
        }
    }

    /// Number of simulated devices.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// Runs until the scenario's end; `progress` is called about every virtual
    /// hour with the current time.
    pub fn run(mut self, mut progress: impl FnMut(Time)) -> RunResult {
        let mut next_report = Time::ZERO;
        while let Some(ev) = self.queue.pop_until(self.end) {
            self.processed += 1;
            if ev.at >= next_report {
                progress(ev.at);
                next_report = ev.at + Span::hours(1);
            }
            match ev.what {
                What::Wake => self.wake(ev.slot as usize, ev.at),
                What::Arrive => self.arrive(ev.slot as usize, ev.at),
                What::Deliver => self.deliver(ev.slot as usize, ev.at),
                What::Campaign(i) => self.start_campaign(i as usize, ev.at),
                What::CancelCampaign(i) => self.cancel_campaign(i as usize, ev.at),
                What::Sample => {
                    self.stats.sample(ev.at, &self.phases);
                    self.queue.push(ev.at + self.sample_every, 0, What::Sample);
                }
            }
        }
        self.stats.sample(self.end, &self.phases);
        self.finish()
    }

    fn finish(self) -> RunResult {
        let digests: Vec<(u64, TraceHash)> =
            self.devices.iter().map(|d| (d.number, d.trace)).collect();
        let digest = super::digest::combine(digests.iter().map(|(n, h)| (*n, h)));
        let targeted: Vec<&Device> = self
            .devices
            .iter()
            .filter(|d| d.assigned_at.is_some())
            .collect();
        let convergence = targeted
            .iter()
            .map(|d| d.converged_at.zip(d.assigned_at).map(|(c, a)| c.since(a)))
            .collect();
        RunResult {
            targeted: targeted.len() as u64,
            convergence,
            stats: self.stats,
            oracle: self.oracle,
            digests,
            digest,
            phases: self.phases,
            trace: self.trace,
            events: self.processed,
            extra_counters: Default::default(),
        }
    }

    fn schedule_wake(&mut self, slot: usize) {
        let d = &mut self.devices[slot];
        let due = d.client.poll_timeout();
        if due != Time::NEVER && due != d.next_wake {
            d.next_wake = due;
            self.queue.push(due, slot as u32, What::Wake);
        }
    }

    fn wake(&mut self, slot: usize, now: Time) {
        let d = &mut self.devices[slot];
        if d.next_wake != now || d.flight.is_some() {
            return; // superseded timer
        }
        d.next_wake = Time::NEVER;
        let g = &self.setup.groups[d.group as usize];
        let Some(window_end) = g.link.online_until(now, d.window_phase) else {
            // Asleep: act when the radio is next on.
            d.next_wake = g.link.next_online(now, d.window_phase);
            self.queue.push(d.next_wake, slot as u32, What::Wake);
            return;
        };
        let env = client_env(&self.setup, g);
        self.events_buf.clear();
        let req = d.client.poll_transmit(
            now,
            &d.controller_id,
            &env,
            &mut d.rng,
            &mut self.events_buf,
        );
        let Some(req) = req else {
            self.flush_events(slot, now);
            return self.schedule_wake(slot);
        };
        let kind = self
            .events_buf
            .iter()
            .find_map(|e| match e {
                DdiEvent::Sent { kind, .. } => Some(*kind),
                _ => None,
            })
            .unwrap_or(ReqKind::Root);
        if self.record == Some(d.number) {
            self.trace
                .push(format!("{now:>14}  → {} {}", req.method, req.url));
        }
        self.stats.sent(kind);
        let lost = g.link.lost(&mut d.link_rng);
        let up = g.link.latency(&mut d.link_rng);
        let mut flight = Box::new(Flight {
            kind,
            sent_at: now,
            window_end,
            request: None,
            delivery: None,
        });
        if lost || now + up >= window_end {
            let at = (now + REQUEST_TIMEOUT).min(window_end);
            let err = if at == window_end {
                NetError::Reset
            } else {
                NetError::Timeout
            };
            flight.delivery = Some(Delivery::Broken(err, None));
            self.queue.push(at, slot as u32, What::Deliver);
        } else {
            flight.request = Some(req);
            self.queue.push(now + up, slot as u32, What::Arrive);
        }
        d.flight = Some(flight);
        self.flush_events(slot, now);
    }

    fn arrive(&mut self, slot: usize, now: Time) {
        let d = &mut self.devices[slot];
        let Some(flight) = d.flight.as_mut() else {
            return;
        };
        let Some(req) = flight.request.take() else {
            return;
        };
        let g = &self.setup.groups[d.group as usize];
        let reset = self
            .setup
            .resets
            .iter()
            .any(|(from, until)| *from <= now && now < *until);
        let down = g.link.latency(&mut d.link_rng);
        if reset {
            flight.delivery = Some(Delivery::Broken(NetError::Reset, None));
            self.queue.push(now + down, slot as u32, What::Deliver);
            return;
        }
        let resp = self.setup.server.handle(now, &req);
        let lost = g.link.lost(&mut d.link_rng);
        let start = now + down;
        let (at, delivery) = if lost {
            let at = (flight.sent_at + REQUEST_TIMEOUT)
                .max(now)
                .min(flight.window_end);
            (at, Delivery::Broken(NetError::Timeout, None))
        } else {
            let done = start + g.link.transfer(resp.body.len());
            if done <= flight.window_end {
                (done, Delivery::Complete(resp))
            } else if start < flight.window_end {
                let got = g.link.bytes_in(flight.window_end.since(start));
                let partial = crate::message::Response {
                    body: resp.body.truncated(got),
                    ..resp
                };
                (
                    flight.window_end,
                    Delivery::Broken(NetError::Reset, Some(partial)),
                )
            } else {
                (flight.window_end, Delivery::Broken(NetError::Reset, None))
            }
        };
        flight.delivery = Some(delivery);
        self.queue.push(at, slot as u32, What::Deliver);
        self.drain_server_events(slot);
    }

    fn deliver(&mut self, slot: usize, now: Time) {
        let d = &mut self.devices[slot];
        let Some(flight) = d.flight.take() else {
            return;
        };
        let Some(delivery) = flight.delivery else {
            return;
        };
        match &delivery {
            Delivery::Complete(r) => {
                self.stats
                    .answered(flight.kind, r.status, now.since(flight.sent_at))
            }
            Delivery::Broken(e, _) => self.stats.failed(flight.kind, *e),
        }
        if self.record == Some(d.number) {
            self.trace.push(match &delivery {
                Delivery::Complete(r) => {
                    format!("{now:>14}  ← {} ({} bytes)", r.status, r.body.len())
                }
                Delivery::Broken(e, p) => format!(
                    "{now:>14}  ✗ {e}{}",
                    p.as_ref().map_or(String::new(), |r| format!(
                        " after {} of the body's bytes",
                        r.body.len()
                    ))
                ),
            });
        }
        let g = &self.setup.groups[d.group as usize];
        let env = client_env(&self.setup, g);
        self.events_buf.clear();
        d.client
            .handle_response(now, delivery, &env, &mut d.rng, &mut self.events_buf);
        self.flush_events(slot, now);
        self.schedule_wake(slot);
    }

    /// Hands the device's new events to the trace, the oracle and the counters.
    fn flush_events(&mut self, slot: usize, now: Time) {
        let d = &mut self.devices[slot];
        for ev in &self.events_buf {
            d.trace.event(now, ev);
            self.oracle
                .observe(slot, d.number, &d.controller_id, now, ev);
            match ev {
                DdiEvent::PhaseChanged(p) => {
                    self.phases[d.phase as usize] -= 1;
                    self.phases[*p as usize] += 1;
                    d.phase = *p;
                }
                DdiEvent::ActionEnded { outcome, .. } => {
                    self.stats.ended(outcome);
                    if *outcome == Outcome::Success
                        && d.converged_at.is_none()
                        && d.assigned_at.is_some()
                    {
                        d.converged_at = Some(now);
                    }
                }
                _ => {}
            }
            if self.record == Some(d.number) {
                self.trace.push(format!("{now:>14}    {ev:?}"));
            }
        }
    }

    fn drain_server_events(&mut self, slot: usize) {
        self.server_events.clear();
        self.setup.server.drain_events(&mut self.server_events);
        let d = &mut self.devices[slot];
        for ev in &self.server_events {
            let ServerEvent::ActionStatusChanged {
                action,
                from,
                to,
                at,
                ..
            } = ev;
            d.trace.word(at.as_millis());
            d.trace.word(action.0 << 8 | *to as u64);
            self.oracle.server_status_change(
                slot,
                d.number,
                &d.controller_id,
                *at,
                action.0,
                from.is_some_and(|f| f.is_final()),
                to.is_final(),
                to.as_str(),
            );
            if self.record == Some(d.number) {
                self.trace.push(format!(
                    "{at:>14}  ⚙ server: action {action} {} → {}",
                    from.map_or("-", |f| f.as_str()),
                    to.as_str()
                ));
            }
        }
    }

    fn start_campaign(&mut self, i: usize, now: Time) {
        for slot in 0..self.devices.len() {
            let (number, group) = (self.devices[slot].number, self.devices[slot].group);
            let plan = &self.setup.campaigns[i];
            if !selects(
                &plan.selector,
                i,
                number,
                self.setup.groups[group as usize].kind,
            ) {
                continue;
            }
            let (dist, kind, weight, window) = (plan.dist, plan.kind, plan.weight, plan.window);
            let id = self.devices[slot].controller_id.clone();
            if let Some(action) = self
                .setup
                .server
                .assign(now, dist, &id, kind, weight, window)
            {
                self.campaign_actions[i].push((slot as u32, action));
                let d = &mut self.devices[slot];
                d.assigned_at.get_or_insert(now);
                d.converged_at = None;
            }
            self.drain_server_events(slot);
        }
    }

    fn cancel_campaign(&mut self, i: usize, now: Time) {
        let actions = std::mem::take(&mut self.campaign_actions[i]);
        for (slot, action) in actions {
            let id = self.devices[slot as usize].controller_id.clone();
            self.setup.server.cancel(now, &id, action, false);
            self.drain_server_events(slot as usize);
        }
    }
}

/// What a device's client needs to know about its server and group.
fn client_env<'a>(setup: &'a Setup, group: &'a Group) -> ClientEnv<'a> {
    ClientEnv {
        base_url: EMBEDDED_ORIGIN,
        tenant: &setup.server.config().tenant,
        authorization: setup.authorization.as_deref(),
        catalog: setup.server.catalog(),
        settings: &group.settings,
    }
}
