//! The cancel flow (ddi.md §1.5–§1.6): fetch `cancelAction`, then confirm with
//! `closed` — or `rejected` while installing — on the cancel feedback resource.
//! `canceled` is never used to confirm: hawkBit stores it as a WARNING only.

use rand::RngCore;

use super::{ClientEnv, DdiClient, Step};
use crate::message::Response;
use crate::protocol::ddi::event::{DdiEvent, Outcome};
use crate::protocol::ddi::wire::{CancelActionBase, Execution, Finished};
use crate::protocol::transport::ReqKind;
use crate::time::Time;

use super::http::is_retriable;
use super::media::document_200;

impl DdiClient {
    pub(super) fn on_cancel(
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
        let parsed: Option<CancelActionBase> =
            document_200(resp, env.settings.encoding, ReqKind::Cancel, events);
        let Some(c) = parsed else {
            if resp.status == 200 {
                events.push(DdiEvent::Unreadable {
                    kind: ReqKind::Cancel,
                });
            }
            return self.sleep_until_next_poll(now, env);
        };
        let stop = c.cancel_action.stop_id.trim().parse::<u64>().unwrap_or(0);
        let installing = self
            .work
            .as_ref()
            .is_some_and(|w| w.action == stop && w.install_until.is_some());
        let execution = if installing {
            Execution::Rejected
        } else {
            Execution::Closed
        };
        self.go(Step::CancelFeedback(stop, execution), now);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_cancel_feedback(
        &mut self,
        now: Time,
        resp: &Response,
        action: u64,
        execution: Execution,
        env: &ClientEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<DdiEvent>,
    ) {
        let finished = if execution == Execution::Closed {
            Finished::Success
        } else {
            Finished::None
        };
        events.push(DdiEvent::FeedbackAnswered {
            action,
            cancel: true,
            execution,
            finished,
            status: resp.status,
        });
        if is_retriable(resp.status) {
            return self.retry(now, Some(resp), env, rng, events);
        }
        self.failures = 0;
        match execution {
            Execution::Rejected if self.installing() => self.resume_install(now, env),
            _ => {
                if self.work.as_ref().is_some_and(|w| w.action == action) {
                    self.end_work(now, Outcome::Canceled, events);
                } else {
                    events.push(DdiEvent::ActionEnded {
                        action,
                        outcome: Outcome::Canceled,
                    });
                    self.go(Step::Poll { scheduled: false }, now);
                }
            }
        }
    }
}
