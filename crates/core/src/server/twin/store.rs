//! The twin store: things by ID (a `BTreeMap`, so iteration is
//! deterministic) and the Ditto commands on them (ditto.md §1 "Commands",
//! §6 "Twin service must" 1–4).
//!
//! A command names an action and a path; the path is classified into a
//! [`Target`] (`/`, `/attributes[/ptr]`, `/definition`, `/policyId`,
//! `/features`, `/features/{id}`, `…/definition`, `…/properties[/ptr]`,
//! `…/desiredProperties[/ptr]`) and executed on the thing's JSON:
//! - retrieve → 200 with the value; 404 with Ditto's not-found code;
//! - create (`/` only) → 201 with the thing, 409 if it exists;
//! - modify → 201 with the value if the target was new, else 204; the
//!   thing itself is created by a modify of `/`; a sub-resource of a
//!   missing thing is 404 `things:thing.notfound`, of a missing feature 404
//!   `things:feature.notfound`;
//! - merge → RFC 7396 on the target; 201 with the result if it was new,
//!   else 204; the thing must exist (ditto.md gives no rule for a merge of
//!   a missing thing; Ditto's MergeThing answers 404, inferred);
//! - delete → 204, 404 if missing.
//!
//! Every change adds 1 to the thing's revision and yields one event. A
//! change is computed on a copy and committed only when the whole result
//! is valid, so a failed command leaves the thing as it was.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::rules;
use crate::ditto::id::check_json_key;
use crate::ditto::protocol::{CommandAction, DittoError, EventAction, Pointer};
use crate::time::Time;

/// One thing of the twin.
#[derive(Clone, Debug, PartialEq)]
pub struct Thing {
    /// The thing as JSON: `thingId`, `policyId`, `definition`?,
    /// `attributes`?, `features`?.
    pub json: Value,
    /// `_revision`: 1 after creation, +1 per change.
    pub revision: u64,
    /// `_created`.
    pub created: Time,
    /// `_modified`.
    pub modified: Time,
}

/// The part of a thing a path addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `/`
    Thing,
    /// `/policyId` (retrieve only).
    PolicyId,
    /// `/definition`
    Definition,
    /// `/attributes[/ptr]`
    Attributes(Vec<String>),
    /// `/features`
    Features,
    /// `/features/{id}`
    Feature(String),
    /// `/features/{id}/definition`
    FeatureDefinition(String),
    /// `/features/{id}/properties[/ptr]` (`desired`: `desiredProperties`).
    Properties {
        /// Feature ID.
        feature: String,
        /// Pointer inside the properties.
        ptr: Vec<String>,
        /// `desiredProperties` rather than `properties`.
        desired: bool,
    },
}

/// 400 for a path the twin does not know (code inferred).
fn unknown_path(path: &Pointer) -> DittoError {
    DittoError::bad_request(
        "things:path.unknown",
        format!("The path '{path}' is not a path of a Thing"),
    )
}

