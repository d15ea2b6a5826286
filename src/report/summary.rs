//! The human summary printed at the end of a run.

use std::fmt::Write;

use super::Report;
use crate::scenario::units::format_duration;
use crate::time::Span;

/// Renders the summary of `report`; `reports` is where the files went.
pub fn print_summary(report: &Report, report_path: &str) -> String {
    let mut o = String::new();
    let c = |k: &str| report.counters.get(k).copied().unwrap_or(0);
    let _ = writeln!(
        o,
        "fleetsim: {} (seed {}, {} devices, {} virtual)",
        report.scenario,
        report.seed,
        report.devices,
        format_duration(Span(report.duration_ms))
    );
    let _ = writeln!(o);
    let _ = writeln!(o, "  devices by final state");
    for (phase, n) in &report.final_phases {
        if *n > 0 {
            let pct = 100.0 * *n as f64 / report.devices.max(1) as f64;
            let _ = writeln!(o, "    {phase:<12} {n:>9}  {pct:5.1}%");
        }
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "  updates      {} finished, {} failed, {} canceled, {} withdrawn  ({} devices targeted)",
        c("updates_succeeded"),
        c("updates_failed"),
        c("updates_canceled"),
        c("updates_withdrawn"),
        c("devices_targeted")
    );
    let errors: u64 = report.net_errors.values().sum();
    let _ = writeln!(
        o,
        "  requests     {} sent, {} lost or broken",
        c("requests"),
        errors
    );
    for (kind, l) in &report.latency_ms {
        let _ = writeln!(
            o,
            "    {kind:<16} n={:<9} p50 {:>6}ms  p99 {:>7}ms  max {:>7}ms",
            l.count, l.p50, l.p99, l.max
        );
    }
    let statuses: Vec<String> = report
        .statuses
        .iter()
        .map(|(s, n)| format!("{s}×{n}"))
        .collect();
    let _ = writeln!(o, "  statuses     {}", statuses.join("  "));
    if let Some(m) = &report.management {
        let _ = writeln!(o);
        let _ = writeln!(o, "  server ({}) recorded", m.api);
        for c in &m.campaigns {
            let counts: Vec<String> = c.recorded.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let started = c.started_at_ms.map_or("not started".to_string(), |t| {
                format!("created at {}", format_duration(Span(t)))
            });
            let _ = writeln!(
                o,
                "    {:<16} {} targets, {started}: {}",
                c.name,
                c.targets,
                if counts.is_empty() {
                    "-".to_string()
                } else {
                    counts.join(", ")
                }
            );
        }
        for e in &m.errors {
            let _ = writeln!(o, "    error: {e}");
        }
    }
    let _ = writeln!(o);
    let total = c("violations");
    if total == 0 {
        let _ = writeln!(
            o,
            "  violations   none ({} invariants checked)",
            report.invariants.len()
        );
    } else {
        let _ = writeln!(o, "  violations   {total}");
        for inv in report.invariants.iter().filter(|i| i.violations > 0) {
            let _ = writeln!(
                o,
                "    {:<18} {:>7}  {}",
                inv.id, inv.violations, inv.summary
            );
        }
        for v in report.violations.iter().take(5) {
            let _ = writeln!(
                o,
                "    first: {} on {} at {}: {}",
                v.id,
                v.controller_id,
                crate::time::Time(v.at_ms),
                v.message
            );
        }
    }
    let _ = writeln!(o);
    if let Some(f) = report.verdict.converged_fraction {
        let _ = writeln!(
            o,
            "  converged    {:.2}% of targeted devices within the expected time",
            f * 100.0
        );
    }
    let _ = writeln!(
        o,
        "  wall time    {:.2}s  ({:.0} events/s, {:.0} requests/s)",
        report.wall_clock.elapsed_ms as f64 / 1000.0,
        report.wall_clock.events_per_sec,
        report.wall_clock.requests_per_sec
    );
    let _ = writeln!(o, "  digest       {}", report.digest);
    let _ = writeln!(o, "  report       {report_path}");
    let _ = writeln!(o);
    if report.verdict.passed {
        let _ = writeln!(o, "PASS: the run met the scenario's expectations");
    } else {
        let _ = writeln!(o, "FAIL: the run did not meet the scenario's expectations");
        for p in &report.verdict.problems {
            let _ = writeln!(o, "  - {p}");
        }
    }
    o
}
