//! Hostile servers: the real-time driver's devices against DDI servers that
//! misbehave (issue 4, "Hostile servers").
//!
//! Each test mounts a healthy DDI flow on a wiremock server (root → one
//! deploymentBase with one artifact → feedback), overrides one part of it with
//! the misbehaviour under test, runs one or two `always_on` devices with
//! `time_scale: 60` (one scenario minute is one real second) and checks both
//! sides: what the server received (request counts, `Range` headers, feedback
//! bodies) and what the run recorded (statistics, oracle). Faults that wiremock
//! cannot produce (a connection closed mid-body, a body trickling in) come
//! from a tiny raw TCP server ([`RawServer`]).
//!
//! Every test is bounded in real time: runs last a few seconds and every
//! timeout is short.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use fleetsim::artifact::{hash_bytes, Hashes};
use fleetsim::engine::RunResult;
use fleetsim::message::NetError;
use fleetsim::oracle::InvariantId;
use fleetsim::protocol::ddi::ReqKind;
use fleetsim::realtime::{run_async, RuntimeError};
use fleetsim::scenario::Scenario;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wiremock::matchers::{method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The action every mock offers.
const ACTION: u64 = 7;
/// The artifact's file name.
const FILE: &str = "fw.bin";
/// Path prefix of every controller resource (tenant DEFAULT).
const CONTROLLER: &str = "/DEFAULT/controller/v1";
/// Path regexes of the DDI resources the healthy flow serves.
const ROOT_RE: &str = r"^/DEFAULT/controller/v1/[^/]+$";
const DEPLOYMENT_RE: &str = r"^/DEFAULT/controller/v1/[^/]+/deploymentBase/7$";
const FEEDBACK_RE: &str = r"^/DEFAULT/controller/v1/[^/]+/deploymentBase/7/feedback$";
const ARTIFACT_RE: &str = r"^/DEFAULT/controller/v1/[^/]+/softwaremodules/1/artifacts/fw\.bin$";

fn controller_id(n: u32) -> String {
    format!("always-on-{n:05}")
}

// ---------------------------------------------------------------------------
// Scenarios and runs
// ---------------------------------------------------------------------------

/// A scenario of `devices` always-on devices against the target.
struct Spec {
    devices: u32,
    /// Scenario time the run covers.
    duration: &'static str,
    time_scale: f64,
    /// Real time a device waits for an answer.
    request_timeout: &'static str,
    seed: u64,
    /// Extra `server:` settings (e.g. `gateway_token: k`).
    server_extra: &'static str,
    /// A YAML `faults:` block, or empty.
    faults: &'static str,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            devices: 1,
            duration: "3m",
            time_scale: 60.0,
            request_timeout: "2s",
            seed: 1,
            server_extra: "",
            faults: "",
        }
    }
}

impl Spec {
    fn build(&self) -> Scenario {
        // start_rate: device n starts n/100 real seconds after the run does,
        // so the first poll comes at once instead of somewhere in the first minute.
        let yaml = format!(
            "name: hostile\n\
             seed: {seed}\n\
             duration: {duration}\n\
             server: {{ polling: 1m{server_extra} }}\n\
             fleet:\n  - {{ kind: always_on, count: {devices}, install_time: 5s }}\n\
             load: {{ time_scale: {scale}, request_timeout: {timeout}, start_rate: 100 }}\n\
             {faults}\n",
            seed = self.seed,
            duration = self.duration,
            server_extra = self.server_extra,
            devices = self.devices,
            scale = self.time_scale,
            timeout = self.request_timeout,
            faults = self.faults,
        );
        fleetsim::scenario::load_str("t.yaml", &yaml).expect("test scenario is valid")
    }

    /// Real time the run's scenario duration takes.
    fn real_duration(&self) -> Duration {
        let s = self.build();
        Duration::from_secs_f64(s.duration.0.as_millis() as f64 / 1000.0 / self.time_scale)
    }
}

/// Runs `spec` against `base_url`; returns the result and the real time taken.
async fn run(spec: &Spec, base_url: &str) -> (Result<RunResult, RuntimeError>, Duration) {
    let scenario = spec.build();
    let started = Instant::now();
    let result = run_async(&scenario, &options(base_url)).await;
    (result, started.elapsed())
}

/// Runs `spec`, expecting the run to be carried out and to end on time (no
/// hang: at most the driver's grace for requests in flight plus slack).
async fn run_ok(spec: &Spec, base_url: &str) -> RunResult {
    let (result, took) = run(spec, base_url).await;
    let r = match result {
        Ok(r) => r,
        Err(e) => panic!("run against {base_url} failed: {e}"),
    };
    let limit = spec.real_duration() + Duration::from_secs(3);
    assert!(
        took <= limit,
        "run took {took:?}, more than its duration plus grace ({limit:?})"
    );
    r
}

