//! Where the twin of `protocol: ditto` gateways lives in a real-time run,
//! and how the gateways write it (`fleetsim run --twin/--twin-api`).
//!
//! - [`TwinApi::Ws`] (the default): everything over the twin's Ditto
//!   Protocol WebSocket `/ws/2` — twin commands, their responses, the
//!   gateway's `START-SEND-MESSAGES` and the live messages it gets.
//!   `fleetsim serve` speaks it, and so does Eclipse Ditto.
//! - [`TwinApi::Http`]: twin commands as HTTP API v2 requests (`PUT` /
//!   `DELETE /api/2/things/{thingId}{path}`, [`super::http`]), one per
//!   command, through the run's network emulation; `/ws/2` carries only
//!   `START-SEND-MESSAGES` and the live messages (`$set.configuration`
//!   commands to the gateway). A twin whose `/ws/2` refuses the upgrade
//!   (a proxy without WebSocket, a recorded Ditto) gets the gateway's
//!   writes anyway: that session runs without live messages, counted as
//!   `twin_ws_unavailable`.
//!
//! The backend's requests (commands posted to a thing's inbox, twin-side
//! writes) and the oracle's read-back (`GET /api/2/things/{thingId}`) go to
//! the twin's HTTP API in both modes.

use super::session::BasicAuth;

/// How gateways write their twin (see the module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TwinApi {
    /// Ditto Protocol over the WebSocket `/ws/2`.
    #[default]
    Ws,
    /// HTTP API v2 requests; `/ws/2` for live messages only.
    Http,
}

/// The twin of a real-time run's gateways.
#[derive(Clone, Debug, Default)]
pub struct TwinOptions {
    /// Its base URL (`http://ditto:8080`); `None`: the run's target
    /// (`fleetsim serve` hosts the twin next to its DDI server).
    pub url: Option<String>,
    /// How the gateways write it.
    pub api: TwinApi,
    /// Basic credentials for its HTTP API and `/ws/2`; `None`:
    /// `admin`/`admin`, serve's default Management API login.
    pub auth: Option<BasicAuth>,
}
