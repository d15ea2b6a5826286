//! Network emulation for real transports: what a device's [`Link`] does to
//! one HTTP exchange, decided up front so the real-time driver and the
//! `fleetsim proxy` inject the same faults for the same seed.
//!
//! Sans-IO: the caller passes the link, the device's own network stream,
//! scenario time and the window phase; the answer is a plan the transport
//! carries out (drop, delay, throttle, cut). Every exchange draws the same
//! number of values from the stream whatever it decides, so a device's n-th
//! exchange meets the same fate on every run with that seed, however the
//! server answered the ones before.

use rand::RngCore;

use crate::connectivity::Link;
use crate::time::{Span, Time};

/// What the link does to one exchange that may start now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// The device is outside its online window (a scheduled partition):
    /// nothing can be sent until `next_online`.
    Offline {
        /// Start of the next online window.
        next_online: Time,
    },
    /// The exchange may go out, shaped by the plan.
    Send(Plan),
}

/// How one exchange crosses the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The request is lost before it reaches the server: the device sees
    /// its timeout expire (or the window close).
    pub drop_request: bool,
    /// The server gets the request and does the work, but the answer is
    /// lost: the connection resets before the device reads it.
    pub drop_answer: bool,
    /// One-way latency before the request reaches the server.
    pub up: Span,
    /// One-way latency before the answer starts to reach the device.
    pub down: Span,
    /// Bytes per second of scenario time the answer's body flows at.
    pub bandwidth: u64,
    /// End of the online window: an exchange still running then is cut
    /// ([`Time::NEVER`] when always online).
    pub window_end: Time,
}

impl Plan {
    /// The request reaches the server only after the window closed: it is
    /// cut by the partition instead (as the virtual engine does).
    pub fn cut_before_arrival(&self, now: Time) -> bool {
        !self.drop_request && now + self.up >= self.window_end
    }
}

/// The fate of an exchange of a device on `link` (window phase `phase`)
/// starting at scenario time `now`, drawn from the device's stream `rng`.
pub fn decide(link: &Link, phase: Span, now: Time, rng: &mut dyn RngCore) -> Fate {
    let Some(window_end) = link.online_until(now, phase) else {
        return Fate::Offline {
            next_online: link.next_online(now, phase),
        };
    };
    // Always four draws, in this order (see the module comment).
    let drop_request = link.lost(rng);
    let up = link.latency(rng);
    let drop_answer = link.lost(rng);
    let down = link.latency(rng);
    Fate::Send(Plan {
        drop_request,
        drop_answer,
        up,
        down,
        bandwidth: link.bytes_in(Span::secs(1)).max(1),
        window_end,
    })
}

/// Bytes of a body that have arrived `elapsed` after its first byte could
/// (scenario time) at `bandwidth` bytes per second.
pub fn bytes_by(bandwidth: u64, elapsed: Span) -> u64 {
    elapsed.as_millis().saturating_mul(bandwidth) / 1000
}

/// Scenario time `bytes` take at `bandwidth` bytes per second.
pub fn time_for(bandwidth: u64, bytes: u64) -> Span {
    Span(bytes.saturating_mul(1000) / bandwidth.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectivity::LinkSpec;
    use rand::SeedableRng;

    fn link(loss: f64, online: Option<(Span, Span)>) -> Link {
        Link::new(&LinkSpec {
            online,
            loss,
            latency_p50: Span::millis(40),
            latency_p99: Span::millis(400),
            bandwidth: 10_000,
        })
    }

    fn fates(seed: u64, l: &Link, n: usize) -> Vec<Fate> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|i| decide(l, Span::ZERO, Time(i as u64 * 10), &mut rng))
            .collect()
    }

    #[test]
    fn the_same_stream_gives_the_same_faults_in_the_same_order() {
        let l = link(0.2, None);
        let a = fates(7, &l, 500);
        assert_eq!(a, fates(7, &l, 500));
        assert_ne!(a, fates(8, &l, 500));
        let plans: Vec<Plan> = a
            .iter()
            .map(|f| match f {
                Fate::Send(p) => *p,
                Fate::Offline { .. } => panic!("always online"),
            })
            .collect();
        let req = plans.iter().filter(|p| p.drop_request).count();
        let ans = plans.iter().filter(|p| p.drop_answer).count();
        assert!((60..140).contains(&req), "{req} requests dropped of 500");
        assert!((60..140).contains(&ans), "{ans} answers dropped of 500");
        assert!(plans
            .iter()
            .all(|p| p.up.as_millis() >= 1 && p.bandwidth == 10_000));
        assert!(plans.iter().all(|p| p.window_end == Time::NEVER));
    }

    #[test]
    fn windows_partition_the_device_and_cut_late_arrivals() {
        let l = link(0.0, Some((Span::secs(10), Span::secs(2))));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        assert_eq!(
            decide(&l, Span::ZERO, Time(3_000), &mut rng),
            Fate::Offline {
                next_online: Time(10_000)
            }
        );
        let Fate::Send(p) = decide(&l, Span::ZERO, Time(1_999), &mut rng) else {
            panic!("inside the window");
        };
        assert_eq!(p.window_end, Time(2_000));
        assert!(p.cut_before_arrival(Time(1_999)));
        assert_eq!(bytes_by(10_000, Span::millis(250)), 2_500);
        assert_eq!(time_for(10_000, 2_500), Span::millis(250));
    }
}
