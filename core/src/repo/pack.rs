//! Packs: many sealed blobs followed by a sealed header that lists them, then the header's
//! length. Packs are named by the BLAKE3 hash of their bytes.
//!
//! ```text
//! blob_0 || blob_1 || … || sealed_header || header_len (u32 LE)
//! header plaintext: "CVPH" || version u8 (1) || count u32 LE || count × entry
//! entry: kind u8 || id [32] || offset u32 LE || length u32 LE || raw_length u32 LE
//! ```

use super::blob::BlobKind;
use super::crypto::Cipher;
use super::id::Id;
use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"CVPH";
const AAD: &[u8] = b"chatvault:pack-header";
/// Bytes of one header or index entry.
pub const ENTRY_LEN: usize = 1 + 32 + 4 + 4 + 4;

/// Where a blob sits inside its pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackEntry {
    /// Blob kind.
    pub kind: BlobKind,
    /// Blob id.
    pub id: Id,
    /// Offset of the sealed blob in the pack.
    pub offset: u32,
    /// Length of the sealed blob.
    pub length: u32,
    /// Length of the blob's plaintext (after decompression).
    pub raw_length: u32,
}

impl PackEntry {
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.push(self.kind as u8);
        out.extend_from_slice(&self.id.0);
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.length.to_le_bytes());
        out.extend_from_slice(&self.raw_length.to_le_bytes());
    }

    pub(crate) fn read(b: &[u8]) -> Option<PackEntry> {
        if b.len() < ENTRY_LEN {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(PackEntry {
            kind: BlobKind::from_u8(b[0])?,
            id: Id(b[1..33].try_into().ok()?),
            offset: u32_at(33),
            length: u32_at(37),
            raw_length: u32_at(41),
        })
    }
}

/// Accumulates sealed blobs into one pack.
#[derive(Default)]
pub struct PackBuilder {
    data: Vec<u8>,
    entries: Vec<PackEntry>,
}

/// A finished pack, ready to store.
pub struct FinishedPack {
    /// BLAKE3 of `bytes`: the pack's name.
    pub id: Id,
    /// The whole pack.
    pub bytes: Vec<u8>,
    /// Its blobs.
    pub entries: Vec<PackEntry>,
}

impl PackBuilder {
    /// An empty pack with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_buffer(Vec::new(), capacity)
    }

    /// An empty pack built in a recycled buffer, with room for `capacity` bytes.
    pub fn with_buffer(mut buf: Vec<u8>, capacity: usize) -> Self {
        buf.clear();
        buf.reserve(capacity);
        PackBuilder {
            data: buf,
            entries: Vec::new(),
        }
    }

    /// Bytes of blobs so far.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True if no blob was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends a sealed blob.
    pub fn add(&mut self, kind: BlobKind, id: Id, sealed: &[u8], raw_length: u32) -> Result<()> {
        let offset =
            u32::try_from(self.data.len()).map_err(|_| Error::internal("pack too large"))?;
        let length = u32::try_from(sealed.len()).map_err(|_| Error::internal("blob too large"))?;
        self.data.extend_from_slice(sealed);
        self.entries.push(PackEntry {
            kind,
            id,
            offset,
            length,
            raw_length,
        });
        Ok(())
    }

    /// Seals the header and appends it.
    pub fn finish(mut self, cipher: &Cipher) -> Result<FinishedPack> {
        let mut header = Vec::with_capacity(9 + self.entries.len() * ENTRY_LEN);
        header.extend_from_slice(MAGIC);
        header.push(1);
        header.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for e in &self.entries {
            e.write(&mut header);
        }
        let sealed = cipher.seal(AAD, &header)?;
        // Exactly what the header needs if the reserved room falls short: growing by
        // doubling would ask for twice the pack (the buffer is recycled for the next one).
        self.data.reserve_exact(sealed.len() + 4);
        self.data.extend_from_slice(&sealed);
        self.data
            .extend_from_slice(&(sealed.len() as u32).to_le_bytes());
        Ok(FinishedPack {
            id: Id::of_bytes(&self.data),
            bytes: self.data,
            entries: self.entries,
        })
    }
}

