//! The long poll's answers (otau.md §4): 304 (poll again, not sooner than
//! the minimum interval), a `config_otau` value, or a refusal to back off from.

use rand::RngCore;

use super::http::{backoff, config_value};
use super::{OtauClient, OtauEnv, Step};
use crate::message::Response;
use crate::protocol::otau::event::{OtauEvent, OtauReq};
use crate::protocol::otau::wire::parse_ims;
use crate::time::Time;

impl OtauClient {
    pub(super) fn on_poll_answer(
        &mut self,
        now: Time,
        resp: &Response,
        env: &OtauEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<OtauEvent>,
    ) {
        match resp.status {
            304 => {
                self.failures = 0;
                events.push(OtauEvent::NotModified {
                    sent: self.sent_at,
                    ims: self.ims,
                    timeout_ms: env.settings.request_timeout_ms,
                });
                let earliest = self.sent_at + env.settings.min_poll_interval;
                self.go(Step::Poll, now.max(earliest))
            }
            200 => match config_value(resp) {
                Some(value) => {
                    self.failures = 0;
                    let last_modified = resp.headers.get("last-modified").and_then(parse_ims);
                    if let (true, Some(t)) = (env.settings.ims_from_last_modified, last_modified) {
                        self.ims = t;
                    }
                    self.on_offer(now, value, env, rng, events)
                }
                None => self.refused_poll(now, 200, env, rng, events),
            },
            status => self.refused_poll(now, status, env, rng, events),
        }
    }

    /// A 400/401/403/404/204 (or a 200 without `config_otau`) on the long
    /// poll: the seed would spin or exit; this client backs off and polls again.
    fn refused_poll(
        &mut self,
        now: Time,
        status: u16,
        env: &OtauEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<OtauEvent>,
    ) {
        events.push(OtauEvent::Rejected {
            kind: OtauReq::LongPoll,
            status,
        });
        self.failures += 1;
        let wait = backoff(env.settings, self.failures, rng);
        self.go(Step::Poll, now + wait)
    }
}
