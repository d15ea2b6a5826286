//! What the connections of a listener share: the serve state behind one
//! lock, the clock, the held OTAU long polls, and the listener's settings
//! (scheme, credentials, limits, body budget).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Semaphore;

use super::limits::ServeLimits;
use super::otau::Waiters;
use super::state::{Clock, State};
use super::twin::TwinHost;
use fleetsim_core::server::MgmtCredentials;

/// What every connection shares: the state behind one lock, the clock, and
/// the held OTAU long polls (behind their own lock).
pub(super) struct Shared {
    state: Mutex<State>,
    clock: Clock,
    waiters: Waiters,
    /// The Ditto twin service and its WebSocket sessions (`twin.rs`).
    twin: TwinHost,
}

impl Shared {
    pub(super) fn new(state: State, clock: Clock) -> Shared {
        Shared {
            state: Mutex::new(state),
            clock,
            waiters: Waiters::default(),
            twin: TwinHost::new(unix_ms_now()),
        }
    }

    /// The state, even after a panic elsewhere poisoned the lock: one broken
    /// request must not take every later one down with it.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn clock(&self) -> &Clock {
        &self.clock
    }

    pub(super) fn waiters(&self) -> &Waiters {
        &self.waiters
    }

    pub(super) fn twin(&self) -> &TwinHost {
        &self.twin
    }
}

/// Unix time in milliseconds now (the twin's event timestamps count from it).
fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One listener as its connections see it.
pub(super) struct Endpoint {
    pub(super) shared: Arc<Shared>,
    /// `http` or `https`: the scheme of the absolute URLs the core builds links from.
    pub(super) scheme: &'static str,
    /// Stands in for a missing `Host` header (HTTP/1.0 clients).
    pub(super) local_addr: SocketAddr,
    /// Turns `true` at shutdown (held long polls are answered then).
    pub(super) stopped: tokio::sync::watch::Receiver<bool>,
    /// Basic credentials of the Management API and the OTAU admin routes,
    /// checked from the headers before a body is read.
    pub(super) credentials: MgmtCredentials,
    /// The Management API users of the other tenants (also let in before
    /// their bodies are read; the core routes them to their tenant).
    pub(super) tenant_users: Vec<MgmtCredentials>,
    pub(super) limits: ServeLimits,
    /// Bytes of request bodies that may be held at once (`limits.max_body_memory`).
    pub(super) body_budget: Arc<Semaphore>,
    /// `--metrics-listen`: the series each answer is counted in.
    pub(super) metrics: Option<Arc<crate::metrics::Metrics>>,
    /// `conform --device`: sees every DDI request around the core.
    pub(super) hook: Option<Arc<dyn super::hook::DdiHook>>,
}
