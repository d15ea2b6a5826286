//! What the listener shares between connections: the embedded server core,
//! the scenario clock, and the campaign director
//! ([`fleetsim_fleet::director`]) that turns a scenario's campaigns into
//! assignments for the targets that registered themselves, manifests for its
//! OTAU devices and install commands for its constrained devices.
//!
//! All of it is sans-IO like the server core: every call takes `now` in
//! scenario time; the caller (`mod.rs`) reads the clock and holds the lock.

use std::time::{Duration, Instant};

use super::cpg_admin;
use super::events::EventRing;
use super::otau;
use crate::server_events::{GatewayStats, ServerSide};
use fleetsim_core::ditto::protocol::Envelope;
use fleetsim_core::message::{Request, Response};
use fleetsim_core::server::constrained::{self, ConstrainedGateway, SidekickConfig, SidekickEvent};
use fleetsim_core::server::otau::{self as otau_core, OtauServer};
use fleetsim_core::server::twin::TwinFaults;
use fleetsim_core::server::{
    self, IndexGroup, MgmtCredentials, Server, ServerConfig, ServerEvent, Tenants,
};
use fleetsim_core::time::Time;
use fleetsim_fleet::director::{self as campaigns, Director, Effect, Stage, Target};
use fleetsim_fleet::scenario::{is_tenant_name, Protocol, Scenario};
use fleetsim_fleet::setup::{answer_sidekick, CampaignPlan, Group, Setup, EMBEDDED_ORIGIN};

/// Scenario time of a real-time server: real time since start × `scale`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Clock {
    start: Instant,
    scale: f64,
}

impl Clock {
    /// A clock at scenario time zero now, running `scale` times faster than real time.
    pub(super) fn new(scale: f64) -> Clock {
        Clock {
            start: Instant::now(),
            scale,
        }
    }

    /// Scenario time now (float-to-int casts saturate, so this cannot overflow).
    pub(super) fn now(&self) -> Time {
        let real_ms = self.start.elapsed().as_secs_f64() * 1000.0;
        Time((real_ms * self.scale) as u64)
    }

    /// The real instant at which scenario time reaches `t`; `None` when that
    /// is too far away to represent (the event never fires).
    pub(super) fn instant_of(&self, t: Time) -> Option<Instant> {
        let real = Duration::try_from_secs_f64(t.0 as f64 / 1000.0 / self.scale).ok()?;
        self.start.checked_add(real)
    }
}

/// Devices of the OTAU server when `serve` starts without a scenario.
pub(super) const DEFAULT_OTAU_DEVICES: u64 = 10_000;

/// The server core plus what the real-time server adds around it.
pub(super) struct State {
    /// The DDI and Management API core, one per tenant.
    server: Tenants,
    /// The OTAU core: devices `0..n` of the scenario (n = its device count).
    otau: OtauServer,
    /// The sidekick, gateway and CDN of constrained devices (`/cpg/`, `/cdn/`, `/cache/`).
    sidekick: ConstrainedGateway,
    /// Scratch buffer for [`ConstrainedGateway::drain_events`].
    sidekick_events: Vec<SidekickEvent>,
    /// Basic credentials of the Management API, also guarding `/fleetsim/otau/`.
    credentials: MgmtCredentials,
    /// The scenario's fleet groups (empty without a scenario).
    groups: Vec<Group>,
    /// The scenario's campaigns.
    campaigns: Vec<CampaignPlan>,
    /// Carries the campaigns out: the scenario's OTAU and constrained
    /// devices from the start, DDI targets as they register.
    director: Director,
    /// Scenario windows `[from, until)` in which connections are dropped unanswered.
    resets: Vec<(Time, Time)>,
    /// Scratch buffer for [`Server::drain_events`].
    events: Vec<ServerEvent>,
    /// Campaigns wrote OTAU manifests that held polls have not seen yet.
    otau_written: bool,
    /// Device numbers of the OTAU devices that talk MQTT (the scenario's
    /// `otau_mqtt` groups; every device without a scenario), as ranges.
    mqtt_devices: Vec<std::ops::Range<u64>>,
    /// MQTT devices whose manifest was written since the MQTT bridge last
    /// published (it takes them with [`State::take_mqtt_written`]).
    mqtt_written: Vec<u64>,
    /// Told when `mqtt_written` gains devices (the bridge's publisher waits on it).
    mqtt_kick: std::sync::Arc<tokio::sync::Notify>,
    /// What the cores did, for `GET /fleetsim/events` (see `events.rs`).
    ring: EventRing,
    /// Unix seconds of scenario time zero (the gateway signs URLs from it).
    epoch_s: u64,
}

