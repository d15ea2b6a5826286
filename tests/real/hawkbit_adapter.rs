//! The hawkBit management adapter against recorded hawkBit exchanges.
//!
//! hawkBit itself cannot run here (a JVM and a database), so each answer
//! below is the shape hawkBit 0.x's Management API v1 gives (ddi.md §5;
//! `MgmtTargetRestApi`, `MgmtSoftwareModuleRestApi`,
//! `MgmtDistributionSetRestApi`, `MgmtTenantManagementRestApi`), served by
//! wiremock. The tests check what the adapter sends — paths, Basic
//! authorization, bodies, batching — and how it reads the answers. The same
//! adapter runs end to end against `fleetsim serve` in `tests/serve_mgmt.rs`.

use bytes::Bytes;
use fleetsim::artifact::hash_bytes;
use fleetsim::management::{
    AdapterError, FleetInfo, Manager, ManagerConfig, Order, OrderKind, OrderWindow, Recorded,
    Secret, ServerApi, Upload,
};
use fleetsim::time::Span;
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// `admin:admin`, base64.
const BASIC: &str = "Basic YWRtaW46YWRtaW4=";
/// `createdAt` of the distribution set: the server's clock.
const SERVER_NOW: u64 = 1_795_458_600_000;

fn config(url: &str, password: &str) -> ManagerConfig {
    ManagerConfig {
        api: ServerApi::Hawkbit,
        url: url.to_string(),
        user: "admin".into(),
        password: Secret::new(password),
        ca_pem: None,
    }
}

fn action_link(base: &str, target: &str, id: u64) -> Value {
    json!({ "id": id, "_links": { "self": { "href": format!("{base}/rest/v1/targets/{target}/actions/{id}") } } })
}

async fn hawkbit() -> MockServer {
    let s = MockServer::start().await;
    let base = s.uri();
    Mock::given(method("GET"))
        .and(path("/rest/v1/targets"))
        .and(header("authorization", BASIC))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"content":[],"total":0,"size":0})),
        )
        .mount(&s)
        .await;
    Mock::given(method("PUT"))
        .and(path("/rest/v1/system/configs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/v1/targets"))
        .respond_with(|req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(json!([]));
            let created: Vec<Value> = body
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| json!({"controllerId": t["controllerId"], "name": t["name"], "securityToken": "generated", "updateStatus": "unknown"}))
                .collect();
            ResponseTemplate::new(201).set_body_json(created)
        })
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/v1/softwaremodules"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!([
            {"id": 7, "name": "fw-2.0-firmware", "version": "2.0.0", "type": "os", "createdAt": SERVER_NOW - 5, "_links": {"self": {"href": format!("{base}/rest/v1/softwaremodules/7")}}}
        ])))
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/v1/softwaremodules/7/artifacts"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": 1, "providedFilename": "fw.bin"})),
        )
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/v1/distributionsets"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!([
            {"id": 3, "name": "fw-2.0", "version": "2.0.0", "createdAt": SERVER_NOW, "modules": [{"id": 7}]}
        ])))
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/v1/distributionsets/3/assignedTargets"))
        .respond_with(move |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(json!([]));
            let ids: Vec<String> = body
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["id"].as_str().map(String::from))
                .collect();
            let actions: Vec<Value> = ids
                .iter()
                .enumerate()
                .map(|(i, t)| action_link(&base, t, 100 + i as u64))
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({
                "assigned": ids.len(), "alreadyAssigned": 0, "total": ids.len(), "assignedActions": actions
            }))
        })
        .mount(&s)
        .await;
    Mock::given(method("DELETE"))
        .and(path_regex(r"^/rest/v1/targets/[^/]+/actions/\d+$"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&s)
        .await;
    let base = s.uri();
    Mock::given(method("GET"))
        .and(path_regex(r"^/rest/v1/targets/[^/]+/actions$"))
        .respond_with(move |req: &Request| {
            let target = req.url.path().split('/').nth(4).unwrap_or("").to_string();
            let (id, detail) = match target.as_str() {
                "dev-00000" => (100, "finished"),
                "dev-00001" => (101, "error"),
                _ => (102, "running"),
            };
            ResponseTemplate::new(200).set_body_json(json!({
                "content": [{
                    "id": id, "type": "update", "status": if detail == "running" { "pending" } else { "finished" },
                    "detailStatus": detail, "forceType": "forced",
                    "_links": {
                        "self": {"href": format!("{base}/rest/v1/targets/{target}/actions/{id}")},
                        "distributionset": {"href": format!("{base}/rest/v1/distributionsets/3"), "name": "fw-2.0:2.0.0"}
                    }
                }],
                "total": 1, "size": 1
            }))
        })
        .mount(&s)
        .await;
    s
}

