//! DDI v1 JSON bodies as serde types (reference: `shared/reference/ddi.md` §1).
//!
//! Field names, optionality and enum spellings follow hawkBit's
//! `hawkbit-ddi-api` model classes. Unknown fields are ignored on input, as
//! hawkBit's `@JsonIgnoreProperties(ignoreUnknown = true)` does; fields that
//! hawkBit omits when null are skipped on output so that a round trip through
//! these types reproduces hawkBit's documents byte for byte.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A HAL link: `{"href": "..."}`. Treated as opaque by clients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Absolute URL.
    pub href: String,
}

impl Link {
    /// A link to `href`.
    pub fn new(href: impl Into<String>) -> Link {
        Link { href: href.into() }
    }
}

/// `GET {base}` answer (ddi.md §1.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerBase {
    /// Polling configuration.
    pub config: Config,
    /// What the device should do next.
    #[serde(rename = "_links", default)]
    pub links: RootLinks,
}

/// `config` of the root resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Polling interval.
    pub polling: Polling,
}

/// `config.polling`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Polling {
    /// `HH:mm:ss` below 24 h, ISO-8601 (`PT36H`) from 24 h on (ddi.md §4).
    pub sleep: String,
}

/// `_links` of the root resource. At most one of the action links is present.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootLinks {
    /// Pending confirmation of an action.
    #[serde(rename = "confirmationBase", skip_serializing_if = "Option::is_none")]
    pub confirmation_base: Option<Link>,
    /// An action to cancel.
    #[serde(rename = "cancelAction", skip_serializing_if = "Option::is_none")]
    pub cancel_action: Option<Link>,
    /// An action to carry out.
    #[serde(rename = "deploymentBase", skip_serializing_if = "Option::is_none")]
    pub deployment_base: Option<Link>,
    /// The last finished action.
    #[serde(rename = "installedBase", skip_serializing_if = "Option::is_none")]
    pub installed_base: Option<Link>,
    /// The server asks for the device's attributes.
    #[serde(rename = "configData", skip_serializing_if = "Option::is_none")]
    pub config_data: Option<Link>,
}

/// Download or update handling type (`skip`, `attempt`, `forced`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HandlingType {
    /// Do not do it.
    Skip,
    /// Do it if the device agrees.
    Attempt,
    /// Do it now.
    Forced,
}

/// Maintenance window state of an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaintenanceWindow {
    /// Inside the window: the update may be installed.
    Available,
    /// Outside the window: download only.
    Unavailable,
}

/// `GET deploymentBase/{id}` / `installedBase/{id}` answer (ddi.md §1.3, §1.7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentBase {
    /// Action id, as a string.
    pub id: String,
    /// What to download and install.
    pub deployment: Deployment,
    /// Recent status history of the action, newest first.
    #[serde(rename = "actionHistory", skip_serializing_if = "Option::is_none")]
    pub action_history: Option<ActionHistory>,
}

/// The `deployment` object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Download handling.
    pub download: HandlingType,
    /// Update handling.
    pub update: HandlingType,
    /// Maintenance window state, only when the action has a schedule.
    #[serde(rename = "maintenanceWindow", skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<MaintenanceWindow>,
    /// Software modules to install.
    pub chunks: Vec<Chunk>,
}

/// One software module of a deployment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// Software module type key (`os`, `bApp`, ...).
    pub part: String,
    /// Module version.
    pub version: String,
    /// Module name.
    pub name: String,
    /// Present (true) only for encrypted modules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    /// Files of the module; may be empty.
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
    /// Target-visible metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Vec<Metadata>>,
}

/// A key/value metadata entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// One downloadable file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// File name.
    pub filename: String,
    /// Advertised digests.
    #[serde(default)]
    pub hashes: ArtifactHashes,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// `download`, `download-http`, `md5sum`, `md5sum-http`.
    #[serde(rename = "_links", default)]
    pub links: BTreeMap<String, Link>,
}

