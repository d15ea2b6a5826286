//! Building DDI requests and reading the headers a client cares about.

use crate::message::Response;
use crate::protocol::ddi::wire::{
    ActionFeedback, ConfigData, Execution, FeedbackResult, FeedbackStatus, Finished,
};
use crate::time::Span;

/// Statuses a careful device retries: server trouble, quotas, conflicts.
pub(super) fn is_retriable(status: u16) -> bool {
    status >= 500 || status == 429 || status == 409 || status == 408
}

/// `Retry-After` in seconds (the HTTP-date form is not used by DDI servers).
pub(super) fn retry_after(resp: &Response) -> Option<Span> {
    let secs: u64 = resp.headers.get("retry-after")?.trim().parse().ok()?;
    Some(Span::secs(secs))
}

/// The numeric path segment after `marker` in a link, e.g. `8` in `…/deploymentBase/8?c=1`.
pub fn action_id_in(href: &str, marker: &str) -> Option<u64> {
    let path = crate::message::path_and_query(href);
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let mut segs = path.split('/');
    segs.by_ref().find(|s| *s == marker)?;
    segs.next()?.parse().ok()
}

pub(super) fn feedback(
    execution: Execution,
    finished: Finished,
    details: &str,
    progress: Option<(u32, u32)>,
) -> ActionFeedback {
    ActionFeedback {
        timestamp: None,
        status: FeedbackStatus {
            execution,
            result: FeedbackResult {
                finished,
                progress: progress
                    .map(|(cnt, of)| crate::protocol::ddi::wire::Progress { cnt, of: Some(of) }),
            },
            code: None,
            details: Some(vec![details.to_string()]),
        },
    }
}

pub(super) fn config_body(controller_id: &str) -> ConfigData {
    let mut data = std::collections::BTreeMap::new();
    data.insert("hwRevision".to_string(), Some("2".to_string()));
    data.insert("serial".to_string(), Some(controller_id.to_string()));
    data.insert("agent".to_string(), Some("fleetsim".to_string()));
    ConfigData {
        mode: Some(crate::protocol::ddi::wire::ConfigMode::Merge),
        data,
    }
}
