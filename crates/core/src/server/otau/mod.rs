//! The embedded OTAU server core (otau.md §4, §10): the Murano HTTP device
//! API as far as OTAU uses it, sans-IO.
//!
//! Contract: [`OtauServer::handle`]`(now, &request)` answers at once
//! ([`OtauAnswer::Ready`]) or, for a long poll that must wait,
//! [`OtauAnswer::Pending`]`{ until }`. The caller keeps the request and
//! re-asks with [`OtauServer::poll_pending`]`(now, &request, until)` at
//! `until` and after every [`OtauServer::set_manifest`] for that device
//! (whose return value says which device to wake); `poll_pending` gives
//! `Some(response)` once the poll is answered (200 with the new value, or 304
//! at `until`) and `None` while it must keep waiting. The server keeps no
//! per-request state, so a dropped poll costs nothing.
//!
//! Devices are numbered `0..n` and identified by a CIK derived from the number
//! ([`cik_for`]), so no lookup table is needed; `POST /provision/activate`
//! hands it to the device's identity ([`identity_for`], see `provision.rs`,
//! otau.md §4.5). Delivery rule (otau.md §4.2):
//! a long poll returns 200 at once iff `config_otau` holds a cloud-written
//! value newer than `If-Modified-Since` and not yet acknowledged by a device
//! write of the same value. Writes are accepted whatever their
//! `Content-Type` (otau.md §4.3 allows 415 but the seed always sends it);
//! statuses are stored unvalidated and judged by the oracle, not with 4xx
//! (otau.md §10.9). [`OtauFaults`] break these rules on purpose so the
//! oracle's OTAU invariants can be seen to fire.
//!
//! The MQTT variant (otau.md §8) shares the same state: device publishes go
//! through [`OtauServer::mqtt_publish`], and [`OtauServer::mqtt_pending`]
//! tells what a (re)connecting device must be sent (see `mqtt.rs`).

use std::sync::Arc;

use crate::artifact::Catalog;
use crate::message::{Body, Headers, Method, Request, Response};
use crate::protocol::otau::wire::{
    form_decode, form_encode, http_date, parse_ims, MAX_REQUEST_TIMEOUT_MS,
};
use crate::time::{Span, Time};

mod content;
mod mqtt;
mod provision;

pub use content::ContentEntry;
pub use mqtt::{device_for_cik, MqttRefusal, ProvisionRefusal};
pub use provision::{device_for_identity, identity_for, is_product_id, DEFAULT_PRODUCT};

/// Status reports kept per device; later ones are only counted. A seed
/// cycle writes 9, so this holds several campaigns while bounding memory
/// at 100 000 devices.
const MAX_STATUSES: usize = 64;
/// Bytes of status text kept per device (a seed status is ~150 bytes, so
/// [`MAX_STATUSES`] of them fit many times over); later ones are only
/// counted. Without it a device writing 1 MiB values (the body and MQTT
/// payload limit) would make the server keep 64 MiB.
const MAX_STATUS_BYTES: usize = 64 * 1024;

/// Deliberate protocol violations of the server, one per OTAU invariant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OtauFaults {
    /// Answer the first long poll after a change 304 although an
    /// unacknowledged newer value is pending (fires OTAU-304).
    pub not_modified_after_change: bool,
    /// Answer a status write mid-update with 200 `config_otau=<newer value>`,
    /// handing out a new manifest before the running one ended (OTAU-OVERLAP).
    pub overlap_manifest: bool,
    /// Deliver an acknowledged value once more (OTAU-REDELIVER).
    pub redeliver_acked: bool,
    /// Serve other bytes than the info line describes (OTAU-CONTENT).
    pub wrong_content: bool,
    /// Answer content downloads `410 Gone` (OTAU-SERVED).
    pub content_gone: bool,
}

/// The answer to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OtauAnswer {
    /// Send this now.
    Ready(Response),
    /// A long poll that waits: re-ask with [`OtauServer::poll_pending`] at
    /// `until` or when the device's manifest changes.
    Pending {
        /// When the poll times out (answered 304).
        until: Time,
    },
}

/// One `otau_in` write as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusRecord {
    /// When it was received.
    pub at: Time,
    /// The form-decoded value (a status report JSON string, unvalidated).
    pub value: Box<str>,
}

