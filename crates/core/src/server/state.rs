//! Targets, actions and their status history: the server-side action state
//! machine of ddi.md §3. The distributions and modules they refer to are in
//! `distributions.rs`.
//!
//! Memory matters here: fleets have 100 000+ targets, most of them idle. A
//! target is a few machine words plus its actions in a `Vec`; the controller
//! id lives only as the key of the id index; constant server messages are
//! `&'static str`, not allocated per entry. History is bounded by the
//! status-entry quota.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::num::NonZeroU32;

use crate::protocol::ddi::wire::{ActionHistory, HandlingType, MaintenanceWindow};
use crate::time::Time;

use super::assignment::UpdateStatus;
use super::messages::Messages;
use super::{ActionId, ActionStatus, ActionType, DistributionId, MaintenanceSchedule, ServerEvent};

/// Prefix hawkBit puts on server-generated messages; `actionHistory` hides them.
pub(super) const SERVER_PREFIX: &str = "Update Server: ";

/// First message of every action's history.
pub(super) const ASSIGNMENT_INITIATED: &str = "Update Server: Assignment initiated.";

/// How a new action starts: its status and its first history entry.
#[derive(Debug)]
pub(super) struct Start {
    pub(super) status: ActionStatus,
    pub(super) entry: ActionStatus,
    pub(super) messages: Vec<Cow<'static, str>>,
}

/// Pushes `item` onto a per-target list that stays short (actions, status
/// entries): full, it grows by half its length, at least one, not by
/// doubling from four as `Vec` does. With 100 000 targets holding one action
/// and a handful of entries each, the spare room of doubling was a large
/// part of the server's memory.
pub(super) fn push_compact<T>(list: &mut Vec<T>, item: T) {
    if list.len() == list.capacity() {
        list.reserve_exact((list.len() / 2).max(1));
    }
    list.push(item);
}

/// Most messages `actionHistory` returns (`MAX_ACTION_HISTORY_MSG_COUNT`).
const MAX_HISTORY_MESSAGES: usize = 100;

/// Collects [`ServerEvent`]s for one target at one instant.
pub(super) struct Emitter<'a> {
    cid: &'a str,
    pub(super) now: Time,
    out: &'a mut Vec<ServerEvent>,
}

impl<'a> Emitter<'a> {
    pub(super) fn new(cid: &'a str, now: Time, out: &'a mut Vec<ServerEvent>) -> Emitter<'a> {
        Emitter { cid, now, out }
    }

    pub(super) fn changed(
        &mut self,
        action: ActionId,
        from: Option<ActionStatus>,
        to: ActionStatus,
    ) {
        self.out.push(ServerEvent::ActionStatusChanged {
            controller_id: self.cid.to_string(),
            action,
            from,
            to,
            at: self.now,
        });
    }
}

/// One entry of an action's status history.
#[derive(Debug)]
pub(super) struct StatusEntry {
    pub(super) status: ActionStatus,
    pub(super) at: Time,
    pub(super) messages: Messages,
    /// The device's `status.code` (hawkBit `ActionStatus.code`).
    pub(super) code: Option<i32>,
}

/// An assignment of a distribution to a target.
#[derive(Debug)]
pub(super) struct Action {
    pub(super) id: ActionId,
    pub(super) dist: DistributionId,
    pub(super) kind: ActionType,
    pub(super) weight: u32,
    pub(super) window: Option<MaintenanceSchedule>,
    pub(super) status: ActionStatus,
    pub(super) active: bool,
    pub(super) history: Vec<StatusEntry>,
    /// `code` of the last `deploymentBase` feedback (hawkBit `lastActionStatusCode`).
    pub(super) last_code: Option<i32>,
    /// The device's latest `scheduled`/`resumed` was `scheduled` (read only by
    /// the `hide_deferred_actions` fault).
    pub(super) deferred: bool,
}

