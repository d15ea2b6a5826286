//! The oracle: checks invariants online, O(1) work per observation.
//!
//! It is fed what devices observed ([`DdiEvent`]s, parsed once by the
//! clients) and, in virtual mode, what the embedded server did to its actions.
//! It keeps a few words of state per device and records every violation with
//! the invariant's ID, the device, the time and a message saying what was seen.
//! See [`InvariantId`] for the catalogue and the clause behind each ID.

mod consent;
mod ddi;
mod defer;
mod invariant;
pub mod otau;
mod recent;
mod record;
mod server_view;
pub mod twin;
pub mod url;

use std::collections::BTreeMap;

use serde::Serialize;

pub use invariant::InvariantId;
pub use server_view::{CampaignView, DeviceView, Installed, Recorded};

use ddi::{answer_problem, deployment_seen, feedback_answered, mark_closed, root_seen, root_sent};
use recent::Recent;

use crate::protocol::ddi::wire::{Execution, Finished, HandlingType};
use crate::protocol::ddi::{DdiEvent, Offer, Phase, ReqKind};
use crate::time::{Span, Time};

/// hawkBit's `minPollingTime` (ddi.md §4).
pub const MIN_POLLING: Span = Span::secs(30);
/// Slack on poll timing for clock and scheduling granularity.
const POLL_SLACK: Span = Span::secs(1);

/// One broken invariant.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant.
    pub id: &'static str,
    /// Device number in the fleet.
    pub device: u64,
    /// Controller id of the device.
    pub controller_id: String,
    /// When (ms since the start of the run).
    pub at_ms: u64,
    /// What was seen.
    pub message: String,
    /// The device's trace up to the violation (filled in after the run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub excerpt: Vec<String>,
}

/// What the next root answer must show after an accepted feedback (seed 001).
#[derive(Clone, Copy, Debug)]
enum Expectation {
    /// closed+success/none ⇒ FINISHED: installedBase links the action.
    Finished(u64),
    /// closed+failure ⇒ ERROR: installedBase does not link the action.
    Error(u64),
    /// informational ⇒ still active: offered as deploymentBase (or cancelAction).
    StillActive(u64),
}

/// Per-device oracle state: a few words.
#[derive(Default, Debug)]
struct DeviceState {
    offered: Recent,
    closed: Recent,
    /// Closed by the server while handling the device's request in flight;
    /// becomes `closed` once that request's outcome is known.
    closing: Option<u64>,
    download_only: Option<u64>,
    /// `update: skip` of an action with a maintenance window: download-only,
    /// or an update waiting for its window; `downloaded` may close it or not.
    window_skip: Option<u64>,
    /// The last deployment seen said `maintenanceWindow: unavailable`.
    window_closed: bool,
    last_scheduled_poll: Option<Time>,
    sleep: Option<Span>,
    excused: bool,
    expect: Option<Expectation>,
    defer: defer::Deferral,
    /// The action the device was asked to consent to and has not confirmed,
    /// with whether it denied it (ddi.md §1.8).
    unconfirmed: Option<(u64, bool)>,
}

/// Settings the checks need.
#[derive(Clone, Debug)]
pub struct OracleConfig {
    /// Polling jitter the server may apply (±fraction).
    pub polling_jitter: f64,
    /// `expires` of a download URL made at the run's time zero, in seconds
    /// (0 in virtual runs; the Unix time of the start in real-time runs).
    pub url_epoch_s: u64,
}

/// The online checker.
pub struct Oracle {
    config: OracleConfig,
    otau: otau::OtauOracle,
    url: url::UrlOracle,
    twin: twin::TwinOracle,
    devices: Vec<DeviceState>,
    counts: BTreeMap<InvariantId, u64>,
    recorded: Vec<Violation>,
    /// Accepted final reports, when the server's view is read back.
    ended: Option<server_view::EndedBook>,
}

