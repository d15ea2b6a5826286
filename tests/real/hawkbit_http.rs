//! A hawkBit user's HTTP toolkit for tests that drive `fleetsim serve` only
//! from outside: start it on port 0 with Management API credentials, call
//! `/rest/v1` with Basic auth and DDI with the gateway token, upload a module
//! and build a distribution set. Every wait is bounded. Shared by
//! `serve_mgmt` and the `ddi_conformance` rows.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use fleetsim::artifact::hash_bytes;
use fleetsim::http_server::{start_with_credentials, MgmtCredentials, Running, ServeOptions};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;

pub(crate) const BOUND: Duration = Duration::from_secs(30);
/// `ops:secret` in base64.
pub(crate) const AUTH: &str = "Basic b3BzOnNlY3JldA==";
pub(crate) const GATEWAY: &str = "GatewayToken gw-key";

pub(crate) async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(BOUND, f).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: no result within {BOUND:?}"),
    }
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("JSON body ({e}): {:?}", self.body))
    }
}

pub(crate) struct Client {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Client {
    pub(crate) async fn connect(addr: SocketAddr) -> Client {
        let tcp = bounded("connect", TcpStream::connect(addr))
            .await
            .expect("connect");
        let (sender, conn) = bounded("handshake", http1::handshake(TokioIo::new(tcp)))
            .await
            .expect("HTTP handshake");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Client {
            sender,
            host: addr.to_string(),
        }
    }

    pub(crate) async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Full::new(body.into())).expect("valid request");
        let resp = bounded("request", self.sender.send_request(req))
            .await
            .expect("an answer");
        let (parts, body) = resp.into_parts();
        let body = bounded("body", body.collect())
            .await
            .expect("body")
            .to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// A Management API call with JSON in and out.
    pub(crate) async fn mgmt(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let headers = [
            ("authorization", AUTH),
            ("content-type", "application/json"),
        ];
        let a = self
            .send(method, &format!("/rest/v1{path}"), &headers, bytes)
            .await;
        let v = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
        (a.status, v)
    }

    /// A DDI call as a device with the gateway token.
    pub(crate) async fn ddi(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut all = vec![
            ("authorization", GATEWAY),
            ("content-type", "application/json"),
        ];
        all.extend_from_slice(headers);
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        self.send(method, path, &all, bytes).await
    }

    pub(crate) async fn root(&mut self, cid: &str) -> Value {
        let a = self
            .ddi(
                Method::GET,
                &format!("/DEFAULT/controller/v1/{cid}"),
                &[],
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK);
        a.json()
    }
}

/// `fleetsim serve` with no scenario, on a free loopback port, `ops:secret`.
pub(crate) async fn serve() -> Running {
    let opts = ServeOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..ServeOptions::default()
    };
    let creds = MgmtCredentials {
        user: "ops".into(),
        password: "secret".into(),
    };
    bounded("start", start_with_credentials(opts, creds))
        .await
        .expect("server starts")
}

// The path and query of a link, as a device would request it.
pub(crate) use fleetsim::conform::path_of;

/// A `closed` deployment feedback with the given `finished` result.
pub(crate) fn closed(finished: &str) -> Value {
    json!({ "status": { "execution": "closed", "result": { "finished": finished }, "details": ["done"] } })
}

/// Creates a module with `data` as `fw.bin` and a set with it; (module id, set id).
pub(crate) async fn module_and_set(c: &mut Client, version: &str, data: &[u8]) -> (u64, u64) {
    let (st, sm) = c
        .mgmt(
            Method::POST,
            "/softwaremodules",
            Some(json!([{ "name": "fw", "version": version, "type": "os", "vendor": "acme" }])),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{sm}");
    let sm = sm[0]["id"].as_u64().expect("module id");
    let hashes = hash_bytes(data);
    let mut body = b"--fleetsim-upload\r\nContent-Disposition: form-data; name=\"file\"; filename=\"fw.bin\"\r\n\
Content-Type: application/octet-stream\r\n\r\n"
        .to_vec();
    body.extend_from_slice(data);
    body.extend_from_slice(b"\r\n--fleetsim-upload--\r\n");
    let path = format!(
        "/rest/v1/softwaremodules/{sm}/artifacts?sha1sum={}&md5sum={}",
        hashes.sha1, hashes.md5
    );
    let headers = [
        ("authorization", AUTH),
        (
            "content-type",
            "multipart/form-data; boundary=fleetsim-upload",
        ),
    ];
    let up = c.send(Method::POST, &path, &headers, body).await;
    assert_eq!(up.status, StatusCode::CREATED, "{:?}", up.body);
    assert_eq!(up.json()["hashes"]["sha256"], hashes.sha256.as_str());
    let set =
        json!([{ "name": "fw", "version": version, "type": "os", "modules": [{ "id": sm }] }]);
    let (st, ds) = c.mgmt(Method::POST, "/distributionsets", Some(set)).await;
    assert_eq!(st, StatusCode::CREATED, "{ds}");
    (sm, ds[0]["id"].as_u64().expect("set id"))
}

/// `POST /targets` creating `cid`, expecting 201 (or 409 when `existing_ok`
/// and it exists already); the answer (the created targets).
pub(crate) async fn create_target(c: &mut Client, cid: &str, existing_ok: bool) -> Value {
    let body = json!([{ "controllerId": cid }]);
    let (st, out) = c.mgmt(Method::POST, "/targets", Some(body)).await;
    let conflict = existing_ok && st == StatusCode::CONFLICT;
    assert!(st == StatusCode::CREATED || conflict, "{st}: {out}");
    out
}

/// `POST /distributionsets/{ds}/assignedTargets` with `assignments` (each
/// `{ "id": cid, "type": … }`), expecting 200; the answer (`assigned`,
/// `assignedActions`).
pub(crate) async fn assign_set(c: &mut Client, ds: u64, assignments: Value) -> Value {
    let path = format!("/distributionsets/{ds}/assignedTargets");
    let (st, out) = c.mgmt(Method::POST, &path, Some(assignments)).await;
    assert_eq!(st, StatusCode::OK, "{out}");
    out
}

/// A started server and a client whose tenant accepts the gateway token `gw-key`.
pub(crate) async fn serve_with_gateway_token() -> (Running, Client) {
    let server = serve().await;
    let mut c = Client::connect(server.local_addr).await;
    let config = json!({ "authentication.gatewaytoken.enabled": true,
                         "authentication.gatewaytoken.key": "gw-key" });
    let (st, body) = c.mgmt(Method::PUT, "/system/configs", Some(config)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    (server, c)
}
