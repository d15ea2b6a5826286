//! The campaign conductor of a real-time run against a managed server: at
//! each campaign's scenario time it asks the [`Manager`] to create and assign
//! it, at its cancel time to cancel it, every [`TICK`] to catch up with
//! devices the server learned of since, and after the run what the server
//! recorded per device. Runs as its own task beside the device driver, on
//! the same clock; a failed operation is logged in the run's
//! [`ManagementLog`] (and fails the verdict), it does not stop the fleet.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::management::{CampaignLog, ManagementLog, Manager, Order, OrderKind, Upload};
use fleetsim_core::server::ActionType;
use fleetsim_core::time::{Span, Time};
use fleetsim_fleet::scenario::{Protocol, Scenario};
use fleetsim_fleet::setup::{artifact_content, selects, Setup};

/// How often started campaigns are extended to newly known devices.
pub const TICK: Duration = Duration::from_secs(2);

enum Step {
    Start(usize),
    Cancel(usize),
}

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
                window: plan
                    .window
                    .map(|w| (real(w.start.since(plan.at)), real(w.duration))),
                targets,
            }
        })
        .collect()
}

/// Carries out `orders` on `manager` at their scenario times until `stop`
/// turns true, then reads back what the server recorded.
pub async fn conduct(
    mut manager: Manager,
    api: &'static str,
    orders: Vec<Order>,
    setup_times: Vec<(Time, Option<Time>)>,
    clock: (Instant, f64),
    mut stop: watch::Receiver<bool>,
) -> ManagementLog {
    let (started, scale) = clock;
    let instant_of = |t: Time| {
        Duration::try_from_secs_f64(t.as_millis() as f64 / 1000.0 / scale)
            .ok()
            .and_then(|d| started.checked_add(d))
    };
    let now = || Time((started.elapsed().as_secs_f64() * 1000.0 * scale) as u64);
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
    let mut steps: Vec<(Time, Step)> = Vec::new();
    for (i, (at, cancel_at)) in setup_times.iter().enumerate() {
        steps.push((*at, Step::Start(i)));
        if let Some(c) = cancel_at {
            steps.push((*c, Step::Cancel(i)));
        }
    }
    // Stable: a start comes before a cancel due at the same time.
    steps.sort_by_key(|(t, _)| *t);
    let mut steps = steps.into_iter().peekable();
    let mut next_tick = Instant::now() + TICK;
    let mut any_started = false;
    loop {
        let step_at = steps.peek().and_then(|(t, _)| instant_of(*t));
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
            let Some((_, step)) = steps.next() else {
                continue;
            };
            let at = now();
            let result = match step {
                Step::Start(i) => {
                    let r = manager.start(&orders[i]).await;
                    if r.is_ok() {
                        log.campaigns[i].started_at_ms = Some(at.as_millis());
                        any_started = true;
                    }
                    r.map_err(|e| format!("starting campaign {}: {e}", orders[i].name))
                }
                Step::Cancel(i) => {
                    let r = manager.cancel(i).await;
                    if r.is_ok() {
                        log.campaigns[i].canceled_at_ms = Some(at.as_millis());
                    }
                    r.map_err(|e| format!("canceling campaign {}: {e}", orders[i].name))
                }
            };
            if let Err(e) = result {
                tracing::warn!("{e}");
                log.errors.push(format!("at {}: {e}", fmt_time(at)));
            }
        } else if Instant::now() >= next_tick {
            next_tick = Instant::now() + TICK;
            if any_started {
                if let Err(e) = manager.tick().await {
                    let at = now();
                    tracing::warn!("catching up campaigns: {e}");
                    log.errors
                        .push(format!("at {}: catching up campaigns: {e}", fmt_time(at)));
                }
            }
        }
    }
    for (i, o) in orders.iter().enumerate() {
        if log.campaigns[i].started_at_ms.is_none() {
            continue;
        }
        match manager.recorded(i, &o.targets).await {
            Ok(states) => {
                let mut counts = BTreeMap::new();
                for s in states {
                    *counts.entry(s.as_str()).or_insert(0) += 1;
                }
                log.campaigns[i].recorded = counts;
            }
            Err(e) => log.errors.push(format!(
                "after the run: reading what the server recorded for {}: {e}",
                o.name
            )),
        }
    }
    log
}

fn fmt_time(t: Time) -> String {
    fleetsim_fleet::scenario::units::format_duration(Span(t.as_millis()))
}
