//! The progress line of a real-time run (indicatif): one reader of the
//! snapshots the run publishes ([`Live`]), like the TUI is another. Shows
//! scenario time, devices active / updated / failed, the request rate,
//! requests in flight, errors and violations.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use fleetsim::engine::RunResult;
use fleetsim::metrics::{BackgroundServer, Metrics};
use fleetsim::protocol::ddi::Phase;
use fleetsim::realtime::{Live, RealOptions, RuntimeError};
use fleetsim::scenario::units::format_duration;
use fleetsim::scenario::Scenario;
use fleetsim::snapshot::Snapshot;
use fleetsim::time::Span;

/// Runs `scenario` in real time; with `show`, a progress line follows the
/// run's snapshots until it ends.
pub fn run_with_progress(
    scenario: &Scenario,
    mut opts: RealOptions,
    show: bool,
    metrics: Option<Arc<Metrics>>,
) -> Result<RunResult, RuntimeError> {
    if !show {
        return fleetsim::realtime::run_with_metrics(scenario, &opts, metrics);
    }
    let live = Arc::new(Live::new());
    opts.live = Some(live.clone());
    let done = Arc::new(AtomicBool::new(false));
    let printer = {
        let done = done.clone();
        let end = scenario.duration.0.as_millis();
        std::thread::spawn(move || print_until(&live, &done, end))
    };
    let result = fleetsim::realtime::run_with_metrics(scenario, &opts, metrics);
    done.store(true, Ordering::Relaxed);
    let _ = printer.join();
    result
}

/// `run --metrics-listen ADDR`: the run's metrics, served from a thread of
/// their own until the returned server is dropped.
pub fn serve_metrics(
    addr: std::net::SocketAddr,
) -> Result<(Arc<Metrics>, BackgroundServer), super::Exit> {
    let metrics = Metrics::for_run();
    match fleetsim::metrics::listen_in_background(addr, metrics.clone()) {
        Ok(server) => {
            eprintln!("  metrics      http://{}/metrics", server.local_addr);
            Ok((metrics, server))
        }
        Err(e) => Err(super::Exit::BadInput(e.to_string())),
    }
}

/// Redraws the line from each new snapshot until `done`, then clears it.
fn print_until(live: &Live, done: &AtomicBool, end_ms: u64) {
    let bar = ProgressBar::new(end_ms.max(1));
    let style = ProgressStyle::with_template("{spinner} [{bar:30}] {percent:>3}% {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    let started = Instant::now();
    while !done.load(Ordering::Relaxed) {
        if let Some(snapshot) = live.snapshot.lock().ok().and_then(|mut s| s.take()) {
            bar.set_position(snapshot.now.as_millis());
            bar.set_message(line(&snapshot, started.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bar.finish_and_clear();
}

/// The line's text for `s`, `elapsed` after the run started.
fn line(s: &Snapshot, elapsed: Duration) -> String {
    let errors: u64 = s.error_statuses.iter().map(|(_, n)| n).sum::<u64>()
        + s.net_errors.iter().map(|(_, n)| n).sum::<u64>();
    let phase = |p: Phase| s.phases[p as usize];
    let active = phase(Phase::Downloading) + phase(Phase::Installing) + phase(Phase::Waiting);
    format!(
        "{} | active {} updated {} failed {} | {:.0} req/s, {} in flight | errors {} | violations {}",
        format_duration(Span(s.now.as_millis() / 1000 * 1000)),
        active,
        phase(Phase::Updated),
        phase(Phase::Failed),
        s.requests as f64 / elapsed.as_secs_f64().max(1e-3),
        s.in_flight,
        errors,
        s.violations_total
    )
}
