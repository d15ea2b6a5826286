//! `fleetsim serve`'s server-side event stream over HTTP: Basic credentials
//! required, a held read answered when a campaign writes manifests, lines
//! numbered with serve's scenario time, headers with its clock, and device
//! answers numbered against the stream.

use std::time::{Duration, Instant};

use fleetsim::http_client::{Http, Injected};
use fleetsim::http_server::{start, ServeOptions};
use fleetsim::message::{Method, Request};
use fleetsim::protocol::ddi::Delivery;
use fleetsim::server_events::{parse_lines, ServerSide, NEXT_HEADER, NOW_HEADER, SEQ_HEADER};

/// `admin:admin`, serve's default Management API login.
const ADMIN: &str = "Basic YWRtaW46YWRtaW4=";

async fn get(http: &Http, url: String, auth: Option<&str>) -> fleetsim::message::Response {
    let mut req = Request::new(Method::Get, url);
    if let Some(a) = auth {
        req.headers.insert("authorization", a.to_string());
    }
    match http.execute(0, req, Injected::default()).await {
        Delivery::Complete(r) => r,
        Delivery::Broken(e, _) => panic!("serve answers: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_needs_credentials_and_holds_a_read_until_events() {
    // Two OTAU devices; the campaign writes their manifests at 1 min =
    // 0.5 s of real time.
    let s = fleetsim::scenario::load_str(
        "events.yaml",
        "name: events\nduration: 1h\nfleet:\n  - { kind: always_on, protocol: otau, count: 2 }\n\
         campaigns:\n  - { name: fw, at: 1m, version: 1.0.0, artifacts: [ { name: fw.bin, size: 1KiB } ] }\n",
    )
    .expect("scenario");
    let running = start(ServeOptions {
        listen: "127.0.0.1:0".parse().expect("addr"),
        scenario: Some(s),
        time_scale: 120.0,
        ..Default::default()
    })
    .await
    .expect("serve starts");
    let http = Http::new(Default::default(), true, None, Duration::from_secs(10)).expect("client");
    let events = |q: &str| format!("{}/fleetsim/events{q}", running.base_url);
    let refused = get(&http, events("?from=0"), None).await;
    assert_eq!(refused.status, 401);
    let wrong = get(&http, events("?from=0"), Some("Basic YWRtaW46d3Jvbmc=")).await;
    assert_eq!(wrong.status, 401);

    let asked = Instant::now();
    let held = get(&http, events("?from=0&wait_ms=5000"), Some(ADMIN)).await;
    assert_eq!(held.status, 200);
    let (lines, bad) = parse_lines(held.body.as_bytes());
    assert_eq!(bad, 0);
    let devices: Vec<Option<u64>> = lines
        .iter()
        .filter_map(|l| match &l.event {
            ServerSide::Manifest {
                device,
                campaign: Some(0),
            } => Some(*device),
            _ => None,
        })
        .collect();
    assert_eq!(devices, [Some(0), Some(1)], "{lines:?}");
    assert!(lines.iter().all(|l| l.at_ms >= 60_000), "{lines:?}");
    assert!(lines.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "answered when the events came"
    );
    let header =
        |r: &fleetsim::message::Response, n| r.headers.get(n).and_then(|v| v.parse::<u64>().ok());
    let next = header(&held, NEXT_HEADER).expect("next");
    assert_eq!(next, lines.last().map_or(0, |l| l.seq + 1));
    assert!(header(&held, NOW_HEADER).expect("now") >= 60_000);

    // Nothing new: answered at once, empty.
    let empty = get(&http, events(&format!("?from={next}")), Some(ADMIN)).await;
    assert!(empty.body.as_bytes().is_empty());
    // A device answer says how far the stream was when it was made.
    let root = format!("{}/DEFAULT/controller/v1/dev-1", running.base_url);
    let answer = get(&http, root, None).await;
    assert!(header(&answer, SEQ_HEADER).is_some_and(|s| s >= next));
    let gateway = get(
        &http,
        format!("{}/fleetsim/gateway", running.base_url),
        Some(ADMIN),
    )
    .await;
    assert_eq!(gateway.status, 200);
    running.shutdown().await;
}
