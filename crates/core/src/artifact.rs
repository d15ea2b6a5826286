//! Synthetic artifact content and download verification.
//!
//! A campaign's firmware is a deterministic byte stream derived from a
//! [`ContentId`]: byte `i` is a pure function of `(id, i)`. Its hashes are
//! computed once, the first time they are read ([`LazyHashes`]), so a large
//! declared size costs nothing until a device is offered it. In virtual
//! mode a download moves [`Body::Synthetic`] descriptors instead of bytes and the
//! device's [`Verifier`] checks that what it received is exactly `[0, size)` of
//! one content, then compares that content's real hashes with the advertised
//! ones — the same verdict as hashing the bytes, at O(1) cost. Real bytes (the
//! real driver, or small files) are hashed incrementally, across Range resumes.
//!
//! A catalog also holds *uploaded* contents: real bytes given to the
//! Management API (`POST /rest/v1/softwaremodules/{id}/artifacts`). They get
//! a [`ContentId`] from a reserved range ([`UPLOADED_CONTENT_BASE`] and up),
//! are hashed once at upload, and are served as [`Body::Bytes`] — so the rest
//! of the server keeps naming every file's content by one id.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::OnceLock;

use bytes::Bytes;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::message::{Body, ContentId};

/// Hex digests of one artifact.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Hashes {
    /// MD5, lower-case hex.
    pub md5: String,
    /// SHA-1, lower-case hex.
    pub sha1: String,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// Size and hashes of a registered synthetic content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentInfo {
    /// Length in bytes.
    pub size: u64,
    /// Digests of the whole content, computed when first read.
    pub hashes: LazyHashes,
}

/// The [`Hashes`] of a content, computed the first time they are read
/// (through `Deref`) and kept: hashing a synthetic content is a pass over
/// all its bytes, which a run that never offers the content never pays.
/// The values are those of the bytes, whenever they are computed.
#[derive(Clone, Debug)]
pub struct LazyHashes {
    id: ContentId,
    size: u64,
    cell: OnceLock<Hashes>,
}

impl LazyHashes {
    /// The hashes of synthetic content `id` of `size` bytes, not yet computed.
    fn synthetic(id: ContentId, size: u64) -> LazyHashes {
        LazyHashes {
            id,
            size,
            cell: OnceLock::new(),
        }
    }

    /// Hashes already known (of uploaded bytes).
    fn known(hashes: Hashes) -> LazyHashes {
        LazyHashes {
            id: ContentId(0),
            size: 0,
            cell: OnceLock::from(hashes),
        }
    }

    /// True once the hashes have been computed.
    pub fn is_computed(&self) -> bool {
        self.cell.get().is_some()
    }
}

impl Deref for LazyHashes {
    type Target = Hashes;
    fn deref(&self) -> &Hashes {
        self.cell.get_or_init(|| hash_content(self.id, self.size))
    }
}

impl PartialEq for LazyHashes {
    fn eq(&self, other: &LazyHashes) -> bool {
        **self == **other
    }
}

impl Eq for LazyHashes {}

/// First [`ContentId`] of uploaded contents. Synthetic ids come from
/// scenario campaigns (small counters), so the top bit keeps the ranges apart.
pub const UPLOADED_CONTENT_BASE: u64 = 1 << 63;

/// Registry of synthetic and uploaded contents known to a run.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    contents: BTreeMap<ContentId, ContentInfo>,
    /// Bytes of uploaded contents (ids from [`UPLOADED_CONTENT_BASE`]).
    uploads: BTreeMap<ContentId, Bytes>,
    /// Uploads ever registered: the next upload's id (ids are never reused,
    /// even after [`Catalog::remove_upload`]).
    uploads_made: u64,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Catalog {
        Catalog::default()
    }

    /// Registers content `id` of `size` bytes; its hashes are computed
    /// when first read. Idempotent.
    pub fn register(&mut self, id: ContentId, size: u64) -> &ContentInfo {
        self.contents.entry(id).or_insert_with(|| ContentInfo {
            size,
            hashes: LazyHashes::synthetic(id, size),
        })
    }

    /// Computes every registered content's hashes now. A long-lived server
    /// (`serve`) calls it before it listens, so no request hashes a large
    /// artifact while holding the server's lock; virtual runs stay lazy.
    pub fn hash_all(&self) {
        for info in self.contents.values() {
            let _: &Hashes = &info.hashes;
        }
    }

    /// Size and hashes of `id`, if registered.
    pub fn get(&self, id: ContentId) -> Option<&ContentInfo> {
        self.contents.get(&id)
    }

    /// Registers uploaded bytes under a fresh id, hashing them once.
    pub fn register_bytes(&mut self, bytes: Bytes) -> ContentId {
        let id = ContentId(UPLOADED_CONTENT_BASE + self.uploads_made);
        self.uploads_made += 1;
        let info = ContentInfo {
            size: bytes.len() as u64,
            hashes: LazyHashes::known(hash_bytes(&bytes)),
        };
        self.contents.insert(id, info);
        self.uploads.insert(id, bytes);
        id
    }

    /// The content whose SHA-256 is `sha256` (hex, any case).
    pub fn by_sha256(&self, sha256: &str) -> Option<(ContentId, &ContentInfo)> {
        self.contents
            .iter()
            .find(|(_, info)| info.hashes.sha256.eq_ignore_ascii_case(sha256))
            .map(|(id, info)| (*id, info))
    }

    /// The bytes of an uploaded content; `None` for synthetic or unknown ids.
    pub fn bytes(&self, id: ContentId) -> Option<&Bytes> {
        self.uploads.get(&id)
    }

    /// Forgets the uploaded content `id` (its bytes are freed once no
    /// response still shares them); false for synthetic or unknown ids.
    pub fn remove_upload(&mut self, id: ContentId) -> bool {
        if self.uploads.remove(&id).is_none() {
            return false;
        }
        self.contents.remove(&id);
        true
    }

    /// Uploaded contents held, and their bytes in total.
    pub fn uploads_held(&self) -> (usize, u64) {
        let bytes = self.uploads.values().map(|b| b.len() as u64).sum();
        (self.uploads.len(), bytes)
    }
}

