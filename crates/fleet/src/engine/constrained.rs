//! The engine's part for constrained (`cpg`) devices: requests to the
//! sidekick/gateway/CDN core, install commands from campaigns, downloads
//! with leaked URLs, and the gateway section of the result.

use crate::rng::Stream;
use rand::Rng;

use super::Engine;
use crate::constrained_report::{strategy_result, GatewayReport, LeakCounts};
use crate::engine::queue::What;
use crate::leak;
use fleetsim_core::message::{Method, Request};
use fleetsim_core::oracle::url::UrlPlan;
use fleetsim_core::server::constrained::SidekickEvent;
use fleetsim_core::time::{Span, Time};

/// Per-run state of the `cpg` side of the engine.
pub(super) struct ConstrainedState {
    /// Per slot: the campaign whose install command the device has.
    pub(super) campaign: Vec<Option<u16>>,
    /// Per campaign: the slots it gave an install command to.
    pub(super) targets: Vec<Vec<u32>>,
    /// Per campaign: install commands re-fired by online events.
    pub(super) refired: Vec<u64>,
    /// Per campaign: leaked-URL downloads.
    pub(super) leaks: Vec<LeakCounts>,
    /// Who leaks, and when.
    pub(super) leak_rng: Stream,
    /// Scratch buffer for sidekick events.
    pub(super) events: Vec<SidekickEvent>,
    /// `[at_ms, bytes]` of the artifact cache.
    pub(super) cache_bytes: Vec<(u64, u64)>,
    /// Whether the fleet has `cpg` devices at all.
    pub(super) active: bool,
}

impl ConstrainedState {
    pub(super) fn new(
        devices: usize,
        campaigns: usize,
        seed: u64,
        active: bool,
    ) -> ConstrainedState {
        ConstrainedState {
            campaign: vec![None; devices],
            targets: vec![Vec::new(); campaigns],
            refired: vec![0; campaigns],
            leaks: vec![LeakCounts::default(); campaigns],
            // A stream no device uses (devices take streams 4n and 4n+1).
            leak_rng: crate::rng::stream(seed, u64::MAX / 4, crate::rng::Purpose::Device),
            events: Vec::new(),
            cache_bytes: Vec::new(),
            active,
        }
    }
}

impl Engine {
    /// The request of `cpg` device `slot` reaches the gateway at `now`.
    pub(super) fn cpg_arrive(&mut self, slot: usize, now: Time, down: Span, req: Request) {
        let resp = self.setup.sidekick_answer(now, &req);
        self.respond(slot, now, down, resp);
        self.drain_sidekick_events(now);
    }

    /// The slot of the device behind sidekick twin `twin`, if simulated here.
    fn slot_of_twin(&self, twin: usize) -> Option<usize> {
        let g = self
            .setup
            .groups
            .iter()
            .find(|g| g.twin_base <= twin && twin < g.twin_base + g.count as usize)?;
        let number = g.first + (twin - g.twin_base) as u64;
        self.devices
            .binary_search_by_key(&number, |d| d.number)
            .ok()
    }

    fn drain_sidekick_events(&mut self, now: Time) {
        let mut events = std::mem::take(&mut self.cpg.events);
        self.setup.sidekick.drain_events(&mut events);
        for ev in events.drain(..) {
            let SidekickEvent::Fired {
                device,
                command,
                reissue,
            } = ev
            else {
                continue;
            };
            let Some(slot) = self.slot_of_twin(device) else {
                continue;
            };
            let d = &mut self.devices[slot];
            d.trace.command_fired(now, command as u64, reissue);
            self.ledger
                .oracle
                .url_fired(d.number, &d.controller_id, now, reissue);
            if reissue {
                if let Some(c) = self.cpg.campaign[slot] {
                    self.cpg.refired[c as usize] += 1;
                }
            }
            if self.record == Some(d.number) {
                self.trace.push(format!(
                    "{now:>14}  ⚙ sidekick: install command {} fired{}",
                    fleetsim_core::server::constrained::command_id(command),
                    if reissue { " again (online event)" } else { "" }
                ));
            }
        }
        self.cpg.events = events;
    }

