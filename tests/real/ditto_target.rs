//! `fleetsim run --target … --twin-api http`: gateway fleets writing a
//! "real Ditto" through its HTTP API v2, here a wiremock server that keeps
//! the things it is given and answers as Eclipse Ditto documents it
//! (ditto.md §2: `PUT` → 201 with the entity when created, 204 when
//! modified; `DELETE` → 204; 404 `things:thing.notfound` /
//! `things:feature.notfound`; 401 without the right Basic credentials;
//! 408 `messages:message.timeout` for a message nobody receives, as in
//! eclipse-ditto/ditto `documentation/…/protocol/messages/exceptions/messages_message_timeout.md`).
//! Its `/ws/2` refuses the upgrade (wiremock speaks no WebSocket): the
//! gateways write their twin over HTTP and get no live messages.
//!
//! Broken answers are mocks of higher priority answering once: a 500 with
//! an HTML body, a 503, a 429 with `Retry-After` — each retried by the
//! gateway; a 400 `things:id.invalid` and a 412 are refused, not retried,
//! and counted in the gateway's figures (the oracle no longer judges that
//! gateway's convergence: it knowingly left its twin behind). Each run is
//! 15–30 min of scenario time at ×600 (2–3 s). Port 0, every wait bounded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use fleetsim::oracle::InvariantId;
use fleetsim::realtime::{run_async, RealOptions, TwinApi, TwinOptions};
use fleetsim_core::message::percent_decode;
use fleetsim_io::ditto::session::BasicAuth;

use crate::common;

const TIME_SCALE: f64 = 600.0;
/// `ditto:ditto`, the sample deployment's login.
const DITTO_AUTH: &str = "Basic ZGl0dG86ZGl0dG8=";
const THINGS: &str = "/api/2/things/";

fn scenario(duration: &str, gateways: u32) -> fleetsim::scenario::Scenario {
    fleetsim::scenario::load_str(
        "gateways-ditto.yaml",
        &format!(
            "name: gateways-ditto\nseed: 2\nduration: {duration}\n\
             load: {{ time_scale: {TIME_SCALE}, request_timeout: 5s }}\n\
             fleet:\n  - name: gateways\n    kind: always_on\n    count: {gateways}\n    protocol: ditto\n    id_prefix: gw-\n\
             \x20   connectivity: {{ online_every: 10m, online_for: 7m }}\n\
             \x20   gateway: {{ namespace: org.fleetsim.dt, edge_devices: 4, change_every: 2m, churn_every: 15m, commands_every: 5m, twin_writes_every: 10m, buffer: 64 }}\n"
        ),
    )
    .expect("scenario")
}

fn options(server: &MockServer, password: &str) -> RealOptions {
    let mut opts = common::options(&server.uri());
    opts.twin = TwinOptions {
        url: Some(server.uri()),
        api: TwinApi::Http,
        auth: Some(BasicAuth {
            user: "ditto".into(),
            password: password.into(),
        }),
    };
    opts
}

/// A Ditto's things, kept by the fake (thing ID → thing JSON).
#[derive(Clone, Default)]
struct FakeDitto {
    things: Arc<Mutex<BTreeMap<String, Value>>>,
}

fn error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "status": status,
        "error": code,
        "message": message,
        "description": "fleetsim's recording of a Ditto answer."
    }))
}

fn not_found(code: &str, id: &str) -> ResponseTemplate {
    let message = format!("The entity of '{id}' could not be found or requester had insufficient permissions to access it.");
    error(404, code, &message)
}

