//! DDI-SOFT-DEFER: a soft update a device deferred stays on offer until the
//! device takes it up.
//!
//! ddi.md §1.4: `scheduled` and `resumed` are informational — the server
//! stores a RUNNING history entry and the action stays active; §1.1: the
//! root offers the active action; §3: only the device's `closed`, a cancel
//! or a lapsed window end an action. So after an accepted `scheduled` for
//! action A, until the device's `resumed` for A is answered, every root
//! answer offers `deploymentBase` A (or a `cancelAction`, the server's
//! right), and the `resumed` is accepted. Devices defer only for their
//! `soft_defer` (or until the server forces the action, as a timeforced one
//! is at its forcetime), so the check ends within that bound.

use crate::protocol::ddi::wire::Execution;
use crate::protocol::ddi::Offer;

/// The action a device has deferred and not yet resumed.
#[derive(Default, Debug)]
pub(super) struct Deferral {
    action: Option<u64>,
}

impl Deferral {
    /// A deploymentBase feedback was answered; a message if the server
    /// refused to let the device take its deferred update up.
    pub(super) fn feedback(
        &mut self,
        action: u64,
        execution: Execution,
        status: u16,
    ) -> Option<String> {
        let accepted = (200..300).contains(&status);
        let retriable = status >= 500 || matches!(status, 408 | 409 | 429);
        match execution {
            Execution::Scheduled if accepted => self.action = Some(action),
            Execution::Resumed if self.action == Some(action) && !retriable => {
                self.action = None;
                if !accepted {
                    return Some(format!(
                        "`resumed` for deferred action {action} answered {status}"
                    ));
                }
            }
            Execution::Closed | Execution::Rejected if self.action == Some(action) => {
                self.action = None
            }
            _ => {}
        }
        None
    }

    /// A root answer was read; a message if it no longer offers the
    /// deferred action.
    pub(super) fn root(&mut self, offer: &Offer) -> Option<String> {
        let a = self.action?;
        match offer {
            Offer::Deployment(x) if *x == a => None,
            Offer::Cancel(_) => {
                // Canceling (or superseding) is the server's right (ddi.md §3).
                self.action = None;
                None
            }
            other => {
                self.action = None;
                Some(format!(
                    "deferred action {a} is no longer offered ({other:?}) before the device resumed it"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deferred_action_must_stay_on_offer_until_resumed() {
        let mut d = Deferral::default();
        assert_eq!(d.feedback(5, Execution::Scheduled, 200), None);
        assert_eq!(d.root(&Offer::Deployment(5)), None);
        assert!(d.root(&Offer::Nothing).is_some());
        // Once reported, the deferral is over.
        assert_eq!(d.root(&Offer::Nothing), None);

        d.feedback(6, Execution::Scheduled, 200);
        assert_eq!(d.feedback(6, Execution::Resumed, 503), None, "retried");
        assert!(d.feedback(6, Execution::Resumed, 410).is_some());

        d.feedback(7, Execution::Scheduled, 200);
        assert_eq!(d.root(&Offer::Cancel(7)), None);
        assert_eq!(d.root(&Offer::Nothing), None, "canceled: nothing deferred");

        d.feedback(8, Execution::Scheduled, 200);
        assert_eq!(d.feedback(8, Execution::Resumed, 200), None);
        assert_eq!(d.root(&Offer::Nothing), None);
    }
}
