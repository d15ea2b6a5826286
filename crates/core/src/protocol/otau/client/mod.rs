//! The device side of OTAU over HTTP as a sans-IO state machine.
//!
//! Same contract as every client ([`crate::protocol::Client`]): the
//! driver asks [`OtauClient::poll_timeout`] when the client wants to act,
//! takes the request from [`OtauClient::poll_transmit`] and hands back what
//! came of it with [`OtauClient::handle_response`]; observations are pushed as
//! [`OtauEvent`]s. One request is in flight at a time, as in the seed client.
//!
//! Flow (otau.md §9, the seed's order): long-poll `config_otau`
//! (`Request-Timeout`, `If-Modified-Since: 0`) → write the value back (ACK,
//! §5) → `INIT` → `DOWNLOAD` → per payload file: `info=true`, the content
//! (Range resume after an interruption, size + sha256 check when the info line
//! carries one) and `DOWNLOAD_STEP` → `DOWNLOAD_SUCCESS` → `INSTALL` →
//! `INSTALL_STEP` → `INSTALL_SUCCESS` → `INSTALLED_VERSION`. Failures end the
//! cycle with `TEST_ERROR` (manifest refused), `DOWNLOAD_ERROR` or
//! `INSTALL_ERROR`. Network errors, 5xx and 429 are retried with capped
//! exponential backoff; any other status on a write is logged and the flow
//! goes on, as in the seed (which ignores write answers).
//!
//! With [`Transport::Mqtt`] (otau.md §8) the same flow runs without long
//! polls: the driver hands incoming `config_otau` values to
//! [`OtauClient::handle_message`], the ACK and the statuses come out of
//! [`OtauClient::poll_transmit`] as [`Transmit::Publish`] and their PUBACKs
//! (or failures) go back through [`OtauClient::handle_published`]; content
//! downloads stay HTTP ([`Transmit::Http`]); see `mqtt.rs`.

use rand::{Rng, RngCore};

use crate::artifact::{Catalog, Verifier};
use crate::message::NetError;
use crate::message::{Method, Request};
use crate::protocol::transport::{Delivery, ReqKind};
use crate::protocol::Client;
use crate::time::{Span, Time};

use super::event::{OtauEvent, OtauReq};
use super::wire::{form_encode, Manifest, Status, StatusReport};

mod activate;
mod download;
mod http;
mod mqtt;
mod phases;
mod poll;
mod settings;

use crate::protocol::transport::Transmit;
pub use mqtt::Transport;
pub use settings::{AckMode, OtauSettings};

use crate::protocol::is_retriable;
use http::{backoff, config_value, report_version, write_request};

/// Where and how a device reaches its server; borrowed on every call.
pub struct OtauEnv<'a> {
    /// `scheme://host[:port]` of the server.
    pub base_url: &'a str,
    /// The device's CIK (token), sent as `X-Exosite-CIK`.
    pub cik: &'a str,
    /// Synthetic contents, to verify synthetic downloads.
    pub catalog: &'a Catalog,
    /// Behaviour.
    pub settings: &'a OtauSettings,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// `POST /provision/activate` before anything else.
    Activate,
    Poll,
    /// The boot report: `INSTALLED_VERSION` of the running version, no manifest.
    Boot,
    Ack,
    Report(Status),
    Info,
    Fetch,
}

impl Step {
    fn kind(self) -> OtauReq {
        match self {
            Step::Poll => OtauReq::LongPoll,
            Step::Activate => OtauReq::Activate,
            Step::Ack => OtauReq::Ack,
            Step::Report(_) | Step::Boot => OtauReq::Status,
            Step::Info => OtauReq::Info,
            Step::Fetch => OtauReq::Download,
        }
    }
}

/// What the device does after the ACK.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Plan {
    /// Run the update.
    Update,
    /// Report `TEST_ERROR` with this reason.
    Refuse(String),
    /// Already done (a re-delivery): ACK again and go back to polling.
    AckOnly,
}

