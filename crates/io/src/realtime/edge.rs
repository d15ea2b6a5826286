//! Edge gateways (`protocol: ditto`, seed 002) in real time: each gateway's
//! Ditto Protocol session is a real WebSocket to the twin's `/ws/2`
//! (`fleetsim serve`'s twin hub or a Ditto, Basic credentials; with
//! `--twin-api http` its twin commands go over the HTTP API instead,
//! `edge/http.rs`), its acts are the
//! virtual engine's ([`Activity`], the gateway's own seeded stream), and the
//! backend's commands and twin-side writes are real HTTP requests to the
//! twin's API v2 ([`fleetsim_fleet::edge::backend`], shared with the engine).
//!
//! - Sessions follow the gateway's online windows: connect when a window
//!   opens (the device hears `handle_session(up)` once the upgrade
//!   succeeded), close at its end; a dropped socket or a failed connect is
//!   tried again [`RECONNECT_DELAY`] later while the window lasts. The real
//!   network is the link (no loss or latency model). Each connect is an
//!   epoch: frames and closes of an older socket are ignored.
//! - Frames from `Device::poll_transmit` go to the socket in order; frames
//!   from it reach `Device::handle_message` (alias `ditto`), a live
//!   message told to the oracle first (`twin_message_delivered`).
//! - Commands: the oracle is told of a post (`twin_command_posted`) when it
//!   is *sent*, not when its answer comes: to a connected gateway the
//!   answer is the gateway's own reply, which comes after the gateway
//!   applied the message. A post that fails stays counted as posted, which
//!   only makes TWIN-ONCE more lenient for that value (values are unique
//!   per command). Twin-side writes are told on their 2xx.
//! - Convergence (TWIN-CONVERGE, TWIN-ID): at a gateway's `TwinSynced`, when
//!   the oracle wants it checked, the driver keeps a copy of the runtime
//!   and reads the gateway's things with `GET /api/2/things/{id}` (its
//!   mapped things, and those of the edge devices that left). The runtime
//!   may move on while the answers travel: the check is made only if
//!   nothing happened at that gateway since (no act, frame, session change
//!   or backend request or answer) and none of its backend requests is
//!   still out (its effect on the twin may not be told yet); otherwise it
//!   is skipped and the oracle
//!   keeps the check due for the gateway's next quiet period. Checks made
//!   and skipped are counters of the run (`twin_converge_checks`,
//!   `twin_converge_skipped`).
//! - The twin's events come from serve's event stream with
//!   `--server-events` (`server_feed.rs`, which also holds a frame until
//!   the events before it are applied): TWIN-LOST, TWIN-DUP and TWIN-ORDER
//!   are on then, off without it (the oracle turns them on only when
//!   events are fed; a twin-side write's excuse then lasts while the twin
//!   holds the written value).
//! - A twin-side write is told when sent as well as on its 2xx: a twin
//!   that pushes it to the gateway (TWIN-NOPUSH) may deliver the pushed
//!   message before the write's answer is back. Told early it only adds an
//!   excuse for a value the twin holds only if the write was applied.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use fleetsim_core::ditto::protocol::{Criterion, Envelope};
use fleetsim_core::message::percent_encode;
use fleetsim_core::protocol::edge::client::ALIAS;
use fleetsim_core::protocol::edge::mapping::gateway_thing_id;
use fleetsim_core::protocol::edge::{GatewayRuntime, Scope};
use fleetsim_fleet::edge::activity::{Act, Activity, Churn};
use fleetsim_fleet::edge::backend;
use fleetsim_fleet::edge::model::edge_device;
use fleetsim_fleet::edge::stats::BackendCounts;
use fleetsim_fleet::edge::RECONNECT_DELAY;

use super::driver::Driver;
use super::*;
use crate::ditto::session::{self, BasicAuth};

/// The env of a device call, borrowing only the driver's fields it needs.
macro_rules! env_of {
    ($driver:ident) => {
        Env {
            setup: &$driver.setup,
            base_url: &$driver.base,
            tenant: &$driver.tenant,
            authorization: $driver.authorization.as_deref(),
        }
    };
}

