//! The `fleetsim` commands: what each subcommand does with the library, as
//! an [`Exit`] that `main` maps to the process's exit code.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use fleetsim::engine::{parallel, RunResult, Selection};
use fleetsim::scenario::{self, Scenario};

mod args;
mod conform_command;
mod flag_checks;
mod progress;
mod proxy_command;
mod reference;
mod report_commands;
mod run_options;
mod serve_command;
mod shrink_command;
mod tui_command;

pub(crate) use args::*;
use flag_checks::load_within;
use run_options::{prepare, runtime_exit};
use serve_command::serve_command;

/// How a command ended; `main` maps it to the exit code.
pub(crate) enum Exit {
    Pass,
    Violations,
    /// Exit 1 with a message (e.g. nothing to shrink).
    Failed(String),
    BadInput(String),
    Infrastructure(anyhow::Error),
}

/// Runs the command `cli` names.
pub(crate) fn dispatch(cli: Cli) -> Exit {
    match cli.command {
        Command::Check { scenario, limits } => match load_within(&scenario, &limits) {
            Ok(s) => {
                println!(
                    "{}: ok ({} devices in {} groups, {} campaigns, {} server faults)",
                    scenario.display(),
                    s.device_count(),
                    s.fleet.len(),
                    s.campaigns.len(),
                    s.faults.server.len()
                );
                Exit::Pass
            }
            Err(e) => e,
        },
        Command::Run(args) => run_command(*args),
        Command::Serve(args) => serve_command(*args),
        Command::Proxy(args) => proxy_command::proxy_command(*args),
        Command::Replay { report, device } => report_commands::replay_command(&report, &device),
        Command::Report(ReportCommand::Merge { inputs, out }) => {
            report_commands::merge_command(&inputs, &out)
        }
        Command::Conform(args) => conform_command::run(*args),
        Command::Shrink(args) => shrink_command::run(args),
        Command::Tui(args) => tui_command::run(*args),
        Command::Schema => {
            print!("{}", scenario::schema::json_schema_text());
            Exit::Pass
        }
        Command::Reference { page, scenarios } => reference::print(page, &scenarios),
        Command::DocCommands { files } => reference::commands::check(&files),
    }
}

fn run_command(mut a: RunArgs) -> Exit {
    let (s, real) = match prepare(&mut a) {
        Ok(prepared) => prepared,
        Err(e) => return e,
    };
    let quiet = a.quiet || !is_terminal();
    let Some(opts) = real else {
        let selection = Selection {
            shard: a.shard,
            only: None,
            record: a.trace_device,
        };
        let threads = match a.threads.map(usize::from) {
            Some(t) if t > 1 => match parallel::split_refusal(&s) {
                Some(why) => {
                    return Exit::BadInput(format!(
                        "--threads {t}: this fleet runs on one thread: {why}"
                    ))
                }
                None => t,
            },
            Some(t) => t,
            None => parallel::default_threads(&s),
        };
        return run_virtual(&s, &a.scenario, selection, threads, a.out, quiet);
    };
    let metrics = match a.metrics_listen.map(progress::serve_metrics).transpose() {
        Ok(metrics) => metrics,
        Err(e) => return e,
    };
    let started = std::time::Instant::now();
    let feed = metrics.as_ref().map(|(m, _)| m.clone());
    match progress::run_with_progress(&s, opts, !quiet, feed) {
        Ok(result) => finish(&s, &a.scenario, result, started.elapsed(), a.out),
        Err(e) => runtime_exit(e),
    }
}

fn is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

fn run_virtual(
    s: &Scenario,
    file: &Path,
    selection: Selection,
    threads: usize,
    out: Option<PathBuf>,
    quiet: bool,
) -> Exit {
    let started = std::time::Instant::now();
    if selection.shard.is_some_and(|(i, _)| i >= s.device_count()) {
        return Exit::BadInput("the selection (--shard) contains no devices".into());
    }
    let end = s.duration.0;
    let mut result = parallel::run(s, &selection, threads, |now| {
        if !quiet {
            let pct = 100.0 * now.as_millis() as f64 / end.as_millis().max(1) as f64;
            eprint!(
                "\r  simulating {now} of {} ({pct:3.0}%)   ",
                scenario::units::format_duration(end)
            );
            let _ = std::io::stderr().flush();
        }
    });
    if !quiet {
        eprint!("\r{:70}\r", "");
    }
    let elapsed = started.elapsed();
    fleetsim::engine::attach_excerpts(s, &mut result);
    for line in &result.trace {
        eprintln!("{line}");
    }
    finish(s, file, result, elapsed, out)
}

fn finish(
    s: &Scenario,
    file: &Path,
    result: RunResult,
    elapsed: std::time::Duration,
    out: Option<PathBuf>,
) -> Exit {
    let report = fleetsim::report::build(s, &file.display().to_string(), &result, elapsed);
    let dir = out.unwrap_or_else(|| Path::new("reports").join(&s.name));
    let path = match fleetsim::report::write(&report, &dir).context("writing the report") {
        Ok(p) => p,
        Err(e) => return Exit::Infrastructure(e),
    };
    print!(
        "{}",
        fleetsim::report::print_summary(&report, &path.display().to_string())
    );
    if report.verdict.passed {
        Exit::Pass
    } else {
        Exit::Violations
    }
}
