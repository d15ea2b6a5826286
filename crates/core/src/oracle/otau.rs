//! The OTAU checks (otau.md §3.3, §4.2, §5): the `OTAU-*` entries of
//! [`InvariantId`], checked online from [`OtauEvent`]s plus the campaign's
//! manifest writes.
//!
//! [`super::Oracle`] owns one and records what [`OtauOracle::check`] finds
//! beside the DDI violations; [`OtauOracle::observe`] records on its own, for
//! tests of the OTAU flow alone. State per device is a few words plus the
//! current cycle's version string.
//! A *cycle* is what follows a delivered `config_otau` value until the device
//! reports a terminal status (otau.md §3.3 "Per cycle").

use std::collections::BTreeMap;

use serde::Serialize;

use super::InvariantId;
use crate::protocol::otau::wire::unix_secs;
use crate::protocol::otau::wire::Status;
use crate::protocol::otau::OtauEvent;
use crate::time::{Span, Time};

/// Violations kept in full; later ones are only counted.
const MAX_RECORDED: usize = 200;

/// One broken OTAU invariant.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct OtauViolation {
    /// Which invariant (`OTAU-…`).
    pub id: &'static str,
    /// Device number.
    pub device: u64,
    /// When (ms since the start of the run).
    pub at_ms: u64,
    /// What was seen.
    pub message: String,
}

#[derive(Debug, Default)]
struct Cycle {
    version: String,
    /// Statuses seen, one bit per [`Status`] (index in `Status::ALL`).
    seen: u16,
    last: Option<Status>,
    max_rank: u8,
    ended: bool,
    acked: bool,
    /// Payload files announced by the client, and `DOWNLOAD_STEP`s seen.
    files: Option<u32>,
    steps: u32,
}

impl Cycle {
    fn saw(&self, s: Status) -> bool {
        self.seen & bit(s) != 0
    }
    fn open(&self) -> bool {
        self.seen != 0 && !self.ended
    }
}

