//! Unit tests of the OTAU server core: auth, long-poll rule, write-back, content.

use super::*;
use crate::message::ContentId;
use crate::protocol::otau::wire::Manifest;

fn get(url: &str, cik: &str) -> Request {
    let mut r = Request::new(Method::Get, format!("http://h{url}"));
    r.headers.insert("x-exosite-cik", cik.to_string());
    r
}

fn long_poll(cik: &str, timeout: &str, ims: &str) -> Request {
    let mut r = get("/onep:v1/stack/alias?config_otau", cik);
    r.headers.insert("request-timeout", timeout.to_string());
    r.headers.insert("if-modified-since", ims.to_string());
    r
}

fn post(cik: &str, body: &str) -> Request {
    let mut r = Request::new(Method::Post, "http://h/onep:v1/stack/alias");
    r.headers.insert("x-exosite-cik", cik.to_string());
    r.body = Body::Bytes(body.as_bytes().to_vec().into());
    r
}

fn ready(a: OtauAnswer) -> Response {
    match a {
        OtauAnswer::Ready(r) => r,
        OtauAnswer::Pending { until } => panic!("pending until {until:?}"),
    }
}

#[test]
fn auth_and_malformed_input() {
    let mut s = OtauServer::new(3);
    let c = cik_for(1);
    assert_eq!(c.len(), 40);
    assert_eq!(
        ready(s.handle(Time(0), &get("/onep:v1/stack/alias?config_otau", ""))).status,
        401
    );
    assert_eq!(
        ready(s.handle(Time(0), &get("/provision/download", &cik_for(3)))).status,
        401
    );
    let mut tampered = c.clone();
    tampered.replace_range(39.., "x");
    assert_eq!(
        ready(s.handle(Time(0), &get("/timestamp", &tampered))).status,
        401
    );
    let mut token = Request::new(Method::Get, "http://h/timestamp");
    token.headers.insert("authorization", format!("token {c}"));
    assert_eq!(ready(s.handle(Time(0), &token)).status, 200);
    assert_eq!(
        ready(s.handle(Time(0), &post(&c, "otau_in=%zz"))).status,
        400
    );
    assert_eq!(ready(s.handle(Time(0), &post(&c, ""))).status, 400);
    assert_eq!(
        ready(s.handle(Time(0), &long_poll(&c, "300001", "0"))).status,
        400
    );
    assert_eq!(
        ready(s.handle(Time(0), &long_poll(&c, "1", "soon"))).status,
        400
    );
    let mut two = long_poll(&c, "1000", "0");
    two.url = "http://h/onep:v1/stack/alias?config_otau&otau_in".into();
    assert_eq!(ready(s.handle(Time(0), &two)).status, 400);
    assert_eq!(
        ready(s.handle(Time(0), &get("/onep:v1/stack/alias?nope", &c))).status,
        204
    );
    assert_eq!(ready(s.handle(Time(0), &get("/other", &c))).status, 404);
}

