//! A gateway's quiet periods in real time: after `TwinSynced` the driver
//! notes what the backend may address and, when the oracle asks, reads the
//! gateway's things back (`GET /api/2/things/{id}`) for TWIN-CONVERGE; and
//! the run's gateway figures at the end.

use super::*;

impl Driver {
    /// Gateways that told `TwinSynced`: note what the backend may address
    /// and, when the oracle wants the twin checked, read it.
    pub(in crate::realtime) fn edge_synced(&mut self, _now: Time) {
        let synced = self.ledger.twin.take_synced();
        for number in synced {
            let Some(edge) = &mut self.edge else {
                return;
            };
            let Some(&slot) = edge.slot_of.get(&number) else {
                continue;
            };
            let slot = slot as usize;
            let Some(rt) = self.devices[slot].edge().map(|c| c.runtime()) else {
                continue;
            };
            let Some(g) = edge.gateways[slot].as_mut() else {
                continue;
            };
            g.synced = rt
                .devices()
                .keys()
                .map(|uid| Scope::Device(uid.clone()).thing_id(rt))
                .collect();
            if !self.ledger.oracle.twin_sync_due(number) {
                continue;
            }
            let Some(tx) = edge.tx.clone() else {
                continue;
            };
            edge.next_read += 1;
            let id = edge.next_read;
            // The gateway's mapped things, and those of devices that left.
            let mut ids = vec![gateway_thing_id(rt.namespace(), rt.serial())];
            ids.extend(g.synced.iter().cloned());
            for k in 0..g.activity.next_device {
                let uid = edge_device(k).0.uid;
                if !rt.devices().contains_key(&uid) {
                    ids.push(Scope::Device(uid).thing_id(rt));
                }
            }
            g.reading = Some(Reading {
                id,
                generation: g.generation,
                rt: rt.clone(),
            });
            edge.outstanding += 1;
            let (http, base, auth) = (
                self.http.clone(),
                edge.twin_base.clone(),
                edge.auth.header(),
            );
            tokio::spawn(async move {
                let things = read_things(&http, number, &base, &auth, ids).await;
                let _ = tx.send(Done {
                    slot: slot as u32,
                    outcome: Outcome::Edge(EdgeOutcome::Read { id, things }),
                });
            });
        }
    }

    /// The end of the run: sessions closed (the devices are not told: the
    /// run is over, not the connection), answers still out awaited
    /// (bounded).
    pub(in crate::realtime) async fn edge_finish(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Done>,
    ) {
        let Some(edge) = &mut self.edge else {
            return;
        };
        for g in edge.gateways.iter_mut().flatten() {
            g.epoch += 1;
            g.link = Link::Down;
        }
        edge.tx = None;
        let until = Instant::now() + self.http.timeout() + FINISH_GRACE;
        while self.edge.as_ref().is_some_and(|e| e.outstanding > 0) {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(done)) => self.complete(done),
                _ => break,
            }
        }
    }

    /// The `twin` section of the result and the edge counters.
    pub(in crate::realtime) fn edge_result(
        &self,
    ) -> (
        Option<fleetsim_fleet::edge::stats::TwinReport>,
        Vec<(&'static str, u64)>,
    ) {
        let Some(edge) = &self.edge else {
            return (None, Vec::new());
        };
        let report = self.ledger.twin.report().map(|mut r| {
            r.backend = edge.backend;
            r
        });
        let mut counters = vec![
            ("twin_converge_checks", edge.checks),
            ("twin_converge_skipped", edge.skipped),
            ("twin_connect_failures", edge.connect_failures),
            ("twin_frames_in", edge.frames_in),
            ("twin_frames_out", edge.frames_out),
            ("twin_requests_unanswered", edge.outstanding),
        ];
        counters.extend(self.twin_http_counters());
        (report, counters)
    }
}

/// `GET /api/2/things/{id}` for each of `ids`: the things the twin has
/// (`None` if an answer was neither 200 nor 404).
async fn read_things(
    http: &Http,
    number: u64,
    base: &str,
    authorization: &str,
    ids: Vec<String>,
) -> Option<BTreeMap<String, Value>> {
    let mut things = BTreeMap::new();
    for id in ids {
        let url = format!("{base}/api/2/things/{}", percent_encode(&id));
        let mut req = Request::new(Method::Get, url);
        req.headers
            .insert("authorization", authorization.to_owned());
        req.headers.insert("accept", "application/json");
        match http.execute(number, req, Injected::default()).await {
            Delivery::Complete(r) if r.status == 200 => {
                let thing = serde_json::from_slice(r.body.as_bytes()).ok()?;
                things.insert(id, thing);
            }
            Delivery::Complete(r) if r.status == 404 => {}
            _ => return None,
        }
    }
    Some(things)
}
