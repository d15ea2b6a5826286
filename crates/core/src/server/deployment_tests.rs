//! Tests of deploymentBase, installedBase, cancelAction and both feedback tables.

use crate::message::Method;
use crate::protocol::ddi::wire::{DeploymentBase, HandlingType, MaintenanceWindow};
use crate::time::{Span, Time};

use super::super::test_support::{json, CID, CONTENT, FILE, FILE_SIZE, H, ORIGIN};
use super::super::{
    ActionId, ActionStatus, ActionType, MaintenanceSchedule, ServerConfig, ServerEvent,
};

fn entries(h: &H, id: ActionId) -> Vec<ActionStatus> {
    let history = h.s.action_history(CID, id).expect("action");
    history.iter().map(|e| e.status).collect()
}

fn deployment(h: &mut H, id: ActionId) -> DeploymentBase {
    let r = h.get(&format!("/deploymentBase/{id}"));
    assert_eq!(r.status, 200, "{r:?}");
    serde_json::from_slice(r.body.as_bytes()).expect("deployment body")
}

#[test]
fn deployment_base_document_and_retrieved_once() {
    let mut h = H::new();
    let a = h.assign(ActionType::Soft);
    let d = deployment(&mut h, a);
    assert_eq!(d.id, a.to_string());
    assert_eq!(
        (d.deployment.download, d.deployment.update),
        (HandlingType::Attempt, HandlingType::Attempt)
    );
    assert_eq!(d.deployment.maintenance_window, None);
    let chunk = &d.deployment.chunks[0];
    assert_eq!((chunk.part.as_str(), chunk.version.as_str()), ("os", "1.0"));
    let art = &chunk.artifacts[0];
    let info = h.s.catalog().get(CONTENT).expect("registered").clone();
    assert_eq!(art.size, FILE_SIZE);
    assert_eq!(art.hashes.sha1.as_deref(), Some(info.hashes.sha1.as_str()));
    assert_eq!(art.hashes.md5.as_deref(), Some(info.hashes.md5.as_str()));
    assert_eq!(
        art.hashes.sha256.as_deref(),
        Some(info.hashes.sha256.as_str())
    );
    let href = H::url(&format!("/softwaremodules/1/artifacts/{FILE}"));
    assert_eq!(art.download_href(), Some(href.as_str()));
    assert_eq!(art.links["md5sum-http"].href, format!("{href}.MD5SUM"));
    assert!(href.starts_with(ORIGIN));

    deployment(&mut h, a);
    assert_eq!(
        entries(&h, a),
        vec![ActionStatus::Running, ActionStatus::Retrieved]
    );
    let ev = h.events();
    let statuses: Vec<_> = ev
        .iter()
        .map(|ServerEvent::ActionStatusChanged { from, to, .. }| (*from, *to))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (None, ActionStatus::Running),
            (Some(ActionStatus::Running), ActionStatus::Retrieved)
        ]
    );
    // After a feedback, a new GET records RETRIEVED again.
    assert!(h.feedback(a, "proceeding", "none").is_success());
    deployment(&mut h, a);
    assert_eq!(
        entries(&h, a)
            .iter()
            .filter(|s| **s == ActionStatus::Retrieved)
            .count(),
        2
    );
}