impl Respond for FakeDitto {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            != Some(DITTO_AUTH)
        {
            return error(
                401,
                "gateway:authentication.failed",
                "Multiple authentication mechanisms were applicable but none succeeded.",
            )
            .insert_header("www-authenticate", "Basic realm=\"ditto\"");
        }
        let Some(rest) = req.url.path().strip_prefix(THINGS) else {
            return ResponseTemplate::new(404);
        };
        let segments: Option<Vec<String>> = rest.split('/').map(percent_decode).collect();
        let Some((id, pointer)) = segments.as_deref().and_then(|s| s.split_first()) else {
            return error(400, "things:id.invalid", "not percent-encoded");
        };
        let mut things = self.things.lock().expect("lock");
        match req.method.as_str() {
            "GET" => match things.get(id) {
                Some(thing) => ResponseTemplate::new(200).set_body_json(thing),
                None => not_found("things:thing.notfound", id),
            },
            "POST" if pointer.iter().any(|s| s == "inbox") => {
                if req.url.query().is_some_and(|q| q.contains("timeout=0")) {
                    return ResponseTemplate::new(202);
                }
                error(
                    408,
                    "messages:message.timeout",
                    "The Message reached the specified timeout of 10 seconds.",
                )
            }
            "PUT" => put(&mut things, id, pointer, &req.body),
            "DELETE" => delete(&mut things, id, pointer),
            _ => ResponseTemplate::new(405),
        }
    }
}

fn put(
    things: &mut BTreeMap<String, Value>,
    id: &str,
    pointer: &[String],
    body: &[u8],
) -> ResponseTemplate {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return error(400, "json.invalid", "Failed to parse JSON string");
    };
    if pointer.is_empty() {
        let mut thing = value;
        thing["thingId"] = json!(id);
        thing["policyId"] = json!(id);
        return match things.insert(id.to_owned(), thing.clone()) {
            None => ResponseTemplate::new(201).set_body_json(thing),
            Some(_) => ResponseTemplate::new(204),
        };
    }
    let Some(thing) = things.get_mut(id) else {
        return not_found("things:thing.notfound", id);
    };
    if pointer.len() > 2
        && pointer[0] == "features"
        && thing
            .pointer(&format!("/features/{}", pointer[1]))
            .is_none()
    {
        return not_found("things:feature.notfound", id);
    }
    let (last, parents) = pointer.split_last().expect("not empty");
    let mut at = thing;
    for p in parents {
        if !at.get(p).is_some_and(Value::is_object) {
            at[p.as_str()] = json!({});
        }
        at = &mut at[p.as_str()];
    }
    let created = at.get(last).is_none();
    at[last.as_str()] = value.clone();
    match created {
        true => ResponseTemplate::new(201).set_body_json(value),
        false => ResponseTemplate::new(204),
    }
}

fn delete(things: &mut BTreeMap<String, Value>, id: &str, pointer: &[String]) -> ResponseTemplate {
    if pointer.is_empty() {
        return match things.remove(id) {
            Some(_) => ResponseTemplate::new(204),
            None => not_found("things:thing.notfound", id),
        };
    }
    let (last, parents) = pointer.split_last().expect("not empty");
    let parent = things.get_mut(id).and_then(|t| {
        let at = parents
            .iter()
            .fold(String::new(), |a, p| format!("{a}/{p}"));
        t.pointer_mut(&at)
    });
    match parent
        .and_then(Value::as_object_mut)
        .and_then(|o| o.remove(last))
    {
        Some(_) => ResponseTemplate::new(204),
        None => not_found("things:thing.notfound", id),
    }
}

async fn fake_ditto() -> (MockServer, FakeDitto) {
    let server = MockServer::start().await;
    let fake = FakeDitto::default();
    Mock::given(path_regex("^/api/2/things/"))
        .respond_with(fake.clone())
        .mount(&server)
        .await;
    (server, fake)
}

/// Mounts `answer` for the first `times` `PUT`s whose path matches `regex`.
async fn once(
    server: &MockServer,
    regex: &str,
    answer: ResponseTemplate,
    times: u64,
    priority: u8,
) {
    Mock::given(method("PUT"))
        .and(path_regex(regex))
        .respond_with(answer)
        .up_to_n_times(times)
        .with_priority(priority)
        .mount(server)
        .await;
}

fn counter(run: &fleetsim::engine::RunResult, name: &str) -> u64 {
    run.extra_counters.get(name).copied().unwrap_or(0)
}

async fn run_against(
    s: &fleetsim::scenario::Scenario,
    opts: &RealOptions,
) -> (fleetsim::engine::RunResult, Duration) {
    let started = Instant::now();
    let limit = Duration::from_secs(60);
    let result = tokio::time::timeout(limit, run_async(s, opts)).await;
    let run = result
        .expect("bounded")
        .expect("the fake Ditto is reachable");
    (run, started.elapsed())
}