mod acts;
mod http;
mod sync;

/// Bound of one WebSocket connect (upgrade included).
const CONNECT_BOUND: Duration = Duration::from_secs(10);
/// Past its requests' timeout, how long the end of a run waits for the
/// backend's answers and the twin reads still out.
const FINISH_GRACE: Duration = Duration::from_secs(1);

/// What came back for a gateway.
pub(super) enum EdgeOutcome {
    /// The session of `epoch` is open: frames for it go to `out`.
    Opened {
        epoch: u64,
        out: mpsc::UnboundedSender<String>,
    },
    /// The connect of `epoch` failed.
    Failed { epoch: u64 },
    /// A frame from the session of `epoch`.
    Frame { epoch: u64, text: String },
    /// The session of `epoch` closed (the server or the network).
    Closed { epoch: u64 },
    /// The answer to a backend command (`None`: no HTTP answer).
    Command { status: Option<u16> },
    /// The answer to a twin-side write.
    Written {
        write: Box<backend::TwinWrite>,
        status: Option<u16>,
    },
    /// The twin's things of read `id` (`None`: a read failed).
    Read {
        id: u64,
        things: Option<BTreeMap<String, Value>>,
    },
    /// HTTP mode (`http.rs`).
    Http(Box<http::HttpOutcome>),
}

/// Where a gateway's session is.
enum Link {
    Down,
    Connecting,
    Up(mpsc::UnboundedSender<String>),
}

/// A twin read under way: the runtime at the quiet period.
struct Reading {
    id: u64,
    generation: u64,
    rt: GatewayRuntime,
}

/// One gateway's real-time side.
struct Gateway {
    activity: Activity,
    link: Link,
    epoch: u64,
    window_end: Time,
    /// The link event due (older heap entries are stale).
    link_due: Time,
    commands: u64,
    writes: u64,
    /// Backend requests of this gateway's things in flight (a twin read
    /// finished while one is out may have seen its effect untold).
    requests_out: u64,
    /// Bumped by everything that happens at the gateway.
    generation: u64,
    reading: Option<Reading>,
    /// Thing IDs of the edge devices at the last quiet period: the things
    /// the backend addresses.
    synced: BTreeSet<String>,
}

/// Timers of the edge side.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Link,
    Act,
}

/// The edge side of a real-time run.
pub(super) struct Edge {
    gateways: Vec<Option<Box<Gateway>>>,
    slot_of: BTreeMap<u64, u32>,
    /// The twin's base URL (its HTTP API v2).
    twin_base: String,
    /// Gateways write over the HTTP API (`--twin-api http`, `http.rs`).
    http: Option<Box<http::HttpTwin>>,
    ws_url: String,
    auth: BasicAuth,
    heap: BinaryHeap<Reverse<(Time, u64, u32, Timer)>>,
    seq: u64,
    next_read: u64,
    /// Where the sessions' and requests' tasks report (`None` once the run ended).
    pub(super) tx: Option<mpsc::UnboundedSender<Done>>,
    backend: BackendCounts,
    /// Backend requests and twin reads in flight.
    outstanding: u64,
    checks: u64,
    skipped: u64,
    connect_failures: u64,
    frames_in: u64,
    frames_out: u64,
}

/// `ws[s]://host:port[/prefix]/ws/2` of the target's `base`.
fn ws_url(base: &str) -> String {
    let rest = base
        .strip_prefix("https://")
        .map(|r| format!("wss://{r}"))
        .or_else(|| base.strip_prefix("http://").map(|r| format!("ws://{r}")))
        .unwrap_or_else(|| base.to_owned());
    format!("{rest}/ws/2")
}

