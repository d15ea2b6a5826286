//! The baseline flow, nonsense on the root resource, 5xx with Retry-After and 429.

use super::*;

// ---------------------------------------------------------------------------
// Baseline
// ---------------------------------------------------------------------------

/// The healthy flow itself: the update succeeds, the server sees
/// proceeding → downloaded → closed/success, and nothing fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_mock_flow_updates_the_device_without_violations() {
    let ddi = Ddi::start().await;
    let spec = Spec::default();
    let r = run_ok(&spec, &ddi.uri()).await;

    assert_no_violations(&r);
    assert_eq!(r.stats.updates_succeeded, 1);
    let fb = ddi.feedbacks().await;
    let executions: Vec<&str> = fb.iter().map(execution).collect();
    assert_eq!(executions, ["proceeding", "downloaded", "closed"], "{fb:?}");
    assert_eq!(finished(&fb[2]), "success");
    assert_eq!(
        ddi.closed_with(&controller_id(0)).as_deref(),
        Some("success")
    );
    let art = ddi.artifact_requests().await;
    assert_eq!(art.len(), 1);
    assert_eq!(header(&art[0], "range"), None);
}

// ---------------------------------------------------------------------------
// Nonsense on the root resource
// ---------------------------------------------------------------------------

/// A device given an unreadable root retries with a growing (jittered,
/// doubling) backoff up to its poll interval: a handful of polls over four
/// minutes, never a hot loop, no deployment fetched, no invariant blamed on
/// the device.
async fn unreadable_root_is_retried_with_backoff(template: ResponseTemplate) {
    let ddi = Ddi::start().await;
    let times = Arc::new(Mutex::new(Vec::new()));
    mount_bad_root(&ddi, template, &times).await;
    let spec = Spec {
        duration: "4m",
        ..Spec::default()
    };
    let r = run_ok(&spec, &ddi.uri()).await;

    let polls = times.lock().unwrap().clone();
    // Backoff 2–4 s, 4–8 s, 8–16 s, 16–32 s, then 30–60 s (capped at the poll
    // interval): 7 to 11 polls in 240 s of scenario time.
    assert!(
        (5..=13).contains(&polls.len()),
        "{} polls of an unreadable root in 4 scenario minutes",
        polls.len()
    );
    // Each ceiling doubles and the delay is drawn from [ceiling/2, ceiling],
    // so the first gaps never shrink (slack: 50 ms real = 3 s scenario).
    let g = gaps(&polls);
    for w in g.windows(2).take(3) {
        assert!(
            w[1] + Duration::from_millis(50) >= w[0],
            "backoff shrank: gaps {g:?}"
        );
    }
    assert!(
        g[0] < Duration::from_millis(250),
        "first retry after {:?}",
        g[0]
    );
    assert_eq!(ddi.deployment_fetches().await, 0);
    assert_eq!(sent(&r, ReqKind::Root), polls.len() as u64);
    // The server broke the protocol (ddi.md §1.1): the oracle says so, and nothing else.
    assert!(fired(&r, InvariantId::DdiJson) >= 1, "{}", violations(&r));
    // A real-time run keeps what the device and the server said before it.
    let excerpt = &r.oracle.violations()[0].excerpt;
    assert!(
        excerpt.iter().any(|l| l.contains("→ GET")) && excerpt.iter().any(|l| l.contains("← 200")),
        "the violation carries the recorded exchange: {excerpt:?}"
    );
    assert_eq!(
        r.oracle.total(),
        fired(&r, InvariantId::DdiJson),
        "{}",
        violations(&r)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_json_on_root_is_retried_with_backoff() {
    let garbage = ResponseTemplate::new(200).set_body_raw(
        r#"{"config": {"polling": {"sleep": "00:01:00"}, "_links": [1, 2"#,
        "application/hal+json",
    );
    unreadable_root_is_retried_with_backoff(garbage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_on_root_is_retried_with_backoff() {
    let html = ResponseTemplate::new(200).set_body_raw(
        "<!DOCTYPE html><html><body><h1>Welcome to the captive portal</h1></body></html>",
        "text/html; charset=utf-8",
    );
    unreadable_root_is_retried_with_backoff(html).await;
}

// ---------------------------------------------------------------------------
// 5xx with Retry-After, 429
// ---------------------------------------------------------------------------

/// Every root poll (preflight included) is answered `status` with
/// `Retry-After: 90` (scenario seconds: 1.5 s real). The device must wait at
/// least that long between polls: at most 4 polls in 6 scenario minutes,
/// where its own backoff alone would poll about ten times.
async fn retry_after_on_root_is_honoured(status: u16) {
    let ddi = Ddi::start().await;
    let times = Arc::new(Mutex::new(Vec::new()));
    let template = ResponseTemplate::new(status)
        .insert_header("retry-after", "90")
        .set_body_raw(
            r#"{"exceptionClass":"ServiceUnavailable","message":"busy"}"#,
            "application/json",
        );
    ddi.mount(
        Mock::given(method("GET"))
            .and(path_regex(ROOT_RE))
            .respond_with(timed(&times, template))
            .with_priority(1),
    )
    .await;
    let spec = Spec {
        duration: "6m",
        ..Spec::default()
    };
    let r = run_ok(&spec, &ddi.uri()).await;

    let polls = times.lock().unwrap().clone();
    let device_polls = &polls[1..]; // [0] is the preflight
    assert!(
        (3..=5).contains(&device_polls.len()),
        "{} polls in 6 scenario minutes with Retry-After: 90",
        device_polls.len()
    );
    for g in gaps(device_polls) {
        assert!(
            g >= Duration::from_millis(1450),
            "polled again {g:?} (real) after a {status} with Retry-After: 90 (1.5 s real)"
        );
    }
    assert_eq!(status_count(&r, status), device_polls.len() as u64);
    assert_eq!(ddi.deployment_fetches().await, 0);
    assert_no_violations(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_500_with_retry_after_spaces_the_retries() {
    retry_after_on_root_is_honoured(500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_503_with_retry_after_spaces_the_retries() {
    retry_after_on_root_is_honoured(503).await;
}

/// hawkBit's quota answer (ddi.md §1.4): 429 with an ExceptionInfo body on a
/// feedback. The device retries the same feedback and the update completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_429_with_json_body_on_feedback_is_retried() {
    let ddi = Ddi::start().await;
    let quota = json!({
        "exceptionClass": "org.eclipse.hawkbit.repository.exception.AssignmentQuotaExceededException",
        "errorCode": "hawkbit.server.error.quota.tooManyEntries",
        "message": "Quota exceeded: Cannot assign 1 more ActionStatus entities to Action '7'. The maximum is 1000.",
        "info": {"quota": 1000}
    });
    ddi.mount(
        Mock::given(method("POST"))
            .and(path_regex(FEEDBACK_RE))
            .respond_with(ResponseTemplate::new(429).set_body_json(quota))
            .up_to_n_times(2)
            .with_priority(1),
    )
    .await;
    let r = run_ok(&Spec::default(), &ddi.uri()).await;

    let fb = ddi.feedbacks().await;
    let executions: Vec<&str> = fb.iter().map(execution).collect();
    // The first `proceeding` is refused twice, then accepted; nothing is skipped.
    assert_eq!(
        executions,
        [
            "proceeding",
            "proceeding",
            "proceeding",
            "downloaded",
            "closed"
        ],
        "{fb:?}"
    );
    assert_eq!(status_count(&r, 429), 2);
    assert_eq!(r.stats.updates_succeeded, 1);
    assert_eq!(
        ddi.closed_with(&controller_id(0)).as_deref(),
        Some("success")
    );
    assert_no_violations(&r);
}

/// The DoS filter's 429 has an empty body (ddi.md §2). Root polls answered
/// so are retried, and the device picks up its update once let through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dos_429_with_empty_body_on_root_is_retried() {
    let ddi = Ddi::start().await;
    // The preflight poll takes the first one; the device gets three.
    ddi.mount(
        Mock::given(method("GET"))
            .and(path_regex(ROOT_RE))
            .respond_with(ResponseTemplate::new(429))
            .up_to_n_times(4)
            .with_priority(1),
    )
    .await;
    let r = run_ok(&Spec::default(), &ddi.uri()).await;

    assert_eq!(status_count(&r, 429), 3);
    assert!(ddi.root_polls().await >= 5);
    assert_eq!(r.stats.updates_succeeded, 1);
    assert_eq!(
        ddi.closed_with(&controller_id(0)).as_deref(),
        Some("success")
    );
    assert_no_violations(&r);
}

// ---------------------------------------------------------------------------
