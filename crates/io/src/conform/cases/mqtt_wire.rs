//! One MQTT 3.1.1 connection of an `otau-mqtt` case, packet by packet:
//! the case sees every CONNACK code, PUBACK and PUBLISH (rumqttc's event
//! loop, polled only while the case waits, so nothing reconnects behind
//! its back), and each exchange is written to the evidence as a note.

use std::time::Duration;

use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, Packet, Publish, QoS};

use super::super::{Ctx, Stop};
use crate::mqtt::{client_tls, parse_broker_url, Broker, Dialect};

/// How long a case waits for one packet it expects.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long a case waits for a packet that must not come.
pub const QUIET: Duration = Duration::from_millis(1000);

/// An open connection.
pub struct Wire {
    client: AsyncClient,
    events: EventLoop,
}

/// How a CONNECT was answered.
pub enum Connack {
    /// CONNACK 0: the connection is open.
    Accepted(Box<Wire>),
    /// CONNACK with this return code; the server closed the connection.
    Refused(u8),
}

/// The broker `--mqtt` names, or a SKIP when there is none or it is not
/// Murano-shaped.
async fn broker(cx: &Ctx<'_>) -> Result<Broker, Stop> {
    let Some(url) = cx.opts.mqtt.as_deref() else {
        return Err(Stop::Skip(
            "no MQTT endpoint (--mqtt mqtt://HOST:PORT): the case speaks MQTT".into(),
        ));
    };
    let b = parse_broker_url(url).map_err(|e| Stop::Fail(format!("--mqtt {url}: {e}")))?;
    if b.dialect != Dialect::Murano {
        return Err(Stop::Skip(format!(
            "--mqtt {url} is a generic broker with fleetsim's bridge topics; the profile checks Murano's MQTT device API (mqtt:// or mqtts://)"
        )));
    }
    let addr = tokio::net::lookup_host(b.host_port)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| Stop::Fail(format!("--mqtt {url}: the host does not resolve")))?;
    let tls = if b.tls {
        let ca = cx.opts.ca_pem.as_ref().map(|(_, pem)| pem.as_slice());
        Some(client_tls(ca).map_err(|e| Stop::Fail(format!("TLS setup: {e}")))?)
    } else {
        None
    };
    Ok(Broker {
        addr,
        host: b.host.to_string(),
        dialect: b.dialect,
        tls,
    })
}

/// CONNECTs with client id `""`, user name `""` and `token` as the
/// password (otau.md §8), or anonymously without one.
pub async fn connect(cx: &mut Ctx<'_>, token: Option<&str>) -> Result<Connack, Stop> {
    let b = broker(cx).await?;
    let mut opts = b.options("");
    if let Some(t) = token {
        opts.set_credentials("", t);
    }
    let (client, mut events) = AsyncClient::new(opts, 16);
    let who = if token.is_some() {
        "password <token>"
    } else {
        "anonymous"
    };
    let answer = tokio::time::timeout(WAIT, async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(c))) => return Ok(c.code as u8),
                Ok(_) => {}
                Err(ConnectionError::ConnectionRefused(code)) => return Ok(code as u8),
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await;
    let code = match answer {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            cx.note(format!("→ CONNECT ({who}) ← connection failed: {e}"));
            return Err(Stop::Fail(format!("CONNECT failed: {e}")));
        }
        Err(_) => {
            cx.note(format!("→ CONNECT ({who}) ← no CONNACK within {WAIT:?}"));
            return Err(Stop::Fail(format!("no CONNACK within {WAIT:?}")));
        }
    };
    cx.note(format!(
        "→ CONNECT ({who}, client id \"\") ← CONNACK {code}"
    ));
    Ok(if code == 0 {
        Connack::Accepted(Box::new(Wire { client, events }))
    } else {
        Connack::Refused(code)
    })
}

/// [`connect`] that must be accepted.
pub async fn open(cx: &mut Ctx<'_>, token: Option<&str>) -> Result<Wire, Stop> {
    match connect(cx, token).await? {
        Connack::Accepted(w) => Ok(*w),
        Connack::Refused(code) => Err(Stop::Fail(format!(
            "CONNECT was refused with CONNACK {code}"
        ))),
    }
}

/// What the server did next.
pub enum Next {
    /// A PUBLISH to the client.
    Publish(Publish),
    /// A PUBACK of this packet id.
    PubAck(u16),
    /// A SUBACK with these return codes (0x80 = failure).
    SubAck(Vec<u8>),
    /// Nothing within the wait.
    Quiet,
    /// The server closed the connection.
    Closed(String),
}