impl Action {
    /// Sets `Action.status`, emitting an event when it changes.
    pub(super) fn set_status(&mut self, ev: &mut Emitter<'_>, to: ActionStatus) {
        if self.status != to {
            let from = self.status;
            self.status = to;
            ev.changed(self.id, Some(from), to);
        }
    }

    /// Closes the action with final status `to`.
    pub(super) fn close(&mut self, ev: &mut Emitter<'_>, to: ActionStatus) {
        self.active = false;
        self.set_status(ev, to);
    }

    /// Appends a history entry (the caller has checked the quota).
    pub(super) fn push(
        &mut self,
        status: ActionStatus,
        at: Time,
        messages: Vec<Cow<'static, str>>,
    ) {
        self.push_coded(status, at, messages, None);
    }

    /// Appends a device entry with its status `code` (the caller has checked the quota).
    pub(super) fn push_coded(
        &mut self,
        status: ActionStatus,
        at: Time,
        messages: Vec<Cow<'static, str>>,
        code: Option<i32>,
    ) {
        // Stored for the run: no spare capacity in the list or its texts.
        let entry = StatusEntry {
            status,
            at,
            messages: Messages::from_vec(messages),
            code,
        };
        push_compact(&mut self.history, entry);
    }

    /// Appends a server-created entry unless the history is full (then it is
    /// dropped: server bookkeeping never fails a request here).
    pub(super) fn push_capped(
        &mut self,
        status: ActionStatus,
        at: Time,
        message: &'static str,
        cap: u32,
    ) {
        if !self.history_full(cap) {
            self.push(status, at, vec![Cow::Borrowed(message)]);
        }
    }

    /// True when another quota-checked entry would exceed `cap`.
    pub(super) fn history_full(&self, cap: u32) -> bool {
        self.history.len() >= cap as usize
    }

    pub(super) fn last_entry(&self) -> Option<ActionStatus> {
        self.history.last().map(|e| e.status)
    }

    fn force_time_hit(&self, now: Time) -> bool {
        matches!(self.kind, ActionType::TimeForced { force_at } if now >= force_at)
    }

    /// `deployment.download` (RES `calculateDownloadType`): never `skip`.
    pub(super) fn download_type(&self, now: Time) -> HandlingType {
        match self.kind {
            ActionType::Forced | ActionType::DownloadOnly => HandlingType::Forced,
            ActionType::TimeForced { .. } if self.force_time_hit(now) => HandlingType::Forced,
            _ => HandlingType::Attempt,
        }
    }

    /// `deployment.update` (RES `calculateUpdateType`).
    pub(super) fn update_type(&self, now: Time) -> HandlingType {
        if self.kind == ActionType::DownloadOnly {
            return HandlingType::Skip;
        }
        match &self.window {
            Some(w) if !w.contains(now) => HandlingType::Skip,
            _ => self.download_type(now),
        }
    }

    /// `deployment.maintenanceWindow`: only for actions with a schedule.
    pub(super) fn window_state(&self, now: Time) -> Option<MaintenanceWindow> {
        self.window.as_ref().map(|w| {
            if w.contains(now) {
                MaintenanceWindow::Available
            } else {
                MaintenanceWindow::Unavailable
            }
        })
    }

    /// The root link's `c` parameter (DCH `calculateEtag`): changes when a
    /// time-forced action turns forced or the maintenance window opens.
    pub(super) fn etag_c(&self, now: Time) -> i32 {
        let hash = self.id.0 as i32;
        // An open window wins over the force time, as in DCH.
        let extra = if self.window.as_ref().is_some_and(|w| w.contains(now)) {
            1249
        } else if self.force_time_hit(now) {
            1231
        } else {
            1237
        };
        hash.wrapping_mul(31).wrapping_add(extra)
    }

