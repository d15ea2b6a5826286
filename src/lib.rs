//! fleetsim — a deterministic device-fleet simulator and conformance tester
//! for software-update servers.
//!
//! A seeded run spawns thousands of virtual devices (sleepy constrained
//! pollers, always-on devices), drives them through hawkBit DDI update flows
//! against the embedded reference server, and checks protocol invariants
//! online while it runs. Same scenario and seed ⇒ same trace digest.
//!
//! # Layout
//!
//! - [`time`]: virtual/real time in milliseconds; no module below the drivers reads a clock.
//! - [`message`]: HTTP-shaped requests and responses exchanged by devices and servers.
//! - [`artifact`]: synthetic firmware content and download verification.
//! - [`scenario`]: the YAML scenario model, units, validation with `file:line:col` errors.
//! - [`protocol`]: sans-IO protocol clients (DDI v1, Exosite OTAU over HTTP or MQTT) and their wire types.
//! - [`server`]: the embedded reference server, a pure state machine (DDI; OTAU in [`server::otau`]).
//! - [`serve`]: `fleetsim serve`, the embedded server over real HTTP(S) (hyper, rustls).
//! - [`mqtt`]: OTAU over MQTT with real IO: the embedded broker (rumqttd), the server bridge, device links, Mosquitto for tests.
//! - [`net`]: connectivity models (online windows, loss, latency, bandwidth).
//! - [`device`]: a simulated device (client, RNG streams, link phase, trace) and the books both drivers keep.
//! - [`sim`]: the virtual-time engine, per-device RNG streams and trace digests.
//! - [`oracle`]: invariants, each with a stable ID and the clause it enforces (OTAU ones in [`oracle::otau`], not yet wired into runs).
//! - [`report`]: the run report (`report.json`) and the terminal summary.
//! - [`runtime`]: the real-time driver: the same devices over real HTTP(S), on tokio.
//! - [`shrink`]: `fleetsim shrink`, minimising a scenario that makes an invariant fire.

pub mod artifact;
pub mod device;
pub mod message;
pub mod mqtt;
pub mod net;
pub mod oracle;
pub mod protocol;
pub mod report;
pub mod runtime;
pub mod scenario;
pub mod serve;
pub mod server;
pub mod shrink;
pub mod sim;
pub mod target;
pub mod time;
pub mod tui;

#[cfg(test)]
mod fuzz;
