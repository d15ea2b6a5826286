//! The server's side of the story in real runs against `fleetsim serve`:
//! the driver reads `serve`'s event stream (`GET /fleetsim/events`, see
//! [`crate::server_events`]) and feeds each event to the oracle as the
//! virtual engine feeds the embedded server's — action status changes
//! (DDI-SM-FINAL's "left a final state" half, and when an action closed),
//! OTAU manifests written (OTAU-304), install commands given and fired
//! (URL-ONCE, URL-LIVE's plans) — and fills the report's gateway section.
//!
//! Two clocks: `serve`'s scenario time starts when it starts, the driver's
//! when the run starts. A run that reads the stream adopts `serve`'s clock
//! (scenario time zero is `serve`'s, measured by the probe before the
//! fleet starts; both use the scenario's `time_scale`), and its URL epoch,
//! so event times, device times, `If-Modified-Since` values and URL
//! `expires` are on one time line. Events are applied in sequence order as
//! they arrive (a subscriber task long-polls the stream and hands batches
//! to the driver through its completion channel): an event is applied a
//! few milliseconds of real time after it happened, between device events
//! of about the same time; the checks it feeds compare times, not arrival
//! order. At the end of the run the driver reads what is left.
//!
//! The Ditto twin's events (kind `twin_event`) go to the oracle as the
//! engine feeds the embedded hub's (`Oracle::twin_event`: TWIN-LOST, -DUP,
//! -ORDER and the ID in an event's topic). Their order against what the
//! gateways see is kept as for device answers: each JSON frame serve sends
//! on `/ws/2` carries the stream's next number in its Ditto headers
//! ([`frame_seq`]); a frame numbered above the events applied is parked
//! with the answers, and so is every later frame of that gateway and the
//! close of its session (they keep their order). So a command's event is
//! applied before its response reaches the gateway, as in the engine.
//! Live messages delivered and the twin read back at quiet periods are
//! the driver's own observations (`edge.rs`), not the stream's.

use std::collections::HashMap;
use std::time::Duration;

use fleetsim_core::oracle::url::UrlPlan;
use fleetsim_core::server::MgmtCredentials;
use fleetsim_fleet::constrained_report::{strategy_result, GatewayReport};

use super::driver::Driver;
use super::edge::EdgeOutcome;
use super::*;
use crate::server_events::{
    frame_seq, parse_lines, EventLine, GatewayStats, ServerSide, EPOCH_HEADER, EVENTS_PATH,
    GATEWAY_PATH, NEXT_HEADER, NOW_HEADER, SEQ_HEADER,
};

/// How long the subscriber asks `serve` to hold a poll with nothing new.
const HOLD_MS: u64 = 500;
/// Pause after a failed poll of the stream.
const RETRY: Duration = Duration::from_millis(100);
/// At the end of a run: polls of what is left, at most.
const FINAL_READS: usize = 64;
/// An answer waits at most this long for the events numbered below it
/// (a stream that stalls must not stall the devices).
const PARK_MAX: Duration = Duration::from_secs(1);

/// Where the stream is and how to ask for it.
#[derive(Clone)]
pub(super) struct Stream {
    http: Arc<Http>,
    base: String,
    authorization: String,
}

impl Stream {
    fn request(&self, path_and_query: &str) -> Request {
        let mut req = Request::new(Method::Get, format!("{}{path_and_query}", self.base));
        req.headers
            .insert("authorization", self.authorization.clone());
        req
    }

    /// One read from `from`, held up to `wait_ms`: the lines and the
    /// server's headers (`now_ms`, `epoch_s`, `next`).
    async fn read(&self, from: u64, wait_ms: u64) -> Result<Read, String> {
        let req = self.request(&format!("{EVENTS_PATH}?from={from}&wait_ms={wait_ms}"));
        let r = match self.http.execute(u64::MAX, req, Injected::default()).await {
            Delivery::Complete(r) => r,
            Delivery::Broken(e, _) => return Err(e.to_string()),
        };
        if r.status != 200 {
            return Err(format!("answered {}", r.status));
        }
        let header = |name| r.headers.get(name).and_then(|v| v.parse::<u64>().ok());
        let (Some(now_ms), Some(epoch_s), Some(next)) = (
            header(NOW_HEADER),
            header(EPOCH_HEADER),
            header(NEXT_HEADER),
        ) else {
            return Err("not a fleetsim serve event stream (headers missing)".into());
        };
        let (lines, _) = parse_lines(r.body.as_bytes());
        Ok(Read {
            lines,
            now_ms,
            epoch_s,
            next,
        })
    }

