//! Working on a deployment (ddi.md §1.3–§1.4): reading `deploymentBase`,
//! the `proceeding` → `downloaded` → `closed` feedback chain, and the install
//! that runs between polls.

use rand::RngCore;

use super::http::is_retriable;
use super::media::document_200;
use super::{download, ClientEnv, DdiClient, Step};
use crate::message::Response;
use crate::protocol::ddi::event::{DdiEvent, Outcome, Phase};
use crate::protocol::ddi::wire::{
    DeploymentBase, Execution, Finished, HandlingType, MaintenanceWindow,
};
use crate::protocol::transport::ReqKind;
use crate::time::Time;

impl DdiClient {
    pub(super) fn on_deployment(
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
        let parsed: Option<DeploymentBase> =
            document_200(resp, env.settings.encoding, ReqKind::Deployment, events);
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
        if self.work.is_none() {
            return;
        }
        self.take_document(&d, events);
        if d.deployment.download == HandlingType::Skip {
            return self.sleep_until_next_poll(now, env);
        }
        if self.hold_back(now, env, events) {
            return;
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

    /// Remembers what a deploymentBase document says: its id, handling and
    /// window, the version, and fresh artifact URLs (progress kept).
    fn take_document(&mut self, d: &DeploymentBase, events: &mut Vec<DdiEvent>) {
        let Some(w) = self.work.as_mut() else { return };
        let body_id = d.id.trim().parse::<u64>().unwrap_or(w.action);
        events.push(DdiEvent::DeploymentSeen {
            url_action: w.action,
            body_action: body_id,
            download: d.deployment.download,
            update: d.deployment.update,
            windowed: d.deployment.maintenance_window.is_some(),
            window_closed: d.deployment.maintenance_window == Some(MaintenanceWindow::Unavailable),
            bad_hashes: download::bad_hashes(d),
        });
        w.body_id = body_id;
        w.update = d.deployment.update;
        w.windowed = d.deployment.maintenance_window.is_some();
        w.window_open = d.deployment.maintenance_window != Some(MaintenanceWindow::Unavailable);
        if let Some(c) = d.deployment.chunks.first() {
            w.version = c.version.clone();
        }
        let jobs = download::artifact_jobs(d);
        if !w.started {
            w.jobs = jobs;
        } else {
            // Fresh URLs (the old ones may have expired); keep the progress.
            for (job, fresh) in w.jobs.iter_mut().zip(jobs) {
                job.url = fresh.url;
            }
        }
    }

    pub(super) fn start_install(
        &mut self,
        now: Time,
        env: &ClientEnv<'_>,
        events: &mut Vec<DdiEvent>,
    ) {
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
    pub(super) fn on_feedback(
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
                if env.settings.feedback.check_installed && outcome == Outcome::Success {
                    // The install reboots the device; it checks installedBase after.
                    self.verify = self.work.as_ref().map(|w| (w.action, w.version.clone()));
                }
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
            Execution::Rejected
            | Execution::Scheduled
            | Execution::Resumed
            | Execution::Download => self.vocabulary_accepted(now, execution, env, events),
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
}
