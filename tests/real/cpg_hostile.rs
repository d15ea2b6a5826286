//! Hostile gateways and CDNs: the real-time driver's constrained devices
//! (`protocol: cpg`, docs/guide/cpg.md) against wiremock servers that misbehave.
//!
//! The gateway answers polls from a script (garbage, 5xx, 429, then a real
//! offer); the CDN cuts bodies short, refuses URLs or serves the wrong bytes.
//! The device must never give up on server trouble, must resume with Range,
//! and must report what went wrong on its next poll. `time_scale: 60`: a
//! scenario minute is a real second; every run ends by itself within seconds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use fleetsim::artifact::hash_bytes;
use fleetsim::engine::RunResult;
use fleetsim::protocol::constrained::wire::{parse_poll_query, PollAnswer, PollQuery, UpdateOffer};
use fleetsim::protocol::ddi::ReqKind;
use fleetsim::realtime::run_async;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SIZE: usize = 48 * 1024;
const DEVICE: &str = "cpg-00000";

/// One poll answer of the script.
#[derive(Clone)]
enum Poll {
    Garbage,
    Status(u16),
    Offer,
}

/// What the gateway saw.
#[derive(Default)]
struct Seen {
    polls: Vec<PollQuery>,
    downloads: Vec<Option<String>>,
}

/// A gateway answering polls from `script` (then offers forever) and a CDN
/// at `/dl` answering with `cdn(attempt, range_from)`.
async fn gateway(
    script: Vec<Poll>,
    sha256: String,
    cdn: impl Fn(usize, Option<usize>) -> ResponseTemplate + Send + Sync + 'static,
) -> (MockServer, Arc<Mutex<Seen>>) {
    let server = MockServer::start().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let url = format!("{}/dl/fw-2.bin", server.uri());
    let st = seen.clone();
    Mock::given(method("GET"))
        .and(path(format!("/cpg/v1/devices/{DEVICE}/poll")))
        .respond_with(move |req: &Request| {
            let query = req.url.query().unwrap_or_default();
            let Ok(q) = parse_poll_query(query) else {
                return ResponseTemplate::new(400);
            };
            let mut st = st.lock().unwrap();
            let step = script.get(st.polls.len()).cloned().unwrap_or(Poll::Offer);
            let finished = q.result.is_some();
            st.polls.push(q);
            match step {
                Poll::Garbage => ResponseTemplate::new(200)
                    .set_body_raw("{\"poll_interval\":", "application/json"),
                Poll::Status(s) => ResponseTemplate::new(s),
                Poll::Offer => {
                    let update = (!finished).then(|| UpdateOffer {
                        command: "c1".into(),
                        version: "2.0.0".into(),
                        name: "fw-2.bin".into(),
                        size: SIZE as u64,
                        sha256: sha256.clone(),
                        url: Some(url.clone()),
                        connect: false,
                    });
                    let answer = PollAnswer {
                        poll_interval: 30,
                        update,
                    };
                    ResponseTemplate::new(200).set_body_json(answer)
                }
            }
        })
        .mount(&server)
        .await;
    let st = seen.clone();
    Mock::given(method("GET"))
        .and(path_regex("^/dl/"))
        .respond_with(move |req: &Request| {
            let range = header(req, "range");
            let mut st = st.lock().unwrap();
            let attempt = st.downloads.len();
            st.downloads.push(range.clone());
            cdn(attempt, range_from(range.as_deref()))
        })
        .mount(&server)
        .await;
    (server, seen)
}

async fn run_one(base_url: &str) -> RunResult {
    let yaml = "name: cpg-hostile\nseed: 1\nduration: 4m\nserver: { polling: 1m }\n\
         fleet:\n  - { kind: always_on, protocol: cpg, count: 1, id_prefix: cpg-, install_time: 5s }\n\
         load: { time_scale: 60, request_timeout: 2s }\n";
    let scenario = fleetsim::scenario::load_str("t.yaml", yaml).expect("test scenario is valid");
    let limit = Duration::from_secs(20);
    tokio::time::timeout(limit, run_async(&scenario, &options(base_url)))
        .await
        .unwrap_or_else(|_| panic!("run against {base_url} hung for {limit:?}"))
        .unwrap_or_else(|e| panic!("run against {base_url} failed: {e}"))
}

