//! Hostile OTAU servers: the real-time driver's OTAU devices (otau.md §3, §4,
//! §9) against wiremock servers that misbehave.
//!
//! Each test mounts a healthy OTAU flow ([`Otau`]: long poll of
//! `config_otau`, write-back and `otau_in` statuses on
//! `/onep:v1/stack/alias`, `info=true` and content on `/provision/download`),
//! overrides one part with the misbehaviour under test (priority 1, a few
//! times), runs `always_on` OTAU devices with `time_scale: 60` (a scenario
//! minute is a real second) and checks what the server received and what the
//! run recorded. A download cut mid-body comes from a tiny raw TCP server.
//! Every run lasts a few real seconds and every wait is bounded.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use fleetsim::artifact::hash_bytes;
use fleetsim::engine::RunResult;
use fleetsim::oracle::InvariantId;
use fleetsim::protocol::ddi::ReqKind;
use fleetsim::protocol::otau::wire::{form_decode, form_encode};
use fleetsim::realtime::run_async;
use fleetsim::server::otau::cik_for;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const ALIAS: &str = "/onep:v1/stack/alias";
const DOWNLOAD: &str = "/provision/download";
/// The content id the healthy manifest lists.
const FILE: &str = "fw-2.0.bin";
const VERSION: &str = "2.0.0";
/// The seed's statuses for a one-file update (otau.md §9).
const SEED: [&str; 8] = [
    "INIT",
    "DOWNLOAD",
    "DOWNLOAD_STEP",
    "DOWNLOAD_SUCCESS",
    "INSTALL",
    "INSTALL_STEP",
    "INSTALL_SUCCESS",
    "INSTALLED_VERSION",
];

fn manifest(kind: &str, payload: Value) -> String {
    serde_json::json!({
        "version": VERSION, "name": "hostile", "description": "",
        "type": kind, "payload": payload,
    })
    .to_string()
}

// ---------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------

/// Scenario duration 3m = 3 real seconds.
const REAL_DURATION: Duration = Duration::from_secs(3);

async fn run_ok(devices: u32, base_url: &str) -> RunResult {
    let yaml = format!(
        "name: otau-hostile\nseed: 1\nduration: 3m\nserver: {{ polling: 1m }}\n\
         fleet:\n  - {{ kind: always_on, protocol: otau, count: {devices}, install_time: 5s, \
         otau: {{ long_poll: 5s, status_gap: 2s }} }}\n\
         load: {{ time_scale: 60, request_timeout: 2s, start_rate: 100 }}\n"
    );
    let scenario = fleetsim::scenario::load_str("t.yaml", &yaml).expect("test scenario is valid");
    let opts = options(base_url);
    let started = Instant::now();
    // Generous outer bound: the run must end by itself (duration + grace).
    let limit = REAL_DURATION + Duration::from_secs(10);
    let result = tokio::time::timeout(limit, run_async(&scenario, &opts))
        .await
        .unwrap_or_else(|_| panic!("run against {base_url} hung for {limit:?}"));
    let r = result.unwrap_or_else(|e| panic!("run against {base_url} failed: {e}"));
    let took = started.elapsed();
    assert!(
        took <= REAL_DURATION + Duration::from_secs(6),
        "run took {took:?}"
    );
    r
}

// ---------------------------------------------------------------------------
// The healthy OTAU flow on wiremock
// ---------------------------------------------------------------------------

/// What the healthy flow saw, per CIK.
#[derive(Default)]
struct State {
    /// CIK → the `config_otau` values it wrote back.
    acks: BTreeMap<String, Vec<String>>,
    /// CIK → the `otau_in` reports it wrote, in order.
    reports: BTreeMap<String, Vec<Value>>,
    /// When each long poll arrived (any answer).
    polls: Vec<Instant>,
}

struct Otau {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl Otau {
    /// A healthy server offering `config_otau` (until acknowledged, then a
    /// 304 after a short hold) whose content `FILE` is `bytes`, announced
    /// with `info_bytes`' size and sha256.
    async fn start(config_otau: &str, bytes: Vec<u8>, info_bytes: &[u8]) -> Otau {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));

