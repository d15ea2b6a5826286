//! Drawing: one function per screen, each reading only the [`App`] and its
//! [`Snapshot`]. Nothing here changes state, so
//! the screens are tested by rendering into ratatui's `TestBackend`.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::{
    Axis, Block, Chart, Clear, Dataset, Gauge, GraphType, Paragraph, Row, Sparkline, Table,
    TableState, Tabs, Wrap,
};
use ratatui::Frame;

use super::app::{App, Screen, KEYS};

mod device;
use crate::protocol::ddi::Phase;
use crate::scenario::units::format_duration;
use crate::snapshot::Snapshot;
use crate::time::{Span, Time};
use device::device;

/// Colour of each phase, in [`Phase::ALL`] order.
const PHASE_COLOURS: [Color; 7] = [
    Color::Gray,
    Color::Cyan,
    Color::Blue,
    Color::Magenta,
    Color::Green,
    Color::Red,
    Color::Yellow,
];

/// Draws the whole UI.
pub fn draw(f: &mut Frame, app: &App) {
    let [header, tabs, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(5),
        Constraint::Length(1),
    ])
    .areas(f.area());
    f.render_widget(Paragraph::new(status_line(app)), header);
    let titles: Vec<&str> = Screen::ALL.iter().map(|s| s.title()).collect();
    let selected = Screen::ALL.iter().position(|s| *s == app.screen);
    f.render_widget(
        Tabs::new(titles)
            .select(selected)
            .highlight_style(Style::new().add_modifier(Modifier::REVERSED)),
        tabs,
    );
    match app.screen {
        Screen::Overview => overview(f, app, body),
        Screen::Violations => violations(f, app, body),
        Screen::Device => device(f, app, body),
        Screen::Scenario => scenario(f, app, body),
    }
    f.render_widget(Paragraph::new(footer_line(app)), footer);
    if app.help {
        help(f, app);
    }
}

fn status_line(app: &App) -> Line<'static> {
    let s = &app.snapshot;
    let now = app.now();
    let percent = if s.end.as_millis() > 0 {
        now.as_millis() * 100 / s.end.as_millis()
    } else {
        0
    };
    let mut parts = vec![
        TextSpan::styled(" fleetsim ", Style::new().add_modifier(Modifier::BOLD)),
        TextSpan::raw(format!("{} · ", app.file)),
    ];
    match app.seed() {
        Some(seed) => parts.push(TextSpan::raw(format!("virtual · seed {seed} · "))),
        None => parts.push(TextSpan::raw("real time · ")),
    }
    parts.push(TextSpan::raw(format!(
        "{} / {} ({percent}%) · ",
        short_time(now),
        format_duration(Span(s.end.as_millis()))
    )));
    let state = if s.finished {
        "■ finished".to_string()
    } else if !app.is_virtual() {
        "▶ live".to_string()
    } else if app.seeking {
        "▶▶ seeking a violation".to_string()
    } else if app.paused {
        "⏸ paused".to_string()
    } else {
        format!(
            "▶ {}{}",
            speed_label(app.speed()),
            if app.behind { " (behind)" } else { "" }
        )
    };
    parts.push(TextSpan::styled(
        state,
        Style::new().add_modifier(Modifier::BOLD),
    ));
    let style = if s.violations_total > 0 {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::Green)
    };
    parts.push(TextSpan::raw(" · "));
    parts.push(TextSpan::styled(
        format!("{} violations", s.violations_total),
        style,
    ));
    Line::from(parts)
}

/// `1×`, `600×`, `max`.
pub fn speed_label(speed: Option<u64>) -> String {
    match speed {
        Some(s) => format!("{s}×"),
        None => "max".into(),
    }
}

/// Scenario time rounded to the second: `T+1d2h3m4s`.
pub(super) fn short_time(t: Time) -> String {
    format!("T+{}", format_duration(Span(t.as_millis() / 1000 * 1000)))
}

fn footer_line(app: &App) -> Line<'static> {
    if let Some(input) = &app.input {
        return Line::from(format!(
            " go to device: {input}▏ (enter to open, esc to cancel)"
        ));
    }
    if let Some(m) = &app.message {
        return Line::from(format!(" {m}"));
    }
    let hint = if app.is_virtual() {
        " space pause · . s m step · +/- speed · v next violation · n new seed · 1-4 screens · ? help · q quit"
    } else {
        " 1-4 screens · enter open device · [ ] g device · ? help · q quit"
    };
    Line::styled(hint, Style::new().fg(Color::DarkGray))
}

fn overview(f: &mut Frame, app: &App, area: Rect) {
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(area);
    fleet_chart(f, &app.snapshot, left);
    let campaigns = app.snapshot.campaigns.len().clamp(1, 6) as u16 * 2 + 2;
    let [gauges, rate, errors] = Layout::vertical([
        Constraint::Length(campaigns),
        Constraint::Length(6),
        Constraint::Min(4),
    ])
    .areas(right);
    campaign_gauges(f, &app.snapshot, gauges);
    request_rate(f, app, rate);
    error_table(f, &app.snapshot, errors);
}

