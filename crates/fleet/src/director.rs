//! The campaign director: when each of a scenario's campaigns starts and is
//! canceled, which targets it selects, and what it asks of the server cores
//! (DDI assignments and cancels, OTAU contents and `config_otau` manifests,
//! install commands on the constrained-device gateway). The virtual engine
//! and `fleetsim serve` both carry campaigns out through it; the real-time
//! driver takes its timetable ([`schedule`]) for a managed server.
//!
//! Sans-IO: the driver hands [`Director::poll`] the time and the cores (a
//! [`Stage`]); the director makes one change per call and says what it did
//! (an [`Effect`]), so that the driver can follow each change with its own
//! bookkeeping (the engine's traces, oracle and event queue; `serve`'s MQTT
//! notifications) before the next. [`Director::poll_timeout`] says when it
//! next has something to do.
//!
//! The two drivers differ only in whom they hand the director:
//! - the virtual engine: its simulated devices, all known from the start,
//!   each reached over its group's protocol ([`Target::device`]);
//! - `serve`: the OTAU and constrained devices of the scenario (their
//!   servers know them by number), plus every DDI target that registers
//!   itself while the server runs ([`Director::register`]), which then gets
//!   every campaign already started and not yet canceled.

use crate::scenario::{DeviceKind, Protocol, Selector};
use crate::setup::{selects, selects_kind, CampaignPlan, Group, Setup};
use fleetsim_core::server::constrained::ConstrainedGateway;
use fleetsim_core::server::otau::OtauServer;
use fleetsim_core::server::{ActionId, Tenants};
use fleetsim_core::time::Time;

/// What the director works on: the campaigns and groups of a scenario and
/// the server cores that carry the campaigns out.
pub struct Stage<'a> {
    /// The campaigns, in scenario order.
    pub campaigns: &'a [CampaignPlan],
    /// The fleet groups, in fleet order.
    pub groups: &'a [Group],
    /// The DDI server core, every tenant.
    pub server: &'a mut Tenants,
    /// The OTAU server core.
    pub otau: &'a mut OtauServer,
    /// The constrained-device gateway.
    pub gateway: &'a mut ConstrainedGateway,
}

impl<'a> Stage<'a> {
    /// The campaigns, groups and cores of `setup`.
    pub fn of(setup: &'a mut Setup) -> Stage<'a> {
        Stage {
            campaigns: &setup.campaigns,
            groups: &setup.groups,
            server: &mut setup.server,
            otau: &mut setup.otau,
            gateway: &mut setup.sidekick,
        }
    }
}

/// What a campaign's selector knows of a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// Device `number` of the fleet group at index `group`.
    Member {
        /// Device number.
        number: u64,
        /// Index of its group.
        group: usize,
    },
    /// A DDI target whose id implies a kind and a number outside every group.
    Kind {
        /// The kind of the group whose id prefix it carries.
        kind: DeviceKind,
        /// The number its id ends with.
        number: u64,
    },
    /// A DDI target whose id names no fleet device.
    Unknown,
}

/// How campaigns reach a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Channel {
    /// DDI assignments to this controller id.
    Ddi(String),
    /// The `config_otau` manifest of OTAU device `number`.
    Otau(u64),
    /// Install commands to this twin of the constrained-device gateway.
    Constrained {
        /// The device's twin on the gateway.
        twin: usize,
    },
    /// None: an edge gateway's twin side (seed 002); campaigns reach a
    /// gateway through its DDI controller ([`crate::gateway_ddi`]).
    Unreachable,
}

/// Someone campaigns are carried out for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// What selectors see.
    pub identity: Identity,
    /// How a campaign reaches it.
    pub channel: Channel,
}

impl Target {
    /// Device `number` of group `group`, reached over its group's protocol;
    /// `controller_id` names it to the DDI server (asked for DDI devices only).
    pub fn device(
        groups: &[Group],
        group: usize,
        number: u64,
        controller_id: impl FnOnce() -> String,
    ) -> Target {
        let g = &groups[group];
        let channel = if g.protocol.is_otau() {
            Channel::Otau(number)
        } else if g.protocol == Protocol::Cpg {
            Channel::Constrained {
                twin: g.twin_base + (number - g.first) as usize,
            }
        } else if g.protocol == Protocol::Ditto {
            Channel::Unreachable
        } else {
            Channel::Ddi(controller_id())
        };
        Target {
            identity: Identity::Member { number, group },
            channel,
        }
    }

