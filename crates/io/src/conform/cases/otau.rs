//! Exosite OTAU over Murano's HTTP device API (otau.md §4): authentication,
//! long polls of `config_otau`, the acknowledgement, status writes and
//! content downloads. The application's side (device tokens, manifests,
//! content) goes through `fleetsim serve`'s OTAU admin routes
//! (`/fleetsim/otau/…`); without them those cases SKIP.

use serde_json::{json, Value};

use super::super::{case_fn, ensure, Answer, Case, Ctx, Stop, Verdict};
use fleetsim_core::message::{percent_decode, percent_encode, Method};

/// The alias resource path of a read of `config_otau`.
const CONFIG_OTAU: &str = "/onep:v1/stack/alias?config_otau";

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    vec![
        Case { id: "OTAU-AUTH-001", core: false, run: case_fn!(no_cik_401),
            clause: "otau.md §4 (missing/invalid CIK → 401)",
            title: "A read of config_otau without X-Exosite-CIK is 401" },
        Case { id: "OTAU-AUTH-002", core: false, run: case_fn!(wrong_cik_401),
            clause: "otau.md §4 (missing/invalid CIK → 401)",
            title: "A read of config_otau with an unknown CIK is 401" },
        Case { id: "OTAU-TS-001", core: false, run: case_fn!(timestamp),
            clause: "otau.md §4.5, §6 (GET /timestamp → unix seconds)",
            title: "GET /timestamp is 200 with unix seconds" },
        Case { id: "OTAU-POLL-001", core: false, run: case_fn!(plain_read_204),
            clause: "otau.md §4.1 (non-long-poll read of an empty resource → 204)",
            title: "A plain read of config_otau with nothing written is 204" },
        Case { id: "OTAU-POLL-002", core: false, run: case_fn!(long_poll_304),
            clause: "otau.md §4.1, §7 (nothing written before Request-Timeout → 304)",
            title: "A long poll (Request-Timeout: 1000) with nothing written is 304 without a body" },
        Case { id: "OTAU-MAN-001", core: false, run: case_fn!(manifest_delivered),
            clause: "otau.md §2, §4.1 (200 config_otau=<form-encoded value>, Last-Modified HTTP-date)",
            title: "A written manifest answers the long poll with 200 config_otau=<manifest> and an HTTP-date Last-Modified" },
        Case { id: "OTAU-ACK-001", core: false, run: case_fn!(ack_stops_delivery),
            clause: "otau.md §4.2, §4.3, §5 (the ACK write is 204; an acknowledged value is not delivered again)",
            title: "Writing the manifest back is 204, and the next long poll is 304" },
        Case { id: "OTAU-WRITE-001", core: false, run: case_fn!(status_write_204),
            clause: "otau.md §3, §4.3 (POST /onep:v1/stack/alias → 204)",
            title: "Writing an otau_in status is 204 with no body" },
        Case { id: "OTAU-DL-001", core: false, run: case_fn!(content_and_range),
            clause: "otau.md §4.4 (download 200, Range → 206 with Content-Range)",
            title: "GET /provision/download?id= is 200 with the content; Range: bytes=10-19 is 206 with those bytes" },
        Case { id: "OTAU-DL-002", core: false, run: case_fn!(content_info),
            clause: "otau.md §4.4 (info=true → text/csv type,size,updated,meta)",
            title: "info=true is 200 text/csv with at least 4 fields: content type and size first" },
        Case { id: "OTAU-DL-003", core: false, run: case_fn!(unknown_content_404),
            clause: "otau.md §4.4 (unknown id → 404, recommended)",
            title: "An unknown content id is 404" },
        Case { id: "OTAU-DL-004", core: false, run: case_fn!(unsatisfiable_416),
            clause: "otau.md §4.4 (RFC 7233: 416 with Content-Range: bytes */len)",
            title: "A range past the end is 416 with Content-Range: bytes */size" },
    ]
}

