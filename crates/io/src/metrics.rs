//! Live Prometheus metrics of a long run or of `fleetsim serve`
//! (`--metrics-listen ADDR`): `GET /metrics` answers the text exposition
//! format (OpenMetrics 1.0, which Prometheus scrapes) from a
//! `prometheus-client` registry, served with the hyper already in this
//! crate.
//!
//! The fleet and server crates stay free of IO: the real-time driver and
//! serve's request adapter feed a [`Metrics`] as requests complete, and the
//! driver copies its ledger's phase counts and violation counts in as it
//! samples the fleet timeline.
//!
//! Series (a run; `serve` has the first two under `fleetsim_serve_`):
//! - `fleetsim_requests_total{kind, status}`: requests by kind and by HTTP
//!   status, or by failure (`timeout`, `reset`, `unreachable`, `malformed`);
//! - `fleetsim_request_duration_seconds{kind}`: latency histogram of
//!   complete answers (a run: from the intended send time);
//! - `fleetsim_devices{phase}`: devices per phase;
//! - `fleetsim_violations_total{invariant}`: violations by invariant ID;
//! - `fleetsim_injected_faults_total{fault}`: faults the run injected.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use fleetsim_core::message::NetError;
use fleetsim_core::oracle::InvariantId;
use fleetsim_core::protocol::ddi::{Delivery, Phase, ReqKind};