    /// A DDI target that registered itself as `controller_id`.
    ///
    /// The server does not know device kinds: an id `<prefix><digits>` takes
    /// the number it ends with and the kind of the fleet group with that
    /// `id_prefix` (see [`identify`]); the target is then selected as the
    /// device of that number (of the group whose numbers contain it, if
    /// any). Other ids are selected only by campaigns whose `targets` name
    /// neither kind nor fraction.
    pub fn registered(groups: &[Group], controller_id: String) -> Target {
        let contains = |g: &&Group, n: u64| g.first <= n && n < g.first + g.count;
        let companion =
            crate::gateway_ddi::identify_controller(groups, &controller_id).and_then(|n| {
                let g = groups.iter().find(|g| contains(g, n))?;
                Some((g.kind, n))
            });
        let identity = match companion.or_else(|| identify(groups, &controller_id)) {
            Some((kind, number)) => match groups.iter().position(|g| contains(&g, number)) {
                Some(group) => Identity::Member { number, group },
                None => Identity::Kind { kind, number },
            },
            None => Identity::Unknown,
        };
        Target {
            identity,
            channel: Channel::Ddi(controller_id),
        }
    }

    /// Whether campaign `campaign` (with `selector`) selects this target.
    fn selected_by(&self, selector: &Selector, campaign: usize, groups: &[Group]) -> bool {
        match self.identity {
            Identity::Member { number, group } => {
                selects(selector, campaign, number, &groups[group])
            }
            Identity::Kind { kind, number } => {
                selects_kind(selector, campaign, number, kind, Protocol::Ddi)
            }
            Identity::Unknown => {
                selector.kind.is_none()
                    && selector.fraction.is_none()
                    && selector.edge != Some(true)
                    && selector.protocol.is_none_or(|p| p == Protocol::Ddi)
            }
        }
    }
}

/// The OTAU and constrained devices of `groups`, in device order: their
/// servers know them from the scenario (numbers, CIKs, twins), so `serve`
/// hands them to the director without waiting for a registration.
pub fn scenario_devices(groups: &[Group]) -> Vec<Target> {
    let mut targets = Vec::new();
    for (gi, g) in groups.iter().enumerate() {
        if g.protocol.is_otau() || g.protocol == Protocol::Cpg {
            for n in g.first..g.first + g.count {
                targets.push(Target::device(groups, gi, n, String::new));
            }
        }
    }
    targets
}

/// A campaign start or cancel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// When.
    pub at: Time,
    /// Index of the campaign.
    pub campaign: usize,
    /// A cancel (else a start).
    pub cancel: bool,
}

/// Every start and cancel of `campaigns`, in the order they are carried
/// out: by time, then campaign index, a start before a cancel.
pub fn schedule(campaigns: &[CampaignPlan]) -> Vec<Step> {
    let mut steps = Vec::new();
    for (i, c) in campaigns.iter().enumerate() {
        steps.push(Step {
            at: c.at,
            campaign: i,
            cancel: false,
        });
        if let Some(at) = c.cancel_at {
            steps.push(Step {
                at,
                campaign: i,
                cancel: true,
            });
        }
    }
    // `cancel_at` never precedes `at`, so a campaign's start sorts before its cancel.
    steps.sort_by_key(|s| (s.at, s.campaign, s.cancel));
    steps
}

/// One change the director made, for the driver to follow up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// A campaign starts (its OTAU contents are uploaded); its targets follow.
    Started {
        /// Index of the campaign.
        campaign: usize,
    },
    /// A campaign was assigned to a DDI target it selects (`action`: the
    /// action the server created, `None` when it created none).
    Assigned {
        /// Index of the campaign.
        campaign: usize,
        /// Index of the target.
        target: usize,
        /// The action created.
        action: Option<ActionId>,
    },
    /// A campaign wrote the `config_otau` manifest of OTAU device `number`.
    ManifestWritten {
        /// Index of the campaign.
        campaign: usize,
        /// Index of the target.
        target: usize,
        /// The device.
        number: u64,
    },
    /// A campaign gave its install command to a constrained device's twin.
    Installed {
        /// Index of the campaign.
        campaign: usize,
        /// Index of the target.
        target: usize,
    },
    /// A campaign is canceled; the cancels of its `actions` follow.
    Canceling {
        /// Index of the campaign.
        campaign: usize,
        /// How many actions it created.
        actions: usize,
    },
    /// One action of a canceled campaign was canceled.
    Canceled {
        /// Index of the campaign.
        campaign: usize,
        /// Index of the target.
        target: usize,
        /// The action.
        action: ActionId,
    },
}

/// The step under way.
#[derive(Debug)]
enum Work {
    /// Going through the targets of a starting campaign; `next` is the next one.
    Start { campaign: usize, next: usize },
    /// Canceling the actions of a campaign.
    Cancel {
        campaign: usize,
        actions: std::vec::IntoIter<(usize, ActionId)>,
    },
}

