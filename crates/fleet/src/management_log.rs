//! What the management side of a run did, as the report shows it.

use std::collections::BTreeMap;

use serde::Serialize;

/// What the management side did during a run, for the report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ManagementLog {
    /// `hawkbit` or `goosebit`.
    pub api: &'static str,
    /// Per scenario campaign.
    pub campaigns: Vec<CampaignLog>,
    /// Failed operations, `at <time>: <what>`.
    pub errors: Vec<String>,
}

/// One campaign as the management side carried it out.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CampaignLog {
    /// Campaign name.
    pub name: String,
    /// Devices it selects.
    pub targets: u64,
    /// Scenario time (ms) at which it was created on the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<u64>,
    /// Scenario time (ms) at which it was canceled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canceled_at_ms: Option<u64>,
    /// After the run: devices per state the server recorded.
    pub recorded: BTreeMap<&'static str, u64>,
}
