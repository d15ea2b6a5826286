//! Serving one file, as hawkBit's `FileStreamingUtil` does (ddi.md §1.9):
//! `Content-Disposition`, `ETag`, `Accept-Ranges`, `Last-Modified`; the
//! preconditions (`If-Match`, `If-None-Match`, `If-Range`); a `Range` of one
//! part answered `206` with `Content-Range`, of several parts answered as
//! one `multipart/byteranges` document (RFC 2046 layout, hawkBit's
//! boundary), and a bad one `416` with `Content-Range: bytes */len`.
//!
//! Synthetic bodies are never materialised: a range of synthetic content is
//! a [`Body::Synthetic`] piece, and a multipart answer is a [`Body::Parts`]
//! of boundary bytes and such pieces, which the real driver streams.

use crate::message::{Body, ContentId, Headers, Response};
use crate::protocol::otau::wire::{http_date, parse_ims, unix_secs, EPOCH_BASE_SECS};
use crate::time::Time;

use super::respond;

/// hawkBit's multipart boundary (`FileStreamingUtil.BOUNDARY`).
pub(super) const BOUNDARY: &str = "THIS_STRING_SEPARATES_MULTIPART";
const OCTET_STREAM: &str = "application/octet-stream";

/// A file to serve: synthetic content, or the bytes of an uploaded one.
pub(super) struct FileRef<'a> {
    /// Name for `Content-Disposition`.
    pub filename: &'a str,
    /// Its content (answered as [`Body::Synthetic`] unless `uploaded`).
    pub content: ContentId,
    /// Length in bytes.
    pub size: u64,
    /// The bytes, when the content was uploaded.
    pub uploaded: Option<&'a bytes::Bytes>,
    /// Creation time, sent as `Last-Modified` and compared with a date
    /// `If-Range`; `None` sends no `Last-Modified`.
    pub last_modified: Option<Time>,
}

/// Which precondition rules a download follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rules<'a> {
    /// RFC 7232 against the quoted ETag, `If-None-Match` → 304 (the CDN).
    Rfc,
    /// hawkBit's DDI download (`DdiRootController.downloadArtifact`):
    /// `If-Match` is a list of bare sha1 values or `*` (`HttpUtil.matchesHttpHeader`),
    /// and `If-None-Match` is not looked at (the ETag filter skips artifacts).
    Hawkbit {
        /// The artifact's sha1 (hex).
        sha1: &'a str,
    },
}

/// Preconditions and Range handling of one download with request headers
/// `h`; `ignore_range` is the fault mode that answers every Range request
/// with the whole file. `Range` applies to GET only (RFC 7233 §3.1), so a
/// HEAD answers the headers of the whole file.
pub(super) fn serve_file(
    h: &Headers,
    rules: Rules<'_>,
    ignore_range: bool,
    file: FileRef<'_>,
    etag: &str,
    head: bool,
) -> Response {
    let len = file.size;
    let if_match_ok = |m: &str| match rules {
        Rules::Rfc => respond::etag_listed(m, etag),
        Rules::Hawkbit { sha1 } => m.split(',').map(str::trim).any(|c| c == sha1 || c == "*"),
    };
    if h.get("if-match").is_some_and(|m| !if_match_ok(m)) {
        return Response::status(412);
    }
    // Content-Type first, as before multipart answers existed.
    let headers = |kind: String| {
        let mut hs = Headers::new()
            .with("content-type", kind)
            .with(
                "content-disposition",
                format!("attachment;filename={}", file.filename),
            )
            .with("etag", etag.to_string())
            .with("accept-ranges", "bytes")
            .with("x-content-type-options", "nosniff");
        if let Some(t) = file.last_modified {
            hs.insert("last-modified", http_date(unix_secs(t)));
        }
        hs
    };
    let octets = || headers(OCTET_STREAM.to_string());
    let not_modified = rules == Rules::Rfc
        && h.get("if-none-match")
            .is_some_and(|m| respond::etag_listed(m, etag));
    if not_modified {
        return answer(304, octets(), Some(Body::Empty));
    }
    let range = h
        .get("range")
        .filter(|_| !head && !ignore_range && if_range_ok(h.get("if-range"), etag, &file));
    let ranges = match range.map(|r| parse_range(r, len)) {
        None => None,
        Some(Some(ranges)) => Some(ranges),
        Some(None) => {
            let mut hs = octets();
            hs.insert("content-range", format!("bytes */{len}"));
            return answer(416, hs, Some(Body::Empty));
        }
    };
    match ranges.as_deref() {
        None => {
            let mut hs = octets();
            hs.insert("content-length", len.to_string());
            let body = if head {
                Some(Body::Empty)
            } else {
                piece(&file, 0, len)
            };
            answer(200, hs, body)
        }
        Some([(a, b)]) => {
            let mut hs = octets();
            hs.insert("content-range", format!("bytes {a}-{b}/{len}"));
            hs.insert("content-length", (b - a + 1).to_string());
            answer(206, hs, piece(&file, *a, b - a + 1))
        }
        Some(several) => {
            let hs = headers(format!("multipart/byteranges; boundary={BOUNDARY}"));
            answer(206, hs, multipart(&file, several))
        }
    }
}

