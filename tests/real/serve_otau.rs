//! OTAU under `fleetsim serve` over real sockets: long polls held open and
//! woken by a manifest published through the admin route, 304 on timeout,
//! CIK and form errors, ACK without re-delivery, statuses, content with
//! `info=true` and `Range`, and 200 concurrent held polls woken by one
//! publish. Every server binds port 0; every wait is bounded.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use fleetsim::http_server::{start, Running, ServeOptions};
use fleetsim::protocol::otau::wire::{form_decode, form_encode};
use fleetsim::server::otau::cik_for;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// Upper bound of every wait in these tests.
const BOUND: Duration = Duration::from_secs(30);
/// `admin:admin`, the default Management API credentials.
pub(crate) const ADMIN: (&str, &str) = ("authorization", "Basic YWRtaW46YWRtaW4=");
const ALIAS: &str = "/onep:v1/stack/alias";
const POLL: &str = "/onep:v1/stack/alias?config_otau";
const MANIFEST: &str = r#"{"version":"1.0.2","type":"URL_LIST","payload":["http://x/a.bin"]}"#;

pub(crate) async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(BOUND, f).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: no result within {BOUND:?}"),
    }
}

async fn serve() -> Running {
    let opts = ServeOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        scenario: None,
        tls: None,
        time_scale: 1.0,
        mqtt: Default::default(),
        ..Default::default()
    };
    bounded("start", start(opts)).await.expect("server starts")
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    pub(crate) fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("<not UTF-8>")
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

pub(crate) struct Client {
    sender: SendRequest<Full<Bytes>>,
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
        Client { sender }
    }

    /// Sends a request; `Host: otau.test` unless `headers` name another.
    pub(crate) async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
            req = req.header("host", "otau.test");
        }
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

    pub(crate) async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send(Method::GET, path, headers, Bytes::new()).await
    }
}

/// A long poll of device `n` with `Request-Timeout: timeout_ms`, on its own connection.
async fn long_poll(addr: SocketAddr, n: u64, timeout_ms: u64) -> Answer {
    let cik = cik_for(n);
    let timeout = timeout_ms.to_string();
    let headers = [
        ("x-exosite-cik", cik.as_str()),
        ("request-timeout", timeout.as_str()),
        ("if-modified-since", "0"),
    ];
    Client::connect(addr).await.get(POLL, &headers).await
}

pub(crate) async fn publish(admin: &mut Client, device: Option<u64>, manifest: &str) -> StatusCode {
    let path = match device {
        Some(n) => format!("/fleetsim/otau/devices/{n}/config_otau"),
        None => "/fleetsim/otau/config_otau".to_string(),
    };
    let body = manifest.to_string();
    admin.send(Method::PUT, &path, &[ADMIN], body).await.status
}

async fn held_polls(admin: &mut Client) -> u64 {
    let stats = admin.get("/fleetsim/otau/stats", &[ADMIN]).await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.text());
    stats.json()["held_polls"].as_u64().unwrap_or(u64::MAX)
}

