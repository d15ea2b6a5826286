//! Exosite OTAU over Murano's MQTT device API (otau.md §8), the
//! `otau-mqtt` profile: CONNECT with the device token and its CONNACK
//! codes, activation on `$provision/<identity>`, the manifest on
//! `$resource/config_otau/<µs>` without a SUBSCRIBE, pending values
//! re-sent on reconnect, the ACK and statuses as QoS 1 PUBLISHes with
//! their PUBACKs, a whole update with the content downloaded over HTTP,
//! and a PUBLISH the server must refuse. The application's side (tokens,
//! identities, manifests, content, recorded statuses) goes through
//! `fleetsim serve`'s OTAU admin routes; without them those cases SKIP.

use serde_json::{json, Value};

use super::super::{case_fn, ensure, Case, Ctx, Stop, Verdict};
use super::mqtt_wire::{connect, open, Connack, Wire, QUIET, WAIT};
use super::otau::{admin_get, admin_put, manifest, numbered_device};
use fleetsim_core::message::{percent_encode, Method};

/// Where the server publishes `config_otau` values (a µs timestamp follows).
const CONFIG_TOPIC: &str = "$resource/config_otau/";

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    vec![
        Case { id: "MQTT-CONN-001", core: false, run: case_fn!(token_accepted),
            clause: "otau.md §8 (CONNECT: client id \"\", user name \"\", password = device token)",
            title: "CONNECT with the device token as password is accepted (CONNACK 0)" },
        Case { id: "MQTT-CONN-002", core: false, run: case_fn!(unknown_token_refused),
            clause: "otau.md §8 (auth by token); MQTT 3.1.1 §3.2.2.3 (return codes 4/5, then close)",
            title: "CONNECT with an unknown token is refused with CONNACK 4 or 5" },
        Case { id: "MQTT-PROV-001", core: false, run: case_fn!(provision_token),
            clause: "otau.md §4.5, §8 (anonymous QoS 1 PUBLISH to $provision/<identity>; the 40-character token comes back as a message)",
            title: "An anonymous PUBLISH to $provision/<identity> is PUBACKed and answered with a 40-character token that CONNECT accepts" },
        Case { id: "MQTT-PROV-002", core: false, run: case_fn!(provision_twice),
            clause: "otau.md §4.5 (409 not enabled / already activated), §8",
            title: "Activating the same identity again is answered with a refusal, not a token" },
        Case { id: "MQTT-MAN-001", core: false, run: case_fn!(manifest_pushed),
            clause: "otau.md §8 (PUBLISH on $resource/config_otau/<µs timestamp>, payload = the raw value, no SUBSCRIBE needed)",
            title: "A manifest written while the device is connected arrives as a QoS 1 PUBLISH on $resource/config_otau/<µs> with the manifest as payload" },
        Case { id: "MQTT-MAN-002", core: false, run: case_fn!(pending_on_connect),
            clause: "otau.md §8 (pending values are re-sent on (re)connect, [MQTT-b]); §10.2 (un-ACKed values stay pending)",
            title: "A manifest written while the device is offline arrives on CONNECT, and again on the next CONNECT while it is not acknowledged" },
        Case { id: "MQTT-ACK-001", core: false, run: case_fn!(ack_stops_redelivery),
            clause: "otau.md §5, §8 (ACK = the same payload published to $resource/config_otau)",
            title: "The ACK (QoS 1) is PUBACKed and the acknowledged manifest is not sent again, neither on the connection nor on reconnect" },
        Case { id: "MQTT-PUB-001", core: false, run: case_fn!(status_recorded),
            clause: "otau.md §3, §8 (status = PUBLISH to $resource/otau_in, QoS 0/1)",
            title: "A status published to $resource/otau_in with QoS 1 is PUBACKed and recorded as written" },
        Case { id: "MQTT-SUB-001", core: false, run: case_fn!(subscribe_access),
            clause: "otau.md §8 (subscriptions hardcoded; a device may only subscribe to its own resources, [MQTT-c])",
            title: "SUBSCRIBE to $resource/config_otau is granted; to another device's topic it fails (0x80)" },
        Case { id: "MQTT-BAD-001", core: false, run: case_fn!(foreign_publish_closes),
            clause: "otau.md §8 (a device can only publish to its own resources, [MQTT-c]); MQTT 3.1.1 §3.3.5 (refusing a PUBLISH = closing)",
            title: "A PUBLISH outside the device's own resources closes the connection; the device can connect again" },
        Case { id: "MQTT-FLOW-001", core: false, run: case_fn!(whole_update),
            clause: "otau.md §3.2, §8, §9 (manifest → ACK → statuses; content over HTTP: /provision/download)",
            title: "A whole update: manifest received, ACKed, content downloaded over HTTP with the token, INIT … INSTALLED_VERSION recorded in order" },
    ]
}