/// True when `If-Range` (if any) lets the Range apply: it is the ETag, or
/// an HTTP-date not before the file's `Last-Modified` (hawkBit's
/// `checkIfRangeSendAll`); anything else sends the whole file.
fn if_range_ok(if_range: Option<&str>, etag: &str, file: &FileRef<'_>) -> bool {
    let Some(value) = if_range.map(str::trim) else {
        return true;
    };
    if value == etag {
        return true;
    }
    let date = value.ends_with("GMT").then(|| parse_ims(value)).flatten();
    match (date, file.last_modified) {
        (Some(secs), Some(t)) => secs * 1000 >= EPOCH_BASE_SECS * 1000 + t.as_millis(),
        _ => false,
    }
}

/// The answer with `body`, or 500 when the uploaded bytes do not cover it.
fn answer(status: u16, headers: Headers, body: Option<Body>) -> Response {
    match body {
        Some(body) => Response {
            status,
            headers,
            body,
        },
        None => Response::status(500),
    }
}

/// `n` bytes of `file` from `offset`: a slice of the uploaded bytes, or a
/// synthetic piece; `None` when the uploaded bytes are shorter.
fn piece(file: &FileRef<'_>, offset: u64, n: u64) -> Option<Body> {
    match file.uploaded {
        Some(bytes) => {
            let a = usize::try_from(offset).ok()?;
            let b = usize::try_from(offset.checked_add(n)?).ok()?;
            (a <= b && b <= bytes.len()).then(|| Body::Bytes(bytes.slice(a..b)))
        }
        None => Some(Body::Synthetic {
            content: file.content,
            offset,
            len: n,
        }),
    }
}

/// The `multipart/byteranges` body of `ranges` (sorted, disjoint) as
/// hawkBit writes it: `--B CRLF` before the first part, `CRLF --B CRLF`
/// before the others, each part's `Content-Type` and `Content-Range`
/// headers and an empty line, and `CRLF --B--` at the end (no preamble, no
/// epilogue, no final CRLF).
fn multipart(file: &FileRef<'_>, ranges: &[(u64, u64)]) -> Option<Body> {
    let mut parts = Vec::with_capacity(ranges.len() * 2 + 1);
    for (i, (a, b)) in ranges.iter().enumerate() {
        let lead = if i == 0 { "" } else { "\r\n" };
        let head = format!(
            "{lead}--{BOUNDARY}\r\nContent-Type: {OCTET_STREAM}\r\nContent-Range: bytes {a}-{b}/{}\r\n\r\n",
            file.size
        );
        parts.push(Body::Bytes(head.into_bytes().into()));
        parts.push(piece(file, *a, b - a + 1)?);
    }
    parts.push(Body::Bytes(
        format!("\r\n--{BOUNDARY}--").into_bytes().into(),
    ));
    Some(Body::Parts(parts))
}

/// Parses `Range` against a file of `len` bytes as hawkBit's
/// `FileStreamingUtil.Range.of` does: the value must match
/// `bytes=\d*-\d*(,\d*-\d*)*` exactly (no spaces); `a-b` is clamped to the
/// file, `a-` runs to its end, `-n` is its last `n` bytes; the ranges are
/// sorted by start. `None` (→ 416) when malformed, when a range starts
/// after it ends or beyond the file, or when ranges overlap.
pub(super) fn parse_range(header: &str, len: u64) -> Option<Vec<(u64, u64)>> {
    let specs = header.strip_prefix("bytes=")?;
    let last = len.checked_sub(1)?;
    let mut ranges = Vec::new();
    for spec in specs.split(',') {
        let (a, b) = spec.split_once('-')?;
        if !a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()) {
            return None;
        }
        let (start, end) = if a.is_empty() {
            let n: u64 = b.parse().ok()?;
            (len.saturating_sub(n), last)
        } else if b.is_empty() {
            (a.parse().ok()?, last)
        } else {
            (a.parse().ok()?, b.parse::<u64>().ok()?.min(last))
        };
        if start > end {
            return None;
        }
        ranges.push((start, end));
    }
    ranges.sort_unstable();
    if ranges.windows(2).any(|w| w[1].0 <= w[0].1) {
        return None;
    }
    Some(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let one = |a, b| Some(vec![(a, b)]);
        assert_eq!(parse_range("bytes=0-9", 100), one(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), one(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), one(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), one(0, 99));
        assert_eq!(parse_range("bytes=50-1000", 100), one(50, 99));
        assert_eq!(
            parse_range("bytes=20-29,0-9", 100),
            Some(vec![(0, 9), (20, 29)])
        );
        assert_eq!(
            parse_range("bytes=0-9,10-19", 100),
            Some(vec![(0, 9), (10, 19)]),
            "adjacent ranges stay two parts"
        );
    }

    #[test]
    fn bad_ranges() {
        for bad in [
            "bytes=100-",
            "bytes=10-5",
            "bytes=100-10",
            "bytes=-0",
            "bytes=-",
            "bytes=a-b",
            "items=0-1",
            "bytes=0-9,5-20",
            "bytes=0-9, 20-29",
            "bytes=1-10,hdsfjksdh",
            "bytes=",
            "bytes=1",
            "0-9",
            "bytes=-5-",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(parse_range(bad, 100), None, "{bad}");
        }
        assert_eq!(parse_range("bytes=0-", 0), None);
    }
}
