//! `fleetsim tui --target`: the real-time source feeds the UI snapshots from
//! a run against `fleetsim serve` over HTTP, follows the focused device's
//! exchanges, and stops early when the UI asks.

use crate::common;

use std::time::{Duration, Instant};

use crate::common::ServeProcess;
use fleetsim::protocol::ddi::Phase;
use fleetsim::tui::source::RealRun;

const SCENARIO: &str = "scenarios/quickstart.yaml";

fn scenario(devices: u32, time_scale: f64) -> fleetsim::scenario::Scenario {
    let mut s = fleetsim::scenario::load(std::path::Path::new(SCENARIO)).expect("loads");
    s.scale_fleet(devices);
    s.load.time_scale = time_scale;
    s
}

#[test]
fn real_time_snapshots_follow_the_run_to_its_end() {
    // 3 days in about 13 s.
    let scale = 20_000.0;
    let serve = ServeProcess::start(SCENARIO, scale);
    let mut run = RealRun::start(scenario(40, scale), common::options(&serve.base_url));
    run.set_focus(Some(1));
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen_live = 0;
    let last = loop {
        let s = run.snapshot();
        if s.finished {
            break s;
        }
        if s.events > 0 {
            seen_live += 1;
        }
        assert!(Instant::now() < deadline, "the run ends within 90 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(run.error(), None);
    assert!(
        seen_live >= 5,
        "snapshots come while the run goes: {seen_live}"
    );
    assert_eq!(last.devices, 40);
    assert!(
        last.phases[Phase::Updated as usize] >= 36,
        "{:?}",
        last.phases
    );
    assert_eq!(last.violations_total, 0, "{:?}", last.violations);
    let campaign = &last.campaigns[0];
    assert_eq!(campaign.targeted, 40);
    assert!(campaign.updated >= 36);
    let device = last.device.expect("the focused device");
    assert_eq!(device.number, 1);
    assert!(
        device
            .trace
            .iter()
            .any(|l| l.contains("→ GET http://127.0.0.1")),
        "{:?}",
        device.trace
    );
    let outcome = run
        .stop(Duration::from_secs(60))
        .expect("the run's outcome");
    assert!(outcome.is_ok());
}

#[test]
fn quitting_stops_a_real_time_run_early() {
    // At 1× the 3-day run would take 3 days: stopping must not wait for it.
    let serve = ServeProcess::start(SCENARIO, 1.0);
    let mut run = RealRun::start(scenario(20, 1.0), common::options(&serve.base_url));
    let deadline = Instant::now() + Duration::from_secs(30);
    while run.snapshot().events == 0 {
        assert!(Instant::now() < deadline, "requests complete within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let stopping = Instant::now();
    let outcome = run
        .stop(Duration::from_secs(60))
        .expect("the run's outcome");
    assert!(outcome.is_ok());
    // Requests in flight end within their own timeouts (30 s at most).
    assert!(stopping.elapsed() < Duration::from_secs(40));
}

#[test]
fn an_unreachable_target_shows_as_the_runs_error() {
    let mut run = RealRun::start(scenario(5, 1.0), common::options("http://127.0.0.1:9"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !run.snapshot().finished {
        assert!(Instant::now() < deadline, "the preflight fails within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let error = run.error().expect("an error");
    assert!(error.contains("unreachable"), "{error}");
}
