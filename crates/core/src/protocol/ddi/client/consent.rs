//! User consent (ddi.md §1.8): what a device does when the root links
//! `confirmationBase/{id}` — the server waits for the device to confirm the
//! action before it offers the deployment.
//!
//! [`Consent::Ignore`] (the default) is the behaviour devices had before the
//! flow was modelled: the link is treated like no link at all. The other
//! modes fetch `confirmationBase/{id}` (the user is shown the deployment)
//! and answer `confirmed` or `denied` once per action, or turn auto-confirm
//! on once (as hawkbit-sdk does, ddi.md §6). Answers: 200 → poll on; 404
//! (not waiting any more) → back to regular polling; 410 (closed) → the
//! action is let go.

use rand::RngCore;

use super::{ClientEnv, DdiClient, Step};
use crate::message::Response;
use crate::protocol::ddi::consent_wire::{
    ActivateAutoConfirm, Confirmation, ConfirmationBaseAction, ConfirmationFeedback,
};
use crate::protocol::ddi::event::{DdiEvent, Outcome};
use crate::protocol::transport::ReqKind;
use crate::time::{Span, Time};

use super::http::is_retriable;
use super::media::document_200;

/// `code` a device sends with `confirmed`.
const CONFIRMED_CODE: i32 = 200;
/// `code` a device sends with `denied`.
const DENIED_CODE: i32 = 403;

/// How a device answers a request for consent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Consent {
    /// Do not look at `confirmationBase` (the device predates the flow).
    #[default]
    Ignore,
    /// Confirm at once.
    Confirm,
    /// Deny (once per action; the action keeps waiting).
    Deny,
    /// Confirm at the first poll this long after the device was first asked.
    ConfirmAfter(Span),
    /// Turn auto-confirm on once, at the first root answer.
    Auto,
}

/// What a device remembers about consent: a few words.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ConsentMemo {
    /// The action the device was last asked about, and when first.
    asked: Option<(u64, Time)>,
    /// The action the device has answered (it does not answer twice).
    answered: Option<u64>,
    /// Auto-confirm is on (activation answered 200 or 409).
    auto_on: bool,
}

impl DdiClient {
    /// Whether the device acts on the root before following its action
    /// link: an auto-confirming device turns auto-confirm on first.
    pub(super) fn consent_first(&mut self, now: Time, env: &ClientEnv<'_>) -> bool {
        if env.settings.consent == Consent::Auto && !self.consent.auto_on {
            self.go(Step::ActivateAutoConfirm, now);
            return true;
        }
        false
    }

    /// The root links `confirmationBase/{id}` at `href`; true if the device
    /// acts on it (false: it treats the link as no link).
    pub(super) fn confirmation_offered(
        &mut self,
        now: Time,
        id: u64,
        href: String,
        env: &ClientEnv<'_>,
    ) -> bool {
        let memo = &mut self.consent;
        if memo.answered == Some(id) {
            return false;
        }
        match env.settings.consent {
            Consent::Ignore | Consent::Auto => false,
            Consent::Confirm | Consent::Deny => {
                self.go(Step::FetchConfirmation(id, href), now);
                true
            }
            Consent::ConfirmAfter(delay) => match memo.asked {
                Some((a, since)) if a == id => {
                    if now >= since + delay {
                        self.go(Step::ConfirmationFeedback(id, Confirmation::Confirmed), now);
                        true
                    } else {
                        false
                    }
                }
                _ => {
                    self.go(Step::FetchConfirmation(id, href), now);
                    true
                }
            },
        }
    }

    /// `GET confirmationBase/{id}` answered.
    pub(super) fn on_confirmation(
        &mut self,
        now: Time,
        resp: &Response,
        id: u64,
        env: &ClientEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<DdiEvent>,
    ) {
        if is_retriable(resp.status) {
            return self.retry(now, Some(resp), env, rng, events);
        }
        let parsed: Option<ConfirmationBaseAction> =
            document_200(resp, env.settings.encoding, ReqKind::Confirmation, events);
        if parsed.is_none() {
            if resp.status == 200 {
                events.push(DdiEvent::Unreadable {
                    kind: ReqKind::Confirmation,
                });
            }
            // 404: not waiting any more; the next poll says what is.
            return self.sleep_until_next_poll(now, env);
        }
        events.push(DdiEvent::ConsentAsked { action: id });
        let answer = match env.settings.consent {
            Consent::Deny => Confirmation::Denied,
            Consent::ConfirmAfter(delay) => {
                let since = match self.consent.asked {
                    Some((a, since)) if a == id => since,
                    _ => now,
                };
                self.consent.asked = Some((id, since));
                if now < since + delay {
                    return self.sleep_until_next_poll(now, env);
                }
                Confirmation::Confirmed
            }
            _ => Confirmation::Confirmed,
        };
        self.go(Step::ConfirmationFeedback(id, answer), now);
    }

    /// `POST confirmationBase/{id}/feedback` answered.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_confirmation_feedback(
        &mut self,
        now: Time,
        resp: &Response,
        id: u64,
        answer: Confirmation,
        env: &ClientEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<DdiEvent>,
    ) {
        events.push(DdiEvent::ConsentGiven {
            action: id,
            confirmed: answer == Confirmation::Confirmed,
            status: resp.status,
        });
        if is_retriable(resp.status) {
            return self.retry(now, Some(resp), env, rng, events);
        }
        self.failures = 0;
        match resp.status {
            200..=299 => {
                self.consent.answered = Some(id);
                if answer == Confirmation::Confirmed {
                    // Come back at once: the deployment is offered now.
                    return self.go(Step::Poll { scheduled: false }, now);
                }
                self.sleep_until_next_poll(now, env)
            }
            410 => {
                self.consent.answered = Some(id);
                if self.work.as_ref().is_some_and(|w| w.action == id) {
                    return self.end_work(now, Outcome::Withdrawn, events);
                }
                self.sleep_until_next_poll(now, env)
            }
            _ => self.sleep_until_next_poll(now, env),
        }
    }

    /// `POST confirmationBase/activateAutoConfirm` answered.
    pub(super) fn on_auto_confirm(
        &mut self,
        now: Time,
        resp: &Response,
        env: &ClientEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<DdiEvent>,
    ) {
        events.push(DdiEvent::AutoConfirmAnswered {
            status: resp.status,
        });
        // 409 here means "already active": as good as 200.
        if resp.status != 409 && is_retriable(resp.status) {
            return self.retry(now, Some(resp), env, rng, events);
        }
        // Any other refusal would repeat: do not ask again either.
        self.consent.auto_on = true;
        self.failures = 0;
        self.go(Step::Poll { scheduled: false }, now);
    }
}

/// The body of a confirmation feedback.
pub(super) fn feedback_body(answer: Confirmation) -> ConfirmationFeedback {
    let (code, detail) = match answer {
        Confirmation::Confirmed => (CONFIRMED_CODE, "consent given on the device"),
        Confirmation::Denied => (DENIED_CODE, "consent refused on the device"),
    };
    ConfirmationFeedback {
        confirmation: answer,
        code: Some(code),
        details: Some(vec![detail.to_string()]),
    }
}

/// The body of an auto-confirm activation.
pub(super) fn activate_body(controller_id: &str) -> ActivateAutoConfirm {
    ActivateAutoConfirm {
        initiator: Some(controller_id.to_string()),
        remark: Some("auto-confirm set by the device".to_string()),
    }
}
