//! hawkBit DDI v1: wire types, the `sleep` format and the device-side client.

pub mod client;
pub mod consent_wire;
pub mod event;
pub mod sleep;
pub mod wire;

/// The request kinds and deliveries of every protocol, also reachable from here.
pub use super::transport::{Delivery, ReqKind};
pub use client::{ClientEnv, ClientSettings, Consent, DdiClient, Encoding, FeedbackSettings};
pub use event::{DdiEvent, Offer, Outcome, Phase};
