//! Turns a scenario into what the engine runs: device groups with their link
//! models and client settings, the embedded server with its distributions and
//! faults, and the campaign plan.

use std::sync::Arc;

use crate::gateway_ddi::{companion_groups, edge_controller_id, Companion};
pub use crate::selection::{edge_key, selects, selects_kind};

pub use crate::group_auth::GroupAuth;
use crate::group_auth::{group_auth, register_token_targets};
use crate::scenario::{
    Campaign, CampaignType, ConsentSpec, DeviceAuth, DeviceKind, FaultKind, FleetGroup,
    GatewaySpec, OtauAck, Protocol, Scenario, Selector, WindowSpec,
};
use fleetsim_core::connectivity::Link;
use fleetsim_core::message::{ContentId, Request, Response};
use fleetsim_core::protocol::constrained::ConstrainedSettings;
use fleetsim_core::protocol::ddi::{ClientSettings, Consent};
use fleetsim_core::protocol::otau::wire::Status;
use fleetsim_core::protocol::otau::{AckMode, OtauSettings, Transport};
use fleetsim_core::server::constrained::{
    ConstrainedGateway, InstallCommand, SidekickConfig, Strategy,
};
use fleetsim_core::server::otau::{OtauAnswer, OtauServer};
use fleetsim_core::server::schedule::Schedule;
use fleetsim_core::server::{
    ActionType, ArtifactSpec, DistributionId, DistributionSpec, FaultWindow, MaintenanceSchedule,
    ModuleSpec, Server, ServerConfig, Tenants,
};
use fleetsim_core::time::{Span, Time};

/// Origin the virtual devices use for the embedded server.
pub const EMBEDDED_ORIGIN: &str = "http://embedded.fleetsim";

/// A fleet group ready to run.
pub struct Group {
    /// Name (`targets: { group: NAME }`).
    pub name: Option<String>,
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
    /// Update protocol.
    pub protocol: Protocol,
    /// DDI client behaviour.
    pub settings: ClientSettings,
    /// OTAU client behaviour.
    pub otau: OtauSettings,
    /// The Murano product of its OTAU devices (`otau.product`); `None`: the
    /// server's default product.
    pub otau_product: Option<String>,
    /// Constrained (`cpg`) client behaviour.
    pub cpg: ConstrainedSettings,
    /// ConstrainedGateway twin index of the group's first device (`cpg` groups).
    pub twin_base: usize,
    /// How its DDI devices authenticate.
    pub auth: GroupAuth,
    /// Its DDI tenant (`fleet[].tenant`); `None`: the run's tenant.
    pub tenant: Option<String>,
    /// Edge gateways (`protocol: ditto`): their `gateway:` block.
    pub gateway: Option<GatewaySpec>,
    /// The DDI controllers of a gateway group (`gateway.ddi`): whose they are.
    pub companion: Option<Companion>,
}

impl Group {
    /// Controller id of device `number` of this group: `<prefix><number:05>`,
    /// for a gateway's DDI controller its gateway's serial (edge devices':
    /// with `-edge-<slot>`).
    pub fn controller_id(&self, number: u64) -> String {
        match &self.companion {
            None => format!("{}{number:05}", self.prefix),
            Some(c) => match c.gateway_of(self.first, number) {
                (gateway, None) => format!("{}{gateway:05}", self.prefix),
                (gateway, Some(slot)) => {
                    edge_controller_id(&format!("{}{gateway:05}", self.prefix), slot)
                }
            },
        }
    }

    /// The group's DDI tenant: its own, else the run's `default`.
    pub fn tenant_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.tenant.as_deref().unwrap_or(default)
    }

    /// How long a device of this group needs from getting a URL for `size`
    /// bytes to having downloaded them: half of each online window is
    /// counted as usable (the poll, latencies, a window opening mid-way).
    pub fn download_need(&self, size: u64) -> Span {
        match self.link.window() {
            Some((every, len)) => {
                let per_window = self.link.bytes_in(Span(len.as_millis() / 2)).max(1);
                let windows = size.div_ceil(per_window).max(1);
                Span(every.as_millis() * (windows - 1) + len.as_millis())
            }
            None => self.link.transfer(size) + Span::hours(1),
        }
    }

    /// Time from a device's first poll after an install command by which it
    /// must have finished when a strategy keeps its URLs usable: the
    /// download, one wake-up to report and one spare (lost messages).
    pub fn finish_bound(&self, size: u64) -> Span {
        let every = self
            .link
            .window()
            .map_or(Span::hours(8), |(every, _)| every);
        self.download_need(size) + Span(every.as_millis() * 2)
    }
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
    /// The `config_otau` value OTAU devices get.
    pub manifest: Arc<str>,
    /// OTAU content the campaign uploads: `(id, content, size)`.
    pub contents: Vec<(String, ContentId, u64)>,
    /// Its install command on the sidekick (`cpg` devices; first artifact).
    pub command: Option<usize>,
    /// Size of that artifact.
    pub command_size: u64,
    /// The sidekick strategy.
    pub strategy: Strategy,
    /// Downloads per day with URLs leaked from its devices.
    pub leaks_per_day: f64,
    /// Validity of its CDN URLs.
    pub url_validity: Span,
}

