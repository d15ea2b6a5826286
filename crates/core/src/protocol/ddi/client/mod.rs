//! The device side of DDI v1 as a sans-IO state machine.
//!
//! A [`DdiClient`] never touches a socket or a clock. The driver asks it when
//! it wants to act ([`DdiClient::poll_timeout`]), gives it the time and takes
//! the request it wants to send ([`DdiClient::poll_transmit`]), and hands back
//! what came of that request ([`DdiClient::handle_response`]). Facts the client
//! learns are pushed as [`DdiEvent`]s. One request is in flight at a time, as on
//! real single-threaded update agents (rauc-hawkbit-updater, SWUpdate).
//!
//! The flow follows ddi.md: poll root → `deploymentBase` → `proceeding` →
//! download every artifact (Range resume, hash check) → `downloaded` →
//! install → `closed` with `success`/`failure`; `cancelAction` is confirmed with
//! `closed` (or `rejected` while installing, §1.6); `confirmationBase` is
//! answered as [`ClientSettings::consent`] says (§1.8); `configData` is answered
//! with `PUT configData`. Network errors, 5xx, 409 and 429 are retried with
//! capped exponential backoff and jitter, honouring `Retry-After`.

use rand::{Rng, RngCore};

use crate::artifact::{Catalog, Verifier};
use crate::message::Response;
use crate::time::{Span, Time};

mod cancel;
mod consent;
mod deployment;
mod download;
mod http;
mod media;
mod request;
mod root;
mod vocabulary;

pub use consent::Consent;
use consent::ConsentMemo;
use download::Job;
pub use http::action_id_in;
use http::retry_after;
pub use media::{Encoding, CBOR};

use super::consent_wire::Confirmation;
use super::event::{DdiEvent, Outcome, Phase};
use super::wire::{Execution, Finished, HandlingType};
use crate::protocol::transport::{Delivery, ReqKind, Transmit};
use crate::protocol::Client;

/// Refusals (404/410/403) about one action before the device lets it go.
const MAX_REFUSALS: u32 = 3;

/// Behaviour settings shared by a group of devices.
#[derive(Clone, Debug)]
pub struct ClientSettings {
    /// Poll interval before the server has said one (and if its `sleep` is unreadable).
    pub default_poll: Span,
    /// Time from download complete to install result.
    pub install_time: Span,
    /// Probability that an install fails.
    pub install_failure: f64,
    /// First retry delay.
    pub backoff_base: Span,
    /// Longest retry delay.
    pub backoff_cap: Span,
    /// Consecutive failed download attempts before the action is reported failed.
    pub max_download_failures: u32,
    /// Misbehaviour: poll at this interval whatever `sleep` says.
    pub poll_every: Option<Span>,
    /// Probe: send an accepted final `closed` feedback once more (a lost
    /// answer's retry); the server must answer 410.
    pub resend_final_feedback: bool,
    /// The optional parts of the feedback vocabulary (all off by default).
    pub feedback: FeedbackSettings,
    /// Body and document encoding: JSON (default) or CBOR (ddi.md §0).
    pub encoding: Encoding,
    /// How the device answers `confirmationBase` (ddi.md §1.8).
    pub consent: Consent,
}

/// What a device says beyond the minimal `proceeding` → `downloaded` →
/// `closed` chain, and how it reads the server's answers (ddi.md §0, §1.4,
/// §1.7). Every part is off by default: today's devices, today's traces.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeedbackSettings {
    /// `download` before each artifact, and `proceeding` with `cnt` = artifacts
    /// finished after each one (rauc-hawkbit-updater, SWUpdate).
    pub per_artifact: bool,
    /// `code` on final feedback: 200 on success, 400 when the download
    /// failed, 500 when the install failed.
    pub status_codes: bool,
    /// Defer a soft update (`update: attempt`) this long with `scheduled`,
    /// then take it up with `resumed` — at once if it turns `forced`
    /// (a timeforced action past its forcetime, ddi.md §3).
    pub soft_defer: Option<Span>,
    /// Probability that the device refuses a deployment with `rejected`.
    pub reject: f64,
    /// After the reboot that follows a successful install, read
    /// `installedBase/{id}` and check it names the installed version.
    pub check_installed: bool,
    /// Send the last `ETag` as `If-None-Match` on root and `deploymentBase`
    /// GETs; a `304` means "unchanged" (the last document still holds).
    pub if_none_match: bool,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            default_poll: Span::minutes(5),
            install_time: Span::secs(30),
            install_failure: 0.0,
            backoff_base: Span::secs(2),
            backoff_cap: Span::minutes(10),
            max_download_failures: 12,
            poll_every: None,
            resend_final_feedback: false,
            feedback: FeedbackSettings::default(),
            encoding: Encoding::Json,
            consent: Consent::Ignore,
        }
    }
}

