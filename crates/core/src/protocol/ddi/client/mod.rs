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
//! `closed` (or `rejected` while installing, §1.6); `configData` is answered
//! with `PUT configData`. Network errors, 5xx, 409 and 429 are retried with
//! capped exponential backoff and jitter, honouring `Retry-After`.

use rand::{Rng, RngCore};

use crate::artifact::{Catalog, Verifier};
use crate::message::{Method, NetError, Request, Response};
use crate::time::{Span, Time};

mod cancel;
mod download;
mod http;
mod root;

use download::Job;
pub use http::action_id_in;
use http::{config_body, feedback, is_retriable, json_200, json_request, retry_after};

use super::event::{DdiEvent, Outcome, Phase, ReqKind};
use super::wire::{DeploymentBase, Execution, Finished, HandlingType, MaintenanceWindow};

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
        }
    }
}

/// Where and how a device reaches its server; borrowed on every call.
pub struct ClientEnv<'a> {
    /// `scheme://host[:port]` of the server.
    pub base_url: &'a str,
    /// DDI tenant.
    pub tenant: &'a str,
    /// Value of the `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// Synthetic contents, to verify synthetic downloads.
    pub catalog: &'a Catalog,
    /// Behaviour.
    pub settings: &'a ClientSettings,
}

/// What came of a request.
pub enum Delivery {
    /// A complete response.
    Complete(Response),
    /// No complete response; a download may have received a prefix of its body.
    Broken(NetError, Option<Response>),
}

#[derive(Clone, Debug)]
enum Step {
    Poll { scheduled: bool },
    ConfigData,
    FetchDeployment,
    Feedback(Execution, Finished, String),
    Download,
    Install,
    FetchCancel(String),
    CancelFeedback(u64, Execution),
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