impl Edge {
    /// The edge side of a run of `devices`, `None` without gateways;
    /// `auth`: the twin's credentials.
    pub(super) fn new(
        scenario: &Scenario,
        setup: &Setup,
        devices: &[Device],
        base: &str,
        auth: BasicAuth,
    ) -> Option<Edge> {
        let mut slot_of = BTreeMap::new();
        let gateways: Vec<_> = devices
            .iter()
            .enumerate()
            .map(|(slot, d)| {
                let spec = setup.groups[usize::from(d.group)].gateway.as_ref();
                let spec = spec.filter(|_| d.is_edge())?;
                slot_of.insert(d.number, slot as u32);
                let rng = fleetsim_fleet::rng::activity_stream(scenario.seed, d.number);
                Some(Box::new(Gateway {
                    activity: Activity::new(spec, rng),
                    link: Link::Down,
                    epoch: 0,
                    window_end: Time::ZERO,
                    link_due: Time::NEVER,
                    commands: 0,
                    writes: 0,
                    requests_out: 0,
                    generation: 0,
                    reading: None,
                    synced: BTreeSet::new(),
                }))
            })
            .collect();
        if slot_of.is_empty() {
            return None;
        }
        Some(Edge {
            gateways,
            slot_of,
            twin_base: base.to_owned(),
            http: None,
            ws_url: ws_url(base),
            auth,
            heap: BinaryHeap::new(),
            seq: 0,
            next_read: 0,
            tx: None,
            backend: BackendCounts::default(),
            outstanding: 0,
            checks: 0,
            skipped: 0,
            connect_failures: 0,
            frames_in: 0,
            frames_out: 0,
        })
    }

    fn push(&mut self, at: Time, slot: usize, timer: Timer) {
        if at != Time::NEVER {
            self.seq += 1;
            self.heap.push(Reverse((at, self.seq, slot as u32, timer)));
        }
    }

    /// When the next edge timer is due.
    pub(super) fn next_due(&self) -> Time {
        self.heap.peek().map_or(Time::NEVER, |Reverse((t, ..))| *t)
    }
}

impl Driver {
    /// Schedules every gateway's first connect and first act (at the start).
    pub(super) fn edge_start(&mut self, tx: &mpsc::UnboundedSender<Done>) {
        let Some(edge) = &mut self.edge else {
            return;
        };
        edge.tx = Some(tx.clone());
        for slot in 0..self.devices.len() {
            let Some(g) = edge.gateways[slot].as_mut() else {
                continue;
            };
            let d = &self.devices[slot];
            let link = &self.setup.groups[d.group as usize].link;
            let first = link.next_online(Time::ZERO, d.window_phase);
            g.link_due = first;
            let act = g.activity.next_at();
            edge.push(first, slot, Timer::Link);
            edge.push(act, slot, Timer::Act);
        }
    }

    /// The edge timers due at `now`.
    pub(super) fn edge_due(&mut self, now: Time) {
        loop {
            let Some(edge) = &mut self.edge else {
                return;
            };
            let Some(Reverse((at, _, slot, timer))) = edge.heap.peek().copied() else {
                return;
            };
            if at > now {
                return;
            }
            edge.heap.pop();
            match timer {
                Timer::Link => self.edge_link(slot as usize, at),
                Timer::Act => self.edge_acts(slot as usize, at),
            }
        }
    }

    fn gateway(&mut self, slot: usize) -> Option<&mut Gateway> {
        self.edge.as_mut()?.gateways[slot].as_deref_mut()
    }

    /// Something happens at gateway `slot`: a twin read under way no longer
    /// sees the runtime it was made for.
    fn edge_touch(&mut self, slot: usize) {
        if let Some(g) = self.gateway(slot) {
            g.generation += 1;
        }
    }

    /// After a step of gateway `slot` at `now`: its next wake-up, and a
    /// twin read for each gateway that told `TwinSynced`.
    fn edge_after(&mut self, slot: usize, now: Time) {
        self.edge_synced(now);
        let next = self.devices[slot].poll_timeout();
        self.push(next.max(now), slot);
    }

