//! The MQTT face of the OTAU server core (otau.md §8): device publishes to
//! `config_otau` (the ACK) and `otau_in` (statuses) recorded exactly as the
//! HTTP writes are, and the value a (re)connecting device must receive —
//! the long poll's delivery rule without `If-Modified-Since`. Topics and the
//! broker are the driver's business (the `mqtt` module of fleetsim-io).

use std::sync::Arc;

use thiserror::Error;

use super::{cik_for, OtauServer};
use crate::time::Time;

/// Why a device publish was not recorded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MqttRefusal {
    /// No such device (the CIK of the topic names none of `0..n`).
    #[error("unknown device {0}")]
    UnknownDevice(u64),
}

/// The device number of a CIK made by [`cik_for`], if it is one.
pub fn device_for_cik(cik: &str) -> Option<u64> {
    let device = u64::from_str_radix(cik.get(..16)?, 16).ok()?;
    (cik == cik_for(device)).then_some(device)
}

impl OtauServer {
    /// A device published `value` to resource `alias` (QoS 1, before the
    /// PUBACK): recorded as the HTTP write path records it — `config_otau`
    /// equal to the cloud value is the ACK and clears "pending", `otau_in`
    /// is a status, other aliases are ignored.
    pub fn mqtt_publish(
        &mut self,
        now: Time,
        device: u64,
        alias: &str,
        value: &str,
    ) -> Result<(), MqttRefusal> {
        if device as usize >= self.slots.len() {
            return Err(MqttRefusal::UnknownDevice(device));
        }
        self.record(now, device, alias, value.to_string());
        Ok(())
    }

    /// The `config_otau` value `device` must be sent when it (re)connects,
    /// and when it was written: a cloud-written value not yet acknowledged
    /// (the long poll's rule, otau.md §4.2 and §8 "pending values are re-sent
    /// on connect"). With the `redeliver_acked` fault an acknowledged value
    /// is handed out once more, as the HTTP path does (and counted as
    /// delivered, so only once).
    pub fn mqtt_pending(&mut self, device: u64) -> Option<(Arc<str>, Time)> {
        let redeliver = self.faults.redeliver_acked;
        let slot = self.slots.get_mut(device as usize)?;
        let manifest = slot.manifest.clone()?;
        if slot.acked_at.is_some() {
            if !redeliver || slot.redelivered {
                return None;
            }
            slot.redelivered = true;
        }
        Some((manifest, slot.set_at))
    }
}
