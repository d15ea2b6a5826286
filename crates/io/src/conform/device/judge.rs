//! The situation-specific rules of the device script: what the server does
//! to a request in each situation (`before`, `shape`) and when a situation
//! is decided, PASS or FAIL with the reason (`before`, `after`). Pure
//! functions over one device's [`Active`] situation.

use fleetsim_core::message::{Headers, Response};
use fleetsim_core::protocol::ddi::wire::{Execution, Finished};
use fleetsim_core::server::{ActionId, Tenants};
use fleetsim_core::time::{Span, Time};
use fleetsim_fleet::report::conform::Outcome;

use super::observe::Call;
use super::script::{zeroed, ARTIFACT_SIZE};
use super::situations::Kind;
use crate::http_server::Shape;

/// `Retry-After` of the 429 answer.
const RETRY_AFTER: Span = Span::secs(1);
/// Slack on the back-off for timer granularity.
const BACKOFF_SLACK: Span = Span::millis(50);

/// A verdict: the outcome and why.
pub(super) type Verdict = (Outcome, Option<String>);

/// A situation under way for one device, and what it has seen so far.
pub(super) struct Active {
    pub(super) kind: Kind,
    /// The action the situation assigned (none for [`Kind::Quota`]).
    pub(super) action: Option<u64>,
    /// When it started.
    pub(super) started: Time,
    /// deploymentBase feedback of the action so far: execution, result, status.
    feedback: Vec<(Execution, Finished, u16)>,
    /// A whole artifact was sent (200 whole, or a 206 to its end).
    downloaded: bool,
    /// Artifact answers sent.
    artifacts: u32,
    /// The download was cut (Cancel, Resume).
    cut: bool,
    /// After the cut: the device asked for `Range: bytes=N-` with N > 0.
    resumed_from: Option<u64>,
    /// After the cut: the device asked for the artifact from byte 0.
    restarted: bool,
    /// Confirmation given: `Some(true)` confirmed, `Some(false)` denied.
    consent: Option<bool>,
    /// Artifact requested before the action was confirmed.
    early_download: bool,
    /// Feedback answered 410 (Closed), and feedback sent after that.
    gone: bool,
    after_gone: u32,
    /// The action whose `closed` was accepted, once it was.
    pub(super) closed_ok: Option<u64>,
    /// When the action's maintenance window opens (Window).
    pub(super) window_opens: Option<Time>,
    /// A `closed` sent while the window was still unavailable: when.
    closed_in_closed_window: Option<Time>,
}

impl Active {
    pub(super) fn new(kind: Kind, action: Option<u64>, started: Time) -> Active {
        Active {
            kind,
            action,
            started,
            feedback: Vec::new(),
            downloaded: false,
            artifacts: 0,
            cut: false,
            resumed_from: None,
            restarted: false,
            consent: None,
            early_download: false,
            gone: false,
            after_gone: 0,
            closed_ok: None,
            window_opens: None,
            closed_in_closed_window: None,
        }
    }

    /// What the situation still waits for, for a timeout's reason.
    pub(super) fn waiting_for(&self) -> String {
        let a = self.action.unwrap_or(0);
        match self.kind {
            Kind::Quota => "no request after the 429".into(),
            Kind::Cancel => format!("no cancelAction/{a}/feedback"),
            Kind::Confirm if self.consent.is_none() => format!("no confirmationBase/{a}/feedback"),
            Kind::Closed if self.gone => "no root poll after the 410".into(),
            Kind::Closed => format!("no feedback on action {a}"),
            _ => format!(
                "no closed feedback on action {a} (feedback so far: {})",
                self.history()
            ),
        }
    }

    fn history(&self) -> String {
        let h: Vec<String> = self
            .feedback
            .iter()
            .map(|(e, f, s)| format!("{}/{}→{s}", e.as_str(), f.as_str()))
            .collect();
        if h.is_empty() {
            "none".into()
        } else {
            h.join(", ")
        }
    }
}

/// The 429 of [`Kind::Quota`]: hawkBit's quota body and `Retry-After`.
pub(super) fn quota_answer() -> Response {
    let body = br#"{"exceptionClass":"org.eclipse.hawkbit.repository.exception.TooManyRequestsException","errorCode":"hawkbit.server.error.toomanyrequests","message":"Too many requests"}"#;
    let mut r = Response::json(429, "application/json", body.to_vec());
    r.headers = Headers::new()
        .with("content-type", "application/json")
        .with(
            "retry-after",
            RETRY_AFTER.as_millis().div_ceil(1000).to_string(),
        );
    r
}

/// Before the core answers: what the situation does to the request, and a
/// verdict when the request decides it.
pub(super) fn before(
    a: &mut Active,
    call: &Call,
    now: Time,
    server: &mut Tenants,
    cid: &str,
) -> Option<Verdict> {
    let action = a.action.unwrap_or(0);
    match (a.kind, call) {
        (Kind::Quota, _) => {
            let gap = now.since(a.started);
            return Some(match gap + BACKOFF_SLACK >= RETRY_AFTER {
                true => (Outcome::Pass, None),
                false => (Outcome::Fail, Some(format!("next request {gap} after the 429 with Retry-After: 1; it must wait at least 1s"))),
            });
        }
        (Kind::Cancel, Call::Artifact { .. }) if a.artifacts == 0 => {
            server.cancel(now, cid, ActionId(action), false);
        }
        (Kind::Confirm, Call::Artifact { .. }) if a.consent != Some(true) => {
            a.early_download = true
        }
        (Kind::Closed, Call::Feedback(x, _)) if *x == action && !a.gone => {
            server.cancel(now, cid, ActionId(action), true);
            a.gone = true;
        }
        (Kind::Closed, Call::Feedback(x, _) | Call::CancelFeedback(x, _)) if *x == action => {
            a.after_gone += 1
        }
        (Kind::Window, Call::Feedback(x, Some((Execution::Closed, _))))
            if *x == action && a.window_opens.is_some_and(|opens| now < opens) =>
        {
            a.closed_in_closed_window = Some(now);
        }
        (Kind::Closed, Call::Root) if a.gone => {
            return Some(match a.after_gone {
                0 => (Outcome::Pass, None),
                n => (Outcome::Fail, Some(format!("feedback on action {action} sent {n} more time(s) after it was answered 410 Gone"))),
            });
        }
        _ => {}
    }
    None
}

