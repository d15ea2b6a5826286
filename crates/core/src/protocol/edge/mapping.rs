//! The seed-002 mapping of a gateway runtime to things and features, as
//! pure functions.
//!
//! - Gateway thing `<namespace>:<gateway serial>`, `thing.type` `Gateway`:
//!   its features are the FIs not tied to an edge device.
//! - Edge thing `<namespace>:<gateway serial>:<Device FI UID>`,
//!   `thing.type` `EdgeDevice`: feature `DeviceInfo` is the Device FI, the
//!   other features are its device items. The seed's "Device FI ID" is read
//!   as the Device FI's UID (the only identifier an FI has), joined with a
//!   single `:` as the seed's text says (its example's `[::DEVICE_FI_ID]`
//!   is taken as "optionally `:` and the ID").
//! - Feature ID of a device item or gateway FI: its ShortInterfaceName (the
//!   last `:` segment of the UID). Collisions within one thing are settled by
//!   [`assign_feature_ids`].
//! - Feature JSON: `definition` `[<Vorto type>]`; `properties.attributes` the
//!   FI attributes; `properties.configuration` `name`, `tags` and the
//!   writable properties; `properties.status` the read-only properties. All
//!   three groups are always present (empty objects when empty), so every
//!   feature has the same shape.
//! - Thing attributes: `thing.type`, `mapping.version` ([`MAPPING_VERSION`], a string),
//!   `gateway.id` (the serial) and, on edge things, `device.id` (the Device
//!   FI UID). Attribute values are plain strings, not IDs, so not encoded.
//! - The name parts of thing IDs (serial, Device FI UID) and feature IDs are
//!   ID-encoded (`/ ? # * , space % "` and control characters become
//!   `%XX`); the namespace is not (Ditto's namespace rule admits none of
//!   them). As the encoding never touches `:`, encoding the parts equals
//!   encoding the joined ID.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::model::{short_interface_name, FunctionalItem, GatewayRuntime, Owner};
use crate::ditto::id::encode;

/// The version of this FI-to-thing mapping (thing attribute `mapping.version`).
pub const MAPPING_VERSION: &str = "1";

/// The feature ID of a Device FI.
pub const DEVICE_INFO: &str = "DeviceInfo";

/// The kind of a thing (thing attribute `thing.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ThingType {
    /// The gateway runtime.
    Gateway,
    /// An edge device (a Device FI).
    EdgeDevice,
}

impl ThingType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            ThingType::Gateway => "Gateway",
            ThingType::EdgeDevice => "EdgeDevice",
        }
    }
}

/// One part of a thing or feature ID, encoded as the seed says.
fn id_part(raw: &str) -> String {
    encode(raw)
}

/// The gateway thing ID: `<namespace>:<serial>`.
pub fn gateway_thing_id(namespace: &str, serial: &str) -> String {
    format!("{namespace}:{}", id_part(serial))
}

/// The edge thing ID: `<namespace>:<gateway serial>:<Device FI UID>`.
pub fn edge_thing_id(namespace: &str, serial: &str, device_uid: &str) -> String {
    format!(
        "{}:{}",
        gateway_thing_id(namespace, serial),
        id_part(device_uid)
    )
}

