//! The TUI's app logic and screens: keys against a real virtual run, and
//! every screen rendered on ratatui's `TestBackend` and compared with its
//! insta snapshot (`src/tui/snapshots/`).

use std::time::Duration;

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

use super::app::{next_seed, App, Screen, Source, SPEEDS};
use super::source::{RealRun, VirtualRun};
use crate::scenario::Scenario;
use crate::snapshot::{Snapshot, ViolationRow};
use crate::time::{Span, Time};

/// 30 DDI devices, 20 always on and 10 sleepy, one campaign at 1 h.
pub(crate) fn small() -> Scenario {
    let yaml = "name: tui-small\nseed: 7\nduration: 6h\nserver: { polling: 5m }\nfleet:\n  - kind: always_on\n    count: 20\n  - kind: constrained\n    count: 10\n    connectivity: { online_every: 1h, online_for: 5m }\ncampaigns:\n  - name: fw-2\n    at: 1h\n    version: 2.0.0\n    artifacts: [{ name: fw.bin, size: 64KiB }]\n";
    crate::scenario::load_str("small.yaml", yaml).expect("valid scenario")
}

fn shipped(path: &str) -> Scenario {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    crate::scenario::load(&full).expect("shipped scenario loads")
}

fn app(s: Scenario) -> App {
    App::new(
        Source::Virtual(Box::new(VirtualRun::new(s.clone()))),
        s,
        "small.yaml".into(),
    )
}

fn press(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn keys(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

/// Ticks with a budget that never runs out, so the outcome does not depend
/// on the machine's speed.
fn tick(app: &mut App, real: Duration) {
    app.tick(real, Duration::from_secs(3600));
}

fn seek_violation(app: &mut App) {
    press(app, KeyCode::Char('v'));
    for _ in 0..100 {
        if !app.seeking {
            return;
        }
        tick(app, Duration::from_millis(50));
    }
    panic!("no violation found");
}

fn render(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    terminal.draw(|f| super::draw::draw(f, app)).expect("draws");
    terminal.backend().to_string()
}

#[test]
fn space_pauses_and_resumes() {
    let mut a = app(small());
    assert!(!a.paused);
    keys(&mut a, " ");
    assert!(a.paused);
    tick(&mut a, Duration::from_secs(5));
    assert_eq!(a.now(), Time::ZERO, "paused time does not move");
    keys(&mut a, " ");
    assert!(!a.paused);
}

#[test]
fn time_moves_at_the_chosen_speed() {
    let mut a = app(small());
    // 6 h in about a minute: 60 × is the nearest preset below.
    assert_eq!(a.speed(), Some(60));
    tick(&mut a, Duration::from_secs(2));
    assert_eq!(a.now(), Time(120_000));
    keys(&mut a, "+");
    assert_eq!(a.speed(), Some(600));
    for _ in 0..SPEEDS.len() {
        keys(&mut a, "+");
    }
    assert_eq!(a.speed(), None, "the top speed is as fast as possible");
    tick(&mut a, Duration::from_millis(1));
    assert!(a.snapshot.finished, "max speed runs to the end");
    for _ in 0..SPEEDS.len() + 1 {
        keys(&mut a, "-");
    }
    assert_eq!(a.speed(), Some(1));
}

#[test]
fn steps_move_by_one_event_one_second_one_minute() {
    let mut a = app(small());
    keys(&mut a, ".");
    assert!(a.paused, "a step pauses");
    let first = a.snapshot.events;
    assert!(first >= 1);
    keys(&mut a, ".");
    assert!(a.snapshot.events > first);
    let t = a.now();
    keys(&mut a, "s");
    assert_eq!(a.now(), t + Span::secs(1));
    keys(&mut a, "m");
    assert_eq!(a.now(), t + Span::secs(61));
}

#[test]
fn restarts_keep_or_change_the_seed() {
    let mut a = app(small());
    tick(&mut a, Duration::from_secs(10));
    keys(&mut a, "r");
    assert_eq!(a.now(), Time::ZERO);
    assert_eq!(a.seed(), Some(7));
    keys(&mut a, "n");
    assert_eq!(a.seed(), Some(next_seed(7)));
    assert_ne!(next_seed(7), 7);
    assert_eq!(a.snapshot.events, 0);
}

#[test]
fn the_next_violation_stops_the_run_and_opens_its_device() {
    let mut a = app(shipped("scenarios/broken/wrong-artifact-hash.yaml"));
    seek_violation(&mut a);
    assert!(a.paused);
    assert_eq!(a.screen, Screen::Violations);
    assert_eq!(a.snapshot.violations_total, 1, "stopped at the first one");
    let v = a.snapshot.violations[0].clone();
    assert_eq!(v.id, "DDI-ARTIFACT-HASH");
    assert_eq!(a.now(), v.at, "stopped at the violation's time");
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.screen, Screen::Device);
    let d = a.snapshot.device.clone().expect("device view");
    assert_eq!(d.number, v.device);
    assert_eq!(d.violations, 1);
    assert!(!d.trace.is_empty());
    // The next one is further on.
    seek_violation(&mut a);
    assert_eq!(a.snapshot.violations_total, 2);
    assert_eq!(a.selected, 1);
}

#[test]
fn devices_open_by_number_and_step_through_the_fleet() {
    let mut a = app(small());
    keys(&mut a, "g12");
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.snapshot.device.as_ref().map(|d| d.number), Some(12));
    keys(&mut a, "]");
    assert_eq!(a.snapshot.device.as_ref().map(|d| d.number), Some(13));
    keys(&mut a, "[[");
    assert_eq!(a.snapshot.device.as_ref().map(|d| d.number), Some(11));
    keys(&mut a, "g999");
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.message.as_deref(), Some("no device 999"));
    assert_eq!(a.snapshot.device.as_ref().map(|d| d.number), Some(11));
}

