//! The edge gateways' part of the summary and the HTML report: the fleet's
//! twin figures (sessions, buffering, twin lag, reconnect sync time, the
//! backend's commands) and the gateways that lagged most.

use std::fmt::Write;

use super::html::{escape, table_head};
use crate::edge::stats::{Quantiles, TwinReport};
use crate::scenario::units::format_duration;
use fleetsim_core::time::Span;

/// Gateways listed in the HTML table (the slowest to sync first).
const LISTED: usize = 20;

fn span(ms: u64) -> String {
    format_duration(Span(ms))
}

fn quantiles(q: &Quantiles) -> String {
    match q.count {
        0 => "none".to_string(),
        n => format!(
            "p50 {}  p99 {}  max {}  ({n})",
            span(q.p50_ms),
            span(q.p99_ms),
            span(q.max_ms)
        ),
    }
}

/// The summary's `twins` block.
pub fn summary(o: &mut String, t: &TwinReport) {
    let _ = writeln!(o);
    let _ = writeln!(o, "  twins (edge gateways, seed 002)");
    let _ = writeln!(
        o,
        "    gateways          {} ({} in sync with their twin at the end)",
        t.gateways, t.synced_at_end
    );
    let _ = writeln!(
        o,
        "    sessions          {}  commands sent {} ({} resent)",
        t.sessions, t.sent, t.resent
    );
    let _ = writeln!(
        o,
        "    offline buffer    {} changes buffered, {} dropped at the bound, {} catch-up resyncs",
        t.buffered, t.dropped, t.resyncs
    );
    let _ = writeln!(o, "    twin lag          {}", quantiles(&t.lag));
    let _ = writeln!(o, "    reconnect sync    {}", quantiles(&t.reconnect_sync));
    let b = &t.backend;
    let _ = writeln!(
        o,
        "    backend           {} commands ({} answered, {} queued for offline gateways, {} timed out, {} failed), {} twin writes",
        b.commands, b.answered, b.accepted, b.timed_out, b.failed, b.twin_writes
    );
}

/// The HTML report's twin section.
pub fn html(o: &mut String, t: &TwinReport) {
    o.push_str("<section id=\"twins\">\n<h2>Edge gateways and their twins</h2>\n");
    let _ = writeln!(
        o,
        "<p>{} gateways, {} in sync at the end; {} sessions; {} changes buffered offline \
         ({} dropped at the bound, {} catch-up resyncs). Twin lag {}; reconnect sync {}.</p>",
        t.gateways,
        t.synced_at_end,
        t.sessions,
        t.buffered,
        t.dropped,
        t.resyncs,
        escape(&quantiles(&t.lag)),
        escape(&quantiles(&t.reconnect_sync))
    );
    table_head(
        o,
        "twins-gateways",
        &[
            "#device",
            "#sessions",
            "#drops",
            "#buffered",
            "#dropped",
            "#sent",
            "#resent",
            "#messages",
            "max twin lag",
            "max reconnect sync",
            "in sync at end",
        ],
    );
    let mut rows: Vec<_> = t.per_gateway.iter().collect();
    rows.sort_by_key(|g| (std::cmp::Reverse(g.max_lag_ms), g.device));
    for g in rows.into_iter().take(LISTED) {
        let _ = writeln!(
            o,
            "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            g.device,
            g.sessions,
            g.drops,
            g.buffered,
            g.dropped,
            g.sent,
            g.resent,
            g.messages,
            span(g.max_lag_ms),
            span(g.max_reconnect_sync_ms),
            if g.synced_at_end { "yes" } else { "no" }
        );
    }
    o.push_str("</table>\n</section>\n");
}
