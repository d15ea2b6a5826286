//! The TUI's state and what each key does, apart from drawing and from the
//! terminal: [`App::on_key`] and [`App::tick`] are plain methods, unit-tested
//! without a terminal.
//!
//! Virtual time moves at `speed` scenario seconds per real second: each tick
//! runs the events up to `cursor + speed × elapsed` within a time budget, so
//! a 100 000-device run stays responsive (the UI samples the simulation once
//! per frame; it never redraws per event). When the simulation cannot keep
//! up, the cursor waits for it instead of running up a debt.

use std::time::{Duration, Instant};

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::source::{RealRun, Seek, VirtualRun};
use crate::scenario::Scenario;
use crate::snapshot::Snapshot;
use crate::time::{Span, Time};

/// Speeds offered, in scenario seconds per real second; `None` is "as fast
/// as possible".
pub const SPEEDS: [Option<u64>; 9] = [
    Some(1),
    Some(10),
    Some(60),
    Some(600),
    Some(3_600),
    Some(21_600),
    Some(86_400),
    Some(604_800),
    None,
];

/// The screens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// Fleet overview.
    Overview,
    /// Violations list.
    Violations,
    /// One device.
    Device,
    /// The scenario loaded.
    Scenario,
}

impl Screen {
    /// In tab order.
    pub const ALL: [Screen; 4] = [
        Screen::Overview,
        Screen::Violations,
        Screen::Device,
        Screen::Scenario,
    ];

    /// Tab title.
    pub fn title(self) -> &'static str {
        match self {
            Screen::Overview => "1 Fleet",
            Screen::Violations => "2 Violations",
            Screen::Device => "3 Device",
            Screen::Scenario => "4 Scenario",
        }
    }
}

/// Where the run comes from.
pub enum Source {
    /// Virtual time against the embedded server: every control works.
    Virtual(Box<VirtualRun>),
    /// Real time against a server: time cannot be stopped or bent.
    Real(Box<RealRun>),
}

/// One key and what it does, for the help overlay and the footer.
pub struct KeyHelp {
    /// The key(s).
    pub keys: &'static str,
    /// What it does.
    pub what: &'static str,
    /// True when it only makes sense in virtual time.
    pub virtual_only: bool,
}

/// Every key, in help order.
pub const KEYS: &[KeyHelp] = &[
    key("space", "pause / resume", true),
    key(".", "step to the next event", true),
    key("s", "step one second of scenario time", true),
    key("m", "step one minute of scenario time", true),
    key("+ -", "faster / slower (up to as fast as possible)", true),
    key("v", "run to the next violation and stop there", true),
    key("r", "restart with the same seed", true),
    key("n", "restart with a new seed", true),
    key(
        "1-4 tab",
        "fleet, violations, device, scenario screen",
        false,
    ),
    key("↑ ↓ j k", "move in a list, scroll the trace", false),
    key("pgup pgdn", "move or scroll by 20 lines", false),
    key("enter", "open the selected violation's device", false),
    key("[ ]", "previous / next device", false),
    key("g", "go to a device by number (type it, enter)", false),
    key("f end", "follow the trace's newest lines", false),
    key("?", "this help", false),
    key(
        "esc",
        "close help or input; back to the fleet screen",
        false,
    ),
    key("q ctrl-c", "quit", false),
];

const fn key(keys: &'static str, what: &'static str, virtual_only: bool) -> KeyHelp {
    KeyHelp {
        keys,
        what,
        virtual_only,
    }
}

