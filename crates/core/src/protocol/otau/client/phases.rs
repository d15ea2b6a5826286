//! The status machine of a cycle (otau.md §3.1, §11): which status follows
//! which, with the optional parts of the vocabulary a scenario turns on —
//! the test phase (`TEST`, `TEST_STEP`, `TEST_SUCCESS` | `TEST_ERROR`),
//! progress `message`s, `INSTALL_ABORTED` mid-download, and the reboot after
//! an install with its boot report (`INSTALLED_VERSION` of the running
//! version, no manifest). With every knob off the flow is the seed's (§3.2).

use rand::{Rng, RngCore};

use super::{AckMode, OtauClient, OtauEnv, OtauSettings, Step};
use crate::protocol::otau::event::OtauEvent;
use crate::protocol::otau::wire::{Status, StatusReport};
use crate::time::{Span, Time};

/// `TEST_STEP`s of a test phase: disk space, then the payload.
const TEST_STEPS: u8 = 2;

/// The test phase's failure and the file before which the cycle is aborted,
/// drawn when a manifest starts. The rng is drawn only for knobs that are
/// on, so runs without them are unchanged.
pub(super) fn fates(
    settings: &OtauSettings,
    files: usize,
    rng: &mut dyn RngCore,
) -> (bool, Option<usize>) {
    let fail_test = settings.test_phase
        && settings.test_failure > 0.0
        && rng.gen_bool(settings.test_failure.clamp(0.0, 1.0));
    let abort = files > 0 && settings.abort > 0.0 && rng.gen_bool(settings.abort.clamp(0.0, 1.0));
    (fail_test, abort.then_some(files / 2))
}

impl OtauClient {
    /// Starts with the boot report of `version` when it is `Some` (otau.md
    /// §3.3 rule 10): `INSTALLED_VERSION` before the first poll.
    pub fn booting(mut self, version: Option<String>) -> OtauClient {
        if let Some(v) = version {
            self.installed = Some(v);
            self.step = Step::Boot;
        }
        self
    }

    /// The boot report: the running version (empty if none is known).
    pub(super) fn boot_report(&self) -> StatusReport {
        StatusReport {
            version: self.installed.clone().unwrap_or_default(),
            status: Status::InstalledVersion,
            message: String::new(),
        }
    }

    /// The boot report was written (`refused`: `None`) or refused with
    /// that status: poll for manifests.
    pub(super) fn after_boot(
        &mut self,
        now: Time,
        refused: Option<u16>,
        events: &mut Vec<OtauEvent>,
    ) {
        match refused {
            None => events.push(OtauEvent::StatusAccepted {
                version: self.boot_report().version,
                status: Status::InstalledVersion,
            }),
            Some(status) => events.push(OtauEvent::Rejected {
                kind: super::OtauReq::Status,
                status,
            }),
        }
        self.go(Step::Poll, now)
    }

    /// The cycle is over: poll for the next manifest, or reboot first.
    pub(super) fn end_cycle(&mut self, now: Time, env: &OtauEnv<'_>) {
        let Some(w) = self.work.take() else {
            return self.go(Step::Poll, now);
        };
        self.last_done = Some(w.version);
        if !w.reboot {
            return self.go(Step::Poll, now);
        }
        // The device restarts: what it knew of the cycle is gone, the
        // version it runs is what it knows (so a re-delivery is only ACKed).
        self.last_done = self.installed.clone();
        self.ims = 0;
        self.failures = 0;
        let took = env.settings.reboot_after_install.unwrap_or(Span::ZERO);
        let at = (now + took).max(self.last_write + env.settings.status_gap);
        self.go(Step::Boot, at)
    }