    /// `actionHistory` for query value `n` (ddi.md §1.3): `None` when `n == 0`
    /// or there are no device messages.
    pub(super) fn action_history(&self, n: i64) -> Option<ActionHistory> {
        let limit = match n {
            0 => return None,
            n if n < 0 => MAX_HISTORY_MESSAGES,
            n => usize::try_from(n)
                .unwrap_or(MAX_HISTORY_MESSAGES)
                .min(MAX_HISTORY_MESSAGES),
        };
        let messages: Vec<String> = self
            .history
            .iter()
            .rev()
            .flat_map(|e| e.messages.iter())
            .filter(|m| !m.starts_with(SERVER_PREFIX))
            .take(limit)
            .map(|m| m.to_string())
            .collect();
        (!messages.is_empty()).then(|| ActionHistory {
            status: self.status.as_str().to_string(),
            messages,
        })
    }
}

/// A target's active auto-confirmation (hawkBit `AutoConfirmationStatus`).
#[derive(Debug)]
pub(super) struct AutoConfirm {
    pub(super) initiator: Option<String>,
    pub(super) remark: Option<String>,
    /// Who activated it (hawkBit `createdBy`): the controller or the Management user.
    pub(super) by: String,
    pub(super) at: Time,
}

impl AutoConfirm {
    /// `JpaAutoConfirmationStatus.constructActionMessage`, text block included.
    pub(super) fn action_message(&self) -> String {
        let or_na = |s: &Option<String>| {
            s.as_deref()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or("n/a")
                .to_string()
        };
        let by = Some(self.by.clone());
        format!(
            "Assignment automatically confirmed by initiator '{}'. \n\nAuto confirmation activated by system user: '{}' \n\nRemark: {}",
            or_na(&self.initiator),
            or_na(&by),
            or_na(&self.remark)
        )
    }
}

/// A registered device.
#[derive(Debug)]
pub(super) struct Target {
    pub(super) index: u64,
    token: Option<Box<str>>,
    pub(super) actions: Vec<Action>,
    /// The action whose distribution is installed (latest FINISHED).
    pub(super) installed: Option<ActionId>,
    /// hawkBit `requestControllerAttributes`: the root links `configData`.
    pub(super) request_config: bool,
    /// Root polls answered so far; keys the jitter stream.
    pub(super) polls: u32,
    /// `configData` attributes, sorted by key. A boxed slice, not a map: three
    /// attributes in a `BTreeMap` cost a whole 11-slot node per target.
    pub(super) attributes: Box<[(Box<str>, Box<str>)]>,
    /// Last root poll (`Time::NEVER`: never polled); Management API `pollStatus`.
    pub(super) last_request: Time,
    /// When the target was registered (Management API `createdAt`).
    pub(super) created_at: Time,
    /// hawkBit `assignedDistributionSet` (see `assignment.rs`); 4 bytes, not 16.
    pub(super) assigned_ds: Option<NonZeroU32>,
    /// hawkBit `TargetUpdateStatus`, set where hawkBit sets it (`assignment.rs`).
    pub(super) update_status: UpdateStatus,
    /// Active auto-confirmation (ddi.md §1.8), boxed: almost every target has none.
    pub(super) auto_confirm: Option<Box<AutoConfirm>>,
    /// False when no active action has a maintenance window (none was
    /// created with one, or the last walk of [`Target::cancel_lapsed`] found
    /// them all closed). Lets that walk, which runs on every poll, end at
    /// once for nearly every target.
    may_lapse: bool,
}

impl Target {
    fn new(index: u64, token: Option<String>) -> Target {
        Target {
            index,
            token: token.map(String::into_boxed_str),
            actions: Vec::new(),
            installed: None,
            request_config: true,
            polls: 0,
            attributes: Box::default(),
            last_request: Time::NEVER,
            created_at: Time::ZERO,
            assigned_ds: None,
            update_status: UpdateStatus::Unknown,
            auto_confirm: None,
            may_lapse: false,
        }
    }

    pub(super) fn token_matches(&self, token: &str) -> bool {
        self.token.as_deref() == Some(token)
    }

    /// The target's security token (Management API only).
    pub(super) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// A new security token (Management API `PUT /targets/{id}`).
    pub(super) fn set_token(&mut self, token: String) {
        self.token = Some(token.into_boxed_str());
    }

