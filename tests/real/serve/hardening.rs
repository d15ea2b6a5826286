//! `serve` against hostile clients (issue 17): every attack or bad input
//! gets a bounded outcome — a status, a closed connection, nothing stored.
//! Limits are set small so the tests run in moments; every wait is bounded
//! by [`BOUND`], and no assertion needs the machine to be fast.

use std::time::Instant;

use fleetsim::http_server::ServeLimits;
use fleetsim::server::otau::cik_for;

use super::*;

const ADMIN: (&str, &str) = ("authorization", "Basic YWRtaW46YWRtaW4=");
const ADMIN_HEADER: &str = "authorization: Basic YWRtaW46YWRtaW4=\r\n";

async fn serve_limited(limits: ServeLimits, time_scale: f64) -> Running {
    let opts = ServeOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        time_scale,
        limits,
        ..ServeOptions::default()
    };
    bounded("start", start(opts)).await.expect("server starts")
}

/// Limits whose timeouts never fire within a test, to be lowered one by one.
fn patient() -> ServeLimits {
    let hour = Duration::from_secs(3600);
    ServeLimits {
        idle_timeout: hour,
        header_timeout: hour,
        body_timeout: hour,
        ..ServeLimits::default()
    }
}

async fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> TcpStream {
    let mut tcp = bounded("connect", TcpStream::connect(addr))
        .await
        .expect("connect");
    tcp.write_all(head.as_bytes()).await.expect("send head");
    tcp.write_all(body).await.expect("send body");
    tcp
}

/// The response head (status line and headers), read byte by byte.
async fn read_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    bounded("response head", async {
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match tcp.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
    })
    .await;
    String::from_utf8_lossy(&head).to_ascii_lowercase()
}

