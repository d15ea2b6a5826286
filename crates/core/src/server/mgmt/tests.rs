//! Management API unit tests: every endpoint family through
//! [`Server::handle`], happy paths and hawkBit's error answers, plus the
//! DDI side seeing what the Management API did.

use serde_json::{json, Value};

use crate::artifact::hash_bytes;
use crate::message::{Body, Method, Request, Response};
use crate::server::{IndexGroup, MgmtCredentials, Server, ServerConfig};
use crate::time::Time;

const ORIGIN: &str = "http://h:8080";
/// `admin:admin` in base64.
const ADMIN: &str = "Basic YWRtaW46YWRtaW4=";

struct H {
    s: Server,
    now: Time,
}

impl H {
    fn new() -> H {
        H {
            s: Server::new(ServerConfig::default()),
            now: Time(1_000),
        }
    }

    fn raw(&mut self, method: Method, path: &str, ctype: Option<&str>, body: Vec<u8>) -> Response {
        let mut req = Request::new(method, format!("{ORIGIN}{path}"));
        req.headers.insert("authorization", ADMIN);
        if let Some(c) = ctype {
            req.headers.insert("content-type", c.to_string());
        }
        if !body.is_empty() {
            req.body = Body::Bytes(body.into());
        }
        self.s.handle(self.now, &req)
    }

    fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let r = self.raw(
            method,
            &format!("/rest/v1{path}"),
            Some("application/json"),
            bytes,
        );
        let v = serde_json::from_slice(r.body.as_bytes()).unwrap_or(Value::Null);
        (r.status, v)
    }

    fn ddi(&mut self, method: Method, rest: &str, body: Option<Value>) -> Response {
        let mut req = Request::new(method, format!("{ORIGIN}/DEFAULT/controller/v1{rest}"));
        if let Some(token) = self.s.config().gateway_token.clone() {
            req.headers
                .insert("authorization", format!("GatewayToken {token}"));
        }
        if let Some(b) = body {
            req.headers.insert("content-type", "application/json");
            req.body = Body::Bytes(b.to_string().into_bytes().into());
        }
        self.s.handle(self.now, &req)
    }

    /// Creates targets, a module with `data` uploaded as `fw.bin`, and a set; the set's id.
    fn setup(&mut self, ids: &[&str], data: &[u8]) -> u64 {
        let targets: Vec<Value> = ids.iter().map(|id| json!({ "controllerId": id })).collect();
        assert_eq!(
            self.call(Method::Post, "/targets", Some(json!(targets))).0,
            201
        );
        let (st, sm) = self.call(
            Method::Post,
            "/softwaremodules",
            Some(json!([{ "name": "fw", "version": "1", "type": "os" }])),
        );
        assert_eq!(st, 201, "{sm}");
        let sm = sm[0]["id"].as_u64().expect("sm id");
        let up = self.upload(sm, "fw.bin", data, "");
        assert_eq!(up.status, 201);
        let (st, ds) = self.call(
            Method::Post,
            "/distributionsets",
            Some(
                json!([{ "name": "fw", "version": "1", "type": "os", "modules": [{ "id": sm }] }]),
            ),
        );
        assert_eq!(st, 201, "{ds}");
        ds[0]["id"].as_u64().expect("ds id")
    }

    fn upload(&mut self, sm: u64, name: &str, data: &[u8], query: &str) -> Response {
        let mut body =
            b"--BND\r\nContent-Disposition: form-data; name=\"file\"; filename=\"".to_vec();
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(b"\"\r\nContent-Type: application/octet-stream\r\n\r\n");
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n--BND--\r\n");
        let path = format!("/rest/v1/softwaremodules/{sm}/artifacts{query}");
        self.raw(
            Method::Post,
            &path,
            Some("multipart/form-data; boundary=BND"),
            body,
        )
    }
}

fn error_code(r: &Response) -> String {
    let v: Value = serde_json::from_slice(r.body.as_bytes()).unwrap_or(Value::Null);
    v["errorCode"].as_str().unwrap_or("").to_string()
}

