//! Turns a scenario into what the engine runs: device groups with their link
//! models and client settings, the embedded server with its distributions and
//! faults, and the campaign plan.

use crate::message::ContentId;
use crate::net::Link;
use crate::protocol::ddi::ClientSettings;
use crate::scenario::{CampaignType, DeviceKind, FaultKind, Scenario, Selector};
use crate::server::{
    ActionType, ArtifactSpec, DistributionId, DistributionSpec, FaultWindow, MaintenanceSchedule,
    ModuleSpec, Server, ServerConfig,
};
use crate::time::{Span, Time};

/// Origin the virtual devices use for the embedded server.
pub const EMBEDDED_ORIGIN: &str = "http://embedded.fleetsim";

/// A fleet group ready to run.
pub struct Group {
    /// Device kind.
    pub kind: DeviceKind,
    /// Controller-id prefix.
    pub prefix: String,
    /// Number of the group's first device.
    pub first: u64,
    /// Devices in the group.
    pub count: u64,
    /// Link model.
    pub link: Link,
    /// Client behaviour.
    pub settings: ClientSettings,
}

/// A campaign ready to run.
pub struct CampaignPlan {
    /// Name.
    pub name: String,
    /// Start.
    pub at: Time,
    /// Distribution on the embedded server.
    pub dist: DistributionId,
    /// Action type.
    pub kind: ActionType,
    /// Weight.
    pub weight: Option<u32>,
    /// Maintenance window.
    pub window: Option<MaintenanceSchedule>,
    /// Cancel time.
    pub cancel_at: Option<Time>,
    /// Device selection.
    pub selector: Selector,
}

/// Everything derived from a scenario.
pub struct Setup {
    /// Groups in fleet order; device numbers run on across groups.
    pub groups: Vec<Group>,
    /// Campaigns in scenario order.
    pub campaigns: Vec<CampaignPlan>,
    /// The embedded server, with distributions and faults loaded.
    pub server: Server,
    /// Time windows in which the server resets connections instead of answering.
    pub resets: Vec<(Time, Time)>,
    /// `Authorization` header devices send.
    pub authorization: Option<String>,
}

impl Setup {
    /// Builds the run setup for `s`.
    pub fn new(s: &Scenario) -> Setup {
        let end = Time(s.duration.0.as_millis());
        let mut server = Server::new(ServerConfig {
            tenant: s.server.tenant.clone(),
            gateway_token: s.server.gateway_token.clone(),
            polling_sleep: s.server.polling.0,
            polling_jitter: s.server.polling_jitter.0,
            max_status_entries_per_action: s.server.max_status_entries_per_action,
            ..ServerConfig::default()
        });
        let mut first = 0;
        let groups = s
            .fleet
            .iter()
            .map(|g| {
                let group = Group {
                    kind: g.kind,
                    prefix: g
                        .id_prefix
                        .clone()
                        .unwrap_or_else(|| format!("{}-", g.kind.as_str().replace('_', "-"))),
                    first,
                    count: u64::from(g.count),
                    link: Link::new(&g.connectivity),
                    settings: ClientSettings {
                        install_time: g.install_time.0,
                        install_failure: g.install_failure.0,
                        poll_every: g.misbehave.as_ref().map(|m| m.poll_every.0),
                        default_poll: s.server.polling.0,
                        ..ClientSettings::default()
                    },
                };
                first += u64::from(g.count);
                group
            })
            .collect();
        let campaigns = s
            .campaigns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let at = Time(c.at.0.as_millis());
                let artifacts = c
                    .artifacts
                    .iter()
                    .enumerate()
                    .map(|(j, a)| ArtifactSpec {
                        filename: a.name.clone(),
                        content: artifact_content(i, j),
                        size: a.size.0,
                    })
                    .collect();
                let name = c
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("campaign-{}", i + 1));
                let dist = server.add_distribution(DistributionSpec {
                    name: name.clone(),
                    version: c.version.clone(),
                    modules: vec![ModuleSpec {
                        part: "os".into(),
                        name: format!("{name}-firmware"),
                        version: c.version.clone(),
                        artifacts,
                    }],
                });
                let kind = match c.kind {
                    CampaignType::Soft => ActionType::Soft,
                    CampaignType::Forced => ActionType::Forced,
                    CampaignType::Timeforced => ActionType::TimeForced {
                        force_at: at + c.force_after.map_or(Span::ZERO, |d| d.0),
                    },
                    CampaignType::Downloadonly => ActionType::DownloadOnly,
                };
                CampaignPlan {
                    name,
                    at,
                    dist,
                    kind,
                    weight: c.weight,
                    window: c.maintenance_window.as_ref().map(|w| MaintenanceSchedule {
                        start: at + w.start_after.0,
                        duration: w.duration.0,
                    }),
                    cancel_at: c.cancel_after.map(|d| at + d.0),
                    selector: c.targets.clone(),
                }
            })
            .collect();
        let mut windows = Vec::new();
        let mut resets = Vec::new();
        for f in &s.faults.server {
            let from = Time(f.at.0.as_millis());
            let until = f.for_.map_or(end, |d| from + d.0);
            let fault = match f.what {
                FaultKind::Reset => {
                    resets.push((from, until));
                    continue;
                }
                FaultKind::Server(fault) => fault,
            };
            windows.push(FaultWindow { from, until, fault });
        }
        server.set_faults(windows);
        Setup {
            groups,
            campaigns,
            server,
            resets,
            authorization: s
                .server
                .gateway_token
                .as_ref()
                .map(|k| format!("GatewayToken {k}")),
        }
    }

    /// The group of device `number`.
    pub fn group_of(&self, number: u64) -> Option<usize> {
        self.groups
            .iter()
            .position(|g| number >= g.first && number < g.first + g.count)
    }

    /// Controller id of device `number`.
    pub fn controller_id(&self, number: u64) -> String {
        match self.group_of(number) {
            Some(g) => format!("{}{:05}", self.groups[g].prefix, number),
            None => format!("device-{number:05}"),
        }
    }

    /// Total devices in the scenario.
    pub fn device_count(&self) -> u64 {
        self.groups.iter().map(|g| g.count).sum()
    }
}

/// The synthetic content of artifact `artifact` of campaign `campaign`.
pub fn artifact_content(campaign: usize, artifact: usize) -> ContentId {
    ContentId((campaign as u64 + 1) << 16 | artifact as u64)
}

/// Whether campaign `campaign` selects device `number` of kind `kind`. The
/// fraction test hashes (campaign, device), so it does not depend on fleet size.
pub fn selects(selector: &Selector, campaign: usize, number: u64, kind: DeviceKind) -> bool {
    if selector.kind.is_some_and(|k| k != kind) {
        return false;
    }
    match selector.fraction {
        None => true,
        Some(f) => {
            let h = xxhash_rust::xxh3::xxh3_64_with_seed(&number.to_le_bytes(), campaign as u64);
            (h as f64 / u64::MAX as f64) < f.0
        }
    }
}