#[test]
fn the_trace_scrolls_back_stays_put_and_follows_again() {
    let mut a = app(small());
    keys(&mut a, "g3");
    press(&mut a, KeyCode::Enter);
    tick(&mut a, Duration::from_secs(30));
    let total = a.snapshot.device.as_ref().map_or(0, |d| d.trace_total);
    assert!(total > 30, "{total}");
    press(&mut a, KeyCode::Up);
    press(&mut a, KeyCode::PageUp);
    assert_eq!(a.scroll, Some(total - 21));
    press(&mut a, KeyCode::Down);
    assert_eq!(a.scroll, Some(total - 20));
    // New lines come in; the view stays on the same lines.
    tick(&mut a, Duration::from_secs(30));
    assert_eq!(a.scroll, Some(total - 20));
    for _ in 0..100 {
        press(&mut a, KeyCode::PageUp);
    }
    assert_eq!(a.scroll, Some(1), "no further back than the first line");
    keys(&mut a, "f");
    assert_eq!(a.scroll, None);
}

#[test]
fn a_step_ends_a_seek() {
    let mut a = app(shipped("scenarios/broken/wrong-artifact-hash.yaml"));
    keys(&mut a, "v");
    assert!(a.seeking);
    keys(&mut a, ".");
    assert!(!a.seeking && a.paused);
}

#[test]
fn the_tui_finds_what_fleetsim_run_finds() {
    // URL-LIVE fires at the end of the run, from the state at the end.
    let s = shipped("scenarios/broken/url-live.yaml");
    let run = crate::engine::Engine::new(&s, &crate::engine::Selection::default()).run(|_| {});
    assert!(run.oracle.total() > 0);
    let mut a = app(s);
    seek_violation(&mut a);
    while !a.snapshot.finished {
        keys(&mut a, "v");
        tick(&mut a, Duration::from_millis(50));
    }
    assert_eq!(a.snapshot.violations_total, run.oracle.total());
    assert_eq!(a.snapshot.digest, run.digest);
}

#[test]
fn screens_help_and_quit() {
    let mut a = app(small());
    keys(&mut a, "2");
    assert_eq!(a.screen, Screen::Violations);
    press(&mut a, KeyCode::Tab);
    assert_eq!(a.screen, Screen::Device);
    press(&mut a, KeyCode::BackTab);
    press(&mut a, KeyCode::BackTab);
    assert_eq!(a.screen, Screen::Overview);
    keys(&mut a, "?");
    assert!(a.help);
    keys(&mut a, " ");
    assert!(
        !a.paused,
        "keys other than esc only close nothing while help is open"
    );
    press(&mut a, KeyCode::Esc);
    assert!(!a.help);
    // Esc then 2 typed quickly arrive as Alt-2.
    keys(&mut a, "?");
    a.on_key(KeyEvent::new(KeyCode::Char('2'), KeyModifiers::ALT));
    assert!(!a.help);
    assert_eq!(a.screen, Screen::Violations);
    a.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(a.quit);
}

