//! Unit tests of the serve state: identities, the campaign schedule, resets, the clock, the gateway.
use super::*;
use fleetsim_core::message::Method;
use fleetsim_fleet::director::identify;
use fleetsim_fleet::scenario::DeviceKind;

const SCENARIO: &str = "
name: t
duration: 1d
fleet:
  - { kind: always_on, count: 2 }
  - { kind: constrained, count: 2, id_prefix: c-, connectivity: { online_every: 1h, online_for: 1m } }
campaigns:
  - { name: a, at: 1h, artifacts: [ { name: a.bin, size: 1KiB } ], targets: { kind: always_on }, cancel_after: 1h }
  - { name: b, at: 3h, artifacts: [ { name: b.bin, size: 1KiB } ] }
";

fn poll(state: &mut State, now: Time, cid: &str) -> String {
    let url = format!("http://h/DEFAULT/controller/v1/{cid}");
    let resp = state.handle(now, &Request::new(Method::Get, url));
    let body = resp.map(|r| r.body.as_bytes().to_vec()).unwrap_or_default();
    String::from_utf8(body).unwrap_or_default()
}

fn state() -> State {
    let scenario = fleetsim_fleet::scenario::load_str("t.yaml", SCENARIO).expect("scenario");
    State::new(Some(&scenario), MgmtCredentials::default())
}

#[test]
fn identities_come_from_group_prefixes() {
    let s = state();
    let g = &s.groups;
    assert_eq!(
        identify(g, "always-on-00001"),
        Some((DeviceKind::AlwaysOn, 1))
    );
    assert_eq!(identify(g, "c-00003"), Some((DeviceKind::Constrained, 3)));
    assert_eq!(
        identify(g, "c-123456"),
        Some((DeviceKind::Constrained, 123456))
    );
    assert_eq!(identify(g, "c-"), None);
    assert_eq!(identify(g, "c-12x"), None);
    assert_eq!(identify(g, "dev-1"), None);
}

#[test]
fn campaigns_reach_registered_and_late_targets_then_cancel() {
    let mut s = state();
    let hour = 3_600_000;
    assert_eq!(s.next_due(), Time(hour));
    assert!(!poll(&mut s, Time(0), "always-on-00000").contains("deploymentBase"));
    assert!(!poll(&mut s, Time(1), "c-00002").contains("deploymentBase"));
    // Campaign a (always_on only) starts on the first request after 1h.
    assert!(poll(&mut s, Time(hour), "always-on-00000").contains("deploymentBase"));
    assert!(!poll(&mut s, Time(hour + 1), "c-00002").contains("deploymentBase"));
    // A late always_on device gets it on its first poll.
    assert!(poll(&mut s, Time(hour + 2), "always-on-00001").contains("deploymentBase"));
    // Canceled at 2h: the root links cancelAction.
    s.advance(Time(2 * hour));
    assert!(poll(&mut s, Time(2 * hour), "always-on-00001").contains("cancelAction"));
    assert_eq!(s.next_due(), Time(3 * hour));
    // Campaign b selects everyone, unknown ids too; a canceled campaign is not handed out late.
    s.advance(Time(3 * hour));
    assert_eq!(s.next_due(), Time::NEVER);
    assert!(poll(&mut s, Time(3 * hour), "c-00002").contains("deploymentBase"));
    let late = poll(&mut s, Time(3 * hour), "someone");
    assert!(late.contains("deploymentBase"), "{late}");
    assert!(!late.contains("cancelAction"), "{late}");
}

#[test]
fn management_created_targets_take_scenario_numbers_and_started_campaigns() {
    let mut s = state();
    let hour = 3_600_000;
    s.advance(Time(hour)); // campaign a (always_on) has started
    let mut req = Request::new(Method::Post, "http://h/rest/v1/targets");
    req.headers
        .insert("authorization", "Basic YWRtaW46YWRtaW4=");
    req.headers.insert("content-type", "application/json");
    let body = r#"[{"controllerId":"always-on-00001"},{"controllerId":"stranger"}]"#;
    req.body = fleetsim_core::message::Body::Bytes(body.as_bytes().to_vec().into());
    let created = s.handle(Time(hour + 1), &req).map(|r| r.status);
    assert_eq!(created, Some(201));
    // A scenario id takes its device number as index: action id 1 * 1000 + 1.
    let root = poll(&mut s, Time(hour + 2), "always-on-00001");
    assert!(root.contains("/deploymentBase/1001?"), "{root}");
    // Another id is not an always_on device: campaign a does not select it.
    assert!(!poll(&mut s, Time(hour + 2), "stranger").contains("deploymentBase"));
}

#[test]
fn reset_windows_answer_nothing() {
    let text = format!("{SCENARIO}faults:\n  server: [ {{ at: 1h, for: 1h, reset: true }} ]\n");
    let scenario = fleetsim_fleet::scenario::load_str("t.yaml", &text).expect("scenario");
    let mut s = State::new(Some(&scenario), MgmtCredentials::default());
    let req = Request::new(Method::Get, "http://h/DEFAULT/controller/v1/x");
    assert!(s.handle(Time(0), &req).is_some());
    assert!(s.handle(Time(3_600_000), &req).is_none());
    assert!(s.handle(Time(7_200_000), &req).is_some());
}

#[test]
fn clock_maps_scenario_time_to_instants() {
    let c = Clock::new(1000.0);
    let at = c.instant_of(Time(5_000)).expect("representable");
    assert_eq!(at.duration_since(c.start), Duration::from_millis(5));
}

#[test]
fn artifacts_are_hashed_before_the_server_listens() {
    let text = "name: h\nduration: 1d\nfleet:\n  - { kind: always_on, count: 1 }\n  \
                - { kind: always_on, protocol: otau, count: 1 }\ncampaigns:\n  \
                - { at: 1h, artifacts: [ { name: fw.bin, size: 64KiB } ] }\n";
    let scenario = fleetsim_fleet::scenario::load_str("h.yaml", text).expect("scenario");
    let s = State::new(Some(&scenario), MgmtCredentials::default());
    let content = fleetsim_fleet::setup::artifact_content(0, 0);
    // Not under the lock of the first request that reads them.
    let ddi = s.server.catalog().get(content).expect("DDI content");
    assert!(ddi.hashes.is_computed());
    let otau = s.otau.catalog().get(content).expect("OTAU content");
    assert!(otau.hashes.is_computed());
}

#[test]
fn twin_faults_follow_their_windows_on_serves_clock() {
    let scenario = fleetsim_fleet::scenario::load_str(
        "t.yaml",
        "name: t\nduration: 1d\nfleet:\n  - { kind: always_on, count: 1, protocol: ditto, gateway: { edge_devices: 1 } }\n\
         faults:\n  server:\n    - { at: 1h, for: 1h, mode: twin_apply_twice }\n    - { mode: twin_push_writes }\n",
    )
    .expect("scenario");
    let s = State::new(Some(&scenario), MgmtCredentials::default());
    let hour = 3_600_000;
    let push = TwinFaults::from_name("twin_push_writes").expect("a mode");
    let both = push.with_name("twin_apply_twice").expect("a mode");
    assert_eq!(s.twin_faults_at(Time(0)), push);
    assert_eq!(s.twin_faults_at(Time(hour)), both);
    assert_eq!(s.twin_faults_at(Time(2 * hour - 1)), both);
    assert_eq!(s.twin_faults_at(Time(2 * hour)), push);
    let plain = State::new(None, MgmtCredentials::default());
    assert!(!plain.twin_faults_at(Time(hour)).any());
}