#[test]
fn basic_auth_is_required_and_configurable() {
    let mut h = H::new();
    let req = Request::new(Method::Get, format!("{ORIGIN}/rest/v1/targets"));
    let r = h.s.handle(h.now, &req);
    assert_eq!(r.status, 401);
    assert!(r.headers.get("www-authenticate").is_some());
    let mut wrong = req.clone();
    wrong.headers.insert("authorization", "Basic YWRtaW46eA=="); // admin:x
    assert_eq!(h.s.handle(h.now, &wrong).status, 401);
    assert_eq!(h.call(Method::Get, "/targets", None).0, 200);
    h.s.set_mgmt_credentials(MgmtCredentials {
        user: "u".into(),
        password: "p".into(),
    });
    assert_eq!(h.call(Method::Get, "/targets", None).0, 401);
    let mut up = req;
    up.headers.insert("authorization", "Basic dTpw"); // u:p
    assert_eq!(h.s.handle(h.now, &up).status, 200);
    assert!(!format!("{:?}", MgmtCredentials::default()).contains("admin\" }"));
}

#[test]
fn system_configs_drive_the_ddi_side() {
    let mut h = H::new();
    let (st, all) = h.call(Method::Get, "/system/configs", None);
    assert_eq!(st, 200);
    assert_eq!(all["pollingTime"]["value"], "00:05:00");
    assert_eq!(all["pollingTime"]["global"], true);
    let (st, out) = h.call(
        Method::Put,
        "/system/configs",
        Some(
            json!({ "pollingTime": "00:00:45", "authentication.gatewaytoken.key": "k1",
                     "authentication.gatewaytoken.enabled": true }),
        ),
    );
    assert_eq!(st, 200, "{out}");
    assert_eq!(h.s.config().gateway_token.as_deref(), Some("k1"));
    assert_eq!(h.s.config().polling_sleep, crate::time::Span::secs(45));
    // Devices now need the token, and are told the new sleep.
    let mut anon = Request::new(Method::Get, format!("{ORIGIN}/DEFAULT/controller/v1/d1"));
    assert_eq!(h.s.handle(h.now, &anon).status, 401);
    anon.headers.insert("authorization", "GatewayToken k1");
    let root = h.s.handle(h.now, &anon);
    assert!(String::from_utf8_lossy(root.body.as_bytes()).contains("00:00:45"));
    let (st, one) = h.call(
        Method::Put,
        "/system/configs/authentication.gatewaytoken.enabled",
        Some(json!({ "value": false })),
    );
    assert_eq!((st, one["value"].clone()), (200, json!(false)));
    assert_eq!(h.s.config().gateway_token, None);
    assert_eq!(
        h.call(
            Method::Get,
            "/system/configs/authentication.gatewaytoken.key",
            None
        )
        .1["value"],
        "k1"
    );
    // Enabled with an empty key: no gateway token is valid (hawkBit), not "auth off".
    let (st, _) = h.call(
        Method::Put,
        "/system/configs",
        Some(json!({ "authentication.gatewaytoken.key": "",
                     "authentication.gatewaytoken.enabled": true })),
    );
    assert_eq!(st, 200);
    let mut anon = Request::new(Method::Get, format!("{ORIGIN}/DEFAULT/controller/v1/d2"));
    let r = h.s.handle(h.now, &anon);
    assert_eq!((r.status, r.body.is_empty()), (401, true));
    anon.headers.insert("authorization", "GatewayToken ");
    assert_eq!(h.s.handle(h.now, &anon).status, 401);
    let (st, _) = h.call(
        Method::Put,
        "/system/configs",
        Some(json!({ "authentication.gatewaytoken.key": "k1",
                     "authentication.gatewaytoken.enabled": false })),
    );
    assert_eq!(st, 200);
    let (st, _) = h.call(
        Method::Put,
        "/system/configs/authentication.targettoken.enabled",
        Some(json!({ "value": true })),
    );
    assert_eq!(st, 200);
    assert!(h.s.config().target_token_auth);
    // Errors: unknown key, bad value, bad JSON; nothing applied on failure.
    let (st, e) = h.call(Method::Get, "/system/configs/no.such.key", None);
    assert_eq!(
        (st, e["errorCode"].clone()),
        (400, json!("hawkbit.server.error.configKeyInvalid"))
    );
    let (st, e) = h.call(
        Method::Put,
        "/system/configs",
        Some(json!({ "pollingTime": "00:00:01" })),
    );
    assert_eq!(
        (st, e["errorCode"].clone()),
        (400, json!("hawkbit.server.error.configValueInvalid"))
    );
    let r = h.raw(
        Method::Put,
        "/rest/v1/system/configs",
        Some("application/json"),
        b"{nope".to_vec(),
    );
    assert_eq!(
        (r.status, error_code(&r)),
        (400, "hawkbit.server.error.rest.body.notReadable".into())
    );
    assert_eq!(h.s.config().polling_sleep, crate::time::Span::secs(45));
}

