//! The HTTP client of every real-network part (the real-time driver's
//! devices, the management-API adapters): turns a [`Request`] into a hyper
//! request, applies client-side faults, follows redirects for downloads, and
//! turns what came back — a response, a cut-off body, a timeout, a refused
//! connection — into a [`Delivery`] for the device's state machine.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use fleetsim_core::message::{Body, Method, NetError, Request, Response};
use fleetsim_core::protocol::ddi::Delivery;
use fleetsim_fleet::scenario::ConnectionModel;

/// Redirects a device follows for one GET before it gives up.
const MAX_REDIRECTS: usize = 5;
/// Source addresses a loopback run spreads its connections over, to get past
/// the ~28 000 ephemeral ports of a single source address.
const LOOPBACK_SOURCES: u8 = 64;

/// Faults decided for one request before it is sent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Injected {
    /// Do not send; the device sees its timeout expire.
    pub drop: bool,
    /// Wait this long before sending.
    pub delay: Option<Duration>,
    /// Cut the body off after half of it (connection closed).
    pub cut_body: bool,
    /// Emulated network (`load.emulate_network`): what the link does to the
    /// answer — lose it, hold it, throttle it, cut it at the window end.
    pub net: Option<crate::netem::Shape>,
}

type HyperClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Shared HTTP machinery of a real-time run.
pub struct Http {
    clients: Vec<HyperClient>,
    timeout: Duration,
    /// Permits for requests in flight (`load.max_connections`); `None`: no limit.
    in_flight: Option<Arc<tokio::sync::Semaphore>>,
}

/// Why the HTTP client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    /// The CA file could not be read or parsed.
    #[error("--ca-cert {path}: {message}")]
    CaCert {
        /// File.
        path: String,
        /// What was wrong.
        message: String,
    },
}

impl Http {
    /// Clients for `model`; `loopback` spreads source addresses; `ca_pem`
    /// adds trusted roots (for self-signed test servers).
    pub fn new(
        model: ConnectionModel,
        loopback: bool,
        ca_pem: Option<(&str, &[u8])>,
        timeout: Duration,
    ) -> Result<Http, HttpSetupError> {
        Http::with_alpn(model, loopback, ca_pem, timeout, false, 0)
    }

    /// [`Http::new`] with at most `max` requests in flight at once (0 = no
    /// limit), except long polls: a shared pool then opens at most about
    /// `max` connections however many devices are due, and keeps at most
    /// `max` of them idle, which bounds the driver's memory (each
    /// connection holds a few tens of KiB of buffers) and the sockets a
    /// slow server makes it open.
    pub fn limited(
        model: ConnectionModel,
        loopback: bool,
        ca_pem: Option<(&str, &[u8])>,
        timeout: Duration,
        max: usize,
    ) -> Result<Http, HttpSetupError> {
        Http::with_alpn(model, loopback, ca_pem, timeout, false, max)
    }

