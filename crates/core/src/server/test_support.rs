//! Test harness for the server's unit tests: one server with one
//! distribution and one target `dev1`, virtual time, request builders.

use crate::message::{Body, ContentId, Headers, Method, Request, Response};
use crate::protocol::ddi::wire::ControllerBase;
use crate::time::{Span, Time};

use super::{
    ActionId, ActionType, ArtifactSpec, DistributionId, DistributionSpec, ModuleSpec, Server,
    ServerConfig, ServerEvent,
};

pub(super) const ORIGIN: &str = "http://h:8080";
pub(super) const CID: &str = "dev1";
pub(super) const FILE: &str = "fw.bin";
pub(super) const FILE_SIZE: u64 = 1000;
pub(super) const CONTENT: ContentId = ContentId(7);

/// A server, a clock and the distribution every test assigns.
pub(super) struct H {
    pub(super) s: Server,
    pub(super) now: Time,
    pub(super) dist: DistributionId,
}

pub(super) fn dist_spec(version: &str, content: ContentId) -> DistributionSpec {
    DistributionSpec {
        name: "fw".into(),
        version: version.into(),
        modules: vec![ModuleSpec {
            part: "os".into(),
            name: "fw".into(),
            version: version.into(),
            artifacts: vec![ArtifactSpec {
                filename: FILE.into(),
                content,
                size: FILE_SIZE,
            }],
        }],
    }
}

impl H {
    pub(super) fn new() -> H {
        H::with_config(ServerConfig::default())
    }

    pub(super) fn with_config(config: ServerConfig) -> H {
        let mut s = Server::new(config);
        let dist = s.add_distribution(dist_spec("1.0", CONTENT));
        s.register_target(CID, 0, Some("tok1".into()));
        H {
            s,
            now: Time(1_000),
            dist,
        }
    }

    pub(super) fn advance(&mut self, by: Span) {
        self.now += by;
    }

    pub(super) fn url(rest: &str) -> String {
        format!("{ORIGIN}/DEFAULT/controller/v1/{CID}{rest}")
    }

    pub(super) fn send(&mut self, req: Request) -> Response {
        self.s.handle(self.now, &req)
    }

    pub(super) fn get(&mut self, rest: &str) -> Response {
        self.send(Request::new(Method::Get, H::url(rest)))
    }

    pub(super) fn get_with(&mut self, rest: &str, name: &str, value: &str) -> Response {
        let mut req = Request::new(Method::Get, H::url(rest));
        req.headers.insert_dynamic(name, value.to_string());
        self.send(req)
    }

    pub(super) fn with_body(method: Method, rest: &str, json: &str) -> Request {
        Request {
            method,
            url: H::url(rest),
            headers: Headers::new().with("content-type", "application/json"),
            body: Body::Bytes(json.as_bytes().to_vec().into()),
        }
    }

    pub(super) fn post(&mut self, rest: &str, json: &str) -> Response {
        self.send(H::with_body(Method::Post, rest, json))
    }

    pub(super) fn put(&mut self, rest: &str, json: &str) -> Response {
        self.send(H::with_body(Method::Put, rest, json))
    }

    /// Posts `{"status":{"execution":exec,"result":{"finished":fin}}}` to `{base}{resource}/{id}/feedback`.
    pub(super) fn feedback_to(
        &mut self,
        resource: &str,
        id: ActionId,
        exec: &str,
        fin: &str,
    ) -> Response {
        let body =
            format!(r#"{{"status":{{"execution":"{exec}","result":{{"finished":"{fin}"}}}}}}"#);
        self.post(&format!("/{resource}/{id}/feedback"), &body)
    }

    pub(super) fn feedback(&mut self, id: ActionId, exec: &str, fin: &str) -> Response {
        self.feedback_to("deploymentBase", id, exec, fin)
    }

    pub(super) fn cancel_feedback(&mut self, id: ActionId, exec: &str, fin: &str) -> Response {
        self.feedback_to("cancelAction", id, exec, fin)
    }

    pub(super) fn root(&mut self) -> ControllerBase {
        let r = self.get("");
        assert_eq!(r.status, 200, "root: {r:?}");
        serde_json::from_slice(r.body.as_bytes()).expect("root body")
    }

    pub(super) fn assign(&mut self, kind: ActionType) -> ActionId {
        self.s
            .assign(self.now, self.dist, CID, kind, None, None)
            .expect("assign")
    }

    pub(super) fn events(&mut self) -> Vec<ServerEvent> {
        let mut out = Vec::new();
        self.s.drain_events(&mut out);
        out
    }
}

/// The JSON body of `r`.
pub(super) fn json(r: &Response) -> serde_json::Value {
    serde_json::from_slice(r.body.as_bytes()).expect("json body")
}
