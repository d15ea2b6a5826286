//! Tests of routing, authentication, negotiation, the root poll and configData.

use crate::message::{Method, Request};
use crate::protocol::ddi::sleep::parse_sleep;
use crate::time::{Span, Time};

use super::super::test_support::{json, CID, H, ORIGIN};
use super::super::{ActionType, MaintenanceSchedule, ServerConfig};

#[test]
fn routing_errors_have_documented_statuses() {
    let mut h = H::new();
    assert_eq!(
        h.send(Request::new(Method::Get, format!("{ORIGIN}/DEFAULT/other")))
            .status,
        404
    );
    assert_eq!(h.get("/nope").status, 404);
    assert_eq!(h.get("/deploymentBase/1/feedback/x").status, 404);
    let wrong_tenant = format!("{ORIGIN}/OTHER/controller/v1/{CID}");
    let r = h.send(Request::new(Method::Get, wrong_tenant));
    assert_eq!((r.status, r.body.is_empty()), (401, true));
    let r = h.send(Request::new(Method::Post, H::url("")));
    assert_eq!(r.status, 405);
    assert_eq!(r.headers.get("allow"), Some("GET"));
    assert_eq!(
        h.send(Request::new(Method::Delete, H::url("/deploymentBase/1")))
            .status,
        405
    );
    assert_eq!(h.get_with("", "accept", "text/html").status, 406);
    assert_eq!(
        h.get_with("", "accept", "text/html, application/cbor;q=0.5")
            .status,
        200
    );
    let r = h.get_with("", "accept", "application/json");
    assert_eq!(r.headers.get("content-type"), Some("application/json"));
    assert_eq!(
        h.get("").headers.get("content-type"),
        Some("application/hal+json")
    );
    let mut put = H::with_body(Method::Put, "/configData", r#"{"data":{"a":"b"}}"#);
    put.headers = Default::default();
    assert_eq!(h.send(put.clone()).status, 415);
    put.headers.insert("content-type", "text/plain");
    assert_eq!(h.send(put.clone()).status, 415);
    put.headers = Default::default();
    put.headers
        .insert("content-type", "application/json; charset=utf-8");
    assert_eq!(h.send(put.clone()).status, 200);
    put.headers.insert("accept", "text/plain");
    assert_eq!(
        h.send(put).status,
        200,
        "bodiless answers are not negotiated"
    );
    let long = "x".repeat(257);
    let r = h.send(Request::new(
        Method::Get,
        format!("{ORIGIN}/DEFAULT/controller/v1/{long}"),
    ));
    assert_eq!(r.status, 400);
    let r = h.send(Request::new(
        Method::Get,
        format!("{ORIGIN}/DEFAULT/controller/v1/{}", "y".repeat(256)),
    ));
    assert_eq!(r.status, 200);
    assert_eq!(h.get("/deploymentBase/abc").status, 400);
    assert_eq!(
        h.send(Request::new(
            Method::Get,
            format!("{ORIGIN}/DEFAULT/controller/v1/%ZZ")
        ))
        .status,
        400
    );
}

#[test]
fn auth_failures_are_401_with_empty_body() {
    let config = ServerConfig {
        gateway_token: Some("gw".into()),
        target_token_auth: true,
        ..ServerConfig::default()
    };
    let mut h = H::with_config(config);
    for auth in [
        None,
        Some("GatewayToken nope"),
        Some("TargetToken nope"),
        Some("Bearer gw"),
        Some("gw"),
    ] {
        let mut req = Request::new(Method::Get, H::url(""));
        if let Some(a) = auth {
            req.headers.insert("authorization", a);
        }
        let r = h.send(req);
        assert_eq!(r.status, 401, "{auth:?}");
        assert!(r.body.is_empty());
        assert_eq!(r.headers.get("www-authenticate"), None);
    }
    assert_eq!(
        h.get_with("", "authorization", "GatewayToken gw").status,
        200
    );
    assert_eq!(
        h.get_with("", "authorization", "TargetToken tok1").status,
        200
    );
    // Plug and play: only the gateway token may register an unknown controller.
    let unknown = format!("{ORIGIN}/DEFAULT/controller/v1/new-dev");
    let mut req = Request::new(Method::Get, unknown.clone());
    req.headers.insert("authorization", "TargetToken tok1");
    assert_eq!(h.send(req).status, 401);
    assert_eq!(h.s.target_count(), 1);
    let mut req = Request::new(Method::Get, unknown);
    req.headers.insert("authorization", "GatewayToken gw");
    assert_eq!(h.send(req).status, 200);
    assert_eq!(h.s.target_count(), 2);
}

#[test]
fn an_empty_gateway_key_lets_nobody_in() {
    let config = ServerConfig {
        gateway_token: Some(String::new()),
        ..ServerConfig::default()
    };
    let mut h = H::with_config(config);
    for auth in [
        None,
        Some("GatewayToken "),
        Some("GatewayToken"),
        Some("GatewayToken \"\""),
    ] {
        let mut req = Request::new(Method::Get, format!("{ORIGIN}/DEFAULT/controller/v1/d9"));
        if let Some(a) = auth {
            req.headers.insert("authorization", a);
        }
        let r = h.send(req);
        assert_eq!((r.status, r.body.is_empty()), (401, true), "{auth:?}");
    }
    assert_eq!(h.s.target_count(), 1, "nobody registered");
}

#[test]
fn controller_ids_that_break_hawkbits_rule_are_400_and_not_stored() {
    let mut h = H::new();
    for raw in [
        "..",
        ".",
        "%2E%2E",
        "..%2F..%2Fetc%2Fpasswd",
        "a%2Fb",
        "a%5Cb",
        "a%00b",
        "a%20b",
        "a%0Ab",
    ] {
        let r = h.send(Request::new(
            Method::Get,
            format!("{ORIGIN}/DEFAULT/controller/v1/{raw}"),
        ));
        assert_eq!(r.status, 400, "{raw}");
        assert!(String::from_utf8_lossy(r.body.as_bytes()).contains("controllerId must"));
    }
    assert_eq!(h.s.target_count(), 1);
}

#[test]
fn unknown_controller_registers_only_on_root() {
    let mut h = H::new();
    let r = h.send(Request::new(
        Method::Get,
        format!("{ORIGIN}/DEFAULT/controller/v1/ghost/deploymentBase/1"),
    ));
    assert_eq!(r.status, 404);
    assert_eq!(h.s.target_count(), 1);
    let r = h.send(Request::new(
        Method::Get,
        format!("{ORIGIN}/DEFAULT/controller/v1/ghost"),
    ));
    assert_eq!(r.status, 200);
    assert_eq!(h.s.target_count(), 2);
    let body = json(&r);
    assert_eq!(
        body["_links"]["configData"]["href"],
        format!("{ORIGIN}/DEFAULT/controller/v1/ghost/configData")
    );
}

#[test]
fn root_link_precedence() {
    let mut h = H::new();
    let root = h.root();
    assert_eq!(root.config.polling.sleep, "00:05:00");
    assert!(root.links.deployment_base.is_none() && root.links.config_data.is_some());
    assert!(h.put("/configData", r#"{"data":{"hw":"1"}}"#).is_success());
    assert!(h.root().links.config_data.is_none());

    let a = h.assign(ActionType::Soft);
    let href = h.root().links.deployment_base.expect("deploymentBase").href;
    assert_eq!(
        href,
        H::url(&format!("/deploymentBase/{a}?c={}", a.0 as i32 * 31 + 1237))
    );
    // A heavier later assignment is served first; the superseded one waits.
    let heavy =
        h.s.assign(h.now, h.dist, CID, ActionType::Forced, Some(2000), None)
            .expect("assign");
    let root = h.root();
    assert!(root.links.cancel_action.is_none());
    assert!(root
        .links
        .deployment_base
        .expect("db")
        .href
        .contains(&format!("/deploymentBase/{heavy}?")));
    assert!(h.feedback(heavy, "closed", "success").is_success());
    let root = h.root();
    assert_eq!(
        root.links.cancel_action.expect("cancel").href,
        H::url(&format!("/cancelAction/{a}"))
    );
    assert_eq!(
        root.links.installed_base.expect("installed").href,
        H::url(&format!("/installedBase/{heavy}"))
    );
    assert!(
        root.links.config_data.is_some(),
        "FINISHED requests configData again"
    );
    assert!(h.cancel_feedback(a, "closed", "success").is_success());
    let root = h.root();
    assert!(root.links.deployment_base.is_none() && root.links.cancel_action.is_none());
}

#[test]
fn if_none_match_gives_304_and_keeps_side_effects() {
    let mut h = H::new();
    let r = h.get("");
    let etag = r.headers.get("etag").expect("etag").to_string();
    let r = h.get_with("", "if-none-match", &etag);
    assert_eq!((r.status, r.body.is_empty()), (304, true));
    let a = h.assign(ActionType::Soft);
    let r = h.get(&format!("/deploymentBase/{a}"));
    let etag = r.headers.get("etag").expect("etag").to_string();
    let again = h.get_with(&format!("/deploymentBase/{a}"), "If-None-Match", &etag);
    assert_eq!(again.status, 304);
    assert_eq!(
        h.s.action_status(CID, a),
        Some(super::super::ActionStatus::Retrieved)
    );
    let head = h.send(Request::new(Method::Head, H::url("")));
    assert_eq!((head.status, head.body.is_empty()), (200, true));
}

#[test]
fn sleep_formats_jitter_and_windows() {
    let long = ServerConfig {
        polling_sleep: Span::hours(36),
        ..ServerConfig::default()
    };
    assert_eq!(H::with_config(long).root().config.polling.sleep, "PT36H");
    let odd = ServerConfig {
        polling_sleep: Span::secs(3_723),
        ..ServerConfig::default()
    };
    assert_eq!(H::with_config(odd).root().config.polling.sleep, "01:02:03");

    let jittered = ServerConfig {
        polling_jitter: 0.5,
        ..ServerConfig::default()
    };
    let mut h = H::with_config(jittered.clone());
    let sleeps: Vec<String> = (0..50).map(|_| h.root().config.polling.sleep).collect();
    let mut again = H::with_config(jittered);
    let replay: Vec<String> = (0..50).map(|_| again.root().config.polling.sleep).collect();
    assert_eq!(sleeps, replay, "jitter is a deterministic stream");
    let secs: Vec<u64> = sleeps
        .iter()
        .map(|s| parse_sleep(s).expect("parses").0 / 1000)
        .collect();
    assert!(secs.iter().all(|s| (150..=450).contains(s)), "{secs:?}");
    assert!(secs.iter().any(|s| *s != secs[0]), "jitter varies");
    // Jittered values are clamped to hawkBit's min/max polling time.
    let tiny = ServerConfig {
        polling_sleep: Span::secs(10),
        polling_jitter: 0.1,
        ..ServerConfig::default()
    };
    assert_eq!(H::with_config(tiny).root().config.polling.sleep, "00:00:30");
    let huge = ServerConfig {
        polling_sleep: Span::hours(30),
        polling_jitter: 0.1,
        ..ServerConfig::default()
    };
    assert_eq!(H::with_config(huge).root().config.polling.sleep, "23:59:59");

    // Before a maintenance window: (start - now) / 3 within [30 s, pollingTime].
    let mut h = H::new();
    let start = Time(1_000 + 600_000);
    let window = MaintenanceSchedule::Once {
        start,
        duration: Span::minutes(10),
    };
    h.s.assign(h.now, h.dist, CID, ActionType::Soft, None, Some(window));
    assert_eq!(h.root().config.polling.sleep, "00:03:20");
    h.now = Time(1_000 + 570_000);
    assert_eq!(h.root().config.polling.sleep, "00:00:30");
    h.now = start;
    assert_eq!(h.root().config.polling.sleep, "00:05:00");
}

#[test]
fn config_data_modes() {
    let mut h = H::new();
    let put = |h: &mut H, body: &str| h.put("/configData", body).status;
    assert_eq!(put(&mut h, r#"{"data":{"a":"1","b":"2"}}"#), 200);
    assert_eq!(
        put(
            &mut h,
            r#"{"mode":"merge","data":{"b":"3","c":"4","a":null}}"#
        ),
        200
    );
    let attrs = |h: &H| h.s.attributes(CID).expect("target");
    assert_eq!(
        attrs(&h),
        vec![("b".into(), "3".into()), ("c".into(), "4".into())]
    );
    assert_eq!(put(&mut h, r#"{"mode":"remove","data":{"b":""}}"#), 200);
    assert_eq!(attrs(&h), vec![("c".to_string(), "4".to_string())]);
    assert_eq!(put(&mut h, r#"{"mode":"replace","data":{"x":"9"}}"#), 200);
    assert_eq!(attrs(&h), vec![("x".to_string(), "9".to_string())]);

    assert_eq!(put(&mut h, r#"{"data":{}}"#), 400);
    assert_eq!(put(&mut h, r#"{"mode":"sideways","data":{"a":"1"}}"#), 400);
    assert_eq!(put(&mut h, "not json"), 400);
    let long_key = format!(r#"{{"data":{{"{}":"v"}}}}"#, "k".repeat(129));
    let r = h.put("/configData", &long_key);
    assert_eq!(r.status, 400);
    assert_eq!(
        json(&r)["errorCode"],
        "hawkbit.server.error.repo.invalidTargetAttributes"
    );
    assert_eq!(put(&mut h, r#"{"data":{"tab":"a\tb"}}"#), 400);

    let small = ServerConfig {
        max_attributes: 2,
        ..ServerConfig::default()
    };
    let mut h = H::with_config(small);
    assert_eq!(put(&mut h, r#"{"data":{"a":"1","b":"2"}}"#), 200);
    let r = h.put("/configData", r#"{"data":{"c":"3"}}"#);
    assert_eq!(r.status, 429);
    assert_eq!(
        json(&r)["errorCode"],
        "hawkbit.server.error.quota.tooManyEntries"
    );
    assert_eq!(
        h.s.attributes(CID).map(|a| a.len()),
        Some(2),
        "refused update is not applied"
    );

    let r = h.send(
        H::with_body(Method::Put, "/configData", r#"{"data":{"a":"1"}}"#)
            .clone_to(format!("{ORIGIN}/DEFAULT/controller/v1/ghost/configData")),
    );
    assert_eq!(r.status, 404);
    assert_eq!(h.s.target_count(), 1);
}

trait CloneTo {
    fn clone_to(self, url: String) -> Request;
}

impl CloneTo for Request {
    fn clone_to(mut self, url: String) -> Request {
        self.url = url;
        self
    }
}

#[test]
fn same_inputs_give_same_outputs() {
    let run = || {
        let config = ServerConfig {
            polling_jitter: 0.3,
            ..ServerConfig::default()
        };
        let mut h = H::with_config(config);
        let mut log = Vec::new();
        let a = h.assign(ActionType::Soft);
        for i in 0..5 {
            h.advance(Span::secs(7 * i));
            log.push(h.get(""));
            log.push(h.get(&format!("/deploymentBase/{a}?actionHistory=3")));
            log.push(h.feedback(a, "proceeding", "none"));
        }
        let b = h.assign(ActionType::Forced);
        log.push(h.get(""));
        log.push(h.cancel_feedback(a, "closed", "success"));
        log.push(h.get(""));
        log.push(h.feedback(b, "closed", "success"));
        (log, h.events())
    };
    assert_eq!(run(), run());
}

#[test]
fn request_controller_id_reads_the_path_like_dispatch() {
    use super::super::request_controller_id;
    let id = |url: &str| request_controller_id(&Request::new(Method::Get, url));
    assert_eq!(id(&H::url("")), Some(CID.to_string()));
    assert_eq!(id(&H::url("/deploymentBase/3?c=1")), Some(CID.to_string()));
    assert_eq!(
        id("http://h/DEFAULT/controller/v1/dev%201"),
        Some("dev 1".into())
    );
    assert_eq!(id("http://h/DEFAULT/controller/v1/"), None);
    assert_eq!(id("http://h/DEFAULT/other/v1/dev"), None);
    assert_eq!(id("http://h/DEFAULT/controller/v1/bad%zz"), None);
}