impl Target {
    /// Classifies a command's path; feature IDs and keys on the way are checked.
    pub fn of(path: &Pointer) -> Result<Target, DittoError> {
        let segs = path.segments();
        for key in segs {
            check_json_key(key).map_err(|e| DittoError::key_invalid(key, &e.to_string()))?;
        }
        let rest = |from: usize| segs[from..].to_vec();
        Ok(
            match segs.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                [] => Target::Thing,
                ["policyId"] => Target::PolicyId,
                ["definition"] => Target::Definition,
                ["attributes", ..] => Target::Attributes(rest(1)),
                ["features"] => Target::Features,
                ["features", f] => {
                    rules::check_feature(f)?;
                    Target::Feature(f.to_owned())
                }
                ["features", f, "definition"] => Target::FeatureDefinition(f.to_owned()),
                ["features", f, member @ ("properties" | "desiredProperties"), ..] => {
                    Target::Properties {
                        feature: f.to_owned(),
                        ptr: rest(3),
                        desired: member == "desiredProperties",
                    }
                }
                _ => return Err(unknown_path(path)),
            },
        )
    }

    /// The feature this target lies inside (it must exist), if any.
    fn inside_feature(&self) -> Option<&str> {
        match self {
            Target::FeatureDefinition(f) | Target::Properties { feature: f, .. } => Some(f),
            _ => None,
        }
    }

    /// Where the target is in the thing's JSON.
    fn json_path(&self) -> Vec<String> {
        let mut p: Vec<String> = Vec::new();
        match self {
            Target::Thing => {}
            Target::PolicyId => p.push("policyId".into()),
            Target::Definition => p.push("definition".into()),
            Target::Attributes(ptr) => {
                p.push("attributes".into());
                p.extend(ptr.iter().cloned());
            }
            Target::Features => p.push("features".into()),
            Target::Feature(f) => p.extend(["features".into(), f.clone()]),
            Target::FeatureDefinition(f) => {
                p.extend(["features".into(), f.clone(), "definition".into()])
            }
            Target::Properties {
                feature,
                ptr,
                desired,
            } => {
                let member = if *desired {
                    "desiredProperties"
                } else {
                    "properties"
                };
                p.extend(["features".into(), feature.clone(), member.into()]);
                p.extend(ptr.iter().cloned());
            }
        }
        p
    }

    /// Ditto's not-found error for this target of thing `id`.
    fn not_found(&self, id: &str, path: &Pointer) -> DittoError {
        let code = match self {
            Target::Thing | Target::PolicyId => return DittoError::thing_not_found(id),
            Target::Feature(f) => return DittoError::feature_not_found(id, f),
            Target::Definition => "things:definition.notfound",
            Target::Attributes(p) if p.is_empty() => "things:attributes.notfound",
            Target::Attributes(_) => "things:attribute.notfound",
            Target::Features => "things:features.notfound",
            Target::FeatureDefinition(_) => "things:feature.definition.notfound",
            Target::Properties { ptr, desired, .. } => match (ptr.is_empty(), desired) {
                (true, false) => "things:feature.properties.notfound",
                (false, false) => "things:feature.property.notfound",
                (true, true) => "things:feature.desiredProperties.notfound",
                (false, true) => "things:feature.desiredProperty.notfound",
            },
        };
        DittoError::part_not_found(code, id, &path.to_string())
    }

    /// Checks (and normalizes) a value written to this target.
    fn check_value(&self, value: &Value) -> Result<Value, DittoError> {
        match self {
            Target::Thing | Target::PolicyId => Ok(value.clone()),
            Target::Definition => rules::check_thing_definition(value).map(|_| value.clone()),
            Target::Attributes(p) if p.is_empty() => {
                rules::check_object(value, "attributes").map(|_| value.clone())
            }
            Target::Features => rules::features(value),
            Target::Feature(_) => rules::feature(value),
            Target::FeatureDefinition(_) => {
                rules::check_feature_definition(value).map(|_| value.clone())
            }
            Target::Properties { ptr, .. } if ptr.is_empty() => {
                rules::check_object(value, "properties").map(|_| value.clone())
            }
            Target::Attributes(_) | Target::Properties { .. } => {
                rules::check_keys(value).map(|_| value.clone())
            }
        }
    }
}

/// What a successful command did.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// Status of the response: 200, 201 or 204.
    pub status: u16,
    /// Value of the response (200/201 only).
    pub value: Option<Value>,
    /// The event: action, value and the thing's new revision (none for a retrieve).
    pub event: Option<(EventAction, Option<Value>, u64)>,
}

/// The value at `path` inside `json`.
fn get<'a>(json: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(json, |v, k| v.as_object()?.get(k))
}

/// Sets the value at `path` (non-empty), creating objects on the way and
/// replacing non-objects there.
fn set(json: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *json = value;
        return;
    };
    let mut node = json;
    for k in parents {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        node = match node {
            Value::Object(map) => map.entry(k.clone()).or_insert(Value::Null),
            _ => unreachable!("made an object above"),
        };
    }
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    if let Value::Object(map) = node {
        map.insert(last.clone(), value);
    }
}

