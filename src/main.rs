//! `fleetsim` command line: parse arguments, call the library, map outcomes
//! to exit codes (0 pass, 1 violations or unmet expectations, 2 bad input,
//! 3 infrastructure failure).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use fleetsim::scenario::{self, Scenario};
use fleetsim::sim::{Engine, Selection};

#[derive(Parser)]
#[command(
    name = "fleetsim",
    version,
    about = "Deterministic device-fleet simulator and conformance tester for software-update servers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario in virtual time against the embedded server.
    Run {
        /// Scenario file (YAML).
        scenario: PathBuf,
        /// Seed (overrides the scenario's).
        #[arg(long)]
        seed: Option<u64>,
        /// Scale the fleet to this many devices, keeping group proportions.
        #[arg(long)]
        devices: Option<u32>,
        /// Simulate only shard I of N (devices with number % N == I).
        #[arg(long, value_parser = parse_shard)]
        shard: Option<(u64, u64)>,
        /// Report directory (default: reports/<scenario name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print a readable trace of this device number to stderr.
        #[arg(long)]
        trace_device: Option<u64>,
        /// No progress output.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Validate a scenario without running it.
    Check {
        /// Scenario file (YAML).
        scenario: PathBuf,
    },
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (i, n) = s.split_once('/').ok_or("expected I/N, e.g. 0/4")?;
    let i: u64 = i
        .parse()
        .map_err(|_| "expected I/N with numbers, e.g. 0/4")?;
    let n: u64 = n
        .parse()
        .map_err(|_| "expected I/N with numbers, e.g. 0/4")?;
    if n == 0 || i >= n {
        return Err(format!("expected 0 <= I < N, found {i}/{n}"));
    }
    Ok((i, n))
}

enum Exit {
    Pass,
    Violations,
    BadInput(String),
    Infrastructure(anyhow::Error),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match dispatch(cli) {
        Exit::Pass => ExitCode::SUCCESS,
        Exit::Violations => ExitCode::from(1),
        Exit::BadInput(msg) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Exit::Infrastructure(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(3)
        }
    }
}

fn load(path: &Path) -> Result<Scenario, Exit> {
    scenario::load(path).map_err(|e| Exit::BadInput(e.to_string()))
}

fn dispatch(cli: Cli) -> Exit {
    match cli.command {
        Command::Check { scenario } => match load(&scenario) {
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
        Command::Run {
            scenario,
            seed,
            devices,
            shard,
            out,
            trace_device,
            quiet,
        } => {
            let mut s = match load(&scenario) {
                Ok(s) => s,
                Err(e) => return e,
            };
            if let Some(seed) = seed {
                s.seed = seed;
            }
            if let Some(n) = devices {
                if n == 0 {
                    return Exit::BadInput(
                        "--devices: expected a device count of at least 1".into(),
                    );
                }
                s.scale_fleet(n);
            }
            let selection = Selection {
                shard,
                only: None,
                record: trace_device,
            };
            run(&s, &scenario, selection, out, quiet || !is_terminal())
        }
    }
}

fn is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

fn run(s: &Scenario, file: &Path, selection: Selection, out: Option<PathBuf>, quiet: bool) -> Exit {
    let started = std::time::Instant::now();
    let engine = Engine::new(s, &selection);
    if engine.device_count() == 0 {
        return Exit::BadInput("the selection (--shard) contains no devices".into());
    }
    let end = s.duration.0;
    let result = engine.run(|now| {
        if !quiet {
            let pct = 100.0 * now.as_millis() as f64 / end.as_millis().max(1) as f64;
            eprint!(
                "\r  simulating {now} of {} ({pct:3.0}%)   ",
                fleetsim::scenario::units::format_duration(end)
            );
            let _ = std::io::stderr().flush();
        }
    });
    if !quiet {
        eprint!("\r{:70}\r", "");
    }
    let elapsed = started.elapsed();
    let mut result = result;
    fleetsim::sim::attach_excerpts(s, &mut result);
    if !result.trace.is_empty() {
        for line in &result.trace {
            eprintln!("{line}");
        }
    }
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
