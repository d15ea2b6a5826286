//! The script of `fleetsim conform --device`: a sans-IO state machine over
//! the server core that decides, request by request, what the reference
//! server presents to each device ([`SITUATIONS`], one after the other) and
//! judges what the device did. It owns no socket or clock: `now` comes in
//! with each request, so the run is deterministic given the device's
//! requests and their times. The device-side invariants of the oracle
//! (DDI-POLL-RATE, DDI-SM-OFFERED, DDI-CONSENT-BEFORE-INSTALL) are checked
//! by the same [`Oracle`] the simulator's devices are held to, fed from
//! what the server saw (`observe.rs`); the situation-specific rules
//! (feedback once and last, hashes checked, cancel answered, Range resume,
//! back-off, 410 respected) are in `judge.rs`.

use fleetsim_core::message::ContentId;
use fleetsim_core::message::{Body, Request, Response};
use fleetsim_core::oracle::{InvariantId, Oracle, OracleConfig};
use fleetsim_core::server::{
    self, ActionType, ArtifactSpec, DistributionId, DistributionSpec, MaintenanceSchedule,
    ModuleSpec, Tenants, MIN_POLLING_TIME,
};
use fleetsim_core::time::{Span, Time};
use fleetsim_fleet::report::conform::{CaseReport, Evidence, Outcome};

use super::judge::{self, Active};
use super::observe::{self, Call};
use super::situations::{Kind, Situation, POLL, SITUATIONS};
use crate::http_server::Shape;

/// Size of every artifact the script serves.
pub(super) const ARTIFACT_SIZE: u64 = 256 * 1024;
/// Root polls of a device not held to the sleep (a start-up probe, then
/// the first regular poll).
const UNJUDGED_ROOTS: u32 = 2;
/// Exchanges kept as evidence per case (the first ones).
const MAX_EVIDENCE: usize = 40;
/// Device-side invariants: the others judge the server, here the reference.
const DEVICE_INVARIANTS: [InvariantId; 3] = [
    InvariantId::DdiPollRate,
    InvariantId::DdiSmOffered,
    InvariantId::DdiConsentBeforeInstall,
];

/// One case of one device, while the script runs.
#[derive(Default)]
struct CaseState {
    outcome: Option<(Outcome, Option<String>)>,
    evidence: Vec<Evidence>,
    started: Option<Time>,
    ended: Option<Time>,
}

impl CaseState {
    fn decide(&mut self, outcome: Outcome, reason: Option<String>) {
        // A FAIL found later (a feedback repeated) overrides a PASS.
        match (&self.outcome, outcome) {
            (Some((Outcome::Fail, _)), _) => {}
            (Some(_), Outcome::Pass) => {}
            _ => self.outcome = Some((outcome, reason)),
        }
    }

    fn keep(&mut self, e: Evidence) {
        if self.evidence.len() < MAX_EVIDENCE {
            self.evidence.push(e);
        }
    }
}

/// A device the script plays to.
struct DeviceRun {
    cid: String,
    /// Index into [`SITUATIONS`]; `SITUATIONS.len()` once done.
    step: usize,
    active: Option<Active>,
    /// One per situation, then [`POLL`].
    cases: Vec<CaseState>,
    /// Actions whose `closed` was accepted, with their case.
    closed: Vec<(u64, usize)>,
    /// Root polls seen.
    roots: u32,
    /// The next situation starts at a root poll from this time on.
    rest_until: Time,
}

/// The script over every device that connects (the first `expected`).
pub(super) struct Script {
    tenant: String,
    expected: usize,
    dists: Vec<DistributionId>,
    devices: Vec<DeviceRun>,
    oracle: Oracle,
    violations_seen: usize,
    timeout: Span,
    /// Quiet time between two situations (one `sleep`): the root polls in
    /// it are answered with nothing to do, and held to the sleep.
    rest: Span,
}