/// Feature IDs for the FIs of one thing, by UID (`reserved` is a feature ID
/// already taken, [`DEVICE_INFO`] on an edge thing).
///
/// The rule, a pure function of the set of UIDs:
/// 1. Each FI's base is its encoded ShortInterfaceName.
/// 2. For each base, the FI with the smallest UID (byte order) gets the bare
///    base, unless the base is `reserved`.
/// 3. Every other FI, in UID order, gets `<base>_<n>` with the smallest
///    `n ≥ 2` that is not yet taken by any bare or suffixed ID.
///
/// Step 3 checks against all IDs, so an FI whose own short name is
/// `Config_2` cannot clash with a suffixed `Config`.
pub fn assign_feature_ids<'a>(
    reserved: Option<&str>,
    uids: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<String, String> {
    let uids: BTreeSet<&str> = uids.into_iter().collect();
    let mut taken: BTreeSet<String> = reserved.iter().map(|r| r.to_string()).collect();
    let mut ids = BTreeMap::new();
    let mut rest = Vec::new();
    for uid in &uids {
        let base = id_part(short_interface_name(uid));
        if taken.insert(base.clone()) {
            ids.insert(uid.to_string(), base);
        } else {
            rest.push((*uid, base));
        }
    }
    let mut next: BTreeMap<String, u64> = BTreeMap::new();
    for (uid, base) in rest {
        let n = next.entry(base.clone()).or_insert(2);
        let id = loop {
            let candidate = format!("{base}_{n}");
            *n += 1;
            if taken.insert(candidate.clone()) {
                break candidate;
            }
        };
        ids.insert(uid.to_string(), id);
    }
    ids
}

/// The feature JSON of one FI (see the module doc).
pub fn feature_json(fi: &FunctionalItem) -> Value {
    let mut configuration = Map::new();
    configuration.insert("name".into(), Value::String(fi.name.clone()));
    configuration.insert("tags".into(), json!(fi.tags));
    configuration.extend(fi.writable.iter().map(|(k, v)| (k.clone(), v.clone())));
    json!({
        "definition": [fi.definition.to_string()],
        "properties": {
            "attributes": fi.attributes,
            "configuration": configuration,
            "status": fi.read_only,
        }
    })
}

/// One thing of a runtime: its ID, type, features (feature ID → FI UID) and
/// JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct MappedThing {
    /// The (encoded) thing ID.
    pub thing_id: String,
    /// Gateway or edge device.
    pub thing_type: ThingType,
    /// The Device FI UID of an edge thing.
    pub device_uid: Option<String>,
    /// Feature ID → FI UID.
    pub features: BTreeMap<String, String>,
    /// The thing JSON (seed "Example mapping", ditto.md §4).
    pub json: Value,
}

fn thing(
    rt: &GatewayRuntime,
    device: Option<&FunctionalItem>,
    items: &BTreeMap<String, FunctionalItem>,
) -> MappedThing {
    let reserved = device.map(|_| DEVICE_INFO);
    let ids = assign_feature_ids(reserved, items.keys().map(String::as_str));
    let mut features: BTreeMap<String, String> = ids
        .iter()
        .map(|(uid, fid)| (fid.clone(), uid.clone()))
        .collect();
    let mut json_features: Map<String, Value> = ids
        .iter()
        .map(|(uid, fid)| (fid.clone(), feature_json(&items[uid])))
        .collect();
    let mut attributes = json!({
        "thing.type": ThingType::Gateway.as_str(),
        "mapping.version": MAPPING_VERSION,
        "gateway.id": rt.serial(),
    });
    let (thing_id, thing_type) = match device {
        Some(info) => {
            features.insert(DEVICE_INFO.to_string(), info.uid.clone());
            json_features.insert(DEVICE_INFO.to_string(), feature_json(info));
            attributes["thing.type"] = json!(ThingType::EdgeDevice.as_str());
            attributes["device.id"] = json!(info.uid);
            (
                edge_thing_id(rt.namespace(), rt.serial(), &info.uid),
                ThingType::EdgeDevice,
            )
        }
        None => (
            gateway_thing_id(rt.namespace(), rt.serial()),
            ThingType::Gateway,
        ),
    };
    let json = json!({"thingId": thing_id, "attributes": attributes, "features": json_features});
    MappedThing {
        thing_id,
        thing_type,
        device_uid: device.map(|d| d.uid.clone()),
        features,
        json,
    }
}

