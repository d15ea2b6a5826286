//! `fleetsim serve` driven by the hawkBit Management API over real HTTP, with
//! no scenario: tenant config, targets, a software module with a ~100 KiB
//! multipart upload, a distribution set, a forced assignment, then a device
//! over DDI (GatewayToken, hashes, Range resume, feedback) and the action's
//! status history; a two-group rollout; a cancel the device sees. Port 0,
//! every wait bounded.

use fleetsim::artifact::hash_bytes;
use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::hawkbit_http::{bounded, closed, module_and_set, path_of, serve, Client};

#[tokio::test]
async fn management_api_drives_a_device_update_end_to_end() {
    let server = serve().await;
    let mut c = Client::connect(server.local_addr).await;
    let denied = c
        .send(
            Method::GET,
            "/rest/v1/targets",
            &[("authorization", "Basic YWRtaW46YWRtaW4=")],
            "",
        )
        .await;
    assert_eq!(denied.status, StatusCode::UNAUTHORIZED);

    let config = json!({ "pollingTime": "00:00:40", "authentication.gatewaytoken.enabled": true,
                         "authentication.gatewaytoken.key": "gw-key" });
    assert_eq!(
        c.mgmt(Method::PUT, "/system/configs", Some(config)).await.0,
        StatusCode::OK
    );
    let targets = json!([{ "controllerId": "dev-1" }, { "controllerId": "dev-2" }, { "controllerId": "dev-3" }]);
    let (st, created) = c.mgmt(Method::POST, "/targets", Some(targets)).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(created.as_array().map(Vec::len), Some(3));

    let data: Vec<u8> = (0..100 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let (sm, ds) = module_and_set(&mut c, "1.0", &data).await;
    let assign: Vec<Value> = (1..=3)
        .map(|i| json!({ "id": format!("dev-{i}"), "type": "forced" }))
        .collect();
    let (st, out) = c
        .mgmt(
            Method::POST,
            &format!("/distributionsets/{ds}/assignedTargets"),
            Some(json!(assign)),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{out}");
    assert_eq!(
        (out["assigned"].clone(), out["total"].clone()),
        (json!(3), json!(3))
    );

    // The device: poll, deploymentBase, Range-resumed download, feedback.
    let anonymous = c
        .send(Method::GET, "/DEFAULT/controller/v1/dev-1", &[], "")
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let root = c.root("dev-1").await;
    assert_eq!(root["config"]["polling"]["sleep"], "00:00:40");
    let base_href = root["_links"]["deploymentBase"]["href"]
        .as_str()
        .expect("deployment link");
    let base = c
        .ddi(Method::GET, &path_of(base_href), &[], None)
        .await
        .json();
    let aid = base["id"].as_str().expect("action id").to_string();
    let art = &base["deployment"]["chunks"][0]["artifacts"][0];
    let hashes = hash_bytes(&data);
    assert_eq!(art["hashes"]["sha1"], hashes.sha1.as_str());
    assert_eq!(art["hashes"]["md5"], hashes.md5.as_str());
    assert_eq!(art["hashes"]["sha256"], hashes.sha256.as_str());
    assert_eq!(art["size"], data.len());
    let file = path_of(
        art["_links"]["download-http"]["href"]
            .as_str()
            .expect("download link"),
    );
    assert!(
        file.ends_with(&format!("/softwaremodules/{sm}/artifacts/fw.bin")),
        "{file}"
    );
    let first = c
        .ddi(Method::GET, &file, &[("range", "bytes=0-40959")], None)
        .await;
    assert_eq!(first.status, StatusCode::PARTIAL_CONTENT);
    let rest = c
        .ddi(Method::GET, &file, &[("range", "bytes=40960-")], None)
        .await;
    assert_eq!(rest.status, StatusCode::PARTIAL_CONTENT);
    let mut got = first.body.to_vec();
    got.extend_from_slice(&rest.body);
    assert_eq!(got, data);
    assert_eq!(hash_bytes(&got).sha256, hashes.sha256);
    let feedback = format!("/DEFAULT/controller/v1/dev-1/deploymentBase/{aid}/feedback");
    assert_eq!(
        c.ddi(Method::POST, &feedback, &[], Some(closed("success")))
            .await
            .status,
        StatusCode::OK
    );

    let (st, history) = c
        .mgmt(
            Method::GET,
            &format!("/targets/dev-1/actions/{aid}/status?sort=id:ASC"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let types: Vec<&str> = history["content"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(types.first(), Some(&"running"), "{types:?}");
    assert_eq!(types.last(), Some(&"finished"), "{types:?}");
    assert!(types.contains(&"retrieved"), "{types:?}");
    let (_, action) = c
        .mgmt(Method::GET, &format!("/targets/dev-1/actions/{aid}"), None)
        .await;
    assert_eq!(
        (action["active"].clone(), action["status"].clone()),
        (json!(false), json!("finished"))
    );
    let (_, target) = c.mgmt(Method::GET, "/targets/dev-1", None).await;
    assert_eq!(target["updateStatus"], "in_sync");
    let (st, installed) = c
        .mgmt(Method::GET, "/targets/dev-1/installedDS", None)
        .await;
    assert_eq!((st, installed["id"].clone()), (StatusCode::OK, json!(ds)));

    // Cancel through the Management API; the device sees cancelAction.
    let (_, actions) = c.mgmt(Method::GET, "/targets/dev-2/actions", None).await;
    let aid2 = actions["content"][0]["id"].as_u64().expect("action");
    assert_eq!(
        c.mgmt(
            Method::DELETE,
            &format!("/targets/dev-2/actions/{aid2}"),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let root = c.root("dev-2").await;
    let cancel = root["_links"]["cancelAction"]["href"]
        .as_str()
        .expect("cancelAction link");
    let doc = c.ddi(Method::GET, &path_of(cancel), &[], None).await.json();
    assert_eq!(doc["cancelAction"]["stopId"], aid2.to_string());
    let fb = format!("{}/feedback", path_of(cancel));
    assert_eq!(
        c.ddi(Method::POST, &fb, &[], Some(closed("success")))
            .await
            .status,
        StatusCode::OK
    );
    let (_, action) = c
        .mgmt(Method::GET, &format!("/targets/dev-2/actions/{aid2}"), None)
        .await;
    assert_eq!(action["status"], "canceled");
    bounded("shutdown", server.shutdown()).await;
}

#[tokio::test]
async fn rollout_second_group_waits_for_the_first_groups_threshold() {
    let server = serve().await;
    let mut c = Client::connect(server.local_addr).await;
    let config = json!({ "authentication.gatewaytoken.enabled": true, "authentication.gatewaytoken.key": "gw-key" });
    assert_eq!(
        c.mgmt(Method::PUT, "/system/configs", Some(config)).await.0,
        StatusCode::OK
    );
    let targets: Vec<Value> = (1..=4)
        .map(|i| json!({ "controllerId": format!("ro-{i}") }))
        .collect();
    assert_eq!(
        c.mgmt(Method::POST, "/targets", Some(json!(targets)))
            .await
            .0,
        StatusCode::CREATED
    );
    let (_, ds) = module_and_set(&mut c, "2.0", b"small firmware").await;
    let rollout = json!({ "name": "wave", "distributionSetId": ds, "targetFilterQuery": "controllerId==ro-*",
        "amountGroups": 2, "type": "forced",
        "successCondition": { "condition": "THRESHOLD", "expression": "50" },
        "errorCondition": { "condition": "THRESHOLD", "expression": "50" } });
    let (st, r) = c.mgmt(Method::POST, "/rollouts", Some(rollout)).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let id = r["id"].as_u64().expect("rollout id");
    assert_eq!(
        c.mgmt(Method::POST, &format!("/rollouts/{id}/start"), None)
            .await
            .0,
        StatusCode::OK
    );
    let (_, groups) = c
        .mgmt(Method::GET, &format!("/rollouts/{id}/deploygroups"), None)
        .await;
    assert_eq!(groups["content"][0]["status"], "running");
    assert_eq!(groups["content"][1]["status"], "scheduled");
    // Group 2 (ro-3, ro-4) gets nothing until half of group 1 has finished.
    assert!(c.root("ro-3").await["_links"]["deploymentBase"].is_null());
    let root = c.root("ro-1").await;
    let href = path_of(
        root["_links"]["deploymentBase"]["href"]
            .as_str()
            .expect("ro-1 deployment"),
    );
    let aid = href
        .rsplit('/')
        .next()
        .and_then(|s| s.split('?').next())
        .expect("id")
        .to_string();
    let fb = format!("/DEFAULT/controller/v1/ro-1/deploymentBase/{aid}/feedback");
    assert_eq!(
        c.ddi(Method::POST, &fb, &[], Some(closed("success")))
            .await
            .status,
        StatusCode::OK
    );
    let (_, groups) = c
        .mgmt(Method::GET, &format!("/rollouts/{id}/deploygroups"), None)
        .await;
    assert_eq!(groups["content"][1]["status"], "running", "{groups}");
    assert!(c.root("ro-3").await["_links"]["deploymentBase"]["href"].is_string());
    let (_, r) = c.mgmt(Method::GET, &format!("/rollouts/{id}"), None).await;
    assert_eq!(r["status"], "running");
    assert_eq!(r["totalTargetsPerStatus"]["finished"], 1);
    assert_eq!(r["totalTargetsPerStatus"]["running"], 3);
    bounded("shutdown", server.shutdown()).await;
}
