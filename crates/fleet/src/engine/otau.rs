//! The engine's part for OTAU devices: manifests written by campaigns,
//! long polls the OTAU core holds and re-asks, and `config_otau` values the
//! in-process MQTT broker pushes.

use super::queue::What;
use super::{embedded_env, Engine};
use crate::device::TraceSink;
use fleetsim_core::time::Time;

impl Engine {
    /// A held OTAU long poll is re-asked: its time is up or the device's
    /// manifest changed. Stale releases find nothing to answer.
    pub(super) fn release(&mut self, slot: usize, now: Time) {
        let Some(flight) = self.flights[slot].as_mut() else {
            return;
        };
        let (Some(req), Some(until)) = (flight.request.as_ref(), flight.held_until) else {
            return;
        };
        let Some(resp) = self.setup.otau.poll_pending(now, req, until) else {
            return;
        };
        flight.request = None;
        flight.held_until = None;
        let d = &mut self.devices[slot];
        let down = self.setup.groups[d.group as usize]
            .link
            .latency(&mut d.link_rng);
        self.respond(slot, now, down, resp);
    }

    /// Campaign `i` wrote `config_otau` of the OTAU device in `slot`, as an
    /// ExoSense user applying a package does; a held long poll is re-asked.
    pub(super) fn manifest_written(&mut self, i: usize, slot: usize, now: Time) {
        let d = &mut self.devices[slot];
        self.ledger.oracle.otau_manifest_set(d.number, now);
        d.trace.manifest_written(now, i);
        d.assigned_at.get_or_insert(now);
        d.converged_at = None;
        if self.record == Some(d.number) {
            self.trace.push(format!(
                "{now:>14}  ⚙ server: config_otau written (campaign {})",
                i + 1
            ));
        }
        if d.is_mqtt(&self.setup) {
            // The broker pushes the retained value when the device is connected.
            let g = &self.setup.groups[d.group as usize];
            let online = g.link.next_online(now, d.window_phase).max(now);
            let at = online + g.link.latency(&mut d.link_rng);
            self.queue.push(at, slot as u32, What::Push);
        } else if self.flights[slot]
            .as_ref()
            .is_some_and(|f| f.held_until.is_some())
        {
            self.queue.push(now, slot as u32, What::Release);
        }
    }

    /// The broker delivers the device's pending `config_otau` value (MQTT),
    /// if the device is connected; otherwise when it next connects.
    pub(super) fn push(&mut self, slot: usize, now: Time) {
        let d = &mut self.devices[slot];
        let g = &self.setup.groups[d.group as usize];
        if g.link.online_until(now, d.window_phase).is_none() {
            let at = g.link.next_online(now, d.window_phase) + g.link.latency(&mut d.link_rng);
            return self.queue.push(at, slot as u32, What::Push);
        }
        let Some((value, _)) = self.setup.otau.mqtt_pending(d.number) else {
            return; // acknowledged meanwhile, or replaced and pushed again
        };
        let recording = self.record == Some(d.number);
        if recording {
            self.trace
                .push(format!("{now:>14}  ← MESSAGE config_otau {value}"));
        }
        let env = embedded_env(&self.setup);
        let trace = recording.then_some(&mut self.trace as &mut dyn TraceSink);
        d.handle_message(now, "config_otau", &value, &env, &mut self.ledger, trace);
        self.schedule_wake(slot);
    }
}
