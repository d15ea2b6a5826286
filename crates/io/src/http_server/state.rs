//! What the listener shares between connections: the embedded server core,
//! the scenario clock, and the campaign schedule that turns a scenario's
//! campaigns into assignments for the targets that registered themselves.
//!
//! All of it is sans-IO like the server core: every call takes `now` in
//! scenario time; the caller (`mod.rs`) reads the clock and holds the lock.

use std::time::{Duration, Instant};

use super::otau::{self, Routed};
use fleetsim_core::message::{Request, Response};
use fleetsim_core::server::constrained::{self, ConstrainedGateway, SidekickConfig, SidekickEvent};
use fleetsim_core::server::otau::OtauServer;
use fleetsim_core::server::{
    self, ActionId, IndexGroup, MgmtCredentials, Server, ServerConfig, ServerEvent,
};
use fleetsim_core::time::Time;
use fleetsim_fleet::scenario::{DeviceKind, Protocol, Scenario};
use fleetsim_fleet::setup::{
    answer_sidekick, install_on_group, selects, selects_kind, CampaignPlan, Group, Setup,
    EMBEDDED_ORIGIN,
};

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
    server: Server,
    /// The OTAU core: devices `0..n` of the scenario (n = its device count).
    otau: OtauServer,
    /// The sidekick, gateway and CDN of constrained devices (`/cpg/`, `/cdn/`, `/cache/`).
    sidekick: ConstrainedGateway,
    /// Scratch buffer for [`ConstrainedGateway::drain_events`].
    sidekick_events: Vec<SidekickEvent>,
    /// Basic credentials of the Management API, also guarding `/fleetsim/otau/`.
    credentials: MgmtCredentials,
    schedule: Schedule,
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
}

impl State {
    /// The server a scenario describes, or an empty default server; its
    /// Management API (`/rest/v1/...`) takes `credentials`.
    pub(super) fn new(scenario: Option<&Scenario>, credentials: MgmtCredentials) -> State {
        let devices = scenario.map_or(DEFAULT_OTAU_DEVICES, Scenario::device_count);
        let mut otau = OtauServer::new(devices);
        let Some(scenario) = scenario else {
            let config = ServerConfig::default();
            let sidekick = ConstrainedGateway::new(SidekickConfig {
                origin: EMBEDDED_ORIGIN.to_string(),
                epoch_s: 0,
                poll_interval: config.polling_sleep,
                key_seed: 0,
            });
            let mut server = Server::new(config);
            server.set_mgmt_credentials(credentials.clone());
            return State {
                server,
                otau,
                sidekick,
                sidekick_events: Vec::new(),
                credentials,
                schedule: Schedule::default(),
                resets: Vec::new(),
                events: Vec::new(),
                otau_written: false,
                mqtt_devices: std::iter::once(0..devices).collect(),
                mqtt_written: Vec::new(),
                mqtt_kick: Default::default(),
            };
        };
        let Setup {
            groups,
            campaigns,
            mut server,
            resets,
            sidekick,
            ..
        } = Setup::new(scenario);
        server.set_mgmt_credentials(credentials.clone());
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
        let plan = groups.iter().map(|g| IndexGroup {
            prefix: g.prefix.clone(),
            first: g.first,
            count: g.count,
        });
        server.set_index_plan(plan.collect());
        let mut schedule = Schedule {
            groups,
            campaigns: campaigns.into_iter().map(CampaignRun::new).collect(),
            targets: Vec::new(),
            next_due: Time::NEVER,
        };
        schedule.next_due = schedule.next_step().map_or(Time::NEVER, |s| s.at);
        let mqtt_devices = schedule
            .groups
            .iter()
            .filter(|g| g.protocol == Protocol::OtauMqtt && g.count > 0)
            .map(|g| g.first..g.first + g.count)
            .collect();
        State {
            server,
            otau,
            sidekick,
            sidekick_events: Vec::new(),
            credentials,
            schedule,
            resets,
            events: Vec::new(),
            otau_written: false,
            mqtt_devices,
            mqtt_written: Vec::new(),
            mqtt_kick: Default::default(),
        }
    }

