//! The constrained device as a sans-IO state machine (`docs/guide/cpg.md`, "What a
//! constrained device does").
//!
//! A wake-up starts with the one poll, carrying the result of the last
//! install command until the gateway has accepted it — unless a download is
//! in progress, which the wake-up resumes at once. An offered install is
//! downloaded from its URL — over as many online windows as it takes, resuming
//! with `Range` — checked against size and sha256, installed offline and
//! reported on the next poll. A refused URL (`410`, `403`, `404`) sends the
//! device back to the gateway at once for a fresh one; after
//! [`ConstrainedSettings::max_url_refusals`] it gives up with `url_refused`. Server
//! trouble (5xx, 429, network errors, unreadable answers) is retried with
//! capped exponential backoff; when the window closes, the driver holds the
//! retry until the next one.

use rand::{Rng, RngCore};

use super::event::{ConstrainedEvent, ConstrainedReq};
use super::wire::{online_url, poll_url, PollAnswer, Report, UpdateOffer};
use crate::artifact::{Catalog, Verifier};
use crate::message::{content_range_start, Method, Request, Response};
use crate::protocol::transport::{Delivery, ReqKind, Transmit};
use crate::protocol::Client;
use crate::protocol::{backoff, is_retriable};
use crate::time::{Span, Time};

/// Behaviour settings shared by a group of constrained devices.
#[derive(Clone, Debug)]
pub struct ConstrainedSettings {
    /// Poll interval until the gateway sends one.
    pub default_poll: Span,
    /// Time the offline install takes.
    pub install_time: Span,
    /// Probability that an install fails.
    pub install_failure: f64,
    /// First retry delay.
    pub backoff_base: Span,
    /// Longest retry delay.
    pub backoff_cap: Span,
    /// Refused URLs for one install command before giving up (`url_refused`).
    pub max_url_refusals: u32,
    /// Download attempts in a row without progress before giving up (`download`).
    pub max_download_failures: u32,
    /// Version installed at the start.
    pub initial_version: String,
}

impl Default for ConstrainedSettings {
    fn default() -> Self {
        ConstrainedSettings {
            default_poll: Span::hours(24),
            install_time: Span::secs(30),
            install_failure: 0.0,
            backoff_base: Span::secs(2),
            backoff_cap: Span::minutes(10),
            max_url_refusals: 3,
            max_download_failures: 12,
            initial_version: "1.0.0".to_string(),
        }
    }
}

/// Where and how a device reaches its gateway; borrowed on every call.
pub struct ConstrainedEnv<'a> {
    /// `scheme://host[:port]` of the gateway.
    pub base_url: &'a str,
    /// The device id.
    pub device: &'a str,
    /// Synthetic contents, to verify synthetic downloads.
    pub catalog: &'a Catalog,
    /// Behaviour.
    pub settings: &'a ConstrainedSettings,
}

/// The install command the device works on. Boxed: idle devices pay one pointer.
struct Work {
    offer: UpdateOffer,
    verifier: Verifier,
    url_refusals: u32,
    download_failures: u32,
}

/// A constrained device's client.
pub struct ConstrainedClient {
    step: ConstrainedReq,
    due: Time,
    in_flight: bool,
    /// Consecutive retriable failures of polls and online events.
    failures: u32,
    poll_interval: Option<Span>,
    installed: Option<String>,
    work: Option<Box<Work>>,
    /// The result waiting for the gateway to accept it.
    report: Option<Report>,
    /// The report in flight with the current poll.
    reporting: bool,
    /// The last install command the device finished (any outcome): offers of
    /// it again are not redone.
    done: Option<String>,
}

impl ConstrainedClient {
    /// A client whose first poll is due at `first`.
    pub fn new(first: Time) -> ConstrainedClient {
        ConstrainedClient {
            step: ConstrainedReq::Poll,
            due: first,
            in_flight: false,
            failures: 0,
            poll_interval: None,
            installed: None,
            work: None,
            report: None,
            reporting: false,
            done: None,
        }
    }

