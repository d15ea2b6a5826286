//! Flows of the sidekick core: each strategy's poll answers, the CDN's
//! refusals, and each fault mode.

use super::*;
use crate::message::Headers;

const ORIGIN: &str = "http://gw.test";

fn sidekick(strategy: Strategy, devices: usize) -> (ConstrainedGateway, usize) {
    let mut s = ConstrainedGateway::new(SidekickConfig {
        origin: ORIGIN.into(),
        epoch_s: 0,
        poll_interval: Span::hours(12),
        key_seed: 7,
    });
    for n in 0..devices {
        s.register(&format!("cpg-{n}"));
    }
    let cmd = s.add_command(InstallCommand {
        version: "2.0.0".into(),
        name: "fw.bin".into(),
        size: 4096,
        content: ContentId(1 << 16),
        sha256: String::new(),
        strategy,
        validity: Span::days(30),
    });
    (s, cmd)
}

fn at(days: u64) -> Time {
    Time(Span::days(days).as_millis())
}

fn get(s: &mut ConstrainedGateway, now: Time, url: &str) -> Response {
    s.handle(now, &Request::new(Method::Get, url))
}

fn poll(s: &mut ConstrainedGateway, now: Time, device: usize, query: &str) -> PollAnswer {
    let url = format!("{ORIGIN}/cpg/v1/devices/cpg-{device}/poll?fw=1.0.0{query}");
    let resp = get(s, now, &url);
    assert_eq!(resp.status, 200, "{url}");
    serde_json::from_slice(resp.body.as_bytes()).expect("poll answer JSON")
}

fn online(s: &mut ConstrainedGateway, now: Time, device: usize) -> PollAnswer {
    let url = format!("{ORIGIN}/cpg/v1/devices/cpg-{device}/online");
    let resp = s.handle(now, &Request::new(Method::Post, url));
    assert_eq!(resp.status, 200);
    serde_json::from_slice(resp.body.as_bytes()).expect("online answer JSON")
}

fn events(s: &mut ConstrainedGateway) -> Vec<SidekickEvent> {
    let mut out = Vec::new();
    s.drain_events(&mut out);
    out
}

fn url_of(a: &PollAnswer) -> String {
    a.update
        .as_ref()
        .and_then(|u| u.url.clone())
        .expect("an update with a URL")
}

#[test]
fn none_hands_out_the_command_url_which_expires() {
    let (mut s, cmd) = sidekick(Strategy::None, 1);
    s.install(at(1), 0, cmd);
    assert_eq!(poll(&mut s, at(2), 0, "").poll_interval, 12 * 3600);
    let url = url_of(&poll(&mut s, at(2), 0, ""));
    assert!(url.contains(&format!("expires={}", 31 * 86_400)), "{url}");
    assert_eq!(get(&mut s, at(2), &url).status, 200);
    let mut ranged = Request::new(Method::Get, &url);
    ranged.headers = Headers::new().with("range", "bytes=1000-");
    assert_eq!(s.handle(at(2), &ranged).status, 206);
    assert_eq!(get(&mut s, at(31), &url).status, 410, "expired");
    assert_eq!(
        url_of(&poll(&mut s, at(40), 0, "")),
        url,
        "`none` never refreshes"
    );
    let forged = url.replace(&format!("expires={}", 31 * 86_400), "expires=99999999");
    assert_eq!(get(&mut s, at(2), &forged).status, 403, "tampered");
    assert_eq!(s.counters().cdn_expired, 1);
    assert_eq!(s.counters().cdn_forbidden, 1);
}

#[test]
fn a_reported_result_clears_the_pending_install() {
    let (mut s, cmd) = sidekick(Strategy::None, 1);
    s.install(at(1), 0, cmd);
    let a = poll(&mut s, at(2), 0, "&cmd=c1&result=ok");
    assert!(a.update.is_none());
    let ev = events(&mut s);
    assert!(ev.contains(&SidekickEvent::Finished {
        device: 0,
        command: 0,
        ok: true
    }));
}

#[test]
fn the_cache_keeps_an_artifact_while_an_install_needs_it() {
    let (mut s, cmd) = sidekick(Strategy::LongLivedCache, 2);
    s.install(at(1), 0, cmd);
    s.install(at(1), 1, cmd);
    assert_eq!(s.cache().bytes(), 4096, "fetched once, by checksum");
    let url = url_of(&poll(&mut s, at(60), 0, ""));
    assert!(url.starts_with(&format!("{ORIGIN}/cache/v1/")), "{url}");
    assert_eq!(
        get(&mut s, at(60), &url).status,
        200,
        "no expiry in the cache"
    );
    // Served under its own name only.
    let (dir, _) = url.rsplit_once('/').unwrap_or_default();
    for name in ["..", "other.bin", "fw.bin.bak", "%2E%2E"] {
        let alias = format!("{dir}/{name}");
        assert_eq!(get(&mut s, at(60), &alias).status, 404, "{alias}");
    }
    poll(&mut s, at(61), 0, "&cmd=c1&result=ok");
    assert_eq!(
        get(&mut s, at(61), &url).status,
        200,
        "device 1 still needs it"
    );
    poll(&mut s, at(62), 1, "&cmd=c1&result=failed&detail=install");
    assert_eq!(
        get(&mut s, at(62), &url).status,
        404,
        "evicted with the last one"
    );
    assert_eq!(s.cache().bytes(), 0);
    assert_eq!(s.cache().peak(), 4096);
}

