//! `fleetsim` command line: parse arguments, call the library, map outcomes
//! to exit codes (0 pass, 1 violations or unmet expectations, 2 bad input,
//! 3 infrastructure failure).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use fleetsim::engine::{Engine, RunResult, Selection};
use fleetsim::http_server::ServeError;
use fleetsim::scenario::{self, Scenario};
use fleetsim::time::Span;

mod flag_checks;
mod report_commands;
mod run_options;
mod shrink_command;
mod tui_command;

use flag_checks::{load_within, LimitArgs};
use run_options::{prepare, runtime_exit};

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
    /// Run a scenario: in virtual time against the embedded server, or in
    /// real time against a DDI server with --target.
    Run(Box<RunArgs>),
    /// Validate a scenario without running it.
    Check {
        /// Scenario file (YAML).
        scenario: PathBuf,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Serve the embedded DDI server over HTTP(S).
    Serve(Box<ServeArgs>),
    /// Re-run one device of a virtual run from its report and print its
    /// trace; the digest must equal the recorded one.
    Replay {
        /// Report directory (or its report.json).
        report: PathBuf,
        /// Device number or controller id.
        #[arg(long)]
        device: String,
    },
    /// Work with reports.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Explore a scenario in the terminal: virtual time with pause, steps,
    /// speed, seeks to the next violation and restarts; or live against a
    /// server with --target. Press ? inside for the keys.
    Tui(Box<RunArgs>),
    /// Minimise a scenario that makes an invariant fire (virtual runs
    /// against the embedded server); writes <stem>.shrunk.yaml beside it.
    Shrink(ShrinkArgs),
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Merge the reports of the shards of one run (`run --shard i/n`).
    Merge {
        /// Shard report directories (or their report.json).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Directory of the merged report.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct ShrinkArgs {
    /// Scenario file (YAML) whose run fires an invariant.
    scenario: PathBuf,
    /// Invariant to keep firing (default: the first that fires), e.g. DDI-SM-410.
    #[arg(long, value_parser = parse_invariant)]
    invariant: Option<fleetsim::oracle::InvariantId>,
    /// Most simulation runs to spend, the original one included.
    #[arg(long, default_value_t = fleetsim::shrink::Budget::default().max_runs)]
    max_runs: u32,
    /// Where to write the shrunk scenario (default: <dir>/<stem>.shrunk.yaml).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
}

fn parse_invariant(s: &str) -> Result<fleetsim::oracle::InvariantId, String> {
    fleetsim::oracle::InvariantId::parse(s).ok_or_else(|| {
        format!(
            "expected an invariant ID ({}), found `{s}`",
            fleetsim::oracle::InvariantId::ALL
                .iter()
                .map(|i| i.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

#[derive(clap::Args)]
struct RunArgs {
    /// Scenario file (YAML).
    scenario: PathBuf,
    /// Seed (overrides the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Scale the fleet to this many devices, keeping group proportions.
    #[arg(long)]
    devices: Option<u32>,
    /// Override the scenario's duration (e.g. 60s).
    #[arg(long, value_parser = parse_duration_flag)]
    duration: Option<Span>,
    /// Simulate only shard I of N (devices with number % N == I).
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(u64, u64)>,
    /// Report directory (default: reports/<scenario name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print a readable trace of this device number to stderr (virtual runs).
    #[arg(long)]
    trace_device: Option<u64>,
    /// Run in real time against this DDI server (e.g. http://127.0.0.1:8080)
    /// instead of the embedded server in virtual time.
    #[arg(long)]
    target: Option<String>,
    /// MQTT broker (HOST:PORT) for the fleet's otau_mqtt devices in a run
    /// with --target, e.g. the one `fleetsim serve` prints.
    #[arg(long, requires = "target")]
    mqtt: Option<String>,
    /// DDI tenant of the target (default: the scenario's).
    #[arg(long)]
    tenant: Option<String>,
    /// Gateway token for the target; prefer the FLEETSIM_GATEWAY_TOKEN
    /// environment variable, which keeps it out of process listings. Never printed.
    #[arg(long, env = "FLEETSIM_GATEWAY_TOKEN", hide_env_values = true)]
    gateway_token: Option<String>,
    /// File whose first line is the gateway token (instead of --gateway-token).
    #[arg(long, conflicts_with = "gateway_token")]
    gateway_token_file: Option<PathBuf>,
    /// PEM file of extra trusted CA certificates for an HTTPS target.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Create the scenario's campaigns on the target through its management
    /// API. Without it, the target is expected to run them itself (as
    /// `fleetsim serve SCENARIO` does) or the scenario says `campaigns: external`.
    #[arg(long, value_enum, requires = "target")]
    manage: Option<ManageApi>,
    /// Base URL of the management API (default: --target).
    #[arg(long, requires = "manage")]
    mgmt_url: Option<String>,
    #[command(flatten)]
    mgmt: MgmtLogin,
    /// Scenario time runs this many times faster than real time (real-time runs).
    #[arg(long)]
    time_scale: Option<f64>,
    /// No progress output (also when stderr is not a terminal).
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

/// User and password of a management API (the one `--manage` drives, or
/// the one `serve` offers). Default `admin`/`admin`, like hawkBit's monolith.
#[derive(clap::Args)]
struct MgmtLogin {
    /// Management API user.
    #[arg(long, env = "FLEETSIM_MGMT_USER", default_value = "admin")]
    mgmt_user: String,
    /// Management API password (default `admin`); prefer
    /// FLEETSIM_MGMT_PASSWORD or --mgmt-password-file. Never printed.
    #[arg(long, env = "FLEETSIM_MGMT_PASSWORD", hide_env_values = true)]
    mgmt_password: Option<String>,
    /// File whose first line is the management API password.
    #[arg(long, conflicts_with = "mgmt_password")]
    mgmt_password_file: Option<PathBuf>,
}

impl MgmtLogin {
    /// `(user, password)`, the password from the file if one was named.
    fn resolve(&self) -> Result<(String, String), Exit> {
        let password = match &self.mgmt_password_file {
            Some(p) => read_secret_file("--mgmt-password-file", p)?,
            None => self.mgmt_password.clone().unwrap_or_else(|| "admin".into()),
        };
        Ok((self.mgmt_user.clone(), password))
    }
}

/// Management APIs `--manage` can drive.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ManageApi {
    /// hawkBit Management API v1 (`/rest/v1`), also spoken by `fleetsim serve`.
    Hawkbit,
    /// goosebit's REST API (`/api/v1`).
    Goosebit,
}

/// The first line of a secret file, trimmed.
fn read_secret_file(flag: &str, path: &Path) -> Result<String, Exit> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Exit::BadInput(format!("{flag} {}: {e}", path.display())))?;
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if line.is_empty() {
        return Err(Exit::BadInput(format!(
            "{flag} {}: expected the secret on the first line, found an empty line",
            path.display()
        )));
    }
    Ok(line)
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Scenario whose server settings, campaigns and faults to load.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// TLS certificate chain (PEM); with --tls-key, serve HTTPS.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Scenario time runs this many times faster than real time.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Start the embedded MQTT broker (OTAU over MQTT) on this address
    /// (default: on a free loopback port when the scenario has otau_mqtt groups).
    #[arg(long, conflicts_with = "mqtt_broker")]
    mqtt_listen: Option<std::net::SocketAddr>,
    /// Connect the OTAU MQTT bridge to this broker (e.g. Mosquitto) instead
    /// of starting the embedded one: HOST:PORT.
    #[arg(long)]
    mqtt_broker: Option<String>,
    /// Credentials of the hawkBit Management API under `/rest/v1` (Basic auth).
    #[command(flatten)]
    mgmt: MgmtLogin,
    /// Connections open at once; when all are taken, new ones wait in the
    /// listen backlog while the quietest open one (idle ≥ 1 s) is closed.
    /// Lowered to the open-file limit (raised to its hard limit) minus 256.
    #[arg(long, default_value_t = fleetsim::http_server::limits::MAX_CONNECTIONS)]
    max_connections: usize,
    /// Close a connection that moved no byte for this long while no request
    /// was being answered (held OTAU long polls are being answered), e.g. 60s.
    #[arg(long, default_value = "60s", value_parser = parse_duration_flag)]
    idle_timeout: Span,
    /// Bytes of request bodies held in memory at once, over all connections
    /// (e.g. 256MiB); a body that does not fit gets 503 with Retry-After.
    #[arg(long, default_value = "256MiB", value_parser = parse_size_flag)]
    max_body_memory: u64,
    #[command(flatten)]
    limits: LimitArgs,
}

fn parse_size_flag(s: &str) -> Result<u64, String> {
    fleetsim::scenario::units::parse_size(s)
}

fn parse_duration_flag(s: &str) -> Result<Span, String> {
    fleetsim::scenario::units::parse_duration(s)
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
    /// Exit 1 with a message (e.g. nothing to shrink).
    Failed(String),
    BadInput(String),
    Infrastructure(anyhow::Error),
}

pub fn main() -> ExitCode {
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
        Exit::Failed(msg) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
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

fn dispatch(cli: Cli) -> Exit {
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
        Command::Replay { report, device } => report_commands::replay_command(&report, &device),
        Command::Report(ReportCommand::Merge { inputs, out }) => {
            report_commands::merge_command(&inputs, &out)
        }
        Command::Shrink(args) => shrink_command::run(args),
        Command::Tui(args) => tui_command::run(*args),
    }
}

fn run_command(mut a: RunArgs) -> Exit {
    let (s, real) = match prepare(&mut a) {
        Ok(prepared) => prepared,
        Err(e) => return e,
    };
    let quiet = a.quiet || !is_terminal();
    let Some(mut opts) = real else {
        let selection = Selection {
            shard: a.shard,
            only: None,
            record: a.trace_device,
        };
        return run_virtual(&s, &a.scenario, selection, a.out, quiet);
    };
    opts.progress = !quiet;
    let started = std::time::Instant::now();
    match fleetsim::realtime::run(&s, &opts) {
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
    out: Option<PathBuf>,
    quiet: bool,
) -> Exit {
    let started = std::time::Instant::now();
    let engine = Engine::new(s, &selection);
    if engine.device_count() == 0 {
        return Exit::BadInput("the selection (--shard) contains no devices".into());
    }
    let end = s.duration.0;
    let mut result = engine.run(|now| {
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

fn serve_command(a: ServeArgs) -> Exit {
    let scenario = match &a.scenario {
        Some(path) => match load_within(path, &a.limits) {
            Ok(s) => Some(s),
            Err(e) => return e,
        },
        None => None,
    };
    if !(a.time_scale.is_finite() && a.time_scale > 0.0) {
        return Exit::BadInput(format!(
            "--time-scale: expected a number above 0, found {}",
            a.time_scale
        ));
    }
    let tls = a
        .tls_cert
        .zip(a.tls_key)
        .map(|(cert, key)| fleetsim::http_server::TlsFiles { cert, key });
    let mgmt = match a.mgmt.resolve() {
        Ok((user, password)) => fleetsim::http_server::MgmtCredentials { user, password },
        Err(e) => return e,
    };
    let mqtt = match (a.mqtt_listen, &a.mqtt_broker) {
        (_, Some(broker)) => match resolve_addr(broker) {
            Ok(addr) => fleetsim::http_server::ServeMqtt::External(addr),
            Err(e) => return Exit::BadInput(format!("--mqtt-broker {broker}: {e}")),
        },
        (Some(listen), None) => fleetsim::http_server::ServeMqtt::Embedded(listen),
        (None, None) => fleetsim::http_server::ServeMqtt::Auto,
    };
    let opts = fleetsim::http_server::ServeOptions {
        listen: a.listen,
        scenario,
        tls,
        time_scale: a.time_scale,
        mqtt,
        limits: fleetsim::http_server::ServeLimits {
            max_connections: a.max_connections,
            idle_timeout: std::time::Duration::from_millis(a.idle_timeout.as_millis()),
            max_body_memory: usize::try_from(a.max_body_memory).unwrap_or(usize::MAX),
            ..Default::default()
        },
    };
    init_logging();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Exit::Infrastructure(e.into()),
    };
    match rt.block_on(fleetsim::http_server::serve_until_signal_with_credentials(
        opts, mgmt,
    )) {
        Ok(()) => Exit::Pass,
        Err(e @ (ServeError::Tls { .. } | ServeError::TimeScale(_) | ServeError::Limit { .. })) => {
            Exit::BadInput(e.to_string())
        }
        Err(e) => Exit::Infrastructure(e.into()),
    }
}

/// `HOST:PORT` to the first address it resolves to.
fn resolve_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    match s.to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| "resolves to no address".to_string()),
        Err(e) => Err(format!("expected HOST:PORT such as 127.0.0.1:1883 ({e})")),
    }
}

/// Log filter without `RUST_LOG`: the embedded broker (rumqttd) logs every
/// connection at info and a closed probe connection as an error.
const DEFAULT_LOG: &str = "info,rumqttd=warn,rumqttd::server::broker=off";

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    let _ = tracing_subscriber::fmt()
        .with_ansi(is_terminal())
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
