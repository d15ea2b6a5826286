//! How a fleet group's DDI devices authenticate (scenario `fleet[].auth`,
//! ddi.md §2): the fleet-wide gateway token, nothing, or a target token per
//! device — and the embedded server's targets created with those tokens, as
//! an operator provisions them.

use crate::scenario::tokens::generated_token;
use crate::scenario::{DeviceAuth, FleetGroup, Protocol, Scenario};
use crate::setup::Group;
use fleetsim_core::server::Tenants;

/// How a group's DDI devices authenticate (scenario `fleet[].auth`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupAuth {
    /// The fleet-wide header: the gateway token, if the run has one.
    Fleet,
    /// No `Authorization` header.
    None,
    /// Per device, in group order: its `TargetToken <t>` header value.
    TargetTokens(Vec<String>),
}

impl Group {
    /// The `Authorization` header device `number` sends, given the run's
    /// fleet-wide one.
    pub fn authorization<'a>(&'a self, number: u64, fleet: Option<&'a str>) -> Option<&'a str> {
        match &self.auth {
            GroupAuth::Fleet => fleet,
            GroupAuth::None => None,
            GroupAuth::TargetTokens(headers) => number
                .checked_sub(self.first)
                .and_then(|i| headers.get(usize::try_from(i).ok()?))
                .map(String::as_str),
        }
    }

    /// Device `number`'s target token, when the group uses target tokens.
    pub fn target_token(&self, number: u64) -> Option<&str> {
        match self.auth {
            GroupAuth::TargetTokens(_) => self
                .authorization(number, None)
                .and_then(|h| h.strip_prefix("TargetToken ")),
            _ => None,
        }
    }
}

/// Creates the targets of target-token groups with their tokens, as an
/// operator provisions them, and turns TargetToken auth on (ddi.md §2).
pub(crate) fn register_token_targets(server: &mut Tenants, groups: &[Group]) {
    let default = server.default_tenant().config().tenant.clone();
    for g in groups.iter().filter(|g| g.protocol == Protocol::Ddi) {
        let tenant = g.tenant_or(&default);
        for n in g.first..g.first + g.count {
            if let Some(token) = g.target_token(n) {
                let id = g.controller_id(n);
                server.register_target(tenant, &id, n, Some(token.to_string()));
            }
        }
    }
}

/// The `Authorization` values of group `g`, whose first device is `first`.
pub(crate) fn group_auth(s: &Scenario, g: &FleetGroup, first: u64) -> GroupAuth {
    let numbers = first..first + u64::from(g.count);
    let header = |t: &str| format!("TargetToken {t}");
    match &g.auth {
        DeviceAuth::Gateway => GroupAuth::Fleet,
        DeviceAuth::None => GroupAuth::None,
        DeviceAuth::TargetToken => GroupAuth::TargetTokens(
            numbers
                .map(|n| header(&generated_token(s.seed, n)))
                .collect(),
        ),
        DeviceAuth::TargetTokenFile(file) => {
            let prefix = g.prefix();
            GroupAuth::TargetTokens(
                numbers
                    .map(|n| {
                        let id = format!("{prefix}{n:05}");
                        // The loader checked that every device has a line.
                        file.tokens.get(&id).map_or_else(String::new, |t| header(t))
                    })
                    .collect(),
            )
        }
    }
}
