//! The server's own record, read back after a managed run and checked
//! against what the devices saw (MGMT-OUTCOME, MGMT-INSTALLED).
//!
//! `fleetsim serve` hosts the fleet empty of campaigns; the run creates two
//! campaigns through its Management API (`--manage hawkbit`), a third of
//! the installs fail, and after the run every device's actions and
//! installed set are read back. A correct server agrees with the devices
//! everywhere; a server storing `closed`+`failure` as FINISHED (fault mode
//! `wrong_status_mapping`) contradicts the devices' accepted failures, and
//! shows the failed update's set as installed.

use crate::common;
use crate::real_run::ServeThread;
use fleetsim::management::{ManagerConfig, Secret, ServerApi};
use fleetsim::oracle::InvariantId;
use fleetsim::realtime::run;
use fleetsim::scenario::load_str;

const DEVICES: u64 = 30;

/// A fleet of 30 with two campaigns, `faults` added for serve's side.
fn scenario(campaigns: bool, faults: &str) -> String {
    let campaigns = if campaigns {
        "campaigns:
  - { name: fw-1, at: 1m, type: forced, artifacts: [ { name: a.bin, size: 16KiB } ] }
  - { name: fw-2, at: 5m, type: forced, artifacts: [ { name: b.bin, size: 16KiB } ] }
"
    } else {
        ""
    };
    format!(
        "name: server-view
seed: 11
duration: 10m
server: {{ polling: 30s }}
fleet:
  - {{ kind: always_on, count: {DEVICES}, install_failure: 0.35 }}
{campaigns}{faults}load: {{ time_scale: 60 }}
"
    )
}

/// Runs the two campaigns through serve's Management API against serve
/// started with `faults`.
fn managed_run(faults: &str) -> fleetsim::engine::RunResult {
    let server = load_str("serve.yaml", &scenario(false, faults)).expect("serve scenario");
    let fleet = load_str("run.yaml", &scenario(true, "")).expect("run scenario");
    let serve = ServeThread::start(&server, fleet.load.time_scale, 1);
    let mut opts = common::options(&serve.base_url);
    opts.manager = Some(ManagerConfig {
        api: ServerApi::Hawkbit,
        url: serve.base_url.clone(),
        user: "admin".into(),
        password: Secret::new("admin"),
        ca_pem: None,
    });
    let result = run(&fleet, &opts);
    serve.stop();
    result.expect("managed run")
}

#[test]
fn a_correct_servers_record_agrees_with_every_device() {
    let r = managed_run("");
    common::assert_no_violations(&r);
    assert_eq!(r.extra_counters.get("server_views_checked"), Some(&DEVICES));
    let m = r.management.as_ref().expect("management log");
    assert!(m.errors.is_empty(), "{:?}", m.errors);
    // The check had something to compare: both outcomes occurred.
    let first = &m.campaigns[0].recorded;
    assert!(first.get("failed").is_some_and(|n| *n > 0), "{first:?}");
    assert!(first.get("updated").is_some_and(|n| *n > 0), "{first:?}");
}

#[test]
fn a_server_recording_failures_as_finished_is_caught() {
    let r = managed_run("faults:\n  server:\n    - { mode: wrong_status_mapping }\n");
    let outcome = common::fired(&r, InvariantId::MgmtOutcome);
    let installed = common::fired(&r, InvariantId::MgmtInstalled);
    let all = common::violations(&r);
    if std::env::var_os("FLEETSIM_VERBOSE").is_some() {
        eprintln!("MGMT-OUTCOME {outcome}, MGMT-INSTALLED {installed}\n{all}");
    }
    assert!(outcome > 0, "MGMT-OUTCOME did not fire:\n{all}");
    assert!(installed > 0, "MGMT-INSTALLED did not fire:\n{all}");
    // Every MGMT-OUTCOME is about an accepted failure shown as updated.
    for v in r
        .oracle
        .violations()
        .iter()
        .filter(|v| v.id == "MGMT-OUTCOME")
    {
        assert!(
            v.message.contains("closed/failure accepted") && v.message.contains("updated"),
            "{}",
            v.message
        );
    }
}