/// Removes the value at `path` (non-empty); whether there was one.
fn remove(json: &mut Value, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let parent = parents
        .iter()
        .try_fold(json, |v, k| v.as_object_mut()?.get_mut(k));
    parent
        .and_then(Value::as_object_mut)
        .is_some_and(|map| map.remove(last).is_some())
}

/// All things of the twin.
#[derive(Clone, Debug, Default)]
pub struct Store {
    things: BTreeMap<String, Thing>,
}

impl Store {
    /// Thing `id`, if it exists.
    pub fn get(&self, id: &str) -> Option<&Thing> {
        self.things.get(id)
    }

    /// All things, by ID.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Thing)> {
        self.things.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The things whose ID starts with `prefix`, by ID.
    pub fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Thing)> {
        self.things
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v))
    }

    /// Number of things.
    pub fn len(&self) -> usize {
        self.things.len()
    }

    /// Whether there are no things.
    pub fn is_empty(&self) -> bool {
        self.things.is_empty()
    }

    /// Executes one command on thing `id` (an ID the caller has checked).
    pub fn execute(
        &mut self,
        now: Time,
        id: &str,
        action: CommandAction,
        path: &Pointer,
        value: Option<&Value>,
    ) -> Result<Change, DittoError> {
        let target = Target::of(path)?;
        let payload = || {
            value.ok_or_else(|| {
                DittoError::bad_request("json.invalid", format!("{action:?} needs a value"))
            })
        };
        match action {
            CommandAction::Retrieve => self.retrieve(id, &target, path),
            CommandAction::Create if target == Target::Thing => self.create(now, id, payload()?),
            CommandAction::Modify if target == Target::Thing => self.put_thing(now, id, payload()?),
            CommandAction::Modify => self.modify(now, id, &target, path, payload()?),
            CommandAction::Merge => self.merge(now, id, &target, path, payload()?),
            CommandAction::Delete => self.delete(now, id, &target, path),
            CommandAction::Create | CommandAction::Migrate => Err(DittoError::bad_request(
                "things:command.unsupported",
                format!("{action:?} is not supported on '{path}'"),
            )),
        }
    }

    /// The value at `path` of thing `id` (a retrieve without a response).
    pub fn read(&self, id: &str, path: &Pointer) -> Result<Value, DittoError> {
        let change = self.retrieve(id, &Target::of(path)?, path)?;
        Ok(change.value.unwrap_or(Value::Null))
    }

    fn existing(&self, id: &str) -> Result<&Thing, DittoError> {
        self.things
            .get(id)
            .ok_or_else(|| DittoError::thing_not_found(id))
    }

    fn retrieve(&self, id: &str, target: &Target, path: &Pointer) -> Result<Change, DittoError> {
        let thing = self.existing(id)?;
        Self::feature_exists(id, thing, target)?;
        let value =
            get(&thing.json, &target.json_path()).ok_or_else(|| target.not_found(id, path))?;
        Ok(Change {
            status: 200,
            value: Some(value.clone()),
            event: None,
        })
    }

    fn create(&mut self, now: Time, id: &str, value: &Value) -> Result<Change, DittoError> {
        if self.things.contains_key(id) {
            return Err(DittoError::thing_conflict(id));
        }
        self.put_thing(now, id, value)
    }

    /// Modify of `/`: create (201, revision 1) or replace (204), keeping
    /// the old `policyId` when the new thing has none.
    fn put_thing(&mut self, now: Time, id: &str, value: &Value) -> Result<Change, DittoError> {
        let old = self.things.get(id);
        let policy = old
            .and_then(|t| t.json.get("policyId"))
            .and_then(Value::as_str)
            .unwrap_or(id)
            .to_owned();
        let json = rules::thing(value, id, &policy)?;
        let (status, action, revision, created) = match old {
            None => (201, EventAction::Created, 1, now),
            Some(t) => (204, EventAction::Modified, t.revision + 1, t.created),
        };
        let thing = Thing {
            json: json.clone(),
            revision,
            created,
            modified: now,
        };
        self.things.insert(id.to_owned(), thing);
        Ok(Change {
            status,
            value: Some(json.clone()),
            event: Some((action, Some(json), revision)),
        })
    }

    /// 404 `things:feature.notfound` when `target` lies in a missing feature.
    fn feature_exists(id: &str, thing: &Thing, target: &Target) -> Result<(), DittoError> {
        match target.inside_feature() {
            Some(f) if get(&thing.json, &["features".to_owned(), f.to_owned()]).is_none() => {
                Err(DittoError::feature_not_found(id, f))
            }
            _ => Ok(()),
        }
    }

    /// The thing, checked to exist and, for targets inside a feature, that
    /// feature too; returned as a copy to change.
    fn draft(&self, id: &str, target: &Target) -> Result<Value, DittoError> {
        let thing = self.existing(id)?;
        Self::feature_exists(id, thing, target)?;
        Ok(thing.json.clone())
    }

    /// Stores a changed thing: revision + 1, `_modified` = now.
    fn commit(&mut self, now: Time, id: &str, json: Value) -> u64 {
        let thing = self.things.get_mut(id).expect("draft checked it exists");
        thing.json = json;
        thing.revision += 1;
        thing.modified = now;
        thing.revision
    }

    fn modify(
        &mut self,
        now: Time,
        id: &str,
        target: &Target,
        path: &Pointer,
        value: &Value,
    ) -> Result<Change, DittoError> {
        if *target == Target::PolicyId {
            return Err(unknown_path(path));
        }
        let thing = self.existing(id)?;
        Self::feature_exists(id, thing, target)?;
        let value = target.check_value(value)?;
        let at = target.json_path();
        // Changed in place: nothing can fail from here, so no draft copy.
        let thing = self.things.get_mut(id).expect("checked it exists");
        let existed = get(&thing.json, &at).is_some();
        set(&mut thing.json, &at, value.clone());
        thing.revision += 1;
        thing.modified = now;
        let revision = thing.revision;
        let (status, action) = match existed {
            true => (204, EventAction::Modified),
            false => (201, EventAction::Created),
        };
        Ok(Change {
            status,
            value: Some(value.clone()),
            event: Some((action, Some(value), revision)),
        })
    }

    fn merge(
        &mut self,
        now: Time,
        id: &str,
        target: &Target,
        path: &Pointer,
        patch: &Value,
    ) -> Result<Change, DittoError> {
        if *target == Target::PolicyId {
            return Err(unknown_path(path));
        }
        rules::check_keys(patch)?;
        let mut json = self.draft(id, target)?;
        let at = target.json_path();
        let existed = get(&json, &at).is_some();
        let mut merged = get(&json, &at).cloned().unwrap_or(Value::Null);
        rules::merge_patch(&mut merged, patch);
        set(&mut json, &at, merged.clone());
        let policy = json["policyId"].as_str().unwrap_or(id).to_owned();
        let json = rules::thing(&json, id, &policy)?;
        let revision = self.commit(now, id, json);
        let (status, value) = match existed {
            true => (204, None),
            false => (201, Some(merged)),
        };
        Ok(Change {
            status,
            value,
            event: Some((EventAction::Merged, Some(patch.clone()), revision)),
        })
    }

    fn delete(
        &mut self,
        now: Time,
        id: &str,
        target: &Target,
        path: &Pointer,
    ) -> Result<Change, DittoError> {
        if *target == Target::Thing {
            let thing = self
                .things
                .remove(id)
                .ok_or_else(|| DittoError::thing_not_found(id))?;
            let deleted = (EventAction::Deleted, None, thing.revision + 1);
            return Ok(Change {
                status: 204,
                value: None,
                event: Some(deleted),
            });
        }
        if *target == Target::PolicyId {
            return Err(unknown_path(path));
        }
        let mut json = self.draft(id, target)?;
        if !remove(&mut json, &target.json_path()) {
            return Err(target.not_found(id, path));
        }
        let revision = self.commit(now, id, json);
        Ok(Change {
            status: 204,
            value: None,
            event: Some((EventAction::Deleted, None, revision)),
        })
    }
}