impl State {
    /// The server a scenario describes, or an empty default server; its
    /// Management API (`/rest/v1/...`) takes `credentials`.
    pub(super) fn new(scenario: Option<&Scenario>, credentials: MgmtCredentials) -> State {
        let devices = scenario.map_or(DEFAULT_OTAU_DEVICES, Scenario::device_count);
        let otau = OtauServer::new(devices);
        match scenario {
            Some(scenario) => State::of_scenario(scenario, otau, credentials),
            None => State::without_scenario(otau, credentials, devices, ServerConfig::default()),
        }
    }

    /// The DDI core of every tenant (`conform --device` prepares it).
    pub(super) fn tenants_mut(&mut self) -> &mut Tenants {
        &mut self.server
    }

    /// An empty server of `config`; every OTAU device talks MQTT too.
    pub(super) fn without_scenario(
        otau: OtauServer,
        credentials: MgmtCredentials,
        devices: u64,
        config: ServerConfig,
    ) -> State {
        let sidekick = ConstrainedGateway::new(SidekickConfig {
            origin: EMBEDDED_ORIGIN.to_string(),
            epoch_s: 0,
            poll_interval: config.polling_sleep,
            key_seed: 0,
        });
        let mut server = Tenants::new(Server::new(config));
        server.set_mgmt_credentials(&credentials);
        State {
            server,
            otau,
            sidekick,
            sidekick_events: Vec::new(),
            credentials,
            groups: Vec::new(),
            campaigns: Vec::new(),
            director: Director::default(),
            resets: Vec::new(),
            events: Vec::new(),
            otau_written: false,
            mqtt_devices: std::iter::once(0..devices).collect(),
            mqtt_written: Vec::new(),
            mqtt_kick: Default::default(),
            ring: EventRing::default(),
            epoch_s: 0,
        }
    }

    /// The server `scenario` describes.
    fn of_scenario(
        scenario: &Scenario,
        mut otau: OtauServer,
        credentials: MgmtCredentials,
    ) -> State {
        let Setup {
            groups,
            campaigns,
            mut server,
            resets,
            sidekick,
            ..
        } = Setup::new(scenario);
        // Products, activation gating and pre-provisioned groups exactly as
        // in virtual time.
        fleetsim_fleet::setup::configure_otau(&groups, &mut otau);
        server.set_mgmt_credentials(&credentials);
        // Hash the scenario's artifacts before listening, not under the
        // lock of the first request that reads them.
        server.catalog().hash_all();
        if groups.iter().any(|g| g.protocol.is_otau() && g.count > 0) {
            for (_, content, size) in campaigns.iter().flat_map(|c| &c.contents) {
                otau.prepare_content(*content, *size);
            }
        }
        // Targets registering by id (plug and play, Management API) take the
        // scenario's device numbers, as the virtual driver's devices do.
        // A gateway's DDI controllers have their gateway's ids (gateway_ddi).
        let plan = groups
            .iter()
            .filter(|g| g.companion.is_none())
            .map(|g| IndexGroup {
                prefix: g.prefix.clone(),
                first: g.first,
                count: g.count,
            });
        server.set_index_plan(plan.collect());
        let director = Director::new(&campaigns, campaigns::scenario_devices(&groups));
        let mqtt_devices = groups
            .iter()
            .filter(|g| g.protocol == Protocol::OtauMqtt && g.count > 0)
            .map(|g| g.first..g.first + g.count)
            .collect();
        let token_targets = token_targets(&groups);
        let mut state = State {
            server,
            otau,
            sidekick,
            sidekick_events: Vec::new(),
            credentials,
            groups,
            campaigns,
            director,
            resets,
            events: Vec::new(),
            otau_written: false,
            mqtt_devices,
            mqtt_written: Vec::new(),
            mqtt_kick: Default::default(),
            ring: EventRing::default(),
            epoch_s: 0,
        };
        // Target-token devices were created with their tokens (an operator
        // provisions them): they cannot register by polling, so they are
        // the campaigns' targets from the start.
        if state.director.has_campaigns() {
            for cid in token_targets {
                state.register(cid, Time::ZERO);
            }
        }
        state
    }

