//! Event-queue micro-benchmark: `cargo bench --bench queue`.
//!
//! Compares the virtual engine's queue (a hierarchical timing wheel,
//! `fleetsim::engine::queue::Queue`) with the binary heap it replaced (a copy
//! is below) on 1 000 000 timers, in two workloads:
//! - fill and drain: push 1 M timers spread over one virtual day, pop them all;
//! - hold: 1 M timers pending; 1 M times pop the earliest and push a new one
//!   after an engine-like delay (mostly network latencies of 5–500 ms, some
//!   5-minute polls, a few 1-hour windows).
//!
//! Figures are queue operations (a push or a pop) per second, best of
//! `FLEETSIM_BENCH_REPEAT` (default 3) rounds; both queues must pop the same
//! sequence (checked with a running hash). Without `--bench` (as under
//! `cargo test --all-targets`) it runs 10 000 timers once, as a smoke test.
//!
//! Environment: `FLEETSIM_BENCH_TIMERS` (default 1000000).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::Instant;

use fleetsim::engine::queue::{Queue, What};
use fleetsim::time::Time;
use serde_json::json;

/// An event of the reference heap: the former `Event`, field for field.
#[derive(Clone, Copy)]
struct HeapEvent {
    at: Time,
    seq: u64,
    slot: u32,
    #[allow(dead_code)]
    what: What,
}

impl PartialEq for HeapEvent {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for HeapEvent {}
impl PartialOrd for HeapEvent {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for HeapEvent {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The queue before the timing wheel.
#[derive(Default)]
struct HeapQueue {
    heap: BinaryHeap<Reverse<HeapEvent>>,
    seq: u64,
}

/// What both queues offer the workloads.
trait Timers: Default {
    fn push(&mut self, at: Time, slot: u32);
    fn pop_until(&mut self, limit: Time) -> Option<(Time, u32)>;
}

impl Timers for HeapQueue {
    fn push(&mut self, at: Time, slot: u32) {
        self.seq += 1;
        let seq = self.seq;
        let what = What::Wake;
        self.heap.push(Reverse(HeapEvent {
            at,
            seq,
            slot,
            what,
        }));
    }
    fn pop_until(&mut self, limit: Time) -> Option<(Time, u32)> {
        match self.heap.peek() {
            Some(Reverse(e)) if e.at <= limit => self.heap.pop().map(|Reverse(e)| (e.at, e.slot)),
            _ => None,
        }
    }
}

impl Timers for Queue {
    fn push(&mut self, at: Time, slot: u32) {
        Queue::push(self, at, slot, What::Wake);
    }
    fn pop_until(&mut self, limit: Time) -> Option<(Time, u32)> {
        Queue::pop_until(self, limit).map(|e| (e.at, e.slot))
    }
}

/// splitmix64: a fixed, dependency-free stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// An engine-like delay in ms.
    fn delay(&mut self) -> u64 {
        let r = self.next();
        match r % 100 {
            0..=79 => 5 + (r >> 8) % 495,
            80..=97 => 300_000 + (r >> 8) % 1_000,
            _ => 3_600_000 + (r >> 8) % 60_000,
        }
    }
}

const DAY: u64 = 86_400_000;

/// Pushes `n` timers over a day, pops them all; returns (ops, seconds, hash).
fn fill_drain<Q: Timers>(n: u64) -> (u64, f64, u64) {
    let mut rng = Rng(1);
    let mut q = Q::default();
    let mut hash = 0u64;
    let start = Instant::now();
    for i in 0..n {
        q.push(Time(rng.next() % DAY), i as u32);
    }
    while let Some((at, slot)) = q.pop_until(Time(u64::MAX)) {
        hash = hash.rotate_left(5) ^ at.0 ^ u64::from(slot);
    }
    (2 * n, start.elapsed().as_secs_f64(), hash)
}

/// `n` timers pending, `n` times pop one and push one; returns (ops, seconds, hash).
fn hold<Q: Timers>(n: u64) -> (u64, f64, u64) {
    let mut rng = Rng(2);
    let mut q = Q::default();
    for i in 0..n {
        q.push(Time(rng.next() % 300_000), i as u32);
    }
    let mut hash = 0u64;
    let start = Instant::now();
    for _ in 0..n {
        let (at, slot) = q.pop_until(Time(u64::MAX)).expect("a timer is pending");
        hash = hash.rotate_left(5) ^ at.0 ^ u64::from(slot);
        q.push(Time(at.0 + rng.delay()), slot);
    }
    (2 * n, start.elapsed().as_secs_f64(), hash)
}

/// Best ops/s of `rounds` runs, and the hash (equal in every round).
fn best(rounds: u32, run: impl Fn() -> (u64, f64, u64)) -> (f64, u64) {
    let mut rate = 0f64;
    let mut hash = 0;
    for _ in 0..rounds {
        let (ops, secs, h) = run();
        rate = rate.max(ops as f64 / secs);
        hash = h;
    }
    (rate, hash)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .map(|v| v.trim().parse().expect("a whole number"))
            .unwrap_or(default)
    };
    let (n, rounds) = match full {
        true => (
            env("FLEETSIM_BENCH_TIMERS", 1_000_000),
            env("FLEETSIM_BENCH_REPEAT", 3) as u32,
        ),
        false => (10_000, 1),
    };
    println!("event queue, {n} timers, best of {rounds} (ops = pushes + pops)");
    println!(
        "{:<16} {:>14} {:>14} {:>8}",
        "workload", "heap ops/s", "wheel ops/s", "ratio"
    );
    let mut figures = Vec::new();
    type Run = fn(u64) -> (u64, f64, u64);
    let workloads: [(&str, Run, Run); 2] = [
        ("fill-drain", fill_drain::<HeapQueue>, fill_drain::<Queue>),
        ("hold", hold::<HeapQueue>, hold::<Queue>),
    ];
    for (name, heap_run, wheel_run) in workloads {
        let (heap, heap_hash) = best(rounds, || heap_run(n));
        let (wheel, wheel_hash) = best(rounds, || wheel_run(n));
        assert_eq!(
            heap_hash, wheel_hash,
            "{name}: the queues popped differently"
        );
        println!(
            "{name:<16} {heap:>14.0} {wheel:>14.0} {:>7.1}x",
            wheel / heap
        );
        figures.push(json!({"workload": name, "heap_ops_per_s": heap, "wheel_ops_per_s": wheel}));
    }
    println!(
        "{}",
        json!({"bench": "queue", "timers": n, "figures": figures})
    );
}
