//! Device authentication in virtual time (ddi.md §2): gateway-token,
//! target-token and anonymous devices in one fleet, and the located errors
//! of a broken token file.

use crate::common;

use fleetsim::engine::{Engine, Selection};
use fleetsim::scenario::{load, load_str};

#[test]
fn gateway_and_target_token_devices_update_and_anonymous_ones_are_refused() {
    let s = load(std::path::Path::new("scenarios/tokens-and-tenants.yaml")).expect("loads");
    let r = Engine::new(&s, &Selection::default()).run(|_| {});
    common::assert_no_violations(&r);
    // 60 + 40 gateway and 60 + 20 target-token devices in two tenants; the
    // 20 anonymous ones never get in.
    assert_eq!(r.stats.updates_succeeded, 180);
    assert!(
        common::status_count(&r, 401) >= 20,
        "anonymous polls refused"
    );
}

#[test]
fn token_file_problems_are_located_scenario_errors() {
    let dir = std::env::temp_dir().join(format!("fleetsim-tokens-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let text = "name: t\nduration: 1h\nfleet:\n  - kind: always_on\n    count: 2\n    id_prefix: d-\n    auth: { target_token_file: tokens.txt }\n";
    let path = dir.join("t.yaml");
    std::fs::write(&path, text).expect("scenario");

    let missing = load(&path).unwrap_err().to_string();
    assert!(missing.contains("t.yaml:7:32: "), "{missing}");
    assert!(missing.contains("readable token file"), "{missing}");

    std::fs::write(dir.join("tokens.txt"), "d-00000 a\nd-00001\n").expect("tokens");
    let malformed = load(&path).unwrap_err().to_string();
    assert!(
        malformed.contains("tokens.txt:2: expected `CONTROLLER_ID TOKEN`"),
        "{malformed}"
    );

    std::fs::write(dir.join("tokens.txt"), "d-00000 a\n").expect("tokens");
    let short = load(&path).unwrap_err().to_string();
    assert!(short.contains("has none for d-00001"), "{short}");

    std::fs::write(dir.join("tokens.txt"), "d-00000 a\nd-00001 b\n").expect("tokens");
    let s = load(&path).expect("complete token file");
    let redacted = serde_yaml::to_string(&s.redacted()).expect("yaml");
    assert!(
        redacted.contains("target_token_file: tokens.txt"),
        "{redacted}"
    );
    assert!(
        !redacted.contains(" b\n"),
        "tokens stay out of the scenario"
    );
    assert!(load_str(
        "x.yaml",
        "name: x\nduration: 1h\nfleet:\n  - { kind: always_on, count: 1, auth: token }\n"
    )
    .unwrap_err()
    .to_string()
    .contains("found `token`"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_fleet_spanning_two_tenants_gets_one_embedded_tenant_each() {
    let s = load(std::path::Path::new("scenarios/tokens-and-tenants.yaml")).expect("loads");
    let setup = fleetsim::setup::Setup::new(&s);
    let names: Vec<&str> = setup
        .server
        .iter()
        .map(|t| t.config().tenant.as_str())
        .collect();
    assert_eq!(names, ["DEFAULT", "ACME"]);
    // Target-token devices are provisioned in their own tenant only, and
    // TargetToken auth is on where such devices live.
    let tenant_of = |cid: &str| {
        setup
            .server
            .of_target(cid)
            .map(|t| t.config().tenant.clone())
    };
    assert_eq!(tenant_of("tt-00060").as_deref(), Some("DEFAULT"));
    assert_eq!(tenant_of("acme-tt-00180").as_deref(), Some("ACME"));
    assert!(setup.server.iter().all(|t| t.config().target_token_auth));
}
