//! OTAU under `fleetsim serve`: the Murano device API of the embedded
//! [`OtauServer`] (otau.md §4) over HTTP, long polls held open without a
//! thread or the state lock, and the admin routes that play the ExoSense
//! application (publish a manifest, upload content, read statuses).
//!
//! A long poll the core answers [`OtauAnswer::Pending`] is held by its
//! connection task (see `long_poll.rs`): it waits on the device's [`Notify`] (created on first
//! use, removed with the last poll waiting on it, so memory follows the
//! number of held polls), on the scenario time `until` mapped to real time,
//! or on shutdown (answered 304 so the device re-polls elsewhere), then
//! re-asks [`OtauServer::poll_pending`]. A client that disconnects drops the
//! task's future and with it its [`Waiting`] guard: nothing stays behind.
//!
//! Memory: about 15.5 KiB of server RSS per held poll (10 000 held, measured
//! with `scripts/otau-held-poll-rss`), of which about 14.9 KiB is what hyper
//! and tokio spend on any open keep-alive connection; the hold adds ~0.6 KiB.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::Notify;

use fleetsim_core::message::{percent_decode, Body, Headers, Method, Request, Response};
use fleetsim_core::server::otau::{cik_for, identity_for, OtauAnswer, OtauServer};
use fleetsim_core::server::MgmtCredentials;
use fleetsim_core::time::Time;

/// Prefix of the admin routes.
pub(crate) const ADMIN_PREFIX: &str = "/fleetsim/otau/";
/// Prefix of the content upload route (bodies up to the upload limit).
pub(super) const CONTENT_PREFIX: &str = "/fleetsim/otau/content/";
/// Largest manifest accepted: a Murano resource value is at most 64 KiB (otau.md §1).
pub(super) const MAX_MANIFEST_BYTES: usize = 64 * 1024;

/// True for the paths answered here: the OTAU device API and the admin routes.
pub(crate) fn is_otau_path(path: &str) -> bool {
    matches!(
        path,
        "/onep:v1/stack/alias" | "/provision/download" | "/provision/activate" | "/timestamp"
    ) || path.starts_with(ADMIN_PREFIX)
}

/// Whose held long polls an admin request must wake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wake {
    /// Nobody.
    None,
    /// The polls of one device.
    Device(u64),
    /// Every held poll.
    All,
}

/// What the state answered to an OTAU request.
#[derive(Debug)]
pub(super) enum Routed {
    /// Send this, then wake these polls.
    Reply(Response, Wake),
    /// Hold the long poll of `device` until `until` or a change.
    Hold {
        /// The device polling.
        device: u64,
        /// Scenario time at which the poll is answered 304.
        until: Time,
    },
}

/// Answers an OTAU device or admin request (sans-IO; the caller holds the lock).
/// `held` is the number of long polls held now, reported by `GET .../stats`.
pub(super) fn route(
    otau: &mut OtauServer,
    credentials: &MgmtCredentials,
    now: Time,
    req: &Request,
    held: usize,
) -> Routed {
    let path = req.path();
    let Some(rest) = path.strip_prefix(ADMIN_PREFIX) else {
        return match otau.handle(now, req) {
            OtauAnswer::Ready(resp) => Routed::Reply(resp, Wake::None),
            OtauAnswer::Pending { until } => match otau.device_of(req) {
                Some(device) => Routed::Hold { device, until },
                // The core only holds authenticated polls; answer as a timeout.
                None => Routed::Reply(Response::status(304), Wake::None),
            },
        };
    };
    admin(otau, credentials, now, req, rest, held)
}

