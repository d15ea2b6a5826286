//! Unit tests of the signed-URL CDN and the artifact cache.

use super::*;
use crate::message::{Body, ContentId};

const ORIGIN: &str = "http://cdn.test";
const SIZE: u64 = 1000;

fn catalog() -> (Catalog, String) {
    let mut c = Catalog::new();
    let sha = c.register(ContentId(5), SIZE).hashes.sha256.clone();
    (c, sha)
}

fn get(url: &str) -> Request {
    Request::new(Method::Get, url)
}

fn with(url: &str, name: &'static str, value: &str) -> Request {
    let mut r = get(url);
    r.headers.insert(name, value.to_string());
    r
}

fn answer(req: &Request, now_s: u64, faults: CdnFaults) -> Response {
    let (catalog, _) = catalog();
    handle(&UrlSigner::from_seed(1), now_s, req, &catalog, faults)
}

fn signed(expires: u64) -> String {
    let (_, sha) = catalog();
    UrlSigner::from_seed(1).sign(ORIGIN, &sha, "fw.bin", expires)
}

fn error_code(resp: &Response) -> String {
    let v: serde_json::Value = serde_json::from_slice(resp.body.as_bytes()).unwrap_or_default();
    v["error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_valid_url_serves_the_artifact_with_its_etag() {
    let (_, sha) = catalog();
    let url = signed(100);
    assert!(url.starts_with(&format!("{ORIGIN}/cdn/v1/a/{sha}/fw.bin?expires=100&sig=")));
    let resp = answer(&get(&url), 99, CdnFaults::default());
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.headers.get("etag"),
        Some(format!("\"{sha}\"").as_str())
    );
    assert_eq!(
        resp.body,
        Body::Synthetic {
            content: ContentId(5),
            offset: 0,
            len: SIZE
        }
    );
    let head = answer(&Request::new(Method::Head, url), 99, CdnFaults::default());
    assert_eq!((head.status, head.body.len()), (200, 0));
}

#[test]
fn range_if_range_and_if_none_match_follow_rfc_7233() {
    let (_, sha) = catalog();
    let url = signed(100);
    let resp = answer(&with(&url, "range", "bytes=400-"), 1, CdnFaults::default());
    assert_eq!(resp.status, 206);
    assert_eq!(
        resp.headers.get("content-range"),
        Some("bytes 400-999/1000")
    );
    assert_eq!(resp.body.len(), 600);
    let etag = format!("\"{sha}\"");
    let mut same = with(&url, "range", "bytes=400-");
    same.headers.insert("if-range", etag.clone());
    assert_eq!(answer(&same, 1, CdnFaults::default()).status, 206);
    let mut other = with(&url, "range", "bytes=400-");
    other.headers.insert("if-range", "\"other\"".to_string());
    assert_eq!(answer(&other, 1, CdnFaults::default()).status, 200);
    let cached = answer(&with(&url, "if-none-match", &etag), 1, CdnFaults::default());
    assert_eq!(cached.status, 304);
    let beyond = answer(&with(&url, "range", "bytes=5000-"), 1, CdnFaults::default());
    assert_eq!(beyond.status, 416);
    assert_eq!(beyond.headers.get("content-range"), Some("bytes */1000"));
}

#[test]
fn an_expired_url_is_gone_from_its_expiry_second_on() {
    let url = signed(100);
    let resp = answer(&get(&url), 100, CdnFaults::default());
    assert_eq!(resp.status, 410);
    assert_eq!(error_code(&resp), "url_expired");
    assert_eq!(answer(&get(&url), 5000, CdnFaults::default()).status, 410);
}

#[test]
fn tampered_or_unsigned_urls_are_forbidden() {
    let url = signed(100);
    let forged_expiry = url.replace("expires=100", "expires=999999");
    let (head, sig) = url.split_once("sig=").unwrap_or_default();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    let forged_sig = format!("{head}sig={flipped}{}", &sig[1..]);
    let unsigned = head.trim_end_matches('&').to_string();
    let renamed = url.replace("/fw.bin?", "/other.bin?");
    // Only the exact form signed: lower-case hex, one `expires`, one `sig`.
    let upper = format!("{head}sig={}", sig.to_ascii_uppercase());
    let later = format!("{url}&expires=999999");
    let earlier = url.replace("?expires=", "?expires=999999&expires=");
    let second_sig = format!("{url}&sig={sig}");
    let padded = format!("{url}00");
    for bad in [
        forged_expiry,
        forged_sig,
        unsigned,
        renamed,
        format!("{head}sig=zz"),
        upper,
        later,
        earlier,
        second_sig,
        padded,
    ] {
        let resp = answer(&get(&bad), 1, CdnFaults::default());
        assert_eq!(resp.status, 403, "{bad}");
        assert_eq!(error_code(&resp), "bad_signature");
    }
    let other_param = format!("{url}&x=1");
    assert_eq!(
        answer(&get(&other_param), 1, CdnFaults::default()).status,
        200
    );
}

#[test]
fn unknown_artifacts_and_other_methods() {
    let signer = UrlSigner::from_seed(1);
    let unknown = signer.sign(ORIGIN, &"ab".repeat(32), "fw.bin", 100);
    assert_eq!(answer(&get(&unknown), 1, CdnFaults::default()).status, 404);
    let post = Request::new(Method::Post, signed(100));
    assert_eq!(answer(&post, 1, CdnFaults::default()).status, 405);
}

#[test]
fn fault_modes_serve_what_must_be_refused() {
    let url = signed(100);
    let expiry_off = CdnFaults {
        ignore_expiry: true,
        ignore_signature: false,
    };
    assert_eq!(answer(&get(&url), 500, expiry_off).status, 200);
    // A forged expiry is still caught by the signature check.
    let forged = url.replace("expires=100", "expires=999999");
    assert_eq!(answer(&get(&forged), 500, expiry_off).status, 403);
    let signature_off = CdnFaults {
        ignore_expiry: false,
        ignore_signature: true,
    };
    assert_eq!(answer(&get(&forged), 500, signature_off).status, 200);
    assert_eq!(answer(&get(&url), 500, signature_off).status, 410);
}

#[test]
fn keys_come_from_the_seed() {
    let (_, sha) = catalog();
    let a = UrlSigner::from_seed(1).sign(ORIGIN, &sha, "f", 1);
    assert_eq!(a, UrlSigner::from_seed(1).sign(ORIGIN, &sha, "f", 1));
    assert_ne!(a, UrlSigner::from_seed(2).sign(ORIGIN, &sha, "f", 1));
    let path = UrlSigner::path(&sha, "f");
    let query = a.split_once('?').map(|(_, q)| q).unwrap_or_default();
    assert_eq!(UrlSigner::from_seed(1).check(&path, query, 0), Ok(()));
    assert_eq!(
        UrlSigner::from_seed(2).check(&path, query, 0),
        Err(Refusal::BadSignature)
    );
}

#[test]
fn the_cache_is_unsigned_and_404_once_evicted() {
    let (catalog, sha) = catalog();
    let url = format!("{ORIGIN}{}", cache_path(&sha, "fw.bin"));
    let resp = cache_handle(&get(&url), &catalog, |s| s == sha);
    assert_eq!(resp.status, 200);
    let resp = cache_handle(&with(&url, "range", "bytes=10-19"), &catalog, |_| true);
    assert_eq!((resp.status, resp.body.len()), (206, 10));
    let resp = cache_handle(&get(&url), &catalog, |_| false);
    assert_eq!(resp.status, 404);
    assert_eq!(error_code(&resp), "not_cached");
}
