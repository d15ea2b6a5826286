//! Holding OTAU long polls: a request [`route`](super::otau::route) answers
//! `Hold` waits, without a thread or the state lock, on its device's
//! [`Notify`](tokio::sync::Notify), on the scenario time `until` mapped to
//! real time, or on shutdown (answered 304), then asks the core again.

use std::time::Duration;

use super::endpoint::Endpoint;
use super::otau::{Routed, Wake};
use fleetsim_core::message::{Request, Response};
use fleetsim_core::time::Time;

/// Longest single sleep of a held poll; it re-checks and sleeps again, so a
/// slow time scale cannot park a timer beyond what a `Duration` holds.
const MAX_SLEEP: Duration = Duration::from_secs(300);
/// Answers an OTAU request, holding a long poll open until it is answered.
pub(super) async fn answer(ep: &Endpoint, req: &Request) -> Option<Response> {
    let shared = &ep.shared;
    let routed = {
        let mut state = shared.lock();
        let now = shared.clock().now();
        let routed = state.handle_otau(now, req, shared.waiters().held());
        if state.take_otau_written() {
            shared.waiters().wake(Wake::All);
        }
        routed?
    };
    match routed {
        Routed::Reply(resp, wake) => {
            shared.waiters().wake(wake);
            Some(resp)
        }
        Routed::Hold { device, until } => Some(hold(ep, req, device, until).await),
    }
}

/// Holds the long poll `req` of `device` until the core answers it.
async fn hold(ep: &Endpoint, req: &Request, device: u64, until: Time) -> Response {
    let shared = &ep.shared;
    let waiting = shared.waiters().enter(device);
    let mut stopped = ep.stopped.clone();
    let mut timed_out = false;
    loop {
        // Enabled before the state is read, so a publish after the read wakes it.
        let notified = waiting.notify().notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut state = shared.lock();
            // Woken for `until`: float rounding must not put `now` a hair before it.
            let now = match timed_out {
                true => shared.clock().now().max(until),
                false => shared.clock().now(),
            };
            if let Some(resp) = state.otau_poll(now, req, until) {
                return resp;
            }
        }
        let cap = tokio::time::Instant::now() + MAX_SLEEP;
        let (deadline, is_until) = match shared.clock().instant_of(until) {
            Some(at) if tokio::time::Instant::from(at) <= cap => (at.into(), true),
            _ => (cap, false),
        };
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep_until(deadline) => timed_out = is_until,
            () = super::stop_requested(&mut stopped) => return Response::status(304),
        }
    }
}
