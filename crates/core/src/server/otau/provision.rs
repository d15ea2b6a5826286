//! Device provisioning (otau.md §4.5): `POST /provision/activate` hands an
//! identity of the product its 40-character token, once.
//!
//! Two body forms are accepted: Murano's `id=<identity>` (murano-client)
//! and the legacy `vendor=<pid>&model=<pid>&sn=<identity>` (the One
//! Platform HTTP API; a `password=` field, as the Electric Imp library
//! sends, is ignored). Answers, as murano-client reads them: 200
//! `text/plain` token; 404 the identity is not one of the product's; 409 it
//! is already activated; 403 the request names another product (legacy
//! `vendor`/`model`, or a `Host` of the Murano shape `<pid>.m2.exosite.io`
//! whose `<pid>` is not this product's).
//!
//! Identities are device numbers as 12 lowercase hex digits (a MAC address'
//! length, as Murano gateways commonly use) and the token of device `n` is
//! [`super::cik_for`]`(n)`: both are derived, so a product of 100 000
//! devices needs one bit per device. With [`OtauServer::require_activation`]
//! a token is accepted only once its device was activated (or
//! [`OtauServer::preprovision`]ed); without it (the default) every device's
//! token works from the start and activation only hands it out, once.

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

impl OtauServer {
    /// The product this server plays (its id in `Host` and legacy bodies).
    pub fn product(&self) -> &str {
        &self.product
    }

    /// Sets the product id (default [`DEFAULT_PRODUCT`]).
    pub fn set_product(&mut self, product: &str) {
        self.product = product.to_string();
    }

    /// From now on a token is accepted only for activated (or
    /// pre-provisioned) devices, as on Murano.
    pub fn require_activation(&mut self) {
        self.activation_required = true;
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

    /// Whether a token of `device` may be used now.
    pub(super) fn may_use_token(&self, device: u64) -> bool {
        !self.activation_required || self.activated(device)
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
        let (identity, products) = match (field("id"), field("sn")) {
            (Some(id), _) => (id, vec![host_product(req)]),
            (None, Some(sn)) => (sn, vec![field("vendor"), field("model")]),
            (None, None) => return text(400, "expected id=<identity> or vendor, model and sn"),
        };
        if products.into_iter().flatten().any(|p| p != self.product) {
            return text(403, "device not in this product");
        }
        let Some(device) = device_for_identity(identity).filter(|d| *d < self.devices()) else {
            return text(404, "identity not found");
        };
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
/// `<pid>.devmode-m2.exosite.io`); `None` for any other host (127.0.0.1).
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
}
