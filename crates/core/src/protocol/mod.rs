//! Sans-IO protocol clients. Each takes `now` and inputs and returns requests,
//! timers and observations; none owns a socket or reads a clock.
//!
//! Layout: [`client`] (the [`Client`] contract all of them keep),
//! [`transport`] (what travels between a client and its driver), and one
//! module per protocol: [`ddi`] (hawkBit DDI), [`otau`] (Exosite OTAU),
//! [`constrained`] (the constrained device of the custom protocol gateway),
//! [`edge`] (a gateway runtime with edge devices, kept in sync with its
//! Ditto twin — seed 002; its device kind and driver wiring come later).
//! A protocol module imports the neutral modules (and [`crate::ditto`]),
//! never another protocol.

pub mod client;
pub mod constrained;
pub mod ddi;
pub mod edge;
pub mod otau;
pub mod transport;

pub use client::Client;
pub use transport::{Delivery, ReqKind, Transmit};

use rand::{Rng, RngCore};

use crate::time::Span;

/// Statuses a careful OTAU or CPG device retries unchanged: 5xx, 429, 408
/// (DDI adds 409, see its client).
pub fn is_retriable(status: u16) -> bool {
    status >= 500 || status == 429 || status == 408
}

/// Capped exponential backoff with ±25 % jitter for the `failures`-th
/// consecutive failure (1 → about `base`).
pub fn backoff(base: Span, cap: Span, failures: u32, rng: &mut dyn RngCore) -> Span {
    let exp = failures.saturating_sub(1).min(20);
    let grown = base.as_millis().saturating_mul(1 << exp);
    let capped = Span(grown.min(cap.as_millis()));
    capped.mul_f64(rng.gen_range(0.75..1.25))
}
