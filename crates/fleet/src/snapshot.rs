//! What the terminal UI shows, captured from a running simulation (virtual
//! time) or a real-time run: a plain owned value. Drawing reads only this, so
//! the engine is never borrowed while the terminal is painted, a real-time run
//! can hand one over from its own thread, and tests can build one by hand.

use crate::device::{Device, Ledger};
use crate::setup::{selects, Setup};
use crate::stats::Sample;
use fleetsim_core::protocol::constrained::wire::url_expires;
use fleetsim_core::protocol::ddi::Phase;
use fleetsim_core::time::{Span, Time};

/// Most timeline samples kept for the chart (older ones are thinned).
const CHART_SAMPLES: usize = 240;
/// Online windows shown around the present in the device view.
const WINDOWS_SHOWN: usize = 4;

/// Everything one frame needs.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Scenario time of the simulation.
    pub now: Time,
    /// The scenario's end.
    pub end: Time,
    /// Devices simulated.
    pub devices: u64,
    /// Events processed (virtual) or requests completed (real time).
    pub events: u64,
    /// Devices per phase, in [`Phase::ALL`] order.
    pub phases: [u64; 7],
    /// The fleet timeline, thinned to at most `CHART_SAMPLES` (240) points.
    pub timeline: Vec<Sample>,
    /// Requests sent.
    pub requests: u64,
    /// Requests on the wire (real time; 0 in virtual time).
    pub in_flight: u64,
    /// Real time: wall-clock latency so far, p50, p99 and max in µs over
    /// every request kind (`None` in virtual time or before an answer).
    pub latency_us: Option<[u64; 3]>,
    /// Error answers by status (4xx and 5xx).
    pub error_statuses: Vec<(u16, u64)>,
    /// Requests without a complete answer, by cause.
    pub net_errors: Vec<(String, u64)>,
    /// Real time: the faults the run injected so far, by name (client fault
    /// windows, the emulated network); empty in virtual time.
    pub injected: Vec<(String, u64)>,
    /// Real time with `--server-events`: the server-side events applied to
    /// the oracle so far (`None`: the run does not read them).
    pub server_events: Option<u64>,
    /// Violations found (the oracle keeps the first 200 of them).
    pub violations_total: u64,
    /// The recorded violations, in the order they were found.
    pub violations: Vec<ViolationRow>,
    /// Progress of each campaign.
    pub campaigns: Vec<CampaignGauge>,
    /// Combined digest of the device traces so far (empty when not asked
    /// for: it reads every device).
    pub digest: String,
    /// The device the user is looking at.
    pub device: Option<DeviceView>,
    /// Now on the clock of signed URLs' `expires`, in seconds: scenario
    /// seconds in virtual time, Unix seconds against a real server.
    pub url_clock_s: u64,
    /// True when the run has reached its end.
    pub finished: bool,
}

/// One violation, as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViolationRow {
    /// Invariant ID.
    pub id: &'static str,
    /// Device number.
    pub device: u64,
    /// When.
    pub at: Time,
    /// What was seen.
    pub message: String,
}

/// A campaign's progress over the devices it selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignGauge {
    /// Campaign name.
    pub name: String,
    /// When it starts.
    pub at: Time,
    /// Devices it selects.
    pub targeted: u64,
    /// Of those, updated.
    pub updated: u64,
    /// Of those, failed or canceled.
    pub failed: u64,
    /// Of those, taken over by a later campaign.
    pub moved_on: u64,
    /// True once it has started.
    pub started: bool,
}

