//! The Murano-shaped MQTT endpoint (otau.md §8) with real sockets and TLS:
//! devices driven by `OtauClient` over rumqttc with rustls (token as the
//! password, no SUBSCRIBE, manifests on `$resource/config_otau/<µs>`), the
//! late device getting the pending value on connect; activation over MQTT
//! (`$provision/<identity>`) gating the CONNECT exactly as the HTTP side
//! does; wrong tokens refused; HTTP over the MQTT port (ALPN `http/1.1`,
//! §4.6) answered by `serve`'s OTAU routes; a real-time run against `serve`
//! over `mqtts://`; and Mosquitto over TLS (generic `fleetsim/<cik>`
//! topics: Mosquitto cannot derive a device from its password).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use fleetsim::mqtt::{
    client_tls, provision, Broker, DeviceLink, Dialect, Mosquitto, MuranoEndpoint, MuranoOptions,
    ServerBridge, Standalone,
};
use fleetsim::server::otau::{cik_for, identity_for, OtauServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::otau_mqtt::{
    assert_clean, real_options, run_flow_with, serve_and_run_scenario, Side, BOUND, DEVICES, MIXED,
};
use fleetsim::http_server::ServeMqtt;

/// A self-signed certificate for `localhost`: (cert PEM, key PEM, a rustls
/// server configuration of it).
fn localhost_cert() -> (String, String, Arc<rustls::ServerConfig>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .expect("config");
    (ck.cert.pem(), ck.key_pair.serialize_pem(), Arc::new(config))
}

/// The endpoint over TLS on a core of `devices`, and how devices reach it.
async fn tls_endpoint(server: &Arc<Mutex<OtauServer>>, epoch: Instant) -> (MuranoEndpoint, Broker) {
    let (cert, _, config) = localhost_cert();
    let opts = MuranoOptions {
        tls: Some(config),
        http: None,
        max_connections: 0,
    };
    let host = Standalone::new(server.clone(), epoch);
    let listen = "127.0.0.1:0".parse().expect("addr");
    let endpoint = MuranoEndpoint::start(listen, host, opts)
        .await
        .expect("endpoint starts");
    let broker = Broker {
        addr: endpoint.addr(),
        host: "localhost".into(),
        dialect: Dialect::Murano,
        tls: Some(client_tls(Some(cert.as_bytes())).expect("client TLS")),
    };
    (endpoint, broker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_update_over_the_murano_endpoint_with_tls() {
    let server = Arc::new(Mutex::new(OtauServer::new(DEVICES)));
    let epoch = Instant::now();
    let (endpoint, broker) = tls_endpoint(&server, epoch).await;
    run_flow_with(&broker, Side::Murano(endpoint), server, epoch).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activation_over_mqtt_gates_the_connect_and_wrong_tokens_are_refused() {
    let mut core = OtauServer::new(3);
    core.require_activation();
    let server = Arc::new(Mutex::new(core));
    let (endpoint, broker) = tls_endpoint(&server, Instant::now()).await;
    let refused = DeviceLink::connect(&broker, &cik_for(1), BOUND).await;
    assert!(refused.is_err(), "not activated yet: CONNACK 5");
    let token = provision(&broker, &identity_for(1), BOUND)
        .await
        .expect("endpoint answers");
    assert_eq!(token, Ok(cik_for(1)), "the 40-character token");
    let again = provision(&broker, &identity_for(1), BOUND)
        .await
        .expect("answer");
    assert_eq!(again, Err("409 already activated".to_string()));
    let unknown = provision(&broker, "no-such-device", BOUND)
        .await
        .expect("answer");
    assert!(
        matches!(&unknown, Err(r) if r.starts_with("404 ")),
        "{unknown:?}"
    );
    let link = DeviceLink::connect(&broker, &cik_for(1), BOUND)
        .await
        .expect("the token now connects");
    assert_eq!(endpoint.connected(), 1);
    link.close().await;
    let wrong = DeviceLink::connect(&broker, &"0".repeat(40), BOUND).await;
    assert!(wrong.is_err(), "a wrong token is refused (CONNACK 4)");
    assert!(server.lock().expect("lock").activated(1));
}

/// Redeliver fault on the endpoint: right after the ACK the acknowledged
/// value is sent again (without the fault nothing follows an ACK, as
/// `devices_update_over_the_murano_endpoint_with_tls` checks on reconnect).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeliver_fault_resends_the_acknowledged_value() {
    let mut core = OtauServer::new(2);
    core.faults.redeliver_acked = true;
    let server = Arc::new(Mutex::new(core));
    let epoch = Instant::now();
    let (endpoint, broker) = tls_endpoint(&server, epoch).await;
    let mut link = DeviceLink::connect(&broker, &cik_for(1), BOUND)
        .await
        .expect("connects");
    let manifest = fleetsim::protocol::otau::wire::Manifest::url_list_json("2.0.0", "f", &[]);
    server.lock().expect("lock").set_manifest(
        1,
        Arc::from(manifest.as_str()),
        fleetsim::time::Time(0),
    );
    endpoint.publish_pending([1]);
    let first = tokio::time::timeout(BOUND, link.recv())
        .await
        .expect("delivered");
    assert_eq!(first, Some(("config_otau".to_string(), manifest.clone())));
    link.publish("config_otau", &manifest, BOUND)
        .await
        .expect("ACK accepted");
    let again = tokio::time::timeout(BOUND, link.recv())
        .await
        .expect("sent again");
    assert_eq!(again, Some(("config_otau".to_string(), manifest)));
    assert!(server.lock().expect("lock").acked_at(1).is_some());
    link.close().await;
}

/// `serve` with a certificate: its MQTT endpoint speaks TLS, and a client
/// negotiating ALPN `http/1.1` on that port gets the OTAU HTTP routes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_http_on_the_mqtt_port_reaches_the_otau_routes() {
    let (cert, key, _) = localhost_cert();
    let dir = std::env::temp_dir().join(format!("fleetsim-murano-alpn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let files = fleetsim::http_server::TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&files.cert, &cert).expect("write cert");
    std::fs::write(&files.key, &key).expect("write key");
    let running = fleetsim::http_server::start(fleetsim::http_server::ServeOptions {
        listen: "127.0.0.1:0".parse().expect("addr"),
        tls: Some(files),
        mqtt: fleetsim::http_server::ServeMqtt::Embedded("127.0.0.1:0".parse().expect("addr")),
        ..Default::default()
    })
    .await
    .expect("serve starts");
    let mqtt = running.mqtt_addr.expect("MQTT endpoint");
    assert_eq!(running.mqtt_url, Some(format!("mqtts://{mqtt}")));
    let mut tls = (*client_tls(Some(cert.as_bytes())).expect("client TLS")).clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let ask = |path: &'static str| {
        let connector = connector.clone();
        async move {
            let tcp = tokio::net::TcpStream::connect(mqtt).await.expect("connect");
            let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
            let mut s = connector.connect(name, tcp).await.expect("TLS");
            assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Exosite-CIK: {}\r\nConnection: close\r\n\r\n",
                cik_for(0)
            );
            s.write_all(req.as_bytes()).await.expect("write");
            let mut out = String::new();
            tokio::time::timeout(BOUND, s.read_to_string(&mut out))
                .await
                .expect("answered")
                .ok();
            out
        }
    };
    let ts = ask("/timestamp").await;
    assert!(ts.starts_with("HTTP/1.1 200"), "{ts}");
    let read = ask("/onep:v1/stack/alias?config_otau").await;
    assert!(
        read.starts_with("HTTP/1.1 204"),
        "nothing written yet: {read}"
    );
    // Without ALPN (or with `mqtt`) the same port speaks MQTT.
    let broker = Broker {
        addr: mqtt,
        host: "localhost".into(),
        dialect: Dialect::Murano,
        tls: Some(client_tls(Some(cert.as_bytes())).expect("client TLS")),
    };
    let link = DeviceLink::connect(&broker, &cik_for(0), BOUND)
        .await
        .expect("MQTT on the same port");
    link.close().await;
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Mosquitto over TLS: devices and the bridge connect with rustls; the
/// topics stay `fleetsim/<cik>/...` (a generic broker).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mosquitto (Debian package): run scripts/test"]
async fn devices_update_over_mosquitto_with_tls() {
    let Some(binary) = Mosquitto::find() else {
        panic!("mosquitto test: not installed (apt-get install mosquitto)");
    };
    let (cert, key, _) = localhost_cert();
    let mosquitto = Mosquitto::start_tls(&binary, &cert, &key).expect("mosquitto starts");
    let broker = Broker {
        addr: mosquitto.addr(),
        host: "localhost".into(),
        dialect: Dialect::Generic,
        tls: Some(client_tls(Some(cert.as_bytes())).expect("client TLS")),
    };
    let server = Arc::new(Mutex::new(OtauServer::new(DEVICES)));
    let epoch = Instant::now();
    let host = Standalone::new(server.clone(), epoch);
    let bridge = ServerBridge::start_on(&broker, host, BOUND)
        .await
        .expect("bridge connects over TLS");
    run_flow_with(&broker, Side::Bridge(bridge), server, epoch).await;
}

/// A real-time run against `serve` with a certificate: HTTP devices over
/// HTTPS, MQTT devices over `mqtts://` to the Murano-shaped endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_run_over_mqtts() {
    let (cert, key, _) = localhost_cert();
    let run = serve_and_run_scenario(MIXED, ServeMqtt::Auto, Some((&cert, &key))).await;
    assert_clean(&run);
}

/// The server's `otau_redeliver_acked` mode over the Murano-shaped
/// endpoint: the oracle's OTAU-REDELIVER fires, and only it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeliver_mode_over_mqtt_fires_its_invariant() {
    let yaml = format!("{MIXED}faults:\n  server:\n    - {{ mode: otau_redeliver_acked }}\n");
    let run = serve_and_run_scenario(&yaml, ServeMqtt::Auto, None).await;
    let fired: std::collections::BTreeSet<&str> =
        run.oracle.violations().iter().map(|v| v.id).collect();
    assert_eq!(fired, std::collections::BTreeSet::from(["OTAU-REDELIVER"]));
}

/// `otau.activate` on `otau_mqtt` devices: each activates over MQTT
/// (`$provision/<identity>`) on first start, then connects with its token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_devices_activate_over_mqtt_then_update() {
    let yaml = MIXED.replace(
        "protocol: otau_mqtt, count: 20 }",
        "protocol: otau_mqtt, count: 20, otau: { activate: true } }",
    );
    assert_ne!(yaml, MIXED);
    let (cert, key, _) = localhost_cert();
    let run = serve_and_run_scenario(&yaml, ServeMqtt::Auto, Some((&cert, &key))).await;
    assert_clean(&run);
}

