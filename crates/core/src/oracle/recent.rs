//! A device's most recent action ids, inline: the oracle remembers which
//! actions it was offered and which it saw closed without a heap
//! allocation per device.

/// The most recent few action ids of a device, inline (no allocation per
/// device); an action older than the last eight cannot matter again.
#[derive(Default, Debug)]
pub(super) struct Recent {
    ids: [u64; 8],
    len: u8,
    next: u8,
}

impl Recent {
    pub(super) fn contains(&self, id: u64) -> bool {
        self.ids[..self.len as usize].contains(&id)
    }

    pub(super) fn insert(&mut self, id: u64) {
        if self.contains(id) {
            return;
        }
        self.ids[self.next as usize] = id;
        self.next = (self.next + 1) % self.ids.len() as u8;
        self.len = (self.len + 1).min(self.ids.len() as u8);
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
}