fn order(targets: usize, kind: OrderKind, window: Option<(Span, Span)>) -> Order {
    Order {
        index: 0,
        name: "fw-2.0".into(),
        version: "2.0.0".into(),
        artifacts: vec![Upload {
            filename: "fw.bin".into(),
            bytes: Bytes::from((0..10_000u32).map(|i| i as u8).collect::<Vec<u8>>()),
        }],
        kind,
        weight: Some(600),
        window: window.map(|(after, len)| OrderWindow::After(after, len)),
        targets: (0..targets).map(|n| format!("dev-{n:05}")).collect(),
        confirmation_required: None,
    }
}

async fn requests_to(s: &MockServer, m: &str, p: &str) -> Vec<Request> {
    s.received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == m && r.url.path() == p)
        .collect()
}

#[tokio::test]
async fn creates_tenant_config_targets_module_artifact_set_and_assignment() {
    let s = hawkbit().await;
    let mut m = Manager::connect(&config(&s.uri(), "admin")).await.unwrap();
    let fleet = FleetInfo {
        tenant: "DEFAULT".into(),
        controller_ids: (0..2500).map(|n| format!("dev-{n:05}")).collect(),
        polling: Span::secs(30),
        gateway_token: Some(Secret::new("gw-secret")),
        target_tokens: Vec::new(),
    };
    m.prepare(&fleet).await.unwrap();
    let configs = requests_to(&s, "PUT", "/rest/v1/system/configs").await;
    let body: Value = serde_json::from_slice(&configs[0].body).unwrap();
    assert_eq!(body["pollingTime"], "00:00:30");
    assert_eq!(body["authentication.gatewaytoken.enabled"], true);
    assert_eq!(body["authentication.gatewaytoken.key"], "gw-secret");
    // 2 500 targets in batches of 1 000.
    let batches = requests_to(&s, "POST", "/rest/v1/targets").await;
    let sizes: Vec<usize> = batches
        .iter()
        .map(|r| serde_json::from_slice::<Vec<Value>>(&r.body).unwrap().len())
        .collect();
    assert_eq!(sizes, [1000, 1000, 500]);
    for r in s.received_requests().await.unwrap() {
        assert_eq!(r.headers.get("authorization").unwrap(), BASIC, "{}", r.url);
    }

    let o = order(
        3,
        OrderKind::TimeForced {
            force_after: Span::minutes(10),
        },
        Some((Span::minutes(1), Span::minutes(30))),
    );
    m.start(&o).await.unwrap();
    let sm = requests_to(&s, "POST", "/rest/v1/softwaremodules").await;
    let sm: Value = serde_json::from_slice(&sm[0].body).unwrap();
    assert_eq!(sm[0]["type"], "os");
    assert_eq!(sm[0]["version"], "2.0.0");
    // The upload is multipart with the file's bytes, and names the hashes
    // hawkBit is to check.
    let up = &requests_to(&s, "POST", "/rest/v1/softwaremodules/7/artifacts").await[0];
    let h = hash_bytes(&o.artifacts[0].bytes);
    let q: Vec<(String, String)> = up
        .url
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    assert!(q.contains(&("sha1sum".into(), h.sha1.clone())));
    assert!(q.contains(&("sha256sum".into(), h.sha256.clone())));
    assert!(q.contains(&("md5sum".into(), h.md5.clone())));
    let ct = up.headers.get("content-type").unwrap().to_str().unwrap();
    assert!(ct.starts_with("multipart/form-data; boundary="));
    assert!(up
        .body
        .windows(o.artifacts[0].bytes.len())
        .any(|w| w == &o.artifacts[0].bytes[..]));
    let ds = requests_to(&s, "POST", "/rest/v1/distributionsets").await;
    let ds: Value = serde_json::from_slice(&ds[0].body).unwrap();
    assert_eq!(ds[0]["modules"], json!([{"id": 7}]));
    let assign = requests_to(&s, "POST", "/rest/v1/distributionsets/3/assignedTargets").await;
    let a: Value = serde_json::from_slice(&assign[0].body).unwrap();
    assert_eq!(a.as_array().unwrap().len(), 3);
    assert_eq!(a[0]["id"], "dev-00000");
    assert_eq!(a[0]["type"], "timeforced");
    assert_eq!(a[0]["weight"], 600);
    // Force time and window in the server's clock (the set's createdAt).
    assert_eq!(a[0]["forcetime"], SERVER_NOW + 600_000);
    // SERVER_NOW + 1 min = 2026-11-23T18:31:00Z.
    assert_eq!(
        a[0]["maintenanceWindow"]["schedule"],
        "0 31 18 23 11 ? 2026"
    );
    assert_eq!(a[0]["maintenanceWindow"]["duration"], "00:30:00");

    // Cancel deletes each assigned action.
    m.cancel(0).await.unwrap();
    let mut deleted: Vec<String> = s
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "DELETE")
        .map(|r| r.url.path().to_string())
        .collect();
    deleted.sort();
    assert_eq!(
        deleted,
        [
            "/rest/v1/targets/dev-00000/actions/100",
            "/rest/v1/targets/dev-00001/actions/101",
            "/rest/v1/targets/dev-00002/actions/102"
        ]
    );

    // What the server recorded, from each target's actions.
    let views = m.recorded(0, &o.targets).await.unwrap();
    assert!(views.iter().all(|v| v.action.is_some() && v.campaign == 0));
    let rec: Vec<Recorded> = views.iter().map(|v| v.recorded).collect();
    assert_eq!(
        rec,
        [Recorded::Updated, Recorded::Failed, Recorded::InProgress]
    );
}

