//! Tests of the target side of assignments: several open actions, supersede
//! and autoclose, the stored assigned set and updateStatus, offline
//! assignment, status codes.

use crate::message::ContentId;

use super::super::test_support::{dist_spec, CID, H};
use super::super::{ActionId, ActionStatus, ActionType, DistributionId, ServerConfig};
use super::UpdateStatus;

/// Adds a set `fw <version>`; `migration`: `requiredMigrationStep`.
fn add_set(h: &mut H, version: &str, migration: bool) -> DistributionId {
    let id =
        h.s.add_distribution(dist_spec(version, ContentId(version.len() as u64 + 20)));
    if let Some(d) = h.s.repo.distributions.last_mut() {
        d.required_migration_step = migration;
    }
    id
}

fn assign(h: &mut H, ds: DistributionId, weight: Option<u32>) -> ActionId {
    h.s.assign(h.now, ds, CID, ActionType::Forced, weight, None)
        .expect("assign")
}

/// Status entries over all of the target's actions (`countActionStatusAll`).
fn entries(h: &H) -> usize {
    let t = h.s.targets.get(CID).expect("target");
    t.actions.iter().map(|a| a.history.len()).sum()
}

fn active(h: &H) -> usize {
    let t = h.s.targets.get(CID).expect("target");
    t.actions.iter().filter(|a| a.active).count()
}

fn assigned(h: &H) -> Option<DistributionId> {
    h.s.targets.get(CID).and_then(|t| t.assigned())
}

fn update_status(h: &H) -> UpdateStatus {
    h.s.targets.get(CID).expect("target").update_status
}

fn cancel_link(h: &mut H) -> Option<String> {
    h.root().links.cancel_action.map(|l| l.href)
}

fn deployment_link(h: &mut H) -> Option<String> {
    h.root().links.deployment_base.map(|l| l.href)
}

fn get_cancel(h: &mut H, id: ActionId) {
    let r = h.get(&format!("/cancelAction/{id}"));
    assert_eq!(r.status, 200, "{r:?}");
    let doc = super::super::test_support::json(&r);
    assert_eq!(doc["cancelAction"]["stopId"], id.to_string());
}

/// `DdiCancelActionTest.multipleCancelActionFeedback`, step by step.
#[test]
fn several_cancels_are_served_lowest_id_first_and_move_the_assigned_set() {
    let mut h = H::new();
    let ds1 = add_set(&mut h, "1", true);
    let ds2 = add_set(&mut h, "2", true);
    let ds3 = add_set(&mut h, "3", true);
    let a1 = assign(&mut h, ds1, None);
    let a2 = assign(&mut h, ds2, None);
    let a3 = assign(&mut h, ds3, None);
    assert_eq!((entries(&h), active(&h)), (3, 3));
    assert!(h.s.cancel(h.now, CID, a1, false));
    assert!(h.s.cancel(h.now, CID, a2, false));
    assert_eq!(active(&h), 3);
    get_cancel(&mut h, a1);
    assert_eq!(entries(&h), 6);
    assert_eq!(
        cancel_link(&mut h),
        Some(H::url(&format!("/cancelAction/{a1}")))
    );

    assert!(h.cancel_feedback(a1, "closed", "success").is_success());
    assert_eq!((entries(&h), active(&h)), (7, 2));
    get_cancel(&mut h, a2);
    assert_eq!(entries(&h), 8);
    assert_eq!(
        cancel_link(&mut h),
        Some(H::url(&format!("/cancelAction/{a2}")))
    );

    assert!(h.cancel_feedback(a2, "closed", "success").is_success());
    assert_eq!(entries(&h), 9);
    assert_eq!(assigned(&h), Some(ds3));
    assert_eq!(h.get(&format!("/deploymentBase/{a3}")).status, 200);
    assert_eq!((entries(&h), active(&h)), (10, 1));

    assert!(h.s.cancel(h.now, CID, a3, false));
    assert_eq!((active(&h), assigned(&h)), (1, Some(ds3)));
    get_cancel(&mut h, a3);
    assert_eq!(entries(&h), 12);
    assert!(h.cancel_feedback(a3, "closed", "success").is_success());
    assert_eq!((entries(&h), active(&h)), (13, 0));
    assert_eq!(h.s.targets.get(CID).map(|t| t.actions.len()), Some(3));
    // No other open action: the (absent) installed set is the assigned one.
    assert_eq!(
        (assigned(&h), update_status(&h)),
        (None, UpdateStatus::InSync)
    );
}

