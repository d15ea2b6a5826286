//! Rows: maintenance windows (ddi.md §4) — the deployment's
//! `download`/`update`/`maintenanceWindow` before and inside a window, the
//! root `sleep` shortened before one, recurring windows that reopen (and
//! change `c=`) and year-bounded ones that lapse and cancel the action.
//!
//! One-off schedules are built from the server's own clock (a new target's
//! `createdAt`), the way hawkBit's `getTestSchedule(minutes)` builds them
//! from `now`, so no row depends on the time of day. Waits are bounded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fleetsim::time::civil_from_days;
use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::hawkbit_http::{
    assign_set, create_target, module_and_set, path_of, serve_with_gateway_token, Client,
};

/// Server time now, in epoch milliseconds: the `createdAt` of a throwaway target.
async fn server_now(c: &mut Client) -> u64 {
    static CLOCKS: AtomicU64 = AtomicU64::new(0);
    let cid = format!("clock-{}", CLOCKS.fetch_add(1, Ordering::Relaxed));
    let t = create_target(c, &cid, false).await;
    t[0]["createdAt"].as_u64().expect("createdAt")
}

/// A window open from the server's start (a fresh `serve` starts at
/// 1970-01-01T00:00Z, so "5 minutes ago" does not exist yet): daily from
/// midnight, for 12 hours.
const OPEN_SINCE_START: &str = "0 0 0 * * ?";

/// Waits (bounded) until server time is past its start, where a window that
/// opened at the start is open (hawkBit: `start < now`, strictly).
async fn past_server_start(c: &mut Client) {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(5);
    while server_now(c).await == 0 {
        assert!(tokio::time::Instant::now() < give_up, "server clock runs");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `getTestSchedule`: a cron firing once, at epoch-ms `t` (UTC).
fn cron_at(t: u64) -> String {
    let secs = t / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let tod = secs % 86_400;
    format!(
        "{} {} {} {d} {m} ? {y}",
        tod % 60,
        tod / 60 % 60,
        tod / 3600
    )
}

/// Assigns `ds` (forced) to `cid` with a maintenance window; the action id.
async fn assign(c: &mut Client, ds: u64, cid: &str, schedule: &str, duration: &str) -> u64 {
    create_target(c, cid, false).await;
    let body = json!([{ "id": cid, "type": "forced", "maintenanceWindow":
        { "schedule": schedule, "duration": duration, "timezone": "+00:00" } }]);
    let out = assign_set(c, ds, body).await;
    out["assignedActions"][0]["id"].as_u64().expect("action id")
}

async fn deployment(c: &mut Client, cid: &str) -> Value {
    let root = c.root(cid).await;
    let href = root["_links"]["deploymentBase"]["href"]
        .as_str()
        .unwrap_or_else(|| panic!("deploymentBase link: {root}"));
    let a = c.ddi(Method::GET, &path_of(href), &[], None).await;
    assert_eq!(a.status, StatusCode::OK);
    a.json()
}

fn handling(d: &Value) -> (String, String, String) {
    let s = |k: &str| d["deployment"][k].as_str().unwrap_or("-").to_string();
    (s("download"), s("update"), s("maintenanceWindow"))
}

fn triple(a: &str, b: &str, c: &str) -> (String, String, String) {
    (a.into(), b.into(), c.into())
}

/// `DdiRootControllerTest.downloadAndUpdateStatusBeforeMaintenanceWindowStartTime`:
/// a window 2 minutes ahead → `forced` / `skip` / `unavailable`.
#[tokio::test]
async fn before() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let (_, ds) = module_and_set(&mut c, "1.0.0", b"window-before").await;
    let now = server_now(&mut c).await;
    assign(&mut c, ds, "1911", &cron_at(now + 120_000), "00:01:00").await;
    let d = deployment(&mut c, "1911").await;
    assert_eq!(handling(&d), triple("forced", "skip", "unavailable"), "{d}");
}

/// `DdiRootControllerTest.downloadAndUpdateStatusDuringMaintenanceWindow`:
/// inside the window → `forced` / `forced` / `available`.
#[tokio::test]
async fn during() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let (_, ds) = module_and_set(&mut c, "1.0.0", b"window-during").await;
    assign(&mut c, ds, "1911", OPEN_SINCE_START, "12:00:00").await;
    past_server_start(&mut c).await;
    let d = deployment(&mut c, "1911").await;
    assert_eq!(handling(&d), triple("forced", "forced", "available"), "{d}");
}