/// The application state.
pub struct App {
    /// The run.
    pub source: Source,
    /// The scenario as loaded.
    pub scenario: Scenario,
    /// Scenario file, for the header.
    pub file: String,
    /// The `fleetsim run …` command (without `--seed`) that repeats the
    /// session's run: the scenario and the flags given.
    pub command: String,
    /// The screen shown.
    pub screen: Screen,
    /// True while virtual time stands still.
    pub paused: bool,
    /// Index into [`SPEEDS`].
    pub speed: usize,
    /// The help overlay is open.
    pub help: bool,
    /// Selected row of the violations list.
    pub selected: usize,
    /// Scrolled back: the trace line (counted over the whole trace) just
    /// after the last one shown, so the view stays put as lines come in.
    /// `None`: follow the newest lines.
    pub scroll: Option<u64>,
    /// Digits typed after `g`.
    pub input: Option<String>,
    /// Searching for the next violation.
    pub seeking: bool,
    /// True when the simulation could not keep up with the speed last tick.
    pub behind: bool,
    /// The last snapshot taken.
    pub snapshot: Snapshot,
    /// Events per real second over the last tick (for the header).
    pub events_per_sec: f64,
    /// A short message for the status line.
    pub message: Option<String>,
    /// Set when the user asked to quit.
    pub quit: bool,
    /// Scenario time the virtual run is allowed to reach.
    cursor: Time,
}

impl App {
    /// An app over `source`, running at the speed that plays the scenario
    /// in about a minute.
    pub fn new(source: Source, scenario: Scenario, file: String) -> App {
        let speed = match &source {
            Source::Virtual(v) => default_speed(v.end()),
            Source::Real(_) => 0,
        };
        let mut app = App {
            source,
            scenario,
            command: format!("fleetsim run {file}"),
            file,
            screen: Screen::Overview,
            paused: false,
            speed,
            help: false,
            selected: 0,
            scroll: None,
            input: None,
            seeking: false,
            behind: false,
            snapshot: Snapshot::default(),
            events_per_sec: 0.0,
            message: None,
            quit: false,
            cursor: Time::ZERO,
        };
        app.refresh();
        app
    }

    /// True in virtual time.
    pub fn is_virtual(&self) -> bool {
        matches!(self.source, Source::Virtual(_))
    }

    /// The speed, in scenario seconds per real second (`None`: as fast as possible).
    pub fn speed(&self) -> Option<u64> {
        SPEEDS[self.speed]
    }

    /// The server of a real-time run.
    pub fn target(&self) -> Option<String> {
        match &self.source {
            Source::Real(r) => Some(r.target.clone()),
            Source::Virtual(_) => None,
        }
    }

    /// True while the simulation wants all the time it can get (as fast as
    /// possible, seeking, or behind its speed): the frame loop then does
    /// not wait for keys between ticks.
    pub fn is_busy(&self) -> bool {
        self.is_virtual()
            && !self.snapshot.finished
            && (self.seeking || (!self.paused && (self.speed().is_none() || self.behind)))
    }

    /// The seed of a virtual run.
    pub fn seed(&self) -> Option<u64> {
        match &self.source {
            Source::Virtual(v) => Some(v.scenario().seed),
            Source::Real(_) => None,
        }
    }

    /// Takes a new snapshot.
    pub fn refresh(&mut self) {
        self.snapshot = match &mut self.source {
            Source::Virtual(v) => {
                // The digest reads every device: only when it is shown.
                let with_digest = self.screen == Screen::Scenario || v.finished();
                v.snapshot(with_digest)
            }
            Source::Real(r) => r.snapshot(),
        };
        if let Source::Real(r) = &self.source {
            if let Some(e) = r.error() {
                self.message = Some(format!("the run stopped: {e}"));
            }
        }
        let n = self.snapshot.violations.len();
        if self.selected >= n {
            self.selected = n.saturating_sub(1);
        }
    }