/// Per-device state: a few words plus the status history.
#[derive(Clone, Debug, Default)]
struct Slot {
    /// Cloud-written `config_otau` value (shared between devices of a campaign).
    manifest: Option<Arc<str>>,
    set_at: Time,
    acked_at: Option<Time>,
    redelivered: bool,
    /// The `not_modified_after_change` fault has hidden this value once.
    hidden: bool,
    overwrites: u32,
    statuses: Vec<StatusRecord>,
    /// Bytes of the values in `statuses`.
    status_bytes: usize,
    dropped_statuses: u64,
    /// `POST /provision/activate` handed out the token (or pre-provisioned).
    activated: bool,
}

/// The OTAU server core.
#[derive(Debug, Default)]
pub struct OtauServer {
    slots: Vec<Slot>,
    contents: std::collections::BTreeMap<String, ContentEntry>,
    catalog: Catalog,
    /// Deliberate violations.
    pub faults: OtauFaults,
    /// The products and which devices each holds (`provision.rs`).
    products: provision::Products,
    /// Tokens work only once activated.
    activation_required: bool,
}

/// The CIK of device `n`: 16 hex digits of `n` then 24 of a keyed hash —
/// 40 characters like a Murano token, deterministic, cheap to check.
pub fn cik_for(device: u64) -> String {
    let a = xxhash_rust::xxh3::xxh3_64_with_seed(&device.to_le_bytes(), 0x07a0);
    let b = xxhash_rust::xxh3::xxh3_64_with_seed(&device.to_le_bytes(), 0x07a1) as u32;
    format!("{device:016x}{a:016x}{b:08x}")
}

pub use crate::protocol::otau::wire::unix_secs;

const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

fn text(status: u16, body: &str) -> Response {
    Response {
        status,
        headers: Headers::new().with("content-type", "text/plain; charset=utf-8"),
        body: Body::Bytes(body.as_bytes().to_vec().into()),
    }
}

impl OtauServer {
    /// A server for devices `0..devices`.
    pub fn new(devices: u64) -> OtauServer {
        OtauServer {
            slots: vec![Slot::default(); devices as usize],
            products: provision::Products::new(DEFAULT_PRODUCT),
            ..OtauServer::default()
        }
    }

    /// Number of devices (`0..n`).
    pub fn devices(&self) -> u64 {
        self.slots.len() as u64
    }

    /// Contents, for clients verifying synthetic downloads.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Registers and hashes synthetic content `content` of `size` bytes
    /// ahead of the campaign that will upload it, so a long-lived server
    /// does not hash it under the lock of the request that first asks.
    pub fn prepare_content(&mut self, content: crate::message::ContentId, size: u64) {
        let _: &crate::artifact::Hashes = &self.catalog.register(content, size).hashes;
    }

    /// Writes `config_otau` of `device` as the application would (a new
    /// campaign); an earlier unacknowledged value is replaced. Returns whether
    /// the device exists; its waiting long polls must be re-asked.
    pub fn set_manifest(&mut self, device: u64, manifest: Arc<str>, now: Time) -> bool {
        let Some(slot) = self.slots.get_mut(device as usize) else {
            return false;
        };
        slot.manifest = Some(manifest);
        slot.set_at = now;
        slot.acked_at = None;
        slot.redelivered = false;
        slot.hidden = false;
        true
    }

    /// [`OtauServer::set_manifest`] for every device.
    pub fn set_manifest_all(&mut self, manifest: &str, now: Time) {
        let shared: Arc<str> = Arc::from(manifest);
        for d in 0..self.slots.len() as u64 {
            self.set_manifest(d, shared.clone(), now);
        }
    }

    /// The `otau_in` values `device` wrote, oldest first (at most 64).
    pub fn statuses(&self, device: u64) -> &[StatusRecord] {
        self.slots.get(device as usize).map_or(&[], |s| &s.statuses)
    }

    /// `otau_in` writes of `device` beyond the 64 (or 64 KiB) kept.
    pub fn dropped_statuses(&self, device: u64) -> u64 {
        self.slots
            .get(device as usize)
            .map_or(0, |s| s.dropped_statuses)
    }

