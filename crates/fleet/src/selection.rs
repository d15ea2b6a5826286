//! Which devices a campaign's `targets` select: one pure function of the
//! selector, the campaign's index and the device's identity (group, kind,
//! protocol, number), used by the engine, `serve`'s director, the
//! real-time driver and the snapshot alike, so every driver picks the same
//! devices. Gateways' DDI controllers are selected as their gateway
//! ([`crate::gateway_ddi`]).

use crate::scenario::{DeviceKind, Protocol, Selector};
use crate::setup::Group;

/// Whether campaign `campaign` selects device `number` of group `group`.
/// The fraction test hashes (campaign, device), so it does not depend on
/// fleet size.
///
/// A gateway's DDI controller is selected as its gateway (a `protocol:
/// ditto` device of the gateway's number; an edge device's controller by
/// its gateway and slot, [`edge_key`]), `selector.edge` choosing between
/// the two kinds; the gateway itself (its twin side) never is. Neither
/// depends on the fleet's size, so `serve` and a smaller `run --devices`
/// select the same controllers.
pub fn selects(selector: &Selector, campaign: usize, number: u64, group: &Group) -> bool {
    // A gateway's twin side has no update channel: campaigns reach its controllers.
    if group.protocol == Protocol::Ditto
        || (selector.group.is_some() && selector.group != group.name)
    {
        return false;
    }
    let (number, protocol, edge) = match &group.companion {
        None => (number, group.protocol, false),
        Some(c) => match c.gateway_of(group.first, number) {
            (gateway, None) => (gateway, Protocol::Ditto, false),
            (gateway, Some(slot)) => (edge_key(gateway, slot), Protocol::Ditto, true),
        },
    };
    if selector.edge.is_some_and(|e| e != edge) {
        return false;
    }
    selects_parts(selector, campaign, number, group.kind, protocol)
}

/// The number an edge device's controller is selected by (`every`,
/// `fraction`): its gateway's number × the most edge devices a gateway
/// holds, plus its slot — so `every: 2` takes every second slot of each
/// gateway.
pub fn edge_key(gateway: u64, slot: u64) -> u64 {
    gateway * u64::from(crate::scenario::gateway::MAX_EDGE_DEVICES) + slot
}

/// [`selects`] for a device known only by kind and protocol (a group
/// selector never matches it).
pub fn selects_kind(
    selector: &Selector,
    campaign: usize,
    number: u64,
    kind: DeviceKind,
    protocol: Protocol,
) -> bool {
    selector.group.is_none()
        && selector.edge != Some(true)
        && selects_parts(selector, campaign, number, kind, protocol)
}

/// The selector's tests other than `group`.
fn selects_parts(
    selector: &Selector,
    campaign: usize,
    number: u64,
    kind: DeviceKind,
    protocol: Protocol,
) -> bool {
    if selector.kind.is_some_and(|k| k != kind)
        || selector.protocol.is_some_and(|p| p != protocol)
        || selector
            .every
            .is_some_and(|n| n > 0 && number % u64::from(n) != u64::from(selector.offset))
    {
        return false;
    }
    match selector.fraction {
        None => true,
        Some(f) => {
            let h = xxhash_rust::xxh3::xxh3_64_with_seed(&number.to_le_bytes(), campaign as u64);
            (h as f64 / u64::MAX as f64) < f.0
        }
    }
}
