//! The confirmation flow (ddi.md §1.8): with the tenant's
//! `user.confirmation.flow.enabled` on, a new action waits in
//! WAIT_FOR_CONFIRMATION until the device confirms it; the root then links
//! `confirmationBase/{id}` instead of `deploymentBase/{id}`.
//!
//! Resources: `GET confirmationBase` (auto-confirm state and links),
//! `GET confirmationBase/{id}` (the deployment to consent to),
//! `POST confirmationBase/{id}/feedback` (`confirmed` / `denied`) and
//! `POST confirmationBase/activateAutoConfirm|deactivateAutoConfirm`.
//! Rules, messages and statuses follow hawkBit's `DdiRootController`
//! (`getConfirmationBase*`, `postConfirmationActionFeedback`,
//! `activateAutoConfirmation`) and `JpaConfirmationManagement`
//! (`confirmAction`, `denyAction`, `activateAutoConfirmation`), as
//! `DdiConfirmationBaseTest` pins them.

use std::borrow::Cow;

use serde::de::DeserializeOwned;

use crate::message::Response;
use crate::protocol::ddi::consent_wire::{
    ActivateAutoConfirm, AutoConfirmState, Confirmation, ConfirmationBase, ConfirmationBaseAction,
    ConfirmationFeedback, ConfirmationLinks,
};
use crate::protocol::ddi::wire::Link;

use super::call::Call;
use super::deployment::{deployment_doc, history_param, parse_id};
use super::state::{AutoConfirm, Emitter, Start, Target, ASSIGNMENT_INITIATED};
use super::{respond, ActionStatus, Server};

/// hawkBit `JpaActionStatus.addMessage` splits longer messages.
const MAX_MESSAGE_LEN: usize = 512;
const WAITING: &str =
    "Waiting for the confirmation by the device before processing with the deployment";
const CONFIRMED: &str = "Update Server: Target confirmed action. Therefore, it will be set to the running state to proceed with the deployment.";
const DENIED: &str =
    "Update Server: Target rejected action. Action will stay in confirmation pending state.";
const REVOKED: &str = "Update Server: Target revoked previously granted confirmation. Action returned to confirmation-pending state.";
/// `DdiRootController.FALLBACK_REMARK`: activation without a body.
const FALLBACK_REMARK: &str =
    "Initiated using the Device Direct Integration API without providing a remark.";

/// How a new action starts (`OnlineDsAssignmentStrategy.createTargetAction`,
/// `JpaDeploymentManagement.verifyAndAddConfirmationStatus`): with the flow
/// off RUNNING as always; with it on the first entry is WAIT_FOR_CONFIRMATION,
/// and the action waits unless confirmation is not required or the target
/// auto-confirms.
pub(super) fn start(flow: bool, required: bool, target: &Target, user: &str) -> Start {
    let initiated = Cow::Borrowed(ASSIGNMENT_INITIATED);
    if !flow {
        return Start {
            status: ActionStatus::Running,
            entry: ActionStatus::Running,
            messages: vec![initiated],
        };
    }
    let (status, note) = match (&target.auto_confirm, required) {
        (_, false) => (
            ActionStatus::Running,
            Cow::Owned(format!("Assignment confirmed by initiator [{user}].")),
        ),
        (Some(auto), true) => (ActionStatus::Running, Cow::Owned(auto.action_message())),
        (None, true) => (ActionStatus::WaitForConfirmation, Cow::Borrowed(WAITING)),
    };
    Start {
        status,
        entry: ActionStatus::WaitForConfirmation,
        messages: vec![initiated, note],
    }
}

/// The root's `confirmationBase` link for the action the root exposes, if it waits.
pub(super) fn root_link(target: &Target, call: &Call<'_>) -> Option<Link> {
    let a = target.active_action()?;
    (a.status == ActionStatus::WaitForConfirmation).then(|| {
        let c = a.etag_c(call.now);
        Link::new(call.link(format_args!("/confirmationBase/{}?c={c}", a.id)))
    })
}

/// The request body as `T` (JSON), or hawkBit's 400 `notReadable`.
fn decode<T: DeserializeOwned>(call: &Call<'_>, what: &str) -> Result<T, Response> {
    super::codec::decode(call.req)
        .map_err(|e| respond::not_readable(format!("{what} body is not readable: {e}")))
}

fn unknown_target(call: &Call<'_>) -> Response {
    respond::not_found(format!("Target with controllerId {} not found", call.cid))
}

