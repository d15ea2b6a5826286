//! Murano content for OTAU payloads: `GET /provision/download` (otau.md §4.4)
//! — the id list, the `info=true` CSV line and the content itself with
//! `Range` (206, or 416 with `Content-Range: bytes */<len>`, RFC 7233; a
//! multi-range request gets the whole content, otau.md §10.8).
//!
//! Contents are synthetic ([`Body::Synthetic`]): a [`ContentId`] registered in
//! the server's catalog, hashed once. The info line's meta carries
//! `sha256=<hex>` so devices can check what they received [INF].

use bytes::Bytes;

use crate::message::{Body, ContentId, Headers, Request, Response};
use crate::protocol::otau::wire::{decode_component, ContentInfoLine};
use crate::time::Time;

use super::{text, unix_secs, OtauServer};

/// One content item of the connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentEntry {
    /// Which synthetic bytes.
    pub content: ContentId,
    /// Length in bytes.
    pub size: u64,
    /// MIME type given at upload.
    pub content_type: String,
    /// Upload time.
    pub updated: Time,
}

/// Content id of the bytes served under the `wrong_content` fault: never registered.
fn wrong(content: ContentId) -> ContentId {
    ContentId(content.0 ^ 0x5a5a_0000_0000_0000)
}

impl OtauServer {
    /// Uploads content `id` (a payload entry) as `size` bytes of synthetic `content`.
    pub fn add_content(&mut self, id: &str, content: ContentId, size: u64, now: Time) {
        self.catalog.register(content, size);
        let entry = ContentEntry {
            content,
            size,
            content_type: "application/octet-stream".to_string(),
            updated: now,
        };
        self.replace_content(id, entry);
    }

    /// Uploads content `id` as real `bytes` of MIME type `content_type`
    /// (e.g. through `fleetsim serve`); replaces an earlier content of that
    /// id, whose bytes leave the catalog unless another id still names them.
    pub fn add_content_bytes(&mut self, id: &str, bytes: Bytes, content_type: &str, now: Time) {
        let size = bytes.len() as u64;
        let content = self.catalog.register_bytes(bytes);
        let entry = ContentEntry {
            content,
            size,
            content_type: content_type.to_string(),
            updated: now,
        };
        self.replace_content(id, entry);
    }

    /// Sets content `id`; uploaded bytes it named before are dropped from
    /// the catalog when no other id names them (re-uploads replace, they do
    /// not pile up).
    fn replace_content(&mut self, id: &str, entry: ContentEntry) {
        let Some(old) = self.contents.insert(id.to_string(), entry) else {
            return;
        };
        if !self.contents.values().any(|e| e.content == old.content) {
            self.catalog.remove_upload(old.content);
        }
    }

    /// `GET /provision/download[?id=<id>[&info=true]]`.
    pub(super) fn download(&mut self, _now: Time, req: &Request) -> Response {
        let Some(raw) = req.query_param("id") else {
            let list: String = self.contents.keys().map(|k| format!("{k}\n")).collect();
            return csv(list);
        };
        let Some(entry) = decode_component(raw)
            .ok()
            .and_then(|id| self.contents.get(&id))
        else {
            return text(404, "content not found");
        };
        if req.query_param("info") == Some("true") {
            let sha = self
                .catalog
                .get(entry.content)
                .map_or(String::new(), |i| i.hashes.sha256.clone());
            let line = ContentInfoLine {
                content_type: entry.content_type.clone(),
                size: entry.size,
                updated: unix_secs(entry.updated),
                meta: format!("sha256={sha}"),
            };
            return csv(line.to_line());
        }
        if self.faults.content_gone {
            return text(410, "content expired");
        }
        let content = if self.faults.wrong_content {
            wrong(entry.content)
        } else {
            entry.content
        };
        let size = entry.size;
        let ctype = entry.content_type.clone();
        let uploaded = self.catalog.bytes(content);
        match req.headers.get("range").map(|r| parse_range(r, size)) {
            None | Some(RangeAsk::Whole) => {
                let mut r = part(uploaded, content, (200, 0, size), ctype);
                r.headers.insert("accept-ranges", "bytes");
                r
            }
            Some(RangeAsk::Part(first, last)) => {
                let mut r = part(uploaded, content, (206, first, last + 1 - first), ctype);
                r.headers
                    .insert("content-range", format!("bytes {first}-{last}/{size}"));
                r
            }
            Some(RangeAsk::Unsatisfiable) => Response {
                status: 416,
                headers: Headers::new().with("content-range", format!("bytes */{size}")),
                body: Body::Empty,
            },
        }
    }
}