/// `otau.http_over_mqtt_port`: the HTTP devices' long polls and writes and
/// every device's content downloads go to the MQTT port (TLS, ALPN
/// `http/1.1`), whose handoff serves them as the HTTP listener would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_over_the_mqtt_port_serves_whole_updates() {
    let knob = "otau: { http_over_mqtt_port: true } }";
    let yaml = MIXED
        .replace(
            "protocol: otau_mqtt, count: 20 }",
            &format!("protocol: otau_mqtt, count: 20, {knob}"),
        )
        .replace(
            "protocol: otau, count: 5 }",
            &format!("protocol: otau, count: 5, {knob}"),
        );
    assert_eq!(yaml.matches("http_over_mqtt_port").count(), 2);
    let (cert, key, _) = localhost_cert();
    let run = serve_and_run_scenario(&yaml, ServeMqtt::Auto, Some((&cert, &key))).await;
    assert_clean(&run);
}

/// The knob without an `mqtts://` endpoint is refused before the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_over_the_mqtt_port_needs_an_mqtts_endpoint() {
    let yaml = MIXED.replace(
        "protocol: otau, count: 5 }",
        "protocol: otau, count: 5, otau: { http_over_mqtt_port: true } }",
    );
    let scenario = fleetsim::scenario::load_str("knob.yaml", &yaml).expect("scenario");
    let opts = real_options(
        "http://127.0.0.1:9".into(),
        None,
        "mqtt://127.0.0.1:9".into(),
    );
    let Err(err) = fleetsim::realtime::run_async(&scenario, &opts).await else {
        panic!("plain mqtt:// cannot carry HTTP over the MQTT port");
    };
    assert!(err.to_string().contains("mqtts://"), "{err}");
}

