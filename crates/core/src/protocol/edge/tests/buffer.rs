//! The offline buffer: order, coalescing, the bound and its counters.

use serde_json::json;

use super::super::buffer::{Buffer, BufferStats};
use super::super::change::{Change, PropertyGroup};

fn prop(feature: &str, key: &str, value: i64) -> Change {
    Change::ModifyFeatureProperty {
        thing_id: "ns:gw:dev".into(),
        feature_id: feature.into(),
        group: PropertyGroup::Status,
        key: key.into(),
        value: json!(value),
    }
}

fn feature(feature: &str) -> Change {
    Change::ModifyFeature {
        thing_id: "ns:gw:dev".into(),
        feature_id: feature.into(),
        feature: json!({}),
    }
}

fn values(changes: &[Change]) -> Vec<(String, i64)> {
    let v = |c: &Change| c.value().and_then(|v| v.as_i64()).unwrap_or(-1);
    changes.iter().map(|c| (c.path(), v(c))).collect()
}

fn adds_up(stats: BufferStats, len: usize) -> bool {
    stats.pushed == stats.coalesced + stats.dropped + stats.drained + len as u64
}

#[test]
fn changes_come_out_in_push_order() {
    let mut buffer = Buffer::new(10);
    for (i, f) in ["A", "B", "C"].iter().enumerate() {
        buffer.push(prop(f, "k", i as i64));
    }
    assert_eq!(buffer.len(), 3);
    let drained = buffer.drain();
    assert!(!drained.resync);
    assert_eq!(
        values(&drained.changes)
            .iter()
            .map(|(_, v)| *v)
            .collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(buffer.is_empty());
    assert_eq!(
        buffer.stats(),
        BufferStats {
            pushed: 3,
            coalesced: 0,
            dropped: 0,
            drained: 3,
            high_water: 3
        }
    );
}

#[test]
fn a_repeated_property_keeps_only_its_newest_value_at_the_end() {
    let mut buffer = Buffer::new(10);
    buffer.push(prop("A", "k", 1));
    buffer.push(prop("B", "k", 2));
    buffer.push(prop("A", "k", 3));
    buffer.push(prop("A", "j", 4));
    let got = values(&buffer.drain().changes);
    let path = |f: &str, k: &str| format!("/features/{f}/properties/status/{k}");
    assert_eq!(
        got,
        [
            (path("B", "k"), 2),
            (path("A", "k"), 3),
            (path("A", "j"), 4)
        ]
    );
    assert_eq!(buffer.stats().coalesced, 1);
    assert!(adds_up(buffer.stats(), buffer.len()));
}

#[test]
fn a_feature_or_thing_change_supersedes_what_lies_beneath() {
    let mut buffer = Buffer::new(10);
    buffer.push(feature("A"));
    buffer.push(prop("A", "k", 1));
    buffer.push(prop("A_2", "k", 2));
    buffer.push(prop("AB", "k", 3));
    buffer.push(Change::DeleteFeature {
        thing_id: "ns:gw:dev".into(),
        feature_id: "A".into(),
    });
    let got: Vec<_> = buffer.iter().map(|c| (c.command(), c.path())).collect();
    assert_eq!(
        got,
        [
            (
                "ModifyFeatureProperty",
                "/features/A_2/properties/status/k".to_string()
            ),
            (
                "ModifyFeatureProperty",
                "/features/AB/properties/status/k".to_string()
            ),
            ("DeleteFeature", "/features/A".to_string()),
        ]
    );
    buffer.push(Change::ModifyFeature {
        thing_id: "ns:gw:other".into(),
        feature_id: "A".into(),
        feature: json!(1),
    });
    buffer.push(Change::DeleteThing {
        thing_id: "ns:gw:dev".into(),
    });
    let got: Vec<_> = buffer.iter().map(|c| (c.command(), c.thing_id())).collect();
    assert_eq!(
        got,
        [
            ("ModifyFeature", "ns:gw:other"),
            ("DeleteThing", "ns:gw:dev")
        ]
    );
    assert_eq!(buffer.stats().coalesced, 5);
    assert!(adds_up(buffer.stats(), buffer.len()));
}

#[test]
fn a_child_after_its_parent_is_kept() {
    let mut buffer = Buffer::new(10);
    buffer.push(feature("A"));
    buffer.push(prop("A", "k", 1));
    assert_eq!(buffer.len(), 2);
    assert_eq!(buffer.stats().coalesced, 0);
}

#[test]
fn past_the_bound_the_oldest_is_dropped_and_a_resync_asked() {
    let mut buffer = Buffer::new(2);
    buffer.push(prop("A", "k", 1));
    buffer.push(prop("B", "k", 2));
    buffer.push(prop("B", "k", 3)); // coalesces: no drop
    assert_eq!(buffer.stats().dropped, 0);
    buffer.push(prop("C", "k", 4));
    assert_eq!(buffer.stats().dropped, 1);
    let drained = buffer.drain();
    assert!(drained.resync);
    assert_eq!(
        values(&drained.changes)
            .iter()
            .map(|(_, v)| *v)
            .collect::<Vec<_>>(),
        [3, 4]
    );
    assert_eq!(
        buffer.stats(),
        BufferStats {
            pushed: 4,
            coalesced: 1,
            dropped: 1,
            drained: 2,
            high_water: 2
        }
    );
    buffer.push(prop("A", "k", 5));
    assert!(!buffer.drain().resync, "a drain clears the resync flag");
    // The dropped change's index entry is gone: pushing its path again coalesces nothing.
    let mut small = Buffer::new(1);
    small.push(prop("A", "k", 1));
    small.push(prop("B", "k", 2));
    small.push(prop("A", "k", 3));
    assert_eq!((small.stats().coalesced, small.stats().dropped), (0, 2));
    assert_eq!(
        values(&small.drain().changes)
            .iter()
            .map(|(_, v)| *v)
            .collect::<Vec<_>>(),
        [3]
    );
}

#[test]
fn capacity_is_at_least_one() {
    let mut buffer = Buffer::new(0);
    assert_eq!(buffer.capacity(), 1);
    buffer.push(prop("A", "k", 1));
    assert_eq!(buffer.len(), 1);
}
