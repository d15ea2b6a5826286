//! The real-time driver: one task owns every device and wakes each at its
//! scenario time (mapped to real time by the time scale), sends its request
//! over the shared HTTP client (or publishes over its MQTT link), and feeds
//! the answer back — the same device code and oracle as the virtual engine.

use super::*;

pub(super) struct Driver {
    pub(super) setup: Setup,
    pub(super) base: String,
    pub(super) tenant: String,
    pub(super) authorization: Option<String>,
    pub(super) faults: Vec<ClientFault>,
    pub(super) scale: f64,
    pub(super) end: Time,
    pub(super) started: Instant,
    /// How far [`Driver::not_behind`] moved the clock forward in all.
    pub(super) clock_advanced: Span,
    pub(super) http: Arc<Http>,
    /// Per slot: the MQTT link of an otau_mqtt device.
    pub(super) links: Vec<Option<Arc<crate::mqtt::DeviceLink>>>,
    /// The MQTT broker, for devices that activate over it (`mqtt_activate.rs`).
    pub(super) mqtt_broker: Option<crate::mqtt::Broker>,
    /// HTTP over the MQTT port for some groups (`mqtt_port.rs`).
    pub(super) mqtt_port: Option<super::mqtt_port::MqttPort>,
    /// Per slot: messages that came while the device was outside its window.
    pub(super) held: Vec<Vec<(String, String)>>,
    /// Per slot: the last exchanges, for violation excerpts.
    pub(super) recorder: recorder::Recorder,
    /// How long a publish may wait for its PUBACK.
    pub(super) publish_bound: Duration,
    pub(super) devices: Vec<Device>,
    /// Per slot: the request the device has in flight.
    pub(super) in_flight_of: Vec<Option<InFlight>>,
    /// Per slot: the wake-up the heap holds for the device.
    pub(super) next_wake: Vec<Time>,
    pub(super) ledger: Ledger,
    pub(super) heap: BinaryHeap<Reverse<(Time, u64, u32)>>,
    pub(super) seq: u64,
    pub(super) late_sends: u64,
    pub(super) dropped: u64,
    pub(super) in_flight: u64,
    pub(super) processed: u64,
    /// `fleetsim tui --target`: where snapshots go.
    pub(super) live: Option<live::LiveFeed>,
    /// `serve`'s server-side events, when the run reads them.
    pub(super) server: Option<server_feed::ServerFeed>,
    /// `--metrics-listen`: the live Prometheus series this run feeds.
    pub(super) metrics: Option<Arc<crate::metrics::Metrics>>,
    /// `load.emulate_network`: the links' faults on the real network.
    pub(super) net: Option<net::Net>,
    /// Downloads with leaked URLs (`leaked_downloads_per_day`).
    pub(super) leaks: Option<leak::Leaks>,
    /// Edge gateways' sessions, acts and backend (`edge.rs`).
    pub(super) edge: Option<super::edge::Edge>,
}

/// A send this much later than intended counts as late.
const LATE: Duration = Duration::from_millis(100);

/// A run stopped early (from the TUI) waits this long for a straggling
/// answer, then leaves the rest: the user asked it to stop.
const DRAIN_QUIET: Duration = Duration::from_secs(1);
/// Past its own deadline a request gets this much longer at the end of a
/// run (a loaded machine answers late) before it counts as unanswered.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// A request on its way: what it is, when it was meant to go out, and
/// whether a failure would be one the run injected.
#[derive(Clone, Copy, Debug)]
pub(super) struct InFlight {
    kind: ReqKind,
    /// The real instant the request was meant to go out.
    intended: Instant,
    /// A scenario fault was applied (a client fault's drop or cut body, or
    /// a server fault's `reset` window): its failure is expected.
    injected: bool,
    /// When the device gives up on it: the request timeout, plus an OTAU
    /// long poll's hold and an injected delay. Still unanswered at the end
    /// of the run and past this, it was lost.
    deadline: Instant,
    /// An OTAU long poll: the server may hold it, so the end of the run
    /// neither waits for it nor counts it.
    long_poll: bool,
}

