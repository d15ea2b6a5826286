//! Unit tests of the constrained-device client against hand-written answers.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::wire::{parse_poll_query, poll_url, url_expires, PollAnswer, Report, UpdateOffer};
use super::*;
use crate::artifact::Catalog;
use crate::message::{Body, ContentId, Headers, Method, NetError, Request, Response};
use crate::protocol::transport::Delivery;
use crate::time::{Span, Time};

const SIZE: u64 = 1000;
const CONTENT: ContentId = ContentId(7);
const URL: &str = "http://cdn/cdn/v1/a/abc/fw.bin?expires=100&sig=00";

struct Rig {
    catalog: Catalog,
    settings: ConstrainedSettings,
    client: ConstrainedClient,
    rng: ChaCha8Rng,
    events: Vec<ConstrainedEvent>,
    now: Time,
}

impl Rig {
    fn new() -> Rig {
        let mut catalog = Catalog::new();
        catalog.register(CONTENT, SIZE);
        Rig {
            catalog,
            settings: ConstrainedSettings::default(),
            client: ConstrainedClient::new(Time::ZERO),
            rng: ChaCha8Rng::seed_from_u64(3),
            events: Vec::new(),
            now: Time::ZERO,
        }
    }

    fn sha256(&self) -> String {
        self.catalog
            .get(CONTENT)
            .map(|i| i.hashes.sha256.clone())
            .unwrap_or_default()
    }

    fn offer(&self, url: Option<&str>, connect: bool) -> UpdateOffer {
        UpdateOffer {
            command: "c1".into(),
            version: "2.0.0".into(),
            name: "fw.bin".into(),
            size: SIZE,
            sha256: self.sha256(),
            url: url.map(str::to_string),
            connect,
        }
    }

    /// Advances to the client's due time and takes its request.
    fn next(&mut self) -> Request {
        self.now = self.now.max(self.client.poll_timeout());
        let env = ConstrainedEnv {
            base_url: "http://gw",
            device: "cpg-1",
            catalog: &self.catalog,
            settings: &self.settings,
        };
        let req = self.client.poll_transmit(self.now, &env);
        req.expect("a request is due")
    }

    fn answer(&mut self, delivery: Delivery) -> Vec<ConstrainedEvent> {
        let env = ConstrainedEnv {
            base_url: "http://gw",
            device: "cpg-1",
            catalog: &self.catalog,
            settings: &self.settings,
        };
        self.events.clear();
        self.client
            .handle_response(self.now, delivery, &env, &mut self.rng, &mut self.events);
        self.events.clone()
    }
}

fn json(answer: &PollAnswer) -> Delivery {
    let body = serde_json::to_vec(answer).expect("serializable");
    Delivery::Complete(Response::json(200, "application/json", body))
}

fn status(code: u16) -> Delivery {
    Delivery::Complete(Response::status(code))
}

fn content(status: u16, offset: u64, len: u64) -> Response {
    let mut headers = Headers::new();
    if status == 206 {
        headers.insert(
            "content-range",
            format!("bytes {offset}-{}/{SIZE}", offset + len - 1),
        );
    }
    Response {
        status,
        headers,
        body: Body::Synthetic {
            content: CONTENT,
            offset,
            len,
        },
    }
}

fn with_update(update: UpdateOffer) -> PollAnswer {
    PollAnswer {
        poll_interval: 3600,
        update: Some(update),
    }
}

