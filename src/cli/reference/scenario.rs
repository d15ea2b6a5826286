//! The scenario reference: every field of a scenario file — type, default
//! and meaning — rendered from the JSON Schema that the scenario model
//! generates (`fleetsim_fleet::scenario::schema`), so it says what the
//! parser reads, in the words of the model's doc comments.

use std::fmt::Write;

use serde_json::{Map, Value};

use super::{cell, header};
use fleetsim::scenario::schema::json_schema;

/// The page's markdown.
pub(super) fn page() -> String {
    let schema = json_schema();
    let empty = Map::new();
    let defs = schema
        .get("definitions")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut out = header(
        "Scenario reference",
        "the scenario model (`crates/fleet/src/scenario/`) through its JSON Schema",
        "scenario",
    );
    out.push_str(
        "Every field a scenario file may hold, with its type and default. Fields without a \
         default are required where marked. The same model gives `docs/scenario.schema.json` \
         (`fleetsim schema`); [Writing scenarios](../scenarios.md) shows them in use, and \
         `fleetsim check` adds the cross-field rules (a window longer than its period, a \
         campaign after the end of the run).\n\n## The scenario file\n\n",
    );
    fields(&mut out, &schema);
    for name in order(&schema, defs) {
        let Some(def) = defs.get(&name) else { continue };
        let _ = writeln!(out, "\n## {name}\n");
        if let Some(d) = def.get("description").and_then(Value::as_str) {
            let _ = writeln!(out, "{}\n", d.trim());
        }
        if def.get("properties").is_some() {
            fields(&mut out, def);
        } else if let Some(variants) = variants(def) {
            out.push_str(&variants);
        } else {
            let _ = writeln!(out, "Written as: {}.", type_of(def));
        }
    }
    out
}

/// The table of an object schema's properties.
fn fields(out: &mut String, schema: &Value) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("| field | type | default | what |\n|---|---|---|---|\n");
    for (name, prop) in props {
        let name = if required.contains(&name.as_str()) {
            format!("`{name}` (required)")
        } else {
            format!("`{name}`")
        };
        let default = match prop.get("default") {
            None | Some(Value::Null) => String::new(),
            Some(v) => format!("`{}`", v.to_string().replace('|', "\\|")),
        };
        let what = prop
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {name} | {} | {default} | {} |",
            cell(&type_of(prop)),
            cell(what)
        );
    }
}

/// A list of an enumeration's words with their meanings, when each variant
/// is a documented constant.
fn variants(def: &Value) -> Option<String> {
    let list = def.get("oneOf").and_then(Value::as_array)?;
    let mut out = String::from("One of:\n\n");
    for v in list {
        let word = v
            .get("const")
            .or_else(|| v.get("enum").and_then(|e| e.get(0)))?;
        let _ = write!(out, "- `{}`", word.as_str().unwrap_or_default());
        if let Some(d) = v.get("description").and_then(Value::as_str) {
            let _ = write!(out, ": {}", cell(d));
        }
        out.push('\n');
    }
    Some(out)
}

/// A short human spelling of a schema's type: `string`, `list of FleetGroup`,
/// `` `a` \| `b` ``, links to the definitions' sections.
fn type_of(s: &Value) -> String {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("[{name}](#{})", name.to_lowercase());
    }
    if let Some(c) = s.get("const") {
        return format!("`{}`", plain(c));
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        let words: Vec<String> = e.iter().map(|v| format!("`{}`", plain(v))).collect();
        return words.join(" \\| ");
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(list) = s.get(key).and_then(Value::as_array) {
            let parts: Vec<String> = list
                .iter()
                .filter(|v| v.get("type").and_then(Value::as_str) != Some("null"))
                .map(type_of)
                .collect();
            return parts.join(" or ");
        }
    }
    match s.get("type") {
        Some(Value::Array(types)) => {
            let one: Vec<&str> = types
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect();
            let mut s = s.clone();
            if let (Some(obj), [t]) = (s.as_object_mut(), one.as_slice()) {
                obj.insert("type".into(), Value::String(t.to_string()));
            }
            type_of(&s)
        }
        Some(Value::String(t)) if t == "array" => {
            format!(
                "list of {}",
                s.get("items").map(type_of).unwrap_or_default()
            )
        }
        Some(Value::String(t)) if t == "object" => match s.get("properties") {
            Some(Value::Object(p)) => {
                let keys: Vec<String> = p
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", type_of(v)))
                    .collect();
                format!("{{ {} }}", keys.join(", "))
            }
            _ => "map".into(),
        },
        Some(Value::String(t)) if t == "integer" => match s.get("minimum") {
            Some(min) => format!("integer ≥ {min}"),
            None => "integer".into(),
        },
        Some(Value::String(t)) => t.clone(),
        _ => "any".into(),
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The definitions in the order a reader meets them: depth first from the
/// top level, each once; any left over after, by name.
fn order(root: &Value, defs: &Map<String, Value>) -> Vec<String> {
    let mut seen = Vec::new();
    visit(root, defs, &mut seen);
    for name in defs.keys() {
        if !seen.contains(name) {
            seen.push(name.clone());
        }
    }
    seen
}

fn visit(v: &Value, defs: &Map<String, Value>, seen: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                let name = r.rsplit('/').next().unwrap_or(r).to_string();
                if !seen.contains(&name) {
                    seen.push(name.clone());
                    if let Some(def) = defs.get(&name) {
                        visit(def, defs, seen);
                    }
                }
            }
            for (k, child) in map {
                if k != "definitions" {
                    visit(child, defs, seen);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| visit(i, defs, seen)),
        _ => {}
    }
}