// ---------------------------------------------------------------------------
// The healthy DDI flow on wiremock
// ---------------------------------------------------------------------------

/// A correct artifact answer: 200, or 206 from the requested byte, or 416.
fn serve_artifact(bytes: &[u8], req: &Request) -> ResponseTemplate {
    let range = req.headers.get("range").and_then(|v| v.to_str().ok());
    let n = bytes.len();
    match range_from(range) {
        Some(from) if from >= n => ResponseTemplate::new(416)
            .insert_header("content-range", format!("bytes */{n}").as_str()),
        Some(from) => ResponseTemplate::new(206)
            .insert_header("accept-ranges", "bytes")
            .insert_header(
                "content-range",
                format!("bytes {from}-{}/{n}", n - 1).as_str(),
            )
            .set_body_raw(bytes[from..].to_vec(), "application/octet-stream"),
        None => ResponseTemplate::new(200)
            .insert_header("accept-ranges", "bytes")
            .set_body_raw(bytes.to_vec(), "application/octet-stream"),
    }
}

fn hal(body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(
        serde_json::to_vec(body).expect("json"),
        "application/hal+json",
    )
}

/// The controller id in a controller resource path.
fn id_in(path: &str) -> String {
    path.strip_prefix(CONTROLLER)
        .unwrap_or(path)
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
        .to_string()
}

/// A root answer with no action.
fn idle_root() -> Value {
    json!({"config": {"polling": {"sleep": "00:01:00"}}, "_links": {}})
}

/// Shared state of the healthy flow.
#[derive(Default)]
struct FlowState {
    /// Controller id → `finished` of its accepted `closed` feedback.
    closed: HashMap<String, String>,
    /// Feedbacks the healthy feedback resource answered: controller id,
    /// `execution`, when.
    feedback_log: Vec<(String, String, Instant)>,
}

/// A wiremock server serving a healthy DDI flow, plus what it needs to build
/// overrides.
struct Ddi {
    server: MockServer,
    artifact: Arc<Vec<u8>>,
    state: Arc<Mutex<FlowState>>,
}

/// Knobs of the healthy flow.
struct Flow {
    /// Artifact size.
    size: usize,
    /// Where the artifact link points (`{id}` is replaced); default: the mock.
    artifact_href: Option<String>,
    /// Hashes advertised for the artifact; default: the real ones.
    advertised: Option<Hashes>,
}

impl Default for Flow {
    fn default() -> Self {
        Flow {
            size: 64 * 1024,
            artifact_href: None,
            advertised: None,
        }
    }
}

impl Ddi {
    async fn start() -> Ddi {
        Ddi::start_with(Flow::default()).await
    }

    /// Mounts root, deploymentBase, feedback and artifact at the default
    /// priority (5); tests override a part with priority 1.
    async fn start_with(flow: Flow) -> Ddi {
        let server = MockServer::start().await;
        let uri = server.uri();
        let artifact = Arc::new(test_bytes(flow.size));
        let state = Arc::new(Mutex::new(FlowState::default()));
        let hashes = flow.advertised.unwrap_or_else(|| hash_bytes(&artifact));
        let href = flow.artifact_href.unwrap_or_else(|| {
            format!("{uri}{CONTROLLER}/{{id}}/softwaremodules/1/artifacts/{FILE}")
        });

        // Root: offers the action until a `closed` feedback is accepted; then
        // links installedBase after success (FINISHED) and nothing after failure (ERROR).
        let (st, u) = (state.clone(), uri.clone());
        Mock::given(method("GET"))
            .and(path_regex(ROOT_RE))
            .respond_with(move |req: &Request| {
                let id = id_in(req.url.path());
                let st = st.lock().unwrap();
                let links = match st.closed.get(&id).map(String::as_str) {
                    None => json!({"deploymentBase": {
                        "href": format!("{u}{CONTROLLER}/{id}/deploymentBase/{ACTION}?c=1")
                    }}),
                    Some("failure") => json!({}),
                    Some(_) => json!({"installedBase": {
                        "href": format!("{u}{CONTROLLER}/{id}/installedBase/{ACTION}")
                    }}),
                };
                hal(&json!({"config": {"polling": {"sleep": "00:01:00"}}, "_links": links}))
            })
            .mount(&server)
            .await;

        let size = flow.size;
        Mock::given(method("GET"))
            .and(path_regex(DEPLOYMENT_RE))
            .respond_with(move |req: &Request| {
                let id = id_in(req.url.path());
                hal(&deployment_json(&href.replace("{id}", &id), size, &hashes))
            })
            .mount(&server)
            .await;

        // Feedback: 200; once closed, 410 Gone (ddi.md §1.4).
        let st = state.clone();
        Mock::given(method("POST"))
            .and(path_regex(FEEDBACK_RE))
            .respond_with(move |req: &Request| {
                let id = id_in(req.url.path());
                let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
                    return ResponseTemplate::new(400);
                };
                let mut st = st.lock().unwrap();
                let execution = body["status"]["execution"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                st.feedback_log
                    .push((id.clone(), execution, Instant::now()));
                if st.closed.contains_key(&id) {
                    return ResponseTemplate::new(410);
                }
                if body["status"]["execution"] == "closed" {
                    let finished = body["status"]["result"]["finished"]
                        .as_str()
                        .unwrap_or("")
                        .to_string();
                    st.closed.insert(id, finished);
                }
                ResponseTemplate::new(200)
            })
            .mount(&server)
            .await;

        let bytes = artifact.clone();
        Mock::given(method("GET"))
            .and(path_regex(ARTIFACT_RE))
            .respond_with(move |req: &Request| serve_artifact(&bytes, req))
            .mount(&server)
            .await;

        Ddi {
            server,
            artifact,
            state,
        }
    }

