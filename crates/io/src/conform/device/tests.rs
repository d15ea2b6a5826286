//! The script without sockets: a hand-driven device against the server
//! core and the script at chosen times (the sans-IO contract: the same
//! requests at the same times give the same card).

use fleetsim_core::message::{Body, Method, Request, Response};
use fleetsim_core::server::{Server, ServerConfig, Tenants};
use fleetsim_core::time::{Span, Time};
use fleetsim_fleet::report::conform::Outcome;

use super::script::Script;

const BASE: &str = "http://h/DEFAULT/controller/v1/d1";

struct Pair {
    core: Tenants,
    script: Script,
}

impl Pair {
    fn new() -> Pair {
        let config = ServerConfig {
            polling_sleep: Span::secs(2),
            confirmation_flow: true,
            ..ServerConfig::default()
        };
        let mut core = Tenants::new(Server::new(config));
        let script = Script::new(&mut core, "DEFAULT", 1, (Span::secs(2), Span::secs(60)));
        Pair { core, script }
    }

    /// One exchange at `ms` milliseconds.
    fn send(&mut self, ms: u64, method: Method, path: &str, body: &str) -> Response {
        let now = Time::ZERO + Span::millis(ms);
        let mut req = Request::new(method, format!("{BASE}{path}"));
        req.body = Body::Bytes(body.as_bytes().to_vec().into());
        if !body.is_empty() {
            req.headers.insert("content-type", "application/json");
        }
        let mut resp = match self.script.before(now, &req, &mut self.core) {
            Some(r) => r,
            None => self.core.handle(now, &req),
        };
        self.script.after(now, &req, &mut resp, &mut self.core);
        resp
    }

    fn outcome(&self, id: &str) -> (Outcome, String) {
        let cases = self.script.cases(Time::ZERO + Span::secs(100), "open");
        let c = cases.iter().find(|c| c.id == id).expect("row");
        (c.outcome, c.reason.clone().unwrap_or_default())
    }
}

fn feedback(execution: &str, finished: &str) -> String {
    format!(r#"{{"status":{{"execution":"{execution}","result":{{"finished":"{finished}"}}}}}}"#)
}

#[test]
fn a_closed_sent_twice_fails_the_update() {
    let mut p = Pair::new();
    let root = p.send(0, Method::Get, "", "");
    let text = String::from_utf8_lossy(root.body.as_bytes()).to_string();
    let action = text
        .split("deploymentBase/")
        .nth(1)
        .and_then(|t| t.split(['?', '"']).next())
        .expect("the first poll offers the update")
        .to_string();
    let dl = p.send(100, Method::Get, &format!("/deploymentBase/{action}"), "");
    let dl = String::from_utf8_lossy(dl.body.as_bytes()).to_string();
    let file = dl
        .split("\"filename\":\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("file");
    let module = dl
        .split("softwaremodules/")
        .nth(1)
        .and_then(|t| t.split('/').next())
        .expect("module");
    let art = p.send(
        200,
        Method::Get,
        &format!("/softwaremodules/{module}/artifacts/{file}"),
        "",
    );
    assert_eq!(art.status, 200);
    let fb = format!("/deploymentBase/{action}/feedback");
    assert_eq!(
        p.send(300, Method::Post, &fb, &feedback("closed", "success"))
            .status,
        200
    );
    assert_eq!(p.outcome("DEV-DDI-UPDATE-001").0, Outcome::Pass);
    // The same closed again: 410, and the case turns FAIL.
    assert_eq!(
        p.send(400, Method::Post, &fb, &feedback("closed", "success"))
            .status,
        410
    );
    let (o, why) = p.outcome("DEV-DDI-UPDATE-001");
    assert_eq!(o, Outcome::Fail);
    assert!(why.contains("exactly once"), "{why}");
}

#[test]
fn situations_wait_one_sleep_and_the_same_requests_give_the_same_card() {
    let run = || {
        let mut p = Pair::new();
        p.send(0, Method::Get, "", "");
        // Within the rest after nothing ended yet: the update is on offer.
        let again = p.send(500, Method::Get, "", "");
        let cases = p.script.cases(Time::ZERO + Span::secs(1), "deadline");
        (again.status, serde_json::to_string(&cases).expect("json"))
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    assert_eq!(a.0, 200);
    assert!(a.1.contains("deadline: no closed feedback"), "{}", a.1);
}