#[test]
fn downloads_installs_and_reports_on_the_next_poll() {
    let mut r = Rig::new();
    let poll = r.next();
    assert_eq!(poll.url, "http://gw/cpg/v1/devices/cpg-1/poll?fw=1.0.0");
    let offer = r.offer(Some(URL), false);
    let ev = r.answer(json(&with_update(offer)));
    assert!(ev.contains(&ConstrainedEvent::Interval { seconds: 3600 }));
    assert!(matches!(&ev[1], ConstrainedEvent::Offered { url: Some(u), .. } if u == URL));
    let dl = r.next();
    assert_eq!(dl.url, URL);
    assert_eq!(dl.headers.get("range"), None);
    let ev = r.answer(Delivery::Complete(content(200, 0, SIZE)));
    assert_eq!(
        ev,
        vec![
            ConstrainedEvent::Downloaded {
                command: "c1".into()
            },
            ConstrainedEvent::Installed {
                command: "c1".into(),
                ok: true
            }
        ]
    );
    let report = r.next();
    assert_eq!(
        report.url,
        "http://gw/cpg/v1/devices/cpg-1/poll?fw=2.0.0&cmd=c1&result=ok"
    );
    // The gateway still offers the finished command (a stale cache): not redone.
    let offer = r.offer(Some(URL), false);
    let ev = r.answer(json(&with_update(offer)));
    assert!(matches!(
        &ev[0],
        ConstrainedEvent::Reported { ok: true, .. }
    ));
    assert_eq!(ev.len(), 1, "{ev:?}");
    let poll = r.next();
    assert_eq!(poll.url, "http://gw/cpg/v1/devices/cpg-1/poll?fw=2.0.0");
    assert_eq!(r.now, Time::ZERO + Span::secs(30) + Span::secs(3600));
}

#[test]
fn resumes_a_broken_download_with_range_across_windows() {
    let mut r = Rig::new();
    r.next();
    let offer = r.offer(Some(URL), false);
    r.answer(json(&with_update(offer)));
    r.next();
    let partial = content(200, 0, 400);
    let ev = r.answer(Delivery::Broken(NetError::Reset, Some(partial)));
    assert_eq!(
        ev,
        vec![ConstrainedEvent::Retry {
            kind: ConstrainedReq::Download
        }]
    );
    let before = r.now;
    let resume = r.next();
    assert!(r.now > before, "backs off before resuming");
    assert_eq!(resume.headers.get("range"), Some("bytes=400-"));
    assert!(resume.headers.get("if-range").is_some());
    // A poll in between carries the progress.
    let ev = r.answer(Delivery::Complete(content(206, 400, 600)));
    assert!(ev.contains(&ConstrainedEvent::Installed {
        command: "c1".into(),
        ok: true
    }));
}

#[test]
fn a_server_ignoring_range_restarts_the_file() {
    let mut r = Rig::new();
    r.next();
    let offer = r.offer(Some(URL), false);
    r.answer(json(&with_update(offer)));
    r.next();
    r.answer(Delivery::Broken(
        NetError::Reset,
        Some(content(200, 0, 400)),
    ));
    r.next();
    let ev = r.answer(Delivery::Complete(content(200, 0, SIZE)));
    assert!(ev.contains(&ConstrainedEvent::Downloaded {
        command: "c1".into()
    }));
}

#[test]
fn refused_urls_send_the_device_back_to_the_gateway_then_it_gives_up() {
    let mut r = Rig::new();
    for round in 0..3 {
        let poll = r.next();
        assert_eq!(poll.method, Method::Get);
        assert!(poll.url.contains("/poll?"), "round {round}: {}", poll.url);
        let offer = r.offer(Some(URL), false);
        r.answer(json(&with_update(offer)));
        let at = r.now;
        r.next();
        let ev = r.answer(status(410));
        assert!(matches!(
            &ev[0],
            ConstrainedEvent::UrlRefused { status: 410, .. }
        ));
        assert_eq!(r.client.poll_timeout(), at, "re-polls at once");
    }
    assert!(r.events.contains(&ConstrainedEvent::Failed {
        command: "c1".into(),
        detail: "url_refused"
    }));
    let report = r.next();
    assert!(report
        .url
        .ends_with("cmd=c1&result=failed&detail=url_refused"));
}

#[test]
fn connect_sends_the_online_event_and_downloads_from_its_answer() {
    let mut r = Rig::new();
    r.next();
    let offer = r.offer(None, true);
    let ev = r.answer(json(&with_update(offer)));
    assert!(matches!(
        &ev[1],
        ConstrainedEvent::Offered {
            connect: true,
            url: None,
            ..
        }
    ));
    let online = r.next();
    assert_eq!(online.method, Method::Post);
    assert_eq!(online.url, "http://gw/cpg/v1/devices/cpg-1/online");
    let offer = r.offer(Some(URL), false);
    r.answer(json(&with_update(offer)));
    assert_eq!(r.next().url, URL);
}