    /// Answers one request at scenario time `now`; `None` means "drop the
    /// connection without an answer" (a scenario `reset` fault window).
    pub(super) fn handle(&mut self, now: Time, req: &Request) -> Option<Response> {
        if now >= self.schedule.next_due {
            self.advance(now);
        }
        if self.in_reset(now) {
            return None;
        }
        if constrained::is_gateway_path(req.path()) {
            let resp = answer_sidekick(&self.server, &mut self.sidekick, now, req);
            self.drain_events();
            return Some(resp);
        }
        let known = self.server.target_count();
        let mut resp = self.server.handle(now, req);
        // Targets created through the Management API get the campaigns already started.
        for cid in self.server.take_mgmt_created() {
            if self.schedule.tracks_targets() {
                self.schedule.register(&mut self.server, cid, now);
            }
        }
        if self.server.target_count() > known
            && self.schedule.tracks_targets()
            && !server::is_mgmt_request(req)
        {
            let assigned = server::request_controller_id(req)
                .is_some_and(|cid| self.schedule.register(&mut self.server, cid, now));
            if assigned {
                // The registering poll was answered before its late
                // assignments existed: answer it again, so the device sees
                // its deployment on its very first poll.
                resp = self.server.handle(now, req);
            }
        }
        self.drain_events();
        Some(resp)
    }

    /// Signs the gateway's URLs for `origin` (the bound address), in Unix
    /// seconds from `epoch_s` (scenario time zero), with a fresh random key.
    pub(super) fn rebase_gateway(&mut self, origin: &str, epoch_s: u64) {
        self.sidekick
            .rebase(origin.to_string(), epoch_s, rand::random());
    }

    /// Answers an OTAU device or admin request (see `otau.rs`); `None` in a
    /// scenario `reset` fault window. `held`: long polls held now.
    pub(super) fn handle_otau(&mut self, now: Time, req: &Request, held: usize) -> Option<Routed> {
        if now >= self.schedule.next_due {
            self.advance(now);
        }
        if self.in_reset(now) {
            return None;
        }
        // The scenario's OTAU fault modes break the core on purpose, as in virtual runs.
        self.otau.faults = self.server.otau_faults_at(now).1;
        let routed = otau::route(&mut self.otau, &self.credentials, now, req, held);
        // Manifests written through the admin routes go out over MQTT too.
        match &routed {
            Routed::Reply(_, otau::Wake::Device(d)) if self.is_mqtt(*d) => {
                self.mqtt_written.push(*d);
                self.mqtt_kick.notify_one();
            }
            Routed::Reply(_, otau::Wake::All) => {
                let all = self.mqtt_devices.iter().flat_map(Clone::clone);
                self.mqtt_written.extend(all);
                self.mqtt_kick.notify_one();
            }
            _ => {}
        }
        Some(routed)
    }

    /// Runs `f` on the OTAU core at scenario time `now` (the MQTT bridge's
    /// access), after the campaign steps due by then.
    pub(super) fn with_otau(&mut self, now: Time, f: &mut dyn FnMut(&mut OtauServer, Time)) {
        if now >= self.schedule.next_due {
            self.advance(now);
        }
        self.otau.faults = self.server.otau_faults_at(now).1;
        f(&mut self.otau, now);
    }

    /// Whether OTAU device `n` talks MQTT.
    pub(super) fn is_mqtt(&self, n: u64) -> bool {
        self.mqtt_devices.iter().any(|r| r.contains(&n))
    }

    /// How many devices talk MQTT (0 when the scenario has no `otau_mqtt` group).
    pub(super) fn mqtt_device_count(&self) -> u64 {
        self.mqtt_devices.iter().map(|r| r.end - r.start).sum()
    }

    /// MQTT devices whose manifest was written since the last call.
    pub(super) fn take_mqtt_written(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.mqtt_written)
    }

    /// Notified whenever [`State::take_mqtt_written`] has something.
    pub(super) fn mqtt_kick(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.mqtt_kick.clone()
    }

    /// Re-asks a held OTAU long poll ([`OtauServer::poll_pending`]).
    pub(super) fn otau_poll(&mut self, now: Time, req: &Request, until: Time) -> Option<Response> {
        self.otau.poll_pending(now, req, until)
    }

    fn in_reset(&self, now: Time) -> bool {
        fleetsim_fleet::setup::in_reset_window(&self.resets, now)
    }

    /// Runs the campaign starts and cancels due by `now`.
    pub(super) fn advance(&mut self, now: Time) {
        let before = self.mqtt_written.len();
        self.otau_written |= self.schedule.advance(
            &mut self.server,
            &mut self.otau,
            &mut self.sidekick,
            now,
            &mut self.mqtt_written,
        );
        if self.mqtt_written.len() > before {
            self.mqtt_kick.notify_one();
        }
        self.drain_events();
    }

    /// Whether campaigns wrote OTAU manifests since the last call: held long
    /// polls must then be re-asked.
    pub(super) fn take_otau_written(&mut self) -> bool {
        std::mem::take(&mut self.otau_written)
    }

    /// When the next campaign start or cancel is due (`Time::NEVER`: none).
    pub(super) fn next_due(&self) -> Time {
        self.schedule.next_due
    }

    /// Events are only observed here (trace log): nothing in `serve` checks
    /// invariants, but they must not pile up over a long-running server.
    fn drain_events(&mut self) {
        self.server.drain_events(&mut self.events);
        for event in self.events.drain(..) {
            tracing::trace!(?event, "server event");
        }
        self.sidekick.drain_events(&mut self.sidekick_events);
        for event in self.sidekick_events.drain(..) {
            tracing::debug!(?event, "sidekick event");
        }
    }
}

