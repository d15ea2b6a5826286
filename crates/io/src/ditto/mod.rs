//! Eclipse Ditto over real networks.
//!
//! - [`session`]: a Ditto Protocol WebSocket (`/ws/2`, Basic auth) as a pair
//!   of frame channels, and [`session::drive`], the loop that runs a
//!   sans-IO client on the crate's client contract (e.g. the edge gateway,
//!   `EdgeClient`) over it.
//! - [`http`]: twin commands against a real Ditto's HTTP API v2, one
//!   request each ([`http::DittoHttp`]).
//! - [`twin`]: where a real-time run's twin lives and which of its APIs the
//!   gateways write it with ([`twin::TwinOptions`]).
//!
//! The server side (`fleetsim serve`'s `/api/2/things/…` and `/ws/2`) is in
//! [`crate::http_server`].

pub mod http;
pub mod session;
pub mod twin;
