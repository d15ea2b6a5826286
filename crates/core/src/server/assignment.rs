//! What assignments do to their target beyond the action itself, as hawkBit
//! keeps it on `JpaTarget`:
//! - the assigned distribution set and the `updateStatus`, set at the points
//!   hawkBit sets them (`OnlineDsAssignmentStrategy`, `JpaControllerManagement`
//!   `onActionStatusUpdate` / `handleFinishedAndStoreInTargetStatus` /
//!   `handleErrorOnAction`, `DeploymentHelper.successCancellation`) rather than
//!   derived from the actions, because with several open actions the two differ;
//! - superseding (or, with `repository.actions.autoclose.enabled`, closing) the
//!   open actions a new assignment makes obsolete
//!   (`AbstractDsAssignmentStrategy.overrideObsoleteUpdateActions` /
//!   `closeObsoleteUpdateActions`); sets marked `requiredMigrationStep` keep theirs;
//! - the offline assignment of DDI `PUT installedBase`
//!   (`JpaControllerManagement.updateOfflineAssignedVersion`, `OfflineDsAssignmentStrategy`).

use std::borrow::Cow;
use std::num::NonZeroU32;

use serde::Deserialize;

use crate::message::Response;

use super::call::Call;
use super::distributions::Repo;
use super::messages::Messages;
use super::state::{Action, Emitter, StatusEntry, Target};
use super::ACTIONS_PER_TARGET;
use super::{respond, ActionId, ActionStatus, ActionType, DistributionId, Server};

/// hawkBit `actionWeightIfAbsent`.
const DEFAULT_WEIGHT: u32 = 1000;

const OBSOLETE_CANCEL: &str = "Update Server: cancel obsolete action due to new update";
const OBSOLETE_CLOSE: &str = "Update Server: close obsolete action due to new update";
const INITIATED: &str = "Update Server: Assignment initiated.";
const OFFLINE: &str = "Update Server: Action reported as offline deployment";

/// hawkBit's `TargetUpdateStatus`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum UpdateStatus {
    /// Created through the Management API, never polled.
    #[default]
    Unknown,
    /// Polled (or registered by polling), nothing assigned yet.
    Registered,
    /// An assignment is open.
    Pending,
    /// The assigned set is installed (or the last cancel left none open).
    InSync,
    /// The last action failed.
    Error,
}

impl UpdateStatus {
    /// The Management API spelling (`MgmtTarget.updateStatus`).
    pub(super) fn as_str(self) -> &'static str {
        match self {
            UpdateStatus::Unknown => "unknown",
            UpdateStatus::Registered => "registered",
            UpdateStatus::Pending => "pending",
            UpdateStatus::InSync => "in_sync",
            UpdateStatus::Error => "error",
        }
    }
}

impl Target {
    /// hawkBit `assignedDistributionSet`.
    pub(super) fn assigned(&self) -> Option<DistributionId> {
        self.assigned_ds.map(|d| DistributionId(u64::from(d.get())))
    }

    fn set_assigned(&mut self, ds: Option<DistributionId>) {
        self.assigned_ds = ds
            .and_then(|d| u32::try_from(d.0).ok())
            .and_then(NonZeroU32::new);
    }

    /// hawkBit `installedDistributionSet`: the set of the installed action.
    pub(super) fn installed_ds(&self) -> Option<DistributionId> {
        self.installed
            .and_then(|id| self.action(id))
            .map(|a| a.dist)
    }

    /// The id of the target's next action, `index * ACTIONS_PER_TARGET + n`:
    /// derived from the target's index, not a global counter, so a device's
    /// ids do not depend on which other devices exist (shards and
    /// single-device replays see the ids of the whole run). `None` at the quota.
    pub(super) fn next_action_id(&self) -> Option<ActionId> {
        let seq = self.actions.len() as u64 + 1;
        (seq < ACTIONS_PER_TARGET).then(|| {
            ActionId(
                self.index
                    .saturating_mul(ACTIONS_PER_TARGET)
                    .saturating_add(seq),
            )
        })
    }

    /// A root poll: UNKNOWN turns REGISTERED (`JpaControllerManagement.updateTarget`).
    pub(super) fn polled(&mut self) {
        if self.update_status == UpdateStatus::Unknown {
            self.update_status = UpdateStatus::Registered;
        }
    }

    /// Before a new assignment: every open action whose set is not a
    /// migration step turns CANCELING (the device is told), or with
    /// `autoclose` is closed CANCELED at once (it is not).
    pub(super) fn supersede(
        &mut self,
        ev: &mut Emitter<'_>,
        cap: u32,
        repo: &Repo,
        autoclose: bool,
    ) {
        let obsolete = self
            .actions
            .iter_mut()
            .filter(|a| a.active && !repo.is_migration_step(a.dist));
        for a in obsolete {
            if autoclose {
                a.push_capped(ActionStatus::Canceled, ev.now, OBSOLETE_CLOSE, cap);
                a.close(ev, ActionStatus::Canceled);
            } else if a.status != ActionStatus::Canceling {
                a.push_capped(ActionStatus::Canceling, ev.now, OBSOLETE_CANCEL, cap);
                a.set_status(ev, ActionStatus::Canceling);
            }
        }
    }

