//! Random streams. One ChaCha8 key per run (from the seed) and one ChaCha
//! *stream* per (device, purpose): ChaCha's 64-bit stream id gives each device
//! an independent sequence, so adding device 1001 changes nothing for devices
//! 1..1000 and a device can be replayed alone.
//!
//! A [`Stream`] draws exactly what `rand_chacha::ChaCha8Rng` seeded the same
//! way draws, but keeps only the seed, the stream id and the word position
//! (24 bytes) instead of a 256-byte block buffer: a fleet holds two or more
//! streams per device, and at 100 000 devices the buffers were a fifth of the
//! engine's memory. ChaCha is seekable, so each draw computes the one 64-byte
//! block that holds its words (ChaCha8, about 50 ns) and keeps nothing of it.

use rand::{Error, RngCore};

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

/// A seekable ChaCha8 stream: the draws of `ChaCha8Rng::seed_from_u64(seed)`
/// with `set_stream(stream)`, word for word, in 24 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    seed: u64,
    stream: u64,
    /// Index of the next 32-bit output word.
    word: u64,
}

/// 32-bit words per ChaCha block.
const BLOCK_WORDS: u64 = 16;

impl Stream {
    /// The stream `stream` of the key `ChaCha8Rng::seed_from_u64(seed)` uses.
    pub fn new(seed: u64, stream: u64) -> Stream {
        Stream {
            seed,
            stream,
            word: 0,
        }
    }

    /// The block holding the next word, and the next word's index in it.
    fn block(&self) -> ([u32; 16], usize) {
        let counter = self.word / BLOCK_WORDS;
        let at = (self.word % BLOCK_WORDS) as usize;
        let id = (self.seed, self.stream, counter);
        let slot = (self.stream ^ counter.rotate_left(7)) as usize % CACHED_BLOCKS;
        BLOCKS.with_borrow_mut(|cache| {
            let entry = &mut cache[slot];
            if entry.0 != Some(id) {
                *entry = (
                    Some(id),
                    chacha8_block(&key_words(self.seed), counter, self.stream),
                );
            }
            (entry.1, at)
        })
    }
}

/// Blocks kept per thread: a device draws a few words at a time (loss, then
/// latency), and each would compute the same block again.
const CACHED_BLOCKS: usize = 4;

type CachedBlock = (Option<(u64, u64, u64)>, [u32; 16]);

thread_local! {
    /// The last blocks computed on this thread, by (seed, stream, counter):
    /// a pure function of those, so the cache changes no draw.
    static BLOCKS: std::cell::RefCell<[CachedBlock; CACHED_BLOCKS]> =
        const { std::cell::RefCell::new([(None, [0; 16]); CACHED_BLOCKS]) };
}

/// The eight key words `ChaCha8Rng::seed_from_u64(seed)` uses: rand_core's
/// PCG32 expansion of the seed (`SeedableRng::seed_from_u64`, a documented,
/// value-stable part of rand_core 0.6).
fn key_words(seed: u64) -> [u32; 8] {
    const MUL: u64 = 6_364_136_223_846_793_005;
    const INC: u64 = 11_634_580_027_462_260_723;
    let mut state = seed;
    let mut key = [0u32; 8];
    for k in &mut key {
        state = state.wrapping_mul(MUL).wrapping_add(INC);
        let xorshifted = (((state >> 18) ^ state) >> 27) as u32;
        *k = xorshifted.rotate_right((state >> 59) as u32);
    }
    key
}

