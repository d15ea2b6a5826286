//! The custom protocol gateway of constrained devices and its artifact CDN
//! (docs/guide/cpg.md), the `cpg` profile: a poll registers the device's
//! twin, an install command reaches it through the gateway (prepared
//! through `fleetsim serve`'s `/fleetsim/cpg/` admin route, else SKIP),
//! the offer's signed URL downloads, altered or expired URLs are refused,
//! `refresh_on_online` re-issues once per device, and a reported result
//! ends the offer.

use serde_json::{json, Value};

use super::super::{case_fn, ensure, Answer, Case, Ctx, Stop, Verdict};
use crate::management::AdapterError;
use fleetsim_core::artifact::hash_bytes;
use fleetsim_core::message::{percent_encode, Method};

/// Size of a case's artifact.
const SIZE: u64 = 4096;

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    vec![
        Case { id: "CPG-POLL-001", core: false, run: case_fn!(first_poll),
            clause: "cpg.md, The poll (a poll from an unseen device registers its twin, no pending install)",
            title: "A first poll is 200 JSON with a positive poll_interval and no update" },
        Case { id: "CPG-POLL-002", core: false, run: case_fn!(bad_query),
            clause: "cpg.md, The poll (400 malformed query, body {\"error\": \"bad_query\"})",
            title: "A poll without fw is 400 with error bad_query" },
        Case { id: "CPG-ONLINE-001", core: false, run: case_fn!(online_unknown),
            clause: "cpg.md, The online event (404 for a device that never polled)",
            title: "An online event of a device that never polled is 404" },
        Case { id: "CPG-UPD-001", core: false, run: case_fn!(offer),
            clause: "cpg.md, The poll (update: command, version, name, size, sha256, url; connect false)",
            title: "An install command is offered on the next poll with command, version, name, size, sha256 and a signed CDN url" },
        Case { id: "CPG-CDN-001", core: false, run: case_fn!(download),
            clause: "cpg.md, Download URLs (200 with ETag \"<sha256>\"; Range → 206 with Content-Range)",
            title: "The offered URL is 200 with the size and sha256 offered and ETag \"<sha256>\"; Range: bytes=10-19 is 206" },
        Case { id: "CPG-CDN-002", core: false, run: case_fn!(tampered),
            clause: "cpg.md, Download URLs (missing or wrong signature, or expires altered → 403)",
            title: "The URL with expires altered, or without sig, is 403" },
        Case { id: "CPG-CDN-003", core: false, run: case_fn!(expired),
            clause: "cpg.md, Download URLs (expired: now >= expires → 410 Gone)",
            title: "A URL valid 2 s downloads at once and is 410 once expired" },
        Case { id: "CPG-ONLINE-002", core: false, run: case_fn!(refresh_on_online),
            clause: "cpg.md, The poll (connect: true, no url) and The online event (re-fired once per device)",
            title: "Under refresh_on_online the poll says connect without url; the online event answers a url, a second one the same url" },
        Case { id: "CPG-RES-001", core: false, run: case_fn!(result_ends_offer),
            clause: "cpg.md, The poll (cmd, result: the outcome ends the pending install)",
            title: "A poll reporting cmd=<command>&result=ok with the new fw gets no update any more" },
    ]
}

/// A poll of `device` with `query`.
async fn poll(cx: &mut Ctx<'_>, device: &str, query: &str) -> Result<Answer, Stop> {
    let path = format!("/cpg/v1/devices/{}/poll?{query}", percent_encode(device));
    cx.send(Method::Get, &path, &[("accept", "application/json")], None)
        .await
}

/// A poll that must be 200 JSON; the document.
async fn poll_doc(cx: &mut Ctx<'_>, device: &str, query: &str) -> Result<Value, Stop> {
    let a = poll(cx, device, query).await?;
    a.expect(200, "the poll")?;
    a.json()
}

/// The online event of `device`.
async fn online(cx: &mut Ctx<'_>, device: &str) -> Result<Answer, Stop> {
    let path = format!("/cpg/v1/devices/{}/online", percent_encode(device));
    cx.send(Method::Post, &path, &[], None).await
}

