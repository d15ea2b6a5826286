//! Tests of artifact access, downloads, Range, conditionals and `.MD5SUM`.

use crate::artifact::fill;
use crate::message::{Body, Method, Request, Response};
use crate::protocol::otau::wire::{http_date, unix_secs};
use crate::time::Time;

use super::super::test_support::{json, CID, CONTENT, FILE, FILE_SIZE, H};
use super::super::{ActionStatus, ActionType, ServerConfig};

fn file_url() -> String {
    format!("/softwaremodules/1/artifacts/{FILE}")
}

fn downloads(h: &H) -> usize {
    let t = h.s.targets.get(CID).expect("target");
    t.actions
        .iter()
        .flat_map(|a| a.history.iter())
        .filter(|e| e.status == ActionStatus::Download)
        .count()
}

#[test]
fn access_requires_an_active_non_canceling_action() {
    let mut h = H::new();
    assert_eq!(h.get(&file_url()).status, 404);
    assert_eq!(h.get("/softwaremodules/1/artifacts").status, 404);
    let a = h.assign(ActionType::Soft);
    assert_eq!(h.get(&file_url()).status, 200);
    assert_eq!(
        h.get("/softwaremodules/2/artifacts/fw.bin").status,
        404,
        "unknown module"
    );
    assert_eq!(
        h.get("/softwaremodules/1/artifacts/other.bin").status,
        404,
        "unknown file"
    );
    assert_eq!(h.get("/softwaremodules/x/artifacts/fw.bin").status, 400);
    let list = h.get("/softwaremodules/1/artifacts");
    assert_eq!(list.status, 200);
    assert_eq!(json(&list)[0]["filename"], FILE);
    assert!(h.s.cancel(h.now, CID, a, false));
    assert_eq!(h.get(&file_url()).status, 404, "CANCELING");
    let b = h.assign(ActionType::Soft);
    assert!(h.feedback(b, "closed", "success").is_success());
    assert_eq!(h.get(&file_url()).status, 404, "installed only");
    assert_eq!(
        h.get("/softwaremodules/1/artifacts").status,
        200,
        "list allows installed"
    );
}

#[test]
fn full_download_headers_and_download_entry() {
    let mut h = H::new();
    h.assign(ActionType::Soft);
    let sha1 =
        h.s.catalog()
            .get(CONTENT)
            .expect("content")
            .hashes
            .sha1
            .clone();
    let r = h.get(&file_url());
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        Body::Synthetic {
            content: CONTENT,
            offset: 0,
            len: FILE_SIZE
        }
    );
    let hd = &r.headers;
    assert_eq!(hd.get("content-length"), Some("1000"));
    assert_eq!(hd.get("etag"), Some(format!("\"{sha1}\"").as_str()));
    assert_eq!(hd.get("accept-ranges"), Some("bytes"));
    assert_eq!(
        hd.get("content-disposition"),
        Some("attachment;filename=fw.bin")
    );
    assert_eq!(hd.get("x-content-type-options"), Some("nosniff"));
    assert_eq!(hd.get("content-type"), Some("application/octet-stream"));
    assert_eq!(downloads(&h), 1);
    let head = h.send(Request::new(Method::Head, H::url(&file_url())));
    assert_eq!((head.status, head.body.is_empty()), (200, true));
    assert_eq!(head.headers.get("content-length"), Some("1000"));
    assert_eq!(downloads(&h), 1, "HEAD records nothing");
    let md5 = h.get(&format!("{}.MD5SUM", file_url()));
    let expected = format!(
        "{}  {FILE}",
        h.s.catalog().get(CONTENT).expect("c").hashes.md5
    );
    assert_eq!(
        (md5.status, md5.body.as_bytes()),
        (200, expected.as_bytes())
    );
    assert_eq!(md5.headers.get("content-type"), Some("text/plain"));
    assert_eq!(downloads(&h), 2, ".MD5SUM logs DOWNLOAD too");
    // Accept is not negotiated for file downloads.
    assert_eq!(
        h.get_with(&file_url(), "accept", "application/octet-stream")
            .status,
        200
    );
}

