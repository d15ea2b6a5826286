//! Broken and slow bodies; wrong bytes and ignored Range.

use super::*;

// Broken and slow bodies
// ---------------------------------------------------------------------------

/// The artifact's connection closes after half the body (Content-Length
/// promised all of it). The device keeps the half and resumes with
/// `Range: bytes=<half>-`; the 206 completes a download that verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_reset_mid_body_resumes_with_range() {
    let size = 64 * 1024;
    let bytes = Arc::new(test_bytes(size));
    let b = bytes.clone();
    let raw = RawServer::start(move |i, req| match i {
        0 => Reply::new(
            "200 OK",
            &[("Content-Type", "application/octet-stream".into())],
            size,
            b[..size / 2].to_vec(),
        ),
        _ => Reply::artifact(&b, req.range_from()),
    })
    .await;
    let ddi = Ddi::start_with(Flow {
        size,
        artifact_href: Some(raw.artifact_href()),
        ..Flow::default()
    })
    .await;
    let r = run_ok(&Spec::default(), &ddi.uri()).await;

    let reqs = raw.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let want = format!(
        "GET {CONTROLLER}/{}/softwaremodules/1/artifacts/{FILE} HTTP/1.1",
        controller_id(0)
    );
    assert!(reqs.iter().all(|q| q.line == want), "{reqs:?}");
    assert_eq!(reqs[0].header("range"), None);
    assert_eq!(
        reqs[1].header("range"),
        Some(format!("bytes={}-", size / 2).as_str())
    );
    assert!(error_count(&r, NetError::Reset) >= 1);
    assert_eq!(r.stats.updates_succeeded, 1);
    assert_eq!(
        ddi.closed_with(&controller_id(0)).as_deref(),
        Some("success")
    );
    assert_no_violations(&r);
}

/// A `503` error page whose connection breaks mid-body is not artifact data:
/// the device must not keep its bytes and must not resume from them with a
/// Range (which would then fail the hash check and blame the server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_page_cut_mid_body_is_not_taken_as_test_bytes() {
    let size = 64 * 1024;
    let bytes = Arc::new(test_bytes(size));
    let b = bytes.clone();
    let page = b"<html><body><h1>503 Service Unavailable</h1>upstream busy</body></html>".repeat(4);
    let raw = RawServer::start(move |i, req| match i {
        0 => Reply::new(
            "503 Service Unavailable",
            &[("Content-Type", "text/html".into())],
            page.len(),
            page[..page.len() / 2].to_vec(),
        ),
        _ => Reply::artifact(&b, req.range_from()),
    })
    .await;
    let ddi = Ddi::start_with(Flow {
        size,
        artifact_href: Some(raw.artifact_href()),
        ..Flow::default()
    })
    .await;
    let r = run_ok(&Spec::default(), &ddi.uri()).await;

    let reqs = raw.requests();
    assert!(reqs.len() >= 2, "{reqs:?}");
    assert_eq!(
        reqs[1].header("range"),
        None,
        "the device resumed from the bytes of a cut 503 error page"
    );
    assert_eq!(
        fired(&r, InvariantId::DdiArtifactHash),
        0,
        "the server served correct bytes; the device mixed an error page into them:\n{}",
        violations(&r)
    );
    assert_eq!(r.stats.updates_succeeded, 1);
    assert_no_violations(&r);
}

/// The first artifact answer comes only after 5 s, past the 2 s request
/// timeout: the device gives up on it, retries, and finishes; the run ends
/// on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_artifact_answer_times_out_and_is_retried() {
    let ddi = Ddi::start().await;
    let bytes = ddi.artifact.clone();
    ddi.mount(
        Mock::given(method("GET"))
            .and(path_regex(ARTIFACT_RE))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(bytes.to_vec(), "application/octet-stream")
                    .set_delay(Duration::from_secs(5)),
            )
            .up_to_n_times(1)
            .with_priority(1),
    )
    .await;
    let r = run_ok(&Spec::default(), &ddi.uri()).await;

    assert_eq!(error_count(&r, NetError::Timeout), 1);
    assert_eq!(ddi.artifact_requests().await.len(), 2);
    assert_eq!(r.stats.updates_succeeded, 1);
    assert_eq!(
        ddi.closed_with(&controller_id(0)).as_deref(),
        Some("success")
    );
    assert_no_violations(&r);
}

