//! Which violations the oracle keeps in full: the first [`MAX_RECORDED`] of
//! the run by time, then device number, then the order the device met them.
//!
//! A run on several threads (or in shards) sees the devices' violations in
//! another interleaving than a run on one; ordering by `(time, device)` keeps
//! the same ones, in the same order, however the fleet was split. Within a
//! device the order is the device's own, which no split changes.

use super::Violation;

/// Violations kept in full; later ones are only counted.
pub(super) const MAX_RECORDED: usize = 200;

fn key(v: &Violation) -> (u64, u64) {
    (v.at_ms, v.device)
}

/// Keeps `v` in `list` (sorted by [`key`], at most [`MAX_RECORDED`] long) if
/// it is among the first; `make` builds it only then.
pub(super) fn keep(
    list: &mut Vec<Violation>,
    at_ms: u64,
    device: u64,
    make: impl FnOnce() -> Violation,
) {
    let k = (at_ms, device);
    if list.len() >= MAX_RECORDED && list.last().is_some_and(|last| key(last) <= k) {
        return;
    }
    // After every equal key: a device's violations keep their order.
    let at = list.partition_point(|v| key(v) <= k);
    list.insert(at, make());
    list.truncate(MAX_RECORDED);
}

/// Adds `other`'s kept violations (another part of the same fleet) to `list`.
pub(super) fn absorb(list: &mut Vec<Violation>, other: Vec<Violation>) {
    for v in other {
        keep(list, v.at_ms, v.device, || v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(at_ms: u64, device: u64, message: &str) -> Violation {
        Violation {
            id: "DDI-X",
            device,
            controller_id: format!("dev-{device}"),
            at_ms,
            message: message.into(),
            excerpt: Vec::new(),
        }
    }

    fn kept(list: &[Violation]) -> Vec<(u64, u64, String)> {
        list.iter()
            .map(|v| (v.at_ms, v.device, v.message.clone()))
            .collect()
    }

    #[test]
    fn the_first_by_time_and_device_are_kept_however_the_fleet_is_split() {
        // Devices 0..6 fire at the same few times, each twice per time.
        let all: Vec<Violation> = (0..150)
            .flat_map(|t| (0..6).flat_map(move |d| [v(t / 3, d, "first"), v(t / 3, d, "second")]))
            .collect();
        let mut whole = Vec::new();
        for x in all.clone() {
            keep(&mut whole, x.at_ms, x.device, || x);
        }
        assert_eq!(whole.len(), MAX_RECORDED);
        // Two parts by device parity, merged into the first.
        let mut parts = [Vec::new(), Vec::new()];
        for x in all {
            let part = &mut parts[(x.device % 2) as usize];
            keep(part, x.at_ms, x.device, || x);
        }
        let [mut even, odd] = parts;
        absorb(&mut even, odd);
        assert_eq!(kept(&even), kept(&whole));
        assert_eq!(whole[0].message, "first");
        assert_eq!(whole[1].message, "second", "a device's own order stays");
        assert!(whole.windows(2).all(|w| key(&w[0]) <= key(&w[1])));
    }

    #[test]
    fn a_later_device_at_the_same_time_gives_way_to_an_earlier_one() {
        let mut list: Vec<Violation> = (0..MAX_RECORDED as u64).map(|d| v(5, d + 1, "x")).collect();
        keep(&mut list, 5, 0, || v(5, 0, "early device"));
        assert_eq!(list[0].message, "early device");
        assert_eq!(list.len(), MAX_RECORDED);
        assert_eq!(list.last().map(|l| l.device), Some(MAX_RECORDED as u64 - 1));
        keep(&mut list, 6, 0, || {
            unreachable!("a later time is not built when full")
        });
    }
}
