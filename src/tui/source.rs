//! Where the TUI's snapshots come from: a virtual-time [`Engine`] the UI runs
//! in slices (with a second, one-device engine replaying the focused device so
//! its whole trace is at hand), or a real-time run on its own thread that
//! publishes snapshots the UI picks up.
//!
//! Slicing does not change the outcome: an engine run to its end in slices has
//! the same digest as one run in one go (tested), so what a user explores in
//! the TUI is what `fleetsim run` reports for the same seed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::engine::{Engine, RunResult, Selection};
use crate::realtime::Live;
use crate::realtime::{RealOptions, RuntimeError};
use crate::scenario::Scenario;
use crate::snapshot::{campaign_members, FocusedTrace, Parts, Snapshot};
use crate::time::Time;

/// Events processed between looks at the wall clock.
const CHUNK: u64 = 2048;
/// Newest trace lines of the focused device a snapshot carries: a month of
/// a chatty device is tens of thousands of lines, too many to copy per frame.
pub const TRACE_SHOWN: usize = 5_000;

/// A virtual-time run driven by the UI.
pub struct VirtualRun {
    scenario: Scenario,
    engine: Engine,
    members: Vec<Vec<u32>>,
    focus: Option<Focus>,
}

/// The focused device and its replay.
struct Focus {
    slot: usize,
    shadow: Engine,
}

/// What a search for the next violation came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seek {
    /// A new violation was found; the run stopped right after it.
    Found,
    /// The time budget ran out first.
    NotYet,
    /// The run ended without one.
    End,
}

impl VirtualRun {
    /// Prepares `scenario` (at its own seed).
    pub fn new(scenario: Scenario) -> VirtualRun {
        let engine = Engine::new(&scenario, &Selection::default());
        let members = campaign_members(engine.setup(), engine.devices());
        VirtualRun {
            scenario,
            engine,
            members,
            focus: None,
        }
    }

    /// The scenario as loaded, with the current seed.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// Starts over with `seed`, keeping the focused device.
    pub fn restart(&mut self, seed: u64) {
        let focus = self.focused();
        self.scenario.seed = seed;
        *self = VirtualRun::new(self.scenario.clone());
        self.set_focus(focus);
    }

    /// Scenario time of the last event processed.
    pub fn now(&self) -> Time {
        self.engine.now()
    }

    /// The scenario's end.
    pub fn end(&self) -> Time {
        self.engine.end()
    }

    /// True when nothing is left to simulate.
    pub fn finished(&self) -> bool {
        self.engine.next_event_at().is_none()
    }

    /// Violations found so far.
    pub fn violations(&self) -> u64 {
        self.engine.ledger().oracle.total()
    }

    /// Runs the events due up to `until`, stopping at `deadline`; returns
    /// true when it got there.
    pub fn run_until(&mut self, until: Time, deadline: Instant) -> bool {
        loop {
            let done = self.engine.advance(until, CHUNK);
            if done < CHUNK {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
        }
    }

    /// Processes the next device or campaign event.
    pub fn step_event(&mut self) -> bool {
        self.engine.step_event()
    }

    /// Runs until the oracle records a violation beyond the current count.
    pub fn seek_violation(&mut self, deadline: Instant) -> Seek {
        let before = self.violations();
        let mut n = 0u64;
        loop {
            let more = self.engine.step_event();
            // The end-of-run checks may be what fires.
            if self.violations() > before {
                return Seek::Found;
            }
            if !more {
                return Seek::End;
            }
            n += 1;
            if n.is_multiple_of(CHUNK) && Instant::now() >= deadline {
                return Seek::NotYet;
            }
        }
    }

    /// The device whose trace is followed.
    pub fn focused(&self) -> Option<u64> {
        self.focus
            .as_ref()
            .map(|f| self.engine.devices()[f.slot].number)
    }

    /// Follows device `number` (its trace is replayed from the start).
    pub fn set_focus(&mut self, number: Option<u64>) {
        self.focus = number.and_then(|n| {
            let slot = self
                .engine
                .devices()
                .binary_search_by_key(&n, |d| d.number)
                .ok()?;
            let selection = Selection {
                shard: None,
                only: Some(n),
                record: Some(n),
            };
            Some(Focus {
                slot,
                shadow: Engine::new(&self.scenario, &selection),
            })
        });
    }

    /// The combined digest of the device traces so far.
    pub fn digest(&self) -> String {
        self.engine.digest_so_far()
    }

    /// A snapshot of the run now; with the digest so far when `with_digest`.
    pub fn snapshot(&mut self, with_digest: bool) -> Snapshot {
        let now = self.engine.now();
        // Events at `now` may be left in the main run (a step, or a slice
        // cut by the budget): the replay stops short of them.
        let replay_to = if self.engine.next_event_at() == Some(now) {
            Time(now.as_millis().saturating_sub(1))
        } else {
            now
        };
        let focus = self.focus.as_mut().map(|f| {
            // A device's history depends only on its own streams: the shadow
            // run of it alone follows the main run exactly.
            f.shadow.advance(replay_to, u64::MAX);
            let trace = f.shadow.trace();
            FocusedTrace {
                slot: f.slot,
                lines: trace[trace.len().saturating_sub(TRACE_SHOWN)..].to_vec(),
                total: trace.len() as u64,
            }
        });
        Snapshot::capture(Parts {
            now,
            end: self.engine.end(),
            events: self.engine.processed(),
            ledger: self.engine.ledger(),
            devices: self.engine.devices(),
            setup: self.engine.setup(),
            members: &self.members,
            focus,
            finished: self.finished(),
            with_digest,
            in_flight: 0,
        })
    }
}

/// A real-time run against a server, on its own thread.
pub struct RealRun {
    /// The server's base URL.
    pub target: String,
    live: Arc<Live>,
    thread: Option<JoinHandle<Result<RunResult, RuntimeError>>>,
    outcome: Option<Result<RunResult, RuntimeError>>,
    last: Snapshot,
}

impl RealRun {
    /// Starts `scenario` against `opts.target`; the UI reads the snapshots it publishes.
    pub fn start(scenario: Scenario, mut opts: RealOptions) -> RealRun {
        let live = Arc::new(Live::new());
        opts.live = Some(live.clone());
        let target = opts.target.base_url.clone();
        let last = Snapshot {
            end: Time(scenario.duration.0.as_millis()),
            ..Snapshot::default()
        };
        let thread = std::thread::Builder::new()
            .name("fleetsim-real".into())
            .spawn(move || crate::realtime::run(&scenario, &opts));
        let (thread, outcome) = match thread {
            Ok(t) => (Some(t), None),
            Err(e) => (None, Some(Err(RuntimeError::Runtime(e)))),
        };
        RealRun {
            target,
            live,
            thread,
            outcome,
            last,
        }
    }