impl Oracle {
    /// An oracle for `devices` device slots.
    pub fn new(config: OracleConfig, devices: usize) -> Oracle {
        Oracle {
            url: url::UrlOracle::new(config.url_epoch_s),
            config,
            otau: otau::OtauOracle::new(),
            twin: twin::TwinOracle::default(),
            devices: (0..devices).map(|_| DeviceState::default()).collect(),
            counts: BTreeMap::new(),
            recorded: Vec::new(),
            ended: None,
        }
    }

    /// Violation counts by invariant (only invariants that fired).
    pub fn counts(&self) -> &BTreeMap<InvariantId, u64> {
        &self.counts
    }

    /// Total violations.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Recorded violations: the first 200 by time, then device number (later
    /// ones are only counted).
    pub fn violations(&self) -> &[Violation] {
        &self.recorded
    }

    /// Mutable access, to attach trace excerpts after the run.
    pub fn violations_mut(&mut self) -> &mut Vec<Violation> {
        &mut self.recorded
    }

    fn fire(
        &mut self,
        id: InvariantId,
        device: u64,
        controller_id: &str,
        at: Time,
        message: String,
    ) {
        *self.counts.entry(id).or_insert(0) += 1;
        let at_ms = at.as_millis();
        record::keep(&mut self.recorded, at_ms, device, || Violation {
            id: id.as_str(),
            device,
            controller_id: controller_id.to_string(),
            at_ms,
            message,
            excerpt: Vec::new(),
        });
    }

    /// Adds what `other` found, the oracle of another part of the same fleet
    /// (a run on several threads): counts add, and the violations kept in
    /// full are the first of both, as one oracle over the whole fleet keeps.
    pub fn absorb(&mut self, other: Oracle) {
        for (id, n) in other.counts {
            *self.counts.entry(id).or_insert(0) += n;
        }
        record::absorb(&mut self.recorded, other.recorded);
    }

    /// What OTAU device `device` observed at `now` (see [`otau`]).
    pub fn observe_otau(
        &mut self,
        device: u64,
        controller_id: &str,
        now: Time,
        event: &crate::protocol::otau::OtauEvent,
    ) {
        if let Some((id, message)) = self.otau.check(device, now, event) {
            self.fire(id, device, controller_id, now, message);
        }
    }

    /// Records a URL-* finding of device `device` at `now`.
    fn fire_url(&mut self, device: u64, controller_id: &str, now: Time, f: Option<url::Finding>) {
        if let Some((id, message)) = f {
            self.fire(id, device, controller_id, now, message);
        }
    }

    /// An install command reached the twin of `cpg` device `device`.
    pub fn url_command(&mut self, device: u64, plan: url::UrlPlan) {
        self.url.command(device, plan);
    }

    /// What `cpg` device `device` observed at `now`; `url` is the URL of the
    /// request the event answers (downloads).
    pub fn observe_cpg(
        &mut self,
        device: u64,
        controller_id: &str,
        now: Time,
        event: &crate::protocol::constrained::ConstrainedEvent,
    ) {
        use crate::protocol::constrained::{ConstrainedEvent, ConstrainedReq};
        let finding = match event {
            ConstrainedEvent::Sent {
                kind: ConstrainedReq::Poll,
                ..
            } => {
                self.url.polled(device, now);
                None
            }
            ConstrainedEvent::Offered { url: Some(url), .. } => {
                self.url.handed_out(device, now, url)
            }
            ConstrainedEvent::Reported { ok, detail, .. } => {
                self.url.finished(device, *ok, detail.as_deref())
            }
            _ => None,
        };
        self.fire_url(device, controller_id, now, finding);
    }

    /// A download of `url` for device `device` (or by someone holding its
    /// leaked URL, `tampered` if they altered it) was answered `status`.
    pub fn url_download(
        &mut self,
        device: u64,
        controller_id: &str,
        now: Time,
        url: &str,
        status: u16,
        tampered: bool,
    ) {
        let f = self.url.downloaded(device, now, url, status, tampered);
        self.fire_url(device, controller_id, now, f);
    }

    /// The sidekick fired device `device`'s install command (`reissue`: again).
    pub fn url_fired(&mut self, device: u64, controller_id: &str, now: Time, reissue: bool) {
        let f = self.url.fired(device, reissue);
        self.fire_url(device, controller_id, now, f);
    }

