//! One DDI request being answered: what the DDI router has
//! checked and every handler (deployment, artifacts) needs. It sits below the
//! router and the handlers so that they import it, not each other.

use crate::message::Request;
use crate::time::Time;

use super::fault::Active;

/// One request being answered, with what every handler needs.
pub(super) struct Call<'a> {
    pub(super) now: Time,
    pub(super) req: &'a Request,
    /// Controller id, percent-decoded.
    pub(super) cid: std::borrow::Cow<'a, str>,
    /// Tenant and controller id as they appear in the request path.
    pub(super) raw_tenant: &'a str,
    pub(super) raw_cid: &'a str,
    pub(super) faults: &'a Active,
    /// Content type of document answers (from `Accept`): HAL-JSON, JSON or
    /// CBOR; `respond::json_ok` encodes accordingly.
    pub(super) json_type: &'static str,
}

impl Call<'_> {
    /// `{origin}/{tenant}/controller/v1/{controllerId}{tail}`: an absolute HAL
    /// link built from the request, made only when an answer carries links.
    pub(super) fn link(&self, tail: std::fmt::Arguments<'_>) -> String {
        // `format!` by hand: every answer carries a few of these links.
        let origin = self.req.origin();
        let mut url =
            String::with_capacity(origin.len() + self.raw_tenant.len() + self.raw_cid.len() + 48);
        url.push_str(origin);
        url.push('/');
        url.push_str(self.raw_tenant);
        url.push_str("/controller/v1/");
        url.push_str(self.raw_cid);
        match tail.as_str() {
            Some(text) => url.push_str(text),
            None => {
                use std::fmt::Write as _;
                let _ = url.write_fmt(tail);
            }
        }
        url
    }
}