/// A real-time app over a run that already ended, for the real-mode screens.
fn real_app() -> App {
    let s = small();
    let mut a = app(s.clone());
    tick(&mut a, Duration::from_secs(20));
    a.open_device(4);
    let mut snapshot = a.snapshot.clone();
    snapshot.violations.push(ViolationRow {
        id: "DDI-SM-410",
        device: 4,
        at: Time(3_000_000),
        message: "feedback after the action was closed".into(),
    });
    snapshot.violations_total = 1;
    let run = RealRun::finished("http://127.0.0.1:8080".into(), snapshot);
    App::new(Source::Real(Box::new(run)), s, "small.yaml".into())
}

#[test]
fn real_time_hides_the_virtual_controls() {
    let mut a = real_app();
    assert!(!a.is_virtual());
    let before = a.snapshot.now;
    keys(&mut a, " .smvn+");
    assert!(!a.paused && !a.seeking);
    assert_eq!(a.snapshot.now, before);
    assert_eq!(a.seed(), None);
    keys(&mut a, "?");
    let help = render(&a, 100, 30);
    assert!(!help.contains("pause / resume"), "{help}");
    assert!(!help.contains("new seed"), "{help}");
    assert!(help.contains("quit"), "{help}");
    assert!(help.contains("virtual-only"), "{help}");
}

#[test]
fn screen_overview() {
    let mut a = app(small());
    // 60× for 150 s: T+2h30m, the campaign at 1 h under way.
    tick(&mut a, Duration::from_secs(150));
    insta::assert_snapshot!(render(&a, 110, 30));
}

#[test]
fn screen_violations() {
    let mut a = app(shipped("scenarios/broken/url-handout.yaml"));
    seek_violation(&mut a);
    seek_violation(&mut a);
    insta::assert_snapshot!(render(&a, 110, 24));
}

#[test]
fn screen_device_with_windows_and_urls() {
    let mut a = app(shipped("scenarios/broken/url-handout.yaml"));
    seek_violation(&mut a);
    press(&mut a, KeyCode::Enter);
    keys(&mut a, "m");
    insta::assert_snapshot!(render(&a, 120, 30));
}

#[test]
fn screen_device_none_selected() {
    let mut a = app(small());
    keys(&mut a, "3");
    insta::assert_snapshot!(render(&a, 80, 12));
}

#[test]
fn screen_scenario() {
    let mut a = app(small());
    tick(&mut a, Duration::from_secs(36));
    keys(&mut a, "4");
    a.events_per_sec = 12_345.0;
    insta::assert_snapshot!(render(&a, 110, 24));
}

#[test]
fn screen_help() {
    let mut a = app(small());
    keys(&mut a, "?");
    insta::assert_snapshot!(render(&a, 100, 28));
}

#[test]
fn screen_real_time_overview() {
    let a = real_app();
    insta::assert_snapshot!(render(&a, 110, 24));
}

#[test]
fn a_snapshot_without_a_run_draws() {
    let mut a = app(small());
    a.snapshot = Snapshot::default();
    for screen in Screen::ALL {
        a.screen = screen;
        // Tiny terminals must not panic either.
        let _ = render(&a, 20, 6);
        let _ = render(&a, 110, 30);
    }
}

#[test]
fn real_time_shows_injected_faults_and_server_events() {
    let s = small();
    let mut a = app(s.clone());
    tick(&mut a, Duration::from_secs(20));
    let mut snapshot = a.snapshot.clone();
    snapshot.injected = vec![("net answer lost".into(), 7), ("client drop".into(), 2)];
    snapshot.server_events = Some(1234);
    let run = RealRun::finished("http://127.0.0.1:8080".into(), snapshot);
    let a = App::new(Source::Real(Box::new(run)), s, "small.yaml".into());
    let screen = render(&a, 120, 30);
    assert!(screen.contains("injected: net answer lost"), "{screen}");
    assert!(screen.contains("injected: client drop"), "{screen}");
    assert!(screen.contains("server events 1234"), "{screen}");
}
