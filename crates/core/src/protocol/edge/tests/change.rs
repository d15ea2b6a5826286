//! The change vocabulary: initial sync, the finest diff, and the twin side.

use serde_json::json;

use super::super::change::{
    apply, diff, diff_twins, initial_sync, twin, ApplyError, Change, PropertyGroup, Twin,
};
use super::super::command::apply_command;
use super::super::model::FunctionalItem;
use super::{def, sample, CAM, CAM_CONFIG};

const GW: &str = "org.acme:gw-1";
const EDGE: &str = "org.acme:gw-1:da:device:ZigBee:cam1";

fn applied(mut base: Twin, changes: &[Change]) -> Twin {
    for change in changes {
        apply(&mut base, change).expect("change applies");
    }
    base
}

#[test]
fn first_connect_is_one_modify_thing_per_thing() {
    let rt = sample();
    let changes = initial_sync(&rt);
    let got: Vec<_> = changes
        .iter()
        .map(|c| (c.command(), c.thing_id(), c.path()))
        .collect();
    assert_eq!(
        got,
        [
            ("ModifyThing", GW, "/".to_string()),
            ("ModifyThing", EDGE, "/".to_string())
        ]
    );
    assert_eq!(applied(Twin::new(), &changes), twin(&rt));
}

#[test]
fn one_value_change_is_a_property_modify() {
    let before = sample();
    let mut after = before.clone();
    after
        .set_property(CAM_CONFIG, "resolution", json!("1080p"))
        .expect("set");
    let want = Change::ModifyFeatureProperty {
        thing_id: EDGE.into(),
        feature_id: "Configuration".into(),
        group: PropertyGroup::Configuration,
        key: "resolution".into(),
        value: json!("1080p"),
    };
    assert_eq!(diff(&before, &after), std::slice::from_ref(&want));
    assert_eq!(
        want.path(),
        "/features/Configuration/properties/configuration/resolution"
    );
    assert_eq!(
        (want.action(), want.value()),
        ("modify", Some(&json!("1080p")))
    );
    after
        .set_property("da:item:gateway:System", "uptime", json!(13))
        .expect("set");
    let changes = diff(&before, &after);
    assert_eq!(changes.len(), 2);
    assert_eq!(
        changes[0].path(),
        "/features/System/properties/status/uptime"
    );
    assert_eq!(changes[0].thing_id(), GW);
}

#[test]
fn several_value_changes_of_a_feature_are_one_properties_modify() {
    let before = sample();
    let mut after = before.clone();
    after
        .set_property(CAM_CONFIG, "resolution", json!("1080p"))
        .expect("set");
    after
        .set_property(CAM_CONFIG, "maxResolution", json!("8k"))
        .expect("set");
    let changes = diff(&before, &after);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].command(), "ModifyFeatureProperties");
    assert_eq!(changes[0].path(), "/features/Configuration/properties");
    assert_eq!(
        changes[0].value(),
        twin(&after)[EDGE]["features"]["Configuration"].get("properties")
    );
    assert_eq!(applied(twin(&before), &changes), twin(&after));
}

#[test]
fn a_setter_command_flows_back_as_a_configuration_change() {
    let before = sample();
    let mut after = before.clone();
    apply_command(
        &mut after,
        CAM,
        "$set.configuration/name",
        &json!({"new_value": "kitchen"}),
    )
    .expect("set");
    let changes = diff(&before, &after);
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes[0].path(),
        "/features/DeviceInfo/properties/configuration/name"
    );
    assert_eq!(changes[0].value(), Some(&json!("kitchen")));
}

#[test]
fn new_and_removed_fis_are_feature_commands() {
    let before = sample();
    let mut after = before.clone();
    let zoom =
        FunctionalItem::new("da:item:Cameras:1:Zoom", def("a:b:1")).writable("level", json!(1));
    after.add_device_item(CAM, zoom).expect("item");
    after
        .remove_item("da:item:gateway:System")
        .expect("removed");
    let changes = diff(&before, &after);
    let got: Vec<_> = changes
        .iter()
        .map(|c| (c.command(), c.thing_id(), c.path(), c.action()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "DeleteFeature",
                GW,
                "/features/System".to_string(),
                "delete"
            ),
            (
                "ModifyFeature",
                EDGE,
                "/features/Zoom".to_string(),
                "modify"
            ),
        ]
    );
    assert_eq!(
        changes[1].value(),
        twin(&after)[EDGE]["features"].get("Zoom")
    );
    assert_eq!(applied(twin(&before), &changes), twin(&after));
}

#[test]
fn edge_devices_are_thing_commands() {
    let before = sample();
    let mut after = before.clone();
    after.remove_edge_device(CAM).expect("removed");
    after
        .add_edge_device(FunctionalItem::new("dev2", def("a:b:1")), vec![])
        .expect("added");
    let changes = diff(&before, &after);
    let got: Vec<_> = changes
        .iter()
        .map(|c| (c.command(), c.thing_id()))
        .collect();
    assert_eq!(
        got,
        [("DeleteThing", EDGE), ("ModifyThing", "org.acme:gw-1:dev2")]
    );
    assert_eq!(applied(twin(&before), &changes), twin(&after));
    assert!(diff(&after, &after).is_empty());
}

