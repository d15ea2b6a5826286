//! Connectivity models: when a device is online, what a message costs in
//! latency, whether it is lost, and how fast bytes flow.
//!
//! A [`Link`] is pure: every random choice takes the caller's RNG, which in
//! virtual mode is the device's own network stream, so a device's link never
//! depends on any other device.

use rand::{Rng, RngCore};

use crate::time::{Span, Time};

/// What a link is like, in this module's terms (a scenario's
/// `connectivity` block converts into one).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkSpec {
    /// Online every `.0` for `.1` (from the device's phase); `None`: always online.
    pub online: Option<(Span, Span)>,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Median one-way latency.
    pub latency_p50: Span,
    /// 99th-percentile one-way latency.
    pub latency_p99: Span,
    /// Bytes per second.
    pub bandwidth: u64,
}

/// One device's network link model (shared by a fleet group; the per-device
/// part is only the window phase).
#[derive(Clone, Debug)]
pub struct Link {
    window: Option<(Span, Span)>,
    loss: f64,
    latency_mu: f64,
    latency_sigma: f64,
    bandwidth: u64,
}

/// z-score of the 99th percentile of the standard normal distribution.
const Z99: f64 = 2.326_347_874;

impl Link {
    /// The model `spec` describes.
    pub fn new(spec: &LinkSpec) -> Link {
        let p50 = spec.latency_p50.as_millis().max(1) as f64;
        let p99 = (spec.latency_p99.as_millis() as f64).max(p50);
        Link {
            window: spec.online,
            loss: spec.loss,
            latency_mu: p50.ln(),
            latency_sigma: (p99.ln() - p50.ln()) / Z99,
            bandwidth: spec.bandwidth.max(1),
        }
    }

    /// `(every, for)` of the online windows; `None` when always online.
    pub fn window(&self) -> Option<(Span, Span)> {
        self.window
    }

    /// A random phase for a device's online windows (windows start at `phase + k*every`).
    pub fn draw_phase(&self, rng: &mut dyn RngCore) -> Span {
        match self.window {
            Some((every, _)) => Span(rng.gen_range(0..every.as_millis().max(1))),
            None => Span::ZERO,
        }
    }

    /// End of the online window containing `now`, `None` when offline.
    /// Always-online links return [`Time::NEVER`].
    pub fn online_until(&self, now: Time, phase: Span) -> Option<Time> {
        let Some((every, len)) = self.window else {
            return Some(Time::NEVER);
        };
        if now.as_millis() < phase.as_millis() {
            return None;
        }
        let since = now.as_millis() - phase.as_millis();
        let start = since - since % every.as_millis();
        let end = phase.as_millis() + start + len.as_millis();
        (now.as_millis() < end).then_some(Time(end))
    }

    /// Start of the next online window at or after `now`.
    pub fn next_online(&self, now: Time, phase: Span) -> Time {
        let Some((every, _)) = self.window else {
            return now;
        };
        if self.online_until(now, phase).is_some() {
            return now;
        }
        if now.as_millis() < phase.as_millis() {
            return Time(phase.as_millis());
        }
        let since = now.as_millis() - phase.as_millis();
        let next = since - since % every.as_millis() + every.as_millis();
        Time(phase.as_millis() + next)
    }

    /// Whether one message is lost.
    pub fn lost(&self, rng: &mut dyn RngCore) -> bool {
        self.loss > 0.0 && rng.gen_bool(self.loss)
    }

    /// One-way latency: log-normal through the configured p50 and p99.
    pub fn latency(&self, rng: &mut dyn RngCore) -> Span {
        if self.latency_sigma <= 0.0 {
            return Span(self.latency_mu.exp().round() as u64);
        }
        // Box–Muller; u1 in (0, 1] keeps ln finite.
        let u1: f64 = 1.0 - rng.gen::<f64>();
        let u2: f64 = rng.gen::<f64>();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let ms = (self.latency_mu + self.latency_sigma * z).exp();
        // Cap the tail so one unlucky draw cannot stall a device for hours.
        Span(ms.min(120_000.0).round() as u64)
    }

    /// Time to move `bytes` over the link.
    pub fn transfer(&self, bytes: u64) -> Span {
        Span(bytes.saturating_mul(1000) / self.bandwidth)
    }

    /// Bytes that move in `span`.
    pub fn bytes_in(&self, span: Span) -> u64 {
        span.as_millis().saturating_mul(self.bandwidth) / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn windowed() -> Link {
        Link::new(&LinkSpec {
            online: Some((Span::hours(12), Span::secs(30))),
            loss: 0.0,
            latency_p50: Span::millis(300),
            latency_p99: Span::secs(4),
            bandwidth: 1000,
        })
    }

    #[test]
    fn windows_repeat_from_the_phase() {
        let l = windowed();
        let phase = Span::hours(1);
        assert_eq!(l.online_until(Time(0), phase), None);
        assert_eq!(l.next_online(Time(0), phase), Time(Span::hours(1).0));
        let open = Time(Span::hours(1).0 + 5_000);
        assert_eq!(
            l.online_until(open, phase),
            Some(Time(Span::hours(1).0 + 30_000))
        );
        let closed = Time(Span::hours(1).0 + 30_000);
        assert_eq!(l.online_until(closed, phase), None);
        assert_eq!(l.next_online(closed, phase), Time(Span::hours(13).0));
    }

    #[test]
    fn latency_percentiles_match_the_model() {
        let l = windowed();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut v: Vec<u64> = (0..20_000)
            .map(|_| l.latency(&mut rng).as_millis())
            .collect();
        v.sort_unstable();
        let p50 = v[10_000] as f64;
        let p99 = v[19_800] as f64;
        assert!((250.0..350.0).contains(&p50), "p50 {p50}");
        assert!((3000.0..5200.0).contains(&p99), "p99 {p99}");
        assert_eq!(l.transfer(2500), Span::millis(2500));
        assert_eq!(l.bytes_in(Span::secs(2)), 2000);
    }
}
