//! Index files (which blob is in which pack, where) and the index built from them, kept on
//! disk while a command runs.
//!
//! ```text
//! index object = sealed(aad "chatvault:index", zstd(plaintext)), named BLAKE3(object)
//! plaintext: "CVIX" || version u8 (1) || pack_count u32 LE ||
//!            pack_count × (pack id [32] || pack size u64 LE || blob_count u32 LE || blob_count × entry)
//! entry: as in the pack header (kind u8 || id [32] || offset u32 || length u32 || raw_length u32)
//! ```

use std::collections::HashMap;
use std::path::Path;

use super::blob::BlobKind;
use super::crypto::Cipher;
use super::disk_table::{Table, TableBuilder};
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

/// Bytes of one blob's record in the on-disk table: id [32] || pack number u32 LE ||
/// kind u8 || offset u32 LE || length u32 LE || raw_length u32 LE.
const RECORD: usize = 32 + 4 + 1 + 4 + 4 + 4;
/// Blobs sorted in memory at a time while an index is built (3 MiB of records); each full
/// batch becomes a sorted run on disk, and the runs are merged into one table at the end.
const BATCH: usize = 64 * 1024;

#[derive(Clone, Copy)]
struct Slot {
    pack: u32,
    kind: BlobKind,
    offset: u32,
    length: u32,
    raw_length: u32,
}

fn write_record(out: &mut Vec<u8>, id: &Id, s: &Slot) {
    out.extend_from_slice(&id.0);
    out.extend_from_slice(&s.pack.to_le_bytes());
    out.push(s.kind as u8);
    out.extend_from_slice(&s.offset.to_le_bytes());
    out.extend_from_slice(&s.length.to_le_bytes());
    out.extend_from_slice(&s.raw_length.to_le_bytes());
}

fn read_record(r: &[u8]) -> Result<Slot> {
    let u32_at = |i: usize| u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
    Ok(Slot {
        pack: u32_at(32),
        kind: BlobKind::from_u8(r[36])
            .ok_or_else(|| Error::internal("bad blob kind in the temporary index"))?,
        offset: u32_at(37),
        length: u32_at(41),
        raw_length: u32_at(45),
    })
}

/// Gathers the packs of a repository's index files into an [`Index`], in flat memory:
/// blobs are sorted a batch at a time into runs on disk, merged by [`IndexBuilder::finish`].
pub struct IndexBuilder {
    packs: Vec<(Id, u64)>,
    pack_pos: HashMap<Id, u32>,
    table: TableBuilder,
    record: Vec<u8>,
}

impl IndexBuilder {
    /// Adds a pack and its blobs. A pack added twice is counted once; of two packs holding
    /// the same blob, the one added first is where the index sends readers.
    pub fn add_pack(&mut self, pack: &IndexedPack) -> Result<()> {
        if self.pack_pos.contains_key(&pack.id) {
            return Ok(());
        }
        let pos = self.packs.len() as u32;
        self.packs.push((pack.id, pack.size));
        self.pack_pos.insert(pack.id, pos);
        for e in &pack.entries {
            let slot = Slot {
                pack: pos,
                kind: e.kind,
                offset: e.offset,
                length: e.length,
                raw_length: e.raw_length,
            };
            self.record.clear();
            write_record(&mut self.record, &e.id, &slot);
            self.table.push(&self.record)?;
        }
        Ok(())
    }

    /// True if the pack was added.
    pub fn has_pack(&self, id: &Id) -> bool {
        self.pack_pos.contains_key(id)
    }

    /// The finished index: the runs merged into one sorted table.
    pub fn finish(mut self) -> Result<Index> {
        let table = self.table.finish()?;
        self.packs.shrink_to_fit();
        Ok(Index {
            packs: self.packs,
            pack_pos: self.pack_pos,
            table,
        })
    }
}

/// All blobs of a repository and where they are: a sorted table in an unlinked temporary
/// file, read with positioned reads behind 8 bytes of fence per 4 KiB
/// ([`disk_table`](super::disk_table)), so memory stays flat however many blobs there are.
/// Only the list of packs (40 bytes a pack) is held in memory.
pub struct Index {
    packs: Vec<(Id, u64)>,
    pack_pos: HashMap<Id, u32>,
    table: Table,
}

impl Index {
    /// A builder whose temporary files go to `work_dir` (else the system's temporary
    /// folder).
    pub fn builder(work_dir: Option<&Path>) -> IndexBuilder {
        IndexBuilder {
            packs: Vec::new(),
            pack_pos: HashMap::new(),
            table: TableBuilder::new(work_dir, RECORD, BATCH),
            record: Vec::with_capacity(RECORD),
        }
    }

