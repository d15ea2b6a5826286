//! OTAU over MQTT with real IO (otau.md §8): the embedded broker (rumqttd,
//! started inside fleetsim), the server bridge over an `OtauServer`, and
//! devices driven by `OtauClient` in `Transport::Mqtt` mode in real time,
//! each on its own `DeviceLink`. One device connects only after the
//! manifest was written and must get it as the retained message (pending
//! values are re-sent on connect). Every device must acknowledge and report
//! `INSTALLED_VERSION`; afterwards a reconnecting device receives nothing
//! (the bridge cleared the retained value on the ACK).
//!
//! `fleetsim serve` with its MQTT side (the Murano-shaped endpoint, the
//! embedded generic broker, or Mosquitto through `--mqtt-broker`) and the
//! real-time driver `fleetsim::realtime::run_async` with `--mqtt`: a mixed fleet of otau_mqtt and otau (HTTP) devices all
//! update from one scenario campaign, with no oracle violations.
//!
//! The flows against a real Mosquitto broker are `#[ignore]`d: they need
//! the Debian package `mosquitto`. `scripts/test` runs it with `--ignored`
//! when `mosquitto` is installed and prints `mosquitto test: SKIPPED` when
//! it is not.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fleetsim::artifact::Catalog;
use fleetsim::mqtt::{
    Broker, DeviceLink, Dialect, EmbeddedBroker, Mosquitto, MuranoEndpoint, ServerBridge,
};
use fleetsim::protocol::otau::wire::{Manifest, Status, StatusReport};
use fleetsim::protocol::otau::{OtauClient, OtauEnv, OtauEvent, OtauSettings, Transmit, Transport};
use fleetsim::server::otau::{cik_for, OtauServer};
use fleetsim::time::{Span, Time};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::time::timeout;

pub(crate) const DEVICES: u64 = 5;
pub(crate) const VERSION: &str = "2.0.0";
pub(crate) const BOUND: Duration = Duration::from_secs(5);

/// Who publishes the manifests: the bridge to a generic broker, or the
/// Murano-shaped endpoint on the core itself.
pub(crate) enum Side {
    Bridge(ServerBridge),
    Murano(MuranoEndpoint),
}

impl Side {
    /// Writes `manifest` to every device and sends it to the connected ones.
    async fn set_manifest_all(&self, server: &Mutex<OtauServer>, epoch: Instant, manifest: &str) {
        match self {
            Side::Bridge(b) => {
                let n = b.set_manifest_all(manifest).await.expect("published");
                assert_eq!(n, DEVICES);
            }
            Side::Murano(e) => {
                let now = Time(epoch.elapsed().as_millis() as u64);
                server.lock().expect("lock").set_manifest_all(manifest, now);
                e.publish_pending(0..DEVICES);
            }
        }
    }
}

fn settings() -> OtauSettings {
    OtauSettings {
        transport: Transport::Mqtt,
        status_gap: Span::millis(30),
        install_time: Span::millis(60),
        backoff_base: Span::millis(100),
        backoff_cap: Span::secs(1),
        ..OtauSettings::default()
    }
}

