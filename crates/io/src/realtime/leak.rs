//! Leaked-URL downloads in real runs: the model of the virtual engine
//! ([`fleetsim_fleet::leak`]) for `cpg` campaigns with
//! `leaked_downloads_per_day`, carried out with real HTTP GETs through the
//! run's shared client.
//!
//! Per campaign a seeded Poisson stream (the campaign's own stream, in
//! scenario time like everything else in the run) picks one of the
//! campaign's devices and downloads with the last URL that device was
//! handed by the gateway (seen in its poll answers, kept after the device
//! is done with it: leaks are tried for days after). Refused as expired
//! (`410`), the downloader pushes `expires` forward and tries again. Each
//! answer goes to the oracle as the engine's does (URL-REFUSE) and into the
//! campaign's [`LeakCounts`] (the gateway section, and the run's counters).
//!
//! Which devices belong to a campaign: with `serve`'s event stream, those
//! it gave the campaign's install command to (as in virtual time);
//! without, those the campaign's selector picks by the schedule. An answer
//! is judged at the time the server decided it when the run is on
//! `serve`'s clock (its `x-fleetsim-now-ms` header), else at the time the
//! download was due: at a day of scenario time per real second, a real
//! millisecond between the two clocks is minutes of `expires`.

use fleetsim_fleet::rng::Stream;
use rand::Rng;

use fleetsim_fleet::constrained_report::LeakCounts;
use fleetsim_fleet::device::Client;
use fleetsim_fleet::leak;
use fleetsim_fleet::rng::{stream, Purpose};

use super::driver::Driver;
use super::*;
use crate::server_events::NOW_HEADER;

/// Per-run state of the leaked downloads.
pub(super) struct Leaks {
    /// Per campaign: who leaks and when (`None`: the campaign has no leaks).
    rngs: Vec<Option<Stream>>,
    /// Per campaign: when its next leaked download is due.
    next: Vec<Time>,
    /// Per slot: the last download URL the device was handed.
    urls: Vec<Option<String>>,
    /// Per campaign: what the leaked downloads got.
    pub(super) counts: Vec<LeakCounts>,
    /// Downloads sent and not answered (network errors; lost at the end).
    unanswered: u64,
    in_flight: u64,
}

/// What one leaked download brought back: per request (the URL as
/// leaked, then maybe the tampered one) the URL, whether tampered, the
/// delivery.
pub(super) struct Leaked {
    campaign: u16,
    /// When it was due.
    at: Time,
    answers: Vec<(String, bool, Delivery)>,
}

/// The stream of campaign `i`'s leaks: a stream number no device uses (the
/// virtual engine's leak stream is the one just above, `u64::MAX / 4`).
fn campaign_stream(seed: u64, i: usize) -> Stream {
    stream(seed, u64::MAX / 4 - 1 - i as u64, Purpose::Device)
}

impl Leaks {
    /// The leaks of `setup`'s campaigns; `None` when no campaign leaks or
    /// the fleet has no `cpg` device.
    pub(super) fn new(seed: u64, setup: &Setup, devices: &[Device]) -> Option<Leaks> {
        let leaky = setup.campaigns.iter().any(|c| c.leaks_per_day > 0.0);
        if !leaky || !devices.iter().any(|d| d.is_constrained()) {
            return None;
        }
        let mut rngs = Vec::new();
        let mut next = Vec::new();
        for (i, plan) in setup.campaigns.iter().enumerate() {
            if plan.leaks_per_day > 0.0 {
                let mut rng = campaign_stream(seed, i);
                // The engine's first leak follows the campaign's start.
                next.push(plan.at + leak::next_gap(plan.leaks_per_day, &mut rng));
                rngs.push(Some(rng));
            } else {
                next.push(Time::NEVER);
                rngs.push(None);
            }
        }
        Some(Leaks {
            rngs,
            next,
            urls: devices.iter().map(|_| None).collect(),
            counts: vec![LeakCounts::default(); setup.campaigns.len()],
            unanswered: 0,
            in_flight: 0,
        })
    }

    /// When the next leaked download of any campaign is due.
    pub(super) fn next_due(&self) -> Time {
        self.next.iter().copied().min().unwrap_or(Time::NEVER)
    }

    /// The run's counters: leaked downloads answered, served (as leaked or
    /// tampered), unanswered.
    pub(super) fn counters(&self) -> [(&'static str, u64); 3] {
        let sum = |f: fn(&LeakCounts) -> u64| self.counts.iter().map(f).sum::<u64>();
        [
            ("leaked_downloads_tried", sum(|c| c.attempts)),
            (
                "leaked_downloads_served",
                sum(|c| c.served + c.tampered_served),
            ),
            (
                "leaked_downloads_unanswered",
                self.unanswered + self.in_flight,
            ),
        ]
    }
}

impl Driver {
    /// Keeps the download URL the answer just handled gave device `slot`.
    pub(super) fn saw_url(&mut self, slot: usize) {
        let (Some(leaks), Client::Constrained(c)) = (&mut self.leaks, &self.devices[slot].client)
        else {
            return;
        };
        if let Some(url) = c.offered_url() {
            if leaks.urls[slot].as_deref() != Some(url) {
                leaks.urls[slot] = Some(url.to_string());
            }
        }
    }

