//! The MQTT side of the real-time driver (otau.md §8): connecting the
//! `otau_mqtt` devices' links before the fleet starts, their publishes (ACK,
//! statuses) in tasks of their own, the values the server pushes, and
//! activation over MQTT when the broker is Murano-shaped: the device's `POST /provision/activate` (its
//! client's first request, `otau.activate`) is made as an anonymous publish
//! to `$provision/<identity>` instead, and the device's link is connected
//! with the token that comes back. The answer goes back to the client as
//! the HTTP route's would: 200 with the token, or the refusal's status
//! (`409 already activated` → 409) and reason. Such devices have no link
//! until then (the endpoint refuses an unactivated token).

use super::*;
use fleetsim_core::message::{Body, Headers, Response};
use fleetsim_core::protocol::otau::wire::form_decode;

/// Attempts to connect one device's MQTT link before giving up.
const MQTT_CONNECT_ATTEMPTS: u32 = 3;
/// Pause between connect attempts.
const MQTT_RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Devices connecting to the broker at once.
const MQTT_CONNECT_PARALLEL: usize = 32;

/// Connects `ciks[i]` for each `(slot, cik)` with bounded retries; the links by slot.
async fn connect_links(
    shown: &str,
    broker: &crate::mqtt::Broker,
    devices: Vec<(usize, String)>,
    bound: Duration,
) -> Result<Vec<(usize, crate::mqtt::DeviceLink)>, RuntimeError> {
    let gate = Arc::new(tokio::sync::Semaphore::new(MQTT_CONNECT_PARALLEL));
    let mut tasks = tokio::task::JoinSet::new();
    for (slot, cik) in devices {
        let gate = gate.clone();
        let broker = broker.clone();
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let mut last = String::new();
            for attempt in 0..MQTT_CONNECT_ATTEMPTS {
                if attempt > 0 {
                    tokio::time::sleep(MQTT_RETRY_PAUSE).await;
                }
                match crate::mqtt::DeviceLink::connect(&broker, &cik, bound).await {
                    Ok(link) => return Ok((slot, link)),
                    Err(e) => last = e.to_string(),
                }
            }
            Err(format!(
                "device {cik} could not connect in {MQTT_CONNECT_ATTEMPTS} attempts ({last})"
            ))
        });
    }
    let mut links = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(link)) => links.push(link),
            Ok(Err(what)) => {
                return Err(RuntimeError::Mqtt {
                    addr: shown.to_string(),
                    what,
                })
            }
            Err(e) => {
                return Err(RuntimeError::Mqtt {
                    addr: shown.to_string(),
                    what: format!("connect task failed: {e}"),
                })
            }
        }
    }
    Ok(links)
}

/// `[SCHEME://]HOST:PORT` ([`crate::mqtt::parse_broker_url`]) to a
/// broker, resolved within `bound`; TLS trusts the target's CA (`--ca-cert`).
async fn resolve_broker(
    given: &str,
    ca_pem: Option<&[u8]>,
    bound: Duration,
) -> Result<crate::mqtt::Broker, RuntimeError> {
    let err = |what: String| RuntimeError::Mqtt {
        addr: given.to_string(),
        what,
    };
    let url = crate::mqtt::parse_broker_url(given).map_err(err)?;
    let addr = match tokio::time::timeout(bound, tokio::net::lookup_host(url.host_port)).await {
        Ok(Ok(mut addrs)) => addrs
            .next()
            .ok_or_else(|| err("resolves to no address".into()))?,
        Ok(Err(e)) => {
            return Err(err(format!(
                "expected HOST:PORT such as 127.0.0.1:1883 ({e})"
            )))
        }
        Err(_) => return Err(err("name lookup timed out".into())),
    };
    let tls = match url.tls {
        true => Some(crate::mqtt::client_tls(ca_pem).map_err(|e| err(e.to_string()))?),
        false => None,
    };
    Ok(crate::mqtt::Broker {
        addr,
        host: url.host.to_string(),
        dialect: url.dialect,
        tls,
    })
}

