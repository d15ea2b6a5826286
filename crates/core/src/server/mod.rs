//! The embedded reference DDI server: a pure, sans-IO state machine.
//!
//! [`Server`] models the device-facing half of an Eclipse hawkBit server
//! (DDI v1, `shared/reference/ddi.md`) faithfully enough to act as the
//! reference a device fleet is tested against, and — through [`Fault`]
//! windows — as a deliberately broken server that makes each oracle
//! invariant fire. It owns no socket and no clock: every call takes `now`,
//! requests come in as [`Request`] values and leave as [`Response`] values,
//! and what happened to actions is reported as [`ServerEvent`]s in the order
//! it happened. Nothing here iterates a hash map, so equal inputs give equal
//! outputs, byte for byte.
//!
//! Layout:
//! - `mod.rs` (this file): public API — configuration, specs, ids, statuses, events.
//! - `state.rs`: targets, actions and their status history; the action state machine.
//! - `distributions.rs`: distributions, software modules and the content catalog.
//! - `ddi.rs`: routing, authentication, content negotiation; root poll and `configData`.
//! - `call.rs`: one DDI request being answered, as the router hands it to the handlers.
//! - `deployment.rs`: `deploymentBase`, `installedBase`, `cancelAction` and both feedbacks.
//! - `assignment.rs`: what assignments do to their target — assigned set,
//!   `updateStatus`, superseding open actions, `PUT installedBase`.
//! - `artifacts.rs`: artifact lists and downloads (access, history, `.MD5SUM`).
//! - `ranges.rs`: serving one file: headers, preconditions, single and multipart ranges.
//! - `codec.rs`: media types (HAL-JSON, JSON, CBOR) and the one encode/decode path.
//! - `respond.rs`: document bodies, ETags, hawkBit error bodies.
//! - `fault.rs`: "broken server" modes, the time windows they are active in, and
//!   the fault flags of the OTAU and gateway cores active at one instant.
//! - `cdn.rs`, `constrained/`, `otau/`: the CDN, the constrained-device gateway, the OTAU core.
//!
//! Imports point one way: `ddi` → `deployment` → `artifacts` → `call`, `fault`,
//! `state`, `distributions`, `respond` → `codec`; `artifacts` → `ranges`;
//! `constrained` → `cdn` → `ranges`.
//! - `ids.rs`: the rule every id from the network obeys before it is stored.
//! - `mgmt/`: the hawkBit Management API v1 subset (`/rest/v1/...`): tenant
//!   configuration, targets, software modules with uploaded artifacts,
//!   distribution sets, assignments, actions and rollouts.
//!
//! - `confirmation.rs`: the confirmation flow (`confirmationBase`, auto-confirm).
//! - `tenancy.rs`: several tenants behind one origin ([`Tenants`], one `Server` each).
//! - `twin/`: the Ditto-style twin service of seed 002 (things, features,
//!   Ditto Protocol commands and events, HTTP API v2 subset, live-message inbox).
//!
//! Deliberate simplification (documented where it lives):
//! `Last-Modified` of a download is its software module's creation time
//! (hawkBit: the artifact's).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::artifact::Catalog;
use crate::message::{ContentId, Request, Response};
use crate::time::{Span, Time};

/// Unwraps a `Result<T, Response>`: the value, or the error answer returned
/// from the handler at once (the request-parsing prologue of every handler).
macro_rules! or_answer {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(answer) => return answer,
        }
    };
}

mod artifacts;
mod assignment;
mod call;
pub mod cdn;
mod codec;
mod confirmation;
pub mod constrained;
mod ddi;
mod deployment;
mod distributions;
mod fault;
mod glob;
pub(crate) use glob::glob;
pub mod ids;
mod messages;
mod mgmt;
pub mod otau;
mod polling;
mod ranges;
mod respond;
pub mod schedule;
pub use polling::MIN_POLL as MIN_POLLING_TIME;
pub use schedule::MaintenanceSchedule;
mod state;
pub mod tenancy;
pub mod twin;
pub use tenancy::Tenants;