    async fn gateway(&self) -> Option<GatewayStats> {
        let req = self.request(GATEWAY_PATH);
        match self.http.execute(u64::MAX, req, Injected::default()).await {
            Delivery::Complete(r) if r.status == 200 => {
                serde_json::from_slice(r.body.as_bytes()).ok()
            }
            _ => None,
        }
    }
}

/// One answer of the stream.
pub(super) struct Read {
    lines: Vec<EventLine>,
    now_ms: u64,
    epoch_s: u64,
    next: u64,
}

/// What the probe found: the stream, `serve`'s clock, where to read from.
pub(super) struct Probe {
    pub(super) stream: Stream,
    /// The real instant of `serve`'s scenario time zero.
    pub(super) zero: Instant,
    /// Unix seconds of `serve`'s scenario time zero.
    pub(super) epoch_s: u64,
}

/// Asks the target for its event stream with `login`; `None` when it has
/// none (not `fleetsim serve`, or the credentials are refused) — then the
/// run checks what devices see only.
pub(super) async fn probe(
    http: &Arc<Http>,
    base: &str,
    login: &MgmtCredentials,
    scale: f64,
) -> Option<Probe> {
    let pair = format!("{}:{}", login.user, login.password);
    let stream = Stream {
        http: http.clone(),
        base: base.to_string(),
        authorization: format!(
            "Basic {}",
            crate::management::client::base64_lite::encode(pair.as_bytes())
        ),
    };
    let sent = Instant::now();
    let read = match stream.read(u64::MAX, 0).await {
        Ok(read) => read,
        Err(what) => {
            tracing::info!(%what, "the target has no server-side event stream; server-side invariants are not checked");
            return None;
        }
    };
    // `serve` read its clock about halfway through the exchange.
    let mid = sent + Instant::now().saturating_duration_since(sent) / 2;
    let since_zero = crate::netem::real(Span(read.now_ms), scale);
    let zero = mid.checked_sub(since_zero).unwrap_or(mid);
    tracing::info!(
        now_ms = read.now_ms,
        next = read.next,
        "reading fleetsim serve's server-side events"
    );
    Some(Probe {
        stream,
        zero,
        epoch_s: read.epoch_s,
    })
}

/// The driver's state for the server's side.
pub(super) struct ServerFeed {
    stream: Stream,
    /// The next sequence number to apply.
    next: u64,
    /// Events the server no longer had when asked (the checks missed them).
    missed: u64,
    task: Option<tokio::task::JoinHandle<()>>,
    /// DDI controller id → slot.
    slots: HashMap<String, usize>,
    /// Per campaign: the slots of constrained devices it gave a command to.
    cpg_targets: Vec<Vec<u32>>,
    /// Per slot: the campaign whose command the device has.
    cpg_campaign: Vec<Option<u16>>,
    /// Per campaign: re-fired commands.
    refired: Vec<u64>,
    /// `[at_ms, bytes]` of the cache, one point per sample interval.
    cache_bytes: Vec<(u64, u64)>,
    /// The gateway section, made at the end of the run.
    pub(super) gateway: Option<GatewayReport>,
    /// Answers waiting for the events numbered below their
    /// [`SEQ_HEADER`]: `(seq, parked at, the answer)`.
    parked: Vec<(u64, Instant, Done)>,
    /// True while parked answers are handed back (they pass).
    releasing: bool,
    /// Answers (and gateways' frames) that waited for events, and those
    /// that waited in vain.
    pub(super) waited: (u64, u64),
    /// Twin events applied (kind `twin_event`).
    twin_events: u64,
}

impl ServerFeed {
    /// Events applied to the oracle so far (sequence numbers start at 0).
    pub(super) fn applied(&self) -> u64 {
        self.next
    }

    /// The slots of the `cpg` devices campaign `i` gave its command to.
    pub(super) fn cpg_targets(&self, i: usize) -> &[u32] {
        self.cpg_targets.get(i).map_or(&[], |t| t.as_slice())
    }

