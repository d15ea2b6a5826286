//! The sidekick's long-living artifact cache (seed 000, option 1).
//!
//! Artifacts are identified by checksum, fetched once from the CDN when the
//! first install command that needs one arrives, and kept while any pending
//! install still needs it: every pending command holds one reference, and the
//! entry goes when the last reference is released. The seed's warning "cache
//! for artifacts could become very big" is why the cache tracks its size and
//! peak, which the report shows over time.

use std::collections::BTreeMap;

use crate::message::ContentId;

/// One cached artifact.
#[derive(Clone, Debug)]
pub struct CacheEntry {
    /// Its content.
    pub content: ContentId,
    /// File name it was fetched as.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Pending install commands that need it.
    pub needed_by: u32,
}

/// Checksum-addressed artifact cache with reference counts.
#[derive(Clone, Debug, Default)]
pub struct ArtifactCache {
    entries: BTreeMap<String, CacheEntry>,
    bytes: u64,
    peak: u64,
    fetches: u64,
    evictions: u64,
}

impl ArtifactCache {
    /// Takes a reference on `sha256`, fetching it first if absent; true
    /// when it had to be fetched (one CDN download by the sidekick).
    pub fn acquire(&mut self, sha256: &str, name: &str, content: ContentId, size: u64) -> bool {
        if let Some(e) = self.entries.get_mut(sha256) {
            e.needed_by += 1;
            return false;
        }
        self.entries.insert(
            sha256.to_string(),
            CacheEntry {
                content,
                name: name.to_string(),
                size,
                needed_by: 1,
            },
        );
        self.bytes += size;
        self.peak = self.peak.max(self.bytes);
        self.fetches += 1;
        true
    }

    /// Drops one reference on `sha256`; the entry is evicted with the last
    /// one. Returns true when it was evicted.
    pub fn release(&mut self, sha256: &str) -> bool {
        let Some(e) = self.entries.get_mut(sha256) else {
            return false;
        };
        e.needed_by = e.needed_by.saturating_sub(1);
        if e.needed_by > 0 {
            return false;
        }
        self.evict(sha256);
        true
    }

    /// Removes `sha256` whatever still needs it; the number of references
    /// it still had (0 for a correct eviction).
    pub fn evict(&mut self, sha256: &str) -> u32 {
        match self.entries.remove(sha256) {
            Some(e) => {
                self.bytes -= e.size;
                self.evictions += 1;
                e.needed_by
            }
            None => 0,
        }
    }

    /// The entry for `sha256`, if cached.
    pub fn get(&self, sha256: &str) -> Option<&CacheEntry> {
        self.entries.get(sha256)
    }

    /// Bytes held now.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Most bytes ever held.
    pub fn peak(&self) -> u64 {
        self.peak
    }

    /// Artifacts fetched from the CDN, and evicted.
    pub fn fetches_and_evictions(&self) -> (u64, u64) {
        (self.fetches, self.evictions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_with_the_last_reference_only() {
        let mut c = ArtifactCache::default();
        assert!(c.acquire("aa", "fw.bin", ContentId(1), 100));
        assert!(!c.acquire("aa", "fw.bin", ContentId(1), 100));
        assert!(c.acquire("bb", "fw2.bin", ContentId(2), 50));
        assert_eq!((c.bytes(), c.peak()), (150, 150));
        assert!(!c.release("aa"));
        assert!(c.get("aa").is_some());
        assert!(c.release("aa"));
        assert!(c.get("aa").is_none());
        assert_eq!((c.bytes(), c.peak()), (50, 150));
        assert_eq!(
            c.evict("bb"),
            1,
            "a forced eviction reports who still needed it"
        );
        assert_eq!(c.fetches_and_evictions(), (2, 2));
        assert!(!c.release("zz"));
    }
}