/// One device, in detail.
#[derive(Clone, Debug, Default)]
pub struct DeviceView {
    /// Number in the fleet.
    pub number: u64,
    /// Controller id or CIK.
    pub controller_id: String,
    /// Group name (or `group N`), kind and protocol.
    pub group: String,
    /// Phase.
    pub phase: Option<Phase>,
    /// When an update was first assigned, and when it converged.
    pub assigned_at: Option<Time>,
    /// When it converged.
    pub converged_at: Option<Time>,
    /// `None` when always online; else the online windows around now.
    pub windows: Option<Vec<(Time, Time)>>,
    /// The newest lines of its trace (virtual: up to
    /// the TUI's `TRACE_SHOWN`; real time: the recorded ones).
    pub trace: Vec<String>,
    /// Lines its trace has in all.
    pub trace_total: u64,
    /// Signed URLs the device was handed: (line time, expires in seconds).
    pub urls: Vec<UrlSeen>,
    /// Violations about it (among those the oracle kept).
    pub violations: u64,
    /// The first few of them: invariant ID and time.
    pub first_violations: Vec<(&'static str, Time)>,
    /// An edge gateway's twin session, for `protocol: ditto` devices.
    pub twin: Option<TwinLine>,
}

/// How an edge gateway stands with its twin (the TUI's device view).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TwinLine {
    /// Edge devices behind it now.
    pub edge_devices: usize,
    /// Whether its session is up and acknowledged.
    pub ready: bool,
    /// Changes in its offline buffer.
    pub buffered: usize,
    /// Commands not yet answered.
    pub unanswered: usize,
    /// Sessions that became ready so far.
    pub sessions: u64,
    /// Command frames sent (resends included) and of them resent.
    pub sent: u64,
    /// Of them resent.
    pub resent: u64,
    /// `$set.configuration` messages applied.
    pub messages: u64,
    /// Changes dropped at the buffer's bound.
    pub dropped: u64,
}

impl TwinLine {
    /// The line of edge gateway `d`, if it is one.
    pub fn of(d: &Device) -> Option<TwinLine> {
        let c = d.edge()?;
        let stats = c.stats();
        Some(TwinLine {
            edge_devices: c.runtime().devices().len(),
            ready: c.is_ready(),
            buffered: c.sync().buffered(),
            unanswered: c.unanswered(),
            sessions: stats.sessions,
            sent: stats.sent,
            resent: stats.resent,
            messages: stats.messages,
            dropped: c.sync().stats().buffer.dropped,
        })
    }
}

/// A URL with an `expires` parameter that shows in a device's trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlSeen {
    /// When the device used it.
    pub used_at: Time,
    /// Its `expires` (seconds on the run's URL clock).
    pub expires_s: u64,
    /// The URL's path, without the query.
    pub path: String,
}

/// The parts of a run a snapshot is taken from.
pub struct Parts<'a> {
    /// Scenario time.
    pub now: Time,
    /// Scenario end.
    pub end: Time,
    /// Events processed.
    pub events: u64,
    /// Oracle, stats and phase counts.
    pub ledger: &'a Ledger,
    /// Devices in number order.
    pub devices: &'a [Device],
    /// The setup.
    pub setup: &'a Setup,
    /// Per campaign, the slots of the devices it selects ([`campaign_members`]).
    pub members: &'a [Vec<u32>],
    /// The focused device and its trace.
    pub focus: Option<FocusedTrace>,
    /// True at the end of the run.
    pub finished: bool,
    /// Compute the digest so far.
    pub with_digest: bool,
    /// Requests on the wire (real time; 0 in virtual time).
    pub in_flight: u64,
}

/// The focused device's slot and the newest lines of its trace.
pub struct FocusedTrace {
    /// Its slot in the run's devices.
    pub slot: usize,
    /// The newest lines of its trace.
    pub lines: Vec<String>,
    /// Lines its trace has in all.
    pub total: u64,
}

/// Per campaign, the slots of the devices it selects.
pub fn campaign_members(setup: &Setup, devices: &[Device]) -> Vec<Vec<u32>> {
    setup
        .campaigns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            devices
                .iter()
                .enumerate()
                .filter(|(_, d)| selects(&c.selector, i, d.number, &setup.groups[d.group as usize]))
                .map(|(slot, _)| slot as u32)
                .collect()
        })
        .collect()
}

/// Progress of each campaign. A device counts for the latest started
/// campaign that selects it: a later campaign takes over the devices of an
/// earlier one.
fn campaign_gauges(p: &Parts<'_>) -> Vec<CampaignGauge> {
    let mut order: Vec<usize> = (0..p.setup.campaigns.len()).collect();
    order.sort_by_key(|i| (p.setup.campaigns[*i].at, *i));
    let mut latest: Vec<u32> = vec![u32::MAX; p.devices.len()];
    for &i in order.iter().filter(|i| p.now >= p.setup.campaigns[**i].at) {
        for &slot in &p.members[i] {
            latest[slot as usize] = i as u32;
        }
    }
    p.setup
        .campaigns
        .iter()
        .zip(p.members)
        .enumerate()
        .map(|(i, (c, slots))| {
            let (mut updated, mut failed, mut moved_on) = (0, 0, 0);
            for &slot in slots.iter().filter(|_| p.now >= c.at) {
                if latest[slot as usize] != i as u32 {
                    moved_on += 1;
                    continue;
                }
                match p.devices[slot as usize].phase {
                    Phase::Updated => updated += 1,
                    Phase::Failed | Phase::Canceled => failed += 1,
                    _ => {}
                }
            }
            CampaignGauge {
                name: c.name.clone(),
                at: c.at,
                targeted: slots.len() as u64,
                updated,
                failed,
                moved_on,
                started: p.now >= c.at,
            }
        })
        .collect()
}

