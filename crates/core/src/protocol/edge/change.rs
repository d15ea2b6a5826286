//! The change vocabulary a gateway sends to its twin, without Ditto
//! envelopes: one [`Change`] is one Ditto thing command (its topic action,
//! thing ID, path and value), sans-IO.
//!
//! - First connect: [`initial_sync`], one `ModifyThing` per thing (seed:
//!   "The ModifyThing commands are used for these types of updates").
//! - While connected: [`diff`] of the runtime before and after a change gives
//!   the finest commands (see [`diff_twins`] for the rule).
//! - While disconnected: the changes go to a [`super::buffer::Buffer`].
//!
//! [`apply`] is the twin side of each command on a plain [`Twin`] (thing ID
//! → thing JSON), with Ditto's answers for missing things and features; the
//! oracle and the tests use it to say what the twin must look like.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::mapping::{map_runtime, map_thing, Scope};
use super::model::GatewayRuntime;

/// What a twin holds: thing ID → thing JSON.
pub type Twin = BTreeMap<String, Value>;

/// The twin a runtime maps to.
pub fn twin(rt: &GatewayRuntime) -> Twin {
    map_runtime(rt)
        .into_iter()
        .map(|t| (t.thing_id, t.json))
        .collect()
}

/// The part of the twin one scope maps to: its one thing, or nothing for a
/// device the runtime does not have.
pub fn twin_of(rt: &GatewayRuntime, scope: &Scope) -> Twin {
    map_thing(rt, scope)
        .into_iter()
        .map(|t| (t.thing_id, t.json))
        .collect()
}

/// The three property groups of a feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PropertyGroup {
    /// `properties.attributes`: FI attributes.
    Attributes,
    /// `properties.configuration`: name, tags, writable properties.
    Configuration,
    /// `properties.status`: read-only properties.
    Status,
}

impl PropertyGroup {
    /// All groups, in JSON key order.
    pub const ALL: [PropertyGroup; 3] = [
        PropertyGroup::Attributes,
        PropertyGroup::Configuration,
        PropertyGroup::Status,
    ];

    /// The JSON key.
    pub fn as_str(self) -> &'static str {
        match self {
            PropertyGroup::Attributes => "attributes",
            PropertyGroup::Configuration => "configuration",
            PropertyGroup::Status => "status",
        }
    }
}

/// One twin command of a gateway.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Create or replace a whole thing (path `/`).
    ModifyThing {
        /// Thing ID.
        thing_id: String,
        /// The thing JSON.
        thing: Value,
    },
    /// Delete a thing (a removed edge device).
    DeleteThing {
        /// Thing ID.
        thing_id: String,
    },
    /// Create or replace a feature (a new FI, or a changed definition).
    ModifyFeature {
        /// Thing ID.
        thing_id: String,
        /// Feature ID.
        feature_id: String,
        /// The feature JSON.
        feature: Value,
    },
    /// Delete a feature (a removed FI).
    DeleteFeature {
        /// Thing ID.
        thing_id: String,
        /// Feature ID.
        feature_id: String,
    },
    /// Replace all properties of a feature (several values changed at once).
    ModifyFeatureProperties {
        /// Thing ID.
        thing_id: String,
        /// Feature ID.
        feature_id: String,
        /// The `properties` JSON.
        properties: Value,
    },
    /// Create or replace one property (one value changed).
    ModifyFeatureProperty {
        /// Thing ID.
        thing_id: String,
        /// Feature ID.
        feature_id: String,
        /// Its group.
        group: PropertyGroup,
        /// Its key.
        key: String,
        /// The new value.
        value: Value,
    },
    /// Delete one property.
    DeleteFeatureProperty {
        /// Thing ID.
        thing_id: String,
        /// Feature ID.
        feature_id: String,
        /// Its group.
        group: PropertyGroup,
        /// Its key.
        key: String,
    },
}

impl Change {
    /// The thing it addresses.
    pub fn thing_id(&self) -> &str {
        match self {
            Change::ModifyThing { thing_id, .. }
            | Change::DeleteThing { thing_id }
            | Change::ModifyFeature { thing_id, .. }
            | Change::DeleteFeature { thing_id, .. }
            | Change::ModifyFeatureProperties { thing_id, .. }
            | Change::ModifyFeatureProperty { thing_id, .. }
            | Change::DeleteFeatureProperty { thing_id, .. } => thing_id,
        }
    }

