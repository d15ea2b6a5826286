//! `fleetsim shrink`: minimise a scenario that makes an invariant fire.
//!
//! [`shrink`] runs the scenario in virtual time against the embedded server,
//! picks the target invariant (the one asked for, or the first that fired)
//! and then greedily tries smaller candidates, keeping each one only if its
//! run still fires the target. The seed never changes, so every verdict is
//! reproducible. Steps, in the order of each pass:
//!
//! 1. fewer devices: the group of the first violating device alone (with one
//!    device, then enough devices to keep the violating one), other groups
//!    dropped, counts halved, small counts decremented;
//! 2. fewer campaigns: each dropped, then each simplified (one artifact, no
//!    maintenance window, no cancel);
//! 3. shorter duration: cut to just after the first violation, then halved,
//!    never below the first violation plus [`DURATION_MARGIN`] nor below a
//!    campaign's or fault's start;
//! 4. fewer faults: each server fault dropped, client faults (real-time only)
//!    dropped, fault windows with a `for` halved;
//! 5. simpler devices: loss 0, default latency and bandwidth, always online,
//!    no misbehaviour, no install failures, default OTAU behaviour.
//!
//! Passes repeat until one shrinks nothing or the [`Budget`] is spent. Every
//! candidate is checked with [`crate::scenario::validate`] first; invalid
//! ones are skipped without a run, and so are candidates already tried.
//!
//! ```no_run
//! use fleetsim_fleet::shrink::{shrink, Budget};
//! let scenario = fleetsim_fleet::scenario::load(std::path::Path::new("scenarios/broken/reopen-closed.yaml")).unwrap();
//! let shrunk = shrink(&scenario, None, Budget::default(), |step| println!("{step}")).unwrap();
//! println!("{}", fleetsim_fleet::shrink::to_yaml(&shrunk.scenario).unwrap());
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use crate::engine::{Engine, Selection};
use crate::scenario::units::format_duration;
use crate::scenario::{
    validate, Connectivity, Duration, ExpectedViolations, Fraction, Latency, OtauDevice, Scenario,
    Size,
};
use fleetsim_core::oracle::InvariantId;
use fleetsim_core::time::Span;

mod search;
mod yaml;

use search::Search;
pub use yaml::to_yaml;

/// Time kept after the first violation when the duration is cut.
pub const DURATION_MARGIN: Span = Span::minutes(1);

/// How much work the search may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Simulation runs, the original one included.
    pub max_runs: u32,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { max_runs: 400 }
    }
}

/// The size of a scenario along the dimensions the search reduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScenarioSize {
    /// Devices in all groups.
    pub devices: u64,
    /// Campaigns.
    pub campaigns: usize,
    /// Virtual time covered.
    pub duration: Span,
    /// Server faults.
    pub faults: usize,
}

impl ScenarioSize {
    /// The size of `s`.
    pub fn of(s: &Scenario) -> ScenarioSize {
        ScenarioSize {
            devices: s.device_count(),
            campaigns: s.campaigns.len(),
            duration: s.duration.0,
            faults: s.faults.server.len(),
        }
    }
}

impl fmt::Display for ScenarioSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} device{}, {} campaign{}, {}, {} server fault{}",
            self.devices,
            plural(self.devices as usize),
            self.campaigns,
            plural(self.campaigns),
            format_duration(self.duration),
            self.faults,
            plural(self.faults)
        )
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// One accepted reduction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// What was reduced: `devices`, `campaigns`, `duration`, `faults`, or a
    /// field such as `fleet[0].connectivity.loss`.
    pub what: String,
    /// Value before.
    pub from: String,
    /// Value after.
    pub to: String,
    /// The invariant that still fires.
    pub target: InvariantId,
    /// Runs spent so far (the original run included).
    pub runs: u32,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} → {} (still fires {})",
            self.what, self.from, self.to, self.target
        )
    }
}

/// The outcome of [`shrink`]. The scenario's name gets `-shrunk` appended
/// (its reports go to their own directory).
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The smallest scenario found; same seed, `expect.violations` set to
    /// the IDs it fires (the target first).
    pub scenario: Scenario,
    /// The invariant it fires.
    pub target: InvariantId,
    /// Other invariants the final scenario fires as well.
    pub also_fired: Vec<InvariantId>,
    /// Simulation runs spent, the original one included.
    pub runs: u32,
    /// True when the search stopped because the budget was spent.
    pub budget_spent: bool,
    /// Size of the original.
    pub before: ScenarioSize,
    /// Size of the result.
    pub after: ScenarioSize,
    /// Accepted reductions, in order.
    pub steps: Vec<Step>,
}