/// Where a campaign stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Its `at` has not come yet.
    Pending,
    /// Assigned to the registered targets it selects; late targets get it at registration.
    Started,
    /// Its `cancel_after` has passed; nobody gets it any more.
    Canceled,
}

/// A campaign and the actions it created.
struct CampaignRun {
    plan: CampaignPlan,
    phase: Phase,
    /// `(controller id, action)` of every assignment, for the cancel.
    actions: Vec<(String, ActionId)>,
}

impl CampaignRun {
    fn new(plan: CampaignPlan) -> CampaignRun {
        CampaignRun {
            plan,
            phase: Phase::Pending,
            actions: Vec::new(),
        }
    }
}

/// A target that registered itself, with the fleet identity its id implies.
struct Registered {
    controller_id: String,
    /// Kind and device number, when the id is `<group prefix><number>`.
    device: Option<(DeviceKind, u64)>,
}

/// A campaign start or cancel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Step {
    at: Time,
    campaign: usize,
    cancel: bool,
}

/// The scenario's campaigns played against self-registered targets.
///
/// A campaign is assigned, at its time, to every registered target it
/// selects. hawkBit would stop there (an assignment is one-shot), but a
/// device developer who points a device at `serve` after a campaign's time
/// expects the update: so a target that registers later gets every campaign
/// already started and not yet canceled, in start order, at registration.
///
/// The server does not know device kinds: a controller id `<prefix><digits>`
/// takes the kind and number of the fleet group with that `id_prefix` (the
/// group whose numbers contain it, if several share the prefix). Other ids
/// are selected only by campaigns whose `targets` name neither kind nor fraction.
#[derive(Default)]
struct Schedule {
    groups: Vec<Group>,
    campaigns: Vec<CampaignRun>,
    /// Registered targets, in registration order (kept only when there are campaigns).
    targets: Vec<Registered>,
    /// Time of [`Schedule::next_step`], cached for the per-request check.
    next_due: Time,
}

impl Schedule {
    /// True when registrations matter (the scenario has campaigns).
    fn tracks_targets(&self) -> bool {
        !self.campaigns.is_empty()
    }

    /// The earliest pending start or cancel; ties go to the lower campaign index.
    fn next_step(&self) -> Option<Step> {
        let steps = self.campaigns.iter().enumerate().filter_map(|(i, c)| {
            let (at, cancel) = match c.phase {
                Phase::Pending => (c.plan.at, false),
                Phase::Started => (c.plan.cancel_at?, true),
                Phase::Canceled => return None,
            };
            Some(Step {
                at,
                campaign: i,
                cancel,
            })
        });
        steps.min_by_key(|s| (s.at, s.campaign))
    }

    /// Runs every step due by `now`, in time order; true when a campaign
    /// wrote OTAU manifests.
    /// The `otau_mqtt` devices written to are added to `mqtt`.
    fn advance(
        &mut self,
        server: &mut Server,
        otau: &mut OtauServer,
        sidekick: &mut ConstrainedGateway,
        now: Time,
        mqtt: &mut Vec<u64>,
    ) -> bool {
        let mut wrote = false;
        while let Some(step) = self.next_step().filter(|s| s.at <= now) {
            if step.cancel {
                self.cancel(server, step.campaign, now);
            } else {
                wrote |= self.start(server, otau, step.campaign, now, mqtt);
                let plan = &self.campaigns[step.campaign].plan;
                for g in &self.groups {
                    install_on_group(server, sidekick, plan, step.campaign, g, now);
                }
            }
        }
        self.next_due = self.next_step().map_or(Time::NEVER, |s| s.at);
        wrote
    }

