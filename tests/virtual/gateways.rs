//! Edge gateways (`protocol: ditto`, seed 002) in virtual time: a run is a
//! pure function of its seed, shards reproduce each gateway's history, the
//! report carries the twin figures, and the scenario's `gateway:` block is
//! checked with located errors.

use fleetsim::engine::{Engine, Selection};
use fleetsim::scenario::load_str;

/// 12 gateways of 8 edge devices over two days: online 3 h in 4, 1 % of
/// frames lost (each loss breaks the session), a small buffer that
/// overflows, commands and twin writes from the backend.
const SMALL: &str = "name: gw\nseed: 11\nduration: 2d\nfleet:\n  - kind: always_on\n    count: 12\n    protocol: ditto\n    connectivity: { online_every: 4h, online_for: 3h, loss: 0.01 }\n    gateway: { edge_devices: 8, change_every: 1h, churn_every: 12h, commands_every: 3h, twin_writes_every: 6h, buffer: 6 }\n";

fn run(selection: &Selection) -> fleetsim::engine::RunResult {
    let s = load_str("gw.yaml", SMALL).expect("scenario loads");
    Engine::new(&s, selection).run(|_| {})
}

#[test]
fn a_gateway_run_is_a_function_of_its_seed() {
    let (a, b) = (run(&Selection::default()), run(&Selection::default()));
    assert_eq!(a.digest, b.digest);
    let twin = a.twin.as_ref().expect("a twin section");
    assert_eq!(twin.gateways, 12);
    assert!(
        twin.sessions >= 12 * 12,
        "windows and breaks: {}",
        twin.sessions
    );
    assert!(
        twin.buffered > 0 && twin.dropped > 0 && twin.resyncs > 0,
        "{twin:?}"
    );
    assert!(
        twin.backend.commands > 0 && twin.backend.twin_writes > 0,
        "{twin:?}"
    );
    assert!(twin.messages > 0, "commands reach devices: {twin:?}");
    assert_eq!(twin.backend.failed, 0, "{:?}", twin.backend);
    assert!(twin.lag.count > 0 && twin.reconnect_sync.count > 0);
}

#[test]
fn shards_reproduce_every_gateway() {
    let whole = run(&Selection::default());
    let mut merged: Vec<(u64, String)> = (0..3)
        .flat_map(|i| {
            let shard = run(&Selection {
                shard: Some((i, 3)),
                ..Selection::default()
            });
            shard
                .digests
                .into_iter()
                .map(|(n, h)| (n, h.to_hex()))
                .collect::<Vec<_>>()
        })
        .collect();
    merged.sort();
    let whole: Vec<(u64, String)> = whole
        .digests
        .iter()
        .map(|(n, h)| (*n, h.to_hex()))
        .collect();
    assert_eq!(merged, whole);
}

#[test]
fn gateway_blocks_are_checked_where_they_are_written() {
    let bad = |gateway: &str, protocol: &str| {
        let text = format!(
            "name: x\nduration: 1h\nfleet:\n  - kind: always_on\n    count: 1\n    protocol: {protocol}\n    gateway: {gateway}\n"
        );
        load_str("x.yaml", &text).expect_err("refused").to_string()
    };
    assert!(bad("{ namespace: 'no:colons' }", "ditto").starts_with("x.yaml:7:"));
    assert!(bad("{ buffer: 0 }", "ditto").contains("at least 1 change"));
    assert!(bad("{ change_every: 0s }", "ditto").contains("longer than 0s"));
    assert!(bad("{ edge_devices: 5000 }", "ditto").contains("at most 1000"));
    assert!(bad("{}", "ddi").contains("only on `protocol: ditto`"));
}
