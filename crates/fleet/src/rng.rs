//! Random streams. One ChaCha8 key per run (from the seed) and one ChaCha
//! *stream* per (device, purpose): ChaCha's 64-bit stream id gives each device
//! an independent sequence, so adding device 1001 changes nothing for devices
//! 1..1000 and a device can be replayed alone.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What a stream is used for; each purpose has its own stream per device.
#[derive(Clone, Copy, Debug)]
pub enum Purpose {
    /// The device's own decisions (backoff jitter, install outcome).
    Device = 0,
    /// The device's network link (loss, latency, window phase).
    Link = 1,
    /// The device's generated target token (`auth: target_token`).
    Token = 2,
    /// Real-mode network emulation (`load.emulate_network`, `fleetsim
    /// proxy`): what the link does to each exchange.
    Net = 3,
}

/// The stream for `purpose` of device `device` in a run seeded with `seed`.
pub fn stream(seed: u64, device: u64, purpose: Purpose) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(device.wrapping_mul(4).wrapping_add(purpose as u64));
    rng
}

/// The key offset of the activity streams (ASCII "gateway!").
const ACTIVITY_KEY: u64 = 0x6761_7465_7761_7921;

/// The stream of what happens at gateway `device` apart from its link
/// (edge devices changing, joining and leaving; the backend's commands):
/// the device's own stream number under another key, so adding it changed
/// no other stream.
pub fn activity_stream(seed: u64, device: u64) -> ChaCha8Rng {
    stream(seed ^ ACTIVITY_KEY, device, Purpose::Device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn streams_are_independent_and_reproducible() {
        let a1 = stream(42, 1, Purpose::Device).next_u64();
        assert_eq!(a1, stream(42, 1, Purpose::Device).next_u64());
        assert_ne!(a1, stream(42, 2, Purpose::Device).next_u64());
        assert_ne!(a1, stream(42, 1, Purpose::Link).next_u64());
        assert_ne!(a1, stream(43, 1, Purpose::Device).next_u64());
    }
}
