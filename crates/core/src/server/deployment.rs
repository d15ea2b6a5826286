//! Action resources: `deploymentBase` (ddi.md §1.3), its feedback (§1.4),
//! `cancelAction` and its feedback (§1.5, §1.6) and `installedBase` (§1.7).
//!
//! The feedback tables are the seed-001 mapping: which `ActionStatus` entry a
//! device's `execution`/`finished` pair is stored as, and which of them change
//! the action itself. Only FINISHED, ERROR and (download-only) DOWNLOADED close
//! an action from `deploymentBase` feedback; everything else is history.

use std::borrow::Cow;

use crate::message::Response;
use crate::protocol::ddi::wire::{
    ActionFeedback, CancelAction, CancelActionBase, Chunk, DeploymentBase, Execution,
    FeedbackStatus, Finished, Metadata,
};

use super::artifacts::artifact_json;
use super::call::Call;
use super::distributions::Repo;
use super::state::{Action, Emitter};
use super::{respond, ActionId, ActionStatus, ActionType, Server};

/// hawkBit splits detail messages longer than this into several (`JpaActionStatus.addMessage`).
const MAX_MESSAGE_LEN: usize = 512;

const RETRIEVED_UPDATE: &str =
    "Update Server: Target retrieved update action and should start now the download.";
const RETRIEVED_CANCEL: &str =
    "Update Server: Target retrieved cancel action and should start now the cancelation.";

/// Parses an action id path segment (Spring `Long` path variable → 400 if not a number).
pub(super) fn parse_id(s: &str) -> Result<ActionId, Response> {
    s.parse::<u64>()
        .map(ActionId)
        .map_err(|_| respond::bad_param(format!("actionId {s:?} is not a number")))
}

/// `actionHistory` query parameter, 0 when absent.
pub(super) fn history_param(call: &Call<'_>) -> Result<i64, Response> {
    match call.req.query_param("actionHistory") {
        None | Some("") => Ok(0),
        Some(v) => v
            .parse()
            .map_err(|_| respond::bad_param(format!("actionHistory {v:?} is not a number"))),
    }
}

fn parse_feedback(call: &Call<'_>) -> Result<ActionFeedback, Response> {
    super::codec::decode(call.req)
        .map_err(|e| respond::not_readable(format!("feedback body is not readable: {e}")))
}

fn unknown_target(call: &Call<'_>) -> Response {
    respond::not_found(format!("Target with controllerId {} not found", call.cid))
}

fn unknown_action(id: ActionId) -> Response {
    respond::not_found(format!("Action with id {id} not found"))
}

/// `part` with hawkBit's legacy renames (DCH `mapChunkLegacyKeys`).
fn legacy_part(part: &str) -> &str {
    match part {
        "application" => "bApp",
        "runtime" => "jvm",
        other => other,
    }
}

/// A chunk's `metadata`: the target-visible entries, absent when none
/// (DataConversionHelper `mapMetadata`).
fn visible_metadata(all: &[(String, String, bool)]) -> Option<Vec<Metadata>> {
    let visible: Vec<Metadata> = all
        .iter()
        .filter(|(_, _, visible)| *visible)
        .map(|(key, value, _)| Metadata {
            key: key.clone(),
            value: value.clone(),
        })
        .collect();
    (!visible.is_empty()).then_some(visible)
}

/// The `deploymentBase` / `installedBase` document of `action`.
pub(super) fn deployment_doc(
    repo: &Repo,
    call: &Call<'_>,
    action: &Action,
    history: i64,
) -> DeploymentBase {
    let now = call.now;
    let chunks = repo
        .modules_of(action.dist)
        .map(|m| Chunk {
            part: legacy_part(&m.part).to_string(),
            version: m.version.clone(),
            name: m.name.clone(),
            encrypted: None,
            artifacts: m
                .artifacts
                .iter()
                .map(|a| artifact_json(repo, call, m.id, a))
                .collect(),
            metadata: visible_metadata(&m.metadata),
        })
        .collect();
    DeploymentBase {
        id: action.id.to_string(),
        deployment: crate::protocol::ddi::wire::Deployment {
            download: action.download_type(now),
            update: match call.faults.ignore_window {
                true => action.download_type(now),
                false => action.update_type(now),
            },
            maintenance_window: action.window_state(now),
            chunks,
        },
        action_history: action.action_history(history),
    }
}