        let st = state.clone();
        let offer = form_encode(&[("config_otau", config_otau)]);
        Mock::given(method("GET"))
            .and(path(ALIAS))
            .respond_with(move |req: &Request| {
                let cik = header(req, "x-exosite-cik").unwrap_or_default();
                let mut st = st.lock().unwrap();
                st.polls.push(Instant::now());
                if st.acks.contains_key(&cik) {
                    return ResponseTemplate::new(304).set_delay(Duration::from_millis(300));
                }
                ResponseTemplate::new(200).set_body_raw(
                    offer.clone().into_bytes(),
                    "application/x-www-form-urlencoded; charset=utf-8",
                )
            })
            .with_priority(5)
            .mount(&server)
            .await;

        let st = state.clone();
        Mock::given(method("POST"))
            .and(path(ALIAS))
            .respond_with(move |req: &Request| {
                let cik = header(req, "x-exosite-cik").unwrap_or_default();
                let Some(pairs) = std::str::from_utf8(&req.body)
                    .ok()
                    .and_then(|b| form_decode(b).ok())
                else {
                    return ResponseTemplate::new(400);
                };
                let mut st = st.lock().unwrap();
                for (k, v) in pairs {
                    match k.as_str() {
                        "config_otau" => st.acks.entry(cik.clone()).or_default().push(v),
                        "otau_in" => {
                            let Ok(report) = serde_json::from_str(&v) else {
                                return ResponseTemplate::new(400);
                            };
                            st.reports.entry(cik.clone()).or_default().push(report)
                        }
                        _ => return ResponseTemplate::new(400),
                    }
                }
                ResponseTemplate::new(204)
            })
            .with_priority(5)
            .mount(&server)
            .await;

        let sha = hash_bytes(info_bytes).sha256;
        let line = format!(
            "application/octet-stream,{},1700000000,sha256={sha}",
            info_bytes.len()
        );
        Mock::given(method("GET"))
            .and(path(DOWNLOAD))
            .and(query_param("id", FILE))
            .and(query_param("info", "true"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(line, "text/csv"))
            .with_priority(3)
            .mount(&server)
            .await;

        Mock::given(method("GET"))
            .and(path(DOWNLOAD))
            .and(query_param("id", FILE))
            .respond_with(move |req: &Request| {
                let n = bytes.len();
                match range_from(header(req, "range").as_deref()) {
                    Some(from) if from < n => ResponseTemplate::new(206)
                        .insert_header("content-range", format!("bytes {from}-{}/{n}", n - 1))
                        .set_body_raw(bytes[from..].to_vec(), "application/octet-stream"),
                    Some(_) => ResponseTemplate::new(416),
                    None => ResponseTemplate::new(200)
                        .set_body_raw(bytes.clone(), "application/octet-stream"),
                }
            })
            .with_priority(5)
            .mount(&server)
            .await;

        Otau { server, state }
    }

    /// The healthy one-file update of 32 KiB.
    async fn healthy() -> Otau {
        let bytes = test_bytes(32 * 1024);
        Otau::start(
            &manifest("URL_LIST", serde_json::json!([FILE])),
            bytes.clone(),
            &bytes,
        )
        .await
    }

    fn uri(&self) -> String {
        self.server.uri()
    }

    async fn mount(&self, mock: Mock) {
        mock.mount(&self.server).await;
    }

    /// `status` fields of the reports of each CIK.
    fn statuses(&self) -> BTreeMap<String, Vec<String>> {
        let st = self.state.lock().unwrap();
        st.reports
            .iter()
            .map(|(cik, rs)| {
                let s = rs
                    .iter()
                    .map(|r| r["status"].as_str().unwrap_or("?").to_string());
                (cik.clone(), s.collect())
            })
            .collect()
    }

    /// The only device's statuses (reports of a single CIK expected).
    fn single(&self) -> Vec<String> {
        let all = self.statuses();
        assert_eq!(all.len(), 1, "reports from one device expected: {all:?}");
        all.into_values().next().unwrap()
    }

    fn reports(&self) -> Vec<Value> {
        let st = self.state.lock().unwrap();
        st.reports.values().flatten().cloned().collect()
    }

    /// Content requests received (not `info=true`).
    async fn content_requests(&self) -> Vec<Request> {
        let all = self.server.received_requests().await.expect("recording on");
        all.into_iter()
            .filter(|r| r.url.path() == DOWNLOAD && !r.url.query().unwrap_or("").contains("info="))
            .collect()
    }
}

