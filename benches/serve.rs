//! HTTP throughput of `fleetsim serve` next to a plain hyper "hello" server.
//!
//! `cargo bench --bench serve` starts both in this process on one tokio
//! runtime (2 worker threads), then loads each in turn with the same tool on
//! loopback — `wrk` (Debian package `wrk`), else `oha` — and prints
//! requests/s, p50 and p99 for both and the ratio. The serve endpoint is the
//! DDI root poll `GET /DEFAULT/controller/v1/dev-1` of an empty server (JSON
//! rendering, ETag, routing, the shared lock: the whole request path); the
//! goal (issue 22) is serve ≥ 0.8 × hello.
//!
//! Settings (environment): `FLEETSIM_BENCH_SECS` (default 10),
//! `FLEETSIM_BENCH_CONNECTIONS` (default 64), `FLEETSIM_BENCH_THREADS` (wrk
//! threads, default 2), `FLEETSIM_BENCH_ROUNDS` (default 2: serve and hello
//! alternate, and the ratio is of the means, since the load tool shares the
//! machine's cores and single runs vary by ±10 %). `FLEETSIM_BENCH_HOLD=S`
//! only starts both servers, prints their URLs and keeps them up S seconds,
//! for loading and profiling from outside. Without `--bench` (as `cargo test --all-targets` runs
//! it) it only checks that both servers answer, and exits.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use fleetsim::http_server::{start, ServeOptions};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SERVE_PATH: &str = "/DEFAULT/controller/v1/dev-1";

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot build the tokio runtime: {e}")),
    };
    let opts = ServeOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..ServeOptions::default()
    };
    let serve = match rt.block_on(start(opts)) {
        Ok(running) => running,
        Err(e) => return fail(&format!("cannot start serve: {e}")),
    };
    let hello = match rt.block_on(start_hello()) {
        Ok(addr) => addr,
        Err(e) => return fail(&format!("cannot start the hello server: {e}")),
    };
    let serve_url = format!("http://{}{SERVE_PATH}", serve.local_addr);
    let hello_url = format!("http://{hello}/");

    // Hold mode: both servers stay up for that long, to be loaded and
    // profiled from outside (e.g. this process under `taskset -c 0`, the
    // load tool and `perf record -p` on the other core).
    if let Some(hold) = std::env::var("FLEETSIM_BENCH_HOLD")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        println!("serve {serve_url}\nhello {hello_url}");
        rt.block_on(async { tokio::time::sleep(Duration::from_secs(hold)).await });
        return;
    }
    if !bench {
        for (addr, path) in [(serve.local_addr, SERVE_PATH), (hello, "/")] {
            match rt.block_on(smoke(addr, path)) {
                Ok(status) if status.starts_with("HTTP/1.1 200") => {}
                Ok(status) => return fail(&format!("smoke: {path} answered {status:?}")),
                Err(e) => return fail(&format!("smoke: {path}: {e}")),
            }
        }
        println!("serve bench: smoke check ok (run `cargo bench --bench serve` to measure)");
        return;
    }

    let Some(tool) = LoadTool::find() else {
        println!(
            "serve bench: neither `wrk` nor `oha` is on PATH.\n  install one: `apt-get install -y wrk` (Debian/Ubuntu) or `cargo install oha`"
        );
        return;
    };
    let secs = env_u32("FLEETSIM_BENCH_SECS", 10);
    let conns = env_u32("FLEETSIM_BENCH_CONNECTIONS", 64);
    let threads = env_u32("FLEETSIM_BENCH_THREADS", 2);
    println!(
        "serve bench: {} -t{threads} -c{conns} -d{secs}s on loopback, servers on one tokio runtime (2 workers), {} cores",
        tool.name(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // Warm-up: connections, allocator, CPU frequency.
    for url in [&serve_url, &hello_url] {
        let _ = tool.run(url, threads, conns, 2);
    }
    let rounds = env_u32("FLEETSIM_BENCH_ROUNDS", 2).max(1);
    let targets = [
        ("serve (DDI root poll)", &serve_url),
        ("hyper hello", &hello_url),
    ];
    let mut results: Vec<(usize, &str, Measured)> = Vec::new();
    for round in 1..=rounds as usize {
        for (name, url) in targets {
            println!("\n== round {round}, {name}: {url}");
            match tool.run(url, threads, conns, secs) {
                Ok(r) => {
                    println!("{}", r.raw.trim_end());
                    results.push((round, name, r));
                }
                Err(e) => return fail(&format!("{name}: {e}")),
            }
        }
    }
    println!(
        "\n{:<6} {:<24} {:>12} {:>10} {:>10}",
        "round", "server", "requests/s", "p50", "p99"
    );
    for (round, name, r) in &results {
        println!(
            "{round:<6} {name:<24} {:>12.0} {:>10} {:>10}",
            r.rps, r.p50, r.p99
        );
    }
    let mean = |name: &str| {
        let rps: Vec<f64> = results
            .iter()
            .filter(|r| r.1 == name)
            .map(|r| r.2.rps)
            .collect();
        rps.iter().sum::<f64>() / rps.len().max(1) as f64
    };
    let (serve_rps, hello_rps) = (mean(targets[0].0), mean(targets[1].0));
    let ratio = serve_rps / hello_rps;
    let verdict = if ratio >= 0.8 { "meets" } else { "misses" };
    println!(
        "mean over {rounds} rounds: serve {serve_rps:.0} req/s, hello {hello_rps:.0} req/s, ratio serve/hello {ratio:.2} ({verdict} the 0.8 goal)"
    );
    rt.block_on(serve.shutdown());
}

fn fail(message: &str) {
    eprintln!("serve bench: {message}");
    std::process::exit(1);
}

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A plain hyper HTTP/1.1 server answering `hello` to everything, built like serve's listener.
async fn start_hello() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|_req| async {
                    let mut resp = hyper::Response::new(Full::new(Bytes::from_static(b"hello")));
                    resp.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("text/plain"),
                    );
                    Ok::<_, Infallible>(resp)
                });
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// One request over raw TCP; returns the status line.
async fn smoke(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let exchange = async {
        let mut tcp = TcpStream::connect(addr).await?;
        let req = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
        tcp.write_all(req.as_bytes()).await?;
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await?;
        let text = String::from_utf8_lossy(&answer);
        Ok(text.lines().next().unwrap_or("").to_string())
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| std::io::Error::other("no answer within 10 s"))?
}