    /// The link event of gateway `slot` due at `at`: connect when offline in
    /// a window, close at the window's end.
    fn edge_link(&mut self, slot: usize, at: Time) {
        let now = self.now().max(at);
        let d = &self.devices[slot];
        let link = &self.setup.groups[d.group as usize].link;
        let phase = d.window_phase;
        let window = link.online_until(at, phase);
        let next_window = link.next_online(at, phase);
        let Some(edge) = &mut self.edge else {
            return;
        };
        let Some(g) = edge.gateways[slot].as_mut() else {
            return;
        };
        if g.link_due != at {
            return; // superseded
        }
        match g.link {
            Link::Up(_) => return self.edge_down(slot, now),
            Link::Connecting => {
                // The window ended before the connect did.
                g.epoch += 1;
                g.link = Link::Down;
                g.link_due = next_window;
                edge.push(next_window, slot, Timer::Link);
                return;
            }
            Link::Down => {}
        }
        let Some(end) = window else {
            g.link_due = next_window;
            edge.push(next_window, slot, Timer::Link);
            return;
        };
        g.epoch += 1;
        g.link = Link::Connecting;
        g.window_end = end;
        g.link_due = end;
        let epoch = g.epoch;
        edge.push(end, slot, Timer::Link);
        let (Some(tx), url, auth) = (edge.tx.clone(), edge.ws_url.clone(), edge.auth.clone())
        else {
            return;
        };
        let http_mode = edge.http.is_some();
        tokio::spawn(async move {
            let report = |outcome| {
                tx.send(Done {
                    slot: slot as u32,
                    outcome: Outcome::Edge(outcome),
                })
                .is_ok()
            };
            let connected =
                tokio::time::timeout(CONNECT_BOUND, session::connect(&url, Some(&auth)));
            let mut s = match connected.await {
                Ok(Ok(s)) => s,
                _ if http_mode => return http::without_socket(epoch, slot, tx.clone()).await,
                _ => {
                    report(EdgeOutcome::Failed { epoch });
                    return;
                }
            };
            let (out, mut outbox) = mpsc::unbounded_channel::<String>();
            if !report(EdgeOutcome::Opened { epoch, out }) {
                return;
            }
            loop {
                tokio::select! {
                    frame = outbox.recv() => match frame {
                        Some(text) => {
                            if !s.send(text) {
                                break;
                            }
                        }
                        // The driver closed the session.
                        None => return s.close(),
                    },
                    frame = s.recv() => match frame {
                        Some(text) => {
                            if !report(EdgeOutcome::Frame { epoch, text }) {
                                return;
                            }
                        }
                        None => break,
                    },
                }
            }
            report(EdgeOutcome::Closed { epoch });
        });
    }

    /// The session of gateway `slot` ends at `now` (window end, a close or
    /// a failed connect): the device hears of it (if it was up) and the
    /// next connect is [`RECONNECT_DELAY`] later in the window, or at the
    /// next window.
    fn edge_down(&mut self, slot: usize, now: Time) {
        let d = &self.devices[slot];
        let link = &self.setup.groups[d.group as usize].link;
        let retry = now + RECONNECT_DELAY;
        let next = match link.online_until(retry, d.window_phase) {
            Some(_) => retry,
            None => link.next_online(retry, d.window_phase),
        };
        let Some(edge) = &mut self.edge else {
            return;
        };
        let Some(g) = edge.gateways[slot].as_mut() else {
            return;
        };
        let was_up = matches!(g.link, Link::Up(_));
        g.epoch += 1;
        g.link = Link::Down; // drops the sender: the session's task closes the socket
        g.link_due = next;
        edge.push(next, slot, Timer::Link);
        if was_up {
            self.edge_touch(slot);
            let env = env_of!(self);
            let d = &mut self.devices[slot];
            d.handle_session(now, false, &env, &mut self.ledger, None);
            self.edge_after(slot, now);
        }
    }

    /// A frame gateway `slot` sends at `now` (from `poll_transmit`).
    pub(super) fn edge_send(&mut self, slot: usize, now: Time, text: String) {
        let Some(text) = self.twin_http_send(slot, now, text) else {
            return;
        };
        self.edge_touch(slot);
        if let Some(edge) = &mut self.edge {
            if let Some(Gateway {
                link: Link::Up(out),
                ..
            }) = edge.gateways[slot].as_deref()
            {
                if out.send(text).is_ok() {
                    edge.frames_out += 1;
                    self.ledger.stats.sent(ReqKind::TwinCommand);
                }
            }
        }
        self.edge_after(slot, now);
    }

