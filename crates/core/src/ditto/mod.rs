//! Eclipse Ditto, as far as fleetsim's gateway twins need it (seed 002, the
//! Gateway Software Protocol Adapter; digest: `shared/reference/ditto.md`).
//!
//! - [`http`]: a twin command as a request of Ditto's HTTP API v2, and the
//!   answer as the protocol response (ditto.md §2), for a real Ditto.
//! - [`id`]: the seed's ID encoding (`%XX` for `/ ? # * , space % "` and the
//!   control characters) and Ditto's rules for thing IDs, feature IDs and
//!   property keys (ditto.md §3).
//! - [`protocol`]: the Ditto Protocol envelope (`topic`, `headers`, `path`,
//!   `value`, `status`, …): parsing, serializing, and building the response,
//!   event and error envelopes of a command (ditto.md §1).
//!
//! The twin service that applies these envelopes lives in
//! [`crate::server::twin`]; the gateway side that sends them in
//! `crate::protocol::edge`. Everything here is pure: no IO, no clock.

pub mod http;
pub mod id;
pub mod protocol;
