//! Redirects and expired download URLs.

use super::*;

// Redirects
// ---------------------------------------------------------------------------

/// The artifact URL answers 302 to another path on the same server; the
/// device follows it (keeping its credentials: same origin) and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifact_redirect_is_followed() {
    let ddi = Ddi::start().await;
    ddi.mount(
        Mock::given(method("GET"))
            .and(path_regex(ARTIFACT_RE))
            .respond_with(ResponseTemplate::new(302).insert_header("location", "/cdn/blobs/fw.bin"))
            .with_priority(1),
    )
    .await;
    let bytes = ddi.artifact.clone();
    ddi.mount(
        Mock::given(method("GET"))
            .and(path("/cdn/blobs/fw.bin"))
            .respond_with(move |req: &Request| serve_artifact(&bytes, req)),
    )
    .await;
    let spec = Spec {
        server_extra: ", gateway_token: sim-key",
        ..Spec::default()
    };
    let r = run_ok(&spec, &ddi.uri()).await;

    let cdn: Vec<Request> = ddi
        .requests()
        .await
        .into_iter()
        .filter(|q| q.url.path() == "/cdn/blobs/fw.bin")
        .collect();
    assert_eq!(cdn.len(), 1);
    assert_eq!(
        header(&cdn[0], "authorization").as_deref(),
        Some("GatewayToken sim-key")
    );
    assert_eq!(ddi.artifact_requests().await.len(), 1);
    assert_eq!(r.stats.updates_succeeded, 1);
    assert_eq!(
        ddi.closed_with(&controller_id(0)).as_deref(),
        Some("success")
    );
    assert_no_violations(&r);
}

/// A redirect to another host (a CDN) is followed without the device's
/// credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_origin_redirect_is_followed_without_credentials() {
    let ddi = Ddi::start().await;
    let cdn = MockServer::start().await;
    let bytes = ddi.artifact.clone();
    Mock::given(method("GET"))
        .and(path("/signed/fw.bin"))
        .respond_with(move |req: &Request| serve_artifact(&bytes, req))
        .mount(&cdn)
        .await;
    ddi.mount(
        Mock::given(method("GET"))
            .and(path_regex(ARTIFACT_RE))
            .respond_with(
                ResponseTemplate::new(307)
                    .insert_header("location", format!("{}/signed/fw.bin", cdn.uri()).as_str()),
            )
            .with_priority(1),
    )
    .await;
    let spec = Spec {
        server_extra: ", gateway_token: sim-key",
        ..Spec::default()
    };
    let r = run_ok(&spec, &ddi.uri()).await;

    let art = ddi.artifact_requests().await;
    assert_eq!(art.len(), 1);
    assert_eq!(
        header(&art[0], "authorization").as_deref(),
        Some("GatewayToken sim-key")
    );
    let at_cdn = cdn.received_requests().await.expect("recording");
    assert_eq!(at_cdn.len(), 1);
    assert_eq!(
        header(&at_cdn[0], "authorization"),
        None,
        "credentials leaked to another host"
    );
    assert_eq!(r.stats.updates_succeeded, 1);
    assert_no_violations(&r);
}

/// An artifact URL that redirects to itself: the device stops after 5
/// redirects per attempt, backs off between attempts, never reports success,
/// and the run ends on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_loop_is_cut_off_without_hanging() {
    let ddi = Ddi::start().await;
    ddi.mount(
        Mock::given(method("GET"))
            .and(path_regex(ARTIFACT_RE))
            .respond_with(|req: &Request| {
                ResponseTemplate::new(302).insert_header("location", req.url.path())
            })
            .with_priority(1),
    )
    .await;
    let r = run_ok(&Spec::default(), &ddi.uri()).await;

    let attempts = error_count(&r, NetError::Malformed);
    let hops = ddi.artifact_requests().await.len() as u64;
    assert!(attempts >= 2, "{:?}", r.stats.errors);
    // Backoff 2–4 s, 4–8 s, … keeps the attempts few in 3 scenario minutes.
    assert!(attempts <= 8, "{attempts} attempts");
    assert_eq!(
        hops,
        attempts * 6,
        "each attempt: the request and 5 redirects"
    );
    assert_eq!(r.stats.updates_succeeded, 0);
    assert_no_violations(&r);
}

