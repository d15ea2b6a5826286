//! A small JSON-over-HTTP client for management APIs, on the real driver's
//! [`Http`] (same hyper + rustls stack, same CA handling).
//!
//! It adds what device traffic does not need: a base URL, Basic or Bearer
//! authorization, JSON bodies, multipart uploads, and errors that say which
//! operation failed and what the server answered — with every secret it
//! knows cut out of that answer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{AdapterError, ManagerConfig, Secret};
use crate::http_client::{Http, Injected};
use fleetsim_core::message::{Body, Method, NetError, Request, Response};
use fleetsim_core::protocol::ddi::Delivery;
use fleetsim_fleet::scenario::ConnectionModel;

/// Uploads of large artifacts to a slow server take a while.
const MGMT_TIMEOUT: Duration = Duration::from_secs(120);
/// How much of an unexpected answer an error shows.
const EXCERPT: usize = 300;
/// Requests in flight at once for per-target reads and writes.
pub const PARALLEL: usize = 16;

/// A management API session. Clones share the connection pool.
#[derive(Clone)]
pub struct MgmtClient {
    http: Arc<Http>,
    base: String,
    user: String,
    password: Secret,
    bearer: Option<Secret>,
    /// Other secrets the server might echo back (e.g. a gateway token sent in a config).
    secrets: Vec<Secret>,
}

impl MgmtClient {
    /// A client for `cfg` (no request is made yet).
    pub fn new(cfg: &ManagerConfig) -> Result<MgmtClient, AdapterError> {
        let ca = cfg.ca_pem.as_ref().map(|(p, b)| (p.as_str(), b.as_slice()));
        let http = Arc::new(Http::new(ConnectionModel::Pool, false, ca, MGMT_TIMEOUT)?);
        Ok(MgmtClient {
            http,
            base: cfg.url.trim_end_matches('/').to_string(),
            user: cfg.user.clone(),
            password: cfg.password.clone(),
            bearer: None,
            secrets: Vec::new(),
        })
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The password, for a login form.
    pub fn password(&self) -> &Secret {
        &self.password
    }

    /// From now on, authorize with `Bearer <token>` instead of Basic.
    pub fn set_bearer(&mut self, token: Secret) {
        self.bearer = Some(token);
    }

    /// Also cut `secret` out of every error text from now on (for secrets
    /// sent in a body, which a server might echo).
    pub fn add_secret(&mut self, secret: &Secret) {
        if !self.secrets.contains(secret) {
            self.secrets.push(secret.clone());
        }
    }

    fn authorization(&self) -> String {
        match &self.bearer {
            Some(t) => format!("Bearer {}", t.expose()),
            None => {
                use base64_lite::encode;
                let pair = format!("{}:{}", self.user, self.password.expose());
                format!("Basic {}", encode(pair.as_bytes()))
            }
        }
    }

    /// Sends one request to `path` (relative to the base URL). Any status is
    /// a success here; only a missing answer is an error.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<String>,
        body: Vec<u8>,
    ) -> Result<Response, AdapterError> {
        let mut req = Request::new(method, format!("{}{}", self.base, path));
        req.headers.insert("accept", "application/json");
        req.headers.insert("authorization", self.authorization());
        if let Some(ct) = content_type {
            req.headers.insert("content-type", ct);
        }
        if !body.is_empty() {
            req.body = Body::Bytes(body.into());
        }
        match self.http.execute(0, req, Injected::default()).await {
            Delivery::Complete(r) => Ok(r),
            Delivery::Broken(e, _) => {
                let url = format!("{}{}", self.base, path);
                let what = match e {
                    NetError::Unreachable => self.http.unreachable_why(&url).await,
                    NetError::Timeout => "no answer in time".into(),
                    other => other.to_string(),
                };
                Err(AdapterError::Unreachable { url, what })
            }
        }
    }