    /// [`Http::limited`]; with `alpn_http11` the TLS handshake offers ALPN
    /// `http/1.1`, which a Murano-shaped MQTT port needs to speak HTTP
    /// (otau.md §4.6).
    pub fn with_alpn(
        model: ConnectionModel,
        loopback: bool,
        ca_pem: Option<(&str, &[u8])>,
        timeout: Duration,
        alpn_http11: bool,
        max_in_flight: usize,
    ) -> Result<Http, HttpSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some((path, pem)) = ca_pem {
            let mut reader = std::io::BufReader::new(pem);
            let mut any = false;
            for cert in rustls_pemfile::certs(&mut reader) {
                let cert = cert.map_err(|e| HttpSetupError::CaCert {
                    path: path.into(),
                    message: e.to_string(),
                })?;
                roots.add(cert).map_err(|e| HttpSetupError::CaCert {
                    path: path.into(),
                    message: e.to_string(),
                })?;
                any = true;
            }
            if !any {
                return Err(HttpSetupError::CaCert {
                    path: path.into(),
                    message: "expected at least one PEM certificate".into(),
                });
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| HttpSetupError::CaCert {
                path: "(rustls)".into(),
                message: e.to_string(),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let sources: Vec<Option<IpAddr>> = if loopback && model == ConnectionModel::PerDevice {
            (1..=LOOPBACK_SOURCES)
                .map(|i| Some(IpAddr::from([127, 0, 1, i])))
                .collect()
        } else {
            vec![None]
        };
        let clients = sources
            .into_iter()
            .map(|source| {
                let mut http = HttpConnector::new();
                http.enforce_http(false);
                http.set_nodelay(true);
                http.set_local_address(source);
                http.set_connect_timeout(Some(timeout));
                let https = if alpn_http11 {
                    // The builder refuses a preset ALPN list; this keeps it
                    // (and, like the builder's `https_or_http`, plain HTTP).
                    let mut tls = tls.clone();
                    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
                    hyper_rustls::HttpsConnector::from((http, tls))
                } else {
                    hyper_rustls::HttpsConnectorBuilder::new()
                        .with_tls_config(tls.clone())
                        .https_or_http()
                        .enable_http1()
                        .wrap_connector(http)
                };
                let mut builder = Client::builder(TokioExecutor::new());
                if model == ConnectionModel::PerDevice {
                    // A device opens its own connection for each exchange.
                    builder.pool_max_idle_per_host(0);
                } else {
                    builder.pool_idle_timeout(Duration::from_secs(30));
                    if max_in_flight > 0 {
                        // A request that finds no idle connection races a
                        // new one against the next to come free; the loser
                        // stays idle. Without a bound, bursts left twice
                        // the in-flight limit open.
                        builder.pool_max_idle_per_host(max_in_flight);
                    }
                }
                builder.build(https)
            })
            .collect();
        Ok(Http {
            clients,
            timeout,
            in_flight: (max_in_flight > 0)
                .then(|| Arc::new(tokio::sync::Semaphore::new(max_in_flight))),
        })
    }

    /// How long a device waits for an answer (`load.request_timeout`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `req` for device `device` and waits (bounded) for the outcome.
    pub async fn execute(&self, device: u64, req: Request, fault: Injected) -> Delivery {
        if fault.drop {
            // The device waits out its timeout, or its window closes first.
            let waited = tokio::time::Instant::now() + self.timeout;
            return match fault.net.and_then(|n| n.cut_at).filter(|c| *c < waited) {
                Some(cut) => {
                    tokio::time::sleep_until(cut).await;
                    Delivery::Broken(NetError::Reset, None)
                }
                None => {
                    tokio::time::sleep_until(waited).await;
                    Delivery::Broken(NetError::Timeout, None)
                }
            };
        }
        if let Some(d) = fault.delay {
            tokio::time::sleep(d).await;
        }
        let client = &self.clients[(device % self.clients.len() as u64) as usize];
        // The device waits for a long poll that much longer.
        let hold = long_poll_hold(&req);
        let deadline = tokio::time::Instant::now() + self.timeout + hold;
        let _permit = match &self.in_flight {
            Some(permits) if hold.is_zero() => {
                match tokio::time::timeout_at(deadline, permits.acquire()).await {
                    Ok(Ok(permit)) => Some(permit),
                    // Waited out its timeout for a free connection.
                    Ok(Err(_)) | Err(_) => return Delivery::Broken(NetError::Timeout, None),
                }
            }
            _ => None,
        };
        send(client, req, &fault, deadline).await
    }
}

impl Http {
    /// Why a plain GET of `url` cannot get through, in words: the error
    /// chain of the attempt (`invalid peer certificate: UnknownIssuer`,
    /// `Connection refused`), for messages about an unreachable target.
    /// `None` when it does get an answer.
    pub async fn connect_error(&self, url: &str) -> Option<String> {
        let req = hyper::Request::get(url)
            .body(Full::new(Bytes::new()))
            .ok()?;
        let client = self.clients.first()?;
        let Err(e) = tokio::time::timeout(self.timeout, client.request(req))
            .await
            .ok()?
        else {
            return None;
        };
        // hyper-util's own words ("client error (Connect)") say less than
        // its causes.
        let mut causes = Vec::new();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        Some(if causes.is_empty() {
            e.to_string()
        } else {
            causes.join(": ")
        })
    }

    /// Why `url` is unreachable, for an error message: [`Http::connect_error`],
    /// or the likely causes when a second attempt gets through.
    pub async fn unreachable_why(&self, url: &str) -> String {
        match self.connect_error(url).await {
            Some(why) => why,
            None => "connection refused or TLS handshake failed".into(),
        }
    }
}

/// How long the server may hold `req` before answering: a long poll (OTAU
/// `Request-Timeout`, otau.md §4.1) asks for that; other requests, none.
pub fn long_poll_hold(req: &Request) -> Duration {
    req.headers
        .get("request-timeout")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_millis)
}

async fn send(
    client: &HyperClient,
    mut req: Request,
    fault: &Injected,
    deadline: tokio::time::Instant,
) -> Delivery {
    for _ in 0..=MAX_REDIRECTS {
        let hreq = match to_hyper(&req) {
            Ok(r) => r,
            Err(_) => return Delivery::Broken(NetError::Malformed, None),
        };
        let resp = match tokio::time::timeout_at(deadline, client.request(hreq)).await {
            Err(_) => return Delivery::Broken(NetError::Timeout, None),
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let kind = if e.is_connect() {
                    NetError::Unreachable
                } else {
                    NetError::Reset
                };
                return Delivery::Broken(kind, None);
            }
        };
        let status = resp.status().as_u16();
        if (300..400).contains(&status) && req.method == Method::Get && status != 304 {
            if let Some(next) = redirect_target(&req.url, resp.headers()) {
                // Credentials go only to the host they were meant for.
                if origin_of(&next) != origin_of(&req.url) {
                    req.headers = strip_authorization(&req.headers);
                }
                req.url = next;
                continue;
            }
        }
        let pacer = match &fault.net {
            Some(shape) => {
                if let Some(e) = crate::netem::hold_answer(shape).await {
                    // Dropping the unread answer closes its connection.
                    return Delivery::Broken(e, None);
                }
                Some(crate::netem::Pacer::new(shape))
            }
            None => None,
        };
        return read_body(resp, fault.cut_body, deadline, pacer).await;
    }
    Delivery::Broken(NetError::Malformed, None)
}

