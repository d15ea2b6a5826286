//! The CPG wire documents (`docs/guide/cpg.md`): the poll answer, the poll query
//! with its optional result report, and the URLs of the two endpoints.

use serde::{Deserialize, Serialize};

use crate::message::{percent_decode, percent_encode};

/// The answer to a poll or an online event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollAnswer {
    /// Seconds until the device should poll again.
    pub poll_interval: u64,
    /// The pending install, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<UpdateOffer>,
}

/// A pending install as the gateway hands it out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateOffer {
    /// Stable id of the install command for this device.
    pub command: String,
    /// Version the artifact installs.
    pub version: String,
    /// Artifact file name.
    pub name: String,
    /// Artifact size in bytes.
    pub size: u64,
    /// Artifact sha256, lowercase hex.
    pub sha256: String,
    /// Download URL; absent when `connect` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// "Connect for update": send the online event to get a URL.
    #[serde(default)]
    pub connect: bool,
}

/// The outcome of an install command, sent with the next poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The install command.
    pub command: String,
    /// Success or failure.
    pub ok: bool,
    /// Why it failed.
    pub detail: Option<String>,
}

/// A parsed poll query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollQuery {
    /// Installed version.
    pub fw: String,
    /// Install command the result is about.
    pub cmd: Option<String>,
    /// Its result: `ok` is `true`, `failed` is `false`.
    pub result: Option<bool>,
    /// Why it failed.
    pub detail: Option<String>,
    /// Bytes of the pending artifact downloaded so far.
    pub have: Option<u64>,
}

/// Parses the query string of a poll (without the `?`).
pub fn parse_poll_query(query: &str) -> Result<PollQuery, String> {
    let mut q = PollQuery::default();
    let mut fw = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(raw).ok_or_else(|| format!("`{key}`: bad percent-encoding"))?;
        match key {
            "fw" => fw = Some(value),
            "cmd" => q.cmd = Some(value),
            "result" => {
                q.result = Some(match value.as_str() {
                    "ok" => true,
                    "failed" => false,
                    other => return Err(format!("`result` must be ok or failed, not `{other}`")),
                })
            }
            "detail" => q.detail = Some(value),
            "have" => {
                let n = value
                    .parse()
                    .map_err(|_| format!("`have` must be a byte count, not `{value}`"))?;
                q.have = Some(n);
            }
            _ => {}
        }
    }
    q.fw = fw.ok_or("missing `fw` (the installed version)")?;
    if q.result.is_some() != q.cmd.is_some() {
        return Err("`cmd` and `result` go together".to_string());
    }
    Ok(q)
}

/// The poll URL of `device`, carrying `report` and download progress `have`.
pub fn poll_url(
    base: &str,
    device: &str,
    fw: &str,
    report: Option<&Report>,
    have: Option<u64>,
) -> String {
    let mut url = format!(
        "{base}/cpg/v1/devices/{}/poll?fw={}",
        percent_encode(device),
        percent_encode(fw)
    );
    if let Some(r) = report {
        url.push_str("&cmd=");
        url.push_str(&percent_encode(&r.command));
        url.push_str(if r.ok { "&result=ok" } else { "&result=failed" });
        if let Some(d) = &r.detail {
            url.push_str("&detail=");
            url.push_str(&percent_encode(d));
        }
    }
    if let Some(n) = have.filter(|n| *n > 0) {
        url.push_str(&format!("&have={n}"));
    }
    url
}

/// The online-event URL of `device`.
pub fn online_url(base: &str, device: &str) -> String {
    format!("{base}/cpg/v1/devices/{}/online", percent_encode(device))
}

/// The `expires` of a signed download URL, in seconds.
pub fn url_expires(url: &str) -> Option<u64> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .find_map(|p| p.strip_prefix("expires="))
        .and_then(|v| v.parse().ok())
}
