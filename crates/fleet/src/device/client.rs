//! How the fleet drives a protocol client: the core contract
//! ([`fleetsim_core::protocol::Client`]) plus the client's environment built
//! from the run's, and what a driver does with a delivery before the client
//! sees it. A protocol joins the fleet with one [`DeviceClient`] impl, one
//! [`Observation`](super::ledger::Observation) impl for its events, and a
//! variant of [`super::Client`].

use rand::RngCore;

use super::ledger::Observation;
use super::Env;
use crate::digest::{Encode, TraceHash};
use crate::setup::Group;
use fleetsim_core::message::NetError;
use fleetsim_core::oracle::Oracle;
use fleetsim_core::protocol::constrained::{ConstrainedClient, ConstrainedEnv};
use fleetsim_core::protocol::ddi::{ClientEnv, DdiClient};
use fleetsim_core::protocol::edge::EdgeClient;
use fleetsim_core::protocol::otau::{OtauClient, OtauEnv};
use fleetsim_core::protocol::{Client, Delivery, ReqKind, Transmit};
use fleetsim_core::time::Time;

/// A protocol client as the fleet drives it.
pub trait DeviceClient: Client<Event: Observation> {
    /// The client's environment, for device `number`, `id`, of `group`.
    fn env<'a>(
        &self,
        env: &'a Env<'a>,
        group: &'a Group,
        number: u64,
        id: &'a str,
    ) -> Self::Env<'a>;

    /// Sees a delivery before the client does (device `number`, `id`).
    fn delivered(
        &self,
        now: Time,
        delivery: &Delivery,
        number: u64,
        id: &str,
        oracle: &mut Oracle,
    ) {
        let _ = (now, delivery, number, id, oracle);
    }
}

impl DeviceClient for DdiClient {
    fn env<'a>(
        &self,
        env: &'a Env<'a>,
        group: &'a Group,
        number: u64,
        id: &'a str,
    ) -> ClientEnv<'a> {
        ClientEnv {
            base_url: env.base_url,
            tenant: group.tenant_or(env.tenant),
            controller_id: id,
            authorization: group.authorization(number, env.authorization),
            catalog: env.setup.server.catalog(),
            settings: &group.settings,
        }
    }
}

impl DeviceClient for OtauClient {
    fn env<'a>(&self, env: &'a Env<'a>, group: &'a Group, _: u64, cik: &'a str) -> OtauEnv<'a> {
        OtauEnv {
            base_url: env.base_url,
            cik,
            catalog: env.setup.otau.catalog(),
            settings: &group.otau,
        }
    }
}

impl DeviceClient for ConstrainedClient {
    fn env<'a>(
        &self,
        env: &'a Env<'a>,
        group: &'a Group,
        _: u64,
        id: &'a str,
    ) -> ConstrainedEnv<'a> {
        ConstrainedEnv {
            base_url: env.base_url,
            device: id,
            catalog: env.setup.sidekick.catalog(),
            settings: &group.cpg,
        }
    }

    /// The oracle judges download answers by their URL.
    fn delivered(
        &self,
        now: Time,
        delivery: &Delivery,
        number: u64,
        id: &str,
        oracle: &mut Oracle,
    ) {
        if let (Some(url), Delivery::Complete(r)) = (self.download_in_flight(), delivery) {
            oracle.url_download(number, id, now, url, r.status, false);
        }
    }
}

impl DeviceClient for EdgeClient {
    fn env<'a>(&self, _: &'a Env<'a>, _: &'a Group, _: u64, _: &'a str) {}
}

/// What a client step needs from its device, borrowed apart from the client.
pub(super) struct Cx<'a> {
    pub(super) now: Time,
    pub(super) env: &'a Env<'a>,
    pub(super) group: &'a Group,
    pub(super) number: u64,
    pub(super) id: &'a str,
    pub(super) rng: &'a mut dyn RngCore,
    pub(super) trace: &'a mut TraceHash,
}

/// Takes what `c` wants sent, marking it in the trace when its observations
/// do not.
pub(super) fn transmit<C: DeviceClient>(
    c: &mut C,
    cx: Cx<'_>,
    events: &mut Vec<C::Event>,
) -> Option<(ReqKind, Transmit)> {
    let env = c.env(cx.env, cx.group, cx.number, cx.id);
    let sent = c.poll_transmit(cx.now, &env, cx.rng, events)?;
    let kind = c.request_kind();
    if let Some(codes) = C::Event::TRANSPORT {
        cx.trace.sent(codes, cx.now, kind);
    }
    Some((kind, sent))
}

/// Hands `delivery` to `c`, marking it in the trace when its observations do not.
pub(super) fn respond<C: DeviceClient>(
    c: &mut C,
    cx: Cx<'_>,
    delivery: Delivery,
    oracle: &mut Oracle,
    events: &mut Vec<C::Event>,
) {
    if let Some(codes) = C::Event::TRANSPORT {
        cx.trace.delivered(codes, cx.now, &delivery);
    }
    c.delivered(cx.now, &delivery, cx.number, cx.id, oracle);
    let env = c.env(cx.env, cx.group, cx.number, cx.id);
    c.handle_response(cx.now, delivery, &env, cx.rng, events);
}

/// Hands the result of a publish to `c`.
pub(super) fn published<C: DeviceClient>(
    c: &mut C,
    cx: Cx<'_>,
    result: Result<(), NetError>,
    events: &mut Vec<C::Event>,
) {
    cx.trace.published(cx.now, result);
    let env = c.env(cx.env, cx.group, cx.number, cx.id);
    c.handle_published(cx.now, result, &env, cx.rng, events);
}

/// Tells `c` its message session opened (`up`) or dropped.
pub(super) fn session<C: DeviceClient>(
    c: &mut C,
    cx: Cx<'_>,
    up: bool,
    events: &mut Vec<C::Event>,
) {
    let env = c.env(cx.env, cx.group, cx.number, cx.id);
    c.handle_session(cx.now, up, &env, cx.rng, events);
}

/// Hands a pushed message to `c`.
pub(super) fn message<C: DeviceClient>(
    c: &mut C,
    cx: Cx<'_>,
    (alias, value): (&str, &str),
    events: &mut Vec<C::Event>,
) {
    cx.trace.message(cx.now, value);
    let env = c.env(cx.env, cx.group, cx.number, cx.id);
    c.handle_message(cx.now, alias, value, &env, cx.rng, events);
}
