//! The Functional Item (FI) model of a gateway runtime (seed 002): the
//! gateway's own FIs, and per edge device a Device FI plus the device items
//! that belong to it.
//!
//! Every FI is identified by its UID (`da:item:Cameras:1:Configuration`),
//! has a Vorto type (`namespace:type:version`), a name, tags, attributes,
//! writable properties and read-only properties. Maps are `BTreeMap`s so
//! that everything derived from a runtime (thing JSON, diffs, digests) is
//! deterministic. The mapping to things and features is in
//! [`super::mapping`]; commands from the twin side are in [`super::command`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use crate::ditto::id::{check_json_key, IdError};

/// Configuration keys the mapping itself uses: an FI property of that name
/// would be overwritten by (or overwrite) the FI's own name or tags in
/// `properties.configuration`, so the model refuses it.
pub const RESERVED_KEYS: [&str; 2] = ["name", "tags"];

/// Why a change to the model was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A UID is empty or ends with `:` (no ShortInterfaceName). Any other
    /// character is fine: IDs built from it are encoded.
    #[error("invalid FI UID {0:?}: it needs a non-empty last `:` segment")]
    InvalidUid(String),
    /// The namespace, serial or a Device FI UID makes a thing ID Ditto
    /// refuses (bad namespace, empty serial, longer than 256 characters).
    #[error("thing ID {id:?} is invalid: {why}")]
    InvalidThingId {
        /// The (encoded) thing ID.
        id: String,
        /// Ditto's rule it breaks.
        why: IdError,
    },
    /// The type is not `namespace:type:version` of `[_a-zA-Z0-9-.]` parts,
    /// which Ditto demands of a feature definition.
    #[error("invalid FI type {0:?}: expected namespace:type:version")]
    InvalidDefinition(String),
    /// A property or attribute key Ditto would reject as a JSON key (empty,
    /// `/`, control characters U+0000–001F and U+007F–00FF; see
    /// [`check_json_key`]) or a property key of [`RESERVED_KEYS`].
    #[error("invalid key {key:?} in FI {uid}")]
    InvalidKey {
        /// The FI.
        uid: String,
        /// The refused key.
        key: String,
    },
    /// A key is both writable and read-only.
    #[error("key {key:?} of FI {uid} is both writable and read-only")]
    AmbiguousKey {
        /// The FI.
        uid: String,
        /// The key.
        key: String,
    },
    /// Another FI of the runtime already has this UID.
    #[error("duplicate FI UID {0}")]
    DuplicateUid(String),
    /// No FI has this UID.
    #[error("no FI {0}")]
    UnknownItem(String),
    /// No edge device has this Device FI UID.
    #[error("no edge device {0}")]
    UnknownDevice(String),
    /// A Device FI cannot be removed as an item: remove the edge device.
    #[error("{0} is a Device FI: remove the edge device instead")]
    IsDevice(String),
    /// The FI has no property of that name.
    #[error("FI {uid} has no property {key:?}")]
    UnknownProperty {
        /// The FI.
        uid: String,
        /// The key.
        key: String,
    },
}

/// An FI's Vorto type, `namespace:type:version`; it becomes the feature's
/// `definition`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Definition {
    /// Vorto namespace, e.g. `com.bosch.iot.gateway`.
    pub namespace: String,
    /// Vorto type, e.g. `Camera`.
    pub name: String,
    /// Vorto version, e.g. `1.0.0`.
    pub version: String,
}

impl Definition {
    /// Parses `namespace:type:version`, each part `[_a-zA-Z0-9\-.]+` (the
    /// rule Ditto applies to a feature definition identifier).
    pub fn parse(text: &str) -> Result<Definition, ModelError> {
        let part_ok = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        };
        let parts: Vec<&str> = text.split(':').collect();
        match parts.as_slice() {
            [ns, name, ver] if parts.iter().all(|p| part_ok(p)) => Ok(Definition {
                namespace: ns.to_string(),
                name: name.to_string(),
                version: ver.to_string(),
            }),
            _ => Err(ModelError::InvalidDefinition(text.to_string())),
        }
    }
}

impl fmt::Display for Definition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.namespace, self.name, self.version)
    }
}