/// `GET {base}/confirmationBase`: registers an unknown controller (RES
/// `findOrRegisterTargetIfItDoesNotExist`), then the auto-confirm state.
pub(super) fn confirmation_root(server: &mut Server, call: &Call<'_>) -> Response {
    if server.targets.get(&call.cid).is_none() {
        server.targets.auto_register(&call.cid);
        if let Some(t) = server.targets.get_mut(&call.cid) {
            t.created_at = call.now;
        }
    }
    let Some(target) = server.targets.get(&call.cid) else {
        return unknown_target(call);
    };
    let state = match &target.auto_confirm {
        Some(a) => AutoConfirmState {
            active: true,
            initiator: a.initiator.clone(),
            remark: a.remark.clone(),
            activated_at: Some(a.at.as_millis()),
        },
        None => AutoConfirmState {
            active: false,
            initiator: None,
            remark: None,
            activated_at: Some(0),
        },
    };
    let toggle = |verb: &str| {
        Some(Link::new(
            call.link(format_args!("/confirmationBase/{verb}")),
        ))
    };
    let active = state.active;
    let body = ConfirmationBase {
        auto_confirm: state,
        links: ConfirmationLinks {
            activate_auto_confirm: if active {
                None
            } else {
                toggle("activateAutoConfirm")
            },
            deactivate_auto_confirm: if active {
                toggle("deactivateAutoConfirm")
            } else {
                None
            },
            confirmation_base: root_link(target, call),
        },
    };
    respond::json_ok(call.req, call.json_type, &body)
}

/// `GET {base}/confirmationBase/{id}`: 200 only while the action waits and
/// is not being canceled (lapsed windows are canceled first).
pub(super) fn confirmation_action(server: &mut Server, call: &Call<'_>, id: &str) -> Response {
    let id = or_answer!(parse_id(id));
    let history = or_answer!(history_param(call));
    let cap = server.config.max_status_entries_per_action;
    let Some(target) = server.targets.get_mut(&call.cid) else {
        return unknown_target(call);
    };
    let mut ev = Emitter::new(&call.cid, call.now, &mut server.events);
    target.cancel_lapsed(&mut ev, cap);
    let waiting = target
        .action(id)
        .filter(|a| !a.status.is_cancel() && a.status == ActionStatus::WaitForConfirmation);
    let Some(action) = waiting else {
        return respond::not_found(format!("Action with id {id} not found"));
    };
    let doc = deployment_doc(&server.repo, call, action, history);
    let body = ConfirmationBaseAction {
        id: doc.id,
        confirmation: doc.deployment,
        action_history: doc.action_history,
    };
    respond::json_ok(call.req, call.json_type, &body)
}

/// Why a confirmation feedback is refused (`InvalidConfirmationFeedbackException.Reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// `ACTION_CLOSED` → 410.
    Closed,
    /// `NOT_AWAITING_CONFIRMATION` → 404.
    NotAwaiting,
}

/// `assertActionCanAcceptFeedback` / `assertActionCanBeDenied`: the entry's
/// server message, or why the feedback is refused.
fn judge(
    answer: Confirmation,
    status: ActionStatus,
    active: bool,
    flow: bool,
) -> Result<&'static str, Refusal> {
    let waiting = status == ActionStatus::WaitForConfirmation;
    match answer {
        _ if !active => Err(Refusal::Closed),
        Confirmation::Confirmed if waiting => Ok(CONFIRMED),
        Confirmation::Confirmed => Err(Refusal::NotAwaiting),
        Confirmation::Denied if waiting => Ok(DENIED),
        // Revoking consent: not for a pending cancel, and only while the flow is on.
        Confirmation::Denied if status.is_cancel() || !flow => Err(Refusal::NotAwaiting),
        Confirmation::Denied => Ok(REVOKED),
    }
}

