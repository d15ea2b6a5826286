//! What `serve` lets one client, and all of them together, hold: request
//! body sizes per route, the memory of request bodies in flight, the time a
//! client may take to send headers and bodies or to sit idle, and the number
//! of open connections. Every limit is here, named, with why it is what it is.

use std::time::Duration;

use fleetsim_core::message::Method;

use super::otau::CONTENT_PREFIX;

/// Largest request body of every route but the two uploads: DDI feedback
/// and configData, Management API JSON and OTAU writes are a few KiB
/// (an OTAU manifest is at most 64 KiB). Larger → 413 before it is read.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Largest body of the two upload routes, `POST
/// /rest/v1/softwaremodules/{id}/artifacts` and `PUT
/// /fleetsim/otau/content/{id}`: they are held in memory whole.
pub const MAX_UPLOAD_BYTES: usize = 64 << 20;
/// Default [`ServeLimits::max_body_memory`]: four largest uploads at once.
pub const MAX_BODY_MEMORY: usize = 256 << 20;
/// Default [`ServeLimits::max_connections`]. Each open connection costs
/// about 15 KiB (see `otau.rs`) and a file descriptor.
pub const MAX_CONNECTIONS: usize = 10_000;
/// Descriptors left to everything but client connections (listener, MQTT
/// broker and bridge, TLS files, logs) when the open-file limit caps
/// [`ServeLimits::max_connections`].
pub const FD_HEADROOM: u64 = 256;
/// Default [`ServeLimits::idle_timeout`]: longer than a device's
/// back-to-back requests (poll, then feedback or a download), much shorter
/// than the minutes between polls, for which a device reconnects anyway.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`ServeLimits::header_timeout`]: hyper's own default, ample for
/// a request head of at most a few KiB even over a slow cellular link.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`ServeLimits::body_timeout`].
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// The slowest body upload accepted, in bytes per second: a body of `n`
/// bytes gets [`ServeLimits::body_timeout`] plus `n / MIN_BODY_RATE`
/// seconds (64 MiB: 17 min more), so large uploads over slow links pass and
/// a client trickling a byte now and then is cut off.
pub const MIN_BODY_RATE: u64 = 64 * 1024;

/// The limits of one server; [`Default`] gives the constants above.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeLimits {
    /// Connections open at once (`--max-connections`); when all are taken
    /// the server stops accepting (new connections wait in the kernel's
    /// listen backlog) and closes the connection quiet longest (≥ 1 s, no
    /// request being answered) to make room. Lowered at start to the open-file limit (raised to
    /// its hard limit first) minus [`FD_HEADROOM`], so the server never
    /// fails `accept` for lack of descriptors.
    pub max_connections: usize,
    /// A connection that moved no byte for this long while no request was
    /// being answered is closed (`--idle-timeout`): an idle keep-alive
    /// connection, or a client that stopped reading its answer. A held OTAU
    /// long poll is a request being answered, so it is never idle.
    pub idle_timeout: Duration,
    /// Time from the first byte of a request head until the whole head has
    /// arrived; then the connection is closed (slowloris). hyper's
    /// `header_read_timeout`, which counts from the moment hyper waits for a
    /// head and so includes the keep-alive gap, is set to the larger of this
    /// and `idle_timeout` as a backstop.
    pub header_timeout: Duration,
    /// Base time for reading a request body (plus its size at
    /// [`MIN_BODY_RATE`]); a body still incomplete then is answered 408 and
    /// the connection closed.
    pub body_timeout: Duration,
    /// Bytes of request bodies held in memory at once, over all connections
    /// (`--max-body-memory`). An authenticated upload reserves its
    /// `Content-Length` (or its route's limit when chunked) before it is
    /// read; a device route's body reserves its bytes as they arrive, so
    /// announcing a body costs nothing. When the reservation does not fit
    /// the answer is 503 with `Retry-After`; larger than the whole budget, 413.
    pub max_body_memory: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            max_connections: MAX_CONNECTIONS,
            idle_timeout: IDLE_TIMEOUT,
            header_timeout: HEADER_TIMEOUT,
            body_timeout: BODY_TIMEOUT,
            max_body_memory: MAX_BODY_MEMORY,
        }
    }
}