/// Drives one device until it has installed `VERSION`; returns its events.
pub(crate) async fn drive(mut link: DeviceLink, device: u64, epoch: Instant) -> Vec<OtauEvent> {
    let s = settings();
    let catalog = Catalog::new();
    let cik = cik_for(device);
    let env = OtauEnv {
        base_url: "http://unused.invalid",
        cik: &cik,
        catalog: &catalog,
        settings: &s,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(device);
    let mut client = OtauClient::with_transport(Time::ZERO, Transport::Mqtt);
    let mut events = Vec::new();
    let now = || Time(epoch.elapsed().as_millis() as u64);
    while client.installed() != Some(VERSION) || client.busy() {
        let due = client.poll_timeout();
        let wait = if due == Time::NEVER {
            Duration::from_secs(3600)
        } else {
            Duration::from_millis(due.as_millis().saturating_sub(now().as_millis()))
        };
        tokio::select! {
            msg = link.recv() => {
                let (alias, value) = msg.expect("link open");
                client.handle_message(now(), &alias, &value, &env, &mut rng, &mut events);
            }
            _ = tokio::time::sleep(wait) => {
                let t = now().max(due);
                match client.poll_transmit(t, &env) {
                    Some(Transmit::Publish { alias, value }) => {
                        let result = link.publish(alias, &value, BOUND).await;
                        client.handle_published(now(), result, &env, &mut rng, &mut events);
                    }
                    Some(Transmit::Http(req)) => panic!("no HTTP expected: {}", req.url),
                    Some(Transmit::Frame(f)) => panic!("no frame expected: {f}"),
                    None => {}
                }
            }
        }
    }
    link.close().await;
    events
}

async fn run_flow(addr: SocketAddr) {
    let server = Arc::new(Mutex::new(OtauServer::new(DEVICES)));
    let epoch = Instant::now();
    let bridge = ServerBridge::start(addr, server.clone(), epoch, BOUND)
        .await
        .expect("bridge connects");
    let broker = Broker::plain(addr, Dialect::Generic);
    run_flow_with(&broker, Side::Bridge(bridge), server, epoch).await;
}

/// Devices `0..DEVICES - 1` connect, a manifest is written to all, the last
/// device connects afterwards (and gets it as the pending value); all
/// update, and a reconnecting device gets nothing more.
pub(crate) async fn run_flow_with(
    broker: &Broker,
    side: Side,
    server: Arc<Mutex<OtauServer>>,
    epoch: Instant,
) {
    let late = DEVICES - 1;
    let mut tasks = Vec::new();
    for d in 0..late {
        let link = DeviceLink::connect(broker, &cik_for(d), BOUND)
            .await
            .expect("device connects");
        tasks.push(tokio::spawn(drive(link, d, epoch)));
    }
    let manifest = Manifest::url_list_json(VERSION, "mqtt update", &[]);
    side.set_manifest_all(&server, epoch, &manifest).await;
    // Connects after the write: gets the retained (pending) value.
    let link = DeviceLink::connect(broker, &cik_for(late), BOUND)
        .await
        .expect("late device connects");
    tasks.push(tokio::spawn(drive(link, late, epoch)));

    for (d, task) in tasks.into_iter().enumerate() {
        let events = timeout(Duration::from_secs(30), task)
            .await
            .unwrap_or_else(|_| panic!("device {d} did not finish within 30 s"))
            .expect("device task");
        assert!(
            events
                .iter()
                .any(|e| matches!(e, OtauEvent::Acked { version } if version == VERSION)),
            "device {d} acked: {events:?}"
        );
    }
    // The bridge records the last publishes after their PUBACKs: bounded wait.
    let settled = timeout(BOUND, async {
        loop {
            let done = {
                let s = server.lock().expect("lock");
                (0..DEVICES).all(|d| {
                    s.acked_at(d).is_some()
                        && s.statuses(d)
                            .last()
                            .and_then(|r| StatusReport::parse(&r.value).ok())
                            .is_some_and(|r| {
                                r.status == Status::InstalledVersion && r.version == VERSION
                            })
                })
            };
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    {
        let s = server.lock().expect("lock");
        for d in 0..DEVICES {
            let statuses: Vec<String> = s
                .statuses(d)
                .iter()
                .filter_map(|r| StatusReport::parse(&r.value).ok())
                .map(|r| r.status.as_str().to_string())
                .collect();
            assert!(
                settled.is_ok(),
                "device {d}: statuses {statuses:?}, acked {:?}",
                s.acked_at(d)
            );
            assert_eq!(
                statuses,
                [
                    "INIT",
                    "DOWNLOAD",
                    "DOWNLOAD_SUCCESS",
                    "INSTALL",
                    "INSTALL_STEP",
                    "INSTALL_SUCCESS",
                    "INSTALLED_VERSION"
                ],
                "device {d}"
            );
            assert_eq!(s.overwrites(d), 0, "device {d}");
        }
    }

    // Acknowledged: a reconnecting device gets no (non-empty) manifest.
    let mut again = DeviceLink::connect(broker, &cik_for(0), BOUND)
        .await
        .expect("reconnects");
    let got = timeout(Duration::from_millis(500), async {
        loop {
            match again.recv().await {
                Some((_, v)) if v.is_empty() => continue,
                other => return other,
            }
        }
    })
    .await;
    assert!(got.is_err(), "no pending value after the ACK, got {got:?}");
    again.close().await;
    drop(side);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_update_over_the_embedded_broker() {
    let broker = EmbeddedBroker::start(64).expect("embedded broker starts");
    run_flow(broker.addr()).await;
    drop(broker);
}

/// The `redeliver_acked` fault over MQTT: after the ACK the bridge publishes
/// the acknowledged value again (retained), so a reconnecting device gets it
/// — what OTAU-REDELIVER catches on the HTTP path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeliver_fault_republishes_the_acknowledged_value() {
    let broker = EmbeddedBroker::start(16).expect("embedded broker starts");
    let addr = broker.addr();
    let mut core = OtauServer::new(2);
    core.faults.redeliver_acked = true;
    let server = Arc::new(Mutex::new(core));
    let epoch = Instant::now();
    let bridge = ServerBridge::start(addr, server.clone(), epoch, BOUND)
        .await
        .expect("bridge connects");
    let broker = Broker::plain(addr, Dialect::Generic);
    let link = DeviceLink::connect(&broker, &cik_for(1), BOUND)
        .await
        .expect("device connects");
    let manifest = Manifest::url_list_json(VERSION, "fault", &[]);
    assert!(!bridge
        .set_manifest(2, &manifest)
        .await
        .expect("no device 2"));
    assert!(bridge.set_manifest(1, &manifest).await.expect("published"));
    let events = timeout(Duration::from_secs(30), drive(link, 1, epoch))
        .await
        .expect("device finishes");
    assert!(events.iter().any(|e| matches!(e, OtauEvent::Acked { .. })));
    let mut again = DeviceLink::connect(&broker, &cik_for(1), BOUND)
        .await
        .expect("reconnects");
    let got = timeout(BOUND, async {
        loop {
            match again.recv().await {
                Some((_, v)) if v.is_empty() => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("the acknowledged value is re-sent");
    assert_eq!(got, Some(("config_otau".to_string(), manifest)));
    again.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mosquitto (Debian package): run scripts/test"]
async fn devices_update_over_mosquitto() {
    let Some(binary) = Mosquitto::find() else {
        panic!("mosquitto test: not installed (apt-get install mosquitto)");
    };
    let broker = Mosquitto::start(&binary).expect("mosquitto starts");
    run_flow(broker.addr()).await;
}

/// 20 otau_mqtt + 5 otau (HTTP) always-on devices; a campaign at 1 min.
pub(crate) const MIXED: &str = "
name: mqtt-real
seed: 5
duration: 15m
load: { time_scale: 100, request_timeout: 5s }
fleet:
  - { kind: always_on, protocol: otau_mqtt, count: 20 }
  - { kind: always_on, protocol: otau, count: 5 }
campaigns:
  - name: edge-2.0
    at: 1m
    version: 2.0.0
    artifacts: [ { name: edge-2.0.0.img, size: 8KiB } ]
";

/// `serve` (its MQTT side as `mqtt`) and a real-time run against it.
async fn serve_and_run(mqtt: fleetsim::http_server::ServeMqtt) {
    assert_clean(&serve_and_run_scenario(MIXED, mqtt, None).await);
}

/// No violations and all 25 devices of [`MIXED`] updated.
pub(crate) fn assert_clean(run: &fleetsim::result::RunResult) {
    assert_eq!(
        run.oracle.total(),
        0,
        "violations: {:?}",
        run.oracle.violations().first()
    );
    assert_eq!(run.stats.updates_succeeded, 25, "devices updated");
}

/// A real-time run's options: `base_url` with its CA, MQTT at `mqtt`.
pub(crate) fn real_options(
    base_url: String,
    ca_pem: Option<(String, Vec<u8>)>,
    mqtt: String,
) -> fleetsim::realtime::RealOptions {
    fleetsim::realtime::RealOptions {
        target: fleetsim::realtime::Target {
            base_url,
            tenant: None,
            gateway_token: None,
            ca_pem,
        },
        manager: None,
        mqtt: Some(mqtt),
        live: None,
        server_events: None,
        twin: Default::default(),
    }
}

/// `serve` of scenario `yaml` (its MQTT side as `mqtt`; HTTPS and MQTT over
/// TLS with `tls` = (cert PEM, key PEM) for `localhost`) and a real-time run
/// of the same scenario against it.
pub(crate) async fn serve_and_run_scenario(
    yaml: &str,
    mqtt: fleetsim::http_server::ServeMqtt,
    tls: Option<(&str, &str)>,
) -> fleetsim::result::RunResult {
    let scenario = fleetsim::scenario::load_str("mqtt-real.yaml", yaml).expect("scenario");
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("fleetsim-mqtt-real-{}-{n}", std::process::id()));
    let files = tls.map(|(cert, key)| {
        std::fs::create_dir_all(&dir).expect("temp dir");
        let files = fleetsim::http_server::TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&files.cert, cert).expect("write cert");
        std::fs::write(&files.key, key).expect("write key");
        files
    });
    let running = fleetsim::http_server::start(fleetsim::http_server::ServeOptions {
        listen: "127.0.0.1:0".parse().expect("addr"),
        scenario: Some(scenario.clone()),
        tls: files,
        time_scale: scenario.load.time_scale,
        mqtt,
        ..Default::default()
    })
    .await
    .expect("serve starts with its MQTT side");
    let broker = running.mqtt_addr.expect("serve reports its broker");
    if let fleetsim::http_server::ServeMqtt::External(addr) = mqtt {
        assert_eq!(broker, addr);
    }
    let mut url = running.mqtt_url.clone().expect("and its URL");
    let mut base_url = running.base_url.clone();
    if tls.is_some() {
        // The certificate names `localhost`, not the address.
        url = url.replace("127.0.0.1", "localhost");
        base_url = base_url.replace("127.0.0.1", "localhost");
    }
    let ca = tls.map(|(cert, _)| ("cert.pem".to_string(), cert.as_bytes().to_vec()));
    let opts = real_options(base_url, ca, url);
    let run = timeout(
        Duration::from_secs(60),
        fleetsim::realtime::run_async(&scenario, &opts),
    )
    .await
    .expect("the run ends within 60 s")
    .expect("target and broker reachable");
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    run
}

/// `serve`'s default MQTT side: the Murano-shaped endpoint (`mqtt://`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_run_over_the_murano_endpoint() {
    serve_and_run(fleetsim::http_server::ServeMqtt::Auto).await;
}

/// The generic embedded broker (rumqttd and the bridge, `fleetsim+mqtt://`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_run_over_the_embedded_generic_broker() {
    let listen = "127.0.0.1:0".parse().expect("addr");
    serve_and_run(fleetsim::http_server::ServeMqtt::EmbeddedBroker(listen)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_without_a_broker_for_mqtt_devices_is_refused() {
    let scenario = fleetsim::scenario::load_str("mqtt-real.yaml", MIXED).expect("scenario");
    let opts = fleetsim::realtime::RealOptions {
        target: fleetsim::realtime::Target {
            base_url: "http://127.0.0.1:9".into(),
            tenant: None,
            gateway_token: None,
            ca_pem: None,
        },
        manager: None,
        mqtt: None,
        live: None,
        server_events: None,
        twin: Default::default(),
    };
    let Err(err) = fleetsim::realtime::run_async(&scenario, &opts).await else {
        panic!("a fleet with otau_mqtt devices and no --mqtt must be refused");
    };
    assert!(
        matches!(err, fleetsim::realtime::RuntimeError::MqttMissing(_)),
        "{err}"
    );
    assert!(err.to_string().contains("--mqtt"), "{err}");
}

/// A broker nobody listens on: the devices' bounded connect retries end in
/// `RuntimeError::Mqtt` (exit 3) naming the broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_an_infrastructure_error() {
    let scenario = fleetsim::scenario::load_str("mqtt-real.yaml", MIXED).expect("scenario");
    // An HTTP target without MQTT, and a port that was free a moment ago.
    let running = fleetsim::http_server::start(fleetsim::http_server::ServeOptions {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..fleetsim::http_server::ServeOptions::default()
    })
    .await
    .expect("serve starts");
    assert_eq!(running.mqtt_addr, None);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let opts = fleetsim::realtime::RealOptions {
        target: fleetsim::realtime::Target {
            base_url: running.base_url.clone(),
            tenant: None,
            gateway_token: None,
            ca_pem: None,
        },
        manager: None,
        mqtt: Some(closed.to_string()),
        live: None,
        server_events: None,
        twin: Default::default(),
    };
    let result = timeout(
        Duration::from_secs(60),
        fleetsim::realtime::run_async(&scenario, &opts),
    )
    .await
    .expect("gives up within 60 s");
    running.shutdown().await;
    let Err(err) = result else {
        panic!("no broker: the run must fail");
    };
    assert!(
        matches!(err, fleetsim::realtime::RuntimeError::Mqtt { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&closed.to_string()), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mosquitto (Debian package): run scripts/test"]
async fn serve_and_run_over_mosquitto() {
    let Some(binary) = Mosquitto::find() else {
        panic!("mosquitto test: not installed (apt-get install mosquitto)");
    };
    let broker = Mosquitto::start(&binary).expect("mosquitto starts");
    serve_and_run(fleetsim::http_server::ServeMqtt::External(broker.addr())).await;
}
