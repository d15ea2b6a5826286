//! What a device's DDI request is, read from the server's side: the kind of
//! resource it addresses, the action it names, the feedback it carries, and
//! the evidence line the report card shows. Pure functions over the
//! [`Request`] and [`Response`] the server core saw.

use fleetsim_core::message::{Method, Request, Response};
use fleetsim_core::protocol::ddi::sleep::parse_sleep;
use fleetsim_core::protocol::ddi::wire::{ActionFeedback, ControllerBase, Execution, Finished};
use fleetsim_core::protocol::ddi::{DdiEvent, Offer, ReqKind};
use fleetsim_fleet::report::conform::{Evidence, Exchange};

use crate::conform::excerpt;

/// A device request, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Call {
    /// `GET {controller}` (root poll).
    Root,
    /// `GET deploymentBase/{action}`.
    Deployment(u64),
    /// `POST deploymentBase/{action}/feedback`.
    Feedback(u64, Option<(Execution, Finished)>),
    /// `GET cancelAction/{action}`.
    Cancel(u64),
    /// `POST cancelAction/{action}/feedback`.
    CancelFeedback(u64, Option<(Execution, Finished)>),
    /// `GET confirmationBase[/{action}]`.
    Confirmation(Option<u64>),
    /// `POST confirmationBase/{action}/feedback`: confirmed (true) or denied.
    ConsentFeedback(u64, Option<bool>),
    /// `GET …/artifacts/{file}` with the first byte of its `Range`, if any.
    Artifact {
        /// First byte asked for (`Range: bytes=N-`).
        range_from: Option<u64>,
    },
    /// Anything else (configData, installedBase, `.MD5SUM`, …).
    Other,
}

impl Call {
    /// The request kind the oracle knows it by.
    pub(super) fn kind(&self) -> ReqKind {
        match self {
            Call::Root => ReqKind::Root,
            Call::Deployment(_) => ReqKind::Deployment,
            Call::Feedback(..) => ReqKind::Feedback,
            Call::Cancel(_) => ReqKind::Cancel,
            Call::CancelFeedback(..) => ReqKind::CancelFeedback,
            Call::Confirmation(_) => ReqKind::Confirmation,
            Call::ConsentFeedback(..) => ReqKind::ConfirmationFeedback,
            Call::Artifact { .. } => ReqKind::Download,
            Call::Other => ReqKind::ConfigData,
        }
    }
}

/// The path segments after `/{tenant}/controller/v1/{controller id}`.
fn tail(path: &str) -> Vec<&str> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.iter().position(|s| *s == "controller") {
        Some(i) if segs.get(i + 1) == Some(&"v1") => segs.get(i + 3..).unwrap_or(&[]).to_vec(),
        _ => Vec::new(),
    }
}

/// What `req` is.
pub(super) fn classify(req: &Request) -> Call {
    let t = tail(req.path());
    let num = |i: usize| t.get(i).and_then(|s| s.parse::<u64>().ok());
    let post = req.method == Method::Post;
    match (t.as_slice(), post) {
        ([], false) => Call::Root,
        (["deploymentBase", _], false) => num(1).map_or(Call::Other, Call::Deployment),
        (["deploymentBase", _, "feedback"], true) => match num(1) {
            Some(a) => Call::Feedback(a, feedback_of(req)),
            None => Call::Other,
        },
        (["cancelAction", _], false) => num(1).map_or(Call::Other, Call::Cancel),
        (["cancelAction", _, "feedback"], true) => match num(1) {
            Some(a) => Call::CancelFeedback(a, feedback_of(req)),
            None => Call::Other,
        },
        (["confirmationBase"], false) => Call::Confirmation(None),
        (["confirmationBase", _], false) => Call::Confirmation(num(1)),
        (["confirmationBase", _, "feedback"], true) => match num(1) {
            Some(a) => Call::ConsentFeedback(a, consent_of(req)),
            None => Call::Other,
        },
        ([.., "artifacts", file], false) if !file.ends_with(".MD5SUM") => Call::Artifact {
            range_from: req.headers.get("range").and_then(range_start),
        },
        _ => Call::Other,
    }
}

/// `N` of `bytes=N-…`.
fn range_start(v: &str) -> Option<u64> {
    let spec = v.trim().strip_prefix("bytes=")?;
    spec.split(['-', ',']).next()?.trim().parse().ok()
}

/// The status a deploymentBase or cancelAction feedback reports.
fn feedback_of(req: &Request) -> Option<(Execution, Finished)> {
    let f: ActionFeedback = serde_json::from_slice(req.body.as_bytes()).ok()?;
    Some((f.status.execution, f.status.result.finished))
}

/// `confirmed` (true) or `denied` (false) of a confirmation feedback.
fn consent_of(req: &Request) -> Option<bool> {
    let v: serde_json::Value = serde_json::from_slice(req.body.as_bytes()).ok()?;
    match v.get("confirmation")?.as_str()? {
        "confirmed" => Some(true),
        "denied" => Some(false),
        _ => None,
    }
}

/// The action id at the end of a link (`…/deploymentBase/7?c=…`).
fn action_of(href: &str) -> Option<u64> {
    let path = href.split('?').next()?;
    path.rsplit('/').next()?.parse().ok()
}

