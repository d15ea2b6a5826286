//! `scenarios/otau-murano.yaml` against `fleetsim serve` in real time: raw
//! HTTP exactly as the seed client (seed 003) and murano-client send it —
//! `Host: <pid>.m2.exosite.io`, `Content-Type:
//! application/x-www-form-urlencoded; charset=utf-8`, `X-Exosite-CIK` —
//! drives activation per product (200 + token, 409, 404, 403) and the long
//! poll with the token (otau.md §4.1, §4.5); then the scenario's fleet runs
//! against serve and ends as in virtual time. Port 0, bounded waits.

use std::net::SocketAddr;
use std::path::Path;

use fleetsim::engine::{Engine, RunResult, Selection};
use fleetsim::http_server::{start, ServeOptions};
use fleetsim::protocol::ddi::ReqKind;
use fleetsim::scenario::{load, load_str, Protocol, Scenario};
use fleetsim::server::otau::{cik_for, identity_for};
use http::{Method, StatusCode};

use crate::real_run::run_against_serve;
use crate::serve_otau::{bounded, config_otau, publish, Answer, Client, ADMIN};

const PRODUCT: &str = "d1zzd6dflnt50000";
const OTHER: &str = "a7murano2product";
/// The seed's write headers (`Content-Type` of its `POST`s).
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";
const POLL: &str = "/onep:v1/stack/alias?config_otau";

fn murano() -> Scenario {
    load(Path::new("scenarios/otau-murano.yaml")).expect("otau-murano loads")
}

/// `POST /provision/activate` as murano-client sends it, to `host`.
async fn activate(c: &mut Client, host: &str, body: &str) -> Answer {
    let headers = [("host", host), ("content-type", FORM)];
    c.send(
        Method::POST,
        "/provision/activate",
        &headers,
        body.to_string(),
    )
    .await
}

/// The seed's long poll (otau.md §4.1) with `token`, at `host`.
async fn poll(addr: SocketAddr, host: &str, token: &str, timeout_ms: &str) -> Answer {
    let headers = [
        ("host", host),
        ("x-exosite-cik", token),
        ("accept", FORM),
        ("request-timeout", timeout_ms),
        ("if-modified-since", "0"),
        ("accept-encoding", "identity"),
    ];
    Client::connect(addr).await.get(POLL, &headers).await
}

#[tokio::test]
async fn activation_and_long_poll_with_the_seed_clients_conventions() {
    let s = murano();
    let (first, pre, other) = (0u64, 200u64, 350u64);
    let serve = ServeOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        scenario: Some(s),
        ..Default::default()
    };
    let server = bounded("start", start(serve)).await.expect("serve starts");
    let addr = server.local_addr;
    let host = format!("{PRODUCT}.m2.exosite.io");
    let other_host = format!("{OTHER}.m2.exosite.io");
    let mut c = Client::connect(addr).await;

    let before = poll(addr, &host, &cik_for(first), "0").await;
    assert_eq!(before.status, StatusCode::UNAUTHORIZED, "not yet activated");

    let id = format!("id={}", identity_for(first));
    let ok = activate(&mut c, &host, &id).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(ok.header("content-type"), "text/plain; charset=utf-8");
    let token = ok.text().to_string();
    assert_eq!(token.len(), 40, "murano-client checks len == 40");
    assert_eq!(
        activate(&mut c, &host, &id).await.status,
        StatusCode::CONFLICT
    );
    let unknown = activate(&mut c, &host, "id=ffffffffffff").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let foreign = format!("id={}", identity_for(other));
    let refused = activate(&mut c, &host, &foreign).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    let legacy = format!("vendor={OTHER}&model={OTHER}&sn={}", identity_for(pre));
    assert_eq!(activate(&mut c, "127.0.0.1", &legacy).await.status, 403);
    let pre_id = format!("id={}", identity_for(pre));
    assert_eq!(
        activate(&mut c, &host, &pre_id).await.status,
        409,
        "pre-provisioned"
    );
    let own = activate(&mut c, &other_host, &foreign).await;
    assert_eq!(own.status, StatusCode::OK, "its own product's host");

    let manifest = r#"{"version": "9.9.9", "name": "m", "type": "URL_LIST", "payload": []}"#;
    let mut admin = Client::connect(addr).await;
    assert_eq!(publish(&mut admin, Some(first), manifest).await, 204);
    let got = poll(addr, &host, &token, "300000").await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_eq!(config_otau(&got), manifest);
    let ack = [
        ("host", host.as_str()),
        ("x-exosite-cik", &token),
        ("content-type", FORM),
    ];
    let acked = c
        .send(Method::POST, "/onep:v1/stack/alias", &ack, got.body.clone())
        .await;
    assert_eq!(acked.status, StatusCode::NO_CONTENT);
    let idle = poll(addr, &host, &token, "200").await;
    assert_eq!(
        idle.status,
        StatusCode::NOT_MODIFIED,
        "acknowledged: not re-delivered"
    );

    let mut wrong = token.clone().into_bytes();
    wrong[39] = if wrong[39] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(wrong).expect("hex");
    assert_eq!(poll(addr, &host, &wrong, "0").await.status, 401);
    let theirs = poll(addr, &host, &cik_for(other), "0").await;
    assert_eq!(theirs.status, 401, "another product's token");
    assert_eq!(poll(addr, &host, &cik_for(pre), "0").await.status, 304);
    let unactivated = poll(addr, &host, &cik_for(first + 1), "0").await;
    assert_eq!(unactivated.status, 401, "an unactivated device is refused");
    let stats = admin.get("/fleetsim/otau/stats", &[ADMIN]).await;
    assert_eq!(stats.status, StatusCode::OK);
    bounded("shutdown", server.shutdown()).await;
}

