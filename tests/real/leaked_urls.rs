//! Leaked-URL downloads in real time (`leaked_downloads_per_day`): the
//! fleet of `scenarios/broken/url-refuse.yaml` (40 `cpg` devices, URLs
//! valid a day, 30 leaked downloads a day for 4 days) against `fleetsim
//! serve`, compressed to about 3 real seconds. A correct CDN refuses the
//! expired URLs (410) and the tampered ones (403) and nothing fires; the
//! broken one serves them and URL-REFUSE fires, with or without serve's
//! event stream.

use std::path::Path;

use crate::common;

use fleetsim::engine::RunResult;
use fleetsim::http_server::MgmtCredentials;
use fleetsim::oracle::InvariantId;
use fleetsim::realtime::run;
use fleetsim::scenario::{load, ExpectedViolations, Scenario};

/// Real seconds a run takes.
const REAL_SECONDS: f64 = 3.0;

/// The url-refuse fleet, compressed; `broken`: keep its CDN faults.
fn scenario(broken: bool) -> Scenario {
    let mut s = load(Path::new("scenarios/broken/url-refuse.yaml")).expect("scenario loads");
    if !broken {
        s.faults.server.clear();
        s.expect.violations = ExpectedViolations::None;
    }
    s.load.time_scale = s.duration.0.as_millis() as f64 / 1000.0 / REAL_SECONDS;
    s
}

/// Runs `s` against serve of the same scenario; `events`: reading its
/// server-side event stream (serve's clock, the gateway section).
fn run_against_serve(s: &Scenario, events: bool) -> RunResult {
    let serve = crate::real_run::ServeThread::start(s, s.load.time_scale, 1);
    let mut opts = common::options(&serve.base_url);
    opts.server_events = events.then(MgmtCredentials::default);
    let result = run(s, &opts);
    serve.stop();
    result.expect("serve is reachable")
}

fn counter(r: &RunResult, name: &str) -> u64 {
    r.extra_counters.get(name).copied().unwrap_or(0)
}

#[test]
fn a_correct_cdn_refuses_leaked_urls_in_real_time() {
    let s = scenario(false);
    let run = run_against_serve(&s, true);
    common::assert_no_violations(&run);
    let verdict = fleetsim::report::verdict(&s, &run);
    assert!(verdict.passed, "{:?}", verdict.problems);

    let gateway = run.gateway.as_ref().expect("a gateway section");
    let leaks = gateway.strategies[0].leaks;
    eprintln!("leaked downloads: {leaks:?}; {:?}", run.extra_counters);
    assert_eq!(counter(&run, "leaked_downloads_tried"), leaks.attempts);
    // Seeded times: about 118 leaks over the 4 days after the campaign.
    assert!(leaks.attempts >= 60, "{leaks:?}");
    // The first day's leaks find a valid URL; the later ones an expired
    // one, refused, then tampered and refused.
    assert!(leaks.served > 0, "{leaks:?}");
    assert!(leaks.refused_expired > leaks.served, "{leaks:?}");
    assert_eq!(leaks.tampered_refused, leaks.refused_expired, "{leaks:?}");
    assert_eq!(leaks.tampered_served, 0);
    let answered = leaks.served + leaks.refused_expired + leaks.tampered_refused;
    assert_eq!(answered, leaks.attempts, "every answer is one of those");
    assert_eq!(counter(&run, "leaked_downloads_unanswered"), 0);
}

#[test]
fn a_broken_cdn_serves_leaked_urls_without_the_event_stream_too() {
    let s = scenario(true);
    let run = run_against_serve(&s, false);
    assert!(run.gateway.is_none(), "no event stream, no gateway section");
    let served = counter(&run, "leaked_downloads_served");
    assert!(served > 0, "{:?}", run.extra_counters);
    let refuse = common::fired(&run, InvariantId::UrlRefuse);
    assert!(refuse > 0, "{}", common::violations(&run));
    let verdict = fleetsim::report::verdict(&s, &run);
    assert!(verdict.passed, "{:?}", verdict.problems);
}
