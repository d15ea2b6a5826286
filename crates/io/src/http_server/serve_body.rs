//! What a connection sends back: the response body type, generating
//! synthetic artifact content chunk by chunk while it is sent, and the
//! reasons a connection is dropped without an answer. Both the adapter and
//! the request-body reader produce them, so they live below both.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use fleetsim_core::artifact::fill;
use fleetsim_core::message::{Body, ContentId};

/// Largest piece of a synthetic artifact generated at once, so a 1 GiB
/// download never holds more than this in memory per connection.
pub(super) const CHUNK_BYTES: u64 = 64 * 1024;

/// Why a connection is closed without an answer (hyper drops it on a service error).
#[derive(Debug, thiserror::Error)]
pub(super) enum Abort {
    /// A scenario `reset: true` fault window is active.
    #[error("connection dropped: a `reset` fault window of the scenario is active")]
    ResetFault,
    /// The client stopped sending its body, or sent a malformed one.
    #[error("cannot read the request body: {0}")]
    Body(Box<dyn std::error::Error + Send + Sync>),
}

/// A response body: nothing, bytes, synthetic artifact content made on the
/// fly, or several of these one after the other (a multipart answer).
pub(super) enum ServeBody {
    /// No body.
    Empty,
    /// Bytes not yet sent (`None` once sent).
    Bytes(Option<Bytes>),
    /// `remaining` bytes of `content` from `offset`, generated [`CHUNK_BYTES`] at a time.
    Synthetic {
        content: ContentId,
        offset: u64,
        remaining: u64,
    },
    /// Parts still to send, in order; each streams as above.
    Parts(VecDeque<ServeBody>),
    /// A body cut short (`fleetsim conform --device`): `sent` is sent, the
    /// `missing` bytes after it are announced but never come, so the
    /// connection closes mid-body.
    Cut {
        /// What is sent.
        sent: Box<ServeBody>,
        /// Bytes announced and not sent.
        missing: u64,
        /// Waited out before the body ends: the connection writes out what
        /// it has buffered first (hyper closes it without flushing once a
        /// body ends short).
        linger: Pin<Box<tokio::time::Sleep>>,
    },
}

/// How long a cut body waits before it ends, so its bytes are sent.
const CUT_LINGER: std::time::Duration = std::time::Duration::from_millis(100);

impl ServeBody {
    /// `body` announced whole but cut after `keep` bytes.
    pub(super) fn cut(body: Body, keep: u64) -> ServeBody {
        let missing = body.len().saturating_sub(keep);
        ServeBody::Cut {
            sent: Box::new(ServeBody::from(body.truncated(keep))),
            missing,
            linger: Box::pin(tokio::time::sleep(CUT_LINGER)),
        }
    }
}

impl From<Body> for ServeBody {
    fn from(body: Body) -> ServeBody {
        match body {
            Body::Empty => ServeBody::Empty,
            Body::Bytes(b) if b.is_empty() => ServeBody::Empty,
            Body::Bytes(b) => ServeBody::Bytes(Some(b)),
            Body::Synthetic {
                content,
                offset,
                len,
            } => ServeBody::Synthetic {
                content,
                offset,
                remaining: len,
            },
            Body::Parts(parts) => {
                ServeBody::Parts(parts.into_iter().map(ServeBody::from).collect())
            }
        }
    }
}

impl ServeBody {
    /// The next frame of data, `None` at the end.
    fn next_frame(&mut self) -> Option<Bytes> {
        match self {
            ServeBody::Empty => None,
            ServeBody::Bytes(bytes) => bytes.take(),
            ServeBody::Synthetic { remaining: 0, .. } => None,
            ServeBody::Synthetic {
                content,
                offset,
                remaining,
            } => {
                let n = (*remaining).min(CHUNK_BYTES);
                let mut chunk = vec![0u8; n as usize];
                fill(*content, *offset, &mut chunk);
                *offset += n;
                *remaining -= n;
                Some(Bytes::from(chunk))
            }
            ServeBody::Parts(parts) => loop {
                let part = parts.front_mut()?;
                match part.next_frame() {
                    Some(data) => break Some(data),
                    None => {
                        parts.pop_front();
                    }
                }
            },
            ServeBody::Cut { sent, .. } => sent.next_frame(),
        }
    }

    /// Bytes still to send.
    fn remaining(&self) -> u64 {
        match self {
            ServeBody::Empty => 0,
            ServeBody::Bytes(b) => b.as_ref().map_or(0, |b| b.len() as u64),
            ServeBody::Synthetic { remaining, .. } => *remaining,
            ServeBody::Parts(parts) => parts.iter().map(ServeBody::remaining).sum(),
            ServeBody::Cut { sent, missing, .. } => sent.remaining() + missing,
        }
    }
}

impl HttpBody for ServeBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let frame = this.next_frame().map(Frame::data);
        if let (None, ServeBody::Cut { linger, .. }) = (&frame, this) {
            // Pending while the connection flushes what was sent; then the
            // short end closes it mid-body.
            return linger.as_mut().poll(cx).map(|()| None);
        }
        Poll::Ready(frame.map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.size_hint().exact() == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_bodies_stream_in_bounded_chunks_with_the_content_bytes() {
        let content = ContentId(7);
        let mut body = ServeBody::from(Body::Synthetic {
            content,
            offset: 10,
            len: 150_000,
        });
        assert_eq!(body.size_hint().exact(), Some(150_000));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut got = Vec::new();
        while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut body).poll_frame(&mut cx) {
            let data = frame.into_data().unwrap_or_default();
            assert!(data.len() as u64 <= CHUNK_BYTES);
            got.extend_from_slice(&data);
        }
        let mut want = vec![0u8; 150_000];
        fill(content, 10, &mut want);
        assert!(got == want);
        assert!(body.is_end_stream());
    }

    #[test]
    fn parts_stream_in_order_with_their_exact_length() {
        let content = ContentId(9);
        let mut body = ServeBody::from(Body::Parts(vec![
            Body::Bytes(Bytes::from_static(b"--B\r\n")),
            Body::Synthetic {
                content,
                offset: 3,
                len: 100_000,
            },
            Body::Empty,
            Body::Bytes(Bytes::from_static(b"\r\n--B--")),
        ]));
        assert_eq!(body.size_hint().exact(), Some(5 + 100_000 + 7));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut got = Vec::new();
        while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut body).poll_frame(&mut cx) {
            got.extend_from_slice(&frame.into_data().unwrap_or_default());
        }
        let mut want = b"--B\r\n".to_vec();
        let mut piece = vec![0u8; 100_000];
        fill(content, 3, &mut piece);
        want.extend_from_slice(&piece);
        want.extend_from_slice(b"\r\n--B--");
        assert!(got == want);
        assert!(body.is_end_stream());
    }
}
