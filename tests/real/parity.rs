//! Oracle parity between virtual and real time: every scenario of
//! `scenarios/broken/` fires the same invariant IDs when its fleet runs in
//! real time against `fleetsim serve --scenario` (same broken mode; the run
//! reads serve's server-side event stream) as in virtual time. Each real
//! run is compressed to a few real seconds (`time_scale` from the
//! scenario's duration). The table of results is `docs/guide/conformance/real-parity.md`;
//! a test checks it lists every broken scenario, and the rows it marks
//! `yes` are the ones asserted here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common;

use fleetsim::engine::{Engine, Selection};
use fleetsim::http_server::MgmtCredentials;
use fleetsim::realtime::run;
use fleetsim::scenario::{load, Scenario};

/// The parity table.
const DOC: &str = "docs/guide/conformance/real-parity.md";
/// Real seconds a compressed run takes (its whole scenario duration).
const REAL_SECONDS: f64 = 3.0;

fn broken_scenarios() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir("scenarios/broken")
        .expect("scenarios/broken")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The doc's rows: scenario name → whether it claims parity (`yes`).
fn doc_rows() -> Vec<(String, bool)> {
    let text = std::fs::read_to_string(DOC).expect("the parity table exists");
    text.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            // | `name` | virtual | real | same? | why |
            let scenario = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((scenario.to_string(), *cells.get(4)? == "yes"))
        })
        .collect()
}

fn fired(r: &fleetsim::engine::RunResult) -> BTreeSet<String> {
    r.oracle
        .counts()
        .keys()
        .map(|id| id.as_str().to_string())
        .collect()
}

/// Scenarios whose broken behaviour happens within their first minutes,
/// cut to this many minutes so that compression stays mild (a real
/// millisecond of loopback latency is then about a scenario second).
/// `ignore-range` needs the second online window of a download (its resume
/// with `Range`, about an hour in): a day in 3 s makes each one-minute
/// window 2 ms of real time, which a busy machine can miss entirely.
/// `otau-not-modified`'s 304 releases a held long poll: OTAU-304 counts it
/// only if it reached the device well before the poll's 5-minute timeout,
/// which a day in 3 s makes 10 ms of real time — less than a busy machine
/// (and the answer's wait for the event stream) can take to deliver it.
const CUT_MINUTES: &[(&str, u64)] = &[
    ("otau-not-modified", 40),
    ("otau-overlap", 40),
    ("otau-write-rate", 20),
    ("ignore-range", 240),
];

/// The gateway rows (`twin-*`, seed 002) are cut to this many minutes: a
/// day in 3 s (28 800×) makes the gateways' 10 s response timeout 0.35 ms
/// of real time, and nearly every command is resent; 6 h (7 200×, 1.4 ms)
/// still holds each broken mode's violations, the second online window of
/// every gateway (its reconnect: TWIN-CONVERGE) included.
const TWIN_CUT_MINUTES: u64 = 360;

/// `s` (scenario `name`) compressed to [`REAL_SECONDS`] of real time.
fn compressed(name: &str, mut s: Scenario) -> Scenario {
    let cut = CUT_MINUTES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, m)| *m);
    let cut = cut.or_else(|| name.starts_with("twin-").then_some(TWIN_CUT_MINUTES));
    if let Some(minutes) = cut {
        let cut = fleetsim::time::Span::secs(minutes * 60);
        s.duration = fleetsim::scenario::units::Duration(cut);
    }
    let ms = s.duration.0.as_millis() as f64;
    s.load.time_scale = (ms / 1000.0 / REAL_SECONDS).max(1.0);
    // Their broken behaviour shows only through the network of
    // `connectivity:` (a lost answer makes devices resend final feedback or
    // poll again; a cut body makes them resume with Range, or spreads a
    // download over windows): emulated on the real one.
    s.load.emulate_network = EMULATED.contains(&name);
    s
}

/// Rows run with `load.emulate_network` (the others on plain loopback: at
/// their compression the emulation shifts timings so that `url-handout` and
/// `otau-write-rate` no longer fire).
const EMULATED: &[&str] = &[
    "feedback-after-close",
    "ignore-range",
    "url-evict",
    "url-once",
];

/// Runs `s` in real time against a `fleetsim serve` of the same scenario,
/// reading serve's event stream. Server and fleet run on runtimes of their
/// own, as two processes would.
fn run_against_serve(
    s: &Scenario,
) -> Result<fleetsim::engine::RunResult, fleetsim::realtime::RuntimeError> {
    let serve = crate::real_run::ServeThread::start(s, s.load.time_scale, 1);
    let mut opts = common::options(&serve.base_url);
    opts.server_events = Some(MgmtCredentials::default());
    let result = run(s, &opts);
    serve.stop();
    result
}

#[test]
fn the_parity_table_lists_every_broken_scenario() {
    let rows = doc_rows();
    for path in broken_scenarios() {
        let n = name(&path);
        assert!(
            rows.iter().any(|(r, _)| *r == n),
            "{DOC} has no row for scenarios/broken/{n}.yaml"
        );
    }
    assert_eq!(
        rows.len(),
        broken_scenarios().len(),
        "{DOC}: one row per scenario"
    );
}

#[test]
fn broken_scenarios_fire_the_same_invariants_in_real_time() {
    let claimed: BTreeSet<String> = doc_rows()
        .into_iter()
        .filter(|(_, yes)| *yes)
        .map(|(n, _)| n)
        .collect();
    let only = std::env::var("FLEETSIM_PARITY_ONLY").ok();
    let mut mismatches = Vec::new();
    for path in broken_scenarios() {
        let n = name(&path);
        let all = only.as_deref() == Some("all");
        let wanted = match only.as_deref() {
            Some(o) => all || o == n,
            None => claimed.contains(&n),
        };
        if !wanted {
            continue;
        }
        let s = load(&path).expect("broken scenario loads");
        let virtual_ids = fired(&Engine::new(&s, &Selection::default()).run(|_| {}));
        let (real_ids, detail) = match run_against_serve(&compressed(&n, s)) {
            Ok(real) => {
                let missed = real.extra_counters.get("server_events_missed");
                assert_eq!(missed.copied(), Some(0), "{n}: the stream lost events");
                if std::env::var_os("FLEETSIM_PARITY_VERBOSE").is_some() {
                    let counts = real.oracle.counts();
                    eprintln!(
                        "{n}: {counts:?} {:?} {:?}\n{:#?}",
                        real.stats.statuses, real.extra_counters, real.gateway
                    );
                }
                (fired(&real), common::violations(&real))
            }
            Err(e) => (BTreeSet::new(), format!("the run was refused: {e}")),
        };
        let line = format!(
            "| `{n}` | {} | {} | {} |",
            virtual_ids.iter().cloned().collect::<Vec<_>>().join(", "),
            real_ids.iter().cloned().collect::<Vec<_>>().join(", "),
            if virtual_ids == real_ids { "yes" } else { "no" },
        );
        eprintln!("{line}");
        if virtual_ids != real_ids && claimed.contains(&n) {
            mismatches.push(format!("{line}\n{detail}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