/// Where and how a device reaches its server; borrowed on every call.
pub struct ClientEnv<'a> {
    /// `scheme://host[:port]` of the server.
    pub base_url: &'a str,
    /// DDI tenant.
    pub tenant: &'a str,
    /// The device's controller id (the last segment of its root URL).
    pub controller_id: &'a str,
    /// Value of the `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// Synthetic contents, to verify synthetic downloads.
    pub catalog: &'a Catalog,
    /// Behaviour.
    pub settings: &'a ClientSettings,
}

#[derive(Clone, Debug)]
enum Step {
    Poll {
        scheduled: bool,
    },
    ConfigData,
    FetchDeployment,
    Feedback(Execution, Finished, String),
    Download,
    Install,
    FetchCancel(String),
    CancelFeedback(u64, Execution),
    /// `GET installedBase/{id}` after the reboot (`check_installed`).
    FetchInstalled(String),
    FetchConfirmation(u64, String),
    ConfirmationFeedback(u64, Confirmation),
    ActivateAutoConfirm,
}

impl Step {
    fn kind(&self) -> ReqKind {
        match self {
            Step::Poll { .. } => ReqKind::Root,
            Step::ConfigData => ReqKind::ConfigData,
            Step::FetchDeployment => ReqKind::Deployment,
            Step::Feedback(..) | Step::Install => ReqKind::Feedback,
            Step::Download => ReqKind::Download,
            Step::FetchCancel(_) => ReqKind::Cancel,
            Step::CancelFeedback(..) => ReqKind::CancelFeedback,
            // The same document as deploymentBase (ddi.md §1.7).
            Step::FetchInstalled(_) => ReqKind::Deployment,
            Step::FetchConfirmation(..) => ReqKind::Confirmation,
            Step::ConfirmationFeedback(..) => ReqKind::ConfirmationFeedback,
            Step::ActivateAutoConfirm => ReqKind::AutoConfirm,
        }
    }
}

/// An action the device is working on. Boxed: idle devices pay one pointer.
struct Work {
    action: u64,
    body_id: u64,
    url: String,
    update: HandlingType,
    windowed: bool,
    window_open: bool,
    jobs: Vec<Job>,
    next_job: usize,
    verifier: Verifier,
    hash_failures: u32,
    download_failures: u32,
    refusals: u32,
    started: bool,
    downloaded: bool,
    /// Set while installing: when the install ends.
    install_until: Option<Time>,
    will_fail: bool,
    /// The final feedback has been sent again once (`resend_final_feedback`).
    resent_final: bool,
    version: String,
    /// Artifacts announced with `download` feedback (`per_artifact`).
    announced: usize,
    /// The device refuses this deployment (`reject`).
    will_reject: bool,
    /// Deferred with `scheduled` until then (`soft_defer`).
    defer_until: Option<Time>,
    /// The deferred update was taken up with an accepted `resumed`.
    resumed: bool,
    /// The last 200 `deploymentBase` answer and its ETag (`if_none_match`).
    deployment_cache: Option<Box<(String, Response)>>,
}

/// A DDI v1 device client.
pub struct DdiClient {
    step: Step,
    due: Time,
    in_flight: bool,
    sleep: Span,
    failures: u32,
    phase: Phase,
    work: Option<Box<Work>>,
    /// The action this device last finished with; if a server offers it again
    /// the device does not redo it (and so cannot be driven into a hot loop).
    last_ended: Option<u64>,
    /// The last 200 root answer and its ETag (`if_none_match`).
    root_cache: Option<Box<(String, Response)>>,
    /// The action installed last and its version, to check in `installedBase`
    /// after the reboot (`check_installed`).
    verify: Option<(u64, String)>,
    /// What the device knows about consent (ddi.md §1.8).
    consent: ConsentMemo,
}

impl DdiClient {
    /// A client whose first poll is due at `first_poll`.
    pub fn new(first_poll: Time, settings: &ClientSettings) -> DdiClient {
        DdiClient {
            step: Step::Poll { scheduled: true },
            due: first_poll,
            in_flight: false,
            sleep: settings.default_poll,
            failures: 0,
            phase: Phase::Idle,
            work: None,
            last_ended: None,
            root_cache: None,
            verify: None,
            consent: ConsentMemo::default(),
        }
    }