impl Driver {
    /// The driver of `fleet` against the target `reach` describes, every
    /// device's first wake-up scheduled; `links`: per slot, the MQTT link of
    /// an `otau_mqtt` device.
    pub(super) fn new(
        scenario: &Scenario,
        setup: Setup,
        reach: Reach,
        fleet: Fleet,
        links: Vec<Option<Arc<crate::mqtt::DeviceLink>>>,
        scale: f64,
    ) -> Driver {
        let Fleet { devices, ledger } = fleet;
        let net = (scenario.load.emulate_network).then(|| net::Net::new(scenario.seed, &devices));
        let leaks = leak::Leaks::new(scenario.seed, &setup, &devices);
        let mut driver = Driver {
            links,
            mqtt_broker: None,
            mqtt_port: None,
            held: devices.iter().map(|_| Vec::new()).collect(),
            recorder: recorder::Recorder::new(devices.len()),
            publish_bound: reach.timeout,
            setup,
            base: reach.base,
            tenant: reach.tenant,
            authorization: reach.authorization,
            faults: scenario.faults.client.clone(),
            scale,
            end: Time(scenario.duration.0.as_millis()),
            started: Instant::now(),
            clock_advanced: Span::ZERO,
            http: reach.http,
            in_flight_of: devices.iter().map(|_| None).collect(),
            next_wake: devices.iter().map(|_| Time::NEVER).collect(),
            ledger,
            devices,
            heap: BinaryHeap::new(),
            seq: 0,
            late_sends: 0,
            dropped: 0,
            in_flight: 0,
            processed: 0,
            live: None,
            server: None,
            metrics: None,
            net,
            leaks,
            edge: None,
        };
        for slot in 0..driver.devices.len() {
            let due = driver.devices[slot].poll_timeout();
            driver.push(due, slot);
        }
        driver
    }

    /// Schedules device `slot`'s next wake-up; an earlier one still in the
    /// heap becomes stale (it no longer matches `next_wake`).
    pub(super) fn push(&mut self, due: Time, slot: usize) {
        self.next_wake[slot] = due;
        if due != Time::NEVER {
            self.seq += 1;
            self.heap.push(Reverse((due, self.seq, slot as u32)));
        }
    }

    /// Scenario time now.
    pub(super) fn now(&self) -> Time {
        Time((self.started.elapsed().as_secs_f64() * 1000.0 * self.scale) as u64)
    }

    /// Moves the run's clock forward to `at`, a time on `serve`'s clock
    /// that an event or answer just received was stamped with: what `serve`
    /// did cannot be later than when the driver learns of it. The probe
    /// puts the run on `serve`'s clock to within half its round trip —
    /// a few real milliseconds on a busy machine, seconds of scenario time
    /// at a high `time_scale` — and a clock that lags would have devices
    /// see an answer before the server event that caused it.
    pub(super) fn not_behind(&mut self, at: Time) {
        let now = self.now();
        if at > now {
            let lag = crate::netem::real(at.since(now), self.scale);
            if let Some(earlier) = self.started.checked_sub(lag) {
                self.started = earlier;
                self.clock_advanced = self.clock_advanced + at.since(now);
            }
        }
    }

    /// The real instant at which scenario time `t` comes.
    fn instant_of(&self, t: Time) -> Instant {
        self.started + Duration::from_secs_f64(t.as_millis() as f64 / 1000.0 / self.scale)
    }