fn csv(body: String) -> Response {
    Response {
        status: 200,
        headers: Headers::new().with("content-type", "text/csv; charset=utf-8"),
        body: Body::Bytes(body.into_bytes().into()),
    }
}

/// `len` bytes of `content` from `offset` with `status`: a copy of the
/// uploaded bytes when there are some, else a synthetic body.
fn part(
    uploaded: Option<&Bytes>,
    content: ContentId,
    (status, offset, len): (u16, u64, u64),
    ctype: String,
) -> Response {
    let body = match uploaded {
        Some(bytes) => {
            let from = (offset as usize).min(bytes.len());
            let to = (offset.saturating_add(len) as usize).min(bytes.len());
            Body::Bytes(bytes.slice(from..to))
        }
        None => Body::Synthetic {
            content,
            offset,
            len,
        },
    };
    Response {
        status,
        headers: Headers::new().with("content-type", ctype),
        body,
    }
}

/// What a `Range` header asks of a `size`-byte content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RangeAsk {
    /// No usable single range (malformed, or several): the whole content.
    Whole,
    /// Bytes `first..=last`.
    Part(u64, u64),
    /// 416.
    Unsatisfiable,
}

/// `bytes=X-Y`, `bytes=X-`, `bytes=-Y` (otau.md §4.4).
fn parse_range(value: &str, size: u64) -> RangeAsk {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeAsk::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| s.parse::<u64>().ok();
    let (first, last) = match (a.is_empty(), b.is_empty()) {
        (true, true) => return RangeAsk::Whole,
        (true, false) => match num(b) {
            Some(0) => return RangeAsk::Unsatisfiable,
            Some(n) => (size.saturating_sub(n), size.saturating_sub(1)),
            None => return RangeAsk::Whole,
        },
        (false, _) => {
            let Some(first) = num(a) else {
                return RangeAsk::Whole;
            };
            let last = if b.is_empty() { Some(u64::MAX) } else { num(b) };
            let Some(last) = last else {
                return RangeAsk::Whole;
            };
            if last < first {
                return RangeAsk::Whole;
            }
            (first, last.min(size.saturating_sub(1)))
        }
    };
    if size == 0 || first >= size {
        RangeAsk::Unsatisfiable
    } else {
        RangeAsk::Part(first, last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re_uploading_an_id_replaces_its_bytes() {
        let mut otau = OtauServer::new(1);
        for n in 0..10u8 {
            let bytes = Bytes::from(vec![n; 1000 + usize::from(n)]);
            otau.add_content_bytes("fw", bytes, "application/octet-stream", Time(u64::from(n)));
        }
        assert_eq!(otau.catalog().uploads_held(), (1, 1009));
        let fw = otau.contents["fw"].content;
        assert_eq!(otau.catalog().bytes(fw).map(|b| b[0]), Some(9));
        // Downloads share the stored bytes instead of copying them.
        let stored = otau.catalog().bytes(fw).map(|b| b.as_ptr() as usize);
        let served = part(otau.catalog().bytes(fw), fw, (206, 9, 100), String::new());
        assert_eq!(
            Some(served.body.as_bytes().as_ptr() as usize),
            stored.map(|p| p + 9)
        );
        // Another id's upload stays; a synthetic content replaces an upload too.
        otau.add_content_bytes("other", Bytes::from_static(b"abc"), "x", Time(20));
        otau.add_content("fw", ContentId(7), 10, Time(21));
        assert_eq!(otau.catalog().uploads_held(), (1, 3));
        assert!(
            otau.catalog().get(fw).is_none(),
            "the old upload's hashes go too"
        );
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeAsk::Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), RangeAsk::Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), RangeAsk::Part(90, 99));
        assert_eq!(parse_range("bytes=50-500", 100), RangeAsk::Part(50, 99));
        assert_eq!(parse_range("bytes=100-", 100), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeAsk::Whole);
        assert_eq!(parse_range("items=0-1", 100), RangeAsk::Whole);
        assert_eq!(parse_range("bytes=x-", 100), RangeAsk::Whole);
    }
}