    /// Sends `body` as JSON (or nothing) and checks the status is one of `ok`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        ok: &[u16],
    ) -> Result<Response, AdapterError> {
        let (ct, bytes) = match body {
            Some(b) => (
                Some("application/json".to_string()),
                serde_json::to_vec(b).map_err(|e| AdapterError::BadAnswer {
                    op: op(method, path),
                    what: format!("cannot encode the request: {e}"),
                })?,
            ),
            None => (None, Vec::new()),
        };
        let resp = self.send(method, path, ct, bytes).await?;
        self.check(method, path, resp, ok)
    }

    /// Like [`MgmtClient::call`], and parses the answer as `T`.
    pub async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        ok: &[u16],
    ) -> Result<T, AdapterError> {
        let resp = self.call(method, path, body, ok).await?;
        parse(method, path, &resp)
    }

    /// Uploads `bytes` as a `multipart/form-data` file part named `field`,
    /// with extra text `fields`, and checks the status.
    pub async fn upload(
        &self,
        path: &str,
        field: &str,
        filename: &str,
        bytes: &[u8],
        fields: &[(&str, &str)],
        ok: &[u16],
    ) -> Result<Response, AdapterError> {
        let (ct, body) = multipart(field, filename, bytes, fields);
        let resp = self.send(Method::Post, path, Some(ct), body).await?;
        self.check(Method::Post, path, resp, ok)
    }

    /// Runs `f` on every item, [`PARALLEL`] at a time, each with a clone of
    /// this client; results in item order. The first error stops the rest.
    pub async fn each<I, T, F, Fut>(&self, items: Vec<I>, f: F) -> Result<Vec<T>, AdapterError>
    where
        I: Send + 'static,
        T: Send + 'static,
        F: Fn(MgmtClient, I) -> Fut,
        Fut: Future<Output = Result<T, AdapterError>> + Send + 'static,
    {
        let mut out: Vec<Option<T>> = items.iter().map(|_| None).collect();
        let mut set = tokio::task::JoinSet::new();
        let mut items = items.into_iter().enumerate();
        loop {
            while set.len() < PARALLEL {
                let Some((i, item)) = items.next() else { break };
                let fut = f(self.clone(), item);
                set.spawn(async move { (i, fut.await) });
            }
            let Some(joined) = set.join_next().await else {
                break;
            };
            let (i, result) = joined.map_err(|e| AdapterError::BadAnswer {
                op: "management request task".into(),
                what: e.to_string(),
            })?;
            out[i] = Some(result?);
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// `Ok(resp)` if its status is in `ok`; otherwise the matching error.
    pub fn check(
        &self,
        method: Method,
        path: &str,
        resp: Response,
        ok: &[u16],
    ) -> Result<Response, AdapterError> {
        if ok.contains(&resp.status) {
            return Ok(resp);
        }
        if resp.status == 401 || resp.status == 403 {
            return Err(AdapterError::Refused {
                user: self.user.clone(),
                status: resp.status,
            });
        }
        Err(AdapterError::Status {
            op: op(method, path),
            status: resp.status,
            body: self.excerpt(resp.body.as_bytes()),
        })
    }

    /// The start of `body` as text, with every secret this client knows removed.
    pub fn excerpt(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        let mut text: String = text.chars().take(EXCERPT).collect();
        let known = [Some(&self.password), self.bearer.as_ref()];
        for s in known.into_iter().flatten().chain(&self.secrets) {
            if !s.expose().is_empty() {
                text = text.replace(s.expose(), "<redacted>");
            }
        }
        text
    }
}

/// `METHOD /path` without the query (which may carry ids, never secrets).
pub fn op(method: Method, path: &str) -> String {
    format!(
        "{} {}",
        method.as_str(),
        path.split('?').next().unwrap_or(path)
    )
}

/// Parses a JSON answer.
pub fn parse<T: DeserializeOwned>(
    method: Method,
    path: &str,
    resp: &Response,
) -> Result<T, AdapterError> {
    serde_json::from_slice(resp.body.as_bytes()).map_err(|e| AdapterError::BadAnswer {
        op: op(method, path),
        what: e.to_string(),
    })
}

/// Encodes one file part and text fields as `multipart/form-data`; returns
/// the content type (with its boundary) and the body.
pub fn multipart(
    field: &str,
    filename: &str,
    bytes: &[u8],
    fields: &[(&str, &str)],
) -> (String, Vec<u8>) {
    // A boundary that cannot occur in the parts: derived from their hash.
    let seed = xxhash_rust::xxh3::xxh3_64(bytes);
    let boundary = format!("fleetsim-{seed:016x}-boundary");
    let mut body = Vec::with_capacity(bytes.len() + 512);
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Standard base64 (RFC 4648) for Basic authorization; a dozen lines do not
/// justify a dependency.
pub(crate) mod base64_lite {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(input: &[u8]) -> String {
        let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
        for chunk in input.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[cfg(test)]
    #[test]
    fn encodes_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("admin:admin", "YWRtaW46YWRtaW4="),
        ] {
            assert_eq!(encode(i.as_bytes()), o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_has_fields_file_and_closing_boundary() {
        let (ct, body) = multipart("file", "fw.bin", b"\x00\x01abc", &[("k", "v")]);
        let boundary = ct.split("boundary=").nth(1).unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains("name=\"k\"\r\n\r\nv\r\n"));
        assert!(text.contains("name=\"file\"; filename=\"fw.bin\""));
        assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")));
    }

    #[test]
    fn excerpts_never_show_the_password() {
        let cfg = ManagerConfig {
            api: super::super::ServerApi::Hawkbit,
            url: "http://127.0.0.1:1".into(),
            user: "admin".into(),
            password: Secret::new("s3cr3t-pw"),
            ca_pem: None,
        };
        let c = MgmtClient::new(&cfg).unwrap();
        assert_eq!(
            c.excerpt(b"bad password s3cr3t-pw!"),
            "bad password <redacted>!"
        );
        assert_eq!(format!("{:?}", cfg.password), "<redacted>");
    }
}