/// The manifest the device is working on. Boxed: idle devices pay one pointer.
struct Work {
    version: String,
    /// The decoded `config_otau` value, written back as the ACK.
    raw: String,
    plan: Plan,
    files: Vec<String>,
    next_file: usize,
    /// Size and sha256 from the current file's info line.
    expected: Option<(u64, Option<String>)>,
    verifier: Verifier,
    download_failures: u32,
    /// The server accepted the write-back.
    acked: bool,
    /// The final status has been written; only the ACK (AfterInstall) is left.
    finished: bool,
    /// Message of the next status (error reasons).
    message: String,
    will_fail: bool,
    /// `TEST_STEP`s written so far.
    test_steps: u8,
    /// The test phase ends in `TEST_ERROR`.
    fail_test: bool,
    /// The cycle is aborted instead of starting this file.
    abort_at: Option<usize>,
    /// The device reboots when the cycle ends (after its ACK).
    reboot: bool,
}

/// An OTAU HTTP device client.
pub struct OtauClient {
    step: Step,
    due: Time,
    in_flight: bool,
    sent_at: Time,
    /// `If-Modified-Since` to send (unix seconds; 0 = since 1970, the seed).
    ims: u64,
    /// When the last `otau_in` write was sent, then answered (the 1 write/s
    /// rule spans cycles).
    last_write: Time,
    failures: u32,
    work: Option<Box<Work>>,
    /// Version running on the device.
    installed: Option<String>,
    /// Version of the last manifest this device finished (any outcome).
    last_done: Option<String>,
    /// Learnt from the settings on every call that has them: in MQTT mode the
    /// idle (Poll) step sends nothing and waits for a message.
    transport: Transport,
    /// Identity and next step while not yet activated.
    activation: Option<Box<activate::Activation>>,
    /// The token activation returned (the CIK from then on).
    token: Option<String>,
}

impl OtauClient {
    /// A client whose first long poll is due at `first_poll`.
    pub fn new(first_poll: Time) -> OtauClient {
        OtauClient {
            step: Step::Poll,
            due: first_poll,
            in_flight: false,
            sent_at: Time::ZERO,
            ims: 0,
            last_write: Time::ZERO,
            failures: 0,
            work: None,
            installed: None,
            last_done: None,
            transport: Transport::Http,
            activation: None,
            token: None,
        }
    }

    /// A client for `transport`; with [`Transport::Mqtt`] it waits for a
    /// `config_otau` message from the start ([`OtauClient::poll_timeout`] is
    /// [`Time::NEVER`] while idle).
    pub fn with_transport(first_poll: Time, transport: Transport) -> OtauClient {
        OtauClient {
            transport,
            ..OtauClient::new(first_poll)
        }
    }

    /// When the client next wants to send; [`Time::NEVER`] while a request is in flight.
    pub fn poll_timeout(&self) -> Time {
        if self.in_flight || self.mqtt_idle() {
            Time::NEVER
        } else {
            self.due
        }
    }

    /// Kind of the request in flight (or of the next one).
    pub fn request_kind(&self) -> OtauReq {
        self.step.kind()
    }

    /// The version running on the device, if any update succeeded.
    pub fn installed(&self) -> Option<&str> {
        self.installed.as_deref()
    }

    /// True while the device works on a manifest.
    pub fn busy(&self) -> bool {
        self.work.is_some()
    }

    /// What to send now, if anything is due.
    pub fn poll_transmit(&mut self, now: Time, env: &OtauEnv<'_>) -> Option<Transmit> {
        self.transport = env.settings.transport;
        if self.in_flight || now < self.due || self.mqtt_idle() {
            return None;
        }
        if self.transport == Transport::Mqtt {
            if let Some(publish) = self.publish_now(now, env) {
                return Some(publish);
            }
        }
        let base = env.base_url;
        let mut req = match self.step {
            Step::Poll => {
                let mut r = Request::new(
                    Method::Get,
                    format!("{base}/onep:v1/stack/alias?config_otau"),
                );
                r.headers
                    .insert("accept", "application/x-www-form-urlencoded; charset=utf-8");
                r.headers.insert(
                    "request-timeout",
                    env.settings.request_timeout_ms.to_string(),
                );
                r.headers.insert("if-modified-since", self.ims.to_string());
                r
            }
            Step::Ack => {
                let w = self.work.as_ref()?;
                write_request(base, &form_encode(&[("config_otau", &w.raw)]))
            }
            Step::Report(status) => {
                let w = self.work.as_ref()?;
                let version = report_version(&w.version, status, env.settings);
                let report = StatusReport {
                    version,
                    status,
                    message: w.message.clone(),
                };
                write_request(base, &form_encode(&[("otau_in", &report.to_json())]))
            }
            Step::Boot => write_request(
                base,
                &form_encode(&[("otau_in", &self.boot_report().to_json())]),
            ),
            Step::Info | Step::Fetch => self.download_request(base)?,
            Step::Activate => self.activate_request(base)?,
        };
        if self.step != Step::Activate {
            req.headers
                .insert("x-exosite-cik", self.cik(env).to_string());
        }
        self.in_flight = true;
        self.sent_at = now;
        if matches!(self.step, Step::Report(_) | Step::Boot) {
            self.last_write = now;
        }
        Some(Transmit::Http(req))
    }