/// One label.
type Label = [(&'static str, String); 1];
/// Two labels.
type Labels2 = [(&'static str, String); 2];
type Histograms = Family<Label, Histogram, fn() -> Histogram>;

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency bucket bounds in seconds: 100 µs to 1 min in 1-2.5-5 steps.
const LATENCY_BUCKETS: [f64; 18] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The series of one run or one `serve`, and their registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels2, Counter>,
    latency: Histograms,
    devices: Family<Label, Gauge>,
    violations: Family<Label, Counter>,
    faults: Family<Label, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    fn families() -> Metrics {
        Metrics {
            registry: Registry::default(),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            devices: Family::default(),
            violations: Family::default(),
            faults: Family::default(),
        }
    }

    /// The series of a real-time run (`fleetsim_…`).
    pub fn for_run() -> Arc<Metrics> {
        let mut m = Metrics::families();
        let r = &mut m.registry;
        r.register(
            "fleetsim_requests",
            "Requests by kind and by HTTP status or failure",
            m.requests.clone(),
        );
        r.register(
            "fleetsim_request_duration_seconds",
            "Latency of complete answers from the intended send time",
            m.latency.clone(),
        );
        r.register("fleetsim_devices", "Devices by phase", m.devices.clone());
        r.register(
            "fleetsim_violations",
            "Invariant violations by invariant ID",
            m.violations.clone(),
        );
        r.register(
            "fleetsim_injected_faults",
            "Faults the run injected, by fault",
            m.faults.clone(),
        );
        Arc::new(m)
    }

    /// The series of `fleetsim serve` (`fleetsim_serve_…`).
    pub fn for_serve() -> Arc<Metrics> {
        let mut m = Metrics::families();
        let r = &mut m.registry;
        r.register(
            "fleetsim_serve_requests",
            "Requests served by route kind and HTTP status (reset: a fault window's reset)",
            m.requests.clone(),
        );
        r.register(
            "fleetsim_serve_request_duration_seconds",
            "Time from a request's head to its answer's head",
            m.latency.clone(),
        );
        Arc::new(m)
    }

    /// A request of `kind` ended with `status` (a code or a failure's
    /// name); `latency` for a complete answer.
    pub fn request(&self, kind: &str, status: &str, latency: Option<Duration>) {
        let labels = [("kind", kind.to_string()), ("status", status.to_string())];
        self.requests.get_or_create(&labels).inc();
        if let Some(l) = latency {
            let labels = [("kind", kind.to_string())];
            self.latency.get_or_create(&labels).observe(l.as_secs_f64());
        }
    }

    /// A device's HTTP exchange of `kind` ended with `delivery`.
    pub fn delivery(&self, kind: ReqKind, delivery: &Delivery, latency: Duration) {
        match delivery {
            Delivery::Complete(r) => {
                self.request(kind.as_str(), &r.status.to_string(), Some(latency))
            }
            Delivery::Broken(e, _) => self.request(kind.as_str(), e.as_str(), None),
        }
    }

    /// A device's MQTT publish of `kind` was acknowledged (counted as a
    /// 200, as the report does) or failed.
    pub fn published(&self, kind: ReqKind, result: Result<(), NetError>, latency: Duration) {
        match result {
            Ok(()) => self.request(kind.as_str(), "200", Some(latency)),
            Err(e) => self.request(kind.as_str(), e.as_str(), None),
        }
    }

    /// The run injected `fault` (`drop`, `delay`, `cut_body`, …) once.
    pub fn injected(&self, fault: &str) {
        self.faults
            .get_or_create(&[("fault", fault.to_string())])
            .inc();
    }

    /// The faults a request got (client fault windows and the emulated
    /// network, `load.emulate_network`): each of its effects once.
    pub fn injected_client(&self, fault: &crate::http_client::Injected) {
        let net = fault.net.as_ref();
        let effects = [
            (fault.drop, "drop"),
            (fault.delay.is_some(), "delay"),
            (fault.cut_body, "cut_body"),
            (net.is_some_and(|n| n.drop_answer), "answer_drop"),
            (net.is_some_and(|n| !n.answer_delay.is_zero()), "latency"),
        ];
        for (_, name) in effects.iter().filter(|(on, _)| *on) {
            self.injected(name);
        }
    }

    /// Devices per phase, in [`Phase::ALL`] order.
    pub fn phases(&self, counts: &[u64; 7]) {
        for p in Phase::ALL {
            let n = i64::try_from(counts[p as usize]).unwrap_or(i64::MAX);
            self.devices
                .get_or_create(&[("phase", p.as_str().to_string())])
                .set(n);
        }
    }

    /// The oracle's violation counts so far (cumulative): each counter is
    /// raised to its count.
    pub fn violations(&self, counts: &BTreeMap<InvariantId, u64>) {
        for (id, n) in counts {
            let c = self
                .violations
                .get_or_create(&[("invariant", id.as_str().to_string())]);
            let had = c.get();
            if *n > had {
                c.inc_by(n - had);
            }
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// A listener serving `GET /metrics`; dropping it stops it.
pub struct MetricsServer {
    /// The address bound (the real port when 0 was asked for).
    pub local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why the metrics listener could not start.
#[derive(Debug, thiserror::Error)]
#[error("--metrics-listen {addr}: cannot listen: {source}")]
pub struct ListenError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// Cause.
    pub source: std::io::Error,
}

/// Serves `metrics` on `addr` (port 0: a free port) on the current tokio
/// runtime until the returned server is dropped.
pub async fn listen(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<MetricsServer, ListenError> {
    let fail = |source| ListenError { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(fail)?;
    let local_addr = listener.local_addr().map_err(fail)?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of descriptors for a moment: try again shortly.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let answer = answer(&metrics, &req);
                    async move { Ok::<_, std::convert::Infallible>(answer) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                // A scrape is short; bound a stuck one.
                let _ = tokio::time::timeout(Duration::from_secs(60), conn).await;
            });
        }
    });
    Ok(MetricsServer { local_addr, task })
}

/// A [`listen`] on a thread and runtime of its own, for a caller without
/// a runtime (the CLI's `run --metrics-listen`); dropping it stops it.
pub struct BackgroundServer {
    /// The address bound.
    pub local_addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves `metrics` on `addr` from a thread of its own until the returned
/// server is dropped.
pub fn listen_in_background(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
) -> Result<BackgroundServer, ListenError> {
    let fail = |source| ListenError { addr, source };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(fail)?;
    let server = rt.block_on(listen(addr, metrics))?;
    let local_addr = server.local_addr;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            rt.block_on(async move {
                let _ = stopped.await;
                drop(server);
            })
        })
        .map_err(fail)?;
    Ok(BackgroundServer {
        local_addr,
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// `GET /metrics` → the exposition; anything else → 404 or 405.
fn answer<B>(metrics: &Metrics, req: &hyper::Request<B>) -> hyper::Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&http::Method::GET | &http::Method::HEAD, "/metrics") => {
            (200, CONTENT_TYPE, metrics.render())
        }
        (_, "/metrics") => (405, "text/plain", "GET /metrics\n".to_string()),
        _ => (404, "text/plain", "metrics are at /metrics\n".to_string()),
    };
    let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}

/// The route kind `serve` labels a request with: the device request kinds
/// of DDI (`root`, `deployment_base`, `feedback`, `download`, …), `mgmt`
/// for the Management API, `otau` for OTAU device routes, `otau_admin`,
/// `other` for the rest (CDN downloads, unknown paths).
pub fn route_kind(path: &str) -> &'static str {
    if let Some((_, rest)) = path.split_once("/controller/v1/") {
        let mut parts = rest.split('/').skip(1);
        return match (parts.next(), parts.nth(1)) {
            (None | Some(""), _) => "root",
            (Some("configData"), _) => "config_data",
            (Some("deploymentBase"), Some("feedback")) => "feedback",
            (Some("deploymentBase"), _) => "deployment_base",
            (Some("cancelAction"), Some("feedback")) => "cancel_feedback",
            (Some("cancelAction"), _) => "cancel_action",
            (Some("confirmationBase"), Some("feedback")) => "confirm_feedback",
            (Some("confirmationBase"), Some("activateAutoConfirm" | "deactivateAutoConfirm")) => {
                "auto_confirm"
            }
            (Some("confirmationBase"), _) => "confirmation",
            (Some("softwaremodules"), _) => "download",
            _ => "other",
        };
    }
    if path.starts_with("/rest/v1/") {
        "mgmt"
    } else if path.starts_with(crate::http_server::OTAU_ADMIN_PREFIX) {
        "otau_admin"
    } else if crate::http_server::is_otau_path(path) {
        "otau"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_kinds_follow_the_ddi_request_kinds() {
        let base = "/DEFAULT/controller/v1/dev-1";
        assert_eq!(route_kind(base), "root");
        assert_eq!(route_kind(&format!("{base}/configData")), "config_data");
        assert_eq!(
            route_kind(&format!("{base}/deploymentBase/7")),
            "deployment_base"
        );
        assert_eq!(
            route_kind(&format!("{base}/deploymentBase/7/feedback")),
            "feedback"
        );
        assert_eq!(
            route_kind(&format!("{base}/cancelAction/7")),
            "cancel_action"
        );
        assert_eq!(
            route_kind(&format!("{base}/cancelAction/7/feedback")),
            "cancel_feedback"
        );
        let download = format!("{base}/softwaremodules/3/artifacts/app.bin");
        assert_eq!(route_kind(&download), "download");
        assert_eq!(route_kind("/rest/v1/rollouts"), "mgmt");
        assert_eq!(route_kind("/nothing"), "other");
    }

    #[test]
    fn the_exposition_names_every_series_with_its_labels() {
        let m = Metrics::for_run();
        m.request("root", "200", Some(Duration::from_micros(850)));
        m.request("root", "timeout", None);
        m.injected("drop");
        let mut phases = [0; 7];
        phases[Phase::Updated as usize] = 3;
        m.phases(&phases);
        let mut counts = BTreeMap::new();
        counts.insert(InvariantId::ALL[0], 2);
        m.violations(&counts);
        m.violations(&counts);
        let text = m.render();
        for line in [
            "fleetsim_requests_total{kind=\"root\",status=\"200\"} 1",
            "fleetsim_requests_total{kind=\"root\",status=\"timeout\"} 1",
            "fleetsim_request_duration_seconds_count{kind=\"root\"} 1",
            "fleetsim_request_duration_seconds_bucket{le=\"0.001\",kind=\"root\"} 1",
            "fleetsim_devices{phase=\"updated\"} 3",
            "fleetsim_injected_faults_total{fault=\"drop\"} 1",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        let id = InvariantId::ALL[0].as_str();
        // Raised to the count, not added twice.
        let violations = format!("fleetsim_violations_total{{invariant=\"{id}\"}} 2");
        assert!(text.contains(&violations), "{violations} in\n{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
