//! `fleetsim tui`: explore a scenario interactively in the terminal.
//!
//! The pieces, from the inside out:
//! - [`source`] runs the scenario: a virtual-time engine in slices, or a
//!   real-time run on its own thread against `--target`;
//! - [`snapshot`] is what one frame shows, captured from either;
//! - [`app`] is the state and the keys (pause, steps, speed, seeks,
//!   restarts, screens), unit-tested without a terminal;
//! - [`draw`] renders an [`App`](app::App) with ratatui, snapshot-tested on
//!   its `TestBackend`;
//! - this module owns the terminal: raw mode and the alternate screen are
//!   restored on every way out (quit, error, panic, Ctrl-C, SIGTERM/SIGHUP).
//!
//! The UI samples the simulation once per frame (20 per second); between
//! frames the engine runs its events without drawing, so 100 000 devices
//! stay responsive.

pub mod app;
pub mod draw;
pub mod snapshot;
pub mod source;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyEventKind};

use crate::runtime::{RealOptions, RuntimeError};
use crate::scenario::Scenario;
use crate::sim::RunResult;
use app::{App, Source};
use source::{RealRun, VirtualRun};

/// Time between frames.
const FRAME: Duration = Duration::from_millis(50);
/// Most of a frame the simulation may use.
const BUDGET: Duration = Duration::from_millis(40);

/// Set by SIGTERM, SIGHUP or SIGINT: leave the loop, restore the terminal.
static SIGNALLED: AtomicBool = AtomicBool::new(false);

/// Terminal trouble (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// The terminal could not be set up or drawn on.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
}

/// How the session ended, for the line printed after the terminal is back.
pub struct Ending {
    /// The virtual run's seed, or `None` for a real-time run.
    pub seed: Option<u64>,
    /// Scenario time reached.
    pub now: crate::time::Time,
    /// Whether the run reached its end.
    pub finished: bool,
    /// Digest so far.
    pub digest: String,
    /// Violations found.
    pub violations: u64,
    /// The real-time run's own outcome (when it ran against `--target`).
    pub real: Option<Result<RunResult, RuntimeError>>,
}

/// Runs the TUI over `scenario` (loaded from `file`; `command` is the
/// `fleetsim run …` that repeats it, without `--seed`): in virtual time, or
/// in real time when `real` is given. Blocks until quit.
pub fn run(
    scenario: Scenario,
    file: String,
    command: String,
    real: Option<RealOptions>,
) -> Result<Ending, TuiError> {
    let source = match real {
        Some(opts) => Source::Real(Box::new(RealRun::start(scenario.clone(), opts))),
        None => Source::Virtual(Box::new(VirtualRun::new(scenario.clone()))),
    };
    let mut app = App::new(source, scenario, file);
    app.command = command;
    install_signal_handlers();
    // Restores the terminal on the way out, `?` included (also when setting
    // it up fails half-way); ratatui's panic hook restores it on a panic.
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            ratatui::restore();
        }
    }
    let restore = Restore;
    let mut terminal = ratatui::try_init()?;
    let mut last = Instant::now();
    while !app.quit && !SIGNALLED.load(Ordering::Relaxed) {
        terminal.draw(|f| draw::draw(f, &app))?;
        let busy = app.is_busy();
        let frame_end = Instant::now() + if busy { Duration::ZERO } else { FRAME };
        loop {
            let wait = frame_end.saturating_duration_since(Instant::now());
            if !event::poll(wait)? {
                break;
            }
            if let Event::Key(k) = event::read()? {
                if k.kind != KeyEventKind::Release {
                    app.on_key(k);
                }
            }
            if app.quit {
                break;
            }
        }
        let now = Instant::now();
        app.tick(now - last, BUDGET);
        last = now;
    }
    drop(restore);
    let s = &app.snapshot;
    let mut ending = Ending {
        seed: app.seed(),
        now: app.now(),
        finished: s.finished,
        digest: s.digest.clone(),
        violations: s.violations_total,
        real: None,
    };
    if let Source::Real(r) = app.source {
        ending.real = r.stop();
    }
    Ok(ending)
}

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::Relaxed);
}

fn install_signal_handlers() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGHUP, handler);
        libc::signal(libc::SIGINT, handler);
    }
}
