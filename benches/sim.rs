//! Engine throughput and memory benchmark: `cargo bench --bench sim`.
//!
//! Runs a poll-and-update fleet (70 % constrained devices online 2 min every
//! hour, 30 % always-on; server polling 5 min; one forced 1 MiB campaign at
//! 1 h; 1 % loss) for one virtual day, once at 100 000 devices and once at
//! 10 000 to show scaling, then the same two fleets as OTAU devices (Exosite
//! HTTP long polls of 5 min instead of DDI polls; the campaign writes a
//! `URL_LIST` manifest), and prints a table plus one JSON line.
//!
//! Each size runs in its own child process (this binary, re-executed), so that
//! its resident-memory figures (`VmRSS`, `VmHWM` from `/proc/self/status`) are
//! not polluted by the other run's peak or by memory the allocator kept.
//!
//! Environment:
//! - `FLEETSIM_BENCH_DEVICES`: fleet size of the main run (default 100000).
//! - `FLEETSIM_BENCH_DAYS`: virtual duration in days, fractions allowed (default 1).
//! - `FLEETSIM_BENCH_LOSS`: per-message loss probability (default 0.01).
//! - `FLEETSIM_BENCH_CAMPAIGNS`: `0` to run without the campaign (default 1).
//! - `FLEETSIM_BENCH_PROTOCOLS`: protocols to run, comma-separated (default `ddi,otau`).
//!
//! The engine is single-threaded, so every figure is for one core.
//!
//! Without `--bench` (which `cargo bench` passes, and `cargo test
//! --all-targets` does not) the binary only runs a 100-device smoke test.

use std::process::Command;
use std::time::Instant;

use fleetsim::engine::{Engine, Selection};
use fleetsim::scenario::{load_str, units::format_duration};
use fleetsim::time::Span;
use serde_json::{json, Value};

/// The bench scenario; `{…}` placeholders are filled in by [`scenario_text`].
/// Kept here rather than under `scenarios/`, which CI runs in full.
const SCENARIO: &str = "\
name: bench-poll-and-update
seed: 7
duration: {duration}
server:
  polling: 5m
fleet:
  - kind: constrained
    count: {constrained}
    protocol: {protocol}
    connectivity:
      online_every: 1h
      online_for: 2m
      loss: {loss}
  - kind: always_on
    count: {always_on}
    protocol: {protocol}
    connectivity:
      loss: {loss}
{campaigns}";

const CAMPAIGN: &str = "\
campaigns:
  - name: fw-bench
    at: 1h
    version: 2.0.0
    artifacts: [ { name: fw-bench.bin, size: 1MiB } ]
    type: forced
";

/// Child processes get their fleet size through this variable.
const CHILD_VAR: &str = "FLEETSIM_BENCH_CHILD_DEVICES";
/// … and their protocol through this one.
const CHILD_PROTOCOL_VAR: &str = "FLEETSIM_BENCH_CHILD_PROTOCOL";
/// Child processes print their result on a line starting with this.
const RESULT_TAG: &str = "@@fleetsim-bench ";
const DEFAULT_DEVICES: u64 = 100_000;
const SCALING_DEVICES: u64 = 10_000;