impl Script {
    /// A script for `expected` devices told to sleep `sleep`; a situation
    /// not finished within `timeout` fails. Registers one distribution per situation.
    pub(super) fn new(
        server: &mut Tenants,
        tenant: &str,
        expected: usize,
        (sleep, timeout): (Span, Span),
    ) -> Script {
        let dists = SITUATIONS
            .iter()
            .enumerate()
            .map(|(i, s)| {
                server.add_distribution(DistributionSpec {
                    name: format!("conform-{}", s.id.to_lowercase()),
                    version: format!("1.{i}"),
                    modules: vec![ModuleSpec {
                        part: "os".into(),
                        name: "firmware".into(),
                        version: format!("1.{i}"),
                        artifacts: vec![ArtifactSpec {
                            filename: format!("fw-1.{i}.bin"),
                            content: ContentId(9000 + i as u64),
                            size: ARTIFACT_SIZE,
                        }],
                    }],
                })
            })
            .collect();
        let config = OracleConfig {
            polling_jitter: 0.0,
            url_epoch_s: 0,
        };
        Script {
            tenant: tenant.to_string(),
            expected,
            dists,
            devices: Vec::new(),
            oracle: Oracle::new(config, expected),
            violations_seen: 0,
            timeout,
            rest: sleep,
        }
    }

    /// Devices that played the whole script.
    pub(super) fn finished(&self) -> usize {
        let done = |d: &&DeviceRun| d.step >= SITUATIONS.len();
        self.devices.iter().filter(done).count()
    }

    /// The slot of `cid`, taking a new one for a new device while there is room.
    fn slot(&mut self, cid: &str) -> Option<usize> {
        if let Some(i) = self.devices.iter().position(|d| d.cid == cid) {
            return Some(i);
        }
        if self.devices.len() >= self.expected {
            return None;
        }
        let cases = (0..=SITUATIONS.len())
            .map(|_| CaseState::default())
            .collect();
        self.devices.push(DeviceRun {
            cid: cid.to_string(),
            step: 0,
            active: None,
            cases,
            closed: Vec::new(),
            roots: 0,
            rest_until: Time::ZERO,
        });
        Some(self.devices.len() - 1)
    }

    /// Before the core answers `req`: times out a stalled situation, starts
    /// the next one at a root poll, and does what the situation does to the
    /// request (a 429, a cancel, closing the action under a feedback).
    pub(super) fn before(
        &mut self,
        now: Time,
        req: &Request,
        server: &mut Tenants,
    ) -> Option<Response> {
        let cid = server::request_controller_id(req)?;
        let slot = self.slot(&cid)?;
        let call = observe::classify(req);
        self.time_out(slot, now, server);
        let d = &mut self.devices[slot];
        if let Some(a) = d.active.as_mut() {
            if let Some((outcome, why)) = judge::before(a, &call, now, server, &d.cid) {
                let step = d.step;
                d.cases[step].decide(outcome, why);
                self.end(slot, now, server);
            }
        }
        let d = &mut self.devices[slot];
        let rested = now >= d.rest_until;
        if d.active.is_none() && call == Call::Root && rested && d.step < SITUATIONS.len() {
            return self.start(slot, now, server);
        }
        None
    }

    /// After the answer is made: records the evidence, feeds the oracle,
    /// shapes the body (hash mismatch, cut) and judges the situation.
    pub(super) fn after(
        &mut self,
        now: Time,
        req: &Request,
        resp: &mut Response,
        server: &mut Tenants,
    ) -> Shape {
        let Some(cid) = server::request_controller_id(req) else {
            return Shape::Whole;
        };
        let Some(slot) = self.devices.iter().position(|d| d.cid == cid) else {
            return Shape::Whole;
        };
        let call = observe::classify(req);
        self.repeated_feedback(slot, &call, resp.status);
        let d = &mut self.devices[slot];
        let (shape, note) = match d.active.as_mut() {
            Some(a) => judge::shape(a, &call, resp),
            None => (Shape::Whole, None),
        };
        let case = d.step.min(SITUATIONS.len());
        d.cases[case].keep(observe::evidence(req, resp, note.as_deref()));
        self.feed_oracle(slot, now, &call, resp);
        let d = &mut self.devices[slot];
        let verdict = d
            .active
            .as_mut()
            .and_then(|a| judge::after(a, &call, resp.status));
        if let Some((outcome, why)) = verdict {
            let step = d.step;
            if let (Some(action), Outcome::Pass | Outcome::Fail) =
                (d.active.as_ref().and_then(|a| a.closed_ok), outcome)
            {
                d.closed.push((action, step));
            }
            d.cases[step].decide(outcome, why);
            self.end(slot, now, server);
        }
        shape
    }

