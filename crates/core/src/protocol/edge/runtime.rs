//! The operations on a [`GatewayRuntime`] a scenario drives: edge devices
//! appear and disappear, FIs are discovered and removed, property values
//! change. Each checks the model's rules and leaves the runtime unchanged
//! when it refuses.

use std::collections::BTreeMap;

use serde_json::Value;

use super::mapping::{edge_thing_id, gateway_thing_id};
use super::model::{EdgeDevice, FunctionalItem, GatewayRuntime, ModelError, Owner};
use crate::ditto::id::check_thing_id;

fn check_thing(id: &str) -> Result<(), ModelError> {
    match check_thing_id(id) {
        Ok(_) => Ok(()),
        Err(why) => Err(ModelError::InvalidThingId {
            id: id.to_string(),
            why,
        }),
    }
}

impl GatewayRuntime {
    /// An empty runtime of the gateway with this serial number whose things
    /// live in `namespace`; refused if the gateway thing ID would be invalid.
    pub fn new(
        namespace: impl Into<String>,
        serial: impl Into<String>,
    ) -> Result<GatewayRuntime, ModelError> {
        let (namespace, serial) = (namespace.into(), serial.into());
        check_thing(&gateway_thing_id(&namespace, &serial))?;
        Ok(GatewayRuntime {
            namespace,
            serial,
            gateway_items: BTreeMap::new(),
            devices: BTreeMap::new(),
            item_device: BTreeMap::new(),
        })
    }

    /// The things' namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The gateway's serial number.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The FIs not tied to an edge device, by UID.
    pub fn gateway_items(&self) -> &BTreeMap<String, FunctionalItem> {
        &self.gateway_items
    }

    /// The edge devices, by Device FI UID.
    pub fn devices(&self) -> &BTreeMap<String, EdgeDevice> {
        &self.devices
    }

    /// The number of FIs (gateway FIs, Device FIs and device items).
    pub fn item_count(&self) -> usize {
        let per_device: usize = self.devices.values().map(|d| 1 + d.items.len()).sum();
        self.gateway_items.len() + per_device
    }

    /// Who the FI with this UID belongs to, if it exists.
    pub fn owner(&self, uid: &str) -> Option<Owner> {
        if self.gateway_items.contains_key(uid) {
            return Some(Owner::Gateway);
        }
        if self.devices.contains_key(uid) {
            return Some(Owner::Device);
        }
        self.item_device
            .get(uid)
            .map(|device| Owner::DeviceItem(device.clone()))
    }

    /// The FI with this UID, wherever it lives.
    pub fn item(&self, uid: &str) -> Option<&FunctionalItem> {
        match self.owner(uid)? {
            Owner::Gateway => self.gateway_items.get(uid),
            Owner::Device => self.devices.get(uid).map(|d| &d.info),
            Owner::DeviceItem(device) => self.devices.get(&device)?.items.get(uid),
        }
    }

    pub(super) fn item_mut(&mut self, uid: &str) -> Option<&mut FunctionalItem> {
        match self.owner(uid)? {
            Owner::Gateway => self.gateway_items.get_mut(uid),
            Owner::Device => self.devices.get_mut(uid).map(|d| &mut d.info),
            Owner::DeviceItem(device) => self.devices.get_mut(&device)?.items.get_mut(uid),
        }
    }

    fn check_new(&self, fi: &FunctionalItem) -> Result<(), ModelError> {
        fi.validate()?;
        match self.owner(&fi.uid) {
            Some(_) => Err(ModelError::DuplicateUid(fi.uid.clone())),
            None => Ok(()),
        }
    }

    /// Adds an FI of the gateway itself (a feature of the gateway thing).
    pub fn add_gateway_item(&mut self, fi: FunctionalItem) -> Result<(), ModelError> {
        self.check_new(&fi)?;
        self.gateway_items.insert(fi.uid.clone(), fi);
        Ok(())
    }

    /// Connects an edge device: its Device FI and its device items (one
    /// edge thing). All or nothing.
    pub fn add_edge_device(
        &mut self,
        info: FunctionalItem,
        items: Vec<FunctionalItem>,
    ) -> Result<(), ModelError> {
        self.check_new(&info)?;
        check_thing(&edge_thing_id(&self.namespace, &self.serial, &info.uid))?;
        let mut by_uid = BTreeMap::new();
        for fi in items {
            self.check_new(&fi)?;
            if fi.uid == info.uid || by_uid.contains_key(&fi.uid) {
                return Err(ModelError::DuplicateUid(fi.uid));
            }
            by_uid.insert(fi.uid.clone(), fi);
        }
        for uid in by_uid.keys() {
            self.item_device.insert(uid.clone(), info.uid.clone());
        }
        let device = EdgeDevice {
            info,
            items: by_uid,
        };
        self.devices.insert(device.info.uid.clone(), device);
        Ok(())
    }

    /// Adds a newly discovered device item to an edge device.
    pub fn add_device_item(&mut self, device: &str, fi: FunctionalItem) -> Result<(), ModelError> {
        self.check_new(&fi)?;
        let Some(edge) = self.devices.get_mut(device) else {
            return Err(ModelError::UnknownDevice(device.to_string()));
        };
        self.item_device.insert(fi.uid.clone(), device.to_string());
        edge.items.insert(fi.uid.clone(), fi);
        Ok(())
    }

    /// Disconnects an edge device with all its device items.
    pub fn remove_edge_device(&mut self, device: &str) -> Result<EdgeDevice, ModelError> {
        let removed = self
            .devices
            .remove(device)
            .ok_or_else(|| ModelError::UnknownDevice(device.to_string()))?;
        for uid in removed.items.keys() {
            self.item_device.remove(uid);
        }
        Ok(removed)
    }

    /// Removes a gateway FI or a device item (not a Device FI: see
    /// [`GatewayRuntime::remove_edge_device`]).
    pub fn remove_item(&mut self, uid: &str) -> Result<FunctionalItem, ModelError> {
        let removed = match self.owner(uid) {
            None => None,
            Some(Owner::Device) => return Err(ModelError::IsDevice(uid.to_string())),
            Some(Owner::Gateway) => self.gateway_items.remove(uid),
            Some(Owner::DeviceItem(device)) => {
                self.item_device.remove(uid);
                self.devices
                    .get_mut(&device)
                    .and_then(|d| d.items.remove(uid))
            }
        };
        removed.ok_or_else(|| ModelError::UnknownItem(uid.to_string()))
    }

    /// The device (or gateway) changes a property value itself: the
    /// writable or read-only property `key` of the FI takes `value`.
    /// Returns the previous value. A property the FI does not have is
    /// refused: FIs do not grow properties at run time.
    pub fn set_property(
        &mut self,
        uid: &str,
        key: &str,
        value: Value,
    ) -> Result<Value, ModelError> {
        let Some(fi) = self.item_mut(uid) else {
            return Err(ModelError::UnknownItem(uid.to_string()));
        };
        let slot = match fi.writable.get_mut(key) {
            Some(slot) => Some(slot),
            None => fi.read_only.get_mut(key),
        };
        match slot {
            Some(slot) => Ok(std::mem::replace(slot, value)),
            None => Err(ModelError::UnknownProperty {
                uid: uid.to_string(),
                key: key.to_string(),
            }),
        }
    }
}