impl Artifact {
    /// The download URL a client should use: `download` (HTTPS/CDN) first, else `download-http`.
    pub fn download_href(&self) -> Option<&str> {
        self.links
            .get("download")
            .or_else(|| self.links.get("download-http"))
            .map(|l| l.href.as_str())
    }
}

/// Digests as advertised by the server; `sha256` is omitted by old servers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactHashes {
    /// SHA-1, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    /// MD5, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// SHA-256, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// `actionHistory` of a deployment answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionHistory {
    /// `Action.Status` name, e.g. `RUNNING`.
    pub status: String,
    /// Newest first.
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `GET cancelAction/{id}` answer (ddi.md §1.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelActionBase {
    /// Action id.
    pub id: String,
    /// The action to stop.
    #[serde(rename = "cancelAction")]
    pub cancel_action: CancelAction,
}

/// `cancelAction` object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelAction {
    /// Id of the action to stop (equals the outer id).
    #[serde(rename = "stopId")]
    pub stop_id: String,
}

/// Feedback body for deploymentBase and cancelAction (ddi.md §1.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionFeedback {
    /// Device time in ms since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    /// The status being reported.
    pub status: FeedbackStatus,
}

/// `status` of a feedback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackStatus {
    /// What the device is doing.
    pub execution: Execution,
    /// Outcome so far.
    pub result: FeedbackResult,
    /// Device status code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// Free-text details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<String>>,
}

/// `status.result` of a feedback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackResult {
    /// Final outcome.
    pub finished: Finished,
    /// Progress; accepted but not stored by hawkBit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

/// `status.result.progress`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Steps done.
    pub cnt: u32,
    /// Steps in all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub of: Option<u32>,
}

/// `status.execution` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Execution {
    /// The action is complete (see `finished`).
    Closed,
    /// Working on it.
    Proceeding,
    /// Confirms cancellation (on deploymentBase feedback: informational).
    Canceled,
    /// Scheduled for later.
    Scheduled,
    /// Refuses (a cancellation, or the update for now).
    Rejected,
    /// Continued after an interruption.
    Resumed,
    /// Download finished.
    Downloaded,
    /// Download started.
    Download,
}

impl Execution {
    /// Lower-case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Execution::Closed => "closed",
            Execution::Proceeding => "proceeding",
            Execution::Canceled => "canceled",
            Execution::Scheduled => "scheduled",
            Execution::Rejected => "rejected",
            Execution::Resumed => "resumed",
            Execution::Downloaded => "downloaded",
            Execution::Download => "download",
        }
    }
}

/// `status.result.finished` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Finished {
    /// Succeeded.
    Success,
    /// Failed.
    Failure,
    /// Not finished (treated like success on `closed`).
    None,
}

impl Finished {
    /// Lower-case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Finished::Success => "success",
            Finished::Failure => "failure",
            Finished::None => "none",
        }
    }
}

/// `PUT configData` body (ddi.md §1.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigData {
    /// `merge` (default), `replace` or `remove`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<ConfigMode>,
    /// Attributes; a null value in merge mode removes the key.
    pub data: BTreeMap<String, Option<String>>,
}

/// `configData.mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigMode {
    /// Add and overwrite.
    Merge,
    /// Replace all.
    Replace,
    /// Remove the given keys.
    Remove,
}

