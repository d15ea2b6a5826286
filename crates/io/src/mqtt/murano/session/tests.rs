use std::sync::Arc;

use rumqttc::mqttbytes::v4::{Connect, Login, Packet, Publish, Subscribe};
use rumqttc::mqttbytes::QoS;

use super::*;
use fleetsim_core::server::otau::{cik_for, identity_for, OtauServer};

fn connect(password: &str) -> Packet {
    let mut c = Connect::new("");
    if !password.is_empty() {
        c.login = Some(Login::new("", password));
    }
    Packet::Connect(c)
}

fn publish(topic: &str, payload: &str, pkid: u16) -> Packet {
    let mut p = Publish::new(topic, QoS::AtLeastOnce, payload.as_bytes());
    p.pkid = pkid;
    Packet::Publish(p)
}

fn run(sess: &mut Session, s: &mut OtauServer, p: Packet) -> (Flow, Vec<Packet>) {
    let mut out = Vec::new();
    let flow = sess.handle(p, s, Time(5_000), &mut out);
    (flow, out)
}

fn connack(out: &[Packet]) -> ConnectReturnCode {
    match out.first() {
        Some(Packet::ConnAck(a)) => a.code,
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

#[test]
fn token_connects_gets_pending_value_and_writes_its_resources() {
    let mut s = OtauServer::new(3);
    s.set_manifest(1, Arc::from("{\"version\":\"2\"}"), Time(1_500));
    let mut sess = Session::new(None);
    let (flow, out) = run(&mut sess, &mut s, connect(&cik_for(1)));
    assert_eq!(flow, Flow::Continue);
    assert_eq!(connack(&out), ConnectReturnCode::Success);
    assert_eq!(sess.peer(), Peer::Device(1));
    let Some(Packet::Publish(m)) = out.get(1) else {
        panic!("the pending manifest follows the CONNACK: {out:?}")
    };
    assert_eq!(m.topic, "$resource/config_otau/1700000001500000");
    assert_eq!(&m.payload[..], b"{\"version\":\"2\"}");
    assert_eq!(m.qos, QoS::AtLeastOnce);
    // A SUBSCRIBE is answered although nothing needs it.
    let sub = Subscribe::new("$resource/config_otau/+", QoS::AtLeastOnce);
    let (_, out) = run(&mut sess, &mut s, Packet::Subscribe(sub));
    assert!(
        matches!(&out[..], [Packet::SubAck(a)] if a.return_codes == vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)])
    );
    // ACK, then a status: PUBACKs, recorded, nothing pending any more.
    let (_, out) = run(
        &mut sess,
        &mut s,
        publish("$resource/config_otau", "{\"version\":\"2\"}", 7),
    );
    assert!(
        matches!(&out[..], [Packet::PubAck(a)] if a.pkid == 7),
        "{out:?}"
    );
    assert!(s.acked_at(1).is_some());
    let (_, out) = run(
        &mut sess,
        &mut s,
        publish("$resource/otau_in", "{\"status\":\"INIT\"}", 8),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(&*s.statuses(1)[0].value, "{\"status\":\"INIT\"}");
    let batch = r#"[{"timestamp": 1, "values": {"otau_in": "{\"status\":\"DOWNLOAD\"}"}}]"#;
    run(&mut sess, &mut s, publish("$resource.batch", batch, 9));
    assert_eq!(s.statuses(1).len(), 2);
    // A reconnect re-sends nothing once acknowledged.
    let mut again = Session::new(None);
    let (_, out) = run(&mut again, &mut s, connect(&cik_for(1)));
    assert_eq!(out.len(), 1, "only the CONNACK: {out:?}");
    let (_, out) = run(&mut sess, &mut s, Packet::PingReq);
    assert_eq!(out, vec![Packet::PingResp]);
}

#[test]
fn foreign_topics_bad_tokens_and_unactivated_devices_are_refused() {
    let mut s = OtauServer::new(3);
    s.require_activation();
    s.preprovision(0);
    for (token, code) in [
        ("x".repeat(40), ConnectReturnCode::BadUserNamePassword),
        (cik_for(2), ConnectReturnCode::NotAuthorized),
        (cik_for(9), ConnectReturnCode::BadUserNamePassword),
    ] {
        let mut sess = Session::new(None);
        let (flow, out) = run(&mut sess, &mut s, connect(&token));
        assert_eq!((flow, connack(&out)), (Flow::Close, code), "{token}");
    }
    let mut sess = Session::new(None);
    run(&mut sess, &mut s, connect(&cik_for(0)));
    for topic in [
        format!("fleetsim/{}/$resource/otau_in", cik_for(1)),
        "$resource/otau_in/x".to_string(),
        "$provision/000000000001".to_string(),
    ] {
        let (flow, out) = run(&mut sess, &mut s, publish(&topic, "v", 3));
        assert_eq!((flow, out.len()), (Flow::Close, 0), "{topic}");
    }
    assert!(s.statuses(1).is_empty());
    let mut fresh = Session::new(None);
    let (flow, _) = run(&mut fresh, &mut s, publish("$resource/otau_in", "v", 1));
    assert_eq!(flow, Flow::Close, "nothing before CONNECT");
}

#[test]
fn anonymous_provisioning_returns_the_token_or_the_refusal() {
    let mut s = OtauServer::new(2);
    s.require_activation();
    let mut sess = Session::new(Some("fleetsim.m2.exosite.io".into()));
    let (_, out) = run(&mut sess, &mut s, connect(""));
    assert_eq!(connack(&out), ConnectReturnCode::Success);
    assert_eq!(sess.peer(), Peer::Anonymous);
    let topic = format!("$provision/{}", identity_for(1));
    let (flow, out) = run(&mut sess, &mut s, publish(&topic, "", 1));
    assert_eq!(flow, Flow::Continue);
    let [Packet::PubAck(_), Packet::Publish(reply)] = &out[..] else {
        panic!("PUBACK then the reply: {out:?}")
    };
    assert_eq!(reply.topic, topic);
    assert_eq!(&reply.payload[..], cik_for(1).as_bytes());
    assert!(s.activated(1));
    let reply_of = |out: &[Packet]| match out.last() {
        Some(Packet::Publish(p)) => String::from_utf8(p.payload.to_vec()).expect("utf-8"),
        other => panic!("a reply: {other:?}"),
    };
    let (_, out) = run(&mut sess, &mut s, publish(&topic, "", 2));
    assert_eq!(reply_of(&out), "409 already activated");
    let (_, out) = run(&mut sess, &mut s, publish("$provision/zz", "", 3));
    assert!(reply_of(&out).starts_with("404 "), "{out:?}");
    let mut foreign = Session::new(Some("other.m2.exosite.io".into()));
    run(&mut foreign, &mut s, connect(""));
    let (_, out) = run(
        &mut foreign,
        &mut s,
        publish(&format!("$provision/{}", identity_for(0)), "", 1),
    );
    assert!(reply_of(&out).starts_with("403 "), "{out:?}");
    let (flow, _) = run(&mut sess, &mut s, publish("$resource/otau_in", "v", 4));
    assert_eq!(flow, Flow::Close, "anonymous may only provision");
    // The token now connects.
    let mut dev = Session::new(None);
    let (_, out) = run(&mut dev, &mut s, connect(&cik_for(1)));
    assert_eq!(connack(&out), ConnectReturnCode::Success);
}

#[test]
fn an_overwrite_and_the_redeliver_fault_send_the_value_again() {
    let mut s = OtauServer::new(1);
    s.set_manifest(0, Arc::from("m1"), Time(0));
    let mut sess = Session::new(None);
    run(&mut sess, &mut s, connect(&cik_for(0)));
    let (_, out) = run(
        &mut sess,
        &mut s,
        publish("$resource/config_otau", "other", 1),
    );
    assert_eq!(out.len(), 2, "PUBACK and the still pending value: {out:?}");
    s.faults.redeliver_acked = true;
    let (_, out) = run(&mut sess, &mut s, publish("$resource/config_otau", "m1", 2));
    assert_eq!(
        out.len(),
        2,
        "the fault re-sends the acknowledged value: {out:?}"
    );
    let (_, out) = run(&mut sess, &mut s, publish("$resource/config_otau", "m1", 3));
    assert_eq!(out.len(), 1, "once only");
}