#[test]
fn a_second_connect_without_url_waits_for_the_next_wake_up() {
    let mut r = Rig::new();
    r.next();
    let offer = r.offer(None, true);
    r.answer(json(&with_update(offer)));
    r.next();
    let offer = r.offer(None, true);
    r.answer(json(&with_update(offer)));
    let poll = r.next();
    assert!(poll.url.contains("/poll?"));
    assert_eq!(r.now, Time::ZERO + Span::secs(3600));
}

#[test]
fn garbage_and_server_errors_are_retried_with_growing_backoff() {
    let mut r = Rig::new();
    let mut waits = Vec::new();
    for answer in [
        Delivery::Complete(Response::json(200, "application/json", b"{nope".to_vec())),
        status(503),
        status(429),
        Delivery::Broken(NetError::Timeout, None),
    ] {
        r.next();
        let at = r.now;
        let ev = r.answer(answer);
        assert_eq!(
            ev,
            vec![ConstrainedEvent::Retry {
                kind: ConstrainedReq::Poll
            }]
        );
        waits.push(r.client.poll_timeout().since(at));
    }
    assert!(
        waits[0] >= Span::millis(1500) && waits[3] > waits[0],
        "{waits:?}"
    );
    // A 404 (unknown device) waits for the next wake-up instead.
    r.next();
    let at = r.now;
    r.answer(status(404));
    assert_eq!(r.client.poll_timeout(), at + r.settings.default_poll);
}

#[test]
fn a_wrong_hash_or_size_is_reported_as_failed() {
    for (size, detail) in [(SIZE, "hash"), (SIZE - 1, "size")] {
        let mut r = Rig::new();
        r.next();
        let mut offer = r.offer(Some(URL), false);
        if detail == "hash" {
            offer.sha256 = "00".repeat(32);
        }
        offer.size = size;
        r.answer(json(&with_update(offer)));
        r.next();
        let ev = r.answer(Delivery::Complete(content(200, 0, SIZE)));
        assert_eq!(
            ev,
            vec![ConstrainedEvent::Failed {
                command: "c1".into(),
                detail
            }]
        );
        assert!(r
            .next()
            .url
            .ends_with(&format!("result=failed&detail={detail}")));
    }
}

#[test]
fn a_short_complete_body_is_resumed() {
    let mut r = Rig::new();
    r.next();
    let offer = r.offer(Some(URL), false);
    r.answer(json(&with_update(offer)));
    r.next();
    let ev = r.answer(Delivery::Complete(content(200, 0, 600)));
    assert!(ev.is_empty(), "{ev:?}");
    assert_eq!(r.next().headers.get("range"), Some("bytes=600-"));
}

#[test]
fn poll_query_round_trips_and_rejects_bad_input() {
    let report = Report {
        command: "c 1".into(),
        ok: false,
        detail: Some("url_refused".into()),
    };
    let url = poll_url("http://g", "d/1", "1.0 beta", Some(&report), Some(42));
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let q = parse_poll_query(query).expect("parses");
    assert_eq!(q.fw, "1.0 beta");
    assert_eq!(q.cmd.as_deref(), Some("c 1"));
    assert_eq!(q.result, Some(false));
    assert_eq!(q.detail.as_deref(), Some("url_refused"));
    assert_eq!(q.have, Some(42));
    assert!(url.contains("/devices/d%2F1/"));
    for bad in ["", "fw=1&have=x", "fw=1&result=maybe&cmd=c", "fw=1&cmd=c1"] {
        assert!(parse_poll_query(bad).is_err(), "{bad}");
    }
}

#[test]
fn url_expires_reads_the_signed_query() {
    assert_eq!(url_expires(URL), Some(100));
    assert_eq!(url_expires("http://c/cache/v1/abc/fw.bin"), None);
    assert_eq!(url_expires("http://c/x?sig=1&expires=9"), Some(9));
}
