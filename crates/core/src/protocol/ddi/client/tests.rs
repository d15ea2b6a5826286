//! Client tests in the quinn-proto style: the client and the real server core
//! stepped against each other in virtual time, or the client fed hand-made
//! answers, with no sockets and a bounded number of steps.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::message::{Body, ContentId, Headers, Method, NetError, Request};
use crate::server::{
    ActionId, ActionStatus, ActionType, ArtifactSpec, DistributionSpec, ModuleSpec, Server,
    ServerConfig,
};

const ORIGIN: &str = "http://h";
const ID: &str = "dev-1";
/// No test needs more exchanges than this; a loop beyond it is a bug.
const MAX_STEPS: usize = 200;

struct Pair {
    client: DdiClient,
    server: Server,
    settings: ClientSettings,
    now: Time,
    rng: ChaCha8Rng,
    events: Vec<DdiEvent>,
}

impl Pair {
    fn new() -> Pair {
        Pair::with(ServerConfig::default(), Consent::Ignore)
    }

    /// A pair whose server has `config` and whose device answers consent requests with `consent`.
    fn with(config: ServerConfig, consent: Consent) -> Pair {
        let settings = ClientSettings {
            install_time: Span::secs(10),
            consent,
            ..ClientSettings::default()
        };
        let mut server = Server::new(config);
        server.register_target(ID, 1, None);
        Pair {
            client: DdiClient::new(Time::ZERO, &settings),
            server,
            settings,
            now: Time::ZERO,
            rng: ChaCha8Rng::seed_from_u64(1),
            events: Vec::new(),
        }
    }

    fn assign(&mut self, size: u64, kind: ActionType) -> ActionId {
        let dist = self.server.add_distribution(DistributionSpec {
            name: "fw".into(),
            version: "2.0.0".into(),
            modules: vec![ModuleSpec {
                part: "os".into(),
                name: "fw".into(),
                version: "2.0.0".into(),
                artifacts: vec![ArtifactSpec {
                    filename: "fw.bin".into(),
                    content: ContentId(9),
                    size,
                }],
            }],
        });
        self.server
            .assign(self.now, dist, ID, kind, None, None)
            .expect("target registered")
    }

    /// Advances to the client's next wake-up and takes its request.
    fn next_request(&mut self) -> Request {
        self.now = self.client.poll_timeout();
        assert_ne!(self.now, Time::NEVER, "client idle forever");
        let env = ClientEnv {
            base_url: ORIGIN,
            tenant: "DEFAULT",
            controller_id: ID,
            authorization: None,
            catalog: self.server.catalog(),
            settings: &self.settings,
        };
        self.client
            .poll_transmit(self.now, &env, &mut self.events)
            .expect("a request is due")
    }

    fn deliver(&mut self, delivery: Delivery) {
        let env = ClientEnv {
            base_url: ORIGIN,
            tenant: "DEFAULT",
            controller_id: ID,
            authorization: None,
            catalog: self.server.catalog(),
            settings: &self.settings,
        };
        self.client
            .handle_response(self.now, delivery, &env, &mut self.rng, &mut self.events);
    }

    /// One request answered by the server core.
    fn exchange(&mut self) -> (Request, Response) {
        let req = self.next_request();
        let resp = self.server.handle(self.now, &req);
        self.deliver(Delivery::Complete(resp.clone()));
        (req, resp)
    }

    /// Exchanges until `done` holds for an event; returns the requests made.
    fn run_until(&mut self, done: impl Fn(&DdiEvent) -> bool) -> Vec<Request> {
        let mut seen = Vec::new();
        for _ in 0..MAX_STEPS {
            let start = self.events.len();
            seen.push(self.exchange().0);
            if self.events[start..].iter().any(&done) {
                return seen;
            }
        }
        panic!("not done after {MAX_STEPS} exchanges: {:?}", self.events);
    }
}

fn kinds(reqs: &[Request]) -> Vec<String> {
    reqs.iter()
        .map(|r| {
            let path = r.path();
            let tail = path.splitn(6, '/').nth(5).unwrap_or("");
            let first = tail.split('/').next().filter(|t| !t.is_empty());
            format!("{} {}", r.method, first.unwrap_or("root"))
        })
        .collect()
}

