//! Index files (which blob is in which pack, where) and the compact in-memory index.
//!
//! ```text
//! index object = sealed(aad "chatvault:index", zstd(plaintext)), named BLAKE3(object)
//! plaintext: "CVIX" || version u8 (1) || pack_count u32 LE ||
//!            pack_count × (pack id [32] || pack size u64 LE || blob_count u32 LE || blob_count × entry)
//! entry: as in the pack header (kind u8 || id [32] || offset u32 || length u32 || raw_length u32)
//! ```

use std::collections::HashMap;

use super::blob::BlobKind;
use super::crypto::Cipher;
use super::id::Id;
use super::pack::{PackEntry, ENTRY_LEN};
use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"CVIX";
const AAD: &[u8] = b"chatvault:index";

/// One pack as listed in an index file.
#[derive(Debug, Clone)]
pub struct IndexedPack {
    /// Pack id.
    pub id: Id,
    /// Pack size in bytes.
    pub size: u64,
    /// Its blobs.
    pub entries: Vec<PackEntry>,
}

/// Encodes an index file listing `packs`.
pub fn encode(packs: &[IndexedPack], cipher: &Cipher) -> Result<Vec<u8>> {
    let mut plain = MAGIC.to_vec();
    plain.push(1);
    plain.extend_from_slice(&(packs.len() as u32).to_le_bytes());
    for p in packs {
        plain.extend_from_slice(&p.id.0);
        plain.extend_from_slice(&p.size.to_le_bytes());
        plain.extend_from_slice(&(p.entries.len() as u32).to_le_bytes());
        for e in &p.entries {
            e.write(&mut plain);
        }
    }
    let compressed =
        zstd::bulk::compress(&plain, 3).map_err(|e| Error::internal_from("zstd", e))?;
    cipher.seal(AAD, &compressed)
}

/// Decodes an index file; `name` is its object name, checked against its hash.
pub fn decode(name: &str, raw: &[u8], cipher: &Cipher) -> Result<Vec<IndexedPack>> {
    let object = format!("index/{name}");
    let bad = |why: &str| Error::corrupt(object.clone(), why.to_string());
    if Id::of_bytes(raw).to_hex() != name {
        return Err(bad(
            "content does not match its name (the file was modified)",
        ));
    }
    let compressed = cipher
        .open(AAD, raw)
        .map_err(|_| bad("authentication failed"))?;
    let plain =
        zstd::stream::decode_all(&compressed[..]).map_err(|e| bad(&format!("zstd: {e}")))?;
    if plain.len() < 9 || &plain[..4] != MAGIC || plain[4] != 1 {
        return Err(bad("unknown index format"));
    }
    let mut at = 9;
    let count = u32::from_le_bytes(plain[5..9].try_into().map_err(|_| bad("short"))?) as usize;
    let mut packs = Vec::with_capacity(count.min(1 << 16));
    for _ in 0..count {
        let head = plain.get(at..at + 44).ok_or_else(|| bad("truncated"))?;
        let id = Id(head[..32].try_into().map_err(|_| bad("short"))?);
        let size = u64::from_le_bytes(head[32..40].try_into().map_err(|_| bad("short"))?);
        let n = u32::from_le_bytes(head[40..44].try_into().map_err(|_| bad("short"))?) as usize;
        at += 44;
        let body = plain
            .get(at..at + n * ENTRY_LEN)
            .ok_or_else(|| bad("truncated"))?;
        at += n * ENTRY_LEN;
        let entries = body
            .chunks_exact(ENTRY_LEN)
            .map(|c| PackEntry::read(c).ok_or_else(|| bad("bad entry")))
            .collect::<Result<_>>()?;
        packs.push(IndexedPack { id, size, entries });
    }
    if at != plain.len() {
        return Err(bad("trailing bytes"));
    }
    Ok(packs)
}

/// Where to find a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobLocation {
    /// Pack id.
    pub pack: Id,
    /// Blob kind.
    pub kind: BlobKind,
    /// Offset of the sealed blob in the pack.
    pub offset: u32,
    /// Sealed length.
    pub length: u32,
    /// Plaintext length.
    pub raw_length: u32,
}

#[derive(Clone, Copy)]
struct Slot {
    id: Id,
    pack: u32,
    kind: BlobKind,
    offset: u32,
    length: u32,
    raw_length: u32,
}

/// All blobs of a repository: a sorted array (about 48 bytes a blob) searched by binary
/// search, plus a small map of blobs added since the last sort.
#[derive(Default)]
pub struct Index {
    packs: Vec<(Id, u64)>,
    pack_pos: HashMap<Id, u32>,
    sorted: Vec<Slot>,
    recent: HashMap<Id, Slot>,
}

