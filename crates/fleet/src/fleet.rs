//! The fleet a run drives, built the same way by both drivers: the devices
//! of the setup's groups (those the run includes), in device-number order,
//! and the ledger that records what they observe.

use crate::device::{Device, Ledger};
use crate::scenario::Scenario;
use crate::setup::{selects, Setup};
use fleetsim_core::oracle::OracleConfig;
use fleetsim_core::time::{Span, Time};

/// Devices and their ledger.
pub struct Fleet {
    /// The devices, in device-number order (a device's index is its slot).
    pub devices: Vec<Device>,
    /// The oracle, statistics and phase counts over them.
    pub ledger: Ledger,
}

impl Fleet {
    /// The devices of `setup` (for `scenario`) whose number `include`
    /// accepts, each acting first at `first(number)` (`None`: when its link
    /// and client decide), and their ledger; the oracle reads the URLs of
    /// the constrained-device gateway as signed in Unix seconds from
    /// `url_epoch_s` (scenario time zero).
    pub fn new(
        scenario: &Scenario,
        setup: &Setup,
        include: impl Fn(u64) -> bool,
        first: impl Fn(u64) -> Option<Time>,
        url_epoch_s: u64,
    ) -> Fleet {
        // Sized exactly: a `Vec` grown by doubling holds up to twice the
        // (large) device structs a fleet needs.
        let count = setup.groups.iter().map(|g| {
            let numbers = g.first..g.first + g.count;
            numbers.filter(|n| include(*n)).count()
        });
        let mut devices = Vec::with_capacity(count.sum());
        for (gi, g) in setup.groups.iter().enumerate() {
            for number in (g.first..g.first + g.count).filter(|n| include(*n)) {
                devices.push(Device::new(setup, gi, number, scenario.seed, first(number)));
            }
        }
        let config = OracleConfig {
            polling_jitter: scenario.server.polling_jitter.0,
            url_epoch_s,
        };
        let mut ledger = Ledger::new(config, devices.len());
        // Edge gateways are judged by the TWIN-* checks from their first event.
        for d in &devices {
            if let Some(c) = d.edge() {
                ledger
                    .oracle
                    .twin_gateway(d.number, &d.controller_id, c.runtime());
            }
        }
        Fleet { devices, ledger }
    }

    /// Counts each device as assigned at the start of the first campaign
    /// that selects it: for a run whose campaigns someone else carries out
    /// on the server (`fleetsim serve` or an operator), so that convergence
    /// is measured from the scenario's campaigns.
    pub fn assigned_by_schedule(&mut self, setup: &Setup) {
        for d in &mut self.devices {
            let g = &setup.groups[d.group as usize];
            d.assigned_at = setup
                .campaigns
                .iter()
                .enumerate()
                .filter(|(i, c)| selects(&c.selector, *i, d.number, g))
                .map(|(_, c)| c.at)
                .min();
        }
    }
}

/// How often a run samples the fleet's state: the scenario's
/// `sample_every` (at least a second), else 200 samples over the run (at
/// most one a second).
pub fn sample_interval(scenario: &Scenario) -> Span {
    let end = scenario.duration.0.as_millis();
    scenario
        .sample_every
        .map_or(Span((end / 200).max(1000)), |d| d.0.max(Span::secs(1)))
}