    pub(super) fn action(&self, id: ActionId) -> Option<&Action> {
        self.actions.iter().find(|a| a.id == id)
    }

    pub(super) fn action_mut(&mut self, id: ActionId) -> Option<&mut Action> {
        self.actions.iter_mut().find(|a| a.id == id)
    }

    /// The action the root exposes: active, highest weight, then lowest id.
    pub(super) fn active_action(&self) -> Option<&Action> {
        self.actions
            .iter()
            .filter(|a| a.active)
            .min_by_key(|a| (std::cmp::Reverse(a.weight), a.id))
    }

    /// Adds a new active action with the initial status and first history
    /// entry given (the confirmation flow starts actions differently).
    pub(super) fn create_action_as(
        &mut self,
        ev: &mut Emitter<'_>,
        (id, dist, kind, weight, window): (
            ActionId,
            DistributionId,
            ActionType,
            u32,
            Option<MaintenanceSchedule>,
        ),
        start: Start,
    ) {
        let mut action = Action {
            id,
            dist,
            kind,
            weight,
            window,
            status: start.status,
            active: true,
            history: Vec::new(),
            last_code: None,
            deferred: false,
        };
        action.push(start.entry, ev.now, start.messages);
        ev.changed(id, None, start.status);
        self.may_lapse |= action.window.is_some();
        push_compact(&mut self.actions, action);
    }

    /// Management-side cancel; see [`super::Server::cancel`].
    pub(super) fn cancel(
        &mut self,
        ev: &mut Emitter<'_>,
        id: ActionId,
        force: bool,
        cap: u32,
    ) -> bool {
        let Some(a) = self.action_mut(id).filter(|a| a.active) else {
            return false;
        };
        if force {
            a.push_capped(
                ActionStatus::Canceled,
                ev.now,
                "Update Server: Action force-quit.",
                cap,
            );
            a.close(ev, ActionStatus::Canceled);
            true
        } else if a.status == ActionStatus::Canceling {
            false
        } else {
            a.push_capped(
                ActionStatus::Canceling,
                ev.now,
                "Update Server: Action canceled.",
                cap,
            );
            a.set_status(ev, ActionStatus::Canceling);
            true
        }
    }

    /// Cancels active actions whose maintenance window has passed (RES
    /// `checkAndCancelExpiredAction`).
    /// O(1) unless an action of the target has a maintenance window.
    pub(super) fn cancel_lapsed(&mut self, ev: &mut Emitter<'_>, cap: u32) {
        if !self.may_lapse {
            return;
        }
        let now = ev.now;
        let mut open = false;
        for a in self.actions.iter_mut() {
            let lapsed = a.window.as_ref().is_some_and(|w| w.lapsed(now));
            open |= a.active && a.window.is_some();
            if a.active && lapsed && !a.status.is_cancel() {
                a.push_capped(
                    ActionStatus::Canceling,
                    now,
                    "Update Server: Maintenance window lapsed, action canceled.",
                    cap,
                );
                a.set_status(ev, ActionStatus::Canceling);
            }
        }
        // A closed action never opens again (only new actions set the flag),
        // so the walk is needed only while an action with a window is active.
        self.may_lapse = open;
    }
}

/// FxHash-style hasher for controller ids: a fixed function (no random seed),
/// a few instructions per 8 bytes. Controller-id lookup is on every request.
#[derive(Default, Clone, Copy)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A fleet group's controller ids, `<prefix><number:05>` for numbers
/// `first..first + count`: such an id registers with index = its number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexGroup {
    /// Controller-id prefix.
    pub prefix: String,
    /// First device number of the group.
    pub first: u64,
    /// Devices in the group.
    pub count: u64,
}

/// All targets, by controller id.
#[derive(Debug, Default)]
pub(super) struct Targets {
    list: Vec<Target>,
    /// Lookup only (iterated only to be sorted), so a hash map cannot leak order into outputs.
    by_id: HashMap<Box<str>, usize, BuildHasherDefault<IdHasher>>,
    max_index: Option<u64>,
    /// Scenario numbering for registrations by id (`fleetsim serve`); empty otherwise.
    plan: Vec<IndexGroup>,
}