fn to_hyper(req: &Request) -> Result<hyper::Request<Full<Bytes>>, hyper::http::Error> {
    let method = match req.method {
        Method::Get => hyper::Method::GET,
        Method::Head => hyper::Method::HEAD,
        Method::Post => hyper::Method::POST,
        Method::Put => hyper::Method::PUT,
        Method::Delete => hyper::Method::DELETE,
        Method::Other => hyper::Method::OPTIONS,
    };
    let mut b = hyper::Request::builder()
        .method(method)
        .uri(req.url.as_str());
    for (name, value) in req.headers.iter() {
        b = b.header(name, value);
    }
    let body = match &req.body {
        Body::Bytes(bytes) => bytes.clone(),
        _ => Bytes::new(),
    };
    b.body(Full::new(body))
}

async fn read_body(
    resp: hyper::Response<hyper::body::Incoming>,
    cut_body: bool,
    deadline: tokio::time::Instant,
    mut pacer: Option<crate::netem::Pacer>,
) -> Delivery {
    let (parts, mut body) = resp.into_parts();
    let mut out = Response::status(parts.status.as_u16());
    for (name, value) in parts.headers.iter() {
        if let Ok(v) = value.to_str() {
            out.headers.insert_dynamic(name.as_str(), v.to_string());
        }
    }
    let expected: Option<usize> = out
        .headers
        .get("content-length")
        .and_then(|v| v.trim().parse().ok());
    let cut_at = cut_body
        .then(|| expected.unwrap_or(0) / 2)
        .filter(|n| *n > 0);
    let mut bytes = Vec::with_capacity(expected.unwrap_or(0).min(1 << 20));
    loop {
        // Out of time mid-body: hand back what arrived so a download can resume.
        let paced = pacer.as_ref().map_or(Duration::ZERO, |p| p.paced());
        let Ok(next) = tokio::time::timeout_at(deadline + paced, body.frame()).await else {
            out.body = Body::Bytes(bytes.into());
            return Delivery::Broken(NetError::Timeout, Some(out));
        };
        match next {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                }
                if let Some(p) = pacer.as_mut() {
                    if let crate::netem::Pace::Cut(n) = p.admit(bytes.len()).await {
                        // The online window ended mid-body: keep what made it.
                        bytes.truncate(n);
                        out.body = Body::Bytes(bytes.into());
                        return Delivery::Broken(NetError::Reset, Some(out));
                    }
                }
                if let Some(cut) = cut_at {
                    if bytes.len() >= cut {
                        bytes.truncate(cut);
                        out.body = Body::Bytes(bytes.into());
                        return Delivery::Broken(NetError::Reset, Some(out));
                    }
                }
            }
            Some(Err(_)) => {
                out.body = Body::Bytes(bytes.into());
                return Delivery::Broken(NetError::Reset, Some(out));
            }
            None => break,
        }
    }
    out.body = Body::Bytes(bytes.into());
    Delivery::Complete(out)
}

