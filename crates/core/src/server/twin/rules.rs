//! What the twin service accepts as a thing, a feature, a definition and a
//! key (ditto.md §3, §4), and RFC 7396 merge patches.
//!
//! Values are normalized as they are checked: a thing keeps only `thingId`,
//! `policyId`, `definition`, `attributes` and `features`, a feature only
//! `definition`, `properties` and `desiredProperties` — Ditto's JSON model
//! has no other members, and dropping them keeps stored twins comparable.

use serde_json::{Map, Value};

use crate::ditto::id::{check_feature_id, check_json_key};
use crate::ditto::protocol::DittoError;

/// `[_a-zA-Z0-9\-.]+`, one part of a definition identifier.
fn definition_part(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A definition identifier: `namespace:name:version` of
/// [`definition_part`]s, or an http(s) URL (ditto.md §4).
pub fn is_definition_identifier(s: &str) -> bool {
    let url = ["http://", "https://"]
        .iter()
        .any(|p| s.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
        && !s.chars().any(char::is_whitespace);
    let parts: Vec<&str> = s.split(':').collect();
    url || (parts.len() == 3 && parts.iter().all(|p| definition_part(p)))
}

/// 400 for a bad feature definition (code inferred).
fn bad_feature_definition(why: &str) -> DittoError {
    DittoError::bad_request(
        "things:feature.definition.identifier.invalid",
        format!("Feature Definition is invalid: {why}"),
    )
}

/// A feature definition: a non-empty array of unique identifiers.
pub fn check_feature_definition(value: &Value) -> Result<(), DittoError> {
    let items = value
        .as_array()
        .ok_or_else(|| bad_feature_definition("not an array"))?;
    if items.is_empty() {
        return Err(bad_feature_definition("empty"));
    }
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(s) if is_definition_identifier(s) => {}
            _ => return Err(bad_feature_definition(&format!("item {i}: {item}"))),
        }
        if items[..i].contains(item) {
            return Err(bad_feature_definition(&format!("duplicate {item}")));
        }
    }
    Ok(())
}

/// A thing definition: one identifier (a string).
pub fn check_thing_definition(value: &Value) -> Result<(), DittoError> {
    match value.as_str() {
        Some(s) if is_definition_identifier(s) => Ok(()),
        _ => Err(DittoError::bad_request(
            "things:definition.identifier.invalid",
            format!("Thing Definition {value} is invalid"),
        )),
    }
}

/// Every key of `value`, at any depth, is a valid JSON key.
pub fn check_keys(value: &Value) -> Result<(), DittoError> {
    match value {
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            check_json_key(k).map_err(|e| DittoError::key_invalid(k, &e.to_string()))?;
            check_keys(v)
        }),
        Value::Array(items) => items.iter().try_for_each(check_keys),
        _ => Ok(()),
    }
}

/// A JSON object with valid keys (attributes, properties).
pub fn check_object(value: &Value, what: &str) -> Result<(), DittoError> {
    if !value.is_object() {
        return Err(DittoError::bad_request(
            "json.invalid",
            format!("{what} must be a JSON object"),
        ));
    }
    check_keys(value)
}

/// Checks a feature ID, as a 400 `json.key.invalid`.
pub fn check_feature(id: &str) -> Result<(), DittoError> {
    check_feature_id(id).map_err(|e| DittoError::key_invalid(id, &e.to_string()))
}

/// A feature value, normalized to its three members.
pub fn feature(value: &Value) -> Result<Value, DittoError> {
    let map = value.as_object().ok_or_else(|| {
        DittoError::bad_request("json.invalid", "a Feature must be a JSON object".into())
    })?;
    let mut out = Map::new();
    if let Some(d) = map.get("definition") {
        check_feature_definition(d)?;
        out.insert("definition".into(), d.clone());
    }
    for member in ["properties", "desiredProperties"] {
        if let Some(p) = map.get(member) {
            check_object(p, member)?;
            out.insert(member.into(), p.clone());
        }
    }
    Ok(Value::Object(out))
}

/// A `features` object, each feature normalized.
pub fn features(value: &Value) -> Result<Value, DittoError> {
    let map = value.as_object().ok_or_else(|| {
        DittoError::bad_request("json.invalid", "features must be a JSON object".into())
    })?;
    let mut out = Map::new();
    for (id, f) in map {
        check_feature(id)?;
        out.insert(id.clone(), feature(f)?);
    }
    Ok(Value::Object(out))
}

/// A whole thing addressed as `thing_id`: a JSON object whose `thingId`,
/// if present, is `thing_id` (else 400 `things:id.notsettable`, ditto.md
/// §1); `thingId` filled in, `policyId` taken from `policy_default` when
/// absent, every member checked and normalized.
pub fn thing(value: &Value, thing_id: &str, policy_default: &str) -> Result<Value, DittoError> {
    let map = value.as_object().ok_or_else(|| {
        DittoError::bad_request("json.invalid", "a Thing must be a JSON object".into())
    })?;
    match map.get("thingId") {
        None => {}
        Some(Value::String(id)) if id == thing_id => {}
        Some(_) => return Err(DittoError::id_not_settable(thing_id)),
    }
    let mut out = Map::new();
    out.insert("thingId".into(), thing_id.into());
    let policy = match map.get("policyId") {
        Some(Value::String(p)) => p.clone(),
        None => policy_default.to_owned(),
        Some(other) => {
            return Err(DittoError::bad_request(
                "things:policyId.invalid",
                format!("policyId {other} is not a string"),
            ))
        }
    };
    out.insert("policyId".into(), policy.into());
    if let Some(d) = map.get("definition") {
        check_thing_definition(d)?;
        out.insert("definition".into(), d.clone());
    }
    if let Some(a) = map.get("attributes") {
        check_object(a, "attributes")?;
        out.insert("attributes".into(), a.clone());
    }
    if let Some(f) = map.get("features") {
        out.insert("features".into(), features(f)?);
    }
    Ok(Value::Object(out))
}

/// Applies an RFC 7396 merge patch to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (k, v) in members {
            if v.is_null() {
                map.remove(k);
            } else {
                merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}
