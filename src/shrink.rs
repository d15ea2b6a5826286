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
//! use fleetsim::shrink::{shrink, Budget};
//! let scenario = fleetsim::scenario::load(std::path::Path::new("scenarios/broken/reopen-closed.yaml")).unwrap();
//! let shrunk = shrink(&scenario, None, Budget::default(), |step| println!("{step}")).unwrap();
//! println!("{}", fleetsim::shrink::to_yaml(&shrunk.scenario).unwrap());
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use crate::oracle::InvariantId;
use crate::scenario::units::format_duration;
use crate::scenario::{
    validate, Connectivity, Duration, ExpectedViolations, Fraction, Latency, OtauDevice, Scenario,
    Size,
};
use crate::sim::{Engine, Selection};
use crate::time::Span;

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
fn first_fired(oracle: &crate::oracle::Oracle) -> Option<InvariantId> {
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

/// Writes `s` as scenario YAML that [`crate::scenario::load_str`] reads
/// back to the same scenario. Settings at their defaults are left out
/// (each is dropped only if the document still reads back the same); the
/// seed is always written.
pub fn to_yaml(s: &Scenario) -> Result<String, ShrinkError> {
    let mut doc = serde_yaml::to_value(s).map_err(|e| ShrinkError::Yaml(e.to_string()))?;
    drop_nulls(&mut doc);
    if let Some(reference) = canonical(&doc) {
        let mut paths = Vec::new();
        key_paths(&doc, &mut Vec::new(), &mut paths);
        for path in paths {
            if matches!(path.as_slice(), [Seg::Key(k)] if ["name", "seed", "duration", "fleet", "expect"].contains(&k.as_str()))
            {
                continue;
            }
            let mut candidate = doc.clone();
            if remove_at(&mut candidate, &path)
                && canonical(&candidate).as_ref() == Some(&reference)
            {
                doc = candidate;
            }
        }
    }
    serde_yaml::to_string(&doc).map_err(|e| ShrinkError::Yaml(e.to_string()))
}

/// A step into a YAML document.
enum Seg {
    Key(String),
    Index(usize),
}

/// The scenario `doc` reads back to, serialised again.
fn canonical(doc: &serde_yaml::Value) -> Option<serde_yaml::Value> {
    let text = serde_yaml::to_string(doc).ok()?;
    let s: Scenario = serde_yaml::from_str(&text).ok()?;
    serde_yaml::to_value(&s).ok()
}

/// Paths of all mapping keys, children before their parents.
fn key_paths(v: &serde_yaml::Value, at: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    let copy = |at: &Vec<Seg>| -> Vec<Seg> {
        at.iter()
            .map(|s| match s {
                Seg::Key(k) => Seg::Key(k.clone()),
                Seg::Index(i) => Seg::Index(*i),
            })
            .collect()
    };
    match v {
        serde_yaml::Value::Mapping(m) => {
            for (k, child) in m {
                let Some(k) = k.as_str() else { continue };
                at.push(Seg::Key(k.to_string()));
                key_paths(child, at, out);
                out.push(copy(at));
                at.pop();
            }
        }
        serde_yaml::Value::Sequence(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push(Seg::Index(i));
                key_paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

/// Removes the mapping entry at `path`; false if there is none.
fn remove_at(v: &mut serde_yaml::Value, path: &[Seg]) -> bool {
    match path {
        [] => false,
        [Seg::Key(k)] => v
            .as_mapping_mut()
            .is_some_and(|m| m.remove(k.as_str()).is_some()),
        [Seg::Key(k), rest @ ..] => v
            .get_mut(k.as_str())
            .is_some_and(|child| remove_at(child, rest)),
        [Seg::Index(i), rest @ ..] => v
            .as_sequence_mut()
            .and_then(|items| items.get_mut(*i))
            .is_some_and(|child| remove_at(child, rest)),
    }
}

fn drop_nulls(v: &mut serde_yaml::Value) {
    match v {
        serde_yaml::Value::Mapping(m) => {
            m.retain(|_, v| !v.is_null());
            for (_, v) in m.iter_mut() {
                drop_nulls(v);
            }
        }
        serde_yaml::Value::Sequence(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// The search state: the best scenario so far and the budget left.
struct Search<F> {
    target: InvariantId,
    runs: u32,
    max_runs: u32,
    current: Scenario,
    /// First violation of the target in `current`: `(device, at)`.
    first: Option<(u64, Span)>,
    /// Other invariants `current` fires.
    also: Vec<InvariantId>,
    /// Invariants the original fired: a candidate may fire no others.
    allowed: Vec<InvariantId>,
    /// Candidates already decided (serialised), so none runs twice.
    tried: HashSet<String>,
    steps: Vec<Step>,
    progress: F,
}

/// A candidate with the description of its step.
struct Candidate {
    scenario: Scenario,
    what: String,
    from: String,
    to: String,
}

impl Candidate {
    fn new(
        scenario: Scenario,
        what: impl Into<String>,
        from: impl fmt::Display,
        to: impl fmt::Display,
    ) -> Candidate {
        Candidate {
            scenario,
            what: what.into(),
            from: from.to_string(),
            to: to.to_string(),
        }
    }
}

impl<F: FnMut(&Step)> Search<F> {
    fn spent(&self) -> bool {
        self.runs >= self.max_runs
    }

    /// Marks `s` as decided; false if it already was.
    fn remember(&mut self, s: &Scenario) -> bool {
        match serde_json::to_string(s) {
            Ok(key) => self.tried.insert(key),
            Err(_) => true,
        }
    }

    /// Runs `c` and keeps it if it still fires the target.
    fn attempt(&mut self, c: Candidate) -> bool {
        if self.spent() || validate(&c.scenario).is_err() || !self.remember(&c.scenario) {
            return false;
        }
        self.runs += 1;
        let outcome = run(&c.scenario, Some(self.target));
        if !outcome.fires(self.target) || outcome.counts.keys().any(|i| !self.allowed.contains(i)) {
            return false;
        }
        self.current = c.scenario;
        self.first = outcome.first;
        self.also = others(&outcome.counts, self.target);
        let step = Step {
            what: c.what,
            from: c.from,
            to: c.to,
            target: self.target,
            runs: self.runs,
        };
        (self.progress)(&step);
        self.steps.push(step);
        true
    }

    /// Tries `candidates` in order until one is kept.
    fn first_kept(&mut self, candidates: Vec<Candidate>) -> bool {
        for c in candidates {
            if self.spent() {
                return false;
            }
            if self.attempt(c) {
                return true;
            }
        }
        false
    }

    /// Step 1: fewer devices.
    fn devices(&mut self) -> bool {
        let mut changed = false;
        while !self.spent() && self.current.device_count() > 1 {
            let candidates = self.device_candidates();
            if !self.first_kept(candidates) {
                break;
            }
            changed = true;
        }
        changed
    }

    fn device_candidates(&self) -> Vec<Candidate> {
        let s = &self.current;
        let total = s.device_count();
        let mut out = Vec::new();
        let devices = |c: &Scenario| Candidate::new(c.clone(), "devices", total, c.device_count());
        // The first violating device: its group and its index in the group.
        let failing = self.first.and_then(|(device, _)| {
            let mut first = 0u64;
            s.fleet.iter().enumerate().find_map(|(gi, g)| {
                let end = first + u64::from(g.count);
                let hit = (first..end)
                    .contains(&device)
                    .then_some((gi, device - first));
                first = end;
                hit
            })
        });
        if let Some((gi, k)) = failing {
            out.push(devices(&only_group(s, gi, 1)));
            if let Ok(keep) = u32::try_from(k + 1) {
                if keep > 1 && u64::from(keep) < total {
                    out.push(devices(&only_group(s, gi, keep)));
                }
                if gi > 0 {
                    // The groups before it too: every device keeps its number.
                    let mut c = s.clone();
                    c.fleet.truncate(gi + 1);
                    c.fleet[gi].count = keep;
                    keep_named_targets(&mut c);
                    if c.device_count() < total {
                        out.push(devices(&c));
                    }
                }
            }
        }
        if s.fleet.len() > 1 {
            for j in (0..s.fleet.len()).rev() {
                if failing.is_some_and(|(gi, _)| gi == j) {
                    continue;
                }
                out.push(devices(&drop_group(s, j)));
            }
        }
        let mut halved = s.clone();
        for g in &mut halved.fleet {
            g.count = g.count.div_ceil(2);
        }
        if halved.device_count() < total {
            out.push(devices(&halved));
        }
        for j in 0..s.fleet.len() {
            if s.fleet[j].count > 1 {
                let mut c = s.clone();
                c.fleet[j].count = c.fleet[j].count.div_ceil(2);
                out.push(devices(&c));
            }
        }
        if total <= 16 {
            for j in 0..s.fleet.len() {
                if s.fleet[j].count > 1 {
                    let mut c = s.clone();
                    c.fleet[j].count -= 1;
                    out.push(devices(&c));
                }
            }
        }
        out
    }

    /// Step 2: fewer and simpler campaigns.
    fn campaigns(&mut self) -> bool {
        let mut changed = false;
        if self.current.campaigns.external {
            return false;
        }
        let mut i = self.current.campaigns.len();
        while i > 0 && !self.spent() {
            i -= 1;
            let n = self.current.campaigns.len();
            let mut c = self.current.clone();
            c.campaigns.list.remove(i);
            changed |= self.attempt(Candidate::new(c, "campaigns", n, n - 1));
        }
        for i in 0..self.current.campaigns.len() {
            let mut c = self.current.clone();
            let camp = &mut c.campaigns.list[i];
            camp.artifacts.truncate(1);
            camp.maintenance_window = None;
            camp.cancel_after = None;
            camp.weight = None;
            camp.leaked_downloads_per_day = None;
            let name = camp
                .name
                .clone()
                .unwrap_or_else(|| format!("campaigns[{i}]"));
            changed |= self.attempt(Candidate::new(
                c,
                name,
                "as written",
                "one artifact, no maintenance window, cancel, weight or leaks",
            ));
        }
        changed
    }

    /// Step 3: shorter duration.
    fn duration(&mut self) -> bool {
        let mut changed = false;
        let floor = |s: &Scenario, first: Option<(u64, Span)>| {
            let after_first = first.map_or(Span::ZERO, |(_, at)| at + DURATION_MARGIN);
            let starts = s
                .campaigns
                .iter()
                .map(|c| c.at.0)
                .chain(s.faults.server.iter().map(|f| f.at.0))
                .max()
                .map_or(Span::secs(1), |at| at + Span::secs(1));
            after_first.max(starts)
        };
        // Cut to just after the first violation, rounded up to a minute.
        let lb = floor(&self.current, self.first);
        let minute = Span::minutes(1).as_millis();
        let cut = Span::millis(lb.as_millis().div_ceil(minute) * minute);
        let now = self.current.duration.0;
        if cut < now {
            let mut c = self.current.clone();
            c.duration = Duration(cut);
            changed |= self.attempt(Candidate::new(
                c,
                "duration",
                format_duration(now),
                format_duration(cut),
            ));
        }
        while !self.spent() {
            let now = self.current.duration.0;
            let half = Span::millis(now.as_millis() / 2);
            if half < floor(&self.current, self.first) || half.as_millis() == 0 {
                break;
            }
            let mut c = self.current.clone();
            c.duration = Duration(half);
            if !self.attempt(Candidate::new(
                c,
                "duration",
                format_duration(now),
                format_duration(half),
            )) {
                break;
            }
            changed = true;
        }
        changed
    }

    /// Step 4: fewer and shorter faults.
    fn faults(&mut self) -> bool {
        let mut changed = false;
        let mut i = self.current.faults.server.len();
        while i > 0 && !self.spent() {
            i -= 1;
            let n = self.current.faults.server.len();
            let mut c = self.current.clone();
            c.faults.server.remove(i);
            changed |= self.attempt(Candidate::new(c, "faults", n, n - 1));
        }
        let n = self.current.faults.client.len();
        if n > 0 {
            let mut c = self.current.clone();
            c.faults.client.clear();
            changed |= self.attempt(Candidate::new(c, "client faults", n, 0));
        }
        for i in 0..self.current.faults.server.len() {
            while let Some(len) = self.current.faults.server[i].for_ {
                let half = Span::millis(len.0.as_millis() / 2);
                if half < Span::secs(1) || self.spent() {
                    break;
                }
                let mut c = self.current.clone();
                c.faults.server[i].for_ = Some(Duration(half));
                if !self.attempt(Candidate::new(
                    c,
                    format!("faults[{i}] window"),
                    format_duration(len.0),
                    format_duration(half),
                )) {
                    break;
                }
                changed = true;
            }
        }
        changed
    }

    /// Step 5: simpler links and device behaviour.
    fn devices_simpler(&mut self) -> bool {
        let mut changed = false;
        if self.current.server.polling_jitter.0 > 0.0 {
            let mut c = self.current.clone();
            let from = c.server.polling_jitter.0;
            c.server.polling_jitter = Fraction(0.0);
            changed |= self.attempt(Candidate::new(c, "server.polling_jitter", from, 0));
        }
        for i in 0..self.current.fleet.len() {
            let at = |k: &str| format!("fleet[{i}].{k}");
            let always_on = self.current.fleet[i].kind == crate::scenario::DeviceKind::AlwaysOn;
            // All of the link at once first: one run when it works.
            let link = &self.current.fleet[i].connectivity;
            let default = Connectivity::default();
            let plain_link = link.loss.0 == 0.0
                && same(&link.latency, &default.latency)
                && link.bandwidth == default.bandwidth
                && link.online_every.is_none();
            if always_on && !plain_link {
                let mut c = self.current.clone();
                c.fleet[i].connectivity = Connectivity::default();
                if self.attempt(Candidate::new(
                    c,
                    at("connectivity"),
                    "as written",
                    "defaults (always online, no loss)",
                )) {
                    changed = true;
                    continue;
                }
            }
            let g = &self.current.fleet[i];
            // Built up front, applied to the scenario current at each attempt
            // (an accepted change must not be undone by the next candidate).
            type Change = fn(&mut crate::scenario::FleetGroup);
            let mut cands: Vec<(Change, String, String, &str)> = Vec::new();
            let mut with = |f: Change, what: String, from: String, to: &'static str| {
                cands.push((f, what, from, to));
            };
            if g.connectivity.loss.0 > 0.0 {
                with(
                    |g| g.connectivity.loss = Fraction(0.0),
                    at("connectivity.loss"),
                    g.connectivity.loss.0.to_string(),
                    "0",
                );
            }
            if !same(&g.connectivity.latency, &Latency::default()) {
                with(
                    |g| g.connectivity.latency = Latency::default(),
                    at("connectivity.latency"),
                    format!(
                        "p50 {} p99 {}",
                        g.connectivity.latency.p50.0, g.connectivity.latency.p99.0
                    ),
                    "defaults",
                );
            }
            if always_on && g.connectivity.online_every.is_some() {
                with(
                    |g| {
                        g.connectivity.online_every = None;
                        g.connectivity.online_for = None;
                    },
                    at("connectivity.online_every"),
                    "windows".into(),
                    "always online",
                );
            }
            if g.connectivity.bandwidth != Size(1 << 20) {
                with(
                    |g| g.connectivity.bandwidth = Connectivity::default().bandwidth,
                    at("connectivity.bandwidth"),
                    g.connectivity.bandwidth.0.to_string(),
                    "default",
                );
            }
            if g.misbehave.is_some() {
                with(
                    |g| g.misbehave = None,
                    at("misbehave"),
                    "set".into(),
                    "none",
                );
            }
            if g.resend_final_feedback {
                with(
                    |g| g.resend_final_feedback = false,
                    at("resend_final_feedback"),
                    "true".into(),
                    "false",
                );
            }
            if g.install_failure.0 > 0.0 {
                with(
                    |g| g.install_failure = Fraction(0.0),
                    at("install_failure"),
                    g.install_failure.0.to_string(),
                    "0",
                );
            }
            if !same(&g.otau, &OtauDevice::default()) {
                with(
                    |g| g.otau = OtauDevice::default(),
                    at("otau"),
                    "as written".into(),
                    "defaults",
                );
            }
            for (f, what, from, to) in cands {
                if self.spent() {
                    break;
                }
                let mut c = self.current.clone();
                f(&mut c.fleet[i]);
                changed |= self.attempt(Candidate::new(c, what, from, to));
            }
        }
        changed
    }
}

/// Equal as written (for settings without `PartialEq`).
fn same<T: serde::Serialize>(a: &T, b: &T) -> bool {
    match (serde_json::to_string(a), serde_json::to_string(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Only fleet group `gi`, with `count` devices; campaigns that target
/// another group by name go with it.
fn only_group(s: &Scenario, gi: usize, count: u32) -> Scenario {
    let mut c = s.clone();
    let mut group = c.fleet.swap_remove(gi);
    group.count = count;
    c.fleet = vec![group];
    keep_named_targets(&mut c);
    c
}

/// Without fleet group `j`.
fn drop_group(s: &Scenario, j: usize) -> Scenario {
    let mut c = s.clone();
    c.fleet.remove(j);
    keep_named_targets(&mut c);
    c
}

/// Drops campaigns whose `targets.group` names no group any more.
fn keep_named_targets(s: &mut Scenario) {
    let names: Vec<Option<String>> = s.fleet.iter().map(|g| g.name.clone()).collect();
    s.campaigns.list.retain(|c| match &c.targets.group {
        Some(name) => names.iter().any(|n| n.as_ref() == Some(name)),
        None => true,
    });
}
