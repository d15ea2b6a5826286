//! The virtual-time engine: one thread, one event heap, no clock.
//!
//! Each device ([`Device`]) is a protocol client plus its link phase, two RNG streams and a
//! running trace hash. A device with something to send gets a `Wake`; the
//! engine asks the link whether it is online (a sleepy device waits for its
//! next window), samples loss and latency from the device's link stream, and
//! schedules the request's `Arrive` at the server. The embedded server core is
//! called in-process at arrival; the answer (or its loss, or a cut-off body
//! when the window closes mid-download) is scheduled as a `Deliver`.
//! Campaigns are started and canceled by the campaign director
//! ([`crate::director`]), whose changes `campaigns.rs` follows up; `otau.rs`
//! and `constrained.rs` hold what only OTAU and constrained devices need.

pub mod parallel;
pub mod queue;
pub mod replay;

use crate::device::TraceSink;
use crate::device::{Device, Env, Ledger};
use crate::director::{Director, Target};
use crate::fleet::Fleet;
use crate::scenario::Scenario;
use crate::setup::{in_reset_window, Setup, EMBEDDED_ORIGIN};
use fleetsim_core::message::{NetError, Request, Response};
use fleetsim_core::protocol::ddi::{Delivery, ReqKind};
use fleetsim_core::protocol::otau::Transmit;
use fleetsim_core::server::otau::OtauAnswer;
use fleetsim_core::server::ServerEvent;
use fleetsim_core::time::{Span, Time};
use queue::{Queue, What};

mod campaigns;
mod constrained;
mod edge;
mod edge_acts;
mod otau;

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
    /// How long the device waits for the answer.
    timeout: Span,
    /// A held OTAU long poll: when it times out on the server.
    held_until: Option<Time>,
    /// An MQTT publish (answered by a PUBACK) rather than an HTTP request.
    is_publish: bool,
    /// The publish on its way to the broker.
    publish: Option<(&'static str, String)>,
    request: Option<Request>,
    delivery: Option<Delivery>,
}

/// How the devices reach the embedded server.
fn embedded_env(setup: &Setup) -> Env<'_> {
    Env {
        setup,
        base_url: EMBEDDED_ORIGIN,
        tenant: &setup.server.default_tenant().config().tenant,
        authorization: setup.authorization.as_deref(),
    }
}

/// Test builds: rewrites an answer of the embedded server at a time.
#[cfg(test)]
pub(crate) type Tamper = Box<dyn FnMut(Time, &mut Response)>;

/// The engine.
pub struct Engine {
    setup: Setup,
    end: Time,
    queue: Queue,
    devices: Vec<Device>,
    /// Per slot: the wake-up the queue holds for the device (older ones are stale).
    next_wake: Vec<Time>,
    /// Per slot: the request the device has in flight.
    flights: Vec<Option<Box<Flight>>>,
    ledger: Ledger,
    sample_every: Span,
    record: Option<u64>,
    /// `--shard`, reported.
    shard: Option<(u64, u64)>,
    trace: Vec<String>,
    server_events: Vec<ServerEvent>,
    /// Starts and cancels the campaigns; its targets are the devices, by slot.
    director: Director,
    processed: u64,
    /// Of `processed`: samples and campaign steps, which every part of a
    /// split run processes alike.
    shared: u64,
    /// Time of the last event processed.
    clock: Time,
    /// True once the end-of-run checks have run.
    closed: bool,
    cpg: constrained::ConstrainedState,
    /// Edge gateways and the twin hub.
    edge: edge::EdgeState,
    /// Test builds: rewrites every answer before it travels — the hostile
    /// server of the fuzz harness (`crate::fuzz`).
    #[cfg(test)]
    tamper: Option<Tamper>,
}

impl Engine {
    /// Test builds: every answer of the server passes through `tamper` first.
    #[cfg(test)]
    pub(crate) fn set_tamper(&mut self, tamper: Tamper) {
        self.tamper = Some(tamper);
    }

