//! The JSON Schema of scenario files, generated from the scenario model.
//!
//! The model's structs derive [`schemars::JsonSchema`], so each field's
//! doc comment, type and default come from the code that parses it. The
//! types that parse themselves by hand (units written as text, words that
//! stand for a map, `server: embedded`, `campaigns: external`, server
//! faults) describe here what their deserialisers accept. `fleetsim schema`
//! prints [`json_schema_text`]; `docs/scenario.schema.json` is that text,
//! and a test validates every shipped scenario against it.
//!
//! The schema checks a file's shape (fields, types, units, words); the
//! cross-field rules of [`super::validate`] (a window longer than its
//! period, a campaign after the end) are beyond it: `fleetsim check` runs both.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;

use super::auth::DeviceAuth;
use super::campaign::Campaigns;
use super::consent::ConsentSpec;
use super::faults::ServerFault;
use super::model::{ExpectedViolations, Scenario, ServerSpec};
use super::units::{Duration, Fraction, Size};
use fleetsim_core::oracle::InvariantId;

/// A duration as [`super::units::parse_duration`] reads it: numbers with
/// units, concatenated (`1h30m`), or the bare number 0.
const DURATION_PATTERN: &str = r"^\s*([0-9]+(ms|s|m|h|d))+\s*$";
/// A size as [`super::units::parse_size`] reads it.
const SIZE_PATTERN: &str = r"^\s*[0-9]+\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$";

/// The JSON Schema (draft-07, which every YAML language server reads) of a
/// scenario file, with object keys sorted so the text does not depend on
/// serde_json's map order.
pub fn json_schema() -> Value {
    let mut schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<Scenario>();
    schema.insert("title".into(), "fleetsim scenario".into());
    sorted(&schema.to_value())
}

/// [`json_schema()`] as pretty-printed JSON with a final newline: the text of
/// `docs/scenario.schema.json`.
pub fn json_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// `value` with every object's keys in sorted order.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration with units: `250ms`, `30s`, `5m`, `12h`, `30d`, `1h30m` (units: ms, s, m, h, d); the bare number 0 is zero.",
            "anyOf": [
                { "type": "string", "pattern": DURATION_PATTERN },
                { "const": 0 }
            ]
        })
    }
}

impl JsonSchema for Size {
    fn schema_name() -> Cow<'static, str> {
        "Size".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A byte count: `512B`, `64KiB`, `8MiB`, `1GB` (units: B, KB, KiB, MB, MiB, GB, GiB) or a bare number of bytes.",
            "anyOf": [
                { "type": "string", "pattern": SIZE_PATTERN },
                { "type": "integer", "minimum": 0 }
            ]
        })
    }
}

impl JsonSchema for Fraction {
    fn schema_name() -> Cow<'static, str> {
        "Fraction".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A number between 0 and 1, e.g. 0.05.",
            "type": "number",
            "minimum": 0,
            "maximum": 1
        })
    }
}

/// The `server:` field: `embedded` or a map of settings.
pub(super) struct ServerField;

impl JsonSchema for ServerField {
    fn schema_name() -> Cow<'static, str> {
        "Server".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let settings = generator.subschema_for::<ServerSpec>();
        json_schema!({
            "description": "The server the fleet talks to: `embedded` (all defaults) or a map of settings.",
            "anyOf": [ { "const": "embedded" }, settings ]
        })
    }
}

/// A value written as one of `words` or as the one-key map `{ key: value }`.
fn word_or_map(description: &str, words: &[&str], key: &str, value: Schema) -> Schema {
    json_schema!({
        "description": description,
        "anyOf": [
            { "type": "string", "enum": words },
            {
                "type": "object",
                "properties": { key: value },
                "required": [key],
                "additionalProperties": false
            }
        ]
    })
}

impl JsonSchema for DeviceAuth {
    fn schema_name() -> Cow<'static, str> {
        "DeviceAuth".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        word_or_map(
            "How a DDI device authenticates: `gateway` (server.gateway_token, if any), `none`, `target_token` (own token per device, from the seed) or `{ target_token_file: PATH }` (`CONTROLLER_ID TOKEN` lines, next to the scenario).",
            &["gateway", "none", "target_token"],
            "target_token_file",
            json_schema!({ "type": "string" }),
        )
    }
}

impl JsonSchema for ConsentSpec {
    fn schema_name() -> Cow<'static, str> {
        "Consent".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        word_or_map(
            "How a DDI device answers confirmationBase (with server.confirmation_flow): `ignore`, `confirm`, `deny`, `auto` (activate auto-confirm) or `{ confirm_after: <duration> }`.",
            &["ignore", "confirm", "deny", "auto"],
            "confirm_after",
            generator.subschema_for::<Duration>(),
        )
    }
}

impl JsonSchema for Campaigns {
    fn schema_name() -> Cow<'static, str> {
        "Campaigns".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let list = generator.subschema_for::<Vec<super::campaign::Campaign>>();
        json_schema!({
            "description": "Update campaigns, in any order; or `external`: the operator runs the rollouts on the server, fleetsim only plays the devices.",
            "anyOf": [ list, { "const": "external" }, { "type": "null" } ]
        })
    }
}

impl JsonSchema for ExpectedViolations {
    fn schema_name() -> Cow<'static, str> {
        "ExpectedViolations".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let ids: Vec<&str> = InvariantId::ALL.iter().map(|i| i.as_str()).collect();
        json_schema!({
            "description": "`none`, or the invariant IDs that must fire (and no others), e.g. [DDI-SM-410].",
            "anyOf": [
                { "const": "none" },
                { "type": "array", "items": { "type": "string", "enum": ids } }
            ]
        })
    }
}

impl JsonSchema for ServerFault {
    fn schema_name() -> Cow<'static, str> {
        "ServerFault".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let at = generator.subschema_for::<Duration>();
        let mode = generator.subschema_for::<fleetsim_core::server::Fault>();
        json_schema!({
            "description": "A fault of the embedded server during [at, at + for) of scenario time (to the end without `for`), exactly one of `respond: <status>` (answer every DDI request with it), `reset: true` (reset connections) or `mode: <fault mode>` (a protocol bug).",
            "type": "object",
            "properties": {
                "at": { "description": "Start (default 0s).", "allOf": [at] },
                "for": { "description": "Length (default: to the end of the run).", "allOf": [at] },
                "respond": {
                    "description": "Answer every DDI request with this HTTP status.",
                    "type": "integer",
                    "minimum": 100,
                    "maximum": 599
                },
                "reset": { "description": "Reset connections instead of answering.", "const": true },
                "mode": { "description": "A protocol bug of the embedded server.", "allOf": [mode] }
            },
            "additionalProperties": false,
            "oneOf": [
                { "required": ["respond"] },
                { "required": ["reset"] },
                { "required": ["mode"] }
            ]
        })
    }
}
