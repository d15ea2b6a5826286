//! The self-contained HTML view of a run report, `index.html`, written next
//! to `report.json`.
//!
//! One file: inline CSS, inline SVG charts (see [`super::charts`]), no
//! scripts and no external fonts, stylesheets or images, so it opens without
//! a network. The page is a pure function of the [`Report`]: the same report
//! renders byte-identically (the only wall-clock figures are the report's own
//! `wall_clock` section, shown in the footer).

use std::fmt::Write;

use super::{charts, Report};
use crate::scenario::units::format_duration;
use fleetsim_core::protocol::ddi::Phase;
use fleetsim_core::time::Span;

/// Violations listed in the page's table (the report holds more).
const VIOLATION_ROWS: usize = 20;

pub(super) const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f4f5f7;color:#202124}
header{background:#fff;border-bottom:1px solid #dadce0;padding:16px 28px}
header h1{margin:0 0 6px;font-size:24px}
main{padding:8px 28px 28px;max-width:1040px}
section{background:#fff;border:1px solid #dadce0;border-radius:6px;margin:16px 0;padding:12px 16px}
h2{font-size:18px;margin:4px 0 10px}
.meta{color:#5f6368;font-size:14px}
.meta code{font-size:13px}
.verdict{display:inline-block;padding:2px 12px;border-radius:4px;color:#fff;font-weight:bold;margin-left:10px;font-size:18px;vertical-align:middle}
.pass{background:#188038}.fail{background:#d93025}
.held{color:#188038;font-weight:bold}.violated{color:#d93025;font-weight:bold}
table{border-collapse:collapse;font-size:14px;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eceff1;vertical-align:top}
th{background:#f8f9fa}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
svg{max-width:100%;height:auto;display:block}
.unavailable{color:#d93025}
ul.problems{color:#d93025;margin:6px 0}
footer{color:#5f6368;font-size:12px;padding:0 28px 20px}
";

/// Escapes `s` for HTML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn ms(t: u64) -> String {
    format_duration(Span(t))
}

/// Renders `report` as one self-contained HTML page.
pub fn render(report: &Report) -> String {
    let mut o = String::with_capacity(256 * 1024);
    let title = format!("fleetsim: {}", escape(&report.scenario));
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
    );
    header(&mut o, report);
    o.push_str("<main>\n");
    let charts: [(&str, Result<String, charts::ChartError>); 5] = [
        ("fleet-state", charts::fleet_state(report)),
        ("completion", charts::completion(report)),
        ("request-rate", charts::request_rate(report)),
        ("latency", charts::latency(report)),
        ("violation-times", charts::violations(report)),
    ];
    for (id, chart) in charts {
        let _ = writeln!(o, "<section class=\"chart\" id=\"{id}\">");
        match chart {
            Ok(svg) => o.push_str(&svg),
            Err(e) => {
                let _ = write!(
                    o,
                    "<p class=\"unavailable\">chart unavailable: {}</p>",
                    escape(&e.to_string())
                );
            }
        }
        o.push_str("\n</section>\n");
    }
    overview(&mut o, report);
    latency_table(&mut o, report);
    invariants_table(&mut o, report);
    campaigns(&mut o, report);
    if let Some(t) = &report.twin {
        super::twin::html(&mut o, t);
    }
    slowest_devices(&mut o, report);
    violations_table(&mut o, report);
    o.push_str("</main>\n");
    let w = &report.wall_clock;
    let _ = write!(
        o,
        "<footer>{} · scenario file <code>{}</code> · wall clock (not deterministic): \
         {} ms, {:.0} events/s, {:.0} requests/s</footer>\n</body>\n</html>\n",
        escape(report.fleetsim),
        escape(&report.scenario_file),
        w.elapsed_ms,
        w.events_per_sec,
        w.requests_per_sec
    );
    o
}

fn header(o: &mut String, r: &Report) {
    let (class, word) = if r.verdict.passed {
        ("pass", "PASS")
    } else {
        ("fail", "FAIL")
    };
    let _ = write!(
        o,
        "<header>\n<h1>{}<span class=\"verdict {class}\">{word}</span></h1>\n\
         <div class=\"meta\">seed {} · {} devices · {} virtual · digest <code>{}</code></div>\n",
        escape(&r.scenario),
        r.seed,
        r.devices,
        ms(r.duration_ms),
        escape(&r.digest)
    );
    if let Some(f) = r.verdict.converged_fraction {
        let _ = writeln!(
            o,
            "<div class=\"meta\">{:.2}% of targeted devices converged in time</div>",
            f * 100.0
        );
    }
    if !r.verdict.problems.is_empty() {
        o.push_str("<ul class=\"problems\">\n");
        for p in &r.verdict.problems {
            let _ = writeln!(o, "<li>{}</li>", escape(p));
        }
        o.push_str("</ul>\n");
    }
    o.push_str("</header>\n");
}

/// Opens a table with `heads` (a leading `#` marks a numeric column).
pub(super) fn table_head(o: &mut String, id: &str, heads: &[&str]) {
    let _ = write!(o, "<table id=\"{id}\">\n<tr>");
    for h in heads {
        match h.strip_prefix('#') {
            Some(h) => {
                let _ = write!(o, "<th class=\"n\">{}</th>", escape(h));
            }
            None => {
                let _ = write!(o, "<th>{}</th>", escape(h));
            }
        }
    }
    o.push_str("</tr>\n");
}

fn overview(o: &mut String, r: &Report) {
    o.push_str("<section id=\"overview\">\n<h2>Overview</h2>\n");
    table_head(o, "final-phases", &["final state", "#devices", "#share"]);
    // In lifecycle order (idle … canceled), not alphabetical.
    let mut phases: Vec<(&str, u64)> = r.final_phases.iter().map(|(k, v)| (*k, *v)).collect();
    phases.sort_by_key(|(k, _)| {
        Phase::ALL
            .iter()
            .position(|p| p.as_str() == *k)
            .unwrap_or(usize::MAX)
    });
    for (phase, n) in phases {
        let color = charts::phase_color(phase);
        let _ = writeln!(
            o,
            "<tr><td><span style=\"color:rgb({},{},{})\">■</span> {}</td>\
             <td class=\"n\">{n}</td><td class=\"n\">{:.1}%</td></tr>",
            color.0,
            color.1,
            color.2,
            escape(phase),
            100.0 * n as f64 / r.devices.max(1) as f64
        );
    }
    o.push_str("</table>\n<br>\n");
    table_head(o, "counters", &["counter", "#value"]);
    for (k, v) in &r.counters {
        let _ = writeln!(o, "<tr><td>{}</td><td class=\"n\">{v}</td></tr>", escape(k));
    }
    let statuses: Vec<String> = r.statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
    let errors: Vec<String> = r
        .net_errors
        .iter()
        .map(|(k, n)| format!("{}×{n}", escape(k)))
        .collect();
    let _ = write!(
        o,
        "<tr><td>responses by status</td><td class=\"n\">{}</td></tr>\n\
         <tr><td>network errors</td><td class=\"n\">{}</td></tr>\n</table>\n</section>\n",
        statuses.join(" "),
        if errors.is_empty() {
            "none".to_string()
        } else {
            errors.join(" ")
        }
    );
}

fn latency_table(o: &mut String, r: &Report) {
    let real = !r.latency_us.is_empty();
    o.push_str(match real {
        true => "<section>\n<h2>Requests and latency (wall clock)</h2>\n",
        false => "<section>\n<h2>Requests and latency (virtual ms)</h2>\n",
    });
    table_head(
        o,
        "latency-table",
        &[
            "kind", "#sent", "#answers", "#p50", "#p90", "#p99", "#p99.9", "#max",
        ],
    );
    for (kind, sent) in &r.requests {
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=\"n\">{sent}</td>",
            escape(kind)
        );
        let us = r.latency_us.get(kind);
        match (us, r.latency_ms.get(kind)) {
            (Some(l), _) => {
                let cells: Vec<String> = [l.p50, l.p90, l.p99, l.p999, l.max]
                    .iter()
                    .map(|v| format!("<td class=\"n\">{}</td>", super::format_us(*v)))
                    .collect();
                let _ = writeln!(o, "<td class=\"n\">{}</td>{}</tr>", l.count, cells.concat());
            }
            (None, Some(l)) => {
                let _ = writeln!(
                    o,
                    "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                     <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                    l.count, l.p50, l.p90, l.p99, l.p999, l.max
                );
            }
            (None, None) => o.push_str("<td class=\"n\">0</td><td colspan=\"5\"></td></tr>\n"),
        }
    }
    o.push_str("</table>\n</section>\n");
}

fn invariants_table(o: &mut String, r: &Report) {
    o.push_str("<section>\n<h2>Invariants</h2>\n");
    table_head(o, "invariants", &["ID", "summary", "source", "verdict"]);
    for i in &r.invariants {
        let verdict = if i.violations == 0 {
            "<span class=\"held\">held</span>".to_string()
        } else {
            format!("<span class=\"violated\">violated ×{}</span>", i.violations)
        };
        let _ = writeln!(
            o,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{verdict}</td></tr>",
            escape(i.id),
            escape(i.summary),
            escape(i.source)
        );
    }
    o.push_str("</table>\n</section>\n");
}

fn campaigns(o: &mut String, r: &Report) {
    o.push_str("<section id=\"campaigns\">\n<h2>Campaigns</h2>\n");
    if let Some(m) = &r.management {
        server_campaigns(o, m);
    }
    if let Some(g) = &r.gateway {
        gateway_campaigns(o, g);
    }
    if r.management.is_none() && r.gateway.is_none() {
        let c = &r.convergence;
        let _ = writeln!(
            o,
            "<p class=\"meta\">No per-campaign breakdown for this run (the embedded server \
             assigns the campaigns): {} devices targeted, {} converged.</p>",
            c.targeted, c.converged
        );
    }
    o.push_str("</section>\n");
}

/// The campaigns as a real server's Management API recorded them.
fn server_campaigns(o: &mut String, m: &crate::management_log::ManagementLog) {
    let _ = writeln!(o, "<p>As the server ({}) recorded them:</p>", escape(m.api));
    table_head(
        o,
        "campaigns-server",
        &[
            "campaign",
            "#targets",
            "created",
            "canceled",
            "devices per state",
        ],
    );
    for c in &m.campaigns {
        let recorded: Vec<String> = c
            .recorded
            .iter()
            .map(|(k, n)| format!("{n} {}", escape(k)))
            .collect();
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.name),
            c.targets,
            c.started_at_ms.map_or("not created".to_string(), ms),
            c.canceled_at_ms.map_or("-".to_string(), ms),
            recorded.join(", ")
        );
    }
    o.push_str("</table>\n");
    for e in &m.errors {
        let _ = writeln!(o, "<p class=\"unavailable\">error: {}</p>", escape(e));
    }
}

/// The seed-000 gateway strategies, one row per campaign.
fn gateway_campaigns(o: &mut String, g: &crate::constrained_report::GatewayReport) {
    table_head(
        o,
        "campaigns-gateway",
        &[
            "campaign",
            "strategy",
            "#URL validity",
            "#targeted",
            "#updated",
            "#failed",
            "#unfinished",
            "#re-fired",
            "#leaked URL served",
        ],
    );
    for s in &g.strategies {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&s.campaign),
            escape(s.strategy),
            ms(s.url_validity_s * 1000),
            s.targeted,
            s.updated,
            s.failed,
            s.unfinished,
            s.refired,
            s.leaks.served
        );
    }
    let _ = writeln!(
        o,
        "</table>\n<p class=\"meta\">artifact cache: peak {} bytes, {} fetches, {} evictions</p>",
        g.cache_peak_bytes, g.cache_fetches, g.cache_evictions
    );
}

fn slowest_devices(o: &mut String, r: &Report) {
    let c = &r.convergence;
    o.push_str("<section>\n<h2>Slowest devices</h2>\n");
    let _ = writeln!(
        o,
        "<p class=\"meta\">{} of {} targeted devices converged; time from assignment to \
         reported success.</p>",
        c.converged, c.targeted
    );
    table_head(o, "slowest", &["#device", "#converged after"]);
    for d in &c.slowest {
        let _ = writeln!(
            o,
            "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            d.device,
            ms(d.converged_after_ms)
        );
    }
    o.push_str("</table>\n");
    if !c.not_converged.is_empty() {
        let list: Vec<String> = c.not_converged.iter().map(u64::to_string).collect();
        let more = if (c.targeted - c.converged) as usize > c.not_converged.len() {
            ", …"
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "<p>Never converged ({}): devices {}{more}</p>",
            c.targeted - c.converged,
            list.join(", ")
        );
    }
    o.push_str("</section>\n");
}

fn violations_table(o: &mut String, r: &Report) {
    o.push_str("<section>\n<h2>Violations</h2>\n");
    let total: u64 = r.invariants.iter().map(|i| i.violations).sum();
    let shown = r.violations.len().min(VIOLATION_ROWS);
    let _ = writeln!(
        o,
        "<p class=\"meta\">{total} in total; the first {shown} below, all {} recorded ones \
         (with trace excerpts) in report.json.</p>",
        r.violations.len()
    );
    table_head(
        o,
        "violations",
        &["ID", "#device", "controller", "#at", "message"],
    );
    for v in r.violations.iter().take(VIOLATION_ROWS) {
        let _ = writeln!(
            o,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td>{}</td>\
             <td class=\"n\">{}</td><td>{}</td></tr>",
            escape(v.id),
            v.device,
            escape(&v.controller_id),
            ms(v.at_ms),
            escape(&v.message)
        );
    }
    o.push_str("</table>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, Selection};
    use crate::scenario::load_str;

    const BROKEN: &str = "
name: html-test
seed: 7
duration: 6h
server: { polling: 1m }
fleet:
  - { kind: always_on, count: 40 }
campaigns:
  - at: 10m
    artifacts: [ { name: fw.bin, size: 256KiB } ]
faults:
  server:
    - { mode: deployment_id_mismatch }
expect:
  violations: [DDI-SM-OFFERED]
";

    fn report() -> Report {
        let s = load_str("html-test.yaml", BROKEN).expect("scenario loads");
        let r = Engine::new(&s, &Selection::default()).run(|_| {});
        super::super::build(
            &s,
            "html-test.yaml",
            &r,
            std::time::Duration::from_millis(5),
        )
    }

    #[test]
    fn escape_covers_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn page_is_self_contained_with_charts_and_tables() {
        let report = report();
        assert!(!report.violations.is_empty(), "the broken server is caught");
        let html = render(&report);
        assert_eq!(html.matches("<svg").count(), 5, "five inline charts");
        assert!(!html.contains("chart unavailable"));
        for table in ["invariants", "slowest", "violations", "latency-table"] {
            assert!(
                html.contains(&format!("<table id=\"{table}\">")),
                "table {table}"
            );
        }
        assert!(html.contains("id=\"campaigns\""));
        assert!(html.contains("DDI-SM-OFFERED"));
        assert!(html.contains("<text"), "chart labels are SVG text");
        assert!(html.contains("Fleet state over time"));
        for external in ["src=", "href=", "url(", "@import", "<script", "<link"] {
            assert!(
                !html.contains(external),
                "no external resources: {external}"
            );
        }
        // The only URLs are XML namespaces, never fetched.
        let urls = html.matches("http://").count() + html.matches("https://").count();
        assert_eq!(urls, html.matches("xmlns=\"http://www.w3.org/").count());
        assert!(html.contains("class=\"verdict pass\""));
        assert_eq!(html, render(&report), "byte-identical for the same report");
    }
}