/// Answers an admin request below [`ADMIN_PREFIX`] (`rest` is the path
/// after it), once its Basic credentials are accepted.
fn admin(
    otau: &mut OtauServer,
    credentials: &MgmtCredentials,
    now: Time,
    req: &Request,
    rest: &str,
    held: usize,
) -> Routed {
    if !credentials.accept(req) {
        let mut r = text(401, "Basic credentials of the Management API required");
        r.headers
            .insert("www-authenticate", "Basic realm=\"fleetsim\"");
        return Routed::Reply(r, Wake::None);
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let reply = |r| Routed::Reply(r, Wake::None);
    let device = |n: &str| n.parse::<u64>().ok().filter(|&d| d < otau.devices());
    let m = req.method;
    match parts.as_slice() {
        ["config_otau"] => match m {
            Method::Put => match manifest(req) {
                Ok(value) => {
                    otau.set_manifest_all(&value, now);
                    Routed::Reply(Response::status(204), Wake::All)
                }
                Err(r) => reply(r),
            },
            _ => reply(not_allowed("PUT")),
        },
        ["devices", n, "config_otau"] => match (device(n), m) {
            (None, _) => reply(text(404, "no such device")),
            (Some(d), Method::Put) => match manifest(req) {
                Ok(value) => {
                    otau.set_manifest(d, Arc::from(value), now);
                    Routed::Reply(Response::status(204), Wake::Device(d))
                }
                Err(r) => reply(r),
            },
            _ => reply(not_allowed("PUT")),
        },
        ["devices", n, "cik"] => match (device(n), m) {
            (None, _) => reply(text(404, "no such device")),
            (Some(d), Method::Get | Method::Head) => reply(text(200, &cik_for(d))),
            _ => reply(not_allowed("GET")),
        },
        ["devices", n, "identity"] => match (device(n), m) {
            (None, _) => reply(text(404, "no such device")),
            (Some(d), Method::Get | Method::Head) => reply(text(200, &identity_for(d))),
            _ => reply(not_allowed("GET")),
        },
        ["devices", n, "otau_in"] => match (device(n), m) {
            (None, _) => reply(text(404, "no such device")),
            (Some(d), Method::Get | Method::Head) => reply(statuses(otau, d)),
            _ => reply(not_allowed("GET")),
        },
        ["content", id] => match (content_id(id), m) {
            (Err(r), _) => reply(r),
            (Ok(id), Method::Put) => {
                let ctype = req
                    .headers
                    .get("content-type")
                    .unwrap_or("application/octet-stream");
                let bytes = Bytes::copy_from_slice(req.body.as_bytes());
                otau.add_content_bytes(&id, bytes, ctype, now);
                reply(Response::status(204))
            }
            _ => reply(not_allowed("PUT")),
        },
        ["stats"] => match m {
            Method::Get | Method::Head => {
                let (contents, content_bytes) = otau.catalog().uploads_held();
                let doc = serde_json::json!({
                    "devices": otau.devices(),
                    "held_polls": held,
                    "uploaded_contents": contents,
                    "uploaded_bytes": content_bytes,
                });
                reply(json(&doc))
            }
            _ => reply(not_allowed("GET")),
        },
        _ => reply(text(404, "not found")),
    }
}

/// The manifest of a publish: a JSON object (otau.md §2) in UTF-8, at most
/// 64 KiB; else 400 saying what is wrong.
fn manifest(req: &Request) -> Result<String, Response> {
    let body = req.body.as_bytes();
    if body.len() > MAX_MANIFEST_BYTES {
        return Err(text(400, "manifest larger than 64 KiB"));
    }
    let s = match std::str::from_utf8(body) {
        Ok(s) if !s.trim().is_empty() => s,
        Ok(_) => return Err(text(400, "empty manifest")),
        Err(_) => return Err(text(400, "manifest is not UTF-8")),
    };
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(v) if v.is_object() => Ok(s.to_string()),
        Ok(_) => Err(text(400, "manifest is not a JSON object")),
        Err(e) => Err(text(400, &format!("manifest is not JSON: {e}"))),
    }
}

