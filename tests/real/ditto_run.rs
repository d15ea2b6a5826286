//! `fleetsim run --target` with edge gateways (`protocol: ditto`) against
//! `fleetsim serve`: each gateway keeps a real `/ws/2` session per online
//! window, its edge devices change, leave and join, the backend posts
//! `$set.configuration` commands and writes to the twin over HTTP, and the
//! oracle reads the twin back at quiet periods (TWIN-CONVERGE) — no
//! violations. Port 0, every wait bounded.

use crate::common;
use crate::real_run::ServeThread;

/// 1 h of scenario time in ~6 s: the gateways' 10 s response timeout is
/// ~17 ms of real time.
const TIME_SCALE: f64 = 600.0;

fn scenario() -> fleetsim::scenario::Scenario {
    scenario_at(TIME_SCALE)
}

fn scenario_at(time_scale: f64) -> fleetsim::scenario::Scenario {
    fleetsim::scenario::load_str(
        "gateways-real.yaml",
        &format!(
            "name: gateways-real\nseed: 21\nduration: 1h\n\
             load: {{ time_scale: {time_scale}, request_timeout: 5s }}\n\
             fleet:\n  - name: gateways\n    kind: always_on\n    count: 4\n    protocol: ditto\n    id_prefix: gw-\n\
             \x20   connectivity: {{ online_every: 20m, online_for: 14m }}\n\
             \x20   gateway: {{ namespace: org.fleetsim.rt, edge_devices: 5, change_every: 10m, churn_every: 30m, commands_every: 5m, twin_writes_every: 15m, buffer: 64 }}\n\
             expect:\n  violations: none\n"
        ),
    )
    .expect("scenario")
}

#[test]
fn gateways_run_against_serve_over_websocket_and_http() {
    let s = scenario();
    let serve = ServeThread::start(&s, TIME_SCALE, 2);
    let started = std::time::Instant::now();
    let result = fleetsim::realtime::run(&s, &common::options(&serve.base_url));
    let wall = started.elapsed();
    serve.stop();
    let run = result.expect("serve is reachable");
    common::assert_no_violations(&run);
    let twin = run.twin.as_ref().expect("the run has a twin section");
    let counter = |name: &str| run.extra_counters.get(name).copied().unwrap_or(0);
    eprintln!(
        "gateways against serve: {wall:?} wall, {} frames out, {} in, sessions {}, backend {:?}, converge checks {} (skipped {}), connect failures {}",
        counter("twin_frames_out"),
        counter("twin_frames_in"),
        twin.sessions,
        twin.backend,
        counter("twin_converge_checks"),
        counter("twin_converge_skipped"),
        counter("twin_connect_failures"),
    );
    assert_eq!(twin.gateways, 4);
    for g in &twin.per_gateway {
        assert!(
            g.sessions >= 2,
            "gateway {} had {} sessions",
            g.device,
            g.sessions
        );
        assert!(g.drops >= 1, "gateway {}: no window closed", g.device);
        assert!(g.sent > 0, "gateway {} sent no command", g.device);
    }
    assert!(twin.buffered > 0, "changes made offline are buffered");
    let b = &twin.backend;
    assert!(b.commands > 0 && b.twin_writes > 0, "{b:?}");
    assert!(
        b.answered + b.accepted > 0,
        "no backend command was taken: {b:?}"
    );
    assert!(twin.messages > 0, "no $set.configuration reached a gateway");
    // The oracle read every gateway's twin back at least once and found it
    // equal to the gateway's runtime (TWIN-CONVERGE did not fire).
    assert!(
        counter("twin_converge_checks") >= 4,
        "{} convergence checks",
        counter("twin_converge_checks")
    );
    assert!(counter("twin_frames_out") > 0 && counter("twin_frames_in") > 0);
    let verdict = fleetsim::report::verdict(&s, &run);
    assert!(verdict.passed, "{:?}", verdict.problems);
}

/// The same fleet reading serve's event stream (`--server-events`): the
/// twin's events reach the oracle (TWIN-LOST, -DUP and -ORDER on), frames
/// wait for the events before them, and a correct twin fires nothing.
#[test]
fn gateways_with_the_twins_events_fire_nothing_against_a_correct_twin() {
    const SCALE: f64 = 1200.0;
    let s = scenario_at(SCALE);
    let serve = ServeThread::start(&s, SCALE, 2);
    let mut opts = common::options(&serve.base_url);
    opts.server_events = Some(fleetsim::http_server::MgmtCredentials::default());
    let result = fleetsim::realtime::run(&s, &opts);
    serve.stop();
    let run = result.expect("serve is reachable");
    common::assert_no_violations(&run);
    let counter = |name: &str| run.extra_counters.get(name).copied().unwrap_or(0);
    eprintln!(
        "gateways with the twin's events: {} twin events applied, {} frames and answers held for events ({} in vain), {} missed",
        counter("server_twin_events"),
        counter("answers_waited_for_events"),
        counter("answers_waited_in_vain"),
        counter("server_events_missed"),
    );
    assert!(
        counter("server_twin_events") > 0,
        "no twin event was applied"
    );
    assert_eq!(counter("server_events_missed"), 0);
    assert!(run.twin.as_ref().is_some_and(|t| t.gateways == 4));
}