    /// End-of-run URL-LIVE check; `controller_id` names device numbers.
    pub fn url_at_end(&mut self, end: Time, controller_id: impl Fn(u64) -> String) {
        for (device, at, message) in self.url.at_end(end) {
            self.fire(
                InvariantId::UrlLive,
                device,
                &controller_id(device),
                at,
                message,
            );
        }
    }

    /// Records TWIN-* findings of gateway `number` at `now`.
    fn fire_twin(&mut self, number: u64, now: Time, findings: Vec<twin::Finding>) {
        let controller_id = self
            .twin
            .controller_id(number)
            .unwrap_or_default()
            .to_owned();
        for (id, message) in findings {
            self.fire(id, number, &controller_id, now, message);
        }
    }

    /// Registers gateway `number` for the TWIN-* checks (see [`twin`]);
    /// again when its client restarts (its correlation-id counter does).
    /// Its serial must be unique among the registered gateways.
    pub fn twin_gateway(
        &mut self,
        number: u64,
        controller_id: &str,
        rt: &crate::protocol::edge::GatewayRuntime,
    ) {
        self.twin.register(number, controller_id, rt);
    }

    /// Check TWIN-CONVERGE at every quiet period of a gateway, not only the
    /// first after each (re)connect (tests; a full comparison each time).
    pub fn twin_check_every_sync(&mut self, on: bool) {
        self.twin.check_every_sync(on);
    }

    /// What gateway `number`'s edge client observed at `now` (every
    /// [`EdgeEvent`](crate::protocol::edge::EdgeEvent), in order; at a
    /// `TwinSynced` also call [`Oracle::twin_synced`]).
    pub fn twin_client_event(
        &mut self,
        number: u64,
        now: Time,
        event: &crate::protocol::edge::EdgeEvent,
    ) {
        let findings = self.twin.client_event(number, event);
        self.fire_twin(number, now, findings);
    }

    /// An event the twin emitted at `now` (`TwinOutput::Event`), fed when
    /// polled — before the response polled after it reaches the gateway.
    /// Feeding events turns on TWIN-LOST, TWIN-DUP and TWIN-ORDER; a
    /// driver that feeds one feeds all.
    pub fn twin_event(&mut self, now: Time, event: &crate::ditto::protocol::Envelope) {
        if let Some((number, findings)) = self.twin.event(event) {
            self.fire_twin(number, now, findings);
        }
    }

    /// A live message handed to gateway `number`, right before its client
    /// handles the frame (for TWIN-ONCE and TWIN-NOPUSH).
    pub fn twin_message_delivered(
        &mut self,
        number: u64,
        message: &crate::ditto::protocol::Envelope,
    ) {
        self.twin.message_delivered(number, message);
    }

    /// A backend posted `$set.configuration/<property>` with
    /// `{"new_value": new_value}` to feature `feature_id` of `thing_id`, a
    /// thing of gateway `number` (`POST …/inbox/messages/…`).
    pub fn twin_command_posted(
        &mut self,
        number: u64,
        thing_id: &str,
        feature_id: &str,
        property: &str,
        new_value: &serde_json::Value,
    ) {
        self.twin
            .command_posted(number, thing_id, feature_id, property, new_value);
    }

    /// A backend wrote `value` at `path` of `thing_id` (a thing of gateway
    /// `number`) through the twin's HTTP API and got a 2xx: `PUT` (`Some`)
    /// or `DELETE` (`None`). `path` is the pointer after the thing ID
    /// (`/features/F/properties/configuration/p`; `/` for the thing).
    pub fn twin_written(
        &mut self,
        number: u64,
        thing_id: &str,
        path: &crate::ditto::protocol::Pointer,
        value: Option<&serde_json::Value>,
    ) {
        self.twin.written(number, thing_id, path, value);
    }

    /// Whether gateway `number`'s next quiet period is checked for
    /// convergence: build the twin's view for [`Oracle::twin_synced`] only then.
    pub fn twin_sync_due(&self, number: u64) -> bool {
        self.twin.sync_due(number)
    }