/// Fires an install command of a fresh artifact at `device` through the
/// admin route (the update layer's side).
async fn install(cx: &mut Ctx<'_>, device: &str, extra: Value) -> Verdict {
    let mut body = json!({ "version": "2.0.0", "name": "fw-conform.bin", "size": SIZE });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let path = format!("/fleetsim/cpg/devices/{}/install", percent_encode(device));
    let admin = cx.otau_admin().map_err(|_| {
        Stop::Skip(
            "no update-layer admin (--manage fleetsim): the case needs an install command".into(),
        )
    })?;
    let r = admin
        .send(
            Method::Post,
            &path,
            Some("application/json".into()),
            body.to_string().into_bytes(),
        )
        .await
        .map_err(|e: AdapterError| Stop::Fail(format!("POST {path} (admin) failed: {e}")))?;
    ensure(r.status == 201, || {
        format!("POST {path} (admin): {}", r.status)
    })?;
    cx.note(format!("POST {path} (admin) {body} → 201"));
    Ok(())
}

/// A device with an install command offered: (device, the offer).
async fn offered(cx: &mut Ctx<'_>, extra: Value) -> Result<(String, Value), Stop> {
    let device = cx.device(1);
    poll_doc(cx, &device, "fw=1.0.0").await?;
    install(cx, &device, extra).await?;
    let doc = poll_doc(cx, &device, "fw=1.0.0").await?;
    let update = doc["update"].clone();
    ensure(update.is_object(), || {
        format!("no update offered after the install command: {doc}")
    })?;
    Ok((device, update))
}

/// The offer's url, or a FAIL.
fn url_of(update: &Value) -> Result<String, Stop> {
    update["url"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| Stop::Fail(format!("the offer has no url: {update}")))
}

/// `url` with query parameter `key` replaced by `value` (`None`: removed).
fn with_param(url: &str, key: &str, value: Option<&str>) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(key))
        .map(str::to_string)
        .collect();
    if let Some(v) = value {
        pairs.push(format!("{key}={v}"));
    }
    format!("{base}?{}", pairs.join("&"))
}

/// The value of query parameter `key` of `url`.
fn param(url: &str, key: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .find_map(|p| p.strip_prefix(&format!("{key}=")).map(str::to_string))
}

async fn first_poll(cx: &mut Ctx<'_>) -> Verdict {
    let device = cx.device(1);
    let doc = poll_doc(cx, &device, "fw=1.0.0").await?;
    let interval = doc["poll_interval"].as_u64().unwrap_or(0);
    ensure(interval > 0, || {
        format!("poll_interval is not a positive integer: {doc}")
    })?;
    ensure(doc["update"].is_null(), || {
        format!("a new device is offered an update: {doc}")
    })
}

async fn bad_query(cx: &mut Ctx<'_>) -> Verdict {
    let device = cx.device(1);
    let a = poll(cx, &device, "have=12").await?;
    a.expect(400, "a poll without fw")?;
    let doc = a.json()?;
    ensure(doc["error"] == "bad_query", || {
        format!("error is not bad_query: {doc}")
    })
}

async fn online_unknown(cx: &mut Ctx<'_>) -> Verdict {
    let device = cx.device(1);
    online(cx, &device)
        .await?
        .expect(404, "the online event of an unknown device")
}

async fn offer(cx: &mut Ctx<'_>) -> Verdict {
    let (_, u) = offered(cx, json!({})).await?;
    let sha = u["sha256"].as_str().unwrap_or("");
    let fields = u["command"].as_str().is_some_and(|c| !c.is_empty())
        && u["version"] == "2.0.0"
        && u["name"] == "fw-conform.bin"
        && u["size"] == SIZE
        && sha.len() == 64
        && sha.bytes().all(|b| b.is_ascii_hexdigit())
        && u["connect"] == false;
    ensure(fields, || {
        format!("the offer lacks a field or has a wrong one: {u}")
    })?;
    let url = url_of(&u)?;
    let signed = url.contains("/cdn/v1/a/")
        && param(&url, "expires").is_some_and(|e| e.parse::<u64>().is_ok())
        && param(&url, "sig").is_some_and(|s| !s.is_empty());
    ensure(signed, || {
        format!("`{url}` is not a signed CDN url (expires, sig)")
    })
}