/// The artifact trickles in (8 KiB every 400 ms: 3.2 s for 64 KiB) and every
/// attempt is cut by the 2 s request timeout. A careful device keeps what it
/// got and resumes with Range, so it finishes in two attempts; a device that
/// throws the partial body away restarts from zero each time and never
/// completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_slower_than_the_timeout_is_resumed_and_completes() {
    let size = 64 * 1024;
    let bytes = Arc::new(test_bytes(size));
    let b = bytes.clone();
    let raw = RawServer::start(move |_, req| {
        Reply::artifact(&b, req.range_from()).paced(8 * 1024, Duration::from_millis(400))
    })
    .await;
    let ddi = Ddi::start_with(Flow {
        size,
        artifact_href: Some(raw.artifact_href()),
        ..Flow::default()
    })
    .await;
    let spec = Spec {
        duration: "8m",
        ..Spec::default()
    };
    let r = run_ok(&spec, &ddi.uri()).await;

    let reqs = raw.requests();
    assert!(error_count(&r, NetError::Timeout) >= 1);
    assert!(
        reqs.len() >= 2 && reqs[1].header("range").is_some(),
        "after a timeout mid-body the device restarted from byte 0 instead of resuming: {:?}",
        reqs.iter().map(|q| q.header("range")).collect::<Vec<_>>()
    );
    assert_eq!(
        r.stats.updates_succeeded,
        1,
        "a download slower than request_timeout never completes ({} attempts)",
        reqs.len()
    );
    assert_no_violations(&r);
}

/// A root that never answers within the request timeout: every poll times
/// out, the device backs off, and the run still ends on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_that_never_answers_in_time_does_not_hang_the_run() {
    let ddi = Ddi::start().await;
    let times = Arc::new(Mutex::new(Vec::new()));
    mount_bad_root(
        &ddi,
        hal(&idle_root()).set_delay(Duration::from_secs(20)),
        &times,
    )
    .await;
    let spec = Spec {
        duration: "3m",
        ..Spec::default()
    };
    let r = run_ok(&spec, &ddi.uri()).await; // asserts it ends on time

    let timeouts = error_count(&r, NetError::Timeout);
    assert!(timeouts >= 1, "{:?}", r.stats.errors);
    // Each attempt costs the 2 s (real) timeout plus backoff: at most two in 3 s.
    assert!(sent(&r, ReqKind::Root) <= 3, "{:?}", r.stats.sent);
    assert_no_violations(&r);
}

// ---------------------------------------------------------------------------
// Wrong bytes, ignored Range
// ---------------------------------------------------------------------------

/// The served bytes do not match the advertised hashes. The device retries
/// once, then reports closed/failure "hash mismatch for fw.bin"; the oracle
/// records DDI-ARTIFACT-HASH for each bad download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_artifact_hash_is_reported_as_failure_and_flagged() {
    let size = 64 * 1024;
    let other: Vec<u8> = test_bytes(size).into_iter().rev().collect();
    let ddi = Ddi::start_with(Flow {
        size,
        advertised: Some(hash_bytes(&other)),
        ..Flow::default()
    })
    .await;
    let r = run_ok(&Spec::default(), &ddi.uri()).await;

    let art = ddi.artifact_requests().await;
    assert_eq!(art.len(), 2, "one download and one retry");
    assert!(art.iter().all(|a| header(a, "range").is_none()));
    let closed = ddi.closed_feedbacks().await;
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(finished(&closed[0]), "failure");
    assert!(
        details(&closed[0]).contains(&format!("hash mismatch for {FILE}")),
        "{}",
        details(&closed[0])
    );
    assert_eq!(r.stats.updates_failed, 1);
    assert_eq!(r.stats.updates_succeeded, 0);
    assert_eq!(
        fired(&r, InvariantId::DdiArtifactHash),
        2,
        "{}",
        violations(&r)
    );
    assert_eq!(
        r.oracle.total(),
        2,
        "only the hash invariant fires:\n{}",
        violations(&r)
    );
}

