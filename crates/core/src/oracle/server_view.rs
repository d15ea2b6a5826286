//! The server's own record of a managed run, checked against what the
//! devices saw (MGMT-OUTCOME, MGMT-INSTALLED).
//!
//! In a managed real-time run (`run --target … --manage hawkbit`) fleetsim
//! reads back, after the run, what the server's Management API records for
//! each device: per campaign, the action and its status; and the target's
//! installed distribution set. A device knows for sure how an action ended
//! only when the server accepted (2xx) its final feedback — a `410` may mean
//! its earlier report arrived, or that the action was closed some other way
//! — so the oracle books the accepted ones ([`Oracle::keep_outcomes`]) and
//! [`Oracle::check_server_view`] compares. The devices' side stays sans-IO:
//! the reading is the io layer's job, which hands the result in as a
//! [`DeviceView`].

use super::{InvariantId, Oracle};
use crate::protocol::ddi::wire::{Execution, Finished};
use crate::time::Time;

/// What the server records for one device and one campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Recorded {
    /// The server shows the update as installed (or downloaded, for a
    /// download-only action).
    Updated,
    /// The server shows the update as failed.
    Failed,
    /// The server shows the update as still in progress.
    InProgress,
    /// The server shows the update as canceled.
    Canceled,
    /// The server has no assignment of this campaign for the device.
    NotAssigned,
}

impl Recorded {
    /// Lower-case name, as used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Recorded::Updated => "updated",
            Recorded::Failed => "failed",
            Recorded::InProgress => "in_progress",
            Recorded::Canceled => "canceled",
            Recorded::NotAssigned => "not_assigned",
        }
    }
}

/// The server's record of one campaign for one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignView {
    /// Index of the campaign in the scenario.
    pub campaign: usize,
    /// The status the server records.
    pub recorded: Recorded,
    /// The server's action id, where its API names one (hawkBit does;
    /// goosebit does not, and then nothing is compared).
    pub action: Option<u64>,
}

/// The target's installed distribution set, as the server records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Installed {
    /// The server's API does not say.
    Unknown,
    /// Nothing installed.
    Nothing,
    /// The distribution set of this campaign.
    Campaign(usize),
    /// A set no campaign of the run created.
    Other,
}

/// What the server records for one device after the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceView {
    /// One entry per campaign that selected the device and started.
    pub campaigns: Vec<CampaignView>,
    /// Its installed distribution set.
    pub installed: Installed,
}

/// How an action ended, as far as the server's answers tell the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ended {
    /// `closed` + success/none accepted: FINISHED (ddi.md §1.4).
    Success,
    /// `downloaded` accepted on a download-only action: DOWNLOADED.
    Downloaded,
    /// `closed` + failure accepted: ERROR.
    Failure,
    /// The cancel confirmed (cancelAction `closed`, not failure): CANCELED.
    Canceled,
    /// A final report answered 410: closed, but not necessarily by it.
    Unsure,
}

impl Ended {
    /// What the server must record for an action that ended so.
    fn expected(self) -> Option<Recorded> {
        match self {
            Ended::Success | Ended::Downloaded => Some(Recorded::Updated),
            Ended::Failure => Some(Recorded::Failed),
            Ended::Canceled => Some(Recorded::Canceled),
            Ended::Unsure => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Ended::Success => "closed/success accepted",
            Ended::Downloaded => "downloaded accepted (download-only)",
            Ended::Failure => "closed/failure accepted",
            Ended::Canceled => "cancel confirmed",
            Ended::Unsure => "final feedback answered 410",
        }
    }
}

/// What a feedback answer says about how its action ended, if anything.
pub(super) fn ended_by(
    (execution, finished): (Execution, Finished),
    cancel: bool,
    download_only: bool,
    status: u16,
) -> Option<Ended> {
    let accepted = (200..300).contains(&status);
    let ended = match (execution, cancel) {
        (Execution::Closed, true) if finished != Finished::Failure => Ended::Canceled,
        (Execution::Closed, false) if finished == Finished::Failure => Ended::Failure,
        (Execution::Closed, false) => Ended::Success,
        (Execution::Downloaded, false) if download_only => Ended::Downloaded,
        _ => return None,
    };
    match status {
        _ if accepted => Some(ended),
        410 if !cancel => Some(Ended::Unsure),
        _ => None,
    }
}

/// Accepted final reports per device slot: (action, how it ended).
#[derive(Default, Debug)]
pub(super) struct EndedBook {
    slots: Vec<Vec<(u64, Ended)>>,
}