    /// The request to send now, if one is due.
    pub fn poll_transmit(
        &mut self,
        now: Time,
        controller_id: &str,
        env: &ClientEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<DdiEvent>,
    ) -> Option<Request> {
        if self.in_flight || now < self.due {
            return None;
        }
        if let Step::Install = self.step {
            let failed = self.work.as_ref().is_some_and(|w| w.will_fail);
            self.step = if failed {
                Step::Feedback(
                    Execution::Closed,
                    Finished::Failure,
                    "install failed: image rejected by bootloader".into(),
                )
            } else {
                let version = self.work.as_ref().map_or("", |w| w.version.as_str());
                Step::Feedback(
                    Execution::Closed,
                    Finished::Success,
                    format!("installed version {version}"),
                )
            };
        }
        let root = format!(
            "{}/{}/controller/v1/{}",
            env.base_url, env.tenant, controller_id
        );
        let mut req = match &self.step {
            Step::Poll { .. } => Request::new(Method::Get, root),
            Step::ConfigData => json_request(
                Method::Put,
                format!("{root}/configData"),
                &config_body(controller_id),
            ),
            Step::FetchDeployment => Request::new(Method::Get, self.work.as_ref()?.url.clone()),
            Step::Feedback(execution, finished, details) => {
                let w = self.work.as_ref()?;
                let progress =
                    (*execution == Execution::Proceeding).then_some((0, w.jobs.len() as u32));
                let body = feedback(*execution, *finished, details, progress);
                json_request(
                    Method::Post,
                    format!("{root}/deploymentBase/{}/feedback", w.body_id),
                    &body,
                )
            }
            Step::Download => {
                let w = self.work.as_ref()?;
                let job = w.jobs.get(w.next_job)?;
                let mut req = Request::new(Method::Get, job.url.clone());
                let from = w.verifier.received();
                if from > 0 {
                    req.headers.insert("range", format!("bytes={from}-"));
                }
                req
            }
            Step::FetchCancel(url) => Request::new(Method::Get, url.clone()),
            Step::CancelFeedback(action, execution) => {
                let (finished, details) = match execution {
                    Execution::Rejected => (Finished::None, "cancel rejected: installing"),
                    _ => (Finished::Success, "canceled on server request"),
                };
                let body = feedback(*execution, finished, details, None);
                json_request(
                    Method::Post,
                    format!("{root}/cancelAction/{action}/feedback"),
                    &body,
                )
            }
            Step::Install => return None,
        };
        req.headers
            .insert("accept", "application/hal+json, application/json");
        if let Some(auth) = env.authorization {
            req.headers.insert("authorization", auth.to_string());
        }
        let scheduled = matches!(self.step, Step::Poll { scheduled: true });
        events.push(DdiEvent::Sent {
            kind: self.step.kind(),
            scheduled,
        });
        let _ = rng;
        self.in_flight = true;
        Some(req)
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
                Outcome::Withdrawn => Phase::Idle,
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

    fn on_deployment(
        &mut self,
        now: Time,
        resp: &Response,
        env: &ClientEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<DdiEvent>,
    ) {
        if is_retriable(resp.status) {
            return self.retry(now, Some(resp), env, rng, events);
        }
        let parsed: Option<DeploymentBase> = json_200(resp);
        let Some(d) = parsed else {
            // Garbage: nothing safe to act on yet.
            if resp.status == 200 {
                events.push(DdiEvent::Unreadable {
                    kind: ReqKind::Deployment,
                });
                return self.retry(now, Some(resp), env, rng, events);
            }
            // 404: canceled or withdrawn. Ask the root what happened (it shows a
            // cancelAction if it was canceled); give up after a few refusals.
            return self.refused(now, events);
        };
        let Some(w) = self.work.as_mut() else { return };
        let body_id = d.id.trim().parse::<u64>().unwrap_or(w.action);
        events.push(DdiEvent::DeploymentSeen {
            url_action: w.action,
            body_action: body_id,
            download: d.deployment.download,
            update: d.deployment.update,
            windowed: d.deployment.maintenance_window.is_some(),
            bad_hashes: download::bad_hashes(&d),
        });
        w.body_id = body_id;
        w.update = d.deployment.update;
        w.windowed = d.deployment.maintenance_window.is_some();
        w.window_open = d.deployment.maintenance_window != Some(MaintenanceWindow::Unavailable);
        if let Some(c) = d.deployment.chunks.first() {
            w.version = c.version.clone();
        }
        let jobs = download::artifact_jobs(&d);
        if !w.started {
            w.jobs = jobs;
        } else {
            // Fresh URLs (the old ones may have expired); keep the progress.
            for (job, fresh) in w.jobs.iter_mut().zip(jobs) {
                job.url = fresh.url;
            }
        }
        if d.deployment.download == HandlingType::Skip {
            return self.sleep_until_next_poll(now, env);
        }
        self.set_phase(Phase::Downloading, events);
        let w = self
            .work
            .as_ref()
            .map(|w| (w.started, w.downloaded, w.update));
        match w {
            Some((false, _, _)) => self.go(
                Step::Feedback(
                    Execution::Proceeding,
                    Finished::None,
                    "Started download".into(),
                ),
                now,
            ),
            Some((true, false, _)) => self.go(Step::Download, now),
            Some((true, true, HandlingType::Skip)) => {
                self.set_phase(Phase::Waiting, events);
                self.sleep_until_next_poll(now, env)
            }
            Some((true, true, _)) => self.start_install(now, env, events),
            None => {}
        }
    }

    fn start_install(&mut self, now: Time, env: &ClientEnv<'_>, events: &mut Vec<DdiEvent>) {
        if let Some(w) = self.work.as_mut() {
            w.install_until = Some(now + env.settings.install_time);
        }
        self.set_phase(Phase::Installing, events);
        self.resume_install(now, env);
    }

    pub(super) fn installing(&self) -> bool {
        self.work
            .as_ref()
            .is_some_and(|w| w.install_until.is_some())
    }

    /// While an install runs the device keeps polling at its interval — so it
    /// sees a cancel, which it then rejects (ddi.md §1.6) — and reports the
    /// result when the install ends.
    pub(super) fn resume_install(&mut self, now: Time, env: &ClientEnv<'_>) {
        let Some(until) = self.work.as_ref().and_then(|w| w.install_until) else {
            return;
        };
        let poll_at = now + env.settings.poll_every.unwrap_or(self.sleep);
        if poll_at < until {
            self.go(Step::Poll { scheduled: true }, poll_at);
        } else {
            self.go(Step::Install, until);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_feedback(
        &mut self,
        now: Time,
        resp: &Response,
        execution: Execution,
        finished: Finished,
        env: &ClientEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<DdiEvent>,
    ) {
        let action = self.work.as_ref().map_or(0, |w| w.body_id);
        events.push(DdiEvent::FeedbackAnswered {
            action,
            cancel: false,
            execution,
            finished,
            status: resp.status,
        });
        if is_retriable(resp.status) {
            return self.retry(now, Some(resp), env, rng, events);
        }
        self.failures = 0;
        let accepted = resp.is_success();
        match execution {
            Execution::Closed
                if accepted
                    && env.settings.resend_final_feedback
                    && self.work.as_ref().is_some_and(|w| !w.resent_final) =>
            {
                if let Some(w) = self.work.as_mut() {
                    w.resent_final = true;
                }
                let details = self.failure_reason();
                self.go(Step::Feedback(execution, finished, details), now)
            }
            Execution::Closed => {
                // 410 means the server had already closed it: our report did arrive before.
                let outcome = match finished {
                    Finished::Failure => Outcome::Failure(self.failure_reason()),
                    _ => Outcome::Success,
                };
                self.end_work(
                    now,
                    if accepted || resp.status == 410 {
                        outcome
                    } else {
                        Outcome::Withdrawn
                    },
                    events,
                )
            }
            _ if !accepted => self.end_work(now, Outcome::Withdrawn, events),
            Execution::Proceeding => {
                if let Some(w) = self.work.as_mut() {
                    w.started = true;
                }
                self.next_download_or_done(now, env, events)
            }
            Execution::Downloaded => {
                let Some(w) = self.work.as_ref() else { return };
                match (w.update, w.windowed) {
                    (HandlingType::Skip, false) => self.end_work(now, Outcome::Success, events),
                    (HandlingType::Skip, true) => {
                        self.set_phase(Phase::Waiting, events);
                        self.sleep_until_next_poll(now, env)
                    }
                    _ => self.start_install(now, env, events),
                }
            }
            _ => self.sleep_until_next_poll(now, env),
        }
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
    }
}

#[cfg(test)]
mod tests;
