//! Connections: the accept loop with its connection limit, the TLS
//! handshake, HTTP/1.1 with hyper's header timeout, and the idle watchdog.
//!
//! Idle is tracked per connection by [`Activity`]: the I/O wrapper
//! [`Tracked`] stamps every read or write that moved bytes, and the service
//! marks the connection busy while it answers a request (reading its body,
//! holding an OTAU long poll). A connection not busy that moved no byte for
//! [`ServeLimits::idle_timeout`] is dropped — an idle keep-alive connection
//! or a client that stopped reading its answer; dropping the hyper
//! connection closes the socket.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::adapter::{self, Endpoint};
use super::{stop_requested, ACCEPT_BACKOFF, SHUTDOWN_GRACE, TLS_HANDSHAKE_TIMEOUT};

/// When a connection last moved bytes, and whether a request is being answered.
#[derive(Debug)]
pub(super) struct Activity {
    start: Instant,
    /// Milliseconds since `start` of the last read or write that moved bytes.
    last_ms: AtomicU64,
    /// Requests being answered now.
    busy: AtomicUsize,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// Marks a request being answered until the guard is dropped.
    pub(super) fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    /// How long the connection has been idle; `None` while busy.
    fn idle_for(&self) -> Option<Duration> {
        if self.busy.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        Some(self.start.elapsed().saturating_sub(last))
    }
}

/// A request being answered (see [`Activity::busy`]); idle time counts from its end.
pub(super) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An I/O stream that stamps its [`Activity`] whenever bytes move.
struct Tracked<I> {
    io: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Tracked<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let out = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.touch();
        }
        out
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Tracked<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let out = Pin::new(&mut this.io).poll_write(cx, buf);
        if matches!(out, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        out
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let out = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if matches!(out, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        out
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The connection limit: a slot is taken before `accept` and given back
/// when the connection ends; `open` counts connections accepted.
pub(super) struct Slots {
    pub(super) free: Arc<Semaphore>,
    pub(super) open: Arc<AtomicUsize>,
}

/// An accepted connection's slot; dropping it gives the slot back.
struct Taken {
    _permit: tokio::sync::OwnedSemaphorePermit,
    open: Arc<AtomicUsize>,
}

impl Drop for Taken {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accepts connections until stopped, at most as many open at once as
/// `slots` has (back-pressure: no `accept` while all are taken), then
/// drains them within [`SHUTDOWN_GRACE`].
pub(super) async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    endpoint: Arc<Endpoint>,
    slots: Slots,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        let permit = tokio::select! {
            () = stop_requested(&mut stopped) => break,
            permit = slots.free.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        tokio::select! {
            () = stop_requested(&mut stopped) => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    slots.open.fetch_add(1, Ordering::Relaxed);
                    let taken = Taken { _permit: permit, open: slots.open.clone() };
                    let (ep, tls, stop) = (endpoint.clone(), tls.clone(), stopped.clone());
                    connections.spawn(async move {
                        connection(tcp, peer, tls, ep, stop).await;
                        drop(taken);
                    });
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    let open = connections.len();
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::warn!(
            open,
            left = connections.len(),
            "requests still in flight after {SHUTDOWN_GRACE:?}; dropping them"
        );
        connections.shutdown().await;
    }
}

/// One connection: TLS handshake if configured, then HTTP/1.1 until the
/// client closes it, it idles out, or shutdown closes it gracefully.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    endpoint: Arc<Endpoint>,
    stopped: watch::Receiver<bool>,
) {
    // Small answers must not wait for Nagle's algorithm.
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(%peer, "cannot set TCP_NODELAY: {e}");
    }
    let activity = Arc::new(Activity::new());
    let tcp = Tracked {
        io: tcp,
        activity: activity.clone(),
    };
    let Some(tls) = tls else {
        return serve_http(TokioIo::new(tcp), peer, endpoint, activity, stopped).await;
    };
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(tcp)).await {
        Ok(Ok(stream)) => serve_http(TokioIo::new(stream), peer, endpoint, activity, stopped).await,
        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

async fn serve_http<I>(
    io: TokioIo<I>,
    peer: SocketAddr,
    endpoint: Arc<Endpoint>,
    activity: Arc<Activity>,
    mut stopped: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let idle_timeout = endpoint.limits.idle_timeout;
    let header_timeout = endpoint.limits.header_timeout;
    let service = {
        let activity = activity.clone();
        service_fn(move |req| adapter::answer(endpoint.clone(), activity.busy(), req))
    };
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let mut check_in = idle_timeout;
    let result = loop {
        tokio::select! {
            r = conn.as_mut() => break r,
            () = stop_requested(&mut stopped) => {
                conn.as_mut().graceful_shutdown();
                break conn.await;
            }
            () = tokio::time::sleep(check_in) => match activity.idle_for() {
                Some(idle) if idle >= idle_timeout => {
                    tracing::debug!(%peer, ?idle, "closing an idle connection");
                    return;
                }
                Some(idle) => check_in = idle_timeout - idle,
                None => check_in = idle_timeout,
            },
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, "connection ended: {e}");
    }
}
