//! The catalogue's shape and the runner's rules: selection, SKIP without a
//! management adapter, FAIL when no answer comes — against `serve` started
//! in-process (no adapter) and against a closed port.

use super::*;
use crate::http_server::{start, ServeOptions};
use fleetsim_fleet::report::conform::Outcome;

fn options(target: &str) -> Options {
    Options {
        target: target.into(),
        tenant: "DEFAULT".into(),
        profile: Profile::DdiV1,
        only: Vec::new(),
        manager: None,
        otau_admin: None,
        otau_first_device: 0,
        mqtt: None,
        gateway_token: None,
        run_tag: "t".into(),
        ca_pem: None,
    }
}

#[test]
fn ids_are_unique_stable_and_documented() {
    let cases = catalogue();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut ids = std::collections::BTreeSet::new();
    for c in &cases {
        assert!(ids.insert(c.id), "duplicate {}", c.id);
        let parts: Vec<&str> = c.id.split('-').collect();
        assert_eq!(parts.len(), 3, "{}", c.id);
        let reference = match parts[0] {
            "DDI" => "ddi.md",
            "OTAU" | "MQTT" => "otau.md",
            "CPG" => "cpg.md",
            "TWIN" => "ditto.md",
            other => panic!("{}: unknown protocol {other}", c.id),
        };
        let digits = parts[2].len() == 3 && parts[2].bytes().all(|b| b.is_ascii_digit());
        assert!(digits, "{}", c.id);
        assert!(
            !c.title.is_empty() && c.clause.contains(reference),
            "{}",
            c.id
        );
        assert!(
            Profile::ALL.iter().any(|p| p.includes(c)),
            "{} is in no profile",
            c.id
        );
    }
    let count = |p: Profile| cases.iter().filter(|c| p.includes(c)).count();
    assert!(count(Profile::DdiV1Core) >= 8 && count(Profile::DdiV1Core) < count(Profile::DdiV1));
    assert!(count(Profile::OtauHttp) >= 10);
    assert!(count(Profile::OtauMqtt) >= 8);
    assert!(count(Profile::Cpg) >= 8);
    let in_profiles = [
        Profile::DdiV1,
        Profile::OtauHttp,
        Profile::OtauMqtt,
        Profile::Cpg,
    ];
    assert_eq!(
        in_profiles.into_iter().map(count).sum::<usize>(),
        cases.len()
    );
}

#[test]
fn only_selects_by_id_and_refuses_unknown_ids() {
    let mut o = options("http://127.0.0.1:1");
    o.only = vec!["ddi-root-001".into(), "DDI-FB-002".into()];
    let ids: Vec<&str> = select(&o).expect("known").iter().map(|c| c.id).collect();
    assert_eq!(ids, ["DDI-ROOT-001", "DDI-FB-002"]);
    o.only = vec!["DDI-NOPE-001".into()];
    assert!(matches!(select(&o), Err(ConformError::UnknownCase(..))));
    o.profile = Profile::DdiV1Core;
    o.only = vec!["DDI-ROOT-003".into()];
    assert!(select(&o).is_err(), "not in the core profile");
    assert_eq!(Profile::parse("ddi-v1-core"), Some(Profile::DdiV1Core));
    assert_eq!(Profile::parse("otau-http"), Some(Profile::OtauHttp));
    assert_eq!(Profile::parse("otau-mqtt"), Some(Profile::OtauMqtt));
    assert_eq!(Profile::parse("cpg"), Some(Profile::Cpg));
    assert_eq!(Profile::parse("ddi-v2"), None);
}

#[tokio::test]
async fn no_answer_is_a_fail_with_the_evidence() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed = listener.local_addr().expect("addr");
    drop(listener);
    let mut o = options(&format!("http://{closed}"));
    o.only = vec!["DDI-ROOT-001".into()];
    let r = run(&o).await.expect("runs");
    let c = &r.cases[0];
    assert_eq!(c.outcome, Outcome::Fail, "{c:?}");
    assert!(
        c.reason.as_deref().unwrap_or("").contains("no answer"),
        "{c:?}"
    );
    assert!(evidence_of(c).contains("GET /DEFAULT/controller/v1/t-ddi-root-001-1"));
    assert!(!r.passed());
}

#[tokio::test]
async fn cases_needing_a_campaign_skip_without_an_adapter() {
    let opts = ServeOptions {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        ..ServeOptions::default()
    };
    let server = start(opts).await.expect("serve starts");
    let mut o = options(&server.base_url);
    o.only = vec!["DDI-ROOT-003".into(), "DDI-FB-002".into()];
    let r = run(&o).await.expect("runs");
    assert_eq!(r.manage, "none");
    assert_eq!(r.cases[0].outcome, Outcome::Pass, "{:?}", r.cases[0]);
    let skipped = &r.cases[1];
    assert_eq!(skipped.outcome, Outcome::Skip);
    assert!(skipped
        .reason
        .as_deref()
        .unwrap_or("")
        .contains("no management adapter"));
    assert_eq!(r.score(), "1/2 PASS, 0 FAIL, 1 SKIP");
    assert!(!r.passed(), "a SKIP is not a pass");
}
