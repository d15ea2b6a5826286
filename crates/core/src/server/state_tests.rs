//! Tests of the action state machine, action history and the target index.

use super::*;

fn action(id: u64, weight: u32, active: bool) -> Action {
    Action {
        id: ActionId(id),
        dist: DistributionId(1),
        kind: ActionType::Soft,
        weight,
        window: None,
        status: ActionStatus::Running,
        active,
        history: Vec::new(),
        last_code: None,
        deferred: false,
    }
}

#[test]
fn active_action_is_heaviest_then_oldest() {
    let mut t = Target::new(0, None);
    t.actions = vec![
        action(1, 500, true),
        action(2, 900, true),
        action(3, 900, true),
        action(4, 1000, false),
    ];
    assert_eq!(t.active_action().map(|a| a.id), Some(ActionId(2)));
    t.actions[1].active = false;
    assert_eq!(t.active_action().map(|a| a.id), Some(ActionId(3)));
}

#[test]
fn etag_c_tracks_force_time_and_window() {
    let mut a = action(8, 1000, true);
    a.kind = ActionType::TimeForced {
        force_at: Time(100),
    };
    assert_eq!(a.etag_c(Time(0)), 8 * 31 + 1237);
    assert_eq!(a.etag_c(Time(100)), 8 * 31 + 1231);
    a.kind = ActionType::Soft;
    a.window = Some(MaintenanceSchedule::Once {
        start: Time(50),
        duration: crate::time::Span(10),
    });
    assert_eq!(a.etag_c(Time(55)), 8 * 31 + 1249);
    assert_eq!(a.etag_c(Time(60)), 8 * 31 + 1237);
    a.id = ActionId(u64::MAX);
    let _ = a.etag_c(Time(0)); // wraps, never panics
}

#[test]
fn history_hides_server_messages_newest_first_and_caps() {
    let mut a = action(1, 1000, true);
    a.push(
        ActionStatus::Running,
        Time(0),
        vec![Cow::Borrowed("Update Server: x")],
    );
    for i in 0..150 {
        a.push(
            ActionStatus::Running,
            Time(i),
            vec![Cow::Owned(format!("m{i}"))],
        );
    }
    assert_eq!(a.action_history(0), None);
    let h = a.action_history(2).expect("history");
    assert_eq!(h.messages, vec!["m149", "m148"]);
    assert_eq!(h.status, "RUNNING");
    assert_eq!(a.action_history(-1).map(|h| h.messages.len()), Some(100));
    assert_eq!(a.action_history(1000).map(|h| h.messages.len()), Some(100));
    let only_server = {
        let mut b = action(2, 1000, true);
        b.push(
            ActionStatus::Running,
            Time(0),
            vec![Cow::Borrowed("Update Server: y")],
        );
        b
    };
    assert_eq!(only_server.action_history(5), None);
}

#[test]
fn idle_targets_stay_small() {
    // 100 000+ targets: keep the per-target record within two cache lines.
    assert!(
        std::mem::size_of::<Target>() <= 128,
        "{}",
        std::mem::size_of::<Target>()
    );
}

#[test]
fn removal_keeps_other_targets_reachable_and_plans_number_ids() {
    let mut t = Targets::default();
    for (i, cid) in ["a", "b", "c"].iter().enumerate() {
        t.register(cid, i as u64, None);
    }
    assert!(t.remove("a"));
    assert!(!t.remove("a"));
    assert_eq!(t.get("c").map(|t| t.index), Some(2));
    assert_eq!(t.get("b").map(|t| t.index), Some(1));
    let order: Vec<&str> = t.sorted().into_iter().map(|(cid, _)| cid).collect();
    assert_eq!(order, vec!["b", "c"]);
    t.set_plan(vec![IndexGroup {
        prefix: "dev-".into(),
        first: 10,
        count: 5,
    }]);
    assert_eq!(t.index_for("dev-00012"), 12);
    assert_eq!(t.index_for("dev-12"), 15); // not the scenario's spelling
    assert_eq!(t.index_for("dev-00015"), 15); // outside the group
    t.auto_register("x");
    assert_eq!(t.get("x").map(|t| t.index), Some(15));
    assert_eq!(t.index_for("y"), 16);
}

#[test]
fn auto_register_takes_next_index() {
    let mut t = Targets::default();
    t.auto_register("a");
    t.register("b", 41, None);
    t.auto_register("c");
    assert_eq!(t.get("a").map(|t| t.index), Some(0));
    assert_eq!(t.get("c").map(|t| t.index), Some(42));
    assert_eq!(t.len(), 3);
}
