//! Device traces: a running 64-bit hash per device over a canonical encoding
//! of what it observed ([`Encode`]), the same observations told as sentences
//! for people ([`Describe`]: the TUI, `fleetsim replay`, report excerpts),
//! and a combined digest over all devices in device order.
//!
//! The per-device hash is a fixed function of the event sequence (no
//! `Hash` impls, no pointer values, no map order), so it is identical across
//! runs, machines and shards. The combined digest is SHA-256 over the
//! per-device digests in device-number order.

use sha2::{Digest, Sha256};

mod describe;
mod describe_edge;
mod encode;

pub use describe::{Describe, Told};
pub use encode::{code, Encode, TransportCodes};

/// A running per-device trace hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHash(pub u64);

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash(0x9E37_79B9_7F4A_7C15)
    }
}

impl TraceHash {
    /// The 16-hex-digit form reports store (`device_digests`).
    pub fn to_hex(self) -> String {
        format!("{:016x}", self.0)
    }

    /// Reads [`TraceHash::to_hex`]'s form back.
    pub fn from_hex(text: &str) -> Option<TraceHash> {
        u64::from_str_radix(text, 16).ok().map(TraceHash)
    }

    /// Mixes one word in.
    pub fn word(&mut self, w: u64) {
        let x = (self.0 ^ w).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        self.0 = (x ^ (x >> 31)).wrapping_mul(0x94D0_49BB_1331_11EB) ^ (x >> 29);
    }

    /// Mixes a string in.
    pub fn text(&mut self, s: &str) {
        self.word(xxhash_rust::xxh3::xxh3_64(s.as_bytes()));
    }
}

/// Combines per-device digests, given in device-number order, into the run digest.
pub fn combine<'a>(digests: impl IntoIterator<Item = (u64, &'a TraceHash)>) -> String {
    let mut h = Sha256::new();
    for (device, d) in digests {
        h.update(device.to_le_bytes());
        h.update(d.0.to_le_bytes());
    }
    hex::encode(h.finalize())
}