    /// The Ditto command name (`ModifyFeatureProperty`, …).
    pub fn command(&self) -> &'static str {
        match self {
            Change::ModifyThing { .. } => "ModifyThing",
            Change::DeleteThing { .. } => "DeleteThing",
            Change::ModifyFeature { .. } => "ModifyFeature",
            Change::DeleteFeature { .. } => "DeleteFeature",
            Change::ModifyFeatureProperties { .. } => "ModifyFeatureProperties",
            Change::ModifyFeatureProperty { .. } => "ModifyFeatureProperty",
            Change::DeleteFeatureProperty { .. } => "DeleteFeatureProperty",
        }
    }

    /// The topic action: `modify` or `delete`.
    pub fn action(&self) -> &'static str {
        match self {
            Change::DeleteThing { .. }
            | Change::DeleteFeature { .. }
            | Change::DeleteFeatureProperty { .. } => "delete",
            _ => "modify",
        }
    }

    /// The Ditto path (`/`, `/features/<fid>`, `/features/<fid>/properties`,
    /// `/features/<fid>/properties/<group>/<key>`). Feature IDs are encoded
    /// and keys hold no `/`, so the path splits back unambiguously.
    pub fn path(&self) -> String {
        match self {
            Change::ModifyThing { .. } | Change::DeleteThing { .. } => "/".to_string(),
            Change::ModifyFeature { feature_id, .. } | Change::DeleteFeature { feature_id, .. } => {
                format!("/features/{feature_id}")
            }
            Change::ModifyFeatureProperties { feature_id, .. } => {
                format!("/features/{feature_id}/properties")
            }
            Change::ModifyFeatureProperty {
                feature_id,
                group,
                key,
                ..
            }
            | Change::DeleteFeatureProperty {
                feature_id,
                group,
                key,
                ..
            } => {
                format!("/features/{feature_id}/properties/{}/{key}", group.as_str())
            }
        }
    }

    /// The command's value (none on deletes).
    pub fn value(&self) -> Option<&Value> {
        match self {
            Change::ModifyThing { thing, .. } => Some(thing),
            Change::ModifyFeature { feature, .. } => Some(feature),
            Change::ModifyFeatureProperties { properties, .. } => Some(properties),
            Change::ModifyFeatureProperty { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Whether applying `self` makes `earlier` irrelevant to the twin: both
    /// address the same thing and `earlier`'s path is `self`'s path or lies
    /// beneath it (every change replaces or deletes its whole path).
    pub fn supersedes(&self, earlier: &Change) -> bool {
        let (mine, theirs) = (self.path(), earlier.path());
        self.thing_id() == earlier.thing_id()
            && (mine == "/" || theirs == mine || theirs.starts_with(&format!("{mine}/")))
    }
}

/// Why the twin refused a change (Ditto answers 404 for each).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// `things:thing.notfound`.
    #[error("thing {0} not found")]
    ThingNotFound(String),
    /// `things:feature.notfound`.
    #[error("feature {feature_id} of {thing_id} not found")]
    FeatureNotFound {
        /// Thing ID.
        thing_id: String,
        /// Feature ID.
        feature_id: String,
    },
    /// `things:feature.property.notfound`.
    #[error("property {path} of {thing_id} not found")]
    PropertyNotFound {
        /// Thing ID.
        thing_id: String,
        /// The property's path.
        path: String,
    },
}

/// Applies one change to a twin as Ditto would: modifies create or replace
/// (intermediate property objects included), deletes need their target, and
/// any feature-level command needs its thing and feature.
pub fn apply(twin: &mut Twin, change: &Change) -> Result<(), ApplyError> {
    match change {
        Change::ModifyThing { thing_id, thing } => {
            twin.insert(thing_id.clone(), thing.clone());
        }
        Change::DeleteThing { thing_id } => {
            twin.remove(thing_id)
                .ok_or_else(|| ApplyError::ThingNotFound(thing_id.clone()))?;
        }
        Change::ModifyFeature {
            thing_id,
            feature_id,
            feature,
        } => {
            features_mut(twin, thing_id)?.insert(feature_id.clone(), feature.clone());
        }
        Change::DeleteFeature {
            thing_id,
            feature_id,
        } => {
            let features = features_mut(twin, thing_id)?;
            features
                .remove(feature_id)
                .ok_or_else(|| feature_missing(thing_id, feature_id))?;
        }
        Change::ModifyFeatureProperties {
            thing_id,
            feature_id,
            properties,
        } => {
            let feature = feature_mut(twin, thing_id, feature_id)?;
            object_of(feature).insert("properties".into(), properties.clone());
        }
        Change::ModifyFeatureProperty {
            thing_id,
            feature_id,
            group,
            key,
            value,
        } => {
            let group = group_mut(twin, thing_id, feature_id, *group)?;
            group.insert(key.clone(), value.clone());
        }
        Change::DeleteFeatureProperty {
            thing_id,
            feature_id,
            group,
            key,
        } => {
            let path = change.path();
            let group = group_mut(twin, thing_id, feature_id, *group)?;
            let missing = || ApplyError::PropertyNotFound {
                thing_id: thing_id.clone(),
                path,
            };
            group.remove(key).ok_or_else(missing)?;
        }
    }
    Ok(())
}

fn features_mut<'a>(
    twin: &'a mut Twin,
    thing_id: &str,
) -> Result<&'a mut Map<String, Value>, ApplyError> {
    match twin.get_mut(thing_id) {
        Some(thing) => Ok(object_at(thing, "features")),
        None => Err(ApplyError::ThingNotFound(thing_id.to_string())),
    }
}