/// One ChaCha8 block (RFC 7539's layout with a 64-bit counter and a 64-bit
/// nonce, as `rand_chacha` uses it).
fn chacha8_block(key: &[u32; 8], counter: u64, nonce: u64) -> [u32; 16] {
    let mut input = [0u32; 16];
    input[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    input[4..12].copy_from_slice(key);
    input[12] = counter as u32;
    input[13] = (counter >> 32) as u32;
    input[14] = nonce as u32;
    input[15] = (nonce >> 32) as u32;
    let mut x = input;
    for _ in 0..4 {
        quarter(&mut x, 0, 4, 8, 12);
        quarter(&mut x, 1, 5, 9, 13);
        quarter(&mut x, 2, 6, 10, 14);
        quarter(&mut x, 3, 7, 11, 15);
        quarter(&mut x, 0, 5, 10, 15);
        quarter(&mut x, 1, 6, 11, 12);
        quarter(&mut x, 2, 7, 8, 13);
        quarter(&mut x, 3, 4, 9, 14);
    }
    for (out, inp) in x.iter_mut().zip(input) {
        *out = out.wrapping_add(inp);
    }
    x
}

#[inline(always)]
fn quarter(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(16);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(12);
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(8);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(7);
}

impl RngCore for Stream {
    fn next_u32(&mut self) -> u32 {
        let (block, i) = self.block();
        self.word += 1;
        block[i]
    }

    fn next_u64(&mut self) -> u64 {
        let (block, i) = self.block();
        if i + 1 < block.len() {
            self.word += 2;
            return (u64::from(block[i + 1]) << 32) | u64::from(block[i]);
        }
        let low = self.next_u32();
        (u64::from(self.next_u32()) << 32) | u64::from(low)
    }

    /// Whole words, as `rand_core`'s block RNG fills: a partial last word
    /// is used up.
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(4) {
            let bytes = self.next_u32().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// The stream for `purpose` of device `device` in a run seeded with `seed`.
pub fn stream(seed: u64, device: u64, purpose: Purpose) -> Stream {
    Stream::new(seed, device.wrapping_mul(4).wrapping_add(purpose as u64))
}

/// The key offset of the activity streams (ASCII "gateway!").
const ACTIVITY_KEY: u64 = 0x6761_7465_7761_7921;

/// The stream of what happens at gateway `device` apart from its link
/// (edge devices changing, joining and leaving; the backend's commands):
/// the device's own stream number under another key, so adding it changed
/// no other stream.
pub fn activity_stream(seed: u64, device: u64) -> Stream {
    stream(seed ^ ACTIVITY_KEY, device, Purpose::Device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn streams_are_independent_and_reproducible() {
        let a1 = stream(42, 1, Purpose::Device).next_u64();
        assert_eq!(a1, stream(42, 1, Purpose::Device).next_u64());
        assert_ne!(a1, stream(42, 2, Purpose::Device).next_u64());
        assert_ne!(a1, stream(42, 1, Purpose::Link).next_u64());
        assert_ne!(a1, stream(43, 1, Purpose::Device).next_u64());
    }

    /// Every kind of draw, across block and buffer boundaries (odd word
    /// positions make `next_u64` straddle them), equals rand_chacha's.
    #[test]
    fn a_stream_draws_what_chacha8rng_draws() {
        for (seed, id) in [(0, 0), (42, 7), (u64::MAX, u64::MAX), (7, 1 << 40)] {
            let mut reference = ChaCha8Rng::seed_from_u64(seed);
            reference.set_stream(id);
            let mut ours = Stream::new(seed, id);
            let mut pick = ChaCha8Rng::seed_from_u64(seed ^ 1);
            for _ in 0..2_000 {
                match pick.gen_range(0..5) {
                    0 => assert_eq!(ours.next_u32(), reference.next_u32()),
                    1 => assert_eq!(ours.next_u64(), reference.next_u64()),
                    2 => assert_eq!(ours.gen::<f64>(), reference.gen::<f64>()),
                    3 => assert_eq!(ours.gen_range(0..1000u64), reference.gen_range(0..1000u64)),
                    _ => {
                        let n = pick.gen_range(0..23);
                        let (mut a, mut b) = (vec![0u8; n], vec![0u8; n]);
                        ours.fill_bytes(&mut a);
                        reference.fill_bytes(&mut b);
                        assert_eq!(a, b);
                    }
                }
            }
            assert_eq!(u128::from(ours.word), reference.get_word_pos());
        }
    }
}
