//! The root resource: media types, polling sleep, methods, ETag, ids,
//! configData.

use serde_json::json;

use super::super::{case_fn, ensure, Case, Ctx, Verdict};
use super::expect_status;
use fleetsim_core::message::Method;

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "DDI-ROOT-001",
            core: true,
            run: case_fn!(hal_by_default),
            clause: "ddi.md §0; DdiRootControllerTest.apiReturnsJSONByDefault",
            title: "A poll without Accept gets 200 application/hal+json with config.polling.sleep",
        },
        Case {
            id: "DDI-ROOT-002",
            core: true,
            run: case_fn!(sleep_format),
            clause: "ddi.md §4 (DurationHelper, minPollingTime 00:00:30)",
            title: "sleep is HH:mm:ss (or ISO-8601 from 24 h) and at least 00:00:30",
        },
        Case {
            id: "DDI-ROOT-003",
            core: false,
            run: case_fn!(long_id_400),
            clause: "ddi.md §0; DdiRootControllerTest.rootRsWithInvalidControllerId",
            title: "A controller id longer than 256 characters is refused with 400",
        },
        Case {
            id: "DDI-ROOT-004",
            core: false,
            run: case_fn!(methods_405),
            clause: "ddi.md §0; DdiRootControllerTest.rootRsPlugAndPlay",
            title: "POST, PUT and DELETE on the root are 405",
        },
        Case {
            id: "DDI-ROOT-005",
            core: false,
            run: case_fn!(not_modified),
            clause: "ddi.md §0 (ETag filter); DdiRootControllerTest.rootRsNotModified",
            title: "The root has an ETag; a matching If-None-Match is 304 without a body",
        },
        Case {
            id: "DDI-MEDIA-001",
            core: false,
            run: case_fn!(not_acceptable),
            clause: "ddi.md §0",
            title: "Accept: text/plain on the root and on the deploymentBase is 406; text/plain, application/json gets JSON",
        },
        Case {
            id: "DDI-MEDIA-002",
            core: false,
            run: case_fn!(cbor_root),
            clause: "ddi.md §0; DdiRootControllerTest.rootPollResourceCbor",
            title: "Accept: application/cbor on the root is 200 application/cbor with a CBOR map",
        },
        Case {
            id: "DDI-CONF-001",
            core: true,
            run: case_fn!(config_merge),
            clause: "ddi.md §1.2; DdiConfigDataTest.putConfigData",
            title: "A new device is asked for configData; PUT with mode merge is 200",
        },
        Case { id: "DDI-MEDIA-004", core: false, run: case_fn!(json_on_request),
            clause: "ddi.md §0 (GETs produce application/hal+json, application/json, application/cbor)",
            title: "Accept: application/json on the root is 200 application/json" },
        Case { id: "DDI-CONF-002", core: false, run: case_fn!(config_modes),
            clause: "ddi.md §1.2; DdiConfigDataTest.putConfigDataWithDifferentUpdateModes",
            title: "configData with mode replace, merge and remove is 200; an unknown mode is 400" },
        Case { id: "DDI-CONF-003", core: false, run: case_fn!(config_quota),
            clause: "ddi.md §1.2 (dos.maxAttributeEntriesPerTarget 100 → 429); DdiConfigDataTest.putTooMuchConfigData",
            title: "100 configData attributes fit; 101 are 429" },
    ]
}

async fn hal_by_default(cx: &mut Ctx<'_>) -> Verdict {
    let cid = cx.device(1);
    cx.register(std::slice::from_ref(&cid)).await?;
    let path = cx.base(&cid);
    let a = cx.send(Method::Get, &path, &[], None).await?;
    a.expect(200, "the root without Accept")?;
    let media = a.header("content-type").unwrap_or("");
    ensure(media.starts_with("application/hal+json"), || {
        format!("expected Content-Type application/hal+json, got `{media}`")
    })?;
    let doc = a.json()?;
    ensure(doc["config"]["polling"]["sleep"].is_string(), || {
        format!("no config.polling.sleep string: {doc}")
    })
}

