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
        format!(
            "{}/{}/controller/v1/{}{tail}",
            self.req.origin(),
            self.raw_tenant,
            self.raw_cid
        )
    }
}
