//! The DDI controllers of gateway fleets (seed 002's gateways taking part
//! in hawkBit campaigns; ddi.md §2 for the GatewayToken).
//!
//! A `protocol: ditto` group with `gateway.ddi: gateway` gets a second,
//! *companion* group of plain DDI devices, one per gateway, each the
//! gateway's own controller (controller id = the gateway's serial); with
//! `ddi: all` a third, one controller per edge-device slot of each gateway
//! (`<serial>-edge-<k>`), authenticating with the fleet's `GatewayToken`
//! as a gateway does on behalf of the devices behind it. Companion groups
//! are numbered after every scenario group, so no existing device number
//! (and no existing digest) moves; each companion shares its gateway's
//! link model and online windows (its window phase is drawn from the
//! gateway's link stream) and is otherwise an ordinary DDI device of both
//! drivers.
//!
//! The gateway itself (its twin side) is no DDI target. Campaigns select a
//! companion *as its gateway*: the gateway group's
//! name, kind and `protocol: ditto`, the gateway's number for `every` and
//! `fraction` (edge controllers: their own number), and `targets.edge`
//! picks the gateways' or the edge devices' controllers. `serve` identifies
//! a registering controller id the same way ([`identify_controller`]), so a campaign selects the same controllers in
//! virtual and in real time.

use crate::group_auth::GroupAuth;
use crate::scenario::Protocol;
use crate::setup::Group;

/// What a companion group is the controllers of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Companion {
    /// Index of the gateway group.
    pub gateways: usize,
    /// Number of its first gateway.
    pub gateway_first: u64,
    /// `None`: the gateways' own controllers; `Some(n)`: `n` edge-device
    /// slots per gateway.
    pub edge_slots: Option<u64>,
}

impl Companion {
    /// The gateway of companion device `number` (its group's first device
    /// is `first`) and, for an edge controller, its slot.
    pub fn gateway_of(&self, first: u64, number: u64) -> (u64, Option<u64>) {
        let i = number - first;
        match self.edge_slots {
            None => (self.gateway_first + i, None),
            Some(n) => (self.gateway_first + i / n, Some(i % n)),
        }
    }
}

/// Controller id of the edge controller in `slot` of gateway `serial`.
pub fn edge_controller_id(serial: &str, slot: u64) -> String {
    format!("{serial}-edge-{slot}")
}

/// The gateway serial and slot of an edge controller id, if it is one.
pub fn split_edge_id(controller_id: &str) -> Option<(&str, u64)> {
    let (serial, slot) = controller_id.rsplit_once("-edge-")?;
    let canonical = !slot.is_empty() && slot.bytes().all(|b| b.is_ascii_digit());
    let slot = slot.parse().ok().filter(|_| canonical)?;
    (!serial.is_empty()).then_some((serial, slot))
}

/// The companion groups of `groups` (numbered from `first`, after every
/// scenario group): per gateway group with `ddi:` set, its gateways' own
/// controllers, then with `ddi: all` its edge devices' controllers.
pub(crate) fn companion_groups(groups: &[Group], mut first: u64) -> Vec<Group> {
    let mut companions = Vec::new();
    for (gi, g) in groups.iter().enumerate() {
        let Some(spec) = g.gateway.as_ref().filter(|s| s.ddi.gateway()) else {
            continue;
        };
        let mut slots = vec![None];
        if spec.ddi.edge() {
            slots.push(Some(u64::from(spec.edge_devices)));
        }
        for edge_slots in slots {
            let per = edge_slots.unwrap_or(1);
            let companion = Companion {
                gateways: gi,
                gateway_first: g.first,
                edge_slots,
            };
            let group = companion_group(g, companion, first, g.count * per);
            first += group.count;
            companions.push(group);
        }
    }
    companions
}

/// A DDI group of `count` controllers numbered from `first` for gateway group `g`.
fn companion_group(g: &Group, companion: Companion, first: u64, count: u64) -> Group {
    let auth = match companion.edge_slots {
        // The gateway's own controller authenticates as the gateway would.
        None => g.auth.clone(),
        Some(_) => GroupAuth::Fleet,
    };
    Group {
        name: g.name.clone(),
        kind: g.kind,
        prefix: g.prefix.clone(),
        first,
        count,
        link: g.link.clone(),
        protocol: Protocol::Ddi,
        settings: g.settings.clone(),
        otau: g.otau.clone(),
        otau_product: None,
        cpg: g.cpg.clone(),
        twin_base: 0,
        auth,
        tenant: g.tenant.clone(),
        gateway: None,
        companion: Some(companion),
    }
}

/// The companion device number a gateway's controller id names (the
/// gateway's serial, or `<serial>-edge-<k>`), if it is one of `groups`'
/// (for `serve`, which knows controllers by id only).
pub fn identify_controller(groups: &[Group], controller_id: &str) -> Option<u64> {
    let (serial, slot) =
        split_edge_id(controller_id).map_or((controller_id, None), |(s, k)| (s, Some(k)));
    groups.iter().find_map(|g| {
        let c = g.companion.as_ref()?;
        let gateways = &groups[c.gateways];
        let digits = serial.strip_prefix(gateways.prefix.as_str())?;
        let number: u64 = digits.parse().ok()?;
        let canonical = format!("{number:05}") == digits;
        let inside = number >= gateways.first && number - gateways.first < gateways.count;
        let i = number.checked_sub(gateways.first)?;
        let index = match (c.edge_slots, slot) {
            (None, None) => i,
            (Some(n), Some(k)) if k < n => i * n + k,
            _ => return None,
        };
        (canonical && inside).then_some(g.first + index)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_ids_round_trip_and_reject_look_alikes() {
        let id = edge_controller_id("gw-00003", 7);
        assert_eq!(id, "gw-00003-edge-7");
        assert_eq!(split_edge_id(&id), Some(("gw-00003", 7)));
        for bad in [
            "gw-00003-edge-",
            "gw-00003-edge-x",
            "-edge-1",
            "gw-00003",
            "gw-edge-+1",
        ] {
            assert_eq!(split_edge_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_companion_maps_numbers_to_gateways_and_slots() {
        let own = Companion {
            gateways: 0,
            gateway_first: 10,
            edge_slots: None,
        };
        assert_eq!(own.gateway_of(100, 103), (13, None));
        let edge = Companion {
            edge_slots: Some(4),
            ..own
        };
        assert_eq!(edge.gateway_of(200, 200), (10, Some(0)));
        assert_eq!(edge.gateway_of(200, 207), (11, Some(3)));
    }
}