/// The MQTT links of the fleet's `otau_mqtt` devices (by slot), connected
/// before the fleet starts, and the tasks that forward what the broker
/// pushes to them into `tx`.
pub(super) async fn connect_mqtt(
    given: &str,
    ca_pem: Option<&[u8]>,
    setup: &Setup,
    devices: &[Device],
    timeout: Duration,
    tx: &mpsc::UnboundedSender<Done>,
) -> Result<MqttLinks, RuntimeError> {
    let mut links: Vec<Option<Arc<crate::mqtt::DeviceLink>>> =
        devices.iter().map(|_| None).collect();
    let mut forwarders = Vec::new();
    let bound = timeout.clamp(Duration::from_secs(1), Duration::from_secs(10));
    let broker = resolve_broker(given, ca_pem, bound).await?;
    // Devices that activate over MQTT connect once they have their token.
    let wanted = devices
        .iter()
        .enumerate()
        .filter(|(_, d)| d.is_mqtt(setup))
        .filter(|(_, d)| !activates_over_mqtt(Some(&broker), setup, d))
        .map(|(slot, d)| (slot, fleetsim_core::server::otau::cik_for(d.number)))
        .collect();
    for (slot, mut link) in connect_links(given, &broker, wanted, bound).await? {
        let mut messages = link.take_messages();
        let tx = tx.clone();
        forwarders.push(tokio::spawn(async move {
            while let Some((alias, value)) = messages.recv().await {
                let outcome = Outcome::Message(alias, value);
                let done = Done {
                    slot: slot as u32,
                    outcome,
                };
                if tx.send(done).is_err() {
                    break;
                }
            }
        }));
        links[slot] = Some(Arc::new(link));
    }
    tracing::info!(devices = forwarders.len(), broker = %broker.addr, "MQTT devices connected");
    Ok((links, forwarders, Some(broker)))
}

/// Per slot the MQTT link of an `otau_mqtt` device; the forwarding tasks;
/// the broker (for devices that activate over MQTT later).
type MqttLinks = (
    Vec<Option<Arc<crate::mqtt::DeviceLink>>>,
    Vec<tokio::task::JoinHandle<()>>,
    Option<crate::mqtt::Broker>,
);

/// Whether a device of `setup` activates over MQTT with `broker`: an
/// `otau_mqtt` device with `otau.activate` and a Murano-shaped endpoint.
pub(super) fn activates_over_mqtt(
    broker: Option<&crate::mqtt::Broker>,
    setup: &Setup,
    device: &Device,
) -> bool {
    broker.is_some_and(|b| b.dialect == crate::mqtt::Dialect::Murano)
        && device.is_mqtt(setup)
        && setup.groups[device.group as usize].otau.activate
}

/// The HTTP answer the activation route would have given for `reply`.
fn answer(reply: Result<String, String>) -> Response {
    let (status, body) = match reply {
        Ok(token) => (200, token),
        Err(refusal) => {
            let (status, reason) = refusal.split_once(' ').unwrap_or((&refusal, ""));
            (status.parse().unwrap_or(502), reason.to_string())
        }
    };
    Response {
        status,
        headers: Headers::new().with("content-type", "text/plain; charset=utf-8"),
        body: Body::Bytes(body.into_bytes().into()),
    }
}

impl Driver {
    /// Sends an MQTT publish of device `slot` in a task of its own.
    pub(super) fn publish(
        &mut self,
        slot: usize,
        kind: ReqKind,
        due: Time,
        alias: &str,
        value: String,
        tx: &mpsc::UnboundedSender<Done>,
    ) {
        self.mqtt_in_flight(slot, kind, due, self.publish_bound);
        let (link, tx, bound) = (self.links[slot].clone(), tx.clone(), self.publish_bound);
        let alias = alias.to_string();
        tokio::spawn(async move {
            let result = match link {
                Some(link) => link.publish(&alias, &value, bound).await,
                // Every otau_mqtt device got a link before the start.
                None => Err(NetError::Unreachable),
            };
            let _ = tx.send(Done {
                slot: slot as u32,
                outcome: Outcome::Published(result),
            });
        });
    }

