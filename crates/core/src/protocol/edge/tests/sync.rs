//! TwinSync: first connect, live changes, the offline buffer and catch-up.

use serde_json::json;

use super::super::change::{apply, diff, initial_sync, twin, Change, Twin};
use super::super::sync::TwinSync;
use super::{sample, CAM_CONFIG};

fn send(service: &mut Twin, changes: &[Change]) {
    for change in changes {
        apply(service, change).expect("the twin accepts it");
    }
}

#[test]
fn nothing_goes_out_before_the_first_connect() {
    let mut rt = sample();
    let mut sync = TwinSync::new(8);
    let before = rt.clone();
    rt.set_property(CAM_CONFIG, "resolution", json!("4k"))
        .expect("set");
    assert!(sync.changed(diff(&before, &rt)).is_empty());
    assert_eq!(sync.buffered(), 0);
    let first = sync.connect(&rt);
    assert_eq!(first, initial_sync(&rt));
    assert_eq!(sync.service_view(), &twin(&rt));
    assert_eq!((sync.stats().sent, sync.stats().connects), (2, 1));
}

#[test]
fn live_changes_go_out_at_once_and_offline_ones_on_reconnect() {
    let mut rt = sample();
    let mut sync = TwinSync::new(8);
    let mut service = Twin::new();
    send(&mut service, &sync.connect(&rt));
    let before = rt.clone();
    rt.set_property(CAM_CONFIG, "resolution", json!("1080p"))
        .expect("set");
    let now = sync.changed(diff(&before, &rt));
    assert_eq!(now, diff(&before, &rt));
    send(&mut service, &now);

    sync.disconnect();
    assert!(!sync.is_online());
    let mut buffered = Vec::new();
    for value in ["a", "b"] {
        let before = rt.clone();
        rt.set_property(CAM_CONFIG, "maxResolution", json!(value))
            .expect("set");
        rt.set_property("da:item:gateway:System", "uptime", json!(value))
            .expect("set");
        let changes = diff(&before, &rt);
        buffered.extend(changes.clone());
        assert!(sync.changed(changes).is_empty());
    }
    assert_eq!(sync.buffered(), 2, "each property keeps its newest value");
    let replay = sync.connect(&rt);
    assert_eq!(replay, buffered[2..].to_vec());
    send(&mut service, &replay);
    assert_eq!(service, twin(&rt));
    assert_eq!(sync.stats().resyncs, 0);
    assert_eq!(sync.stats().buffer.coalesced, 2);
}

#[test]
fn an_overflow_is_caught_up_with_one_diff() {
    let mut rt = sample();
    let mut sync = TwinSync::new(1);
    let mut service = Twin::new();
    send(&mut service, &sync.connect(&rt));
    sync.disconnect();
    let before = rt.clone();
    rt.set_property(CAM_CONFIG, "maxResolution", json!("8k"))
        .expect("set");
    rt.set_property("da:item:gateway:System", "uptime", json!(99))
        .expect("set");
    rt.remove_item("da:item:Cameras:1:Status").expect("removed");
    assert!(sync.changed(diff(&before, &rt)).is_empty());
    assert_eq!(sync.stats().buffer.dropped, 2);
    let catch_up = sync.connect(&rt);
    assert_eq!(catch_up, diff(&before, &rt));
    send(&mut service, &catch_up);
    assert_eq!(service, twin(&rt));
    assert_eq!(sync.stats().resyncs, 1);
}

#[test]
fn after_assumed_losses_the_next_connect_starts_over() {
    let mut rt = sample();
    let mut sync = TwinSync::new(8);
    sync.connect(&rt);
    sync.disconnect();
    let before = rt.clone();
    rt.set_property(CAM_CONFIG, "maxResolution", json!("8k"))
        .expect("set");
    sync.changed(diff(&before, &rt));
    sync.assume_lost();
    assert_eq!(sync.buffered(), 0);
    assert_eq!(sync.connect(&rt), initial_sync(&rt));
}

#[test]
fn a_feature_born_and_gone_offline_is_not_deleted_on_reconnect() {
    let mut rt = sample();
    let mut sync = TwinSync::new(8);
    let mut service = Twin::new();
    send(&mut service, &sync.connect(&rt));
    sync.disconnect();
    let before = rt.clone();
    let zoom =
        super::super::model::FunctionalItem::new("da:item:Cameras:1:Zoom", super::def("a:b:1"));
    rt.add_device_item(super::CAM, zoom).expect("item");
    sync.changed(diff(&before, &rt));
    let before = rt.clone();
    rt.remove_item("da:item:Cameras:1:Zoom").expect("removed");
    sync.changed(diff(&before, &rt));
    assert_eq!(sync.buffered(), 1, "the delete superseded the create");
    assert!(sync.connect(&rt).is_empty());
    assert_eq!(sync.stats().skipped, 1);
    assert_eq!(service, twin(&rt));
}
