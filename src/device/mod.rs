//! A simulated device and the bookkeeping around it, shared by both drivers.
//!
//! A [`Device`] is a DDI client plus what makes it one particular device: its
//! number and controller id, its two random streams (decisions, link), the
//! phase of its online windows and its running trace hash. [`Books`] is what
//! a driver does with the facts a device observed: hash them into the trace,
//! hand them to the oracle, count phases and outcomes. The virtual engine and
//! the real-time driver differ only in how requests travel.

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::oracle::{Oracle, OracleConfig};
use crate::protocol::ddi::{ClientEnv, DdiClient, DdiEvent, Outcome, Phase};
use crate::sim::digest::{combine, TraceHash};
use crate::sim::rng::{stream, Purpose};
use crate::sim::setup::{Group, Setup};
use crate::sim::stats::Stats;
use crate::sim::RunResult;
use crate::time::{Span, Time};

/// One simulated device.
pub struct Device {
    /// Number in the fleet.
    pub number: u64,
    /// Controller id.
    pub controller_id: String,
    /// Fleet group index.
    pub group: u16,
    /// Coarse state, as last reported by the client.
    pub phase: Phase,
    /// The DDI client state machine.
    pub client: DdiClient,
    /// Stream for the device's own decisions.
    pub rng: ChaCha8Rng,
    /// Stream for its link (loss, latency, faults).
    pub link_rng: ChaCha8Rng,
    /// Offset of its online windows.
    pub window_phase: Span,
    /// Running trace hash.
    pub trace: TraceHash,
    /// When an update was first assigned (virtual) or offered (real).
    pub assigned_at: Option<Time>,
    /// When it first finished an update after that.
    pub converged_at: Option<Time>,
}

impl Device {
    /// Device `number` of group `group`, first acting at `first` if given,
    /// else within its first poll interval (always-on) or at its first online
    /// window (sleepy). All randomness comes from the device's own streams.
    pub fn new(setup: &Setup, group: usize, number: u64, seed: u64, first: Option<Time>) -> Device {
        let g = &setup.groups[group];
        let mut link_rng = stream(seed, number, Purpose::Link);
        let window_phase = g.link.draw_phase(&mut link_rng);
        let start = match first {
            Some(t) => t,
            None if g.link.online_until(Time::ZERO, Span::ZERO) == Some(Time::NEVER) => {
                // Always-on devices start spread over their first poll interval.
                Time(link_rng.gen_range(0..g.settings.default_poll.as_millis().max(1)))
            }
            None => g.link.next_online(Time::ZERO, window_phase),
        };
        Device {
            number,
            controller_id: setup.controller_id(number),
            group: group as u16,
            phase: Phase::Idle,
            client: DdiClient::new(start, &g.settings),
            rng: stream(seed, number, Purpose::Device),
            link_rng,
            window_phase,
            trace: TraceHash::default(),
            assigned_at: None,
            converged_at: None,
        }
    }
}

/// What a device's client needs to know about its server and group.
pub fn client_env<'a>(
    setup: &'a Setup,
    group: &'a Group,
    base_url: &'a str,
    tenant: &'a str,
    authorization: Option<&'a str>,
) -> ClientEnv<'a> {
    ClientEnv {
        base_url,
        tenant,
        authorization,
        catalog: setup.server.catalog(),
        settings: &group.settings,
    }
}

/// The oracle, the statistics and the phase counts of a run.
pub struct Books {
    /// Invariant checks.
    pub oracle: Oracle,
    /// Counters and histograms.
    pub stats: Stats,
    /// Devices per phase.
    pub phases: [u64; 7],
}

impl Books {
    /// Books for `devices` devices, all idle.
    pub fn new(config: OracleConfig, devices: usize) -> Books {
        let mut phases = [0; 7];
        phases[Phase::Idle as usize] = devices as u64;
        Books {
            oracle: Oracle::new(config, devices),
            stats: Stats::new(),
            phases,
        }
    }

    /// Records what device `d` (in slot `slot`) observed at `now`; appends a
    /// readable line per event to `trace` when given.
    pub fn record(
        &mut self,
        slot: usize,
        d: &mut Device,
        now: Time,
        events: &[DdiEvent],
        mut trace: Option<&mut Vec<String>>,
    ) {
        for ev in events {
            d.trace.event(now, ev);
            self.oracle
                .observe(slot, d.number, &d.controller_id, now, ev);
            match ev {
                DdiEvent::PhaseChanged(p) => {
                    self.phases[d.phase as usize] -= 1;
                    self.phases[*p as usize] += 1;
                    d.phase = *p;
                }
                DdiEvent::DeploymentSeen { .. } => {
                    d.assigned_at.get_or_insert(now);
                }
                DdiEvent::ActionEnded { outcome, .. } => {
                    self.stats.ended(outcome);
                    if *outcome == Outcome::Success
                        && d.converged_at.is_none()
                        && d.assigned_at.is_some()
                    {
                        d.converged_at = Some(now);
                    }
                }
                _ => {}
            }
            if let Some(t) = trace.as_deref_mut() {
                t.push(format!("{now:>14}    {ev:?}"));
            }
        }
    }

    /// The run's result over `devices` (in device-number order).
    pub fn into_result<'a>(
        self,
        devices: impl Iterator<Item = &'a Device>,
        events: u64,
        trace: Vec<String>,
        extra_counters: BTreeMap<&'static str, u64>,
    ) -> RunResult {
        let mut digests = Vec::new();
        let mut convergence = Vec::new();
        for d in devices {
            digests.push((d.number, d.trace));
            if let Some(a) = d.assigned_at {
                convergence.push(d.converged_at.map(|c| c.since(a)));
            }
        }
        let digest = combine(digests.iter().map(|(n, h)| (*n, h)));
        RunResult {
            targeted: convergence.len() as u64,
            convergence,
            stats: self.stats,
            oracle: self.oracle,
            digests,
            digest,
            phases: self.phases,
            trace,
            events,
            extra_counters,
            management: None,
        }
    }
}