/// All things of a runtime: the gateway thing first, then one edge thing per
/// edge device in Device FI UID order.
pub fn map_runtime(rt: &GatewayRuntime) -> Vec<MappedThing> {
    let gateway = thing(rt, None, rt.gateway_items());
    let edges = rt
        .devices()
        .values()
        .map(|d| thing(rt, Some(&d.info), &d.items));
    std::iter::once(gateway).chain(edges).collect()
}

/// Every feature of a runtime as (thing ID, feature ID, feature JSON), in
/// thing then feature ID order of [`map_runtime`].
pub fn features(rt: &GatewayRuntime) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for thing in map_runtime(rt) {
        for (fid, feature) in thing.json["features"].as_object().into_iter().flatten() {
            out.push((thing.thing_id.clone(), fid.clone(), feature.clone()));
        }
    }
    out
}

/// The part of a runtime that makes one thing: the gateway's own FIs, or
/// one edge device (by Device FI UID).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// The gateway thing.
    Gateway,
    /// The edge thing of this Device FI UID.
    Device(String),
}

impl Scope {
    /// The scope of the FI `uid` in `rt`: a change to that FI changes only
    /// this scope's thing.
    pub fn of(rt: &GatewayRuntime, uid: &str) -> Option<Scope> {
        Some(match rt.owner(uid)? {
            Owner::Gateway => Scope::Gateway,
            Owner::Device => Scope::Device(uid.to_string()),
            Owner::DeviceItem(device) => Scope::Device(device),
        })
    }

    /// The scope's thing ID in `rt` (whether or not the device exists).
    pub fn thing_id(&self, rt: &GatewayRuntime) -> String {
        match self {
            Scope::Gateway => gateway_thing_id(rt.namespace(), rt.serial()),
            Scope::Device(uid) => edge_thing_id(rt.namespace(), rt.serial(), uid),
        }
    }

    /// The scope whose thing has this ID, if it exists in `rt`.
    pub fn find(rt: &GatewayRuntime, thing_id: &str) -> Option<Scope> {
        if thing_id == Scope::Gateway.thing_id(rt) {
            return Some(Scope::Gateway);
        }
        let mut devices = rt.devices().keys();
        let device =
            devices.find(|uid| edge_thing_id(rt.namespace(), rt.serial(), uid) == thing_id)?;
        Some(Scope::Device(device.clone()))
    }
}

/// The one thing of `scope` (`None` for a device the runtime does not have).
pub fn map_thing(rt: &GatewayRuntime, scope: &Scope) -> Option<MappedThing> {
    match scope {
        Scope::Gateway => Some(thing(rt, None, rt.gateway_items())),
        Scope::Device(uid) => rt
            .devices()
            .get(uid)
            .map(|d| thing(rt, Some(&d.info), &d.items)),
    }
}

/// The thing ID and feature ID of the FI `uid` in `rt` — what
/// [`map_thing`] gives it, without building the thing's JSON.
pub fn feature_of(rt: &GatewayRuntime, uid: &str) -> Option<(String, String)> {
    let scope = Scope::of(rt, uid)?;
    let thing_id = scope.thing_id(rt);
    let feature_id = match &scope {
        Scope::Device(device) if device == uid => DEVICE_INFO.to_string(),
        Scope::Device(device) => {
            let items = &rt.devices().get(device)?.items;
            let mut ids = assign_feature_ids(Some(DEVICE_INFO), items.keys().map(String::as_str));
            ids.remove(uid)?
        }
        Scope::Gateway => {
            let items = rt.gateway_items().keys().map(String::as_str);
            assign_feature_ids(None, items).remove(uid)?
        }
    };
    Some((thing_id, feature_id))
}

/// The FI UID behind a thing's feature (where a command addressed to
/// `thing_id`/`feature_id` goes), if there is one. Maps only that thing.
pub fn locate(rt: &GatewayRuntime, thing_id: &str, feature_id: &str) -> Option<String> {
    let thing = map_thing(rt, &Scope::find(rt, thing_id)?)?;
    thing.features.get(feature_id).cloned()
}