fn redirect_target(current: &str, headers: &hyper::HeaderMap) -> Option<String> {
    let location = headers.get(hyper::header::LOCATION)?.to_str().ok()?;
    if location.contains("://") {
        return Some(location.to_string());
    }
    let origin = origin_of(current);
    if location.starts_with('/') {
        Some(format!("{origin}{location}"))
    } else {
        let path = fleetsim_core::message::path_and_query(current);
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        Some(format!("{origin}{dir}/{location}"))
    }
}

fn origin_of(url: &str) -> &str {
    let pq = fleetsim_core::message::path_and_query(url);
    &url[..url.len() - pq.len()]
}

fn strip_authorization(
    headers: &fleetsim_core::message::Headers,
) -> fleetsim_core::message::Headers {
    let mut out = fleetsim_core::message::Headers::new();
    for (n, v) in headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("authorization"))
    {
        out.insert_dynamic(n, v.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_targets_resolve_against_the_request() {
        let mut h = hyper::HeaderMap::new();
        h.insert(hyper::header::LOCATION, "/cdn/fw.bin".parse().unwrap());
        assert_eq!(
            redirect_target("http://a:1/x/y", &h).as_deref(),
            Some("http://a:1/cdn/fw.bin")
        );
        h.insert(hyper::header::LOCATION, "fw2.bin".parse().unwrap());
        assert_eq!(
            redirect_target("http://a:1/x/y", &h).as_deref(),
            Some("http://a:1/x/fw2.bin")
        );
        h.insert(hyper::header::LOCATION, "https://cdn/z".parse().unwrap());
        assert_eq!(
            redirect_target("http://a:1/x/y", &h).as_deref(),
            Some("https://cdn/z")
        );
        assert_eq!(origin_of("https://cdn:8443/z?q"), "https://cdn:8443");
    }

    /// A server that answers every request after 50 ms and counts the
    /// requests it holds at once and the connections it accepted.
    async fn slow_server() -> (String, Arc<[std::sync::atomic::AtomicUsize; 3]>) {
        use std::sync::atomic::Ordering::SeqCst;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/poll", listener.local_addr().unwrap());
        // [held now, most held at once, connections accepted]
        let counts: Arc<[std::sync::atomic::AtomicUsize; 3]> = Arc::new(Default::default());
        let c = counts.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                c[2].fetch_add(1, SeqCst);
                let c = c.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while let Ok(n) = sock.read(&mut chunk).await {
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            let now = c[0].fetch_add(1, SeqCst) + 1;
                            c[1].fetch_max(now, SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            c[0].fetch_sub(1, SeqCst);
                            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                            if sock.write_all(answer).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (url, counts)
    }

    #[tokio::test]
    async fn a_limited_pool_holds_no_more_requests_in_flight_than_its_limit() {
        use std::sync::atomic::Ordering::SeqCst;
        let (url, counts) = slow_server().await;
        let http = Arc::new(
            Http::limited(
                ConnectionModel::Pool,
                false,
                None,
                Duration::from_secs(20),
                3,
            )
            .unwrap(),
        );
        let tasks: Vec<_> = (0..20)
            .map(|d| {
                let (http, url) = (http.clone(), url.clone());
                tokio::spawn(async move {
                    let req = Request::new(Method::Get, url);
                    http.execute(d, req, Injected::default()).await
                })
            })
            .collect();
        for t in tasks {
            assert!(matches!(t.await.unwrap(), Delivery::Complete(r) if r.status == 200));
        }
        // Without the limit all 20 would be held at once.
        let most = counts[1].load(SeqCst);
        assert!(
            (1..=3).contains(&most),
            "most requests held at once: {most}"
        );
    }
}
