//! [`MuranoEndpoint`]: the listener of the Murano-shaped MQTT endpoint.
//! Each connection runs a [`Session`] on the shared OTAU core (through an
//! [`OtauHost`]); devices are registered by number so that a manifest the
//! application writes reaches the connected device at once
//! ([`MuranoEndpoint::publish_pending`]).
//!
//! With TLS the server offers ALPN `mqtt` and `http/1.1`: a client that
//! negotiates `http/1.1` is handed to the [`HttpHandoff`] (`serve`'s HTTP
//! service, otau.md §4.6), any other speaks MQTT.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::Packet;
use rumqttc::mqttbytes::Error as CodecError;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use super::session::{Flow, Peer, Session};
use crate::mqtt::bridge::with;
use crate::mqtt::{MqttError, OtauHost, MAX_PAYLOAD};

/// Time a client has for the TLS handshake and its CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The read bound of a client that asked for no keep-alive.
const NO_KEEP_ALIVE: Duration = Duration::from_secs(24 * 3600);
/// Largest packet read: a resource value and room for the topic.
const MAX_PACKET: usize = MAX_PAYLOAD + 1024;

/// Where a TLS connection that negotiated ALPN `http/1.1` goes.
pub trait HttpHandoff: Send + Sync + 'static {
    /// Serves HTTP/1.1 on `stream` until it ends.
    fn serve(
        &self,
        stream: tokio_rustls::server::TlsStream<TcpStream>,
        peer: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// What the endpoint is asked to do.
#[derive(Clone, Default)]
pub struct MuranoOptions {
    /// TLS server configuration (its ALPN list is replaced by `mqtt`,
    /// `http/1.1`); plain TCP without (development).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// HTTP over the MQTT port (ALPN `http/1.1`, TLS only).
    pub http: Option<Arc<dyn HttpHandoff>>,
    /// Connections open at once; while full, no `accept` (the kernel's
    /// backlog holds new ones). 0 = [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
}

/// [`MuranoOptions::max_connections`] when not given.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// A message to a connection.
enum Push {
    /// The device's `config_otau` changed: send what is pending.
    Pending,
    /// Another connection took over the device.
    Close,
}

/// Connected devices: number → (connection id, its mailbox).
type Registry = Mutex<BTreeMap<u64, (u64, mpsc::UnboundedSender<Push>)>>;

/// The running endpoint; dropping it stops it.
pub struct MuranoEndpoint {
    addr: SocketAddr,
    registry: Arc<Registry>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl MuranoEndpoint {
    /// Listens on `listen` (port 0 picks one) on the current tokio runtime.
    pub async fn start(
        listen: SocketAddr,
        host: Arc<dyn OtauHost>,
        opts: MuranoOptions,
    ) -> Result<MuranoEndpoint, MqttError> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let tls = opts.tls.map(|config| {
            let mut config = (*config).clone();
            config.alpn_protocols = vec![b"mqtt".to_vec(), b"http/1.1".to_vec()];
            TlsAcceptor::from(Arc::new(config))
        });
        let registry: Arc<Registry> = Arc::default();
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Accepting {
            host,
            registry: registry.clone(),
            tls,
            http: opts.http,
        });
        let max = match opts.max_connections {
            0 => DEFAULT_MAX_CONNECTIONS,
            n => n,
        };
        let slots = Arc::new(tokio::sync::Semaphore::new(max));
        let task = tokio::spawn(accept_loop(listener, shared, slots, stopped));
        Ok(MuranoEndpoint {
            addr,
            registry,
            stop,
            task,
        })
    }

    /// Where devices connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Tells the connected ones of `devices` that their `config_otau`
    /// changed; each sends what is pending now.
    pub fn publish_pending(&self, devices: impl IntoIterator<Item = u64>) {
        let registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        for d in devices {
            if let Some((_, tx)) = registry.get(&d) {
                let _ = tx.send(Push::Pending);
            }
        }
    }

    /// Devices connected now.
    pub fn connected(&self) -> usize {
        self.registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for MuranoEndpoint {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        self.task.abort();
    }
}

/// What every connection shares.
struct Accepting {
    host: Arc<dyn OtauHost>,
    registry: Arc<Registry>,
    tls: Option<TlsAcceptor>,
    http: Option<Arc<dyn HttpHandoff>>,
}

/// Accepts connections, at most as many open at once as `slots` allows.
async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Accepting>,
    slots: Arc<tokio::sync::Semaphore>,
    stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    for id in 0u64.. {
        while connections.try_join_next().is_some() {}
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (tcp, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("mqtt: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (shared, stopped) = (shared.clone(), stopped.clone());
        connections.spawn(async move {
            accept(tcp, peer, id, shared, stopped).await;
            drop(slot);
        });
    }
}

/// TLS (and the ALPN choice) if configured, then MQTT.
async fn accept(
    tcp: TcpStream,
    peer: SocketAddr,
    id: u64,
    shared: Arc<Accepting>,
    stopped: watch::Receiver<bool>,
) {
    let Some(tls) = &shared.tls else {
        return mqtt(tcp, None, id, &shared, stopped).await;
    };
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, tls.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return tracing::debug!(%peer, "mqtt: TLS handshake failed: {e}"),
        Err(_) => return tracing::debug!(%peer, "mqtt: TLS handshake timed out"),
    };
    let (alpn, sni) = {
        let conn = stream.get_ref().1;
        (
            conn.alpn_protocol().map(<[u8]>::to_vec),
            conn.server_name().map(str::to_string),
        )
    };
    if alpn.as_deref() == Some(b"http/1.1") {
        match &shared.http {
            Some(http) => return http.serve(stream, peer).await,
            None => return tracing::debug!(%peer, "mqtt: ALPN http/1.1 but no HTTP service"),
        }
    }
    mqtt(stream, sni, id, &shared, stopped).await
}

/// One MQTT connection until it ends; unregisters its device.
async fn mqtt<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    sni: Option<String>,
    id: u64,
    shared: &Accepting,
    stopped: watch::Receiver<bool>,
) {
    let mut session = Session::new(sni);
    let (tx, rx) = mpsc::unbounded_channel();
    let mut conn = Conn {
        io,
        id,
        shared,
        tx,
        registered: None,
    };
    if let Err(why) = conn.run(&mut session, rx, stopped).await {
        tracing::debug!(peer = ?session.peer(), "mqtt: connection ended: {why}");
    }
    if let Some(device) = conn.registered {
        let mut registry = shared
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if registry.get(&device).is_some_and(|(owner, _)| *owner == id) {
            registry.remove(&device);
        }
    }
}

