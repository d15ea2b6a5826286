//! fleetsim-fleet — a fleet of devices and what is done with it: the
//! scenario model, the fleet (setup, devices, RNG streams, digests, stats),
//! the virtual-time engine, shrink and the reports.
//!
//! - [`scenario`]: the YAML scenario model, units, validation with `file:line:col` errors.
//! - [`setup`]: what both drivers derive from a scenario: groups, campaigns, catalogs, servers.
//! - [`device`]: a simulated device (client, RNG streams, link phase, trace) and its ledger.
//! - [`fleet`]: the devices a run drives and their ledger, built alike for both drivers.
//! - [`rng`], [`digest`], [`stats`]: per-device random streams, trace digests, run statistics.
//! - [`director`]: the campaign director: when campaigns start and are canceled, whom
//!   they select, what they ask of the server cores (used by the engine and `serve`).
//! - [`engine`]: the virtual-time engine and its event queue; one device's replay.
//! - [`result`]: what a run produced ([`result::RunResult`]), whichever driver ran it.
//! - [`constrained_report`], [`management_log`]: parts of a run's result.
//! - [`snapshot`]: what a UI shows of a running fleet.
//! - [`shrink`]: minimising a scenario that makes an invariant fire.
//! - [`report`]: `report.json`, JUnit, HTML, the terminal summary, replay and merge.
//!
//! This crate must never depend on tokio, hyper or a terminal library, nor
//! read a clock in a virtual-mode decision.

pub mod constrained_report;
pub mod device;
pub mod digest;
pub mod director;
pub mod edge;
pub mod engine;
pub mod fleet;
pub mod gateway_ddi;
mod group_auth;
pub mod leak;
pub mod management_log;
pub mod report;
pub mod result;
pub mod rng;
pub mod scenario;
pub mod selection;
pub mod setup;
pub mod shrink;
pub mod snapshot;
pub mod stats;

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
