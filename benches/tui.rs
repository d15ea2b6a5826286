//! TUI responsiveness benchmark: `cargo bench --bench tui`.
//!
//! Plays the frame loop of `fleetsim tui` without a terminal: the quickstart
//! scenario scaled to 100 000 devices (`FLEETSIM_BENCH_DEVICES`), at "as fast
//! as possible", each frame a tick with the TUI's 40 ms budget and a draw
//! into a 160×48 ratatui `TestBackend`. Prints per-frame figures: snapshot
//! capture, draw, whole frame (p50/p99/max), the time to answer a key
//! (pause: handle + snapshot + draw), and events/s with the UI compared to
//! `Engine::run` alone.
//!
//! Without `--bench` (which `cargo bench` passes and `cargo test
//! --all-targets` does not) it only runs a 1 000-device smoke test.

use std::time::{Duration, Instant};

use fleetsim::engine::{Engine, Selection};
use fleetsim::tui::app::{App, Source, SPEEDS};
use fleetsim::tui::source::VirtualRun;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let devices: u32 = if bench {
        std::env::var("FLEETSIM_BENCH_DEVICES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000)
    } else {
        1_000
    };
    let max_frames = if bench { 400 } else { 20 };
    let mut s = fleetsim::scenario::load(std::path::Path::new("scenarios/quickstart.yaml"))
        .expect("quickstart loads");
    s.scale_fleet(devices);

    let started = Instant::now();
    let plain = Engine::new(&s, &Selection::default()).run(|_| {});
    let plain_secs = started.elapsed().as_secs_f64();

    let built = Instant::now();
    let run = VirtualRun::new(s.clone());
    let mut app = App::new(Source::Virtual(Box::new(run)), s, "quickstart.yaml".into());
    let setup = built.elapsed();
    app.speed = SPEEDS.len() - 1; // as fast as possible
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("backend");
    let (mut frames, mut snaps, mut draws) = (Vec::new(), Vec::new(), Vec::new());
    let ui_started = Instant::now();
    while !app.snapshot.finished && frames.len() < max_frames {
        // A frame of the TUI's loop: a tick (simulation within the budget,
        // then a snapshot) and a draw.
        let frame = Instant::now();
        app.tick(Duration::from_millis(50), Duration::from_millis(40));
        let draw = Instant::now();
        terminal
            .draw(|f| fleetsim::tui::draw::draw(f, &app))
            .expect("draws");
        draws.push(draw.elapsed());
        frames.push(frame.elapsed());
        // The snapshot alone, outside the frame's timing.
        let snap = Instant::now();
        app.refresh();
        snaps.push(snap.elapsed());
    }
    let ui_secs =
        ui_started.elapsed().as_secs_f64() - snaps.iter().map(Duration::as_secs_f64).sum::<f64>();
    let events = app.snapshot.events;
    let key = Instant::now();
    app.on_key(KeyEvent::new(KeyCode::Char(' '), KeyModifiers::NONE));
    terminal
        .draw(|f| fleetsim::tui::draw::draw(f, &app))
        .expect("draws");
    let key_latency = key.elapsed();
    for v in [&mut frames, &mut snaps, &mut draws] {
        v.sort();
    }
    println!("fleetsim tui bench: quickstart × {devices} devices, max speed, 160×48");
    println!("  setup (engine + campaign members)  {}", ms(setup));
    for (name, v) in [("frame", &frames), ("snapshot", &snaps), ("draw", &draws)] {
        println!(
            "  {name:<9} p50 {:>10}  p99 {:>10}  max {:>10}  ({} frames)",
            ms(percentile(v, 0.5)),
            ms(percentile(v, 0.99)),
            ms(percentile(v, 1.0)),
            v.len()
        );
    }
    println!("  key (pause → drawn)  {}", ms(key_latency));
    println!(
        "  events/s with the UI {:.0} ({} events in {:.2} s, reached {}); Engine::run alone {:.0}",
        events as f64 / ui_secs,
        events,
        ui_secs,
        app.now(),
        plain.events as f64 / plain_secs
    );
}