#[test]
fn targets_crud_paging_and_errors() {
    let mut h = H::new();
    let (st, created) = h.call(
        Method::Post,
        "/targets",
        Some(
            json!([{ "controllerId": "dev-1", "name": "one", "description": "d" },
                    { "controllerId": "dev-2", "securityToken": "tok2" },
                    { "controllerId": "edge-1" }]),
        ),
    );
    assert_eq!(st, 201, "{created}");
    assert_eq!(created[0]["name"], "one");
    assert_eq!(created[0]["securityToken"].as_str().map(str::len), Some(32));
    assert_eq!(created[1]["securityToken"], "tok2");
    assert_eq!(
        created[0]["_links"]["self"]["href"],
        "http://h:8080/rest/v1/targets/dev-1"
    );
    let (st, e) = h.call(
        Method::Post,
        "/targets",
        Some(json!([{ "controllerId": "dev-1" }])),
    );
    assert_eq!(
        (st, e["errorCode"].clone()),
        (409, json!("hawkbit.server.error.repo.entitiyAlreayExists"))
    );
    let (_, page) = h.call(
        Method::Get,
        "/targets?q=controllerId==dev-*&limit=1&offset=1",
        None,
    );
    assert_eq!(
        (page["total"].clone(), page["size"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(page["content"][0]["controllerId"], "dev-2");
    let (st, e) = h.call(Method::Get, "/targets?q=color==red", None);
    assert_eq!(
        (st, e["errorCode"].clone()),
        (
            400,
            json!("hawkbit.server.error.rest.param.rsqlInvalidField")
        )
    );
    let (st, e) = h.call(Method::Get, "/targets/nope", None);
    assert_eq!(
        (st, e["errorCode"].clone()),
        (404, json!("hawkbit.server.error.repo.entitiyNotFound"))
    );
    assert_eq!(
        e["exceptionClass"],
        "org.eclipse.hawkbit.repository.exception.EntityNotFoundException"
    );
    // A poll shows up in the target.
    h.now = Time(5_000);
    assert_eq!(h.ddi(Method::Get, "/dev-1", None).status, 200);
    let (_, t) = h.call(Method::Get, "/targets/dev-1", None);
    assert_eq!(t["lastControllerRequestAt"], 5_000);
    assert_eq!(t["pollStatus"]["nextExpectedRequestAt"], 305_000);
    assert_eq!(t["updateStatus"], "registered");
    assert_eq!(
        h.call(Method::Get, "/targets/dev-1/attributes", None).0,
        204
    );
    let cfg = json!({ "mode": "merge", "data": { "hw": "2" } });
    assert_eq!(
        h.ddi(Method::Put, "/dev-1/configData", Some(cfg)).status,
        200
    );
    assert_eq!(
        h.call(Method::Get, "/targets/dev-1/attributes", None),
        (200, json!({ "hw": "2" }))
    );
    // Wrong method, bad body, delete.
    let (st, _) = h.call(Method::Put, "/targets", None);
    assert_eq!(st, 405);
    let r = h.raw(
        Method::Post,
        "/rest/v1/targets",
        Some("application/json"),
        b"[{".to_vec(),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        h.call(Method::Post, "/targets", Some(json!([{ "name": "x" }])))
            .0,
        400
    );
    assert_eq!(h.call(Method::Delete, "/targets/edge-1", None).0, 204);
    assert_eq!(h.call(Method::Get, "/targets/edge-1", None).0, 404);
    assert_eq!(h.call(Method::Get, "/targets", None).1["total"], 2);
    assert_eq!(h.call(Method::Get, "/nothing", None).0, 404);
    // With target-token auth on, the token the API generated admits the device.
    let body = json!({ "authentication.targettoken.enabled": true });
    assert_eq!(h.call(Method::Put, "/system/configs", Some(body)).0, 200);
    let token = created[0]["securityToken"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let mut req = Request::new(Method::Get, format!("{ORIGIN}/DEFAULT/controller/v1/dev-1"));
    assert_eq!(h.s.handle(h.now, &req).status, 401);
    req.headers
        .insert("authorization", format!("TargetToken {token}"));
    assert_eq!(h.s.handle(h.now, &req).status, 200);
}

#[test]
fn created_scenario_ids_take_the_device_number() {
    let mut h = H::new();
    h.s.set_index_plan(vec![IndexGroup {
        prefix: "dev-".into(),
        first: 0,
        count: 10,
    }]);
    let body = json!([{ "controllerId": "dev-00007" }, { "controllerId": "other" }, { "controllerId": "dev-7" }]);
    assert_eq!(h.call(Method::Post, "/targets", Some(body)).0, 201);
    let index = |h: &H, cid: &str| h.s.targets.get(cid).map(|t| t.index);
    assert_eq!(index(&h, "dev-00007"), Some(7));
    assert_eq!(index(&h, "other"), Some(10));
    assert_eq!(index(&h, "dev-7"), Some(11));
    assert_eq!(h.s.take_mgmt_created(), vec!["dev-00007", "other", "dev-7"]);
}

#[test]
fn uploads_are_served_to_devices_with_real_hashes_and_ranges() {
    let mut h = H::new();
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let ds = h.setup(&["d1"], &data);
    let (_, arts) = h.call(Method::Get, "/softwaremodules/1/artifacts", None);
    let hashes = hash_bytes(&data);
    assert_eq!(arts[0]["hashes"]["sha256"], hashes.sha256.as_str());
    assert_eq!(arts[0]["size"], 5000);
    let (st, out) = h.call(
        Method::Post,
        &format!("/distributionsets/{ds}/assignedTargets"),
        Some(json!([{ "id": "d1", "type": "forced" }])),
    );
    assert_eq!(st, 200, "{out}");
    assert_eq!(
        (out["assigned"].clone(), out["total"].clone()),
        (json!(1), json!(1))
    );
    let aid = out["assignedActions"][0]["id"].as_u64().expect("action id");
    let base = h.ddi(Method::Get, &format!("/d1/deploymentBase/{aid}"), None);
    let doc: Value = serde_json::from_slice(base.body.as_bytes()).expect("json");
    let art = &doc["deployment"]["chunks"][0]["artifacts"][0];
    assert_eq!(art["hashes"]["sha1"], hashes.sha1.as_str());
    assert_eq!(art["hashes"]["md5"], hashes.md5.as_str());
    assert_eq!(doc["deployment"]["download"], "forced");
    let mut req = Request::new(
        Method::Get,
        format!("{ORIGIN}/DEFAULT/controller/v1/d1/softwaremodules/1/artifacts/fw.bin"),
    );
    req.headers.insert("range", "bytes=1000-");
    let part = h.s.handle(h.now, &req);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, Body::Bytes(data[1000..].to_vec().into()));
    req.headers = Default::default();
    let whole = h.s.handle(h.now, &req).body;
    assert_eq!(whole, Body::Bytes(data.clone().into()));
    // Served from the uploaded bytes, never a copy per answer: a thousand
    // devices downloading one uploaded file hold one file.
    let at = |b: &Body| b.as_bytes().as_ptr() as usize;
    assert_eq!(at(&h.s.handle(h.now, &req).body), at(&whole));
    assert_eq!(at(&part.body), at(&whole) + 1000);
    // The Management side: artifact JSON, download, assigned and installed set.
    let (st, art) = h.call(Method::Get, "/softwaremodules/1/artifacts/1", None);
    assert_eq!(
        (st, art["providedFilename"].clone()),
        (200, json!("fw.bin"))
    );
    let dl = h.raw(
        Method::Get,
        "/rest/v1/softwaremodules/1/artifacts/1/download",
        None,
        Vec::new(),
    );
    assert_eq!(
        (dl.status, dl.body.clone()),
        (200, Body::Bytes(data.clone().into()))
    );
    assert_eq!(
        h.call(Method::Get, "/softwaremodules/1/artifacts/9", None)
            .0,
        404
    );
    assert_eq!(
        h.call(Method::Get, "/targets/d1/assignedDS", None).1["id"],
        ds
    );
    assert_eq!(h.call(Method::Get, "/targets/d1/installedDS", None).0, 204);
    // Assigning again: already assigned.
    let (_, again) = h.call(
        Method::Post,
        "/targets/d1/assignedDS",
        Some(json!({ "id": ds })),
    );
    assert_eq!(
        (again["assigned"].clone(), again["alreadyAssigned"].clone()),
        (json!(0), json!(1))
    );
}

#[test]
fn upload_errors_are_hawkbits() {
    let mut h = H::new();
    h.setup(&["d1"], b"abc");
    let bad_md5 = h.upload(
        1,
        "b.bin",
        b"xyz",
        "?md5sum=00000000000000000000000000000000",
    );
    assert_eq!(
        (bad_md5.status, error_code(&bad_md5)),
        (
            400,
            "hawkbit.server.error.artifact.uploadFailed.checksum.md5.match".into()
        )
    );
    let good = hash_bytes(b"xyz");
    let ok = h.upload(
        1,
        "b.bin",
        b"xyz",
        &format!("?sha1sum={}&sha256sum={}", good.sha1, good.sha256),
    );
    assert_eq!(ok.status, 201);
    let bad_sha = h.upload(1, "c.bin", b"xyz", "?sha256sum=ab");
    assert_eq!(
        error_code(&bad_sha),
        "hawkbit.server.error.artifact.uploadFailed.checksum.sha256.match"
    );
    assert_eq!(h.upload(1, "b.bin", b"again", "").status, 409);
    assert_eq!(h.upload(9, "z.bin", b"x", "").status, 404);
    let junk = h.raw(
        Method::Post,
        "/rest/v1/softwaremodules/1/artifacts",
        Some("multipart/form-data; boundary=BND"),
        b"--BND\r\nnope".to_vec(),
    );
    assert_eq!(
        (junk.status, error_code(&junk)),
        (400, "hawkbit.server.error.artifact.uploadFailed".into())
    );
    let not_form = h.raw(
        Method::Post,
        "/rest/v1/softwaremodules/1/artifacts",
        Some("application/json"),
        b"{}".to_vec(),
    );
    assert_eq!(not_form.status, 400);
    let (st, _) = h.call(
        Method::Post,
        "/softwaremodules",
        Some(json!([{ "name": "fw", "version": "1", "type": "os" }])),
    );
    assert_eq!(st, 409);
    let (st, _) = h.call(
        Method::Post,
        "/softwaremodules",
        Some(json!([{ "name": "x", "version": "1", "type": "nope" }])),
    );
    assert_eq!(st, 404);
    let (st, _) = h.call(
        Method::Post,
        "/distributionsets",
        Some(json!([{ "name": "n", "version": "1", "modules": [{ "id": 99 }] }])),
    );
    assert_eq!(st, 404);
    assert_eq!(h.call(Method::Get, "/softwaremodules/x", None).0, 400);
}

#[test]
fn actions_history_and_cancel_rules() {
    let mut h = H::new();
    let ds = h.setup(&["d1"], b"firmware");
    let (_, out) = h.call(
        Method::Post,
        "/targets/d1/assignedDS",
        Some(json!({ "id": ds, "type": "soft", "weight": 500 })),
    );
    let aid = out["assignedActions"][0]["id"].as_u64().expect("id");
    let (_, a) = h.call(Method::Get, &format!("/targets/d1/actions/{aid}"), None);
    assert_eq!(
        (
            a["type"].clone(),
            a["active"].clone(),
            a["status"].clone(),
            a["forceType"].clone()
        ),
        (
            json!("update"),
            json!(true),
            json!("running"),
            json!("soft")
        )
    );
    assert_eq!(a["weight"], 500);
    assert_eq!(
        a["_links"]["distributionset"]["href"],
        format!("{ORIGIN}/rest/v1/distributionsets/{ds}")
    );
    // Force-quit needs a cancel first (405), then works.
    let path = format!("/targets/d1/actions/{aid}");
    let (st, e) = h.call(Method::Delete, &format!("{path}?force=true"), None);
    assert_eq!(
        (st, e["errorCode"].clone()),
        (405, json!("hawkbit.server.error.action.notForceQuitable"))
    );
    assert_eq!(h.call(Method::Delete, &path, None).0, 204);
    assert_eq!(h.call(Method::Get, &path, None).1["type"], "cancel");
    assert!(
        String::from_utf8_lossy(h.ddi(Method::Get, "/d1", None).body.as_bytes())
            .contains("cancelAction")
    );
    assert_eq!(h.call(Method::Delete, &path, None).0, 405);
    assert_eq!(
        h.call(Method::Delete, &format!("{path}?force=true"), None)
            .0,
        204
    );
    let (_, a) = h.call(Method::Get, &path, None);
    assert_eq!(
        (a["active"].clone(), a["status"].clone()),
        (json!(false), json!("canceled"))
    );
    assert_eq!(h.call(Method::Delete, &path, None).0, 405);
    let (_, hist) = h.call(Method::Get, &format!("{path}/status?sort=id:ASC"), None);
    let types: Vec<&str> = hist["content"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(types.first(), Some(&"running"));
    assert_eq!(types.last(), Some(&"canceled"));
    let (_, newest) = h.call(Method::Get, &format!("{path}/status?limit=1"), None);
    assert_eq!(newest["content"][0]["type"], "canceled");
    assert_eq!(
        h.call(Method::Get, "/targets/d1/actions/99999", None).0,
        404
    );
    assert_eq!(
        h.call(Method::Get, "/targets/d1/actions", None).1["total"],
        1
    );
    // Bad assignments: weight, maintenance window, unknown target.
    let bad = json!([{ "id": "d1", "weight": 5000 }]);
    assert_eq!(
        h.call(
            Method::Post,
            &format!("/distributionsets/{ds}/assignedTargets"),
            Some(bad)
        )
        .0,
        400
    );
    let win = json!([{ "id": "d1", "maintenanceWindow": { "schedule": "0 0 2 * * *", "duration": "00:10:00", "timezone": "+00:00" } }]);
    let (st, e) = h.call(
        Method::Post,
        &format!("/distributionsets/{ds}/assignedTargets"),
        Some(win),
    );
    assert_eq!(
        (st, e["errorCode"].clone()),
        (
            400,
            json!("hawkbit.server.error.maintenanceScheduleInvalid")
        )
    );
    assert_eq!(
        h.call(
            Method::Post,
            &format!("/distributionsets/{ds}/assignedTargets"),
            Some(json!([{ "id": "zz" }]))
        )
        .0,
        404
    );
    let ok = json!([{ "id": "d1", "maintenanceWindow": { "schedule": "0 0 1 * * ?", "duration": "00:30:00", "timezone": "+00:00" } }]);
    let (st, out) = h.call(
        Method::Post,
        &format!("/distributionsets/{ds}/assignedTargets"),
        Some(ok),
    );
    assert_eq!(st, 200);
    let aid = out["assignedActions"][0]["id"].as_u64().expect("id");
    let (_, a) = h.call(Method::Get, &format!("/targets/d1/actions/{aid}"), None);
    assert_eq!(a["maintenanceWindow"]["nextStartAt"], 3_600_000);
}

#[path = "rollout_tests.rs"]
mod rollout_tests;
