//! Rows: several tenants behind one `serve` (ddi.md §0, §2). In hawkBit every
//! target, action and tenant setting belongs to one tenant; a DDI path names
//! it, a Management API user is bound to it, and a tenant the server does not
//! host is refused like wrong credentials.

use std::net::SocketAddr;

use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::hawkbit_http::{bounded, Answer, Client, AUTH, GATEWAY};
use fleetsim::http_server::{start_with_credentials, MgmtCredentials, Running, ServeOptions};

/// `ACME:secret`: the Management API user `serve` binds to tenant ACME.
const ACME_AUTH: &str = "Basic QUNNRTpzZWNyZXQ=";

/// `serve` hosting DEFAULT and ACME (a scenario whose second group names
/// ACME), gateway token `gw-key` in both, Management API `ops:secret`.
async fn serve_two_tenants() -> (Running, Client) {
    let yaml = "name: two-tenants\nduration: 1d\nserver: { gateway_token: gw-key }\nfleet:\n  \
- { kind: always_on, count: 1 }\n  - { kind: always_on, count: 1, tenant: ACME, id_prefix: acme- }\n";
    let scenario = fleetsim::scenario::load_str("test.yaml", yaml).expect("valid scenario");
    let opts = ServeOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        scenario: Some(scenario),
        ..ServeOptions::default()
    };
    let creds = MgmtCredentials {
        user: "ops".into(),
        password: "secret".into(),
    };
    let server = bounded("start", start_with_credentials(opts, creds))
        .await
        .expect("server starts");
    let c = Client::connect(server.local_addr).await;
    (server, c)
}

async fn poll(c: &mut Client, tenant: &str, cid: &str) -> Answer {
    let path = format!("/{tenant}/controller/v1/{cid}");
    c.send(Method::GET, &path, &[("authorization", GATEWAY)], "")
        .await
}

async fn mgmt_as(c: &mut Client, auth: &str, method: Method, path: &str, body: Value) -> Answer {
    let headers = [
        ("authorization", auth),
        ("content-type", "application/json"),
    ];
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    c.send(method, &format!("/rest/v1{path}"), &headers, body)
        .await
}

/// Row `tenancy::isolated` — tenants share nothing: a device registered by
/// polling under `/ACME/` is a target of ACME only (the DEFAULT user's
/// Management API answers 404 for it, ACME's user 200), and a tenant
/// setting (`pollingTime`) set by ACME's user is what ACME's devices are
/// told, not DEFAULT's.
#[tokio::test]
async fn isolated() {
    let (_server, mut c) = serve_two_tenants().await;
    assert_eq!(poll(&mut c, "ACME", "edge-1").await.status, StatusCode::OK);
    assert_eq!(
        poll(&mut c, "DEFAULT", "home-1").await.status,
        StatusCode::OK
    );
    let get = |auth, cid: &str| (auth, format!("/targets/{cid}"));
    for (auth, path, want) in [
        (get(ACME_AUTH, "edge-1"), StatusCode::OK),
        (get(AUTH, "edge-1"), StatusCode::NOT_FOUND),
        (get(AUTH, "home-1"), StatusCode::OK),
        (get(ACME_AUTH, "home-1"), StatusCode::NOT_FOUND),
    ]
    .map(|((a, p), w)| (a, p, w))
    {
        let a = mgmt_as(&mut c, auth, Method::GET, &path, Value::Null).await;
        assert_eq!(a.status, want, "{path} as {auth}");
    }
    let set = json!({ "value": "00:01:00" });
    let a = mgmt_as(
        &mut c,
        ACME_AUTH,
        Method::PUT,
        "/system/configs/pollingTime",
        set,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let sleep = |a: Answer| a.json()["config"]["polling"]["sleep"].clone();
    assert_eq!(sleep(poll(&mut c, "ACME", "edge-1").await), "00:01:00");
    assert_eq!(sleep(poll(&mut c, "DEFAULT", "home-1").await), "00:05:00");
    // An unknown Management API user belongs to no tenant: 401.
    let nobody = "Basic bm9ib2R5OnNlY3JldA=="; // nobody:secret
    let a = mgmt_as(&mut c, nobody, Method::GET, "/targets", Value::Null).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

/// Row `tenancy::unknown_tenant` — ddi.md §2: authentication is looked up per
/// tenant, so a path naming a tenant the server does not host is 401 with an
/// empty body, even with a gateway token valid in the hosted tenants, and
/// nothing is registered anywhere.
#[tokio::test]
async fn unknown_tenant() {
    let (_server, mut c) = serve_two_tenants().await;
    let a = poll(&mut c, "OTHER", "stray-1").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.body.is_empty());
    assert!(a.headers.get("www-authenticate").is_none());
    for auth in [AUTH, ACME_AUTH] {
        let a = mgmt_as(&mut c, auth, Method::GET, "/targets/stray-1", Value::Null).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
    }
}
