//! The URL-* invariants: download URLs of constrained (`cpg`) devices and
//! the seed-000 strategies that keep devices updatable past URL expiry.
//!
//! The checks use what a device (or a downloader holding a leaked URL)
//! observes — the URL it was handed, with its `expires` parameter, and the
//! status its download got — plus the install commands the sidekick fired,
//! so they apply to any gateway that speaks `docs/guide/cpg.md`. What counts as
//! "plausibly usable" comes from the device's link: the driver tells the
//! oracle, per device and command, how long the device needs to download
//! ([`UrlPlan::need`]) and by when it must have finished ([`UrlPlan::bound`]).

use std::collections::BTreeMap;

use super::InvariantId;
use crate::protocol::constrained::wire::url_expires;
use crate::protocol::constrained::Strategy;
use crate::time::{Span, Time};

/// What the oracle knows of one device's install command.
#[derive(Clone, Copy, Debug)]
pub struct UrlPlan {
    /// The campaign's strategy.
    pub strategy: Strategy,
    /// When the command was given to the twin layer.
    pub issued: Time,
    /// Time the device needs from getting a URL to having downloaded it.
    pub need: Span,
    /// A device that polls `bound` before the end of the run must have finished.
    pub bound: Span,
}

#[derive(Clone, Debug, Default)]
struct UrlDevice {
    plan: Option<UrlPlan>,
    first_poll: Option<Time>,
    refires: u32,
    finished: bool,
    pending_cache_url: bool,
}

/// State of the URL checks.
#[derive(Debug, Default)]
pub struct UrlOracle {
    /// `expires` of a URL made at time zero with zero validity (seconds).
    epoch_s: u64,
    devices: BTreeMap<u64, UrlDevice>,
}

/// A violation: which invariant, and what was seen.
pub type Finding = (InvariantId, String);

fn is_cache(url: &str) -> bool {
    url.contains("/cache/v1/")
}

impl UrlOracle {
    /// Checks with URL times counted from `epoch_s`.
    pub fn new(epoch_s: u64) -> UrlOracle {
        UrlOracle {
            epoch_s,
            devices: BTreeMap::new(),
        }
    }

    fn now_s(&self, now: Time) -> u64 {
        self.epoch_s + now.as_millis() / 1000
    }

    /// An install command was given to the twin of `device`.
    pub fn command(&mut self, device: u64, plan: UrlPlan) {
        let d = self.devices.entry(device).or_default();
        *d = UrlDevice {
            plan: Some(plan),
            ..UrlDevice::default()
        };
    }

    /// The device polled the gateway at `now`.
    pub fn polled(&mut self, device: u64, now: Time) {
        if let Some(d) = self.devices.get_mut(&device) {
            if d.plan.is_some_and(|p| p.issued <= now) {
                d.first_poll.get_or_insert(now);
            }
        }
    }

    /// The device was handed `url` at `now` (URL-HANDOUT).
    pub fn handed_out(&mut self, device: u64, now: Time, url: &str) -> Option<Finding> {
        let now_s = self.now_s(now);
        let d = self.devices.entry(device).or_default();
        if is_cache(url) {
            d.pending_cache_url = true;
            return None;
        }
        let expires = url_expires(url)?;
        if expires <= now_s {
            return Some((
                InvariantId::UrlHandout,
                format!(
                    "handed out a URL that expired {} s ago: {url}",
                    now_s - expires
                ),
            ));
        }
        let need = d.plan.map_or(Span::ZERO, |p| p.need);
        let left = Span::secs(expires - now_s);
        (left < need).then(|| {
            (
                InvariantId::UrlHandout,
                format!(
                    "handed out a URL valid for {left} more; the device needs {need} to download it"
                ),
            )
        })
    }

    /// A download of `url` at `now` got `status`; `tampered` when the
    /// downloader altered the URL (URL-REFUSE, URL-EVICT).
    pub fn downloaded(
        &mut self,
        device: u64,
        now: Time,
        url: &str,
        status: u16,
        tampered: bool,
    ) -> Option<Finding> {
        let served = (200..300).contains(&status);
        if is_cache(url) {
            let pending = self
                .devices
                .get(&device)
                .is_some_and(|d| d.pending_cache_url && !d.finished);
            return (status == 404 && pending).then(|| {
                (
                    InvariantId::UrlEvict,
                    format!(
                        "the cache answered 404 for an artifact a pending install needs: {url}"
                    ),
                )
            });
        }
        if served && tampered {
            return Some((
                InvariantId::UrlRefuse,
                format!("a tampered URL was served ({status}): {url}"),
            ));
        }
        let expires = url_expires(url)?;
        let now_s = self.now_s(now);
        (served && expires <= now_s).then(|| {
            (
                InvariantId::UrlRefuse,
                format!(
                    "a URL that expired {} s ago was served ({status}): {url}",
                    now_s - expires
                ),
            )
        })
    }

