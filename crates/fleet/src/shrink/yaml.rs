//! Writing a shrunk scenario back as YAML a user would write: settings at
//! their defaults are left out when the document still reads back the same.

use super::ShrinkError;
use crate::scenario::Scenario;

/// Writes `s` as scenario YAML that [`crate::scenario::load_str`] reads
/// back to the same scenario. Settings at their defaults are left out
/// (each is dropped only if the document still reads back the same); the
/// seed is always written.
pub fn to_yaml(s: &Scenario) -> Result<String, ShrinkError> {
    let mut doc = serde_yaml::to_value(s).map_err(|e| ShrinkError::Yaml(e.to_string()))?;
    drop_nulls(&mut doc);
    if let Some(reference) = canonical(&doc) {
        let mut paths = Vec::new();
        key_paths(&doc, &mut Vec::new(), &mut paths);
        for path in paths {
            if matches!(path.as_slice(), [Seg::Key(k)] if ["name", "seed", "duration", "fleet", "expect"].contains(&k.as_str()))
            {
                continue;
            }
            let mut candidate = doc.clone();
            if remove_at(&mut candidate, &path)
                && canonical(&candidate).as_ref() == Some(&reference)
            {
                doc = candidate;
            }
        }
    }
    serde_yaml::to_string(&doc).map_err(|e| ShrinkError::Yaml(e.to_string()))
}

/// A step into a YAML document.
enum Seg {
    Key(String),
    Index(usize),
}

/// The scenario `doc` reads back to, serialised again.
fn canonical(doc: &serde_yaml::Value) -> Option<serde_yaml::Value> {
    let text = serde_yaml::to_string(doc).ok()?;
    let s: Scenario = serde_yaml::from_str(&text).ok()?;
    serde_yaml::to_value(&s).ok()
}

/// Paths of all mapping keys, children before their parents.
fn key_paths(v: &serde_yaml::Value, at: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    let copy = |at: &Vec<Seg>| -> Vec<Seg> {
        at.iter()
            .map(|s| match s {
                Seg::Key(k) => Seg::Key(k.clone()),
                Seg::Index(i) => Seg::Index(*i),
            })
            .collect()
    };
    match v {
        serde_yaml::Value::Mapping(m) => {
            for (k, child) in m {
                let Some(k) = k.as_str() else { continue };
                at.push(Seg::Key(k.to_string()));
                key_paths(child, at, out);
                out.push(copy(at));
                at.pop();
            }
        }
        serde_yaml::Value::Sequence(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push(Seg::Index(i));
                key_paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

/// Removes the mapping entry at `path`; false if there is none.
fn remove_at(v: &mut serde_yaml::Value, path: &[Seg]) -> bool {
    match path {
        [] => false,
        [Seg::Key(k)] => v
            .as_mapping_mut()
            .is_some_and(|m| m.remove(k.as_str()).is_some()),
        [Seg::Key(k), rest @ ..] => v
            .get_mut(k.as_str())
            .is_some_and(|child| remove_at(child, rest)),
        [Seg::Index(i), rest @ ..] => v
            .as_sequence_mut()
            .and_then(|items| items.get_mut(*i))
            .is_some_and(|child| remove_at(child, rest)),
    }
}

fn drop_nulls(v: &mut serde_yaml::Value) {
    match v {
        serde_yaml::Value::Mapping(m) => {
            m.retain(|_, v| !v.is_null());
            for (_, v) in m.iter_mut() {
                drop_nulls(v);
            }
        }
        serde_yaml::Value::Sequence(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}