    /// Campaign `i` gave its install command to the twin of the `cpg`
    /// device in `slot` (asleep or not).
    pub(super) fn cpg_installed(&mut self, i: usize, slot: usize, now: Time) {
        let plan = &self.setup.campaigns[i];
        let (strategy, size) = (plan.strategy, plan.command_size);
        let d = &mut self.devices[slot];
        let g = &self.setup.groups[d.group as usize];
        let url_plan = UrlPlan {
            strategy,
            issued: now,
            need: g.download_need(size),
            bound: g.finish_bound(size),
        };
        self.ledger.oracle.url_command(d.number, url_plan);
        d.assigned_at = Some(now);
        d.converged_at = None;
        self.cpg.campaign[slot] = Some(i as u16);
        self.cpg.targets[i].push(slot as u32);
        self.drain_sidekick_events(now);
    }

    /// Schedules campaign `i`'s next leaked-URL download after `now`.
    pub(super) fn schedule_leak(&mut self, i: usize, now: Time) {
        let per_day = self.setup.campaigns[i].leaks_per_day;
        if per_day <= 0.0 {
            return;
        }
        let gap = leak::next_gap(per_day, &mut self.cpg.leak_rng);
        self.queue.push(now + gap, 0, What::Leak(i as u16));
    }

    /// Someone who is not a device downloads with a URL leaked from one of
    /// campaign `i`'s devices; refused as expired, they push `expires`
    /// forward and try again.
    pub(super) fn leak(&mut self, i: usize, now: Time) {
        self.schedule_leak(i, now);
        let targets = &self.cpg.targets[i];
        if targets.is_empty() {
            return;
        }
        let slot = targets[self.cpg.leak_rng.gen_range(0..targets.len())] as usize;
        let d = &self.devices[slot];
        let g = &self.setup.groups[d.group as usize];
        let twin = g.twin_base + (d.number - g.first) as usize;
        let Some(url) = self.setup.sidekick.handed_out_url(twin).map(str::to_string) else {
            return;
        };
        let status = self.leaked_get(i, slot, now, &url, false);
        if status == 410 {
            if let Some(forged) = leak::tampered(&url) {
                self.leaked_get(i, slot, now, &forged, true);
            }
        }
    }

    fn leaked_get(&mut self, i: usize, slot: usize, now: Time, url: &str, tampered: bool) -> u16 {
        let resp = self
            .setup
            .sidekick_answer(now, &Request::new(Method::Get, url));
        self.cpg.leaks[i].count(tampered, resp.status);
        let d = &self.devices[slot];
        self.ledger.oracle.url_download(
            d.number,
            &d.controller_id,
            now,
            url,
            resp.status,
            tampered,
        );
        resp.status
    }

    /// Samples the cache size.
    pub(super) fn cpg_sample(&mut self, now: Time) {
        if self.cpg.active {
            let bytes = self.setup.sidekick.cache().bytes();
            self.cpg.cache_bytes.push((now.as_millis(), bytes));
        }
    }

    /// The end-of-run URL checks (URL-LIVE).
    pub(super) fn cpg_close(&mut self) {
        if self.cpg.active {
            self.ledger
                .oracle
                .url_at_end(self.end, |n| self.setup.controller_id(n));
        }
    }

    /// The gateway section of the result (`None` without `cpg` devices).
    pub(super) fn constrained_report(&mut self) -> Option<GatewayReport> {
        if !self.cpg.active {
            return None;
        }
        let end = self.end;
        let mut strategies = Vec::new();
        for (i, plan) in self.setup.campaigns.iter().enumerate() {
            let slots = &self.cpg.targets[i];
            if slots.is_empty() {
                continue;
            }
            let counts = (self.cpg.refired[i], self.cpg.leaks[i]);
            let result = strategy_result(plan, slots, &self.devices, counts, end);
            strategies.push(result);
        }
        let cache = self.setup.sidekick.cache();
        let (fetches, evictions) = cache.fetches_and_evictions();
        Some(GatewayReport {
            strategies,
            cache_bytes: std::mem::take(&mut self.cpg.cache_bytes),
            cache_peak_bytes: cache.peak(),
            cache_fetches: fetches,
            cache_evictions: evictions,
            counters: self.setup.sidekick.counters(),
        })
    }
}
