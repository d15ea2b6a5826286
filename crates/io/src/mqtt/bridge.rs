//! [`ServerBridge`]: connects the sans-IO OTAU server core to an MQTT broker
//! (otau.md §8). It subscribes to every device publish
//! ([`super::BRIDGE_FILTER`]), records each through
//! [`OtauServer::mqtt_publish`] (the device is the CIK in the topic), and
//! keeps each device's retained `config_otau/set` message equal to
//! [`OtauServer::mqtt_pending`]: published when the application writes a
//! manifest ([`ServerBridge::set_manifest`], [`ServerBridge::set_manifest_all`]),
//! cleared once the device
//! acknowledges it.
//!
//! The bridge reaches the core through an [`OtauHost`]: a standalone
//! `Arc<Mutex<OtauServer>>` with run time = milliseconds since an `epoch`
//! ([`ServerBridge::start`]), or `fleetsim serve`'s state, whose OTAU core
//! the HTTP routes share and whose clock is scenario time
//! ([`ServerBridge::start_with`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, Packet, QoS};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{config_topic, parse_publish_topic, Broker, Dialect, MqttError, BRIDGE_FILTER};
use fleetsim_core::server::otau::{cik_for, device_for_cik, OtauServer};
use fleetsim_core::time::Time;

/// Where the bridge finds its [`OtauServer`] and the time.
pub trait OtauHost: Send + Sync + 'static {
    /// Calls `f` once with the locked server core and the run time now.
    fn with_otau(&self, f: &mut dyn FnMut(&mut OtauServer, Time));
}

/// A server core of its own: run time is milliseconds since `epoch`.
pub struct Standalone {
    server: Arc<Mutex<OtauServer>>,
    epoch: Instant,
}

impl Standalone {
    /// `server`, its run time counted from `epoch`.
    pub fn new(server: Arc<Mutex<OtauServer>>, epoch: Instant) -> Arc<Standalone> {
        Arc::new(Standalone { server, epoch })
    }
}

impl OtauHost for Standalone {
    fn with_otau(&self, f: &mut dyn FnMut(&mut OtauServer, Time)) {
        let now = Time(self.epoch.elapsed().as_millis() as u64);
        let mut s = self.server.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut s, now);
    }
}

/// Runs `f` on the host's core and returns its result.
pub(crate) fn with<R>(host: &dyn OtauHost, f: impl FnOnce(&mut OtauServer, Time) -> R) -> R {
    let mut f = Some(f);
    let mut out = None;
    host.with_otau(&mut |s, now| {
        if let Some(f) = f.take() {
            out = Some(f(s, now));
        }
    });
    match out {
        Some(r) => r,
        // An `OtauHost` must call `f`; one that does not is a bug in fleetsim.
        None => unreachable!("OtauHost::with_otau did not call its closure"),
    }
}

/// The bridge between a broker and an [`OtauServer`]; dropping it ends it.
pub struct ServerBridge {
    client: AsyncClient,
    host: Arc<dyn OtauHost>,
    tasks: Vec<JoinHandle<()>>,
}

impl ServerBridge {
    /// Connects to the broker at `addr` as client `fleetsim-bridge`,
    /// subscribes, and (re)publishes every device's pending manifest.
    /// Fails if connecting and subscribing take longer than `bound`.
    pub async fn start(
        addr: SocketAddr,
        server: Arc<Mutex<OtauServer>>,
        epoch: Instant,
        bound: Duration,
    ) -> Result<ServerBridge, MqttError> {
        ServerBridge::start_with(addr, Standalone::new(server, epoch), bound).await
    }

    /// [`ServerBridge::start`] on a core that `host` owns (and others share).
    pub async fn start_with(
        addr: SocketAddr,
        host: Arc<dyn OtauHost>,
        bound: Duration,
    ) -> Result<ServerBridge, MqttError> {
        ServerBridge::start_on(&Broker::plain(addr, Dialect::Generic), host, bound).await
    }

