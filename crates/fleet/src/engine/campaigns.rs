//! The engine's side of the campaign director ([`crate::director`]): what
//! each change the director makes means for the simulated devices, and the
//! DDI server's action status changes, hashed into the devices' traces and
//! handed to the oracle.

use super::Engine;
use crate::director::{Effect, Stage};
use fleetsim_core::server::ServerEvent;
use fleetsim_core::time::Time;

impl Engine {
    /// Carries out the campaign starts and cancels due by `now` (the first
    /// of the events queued for them at a time does all of that time's).
    pub(super) fn direct(&mut self, now: Time) {
        loop {
            let Some(effect) = self.director.poll(now, &mut Stage::of(&mut self.setup)) else {
                return;
            };
            match effect {
                Effect::Started { campaign } => self.schedule_leak(campaign, now),
                Effect::Assigned { target, action, .. } => {
                    if action.is_some() {
                        let d = &mut self.devices[target];
                        d.assigned_at.get_or_insert(now);
                        d.converged_at = None;
                    }
                    self.drain_server_events(target);
                }
                Effect::ManifestWritten {
                    campaign, target, ..
                } => self.manifest_written(campaign, target, now),
                Effect::Installed { campaign, target } => self.cpg_installed(campaign, target, now),
                Effect::Canceling { .. } => {}
                Effect::Canceled { target, .. } => self.drain_server_events(target),
            }
        }
    }

    pub(super) fn drain_server_events(&mut self, slot: usize) {
        self.server_events.clear();
        self.setup.server.drain_events(&mut self.server_events);
        let d = &mut self.devices[slot];
        for ev in &self.server_events {
            let ServerEvent::ActionStatusChanged {
                action,
                from,
                to,
                at,
                ..
            } = ev;
            d.trace.action_status(*at, action.0, *to as u64);
            self.ledger.oracle.server_status_change(
                slot,
                d.number,
                &d.controller_id,
                *at,
                action.0,
                from.is_some_and(|f| f.is_final()),
                to.is_final(),
                to.as_str(),
            );
            if self.record == Some(d.number) {
                self.trace.push(format!(
                    "{at:>14}  ⚙ server: action {action} {} → {}",
                    from.map_or("-", |f| f.as_str()),
                    to.as_str()
                ));
            }
        }
    }
}
