//! Real-HTTP benchmarks of the real-time driver (`cargo bench --bench http`):
//!
//! 1. **Sleepy scale**: N sleepy devices (default 100 000) started open-loop
//!    against `fleetsim serve` on loopback, polling every 5 minutes; reports
//!    resident memory per idle device once all have started, requests/s and
//!    latency percentiles.
//! 2. **Load ratio**: stateful always-on devices polling as fast as the time
//!    scale makes them, against the same `serve`, next to `oha` hitting the same
//!    root endpoint in the same run; reports both requests/s and the ratio.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it does a tiny
//! smoke run only. Environment: `FLEETSIM_BENCH_SLEEPY` (devices),
//! `FLEETSIM_BENCH_SECS` (seconds per phase).

use std::time::{Duration, Instant};

use fleetsim::http_server::{start, ServeOptions};
use fleetsim::realtime::{run_async, RealOptions, Target};
use fleetsim::scenario::load_str;

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sleepy_scenario(devices: u64, secs: u64, rate: u64) -> String {
    format!(
        "name: bench-sleepy\nduration: {secs}s\nserver: {{ polling: 5m }}\n\
         load: {{ start_rate: {rate}, connections: pool, request_timeout: 30s }}\n\
         fleet:\n  - {{ kind: always_on, count: {devices}, connectivity: {{ loss: 0 }} }}\n"
    )
}

fn load_scenario(devices: u64, secs: u64) -> String {
    // `serve`'s default 5-minute sleep compressed 1 000 000x: a poll every 0.3 ms of real time per device,
    // more than the server can answer, so the run measures its ceiling.
    format!(
        "name: bench-load\nduration: {}s\nserver: {{ polling: 30s }}\n\
         load: {{ time_scale: 1000000, connections: pool, request_timeout: 10s }}\n\
         fleet:\n  - {{ kind: always_on, count: {devices}, connectivity: {{ loss: 0 }} }}\n",
        secs * 1_000_000
    )
}

fn oha(url: &str, secs: u64) -> Option<(f64, String)> {
    let out = std::process::Command::new("oha")
        .args([
            "--no-tui",
            "-z",
            &format!("{secs}s"),
            "-c",
            "64",
            "--output-format",
            "json",
            url,
        ])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let rps = v["summary"]["requestsPerSec"].as_f64()?;
    let p = &v["latencyPercentiles"];
    let detail = format!(
        "p50 {:.2} ms  p99 {:.2} ms",
        p["p50"].as_f64().unwrap_or(0.0) * 1000.0,
        p["p99"].as_f64().unwrap_or(0.0) * 1000.0
    );
    Some((rps, detail))
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let server = start(ServeOptions {
            listen: "127.0.0.1:0".parse().expect("addr"),
            scenario: None,
            tls: None,
            time_scale: 1.0,
            mqtt: Default::default(),
            ..Default::default()
        })
        .await
        .expect("serve starts");
        let base = format!("http://{}", server.local_addr);
        let target = Target { base_url: base.clone(), tenant: None, gateway_token: None, ca_pem: None };
        let opts = RealOptions {
            target,
            manager: None,
            mqtt: None,
            live: None,
            server_events: None,
            twin: Default::default(),
        };

        let (devices, secs, rate) = if full {
            (env_u64("FLEETSIM_BENCH_SLEEPY", 100_000), env_u64("FLEETSIM_BENCH_SECS", 40), 5_000)
        } else {
            (50, 2, 1_000)
        };
        // Phase 1: sleepy devices.
        let s = load_str("bench.yaml", &sleepy_scenario(devices, secs, rate)).expect("scenario");
        let before = rss_bytes();
        let started = Instant::now();
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let sampler = {
            let peak = peak.clone();
            tokio::spawn(async move {
                loop {
                    peak.fetch_max(rss_bytes(), std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        };
        let r = run_async(&s, &opts).await.expect("sleepy run");
        sampler.abort();
        let wall = started.elapsed().as_secs_f64();
        let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
        let root = r.stats.latency.get(&fleetsim::protocol::ddi::ReqKind::Root);
        println!("sleepy devices against fleetsim serve (one process, loopback, 2 cores)");
        println!("  devices                 {devices}");
        println!("  started at              {rate}/s (open loop), polling every 5 min");
        println!("  requests                {}", r.stats.requests());
        println!("  requests/s              {:.0}", r.stats.requests() as f64 / wall);
        if let Some(h) = root {
            println!(
                "  root latency            p50 {} ms  p99 {} ms  p99.9 {} ms  max {} ms",
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max()
            );
        }
        println!("  violations              {}", r.oracle.total());
        println!(
            "  RSS per device (peak, driver + embedded server in one process)  {:.0} B",
            peak.saturating_sub(before) as f64 / devices as f64
        );

        // Phase 2: load ratio against oha.
        let (devices, secs) = if full { (64, 10) } else { (8, 1) };
        let s = load_str("bench.yaml", &load_scenario(devices, secs)).expect("scenario");
        let started = Instant::now();
        let r = run_async(&s, &opts).await.expect("load run");
        let fleet_rps = r.stats.requests() as f64 / started.elapsed().as_secs_f64();
        let h = r.stats.latency.get(&fleetsim::protocol::ddi::ReqKind::Root);
        println!("\nload: {devices} stateful always-on devices polling flat out for {secs}s");
        println!(
            "  fleetsim                {fleet_rps:.0} requests/s  (p50 {} ms  p99 {} ms, violations {})",
            h.map_or(0, |h| h.value_at_quantile(0.5)),
            h.map_or(0, |h| h.value_at_quantile(0.99)),
            r.oracle.total()
        );
        if full {
            let url = format!("{base}/DEFAULT/controller/v1/oha-device");
            match tokio::task::spawn_blocking(move || oha(&url, secs)).await.ok().flatten() {
                Some((rps, detail)) => {
                    println!("  oha -c 64               {rps:.0} requests/s  ({detail})");
                    println!("  ratio fleetsim/oha      {:.2}", fleet_rps / rps);
                }
                None => println!("  oha                     not found (cargo install oha) — no ratio"),
            }
        }
        server.shutdown().await;
    });
}