/// A responder answering its i-th call with `answers[i]` (the last one after that).
fn sequence(answers: Vec<ResponseTemplate>) -> impl Fn(&Request) -> ResponseTemplate + Send + Sync {
    let i = AtomicUsize::new(0);
    move |_| {
        let k = i.fetch_add(1, Ordering::SeqCst).min(answers.len() - 1);
        answers[k].clone()
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// Baseline: two devices each ACK the manifest and report the seed's
/// sequence, the content passes its check, nothing fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_mock_flow_reaches_installed_version() {
    let otau = Otau::healthy().await;
    let r = run_ok(2, &otau.uri()).await;

    let statuses = otau.statuses();
    assert_eq!(statuses.len(), 2, "{statuses:?}");
    let ciks: Vec<String> = statuses.keys().cloned().collect();
    for cik in &ciks {
        assert!((0..4).any(|n| cik_for(n) == *cik), "unknown CIK {cik}");
        assert_eq!(statuses[cik], SEED);
    }
    assert!(otau.reports().iter().all(|r| r["version"] == VERSION));
    let acks = otau.state.lock().unwrap().acks.clone();
    assert_eq!(acks.len(), 2);
    assert!(
        acks.values().all(|a| a.len() == 1),
        "one ACK each: {acks:?}"
    );
    assert_eq!(otau.content_requests().await.len(), 2);
    assert_eq!(r.stats.updates_succeeded, 2);
    assert_no_violations(&r);
}

/// Long polls answered 500, 429, a JSON 200 and a garbage 200 (no
/// `config_otau` form) before the healthy answer: each is retried after a
/// growing backoff and the update still completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_long_poll_answers_are_retried_with_backoff() {
    let otau = Otau::healthy().await;
    let bad = vec![
        ResponseTemplate::new(500).set_body_string("internal error"),
        ResponseTemplate::new(429).insert_header("retry-after", "1"),
        ResponseTemplate::new(200).set_body_raw(r#"{"config_otau": 1"#, "application/json"),
        ResponseTemplate::new(200).set_body_raw(vec![0xff, 0xfe, b'%', b'z', 0], "text/plain"),
    ];
    let n = bad.len();
    otau.mount(
        Mock::given(method("GET"))
            .and(path(ALIAS))
            .respond_with({
                let seq = sequence(bad);
                let st = otau.state.clone();
                move |req: &Request| {
                    st.lock().unwrap().polls.push(Instant::now());
                    seq(req)
                }
            })
            .with_priority(1)
            .up_to_n_times(n as u64),
    )
    .await;
    let r = run_ok(1, &otau.uri()).await;

    assert_eq!(otau.single(), SEED);
    assert_eq!(r.stats.updates_succeeded, 1);
    assert!(
        status_count(&r, 500) >= 1 && status_count(&r, 429) >= 1,
        "{:?}",
        r.stats.statuses
    );
    let polls = otau.state.lock().unwrap().polls.clone();
    assert!(polls.len() > n, "{} polls", polls.len());
    let gaps: Vec<Duration> = polls[..=n].windows(2).map(|w| w[1] - w[0]).collect();
    // Base 2 s scenario = 33 ms real, doubled each time, ±25 % jitter.
    assert!(
        gaps.iter().all(|g| *g >= Duration::from_millis(20)),
        "{gaps:?}"
    );
    assert!(gaps[n - 1] >= gaps[0] * 2, "backoff grows: {gaps:?}");
    assert_no_violations(&r);
}

/// A manifest the device cannot handle: `TEST_ERROR` with the reason,
/// written back (ACK), no download.
async fn refused_manifest(config_otau: &str, reason: &str) {
    let bytes = test_bytes(1024);
    let otau = Otau::start(config_otau, bytes.clone(), &bytes).await;
    let r = run_ok(1, &otau.uri()).await;

    assert_eq!(otau.single(), ["TEST_ERROR"]);
    let report = &otau.reports()[0];
    let message = report["message"].as_str().unwrap_or("");
    assert!(message.contains(reason), "{report}");
    let acks = otau.state.lock().unwrap().acks.clone();
    assert_eq!(
        acks.values().flatten().collect::<Vec<_>>(),
        [config_otau],
        "{acks:?}"
    );
    assert_eq!(
        sent(&r, ReqKind::OtauInfo) + sent(&r, ReqKind::OtauDownload),
        0
    );
    assert!(otau.content_requests().await.is_empty());
    assert_eq!(r.stats.updates_succeeded, 0);
    assert_no_violations(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_manifest_type_is_refused_with_test_error() {
    refused_manifest(&manifest("ZIP", serde_json::json!([FILE])), "ZIP").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_payload_is_refused_with_test_error() {
    refused_manifest(
        &manifest("URL_LIST", serde_json::json!({"a": 1})),
        "payload",
    )
    .await;
}

/// Content whose bytes do not have the info line's sha256: the device
/// reports `DOWNLOAD_ERROR` and OTAU-CONTENT records the server's fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_hash_fires_otau_content_and_download_error() {
    let good = test_bytes(16 * 1024);
    let mut served = good.clone();
    served[100] ^= 0x55;
    let otau = Otau::start(
        &manifest("URL_LIST", serde_json::json!([FILE])),
        served,
        &good,
    )
    .await;
    let r = run_ok(1, &otau.uri()).await;

    assert_eq!(otau.single(), ["INIT", "DOWNLOAD", "DOWNLOAD_ERROR"]);
    let report = otau.reports().pop().unwrap();
    assert!(
        report["message"].as_str().unwrap_or("").contains("sha256"),
        "{report}"
    );
    assert_eq!(
        r.oracle.counts().get(&InvariantId::OtauContent).copied(),
        Some(1),
        "{:?}",
        r.oracle.counts()
    );
    assert_eq!(r.oracle.total(), 1, "only OTAU-CONTENT fires");
    assert_eq!(r.stats.updates_succeeded, 0);
}

/// Content answered 503 three times, then served: retried, update completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_503_is_retried_until_served() {
    let otau = Otau::healthy().await;
    otau.mount(
        Mock::given(method("GET"))
            .and(path(DOWNLOAD))
            .and(query_param("id", FILE))
            .respond_with(ResponseTemplate::new(503).set_body_string("busy"))
            .with_priority(4)
            .up_to_n_times(3),
    )
    .await;
    let r = run_ok(1, &otau.uri()).await;

    assert_eq!(otau.single(), SEED);
    assert_eq!(otau.content_requests().await.len(), 4);
    assert_eq!(
        sent(&r, ReqKind::OtauInfo),
        1,
        "the info line is not fetched again"
    );
    assert_eq!(status_count(&r, 503), 3);
    assert_eq!(r.stats.updates_succeeded, 1);
    assert_no_violations(&r);
}

/// A content URL (`FILE` manifest) whose first answer is cut mid-body:
/// the device keeps the half and resumes with `Range: bytes=<half>-`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_cut_mid_body_is_resumed_with_range() {
    let size = 32 * 1024;
    let bytes = Arc::new(test_bytes(size));
    let (addr, ranges) = raw_content_server(bytes.clone()).await;
    let url = format!("http://{addr}/fw.bin");
    let otau = Otau::start(&manifest("FILE", Value::String(url)), Vec::new(), &[]).await;
    let r = run_ok(1, &otau.uri()).await;

    let ranges = ranges.lock().unwrap().clone();
    assert_eq!(ranges, [None, Some(format!("bytes={}-", size / 2))]);
    assert_eq!(otau.single(), SEED);
    assert_eq!(r.stats.updates_succeeded, 1);
    assert_no_violations(&r);
}

/// One request per connection: the first answer promises `bytes` but sends
/// half and closes; later ones answer the `Range` correctly. Records each
/// request's `Range` header.
async fn raw_content_server(bytes: Arc<Vec<u8>>) -> (SocketAddr, Arc<Mutex<Vec<Option<String>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (s, bytes) = (s.clone(), bytes.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 2048];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    let read = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut tmp));
                    match read.await {
                        Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&tmp[..n]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let range = head
                    .split("\r\n")
                    .filter_map(|l| l.split_once(':'))
                    .find(|(n, _)| n.trim().eq_ignore_ascii_case("range"))
                    .map(|(_, v)| v.trim().to_string());
                let first = {
                    let mut s = s.lock().unwrap();
                    s.push(range.clone());
                    s.len() == 1
                };
                let n = bytes.len();
                let f = range_from(range.as_deref()).unwrap_or(0).min(n - 1);
                let (status, len, body) = match first {
                    true => ("200 OK".to_string(), n, &bytes[..n / 2]),
                    false => (
                        format!(
                            "206 Partial Content\r\nContent-Range: bytes {f}-{}/{n}",
                            n - 1
                        ),
                        n - f,
                        &bytes[f..],
                    ),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body).await;
                let _ = sock.flush().await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (addr, seen)
}
