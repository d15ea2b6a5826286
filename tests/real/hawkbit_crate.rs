//! The `hawkbit` crate (hawkbit-rs, the DDI client Rust devices use) pointed
//! at `fleetsim serve`: set up over the Management API as a user would, then
//! the crate's own poll → fetch → download → verify → feedback loop must
//! finish the action — with the confirmation flow off, and on (the crate's
//! `confirmation_base().confirm()`). Port 0, every wait bounded.

use hawkbit::ddi::{Client as DdiClient, ClientAuthorization, Execution, Finished};
use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::hawkbit_http::{bounded, module_and_set, serve_with_gateway_token, Client};

/// Creates target `cid`, a set with a ~64 KiB artifact and a forced
/// assignment; returns the artifact's bytes.
async fn assigned_target(c: &mut Client, cid: &str, extra: Value) -> Vec<u8> {
    let (st, body) = c
        .mgmt(
            Method::POST,
            "/targets",
            Some(json!([{ "controllerId": cid }])),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let data: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 31 % 251) as u8).collect();
    let (_, ds) = module_and_set(c, "2.0", &data).await;
    let mut assignment = json!({ "id": cid, "type": "forced" });
    if let (Some(a), Some(e)) = (assignment.as_object_mut(), extra.as_object()) {
        a.extend(e.clone());
    }
    let (st, out) = c
        .mgmt(
            Method::POST,
            &format!("/distributionsets/{ds}/assignedTargets"),
            Some(json!([assignment])),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{out}");
    data
}

#[tokio::test]
async fn the_hawkbit_crate_client_completes_an_update() {
    let (server, mut c) = serve_with_gateway_token().await;
    let data = assigned_target(&mut c, "rs-dev-1", json!({})).await;
    let url = format!("http://{}", server.local_addr);
    let auth = ClientAuthorization::GatewayToken("gw-key".into());
    let ddi =
        DdiClient::new(&url, "DEFAULT", "rs-dev-1", auth, None, None, None).expect("a DDI client");

    complete_update(&ddi, &data).await;
    let (_, target) = c.mgmt(Method::GET, "/targets/rs-dev-1", None).await;
    assert_eq!(target["updateStatus"], "in_sync", "{target}");
    let again = bounded("poll", ddi.poll()).await.expect("poll answered");
    assert!(again.update().is_none(), "nothing left to deploy");
}

/// The crate's own update loop: poll, fetch, download, verify, feedback.
async fn complete_update(ddi: &DdiClient, data: &[u8]) {
    let reply = bounded("poll", ddi.poll()).await.expect("poll answered");
    assert!(reply.polling_sleep().is_ok(), "sleep parses as H:M:S");
    let update = reply.update().expect("a deploymentBase link");
    let update = bounded("fetch", update.fetch())
        .await
        .expect("deploymentBase");
    bounded(
        "proceeding",
        update.send_feedback(Execution::Proceeding, Finished::None, vec!["downloading"]),
    )
    .await
    .expect("proceeding feedback accepted");
    let dir = std::env::temp_dir().join(format!("fleetsim-hawkbit-rs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a download directory");
    let artifacts = bounded("download", update.download(&dir))
        .await
        .expect("artifacts downloaded");
    assert_eq!(artifacts.len(), 1);
    for artifact in &artifacts {
        bounded("sha256", artifact.check_sha256())
            .await
            .expect("sha256 matches");
        let got = std::fs::read(artifact.file()).expect("downloaded file");
        assert_eq!(got, data);
    }
    let _ = std::fs::remove_dir_all(&dir);
    bounded(
        "closed",
        update.send_feedback(Execution::Closed, Finished::Success, vec!["installed"]),
    )
    .await
    .expect("closed feedback accepted");
}

#[tokio::test]
async fn the_hawkbit_crate_client_confirms_then_updates() {
    let (server, mut c) = serve_with_gateway_token().await;
    let flow = json!({ "user.confirmation.flow.enabled": true });
    let (st, body) = c.mgmt(Method::PUT, "/system/configs", Some(flow)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let data = assigned_target(&mut c, "rs-dev-2", json!({ "confirmationRequired": true })).await;
    let url = format!("http://{}", server.local_addr);
    let auth = ClientAuthorization::GatewayToken("gw-key".into());
    let ddi =
        DdiClient::new(&url, "DEFAULT", "rs-dev-2", auth, None, None, None).expect("a DDI client");

    let reply = bounded("poll", ddi.poll()).await.expect("poll answered");
    assert!(reply.update().is_none(), "no deploymentBase before consent");
    let ask = reply.confirmation_base().expect("a confirmationBase link");
    bounded("confirm", ask.confirm())
        .await
        .expect("confirmation accepted");
    complete_update(&ddi, &data).await;
    let (_, target) = c.mgmt(Method::GET, "/targets/rs-dev-2", None).await;
    assert_eq!(target["updateStatus"], "in_sync", "{target}");
}