/// Reads until the server closes the connection (EOF or reset); what came.
async fn until_closed(tcp: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    bounded("connection closed by the server", async {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = tcp.read(&mut buf).await {
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    got
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    bounded(what, async {
        while !ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Item 1: twelve connections each announcing a 64 MiB Management API body
/// without credentials are answered 401 from their headers and closed;
/// the server holds none of their bytes.
#[tokio::test]
async fn unauthenticated_bodies_are_refused_before_they_are_read() {
    let server = serve_limited(patient(), 1.0).await;
    let addr = server.local_addr;
    let chunk = vec![b'x'; 64 * 1024];
    let mut conns = Vec::new();
    for path in std::iter::repeat_n("/rest/v1/targets", 11).chain(["/fleetsim/otau/content/x"]) {
        let method = if path.starts_with("/rest") {
            "POST"
        } else {
            "PUT"
        };
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: h\r\ncontent-type: application/json\r\ncontent-length: 67108848\r\n\r\n"
        );
        conns.push(raw(addr, &head, &chunk).await);
    }
    for tcp in &mut conns {
        let head = read_head(tcp).await;
        assert!(head.starts_with("http/1.1 401"), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        until_closed(tcp).await;
    }
    assert_eq!(server.body_bytes_held(), 0);
    // A small body is skipped instead: the connection stays usable.
    let mut c = Client::connect(addr, "h").await;
    let json = [("content-type", "application/json")];
    let denied = c.send(Method::POST, "/rest/v1/targets", &json, "[]").await;
    assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
    assert_eq!(c.get(ROOT, &[]).await.status, StatusCode::OK);
    bounded("shutdown", server.shutdown()).await;
}

/// Item 1: a body over its route's limit is refused from `Content-Length`
/// (413) or, chunked, once it passes it; uploads take more; bodies that do
/// not fit the server-wide budget wait their turn with 503.
#[tokio::test]
async fn bodies_are_limited_per_route_and_in_total() {
    let limits = ServeLimits {
        max_body_memory: 1 << 20,
        ..patient()
    };
    let server = serve_limited(limits, 1.0).await;
    let addr = server.local_addr;
    let post = |path: &str, len: usize| {
        format!("POST {path} HTTP/1.1\r\nhost: h\r\n{ADMIN_HEADER}content-type: application/json\r\ncontent-length: {len}\r\n\r\n")
    };
    let mut big = raw(addr, &post("/rest/v1/targets", 2 << 20), b"").await;
    assert!(read_head(&mut big).await.starts_with("http/1.1 413"));
    until_closed(&mut big).await;
    let chunked = format!("POST /rest/v1/targets HTTP/1.1\r\nhost: h\r\n{ADMIN_HEADER}content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n");
    let mut tcp = raw(addr, &chunked, b"").await;
    let chunk = [b"40000\r\n".as_slice(), &vec![b' '; 0x40000], b"\r\n"].concat();
    for _ in 0..5 {
        if tcp.write_all(&chunk).await.is_err() {
            break;
        }
    }
    assert!(read_head(&mut tcp).await.starts_with("http/1.1 413"));

    // The budget: one 800 kB upload in flight leaves no room for a second.
    let put = |id: &str| {
        format!("PUT /fleetsim/otau/content/{id} HTTP/1.1\r\nhost: h\r\n{ADMIN_HEADER}content-length: 800000\r\n\r\n")
    };
    let data = vec![7u8; 800_000];
    let mut first = raw(addr, &put("a"), &data[..400_000]).await;
    wait_until("first body reserved", || {
        server.body_bytes_held() == 800_000
    })
    .await;
    let mut second = raw(addr, &put("b"), b"").await;
    let head = read_head(&mut second).await;
    assert!(head.starts_with("http/1.1 503"), "{head}");
    assert!(head.contains("retry-after: "), "{head}");
    first
        .write_all(&data[400_000..])
        .await
        .expect("rest of the body");
    assert!(read_head(&mut first).await.starts_with("http/1.1 204"));
    wait_until("budget free again", || server.body_bytes_held() == 0).await;
    let mut c = Client::connect(addr, "h").await;
    let retry = c
        .send(Method::PUT, "/fleetsim/otau/content/b", &[ADMIN], data)
        .await;
    assert_eq!(retry.status, StatusCode::NO_CONTENT);
    bounded("shutdown", server.shutdown()).await;
}

/// Item 1: device routes reserve body memory as the bytes arrive, so
/// clients that announce large bodies and send nothing cannot take the
/// budget from the devices that do send.
#[tokio::test]
async fn announced_bodies_that_never_come_hold_no_memory() {
    let limits = ServeLimits {
        max_body_memory: 1 << 20,
        ..patient()
    };
    let server = serve_limited(limits, 1.0).await;
    let addr = server.local_addr;
    let head = |len: usize| {
        format!("POST {ROOT}/configData HTTP/1.1\r\nhost: h\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n")
    };
    let mut hogs = Vec::new();
    for _ in 0..8 {
        hogs.push(raw(addr, &head(1 << 20), b"").await);
    }
    let body = br#"{"mode":"merge","data":{"k":"v"}}"#;
    let mut device = raw(addr, &head(body.len()), body).await;
    let answer = read_head(&mut device).await;
    assert!(!answer.starts_with("http/1.1 503"), "{answer}");
    assert_eq!(server.body_bytes_held(), 0, "announced bytes are not held");
    drop(hogs);
    bounded("shutdown", server.shutdown()).await;
}

/// Item 1: a client trickling its body is answered 408 and cut off.
#[tokio::test]
async fn a_trickled_body_is_cut_off_with_408() {
    let limits = ServeLimits {
        body_timeout: Duration::from_millis(300),
        ..patient()
    };
    let server = serve_limited(limits, 1.0).await;
    let head = format!("POST {ROOT}/deploymentBase/1/feedback HTTP/1.1\r\nhost: h\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n");
    let began = Instant::now();
    let mut tcp = raw(server.local_addr, &head, b"{\"id\":").await;
    let answer = read_head(&mut tcp).await;
    assert!(answer.starts_with("http/1.1 408"), "{answer}");
    until_closed(&mut tcp).await;
    println!("trickled body closed after {:?}", began.elapsed());
    bounded("shutdown", server.shutdown()).await;
}

/// Item 2: headers sent a line at a time are cut off at the header timeout,
/// though bytes keep coming.
#[tokio::test]
async fn slowloris_headers_are_cut_off() {
    let limits = ServeLimits {
        header_timeout: Duration::from_millis(300),
        ..patient()
    };
    let server = serve_limited(limits, 1.0).await;
    let began = Instant::now();
    let mut tcp = raw(server.local_addr, &format!("GET {ROOT} HTTP/1.1\r\n"), b"").await;
    bounded("slowloris cut off", async {
        let mut buf = [0u8; 1024];
        for n in 0u32.. {
            let line = format!("x-pad-{n}: y\r\n");
            if tcp.write_all(line.as_bytes()).await.is_err() {
                break;
            }
            let read = tokio::time::timeout(Duration::from_millis(100), tcp.read(&mut buf)).await;
            if matches!(read, Ok(Ok(0) | Err(_))) {
                break;
            }
        }
    })
    .await;
    println!("slowloris closed after {:?}", began.elapsed());
    wait_until("no connection left", || server.open_connections() == 0).await;
    bounded("shutdown", server.shutdown()).await;
}

/// Item 2: idle connections are closed (after an answer, or before any
/// request); a held OTAU long poll is not idle and is answered.
#[tokio::test]
async fn idle_connections_close_but_held_long_polls_are_answered() {
    let limits = ServeLimits {
        idle_timeout: Duration::from_millis(300),
        ..patient()
    };
    // 300 s of scenario time (the longest Request-Timeout) pass in 1.5 s.
    let server = serve_limited(limits, 200.0).await;
    let addr = server.local_addr;
    let get = format!("GET {ROOT} HTTP/1.1\r\nhost: h\r\n\r\n");
    let began = Instant::now();
    let mut answered = raw(addr, &get, b"").await;
    let mut silent = raw(addr, "", b"").await;
    let got = until_closed(&mut answered).await;
    assert!(got.starts_with(b"HTTP/1.1 200"));
    assert!(until_closed(&mut silent).await.is_empty());
    println!("idle connections closed after {:?}", began.elapsed());

    let mut poller = Client::connect(addr, "h").await;
    let cik = cik_for(3);
    let headers = [
        ("x-exosite-cik", cik.as_str()),
        ("request-timeout", "300000"),
    ];
    let poll = poller
        .try_send(
            Method::GET,
            "/onep:v1/stack/alias?config_otau",
            &headers,
            Bytes::new(),
        )
        .await
        .expect("the held poll is answered, not cut off");
    assert_eq!(poll.status, StatusCode::NOT_MODIFIED);
    bounded("shutdown", server.shutdown()).await;
}

/// Item 2: a client that stops reading its answer is closed once nothing
/// moved for the idle timeout.
#[tokio::test]
async fn a_client_that_stops_reading_is_closed() {
    let limits = ServeLimits {
        idle_timeout: Duration::from_millis(300),
        ..patient()
    };
    let server = serve_limited(limits, 1.0).await;
    let addr = server.local_addr;
    let size = 16 << 20;
    let mut admin = Client::connect(addr, "h").await;
    let put = admin
        .send(
            Method::PUT,
            "/fleetsim/otau/content/big",
            &[ADMIN],
            vec![1u8; size],
        )
        .await;
    assert_eq!(put.status, StatusCode::NO_CONTENT);
    drop(admin);
    let cik = cik_for(0);
    let head = format!(
        "GET /provision/download?id=big HTTP/1.1\r\nhost: h\r\nx-exosite-cik: {cik}\r\n\r\n"
    );
    let mut stalled = raw(addr, &head, b"").await;
    wait_until("the stalled connection is closed", || {
        server.open_connections() == 0
    })
    .await;
    let got = until_closed(&mut stalled).await;
    assert!(got.starts_with(b"HTTP/1.1 200"));
    assert!(got.len() < size, "{} bytes arrived", got.len());
    bounded("shutdown", server.shutdown()).await;
}

/// A long poll held for 300 s (scenario time at scale 1): a busy connection.
async fn held_poll(addr: SocketAddr, device: u64) -> TcpStream {
    let cik = cik_for(device);
    let head = format!(
        "GET /onep:v1/stack/alias?config_otau HTTP/1.1\r\nhost: h\r\nx-exosite-cik: {cik}\r\nrequest-timeout: 300000\r\n\r\n"
    );
    raw(addr, &head, b"").await
}

/// Item 2: past `max_connections` the server stops accepting; with every
/// connection busy a new one waits until one closes.
#[tokio::test]
async fn connections_beyond_the_limit_wait_while_all_are_busy() {
    let limits = ServeLimits {
        max_connections: 2,
        ..patient()
    };
    let server = serve_limited(limits, 1.0).await;
    let addr = server.local_addr;
    let a = held_poll(addr, 1).await;
    let _b = held_poll(addr, 2).await;
    wait_until("two polls held", || server.open_connections() == 2).await;
    let get = format!("GET {ROOT} HTTP/1.1\r\nhost: h\r\n\r\n");
    let mut waiting = raw(addr, &get, b"").await;
    let mut byte = [0u8; 1];
    // Longer than a connection must be quiet to be evicted (1 s): busy
    // long polls are never chosen, so nothing makes room.
    let early = tokio::time::timeout(Duration::from_millis(1_600), waiting.read(&mut byte)).await;
    assert!(early.is_err(), "answered past the limit");
    assert_eq!(server.open_connections(), 2);
    drop(a);
    assert!(read_head(&mut waiting).await.starts_with("http/1.1 200"));
    bounded("shutdown", server.shutdown()).await;
}

/// Item 2: with every slot taken by idle connections, the quietest one is
/// closed to let a new connection in (an idle flood cannot lock devices out).
#[tokio::test]
async fn a_full_server_closes_its_quietest_connection_for_a_new_one() {
    let limits = ServeLimits {
        max_connections: 2,
        ..patient()
    };
    let server = serve_limited(limits, 1.0).await;
    let addr = server.local_addr;
    let mut idle = [raw(addr, "", b"").await, raw(addr, "", b"").await];
    wait_until("two idle connections", || server.open_connections() == 2).await;
    let get = format!("GET {ROOT} HTTP/1.1\r\nhost: h\r\n\r\n");
    let mut device = raw(addr, &get, b"").await;
    assert!(read_head(&mut device).await.starts_with("http/1.1 200"));
    // The first idle connection was the quietest: it was closed.
    assert!(until_closed(&mut idle[0]).await.is_empty());
    assert_eq!(server.open_connections(), 2);
    bounded("shutdown", server.shutdown()).await;
}

/// Item 5: gateway-token auth switched on with an empty key through the
/// Management API lets no device in.
#[tokio::test]
async fn an_empty_gateway_key_lets_no_device_in() {
    let server = serve_limited(patient(), 1.0).await;
    let mut c = Client::connect(server.local_addr, "h").await;
    let config =
        r#"{"authentication.gatewaytoken.enabled": true, "authentication.gatewaytoken.key": ""}"#;
    let json = ("content-type", "application/json");
    let put = c
        .send(
            Method::PUT,
            "/rest/v1/system/configs",
            &[ADMIN, json],
            config,
        )
        .await;
    assert_eq!(put.status, StatusCode::OK);
    for auth in [None, Some("GatewayToken "), Some("GatewayToken")] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        let r = c.get(ROOT, &headers).await;
        assert_eq!(
            (r.status, r.body.len()),
            (StatusCode::UNAUTHORIZED, 0),
            "{auth:?}"
        );
    }
    bounded("shutdown", server.shutdown()).await;
}

/// Item 4: uploading the same OTAU content id again replaces it: one copy held.
#[tokio::test]
async fn re_uploading_otau_content_keeps_one_copy() {
    let server = serve_limited(patient(), 1.0).await;
    let mut c = Client::connect(server.local_addr, "h").await;
    for n in 0..10u8 {
        let put = c
            .send(
                Method::PUT,
                "/fleetsim/otau/content/fw",
                &[ADMIN],
                vec![n; 300_000],
            )
            .await;
        assert_eq!(put.status, StatusCode::NO_CONTENT);
    }
    let stats = c.get("/fleetsim/otau/stats", &[ADMIN]).await.json();
    assert_eq!(stats["uploaded_contents"], 1, "{stats}");
    assert_eq!(stats["uploaded_bytes"], 300_000, "{stats}");
    let cik = cik_for(0);
    let got = c
        .get("/provision/download?id=fw", &[("x-exosite-cik", &cik)])
        .await;
    assert_eq!((got.body.len(), got.body[0]), (300_000, 9));
    bounded("shutdown", server.shutdown()).await;
}

const CACHED: &str = "name: g\nduration: 1d\n\
    fleet:\n  - { kind: always_on, protocol: cpg, count: 1, id_prefix: cpg- }\n\
    campaigns:\n  - { at: 0s, strategy: long_lived_cache, artifacts: [ { name: fw.bin, size: 2KiB } ] }\n";

/// Items 3 and 6: ids and names that are not ones, and URLs the server did
/// not sign, are refused before anything is stored or served.
#[tokio::test]
async fn hostile_ids_names_and_urls_are_refused() {
    let server = serve(Some(scenario(CACHED)), 1.0).await;
    let mut c = Client::connect(server.local_addr, &server.local_addr.to_string()).await;
    let long = "d".repeat(60_000);
    for id in [
        "..",
        "%2E%2E",
        "..%2F..%2Fetc%2Fpasswd",
        "a%2Fb",
        "a%00b",
        &long,
    ] {
        let ddi = c.get(&format!("/DEFAULT/controller/v1/{id}"), &[]).await;
        assert_eq!(ddi.status, StatusCode::BAD_REQUEST, "DDI {id:.20}");
        let cpg = c.get(&format!("/cpg/v1/devices/{id}/poll?fw=1"), &[]).await;
        assert_eq!(cpg.status, StatusCode::BAD_REQUEST, "cpg {id:.20}");
    }
    let put = c
        .send(Method::PUT, "/fleetsim/otau/content/..", &[ADMIN], "x")
        .await;
    assert_eq!(put.status, StatusCode::BAD_REQUEST);
    let manifest = c
        .send(Method::PUT, "/fleetsim/otau/config_otau", &[ADMIN], "{")
        .await;
    assert_eq!(manifest.status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&manifest.body).contains("not JSON"));

    // The cache serves the artifact under its own name only.
    let origin = format!("http://{}", server.local_addr);
    let doc = c
        .get("/cpg/v1/devices/cpg-00000/poll?fw=1", &[])
        .await
        .json();
    let url = doc["update"]["url"].as_str().expect("a cache URL");
    let path = path_of(url, &origin).to_string();
    assert!(path.starts_with("/cache/"), "{path}");
    assert_eq!(c.get(&path, &[]).await.status, StatusCode::OK);
    let (dir, _) = path.rsplit_once('/').unwrap_or_default();
    for name in ["..", "other.bin", "%2E%2E"] {
        let alias = c.get(&format!("{dir}/{name}"), &[]).await;
        assert_eq!(alias.status, StatusCode::NOT_FOUND, "{name}");
    }
    bounded("shutdown", server.shutdown()).await;
}

/// Item 6: the CDN takes a signed URL only in the exact form it signed.
#[tokio::test]
async fn cdn_urls_only_in_the_signed_form() {
    let signed = "name: g\nduration: 1d\n\
        fleet:\n  - { kind: always_on, protocol: cpg, count: 1, id_prefix: cpg- }\n\
        campaigns:\n  - { at: 0s, artifacts: [ { name: fw.bin, size: 2KiB } ] }\n";
    let server = serve(Some(scenario(signed)), 1.0).await;
    let origin = format!("http://{}", server.local_addr);
    let mut c = Client::connect(server.local_addr, &server.local_addr.to_string()).await;
    let doc = c
        .get("/cpg/v1/devices/cpg-00000/poll?fw=1", &[])
        .await
        .json();
    let url = doc["update"]["url"].as_str().expect("a CDN URL");
    let path = path_of(url, &origin).to_string();
    assert_eq!(c.get(&path, &[]).await.status, StatusCode::OK);
    let (head, sig) = path.split_once("sig=").unwrap_or_default();
    for bad in [
        format!("{head}sig={}", sig.to_ascii_uppercase()),
        format!("{path}&expires=99999999999"),
        format!("{path}&sig={sig}"),
        path.replace("?expires=", "?expires=99999999999&expires="),
    ] {
        let r = c.get(&bad, &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{bad}");
    }
    bounded("shutdown", server.shutdown()).await;
}
