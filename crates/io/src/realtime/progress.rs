//! Live progress of a real-time run on the terminal (indicatif): scenario
//! time, devices active / updated / failed, request rate, errors and
//! violations. Silent when disabled (`--quiet`, or stderr is not a terminal).

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use fleetsim_core::protocol::ddi::Phase;
use fleetsim_core::time::{Span, Time};
use fleetsim_fleet::scenario::units::format_duration;
use fleetsim_fleet::stats::Stats;

/// The progress line.
pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Progress {
    /// A progress bar over `end` of scenario time, or a silent one.
    pub fn new(enabled: bool, _devices: u64, end: Time) -> Progress {
        let bar = enabled.then(|| {
            let bar = ProgressBar::new(end.as_millis().max(1));
            let style = ProgressStyle::with_template("{spinner} [{bar:30}] {percent:>3}% {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
        }
    }

    /// Refreshes the line.
    pub fn update(
        &self,
        now: Time,
        phases: &[u64; 7],
        stats: &Stats,
        violations: u64,
        in_flight: u64,
    ) {
        let Some(bar) = &self.bar else { return };
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let errors: u64 = stats.errors.values().sum::<u64>()
            + stats
                .statuses
                .iter()
                .filter(|(s, _)| **s >= 400)
                .map(|(_, n)| *n)
                .sum::<u64>();
        let active = phases[Phase::Downloading as usize]
            + phases[Phase::Installing as usize]
            + phases[Phase::Waiting as usize];
        bar.set_position(now.as_millis());
        bar.set_message(format!(
            "{} | active {} updated {} failed {} | {:.0} req/s, {} in flight | errors {} | violations {}",
            format_duration(Span(now.as_millis() / 1000 * 1000)),
            active,
            phases[Phase::Updated as usize],
            phases[Phase::Failed as usize],
            stats.requests() as f64 / secs,
            in_flight,
            errors,
            violations
        ));
    }

    /// Removes the line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
