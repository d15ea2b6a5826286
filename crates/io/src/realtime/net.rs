//! The real-time driver's network emulation (`load.emulate_network`): each
//! device's `connectivity` applied to its real HTTP exchanges — seeded per
//! device (its `Purpose::Net` stream), decided by [`fleetsim_core::netem`],
//! carried out by the HTTP client ([`crate::netem`]), counted for the report.

use super::*;

use fleetsim_core::netem::{decide, Fate};
use fleetsim_fleet::rng::Stream;
use fleetsim_fleet::rng::{stream, Purpose};

use crate::http_client::Injected;
use crate::netem::{NetTally, Shape};

/// Per-device network streams and what they injected.
pub(super) struct Net {
    rngs: Vec<Stream>,
    /// Per slot: when the online window of the exchange in flight ends.
    cut_at: Vec<Option<Instant>>,
    pub(super) tally: NetTally,
}

impl Net {
    /// Streams for `devices` of a run seeded with `seed`.
    pub(super) fn new(seed: u64, devices: &[Device]) -> Net {
        Net {
            rngs: devices
                .iter()
                .map(|d| stream(seed, d.number, Purpose::Net))
                .collect(),
            cut_at: devices.iter().map(|_| None).collect(),
            tally: NetTally::default(),
        }
    }
}

impl Driver {
    /// Shapes the exchange device `slot` starts at `due` as its link says:
    /// adds to `fault` and returns how much longer the device may wait and
    /// whether a failure would be one the run injected.
    pub(super) fn shape_net(
        &mut self,
        slot: usize,
        due: Time,
        fault: &mut Injected,
    ) -> (Duration, bool) {
        let Some(net) = self.net.as_mut() else {
            return (Duration::ZERO, false);
        };
        let d = &self.devices[slot];
        let link = &self.setup.groups[d.group as usize].link;
        let plan = match decide(link, d.window_phase, due, &mut net.rngs[slot]) {
            Fate::Send(plan) => plan,
            // `wake` sends only inside a window; a window that closed since
            // cuts the exchange at once.
            Fate::Offline { .. } => {
                net.cut_at[slot] = Some(Instant::now());
                fault.drop = true;
                fault.net = Some(Shape {
                    drop_answer: false,
                    answer_delay: Duration::ZERO,
                    rate: 1.0,
                    cut_at: Some(Instant::now()),
                });
                return (Duration::ZERO, true);
            }
        };
        net.tally.planned(&plan);
        let cut_at = crate::netem::instant_of(self.started, plan.window_end, self.scale);
        net.cut_at[slot] = cut_at;
        let up = crate::netem::real(plan.up, self.scale);
        let shape = Shape::of(&plan, self.scale, cut_at);
        fault.delay = Some(fault.delay.unwrap_or_default() + up);
        fault.net = Some(shape);
        if plan.cut_before_arrival(due) {
            // The request would land after the window closed: it never does.
            fault.drop = true;
        }
        let injected = plan.drop_request || plan.drop_answer || plan.cut_before_arrival(due);
        // `up` is in `fault.delay`, which the caller's wait counts already.
        (shape.answer_delay, injected)
    }

    /// Whether the failed exchange of `slot` that ends now was cut by its
    /// online window's end (counted once, as the link's doing).
    pub(super) fn cut_by_window(&mut self, slot: usize, delivery: &Delivery) -> bool {
        let Some(net) = self.net.as_mut() else {
            return false;
        };
        let cut_at = net.cut_at[slot].take();
        let broken = matches!(delivery, Delivery::Broken(NetError::Reset, _));
        let cut = broken && cut_at.is_some_and(|c| Instant::now() >= c);
        net.tally.partition_cuts += u64::from(cut);
        cut
    }
}
