//! The goosebit management adapter against recorded goosebit 0.2.12
//! exchanges (served by wiremock, so this runs without goosebit): login
//! form and Bearer token, the `.swu` upload, the feed + rollout, cancel by
//! deleting the rollout, what `recorded` reads, the refusals, and that
//! neither the password nor the token shows in an error. The same adapter
//! runs against a real goosebit in `tests/goosebit.rs`.

use bytes::Bytes;
use fleetsim::management::{
    AdapterError, FleetInfo, Manager, ManagerConfig, Order, OrderKind, Recorded, Secret, ServerApi,
    Upload,
};
use fleetsim::time::Span;
use serde_json::{json, Value};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const PASSWORD: &str = "pw-9f8e7d";
const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl";

fn config(url: &str, password: &str) -> ManagerConfig {
    ManagerConfig {
        api: ServerApi::Goosebit,
        url: url.to_string(),
        user: "admin".into(),
        password: Secret::new(password),
        ca_pem: None,
    }
}

fn order(kind: OrderKind, targets: &[&str]) -> Order {
    Order {
        index: 0,
        name: "fw-2.0".into(),
        version: "2.0.0".into(),
        artifacts: vec![Upload {
            filename: "fw.bin".into(),
            bytes: Bytes::from_static(b"firmware bytes"),
        }],
        kind,
        weight: None,
        window: None,
        targets: targets.iter().map(|s| s.to_string()).collect(),
        confirmation_required: None,
    }
}

async fn goosebit() -> MockServer {
    let s = MockServer::start().await;
    let bearer = format!("Bearer {TOKEN}");
    Mock::given(method("POST"))
        .and(path("/login"))
        .and(body_string_contains(format!("password={PASSWORD}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": TOKEN, "token_type": "bearer"})),
        )
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/login"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"detail": "Invalid username or password"})),
        )
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/rollouts"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"rollouts": []})))
        .mount(&s)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/software"))
        .and(header("authorization", bearer.as_str()))
        .and(body_string_contains(
            "filename=\"fleetsim-0-fw-2.0-2.0.0.swu\"",
        ))
        .and(body_string_contains("version = \"2.0.0\";"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 4})))
        .mount(&s)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/devices"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&s)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/rollouts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true, "id": 9})))
        .mount(&s)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/rollouts"))
        .and(body_string_contains("\"ids\":[9]"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&s)
        .await;
    let row = |id: &str, sw: Option<&str>, feed: &str, state: &str| {
        json!({"id": id, "name": null, "sw_version": sw, "assigned_software": null,
               "hardware": {"id": 1, "model": "default", "revision": "default"},
               "feed": feed, "progress": null, "last_state": state, "update_mode": "Rollout",
               "force_update": false, "last_ipv4": "127.0.0.1", "last_ipv6": null,
               "last_seen": 2, "auth_token": null, "polling": true, "last_ip": "127.0.0.1"})
    };
    let devices = json!({"devices": [
        row("d1", Some("2.0.0"), "fleetsim-0", "Finished"),
        row("d2", None, "fleetsim-0", "Running"),
        row("d3", None, "fleetsim-0", "Error"),
        row("d4", None, "default", "Registered"),
    ]});
    Mock::given(method("GET"))
        .and(path("/api/v1/devices"))
        .respond_with(ResponseTemplate::new(200).set_body_json(devices))
        .mount(&s)
        .await;
    s
}

fn fleet(ids: &[&str], token: Option<&str>) -> FleetInfo {
    FleetInfo {
        tenant: "DEFAULT".into(),
        controller_ids: ids.iter().map(|s| s.to_string()).collect(),
        polling: Span::secs(5),
        gateway_token: token.map(Secret::new),
        target_tokens: Vec::new(),
    }
}

