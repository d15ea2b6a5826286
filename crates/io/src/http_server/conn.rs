//! Connections: the accept loop with its connection limit, the TLS
//! handshake, HTTP/1.1 with hyper's header timeout, and the idle watchdog.
//!
//! Each connection has an [`Activity`]: the I/O wrapper [`Tracked`] stamps
//! every read or write that moved bytes, and the service marks the
//! connection busy while it answers a request (reading its body, holding an
//! OTAU long poll). A watchdog drops a connection that is not busy and
//! either moved no byte for [`ServeLimits::idle_timeout`] (an idle
//! keep-alive connection, a client that stopped reading its answer) or has
//! been receiving a request head for [`ServeLimits::header_timeout`]
//! (slowloris); dropping the hyper connection closes the socket.
//!
//! [`ServeLimits::idle_timeout`]: super::ServeLimits::idle_timeout
//! [`ServeLimits::header_timeout`]: super::ServeLimits::header_timeout

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::adapter;
use super::endpoint::Endpoint;
use super::{stop_requested, ACCEPT_BACKOFF, SHUTDOWN_GRACE, TLS_HANDSHAKE_TIMEOUT};

/// `Activity::head_ms` while no request head is arriving.
const NO_HEAD: u64 = u64::MAX;

/// When a connection last moved bytes, whether a request is being answered,
/// and since when a request head has been arriving.
#[derive(Debug)]
pub(super) struct Activity {
    start: Instant,
    /// Milliseconds since `start` of the last read or write that moved bytes.
    last_ms: AtomicU64,
    /// Milliseconds since `start` of the first byte read while no request
    /// was being answered (a head arriving); [`NO_HEAD`] when none is.
    head_ms: AtomicU64,
    /// Requests being answered now.
    busy: AtomicUsize,
    /// Told when the connection is closed to make room for a new one.
    evict: Notify,
}