    /// A resource value the server pushed to device `slot`.
    pub(super) fn message(&mut self, slot: usize, alias: String, value: String) {
        let now = self.now();
        let d = &mut self.devices[slot];
        let g = &self.setup.groups[d.group as usize];
        if self.links[slot].is_none() {
            // Pushed on the connect of an activation over MQTT whose answer
            // is not handled yet: offered once the device has its token.
            self.held[slot].push((alias, value));
            return;
        }
        if g.link.online_until(now, d.window_phase).is_none() {
            let next = g.link.next_online(now, d.window_phase);
            self.held[slot].push((alias, value));
            if self.in_flight_of[slot].is_none() && next < self.next_wake[slot] {
                self.push(next, slot);
            }
            return;
        }
        let env = device_env!(self, d.group);
        d.handle_message(now, &alias, &value, &env, &mut self.ledger, None);
        if self.in_flight_of[slot].is_none() {
            let next = self.devices[slot].poll_timeout();
            self.push(next.max(now), slot);
        }
    }

    /// Makes device `slot`'s activation request `req` over MQTT in a task
    /// of its own; its outcome comes back as [`Outcome::Activated`].
    pub(super) fn activate_over_mqtt(
        &mut self,
        slot: usize,
        kind: ReqKind,
        due: Time,
        req: &Request,
        tx: &mpsc::UnboundedSender<Done>,
    ) {
        let identity = std::str::from_utf8(req.body.as_bytes())
            .ok()
            .and_then(|b| form_decode(b).ok())
            .and_then(|f| f.into_iter().find(|(k, _)| k == "id").map(|(_, v)| v))
            .unwrap_or_default();
        // Provisioning, then connecting: two bounded exchanges.
        self.mqtt_in_flight(slot, kind, due, self.publish_bound * 2);
        let (broker, tx, bound) = (self.mqtt_broker.clone(), tx.clone(), self.publish_bound);
        tokio::spawn(async move {
            let outcome = match broker {
                Some(b) => activate(&b, &identity, bound, slot, &tx).await,
                None => Outcome::Http(Delivery::Broken(NetError::Unreachable, None)),
            };
            let _ = tx.send(Done {
                slot: slot as u32,
                outcome,
            });
        });
    }

    /// Device `slot` activated: its link is in place (its messages are
    /// already forwarded).
    pub(super) fn activated(&mut self, slot: usize, link: crate::mqtt::DeviceLink) {
        self.links[slot] = Some(Arc::new(link));
    }
}

/// Forwards what the endpoint pushes to device `slot` into `tx`, like every
/// other link's messages.
fn forward(slot: usize, link: &mut crate::mqtt::DeviceLink, tx: mpsc::UnboundedSender<Done>) {
    let mut messages = link.take_messages();
    tokio::spawn(async move {
        while let Some((alias, value)) = messages.recv().await {
            let done = Done {
                slot: slot as u32,
                outcome: Outcome::Message(alias, value),
            };
            if tx.send(done).is_err() {
                break;
            }
        }
    });
}

/// Provisions `identity` and, with the token, connects the device's link.
async fn activate(
    broker: &crate::mqtt::Broker,
    identity: &str,
    bound: Duration,
    slot: usize,
    tx: &mpsc::UnboundedSender<Done>,
) -> Outcome {
    let reply = match crate::mqtt::provision(broker, identity, bound).await {
        Ok(reply) => reply,
        Err(e) => {
            tracing::debug!(identity, error = %e, "mqtt activation failed");
            return Outcome::Http(Delivery::Broken(NetError::Unreachable, None));
        }
    };
    let Ok(token) = reply.clone() else {
        return Outcome::Http(Delivery::Complete(answer(reply)));
    };
    match crate::mqtt::DeviceLink::connect(broker, &token, bound).await {
        Ok(mut link) => {
            forward(slot, &mut link, tx.clone());
            Outcome::Activated(Delivery::Complete(answer(reply)), Box::new(link))
        }
        Err(e) => {
            tracing::debug!(identity, error = %e, "mqtt connect with the new token failed");
            Outcome::Http(Delivery::Broken(NetError::Unreachable, None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_become_the_http_routes_answers() {
        let ok = answer(Ok("t".repeat(40)));
        assert_eq!((ok.status, ok.body.as_bytes().len()), (200, 40));
        let taken = answer(Err("409 already activated".into()));
        assert_eq!(taken.status, 409);
        assert_eq!(taken.body.as_bytes(), b"already activated");
        assert_eq!(answer(Err("garbage".into())).status, 502);
    }
}
