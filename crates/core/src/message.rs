//! HTTP-shaped messages: what a device sends and what a server answers.
//!
//! Devices and the server core exchange these values in both drivers. The
//! virtual driver hands them across in memory; the real driver turns them into
//! hyper requests and back. Keeping the shape of HTTP (method, absolute URL,
//! headers, status, body) means the same client code parses the same bytes in
//! both modes — only artifact bodies are allowed to be [`Body::Synthetic`], so a
//! 100 000-device fleet does not have to materialise gigabytes of firmware.

use std::borrow::Cow;
use std::fmt;

/// HTTP request method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// Any other method (answered 405 by the server core).
    Other,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Other => "OTHER",
        }
    }

    /// Parses a method name; unknown names map to [`Method::Other`].
    pub fn parse(name: &str) -> Method {
        match name {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            _ => Method::Other,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A header name or value: borrowed from a literal, or owned.
pub type HeaderText = Cow<'static, str>;

/// Header list with lower-case names, in insertion order.
///
/// A `Vec` rather than a map: messages carry two to six headers, order is
/// deterministic, and lookups over a handful of entries are cheaper than
/// hashing. Names and values written as literals are stored without
/// allocating, which matters at a million simulated requests per second.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(Vec<(HeaderText, HeaderText)>);

impl Headers {
    /// An empty header list.
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    /// Adds a header whose name is a lower-case literal.
    pub fn insert(&mut self, name: &'static str, value: impl Into<HeaderText>) {
        debug_assert!(!name.bytes().any(|b| b.is_ascii_uppercase()), "{name}");
        self.0.push((Cow::Borrowed(name), value.into()));
    }

    /// Adds a header with a name read at run time (lower-cased here).
    pub fn insert_dynamic(&mut self, name: &str, value: impl Into<HeaderText>) {
        self.0
            .push((Cow::Owned(name.to_ascii_lowercase()), value.into()));
    }

    /// Builder form of [`Headers::insert`].
    pub fn with(mut self, name: &'static str, value: impl Into<HeaderText>) -> Headers {
        self.insert(name, value);
        self
    }

    /// First value of header `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    /// All headers, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))
    }
}

/// Identifies the content of a synthetic artifact: bytes that exist only as a
/// deterministic function of this id (see [`crate::artifact`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentId(pub u64);

/// A message body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Body {
    /// No body.
    #[default]
    Empty,
    /// Real bytes (JSON documents, small files, uploaded contents). Shared,
    /// not copied: a thousand devices downloading one uploaded file hold
    /// one copy of it, whatever their ranges.
    Bytes(bytes::Bytes),
    /// `len` bytes of synthetic content `content`, starting at `offset`.
    /// Stands for exactly those bytes; the real driver materialises them.
    Synthetic {
        /// Which content.
        content: ContentId,
        /// Offset of the first byte in the content.
        offset: u64,
        /// Number of bytes.
        len: u64,
    },
    /// Several bodies sent one after the other, each `Empty`, `Bytes` or
    /// `Synthetic` (never nested): a `multipart/byteranges` answer is its
    /// boundary lines as bytes around the ranges, which may be synthetic.
    Parts(Vec<Body>),
}

impl Body {
    /// Length of the body in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::Synthetic { len, .. } => *len,
            Body::Parts(parts) => parts.iter().map(Body::len).sum(),
        }
    }

    /// True when the body has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The body's bytes if it carries real bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Bytes(b) => b,
            _ => &[],
        }
    }

    /// The first `n` bytes of this body (a body cut off in transit).
    pub fn truncated(&self, n: u64) -> Body {
        match self {
            Body::Empty => Body::Empty,
            Body::Bytes(b) => Body::Bytes(b.slice(..(n as usize).min(b.len()))),
            Body::Synthetic {
                content, offset, ..
            } => Body::Synthetic {
                content: *content,
                offset: *offset,
                len: n.min(self.len()),
            },
            Body::Parts(parts) => {
                let mut left = n;
                let mut kept = Vec::new();
                for part in parts {
                    if left == 0 {
                        break;
                    }
                    let piece = part.truncated(left);
                    left -= piece.len();
                    kept.push(piece);
                }
                Body::Parts(kept)
            }
        }
    }
}

/// A request from a device to a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Absolute URL, e.g. `http://host:8080/DEFAULT/controller/v1/dev-1`.
    pub url: String,
    /// Request headers.
    pub headers: Headers,
    /// Request body.
    pub body: Body,
}

impl Request {
    /// A request without headers or body.
    pub fn new(method: Method, url: impl Into<String>) -> Request {
        Request {
            method,
            url: url.into(),
            headers: Headers::new(),
            body: Body::Empty,
        }
    }

    /// Path and query of the URL (`/a/b?c=d`), whatever the scheme and host.
    pub fn path_and_query(&self) -> &str {
        path_and_query(&self.url)
    }

