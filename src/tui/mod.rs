//! `fleetsim tui`: explore a scenario interactively in the terminal.
//!
//! The pieces, from the inside out:
//! - [`source`] runs the scenario: a virtual-time engine in slices, or a
//!   real-time run on its own thread against `--target`;
//! - [`snapshot`](crate::snapshot) is what one frame shows, captured from either;
//! - [`app`] is the state and the keys (pause, steps, speed, seeks,
//!   restarts, screens), unit-tested without a terminal;
//! - [`draw`] renders an [`App`] with ratatui, snapshot-tested on
//!   its `TestBackend`;
//! - this module owns the terminal: raw mode and the alternate screen are
//!   restored on every way out (quit, error, a panic on the UI thread,
//!   Ctrl-C, SIGTERM/SIGHUP).
//!
//! The UI samples the simulation once per frame (20 per second); between
//! frames the engine runs its events without drawing, so 100 000 devices
//! stay responsive.

pub mod app;
pub mod draw;

pub mod source;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyEventKind};

use crate::engine::RunResult;
use crate::realtime::{RealOptions, RuntimeError};
use crate::scenario::Scenario;
use app::{App, Source};
use source::{RealRun, VirtualRun};

/// Time between frames.
const FRAME: Duration = Duration::from_millis(50);
/// Most of a frame the simulation may use.
const BUDGET: Duration = Duration::from_millis(40);

/// Set by SIGTERM, SIGHUP or SIGINT: leave the loop, restore the terminal.
static SIGNALLED: AtomicBool = AtomicBool::new(false);
/// Set once the frame loop has ended.
static LOOP_DONE: AtomicBool = AtomicBool::new(false);
/// How long a signalled UI may take to leave its loop before the watchdog
/// ends the process.
const SIGNAL_GRACE: Duration = Duration::from_secs(2);
/// Set when another thread's panic message was printed over the UI.
static REPAINT: AtomicBool = AtomicBool::new(false);
/// How long quitting waits for a real-time run to stop.
const STOP_BOUND: Duration = Duration::from_secs(45);

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
    /// A real-time run did not stop within the bound.
    pub stop_timed_out: bool,
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
    set_signal_handlers(true);
    // Restores the terminal on the way out, `?` included (also when setting
    // it up fails half-way).
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            restore_terminal();
            set_signal_handlers(false);
        }
    }
    let restore = Restore;
    let ui_thread = std::thread::current().id();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // A panic on the UI thread ends the session: the terminal comes
        // back before the message is printed. One on another thread (a
        // real-time run's) leaves the UI up; its message is painted over.
        if std::thread::current().id() == ui_thread {
            restore_terminal();
        } else {
            REPAINT.store(true, Ordering::Relaxed);
        }
        default_hook(info);
    }));
    ratatui::crossterm::terminal::enable_raw_mode()?;
    ratatui::crossterm::execute!(
        std::io::stdout(),
        ratatui::crossterm::terminal::EnterAlternateScreen
    )?;
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stdout()))?;
    spawn_watchdog();
    let mut last = Instant::now();
    while !app.quit && !SIGNALLED.load(Ordering::Relaxed) {
        if REPAINT.swap(false, Ordering::Relaxed) {
            terminal.clear()?;
        }
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
    LOOP_DONE.store(true, Ordering::Relaxed);
    drop(restore);
    let _ = std::panic::take_hook();
    let s = &app.snapshot;
    let mut ending = Ending {
        seed: app.seed(),
        now: app.now(),
        finished: s.finished,
        digest: match &app.source {
            Source::Virtual(v) => v.digest(),
            Source::Real(_) => s.digest.clone(),
        },
        violations: s.violations_total,
        real: None,
        stop_timed_out: false,
    };
    if let Source::Real(r) = app.source {
        if !s.finished {
            eprintln!(
                "fleetsim tui: stopping the run (requests in flight end within their timeouts)…"
            );
        }
        ending.real = r.stop(STOP_BOUND);
        ending.stop_timed_out = ending.real.is_none();
    }
    Ok(ending)
}

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::Relaxed);
}

/// Leaves raw mode and the alternate screen. Errors are ignored: when the
/// terminal is gone there is nothing to restore, and printing about it
/// would panic (stderr is that terminal).
fn restore_terminal() {
    let _ = ratatui::try_restore();
}

/// Ends the process when a signal came and the frame loop did not leave
/// within [`SIGNAL_GRACE`]: when its terminal is gone (SIGHUP from a closed
/// window), crossterm's event poll spins on end-of-file and never returns.
fn spawn_watchdog() {
    let _ = std::thread::Builder::new()
        .name("fleetsim-tui-watchdog".into())
        .spawn(|| {
            while !LOOP_DONE.load(Ordering::Relaxed) {
                if SIGNALLED.load(Ordering::Relaxed) {
                    std::thread::sleep(SIGNAL_GRACE);
                    if !LOOP_DONE.load(Ordering::Relaxed) {
                        restore_terminal();
                        std::process::exit(143);
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
}

/// Catches SIGTERM, SIGHUP and SIGINT while the terminal is ours (`on`),
/// and gives them back their default action afterwards, so that a Ctrl-C
/// while a real-time run winds down still ends the process.
fn set_signal_handlers(on: bool) {
    let handler = if on {
        on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t
    } else {
        libc::SIG_DFL
    };
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGHUP, handler);
        libc::signal(libc::SIGINT, handler);
    }
}
