//! The seed's mapping rules, one test per rule.

use serde_json::json;

use super::super::mapping::{
    assign_feature_ids, edge_thing_id, feature_json, features, gateway_thing_id, locate,
    map_runtime, ThingType, DEVICE_INFO, MAPPING_VERSION,
};
use super::super::model::{FunctionalItem, GatewayRuntime};
use super::{def, sample, CAM, CAM_CONFIG};
use crate::ditto::id::{check_encoded, check_feature_id, check_thing_id, decode};

#[test]
fn thing_ids_follow_the_seed() {
    assert_eq!(gateway_thing_id("org.acme", "gw-1"), "org.acme:gw-1");
    assert_eq!(
        edge_thing_id("org.acme", "gw-1", CAM),
        "org.acme:gw-1:da:device:ZigBee:cam1"
    );
    let things = map_runtime(&sample());
    let ids: Vec<_> = things
        .iter()
        .map(|t| (t.thing_id.as_str(), t.thing_type))
        .collect();
    assert_eq!(
        ids,
        [
            ("org.acme:gw-1", ThingType::Gateway),
            ("org.acme:gw-1:da:device:ZigBee:cam1", ThingType::EdgeDevice)
        ]
    );
}

#[test]
fn thing_ids_are_encoded_but_keep_their_colons() {
    assert_eq!(
        gateway_thing_id("org.acme", "gw/1 50%\"x\""),
        "org.acme:gw%2F1%2050%25%22x%22"
    );
    assert_eq!(
        edge_thing_id("ns", "g?1", "da:dev#1,*"),
        "ns:g%3F1:da:dev%231%2C%2A"
    );
    assert_eq!(edge_thing_id("ns", "g", "tab\there"), "ns:g:tab%09here");
    let id = edge_thing_id("ns", "gw 1", "dev/ü €");
    assert_eq!(id, "ns:gw%201:dev%2F%FC%20€");
    assert!(check_thing_id(&id).is_ok());
}

#[test]
fn the_edge_thing_has_the_seed_example_shape() {
    let rt = sample();
    let edge = &map_runtime(&rt)[1];
    let want = json!({
        "thingId": "org.acme:gw-1:da:device:ZigBee:cam1",
        "attributes": {
            "thing.type": "EdgeDevice",
            "mapping.version": MAPPING_VERSION,
            "device.id": CAM,
            "gateway.id": "gw-1",
        },
        "features": {
            "DeviceInfo": {
                "definition": ["com.bosch.gw:Device:2.1.0"],
                "properties": {
                    "attributes": {"vendor": "ACME"},
                    "configuration": {"name": "Front door camera", "tags": ["camera", "outdoor"], "location": "porch"},
                    "status": {"online": true},
                }
            },
            "Configuration": {
                "definition": ["com.bosch.gw:CameraConfig:1.0.0"],
                "properties": {
                    "attributes": {},
                    "configuration": {"name": "Camera configuration", "tags": [], "resolution": "720p"},
                    "status": {"maxResolution": "4k"},
                }
            },
            "Status": {
                "definition": ["com.bosch.gw:CameraStatus:1.0.0"],
                "properties": {
                    "attributes": {},
                    "configuration": {"name": "", "tags": []},
                    "status": {"recording": false},
                }
            }
        }
    });
    assert_eq!(edge.json, want);
    assert_eq!(edge.device_uid.as_deref(), Some(CAM));
    assert_eq!(edge.features["DeviceInfo"], CAM);
    assert_eq!(edge.features["Configuration"], CAM_CONFIG);
}

#[test]
fn gateway_fis_are_features_of_the_gateway_thing() {
    let rt = sample();
    let gateway = &map_runtime(&rt)[0];
    let want = json!({
        "thingId": "org.acme:gw-1",
        "attributes": {"thing.type": "Gateway", "mapping.version": MAPPING_VERSION, "gateway.id": "gw-1"},
        "features": {
            "System": {
                "definition": ["com.bosch.gw:System:1.0.0"],
                "properties": {"attributes": {}, "configuration": {"name": "System", "tags": []}, "status": {"uptime": 12}},
            }
        }
    });
    assert_eq!(gateway.json, want);
    assert_eq!(gateway.device_uid, None);
    assert!(!gateway.json["attributes"]
        .as_object()
        .is_some_and(|a| a.contains_key("device.id")));
}

#[test]
fn a_gateway_without_devices_is_one_thing_without_features() {
    let rt = GatewayRuntime::new("ns", "gw").expect("runtime");
    let things = map_runtime(&rt);
    assert_eq!(things.len(), 1);
    assert_eq!(things[0].json["features"], json!({}));
    assert!(features(&rt).is_empty());
}

#[test]
fn feature_json_splits_attributes_configuration_and_status() {
    let fi = FunctionalItem::new("a:B", def("v.ns:T:2"))
        .named("n")
        .tag("z")
        .tag("a")
        .attribute("serial", json!("123"))
        .writable("w", json!([1, 2]))
        .read_only("r", json!({"deep": null}));
    let want = json!({
        "definition": ["v.ns:T:2"],
        "properties": {
            "attributes": {"serial": "123"},
            "configuration": {"name": "n", "tags": ["a", "z"], "w": [1, 2]},
            "status": {"r": {"deep": null}},
        }
    });
    assert_eq!(feature_json(&fi), want);
}

