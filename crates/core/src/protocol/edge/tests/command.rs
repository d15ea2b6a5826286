//! `$set.configuration/<property>` commands and the gateway's answers.

use serde_json::json;

use super::super::command::{apply_command, CommandError, APPLIED_STATUS};
use super::{sample, CAM, CAM_CONFIG};

#[test]
fn a_setter_changes_a_writable_property() {
    let mut rt = sample();
    let set = |v| json!({"new_value": v});
    assert_eq!(
        apply_command(
            &mut rt,
            CAM_CONFIG,
            "$set.configuration/resolution",
            &set(json!("1080p"))
        ),
        Ok(true)
    );
    assert_eq!(
        rt.item(CAM_CONFIG).map(|fi| &fi.writable["resolution"]),
        Some(&json!("1080p"))
    );
    assert_eq!(
        apply_command(
            &mut rt,
            CAM_CONFIG,
            "$set.configuration/resolution",
            &set(json!("1080p"))
        ),
        Ok(false)
    );
    assert_eq!(
        apply_command(
            &mut rt,
            CAM,
            "$set.configuration/location",
            &set(json!({"room": 2}))
        ),
        Ok(true)
    );
    assert_eq!(
        rt.item(CAM).map(|fi| &fi.writable["location"]),
        Some(&json!({"room": 2}))
    );
    assert_eq!(APPLIED_STATUS, 204);
}

#[test]
fn name_and_tags_are_settable_with_their_types() {
    let mut rt = sample();
    let ok = apply_command(
        &mut rt,
        CAM,
        "$set.configuration/name",
        &json!({"new_value": "kitchen"}),
    );
    assert_eq!(ok, Ok(true));
    let ok = apply_command(
        &mut rt,
        CAM,
        "$set.configuration/tags",
        &json!({"new_value": ["b", "a", "b"]}),
    );
    assert_eq!(ok, Ok(true));
    let fi = rt.item(CAM).expect("device");
    assert_eq!(fi.name, "kitchen");
    assert_eq!(
        fi.tags.iter().map(String::as_str).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let before = rt.clone();
    for (subject, payload) in [
        ("$set.configuration/name", json!({"new_value": 3})),
        ("$set.configuration/tags", json!({"new_value": "a"})),
        ("$set.configuration/tags", json!({"new_value": ["a", 1]})),
        ("$set.configuration/location", json!({"value": 1})),
        ("$set.configuration/location", json!("x")),
    ] {
        let err = apply_command(&mut rt, CAM, subject, &payload).expect_err("refused");
        assert_eq!(
            (err.status(), err.code()),
            (400, "gateway:payload.invalid"),
            "{subject} {payload}"
        );
    }
    assert_eq!(rt, before, "refused commands change nothing");
}

#[test]
fn refusals_are_typed_with_their_status() {
    let mut rt = sample();
    let before = rt.clone();
    let payload = json!({"new_value": 1});
    let cases = [
        (
            CAM_CONFIG,
            "$set.configuration/maxResolution",
            CommandError::ReadOnly("maxResolution".into()),
            403,
        ),
        (
            CAM_CONFIG,
            "$set.configuration/zoom",
            CommandError::UnknownProperty("zoom".into()),
            404,
        ),
        (
            CAM_CONFIG,
            "$set.configuration/a/b",
            CommandError::UnknownProperty("a/b".into()),
            404,
        ),
        (
            "gone",
            "$set.configuration/zoom",
            CommandError::UnknownItem("gone".into()),
            404,
        ),
        (
            CAM_CONFIG,
            "reboot",
            CommandError::UnknownOperation("reboot".into()),
            404,
        ),
        (
            CAM_CONFIG,
            "$set.status/recording",
            CommandError::UnknownOperation("$set.status/recording".into()),
            404,
        ),
    ];
    for (uid, subject, want, status) in cases {
        let err = apply_command(&mut rt, uid, subject, &payload).expect_err(subject);
        assert_eq!(err, want);
        assert_eq!(err.status(), status);
        let body = err.to_json();
        assert_eq!(body["status"], json!(status));
        assert_eq!(body["error"], json!(err.code()));
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(rt, before);
}
