//! Activation of `otau_mqtt` devices over MQTT (otau.md §8) when the
//! broker is Murano-shaped: the device's `POST /provision/activate` (its
//! client's first request, `otau.activate`) is made as an anonymous publish
//! to `$provision/<identity>` instead, and the device's link is connected
//! with the token that comes back. The answer goes back to the client as
//! the HTTP route's would: 200 with the token, or the refusal's status
//! (`409 already activated` → 409) and reason. Such devices have no link
//! until then (the endpoint refuses an unactivated token).

use super::*;
use fleetsim_core::message::{Body, Headers, Response};
use fleetsim_core::protocol::otau::wire::form_decode;

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
