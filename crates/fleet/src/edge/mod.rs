//! Edge gateways (seed 002), as the fleet runs them: the
//! runtime each `protocol: ditto` device starts with ([`model`]), what
//! happens at a gateway over a run ([`activity`]), and the per-gateway
//! figures of the report ([`stats`]).
//!
//! The protocol itself — the mapping to Ditto things, the offline buffer,
//! the Ditto Protocol session — is `fleetsim_core::protocol::edge`; the twin
//! service is `fleetsim_core::server::twin`.

pub mod activity;
pub mod model;
pub mod stats;