    /// [`ServerBridge::start_with`] to `broker` (e.g. over TLS).
    pub async fn start_on(
        broker: &Broker,
        host: Arc<dyn OtauHost>,
        bound: Duration,
    ) -> Result<ServerBridge, MqttError> {
        let opts = broker.options("fleetsim-bridge");
        let (client, mut eventloop) = AsyncClient::new(opts, 1024);
        let (ready_tx, ready_rx) = oneshot::channel::<Result<(), String>>();
        let (in_tx, mut in_rx) = mpsc::unbounded_channel::<(String, Vec<u8>)>();
        let sub_client = client.clone();
        let poller = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if let Err(e) = sub_client.try_subscribe(BRIDGE_FILTER, QoS::AtLeastOnce) {
                            tracing::warn!(error = %e, "mqtt bridge: subscribe request failed");
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(Ok(()));
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = in_tx.send((p.topic, p.payload.to_vec()));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(Err(e.to_string()));
                            break;
                        }
                        tracing::debug!(error = %e, "mqtt bridge: connection lost; reconnecting");
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                }
            }
        });
        // Device publishes are recorded here, off the event loop, so that the
        // bridge's own publishes can never block the loop that sends them.
        let handler = {
            let client = client.clone();
            let host = host.clone();
            tokio::spawn(async move {
                while let Some((topic, payload)) = in_rx.recv().await {
                    let update = with(&*host, |s, now| record(s, now, &topic, &payload));
                    if let Some(update) = update {
                        publish_retained(&client, update).await;
                    }
                }
            })
        };
        let bridge = ServerBridge {
            client,
            host,
            tasks: vec![poller, handler],
        };
        match tokio::time::timeout(bound, ready_rx).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => return Err(MqttError::Connect(e)),
            Ok(Err(_)) => return Err(MqttError::Connect("event loop ended".into())),
            Err(_) => return Err(MqttError::Timeout("bridge connect and subscribe")),
        }
        let devices = with(&*bridge.host, |s, _| s.devices());
        bridge.publish_pending(0..devices).await;
        Ok(bridge)
    }

    /// Publishes, retained, the pending manifest of each of `devices` (the
    /// application wrote them in the core itself, e.g. `serve`'s campaigns).
    /// Devices without one are left alone; failures are logged.
    pub async fn publish_pending(&self, devices: impl IntoIterator<Item = u64>) {
        let devices: Vec<u64> = devices.into_iter().collect();
        let pending: Vec<(String, Arc<str>)> = with(&*self.host, |s, _| {
            devices
                .iter()
                .filter_map(|&d| {
                    s.mqtt_pending(d)
                        .map(|(v, _)| (config_topic(&cik_for(d)), v))
                })
                .collect()
        });
        for update in pending {
            publish_retained(&self.client, update).await;
        }
    }

    /// Writes `manifest` to `device`'s `config_otau` and publishes it
    /// retained; `false` when there is no such device.
    pub async fn set_manifest(&self, device: u64, manifest: &str) -> Result<bool, MqttError> {
        if !with(&*self.host, |s, now| {
            s.set_manifest(device, Arc::from(manifest), now)
        }) {
            return Ok(false);
        }
        let payload = manifest.as_bytes().to_vec();
        let topic = config_topic(&cik_for(device));
        self.client
            .publish(topic, QoS::AtLeastOnce, true, payload)
            .await?;
        Ok(true)
    }

    /// Writes `manifest` to every device's `config_otau` (a campaign) and
    /// publishes it retained to each; returns how many devices it reached.
    pub async fn set_manifest_all(&self, manifest: &str) -> Result<u64, MqttError> {
        let shared: Arc<str> = Arc::from(manifest);
        let devices: Vec<u64> = with(&*self.host, |s, now| {
            (0..s.devices())
                .filter(|d| s.set_manifest(*d, shared.clone(), now))
                .collect()
        });
        for d in &devices {
            self.client
                .publish(
                    config_topic(&cik_for(*d)),
                    QoS::AtLeastOnce,
                    true,
                    manifest.as_bytes().to_vec(),
                )
                .await?;
        }
        Ok(devices.len() as u64)
    }
}

impl Drop for ServerBridge {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Records one device publish; returns the retained update the device's
/// `config_otau/set` topic needs after an ACK (the pending value, or empty).
fn record(
    s: &mut OtauServer,
    now: Time,
    topic: &str,
    payload: &[u8],
) -> Option<(String, Arc<str>)> {
    let Some((cik, alias)) = parse_publish_topic(topic) else {
        tracing::debug!(topic, "mqtt bridge: not a device topic");
        return None;
    };
    let Some(device) = device_for_cik(cik) else {
        tracing::warn!(topic, "mqtt bridge: unknown CIK");
        return None;
    };
    let Ok(value) = std::str::from_utf8(payload) else {
        tracing::warn!(topic, "mqtt bridge: non-UTF-8 value ignored");
        return None;
    };
    if let Err(e) = s.mqtt_publish(now, device, alias, value) {
        tracing::warn!(topic, error = %e, "mqtt bridge: publish refused");
        return None;
    }
    if alias != "config_otau" {
        return None;
    }
    let pending = s
        .mqtt_pending(device)
        .map_or_else(|| Arc::from(""), |(v, _)| v);
    Some((config_topic(cik), pending))
}

async fn publish_retained(client: &AsyncClient, (topic, value): (String, Arc<str>)) {
    let payload = value.as_bytes().to_vec();
    if let Err(e) = client.publish(topic, QoS::AtLeastOnce, true, payload).await {
        tracing::warn!(error = %e, "mqtt bridge: publish failed");
    }
}
