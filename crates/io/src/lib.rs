//! fleetsim-io — fleetsim on real networks: the real-time driver, the
//! embedded server over HTTP(S) and MQTT, and the adapters that drive real
//! servers' management APIs.
//!
//! - [`realtime`]: the real-time driver: the same devices over real HTTP(S), on tokio.
//! - [`ditto`]: Ditto Protocol WebSocket sessions (`/ws/2`) and the loop that runs a gateway client over one.
//! - [`http_client`]: the HTTP(S) client (hyper, rustls) devices and adapters share.
//! - [`http_server`]: `fleetsim serve`, the server cores over real HTTP(S) (hyper, rustls).
//! - [`netem`]: network emulation on a real network (seeded drops, delays, throttling, window cuts).
//! - [`proxy`]: `fleetsim proxy`, a reverse proxy applying a scenario's seeded network faults to any HTTP client.
//! - [`mqtt`]: OTAU over MQTT: the embedded broker (rumqttd), the server bridge, device links.
//! - [`server_events`]: the wire format of `serve`'s server-side event stream.
//! - [`metrics`]: live Prometheus metrics of a run or of `serve` (`--metrics-listen`).
//! - [`management`]: campaigns on real servers through their management APIs (hawkBit, goosebit).
//! - [`conform`]: `fleetsim conform`, a catalogue of conformance cases run against a DDI server.
//!
//! This crate must never import the terminal UI: the real-time driver
//! publishes snapshots ([`realtime::Live`]) that any UI may read.

pub mod conform;
pub mod ditto;
pub mod http_client;
pub mod http_server;
pub mod management;
pub mod metrics;
pub mod mqtt;
pub mod netem;
pub mod proxy;
pub mod realtime;
pub mod server_events;
