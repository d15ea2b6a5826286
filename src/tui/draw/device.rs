//! The device screen: who the followed device is, its connectivity and
//! signed URLs, and its trace (sentences and exchanges, newest last).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::short_time;
use crate::scenario::units::format_duration;
use crate::snapshot::DeviceView;
use crate::time::{Span, Time};
use crate::tui::app::App;

pub(super) fn device(f: &mut Frame, app: &App, area: Rect) {
    let Some(d) = &app.snapshot.device else {
        f.render_widget(
            Paragraph::new(
                "No device selected.\n\nOpen one from the violations list (enter), \
                 step through the fleet with [ and ], or type g and a device number.",
            )
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Device ")),
            area,
        );
        return;
    };
    let url_rows = d.urls.len().min(4) as u16;
    let [info, trace] =
        Layout::vertical([Constraint::Length(7 + url_rows), Constraint::Min(3)]).areas(area);
    let title = format!(" Device {} ", d.number);
    f.render_widget(
        Paragraph::new(info_lines(app, d)).block(Block::bordered().title(title)),
        info,
    );
    trace_pane(f, app, d, trace);
}

/// Who the device is, how it is doing, when it is online, its signed URLs.
fn info_lines(app: &App, d: &DeviceView) -> Vec<Line<'static>> {
    let now = app.now();
    let found = d
        .first_violations
        .iter()
        .map(|(id, at)| format!("{id} at {}", short_time(*at)))
        .collect::<Vec<_>>()
        .join(", ");
    let violations = match d.violations {
        0 => TextSpan::styled("no violations", Style::new().fg(Color::Green)),
        n => TextSpan::styled(
            format!("{n} violations: {found}{}", if n > 3 { ", …" } else { "" }),
            Style::new().fg(Color::Red),
        ),
    };
    let mut lines = vec![
        Line::from(format!(
            "{} · {} · phase {}",
            d.controller_id,
            d.group,
            d.phase.map_or("?", |p| p.as_str()),
        )),
        Line::from(violations),
        Line::from(format!(
            "assigned {} · converged {}",
            d.assigned_at.map_or("-".into(), |t| t.to_string()),
            d.converged_at.map_or("-".into(), |t| t.to_string())
        )),
        Line::from(match &d.windows {
            None => "connectivity: always online".to_string(),
            Some(w) => format!("connectivity: {}", windows_text(w, now)),
        }),
    ];
    if let Some(t) = &d.twin {
        lines.push(Line::from(format!(
            "twin: {} edge devices · session {} · {} buffered ({} dropped) · {} unanswered · {} sessions · {} sent ({} resent) · {} commands applied",
            t.edge_devices,
            if t.ready { "ready" } else { "down" },
            t.buffered,
            t.dropped,
            t.unanswered,
            t.sessions,
            t.sent,
            t.resent,
            t.messages
        )));
    }
    lines.extend([Line::from(if d.urls.is_empty() {
        "signed URLs: none used".to_string()
    } else {
        format!("signed URLs: {} used", d.urls.len())
    })]);
    for u in d.urls.iter().rev().take(4).rev() {
        // Virtual time stands at the cursor, which may be past the last event.
        let now_s = if app.is_virtual() {
            now.as_millis() / 1000
        } else {
            app.snapshot.url_clock_s
        };
        let state = if u.expires_s <= now_s {
            format!(
                "expired {} ago",
                format_duration(Span::secs(now_s - u.expires_s))
            )
        } else {
            format!(
                "valid {} more",
                format_duration(Span::secs(u.expires_s - now_s))
            )
        };
        lines.push(Line::from(format!(
            "  {} used {} · {state}",
            u.path,
            short_time(u.used_at)
        )));
    }
    lines
}

/// The device's trace, following its newest line or scrolled back.
fn trace_pane(f: &mut Frame, app: &App, d: &DeviceView, trace: Rect) {
    let height = trace.height.saturating_sub(2) as usize;
    // The kept lines are the newest; the anchor counts over the whole trace.
    let first_kept = d.trace_total - d.trace.len() as u64;
    let end = match app.scroll {
        None => d.trace.len(),
        Some(anchor) => (anchor.saturating_sub(first_kept) as usize)
            .clamp(height.min(d.trace.len()), d.trace.len()),
    };
    let start = end.saturating_sub(height);
    let shown: Vec<Line> = d.trace[start..end]
        .iter()
        .map(|l| Line::from(trace_line(l)))
        .collect();
    let lines = if d.trace_total > d.trace.len() as u64 {
        format!("last {} of {} lines", d.trace.len(), d.trace_total)
    } else {
        format!("{} lines", d.trace_total)
    };
    let title = match app.scroll {
        None => format!(" Trace · {lines} · following "),
        Some(_) => format!(
            " Trace · {lines} · {} back (f follows) ",
            d.trace.len() - end
        ),
    };
    f.render_widget(
        Paragraph::new(shown).block(Block::bordered().title(title)),
        trace,
    );
}

/// A trace line, coloured by what it is.
fn trace_line(line: &str) -> Vec<TextSpan<'static>> {
    let colour = if line.contains(" → ") {
        Color::Cyan
    } else if line.contains(" ← ") {
        Color::Green
    } else if line.contains(" ✗ ") {
        Color::Red
    } else {
        Color::Reset
    };
    vec![TextSpan::styled(line.to_string(), Style::new().fg(colour))]
}

/// `online T+2h–T+2h2m (now) · T+4h–T+4h2m · …`.
fn windows_text(windows: &[(Time, Time)], now: Time) -> String {
    windows
        .iter()
        .map(|(a, b)| {
            let mark = if *a <= now && now < *b { " (now)" } else { "" };
            format!("{}–{}{mark}", short_time(*a), short_time(*b))
        })
        .collect::<Vec<_>>()
        .join(" · ")
}