/// hawkBit's error body (`ExceptionInfo`, NON_EMPTY).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionInfo {
    /// Java exception class.
    #[serde(rename = "exceptionClass", skip_serializing_if = "Option::is_none")]
    pub exception_class: Option<String>,
    /// Stable error code, e.g. `hawkbit.server.error.quota.tooManyEntries`.
    #[serde(rename = "errorCode", skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Human message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Extra information.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<BTreeMap<String, serde_json::Value>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `json`, re-serialises it, and checks the result is the same JSON value.
    fn round_trip<T: serde::de::DeserializeOwned + Serialize>(json: &str) -> T {
        let parsed: T = serde_json::from_str(json).expect("parses");
        let again = serde_json::to_value(&parsed).expect("serialises");
        let original: serde_json::Value = serde_json::from_str(json).expect("valid json");
        assert_eq!(again, original, "round trip changed the document");
        parsed
    }

    #[test]
    fn root_example_round_trips() {
        let root: ControllerBase = round_trip(
            r#"{"config":{"polling":{"sleep":"00:05:00"}},
 "_links":{"deploymentBase":{"href":"http://h:8080/DEFAULT/controller/v1/dev1/deploymentBase/8?c=-2122565939"},
           "installedBase":{"href":"http://h:8080/DEFAULT/controller/v1/dev1/installedBase/5"},
           "configData":{"href":"http://h:8080/DEFAULT/controller/v1/dev1/configData"}}}"#,
        );
        assert_eq!(root.config.polling.sleep, "00:05:00");
        assert!(root.links.cancel_action.is_none());
    }

    #[test]
    fn deployment_example_round_trips() {
        let d: DeploymentBase = round_trip(
            r#"{"id":"8",
 "deployment":{"download":"forced","update":"forced","maintenanceWindow":"available",
   "chunks":[{"part":"os","version":"1.0.79","name":"one Firmware","encrypted":true,
     "artifacts":[{"filename":"binary.tgz",
        "hashes":{"sha1":"574c","md5":"a063","sha256":"4980"},"size":13,
        "_links":{"download-http":{"href":"http://h:8080/DEFAULT/controller/v1/dev1/softwaremodules/24/artifacts/binary.tgz"},
                  "md5sum-http":{"href":"http://h:8080/DEFAULT/controller/v1/dev1/softwaremodules/24/artifacts/binary.tgz.MD5SUM"}}}],
     "metadata":[{"key":"aMetadataKey","value":"v"}]}]},
 "actionHistory":{"status":"RUNNING","messages":["Reboot","Download done","Started download"]}}"#,
        );
        assert_eq!(
            d.deployment.maintenance_window,
            Some(MaintenanceWindow::Available)
        );
        assert_eq!(
            d.deployment.chunks[0].artifacts[0].download_href(),
            Some(
                "http://h:8080/DEFAULT/controller/v1/dev1/softwaremodules/24/artifacts/binary.tgz"
            )
        );
    }

    #[test]
    fn feedback_cancel_and_config_examples_round_trip() {
        let f: ActionFeedback = round_trip(
            r#"{"timestamp":1627997501890,
 "status":{"execution":"proceeding","result":{"finished":"none","progress":{"cnt":2,"of":5}},
           "code":200,"details":["Started download"]}}"#,
        );
        assert_eq!(f.status.execution, Execution::Proceeding);
        let c: CancelActionBase = round_trip(r#"{"id":"11","cancelAction":{"stopId":"11"}}"#);
        assert_eq!(c.cancel_action.stop_id, "11");
        let cfg: ConfigData =
            round_trip(r#"{"mode":"merge","data":{"hwRevision":"2","VIN":"JH4"}}"#);
        assert_eq!(cfg.mode, Some(ConfigMode::Merge));
        let _: ExceptionInfo = round_trip(
            r#"{"exceptionClass":"x","errorCode":"hawkbit.server.error.repo.entityNotFound","message":"m","info":{"a":1}}"#,
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let f: ActionFeedback = serde_json::from_str(
            r#"{"id":"3","time":"20140511T121314","status":{"execution":"closed","result":{"finished":"success"},"extra":1}}"#,
        )
        .expect("legacy fields ignored");
        assert_eq!(f.status.result.finished, Finished::Success);
        let root: ControllerBase = serde_json::from_str(
            r#"{"config":{"polling":{"sleep":"PT36H","x":1}},"_links":{"other":{"href":"u"}},"more":[]}"#,
        )
        .expect("unknown links ignored");
        assert_eq!(root.config.polling.sleep, "PT36H");
    }
}