    fn uri(&self) -> String {
        self.server.uri()
    }

    /// Mounts `mock` on this server.
    async fn mount(&self, mock: Mock) {
        mock.mount(&self.server).await;
    }

    async fn requests(&self) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .expect("request recording is on")
    }

    /// Received requests with method `m` for resource `res`.
    async fn matching(&self, m: &str, res: Res) -> Vec<Request> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r.method.as_str() == m && classify(r.url.path()) == Some(res))
            .collect()
    }

    async fn root_polls(&self) -> usize {
        self.matching("GET", Res::Root).await.len()
    }

    async fn deployment_fetches(&self) -> usize {
        self.matching("GET", Res::Deployment).await.len()
    }

    async fn artifact_requests(&self) -> Vec<Request> {
        self.matching("GET", Res::Artifact).await
    }

    /// Feedback bodies received, in order.
    async fn feedbacks(&self) -> Vec<Value> {
        self.matching("POST", Res::Feedback)
            .await
            .iter()
            .map(|r| serde_json::from_slice(&r.body).expect("feedback body is JSON"))
            .collect()
    }

    async fn closed_feedbacks(&self) -> Vec<Value> {
        self.feedbacks()
            .await
            .into_iter()
            .filter(|f| f["status"]["execution"] == "closed")
            .collect()
    }

    fn closed_with(&self, id: &str) -> Option<String> {
        self.state.lock().unwrap().closed.get(id).cloned()
    }
}

/// The deploymentBase document of action [`ACTION`] with one artifact.
fn deployment_json(href: &str, size: usize, hashes: &Hashes) -> Value {
    json!({
        "id": ACTION.to_string(),
        "deployment": {
            "download": "forced",
            "update": "forced",
            "chunks": [{
                "part": "os",
                "version": "2.0.0",
                "name": "fw",
                "artifacts": [{
                    "filename": FILE,
                    "hashes": {"sha1": hashes.sha1, "md5": hashes.md5, "sha256": hashes.sha256},
                    "size": size,
                    "_links": {"download-http": {"href": href}}
                }]
            }]
        }
    })
}

/// Which DDI resource of the healthy flow a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Res {
    Root,
    Deployment,
    Feedback,
    Artifact,
}

fn classify(p: &str) -> Option<Res> {
    let rest = p.strip_prefix(CONTROLLER)?.strip_prefix('/')?;
    let segs: Vec<&str> = rest.split('/').collect();
    match segs[1..] {
        [] if !segs[0].is_empty() => Some(Res::Root),
        ["deploymentBase", "7"] => Some(Res::Deployment),
        ["deploymentBase", "7", "feedback"] => Some(Res::Feedback),
        ["softwaremodules", "1", "artifacts", FILE] => Some(Res::Artifact),
        _ => None,
    }
}

fn execution(f: &Value) -> &str {
    f["status"]["execution"].as_str().unwrap_or("")
}

fn finished(f: &Value) -> &str {
    f["status"]["result"]["finished"].as_str().unwrap_or("")
}