/// How an answer is sent in the situation: artifact bytes zeroed (Hash),
/// the first artifact answer cut halfway (Cancel, Resume); a note for the evidence.
pub(super) fn shape(a: &mut Active, call: &Call, resp: &mut Response) -> (Shape, Option<String>) {
    let Call::Artifact { range_from } = call else {
        return (Shape::Whole, None);
    };
    if !matches!(resp.status, 200 | 206) {
        return (Shape::Whole, None);
    }
    a.artifacts += 1;
    let from = range_from.unwrap_or(0);
    if a.cut {
        match from {
            0 => a.restarted = true,
            n => a.resumed_from = a.resumed_from.or(Some(n)),
        }
    }
    let len = resp.body.len();
    match a.kind {
        Kind::Hash => resp.body = zeroed(&resp.body),
        Kind::Cancel | Kind::Resume if !a.cut && from == 0 && len > 1 => {
            a.cut = true;
            let keep = len / 2;
            return (
                Shape::CutAfter(keep),
                Some(format!("cut after {keep} of {len} bytes")),
            );
        }
        _ => {}
    }
    if from + len >= ARTIFACT_SIZE {
        a.downloaded = true;
    }
    (Shape::Whole, None)
}

/// After the answer: the verdict, when this exchange decides the situation.
pub(super) fn after(a: &mut Active, call: &Call, status: u16) -> Option<Verdict> {
    let action = a.action?;
    let ok = (200..300).contains(&status);
    match call {
        Call::Feedback(x, Some((exec, fin))) if *x == action => {
            a.feedback.push((*exec, *fin, status));
            if *exec == Execution::Closed && ok {
                a.closed_ok = Some(action);
                return Some(closed_verdict(a, *fin));
            }
        }
        Call::Feedback(x, None) if *x == action => {
            return Some((Outcome::Fail, Some(format!("feedback on action {action} is not a DDI feedback document (answered {status})"))));
        }
        Call::CancelFeedback(x, Some((exec, _)))
            if *x == action && a.kind == Kind::Cancel && ok =>
        {
            if matches!(exec, Execution::Closed | Execution::Rejected) {
                return Some((Outcome::Pass, None));
            }
        }
        Call::ConsentFeedback(x, Some(confirmed)) if *x == action && ok => {
            a.consent = Some(*confirmed);
            if !*confirmed {
                return Some(match a.early_download {
                    false => (Outcome::Pass, None),
                    true => (Outcome::Fail, Some(format!("artifact of action {action} requested before the device answered the confirmation"))),
                });
            }
        }
        _ => {}
    }
    None
}

/// The verdict at an accepted `closed` on the situation's action.
fn closed_verdict(a: &Active, fin: Finished) -> Verdict {
    let fail = |why: String| (Outcome::Fail, Some(why));
    let action = a.action.unwrap_or(0);
    let earlier_closed = a
        .feedback
        .iter()
        .rev()
        .skip(1)
        .any(|(e, _, _)| *e == Execution::Closed);
    let downloaded_at = a
        .feedback
        .iter()
        .position(|(e, _, _)| *e == Execution::Downloaded);
    let download_after = downloaded_at.is_some_and(|i| {
        a.feedback[i + 1..]
            .iter()
            .any(|(e, _, _)| *e == Execution::Download)
    });
    match a.kind {
        Kind::Hash if fin == Finished::Success => fail(format!("closed/success reported for action {action} although its artifact did not match the advertised hashes")),
        Kind::Hash => (Outcome::Pass, None),
        Kind::Cancel => fail(format!("the device finished action {action} (closed/{}) instead of answering its cancel on cancelAction/{action}/feedback", fin.as_str())),
        Kind::Closed => fail(format!("closed on action {action} accepted: the server closed it first (internal)")),
        _ if earlier_closed => fail(format!("a second closed on action {action}: {}", a.history())),
        _ if fin != Finished::Success => fail(format!("closed/{} reported for action {action}, which installs fine", fin.as_str())),
        _ if !a.downloaded => fail(format!("closed/success on action {action} before its artifact was downloaded whole")),
        _ if download_after => fail(format!("`download` after `downloaded` on action {action}: {}", a.history())),
        Kind::Resume if a.restarted || a.resumed_from.is_none() => fail(format!(
            "after the cut the artifact was asked for again from byte 0 (no `Range: bytes=N-`), resumed from {:?}",
            a.resumed_from
        )),
        Kind::Confirm if a.early_download => fail(format!("artifact of action {action} requested before the device confirmed it")),
        Kind::Window => match (a.closed_in_closed_window, a.window_opens) {
            (Some(at), Some(opens)) => fail(format!("closed on action {action} at {at}, while its deploymentBase said `maintenanceWindow: unavailable` (it opened at {opens}): installed outside the window (DDI-WINDOW-INSTALL)")),
            _ => (Outcome::Pass, None),
        },
        _ => (Outcome::Pass, None),
    }
}