/// Each row of the seed-001 / ddi.md §1.4 table.
#[test]
fn feedback_mapping_table() {
    use ActionStatus::*;
    // (kind, execution, finished, stored entry, action status after, active after)
    let rows = [
        (ActionType::Soft, "closed", "failure", Error, Error, false),
        (
            ActionType::Soft,
            "closed",
            "success",
            Finished,
            Finished,
            false,
        ),
        (
            ActionType::Soft,
            "closed",
            "none",
            Finished,
            Finished,
            false,
        ),
        (
            ActionType::DownloadOnly,
            "downloaded",
            "none",
            Downloaded,
            Downloaded,
            false,
        ),
        (
            ActionType::Soft,
            "downloaded",
            "none",
            Downloaded,
            Retrieved,
            true,
        ),
        (
            ActionType::Soft,
            "download",
            "none",
            Download,
            Retrieved,
            true,
        ),
        (
            ActionType::Soft,
            "rejected",
            "none",
            Warning,
            Retrieved,
            true,
        ),
        (
            ActionType::Soft,
            "canceled",
            "none",
            Canceled,
            Retrieved,
            true,
        ),
        (
            ActionType::Soft,
            "proceeding",
            "none",
            Running,
            Retrieved,
            true,
        ),
        (
            ActionType::Soft,
            "scheduled",
            "none",
            Running,
            Retrieved,
            true,
        ),
        (
            ActionType::Soft,
            "resumed",
            "none",
            Running,
            Retrieved,
            true,
        ),
    ];
    for (kind, exec, fin, entry, status, active) in rows {
        let mut h = H::new();
        let a = h.assign(kind);
        deployment(&mut h, a);
        assert!(h.put("/configData", r#"{"data":{"k":"v"}}"#).is_success());
        let r = h.feedback(a, exec, fin);
        assert_eq!((r.status, r.body.is_empty()), (200, true), "{exec}/{fin}");
        assert_eq!(entries(&h, a).last(), Some(&entry), "{exec}/{fin}");
        assert_eq!(h.s.action_status(CID, a), Some(status), "{exec}/{fin}");
        assert_eq!(h.s.action_active(CID, a), Some(active), "{exec}/{fin}");
        let root = h.root();
        assert_eq!(
            root.links.installed_base.is_some(),
            status == Finished,
            "{exec}/{fin}"
        );
        assert_eq!(
            root.links.config_data.is_some(),
            matches!(status, Finished | Downloaded),
            "{exec}/{fin}"
        );
        assert_eq!(root.links.deployment_base.is_some(), active, "{exec}/{fin}");
        if !active {
            assert_eq!(
                h.feedback(a, "closed", "success").status,
                410,
                "closed twice: {exec}/{fin}"
            );
        }
    }
}

#[test]
fn feedback_errors() {
    let mut h = H::new();
    let a = h.assign(ActionType::Soft);
    for bad in [
        "",
        "{}",
        r#"{"status":{"execution":"closed"}}"#,
        r#"{"status":{"execution":"finished","result":{"finished":"success"}}}"#,
        r#"{"status":{"execution":"closed","result":{"finished":"maybe"}}}"#,
        r#"{"status":{"execution":"closed","result":{"finished":"none","progress":{"of":3}}}}"#,
    ] {
        let r = h.post(&format!("/deploymentBase/{a}/feedback"), bad);
        assert_eq!(r.status, 400, "{bad}");
        let body = json(&r);
        assert_eq!(
            body["errorCode"],
            "hawkbit.server.error.rest.body.notReadable"
        );
        assert_eq!(
            body["exceptionClass"],
            "org.eclipse.hawkbit.rest.exception.MessageNotReadableException"
        );
        assert_eq!(body.as_object().map(|o| o.len()), Some(3));
    }
    // Legacy fields are ignored; progress and code are accepted.
    let ok = r#"{"id":"1","time":"x","status":{"execution":"proceeding","result":{"finished":"none","progress":{"cnt":1,"of":2}},"code":7,"details":["d"]}}"#;
    assert_eq!(
        h.post(&format!("/deploymentBase/{a}/feedback"), ok).status,
        200
    );
    assert_eq!(h.feedback(ActionId(999), "closed", "success").status, 404);
    h.s.register_target("other", 1, None);
    let foreign =
        h.s.assign(h.now, h.dist, "other", ActionType::Soft, None, None)
            .expect("assign");
    assert_eq!(h.feedback(foreign, "closed", "success").status, 404);
    assert_eq!(h.get(&format!("/deploymentBase/{foreign}")).status, 404);
    assert_eq!(
        h.s.action_status("other", foreign),
        Some(ActionStatus::Running)
    );
}

#[test]
fn cancel_flow_supersede_then_successor() {
    let mut h = H::new();
    let a = h.assign(ActionType::Soft);
    deployment(&mut h, a);
    let b = h.assign(ActionType::Forced);
    assert_eq!(h.s.action_status(CID, a), Some(ActionStatus::Canceling));
    let root = h.root();
    assert_eq!(
        root.links.cancel_action.expect("cancel").href,
        H::url(&format!("/cancelAction/{a}"))
    );
    assert!(root.links.deployment_base.is_none());
    assert_eq!(
        h.get(&format!("/deploymentBase/{a}")).status,
        404,
        "CANCELING is not served"
    );
    let r = h.get(&format!("/cancelAction/{a}"));
    assert_eq!(
        json(&r),
        serde_json::json!({"id": a.to_string(), "cancelAction": {"stopId": a.to_string()}})
    );
    h.get(&format!("/cancelAction/{a}"));
    assert_eq!(
        entries(&h, a)
            .iter()
            .filter(|s| **s == ActionStatus::Retrieved)
            .count(),
        2,
        "one per resource"
    );
    assert_eq!(
        h.s.action_status(CID, a),
        Some(ActionStatus::Canceling),
        "cancel GET keeps the status"
    );
    assert_eq!(
        h.feedback(a, "closed", "success").status,
        200,
        "CANCELING is still active"
    );
    assert_eq!(h.s.action_status(CID, a), Some(ActionStatus::Finished));
    let mut h2 = H::new();
    let a2 = h2.assign(ActionType::Soft);
    let b2 = h2.assign(ActionType::Soft);
    assert!(h2.cancel_feedback(a2, "closed", "success").is_success());
    assert_eq!(h2.s.action_status(CID, a2), Some(ActionStatus::Canceled));
    assert_eq!(h2.s.action_active(CID, a2), Some(false));
    let href = h2.root().links.deployment_base.expect("successor").href;
    assert!(
        href.starts_with(&H::url(&format!("/deploymentBase/{b2}?c="))),
        "{href}"
    );
    assert_eq!(
        h2.cancel_feedback(a2, "closed", "success").status,
        200,
        "no 410 on cancel feedback"
    );
    assert!(b.0 > a.0);
}

#[test]
fn cancel_feedback_table_and_405() {
    let mut h = H::new();
    let a = h.assign(ActionType::Soft);
    assert_eq!(h.cancel_feedback(a, "closed", "success").status, 405);
    assert_eq!(
        json(&h.cancel_feedback(a, "closed", "success"))["errorCode"],
        "hawkbit.server.error.action.notCancelable"
    );
    assert_eq!(h.get(&format!("/cancelAction/{a}")).status, 404);
    assert!(h.s.cancel(h.now, CID, a, false));
    assert!(!h.s.cancel(h.now, CID, a, false), "already canceling");
    assert!(h.cancel_feedback(a, "canceled", "none").is_success());
    assert_eq!(entries(&h, a).last(), Some(&ActionStatus::Warning));
    assert_eq!(h.s.action_status(CID, a), Some(ActionStatus::Canceling));
    assert!(h.cancel_feedback(a, "proceeding", "none").is_success());
    assert_eq!(entries(&h, a).last(), Some(&ActionStatus::Running));
    assert!(h.cancel_feedback(a, "rejected", "none").is_success());
    assert_eq!(entries(&h, a).last(), Some(&ActionStatus::CancelRejected));
    assert_eq!(h.s.action_status(CID, a), Some(ActionStatus::Running));
    assert!(
        h.root().links.deployment_base.is_some(),
        "rejected cancel: served again"
    );
    assert!(h.s.cancel(h.now, CID, a, false));
    assert!(h.cancel_feedback(a, "closed", "failure").is_success());
    assert_eq!(entries(&h, a).last(), Some(&ActionStatus::Error));
    assert_eq!(h.s.action_status(CID, a), Some(ActionStatus::Running));
    assert!(h.s.cancel(h.now, CID, a, true), "force");
    assert_eq!(
        (h.s.action_status(CID, a), h.s.action_active(CID, a)),
        (Some(ActionStatus::Canceled), Some(false))
    );
    assert!(!h.s.cancel(h.now, CID, a, true), "inactive");
    assert!(!h.s.cancel(h.now, "ghost", a, true));
    assert_eq!(
        h.s.assign(h.now, h.dist, "ghost", ActionType::Soft, None, None),
        None
    );
    assert_eq!(
        h.s.assign(
            h.now,
            super::super::DistributionId(9),
            CID,
            ActionType::Soft,
            None,
            None
        ),
        None
    );
}

#[test]
fn status_and_message_quotas() {
    let config = ServerConfig {
        max_status_entries_per_action: 10,
        max_messages_per_status: 3,
        ..ServerConfig::default()
    };
    let mut h = H::with_config(config);
    let a = h.assign(ActionType::Soft);
    for i in 0..9 {
        assert_eq!(
            h.feedback(a, "proceeding", "none").status,
            200,
            "feedback {i}"
        );
    }
    let r = h.feedback(a, "proceeding", "none");
    assert_eq!(r.status, 429);
    assert_eq!(
        json(&r)["errorCode"],
        "hawkbit.server.error.quota.tooManyEntries"
    );
    assert_eq!(h.s.action_status(CID, a), Some(ActionStatus::Running));
    assert_eq!(
        h.get(&format!("/deploymentBase/{a}")).status,
        200,
        "server entries never fail a GET"
    );
    assert_eq!(
        h.feedback(a, "closed", "success").status,
        200,
        "FINISHED is not quota-checked"
    );

    let b = h.assign(ActionType::Soft);
    let with = |details: &str, code: &str| {
        format!(
            r#"{{"status":{{"execution":"proceeding","result":{{"finished":"none"}},"details":{details}{code}}}}}"#
        )
    };
    let url = format!("/deploymentBase/{b}/feedback");
    assert_eq!(h.post(&url, &with(r#"["1","2","3"]"#, "")).status, 200);
    assert_eq!(
        h.post(&url, &with(r#"["1","2","3"]"#, r#","code":5"#))
            .status,
        429
    );
    assert_eq!(
        h.post(&url, &with(r#"["1","2"]"#, r#","code":5"#)).status,
        200
    );
    let long = format!(r#"["{}"]"#, "x".repeat(1100));
    assert_eq!(
        h.post(&url, &with(&long, "")).status,
        200,
        "1100 chars = 3 messages"
    );
    assert_eq!(h.post(&url, &with(&long, r#","code":1"#)).status, 429);
}

#[test]
fn action_history_and_installed_base() {
    let mut h = H::new();
    let a = h.assign(ActionType::Soft);
    for d in ["one", "two", "three"] {
        let body = format!(
            r#"{{"status":{{"execution":"proceeding","result":{{"finished":"none"}},"details":["{d}"]}}}}"#
        );
        assert!(h
            .post(&format!("/deploymentBase/{a}/feedback"), &body)
            .is_success());
    }
    let r = h.get(&format!("/deploymentBase/{a}?actionHistory=2"));
    assert_eq!(
        json(&r)["actionHistory"],
        serde_json::json!({"status": "RUNNING", "messages": ["three", "two"]})
    );
    let stored = h.s.action_history(CID, a).expect("history");
    assert_eq!(
        stored[0].messages,
        vec!["Update Server: Assignment initiated."]
    );
    assert_eq!(
        (stored[3].status, stored[3].at, stored[3].messages.clone()),
        (ActionStatus::Running, h.now, vec!["three".to_string()])
    );
    let r = h.get(&format!("/deploymentBase/{a}?actionHistory=-1"));
    assert_eq!(
        json(&r)["actionHistory"]["messages"],
        serde_json::json!(["three", "two", "one"])
    );
    assert!(json(&h.get(&format!("/deploymentBase/{a}")))
        .get("actionHistory")
        .is_none());
    assert_eq!(
        h.get(&format!("/deploymentBase/{a}?actionHistory=x"))
            .status,
        400
    );

    assert_eq!(h.get(&format!("/installedBase/{a}")).status, 404, "active");
    assert!(h.feedback(a, "closed", "failure").is_success());
    assert_eq!(
        h.get(&format!("/installedBase/{a}")).status,
        200,
        "inactive ERROR is returned"
    );
    let b = h.assign(ActionType::Soft);
    assert!(h.feedback(b, "closed", "success").is_success());
    let r = h.get(&format!("/installedBase/{b}?actionHistory=1"));
    let doc = json(&r);
    assert_eq!(doc["id"], b.to_string());
    assert_eq!(
        doc["deployment"]["chunks"][0]["artifacts"][0]["filename"],
        FILE
    );
    assert_eq!(
        h.get(&format!("/deploymentBase/{b}")).status,
        200,
        "closed action still served"
    );
    assert_eq!(
        h.s.action_status(CID, b),
        Some(ActionStatus::Finished),
        "no RETRIEVED on closed"
    );
    let c = h.assign(ActionType::Soft);
    assert!(h.s.cancel(h.now, CID, c, true));
    assert_eq!(
        h.get(&format!("/installedBase/{c}")).status,
        404,
        "canceled"
    );
    assert_eq!(
        h.send(crate::message::Request::new(
            Method::Post,
            H::url(&format!("/installedBase/{b}"))
        ))
        .status,
        405
    );
}

#[test]
fn action_types_and_maintenance_windows() {
    let mut h = H::new();
    let force_at = h.now + Span::minutes(10);
    let a = h.assign(ActionType::TimeForced { force_at });
    let c1 = h.root().links.deployment_base.expect("db").href;
    assert_eq!(
        deployment(&mut h, a).deployment.download,
        HandlingType::Attempt
    );
    h.now = force_at;
    let c2 = h.root().links.deployment_base.expect("db").href;
    assert_ne!(c1, c2, "c changes when time-forced hits");
    let d = deployment(&mut h, a).deployment;
    assert_eq!(
        (d.download, d.update),
        (HandlingType::Forced, HandlingType::Forced)
    );

    let mut h = H::new();
    let a = h.assign(ActionType::DownloadOnly);
    let d = deployment(&mut h, a).deployment;
    assert_eq!(
        (d.download, d.update),
        (HandlingType::Forced, HandlingType::Skip)
    );

    let mut h = H::new();
    let (start, duration) = (Time(100_000), Span::minutes(1));
    let window = MaintenanceSchedule::Once { start, duration };
    let a =
        h.s.assign(h.now, h.dist, CID, ActionType::Forced, None, Some(window))
            .expect("assign");
    let before = h.root().links.deployment_base.expect("db").href;
    let d = deployment(&mut h, a).deployment;
    assert_eq!(
        (d.update, d.maintenance_window),
        (HandlingType::Skip, Some(MaintenanceWindow::Unavailable))
    );
    h.now = start;
    assert_ne!(
        h.root().links.deployment_base.expect("db").href,
        before,
        "c changes when the window opens"
    );
    let d = deployment(&mut h, a).deployment;
    assert_eq!(
        (d.update, d.maintenance_window),
        (HandlingType::Forced, Some(MaintenanceWindow::Available))
    );
    h.now = start + duration;
    let root = h.root();
    assert_eq!(
        root.links.cancel_action.expect("lapsed → cancel").href,
        H::url(&format!("/cancelAction/{a}"))
    );
    assert_eq!(h.s.action_status(CID, a), Some(ActionStatus::Canceling));
}
