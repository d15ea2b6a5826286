//! fleetsim — a deterministic device-fleet simulator and conformance tester
//! for software-update servers.
//!
//! The work is done by three crates, re-exported here so that tests,
//! benchmarks and the binary reach every layer by one name:
//!
//! - `fleetsim-core` (sans-IO): [`time`], [`message`], [`artifact`],
//!   [`protocol`], [`server`], [`oracle`], [`connectivity`];
//! - `fleetsim-fleet`: [`scenario`], [`setup`], [`fleet`], [`device`], [`rng`],
//!   [`digest`], [`stats`], [`director`], [`engine`], [`result`], [`snapshot`],
//!   [`shrink`], [`report`];
//! - `fleetsim-io`: [`realtime`], [`http_client`], [`http_server`], [`mqtt`],
//!   [`management`], [`conform`].
//!
//! This package adds the terminal UI ([`tui`]) and the command line.
//! `docs/guide/architecture.md` draws the layers and what each may import.

pub use fleetsim_core::{artifact, connectivity, message, oracle, protocol, server, time};
pub use fleetsim_fleet::{
    constrained_report, device, digest, director, engine, fleet, management_log, report, result,
    rng, scenario, setup, shrink, snapshot, stats,
};
pub use fleetsim_io::{
    conform, http_client, http_server, management, metrics, mqtt, netem, proxy, realtime,
    server_events,
};

pub mod tui;
