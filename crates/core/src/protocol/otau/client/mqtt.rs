//! The MQTT side of the OTAU client (otau.md §8): the ACK and the statuses
//! as resource publishes, incoming `config_otau` messages instead of long
//! polls. The flow, its timing and its events are those of the HTTP path;
//! only the transport of the two resources differs. Content downloads stay
//! HTTP and go through [`OtauClient::handle_response`]. Also home of
//! [`Transport`].

use rand::RngCore;

use super::http::report_version;
use super::{OtauClient, OtauEnv, Step};
use crate::message::NetError;
use crate::protocol::otau::event::OtauEvent;
use crate::protocol::otau::wire::StatusReport;
use crate::protocol::transport::Transmit;
use crate::time::Time;

/// How the device reaches the `config_otau`/`otau_in` resources (otau.md §1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// Long poll and form writes over the HTTP device API (otau.md §4).
    #[default]
    Http,
    /// A subscription to `config_otau` and publishes to `otau_in` (otau.md
    /// §8); content is still downloaded over HTTP.
    Mqtt,
}

impl OtauClient {
    /// MQTT and nothing to do but wait for a `config_otau` message.
    pub(super) fn mqtt_idle(&self) -> bool {
        self.transport == Transport::Mqtt && self.step == Step::Poll && !self.in_flight
    }

    /// The publish of the current step (ACK or status), if it is one.
    pub(super) fn publish_now(&mut self, now: Time, env: &OtauEnv<'_>) -> Option<Transmit> {
        let work = self.work.as_ref();
        let publish = match self.step {
            Step::Ack => Transmit::Publish {
                alias: "config_otau",
                value: work?.raw.clone(),
            },
            Step::Report(status) => {
                let w = work?;
                let report = StatusReport {
                    version: report_version(&w.version, status, env.settings),
                    status,
                    message: w.message.clone(),
                };
                self.last_write = now;
                Transmit::Publish {
                    alias: "otau_in",
                    value: report.to_json(),
                }
            }
            Step::Boot => {
                self.last_write = now;
                Transmit::Publish {
                    alias: "otau_in",
                    value: self.boot_report().to_json(),
                }
            }
            Step::Poll | Step::Info | Step::Fetch | Step::Activate => return None,
        };
        self.in_flight = true;
        self.sent_at = now;
        Some(publish)
    }

    /// What came of the last [`Transmit::Publish`]: `Ok` once its PUBACK
    /// arrived (QoS 1), or the failure, which is retried with the usual
    /// backoff. Pushes the events of the HTTP write path (`Acked`,
    /// `StatusAccepted`, `Retry`).
    pub fn handle_published(
        &mut self,
        now: Time,
        result: Result<(), NetError>,
        env: &OtauEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<OtauEvent>,
    ) {
        self.transport = env.settings.transport;
        let step = self.step;
        if !self.in_flight || !matches!(step, Step::Ack | Step::Report(_) | Step::Boot) {
            return;
        }
        self.in_flight = false;
        if let Err(e) = result {
            return self.retry(now, step, Some(e), env, rng, events);
        }
        self.failures = 0;
        match step {
            Step::Ack => {
                if let Some(w) = self.work.as_ref() {
                    events.push(OtauEvent::Acked {
                        version: w.version.clone(),
                    });
                }
                self.after_ack(now, env, rng)
            }
            Step::Report(status) => {
                let version = self
                    .work
                    .as_ref()
                    .map(|w| report_version(&w.version, status, env.settings))
                    .unwrap_or_default();
                events.push(OtauEvent::StatusAccepted { version, status });
                self.after_status(status, now, env)
            }
            Step::Boot => self.after_boot(now, None, events),
            Step::Poll | Step::Info | Step::Fetch | Step::Activate => {}
        }
    }

    /// A message on resource `alias` (otau.md §8: the server publishes
    /// `config_otau` values; pending ones again on every connect). A
    /// `config_otau` value is offered like a long poll's 200; other aliases
    /// and empty values (a cleared retained message) are ignored.
    pub fn handle_message(
        &mut self,
        now: Time,
        alias: &str,
        value: &str,
        env: &OtauEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<OtauEvent>,
    ) {
        self.transport = env.settings.transport;
        // Not activated yet: the broker would not have let the device in.
        if alias != "config_otau" || value.is_empty() || self.activation.is_some() {
            return;
        }
        self.on_offer(now, value.to_string(), env, rng, events)
    }
}
