//! The campaign conductor of a real-time run against a managed server: at
//! each campaign's scenario time (the campaign director's timetable,
//! [`fleetsim_fleet::director::schedule`]) it asks the [`Manager`] to create
//! and assign it, at its cancel time to cancel it, every [`TICK`] to catch up with
//! devices the server learned of since, and after the run what the server
//! recorded per device. Runs as its own task beside the device driver, on
//! the same clock; a failed operation is logged in the run's
//! [`ManagementLog`] (and fails the verdict), it does not stop the fleet.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::driver::Driver;
use super::prepare::Managers;
use crate::management::ServerApi;
use crate::management::{
    CampaignLog, ManagementLog, Manager, Order, OrderKind, OrderWindow, Upload,
};
use fleetsim_core::oracle::{DeviceView, Installed};
use fleetsim_core::server::ActionType;
use fleetsim_core::time::{Span, Time};
use fleetsim_fleet::director::Step;
use fleetsim_fleet::result::RunResult;
use fleetsim_fleet::scenario::{Protocol, Scenario, WindowSpec};
use fleetsim_fleet::setup::{artifact_content, selects, Setup};

/// How often started campaigns are extended to newly known devices.
pub const TICK: Duration = Duration::from_secs(2);

/// Builds the orders of `scenario`'s campaigns: selected devices and the
/// artifacts' bytes (the same synthetic contents the embedded server serves).
/// Spans are in real time (scenario time divided by `scale`).
pub fn orders(scenario: &Scenario, setup: &Setup, scale: f64) -> Vec<Order> {
    let real = |s: Span| Span((s.as_millis() as f64 / scale) as u64);
    setup
        .campaigns
        .iter()
        .zip(scenario.campaigns.iter())
        .enumerate()
        .map(|(i, (plan, c))| {
            let targets = setup
                .groups
                .iter()
                .flat_map(|g| (g.first..g.first + g.count).map(move |n| (g, n)))
                .filter(|(g, n)| {
                    // OTAU and CPG devices get their updates from their own
                    // servers, not from a rollout.
                    g.protocol == Protocol::Ddi && selects(&plan.selector, i, *n, g)
                })
                .map(|(_, n)| setup.controller_id(n))
                .collect();
            let artifacts = c
                .artifacts
                .iter()
                .enumerate()
                .map(|(j, a)| {
                    let mut bytes = vec![0u8; a.size.0 as usize];
                    fleetsim_core::artifact::fill(artifact_content(i, j), 0, &mut bytes);
                    Upload {
                        filename: a.name.clone(),
                        bytes: Bytes::from(bytes),
                    }
                })
                .collect();
            let kind = match plan.kind {
                ActionType::Soft => OrderKind::Soft,
                ActionType::Forced => OrderKind::Forced,
                ActionType::TimeForced { force_at } => OrderKind::TimeForced {
                    force_after: real(force_at.since(plan.at)),
                },
                ActionType::DownloadOnly => OrderKind::DownloadOnly,
            };
            Order {
                index: i,
                name: plan.name.clone(),
                version: c.version.clone(),
                artifacts,
                kind,
                weight: plan.weight,
                window: c.maintenance_window.as_ref().map(|w| match w {
                    WindowSpec::Relative(w) => {
                        OrderWindow::After(real(w.start_after.0), real(w.duration.0))
                    }
                    WindowSpec::Recurring(w) => OrderWindow::Cron {
                        schedule: w.schedule.clone(),
                        duration: w.duration.clone(),
                        timezone: w.timezone.clone(),
                    },
                }),
                targets,
                confirmation_required: None,
            }
        })
        .collect()
}

/// Scenario time on a real-time clock: started at `.0`, `.1` times faster.
#[derive(Clone, Copy)]
struct Clock(Instant, f64);

impl Clock {
    fn instant_of(self, t: Time) -> Option<Instant> {
        let real = Duration::try_from_secs_f64(t.as_millis() as f64 / 1000.0 / self.1).ok()?;
        self.0.checked_add(real)
    }

    fn now(self) -> Time {
        Time((self.0.elapsed().as_secs_f64() * 1000.0 * self.1) as u64)
    }
}

/// `orders` with only the targets in tenant `tenant` (a group without its
/// own tenant is in the run's `default`): what that tenant's manager carries out.
pub fn orders_in(orders: &[Order], setup: &Setup, default: &str, tenant: &str) -> Vec<Order> {
    let ours: std::collections::BTreeSet<String> = setup
        .groups
        .iter()
        .filter(|g| g.tenant_or(default) == tenant)
        .flat_map(|g| (g.first..g.first + g.count).map(|n| setup.controller_id(n)))
        .collect();
    orders
        .iter()
        .map(|o| Order {
            targets: o
                .targets
                .iter()
                .filter(|t| ours.contains(*t))
                .cloned()
                .collect(),
            ..o.clone()
        })
        .collect()
}