#[test]
fn refresh_on_online_refires_once_per_device() {
    let (mut s, cmd) = sidekick(Strategy::RefreshOnOnline, 1);
    s.install(at(1), 0, cmd);
    events(&mut s);
    let a = poll(&mut s, at(50), 0, "");
    let u = a.update.expect("pending");
    assert!(u.connect && u.url.is_none(), "{u:?}");
    let url = url_of(&online(&mut s, at(50), 0));
    assert!(
        url.contains(&format!("expires={}", 80 * 86_400)),
        "fresh: {url}"
    );
    assert_eq!(get(&mut s, at(50), &url).status, 200);
    assert_eq!(
        events(&mut s),
        vec![SidekickEvent::Fired {
            device: 0,
            command: 0,
            reissue: true
        }]
    );
    assert_eq!(
        url_of(&online(&mut s, at(51), 0)),
        url,
        "second online event"
    );
    assert_eq!(url_of(&poll(&mut s, at(52), 0, "")), url);
    assert!(events(&mut s).is_empty(), "not fired again");
    assert_eq!(s.counters().refired, 1);
}

#[test]
fn fault_modes_break_one_rule_each() {
    let (mut s, cmd) = sidekick(Strategy::RefreshOnOnline, 1);
    s.faults.retrigger_every_online = true;
    s.install(at(1), 0, cmd);
    online(&mut s, at(50), 0);
    poll(&mut s, at(51), 0, "");
    assert_eq!(s.counters().refired, 2);

    let (mut s, cmd) = sidekick(Strategy::LongLivedCache, 2);
    s.faults.cache_evict_early = true;
    s.install(at(1), 0, cmd);
    s.install(at(1), 1, cmd);
    events(&mut s);
    poll(&mut s, at(2), 0, "&cmd=c1&result=ok");
    assert!(events(&mut s)
        .iter()
        .any(|e| matches!(e, SidekickEvent::Evicted { needed_by: 1, .. })));

    let (mut s, cmd) = sidekick(Strategy::None, 2);
    s.faults.drop_while_offline = true;
    poll(&mut s, at(1), 1, "");
    s.install(at(1) + Span::minutes(1), 0, cmd);
    s.install(at(1) + Span::minutes(1), 1, cmd);
    assert!(
        poll(&mut s, at(2), 0, "").update.is_none(),
        "dropped: asleep"
    );
    assert!(
        poll(&mut s, at(2), 1, "").update.is_some(),
        "kept: just seen"
    );

    let (mut s, cmd) = sidekick(Strategy::None, 1);
    s.faults.short_validity = true;
    s.install(at(1), 0, cmd);
    let url = url_of(&poll(&mut s, at(1), 0, ""));
    assert!(url.contains(&format!("expires={}", 86_400 + 60)), "{url}");
}

#[test]
fn bad_requests_get_clear_answers() {
    let (mut s, _) = sidekick(Strategy::None, 1);
    let bad = get(
        &mut s,
        at(1),
        &format!("{ORIGIN}/cpg/v1/devices/cpg-0/poll?have=lots"),
    );
    assert_eq!(bad.status, 400);
    assert_eq!(
        s.handle(
            at(1),
            &Request::new(
                Method::Post,
                format!("{ORIGIN}/cpg/v1/devices/nobody/online")
            )
        )
        .status,
        404
    );
    assert_eq!(
        get(&mut s, at(1), &format!("{ORIGIN}/elsewhere")).status,
        404
    );
}

#[test]
fn device_ids_are_capped_and_checked_before_a_twin_is_made() {
    let (mut s, _) = sidekick(Strategy::None, 1);
    let long = "d".repeat(60_000);
    for id in [
        "..",
        ".",
        long.as_str(),
        "a%01b",
        "%2E%2E",
        "..%2F..%2Fetc%2Fpasswd",
        "%ff",
    ] {
        for (method, verb) in [(Method::Get, "poll?fw=1"), (Method::Post, "online")] {
            let url = format!("{ORIGIN}/cpg/v1/devices/{id}/{verb}");
            let resp = s.handle(at(1), &Request::new(method, url));
            assert_eq!(resp.status, 400, "{verb}");
            let v: serde_json::Value =
                serde_json::from_slice(resp.body.as_bytes()).unwrap_or_default();
            assert_eq!(v["error"], "bad_device_id");
        }
    }
    assert_eq!(s.twin_count(), 1, "no twin for a refused id");
    let ok = "d".repeat(256);
    let url = format!("{ORIGIN}/cpg/v1/devices/{ok}/poll?fw=1");
    assert_eq!(get(&mut s, at(1), &url).status, 200);
    assert_eq!(s.twin_count(), 2);
}