#[tokio::test]
async fn refused_credentials_are_named_without_the_password() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401).set_body_string("Bad credentials for admin / hunter2-pw"),
        )
        .mount(&s)
        .await;
    let err = Manager::connect(&config(&s.uri(), "hunter2-pw"))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, AdapterError::Refused { status: 401, .. }),
        "{err}"
    );
    assert!(!err.to_string().contains("hunter2-pw"), "{err}");
    assert!(err.to_string().contains("--mgmt-password"), "{err}");
}

#[tokio::test]
async fn a_server_error_names_the_operation_and_hides_secrets() {
    let s = hawkbit().await;
    // Shadows the healthy mock: wiremock prefers the most recently mounted.
    Mock::given(method("PUT"))
        .and(path("/rest/v1/system/configs"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "errorCode": "hawkbit.server.error.internal", "message": "cannot store gw-secret-xyz"
        })))
        .with_priority(1)
        .mount(&s)
        .await;
    let mut m = Manager::connect(&config(&s.uri(), "admin")).await.unwrap();
    let err = m
        .prepare(&FleetInfo {
            tenant: "DEFAULT".into(),
            controller_ids: vec!["dev-00000".into()],
            polling: Span::secs(30),
            gateway_token: Some(Secret::new("gw-secret-xyz")),
            target_tokens: Vec::new(),
        })
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("PUT /rest/v1/system/configs: management API answered 500"),
        "{text}"
    );
    assert!(!text.contains("gw-secret-xyz"), "{text}");
}

#[tokio::test]
async fn an_unreachable_management_api_is_reported() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let err = Manager::connect(&config(&url, "admin"))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, AdapterError::Unreachable { .. }), "{err}");
}