#[test]
fn long_poll_waits_delivers_and_ack_clears() {
    let mut s = OtauServer::new(2);
    let c = cik_for(0);
    let poll = long_poll(&c, "300000", "0");
    let OtauAnswer::Pending { until } = s.handle(Time(0), &poll) else {
        panic!("must wait")
    };
    assert_eq!(until, Time(300_000));
    assert_eq!(s.poll_pending(Time(1000), &poll, until), None);
    let m = Manifest::url_list_json("2", "n", &["a"]);
    s.set_manifest_all(&m, Time(2000));
    let r = s
        .poll_pending(Time(2000), &poll, until)
        .expect("delivered on change");
    assert_eq!(r.status, 200);
    assert!(r
        .headers
        .get("last-modified")
        .is_some_and(|d| d.ends_with("GMT")));
    let body = String::from_utf8(r.body.as_bytes().to_vec()).unwrap();
    let pairs = form_decode(&body).unwrap();
    assert_eq!(pairs[0], ("config_otau".to_string(), m.clone()));
    // IMS after the write: wait; IMS before: deliver.
    let late = long_poll(&c, "0", &(unix_secs(Time(2000)) + 1).to_string());
    assert_eq!(ready(s.handle(Time(3000), &late)).status, 304);
    // ACK with the seed's raw body; then nothing is pending.
    assert_eq!(ready(s.handle(Time(3000), &post(&c, &body))).status, 204);
    assert_eq!(s.acked_at(0), Some(Time(3000)));
    assert_eq!(
        ready(s.handle(Time(4000), &long_poll(&c, "0", "0"))).status,
        304
    );
    let OtauAnswer::Pending { until } = s.handle(Time(4000), &poll) else {
        panic!("must wait")
    };
    assert_eq!(
        s.poll_pending(until, &poll, until).map(|r| r.status),
        Some(304)
    );
    // Status write stored per device; plain read returns the last one.
    let status = form_encode(&[(
        "otau_in",
        r#"{"version": "2", "status": "INIT", "message": ""}"#,
    )]);
    assert_eq!(ready(s.handle(Time(5000), &post(&c, &status))).status, 204);
    assert_eq!(s.statuses(0).len(), 1);
    assert_eq!(s.statuses(1).len(), 0);
    assert_eq!(
        ready(s.handle(Time(5000), &get("/onep:v1/stack/alias?otau_in", &c))).status,
        200
    );
    assert_eq!(
        ready(s.handle(Time(5000), &post(&c, "config_otau=other"))).status,
        204
    );
    assert_eq!(s.overwrites(0), 1);
}

#[test]
fn content_info_and_ranges() {
    let mut s = OtauServer::new(1);
    let c = cik_for(0);
    s.add_content("fw.bin", ContentId(9), 100, Time(0));
    let info = ready(s.handle(Time(0), &get("/provision/download?id=fw.bin&info=true", &c)));
    let line = String::from_utf8(info.body.as_bytes().to_vec()).unwrap();
    let parsed = crate::protocol::otau::wire::ContentInfoLine::parse(&line).unwrap();
    assert_eq!(parsed.size, 100);
    assert_eq!(parsed.sha256().map(str::len), Some(64));
    let whole = ready(s.handle(Time(0), &get("/provision/download?id=fw.bin", &c)));
    assert_eq!((whole.status, whole.body.len()), (200, 100));
    let mut part = get("/provision/download?id=fw.bin", &c);
    part.headers.insert("range", "bytes=40-");
    let r = ready(s.handle(Time(0), &part));
    assert_eq!(
        (r.status, r.headers.get("content-range")),
        (206, Some("bytes 40-99/100"))
    );
    part.headers = Headers::new()
        .with("x-exosite-cik", c.clone())
        .with("range", "bytes=100-");
    let r = ready(s.handle(Time(0), &part));
    assert_eq!(
        (r.status, r.headers.get("content-range")),
        (416, Some("bytes */100"))
    );
    assert_eq!(
        ready(s.handle(Time(0), &get("/provision/download?id=https://x/y", &c))).status,
        404
    );
    let list = ready(s.handle(Time(0), &get("/provision/download", &c)));
    assert_eq!(list.body.as_bytes(), b"fw.bin\n");
}

#[test]
fn uploaded_bytes_are_served_whole_and_in_ranges() {
    let mut s = OtauServer::new(1);
    let c = cik_for(0);
    let data: Vec<u8> = (0..=255u8).collect();
    s.add_content_bytes("b", bytes::Bytes::from(data.clone()), "x/y", Time(1000));
    let info = ready(s.handle(Time(0), &get("/provision/download?id=b&info=true", &c)));
    let sha = crate::artifact::hash_bytes(&data).sha256;
    let line = String::from_utf8(info.body.as_bytes().to_vec()).unwrap_or_default();
    assert!(line.starts_with("x/y,256,"), "{line}");
    assert!(
        line.trim_end().ends_with(&format!("sha256={sha}")),
        "{line}"
    );
    let whole = ready(s.handle(Time(0), &get("/provision/download?id=b", &c)));
    assert_eq!(whole.body, Body::Bytes(data.clone().into()));
    let mut part = get("/provision/download?id=b", &c);
    part.headers.insert("range", "bytes=250-".to_string());
    let part = ready(s.handle(Time(0), &part));
    assert_eq!(part.status, 206);
    assert_eq!(part.body, Body::Bytes(data[250..].to_vec().into()));
}