#[test]
fn a_new_assignment_supersedes_only_open_non_migration_actions() {
    let mut h = H::new();
    let step = add_set(&mut h, "step", true);
    let ds2 = add_set(&mut h, "2", false);
    let ds3 = add_set(&mut h, "3", false);
    let a1 = assign(&mut h, step, None);
    let a2 = assign(&mut h, ds2, None);
    assert_eq!(h.s.action_status(CID, a1), Some(ActionStatus::Running));
    let a3 = assign(&mut h, ds3, None);
    assert_eq!(h.s.action_status(CID, a1), Some(ActionStatus::Running));
    assert_eq!(h.s.action_status(CID, a2), Some(ActionStatus::Canceling));
    let last = h.s.action_history(CID, a2).expect("history");
    let messages = &last.last().expect("entry").messages;
    assert_eq!(
        messages,
        &vec!["Update Server: cancel obsolete action due to new update".to_string()]
    );
    // Already CANCELING: a further assignment adds no second cancel entry.
    let before = last.len();
    let _a4 = assign(&mut h, step, None);
    assert_eq!(h.s.action_history(CID, a2).map(|e| e.len()), Some(before));
    assert_eq!(h.s.action_status(CID, a3), Some(ActionStatus::Canceling));
    assert_eq!(h.s.action_status(CID, a1), Some(ActionStatus::Running));
}

#[test]
fn autoclose_closes_obsolete_actions_without_the_device() {
    let mut h = H::with_config(ServerConfig {
        autoclose: true,
        ..ServerConfig::default()
    });
    let ds2 = add_set(&mut h, "2", false);
    let a1 = h.assign(ActionType::Soft);
    assert!(h.s.cancel(h.now, CID, a1, false));
    let a2 = assign(&mut h, ds2, None);
    let ds1 = h.dist;
    let a3 = assign(&mut h, ds1, None);
    for old in [a1, a2] {
        assert_eq!(h.s.action_status(CID, old), Some(ActionStatus::Canceled));
        assert_eq!(h.s.action_active(CID, old), Some(false));
    }
    let history = h.s.action_history(CID, a2).expect("history");
    let last = history.last().expect("entry");
    assert_eq!(last.status, ActionStatus::Canceled);
    assert_eq!(
        last.messages,
        vec!["Update Server: close obsolete action due to new update".to_string()]
    );
    let root = h.root();
    assert!(root.links.cancel_action.is_none());
    let href = root.links.deployment_base.expect("deploymentBase").href;
    assert!(href.contains(&format!("/deploymentBase/{a3}?")), "{href}");
}

#[test]
fn the_heaviest_open_action_is_served_first() {
    let mut h = H::new();
    let light = add_set(&mut h, "light", true);
    let heavy = add_set(&mut h, "heavy", true);
    let a1 = assign(&mut h, light, Some(100));
    let a2 = assign(&mut h, heavy, Some(900));
    let link = deployment_link(&mut h).expect("deploymentBase");
    assert!(link.contains(&format!("/deploymentBase/{a2}?")), "{link}");
    // The light one finishes first: installed, but the heavy set is the
    // assigned one (the latest assignment), so the target stays PENDING.
    assert!(h.feedback(a1, "closed", "success").is_success());
    let t = h.s.targets.get(CID).expect("target");
    assert_eq!((t.installed_ds(), t.assigned()), (Some(light), Some(heavy)));
    assert_eq!(t.update_status, UpdateStatus::Pending);
    let link = deployment_link(&mut h).expect("deploymentBase");
    assert!(link.contains(&format!("/deploymentBase/{a2}?")), "{link}");
    assert!(h.feedback(a2, "closed", "success").is_success());
    assert_eq!(update_status(&h), UpdateStatus::InSync);
    assert_eq!(deployment_link(&mut h), None);
}

