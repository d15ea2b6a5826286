//! `fleetsim conform --device`: the reference server (`serve`'s DDI core
//! and hyper service) plays a script of situations to every device that
//! connects and judges what the device does, the mirror image of the
//! server-side catalogue.
//!
//! The script ([`script`](self) `script.rs`) is a sans-IO state machine
//! layered over the core through [`DdiHook`]: it sees each device request
//! before and after the core answers it, assigns and cancels through the
//! core's API, answers a 429 itself or cuts a download mid-body. Each
//! situation of `situations.rs` is a case with a stable ID
//! (`DEV-DDI-UPDATE-001`), the clause it checks and PASS/FAIL with the
//! exchanges as evidence, one row per device × situation, plus
//! `DEV-DDI-POLL-001` (the `sleep` respected all script long, the oracle's
//! DDI-POLL-RATE). The run ends when `devices` devices have played the
//! whole script, or at the deadline (what is open then fails, "deadline").
//!
//! Layout: `situations.rs` (the catalogue), `script.rs` (per-device state
//! machine), `judge.rs` (each situation's rules), `observe.rs` (a request
//! read from the server's side, oracle events, evidence).

mod judge;
mod observe;
mod script;
mod situations;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use fleetsim_core::message::{Request, Response};
use fleetsim_core::server::{ServerConfig, Tenants};
use fleetsim_core::time::{Span, Time};
use fleetsim_fleet::report::conform::{ConformReport, RunInfo};

use crate::http_server::{start_hooked, DdiHook, ServeError, ServeOptions, Shape};
use script::Script;

/// How often the run looks whether every device is done.
const CHECK_EVERY: Duration = Duration::from_millis(50);

/// What `conform --device` is asked to do.
#[derive(Clone, Debug)]
pub struct DeviceOptions {
    /// Address to listen on; port 0 picks one (printed by the CLI).
    pub listen: SocketAddr,
    /// Devices expected to play the script (the first that connect).
    pub devices: usize,
    /// The run ends at the latest this long after the start.
    pub deadline: Duration,
    /// `sleep` the root answers give.
    pub sleep: Span,
    /// A situation not decided within this time fails.
    pub situation_timeout: Span,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        DeviceOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            devices: 1,
            deadline: Duration::from_secs(600),
            sleep: Span::secs(5),
            situation_timeout: Span::secs(60),
        }
    }
}

/// The hook that hands every device request to the script.
struct Hook {
    script: Mutex<Option<Script>>,
    tenant: String,
    devices: usize,
    sleep: Span,
    timeout: Span,
}

impl Hook {
    fn with<T>(&self, default: T, f: impl FnOnce(&mut Script) -> T) -> T {
        let mut g = self.script.lock().unwrap_or_else(PoisonError::into_inner);
        g.as_mut().map_or(default, f)
    }
}

impl DdiHook for Hook {
    fn init(&self, server: &mut Tenants) {
        let script = Script::new(
            server,
            &self.tenant,
            self.devices,
            (self.sleep, self.timeout),
        );
        *self.script.lock().unwrap_or_else(PoisonError::into_inner) = Some(script);
    }

    fn before(&self, now: Time, req: &Request, server: &mut Tenants) -> Option<Response> {
        self.with(None, |s| s.before(now, req, server))
    }

    fn after(&self, now: Time, req: &Request, resp: &mut Response, server: &mut Tenants) -> Shape {
        self.with(Shape::Whole, |s| s.after(now, req, resp, server))
    }
}

/// A started device conformance server.
pub struct DeviceRun {
    /// The address bound (the real port when 0 was asked for).
    pub local_addr: SocketAddr,
    /// `http://addr`.
    pub base_url: String,
    running: crate::http_server::Running,
    hook: Arc<Hook>,
    opts: DeviceOptions,
    started: Instant,
}

/// Starts the reference server with the script; [`DeviceRun::finish`] waits
/// for the devices and returns the card.
pub async fn start(opts: DeviceOptions) -> Result<DeviceRun, ServeError> {
    let config = ServerConfig {
        polling_sleep: opts.sleep,
        polling_jitter: 0.0,
        confirmation_flow: true,
        ..ServerConfig::default()
    };
    let hook = Arc::new(Hook {
        script: Mutex::new(None),
        tenant: config.tenant.clone(),
        devices: opts.devices,
        sleep: opts.sleep,
        timeout: opts.situation_timeout,
    });
    let serve = ServeOptions {
        listen: opts.listen,
        ..ServeOptions::default()
    };
    let running = start_hooked(serve, config, hook.clone()).await?;
    Ok(DeviceRun {
        local_addr: running.local_addr,
        base_url: running.base_url.clone(),
        running,
        hook,
        opts,
        started: Instant::now(),
    })
}

impl DeviceRun {
    /// Waits until every expected device played the script or the deadline
    /// passes, shuts the server down and returns the card.
    pub async fn finish(self) -> ConformReport {
        let deadline = self.started + self.opts.deadline;
        let done = |h: &Hook| h.with(0, |s| s.finished()) >= self.opts.devices;
        while !done(&self.hook) && Instant::now() < deadline {
            tokio::time::sleep(CHECK_EVERY).await;
        }
        let hit = !done(&self.hook);
        let now = Time::ZERO + Span::millis(self.started.elapsed().as_millis() as u64);
        let why = if hit { "deadline" } else { "open" };
        let cases = self.hook.with(Vec::new(), |s| s.cases(now, why));
        self.running.shutdown().await;
        let info = RunInfo {
            profile: "ddi-v1-device",
            target: &self.base_url,
            manage: "none",
            run_tag: "",
        };
        ConformReport::new(info, cases, self.started.elapsed().as_millis() as u64)
    }
}

#[cfg(test)]
mod tests;