    /// When the client next wants to send; [`Time::NEVER`] while a request is in flight.
    pub fn poll_timeout(&self) -> Time {
        if self.in_flight {
            Time::NEVER
        } else {
            self.due
        }
    }

    /// Kind of the request in flight (or of the next one).
    pub fn request_kind(&self) -> ConstrainedReq {
        self.step
    }

    /// URL of the download in flight, if one is (the oracle judges download
    /// answers by their URL).
    pub fn download_in_flight(&self) -> Option<&str> {
        let w = self.work.as_ref().filter(|_| self.in_flight)?;
        (self.step == ConstrainedReq::Download).then_some(w.offer.url.as_deref())?
    }

    /// The download URL of the install command the device works on, as
    /// the gateway handed it out (`None` before an offer, under `connect`
    /// until a URL comes, once refused, and after the command is done).
    pub fn offered_url(&self) -> Option<&str> {
        self.work.as_ref()?.offer.url.as_deref()
    }

    /// The version an update installed, if any.
    pub fn installed(&self) -> Option<&str> {
        self.installed.as_deref()
    }

    /// What to send now, if anything is due.
    pub fn poll_transmit(&mut self, now: Time, env: &ConstrainedEnv<'_>) -> Option<Request> {
        if self.in_flight || now < self.due {
            return None;
        }
        let req = match self.step {
            ConstrainedReq::Poll => {
                let fw = self
                    .installed
                    .as_deref()
                    .unwrap_or(&env.settings.initial_version);
                let have = self.work.as_ref().map(|w| w.verifier.received());
                let url = poll_url(env.base_url, env.device, fw, self.report.as_ref(), have);
                self.reporting = self.report.is_some();
                Request::new(Method::Get, url)
            }
            ConstrainedReq::Online => {
                Request::new(Method::Post, online_url(env.base_url, env.device))
            }
            ConstrainedReq::Download => {
                let w = self.work.as_ref()?;
                let mut req = Request::new(Method::Get, w.offer.url.clone()?);
                let from = w.verifier.received();
                if from > 0 {
                    req.headers.insert("range", format!("bytes={from}-"));
                    req.headers
                        .insert("if-range", format!("\"{}\"", w.offer.sha256));
                }
                req
            }
        };
        self.in_flight = true;
        Some(req)
    }

    /// What came of the request sent last.
    pub fn handle_response(
        &mut self,
        now: Time,
        delivery: Delivery,
        env: &ConstrainedEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<ConstrainedEvent>,
    ) {
        self.in_flight = false;
        if self.step == ConstrainedReq::Download {
            return self.on_download(now, delivery, env, rng, events);
        }
        let answer = match delivery {
            Delivery::Complete(resp) if resp.status == 200 => {
                serde_json::from_slice::<PollAnswer>(resp.body.as_bytes()).ok()
            }
            Delivery::Complete(resp) if !is_retriable(resp.status) => {
                // 404 unknown device, 400: nothing to do until the next wake-up.
                self.failures = 0;
                self.go(ConstrainedReq::Poll, now + self.interval(env));
                return;
            }
            _ => None,
        };
        let Some(answer) = answer else {
            events.push(ConstrainedEvent::Retry { kind: self.step });
            return self.retry(now, self.step, env, rng);
        };
        self.failures = 0;
        if std::mem::take(&mut self.reporting) {
            if let Some(r) = self.report.take() {
                events.push(ConstrainedEvent::Reported {
                    command: r.command,
                    ok: r.ok,
                    detail: r.detail,
                });
            }
        }
        self.on_answer(now, answer, events)
    }

