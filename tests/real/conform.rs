//! `fleetsim conform` against `fleetsim serve`: every case of every profile
//! passes (prepared through the hawkBit adapter, as against a hawkBit, and
//! serve's OTAU admin routes), and the command writes its card and exits 0
//! only when every case passed. With `FLEETSIM_UPDATE_CARD=1` the runs
//! regenerate `docs/guide/conformance/serve-card.md` and `serve-otau-card.md`
//! (goosebit's card: `goosebit::conform_card_fails_exactly_the_recorded_deviations`).

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

#[tokio::test]
async fn serve_passes_every_ddi_v1_case() {
    let server = serve().await;
    let r = bounded("conform", conform::run(&options(&server, Profile::DdiV1)))
        .await
        .expect("the run starts");
    let ddi = conform::catalogue()
        .into_iter()
        .filter(|c| c.id.starts_with("DDI-"));
    assert_eq!(r.cases.len(), ddi.count());
    assert!(r.passed(), "{}", not_passed(&r));
    if std::env::var_os("FLEETSIM_UPDATE_CARD").is_some() {
        let card = fleetsim::report::conform::markdown(&r);
        std::fs::write("docs/guide/conformance/serve-card.md", card).expect("card written");
    }
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
    let r = bounded(
        "conform",
        conform::run(&options(&server, Profile::OtauHttp)),
    )
    .await
    .expect("the run starts");
    assert!(r.cases.len() >= 10 && r.cases.iter().all(|c| c.id.starts_with("OTAU-")));
    assert!(r.passed(), "{}", not_passed(&r));
    if std::env::var_os("FLEETSIM_UPDATE_CARD").is_some() {
        let card = fleetsim::report::conform::markdown(&r);
        std::fs::write("docs/guide/conformance/serve-otau-card.md", card).expect("card written");
    }
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
        let bad = fleetsim(&["--target", &url, "--profile", "otau-mqtt"]);
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
    assert!(String::from_utf8_lossy(&bad.stderr).contains("planned, not built yet"));
    let otau_out = String::from_utf8_lossy(&otau.stdout);
    assert_eq!(otau.status.code(), Some(0), "{otau_out}");
    assert!(
        otau_out.contains("OTAU-MAN-001") && otau_out.contains("manage fleetsim"),
        "{otau_out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