impl CampaignPlan {
    /// Uploads the campaign's files as OTAU connector content at `now`
    /// (a later campaign's file of the same name replaces it, as an upload would).
    pub fn upload_contents(&self, otau: &mut OtauServer, now: Time) {
        for (id, content, size) in &self.contents {
            otau.add_content(id, *content, *size, now);
        }
    }
}

/// Everything derived from a scenario.
pub struct Setup {
    /// Groups in fleet order; device numbers run on across groups.
    pub groups: Vec<Group>,
    /// Campaigns in scenario order.
    pub campaigns: Vec<CampaignPlan>,
    /// The embedded server, with distributions and faults loaded: one
    /// tenant per tenant the fleet names, `server.tenant` first.
    pub server: Tenants,
    /// Its OTAU side (devices `0..n`, only as many as the fleet's OTAU devices need).
    pub otau: OtauServer,
    /// The sidekick, gateway and CDN of `cpg` devices (seed 000).
    pub sidekick: ConstrainedGateway,
    /// Time windows in which the server resets connections instead of answering.
    pub resets: Vec<(Time, Time)>,
    /// `Authorization` header devices send.
    pub authorization: Option<String>,
}

impl Setup {
    /// Builds the run setup for `s`.
    pub fn new(s: &Scenario) -> Setup {
        let end = Time(s.duration.0.as_millis());
        let mut server = embedded_tenants(s);
        let mut first = 0;
        let mut groups: Vec<Group> = s
            .fleet
            .iter()
            .map(|g| {
                let group = build_group(s, g, first);
                first += u64::from(g.count);
                group
            })
            .collect();
        let companions = companion_groups(&groups, first);
        groups.extend(companions);
        register_token_targets(&mut server, &groups);
        let mut sidekick = ConstrainedGateway::new(SidekickConfig {
            origin: EMBEDDED_ORIGIN.to_string(),
            epoch_s: 0,
            poll_interval: s.server.polling.0,
            key_seed: s.seed,
        });
        for g in groups.iter_mut().filter(|g| g.protocol == Protocol::Cpg) {
            g.twin_base = sidekick.twin_count();
            for n in g.first..g.first + g.count {
                sidekick.register(&format!("{}{:05}", g.prefix, n));
            }
        }
        let campaigns = s
            .campaigns
            .iter()
            .enumerate()
            .map(|(i, c)| campaign_plan(i, c, &mut server, &mut sidekick))
            .collect();
        let (windows, resets) = fault_windows(s, end);
        server.set_faults(windows);
        let otau_devices = groups
            .iter()
            .filter(|g| g.protocol.is_otau())
            .map(|g| g.first + g.count)
            .max()
            .unwrap_or(0);
        let otau = otau_server(&groups, otau_devices);
        Setup {
            groups,
            campaigns,
            server,
            otau,
            sidekick,
            resets,
            authorization: s
                .server
                .gateway_token
                .as_ref()
                .map(|k| format!("GatewayToken {k}")),
        }
    }

    /// The OTAU core's answer to `req` at `now`, under the scenario's server
    /// faults (a `respond` fault answers every request with its status).
    pub fn otau_answer(&mut self, now: Time, req: &Request) -> OtauAnswer {
        let (respond, faults) = self.server.otau_faults_at(now);
        if let Some(status) = respond {
            return OtauAnswer::Ready(Response::status(status));
        }
        self.otau.faults = faults;
        self.otau.handle(now, req)
    }

    /// The sidekick's answer to `req` at `now`, under the scenario's server faults.
    pub fn sidekick_answer(&mut self, now: Time, req: &Request) -> Response {
        answer_sidekick(&self.server, &mut self.sidekick, now, req)
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
            Some(g) => self.groups[g].controller_id(number),
            None => format!("device-{number:05}"),
        }
    }

    /// Total devices in the scenario.
    pub fn device_count(&self) -> u64 {
        self.groups.iter().map(|g| g.count).sum()
    }
}

/// `sidekick`'s answer to `req` at `now`, under `server`'s scenario faults
/// (a `respond` fault answers for it; the URL-* modes break it).
pub fn answer_sidekick(
    server: &Tenants,
    sidekick: &mut ConstrainedGateway,
    now: Time,
    req: &Request,
) -> Response {
    let (respond, faults) = server.sidekick_faults_at(now);
    if let Some(status) = respond {
        return Response::status(status);
    }
    sidekick.faults = faults;
    sidekick.handle(now, req)
}