fn ended(e: &DdiEvent) -> bool {
    matches!(e, DdiEvent::ActionEnded { .. })
}

#[test]
fn full_update_flow_against_the_server_core() {
    let mut p = Pair::new();
    let action = p.assign(300_000, ActionType::Forced);
    let reqs = p.run_until(ended);
    let k = kinds(&reqs);
    assert_eq!(k[0], "GET root", "{k:?}");
    assert_eq!(k[1], "GET deploymentBase");
    assert_eq!(k[2], "POST deploymentBase", "proceeding feedback");
    assert_eq!(k[3], "GET softwaremodules", "download");
    assert_eq!(k[4], "POST deploymentBase", "downloaded feedback");
    assert_eq!(k[5], "POST deploymentBase", "closed feedback");
    let bodies: Vec<String> = reqs
        .iter()
        .filter(|r| r.method == Method::Post)
        .map(|r| String::from_utf8_lossy(r.body.as_bytes()).into_owned())
        .collect();
    assert!(bodies[0].contains(r#""execution":"proceeding""#));
    assert!(bodies[1].contains(r#""execution":"downloaded""#));
    assert!(bodies[2].contains(r#""execution":"closed""#) && bodies[2].contains("success"));
    assert_eq!(
        p.server.action_status(ID, action),
        Some(ActionStatus::Finished)
    );
    assert!(p.events.contains(&DdiEvent::ArtifactChecked {
        action: action.0,
        matches: true
    }));
    assert_eq!(p.client.phase(), Phase::Updated);
    // Right after closing it polls again, and answers the configData request.
    let (req, _) = p.exchange();
    assert_eq!(req.path(), "/DEFAULT/controller/v1/dev-1");
    let (req, resp) = p.exchange();
    assert_eq!((req.method, resp.status), (Method::Put, 200));
    assert!(String::from_utf8_lossy(req.body.as_bytes()).contains(r#""mode":"merge""#));
}

fn root_answer(sleep: &str, extra: &str) -> Response {
    let body = format!(
        r#"{{"config":{{"polling":{{"sleep":"{sleep}","unknown":1}}}},"_links":{{}}{extra}}}"#
    );
    Response::json(200, "application/hal+json", body.into_bytes())
}

#[test]
fn sleep_is_honoured_in_both_formats() {
    let mut p = Pair::new();
    for (sleep, span) in [("00:05:00", Span::minutes(5)), ("PT36H", Span::hours(36))] {
        p.next_request();
        p.deliver(Delivery::Complete(root_answer(
            sleep,
            r#","surprise":[1,2]"#,
        )));
        assert_eq!(p.client.poll_timeout(), p.now + span, "{sleep}");
    }
    // Garbage keeps the previous interval and is reported as unreadable.
    p.next_request();
    p.deliver(Delivery::Complete(root_answer("soon", "")));
    assert!(p
        .events
        .iter()
        .any(|e| matches!(e, DdiEvent::RootSeen { sleep: None, .. })));
}

#[test]
fn server_errors_back_off_with_jitter_and_honour_retry_after() {
    let mut p = Pair::new();
    p.next_request();
    let mut busy = Response::status(503);
    busy.headers = Headers::new().with("retry-after", "120");
    p.deliver(Delivery::Complete(busy));
    let wait = p.client.poll_timeout().since(p.now);
    assert!(wait >= Span::secs(120), "Retry-After honoured: {wait}");

    let mut delays = Vec::new();
    for _ in 0..8 {
        p.next_request();
        p.deliver(Delivery::Broken(NetError::Reset, None));
        delays.push(p.client.poll_timeout().since(p.now));
    }
    assert!(delays[0] < delays[3], "grows: {delays:?}");
    let cap = ClientSettings::default().default_poll;
    assert!(
        delays.iter().all(|d| *d <= cap),
        "capped at the poll interval: {delays:?}"
    );
    let sent_scheduled = p
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                DdiEvent::Sent {
                    scheduled: true,
                    ..
                }
            )
        })
        .count();
    assert_eq!(sent_scheduled, 1, "retries are not scheduled polls");
    // 429 is retried too, not treated as an answer.
    p.next_request();
    p.deliver(Delivery::Complete(Response::status(429)));
    assert!(p.client.poll_timeout() > p.now);
}

#[test]
fn interrupted_download_resumes_with_range() {
    let mut p = Pair::new();
    let action = p.assign(100_000, ActionType::Forced);
    p.run_until(|e| {
        matches!(
            e,
            DdiEvent::FeedbackAnswered {
                execution: Execution::Proceeding,
                ..
            }
        )
    });
    let req = p.next_request();
    assert_eq!(req.headers.get("range"), None);
    let full = p.server.handle(p.now, &req);
    let partial = Response {
        body: full.body.truncated(40_000),
        ..full
    };
    p.deliver(Delivery::Broken(NetError::Reset, Some(partial)));
    let req = p.next_request();
    assert_eq!(req.headers.get("range"), Some("bytes=40000-"));
    let resp = p.server.handle(p.now, &req);
    assert_eq!(resp.status, 206);
    p.deliver(Delivery::Complete(resp));
    p.run_until(ended);
    assert!(p.events.contains(&DdiEvent::ArtifactChecked {
        action: action.0,
        matches: true
    }));
    assert_eq!(
        p.server.action_status(ID, action),
        Some(ActionStatus::Finished)
    );
}

#[test]
fn wrong_hash_is_retried_once_then_reported_as_failure() {
    let mut p = Pair::new();
    let action = p.assign(5_000, ActionType::Forced);
    p.run_until(|e| {
        matches!(
            e,
            DdiEvent::FeedbackAnswered {
                execution: Execution::Proceeding,
                ..
            }
        )
    });
    for _ in 0..2 {
        let req = p.next_request();
        let resp = p.server.handle(p.now, &req);
        // Same length, other bytes: a CDN serving the wrong file.
        let wrong = Response {
            body: Body::Synthetic {
                content: ContentId(12345),
                offset: 0,
                len: resp.body.len(),
            },
            ..resp
        };
        p.deliver(Delivery::Complete(wrong));
    }
    let req = p.next_request();
    let body = String::from_utf8_lossy(req.body.as_bytes()).into_owned();
    assert!(body.contains(r#""finished":"failure""#), "{body}");
    assert!(body.contains("hash mismatch for fw.bin"), "{body}");
    let resp = p.server.handle(p.now, &req);
    p.deliver(Delivery::Complete(resp));
    assert_eq!(
        p.server.action_status(ID, action),
        Some(ActionStatus::Error)
    );
    assert_eq!(p.client.phase(), Phase::Failed);
}

#[test]
fn cancel_is_confirmed_with_closed_on_the_cancel_resource() {
    let mut p = Pair::new();
    let action = p.assign(1_000_000, ActionType::Soft);
    p.run_until(|e| {
        matches!(
            e,
            DdiEvent::FeedbackAnswered {
                execution: Execution::Proceeding,
                ..
            }
        )
    });
    // The download breaks; meanwhile the operator cancels the action.
    p.next_request();
    p.deliver(Delivery::Broken(NetError::Reset, None));
    assert!(p.server.cancel(p.now, ID, action, false));
    // The download retry now gets 404 (no access while CANCELING) → the client
    // re-fetches the deployment (404) and goes back to polling, which shows cancelAction.
    let reqs = p.run_until(ended);
    assert!(p.events.contains(&DdiEvent::ActionEnded {
        action: action.0,
        outcome: Outcome::Canceled
    }));
    let k = kinds(&reqs);
    assert!(k.contains(&"GET cancelAction".to_string()), "{k:?}");
    let body = reqs
        .iter()
        .find(|r| r.method == Method::Post && r.path().contains("cancelAction"))
        .map(|r| String::from_utf8_lossy(r.body.as_bytes()).into_owned())
        .unwrap_or_default();
    assert!(
        body.contains(r#""execution":"closed""#),
        "never `canceled` (ddi.md §1.6): {body}"
    );
    assert_eq!(
        p.server.action_status(ID, action),
        Some(ActionStatus::Canceled)
    );
}

#[test]
fn closed_feedback_answered_410_counts_as_delivered() {
    let mut p = Pair::new();
    let action = p.assign(1_000, ActionType::Forced);
    p.run_until(|e| {
        matches!(
            e,
            DdiEvent::FeedbackAnswered {
                execution: Execution::Downloaded,
                ..
            }
        )
    });
    // The closed feedback reaches the server but its answer is lost ...
    let req = p.next_request();
    assert_eq!(p.server.handle(p.now, &req).status, 200);
    p.deliver(Delivery::Broken(NetError::Timeout, None));
    // ... so the retry meets 410 Gone, which means the first one arrived.
    let (req, resp) = p.exchange();
    assert!(req.path().ends_with("/feedback"));
    assert_eq!(resp.status, 410);
    assert!(p.events.contains(&DdiEvent::ActionEnded {
        action: action.0,
        outcome: Outcome::Success
    }));
}

#[test]
fn unknown_link_targets_and_garbage_do_not_panic() {
    let mut p = Pair::new();
    for body in [
        &b"not json"[..],
        br#"{"config":{"polling":{"sleep":"00:01:00"}},"_links":{"deploymentBase":{"href":"http://h/x"}}}"#,
        br#"{"id":"abc","deployment":{}}"#,
    ] {
        p.next_request();
        p.deliver(Delivery::Complete(Response::json(200, "application/json", body.to_vec())));
    }
    assert!(p.client.poll_timeout() > p.now);
}

#[test]
fn cancel_during_a_long_install_is_rejected_and_the_install_finishes() {
    let mut p = Pair::new();
    // The install outlasts the 5-minute sleep, so the device polls while installing.
    p.settings.install_time = Span::minutes(20);
    let action = p.assign(2_000, ActionType::Forced);
    p.run_until(|e| matches!(e, DdiEvent::PhaseChanged(Phase::Installing)));
    assert!(p.server.cancel(p.now, ID, action, false));
    let reqs = p.run_until(ended);
    let k = kinds(&reqs);
    assert_eq!(k[0], "GET root", "polls while installing: {k:?}");
    assert!(k.contains(&"GET cancelAction".to_string()), "{k:?}");
    let cancel_body = reqs
        .iter()
        .find(|r| r.method == Method::Post && r.path().contains("cancelAction"))
        .map(|r| String::from_utf8_lossy(r.body.as_bytes()).into_owned())
        .unwrap_or_default();
    assert!(
        cancel_body.contains(r#""execution":"rejected""#),
        "{cancel_body}"
    );
    // Rejected: the action is active again, and the finished install closes it.
    assert!(p.events.contains(&DdiEvent::ActionEnded {
        action: action.0,
        outcome: Outcome::Success
    }));
    assert_eq!(
        p.server.action_status(ID, action),
        Some(ActionStatus::Finished)
    );
    let polls = k.iter().filter(|x| *x == "GET root").count();
    assert!(
        (2..=5).contains(&polls),
        "about one poll per sleep while installing: {k:?}"
    );
}

/// The `execution` of every deploymentBase feedback the client posted, in order.
fn executions(reqs: &[Request]) -> Vec<String> {
    reqs.iter()
        .filter(|r| r.method == Method::Post)
        .map(|r| {
            let v: serde_json::Value =
                serde_json::from_slice(r.body.as_bytes()).expect("feedback is JSON");
            let st = &v["status"];
            let mut s = st["execution"].as_str().unwrap_or("?").to_string();
            if let Some(p) = st["result"].get("progress") {
                s += &format!(" {}/{}", p["cnt"], p["of"]);
            }
            if let Some(c) = st.get("code") {
                s += &format!(" code {c}");
            }
            s
        })
        .collect()
}

fn two_artifacts(p: &mut Pair, kind: ActionType) -> ActionId {
    let artifact = |name: &str, id| ArtifactSpec {
        filename: name.into(),
        content: ContentId(id),
        size: 1000,
    };
    let dist = p.server.add_distribution(DistributionSpec {
        name: "fw".into(),
        version: "2.0.0".into(),
        modules: vec![ModuleSpec {
            part: "os".into(),
            name: "fw".into(),
            version: "2.0.0".into(),
            artifacts: vec![artifact("a.bin", 3), artifact("b.bin", 4)],
        }],
    });
    p.server
        .assign(p.now, dist, ID, kind, None, None)
        .expect("target registered")
}

#[test]
fn full_vocabulary_announces_each_artifact_and_counts_progress() {
    let mut p = Pair::new();
    p.settings.feedback = FeedbackSettings {
        per_artifact: true,
        status_codes: true,
        ..FeedbackSettings::default()
    };
    two_artifacts(&mut p, ActionType::Forced);
    let reqs = p.run_until(ended);
    assert_eq!(
        executions(&reqs),
        [
            "proceeding 0/2",
            "download",
            "proceeding 1/2",
            "download",
            "proceeding 2/2",
            "downloaded",
            "closed code 200",
        ]
    );
}

#[test]
fn minimal_vocabulary_is_unchanged_by_default() {
    let mut p = Pair::new();
    two_artifacts(&mut p, ActionType::Forced);
    let reqs = p.run_until(ended);
    assert_eq!(
        executions(&reqs),
        ["proceeding 0/2", "downloaded", "closed"]
    );
    assert!(reqs
        .iter()
        .all(|r| r.headers.get("if-none-match").is_none()));
}

#[test]
fn a_failed_install_reports_code_500() {
    let mut p = Pair::new();
    p.settings.install_failure = 1.0;
    p.settings.feedback.status_codes = true;
    p.assign(100, ActionType::Forced);
    let reqs = p.run_until(ended);
    assert_eq!(executions(&reqs).last().unwrap(), "closed code 500");
}

#[test]
fn a_soft_update_is_deferred_then_resumed() {
    let mut p = Pair::new();
    p.settings.feedback.soft_defer = Some(Span::hours(1));
    let start = p.now;
    p.assign(100, ActionType::Soft);
    let reqs = p.run_until(ended);
    let ex = executions(&reqs);
    assert_eq!(
        ex[..3],
        ["scheduled", "resumed", "proceeding 0/1"],
        "{ex:?}"
    );
    let resumed_at = p.events.iter().position(|e| {
        matches!(
            e,
            DdiEvent::FeedbackAnswered {
                execution: Execution::Resumed,
                ..
            }
        )
    });
    assert!(resumed_at.is_some());
    assert!(
        p.now >= start + Span::hours(1),
        "resumed only after the deferral"
    );
    assert_eq!(p.client.phase(), Phase::Updated);
}

#[test]
fn a_deferred_timeforced_update_resumes_once_forced() {
    let mut p = Pair::new();
    p.settings.feedback.soft_defer = Some(Span::hours(24));
    let force_at = p.now + Span::minutes(20);
    p.assign(100, ActionType::TimeForced { force_at });
    p.run_until(ended);
    let resumed = p.events.iter().any(|e| {
        matches!(
            e,
            DdiEvent::FeedbackAnswered {
                execution: Execution::Resumed,
                status: 200,
                ..
            }
        )
    });
    assert!(resumed);
    assert!(
        p.now >= force_at && p.now < force_at + Span::hours(1),
        "{}",
        p.now
    );
}

#[test]
fn a_rejected_deployment_is_let_go_and_not_redone() {
    let mut p = Pair::new();
    p.settings.feedback.reject = 1.0;
    let action = p.assign(100, ActionType::Forced);
    let reqs = p.run_until(ended);
    assert_eq!(executions(&reqs), ["rejected"]);
    assert!(p.events.contains(&DdiEvent::ActionEnded {
        action: action.0,
        outcome: Outcome::Rejected
    }));
    // The action stays active on the server (WARNING only) but is not redone.
    let more = (0..3).map(|_| p.exchange().0).collect::<Vec<_>>();
    assert!(more
        .iter()
        .all(|r| r.method != Method::Post || r.path().ends_with("configData")));
    assert_eq!(
        p.server.action_status(ID, action),
        Some(ActionStatus::Retrieved)
    );
}

#[test]
fn installed_base_is_checked_after_the_reboot() {
    let mut p = Pair::new();
    p.settings.feedback.check_installed = true;
    let action = p.assign(100, ActionType::Forced);
    p.run_until(ended);
    let reqs = p.run_until(|e| matches!(e, DdiEvent::InstalledChecked { .. }));
    assert!(reqs
        .last()
        .unwrap()
        .path()
        .ends_with(&format!("/installedBase/{}", action.0)));
    assert!(p.events.contains(&DdiEvent::InstalledChecked {
        action: action.0,
        matches: true
    }));
}

#[test]
fn if_none_match_reads_304_as_unchanged() {
    let mut p = Pair::new();
    p.settings.feedback.if_none_match = true;
    p.exchange();
    let (config, _) = p.exchange();
    assert!(config.path().ends_with("/configData"));
    p.exchange();
    let (req, resp) = p.exchange();
    assert!(req.headers.get("if-none-match").is_some());
    assert_eq!(resp.status, 304);
    // The 304 was read as the last root document: a regular sleep, no retry.
    let seen = p
        .events
        .iter()
        .filter(|e| matches!(e, DdiEvent::RootSeen { .. }))
        .count();
    assert_eq!(seen, 3);
    assert_eq!(p.client.poll_timeout(), p.now + p.client.sleep());
}

#[test]
fn cbor_device_speaks_cbor_both_ways_with_the_server_core() {
    let mut p = Pair::new();
    p.settings.encoding = Encoding::Cbor;
    let action = p.assign(100_000, ActionType::Forced);
    let mut reqs = p.run_until(ended);
    reqs.push(p.exchange().0); // the root poll after closing
    reqs.push(p.exchange().0); // configData
    for r in &reqs {
        assert_eq!(r.headers.get("accept"), Some(CBOR), "{}", r.url);
    }
    let bodies: Vec<&Request> = reqs.iter().filter(|r| r.method != Method::Get).collect();
    assert_eq!(bodies.len(), 4, "3 feedbacks and configData");
    for r in &bodies {
        assert_eq!(r.headers.get("content-type"), Some(CBOR), "{}", r.url);
        let v: serde_json::Value = ciborium::from_reader(r.body.as_bytes()).expect("a CBOR body");
        assert!(v.is_object(), "{v}");
    }
    assert_eq!(
        p.server.action_status(ID, action),
        Some(ActionStatus::Finished)
    );
    let attrs = p.server.attributes(ID).expect("target");
    assert!(attrs.iter().any(|(k, _)| k == "serial"), "{attrs:?}");
    assert!(!p
        .events
        .iter()
        .any(|e| matches!(e, DdiEvent::WrongMedia { .. })));
}

#[test]
fn cbor_device_reports_json_answers_and_still_updates() {
    let mut p = Pair::new();
    p.settings.encoding = Encoding::Cbor;
    p.server.set_faults(vec![crate::server::FaultWindow {
        from: Time::ZERO,
        until: Time::NEVER,
        fault: crate::server::Fault::CborAnsweredAsJson,
    }]);
    let action = p.assign(100_000, ActionType::Forced);
    p.run_until(ended);
    assert_eq!(
        p.server.action_status(ID, action),
        Some(ActionStatus::Finished)
    );
    let wrong: Vec<ReqKind> = p
        .events
        .iter()
        .filter_map(|e| match e {
            DdiEvent::WrongMedia { kind } => Some(*kind),
            _ => None,
        })
        .collect();
    assert!(
        wrong.contains(&ReqKind::Root) && wrong.contains(&ReqKind::Deployment),
        "{wrong:?}"
    );
}

/// A pair whose server has the confirmation flow on (ddi.md §1.8).
fn consenting(consent: Consent) -> Pair {
    let config = ServerConfig {
        confirmation_flow: true,
        ..ServerConfig::default()
    };
    Pair::with(config, consent)
}

#[test]
fn consent_confirm_reads_confirmation_base_then_confirms_and_installs() {
    let mut p = consenting(Consent::Confirm);
    let action = p.assign(10_000, ActionType::Forced);
    let reqs = p.run_until(ended);
    let k = kinds(&reqs);
    assert_eq!(
        k[..4],
        [
            "GET root",
            "GET confirmationBase",
            "POST confirmationBase",
            "GET root"
        ],
        "{k:?}"
    );
    assert_eq!(k[4], "GET deploymentBase");
    assert!(
        String::from_utf8_lossy(reqs[2].body.as_bytes()).contains(r#""confirmation":"confirmed""#)
    );
    assert!(p
        .events
        .contains(&DdiEvent::ConsentAsked { action: action.0 }));
    assert_eq!(
        p.server.action_status(ID, action),
        Some(ActionStatus::Finished)
    );
}

#[test]
fn consent_deny_answers_once_and_the_action_keeps_waiting() {
    let mut p = consenting(Consent::Deny);
    let action = p.assign(10_000, ActionType::Forced);
    let reqs: Vec<Request> = (0..6).map(|_| p.exchange().0).collect();
    let k = kinds(&reqs);
    assert_eq!(
        k[..3],
        ["GET root", "GET confirmationBase", "POST confirmationBase"],
        "{k:?}"
    );
    assert!(
        k[3..]
            .iter()
            .all(|r| r == "GET root" || r == "PUT configData"),
        "{k:?}"
    );
    assert!(p.events.contains(&DdiEvent::ConsentGiven {
        action: action.0,
        confirmed: false,
        status: 200
    }));
    assert_eq!(
        p.server.action_status(ID, action),
        Some(ActionStatus::WaitForConfirmation)
    );
}

#[test]
fn consent_confirm_after_waits_its_delay() {
    let mut p = consenting(Consent::ConfirmAfter(Span::minutes(30)));
    let action = p.assign(10_000, ActionType::Forced);
    let reqs = p.run_until(|e| matches!(e, DdiEvent::ConsentGiven { .. }));
    assert!(
        p.now >= Time::ZERO + Span::minutes(30),
        "confirmed at {}",
        p.now
    );
    let fetched = kinds(&reqs)
        .iter()
        .filter(|k| *k == "GET confirmationBase")
        .count();
    assert_eq!(fetched, 1, "asked once");
    assert_eq!(
        p.server.action_status(ID, action),
        Some(ActionStatus::Running)
    );
    p.run_until(ended);
    assert_eq!(
        p.server.action_status(ID, action),
        Some(ActionStatus::Finished)
    );
}

#[test]
fn consent_auto_turns_auto_confirm_on_once() {
    let mut p = consenting(Consent::Auto);
    let action = p.assign(10_000, ActionType::Forced);
    let reqs = p.run_until(ended);
    let k = kinds(&reqs);
    assert_eq!(
        k[..3],
        ["GET root", "POST confirmationBase", "GET root"],
        "{k:?}"
    );
    assert!(reqs[1]
        .path()
        .ends_with("/confirmationBase/activateAutoConfirm"));
    assert_eq!(
        k.iter().filter(|r| *r == "POST confirmationBase").count(),
        1
    );
    assert!(p
        .events
        .contains(&DdiEvent::AutoConfirmAnswered { status: 200 }));
    assert_eq!(
        p.server.action_status(ID, action),
        Some(ActionStatus::Finished)
    );
}

#[test]
fn consent_ignore_never_follows_confirmation_base() {
    let mut p = consenting(Consent::Ignore);
    let action = p.assign(10_000, ActionType::Forced);
    let reqs: Vec<Request> = (0..5).map(|_| p.exchange().0).collect();
    assert!(kinds(&reqs).iter().all(|r| !r.contains("confirmationBase")));
    assert_eq!(
        p.server.action_status(ID, action),
        Some(ActionStatus::WaitForConfirmation)
    );
}