    /// Starts every leaked download due by `now`.
    pub(super) fn leak_due(&mut self, now: Time, tx: &mpsc::UnboundedSender<Done>) {
        let Some(leaks) = &mut self.leaks else {
            return;
        };
        let mut due = Vec::new();
        for (i, rng) in leaks.rngs.iter_mut().enumerate() {
            let Some(rng) = rng else { continue };
            let per_day = self.setup.campaigns[i].leaks_per_day;
            while leaks.next[i] <= now {
                let at = leaks.next[i];
                leaks.next[i] = at + leak::next_gap(per_day, rng);
                // Drawn whatever the campaign's size: the times stay the seed's.
                due.push((i, at, rng.gen::<f64>()));
            }
        }
        for (i, at, pick) in due {
            self.leak(i, at, pick, tx);
        }
    }

    /// One leaked download of campaign `i` at `at`, from the device at
    /// fraction `pick` of its devices (none if it was handed no URL).
    fn leak(&mut self, i: usize, at: Time, pick: f64, tx: &mpsc::UnboundedSender<Done>) {
        let targets = self.leak_targets(i, at);
        if targets.is_empty() {
            return;
        }
        let k = ((pick * targets.len() as f64) as usize).min(targets.len() - 1);
        let slot = targets[k] as usize;
        let Some(leaks) = &mut self.leaks else {
            return;
        };
        let Some(url) = leaks.urls[slot].clone() else {
            return;
        };
        leaks.in_flight += 1;
        let (http, tx, number) = (self.http.clone(), tx.clone(), self.devices[slot].number);
        tokio::spawn(async move {
            let get = |url: &str| Request::new(Method::Get, url);
            let first = http.execute(number, get(&url), Injected::default()).await;
            let expired = matches!(&first, Delivery::Complete(r) if r.status == 410);
            let mut answers = vec![(url.clone(), false, first)];
            if let Some(forged) = leak::tampered(&url).filter(|_| expired) {
                let second = http
                    .execute(number, get(&forged), Injected::default())
                    .await;
                answers.push((forged, true, second));
            }
            let leaked = Leaked {
                campaign: i as u16,
                at,
                answers,
            };
            let outcome = Outcome::Leaked(leaked);
            let _ = tx.send(Done {
                slot: slot as u32,
                outcome,
            });
        });
    }

    /// The slots of campaign `i`'s devices at `at`: those it gave its
    /// install command to (from `serve`'s events), else those its selector
    /// picks and no campaign started since has taken.
    fn leak_targets(&self, i: usize, at: Time) -> Vec<u32> {
        if let Some(feed) = &self.server {
            return feed.cpg_targets(i).to_vec();
        }
        let campaigns = &self.setup.campaigns;
        let selects = |c: usize, d: &Device| {
            let g = &self.setup.groups[d.group as usize];
            fleetsim_fleet::setup::selects(&campaigns[c].selector, c, d.number, g)
        };
        let latest = |d: &Device| {
            let started = (0..campaigns.len()).filter(|&c| campaigns[c].at <= at);
            started
                .filter(|&c| selects(c, d))
                .max_by_key(|&c| (campaigns[c].at, c))
        };
        let devices = self.devices.iter().enumerate();
        devices
            .filter(|(_, d)| d.is_constrained() && latest(d) == Some(i))
            .map(|(slot, _)| slot as u32)
            .collect()
    }

    /// Books what a leaked download of device `slot`'s URL got: the oracle
    /// (URL-REFUSE) and the campaign's counts.
    pub(super) fn leaked(&mut self, slot: usize, leaked: Leaked) {
        let on_serve_clock = self.server.is_some();
        let Some(leaks) = &mut self.leaks else {
            return;
        };
        leaks.in_flight = leaks.in_flight.saturating_sub(1);
        let d = &self.devices[slot];
        for (url, tampered, delivery) in leaked.answers {
            let Delivery::Complete(r) = delivery else {
                leaks.unanswered += 1;
                continue;
            };
            let decided = r.headers.get(NOW_HEADER).and_then(|v| v.parse().ok());
            let at = decided.filter(|_| on_serve_clock).map_or(leaked.at, Time);
            leaks.counts[leaked.campaign as usize].count(tampered, r.status);
            let oracle = &mut self.ledger.oracle;
            oracle.url_download(d.number, &d.controller_id, at, &url, r.status, tampered);
        }
    }
}
