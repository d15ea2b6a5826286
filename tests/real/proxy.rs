//! `fleetsim proxy` between a fleet and `fleetsim serve`: a clean scenario
//! passes every exchange through unchanged (downloads verify their hashes,
//! byte for byte), and the hostile one's seeded drops, delays, throttling
//! and window cuts happen in the proxy — the fleet, emulating nothing
//! itself, still converges, resuming cut downloads with Range through it.

use crate::common;

use std::sync::mpsc;
use std::time::Duration;

use fleetsim::http_server::{start, ServeOptions};
use fleetsim::netem::NetTally;
use fleetsim::proxy::ProxyOptions;
use fleetsim::realtime::run;
use fleetsim::scenario::{load_str, Scenario};

/// Runs `fleet` against `fleetsim serve` (of `fleet` itself) behind a
/// `fleetsim proxy` of `net`; what the proxy injected comes back too.
fn run_through_proxy(fleet: &Scenario, net: &Scenario) -> (fleetsim::engine::RunResult, NetTally) {
    let (addr_tx, addr_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (server_scenario, net) = (fleet.clone(), net.clone());
    let time_scale = fleet.load.time_scale;
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let running = start(ServeOptions {
                listen: "127.0.0.1:0".parse().expect("addr"),
                scenario: Some(server_scenario),
                time_scale,
                ..Default::default()
            })
            .await
            .expect("serve starts on an ephemeral port");
            let proxy = fleetsim::proxy::start(ProxyOptions {
                listen: "127.0.0.1:0".parse().expect("addr"),
                upstream: running.base_url.clone(),
                scenario: net,
            })
            .await
            .expect("the proxy starts on an ephemeral port");
            addr_tx.send(proxy.base_url.clone()).expect("test waits");
            let _ = tokio::time::timeout(Duration::from_secs(120), stop_rx).await;
            let tally = proxy.shutdown().await;
            running.shutdown().await;
            tally
        })
    });
    let base_url = addr_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the proxy reports its address");
    let result = run(fleet, &common::options(&base_url));
    let _ = stop_tx.send(());
    let tally = server.join().expect("server thread ends");
    (result.expect("the proxy is reachable"), tally)
}

/// The hostile scenario, the fleet emulating nothing (the proxy does) and
/// expecting the losses it cannot tell from the server's.
fn hostile() -> (Scenario, Scenario) {
    let net = load_str("hostile-network.yaml", crate::real_network::HOSTILE).expect("parses");
    let mut fleet = net.clone();
    fleet.load.emulate_network = false;
    fleet.expect.lost_requests = Some(fleetsim::scenario::Fraction(0.5));
    (fleet, net)
}

#[test]
fn a_clean_scenario_passes_through_byte_exact() {
    let (mut fleet, _) = hostile();
    // Always-on devices only: no window to fall outside of.
    fleet.fleet.truncate(1);
    for g in &mut fleet.fleet {
        g.connectivity = Default::default();
        g.connectivity.latency.p50 = fleetsim::scenario::Duration(fleetsim::time::Span::millis(1));
        g.connectivity.latency.p99 = fleetsim::scenario::Duration(fleetsim::time::Span::millis(1));
        g.connectivity.bandwidth = fleetsim::scenario::Size(1 << 30);
    }
    fleet.expect.lost_requests = None;
    let (run, tally) = run_through_proxy(&fleet, &fleet);

    assert_eq!(run.oracle.total(), 0, "{}", common::violations(&run));
    let verdict = fleetsim::report::verdict(&fleet, &run);
    assert!(verdict.passed, "{:?}", verdict.problems);
    // Every download's hash matched: the proxy changed no byte.
    assert_eq!(run.stats.updates_succeeded, 30);
    assert_eq!(run.stats.failed_not_injected, 0);
    assert!(tally.exchanges >= 200, "{tally:?}");
    assert_eq!(
        (
            tally.requests_dropped,
            tally.answers_dropped,
            tally.partition_cuts,
            tally.partition_refused
        ),
        (0, 0, 0, 0),
        "{tally:?}"
    );
}

#[test]
fn hostile_faults_happen_in_the_proxy_and_devices_still_converge() {
    let (fleet, net) = hostile();
    let (run, tally) = run_through_proxy(&fleet, &net);
    eprintln!(
        "proxy injected: {tally:?}; {} of 40 updated",
        run.stats.updates_succeeded
    );

    assert_eq!(run.oracle.total(), 0, "{}", common::violations(&run));
    // The proxy keeps the windows on the fleet's clock (each request's
    // `x-fleetsim-scenario-ms`), but a window's end reaches the two a few
    // real milliseconds (tens of scenario seconds) apart on a busy machine:
    // a sleepy device may be cut into missing the end. 30 of 40 did on a
    // loaded machine when the proxy kept its own clock; 39–40 now.
    assert!(
        run.stats.updates_succeeded >= 36,
        "{} of 40 updated",
        run.stats.updates_succeeded
    );
    for (what, n) in [
        ("requests", tally.requests_dropped),
        ("answers", tally.answers_dropped),
    ] {
        assert!(
            n * 100 >= tally.exchanges * 4 && n * 100 <= tally.exchanges * 18,
            "{n} {what} dropped of {}",
            tally.exchanges
        );
    }
    assert!(tally.delay_ms >= tally.exchanges * 40, "{tally:?}");
    assert!(tally.partition_cuts > 0, "{tally:?}");
    // The fleet saw the proxy's drops as a network's failures.
    assert!(run.stats.failed_not_injected > 0);
}