/// A content id of the admin route, percent-decoded; 400 when it is not
/// one (the name rule of `server/ids.rs`: nothing like `..` or `a/b` is stored).
fn content_id(raw: &str) -> Result<String, Response> {
    let Some(id) = percent_decode(raw) else {
        return Err(text(400, "content id is not percent-encoded UTF-8"));
    };
    match fleetsim_core::server::ids::check_name(&id) {
        Ok(()) => Ok(id),
        Err(why) => Err(text(400, &format!("content id {why}"))),
    }
}

/// `{"device", "acked_at_ms", "dropped", "statuses": [{"at_ms", "value"}]}`.
fn statuses(otau: &OtauServer, device: u64) -> Response {
    let list: Vec<serde_json::Value> = otau
        .statuses(device)
        .iter()
        .map(|s| serde_json::json!({ "at_ms": s.at.as_millis(), "value": &*s.value }))
        .collect();
    json(&serde_json::json!({
        "device": device,
        "acked_at_ms": otau.acked_at(device).map(Time::as_millis),
        "dropped": otau.dropped_statuses(device),
        "statuses": list,
    }))
}

fn json(doc: &serde_json::Value) -> Response {
    Response::json(200, "application/json", doc.to_string().into_bytes())
}

fn text(status: u16, body: &str) -> Response {
    Response {
        status,
        headers: Headers::new().with("content-type", "text/plain; charset=utf-8"),
        body: Body::Bytes(body.as_bytes().to_vec().into()),
    }
}

fn not_allowed(allow: &'static str) -> Response {
    let mut r = text(405, "method not allowed");
    r.headers.insert("allow", allow);
    r
}

/// The devices with held long polls, each with the [`Notify`] its polls wait on.
#[derive(Debug, Default)]
pub(super) struct Waiters {
    map: Mutex<HashMap<u64, Arc<Notify>>>,
    held: AtomicUsize,
}

impl Waiters {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Notify>>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a held poll of `device`; dropping the guard unregisters it.
    pub(super) fn enter(&self, device: u64) -> Waiting<'_> {
        let notify = self.lock().entry(device).or_default().clone();
        self.held.fetch_add(1, Ordering::Relaxed);
        Waiting {
            waiters: self,
            device,
            notify: Some(notify),
        }
    }

    /// Wakes the held polls `wake` names.
    pub(super) fn wake(&self, wake: Wake) {
        let map = self.lock();
        match wake {
            Wake::None => {}
            Wake::Device(d) => map.get(&d).into_iter().for_each(|n| n.notify_waiters()),
            Wake::All => map.values().for_each(|n| n.notify_waiters()),
        }
    }

    /// Long polls held now.
    pub(super) fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Devices with an entry (for tests: no entry outlives its polls).
    #[cfg(test)]
    fn devices(&self) -> usize {
        self.lock().len()
    }
}

/// One held long poll; removes its device's entry when it is the last.
pub(super) struct Waiting<'a> {
    waiters: &'a Waiters,
    device: u64,
    /// `Some` until dropped (taken so the count is checked after our release).
    notify: Option<Arc<Notify>>,
}