    /// Moves the simulation on by `elapsed` real time, within `budget`; then
    /// takes a snapshot.
    pub fn tick(&mut self, elapsed: Duration, budget: Duration) {
        let deadline = Instant::now() + budget;
        let speed = self.speed();
        let before = self.snapshot.events;
        let mut found = None;
        if let Source::Virtual(v) = &mut self.source {
            if self.seeking {
                match v.seek_violation(deadline) {
                    Seek::Found => {
                        self.seeking = false;
                        self.paused = true;
                        self.cursor = v.now();
                        self.screen = Screen::Violations;
                        found = Some((v.violations(), v.now()));
                    }
                    Seek::NotYet => self.cursor = v.now(),
                    Seek::End => {
                        self.seeking = false;
                        self.paused = true;
                        self.cursor = v.now();
                        self.message = Some("no more violations before the end".into());
                    }
                }
            } else if !self.paused && !v.finished() {
                let target = match speed {
                    Some(s) => {
                        let step = (elapsed.as_secs_f64() * s as f64 * 1000.0) as u64;
                        (self.cursor + Span(step)).min(v.end())
                    }
                    None => v.end(),
                };
                let reached = v.run_until(target, deadline);
                self.behind = !reached && speed.is_some();
                self.cursor = if reached { target } else { v.now() };
            }
        }
        self.refresh();
        if let Some((number, at)) = found {
            // The oracle keeps the first violations only.
            let row = (number as usize).saturating_sub(1);
            if row < self.snapshot.violations.len() {
                self.selected = row;
                self.message = Some(format!("stopped at a violation, {at}"));
            } else {
                self.message = Some(format!(
                    "stopped at violation #{number}, {at} (only the first {} are listed)",
                    self.snapshot.violations.len()
                ));
            }
        }
        let secs = elapsed.as_secs_f64();
        if secs > 0.0 {
            self.events_per_sec = self.snapshot.events.saturating_sub(before) as f64 / secs;
        }
    }

    /// Scenario time shown: where virtual time stands (the cursor runs ahead
    /// of the last event between events), or the real run's clock.
    pub fn now(&self) -> Time {
        match &self.source {
            Source::Virtual(v) => self.cursor.max(v.now()).min(v.end()),
            Source::Real(_) => self.snapshot.now,
        }
    }