    /// The next status after `status` was written (accepted or not).
    pub(super) fn after_status(&mut self, status: Status, now: Time, env: &OtauEnv<'_>) {
        let gap = env.settings.status_gap;
        self.set_message(String::new());
        let Some(w) = self.work.as_mut() else {
            return self.go(Step::Poll, now);
        };
        match status {
            Status::Init if env.settings.test_phase => self.report(Status::Test, now, gap, env),
            Status::Init | Status::TestSuccess => self.report(Status::Download, now, gap, env),
            Status::Test => self.report(Status::TestStep, now, gap, env),
            Status::TestStep => {
                w.test_steps += 1;
                if w.test_steps < TEST_STEPS {
                    self.report(Status::TestStep, now, gap, env)
                } else if w.fail_test {
                    w.message = "not enough storage for the payload".into();
                    self.report(Status::TestError, now, gap, env)
                } else {
                    self.report(Status::TestSuccess, now, gap, env)
                }
            }
            Status::Download => self.start_file(now, env),
            Status::DownloadStep => {
                w.next_file += 1;
                self.start_file(now, env)
            }
            Status::DownloadSuccess => self.report(Status::Install, now, gap, env),
            Status::Install => self.report(Status::InstallStep, now, gap, env),
            Status::InstallStep => {
                let result = if w.will_fail {
                    Status::InstallError
                } else {
                    Status::InstallSuccess
                };
                if w.will_fail {
                    w.message = "install exited with an unexpected code".into();
                }
                self.report(result, now, env.settings.install_time, env)
            }
            Status::InstallSuccess => {
                self.installed = Some(w.version.clone());
                if env.settings.reboot_after_install.is_none() {
                    return self.report(Status::InstalledVersion, now, gap, env);
                }
                w.reboot = true;
                self.finish(now, env)
            }
            _ => self.finish(now, env),
        }
    }

    /// The last status is written: the ACK if it comes after the install,
    /// then the end of the cycle.
    fn finish(&mut self, now: Time, env: &OtauEnv<'_>) {
        let Some(w) = self.work.as_mut() else {
            return self.go(Step::Poll, now);
        };
        if env.settings.ack == AckMode::AfterInstall && !w.acked {
            w.finished = true;
            return self.go(Step::Ack, now);
        }
        self.end_cycle(now, env)
    }

    /// `INSTALL_ABORTED` instead of file `next_file`, if this cycle is
    /// aborted there; true when it is.
    pub(super) fn abort_here(&mut self, now: Time, env: &OtauEnv<'_>) -> bool {
        let Some(w) = self.work.as_mut() else {
            return false;
        };
        if w.abort_at != Some(w.next_file) {
            return false;
        }
        w.abort_at = None;
        w.message = format!(
            "aborted by the user before file {} of {}",
            w.next_file + 1,
            w.files.len()
        );
        self.report(Status::InstallAborted, now, env.settings.status_gap, env);
        true
    }

    /// Schedules status `status` after `delay`, unless the `skip_status`
    /// misbehaviour drops it (then the flow goes on as if it was written).
    pub(super) fn report(&mut self, status: Status, now: Time, delay: Span, env: &OtauEnv<'_>) {
        if env.settings.skip_status == Some(status) {
            return self.after_status(status, now + delay, env);
        }
        if env.settings.progress_messages && status.is_step() {
            let message = self.progress(status);
            self.set_message(message);
        }
        let at = (now + delay).max(self.last_write + env.settings.status_gap);
        self.go(Step::Report(status), at)
    }

    /// The progress `message` of a `_STEP` status (otau.md §3: "Downloading
    /// file 2 of 5").
    fn progress(&self, status: Status) -> String {
        let Some(w) = self.work.as_ref() else {
            return String::new();
        };
        let n = w.files.len();
        match status {
            Status::TestStep if w.test_steps == 0 => "Checking disk space".to_string(),
            Status::TestStep => format!("Checking {n} payload file(s)"),
            Status::DownloadStep => format!("Downloading file {} of {n}", w.next_file + 1),
            _ => format!("Installing {}", w.version),
        }
    }

    pub(super) fn set_message(&mut self, message: String) {
        if let Some(w) = self.work.as_mut() {
            w.message = message;
        }
    }
}
