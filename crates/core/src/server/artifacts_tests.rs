//! Tests of artifact access, downloads, Range, conditionals and `.MD5SUM`.

use crate::message::{Body, Method, Request};

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
    let r = h.get_with(&file_url(), "range", "bytes=0-9,500-509");
    assert_eq!(
        (r.status, r.headers.get("content-range")),
        (206, Some("bytes 0-509/1000"))
    );
    assert_eq!(downloads(&h), 0, "Range requests record nothing");
    for bad in ["bytes=1000-", "bytes=9-1", "bytes=x", "bytes=0-9,5-20"] {
        let r = h.get_with(&file_url(), "range", bad);
        assert_eq!(r.status, 416, "{bad}");
        assert_eq!(r.headers.get("content-range"), Some("bytes */1000"));
        assert!(r.body.is_empty());
    }
    assert_eq!(
        h.get_with(&file_url(), "if-match", "\"deadbeef\"").status,
        412
    );
    let etag = h
        .get(&file_url())
        .headers
        .get("etag")
        .expect("etag")
        .to_string();
    assert_eq!(h.get_with(&file_url(), "if-match", &etag).status, 200);
    assert_eq!(h.get_with(&file_url(), "if-none-match", &etag).status, 304);
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