    /// Answers one request at scenario time `now`; `None` means "drop the
    /// connection without an answer" (a scenario `reset` fault window).
    pub(super) fn handle(&mut self, now: Time, req: &Request) -> Option<Response> {
        self.catch_up(now);
        if self.in_reset(now) {
            return None;
        }
        if let Some(rest) = req.path().strip_prefix(cpg_admin::PREFIX) {
            let resp = cpg_admin::answer(&mut self.sidekick, &self.credentials, now, req, rest);
            self.drain_events(now);
            return Some(resp);
        }
        if constrained::is_gateway_path(req.path()) {
            let resp = answer_sidekick(&self.server, &mut self.sidekick, now, req);
            self.drain_events(now);
            return Some(resp);
        }
        let known = self.server.target_count();
        let mut resp = self.server.handle(now, req);
        // Targets created through the Management API get the campaigns already started.
        for cid in self.server.take_mgmt_created() {
            if self.director.has_campaigns() {
                self.register(cid, now);
            }
        }
        if self.server.target_count() > known
            && self.director.has_campaigns()
            && !server::is_mgmt_request(req)
        {
            let assigned = server::request_controller_id(req)
                .is_some_and(|cid| self.register(cid.to_string(), now));
            if assigned {
                // The registering poll was answered before its late
                // assignments existed: answer it again, so the device sees
                // its deployment on its very first poll.
                resp = self.server.handle(now, req);
            }
        }
        self.drain_events(now);
        Some(resp)
    }

    /// Hosts `names` as further tenants (a name already hosted is kept as
    /// it is), with the default tenant's initial settings; the first name
    /// that is no tenant name, if any.
    pub(super) fn host_tenants(&mut self, names: &[String]) -> Option<String> {
        if let Some(bad) = names.iter().find(|n| !is_tenant_name(n)) {
            return Some(bad.clone());
        }
        let base = self.server.default_tenant().config().clone();
        for name in names {
            let config = ServerConfig {
                tenant: name.clone(),
                target_token_auth: false,
                ..base.clone()
            };
            self.server.add(Server::new(config));
        }
        self.server.set_mgmt_credentials(&self.credentials);
        None
    }

    /// Hosts the OTAU products `pids` (`--product-id`): the first becomes
    /// the default product (devices whose group names none), the others are
    /// hosted beside the scenario's. Returns an id that is not one.
    pub(super) fn host_products(&mut self, pids: &[String]) -> Option<String> {
        if let Some(bad) = pids.iter().find(|p| !otau_core::is_product_id(p)) {
            return Some(bad.clone());
        }
        if let Some((first, rest)) = pids.split_first() {
            self.otau.set_product(first);
            rest.iter().for_each(|p| self.otau.host_product(p));
        }
        let products: Vec<&str> = self.otau.products().collect();
        let gated = self.otau.activation_required();
        tracing::info!(
            ?products,
            activation_required = gated,
            "OTAU products hosted (Host <pid>.m2.exosite.io selects one)"
        );
        None
    }

