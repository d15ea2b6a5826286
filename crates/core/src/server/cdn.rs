//! The update layer's artifact CDN with signed, expiring URLs, and the
//! gateway's unsigned artifact cache (`docs/guide/cpg.md`, "Download URLs") —
//! sans-IO: `now` comes in as seconds, the key from the run's seed.
//!
//! A CDN URL is `{origin}/cdn/v1/a/{sha256}/{name}?expires={t}&sig={hex}`,
//! `sig` the HMAC-SHA256 of `"{path}\n{expires}"`. The signature is checked
//! before the expiry, so a URL whose `expires` was pushed forward is refused
//! as tampered (`403`), one that ran out as expired (`410`). Only the exact
//! form signed is accepted: `sig` in lower-case hex, one `expires` and one
//! `sig` (see [`UrlSigner::check`]). Valid URLs are
//! served like artifact downloads: Range (RFC 7233), ETag `"<sha256>"`,
//! `If-None-Match`, `If-Range`. [`CdnFaults`] switch the two checks off on
//! purpose (URL-REFUSE).
//!
//! The cache (`/cache/v1/{sha256}/{name}`, strategy `long_lived_cache`)
//! serves the same way without a signature, only under the name the
//! artifact was cached as, and `404` once evicted.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::ranges::{serve_file, FileRef, Rules};
use crate::artifact::Catalog;
use crate::message::{Method, Request, Response};

/// Path prefix of signed CDN URLs.
pub const CDN_PREFIX: &str = "/cdn/v1/a/";
/// Path prefix of the gateway's artifact cache.
pub const CACHE_PREFIX: &str = "/cache/v1/";

/// Why the CDN refuses a URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Missing, garbled or wrong signature, or an altered `expires`.
    BadSignature,
    /// `now >= expires`.
    Expired,
}

impl Refusal {
    /// The HTTP status of the refusal.
    pub fn status(self) -> u16 {
        match self {
            Refusal::BadSignature => 403,
            Refusal::Expired => 410,
        }
    }

    /// Stable error code in the answer's body.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::BadSignature => "bad_signature",
            Refusal::Expired => "url_expired",
        }
    }
}

/// Deliberate bugs of the CDN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CdnFaults {
    /// Serve URLs past their expiry.
    pub ignore_expiry: bool,
    /// Serve URLs with a missing or wrong signature.
    pub ignore_signature: bool,
}

/// Signs and checks CDN URLs with one run's key.
#[derive(Clone)]
pub struct UrlSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner { key: <hidden> }")
    }
}

impl UrlSigner {
    /// A signer with `key`.
    pub fn new(key: [u8; 32]) -> UrlSigner {
        UrlSigner { key }
    }

    /// A signer whose key is derived from a run's seed (same seed, same URLs).
    pub fn from_seed(seed: u64) -> UrlSigner {
        let mut h = Sha256::new();
        h.update(b"fleetsim cdn url key\0");
        h.update(seed.to_le_bytes());
        UrlSigner::new(h.finalize().into())
    }

    /// The path of the CDN URL of artifact `sha256` named `name`.
    pub fn path(sha256: &str, name: &str) -> String {
        format!("{CDN_PREFIX}{sha256}/{name}")
    }

    fn mac(&self, path: &str, expires: &str) -> Hmac<Sha256> {
        // Any key length is valid for HMAC: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(path.as_bytes());
        mac.update(b"\n");
        mac.update(expires.as_bytes());
        mac
    }

    /// The full URL of artifact `sha256`/`name` under `origin`
    /// (`scheme://host[:port]`), valid until `expires_s`.
    pub fn sign(&self, origin: &str, sha256: &str, name: &str, expires_s: u64) -> String {
        let path = UrlSigner::path(sha256, name);
        let expires = expires_s.to_string();
        let sig = hex::encode(self.mac(&path, &expires).finalize().into_bytes());
        format!("{origin}{path}?expires={expires}&sig={sig}")
    }

