//! A managed real-time run end to end: `fleetsim serve` starts empty, and
//! `fleetsim run --manage hawkbit` creates the scenario's campaign through the
//! hawkBit Management API v1 that `serve` speaks — tenant config (polling,
//! gateway token), targets, software module with a multipart artifact upload,
//! distribution set, assignment — then plays the devices over DDI and reads
//! back what the server recorded. Secrets come from a file and the
//! environment and must appear in no output: stdout, stderr, report.json.
//! A second run has devices authenticate with their own target tokens
//! (generated, and from a token file), which `--manage` provisions.

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use fleetsim::http_server::{start_with_credentials, MgmtCredentials, ServeOptions};

/// One scenario minute per real second, on both sides.
const TIME_SCALE: f64 = 60.0;
const PASSWORD: &str = "pw-7d1c-never-shown";
const GATEWAY_TOKEN: &str = "gw-93ab-never-shown";
const DEVICES: u64 = 40;

const SCENARIO: &str = "\
name: managed
seed: 5
duration: 12m
server:
  polling: 1m
fleet:
  - kind: always_on
    count: 40
campaigns:
  - name: fw-3.1
    at: 2m
    version: 3.1.0
    artifacts: [ { name: fw-3.1.bin, size: 200KiB } ]
    type: forced
load:
  time_scale: 60
expect:
  violations: none
  converged: { fraction: 1.0, within: 8m }
";

/// The same fleet, half of it with generated target tokens and half with
/// tokens from a file; no gateway token.
const TOKEN_SCENARIO: &str = "\
name: managed-tokens
seed: 6
duration: 12m
server:
  polling: 1m
fleet:
  - { kind: always_on, count: 20, id_prefix: gen-, auth: target_token }
  - { kind: always_on, count: 20, id_prefix: file-, auth: { target_token_file: tokens.txt } }
campaigns:
  - name: fw-3.1
    at: 2m
    version: 3.1.0
    artifacts: [ { name: fw-3.1.bin, size: 200KiB } ]
    type: forced
load:
  time_scale: 60
expect:
  violations: none
  converged: { fraction: 1.0, within: 8m }
";

/// What `fleetsim run --manage hawkbit` printed and reported.
struct Managed {
    stdout: String,
    stderr: String,
    report_text: String,
}

/// Starts `serve` empty, runs `scenario` (written to `dir`) against it with
/// `--manage hawkbit` and `extra` arguments, and stops the server.
fn run_managed(dir: &std::path::Path, scenario: &str, extra: &[&str]) -> Managed {
    run_managed_in(dir, scenario, extra, &[])
}

/// [`run_managed`] with `serve` hosting `tenants` beside DEFAULT (`--tenant`).
fn run_managed_in(
    dir: &std::path::Path,
    scenario: &str,
    extra: &[&str],
    tenants: &[&str],
) -> Managed {
    let tenants: Vec<String> = tenants.iter().map(|t| t.to_string()).collect();
    let path = dir.join("managed.yaml");
    std::fs::write(&path, scenario).expect("scenario");
    let out_dir = dir.join("report");

    let (addr_tx, addr_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let running = start_with_credentials(
                ServeOptions {
                    listen: "127.0.0.1:0".parse().expect("addr"),
                    scenario: None,
                    tls: None,
                    time_scale: TIME_SCALE,
                    mqtt: Default::default(),
                    tenants,
                    ..Default::default()
                },
                MgmtCredentials {
                    user: "ops".into(),
                    password: PASSWORD.into(),
                },
            )
            .await
            .expect("serve starts on an ephemeral port");
            addr_tx.send(running.base_url.clone()).expect("test waits");
            let _ = tokio::time::timeout(Duration::from_secs(120), stop_rx).await;
            running.shutdown().await;
        });
    });
    let base_url = addr_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("serve reports its address");

    let out = Command::new(env!("CARGO_BIN_EXE_fleetsim"))
        .args(["run", path.to_str().expect("utf8"), "--target", &base_url])
        .args(["--manage", "hawkbit", "--mgmt-user", "ops", "--quiet"])
        .args(extra)
        .args(["--out", out_dir.to_str().expect("utf8")])
        .env("FLEETSIM_MGMT_PASSWORD", PASSWORD)
        .env("RUST_LOG", "debug")
        .output()
        .expect("binary runs");
    let _ = stop_tx.send(());
    server.join().expect("server thread ends");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let report_text = std::fs::read_to_string(out_dir.join("report.json")).expect("report");
    Managed {
        stdout,
        stderr,
        report_text,
    }
}