    /// The feed for `devices`, reading from the stream the probe found.
    pub(super) fn new(stream: Stream, devices: &[Device], campaigns: usize) -> ServerFeed {
        let slots = devices
            .iter()
            .enumerate()
            .filter(|(_, d)| d.is_ddi())
            .map(|(slot, d)| (d.controller_id.clone(), slot))
            .collect();
        ServerFeed {
            stream,
            next: 0,
            missed: 0,
            task: None,
            slots,
            cpg_targets: vec![Vec::new(); campaigns],
            cpg_campaign: vec![None; devices.len()],
            refired: vec![0; campaigns],
            cache_bytes: Vec::new(),
            gateway: None,
            parked: Vec::new(),
            releasing: false,
            waited: (0, 0),
            twin_events: 0,
        }
    }

    /// Starts the subscriber: it long-polls the stream and sends each
    /// non-empty batch through `tx` until the driver stops it.
    pub(super) fn subscribe(&mut self, tx: mpsc::UnboundedSender<Done>) {
        let stream = self.stream.clone();
        self.task = Some(tokio::spawn(async move {
            let mut from = 0;
            loop {
                match stream.read(from, HOLD_MS).await {
                    Ok(read) => {
                        from = read.next.max(from);
                        // Empty batches too: parked answers are looked at.
                        let done = Done {
                            slot: 0,
                            outcome: Outcome::Server(read.lines),
                        };
                        if tx.send(done).is_err() {
                            return;
                        }
                    }
                    Err(what) => {
                        tracing::debug!(%what, "server-side event stream");
                        tokio::time::sleep(RETRY).await;
                    }
                }
            }
        }));
    }
}

/// The number a gateway's frame (or the close of its session) waits for:
/// the frame's own [`SEQ_HEADER`] (see [`frame_seq`]), and at least that
/// of the gateway's frames parked before it — a session's frames and its
/// close reach the device in the order they came, the unnumbered control
/// frames included.
fn edge_seq(outcome: &EdgeOutcome, slot: u32, parked: &[(u64, Instant, Done)]) -> Option<u64> {
    let own = match outcome {
        EdgeOutcome::Frame { text, .. } => frame_seq(text),
        EdgeOutcome::Closed { .. } => None,
        _ => return None,
    };
    let behind = parked
        .iter()
        .filter(|(_, _, d)| d.slot == slot)
        .filter(|(_, _, d)| {
            matches!(
                d.outcome,
                Outcome::Edge(EdgeOutcome::Frame { .. } | EdgeOutcome::Closed { .. })
            )
        })
        .map(|(seq, _, _)| *seq)
        .max();
    own.max(behind)
}

impl Driver {
    /// `done`, unless it is an answer of `serve` that must wait for server
    /// events not applied yet (then it is parked, and handed to
    /// `complete` once they are).
    pub(super) fn park(&mut self, done: Done) -> Option<Done> {
        if self.server.as_ref().is_none_or(|f| f.releasing) {
            return Some(done);
        }
        if let Outcome::Http(Delivery::Complete(r)) = &done.outcome {
            let decided = r.headers.get(NOW_HEADER).and_then(|v| v.parse().ok());
            if let Some(decided) = decided {
                self.not_behind(Time(decided));
            }
        }
        let Some(feed) = self.server.as_mut() else {
            return Some(done);
        };
        let seq = match &done.outcome {
            Outcome::Http(Delivery::Complete(r)) => {
                r.headers.get(SEQ_HEADER).and_then(|v| v.parse().ok())
            }
            Outcome::Edge(e) => edge_seq(e, done.slot, &feed.parked),
            _ => None,
        };
        match seq {
            Some(seq) if seq > feed.next => {
                feed.waited.0 += 1;
                feed.parked.push((seq, Instant::now(), done));
                None
            }
            _ => Some(done),
        }
    }

    /// Hands parked answers whose events are applied (or that waited
    /// [`PARK_MAX`], or all with `all`) to `complete`.
    fn release(&mut self, all: bool) {
        let Some(feed) = self.server.as_mut() else {
            return;
        };
        let next = feed.next;
        let (ready, still): (Vec<_>, Vec<_>) = std::mem::take(&mut feed.parked)
            .into_iter()
            .partition(|(seq, at, _)| all || *seq <= next || at.elapsed() >= PARK_MAX);
        feed.parked = still;
        feed.waited.1 += ready.iter().filter(|(seq, _, _)| *seq > next).count() as u64;
        feed.releasing = true;
        for (_, _, done) in ready {
            self.complete(done);
        }
        if let Some(feed) = self.server.as_mut() {
            feed.releasing = false;
        }
    }