/// A fresh device and its CIK, read through the admin routes.
async fn device(cx: &mut Ctx<'_>) -> Result<String, Stop> {
    Ok(numbered_device(cx).await?.1)
}

/// A fresh device: its number and CIK.
pub(super) async fn numbered_device(cx: &mut Ctx<'_>) -> Result<(u64, String), Stop> {
    let n = cx.otau_device();
    let cik = admin_get(cx, &format!("/fleetsim/otau/devices/{n}/cik")).await?;
    cx.note(format!(
        "device {n}: its CIK read through the OTAU admin routes"
    ));
    Ok((n, cik))
}

/// A GET of an admin route that must be 200 with a body; the body, trimmed.
pub(super) async fn admin_get(cx: &Ctx<'_>, path: &str) -> Result<String, Stop> {
    let admin = cx.otau_admin()?;
    let r = admin
        .send(Method::Get, path, None, Vec::new())
        .await
        .map_err(admin_failed)?;
    let body = String::from_utf8_lossy(r.body.as_bytes())
        .trim()
        .to_string();
    if r.status != 200 || body.is_empty() {
        return Err(Stop::Fail(format!("GET {path}: {} {body}", r.status)));
    }
    Ok(body)
}

fn admin_failed(e: crate::management::AdapterError) -> Stop {
    Stop::Fail(format!("OTAU admin route failed: {e}"))
}

/// A PUT to an admin route, expecting 204.
pub(super) async fn admin_put(cx: &mut Ctx<'_>, path: &str, ctype: &str, body: Vec<u8>) -> Verdict {
    let admin = cx.otau_admin()?;
    let r = admin
        .send(Method::Put, path, Some(ctype.to_string()), body)
        .await
        .map_err(admin_failed)?;
    ensure(r.status == 204, || format!("PUT {path}: {}", r.status))?;
    cx.note(format!("PUT {path} (admin) → 204"));
    Ok(())
}

/// A read of `config_otau` as device `cik`, with `extra` headers.
async fn read(cx: &mut Ctx<'_>, cik: &str, extra: &[(&'static str, &str)]) -> Result<Answer, Stop> {
    let mut headers = vec![
        ("x-exosite-cik", cik),
        ("accept", "application/x-www-form-urlencoded; charset=utf-8"),
    ];
    headers.extend_from_slice(extra);
    cx.send(Method::Get, CONFIG_OTAU, &headers, None).await
}

/// A long poll of `config_otau`: `Request-Timeout` ms, `If-Modified-Since`.
async fn long_poll(
    cx: &mut Ctx<'_>,
    cik: &str,
    timeout_ms: u32,
    since: &str,
) -> Result<Answer, Stop> {
    let t = timeout_ms.to_string();
    read(
        cx,
        cik,
        &[("request-timeout", &t), ("if-modified-since", since)],
    )
    .await
}

/// The form value of `key` in `body` (`+` is a space).
fn form_value(body: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| percent_decode(&v.replace('+', " ")))?
    })
}

/// A manifest for this case.
pub(super) fn manifest(cx: &Ctx<'_>) -> Value {
    json!({ "version": format!("{}-1", cx.device(0)), "name": "fleetsim conform",
            "description": "", "type": "URL_LIST", "payload": ["conform.bin"] })
}

/// A device with a manifest written: (CIK, manifest).
async fn with_manifest(cx: &mut Ctx<'_>) -> Result<(String, Value), Stop> {
    let (n, cik) = numbered_device(cx).await?;
    let m = manifest(cx);
    let path = format!("/fleetsim/otau/devices/{n}/config_otau");
    admin_put(cx, &path, "application/json", m.to_string().into_bytes()).await?;
    Ok((cik, m))
}

async fn no_cik_401(cx: &mut Ctx<'_>) -> Verdict {
    let a = cx.get(CONFIG_OTAU).await?;
    a.expect(401, "a read without a CIK")
}