/// One Functional Item. Build it with [`FunctionalItem::new`] and the
/// chained setters; the runtime checks it when it is added.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionalItem {
    /// The FI UID, e.g. `da:item:Cameras:1:Configuration`.
    pub uid: String,
    /// Its Vorto type.
    pub definition: Definition,
    /// Its name (`properties.configuration.name`).
    pub name: String,
    /// Its tags (`properties.configuration.tags`), sorted and unique.
    pub tags: BTreeSet<String>,
    /// Attributes (`properties.attributes`).
    pub attributes: BTreeMap<String, Value>,
    /// Readable and writable properties (`properties.configuration`).
    pub writable: BTreeMap<String, Value>,
    /// Read-only properties (`properties.status`).
    pub read_only: BTreeMap<String, Value>,
}

impl FunctionalItem {
    /// An FI with no name, tags, attributes or properties.
    pub fn new(uid: impl Into<String>, definition: Definition) -> FunctionalItem {
        FunctionalItem {
            uid: uid.into(),
            definition,
            name: String::new(),
            tags: BTreeSet::new(),
            attributes: BTreeMap::new(),
            writable: BTreeMap::new(),
            read_only: BTreeMap::new(),
        }
    }

    /// Sets the name.
    pub fn named(mut self, name: impl Into<String>) -> FunctionalItem {
        self.name = name.into();
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, tag: impl Into<String>) -> FunctionalItem {
        self.tags.insert(tag.into());
        self
    }

    /// Sets an attribute.
    pub fn attribute(mut self, key: impl Into<String>, value: Value) -> FunctionalItem {
        self.attributes.insert(key.into(), value);
        self
    }

    /// Sets a writable property.
    pub fn writable(mut self, key: impl Into<String>, value: Value) -> FunctionalItem {
        self.writable.insert(key.into(), value);
        self
    }

    /// Sets a read-only property.
    pub fn read_only(mut self, key: impl Into<String>, value: Value) -> FunctionalItem {
        self.read_only.insert(key.into(), value);
        self
    }

    /// The ShortInterfaceName: the last `:` segment of the UID.
    pub fn short_name(&self) -> &str {
        short_interface_name(&self.uid)
    }

    /// Checks the UID and every key (see [`ModelError`]).
    pub fn validate(&self) -> Result<(), ModelError> {
        validate_uid(&self.uid)?;
        let bad = |key: &String, reserved: bool| {
            let reserved = reserved && RESERVED_KEYS.contains(&key.as_str());
            reserved || check_json_key(key).is_err()
        };
        let refuse = |key: &String| ModelError::InvalidKey {
            uid: self.uid.clone(),
            key: key.clone(),
        };
        if let Some(key) = self.attributes.keys().find(|k| bad(k, false)) {
            return Err(refuse(key));
        }
        let props = self.writable.keys().chain(self.read_only.keys());
        if let Some(key) = props.clone().find(|k| bad(k, true)) {
            return Err(refuse(key));
        }
        if let Some(key) = self
            .writable
            .keys()
            .find(|k| self.read_only.contains_key(*k))
        {
            return Err(ModelError::AmbiguousKey {
                uid: self.uid.clone(),
                key: key.clone(),
            });
        }
        Ok(())
    }
}

/// The ShortInterfaceName of a UID: its last `:` segment
/// (`da:item:Cameras:1:Configuration` → `Configuration`).
pub fn short_interface_name(uid: &str) -> &str {
    uid.rsplit(':').next().unwrap_or(uid)
}

fn validate_uid(uid: &str) -> Result<(), ModelError> {
    if short_interface_name(uid).is_empty() {
        return Err(ModelError::InvalidUid(uid.to_string()));
    }
    Ok(())
}

/// Who an FI belongs to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    /// The gateway itself: a feature of the gateway thing.
    Gateway,
    /// It is the Device FI of an edge device (`DeviceInfo` of its thing).
    Device,
    /// A device item of the edge device with this Device FI UID.
    DeviceItem(String),
}

/// An edge device: its Device FI and its device items by UID.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeDevice {
    /// The Device FI.
    pub info: FunctionalItem,
    /// The device items, by UID.
    pub items: BTreeMap<String, FunctionalItem>,
}

/// A gateway runtime: serial number, namespace, the gateway's own FIs and
/// its edge devices. FI UIDs are unique across the whole runtime.
#[derive(Clone, Debug, PartialEq)]
pub struct GatewayRuntime {
    pub(super) namespace: String,
    pub(super) serial: String,
    pub(super) gateway_items: BTreeMap<String, FunctionalItem>,
    pub(super) devices: BTreeMap<String, EdgeDevice>,
    /// Device item UID → its edge device's Device FI UID (an index over
    /// `devices`, so finding an FI's owner does not scan every device).
    pub(super) item_device: BTreeMap<String, String>,
}