    /// A run that has already ended with `snapshot` (for tests of the screens).
    #[cfg(test)]
    pub fn finished(target: String, mut snapshot: Snapshot) -> RealRun {
        snapshot.finished = true;
        RealRun {
            target,
            live: Arc::new(Live::new()),
            thread: None,
            outcome: None,
            last: snapshot,
        }
    }

    /// Follows device `number`.
    pub fn set_focus(&mut self, number: Option<u64>) {
        self.live
            .focus
            .store(number.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The device whose trace is followed.
    pub fn focused(&self) -> Option<u64> {
        self.live.focused()
    }

    /// The latest published snapshot (the previous one if nothing new came).
    pub fn snapshot(&mut self) -> Snapshot {
        if let Some(s) = self.live.snapshot.lock().ok().and_then(|mut s| s.take()) {
            self.last = s;
        }
        if self.thread.as_ref().is_some_and(|t| t.is_finished()) {
            self.outcome = self.thread.take().map(joined);
        }
        if self.outcome.is_some() || self.thread.is_none() {
            self.last.finished = true;
        }
        self.last.clone()
    }

    /// Why the run could not be carried out, if it could not.
    pub fn error(&self) -> Option<String> {
        match &self.outcome {
            Some(Err(e)) => Some(e.to_string()),
            _ => None,
        }
    }

    /// Asks the run to stop and waits for it, at most `bound` (requests in
    /// flight end within their own timeouts, but a run still registering
    /// devices or connecting to a broker may take longer); returns its result,
    /// or `None` when it did not stop in time.
    pub fn stop(mut self, bound: Duration) -> Option<Result<RunResult, RuntimeError>> {
        self.live.stop.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + bound;
        while self.thread.as_ref().is_some_and(|t| !t.is_finished()) {
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(t) = self.thread.take() {
            self.outcome = Some(joined(t));
        }
        self.outcome
    }
}

/// The run thread's result; a panic in it becomes an error, not silence.
fn joined(t: JoinHandle<Result<RunResult, RuntimeError>>) -> Result<RunResult, RuntimeError> {
    t.join().unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(RuntimeError::Runtime(std::io::Error::other(format!(
            "the real-time run panicked: {what}"
        ))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::tui::tests::small;

    #[test]
    fn slices_end_in_the_same_digest_as_one_run() {
        let whole = Engine::new(&small(), &Selection::default()).run(|_| {});
        let mut run = VirtualRun::new(small());
        let far = Instant::now() + std::time::Duration::from_secs(60);
        let mut t = Time::ZERO;
        while !run.finished() {
            t += crate::time::Span::secs(37);
            run.run_until(t, far);
            let _ = run.step_event();
        }
        assert_eq!(run.snapshot(true).digest, whole.digest);
    }

    #[test]
    fn the_focused_device_trace_follows_the_run() {
        let mut run = VirtualRun::new(small());
        let far = Instant::now() + std::time::Duration::from_secs(60);
        run.set_focus(Some(3));
        run.run_until(Time(2 * 3_600_000), far);
        let snap = run.snapshot(false);
        let device = snap.device.expect("focused device");
        assert_eq!(device.number, 3);
        assert!(!device.trace.is_empty());
        let last = device.trace.last().map(String::as_str).unwrap_or("");
        let at = crate::engine::replay::line_time(last).unwrap_or(u64::MAX);
        assert!(at <= 2 * 3_600_000, "{last}");
        // The rest of the trace comes as the run goes on.
        run.run_until(Time(4 * 3_600_000), far);
        assert!(run.snapshot(false).device.map_or(0, |d| d.trace.len()) > device.trace.len());
    }

    #[test]
    fn restart_with_another_seed_changes_the_run_and_keeps_the_focus() {
        let mut run = VirtualRun::new(small());
        run.set_focus(Some(5));
        let far = Instant::now() + std::time::Duration::from_secs(60);
        run.run_until(run.end(), far);
        let first = run.snapshot(true).digest;
        run.restart(8);
        assert_eq!(run.now(), Time::ZERO);
        assert_eq!(run.focused(), Some(5));
        run.run_until(run.end(), far);
        assert_ne!(run.snapshot(true).digest, first);
        assert_eq!(run.scenario().seed, 8);
    }
}