    /// Starts campaign `i`: assigns it to the registered DDI targets it
    /// selects and writes its manifest to the OTAU devices it selects (whose
    /// numbers and CIKs the scenario fixes, so they need no registration).
    fn start(
        &mut self,
        server: &mut Server,
        otau: &mut OtauServer,
        i: usize,
        now: Time,
        mqtt: &mut Vec<u64>,
    ) -> bool {
        tracing::info!(campaign = %self.campaigns[i].plan.name, targets = self.targets.len(), "campaign starts");
        for t in 0..self.targets.len() {
            self.assign(server, i, t, now);
        }
        self.campaigns[i].phase = Phase::Started;
        let plan = &self.campaigns[i].plan;
        let mut wrote = false;
        if self.groups.iter().any(|g| g.protocol.is_otau()) {
            plan.upload_contents(otau, now);
        }
        for g in self.groups.iter().filter(|g| g.protocol.is_otau()) {
            for n in (g.first..g.first + g.count).filter(|n| selects(&plan.selector, i, *n, g)) {
                if otau.set_manifest(n, plan.manifest.clone(), now) {
                    wrote = true;
                    if g.protocol == Protocol::OtauMqtt {
                        mqtt.push(n);
                    }
                }
            }
        }
        if wrote {
            tracing::info!(campaign = %plan.name, "config_otau written");
        }
        wrote
    }

    fn cancel(&mut self, server: &mut Server, i: usize, now: Time) {
        let run = &mut self.campaigns[i];
        tracing::info!(campaign = %run.plan.name, actions = run.actions.len(), "campaign canceled");
        for (cid, action) in std::mem::take(&mut run.actions) {
            server.cancel(now, &cid, action, false);
        }
        run.phase = Phase::Canceled;
    }

    /// Assigns campaign `i` to target `t` if the campaign selects it.
    fn assign(&mut self, server: &mut Server, i: usize, t: usize, now: Time) -> bool {
        let (run, target) = (&mut self.campaigns[i], &self.targets[t]);
        let selected = match target.device {
            Some((kind, number)) => match self
                .groups
                .iter()
                .find(|g| g.first <= number && number < g.first + g.count)
            {
                Some(g) => selects(&run.plan.selector, i, number, g),
                None => selects_kind(&run.plan.selector, i, number, kind, Protocol::Ddi),
            },
            None => {
                let s = &run.plan.selector;
                s.kind.is_none()
                    && s.fraction.is_none()
                    && s.protocol.is_none_or(|p| p == Protocol::Ddi)
            }
        };
        if !selected {
            return false;
        }
        let p = &run.plan;
        let cid = &target.controller_id;
        let Some(action) = server.assign(now, p.dist, cid, p.kind, p.weight, p.window) else {
            return false;
        };
        run.actions.push((cid.clone(), action));
        true
    }

    /// Records a newly registered target and gives it the campaigns already
    /// started; true if it got any.
    fn register(&mut self, server: &mut Server, controller_id: String, now: Time) -> bool {
        let device = identify(&self.groups, &controller_id);
        tracing::debug!(%controller_id, ?device, "target registered");
        self.targets.push(Registered {
            controller_id,
            device,
        });
        let t = self.targets.len() - 1;
        let mut started: Vec<usize> = (0..self.campaigns.len())
            .filter(|&i| self.campaigns[i].phase == Phase::Started)
            .collect();
        started.sort_by_key(|&i| (self.campaigns[i].plan.at, i));
        let mut any = false;
        for i in started {
            any |= self.assign(server, i, t, now);
        }
        any
    }
}

/// Kind and number of a controller id `<group prefix><digits>`: the group
/// whose number range contains it, else the matching group with the longest prefix.
fn identify(groups: &[Group], controller_id: &str) -> Option<(DeviceKind, u64)> {
    let mut best: Option<(&Group, u64)> = None;
    for g in groups {
        let Some(digits) = controller_id.strip_prefix(g.prefix.as_str()) else {
            continue;
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(number) = digits.parse::<u64>() else {
            continue;
        };
        if number >= g.first && number - g.first < g.count {
            return Some((g.kind, number));
        }
        if best.is_none_or(|(b, _)| g.prefix.len() > b.prefix.len()) {
            best = Some((g, number));
        }
    }
    best.map(|(g, number)| (g.kind, number))
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