    /// When the client next wants to send; [`Time::NEVER`] while a request is in flight.
    pub fn poll_timeout(&self) -> Time {
        if self.in_flight {
            Time::NEVER
        } else {
            self.due
        }
    }

    /// The device's coarse state.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The polling interval the server last told this device.
    pub fn sleep(&self) -> Span {
        self.sleep
    }

    /// Feeds the outcome of the request sent last.
    pub fn handle_response(
        &mut self,
        now: Time,
        delivery: Delivery,
        env: &ClientEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<DdiEvent>,
    ) {
        if !self.in_flight {
            return;
        }
        self.in_flight = false;
        let kind = self.step.kind();
        let (response, error) = match delivery {
            Delivery::Complete(r) => (Some(r), None),
            Delivery::Broken(e, partial) => (partial, Some(e)),
        };
        if let Some(e) = error {
            events.push(DdiEvent::NetFailed { kind, error: e });
            if let (Step::Download, Some(partial)) = (&self.step, &response) {
                // Only a 200/206 body is artifact data; a cut error page is not.
                if matches!(partial.status, 200 | 206) {
                    self.take_download_piece(partial, events);
                }
            }
            return self.retry(now, None, env, rng, events);
        }
        let Some(resp) = response else { return };
        events.push(DdiEvent::Answered {
            kind,
            status: resp.status,
        });
        let resp = self.through_cache(resp, env);
        match self.step.clone() {
            Step::Poll { .. } => self.on_root(now, &resp, env, rng, events),
            Step::ConfigData => self.on_config(now, &resp, env, rng, events),
            Step::FetchDeployment => self.on_deployment(now, &resp, env, rng, events),
            Step::Feedback(execution, finished, _) => {
                self.on_feedback(now, &resp, execution, finished, env, rng, events)
            }
            Step::Download => self.on_download(now, &resp, env, rng, events),
            Step::FetchCancel(_) => self.on_cancel(now, &resp, env, rng, events),
            Step::CancelFeedback(action, execution) => {
                self.on_cancel_feedback(now, &resp, action, execution, env, rng, events)
            }
            Step::FetchInstalled(_) => self.on_installed(now, &resp, env, rng, events),
            Step::FetchConfirmation(id, _) => {
                self.on_confirmation(now, &resp, id, env, rng, events)
            }
            Step::ConfirmationFeedback(id, answer) => {
                self.on_confirmation_feedback(now, &resp, id, answer, env, rng, events)
            }
            Step::ActivateAutoConfirm => self.on_auto_confirm(now, &resp, env, rng, events),
            Step::Install => {}
        }
    }

    fn go(&mut self, step: Step, at: Time) {
        self.step = step;
        self.due = at;
    }

    fn set_phase(&mut self, phase: Phase, events: &mut Vec<DdiEvent>) {
        if self.phase != phase {
            self.phase = phase;
            events.push(DdiEvent::PhaseChanged(phase));
        }
    }

    /// Schedules the next regular poll.
    fn sleep_until_next_poll(&mut self, now: Time, env: &ClientEnv<'_>) {
        self.failures = 0;
        if self.installing() {
            return self.resume_install(now, env);
        }
        let interval = env.settings.poll_every.unwrap_or(self.sleep);
        self.go(Step::Poll { scheduled: true }, now + interval);
    }

    /// Retries the current step after a capped, jittered exponential backoff.
    fn retry(
        &mut self,
        now: Time,
        resp: Option<&Response>,
        env: &ClientEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<DdiEvent>,
    ) {
        if matches!(self.step, Step::Poll { .. }) && self.installing() {
            // A poll during an install is a courtesy; the install goes on.
            return self.resume_install(now, env);
        }
        self.failures += 1;
        if let Step::Download = self.step {
            if let Some(w) = self.work.as_mut() {
                w.download_failures += 1;
                if w.download_failures >= env.settings.max_download_failures {
                    let reason = format!("download failed {} times in a row", w.download_failures);
                    return self.close_failed(now, reason, events);
                }
            }
        }
        let s = env.settings;
        let exp = s
            .backoff_base
            .as_millis()
            .saturating_mul(1 << self.failures.min(20));
        let cap = match self.step {
            Step::Poll { .. } => s.backoff_cap.min(self.sleep.max(s.backoff_base)),
            _ => s.backoff_cap,
        };
        let ceiling = exp.min(cap.as_millis()).max(1);
        let mut delay = rng.gen_range(ceiling / 2..=ceiling);
        if let Some(after) = resp.and_then(retry_after) {
            delay = delay.max(after.min(Span::hours(1)).as_millis());
        }
        if let Step::Poll { .. } = self.step {
            self.step = Step::Poll { scheduled: false };
        }
        let _ = events;
        self.due = now + Span(delay);
    }

