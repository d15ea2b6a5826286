//! The shared state's OTAU side: the Murano device API and admin routes
//! (`otau.rs`) run against the embedded [`OtauServer`] at scenario time,
//! manifests written there go to the event ring and to MQTT devices, and
//! held long polls are re-asked. A child of `state.rs`, so it reaches the
//! state's fields; the caller holds the lock, as for the rest of [`State`].

use fleetsim_core::message::{Request, Response};
use fleetsim_core::server::otau::OtauServer;
use fleetsim_core::time::Time;

use super::otau::{self, Routed};
use super::State;
use crate::server_events::ServerSide;

impl State {
    /// Answers an OTAU device or admin request (see `otau.rs`); `None` in a
    /// scenario `reset` fault window. `held`: long polls held now.
    pub(in crate::http_server) fn handle_otau(
        &mut self,
        now: Time,
        req: &Request,
        held: usize,
    ) -> Option<Routed> {
        self.catch_up(now);
        if self.in_reset(now) {
            return None;
        }
        // The scenario's OTAU fault modes break the core on purpose, as in virtual runs.
        self.otau.faults = self.server.otau_faults_at(now).1;
        let routed = otau::route(&mut self.otau, &self.credentials, now, req, held);
        // Manifests written through the admin routes go out over MQTT too.
        match &routed {
            Routed::Reply(_, otau::Wake::Device(d)) => self.ring.push(
                now,
                ServerSide::Manifest {
                    device: Some(*d),
                    campaign: None,
                },
            ),
            Routed::Reply(_, otau::Wake::All) => self.ring.push(
                now,
                ServerSide::Manifest {
                    device: None,
                    campaign: None,
                },
            ),
            _ => {}
        }
        match &routed {
            Routed::Reply(_, otau::Wake::Device(d)) if self.is_mqtt(*d) => {
                self.mqtt_written.push(*d);
                self.mqtt_kick.notify_one();
            }
            Routed::Reply(_, otau::Wake::All) => {
                let all = self.mqtt_devices.iter().flat_map(Clone::clone);
                self.mqtt_written.extend(all);
                self.mqtt_kick.notify_one();
            }
            _ => {}
        }
        Some(routed)
    }

    /// Runs `f` on the OTAU core at scenario time `now` (the MQTT bridge's
    /// access), after the campaign steps due by then.
    pub(in crate::http_server) fn with_otau(
        &mut self,
        now: Time,
        f: &mut dyn FnMut(&mut OtauServer, Time),
    ) {
        self.catch_up(now);
        self.otau.faults = self.server.otau_faults_at(now).1;
        f(&mut self.otau, now);
    }

    /// Whether OTAU device `n` talks MQTT.
    pub(in crate::http_server) fn is_mqtt(&self, n: u64) -> bool {
        self.mqtt_devices.iter().any(|r| r.contains(&n))
    }

    /// How many devices talk MQTT (0 when the scenario has no `otau_mqtt` group).
    pub(in crate::http_server) fn mqtt_device_count(&self) -> u64 {
        self.mqtt_devices.iter().map(|r| r.end - r.start).sum()
    }

    /// MQTT devices whose manifest was written since the last call.
    pub(in crate::http_server) fn take_mqtt_written(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.mqtt_written)
    }

    /// Notified whenever [`State::take_mqtt_written`] has something.
    pub(in crate::http_server) fn mqtt_kick(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.mqtt_kick.clone()
    }

    /// Re-asks a held OTAU long poll ([`OtauServer::poll_pending`]).
    pub(in crate::http_server) fn otau_poll(
        &mut self,
        now: Time,
        req: &Request,
        until: Time,
    ) -> Option<Response> {
        self.otau.poll_pending(now, req, until)
    }

    /// Whether campaigns wrote OTAU manifests since the last call: held long
    /// polls must then be re-asked.
    pub(in crate::http_server) fn take_otau_written(&mut self) -> bool {
        std::mem::take(&mut self.otau_written)
    }
}
