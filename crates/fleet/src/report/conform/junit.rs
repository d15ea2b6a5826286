//! `junit.xml` of a conformance run: one `<testsuite>` for the profile, one
//! `<testcase>` per case, named by its ID. FAIL is a `<failure>` whose
//! message is the reason and whose text is the evidence; SKIP is
//! `<skipped>` with the reason. No timestamps are written.

use quick_junit::{NonSuccessKind, Report as Junit, TestCase, TestCaseStatus, TestSuite};

use super::{evidence_text, ConformReport, Outcome};

/// The JUnit XML of `r`.
pub fn render(r: &ConformReport) -> Result<String, quick_junit::SerializeError> {
    let mut junit = Junit::new(format!("fleetsim conform {}", r.profile));
    let mut suite = TestSuite::new(format!("{} against {}", r.profile, r.target));
    for c in &r.cases {
        let reason = c.reason.clone().unwrap_or_default();
        let status = match c.outcome {
            Outcome::Pass => TestCaseStatus::success(),
            Outcome::Fail => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_type(c.clause.as_str())
                    .set_message(reason)
                    .set_description(evidence_text(c));
                s
            }
            Outcome::Skip => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(reason);
                s
            }
        };
        let mut case = TestCase::new(format!("{}: {}", super::row_id(c), c.title), status);
        case.set_classname(format!("fleetsim.conform.{}", r.profile));
        case.set_time(std::time::Duration::from_millis(c.duration_ms));
        suite.add_test_case(case);
    }
    junit.add_test_suite(suite);
    junit.to_string()
}