/// Target `updateStatus` at hawkBit's transition points
/// (`DdiDeploymentBaseTest.rootRsSingleDeploymentActionWithErrorFeedback` for ERROR).
#[test]
fn update_status_follows_hawkbit_transitions() {
    let mut h = H::new();
    assert_eq!(update_status(&h), UpdateStatus::Unknown);
    h.root();
    assert_eq!(update_status(&h), UpdateStatus::Registered);
    let a1 = h.assign(ActionType::Forced);
    assert_eq!(
        (update_status(&h), assigned(&h)),
        (UpdateStatus::Pending, Some(h.dist))
    );
    assert!(h.feedback(a1, "closed", "failure").is_success());
    assert_eq!(
        (update_status(&h), assigned(&h)),
        (UpdateStatus::Error, None)
    );
    let a2 = h.assign(ActionType::Forced);
    assert!(h.feedback(a2, "closed", "success").is_success());
    assert_eq!(
        (update_status(&h), assigned(&h)),
        (UpdateStatus::InSync, Some(h.dist))
    );
    assert_eq!(entries(&h), 4);
    // A cancel confirmed by the device with nothing else open: IN_SYNC on the installed set.
    let ds2 = add_set(&mut h, "2", false);
    let a3 = assign(&mut h, ds2, None);
    assert!(h.s.cancel(h.now, CID, a3, false));
    assert_eq!(update_status(&h), UpdateStatus::Pending);
    assert!(h.cancel_feedback(a3, "closed", "success").is_success());
    assert_eq!(
        (update_status(&h), assigned(&h)),
        (UpdateStatus::InSync, Some(h.dist))
    );
    // Force-quit takes the same path (DeploymentHelper.successCancellation).
    let a4 = assign(&mut h, ds2, None);
    assert!(h.s.cancel(h.now, CID, a4, false));
    assert!(h.s.cancel(h.now, CID, a4, true));
    assert_eq!(
        (update_status(&h), assigned(&h)),
        (UpdateStatus::InSync, Some(h.dist))
    );
    // Download-only: DOWNLOADED is IN_SYNC.
    let a5 = h.assign(ActionType::DownloadOnly);
    assert_eq!(update_status(&h), UpdateStatus::Pending);
    assert!(h.feedback(a5, "downloaded", "none").is_success());
    assert_eq!(update_status(&h), UpdateStatus::InSync);
}

#[test]
fn canceling_one_of_several_assigns_the_oldest_other_open_set() {
    let mut h = H::new();
    let ds1 = add_set(&mut h, "1", true);
    let ds2 = add_set(&mut h, "2", true);
    let ds3 = add_set(&mut h, "3", true);
    let _a1 = assign(&mut h, ds1, None);
    let _a2 = assign(&mut h, ds2, None);
    let a3 = assign(&mut h, ds3, None);
    assert!(h.s.cancel(h.now, CID, a3, false));
    assert!(h.cancel_feedback(a3, "closed", "success").is_success());
    assert_eq!(
        (assigned(&h), update_status(&h)),
        (Some(ds1), UpdateStatus::Pending)
    );
}