#[test]
fn range_requests() {
    let mut h = H::new();
    h.assign(ActionType::Soft);
    let r = h.get_with(&file_url(), "range", "bytes=100-199");
    assert_eq!(r.status, 206);
    assert_eq!(r.headers.get("content-range"), Some("bytes 100-199/1000"));
    assert_eq!(r.headers.get("content-length"), Some("100"));
    assert_eq!(
        r.body,
        Body::Synthetic {
            content: CONTENT,
            offset: 100,
            len: 100
        }
    );
    let r = h.get_with(&file_url(), "range", "bytes=900-");
    assert_eq!(
        r.body,
        Body::Synthetic {
            content: CONTENT,
            offset: 900,
            len: 100
        }
    );
    let r = h.get_with(&file_url(), "range", "bytes=-10");
    assert_eq!(r.headers.get("content-range"), Some("bytes 990-999/1000"));
    assert_eq!(downloads(&h), 0, "Range requests record nothing");
    for bad in ["bytes=1000-", "bytes=9-1", "bytes=x", "bytes=0-9,5-20"] {
        let r = h.get_with(&file_url(), "range", bad);
        assert_eq!(r.status, 416, "{bad}");
        assert_eq!(r.headers.get("content-range"), Some("bytes */1000"));
        assert!(r.body.is_empty());
    }
    let etag = h
        .get(&file_url())
        .headers
        .get("etag")
        .expect("etag")
        .to_string();
    let mut req = Request::new(Method::Get, H::url(&file_url()));
    req.headers.insert("range", "bytes=0-9");
    req.headers.insert("if-range", "\"stale\"");
    assert_eq!(
        h.send(req.clone()).status,
        200,
        "If-Range mismatch → full body"
    );
    req.headers = Default::default();
    req.headers.insert("range", "bytes=0-9");
    req.headers.insert("if-range", etag.clone());
    assert_eq!(h.send(req).status, 206);
}

#[test]
fn repeated_full_downloads_hit_the_quota() {
    let config = ServerConfig {
        max_status_entries_per_action: 4,
        ..ServerConfig::default()
    };
    let mut h = H::with_config(config);
    h.assign(ActionType::Soft);
    for _ in 0..3 {
        assert_eq!(h.get(&file_url()).status, 200);
    }
    let r = h.get(&file_url());
    assert_eq!(r.status, 429);
    assert_eq!(
        json(&r)["errorCode"],
        "hawkbit.server.error.quota.tooManyEntries"
    );
    assert_eq!(
        h.get_with(&file_url(), "range", "bytes=0-9").status,
        206,
        "Range is not recorded"
    );
}

/// The bytes a body stands for (synthetic pieces generated).
fn materialise(body: &Body) -> Vec<u8> {
    match body {
        Body::Empty => Vec::new(),
        Body::Bytes(b) => b.to_vec(),
        Body::Synthetic {
            content,
            offset,
            len,
        } => {
            let mut out = vec![0u8; *len as usize];
            fill(*content, *offset, &mut out);
            out
        }
        Body::Parts(parts) => parts.iter().flat_map(materialise).collect(),
    }
}

fn sha1_of(h: &H) -> String {
    h.s.catalog()
        .get(CONTENT)
        .expect("content")
        .hashes
        .sha1
        .clone()
}

/// `DdiArtifactDownloadTest.rangeDownloadArtifact`: `0-9,10-19` is one
/// `multipart/byteranges` document, byte for byte as hawkBit writes it.
#[test]
fn several_ranges_are_one_multipart_document() {
    let mut h = H::new();
    h.assign(ActionType::Soft);
    let r = h.get_with(&file_url(), "range", "bytes=10-19,0-9");
    assert_eq!(r.status, 206);
    assert_eq!(
        r.headers.get("content-type"),
        Some("multipart/byteranges; boundary=THIS_STRING_SEPARATES_MULTIPART")
    );
    assert_eq!(r.headers.get("content-range"), None);
    assert_eq!(
        r.headers.get("etag"),
        Some(format!("\"{}\"", sha1_of(&h)).as_str())
    );
    let mut file = vec![0u8; FILE_SIZE as usize];
    fill(CONTENT, 0, &mut file);
    let mut want = Vec::new();
    want.extend_from_slice(b"--THIS_STRING_SEPARATES_MULTIPART\r\n");
    want.extend_from_slice(b"Content-Type: application/octet-stream\r\n");
    want.extend_from_slice(b"Content-Range: bytes 0-9/1000\r\n\r\n");
    want.extend_from_slice(&file[0..10]);
    want.extend_from_slice(b"\r\n--THIS_STRING_SEPARATES_MULTIPART\r\n");
    want.extend_from_slice(b"Content-Type: application/octet-stream\r\n");
    want.extend_from_slice(b"Content-Range: bytes 10-19/1000\r\n\r\n");
    want.extend_from_slice(&file[10..20]);
    want.extend_from_slice(b"\r\n--THIS_STRING_SEPARATES_MULTIPART--");
    assert_eq!(materialise(&r.body), want);
    assert_eq!(r.body.len(), want.len() as u64);
    // The ranges of synthetic content stay synthetic.
    let Body::Parts(parts) = &r.body else {
        panic!("multipart body is parts: {:?}", r.body)
    };
    assert!(parts.iter().any(|p| matches!(p, Body::Synthetic { .. })));
    assert_eq!(downloads(&h), 0, "Range requests record nothing");
}