    /// After an online assignment of `ds`: assigned, PENDING.
    pub(super) fn assigned_to(&mut self, ds: DistributionId) {
        self.set_assigned(Some(ds));
        self.update_status = UpdateStatus::Pending;
    }

    /// Action `id` closed FINISHED: its set is installed; a download-only
    /// action also becomes the assigned set; IN_SYNC when assigned = installed
    /// (another assignment may be open already).
    pub(super) fn finished(&mut self, id: ActionId) {
        let Some((dist, kind)) = self.action(id).map(|a| (a.dist, a.kind)) else {
            return;
        };
        self.installed = Some(id);
        if kind == ActionType::DownloadOnly {
            self.set_assigned(Some(dist));
        }
        if self.assigned() == Some(dist) {
            self.update_status = UpdateStatus::InSync;
        }
    }

    /// An action closed ERROR: ERROR, and no set is assigned any more.
    pub(super) fn failed(&mut self) {
        self.update_status = UpdateStatus::Error;
        self.set_assigned(None);
    }

    /// A download-only action closed DOWNLOADED: IN_SYNC.
    pub(super) fn downloaded(&mut self) {
        self.update_status = UpdateStatus::InSync;
    }

    /// Action `id` turned CANCELED (device confirmed, or force-quit): with no
    /// other open action the installed set is the assigned one again and the
    /// target IN_SYNC; otherwise the set of the oldest other open action is.
    pub(super) fn cancellation_done(&mut self, id: ActionId) {
        let next = self
            .actions
            .iter()
            .filter(|a| a.active && a.id != id)
            .min_by_key(|a| a.id)
            .map(|a| a.dist);
        match next {
            Some(ds) => self.set_assigned(Some(ds)),
            None => {
                self.set_assigned(self.installed_ds());
                self.update_status = UpdateStatus::InSync;
            }
        }
    }

    /// Offline assignment: a closed FINISHED action of `ds`, installed and
    /// assigned, IN_SYNC.
    fn offline_assign(&mut self, ev: &mut Emitter<'_>, id: ActionId, ds: DistributionId) {
        let entry = StatusEntry {
            status: ActionStatus::Finished,
            at: ev.now,
            messages: Messages::from_vec(vec![Cow::Borrowed(INITIATED), Cow::Borrowed(OFFLINE)]),
            code: None,
        };
        let action = Action {
            id,
            dist: ds,
            kind: ActionType::Forced,
            weight: DEFAULT_WEIGHT,
            window: None,
            status: ActionStatus::Finished,
            active: false,
            history: vec![entry],
            last_code: None,
            deferred: false,
        };
        super::state::push_compact(&mut self.actions, action);
        ev.changed(id, None, ActionStatus::Finished);
        self.installed = Some(id);
        self.set_assigned(Some(ds));
        self.update_status = UpdateStatus::InSync;
    }
}

/// `PUT installedBase` body (hawkBit `DdiAssignedVersion`, both fields required).
#[derive(Debug, Deserialize)]
struct AssignedVersion {
    name: String,
    version: String,
}

/// `PUT {base}/installedBase`: 201 when the set was assigned offline, 200 when
/// it already was assigned or an assignment is open (`PENDING` targets are
/// skipped), 404 for an unknown set.
pub(super) fn put_installed(server: &mut Server, call: &Call<'_>) -> Response {
    let body: AssignedVersion = match serde_json::from_slice(call.req.body.as_bytes()) {
        Ok(b) => b,
        Err(e) => return respond::not_readable(format!("installedBase body is not readable: {e}")),
    };
    let Some(ds) = server.repo.find(&body.name, &body.version) else {
        return respond::not_found(format!(
            "DistributionSet with name {} and version {} not found",
            body.name, body.version
        ));
    };
    let Some(target) = server.targets.get_mut(&call.cid) else {
        return respond::not_found(format!("Target with controllerId {} not found", call.cid));
    };
    if target.assigned() == Some(ds) || target.update_status == UpdateStatus::Pending {
        return Response::status(200);
    }
    let Some(id) = target.next_action_id() else {
        return respond::quota(format!(
            "Target {}: at most {} actions",
            call.cid,
            ACTIONS_PER_TARGET - 1
        ));
    };
    let mut ev = Emitter::new(&call.cid, call.now, &mut server.events);
    target.offline_assign(&mut ev, id, ds);
    Response::status(201)
}

#[cfg(test)]
#[path = "assignment_tests.rs"]
mod tests;
