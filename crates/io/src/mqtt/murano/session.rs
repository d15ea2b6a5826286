//! One MQTT connection to the Murano-shaped endpoint as a sans-IO state
//! machine: decoded packets in, packets to send out, the OTAU core passed
//! in on every call (so it is tested without sockets, below).
//!
//! - The first packet must be CONNECT. A password is the device token
//!   (otau.md §8: user name `""`, password = token); the user name and the
//!   client id are not looked at (Murano identifies the device by its auth).
//!   An unknown token gets CONNACK 4 (bad user name or password), the token
//!   of a device that may not use it yet (not activated) CONNACK 5 (not
//!   authorised); both then close. No password: an anonymous session that
//!   may only provision.
//! - A device's PUBLISH to `$resource/<alias>` is a write of its own
//!   resource ([`OtauServer::mqtt_publish`]); `$resource.batch` carries
//!   `[{"timestamp": t, "values": {"<alias>": "<value>", ...}}, ...]`
//!   (murano-client). Any other topic (another device's, `fleetsim/...`,
//!   `$provision/...`) closes the connection: MQTT 3.1.1 §3.3.5 leaves a
//!   server that refuses a PUBLISH no other way to say so.
//! - Anonymous PUBLISH to `$provision/<identity>` activates the identity
//!   ([`OtauServer::mqtt_activate`]) and the answer comes back on the same
//!   topic: the 40-character token, or, when the HTTP route would answer
//!   404/409/403, the payload `<status> <reason>` (e.g. `409 already
//!   activated`). Murano's pages say only that the token "comes back as a
//!   message" (\[MQTT-ex\] prints any message as the token, \[MC\] checks
//!   `len == 40`): an error payload is never 40 characters, so both
//!   clients see the failure, and a fleetsim device reads the status.
//! - Values for the device (`config_otau`) go out as PUBLISH QoS 1 on
//!   `$resource/config_otau/<µs timestamp of the write>`, payload = the raw
//!   value, when it connects (pending values are re-sent on every connect,
//!   \[MQTT-b\]) and whenever the application writes one. No SUBSCRIBE is
//!   needed ("subscriptions are hardcoded", \[MQTT-b\]); one is answered
//!   with SUBACK granting QoS 1 for `$resource/...` and `$provision/...`
//!   filters and failure (0x80) for any other.
//! - PINGREQ → PINGRESP; DISCONNECT, a second CONNECT or QoS 2 close.

use std::sync::Arc;

use rumqttc::mqttbytes::v4::{
    ConnAck, Connect, ConnectReturnCode, Packet, PubAck, Publish, SubAck, SubscribeReasonCode,
    UnsubAck,
};
use rumqttc::mqttbytes::QoS;

use fleetsim_core::protocol::otau::wire::EPOCH_BASE_SECS;
use fleetsim_core::server::otau::OtauServer;
use fleetsim_core::time::Time;

/// Who the connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Nothing received yet.
    Connecting,
    /// Connected without a password: may only provision.
    Anonymous,
    /// Connected with the token of this device.
    Device(u64),
}

/// What the connection must do after a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Send the packets and go on reading.
    Continue,
    /// Send the packets, then close.
    Close,
}

/// The state of one connection.
#[derive(Debug)]
pub struct Session {
    peer: Peer,
    /// Packet id of the next server PUBLISH (1..=65535).
    next_pkid: u16,
    /// The TLS SNI name, used as the `Host` of an activation.
    host: Option<String>,
}

/// The topic a `config_otau` value written at `set_at` is delivered on.
pub fn config_topic(set_at: Time) -> String {
    let micros = (EPOCH_BASE_SECS * 1000 + set_at.as_millis()) * 1000;
    format!("$resource/config_otau/{micros}")
}

impl Session {
    /// A connection whose TLS client named `host` (SNI), if it did.
    pub fn new(host: Option<String>) -> Session {
        Session {
            peer: Peer::Connecting,
            next_pkid: 1,
            host,
        }
    }

    /// Who the connection is.
    pub fn peer(&self) -> Peer {
        self.peer
    }

    /// Handles one packet from the client with the core at `now`; pushes
    /// what to send to `out`.
    pub fn handle(
        &mut self,
        packet: Packet,
        s: &mut OtauServer,
        now: Time,
        out: &mut Vec<Packet>,
    ) -> Flow {
        match (self.peer, packet) {
            (Peer::Connecting, Packet::Connect(c)) => self.connect(&c, s, out),
            (Peer::Connecting, _) | (_, Packet::Connect(_)) => Flow::Close,
            (_, Packet::Publish(p)) => self.publish(p, s, now, out),
            (_, Packet::Subscribe(sub)) => {
                let codes = sub
                    .filters
                    .iter()
                    .map(|f| {
                        let ours =
                            f.path.starts_with("$resource") || f.path.starts_with("$provision");
                        if ours {
                            SubscribeReasonCode::Success(QoS::AtLeastOnce)
                        } else {
                            SubscribeReasonCode::Failure
                        }
                    })
                    .collect();
                out.push(Packet::SubAck(SubAck::new(sub.pkid, codes)));
                Flow::Continue
            }
            (_, Packet::Unsubscribe(u)) => {
                out.push(Packet::UnsubAck(UnsubAck { pkid: u.pkid }));
                Flow::Continue
            }
            (_, Packet::PingReq) => {
                out.push(Packet::PingResp);
                Flow::Continue
            }
            (_, Packet::PubAck(_)) => Flow::Continue,
            // DISCONNECT, QoS 2 and anything a client does not send.
            _ => Flow::Close,
        }
    }