    fn on_answer(&mut self, now: Time, answer: PollAnswer, events: &mut Vec<ConstrainedEvent>) {
        let interval = Span::secs(answer.poll_interval.max(1));
        if self.poll_interval != Some(interval) {
            self.poll_interval = Some(interval);
            events.push(ConstrainedEvent::Interval {
                seconds: answer.poll_interval,
            });
        }
        let offer = answer
            .update
            .filter(|o| self.done.as_deref() != Some(o.command.as_str()));
        let Some(offer) = offer else {
            self.work = None;
            return self.go(ConstrainedReq::Poll, now + interval);
        };
        events.push(ConstrainedEvent::Offered {
            command: offer.command.clone(),
            size: offer.size,
            url: offer.url.clone(),
            connect: offer.connect,
        });
        let usable_url = offer.url.is_some();
        let connect = offer.connect && !usable_url && self.step == ConstrainedReq::Poll;
        match self.work.as_mut() {
            Some(w) if w.offer.command == offer.command && w.offer.sha256 == offer.sha256 => {
                // Same install command: keep what is downloaded, take the new URL.
                if usable_url {
                    w.offer.url = offer.url;
                }
            }
            _ => {
                self.work = Some(Box::new(Work {
                    offer,
                    verifier: Verifier::new(),
                    url_refusals: 0,
                    download_failures: 0,
                }));
            }
        }
        if connect {
            self.go(ConstrainedReq::Online, now)
        } else if usable_url {
            self.go(ConstrainedReq::Download, now)
        } else {
            self.go(ConstrainedReq::Poll, now + interval)
        }
    }

    fn on_download(
        &mut self,
        now: Time,
        delivery: Delivery,
        env: &ConstrainedEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<ConstrainedEvent>,
    ) {
        let (resp, complete) = match delivery {
            Delivery::Complete(resp) if is_retriable(resp.status) => {
                events.push(ConstrainedEvent::Retry {
                    kind: ConstrainedReq::Download,
                });
                return self.download_failed(now, env, rng, events);
            }
            Delivery::Complete(resp) => (resp, true),
            Delivery::Broken(_, partial) => {
                events.push(ConstrainedEvent::Retry {
                    kind: ConstrainedReq::Download,
                });
                if let Some(resp) = partial {
                    self.append(&resp);
                }
                return self.download_failed(now, env, rng, events);
            }
        };
        let Some(w) = self.work.as_mut() else {
            return self.go(ConstrainedReq::Poll, now);
        };
        match resp.status {
            200 | 206 => {}
            416 => {
                w.verifier = Verifier::new();
                return self.download_failed(now, env, rng, events);
            }
            status => return self.url_refused(now, status, env, events),
        }
        let before = w.verifier.received();
        self.append(&resp);
        let Some(w) = self.work.as_mut() else { return };
        let received = w.verifier.received();
        if received > before {
            w.download_failures = 0;
        }
        if complete && received < w.offer.size {
            return self.download_failed(now, env, rng, events);
        }
        self.finish_download(now, env, rng, events)
    }

    /// Appends a (possibly partial) `200`/`206` body to the download.
    fn append(&mut self, resp: &Response) {
        let Some(w) = self.work.as_mut() else { return };
        let start = match resp.status {
            200 => 0,
            206 => match resp
                .headers
                .get("content-range")
                .and_then(content_range_start)
            {
                Some(start) => start,
                None => return,
            },
            _ => return,
        };
        w.verifier.take_answer(start, &resp.body);
    }

    fn finish_download(
        &mut self,
        now: Time,
        env: &ConstrainedEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<ConstrainedEvent>,
    ) {
        let Some(w) = self.work.take() else { return };
        let received = w.verifier.received();
        let command = w.offer.command.clone();
        if received != w.offer.size {
            return self.fail(now, command, "size", events);
        }
        let hashes = w.verifier.finish(env.catalog);
        if !hashes.is_some_and(|h| h.sha256.eq_ignore_ascii_case(&w.offer.sha256)) {
            return self.fail(now, command, "hash", events);
        }
        events.push(ConstrainedEvent::Downloaded {
            command: command.clone(),
        });
        let ok = !rng.gen_bool(env.settings.install_failure.clamp(0.0, 1.0));
        events.push(ConstrainedEvent::Installed {
            command: command.clone(),
            ok,
        });
        if ok {
            self.installed = Some(w.offer.version.clone());
        }
        self.done = Some(command.clone());
        self.report = Some(Report {
            command,
            ok,
            detail: (!ok).then(|| "install".to_string()),
        });
        // The install runs offline; the result goes out with the next poll.
        self.go(ConstrainedReq::Poll, now + env.settings.install_time)
    }

