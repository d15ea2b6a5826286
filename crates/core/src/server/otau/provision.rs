//! Device provisioning (otau.md §4.5): `POST /provision/activate` hands an
//! identity of a product its 40-character token, once.
//!
//! Two body forms are accepted: Murano's `id=<identity>` (murano-client)
//! and the legacy `vendor=<pid>&model=<pid>&sn=<identity>` (the One
//! Platform HTTP API; a `password=` field, as the Electric Imp library
//! sends, is ignored). Answers, as murano-client reads them: 200
//! `text/plain` token; 404 the identity is no device of any product; 409 it
//! is already activated; 403 "device not in Murano": the request names a
//! product this server does not host, or one the identity does not belong to.
//!
//! Products: a server hosts one or more product ids, each holding some of
//! the devices (a scenario group's `otau.product`; every other device is the
//! default product's, the first one). A request names its product the way
//! the seed client addresses Murano: by the host it connects to,
//! `<pid>.m2.exosite.io` (the seed's
//! `HTTPSConnection(f"{product_id}.m2.exosite.io")`; otau.md §4 "Host:
//! `<product_id>.m2.exosite.io`", dev mode `<pid>.devmode-m2.exosite.io`),
//! i.e. by its `Host` header; the legacy form also by its `vendor` and
//! `model` fields (otau.md §4.5: both the product id). Everything a request
//! names must agree. A request to any other host (`127.0.0.1:8080`) names
//! no product and is taken as addressed to the identity's own product, so a
//! device pointed at a bare address still works. Tokens are per product
//! too: a token at a `Host` of another product than its device's is refused
//! (401 "No or invalid CIK", otau.md §4 and §7).
//!
//! Identities are device numbers as 12 lowercase hex digits (a MAC address'
//! length, as Murano gateways commonly use) and the token of device `n` is
//! [`super::cik_for`]`(n)`: both are derived, so a product of 100 000
//! devices needs one bit per device. With [`OtauServer::require_activation`]
//! a token is accepted only once its device was activated (or
//! [`OtauServer::preprovision`]ed); without it (the default) every device's
//! token works from the start and activation only hands it out, once.

use std::ops::Range;

use crate::message::{Body, Headers, Method, Request, Response};
use crate::protocol::otau::wire::form_decode;
use crate::time::Time;

use super::{cik_for, text, OtauServer};

/// The product id of a server that was not given one.
pub const DEFAULT_PRODUCT: &str = "fleetsim";

/// The identity of device `n`: 12 lowercase hex digits.
pub fn identity_for(device: u64) -> String {
    format!("{device:012x}")
}

/// The device an identity made by [`identity_for`] names, if it is one.
pub fn device_for_identity(identity: &str) -> Option<u64> {
    let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
    if identity.len() != 12 || !identity.chars().all(hex) {
        return None;
    }
    u64::from_str_radix(identity, 16).ok()
}

