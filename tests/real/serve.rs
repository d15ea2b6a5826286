//! `fleetsim serve` over real sockets: HTTP behaviour of the embedded server
//! (ddi.md §0), campaigns from a scenario, downloads with Range, HTTPS with a
//! self-signed certificate, reset faults and graceful shutdown; in
//! `serve/hardening.rs`, hostile clients. Every server binds port 0; every
//! wait is bounded.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fleetsim::artifact::hash_bytes;
use fleetsim::http_server::{start, Running, ServeError, ServeOptions, TlsFiles};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Hostile clients: limits, timeouts, ids (issue 17).
#[path = "serve/hardening.rs"]
mod hardening;

/// Upper bound of every wait in these tests.
const BOUND: Duration = Duration::from_secs(30);

async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(BOUND, f).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: no result within {BOUND:?}"),
    }
}

fn scenario(yaml: &str) -> fleetsim::scenario::Scenario {
    fleetsim::scenario::load_str("test.yaml", yaml).expect("test scenario is valid")
}

async fn serve(scenario: Option<fleetsim::scenario::Scenario>, time_scale: f64) -> Running {
    let opts = ServeOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        scenario,
        tls: None,
        time_scale,
        mqtt: Default::default(),
        ..Default::default()
    };
    bounded("start", start(opts)).await.expect("server starts")
}

/// An answer, body read in full.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// One HTTP/1.1 connection, kept alive across requests.
struct Client {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Client {
    async fn over<T>(io: T, host: &str) -> Client
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = bounded("handshake", http1::handshake(TokioIo::new(io)))
            .await
            .expect("HTTP handshake");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Client {
            sender,
            host: host.to_string(),
        }
    }

    async fn connect(addr: SocketAddr, host: &str) -> Client {
        let tcp = bounded("connect", TcpStream::connect(addr))
            .await
            .expect("connect");
        Client::over(tcp, host).await
    }

    async fn try_send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> hyper::Result<Answer> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Full::new(body.into())).expect("valid request");
        let resp = bounded("request", self.sender.send_request(req)).await?;
        let (parts, body) = resp.into_parts();
        let body = bounded("body", body.collect()).await?.to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Answer {
        self.try_send(method, path, headers, body)
            .await
            .expect("an answer")
    }

    async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send(Method::GET, path, headers, Bytes::new()).await
    }
}

/// Path and query of an absolute link, after checking it points back to `origin`.
fn path_of<'a>(href: &'a str, origin: &str) -> &'a str {
    let path = href.strip_prefix(origin);
    path.unwrap_or_else(|| panic!("link {href} does not start with {origin}"))
}

const ROOT: &str = "/DEFAULT/controller/v1/dev-1";

