//! OTAU over MQTT with real IO (otau.md §8), in two modes, and the
//! per-device link a real-time driver of
//! [`fleetsim_core::protocol::otau::OtauClient`] (in [`Transport::Mqtt`] mode)
//! uses with either ([`DeviceLink`], [`Broker`], [`Dialect`]).
//!
//! # Murano-shaped endpoint ([`murano`], [`Dialect::Murano`]; `serve`'s default)
//! fleetsim plays Murano itself: an MQTT 3.1.1 server on the
//! [`fleetsim_core::server::otau::OtauServer`] with no broker in between.
//! The device is whoever its token (the CONNECT password) names, topics are
//! bare `$resource/<alias>`, values come on `$resource/config_otau/<µs>`
//! without a SUBSCRIBE (pending ones on every connect), `$provision/<identity>`
//! activates, unknown or unactivated tokens get CONNACK 4/5. TLS (rustls)
//! with `serve`'s certificate, where ALPN `http/1.1` gets `serve`'s HTTP
//! service (§4.6); plain TCP for development. Devices reach it as
//! `mqtt://` / `mqtts://`.
//!
//! # Generic broker ([`ServerBridge`], [`Dialect::Generic`]; development, third-party brokers)
//! A generic broker (the embedded rumqttd, [`EmbeddedBroker`]; Mosquitto,
//! [`Mosquitto`]) cannot derive a device from its password, so every topic
//! carries the device's CIK and a bridge client connects the core to the
//! broker. Devices reach it as `fleetsim+mqtt://` / `fleetsim+mqtts://`
//! (TLS when the broker speaks it, e.g. Mosquitto with `certfile`):
//!
//! | direction | topic | payload |
//! |---|---|---|
//! | device → server, QoS 1 | `fleetsim/<cik>/$resource/<alias>` (`config_otau` = the ACK, `otau_in` = a status) | the raw value |
//! | server → device, QoS 1, **retained** | `fleetsim/<cik>/$resource/config_otau/set` | the pending manifest; empty = none |
//!
//! The server's value has its own topic (Murano likewise publishes it on
//! `$resource/config_otau/<timestamp>`, a topic the device never publishes
//! to): on a plain broker a device subscribed to the topic it ACKs on would
//! receive its own ACK back, and the bridge would take its own manifest for
//! an ACK. `set` names the cloud-written value of Murano's resource model
//! (otau.md §1, "set" vs "reported").
//!
//! Retained delivery implements "pending values are re-sent on (re)connect"
//! (otau.md §8, [MQTT-b]): the bridge publishes a manifest retained when the
//! application writes it and clears it (an empty retained payload) once the
//! device has acknowledged it; devices ignore empty payloads. Devices
//! connect with client id, user name and password `<cik>` (Mosquitto
//! refuses a password without a user name). There is no activation over a
//! generic broker (devices activate over HTTP). Content downloads stay HTTP
//! in both modes (otau.md §8).
//!
//! [`Transport::Mqtt`]: fleetsim_core::protocol::otau::Transport::Mqtt

use thiserror::Error;

mod bridge;
mod broker;
mod device;
mod mosquitto;
pub mod murano;

pub use bridge::{OtauHost, ServerBridge, Standalone};
pub use broker::{EmbeddedBroker, MAX_PAYLOAD};
pub use device::{client_tls, provision, Broker, DeviceLink, Dialect};
pub use mosquitto::Mosquitto;
pub use murano::{MuranoEndpoint, MuranoOptions};