    /// A deploymentBase feedback on an action whose `closed` was accepted
    /// fails that action's case: feedback is sent exactly once.
    fn repeated_feedback(&mut self, slot: usize, call: &Call, status: u16) {
        let d = &mut self.devices[slot];
        let Call::Feedback(action, fb) = call else {
            return;
        };
        if let Some(&(_, case)) = d.closed.iter().find(|(a, _)| a == action) {
            let what = fb.map_or("?", |(e, _)| e.as_str());
            d.cases[case].decide(
                Outcome::Fail,
                Some(format!("feedback `{what}` on action {action} after its closed was accepted (answered {status}): feedback must be sent exactly once")),
            );
        }
    }

    /// Feeds the exchange to the oracle; new device-side violations fail
    /// the situation under way (DDI-POLL-RATE: the whole-script case).
    fn feed_oracle(&mut self, slot: usize, now: Time, call: &Call, resp: &Response) {
        let d = &mut self.devices[slot];
        let cid = d.cid.clone();
        // A client's first root poll may be a start-up probe and its second
        // come right after: the sleep is held from the third one on.
        let scheduled = *call == Call::Root && d.roots >= UNJUDGED_ROOTS;
        if *call == Call::Root {
            d.roots += 1;
        }
        for e in observe::events(call, scheduled, resp) {
            self.oracle.observe(slot, slot as u64, &cid, now, &e);
        }
        let new: Vec<_> = self.oracle.violations()[self.violations_seen..].to_vec();
        self.violations_seen = self.oracle.violations().len();
        for v in new {
            if !DEVICE_INVARIANTS.iter().any(|i| i.as_str() == v.id) {
                continue;
            }
            let d = &mut self.devices[v.device as usize];
            let case = match v.id == InvariantId::DdiPollRate.as_str() {
                true => SITUATIONS.len(),
                false => d.step.min(SITUATIONS.len() - 1),
            };
            d.cases[case].decide(Outcome::Fail, Some(format!("{}: {}", v.id, v.message)));
        }
    }

    /// Starts the device's next situation at a root poll.
    fn start(&mut self, slot: usize, now: Time, server: &mut Tenants) -> Option<Response> {
        let d = &mut self.devices[slot];
        let step = d.step;
        let sit = &SITUATIONS[step];
        d.cases[step].started = Some(now);
        if sit.kind == Kind::Quota {
            d.active = Some(Active::new(sit.kind, None, now));
            return Some(judge::quota_answer());
        }
        server.register_target(&self.tenant, &d.cid, slot as u64, None);
        let kind = match sit.kind {
            Kind::Soft => ActionType::Soft,
            _ => ActionType::Forced,
        };
        let confirm = sit.kind == Kind::Confirm;
        let window = (sit.kind == Kind::Window).then(|| MaintenanceSchedule::Once {
            start: now + window_lead(self.rest),
            duration: self.timeout + MIN_POLLING_TIME,
        });
        let opens = window.as_ref().and_then(|w| w.window(now)).map(|w| w.0);
        let action = server.get_mut(&self.tenant).and_then(|s| {
            s.assign_with(
                now,
                self.dists[step],
                &d.cid,
                (kind, None, window),
                Some(confirm),
            )
        });
        match action {
            Some(a) => {
                let mut active = Active::new(sit.kind, Some(a.0), now);
                active.window_opens = opens;
                d.active = Some(active);
            }
            None => {
                d.cases[step].decide(
                    Outcome::Fail,
                    Some("the reference server could not assign the update (internal)".into()),
                );
                d.step += 1;
            }
        }
        None
    }

