//! The human summary printed at the end of a run.

use std::fmt::Write;
use std::path::Path;

use super::Report;
use crate::scenario::units::format_duration;
use fleetsim_core::time::Span;

/// Renders the summary of `report`; `reports` is where the files went.
pub fn print_summary(report: &Report, report_path: &str) -> String {
    let mut o = String::new();
    devices_section(&mut o, report);
    traffic_section(&mut o, report);
    if let Some(m) = &report.management {
        management_section(&mut o, m);
    }
    if let Some(g) = &report.gateway {
        gateway_table(&mut o, g);
    }
    if let Some(t) = &report.twin {
        super::twin::summary(&mut o, t);
    }
    violations_section(&mut o, report);
    verdict_section(&mut o, report, report_path);
    o
}

/// The run's title line and the devices by final state.
fn devices_section(o: &mut String, report: &Report) {
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
}

/// Updates, requests with their losses and latencies, answer statuses.
fn traffic_section(o: &mut String, report: &Report) {
    let c = |k: &str| report.counters.get(k).copied().unwrap_or(0);
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
    let by_server = match report.counters.get("requests_lost_not_injected") {
        Some(&n) if n > 0 => format!(" ({n} not injected by the scenario)"),
        _ => String::new(),
    };
    let causes: Vec<String> = report
        .net_errors
        .iter()
        .map(|(cause, n)| format!("{cause} {n}"))
        .collect();
    let causes = match causes.is_empty() {
        true => String::new(),
        false => format!(": {}", causes.join(", ")),
    };
    let _ = writeln!(
        o,
        "  requests     {} sent, {errors} lost or broken{by_server}{causes}",
        c("requests"),
    );
    if report.latency_us.is_empty() {
        for (kind, l) in &report.latency_ms {
            let _ = writeln!(
                o,
                "    {kind:<16} n={:<9} p50 {:>6}ms  p99 {:>7}ms  max {:>7}ms",
                l.count, l.p50, l.p99, l.max
            );
        }
    }
    // Real time: wall-clock latency in µs, shown in the unit that fits.
    for (kind, l) in &report.latency_us {
        let _ = writeln!(
            o,
            "    {kind:<16} n={:<9} p50 {:>8}  p99 {:>8}  max {:>8}",
            l.count,
            super::format_us(l.p50),
            super::format_us(l.p99),
            super::format_us(l.max)
        );
    }
    let statuses: Vec<String> = report
        .statuses
        .iter()
        .map(|(s, n)| format!("{s}×{n}"))
        .collect();
    let _ = writeln!(o, "  statuses     {}", statuses.join("  "));
}

/// What a real server's Management API recorded of the campaigns.
fn management_section(o: &mut String, m: &crate::management_log::ManagementLog) {
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

/// Invariant violations, by invariant and the first few.
fn violations_section(o: &mut String, report: &Report) {
    let c = |k: &str| report.counters.get(k).copied().unwrap_or(0);
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
                fleetsim_core::time::Time(v.at_ms),
                v.message
            );
        }
    }
}

/// Convergence, wall time, digest, the verdict, and where the reports went.
fn verdict_section(o: &mut String, report: &Report, report_path: &str) {
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
        "  wall time    {:.2}s  ({:.0} events/s, {:.0} requests/s{})",
        report.wall_clock.elapsed_ms as f64 / 1000.0,
        report.wall_clock.events_per_sec,
        report.wall_clock.requests_per_sec,
        match report.wall_clock.threads {
            0 | 1 => String::new(),
            n => format!(", {n} threads"),
        }
    );
    let _ = writeln!(o, "  digest       {}", report.digest);
    let _ = writeln!(o);
    if report.verdict.passed {
        let _ = writeln!(o, "PASS: the run met the scenario's expectations");
    } else {
        let _ = writeln!(o, "FAIL: the run did not meet the scenario's expectations");
        for p in &report.verdict.problems {
            let _ = writeln!(o, "  - {p}");
        }
    }
    let dir = Path::new(report_path).parent().unwrap_or(Path::new("."));
    let _ = writeln!(
        o,
        "  reports      {}/  ({})",
        dir.display(),
        super::REPORT_FILES.join(", ")
    );
    if let Some(v) = report.violations.first() {
        let command = super::replay_command(dir, &v.controller_id);
        let _ = writeln!(o, "  replay       {command}   (the first violation)");
    }
}

/// The seed-000 strategies side by side: completion at a few points in
/// time, failures, re-fires, leaked-URL downloads; then the cache.
fn gateway_table(o: &mut String, g: &crate::constrained_report::GatewayReport) {
    let _ = writeln!(o);
    let _ = writeln!(o, "  strategies (custom protocol gateway, seed 000)");
    let Some(days) = g.strategies.iter().map(|s| s.completion.len()).max() else {
        return;
    };
    // Up to six columns, evenly over the run.
    let picks: Vec<usize> = (1..=6)
        .map(|k| (k * (days - 1)).div_ceil(6))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut head = format!("    {:<18} {:>8}", "strategy", "devices");
    if let Some(first) = g.strategies.first() {
        for &p in &picks {
            if let Some((at, _)) = first.completion.get(p) {
                let _ = write!(
                    head,
                    " {:>7}",
                    format_duration(Span(at - first.completion[0].0))
                );
            }
        }
    }
    let _ = writeln!(
        o,
        "{head}  failed  re-fired  leaked URL downloads served/tried"
    );
    for s in &g.strategies {
        let mut row = format!("    {:<18} {:>8}", s.strategy, s.targeted);
        for &p in &picks {
            if let Some((_, f)) = s.completion.get(p) {
                let _ = write!(row, " {:>6.1}%", f * 100.0);
            }
        }
        let leaks = &s.leaks;
        let _ = writeln!(
            o,
            "{row}  {:>6}  {:>8}  {}/{}",
            s.failed,
            s.refired,
            leaks.served + leaks.tampered_served,
            leaks.attempts
        );
    }
    if g.cache_fetches > 0 {
        let mb = |b: u64| b as f64 / (1 << 20) as f64;
        let now = g.cache_bytes.last().map_or(0, |p| p.1);
        let _ = writeln!(
            o,
            "    artifact cache     peak {:.2} MiB, at the end {:.2} MiB; {} fetched, {} evicted",
            mb(g.cache_peak_bytes),
            mb(now),
            g.cache_fetches,
            g.cache_evictions
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::format_us;

    #[test]
    fn latencies_read_in_the_unit_that_fits() {
        assert_eq!(format_us(1), "1µs");
        assert_eq!(format_us(850), "850µs");
        assert_eq!(format_us(1_240), "1.24ms");
        assert_eq!(format_us(31_240), "31.2ms");
        assert_eq!(format_us(312_400), "312ms");
        assert_eq!(format_us(4_200_000), "4.20s");
    }
}