    /// Checks the signature of `path` + `query`, then its expiry at `now_s`.
    ///
    /// Only a URL in the exact form [`UrlSigner::sign`] made is valid: one
    /// `expires` and one `sig` (a second one of either is refused, not
    /// ignored, so no proxy or cache can read another value than the one
    /// checked here), `sig` as 64 lower-case hex digits. The MAC is then
    /// compared in constant time ([`Mac::verify_slice`]). Other parameters
    /// are ignored.
    pub fn check(&self, path: &str, query: &str, now_s: u64) -> Result<(), Refusal> {
        let param = |name: &str| -> Result<&str, Refusal> {
            let mut values = query
                .split('&')
                .filter_map(|p| p.strip_prefix(name)?.strip_prefix('='));
            match (values.next(), values.next()) {
                (Some(v), None) => Ok(v),
                _ => Err(Refusal::BadSignature),
            }
        };
        let (expires, sig) = (param("expires")?, param("sig")?);
        let canonical =
            sig.len() == 64 && sig.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !canonical {
            return Err(Refusal::BadSignature);
        }
        let sig = hex::decode(sig).map_err(|_| Refusal::BadSignature)?;
        self.mac(path, expires)
            .verify_slice(&sig)
            .map_err(|_| Refusal::BadSignature)?;
        let expires: u64 = expires.parse().map_err(|_| Refusal::BadSignature)?;
        if now_s >= expires {
            return Err(Refusal::Expired);
        }
        Ok(())
    }
}

/// The cache path of artifact `sha256` named `name`.
pub fn cache_path(sha256: &str, name: &str) -> String {
    format!("{CACHE_PREFIX}{sha256}/{name}")
}

/// A JSON error answer `{"error": code, "message": …}`.
pub(super) fn json_error(status: u16, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": code, "message": message }).to_string();
    Response::json(status, "application/json", body.into_bytes())
}

/// Answers a CDN request at `now_s` (seconds on the signer's clock).
pub fn handle(
    signer: &UrlSigner,
    now_s: u64,
    req: &Request,
    catalog: &Catalog,
    faults: CdnFaults,
) -> Response {
    let path = req.path();
    let query = req.path_and_query().split_once('?').map_or("", |(_, q)| q);
    let Some(rest) = path.strip_prefix(CDN_PREFIX) else {
        return Response::status(404);
    };
    if let Err(refusal) = signer.check(path, query, now_s) {
        let waived = match refusal {
            Refusal::BadSignature => faults.ignore_signature,
            Refusal::Expired => faults.ignore_expiry,
        };
        // A forged `expires` fails the signature: with only the expiry
        // check switched off it stays refused, as a real CDN would.
        if !waived {
            let message = match refusal {
                Refusal::BadSignature => "the URL's signature does not match",
                Refusal::Expired => "the URL has expired",
            };
            return json_error(refusal.status(), refusal.code(), message);
        }
    }
    serve_artifact(req, rest, catalog)
}

/// Answers a request to the gateway's artifact cache; `present(sha256)`
/// says whether the artifact is (still) in it.
pub fn cache_handle(req: &Request, catalog: &Catalog, present: impl Fn(&str) -> bool) -> Response {
    let Some(rest) = req.path().strip_prefix(CACHE_PREFIX) else {
        return Response::status(404);
    };
    match rest.split_once('/') {
        Some((sha256, _)) if present(sha256) => serve_artifact(req, rest, catalog),
        _ => json_error(404, "not_cached", "the artifact is not in the cache"),
    }
}

/// Serves `{sha256}/{name}` (the path after the prefix) from `catalog`.
fn serve_artifact(req: &Request, rest: &str, catalog: &Catalog) -> Response {
    let head = match req.method {
        Method::Get => false,
        Method::Head => true,
        _ => return Response::status(405),
    };
    let Some((sha256, name)) = rest.split_once('/') else {
        return json_error(404, "not_found", "no such artifact");
    };
    let Some((content, info)) = catalog.by_sha256(sha256).filter(|_| !name.is_empty()) else {
        return json_error(404, "not_found", "no such artifact");
    };
    let file = FileRef {
        filename: name,
        content,
        size: info.size,
        uploaded: catalog.bytes(content),
        last_modified: None,
    };
    let etag = format!("\"{}\"", info.hashes.sha256);
    serve_file(&req.headers, Rules::Rfc, false, file, &etag, head)
}

#[cfg(test)]
#[path = "cdn_tests.rs"]
mod tests;