impl ServeLimits {
    /// Refuses limits that would make the server unusable.
    pub(super) fn check(&self) -> Result<(), super::ServeError> {
        let limit = |flag, message| Err(super::ServeError::Limit { flag, message });
        if self.max_connections == 0 {
            return limit("--max-connections", "expected at least 1");
        }
        if self.idle_timeout.is_zero() {
            return limit("--idle-timeout", "expected a duration above 0s, e.g. 60s");
        }
        if self.header_timeout.is_zero() || self.body_timeout.is_zero() {
            return limit("header/body timeout", "expected a duration above 0s");
        }
        if self.max_body_memory < MAX_BODY_BYTES {
            return limit("--max-body-memory", "expected at least 1MiB, e.g. 256MiB");
        }
        Ok(())
    }

    /// How long reading a body of `bytes` may take.
    pub(super) fn body_deadline(&self, bytes: usize) -> Duration {
        self.body_timeout + Duration::from_secs(bytes as u64 / MIN_BODY_RATE)
    }

    /// `max_connections`, lowered to what the open-file limit leaves; the
    /// soft limit is raised to the hard one first.
    pub(super) fn connections_allowed(&self) -> usize {
        let nofile = crate::realtime::raise_open_file_limit();
        if nofile == 0 {
            return self.max_connections.max(1);
        }
        let fit = usize::try_from(nofile.saturating_sub(FD_HEADROOM)).unwrap_or(usize::MAX);
        if fit < self.max_connections {
            tracing::warn!(
                asked = self.max_connections,
                allowed = fit,
                open_file_limit = nofile,
                "--max-connections lowered to what the open-file limit leaves"
            );
        }
        self.max_connections.min(fit).max(1)
    }
}

/// The largest body `method path` may carry.
pub(super) fn body_limit(method: Method, path: &str) -> usize {
    let upload = match method {
        Method::Post => is_artifact_upload(path),
        Method::Put => path.starts_with(CONTENT_PREFIX),
        _ => false,
    };
    match upload {
        true => MAX_UPLOAD_BYTES,
        false => MAX_BODY_BYTES,
    }
}

/// `/rest/v1/softwaremodules/{id}/artifacts[/]`, as the Management API routes it.
fn is_artifact_upload(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/rest/v1/softwaremodules/") else {
        return false;
    };
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    matches!(segments.as_slice(), [_, "artifacts"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_upload_routes_take_large_bodies() {
        let up = |m, p| body_limit(m, p) == MAX_UPLOAD_BYTES;
        assert!(up(Method::Post, "/rest/v1/softwaremodules/3/artifacts"));
        assert!(up(Method::Post, "/rest/v1/softwaremodules/3/artifacts/"));
        assert!(up(Method::Put, "/fleetsim/otau/content/fw.bin"));
        assert!(!up(Method::Get, "/rest/v1/softwaremodules/3/artifacts"));
        assert!(!up(Method::Post, "/rest/v1/targets"));
        assert!(!up(Method::Post, "/rest/v1/softwaremodules"));
        assert!(!up(Method::Post, "/rest/v1/softwaremodules/3/artifacts/4"));
        assert!(!up(Method::Put, "/fleetsim/otau/config_otau"));
        assert!(!up(
            Method::Post,
            "/DEFAULT/controller/v1/d/deploymentBase/1/feedback"
        ));
    }

    #[test]
    fn slow_large_bodies_get_more_time() {
        let l = ServeLimits::default();
        assert_eq!(l.body_deadline(100), BODY_TIMEOUT);
        assert_eq!(
            l.body_deadline(MAX_UPLOAD_BYTES),
            BODY_TIMEOUT + Duration::from_secs(1024)
        );
    }
}
