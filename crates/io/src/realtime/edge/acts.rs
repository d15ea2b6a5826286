//! What happens at a gateway in real time, on the scenario's schedule: its
//! edge devices' property changes and churn, and the backend's
//! `$set.configuration` commands and twin-side writes sent as HTTP requests
//! (built by `fleetsim_fleet::edge::backend`, as in the virtual engine).

use super::*;

impl Driver {
    /// The acts of gateway `slot` due by `at` (one heap entry per gateway:
    /// the next act's, pushed when the ones due are done).
    pub(super) fn edge_acts(&mut self, slot: usize, at: Time) {
        let now = self.now().max(at);
        loop {
            let Some(rt) = self.devices[slot].edge().map(|c| c.runtime()) else {
                return;
            };
            let devices = rt.devices().len() as u64;
            let Some(g) = self.gateway(slot) else {
                return;
            };
            let due = g.activity.next_at();
            if due > now {
                if let Some(edge) = &mut self.edge {
                    edge.push(due, slot, Timer::Act);
                }
                return;
            }
            let Some(act) = g.activity.take_due(due, devices) else {
                return;
            };
            self.edge_touch(slot);
            match act {
                Act::Change => self.edge_property_change(slot, now),
                Act::Churn => self.edge_churn(slot, now),
                Act::Command => self.edge_command(slot),
                Act::TwinWrite => self.edge_twin_write(slot),
            }
            self.edge_after(slot, now);
        }
    }

    pub(super) fn edge_property_change(&mut self, slot: usize, now: Time) {
        let Some(rt) = self.devices[slot].edge().map(|c| c.runtime()) else {
            return;
        };
        let Some(edge) = &mut self.edge else {
            return;
        };
        let Some(g) = edge.gateways[slot].as_mut() else {
            return;
        };
        let Some(change) = g.activity.change(rt) else {
            return;
        };
        let d = &mut self.devices[slot];
        d.edge_property_change(now, change, &mut self.ledger, None);
    }

    pub(super) fn edge_churn(&mut self, slot: usize, now: Time) {
        let Some(rt) = self.devices[slot].edge().map(|c| c.runtime()) else {
            return;
        };
        let Some(g) = self.edge.as_mut().and_then(|e| e.gateways[slot].as_mut()) else {
            return;
        };
        let Churn { leaving, joining } = g.activity.churn(rt);
        let d = &mut self.devices[slot];
        if let Some(uid) = leaving {
            let scope = Scope::Device(uid.clone());
            d.edge_change(
                now,
                &scope,
                |rt| {
                    let _ = rt.remove_edge_device(&uid);
                },
                &mut self.ledger,
                None,
            );
        }
        let (info, items) = joining;
        let scope = Scope::Device(info.uid.clone());
        d.edge_change(
            now,
            &scope,
            |rt| {
                let _ = rt.add_edge_device(info, items);
            },
            &mut self.ledger,
            None,
        );
    }

    /// A random edge device of gateway `slot` the twin had at its last
    /// quiet period: its thing ID, and whether the gateway is connected.
    pub(super) fn edge_target(&mut self, slot: usize) -> Option<(String, bool)> {
        let rt = self.devices[slot].edge()?.runtime();
        let g = self.edge.as_mut()?.gateways[slot].as_deref_mut()?;
        let synced = &g.synced;
        let thing = backend::target(&mut g.activity, rt, |t| synced.contains(t))?;
        Some((thing, !matches!(g.link, Link::Down)))
    }

    /// Sends `req` for gateway `slot` in a task of its own; `outcome` makes
    /// the answer's status an [`EdgeOutcome`].
    pub(super) fn edge_request(
        &mut self,
        slot: usize,
        mut req: Request,
        outcome: impl FnOnce(Option<u16>) -> EdgeOutcome + Send + 'static,
    ) {
        let number = self.devices[slot].number;
        let Some(edge) = &mut self.edge else {
            return;
        };
        let Some(tx) = edge.tx.clone() else {
            return;
        };
        req.headers.insert("authorization", edge.auth.header());
        edge.outstanding += 1;
        if let Some(g) = edge.gateways[slot].as_mut() {
            g.requests_out += 1;
        }
        let http = self.http.clone();
        tokio::spawn(async move {
            let status = match http.execute(number, req, Injected::default()).await {
                Delivery::Complete(r) => Some(r.status),
                Delivery::Broken(..) => None,
            };
            let _ = tx.send(Done {
                slot: slot as u32,
                outcome: Outcome::Edge(outcome(status)),
            });
        });
    }

    /// The backend asks a random edge device of gateway `slot` for a new
    /// `interval` (see [`backend::Command`]).
    pub(super) fn edge_command(&mut self, slot: usize) {
        let Some((thing, connected)) = self.edge_target(slot) else {
            return;
        };
        let Some(g) = self.gateway(slot) else {
            return;
        };
        g.commands += 1;
        let seq = g.commands;
        let d = &self.devices[slot];
        let base = self.edge.as_ref().map_or(&self.base, |e| &e.twin_base);
        let command = backend::Command::new(base, &thing, &d.controller_id, seq, connected);
        // Told when sent: the answer may be the gateway's reply (module doc).
        command.tell(&mut self.ledger.oracle, d.number);
        if let Some(edge) = &mut self.edge {
            edge.backend.commands += 1;
        }
        self.edge_request(slot, command.request, |status| EdgeOutcome::Command {
            status,
        });
    }

    /// The backend writes a random edge device's `mode` straight to the twin.
    pub(super) fn edge_twin_write(&mut self, slot: usize) {
        let Some((thing, _)) = self.edge_target(slot) else {
            return;
        };
        let Some(g) = self
            .edge
            .as_mut()
            .and_then(|e| e.gateways[slot].as_deref_mut())
        else {
            return;
        };
        g.writes += 1;
        let writes = g.writes;
        let number = self.devices[slot].number;
        let Some(edge) = &mut self.edge else {
            return;
        };
        let write = backend::TwinWrite::new(&edge.twin_base, &thing, writes);
        // Told now too: a pushed copy may reach the gateway before the 2xx (module doc).
        write.tell(&mut self.ledger.oracle, number);
        edge.backend.twin_writes += 1;
        let request = write.request.clone();
        let write = Box::new(write);
        self.edge_request(slot, request, move |status| EdgeOutcome::Written {
            write,
            status,
        });
    }
}