async fn wrong_cik_401(cx: &mut Ctx<'_>) -> Verdict {
    let a = read(cx, "0000000000000000000000000000000000000000", &[]).await?;
    a.expect(401, "a read with an unknown CIK")
}

async fn timestamp(cx: &mut Ctx<'_>) -> Verdict {
    let cik = device(cx).await?;
    let a = cx
        .send(Method::Get, "/timestamp", &[("x-exosite-cik", &cik)], None)
        .await?;
    a.expect(200, "GET /timestamp")?;
    let text = String::from_utf8_lossy(&a.body);
    let secs: Option<u64> = text.trim().parse().ok();
    ensure(secs.is_some_and(|s| s > 1_500_000_000), || {
        format!("`{text}` is not unix seconds")
    })
}

async fn plain_read_204(cx: &mut Ctx<'_>) -> Verdict {
    let cik = device(cx).await?;
    let a = read(cx, &cik, &[]).await?;
    a.expect(204, "a plain read with nothing written")
}

async fn long_poll_304(cx: &mut Ctx<'_>) -> Verdict {
    let cik = device(cx).await?;
    let a = long_poll(cx, &cik, 1000, "0").await?;
    a.expect(304, "a long poll with nothing written")?;
    ensure(a.body.is_empty(), || "the 304 has a body".into())
}

async fn manifest_delivered(cx: &mut Ctx<'_>) -> Verdict {
    let (cik, m) = with_manifest(cx).await?;
    let a = long_poll(cx, &cik, 5000, "0").await?;
    a.expect(200, "the long poll after the manifest was written")?;
    let value = form_value(&a.body, "config_otau")
        .ok_or_else(|| Stop::Fail("the body has no form field config_otau".into()))?;
    let got: Value = serde_json::from_str(&value)
        .map_err(|e| Stop::Fail(format!("config_otau is not JSON ({e}): {value}")))?;
    ensure(got == m, || {
        format!("config_otau is {got}, the manifest written was {m}")
    })?;
    let lm = a.header("last-modified").unwrap_or("");
    let http_date = lm.ends_with(" GMT") && lm.split(' ').count() == 6;
    ensure(http_date, || {
        format!("Last-Modified `{lm}` is not an HTTP-date")
    })
}

async fn ack_stops_delivery(cx: &mut Ctx<'_>) -> Verdict {
    let (cik, _) = with_manifest(cx).await?;
    let a = long_poll(cx, &cik, 5000, "0").await?;
    a.expect(200, "the long poll after the manifest was written")?;
    let form = [
        ("x-exosite-cik", cik.as_str()),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
    ];
    let ack = cx
        .send(
            Method::Post,
            "/onep:v1/stack/alias",
            &form,
            Some(a.body.to_vec()),
        )
        .await?;
    ack.expect(204, "writing config_otau back (the ACK)")?;
    let again = long_poll(cx, &cik, 1000, "0").await?;
    again.expect(304, "the long poll after the ACK")
}

async fn status_write_204(cx: &mut Ctx<'_>) -> Verdict {
    let cik = device(cx).await?;
    let status = json!({ "version": "1.0.2", "status": "INIT", "message": "" }).to_string();
    let body = format!("otau_in={}", percent_encode(&status)).into_bytes();
    let form = [
        ("x-exosite-cik", cik.as_str()),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
    ];
    let a = cx
        .send(Method::Post, "/onep:v1/stack/alias", &form, Some(body))
        .await?;
    a.expect(204, "writing otau_in")?;
    ensure(a.body.is_empty(), || "the 204 has a body".into())
}