/// p50, p99 and max of every request kind's µs histogram together.
fn latency_us(stats: &crate::stats::Stats) -> Option<[u64; 3]> {
    let mut kinds = stats.latency_us.values();
    let mut all = kinds.next()?.clone();
    for h in kinds {
        // Same bounds for every kind, so adding cannot fail.
        let _ = all.add(h);
    }
    Some([
        all.value_at_quantile(0.50),
        all.value_at_quantile(0.99),
        all.max(),
    ])
}

impl Snapshot {
    /// Takes a snapshot of a run.
    pub fn capture(p: Parts<'_>) -> Snapshot {
        let stats = &p.ledger.stats;
        let oracle = &p.ledger.oracle;
        let campaigns = campaign_gauges(&p);
        let device = p
            .focus
            .map(|f| device_view(&p.devices[f.slot], p.setup, p.now, f, oracle.violations()));
        Snapshot {
            now: p.now,
            end: p.end,
            devices: p.devices.len() as u64,
            events: p.events,
            phases: p.ledger.phases,
            timeline: thin(&stats.timeline, CHART_SAMPLES),
            requests: stats.requests(),
            in_flight: p.in_flight,
            latency_us: latency_us(stats),
            error_statuses: stats
                .statuses
                .iter()
                .filter(|(s, _)| **s >= 400)
                .map(|(s, n)| (*s, *n))
                .collect(),
            net_errors: stats
                .errors
                .iter()
                .map(|(e, n)| (e.to_string(), *n))
                .collect(),
            injected: Vec::new(),
            server_events: None,
            violations_total: oracle.total(),
            violations: oracle
                .violations()
                .iter()
                .map(|v| ViolationRow {
                    id: v.id,
                    device: v.device,
                    at: Time(v.at_ms),
                    message: v.message.clone(),
                })
                .collect(),
            campaigns,
            digest: if p.with_digest {
                crate::digest::combine(p.devices.iter().map(|d| (d.number, &d.trace)))
            } else {
                String::new()
            },
            device,
            url_clock_s: p.now.as_millis() / 1000,
            finished: p.finished,
        }
    }

    /// Requests per virtual second over the last two samples.
    pub fn request_rate(&self) -> f64 {
        match self.timeline.as_slice() {
            [.., a, b] if b.at > a.at => {
                b.requests as f64 / ((b.at.as_millis() - a.at.as_millis()) as f64 / 1000.0)
            }
            _ => 0.0,
        }
    }

    /// Errors so far: error answers plus requests without an answer.
    pub fn errors(&self) -> u64 {
        self.error_statuses.iter().map(|(_, n)| n).sum::<u64>()
            + self.net_errors.iter().map(|(_, n)| n).sum::<u64>()
    }
}

fn device_view(
    d: &Device,
    setup: &Setup,
    now: Time,
    focus: FocusedTrace,
    violations: &[fleetsim_core::oracle::Violation],
) -> DeviceView {
    let trace = focus.lines;
    let g = &setup.groups[d.group as usize];
    let name = g
        .name
        .clone()
        .unwrap_or_else(|| format!("group {}", d.group + 1));
    let windows = g.link.window().map(|(every, _)| {
        // From the window before now, the next few.
        let from = Time(now.as_millis().saturating_sub(every.as_millis()));
        let mut out = Vec::new();
        let mut t = from;
        while out.len() < WINDOWS_SHOWN {
            let start = g.link.next_online(t, d.window_phase);
            if start == Time::NEVER {
                break;
            }
            let Some(until) = g.link.online_until(start, d.window_phase) else {
                break;
            };
            out.push((start, until));
            t = until + Span(1);
        }
        out
    });
    DeviceView {
        number: d.number,
        controller_id: d.controller_id.clone(),
        group: format!("{name} ({}, {})", g.kind.as_str(), g.protocol.as_str()),
        phase: Some(d.phase),
        assigned_at: d.assigned_at,
        converged_at: d.converged_at,
        windows,
        urls: urls_in(&trace),
        trace_total: focus.total,
        trace,
        violations: violations.iter().filter(|v| v.device == d.number).count() as u64,
        first_violations: violations
            .iter()
            .filter(|v| v.device == d.number)
            .take(3)
            .map(|v| (v.id, Time(v.at_ms)))
            .collect(),
        twin: TwinLine::of(d),
    }
}

