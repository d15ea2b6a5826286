//! `fleetsim conform`: a catalogue of small, independent conformance cases
//! run against a DDI server over real HTTP, the way h2spec checks HTTP/2
//! servers.
//!
//! Each [`Case`] has a stable ID (`DDI-ROOT-001`), the clause it checks (a
//! section of `shared/reference/ddi.md` or a hawkBit test), a one-sentence
//! title and an async function over a [`Ctx`]: 1–3 devices of its own, DDI
//! requests recorded as evidence, server state prepared through the
//! management adapter ([`crate::management::Manager`]) — or a SKIP saying
//! why when there is none or it cannot express the setup. [`run`] plays the
//! cases a [`Profile`] selects one after the other and returns the report
//! card ([`fleetsim_fleet::report::conform::ConformReport`]).
//!
//! Adding a case: one function in `cases/`, one [`Case`] entry in that
//! file's table with its ID, clause and title.

mod cases;
mod ctx;
pub mod device;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

pub use ctx::{
    ensure, excerpt, firmware, path_of, Answer, Campaign, Ctx, Stop, Verdict, ARTIFACT_SIZE,
};

use crate::http_client::{Http, HttpSetupError};
use crate::management::{AdapterError, Manager, ManagerConfig, MgmtClient, Secret};
use fleetsim_fleet::report::conform::{CaseReport, ConformReport, Outcome, RunInfo};
use fleetsim_fleet::scenario::ConnectionModel;

/// How long one DDI request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one case may take in all.
const CASE_TIMEOUT: Duration = Duration::from_secs(90);

/// A set of cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Every hawkBit DDI v1 case.
    DdiV1,
    /// The cases a minimal DDI server must pass: root, deployment,
    /// feedback, download.
    DdiV1Core,
    /// Exosite OTAU over Murano's HTTP device API (otau.md §4).
    OtauHttp,
    /// Exosite OTAU over Murano's MQTT device API (otau.md §8), content
    /// downloads over HTTP.
    OtauMqtt,
    /// Constrained devices: the custom protocol gateway and its artifact
    /// CDN (docs/guide/cpg.md), and the twins of Ditto's HTTP API (ditto.md).
    Cpg,
}

impl Profile {
    /// Every profile, in the order `--help` lists them.
    pub const ALL: [Profile; 5] = [
        Profile::DdiV1,
        Profile::DdiV1Core,
        Profile::OtauHttp,
        Profile::OtauMqtt,
        Profile::Cpg,
    ];

    /// The profile's name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::DdiV1 => "ddi-v1",
            Profile::DdiV1Core => "ddi-v1-core",
            Profile::OtauHttp => "otau-http",
            Profile::OtauMqtt => "otau-mqtt",
            Profile::Cpg => "cpg",
        }
    }

    /// The profile named `name`.
    pub fn parse(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// True when `case` belongs to this profile.
    pub fn includes(self, case: &Case) -> bool {
        match self {
            Profile::DdiV1 => case.id.starts_with("DDI-"),
            Profile::DdiV1Core => case.core && case.id.starts_with("DDI-"),
            Profile::OtauHttp => case.id.starts_with("OTAU-"),
            Profile::OtauMqtt => case.id.starts_with("MQTT-"),
            Profile::Cpg => case.id.starts_with("CPG-") || case.id.starts_with("TWIN-"),
        }
    }
}

/// A case's function: runs against the context, `Ok(())` is a PASS.
pub type RunFn = for<'a, 'r> fn(&'a mut Ctx<'r>) -> Pin<Box<dyn Future<Output = Verdict> + 'a>>;

/// One conformance case.
pub struct Case {
    /// Stable ID, e.g. `DDI-ROOT-001`.
    pub id: &'static str,
    /// What the server must do, in one sentence.
    pub title: &'static str,
    /// The clause checked.
    pub clause: &'static str,
    /// In the `ddi-v1-core` profile too (a DDI case; the profile of a case
    /// is its ID's first word: `DDI-…`, `OTAU-…`, `MQTT-…`, `CPG-…` or `TWIN-…`).
    pub core: bool,
    /// The check.
    pub run: RunFn,
}

/// Wraps an `async fn(&mut Ctx<'_>) -> Verdict` as a [`RunFn`].
macro_rules! case_fn {
    ($f:path) => {{
        fn run<'a, 'r>(
            cx: &'a mut $crate::conform::Ctx<'r>,
        ) -> ::std::pin::Pin<Box<dyn ::std::future::Future<Output = $crate::conform::Verdict> + 'a>>
        {
            Box::pin($f(cx))
        }
        run as $crate::conform::RunFn
    }};
}
pub(crate) use case_fn;

/// Every case, in catalogue order.
pub fn catalogue() -> Vec<Case> {
    cases::all()
}