/// `DdiRootControllerTest.sleepTimeResponseForDifferentMaintenanceWindowParameters`
/// (pollingTime 00:05:00): a window in 16 min → `>= 00:05:00`; in 10 min →
/// `< 00:05:00` and `>= 00:03:00`; in 5 min → `< 00:02:00`; inside → `00:05:00`.
#[tokio::test]
async fn sleep_before_window() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let (st, _) = c
        .mgmt(
            Method::PUT,
            "/system/configs",
            Some(json!({ "pollingTime": "00:05:00" })),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let cases = [
        ("1911", 16, "00:10:00"),
        ("2911", 10, "00:10:00"),
        ("3911", 5, "00:05:00"),
    ];
    for (i, (cid, minutes, duration)) in cases.into_iter().enumerate() {
        let (_, ds) = module_and_set(&mut c, &format!("{i}.0.0"), cid.as_bytes()).await;
        let now = server_now(&mut c).await;
        assign(&mut c, ds, cid, &cron_at(now + minutes * 60_000), duration).await;
    }
    let (_, ds) = module_and_set(&mut c, "9.0.0", b"4911").await;
    assign(&mut c, ds, "4911", OPEN_SINCE_START, "12:00:00").await;
    past_server_start(&mut c).await;
    let sleep = |root: &Value| {
        root["config"]["polling"]["sleep"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    // hawkBit compares the strings, as here.
    let s = sleep(&c.root("1911").await);
    assert!(s.as_str() >= "00:05:00", "{s}");
    let s = sleep(&c.root("2911").await);
    assert!(s.as_str() < "00:05:00" && s.as_str() >= "00:03:00", "{s}");
    let s = sleep(&c.root("3911").await);
    assert!(s.as_str() < "00:02:00", "{s}");
    assert_eq!(sleep(&c.root("4911").await), "00:05:00");
}

/// `JpaAction.isMaintenanceScheduleLapsed` (no future occurrence) and DCH
/// `calculateEtag`: a recurring window (every 4 s, 2 s long) closes and
/// reopens without the action lapsing, and the root link's `c=` differs
/// between closed and open.
#[tokio::test]
async fn recurring() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let (_, ds) = module_and_set(&mut c, "1.0.0", b"window-recurring").await;
    assign(&mut c, ds, "dev-rec", "*/4 * * * * ?", "00:00:02").await;
    let mut seen_open = None;
    let mut seen_closed = None;
    let give_up = tokio::time::Instant::now() + Duration::from_secs(15);
    while seen_open.is_none() || seen_closed.is_none() {
        assert!(
            tokio::time::Instant::now() < give_up,
            "both states within 15 s"
        );
        let root = c.root("dev-rec").await;
        assert!(
            root["_links"]["cancelAction"].is_null(),
            "a recurring window never lapses: {root}"
        );
        let href = root["_links"]["deploymentBase"]["href"]
            .as_str()
            .expect("deploymentBase")
            .to_string();
        let a = c.ddi(Method::GET, &path_of(&href), &[], None).await;
        assert_eq!(a.status, StatusCode::OK);
        let d = a.json();
        // Skip answers taken across a window edge between the two requests.
        match (
            handling(&d),
            href.rsplit_once("c=").map(|(_, c)| c.to_string()),
        ) {
            (h, Some(etag)) if h == triple("forced", "forced", "available") => {
                seen_open = Some(etag)
            }
            (h, Some(etag)) if h == triple("forced", "skip", "unavailable") => {
                seen_closed = Some(etag)
            }
            other => panic!("unexpected deployment {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_ne!(seen_open, seen_closed, "c= changes when the window opens");
}

/// RES `checkAndCancelExpiredAction`: a year-bounded schedule whose only
/// window has passed cancels the action on the next poll (root shows
/// `cancelAction`, the action is `canceling`); an assignment whose schedule
/// has no window left is refused (`validateMaintenanceSchedule`).
#[tokio::test]
async fn lapsed_cancels() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let (_, ds) = module_and_set(&mut c, "1.0.0", b"window-lapse").await;
    let now = server_now(&mut c).await;
    let start = now + 2_000;
    let aid = assign(&mut c, ds, "dev-lapse", &cron_at(start), "00:00:01").await;
    assert!(c.root("dev-lapse").await["_links"]["cancelAction"].is_null());
    // Past the window's end (start rounded down to the second, + 1 s).
    let give_up = tokio::time::Instant::now() + Duration::from_secs(15);
    let root = loop {
        let root = c.root("dev-lapse").await;
        if !root["_links"]["cancelAction"].is_null() {
            break root;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "lapsed within 15 s: {root}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(server_now(&mut c).await >= start / 1000 * 1000 + 1_000);
    let href = root["_links"]["cancelAction"]["href"]
        .as_str()
        .expect("href");
    assert!(href.ends_with(&format!("/cancelAction/{aid}")), "{href}");
    let (st, a) = c
        .mgmt(
            Method::GET,
            &format!("/targets/dev-lapse/actions/{aid}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(a["status"], "canceling", "{a}");

    // The same schedule is now refused at assignment: no window left.
    let (_, ds2) = module_and_set(&mut c, "2.0.0", b"window-lapse-2").await;
    let body = json!([{ "id": "dev-lapse", "type": "forced", "maintenanceWindow":
        { "schedule": cron_at(start), "duration": "00:00:01", "timezone": "+00:00" } }]);
    let (st, e) = c
        .mgmt(
            Method::POST,
            &format!("/distributionsets/{ds2}/assignedTargets"),
            Some(body),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(
        e["errorCode"],
        "hawkbit.server.error.maintenanceScheduleInvalid"
    );
}
