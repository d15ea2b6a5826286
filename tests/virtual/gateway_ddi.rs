//! Gateways in campaigns (`gateway.ddi`, seed 002 + DDI): each gateway's
//! own controller and its edge devices' controllers (GatewayToken) are
//! ordinary DDI devices on the gateway's link; campaigns select them as
//! their gateway, and `serve` — which knows them by controller id only —
//! selects exactly the same ones.

use std::collections::BTreeSet;

use fleetsim::director::{Identity, Target};
use fleetsim::engine::{Engine, Selection};
use fleetsim::fleet::Fleet;
use fleetsim::scenario::load_str;
use fleetsim::setup::{selects, Setup};

/// 6 gateways of 3 edge devices, online 4 h in 6; the gateways' OS for
/// every gateway, then firmware for the edge devices of every second one.
const SCENARIO: &str = "name: gw-ddi\nseed: 5\nduration: 3d\nserver: { gateway_token: k1 }\nfleet:\n  - { kind: always_on, count: 4 }\n  - name: gws\n    kind: always_on\n    count: 6\n    protocol: ditto\n    id_prefix: gw-\n    connectivity: { online_every: 6h, online_for: 4h, loss: 0.005 }\n    gateway: { edge_devices: 3, change_every: 2h, ddi: all }\ncampaigns:\n  - { name: os, at: 1h, targets: { group: gws, edge: false }, artifacts: [ { name: os.swu, size: 4MiB } ] }\n  - { name: fw, at: 1d, targets: { edge: true, every: 2 }, artifacts: [ { name: fw.bin, size: 64KiB } ] }\n";

/// The controller ids campaign `c` selects, as `serve` sees them: from the
/// id each controller registers with.
fn selected_by_id(setup: &Setup, c: usize) -> BTreeSet<String> {
    let selector = &setup.campaigns[c].selector;
    let ddi = setup.groups.iter().filter(|g| g.protocol.as_str() == "ddi");
    ddi.flat_map(|g| g.first..g.first + g.count)
        .map(|n| setup.controller_id(n))
        .filter(
            |id| match Target::registered(&setup.groups, id.clone()).identity {
                Identity::Member { number, group } => {
                    selects(selector, c, number, &setup.groups[group])
                }
                other => panic!("{id} is a fleet device, not {other:?}"),
            },
        )
        .collect()
}

#[test]
fn gateways_and_their_edge_devices_update_in_campaigns() {
    let scenario = load_str("gw.yaml", SCENARIO).expect("scenario loads");
    let setup = Setup::new(&scenario);
    // 4 DDI devices, 6 gateways, then 6 gateway controllers and 18 edge ones.
    assert_eq!(setup.device_count(), 4 + 6 + 6 + 18);
    assert_eq!(setup.controller_id(10), "gw-00004");
    assert_eq!(setup.controller_id(16), "gw-00004-edge-0");
    assert_eq!(setup.controller_id(33), "gw-00009-edge-2");
    let os = selected_by_id(&setup, 0);
    let fw = selected_by_id(&setup, 1);
    let gateways: BTreeSet<String> = (4..10).map(|n| format!("gw-{n:05}")).collect();
    assert_eq!(
        os, gateways,
        "edge: false selects the gateways' own controllers"
    );
    // `every: 2` over (gateway, slot): slots 0 and 2 of every gateway.
    let even_slots: BTreeSet<String> = (4..10)
        .flat_map(|n| [0, 2].map(|k| format!("gw-{n:05}-edge-{k}")))
        .collect();
    assert_eq!(fw, even_slots);

    let result = Engine::new(&scenario, &Selection::default()).run(|_| {});
    let targeted: BTreeSet<String> = result
        .convergence
        .iter()
        .map(|(n, _)| setup.controller_id(*n))
        .collect();
    let expected: BTreeSet<String> = os.union(&fw).cloned().collect();
    assert_eq!(targeted, expected, "the engine selects what serve would");
    let late: Vec<_> = result
        .convergence
        .iter()
        .filter(|(_, t)| t.is_none())
        .collect();
    assert!(
        late.is_empty(),
        "every selected controller updated: {late:?}"
    );
    assert_eq!(result.oracle.violations().len(), 0);
    assert_eq!(result.twin.as_ref().map(|t| t.gateways), Some(6));
}

#[test]
fn a_gateway_controller_is_online_with_its_gateway_and_shards_agree() {
    let scenario = load_str("gw.yaml", SCENARIO).expect("scenario loads");
    let setup = Setup::new(&scenario);
    let fleet = Fleet::new(&scenario, &setup, |_| true, |_| None, 0);
    let phase_of = |id: &str| {
        let d = fleet.devices.iter().find(|d| d.controller_id == id);
        d.map(|d| d.window_phase).expect("device")
    };
    let gateway = fleet
        .devices
        .iter()
        .find(|d| d.number == 7)
        .expect("gw-00007");
    assert!(gateway.is_edge());
    let controllers = fleet
        .devices
        .iter()
        .filter(|d| d.controller_id.starts_with("gw-00007") && !d.is_edge());
    assert_eq!(
        controllers.clone().count(),
        4,
        "its own and 3 edge controllers"
    );
    for d in controllers {
        assert!(d.is_ddi());
        assert_eq!(d.window_phase, gateway.window_phase, "{}", d.controller_id);
    }
    assert_ne!(phase_of("gw-00004"), phase_of("gw-00005"));
    let whole = Engine::new(&scenario, &Selection::default()).run(|_| {});
    let mut merged: Vec<_> = (0..2)
        .flat_map(|i| {
            let shard = Selection {
                shard: Some((i, 2)),
                ..Selection::default()
            };
            Engine::new(&scenario, &shard).run(|_| {}).digests
        })
        .collect();
    merged.sort_by_key(|(n, _)| *n);
    assert_eq!(merged, whole.digests);
}

#[test]
fn edge_controllers_need_the_gateway_token() {
    let text = SCENARIO.replace("server: { gateway_token: k1 }\n", "");
    let e = load_str("gw.yaml", &text).expect_err("refused").to_string();
    assert!(e.starts_with("gw.yaml:12:56:"), "{e}");
    assert!(e.contains("server.gateway_token"), "{e}");
}

#[test]
fn a_smaller_fleet_selects_the_same_controllers_of_the_gateways_it_keeps() {
    // `run --devices` shrinks the fleet while `serve` keeps the scenario's:
    // selection must not depend on where companion numbers start.
    let text = SCENARIO.replace("edge: true, every: 2", "edge: true, fraction: 0.5");
    let big = Setup::new(&load_str("gw.yaml", &text).expect("scenario"));
    let small = text.replace("count: 6", "count: 3");
    let small = Setup::new(&load_str("gw.yaml", &small).expect("scenario"));
    let kept = |id: &String| {
        ["gw-00004", "gw-00005", "gw-00006"]
            .iter()
            .any(|g| id.starts_with(g))
    };
    for c in 0..2 {
        let expected: BTreeSet<String> = selected_by_id(&big, c).into_iter().filter(kept).collect();
        assert_eq!(selected_by_id(&small, c), expected, "campaign {c}");
    }
    assert!(!selected_by_id(&small, 1).is_empty());
}