fn body(bytes: &[u8]) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(bytes.to_vec(), "application/octet-stream")
}

fn from(bytes: &[u8], start: usize) -> ResponseTemplate {
    ResponseTemplate::new(206)
        .insert_header(
            "content-range",
            format!("bytes {start}-{}/{}", bytes.len() - 1, bytes.len()),
        )
        .set_body_raw(bytes[start..].to_vec(), "application/octet-stream")
}

/// The result reports the gateway received.
fn reports(seen: &Seen) -> Vec<(Option<bool>, Option<String>)> {
    seen.polls
        .iter()
        .filter(|q| q.cmd.is_some())
        .map(|q| (q.result, q.detail.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_errors_are_retried_and_a_short_body_is_resumed_with_range() {
    let bytes = test_bytes(SIZE);
    let sha = hash_bytes(&bytes).sha256;
    let script = vec![
        Poll::Garbage,
        Poll::Status(503),
        Poll::Status(429),
        Poll::Offer,
    ];
    let served = bytes.clone();
    let (server, seen) = gateway(script, sha, move |attempt, range| match (attempt, range) {
        (0, _) => ResponseTemplate::new(500),
        // A complete answer with only a third of the file.
        (1, _) => body(&served[..SIZE / 3]),
        (_, Some(start)) if start < SIZE => from(&served, start),
        _ => body(&served),
    })
    .await;
    let r = run_one(&server.uri()).await;
    let seen = seen.lock().unwrap();
    assert_eq!(
        reports(&seen),
        vec![(Some(true), None)],
        "one success report"
    );
    assert_eq!(
        seen.downloads.get(2).cloned().flatten().as_deref(),
        Some(format!("bytes={}-", SIZE / 3).as_str()),
        "resumed where the short body ended: {:?}",
        seen.downloads
    );
    assert_eq!(seen.polls[4].fw, "2.0.0", "reports the new version");
    assert!(sent(&r, ReqKind::CpgPoll) >= 5);
    assert_no_violations(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_urls_are_re_polled_then_reported_as_url_refused() {
    let sha = hash_bytes(&test_bytes(SIZE)).sha256;
    let (server, seen) = gateway(vec![], sha, |_, _| ResponseTemplate::new(410)).await;
    let r = run_one(&server.uri()).await;
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.downloads.len(),
        3,
        "three refused URLs, then it gives up"
    );
    assert_eq!(
        reports(&seen),
        vec![(Some(false), Some("url_refused".to_string()))]
    );
    // Each refusal sends the device back to the gateway at once: the polls
    // between downloads are the refusals' re-polls.
    assert!(seen.polls.len() >= 4, "{} polls", seen.polls.len());
    assert_eq!(r.stats.sent.get(&ReqKind::CpgDownload).copied(), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_bytes_are_reported_as_a_hash_failure_and_not_installed() {
    let bytes = test_bytes(SIZE);
    let sha = hash_bytes(&bytes).sha256;
    let mut wrong = bytes.clone();
    wrong[SIZE / 2] ^= 0xff;
    let (server, seen) = gateway(vec![], sha, move |_, _| body(&wrong)).await;
    let r = run_one(&server.uri()).await;
    let seen = seen.lock().unwrap();
    assert_eq!(
        reports(&seen),
        vec![(Some(false), Some("hash".to_string()))]
    );
    assert!(
        seen.polls.iter().all(|q| q.fw == "1.0.0"),
        "nothing installed"
    );
    assert_eq!(r.stats.updates_failed, 1);
}
