//! Property test of the edge client against the twin service: random
//! runtimes, random change sequences, random session flaps (dropping what
//! is on the wire), injected 503s and a small offline buffer, ending with a
//! quiet connected period — then the twin equals the runtime's mapping.

use proptest::prelude::*;

use super::super::client::{EdgeConfig, EdgeEvent};
use super::client_loop::Loop;
use super::props::{op, run, runtime, Op};
use crate::time::Span;

/// What happens in one step of the test.
#[derive(Clone, Debug)]
enum Act {
    /// A runtime change.
    Change(Box<Op>),
    /// Virtual time passes (ticks).
    Wait(u8),
    /// The session drops or comes back.
    Flap,
    /// The service answers the next twin commands 503.
    Unavailable(u8),
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        6 => op().prop_map(|op| Act::Change(Box::new(op))),
        3 => (1..30u8).prop_map(Act::Wait),
        2 => Just(Act::Flap),
        1 => (1..3u8).prop_map(Act::Unavailable),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn after_a_quiet_connected_period_the_twin_equals_the_runtime(
        start in runtime(),
        acts in prop::collection::vec(act(), 0..40),
        capacity in 2..12usize,
        window in 1..8usize,
        seed in any::<u64>(),
    ) {
        let config = EdgeConfig {
            window,
            buffer_capacity: capacity,
            response_timeout: Span::secs(2),
            backoff_base: Span::millis(200),
            backoff_cap: Span::secs(2),
            ..EdgeConfig::default()
        };
        let mut l = Loop::new(start, config, seed);
        l.session(true);
        for act in &acts {
            match act {
                Act::Change(op) => l.change(|rt| run(rt, op)),
                Act::Wait(ticks) => (0..*ticks).for_each(|_| l.tick()),
                Act::Flap => l.session(!l.up),
                Act::Unavailable(n) => l.unavailable += u32::from(*n),
            }
        }
        l.session(true);
        l.settle(Span::secs(120));
        prop_assert!(l.client.is_ready());
        prop_assert_eq!(l.client.unanswered(), 0);
        prop_assert_eq!(l.things(), l.expected());
        prop_assert_eq!(l.client.stats().refused, 0, "{:?}", l.events);
        let last_synced = l.events.iter().rposition(|e| matches!(e, EdgeEvent::TwinSynced { .. }));
        let last_sent = l.events.iter().rposition(|e| matches!(e, EdgeEvent::CommandSent { .. }));
        prop_assert!(last_synced > last_sent, "TwinSynced after the last command");
    }
}