/// Fills `buf` with the bytes of content `id` starting at `offset`.
pub fn fill(id: ContentId, offset: u64, buf: &mut [u8]) {
    let mut pos = offset;
    let mut i = 0;
    while i < buf.len() {
        let block = pos / 8;
        let word = xxhash_rust::xxh3::xxh3_64_with_seed(&block.to_le_bytes(), id.0).to_le_bytes();
        let start = (pos % 8) as usize;
        let n = (8 - start).min(buf.len() - i);
        buf[i..i + n].copy_from_slice(&word[start..start + n]);
        i += n;
        pos += n as u64;
    }
}

fn hash_content(id: ContentId, size: u64) -> Hashes {
    let mut hasher = StreamHasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut offset = 0;
    while offset < size {
        let n = (size - offset).min(buf.len() as u64) as usize;
        fill(id, offset, &mut buf[..n]);
        hasher.update(&buf[..n]);
        offset += n as u64;
    }
    hasher.finish()
}

/// MD5 + SHA-1 + SHA-256 computed together over a stream of bytes.
#[derive(Clone)]
struct StreamHasher {
    md5: Md5,
    sha1: Sha1,
    sha256: Sha256,
}

impl StreamHasher {
    fn new() -> StreamHasher {
        StreamHasher {
            md5: Md5::new(),
            sha1: Sha1::new(),
            sha256: Sha256::new(),
        }
    }
    fn update(&mut self, bytes: &[u8]) {
        self.md5.update(bytes);
        self.sha1.update(bytes);
        self.sha256.update(bytes);
    }
    fn finish(self) -> Hashes {
        Hashes {
            md5: hex::encode(self.md5.finalize()),
            sha1: hex::encode(self.sha1.finalize()),
            sha256: hex::encode(self.sha256.finalize()),
        }
    }
}

/// Hashes of `bytes`.
pub fn hash_bytes(bytes: &[u8]) -> Hashes {
    let mut h = StreamHasher::new();
    h.update(bytes);
    h.finish()
}

/// Why a received body could not be appended to a download.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendError {
    /// The body starts somewhere other than where the download stands.
    WrongOffset,
    /// Synthetic and real bytes, or two different contents, were mixed.
    MixedContent,
}

enum VerifierState {
    Empty,
    Synthetic(ContentId),
    Real(Box<StreamHasher>),
    /// Bytes were received that cannot belong to any single content.
    Broken,
}

/// Checks a download received in one or more pieces (Range resumes).
pub struct Verifier {
    received: u64,
    state: VerifierState,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

impl Verifier {
    /// A verifier that has received nothing.
    pub fn new() -> Verifier {
        Verifier {
            received: 0,
            state: VerifierState::Empty,
        }
    }

    /// Bytes received so far; the offset to resume from.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Appends a body received for the byte range starting at `offset`.
    pub fn append(&mut self, offset: u64, body: &Body) -> Result<(), AppendError> {
        if offset != self.received {
            return Err(AppendError::WrongOffset);
        }
        match body {
            Body::Empty => return Ok(()),
            Body::Bytes(bytes) => match &mut self.state {
                VerifierState::Empty => {
                    let mut h = Box::new(StreamHasher::new());
                    h.update(bytes);
                    self.state = VerifierState::Real(h);
                }
                VerifierState::Real(h) => h.update(bytes),
                _ => {
                    self.state = VerifierState::Broken;
                    return Err(AppendError::MixedContent);
                }
            },
            Body::Synthetic {
                content,
                offset: content_offset,
                ..
            } => {
                let fits = *content_offset == self.received;
                match self.state {
                    VerifierState::Empty if fits => self.state = VerifierState::Synthetic(*content),
                    VerifierState::Synthetic(c) if c == *content && fits => {}
                    _ => {
                        self.state = VerifierState::Broken;
                        self.received += body.len();
                        return Err(AppendError::MixedContent);
                    }
                }
            }
            // A multipart answer is not a piece of the file.
            Body::Parts(_) => {
                self.state = VerifierState::Broken;
                self.received += body.len();
                return Err(AppendError::MixedContent);
            }
        }
        self.received += body.len();
        Ok(())
    }