    /// Applies a batch of server-side events (in sequence order, each once).
    pub(super) fn server_events(&mut self, lines: Vec<EventLine>) {
        let Some(mut feed) = self.server.take() else {
            return;
        };
        for line in lines {
            if let ServerSide::Gap { missed } = line.event {
                feed.missed += missed;
                feed.next = feed.next.max(line.seq);
                continue;
            }
            if line.seq < feed.next {
                continue;
            }
            if line.seq > feed.next {
                feed.missed += line.seq - feed.next;
            }
            feed.next = line.seq + 1;
            self.not_behind(Time(line.at_ms));
            self.server_event(&mut feed, Time(line.at_ms), line.event);
        }
        self.server = Some(feed);
        self.release(false);
    }

    fn slot_of_number(&self, number: u64) -> Option<usize> {
        self.devices
            .binary_search_by_key(&number, |d| d.number)
            .ok()
    }

    /// One event, as the virtual engine applies the embedded server's.
    fn server_event(&mut self, feed: &mut ServerFeed, at: Time, event: ServerSide) {
        let oracle = &mut self.ledger.oracle;
        if let Some(envelope) = event.twin_envelope() {
            feed.twin_events += 1;
            return oracle.twin_event(at, &envelope);
        }
        match event {
            ServerSide::Status {
                controller_id,
                action,
                to,
                from_final,
                to_final,
                ..
            } => {
                let Some(&slot) = feed.slots.get(&controller_id) else {
                    return;
                };
                let number = self.devices[slot].number;
                oracle.server_status_change(
                    slot,
                    number,
                    &controller_id,
                    at,
                    action,
                    from_final,
                    to_final,
                    &to,
                );
            }
            ServerSide::Manifest {
                device: Some(n), ..
            } => oracle.otau_manifest_set(n, at),
            ServerSide::Manifest { device: None, .. } => {
                for d in self.devices.iter().filter(|d| d.is_otau()) {
                    oracle.otau_manifest_set(d.number, at);
                }
            }
            ServerSide::Command { device, campaign } => {
                self.command_given(feed, at, device, campaign)
            }
            ServerSide::Fired {
                device, reissue, ..
            } => {
                let Some(slot) = self.slot_of_number(device) else {
                    return;
                };
                let d = &self.devices[slot];
                self.ledger
                    .oracle
                    .url_fired(d.number, &d.controller_id, at, reissue);
                if let (true, Some(c)) = (reissue, feed.cpg_campaign[slot]) {
                    feed.refired[c as usize] += 1;
                }
            }
            ServerSide::Dropped { .. }
            | ServerSide::Finished { .. }
            | ServerSide::Evicted { .. }
            | ServerSide::TwinEvent { .. }
            | ServerSide::Gap { .. } => {}
        }
    }

    /// Campaign `campaign` gave its install command to constrained device `number`.
    fn command_given(&mut self, feed: &mut ServerFeed, at: Time, number: u64, campaign: usize) {
        let (Some(slot), Some(plan)) = (
            self.slot_of_number(number),
            self.setup.campaigns.get(campaign),
        ) else {
            return;
        };
        let g = &self.setup.groups[self.devices[slot].group as usize];
        let url_plan = UrlPlan {
            strategy: plan.strategy,
            issued: at,
            need: g.download_need(plan.command_size),
            bound: g.finish_bound(plan.command_size),
        };
        self.ledger.oracle.url_command(number, url_plan);
        feed.cpg_campaign[slot] = Some(campaign as u16);
        feed.cpg_targets[campaign].push(slot as u32);
    }

    /// The end of a run with the stream: stop the subscriber, apply what
    /// it handed over and what is left on the server (up to `end`), run
    /// the end-of-run checks and make the gateway section.
    pub(super) async fn close_server_side(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Done>,
        end: Time,
    ) {
        let Some(feed) = self.server.as_mut() else {
            return;
        };
        if let Some(task) = feed.task.take() {
            task.abort();
        }
        while let Ok(done) = rx.try_recv() {
            self.complete(done);
        }
        for _ in 0..FINAL_READS {
            let Some(feed) = self.server.as_ref() else {
                return;
            };
            let (stream, from) = (feed.stream.clone(), feed.next);
            match stream.read(from, 0).await {
                Ok(read) if !read.lines.is_empty() => self.server_events(read.lines),
                _ => break,
            }
        }
        self.release(true);
        let cpg = self.devices.iter().any(|d| d.is_constrained());
        if cpg {
            let setup = &self.setup;
            self.ledger
                .oracle
                .url_at_end(end, |n| setup.controller_id(n));
        }
        let Some(mut feed) = self.server.take() else {
            return;
        };
        if cpg {
            let stats = feed.stream.gateway().await.unwrap_or_default();
            feed.cache_bytes.push((end.as_millis(), stats.cache_bytes));
            feed.gateway = Some(self.gateway_report(&mut feed, stats, end));
        }
        self.server = Some(feed);
    }