#[cfg(test)]
mod test_support;

pub use fault::{Fault, FaultWindow};
pub use mgmt::MgmtCredentials;
pub use state::IndexGroup;

use distributions::Repo;
use state::Targets;

/// Tenant-wide settings of the embedded server (hawkBit tenant configuration + quotas).
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    /// Tenant name in every DDI path (`/{tenant}/controller/v1/...`); others get 401.
    pub tenant: String,
    /// `Some(key)`: gateway-token auth is on; `Authorization: GatewayToken <key>`
    /// may act as any controller, and an unknown controller polling the root
    /// is registered (plug and play). `Some("")` is on without a valid key:
    /// no gateway token is accepted (as hawkBit with an empty key).
    pub gateway_token: Option<String>,
    /// `Authorization: TargetToken <t>` is accepted when `t` equals the target's token.
    pub target_token_auth: bool,
    /// `config.polling.sleep` of the root resource (hawkBit `pollingTime`).
    pub polling_sleep: Span,
    /// Jitter `0.0..=1.0`, the `~NN%` of hawkBit's polling time: each answer's
    /// sleep is scaled by a factor in `[1 - j, 1 + j]` drawn from a stream keyed
    /// by (target index, poll count), then clamped to `[30 s, 23:59:59]`.
    pub polling_jitter: f64,
    /// Status entries per action, server-created ones included (hawkBit `Dos`).
    pub max_status_entries_per_action: u32,
    /// Messages per status entry (details split at 512 chars + the code message).
    pub max_messages_per_status: u32,
    /// Controller attributes per target (`configData`).
    pub max_attributes: u32,
    /// hawkBit `repository.actions.autoclose.enabled`: a new assignment closes
    /// the open actions it makes obsolete (CANCELED, the device is not told)
    /// instead of canceling them through the device.
    pub autoclose: bool,
    /// hawkBit `user.confirmation.flow.enabled`: new actions wait for the
    /// device's consent (`WAIT_FOR_CONFIRMATION`, ddi.md §1.8).
    pub confirmation_flow: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            tenant: "DEFAULT".to_string(),
            gateway_token: None,
            target_token_auth: false,
            polling_sleep: Span::minutes(5),
            polling_jitter: 0.0,
            max_status_entries_per_action: 1000,
            max_messages_per_status: 50,
            max_attributes: 100,
            autoclose: false,
            confirmation_flow: false,
        }
    }
}

/// How an assignment is to be carried out (hawkBit `ActionType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionType {
    /// `download: attempt`, `update: attempt`.
    Soft,
    /// `download: forced`, `update: forced`.
    Forced,
    /// Soft until `force_at`, forced from then on (the root's `c` changes).
    TimeForced {
        /// When the action becomes forced.
        force_at: Time,
    },
    /// `download: forced`, `update: skip`; closed by `downloaded` feedback.
    DownloadOnly,
}

/// One file of a software module; its bytes are synthetic content `content`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactSpec {
    /// File name, as advertised and as used in the download URL.
    pub filename: String,
    /// Which synthetic content the file holds.
    pub content: ContentId,
    /// Size in bytes.
    pub size: u64,
}

/// A software module (a DDI `chunk`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleSpec {
    /// Software module type key (`os`, `application`, ...).
    pub part: String,
    /// Module name.
    pub name: String,
    /// Module version.
    pub version: String,
    /// Files of the module.
    pub artifacts: Vec<ArtifactSpec>,
}

/// A distribution set: what an assignment installs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistributionSpec {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Software modules, in order.
    pub modules: Vec<ModuleSpec>,
}

/// Id of a distribution set, counted from 1 in the order they were added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DistributionId(pub u64);

/// Id of an action, counted from 1 across all targets in assignment order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActionId(pub u64);