#[test]
fn a_definition_change_replaces_the_feature_and_a_rename_shows_as_delete_and_modify() {
    let before = sample();
    let mut after = before.clone();
    let mut fi = after.remove_item(CAM_CONFIG).expect("removed");
    fi.definition = def("a:Other:2");
    after.add_device_item(CAM, fi).expect("re-added");
    assert_eq!(
        diff(&before, &after)
            .iter()
            .map(Change::command)
            .collect::<Vec<_>>(),
        ["ModifyFeature"]
    );

    // Two `Configuration`s: removing the first moves the second to the bare ID.
    let mut two = sample();
    two.add_device_item(
        CAM,
        FunctionalItem::new("da:item:Cameras:2:Configuration", def("a:b:1")),
    )
    .expect("item");
    let mut one = two.clone();
    one.remove_item(CAM_CONFIG).expect("removed");
    let changes = diff(&two, &one);
    let got: Vec<_> = changes.iter().map(|c| (c.command(), c.path())).collect();
    assert_eq!(
        got,
        [
            ("ModifyFeature", "/features/Configuration".to_string()),
            ("DeleteFeature", "/features/Configuration_2".to_string())
        ]
    );
    assert_eq!(applied(twin(&two), &changes), twin(&one));
}

#[test]
fn property_removal_and_odd_shapes_are_handled() {
    let mut before = Twin::new();
    before.insert("t".into(), json!({"features": {"f": {"properties": {"attributes": {}, "configuration": {"a": 1}, "status": {}}}}}));
    let mut after = before.clone();
    after.get_mut("t").expect("t")["features"]["f"]["properties"]["configuration"] = json!({});
    let changes = diff_twins(&before, &after);
    let want = Change::DeleteFeatureProperty {
        thing_id: "t".into(),
        feature_id: "f".into(),
        group: PropertyGroup::Configuration,
        key: "a".into(),
    };
    assert_eq!(changes, std::slice::from_ref(&want));
    assert_eq!((want.action(), want.value()), ("delete", None));
    assert_eq!(applied(before.clone(), &changes), after);
    // Properties not in the mapping's shape: the whole properties object.
    after.get_mut("t").expect("t")["features"]["f"]["properties"] = json!({"extra": 1});
    let changes = diff_twins(&before, &after);
    assert_eq!(
        changes.iter().map(Change::command).collect::<Vec<_>>(),
        ["ModifyFeatureProperties"]
    );
    assert_eq!(applied(before.clone(), &changes), after);
    // Thing attributes changed: the whole thing.
    after.get_mut("t").expect("t")["attributes"] = json!({"x": 1});
    assert_eq!(
        diff_twins(&before, &after)
            .iter()
            .map(Change::command)
            .collect::<Vec<_>>(),
        ["ModifyThing"]
    );
}

#[test]
fn the_twin_answers_missing_targets_like_ditto() {
    let mut tw = twin(&sample());
    let prop = |fid: &str| Change::ModifyFeatureProperty {
        thing_id: EDGE.into(),
        feature_id: fid.into(),
        group: PropertyGroup::Status,
        key: "k".into(),
        value: json!(1),
    };
    let missing_thing = Change::DeleteFeature {
        thing_id: "org.acme:nope".into(),
        feature_id: "f".into(),
    };
    assert_eq!(
        apply(&mut tw, &missing_thing),
        Err(ApplyError::ThingNotFound("org.acme:nope".into()))
    );
    assert_eq!(
        apply(
            &mut tw,
            &Change::DeleteThing {
                thing_id: "x:y".into()
            }
        ),
        Err(ApplyError::ThingNotFound("x:y".into()))
    );
    let missing_feature = ApplyError::FeatureNotFound {
        thing_id: EDGE.into(),
        feature_id: "Nope".into(),
    };
    assert_eq!(apply(&mut tw, &prop("Nope")), Err(missing_feature.clone()));
    let delete = Change::DeleteFeature {
        thing_id: EDGE.into(),
        feature_id: "Nope".into(),
    };
    assert_eq!(apply(&mut tw, &delete), Err(missing_feature));
    let delete_prop = Change::DeleteFeatureProperty {
        thing_id: EDGE.into(),
        feature_id: "Status".into(),
        group: PropertyGroup::Status,
        key: "nope".into(),
    };
    assert!(matches!(
        apply(&mut tw, &delete_prop),
        Err(ApplyError::PropertyNotFound { .. })
    ));
    assert_eq!(tw, twin(&sample()), "refused changes change nothing");
    // A property modify creates the property (and its group) inside an existing feature.
    let mut bare = tw.clone();
    bare.get_mut(EDGE).expect("edge")["features"]["Status"] = json!({});
    apply(&mut bare, &prop("Status")).expect("applies");
    assert_eq!(
        bare[EDGE]["features"]["Status"],
        json!({"properties": {"status": {"k": 1}}})
    );
}

#[test]
fn supersession_is_by_thing_and_path_prefix() {
    let feature = |fid: &str| Change::DeleteFeature {
        thing_id: EDGE.into(),
        feature_id: fid.into(),
    };
    let prop = |fid: &str| Change::ModifyFeatureProperty {
        thing_id: EDGE.into(),
        feature_id: fid.into(),
        group: PropertyGroup::Status,
        key: "k".into(),
        value: json!(1),
    };
    let thing = Change::DeleteThing {
        thing_id: EDGE.into(),
    };
    assert!(feature("Config").supersedes(&prop("Config")));
    assert!(
        !feature("Config").supersedes(&prop("Config_2")),
        "a longer feature ID is not beneath"
    );
    assert!(
        !prop("Config").supersedes(&feature("Config")),
        "a child does not supersede its parent"
    );
    assert!(prop("Config").supersedes(&prop("Config")));
    assert!(thing.supersedes(&prop("Config")) && thing.supersedes(&feature("X")));
    let other = Change::DeleteThing {
        thing_id: GW.into(),
    };
    assert!(!other.supersedes(&prop("Config")));
}