    /// What came of the request sent last.
    pub fn handle_response(
        &mut self,
        now: Time,
        delivery: Delivery,
        env: &OtauEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<OtauEvent>,
    ) {
        self.transport = env.settings.transport;
        self.in_flight = false;
        let step = self.step;
        if matches!(step, Step::Info | Step::Fetch) {
            return self.handle_download(now, delivery, env, rng, events);
        }
        let resp = match delivery {
            Delivery::Complete(resp) if !is_retriable(resp.status) => resp,
            Delivery::Complete(_) => return self.retry(now, step, None, env, rng, events),
            Delivery::Broken(e, _) => return self.retry(now, step, Some(e), env, rng, events),
        };
        if matches!(step, Step::Report(_) | Step::Boot) {
            // The next write keeps its gap from this answer: a slow answer
            // must not bring the two writes closer than the gap as the
            // server (and OTAU-WRITE-RATE) sees them (a boot report answered
            // late, then a pending manifest's INIT right after its ACK).
            self.last_write = now;
        }
        if !matches!(step, Step::Poll | Step::Activate) {
            // A long poll's answer may still be unusable (refused_poll): the
            // backoff keeps growing until one is usable.
            self.failures = 0;
        }
        match step {
            Step::Activate => self.on_activation(now, &resp, env, rng, events),
            Step::Poll => self.on_poll_answer(now, &resp, env, rng, events),
            Step::Ack => {
                let Some(w) = self.work.as_ref() else {
                    return self.go(Step::Poll, now);
                };
                if resp.is_success() {
                    events.push(OtauEvent::Acked {
                        version: w.version.clone(),
                    });
                } else {
                    events.push(OtauEvent::Rejected {
                        kind: OtauReq::Ack,
                        status: resp.status,
                    });
                }
                self.after_ack(now, env, rng)
            }
            Step::Report(status) => {
                if resp.is_success() {
                    let version = self
                        .work
                        .as_ref()
                        .map(|w| report_version(&w.version, status, env.settings))
                        .unwrap_or_default();
                    events.push(OtauEvent::StatusAccepted { version, status });
                    if let Some(value) = config_value(&resp) {
                        self.on_offer(now, value, env, rng, events);
                    }
                } else {
                    events.push(OtauEvent::Rejected {
                        kind: OtauReq::Status,
                        status: resp.status,
                    });
                }
                self.after_status(status, now, env);
            }
            Step::Boot => self.after_boot(now, (!resp.is_success()).then_some(resp.status), events),
            Step::Info | Step::Fetch => {}
        }
    }

