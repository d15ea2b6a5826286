//! How a group of OTAU devices behaves: timing, failure rates, the ACK's
//! place in the flow, misbehaviours and the transport.

use super::Transport;
use crate::protocol::otau::wire::{Status, MAX_REQUEST_TIMEOUT_MS};
use crate::time::Span;

/// When the device writes `config_otau` back (otau.md §5, §11).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AckMode {
    /// Right after receiving it, before `INIT` (the seed).
    #[default]
    BeforeInit,
    /// After the final status ("in case of power / update process failures", the seed's comment).
    AfterInstall,
    /// Never (misbehaviour: tests a server's re-delivery and OTAU-ACK).
    Never,
}

/// Behaviour settings shared by a group of devices.
#[derive(Clone, Debug)]
pub struct OtauSettings {
    /// `Request-Timeout` of the long poll in ms (the seed: the maximum, 300 000).
    pub request_timeout_ms: u64,
    /// Pause before each status write (the seed sleeps 3 s; ≥ 1 s keeps the
    /// "one write per second" rule of otau.md §4).
    pub status_gap: Span,
    /// Time from `INSTALL_STEP` to the install result.
    pub install_time: Span,
    /// Probability that an install fails (`INSTALL_ERROR`).
    pub install_failure: f64,
    /// First retry delay.
    pub backoff_base: Span,
    /// Longest retry delay.
    pub backoff_cap: Span,
    /// Failed attempts on one file before `DOWNLOAD_ERROR`.
    pub max_download_failures: u32,
    /// A long poll is not repeated sooner than this after the previous one
    /// was sent (the seed re-polls at once; this keeps a server that answers
    /// 304 immediately from spinning a fleet in a hot loop).
    pub min_poll_interval: Span,
    /// When the manifest is acknowledged.
    pub ack: AckMode,
    /// Send the previous delivery's `Last-Modified` as `If-Modified-Since`
    /// (murano-client 18.8.17) instead of the seed's constant `0`.
    pub ims_from_last_modified: bool,
    /// Misbehaviour (to test the oracle): never send this status.
    pub skip_status: Option<Status>,
    /// Misbehaviour: report `INSTALLED_VERSION` with a version that is not the manifest's.
    pub wrong_installed_version: bool,
    /// HTTP long poll (the seed) or MQTT.
    pub transport: Transport,
    /// Report a test phase between `INIT` and `DOWNLOAD` (otau.md §3.1):
    /// `TEST`, two `TEST_STEP`s (disk space, payload check), `TEST_SUCCESS`.
    pub test_phase: bool,
    /// Probability that the test phase fails: `TEST_ERROR` after the
    /// second `TEST_STEP` (only with `test_phase`).
    pub test_failure: f64,
    /// `message`s on the `_STEP` statuses, as the schema's example
    /// ("Downloading file 2 of 5", otau.md §3); the seed sends `""`.
    pub progress_messages: bool,
    /// Probability that a cycle is aborted mid-download (a user cancels):
    /// `INSTALL_ABORTED` instead of the next file, halfway through the payload.
    pub abort: f64,
    /// After `INSTALL_SUCCESS` the device reboots into the new version, which
    /// takes this long, and reports `INSTALLED_VERSION` at boot (otau.md
    /// §3.1: "following a successful update or device bootup"), with the
    /// manifest forgotten and `If-Modified-Since` back at 0.
    pub reboot_after_install: Option<Span>,
    /// The version the device runs at its first start: it reports
    /// `INSTALLED_VERSION` of it before its first poll, with no manifest
    /// (otau.md §3.3 rule 10). `None`: no boot report (the seed).
    pub boot_version: Option<String>,
    /// The device activates (`POST /provision/activate`, otau.md §4.5) on
    /// its first start and uses the token it gets; otherwise it is
    /// pre-provisioned with its CIK. Read by the fleet when it builds the
    /// client ([`super::OtauClient::activating`]).
    pub activate: bool,
}

impl Default for OtauSettings {
    fn default() -> Self {
        OtauSettings {
            request_timeout_ms: MAX_REQUEST_TIMEOUT_MS,
            status_gap: Span::secs(3),
            install_time: Span::secs(30),
            install_failure: 0.0,
            backoff_base: Span::secs(2),
            backoff_cap: Span::minutes(10),
            max_download_failures: 12,
            min_poll_interval: Span::secs(1),
            ack: AckMode::BeforeInit,
            ims_from_last_modified: false,
            skip_status: None,
            wrong_installed_version: false,
            transport: Transport::Http,
            test_phase: false,
            test_failure: 0.0,
            progress_messages: false,
            abort: 0.0,
            reboot_after_install: None,
            boot_version: None,
            activate: false,
        }
    }
}
