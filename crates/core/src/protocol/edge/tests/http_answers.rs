//! The edge client taking answers made of a real Ditto's HTTP API v2
//! ([`crate::ditto::http::response_of`]): a 429 with `Retry-After` is
//! retried no sooner than it says.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::sample;
use crate::ditto::http::response_of;
use crate::ditto::protocol::Envelope;
use crate::message::Response;
use crate::protocol::client::Client;
use crate::protocol::edge::client::{ALIAS, START_SEND_MESSAGES_ACK};
use crate::protocol::edge::{EdgeClient, EdgeConfig, EdgeEvent};
use crate::protocol::transport::Transmit;
use crate::time::{Span, Time};

#[test]
fn retry_after_of_a_429_lengthens_the_backoff() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut events = Vec::new();
    let mut c = EdgeClient::new(sample(), EdgeConfig::default());
    let t0 = Time::ZERO;
    c.handle_session(t0, true, &(), &mut rng, &mut events);
    let Some(Transmit::Frame(_start)) = c.poll_transmit(t0, &(), &mut rng, &mut events) else {
        panic!("START-SEND-MESSAGES first");
    };
    c.handle_message(
        t0,
        ALIAS,
        START_SEND_MESSAGES_ACK,
        &(),
        &mut rng,
        &mut events,
    );
    let Some(Transmit::Frame(frame)) = c.poll_transmit(t0, &(), &mut rng, &mut events) else {
        panic!("a first-connect command");
    };
    let cmd = Envelope::parse(frame.as_bytes()).expect("a command");
    let mut busy = Response::status(429);
    busy.headers.insert("retry-after", "120");
    let answer = response_of(&cmd, &busy).to_json();
    c.handle_message(t0, ALIAS, &answer, &(), &mut rng, &mut events);
    let after = events.iter().find_map(|e| match e {
        EdgeEvent::CommandRetry {
            status: 429, after, ..
        } => Some(*after),
        _ => None,
    });
    // The backoff alone would be about 1 s.
    assert!(after.is_some_and(|a| a >= Span::secs(60)), "{after:?}");
    // Capped at the backoff cap (60 s), not the 120 s asked for.
    assert!(after.is_some_and(|a| a <= Span::secs(60)), "{after:?}");
}