/// `GET {base}/deploymentBase/{id}`.
pub(super) fn deployment_base(server: &mut Server, call: &Call<'_>, id: &str) -> Response {
    let id = or_answer!(parse_id(id));
    let history = or_answer!(history_param(call));
    let cap = server.config.max_status_entries_per_action;
    let Some(target) = server.targets.get_mut(&call.cid) else {
        return unknown_target(call);
    };
    let mut ev = Emitter::new(&call.cid, call.now, &mut server.events);
    target.cancel_lapsed(&mut ev, cap);
    let Some(action) = target.action_mut(id) else {
        return unknown_action(id);
    };
    if action.status.is_cancel() || action.status == ActionStatus::WaitForConfirmation {
        return unknown_action(id);
    }
    let mut doc = deployment_doc(&server.repo, call, action, history);
    if call.faults.id_mismatch {
        doc.id = (id.0.wrapping_add(1)).to_string();
    }
    // RETRIEVED side effect (JCM handleRegisterRetrieved), for active actions only:
    // a closed action keeps its final status.
    if action.active && action.last_entry() != Some(ActionStatus::Retrieved) {
        action.push_capped(ActionStatus::Retrieved, call.now, RETRIEVED_UPDATE, cap);
        action.set_status(&mut ev, ActionStatus::Retrieved);
    }
    respond::json_ok(call.req, call.json_type, &doc)
}

/// `GET {base}/installedBase/{id}`: only inactive, non-canceled actions.
pub(super) fn installed_base(server: &mut Server, call: &Call<'_>, id: &str) -> Response {
    let id = or_answer!(parse_id(id));
    let history = or_answer!(history_param(call));
    let Some(target) = server.targets.get(&call.cid) else {
        return unknown_target(call);
    };
    let Some(action) = target
        .action(id)
        .filter(|a| !a.active && !a.status.is_cancel())
    else {
        return unknown_action(id);
    };
    let doc = deployment_doc(&server.repo, call, action, history);
    respond::json_ok(call.req, call.json_type, &doc)
}

/// What a feedback does to the action besides storing its entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    /// History only.
    None,
    /// Close with FINISHED: installed, configData requested.
    Finish,
    /// Close with ERROR.
    Fail,
    /// Close a download-only action with DOWNLOADED: configData requested.
    Downloaded,
    /// Close a cancel: CANCELED, inactive.
    CancelDone,
    /// A cancel failed or was rejected: the action runs again.
    Resume,
}

/// ddi.md §1.4 table (seed 001): entry status, default message, effect.
fn map_deployment(
    exec: Execution,
    finished: Finished,
    kind: ActionType,
    wrong: bool,
) -> (ActionStatus, &'static str, Effect) {
    match (exec, finished) {
        (Execution::Closed, Finished::Failure) if wrong => {
            (ActionStatus::Finished, "", Effect::Finish)
        }
        (Execution::Closed, Finished::Failure) => (
            ActionStatus::Error,
            "Target reported CLOSED with ERROR!",
            Effect::Fail,
        ),
        (Execution::Closed, _) => (ActionStatus::Finished, "", Effect::Finish),
        (Execution::Downloaded, _) if kind == ActionType::DownloadOnly => {
            (ActionStatus::Downloaded, "", Effect::Downloaded)
        }
        (Execution::Downloaded, _) => (ActionStatus::Downloaded, "", Effect::None),
        (Execution::Download, _) => (ActionStatus::Download, "", Effect::None),
        (Execution::Rejected, _) => (
            ActionStatus::Warning,
            "Target REJECTED update",
            Effect::None,
        ),
        (Execution::Canceled, _) => (
            ActionStatus::Canceled,
            "Target confirmed cancellation.",
            Effect::None,
        ),
        (exec @ (Execution::Proceeding | Execution::Scheduled | Execution::Resumed), _) => {
            (ActionStatus::Running, running_message(exec), Effect::None)
        }
    }
}