/// One log from the logs of the tenants' conductors: per campaign, targets
/// and recorded states add up and the earliest start and cancel count;
/// errors keep their order, named by tenant when there are several.
pub fn merge(logs: Vec<(String, ManagementLog)>, name_tenants: bool) -> Option<ManagementLog> {
    let mut logs = logs.into_iter();
    let (first_tenant, mut merged) = logs.next()?;
    let named = |tenant: &str, e: String| match name_tenants {
        true => format!("tenant {tenant}: {e}"),
        false => e,
    };
    merged.errors = std::mem::take(&mut merged.errors)
        .into_iter()
        .map(|e| named(&first_tenant, e))
        .collect();
    for (tenant, log) in logs {
        for (into, c) in merged.campaigns.iter_mut().zip(log.campaigns) {
            into.targets += c.targets;
            into.started_at_ms = min_some(into.started_at_ms, c.started_at_ms);
            into.canceled_at_ms = min_some(into.canceled_at_ms, c.canceled_at_ms);
            for (state, n) in c.recorded {
                *into.recorded.entry(state).or_insert(0) += n;
            }
        }
        merged
            .errors
            .extend(log.errors.into_iter().map(|e| named(&tenant, e)));
    }
    Some(merged)
}

fn min_some(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Carries out `orders` on `manager` at the scenario times of `steps` until
/// `stop` turns true, then reads back what the server recorded: counts for
/// the log, and per device the view the oracle checks ([`ServerViews`]).
pub async fn conduct(
    mut manager: Manager,
    api: &'static str,
    orders: Vec<Order>,
    steps: Vec<Step>,
    clock: (Instant, f64),
    mut stop: watch::Receiver<bool>,
) -> (ManagementLog, ServerViews) {
    let clock = Clock(clock.0, clock.1);
    let mut log = ManagementLog {
        api,
        campaigns: orders
            .iter()
            .map(|o| CampaignLog {
                name: o.name.clone(),
                targets: o.targets.len() as u64,
                ..CampaignLog::default()
            })
            .collect(),
        errors: Vec::new(),
    };
    let mut steps = steps.into_iter().peekable();
    let mut next_tick = Instant::now() + TICK;
    let mut any_started = false;
    loop {
        let step_at = steps.peek().and_then(|s| clock.instant_of(s.at));
        let wake = step_at.map_or(next_tick, |s| s.min(next_tick));
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
                continue;
            }
        }
        if *stop.borrow() {
            break;
        }
        if step_at.is_some_and(|s| s <= Instant::now()) {
            let Some(step) = steps.next() else {
                continue;
            };
            any_started |= take_step(&mut manager, &orders, step, clock.now(), &mut log).await;
        } else if Instant::now() >= next_tick {
            next_tick = Instant::now() + TICK;
            if any_started {
                if let Err(e) = manager.tick().await {
                    let at = clock.now();
                    tracing::warn!("catching up campaigns: {e}");
                    log.errors
                        .push(format!("at {}: catching up campaigns: {e}", fmt_time(at)));
                }
            }
        }
    }
    let views = read_back(&mut manager, &orders, &mut log).await;
    (log, views)
}

/// Starts or cancels a campaign at scenario time `at`, logging the outcome;
/// true when a campaign started.
async fn take_step(
    manager: &mut Manager,
    orders: &[Order],
    step: Step,
    at: Time,
    log: &mut ManagementLog,
) -> bool {
    let i = step.campaign;
    let mut started = false;
    let result = if step.cancel {
        let r = manager.cancel(i).await;
        if r.is_ok() {
            log.campaigns[i].canceled_at_ms = Some(at.as_millis());
        }
        r.map_err(|e| format!("canceling campaign {}: {e}", orders[i].name))
    } else {
        let r = manager.start(&orders[i]).await;
        if r.is_ok() {
            log.campaigns[i].started_at_ms = Some(at.as_millis());
            started = true;
        }
        r.map_err(|e| format!("starting campaign {}: {e}", orders[i].name))
    };
    if let Err(e) = result {
        tracing::warn!("{e}");
        log.errors.push(format!("at {}: {e}", fmt_time(at)));
    }
    started
}

/// What the server records for each device after the run, by controller id.
pub type ServerViews = BTreeMap<String, DeviceView>;