fn fleet_chart(f: &mut Frame, s: &Snapshot, area: Rect) {
    let series: Vec<Vec<(f64, f64)>> = (0..Phase::ALL.len())
        .map(|p| {
            s.timeline
                .iter()
                .map(|x| (x.at.as_millis() as f64 / 3_600_000.0, x.phases[p] as f64))
                .collect()
        })
        .collect();
    let shown = |i: usize| s.timeline.iter().any(|x| x.phases[i] > 0) || s.phases[i] > 0;
    let datasets: Vec<Dataset> = series
        .iter()
        .enumerate()
        .filter(|(i, _)| shown(*i))
        .map(|(i, data)| {
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(PHASE_COLOURS[i]))
                .data(data)
        })
        .collect();
    // The legend is a line above the chart, so it never hides a curve.
    let legend: Vec<TextSpan> = Phase::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| shown(*i))
        .flat_map(|(i, phase)| {
            [
                // Non-breaking spaces keep each entry on one line.
                TextSpan::styled("■\u{a0}", Style::new().fg(PHASE_COLOURS[i])),
                TextSpan::raw(format!("{}\u{a0}{}  ", phase.as_str(), s.phases[i])),
            ]
        })
        .collect();
    let block = Block::bordered().title(format!(" Fleet state · {} devices ", s.devices));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let legend = Line::from(legend);
    let rows = if legend.width() > inner.width as usize {
        2
    } else {
        1
    };
    let [legend_area, chart_area] =
        Layout::vertical([Constraint::Length(rows), Constraint::Min(3)]).areas(inner);
    f.render_widget(
        Paragraph::new(legend).wrap(Wrap { trim: true }),
        legend_area,
    );
    // The chart spans the run so far: it widens as time goes on.
    let hours = (s.now.as_millis() as f64 / 3_600_000.0).max(1.0 / 60.0);
    let top = (s.devices as f64).max(1.0);
    let chart = Chart::new(datasets)
        .x_axis(Axis::default().bounds([0.0, hours]).labels([
            "0".to_string(),
            format_duration(Span((hours * 1_800_000.0) as u64 / 1000 * 1000)),
            format_duration(Span((hours * 3_600_000.0) as u64 / 1000 * 1000)),
        ]))
        .y_axis(
            Axis::default()
                .bounds([0.0, top])
                .labels(["0".to_string(), format!("{}", s.devices)]),
        );
    f.render_widget(chart, chart_area);
}

fn campaign_gauges(f: &mut Frame, s: &Snapshot, area: Rect) {
    let block = Block::bordered().title(" Campaigns ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    if s.campaigns.is_empty() {
        f.render_widget(Paragraph::new("no campaigns"), inner);
        return;
    }
    let rows = Layout::vertical(vec![Constraint::Length(2); s.campaigns.len().min(6)]).split(inner);
    for (c, row) in s.campaigns.iter().zip(rows.iter()) {
        let [label, bar] =
            Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(*row);
        let text = if c.started {
            let moved = if c.moved_on > 0 {
                format!(" · {} to a later campaign", c.moved_on)
            } else {
                String::new()
            };
            format!(
                "{} · {}/{} updated · {} failed{moved}",
                c.name, c.updated, c.targeted, c.failed
            )
        } else {
            format!("{} · starts {} · {} devices", c.name, c.at, c.targeted)
        };
        f.render_widget(Paragraph::new(text), label);
        let ratio = if c.targeted == 0 {
            0.0
        } else {
            c.updated as f64 / c.targeted as f64
        };
        f.render_widget(
            Gauge::default()
                .ratio(ratio.clamp(0.0, 1.0))
                .gauge_style(Style::new().fg(Color::Green).bg(Color::Black)),
            bar,
        );
    }
}

fn request_rate(f: &mut Frame, app: &App, area: Rect) {
    let s = &app.snapshot;
    // Real time: the wall-clock latency in the unit that fits (µs … s).
    let latency = s.latency_us.map_or(String::new(), |[p50, p99, max]| {
        use crate::report::format_us;
        format!(
            "· p50 {} p99 {} max {} ",
            format_us(p50),
            format_us(p99),
            format_us(max)
        )
    });
    let events = s
        .server_events
        .map_or(String::new(), |n| format!("· server events {n} "));
    let block = Block::bordered().title(format!(
        " Requests · {} · {:.1}/s {latency}{events}",
        s.requests,
        s.request_rate()
    ));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = inner.width as usize;
    let data: Vec<u64> = s
        .timeline
        .iter()
        .rev()
        .take(width)
        .rev()
        .map(|x| x.requests)
        .collect();
    f.render_widget(
        Sparkline::default()
            .data(&data)
            .style(Style::new().fg(Color::Cyan)),
        inner,
    );
}

