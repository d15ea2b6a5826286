//! The wheel against the binary heap it replaced, which stays here as the
//! reference: same pops, same peeks, same lengths for any sequence of calls.

use super::*;
use proptest::prelude::*;

/// The former queue: a min-heap on `(time, sequence)`.
#[derive(Default)]
struct HeapQueue {
    heap: BinaryHeap<Reverse<Event>>,
    seq: u64,
}

impl HeapQueue {
    fn push(&mut self, at: Time, slot: u32, what: What) {
        self.seq += 1;
        self.heap.push(Reverse(Event {
            at,
            seq: self.seq,
            slot,
            what,
        }));
    }

    fn pop_until(&mut self, limit: Time) -> Option<Event> {
        match self.heap.peek() {
            Some(Reverse(e)) if e.at <= limit => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    fn peek_at(&self) -> Option<Time> {
        self.heap.peek().map(|Reverse(e)| e.at)
    }
}

/// Everything observable of a popped event.
fn seen(e: Option<Event>) -> Option<(u64, u64, u32, What)> {
    e.map(|e| (e.at.0, e.seq, e.slot, e.what))
}

#[test]
fn ties_break_on_scheduling_order() {
    let mut q = Queue::default();
    q.push(Time(5), 9, What::Wake);
    q.push(Time(5), 1, What::Arrive);
    q.push(Time(3), 4, What::Deliver);
    let order: Vec<(u64, u32)> = std::iter::from_fn(|| q.pop_until(Time(10)))
        .map(|e| (e.at.as_millis(), e.slot))
        .collect();
    assert_eq!(order, vec![(3, 4), (5, 9), (5, 1)]);
}

#[test]
fn far_future_past_and_extreme_times() {
    let mut q = Queue::default();
    q.push(Time(u64::MAX), 1, What::Wake);
    q.push(Time(86_400_000), 2, What::Wake);
    q.push(Time(70), 3, What::Wake);
    assert_eq!(q.pop_until(Time(100)).map(|e| e.slot), Some(3));
    // Reaching the far bucket moves the cursor past 100: an event scheduled
    // before it still comes first.
    assert_eq!(q.pop_until(Time(100)).map(|e| e.slot), None);
    q.push(Time(80), 4, What::Wake);
    assert_eq!(q.peek_at(), Some(Time(80)));
    assert_eq!(q.pop_until(Time(u64::MAX)).map(|e| e.slot), Some(4));
    assert_eq!(q.pop_until(Time(u64::MAX)).map(|e| e.slot), Some(2));
    assert_eq!(q.pop_until(Time(u64::MAX)).map(|e| e.slot), Some(1));
    assert!(q.is_empty());
}

#[derive(Clone, Debug)]
enum Op {
    /// Push at the last popped time plus this offset (negative: the past).
    Push(i64, u32),
    /// Push at an absolute time.
    PushAt(u64, u32),
    /// Pop with a limit this far after the last popped time.
    Pop(u64),
    Peek,
}

fn op() -> impl Strategy<Value = Op> {
    let offset = prop_oneof![
        4 => 0i64..4,
        4 => 0i64..200,
        3 => 0i64..100_000,
        1 => 0i64..100_000_000,
        1 => -5_000i64..0,
    ];
    prop_oneof![
        8 => (offset, any::<u32>()).prop_map(|(d, s)| Op::Push(d, s)),
        1 => (any::<u64>(), any::<u32>()).prop_map(|(t, s)| Op::PushAt(t, s)),
        6 => prop_oneof![0u64..2, 0u64..500, 0u64..1_000_000, Just(u64::MAX)].prop_map(Op::Pop),
        1 => Just(Op::Peek),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn same_as_the_binary_heap(ops in prop::collection::vec(op(), 1..400)) {
        let mut wheel = Queue::default();
        let mut heap = HeapQueue::default();
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Push(d, s) => {
                    let at = Time(now.saturating_add_signed(d));
                    wheel.push(at, s, What::Wake);
                    heap.push(at, s, What::Wake);
                }
                Op::PushAt(t, s) => {
                    wheel.push(Time(t), s, What::Leak(s as u16));
                    heap.push(Time(t), s, What::Leak(s as u16));
                }
                Op::Pop(d) => {
                    let limit = Time(now.saturating_add(d));
                    let got = seen(wheel.pop_until(limit));
                    prop_assert_eq!(got, seen(heap.pop_until(limit)));
                    if let Some((at, ..)) = got {
                        now = at;
                    }
                }
                Op::Peek => prop_assert_eq!(wheel.peek_at(), heap.peek_at()),
            }
            prop_assert_eq!(wheel.len(), heap.heap.len());
        }
        loop {
            let got = seen(wheel.pop_until(Time(u64::MAX)));
            prop_assert_eq!(got, seen(heap.pop_until(Time(u64::MAX))));
            if got.is_none() {
                break;
            }
        }
        prop_assert!(wheel.is_empty());
    }
}
