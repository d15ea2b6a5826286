//! Exosite OTAU (`config_otau` → `otau_in`, otau.md) over the Murano HTTP
//! device API: wire types, the sans-IO device client and its events.
//!
//! Layout: [`wire`] (manifest, status report, form bodies, info line, dates),
//! [`client`] (the device state machine), [`event`] (what the client tells
//! the oracle, [`crate::oracle::otau`]). The matching server core is
//! [`crate::server::otau`].

pub mod client;
pub mod event;
pub mod wire;

pub use super::transport::Transmit;
pub use client::{AckMode, OtauClient, OtauEnv, OtauSettings, Transport};
pub use event::{OtauEvent, OtauReq};