    pub(super) async fn run(
        mut self,
        sample_every: Span,
        tx: mpsc::UnboundedSender<Done>,
        mut rx: mpsc::UnboundedReceiver<Done>,
    ) -> RunResult {
        let mut next_sample = Time::ZERO;
        let mut stopped_early = false;
        self.edge_start(&tx);
        // One timer, moved as the next wake-up changes, not one per iteration.
        let timer = tokio::time::sleep_until(Instant::now());
        tokio::pin!(timer);
        loop {
            let now = self.now();
            if now >= next_sample {
                self.ledger
                    .stats
                    .sample(next_sample.min(self.end), &self.ledger.phases);
                self.export_metrics();
                next_sample += sample_every;
            }
            if now >= self.end {
                break;
            }
            if self.publish_live(now, false) {
                stopped_early = true;
                break;
            }
            // Everything due now, then everything that has come back.
            while let Some(Reverse((due, _, slot))) = self.heap.peek().copied() {
                if due > now {
                    break;
                }
                self.heap.pop();
                self.wake(slot as usize, due, &tx);
            }
            self.leak_due(now, &tx);
            self.edge_due(now);
            while let Ok(done) = rx.try_recv() {
                self.complete(done);
            }
            let next_due = self.heap.peek().map_or(self.end, |Reverse((t, _, _))| *t);
            let next_due = next_due.min(self.leaks.as_ref().map_or(Time::NEVER, |l| l.next_due()));
            let next_due = next_due.min(self.edge.as_ref().map_or(Time::NEVER, |e| e.next_due()));
            let mut wake_at = self.instant_of(next_due.min(self.end).min(next_sample));
            if self.live.is_some() {
                wake_at = wake_at.min(Instant::now() + live::EVERY);
            }
            if wake_at <= Instant::now() {
                // More is due at once: let the requests just spawned run
                // first (on a one-thread runtime nothing else would).
                tokio::task::yield_now().await;
                continue;
            }
            timer.as_mut().reset(wake_at);
            tokio::select! {
                done = rx.recv() => {
                    if let Some(done) = done {
                        self.complete(done);
                    }
                }
                _ = timer.as_mut() => {}
            }
        }
        self.edge_finish(&mut rx).await;
        drop(tx);
        if stopped_early {
            // Asked to stop: take what comes back at once, count nothing as lost.
            while let Ok(Some(done)) = tokio::time::timeout(DRAIN_QUIET, rx.recv()).await {
                self.complete(done);
            }
        } else {
            self.drain(&mut rx).await;
        }
        // A run stopped early (from the TUI) ends its timeline where it stopped.
        let at = self.now().min(self.end);
        self.close_server_side(&mut rx, at).await;
        self.ledger.stats.sample(at, &self.ledger.phases);
        self.export_metrics();
        self.publish_live(at, true);
        self.finish()
    }

    fn active_fault(&self, now: Time) -> Option<&ClientFault> {
        // Few windows per scenario: a scan is cheaper than an index.
        self.faults.iter().find(|f| {
            let from = Time(f.at.0.as_millis());
            let until = f.for_.map_or(Time::NEVER, |d| from + d.0);
            from <= now && now < until
        })
    }

    /// What the client fault active at `due` (if any) does to the `kind`
    /// request of device `slot`, drawn from the device's link stream.
    pub(super) fn inject(&mut self, slot: usize, kind: ReqKind, due: Time) -> Injected {
        let Some(f) = self.active_fault(due).cloned() else {
            return Injected::default();
        };
        let rng = &mut self.devices[slot].link_rng;
        let drop = f.drop.0 > 0.0 && rng.gen_bool(f.drop.0);
        let cut = if kind == ReqKind::Download {
            f.disconnect_mid_download.0 > 0.0 && rng.gen_bool(f.disconnect_mid_download.0)
        } else {
            false
        } || (f.truncate.0 > 0.0 && rng.gen_bool(f.truncate.0));
        Injected {
            drop,
            delay: f.delay.map(|d| Duration::from_millis(d.0.as_millis())),
            cut_body: cut,
            ..Injected::default()
        }
    }

