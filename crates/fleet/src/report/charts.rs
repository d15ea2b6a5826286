//! The SVG charts of the HTML report (`index.html`), drawn with `plotters`'
//! SVG backend into strings: fleet state over time, update completion,
//! request rate, latency percentiles and violations on the timeline.
//!
//! Everything is computed from the [`Report`] alone, so the same report gives
//! byte-identical charts. Without plotters' `ttf` feature text is written as
//! SVG `<text>` elements and laid out by the browser's own sans-serif font.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::Report;
use fleetsim_core::protocol::ddi::Phase;

/// A chart that could not be drawn; the page shows a placeholder instead.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// Nothing to draw.
    #[error("{chart}: {reason}")]
    NoData {
        /// Which chart.
        chart: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// plotters failed.
    #[error("{chart}: {message}")]
    Draw {
        /// Which chart.
        chart: &'static str,
        /// plotters' error.
        message: String,
    },
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// The series legend, in the same style on every chart.
fn draw_legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 13))
        .draw()?;
    Ok(())
}

const WIDTH: u32 = 960;
const HEIGHT: u32 = 380;
const FONT: &str = "sans-serif";

/// Colour of a fleet phase (also used by the HTML legend and tests).
pub fn phase_color(phase: &str) -> RGBColor {
    match phase {
        "idle" => RGBColor(158, 158, 158),
        "downloading" => RGBColor(66, 133, 244),
        "waiting" => RGBColor(251, 188, 5),
        "installing" => RGBColor(171, 71, 188),
        "updated" => RGBColor(52, 168, 83),
        "failed" => RGBColor(234, 67, 53),
        "canceled" => RGBColor(245, 124, 0),
        _ => RGBColor(96, 96, 96),
    }
}

/// Line colours for series without a fixed colour.
const PALETTE: [RGBColor; 6] = [
    RGBColor(66, 133, 244),
    RGBColor(234, 67, 53),
    RGBColor(251, 188, 5),
    RGBColor(171, 71, 188),
    RGBColor(0, 172, 193),
    RGBColor(121, 85, 72),
];

/// Colour of the request-rate chart.
pub const RATE_COLOR: RGBColor = RGBColor(66, 133, 244);
/// Colour of the completion curve over the whole fleet.
pub const COMPLETION_COLOR: RGBColor = RGBColor(52, 168, 83);
const VIOLATION_COLOR: RGBColor = RGBColor(234, 67, 53);

/// Renders one chart into an SVG string.
fn svg(
    chart: &'static str,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult,
) -> Result<String, ChartError> {
    let mut buf = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .map_err(Into::into)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(Into::into));
        drawn.map_err(|e| e.to_string())
    };
    result.map_err(|message| ChartError::Draw { chart, message })?;
    Ok(buf)
}

/// Time unit for an axis spanning `max_ms`: divisor and name.
fn time_unit(max_ms: u64) -> (f64, &'static str) {
    const DAY: u64 = 86_400_000;
    const HOUR: u64 = 3_600_000;
    if max_ms >= 2 * DAY {
        (DAY as f64, "days")
    } else if max_ms >= 2 * HOUR {
        (HOUR as f64, "hours")
    } else if max_ms >= 120_000 {
        (60_000.0, "minutes")
    } else {
        (1_000.0, "seconds")
    }
}

/// The time axis of a report: end (in units) and the unit.
fn time_axis(report: &Report) -> (f64, f64, &'static str) {
    let last = report.timeline.last().map_or(0, |p| p.at_ms);
    let max_ms = report.duration_ms.max(last).max(1);
    let (div, unit) = time_unit(max_ms);
    (div, max_ms as f64 / div, unit)
}

fn phase_names(report: &Report) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Phase::ALL.iter().map(|p| p.as_str()).collect();
    for p in &report.timeline {
        for k in p.phases.keys() {
            if !names.contains(k) {
                names.push(k);
            }
        }
    }
    names
}

fn legend_box(color: RGBColor) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
}

