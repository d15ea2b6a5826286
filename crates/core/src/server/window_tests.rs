//! Recurring maintenance windows through the DDI resources, on a virtual
//! clock: hawkBit's three window tests (DdiRootControllerTest) and the
//! recurring / lapsing behaviour of `JpaAction` and RES.

use std::sync::Arc;

use crate::protocol::ddi::wire::{DeploymentBase, HandlingType, MaintenanceWindow};
use crate::time::Time;

use crate::server::schedule::Schedule;
use crate::server::test_support::{CID, H};
use crate::server::{ActionId, ActionStatus, ActionType, MaintenanceSchedule};

const MIN: u64 = 60_000;

fn recurring(cron: &str, duration: &str) -> MaintenanceSchedule {
    let s = Schedule::parse(cron, duration, "+00:00").expect("valid schedule");
    MaintenanceSchedule::Recurring(Arc::new(s))
}

/// `getTestSchedule(minutes)`: a one-off cron at `t`.
fn once_at(t: Time) -> String {
    let secs = t.as_millis() / 1000;
    let tod = secs % 86_400;
    let (y, m, d) = crate::time::civil_from_days((secs / 86_400) as i64);
    format!(
        "{} {} {} {d} {m} ? {y}",
        tod % 60,
        tod / 60 % 60,
        tod / 3600
    )
}

fn assign(h: &mut H, w: MaintenanceSchedule) -> ActionId {
    h.s.assign(h.now, h.dist, CID, ActionType::Forced, None, Some(w))
        .expect("assign")
}

fn deployment(h: &mut H, id: ActionId) -> (HandlingType, HandlingType, Option<MaintenanceWindow>) {
    let r = h.get(&format!("/deploymentBase/{id}"));
    assert_eq!(r.status, 200, "{r:?}");
    let d: DeploymentBase = serde_json::from_slice(r.body.as_bytes()).expect("body");
    (
        d.deployment.download,
        d.deployment.update,
        d.deployment.maintenance_window,
    )
}

#[test]
fn before_and_during_a_window() {
    use HandlingType::{Forced, Skip};
    // downloadAndUpdateStatusBeforeMaintenanceWindowStartTime: in 2 min, 1 min long.
    let mut h = H::new();
    h.now = Time(3_600_000);
    let a = assign(
        &mut h,
        recurring(&once_at(Time(3_600_000 + 2 * MIN)), "00:01:00"),
    );
    assert_eq!(
        deployment(&mut h, a),
        (Forced, Skip, Some(MaintenanceWindow::Unavailable))
    );
    // downloadAndUpdateStatusDuringMaintenanceWindow: opened 5 min ago, 10 min long.
    let mut h = H::new();
    h.now = Time(3_600_000);
    let a = assign(
        &mut h,
        recurring(&once_at(Time(3_600_000 - 5 * MIN)), "00:10:00"),
    );
    assert_eq!(
        deployment(&mut h, a),
        (Forced, Forced, Some(MaintenanceWindow::Available))
    );
}

#[test]
fn sleep_shortens_before_a_window() {
    // sleepTimeResponseForDifferentMaintenanceWindowParameters (pollingTime 00:05:00).
    for (minutes_ahead, duration, want) in [
        (16, "00:10:00", "00:05:00"),
        (10, "00:10:00", "00:03:20"),
        (5, "00:05:00", "00:01:40"),
        (-5, "00:15:00", "00:05:00"),
    ] {
        let mut h = H::new();
        h.now = Time(3_600_000);
        let start = Time((3_600_000 + minutes_ahead * MIN as i64) as u64);
        assign(&mut h, recurring(&once_at(start), duration));
        assert_eq!(h.root().config.polling.sleep, want, "{minutes_ahead} min");
    }
}

#[test]
fn a_recurring_window_reopens_and_changes_c() {
    use HandlingType::{Forced, Skip};
    let mut h = H::new();
    h.now = Time(0);
    // Daily 02:00–03:00 UTC.
    let a = assign(&mut h, recurring("0 0 2 * * ?", "01:00:00"));
    let link = |h: &mut H| h.root().links.deployment_base.expect("deploymentBase").href;
    let closed = link(&mut h);
    assert_eq!(deployment(&mut h, a).1, Skip);
    h.now = Time(2 * 3_600_000 + 1);
    let open = link(&mut h);
    assert_ne!(open, closed, "c changes when the window opens");
    assert_eq!(
        deployment(&mut h, a),
        (Forced, Forced, Some(MaintenanceWindow::Available))
    );
    // After the window: closed again, not lapsed; the next night it reopens.
    h.now = Time(3 * 3_600_000 + 1);
    assert_eq!(link(&mut h), closed);
    assert_eq!(deployment(&mut h, a).1, Skip);
    assert_eq!(h.s.action_status(CID, a), Some(ActionStatus::Retrieved));
    h.now = Time(26 * 3_600_000 + 1);
    assert_eq!(link(&mut h), open);
}

#[test]
fn a_year_bounded_schedule_lapses_and_cancels() {
    let mut h = H::new();
    let day = 86_400_000;
    h.now = Time(364 * day); // 31 December 1970
    let a = assign(&mut h, recurring("0 0 2 * * ? 1970", "01:00:00"));
    assert!(h.root().links.cancel_action.is_none());
    h.now = Time(364 * day + 3 * 3_600_000);
    let root = h.root();
    assert!(root
        .links
        .cancel_action
        .expect("lapsed → cancel")
        .href
        .ends_with(&format!("/cancelAction/{a}")));
    assert_eq!(h.s.action_status(CID, a), Some(ActionStatus::Canceling));
}