    /// Prepares a run of `scenario` (its seed and fleet as given) for the selected devices.
    pub fn new(scenario: &Scenario, selection: &Selection) -> Engine {
        let mut setup = Setup::new(scenario);
        let include = |n| selection.includes(n);
        let Fleet { devices, ledger } = Fleet::new(scenario, &setup, include, |_| None, 0);
        let default = setup.server.default_tenant().config().tenant.clone();
        for d in devices.iter().filter(|d| d.is_ddi()) {
            let group = &setup.groups[usize::from(d.group)];
            let token = group.target_token(d.number).map(str::to_string);
            let tenant = group.tenant_or(&default).to_string();
            setup
                .server
                .register_target(&tenant, &d.controller_id, d.number, token);
        }
        setup.server.shrink_targets();
        let end = Time(scenario.duration.0.as_millis());
        let mut queue = Queue::default();
        let next_wake: Vec<Time> = devices.iter().map(|d| d.poll_timeout()).collect();
        for (slot, due) in next_wake.iter().enumerate() {
            queue.push(*due, slot as u32, What::Wake);
        }
        let targets = devices.iter().map(|d| {
            let id = || d.controller_id.clone();
            Target::device(&setup.groups, d.group as usize, d.number, id)
        });
        let director = Director::new(&setup.campaigns, targets.collect());
        // One event per start and cancel, all queued now: the steps keep
        // their place among other events of the same time.
        for step in director.steps() {
            queue.push(step.at, 0, What::Campaigns);
        }
        queue.push(Time::ZERO, 0, What::Sample);
        let has_cpg = setup
            .groups
            .iter()
            .any(|g| g.protocol == crate::scenario::Protocol::Cpg && g.count > 0);
        let cpg = constrained::ConstrainedState::new(
            devices.len(),
            setup.campaigns.len(),
            scenario.seed,
            has_cpg,
        );
        let edge = edge::EdgeState::new(
            scenario,
            devices.iter().map(|d| {
                let spec = setup.groups[usize::from(d.group)].gateway.as_ref();
                let rng = || crate::rng::activity_stream(scenario.seed, d.number);
                spec.filter(|_| d.is_edge())
                    .map(|s| (d.number, crate::edge::activity::Activity::new(s, rng())))
            }),
        );
        let mut engine = Engine {
            setup,
            end,
            queue,
            flights: devices.iter().map(|_| None).collect(),
            devices,
            next_wake,
            ledger,
            sample_every: crate::fleet::sample_interval(scenario),
            record: selection.record,
            shard: selection.shard,
            trace: Vec::new(),
            server_events: Vec::new(),
            director,
            processed: 0,
            shared: 0,
            clock: Time::ZERO,
            closed: false,
            cpg,
            edge,
            #[cfg(test)]
            tamper: None,
        };
        engine.edge_start();
        engine
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
            if ev.at >= next_report {
                progress(ev.at);
                next_report = ev.at + Span::hours(1);
            }
            self.process(ev);
        }
        self.close();
        self.finish()
    }

    /// The end of the run: the last sample and the checks that look at the
    /// state at the end (URL liveness). Runs once, whether the run went in
    /// one go or in slices.
    fn close(&mut self) {
        if std::mem::replace(&mut self.closed, true) {
            return;
        }
        self.ledger.stats.sample(self.end, &self.ledger.phases);
        self.cpg_close();
    }

    /// Closes the run when nothing is left before its end.
    fn close_if_done(&mut self) {
        if self.next_event_at().is_none() {
            self.close();
        }
    }

    /// Processes at most `max_events` of the events due at or before `until`
    /// (and the scenario's end); returns how many it processed. Lets an
    /// interactive driver run the simulation in slices: the outcome does not
    /// depend on how the run is sliced.
    pub fn advance(&mut self, until: Time, max_events: u64) -> u64 {
        let limit = until.min(self.end);
        let mut done = 0;
        while done < max_events {
            let Some(ev) = self.queue.pop_until(limit) else {
                break;
            };
            self.process(ev);
            done += 1;
        }
        self.close_if_done();
        done
    }

    /// Processes events up to and including the next one that concerns a
    /// device or a campaign (periodic samples are not worth a step); returns
    /// false when the run has nothing left.
    pub fn step_event(&mut self) -> bool {
        while let Some(ev) = self.queue.pop_until(self.end) {
            let housekeeping = matches!(ev.what, What::Sample);
            self.process(ev);
            if !housekeeping {
                self.close_if_done();
                return true;
            }
        }
        self.close();
        false
    }

    /// Time of the last event processed.
    pub fn now(&self) -> Time {
        self.clock
    }

    /// The scenario's end.
    pub fn end(&self) -> Time {
        self.end
    }

    /// Time of the next event within the run, if any.
    pub fn next_event_at(&self) -> Option<Time> {
        self.queue.peek_at().filter(|t| *t <= self.end)
    }

    /// Events processed so far.
    pub fn processed(&self) -> u64 {
        self.processed
    }

    /// The oracle, statistics and phase counts so far.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The simulated devices, in device-number order.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    /// The run setup (groups, links, campaigns).
    pub fn setup(&self) -> &Setup {
        &self.setup
    }

    /// The readable trace of the recorded device so far.
    pub fn trace(&self) -> &[String] {
        &self.trace
    }

    /// The combined digest of the devices' traces so far: at the end of the
    /// run it equals the report's digest.
    pub fn digest_so_far(&self) -> String {
        crate::digest::combine(self.devices.iter().map(|d| (d.number, &d.trace)))
    }

    fn process(&mut self, ev: queue::Event) {
        self.processed += 1;
        self.shared += u64::from(matches!(ev.what, What::Sample | What::Campaigns));
        self.clock = ev.at;
        match ev.what {
            What::Wake => self.wake(ev.slot as usize, ev.at),
            What::Arrive => self.arrive(ev.slot as usize, ev.at),
            What::Deliver => self.deliver(ev.slot as usize, ev.at),
            What::Release => self.release(ev.slot as usize, ev.at),
            What::Push => self.push(ev.slot as usize, ev.at),
            What::Campaigns => self.direct(ev.at),
            What::Leak(i) => self.leak(i as usize, ev.at),
            What::EdgeLink => self.edge_link(ev.slot as usize, ev.at),
            What::EdgeUp => self.edge_up(ev.slot as usize, ev.at),
            What::EdgeDown => self.edge_down(ev.slot as usize, ev.at),
            What::EdgeAct => self.edge_act(ev.slot as usize, ev.at),
            What::HubTimer => self.edge_hub_timer(ev.at),
            What::Sample => {
                self.ledger.stats.sample(ev.at, &self.ledger.phases);
                self.cpg_sample(ev.at);
                self.queue.push(ev.at + self.sample_every, 0, What::Sample);
            }
        }
    }

    fn finish(mut self) -> RunResult {
        let gateway = self.constrained_report();
        let twin = self.edge_report();
        let mut result = RunResult::assemble(
            self.ledger,
            self.devices.iter(),
            self.processed,
            self.trace,
            Default::default(),
        );
        result.gateway = gateway;
        result.twin = twin;
        result.shard = self.shard;
        result.shared_events = self.shared;
        result
    }

    fn schedule_wake(&mut self, slot: usize) {
        let due = self.devices[slot].poll_timeout();
        if due != Time::NEVER && due != self.next_wake[slot] {
            self.next_wake[slot] = due;
            self.queue.push(due, slot as u32, What::Wake);
        }
    }

    fn wake(&mut self, slot: usize, now: Time) {
        if self.next_wake[slot] != now || self.flights[slot].is_some() {
            return; // superseded timer
        }
        self.next_wake[slot] = Time::NEVER;
        let d = &mut self.devices[slot];
        let g = &self.setup.groups[d.group as usize];
        let Some(window_end) = g.link.online_until(now, d.window_phase) else {
            // Asleep: act when the radio is next on.
            self.next_wake[slot] = g.link.next_online(now, d.window_phase);
            self.queue
                .push(self.next_wake[slot], slot as u32, What::Wake);
            return;
        };
        let env = embedded_env(&self.setup);
        let trace =
            (self.record == Some(d.number)).then_some(&mut self.trace as &mut dyn TraceSink);
        let Some((kind, transmit)) = d.poll_transmit(slot, now, &env, &mut self.ledger, trace)
        else {
            return self.schedule_wake(slot);
        };
        let (request, publish) = match transmit {
            Transmit::Http(r) => (Some(r), None),
            Transmit::Publish { alias, value } => (None, Some((alias, value))),
            Transmit::Frame(text) => return self.edge_send(slot, now, text),
        };
        if self.record == Some(d.number) {
            self.trace.push(match (&request, &publish) {
                (Some(r), _) => format!("{now:>14}  → {} {}", r.method, r.url),
                (_, Some((alias, value))) => format!("{now:>14}  → PUBLISH {alias} {value}"),
                _ => String::new(),
            });
        }
        self.ledger.stats.sent(kind);
        // A long poll is answered within its Request-Timeout; the device waits that much longer.
        let timeout = match kind {
            ReqKind::OtauLongPoll => REQUEST_TIMEOUT + Span(g.otau.request_timeout_ms),
            _ => REQUEST_TIMEOUT,
        };
        let lost = g.link.lost(&mut d.link_rng);
        let up = g.link.latency(&mut d.link_rng);
        let mut flight = Box::new(Flight {
            kind,
            sent_at: now,
            window_end,
            timeout,
            held_until: None,
            is_publish: publish.is_some(),
            request: None,
            publish: None,
            delivery: None,
        });
        if lost || now + up >= window_end {
            let at = (now + timeout).min(window_end);
            let err = if at == window_end {
                NetError::Reset
            } else {
                NetError::Timeout
            };
            flight.delivery = Some(Delivery::Broken(err, None));
            self.queue.push(at, slot as u32, What::Deliver);
        } else {
            flight.request = request;
            flight.publish = publish;
            self.queue.push(now + up, slot as u32, What::Arrive);
        }
        self.flights[slot] = Some(flight);
    }

    fn arrive(&mut self, slot: usize, now: Time) {
        let d = &mut self.devices[slot];
        let Some(flight) = self.flights[slot].as_mut() else {
            return;
        };
        let (request, publish) = (flight.request.take(), flight.publish.take());
        if request.is_none() && publish.is_none() {
            return;
        }
        let g = &self.setup.groups[d.group as usize];
        let reset = in_reset_window(&self.setup.resets, now);
        let down = g.link.latency(&mut d.link_rng);
        if reset {
            flight.delivery = Some(Delivery::Broken(NetError::Reset, None));
            self.queue.push(now + down, slot as u32, What::Deliver);
            return;
        }
        if let Some((alias, value)) = publish {
            // The in-process broker hands the publish to the server core; the
            // PUBACK travels back like an answer.
            let accepted = self
                .setup
                .otau
                .mqtt_publish(now, d.number, alias, &value)
                .is_ok();
            let puback = Response::status(if accepted { 200 } else { 403 });
            return self.respond(slot, now, down, puback);
        }
        let Some(req) = request else {
            return;
        };
        if d.is_constrained() {
            return self.cpg_arrive(slot, now, down, req);
        }
        if !d.is_otau() {
            let resp = self.setup.server.handle(now, &req);
            self.respond(slot, now, down, resp);
            return self.drain_server_events(slot);
        }
        match self.setup.otau_answer(now, &req) {
            OtauAnswer::Ready(resp) => self.respond(slot, now, down, resp),
            OtauAnswer::Pending { until } if until < flight.window_end => {
                // Held open until the manifest changes or `until` (see `release`).
                flight.request = Some(req);
                flight.held_until = Some(until);
                self.queue.push(until, slot as u32, What::Release);
            }
            OtauAnswer::Pending { .. } => {
                // The radio goes off first: the connection breaks then.
                flight.delivery = Some(Delivery::Broken(NetError::Reset, None));
                self.queue
                    .push(flight.window_end, slot as u32, What::Deliver);
            }
        }
    }

    /// The server answered the flight of `slot` at `now` with `resp`; it
    /// reaches the device `down` later, unless the link loses it or the
    /// online window closes while the body is on its way.
    fn respond(&mut self, slot: usize, now: Time, down: Span, resp: Response) {
        #[cfg(test)]
        let resp = match &mut self.tamper {
            Some(tamper) => {
                let mut resp = resp;
                tamper(now, &mut resp);
                resp
            }
            None => resp,
        };
        let d = &mut self.devices[slot];
        let Some(flight) = self.flights[slot].as_mut() else {
            return;
        };
        let g = &self.setup.groups[d.group as usize];
        let lost = g.link.lost(&mut d.link_rng);
        let start = now + down;
        let (at, delivery) = if lost {
            let at = (flight.sent_at + flight.timeout)
                .max(now)
                .min(flight.window_end);
            (at, Delivery::Broken(NetError::Timeout, None))
        } else {
            let done = start + g.link.transfer(resp.body.len());
            if done <= flight.window_end {
                (done, Delivery::Complete(resp))
            } else if start < flight.window_end {
                let got = g.link.bytes_in(flight.window_end.since(start));
                let partial = Response {
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
    }

    fn deliver(&mut self, slot: usize, now: Time) {
        let d = &mut self.devices[slot];
        let Some(flight) = self.flights[slot].take() else {
            return;
        };
        let Some(delivery) = flight.delivery else {
            return;
        };
        match &delivery {
            Delivery::Complete(r) => {
                self.ledger
                    .stats
                    .answered(flight.kind, r.status, now.since(flight.sent_at))
            }
            Delivery::Broken(e, _) => self.ledger.stats.failed(flight.kind, *e),
        }
        let recording = self.record == Some(d.number);
        if recording {
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
        let env = embedded_env(&self.setup);
        let trace = recording.then_some(&mut self.trace as &mut dyn TraceSink);
        if flight.is_publish {
            let result = match delivery {
                Delivery::Complete(r) if r.is_success() => Ok(()),
                Delivery::Complete(_) => Err(NetError::Unreachable),
                Delivery::Broken(e, _) => Err(e),
            };
            d.handle_published(now, result, &env, &mut self.ledger, trace);
        } else {
            d.handle_response(slot, now, delivery, &env, &mut self.ledger, trace);
        }
        self.schedule_wake(slot);
    }
}

pub use crate::result::RunResult;
pub use replay::{attach_excerpts, replay_device};
