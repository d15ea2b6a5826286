//! The MQTT face of the OTAU server core (otau.md §8): device publishes to
//! `config_otau` (the ACK) and `otau_in` (statuses) recorded exactly as the
//! HTTP writes are, and the value a (re)connecting device must receive —
//! the long poll's delivery rule without `If-Modified-Since`. Topics and the
//! broker are the driver's business (the `mqtt` module of fleetsim-io).

use std::sync::Arc;

use thiserror::Error;

use super::{cik_for, OtauAnswer, OtauServer};
use crate::message::{Body, Method, Request};
use crate::protocol::otau::wire::form_encode;
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

/// Why `$provision/<identity>` handed out no token: the HTTP status
/// `POST /provision/activate` answers (404 unknown identity, 409 already
/// activated, 403 another product, otau.md §4.5) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionRefusal {
    /// The status the HTTP route answers.
    pub status: u16,
    /// Its body.
    pub reason: String,
}

impl OtauServer {
    /// The device whose token (the MQTT CONNECT password, otau.md §8) is
    /// `token`, if it may be used now: the HTTP routes' authentication
    /// ([`OtauServer::device_of`] on `X-Exosite-CIK`), so the activation
    /// gate is the same on both.
    pub fn mqtt_device(&self, token: &str) -> Option<u64> {
        let mut req = Request::new(Method::Get, "/onep:v1/stack/alias");
        req.headers.insert("x-exosite-cik", token.to_string());
        self.device_of(&req)
    }

    /// Whether `token` names one of the devices, activated or not (the
    /// MQTT endpoint answers "not authorised" rather than "bad password").
    pub fn mqtt_token_known(&self, token: &str) -> bool {
        device_for_cik(token).is_some_and(|d| d < self.devices())
    }

    /// `$provision/<identity>` over MQTT (otau.md §8): the activation of the
    /// HTTP route (`POST /provision/activate` with `id=<identity>`, §4.5),
    /// with `host` (the TLS SNI name) in place of the `Host` header.
    pub fn mqtt_activate(
        &mut self,
        now: Time,
        identity: &str,
        host: Option<&str>,
    ) -> Result<String, ProvisionRefusal> {
        let mut req = Request::new(Method::Post, "/provision/activate");
        if let Some(h) = host {
            req.headers.insert("host", h.to_string());
        }
        req.headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        );
        req.body = Body::Bytes(form_encode(&[("id", identity)]).into_bytes().into());
        let resp = match self.handle(now, &req) {
            OtauAnswer::Ready(r) => r,
            OtauAnswer::Pending { .. } => {
                return Err(ProvisionRefusal {
                    status: 500,
                    reason: "activation did not answer".into(),
                })
            }
        };
        let body = String::from_utf8_lossy(resp.body.as_bytes())
            .trim()
            .to_string();
        match resp.status {
            200 => Ok(body),
            status => Err(ProvisionRefusal {
                status,
                reason: body,
            }),
        }
    }

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