    fn slot(&self, id: &Id) -> Result<Option<(u64, Slot)>> {
        let mut rec = [0u8; RECORD];
        match self.table.find(&id.0, &mut rec)? {
            Some(pos) => Ok(Some((pos, read_record(&rec)?))),
            None => Ok(None),
        }
    }

    /// True if some pack holds the blob.
    pub fn contains(&self, id: &Id) -> Result<bool> {
        Ok(self.slot(id)?.is_some())
    }

    /// Where the blob is stored.
    pub fn get(&self, id: &Id) -> Result<Option<BlobLocation>> {
        Ok(self.lookup(id)?.map(|(_, loc)| loc))
    }

    /// The blob's position ([`Index::position`]) and where it is stored.
    pub fn lookup(&self, id: &Id) -> Result<Option<(usize, BlobLocation)>> {
        let Some((pos, s)) = self.slot(id)? else {
            return Ok(None);
        };
        let pack = self
            .packs
            .get(s.pack as usize)
            .ok_or_else(|| Error::internal("pack number out of range in the temporary index"))?;
        let loc = BlobLocation {
            pack: pack.0,
            kind: s.kind,
            offset: s.offset,
            length: s.length,
            raw_length: s.raw_length,
        };
        Ok(Some((pos as usize, loc)))
    }

    /// The blob's position among all blobs (0..blob_count), for per-blob marks kept in a
    /// bit set; `None` when no pack holds it.
    pub fn position(&self, id: &Id) -> Result<Option<usize>> {
        Ok(self.slot(id)?.map(|(pos, _)| pos as usize))
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
        self.table.len() as usize
    }

    /// Sum of plaintext lengths and of stored lengths over distinct blobs.
    pub fn totals(&self) -> Result<(u64, u64)> {
        let (mut raw, mut stored) = (0, 0);
        let mut scan = self.table.scan();
        while let Some(r) = scan.next_record()? {
            let s = read_record(r)?;
            raw += s.raw_length as u64;
            stored += s.length as u64;
        }
        Ok((raw, stored))
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

    #[test]
    fn the_on_disk_index_finds_every_blob_past_several_sorted_runs() {
        // 150,000 blobs in 150 packs: three batches, so runs are written and merged; every
        // tenth blob of a pack is also stored in the next pack (an interrupted backup's
        // second copy): the pack added first is where the index sends readers.
        let dir = tempfile::tempdir().unwrap();
        let mut b = Index::builder(Some(dir.path()));
        let blob = |n: u32| Id(*blake3::hash(&n.to_le_bytes()).as_bytes());
        let mut expected = std::collections::HashMap::new();
        for p in 0..150u32 {
            let mut entries: Vec<PackEntry> = (0..1000u32)
                .map(|i| PackEntry {
                    kind: if i % 7 == 0 {
                        BlobKind::Tree
                    } else {
                        BlobKind::Data
                    },
                    id: blob(p * 1000 + i),
                    offset: i * 100,
                    length: 100,
                    raw_length: 90 + i % 10,
                })
                .collect();
            if p > 0 {
                entries.extend((0..1000u32).step_by(10).map(|i| PackEntry {
                    kind: BlobKind::Data,
                    id: blob((p - 1) * 1000 + i),
                    offset: 100_000 + i,
                    length: 100,
                    raw_length: 1,
                }));
            }
            let pack = IndexedPack {
                id: Id([p as u8 + 1; 32]),
                size: 200_000,
                entries,
            };
            for e in &pack.entries {
                expected.entry(e.id).or_insert((pack.id, *e));
            }
            b.add_pack(&pack).unwrap();
            b.add_pack(&pack).unwrap(); // counted once
        }
        assert!(b.table.runs() >= 2, "several runs: {}", b.table.runs());
        let index = b.finish().unwrap();
        assert_eq!(index.blob_count(), 150_000);
        assert_eq!(index.packs().len(), 150);
        let mut positions = std::collections::HashSet::new();
        for (id, (pack, e)) in &expected {
            let (pos, loc) = index.lookup(id).unwrap().unwrap();
            assert_eq!(
                (loc.pack, loc.kind, loc.offset, loc.length, loc.raw_length),
                (*pack, e.kind, e.offset, e.length, e.raw_length)
            );
            assert!(
                pos < 150_000 && positions.insert(pos),
                "positions are distinct"
            );
        }
        assert!(!index.contains(&blob(150_000)).unwrap());
        let raw: u64 = expected.values().map(|(_, e)| e.raw_length as u64).sum();
        assert_eq!(index.totals().unwrap(), (raw, 150_000 * 100));
    }
}
