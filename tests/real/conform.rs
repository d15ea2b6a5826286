//! `fleetsim conform` against `fleetsim serve`: every case of every profile
//! passes (prepared through the hawkBit adapter, as against a hawkBit, and
//! serve's OTAU and cpg admin routes; `otau-mqtt` over serve's Murano-shaped
//! MQTT endpoint), a `serve` broken in one named fault mode fails the case
//! that checks it (one test per profile with server state: DDI, OTAU over
//! MQTT, cpg), and the command writes its card and exits 0 only when every
//! case passed. With `FLEETSIM_UPDATE_CARD=1` the runs regenerate serve's
//! cards in `docs/guide/conformance/` (goosebit's card:
//! `goosebit::conform_card_fails_exactly_the_recorded_deviations`).

use std::process::Command;

use fleetsim::conform::{self, evidence_of, Options, Profile};
use fleetsim::http_server::Running;
use fleetsim::management::{ManagerConfig, Secret, ServerApi};
use fleetsim::report::conform::{ConformReport, Outcome};

use crate::hawkbit_http::{bounded, serve};

/// `serve`'s Management API login in `hawkbit_http::serve`.
const USER: &str = "ops";
const PASSWORD: &str = "secret";

fn options(server: &Running, profile: Profile) -> Options {
    Options {
        target: server.base_url.clone(),
        tenant: "DEFAULT".into(),
        profile,
        only: Vec::new(),
        manager: Some(ManagerConfig {
            api: ServerApi::Hawkbit,
            url: server.base_url.clone(),
            user: USER.into(),
            password: Secret::new(PASSWORD),
            ca_pem: None,
        }),
        otau_admin: Some(ManagerConfig {
            api: ServerApi::Hawkbit,
            url: server.base_url.clone(),
            user: USER.into(),
            password: Secret::new(PASSWORD),
            ca_pem: None,
        }),
        otau_first_device: 0,
        mqtt: None,
        gateway_token: Some(Secret::new("conform-gw")),
        run_tag: "t1".into(),
        ca_pem: None,
    }
}

/// The failed and skipped cases with their evidence, for an assert message.
fn not_passed(r: &ConformReport) -> String {
    let mut out = fleetsim::report::conform::table(r);
    for c in r.cases.iter().filter(|c| c.outcome != Outcome::Pass) {
        out.push_str(&format!("\n--- {} ---\n{}", c.id, evidence_of(c)));
    }
    out
}

/// Runs every case of `profile` against `server` (its MQTT endpoint, if
/// any), asserts each passed, and with `FLEETSIM_UPDATE_CARD=1` writes the
/// card to `docs/guide/conformance/{card}`.
async fn passes_every_case(server: &Running, profile: Profile, card: &str) -> ConformReport {
    let mut o = options(server, profile);
    o.mqtt = server.mqtt_url.clone();
    let r = bounded("conform", conform::run(&o))
        .await
        .expect("the run starts");
    let cases = conform::catalogue()
        .into_iter()
        .filter(|c| profile.includes(c));
    assert_eq!(r.cases.len(), cases.count());
    assert!(r.passed(), "{}", not_passed(&r));
    if std::env::var_os("FLEETSIM_UPDATE_CARD").is_some() {
        let md = fleetsim::report::conform::markdown(&r);
        let path = format!("docs/guide/conformance/{card}");
        std::fs::write(path, md).expect("card written");
    }
    r
}

#[tokio::test]
async fn serve_passes_every_ddi_v1_case() {
    let server = serve().await;
    let r = passes_every_case(&server, Profile::DdiV1, "serve-card.md").await;
    assert!(r.cases.len() >= 50 && r.cases.iter().all(|c| c.id.starts_with("DDI-")));
    // The evidence holds what was exchanged, never the gateway token.
    let json = serde_json::to_string(&r).expect("json");
    assert!(json.contains("GatewayToken <redacted>") && !json.contains("conform-gw"));
}