#[tokio::test]
async fn campaign_is_uploaded_as_swu_rolled_out_on_its_feed_and_read_back() {
    let s = goosebit().await;
    let ids = ["d1", "d2", "d3", "d4", "d5"];
    let mut m = Manager::connect(&config(&s.uri(), PASSWORD))
        .await
        .expect("login");
    m.prepare(&fleet(&ids, None)).await.expect("prepare");
    m.start(&order(OrderKind::Forced, &ids[..4]))
        .await
        .expect("start");
    m.tick().await.expect("tick");
    let recorded = m
        .recorded(0, &ids.map(String::from))
        .await
        .expect("recorded");
    // goosebit names no actions.
    assert!(recorded.iter().all(|v| v.action.is_none()));
    let recorded: Vec<Recorded> = recorded.iter().map(|v| v.recorded).collect();
    assert_eq!(
        recorded,
        [
            Recorded::Updated,
            Recorded::InProgress,
            Recorded::Failed,
            Recorded::NotAssigned,
            Recorded::NotAssigned
        ]
    );
    m.cancel(0).await.expect("cancel deletes the rollout");
    let after = m
        .recorded(0, &ids.map(String::from))
        .await
        .expect("recorded");
    assert_eq!(after[1].recorded, Recorded::Canceled);

    let requests = s.received_requests().await.expect("recording on");
    let devices_put = requests
        .iter()
        .find(|r| r.method.as_str() == "PUT" && r.url.path() == "/api/v1/devices")
        .expect("devices put into the feed");
    let body: Value = serde_json::from_slice(&devices_put.body).expect("json");
    assert_eq!(
        body,
        json!({"devices": ["d1", "d2", "d3", "d4"], "feed": "fleetsim-0", "software": "rollout"})
    );
    let rollout = requests
        .iter()
        .find(|r: &&Request| r.method.as_str() == "PUT" && r.url.path() == "/api/v1/rollouts")
        .expect("rollout created");
    let body: Value = serde_json::from_slice(&rollout.body).expect("json");
    assert_eq!(
        body,
        json!({"name": "fw-2.0", "feed": "fleetsim-0", "software_id": 4})
    );
    let upload = requests
        .iter()
        .find(|r| r.url.path() == "/api/v1/software")
        .expect("upload");
    let text = String::from_utf8_lossy(&upload.body);
    assert!(
        text.contains("070702") && text.contains("sw-description"),
        "a newc .swu"
    );
}

#[tokio::test]
async fn wrong_password_is_refused_without_showing_it() {
    let s = goosebit().await;
    let Err(err) = Manager::connect(&config(&s.uri(), "wrong-pw-123")).await else {
        panic!("login must fail");
    };
    assert!(
        matches!(err, AdapterError::Refused { status: 401, .. }),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong-pw-123"));
}

#[tokio::test]
async fn what_goosebit_cannot_do_is_refused_as_unsupported() {
    let s = goosebit().await;
    let mut m = Manager::connect(&config(&s.uri(), PASSWORD))
        .await
        .expect("login");
    let err = m
        .prepare(&fleet(&["d1"], Some("gw-secret")))
        .await
        .unwrap_err();
    assert!(matches!(err, AdapterError::Unsupported(_)), "{err}");
    assert!(!err.to_string().contains("gw-secret"));
    for kind in [
        OrderKind::Soft,
        OrderKind::DownloadOnly,
        OrderKind::TimeForced {
            force_after: Span::secs(60),
        },
    ] {
        let err = m.start(&order(kind, &["d1"])).await.unwrap_err();
        assert!(err.to_string().contains("only does forced"), "{err}");
    }
    let err = m.cancel(3).await.unwrap_err();
    assert!(matches!(err, AdapterError::Unsupported(_)), "{err}");
}

#[tokio::test]
async fn a_token_echoed_in_an_error_answer_is_redacted() {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/login"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": TOKEN, "token_type": "bearer"})),
        )
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/rollouts"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_string(format!("boom: Bearer {TOKEN} password {PASSWORD}")),
        )
        .mount(&s)
        .await;
    let mut m = Manager::connect(&config(&s.uri(), PASSWORD))
        .await
        .expect("login");
    let err = m
        .prepare(&fleet(&["d1"], None))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("500"), "{err}");
    assert!(!err.contains(TOKEN) && !err.contains(PASSWORD), "{err}");
    assert!(err.contains("<redacted>"), "{err}");
}
