//! The CLI side of `fleetsim tui`: checks that there is a terminal, runs
//! [`fleetsim::tui::run`] and, once the terminal is back, prints where the
//! session stopped and how to repeat the run.

use super::*;

pub fn run(mut a: RunArgs) -> Exit {
    let (s, real) = match prepare(&mut a) {
        Ok(prepared) => prepared,
        Err(e) => return e,
    };
    if a.shard.is_some() || a.trace_device.is_some() || a.out.is_some() {
        return Exit::BadInput(
            "--shard, --trace-device and --out apply to `fleetsim run`, not to the TUI".into(),
        );
    }
    if a.metrics_listen.is_some() {
        return Exit::BadInput("--metrics-listen applies to `fleetsim run`, not to the TUI".into());
    }
    {
        use std::io::IsTerminal;
        if !std::io::stdout().is_terminal() {
            return Exit::BadInput(
                "fleetsim tui needs a terminal; use `fleetsim run` in scripts and CI".into(),
            );
        }
    }
    let file = a.scenario.display().to_string();
    // What repeats the session's run, `--seed` aside.
    let mut command = format!("fleetsim run {file}");
    if let Some(n) = a.devices {
        command.push_str(&format!(" --devices {n}"));
    }
    if let Some(d) = a.duration {
        command.push_str(&format!(
            " --duration {}",
            scenario::units::format_duration(d)
        ));
    }
    let ending = match fleetsim::tui::run(s, file, command.clone(), real) {
        Ok(ending) => ending,
        Err(e) => return Exit::Infrastructure(e.into()),
    };
    let at = if ending.finished {
        "the end".to_string()
    } else {
        ending.now.to_string()
    };
    match ending.seed {
        Some(seed) => println!(
            "fleetsim tui: stopped at {at}, seed {seed}, {} violations, digest {}\n  the same run: {command} --seed {seed}",
            ending.violations,
            ending.digest,
        ),
        None => println!(
            "fleetsim tui: stopped at {at}, {} violations",
            ending.violations
        ),
    }
    if ending.stop_timed_out {
        return Exit::Infrastructure(anyhow::anyhow!(
            "the real-time run did not stop within 45 s of quitting; left behind"
        ));
    }
    match ending.real {
        Some(Err(e)) => runtime_exit(e),
        _ if ending.violations > 0 => Exit::Violations,
        _ => Exit::Pass,
    }
}
