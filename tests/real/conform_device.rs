//! `fleetsim conform --device`: the reference server plays its script to
//! devices and judges them. fleetsim's own devices (real-time driver) pass
//! every situation; so does the `hawkbit` crate's client, driven by the
//! loop an integrator writes around it (it resumes a cut download with
//! `Range`); deliberately broken devices (feedback sent twice, sleep
//! ignored) fail the cases that catch them. Port 0, bounded
//! waits: each run ends when its devices finished the script or at a
//! deadline well below the test's bound.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fleetsim::conform::device::{self, DeviceOptions};
use fleetsim::realtime::Live;
use fleetsim::report::conform::{row_id, ConformReport, Outcome};
use fleetsim::time::Span;
use hawkbit::ddi::{
    Client as DdiClient, ClientAuthorization, Execution, Finished, MaintenanceWindow, Reply,
};

use crate::common;

/// Situations in the script, plus DEV-DDI-POLL-001.
const CASES_PER_DEVICE: usize = 10;

/// `devices` devices told to sleep `sleep_s` seconds.
fn options(devices: usize, sleep_s: u64) -> DeviceOptions {
    DeviceOptions {
        listen: "127.0.0.1:0".parse().expect("addr"),
        devices,
        deadline: Duration::from_secs(90),
        sleep: Span::secs(sleep_s),
        situation_timeout: Span::secs(20),
    }
}

/// The rows that did not pass, with their evidence.
fn not_passed(r: &ConformReport) -> String {
    let mut out = fleetsim::report::conform::table(r);
    for c in r.cases.iter().filter(|c| c.outcome != Outcome::Pass) {
        out.push_str(&format!(
            "\n--- {} ---\n{}",
            row_id(c),
            fleetsim::conform::evidence_of(c)
        ));
    }
    out
}

/// The outcome of case `id` for device `cid`.
fn outcome(r: &ConformReport, id: &str, cid: &str) -> (Outcome, String) {
    let c = r
        .cases
        .iter()
        .find(|c| c.id == id && c.device.as_deref() == Some(cid))
        .unwrap_or_else(|| panic!("no row {id} @{cid}:\n{}", not_passed(r)));
    (c.outcome, c.reason.clone().unwrap_or_default())
}

/// Runs the fleet of `yaml` (real-time driver) against `conform --device`
/// expecting `devices` devices; the card.
fn judge_fleet(yaml: &str, devices: usize, sleep_s: u64) -> ConformReport {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let run = rt
        .block_on(device::start(options(devices, sleep_s)))
        .expect("the reference server starts on port 0");
    let scenario = fleetsim::scenario::load_str("conform-device.yaml", yaml).expect("scenario");
    let live = Arc::new(Live::new());
    let mut opts = common::options(&run.base_url);
    opts.live = Some(live.clone());
    let fleet = std::thread::spawn(move || fleetsim::realtime::run(&scenario, &opts));
    let report = rt.block_on(run.finish());
    live.stop.store(true, Ordering::Relaxed);
    let _ = fleet.join().expect("the fleet thread ends");
    report
}

/// A fleet of `count` always-on DDI devices that confirm, install in 200 ms.
fn fleet(groups: &str) -> String {
    format!(
        "name: conform-device\nduration: 10m\nserver: {{ polling: 1s }}\nload: {{ request_timeout: 5s }}\nfleet:\n{groups}"
    )
}

#[test]
fn fleetsim_devices_pass_every_situation() {
    let yaml = fleet("  - { kind: always_on, count: 2, install_time: 200ms, consent: confirm }\n");
    let r = judge_fleet(&yaml, 2, 1);
    assert_eq!(r.cases.len(), 2 * CASES_PER_DEVICE, "{}", not_passed(&r));
    assert!(r.passed(), "{}", not_passed(&r));
}

#[test]
fn broken_devices_fail_the_cases_that_catch_them() {
    let yaml = fleet(
        "  - { kind: always_on, count: 1, id_prefix: twice-, install_time: 200ms, consent: confirm, resend_final_feedback: true }\n\
         \x20 - { kind: always_on, count: 1, id_prefix: eager-, install_time: 200ms, consent: confirm, misbehave: { poll_every: 200ms } }\n",
    );
    // A 2 s sleep: the oracle allows 1 s of slack on every poll gap
    // (DDI-POLL-RATE), so a device polling every 200 ms shows only then.
    let r = judge_fleet(&yaml, 2, 2);
    let (o, why) = outcome(&r, "DEV-DDI-UPDATE-001", "twice-00000");
    assert_eq!(o, Outcome::Fail, "{}", not_passed(&r));
    assert!(why.contains("exactly once"), "{why}");
    assert_eq!(
        outcome(&r, "DEV-DDI-POLL-001", "twice-00000").0,
        Outcome::Pass,
        "{}",
        not_passed(&r)
    );
    let (o, why) = outcome(&r, "DEV-DDI-POLL-001", "eager-00001");
    assert_eq!(o, Outcome::Fail, "{}", not_passed(&r));
    assert!(why.contains("DDI-POLL-RATE"), "{why}");
    assert_eq!(
        outcome(&r, "DEV-DDI-UPDATE-001", "eager-00001").0,
        Outcome::Pass,
        "{}",
        not_passed(&r)
    );
    assert!(!r.passed());
}