/// True when `t` falls in one of the scenario's `reset: true` server fault
/// windows ([`Setup::resets`]), in which the server drops connections.
pub fn in_reset_window(resets: &[(Time, Time)], t: Time) -> bool {
    resets.iter().any(|&(from, until)| from <= t && t < until)
}

/// Validity of the CDN URLs of campaign `c`: its `url_validity`, else 30
/// days (365 under `long_validity`, seed 000 option 3's "e.g. to one year").
pub fn url_validity(c: &Campaign) -> Span {
    c.url_validity.map_or(
        if c.strategy == Strategy::LongValidity {
            Span::days(365)
        } else {
            Span::days(30)
        },
        |d| d.0,
    )
}

/// The embedded server of `s`: `server.tenant`, then every other tenant a
/// fleet group names, in fleet order, all with the scenario's settings.
/// TargetToken auth is on in the tenants that have target-token devices.
fn embedded_tenants(s: &Scenario) -> Tenants {
    let config = |tenant: &str| ServerConfig {
        tenant: tenant.to_string(),
        gateway_token: s.server.gateway_token.clone(),
        target_token_auth: s.fleet.iter().any(|g| {
            g.protocol == Protocol::Ddi
                && g.tenant_or(&s.server.tenant) == tenant
                && matches!(
                    g.auth,
                    DeviceAuth::TargetToken | DeviceAuth::TargetTokenFile(_)
                )
        }),
        polling_sleep: s.server.polling.0,
        polling_jitter: s.server.polling_jitter.0,
        max_status_entries_per_action: s.server.max_status_entries_per_action,
        confirmation_flow: s.server.confirmation_flow,
        ..ServerConfig::default()
    };
    let mut tenants = Tenants::new(Server::new(config(&s.server.tenant)));
    for g in &s.fleet {
        if let Some(name) = &g.tenant {
            // A name already hosted is not added twice.
            tenants.add(Server::new(config(name)));
        }
    }
    tenants
}

/// Fleet group `g` of scenario `s`, its devices numbered from `first`.
fn build_group(s: &Scenario, g: &FleetGroup, first: u64) -> Group {
    Group {
        name: g.name.clone(),
        kind: g.kind,
        prefix: g.prefix(),
        first,
        count: u64::from(g.count),
        link: Link::new(&g.connectivity.link_spec()),
        protocol: g.protocol,
        otau: otau_settings(g),
        otau_product: g.otau.product.clone(),
        cpg: ConstrainedSettings {
            default_poll: s.server.polling.0,
            install_time: g.install_time.0,
            install_failure: g.install_failure.0,
            ..ConstrainedSettings::default()
        },
        twin_base: 0,
        auth: group_auth(s, g, first),
        tenant: g.tenant.clone(),
        gateway: (g.protocol == Protocol::Ditto).then(|| g.gateway.clone().unwrap_or_default()),
        companion: None,
        settings: ClientSettings {
            install_time: g.install_time.0,
            install_failure: g.install_failure.0,
            poll_every: g.misbehave.as_ref().map(|m| m.poll_every.0),
            resend_final_feedback: g.resend_final_feedback,
            encoding: g.encoding,
            consent: consent_of(g.consent),
            default_poll: s.server.polling.0,
            feedback: g.feedback.settings(),
            ..ClientSettings::default()
        },
    }
}

/// Campaign `c` (number `i`) ready to run: its distribution added to
/// `server`, its install command to `sidekick`.
fn campaign_plan(
    i: usize,
    c: &Campaign,
    server: &mut Tenants,
    sidekick: &mut ConstrainedGateway,
) -> CampaignPlan {
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
    let manifest = manifest_of(c, &name);
    let command = c.artifacts.first().map(|a| {
        sidekick.add_command(InstallCommand {
            version: c.version.clone(),
            name: a.name.clone(),
            size: a.size.0,
            content: artifact_content(i, 0),
            sha256: String::new(),
            strategy: c.strategy,
            validity: url_validity(c),
        })
    });
    CampaignPlan {
        name,
        at,
        dist,
        kind,
        weight: c.weight,
        window: window_of(c, at),
        cancel_at: c.cancel_after.map(|d| at + d.0),
        selector: c.targets.clone(),
        manifest,
        contents: c
            .artifacts
            .iter()
            .enumerate()
            .map(|(j, a)| (a.name.clone(), artifact_content(i, j), a.size.0))
            .collect(),
        command,
        command_size: c.artifacts.first().map_or(0, |a| a.size.0),
        strategy: c.strategy,
        leaks_per_day: c.leaked_downloads_per_day.unwrap_or(0.0),
        url_validity: url_validity(c),
    }
}