    /// Path of the URL without the query.
    pub fn path(&self) -> &str {
        let pq = self.path_and_query();
        match pq.bytes().position(|b| b == b'?') {
            Some(i) => &pq[..i],
            None => pq,
        }
    }

    /// Value of query parameter `name`, if present.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        let (_, query) = self.path_and_query().split_once('?')?;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    }

    /// Scheme and authority of the URL (`http://host:8080`), empty for origin-form URLs.
    pub fn origin(&self) -> &str {
        let pq = self.path_and_query();
        &self.url[..self.url.len() - pq.len()]
    }
}

/// Path and query part of an absolute or origin-form URL.
///
/// Runs several times per request on every hot path, so it scans bytes
/// with plain loops (hosts and paths are short; a `find` sets up a
/// searcher that costs more than the scan).
pub fn path_and_query(url: &str) -> &str {
    let rest = if let Some(rest) = url.strip_prefix("http://") {
        rest
    } else if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else {
        match scheme_separator(url) {
            Some(i) => &url[i + 3..],
            None => return url,
        }
    };
    match rest.bytes().position(|b| b == b'/') {
        Some(j) => &rest[j..],
        None => "/",
    }
}

/// Byte offset of the first `://` in `url` (as `url.find("://")`, without
/// building a substring searcher: this runs on every request).
fn scheme_separator(url: &str) -> Option<usize> {
    let bytes = url.as_bytes();
    let mut from = 0;
    while let Some(i) = bytes[from..].iter().position(|&b| b == b':') {
        let at = from + i;
        if bytes[at..].starts_with(b"://") {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Percent-encodes `s` for a URL path segment or query value (RFC 3986:
/// unreserved characters stay, every other byte becomes `%XX`).
pub fn percent_encode(s: &str) -> String {
    percent_encode_keeping(s, b"")
}

/// [`percent_encode`], but the bytes in `keep` stay as they are too (e.g.
/// `:` in a Ditto thing ID, which Ditto's HTTP API takes unencoded).
pub fn percent_encode_keeping(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` for a bad escape or invalid UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    percent_decode_cow(s).map(Cow::into_owned)
}

/// [`percent_decode`], borrowing `s` when it holds no `%` escape (the
/// common case: no allocation).
pub fn percent_decode_cow(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains('%') {
        return Some(Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// First byte of a `Content-Range: bytes a-b/len` header value.
pub fn content_range_start(value: &str) -> Option<u64> {
    value
        .trim()
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// A server's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: Headers,
    /// Response body.
    pub body: Body,
}

impl Response {
    /// A response with `status`, no headers and no body.
    pub fn status(status: u16) -> Response {
        Response {
            status,
            headers: Headers::new(),
            body: Body::Empty,
        }
    }

    /// A response with a JSON body.
    pub fn json(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: Headers::new().with("content-type", content_type),
            body: Body::Bytes(body.into()),
        }
    }

    /// True for 2xx statuses.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why a request got no response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NetError {
    /// No response within the device's request timeout (request or answer lost).
    Timeout,
    /// The connection could not be opened (device offline, refused, DNS).
    Unreachable,
    /// The connection broke before the response was complete.
    Reset,
    /// The response could not be read as HTTP.
    Malformed,
}

impl NetError {
    /// Short stable name used in traces and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            NetError::Timeout => "timeout",
            NetError::Unreachable => "unreachable",
            NetError::Reset => "reset",
            NetError::Malformed => "malformed",
        }
    }
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts() {
        let r = Request::new(
            Method::Get,
            "http://h:8080/DEFAULT/controller/v1/d1/deploymentBase/8?c=-21&actionHistory=2",
        );
        assert_eq!(r.origin(), "http://h:8080");
        assert_eq!(r.path(), "/DEFAULT/controller/v1/d1/deploymentBase/8");
        assert_eq!(r.query_param("c"), Some("-21"));
        assert_eq!(r.query_param("actionHistory"), Some("2"));
        assert_eq!(r.query_param("x"), None);
        assert_eq!(path_and_query("http://h"), "/");
        assert_eq!(path_and_query("/a?b"), "/a?b");
    }

    #[test]
    fn truncation_keeps_prefix() {
        let b = Body::Synthetic {
            content: ContentId(1),
            offset: 10,
            len: 100,
        };
        assert_eq!(b.truncated(40).len(), 40);
        assert_eq!(
            Body::Bytes(vec![1, 2, 3].into()).truncated(2),
            Body::Bytes(vec![1, 2].into())
        );
        let parts = Body::Parts(vec![Body::Bytes(vec![1, 2].into()), b, Body::Empty]);
        assert_eq!(parts.len(), 102);
        let cut = parts.truncated(50);
        assert_eq!(cut.len(), 50);
        let Body::Parts(kept) = cut else {
            panic!("parts stay parts")
        };
        assert_eq!(kept.len(), 2);
    }
}