fn feature_mut<'a>(
    twin: &'a mut Twin,
    thing_id: &str,
    feature_id: &str,
) -> Result<&'a mut Value, ApplyError> {
    let features = features_mut(twin, thing_id)?;
    features
        .get_mut(feature_id)
        .ok_or_else(|| feature_missing(thing_id, feature_id))
}

/// A property group of an existing feature, created (with `properties`)
/// if missing, as Ditto creates the objects on a pointer's way.
fn group_mut<'a>(
    twin: &'a mut Twin,
    thing_id: &str,
    feature_id: &str,
    group: PropertyGroup,
) -> Result<&'a mut Map<String, Value>, ApplyError> {
    let properties = object_at(feature_mut(twin, thing_id, feature_id)?, "properties");
    Ok(object_at_map(properties, group.as_str()))
}

fn feature_missing(thing_id: &str, feature_id: &str) -> ApplyError {
    ApplyError::FeatureNotFound {
        thing_id: thing_id.to_string(),
        feature_id: feature_id.to_string(),
    }
}

/// `value` as an object, replacing it by `{}` if it is something else.
fn object_of(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}

fn object_at<'a>(value: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    object_at_map(object_of(value), key)
}

fn object_at_map<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    object_of(map.entry(key.to_string()).or_insert(Value::Null))
}

/// First connect: one `ModifyThing` per thing, gateway thing first.
pub fn initial_sync(rt: &GatewayRuntime) -> Vec<Change> {
    let things = map_runtime(rt).into_iter();
    things
        .map(|t| Change::ModifyThing {
            thing_id: t.thing_id,
            thing: t.json,
        })
        .collect()
}

/// The changes that turn the twin of `before` into the twin of `after`
/// (see [`diff_twins`]).
pub fn diff(before: &GatewayRuntime, after: &GatewayRuntime) -> Vec<Change> {
    diff_twins(&twin(before), &twin(after))
}

/// [`diff`] restricted to one thing: what a change inside `scope` (one FI,
/// one edge device) needs, at the cost of mapping that thing only. Both
/// runtimes must be of the same gateway (namespace and serial).
///
/// A caller that mutates one runtime in place need not clone it: take
/// [`twin_of`] the scope before and after the change and [`diff_twins`] them.
pub fn diff_scoped(before: &GatewayRuntime, after: &GatewayRuntime, scope: &Scope) -> Vec<Change> {
    diff_twins(&twin_of(before, scope), &twin_of(after, scope))
}