/// Reads a pack's header given its last bytes (`tail` must hold the sealed header and the
/// length field) and the pack size. Returns the entries, checked against the pack's bounds.
pub fn parse_header(
    pack: &Id,
    pack_size: u64,
    tail: &[u8],
    cipher: &Cipher,
) -> Result<Vec<PackEntry>> {
    let name = format!("data/{}", pack.to_hex());
    let bad = |why: &str| Error::corrupt(name.clone(), why.to_string());
    if tail.len() < 4 {
        return Err(bad("too short for a pack"));
    }
    let hlen = u32::from_le_bytes(
        tail[tail.len() - 4..]
            .try_into()
            .map_err(|_| bad("short"))?,
    ) as usize;
    if hlen + 4 > tail.len() || (hlen as u64 + 4) > pack_size {
        return Err(bad("header length out of range"));
    }
    let sealed = &tail[tail.len() - 4 - hlen..tail.len() - 4];
    let header = cipher
        .open(AAD, sealed)
        .map_err(|_| bad("pack header failed authentication"))?;
    if header.len() < 9 || &header[..4] != MAGIC || header[4] != 1 {
        return Err(bad("unknown pack header format"));
    }
    let count = u32::from_le_bytes(header[5..9].try_into().map_err(|_| bad("short"))?) as usize;
    let body = &header[9..];
    if body.len() != count * ENTRY_LEN {
        return Err(bad("pack header entry count mismatch"));
    }
    let data_end = pack_size - hlen as u64 - 4;
    body.chunks_exact(ENTRY_LEN)
        .map(|c| {
            let e = PackEntry::read(c).ok_or_else(|| bad("bad pack header entry"))?;
            if e.offset as u64 + e.length as u64 > data_end {
                return Err(bad("pack header entry points outside the pack"));
            }
            Ok(e)
        })
        .collect()
}

impl PackEntry {
    /// The sealed blob's bytes within a whole pack, or an error naming the pack if the pack
    /// is shorter than this entry says.
    pub fn slice<'a>(&self, pack: &Id, bytes: &'a [u8]) -> Result<&'a [u8]> {
        let start = self.offset as usize;
        let end = start + self.length as usize;
        bytes.get(start..end).ok_or_else(|| {
            Error::corrupt(
                format!("data/{}", pack.to_hex()),
                "pack is shorter than its index says",
            )
        })
    }
}

/// How many trailing bytes to fetch to be sure of getting the header of a pack with up to
/// `max_blobs` blobs; callers fetch the exact length when this guess falls short.
pub fn header_guess(pack_size: u64) -> u64 {
    pack_size.min(64 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::crypto::SecretKey;

    /// Headers crafted by someone holding the key (the only way past authentication) must
    /// give errors, never panics or out-of-bounds entries.
    #[test]
    fn mutated_headers_never_panic() {
        let cipher = Cipher::new(&SecretKey::generate().unwrap());
        let mut b = PackBuilder::default();
        for i in 0..5u8 {
            b.add(BlobKind::Data, Id([i; 32]), &[i; 100], 100).unwrap();
        }
        let good = b.finish(&cipher).unwrap();
        let entries =
            parse_header(&good.id, good.bytes.len() as u64, &good.bytes, &cipher).unwrap();
        assert_eq!(entries.len(), 5);
        let mut header = Vec::new();
        header.extend_from_slice(MAGIC);
        header.push(1);
        header.extend_from_slice(&5u32.to_le_bytes());
        for e in &entries {
            e.write(&mut header);
        }
        let mut seed = 0x9E3779B97F4A7C15u64;
        for round in 0..2000 {
            let mut h = header.clone();
            for _ in 0..1 + round % 4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed as usize) % h.len();
                h[i] = (seed >> 32) as u8;
            }
            if round % 7 == 0 {
                h.truncate((seed as usize) % h.len());
            }
            let sealed = cipher.seal(AAD, &h).unwrap();
            let mut pack = good.bytes[..500].to_vec();
            pack.extend_from_slice(&sealed);
            pack.extend_from_slice(&(sealed.len() as u32).to_le_bytes());
            if let Ok(es) = parse_header(&good.id, pack.len() as u64, &pack, &cipher) {
                for e in es {
                    assert!(e.slice(&good.id, &pack).is_ok());
                }
            }
        }
        // Garbage tails, including lengths pointing before the start.
        for tail in [&b""[..], b"\xff\xff\xff\xff", b"abc", &[0u8; 64][..]] {
            assert!(parse_header(&good.id, tail.len() as u64, tail, &cipher).is_err());
        }
    }
}