impl Targets {
    pub(super) fn register(&mut self, cid: &str, index: u64, token: Option<String>) {
        self.max_index = Some(self.max_index.map_or(index, |m| m.max(index)));
        match self.by_id.get(cid) {
            Some(&i) => {
                self.list[i].index = index;
                self.list[i].token = token.map(String::into_boxed_str);
            }
            None => {
                self.by_id.insert(cid.into(), self.list.len());
                self.list.push(Target::new(index, token));
            }
        }
    }

    /// Plug-and-play registration: the scenario's number for a scenario
    /// device id, else a fresh index (see [`Targets::index_for`]).
    pub(super) fn auto_register(&mut self, cid: &str) {
        let index = self.index_for(cid);
        self.register(cid, index, None);
    }

    /// The index a new target `cid` gets: the device number when `cid` is
    /// exactly the id a scenario device would use (`<prefix><number:05>`
    /// inside its group); otherwise the highest index so far + 1, and never
    /// below the scenario's device count, so the two never collide.
    pub(super) fn index_for(&self, cid: &str) -> u64 {
        for g in &self.plan {
            let Some(digits) = cid.strip_prefix(g.prefix.as_str()) else {
                continue;
            };
            let Ok(number) = digits.parse::<u64>() else {
                continue;
            };
            let canonical = format!("{number:05}") == digits;
            if canonical && number >= g.first && number - g.first < g.count {
                return number;
            }
        }
        let floor = self.plan.iter().map(|g| g.first + g.count).max();
        let next = self.max_index.map_or(0, |m| m.saturating_add(1));
        next.max(floor.unwrap_or(0))
    }

    /// Sets the scenario numbering used by [`Targets::index_for`].
    pub(super) fn set_plan(&mut self, plan: Vec<IndexGroup>) {
        self.plan = plan;
    }

    /// Removes a target; false if unknown. Its index is not reused.
    pub(super) fn remove(&mut self, cid: &str) -> bool {
        let Some(i) = self.by_id.remove(cid) else {
            return false;
        };
        let last = self.list.len() - 1;
        self.list.swap_remove(i);
        if i != last {
            // The former last target now lives at `i`.
            if let Some(slot) = self.by_id.values_mut().find(|v| **v == last) {
                *slot = i;
            }
        }
        true
    }

    /// Every target with its controller id, sorted by (index, controller id).
    pub(super) fn sorted(&self) -> Vec<(&str, &Target)> {
        let mut all: Vec<(&str, &Target)> = self
            .by_id
            .iter()
            .map(|(cid, &i)| (cid.as_ref(), &self.list[i]))
            .collect();
        all.sort_unstable_by(|a, b| (a.1.index, a.0).cmp(&(b.1.index, b.0)));
        all
    }

    /// Where target `cid` lives, for [`Targets::at`]: valid until a target is removed.
    pub(super) fn slot(&self, cid: &str) -> Option<usize> {
        self.by_id.get(cid).copied()
    }

    /// The target in `slot` (from [`Targets::slot`]).
    pub(super) fn at(&self, slot: usize) -> &Target {
        &self.list[slot]
    }

    /// The target in `slot` (from [`Targets::slot`]), mutably.
    pub(super) fn at_mut(&mut self, slot: usize) -> &mut Target {
        &mut self.list[slot]
    }

    pub(super) fn get(&self, cid: &str) -> Option<&Target> {
        self.by_id.get(cid).map(|&i| &self.list[i])
    }

    pub(super) fn get_mut(&mut self, cid: &str) -> Option<&mut Target> {
        self.by_id.get(cid).map(|&i| &mut self.list[i])
    }

    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    /// Drops the spare capacity of the list and the id index (after a
    /// whole fleet has been registered).
    pub(super) fn shrink_to_fit(&mut self) {
        self.list.shrink_to_fit();
        self.by_id.shrink_to_fit();
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