    fn wake(&mut self, slot: usize, due: Time, tx: &mpsc::UnboundedSender<Done>) {
        let real_lateness = self
            .started
            .elapsed()
            .saturating_sub(self.instant_of(due) - self.started);
        if self.in_flight_of[slot].is_some() || self.next_wake[slot] != due {
            return; // stale wake-up
        }
        let d = &mut self.devices[slot];
        let g = &self.setup.groups[d.group as usize];
        if g.link.online_until(due, d.window_phase).is_none() {
            let next = g.link.next_online(due, d.window_phase);
            self.push(next, slot);
            return;
        }
        let env = device_env!(self, d.group);
        // Messages pushed while the device was outside its window arrive now.
        for (alias, value) in std::mem::take(&mut self.held[slot]) {
            d.handle_message(due, &alias, &value, &env, &mut self.ledger, None);
        }
        let before = self.ledger.oracle.total();
        let mut sink = self.recorder.sink(slot);
        let sent = d.poll_transmit(slot, due, &env, &mut self.ledger, Some(&mut sink));
        if self.ledger.oracle.total() != before {
            let kept = self.ledger.oracle.violations_mut();
            self.recorder.capture(slot, d.number, kept);
        }
        let Some((kind, transmit)) = sent else {
            if self.edge.is_some() {
                self.edge_synced(due);
            }
            let d = &self.devices[slot];
            let next = d.poll_timeout();
            self.push(next, slot);
            return;
        };
        if real_lateness > LATE {
            self.late_sends += 1;
        }
        let mut req = match transmit {
            Transmit::Http(req) => {
                self.recorder.request(slot, due, &req);
                let d = &self.devices[slot];
                let broker = self.mqtt_broker.as_ref();
                if req.path() == "/provision/activate"
                    && super::mqtt_links::activates_over_mqtt(broker, &self.setup, d)
                {
                    return self.activate_over_mqtt(slot, kind, due, &req, tx);
                }
                req
            }
            Transmit::Publish { alias, value } => {
                return self.publish(slot, kind, due, alias, value, tx)
            }
            Transmit::Frame(text) => return self.edge_send(slot, due, text),
        };
        let mut fault = self.inject(slot, kind, due);
        if fault.drop {
            self.dropped += 1;
        }
        let (net_wait, net_injected) = self.shape_net(slot, due, &mut fault);
        // A `fleetsim proxy` on the way keeps the device's windows on the
        // run's clock, not on its own.
        let sent_at = self.now().as_millis().to_string();
        req.headers.insert(crate::netem::CLOCK_HEADER, sent_at);
        let intended = self.instant_of(due);
        let hold = crate::http_client::long_poll_hold(&req);
        let waits = self.http.timeout() + hold + fault.delay.unwrap_or_default() + net_wait;
        let in_reset = fleetsim_fleet::setup::in_reset_window(&self.setup.resets, due);
        if let Some(m) = &self.metrics {
            m.injected_client(&fault);
        }
        self.next_wake[slot] = Time::NEVER;
        self.in_flight_of[slot] = Some(InFlight {
            kind,
            intended,
            injected: fault.drop || fault.cut_body || in_reset || net_injected,
            deadline: intended + waits,
            long_poll: !hold.is_zero(),
        });
        self.ledger.stats.sent(kind);
        self.in_flight += 1;
        let number = self.devices[slot].number;
        let http = match &self.mqtt_port {
            Some(p) if p.uses(self.devices[slot].group) => p.http.clone(),
            _ => self.http.clone(),
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let delivery = http.execute(number, req, fault).await;
            let _ = tx.send(Done {
                slot: slot as u32,
                outcome: Outcome::Http(delivery),
            });
        });
    }

    /// Books an MQTT exchange (a publish, an activation) of device `slot`
    /// due at `due` as in flight, given up after `bound`.
    pub(super) fn mqtt_in_flight(
        &mut self,
        slot: usize,
        kind: ReqKind,
        due: Time,
        bound: Duration,
    ) {
        let intended = self.instant_of(due);
        self.next_wake[slot] = Time::NEVER;
        self.in_flight_of[slot] = Some(InFlight {
            kind,
            intended,
            injected: false,
            deadline: intended + bound,
            long_poll: false,
        });
        self.ledger.stats.sent(kind);
        self.in_flight += 1;
    }

    pub(super) fn complete(&mut self, done: Done) {
        let Some(done) = self.park(done) else {
            return;
        };
        let slot = done.slot as usize;
        let delivery = match done.outcome {
            Outcome::Message(alias, value) => return self.message(slot, alias, value),
            Outcome::Server(lines) => return self.server_events(lines),
            Outcome::Leaked(leaked) => return self.leaked(slot, leaked),
            Outcome::Edge(outcome) => return self.edge_outcome(slot, outcome),
            Outcome::Http(delivery) => Ok(delivery),
            Outcome::Activated(delivery, link) => {
                self.activated(slot, *link);
                Ok(delivery)
            }
            Outcome::Published(result) => Err(result),
        };
        self.in_flight = self.in_flight.saturating_sub(1);
        self.processed += 1;
        let now = self.now();
        let Some(InFlight {
            kind,
            intended,
            injected,
            ..
        }) = self.in_flight_of[slot].take()
        else {
            return;
        };
        let injected = matches!(&delivery, Ok(dv) if self.cut_by_window(slot, dv)) || injected;
        // From the intended send time: a late driver shows up as latency.
        let latency = Instant::now().saturating_duration_since(intended);
        let group = self.devices[slot].group;
        let env = device_env!(self, group);
        let d = &mut self.devices[slot];
        let delivery = match delivery {
            Ok(delivery) => delivery,
            Err(result) => {
                if let Some(m) = &self.metrics {
                    m.published(kind, result, latency);
                }
                match result {
                    Ok(()) => self.ledger.stats.answered_real(kind, 200, latency),
                    Err(e) => {
                        self.ledger.stats.failed(kind, e);
                        self.ledger.stats.failed_not_injected += 1;
                    }
                }
                d.handle_published(now, result, &env, &mut self.ledger, None);
                let next = d.poll_timeout();
                self.push(next.max(now), slot);
                return;
            }
        };
        match &delivery {
            Delivery::Complete(r) => self.ledger.stats.answered_real(kind, r.status, latency),
            Delivery::Broken(e, _) => {
                self.ledger.stats.failed(kind, *e);
                self.ledger.stats.failed_not_injected += u64::from(!injected);
            }
        }
        if let Some(m) = &self.metrics {
            m.delivery(kind, &delivery, latency);
        }
        self.recorder.answer(slot, now, &delivery);
        let before = self.ledger.oracle.total();
        let mut sink = self.recorder.sink(slot);
        d.handle_response(slot, now, delivery, &env, &mut self.ledger, Some(&mut sink));
        if self.ledger.oracle.total() != before {
            let kept = self.ledger.oracle.violations_mut();
            self.recorder.capture(slot, d.number, kept);
        }
        let next = d.poll_timeout();
        self.push(next.max(now), slot);
        self.saw_url(slot);
    }

    /// Copies the phase and violation counts into the live metrics.
    fn export_metrics(&self) {
        if let Some(m) = &self.metrics {
            m.phases(&self.ledger.phases);
            m.violations(self.ledger.oracle.counts());
        }
    }

    /// Hands the UI a snapshot when one is due (or `last`); true when the UI
    /// asked the run to stop.
    fn publish_live(&mut self, now: Time, last: bool) -> bool {
        if self.live.is_none() {
            return false;
        }
        let real = self.real_view();
        let Some(feed) = &mut self.live else {
            return false;
        };
        let run = fleetsim_fleet::snapshot::Parts {
            now: now.min(self.end),
            end: self.end,
            events: self.processed,
            ledger: &self.ledger,
            devices: &self.devices,
            setup: &self.setup,
            members: &[],
            focus: None,
            finished: last,
            with_digest: true,
            in_flight: self.in_flight,
        };
        feed.publish(run, &self.recorder, real)
    }

    /// The faults injected so far (client fault windows, the emulated
    /// network) and the server-side events applied, for the live view.
    fn real_view(&self) -> live::RealView {
        let mut injected = vec![("client drop", self.dropped)];
        if let Some(net) = &self.net {
            let t = &net.tally;
            injected.push(("net request lost", t.requests_dropped));
            injected.push(("net answer lost", t.answers_dropped));
            injected.push(("net window cut", t.partition_cuts));
        }
        live::RealView {
            injected: injected
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(name, n)| (name.to_string(), n))
                .collect(),
            server_events: self.server.as_ref().map(|f| f.applied()),
        }
    }

    /// The end of a run: every request in flight (but held long polls) is
    /// answered or reaches its own deadline (+ [`DRAIN_GRACE`]); those that
    /// do not are unanswered, and lost unless the scenario injected their
    /// failure.
    async fn drain(&mut self, rx: &mut mpsc::UnboundedReceiver<Done>) {
        let awaited = |d: &Driver| {
            let waited = d.in_flight_of.iter().flatten().filter(|f| !f.long_poll);
            waited.map(|f| f.deadline).max()
        };
        while let Some(last) = awaited(self) {
            match tokio::time::timeout_at(last + DRAIN_GRACE, rx.recv()).await {
                Ok(Some(done)) => self.complete(done),
                _ => break,
            }
        }
        for f in self.in_flight_of.iter().flatten().filter(|f| !f.long_poll) {
            self.ledger.stats.unanswered += 1;
            self.ledger.stats.failed_not_injected += u64::from(!f.injected);
        }
    }

    fn finish(self) -> RunResult {
        let mut extra = std::collections::BTreeMap::new();
        extra.insert("late_sends", self.late_sends);
        extra.insert("dropped_by_fault", self.dropped);
        extra.extend(self.server_side_counters());
        let gateway = self.server.as_ref().and_then(|f| f.gateway.clone());
        if let Some(net) = &self.net {
            extra.extend(net.tally.counters());
        }
        if let Some(leaks) = &self.leaks {
            extra.extend(leaks.counters());
        }
        let (twin, twin_counters) = self.edge_result();
        extra.extend(twin_counters);
        let mut result = RunResult::assemble(
            self.ledger,
            self.devices.iter(),
            self.processed,
            Vec::new(),
            extra,
        );
        result.real_time = true;
        result.gateway = gateway;
        result.twin = twin;
        result
    }
}