#[test]
fn mqtt_publishes_share_the_http_write_rules() {
    let mut s = OtauServer::new(2);
    assert_eq!(device_for_cik(&cik_for(1)), Some(1));
    assert_eq!(device_for_cik("zz"), None);
    let mut tampered = cik_for(1);
    tampered.replace_range(39.., "x");
    assert_eq!(device_for_cik(&tampered), None);
    assert_eq!(
        s.mqtt_publish(Time(0), 2, "otau_in", "x"),
        Err(MqttRefusal::UnknownDevice(2))
    );
    assert_eq!(s.mqtt_pending(0), None);
    assert_eq!(s.mqtt_pending(9), None);

    let m = Manifest::url_list_json("3", "n", &[]);
    assert!(s.set_manifest(1, Arc::from(m.as_str()), Time(5_000)));
    let (value, at) = s.mqtt_pending(1).expect("pending after the cloud write");
    assert_eq!((&*value, at), (m.as_str(), Time(5_000)));
    assert_eq!(s.mqtt_pending(1).map(|p| p.1), Some(Time(5_000)), "stays");
    assert_eq!(s.mqtt_pending(0), None, "other device untouched");

    // A different value is an overwrite, not an ACK.
    s.mqtt_publish(Time(6_000), 1, "config_otau", "other")
        .unwrap();
    assert_eq!((s.overwrites(1), s.acked_at(1)), (1, None));
    s.mqtt_publish(Time(7_000), 1, "otau_in", "{\"status\": \"INIT\"}")
        .unwrap();
    s.mqtt_publish(Time(7_500), 1, "unknown", "ignored")
        .unwrap();
    s.mqtt_publish(Time(8_000), 1, "config_otau", &m).unwrap();
    assert_eq!(s.acked_at(1), Some(Time(8_000)));
    assert_eq!(s.mqtt_pending(1), None, "acknowledged: nothing to re-send");
    assert_eq!(s.statuses(1).len(), 1);
    assert_eq!(s.statuses(1)[0].at, Time(7_000));

    // The HTTP path sees the same state: the long poll waits (no 200).
    let poll = long_poll(&cik_for(1), "1000", "0");
    assert!(matches!(
        s.handle(Time(9_000), &poll),
        OtauAnswer::Pending { .. }
    ));
}

#[test]
fn mqtt_pending_honours_the_redeliver_fault_once() {
    let mut s = OtauServer::new(1);
    s.faults.redeliver_acked = true;
    let m = Manifest::url_list_json("4", "n", &[]);
    s.set_manifest(0, Arc::from(m.as_str()), Time(1_000));
    s.mqtt_publish(Time(2_000), 0, "config_otau", &m).unwrap();
    assert!(s.mqtt_pending(0).is_some(), "the fault re-sends it once");
    assert_eq!(s.mqtt_pending(0), None);
    // A new campaign resets it.
    s.set_manifest(0, Arc::from(m.as_str()), Time(3_000));
    assert!(s.mqtt_pending(0).is_some());
}

#[test]
fn stored_status_text_is_bounded_per_device() {
    let mut s = OtauServer::new(2);
    let big = "s".repeat(20_000);
    for _ in 0..10 {
        assert_eq!(s.mqtt_publish(Time(1), 1, "otau_in", &big), Ok(()));
    }
    assert_eq!(s.statuses(1).len(), 3, "3 × 20 000 bytes fit in 64 KiB");
    assert_eq!(s.dropped_statuses(1), 7);
    assert_eq!(
        s.mqtt_publish(Time(2), 0, "otau_in", "{\"status\":\"INIT\"}"),
        Ok(())
    );
    assert_eq!(
        s.statuses(0).len(),
        1,
        "other devices have their own budget"
    );
}
