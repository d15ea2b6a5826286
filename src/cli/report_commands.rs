//! The CLI side of `fleetsim replay` and `fleetsim report merge`: argument
//! handling and terminal output around `fleetsim::report::{replay, merge}`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::Exit;
use fleetsim::report::replay::replay;

/// `fleetsim replay REPORT --device ID`.
pub fn replay_command(report: &Path, device: &str) -> Exit {
    let replayed = match replay(report, device) {
        Ok(r) => r,
        Err(e) => return Exit::BadInput(e.to_string()),
    };
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let s = &replayed.scenario;
    println!(
        "replaying {} (device {}) of {} (seed {}, {} devices)",
        replayed.controller_id,
        replayed.number,
        s.name,
        s.seed,
        s.device_count()
    );
    if !replayed.rerun {
        println!(
            "(a real-time run: the exchange recorded before the first violation, not a re-run)"
        );
    }
    println!();
    for line in &replayed.trace {
        println!("{}", paint(line, colour));
    }
    println!();
    for (id, at_ms, message) in &replayed.violations {
        let line = format!(
            "  violation {id} at {}: {message}",
            fleetsim::time::Time(*at_ms)
        );
        println!("{}", if colour { red(&line) } else { line });
    }
    if !replayed.rerun {
        Exit::Pass
    } else if replayed.matches() {
        println!(
            "  digest {} = the report's: the replay is exact",
            replayed.digest
        );
        Exit::Pass
    } else {
        println!(
            "  digest {} ≠ the report's {}: this fleetsim does not reproduce the run",
            replayed.digest, replayed.recorded
        );
        Exit::Violations
    }
}

fn red(s: &str) -> String {
    format!("\x1b[31m{s}\x1b[0m")
}

/// Colours a trace line by what it is: requests, answers by status class,
/// failures, server-side events.
fn paint(line: &str, colour: bool) -> String {
    if !colour {
        return line.to_string();
    }
    let code = if line.contains(" ⚙ ") {
        "35"
    } else if line.contains(" → ") {
        "36"
    } else if let Some(rest) = line.split(" ← ").nth(1) {
        match rest.trim_start().as_bytes().first() {
            Some(b'2') | Some(b'3') => "32",
            Some(b'4') => "33",
            _ => "31",
        }
    } else if line.contains(" ✗ ") {
        "31"
    } else {
        "2"
    };
    format!("\x1b[{code}m{line}\x1b[0m")
}

/// `fleetsim report merge DIR... --out DIR`.
pub fn merge_command(inputs: &[PathBuf], out: &Path) -> Exit {
    match fleetsim::report::merge::merge_dirs(inputs, out) {
        Ok(merged) => {
            println!(
                "merged {} shard reports: {} devices, digest {}",
                inputs.len(),
                merged.devices,
                merged.digest
            );
            println!("  reports      {}/", out.display());
            if merged.passed {
                Exit::Pass
            } else {
                Exit::Violations
            }
        }
        Err(e) => Exit::BadInput(e.to_string()),
    }
}
