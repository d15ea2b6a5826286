//! The command line's grammar: subcommands, flags and their parsers (clap).

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use super::flag_checks::LimitArgs;
use super::Exit;
use fleetsim::time::Span;

#[derive(Parser)]
#[command(
    name = "fleetsim",
    version,
    about = "Deterministic device-fleet simulator and conformance tester for software-update servers"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
    /// Put a scenario's flaky network (seeded loss, latency, bandwidth,
    /// online windows per device) between any HTTP client and a server.
    Proxy(Box<ProxyArgs>),
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
    /// Run the conformance catalogue against a DDI server, case by case,
    /// and write its report card (table, report.json, junit.xml, index.html).
    Conform(Box<ConformArgs>),
    /// Minimise a scenario that makes an invariant fire (virtual runs
    /// against the embedded server); writes <stem>.shrunk.yaml beside it.
    Shrink(ShrinkArgs),
    /// Print the JSON Schema of scenario files (the repository keeps it as
    /// docs/scenario.schema.json), for editors with a YAML language server.
    Schema,
    /// Print a generated reference page of the user guide (markdown);
    /// scripts/gen-docs writes them all into docs/guide/reference/.
    #[command(hide = true)]
    Reference {
        /// Which page.
        #[arg(value_enum)]
        page: ReferencePage,
        /// The scenarios directory: its broken/ scenarios name the invariants they fire.
        #[arg(long, default_value = "scenarios")]
        scenarios: PathBuf,
    },
    /// Parse (without running) every `fleetsim` command shown in the shell
    /// blocks of these markdown files: the docs' commands must stay valid.
    #[command(hide = true)]
    DocCommands {
        /// Markdown files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// A generated page of the guide's reference (`fleetsim reference PAGE`).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum ReferencePage {
    /// The CLI reference, from these clap definitions.
    Cli,
    /// The scenario reference, from the scenario model's schema.
    Scenario,
    /// The invariant catalogue, from the oracle's registry.
    Invariants,
}