    /// The gateway section from the commands seen and `serve`'s statistics.
    fn gateway_report(
        &self,
        feed: &mut ServerFeed,
        stats: GatewayStats,
        end: Time,
    ) -> GatewayReport {
        let mut strategies = Vec::new();
        for (i, plan) in self.setup.campaigns.iter().enumerate() {
            let slots = &feed.cpg_targets[i];
            if slots.is_empty() {
                continue;
            }
            let leaks = self.leaks.as_ref().map(|l| l.counts[i]);
            let counts = (feed.refired[i], leaks.unwrap_or_default());
            let result = strategy_result(plan, slots, &self.devices, counts, end);
            strategies.push(result);
        }
        GatewayReport {
            strategies,
            cache_bytes: std::mem::take(&mut feed.cache_bytes),
            cache_peak_bytes: stats.cache_peak_bytes,
            cache_fetches: stats.cache_fetches,
            cache_evictions: stats.cache_evictions,
            counters: stats.counters,
        }
    }

    /// Counters of the server side for the report: events the server no
    /// longer had when the driver asked; answers that waited for events,
    /// and those that waited in vain; how far the run's clock was moved
    /// forward to stay on `serve`'s ([`Driver::not_behind`]).
    pub(super) fn server_side_counters(&self) -> Vec<(&'static str, u64)> {
        let Some(f) = &self.server else {
            return Vec::new();
        };
        vec![
            ("server_events_missed", f.missed),
            ("answers_waited_for_events", f.waited.0),
            ("answers_waited_in_vain", f.waited.1),
            ("server_twin_events", f.twin_events),
            ("clock_advanced_ms", self.clock_advanced.as_millis()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_events::stamp_frame;

    fn frame(slot: u32, seq: Option<u64>) -> Done {
        let text =
            r#"{"topic":"a/b/things/twin/commands/modify","headers":{},"path":"/","status":204}"#;
        let text = match seq {
            Some(n) => stamp_frame(text.to_owned(), n),
            None => "START-SEND-EVENTS:ACK".to_owned(),
        };
        Done {
            slot,
            outcome: Outcome::Edge(EdgeOutcome::Frame { epoch: 1, text }),
        }
    }

    fn seq_of(done: &Done, parked: &[(u64, Instant, Done)]) -> Option<u64> {
        match &done.outcome {
            Outcome::Edge(e) => edge_seq(e, done.slot, parked),
            _ => None,
        }
    }

    #[test]
    fn a_gateways_frames_and_close_wait_behind_its_parked_frames() {
        let now = Instant::now();
        // Nothing parked: a frame waits for its own number, a control frame
        // and a close for nothing.
        assert_eq!(seq_of(&frame(3, Some(9)), &[]), Some(9));
        assert_eq!(seq_of(&frame(3, None), &[]), None);
        let closed = Done {
            slot: 3,
            outcome: Outcome::Edge(EdgeOutcome::Closed { epoch: 1 }),
        };
        assert_eq!(seq_of(&closed, &[]), None);
        // Gateway 3 has a frame parked for 9: its later frames (numbered
        // lower, or not at all) and its close wait for 9 too; gateway 4's
        // do not, nor does a backend answer of gateway 3.
        let parked = vec![(9, now, frame(3, Some(9)))];
        assert_eq!(seq_of(&frame(3, None), &parked), Some(9));
        assert_eq!(seq_of(&frame(3, Some(7)), &parked), Some(9));
        assert_eq!(seq_of(&frame(3, Some(12)), &parked), Some(12));
        assert_eq!(seq_of(&closed, &parked), Some(9));
        assert_eq!(seq_of(&frame(4, None), &parked), None);
        let answer = Done {
            slot: 3,
            outcome: Outcome::Edge(EdgeOutcome::Command { status: Some(200) }),
        };
        assert_eq!(seq_of(&answer, &parked), None);
    }
}