fn error_table(f: &mut Frame, s: &Snapshot, area: Rect) {
    let mut rows: Vec<Row> = s
        .error_statuses
        .iter()
        .map(|(code, n)| Row::new(vec![format!("HTTP {code}"), n.to_string()]))
        .collect();
    rows.extend(
        s.net_errors
            .iter()
            .map(|(e, n)| Row::new(vec![e.clone(), n.to_string()])),
    );
    // Real time: what the run itself injected, apart from what went wrong.
    rows.extend(s.injected.iter().map(|(what, n)| {
        Row::new(vec![format!("injected: {what}"), n.to_string()])
            .style(Style::new().fg(Color::DarkGray))
    }));
    if rows.is_empty() {
        rows.push(Row::new(vec!["none".to_string(), String::new()]));
    }
    let table = Table::new(rows, [Constraint::Min(12), Constraint::Length(10)])
        .block(Block::bordered().title(format!(" Errors · {} ", s.errors())));
    f.render_widget(table, area);
}

fn violations(f: &mut Frame, app: &App, area: Rect) {
    let s = &app.snapshot;
    let [list, detail] = Layout::vertical([Constraint::Min(5), Constraint::Length(5)]).areas(area);
    let rows: Vec<Row> = s
        .violations
        .iter()
        .map(|v| {
            Row::new(vec![
                v.id.to_string(),
                v.device.to_string(),
                short_time(v.at),
                v.message.clone(),
            ])
        })
        .collect();
    let shown = if s.violations_total > s.violations.len() as u64 {
        format!(
            " Violations · {} (first {} kept) ",
            s.violations_total,
            s.violations.len()
        )
    } else {
        format!(" Violations · {} ", s.violations_total)
    };
    let table = Table::new(
        rows,
        [
            Constraint::Length(16),
            Constraint::Length(8),
            Constraint::Length(14),
            Constraint::Min(20),
        ],
    )
    .header(
        Row::new(vec!["ID", "device", "time", "what"])
            .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
    .block(Block::bordered().title(shown));
    let mut state = TableState::default().with_selected(
        (!s.violations.is_empty()).then(|| app.selected.min(s.violations.len() - 1)),
    );
    f.render_stateful_widget(table, list, &mut state);
    let text = match s.violations.get(app.selected) {
        Some(v) => format!(
            "{} on device {} at {}: {}\nenter: open the device",
            v.id, v.device, v.at, v.message
        ),
        None if app.is_virtual() => "none so far · v runs to the next one".to_string(),
        None => "none so far".to_string(),
    };
    f.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Selected ")),
        detail,
    );
}

fn scenario(f: &mut Frame, app: &App, area: Rect) {
    let s = &app.snapshot;
    let sc = &app.scenario;
    let mut lines = vec![
        Line::from(format!("file      {}", app.file)),
        Line::from(format!("name      {}", sc.name)),
        Line::from(match app.seed() {
            Some(seed) => format!(
                "seed      {seed}   (fleetsim run {} --seed {seed})",
                app.file
            ),
            None => format!("target    {}", app.target().unwrap_or_default()),
        }),
        Line::from(format!(
            "duration  {} · now {}",
            format_duration(sc.duration.0),
            app.now()
        )),
        Line::from(format!(
            "events    {} · {:.0}/s",
            s.events, app.events_per_sec
        )),
        Line::from(format!("digest    {}", s.digest)),
        Line::from(""),
        Line::from(format!("fleet     {} devices", s.devices)),
    ];
    for g in &sc.fleet {
        let link = match (g.connectivity.online_every, g.connectivity.online_for) {
            (Some(every), Some(on)) => format!(
                "online {} every {}",
                format_duration(on.0),
                format_duration(every.0)
            ),
            _ => "always online".into(),
        };
        lines.push(Line::from(format!(
            "  {:>6} × {} {} ({}) · {link}",
            g.count,
            g.kind.as_str(),
            g.protocol.as_str(),
            g.name.as_deref().unwrap_or("unnamed"),
        )));
    }
    lines.push(Line::from(""));
    if sc.campaigns.external {
        lines.push(Line::from(
            "campaigns external (run on the server by its operator)",
        ));
    } else {
        lines.push(Line::from(format!("campaigns {}", sc.campaigns.list.len())));
    }
    for (i, c) in sc.campaigns.list.iter().enumerate() {
        lines.push(Line::from(format!(
            "  {} at {} · version {} · {} artifact(s)",
            c.name
                .clone()
                .unwrap_or_else(|| format!("campaign {}", i + 1)),
            format_duration(c.at.0),
            c.version,
            c.artifacts.len()
        )));
    }
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Scenario ")),
        area,
    );
}

fn help(f: &mut Frame, app: &App) {
    let keys: Vec<_> = KEYS
        .iter()
        .filter(|k| app.is_virtual() || !k.virtual_only)
        .collect();
    let area = centered(f.area(), 64, keys.len() as u16 + 4);
    let mut lines: Vec<Line> = keys
        .iter()
        .map(|k| Line::from(format!(" {:<10} {}", k.keys, k.what)))
        .collect();
    if !app.is_virtual() {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            " real time: pause, steps, speed and restarts are virtual-only",
            Style::new().fg(Color::DarkGray),
        ));
    }
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Keys · esc closes ")),
        area,
    );
}

/// A `width`×`height` rectangle in the middle of `area` (clipped to it).
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}