    /// When `device` acknowledged its current manifest.
    pub fn acked_at(&self, device: u64) -> Option<Time> {
        self.slots.get(device as usize)?.acked_at
    }

    /// Device writes of `config_otau` that differed from the cloud value.
    pub fn overwrites(&self, device: u64) -> u32 {
        self.slots.get(device as usize).map_or(0, |s| s.overwrites)
    }

    /// Handles one device request.
    pub fn handle(&mut self, now: Time, req: &Request) -> OtauAnswer {
        if req.path() == "/provision/activate" {
            return OtauAnswer::Ready(self.activate(now, req));
        }
        let Some(device) = self.device_of(req) else {
            return OtauAnswer::Ready(text(401, "No or invalid CIK"));
        };
        let ready = OtauAnswer::Ready;
        match (req.path(), req.method) {
            ("/onep:v1/stack/alias", Method::Get) => self.read(now, req, device, None),
            ("/onep:v1/stack/alias", Method::Post) => ready(self.write(now, req, device)),
            ("/provision/download", Method::Get) => ready(self.download(now, req)),
            ("/timestamp", Method::Get) => ready(text(200, &unix_secs(now).to_string())),
            ("/onep:v1/stack/alias" | "/provision/download" | "/timestamp", _) => {
                ready(Response::status(405))
            }
            _ => ready(text(404, "not found")),
        }
    }

    /// Re-asks a long poll that was answered [`OtauAnswer::Pending`] with
    /// `until`: `Some` when it is answered now, `None` while it waits.
    pub fn poll_pending(&mut self, now: Time, req: &Request, until: Time) -> Option<Response> {
        let device = self.device_of(req)?;
        match self.read(now, req, device, Some(until)) {
            OtauAnswer::Ready(r) => Some(r),
            OtauAnswer::Pending { .. } => None,
        }
    }

    /// The device a request authenticates as: `X-Exosite-CIK: <cik>` or
    /// `Authorization: token <cik>` (otau.md §4); `None` without a valid CIK
    /// (one of another product than a Murano-shaped `Host` names included).
    pub fn device_of(&self, req: &Request) -> Option<u64> {
        let cik = match req.headers.get("x-exosite-cik") {
            Some(c) => c,
            None => req.headers.get("authorization")?.strip_prefix("token ")?,
        };
        device_for_cik(cik)
            .filter(|d| (*d as usize) < self.slots.len() && self.may_use_token(*d, req))
    }