fn assert_file_headers(r: &Response, what: &str) {
    let hd = &r.headers;
    let created = http_date(unix_secs(Time::ZERO));
    assert_eq!(hd.get("last-modified"), Some(created.as_str()), "{what}");
    assert_eq!(hd.get("accept-ranges"), Some("bytes"), "{what}");
    assert_eq!(
        hd.get("content-disposition"),
        Some("attachment;filename=fw.bin"),
        "{what}"
    );
    assert!(hd.get("etag").is_some(), "{what}");
}

/// `DdiArtifactDownloadTest.invalidRequestsOnArtifactResource` and
/// `downloadArtifactThroughFileName`: `If-Match` lists the bare sha1, bad
/// ranges are 416 with `bytes */len`, every answer has the file headers.
#[test]
fn hawkbit_preconditions_and_headers() {
    let mut h = H::new();
    h.assign(ActionType::Soft);
    let sha1 = sha1_of(&h);
    let full = h.get_with(&file_url(), "if-match", &sha1);
    assert_eq!(full.status, 200);
    assert_file_headers(&full, "200");
    assert_eq!(h.get_with(&file_url(), "if-match", "*").status, 200);
    let listed = format!("other, {sha1}");
    assert_eq!(h.get_with(&file_url(), "if-match", &listed).status, 200);
    for bad in ["fsjkhgjfdhg", &format!("\"{sha1}\"")] {
        assert_eq!(
            h.get_with(&file_url(), "if-match", bad).status,
            412,
            "{bad}"
        );
    }
    for bad in [
        "bytes=1-10,hdsfjksdh",
        "bytes=100-10",
        "bytes=1000-",
        "bytes=0-9, 20-29",
    ] {
        let r = h.get_with(&file_url(), "range", bad);
        assert_eq!(r.status, 416, "{bad}");
        assert_eq!(
            r.headers.get("content-range"),
            Some("bytes */1000"),
            "{bad}"
        );
        assert_eq!(
            r.headers.get("content-type"),
            Some("application/octet-stream")
        );
        assert_file_headers(&r, bad);
    }
    assert_file_headers(&h.get_with(&file_url(), "range", "bytes=0-9"), "206");
    assert_file_headers(
        &h.get_with(&file_url(), "range", "bytes=0-9,20-29"),
        "multipart",
    );
    // hawkBit's ETag filter skips downloads: If-None-Match changes nothing.
    let etag = format!("\"{sha1}\"");
    assert_eq!(h.get_with(&file_url(), "if-none-match", &etag).status, 200);
}

#[test]
fn head_ignores_range_and_a_date_if_range_compares_with_last_modified() {
    let mut h = H::new();
    h.assign(ActionType::Soft);
    let mut head = Request::new(Method::Head, H::url(&file_url()));
    head.headers.insert("range", "bytes=0-9");
    let r = h.send(head);
    assert_eq!((r.status, r.body.is_empty()), (200, true));
    assert_eq!(r.headers.get("content-length"), Some("1000"));
    let created = unix_secs(Time::ZERO);
    for (if_range, status) in [
        (http_date(created), 206),
        (http_date(created + 60), 206),
        (http_date(created - 60), 200),
        ("not a date".to_string(), 200),
    ] {
        let mut req = Request::new(Method::Get, H::url(&file_url()));
        req.headers.insert("range", "bytes=0-9");
        req.headers.insert("if-range", if_range.clone());
        assert_eq!(h.send(req).status, status, "{if_range}");
    }
}