/// After the run: what the server recorded per device, for every campaign
/// that started, and each selected device's installed set.
async fn read_back(
    manager: &mut Manager,
    orders: &[Order],
    log: &mut ManagementLog,
) -> ServerViews {
    let mut views = ServerViews::new();
    for (i, o) in orders.iter().enumerate() {
        if log.campaigns[i].started_at_ms.is_none() {
            continue;
        }
        match manager.recorded(i, &o.targets).await {
            Ok(states) => {
                let mut counts = BTreeMap::new();
                for (id, view) in o.targets.iter().zip(states) {
                    *counts.entry(view.recorded.as_str()).or_insert(0) += 1;
                    views
                        .entry(id.clone())
                        .or_insert_with(unknown_view)
                        .campaigns
                        .push(view);
                }
                log.campaigns[i].recorded = counts;
            }
            Err(e) => log.errors.push(format!(
                "after the run: reading what the server recorded for {}: {e}",
                o.name
            )),
        }
    }
    let ids: Vec<String> = views.keys().cloned().collect();
    match manager.installed(&ids).await {
        Ok(sets) => {
            for (id, set) in ids.iter().zip(sets) {
                if let Some(v) = views.get_mut(id) {
                    v.installed = set;
                }
            }
        }
        Err(e) => log
            .errors
            .push(format!("after the run: reading the installed sets: {e}")),
    }
    views
}

fn unknown_view() -> DeviceView {
    DeviceView {
        campaigns: Vec::new(),
        installed: Installed::Unknown,
    }
}

/// The conductors of a managed run, one per tenant, and what the check
/// after the run needs.
pub(super) struct Conductors {
    tenants: usize,
    tasks: Vec<(String, JoinHandle<(ManagementLog, ServerViews)>)>,
    /// Slot and device number by controller id.
    slots: BTreeMap<String, (usize, u64)>,
    /// The run's end, when the server's record is checked.
    end: Time,
}

/// Starts one conductor per tenant of `managers` on the driver's clock,
/// stopping when `stopped` turns true, and has the oracle book how each
/// device's actions end (for the check after the run).
pub(super) fn spawn(
    managers: Managers,
    api: ServerApi,
    scenario: &Scenario,
    driver: &mut Driver,
    reach_tenant: &str,
    stopped: watch::Receiver<bool>,
) -> Conductors {
    let scale = driver.scale;
    let orders = orders(scenario, &driver.setup, scale);
    let steps = fleetsim_fleet::director::schedule(&driver.setup.campaigns);
    let clock = (driver.started, scale);
    let tenants = managers.len();
    let tasks = managers.into_iter().map(|(tenant, m)| {
        let own = orders_in(&orders, &driver.setup, reach_tenant, &tenant);
        let steps = steps.clone();
        let task = tokio::spawn(conduct(m, api.as_str(), own, steps, clock, stopped.clone()));
        (tenant, task)
    });
    let tasks = tasks.collect();
    driver.ledger.oracle.keep_outcomes();
    Conductors {
        tenants,
        tasks,
        slots: device_slots(&driver.devices),
        end: Time(scenario.duration.0.as_millis()),
    }
}

impl Conductors {
    /// Waits for the conductors (stopped with the fleet), checks each
    /// tenant's server record against the devices and puts the merged log
    /// into `result`.
    pub(super) async fn finish(self, result: &mut RunResult) {
        let mut logs = Vec::new();
        for (tenant, task) in self.tasks {
            if let Ok((log, views)) = task.await {
                check_server_views(result, &self.slots, self.end, &views);
                logs.push((tenant, log));
            }
        }
        result.management = merge(logs, self.tenants > 1);
    }
}

/// Slot and number of each device, by controller id.
fn device_slots(devices: &[fleetsim_fleet::device::Device]) -> BTreeMap<String, (usize, u64)> {
    let slots = devices.iter().enumerate();
    slots
        .map(|(slot, d)| (d.controller_id.to_string(), (slot, d.number)))
        .collect()
}

/// Checks what the server records for each device (MGMT-OUTCOME,
/// MGMT-INSTALLED) against the final reports it accepted from it.
fn check_server_views(
    result: &mut RunResult,
    slots: &BTreeMap<String, (usize, u64)>,
    end: Time,
    views: &ServerViews,
) {
    let mut checked = 0;
    for (id, view) in views {
        if let Some((slot, number)) = slots.get(id) {
            result
                .oracle
                .check_server_view(*slot, *number, id, end, view);
            checked += 1;
        }
    }
    let counter = result.extra_counters.entry("server_views_checked");
    *counter.or_insert(0) += checked;
}

fn fmt_time(t: Time) -> String {
    fleetsim_fleet::scenario::units::format_duration(Span(t.as_millis()))
}