/// What to run against which server.
#[derive(Clone, Debug)]
pub struct Options {
    /// Base URL of the DDI server (`scheme://host[:port]`).
    pub target: String,
    /// DDI tenant.
    pub tenant: String,
    /// Which cases.
    pub profile: Profile,
    /// Only these case IDs (all of the profile when empty).
    pub only: Vec<String>,
    /// The management adapter, if any.
    pub manager: Option<ManagerConfig>,
    /// `fleetsim serve`'s login for its OTAU admin routes (the application's
    /// side of OTAU: device tokens, manifests, content); the `api` field is
    /// not used.
    pub otau_admin: Option<ManagerConfig>,
    /// First OTAU device number this run uses (`serve` has devices
    /// `0..10000` without a scenario); each OTAU case takes fresh ones.
    pub otau_first_device: u64,
    /// The MQTT endpoint of the `otau-mqtt` profile (`mqtt://` or
    /// `mqtts://HOST:PORT`, as `fleetsim run --mqtt`); content downloads
    /// go to `target`.
    pub mqtt: Option<String>,
    /// Gateway token the devices send (and the adapter configures).
    pub gateway_token: Option<Secret>,
    /// Prefix of every controller id, unique per run (the server keeps the
    /// devices of earlier runs).
    pub run_tag: String,
    /// Extra trusted roots (PEM path and contents) for HTTPS.
    pub ca_pem: Option<(String, Vec<u8>)>,
}

/// Why a conformance run could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConformError {
    /// `--only` names a case the profile does not have.
    #[error("--only {0}: no such case in profile {1}; run `fleetsim conform --list` for the IDs")]
    UnknownCase(String, &'static str),
    /// The HTTP client could not be set up.
    #[error(transparent)]
    Http(#[from] HttpSetupError),
    /// The management adapter could not log in.
    #[error(transparent)]
    Manager(#[from] AdapterError),
}

/// The cases `opts` selects, in catalogue order.
pub fn select(opts: &Options) -> Result<Vec<Case>, ConformError> {
    let cases: Vec<Case> = catalogue()
        .into_iter()
        .filter(|c| opts.profile.includes(c))
        .collect();
    for id in &opts.only {
        if !cases.iter().any(|c| c.id.eq_ignore_ascii_case(id)) {
            return Err(ConformError::UnknownCase(id.clone(), opts.profile.as_str()));
        }
    }
    Ok(cases
        .into_iter()
        .filter(|c| opts.only.is_empty() || opts.only.iter().any(|o| c.id.eq_ignore_ascii_case(o)))
        .collect())
}

/// Runs the selected cases one after the other; the report card.
pub async fn run(opts: &Options) -> Result<ConformReport, ConformError> {
    let started = Instant::now();
    let cases = select(opts)?;
    let ca = opts
        .ca_pem
        .as_ref()
        .map(|(p, b)| (p.as_str(), b.as_slice()));
    let http = Http::new(ConnectionModel::Pool, false, ca, REQUEST_TIMEOUT)?;
    let mut manager = match &opts.manager {
        Some(cfg) => Some(Manager::connect(cfg).await?),
        None => None,
    };
    let otau_admin = match &opts.otau_admin {
        Some(cfg) => Some(MgmtClient::new(cfg)?),
        None => None,
    };
    let mut otau_next = opts.otau_first_device;
    let mut campaigns = 0;
    let mut reports = Vec::with_capacity(cases.len());
    for case in &cases {
        let mut cx = Ctx {
            opts,
            http: &http,
            manager: manager.as_mut(),
            campaigns: &mut campaigns,
            otau_admin: otau_admin.as_ref(),
            otau_next: &mut otau_next,
            case_id: case.id,
            evidence: Vec::new(),
        };
        reports.push(run_case(case, &mut cx).await);
    }
    let manage = match (&opts.otau_admin, &opts.manager) {
        (Some(_), _) => "fleetsim",
        (None, Some(m)) => m.api.as_str(),
        (None, None) => "none",
    };
    let ms = started.elapsed().as_millis() as u64;
    let info = RunInfo {
        profile: opts.profile.as_str(),
        target: &opts.target,
        manage,
        run_tag: &opts.run_tag,
    };
    Ok(ConformReport::new(info, reports, ms))
}

/// Runs one case, bounded by [`CASE_TIMEOUT`].
async fn run_case(case: &Case, cx: &mut Ctx<'_>) -> CaseReport {
    let started = Instant::now();
    let verdict = tokio::time::timeout(CASE_TIMEOUT, (case.run)(cx)).await;
    let (outcome, reason) = match verdict {
        Ok(Ok(())) => (Outcome::Pass, None),
        Ok(Err(Stop::Fail(why))) => (Outcome::Fail, Some(why)),
        Ok(Err(Stop::Skip(why))) => (Outcome::Skip, Some(why)),
        Err(_) => (
            Outcome::Fail,
            Some(format!("no result within {CASE_TIMEOUT:?}")),
        ),
    };
    CaseReport {
        id: case.id.to_string(),
        title: case.title.to_string(),
        clause: case.clause.to_string(),
        device: None,
        outcome,
        reason,
        duration_ms: started.elapsed().as_millis() as u64,
        evidence: std::mem::take(&mut cx.evidence),
    }
}

/// The evidence of a finished case as text (for tests' failure messages).
pub fn evidence_of(c: &CaseReport) -> String {
    fleetsim_fleet::report::conform::evidence_text(c)
}

#[cfg(test)]
mod tests;