/// A fresh device: (number, token).
async fn device(cx: &mut Ctx<'_>) -> Result<(u64, String), Stop> {
    numbered_device(cx).await
}

/// Writes this case's manifest for device `n` through the admin routes.
async fn write_manifest(cx: &mut Ctx<'_>, n: u64) -> Result<Value, Stop> {
    let m = manifest(cx);
    write_value(cx, n, &m).await?;
    Ok(m)
}

/// Writes `m` as device `n`'s `config_otau`.
async fn write_value(cx: &mut Ctx<'_>, n: u64, m: &Value) -> Verdict {
    let path = format!("/fleetsim/otau/devices/{n}/config_otau");
    admin_put(cx, &path, "application/json", m.to_string().into_bytes()).await
}

/// The next `config_otau` value on `wire`, checked: QoS 1, a µs timestamp
/// topic, a JSON payload; FAIL when none comes within [`WAIT`].
async fn expect_config(cx: &mut Ctx<'_>, wire: &mut Wire, what: &str) -> Result<Value, Stop> {
    let Some(p) = wire.publish_on(cx, CONFIG_TOPIC, WAIT).await else {
        return Err(Stop::Fail(format!(
            "{what}: no PUBLISH on {CONFIG_TOPIC}<timestamp> within {WAIT:?}"
        )));
    };
    let stamp = &p.topic[CONFIG_TOPIC.len()..];
    let micros = stamp
        .parse::<u64>()
        .ok()
        .filter(|t| *t > 1_000_000_000_000_000);
    ensure(micros.is_some(), || {
        format!("topic {}: `{stamp}` is not a µs Unix timestamp", p.topic)
    })?;
    ensure(p.qos as u8 == 1, || {
        format!("{what}: the PUBLISH has QoS {}, expected 1", p.qos as u8)
    })?;
    serde_json::from_slice(&p.payload).map_err(|e| {
        Stop::Fail(format!(
            "{what}: the payload is not the manifest JSON ({e}): {}",
            super::super::excerpt(&p.payload)
        ))
    })
}

/// FAIL if a `config_otau` value arrives on `wire` within [`QUIET`].
async fn expect_no_config(cx: &mut Ctx<'_>, wire: &mut Wire, what: &str) -> Verdict {
    match wire.publish_on(cx, CONFIG_TOPIC, QUIET).await {
        None => {
            cx.note(format!("no config_otau PUBLISH within {QUIET:?}"));
            Ok(())
        }
        Some(p) => Err(Stop::Fail(format!(
            "{what}: config_otau was sent again on {}",
            p.topic
        ))),
    }
}

/// The identity of device `n`, read through the admin routes.
async fn identity(cx: &mut Ctx<'_>, n: u64) -> Result<String, Stop> {
    let id = admin_get(cx, &format!("/fleetsim/otau/devices/{n}/identity")).await?;
    cx.note(format!("device {n}: identity {id} (admin)"));
    Ok(id)
}

/// Activates `identity` anonymously; the payload that came back.
async fn activate(cx: &mut Ctx<'_>, identity: &str) -> Result<String, Stop> {
    let mut wire = open(cx, None).await?;
    let topic = format!("$provision/{identity}");
    let mut inbox = Vec::new();
    wire.publish_acked(cx, &topic, b"", &mut inbox).await?;
    let reply = match inbox.pop() {
        Some(p) => Some(p),
        None => wire.publish_on(cx, "$provision/", WAIT).await,
    };
    wire.close().await;
    let p = reply.ok_or_else(|| Stop::Fail(format!("no answer on {topic} within {WAIT:?}")))?;
    Ok(String::from_utf8_lossy(&p.payload).trim().to_string())
}

async fn token_accepted(cx: &mut Ctx<'_>) -> Verdict {
    let (_, token) = device(cx).await?;
    open(cx, Some(&token)).await?.close().await;
    Ok(())
}