    /// The sidekick fired the device's install command (again, if `reissue`).
    pub fn fired(&mut self, device: u64, reissue: bool) -> Option<Finding> {
        let d = self.devices.entry(device).or_default();
        if !reissue {
            return None;
        }
        d.refires += 1;
        (d.refires > 1).then(|| {
            (
                InvariantId::UrlOnce,
                format!(
                    "the install command fired again on online event #{} (once-per-device)",
                    d.refires
                ),
            )
        })
    }

    /// The device's result reached the gateway (`detail` says why it failed).
    pub fn finished(&mut self, device: u64, ok: bool, detail: Option<&str>) -> Option<Finding> {
        let d = self.devices.entry(device).or_default();
        d.finished = true;
        let strategy = d.plan.map_or(Strategy::None, |p| p.strategy);
        (!ok && detail == Some("url_refused") && strategy != Strategy::None).then(|| {
            (
                InvariantId::UrlLive,
                format!(
                    "the update failed for refused URLs although strategy {} is on",
                    strategy.as_str()
                ),
            )
        })
    }

    /// At the end of the run (`end`): devices under a strategy that polled
    /// at least `bound` before the end and have not finished (URL-LIVE).
    pub fn at_end(&self, end: Time) -> Vec<(u64, Time, String)> {
        let mut out = Vec::new();
        for (number, d) in &self.devices {
            let (Some(plan), Some(first)) = (d.plan, d.first_poll) else {
                continue;
            };
            if plan.strategy == Strategy::None || d.finished || first + plan.bound > end {
                continue;
            }
            out.push((
                *number,
                end,
                format!(
                    "polled at {first} under strategy {} and had not finished {} later",
                    plan.strategy.as_str(),
                    end.since(first)
                ),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(strategy: Strategy) -> UrlPlan {
        UrlPlan {
            strategy,
            issued: Time::ZERO,
            need: Span::hours(2),
            bound: Span::days(3),
        }
    }

    #[test]
    fn handout_fires_for_expired_and_too_short_urls() {
        let mut o = UrlOracle::new(0);
        o.command(1, plan(Strategy::None));
        let t = Time(Span::days(1).as_millis());
        let ok = format!(
            "http://x/cdn/v1/a/ab/f?expires={}&sig=00",
            86_400 + 3 * 3600
        );
        assert!(o.handed_out(1, t, &ok).is_none());
        let short = format!("http://x/cdn/v1/a/ab/f?expires={}&sig=00", 86_400 + 60);
        assert_eq!(
            o.handed_out(1, t, &short).unwrap().0,
            InvariantId::UrlHandout
        );
        let expired = "http://x/cdn/v1/a/ab/f?expires=10&sig=00";
        assert!(o.handed_out(1, t, expired).unwrap().1.contains("expired"));
        assert!(o.handed_out(1, t, "http://x/cache/v1/ab/f").is_none());
    }

    #[test]
    fn refuse_fires_when_expired_or_tampered_urls_are_served() {
        let mut o = UrlOracle::new(0);
        let t = Time(Span::secs(100).as_millis());
        let url = "http://x/cdn/v1/a/ab/f?expires=50&sig=00";
        assert!(o.downloaded(1, t, url, 410, false).is_none());
        assert_eq!(
            o.downloaded(1, t, url, 206, false).unwrap().0,
            InvariantId::UrlRefuse
        );
        let fresh = "http://x/cdn/v1/a/ab/f?expires=500&sig=00";
        assert!(o.downloaded(1, t, fresh, 200, false).is_none());
        assert!(o.downloaded(1, t, fresh, 403, true).is_none());
        assert!(o.downloaded(1, t, fresh, 200, true).is_some());
    }

    #[test]
    fn once_evict_and_live() {
        let mut o = UrlOracle::new(0);
        o.command(1, plan(Strategy::RefreshOnOnline));
        assert!(o.fired(1, false).is_none());
        assert!(o.fired(1, true).is_none());
        assert_eq!(o.fired(1, true).unwrap().0, InvariantId::UrlOnce);

        o.command(2, plan(Strategy::LongLivedCache));
        assert!(o
            .handed_out(2, Time::ZERO, "http://x/cache/v1/ab/f")
            .is_none());
        assert_eq!(
            o.downloaded(2, Time::ZERO, "http://x/cache/v1/ab/f", 404, false)
                .unwrap()
                .0,
            InvariantId::UrlEvict
        );

        o.command(3, plan(Strategy::LongValidity));
        o.polled(3, Time(1000));
        let end = Time(Span::days(3).as_millis());
        assert!(o.at_end(end).is_empty(), "the bound has not passed yet");
        let later = Time(Span::days(4).as_millis());
        let stuck: Vec<u64> = o.at_end(later).iter().map(|v| v.0).collect();
        assert_eq!(stuck, vec![3], "devices 1 and 2 never polled");
        assert_eq!(
            o.finished(3, false, Some("url_refused")).unwrap().0,
            InvariantId::UrlLive
        );
        o.command(4, plan(Strategy::None));
        assert!(o.finished(4, false, Some("url_refused")).is_none());
    }
}
