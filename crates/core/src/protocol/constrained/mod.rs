//! The custom protocol gateway (CPG) of seed 000: the constrained device's
//! side, sans-IO, and the wire documents both sides share.
//!
//! A constrained device wakes rarely and sends one GET; the answer carries
//! everything it needs (poll interval, and the pending install: artifact name,
//! size, sha256 and a download URL, or a `connect` signal). `docs/guide/cpg.md` is
//! the wire contract; [`crate::server::constrained`] is the embedded gateway.
//!
//! Same driving contract as the other clients: [`ConstrainedClient::poll_timeout`],
//! [`ConstrainedClient::poll_transmit`], [`ConstrainedClient::handle_response`], with
//! observations pushed as [`ConstrainedEvent`]s.

mod client;
mod event;
mod strategy;
pub mod wire;

#[cfg(test)]
mod tests;

pub use client::{ConstrainedClient, ConstrainedEnv, ConstrainedSettings};
pub use event::{ConstrainedEvent, ConstrainedReq};
pub use strategy::Strategy;
