//! The Murano-shaped MQTT endpoint (otau.md §8): fleetsim itself plays
//! Murano's MQTT device API, talking to the OTAU core directly instead of
//! through a broker. MQTT 3.1.1 over TLS (rustls, the certificate of
//! `serve --tls-cert`) or, for development, plain TCP.
//!
//! | direction | topic | payload |
//! |---|---|---|
//! | device → server | `$resource/config_otau` (the ACK), `$resource/otau_in` (a status), `$resource.batch` (`[{"timestamp", "values": {alias: value}}]`) | the raw value |
//! | server → device, QoS 1 | `$resource/config_otau/<µs timestamp>` | the pending manifest, on every connect and when written |
//! | anonymous device → server | `$provision/<identity>` (empty payload) | — |
//! | server → anonymous device | `$provision/<identity>` | the 40-character token, or `<status> <reason>` (404/409/403) |
//!
//! The device is whoever its CONNECT password (the token) says; client id
//! and user name may be empty and are not looked at; no SUBSCRIBE is
//! needed. Tokens are checked, and activation gates them, exactly as on the
//! HTTP routes, on the same core. Details: [`session`]. With TLS the port
//! also serves HTTP to a client that negotiates ALPN `http/1.1` (otau.md
//! §4.6), see [`HttpHandoff`].

pub mod session;

mod endpoint;

pub use endpoint::{HttpHandoff, MuranoEndpoint, MuranoOptions, DEFAULT_MAX_CONNECTIONS};
