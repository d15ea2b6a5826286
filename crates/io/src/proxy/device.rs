//! Which device a proxied request belongs to, and that device's link, window
//! phase and network stream — the same ones a fleetsim run seeded alike
//! gives the device of that number.

use std::net::IpAddr;

use fleetsim_core::connectivity::Link;
use fleetsim_core::time::Span;
use fleetsim_fleet::rng::Stream;
use fleetsim_fleet::rng::{stream, Purpose};
use fleetsim_fleet::setup::Group;

/// Who a request is from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Key {
    /// A DDI controller id matched to a fleet group: (group, device number).
    Device(usize, u64),
    /// Anything else, by client address.
    Client(IpAddr),
}

/// One device's network state in the proxy.
pub(super) struct DeviceNet {
    pub(super) group: usize,
    pub(super) phase: Span,
    pub(super) rng: Stream,
}

/// Device numbers of clients keyed by address start here, past any fleet.
const CLIENT_NUMBERS: u64 = 1 << 48;

/// The key of a request for `path` from `peer`.
pub(super) fn key_of(groups: &[Group], path: &str, peer: IpAddr) -> Key {
    controller_id(path)
        .and_then(|id| device_of(groups, id))
        .map_or(Key::Client(peer), |(g, n)| Key::Device(g, n))
}

/// The controller id of a DDI path `/{tenant}/controller/v1/{id}/…`.
pub(super) fn controller_id(path: &str) -> Option<&str> {
    let mut parts = path.trim_start_matches('/').split('/');
    let (_tenant, controller, v1, id) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (controller == "controller" && v1 == "v1" && !id.is_empty()).then_some(id)
}

/// (group, number) of a controller id named as a fleet device: the longest
/// group prefix it carries, then its number.
///
/// A gateway's DDI controllers (`<serial>`, `<serial>-edge-<k>`) travel
/// over their gateway's link, so they count as the gateway.
fn device_of(groups: &[Group], id: &str) -> Option<(usize, u64)> {
    let id = fleetsim_fleet::gateway_ddi::split_edge_id(id).map_or(id, |(serial, _)| serial);
    let (g, rest) = groups
        .iter()
        .enumerate()
        .filter(|(_, g)| g.companion.is_none())
        .filter_map(|(i, g)| id.strip_prefix(g.prefix.as_str()).map(|rest| (i, rest)))
        .max_by_key(|(i, _)| groups[*i].prefix.len())?;
    let n: u64 = rest.parse().ok()?;
    // A number of another group's range under this prefix still counts as
    // this group's (prefixes may be shared).
    let in_range = groups
        .iter()
        .position(|h| h.prefix == groups[g].prefix && n >= h.first && n < h.first + h.count)
        .filter(|&h| groups[h].companion.is_none());
    Some((in_range.unwrap_or(g), n))
}

impl DeviceNet {
    /// The state of the device `key` names (`seed`: the scenario's).
    pub(super) fn new(groups: &[Group], key: &Key, seed: u64) -> DeviceNet {
        let (group, number) = match key {
            Key::Device(g, n) => (*g, *n),
            Key::Client(ip) => (0, CLIENT_NUMBERS + client_number(ip)),
        };
        let link: &Link = &groups[group].link;
        // The device's link stream draws its window phase first, as in a run.
        let phase = link.draw_phase(&mut stream(seed, number, Purpose::Link));
        DeviceNet {
            group,
            phase,
            rng: stream(seed, number, Purpose::Net),
        }
    }
}

fn client_number(ip: &IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => u64::from(u32::from(*v4)),
        IpAddr::V6(v6) => (u128::from(*v6) as u64) & (CLIENT_NUMBERS - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddi_paths_name_their_device() {
        assert_eq!(
            controller_id("/DEFAULT/controller/v1/sleepy-00031/deploymentBase/1"),
            Some("sleepy-00031")
        );
        assert_eq!(controller_id("/DEFAULT/controller/v1/dev-1"), Some("dev-1"));
        assert_eq!(controller_id("/rest/v1/targets"), None);
        assert_eq!(controller_id("/DEFAULT/controller/v1/"), None);
        let s = fleetsim_fleet::scenario::load_str(
            "t.yaml",
            "name: t\nseed: 1\nduration: 1h\nfleet:\n  - { kind: always_on, count: 3 }\n  - { kind: always_on, id_prefix: always-on-x-, count: 2 }\n",
        )
        .expect("scenario");
        let setup = fleetsim_fleet::setup::Setup::new(&s);
        let peer: IpAddr = [10, 0, 0, 1].into();
        let key = |p: &str| key_of(&setup.groups, p, peer);
        assert_eq!(
            key("/DEFAULT/controller/v1/always-on-00002"),
            Key::Device(0, 2)
        );
        assert_eq!(
            key("/DEFAULT/controller/v1/always-on-x-00004/x"),
            Key::Device(1, 4)
        );
        assert_eq!(key("/DEFAULT/controller/v1/somebody"), Key::Client(peer));
        assert_eq!(key("/"), Key::Client(peer));
    }
}