#[derive(Clone, Debug)]
struct Params {
    duration: Span,
    loss: f64,
    campaign: bool,
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Option<T> {
    let text = std::env::var(name).ok()?;
    match text.trim().parse() {
        Ok(v) => Some(v),
        Err(_) => panic!("{name}={text:?} is not a valid value"),
    }
}

fn params() -> Params {
    let days: f64 = env_parse("FLEETSIM_BENCH_DAYS").unwrap_or(1.0);
    assert!(
        days.is_finite() && days > 0.0,
        "FLEETSIM_BENCH_DAYS must be > 0"
    );
    let loss: f64 = env_parse("FLEETSIM_BENCH_LOSS").unwrap_or(0.01);
    let campaign = env_parse::<u32>("FLEETSIM_BENCH_CAMPAIGNS").unwrap_or(1) != 0;
    Params {
        duration: Span((days * 86_400_000.0).round() as u64),
        loss,
        campaign,
    }
}

fn scenario_text(devices: u64, protocol: &str, p: &Params) -> String {
    assert!(devices >= 2, "need at least 2 devices (one per group)");
    let constrained = ((devices as f64 * 0.7).round() as u64).clamp(1, devices - 1);
    SCENARIO
        .replace("{duration}", &format_duration(p.duration))
        .replace("{constrained}", &constrained.to_string())
        .replace("{always_on}", &(devices - constrained).to_string())
        .replace("{loss}", &p.loss.to_string())
        .replace("{protocol}", protocol)
        .replace("{campaigns}", if p.campaign { CAMPAIGN } else { "" })
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn proc_status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// `(on-CPU, waiting-for-a-CPU)` seconds of this thread so far, from
/// `/proc/thread-self/schedstat`; zeros when the kernel does not provide it.
/// The wait figure shows whether other processes took the core from the run.
fn sched_secs() -> (f64, f64) {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut f = text
        .split_whitespace()
        .map(|v| v.parse::<u64>().unwrap_or(0) as f64 / 1e9);
    (f.next().unwrap_or(0.0), f.next().unwrap_or(0.0))
}

/// The 1-minute load average.
fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// One measured run, in this process.
fn run_one(devices: u64, protocol: &str, p: &Params) -> Value {
    let text = scenario_text(devices, protocol, p);
    let scenario = load_str("bench.yaml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));

    let rss_before = proc_status_bytes("VmRSS");
    let t0 = Instant::now();
    let engine = Engine::new(&scenario, &Selection::default());
    let build_s = t0.elapsed().as_secs_f64();
    let rss_built = proc_status_bytes("VmRSS");
    let n = engine.device_count() as u64;

    let load_before = loadavg();
    let (cpu0, wait0) = sched_secs();
    let t1 = Instant::now();
    let result = engine.run(|_| {});
    let wall_s = t1.elapsed().as_secs_f64();
    let (cpu1, wait1) = sched_secs();
    let load_after = loadavg();
    let hwm = proc_status_bytes("VmHWM");
    let rss_after = proc_status_bytes("VmRSS");

    let requests = result.stats.requests();
    let by_kind: serde_json::Map<String, Value> = result
        .stats
        .sent
        .iter()
        .map(|(k, v)| (format!("{k:?}"), json!(v)))
        .collect();
    let per_dev = |b: u64| b.saturating_sub(rss_before) as f64 / n.max(1) as f64;
    json!({
        "protocol": protocol,
        "devices": n,
        "virtual_duration": p.duration.to_string(),
        "virtual_secs": p.duration.as_secs_f64(),
        "loss": p.loss,
        "campaign": p.campaign,
        "events": result.events,
        "requests": requests,
        "requests_by_kind": by_kind,
        "targeted": result.targeted,
        "updates_succeeded": result.stats.updates_succeeded,
        "updates_failed": result.stats.updates_failed,
        "violations": result.oracle.total(),
        "build_secs": build_s,
        "wall_secs": wall_s,
        "cpu_secs": cpu1 - cpu0,
        "runqueue_wait_secs": wait1 - wait0,
        "loadavg_1m_before": load_before,
        "loadavg_1m_after": load_after,
        "events_per_sec": result.events as f64 / wall_s,
        "requests_per_sec": requests as f64 / wall_s,
        "requests_per_cpu_sec": requests as f64 / (cpu1 - cpu0).max(1e-9),
        "rss_before_bytes": rss_before,
        "rss_built_bytes": rss_built,
        "rss_after_run_bytes": rss_after,
        "vm_hwm_bytes": hwm,
        "bytes_per_device_built": per_dev(rss_built),
        "bytes_per_device_peak": per_dev(hwm),
        "digest": result.digest,
    })
}

/// Runs `devices` in a fresh child process and returns its result.
fn run_child(devices: u64, protocol: &str) -> Value {
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .env(CHILD_VAR, devices.to_string())
        .env(CHILD_PROTOCOL_VAR, protocol)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("cannot re-run the bench binary");
    assert!(out.status.success(), "bench child failed: {}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_TAG))
        .unwrap_or_else(|| panic!("bench child printed no result:\n{stdout}"));
    serde_json::from_str(line).expect("bench child result is JSON")
}

fn si(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// Renders one table cell from a run's JSON result.
type Cell = Box<dyn Fn(&Value) -> String>;

fn print_table(runs: &[Value]) {
    let f = |r: &Value, k: &str| r[k].as_f64().unwrap_or(0.0);
    let rows: Vec<(&str, Cell)> = vec![
        (
            "protocol",
            Box::new(|r| r["protocol"].as_str().unwrap_or("").to_string()),
        ),
        ("devices", Box::new(|r| r["devices"].to_string())),
        (
            "virtual duration",
            Box::new(|r| r["virtual_duration"].as_str().unwrap_or("").to_string()),
        ),
        ("engine events", Box::new(|r| r["events"].to_string())),
        (
            "simulated requests",
            Box::new(|r| r["requests"].to_string()),
        ),
        (
            "  of which downloads",
            Box::new(|r| {
                let k = &r["requests_by_kind"];
                (k["Download"].as_u64().unwrap_or(0) + k["OtauDownload"].as_u64().unwrap_or(0))
                    .to_string()
            }),
        ),
        (
            "updates ok / targeted",
            Box::new(|r| format!("{} / {}", r["updates_succeeded"], r["targeted"])),
        ),
        (
            "oracle violations",
            Box::new(|r| r["violations"].to_string()),
        ),
        (
            "engine build (s)",
            Box::new(move |r| format!("{:.3}", f(r, "build_secs"))),
        ),
        (
            "run wall time (s)",
            Box::new(move |r| format!("{:.3}", f(r, "wall_secs"))),
        ),
        (
            "  on CPU / waiting (s)",
            Box::new(move |r| {
                format!(
                    "{:.3} / {:.3}",
                    f(r, "cpu_secs"),
                    f(r, "runqueue_wait_secs")
                )
            }),
        ),
        (
            "  load avg 1m before/after",
            Box::new(move |r| {
                format!(
                    "{:.2} / {:.2}",
                    f(r, "loadavg_1m_before"),
                    f(r, "loadavg_1m_after")
                )
            }),
        ),
        ("events/s", Box::new(move |r| si(f(r, "events_per_sec")))),
        (
            "requests/s",
            Box::new(move |r| si(f(r, "requests_per_sec"))),
        ),
        (
            "requests per CPU-second",
            Box::new(move |r| si(f(r, "requests_per_cpu_sec"))),
        ),
        (
            "virtual/wall speed-up",
            Box::new(move |r| format!("{:.0}x", f(r, "virtual_secs") / f(r, "wall_secs"))),
        ),
        (
            "RSS built (MiB)",
            Box::new(move |r| {
                format!(
                    "{:.1}",
                    (f(r, "rss_built_bytes") - f(r, "rss_before_bytes")) / 1048576.0
                )
            }),
        ),
        (
            "RSS peak (MiB)",
            Box::new(move |r| {
                format!(
                    "{:.1}",
                    (f(r, "vm_hwm_bytes") - f(r, "rss_before_bytes")) / 1048576.0
                )
            }),
        ),
        (
            "bytes/device, built",
            Box::new(move |r| format!("{:.0}", f(r, "bytes_per_device_built"))),
        ),
        (
            "bytes/device, peak",
            Box::new(move |r| format!("{:.0}", f(r, "bytes_per_device_peak"))),
        ),
        (
            "digest (first 16 hex)",
            Box::new(|r| {
                r["digest"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .take(16)
                    .collect()
            }),
        ),
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|(_, cell)| runs.iter().map(cell).collect())
        .collect();
    let label_w = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let col_w: Vec<usize> = (0..runs.len())
        .map(|c| cells.iter().map(|row| row[c].len()).max().unwrap_or(0))
        .collect();
    for ((label, _), row) in rows.iter().zip(&cells) {
        let mut line = format!("{label:<label_w$}");
        for (cell, w) in row.iter().zip(&col_w) {
            line.push_str(&format!("  {cell:>w$}"));
        }
        println!("{line}");
    }
}

/// `cargo test --all-targets` (or `--benches`) also runs this binary, in the
/// dev profile and without `--bench`; then only check that the scenario loads
/// and a tiny fleet runs clean, instead of simulating 100 000 devices unoptimised.
fn smoke_test() {
    let p = Params {
        duration: Span::hours(2),
        loss: 0.01,
        campaign: true,
    };
    for protocol in ["ddi", "otau"] {
        let r = run_one(100, protocol, &p);
        assert_eq!(r["devices"], 100);
        assert_eq!(r["violations"], 0, "{r}");
        assert!(r["requests"].as_u64().unwrap_or(0) > 0, "{r}");
    }
    println!("fleetsim bench smoke test ok (run `cargo bench --bench sim` to measure)");
}

fn main() {
    if let Some(devices) = env_parse::<u64>(CHILD_VAR) {
        let protocol = std::env::var(CHILD_PROTOCOL_VAR).unwrap_or_else(|_| "ddi".into());
        println!("{RESULT_TAG}{}", run_one(devices, &protocol, &params()));
        return;
    }
    if !std::env::args().any(|a| a == "--bench") {
        return smoke_test();
    }
    let p = params();
    let main_devices = env_parse("FLEETSIM_BENCH_DEVICES").unwrap_or(DEFAULT_DEVICES);
    let mut sizes = vec![main_devices];
    if main_devices != SCALING_DEVICES {
        sizes.push(SCALING_DEVICES);
    }
    println!(
        "fleetsim engine bench: poll-and-update, 70% constrained (online 2m every 1h) / \
         30% always_on, server polling 5m, {}, loss {}, {} virtual",
        if p.campaign {
            "one forced 1MiB campaign at 1h"
        } else {
            "no campaign"
        },
        p.loss,
        p.duration
    );
    println!(
        "single core: the engine is single-threaded (one event heap, no worker threads); \
         each size runs in its own process"
    );
    println!("wall-clock rates; a large `waiting` time means other processes shared the core");
    println!(
        "one request = device send + embedded-server handling + response delivery (or its loss)"
    );
    let protocols = std::env::var("FLEETSIM_BENCH_PROTOCOLS").unwrap_or_else(|_| "ddi,otau".into());
    let mut runs = Vec::new();
    for protocol in protocols
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        for &n in &sizes {
            eprintln!("running {n} {protocol} devices …");
            runs.push(run_child(n, protocol));
        }
    }
    println!();
    print_table(&runs);
    println!();
    println!(
        "{}",
        json!({
            "bench": "fleetsim/sim",
            "threads": 1,
            "scenario": {
                "mix": "70% constrained online_every 1h online_for 2m, 30% always_on",
                "server_polling": "5m",
                "campaign": p.campaign,
                "loss": p.loss,
                "duration": p.duration.to_string(),
            },
            "runs": runs,
        })
    );
}