    /// The URL is unusable: back to the gateway at once for a fresh one.
    fn url_refused(
        &mut self,
        now: Time,
        status: u16,
        env: &ConstrainedEnv<'_>,
        events: &mut Vec<ConstrainedEvent>,
    ) {
        let Some(w) = self.work.as_mut() else { return };
        w.url_refusals += 1;
        events.push(ConstrainedEvent::UrlRefused {
            command: w.offer.command.clone(),
            url: w.offer.url.take().unwrap_or_default(),
            status,
        });
        if w.url_refusals >= env.settings.max_url_refusals {
            let command = w.offer.command.clone();
            self.work = None;
            return self.fail(now, command, "url_refused", events);
        }
        self.go(ConstrainedReq::Poll, now)
    }

    /// One download attempt without a whole file: resume after a backoff, or
    /// give up after too many attempts in a row without progress.
    fn download_failed(
        &mut self,
        now: Time,
        env: &ConstrainedEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<ConstrainedEvent>,
    ) {
        let Some(w) = self.work.as_mut() else {
            return self.go(ConstrainedReq::Poll, now);
        };
        w.download_failures += 1;
        let failures = w.download_failures;
        if failures > env.settings.max_download_failures {
            let command = w.offer.command.clone();
            self.work = None;
            return self.fail(now, command, "download", events);
        }
        let s = env.settings;
        self.go(
            ConstrainedReq::Download,
            now + backoff(s.backoff_base, s.backoff_cap, failures, rng),
        )
    }

    /// Gives up on `command`; the failure is reported with the next poll, at once.
    fn fail(
        &mut self,
        now: Time,
        command: String,
        detail: &'static str,
        events: &mut Vec<ConstrainedEvent>,
    ) {
        events.push(ConstrainedEvent::Failed {
            command: command.clone(),
            detail,
        });
        self.work = None;
        self.done = Some(command.clone());
        self.report = Some(Report {
            command,
            ok: false,
            detail: Some(detail.to_string()),
        });
        self.go(ConstrainedReq::Poll, now)
    }

    fn retry(
        &mut self,
        now: Time,
        step: ConstrainedReq,
        env: &ConstrainedEnv<'_>,
        rng: &mut dyn RngCore,
    ) {
        self.failures += 1;
        let s = env.settings;
        let wait = backoff(s.backoff_base, s.backoff_cap, self.failures, rng);
        self.go(step, now + wait)
    }

    fn interval(&self, env: &ConstrainedEnv<'_>) -> Span {
        self.poll_interval.unwrap_or(env.settings.default_poll)
    }

    fn go(&mut self, step: ConstrainedReq, at: Time) {
        self.step = step;
        self.due = at;
    }
}

/// Constrained devices report each request they send as a
/// [`ConstrainedEvent::Sent`].
impl Client for ConstrainedClient {
    type Env<'a> = ConstrainedEnv<'a>;
    type Event = ConstrainedEvent;

    fn poll_timeout(&self) -> Time {
        ConstrainedClient::poll_timeout(self)
    }

    fn request_kind(&self) -> ReqKind {
        ReqKind::from(self.step)
    }

    fn poll_transmit(
        &mut self,
        now: Time,
        env: &ConstrainedEnv<'_>,
        _rng: &mut dyn RngCore,
        events: &mut Vec<ConstrainedEvent>,
    ) -> Option<Transmit> {
        let req = ConstrainedClient::poll_transmit(self, now, env)?;
        events.push(ConstrainedEvent::Sent { kind: self.step });
        Some(Transmit::Http(req))
    }

    fn handle_response(
        &mut self,
        now: Time,
        delivery: Delivery,
        env: &ConstrainedEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<ConstrainedEvent>,
    ) {
        ConstrainedClient::handle_response(self, now, delivery, env, rng, events)
    }
}