    /// Logs the tenants a scenario's fleet spans beyond the default one,
    /// with the Management API user each answers to.
    pub(super) fn log_tenants(&self) {
        for t in self.server.iter().skip(1) {
            let tenant = &t.config().tenant;
            tracing::info!(%tenant, mgmt_user = %tenant, "tenant hosted (DDI under /{tenant}/controller/v1/; Management API user named as the tenant, same password)");
        }
    }

    /// The Management API users of the tenants beyond the default one.
    pub(super) fn tenant_users(&self) -> Vec<MgmtCredentials> {
        self.server.mgmt_users().split_off(1)
    }

    /// Signs the gateway's URLs for `origin` (the bound address), in Unix
    /// seconds from `epoch_s` (scenario time zero), with a fresh random key.
    pub(super) fn rebase_gateway(&mut self, origin: &str, epoch_s: u64) {
        self.sidekick
            .rebase(origin.to_string(), epoch_s, rand::random());
        self.epoch_s = epoch_s;
    }

    /// The server-side events kept for readers.
    pub(super) fn events(&self) -> &EventRing {
        &self.ring
    }

    /// The twin's broken modes in force at `now` (the scenario's `twin_*`
    /// server faults and their windows, as in virtual runs).
    pub(super) fn twin_faults_at(&self, now: Time) -> TwinFaults {
        self.server.default_tenant().twin_faults_at(now)
    }

    /// Appends the twin's `events` of `now` to the event ring; the number
    /// the next event will have.
    pub(super) fn record_twin_events(&mut self, now: Time, events: &[Envelope]) -> u64 {
        for line in events.iter().filter_map(ServerSide::twin_event) {
            self.ring.push(now, line);
        }
        self.ring.next_seq()
    }

    /// Unix seconds of scenario time zero.
    pub(super) fn epoch_s(&self) -> u64 {
        self.epoch_s
    }

    /// The gateway's statistics now.
    pub(super) fn gateway_stats(&self) -> GatewayStats {
        let cache = self.sidekick.cache();
        let (cache_fetches, cache_evictions) = cache.fetches_and_evictions();
        GatewayStats {
            cache_bytes: cache.bytes(),
            cache_peak_bytes: cache.peak(),
            cache_fetches,
            cache_evictions,
            counters: self.sidekick.counters(),
        }
    }

    fn in_reset(&self, now: Time) -> bool {
        fleetsim_fleet::setup::in_reset_window(&self.resets, now)
    }

    /// Hands the director a target that registered itself at `now`; true
    /// when it got campaigns already started.
    fn register(&mut self, controller_id: String, now: Time) -> bool {
        let target = Target::registered(&self.groups, controller_id);
        tracing::debug!(?target, "target registered");
        let mut stage = Stage {
            campaigns: &self.campaigns,
            groups: &self.groups,
            server: &mut self.server,
            otau: &mut self.otau,
            gateway: &mut self.sidekick,
        };
        self.director.register(target, now, &mut stage).1
    }

    /// Carries out the campaign steps due by `now`, if any, before a request
    /// at `now` is answered.
    pub(super) fn catch_up(&mut self, now: Time) {
        if now >= self.director.poll_timeout() {
            self.advance(now);
        }
    }

    /// Runs the campaign starts and cancels due by `now`.
    pub(super) fn advance(&mut self, now: Time) {
        let before = self.mqtt_written.len();
        let mut stage = Stage {
            campaigns: &self.campaigns,
            groups: &self.groups,
            server: &mut self.server,
            otau: &mut self.otau,
            gateway: &mut self.sidekick,
        };
        let mut wrote = None;
        while let Some(effect) = self.director.poll(now, &mut stage) {
            match effect {
                Effect::Started { campaign } => {
                    let targets = self.director.targets().len();
                    tracing::info!(campaign = %stage.campaigns[campaign].name, targets, "campaign starts");
                }
                Effect::ManifestWritten {
                    campaign, number, ..
                } => {
                    let event = ServerSide::Manifest {
                        device: Some(number),
                        campaign: Some(campaign),
                    };
                    self.ring.push(now, event);
                    self.otau_written = true;
                    if self.mqtt_devices.iter().any(|r| r.contains(&number)) {
                        self.mqtt_written.push(number);
                    }
                    if wrote.replace(campaign) != Some(campaign) {
                        tracing::info!(campaign = %stage.campaigns[campaign].name, "config_otau written");
                    }
                }
                Effect::Installed { campaign, target } => {
                    let targets = self.director.targets();
                    if let Some(device) = number_of(&self.groups, &targets[target]) {
                        let event = ServerSide::Command { device, campaign };
                        self.ring.push(now, event);
                    }
                }
                Effect::Canceling { campaign, actions } => {
                    tracing::info!(campaign = %stage.campaigns[campaign].name, actions, "campaign canceled");
                }
                _ => {}
            }
        }
        if self.mqtt_written.len() > before {
            self.mqtt_kick.notify_one();
        }
        self.drain_events(now);
    }