/// Every device updated, as the server recorded it.
fn assert_all_updated(m: &Managed) {
    assert_updated(m, DEVICES);
}

/// `devices` devices updated, as the server recorded them.
fn assert_updated(m: &Managed, devices: u64) {
    let report: serde_json::Value = serde_json::from_str(&m.report_text).expect("json");
    let mgmt = &report["management"];
    assert_eq!(mgmt["api"], "hawkbit");
    assert_eq!(mgmt["errors"], serde_json::json!([]));
    let c = &mgmt["campaigns"][0];
    assert_eq!(c["name"], "fw-3.1");
    assert_eq!(c["targets"], devices);
    assert_eq!(c["recorded"]["updated"], devices, "{c}");
    assert_eq!(report["counters"]["updates_succeeded"], devices);
    assert!(
        m.stdout.contains("server (hawkbit) recorded"),
        "{}",
        m.stdout
    );
}

/// No output shows any of `secrets`.
fn assert_hidden(m: &Managed, secrets: &[&str]) {
    for (what, text) in [
        ("stdout", &m.stdout),
        ("stderr", &m.stderr),
        ("report.json", &m.report_text),
    ] {
        for secret in secrets {
            assert!(!text.contains(secret), "{what} shows a secret");
        }
    }
}

#[test]
fn run_with_manage_hawkbit_creates_the_campaign_on_serve_and_keeps_secrets() {
    let dir = std::env::temp_dir().join(format!("fleetsim-managed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let token_file = dir.join("gateway-token");
    std::fs::write(&token_file, format!("{GATEWAY_TOKEN}\n")).expect("token file");
    let token_arg = ["--gateway-token-file", token_file.to_str().expect("utf8")];
    let m = run_managed(&dir, SCENARIO, &token_arg);
    assert_hidden(&m, &[PASSWORD, GATEWAY_TOKEN]);
    assert_all_updated(&m);
}

#[test]
fn managed_target_tokens_authenticate_each_device_and_stay_hidden() {
    let dir = std::env::temp_dir().join(format!("fleetsim-managed-tt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let lines: Vec<String> = (20..40)
        .map(|n| format!("file-{n:05} tt-{n}-never-shown"))
        .collect();
    std::fs::write(dir.join("tokens.txt"), lines.join("\n")).expect("token file");
    let m = run_managed(&dir, TOKEN_SCENARIO, &[]);
    assert_hidden(&m, &[PASSWORD, "never-shown"]);
    assert_all_updated(&m);
}

/// A fleet in two tenants, target tokens in both: `--manage` logs in once
/// per tenant (ACME as its own user), provisions each tenant's devices there
/// and assigns the campaign in each; the report adds both tenants up.
const TENANT_SCENARIO: &str = "\
name: managed-tenants
seed: 7
duration: 12m
server:
  polling: 1m
fleet:
  - { kind: always_on, count: 20, id_prefix: home-, auth: target_token }
  - { kind: always_on, count: 20, id_prefix: acme-, auth: target_token, tenant: ACME }
campaigns:
  - name: fw-3.1
    at: 2m
    version: 3.1.0
    artifacts: [ { name: fw-3.1.bin, size: 200KiB } ]
    type: forced
load:
  time_scale: 60
expect:
  violations: none
  converged: { fraction: 1.0, within: 8m }
";

#[test]
fn managed_fleet_spanning_two_tenants_is_provisioned_and_updated_in_each() {
    let dir = std::env::temp_dir().join(format!("fleetsim-managed-tn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let m = run_managed_in(&dir, TENANT_SCENARIO, &[], &["ACME"]);
    assert_hidden(&m, &[PASSWORD]);
    assert_all_updated(&m);
}
