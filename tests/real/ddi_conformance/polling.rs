//! Rows: the root's `sleep` from the tenant's `pollingTime` (global and
//! per-target overrides), and the chunk `metadata` a device sees
//! (`deployment::metadata_visible`, kept here with the other tenant-data rows).

use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::hawkbit_http::{
    assign_set, create_target, module_and_set, path_of, serve_with_gateway_token, Client,
};

fn sleep(root: &Value) -> &str {
    root["config"]["polling"]["sleep"].as_str().unwrap_or("")
}

async fn set_polling(c: &mut Client, value: &str) {
    let (st, body) = c
        .mgmt(
            Method::PUT,
            "/system/configs/pollingTime",
            Some(json!({ "value": value })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["value"], value);
}

/// `DdiRootControllerTest.pollWithModifiedGlobalPollingTime`: `00:02:00` set
/// for the tenant is what a (plug-and-play) device is told.
#[tokio::test]
async fn global() {
    let (_server, mut c) = serve_with_gateway_token().await;
    set_polling(&mut c, "00:02:00").await;
    assert_eq!(sleep(&c.root("4711").await), "00:02:00");
    // ISO-8601 is taken too (DurationHelper.fromString) and answered HH:mm:ss.
    set_polling(&mut c, "PT3M").await;
    assert_eq!(sleep(&c.root("4711").await), "00:03:00");
}

/// `DdiRootControllerTest.pollWithModifiedWithOverridesGlobalPollingTime`:
/// `"00:02:00, controllerid == 4711 -> 00:01:00, group == 'Europe' -> 00:05:05"`
/// → 4711 gets `00:01:00`, a target of group Europe `00:05:05`, others the default.
#[tokio::test]
async fn overrides() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let (st, t) = c
        .mgmt(
            Method::POST,
            "/targets",
            Some(json!([{ "controllerId": "not4711", "group": "Europe" }])),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    assert_eq!(t[0]["group"], "Europe");
    set_polling(
        &mut c,
        "00:02:00, controllerid == 4711 -> 00:01:00, group == 'Europe' -> 00:05:05",
    )
    .await;
    assert_eq!(sleep(&c.root("4711").await), "00:01:00");
    assert_eq!(sleep(&c.root("not4711").await), "00:05:05");
    assert_eq!(sleep(&c.root("other").await), "00:02:00");
    // An override without `->` is refused (PollingTime constructor).
    let (st, e) = c
        .mgmt(
            Method::PUT,
            "/system/configs/pollingTime",
            Some(json!({ "value": "00:02:00, group == 'Europe'" })),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
}

async fn first_chunk(c: &mut Client, cid: &str) -> Value {
    let root = c.root(cid).await;
    let href = root["_links"]["deploymentBase"]["href"]
        .as_str()
        .expect("deploymentBase")
        .to_string();
    let a = c.ddi(Method::GET, &path_of(&href), &[], None).await;
    assert_eq!(a.status, StatusCode::OK);
    a.json()["deployment"]["chunks"][0].clone()
}

/// DataConversionHelper `createChunks`/`mapMetadata` (L133–158) with
/// `MgmtSoftwareModuleResource.createMetadata` (201): a chunk lists only the
/// module's `targetVisible` metadata, and has no `metadata` when none is.
#[tokio::test]
async fn metadata_visible() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let (sm, ds) = module_and_set(&mut c, "1.0.0", b"metadata").await;
    let entries = json!([
        { "key": "shown", "value": "v1", "targetVisible": true },
        { "key": "hidden", "value": "v2", "targetVisible": false },
        { "key": "default-hidden", "value": "v3" },
    ]);
    let path = format!("/softwaremodules/{sm}/metadata");
    let (st, _) = c.mgmt(Method::POST, &path, Some(entries)).await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, list) = c.mgmt(Method::GET, &path, None).await;
    assert_eq!(
        (st, list["total"].as_u64()),
        (StatusCode::OK, Some(3)),
        "{list}"
    );
    let (st, one) = c.mgmt(Method::GET, &format!("{path}/hidden"), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        one,
        json!({ "key": "hidden", "value": "v2", "targetVisible": false })
    );
    let (st, _) = c.mgmt(Method::GET, &format!("{path}/nope"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    let assign = json!([{ "id": "dev-md", "type": "forced" }]);
    create_target(&mut c, "dev-md", false).await;
    assign_set(&mut c, ds, assign).await;
    let first = first_chunk(&mut c, "dev-md").await;
    assert_eq!(
        first["metadata"],
        json!([{ "key": "shown", "value": "v1" }]),
        "{first}"
    );

    // Hidden again (PUT → 204): no visible entry left, so no `metadata` at all.
    let (st, _) = c
        .mgmt(
            Method::PUT,
            &format!("{path}/shown"),
            Some(json!({ "value": "v1", "targetVisible": false })),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let second = first_chunk(&mut c, "dev-md").await;
    assert!(second.get("metadata").is_none(), "{second}");
}