#[derive(Subcommand)]
pub(crate) enum ReportCommand {
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
pub(crate) struct ShrinkArgs {
    /// Scenario file (YAML) whose run fires an invariant.
    pub(crate) scenario: PathBuf,
    /// Invariant to keep firing (default: the first that fires), e.g. DDI-SM-410.
    #[arg(long, value_parser = parse_invariant)]
    pub(crate) invariant: Option<fleetsim::oracle::InvariantId>,
    /// Most simulation runs to spend, the original one included.
    #[arg(long, default_value_t = fleetsim::shrink::Budget::default().max_runs)]
    pub(crate) max_runs: u32,
    /// Where to write the shrunk scenario (default: <dir>/<stem>.shrunk.yaml).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
}

pub(crate) fn parse_invariant(s: &str) -> Result<fleetsim::oracle::InvariantId, String> {
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
pub(crate) struct RunArgs {
    /// Scenario file (YAML).
    pub(crate) scenario: PathBuf,
    /// Seed (overrides the scenario's).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Scale the fleet to this many devices, keeping group proportions.
    #[arg(long)]
    pub(crate) devices: Option<u32>,
    /// Override the scenario's duration (e.g. 60s).
    #[arg(long, value_parser = parse_duration_flag)]
    pub(crate) duration: Option<Span>,
    /// Simulate only shard I of N (devices with number % N == I).
    #[arg(long, value_parser = parse_shard)]
    pub(crate) shard: Option<(u64, u64)>,
    /// Threads of a virtual run (default: one per core, at most one per
    /// 1 000 devices). The digest and the report do not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub(crate) threads: Option<u16>,
    /// Report directory (default: reports/<scenario name>).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Print a readable trace of this device number to stderr (virtual runs).
    #[arg(long)]
    pub(crate) trace_device: Option<u64>,
    /// Run in real time against this DDI server (e.g. http://127.0.0.1:8080)
    /// instead of the embedded server in virtual time.
    #[arg(long)]
    pub(crate) target: Option<String>,
    /// MQTT endpoint for the fleet's otau_mqtt devices in a run with
    /// --target, e.g. the one `fleetsim serve` prints: [mqtt://]HOST:PORT or
    /// mqtts://HOST:PORT (Murano-shaped, TLS trusting --ca-cert), or
    /// fleetsim+mqtt[s]://HOST:PORT (a generic broker, fleetsim/<cik> topics).
    #[arg(long, requires = "target")]
    pub(crate) mqtt: Option<String>,
    /// Serve live Prometheus metrics on `GET /metrics` at this address
    /// (e.g. 127.0.0.1:9464) while a run with --target goes on.
    #[arg(long, value_name = "ADDR", requires = "target")]
    pub(crate) metrics_listen: Option<std::net::SocketAddr>,
    /// DDI tenant of the target (default: the scenario's).
    #[arg(long)]
    pub(crate) tenant: Option<String>,
    /// Gateway token for the target; prefer the FLEETSIM_GATEWAY_TOKEN
    /// environment variable, which keeps it out of process listings. Never printed.
    #[arg(long, env = "FLEETSIM_GATEWAY_TOKEN", hide_env_values = true)]
    pub(crate) gateway_token: Option<String>,
    /// File whose first line is the gateway token (instead of --gateway-token).
    #[arg(long, conflicts_with = "gateway_token")]
    pub(crate) gateway_token_file: Option<PathBuf>,
    /// PEM file of extra trusted CA certificates for an HTTPS target.
    #[arg(long)]
    pub(crate) ca_cert: Option<PathBuf>,
    /// Create the scenario's campaigns on the target through its management
    /// API. Without it, the target is expected to run them itself (as
    /// `fleetsim serve SCENARIO` does) or the scenario says `campaigns: external`.
    #[arg(long, value_enum, requires = "target")]
    pub(crate) manage: Option<ManageApi>,
    /// Base URL of the management API (default: --target).
    #[arg(long, requires = "manage")]
    pub(crate) mgmt_url: Option<String>,
    #[command(flatten)]
    pub(crate) mgmt: MgmtLogin,
    /// Read the target's server-side event stream (`fleetsim serve`'s
    /// `/fleetsim/events`, with --mgmt-user/--mgmt-password) so the oracle
    /// also checks what needs the server's side; the run takes serve's
    /// scenario clock. A target without the stream runs without it.
    #[arg(long, requires = "target")]
    pub(crate) server_events: bool,
    #[command(flatten)]
    pub(crate) twin: TwinArgs,
    /// Scenario time runs this many times faster than real time (real-time runs).
    #[arg(long)]
    pub(crate) time_scale: Option<f64>,
    /// No progress output (also when stderr is not a terminal).
    #[arg(long, short)]
    pub(crate) quiet: bool,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
}

/// User and password of a management API (the one `--manage` drives, or
/// the one `serve` offers). Default `admin`/`admin`, like hawkBit's monolith.
#[derive(clap::Args)]
pub(crate) struct MgmtLogin {
    /// Management API user.
    #[arg(long, env = "FLEETSIM_MGMT_USER", default_value = "admin")]
    pub(crate) mgmt_user: String,
    /// Management API password (default `admin`); prefer
    /// FLEETSIM_MGMT_PASSWORD or --mgmt-password-file. Never printed.
    #[arg(long, env = "FLEETSIM_MGMT_PASSWORD", hide_env_values = true)]
    pub(crate) mgmt_password: Option<String>,
    /// File whose first line is the management API password.
    #[arg(long, conflicts_with = "mgmt_password")]
    pub(crate) mgmt_password_file: Option<PathBuf>,
}

impl MgmtLogin {
    /// `(user, password)`, the password from the file if one was named.
    pub(crate) fn resolve(&self) -> Result<(String, String), Exit> {
        let password = match &self.mgmt_password_file {
            Some(p) => read_secret_file("--mgmt-password-file", p)?,
            None => self.mgmt_password.clone().unwrap_or_else(|| "admin".into()),
        };
        Ok((self.mgmt_user.clone(), password))
    }
}

/// Where the Ditto twin of `protocol: ditto` gateways lives in a run with
/// --target, and how the gateways write it.
#[derive(clap::Args)]
pub(crate) struct TwinArgs {
    /// Base URL of the gateways' Ditto twin, e.g. Eclipse Ditto's
    /// http://ditto:8080 (default: --target; `fleetsim serve` hosts both).
    #[arg(long, value_name = "URL", requires = "target")]
    pub(crate) twin: Option<String>,
    /// How gateways write their twin: `ws` sends Ditto Protocol over its
    /// WebSocket /ws/2; `http` sends HTTP API v2 requests (PUT/DELETE
    /// /api/2/things/…) and uses /ws/2 only for commands to the gateways.
    #[arg(long, value_enum, default_value = "ws", requires = "target")]
    pub(crate) twin_api: TwinApiArg,
    /// The twin's Basic user (default: --mgmt-user; Ditto's sample
    /// deployment uses ditto).
    #[arg(long, env = "FLEETSIM_TWIN_USER")]
    pub(crate) twin_user: Option<String>,
    /// The twin's password (default: the Management API password); prefer
    /// FLEETSIM_TWIN_PASSWORD or --twin-password-file. Never printed.
    #[arg(long, env = "FLEETSIM_TWIN_PASSWORD", hide_env_values = true)]
    pub(crate) twin_password: Option<String>,
    /// File whose first line is the twin's password.
    #[arg(long, conflicts_with = "twin_password")]
    pub(crate) twin_password_file: Option<PathBuf>,
}

/// The twin APIs `--twin-api` names.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum TwinApiArg {
    /// Ditto Protocol over the WebSocket /ws/2 (serve and Ditto).
    Ws,
    /// Ditto's HTTP API v2 for the gateways' writes, /ws/2 for commands to them.
    Http,
}

/// `fleetsim conform`'s flags.
#[derive(clap::Args)]
pub(crate) struct ConformArgs {
    /// Base URL of the DDI server under test, e.g. http://127.0.0.1:8080.
    #[arg(long, required_unless_present_any = ["list", "device"])]
    pub(crate) target: Option<String>,
    /// Judge devices instead of a server: run the reference server, play
    /// the device script (update, bad hashes, cancel mid-download, cut
    /// download, 429, soft update, confirmation, 410) to every device that
    /// connects and write its card (profile ddi-v1 only).
    #[arg(long)]
    pub(crate) device: bool,
    /// With --device: address to listen on; port 0 picks one. The bound
    /// address is printed (`listening on http://…`) before devices are awaited.
    /// Default 127.0.0.1:8080.
    #[arg(long, requires = "device")]
    pub(crate) listen: Option<std::net::SocketAddr>,
    /// With --device: devices to judge (the first that connect); the run
    /// ends once they all played the script. Default 1.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1000), requires = "device")]
    pub(crate) devices: Option<u64>,
    /// With --device: the run ends at the latest after this long; what is
    /// not decided then fails with reason `deadline`. Default 10m.
    #[arg(long, value_parser = parse_duration_flag, requires = "device")]
    pub(crate) deadline: Option<Span>,
    /// With --device: the polling `sleep` the reference server gives
    /// (hawkBit's minimum is 30s; shorter makes the script quicker; polls
    /// are held to it with 1s of slack, so keep it above 1s). Default 5s.
    #[arg(long, value_parser = parse_duration_flag, requires = "device")]
    pub(crate) sleep: Option<Span>,
    /// With --device: a situation the device has not finished after this
    /// long fails, and the next one starts. Default 60s.
    #[arg(long, value_parser = parse_duration_flag, requires = "device")]
    pub(crate) situation_timeout: Option<Span>,
    /// Catalogue to run: ddi-v1 (every DDI case), ddi-v1-core (what a
    /// minimal DDI server must pass), otau-http (Exosite OTAU over HTTP) or
    /// otau-mqtt (Exosite OTAU over Murano's MQTT API; needs --mqtt) or cpg
    /// (constrained devices: the gateway, its CDN and the Ditto twins).
    #[arg(long, default_value = "ddi-v1")]
    pub(crate) profile: String,
    /// How cases prepare server state (targets, campaigns, cancels;
    /// OTAU tokens, manifests, content): through the hawkBit Management API,
    /// goosebit's REST API, `fleetsim serve`'s (both of its APIs), or none
    /// (cases that need server state are SKIPped).
    #[arg(long, value_enum, default_value = "none")]
    pub(crate) manage: ConformManage,
    /// MQTT endpoint of the otau-mqtt profile, `mqtt://HOST:PORT` or
    /// `mqtts://HOST:PORT` (as `fleetsim run --mqtt`); content downloads
    /// go to --target over HTTP.
    #[arg(long, value_name = "URL")]
    pub(crate) mqtt: Option<String>,
    /// Base URL of the management API (default: --target).
    #[arg(long)]
    pub(crate) mgmt_url: Option<String>,
    #[command(flatten)]
    pub(crate) mgmt: MgmtLogin,
    /// DDI tenant.
    #[arg(long, default_value = "DEFAULT")]
    pub(crate) tenant: String,
    /// Gateway token the devices send (with --manage hawkbit the tenant is
    /// configured with it; default there `fleetsim-conform`). Never printed.
    #[arg(long, env = "FLEETSIM_GATEWAY_TOKEN", hide_env_values = true)]
    pub(crate) gateway_token: Option<String>,
    /// Run only these case IDs (e.g. --only DDI-ROOT-001 DDI-FB-002).
    #[arg(long, num_args = 1..)]
    pub(crate) only: Vec<String>,
    /// Report directory (default: reports/conform-<profile>).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Also write the card as Markdown to this file (for docs/guide/conformance/).
    #[arg(long, value_name = "FILE")]
    pub(crate) markdown: Option<PathBuf>,
    /// PEM file of extra trusted CA certificates for an HTTPS target.
    #[arg(long)]
    pub(crate) ca_cert: Option<PathBuf>,
    /// List the profile's cases (ID, clause, title) and exit.
    #[arg(long)]
    pub(crate) list: bool,
}

/// The management adapters `conform --manage` can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ConformManage {
    /// hawkBit Management API v1 (`/rest/v1`), also spoken by `fleetsim serve`.
    Hawkbit,
    /// goosebit's REST API (`/api/v1`).
    Goosebit,
    /// `fleetsim serve`: its hawkBit Management API for DDI, its OTAU admin
    /// routes (`/fleetsim/otau/…`, same login) for OTAU.
    Fleetsim,
    /// No adapter: cases that need server state are skipped.
    None,
}