    /// Takes a download answer whose body starts at byte `start`: a body
    /// from byte 0 after bytes were received (a server that ignored Range)
    /// starts the file over; one from another offset, or mixed content,
    /// empties the verifier. True when the body was taken.
    pub fn take_answer(&mut self, start: u64, body: &Body) -> bool {
        if start != self.received {
            *self = Verifier::new();
            if start != 0 {
                return false;
            }
        }
        if self.append(start, body).is_err() {
            *self = Verifier::new();
            return false;
        }
        true
    }

    /// Hashes of everything received, or `None` when the bytes cannot be any
    /// content's (mixed pieces, synthetic content not covered from its start to its end).
    pub fn finish(self, catalog: &Catalog) -> Option<Hashes> {
        match self.state {
            VerifierState::Empty => Some(hash_bytes(&[])),
            VerifierState::Real(h) => Some(h.finish()),
            VerifierState::Synthetic(c) => {
                let info = catalog.get(c)?;
                (info.size == self.received).then(|| Hashes::clone(&info.hashes))
            }
            VerifierState::Broken => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_is_position_independent() {
        let id = ContentId(7);
        let mut whole = vec![0u8; 100];
        fill(id, 0, &mut whole);
        let mut part = vec![0u8; 33];
        fill(id, 41, &mut part);
        assert_eq!(&whole[41..74], &part[..]);
    }

    #[test]
    fn synthetic_resume_verifies_like_real_bytes() {
        let mut catalog = Catalog::new();
        let id = ContentId(99);
        let info = catalog.register(id, 1000).clone();
        let mut bytes = vec![0u8; 1000];
        fill(id, 0, &mut bytes);
        assert_eq!(*info.hashes, hash_bytes(&bytes));

        let mut v = Verifier::new();
        let piece = |offset, len| Body::Synthetic {
            content: id,
            offset,
            len,
        };
        v.append(0, &piece(0, 400)).unwrap();
        assert_eq!(
            v.append(500, &piece(500, 10)),
            Err(AppendError::WrongOffset)
        );
        v.append(400, &piece(400, 600)).unwrap();
        assert_eq!(v.finish(&catalog), Some(Hashes::clone(&info.hashes)));

        let mut real = Verifier::new();
        real.append(0, &Body::Bytes(bytes[..300].to_vec().into()))
            .unwrap();
        real.append(300, &Body::Bytes(bytes[300..].to_vec().into()))
            .unwrap();
        assert_eq!(real.finish(&catalog), Some(Hashes::clone(&info.hashes)));
    }

    #[test]
    fn hashes_are_computed_when_first_read() {
        let mut catalog = Catalog::new();
        // 1000 GiB would take minutes to hash: registering it costs nothing.
        let huge = catalog.register(ContentId(8), 1000 << 30);
        assert_eq!(huge.size, 1000 << 30);
        assert!(!huge.hashes.is_computed());
        let info = catalog.register(ContentId(9), 100).clone();
        assert!(!info.hashes.is_computed());
        let mut bytes = vec![0u8; 100];
        fill(ContentId(9), 0, &mut bytes);
        assert_eq!(info.hashes.sha256, hash_bytes(&bytes).sha256);
        assert!(info.hashes.is_computed());
    }

    #[test]
    fn uploaded_bytes_are_hashed_once_and_kept() {
        let mut catalog = Catalog::new();
        let synthetic = ContentId(3);
        catalog.register(synthetic, 10);
        let data = Bytes::from_static(b"hello uploaded world");
        let id = catalog.register_bytes(data.clone());
        assert!(id.0 >= UPLOADED_CONTENT_BASE);
        assert_eq!(catalog.bytes(id), Some(&data));
        assert_eq!(catalog.bytes(synthetic), None);
        let info = catalog.get(id).expect("registered");
        assert_eq!(info.size, data.len() as u64);
        assert_eq!(*info.hashes, hash_bytes(&data));
        let second = catalog.register_bytes(Bytes::from_static(b"x"));
        assert_ne!(second, id);
    }

    #[test]
    fn short_or_foreign_content_does_not_verify() {
        let mut catalog = Catalog::new();
        catalog.register(ContentId(1), 100);
        catalog.register(ContentId(2), 100);
        let mut short = Verifier::new();
        short
            .append(
                0,
                &Body::Synthetic {
                    content: ContentId(1),
                    offset: 0,
                    len: 60,
                },
            )
            .unwrap();
        assert_eq!(short.finish(&catalog), None);

        let mut mixed = Verifier::new();
        mixed
            .append(
                0,
                &Body::Synthetic {
                    content: ContentId(1),
                    offset: 0,
                    len: 50,
                },
            )
            .unwrap();
        assert!(mixed
            .append(
                50,
                &Body::Synthetic {
                    content: ContentId(2),
                    offset: 50,
                    len: 50
                }
            )
            .is_err());
        assert_eq!(mixed.finish(&catalog), None);
    }
}