/// The loop an integrator writes around the `hawkbit` crate (it has no loop
/// of its own): poll; confirm a `confirmationBase`; answer a `cancelAction`
/// with closed/success; or fetch the deployment, report `proceeding`,
/// download, check sha256 and — when `honour_window` and the deployment's
/// `maintenanceWindow` is `unavailable`, not yet: a later poll will —
/// report closed/success or closed/failure. Any error (a refused feedback,
/// a broken download) goes back to polling; between polls it sleeps the
/// server's `sleep`.
async fn hawkbit_device(
    url: String,
    cid: &'static str,
    stop: Arc<AtomicBool>,
    honour_window: bool,
) {
    let ddi = DdiClient::new(
        &url,
        "DEFAULT",
        cid,
        ClientAuthorization::None,
        None,
        None,
        None,
    )
    .expect("a DDI client");
    let dir =
        std::env::temp_dir().join(format!("fleetsim-conform-dev-{}-{cid}", std::process::id()));
    let mut sleep = Duration::from_secs(1);
    while !stop.load(Ordering::Relaxed) {
        if let Ok(reply) = ddi.poll().await {
            sleep = reply.polling_sleep().unwrap_or(sleep);
            let _ = hawkbit_step(&reply, &dir, honour_window).await;
        }
        tokio::time::sleep(sleep).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// One turn of [`hawkbit_device`]'s loop after a poll.
async fn hawkbit_step(
    reply: &Reply,
    dir: &std::path::Path,
    honour_window: bool,
) -> Result<(), hawkbit::ddi::Error> {
    if let Some(ask) = reply.confirmation_base() {
        return ask.confirm().await;
    }
    if let Some(cancel) = reply.cancel_action() {
        return cancel
            .send_feedback(Execution::Closed, Finished::Success, vec!["canceled"])
            .await;
    }
    let Some(update) = reply.update() else {
        return Ok(());
    };
    let update = update.fetch().await?;
    update
        .send_feedback(Execution::Proceeding, Finished::None, vec!["downloading"])
        .await?;
    let artifacts = update.download(dir).await?;
    let mut intact = true;
    for a in &artifacts {
        intact &= a.check_sha256().await.is_ok();
    }
    if honour_window && update.maintenance_window() == Some(MaintenanceWindow::Unavailable) {
        return Ok(());
    }
    let finished = if intact {
        Finished::Success
    } else {
        Finished::Failure
    };
    update
        .send_feedback(Execution::Closed, finished, vec![])
        .await
}

/// The card of one `hawkbit` crate device driven by [`hawkbit_device`].
fn judge_hawkbit_device(honour_window: bool) -> ConformReport {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let run = device::start(options(1, 1))
            .await
            .expect("the reference server starts");
        let stop = Arc::new(AtomicBool::new(false));
        let device = tokio::spawn(hawkbit_device(
            run.base_url.clone(),
            "rs-device",
            stop.clone(),
            honour_window,
        ));
        let r = run.finish().await;
        stop.store(true, Ordering::Relaxed);
        let _ = tokio::time::timeout(Duration::from_secs(10), device).await;
        r
    })
}

#[test]
fn the_hawkbit_crate_client_passes_every_situation() {
    let r = judge_hawkbit_device(true);
    assert_eq!(r.cases.len(), CASES_PER_DEVICE, "{}", not_passed(&r));
    // Every situation passes: hawkbit 0.7.2 keeps a cut download as
    // `<file>.part` and resumes it with `Range: bytes=N-`, verifies sha256,
    // and the loop above answers cancels and confirmations, sleeps after
    // errors (the 429), waits for a maintenance window and lets an action
    // go when its feedback gets 410.
    assert!(r.passed(), "{}", not_passed(&r));
    let resume = r.cases.iter().find(|c| c.id == "DEV-DDI-RESUME-001");
    let evidence = resume
        .map(fleetsim::conform::evidence_of)
        .unwrap_or_default();
    assert!(evidence.contains("> range: bytes=131072-"), "{evidence}");
}

#[test]
fn a_loop_that_ignores_the_maintenance_window_fails_only_the_window_case() {
    let r = judge_hawkbit_device(false);
    let (o, why) = outcome(&r, "DEV-DDI-WINDOW-001", "rs-device");
    assert_eq!(o, Outcome::Fail, "{}", not_passed(&r));
    assert!(why.contains("DDI-WINDOW-INSTALL"), "{why}");
    let failed: Vec<_> = r
        .cases
        .iter()
        .filter(|c| c.outcome != Outcome::Pass)
        .collect();
    assert_eq!(failed.len(), 1, "{}", not_passed(&r));
}

#[test]
fn the_command_prints_its_address_and_fails_what_the_deadline_left_open() {
    use std::io::BufRead as _;
    let dir = std::env::temp_dir().join(format!("fleetsim-conform-device-{}", std::process::id()));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fleetsim"))
        .args([
            "conform",
            "--device",
            "--listen",
            "127.0.0.1:0",
            "--deadline",
            "1s",
            "--out",
        ])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("fleetsim starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(
        first.starts_with("listening on http://127.0.0.1:"),
        "{first}"
    );
    assert!(!first.ends_with(":0"), "the bound port is printed: {first}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("fleetsim ends after its deadline");
    assert_eq!(status.code(), Some(1), "{}", rest.join("\n"));
    let junit = std::fs::read_to_string(dir.join("junit.xml")).expect("junit.xml");
    assert_eq!(
        junit.matches("<testcase").count(),
        CASES_PER_DEVICE,
        "{junit}"
    );
    assert!(
        junit.contains("deadline: device 1 of 1 never connected"),
        "{junit}"
    );
    assert!(dir.join("index.html").is_file() && dir.join("report.json").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}