#[test]
fn colliding_short_names_get_suffixes_by_uid_order() {
    let ids = assign_feature_ids(
        None,
        [
            "da:item:Cameras:2:Configuration",
            "da:item:Cameras:1:Configuration",
        ],
    );
    assert_eq!(ids["da:item:Cameras:1:Configuration"], "Configuration");
    assert_eq!(ids["da:item:Cameras:2:Configuration"], "Configuration_2");
    // A suffixed ID skips an FI's own bare short name, wherever its UID sorts.
    let ids = assign_feature_ids(None, ["a:Config", "b:Config", "c:Config", "z:Config_2"]);
    let got: Vec<_> = ["a:Config", "b:Config", "c:Config", "z:Config_2"]
        .iter()
        .map(|u| ids[*u].as_str())
        .collect();
    assert_eq!(got, ["Config", "Config_3", "Config_4", "Config_2"]);
}

#[test]
fn device_info_is_reserved_on_edge_things_only() {
    let ids = assign_feature_ids(Some(DEVICE_INFO), ["x:DeviceInfo", "y:DeviceInfo"]);
    assert_eq!(
        (ids["x:DeviceInfo"].as_str(), ids["y:DeviceInfo"].as_str()),
        ("DeviceInfo_2", "DeviceInfo_3")
    );
    let ids = assign_feature_ids(None, ["x:DeviceInfo"]);
    assert_eq!(ids["x:DeviceInfo"], "DeviceInfo");

    let mut rt = sample();
    rt.add_device_item(CAM, FunctionalItem::new("da:item:DeviceInfo", def("a:b:1")))
        .expect("item");
    rt.add_gateway_item(FunctionalItem::new("gw:DeviceInfo", def("a:b:1")))
        .expect("item");
    let things = map_runtime(&rt);
    assert_eq!(things[0].features["DeviceInfo"], "gw:DeviceInfo");
    assert_eq!(things[1].features["DeviceInfo"], CAM);
    assert_eq!(things[1].features["DeviceInfo_2"], "da:item:DeviceInfo");
}

#[test]
fn collisions_are_per_thing() {
    let mut rt = sample();
    rt.add_gateway_item(FunctionalItem::new("gw:Configuration", def("a:b:1")))
        .expect("item");
    let other = FunctionalItem::new("da:device:cam2", def("a:b:1"));
    let config2 = FunctionalItem::new("da:item:Cameras:2:Configuration", def("a:b:1"));
    rt.add_edge_device(other, vec![config2]).expect("device");
    for thing in map_runtime(&rt) {
        assert!(
            thing.features.contains_key("Configuration"),
            "{}",
            thing.thing_id
        );
        assert!(
            !thing
                .features
                .keys()
                .any(|f| f.starts_with("Configuration_")),
            "{}",
            thing.thing_id
        );
    }
}

#[test]
fn feature_ids_are_encoded_short_names() {
    let uids = [
        "a:b/c",
        "a:50 %",
        "a:\"q\"",
        "a:*",
        "a:x?y#z,w",
        "a:bell\u{7}",
    ];
    let ids = assign_feature_ids(None, uids);
    let got: Vec<_> = uids.iter().map(|u| ids[*u].as_str()).collect();
    assert_eq!(
        got,
        [
            "b%2Fc",
            "50%20%25",
            "%22q%22",
            "%2A",
            "x%3Fy%23z%2Cw",
            "bell%07"
        ]
    );
    for id in got {
        assert!(
            check_feature_id(id).is_ok() && check_encoded(id).is_ok(),
            "{id}"
        );
    }
    // Equal short names collide after encoding too, and the suffix goes after it.
    let ids = assign_feature_ids(None, ["a:x y", "b:x y"]);
    assert_eq!(
        (ids["a:x y"].as_str(), ids["b:x y"].as_str()),
        ("x%20y", "x%20y_2")
    );
    assert_eq!(decode("x%20y_2").as_deref(), Ok("x y_2"));
}

#[test]
fn features_list_and_locate_agree() {
    let rt = sample();
    let list = features(&rt);
    let keys: Vec<_> = list
        .iter()
        .map(|(t, f, _)| (t.as_str(), f.as_str()))
        .collect();
    let edge = "org.acme:gw-1:da:device:ZigBee:cam1";
    assert_eq!(
        keys,
        [
            ("org.acme:gw-1", "System"),
            (edge, "Configuration"),
            (edge, "DeviceInfo"),
            (edge, "Status")
        ]
    );
    assert_eq!(list[1].2, feature_json(rt.item(CAM_CONFIG).expect("item")));
    assert_eq!(
        locate(&rt, edge, "Configuration").as_deref(),
        Some(CAM_CONFIG)
    );
    assert_eq!(locate(&rt, edge, "DeviceInfo").as_deref(), Some(CAM));
    assert_eq!(
        locate(&rt, "org.acme:gw-1", "System").as_deref(),
        Some("da:item:gateway:System")
    );
    assert_eq!(locate(&rt, "org.acme:gw-1", "Configuration"), None);
    assert_eq!(locate(&rt, "org.acme:other", "System"), None);
}

#[test]
fn encoded_ids_reach_the_json_and_locate() {
    let mut rt = GatewayRuntime::new("ns", "gw 1").expect("runtime");
    let dev = FunctionalItem::new("dev/1 \"50%\"", def("a:b:1"));
    rt.add_edge_device(dev, vec![FunctionalItem::new("i:Con fig", def("a:b:1"))])
        .expect("device");
    let edge = &map_runtime(&rt)[1];
    assert_eq!(edge.thing_id, "ns:gw%201:dev%2F1%20%2250%25%22");
    assert_eq!(edge.json["thingId"], json!(edge.thing_id));
    assert_eq!(
        edge.json["attributes"]["device.id"],
        json!("dev/1 \"50%\""),
        "attribute values stay raw"
    );
    assert_eq!(edge.json["attributes"]["gateway.id"], json!("gw 1"));
    assert!(edge.json["features"].get("Con%20fig").is_some());
    assert_eq!(
        locate(&rt, &edge.thing_id, "Con%20fig").as_deref(),
        Some("i:Con fig")
    );
}
