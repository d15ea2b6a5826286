//! What a driver does with the facts its devices observed: hash them into the
//! device's trace, hand them to the oracle, count phases and outcomes, and
//! (when a device is followed) tell them as sentences.

use super::scratch::Scratch;
use super::trace::TraceSink;
use super::Device;
use crate::digest::{Describe, Encode};
use crate::stats::Stats;
use fleetsim_core::oracle::{Oracle, OracleConfig};
use fleetsim_core::protocol::constrained::{ConstrainedEvent, ConstrainedReq};
use fleetsim_core::protocol::ddi::{DdiEvent, Outcome, Phase};
use fleetsim_core::protocol::edge::EdgeEvent;
use fleetsim_core::protocol::otau::wire::Status;
use fleetsim_core::protocol::otau::OtauEvent;
use fleetsim_core::time::Time;

/// What the ledger does with one kind of observation: hand it to the oracle,
/// move the device's phase, count outcomes. (Hashing and telling it are
/// [`Encode`] and [`Describe`].)
pub trait Observation: Encode + Describe + Clone + PartialEq + Send + Sync + 'static {
    /// Books the observation device `d` (in slot `slot`) made at `now`.
    fn book(&self, ledger: &mut Ledger, slot: usize, d: &mut Device, now: Time);
}

/// The oracle, the statistics and the phase counts of a run.
pub struct Ledger {
    /// Reused client event buffers.
    pub(super) scratch: Scratch,
    /// Invariant checks.
    pub oracle: Oracle,
    /// Counters and histograms.
    pub stats: Stats,
    /// Devices per phase.
    pub phases: [u64; 7],
    /// Edge gateways' figures.
    pub twin: crate::edge::stats::TwinStats,
}

impl Ledger {
    /// Ledger for `devices` devices, all idle.
    pub fn new(config: OracleConfig, devices: usize) -> Ledger {
        let mut phases = [0; 7];
        phases[Phase::Idle as usize] = devices as u64;
        Ledger {
            scratch: Scratch::default(),
            oracle: Oracle::new(config, devices),
            stats: Stats::new(),
            phases,
            twin: Default::default(),
        }
    }

    /// Records what device `d` (in slot `slot`) observed at `now`: into its
    /// trace hash, the oracle and the counts; hands each event to `trace`
    /// when given.
    pub fn record<E: Observation>(
        &mut self,
        slot: usize,
        d: &mut Device,
        now: Time,
        events: &[E],
        mut trace: Option<&mut dyn TraceSink>,
    ) {
        for ev in events {
            ev.encode(now, &mut d.trace);
            ev.book(self, slot, d, now);
            if let Some(t) = trace.as_deref_mut() {
                t.observed(now, ev);
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

    /// Device `d` finished an update at `now`.
    fn succeeded(&mut self, d: &mut Device, now: Time) {
        self.stats.ended(&Outcome::Success);
        if d.converged_at.is_none() && d.assigned_at.is_some() {
            d.converged_at = Some(now);
        }
    }
}

impl Observation for DdiEvent {
    fn book(&self, ledger: &mut Ledger, slot: usize, d: &mut Device, now: Time) {
        ledger
            .oracle
            .observe(slot, d.number, &d.controller_id, now, self);
        match self {
            DdiEvent::PhaseChanged(p) => ledger.enter_phase(d, Some(*p)),
            DdiEvent::DeploymentSeen { .. } => {
                d.assigned_at.get_or_insert(now);
            }
            DdiEvent::ActionEnded { outcome, .. } => {
                if *outcome == Outcome::Success {
                    ledger.succeeded(d, now);
                } else {
                    ledger.stats.ended(outcome);
                }
            }
            _ => {}
        }
    }
}

/// The same phases and outcomes as a DDI device: a manifest is its action;
/// `INSTALLED_VERSION` after `INSTALL_SUCCESS` is success, an `*_ERROR` failure.
impl Observation for OtauEvent {
    fn book(&self, ledger: &mut Ledger, _slot: usize, d: &mut Device, now: Time) {
        ledger
            .oracle
            .observe_otau(d.number, &d.controller_id, now, self);
        let phase = match self {
            OtauEvent::Offered { busy: false, .. } => {
                d.assigned_at.get_or_insert(now);
                None
            }
            OtauEvent::Started { .. } => Some(Phase::Downloading),
            OtauEvent::StatusAccepted { status, .. } => match status {
                Status::Install => Some(Phase::Installing),
                Status::InstalledVersion if d.phase == Phase::Installing => {
                    ledger.succeeded(d, now);
                    Some(Phase::Updated)
                }
                s if s.is_error() => {
                    ledger
                        .stats
                        .ended(&Outcome::Failure(s.as_str().to_string()));
                    Some(Phase::Failed)
                }
                _ => None,
            },
            _ => None,
        };
        ledger.enter_phase(d, phase);
    }
}

/// A download is a constrained device's "downloading" phase, a verified file
/// "installing", and the result the gateway accepted ends the update.
impl Observation for ConstrainedEvent {
    fn book(&self, ledger: &mut Ledger, _slot: usize, d: &mut Device, now: Time) {
        ledger
            .oracle
            .observe_cpg(d.number, &d.controller_id, now, self);
        let phase = match self {
            ConstrainedEvent::Offered { .. } => {
                d.assigned_at.get_or_insert(now);
                None
            }
            ConstrainedEvent::Sent {
                kind: ConstrainedReq::Download,
            } if d.phase != Phase::Downloading => Some(Phase::Downloading),
            ConstrainedEvent::Downloaded { .. } => Some(Phase::Installing),
            ConstrainedEvent::Reported { ok: true, .. } => {
                ledger.succeeded(d, now);
                Some(Phase::Updated)
            }
            ConstrainedEvent::Reported {
                ok: false, detail, ..
            } => {
                let why = detail.clone().unwrap_or_else(|| "failed".to_string());
                ledger.stats.ended(&Outcome::Failure(why));
                Some(Phase::Failed)
            }
            _ => None,
        };
        ledger.enter_phase(d, phase);
    }
}

/// An edge gateway's observations go to the oracle (TWIN-*) and its figures
/// (and, through them, to the report's `twin` section); it takes part in no
/// update, so its phase stays idle. At a `TwinSynced` the driver also hands
/// the oracle the twin's view (it finds the gateway in
/// [`crate::edge::stats::TwinStats::take_synced`]).
impl Observation for EdgeEvent {
    fn book(&self, ledger: &mut Ledger, _slot: usize, d: &mut Device, now: Time) {
        ledger.oracle.twin_client_event(d.number, now, self);
        ledger.twin.observe(d.number, now, self);
    }
}