    fn connect(&mut self, c: &Connect, s: &mut OtauServer, out: &mut Vec<Packet>) -> Flow {
        let token = c.login.as_ref().map(|l| l.password.as_str()).unwrap_or("");
        if token.is_empty() {
            self.peer = Peer::Anonymous;
            out.push(Packet::ConnAck(ConnAck::new(
                ConnectReturnCode::Success,
                false,
            )));
            return Flow::Continue;
        }
        let Some(device) = s.mqtt_device(token) else {
            let code = if s.mqtt_token_known(token) {
                ConnectReturnCode::NotAuthorized
            } else {
                ConnectReturnCode::BadUserNamePassword
            };
            out.push(Packet::ConnAck(ConnAck::new(code, false)));
            return Flow::Close;
        };
        self.peer = Peer::Device(device);
        out.push(Packet::ConnAck(ConnAck::new(
            ConnectReturnCode::Success,
            false,
        )));
        self.push_pending(s, out);
        Flow::Continue
    }

    /// The device's pending `config_otau` value, if any, as a PUBLISH.
    pub fn push_pending(&mut self, s: &mut OtauServer, out: &mut Vec<Packet>) {
        let Peer::Device(device) = self.peer else {
            return;
        };
        if let Some((value, set_at)) = s.mqtt_pending(device) {
            out.push(self.deliver(&value, set_at));
        }
    }

    /// A PUBLISH of `value` written at `set_at`, QoS 1.
    fn deliver(&mut self, value: &Arc<str>, set_at: Time) -> Packet {
        let mut p = Publish::new(config_topic(set_at), QoS::AtLeastOnce, value.as_bytes());
        p.pkid = self.next_pkid;
        self.next_pkid = self.next_pkid.checked_add(1).unwrap_or(1);
        Packet::Publish(p)
    }

    fn publish(
        &mut self,
        p: Publish,
        s: &mut OtauServer,
        now: Time,
        out: &mut Vec<Packet>,
    ) -> Flow {
        if p.qos == QoS::ExactlyOnce {
            return Flow::Close;
        }
        let ack = |out: &mut Vec<Packet>| {
            if p.qos == QoS::AtLeastOnce {
                out.push(Packet::PubAck(PubAck::new(p.pkid)));
            }
        };
        let Ok(value) = std::str::from_utf8(&p.payload) else {
            tracing::debug!(topic = %p.topic, "mqtt: non-UTF-8 value; closing");
            return Flow::Close;
        };
        match self.peer {
            Peer::Anonymous => {
                let Some(identity) = p.topic.strip_prefix("$provision/") else {
                    return Flow::Close;
                };
                ack(out);
                let answer = match s.mqtt_activate(now, identity, self.host.as_deref()) {
                    Ok(token) => token,
                    Err(r) => format!("{} {}", r.status, r.reason),
                };
                let mut reply = Publish::new(p.topic.clone(), QoS::AtLeastOnce, answer);
                reply.pkid = self.next_pkid;
                self.next_pkid = self.next_pkid.checked_add(1).unwrap_or(1);
                out.push(Packet::Publish(reply));
                Flow::Continue
            }
            Peer::Device(device) => {
                let writes = match resource_writes(&p.topic, value) {
                    Some(w) => w,
                    None => {
                        tracing::debug!(topic = %p.topic, device, "mqtt: not the device's resource; closing");
                        return Flow::Close;
                    }
                };
                let mut acked_config = false;
                for (alias, v) in writes {
                    if s.mqtt_publish(now, device, &alias, &v).is_err() {
                        return Flow::Close;
                    }
                    acked_config |= alias == "config_otau";
                }
                ack(out);
                // After an ACK the value is normally no longer pending; an
                // overwrite leaves it pending and the `redeliver_acked`
                // fault hands it out again: both are sent, as on connect.
                if acked_config {
                    self.push_pending(s, out);
                }
                Flow::Continue
            }
            Peer::Connecting => Flow::Close,
        }
    }
}

/// The `(alias, value)` writes a device PUBLISH on `topic` makes, or `None`
/// when the topic is none of the device's resources.
pub fn resource_writes(topic: &str, payload: &str) -> Option<Vec<(String, String)>> {
    if topic == "$resource.batch" {
        return batch_writes(payload);
    }
    let alias = topic.strip_prefix("$resource/")?;
    (!alias.is_empty() && !alias.contains('/'))
        .then(|| vec![(alias.to_string(), payload.to_string())])
}

/// `[{"timestamp": t, "values": {"<alias>": "<value>"}}, ...]` (otau.md §8,
/// \[MC\]); records in order, string values only.
fn batch_writes(payload: &str) -> Option<Vec<(String, String)>> {
    let records: Vec<serde_json::Value> = serde_json::from_str(payload).ok()?;
    let mut writes = Vec::new();
    for r in records {
        for (alias, v) in r.get("values")?.as_object()? {
            writes.push((alias.clone(), v.as_str()?.to_string()));
        }
    }
    Some(writes)
}

#[cfg(test)]
mod tests;
