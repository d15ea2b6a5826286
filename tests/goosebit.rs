//! fleetsim against a real goosebit 0.2.12: a fresh instance is started
//! (`fleetsim::target::goosebit::Instance`), the goosebit adapter runs the
//! campaign of `scenarios/targets/goosebit.yaml`, and 240 real-time devices
//! register, send configData, fetch the deployment, download the `.swu` with
//! its hash checked and report success. goosebit's REST API must then show
//! every device updated, the oracle must fire exactly the invariants the
//! scenario's `expect:` lists (goosebit's deviations), and neither the
//! password nor any bearer token may appear in the report or summary.
//!
//! Ignored by default: it needs goosebit. `scripts/test` installs it
//! (`scripts/goosebit-venv`), exports `FLEETSIM_GOOSEBIT_VENV` and runs
//! `cargo test --test goosebit -- --ignored`.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use fleetsim::message::ContentId;
use fleetsim::runtime::{run_async, RealOptions, Target};
use fleetsim::scenario::{CampaignType, Scenario};
use fleetsim::sim::setup::{selects, Setup};
use fleetsim::target::goosebit::{Instance, InstanceOptions};
use fleetsim::target::{
    FleetInfo, Manager, ManagerConfig, Order, OrderKind, Recorded, ServerApi, Upload,
};

const SCENARIO: &str = "scenarios/targets/goosebit.yaml";

/// The campaign `index` of `s` as an order for a manager (what the run's
/// campaign conductor does at the campaign's time).
fn order(s: &Scenario, setup: &Setup, index: usize) -> Order {
    let c = &s.campaigns[index];
    let artifacts = c
        .artifacts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut bytes = vec![0u8; a.size.0 as usize];
            fleetsim::artifact::fill(ContentId(1000 + (index * 16 + i) as u64), 0, &mut bytes);
            Upload {
                filename: a.name.clone(),
                bytes: Bytes::from(bytes),
            }
        })
        .collect();
    let mut targets = Vec::new();
    for g in &setup.groups {
        for n in g.first..g.first + g.count {
            if selects(&c.targets, index, n, g.kind) {
                targets.push(setup.controller_id(n));
            }
        }
    }
    Order {
        index,
        name: c
            .name
            .clone()
            .unwrap_or_else(|| format!("campaign-{index}")),
        version: c.version.clone(),
        artifacts,
        kind: match c.kind {
            CampaignType::Forced => OrderKind::Forced,
            CampaignType::Soft => OrderKind::Soft,
            CampaignType::Downloadonly => OrderKind::DownloadOnly,
            CampaignType::Timeforced => OrderKind::TimeForced {
                force_after: c.force_after.map(|d| d.0).unwrap_or_default(),
            },
        },
        weight: c.weight,
        window: None,
        targets,
    }
}