impl Waiting<'_> {
    pub(super) fn notify(&self) -> &Notify {
        self.notify
            .as_deref()
            .unwrap_or_else(|| unreachable!("set until drop"))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut map = self.waiters.lock();
        drop(self.notify.take());
        if map
            .get(&self.device)
            .is_some_and(|n| Arc::strong_count(n) == 1)
        {
            map.remove(&self.device);
        }
        self.waiters.held.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_as_long_as_their_polls() {
        let w = Waiters::default();
        let a = w.enter(3);
        let b = w.enter(3);
        let c = w.enter(4);
        assert_eq!((w.held(), w.devices()), (3, 2));
        drop(a);
        assert_eq!((w.held(), w.devices()), (2, 2));
        drop(b);
        drop(c);
        assert_eq!((w.held(), w.devices()), (0, 0));
    }

    #[test]
    fn admin_routes_need_credentials_and_known_devices() {
        let mut otau = OtauServer::new(2);
        let creds = MgmtCredentials::default();
        let mut req = Request::new(Method::Put, "http://h/fleetsim/otau/devices/1/config_otau");
        req.body = Body::Bytes(b"{\"version\":\"1\"}".to_vec().into());
        let status = |r: Routed| match r {
            Routed::Reply(resp, wake) => (resp.status, wake),
            Routed::Hold { .. } => (0, Wake::None),
        };
        let now = Time(5);
        assert_eq!(status(route(&mut otau, &creds, now, &req, 0)).0, 401);
        req.headers
            .insert("authorization", "Basic YWRtaW46YWRtaW4=");
        let got = status(route(&mut otau, &creds, now, &req, 0));
        assert_eq!(got, (204, Wake::Device(1)));
        req.url = "http://h/fleetsim/otau/devices/2/config_otau".into();
        assert_eq!(status(route(&mut otau, &creds, now, &req, 0)).0, 404);
        req.url = "http://h/fleetsim/otau/config_otau".into();
        req.body = Body::Bytes(vec![0xff, 0xfe].into());
        assert_eq!(status(route(&mut otau, &creds, now, &req, 0)).0, 400);
        req.body = Body::Bytes(vec![b'x'; MAX_MANIFEST_BYTES + 1].into());
        assert_eq!(status(route(&mut otau, &creds, now, &req, 0)).0, 400);
        req.body = Body::Bytes(b"{\"version\":\"2\"}".to_vec().into());
        let got = status(route(&mut otau, &creds, now, &req, 0));
        assert_eq!(got, (204, Wake::All));
    }

    fn reply(r: Routed) -> (u16, String) {
        match r {
            Routed::Reply(resp, _) => {
                let body = String::from_utf8_lossy(resp.body.as_bytes()).into_owned();
                (resp.status, body)
            }
            Routed::Hold { .. } => (0, String::new()),
        }
    }

    #[test]
    fn manifests_must_be_json_objects_and_content_ids_ids() {
        let mut otau = OtauServer::new(2);
        let creds = MgmtCredentials::default();
        let mut req = Request::new(Method::Put, "http://h/fleetsim/otau/devices/1/config_otau");
        req.headers
            .insert("authorization", "Basic YWRtaW46YWRtaW4=");
        for (body, says) in [
            ("{", "manifest is not JSON"),
            ("[1]", "not a JSON object"),
            (" ", "empty manifest"),
        ] {
            req.body = Body::Bytes(body.as_bytes().to_vec().into());
            let (status, text) = reply(route(&mut otau, &creds, Time(1), &req, 0));
            assert_eq!(status, 400, "{body:?}");
            assert!(text.contains(says), "{body:?}: {text}");
        }
        assert_eq!(otau.acked_at(1), None);
        req.body = Body::Bytes(b"abc".to_vec().into());
        for id in [
            "..",
            "%2E%2E",
            "a%2Fb",
            "..%2F..%2Fetc%2Fpasswd",
            "a%00b",
            "%ff",
        ] {
            req.url = format!("http://h/fleetsim/otau/content/{id}");
            let (status, text) = reply(route(&mut otau, &creds, Time(1), &req, 0));
            assert_eq!(status, 400, "{id}: {text}");
            assert!(text.starts_with("content id"), "{id}: {text}");
        }
        req.url = format!("http://h/fleetsim/otau/content/{}", "x".repeat(257));
        assert_eq!(reply(route(&mut otau, &creds, Time(1), &req, 0)).0, 400);
        assert_eq!(otau.catalog().uploads_held(), (0, 0));
        req.url = "http://h/fleetsim/otau/content/fw%09v2".into();
        assert_eq!(reply(route(&mut otau, &creds, Time(1), &req, 0)).0, 400);
        req.url = "http://h/fleetsim/otau/content/fw%20v2.bin".into();
        assert_eq!(reply(route(&mut otau, &creds, Time(1), &req, 0)).0, 204);
        assert_eq!(otau.catalog().uploads_held(), (1, 3));
    }
}
