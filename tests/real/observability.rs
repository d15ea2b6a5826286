//! Observability of real runs: wall-clock latency in µs in the report
//! (`latency_us`), and the live Prometheus metrics of a run and of `serve`
//! (`--metrics-listen`), scraped over HTTP while both are still up.
//! Nothing here depends on how fast the machine is: only structure,
//! consistency between the report and the metrics, and units.

use crate::common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use fleetsim::http_server::{start, ServeOptions};
use fleetsim::metrics::{listen, Metrics};
use fleetsim::oracle::InvariantId;
use fleetsim::realtime::run_async_with_metrics;
use fleetsim::scenario::load;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// 6 scenario hours in about 2 s.
const TIME_SCALE: f64 = 10_000.0;

/// `GET /metrics` at `addr`: the content type and the body.
async fn scrape(addr: SocketAddr) -> (String, String) {
    let get = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        let head = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).await.expect("sends");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).await.expect("reads");
        raw
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), get)
        .await
        .expect("scrape answered within 10 s");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or_default()
        .to_string();
    (content_type, body.to_string())
}

/// Every sample of the exposition: `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The sum of every sample of `name` (any labels).
fn total(samples: &BTreeMap<String, f64>, name: &str) -> f64 {
    let open = format!("{name}{{");
    samples
        .iter()
        .filter(|(k, _)| k.starts_with(&open))
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn a_real_run_reports_microseconds_and_serves_live_metrics() {
    let mut s = load(std::path::Path::new(
        "scenarios/broken/wrong-artifact-hash.yaml",
    ))
    .expect("broken scenario loads");
    s.scale_fleet(20);
    s.load.time_scale = TIME_SCALE;

    let (addr_tx, addr_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (scraped_tx, scraped_rx) = mpsc::channel();
    let server_scenario = s.clone();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let running = start(ServeOptions {
                listen: "127.0.0.1:0".parse().expect("addr"),
                scenario: Some(server_scenario),
                time_scale: TIME_SCALE,
                metrics_listen: Some("127.0.0.1:0".parse().expect("addr")),
                ..Default::default()
            })
            .await
            .expect("serve starts on ephemeral ports");
            let metrics = running.metrics_addr.expect("serve listens for scrapes");
            addr_tx.send(running.base_url.clone()).expect("test waits");
            let _ = tokio::time::timeout(Duration::from_secs(120), stop_rx).await;
            // Scraped after the fleet is done, before serve stops.
            scraped_tx.send(scrape(metrics).await).expect("test waits");
            running.shutdown().await;
        });
    });
    let base_url = addr_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("serve reports its address");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("fleet runtime");
    let started = std::time::Instant::now();
    let (run, (content_type, fleet_text)) = rt.block_on(async {
        let metrics = Metrics::for_run();
        let listener = listen("127.0.0.1:0".parse().expect("addr"), metrics.clone())
            .await
            .expect("metrics listener on port 0");
        let opts = common::options(&base_url);
        let run = run_async_with_metrics(&s, &opts, Some(metrics)).await;
        (run, scrape(listener.local_addr).await)
    });
    let run = run.expect("serve is reachable");
    let _ = stop_tx.send(());
    let (_, serve_text) = scraped_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("serve scraped");
    server.join().expect("server thread ends");

    // The report: µs beside ms, for the same answers.
    let report = fleetsim::report::build(&s, "wrong-artifact-hash.yaml", &run, started.elapsed());
    assert!(!report.latency_us.is_empty(), "a real run has latency_us");
    let answered: u64 = run.stats.statuses.values().sum();
    let mut counted = 0;
    for (kind, us) in &report.latency_us {
        let ms = &report.latency_ms[kind];
        assert!(
            us.p50 <= us.p90 && us.p90 <= us.p99 && us.p99 <= us.max,
            "{kind}: {us:?}"
        );
        assert_eq!(us.count, ms.count, "{kind}: one µs value per ms value");
        assert!(
            !us.histogram.is_empty(),
            "{kind}: the histogram travels along"
        );
        // The same maximum, a thousand times finer (3 significant digits each).
        let as_ms = us.max as f64 / 1000.0;
        assert!(
            (as_ms - ms.max as f64).abs() <= 1.0 + 0.002 * ms.max as f64,
            "{kind}: max {}µs vs {}ms",
            us.max,
            ms.max
        );
        counted += us.count;
    }
    assert_eq!(counted, answered, "every complete answer has a latency");
    let json = serde_json::to_value(&report).expect("report serialises");
    assert!(json["latency_us"]["root"]["p50"].as_u64().is_some());
    let root = &report.latency_us["root"];
    eprintln!(
        "root polls against serve: n={} p50 {}µs p99 {}µs max {}µs",
        root.count, root.p50, root.p99, root.max
    );

    // The run's metrics agree with its report.
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let fleet = samples(&fleet_text);
    let root_ok = fleet
        .get("fleetsim_requests_total{kind=\"root\",status=\"200\"}")
        .copied()
        .unwrap_or(0.0);
    assert!(root_ok > 0.0, "root polls answered 200:\n{fleet_text}");
    let requests = total(&fleet, "fleetsim_requests_total");
    let lost = run.stats.unanswered as f64;
    assert_eq!(requests + lost, run.stats.requests() as f64, "{fleet_text}");
    let root_count = fleet["fleetsim_request_duration_seconds_count{kind=\"root\"}"];
    assert_eq!(root_count, root.count as f64);
    assert_eq!(total(&fleet, "fleetsim_devices"), 20.0, "{fleet_text}");
    let fired = common::fired(&run, InvariantId::DdiArtifactHash);
    assert!(fired > 0, "the broken server is caught");
    let series = "fleetsim_violations_total{invariant=\"DDI-ARTIFACT-HASH\"}";
    assert_eq!(
        fleet.get(series).copied(),
        Some(fired as f64),
        "{fleet_text}"
    );

    // serve's metrics saw at least every answer the fleet got.
    let serve = samples(&serve_text);
    let served_root = serve
        .get("fleetsim_serve_requests_total{kind=\"root\",status=\"200\"}")
        .copied()
        .unwrap_or(0.0);
    assert!(
        served_root >= root_ok,
        "serve {served_root} vs fleet {root_ok}"
    );
    let served_downloads = total(&serve, "fleetsim_serve_request_duration_seconds_count");
    assert!(served_downloads >= root_ok, "{serve_text}");
}
