//! Sustained DDI poll load: goosebit 0.2.12 next to `fleetsim serve`.
//!
//! `cargo bench --bench goosebit` starts a fresh goosebit (uvicorn, SQLite;
//! needs `FLEETSIM_GOOSEBIT_VENV`, see `scripts/goosebit-venv`) and the
//! embedded server (`fleetsim::http_server::start`) on loopback, and drives the
//! same fleet at each with the real-time driver (`run_async`): N always-on
//! devices told to poll every second (goosebit `POLL_TIME=00:00:01`, serve
//! `server.polling: 1s`), so both are offered N polls/s. A short warm-up run
//! registers the devices first (goosebit makes a new device wait 10 s and
//! send configData); then a measured run of `FLEETSIM_BENCH_SECS` (default
//! 25) counts root polls answered and their latency from the intended send
//! time (p50/p99, so an overloaded server shows as latency), printed side by
//! side. Settings: `FLEETSIM_BENCH_DEVICES` (default 200).
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it only checks
//! that its scenario is valid and exits at once, with or without goosebit.

use std::time::{Duration, Instant};

use fleetsim::http_server::{start, ServeOptions};
use fleetsim::management::goosebit::{Instance, InstanceOptions};
use fleetsim::protocol::ddi::ReqKind;
use fleetsim::realtime::{run_async, RealOptions, Target};
use fleetsim::scenario::{load_str, Scenario};

fn scenario(devices: u32, secs: u32) -> Result<Scenario, String> {
    load_str(
        "goosebit-bench.yaml",
        &format!(
            "name: goosebit-bench\nduration: {secs}s\nserver: {{ polling: 1s }}\n\
             load: {{ request_timeout: 10s }}\n\
             fleet:\n  - {{ kind: always_on, count: {devices} }}\n"
        ),
    )
    .map_err(|e| e.to_string())
}

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fail(message: &str) {
    eprintln!("goosebit bench: {message}");
    std::process::exit(1);
}

/// Root polls answered per second, p50 and p99 (ms), other statuses and failures.
struct Measured {
    polls_per_s: f64,
    p50: u64,
    p99: u64,
    non_200: u64,
    failed: u64,
}

async fn drive(base_url: &str, s: &Scenario) -> Result<Measured, String> {
    let opts = RealOptions {
        target: Target {
            base_url: base_url.to_string(),
            tenant: None,
            gateway_token: None,
            ca_pem: None,
        },
        manager: None,
        mqtt: None,
        live: None,
        server_events: None,
        twin: Default::default(),
    };
    let t0 = Instant::now();
    let limit = Duration::from_millis(s.duration.0.as_millis()) + Duration::from_secs(60);
    let run = tokio::time::timeout(limit, run_async(s, &opts))
        .await
        .map_err(|_| "run overran".to_string())?
        .map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64().max(1e-3);
    let root = run.stats.latency.get(&ReqKind::Root);
    let count = root.map_or(0, |h| h.len());
    Ok(Measured {
        polls_per_s: count as f64 / secs,
        p50: root.map_or(0, |h| h.value_at_quantile(0.5)),
        p99: root.map_or(0, |h| h.value_at_quantile(0.99)),
        non_200: run
            .stats
            .statuses
            .iter()
            .filter(|(s, _)| **s != 200)
            .map(|(_, n)| n)
            .sum(),
        failed: run.stats.errors.values().sum(),
    })
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let devices = env_u32("FLEETSIM_BENCH_DEVICES", 200).max(1);
    let secs = env_u32("FLEETSIM_BENCH_SECS", 25).max(5);
    let (warm, measured) = match (scenario(devices, 15), scenario(devices, secs)) {
        (Ok(w), Ok(m)) => (w, m),
        (Err(e), _) | (_, Err(e)) => return fail(&format!("bench scenario: {e}")),
    };
    if !bench {
        println!("goosebit bench: smoke check ok (run `cargo bench --bench goosebit` with FLEETSIM_GOOSEBIT_VENV set to measure)");
        return;
    }
    let Some(opts) = InstanceOptions::from_env("00:00:01") else {
        println!("goosebit bench: FLEETSIM_GOOSEBIT_VENV is not set; run scripts/goosebit-venv and export the path it prints");
        return;
    };
    let goosebit = match Instance::start(&opts) {
        Ok(g) => g,
        Err(e) => return fail(&e.to_string()),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot build the tokio runtime: {e}")),
    };
    let serve = match rt.block_on(start(ServeOptions {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        scenario: Some(measured.clone()),
        ..ServeOptions::default()
    })) {
        Ok(s) => s,
        Err(e) => return fail(&format!("cannot start serve: {e}")),
    };
    println!(
        "goosebit bench: {devices} always-on devices told to poll every 1 s, {secs} s measured after a 15 s warm-up, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut rows = Vec::new();
    for (name, url) in [
        ("goosebit 0.2.12", goosebit.base_url.clone()),
        ("fleetsim serve", serve.base_url.clone()),
    ] {
        println!("== {name}: warm-up");
        if let Err(e) = rt.block_on(drive(&url, &warm)) {
            return fail(&format!("{name} warm-up: {e}\n{}", goosebit.log_tail(10)));
        }
        println!("== {name}: measuring");
        match rt.block_on(drive(&url, &measured)) {
            Ok(m) => rows.push((name, m)),
            Err(e) => return fail(&format!("{name}: {e}")),
        }
    }
    println!(
        "\n{:<18} {:>10} {:>9} {:>9} {:>9} {:>8}",
        "server", "polls/s", "p50 ms", "p99 ms", "non-200", "failed"
    );
    for (name, m) in &rows {
        println!(
            "{name:<18} {:>10.1} {:>9} {:>9} {:>9} {:>8}",
            m.polls_per_s, m.p50, m.p99, m.non_200, m.failed
        );
    }
    println!("(offered: {devices} polls/s; latency from each poll's intended send time)");
    rt.block_on(serve.shutdown());
}
