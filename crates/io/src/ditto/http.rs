//! Twin commands against a real Ditto's HTTP API v2 (`PUT
//! /api/2/things/…`, Basic auth): the sans-IO mapping of
//! [`fleetsim_core::ditto::http`] over the shared [`Http`] client. One
//! command, one request; the answer comes back as the protocol response
//! (or error) envelope a frame client such as `EdgeClient` takes through
//! `handle_message`.

use fleetsim_core::ditto::http::{request_of, response_of};
use fleetsim_core::ditto::protocol::Envelope;
use fleetsim_core::message::NetError;
use fleetsim_core::protocol::Delivery;

use super::session::BasicAuth;
use crate::http_client::{Http, Injected};

/// Why a command got no protocol answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The signal has no HTTP form (not a twin command, or a merge).
    #[error("the signal has no HTTP API form")]
    Unsupported,
    /// The request got no complete answer.
    #[error("no answer: {0:?}")]
    Net(NetError),
}

/// A Ditto reached over its HTTP API.
pub struct DittoHttp {
    http: Http,
    base_url: String,
    auth: Option<BasicAuth>,
}

impl DittoHttp {
    /// Commands go to `base_url` (`http://host:8080`) through `http`, with `auth`.
    pub fn new(http: Http, base_url: impl Into<String>, auth: Option<BasicAuth>) -> DittoHttp {
        DittoHttp {
            http,
            base_url: base_url.into(),
            auth,
        }
    }

    /// Sends twin command `cmd`; its protocol answer.
    pub async fn command(&self, device: u64, cmd: &Envelope) -> Result<Envelope, CommandError> {
        let mut req = request_of(&self.base_url, cmd).ok_or(CommandError::Unsupported)?;
        if let Some(auth) = &self.auth {
            req.headers.insert("authorization", auth.header());
        }
        match self.http.execute(device, req, Injected::default()).await {
            Delivery::Complete(resp) => Ok(response_of(cmd, &resp)),
            Delivery::Broken(e, _) => Err(CommandError::Net(e)),
        }
    }
}