async fn unknown_token_refused(cx: &mut Ctx<'_>) -> Verdict {
    let token = "0".repeat(40);
    match connect(cx, Some(&token)).await? {
        Connack::Refused(4 | 5) => Ok(()),
        Connack::Refused(code) => Err(Stop::Fail(format!(
            "CONNACK {code}, expected 4 (bad user name or password) or 5 (not authorised)"
        ))),
        Connack::Accepted(w) => {
            w.close().await;
            Err(Stop::Fail(
                "an unknown token was accepted (CONNACK 0)".into(),
            ))
        }
    }
}

async fn provision_token(cx: &mut Ctx<'_>) -> Verdict {
    let n = cx.otau_device();
    let id = identity(cx, n).await?;
    let token = activate(cx, &id).await?;
    let is_token = token.len() == 40 && token.chars().all(|c| c.is_ascii_alphanumeric());
    ensure(is_token, || {
        format!("the answer `{token}` is not a 40-character token")
    })?;
    open(cx, Some(&token)).await?.close().await;
    Ok(())
}

async fn provision_twice(cx: &mut Ctx<'_>) -> Verdict {
    let n = cx.otau_device();
    let id = identity(cx, n).await?;
    let first = activate(cx, &id).await?;
    ensure(first.len() == 40, || {
        format!("the first activation answered `{first}`, not a token")
    })?;
    let second = activate(cx, &id).await?;
    ensure(second.len() != 40 && !second.is_empty(), || {
        format!("the second activation answered `{second}`, expected a refusal (409)")
    })
}

async fn manifest_pushed(cx: &mut Ctx<'_>) -> Verdict {
    let (n, token) = device(cx).await?;
    let mut wire = open(cx, Some(&token)).await?;
    expect_no_config(cx, &mut wire, "before any manifest was written").await?;
    let m = write_manifest(cx, n).await?;
    let got = expect_config(cx, &mut wire, "after the manifest was written").await?;
    wire.close().await;
    ensure(got == m, || {
        format!("config_otau is {got}, the manifest written was {m}")
    })
}

async fn pending_on_connect(cx: &mut Ctx<'_>) -> Verdict {
    let (n, token) = device(cx).await?;
    let m = write_manifest(cx, n).await?;
    for round in ["the first CONNECT", "the second CONNECT (not acknowledged)"] {
        let mut wire = open(cx, Some(&token)).await?;
        let got = expect_config(cx, &mut wire, round).await?;
        wire.close().await;
        ensure(got == m, || {
            format!("{round}: config_otau is {got}, expected {m}")
        })?;
    }
    Ok(())
}

async fn ack_stops_redelivery(cx: &mut Ctx<'_>) -> Verdict {
    let (n, token) = device(cx).await?;
    let m = write_manifest(cx, n).await?;
    let mut wire = open(cx, Some(&token)).await?;
    expect_config(cx, &mut wire, "on CONNECT").await?;
    let ack = m.to_string();
    let mut inbox = Vec::new();
    wire.publish_acked(cx, "$resource/config_otau", ack.as_bytes(), &mut inbox)
        .await?;
    if let Some(p) = inbox.iter().find(|p| p.topic.starts_with(CONFIG_TOPIC)) {
        return Err(Stop::Fail(format!(
            "config_otau was sent again on {} right after the ACK",
            p.topic
        )));
    }
    let quiet = expect_no_config(cx, &mut wire, "after the ACK").await;
    wire.close().await;
    quiet?;
    let mut again = open(cx, Some(&token)).await?;
    let quiet = expect_no_config(cx, &mut again, "after the ACK, on reconnect").await;
    again.close().await;
    quiet
}

/// The statuses recorded for device `n` (admin), as their JSON values.
async fn recorded(cx: &mut Ctx<'_>, n: u64) -> Result<Vec<Value>, Stop> {
    let path = format!("/fleetsim/otau/devices/{n}/otau_in");
    let body = admin_get(cx, &path).await?;
    let doc: Value = serde_json::from_str(&body)
        .map_err(|e| Stop::Fail(format!("GET {path}: not JSON ({e})")))?;
    let list = doc["statuses"].as_array().cloned().unwrap_or_default();
    let values = list
        .iter()
        .filter_map(|s| serde_json::from_str(s["value"].as_str()?).ok())
        .collect();
    Ok(values)
}

fn status(version: &str, status: &str) -> String {
    json!({ "version": version, "status": status, "message": "" }).to_string()
}

