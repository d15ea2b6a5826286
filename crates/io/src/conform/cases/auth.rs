//! Authentication: anonymous requests and wrong gateway tokens.

use super::super::{case_fn, ensure, Case, Ctx, Stop, Verdict};
use fleetsim_core::message::{Method, Request};

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "DDI-AUTH-001",
            core: true,
            run: case_fn!(anonymous_401),
            clause: "ddi.md §2 (anonymous access removed, PRs #2285/#2291; 401 with an empty body)",
            title: "A poll without Authorization is 401 with an empty body",
        },
        Case {
            id: "DDI-AUTH-002",
            core: false,
            run: case_fn!(wrong_gateway_token_401),
            clause: "ddi.md §2 (GatewayTokenAuthenticator)",
            title: "A poll with a wrong GatewayToken is 401",
        },
    ]
}

/// A root poll of device 1 with `authorization` (or none), as sent.
async fn poll_with(
    cx: &mut Ctx<'_>,
    authorization: Option<&str>,
) -> Result<super::super::Answer, Stop> {
    let cid = cx.device(1);
    let mut req = Request::new(Method::Get, format!("{}{}", cx.target(), cx.base(&cid)));
    if let Some(a) = authorization {
        req.headers.insert("authorization", a.to_string());
    }
    cx.send_raw(req, None).await
}

async fn anonymous_401(cx: &mut Ctx<'_>) -> Verdict {
    let a = poll_with(cx, None).await?;
    a.expect(401, "a poll without Authorization")?;
    ensure(a.body.is_empty(), || "the 401 has a body".into())
}

async fn wrong_gateway_token_401(cx: &mut Ctx<'_>) -> Verdict {
    if !cx.authenticates() {
        return Err(Stop::Skip(
            "the devices use no gateway token (--gateway-token), so a wrong one proves nothing"
                .into(),
        ));
    }
    let a = poll_with(cx, Some("GatewayToken fleetsim-conform-wrong-token")).await?;
    a.expect(401, "a poll with a wrong GatewayToken")
}
