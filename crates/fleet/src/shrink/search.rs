//! The greedy search of [`super::shrink`]: candidates smaller than the best
//! scenario so far, each kept only if its run still fires the target.

use super::*;

/// The search state: the best scenario so far and the budget left.
pub(super) struct Search<F> {
    pub(super) target: InvariantId,
    pub(super) runs: u32,
    pub(super) max_runs: u32,
    pub(super) current: Scenario,
    /// First violation of the target in `current`: `(device, at)`.
    pub(super) first: Option<(u64, Span)>,
    /// Other invariants `current` fires.
    pub(super) also: Vec<InvariantId>,
    /// Invariants the original fired: a candidate may fire no others.
    pub(super) allowed: Vec<InvariantId>,
    /// Candidates already decided (serialised), so none runs twice.
    pub(super) tried: HashSet<String>,
    pub(super) steps: Vec<Step>,
    pub(super) progress: F,
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
    pub(super) fn spent(&self) -> bool {
        self.runs >= self.max_runs
    }

    /// Marks `s` as decided; false if it already was.
    pub(super) fn remember(&mut self, s: &Scenario) -> bool {
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
    pub(super) fn devices(&mut self) -> bool {
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
    pub(super) fn campaigns(&mut self) -> bool {
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
    pub(super) fn duration(&mut self) -> bool {
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
    pub(super) fn faults(&mut self) -> bool {
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
    pub(super) fn devices_simpler(&mut self) -> bool {
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
            let cands = group_changes(&self.current.fleet[i], i, always_on);
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

/// Changes of a fleet group setting to a simpler one.
type Change = fn(&mut crate::scenario::FleetGroup);

/// The simplifications of fleet group `g` (number `i`) worth a try: each a
/// change, the setting's path, its value as written and the simpler one.
/// Built up front and applied to the scenario current at each attempt (an
/// accepted change must not be undone by the next candidate).
fn group_changes(
    g: &crate::scenario::FleetGroup,
    i: usize,
    always_on: bool,
) -> Vec<(Change, String, String, &'static str)> {
    let mut cands = link_changes(g, i, always_on);
    cands.extend(behaviour_changes(g, i));
    cands.extend(gateway_changes(g, i));
    cands
}

/// [`group_changes`] of an edge gateway's `gateway:` block: one edge
/// device, and no churn, backend commands, twin writes or DDI controllers.
fn gateway_changes(
    g: &crate::scenario::FleetGroup,
    i: usize,
) -> Vec<(Change, String, String, &'static str)> {
    let Some(spec) = &g.gateway else {
        return Vec::new();
    };
    let at = |k: &str| format!("fleet[{i}].gateway.{k}");
    let mut cands: Vec<(Change, String, String, &'static str)> = Vec::new();
    fn spec_of(g: &mut crate::scenario::FleetGroup) -> &mut crate::scenario::GatewaySpec {
        g.gateway.get_or_insert_with(Default::default)
    }
    if spec.edge_devices > 1 {
        let from = spec.edge_devices.to_string();
        cands.push((
            |g| spec_of(g).edge_devices = 1,
            at("edge_devices"),
            from,
            "1",
        ));
    }
    let every = |d: &Option<crate::scenario::Duration>| d.map(|d| d.0.to_string());
    let optional: [(Change, &str, Option<String>); 3] = [
        (
            |g| spec_of(g).churn_every = None,
            "churn_every",
            every(&spec.churn_every),
        ),
        (
            |g| spec_of(g).commands_every = None,
            "commands_every",
            every(&spec.commands_every),
        ),
        (
            |g| spec_of(g).twin_writes_every = None,
            "twin_writes_every",
            every(&spec.twin_writes_every),
        ),
    ];
    for (f, key, from) in optional {
        if let Some(from) = from {
            cands.push((f, at(key), from, "never"));
        }
    }
    if spec.ddi != crate::scenario::gateway::GatewayDdi::None {
        let to_none: Change = |g| spec_of(g).ddi = crate::scenario::gateway::GatewayDdi::None;
        cands.push((to_none, at("ddi"), format!("{:?}", spec.ddi), "none"));
    }
    cands
}

/// [`group_changes`] of the group's network link.
fn link_changes(
    g: &crate::scenario::FleetGroup,
    i: usize,
    always_on: bool,
) -> Vec<(Change, String, String, &'static str)> {
    let at = |k: &str| format!("fleet[{i}].{k}");
    let mut cands: Vec<(Change, String, String, &'static str)> = Vec::new();
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
    cands
}

/// [`group_changes`] of the devices' behaviour.
fn behaviour_changes(
    g: &crate::scenario::FleetGroup,
    i: usize,
) -> Vec<(Change, String, String, &'static str)> {
    let at = |k: &str| format!("fleet[{i}].{k}");
    let mut cands: Vec<(Change, String, String, &'static str)> = Vec::new();
    let mut with = |f: Change, what: String, from: String, to: &'static str| {
        cands.push((f, what, from, to));
    };
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
    cands
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
