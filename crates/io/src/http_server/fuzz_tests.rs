//! The request router of `serve` against hostile request sequences: every
//! route family (DDI, Management API, OTAU device and admin routes, the
//! constrained-device gateway, CDN and cache) with odd paths and ids,
//! forged and missing credentials, broken ranges and bodies. Every request
//! gets an answer with a valid status (or, in a `reset` fault window, none)
//! and nothing panics, whatever came before it. Driven by `fleetsim_fleet::fuzz`.

use proptest::prelude::*;

use super::otau::{self, Routed};
use super::state::State;
use fleetsim_core::message::{Body, Headers, Method, Request};
use fleetsim_core::server::MgmtCredentials;
use fleetsim_core::time::{Span, Time};

/// A scenario with every route family live: DDI, OTAU, cpg, a campaign.
const SCENARIO: &str = "\
name: router
duration: 1d
server: { polling: 1m }
fleet:
  - { kind: always_on, count: 3 }
  - { kind: always_on, protocol: otau, count: 2 }
  - { name: sleepy, kind: constrained, protocol: cpg, count: 2, connectivity: { online_every: 1h, online_for: 5m } }
campaigns:
  - { at: 1m, version: 2.0.0, artifacts: [ { name: fw.bin, size: 4KiB } ] }
";

/// Path segments that have broken routers before.
const SEGMENTS: &[&str] = &[
    "",
    ".",
    "..",
    "%2e%2e",
    "%2F",
    "%00",
    "%",
    "%zz",
    "always-on-00000",
    "always-on-00001",
    "sleepy-00005",
    "DEFAULT",
    "0",
    "1",
    "-1",
    "18446744073709551616",
    "é",
    "a b",
    "x;y",
    "fw.bin",
    "fw.bin.MD5SUM",
    "../../etc/passwd",
];

const TEMPLATES: &[&str] = &[
    "/{}/controller/v1/{}",
    "/{}/controller/v1/{}/deploymentBase/{}",
    "/{}/controller/v1/{}/deploymentBase/{}/feedback",
    "/{}/controller/v1/{}/cancelAction/{}",
    "/{}/controller/v1/{}/cancelAction/{}/feedback",
    "/{}/controller/v1/{}/configData",
    "/{}/controller/v1/{}/installedBase/{}",
    "/{}/controller/v1/{}/softwaremodules/{}/artifacts",
    "/{}/controller/v1/{}/softwaremodules/{}/artifacts/{}",
    "/rest/v1/targets",
    "/rest/v1/targets/{}",
    "/rest/v1/targets/{}/actions",
    "/rest/v1/targets/{}/actions/{}",
    "/rest/v1/targets/{}/assignedDS",
    "/rest/v1/distributionsets",
    "/rest/v1/distributionsets/{}/assignedTargets",
    "/rest/v1/softwaremodules",
    "/rest/v1/softwaremodules/{}/artifacts",
    "/rest/v1/rollouts",
    "/rest/v1/rollouts/{}/start",
    "/rest/v1/system/configs",
    "/rest/v1/system/configs/{}",
    "/onep:v1/stack/alias",
    "/onep:v1/stack/alias?config_otau",
    "/provision/download?id={}",
    "/provision/download?id={}&info=true",
    "/timestamp",
    "/fleetsim/otau/devices/{}/config_otau",
    "/fleetsim/otau/config_otau",
    "/fleetsim/otau/devices/{}/otau_in",
    "/fleetsim/otau/devices/{}/cik",
    "/fleetsim/otau/content/{}",
    "/fleetsim/otau/stats",
    "/cpg/v1/devices/{}/poll",
    "/cpg/v1/devices/{}/poll?installed={}&result={}",
    "/cpg/v1/devices/{}/online",
    "/cdn/v1/a/{}/{}?expires={}&sig={}",
    "/cdn/v1/a/{}/{}?expires={}&sig={}&expires={}",
    "/cache/v1/{}/{}",
    "/{}",
];

const HEADERS: &[(&str, &str)] = &[
    ("authorization", "Basic YWRtaW46YWRtaW4="),
    ("authorization", "Basic !!!"),
    ("authorization", "GatewayToken "),
    ("authorization", "GatewayToken x"),
    ("authorization", "TargetToken "),
    ("authorization", "Bearer"),
    ("accept", "application/hal+json"),
    ("accept", "application/cbor"),
    ("accept", "text/html"),
    ("accept", "*/*;q=0"),
    ("content-type", "application/json"),
    (
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    ),
    ("content-type", "text/plain"),
    ("range", "bytes=0-"),
    ("range", "bytes=5-1"),
    ("range", "bytes=-0"),
    ("range", "bytes=0-1,2-3"),
    ("range", "bytes=18446744073709551615-"),
    ("range", "garbage"),
    ("if-none-match", "\"x\""),
    ("if-none-match", "*"),
    ("if-range", "\"x\""),
    ("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT"),
    ("request-timeout", "99999999999"),
    ("request-timeout", "-1"),
    ("x-exosite-cik", "0000000000000000000000000000000000000000"),
];