fn bit(s: Status) -> u16 {
    1 << Status::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

#[derive(Debug, Default)]
struct DeviceState {
    /// A cloud write not yet acknowledged: when it was set.
    pending_since: Option<Time>,
    /// The version the device acknowledged last.
    acked: Option<String>,
    /// A cloud write happened after that acknowledgement.
    set_since_ack: bool,
    cycle: Option<Box<Cycle>>,
    last_status_at: Option<Time>,
}

/// Checks OTAU invariants online.
#[derive(Debug, Default)]
pub struct OtauOracle {
    devices: BTreeMap<u64, DeviceState>,
    violations: Vec<OtauViolation>,
    unrecorded: u64,
}

impl OtauOracle {
    /// An oracle that has seen nothing.
    pub fn new() -> OtauOracle {
        OtauOracle::default()
    }

    /// Violations recorded so far.
    pub fn violations(&self) -> &[OtauViolation] {
        &self.violations
    }

    /// Violations beyond the recorded ones.
    pub fn unrecorded(&self) -> u64 {
        self.unrecorded
    }

    /// The campaign wrote `config_otau` of `device` at `now` (server side).
    pub fn observe_manifest_set(&mut self, device: u64, now: Time) {
        let d = self.devices.entry(device).or_default();
        d.pending_since = Some(now);
        d.set_since_ack = true;
    }

    /// An event of device `device` at `now`; records what it breaks.
    pub fn observe(&mut self, device: u64, now: Time, event: &OtauEvent) {
        if let Some((id, message)) = self.check(device, now, event) {
            self.record(id, device, now, message);
        }
    }

    /// An event of device `device` at `now`: the invariant it breaks, if any,
    /// with what was seen. [`super::Oracle`] records it with the DDI ones.
    pub fn check(
        &mut self,
        device: u64,
        now: Time,
        event: &OtauEvent,
    ) -> Option<(InvariantId, String)> {
        let d = self.devices.entry(device).or_default();
        let mut found: Option<(InvariantId, String)> = None;
        match event {
            OtauEvent::NotModified {
                sent,
                ims,
                timeout_ms,
            } => found = not_modified(d, now, sent, ims, timeout_ms),
            OtauEvent::Offered { version, busy } => found = offered(d, version, busy),
            OtauEvent::Acked { version } => {
                d.pending_since = None;
                d.set_since_ack = false;
                if let Some(c) = d.cycle.as_mut().filter(|c| c.version == *version) {
                    c.acked = true;
                }
                d.acked = Some(version.clone());
            }
            OtauEvent::Started { version, files } => {
                if let Some(c) = d.cycle.as_mut().filter(|c| c.version == *version) {
                    c.files = Some(*files);
                }
            }
            OtauEvent::StatusAccepted { version, status } => {
                let last = d.last_status_at.replace(now);
                found = check_status(d, version, *status);
                if let Some(last) = last.filter(|t| now.since(*t) < Span::secs(1)) {
                    found = found.or(Some((
                        InvariantId::OtauWriteRate,
                        format!(
                            "{} written {} ms after the previous otau_in write",
                            status.as_str(),
                            now.since(last).as_millis()
                        ),
                    )));
                }
            }
            OtauEvent::ContentMismatch { file } => {
                found = Some((
                    InvariantId::OtauContent,
                    format!(
                        "{file}: the bytes served do not have the size/sha256 of its info line"
                    ),
                ));
            }
            OtauEvent::ContentRefused { file, status } => {
                found = Some((
                    InvariantId::OtauServed,
                    format!(
                        "connector content {file:?} of the delivered manifest answered {status}"
                    ),
                ));
            }
            _ => {}
        }
        found
    }

    fn record(&mut self, id: InvariantId, device: u64, now: Time, message: String) {
        if self.violations.len() >= MAX_RECORDED {
            self.unrecorded += 1;
            return;
        }
        self.violations.push(OtauViolation {
            id: id.as_str(),
            device,
            at_ms: now.0,
            message,
        });
    }
}

/// A 304 to a long poll: wrong when `config_otau` changed before the poll
/// was sent, or while it was held (the write should have released it).
fn not_modified(
    d: &DeviceState,
    now: Time,
    sent: &Time,
    ims: &u64,
    timeout_ms: &u64,
) -> Option<(InvariantId, String)> {
    let mut found: Option<(InvariantId, String)> = None;
    // Pending when the poll was sent: it had to be answered at once.
    let changed = |t: &Time| t <= sent && unix_secs(*t) > *ims;
    // Written while the poll waited, and the 304 came long before
    // the poll's timeout: the write should have released it with 200.
    let early = now + Span::secs(1) < *sent + Span(*timeout_ms);
    let written_while_held = |t: &Time| early && t <= &now && unix_secs(*t) > *ims;
    if let Some(set) = d.pending_since.filter(changed) {
        found = Some((
                InvariantId::Otau304,
                format!("304 to a long poll sent at {} ms although config_otau was written at {} ms and not acknowledged", sent.0, set.0),
            ));
    } else if let Some(set) = d.pending_since.filter(written_while_held) {
        found = Some((
                InvariantId::Otau304,
                format!("304 after {} ms to a long poll with Request-Timeout {timeout_ms} ms although config_otau was written at {} ms while it waited", now.since(*sent).as_millis(), set.0),
            ));
    }
    found
}

/// A manifest was offered: not over a running cycle, not again once
/// acknowledged, and not before the previous one was written back.
fn offered(d: &mut DeviceState, version: &str, busy: &bool) -> Option<(InvariantId, String)> {
    let mut found: Option<(InvariantId, String)> = None;
    let running = d.cycle.as_ref().filter(|c| c.open());
    let unacked = d.cycle.as_ref().filter(|c| c.seen != 0 && !c.acked);
    if let (None, Some(c), false) = (running, unacked, busy) {
        found = Some((
            InvariantId::OtauAck,
            format!(
                "manifest {:?} was processed but never written back (next offer {version:?})",
                c.version
            ),
        ));
        d.cycle = Some(Box::new(Cycle {
            version: version.to_string(),
            ..Cycle::default()
        }));
    } else if let Some(c) = running {
        found = Some((
            InvariantId::OtauOverlap,
            format!(
                "manifest {version:?} delivered while {:?} is running (last status {:?})",
                c.version,
                c.last.map(Status::as_str)
            ),
        ));
    } else if !d.set_since_ack && d.acked.as_deref() == Some(version) {
        found = Some((
            InvariantId::OtauRedeliver,
            format!("manifest {version:?} delivered again after the device acknowledged it"),
        ));
    } else if !busy {
        d.cycle = Some(Box::new(Cycle {
            version: version.to_string(),
            ..Cycle::default()
        }));
    }
    found
}

/// OTAU-VERSION and OTAU-SEQ for one accepted status.
fn check_status(
    d: &mut DeviceState,
    version: &str,
    status: Status,
) -> Option<(InvariantId, String)> {
    let Some(c) = d.cycle.as_mut() else {
        // A boot report needs no manifest (otau.md §3.3.10).
        return (status != Status::InstalledVersion).then(|| {
            (
                InvariantId::OtauSeq,
                format!("{} without a delivered manifest", status.as_str()),
            )
        });
    };
    let version_ok = if status == Status::InstalledVersion {
        !c.saw(Status::InstallSuccess) || version == c.version
    } else {
        version == c.version
    };
    let seq = seq_error(c, status);
    if status == Status::DownloadStep {
        c.steps += 1;
    }
    c.seen |= bit(status);
    c.last = Some(status);
    if let Some(r) = status.rank() {
        c.max_rank = c.max_rank.max(r);
    }
    if status.is_error() || status == Status::InstalledVersion {
        c.ended = true;
    }
    if !version_ok {
        return Some((
            InvariantId::OtauVersion,
            format!(
                "{} reports version {version:?}, the manifest is {:?}",
                status.as_str(),
                c.version
            ),
        ));
    }
    seq.map(|why| {
        (
            InvariantId::OtauSeq,
            format!("{} {why} (cycle {:?})", status.as_str(), c.version),
        )
    })
}

/// Why `status` may not follow what `c` has seen, if it may not.
fn seq_error(c: &Cycle, status: Status) -> Option<&'static str> {
    use Status::*;
    if c.ended {
        let after_error = c.last.is_some_and(Status::is_error);
        return (!(after_error && status == InstalledVersion)).then_some("after the cycle ended");
    }
    if status == Init && c.seen != 0 {
        return Some("is not the first status");
    }
    if c.last == Some(status) && !status.is_step() {
        return Some("repeats");
    }
    if status.rank().is_some_and(|r| r < c.max_rank) {
        return Some("goes back to an earlier phase");
    }
    let phase_open = |start: Status, step: Status| c.last == Some(start) || c.last == Some(step);
    let ok = match status {
        TestStep => phase_open(Test, TestStep) || c.last == Some(Init),
        DownloadStep => phase_open(Download, DownloadStep),
        InstallStep => phase_open(Install, InstallStep),
        // A reported test phase must have passed (otau.md §3.1 diagram:
        // TEST_STEP → TEST_SUCCESS → DOWNLOAD).
        Download => !(c.saw(Test) || c.saw(TestStep)) || c.saw(TestSuccess),
        DownloadSuccess => c.saw(Download) && c.files.is_none_or(|n| n == c.steps),
        Install => !c.saw(Download) || c.saw(DownloadSuccess),
        InstalledVersion => !c.saw(Install) || c.saw(InstallSuccess),
        InstallSuccess => c.saw(Install),
        TestError => !c.saw(Download),
        DownloadError => c.saw(Download) && !c.saw(DownloadSuccess),
        InstallError => c.saw(Install) && !c.saw(InstallSuccess),
        _ => true,
    };
    (!ok).then_some("skips a step")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(statuses: &[(&str, Status)]) -> Vec<&'static str> {
        let mut o = OtauOracle::new();
        o.observe_manifest_set(1, Time(0));
        o.observe(
            1,
            Time(1),
            &OtauEvent::Offered {
                version: "2".into(),
                busy: false,
            },
        );
        o.observe(
            1,
            Time(2),
            &OtauEvent::Acked {
                version: "2".into(),
            },
        );
        for (i, (v, s)) in statuses.iter().enumerate() {
            let ev = OtauEvent::StatusAccepted {
                version: v.to_string(),
                status: *s,
            };
            o.observe(1, Time((3 + i as u64) * 1000), &ev);
        }
        o.violations().iter().map(|v| v.id).collect()
    }

    use Status::*;
    const HAPPY: [Status; 9] = [
        Init,
        Download,
        DownloadStep,
        DownloadStep,
        DownloadSuccess,
        Install,
        InstallStep,
        InstallSuccess,
        InstalledVersion,
    ];

    #[test]
    fn seed_sequence_is_clean_and_deviations_fire() {
        assert!(run(&HAPPY.map(|s| ("2", s))).is_empty());
        let skipped: Vec<_> = HAPPY
            .iter()
            .filter(|s| **s != DownloadSuccess)
            .map(|s| ("2", *s))
            .collect();
        assert_eq!(run(&skipped), ["OTAU-SEQ"]);
        let mut wrong = HAPPY.map(|s| ("2", s));
        wrong[8].0 = "3";
        assert_eq!(run(&wrong), ["OTAU-VERSION"]);
        let mut again = HAPPY.map(|s| ("2", s)).to_vec();
        again.push(("2", Init));
        assert_eq!(run(&again), ["OTAU-SEQ"]);
        assert!(run(&[("2", Init), ("2", Download), ("2", DownloadError)]).is_empty());
        assert!(run(&[
            ("2", Init),
            ("2", Download),
            ("2", DownloadStep),
            ("2", DownloadSuccess),
            ("2", Install),
            ("2", InstallStep),
            ("2", InstallError)
        ])
        .is_empty());
        assert!(run(&[("2", Init), ("2", TestError)]).is_empty());
    }

    #[test]
    fn overlap_redeliver_304_content() {
        let mut o = OtauOracle::new();
        o.observe_manifest_set(1, Time(0));
        o.observe(
            1,
            Time(1),
            &OtauEvent::NotModified {
                sent: Time(1),
                ims: 0,
                timeout_ms: 300_000,
            },
        );
        o.observe(
            1,
            Time(2),
            &OtauEvent::Offered {
                version: "2".into(),
                busy: false,
            },
        );
        o.observe(
            1,
            Time(3),
            &OtauEvent::Acked {
                version: "2".into(),
            },
        );
        o.observe(
            1,
            Time(4),
            &OtauEvent::StatusAccepted {
                version: "2".into(),
                status: Init,
            },
        );
        o.observe_manifest_set(1, Time(5));
        o.observe(
            1,
            Time(6),
            &OtauEvent::Offered {
                version: "3".into(),
                busy: true,
            },
        );
        o.observe(
            1,
            Time(7_000),
            &OtauEvent::StatusAccepted {
                version: "2".into(),
                status: TestError,
            },
        );
        o.observe(
            1,
            Time(8),
            &OtauEvent::Offered {
                version: "3".into(),
                busy: false,
            },
        );
        o.observe(
            1,
            Time(9),
            &OtauEvent::Acked {
                version: "3".into(),
            },
        );
        o.observe(
            1,
            Time(10),
            &OtauEvent::Offered {
                version: "3".into(),
                busy: false,
            },
        );
        o.observe(
            1,
            Time(11),
            &OtauEvent::ContentMismatch { file: "f".into() },
        );
        let ids: Vec<_> = o.violations().iter().map(|v| v.id).collect();
        assert_eq!(
            ids,
            ["OTAU-304", "OTAU-OVERLAP", "OTAU-REDELIVER", "OTAU-CONTENT"]
        );
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;
    use Status::*;

    #[test]
    fn download_steps_must_match_files_and_writes_are_rate_limited() {
        let mut o = OtauOracle::new();
        let v = || "5".to_string();
        o.observe(
            2,
            Time(0),
            &OtauEvent::Offered {
                version: v(),
                busy: false,
            },
        );
        o.observe(2, Time(0), &OtauEvent::Acked { version: v() });
        o.observe(
            2,
            Time(0),
            &OtauEvent::Started {
                version: v(),
                files: 3,
            },
        );
        for (i, s) in [Init, Download, DownloadStep, DownloadStep, DownloadSuccess]
            .into_iter()
            .enumerate()
        {
            o.observe(
                2,
                Time(i as u64 * 2000),
                &OtauEvent::StatusAccepted {
                    version: v(),
                    status: s,
                },
            );
        }
        o.observe(
            2,
            Time(8_500),
            &OtauEvent::StatusAccepted {
                version: v(),
                status: Install,
            },
        );
        let ids: Vec<_> = o.violations().iter().map(|x| x.id).collect();
        assert_eq!(ids, ["OTAU-SEQ", "OTAU-WRITE-RATE"]);
    }
}

#[cfg(test)]
#[path = "otau_vocab_tests.rs"]
mod vocab_tests;