/// What the watchdog should do with a connection.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Look again after this long.
    Fine(Duration),
    /// Close it, for this reason.
    Close(&'static str),
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            head_ms: AtomicU64::new(NO_HEAD),
            busy: AtomicUsize::new(0),
            evict: Notify::new(),
        }
    }

    /// How long no byte moved, `None` while a request is being answered.
    fn quiet_for(&self) -> Option<Duration> {
        if self.busy.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        Some(self.start.elapsed().saturating_sub(last))
    }

    /// How strong a candidate for eviction this connection is, `None`
    /// while a request is being answered: how long no byte moved, or how
    /// long a request head has been arriving if that is longer (a client
    /// trickling its head keeps bytes moving, but no request comes of it).
    fn evictable_for(&self) -> Option<Duration> {
        let quiet = self.quiet_for()?;
        let head = self.head_ms.load(Ordering::Relaxed);
        if head == NO_HEAD {
            return Some(quiet);
        }
        let arriving = self
            .start
            .elapsed()
            .saturating_sub(Duration::from_millis(head));
        Some(quiet.max(arriving))
    }

    fn touch(&self) -> u64 {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
        ms
    }

    fn touch_read(&self) {
        let ms = self.touch();
        if self.busy.load(Ordering::Relaxed) == 0 {
            let _ =
                (self.head_ms).compare_exchange(NO_HEAD, ms, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// Marks a request being answered (its head has arrived) until the
    /// guard is dropped.
    pub(super) fn busy(self: &Arc<Self>) -> Busy {
        self.head_ms.store(NO_HEAD, Ordering::Relaxed);
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    /// Close when no request is being answered and either a head has been
    /// arriving for `header` or nothing moved for `idle`.
    fn verdict(&self, idle: Duration, header: Duration) -> Verdict {
        if self.busy.load(Ordering::Relaxed) > 0 {
            return Verdict::Fine(idle.min(header));
        }
        let now = self.start.elapsed();
        let mut next = idle;
        let head = self.head_ms.load(Ordering::Relaxed);
        if head != NO_HEAD {
            let arriving = now.saturating_sub(Duration::from_millis(head));
            match header.checked_sub(arriving).filter(|left| !left.is_zero()) {
                Some(left) => next = next.min(left),
                None => return Verdict::Close("request head not complete in time"),
            }
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        let quiet = now.saturating_sub(last);
        match idle.checked_sub(quiet).filter(|left| !left.is_zero()) {
            Some(left) => Verdict::Fine(next.min(left)),
            None => Verdict::Close("idle"),
        }
    }
}

/// A request being answered (see [`Activity::busy`]); idle time counts from its end.
pub(super) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let _ = self.0.touch();
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
            this.activity.touch_read();
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
            let _ = this.activity.touch();
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
            let _ = this.activity.touch();
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

/// A connection quiet this long may be closed to make room for a new one
/// when every slot is taken; a device's next request on a kept-alive
/// connection (feedback right after its poll) comes sooner.
const MIN_QUIET_TO_EVICT: Duration = Duration::from_secs(1);
/// While every slot is taken and nobody was quiet long enough, look again after this.
const EVICT_RETRY: Duration = Duration::from_millis(250);

/// The connection limit: a slot is taken before `accept` and given back
/// when the connection ends; `open` counts connections accepted, `live`
/// holds their activities (to find one to evict).
pub(super) struct Slots {
    pub(super) free: Arc<Semaphore>,
    pub(super) open: Arc<AtomicUsize>,
    pub(super) live: Arc<Mutex<BTreeMap<u64, Arc<Activity>>>>,
}

impl Slots {
    fn live(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<Activity>>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A free slot, waiting for one while all are taken; meanwhile the
    /// connection that has been quiet longest (at least
    /// [`MIN_QUIET_TO_EVICT`], no request being answered) is closed to make
    /// room. `None` once the semaphore is closed.
    async fn take(&self) -> Option<OwnedSemaphorePermit> {
        loop {
            if let Ok(permit) = self.free.clone().try_acquire_owned() {
                return Some(permit);
            }
            self.evict_quietest();
            tokio::select! {
                permit = self.free.clone().acquire_owned() => return permit.ok(),
                () = tokio::time::sleep(EVICT_RETRY) => {}
            }
        }
    }

    fn evict_quietest(&self) {
        let live = self.live();
        let quietest = live
            .values()
            .filter_map(|a| Some((a.evictable_for()?, a)))
            .filter(|(quiet, _)| *quiet >= MIN_QUIET_TO_EVICT)
            .max_by_key(|(quiet, _)| *quiet);
        if let Some((quiet, a)) = quietest {
            tracing::debug!(
                ?quiet,
                "all connection slots taken: closing the quietest connection"
            );
            a.evict.notify_one();
        }
    }
}

/// An accepted connection's slot; dropping it gives the slot back.
struct Taken {
    _permit: OwnedSemaphorePermit,
    id: u64,
    open: Arc<AtomicUsize>,
    live: Arc<Mutex<BTreeMap<u64, Arc<Activity>>>>,
}

impl Drop for Taken {
    fn drop(&mut self) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.remove(&self.id);
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accepts connections until stopped, at most as many open at once as
/// `slots` has (when all are taken, the connection just accepted waits for
/// one, no other is accepted, and the quietest open connection is closed to
/// free one), then drains them within [`SHUTDOWN_GRACE`].
pub(super) async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    endpoint: Arc<Endpoint>,
    slots: Slots,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    for id in 0u64.. {
        // Reap finished tasks (their results are nothing) so the set stays small.
        while connections.try_join_next().is_some() {}
        let (tcp, peer) = tokio::select! {
            () = stop_requested(&mut stopped) => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // One accepted connection at most waits here for a slot; no
        // other is accepted meanwhile.
        let permit = tokio::select! {
            () = stop_requested(&mut stopped) => break,
            permit = slots.take() => match permit {
                Some(p) => p,
                None => break,
            },
        };
        let activity = Arc::new(Activity::new());
        slots.live().insert(id, activity.clone());
        slots.open.fetch_add(1, Ordering::Relaxed);
        let (open, live) = (slots.open.clone(), slots.live.clone());
        let taken = Taken {
            _permit: permit,
            id,
            open,
            live,
        };
        let (ep, tls, stop) = (endpoint.clone(), tls.clone(), stopped.clone());
        connections.spawn(async move {
            connection(tcp, peer, tls, ep, activity, stop).await;
            drop(taken);
        });
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
    activity: Arc<Activity>,
    stopped: watch::Receiver<bool>,
) {
    // Small answers must not wait for Nagle's algorithm.
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(%peer, "cannot set TCP_NODELAY: {e}");
    }
    let tcp = Tracked {
        io: tcp,
        activity: activity.clone(),
    };
    let Some(tls) = tls else {
        return serve_http(TokioIo::new(tcp), peer, endpoint, activity, stopped).await;
    };
    let handshake = tokio::select! {
        r = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(tcp)) => r,
        () = activity.evict.notified() => {
            tracing::debug!(%peer, "TLS handshake dropped to make room");
            return;
        }
    };
    match handshake {
        Ok(Ok(stream)) => serve_http(TokioIo::new(stream), peer, endpoint, activity, stopped).await,
        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

/// HTTP over the MQTT port (otau.md §4.6): a TLS connection the MQTT
/// endpoint accepted with ALPN `http/1.1`, served like one of the HTTP
/// listener's (its own idle watchdog; not counted in `--max-connections`).
pub(super) struct MqttPortHttp(pub(super) Arc<Endpoint>);

impl crate::mqtt::murano::HttpHandoff for MqttPortHttp {
    fn serve(
        &self,
        stream: tokio_rustls::server::TlsStream<TcpStream>,
        peer: SocketAddr,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        let endpoint = self.0.clone();
        let stopped = endpoint.stopped.clone();
        Box::pin(async move {
            let activity = Arc::new(Activity::new());
            let io = Tracked {
                io: stream,
                activity: activity.clone(),
            };
            serve_http(TokioIo::new(io), peer, endpoint, activity, stopped).await;
        })
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
    // hyper starts its header timer when it waits for a head, idle
    // keep-alive gap included: as a backstop only, no shorter than the
    // idle timeout, which the watchdog below applies (with the header
    // timeout from a head's first byte).
    let hyper_header_timeout = header_timeout.max(idle_timeout);
    let service = {
        let activity = activity.clone();
        service_fn(move |req| adapter::answer(endpoint.clone(), activity.busy(), req))
    };
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(hyper_header_timeout)
        .keep_alive(true)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut check_in = idle_timeout.min(header_timeout);
    let result = loop {
        tokio::select! {
            r = conn.as_mut() => break r,
            () = stop_requested(&mut stopped) => {
                conn.as_mut().graceful_shutdown();
                break conn.await;
            }
            () = activity.evict.notified() => {
                // Chosen a moment ago: if a request has begun since, keep it.
                if activity.evictable_for().is_some_and(|d| d >= MIN_QUIET_TO_EVICT) {
                    tracing::debug!(%peer, "closing the connection to make room for a new one");
                    return;
                }
            }
            () = tokio::time::sleep(check_in) => {
                match activity.verdict(idle_timeout, header_timeout) {
                    Verdict::Fine(again) => check_in = again,
                    Verdict::Close(why) => {
                        tracing::debug!(%peer, "closing the connection: {why}");
                        return;
                    }
                }
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, "connection ended: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An activity that started 10 s ago, last moved bytes at 9 s.
    fn ten_seconds_old() -> Arc<Activity> {
        let mut a = Activity::new();
        a.start = Instant::now()
            .checked_sub(Duration::from_secs(10))
            .unwrap_or_else(Instant::now);
        a.last_ms.store(9_000, Ordering::Relaxed);
        Arc::new(a)
    }

    #[test]
    fn the_watchdog_closes_slow_heads_and_idle_connections_only() {
        let (minute, five) = (Duration::from_secs(60), Duration::from_secs(5));
        let a = ten_seconds_old();
        let fine = |v: Verdict| matches!(v, Verdict::Fine(d) if d > Duration::from_secs(4));
        assert!(fine(a.verdict(minute, five)), "quiet for 1 s only");
        assert_eq!(
            a.verdict(Duration::from_millis(500), five),
            Verdict::Close("idle")
        );
        // A head arriving since 2 s: 8 s is too long, though bytes keep coming.
        a.head_ms.store(2_000, Ordering::Relaxed);
        let slow = a.verdict(minute, five);
        assert_eq!(slow, Verdict::Close("request head not complete in time"));
        // Busy (the head arrived; a body is read or a long poll held): never closed.
        let busy = a.busy();
        let verdict = a.verdict(Duration::from_millis(1), Duration::from_millis(1));
        assert!(matches!(verdict, Verdict::Fine(_)), "{verdict:?}");
        drop(busy);
        assert!(fine(a.verdict(minute, five)), "the answer just moved");
    }
}