/// Errors of the MQTT layer.
#[derive(Debug, Error)]
pub enum MqttError {
    /// A socket, process or file operation failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The embedded or external broker could not be started.
    #[error("broker: {0}")]
    Broker(String),
    /// The MQTT client refused a request (its event loop is gone).
    #[error("mqtt client: {0}")]
    Client(#[from] rumqttc::ClientError),
    /// Connecting or subscribing failed.
    #[error("connect: {0}")]
    Connect(String),
    /// No answer within the bound.
    #[error("timed out: {0}")]
    Timeout(&'static str),
}

/// What `--mqtt` names: `[SCHEME://]HOST:PORT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokerUrl<'a> {
    /// `HOST:PORT`.
    pub host_port: &'a str,
    /// `HOST` (TLS server name).
    pub host: &'a str,
    /// Topics and credentials.
    pub dialect: Dialect,
    /// TLS.
    pub tls: bool,
}

/// Parses `[SCHEME://]HOST:PORT`: no scheme or `mqtt://` is a Murano-shaped
/// endpoint over TCP, `mqtts://` over TLS; `fleetsim+mqtt://` and
/// `fleetsim+mqtts://` a generic broker with `fleetsim/<cik>` topics.
pub fn parse_broker_url(given: &str) -> Result<BrokerUrl<'_>, String> {
    let (scheme, rest) = given.split_once("://").unwrap_or(("mqtt", given));
    let (dialect, tls) = match scheme {
        "mqtt" => (Dialect::Murano, false),
        "mqtts" => (Dialect::Murano, true),
        "fleetsim+mqtt" => (Dialect::Generic, false),
        "fleetsim+mqtts" => (Dialect::Generic, true),
        other => {
            return Err(format!(
                "unknown scheme `{other}://`: expected mqtt://, mqtts://, fleetsim+mqtt:// or fleetsim+mqtts://"
            ))
        }
    };
    let host = match rest.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && port.parse::<u16>().is_ok() => h,
        _ => {
            return Err(format!(
                "expected HOST:PORT such as 127.0.0.1:1883, found `{rest}`"
            ))
        }
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok(BrokerUrl {
        host_port: rest,
        host,
        dialect,
        tls,
    })
}

/// The root of every fleetsim topic.
pub const TOPIC_ROOT: &str = "fleetsim";

/// The topic device `cik` publishes resource `alias` on.
pub fn publish_topic(cik: &str, alias: &str) -> String {
    format!("{TOPIC_ROOT}/{cik}/$resource/{alias}")
}

/// The topic the server publishes `config_otau` values for device `cik` on.
pub fn config_topic(cik: &str) -> String {
    format!("{TOPIC_ROOT}/{cik}/$resource/config_otau/set")
}

/// The bridge's subscription: every device publish.
pub const BRIDGE_FILTER: &str = "fleetsim/+/$resource/+";

/// `(cik, alias)` of a device publish topic.
pub fn parse_publish_topic(topic: &str) -> Option<(&str, &str)> {
    let rest = topic.strip_prefix(TOPIC_ROOT)?.strip_prefix('/')?;
    let (cik, rest) = rest.split_once('/')?;
    let alias = rest.strip_prefix("$resource/")?;
    (!cik.is_empty() && !alias.is_empty() && !alias.contains('/')).then_some((cik, alias))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip_and_server_topic_is_not_a_device_topic() {
        let t = publish_topic("abc", "otau_in");
        assert_eq!(t, "fleetsim/abc/$resource/otau_in");
        assert_eq!(parse_publish_topic(&t), Some(("abc", "otau_in")));
        assert_eq!(parse_publish_topic(&config_topic("abc")), None);
        assert_eq!(parse_publish_topic("other/abc/$resource/x"), None);
        assert_eq!(parse_publish_topic("fleetsim//$resource/x"), None);
    }

    #[test]
    fn broker_urls() {
        let u = parse_broker_url("127.0.0.1:1883").unwrap();
        assert_eq!(
            (u.dialect, u.tls, u.host),
            (Dialect::Murano, false, "127.0.0.1")
        );
        let u = parse_broker_url("mqtts://localhost:8883").unwrap();
        assert_eq!(
            (u.dialect, u.tls, u.host_port),
            (Dialect::Murano, true, "localhost:8883")
        );
        let u = parse_broker_url("fleetsim+mqtts://[::1]:8883").unwrap();
        assert_eq!((u.dialect, u.tls, u.host), (Dialect::Generic, true, "::1"));
        for bad in ["http://h:1", "h", "h:x", ":1883", "mqtt://"] {
            assert!(parse_broker_url(bad).is_err(), "{bad}");
        }
    }
}