/// ddi.md §1.6 table: cancel feedback.
fn map_cancel(exec: Execution, finished: Finished) -> (ActionStatus, &'static str, Effect) {
    match (exec, finished) {
        (Execution::Closed, Finished::Failure) => (
            ActionStatus::Error,
            "Target was not able to complete cancellation",
            Effect::Resume,
        ),
        (Execution::Closed, _) => (
            ActionStatus::Canceled,
            "Cancellation completion is finished successfully.",
            Effect::CancelDone,
        ),
        (Execution::Rejected, _) => (
            ActionStatus::CancelRejected,
            "Target rejected cancellation",
            Effect::Resume,
        ),
        (Execution::Canceled, _) => (
            ActionStatus::Warning,
            "Target sent canceled, a cancel which is not supported by the server",
            Effect::None,
        ),
        (exec, _) => (ActionStatus::Running, running_message(exec), Effect::None),
    }
}

fn running_message(exec: Execution) -> &'static str {
    match exec {
        Execution::Proceeding => "Target reported PROCEEDING",
        Execution::Scheduled => "Target reported SCHEDULED",
        Execution::Resumed => "Target reported RESUMED",
        Execution::Downloaded => "Target reported DOWNLOADED",
        _ => "Target reported DOWNLOAD",
    }
}

