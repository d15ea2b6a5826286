//! Activation before the first poll (otau.md §4.5): `POST
//! /provision/activate` with Murano's `id=<identity>` form, as murano-client
//! sends it; a 200 whose body is a 40-character token makes that token the
//! device's CIK. Any other answer is retried with backoff (a 409 means the
//! token was handed out before: only a re-provisioned identity helps, so
//! the device keeps asking, visibly, as murano-client's caller would).

use rand::RngCore;

use super::http::{backoff, write_request};
use super::{OtauClient, OtauEnv, Step};
use crate::message::{Request, Response};
use crate::protocol::otau::event::{OtauEvent, OtauReq};
use crate::protocol::otau::wire::form_encode;
use crate::time::Time;

/// Length of a Murano device token (murano-client checks it).
const TOKEN_LEN: usize = 40;

/// What an activating device knows before it has its token.
pub(super) struct Activation {
    identity: String,
    /// The step to go on with once activated.
    resume: Step,
}

impl OtauClient {
    /// Activates as `identity` before anything else (the boot report
    /// included); every later request carries the token it receives.
    pub fn activating(mut self, identity: String) -> OtauClient {
        self.activation = Some(Box::new(Activation {
            identity,
            resume: self.step,
        }));
        self.step = Step::Activate;
        self
    }

    /// The token activation returned, if the device activated.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The CIK to send: the activation's token, else the configured one.
    pub(super) fn cik<'a>(&'a self, env: &'a OtauEnv<'_>) -> &'a str {
        self.token.as_deref().unwrap_or(env.cik)
    }

    pub(super) fn activate_request(&self, base: &str) -> Option<Request> {
        let a = self.activation.as_ref()?;
        let mut r = write_request(base, &form_encode(&[("id", &a.identity)]));
        r.url = format!("{base}/provision/activate");
        Some(r)
    }

    pub(super) fn on_activation(
        &mut self,
        now: Time,
        resp: &Response,
        env: &OtauEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<OtauEvent>,
    ) {
        let token = (resp.status == 200)
            .then(|| std::str::from_utf8(resp.body.as_bytes()).ok())
            .flatten()
            .map(str::trim)
            .filter(|t| t.len() == TOKEN_LEN);
        match (token, self.activation.take()) {
            (Some(token), Some(a)) => {
                self.token = Some(token.to_string());
                self.failures = 0;
                self.go(a.resume, now)
            }
            (_, activation) => {
                self.activation = activation;
                events.push(OtauEvent::Rejected {
                    kind: OtauReq::Activate,
                    status: resp.status,
                });
                self.failures += 1;
                let wait = backoff(env.settings, self.failures, rng);
                self.go(Step::Activate, now + wait)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::artifact::Catalog;
    use crate::message::{Body, Headers};
    use crate::protocol::otau::OtauSettings;
    use crate::protocol::transport::{Delivery, Transmit};
    use crate::server::otau::{cik_for, identity_for, OtauAnswer, OtauServer};

    #[test]
    fn activates_against_the_server_core_then_polls_with_the_token() {
        let s = OtauSettings::default();
        let catalog = Catalog::new();
        let env = OtauEnv {
            base_url: "http://h",
            cik: "unused",
            catalog: &catalog,
            settings: &s,
        };
        let mut server = OtauServer::new(4);
        server.require_activation();
        server.preprovision(2);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut ev = Vec::new();
        for (device, want) in [(3u64, Some(cik_for(3))), (2, None)] {
            let mut c = OtauClient::new(Time::ZERO).activating(identity_for(device));
            let req = c
                .poll_transmit(Time::ZERO, &env)
                .and_then(Transmit::into_http);
            let req = req.expect("the activation is the first request");
            assert_eq!(req.url, "http://h/provision/activate");
            assert_eq!(req.headers.get("x-exosite-cik"), None);
            let OtauAnswer::Ready(resp) = server.handle(Time::ZERO, &req) else {
                panic!("answered at once")
            };
            c.handle_response(Time(1), Delivery::Complete(resp), &env, &mut rng, &mut ev);
            assert_eq!(c.token().map(str::to_string), want);
            let next = c.poll_transmit(c.poll_timeout(), &env);
            let next = next.and_then(Transmit::into_http).expect("a request");
            if want.is_some() {
                assert!(next.url.ends_with("?config_otau"), "then the long poll");
                assert_eq!(next.headers.get("x-exosite-cik"), want.as_deref());
            } else {
                assert!(next.url.ends_with("/provision/activate"), "409: asks again");
                assert!(matches!(
                    ev.last(),
                    Some(OtauEvent::Rejected {
                        kind: OtauReq::Activate,
                        status: 409
                    })
                ));
            }
        }
        let short = Response {
            status: 200,
            headers: Headers::new(),
            body: Body::Bytes(b"abc".to_vec().into()),
        };
        let mut c = OtauClient::new(Time::ZERO).activating(identity_for(1));
        c.poll_transmit(Time::ZERO, &env);
        c.handle_response(Time(1), Delivery::Complete(short), &env, &mut rng, &mut ev);
        assert_eq!(c.token(), None, "a token must have 40 characters");
    }
}
