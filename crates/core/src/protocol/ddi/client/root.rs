//! Handling the root resource (ddi.md §1.1): the polling interval, which
//! action link to follow, and answering a `configData` request.

use rand::RngCore;

use super::{ClientEnv, DdiClient, Step};
use crate::message::Response;
use crate::protocol::ddi::event::{DdiEvent, Offer, Outcome};
use crate::protocol::ddi::sleep::parse_sleep;
use crate::protocol::ddi::wire::{ControllerBase, HandlingType, Link, RootLinks};
use crate::protocol::transport::ReqKind;
use crate::time::{Span, Time};

use super::http::{action_id_in, is_retriable};
use super::media::document_200;
use super::new_work;

impl DdiClient {
    pub(super) fn on_root(
        &mut self,
        now: Time,
        resp: &Response,
        env: &ClientEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<DdiEvent>,
    ) {
        if resp.status != 200 {
            return self.retry(now, Some(resp), env, rng, events);
        }
        let enc = env.settings.encoding;
        let Some(base) = document_200::<ControllerBase>(resp, enc, ReqKind::Root, events) else {
            events.push(DdiEvent::Unreadable {
                kind: ReqKind::Root,
            });
            return self.retry(now, Some(resp), env, rng, events);
        };
        let sleep = parse_sleep(&base.config.polling.sleep);
        // A careful device never polls more than once a second, whatever it is told.
        self.sleep = sleep.map_or(env.settings.default_poll, |s| s.max(Span::secs(1)));
        let links = &base.links;
        let offer = if let Some(l) = &links.cancel_action {
            Offer::Cancel(action_id_in(&l.href, "cancelAction").unwrap_or(0))
        } else if let Some(l) = &links.deployment_base {
            Offer::Deployment(action_id_in(&l.href, "deploymentBase").unwrap_or(0))
        } else if let Some(l) = &links.confirmation_base {
            Offer::Confirmation(action_id_in(&l.href, "confirmationBase").unwrap_or(0))
        } else {
            Offer::Nothing
        };
        events.push(DdiEvent::RootSeen {
            sleep,
            offer,
            installed: links
                .installed_base
                .as_ref()
                .and_then(|l| action_id_in(&l.href, "installedBase")),
            config_data: links.config_data.is_some(),
        });
        self.failures = 0;
        self.follow(now, offer, links, env, rng, events);
    }

    /// Acts on the root's action link.
    fn follow(
        &mut self,
        now: Time,
        offer: Offer,
        links: &RootLinks,
        env: &ClientEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<DdiEvent>,
    ) {
        let href = |link: &Option<Link>| link.as_ref().map(|l| l.href.clone()).unwrap_or_default();
        if self.installing() {
            // Mid-install only a cancel of this very action matters (it is rejected).
            let this = self.work.as_ref().map(|w| w.action);
            if let (Offer::Cancel(a), Some(l)) = (offer, links.cancel_action.as_ref()) {
                if Some(a) == this {
                    return self.go(Step::FetchCancel(l.href.clone()), now);
                }
            }
            return self.resume_install(now, env);
        }
        if self.check_installed(now, links, events) || self.consent_first(now, env) {
            return;
        }
        match offer {
            Offer::Cancel(_) => self.go(Step::FetchCancel(href(&links.cancel_action)), now),
            Offer::Deployment(id) => {
                let href = href(&links.deployment_base);
                self.deployment_offered(now, id, href, env, rng, events)
            }
            Offer::Confirmation(id) => {
                // A current action is let go either way (a confirmed one the
                // server asks about again was revoked).
                self.let_work_go(now, events);
                let href = href(&links.confirmation_base);
                if !self.confirmation_offered(now, id, href, env) {
                    self.config_or_sleep(now, links, env);
                }
            }
            Offer::Nothing => {
                self.let_work_go(now, events);
                self.config_or_sleep(now, links, env);
            }
        }
    }

    /// No action to work on any more: the current one was withdrawn (or,
    /// download-only, done).
    fn let_work_go(&mut self, now: Time, events: &mut Vec<DdiEvent>) {
        // Downloaded with `update: skip` and gone: it was download-only
        // and the server closed it as DOWNLOADED (ddi.md §3).
        let done = self
            .work
            .as_ref()
            .is_some_and(|w| w.downloaded && w.update == HandlingType::Skip);
        if self.work.is_some() {
            let outcome = if done {
                Outcome::Success
            } else {
                Outcome::Withdrawn
            };
            self.end_work(now, outcome, events);
        }
    }

    /// Answers `configData` if asked, else sleeps until the next poll.
    fn config_or_sleep(&mut self, now: Time, links: &RootLinks, env: &ClientEnv<'_>) {
        if links.config_data.is_some() {
            self.go(Step::ConfigData, now);
        } else {
            self.sleep_until_next_poll(now, env);
        }
    }

    /// The root offers deployment `id` at `href`: resume it, ignore it (done
    /// before), or start on it (letting the previous one go).
    fn deployment_offered(
        &mut self,
        now: Time,
        id: u64,
        href: String,
        env: &ClientEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<DdiEvent>,
    ) {
        match self.work.as_mut() {
            Some(w) if w.action == id => {
                w.url = href;
                let next = if w.downloaded || !w.started {
                    Step::FetchDeployment
                } else {
                    Step::Download
                };
                self.go(next, now);
            }
            None if self.last_ended == Some(id) => {
                // Already done with it: a server re-offering a closed action
                // is the server's fault (DDI-SM-FINAL); do not redo it.
                self.sleep_until_next_poll(now, env);
            }
            _ => {
                if self.work.is_some() {
                    self.end_work(now, Outcome::Withdrawn, events);
                }
                self.work = Some(Box::new(new_work(id, href, env, rng)));
                self.go(Step::FetchDeployment, now);
            }
        }
    }

    pub(super) fn on_config(
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
        // 200, or a refusal a retry would not change: either way, back to polling.
        self.sleep_until_next_poll(now, env);
    }
}