/// The campaign director of one run (see the module doc).
#[derive(Debug, Default)]
pub struct Director {
    /// The timetable ([`schedule`]).
    steps: Vec<Step>,
    /// Index of the next step in `steps`.
    next: usize,
    /// The step under way, if any.
    work: Option<Work>,
    /// The targets, in the order campaigns go through them.
    targets: Vec<Target>,
    /// Campaigns started and not canceled, in start order.
    live: Vec<usize>,
    /// Per campaign: `(target, action)` of every assignment, for the cancel.
    actions: Vec<Vec<(usize, ActionId)>>,
}

impl Director {
    /// The director of `campaigns` for `targets` (more may register later).
    pub fn new(campaigns: &[CampaignPlan], targets: Vec<Target>) -> Director {
        Director {
            steps: schedule(campaigns),
            next: 0,
            work: None,
            targets,
            live: Vec::new(),
            actions: vec![Vec::new(); campaigns.len()],
        }
    }

    /// True when the scenario has campaigns (registrations only matter then).
    pub fn has_campaigns(&self) -> bool {
        !self.actions.is_empty()
    }

    /// The timetable: every start and cancel, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// When [`Director::poll`] next has something to do (`Time::NEVER`: never).
    pub fn poll_timeout(&self) -> Time {
        if self.work.is_some() {
            return Time::ZERO;
        }
        self.steps.get(self.next).map_or(Time::NEVER, |s| s.at)
    }

    /// The targets, in the order they were handed over or registered.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// Makes the next change due by `now` on the cores of `stage` and says
    /// what it was; `None` when nothing more is due. Steps run in timetable
    /// order, each to its end before the next begins.
    pub fn poll(&mut self, now: Time, stage: &mut Stage<'_>) -> Option<Effect> {
        loop {
            match self.work.take() {
                Some(Work::Start { campaign, next }) => {
                    for t in next..self.targets.len() {
                        if let Some(effect) = self.deliver(campaign, t, now, stage) {
                            let next = t + 1;
                            self.work = Some(Work::Start { campaign, next });
                            return Some(effect);
                        }
                    }
                }
                Some(Work::Cancel {
                    campaign,
                    mut actions,
                }) => {
                    if let Some((target, action)) = actions.next() {
                        if let Channel::Ddi(id) = &self.targets[target].channel {
                            stage.server.cancel(now, id, action, false);
                        }
                        self.work = Some(Work::Cancel { campaign, actions });
                        return Some(Effect::Canceled {
                            campaign,
                            target,
                            action,
                        });
                    }
                }
                None => return self.begin_step(now, stage),
            }
        }
    }

    /// Begins the next step if it is due by `now`.
    fn begin_step(&mut self, now: Time, stage: &mut Stage<'_>) -> Option<Effect> {
        let step = *self.steps.get(self.next).filter(|s| s.at <= now)?;
        self.next += 1;
        let campaign = step.campaign;
        if step.cancel {
            self.live.retain(|&c| c != campaign);
            let actions = std::mem::take(&mut self.actions[campaign]);
            let count = actions.len();
            self.work = Some(Work::Cancel {
                campaign,
                actions: actions.into_iter(),
            });
            return Some(Effect::Canceling {
                campaign,
                actions: count,
            });
        }
        self.live.push(campaign);
        // Without OTAU devices nobody can fetch the contents.
        if stage.groups.iter().any(|g| g.protocol.is_otau()) {
            stage.campaigns[campaign].upload_contents(stage.otau, now);
        }
        self.work = Some(Work::Start { campaign, next: 0 });
        Some(Effect::Started { campaign })
    }

    /// Carries campaign `campaign` out for target `t` if it selects it; what
    /// changed, if anything did.
    fn deliver(
        &mut self,
        campaign: usize,
        t: usize,
        now: Time,
        stage: &mut Stage<'_>,
    ) -> Option<Effect> {
        let plan = &stage.campaigns[campaign];
        let target = &self.targets[t];
        if !target.selected_by(&plan.selector, campaign, stage.groups) {
            return None;
        }
        match &target.channel {
            Channel::Ddi(id) => {
                let action = stage.server.assign(
                    now,
                    plan.dist,
                    id,
                    plan.kind,
                    plan.weight,
                    plan.window.clone(),
                );
                if let Some(a) = action {
                    self.actions[campaign].push((t, a));
                }
                Some(Effect::Assigned {
                    campaign,
                    target: t,
                    action,
                })
            }
            Channel::Otau(number) => {
                let written = stage.otau.set_manifest(*number, plan.manifest.clone(), now);
                written.then_some(Effect::ManifestWritten {
                    campaign,
                    target: t,
                    number: *number,
                })
            }
            Channel::Unreachable => None,
            Channel::Constrained { twin } => {
                let command = plan.command?;
                stage.gateway.faults = stage.server.sidekick_faults_at(now).1;
                stage.gateway.install(now, *twin, command);
                Some(Effect::Installed {
                    campaign,
                    target: t,
                })
            }
        }
    }