/// Makes connection `id` (pushed to through `tx`) the one of `device`; an
/// earlier connection of the device is told to close.
fn register(registry: &Registry, device: u64, id: u64, tx: &mpsc::UnboundedSender<Push>) {
    let mut registry = registry.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, old)) = registry.insert(device, (id, tx.clone())) {
        let _ = old.send(Push::Close);
    }
}

struct Conn<'a, S> {
    io: S,
    id: u64,
    shared: &'a Accepting,
    tx: mpsc::UnboundedSender<Push>,
    registered: Option<u64>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<'_, S> {
    async fn run(
        &mut self,
        session: &mut Session,
        mut rx: mpsc::UnboundedReceiver<Push>,
        mut stopped: watch::Receiver<bool>,
    ) -> Result<(), String> {
        let mut buf = BytesMut::with_capacity(4096);
        let mut quiet_limit = CONNECT_TIMEOUT;
        loop {
            loop {
                let packet = match Packet::read(&mut buf, MAX_PACKET) {
                    Ok(p) => p,
                    Err(CodecError::InsufficientBytes(_)) => break,
                    Err(e) => return Err(format!("bad packet: {e}")),
                };
                let keep_alive = match &packet {
                    Packet::Connect(c) => Some(c.keep_alive),
                    _ => None,
                };
                let mut out = Vec::new();
                // A device is registered in the same critical section in which
                // its CONNECT is answered: a manifest written before that is
                // sent with the answer, one written after it finds the device
                // registered (`publish_pending`), even before the CONNACK is
                // written.
                let (shared, id, tx) = (self.shared, self.id, &self.tx);
                let (flow, registered) = with(&*shared.host, |s, now| {
                    let flow = session.handle(packet, s, now, &mut out);
                    let registered = match session.peer() {
                        Peer::Device(d) if keep_alive.is_some() && flow != Flow::Close => {
                            register(&shared.registry, d, id, tx);
                            Some(d)
                        }
                        _ => None,
                    };
                    (flow, registered)
                });
                self.registered = registered.or(self.registered);
                self.send(&out).await?;
                if flow == Flow::Close {
                    return Ok(());
                }
                if let Some(k) = keep_alive {
                    // MQTT 3.1.1 §3.1.2.10: one and a half keep-alives.
                    quiet_limit = match k {
                        0 => NO_KEEP_ALIVE,
                        k => Duration::from_millis(u64::from(k) * 1500),
                    };
                }
            }
            tokio::select! {
                read = tokio::time::timeout(quiet_limit, self.io.read_buf(&mut buf)) => match read {
                    Ok(Ok(0)) => return Ok(()),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(e.to_string()),
                    Err(_) => return Err("keep-alive expired".into()),
                },
                push = rx.recv() => match push {
                    Some(Push::Pending) => {
                        let mut out = Vec::new();
                        with(&*self.shared.host, |s, _| session.push_pending(s, &mut out));
                        self.send(&out).await?;
                    }
                    Some(Push::Close) | None => return Err("another connection took the device".into()),
                },
                () = stop_requested(&mut stopped) => return Ok(()),
            }
        }
    }

    async fn send(&mut self, packets: &[Packet]) -> Result<(), String> {
        if packets.is_empty() {
            return Ok(());
        }
        let mut out = BytesMut::new();
        for p in packets {
            p.write(&mut out, MAX_PACKET).map_err(|e| e.to_string())?;
        }
        self.io.write_all(&out).await.map_err(|e| e.to_string())?;
        self.io.flush().await.map_err(|e| e.to_string())
    }
}

/// Resolves once the endpoint is stopped (or gone).
async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}
