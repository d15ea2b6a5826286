//! A device's most recent action ids: the oracle remembers which actions
//! it was offered and which it saw closed. Most devices see one or two
//! actions in a run, so the first two ids live inline and the ring of eight
//! is allocated only for a device that sees a third.

/// Ids a device keeps; an action older than the last eight cannot matter again.
const KEPT: usize = 8;

/// The most recent few action ids of a device.
#[derive(Default, Debug)]
pub(super) struct Recent {
    ids: Ids,
    len: u8,
    next: u8,
}

/// Where the ids are: inline while there are at most two (then `next ==
/// len`, so ring positions and inline positions agree), else in the ring.
#[derive(Debug)]
enum Ids {
    Inline([u64; 2]),
    Ring(Box<[u64; KEPT]>),
}

impl Default for Ids {
    fn default() -> Ids {
        Ids::Inline([0; 2])
    }
}

impl Recent {
    fn kept(&self) -> &[u64] {
        let ids: &[u64] = match &self.ids {
            Ids::Inline(ids) => ids,
            Ids::Ring(ids) => &ids[..],
        };
        &ids[..self.len as usize]
    }

    pub(super) fn contains(&self, id: u64) -> bool {
        self.kept().contains(&id)
    }

    pub(super) fn insert(&mut self, id: u64) {
        if self.contains(id) {
            return;
        }
        let at = self.next as usize;
        match &mut self.ids {
            Ids::Inline(ids) if at < ids.len() => ids[at] = id,
            Ids::Inline(ids) => {
                let mut ring = Box::new([0; KEPT]);
                ring[..ids.len()].copy_from_slice(ids);
                ring[at] = id;
                self.ids = Ids::Ring(ring);
            }
            Ids::Ring(ring) => ring[at] = id,
        }
        self.next = ((at + 1) % KEPT) as u8;
        self.len = (self.len + 1).min(KEPT as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_ids_keep_the_last_eight() {
        let mut r = Recent::default();
        for id in 1..=10 {
            r.insert(id);
            r.insert(id);
        }
        assert!(!r.contains(1) && !r.contains(2));
        assert!((3..=10).all(|id| r.contains(id)));
    }

    #[test]
    fn two_ids_stay_inline_and_a_third_moves_them_to_the_ring() {
        let mut r = Recent::default();
        assert!(!r.contains(0), "an empty list holds no id, not even 0");
        r.insert(7);
        r.insert(9);
        assert!(matches!(r.ids, Ids::Inline(_)) && r.contains(7) && r.contains(9));
        r.insert(11);
        assert!(matches!(r.ids, Ids::Ring(_)));
        assert!([7, 9, 11].iter().all(|id| r.contains(*id)) && !r.contains(0));
        assert!(std::mem::size_of::<Recent>() <= 32);
    }
}
