//! Gateways in campaigns in real time (`gateway.ddi: all`) against
//! `fleetsim serve`: each gateway's own DDI controller and its edge
//! devices' controllers (GatewayToken auth) poll serve over HTTP while the
//! gateways keep their `/ws/2` twin sessions; serve, which knows the
//! controllers only by id, selects them as the virtual engine does, and
//! every selected one updates. Port 0, every wait bounded.

use std::collections::BTreeSet;

use crate::common;
use crate::real_run::ServeThread;

/// 3 h of scenario time in 6 s.
const TIME_SCALE: f64 = 1800.0;

fn scenario() -> fleetsim::scenario::Scenario {
    fleetsim::scenario::load_str(
        "gateway-ddi-real.yaml",
        &format!(
            "name: gateway-ddi-real\nseed: 23\nduration: 3h\n\
             load: {{ time_scale: {TIME_SCALE}, request_timeout: 5s }}\n\
             server: {{ gateway_token: plant-key, polling: 2m }}\n\
             fleet:\n  - name: gateways\n    kind: always_on\n    count: 4\n    protocol: ditto\n    id_prefix: gw-\n\
             \x20   connectivity: {{ online_every: 40m, online_for: 30m }}\n\
             \x20   gateway: {{ edge_devices: 2, change_every: 20m, ddi: all }}\n\
             campaigns:\n\
             \x20 - {{ name: os, at: 5m, targets: {{ edge: false }}, artifacts: [ {{ name: os.swu, size: 256KiB }} ] }}\n\
             \x20 - {{ name: fw, at: 1h, targets: {{ group: gateways, edge: true }}, artifacts: [ {{ name: fw.bin, size: 16KiB }} ] }}\n\
             expect:\n  violations: none\n"
        ),
    )
    .expect("scenario")
}

#[test]
fn gateway_and_edge_controllers_update_through_serve() {
    let s = scenario();
    let setup = fleetsim::setup::Setup::new(&s);
    let serve = ServeThread::start(&s, TIME_SCALE, 2);
    let result = fleetsim::realtime::run(&s, &common::options(&serve.base_url));
    serve.stop();
    let run = result.expect("serve is reachable");
    common::assert_no_violations(&run);
    let updated: BTreeSet<String> = run
        .convergence
        .iter()
        .filter(|(_, t)| t.is_some())
        .map(|(n, _)| setup.controller_id(*n))
        .collect();
    let targeted: BTreeSet<String> = run
        .convergence
        .iter()
        .map(|(n, _)| setup.controller_id(*n))
        .collect();
    let mut expected: BTreeSet<String> = (0..4).map(|g| format!("gw-{g:05}")).collect();
    expected.extend((0..4).flat_map(|g| (0..2).map(move |k| format!("gw-{g:05}-edge-{k}"))));
    assert_eq!(
        targeted, expected,
        "both campaigns together select every controller"
    );
    assert_eq!(
        updated, expected,
        "every controller updated: {:?}",
        run.convergence
    );
    assert_eq!(run.twin.as_ref().map(|t| t.gateways), Some(4));
}