/// Why a scenario could not be shrunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShrinkError {
    /// The scenario fails validation.
    #[error("scenario `{name}` is not valid: {message}")]
    Invalid {
        /// Scenario name.
        name: String,
        /// What the validator said.
        message: String,
    },
    /// The original run fired no invariant.
    #[error(
        "no invariant fired in scenario `{name}` (seed {seed}): there is no failure to shrink"
    )]
    NothingFired {
        /// Scenario name.
        name: String,
        /// Seed of the run.
        seed: u64,
    },
    /// The requested invariant did not fire in the original run.
    #[error("{target} did not fire in scenario `{name}` (seed {seed}); fired: {fired}")]
    TargetNotFired {
        /// Scenario name.
        name: String,
        /// Seed of the run.
        seed: u64,
        /// The invariant asked for.
        target: InvariantId,
        /// The ones that fired, comma-separated.
        fired: String,
    },
    /// The budget does not allow even the original run.
    #[error("a budget of {0} runs is too small: at least 1 run is needed")]
    NoBudget(u32),
    /// The scenario could not be written as YAML.
    #[error("cannot write the scenario as YAML: {0}")]
    Yaml(String),
}

/// What a run showed.
struct Outcome {
    counts: BTreeMap<InvariantId, u64>,
    /// The invariant `first` is about: the target, or without one the
    /// invariant of the earliest recorded violation.
    first_id: Option<InvariantId>,
    /// First recorded violation of `first_id`: `(device number, at)`.
    first: Option<(u64, Span)>,
}

impl Outcome {
    fn fires(&self, id: InvariantId) -> bool {
        self.counts.get(&id).is_some_and(|n| *n > 0)
    }
}

fn run(s: &Scenario, target: Option<InvariantId>) -> Outcome {
    let result = Engine::new(s, &Selection::default()).run(|_| {});
    let counts = result.oracle.counts().clone();
    let first_id = target.or_else(|| first_fired(&result.oracle));
    let first = first_id.and_then(|t| {
        result
            .oracle
            .violations()
            .iter()
            .filter(|v| v.id == t.as_str())
            .min_by_key(|v| v.at_ms)
            .map(|v| (v.device, Span::millis(v.at_ms)))
    });
    Outcome {
        counts,
        first_id,
        first,
    }
}

/// The invariant of the earliest recorded violation, else the first counted.
fn first_fired(oracle: &fleetsim_core::oracle::Oracle) -> Option<InvariantId> {
    oracle
        .violations()
        .iter()
        .min_by_key(|v| v.at_ms)
        .and_then(|v| InvariantId::parse(v.id))
        .or_else(|| oracle.counts().keys().next().copied())
}

fn fired_list(counts: &BTreeMap<InvariantId, u64>) -> String {
    if counts.is_empty() {
        return "none".into();
    }
    counts
        .keys()
        .map(|i| i.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Shrinks `scenario` to a smaller one that still fires `target` (default:
/// the first invariant that fires), within `budget`. `progress` sees every
/// accepted step.
pub fn shrink(
    scenario: &Scenario,
    target: Option<InvariantId>,
    budget: Budget,
    progress: impl FnMut(&Step),
) -> Result<Shrunk, ShrinkError> {
    if budget.max_runs == 0 {
        return Err(ShrinkError::NoBudget(0));
    }
    validate(scenario).map_err(|(path, message)| ShrinkError::Invalid {
        name: scenario.name.clone(),
        message: format!("{}: {message}", path_text(&path)),
    })?;
    let original = run(scenario, target);
    let target = match (target, original.first_id) {
        (Some(t), _) if original.fires(t) => t,
        (Some(t), _) => {
            return Err(ShrinkError::TargetNotFired {
                name: scenario.name.clone(),
                seed: scenario.seed,
                target: t,
                fired: fired_list(&original.counts),
            })
        }
        (None, Some(t)) if original.fires(t) => t,
        (None, _) => {
            return Err(ShrinkError::NothingFired {
                name: scenario.name.clone(),
                seed: scenario.seed,
            })
        }
    };
    let mut search = Search {
        target,
        runs: 1,
        max_runs: budget.max_runs,
        current: scenario.clone(),
        first: original.first,
        also: others(&original.counts, target),
        allowed: original.counts.keys().copied().collect(),
        tried: HashSet::new(),
        steps: Vec::new(),
        progress,
    };
    search.remember(scenario);
    loop {
        let mut changed = false;
        changed |= search.devices();
        changed |= search.campaigns();
        changed |= search.duration();
        changed |= search.faults();
        changed |= search.devices_simpler();
        if !changed || search.spent() {
            break;
        }
    }
    let budget_spent = search.spent();
    let mut out = search.current;
    let mut ids = vec![target.as_str().to_string()];
    ids.extend(search.also.iter().map(|i| i.as_str().to_string()));
    out.expect.violations = ExpectedViolations::Ids(ids);
    out.expect.converged = None;
    if !out.name.ends_with("-shrunk") {
        out.name.push_str("-shrunk");
    }
    Ok(Shrunk {
        before: ScenarioSize::of(scenario),
        after: ScenarioSize::of(&out),
        scenario: out,
        target,
        also_fired: search.also,
        runs: search.runs,
        budget_spent,
        steps: search.steps,
    })
}

fn others(counts: &BTreeMap<InvariantId, u64>, target: InvariantId) -> Vec<InvariantId> {
    counts
        .iter()
        .filter(|(i, n)| **i != target && **n > 0)
        .map(|(i, _)| *i)
        .collect()
}

fn path_text(path: &[crate::scenario::PathSeg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            crate::scenario::PathSeg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            crate::scenario::PathSeg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}