/// The finest changes that turn `before` into `after`, in thing ID then
/// feature ID order:
/// - a new thing → `ModifyThing`; a gone thing → `DeleteThing`; a thing
///   whose anything-but-features changed → `ModifyThing`;
/// - a new feature → `ModifyFeature`; a gone one → `DeleteFeature`; one
///   whose anything-but-properties (its definition) changed → `ModifyFeature`;
/// - exactly one property value changed → `ModifyFeatureProperty` (or
///   `DeleteFeatureProperty` when it is gone); two or more, or a change of
///   the properties' shape → one `ModifyFeatureProperties`.
pub fn diff_twins(before: &Twin, after: &Twin) -> Vec<Change> {
    let mut out = Vec::new();
    let ids: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for id in ids {
        match (before.get(id), after.get(id)) {
            (Some(b), Some(a)) if b == a => {}
            (Some(b), Some(a)) if without(b, "features") == without(a, "features") => {
                diff_features(id, b, a, &mut out)
            }
            (_, Some(a)) => out.push(Change::ModifyThing {
                thing_id: id.clone(),
                thing: a.clone(),
            }),
            (Some(_), None) => out.push(Change::DeleteThing {
                thing_id: id.clone(),
            }),
            (None, None) => {}
        }
    }
    out
}

fn without(value: &Value, key: &str) -> Value {
    let mut value = value.clone();
    if let Some(map) = value.as_object_mut() {
        map.remove(key);
    }
    value
}

fn diff_features(thing_id: &str, before: &Value, after: &Value, out: &mut Vec<Change>) {
    let empty = Map::new();
    let b = before
        .get("features")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let a = after
        .get("features")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let ids: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    let (thing_id, modify) = (thing_id.to_string(), |fid: &String, f: &Value| {
        Change::ModifyFeature {
            thing_id: thing_id.to_string(),
            feature_id: fid.clone(),
            feature: f.clone(),
        }
    });
    for fid in ids {
        match (b.get(fid), a.get(fid)) {
            (Some(bf), Some(af)) if bf == af => {}
            (Some(bf), Some(af)) if without(bf, "properties") == without(af, "properties") => {
                out.push(diff_properties(&thing_id, fid, bf, af))
            }
            (_, Some(af)) => out.push(modify(fid, af)),
            (Some(_), None) => out.push(Change::DeleteFeature {
                thing_id: thing_id.clone(),
                feature_id: fid.clone(),
            }),
            (None, None) => {}
        }
    }
}

/// The one change for a feature whose properties (only) differ.
fn diff_properties(thing_id: &str, fid: &str, before: &Value, after: &Value) -> Change {
    let (thing_id, feature_id) = (thing_id.to_string(), fid.to_string());
    let properties = after.get("properties").cloned().unwrap_or(Value::Null);
    let whole = Change::ModifyFeatureProperties {
        thing_id: thing_id.clone(),
        feature_id: feature_id.clone(),
        properties,
    };
    let (Some(b), Some(a)) = (grouped(before), grouped(after)) else {
        return whole;
    };
    let mut leaves = Vec::new();
    for group in PropertyGroup::ALL {
        let keys: BTreeSet<&String> = b[&group].keys().chain(a[&group].keys()).collect();
        for key in keys {
            let (old, new) = (b[&group].get(key), a[&group].get(key));
            if old != new {
                leaves.push((group, key.clone(), new.cloned()));
            }
        }
    }
    match leaves.as_slice() {
        [(group, key, Some(value))] => Change::ModifyFeatureProperty {
            thing_id,
            feature_id,
            group: *group,
            key: key.clone(),
            value: value.clone(),
        },
        [(group, key, None)] => Change::DeleteFeatureProperty {
            thing_id,
            feature_id,
            group: *group,
            key: key.clone(),
        },
        _ => whole,
    }
}

/// A feature's property groups, if its properties have exactly the mapping's
/// shape: an object holding the three groups as objects and nothing else.
fn grouped(feature: &Value) -> Option<BTreeMap<PropertyGroup, &Map<String, Value>>> {
    let properties = feature.get("properties")?.as_object()?;
    if properties.len() != PropertyGroup::ALL.len() {
        return None;
    }
    let groups = PropertyGroup::ALL
        .iter()
        .map(|g| Some((*g, properties.get(g.as_str())?.as_object()?)));
    groups.collect()
}