    /// Gateway `number` reported `TwinSynced` at `now`: `rt` is its runtime
    /// and `things` what the twin holds for it
    /// (`TwinService::gateway_things(gateway thing ID, mapped IDs)`). Checks
    /// TWIN-CONVERGE and TWIN-ID when due (see [`Oracle::twin_sync_due`]).
    pub fn twin_synced(
        &mut self,
        number: u64,
        now: Time,
        rt: &crate::protocol::edge::GatewayRuntime,
        things: &BTreeMap<String, serde_json::Value>,
    ) {
        let findings = self.twin.synced(number, rt, things);
        self.fire_twin(number, now, findings);
    }

    /// The campaign wrote `config_otau` of OTAU device `device` at `now`.
    pub fn otau_manifest_set(&mut self, device: u64, now: Time) {
        self.otau.observe_manifest_set(device, now);
    }

    /// The server changed an action's status (embedded server, virtual mode).
    #[allow(clippy::too_many_arguments)]
    pub fn server_status_change(
        &mut self,
        slot: usize,
        device: u64,
        controller_id: &str,
        at: Time,
        action: u64,
        from_final: bool,
        to_final: bool,
        to: &str,
    ) {
        if from_final {
            self.fire(
                InvariantId::DdiSmFinal,
                device,
                controller_id,
                at,
                format!("server moved action {action} out of a final state to {to}"),
            );
        }
        if to_final {
            let st = &mut self.devices[slot];
            if let Some(prev) = st.closing.replace(action) {
                mark_closed(st, prev);
            }
        }
    }

    /// A device observed `event` at `at`.
    pub fn observe(
        &mut self,
        slot: usize,
        device: u64,
        controller_id: &str,
        at: Time,
        event: &DdiEvent,
    ) {
        let mut fired: Vec<(InvariantId, String)> = Vec::new();
        let jitter = self.config.polling_jitter;
        let st = &mut self.devices[slot];
        // The request that closed an action has had its outcome once the device
        // sends again or sees a failure; from then on the action counts as closed.
        if matches!(event, DdiEvent::Sent { .. } | DdiEvent::NetFailed { .. }) {
            if let Some(a) = st.closing.take() {
                mark_closed(st, a);
            }
        }
        consent::observe(st, event, &mut fired);
        match event {
            DdiEvent::Sent {
                kind: ReqKind::Root,
                scheduled,
            } => root_sent(st, at, scheduled, jitter, &mut fired),
            DdiEvent::Sent { .. } | DdiEvent::NetFailed { .. } => st.excused = true,
            DdiEvent::Answered { status, .. } if !(200..300).contains(status) => st.excused = true,
            DdiEvent::RootSeen {
                sleep,
                offer,
                installed,
                ..
            } => {
                root_seen(st, sleep, offer, installed, &mut fired);
                let lost = st.defer.root(offer);
                fired.extend(lost.map(|m| (InvariantId::DdiSoftDefer, m)));
            }
            DdiEvent::DeploymentSeen { .. } => deployment_seen(st, event, &mut fired),
            DdiEvent::FeedbackAnswered {
                action,
                cancel,
                execution,
                finished,
                status,
            } => {
                if let Some(book) = &mut self.ended {
                    let download_only = st.download_only == Some(*action);
                    let how = (*execution, *finished);
                    if let Some(e) = server_view::ended_by(how, *cancel, download_only, *status) {
                        book.book(slot, *action, e);
                    }
                }
                if !*cancel {
                    let refused = st.defer.feedback(*action, *execution, *status);
                    fired.extend(refused.map(|m| (InvariantId::DdiSoftDefer, m)));
                }
                feedback_answered(
                    st,
                    &mut fired,
                    action,
                    cancel,
                    (execution, finished),
                    status,
                )
            }
            DdiEvent::PhaseChanged(Phase::Installing) if st.window_closed => fired.push((
                InvariantId::DdiWindowInstall,
                "installation started while the deployment said maintenanceWindow: unavailable"
                    .into(),
            )),
            _ => fired.extend(answer_problem(event)),
        }
        for (id, message) in fired {
            self.fire(id, device, controller_id, at, message);
        }
    }
}
