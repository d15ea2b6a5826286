//! Management adapters: how a real-time run makes its scenario's campaigns
//! happen on a server that fleetsim did not write.
//!
//! Against the embedded server (`fleetsim serve SCENARIO`) campaigns run
//! inside the server. Against any other server somebody has to upload the
//! artifact, create the software and assign or roll it out at the scenario's
//! time, and cancel it at the scenario's cancel time. A [`Manager`] does that
//! through the server's management API:
//!
//! - [`hawkbit`]: the hawkBit Management API v1 (`/rest/v1/...`, ddi.md §5),
//!   which `fleetsim serve` also speaks;
//! - [`goosebit`]: goosebit's REST API (`/api/v1/...`), artifacts wrapped in
//!   a SWUpdate `.swu` as goosebit requires.
//!
//! With `campaigns: external` in the scenario no manager is used: fleetsim
//! only plays the devices and the operator runs the rollouts.
//!
//! The adapters are IO code (async, over [`client::MgmtClient`]); they hold
//! the ids the server handed out, keyed by the scenario's campaign index.
//! Secrets (passwords, tokens) live in [`Secret`], whose `Debug` and
//! `Display` never show them, and error texts never include them.

pub mod client;
pub mod goosebit;
pub mod hawkbit;

pub mod swu;

use std::fmt;

use bytes::Bytes;

use fleetsim_core::time::Span;

pub use client::MgmtClient;
pub use fleetsim_fleet::management_log::{CampaignLog, ManagementLog};

/// A password or token. Printing it prints `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Which management API the server under test speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerApi {
    /// hawkBit Management API v1 (also `fleetsim serve`).
    Hawkbit,
    /// goosebit's `/api/v1`.
    Goosebit,
}

impl ServerApi {
    /// Lower-case name, as reports show it.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerApi::Hawkbit => "hawkbit",
            ServerApi::Goosebit => "goosebit",
        }
    }
}

/// How to reach and log in to a management API.
#[derive(Clone, Debug)]
pub struct ManagerConfig {
    /// Which API.
    pub api: ServerApi,
    /// Base URL of the management API (`scheme://host[:port]`).
    pub url: String,
    /// User name (hawkBit default `admin`; goosebit: the admin created on a fresh instance).
    pub user: String,
    /// Password.
    pub password: Secret,
    /// Extra trusted roots (PEM path and contents) for HTTPS.
    pub ca_pem: Option<(String, Vec<u8>)>,
}

/// What the fleet looks like to the server, for [`Manager::prepare`].
#[derive(Clone, Debug)]
pub struct FleetInfo {
    /// DDI tenant.
    pub tenant: String,
    /// Controller ids of every device, in device order.
    pub controller_ids: Vec<String>,
    /// Polling interval the scenario asks of the server.
    pub polling: Span,
    /// Gateway token the devices use, if any.
    pub gateway_token: Option<Secret>,
    /// Per device, in device order: the target token it authenticates
    /// with (`fleet[].auth: target_token`), which its target is created with.
    pub target_tokens: Vec<Option<Secret>>,
}

impl FleetInfo {
    /// True when some device authenticates with its own target token.
    pub fn uses_target_tokens(&self) -> bool {
        self.target_tokens.iter().any(Option::is_some)
    }
}

/// One file of a campaign, with its bytes.
#[derive(Clone, Debug)]
pub struct Upload {
    /// File name.
    pub filename: String,
    /// Contents.
    pub bytes: Bytes,
}

/// How the server is to carry out an assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderKind {
    /// Device may decide.
    Soft,
    /// Install now.
    Forced,
    /// Soft until `force_after` after the assignment, then forced.
    TimeForced {
        /// Time from the assignment until it is forced.
        force_after: Span,
    },
    /// Download, do not install.
    DownloadOnly,
}

/// An order's maintenance window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderWindow {
    /// One window: starts this long after the assignment, lasts this long.
    After(Span, Span),
    /// hawkBit's recurring schedule, passed on as written (Quartz cron,
    /// `HH:mm:ss`, offset): it then runs on the server's own clock.
    Cron {
        /// Quartz cron expression.
        schedule: String,
        /// Each window's length.
        duration: String,
        /// Offset of the cron's times.
        timezone: String,
    },
}

/// A campaign to create on the server: what a scenario's `campaigns:` entry says.
#[derive(Clone, Debug)]
pub struct Order {
    /// Index of the campaign in the scenario (the key for [`Manager::cancel`]).
    pub index: usize,
    /// Campaign name.
    pub name: String,
    /// Software version.
    pub version: String,
    /// Files to upload.
    pub artifacts: Vec<Upload>,
    /// Action type.
    pub kind: OrderKind,
    /// hawkBit action weight.
    pub weight: Option<u32>,
    /// Maintenance window.
    pub window: Option<OrderWindow>,
    /// Controller ids the campaign selects.
    pub targets: Vec<String>,
    /// hawkBit's `confirmationRequired` of the assignment (`None`: the
    /// tenant's confirmation flow setting decides).
    pub confirmation_required: Option<bool>,
}