/// Seconds of a hawkBit duration: `HH:mm:ss` or ISO-8601 `PT…H…M…S`.
fn duration_secs(s: &str) -> Option<u64> {
    if let Some(iso) = s.strip_prefix("PT") {
        let mut total = 0;
        let mut num = String::new();
        for c in iso.chars() {
            match c {
                '0'..='9' => num.push(c),
                'H' | 'M' | 'S' => {
                    let n: u64 = num.parse().ok()?;
                    total += n * match c {
                        'H' => 3600,
                        'M' => 60,
                        _ => 1,
                    };
                    num.clear();
                }
                _ => return None,
            }
        }
        return num.is_empty().then_some(total);
    }
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    let n: Vec<u64> = parts
        .iter()
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    (n[1] < 60 && n[2] < 60).then(|| n[0] * 3600 + n[1] * 60 + n[2])
}

async fn sleep_format(cx: &mut Ctx<'_>) -> Verdict {
    let cid = cx.device(1);
    cx.register(std::slice::from_ref(&cid)).await?;
    let doc = cx.root(&cid).await?;
    let sleep = doc["config"]["polling"]["sleep"].as_str().unwrap_or("");
    let secs = duration_secs(sleep).ok_or_else(|| {
        super::Stop::Fail(format!("sleep `{sleep}` is neither HH:mm:ss nor ISO-8601"))
    })?;
    ensure(secs >= 30, || {
        format!("sleep `{sleep}` is below hawkBit's minimum polling time 00:00:30")
    })
}

async fn long_id_400(cx: &mut Ctx<'_>) -> Verdict {
    let path = cx.base(&"x".repeat(257));
    let a = cx.send(Method::Get, &path, &[], None).await?;
    a.expect(400, "the root of a 257-character controller id")
}

async fn methods_405(cx: &mut Ctx<'_>) -> Verdict {
    let cid = cx.device(1);
    cx.register(std::slice::from_ref(&cid)).await?;
    let path = cx.base(&cid);
    for m in [Method::Post, Method::Put, Method::Delete] {
        let a = cx.send(m, &path, &[], None).await?;
        a.expect(405, &format!("{m} on the root"))?;
    }
    Ok(())
}

async fn not_modified(cx: &mut Ctx<'_>) -> Verdict {
    let cid = cx.device(1);
    cx.register(std::slice::from_ref(&cid)).await?;
    let path = cx.base(&cid);
    let first = cx.send(Method::Get, &path, &[], None).await?;
    first.expect(200, "the root")?;
    let tag = first
        .header("etag")
        .ok_or_else(|| super::Stop::Fail("the root has no ETag".into()))?
        .to_string();
    let again = cx
        .send(Method::Get, &path, &[("if-none-match", &tag)], None)
        .await?;
    again.expect(304, "the root with If-None-Match of its ETag")?;
    ensure(again.body.is_empty(), || "the 304 has a body".into())
}

async fn not_acceptable(cx: &mut Ctx<'_>) -> Verdict {
    let (cid, _, href, _) = super::deployment(cx, crate::management::OrderKind::Forced).await?;
    let root = cx.base(&cid);
    for (path, what) in [
        (root.as_str(), "the root"),
        (href.as_str(), "the deploymentBase"),
    ] {
        let a = cx
            .send(Method::Get, path, &[("accept", "text/plain")], None)
            .await?;
        a.expect(406, &format!("{what} with Accept: text/plain"))?;
    }
    // The first acceptable type of the list is answered.
    let accept = [("accept", "text/plain, application/json")];
    let a = cx.send(Method::Get, &href, &accept, None).await?;
    a.expect(
        200,
        "the deploymentBase with Accept: text/plain, application/json",
    )?;
    let media = a.header("content-type").unwrap_or("");
    ensure(media.starts_with("application/json"), || {
        format!("expected Content-Type application/json, got `{media}`")
    })
}

async fn json_on_request(cx: &mut Ctx<'_>) -> Verdict {
    let cid = cx.device(1);
    cx.register(std::slice::from_ref(&cid)).await?;
    let path = cx.base(&cid);
    let a = cx
        .send(Method::Get, &path, &[("accept", "application/json")], None)
        .await?;
    a.expect(200, "the root with Accept: application/json")?;
    let media = a.header("content-type").unwrap_or("");
    ensure(media.starts_with("application/json"), || {
        format!("expected Content-Type application/json, got `{media}`")
    })?;
    a.json().map(|_| ())
}