impl Index {
    /// Adds a pack and its blobs. A pack added twice is counted once.
    pub fn add_pack(&mut self, pack: &IndexedPack) {
        if self.pack_pos.contains_key(&pack.id) {
            return;
        }
        let pos = self.packs.len() as u32;
        self.packs.push((pack.id, pack.size));
        self.pack_pos.insert(pack.id, pos);
        for e in &pack.entries {
            let slot = Slot {
                id: e.id,
                pack: pos,
                kind: e.kind,
                offset: e.offset,
                length: e.length,
                raw_length: e.raw_length,
            };
            self.recent.entry(e.id).or_insert(slot);
        }
        if self.recent.len() > 4096 + self.sorted.len() / 8 {
            self.compact();
        }
    }

    /// Moves recently added blobs into the sorted array.
    pub fn compact(&mut self) {
        if self.recent.is_empty() {
            return;
        }
        self.sorted.extend(self.recent.drain().map(|(_, s)| s));
        self.sorted.sort_unstable_by_key(|a| a.id);
        self.sorted.dedup_by(|a, b| a.id == b.id);
        self.sorted.shrink_to_fit();
    }

    fn slot(&self, id: &Id) -> Option<&Slot> {
        if let Ok(i) = self.sorted.binary_search_by(|s| s.id.cmp(id)) {
            return Some(&self.sorted[i]);
        }
        self.recent.get(id)
    }

    /// True if some pack holds the blob.
    pub fn contains(&self, id: &Id) -> bool {
        self.slot(id).is_some()
    }

    /// Where the blob is stored.
    pub fn get(&self, id: &Id) -> Option<BlobLocation> {
        self.slot(id).map(|s| BlobLocation {
            pack: self.packs[s.pack as usize].0,
            kind: s.kind,
            offset: s.offset,
            length: s.length,
            raw_length: s.raw_length,
        })
    }

    /// The blob's position among all blobs (0..blob_count), for per-blob marks kept in a
    /// bit set; `None` when no pack holds it. Only after [`Index::compact`].
    pub fn position(&self, id: &Id) -> Option<usize> {
        debug_assert!(self.recent.is_empty(), "position() before compact()");
        self.sorted.binary_search_by(|s| s.id.cmp(id)).ok()
    }

    /// True if the pack is indexed.
    pub fn has_pack(&self, id: &Id) -> bool {
        self.pack_pos.contains_key(id)
    }

    /// All indexed packs and their sizes.
    pub fn packs(&self) -> &[(Id, u64)] {
        &self.packs
    }

    /// Number of distinct blobs.
    pub fn blob_count(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    /// Sum of plaintext lengths and of stored lengths over distinct blobs.
    pub fn totals(&self) -> (u64, u64) {
        self.sorted
            .iter()
            .chain(self.recent.values())
            .fold((0, 0), |(r, s), b| {
                (r + b.raw_length as u64, s + b.length as u64)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::crypto::SecretKey;

    #[test]
    fn round_trip_and_mutated_plaintexts_never_panic() {
        let cipher = Cipher::new(&SecretKey::generate().unwrap());
        let packs = vec![IndexedPack {
            id: Id([1; 32]),
            size: 1000,
            entries: (0..3u8)
                .map(|i| PackEntry {
                    kind: BlobKind::Data,
                    id: Id([i; 32]),
                    offset: i as u32 * 10,
                    length: 10,
                    raw_length: 9,
                })
                .collect(),
        }];
        let raw = encode(&packs, &cipher).unwrap();
        let name = Id::of_bytes(&raw).to_hex();
        let back = decode(&name, &raw, &cipher).unwrap();
        assert_eq!(back[0].entries, packs[0].entries);
        assert!(
            decode(&"0".repeat(64), &raw, &cipher).is_err(),
            "name must match content"
        );

        let plain = zstd::stream::decode_all(&cipher.open(AAD, &raw).unwrap()[..]).unwrap();
        let mut seed = 12345u64;
        for round in 0..2000 {
            let mut p = plain.clone();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = (seed as usize) % p.len();
            p[i] = (seed >> 40) as u8;
            if round % 5 == 0 {
                p.truncate((seed as usize >> 8) % p.len());
            }
            let sealed = cipher
                .seal(AAD, &zstd::bulk::compress(&p, 1).unwrap())
                .unwrap();
            let _ = decode(&Id::of_bytes(&sealed).to_hex(), &sealed, &cipher);
        }
    }
}
