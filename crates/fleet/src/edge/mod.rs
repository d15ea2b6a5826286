//! Edge gateways (seed 002), as the fleet runs them: the
//! runtime each `protocol: ditto` device starts with ([`model`]), what
//! happens at a gateway over a run ([`activity`]), what the backend sends
//! its twin ([`backend`]), and the per-gateway
//! figures of the report ([`stats`]).
//!
//! The protocol itself — the mapping to Ditto things, the offline buffer,
//! the Ditto Protocol session — is `fleetsim_core::protocol::edge`; the twin
//! service is `fleetsim_core::server::twin`.

pub mod activity;
pub mod backend;
pub mod model;
pub mod stats;

/// How long a gateway waits after a broken session before connecting again
/// (if its online window is still open then), in both drivers.
pub const RECONNECT_DELAY: fleetsim_core::time::Span = fleetsim_core::time::Span::secs(5);