    /// A `config_otau` value arrived. Idle: start on it. Busy (a write's
    /// read-back): note it and carry on; it is still pending on the server.
    pub(super) fn on_offer(
        &mut self,
        now: Time,
        value: String,
        env: &OtauEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<OtauEvent>,
    ) {
        let version = Manifest::version_of(&value).unwrap_or_default();
        events.push(OtauEvent::Offered {
            version: version.clone(),
            busy: self.work.is_some(),
        });
        if self.work.is_some() {
            return;
        }
        let (plan, files) = match Manifest::parse(&value) {
            _ if self.last_done.as_deref() == Some(version.as_str()) && !version.is_empty() => {
                (Plan::AckOnly, Vec::new())
            }
            Ok(m) => {
                events.push(OtauEvent::Started {
                    version: version.clone(),
                    files: m.files.len() as u32,
                });
                (Plan::Update, m.files)
            }
            Err(e) => {
                events.push(OtauEvent::Refused {
                    version: version.clone(),
                    reason: e.to_string(),
                });
                (Plan::Refuse(e.to_string()), Vec::new())
            }
        };
        let will_fail = rng.gen_bool(env.settings.install_failure.clamp(0.0, 1.0));
        let (fail_test, abort_at) = phases::fates(env.settings, files.len(), rng);
        self.work = Some(Box::new(Work {
            version,
            raw: value,
            plan,
            files,
            next_file: 0,
            expected: None,
            verifier: Verifier::new(),
            download_failures: 0,
            acked: false,
            finished: false,
            message: String::new(),
            will_fail,
            test_steps: 0,
            fail_test,
            abort_at,
            reboot: false,
        }));
        if env.settings.ack == AckMode::BeforeInit {
            self.go(Step::Ack, now)
        } else {
            self.start_plan(now, env, rng)
        }
    }

    fn after_ack(&mut self, now: Time, env: &OtauEnv<'_>, rng: &mut dyn RngCore) {
        let Some(w) = self.work.as_mut() else {
            return self.go(Step::Poll, now);
        };
        w.acked = true;
        if w.plan == Plan::AckOnly {
            self.work = None;
            let wait = backoff(env.settings, 1, rng);
            return self.go(Step::Poll, now + wait);
        }
        if w.finished {
            return self.end_cycle(now, env);
        }
        self.start_plan(now, env, rng)
    }

    /// What follows the ACK (or the offer, when the ACK comes later or never).
    fn start_plan(&mut self, now: Time, env: &OtauEnv<'_>, rng: &mut dyn RngCore) {
        let Some(w) = self.work.as_mut() else {
            return self.go(Step::Poll, now);
        };
        match w.plan.clone() {
            Plan::Update => self.report(Status::Init, now, Span::ZERO, env),
            Plan::Refuse(reason) => {
                self.set_message(reason);
                self.report(Status::TestError, now, Span::ZERO, env)
            }
            Plan::AckOnly if env.settings.ack == AckMode::Never || w.acked => {
                self.work = None;
                let wait = backoff(env.settings, 1, rng);
                self.go(Step::Poll, now + wait)
            }
            Plan::AckOnly => self.go(Step::Ack, now),
        }
    }

    fn retry(
        &mut self,
        now: Time,
        step: Step,
        error: Option<NetError>,
        env: &OtauEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<OtauEvent>,
    ) {
        events.push(OtauEvent::Retry {
            kind: step.kind(),
            error,
        });
        self.failures += 1;
        let wait = backoff(env.settings, self.failures, rng);
        self.go(step, now + wait)
    }

    fn go(&mut self, step: Step, at: Time) {
        self.step = step;
        self.due = at;
    }
}

impl Client for OtauClient {
    type Env<'a> = OtauEnv<'a>;
    type Event = OtauEvent;

    fn poll_timeout(&self) -> Time {
        OtauClient::poll_timeout(self)
    }

    fn request_kind(&self) -> ReqKind {
        ReqKind::from(self.step.kind())
    }

    fn poll_transmit(
        &mut self,
        now: Time,
        env: &OtauEnv<'_>,
        _rng: &mut dyn RngCore,
        _events: &mut Vec<OtauEvent>,
    ) -> Option<Transmit> {
        OtauClient::poll_transmit(self, now, env)
    }

    fn handle_response(
        &mut self,
        now: Time,
        delivery: Delivery,
        env: &OtauEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<OtauEvent>,
    ) {
        OtauClient::handle_response(self, now, delivery, env, rng, events)
    }

    fn handle_published(
        &mut self,
        now: Time,
        result: Result<(), NetError>,
        env: &OtauEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<OtauEvent>,
    ) {
        OtauClient::handle_published(self, now, result, env, rng, events)
    }

    fn handle_message(
        &mut self,
        now: Time,
        alias: &str,
        value: &str,
        env: &OtauEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<OtauEvent>,
    ) {
        OtauClient::handle_message(self, now, alias, value, env, rng, events)
    }
}

#[cfg(test)]
mod phase_tests;
#[cfg(test)]
mod tests;