    /// Adds `target`, which registered itself at `now`, and gives it every
    /// campaign already started and not yet canceled, in start order (a
    /// device pointed at `serve` after a campaign's time expects the
    /// update). Returns its index and whether it got an assignment.
    pub fn register(&mut self, target: Target, now: Time, stage: &mut Stage<'_>) -> (usize, bool) {
        self.targets.push(target);
        let t = self.targets.len() - 1;
        let mut any = false;
        for c in self.live.clone() {
            let effect = self.deliver(c, t, now, stage);
            any |= matches!(
                effect,
                Some(Effect::Assigned {
                    action: Some(_),
                    ..
                })
            );
        }
        (t, any)
    }
}

/// Kind and number of a controller id `<group prefix><digits>`: the group
/// whose number range contains it, else the matching group with the longest prefix.
pub fn identify(groups: &[Group], controller_id: &str) -> Option<(DeviceKind, u64)> {
    let mut best: Option<(&Group, u64)> = None;
    // A gateway's own controller has its gateway's id and number.
    for g in groups.iter().filter(|g| g.companion.is_none()) {
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
mod tests {
    use super::*;

    const SCENARIO: &str = "
name: t
duration: 1d
fleet:
  - { kind: always_on, count: 2 }
  - { kind: always_on, protocol: otau, count: 1 }
campaigns:
  - { name: a, at: 2h, artifacts: [ { name: a.bin, size: 1KiB } ], cancel_after: 1h }
  - { name: b, at: 1h, artifacts: [ { name: b.bin, size: 1KiB } ], cancel_after: 2h }
";

    fn setup() -> Setup {
        let scenario = crate::scenario::load_str("t.yaml", SCENARIO).expect("scenario");
        Setup::new(&scenario)
    }

    fn effects(director: &mut Director, setup: &mut Setup, now: Time) -> Vec<Effect> {
        std::iter::from_fn(|| director.poll(now, &mut Stage::of(setup))).collect()
    }

    #[test]
    fn steps_run_by_time_then_campaign_start_before_cancel() {
        let setup = setup();
        let order: Vec<(u64, usize, bool)> = schedule(&setup.campaigns)
            .iter()
            .map(|s| (s.at.as_millis() / 3_600_000, s.campaign, s.cancel))
            .collect();
        assert_eq!(
            order,
            [(1, 1, false), (2, 0, false), (3, 0, true), (3, 1, true)]
        );
    }

    #[test]
    fn campaigns_reach_devices_and_late_targets_then_cancel() {
        let mut setup = setup();
        let hour = Time(3_600_000);
        let ddi = |n: u64| Target::device(&setup.groups, 0, n, || format!("d-{n}"));
        let targets = vec![ddi(0), Target::device(&setup.groups, 1, 2, String::new)];
        for n in 0..2 {
            setup
                .server
                .register_target("DEFAULT", &format!("d-{n}"), n, None);
        }
        let mut director = Director::new(&setup.campaigns, targets);
        assert_eq!(director.poll_timeout(), hour);
        assert!(effects(&mut director, &mut setup, Time(1)).is_empty());
        let started = effects(&mut director, &mut setup, hour);
        assert_eq!(started[0], Effect::Started { campaign: 1 });
        assert!(matches!(
            started[1],
            Effect::Assigned {
                target: 0,
                action: Some(_),
                ..
            }
        ));
        assert!(matches!(
            started[2],
            Effect::ManifestWritten { number: 2, .. }
        ));
        assert_eq!(started.len(), 3);
        // A target registering later gets the started campaign at once.
        let late = Target::device(&setup.groups, 0, 1, || "d-1".into());
        let (t, assigned) = director.register(late, hour, &mut Stage::of(&mut setup));
        assert_eq!((t, assigned), (2, true));
        let canceled = effects(&mut director, &mut setup, Time(3 * hour.as_millis()));
        let cancels = canceled
            .iter()
            .filter(|e| matches!(e, Effect::Canceled { campaign: 1, .. }));
        assert_eq!(cancels.count(), 2);
        assert_eq!(director.poll_timeout(), Time::NEVER);
    }
}
