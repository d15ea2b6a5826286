//! Smoke test of `fleetsim tui` in a real terminal: the binary runs under
//! tmux, keys are sent to it, and the pane is captured and read. Also checks
//! that the terminal is back in cooked mode after `q` and after Ctrl-C.
//! Skipped (loudly) where tmux is not installed; `.ci/run` installs it.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of its own (`-L`), so tests never touch a user's sessions.
struct Pane {
    socket: String,
}

impl Pane {
    /// Runs `command` (a shell line) in a fresh 120×32 pane; the shell then
    /// prints the exit code and the terminal mode, and waits.
    fn start(name: &str, command: &str) -> Pane {
        let socket = format!("fleetsim-test-{}-{name}", std::process::id());
        let line =
            format!("{command}; echo EXIT=$?; echo STTY $(stty -a | tr '\\n' ' '); sleep 120");
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "120",
                "-y",
                "32",
            ])
            .arg(&line)
            .env("NO_COLOR", "1")
            .status()
            .expect("tmux runs");
        assert!(status.success(), "tmux new-session");
        Pane { socket }
    }

    fn send(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys"])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }

    fn capture(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits (at most `secs`) until the pane shows every one of `texts`.
    fn wait_for(&self, texts: &[&str], secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.capture();
            if texts.iter().all(|t| screen.contains(t)) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited {secs} s for {texts:?}; the pane shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (at most `secs`) until the pane no longer shows `text`.
    fn wait_gone(&self, text: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.capture();
            if !screen.contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "waited {secs} s for {text:?} to go; the pane shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// After the TUI exits: its exit code, and that the terminal is cooked again.
    fn exit_code(&self) -> i32 {
        let screen = self.wait_for(&["EXIT=", "STTY"], 60);
        let stty = screen
            .lines()
            .skip_while(|l| !l.starts_with("STTY"))
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            stty.contains(" icanon") && stty.contains(" echo ") && !stty.contains("-icanon"),
            "the terminal is left in raw mode: {stty}"
        );
        let code = screen
            .lines()
            .find_map(|l| l.strip_prefix("EXIT="))
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(-1);
        code
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

fn tmux_available() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("tui tmux smoke test: SKIPPED — tmux is not installed (apt-get install tmux)");
    }
    ok
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_fleetsim")
}

#[test]
fn explore_a_broken_scenario_with_keys() {
    if !tmux_available() {
        return;
    }
    let pane = Pane::start(
        "explore",
        &format!("{} tui scenarios/broken/wrong-artifact-hash.yaml", bin()),
    );
    pane.wait_for(&["fleetsim", "1 Fleet", "Fleet state", "Campaigns"], 30);
    pane.send(&["Space"]);
    pane.wait_for(&["paused"], 10);
    pane.send(&["v"]);
    let screen = pane.wait_for(&["stopped at a violation", "DDI-ARTIFACT-HASH"], 30);
    assert!(screen.contains("1 violations"), "{screen}");
    pane.send(&["Enter"]);
    pane.wait_for(&["Device ", "Trace", "following", "phase"], 10);
    pane.send(&["?"]);
    pane.wait_for(&["Keys", "pause / resume", "run to the next violation"], 10);
    pane.send(&["Escape"]);
    pane.wait_gone("Keys ·", 10);
    pane.send(&["4"]);
    pane.wait_for(&["digest", "seed      7"], 10);
    pane.send(&["q"]);
    assert_eq!(pane.exit_code(), 1, "violations were found: exit 1");
    let screen = pane.capture();
    assert!(screen.contains("fleetsim tui: stopped at"), "{screen}");
    assert!(screen.contains("--seed 7"), "{screen}");
}

#[test]
fn ctrl_c_restores_the_terminal() {
    if !tmux_available() {
        return;
    }
    let pane = Pane::start("ctrlc", &format!("{} tui scenarios/quickstart.yaml", bin()));
    pane.wait_for(&["Fleet state"], 30);
    pane.send(&["C-c"]);
    assert_eq!(pane.exit_code(), 0);
}

#[test]
fn sigterm_restores_the_terminal() {
    if !tmux_available() {
        return;
    }
    // A seed no other test uses and an anchored pattern (not the shell
    // around it), so pkill finds this process only.
    let seed = 900_000 + std::process::id() % 99_999;
    let pane = Pane::start(
        "sigterm",
        &format!("{} tui scenarios/quickstart.yaml --seed {seed}", bin()),
    );
    pane.wait_for(&["Fleet state"], 30);
    let status = Command::new("pkill")
        .args(["-TERM", "-f"])
        .arg(format!(
            "^{} tui scenarios/quickstart.yaml --seed {seed}$",
            bin()
        ))
        .status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("sigterm test: SKIPPED — pkill is not available or found nothing");
        return;
    }
    assert_eq!(pane.exit_code(), 0);
}

#[test]
fn closing_the_terminal_ends_the_tui() {
    if !tmux_available() {
        return;
    }
    let seed = 800_000 + std::process::id() % 99_999;
    let pattern = format!("^{} tui scenarios/quickstart.yaml --seed {seed}$", bin());
    let pane = Pane::start(
        "hangup",
        &format!("{} tui scenarios/quickstart.yaml --seed {seed}", bin()),
    );
    pane.wait_for(&["Fleet state"], 30);
    // The window goes away: SIGHUP, and a terminal that reads end-of-file.
    drop(pane);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let running = Command::new("pgrep")
            .args(["-f", &pattern])
            .output()
            .is_ok_and(|o| o.status.success());
        if !running {
            return;
        }
        if Instant::now() >= deadline {
            let _ = Command::new("pkill")
                .args(["-KILL", "-f", &pattern])
                .status();
            panic!("fleetsim tui still runs 20 s after its terminal closed");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn real_time_against_serve_hides_virtual_controls() {
    if !tmux_available() {
        return;
    }
    let serve = common::ServeProcess::start("scenarios/quickstart.yaml", 20_000.0);
    let pane = Pane::start(
        "real",
        &format!(
            "{} tui scenarios/quickstart.yaml --devices 30 --time-scale 20000 --target {}",
            bin(),
            serve.base_url
        ),
    );
    let screen = pane.wait_for(&["real time", "Fleet state"], 30);
    assert!(!screen.contains("space pause"), "{screen}");
    pane.send(&["?"]);
    let help = pane.wait_for(&["Keys", "virtual-only"], 10);
    assert!(!help.contains("pause / resume"), "{help}");
    pane.send(&["Escape"]);
    pane.wait_gone("Keys ·", 10);
    pane.wait_for(&["finished", "/30 updated"], 60);
    pane.send(&["q"]);
    assert_eq!(pane.exit_code(), 0);
}