impl fmt::Display for DistributionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for ActionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// hawkBit's `Action.Status`, used both for the action and for its history entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionStatus {
    /// Closed successfully.
    Finished,
    /// Closed with failure.
    Error,
    /// History only: the device rejected something, or confirmed a cancel on the wrong resource.
    Warning,
    /// Assigned / in progress.
    Running,
    /// Cancel completed.
    Canceled,
    /// Cancel requested, waiting for the device.
    Canceling,
    /// The device fetched the action.
    Retrieved,
    /// History only: download started.
    Download,
    /// Waiting for a rollout group (not produced by this server).
    Scheduled,
    /// History only: the device rejected a cancel.
    CancelRejected,
    /// Download-only action completed.
    Downloaded,
    /// Waiting for the device's confirmation (the confirmation flow, ddi.md §1.8).
    WaitForConfirmation,
}

impl ActionStatus {
    /// The Java enum name, e.g. `FINISHED`, as shown in `actionHistory.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Finished => "FINISHED",
            ActionStatus::Error => "ERROR",
            ActionStatus::Warning => "WARNING",
            ActionStatus::Running => "RUNNING",
            ActionStatus::Canceled => "CANCELED",
            ActionStatus::Canceling => "CANCELING",
            ActionStatus::Retrieved => "RETRIEVED",
            ActionStatus::Download => "DOWNLOAD",
            ActionStatus::Scheduled => "SCHEDULED",
            ActionStatus::CancelRejected => "CANCEL_REJECTED",
            ActionStatus::Downloaded => "DOWNLOADED",
            ActionStatus::WaitForConfirmation => "WAIT_FOR_CONFIRMATION",
        }
    }

    /// True for the statuses that close an action: FINISHED, ERROR, CANCELED, DOWNLOADED.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ActionStatus::Finished
                | ActionStatus::Error
                | ActionStatus::Canceled
                | ActionStatus::Downloaded
        )
    }

    /// True for CANCELING and CANCELED (the root then links `cancelAction`).
    pub fn is_cancel(self) -> bool {
        matches!(self, ActionStatus::Canceling | ActionStatus::Canceled)
    }
}

impl fmt::Display for ActionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An observation for the oracle, emitted by [`Server::handle`], [`Server::assign`]
/// and [`Server::cancel`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerEvent {
    /// `Action.status` changed (history-only entries such as WARNING do not
    /// produce events). `from` is `None` when the action was created.
    ActionStatusChanged {
        /// Target of the action.
        controller_id: String,
        /// The action.
        action: ActionId,
        /// Status before, `None` for a new action.
        from: Option<ActionStatus>,
        /// Status after.
        to: ActionStatus,
        /// When.
        at: Time,
    },
}

/// One entry of an action's status history, as [`Server::action_history`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusRecord {
    /// Status of the entry (history statuses such as WARNING included).
    pub status: ActionStatus,
    /// When the server stored it.
    pub at: Time,
    /// Its messages, server messages (`Update Server: ...`) included.
    pub messages: Vec<String>,
    /// The `status.code` the device sent with it, if any.
    pub code: Option<i32>,
}

/// Actions a target can have over a run; action ids are `index * this + n`.
pub const ACTIONS_PER_TARGET: u64 = 1000;

/// The embedded DDI server. See the module documentation.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    repo: Repo,
    targets: Targets,
    faults: Vec<FaultWindow>,
    events: Vec<ServerEvent>,
    mgmt: mgmt::Mgmt,
}

impl Server {
    /// A server with no targets, no distributions and no faults.
    pub fn new(config: ServerConfig) -> Server {
        Server {
            config,
            repo: Repo::default(),
            targets: Targets::default(),
            faults: Vec::new(),
            events: Vec::new(),
            mgmt: mgmt::Mgmt::default(),
        }
    }

    /// Replaces the Management API's Basic-auth credentials (default `admin`/`admin`).
    pub fn set_mgmt_credentials(&mut self, credentials: MgmtCredentials) {
        self.mgmt.credentials = credentials;
    }

    /// Scenario numbering for targets registered by controller id (plug and
    /// play, Management API): `<prefix><number:05>` gets index `number`,
    /// other ids fresh indices above every group's numbers.
    pub fn set_index_plan(&mut self, plan: Vec<IndexGroup>) {
        self.targets.set_plan(plan);
    }