    /// Ends the situation under way: its action, if still open, is closed.
    fn end(&mut self, slot: usize, now: Time, server: &mut Tenants) {
        let d = &mut self.devices[slot];
        if let Some(a) = d.active.take() {
            if let Some(action) = a.action {
                server.cancel(now, &d.cid, server::ActionId(action), true);
            }
        }
        d.cases[d.step].ended = Some(now);
        d.step += 1;
        d.rest_until = now + self.rest;
    }

    /// Fails the situation under way when it has run longer than the timeout.
    fn time_out(&mut self, slot: usize, now: Time, server: &mut Tenants) {
        let d = &mut self.devices[slot];
        let Some(a) = &d.active else { return };
        // Before a window that opens sooner than hawkBit's minimum polling
        // time, the device is told to sleep that long: the window situation
        // waits for that one poll more.
        let budget = match a.kind {
            Kind::Window => self.timeout + window_lead(self.rest) + MIN_POLLING_TIME,
            _ => self.timeout,
        };
        if now.since(a.started) <= budget {
            return;
        }
        let why = format!(
            "no result within {budget} of the situation's start: {}",
            a.waiting_for()
        );
        let step = d.step;
        d.cases[step].decide(Outcome::Fail, Some(why));
        self.end(slot, now, server);
    }

    /// The report card's rows: every expected device × every situation and
    /// [`POLL`]; what was not reached or decided fails with `why_open`.
    pub(super) fn cases(&self, now: Time, why_open: &str) -> Vec<CaseReport> {
        let mut out = Vec::new();
        for (i, d) in self.devices.iter().enumerate() {
            for (k, (sit, c)) in SITUATIONS.iter().chain([&POLL]).zip(&d.cases).enumerate() {
                let open = |what: &str| (Outcome::Fail, Some(format!("{why_open}: {what}")));
                let (outcome, reason) = match (&c.outcome, k == SITUATIONS.len()) {
                    (Some((o, r)), _) => (*o, r.clone()),
                    (None, true) if d.step >= SITUATIONS.len() => (Outcome::Pass, None),
                    (None, true) => open("the script did not finish"),
                    (None, false) if c.started.is_some() => {
                        open(&d.active.as_ref().map_or(String::new(), |a| a.waiting_for()))
                    }
                    (None, false) => open("situation not reached"),
                };
                let end = c.ended.unwrap_or(now);
                out.push(row(sit, &d.cid, outcome, reason, c, end));
            }
            let _ = i;
        }
        for n in self.devices.len()..self.expected {
            for sit in SITUATIONS.iter().chain([&POLL]) {
                let reason = Some(format!(
                    "{why_open}: device {} of {} never connected",
                    n + 1,
                    self.expected
                ));
                out.push(row(
                    sit,
                    &format!("(device {})", n + 1),
                    Outcome::Fail,
                    reason,
                    &CaseState::default(),
                    now,
                ));
            }
        }
        out
    }
}

/// How long after its assignment the window situation's maintenance window
/// opens: three sleeps, so the device sees it unavailable first (it may
/// download meanwhile, not install).
fn window_lead(sleep: Span) -> Span {
    Span::millis(sleep.as_millis() * 3)
}

/// One row of the card.
fn row(
    sit: &Situation,
    cid: &str,
    outcome: Outcome,
    reason: Option<String>,
    c: &CaseState,
    end: Time,
) -> CaseReport {
    let duration_ms = c.started.map_or(0, |s| end.since(s).as_millis());
    CaseReport {
        id: sit.id.to_string(),
        title: sit.title.to_string(),
        clause: sit.clause.to_string(),
        device: Some(cid.to_string()),
        outcome,
        reason,
        duration_ms,
        evidence: c.evidence.clone(),
    }
}

/// The body of an artifact answer replaced by as many zero bytes (the
/// hashes no longer match).
pub(super) fn zeroed(body: &Body) -> Body {
    Body::Bytes(vec![0u8; body.len() as usize].into())
}
