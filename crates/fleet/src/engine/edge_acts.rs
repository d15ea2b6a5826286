//! The engine's part for what happens at an edge gateway apart from its
//! session (see `edge.rs`): edge devices change values, leave and join;
//! the backend sends `$set.configuration` commands through the twin's
//! inbox and writes properties straight to the twin (which, as seed 002
//! says, is not reflected on the device). What the backend sends and tells
//! the oracle is `edge/backend.rs`, shared with the real-time driver.

use super::queue::What;
use super::Engine;
use crate::device::TraceSink;
use crate::edge::activity::{Act, Churn};
use crate::edge::backend;
use fleetsim_core::protocol::edge::{GatewayRuntime, Scope};
use fleetsim_core::server::twin::{HttpAnswer, PendingId};
use fleetsim_core::time::Time;

/// Origin of the backend's requests to the embedded twin.
const TWIN_ORIGIN: &str = "http://twin.fleetsim";

impl Engine {
    /// Queues the next act of gateway `slot`.
    pub(super) fn edge_schedule_act(&mut self, slot: usize) {
        if let Some(side) = self.edge.gateways[slot].as_ref() {
            let at = side.activity.next_at();
            if at != Time::NEVER {
                self.queue.push(at, slot as u32, What::EdgeAct);
            }
        }
    }

    /// The act of gateway `slot` due at `now`.
    pub(super) fn edge_act(&mut self, slot: usize, now: Time) {
        let Some(rt) = self.devices[slot].edge().map(|c| c.runtime()) else {
            return;
        };
        let devices = rt.devices().len() as u64;
        let Some(side) = self.edge.gateways[slot].as_mut() else {
            return;
        };
        if side.activity.next_at() != now {
            return; // superseded (several acts share one queue entry per time)
        }
        match side.activity.take_due(now, devices) {
            Some(Act::Change) => self.edge_property_change(slot, now),
            Some(Act::Churn) => self.edge_churn(slot, now),
            Some(Act::Command) => self.edge_command(slot, now),
            Some(Act::TwinWrite) => self.edge_twin_write(slot, now),
            None => {}
        }
        self.edge_schedule_act(slot);
        self.schedule_wake(slot);
    }

    /// Changes gateway `slot`'s runtime inside `scope` with `f`.
    fn edge_runtime_change(
        &mut self,
        slot: usize,
        now: Time,
        scope: &Scope,
        f: impl FnOnce(&mut GatewayRuntime),
    ) {
        let d = &mut self.devices[slot];
        let trace =
            (self.record == Some(d.number)).then_some(&mut self.trace as &mut dyn TraceSink);
        d.edge_change(now, scope, f, &mut self.ledger, trace);
    }

    fn edge_property_change(&mut self, slot: usize, now: Time) {
        let (Some(side), Some(client)) =
            (self.edge.gateways[slot].as_mut(), self.devices[slot].edge())
        else {
            return;
        };
        let Some(change) = side.activity.change(client.runtime()) else {
            return;
        };
        let d = &mut self.devices[slot];
        let trace =
            (self.record == Some(d.number)).then_some(&mut self.trace as &mut dyn TraceSink);
        d.edge_property_change(now, change, &mut self.ledger, trace);
    }

    /// An edge device leaves and a new one joins.
    fn edge_churn(&mut self, slot: usize, now: Time) {
        let (Some(side), Some(client)) =
            (self.edge.gateways[slot].as_mut(), self.devices[slot].edge())
        else {
            return;
        };
        let Churn { leaving, joining } = side.activity.churn(client.runtime());
        if let Some(uid) = leaving {
            self.edge_runtime_change(slot, now, &Scope::Device(uid.clone()), |rt| {
                let _ = rt.remove_edge_device(&uid);
            });
        }
        let (info, items) = joining;
        let scope = Scope::Device(info.uid.clone());
        self.edge_runtime_change(slot, now, &scope, |rt| {
            let _ = rt.add_edge_device(info, items);
        });
    }

    /// A random edge device of gateway `slot` whose thing the twin has (a
    /// backend addresses the things it sees): its thing ID, and whether the
    /// gateway is connected.
    fn edge_backend_target(&mut self, slot: usize) -> Option<(String, bool)> {
        let side = self.edge.gateways[slot].as_mut()?;
        let rt = self.devices[slot].edge()?.runtime();
        let hub = &self.edge.hub;
        let thing = backend::target(&mut side.activity, rt, |t| hub.service().thing(t).is_some())?;
        Some((thing, side.session.is_some()))
    }

    /// The backend asks a random edge device of gateway `slot` to take a new
    /// `interval` (a value no other command of this gateway uses): waiting
    /// for the answer when the gateway is connected, fire-and-forget
    /// (`timeout=0`, delivered when it is back) otherwise.
    fn edge_command(&mut self, slot: usize, now: Time) {
        let Some((thing, connected)) = self.edge_backend_target(slot) else {
            return;
        };
        let Some(side) = self.edge.gateways[slot].as_mut() else {
            return;
        };
        side.commands += 1;
        let serial = &self.devices[slot].controller_id;
        let command = backend::Command::new(TWIN_ORIGIN, &thing, serial, side.commands, connected);
        self.edge.backend.commands += 1;
        self.edge_faults(now);
        let answer = self.edge.hub.http(now, &command.request);
        let posted = match &answer {
            Some(HttpAnswer::Pending(_)) => true,
            Some(HttpAnswer::Ready(r)) => r.is_success(),
            None => false,
        };
        if posted {
            command.tell(&mut self.ledger.oracle, self.devices[slot].number);
        }
        match answer {
            Some(HttpAnswer::Pending(id)) => {
                self.edge.pending.insert(id, slot as u32);
            }
            Some(HttpAnswer::Ready(r)) => self.edge.backend.answer(r.status),
            None => self.edge.backend.failed += 1,
        }
        self.edge_drain(now);
    }

    /// The backend writes a random edge device's `mode` straight to the twin.
    fn edge_twin_write(&mut self, slot: usize, now: Time) {
        let Some((thing, _)) = self.edge_backend_target(slot) else {
            return;
        };
        let Some(side) = self.edge.gateways[slot].as_mut() else {
            return;
        };
        side.writes += 1;
        let write = backend::TwinWrite::new(TWIN_ORIGIN, &thing, side.writes);
        self.edge.backend.twin_writes += 1;
        self.edge_faults(now);
        if let Some(HttpAnswer::Ready(r)) = self.edge.hub.http(now, &write.request) {
            if r.is_success() {
                write.tell(&mut self.ledger.oracle, self.devices[slot].number);
            }
        }
        self.edge_drain(now);
    }

    /// The answer to a backend command that waited.
    pub(super) fn edge_answered(&mut self, id: PendingId, status: u16) {
        if self.edge.pending.remove(&id).is_some() {
            self.edge.backend.answer(status);
        }
    }
}

impl Engine {
    /// The `twin` section of the result.
    pub(super) fn edge_report(&self) -> Option<crate::edge::stats::TwinReport> {
        let mut report = self.ledger.twin.report()?;
        report.backend = self.edge.backend;
        Some(report)
    }
}