const BODIES: &[&str] = &[
    "",
    "{",
    "null",
    "[]",
    "{\"status\":{\"execution\":\"closed\",\"result\":{\"finished\":\"success\"}}}",
    "{\"status\":{\"execution\":\"proceeding\",\"result\":{\"finished\":\"none\",\"progress\":{\"cnt\":-1,\"of\":0}}}}",
    "{\"mode\":\"merge\",\"data\":{\"k\":\"v\"}}",
    "[{\"controllerId\":\"t1\",\"name\":\"t1\"}]",
    "[{\"controllerId\":\"../x\"}]",
    "[{\"name\":\"ds\",\"version\":\"1\",\"modules\":[{\"id\":1}]}]",
    "{\"name\":\"r\",\"distributionSetId\":1,\"targetFilterQuery\":\"id==*\",\"amountGroups\":0}",
    "{\"pollingTime\":\"00:00:00\",\"authentication.gatewaytoken.enabled\":true,\"authentication.gatewaytoken.key\":\"\"}",
    "{\"value\":\"\"}",
    "{\"version\":\"1.0\",\"url\":\"http://x\",\"files\":[]}",
    "config_otau=%7B%7D",
    "otau_in=%7B%22status%22%3A%22INSTALLED%22%7D",
    "otau_in=%zz",
];

/// One request of a hostile sequence.
#[derive(Clone, Debug)]
struct Hostile {
    method: u8,
    template: usize,
    segments: Vec<usize>,
    headers: Vec<usize>,
    body: usize,
    /// Scenario time passing before it arrives.
    after_ms: u32,
}

fn hostile() -> impl Strategy<Value = Hostile> {
    (
        0u8..6,
        0..TEMPLATES.len(),
        proptest::collection::vec(0..SEGMENTS.len(), 5),
        proptest::collection::vec(0..HEADERS.len(), 0..4),
        0..BODIES.len(),
        0u32..600_000,
    )
        .prop_map(
            |(method, template, segments, headers, body, after_ms)| Hostile {
                method,
                template,
                segments,
                headers,
                body,
                after_ms,
            },
        )
}

impl Hostile {
    fn request(&self) -> Request {
        let mut path = String::new();
        let mut segments = self.segments.iter().map(|i| SEGMENTS[*i]);
        for (i, piece) in TEMPLATES[self.template].split("{}").enumerate() {
            if i > 0 {
                path.push_str(segments.next().unwrap_or(""));
            }
            path.push_str(piece);
        }
        let method = match self.method {
            0 => Method::Get,
            1 => Method::Head,
            2 => Method::Post,
            3 => Method::Put,
            4 => Method::Delete,
            _ => Method::Other,
        };
        let mut headers = Headers::new();
        for (name, value) in self.headers.iter().map(|i| HEADERS[*i]) {
            headers.insert_dynamic(name, value.to_string());
        }
        let body = match BODIES[self.body] {
            "" => Body::Empty,
            b => Body::Bytes(b.as_bytes().to_vec().into()),
        };
        Request {
            method,
            url: format!("http://127.0.0.1:8080{path}"),
            headers,
            body,
        }
    }
}

#[test]
fn the_router_answers_every_hostile_sequence() {
    let scenario =
        fleetsim_fleet::scenario::load_str("router.yaml", SCENARIO).expect("scenario loads");
    let sequences = proptest::collection::vec(hostile(), 1..24);
    fleetsim_fleet::fuzz::fuzz("serve_router", sequences, |sequence| {
        let mut state = State::new(Some(&scenario), MgmtCredentials::default());
        let mut now = Time::ZERO;
        for step in &sequence {
            now += Span(u64::from(step.after_ms));
            let req = step.request();
            let status = if otau::is_otau_path(req.path()) {
                match state.handle_otau(now, &req, 0) {
                    Some(Routed::Reply(resp, _)) => Some(resp.status),
                    Some(Routed::Hold { until, .. }) => {
                        prop_assert!(until > now, "held until the past: {req:?}");
                        None
                    }
                    None => None,
                }
            } else {
                state.handle(now, &req).map(|r| r.status)
            };
            if let Some(status) = status {
                prop_assert!((100..=599).contains(&status), "status {status} for {req:?}");
                prop_assert!(status != 500, "internal error for {req:?}");
            }
        }
        Ok(())
    });
}
