//! Network emulation on a real network: carries out the plans of
//! [`fleetsim_core::netem`] in real time — how long to hold a request or an
//! answer, how fast a body may flow, when an online window's end cuts it —
//! for the real-time driver's HTTP client and for `fleetsim proxy`, so both
//! inject the same seeded faults the same way.

use std::time::Duration;

use fleetsim_core::message::NetError;
use fleetsim_core::netem::Plan;
use fleetsim_core::time::{Span, Time};
use tokio::time::Instant;

/// The request header in which the real-time driver sends its scenario
/// time (milliseconds) with each device request. `fleetsim proxy` decides
/// the device's link on that clock when a request has it — the windows are
/// then the device's own, however long before the run the proxy started —
/// and on its own clock when not (any other client), and does not forward it.
pub const CLOCK_HEADER: &str = "x-fleetsim-scenario-ms";

/// The real duration of scenario span `span` when scenario time runs
/// `scale` times faster than real time; [`Duration::MAX`] for a span no
/// `Duration` holds (a time read from the network may be anything).
pub fn real(span: Span, scale: f64) -> Duration {
    let secs = span.as_millis() as f64 / 1000.0 / scale.max(1e-9);
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}

/// The real instant scenario time `t` comes, for a run that started at
/// `started` with time scale `scale`; `None` for [`Time::NEVER`].
pub fn instant_of(started: Instant, t: Time, scale: f64) -> Option<Instant> {
    (t != Time::NEVER).then(|| started + real(Span(t.as_millis()), scale))
}

/// What the transport does to the answer of one exchange, in real time.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// The server did the work; the connection resets before the answer is
    /// read.
    pub drop_answer: bool,
    /// Held this long before the answer starts to flow.
    pub answer_delay: Duration,
    /// Bytes per real second the body may flow at.
    pub rate: f64,
    /// End of the online window: an answer still flowing then is cut.
    pub cut_at: Option<Instant>,
}

impl Shape {
    /// The real-time shape of `plan` at time scale `scale`, the window
    /// ending at the real instant `cut_at`.
    pub fn of(plan: &Plan, scale: f64, cut_at: Option<Instant>) -> Shape {
        Shape {
            drop_answer: plan.drop_answer,
            answer_delay: real(plan.down, scale),
            rate: (plan.bandwidth as f64 * scale).max(1.0),
            cut_at,
        }
    }
}

/// Holds an answer whose headers came back as `shape` says: `Some` when
/// the device never gets it — lost on the way (the server did the work), or
/// the window ended while it was held.
pub async fn hold_answer(shape: &Shape) -> Option<NetError> {
    if shape.drop_answer {
        return Some(NetError::Reset);
    }
    let ready = Instant::now() + shape.answer_delay;
    match shape.cut_at.filter(|cut| *cut <= ready) {
        Some(cut) => {
            tokio::time::sleep_until(cut).await;
            Some(NetError::Reset)
        }
        None => {
            tokio::time::sleep_until(ready).await;
            None
        }
    }
}

/// Whether a paced body may go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// The bytes so far have had their time; go on.
    Go,
    /// The window ended first, after this many bytes.
    Cut(usize),
}

/// Paces one body to a [`Shape`]'s rate and cuts it at the window end.
#[derive(Debug)]
pub struct Pacer {
    start: Instant,
    rate: f64,
    cut_at: Option<Instant>,
    paced: Duration,
}

impl Pacer {
    /// A pacer whose body starts flowing now.
    pub fn new(shape: &Shape) -> Pacer {
        Pacer {
            start: Instant::now(),
            rate: shape.rate,
            cut_at: shape.cut_at,
            paced: Duration::ZERO,
        }
    }

    /// Waits until `total` bytes of the body may have arrived; `Cut(n)`
    /// when the window ends before, `n` bytes having made it.
    pub async fn admit(&mut self, total: usize) -> Pace {
        let due = self.start + Duration::from_secs_f64(total as f64 / self.rate);
        if let Some(cut) = self.cut_at.filter(|cut| due > *cut) {
            tokio::time::sleep_until(cut).await;
            let got =
                (cut.saturating_duration_since(self.start).as_secs_f64() * self.rate) as usize;
            return Pace::Cut(got.min(total));
        }
        let now = Instant::now();
        if due > now {
            self.paced += due - now;
            tokio::time::sleep_until(due).await;
        }
        Pace::Go
    }

    /// Time spent holding the body back so far (a read deadline moves by
    /// as much: the slowness is the link's, not the server's).
    pub fn paced(&self) -> Duration {
        self.paced
    }
}

/// Counts of the faults a run or a proxy injected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetTally {
    /// Requests lost before they reached the server.
    pub requests_dropped: u64,
    /// Answers lost after the server did the work.
    pub answers_dropped: u64,
    /// Scenario milliseconds of latency added (both ways).
    pub delay_ms: u64,
    /// Exchanges an online window's end cut (request or answer in flight).
    pub partition_cuts: u64,
    /// Requests refused because their device was outside its online window
    /// (the proxy; the driver does not send then).
    pub partition_refused: u64,
    /// Exchanges the emulation shaped.
    pub exchanges: u64,
}

impl NetTally {
    /// The report counters, named as in `report.json`.
    pub fn counters(&self) -> [(&'static str, u64); 6] {
        [
            ("net_requests_dropped", self.requests_dropped),
            ("net_answers_dropped", self.answers_dropped),
            ("net_delay_ms_total", self.delay_ms),
            ("net_partition_cuts", self.partition_cuts),
            ("net_partition_refused", self.partition_refused),
            ("net_exchanges", self.exchanges),
        ]
    }

    /// Counts the decided part of `plan` (cuts are counted when they happen).
    pub fn planned(&mut self, plan: &Plan) {
        self.exchanges += 1;
        self.requests_dropped += u64::from(plan.drop_request);
        self.answers_dropped += u64::from(plan.drop_answer && !plan.drop_request);
        let down = if plan.drop_request {
            0
        } else {
            plan.down.as_millis()
        };
        self.delay_ms += plan.up.as_millis() + down;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_paced_body_takes_its_time_and_is_cut_at_the_window_end() {
        let t0 = Instant::now();
        let shape = Shape {
            drop_answer: false,
            answer_delay: Duration::ZERO,
            rate: 100_000.0,
            cut_at: Some(t0 + Duration::from_millis(150)),
        };
        let mut p = Pacer::new(&shape);
        assert_eq!(p.admit(5_000).await, Pace::Go);
        assert_eq!(p.admit(10_000).await, Pace::Go);
        // Lower bounds only: a busy machine may be later, never earlier.
        assert!(Instant::now() - t0 >= Duration::from_millis(100));
        assert!(p.paced() > Duration::ZERO);
        let Pace::Cut(n) = p.admit(40_000).await else {
            panic!("the window ends after 15 000 bytes");
        };
        assert!((14_000..=15_000).contains(&n), "{n}");
        assert!(Instant::now() - t0 >= Duration::from_millis(150));
        assert_eq!(real(Span::secs(10), 100.0), Duration::from_millis(100));
    }
}
