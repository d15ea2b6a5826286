//! `junit.xml`: the run as a JUnit report, for CI test viewers (GitLab,
//! Jenkins, GitHub actions that read JUnit).
//!
//! One `<testsuite>` per invariant family (`DDI`, `OTAU`, `URL`), one
//! `<testcase>` per invariant ID the fleet exercises, plus an `expectations`
//! suite for the scenario's `converged:` and other verdict problems. A case
//! fails when its outcome contradicts the scenario's `expect:` block: an
//! invariant that fired unexpectedly (the failure carries the count, the first
//! violations with device, time and trace excerpt, and the command that
//! replays the first one), or one expected to fire that did not. No
//! timestamps are written, so the file is as deterministic as `report.json`.

use std::fmt::Write as _;
use std::path::Path;

use quick_junit::{NonSuccessKind, Report as Junit, TestCase, TestCaseStatus, TestSuite};

use super::{InvariantVerdict, Report};
use fleetsim_core::time::Time;

/// Violations written out in full per failed case.
const SHOWN_VIOLATIONS: usize = 3;
/// Trace lines shown before each violation.
const EXCERPT_LINES: usize = 12;

/// The JUnit XML of `report`, whose files are in `dir` (for the replay command).
pub fn render(report: &Report, dir: &Path) -> Result<String, quick_junit::SerializeError> {
    let mut junit = Junit::new(format!("fleetsim {}", report.scenario));
    let mut families: Vec<&str> = report.invariants.iter().map(|i| i.family).collect();
    families.dedup();
    for family in families {
        let mut suite = TestSuite::new(format!("{family} invariants"));
        for inv in report.invariants.iter().filter(|i| i.family == family) {
            suite.add_test_case(invariant_case(report, inv, dir));
        }
        junit.add_test_suite(suite);
    }
    junit.add_test_suite(expectations(report));
    junit.to_string()
}

fn invariant_case(report: &Report, inv: &InvariantVerdict, dir: &Path) -> TestCase {
    let fired = inv.violations > 0;
    let status = match (fired, inv.expected) {
        (true, false) => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type(inv.id);
            s.set_message(format!(
                "{} violation{} of: {}",
                inv.violations,
                if inv.violations == 1 { "" } else { "s" },
                inv.summary
            ));
            s.set_description(violation_details(report, inv.id, dir));
            s
        }
        (false, true) => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type(inv.id);
            s.set_message(format!(
                "expected {} to fire (the scenario's expect.violations), but it held",
                inv.id
            ));
            s
        }
        _ => TestCaseStatus::success(),
    };
    let mut case = TestCase::new(format!("{}: {}", inv.id, inv.summary), status);
    case.set_classname(format!("fleetsim.{}.{}", report.scenario, inv.family));
    if fired && inv.expected {
        case.set_system_out(format!(
            "fired {} times, as the scenario expects (source: {})",
            inv.violations, inv.source
        ));
    }
    case
}

/// The first violations of `id` in full, and how to replay the first.
fn violation_details(report: &Report, id: &str, dir: &Path) -> String {
    let mut text = String::new();
    let mut first = None;
    for v in report
        .violations
        .iter()
        .filter(|v| v.id == id)
        .take(SHOWN_VIOLATIONS)
    {
        first.get_or_insert(v);
        let _ = writeln!(
            text,
            "{} on {} (device {}) at {}: {}",
            v.id,
            v.controller_id,
            v.device,
            Time(v.at_ms),
            v.message
        );
        let skip = v.excerpt.len().saturating_sub(EXCERPT_LINES);
        for line in &v.excerpt[skip..] {
            let _ = writeln!(text, "    {line}");
        }
        let _ = writeln!(text);
    }
    if let Some(v) = first {
        let _ = writeln!(text, "replay: {}", replay_command(dir, &v.controller_id));
    }
    text
}

/// The command that replays device `controller_id` of the run in `dir`.
pub fn replay_command(dir: &Path, controller_id: &str) -> String {
    format!("fleetsim replay {} --device {controller_id}", dir.display())
}

/// A case that fails with `problem` when there is one.
fn expectation_case(name: String, kind: &str, problem: Option<&String>) -> TestCase {
    let status = match problem {
        Some(p) => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type(kind).set_message(p.clone());
            s
        }
        None => TestCaseStatus::success(),
    };
    TestCase::new(name, status)
}

/// The verdict problems that are not about one invariant (convergence,
/// management errors), as cases of their own.
fn expectations(report: &Report) -> TestSuite {
    let mut suite = TestSuite::new("expectations");
    let problem = |is: &dyn Fn(&str) -> bool| report.verdict.problems.iter().find(|p| is(p));
    let converged = report.verdict.converged_fraction.map(|f| {
        let name = format!("converged: {:.2}% of targeted devices in time", f * 100.0);
        let found = problem(&|p| p.contains("targeted devices updated within"));
        expectation_case(name, "converged", found)
    });
    let others = report
        .verdict
        .problems
        .iter()
        .filter(|p| p.starts_with("management: "))
        .map(|p| {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_type("management").set_message(p.clone());
            TestCase::new("management operations succeed", s)
        });
    // Real-time runs: did the server keep answering?
    let lost = report
        .counters
        .contains_key("requests_lost_not_injected")
        .then(|| {
            let found = problem(&|p| p.starts_with(super::LOST_REQUESTS_PROBLEM));
            expectation_case("lost requests within bounds".into(), "lost_requests", found)
        });
    for mut case in converged.into_iter().chain(lost).chain(others) {
        case.set_classname(format!("fleetsim.{}.expectations", report.scenario));
        suite.add_test_case(case);
    }
    suite
}
