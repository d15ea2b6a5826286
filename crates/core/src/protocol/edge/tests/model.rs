//! The FI model and the runtime operations.

use serde_json::json;

use super::super::model::{
    short_interface_name, Definition, FunctionalItem, GatewayRuntime, ModelError, Owner,
};
use super::{def, sample, CAM, CAM_CONFIG};

#[test]
fn definitions_parse_three_parts_of_ditto_characters() {
    let d = def("com.bosch-iot.gw:Camera_X:1.0.0");
    assert_eq!(
        (d.namespace.as_str(), d.name.as_str(), d.version.as_str()),
        ("com.bosch-iot.gw", "Camera_X", "1.0.0")
    );
    assert_eq!(d.to_string(), "com.bosch-iot.gw:Camera_X:1.0.0");
    for bad in ["", "a:b", "a:b:c:d", "a::c", "a b:c:d", "a:b:1/0", "ä:b:c"] {
        assert_eq!(
            Definition::parse(bad),
            Err(ModelError::InvalidDefinition(bad.into())),
            "{bad}"
        );
    }
}

#[test]
fn short_interface_name_is_the_last_segment() {
    assert_eq!(
        short_interface_name("da:item:Cameras:1:Configuration"),
        "Configuration"
    );
    assert_eq!(short_interface_name("Plain"), "Plain");
    assert_eq!(short_interface_name("a:b c/d"), "b c/d");
    assert_eq!(short_interface_name("a:"), "");
}

#[test]
fn owners_and_lookup() {
    let rt = sample();
    assert_eq!(rt.owner("da:item:gateway:System"), Some(Owner::Gateway));
    assert_eq!(rt.owner(CAM), Some(Owner::Device));
    assert_eq!(rt.owner(CAM_CONFIG), Some(Owner::DeviceItem(CAM.into())));
    assert_eq!(rt.owner("nope"), None);
    assert_eq!(
        rt.item(CAM).map(|fi| fi.name.as_str()),
        Some("Front door camera")
    );
    assert_eq!(
        rt.item(CAM_CONFIG).map(|fi| fi.short_name()),
        Some("Configuration")
    );
    assert_eq!(rt.item_count(), 4);
}

#[test]
fn uids_are_unique_across_the_runtime() {
    let mut rt = sample();
    let d = def("a:b:1");
    for uid in ["da:item:gateway:System", CAM, CAM_CONFIG] {
        let err = rt.add_gateway_item(FunctionalItem::new(uid, d.clone()));
        assert_eq!(err, Err(ModelError::DuplicateUid(uid.into())));
        let err = rt.add_device_item(CAM, FunctionalItem::new(uid, d.clone()));
        assert_eq!(err, Err(ModelError::DuplicateUid(uid.into())));
    }
    let twice = vec![
        FunctionalItem::new("x:A", d.clone()),
        FunctionalItem::new("x:A", d.clone()),
    ];
    assert_eq!(
        rt.add_edge_device(FunctionalItem::new("dev2", d.clone()), twice),
        Err(ModelError::DuplicateUid("x:A".into()))
    );
    let itself = vec![FunctionalItem::new("dev2", d.clone())];
    assert_eq!(
        rt.add_edge_device(FunctionalItem::new("dev2", d), itself),
        Err(ModelError::DuplicateUid("dev2".into()))
    );
    assert_eq!(rt, sample(), "a refused add changes nothing");
}

#[test]
fn uids_need_a_short_interface_name() {
    let mut rt = sample();
    for bad in ["", "da:item:"] {
        let err = rt.add_gateway_item(FunctionalItem::new(bad, def("a:b:1")));
        assert_eq!(err, Err(ModelError::InvalidUid(bad.into())));
    }
    // Characters the encoding handles are fine in UIDs.
    assert!(rt
        .add_gateway_item(FunctionalItem::new(
            "da:item:50% \"off\"/\u{7}",
            def("a:b:1")
        ))
        .is_ok());
}