/// Runs catalogue case `id` against a fresh `serve` (prepared through the
/// hawkBit adapter) and asserts it passes: the rows of
/// `docs/guide/conformance/hawkbit-ddi.md` whose check is a catalogue case call this.
pub(crate) async fn case_passes(id: &str) {
    let server = serve().await;
    let mut o = options(&server, Profile::DdiV1);
    o.only = vec![id.to_string()];
    let r = bounded(id, conform::run(&o)).await.expect("the run starts");
    assert!(r.passed(), "{}", not_passed(&r));
}

#[tokio::test]
async fn serve_passes_every_otau_http_case() {
    let server = serve().await;
    let r = passes_every_case(&server, Profile::OtauHttp, "serve-otau-card.md").await;
    assert!(r.cases.len() >= 10 && r.cases.iter().all(|c| c.id.starts_with("OTAU-")));
}

/// `serve` (`ops:secret`) with its MQTT endpoint on a free port, broken
/// from its start in fault mode `mode` (a scenario of 200 `protocol`
/// devices), or correct (no scenario) for `None`.
async fn serve_mqtt(broken: Option<(&str, &str)>) -> Running {
    let scenario = broken.map(|(mode, protocol)| {
        let yaml = format!(
            "name: conform-broken\nseed: 1\nduration: 1h\n\
             fleet:\n  - {{ kind: always_on, count: 200, protocol: {protocol} }}\n\
             faults:\n  server:\n    - {{ mode: {mode} }}\n"
        );
        fleetsim::scenario::load_str("broken.yaml", &yaml).expect("scenario")
    });
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let opts = fleetsim::http_server::ServeOptions {
        listen: loopback,
        scenario,
        mqtt: fleetsim::http_server::ServeMqtt::Embedded(loopback),
        ..Default::default()
    };
    let creds = fleetsim::http_server::MgmtCredentials {
        user: USER.into(),
        password: PASSWORD.into(),
    };
    bounded(
        "start",
        fleetsim::http_server::start_with_credentials(opts, creds),
    )
    .await
    .expect("server starts")
}

/// `serve` broken in fault mode `mode` (DDI devices).
async fn serve_broken(mode: &str) -> Running {
    serve_mqtt(Some((mode, "ddi"))).await
}

/// The outcome of each of `ids` run against `server` in `profile`.
async fn outcomes(server: &Running, profile: Profile, ids: &[&str]) -> Vec<Outcome> {
    let mut o = options(server, profile);
    o.mqtt = server.mqtt_url.clone();
    o.only = ids.iter().map(|s| s.to_string()).collect();
    let r = bounded("conform", conform::run(&o))
        .await
        .expect("the run starts");
    eprintln!("{}", not_passed(&r));
    ids.iter()
        .map(|id| {
            let c = r.cases.iter().find(|c| c.id == *id).expect("the case ran");
            c.outcome
        })
        .collect()
}

/// A server that takes a denial as consent fails exactly the denial case
/// (DDI-CONFIRM-003); the plain wait still passes.
#[tokio::test]
async fn a_server_taking_denial_as_consent_fails_the_denial_case() {
    let server = serve_broken("denial_as_consent").await;
    let got = outcomes(
        &server,
        Profile::DdiV1,
        &["DDI-CONFIRM-001", "DDI-CONFIRM-003"],
    )
    .await;
    assert_eq!(got, [Outcome::Pass, Outcome::Fail]);
}

#[tokio::test]
async fn serve_passes_every_otau_mqtt_case() {
    let server = serve_mqtt(None).await;
    let r = passes_every_case(&server, Profile::OtauMqtt, "serve-otau-mqtt-card.md").await;
    assert!(r.cases.len() >= 8 && r.cases.iter().all(|c| c.id.starts_with("MQTT-")));
}

/// A Murano endpoint that sends an acknowledged manifest again fails the
/// ACK case; the delivery of a pending one still passes.
#[tokio::test]
async fn an_endpoint_redelivering_acked_manifests_fails_the_ack_case() {
    let server = serve_mqtt(Some(("otau_redeliver_acked", "otau_mqtt"))).await;
    let ids = ["MQTT-MAN-002", "MQTT-ACK-001"];
    let got = outcomes(&server, Profile::OtauMqtt, &ids).await;
    assert_eq!(got, [Outcome::Pass, Outcome::Fail]);
}

