//! What a driver does with the facts its devices observed: hash them into the
//! device's trace, hand them to the oracle, count phases and outcomes.

use super::Device;
use crate::stats::Stats;
use fleetsim_core::oracle::{Oracle, OracleConfig};
use fleetsim_core::protocol::constrained::{ConstrainedEvent, ConstrainedReq};
use fleetsim_core::protocol::ddi::{DdiEvent, Outcome, Phase};
use fleetsim_core::protocol::otau::wire::Status;
use fleetsim_core::protocol::otau::OtauEvent;
use fleetsim_core::time::Time;

/// The oracle, the statistics and the phase counts of a run.
pub struct Ledger {
    /// Scratch buffer for DDI client events (reused, never shrinks).
    pub(super) ddi_events: Vec<DdiEvent>,
    /// Scratch buffer for OTAU client events.
    pub(super) otau_events: Vec<OtauEvent>,
    /// Scratch buffer for CPG client events.
    pub(super) cpg_events: Vec<ConstrainedEvent>,
    /// Invariant checks.
    pub oracle: Oracle,
    /// Counters and histograms.
    pub stats: Stats,
    /// Devices per phase.
    pub phases: [u64; 7],
}

impl Ledger {
    /// Ledger for `devices` devices, all idle.
    pub fn new(config: OracleConfig, devices: usize) -> Ledger {
        let mut phases = [0; 7];
        phases[Phase::Idle as usize] = devices as u64;
        Ledger {
            ddi_events: Vec::new(),
            otau_events: Vec::new(),
            cpg_events: Vec::new(),
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
                DdiEvent::PhaseChanged(p) => self.enter_phase(d, Some(*p)),
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

    /// Records what OTAU device `d` observed at `now`: the same phases and
    /// outcomes as a DDI device (a manifest is its action; `INSTALLED_VERSION`
    /// after `INSTALL_SUCCESS` is success, an `*_ERROR` failure).
    pub fn record_otau(
        &mut self,
        d: &mut Device,
        now: Time,
        events: &[OtauEvent],
        mut trace: Option<&mut Vec<String>>,
    ) {
        for ev in events {
            d.trace.otau_event(now, ev);
            self.oracle
                .observe_otau(d.number, &d.controller_id, now, ev);
            let phase = match ev {
                OtauEvent::Offered { busy: false, .. } => {
                    d.assigned_at.get_or_insert(now);
                    None
                }
                OtauEvent::Started { .. } => Some(Phase::Downloading),
                OtauEvent::StatusAccepted { status, .. } => match status {
                    Status::Install => Some(Phase::Installing),
                    Status::InstalledVersion if d.phase == Phase::Installing => {
                        self.stats.ended(&Outcome::Success);
                        if d.converged_at.is_none() && d.assigned_at.is_some() {
                            d.converged_at = Some(now);
                        }
                        Some(Phase::Updated)
                    }
                    s if s.is_error() => {
                        self.stats.ended(&Outcome::Failure(s.as_str().to_string()));
                        Some(Phase::Failed)
                    }
                    _ => None,
                },
                _ => None,
            };
            self.enter_phase(d, phase);
            if let Some(t) = trace.as_deref_mut() {
                t.push(format!("{now:>14}    {ev:?}"));
            }
        }
    }

    /// Moves device `d` to `phase` (if any), keeping the phase counts.
    fn enter_phase(&mut self, d: &mut Device, phase: Option<Phase>) {
        if let Some(p) = phase.filter(|p| *p != d.phase) {
            self.phases[d.phase as usize] -= 1;
            self.phases[p as usize] += 1;
            d.phase = p;
        }
    }

    /// Records what constrained device `d` observed at `now`: a download
    /// is its "downloading" phase, a verified file "installing", and the
    /// result the gateway accepted ends the update.
    pub fn record_cpg(
        &mut self,
        d: &mut Device,
        now: Time,
        events: &[ConstrainedEvent],
        mut trace: Option<&mut Vec<String>>,
    ) {
        for ev in events {
            d.trace.text(&format!("{ev:?}"));
            self.oracle.observe_cpg(d.number, &d.controller_id, now, ev);
            let phase = match ev {
                ConstrainedEvent::Offered { .. } => {
                    d.assigned_at.get_or_insert(now);
                    None
                }
                ConstrainedEvent::Sent {
                    kind: ConstrainedReq::Download,
                } if d.phase != Phase::Downloading => Some(Phase::Downloading),
                ConstrainedEvent::Downloaded { .. } => Some(Phase::Installing),
                ConstrainedEvent::Reported { ok: true, .. } => {
                    self.stats.ended(&Outcome::Success);
                    if d.converged_at.is_none() && d.assigned_at.is_some() {
                        d.converged_at = Some(now);
                    }
                    Some(Phase::Updated)
                }
                ConstrainedEvent::Reported {
                    ok: false, detail, ..
                } => {
                    let why = detail.clone().unwrap_or_else(|| "failed".to_string());
                    self.stats.ended(&Outcome::Failure(why));
                    Some(Phase::Failed)
                }
                _ => None,
            };
            self.enter_phase(d, phase);
            if let Some(t) = trace.as_deref_mut() {
                t.push(format!("{now:>14}    {ev:?}"));
            }
        }
    }
}