/// Device details (split at 512 characters), the server message, then
/// "Confirmation status code: N" (`createConfirmationActionStatus`).
fn messages(feedback: &ConfirmationFeedback, server: &'static str) -> Vec<Cow<'static, str>> {
    let mut out: Vec<Cow<'static, str>> = Vec::new();
    for detail in feedback.details.iter().flatten() {
        let chars: Vec<char> = detail.chars().collect();
        if chars.is_empty() {
            out.push(Cow::Owned(String::new()));
        }
        for piece in chars.chunks(MAX_MESSAGE_LEN) {
            out.push(Cow::Owned(piece.iter().collect()));
        }
    }
    out.push(Cow::Borrowed(server));
    if let Some(code) = feedback.code {
        out.push(Cow::Owned(format!("Confirmation status code: {code}")));
    }
    out
}

/// `POST {base}/confirmationBase/{id}/feedback`.
pub(super) fn confirmation_feedback(server: &mut Server, call: &Call<'_>, id: &str) -> Response {
    let id = or_answer!(parse_id(id));
    let feedback: ConfirmationFeedback = or_answer!(decode(call, "confirmation feedback"));
    let flow = server.config.confirmation_flow;
    let (max_entries, max_messages) = (
        server.config.max_status_entries_per_action,
        server.config.max_messages_per_status,
    );
    let Some(target) = server.targets.get_mut(&call.cid) else {
        return unknown_target(call);
    };
    let Some(action) = target.action_mut(id) else {
        return respond::not_found(format!("Action with id {id} not found"));
    };
    let mut answer = feedback.confirmation;
    if call.faults.denial_as_consent && action.status == ActionStatus::WaitForConfirmation {
        answer = Confirmation::Confirmed;
    }
    let note = match judge(answer, action.status, action.active, flow) {
        Ok(note) => note,
        Err(Refusal::Closed) => return Response::status(410),
        Err(Refusal::NotAwaiting) => {
            return respond::not_found(format!("Action {id} is not waiting for confirmation."))
        }
    };
    let messages = messages(&feedback, note);
    if messages.len() > max_messages as usize {
        return respond::quota(format!(
            "Action status: at most {max_messages} messages allowed"
        ));
    }
    if action.history_full(max_entries) {
        return respond::quota(format!(
            "Action {id}: at most {max_entries} status entries allowed"
        ));
    }
    let to = match answer {
        Confirmation::Confirmed => ActionStatus::Running,
        Confirmation::Denied => ActionStatus::WaitForConfirmation,
    };
    action.push(to, call.now, messages);
    let mut ev = Emitter::new(&call.cid, call.now, &mut server.events);
    action.set_status(&mut ev, to);
    Response::status(200)
}

/// Turns auto-confirm on for `target` and confirms every action waiting
/// (`activateAutoConfirmation` + `giveConfirmationForActiveActions`; the
/// entries bypass the quota there too). `Err(())` when already active (409).
pub(super) fn activate_auto(
    target: &mut Target,
    ev: &mut Emitter<'_>,
    auto: AutoConfirm,
) -> Result<(), ()> {
    if target.auto_confirm.is_some() {
        return Err(());
    }
    let message = auto.action_message();
    target.auto_confirm = Some(Box::new(auto));
    for a in target
        .actions
        .iter_mut()
        .filter(|a| a.active && a.status == ActionStatus::WaitForConfirmation)
    {
        a.push(
            ActionStatus::Running,
            ev.now,
            vec![Cow::Owned(message.clone())],
        );
        a.set_status(ev, ActionStatus::Running);
    }
    Ok(())
}

/// hawkBit's 409 for a second activation (`AutoConfirmationAlreadyActiveException`).
pub(super) fn already_active(cid: &str) -> (u16, &'static str, &'static str, String) {
    (
        409,
        "org.eclipse.hawkbit.repository.exception.AutoConfirmationAlreadyActiveException",
        "hawkbit.server.error.repo.autoConfAlreadyActive",
        format!("Auto confirmation is already active for device {cid}"),
    )
}

/// `POST {base}/confirmationBase/activateAutoConfirm`: 200; the body is
/// optional (without one the remark is hawkBit's fallback remark).
pub(super) fn activate(server: &mut Server, call: &Call<'_>) -> Response {
    let body: Option<ActivateAutoConfirm> = if call.req.body.is_empty() {
        None
    } else {
        Some(or_answer!(decode(call, "activateAutoConfirm")))
    };
    let (initiator, remark) = match body {
        Some(b) => (b.initiator, b.remark),
        None => (None, Some(FALLBACK_REMARK.to_string())),
    };
    let Some(target) = server.targets.get_mut(&call.cid) else {
        return unknown_target(call);
    };
    let auto = AutoConfirm {
        initiator,
        remark,
        by: call.cid.to_string(),
        at: call.now,
    };
    let mut ev = Emitter::new(&call.cid, call.now, &mut server.events);
    match activate_auto(target, &mut ev, auto) {
        Ok(()) => Response::status(200),
        Err(()) => {
            let (status, class, code, message) = already_active(&call.cid);
            respond::error(status, class, code, message)
        }
    }
}

/// `POST {base}/confirmationBase/deactivateAutoConfirm`: 200, active or not.
pub(super) fn deactivate(server: &mut Server, call: &Call<'_>) -> Response {
    let Some(target) = server.targets.get_mut(&call.cid) else {
        return unknown_target(call);
    };
    target.auto_confirm = None;
    Response::status(200)
}

#[cfg(test)]
#[path = "confirmation_tests.rs"]
mod tests;