/// A device and a content item of 1 KiB: (CIK, id, bytes).
async fn with_content(cx: &mut Ctx<'_>) -> Result<(String, String, Vec<u8>), Stop> {
    let cik = device(cx).await?;
    let id = format!("{}.bin", cx.device(0));
    let bytes: Vec<u8> = super::super::firmware(&id).into_iter().take(1024).collect();
    let path = format!("/fleetsim/otau/content/{}", percent_encode(&id));
    admin_put(cx, &path, "application/octet-stream", bytes.clone()).await?;
    Ok((cik, id, bytes))
}

async fn download(
    cx: &mut Ctx<'_>,
    cik: &str,
    query: &str,
    range: Option<&str>,
) -> Result<Answer, Stop> {
    let mut headers = vec![("x-exosite-cik", cik)];
    if let Some(r) = range {
        headers.push(("range", r));
    }
    cx.send(
        Method::Get,
        &format!("/provision/download?{query}"),
        &headers,
        None,
    )
    .await
}

async fn content_and_range(cx: &mut Ctx<'_>) -> Verdict {
    let (cik, id, bytes) = with_content(cx).await?;
    let q = format!("id={}", percent_encode(&id));
    let a = download(cx, &cik, &q, None).await?;
    a.expect(200, "the download")?;
    ensure(a.body[..] == bytes[..], || {
        format!("{} bytes that are not the content", a.body.len())
    })?;
    let r = download(cx, &cik, &q, Some("bytes=10-19")).await?;
    r.expect(206, "Range: bytes=10-19")?;
    let want = format!("bytes 10-19/{}", bytes.len());
    let got = r.header("content-range").unwrap_or("");
    ensure(got == want, || {
        format!("Content-Range `{got}`, expected `{want}`")
    })?;
    ensure(r.body[..] == bytes[10..20], || {
        "the 206 body is not bytes 10-19".into()
    })
}

async fn content_info(cx: &mut Ctx<'_>) -> Verdict {
    let (cik, id, bytes) = with_content(cx).await?;
    let q = format!("id={}&info=true", percent_encode(&id));
    let a = download(cx, &cik, &q, None).await?;
    a.expect(200, "the content's info")?;
    let ct = a.header("content-type").unwrap_or("");
    ensure(ct.starts_with("text/csv"), || {
        format!("Content-Type `{ct}` is not text/csv")
    })?;
    let text = String::from_utf8_lossy(&a.body).to_string();
    let fields: Vec<&str> = text.trim_end().split(',').collect();
    ensure(fields.len() >= 4, || {
        format!("`{text}` has fewer than 4 fields")
    })?;
    ensure(
        fields[0] == "application/octet-stream" && fields[1] == bytes.len().to_string(),
        || {
            format!(
                "`{text}`: expected type application/octet-stream and size {}",
                bytes.len()
            )
        },
    )
}

async fn unknown_content_404(cx: &mut Ctx<'_>) -> Verdict {
    let cik = device(cx).await?;
    let a = download(cx, &cik, "id=fleetsim-conform-no-such-content", None).await?;
    a.expect(404, "an unknown content id")
}

async fn unsatisfiable_416(cx: &mut Ctx<'_>) -> Verdict {
    let (cik, id, bytes) = with_content(cx).await?;
    let q = format!("id={}", percent_encode(&id));
    let range = format!("bytes={}-", bytes.len());
    let a = download(cx, &cik, &q, Some(&range)).await?;
    a.expect(416, "a range starting at the content's end")?;
    let want = format!("bytes */{}", bytes.len());
    let got = a.header("content-range").unwrap_or("");
    ensure(got == want, || {
        format!("Content-Range `{got}`, expected `{want}`")
    })
}

#[cfg(test)]
mod tests {
    use super::form_value;

    #[test]
    fn form_values_decode_plus_and_percent() {
        let body = b"a=1&config_otau=%7B%22v%22%3A+%221+2%22%7D";
        assert_eq!(
            form_value(body, "config_otau").as_deref(),
            Some("{\"v\": \"1 2\"}")
        );
        assert_eq!(form_value(body, "b"), None);
    }
}