async fn cbor_root(cx: &mut Ctx<'_>) -> Verdict {
    let cid = cx.device(1);
    cx.register(std::slice::from_ref(&cid)).await?;
    let path = cx.base(&cid);
    let a = cx
        .send(Method::Get, &path, &[("accept", "application/cbor")], None)
        .await?;
    a.expect(200, "the root with Accept: application/cbor")?;
    let media = a.header("content-type").unwrap_or("");
    ensure(media.starts_with("application/cbor"), || {
        format!("expected Content-Type application/cbor, got `{media}`")
    })?;
    // Major type 5 (map): 0xa0..=0xbb, or 0xbf for an indefinite map.
    let first = a.body.first().copied().unwrap_or(0);
    ensure((0xa0..=0xbb).contains(&first) || first == 0xbf, || {
        format!("the body does not start with a CBOR map (first byte {first:#04x})")
    })
}

async fn config_merge(cx: &mut Ctx<'_>) -> Verdict {
    let cid = cx.device(1);
    cx.register(std::slice::from_ref(&cid)).await?;
    let doc = cx.root(&cid).await?;
    let href = doc["_links"]["configData"]["href"]
        .as_str()
        .ok_or_else(|| {
            super::Stop::Fail(format!("a new device's root links no configData: {doc}"))
        })?
        .to_string();
    let body =
        json!({ "mode": "merge", "data": { "hwRevision": "2", "VIN": "JH4TB2H26CC000000" } });
    let a = cx.send_json(Method::Put, &href, &body).await?;
    expect_status(a.status, 200, "PUT configData")
}

/// The configData path of a freshly registered `device(1)`.
async fn config_path(cx: &mut Ctx<'_>) -> Result<String, super::Stop> {
    let cid = cx.device(1);
    cx.register(std::slice::from_ref(&cid)).await?;
    Ok(format!("{}/configData", cx.base(&cid)))
}

async fn config_modes(cx: &mut Ctx<'_>) -> Verdict {
    let path = config_path(cx).await?;
    let steps = [
        (
            json!({ "mode": "replace", "data": { "k1": "v1", "k2": "v2" } }),
            200,
        ),
        (json!({ "mode": "merge", "data": { "k3": "v3" } }), 200),
        (json!({ "mode": "remove", "data": { "k1": "x" } }), 200),
        (
            json!({ "mode": "KJHGKJHGKJHG", "data": { "k0": "v0" } }),
            400,
        ),
    ];
    for (body, want) in steps {
        let a = cx.send_json(Method::Put, &path, &body).await?;
        a.expect(want, &format!("configData {body}"))?;
    }
    Ok(())
}

async fn config_quota(cx: &mut Ctx<'_>) -> Verdict {
    let path = config_path(cx).await?;
    let data = |n: usize| -> serde_json::Map<String, serde_json::Value> {
        (0..n)
            .map(|i| (format!("k{i}"), json!(format!("v{i}"))))
            .collect()
    };
    let a = cx
        .send_json(
            Method::Put,
            &path,
            &json!({ "mode": "replace", "data": data(100) }),
        )
        .await?;
    a.expect(200, "configData with 100 attributes")?;
    let a = cx
        .send_json(
            Method::Put,
            &path,
            &json!({ "mode": "replace", "data": data(101) }),
        )
        .await?;
    a.expect(429, "configData with 101 attributes")
}

#[cfg(test)]
mod tests {
    use super::duration_secs;

    #[test]
    fn durations_are_hh_mm_ss_or_iso() {
        assert_eq!(duration_secs("00:05:00"), Some(300));
        assert_eq!(duration_secs("23:59:59"), Some(86_399));
        assert_eq!(duration_secs("PT36H"), Some(129_600));
        assert_eq!(duration_secs("PT1H2M3S"), Some(3723));
        for bad in ["5:00", "00:61:00", "PT5", "300", "", "aa:bb:cc"] {
            assert_eq!(duration_secs(bad), None, "{bad}");
        }
    }
}