    /// When the next campaign start or cancel is due (`Time::NEVER`: none).
    pub(super) fn next_due(&self) -> Time {
        self.director.poll_timeout()
    }

    /// The cores' events go to the trace log and the event ring (readers
    /// such as the real-time driver check invariants with them); the ring
    /// is bounded, so they do not pile up over a long-running server.
    pub(super) fn drain_events(&mut self, now: Time) {
        self.server.drain_events(&mut self.events);
        for event in self.events.drain(..) {
            tracing::trace!(?event, "server event");
            let ServerEvent::ActionStatusChanged {
                controller_id,
                action,
                from,
                to,
                at,
            } = event;
            let status = ServerSide::Status {
                controller_id,
                action: action.0,
                from: from.map(|f| f.as_str().to_string()),
                to: to.as_str().to_string(),
                from_final: from.is_some_and(|f| f.is_final()),
                to_final: to.is_final(),
            };
            self.ring.push(at, status);
        }
        self.sidekick.drain_events(&mut self.sidekick_events);
        for event in self.sidekick_events.drain(..) {
            tracing::debug!(?event, "sidekick event");
            let number = |twin| number_of_twin(&self.groups, twin);
            let side = match event {
                SidekickEvent::Fired {
                    device,
                    command,
                    reissue,
                } => number(device).map(|device| ServerSide::Fired {
                    device,
                    command,
                    reissue,
                }),
                SidekickEvent::Dropped { device, command } => {
                    number(device).map(|device| ServerSide::Dropped { device, command })
                }
                SidekickEvent::Finished {
                    device,
                    command,
                    ok,
                } => number(device).map(|device| ServerSide::Finished {
                    device,
                    command,
                    ok,
                }),
                SidekickEvent::Evicted { sha256, needed_by } => {
                    Some(ServerSide::Evicted { sha256, needed_by })
                }
            };
            if let Some(side) = side {
                self.ring.push(now, side);
            }
        }
    }
}

#[path = "state_otau.rs"]
mod otau_side;

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;

/// The device number of sidekick twin `twin` (a scenario's `cpg` device).
fn number_of_twin(groups: &[Group], twin: usize) -> Option<u64> {
    let g = groups
        .iter()
        .filter(|g| g.protocol == Protocol::Cpg)
        .find(|g| g.twin_base <= twin && twin < g.twin_base + g.count as usize)?;
    Some(g.first + (twin - g.twin_base) as u64)
}

/// The device number of a constrained campaign target.
fn number_of(groups: &[Group], target: &Target) -> Option<u64> {
    match target.channel {
        campaigns::Channel::Constrained { twin } => number_of_twin(groups, twin),
        _ => None,
    }
}

/// Controller ids of the scenario's devices that authenticate with their own
/// target tokens.
fn token_targets(groups: &[Group]) -> Vec<String> {
    groups
        .iter()
        .filter(|g| g.protocol == Protocol::Ddi)
        .flat_map(|g| {
            (g.first..g.first + g.count)
                .filter(|&n| g.target_token(n).is_some())
                .map(|n| g.controller_id(n))
        })
        .collect()
}
