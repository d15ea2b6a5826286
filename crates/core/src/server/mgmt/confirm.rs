//! A target's auto-confirmation through the Management API (hawkBit
//! `MgmtTargetResource.getAutoConfirmStatus` / `activateAutoConfirm` /
//! `deactivateAutoConfirm`, L450–469): `GET /targets/{id}/autoConfirm`
//! answers `MgmtTargetAutoConfirm`; `POST …/autoConfirm/activate` (body
//! optional) and `POST …/autoConfirm/deactivate` answer 204. Activation
//! confirms the target's waiting actions, as on the DDI side.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::message::percent_encode as encode;
use crate::message::Response;
use crate::server::confirmation;
use crate::server::state::{AutoConfirm, Emitter};
use crate::server::Server;

use super::{wire, Call};

/// `MgmtTargetAutoConfirmUpdate`.
#[derive(Debug, Default, Deserialize)]
struct Update {
    initiator: Option<String>,
    remark: Option<String>,
}

/// `GET /targets/{id}/autoConfirm`.
pub(super) fn get(server: &mut Server, call: &Call<'_>, cid: &str) -> Response {
    let Some(target) = server.targets.get(cid) else {
        return wire::no_entity("Target", cid);
    };
    let enc = encode(cid);
    let body: Value = match &target.auto_confirm {
        Some(a) => {
            let mut v = json!({ "active": true });
            if let Some(i) = &a.initiator {
                v["initiator"] = json!(i);
            }
            if let Some(r) = &a.remark {
                v["remark"] = json!(r);
            }
            v["activatedAt"] = json!(a.at.as_millis());
            v["_links"] = json!({
                "deactivate": call.link(format_args!("/targets/{enc}/autoConfirm/deactivate")),
            });
            v
        }
        None => json!({
            "active": false,
            "_links": { "activate": call.link(format_args!("/targets/{enc}/autoConfirm/activate")) },
        }),
    };
    super::json(200, &body)
}

/// `POST /targets/{id}/autoConfirm/activate`: 204; 409 when already active.
pub(super) fn activate(server: &mut Server, call: &Call<'_>, cid: &str) -> Response {
    let update: Update = if call.req.body.is_empty() {
        Update::default()
    } else {
        or_answer!(call.body())
    };
    // `getNullIfEmpty`: blank values are not stored.
    let keep = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let auto = AutoConfirm {
        initiator: keep(update.initiator),
        remark: keep(update.remark),
        by: server.mgmt.credentials.user.clone(),
        at: call.now,
    };
    let Some(target) = server.targets.get_mut(cid) else {
        return wire::no_entity("Target", cid);
    };
    let mut ev = Emitter::new(cid, call.now, &mut server.events);
    match confirmation::activate_auto(target, &mut ev, auto) {
        Ok(()) => Response::status(204),
        Err(()) => {
            let (status, class, code, message) = confirmation::already_active(cid);
            wire::error(status, class, code, message)
        }
    }
}

/// `POST /targets/{id}/autoConfirm/deactivate`: 204.
pub(super) fn deactivate(server: &mut Server, cid: &str) -> Response {
    let Some(target) = server.targets.get_mut(cid) else {
        return wire::no_entity("Target", cid);
    };
    target.auto_confirm = None;
    Response::status(204)
}