/// The failure reason names the artifact, not its (signed) download URL: with
/// a CDN-style link `…/fw.bin?sig=…` the device still reports
/// "hash mismatch for fw.bin", and the URL's token does not end up in the
/// server's action history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_mismatch_reason_names_the_file_not_the_signed_url() {
    let size = 4 * 1024;
    let other: Vec<u8> = test_bytes(size).into_iter().rev().collect();
    let ddi = Ddi::start_with(Flow {
        size,
        advertised: Some(hash_bytes(&other)),
        ..Flow::default()
    })
    .await;
    let (uri, hashes) = (ddi.uri(), hash_bytes(&other));
    ddi.mount(
        Mock::given(method("GET"))
            .and(path_regex(DEPLOYMENT_RE))
            .respond_with(move |req: &Request| {
                let id = id_in(req.url.path());
                let href = format!(
                    "{uri}{CONTROLLER}/{id}/softwaremodules/1/artifacts/{FILE}?sig=s3cr3t&expires=99"
                );
                hal(&deployment_json(&href, size, &hashes))
            })
            .with_priority(1),
    )
    .await;
    let r = run_ok(&Spec::default(), &ddi.uri()).await;

    assert_eq!(ddi.artifact_requests().await.len(), 2);
    let closed = ddi.closed_feedbacks().await;
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(finished(&closed[0]), "failure");
    let why = details(&closed[0]);
    assert!(why.contains("hash mismatch"), "{why}");
    assert!(
        !why.contains("s3cr3t"),
        "the signed URL's token went into the feedback: {why}"
    );
    assert_eq!(why, format!("hash mismatch for {FILE}"));
    assert_eq!(r.stats.updates_failed, 1);
}

/// The first download is cut after half; the server then answers the Range
/// request with 200 and the whole file. The device restarts from byte 0 with
/// that body and finishes correctly; the oracle records DDI-RANGE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_ignored_restarts_from_zero_and_is_flagged() {
    let size = 64 * 1024;
    let bytes = Arc::new(test_bytes(size));
    let b = bytes.clone();
    let raw = RawServer::start(move |i, _req| {
        let octets = ("Content-Type", "application/octet-stream".to_string());
        match i {
            0 => Reply::new("200 OK", &[octets], size, b[..size / 2].to_vec()),
            _ => Reply::new("200 OK", &[octets], size, b.to_vec()),
        }
    })
    .await;
    let ddi = Ddi::start_with(Flow {
        size,
        artifact_href: Some(raw.artifact_href()),
        ..Flow::default()
    })
    .await;
    let r = run_ok(&Spec::default(), &ddi.uri()).await;

    let reqs = raw.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(
        reqs[1].header("range"),
        Some(format!("bytes={}-", size / 2).as_str())
    );
    assert_eq!(fired(&r, InvariantId::DdiRange), 1, "{}", violations(&r));
    assert_eq!(r.oracle.total(), 1, "{}", violations(&r));
    assert_eq!(r.stats.updates_succeeded, 1);
    assert_eq!(
        ddi.closed_with(&controller_id(0)).as_deref(),
        Some("success")
    );
}

/// The same through the scenario's client-side fault: the first download is
/// cut mid-body by `disconnect_mid_download` (only in the first two scenario
/// seconds), and wiremock answers the Range retry with a plain 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_disconnect_then_range_ignored_restarts_from_zero() {
    let ddi = Ddi::start().await;
    let bytes = ddi.artifact.clone();
    ddi.mount(
        Mock::given(method("GET"))
            .and(path_regex(ARTIFACT_RE))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(bytes.to_vec(), "application/octet-stream"),
            )
            .with_priority(1),
    )
    .await;
    // time_scale 10: the fault window [0, 2s) is 200 ms real, ample for the
    // three requests before the download; the retry comes 2–4 s later.
    let spec = Spec {
        duration: "40s",
        time_scale: 10.0,
        faults: "faults:\n  client:\n    - { at: 0s, for: 2s, disconnect_mid_download: 1.0 }",
        ..Spec::default()
    };
    let r = run_ok(&spec, &ddi.uri()).await;

    let art = ddi.artifact_requests().await;
    assert_eq!(art.len(), 2, "cut download, then the Range retry");
    assert_eq!(header(&art[0], "range"), None);
    let range = header(&art[1], "range").expect("the retry resumes with Range");
    assert!(
        range.starts_with("bytes=") && range != "bytes=0-",
        "{range}"
    );
    assert_eq!(fired(&r, InvariantId::DdiRange), 1, "{}", violations(&r));
    assert_eq!(r.oracle.total(), 1, "{}", violations(&r));
    assert_eq!(r.stats.updates_succeeded, 1);
    assert_eq!(
        ddi.closed_with(&controller_id(0)).as_deref(),
        Some("success")
    );
}

// ---------------------------------------------------------------------------