/// (1) Devices per phase over time, stacked.
pub fn fleet_state(report: &Report) -> Result<String, ChartError> {
    const NAME: &str = "fleet state";
    if report.timeline.is_empty() {
        return Err(ChartError::NoData {
            chart: NAME,
            reason: "no timeline samples",
        });
    }
    let (div, x_max, unit) = time_axis(report);
    let names = phase_names(report);
    let total = |p: &super::TimelinePoint| p.phases.values().sum::<u64>();
    let y_max = report.timeline.iter().map(total).max().unwrap_or(0).max(1) as f64;
    svg(NAME, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Fleet state over time", (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max * 1.02)?;
        chart
            .configure_mesh()
            .x_desc(format!("time ({unit})"))
            .y_desc("devices")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        // Cumulative areas, top phase first, each lower one drawn over it.
        for i in (0..names.len()).rev() {
            let used = report
                .timeline
                .iter()
                .any(|p| p.phases.get(names[i]).copied().unwrap_or(0) > 0);
            if !used {
                continue;
            }
            let color = phase_color(names[i]);
            let points: Vec<(f64, f64)> = report
                .timeline
                .iter()
                .map(|p| {
                    let below: u64 = names[..=i]
                        .iter()
                        .map(|n| p.phases.get(n).copied().unwrap_or(0))
                        .sum();
                    (p.at_ms as f64 / div, below as f64)
                })
                .collect();
            chart
                .draw_series(AreaSeries::new(points, 0.0, color.filled()))?
                .label(names[i])
                .legend(legend_box(color));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}

/// (2) Fraction of the fleet in `updated` over time, and the per-strategy
/// completion curves of the `gateway` section.
pub fn completion(report: &Report) -> Result<String, ChartError> {
    const NAME: &str = "update completion";
    if report.timeline.is_empty() {
        return Err(ChartError::NoData {
            chart: NAME,
            reason: "no timeline samples",
        });
    }
    let (div, x_max, unit) = time_axis(report);
    let fleet: Vec<(f64, f64)> = report
        .timeline
        .iter()
        .map(|p| {
            let total: u64 = p.phases.values().sum();
            let updated = p.phases.get("updated").copied().unwrap_or(0);
            (
                p.at_ms as f64 / div,
                100.0 * updated as f64 / total.max(1) as f64,
            )
        })
        .collect();
    svg(NAME, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Update completion", (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, 0f64..101f64)?;
        chart
            .configure_mesh()
            .x_desc(format!("time ({unit})"))
            .y_desc("% of devices updated")
            .draw()?;
        chart
            .draw_series(LineSeries::new(fleet, COMPLETION_COLOR.stroke_width(3)))?
            .label("whole fleet (state updated)")
            .legend(legend_box(COMPLETION_COLOR));
        if let Some(g) = &report.gateway {
            for (i, s) in g.strategies.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                let points = s
                    .completion
                    .iter()
                    .map(|(at, f)| (*at as f64 / div, 100.0 * f));
                chart
                    .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                    .label(format!("{} ({})", s.campaign, s.strategy))
                    .legend(legend_box(color));
            }
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        Ok(())
    })
}

/// (3) Requests per second between timeline samples.
pub fn request_rate(report: &Report) -> Result<String, ChartError> {
    const NAME: &str = "request rate";
    let (div, x_max, unit) = time_axis(report);
    let mut points = Vec::with_capacity(report.timeline.len());
    let mut prev = 0u64;
    for p in &report.timeline {
        if p.at_ms > prev {
            let rate = p.requests as f64 * 1000.0 / (p.at_ms - prev) as f64;
            points.push((p.at_ms as f64 / div, rate));
        }
        prev = p.at_ms;
    }
    if points.is_empty() {
        return Err(ChartError::NoData {
            chart: NAME,
            reason: "fewer than two timeline samples",
        });
    }
    // Sparse fleets (sleepy devices over months) read better per hour.
    let peak = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let (scale, per) = if peak < 0.1 {
        (3600.0, "h")
    } else {
        (1.0, "s")
    };
    for p in &mut points {
        p.1 *= scale;
    }
    let y_max = if peak > 0.0 { peak * scale * 1.05 } else { 1.0 };
    svg(NAME, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Request rate", (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
        chart
            .configure_mesh()
            .x_desc(format!("time ({unit})"))
            .y_desc(format!("requests / {per} (virtual time)"))
            .draw()?;
        chart.draw_series(
            AreaSeries::new(points, 0.0, RATE_COLOR.mix(0.25).filled())
                .border_style(RATE_COLOR.stroke_width(2)),
        )?;
        Ok(())
    })
}

