//! hawkBit DDI v1: wire types, the `sleep` format and the device-side client.

pub mod client;
pub mod event;
pub mod sleep;
pub mod wire;

pub use client::{ClientEnv, ClientSettings, DdiClient, Delivery};
pub use event::{DdiEvent, Offer, Outcome, Phase, ReqKind};
