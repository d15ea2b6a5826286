//! [`DeviceLink`]: one simulated device's MQTT connection (rumqttc) for a
//! real-time driver of [`fleetsim_core::protocol::otau::OtauClient`] in MQTT mode:
//! connects as the device (client id, user name and password = CIK: rumqttc
//! cannot send Murano's empty user name with a password, otau.md §8),
//! subscribes to its `config_otau` topic (again after every reconnect),
//! publishes resource values awaiting the PUBACK within a bound, and yields
//! incoming `(alias, value)` messages. Topics: [`super`].

use std::net::SocketAddr;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;

use super::{config_topic, publish_topic, MqttError, MAX_PAYLOAD};
use fleetsim_core::message::NetError;

/// Pause before reconnecting after a connection error.
const RECONNECT_DELAY: Duration = Duration::from_millis(250);

/// A device's MQTT connection; dropping it ends the connection.
pub struct DeviceLink {
    client: AsyncClient,
    cik: String,
    /// PUBACK packet ids, forwarded by the event loop task.
    acks: Mutex<mpsc::UnboundedReceiver<u16>>,
    /// Incoming `(alias, value)` on the device's `config_otau` topic.
    messages: mpsc::UnboundedReceiver<(String, String)>,
    task: JoinHandle<()>,
}

impl DeviceLink {
    /// Connects device `cik` to the broker at `addr` and subscribes to its
    /// `config_otau` topic; fails if that takes longer than `bound`.
    pub async fn connect(
        addr: SocketAddr,
        cik: &str,
        bound: Duration,
    ) -> Result<DeviceLink, MqttError> {
        let mut opts = MqttOptions::new(cik, addr.ip().to_string(), addr.port());
        // Murano: username "", password = CIK (otau.md §8). rumqttc leaves
        // an empty user name out but keeps the password, which MQTT 3.1.1
        // (§3.1.2.9) forbids and Mosquitto refuses ("password without
        // username"), so the CIK is sent as both.
        opts.set_credentials(cik, cik)
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            .set_max_packet_size(MAX_PAYLOAD + 1024, MAX_PAYLOAD + 1024);
        let (client, mut eventloop) = AsyncClient::new(opts, 64);
        let (ack_tx, acks) = mpsc::unbounded_channel();
        let (msg_tx, messages) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel::<Result<(), String>>();
        let topic = config_topic(cik);
        let sub_client = client.clone();
        let task = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match eventloop.poll().await {
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
                    Ok(Event::Incoming(Packet::Publish(p))) if p.topic == topic => {
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
        let topic = publish_topic(&self.cik, alias);
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
