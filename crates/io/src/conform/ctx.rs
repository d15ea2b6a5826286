//! What a conformance case works with: its devices' controller ids, DDI
//! requests that are recorded as evidence, campaigns created through the
//! management adapter, and checks that stop the case with a FAIL or SKIP.

use bytes::Bytes;
use serde_json::Value;

use super::Options;
use crate::http_client::{Http, Injected};
use crate::management::{
    AdapterError, FleetInfo, Manager, MgmtClient, Order, OrderKind, OrderWindow, Secret, Upload,
};
use fleetsim_core::artifact::{hash_bytes, Hashes};
use fleetsim_core::message::{Body, Headers, Method, Request};
use fleetsim_core::protocol::ddi::Delivery;
use fleetsim_core::time::Span;
use fleetsim_fleet::report::conform::{Evidence, Exchange};

/// Characters of a body the evidence keeps.
const BODY_EXCERPT: usize = 800;
/// Size of a case's artifact: big enough for ranges, small enough to be quick.
pub const ARTIFACT_SIZE: usize = 5 * 1024;
/// The polling interval campaigns are prepared with (hawkBit's default).
const POLLING: Span = Span::minutes(5);

/// Why a case stopped before its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The server did not do what the clause says.
    Fail(String),
    /// The case could not be run against this server.
    Skip(String),
}

/// What a case returns: `Ok(())` is a PASS.
pub type Verdict = Result<(), Stop>;

/// Fails the case with `msg` unless `cond` holds.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Verdict {
    if cond {
        Ok(())
    } else {
        Err(Stop::Fail(msg()))
    }
}

/// A DDI answer.
#[derive(Clone, Debug)]
pub struct Answer {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: Headers,
    /// Body bytes.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON, or a FAIL saying what it was instead.
    pub fn json(&self) -> Result<Value, Stop> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Stop::Fail(format!(
                "expected a JSON body ({e}), got {}",
                excerpt(&self.body)
            ))
        })
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// FAIL unless the status is `want`; `what` names the request.
    pub fn expect(&self, want: u16, what: &str) -> Verdict {
        ensure(self.status == want, || {
            format!("{what}: expected {want}, got {}", self.status)
        })
    }
}

/// A campaign a case created on the server.
#[derive(Clone, Debug)]
pub struct Campaign {
    /// Its index for [`Manager::cancel`].
    pub index: usize,
    /// The artifact's file name.
    pub filename: String,
    /// The artifact's bytes.
    pub bytes: Bytes,
    /// Their hashes.
    pub hashes: Hashes,
}

/// The context of one case.
pub struct Ctx<'r> {
    pub(super) opts: &'r Options,
    pub(super) http: &'r Http,
    pub(super) manager: Option<&'r mut Manager>,
    pub(super) campaigns: &'r mut usize,
    pub(super) otau_admin: Option<&'r MgmtClient>,
    pub(super) otau_next: &'r mut u64,
    pub(super) case_id: &'static str,
    pub(super) evidence: Vec<Evidence>,
}

