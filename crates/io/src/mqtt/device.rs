//! [`DeviceLink`]: one simulated device's MQTT connection (rumqttc) for a
//! real-time driver of [`fleetsim_core::protocol::otau::OtauClient`] in MQTT
//! mode, to a [`Broker`] of either [`Dialect`]:
//!
//! - [`Dialect::Murano`] (the [`super::murano`] endpoint, or Murano
//!   itself): client id and user name `""`, password = token, no SUBSCRIBE;
//!   values arrive on `$resource/config_otau/<timestamp>`, the device
//!   publishes to `$resource/<alias>`. rumqttc leaves the empty user name
//!   out and sends the password alone, which Murano's endpoint accepts.
//! - [`Dialect::Generic`] (rumqttd, Mosquitto): client id, user name and
//!   password = CIK (MQTT 3.1.1 §3.1.2.9 forbids a password without a user
//!   name and Mosquitto refuses one), and the `fleetsim/<cik>/...` topics
//!   of [`super`], subscribed after every reconnect.
//!
//! Either over TLS (rustls, trusting the broker's CA) or plain TCP. The
//! link publishes resource values awaiting the PUBACK within a bound and
//! yields incoming `(alias, value)` messages. [`provision`] is Murano's
//! activation over MQTT (`$provision/<identity>`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS, TlsConfiguration, Transport,
};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;

use super::{config_topic, publish_topic, MqttError, MAX_PAYLOAD};
use fleetsim_core::message::NetError;

/// Pause before reconnecting after a connection error.
const RECONNECT_DELAY: Duration = Duration::from_millis(250);

/// Topics and credentials a broker expects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dialect {
    /// Murano's: the device is its token; `$resource/...` topics (otau.md §8).
    #[default]
    Murano,
    /// A generic broker's: `fleetsim/<cik>/$resource/...` topics.
    Generic,
}

/// Where and how devices connect.
#[derive(Clone, Debug)]
pub struct Broker {
    /// The address.
    pub addr: SocketAddr,
    /// The host name (TLS SNI and certificate check; the address without TLS).
    pub host: String,
    /// Topics and credentials.
    pub dialect: Dialect,
    /// TLS client configuration (trusting the broker's CA); `None` = plain TCP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Broker {
    /// A plain-TCP broker at `addr`.
    pub fn plain(addr: SocketAddr, dialect: Dialect) -> Broker {
        Broker {
            addr,
            host: addr.ip().to_string(),
            dialect,
            tls: None,
        }
    }

    /// rumqttc's options for client `id` (transport, sizes, keep-alive).
    pub fn options(&self, id: &str) -> MqttOptions {
        let mut opts = MqttOptions::new(id, self.host.clone(), self.addr.port());
        opts.set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            .set_max_packet_size(MAX_PAYLOAD + 1024, MAX_PAYLOAD + 1024);
        if let Some(tls) = &self.tls {
            opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                tls.clone(),
            )));
        }
        opts
    }
}