/// A campaign's maintenance window: its relative window, or its recurring
/// schedule (checked when the scenario was loaded, `checks.rs`).
fn window_of(c: &Campaign, at: Time) -> Option<MaintenanceSchedule> {
    match c.maintenance_window.as_ref()? {
        WindowSpec::Relative(w) => Some(MaintenanceSchedule::Once {
            start: at + w.start_after.0,
            duration: w.duration.0,
        }),
        WindowSpec::Recurring(w) => Schedule::parse(&w.schedule, &w.duration, &w.timezone)
            .ok()
            .map(|s| MaintenanceSchedule::Recurring(Arc::new(s))),
    }
}

/// The scenario's server fault windows, and apart from them the windows in
/// which the server resets connections; a window without `for` lasts to `end`.
fn fault_windows(s: &Scenario, end: Time) -> (Vec<FaultWindow>, Vec<(Time, Time)>) {
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
    (windows, resets)
}

/// OTAU client settings of fleet group `g`.
/// A group's `consent:` as the DDI client's setting.
fn consent_of(spec: ConsentSpec) -> Consent {
    match spec {
        ConsentSpec::Ignore => Consent::Ignore,
        ConsentSpec::Confirm => Consent::Confirm,
        ConsentSpec::Deny => Consent::Deny,
        ConsentSpec::ConfirmAfter(d) => Consent::ConfirmAfter(d.0),
        ConsentSpec::Auto => Consent::Auto,
    }
}

/// The OTAU core for devices `0..devices`, set up by [`configure_otau`].
fn otau_server(groups: &[Group], devices: u64) -> OtauServer {
    let mut otau = OtauServer::new(devices);
    configure_otau(groups, &mut otau);
    otau
}

/// Sets up an OTAU core for the scenario's groups, in virtual time and
/// under `fleetsim serve` alike: each group's devices belong to its
/// `otau.product` (otherwise to the default product); when a group
/// activates its devices, tokens work only once activated and every other
/// OTAU group's devices are pre-provisioned (otau.md §4.5).
pub fn configure_otau(groups: &[Group], otau: &mut OtauServer) {
    let otau_groups = || groups.iter().filter(|g| g.protocol.is_otau());
    for g in otau_groups() {
        if let Some(pid) = &g.otau_product {
            otau.assign_product(g.first..g.first + g.count, pid);
        }
    }
    if otau_groups().any(|g| g.otau.activate) {
        otau.require_activation();
        for g in otau_groups().filter(|g| !g.otau.activate) {
            (g.first..g.first + g.count).for_each(|n| otau.preprovision(n));
        }
    }
}

fn otau_settings(g: &FleetGroup) -> OtauSettings {
    let o = &g.otau;
    OtauSettings {
        request_timeout_ms: o.long_poll.0.as_millis(),
        status_gap: o.status_gap.0,
        install_time: g.install_time.0,
        install_failure: g.install_failure.0,
        ack: match o.ack {
            OtauAck::BeforeInit => AckMode::BeforeInit,
            OtauAck::AfterInstall => AckMode::AfterInstall,
            OtauAck::Never => AckMode::Never,
        },
        ims_from_last_modified: o.ims_from_last_modified,
        skip_status: o.skip_status.as_deref().and_then(Status::parse),
        wrong_installed_version: o.wrong_installed_version,
        transport: if g.protocol == Protocol::OtauMqtt {
            Transport::Mqtt
        } else {
            Transport::Http
        },
        test_phase: o.test_phase,
        test_failure: o.test_failure.0,
        progress_messages: o.progress,
        abort: o.abort.0,
        reboot_after_install: o.reboot_after_install.map(|d| d.0),
        boot_version: o.boot_version.clone(),
        activate: o.activate,
        ..OtauSettings::default()
    }
}

/// The `config_otau` value of campaign `c` (named `name`): its `manifest`
/// verbatim, or a `URL_LIST` manifest of its artifacts as ExoSense writes it
/// (otau.md §2), each file a content id of the embedded connector.
fn manifest_of(c: &Campaign, name: &str) -> Arc<str> {
    if let Some(raw) = &c.manifest {
        return Arc::from(raw.as_str());
    }
    let payload: Vec<&str> = c.artifacts.iter().map(|a| a.name.as_str()).collect();
    let manifest = serde_json::json!({
        "version": c.version,
        "name": name,
        "description": "",
        "type": "URL_LIST",
        "payload": payload,
    });
    Arc::from(manifest.to_string().as_str())
}

/// The synthetic content of artifact `artifact` of campaign `campaign`.
pub fn artifact_content(campaign: usize, artifact: usize) -> ContentId {
    ContentId((campaign as u64 + 1) << 16 | artifact as u64)
}