/// With every connection slot taken the endpoint accepts nobody more
/// until one closes (the kernel's backlog holds the newcomer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_holds_new_connections_while_full() {
    let server = Arc::new(Mutex::new(OtauServer::new(2)));
    let host = Standalone::new(server, Instant::now());
    let opts = MuranoOptions {
        tls: None,
        http: None,
        max_connections: 1,
    };
    let listen = "127.0.0.1:0".parse().expect("addr");
    let endpoint = MuranoEndpoint::start(listen, host, opts)
        .await
        .expect("endpoint starts");
    let broker = Broker::plain(endpoint.addr(), Dialect::Murano);
    let first = DeviceLink::connect(&broker, &cik_for(0), BOUND)
        .await
        .expect("first connects");
    let short = std::time::Duration::from_millis(500);
    let second = DeviceLink::connect(&broker, &cik_for(1), short).await;
    assert!(second.is_err(), "no slot for a second connection");
    first.close().await;
    let second = DeviceLink::connect(&broker, &cik_for(1), BOUND)
        .await
        .expect("a slot is free again");
    second.close().await;
}

/// `scenarios/otau-murano.yaml` cut to 20 minutes with 8 devices a group,
/// against `serve` with a certificate: HTTP devices over HTTPS, Murano-MQTT
/// devices that activate over `$provision/<identity>` and connect over
/// `mqtts://`, and devices speaking HTTP to the MQTT port (ALPN
/// `http/1.1`). No violation, and most devices of every kind update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otau_murano_runs_against_serve_over_tls() {
    let (cert, key, _) = localhost_cert();
    let cut: String = crate::otau_murano::short_text()
        .replace(
            "duration: 20m",
            "duration: 20m\nload: { time_scale: 100, request_timeout: 10s }",
        )
        .lines()
        .map(|l| match l.split_once("count: ") {
            Some((indent, _)) if indent.trim().is_empty() => format!("{indent}count: 8\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    let groups = cut.matches("count: 8").count();
    assert_eq!(groups, 5, "every group cut to 8 devices");
    let run = serve_and_run_scenario(&cut, ServeMqtt::Auto, Some((&cert, &key))).await;
    assert_eq!(
        run.oracle.total(),
        0,
        "violations: {:?}",
        run.oracle.violations().first()
    );
    crate::otau_murano::assert_activated_and_updated(&run, 16, 30, 40);
}
