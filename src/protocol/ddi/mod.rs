//! hawkBit DDI v1: wire types, the `sleep` format and the device-side client.

pub mod sleep;
pub mod wire;