impl Ctx<'_> {
    /// Controller id of the case's device `n` (unique per run and case).
    pub fn device(&self, n: usize) -> String {
        format!("{}-{}-{n}", self.opts.run_tag, self.case_id.to_lowercase())
    }

    /// The DDI base path of device `cid`: `/{tenant}/controller/v1/{cid}`.
    pub fn base(&self, cid: &str) -> String {
        format!("/{}/controller/v1/{cid}", self.opts.tenant)
    }

    /// Base URL of the server under test.
    pub fn target(&self) -> &str {
        &self.opts.target
    }

    /// True when the target is reached over HTTPS.
    pub fn target_is_https(&self) -> bool {
        self.opts.target.starts_with("https://")
    }

    /// Adds a sentence to the evidence.
    pub fn note(&mut self, text: impl Into<String>) {
        self.evidence.push(Evidence::Note { text: text.into() });
    }

    /// True when DDI requests carry a gateway token.
    pub fn authenticates(&self) -> bool {
        self.opts.gateway_token.is_some()
    }

    /// The gateway token the devices send, if any (for cases that must
    /// send it where it does not belong).
    pub fn gateway_key(&self) -> Option<String> {
        self.opts
            .gateway_token
            .as_ref()
            .map(|t| t.expose().to_string())
    }

    /// Sends a request to `path` (absolute path on the target, or a link's
    /// full URL) with `headers` (and, in a DDI case, the gateway token);
    /// records it.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&'static str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, Stop> {
        let mut req = Request::new(method, format!("{}{}", self.opts.target, path_of(path)));
        // The gateway token is DDI's; OTAU requests carry their own CIK.
        let ddi = self.case_id.starts_with("DDI-");
        if let Some(t) = self.opts.gateway_token.as_ref().filter(|_| ddi) {
            req.headers
                .insert("authorization", format!("GatewayToken {}", t.expose()));
        }
        for (k, v) in headers {
            req.headers.insert(k, v.to_string());
        }
        self.send_raw(req, body).await
    }

    /// Sends `req` exactly as given (no token added), with `body`; records it.
    pub async fn send_raw(
        &mut self,
        mut req: Request,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, Stop> {
        let mut x = Exchange {
            request: format!("{} {}", req.method, req.path_and_query()),
            request_headers: shown_headers(&req.headers),
            ..Exchange::default()
        };
        if let Some(b) = body {
            x.request_body = Some(excerpt(&b));
            req.body = Body::Bytes(b.into());
        }
        let delivery = self.http.execute(0, req, Injected::default()).await;
        let resp = match delivery {
            Delivery::Complete(r) => r,
            Delivery::Broken(e, _) => {
                x.response_body = Some(format!("no answer: {e}"));
                self.evidence.push(Evidence::Exchange(x));
                return Err(Stop::Fail(format!("no answer from the server ({e})")));
            }
        };
        let body = match &resp.body {
            Body::Bytes(b) => b.clone(),
            _ => Bytes::new(),
        };
        x.status = Some(resp.status);
        x.response_headers = shown_headers(&resp.headers);
        if !body.is_empty() {
            x.response_body = Some(excerpt(&body));
        }
        self.evidence.push(Evidence::Exchange(x));
        Ok(Answer {
            status: resp.status,
            headers: resp.headers,
            body,
        })
    }

    /// `GET` of `path` (see [`Ctx::send`]).
    pub async fn get(&mut self, path: &str) -> Result<Answer, Stop> {
        self.send(Method::Get, path, &[], None).await
    }

    /// Sends `body` as JSON with `method` to `path`.
    pub async fn send_json(
        &mut self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<Answer, Stop> {
        let bytes = body.to_string().into_bytes();
        let ct = [("content-type", "application/json")];
        self.send(method, path, &ct, Some(bytes)).await
    }

    /// The root document of `cid` (must be 200 JSON).
    pub async fn root(&mut self, cid: &str) -> Result<Value, Stop> {
        let path = self.base(cid);
        let a = self
            .send(
                Method::Get,
                &path,
                &[("accept", "application/hal+json")],
                None,
            )
            .await?;
        a.expect(200, "the root resource")?;
        a.json()
    }

    /// A SKIP naming what the case needs an adapter for, when there is none
    /// (before any request is made).
    pub fn require_manager(&mut self, why: &str) -> Verdict {
        self.manager(why).map(|_| ())
    }

    /// The management adapter, or a SKIP naming what the case needed it for.
    fn manager(&mut self, why: &str) -> Result<&mut Manager, Stop> {
        match self.manager.as_deref_mut() {
            Some(m) => Ok(m),
            None => Err(Stop::Skip(format!(
                "no management adapter (--manage none): the case needs {why}"
            ))),
        }
    }

    /// Makes the server know devices `cids` (targets created through the
    /// adapter, the tenant told the gateway token and hawkBit's default
    /// polling interval). Without an adapter, devices register by polling.
    pub async fn register(&mut self, cids: &[String]) -> Verdict {
        self.register_with_tokens(cids, vec![None; cids.len()])
            .await
    }

    /// [`Ctx::register`], the targets created with these security tokens
    /// (the adapter then enables TargetToken authentication).
    pub async fn register_with_tokens(
        &mut self,
        cids: &[String],
        target_tokens: Vec<Option<Secret>>,
    ) -> Verdict {
        let fleet = FleetInfo {
            tenant: self.opts.tenant.clone(),
            controller_ids: cids.to_vec(),
            polling: POLLING,
            gateway_token: self.opts.gateway_token.clone(),
            target_tokens,
        };
        if let Some(m) = self.manager.as_deref_mut() {
            m.prepare(&fleet).await.map_err(setup_failed)?;
            self.note(format!(
                "registered {} through the management API",
                cids.join(", ")
            ));
        }
        for cid in cids {
            self.root(cid).await?;
        }
        Ok(())
    }

    /// Creates a campaign of one fresh artifact, as `kind`, for `cids`
    /// through the management adapter.
    pub async fn assign(&mut self, cids: &[String], kind: OrderKind) -> Result<Campaign, Stop> {
        self.assign_in_window(cids, kind, None).await
    }

    /// [`Ctx::assign`] with a maintenance window.
    pub async fn assign_in_window(
        &mut self,
        cids: &[String],
        kind: OrderKind,
        window: Option<OrderWindow>,
    ) -> Result<Campaign, Stop> {
        self.assign_full(cids, (kind, window), None).await
    }

    /// [`Ctx::assign_in_window`] with hawkBit's `confirmationRequired`.
    pub async fn assign_full(
        &mut self,
        cids: &[String],
        (kind, window): (OrderKind, Option<OrderWindow>),
        confirmation_required: Option<bool>,
    ) -> Result<Campaign, Stop> {
        let index = *self.campaigns;
        let filename = format!("fw-{}.bin", self.case_id.to_lowercase());
        let bytes = Bytes::from(firmware(&format!("{}-{index}", self.case_id)));
        let order = Order {
            index,
            name: format!("conform-{}-{index}", self.opts.run_tag),
            version: format!("1.0.{index}"),
            artifacts: vec![Upload {
                filename: filename.clone(),
                bytes: bytes.clone(),
            }],
            kind,
            weight: None,
            window,
            targets: cids.to_vec(),
            confirmation_required,
        };
        self.manager("a campaign")?
            .start(&order)
            .await
            .map_err(setup_failed)?;
        *self.campaigns += 1;
        self.note(format!(
            "campaign {} ({kind:?}, {filename}, {} bytes) assigned to {} through the management API",
            order.name,
            bytes.len(),
            cids.join(", ")
        ));
        let hashes = hash_bytes(&bytes);
        Ok(Campaign {
            index,
            filename,
            bytes,
            hashes,
        })
    }

    /// `fleetsim serve`'s OTAU admin routes (the application's side), or a
    /// SKIP saying the case needs them.
    pub fn otau_admin(&self) -> Result<&MgmtClient, Stop> {
        self.otau_admin.ok_or_else(|| {
            Stop::Skip(
                "no OTAU admin (--manage fleetsim): the case needs a device token, a manifest or content written by the application".into(),
            )
        })
    }

    /// A fresh OTAU device number for this case.
    pub fn otau_device(&mut self) -> u64 {
        let n = *self.otau_next;
        *self.otau_next += 1;
        n
    }

    /// Turns the tenant's confirmation flow on or off through the adapter.
    pub async fn confirmation_flow(&mut self, enabled: bool) -> Verdict {
        self.manager("the confirmation flow")?
            .confirmation_flow(enabled)
            .await
            .map_err(setup_failed)?;
        let state = if enabled { "on" } else { "off" };
        self.note(format!(
            "the tenant's confirmation flow turned {state} through the management API"
        ));
        Ok(())
    }

    /// Cancels campaign `c` through the management adapter.
    pub async fn cancel(&mut self, c: &Campaign) -> Verdict {
        self.manager("a cancel")?
            .cancel(c.index)
            .await
            .map_err(setup_failed)?;
        self.note(format!(
            "campaign {} canceled through the management API",
            c.index
        ));
        Ok(())
    }
}

/// An adapter's refusal is a SKIP (the server cannot be prepared so);
/// anything else a FAIL of the setup.
fn setup_failed(e: AdapterError) -> Stop {
    match e {
        AdapterError::Unsupported(why) => {
            Stop::Skip(format!("the management adapter cannot: {why}"))
        }
        other => Stop::Fail(format!("management setup failed: {other}")),
    }
}

/// Headers as the evidence shows them: authorization as its scheme only.
fn shown_headers(h: &Headers) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| {
            let v = if k.eq_ignore_ascii_case("authorization") {
                let scheme = v.split(' ').next().unwrap_or("");
                format!("{scheme} <redacted>")
            } else {
                v.to_string()
            };
            (k.to_string(), v)
        })
        .collect()
}

/// A body as the evidence shows it: text cut to 800 characters, binary as its length.
pub fn excerpt(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(t) if !t.chars().any(|c| c.is_control() && !c.is_whitespace()) => {
            let mut s: String = t.chars().take(BODY_EXCERPT).collect();
            if s.len() < t.len() {
                s.push_str(&format!("… ({} bytes)", b.len()));
            }
            s
        }
        _ => format!("<{} bytes of binary>", b.len()),
    }
}

/// The path and query of `href` (a link's full URL, or a path already).
pub fn path_of(href: &str) -> String {
    let Some((_, rest)) = href.split_once("://") else {
        return href.to_string();
    };
    rest.find('/')
        .map_or("/".to_string(), |i| rest[i..].to_string())
}

/// [`ARTIFACT_SIZE`] bytes that differ with `seed`.
pub fn firmware(seed: &str) -> Vec<u8> {
    let seed = seed
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31) ^ u32::from(b));
    (0..ARTIFACT_SIZE as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}