pub use fleetsim_core::oracle::Recorded;
use fleetsim_core::oracle::{CampaignView, Installed};

/// Why a management operation failed. Never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// No connection to the management API.
    #[error("management API {url} is unreachable ({what})")]
    Unreachable {
        /// URL tried.
        url: String,
        /// What happened.
        what: String,
    },
    /// The credentials were refused.
    #[error("management API refused the credentials of user `{user}` ({status}); check --mgmt-user and --mgmt-password")]
    Refused {
        /// User name.
        user: String,
        /// Status received.
        status: u16,
    },
    /// The server answered an operation with an unexpected status.
    #[error("{op}: management API answered {status}: {body}")]
    Status {
        /// What was being done, e.g. `POST /rest/v1/targets`.
        op: String,
        /// Status received.
        status: u16,
        /// The start of the answer (secrets removed).
        body: String,
    },
    /// The answer could not be understood.
    #[error("{op}: unexpected answer: {what}")]
    BadAnswer {
        /// What was being done.
        op: String,
        /// What was wrong.
        what: String,
    },
    /// The scenario asks for something this server cannot do.
    #[error("{0}")]
    Unsupported(String),
    /// HTTP client setup failed (e.g. the CA file).
    #[error(transparent)]
    Setup(#[from] crate::http_client::HttpSetupError),
}

/// A connected management adapter.
pub enum Manager {
    /// hawkBit Management API v1.
    Hawkbit(hawkbit::Hawkbit),
    /// goosebit's REST API.
    Goosebit(goosebit::Goosebit),
}

impl Manager {
    /// Connects and logs in (checking the credentials once).
    pub async fn connect(cfg: &ManagerConfig) -> Result<Manager, AdapterError> {
        let client = MgmtClient::new(cfg)?;
        Ok(match cfg.api {
            ServerApi::Hawkbit => Manager::Hawkbit(hawkbit::Hawkbit::connect(client).await?),
            ServerApi::Goosebit => Manager::Goosebit(goosebit::Goosebit::connect(client).await?),
        })
    }

    /// Before the fleet starts: tenant settings and targets, as far as the
    /// server has them.
    pub async fn prepare(&mut self, fleet: &FleetInfo) -> Result<(), AdapterError> {
        match self {
            Manager::Hawkbit(m) => m.prepare(fleet).await,
            Manager::Goosebit(m) => m.prepare(fleet).await,
        }
    }

    /// At the campaign's time: upload, create, assign or roll out.
    pub async fn start(&mut self, order: &Order) -> Result<(), AdapterError> {
        match self {
            Manager::Hawkbit(m) => m.start(order).await,
            Manager::Goosebit(m) => m.start(order).await,
        }
    }

    /// Turns the tenant's confirmation flow (hawkBit
    /// `user.confirmation.flow.enabled`, ddi.md §1.8) on or off.
    pub async fn confirmation_flow(&mut self, enabled: bool) -> Result<(), AdapterError> {
        match self {
            Manager::Hawkbit(m) => m.confirmation_flow(enabled).await,
            Manager::Goosebit(_) => Err(AdapterError::Unsupported(
                "goosebit has no confirmation flow".into(),
            )),
        }
    }

    /// Called every few seconds while the run lasts: assigns started
    /// campaigns to selected devices that became known to the server since.
    pub async fn tick(&mut self) -> Result<(), AdapterError> {
        match self {
            Manager::Hawkbit(m) => m.tick().await,
            Manager::Goosebit(m) => m.tick().await,
        }
    }

    /// At the campaign's cancel time: cancels what is still open.
    pub async fn cancel(&mut self, index: usize) -> Result<(), AdapterError> {
        match self {
            Manager::Hawkbit(m) => m.cancel(index).await,
            Manager::Goosebit(m) => m.cancel(index).await,
        }
    }

    /// After the run: what the server recorded for each of `controller_ids`
    /// for campaign `index`, in the same order.
    pub async fn recorded(
        &mut self,
        index: usize,
        controller_ids: &[String],
    ) -> Result<Vec<CampaignView>, AdapterError> {
        match self {
            Manager::Hawkbit(m) => m.recorded(index, controller_ids).await,
            Manager::Goosebit(m) => m.recorded(index, controller_ids).await,
        }
    }

    /// After the run: each of `controller_ids`' installed distribution set,
    /// as the campaign that created it ([`Installed::Unknown`] where the
    /// server's API does not say: goosebit).
    pub async fn installed(
        &mut self,
        controller_ids: &[String],
    ) -> Result<Vec<Installed>, AdapterError> {
        match self {
            Manager::Hawkbit(m) => m.installed(controller_ids).await,
            Manager::Goosebit(_) => Ok(vec![Installed::Unknown; controller_ids.len()]),
        }
    }
}