#[tokio::test]
async fn root_poll_speaks_ddi_http_over_one_kept_alive_connection() {
    let server = serve(None, 1.0).await;
    let mut c = Client::connect(server.local_addr, "devices.example:1234").await;

    let root = c.get(ROOT, &[]).await;
    assert_eq!(root.status, StatusCode::OK);
    assert_eq!(root.header("content-type"), "application/hal+json");
    let etag = root.header("etag").to_string();
    assert!(etag.starts_with('"'), "ETag {etag:?}");
    let doc = root.json();
    assert_eq!(doc["config"]["polling"]["sleep"], "00:05:00");
    let config = doc["_links"]["configData"]["href"].as_str().unwrap_or("");
    assert_eq!(
        config,
        "http://devices.example:1234/DEFAULT/controller/v1/dev-1/configData"
    );

    let same = c.get(ROOT, &[("if-none-match", &etag)]).await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    assert!(same.body.is_empty());
    let json = c.get(ROOT, &[("accept", "application/json")]).await;
    assert_eq!(json.header("content-type"), "application/json");

    let head = c.send(Method::HEAD, ROOT, &[], Bytes::new()).await;
    assert_eq!((head.status, head.body.len()), (StatusCode::OK, 0));
    let text = c.get(ROOT, &[("accept", "text/plain")]).await;
    assert_eq!(text.status, StatusCode::NOT_ACCEPTABLE);
    let delete = c.send(Method::DELETE, ROOT, &[], Bytes::new()).await;
    assert_eq!(delete.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(delete.header("allow"), "GET");
    let feedback = format!("{ROOT}/deploymentBase/1/feedback");
    let plain = [("content-type", "text/plain")];
    let wrong_type = c.send(Method::POST, &feedback, &plain, "closed").await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let json_type = [("content-type", "application/json")];
    let huge = vec![b' '; 2 << 20];
    let too_big = c.send(Method::POST, &feedback, &json_type, huge).await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Another Host on another connection: links follow the Host used.
    let mut other = Client::connect(server.local_addr, "10.1.2.3:80").await;
    let doc = other.get(ROOT, &[]).await.json();
    let config = doc["_links"]["configData"]["href"].as_str().unwrap_or("");
    assert!(
        config.starts_with("http://10.1.2.3:80/DEFAULT/"),
        "{config}"
    );
    let bad_host = Client::connect(server.local_addr, "evil/path")
        .await
        .get(ROOT, &[])
        .await;
    assert_eq!(bad_host.status, StatusCode::BAD_REQUEST);
    bounded("shutdown", server.shutdown()).await;
}

#[tokio::test]
async fn gateway_token_is_required_when_the_scenario_sets_one() {
    let s = scenario(
        "name: auth\nduration: 1d\nserver: { gateway_token: sim-key }\nfleet: [ { kind: always_on, count: 1 } ]\n",
    );
    let server = serve(Some(s), 1.0).await;
    let mut c = Client::connect(server.local_addr, "h").await;
    let denied = c.get(ROOT, &[]).await;
    assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
    assert!(denied.body.is_empty());
    let wrong = c.get(ROOT, &[("authorization", "GatewayToken nope")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let ok = c
        .get(ROOT, &[("authorization", "GatewayToken sim-key")])
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    bounded("shutdown", server.shutdown()).await;
}

const CAMPAIGN: &str = "
name: serve-campaign
duration: 30d
fleet:
  - { kind: always_on, count: 2 }
  - { kind: constrained, count: 2, id_prefix: sleepy-, connectivity: { online_every: 1h, online_for: 1m } }
campaigns:
  - name: fw-2.0
    at: 10m
    artifacts: [ { name: fw-2.0.bin, size: 200KiB } ]
    targets: { kind: always_on }
";

/// Polls `cid`'s root until it links a deployment; returns that link.
async fn wait_for_deployment(c: &mut Client, cid: &str) -> String {
    let root = format!("/DEFAULT/controller/v1/{cid}");
    bounded("deployment", async {
        loop {
            let doc = c.get(&root, &[]).await.json();
            if let Some(href) = doc["_links"]["deploymentBase"]["href"].as_str() {
                return href.to_string();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test]
async fn campaign_reaches_devices_and_downloads_verify_with_range() {
    // 10 minutes of scenario time pass in 0.6 s.
    let server = serve(Some(scenario(CAMPAIGN)), 1000.0).await;
    let origin = format!("http://{}", server.local_addr);
    let mut c = Client::connect(server.local_addr, &server.local_addr.to_string()).await;
    assert_eq!(
        c.get("/DEFAULT/controller/v1/sleepy-00002", &[])
            .await
            .status,
        StatusCode::OK
    );
    let href = wait_for_deployment(&mut c, "always-on-00000").await;

    // The campaign has started: a device registering now gets it on its first poll,
    // and a constrained device (not selected) never gets it.
    let late = c
        .get("/DEFAULT/controller/v1/always-on-00001", &[])
        .await
        .json();
    assert!(
        late["_links"]["deploymentBase"]["href"].is_string(),
        "{late}"
    );
    let sleepy = c
        .get("/DEFAULT/controller/v1/sleepy-00002", &[])
        .await
        .json();
    assert!(sleepy["_links"].get("deploymentBase").is_none(), "{sleepy}");

    let base = c.get(path_of(&href, &origin), &[]).await;
    assert_eq!(base.status, StatusCode::OK);
    let doc = base.json();
    let artifact = &doc["deployment"]["chunks"][0]["artifacts"][0];
    let size = artifact["size"].as_u64().expect("artifact size");
    assert_eq!(size, 200 * 1024);
    let sha256 = artifact["hashes"]["sha256"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let download = artifact["_links"]["download-http"]["href"]
        .as_str()
        .expect("download link");
    let download = path_of(download, &origin).to_string();

    let whole = c.get(&download, &[]).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.header("content-length"), size.to_string());
    assert_eq!(whole.body.len() as u64, size);
    assert_eq!(hash_bytes(&whole.body).sha256, sha256);

    let part = c.get(&download, &[("range", "bytes=100000-")]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    let want = format!("bytes 100000-{}/{size}", size - 1);
    assert_eq!(part.header("content-range"), want);
    assert_eq!(&part.body[..], &whole.body[100_000..]);

    let past_end = format!("bytes={size}-");
    let unsatisfiable = c.get(&download, &[("range", &past_end)]).await;
    assert_eq!(unsatisfiable.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        unsatisfiable.header("content-range"),
        format!("bytes */{size}")
    );

    let head = c.send(Method::HEAD, &download, &[], Bytes::new()).await;
    assert_eq!(head.header("content-length"), size.to_string());
    assert!(head.body.is_empty());

    // Closing the action over the same connection.
    let action = doc["id"].as_str().expect("action id");
    let feedback =
        format!("/DEFAULT/controller/v1/always-on-00000/deploymentBase/{action}/feedback");
    let closed = r#"{"status":{"execution":"closed","result":{"finished":"success"}}}"#;
    let json_type = [("content-type", "application/json")];
    let done = c.send(Method::POST, &feedback, &json_type, closed).await;
    assert_eq!(done.status, StatusCode::OK);
    let again = c.send(Method::POST, &feedback, &json_type, closed).await;
    assert_eq!(again.status, StatusCode::GONE);
    bounded("shutdown", server.shutdown()).await;
}

#[tokio::test]
async fn cancel_after_turns_the_campaign_into_cancel_actions() {
    let yaml = format!("{CAMPAIGN}    cancel_after: 10m\n");
    let server = serve(Some(scenario(&yaml)), 1000.0).await;
    let mut c = Client::connect(server.local_addr, "h").await;
    wait_for_deployment(&mut c, "always-on-00000").await;
    let root = "/DEFAULT/controller/v1/always-on-00000";
    bounded("cancelAction", async {
        loop {
            let doc = c.get(root, &[]).await.json();
            if doc["_links"]["cancelAction"]["href"].is_string() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    bounded("shutdown", server.shutdown()).await;
}

#[tokio::test]
async fn reset_fault_window_drops_the_connection() {
    let yaml = "name: reset\nduration: 1d\nfleet: [ { kind: always_on, count: 1 } ]\nfaults:\n  server: [ { reset: true } ]\n";
    let server = serve(Some(scenario(yaml)), 1.0).await;
    let mut c = Client::connect(server.local_addr, "h").await;
    let answer = c.try_send(Method::GET, ROOT, &[], Bytes::new()).await;
    assert!(answer.is_err(), "expected a dropped connection");
    bounded("shutdown", server.shutdown()).await;
}

/// A fresh directory under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fleetsim-serve-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test]
async fn https_with_a_self_signed_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("self-signed certificate");
    let dir = temp_dir("tls");
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&files.cert, cert.cert.pem()).expect("write cert");
    std::fs::write(&files.key, cert.key_pair.serialize_pem()).expect("write key");
    let opts = ServeOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        tls: Some(files.clone()),
        ..ServeOptions::default()
    };
    let server = bounded("start", start(opts))
        .await
        .expect("HTTPS server starts");
    assert!(server.base_url.starts_with("https://"));

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(cert.cert.der().clone())
        .expect("trust the test cert");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = bounded("connect", TcpStream::connect(server.local_addr))
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("server name");
    let tls = bounded("TLS handshake", connector.connect(name, tcp))
        .await
        .expect("TLS handshake with the served certificate");
    let host = format!("localhost:{}", server.local_addr.port());
    let mut c = Client::over(tls, &host).await;
    for _ in 0..3 {
        let root = c.get(ROOT, &[]).await;
        assert_eq!(root.status, StatusCode::OK);
        let href = root.json()["_links"]["configData"]["href"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(
            href.starts_with(&format!("https://{host}/DEFAULT/")),
            "{href}"
        );
    }
    bounded("shutdown", server.shutdown()).await;

    // A key file that holds a certificate names the flag and the file.
    let wrong = TlsFiles {
        cert: files.cert.clone(),
        key: files.cert.clone(),
    };
    let err = start(ServeOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        tls: Some(wrong),
        ..ServeOptions::default()
    })
    .await
    .err()
    .expect("a certificate is not a key");
    let message = err.to_string();
    assert!(
        matches!(
            err,
            ServeError::Tls {
                flag: "--tls-key",
                ..
            }
        ),
        "{message}"
    );
    assert!(
        message.contains("cert.pem") && message.contains("private key"),
        "{message}"
    );
    let missing = TlsFiles {
        cert: dir.join("missing.pem"),
        key: files.key,
    };
    let err = start(ServeOptions {
        tls: Some(missing),
        ..ServeOptions::default()
    })
    .await
    .err()
    .expect("missing certificate file");
    assert!(err.to_string().starts_with("--tls-cert "), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn start_errors_name_the_flag() {
    let taken = serve(None, 1.0).await;
    let err = start(ServeOptions {
        listen: taken.local_addr,
        ..ServeOptions::default()
    })
    .await
    .err()
    .expect("address in use");
    assert!(matches!(err, ServeError::Bind { .. }));
    assert!(
        err.to_string()
            .starts_with(&format!("--listen {}", taken.local_addr)),
        "{err}"
    );
    let err = start(ServeOptions {
        time_scale: 0.0,
        ..ServeOptions::default()
    })
    .await
    .err()
    .expect("zero time scale");
    assert!(err.to_string().starts_with("--time-scale"), "{err}");
    let err = start(ServeOptions {
        listen: "127.0.0.1:0".parse().expect("addr"),
        tenants: vec!["ACME".into(), "a/b".into()],
        ..ServeOptions::default()
    })
    .await
    .err()
    .expect("a tenant name with a slash");
    assert!(err.to_string().starts_with("--tenant \"a/b\""), "{err}");
    bounded("shutdown", taken.shutdown()).await;
}

/// Sends the head of a feedback POST and half of its body: a request in flight.
async fn half_sent_request(addr: SocketAddr) -> (TcpStream, &'static [u8]) {
    let body: &[u8] = br#"{"status":{"execution":"closed","result":{"finished":"success"}}}"#;
    let head = format!(
        "POST {ROOT}/deploymentBase/1/feedback HTTP/1.1\r\nhost: h\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let mut tcp = bounded("connect", TcpStream::connect(addr))
        .await
        .expect("connect");
    tcp.write_all(head.as_bytes()).await.expect("send head");
    tcp.write_all(&body[..10]).await.expect("send part");
    (tcp, &body[10..])
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish() {
    let server = serve(None, 1.0).await;
    let addr = server.local_addr;
    let mut idle = Client::connect(addr, "h").await;
    assert_eq!(idle.get(ROOT, &[]).await.status, StatusCode::OK);
    let (mut tcp, rest) = half_sent_request(addr).await;
    // Let the server start reading the request before shutdown begins.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let shutdown = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !shutdown.is_finished(),
        "shutdown did not wait for the request"
    );
    tcp.write_all(rest).await.expect("send the rest");
    let mut answer = Vec::new();
    bounded("answer", tcp.read_to_end(&mut answer))
        .await
        .expect("read the answer");
    let answer = String::from_utf8_lossy(&answer);
    // Unknown target: 404, and the connection is closed after the answer.
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    bounded("shutdown", shutdown).await.expect("shutdown task");
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
    assert!(idle
        .try_send(Method::GET, ROOT, &[], Bytes::new())
        .await
        .is_err());
}

#[tokio::test]
async fn shutdown_is_bounded_when_a_request_stalls() {
    let server = serve(None, 1.0).await;
    let (_tcp, _never_sent) = half_sent_request(server.local_addr).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Bounded by SHUTDOWN_GRACE (5 s); BOUND leaves room for a slow machine.
    bounded("shutdown with a stalled request", server.shutdown()).await;
}

/// The custom protocol gateway over HTTP: a device's one poll gets the
/// pending install with a URL signed for the bound address that expires in
/// Unix seconds; the CDN serves it (Range, ETag) and refuses it tampered.
#[tokio::test]
async fn gateway_hands_out_signed_urls_the_cdn_checks() {
    const GATEWAY: &str = "name: g\nduration: 1d\nserver: { polling: 1h }\n\
        fleet:\n  - { kind: always_on, protocol: cpg, count: 2, id_prefix: cpg- }\n\
        campaigns:\n  - { at: 0s, url_validity: 2d, artifacts: [ { name: fw.bin, size: 20KiB } ] }\n";
    let server = serve(Some(scenario(GATEWAY)), 1.0).await;
    let origin = format!("http://{}", server.local_addr);
    let mut c = Client::connect(server.local_addr, &server.local_addr.to_string()).await;
    let poll = c.get("/cpg/v1/devices/cpg-00001/poll?fw=1.0.0", &[]).await;
    assert_eq!(poll.status, StatusCode::OK);
    let doc = poll.json();
    assert_eq!(doc["poll_interval"], 3600);
    let update = &doc["update"];
    assert_eq!(update["size"], 20 * 1024);
    assert_eq!(update["connect"], false);
    let url = update["url"].as_str().expect("a download URL");
    let path = path_of(url, &origin).to_string();
    let expires = fleetsim::protocol::constrained::wire::url_expires(url).expect("expires");
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let left = expires.saturating_sub(unix_now);
    assert!(
        (2 * 86_400 - 60..=2 * 86_400).contains(&left),
        "{left} s left"
    );

    let whole = c.get(&path, &[]).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.body.len(), 20 * 1024);
    let sha256 = update["sha256"].as_str().unwrap_or_default();
    assert_eq!(hash_bytes(&whole.body).sha256, sha256);
    assert_eq!(whole.header("etag"), format!("\"{sha256}\""));
    let part = c.get(&path, &[("range", "bytes=10000-")]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&part.body[..], &whole.body[10_000..]);

    let forged = path.replace(
        &format!("expires={expires}"),
        &format!("expires={}", expires + 1),
    );
    let refused = c.get(&forged, &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json()["error"], "bad_signature");
    let unknown = c
        .get("/cpg/v1/devices/cpg-00001/poll?fw=1.0.0&have=x", &[])
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);

    // Reporting the result ends the pending install.
    let report = "/cpg/v1/devices/cpg-00001/poll?fw=2.0.0&cmd=c1&result=ok";
    let after = c.get(report, &[]).await.json();
    assert!(after.get("update").is_none(), "{after}");
    bounded("shutdown", server.shutdown()).await;
}
