//! A hook around the DDI core of `serve`: `fleetsim conform --device`
//! decides, request by request, what the reference server presents to each
//! device (assignments, cancels, a 429, a download cut mid-body) without
//! touching the sans-IO core. The hook is called under the state lock, so
//! what it does to the core and the core's answer happen atomically.

use fleetsim_core::message::{Request, Response};
use fleetsim_core::server::{self, Tenants};
use fleetsim_core::time::Time;

use super::state::{State, DEFAULT_OTAU_DEVICES};
use fleetsim_core::server::otau::OtauServer;
use fleetsim_core::server::{MgmtCredentials, ServerConfig};

/// What to do with the body of an answer the hook has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Shape {
    /// Send it whole.
    #[default]
    Whole,
    /// Announce the whole length but close the connection after this many
    /// bytes of the body (a download cut mid-body).
    CutAfter(u64),
}

/// Sees every DDI request of devices (`/{tenant}/controller/v1/...`; not the
/// Management API or the other routes) before and after the core answers it.
pub trait DdiHook: Send + Sync + 'static {
    /// Called once with the empty core before the server listens (to
    /// register distributions).
    fn init(&self, server: &mut Tenants);

    /// Called before the core: may change the core's state (assign, cancel)
    /// or answer the request itself (`Some`), the core then not seeing it.
    fn before(&self, now: Time, req: &Request, server: &mut Tenants) -> Option<Response>;

    /// Called with the answer about to be sent (the core's or `before`'s):
    /// may change it, and says how its body is sent.
    fn after(&self, now: Time, req: &Request, resp: &mut Response, server: &mut Tenants) -> Shape;
}

impl State {
    /// An empty server of DDI settings `config` (`conform --device`).
    pub(super) fn with_config(config: ServerConfig, credentials: MgmtCredentials) -> State {
        let otau = OtauServer::new(DEFAULT_OTAU_DEVICES);
        State::without_scenario(otau, credentials, DEFAULT_OTAU_DEVICES, config)
    }

    /// [`State::handle`] with `hook` around the core for DDI requests of
    /// devices; the answer and how its body is sent.
    pub(super) fn handle_hooked(
        &mut self,
        now: Time,
        req: &Request,
        hook: &dyn DdiHook,
    ) -> Option<(Response, Shape)> {
        if server::is_mgmt_request(req) || server::request_controller_id(req).is_none() {
            return self.handle(now, req).map(|r| (r, Shape::Whole));
        }
        self.catch_up(now);
        let mut resp = match hook.before(now, req, self.tenants_mut()) {
            Some(resp) => resp,
            None => self.handle(now, req)?,
        };
        let shape = hook.after(now, req, &mut resp, self.tenants_mut());
        self.drain_events(now);
        Some((resp, shape))
    }
}