impl Wire {
    /// The next PUBLISH, PUBACK or SUBACK within `within`.
    pub async fn next(&mut self, within: Duration) -> Next {
        let r = tokio::time::timeout(within, async {
            loop {
                match self.events.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => return Next::Publish(p),
                    Ok(Event::Incoming(Packet::PubAck(a))) => return Next::PubAck(a.pkid),
                    Ok(Event::Incoming(Packet::SubAck(s))) => {
                        let codes = s.return_codes.iter().map(suback_code).collect();
                        return Next::SubAck(codes);
                    }
                    Ok(_) => {}
                    Err(e) => return Next::Closed(e.to_string()),
                }
            }
        })
        .await;
        r.unwrap_or(Next::Quiet)
    }

    /// Publishes `payload` on `topic` with `qos` (not retained).
    pub async fn publish(&mut self, cx: &mut Ctx<'_>, topic: &str, qos: QoS, payload: &[u8]) {
        let sent = self
            .client
            .publish(topic, qos, false, payload.to_vec())
            .await;
        let shown = super::super::excerpt(payload);
        cx.note(format!("→ PUBLISH {topic} (QoS {}) {shown}", qos as u8));
        if let Err(e) = sent {
            cx.note(format!("the client could not queue it: {e}"));
        }
    }

    /// Publishes with QoS 1 and waits for its PUBACK (PUBLISHes to the
    /// client on the way are kept in `inbox`); FAIL without one.
    pub async fn publish_acked(
        &mut self,
        cx: &mut Ctx<'_>,
        topic: &str,
        payload: &[u8],
        inbox: &mut Vec<Publish>,
    ) -> Result<(), Stop> {
        self.publish(cx, topic, QoS::AtLeastOnce, payload).await;
        loop {
            match self.next(WAIT).await {
                Next::PubAck(id) => {
                    cx.note(format!("← PUBACK {id}"));
                    return Ok(());
                }
                Next::Publish(p) => inbox.push(p),
                Next::SubAck(_) => {}
                Next::Quiet => {
                    return Err(Stop::Fail(format!(
                        "no PUBACK for the QoS 1 PUBLISH to {topic} within {WAIT:?}"
                    )))
                }
                Next::Closed(e) => {
                    return Err(Stop::Fail(format!(
                        "the server closed the connection instead of PUBACK to {topic}: {e}"
                    )))
                }
            }
        }
    }

    /// The next PUBLISH to the client whose topic starts with `prefix`
    /// within `within` (others are skipped); noted in the evidence.
    pub async fn publish_on(
        &mut self,
        cx: &mut Ctx<'_>,
        prefix: &str,
        within: Duration,
    ) -> Option<Publish> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Next::Publish(p) => {
                    let shown = super::super::excerpt(&p.payload);
                    cx.note(format!(
                        "← PUBLISH {} (QoS {}) {shown}",
                        p.topic, p.qos as u8
                    ));
                    if p.topic.starts_with(prefix) {
                        return Some(p);
                    }
                }
                Next::Quiet | Next::Closed(_) => return None,
                Next::PubAck(_) | Next::SubAck(_) => {}
            }
        }
    }

    /// SUBSCRIBEs to `filter` with QoS 1; the SUBACK's return code.
    pub async fn subscribe(&mut self, cx: &mut Ctx<'_>, filter: &str) -> Result<u8, Stop> {
        let sent = self.client.subscribe(filter, QoS::AtLeastOnce).await;
        if let Err(e) = sent {
            return Err(Stop::Fail(format!("SUBSCRIBE could not be queued: {e}")));
        }
        loop {
            match self.next(WAIT).await {
                Next::SubAck(codes) => {
                    cx.note(format!("→ SUBSCRIBE {filter} (QoS 1) ← SUBACK {codes:?}"));
                    return Ok(codes.first().copied().unwrap_or(0x80));
                }
                Next::Publish(_) | Next::PubAck(_) => {}
                Next::Quiet => return Err(Stop::Fail(format!("no SUBACK for {filter}"))),
                Next::Closed(e) => {
                    return Err(Stop::Fail(format!(
                        "the server closed the connection instead of SUBACK: {e}"
                    )))
                }
            }
        }
    }

    /// True when the server closes the connection within [`WAIT`].
    pub async fn closes(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Next::Closed(_) => return true,
                Next::Quiet => return false,
                _ => {}
            }
        }
    }

    /// Sends DISCONNECT and lets the event loop write it.
    pub async fn close(mut self) {
        let _ = self.client.try_disconnect();
        let _ = self.next(Duration::from_millis(300)).await;
    }
}

/// A SUBACK return code as its byte.
fn suback_code(c: &rumqttc::SubscribeReasonCode) -> u8 {
    match c {
        rumqttc::SubscribeReasonCode::Success(q) => *q as u8,
        rumqttc::SubscribeReasonCode::Failure => 0x80,
    }
}