async fn start_goosebit() -> Instance {
    let opts = InstanceOptions::from_env("00:00:05")
        .expect("FLEETSIM_GOOSEBIT_VENV must name the goosebit virtualenv (run scripts/test)");
    tokio::task::spawn_blocking(move || Instance::start(&opts))
        .await
        .expect("start task")
        .unwrap_or_else(|e| panic!("goosebit starts: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs goosebit: run scripts/test"]
async fn fleet_updates_through_goosebit_and_only_the_expected_invariants_fire() {
    let goosebit = start_goosebit().await;
    let s = fleetsim::scenario::load(Path::new(SCENARIO)).expect("scenario loads");
    let setup = Setup::new(&s);
    let ids: Vec<String> = (0..setup.device_count())
        .map(|n| setup.controller_id(n))
        .collect();
    assert!(ids.len() >= 200);

    let cfg = ManagerConfig {
        api: ServerApi::Goosebit,
        url: goosebit.base_url.clone(),
        user: goosebit.user.clone(),
        password: goosebit.password.clone(),
        ca_pem: None,
    };
    let mut manager = Manager::connect(&cfg).await.expect("login");
    manager
        .prepare(&FleetInfo {
            tenant: goosebit.tenant.clone(),
            controller_ids: ids.clone(),
            polling: s.server.polling.0,
            gateway_token: None,
        })
        .await
        .expect("prepare");

    let opts = RealOptions {
        target: Target {
            base_url: goosebit.base_url.clone(),
            tenant: Some(goosebit.tenant.clone()),
            gateway_token: None,
            ca_pem: None,
        },
        progress: false,
    };
    let fleet_scenario = s.clone();
    let started = std::time::Instant::now();
    let fleet = tokio::spawn(async move { run_async(&fleet_scenario, &opts).await });

    // The campaign at its scenario time (time_scale 1: real time), then
    // ticks until the fleet's run ends.
    let at = Duration::from_millis(s.campaigns[0].at.0.as_millis());
    tokio::time::sleep(at.saturating_sub(started.elapsed())).await;
    let ord = order(&s, &setup, 0);
    manager.start(&ord).await.expect("campaign starts");
    while !fleet.is_finished() {
        tokio::time::sleep(Duration::from_secs(5)).await;
        manager.tick().await.expect("tick");
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "fleet run overran; goosebit log:\n{}",
            goosebit.log_tail(30)
        );
    }
    let run = fleet
        .await
        .expect("fleet task")
        .unwrap_or_else(|e| panic!("run: {e}\n{}", goosebit.log_tail(30)));

    // What goosebit recorded.
    let recorded = manager.recorded(0, &ids).await.expect("recorded");
    let updated = recorded.iter().filter(|r| **r == Recorded::Updated).count();
    eprintln!(
        "goosebit: {} devices, {updated} recorded as updated, {} device updates succeeded, \
         {:.0} s, statuses {:?}, oracle {:?}",
        ids.len(),
        run.stats.updates_succeeded,
        started.elapsed().as_secs_f64(),
        run.stats.statuses,
        run.oracle.counts()
    );
    assert!(
        updated >= 200,
        "{updated} of {} devices updated according to goosebit ({:?} …); log:\n{}",
        ids.len(),
        recorded
            .iter()
            .filter(|r| **r != Recorded::Updated)
            .take(5)
            .collect::<Vec<_>>(),
        goosebit.log_tail(30)
    );
    assert!(run.stats.updates_succeeded >= 200);

    // One example of each invariant that fired, for the conformance notes.
    for id in run.oracle.counts().keys() {
        if let Some(v) = run.oracle.violations().iter().find(|v| v.id == id.as_str()) {
            eprintln!(
                "{}: {} ({}) e.g. {}",
                id,
                run.oracle.counts()[id],
                v.controller_id,
                v.message
            );
        }
    }

    // Exactly the expected invariants fire (and the verdict says so).
    let fired: Vec<&str> = run.oracle.counts().keys().map(|i| i.as_str()).collect();
    let expected: Vec<&str> = match &s.expect.violations {
        fleetsim::scenario::ExpectedViolations::Ids(ids) => {
            ids.iter().map(String::as_str).collect()
        }
        fleetsim::scenario::ExpectedViolations::None => Vec::new(),
    };
    let mut fired_sorted = fired.clone();
    fired_sorted.sort_unstable();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort_unstable();
    assert_eq!(
        fired_sorted,
        expected_sorted,
        "first violations: {:#?}",
        run.oracle.violations().iter().take(3).collect::<Vec<_>>()
    );
    let verdict = fleetsim::report::verdict(&s, &run);
    assert!(verdict.passed, "{:?}", verdict.problems);

    // No secret in the report or the summary.
    let report = fleetsim::report::build(&s, SCENARIO, &run, started.elapsed());
    let dir = goosebit.dir().join("report");
    let path = fleetsim::report::write(&report, &dir).expect("report written");
    let summary = fleetsim::report::print_summary(&report, &path.display().to_string());
    let mut texts = vec![("summary".to_string(), summary)];
    for entry in std::fs::read_dir(&dir).expect("report dir").flatten() {
        if let Ok(text) = std::fs::read_to_string(entry.path()) {
            texts.push((entry.path().display().to_string(), text));
        }
    }
    let password = goosebit.password.expose();
    for (name, text) in &texts {
        assert!(!text.contains(password), "{name} shows the password");
        // goosebit's bearer tokens are JWTs: base64url of `{"` starts `eyJ`.
        assert!(!text.contains("eyJ"), "{name} shows a bearer token");
    }
}