/// The signed URLs in trace lines (`T+…  → GET http://…?expires=…&sig=…`).
pub fn urls_in(trace: &[String]) -> Vec<UrlSeen> {
    let mut out: Vec<UrlSeen> = Vec::new();
    for line in trace {
        let Some(start) = line.find("http") else {
            continue;
        };
        let url = line[start..].split_whitespace().next().unwrap_or("");
        let Some(expires_s) = url_expires(url) else {
            continue;
        };
        let path = url.split('?').next().unwrap_or(url);
        let path = path
            .split("://")
            .nth(1)
            .map_or(path, |rest| rest.find('/').map_or(rest, |i| &rest[i..]));
        let used_at = crate::engine::replay::line_time(line).map_or(Time::ZERO, Time);
        let seen = UrlSeen {
            used_at,
            expires_s,
            path: shorten_hashes(path),
        };
        if out
            .last()
            .is_none_or(|l| l.expires_s != seen.expires_s || l.path != seen.path)
        {
            out.push(seen);
        }
    }
    out
}

/// `/cdn/v1/a/a2539c0c…/fw.bin`: long hex segments (sha256s) cut to 8 digits.
fn shorten_hashes(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.len() > 16 && seg.bytes().all(|b| b.is_ascii_hexdigit()) {
                format!("{}…", &seg[..8])
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// At most `max` samples, evenly picked, always keeping the last one.
fn thin(samples: &[Sample], max: usize) -> Vec<Sample> {
    if samples.len() <= max {
        return samples.to_vec();
    }
    let step = samples.len().div_ceil(max);
    let mut out: Vec<Sample> = Vec::with_capacity(max + 1);
    for chunk in samples.chunks(step) {
        // Requests add up over the chunk; phases are the chunk's last.
        if let Some(last) = chunk.last() {
            out.push(Sample {
                at: last.at,
                phases: last.phases,
                requests: chunk.iter().map(|s| s.requests).sum(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: u64, requests: u64) -> Sample {
        Sample {
            at: Time(at),
            phases: [at; 7],
            requests,
        }
    }

    #[test]
    fn thinning_keeps_request_totals_and_the_last_sample() {
        let samples: Vec<Sample> = (0..1000).map(|i| sample(i * 1000, 2)).collect();
        let thinned = thin(&samples, 240);
        assert!(thinned.len() <= 240);
        assert_eq!(thinned.iter().map(|s| s.requests).sum::<u64>(), 2000);
        let (last, orig) = (thinned.last().unwrap(), samples.last().unwrap());
        assert_eq!((last.at, last.phases), (orig.at, orig.phases));
    }

    #[test]
    fn urls_come_from_trace_lines_with_expires() {
        let trace = vec![
            "      T+1h  → GET http://127.0.0.1:1/cdn/v1/a/ab/fw.bin?expires=7200&sig=00"
                .to_string(),
            "      T+1h    Downloaded".to_string(),
            "      T+2h  → GET http://127.0.0.1:1/cdn/v1/a/ab/fw.bin?expires=7200&sig=00"
                .to_string(),
            "      T+3h  → GET http://127.0.0.1:1/cpg/v1/dev/poll".to_string(),
        ];
        let urls = urls_in(&trace);
        assert_eq!(
            urls,
            vec![UrlSeen {
                used_at: Time(3_600_000),
                expires_s: 7200,
                path: "/cdn/v1/a/ab/fw.bin".into()
            }]
        );
    }

    #[test]
    fn request_rate_is_per_virtual_second_of_the_last_sample() {
        let s = Snapshot {
            timeline: vec![sample(0, 0), sample(10_000, 50)],
            ..Snapshot::default()
        };
        assert_eq!(s.request_rate(), 5.0);
    }
}
