//! What the Management API knows of a target beyond the DDI core's record
//! (name, description), and the target fields a FIQL `q=` filter may name:
//! the target listing filters with them and rollouts select their devices
//! with them, so both import this module rather than each other.

use crate::server::state::Target;
use crate::server::Server;

use super::fiql;

/// Fields a target `q=` filter may name.
pub(super) const FIELDS: &[&str] = &[
    "id",
    "controllerId",
    "name",
    "description",
    "updateStatus",
    "group",
];
/// What the Management API knows of a target beyond the core's record.
#[derive(Debug, Default)]
pub(in crate::server) struct Meta {
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
    /// hawkBit `Target.group` (`pollingTime` overrides may select on it).
    pub(super) group: Option<String>,
}

/// hawkBit `updateStatus`, as the core stores it (set where hawkBit sets it,
/// `server/assignment.rs`).
pub(super) fn update_status(t: &Target) -> &'static str {
    t.update_status.as_str()
}

pub(super) fn field(server: &Server, cid: &str, t: &Target, name: &str) -> Option<String> {
    let meta = server.mgmt.target_meta.get(&t.index);
    Some(match name {
        "id" | "controllerId" => cid.to_string(),
        "name" => meta
            .and_then(|m| m.name.clone())
            .unwrap_or_else(|| cid.to_string()),
        "description" => meta.and_then(|m| m.description.clone())?,
        "group" => meta.and_then(|m| m.group.clone())?,
        _ => update_status(t).to_string(),
    })
}

/// Controller ids a filter selects, in (index, id) order (rollouts).
pub(super) fn select(server: &Server, filter: &fiql::Filter) -> Vec<String> {
    server
        .targets
        .sorted()
        .into_iter()
        .filter(|(cid, t)| filter.matches(&|name| field(server, cid, t, name)))
        .map(|(cid, _)| cid.to_string())
        .collect()
}
