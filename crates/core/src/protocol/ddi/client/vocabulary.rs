//! The optional parts of what a device says and reads ([`FeedbackSettings`]):
//! refusing or deferring a deployment before it starts (`rejected`,
//! `scheduled` → `resumed`, ddi.md §1.4), reading `installedBase` after the
//! reboot that follows an install (§1.7), and `If-None-Match` on the root and
//! `deploymentBase` with `304` read as "unchanged" (§0).
//!
//! [`FeedbackSettings`]: super::FeedbackSettings

use rand::RngCore;

use super::http::{action_id_in, is_retriable};
use super::media::document_200;
use super::{ClientEnv, DdiClient, Step};
use crate::message::{Request, Response};
use crate::protocol::ddi::event::{DdiEvent, Outcome, Phase};
use crate::protocol::ddi::wire::{DeploymentBase, Execution, Finished, HandlingType, RootLinks};
use crate::protocol::ReqKind;
use crate::time::Time;

impl DdiClient {
    /// Before a deployment starts: refuse it (`reject`), defer a soft one
    /// (`soft_defer`), keep waiting, or take a deferred one up again — when
    /// the deferral is over or the server has made it `forced` (a timeforced
    /// action past its forcetime, ddi.md §3). True when it handled the step.
    pub(super) fn hold_back(
        &mut self,
        now: Time,
        env: &ClientEnv<'_>,
        events: &mut Vec<DdiEvent>,
    ) -> bool {
        let Some(w) = self.work.as_mut() else {
            return false;
        };
        if w.started {
            return false;
        }
        if w.will_reject {
            let why = "update rejected: not meant for this device".to_string();
            self.go(
                Step::Feedback(Execution::Rejected, Finished::None, why),
                now,
            );
            return true;
        }
        let Some(span) = env.settings.feedback.soft_defer else {
            return false;
        };
        let soft = w.update == HandlingType::Attempt;
        // `skip` (a closed maintenance window) keeps a deferral waiting.
        let forced = w.update == HandlingType::Forced;
        match w.defer_until {
            None if soft => {
                w.defer_until = Some(now + span);
                let why = format!("update deferred by the user for {span}");
                self.go(
                    Step::Feedback(Execution::Scheduled, Finished::None, why),
                    now,
                );
            }
            Some(until) if !w.resumed && (now >= until || forced) => {
                let why = "deferred update resumed".to_string();
                self.go(Step::Feedback(Execution::Resumed, Finished::None, why), now);
            }
            Some(_) if !w.resumed => {
                self.set_phase(Phase::Waiting, events);
                self.sleep_until_next_poll(now, env);
            }
            _ => return false,
        }
        true
    }

    /// What follows an accepted `rejected`, `scheduled`, `resumed` or `download`.
    pub(super) fn vocabulary_accepted(
        &mut self,
        now: Time,
        execution: Execution,
        env: &ClientEnv<'_>,
        events: &mut Vec<DdiEvent>,
    ) {
        match execution {
            Execution::Rejected => self.end_work(now, Outcome::Rejected, events),
            Execution::Scheduled => {
                self.set_phase(Phase::Waiting, events);
                self.sleep_until_next_poll(now, env)
            }
            Execution::Resumed => self.resumed(now, events),
            _ => self.go(Step::Download, now),
        }
    }

    /// The feedback step that follows an accepted `resumed`.
    fn resumed(&mut self, now: Time, events: &mut Vec<DdiEvent>) {
        if let Some(w) = self.work.as_mut() {
            w.resumed = true;
        }
        self.set_phase(Phase::Downloading, events);
        let started = "Started download".to_string();
        self.go(
            Step::Feedback(Execution::Proceeding, Finished::None, started),
            now,
        );
    }

    /// `code` of a feedback (`status_codes`): on final feedback only — 200
    /// for success, 500 when the install failed, 400 when the download did.
    pub(super) fn status_code(&self, env: &ClientEnv<'_>, execution: Execution) -> Option<i32> {
        if !env.settings.feedback.status_codes || execution != Execution::Closed {
            return None;
        }
        let Step::Feedback(_, finished, _) = &self.step else {
            return None;
        };
        let installing = self
            .work
            .as_ref()
            .is_some_and(|w| w.install_until.is_some());
        Some(match finished {
            Finished::Failure if installing => 500,
            Finished::Failure => 400,
            _ => 200,
        })
    }

    /// First root answer after the reboot that follows an install: fetch
    /// `installedBase/{id}` if the root links it (true), or record that it
    /// does not.
    pub(super) fn check_installed(
        &mut self,
        now: Time,
        links: &RootLinks,
        events: &mut Vec<DdiEvent>,
    ) -> bool {
        let Some((action, _)) = self.verify.as_ref() else {
            return false;
        };
        let action = *action;
        let link = links
            .installed_base
            .as_ref()
            .filter(|l| action_id_in(&l.href, "installedBase") == Some(action));
        match link {
            Some(l) => {
                self.go(Step::FetchInstalled(l.href.clone()), now);
                true
            }
            None => {
                self.verify = None;
                events.push(DdiEvent::InstalledChecked {
                    action,
                    matches: false,
                });
                false
            }
        }
    }

    pub(super) fn on_installed(
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
        let Some((action, version)) = self.verify.take() else {
            return self.go(Step::Poll { scheduled: false }, now);
        };
        let doc: Option<DeploymentBase> =
            document_200(resp, env.settings.encoding, ReqKind::Deployment, events);
        let matches = doc.is_some_and(|d| {
            d.deployment
                .chunks
                .first()
                .is_some_and(|c| c.version == version)
        });
        events.push(DdiEvent::InstalledChecked { action, matches });
        // Back to the root for whatever it offers next.
        self.go(Step::Poll { scheduled: false }, now);
    }

    /// Adds `If-None-Match` with the ETag of the last 200 answer of the same
    /// resource (`if_none_match`).
    pub(super) fn add_if_none_match(&self, req: &mut Request, env: &ClientEnv<'_>) {
        if !env.settings.feedback.if_none_match {
            return;
        }
        let cache = match self.step {
            Step::Poll { .. } => self.root_cache.as_ref(),
            Step::FetchDeployment => self.work.as_ref().and_then(|w| w.deployment_cache.as_ref()),
            _ => None,
        };
        if let Some(c) = cache {
            req.headers.insert("if-none-match", c.0.clone());
        }
    }

    /// Keeps the last 200 root or `deploymentBase` answer with its ETag, and
    /// reads a `304` as that answer again (`if_none_match`).
    pub(super) fn through_cache(&mut self, resp: Response, env: &ClientEnv<'_>) -> Response {
        if !env.settings.feedback.if_none_match {
            return resp;
        }
        let slot = match self.step {
            Step::Poll { .. } => &mut self.root_cache,
            Step::FetchDeployment => match self.work.as_mut() {
                Some(w) => &mut w.deployment_cache,
                None => return resp,
            },
            _ => return resp,
        };
        match resp.status {
            304 => match slot.as_ref() {
                Some(c) => c.1.clone(),
                None => resp,
            },
            200 => {
                if let Some(tag) = resp.headers.get("etag") {
                    *slot = Some(Box::new((tag.to_string(), resp.clone())));
                }
                resp
            }
            _ => resp,
        }
    }
}
