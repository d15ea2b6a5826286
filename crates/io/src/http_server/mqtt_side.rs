//! `serve`'s MQTT side (OTAU over MQTT, otau.md §8): the Murano-shaped
//! endpoint on the OTAU core, or a generic broker (embedded rumqttd or an
//! external one) and the bridge; and the task that sends devices the
//! manifests campaigns and admin routes write. See the module doc of
//! [`super`] and [`crate::mqtt`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::endpoint::{Endpoint, Shared};
use super::{conn, ServeError, ServeMqtt};
use fleetsim_core::time::Time;
use fleetsim_fleet::scenario::Scenario;

/// How long the bridge may take to connect and subscribe.
const MQTT_CONNECT_BOUND: Duration = Duration::from_secs(10);

/// The MQTT endpoint, or the broker (when embedded) and the bridge, and the
/// task that publishes what campaigns and admin routes write; dropping it
/// ends them.
pub(super) struct MqttSide {
    _broker: Option<crate::mqtt::EmbeddedBroker>,
    _pusher: Arc<Pusher>,
    publisher: JoinHandle<()>,
}

impl Drop for MqttSide {
    fn drop(&mut self) {
        self.publisher.abort();
    }
}

/// Who sends devices the manifests written for them.
enum Pusher {
    Murano(crate::mqtt::MuranoEndpoint),
    Bridge(crate::mqtt::ServerBridge),
}

impl Pusher {
    async fn publish_pending(&self, devices: Vec<u64>) {
        match self {
            Pusher::Murano(e) => e.publish_pending(devices),
            Pusher::Bridge(b) => b.publish_pending(devices).await,
        }
    }
}

/// `serve`'s state as the MQTT side sees it: scenario time, one OTAU core.
struct Host(Arc<Shared>);

impl crate::mqtt::OtauHost for Host {
    fn with_otau(&self, f: &mut dyn FnMut(&mut fleetsim_core::server::otau::OtauServer, Time)) {
        let now = self.0.clock().now();
        self.0.lock().with_otau(now, f);
    }
}

/// Where devices reach the MQTT side: `mqtt://`, `mqtts://` (the
/// Murano-shaped endpoint) or `fleetsim+mqtt://` (a generic broker).
fn mqtt_url(addr: SocketAddr, murano: bool, tls: bool) -> String {
    match (murano, tls) {
        (true, true) => format!("mqtts://{addr}"),
        (true, false) => format!("mqtt://{addr}"),
        (false, _) => format!("fleetsim+mqtt://{addr}"),
    }
}

/// Starts the MQTT side on `shared`'s OTAU core: the Murano-shaped endpoint
/// (TLS with `tls`, HTTP over its port to `http`), or the broker (if
/// embedded) and the bridge. Returns its address, URL and handle.
pub(super) async fn start_mqtt(
    mode: ServeMqtt,
    scenario: Option<&Scenario>,
    shared: &Arc<Shared>,
    tls: Option<Arc<rustls::ServerConfig>>,
    http: Arc<Endpoint>,
) -> Result<Option<(SocketAddr, String, MqttSide)>, ServeError> {
    let scenario_mqtt = scenario.is_some_and(|s| {
        s.fleet
            .iter()
            .any(|g| g.protocol == fleetsim_fleet::scenario::Protocol::OtauMqtt && g.count > 0)
    });
    let (devices, kick) = {
        let state = shared.lock();
        (state.mqtt_device_count(), state.mqtt_kick())
    };
    let host = Arc::new(Host(shared.clone()));
    let mqtt_error = |addr: String| move |source| ServeError::Mqtt { addr, source };
    let (broker, pusher, addr, url) = match mode {
        ServeMqtt::Auto if !scenario_mqtt => return Ok(None),
        ServeMqtt::Auto | ServeMqtt::Embedded(_) => {
            let listen = match mode {
                ServeMqtt::Embedded(a) => a,
                _ => SocketAddr::from(([127, 0, 0, 1], 0)),
            };
            let with_tls = tls.is_some();
            let opts = crate::mqtt::MuranoOptions {
                tls,
                http: Some(Arc::new(conn::MqttPortHttp(http))),
                // A connection per MQTT device, and room for activations.
                max_connections: usize::try_from(devices)
                    .unwrap_or(usize::MAX)
                    .saturating_add(256)
                    .max(crate::mqtt::murano::DEFAULT_MAX_CONNECTIONS),
            };
            let endpoint = crate::mqtt::MuranoEndpoint::start(listen, host, opts)
                .await
                .map_err(mqtt_error(listen.to_string()))?;
            let addr = endpoint.addr();
            (
                None,
                Pusher::Murano(endpoint),
                addr,
                mqtt_url(addr, true, with_tls),
            )
        }
        ServeMqtt::EmbeddedBroker(listen) | ServeMqtt::External(listen) => {
            let broker = match mode {
                ServeMqtt::EmbeddedBroker(_) => {
                    let max = usize::try_from(devices)
                        .unwrap_or(usize::MAX)
                        .saturating_add(16);
                    Some(
                        crate::mqtt::EmbeddedBroker::start_on(listen, max)
                            .map_err(mqtt_error(listen.to_string()))?,
                    )
                }
                _ => None,
            };
            let addr = broker.as_ref().map_or(listen, |b| b.addr());
            // The bridge connects to loopback when the broker listens on every interface.
            let connect = if addr.ip().is_unspecified() {
                SocketAddr::from(([127, 0, 0, 1], addr.port()))
            } else {
                addr
            };
            let bridge = crate::mqtt::ServerBridge::start_with(connect, host, MQTT_CONNECT_BOUND)
                .await
                .map_err(mqtt_error(addr.to_string()))?;
            (
                broker,
                Pusher::Bridge(bridge),
                addr,
                mqtt_url(addr, false, false),
            )
        }
    };
    let pusher = Arc::new(pusher);
    let publisher = spawn_publisher(kick, shared.clone(), pusher.clone());
    let side = MqttSide {
        _broker: broker,
        _pusher: pusher,
        publisher,
    };
    Ok(Some((addr, url, side)))
}

/// Sends the manifests written for MQTT devices each time `kick` says some were.
fn spawn_publisher(
    kick: Arc<tokio::sync::Notify>,
    shared: Arc<Shared>,
    pusher: Arc<Pusher>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            kick.notified().await;
            let written = shared.lock().take_mqtt_written();
            if !written.is_empty() {
                tracing::debug!(devices = written.len(), "mqtt: publishing manifests");
                pusher.publish_pending(written).await;
            }
        }
    })
}
