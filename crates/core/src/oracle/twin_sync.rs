//! TWIN-CONVERGE (and the TWIN-ID part that needs the twin's things) at a
//! gateway's quiet period.
//!
//! Input: the gateway's runtime and `things`, what the twin answers for
//! the gateway — under each ID of the seed's mapping the twin finds, the
//! thing `GET /api/2/things/{id}` returns; and under its stored ID every
//! other thing the twin holds as the gateway thing or beneath it
//! (`TwinService::gateway_things` builds exactly this).
//!
//! Compared: each thing's `attributes`, `features` and `definition` (not
//! `thingId`, which TWIN-ID judges, nor `policyId` and other members the
//! twin adds). A thing stored under a wrong ID that decodes to the right one
//! is compared as that thing (its ID fires TWIN-ID, not a missing thing).
//!
//! Excuses: a backend's twin-side write at path `p` of a thing (told with
//! `Oracle::twin_written`) excuses each difference at `q` beneath `p`
//! while the twin holds there exactly what the write put there (absent
//! if the write did not have `q`, or deleted `p`); a gateway command's
//! event at or above `p` ends the excuse.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{beneath, Finding, Gateway};
use crate::ditto::id::check_encoded;
use crate::oracle::InvariantId;
use crate::protocol::edge::{map_runtime, GatewayRuntime};

/// Differences reported per thing (the rest are counted).
const SHOWN: usize = 3;
/// Differences looked at per thing.
const MAX_DIFFS: usize = 1000;

/// Whether `id` is the seed's encoding of the gateway thing `gateway`
/// (`<namespace>:<encoded serial>`) or of a thing beneath it
/// (`<gateway>:<rest>`, `rest` canonically encoded: only the seed's
/// characters as upper-case `%XX`, none of them literal, nothing else
/// escaped).
pub fn canonical_thing_id(id: &str, gateway: &str) -> bool {
    if id == gateway {
        return true;
    }
    let rest = id.strip_prefix(gateway).and_then(|r| r.strip_prefix(':'));
    rest.is_some_and(|r| !r.is_empty() && check_encoded(r).is_ok())
}

/// `id` with every valid `%XX` decoded once (others kept): pairs a thing
/// stored under a mis-encoded ID with the ID it should have had.
fn loose(id: &str) -> String {
    let bytes = id.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                let c = char::from_u32(h * 16 + l).unwrap_or(char::REPLACEMENT_CHARACTER);
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The members of a thing the mapping decides.
const COMPARED: [&str; 3] = ["attributes", "features", "definition"];

/// Those members of `thing` (for the report of a difference).
fn compared(thing: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for member in COMPARED {
        if let Some(v) = thing.get(member) {
            out.insert(member.into(), v.clone());
        }
    }
    Value::Object(out)
}

fn get<'a>(value: Option<&'a Value>, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value?, |v, k| v.as_object()?.get(k))
}

/// Paths where `expected` and `actual` differ (a key one side lacks is a
/// difference at that key; arrays and scalars compare whole).
fn diff(
    expected: Option<&Value>,
    actual: Option<&Value>,
    path: &mut Vec<String>,
    out: &mut Vec<Vec<String>>,
) {
    if out.len() >= MAX_DIFFS || expected == actual {
        // Equal subtrees (the common case) are not walked key by key.
        return;
    }
    match (expected, actual) {
        (Some(Value::Object(e)), Some(Value::Object(a))) => {
            let extra = a.keys().filter(|k| !e.contains_key(*k));
            for k in e.keys().chain(extra) {
                path.push(k.clone());
                diff(e.get(k), a.get(k), path, out);
                path.pop();
            }
        }
        (e, a) if e == a => {}
        _ => out.push(path.clone()),
    }
}

/// Whether a twin-side write excuses the difference at `q` of `thing`
/// (whose twin JSON is `twin`).
fn excused(g: &Gateway, thing: &str, q: &[String], twin: Option<&Value>) -> bool {
    let start = (thing.to_owned(), Vec::new());
    g.excuses
        .range(start..)
        .take_while(|((t, _), _)| t == thing)
        .any(|((_, p), w)| beneath(q, p) && get(w.as_ref(), &q[p.len()..]) == get(twin, q))
}

fn show(v: Option<&Value>) -> String {
    let text = v.map_or_else(|| "nothing".to_owned(), Value::to_string);
    match text.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// The TWIN-CONVERGE finding for thing `id` whose twin (`actual`) differs
/// from the gateway's mapping (`expected`) at `diffs`: the first few shown.
fn differs(id: &str, expected: &Value, actual: &Value, diffs: &[Vec<String>]) -> Finding {
    let (want, have) = (compared(expected), compared(actual));
    let shown: Vec<String> = diffs
        .iter()
        .take(SHOWN)
        .map(|q| {
            let pointer = format!("/{}", q.join("/"));
            let (t, d) = (show(get(Some(&have), q)), show(get(Some(&want), q)));
            format!("{pointer}: twin {t}, gateway {d}")
        })
        .collect();
    let more = diffs.len().saturating_sub(SHOWN);
    let more = if more > 0 {
        format!(" (and {more} more)")
    } else {
        String::new()
    };
    (
        InvariantId::TwinConverge,
        format!(
            "after the gateway's sync the twin of {id} differs: {}{more}",
            shown.join("; ")
        ),
    )
}

/// The checks at a quiet period (see the module doc).
pub(super) fn check(
    g: &mut Gateway,
    rt: &GatewayRuntime,
    things: &BTreeMap<String, Value>,
) -> Vec<Finding> {
    let mut found = Vec::new();
    let expected = map_runtime(rt);
    let ids: BTreeSet<&str> = expected.iter().map(|t| t.thing_id.as_str()).collect();
    for (key, json) in things {
        let reported = json.get("thingId").and_then(Value::as_str);
        if let Some(r) = reported.filter(|r| r != key) {
            found.extend(g.bad_id(r, &format!("as the thingId of {key}")));
        }
        if !ids.contains(key.as_str()) && !canonical_thing_id(key, &g.thing_id) {
            found.extend(g.bad_id(key, "as a thing it stores"));
        }
    }
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for e in &expected {
        let id = e.thing_id.as_str();
        let actual = things.get(id).or_else(|| {
            let want = loose(id);
            let (k, v) = things.iter().find(|(k, _)| {
                !ids.contains(k.as_str()) && !used.contains(k.as_str()) && loose(k) == want
            })?;
            used.insert(k);
            Some(v)
        });
        let Some(actual) = actual else {
            if !excused(g, id, &[], None) {
                found.push((
                    InvariantId::TwinConverge,
                    format!("after the gateway's sync the twin has no thing {id}"),
                ));
            }
            continue;
        };
        let mut diffs = Vec::new();
        for member in COMPARED {
            let mut path = vec![member.to_owned()];
            diff(
                e.json.get(member),
                actual.get(member),
                &mut path,
                &mut diffs,
            );
        }
        diffs.retain(|q| !excused(g, id, q, Some(actual)));
        if diffs.is_empty() {
            continue;
        }
        found.push(differs(id, &e.json, actual, &diffs));
    }
    for key in things.keys() {
        let key = key.as_str();
        if ids.contains(key) || used.contains(key) {
            continue;
        }
        let start = (key.to_owned(), Vec::new());
        let written = g
            .excuses
            .range(start..)
            .next()
            .is_some_and(|((t, _), _)| t == key);
        if !written {
            found.push((
                InvariantId::TwinConverge,
                format!("after the gateway's sync the twin still holds thing {key}, which the gateway does not have"),
            ));
        }
    }
    found
}