/// Management APIs `--manage` can drive.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum ManageApi {
    /// hawkBit Management API v1 (`/rest/v1`), also spoken by `fleetsim serve`.
    Hawkbit,
    /// goosebit's REST API (`/api/v1`).
    Goosebit,
}

/// The first line of a secret file, trimmed.
pub(crate) fn read_secret_file(flag: &str, path: &Path) -> Result<String, Exit> {
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
pub(crate) struct ProxyArgs {
    /// Address to listen on (plain HTTP).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub(crate) listen: std::net::SocketAddr,
    /// Server to forward to: http[s]://host:port.
    #[arg(long)]
    pub(crate) upstream: String,
    /// Scenario whose groups' `connectivity`, seed and time scale to apply.
    #[arg(long)]
    pub(crate) scenario: PathBuf,
    /// Scenario time runs this many times faster than real time (default:
    /// the scenario's `load.time_scale`).
    #[arg(long)]
    pub(crate) time_scale: Option<f64>,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
}

#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) listen: std::net::SocketAddr,
    /// Scenario whose server settings, campaigns and faults to load.
    #[arg(long)]
    pub(crate) scenario: Option<PathBuf>,
    /// TLS certificate chain (PEM); with --tls-key, serve HTTPS.
    #[arg(long, requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Scenario time runs this many times faster than real time.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) time_scale: f64,
    /// Serve OTAU over MQTT as Murano does (token as password, $resource
    /// topics, $provision activation) on this address; TLS with --tls-cert,
    /// where ALPN http/1.1 gets the HTTP API (default: on a free loopback
    /// port when the scenario has otau_mqtt groups).
    #[arg(long, conflicts_with = "mqtt_broker")]
    pub(crate) mqtt_listen: Option<std::net::SocketAddr>,
    /// Connect the OTAU MQTT bridge to this generic broker (e.g. Mosquitto;
    /// fleetsim/<cik> topics, plain TCP) instead of serving MQTT: HOST:PORT.
    #[arg(long)]
    pub(crate) mqtt_broker: Option<String>,
    /// Serve Prometheus metrics on `GET /metrics` at this address.
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics_listen: Option<std::net::SocketAddr>,
    /// Credentials of the hawkBit Management API under `/rest/v1` (Basic auth).
    #[command(flatten)]
    pub(crate) mgmt: MgmtLogin,
    /// Host this DDI tenant too (repeatable), beside DEFAULT (or the
    /// scenario's `server.tenant`) and the tenants its fleet names. Its
    /// Management API user is named as the tenant, with the same password.
    #[arg(long = "tenant", value_name = "TENANT")]
    pub(crate) tenant: Vec<String>,
    /// OTAU product id (repeatable): the first is the default product (every
    /// OTAU device whose group names no `otau.product`; default `fleetsim`),
    /// the others are hosted beside the scenario's. A request's product is
    /// its `Host` `<pid>.m2.exosite.io` (or a legacy activation's `vendor`).
    #[arg(long = "product-id", value_name = "PID")]
    pub(crate) product_id: Vec<String>,
    /// Connections open at once; when all are taken, new ones wait in the
    /// listen backlog while the quietest open one (idle ≥ 1 s) is closed.
    /// Lowered to the open-file limit (raised to its hard limit) minus 256.
    #[arg(long, default_value_t = fleetsim::http_server::limits::MAX_CONNECTIONS)]
    pub(crate) max_connections: usize,
    /// Close a connection that moved no byte for this long while no request
    /// was being answered (held OTAU long polls are being answered), e.g. 60s.
    #[arg(long, default_value = "60s", value_parser = parse_duration_flag)]
    pub(crate) idle_timeout: Span,
    /// Bytes of request bodies held in memory at once, over all connections
    /// (e.g. 256MiB); a body that does not fit gets 503 with Retry-After.
    #[arg(long, default_value = "256MiB", value_parser = parse_size_flag)]
    pub(crate) max_body_memory: u64,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
}

pub(crate) fn parse_size_flag(s: &str) -> Result<u64, String> {
    fleetsim::scenario::units::parse_size(s)
}

pub(crate) fn parse_duration_flag(s: &str) -> Result<Span, String> {
    fleetsim::scenario::units::parse_duration(s)
}

pub(crate) fn parse_shard(s: &str) -> Result<(u64, u64), String> {
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