// ---------------------------------------------------------------------------
// Expired download URLs
// ---------------------------------------------------------------------------

/// The first artifact link has expired (403). The device fetches the
/// deployment again, gets a fresh link, downloads from it and finishes —
/// without starting the action over (one `proceeding`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_url_403_is_refreshed_from_deployment_base() {
    let ddi = Ddi::start().await;
    let uri = ddi.uri();
    let hashes = hash_bytes(&ddi.artifact);
    let size = ddi.artifact.len();
    let fetches = Arc::new(Mutex::new(0u32));
    let f = fetches.clone();
    ddi.mount(
        Mock::given(method("GET"))
            .and(path_regex(DEPLOYMENT_RE))
            .respond_with(move |req: &Request| {
                let id = id_in(req.url.path());
                let mut n = f.lock().unwrap();
                *n += 1;
                let href = format!(
                    "{uri}{CONTROLLER}/{id}/softwaremodules/1/artifacts/{FILE}?token={}",
                    *n
                );
                hal(&deployment_json(&href, size, &hashes))
            })
            .with_priority(1),
    )
    .await;
    ddi.mount(
        Mock::given(method("GET"))
            .and(path_regex(ARTIFACT_RE))
            .and(query_param("token", "1"))
            .respond_with(ResponseTemplate::new(403))
            .with_priority(1),
    )
    .await;
    let r = run_ok(&Spec::default(), &ddi.uri()).await;

    let tokens: Vec<String> = ddi
        .artifact_requests()
        .await
        .iter()
        .map(|q| q.url.query().unwrap_or("").to_string())
        .collect();
    assert_eq!(tokens, ["token=1", "token=2"]);
    assert_eq!(ddi.deployment_fetches().await, 2);
    let fb = ddi.feedbacks().await;
    let executions: Vec<&str> = fb.iter().map(execution).collect();
    assert_eq!(executions, ["proceeding", "downloaded", "closed"], "{fb:?}");
    assert_eq!(r.stats.updates_succeeded, 1);
    assert_eq!(
        ddi.closed_with(&controller_id(0)).as_deref(),
        Some("success")
    );
    assert_no_violations(&r);
}

/// The artifact is gone for good (410 on every link). The device re-fetches
/// the deployment for fresh links a few times, then reports closed/failure
/// "download refused with status 410".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_refused_with_410_fails_after_repeated_refusals() {
    let ddi = Ddi::start().await;
    ddi.mount(
        Mock::given(method("GET"))
            .and(path_regex(ARTIFACT_RE))
            .respond_with(ResponseTemplate::new(410))
            .with_priority(1),
    )
    .await;
    let r = run_ok(&Spec::default(), &ddi.uri()).await;

    let downloads = ddi.artifact_requests().await.len();
    let fetches = ddi.deployment_fetches().await;
    // "Gives up after 3 refusals": the client lets the 4th refusal end it.
    assert!(
        (3..=4).contains(&downloads),
        "{downloads} download attempts"
    );
    assert_eq!(
        fetches, downloads,
        "a fresh deployment fetch before each retry"
    );
    let closed = ddi.closed_feedbacks().await;
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(finished(&closed[0]), "failure");
    assert!(
        details(&closed[0]).contains("download refused with status 410"),
        "{}",
        details(&closed[0])
    );
    assert_eq!(r.stats.updates_failed, 1);
    assert_eq!(status_count(&r, 410), downloads as u64);
    assert_no_violations(&r);
}

// ---------------------------------------------------------------------------