    /// `GET /onep:v1/stack/alias?<aliases>` (otau.md §4.1, §7).
    fn read(&mut self, now: Time, req: &Request, device: u64, until: Option<Time>) -> OtauAnswer {
        let query = req.path_and_query().split_once('?').map_or("", |(_, q)| q);
        let aliases: Vec<&str> = query
            .split('&')
            .filter(|a| !a.is_empty())
            .map(|a| a.split_once('=').map_or(a, |(k, _)| k))
            .collect();
        let bad = |msg: &str| OtauAnswer::Ready(text(400, msg));
        let Some(timeout) = req.headers.get("request-timeout") else {
            return OtauAnswer::Ready(self.plain_read(device, &aliases));
        };
        let Some(timeout_ms) = timeout
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|t| *t <= MAX_REQUEST_TIMEOUT_MS)
        else {
            return bad("Request-Timeout must be an integer of at most 300000");
        };
        let [alias] = aliases.as_slice() else {
            return bad("only one resource may be read when long polling");
        };
        let ims = match req.headers.get("if-modified-since") {
            None => unix_secs(now),
            Some(v) => match parse_ims(v) {
                Some(ims) => ims,
                None => return bad("If-Modified-Since is not a timestamp or HTTP-date"),
            },
        };
        let until = until.unwrap_or(now + Span::millis(timeout_ms));
        if *alias == "config_otau" && self.deliverable(device, ims) {
            let slot = &mut self.slots[device as usize];
            if self.faults.not_modified_after_change && !slot.hidden {
                slot.hidden = true;
                return OtauAnswer::Ready(Response::status(304));
            }
            return OtauAnswer::Ready(self.deliver(device));
        }
        if now >= until {
            OtauAnswer::Ready(Response::status(304))
        } else {
            OtauAnswer::Pending { until }
        }
    }

    /// A read without `Request-Timeout`: 200 with the values, 204 when none
    /// of the aliases has a value ("not found is not an error", otau.md §4).
    fn plain_read(&self, device: u64, aliases: &[&str]) -> Response {
        let slot = &self.slots[device as usize];
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for alias in aliases {
            match *alias {
                "config_otau" => {
                    if let Some(m) = &slot.manifest {
                        pairs.push(("config_otau", m));
                    }
                }
                "otau_in" => {
                    if let Some(s) = slot.statuses.last() {
                        pairs.push(("otau_in", &s.value));
                    }
                }
                _ => {}
            }
        }
        if pairs.is_empty() {
            return Response::status(204);
        }
        form_response(&form_encode(&pairs), None)
    }

    fn deliverable(&self, device: u64, ims: u64) -> bool {
        let slot = &self.slots[device as usize];
        let newer = slot.manifest.is_some() && unix_secs(slot.set_at) > ims;
        let redeliver = self.faults.redeliver_acked && !slot.redelivered;
        newer && (slot.acked_at.is_none() || redeliver)
    }

    /// 200 `config_otau=<value>` with `Last-Modified`.
    fn deliver(&mut self, device: u64) -> Response {
        let slot = &mut self.slots[device as usize];
        if slot.acked_at.is_some() {
            slot.redelivered = true;
        }
        let value = slot.manifest.clone().unwrap_or_else(|| Arc::from(""));
        form_response(
            &form_encode(&[("config_otau", &value)]),
            Some(unix_secs(slot.set_at)),
        )
    }

    /// `POST /onep:v1/stack/alias` (otau.md §4.3, §5): a form body of
    /// `alias=value` pairs. ACK = `config_otau` equal to the cloud value.
    fn write(&mut self, now: Time, req: &Request, device: u64) -> Response {
        let Some(pairs) = std::str::from_utf8(req.body.as_bytes())
            .ok()
            .and_then(|b| form_decode(b).ok())
            .filter(|p| !p.is_empty())
        else {
            return text(400, "body is not a form of alias=value pairs");
        };
        let mut wrote_status = false;
        for (alias, value) in pairs {
            wrote_status |= self.record(now, device, &alias, value);
        }
        if self.faults.overlap_manifest && wrote_status {
            let slot = &self.slots[device as usize];
            if slot.manifest.is_some() && slot.acked_at.is_none() {
                return self.deliver(device);
            }
        }
        let query = req.path_and_query().split_once('?').map_or("", |(_, q)| q);
        if !query.is_empty() {
            let aliases: Vec<&str> = query.split('&').filter(|a| !a.is_empty()).collect();
            return self.plain_read(device, &aliases);
        }
        Response::status(204)
    }
}

impl OtauServer {
    /// Stores one device write of `alias` (HTTP form pair or MQTT publish):
    /// `config_otau` equal to the cloud value is the ACK (otau.md §5), a
    /// different one an overwrite; `otau_in` is a status; other aliases are
    /// ignored ("not found is not an error"). Returns whether it was a status.
    fn record(&mut self, now: Time, device: u64, alias: &str, value: String) -> bool {
        let Some(slot) = self.slots.get_mut(device as usize) else {
            return false;
        };
        match alias {
            "config_otau" => {
                match &slot.manifest {
                    Some(m) if **m == *value => slot.acked_at = Some(now),
                    _ => slot.overwrites += 1,
                }
                false
            }
            "otau_in" => {
                let fits = slot.status_bytes + value.len() <= MAX_STATUS_BYTES;
                if slot.statuses.len() < MAX_STATUSES && fits {
                    slot.status_bytes += value.len();
                    slot.statuses.push(StatusRecord {
                        at: now,
                        value: value.into_boxed_str(),
                    });
                } else {
                    slot.dropped_statuses += 1;
                }
                true
            }
            _ => false,
        }
    }
}

fn form_response(body: &str, last_modified: Option<u64>) -> Response {
    let mut headers = Headers::new().with("content-type", FORM);
    if let Some(t) = last_modified {
        headers.insert("last-modified", http_date(t));
    }
    Response {
        status: 200,
        headers,
        body: Body::Bytes(body.as_bytes().to_vec().into()),
    }
}

#[cfg(test)]
mod tests;
