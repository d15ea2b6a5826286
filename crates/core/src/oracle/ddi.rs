//! The DDI checks behind [`Oracle::observe`](super::Oracle::observe): what
//! a deploymentBase, a root poll and a feedback answer tell the oracle
//! about one device, and the problems an answer itself shows. Each function
//! works on the device's few words of state ([`DeviceState`]) and appends
//! what fired.

use super::*;

/// What a deploymentBase document tells the oracle: the window state, whether
/// the action is download-only, and hashes it must advertise (DDI-HASHES).
pub(super) fn deployment_seen(
    st: &mut DeviceState,
    event: &DdiEvent,
    fired: &mut Vec<(InvariantId, String)>,
) {
    let DdiEvent::DeploymentSeen {
        url_action,
        update,
        bad_hashes,
        window_closed,
        windowed,
        ..
    } = event
    else {
        return;
    };
    st.window_closed = *window_closed;
    let skip = *update == HandlingType::Skip;
    st.window_skip = (skip && *windowed).then_some(*url_action);
    // `update: skip` is download-only, or a window not yet open (ddi.md §1.3):
    // after `downloaded` such an action may close (DOWNLOADED) or stay active.
    st.download_only = (skip && !*windowed).then_some(*url_action);
    if let Some(bad) = bad_hashes {
        let (file, what) = &**bad;
        fired.push((
            InvariantId::DdiHashes,
            format!("deployment of action {url_action}: artifact `{file}` advertises {what}"),
        ));
    }
}

/// The invariant a single answer breaks on its own, if any: a wrong Range
/// answer, an unreadable document, an artifact that does not match its hashes.
pub(super) fn answer_problem(event: &DdiEvent) -> Option<(InvariantId, String)> {
    match event {
        DdiEvent::RangeAnswered {
            from,
            status,
            served_from,
        } if *status == 200 || (*status == 206 && served_from.is_some_and(|s| s != *from)) => {
            Some((
                InvariantId::DdiRange,
                format!(
                    "Range from byte {from} answered {status} starting at {}",
                    served_from.unwrap_or(0)
                ),
            ))
        }
        DdiEvent::Unreadable { kind } => Some((
            InvariantId::DdiJson,
            format!(
                "200 answer to {} is not a readable DDI document",
                kind.as_str()
            ),
        )),
        DdiEvent::WrongMedia { kind } => Some((
            InvariantId::DdiCbor,
            format!(
                "asked for application/cbor, the 200 answer to {} is another type",
                kind.as_str()
            ),
        )),
        DdiEvent::ArtifactChecked {
            action,
            matches: false,
        } => Some((
            InvariantId::DdiArtifactHash,
            format!("artifact of action {action} does not match its advertised hashes"),
        )),
        _ => None,
    }
}

/// A root poll was sent: a scheduled one must respect the last `sleep`.
pub(super) fn root_sent(
    st: &mut DeviceState,
    at: Time,
    scheduled: &bool,
    jitter: f64,
    fired: &mut Vec<(InvariantId, String)>,
) {
    if *scheduled && !st.excused {
        if let (Some(last), Some(sleep)) = (st.last_scheduled_poll, st.sleep) {
            let min = sleep.mul_f64(1.0 - jitter);
            let gap = at.since(last);
            if gap + POLL_SLACK < min {
                fired.push((
                        InvariantId::DdiPollRate,
                        format!("polled {gap} after the previous poll; told to sleep {sleep} (jitter ±{:.0}%)", jitter * 100.0),
                    ));
            }
        }
    }
    st.last_scheduled_poll = Some(at);
    st.excused = false;
}

/// A root answer was read: its `sleep`, its offer, and the `installedBase`
/// link an earlier final feedback implies.
pub(super) fn root_seen(
    st: &mut DeviceState,
    sleep: &Option<Span>,
    offer: &Offer,
    installed: &Option<u64>,
    fired: &mut Vec<(InvariantId, String)>,
) {
    match sleep {
        None => fired.push((
            InvariantId::DdiSleep,
            "sleep is neither HH:mm:ss nor ISO-8601".into(),
        )),
        Some(s) if *s < MIN_POLLING => fired.push((
            InvariantId::DdiSleep,
            format!("sleep {s} is below hawkBit's minPollingTime of 30s"),
        )),
        _ => {}
    }
    if sleep.is_some() {
        st.sleep = *sleep;
    }
    let offered = match offer {
        Offer::Deployment(a) | Offer::Cancel(a) | Offer::Confirmation(a) => Some(*a),
        Offer::Nothing => None,
    };
    if let Some(a) = offered {
        if st.closed.contains(a) {
            fired.push((
                InvariantId::DdiSmFinal,
                format!("closed action {a} offered again ({offer:?})"),
            ));
        }
        st.offered.insert(a);
    }
    if let Some(exp) = st.expect.take() {
        match exp {
                Expectation::Finished(a) if *installed != Some(a) => fired.push((
                    InvariantId::DdiSmMapping,
                    format!("action {a} was closed with success but installedBase links {installed:?}, not FINISHED"),
                )),
                Expectation::Error(a) if *installed == Some(a) => fired.push((
                    InvariantId::DdiSmMapping,
                    format!("action {a} was closed with failure but installedBase links it as FINISHED"),
                )),
                Expectation::StillActive(a) if offered != Some(a) => fired.push((
                    InvariantId::DdiSmMapping,
                    format!("action {a} got informational feedback but is no longer active (offer {offer:?})"),
                )),
                _ => {}
            }
    }
}

/// Feedback got an answer: it must be for an offered action, be refused
/// (410) once the action is closed, and set what the next root poll must show.
pub(super) fn feedback_answered(
    st: &mut DeviceState,
    fired: &mut Vec<(InvariantId, String)>,
    action: &u64,
    cancel: &bool,
    (execution, finished): (&Execution, &Finished),
    status: &u16,
) {
    if !st.offered.contains(*action) {
        fired.push((
            InvariantId::DdiSmOffered,
            format!(
                "feedback `{}` posted for action {action}, which the server never offered",
                execution.as_str()
            ),
        ));
    }
    let was_closed = st.closed.contains(*action);
    if !*cancel && was_closed && *status != 410 {
        fired.push((
            InvariantId::DdiSm410,
            format!(
                "feedback `{}` on closed action {action} answered {status}, not 410",
                execution.as_str()
            ),
        ));
    }
    let accepted = (200..300).contains(status);
    // A 410 on a retried `closed` means an earlier one arrived and its
    // answer was lost: the mapping must hold for that earlier one.
    let reached = accepted || *status == 410;
    if !*cancel {
        let download_only = st.download_only == Some(*action) || st.window_skip == Some(*action);
        match (execution, finished) {
            (Execution::Closed, Finished::Failure) if reached => {
                st.expect = Some(Expectation::Error(*action))
            }
            (Execution::Closed, _) if reached => st.expect = Some(Expectation::Finished(*action)),
            (Execution::Downloaded, _) if download_only => st.expect = None,
            _ if accepted && !was_closed => st.expect = Some(Expectation::StillActive(*action)),
            _ => {}
        }
    }
    let closes = (*execution == Execution::Closed && accepted && !*cancel)
        || (*execution == Execution::Downloaded && accepted && st.download_only == Some(*action))
        || (*execution == Execution::Closed
            && *cancel
            && accepted
            && *finished != Finished::Failure)
        || (*status == 410 && !*cancel);
    if closes || st.closing == Some(*action) {
        st.closing = None;
        mark_closed(st, *action);
    }
}

pub(super) fn mark_closed(st: &mut DeviceState, action: u64) {
    st.closed.insert(action);
}