/// Messages of a feedback: details split at 512 characters (or the default
/// when there are none), then "Device reported status code: N".
fn feedback_messages(status: &FeedbackStatus, default: &'static str) -> Vec<Cow<'static, str>> {
    let mut out: Vec<Cow<'static, str>> = Vec::new();
    for detail in status.details.iter().flatten() {
        let chars: Vec<char> = detail.chars().collect();
        if chars.is_empty() {
            out.push(Cow::Owned(String::new()));
        }
        for piece in chars.chunks(MAX_MESSAGE_LEN) {
            out.push(Cow::Owned(piece.iter().collect()));
        }
    }
    if out.is_empty() && !default.is_empty() {
        out.push(Cow::Borrowed(default));
    }
    if let Some(code) = status.code {
        out.push(Cow::Owned(format!("Device reported status code: {code}")));
    }
    out
}

/// Stores the entry (quota-checked unless FINISHED/ERROR) and applies `effect`.
fn record(
    server: &mut Server,
    call: &Call<'_>,
    id: ActionId,
    feedback: &ActionFeedback,
    (entry, default, effect): (ActionStatus, &'static str, Effect),
) -> Response {
    let cfg = &server.config;
    let (max_entries, max_messages) = (
        cfg.max_status_entries_per_action,
        cfg.max_messages_per_status,
    );
    let messages = feedback_messages(&feedback.status, default);
    if messages.len() > max_messages as usize {
        return respond::quota(format!(
            "Action status: at most {max_messages} messages allowed"
        ));
    }
    let Some(target) = server.targets.get_mut(&call.cid) else {
        return unknown_target(call);
    };
    let Some(action) = target.action_mut(id) else {
        return unknown_action(id);
    };
    let checked = !matches!(entry, ActionStatus::Finished | ActionStatus::Error);
    if checked && action.history_full(max_entries) {
        return respond::quota(format!(
            "Action {id}: at most {max_entries} status entries allowed"
        ));
    }
    action.push_coded(entry, call.now, messages, feedback.status.code);
    match feedback.status.execution {
        Execution::Scheduled => action.deferred = true,
        Execution::Resumed => action.deferred = false,
        _ => {}
    }
    let mut ev = Emitter::new(&call.cid, call.now, &mut server.events);
    // The target side (assigned set, updateStatus) follows in `assignment.rs`.
    match effect {
        Effect::None => {}
        Effect::Finish => {
            action.close(&mut ev, ActionStatus::Finished);
            target.finished(id);
            target.request_config = true;
        }
        Effect::Fail => {
            action.close(&mut ev, ActionStatus::Error);
            target.failed();
        }
        Effect::Downloaded => {
            action.close(&mut ev, ActionStatus::Downloaded);
            target.downloaded();
            target.request_config = true;
        }
        Effect::CancelDone => {
            action.close(&mut ev, ActionStatus::Canceled);
            target.cancellation_done(id);
        }
        Effect::Resume => action.set_status(&mut ev, ActionStatus::Running),
    }
    Response::status(200)
}

/// Feedback on an inactive action under `AcceptFeedbackAfterClose`: 200 and
/// stored (within the entry bound), without changing the action.
fn store_late(
    server: &mut Server,
    call: &Call<'_>,
    id: ActionId,
    feedback: &ActionFeedback,
    entry: ActionStatus,
) -> Response {
    let cap = server.config.max_status_entries_per_action;
    let messages = feedback_messages(&feedback.status, "");
    if let Some(action) = server
        .targets
        .get_mut(&call.cid)
        .and_then(|t| t.action_mut(id))
    {
        if !action.history_full(cap) {
            action.push_coded(entry, call.now, messages, feedback.status.code);
        }
    }
    Response::status(200)
}

/// `POST {base}/deploymentBase/{id}/feedback`.
pub(super) fn deployment_feedback(server: &mut Server, call: &Call<'_>, id: &str) -> Response {
    let id = or_answer!(parse_id(id));
    let feedback = or_answer!(parse_feedback(call));
    let Some(target) = server.targets.get(&call.cid) else {
        return unknown_target(call);
    };
    let Some(action) = target.action(id) else {
        return unknown_action(id);
    };
    if action.status == ActionStatus::WaitForConfirmation {
        return unknown_action(id);
    }
    let (exec, finished) = (feedback.status.execution, feedback.status.result.finished);
    let mapped = map_deployment(exec, finished, action.kind, call.faults.wrong_mapping);
    if !action.active {
        if call.faults.accept_after_close {
            return store_late(server, call, id, &feedback, mapped.0);
        }
        return Response::status(410);
    }
    let resp = record(server, call, id, &feedback, mapped);
    // hawkBit `lastActionStatusCode`: deployment feedback only, `null` when absent.
    if resp.status == 200 {
        let action = server
            .targets
            .get_mut(&call.cid)
            .and_then(|t| t.action_mut(id));
        if let Some(action) = action {
            action.last_code = feedback.status.code;
        }
    }
    resp
}

/// `GET {base}/cancelAction/{id}`: 200 only while CANCELING/CANCELED.
pub(super) fn cancel_action(server: &mut Server, call: &Call<'_>, id: &str) -> Response {
    let id = or_answer!(parse_id(id));
    let cap = server.config.max_status_entries_per_action;
    let Some(target) = server.targets.get_mut(&call.cid) else {
        return unknown_target(call);
    };
    let Some(action) = target.action_mut(id).filter(|a| a.status.is_cancel()) else {
        return unknown_action(id);
    };
    if action.last_entry() != Some(ActionStatus::Retrieved) {
        action.push_capped(ActionStatus::Retrieved, call.now, RETRIEVED_CANCEL, cap);
    }
    let doc = CancelActionBase {
        id: id.to_string(),
        cancel_action: CancelAction {
            stop_id: id.to_string(),
        },
    };
    respond::json_ok(call.req, call.json_type, &doc)
}

/// `POST {base}/cancelAction/{id}/feedback`: 405 unless CANCELING/CANCELED.
/// On an already CANCELED (inactive) action the entry is stored but the
/// action does not change.
pub(super) fn cancel_feedback(server: &mut Server, call: &Call<'_>, id: &str) -> Response {
    let id = or_answer!(parse_id(id));
    let feedback = or_answer!(parse_feedback(call));
    let Some(target) = server.targets.get(&call.cid) else {
        return unknown_target(call);
    };
    let Some(action) = target.action(id) else {
        return unknown_action(id);
    };
    if !action.status.is_cancel() {
        return respond::not_cancelable(format!("Action {id} is not being canceled"));
    }
    let (entry, default, effect) =
        map_cancel(feedback.status.execution, feedback.status.result.finished);
    let effect = if action.active { effect } else { Effect::None };
    record(server, call, id, &feedback, (entry, default, effect))
}

#[cfg(test)]
#[path = "deployment_tests.rs"]
mod tests;