/// The scenario's text cut to 20 minutes with its campaign at 2 minutes.
pub(crate) fn short_text() -> String {
    std::fs::read_to_string("scenarios/otau-murano.yaml")
        .expect("readable")
        .replace("duration: 1d", "duration: 20m")
        .replace("at: 1h", "at: 2m")
        .replace("within: 1d", "within: 20m")
}

/// A run of the cut scenario sent at least `activations` activations and
/// updated at least `updated` of its `devices`.
pub(crate) fn assert_activated_and_updated(
    run: &RunResult,
    activations: u64,
    updated: u64,
    devices: u64,
) {
    let sent = run.stats.sent.get(&ReqKind::OtauActivate).copied();
    assert!(
        sent.unwrap_or(0) >= activations,
        "activating groups activate: {sent:?}"
    );
    assert!(
        run.stats.updates_succeeded >= updated,
        "{} of {devices} devices updated; statuses {:?}",
        run.stats.updates_succeeded,
        run.stats.statuses
    );
}

/// [`short_text`] with `per_group` devices a group, HTTP groups only
/// (`otau_murano_mqtt` runs the whole scenario, MQTT and HTTP over the MQTT
/// port included, over TLS).
fn short(per_group: u32) -> Scenario {
    let cut = short_text();
    let mut s = load_str("otau-murano-short.yaml", &cut).expect("the cut scenario loads");
    s.fleet
        .retain(|g| g.protocol == Protocol::Otau && !g.otau.http_over_mqtt_port);
    s.fleet.iter_mut().for_each(|g| g.count = per_group);
    s
}

fn fired(r: &RunResult) -> Vec<String> {
    r.oracle
        .counts()
        .keys()
        .map(|id| id.as_str().to_string())
        .collect()
}

#[test]
fn murano_fleet_activates_and_updates_against_serve_as_in_virtual_time() {
    let mut s = short(16);
    let scale = 100.0;
    s.load.time_scale = scale;
    let virtual_run = Engine::new(&s, &Selection::default()).run(|_| {});
    let run = run_against_serve(&s, scale).expect("the target is reachable");
    for (what, r) in [("virtual", &virtual_run), ("real", &run)] {
        assert_eq!(
            r.oracle.total(),
            0,
            "{what}: {:?}",
            r.oracle.violations().first()
        );
    }
    assert_eq!(fired(&run), fired(&virtual_run), "the same invariants");
    assert_activated_and_updated(&run, 32, 32, 48);
}