/// A rustls client configuration (ring) trusting the web PKI and the
/// certificates in `ca_pem`.
pub fn client_tls(ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, MqttError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        let certs = rustls_pemfile::certs(&mut &pem[..])
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| MqttError::Connect(format!("CA: {e}")))?;
        if certs.is_empty() {
            return Err(MqttError::Connect("CA: no PEM certificate found".into()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| MqttError::Connect(format!("CA: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| MqttError::Connect(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A device's MQTT connection; dropping it ends the connection.
pub struct DeviceLink {
    client: AsyncClient,
    cik: String,
    dialect: Dialect,
    /// PUBACK packet ids, forwarded by the event loop task.
    acks: Mutex<mpsc::UnboundedReceiver<u16>>,
    /// Incoming `(alias, value)` on the device's `config_otau` topic.
    messages: mpsc::UnboundedReceiver<(String, String)>,
    task: JoinHandle<()>,
}

/// `config_otau` value of an incoming publish on `topic`, if it is one.
fn config_value(dialect: Dialect, cik: &str, topic: &str) -> bool {
    match dialect {
        Dialect::Murano => topic
            .strip_prefix("$resource/config_otau/")
            .is_some_and(|ts| !ts.is_empty() && ts.bytes().all(|b| b.is_ascii_digit())),
        Dialect::Generic => topic == config_topic(cik),
    }
}

impl DeviceLink {
    /// Connects device `cik` (its token) to `broker` (and, generic,
    /// subscribes to its `config_otau` topic); fails if that takes longer
    /// than `bound` or the broker refuses it.
    pub async fn connect(
        broker: &Broker,
        cik: &str,
        bound: Duration,
    ) -> Result<DeviceLink, MqttError> {
        let dialect = broker.dialect;
        let mut opts = match dialect {
            Dialect::Murano => {
                let mut o = broker.options("");
                o.set_credentials("", cik);
                o
            }
            Dialect::Generic => {
                let mut o = broker.options(cik);
                o.set_credentials(cik, cik);
                o
            }
        };
        opts.set_clean_session(true);
        let (client, mut eventloop) = AsyncClient::new(opts, 64);
        let (ack_tx, acks) = mpsc::unbounded_channel();
        let (msg_tx, messages) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel::<Result<(), String>>();
        let topic = config_topic(cik);
        let own = cik.to_string();
        let sub_client = client.clone();
        let task = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) if dialect == Dialect::Murano => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(Ok(()));
                        }
                    }
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        // Clean session: subscribe on every (re)connect.
                        if let Err(e) = sub_client.try_subscribe(topic.clone(), QoS::AtLeastOnce) {
                            tracing::warn!(error = %e, "mqtt device: subscribe request failed");
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(Ok(()));
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(a))) => {
                        let _ = ack_tx.send(a.pkid);
                    }
                    Ok(Event::Incoming(Packet::Publish(p)))
                        if config_value(dialect, &own, &p.topic) =>
                    {
                        match String::from_utf8(p.payload.to_vec()) {
                            Ok(v) => {
                                let _ = msg_tx.send(("config_otau".to_string(), v));
                            }
                            Err(_) => tracing::warn!("mqtt device: non-UTF-8 config_otau ignored"),
                        }
                    }
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
                    Ok(_) => {}
                    Err(e) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(Err(e.to_string()));
                            break;
                        }
                        tracing::debug!(error = %e, "mqtt device: connection lost; reconnecting");
                        tokio::time::sleep(RECONNECT_DELAY).await;
                    }
                }
            }
        });
        let link = DeviceLink {
            client,
            cik: cik.to_string(),
            dialect,
            acks: Mutex::new(acks),
            messages,
            task,
        };
        match tokio::time::timeout(bound, ready_rx).await {
            Ok(Ok(Ok(()))) => Ok(link),
            Ok(Ok(Err(e))) => Err(MqttError::Connect(e)),
            Ok(Err(_)) => Err(MqttError::Connect("event loop ended".into())),
            Err(_) => Err(MqttError::Timeout("connect and subscribe")),
        }
    }

    /// The device's CIK.
    pub fn cik(&self) -> &str {
        &self.cik
    }

    /// Publishes `value` to resource `alias` with QoS 1 and waits for the
    /// PUBACK at most `bound`: what the client's
    /// [`handle_published`](fleetsim_core::protocol::otau::OtauClient::handle_published)
    /// expects. One publish at a time per link.
    pub async fn publish(&self, alias: &str, value: &str, bound: Duration) -> Result<(), NetError> {
        let mut acks = self.acks.lock().await;
        while acks.try_recv().is_ok() {}
        let topic = match self.dialect {
            Dialect::Murano => format!("$resource/{alias}"),
            Dialect::Generic => publish_topic(&self.cik, alias),
        };
        let sent = self
            .client
            .publish(topic, QoS::AtLeastOnce, false, value.as_bytes().to_vec());
        match tokio::time::timeout(bound, sent).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(NetError::Unreachable),
            Err(_) => return Err(NetError::Timeout),
        }
        match tokio::time::timeout(bound, acks.recv()).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(NetError::Reset),
            Err(_) => Err(NetError::Timeout),
        }
    }

    /// Takes the stream of incoming `(alias, value)` messages, e.g. to
    /// forward it into a driver's channel; [`DeviceLink::recv`] then returns
    /// `None`.
    pub fn take_messages(&mut self) -> mpsc::UnboundedReceiver<(String, String)> {
        let (_, closed) = mpsc::unbounded_channel();
        std::mem::replace(&mut self.messages, closed)
    }

    /// The next incoming `(alias, value)`; `None` once the link has ended.
    /// Cancel-safe (use it in `select!` / under a timeout).
    pub async fn recv(&mut self) -> Option<(String, String)> {
        self.messages.recv().await
    }

    /// Sends DISCONNECT (bounded by 1 s) and ends the link.
    pub async fn close(mut self) {
        let bound = Duration::from_secs(1);
        if let Ok(Ok(())) = tokio::time::timeout(bound, self.client.disconnect()).await {
            let _ = tokio::time::timeout(bound, &mut self.task).await;
        }
    }
}

impl Drop for DeviceLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Murano's activation over MQTT (otau.md §8, [MQTT-ex] `activate.c`):
/// connect anonymously, publish an empty QoS 1 message to
/// `$provision/<identity>` and take the first message that comes back. A
/// 40-character payload is the token (`Ok`); anything else is the
/// endpoint's refusal (`Err`, e.g. `409 already activated`).
pub async fn provision(
    broker: &Broker,
    identity: &str,
    bound: Duration,
) -> Result<Result<String, String>, MqttError> {
    let (client, mut eventloop) = AsyncClient::new(broker.options(""), 8);
    let topic = format!("$provision/{identity}");
    let work = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    client
                        .try_publish(topic.clone(), QoS::AtLeastOnce, false, Vec::new())
                        .map_err(MqttError::Client)?;
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let reply = String::from_utf8_lossy(&p.payload).trim().to_string();
                    return Ok(if reply.len() == 40 && !reply.contains(' ') {
                        Ok(reply)
                    } else {
                        Err(reply)
                    });
                }
                Ok(_) => {}
                Err(e) => return Err(MqttError::Connect(e.to_string())),
            }
        }
    };
    let out = match tokio::time::timeout(bound, work).await {
        Ok(r) => r,
        Err(_) => Err(MqttError::Timeout("provisioning")),
    };
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_millis(200), eventloop.poll()).await;
    out
}