/// What one load run measured.
struct Measured {
    rps: f64,
    p50: String,
    p99: String,
    raw: String,
}

enum LoadTool {
    Wrk,
    Oha,
}

impl LoadTool {
    fn find() -> Option<LoadTool> {
        let works = |cmd: &str, arg: &str| Command::new(cmd).arg(arg).output().is_ok();
        if works("wrk", "--version") {
            Some(LoadTool::Wrk)
        } else if works("oha", "--version") {
            Some(LoadTool::Oha)
        } else {
            None
        }
    }

    fn name(&self) -> &'static str {
        match self {
            LoadTool::Wrk => "wrk",
            LoadTool::Oha => "oha",
        }
    }

    /// Runs the load tool in a child process; the servers keep running on the runtime's threads.
    fn run(&self, url: &str, threads: u32, conns: u32, secs: u32) -> Result<Measured, String> {
        let mut cmd = match self {
            LoadTool::Wrk => {
                let mut c = Command::new("wrk");
                c.args([
                    format!("-t{threads}"),
                    format!("-c{conns}"),
                    format!("-d{secs}s"),
                    "--latency".into(),
                    url.into(),
                ]);
                c
            }
            LoadTool::Oha => {
                let mut c = Command::new("oha");
                c.args([
                    "-z".into(),
                    format!("{secs}s"),
                    "-c".into(),
                    conns.to_string(),
                    "--no-tui".into(),
                    "--output-format".into(),
                    "json".into(),
                    url.into(),
                ]);
                c
            }
        };
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.name()))?;
        let raw = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!("{} failed: {err}{raw}", self.name()));
        }
        let parsed = match self {
            LoadTool::Wrk => parse_wrk(&raw),
            LoadTool::Oha => parse_oha(&raw),
        };
        parsed.ok_or_else(|| format!("cannot read {} output:\n{raw}", self.name()))
    }
}

fn parse_wrk(raw: &str) -> Option<Measured> {
    let field = |key: &str| {
        raw.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_string())
    };
    Some(Measured {
        rps: field("Requests/sec:")?.parse().ok()?,
        p50: field("50%")?,
        p99: field("99%")?,
        raw: raw.to_string(),
    })
}

fn parse_oha(raw: &str) -> Option<Measured> {
    let v: serde_json::Value = serde_json::from_str(raw).ok()?;
    let ms = |p: &str| {
        v["latencyPercentiles"][p]
            .as_f64()
            .map(|s| format!("{:.2}ms", s * 1000.0))
    };
    Some(Measured {
        rps: v["summary"]["requestsPerSec"].as_f64()?,
        p50: ms("p50")?,
        p99: ms("p99")?,
        raw: raw.to_string(),
    })
}
