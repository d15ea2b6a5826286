//! Helpers shared by the integration tests: the `fleetsim` binary, and for
//! the tests that run the real-time driver
//! against misbehaving servers (`hostile.rs`, `otau_hostile.rs`): run
//! options, what a run recorded, and request details a mock looks at.
//! Each test crate uses a part of it.
#![allow(dead_code)]

use fleetsim::engine::RunResult;
use fleetsim::message::NetError;
use fleetsim::oracle::InvariantId;
use fleetsim::protocol::ddi::ReqKind;
use fleetsim::realtime::{RealOptions, Target};
use wiremock::Request;

/// Options of a real-time run against `base_url`, without progress output.
pub fn options(base_url: &str) -> RealOptions {
    RealOptions {
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
    }
}

/// How often invariant `id` fired.
pub fn fired(r: &RunResult, id: InvariantId) -> u64 {
    r.oracle.counts().get(&id).copied().unwrap_or(0)
}

/// The recorded violations, one per line.
pub fn violations(r: &RunResult) -> String {
    r.oracle
        .violations()
        .iter()
        .map(|v| format!("{} {}: {}", v.id, v.controller_id, v.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fails the test, listing them, if any invariant fired.
pub fn assert_no_violations(r: &RunResult) {
    assert_eq!(
        r.oracle.total(),
        0,
        "unexpected violations:\n{}",
        violations(r)
    );
}

/// Answers with HTTP status `status`.
pub fn status_count(r: &RunResult, status: u16) -> u64 {
    r.stats.statuses.get(&status).copied().unwrap_or(0)
}

/// Requests that failed with `e`.
pub fn error_count(r: &RunResult, e: NetError) -> u64 {
    r.stats.errors.get(&e).copied().unwrap_or(0)
}

/// Requests of `kind` sent.
pub fn sent(r: &RunResult, kind: ReqKind) -> u64 {
    r.stats.sent.get(&kind).copied().unwrap_or(0)
}

/// Deterministic, non-periodic bytes (artifact or content of `n` bytes).
pub fn test_bytes(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ (i as u8))
        .collect()
}

/// First byte of a `Range: bytes=N-` header.
pub fn range_from(value: Option<&str>) -> Option<usize> {
    value?
        .trim()
        .strip_prefix("bytes=")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// A request header as text.
pub fn header(r: &Request, name: &str) -> Option<String> {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Runs the `fleetsim` binary: `(exit code, stdout, stderr)`.
pub fn fleetsim(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fleetsim"))
        .args(args)
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A `fleetsim serve` process on an ephemeral loopback port, killed on drop.
pub struct ServeProcess {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
}

impl ServeProcess {
    /// Starts `fleetsim serve --scenario SCENARIO --time-scale K` and waits
    /// (at most 30 s) for the address it logs.
    pub fn start(scenario: &str, time_scale: f64) -> ServeProcess {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fleetsim"))
            .args(["serve", "--listen", "127.0.0.1:0", "--scenario", scenario])
            .args(["--time-scale", &time_scale.to_string()])
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("fleetsim serve starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.split("base_url=").nth(1) {
                    let url = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(url);
                }
            }
        });
        let base_url = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("serve logs its address within 30 s");
        ServeProcess { child, base_url }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