/// Whether `pid` can be a product id: 1 to 64 lowercase ASCII letters and
/// digits (Murano's are 16, e.g. `d1zzd6dflnt50000` in the seed), so that
/// `<pid>.m2.exosite.io` is a host name.
pub fn is_product_id(pid: &str) -> bool {
    (1..=64).contains(&pid.len())
        && pid
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The products a server hosts and which devices each holds.
#[derive(Clone, Debug, Default)]
pub(super) struct Products {
    /// Product ids, the default product (every device not in `ranges`) first.
    names: Vec<String>,
    /// Devices of other products than the default: `(devices, index in names)`.
    ranges: Vec<(Range<u64>, usize)>,
}

impl Products {
    pub(super) fn new(default: &str) -> Products {
        Products {
            names: vec![default.to_string()],
            ranges: Vec::new(),
        }
    }

    /// The index of product `pid`, added if it is new.
    fn index(&mut self, pid: &str) -> usize {
        match self.names.iter().position(|n| n == pid) {
            Some(i) => i,
            None => {
                self.names.push(pid.to_string());
                self.names.len() - 1
            }
        }
    }

    /// The product of `device`.
    fn of(&self, device: u64) -> &str {
        let i = self
            .ranges
            .iter()
            .rev()
            .find(|(r, _)| r.contains(&device))
            .map_or(0, |(_, i)| *i);
        &self.names[i]
    }

    fn hosts(&self, pid: &str) -> bool {
        self.names.iter().any(|n| n == pid)
    }
}

impl OtauServer {
    /// The default product (its id in `Host` and legacy bodies).
    pub fn product(&self) -> &str {
        &self.products.names[0]
    }

    /// Renames the default product (initially [`DEFAULT_PRODUCT`]); if
    /// another product had that id, its devices join the default product.
    pub fn set_product(&mut self, product: &str) {
        let p = &mut self.products;
        if let Some(i) = p.names.iter().skip(1).position(|n| n == product) {
            let i = i + 1;
            p.names.remove(i);
            for (_, j) in &mut p.ranges {
                *j = match (*j).cmp(&i) {
                    std::cmp::Ordering::Equal => 0,
                    std::cmp::Ordering::Greater => *j - 1,
                    std::cmp::Ordering::Less => *j,
                };
            }
        }
        p.names[0] = product.to_string();
    }

    /// Hosts product `pid` too (no device of its own until
    /// [`OtauServer::assign_product`] gives it some).
    pub fn host_product(&mut self, pid: &str) {
        self.products.index(pid);
    }

    /// Devices `devices` belong to product `pid` (hosted from now on); a
    /// later assignment of the same devices wins.
    pub fn assign_product(&mut self, devices: Range<u64>, pid: &str) {
        let i = self.products.index(pid);
        self.products.ranges.push((devices, i));
    }

    /// The products hosted, the default one first.
    pub fn products(&self) -> impl Iterator<Item = &str> {
        self.products.names.iter().map(String::as_str)
    }

    /// The product `device` belongs to.
    pub fn product_of(&self, device: u64) -> &str {
        self.products.of(device)
    }

    /// From now on a token is accepted only for activated (or
    /// pre-provisioned) devices, as on Murano.
    pub fn require_activation(&mut self) {
        self.activation_required = true;
    }

    /// Whether tokens work only once activated.
    pub fn activation_required(&self) -> bool {
        self.activation_required
    }

    /// Marks `device` as activated without a request (a scenario's
    /// pre-provisioned device); its token works, activating it answers 409.
    pub fn preprovision(&mut self, device: u64) {
        if let Some(slot) = self.slots.get_mut(device as usize) {
            slot.activated = true;
        }
    }

    /// Whether `device` was activated (or pre-provisioned).
    pub fn activated(&self, device: u64) -> bool {
        self.slots.get(device as usize).is_some_and(|s| s.activated)
    }

    /// Whether the token of `device` works at all: activation is not
    /// required or the device was activated (or pre-provisioned). Transports
    /// without a `Host` (MQTT) check this alone.
    pub fn token_usable(&self, device: u64) -> bool {
        !self.activation_required || self.activated(device)
    }

    /// Whether a token of `device` may be used for `req`: usable
    /// ([`OtauServer::token_usable`]) and of the product the `Host` names,
    /// if it names one.
    pub(super) fn may_use_token(&self, device: u64, req: &Request) -> bool {
        let product_ok = host_product(req).is_none_or(|p| p == self.product_of(device));
        product_ok && self.token_usable(device)
    }

    /// `POST /provision/activate` (otau.md §4.5).
    pub(super) fn activate(&mut self, _now: Time, req: &Request) -> Response {
        if req.method != Method::Post {
            return Response::status(405);
        }
        let Some(form) = std::str::from_utf8(req.body.as_bytes())
            .ok()
            .and_then(|b| form_decode(b).ok())
        else {
            return text(400, "body is not a form");
        };
        let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let (identity, named) = match (field("id"), field("sn")) {
            (Some(id), _) => (id, vec![host_product(req)]),
            (None, Some(sn)) => (sn, vec![field("vendor"), field("model"), host_product(req)]),
            (None, None) => return text(400, "expected id=<identity> or vendor, model and sn"),
        };
        let named: Vec<&str> = named.into_iter().flatten().collect();
        if named.iter().any(|p| !self.products.hosts(p)) {
            return text(403, "device not in Murano: no such product");
        }
        let Some(device) = device_for_identity(identity).filter(|d| *d < self.devices()) else {
            return text(404, "identity not found");
        };
        if named.iter().any(|p| *p != self.product_of(device)) {
            return text(403, "device not in Murano: identity of another product");
        }
        let slot = &mut self.slots[device as usize];
        if slot.activated {
            return text(409, "already activated");
        }
        slot.activated = true;
        Response {
            status: 200,
            headers: Headers::new().with("content-type", "text/plain; charset=utf-8"),
            body: Body::Bytes(cik_for(device).into_bytes().into()),
        }
    }
}

/// The product a Murano-shaped `Host` names (`<pid>.m2.exosite.io`,
/// `<pid>.devmode-m2.exosite.io`, with or without a port); `None` for any
/// other host (127.0.0.1).
fn host_product(req: &Request) -> Option<&str> {
    let host = req.headers.get("host")?;
    let (pid, rest) = host.split_once('.')?;
    (rest.starts_with("m2.") || rest.starts_with("devmode-m2.")).then_some(pid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::otau::OtauAnswer;

    /// murano-client's activation: a form POST with `id=`, the product's host.
    fn activate(host: &str, body: &str) -> Request {
        let mut r = Request::new(Method::Post, format!("https://{host}/provision/activate"));
        r.headers.insert("host", host.to_string());
        r.headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        );
        r.body = Body::Bytes(body.as_bytes().to_vec().into());
        r
    }

    fn answer(s: &mut OtauServer, req: &Request) -> Response {
        match s.handle(Time(0), req) {
            OtauAnswer::Ready(r) => r,
            OtauAnswer::Pending { .. } => panic!("activation is answered at once"),
        }
    }

    #[test]
    fn identities_round_trip() {
        assert_eq!(identity_for(42), "00000000002a");
        assert_eq!(device_for_identity("00000000002a"), Some(42));
        for bad in ["2a", "00000000002A", "00000000002g", "0000000000002a"] {
            assert_eq!(device_for_identity(bad), None, "{bad}");
        }
    }

    #[test]
    fn murano_form_activates_once_and_gates_the_token() {
        let mut s = OtauServer::new(3);
        s.set_product("pid42");
        s.require_activation();
        let host = "pid42.m2.exosite.io";
        let poll = |cik: &str| {
            let mut r = Request::new(Method::Get, "/onep:v1/stack/alias?config_otau");
            r.headers.insert("x-exosite-cik", cik.to_string());
            r
        };
        assert_eq!(
            answer(&mut s, &poll(&cik_for(1))).status,
            401,
            "not yet activated"
        );
        let ok = answer(&mut s, &activate(host, "id=000000000001"));
        assert_eq!(ok.status, 200);
        assert_eq!(
            ok.headers.get("content-type"),
            Some("text/plain; charset=utf-8")
        );
        let token = String::from_utf8(ok.body.as_bytes().to_vec()).unwrap();
        assert_eq!(token.len(), 40, "murano-client checks len == 40");
        assert_eq!(token, cik_for(1));
        assert_eq!(
            answer(&mut s, &poll(&token)).status,
            204,
            "the token now works"
        );
        let again = answer(&mut s, &activate(host, "id=000000000001"));
        assert_eq!(again.status, 409);
        assert_eq!(
            answer(&mut s, &activate(host, "id=000000000009")).status,
            404
        );
        assert_eq!(
            answer(&mut s, &activate(host, "id=not-a-device")).status,
            404
        );
        let foreign = activate("other.m2.exosite.io", "id=000000000002");
        assert_eq!(answer(&mut s, &foreign).status, 403);
        assert!(!s.activated(2), "a refused activation activates nothing");
    }

    #[test]
    fn legacy_form_checks_vendor_and_model() {
        let mut s = OtauServer::new(2);
        s.set_product("pid42");
        let legacy = |v: &str| {
            activate(
                "127.0.0.1:8080",
                &format!("vendor={v}&model={v}&sn=000000000000"),
            )
        };
        assert_eq!(answer(&mut s, &legacy("other")).status, 403);
        let ok = answer(&mut s, &legacy("pid42"));
        assert_eq!(ok.status, 200);
        assert_eq!(ok.body.as_bytes(), cik_for(0).as_bytes());
        assert_eq!(answer(&mut s, &legacy("pid42")).status, 409);
        s.preprovision(1);
        let pre = activate("127.0.0.1", "id=000000000001&password=x");
        assert_eq!(answer(&mut s, &pre).status, 409, "pre-provisioned");
        assert_eq!(answer(&mut s, &activate("127.0.0.1", "")).status, 400);
        let get = Request::new(Method::Get, "/provision/activate");
        assert_eq!(answer(&mut s, &get).status, 405);
    }

    #[test]
    fn identities_and_tokens_are_per_product() {
        let mut s = OtauServer::new(4);
        s.set_product("pa");
        s.assign_product(2..4, "pb");
        s.host_product("pc");
        assert_eq!(s.products().collect::<Vec<_>>(), ["pa", "pb", "pc"]);
        assert_eq!((s.product_of(1), s.product_of(2)), ("pa", "pb"));
        let at = |host: &str, body: &str| activate(host, body);
        let foreign = at("pa.m2.exosite.io", "id=000000000002");
        assert_eq!(answer(&mut s, &foreign).status, 403, "pb's identity at pa");
        let empty = at("pc.m2.exosite.io", "id=000000000002");
        assert_eq!(answer(&mut s, &empty).status, 403, "pc holds no device");
        let legacy = at("127.0.0.1", "vendor=pa&model=pa&sn=000000000003");
        assert_eq!(answer(&mut s, &legacy).status, 403);
        let mixed = at("127.0.0.1", "vendor=pb&model=pa&sn=000000000003");
        assert_eq!(
            answer(&mut s, &mixed).status,
            403,
            "vendor and model differ"
        );
        let ok = answer(&mut s, &at("pb.devmode-m2.exosite.io", "id=000000000002"));
        assert_eq!(ok.status, 200);
        let bare = answer(&mut s, &at("127.0.0.1:80", "id=000000000003"));
        assert_eq!(
            bare.status, 200,
            "a bare address names the identity's product"
        );
        let poll = |host: &str, device: u64| {
            let mut r = Request::new(Method::Get, "/onep:v1/stack/alias?config_otau");
            r.headers.insert("host", host.to_string());
            r.headers.insert("x-exosite-cik", cik_for(device));
            r
        };
        assert_eq!(answer(&mut s, &poll("pb.m2.exosite.io", 2)).status, 204);
        assert_eq!(answer(&mut s, &poll("127.0.0.1:9", 2)).status, 204);
        let wrong = poll("pa.m2.exosite.io:443", 2);
        assert_eq!(answer(&mut s, &wrong).status, 401, "pb's token at pa");
        assert_eq!(answer(&mut s, &poll("pa.m2.exosite.io", 0)).status, 204);
        s.set_product("pc");
        assert_eq!(s.products().collect::<Vec<_>>(), ["pc", "pb"]);
        assert_eq!((s.product_of(0), s.product_of(3)), ("pc", "pb"));
        s.set_product("pb");
        assert_eq!(s.products().collect::<Vec<_>>(), ["pb"]);
        assert_eq!((s.product_of(0), s.product_of(3)), ("pb", "pb"));
    }
}
