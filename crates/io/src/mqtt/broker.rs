//! The embedded MQTT 3.1.1 broker: rumqttd's router and one plain-TCP v4
//! listener on a loopback port, started inside fleetsim (no external
//! process) and stopped when [`EmbeddedBroker`] is dropped.
//!
//! rumqttd's `Broker::start` blocks forever and cannot report the port it
//! bound, so this drives its public parts directly: `Router::spawn` and a
//! `Server` whose accept loop runs on a dedicated thread until shutdown. The
//! port is a free one picked just before (bind to port 0, read, release).
//! Stopping ends the listener and every connection; rumqttd 0.20's router
//! thread has no shutdown and stays parked on its empty channel (no socket,
//! no CPU) until the process exits.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttd::protocol::v4::V4;
use rumqttd::{ConnectionSettings, LinkType, Router, RouterConfig, Server, ServerSettings};
use tokio::sync::oneshot;

use super::MqttError;

/// Largest resource value Murano accepts over MQTT (otau.md §8).
pub const MAX_PAYLOAD: usize = 1_048_576;

/// A running embedded broker; dropping it stops it.
pub struct EmbeddedBroker {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedBroker {
    /// Starts a broker on a free loopback port for up to `max_connections`
    /// clients and waits (at most 5 s) until it accepts connections.
    pub fn start(max_connections: usize) -> Result<EmbeddedBroker, MqttError> {
        EmbeddedBroker::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), max_connections)
    }

    /// [`EmbeddedBroker::start`] listening on `listen`; port 0 picks a free port.
    pub fn start_on(
        listen: SocketAddr,
        max_connections: usize,
    ) -> Result<EmbeddedBroker, MqttError> {
        let addr = if listen.port() == 0 {
            TcpListener::bind(listen)?.local_addr()?
        } else {
            listen
        };
        // Where this process checks that the listener is up.
        let probe = if addr.ip().is_unspecified() {
            SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
        } else {
            addr
        };
        let router_config = RouterConfig {
            max_connections: max_connections.max(16),
            max_outgoing_packet_count: 200,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 10,
            ..RouterConfig::default()
        };
        let router_tx = Router::new(0, router_config).spawn();
        let settings = server_settings(addr);
        let (shutdown, stop) = oneshot::channel::<()>();
        let (failed_tx, failed_rx) = std::sync::mpsc::channel::<String>();
        let thread = std::thread::Builder::new()
            .name("fleetsim-mqtt-broker".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = failed_tx.send(e.to_string());
                        return;
                    }
                };
                runtime.block_on(async move {
                    let mut server = Server::new(settings, router_tx, V4);
                    tokio::select! {
                        r = server.start(LinkType::Remote) => {
                            let why = match r {
                                Ok(()) => "listener ended".to_string(),
                                Err(e) => e.to_string(),
                            };
                            let _ = failed_tx.send(why);
                        }
                        _ = stop => {}
                    }
                });
            })?;
        let broker = EmbeddedBroker {
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        };
        broker.wait_until_up(probe, &failed_rx)
    }

    /// Waits (at most 5 s) until `probe` accepts connections; stops the
    /// broker when its thread reports on `failed` or time runs out.
    fn wait_until_up(
        mut self,
        probe: SocketAddr,
        failed: &std::sync::mpsc::Receiver<String>,
    ) -> Result<EmbeddedBroker, MqttError> {
        let addr = self.addr;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(why) = failed.try_recv() {
                self.stop();
                return Err(MqttError::Broker(why));
            }
            if TcpStream::connect_timeout(&probe, Duration::from_millis(200)).is_ok() {
                return Ok(self);
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(MqttError::Broker(format!("{addr} did not open within 5 s")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the listener and all connections and waits for its thread.
    pub fn stop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The v4 listener's settings: plain TCP on `addr`, payloads up to
/// [`MAX_PAYLOAD`] (plus room for the packet's other fields).
fn server_settings(addr: SocketAddr) -> ServerSettings {
    ServerSettings {
        name: "fleetsim-v4".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 0,
        connections: ConnectionSettings {
            connection_timeout_ms: 10_000,
            max_payload_size: MAX_PAYLOAD + 1024,
            max_inflight_count: 100,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        self.stop();
    }
}