impl EndedBook {
    pub(super) fn new(devices: usize) -> EndedBook {
        EndedBook {
            slots: (0..devices).map(|_| Vec::new()).collect(),
        }
    }

    /// Books `ended` for `action`; an accepted report is not overwritten by
    /// the 410 its repeat gets.
    pub(super) fn book(&mut self, slot: usize, action: u64, ended: Ended) {
        let Some(list) = self.slots.get_mut(slot) else {
            return;
        };
        match list.iter_mut().find(|(a, _)| *a == action) {
            Some((_, e)) if *e == Ended::Unsure => *e = ended,
            Some(_) => {}
            None => list.push((action, ended)),
        }
    }

    fn of(&self, slot: usize) -> &[(u64, Ended)] {
        self.slots.get(slot).map_or(&[], Vec::as_slice)
    }
}

impl Oracle {
    /// Books how each device's actions ended, for
    /// [`Oracle::check_server_view`] after the run (a few words per ended
    /// action; off unless the run reads the server's view back).
    pub fn keep_outcomes(&mut self) {
        self.ended = Some(EndedBook::new(self.devices.len()));
    }

    /// Checks what the server records for the device in `slot` against the
    /// final reports the server accepted from it. `at` is the run's end.
    pub fn check_server_view(
        &mut self,
        slot: usize,
        device: u64,
        controller_id: &str,
        at: Time,
        view: &DeviceView,
    ) {
        let ended = self
            .ended
            .as_ref()
            .map(|b| b.of(slot).to_vec())
            .unwrap_or_default();
        let mut fired = Vec::new();
        for c in &view.campaigns {
            let Some(action) = c.action else { continue };
            let mine = ended.iter().find(|(a, _)| *a == action).map(|(_, e)| *e);
            let offered = self
                .devices
                .get(slot)
                .is_some_and(|st| st.offered.contains(action));
            fired.extend(outcome_conflict(action, mine, offered, c.recorded));
        }
        fired.extend(installed_conflict(&ended, view));
        for (id, message) in fired {
            self.fire(id, device, controller_id, at, message);
        }
    }
}

/// MGMT-OUTCOME: the server's status of `action` against the device's
/// accepted final report (`mine`), or against its never having been offered.
fn outcome_conflict(
    action: u64,
    mine: Option<Ended>,
    offered: bool,
    recorded: Recorded,
) -> Option<(InvariantId, String)> {
    let message = match mine {
        Some(e) if e.expected().is_some_and(|want| want != recorded) => format!(
            "action {action}: the device's {} but the server records it as {}",
            e.as_str(),
            recorded.as_str()
        ),
        None if !offered && matches!(recorded, Recorded::Updated | Recorded::Failed) => format!(
            "action {action}: the server records it as {} but never offered it to the device",
            recorded.as_str()
        ),
        _ => return None,
    };
    Some((InvariantId::MgmtOutcome, message))
}