    /// Controller ids created through the Management API since the last call,
    /// in creation order (`fleetsim serve` hands them the scenario's campaigns).
    pub fn take_mgmt_created(&mut self) -> Vec<String> {
        std::mem::take(&mut self.mgmt.created)
    }

    /// The server's configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Contents registered by [`Server::add_distribution`], with their real hashes.
    pub fn catalog(&self) -> &Catalog {
        &self.repo.catalog
    }

    /// Adds a distribution set. Every artifact's content is registered in the
    /// catalog (hashed once); software modules get ids from a global counter.
    pub fn add_distribution(&mut self, spec: DistributionSpec) -> DistributionId {
        self.repo.add_distribution(spec)
    }

    /// Creates (or updates the index and token of) a target. `index` is the
    /// device's number in the fleet; it keys the target's jitter stream.
    pub fn register_target(
        &mut self,
        controller_id: &str,
        index: u64,
        security_token: Option<String>,
    ) {
        self.targets.register(controller_id, index, security_token);
    }

    /// Assigns `dist` to a target; `None` if the target or the distribution is
    /// unknown. Open actions not already being canceled turn CANCELING
    /// (superseded, ddi.md §3), unless their set is a migration step; with
    /// [`ServerConfig::autoclose`] they are closed instead. `weight` defaults to 1000.
    pub fn assign(
        &mut self,
        now: Time,
        dist: DistributionId,
        controller_id: &str,
        kind: ActionType,
        weight: Option<u32>,
        window: Option<MaintenanceSchedule>,
    ) -> Option<ActionId> {
        self.assign_with(now, dist, controller_id, (kind, weight, window), None)
    }

    /// [`Server::assign`] with hawkBit's `confirmationRequired` (`None`: the
    /// tenant's confirmation flow setting, as `MgmtDistributionSetResource`).
    /// The action waits for the device's confirmation iff the flow is on,
    /// confirmation is required and the target has no auto-confirmation.
    pub fn assign_with(
        &mut self,
        now: Time,
        dist: DistributionId,
        controller_id: &str,
        (kind, weight, window): (ActionType, Option<u32>, Option<MaintenanceSchedule>),
        confirmation_required: Option<bool>,
    ) -> Option<ActionId> {
        self.repo.distribution(dist)?;
        let flow = self.config.confirmation_flow;
        let required = confirmation_required.unwrap_or(flow);
        let user = self.mgmt.credentials.user.clone();
        let cap = self.config.max_status_entries_per_action;
        let target = self.targets.get_mut(controller_id)?;
        let id = target.next_action_id()?;
        let mut ev = state::Emitter::new(controller_id, now, &mut self.events);
        target.supersede(&mut ev, cap, &self.repo, self.config.autoclose);
        let start = confirmation::start(flow, required, target, &user);
        let action = (id, dist, kind, weight.unwrap_or(1000), window);
        target.create_action_as(&mut ev, action, start);
        target.assigned_to(dist);
        Some(id)
    }

    /// Management-side cancel of an active action: it turns CANCELING, or
    /// with `force` CANCELED and inactive. False if the target or action is
    /// unknown, the action is inactive, or (without `force`) already CANCELING.
    pub fn cancel(
        &mut self,
        now: Time,
        controller_id: &str,
        action: ActionId,
        force: bool,
    ) -> bool {
        let cap = self.config.max_status_entries_per_action;
        let Some(target) = self.targets.get_mut(controller_id) else {
            return false;
        };
        let mut ev = state::Emitter::new(controller_id, now, &mut self.events);
        let done = target.cancel(&mut ev, action, force, cap);
        if done && force {
            target.cancellation_done(action);
        }
        done
    }

    /// The faults active at `now` that apply to the OTAU core: the status
    /// every request is answered with, if any, and the protocol bugs.
    pub fn otau_faults_at(&self, now: Time) -> (Option<u16>, otau::OtauFaults) {
        let active = fault::Active::at(&self.faults, now);
        (active.respond, active.otau)
    }