#[tokio::test]
async fn serve_passes_every_cpg_case() {
    let server = serve().await;
    let r = passes_every_case(&server, Profile::Cpg, "serve-cpg-card.md").await;
    let ours = |id: &str| id.starts_with("CPG-") || id.starts_with("TWIN-");
    assert!(r.cases.len() >= 12 && r.cases.iter().all(|c| ours(&c.id)));
}

/// A CDN that serves expired URLs fails the expiry case; refusing an
/// altered URL still passes.
#[tokio::test]
async fn a_cdn_serving_expired_urls_fails_the_expiry_case() {
    let server = serve_mqtt(Some(("cdn_ignore_expiry", "cpg"))).await;
    let ids = ["CPG-CDN-002", "CPG-CDN-003"];
    let got = outcomes(&server, Profile::Cpg, &ids).await;
    assert_eq!(got, [Outcome::Pass, Outcome::Fail]);
}

fn fleetsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fleetsim"))
        .arg("conform")
        .args(args)
        .env("FLEETSIM_MGMT_PASSWORD", PASSWORD)
        .output()
        .expect("fleetsim runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_writes_the_card_and_exits_by_the_rule() {
    let server = serve().await;
    let url = server.base_url.clone();
    let dir = std::env::temp_dir().join(format!("fleetsim-conform-cli-{}", std::process::id()));
    let out = dir.join("core").to_str().expect("utf8").to_string();
    let out_skip = dir.join("skip").to_str().expect("utf8").to_string();
    let out_otau = dir.join("otau").to_str().expect("utf8").to_string();
    let (core, skips, bad, otau) = tokio::task::spawn_blocking(move || {
        let core = fleetsim(&[
            "--target",
            &url,
            "--profile",
            "ddi-v1-core",
            "--manage",
            "hawkbit",
            "--mgmt-user",
            USER,
            "--out",
            &out,
        ]);
        let skips = fleetsim(&["--target", &url, "--only", "DDI-FB-002", "--out", &out_skip]);
        let bad = fleetsim(&["--target", &url, "--profile", "ddi-v2"]);
        let otau = fleetsim(&[
            "--target",
            &url,
            "--profile",
            "otau-http",
            "--manage",
            "fleetsim",
            "--mgmt-user",
            USER,
            "--out",
            &out_otau,
        ]);
        (core, skips, bad, otau)
    })
    .await
    .expect("joined");
    let stdout = String::from_utf8_lossy(&core.stdout);
    assert_eq!(
        core.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&core.stderr)
    );
    assert!(stdout.contains("DDI-ROOT-001  PASS"), "{stdout}");
    let cases = conform::catalogue().into_iter().filter(|c| c.core).count();
    let junit = std::fs::read_to_string(dir.join("core/junit.xml")).expect("junit.xml");
    assert_eq!(junit.matches("<testcase").count(), cases, "{junit}");
    assert!(dir.join("core/index.html").is_file());
    // Without an adapter the case is SKIPped, and a SKIP is not a pass.
    assert_eq!(
        skips.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&skips.stdout)
    );
    let report = std::fs::read_to_string(dir.join("skip/report.json")).expect("report.json");
    assert!(report.contains("\"SKIP\"") && report.contains("no management adapter"));
    assert_eq!(bad.status.code(), Some(2));
    let refusal = String::from_utf8_lossy(&bad.stderr);
    assert!(
        refusal.contains("expected one of ddi-v1, ddi-v1-core, otau-http, otau-mqtt, cpg"),
        "{refusal}"
    );
    let otau_out = String::from_utf8_lossy(&otau.stdout);
    assert_eq!(otau.status.code(), Some(0), "{otau_out}");
    assert!(
        otau_out.contains("OTAU-MAN-001") && otau_out.contains("manage fleetsim"),
        "{otau_out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