async fn download(cx: &mut Ctx<'_>) -> Verdict {
    let (_, u) = offered(cx, json!({})).await?;
    let url = url_of(&u)?;
    let a = cx.get(&url).await?;
    a.expect(200, "the download")?;
    let sha = u["sha256"].as_str().unwrap_or("");
    ensure(a.body.len() as u64 == SIZE, || {
        format!("{} bytes, offered {SIZE}", a.body.len())
    })?;
    let got = hash_bytes(&a.body).sha256;
    ensure(got == sha, || {
        format!("the bytes' sha256 is {got}, offered {sha}")
    })?;
    let etag = a.header("etag").unwrap_or("");
    ensure(etag == format!("\"{sha}\""), || {
        format!("ETag `{etag}`, expected \"{sha}\"")
    })?;
    let r = cx
        .send(Method::Get, &url, &[("range", "bytes=10-19")], None)
        .await?;
    r.expect(206, "Range: bytes=10-19")?;
    let want = format!("bytes 10-19/{SIZE}");
    let cr = r.header("content-range").unwrap_or("");
    ensure(cr == want && r.body[..] == a.body[10..20], || {
        format!("Content-Range `{cr}` (expected `{want}`) or the bytes differ")
    })
}

async fn tampered(cx: &mut Ctx<'_>) -> Verdict {
    let (_, u) = offered(cx, json!({})).await?;
    let url = url_of(&u)?;
    let expires: u64 = param(&url, "expires")
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let later = (expires + 86_400).to_string();
    let extended = with_param(&url, "expires", Some(&later));
    cx.get(&extended)
        .await?
        .expect(403, "the URL with expires extended by a day")?;
    let unsigned = with_param(&url, "sig", None);
    cx.get(&unsigned).await?.expect(403, "the URL without sig")
}

async fn expired(cx: &mut Ctx<'_>) -> Verdict {
    let (_, u) = offered(cx, json!({ "validity_s": 2 })).await?;
    let url = url_of(&u)?;
    cx.get(&url).await?.expect(200, "the download at once")?;
    let expires: u64 = param(&url, "expires")
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Until a second past `expires` by this clock, at most 4 s.
    let wait = expires.saturating_sub(now).saturating_add(1).min(4);
    cx.note(format!(
        "waited {wait} s for the URL to expire (expires={expires})"
    ));
    tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 200)).await;
    cx.get(&url)
        .await?
        .expect(410, "the download after the URL expired")
}

async fn refresh_on_online(cx: &mut Ctx<'_>) -> Verdict {
    let (device, u) = offered(cx, json!({ "strategy": "refresh_on_online" })).await?;
    ensure(u["connect"] == true && u["url"].is_null(), || {
        format!("expected connect: true and no url before the online event: {u}")
    })?;
    let first = online(cx, &device).await?;
    first.expect(200, "the online event")?;
    let url = url_of(&first.json()?["update"])?;
    let second = online(cx, &device).await?;
    second.expect(200, "a second online event")?;
    let again = url_of(&second.json()?["update"])?;
    ensure(again == url, || {
        format!("the second online event re-fired the command: `{again}` after `{url}`")
    })
}

async fn result_ends_offer(cx: &mut Ctx<'_>) -> Verdict {
    let (device, u) = offered(cx, json!({})).await?;
    let command = u["command"].as_str().unwrap_or("").to_string();
    let q = format!("fw=2.0.0&cmd={}&result=ok", percent_encode(&command));
    let doc = poll_doc(cx, &device, &q).await?;
    ensure(doc["update"].is_null(), || {
        format!("after the reported result the update is still offered: {doc}")
    })
}

#[cfg(test)]
mod tests {
    use super::{param, with_param};

    #[test]
    fn query_parameters_are_replaced_and_removed() {
        let u = "http://h/cdn/v1/a/ab/f.bin?expires=10&sig=ff";
        assert_eq!(
            with_param(u, "expires", Some("11")),
            "http://h/cdn/v1/a/ab/f.bin?sig=ff&expires=11"
        );
        assert_eq!(
            with_param(u, "sig", None),
            "http://h/cdn/v1/a/ab/f.bin?expires=10"
        );
        assert_eq!(param(u, "sig").as_deref(), Some("ff"));
    }
}