/// The oracle events the exchange shows, in the order the device met them;
/// `scheduled`: a root poll held to the last `sleep`.
pub(super) fn events(call: &Call, scheduled: bool, resp: &Response) -> Vec<DdiEvent> {
    let kind = call.kind();
    let mut out = vec![DdiEvent::Sent { kind, scheduled }];
    let status = resp.status;
    if !(200..300).contains(&status) {
        out.push(DdiEvent::Answered { kind, status });
    }
    match call {
        Call::Root if status == 200 => out.extend(root_seen(resp)),
        Call::Feedback(action, Some((execution, finished)))
        | Call::CancelFeedback(action, Some((execution, finished))) => {
            out.push(DdiEvent::FeedbackAnswered {
                action: *action,
                cancel: matches!(call, Call::CancelFeedback(..)),
                execution: *execution,
                finished: *finished,
                status,
            })
        }
        Call::Confirmation(Some(action)) if status == 200 => {
            out.push(DdiEvent::ConsentAsked { action: *action })
        }
        Call::ConsentFeedback(action, Some(confirmed)) => out.push(DdiEvent::ConsentGiven {
            action: *action,
            confirmed: *confirmed,
            status,
        }),
        _ => {}
    }
    out
}

/// The root answer as the device read it.
fn root_seen(resp: &Response) -> Option<DdiEvent> {
    let base: ControllerBase = serde_json::from_slice(resp.body.as_bytes()).ok()?;
    let l = &base.links;
    let id = |link: &Option<fleetsim_core::protocol::ddi::wire::Link>| {
        link.as_ref().and_then(|l| action_of(&l.href))
    };
    let offer = match (
        id(&l.deployment_base),
        id(&l.cancel_action),
        id(&l.confirmation_base),
    ) {
        (Some(a), _, _) => Offer::Deployment(a),
        (_, Some(a), _) => Offer::Cancel(a),
        (_, _, Some(a)) => Offer::Confirmation(a),
        _ => Offer::Nothing,
    };
    Some(DdiEvent::RootSeen {
        sleep: parse_sleep(&base.config.polling.sleep),
        offer,
        installed: id(&l.installed_base),
        config_data: l.config_data.is_some(),
    })
}

/// The exchange as evidence: request line, `Range`, the body's start; the
/// status, `Retry-After`/`Content-Range` and the answer's start.
pub(super) fn evidence(req: &Request, resp: &Response, note: Option<&str>) -> Evidence {
    let pick = |h: &fleetsim_core::message::Headers, names: &[&str]| {
        names
            .iter()
            .filter_map(|n| h.get(n).map(|v| (n.to_string(), v.to_string())))
            .collect::<Vec<_>>()
    };
    let body = |b: &[u8]| (!b.is_empty()).then(|| excerpt(b));
    let mut response_body = match resp.body.as_bytes() {
        b if b.is_empty() && !resp.body.is_empty() => Some(format!("<{} bytes>", resp.body.len())),
        b => body(b),
    };
    if let Some(n) = note {
        response_body = Some(format!("{} [{n}]", response_body.unwrap_or_default()));
    }
    Evidence::Exchange(Exchange {
        request: format!("{} {}", req.method, req.path_and_query()),
        request_headers: pick(&req.headers, &["range"]),
        request_body: body(req.body.as_bytes()),
        status: Some(resp.status),
        response_headers: pick(&resp.headers, &["retry-after", "content-range"]),
        response_body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetsim_core::message::Body;

    fn req(method: Method, path: &str, body: &str) -> Request {
        let mut r = Request::new(method, format!("http://h{path}"));
        r.body = Body::Bytes(body.as_bytes().to_vec().into());
        r
    }

    #[test]
    fn requests_are_classified_from_the_path_and_body() {
        let base = "/DEFAULT/controller/v1/dev-1";
        assert_eq!(classify(&req(Method::Get, base, "")), Call::Root);
        assert_eq!(
            classify(&req(
                Method::Get,
                &format!("{base}/deploymentBase/7?c=1"),
                ""
            )),
            Call::Deployment(7)
        );
        let fb = r#"{"status":{"execution":"closed","result":{"finished":"success"}}}"#;
        assert_eq!(
            classify(&req(
                Method::Post,
                &format!("{base}/deploymentBase/7/feedback"),
                fb
            )),
            Call::Feedback(7, Some((Execution::Closed, Finished::Success)))
        );
        assert_eq!(
            classify(&req(
                Method::Post,
                &format!("{base}/cancelAction/8/feedback"),
                "x"
            )),
            Call::CancelFeedback(8, None)
        );
        let consent = r#"{"confirmation":"denied"}"#;
        assert_eq!(
            classify(&req(
                Method::Post,
                &format!("{base}/confirmationBase/9/feedback"),
                consent
            )),
            Call::ConsentFeedback(9, Some(false))
        );
        let mut art = req(
            Method::Get,
            &format!("{base}/softwaremodules/3/artifacts/fw.bin"),
            "",
        );
        art.headers.insert("range", "bytes=100-");
        assert_eq!(
            classify(&art),
            Call::Artifact {
                range_from: Some(100)
            }
        );
        let md5 = req(
            Method::Get,
            &format!("{base}/softwaremodules/3/artifacts/fw.bin.MD5SUM"),
            "",
        );
        assert_eq!(classify(&md5), Call::Other);
    }
}