/// MGMT-INSTALLED: the installed set must be the campaign of the last
/// action whose `closed`/success the server accepted (ddi.md §1.4: FINISHED
/// sets installedDS; download-only never does).
fn installed_conflict(ended: &[(u64, Ended)], view: &DeviceView) -> Option<(InvariantId, String)> {
    if view.installed == Installed::Unknown {
        return None;
    }
    let (action, _) = ended.iter().rev().find(|(_, e)| *e == Ended::Success)?;
    let campaign = view
        .campaigns
        .iter()
        .find(|c| c.action == Some(*action))?
        .campaign;
    if view.installed == Installed::Campaign(campaign) {
        return None;
    }
    let shown = match view.installed {
        Installed::Nothing => "nothing installed".to_string(),
        Installed::Campaign(i) => format!("campaign {i}'s set installed"),
        _ => "a set of no campaign installed".to_string(),
    };
    Some((
        InvariantId::MgmtInstalled,
        format!(
            "the device's last accepted closed/success is action {action} (campaign {campaign}), \
             the server shows {shown}"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(recorded: Recorded, installed: Installed) -> DeviceView {
        DeviceView {
            campaigns: vec![CampaignView {
                campaign: 0,
                recorded,
                action: Some(7),
            }],
            installed,
        }
    }

    fn oracle_with(ended: &[(u64, Ended)]) -> Oracle {
        let config = super::super::OracleConfig {
            polling_jitter: 0.0,
            url_epoch_s: 0,
        };
        let mut o = Oracle::new(config, 1);
        o.keep_outcomes();
        o.devices[0].offered.insert(7);
        if let Some(b) = o.ended.as_mut() {
            for (a, e) in ended {
                b.book(0, *a, *e);
            }
        }
        o
    }

    fn fired(o: &Oracle) -> Vec<&'static str> {
        o.violations().iter().map(|v| v.id).collect()
    }

    #[test]
    fn an_accepted_success_must_be_recorded_as_updated_and_installed() {
        let mut o = oracle_with(&[(7, Ended::Success)]);
        o.check_server_view(
            0,
            0,
            "d",
            Time::ZERO,
            &view(Recorded::Updated, Installed::Campaign(0)),
        );
        assert!(fired(&o).is_empty());
        o.check_server_view(
            0,
            0,
            "d",
            Time::ZERO,
            &view(Recorded::InProgress, Installed::Nothing),
        );
        assert_eq!(fired(&o), ["MGMT-OUTCOME", "MGMT-INSTALLED"]);
    }

    #[test]
    fn failure_cancel_and_download_only_map_as_hawkbit_records_them() {
        for (ended, right, wrong) in [
            (Ended::Failure, Recorded::Failed, Recorded::Updated),
            (Ended::Canceled, Recorded::Canceled, Recorded::InProgress),
            (Ended::Downloaded, Recorded::Updated, Recorded::Failed),
        ] {
            let mut o = oracle_with(&[(7, ended)]);
            // Nothing installed is right: none of these installs.
            o.check_server_view(0, 0, "d", Time::ZERO, &view(right, Installed::Nothing));
            assert!(fired(&o).is_empty(), "{ended:?}");
            o.check_server_view(0, 0, "d", Time::ZERO, &view(wrong, Installed::Nothing));
            assert_eq!(fired(&o), ["MGMT-OUTCOME"], "{ended:?}");
        }
    }

    #[test]
    fn a_410_or_no_report_leaves_the_server_free_unless_it_never_offered() {
        let mut o = oracle_with(&[(7, Ended::Unsure)]);
        o.check_server_view(
            0,
            0,
            "d",
            Time::ZERO,
            &view(Recorded::Canceled, Installed::Nothing),
        );
        assert!(fired(&o).is_empty());
        // Offered, no report: the answer to a closed may have been lost.
        let mut o = oracle_with(&[]);
        o.check_server_view(
            0,
            0,
            "d",
            Time::ZERO,
            &view(Recorded::Updated, Installed::Campaign(0)),
        );
        assert!(fired(&o).is_empty());
        // Never offered, yet finished on the server.
        o.devices[0] = Default::default();
        o.check_server_view(
            0,
            0,
            "d",
            Time::ZERO,
            &view(Recorded::Updated, Installed::Unknown),
        );
        assert_eq!(fired(&o), ["MGMT-OUTCOME"]);
    }

    #[test]
    fn an_accepted_report_survives_the_410_of_its_repeat() {
        let mut b = EndedBook::new(1);
        b.book(0, 7, Ended::Success);
        b.book(0, 7, Ended::Unsure);
        assert_eq!(b.of(0), [(7, Ended::Success)]);
        let mut b = EndedBook::new(1);
        b.book(0, 7, Ended::Unsure);
        b.book(0, 7, Ended::Failure);
        assert_eq!(b.of(0), [(7, Ended::Failure)]);
    }

    #[test]
    fn final_reports_are_read_from_feedback_answers() {
        use Execution::*;
        assert_eq!(
            ended_by((Closed, Finished::Success), false, false, 200),
            Some(Ended::Success)
        );
        assert_eq!(
            ended_by((Closed, Finished::None), false, false, 200),
            Some(Ended::Success)
        );
        assert_eq!(
            ended_by((Closed, Finished::Failure), false, false, 200),
            Some(Ended::Failure)
        );
        assert_eq!(
            ended_by((Closed, Finished::Success), true, false, 200),
            Some(Ended::Canceled)
        );
        assert_eq!(
            ended_by((Closed, Finished::Failure), true, false, 200),
            None
        );
        assert_eq!(
            ended_by((Downloaded, Finished::None), false, true, 200),
            Some(Ended::Downloaded)
        );
        assert_eq!(
            ended_by((Downloaded, Finished::None), false, false, 200),
            None
        );
        assert_eq!(
            ended_by((Closed, Finished::Success), false, false, 410),
            Some(Ended::Unsure)
        );
        assert_eq!(
            ended_by((Closed, Finished::Success), false, false, 500),
            None
        );
        assert_eq!(
            ended_by((Proceeding, Finished::None), false, false, 200),
            None
        );
    }
}
