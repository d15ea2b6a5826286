//! Twin updates of the gateway's digital twins over Ditto's HTTP API v2
//! (ditto.md §2–§4), in the `cpg` profile: the twin layer the sidekick
//! lives in. A thing created by PUT, a feature property written and read
//! back with its ETag, the preconditions, and the refusals (a body naming
//! another thing, a body that is not JSON). The API takes the Management
//! API's Basic login (as Ditto's nginx does on `/api`), so these cases need
//! `--manage fleetsim` (its login); without it they SKIP.

use serde_json::{json, Value};

use super::super::{case_fn, ensure, Answer, Case, Ctx, Stop, Verdict};
use crate::management::client::base64_lite;
use fleetsim_core::message::{percent_encode, Method};

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    vec![
        Case { id: "TWIN-THING-001", core: false, run: case_fn!(create_and_read),
            clause: "ditto.md §2 (PUT 201 with the entity and Location; GET 200), §4 (ETag \"rev:<n>\")",
            title: "PUT of a new thing is 201 with Location; GET returns it with an ETag \"rev:…\"" },
        Case { id: "TWIN-PROP-001", core: false, run: case_fn!(property_update),
            clause: "ditto.md §2 (PUT of a property 201/204, GET 200; If-None-Match → 304; ETag changes with the value)",
            title: "A feature property written is read back; its ETag changes with the value and a matching If-None-Match is 304" },
        Case { id: "TWIN-PRE-001", core: false, run: case_fn!(preconditions),
            clause: "ditto.md §2 (If-None-Match: * must not exist, If-Match must name the tag → 412 things:precondition.failed)",
            title: "PUT with If-None-Match: * on an existing thing and with a stale If-Match are 412 things:precondition.failed" },
        Case { id: "TWIN-BAD-001", core: false, run: case_fn!(refusals),
            clause: "ditto.md §2 (a body thingId ≠ the path → 400 things:id.notsettable; non-JSON PUT → 415)",
            title: "A thing body naming another thingId is 400 things:id.notsettable; a text/plain PUT is 415" },
    ]
}

/// `Basic …` of the login the twin API takes, or a SKIP.
fn login(cx: &Ctx<'_>) -> Result<String, Stop> {
    let cfg = cx.opts.otau_admin.as_ref().ok_or_else(|| {
        Stop::Skip("no Ditto login (--manage fleetsim): the twin API takes the Management API's Basic login".into())
    })?;
    let pair = format!("{}:{}", cfg.user, cfg.password.expose());
    Ok(format!("Basic {}", base64_lite::encode(pair.as_bytes())))
}

/// This case's thing ID (`conform.<tag>:<case>`).
fn thing_id(cx: &Ctx<'_>) -> String {
    format!("conform.fleetsim:{}", cx.device(1))
}

