//! Hostile servers: the real-time driver's devices against DDI servers that
//! misbehave (issue 4, "Hostile servers").
//!
//! Each test mounts a healthy DDI flow on a wiremock server (root → one
//! deploymentBase with one artifact → feedback), overrides one part of it with
//! the misbehaviour under test, runs one or two `always_on` devices with
//! `time_scale: 60` (one scenario minute is one real second) and checks both
//! sides: what the server received (request counts, `Range` headers, feedback
//! bodies) and what the run recorded (statistics, oracle). Faults that wiremock
//! cannot produce (a connection closed mid-body, a body trickling in) come
//! from a tiny raw TCP server ([`RawServer`]).
//!
//! Every test is bounded in real time: runs last a few seconds and every
//! timeout is short.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use fleetsim::artifact::{hash_bytes, Hashes};
use fleetsim::engine::RunResult;
use fleetsim::message::NetError;
use fleetsim::oracle::InvariantId;
use fleetsim::protocol::ddi::ReqKind;
use fleetsim::realtime::{run_async, RuntimeError};
use fleetsim::scenario::Scenario;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wiremock::matchers::{method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod bodies;
mod feedback;
mod mock;
mod raw;
mod root;
mod urls;

use mock::*;
use raw::*;

/// The action every mock offers.
const ACTION: u64 = 7;
/// The artifact's file name.
const FILE: &str = "fw.bin";
/// Path prefix of every controller resource (tenant DEFAULT).
const CONTROLLER: &str = "/DEFAULT/controller/v1";
/// Path regexes of the DDI resources the healthy flow serves.
const ROOT_RE: &str = r"^/DEFAULT/controller/v1/[^/]+$";
const DEPLOYMENT_RE: &str = r"^/DEFAULT/controller/v1/[^/]+/deploymentBase/7$";
const FEEDBACK_RE: &str = r"^/DEFAULT/controller/v1/[^/]+/deploymentBase/7/feedback$";
const ARTIFACT_RE: &str = r"^/DEFAULT/controller/v1/[^/]+/softwaremodules/1/artifacts/fw\.bin$";

fn controller_id(n: u32) -> String {
    format!("always-on-{n:05}")
}

// ---------------------------------------------------------------------------
// Scenarios and runs
// ---------------------------------------------------------------------------

/// A scenario of `devices` always-on devices against the target.
struct Spec {
    devices: u32,
    /// Scenario time the run covers.
    duration: &'static str,
    time_scale: f64,
    /// Real time a device waits for an answer.
    request_timeout: &'static str,
    seed: u64,
    /// Extra `server:` settings (e.g. `gateway_token: k`).
    server_extra: &'static str,
    /// A YAML `faults:` block, or empty.
    faults: &'static str,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            devices: 1,
            duration: "3m",
            time_scale: 60.0,
            request_timeout: "2s",
            seed: 1,
            server_extra: "",
            faults: "",
        }
    }
}

impl Spec {
    fn build(&self) -> Scenario {
        // start_rate: device n starts n/100 real seconds after the run does,
        // so the first poll comes at once instead of somewhere in the first minute.
        let yaml = format!(
            "name: hostile\n\
             seed: {seed}\n\
             duration: {duration}\n\
             server: {{ polling: 1m{server_extra} }}\n\
             fleet:\n  - {{ kind: always_on, count: {devices}, install_time: 5s }}\n\
             load: {{ time_scale: {scale}, request_timeout: {timeout}, start_rate: 100 }}\n\
             {faults}\n",
            seed = self.seed,
            duration = self.duration,
            server_extra = self.server_extra,
            devices = self.devices,
            scale = self.time_scale,
            timeout = self.request_timeout,
            faults = self.faults,
        );
        fleetsim::scenario::load_str("t.yaml", &yaml).expect("test scenario is valid")
    }

    /// Real time the run's scenario duration takes.
    fn real_duration(&self) -> Duration {
        let s = self.build();
        Duration::from_secs_f64(s.duration.0.as_millis() as f64 / 1000.0 / self.time_scale)
    }
}

/// Runs `spec` against `base_url`; returns the result and the real time taken.
async fn run(spec: &Spec, base_url: &str) -> (Result<RunResult, RuntimeError>, Duration) {
    let scenario = spec.build();
    let started = Instant::now();
    let result = run_async(&scenario, &options(base_url)).await;
    (result, started.elapsed())
}

/// Runs `spec`, expecting the run to be carried out and to end on time (no
/// hang: at most the driver's grace for requests in flight plus slack).
async fn run_ok(spec: &Spec, base_url: &str) -> RunResult {
    let (result, took) = run(spec, base_url).await;
    let r = match result {
        Ok(r) => r,
        Err(e) => panic!("run against {base_url} failed: {e}"),
    };
    let limit = spec.real_duration() + Duration::from_secs(3);
    assert!(
        took <= limit,
        "run took {took:?}, more than its duration plus grace ({limit:?})"
    );
    r
}
