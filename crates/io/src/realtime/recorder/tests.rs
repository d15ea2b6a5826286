use std::collections::VecDeque;

use fleetsim_core::message::Response;
use fleetsim_core::protocol::ddi::DdiEvent;
use fleetsim_core::protocol::ReqKind;

use super::*;

#[test]
fn a_ring_keeps_the_last_lines_in_exactly_their_room_and_one_value_per_repeated_line() {
    let mut rec = Recorder::new(2);
    let poll = Request::new(Method::Get, "http://h/DEFAULT/controller/v1/dev-1");
    for i in 0..100 {
        rec.request(1, Time(i), &poll);
    }
    let ring = &rec.rings[1];
    assert_eq!(
        (ring.lines.len(), ring.lines.capacity()),
        (KEPT_LINES, KEPT_LINES)
    );
    assert_eq!(ring.values.len(), 1, "one request, said 48 times");
    let lines = rec.lines(1);
    assert!(lines[0].ends_with("→ GET http://h/DEFAULT/controller/v1/dev-1"));
    assert_eq!(
        lines[0],
        format!(
            "{:>14}  → GET http://h/DEFAULT/controller/v1/dev-1",
            Time(52)
        )
    );
    assert!(rec.lines(0).is_empty());
}

/// What a recorder of unbounded lines would tell: the reference the packed
/// ring must match line for line.
#[derive(Default)]
struct Model(VecDeque<String>);

impl Model {
    fn push(&mut self, line: String) {
        if self.0.len() == KEPT_LINES {
            self.0.pop_front();
        }
        self.0.push_back(line);
    }
}

#[test]
fn packed_lines_tell_what_they_were_told_across_wraps_far_jumps_and_compactions() {
    let mut rec = Recorder::new(1);
    let mut model = Model::default();
    let mut at = 1_000u64;
    for i in 0..500u64 {
        // Times go forward, sometimes back a little, and twice very far.
        at = match i {
            100 => at + (1 << 45),
            300 => at - (1 << 44),
            _ if i % 7 == 3 => at - 5,
            _ => at + 300_000 + i,
        };
        let now = Time(at);
        match i % 5 {
            0 => {
                // A new URL every 40 lines: values come and go.
                let req = Request::new(Method::Put, format!("http://h/x/{}", i / 40));
                rec.request(0, now, &req);
                model.push(format!("{now:>14}  → PUT {}", req.url));
            }
            1 => {
                let resp = Response::status(200 + (i % 3) as u16);
                let status = resp.status;
                rec.answer(0, now, &Delivery::Complete(resp));
                model.push(format!("{now:>14}  ← {status} (0 bytes)"));
            }
            2 => {
                rec.answer(0, now, &Delivery::Broken(NetError::Reset, None));
                model.push(format!("{now:>14}  ✗ reset"));
            }
            _ => {
                // Distinct observations (a new status each time) and repeated ones.
                let ev = DdiEvent::Answered {
                    kind: ReqKind::Root,
                    status: if i % 5 == 3 { 200 } else { i as u16 },
                };
                rec.sink(0).observed(now, &ev);
                model.push(Said(now, &ev).to_string());
            }
        }
        assert_eq!(rec.lines(0), Vec::from(model.0.clone()), "after line {i}");
        let ring = &rec.rings[0];
        assert!(ring.values.len() <= 2 * KEPT_LINES + 16, "values bounded");
    }
}

#[test]
fn devices_that_observe_the_same_share_one_copy_and_a_dead_value_is_dropped() {
    let mut rec = Recorder::new(2);
    let ev = DdiEvent::Answered {
        kind: ReqKind::Root,
        status: 200,
    };
    rec.sink(0).observed(Time(1), &ev);
    rec.sink(1).observed(Time(2), &ev);
    let kept = |rec: &Recorder, slot: usize| match &rec.rings[slot].values[0] {
        Value::Observed(kept) => kept.clone(),
        _ => panic!("an observation"),
    };
    assert!(Arc::ptr_eq(&kept(&rec, 0), &kept(&rec, 1)));
    // Once its line has left the ring, a value is dropped before the
    // table would grow.
    rec.request(0, Time(3), &Request::new(Method::Put, "http://h/once"));
    let poll = Request::new(Method::Get, "http://h/poll");
    for i in 0..KEPT_LINES as u64 {
        rec.request(0, Time(4 + i), &poll);
    }
    for status in 300..310 {
        let ev = DdiEvent::Answered {
            kind: ReqKind::Root,
            status,
        };
        rec.sink(0).observed(Time(100), &ev);
    }
    let urls: Vec<_> = rec.rings[0]
        .values
        .iter()
        .filter_map(|v| match v {
            Value::Sent { url, .. } => Some(url.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(urls, ["http://h/poll"]);
}