    /// The `respond` status and sidekick/CDN faults active at `now`.
    pub fn sidekick_faults_at(&self, now: Time) -> (Option<u16>, constrained::GatewayFaults) {
        let active = fault::Active::at(&self.faults, now);
        (active.respond, active.sidekick)
    }

    /// The twin service's broken modes active at `now` (for
    /// [`twin::TwinService::set_faults`]).
    pub fn twin_faults_at(&self, now: Time) -> twin::TwinFaults {
        fault::Active::at(&self.faults, now).twin
    }

    /// Replaces the fault windows.
    pub fn set_faults(&mut self, faults: Vec<FaultWindow>) {
        self.faults = faults;
    }

    /// Answers one request: DDI (the whole device-facing HTTP surface), or
    /// the Management API for paths under `/rest/v1/`. Fault windows apply to
    /// DDI only. Running rollouts are evaluated before a Management request and
    /// after a DDI one (throttled; see `mgmt/rollouts.rs`).
    pub fn handle(&mut self, now: Time, req: &Request) -> Response {
        if mgmt::is_mgmt_path(req.path()) {
            mgmt::advance(self, now, true);
            return mgmt::handle(self, now, req);
        }
        let resp = self.handle_ddi(now, req);
        // After the request, so a feedback that completes a group is seen at once.
        mgmt::advance(self, now, false);
        resp
    }

    fn handle_ddi(&mut self, now: Time, req: &Request) -> Response {
        let faults = fault::Active::at(&self.faults, now);
        if let Some(status) = faults.respond {
            return fault::respond(status);
        }
        let mut resp = ddi::dispatch(self, now, req, &faults);
        if faults.garbage_json
            && resp.status == 200
            && resp
                .headers
                .get("content-type")
                .is_some_and(|t| t.contains("json"))
        {
            let half = resp.body.len() / 2;
            resp.body = resp.body.truncated(half);
        }
        resp
    }

    /// Moves the events produced so far into `out`, oldest first.
    pub fn drain_events(&mut self, out: &mut Vec<ServerEvent>) {
        out.append(&mut self.events);
    }

    /// Current `Action.status` of `action` on `controller_id`.
    pub fn action_status(&self, controller_id: &str, action: ActionId) -> Option<ActionStatus> {
        Some(self.targets.get(controller_id)?.action(action)?.status)
    }

    /// True while the action is active (not yet closed or canceled).
    pub fn action_active(&self, controller_id: &str, action: ActionId) -> Option<bool> {
        Some(self.targets.get(controller_id)?.action(action)?.active)
    }

    /// The status history of an action, oldest first.
    pub fn action_history(
        &self,
        controller_id: &str,
        action: ActionId,
    ) -> Option<Vec<StatusRecord>> {
        let a = self.targets.get(controller_id)?.action(action)?;
        let records = a.history.iter().map(|e| StatusRecord {
            status: e.status,
            at: e.at,
            messages: e.messages.iter().map(|m| m.to_string()).collect(),
            code: e.code,
        });
        Some(records.collect())
    }

    /// Controller attributes reported through `configData`, in key order.
    pub fn attributes(&self, controller_id: &str) -> Option<Vec<(String, String)>> {
        let t = self.targets.get(controller_id)?;
        Some(
            t.attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// Number of registered targets (including plug-and-play ones).
    pub fn target_count(&self) -> usize {
        self.targets.len()
    }

    /// Frees the spare room of the target list (call after registering a
    /// fleet: the list grew by doubling).
    pub fn shrink_targets(&mut self) {
        self.targets.shrink_to_fit();
    }
}

/// True for a Management API request (path under `/rest/v1/`).
pub fn is_mgmt_request(req: &Request) -> bool {
    mgmt::is_mgmt_path(req.path())
}

/// The controller id a DDI request addresses (`/{tenant}/controller/v1/{id}/...`,
/// percent-decoded), or `None` for any other path. A root poll that raises
/// [`Server::target_count`] has registered exactly this id (plug and play);
/// `fleetsim serve` uses that to hand late-registering devices their campaigns.
pub fn request_controller_id(req: &Request) -> Option<String> {
    ddi::controller_id(req)
}