    /// Handles one key.
    pub fn on_key(&mut self, key: KeyEvent) {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        // Esc and a key typed right after it reach us as one Alt-key: the
        // terminal cannot tell them apart. Nothing here uses Alt, so take it
        // as the two keys.
        if key.modifiers.contains(KeyModifiers::ALT) {
            self.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
            self.on_key(KeyEvent::new(key.code, key.modifiers - KeyModifiers::ALT));
            return;
        }
        if let Some(input) = &mut self.input {
            match key.code {
                KeyCode::Char(c) if c.is_ascii_digit() && input.len() < 12 => input.push(c),
                KeyCode::Backspace => {
                    input.pop();
                }
                KeyCode::Enter => {
                    let typed = self.input.take().unwrap_or_default();
                    match typed.parse::<u64>() {
                        Ok(n) if n < self.snapshot.devices => self.open_device(n),
                        _ => self.message = Some(format!("no device {typed}")),
                    }
                }
                KeyCode::Esc => self.input = None,
                _ => {}
            }
            return;
        }
        if self.help {
            if matches!(key.code, KeyCode::Esc | KeyCode::Char('?' | 'q')) {
                self.help = false;
            }
            return;
        }
        self.message = None;
        if self.is_virtual() && self.on_time_key(key.code) {
            return;
        }
        match key.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Esc => self.screen = Screen::Overview,
            KeyCode::Tab => self.cycle_screen(1),
            KeyCode::BackTab => self.cycle_screen(Screen::ALL.len() - 1),
            KeyCode::Char(c @ '1'..='4') => {
                self.screen = Screen::ALL[(c as u8 - b'1') as usize];
            }
            KeyCode::Char('g') => self.input = Some(String::new()),
            KeyCode::Char('[') => self.next_device(false),
            KeyCode::Char(']') => self.next_device(true),
            KeyCode::Up | KeyCode::Char('k') => self.move_up(1),
            KeyCode::Down | KeyCode::Char('j') => self.move_down(1),
            KeyCode::PageUp => self.move_up(20),
            KeyCode::PageDown => self.move_down(20),
            KeyCode::End | KeyCode::Char('f') => self.scroll = None,
            KeyCode::Enter if self.screen == Screen::Violations => {
                if let Some(v) = self.snapshot.violations.get(self.selected) {
                    let device = v.device;
                    self.open_device(device);
                }
            }
            _ => return,
        }
        self.refresh();
    }

    /// The keys that move virtual time; true when `code` was one.
    fn on_time_key(&mut self, code: KeyCode) -> bool {
        let Source::Virtual(v) = &mut self.source else {
            return false;
        };
        match code {
            KeyCode::Char(' ') => {
                self.paused = !self.paused;
                self.seeking = false;
                self.cursor = self.cursor.max(v.now());
            }
            KeyCode::Char('.') => {
                self.paused = true;
                self.seeking = false;
                if v.step_event() {
                    self.cursor = v.now();
                } else {
                    self.message = Some("the run is over".into());
                }
            }
            KeyCode::Char(c @ ('s' | 'm')) => {
                self.paused = true;
                self.seeking = false;
                let by = if c == 's' {
                    Span::secs(1)
                } else {
                    Span::secs(60)
                };
                let target = (self.cursor.max(v.now()) + by).min(v.end());
                // A step is small: it runs to the end whatever the budget.
                v.run_until(target, Instant::now() + Duration::from_secs(3600));
                self.cursor = target;
            }
            KeyCode::Char('+' | '=') => self.speed = (self.speed + 1).min(SPEEDS.len() - 1),
            KeyCode::Char('-' | '_') => self.speed = self.speed.saturating_sub(1),
            KeyCode::Char('v') => {
                self.seeking = true;
                self.paused = false;
            }
            KeyCode::Char(c @ ('r' | 'n')) => {
                let seed = v.scenario().seed;
                let seed = if c == 'n' { next_seed(seed) } else { seed };
                v.restart(seed);
                self.cursor = Time::ZERO;
                self.seeking = false;
                self.selected = 0;
                self.scroll = None;
                self.message = Some(format!("restarted with seed {seed}"));
            }
            _ => return false,
        }
        self.refresh();
        true
    }

    fn cycle_screen(&mut self, by: usize) {
        let i = Screen::ALL
            .iter()
            .position(|s| *s == self.screen)
            .unwrap_or(0);
        self.screen = Screen::ALL[(i + by) % Screen::ALL.len()];
    }

    /// Focuses device `number` and shows it.
    pub fn open_device(&mut self, number: u64) {
        match &mut self.source {
            Source::Virtual(v) => v.set_focus(Some(number)),
            Source::Real(r) => r.set_focus(Some(number)),
        }
        self.screen = Screen::Device;
        self.scroll = None;
        self.refresh();
    }

    fn focused(&self) -> Option<u64> {
        match &self.source {
            Source::Virtual(v) => v.focused(),
            Source::Real(r) => r.focused(),
        }
    }

    fn next_device(&mut self, forward: bool) {
        let count = self.snapshot.devices.max(1);
        let next = match (self.focused(), forward) {
            (None, _) => 0,
            (Some(n), true) => (n + 1) % count,
            (Some(n), false) => (n + count - 1) % count,
        };
        self.open_device(next);
    }

    fn move_up(&mut self, by: usize) {
        match self.screen {
            Screen::Violations => self.selected = self.selected.saturating_sub(by),
            Screen::Device => {
                let Some(d) = &self.snapshot.device else {
                    return;
                };
                let first_kept = d.trace_total - d.trace.len() as u64;
                let end = self.scroll.unwrap_or(d.trace_total);
                self.scroll = Some(end.saturating_sub(by as u64).max(first_kept + 1));
            }
            _ => {}
        }
    }

    fn move_down(&mut self, by: usize) {
        match self.screen {
            Screen::Violations => {
                let last = self.snapshot.violations.len().saturating_sub(1);
                self.selected = (self.selected + by).min(last);
            }
            Screen::Device => {
                let total = self.snapshot.device.as_ref().map_or(0, |d| d.trace_total);
                self.scroll = self
                    .scroll
                    .map(|end| end + by as u64)
                    .filter(|end| *end < total);
            }
            _ => {}
        }
    }
}

/// The preset that plays the whole scenario in about a minute.
fn default_speed(end: Time) -> usize {
    let wanted = end.as_millis() / 1000 / 60;
    SPEEDS
        .iter()
        .rposition(|s| s.is_some_and(|s| s <= wanted.max(1)))
        .unwrap_or(0)
}

/// The seed after `seed` (splitmix64), so a sequence of restarts is itself
/// reproducible.
pub fn next_seed(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) % 1_000_000_000
}