/// A request to `/api/2/things/{thing}{rest}` with the login and `headers`.
async fn twin(
    cx: &mut Ctx<'_>,
    method: Method,
    rest: &str,
    headers: &[(&'static str, &str)],
    body: Option<&Value>,
) -> Result<Answer, Stop> {
    let auth = login(cx)?;
    let path = format!("/api/2/things/{}{rest}", percent_encode(&thing_id(cx)));
    let mut all = vec![("authorization", auth.as_str())];
    if body.is_some() {
        all.push(("content-type", "application/json"));
    }
    all.extend_from_slice(headers);
    let bytes = body.map(|b| b.to_string().into_bytes());
    cx.send(method, &path, &all, bytes).await
}

/// The thing this case works on, created: the 201 answer.
async fn created(cx: &mut Ctx<'_>) -> Result<Answer, Stop> {
    let thing = json!({ "attributes": { "gateway.id": "conform" },
                        "features": { "firmware": { "properties": { "version": "1.0.0" } } } });
    let a = twin(cx, Method::Put, "", &[], Some(&thing)).await?;
    a.expect(201, "PUT of a new thing")?;
    Ok(a)
}

/// The error code of a Ditto error body.
fn error_of(a: &Answer) -> String {
    serde_json::from_slice::<Value>(&a.body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_default()
}

async fn create_and_read(cx: &mut Ctx<'_>) -> Verdict {
    let id = thing_id(cx);
    let made = created(cx).await?;
    let doc = made.json()?;
    ensure(doc["thingId"] == id.as_str(), || {
        format!("the 201 body is not thing {id}: {doc}")
    })?;
    let location = made.header("location").unwrap_or("");
    ensure(location.contains("/api/2/things/"), || {
        format!("the 201 has no Location of the thing: `{location}`")
    })?;
    let a = twin(cx, Method::Get, "", &[], None).await?;
    a.expect(200, "GET of the thing")?;
    let got = a.json()?;
    ensure(
        got["thingId"] == id.as_str()
            && got["features"]["firmware"]["properties"]["version"] == "1.0.0",
        || format!("GET returned {got}"),
    )?;
    let etag = a.header("etag").unwrap_or("");
    ensure(etag.starts_with("\"rev:"), || {
        format!("ETag `{etag}` is not \"rev:<n>\"")
    })
}

async fn property_update(cx: &mut Ctx<'_>) -> Verdict {
    created(cx).await?;
    let prop = "/features/firmware/properties/version";
    let w = twin(cx, Method::Put, prop, &[], Some(&json!("2.0.0"))).await?;
    ensure(w.status == 204 || w.status == 201, || {
        format!(
            "PUT of the property: expected 204 (or 201), got {}",
            w.status
        )
    })?;
    let a = twin(cx, Method::Get, prop, &[], None).await?;
    a.expect(200, "GET of the property")?;
    ensure(a.json()? == json!("2.0.0"), || {
        "the property was not updated".into()
    })?;
    let tag = a.header("etag").unwrap_or("").to_string();
    let same = twin(cx, Method::Get, prop, &[("if-none-match", &tag)], None).await?;
    same.expect(304, "GET with If-None-Match of its ETag")?;
    twin(cx, Method::Put, prop, &[], Some(&json!("2.0.1"))).await?;
    let b = twin(cx, Method::Get, prop, &[], None).await?;
    let new_tag = b.header("etag").unwrap_or("");
    ensure(!tag.is_empty() && new_tag != tag, || {
        format!("the ETag `{tag}` did not change with the value")
    })
}

async fn preconditions(cx: &mut Ctx<'_>) -> Verdict {
    created(cx).await?;
    let again = json!({ "attributes": {} });
    let a = twin(cx, Method::Put, "", &[("if-none-match", "*")], Some(&again)).await?;
    a.expect(412, "PUT with If-None-Match: * of an existing thing")?;
    ensure(error_of(&a) == "things:precondition.failed", || {
        format!(
            "error `{}`, expected things:precondition.failed",
            error_of(&a)
        )
    })?;
    let stale = twin(
        cx,
        Method::Put,
        "",
        &[("if-match", "\"rev:999999\"")],
        Some(&again),
    )
    .await?;
    stale.expect(412, "PUT with a stale If-Match")
}

async fn refusals(cx: &mut Ctx<'_>) -> Verdict {
    let other = json!({ "thingId": "conform.fleetsim:someone-else" });
    let a = twin(cx, Method::Put, "", &[], Some(&other)).await?;
    a.expect(400, "PUT of a body naming another thingId")?;
    ensure(error_of(&a) == "things:id.notsettable", || {
        format!("error `{}`, expected things:id.notsettable", error_of(&a))
    })?;
    let auth = login(cx)?;
    let path = format!("/api/2/things/{}", percent_encode(&thing_id(cx)));
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "text/plain"),
    ];
    let t = cx
        .send(Method::Put, &path, &headers, Some(b"not json".to_vec()))
        .await?;
    t.expect(415, "PUT of a text/plain body")
}
