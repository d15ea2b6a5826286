//! No lost feedback; targets that are not DDI servers.

use super::*;

// No lost feedback
// ---------------------------------------------------------------------------

/// 30 % of all requests are dropped on the device side (the device sees its
/// timeout). Each device's `closed` feedback still reaches the server — at
/// least once, and any repeat is answered 410 — because the device retries
/// until it gets an answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_feedback_is_not_lost_when_requests_are_dropped() {
    let ddi = Ddi::start().await;
    let spec = Spec {
        devices: 2,
        duration: "8m",
        request_timeout: "500ms",
        // With seed 5 both devices' first `closed` is dropped (seeds 1–24
        // checked: all deliver every closed feedback).
        seed: 5,
        faults: "faults:\n  client:\n    - { drop: 0.3 }",
        ..Spec::default()
    };
    let r = run_ok(&spec, &ddi.uri()).await;

    let dropped = r
        .extra_counters
        .get("dropped_by_fault")
        .copied()
        .unwrap_or(0);
    assert!(
        dropped > 0,
        "no request was dropped: the test shows nothing"
    );
    let log = ddi.state.lock().unwrap().feedback_log.clone();
    let mut closed_dropped = 0;
    for n in 0..2 {
        let id = controller_id(n);
        assert_eq!(
            ddi.closed_with(&id).as_deref(),
            Some("success"),
            "{id}: closed feedback never reached the server"
        );
        let at = |exec: &str| {
            log.iter()
                .filter(|(i, e, _)| *i == id && e == exec)
                .map(|(_, _, t)| *t)
                .collect::<Vec<_>>()
        };
        let (downloaded, closed) = (at("downloaded"), at("closed"));
        assert!(!closed.is_empty() && !downloaded.is_empty(), "{log:?}");
        // Install takes 5 s (83 ms real); a dropped `closed` costs the 500 ms
        // timeout before its retry reaches the server.
        if closed[0] - *downloaded.last().unwrap() > Duration::from_millis(500) {
            closed_dropped += 1;
        }
    }
    assert!(
        closed_dropped > 0,
        "no device's closed feedback was dropped: the test shows nothing; pick another seed"
    );
    assert_eq!(r.stats.updates_succeeded, 2);
    assert_eq!(error_count(&r, NetError::Timeout), dropped);
    assert_no_violations(&r);
}

// ---------------------------------------------------------------------------
// Targets that are not DDI servers
// ---------------------------------------------------------------------------

/// Nothing listens on the port: `run_async` says so at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_is_reported_quickly() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let spec = Spec::default();
    let (result, took) = run(&spec, &format!("http://127.0.0.1:{port}")).await;
    match result {
        Err(RuntimeError::Unreachable { url, what }) => {
            assert!(url.contains(&port.to_string()), "{url}");
            assert!(!what.is_empty());
        }
        Err(e) => panic!("expected Unreachable, got {e}"),
        Ok(_) => panic!("expected Unreachable, the run went ahead"),
    }
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

/// A web server answering plain text on the root is not a DDI server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_text_root_is_not_ddi() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("It works!\n"))
        .mount(&server)
        .await;
    let (result, took) = run(&Spec::default(), &server.uri()).await;
    match result {
        Err(RuntimeError::NotDdi { url, what }) => {
            assert!(url.starts_with(&server.uri()), "{url}");
            assert!(what.contains("not a DDI document"), "{what}");
        }
        Err(e) => panic!("expected NotDdi, got {e}"),
        Ok(_) => panic!("expected NotDdi, the run went ahead"),
    }
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

/// A DDI server whose JSON is cut off halfway is a broken DDI server, not
/// another kind of server: the run goes ahead and the oracle records
/// DDI-JSON (the `garbage_json` broken mode does the same).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_off_json_root_is_judged_not_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "{\"config\":{\"polling\":{\"sleep\":\"00:0",
            "application/hal+json",
        ))
        .mount(&server)
        .await;
    let spec = Spec {
        devices: 1,
        duration: "2m",
        ..Spec::default()
    };
    let r = run_ok(&spec, &server.uri()).await;
    let ids: Vec<&str> = r.oracle.counts().keys().map(|id| id.as_str()).collect();
    assert!(ids.contains(&"DDI-JSON"), "{ids:?}");
}

/// Well-formed JSON of another shape (some other JSON API) is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_of_another_shape_is_not_ddi() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("[1, 2, 3]", "application/json"))
        .mount(&server)
        .await;
    match run(&Spec::default(), &server.uri()).await.0 {
        Err(RuntimeError::NotDdi { what, .. }) => {
            assert!(what.contains("not a DDI document"), "{what}")
        }
        Err(e) => panic!("expected NotDdi, got {e}"),
        Ok(_) => panic!("expected NotDdi, the run went ahead"),
    }
}