    fn close_failed(&mut self, now: Time, reason: String, events: &mut Vec<DdiEvent>) {
        self.set_phase(Phase::Downloading, events);
        self.failures = 0;
        self.go(
            Step::Feedback(Execution::Closed, Finished::Failure, reason),
            now,
        );
    }

    fn end_work(&mut self, now: Time, outcome: Outcome, events: &mut Vec<DdiEvent>) {
        if let Some(w) = self.work.take() {
            let phase = match &outcome {
                Outcome::Success => Phase::Updated,
                Outcome::Failure(_) => Phase::Failed,
                Outcome::Canceled => Phase::Canceled,
                Outcome::Withdrawn | Outcome::Rejected => Phase::Idle,
            };
            let withdrawn = outcome == Outcome::Withdrawn;
            events.push(DdiEvent::ActionEnded {
                action: w.action,
                outcome,
            });
            self.set_phase(phase, events);
            self.last_ended = Some(w.action);
            if withdrawn {
                // The server took it back: nothing new to expect before the next poll.
                self.failures = 0;
                return self.go(Step::Poll { scheduled: true }, now + self.sleep);
            }
        }
        self.failures = 0;
        // Come back at once: the server may have the next thing (or configData) ready.
        self.go(Step::Poll { scheduled: false }, now);
    }

    /// The server refused a request about the current action (404/410/403):
    /// poll the root at once to learn why; after a few refusals, let the action go.
    fn refused(&mut self, now: Time, events: &mut Vec<DdiEvent>) {
        let Some(w) = self.work.as_mut() else {
            return self.go(Step::Poll { scheduled: false }, now);
        };
        w.refusals += 1;
        if w.refusals >= MAX_REFUSALS {
            return self.end_work(now, Outcome::Withdrawn, events);
        }
        self.go(Step::Poll { scheduled: false }, now);
    }

    fn failure_reason(&self) -> String {
        match &self.step {
            Step::Feedback(_, _, details) => details.clone(),
            _ => String::new(),
        }
    }
}

impl Client for DdiClient {
    type Env<'a> = ClientEnv<'a>;
    type Event = DdiEvent;

    fn poll_timeout(&self) -> Time {
        DdiClient::poll_timeout(self)
    }

    fn request_kind(&self) -> ReqKind {
        self.step.kind()
    }

    fn poll_transmit(
        &mut self,
        now: Time,
        env: &ClientEnv<'_>,
        _rng: &mut dyn RngCore,
        events: &mut Vec<DdiEvent>,
    ) -> Option<Transmit> {
        DdiClient::poll_transmit(self, now, env, events).map(Transmit::Http)
    }

    fn handle_response(
        &mut self,
        now: Time,
        delivery: Delivery,
        env: &ClientEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<DdiEvent>,
    ) {
        DdiClient::handle_response(self, now, delivery, env, rng, events)
    }
}

fn new_work(action: u64, url: String, env: &ClientEnv<'_>, rng: &mut dyn RngCore) -> Work {
    Work {
        action,
        body_id: action,
        url,
        update: HandlingType::Attempt,
        windowed: false,
        window_open: true,
        jobs: Vec::new(),
        next_job: 0,
        verifier: Verifier::new(),
        hash_failures: 0,
        download_failures: 0,
        refusals: 0,
        started: false,
        downloaded: false,
        install_until: None,
        will_fail: rng.gen_bool(env.settings.install_failure.clamp(0.0, 1.0)),
        resent_final: false,
        version: String::new(),
        announced: 0,
        // Drawn only when set, so devices without it draw what they always did.
        will_reject: env.settings.feedback.reject > 0.0
            && rng.gen_bool(env.settings.feedback.reject.clamp(0.0, 1.0)),
        defer_until: None,
        resumed: false,
        deployment_cache: None,
    }
}

#[cfg(test)]
mod tests;