    /// What came back for gateway `slot`.
    pub(super) fn edge_outcome(&mut self, slot: usize, outcome: EdgeOutcome) {
        let now = self.now();
        let Some(edge) = &mut self.edge else {
            return;
        };
        let number = self.devices[slot].number;
        let Some(g) = edge.gateways[slot].as_mut() else {
            return;
        };
        let current = |epoch: u64| epoch == g.epoch;
        match outcome {
            EdgeOutcome::Opened { epoch, out } => {
                if !current(epoch) || !matches!(g.link, Link::Connecting) {
                    return; // dropping `out` closes the late socket
                }
                g.link = Link::Up(out);
                self.edge_touch(slot);
                let env = env_of!(self);
                let d = &mut self.devices[slot];
                d.handle_session(now, true, &env, &mut self.ledger, None);
                self.edge_after(slot, now);
            }
            EdgeOutcome::Failed { epoch } => {
                if current(epoch) && matches!(g.link, Link::Connecting) {
                    edge.connect_failures += 1;
                    self.edge_down(slot, now);
                }
            }
            EdgeOutcome::Closed { epoch } => {
                if current(epoch) && matches!(g.link, Link::Up(_)) {
                    self.edge_down(slot, now);
                }
            }
            EdgeOutcome::Frame { epoch, text } => {
                if !current(epoch) || !matches!(g.link, Link::Up(_)) {
                    return;
                }
                edge.frames_in += 1;
                self.edge_touch(slot);
                if let Some(message) = live_message(&text) {
                    self.ledger.oracle.twin_message_delivered(number, &message);
                }
                let env = env_of!(self);
                let d = &mut self.devices[slot];
                d.handle_message(now, ALIAS, &text, &env, &mut self.ledger, None);
                self.edge_after(slot, now);
            }
            EdgeOutcome::Command { status } => {
                edge.outstanding = edge.outstanding.saturating_sub(1);
                g.requests_out = g.requests_out.saturating_sub(1);
                match status {
                    Some(status) => edge.backend.answer(status),
                    None => edge.backend.failed += 1,
                }
                self.edge_touch(slot);
            }
            EdgeOutcome::Written { write, status } => {
                edge.outstanding = edge.outstanding.saturating_sub(1);
                g.requests_out = g.requests_out.saturating_sub(1);
                if status.is_some_and(|s| (200..300).contains(&s)) {
                    write.tell(&mut self.ledger.oracle, number);
                }
                self.edge_touch(slot);
            }
            EdgeOutcome::Http(outcome) => self.twin_http_outcome(slot, *outcome),
            EdgeOutcome::Read { id, things } => {
                edge.outstanding = edge.outstanding.saturating_sub(1);
                let Some(reading) = g.reading.take_if(|r| r.id == id) else {
                    return;
                };
                match things {
                    Some(things) if reading.generation == g.generation && g.requests_out == 0 => {
                        edge.checks += 1;
                        let oracle = &mut self.ledger.oracle;
                        oracle.twin_synced(number, now, &reading.rt, &things);
                    }
                    _ => edge.skipped += 1,
                }
            }
        }
    }
}

/// The frame as a live message to the gateway (not a response), if it is one.
fn live_message(text: &str) -> Option<Envelope> {
    if !text.contains("/things/live/messages/") {
        return None;
    }
    let env = Envelope::parse(text.as_bytes()).ok()?;
    (matches!(env.topic.criterion, Criterion::Messages(_)) && !env.is_response()).then_some(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_url_of_the_target() {
        assert_eq!(ws_url("http://127.0.0.1:8080"), "ws://127.0.0.1:8080/ws/2");
        assert_eq!(ws_url("https://h/base"), "wss://h/base/ws/2");
    }
}
