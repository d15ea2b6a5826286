//! The consent invariants (ddi.md §1.8): DDI-CONSENT-NO-DEPLOYMENT and
//! DDI-CONSENT-BEFORE-INSTALL, from what a device was asked, what it
//! answered, and what it was then offered or did.

use crate::protocol::ddi::wire::Execution;
use crate::protocol::ddi::{DdiEvent, Offer};

use super::{DeviceState, InvariantId};

/// The consent invariants (ddi.md §1.8): what a device was asked, what it
/// answered, and what it was then offered or did.
pub(super) fn observe(
    st: &mut DeviceState,
    event: &DdiEvent,
    fired: &mut Vec<(InvariantId, String)>,
) {
    let ok = |status: &u16| (200..300).contains(status);
    let of = |a: &u64| st.unconfirmed.filter(|(u, _)| u == a);
    match event {
        DdiEvent::ConsentAsked { action } if of(action).is_none() => {
            st.unconfirmed = Some((*action, false));
        }
        DdiEvent::ConsentGiven {
            action,
            confirmed,
            status,
        } if ok(status) => {
            st.unconfirmed = (!*confirmed).then_some((*action, true));
        }
        DdiEvent::AutoConfirmAnswered { status } if ok(status) || *status == 409 => {
            st.unconfirmed = None;
        }
        DdiEvent::RootSeen {
            offer: Offer::Deployment(a),
            ..
        } if of(a) == Some((*a, false)) => fired.push((
            InvariantId::DdiConsentNoDeployment,
            format!("deploymentBase offered for action {a}, which waits for this device's consent"),
        )),
        DdiEvent::ArtifactChecked { action, .. } => {
            consent_broken(st, *action, "downloaded", fired)
        }
        DdiEvent::FeedbackAnswered {
            action,
            cancel: false,
            execution: Execution::Closed,
            status,
            ..
        } if ok(status) => consent_broken(st, *action, "installed", fired),
        _ => {}
    }
}

/// Fires DDI-CONSENT-BEFORE-INSTALL if `action` was not confirmed (once per action).
fn consent_broken(
    st: &mut DeviceState,
    action: u64,
    what: &str,
    fired: &mut Vec<(InvariantId, String)>,
) {
    if let Some((a, denied)) = st.unconfirmed.filter(|(a, _)| *a == action) {
        let answer = if denied { "denied it" } else { "not answered" };
        fired.push((
            InvariantId::DdiConsentBeforeInstall,
            format!("action {a} {what} although the device was asked for consent and {answer}"),
        ));
        st.unconfirmed = None;
    }
}
