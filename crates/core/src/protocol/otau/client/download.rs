//! Downloading a manifest's payload files (otau.md §4.4): `info=true` for
//! size and hash, then the content, resumed with `Range: bytes=<n>-` after an
//! interruption, restarted when a server ignores Range, and checked against
//! the info line (size, and sha256 when its meta carries one) at the end.

use rand::RngCore;

use super::http::{backoff, content_url};
use super::{OtauClient, OtauEnv, Step};
use crate::artifact::Verifier;
use crate::message::{Request, Response};
use crate::protocol::is_retriable;
use crate::protocol::otau::event::{OtauEvent, OtauReq};
use crate::protocol::otau::wire::{ContentInfoLine, Status};
use crate::protocol::transport::Delivery;
use crate::time::{Span, Time};

impl OtauClient {
    pub(super) fn download_request(&self, base: &str) -> Option<Request> {
        let w = self.work.as_ref()?;
        let file = w.files.get(w.next_file)?;
        let info = self.step == Step::Info;
        let mut req = Request::new(crate::message::Method::Get, content_url(base, file, info));
        let from = w.verifier.received();
        if !info && from > 0 {
            req.headers.insert("range", format!("bytes={from}-"));
        }
        Some(req)
    }

    /// Starts the current file (unless the cycle is aborted before it), or
    /// reports `DOWNLOAD_SUCCESS` after the last.
    pub(super) fn start_file(&mut self, now: Time, env: &OtauEnv<'_>) {
        if self.abort_here(now, env) {
            return;
        }
        let Some(w) = self.work.as_mut() else { return };
        w.expected = None;
        w.verifier = Verifier::new();
        w.download_failures = 0;
        match w.files.get(w.next_file) {
            None => self.report(Status::DownloadSuccess, now, env.settings.status_gap, env),
            Some(f) if f.contains("://") => self.go(Step::Fetch, now),
            Some(_) => self.go(Step::Info, now),
        }
    }

    pub(super) fn handle_download(
        &mut self,
        now: Time,
        delivery: Delivery,
        env: &OtauEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<OtauEvent>,
    ) {
        let step = self.step;
        let kind = step.kind();
        match delivery {
            Delivery::Complete(resp) if is_retriable(resp.status) => {
                events.push(OtauEvent::Retry { kind, error: None });
                self.download_failed(now, env, rng, "server error")
            }
            Delivery::Complete(resp) if step == Step::Info => self.on_info(now, &resp, env, events),
            Delivery::Complete(resp) => self.on_content(now, resp, true, env, rng, events),
            Delivery::Broken(error, partial) => {
                events.push(OtauEvent::Retry {
                    kind,
                    error: Some(error),
                });
                if let (Step::Fetch, Some(resp)) = (step, partial) {
                    self.on_content(now, resp, false, env, rng, events);
                }
                self.download_failed(now, env, rng, "connection lost")
            }
        }
    }

    fn on_info(
        &mut self,
        now: Time,
        resp: &Response,
        env: &OtauEnv<'_>,
        events: &mut Vec<OtauEvent>,
    ) {
        let line = (resp.status == 200)
            .then(|| std::str::from_utf8(resp.body.as_bytes()).ok())
            .flatten()
            .and_then(ContentInfoLine::parse);
        let Some(line) = line else {
            events.push(OtauEvent::Rejected {
                kind: OtauReq::Info,
                status: resp.status,
            });
            self.content_refused(resp.status, events);
            return self.give_up(now, env, format!("info answered {}", resp.status));
        };
        if let Some(w) = self.work.as_mut() {
            w.expected = Some((line.size, line.sha256().map(str::to_string)));
        }
        self.go(Step::Fetch, now)
    }

    /// Appends a (possibly partial) content answer; `complete`: the whole
    /// answer arrived, so the file ends here unless the info size says more.
    fn on_content(
        &mut self,
        now: Time,
        resp: Response,
        complete: bool,
        env: &OtauEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<OtauEvent>,
    ) {
        let Some(w) = self.work.as_mut() else { return };
        let start = match resp.status {
            200 => 0,
            206 => resp
                .headers
                .get("content-range")
                .and_then(crate::message::content_range_start)
                .unwrap_or_default(),
            416 if complete => {
                w.verifier = Verifier::new();
                return self.download_failed(now, env, rng, "range not satisfiable");
            }
            status => {
                if complete {
                    events.push(OtauEvent::Rejected {
                        kind: OtauReq::Download,
                        status,
                    });
                    self.content_refused(status, events);
                    return self.give_up(now, env, format!("download answered {status}"));
                }
                return;
            }
        };
        if !w.verifier.take_answer(start, &resp.body) {
            return;
        }
        if !complete {
            return;
        }
        let received = w.verifier.received();
        if w.expected
            .as_ref()
            .is_some_and(|(size, _)| received < *size)
        {
            return self.download_failed(now, env, rng, "short body");
        }
        self.finish_file(now, env, events)
    }

    fn finish_file(&mut self, now: Time, env: &OtauEnv<'_>, events: &mut Vec<OtauEvent>) {
        let Some(w) = self.work.as_mut() else { return };
        let verifier = std::mem::take(&mut w.verifier);
        let received = verifier.received();
        let hashes = verifier.finish(env.catalog);
        let ok = match &w.expected {
            None => true,
            Some((size, sha)) => {
                *size == received
                    && match sha {
                        None => true,
                        Some(sha) => hashes.is_some_and(|h| h.sha256.eq_ignore_ascii_case(sha)),
                    }
            }
        };
        if !ok {
            let file = w.files.get(w.next_file).cloned().unwrap_or_default();
            events.push(OtauEvent::ContentMismatch { file: file.clone() });
            return self.give_up(now, env, format!("{file}: size or sha256 mismatch"));
        }
        self.report(Status::DownloadStep, now, env.settings.status_gap, env)
    }

    /// A 403/404/410 for the current file: [`OtauEvent::ContentRefused`]
    /// when it is connector content (an absolute URL may expire).
    fn content_refused(&self, status: u16, events: &mut Vec<OtauEvent>) {
        let Some(file) = self.work.as_ref().and_then(|w| w.files.get(w.next_file)) else {
            return;
        };
        if matches!(status, 403 | 404 | 410) && !file.contains("://") {
            events.push(OtauEvent::ContentRefused {
                file: file.clone(),
                status,
            });
        }
    }

    /// One failed attempt on the current file: retry (resuming) with backoff,
    /// or `DOWNLOAD_ERROR` after `max_download_failures`.
    fn download_failed(&mut self, now: Time, env: &OtauEnv<'_>, rng: &mut dyn RngCore, why: &str) {
        let Some(w) = self.work.as_mut() else { return };
        w.download_failures += 1;
        if w.download_failures > env.settings.max_download_failures {
            let message = format!("{why} after {} attempts", w.download_failures);
            return self.give_up(now, env, message);
        }
        let wait = backoff(env.settings, w.download_failures, rng);
        let absolute = w.files.get(w.next_file).is_some_and(|f| f.contains("://"));
        let step = if w.expected.is_none() && !absolute {
            Step::Info
        } else {
            Step::Fetch
        };
        self.go(step, now + wait)
    }

    fn give_up(&mut self, now: Time, env: &OtauEnv<'_>, message: String) {
        self.set_message(message);
        self.report(
            Status::DownloadError,
            now,
            Span::ZERO.max(env.settings.status_gap),
            env,
        )
    }
}