async fn status_recorded(cx: &mut Ctx<'_>) -> Verdict {
    let (n, token) = device(cx).await?;
    let mut wire = open(cx, Some(&token)).await?;
    let s = status("1.0.2", "INIT");
    wire.publish_acked(cx, "$resource/otau_in", s.as_bytes(), &mut Vec::new())
        .await?;
    wire.close().await;
    let got = recorded(cx, n).await?;
    let want: Value = serde_json::from_str(&s).unwrap_or_default();
    ensure(got.last() == Some(&want), || {
        format!("the recorded statuses are {got:?}, expected the last to be {want}")
    })
}

async fn subscribe_access(cx: &mut Ctx<'_>) -> Verdict {
    let (_, token) = device(cx).await?;
    let mut wire = open(cx, Some(&token)).await?;
    let own = wire.subscribe(cx, "$resource/config_otau").await?;
    let other = wire.subscribe(cx, "fleetsim/other-device/#").await?;
    wire.close().await;
    ensure(own <= 1, || {
        format!("SUBSCRIBE $resource/config_otau: return code {own:#x}, expected QoS 0 or 1")
    })?;
    ensure(other == 0x80, || {
        format!("SUBSCRIBE to another device's topic: return code {other:#x}, expected 0x80")
    })
}

async fn foreign_publish_closes(cx: &mut Ctx<'_>) -> Verdict {
    let (_, token) = device(cx).await?;
    let mut wire = open(cx, Some(&token)).await?;
    let topic = "fleetsim/other-device/$resource/otau_in";
    wire.publish(cx, topic, rumqttc::QoS::AtLeastOnce, b"{}")
        .await;
    let closed = wire.closes().await;
    cx.note(if closed {
        "the server closed the connection"
    } else {
        "the connection stayed open"
    });
    ensure(closed, || {
        format!("a PUBLISH to {topic} did not close the connection")
    })?;
    open(cx, Some(&token)).await?.close().await;
    Ok(())
}

/// Uploads a 1 KiB content item through the admin routes: (id, bytes).
async fn content(cx: &mut Ctx<'_>) -> Result<(String, Vec<u8>), Stop> {
    let id = format!("{}.bin", cx.device(0));
    let bytes: Vec<u8> = super::super::firmware(&id).into_iter().take(1024).collect();
    let path = format!("/fleetsim/otau/content/{}", percent_encode(&id));
    admin_put(cx, &path, "application/octet-stream", bytes.clone()).await?;
    Ok((id, bytes))
}

async fn whole_update(cx: &mut Ctx<'_>) -> Verdict {
    let (n, token) = device(cx).await?;
    let (id, bytes) = content(cx).await?;
    let version = format!("{}-1", cx.device(0));
    let m = json!({ "version": version, "name": "fleetsim conform", "description": "",
                    "type": "URL_LIST", "payload": [id] });
    write_value(cx, n, &m).await?;
    let mut wire = open(cx, Some(&token)).await?;
    let got = expect_config(cx, &mut wire, "on CONNECT").await?;
    ensure(got == m, || format!("config_otau is {got}, expected {m}"))?;
    let mut inbox = Vec::new();
    wire.publish_acked(
        cx,
        "$resource/config_otau",
        m.to_string().as_bytes(),
        &mut inbox,
    )
    .await?;
    let steps = ["INIT", "DOWNLOAD"];
    for s in steps {
        let body = status(&version, s);
        wire.publish_acked(cx, "$resource/otau_in", body.as_bytes(), &mut inbox)
            .await?;
    }
    let q = format!("/provision/download?id={}", percent_encode(&id));
    let a = cx
        .send(Method::Get, &q, &[("x-exosite-cik", &token)], None)
        .await?;
    a.expect(200, "the content download over HTTP")?;
    ensure(a.body[..] == bytes[..], || {
        format!("{} bytes that are not the content", a.body.len())
    })?;
    let rest = [
        "DOWNLOAD_STEP",
        "DOWNLOAD_SUCCESS",
        "INSTALL",
        "INSTALL_SUCCESS",
        "INSTALLED_VERSION",
    ];
    for s in rest {
        let body = status(&version, s);
        wire.publish_acked(cx, "$resource/otau_in", body.as_bytes(), &mut inbox)
            .await?;
    }
    wire.close().await;
    let got: Vec<String> = recorded(cx, n)
        .await?
        .iter()
        .filter_map(|v| v["status"].as_str().map(str::to_string))
        .collect();
    let want: Vec<&str> = steps.iter().chain(rest.iter()).copied().collect();
    ensure(got == want, || {
        format!("recorded statuses {got:?}, published {want:?}")
    })
}