/// (4) p50/p90/p99/p99.9 latency per request kind, grouped bars.
pub fn latency(report: &Report) -> Result<String, ChartError> {
    const NAME: &str = "latency";
    // Real time: the µs figures in fractional ms; virtual time: virtual ms.
    let real = !report.latency_us.is_empty();
    let (figures, per_ms, y_desc) = match real {
        true => (&report.latency_us, 1000.0, "ms (wall clock)"),
        false => (&report.latency_ms, 1.0, "ms (virtual time)"),
    };
    let kinds: Vec<(&str, [f64; 4])> = figures
        .iter()
        .map(|(k, l)| (*k, [l.p50, l.p90, l.p99, l.p999].map(|v| v as f64 / per_ms)))
        .collect();
    if kinds.is_empty() {
        return Err(ChartError::NoData {
            chart: NAME,
            reason: "no answers measured",
        });
    }
    let y_max = kinds
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0, f64::max)
        .max(if real { 0.001 } else { 1.0 })
        * 1.2;
    let decimals = if real && y_max < 10.0 { 2 } else { 0 };
    const LABELS: [&str; 4] = ["p50", "p90", "p99", "p99.9"];
    svg(NAME, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Latency percentiles per request kind", (FONT, 18))
            .margin(12)
            .x_label_area_size(20)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..kinds.len() as f64, 0f64..y_max)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_label_formatter(&|_| String::new())
            .y_desc(y_desc)
            .y_label_formatter(&|v| format!("{v:.decimals$}"))
            .draw()?;
        for (j, label) in LABELS.iter().enumerate() {
            let color = PALETTE[j % PALETTE.len()];
            let bars = kinds.iter().enumerate().map(|(i, (_, v))| {
                let x0 = i as f64 + 0.1 + 0.2 * j as f64;
                Rectangle::new([(x0, 0.0), (x0 + 0.18, v[j])], color.filled())
            });
            chart
                .draw_series(bars)?
                .label(*label)
                .legend(legend_box(color));
        }
        let names = kinds.iter().enumerate().map(|(i, (k, _))| {
            Text::new(
                k.to_string(),
                (i as f64 + 0.1, y_max * 0.99),
                (FONT, 14).into_font(),
            )
        });
        chart.draw_series(names)?;
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}

/// (5) The recorded violations as markers on the timeline, one row per
/// invariant ID.
pub fn violations(report: &Report) -> Result<String, ChartError> {
    const NAME: &str = "violations";
    let (div, x_max, unit) = time_axis(report);
    let mut ids: Vec<&str> = report
        .invariants
        .iter()
        .filter(|i| i.violations > 0)
        .map(|i| i.id)
        .collect();
    for v in &report.violations {
        if !ids.contains(&v.id) {
            ids.push(v.id);
        }
    }
    let caption = format!(
        "Violations over time ({} recorded in full)",
        report.violations.len()
    );
    svg(NAME, |root| {
        let rows = ids.len().max(1) as i32;
        let mut chart = ChartBuilder::on(root)
            .caption(caption, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(150)
            .build_cartesian_2d(0f64..x_max, -1i32..rows)?;
        chart
            .configure_mesh()
            .x_desc(format!("time ({unit})"))
            .y_labels(ids.len() + 2)
            .y_label_formatter(&|v| {
                usize::try_from(*v)
                    .ok()
                    .and_then(|i| ids.get(i))
                    .map_or(String::new(), |s| s.to_string())
            })
            .draw()?;
        if ids.is_empty() {
            chart.draw_series(std::iter::once(Text::new(
                "no violations recorded",
                (x_max * 0.4, 0),
                (FONT, 16).into_font().color(&COMPLETION_COLOR),
            )))?;
            return Ok(());
        }
        let markers = report.violations.iter().filter_map(|v| {
            let row = ids.iter().position(|id| *id == v.id)?;
            Some(Circle::new(
                (v.at_ms as f64 / div, row as i32),
                5,
                VIOLATION_COLOR.mix(0.6).filled(),
            ))
        });
        chart.draw_series(markers)?;
        Ok(())
    })
}
