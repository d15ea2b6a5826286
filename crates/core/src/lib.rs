//! fleetsim-core — the sans-IO heart of fleetsim: everything that decides
//! what a device or a server does, as plain state machines fed with `now`
//! and inputs.
//!
//! - [`time`]: virtual/real time in milliseconds; nothing here reads a clock.
//! - [`message`]: HTTP-shaped requests and responses exchanged by devices and servers.
//! - [`artifact`]: synthetic firmware content and download verification.
//! - [`protocol`]: sans-IO protocol clients (DDI v1, Exosite OTAU, the constrained-device protocol).
//! - [`server`]: the server cores (DDI, management API, OTAU, gateway and CDN).
//! - [`oracle`]: invariants, each with a stable ID and the clause it enforces.
//! - [`connectivity`]: the network link model (online windows, loss, latency, bandwidth).
//!
//! This crate must never depend on tokio, hyper, a TLS stack or a terminal
//! library, read a clock, open a socket or use a global RNG.

pub mod artifact;
pub mod connectivity;
pub mod message;
pub mod oracle;
pub mod protocol;
pub mod server;
pub mod time;
