//! TargetToken authentication (ddi.md §2, `SecurityTokenAuthenticator`):
//! with the tenant's `authentication.targettoken.enabled`, a device may
//! authenticate with `Authorization: TargetToken <its securityToken>`; the
//! token of another target, an unknown one or the gateway key sent as a
//! TargetToken is refused. Targets and tokens are created through the
//! management adapter (hawkBit: `securityToken` on the target).

use super::super::{case_fn, Answer, Case, Ctx, Stop, Verdict};
use crate::management::Secret;
use fleetsim_core::message::{Method, Request};

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    vec![
        Case { id: "DDI-AUTH-003", core: false, run: case_fn!(target_token_200),
            clause: "ddi.md §2 (Authorization: TargetToken <securityToken>, authentication.targettoken.enabled)",
            title: "A poll with the target's own TargetToken (and no GatewayToken) is 200" },
        Case { id: "DDI-AUTH-004", core: false, run: case_fn!(foreign_token_401),
            clause: "ddi.md §2 (the token must equal the target's securityToken)",
            title: "A TargetToken of another target, an unknown TargetToken and the gateway key sent as TargetToken are 401" },
    ]
}

/// A security token for device `n` of this case (alphanumeric, as hawkBit
/// generates them, unique per run).
fn token_of(cx: &Ctx<'_>, n: usize) -> String {
    cx.device(n)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .chain("tok".chars())
        .collect()
}

/// Devices 1 and 2 created with their tokens: their controller ids.
async fn with_tokens(cx: &mut Ctx<'_>) -> Result<[String; 2], Stop> {
    let cids = [cx.device(1), cx.device(2)];
    let tokens = vec![
        Some(Secret::new(token_of(cx, 1))),
        Some(Secret::new(token_of(cx, 2))),
    ];
    cx.register_with_tokens(&cids, tokens).await?;
    Ok(cids)
}

/// A root poll of `cid` with exactly `authorization`.
async fn poll_as(cx: &mut Ctx<'_>, cid: &str, authorization: &str) -> Result<Answer, Stop> {
    let mut req = Request::new(Method::Get, format!("{}{}", cx.target(), cx.base(cid)));
    req.headers
        .insert("authorization", authorization.to_string());
    cx.send_raw(req, None).await
}

async fn target_token_200(cx: &mut Ctx<'_>) -> Verdict {
    let [one, _] = with_tokens(cx).await?;
    let auth = format!("TargetToken {}", token_of(cx, 1));
    let a = poll_as(cx, &one, &auth).await?;
    a.expect(200, "a poll with the target's own TargetToken")?;
    a.json().map(|_| ())
}

async fn foreign_token_401(cx: &mut Ctx<'_>) -> Verdict {
    let [one, _] = with_tokens(cx).await?;
    let other = format!("TargetToken {}", token_of(cx, 2));
    poll_as(cx, &one, &other)
        .await?
        .expect(401, "a poll with another target's TargetToken")?;
    let unknown = format!("TargetToken {}x", token_of(cx, 1));
    poll_as(cx, &one, &unknown)
        .await?
        .expect(401, "a poll with an unknown TargetToken")?;
    let Some(key) = cx.gateway_key() else {
        cx.note("no gateway token in use: the gateway key as TargetToken was not tried");
        return Ok(());
    };
    let as_target = format!("TargetToken {key}");
    poll_as(cx, &one, &as_target)
        .await?
        .expect(401, "a poll with the gateway key sent as TargetToken")
}