fn figures(run: &fleetsim::engine::RunResult) -> String {
    [
        "twin_http_requests",
        "twin_http_2xx",
        "twin_http_4xx",
        "twin_http_429",
        "twin_http_5xx",
        "twin_http_garbage",
        "twin_commands_retried",
        "twin_commands_refused",
        "twin_commands_timed_out",
        "twin_ws_unavailable",
        "twin_converge_checks",
        "twin_converge_skipped",
    ]
    .iter()
    .map(|n| format!("{n}={}", counter(run, n)))
    .collect::<Vec<_>>()
    .join(" ")
}

/// The requests a run sent the fake: Basic `ditto:ditto` on each, Ditto's
/// verbs, each gateway thing created, thing IDs percent-encoded.
fn check_requests(requests: &[Request]) {
    let twin_requests: Vec<_> = requests
        .iter()
        .filter(|r| r.url.path().starts_with(THINGS))
        .collect();
    for r in &twin_requests {
        let auth = r.headers.get("authorization").and_then(|v| v.to_str().ok());
        assert_eq!(auth, Some(DITTO_AUTH), "{} {}", r.method, r.url);
        assert!(
            ["GET", "PUT", "DELETE", "POST"].contains(&r.method.as_str()),
            "{}",
            r.method
        );
    }
    let paths: Vec<String> = twin_requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    for gw in ["gw-00000", "gw-00001"] {
        let root = format!("PUT /api/2/things/org.fleetsim.dt:{gw}");
        assert!(
            paths.iter().filter(|p| **p == root).count() >= 1,
            "{root} never sent"
        );
    }
    // Edge device 3's Device FI `…:3 hall/left`: the seed encodes space and
    // `/` (`%20`, `%2F`), the HTTP path encodes that `%` again.
    assert!(
        paths.iter().any(|p| p.contains("%2520hall%252Fleft")),
        "{paths:#?}"
    );
    let raw = |r: &&&Request| r.url.path().contains(' ') || r.url.path().contains("%20hall");
    let unencoded: Vec<_> = twin_requests.iter().filter(raw).map(|r| &r.url).collect();
    assert!(unencoded.is_empty(), "{unencoded:#?}");
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("PUT ") && p.contains("/features/")),
        "no feature-level write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_write_a_ditto_over_http_api_v2_and_retry_broken_answers() {
    let (server, fake) = fake_ditto().await;
    let thing_root = r"^/api/2/things/[^/]+$";
    let html = ResponseTemplate::new(500)
        .set_body_string("<html><body>Internal Server Error</body></html>");
    once(&server, thing_root, html, 1, 1).await;
    let unavailable = error(
        503,
        "things:unavailable",
        "The Thing service is not available.",
    );
    once(&server, thing_root, unavailable, 1, 2).await;
    let busy =
        error(429, "too.many.requests", "Too many requests.").insert_header("retry-after", "1");
    once(&server, "/properties/", busy, 1, 1).await;
    let s = scenario("30m", 2);
    let (run, wall) = run_against(&s, &options(&server, "ditto")).await;
    eprintln!(
        "gateways against a fake Ditto over HTTP: {wall:?} wall, {}",
        figures(&run)
    );
    common::assert_no_violations(&run);
    let twin = run.twin.as_ref().expect("a twin section");
    assert_eq!(twin.gateways, 2);
    assert!(
        counter(&run, "twin_http_5xx") >= 2 && counter(&run, "twin_http_429") >= 1,
        "{}",
        figures(&run)
    );
    assert!(counter(&run, "twin_http_garbage") >= 1, "{}", figures(&run));
    assert!(
        counter(&run, "twin_commands_retried") >= 3,
        "{}",
        figures(&run)
    );
    assert_eq!(
        counter(&run, "twin_commands_refused"),
        0,
        "{}",
        figures(&run)
    );
    assert!(
        counter(&run, "twin_ws_unavailable") >= 2,
        "{}",
        figures(&run)
    );
    assert!(
        counter(&run, "twin_converge_checks") >= 2,
        "{}",
        figures(&run)
    );

    let requests = server.received_requests().await.expect("recording on");
    check_requests(&requests);
    // The fake holds both gateways' things.
    let things = fake.things.lock().expect("lock");
    assert!(
        things.contains_key("org.fleetsim.dt:gw-00000")
            && things.contains_key("org.fleetsim.dt:gw-00001")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_recorded_not_retried() {
    // A gateway thing Ditto calls invalid, and one 412 on a property write.
    let (server, _fake) = fake_ditto().await;
    let invalid = error(
        400,
        "things:id.invalid",
        "Thing ID 'org.fleetsim.dt:gw-00000' is not valid!",
    );
    once(
        &server,
        r"^/api/2/things/org.fleetsim.dt:gw-00000$",
        invalid,
        u64::MAX,
        1,
    )
    .await;
    let precondition = error(412, "things:precondition.failed", "The comparison of precondition header 'if-match' for the requested Thing resource evaluated to false.");
    once(&server, "/properties/", precondition, 1, 1).await;
    let s = scenario("20m", 1);
    let (run, wall) = run_against(&s, &options(&server, "ditto")).await;
    eprintln!("refusals: {wall:?} wall, {}", figures(&run));
    assert!(
        counter(&run, "twin_commands_refused") >= 2,
        "{}",
        figures(&run)
    );
    let requests = server.received_requests().await.expect("recording on");
    let root_puts = requests
        .iter()
        .filter(|r| {
            r.method.as_str() == "PUT" && r.url.path() == "/api/2/things/org.fleetsim.dt:gw-00000"
        })
        .count();
    // Refused once per send (a resend after a slow answer at most), not retried.
    assert!(
        (1..=3).contains(&root_puts),
        "{root_puts} PUTs of the invalid thing"
    );
    // The refusals are the gateway's figures; a gateway that knowingly left
    // its twin behind is no longer judged for convergence (oracle::twin).
    let twin = run.twin.as_ref().expect("a twin section");
    assert!(twin.per_gateway[0].refused >= 2, "{:?}", twin.per_gateway);
    assert!(!twin.per_gateway[0].synced_at_end);
    assert_eq!(counter(&run, "twin_converge_checks"), 0);
    assert_eq!(common::fired(&run, InvariantId::TwinConverge), 0);

    // Wrong credentials: every write is a 401, refused; the run ends normally.
    let (server, fake) = fake_ditto().await;
    let s = scenario("15m", 1);
    let (run, wall) = run_against(&s, &options(&server, "wrong")).await;
    eprintln!("wrong credentials: {wall:?} wall, {}", figures(&run));
    assert!(
        counter(&run, "twin_http_4xx") >= 1 && counter(&run, "twin_http_2xx") == 0,
        "{}",
        figures(&run)
    );
    assert!(
        counter(&run, "twin_commands_refused") >= 1,
        "{}",
        figures(&run)
    );
    assert!(fake.things.lock().expect("lock").is_empty());
}

/// The whole HTTP mode against `fleetsim serve`, whose twin speaks both:
/// the gateways' writes over `PUT`/`DELETE /api/2/things/…`, the backend's
/// `$set.configuration` commands delivered over `/ws/2` and applied, the
/// twin read back equal (no violations).
#[test]
fn gateways_write_serves_twin_over_http_and_take_commands_over_the_socket() {
    let s = scenario("30m", 2);
    let serve = crate::real_run::ServeThread::start(&s, TIME_SCALE, 2);
    let mut opts = common::options(&serve.base_url);
    opts.twin.api = TwinApi::Http;
    let started = Instant::now();
    let result = fleetsim::realtime::run(&s, &opts);
    let wall = started.elapsed();
    serve.stop();
    let run = result.expect("serve is reachable");
    eprintln!(
        "gateways against serve over HTTP: {wall:?} wall, {}",
        figures(&run)
    );
    common::assert_no_violations(&run);
    let twin = run.twin.as_ref().expect("a twin section");
    assert!(counter(&run, "twin_http_2xx") > 0, "{}", figures(&run));
    assert_eq!(counter(&run, "twin_ws_unavailable"), 0);
    assert_eq!(counter(&run, "twin_commands_refused"), 0);
    assert!(twin.messages > 0, "no $set.configuration reached a gateway");
    assert!(
        counter(&run, "twin_converge_checks") >= 2,
        "{}",
        figures(&run)
    );
}