/// Waits (bounded) until the server holds `n` long polls.
async fn until_held(admin: &mut Client, n: u64) {
    bounded("polls held", async {
        while held_polls(admin).await != n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

pub(crate) fn config_otau(answer: &Answer) -> String {
    let pairs = form_decode(answer.text()).expect("form body");
    let value = pairs.into_iter().find(|(k, _)| k == "config_otau");
    value.expect("config_otau in the body").1
}

#[tokio::test]
async fn held_poll_is_woken_by_a_publish_then_acked_and_not_redelivered() {
    let server = serve().await;
    let addr = server.local_addr;
    let mut admin = Client::connect(addr).await;

    let poll = tokio::spawn(long_poll(addr, 7, 5000));
    until_held(&mut admin, 1).await;
    assert!(!poll.is_finished(), "the poll is held, not answered");
    assert_eq!(
        publish(&mut admin, Some(7), MANIFEST).await,
        StatusCode::NO_CONTENT
    );
    let got = bounded("woken poll", poll).await.expect("poll task");
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_eq!(config_otau(&got), MANIFEST);
    assert!(
        got.header("last-modified").ends_with(" GMT"),
        "{:?}",
        got.headers
    );
    assert_eq!(held_polls(&mut admin).await, 0);

    // ACK (the seed writes the raw body back), then a status.
    let cik = cik_for(7);
    let device = [("x-exosite-cik", cik.as_str())];
    let mut dev = Client::connect(addr).await;
    let ack = dev
        .send(Method::POST, ALIAS, &device, got.body.clone())
        .await;
    assert_eq!(ack.status, StatusCode::NO_CONTENT);
    let status = r#"{"version": "1.0.2", "status": "INIT", "message": ""}"#;
    let form = form_encode(&[("otau_in", status)]);
    let wrote = dev.send(Method::POST, ALIAS, &device, form).await;
    assert_eq!(wrote.status, StatusCode::NO_CONTENT);

    let cik_route = admin.get("/fleetsim/otau/devices/7/cik", &[ADMIN]).await;
    assert_eq!(cik_route.text(), cik);
    let recorded = admin
        .get("/fleetsim/otau/devices/7/otau_in", &[ADMIN])
        .await;
    assert_eq!(recorded.status, StatusCode::OK);
    let doc = recorded.json();
    assert_eq!(doc["statuses"][0]["value"], status);
    assert!(doc["acked_at_ms"].is_u64(), "{doc}");

    // Acknowledged: a new poll waits and times out instead of re-delivering.
    let again = long_poll(addr, 7, 300).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    bounded("shutdown", server.shutdown()).await;
}

#[tokio::test]
async fn unchanged_poll_times_out_and_bad_requests_are_refused() {
    let server = serve().await;
    let addr = server.local_addr;
    let timed_out = long_poll(addr, 1, 300).await;
    assert_eq!(timed_out.status, StatusCode::NOT_MODIFIED);

    let mut c = Client::connect(addr).await;
    let no_cik = c.get(POLL, &[("request-timeout", "300")]).await;
    assert_eq!(no_cik.status, StatusCode::UNAUTHORIZED);
    let wrong = c.get(POLL, &[("x-exosite-cik", &"0".repeat(40))]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let cik = cik_for(1);
    let device = [("x-exosite-cik", cik.as_str())];
    let malformed = c.send(Method::POST, ALIAS, &device, "%zz=&&").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);

    // Admin: credentials, unknown device, body checks.
    let path = "/fleetsim/otau/devices/1/config_otau";
    let unauth = c.send(Method::PUT, path, &[], MANIFEST).await;
    assert_eq!(unauth.status, StatusCode::UNAUTHORIZED);
    let unknown = "/fleetsim/otau/devices/10000/config_otau";
    let missing = c.send(Method::PUT, unknown, &[ADMIN], MANIFEST).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let binary = c
        .send(Method::PUT, path, &[ADMIN], vec![0xffu8, 0xfe])
        .await;
    assert_eq!(binary.status, StatusCode::BAD_REQUEST);
    let big = c.send(Method::PUT, path, &[ADMIN], "x".repeat(65537)).await;
    assert_eq!(big.status, StatusCode::BAD_REQUEST);
    // The DDI routes still answer next to OTAU.
    let ddi = c.get("/DEFAULT/controller/v1/dev-1", &[]).await;
    assert_eq!(ddi.status, StatusCode::OK);
    bounded("shutdown", server.shutdown()).await;
}

#[tokio::test]
async fn uploaded_content_is_served_with_info_and_ranges() {
    let server = serve().await;
    let mut c = Client::connect(server.local_addr).await;
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let ctype = ("content-type", "application/x-firmware");
    let put = c
        .send(
            Method::PUT,
            "/fleetsim/otau/content/fw%201.bin",
            &[ADMIN, ctype],
            data.clone(),
        )
        .await;
    assert_eq!(put.status, StatusCode::NO_CONTENT);

    let cik = cik_for(2);
    let device = ("x-exosite-cik", cik.as_str());
    let info = c
        .get("/provision/download?id=fw%201.bin&info=true", &[device])
        .await;
    assert_eq!(info.status, StatusCode::OK);
    let line = info.text().trim().to_string();
    let sha = fleetsim::artifact::hash_bytes(&data).sha256;
    assert!(line.starts_with("application/x-firmware,100000,"), "{line}");
    assert!(line.ends_with(&format!("sha256={sha}")), "{line}");

    let whole = c.get("/provision/download?id=fw%201.bin", &[device]).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert!(whole.body[..] == data[..]);
    let range = [device, ("range", "bytes=1000-1999")];
    let part = c.get("/provision/download?id=fw%201.bin", &range).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.header("content-range"), "bytes 1000-1999/100000");
    assert!(part.body[..] == data[1000..2000]);
    let tail = [device, ("range", "bytes=99990-")];
    let part = c.get("/provision/download?id=fw%201.bin", &tail).await;
    assert!(part.body[..] == data[99_990..]);
    bounded("shutdown", server.shutdown()).await;
}

#[tokio::test]
async fn one_publish_wakes_200_held_polls() {
    let server = serve().await;
    let addr = server.local_addr;
    let mut admin = Client::connect(addr).await;
    let polls: Vec<_> = (0..200)
        .map(|n| tokio::spawn(long_poll(addr, n, 60_000)))
        .collect();
    until_held(&mut admin, 200).await;
    assert_eq!(
        publish(&mut admin, None, MANIFEST).await,
        StatusCode::NO_CONTENT
    );
    for poll in polls {
        let got = bounded("woken poll", poll).await.expect("poll task");
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(config_otau(&got), MANIFEST);
    }
    assert_eq!(held_polls(&mut admin).await, 0);
    bounded("shutdown", server.shutdown()).await;
}

#[tokio::test]
async fn a_client_that_hangs_up_leaves_no_held_poll_behind() {
    let server = serve().await;
    let addr = server.local_addr;
    let mut admin = Client::connect(addr).await;
    let poll = tokio::spawn(long_poll(addr, 3, 60_000));
    until_held(&mut admin, 1).await;
    poll.abort();
    until_held(&mut admin, 0).await;
    // Shutdown answers held polls at once instead of waiting out their timeout.
    let held = tokio::spawn(long_poll(addr, 4, 60_000));
    until_held(&mut admin, 1).await;
    bounded("shutdown", server.shutdown()).await;
    let got = bounded("poll at shutdown", held).await.expect("poll task");
    assert_eq!(got.status, StatusCode::NOT_MODIFIED);
}
