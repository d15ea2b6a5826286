//! The gateway side against the embedded twin service
//! ([`crate::server::twin`]): every change the gateway sends, as a Ditto
//! Protocol envelope, is accepted with a 2xx answer, and the service's
//! things end equal to the runtime's mapping (less the `policyId` the
//! service adds).

use proptest::prelude::*;
use serde_json::Value;

use super::super::change::{diff, initial_sync, twin, Change, Twin};
use super::super::envelope::to_envelope;
use super::super::sync::TwinSync;
use super::props::{op, play, run, runtime, step};
use crate::server::twin::{TwinConfig, TwinOutput, TwinService};
use crate::time::Time;

/// Sends the changes; returns the statuses of their responses.
fn send(service: &mut TwinService, changes: &[Change], next: &mut u64) -> Vec<u16> {
    let mut statuses = Vec::new();
    for change in changes {
        *next += 1;
        service.handle_envelope(Time(*next), &to_envelope(change, &format!("c{next}")));
        while let Some(out) = service.poll_output() {
            if let TwinOutput::Response(r) = out {
                statuses.push(r.status.unwrap_or(0));
            }
        }
    }
    statuses
}

fn things(service: &TwinService) -> Twin {
    let strip = |json: &Value| {
        let mut json = json.clone();
        json.as_object_mut().map(|m| m.remove("policyId"));
        json
    };
    service
        .store()
        .iter()
        .map(|(id, thing)| (id.to_string(), strip(&thing.json)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_twin_service_accepts_every_change_and_ends_equal(start in runtime(), ops in prop::collection::vec(op(), 0..16)) {
        let (mut service, mut next) = (TwinService::new(TwinConfig::default()), 0);
        let mut rt = start;
        let statuses = send(&mut service, &initial_sync(&rt), &mut next);
        prop_assert!(statuses.iter().all(|s| *s == 201), "{:?}", statuses);
        prop_assert_eq!(things(&service), twin(&rt));
        for op in &ops {
            let before = rt.clone();
            run(&mut rt, op);
            let changes = diff(&before, &rt);
            let statuses = send(&mut service, &changes, &mut next);
            prop_assert_eq!(statuses.len(), changes.len());
            prop_assert!(statuses.iter().all(|s| (200..300).contains(s)), "{:?} for {:?}", statuses, changes);
            prop_assert_eq!(things(&service), twin(&rt));
        }
    }

    #[test]
    fn twin_sync_over_flapping_links_ends_equal_without_refusals(
        start in runtime(),
        steps in prop::collection::vec(step(), 0..40),
        cap in 1usize..10,
    ) {
        let (mut service, mut next) = (TwinService::new(TwinConfig::default()), 0);
        let (mut rt, mut sync) = (start, TwinSync::new(cap));
        for step in &steps {
            let out = play(&mut rt, &mut sync, step);
            let statuses = send(&mut service, &out, &mut next);
            prop_assert!(statuses.iter().all(|s| (200..300).contains(s)), "{:?} for {:?}", statuses, out);
        }
        if !sync.is_online() {
            let statuses = send(&mut service, &sync.connect(&rt), &mut next);
            prop_assert!(statuses.iter().all(|s| (200..300).contains(s)), "{:?}", statuses);
        }
        prop_assert_eq!(things(&service), twin(&rt));
    }
}