/// `DdiInstalledBaseTest.installedVersion` / `installedVersionNotExist`.
#[test]
fn put_installed_base_assigns_offline() {
    let mut h = H::new();
    let body = r#"{"name":"fw","version":"1.0"}"#;
    assert_eq!(
        h.put("/installedBase", r#"{"name":"x","version":"9"}"#)
            .status,
        404
    );
    assert_eq!(assigned(&h), None);
    assert_eq!(h.put("/installedBase", r#"{"name":"fw"}"#).status, 400);
    assert_eq!(h.put("/installedBase", body).status, 201);
    let t = h.s.targets.get(CID).expect("target");
    let a = &t.actions[0];
    assert_eq!(
        (a.status, a.active, a.dist),
        (ActionStatus::Finished, false, h.dist)
    );
    assert_eq!(
        (t.assigned(), t.installed_ds()),
        (Some(h.dist), Some(h.dist))
    );
    assert_eq!(t.update_status, UpdateStatus::InSync);
    let id = a.id;
    let events = h.events();
    assert_eq!(events.len(), 1, "{events:?}");
    let installed = h.root().links.installed_base.expect("installedBase").href;
    assert_eq!(installed, H::url(&format!("/installedBase/{id}")));
    assert_eq!(h.get(&format!("/installedBase/{id}")).status, 200);
    assert_eq!(h.put("/installedBase", body).status, 200);
    assert_eq!(h.s.targets.get(CID).map(|t| t.actions.len()), Some(1));
    // A target with an open assignment (PENDING) is left alone.
    let ds2 = add_set(&mut h, "2.0", false);
    let _open = assign(&mut h, ds2, None);
    let other = r#"{"name":"fw","version":"2.0"}"#;
    assert_eq!(h.put("/installedBase", other).status, 200);
    assert_eq!(h.s.targets.get(CID).map(|t| t.actions.len()), Some(2));
    assert_eq!(h.get("/installedBase").status, 405);
}

#[test]
fn feedback_codes_are_stored_and_the_last_deployment_code_kept() {
    let mut h = H::new();
    let a = h.assign(ActionType::Forced);
    let with_code = |code: &str| {
        format!(r#"{{"status":{{"execution":"proceeding","result":{{"finished":"none"}}{code}}}}}"#)
    };
    let path = format!("/deploymentBase/{a}/feedback");
    assert!(h.post(&path, &with_code(r#","code":42"#)).is_success());
    let last_code = |h: &H| {
        h.s.targets
            .get(CID)
            .and_then(|t| t.action(a))
            .and_then(|a| a.last_code)
    };
    let last_entry_code = |h: &H| {
        let t = h.s.targets.get(CID).expect("target");
        t.action(a)
            .and_then(|a| a.history.last())
            .and_then(|e| e.code)
    };
    assert_eq!((last_code(&h), last_entry_code(&h)), (Some(42), Some(42)));
    assert!(h.post(&path, &with_code("")).is_success());
    assert_eq!((last_code(&h), last_entry_code(&h)), (None, None));
    assert!(h.post(&path, &with_code(r#","code":7"#)).is_success());
    // Cancel feedback keeps its code in the entry, not as lastStatusCode.
    assert!(h.s.cancel(h.now, CID, a, false));
    let cancel = format!("/cancelAction/{a}/feedback");
    assert!(h.post(&cancel, &with_code(r#","code":-3"#)).is_success());
    assert_eq!((last_code(&h), last_entry_code(&h)), (Some(7), Some(-3)));
    let history = h.s.action_history(CID, a).expect("history");
    assert_eq!(history.last().and_then(|r| r.code), Some(-3));
}

/// `DdiInstalledBaseTest.deploymentActionsOfSameDsWithCancelledAction`: a
/// later, canceled assignment of the installed set does not replace the
/// finished action as installedBase, and canceled actions are no installedBase.
#[test]
fn a_canceled_action_of_the_installed_set_is_not_installed_base() {
    let mut h = H::new();
    let ds1 = add_set(&mut h, "1", true);
    let ds2 = add_set(&mut h, "2", true);
    let a1 = assign(&mut h, ds1, None);
    assert!(h.feedback(a1, "closed", "success").is_success());
    let a2 = assign(&mut h, ds2, None);
    let a3 = assign(&mut h, ds1, None);
    for a in [a2, a3] {
        assert!(h.s.cancel(h.now, CID, a, false));
        assert!(h.cancel_feedback(a, "closed", "success").is_success());
    }
    let root = h.root();
    assert!(root.links.deployment_base.is_none());
    let installed = root.links.installed_base.expect("installedBase").href;
    assert_eq!(installed, H::url(&format!("/installedBase/{a1}")));
    assert_eq!(h.get(&format!("/installedBase/{a1}")).status, 200);
    for a in [a2, a3] {
        assert_eq!(h.get(&format!("/installedBase/{a}")).status, 404);
    }
    assert_eq!(
        (assigned(&h), update_status(&h)),
        (Some(ds1), UpdateStatus::InSync)
    );
}