fn details(f: &Value) -> String {
    f["status"]["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

/// Real-time gaps between consecutive instants.
fn gaps(times: &[Instant]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

/// A responder that records when it answered and answers `template`.
fn timed(
    times: &Arc<Mutex<Vec<Instant>>>,
    template: ResponseTemplate,
) -> impl Fn(&Request) -> ResponseTemplate + Send + Sync + 'static {
    let times = times.clone();
    move |_req: &Request| {
        times.lock().unwrap().push(Instant::now());
        template.clone()
    }
}

// ---------------------------------------------------------------------------
// A raw HTTP/1.1 server for what wiremock cannot do
// ---------------------------------------------------------------------------

/// A request as the raw server read it (request line and headers only).
#[derive(Clone, Debug)]
struct RawRequest {
    line: String,
    headers: Vec<(String, String)>,
}

impl RawRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn range_from(&self) -> Option<usize> {
        range_from(self.header("range"))
    }
}

/// What the raw server writes: a head (whose Content-Length may promise more
/// than `body`), the body (optionally paced), then it closes the connection.
struct Reply {
    head: String,
    body: Vec<u8>,
    pace: Option<(usize, Duration)>,
}

impl Reply {
    /// `status` with `Content-Length: declared_len` and `body` (maybe shorter).
    fn new(status: &str, headers: &[(&str, String)], declared_len: usize, body: Vec<u8>) -> Reply {
        let mut head =
            format!("HTTP/1.1 {status}\r\nContent-Length: {declared_len}\r\nConnection: close\r\n");
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        Reply {
            head,
            body,
            pace: None,
        }
    }

    /// A correct artifact answer (200 or 206) for a request resuming at `from`.
    fn artifact(bytes: &[u8], from: Option<usize>) -> Reply {
        let n = bytes.len();
        let octets = ("Content-Type", "application/octet-stream".to_string());
        let ranges = ("Accept-Ranges", "bytes".to_string());
        match from {
            Some(f) if f < n => Reply::new(
                "206 Partial Content",
                &[
                    octets,
                    ranges,
                    ("Content-Range", format!("bytes {f}-{}/{n}", n - 1)),
                ],
                n - f,
                bytes[f..].to_vec(),
            ),
            _ => Reply::new("200 OK", &[octets, ranges], n, bytes.to_vec()),
        }
    }

    /// Writes the body `chunk` bytes at a time, `every` apart.
    fn paced(mut self, chunk: usize, every: Duration) -> Reply {
        self.pace = Some((chunk, every));
        self
    }
}

type Handler = dyn Fn(usize, &RawRequest) -> Reply + Send + Sync;

/// One request per connection; the handler gets the request's index (0, 1, …).
struct RawServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<RawRequest>>>,
}

impl RawServer {
    async fn start(
        handler: impl Fn(usize, &RawRequest) -> Reply + Send + Sync + 'static,
    ) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let s = seen.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (h, s) = (handler.clone(), s.clone());
                tokio::spawn(async move {
                    let _ = serve_raw(sock, &*h, &s).await;
                });
            }
        });
        RawServer { addr, seen }
    }

    /// `http://127.0.0.1:port`.
    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn artifact_href(&self) -> String {
        format!(
            "{}{CONTROLLER}/{{id}}/softwaremodules/1/artifacts/{FILE}",
            self.base()
        )
    }

    fn requests(&self) -> Vec<RawRequest> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve_raw(
    mut sock: TcpStream,
    handler: &Handler,
    seen: &Mutex<Vec<RawRequest>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 2048];
    let end = loop {
        let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut tmp))
            .await
            .map_err(|_| std::io::Error::other("idle client"))??;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        if buf.len() > 64 * 1024 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or("").to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let req = RawRequest { line, headers };
    let index = {
        let mut s = seen.lock().unwrap();
        s.push(req.clone());
        s.len() - 1
    };
    let reply = handler(index, &req);
    sock.write_all(reply.head.as_bytes()).await?;
    match reply.pace {
        Some((chunk, every)) => {
            for piece in reply.body.chunks(chunk.max(1)) {
                sock.write_all(piece).await?;
                sock.flush().await?;
                tokio::time::sleep(every).await;
            }
        }
        None => sock.write_all(&reply.body).await?,
    }
    sock.flush().await?;
    // FIN, not RST: what was written arrives before the end of the stream.
    sock.shutdown().await
}

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

/// Root polls after the preflight one get `template`; the preflight gets a
/// valid idle root so the run starts.
async fn mount_bad_root(ddi: &Ddi, template: ResponseTemplate, times: &Arc<Mutex<Vec<Instant>>>) {
    ddi.mount(
        Mock::given(method("GET"))
            .and(path_regex(ROOT_RE))
            .respond_with(hal(&idle_root()))
            .up_to_n_times(1)
            .with_priority(1),
    )
    .await;
    ddi.mount(
        Mock::given(method("GET"))
            .and(path_regex(ROOT_RE))
            .respond_with(timed(times, template))
            .with_priority(2),
    )
    .await;
}

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
