//! Every fault changes the behaviour it claims to, and only inside its window.

use crate::time::{Span, Time};

use super::super::test_support::{json, CID, CONTENT, FILE, H};
use super::super::{ActionStatus, ActionType, Fault, FaultWindow};

/// A harness with `fault` active from now for one hour.
fn with_fault(fault: Fault) -> H {
    let mut h = H::new();
    h.s.set_faults(vec![FaultWindow {
        from: h.now,
        until: h.now + Span::hours(1),
        fault,
    }]);
    h
}

#[test]
fn respond_answers_every_route_inside_its_window() {
    let mut h = with_fault(Fault::Respond { status: 503 });
    for path in [
        "",
        "/deploymentBase/1",
        "/softwaremodules/1/artifacts/fw.bin",
        "/nope",
    ] {
        let r = h.get(path);
        assert_eq!(r.status, 503, "{path}");
        assert_eq!(r.headers.get("retry-after"), Some("5"));
    }
    assert_eq!(h.s.target_count(), 1);
    h.advance(Span::hours(1));
    assert_eq!(h.get("").status, 200, "window is half-open");
    let mut h = with_fault(Fault::Respond { status: 429 });
    let r = h.get("");
    assert_eq!(
        json(&r)["errorCode"],
        "hawkbit.server.error.quota.tooManyEntries"
    );
    let mut h = with_fault(Fault::Respond { status: 500 });
    assert_eq!(h.get("").headers.get("retry-after"), Some("5"));
}

#[test]
fn accept_feedback_after_close() {
    let mut h = with_fault(Fault::AcceptFeedbackAfterClose);
    let a = h.assign(ActionType::Soft);
    assert!(h.feedback(a, "closed", "failure").is_success());
    let before =
        h.s.targets
            .get(CID)
            .and_then(|t| t.action(a))
            .map(|a| a.history.len());
    assert_eq!(
        h.feedback(a, "closed", "success").status,
        200,
        "should have been 410"
    );
    let after =
        h.s.targets
            .get(CID)
            .and_then(|t| t.action(a))
            .map(|a| a.history.len());
    assert_eq!(after, before.map(|n| n + 1), "stored");
    h.advance(Span::hours(1));
    assert_eq!(h.feedback(a, "closed", "success").status, 410);
}

#[test]
fn reopen_closed_actions() {
    let mut h = with_fault(Fault::ReopenClosedActions);
    let a = h.assign(ActionType::Soft);
    assert!(h.feedback(a, "closed", "success").is_success());
    let href = h
        .root()
        .links
        .deployment_base
        .expect("closed action offered again")
        .href;
    assert!(href.contains(&format!("/deploymentBase/{a}?c=")));
    h.advance(Span::hours(1));
    assert!(h.root().links.deployment_base.is_none());
}

#[test]
fn wrong_status_mapping() {
    let mut h = with_fault(Fault::WrongStatusMapping);
    let a = h.assign(ActionType::Soft);
    assert!(h.feedback(a, "closed", "failure").is_success());
    assert_eq!(h.s.action_status(CID, a), Some(ActionStatus::Finished));
    let installed = h
        .root()
        .links
        .installed_base
        .expect("failure linked as installed")
        .href;
    assert!(installed.ends_with(&format!("/installedBase/{a}")));
    h.advance(Span::hours(1));
    let b = h.assign(ActionType::Soft);
    assert!(h.feedback(b, "closed", "failure").is_success());
    assert_eq!(h.s.action_status(CID, b), Some(ActionStatus::Error));
}

#[test]
fn deployment_id_mismatch() {
    let mut h = with_fault(Fault::DeploymentIdMismatch);
    let a = h.assign(ActionType::Soft);
    let r = h.get(&format!("/deploymentBase/{a}"));
    assert_eq!(json(&r)["id"], (a.0 + 1).to_string());
    h.advance(Span::hours(1));
    let r = h.get(&format!("/deploymentBase/{a}"));
    assert_eq!(json(&r)["id"], a.to_string());
}

#[test]
fn wrong_artifact_hash() {
    let mut h = with_fault(Fault::WrongArtifactHash);
    let a = h.assign(ActionType::Soft);
    let real = h.s.catalog().get(CONTENT).expect("content").hashes.clone();
    let doc = json(&h.get(&format!("/deploymentBase/{a}")));
    let hashes = &doc["deployment"]["chunks"][0]["artifacts"][0]["hashes"];
    assert_ne!(hashes["sha1"], real.sha1.as_str());
    assert_ne!(hashes["md5"], real.md5.as_str());
    assert_ne!(hashes["sha256"], real.sha256.as_str());
    assert_eq!(
        hashes["sha1"].as_str().map(str::len),
        Some(40),
        "still looks like a digest"
    );
    let md5 = h.get(&format!("/softwaremodules/1/artifacts/{FILE}.MD5SUM"));
    assert!(!md5.body.as_bytes().starts_with(real.md5.as_bytes()));
    h.advance(Span::hours(1));
    let doc = json(&h.get(&format!("/deploymentBase/{a}")));
    assert_eq!(
        doc["deployment"]["chunks"][0]["artifacts"][0]["hashes"]["sha1"],
        real.sha1.as_str()
    );
}

#[test]
fn ignore_range() {
    let mut h = with_fault(Fault::IgnoreRange);
    h.assign(ActionType::Soft);
    let url = format!("/softwaremodules/1/artifacts/{FILE}");
    let r = h.get_with(&url, "range", "bytes=0-9");
    assert_eq!((r.status, r.body.len()), (200, 1000));
    assert_eq!(h.get_with(&url, "range", "bytes=5000-").status, 200);
    h.advance(Span::hours(1));
    assert_eq!(h.get_with(&url, "range", "bytes=0-9").status, 206);
}

#[test]
fn sleep_below_minimum() {
    let mut h = with_fault(Fault::SleepBelowMinimum);
    assert_eq!(h.root().config.polling.sleep, "00:00:01");
    h.now = Time(h.now.0 + Span::hours(1).0);
    assert_eq!(h.root().config.polling.sleep, "00:05:00");
}