#[test]
fn keys_must_be_json_keys_and_not_name_or_tags() {
    let mut rt = sample();
    let d = def("a:b:1");
    let cases = [
        FunctionalItem::new("k:1", d.clone()).writable("name", json!(1)),
        FunctionalItem::new("k:2", d.clone()).read_only("tags", json!(1)),
        FunctionalItem::new("k:3", d.clone()).writable("a/b", json!(1)),
        FunctionalItem::new("k:4", d.clone()).read_only("", json!(1)),
        FunctionalItem::new("k:5", d.clone()).attribute("x\u{1}", json!(1)),
        FunctionalItem::new("k:6", d.clone()).attribute("ü", json!(1)),
    ];
    for fi in cases {
        let err = rt.add_gateway_item(fi.clone());
        assert!(
            matches!(err, Err(ModelError::InvalidKey { .. })),
            "{fi:?}: {err:?}"
        );
    }
    // `name` and `tags` are fine as attributes: they live in properties.attributes.
    let fine = FunctionalItem::new("k:7", d.clone())
        .attribute("name", json!("n"))
        .attribute("tags", json!([]));
    assert!(rt.add_gateway_item(fine).is_ok());
    let both = FunctionalItem::new("k:8", d)
        .writable("p", json!(1))
        .read_only("p", json!(2));
    assert_eq!(
        rt.add_gateway_item(both),
        Err(ModelError::AmbiguousKey {
            uid: "k:8".into(),
            key: "p".into()
        })
    );
}

#[test]
fn thing_ids_must_be_valid_for_ditto() {
    assert!(matches!(
        GatewayRuntime::new("1bad", "gw"),
        Err(ModelError::InvalidThingId { .. })
    ));
    assert!(matches!(
        GatewayRuntime::new("org.acme", ""),
        Err(ModelError::InvalidThingId { .. })
    ));
    assert!(
        GatewayRuntime::new("", "gw").is_ok(),
        "Ditto admits the empty namespace"
    );
    let mut rt = sample();
    let long = format!("dev:{}", "x".repeat(260));
    let err = rt.add_edge_device(FunctionalItem::new(long, def("a:b:1")), vec![]);
    assert!(
        matches!(err, Err(ModelError::InvalidThingId { .. })),
        "{err:?}"
    );
}

#[test]
fn edge_devices_come_and_go_with_their_items() {
    let mut rt = sample();
    assert_eq!(rt.remove_item(CAM), Err(ModelError::IsDevice(CAM.into())));
    let removed = rt.remove_edge_device(CAM).expect("device");
    assert_eq!(removed.items.len(), 2);
    assert_eq!(rt.owner(CAM_CONFIG), None);
    assert_eq!(
        rt.remove_edge_device(CAM).map(|_| ()),
        Err(ModelError::UnknownDevice(CAM.into()))
    );
    let err = rt.add_device_item(CAM, FunctionalItem::new("x:Y", def("a:b:1")));
    assert_eq!(err, Err(ModelError::UnknownDevice(CAM.into())));
    assert_eq!(rt.item_count(), 1);
}

#[test]
fn items_are_added_and_removed() {
    let mut rt = sample();
    rt.add_device_item(
        CAM,
        FunctionalItem::new("da:item:Cameras:1:Zoom", def("a:b:1")),
    )
    .expect("item");
    assert_eq!(
        rt.owner("da:item:Cameras:1:Zoom"),
        Some(Owner::DeviceItem(CAM.into()))
    );
    assert_eq!(
        rt.remove_item("da:item:Cameras:1:Zoom").map(|fi| fi.uid),
        Ok("da:item:Cameras:1:Zoom".into())
    );
    assert_eq!(
        rt.remove_item("da:item:gateway:System").map(|fi| fi.uid),
        Ok("da:item:gateway:System".into())
    );
    assert_eq!(
        rt.remove_item("gone").map(|_| ()),
        Err(ModelError::UnknownItem("gone".into()))
    );
    assert!(rt.gateway_items().is_empty());
}

#[test]
fn set_property_changes_existing_properties_only() {
    let mut rt = sample();
    assert_eq!(
        rt.set_property(CAM_CONFIG, "resolution", json!("1080p")),
        Ok(json!("720p"))
    );
    assert_eq!(
        rt.set_property(CAM_CONFIG, "maxResolution", json!("8k")),
        Ok(json!("4k"))
    );
    let fi = rt.item(CAM_CONFIG).expect("item");
    assert_eq!(
        (&fi.writable["resolution"], &fi.read_only["maxResolution"]),
        (&json!("1080p"), &json!("8k"))
    );
    let err = rt.set_property(CAM_CONFIG, "zoom", json!(2));
    assert_eq!(
        err,
        Err(ModelError::UnknownProperty {
            uid: CAM_CONFIG.into(),
            key: "zoom".into()
        })
    );
    assert_eq!(
        rt.set_property("gone", "x", json!(2)),
        Err(ModelError::UnknownItem("gone".into()))
    );
}
