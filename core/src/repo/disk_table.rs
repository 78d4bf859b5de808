//! Sorted fixed-size records in an unlinked temporary file, found with `pread` behind a small
//! in-memory fence array: how the repository index and a backup's set of new blobs stay in
//! flat memory however large the repository grows.
//!
//! ```text
//! file:   records sorted by key (the first 32 bytes of each record), no duplicate keys,
//!         grouped in blocks of ⌊4096 / record length⌋ records
//! fences: per block, the first 8 bytes (big-endian) of its first key — 8 bytes per 4 KiB
//! ```
//!
//! A lookup finds the block (or the rare run of blocks sharing an 8-byte prefix) by binary
//! search over the fences and reads it with one positioned read. The file lives in the
//! caller's work folder (the app's cache on a phone) and is unlinked from birth, so it
//! never outlives the process and no other user can open it. Pages read back sit in the
//! kernel's page cache, which is not this process's resident memory (a mapped file's pages
//! would be).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::read_at::read_at;

/// Length of a record's key (a blob id).
pub(crate) const KEY: usize = 32;
const BLOCK_BYTES: usize = 4096;
/// Bytes read at a time when a table is scanned in order.
const SCAN_BYTES: usize = 64 * 1024;
/// What all the scans of one merge read ahead together: a merge of 200 runs (13 M blobs)
/// reads 20 KiB from each, not 64 KiB (12.5 MiB).
const MERGE_BYTES: usize = 4 * 1024 * 1024;

fn prefix(key: &[u8]) -> u64 {
    let mut p = [0u8; 8];
    p.copy_from_slice(&key[..8]);
    u64::from_be_bytes(p)
}

fn temp_file(dir: Option<&Path>) -> Result<File> {
    match dir {
        Some(d) => {
            tempfile::tempfile_in(d).map_err(|e| Error::io("create a temporary file in", d, e))
        }
        None => tempfile::tempfile()
            .map_err(|e| Error::io("create a temporary file in", std::env::temp_dir(), e)),
    }
}

/// The folder a table lives in, for errors (a full disk names the folder to free).
fn folder(dir: Option<&Path>) -> PathBuf {
    dir.map_or_else(std::env::temp_dir, Path::to_path_buf)
}

/// A finished table: read-only, shareable across threads (positioned reads need no seek).
#[derive(Debug)]
pub(crate) struct Table {
    file: Option<File>,
    dir: PathBuf,
    rec_len: usize,
    per_block: usize,
    records: u64,
    fences: Vec<u64>,
}

impl Table {
    /// A table without records (and without a file).
    pub(crate) fn empty(rec_len: usize) -> Table {
        Table {
            file: None,
            dir: PathBuf::new(),
            rec_len,
            per_block: (BLOCK_BYTES / rec_len).max(1),
            records: 0,
            fences: Vec::new(),
        }
    }

    /// Number of records.
    pub(crate) fn len(&self) -> u64 {
        self.records
    }

    /// Finds the record whose key is `key`: copies it into `out` (one record long) and
    /// returns its position (0..len).
    pub(crate) fn find(&self, key: &[u8; KEY], out: &mut [u8]) -> Result<Option<u64>> {
        let Some(file) = &self.file else {
            return Ok(None);
        };
        let p = prefix(key);
        // Blocks whose first key is ≤ the key's prefix end at `hi`; the key may also sit at
        // the end of the last block that starts below its prefix.
        let hi = self.fences.partition_point(|f| *f <= p);
        if hi == 0 {
            return Ok(None);
        }
        let lo = self.fences.partition_point(|f| *f < p).saturating_sub(1);
        let mut block = [0u8; BLOCK_BYTES];
        for b in lo..hi {
            let (first, at, n) = self.seek_in_block(file, b, &mut block, key)?;
            if at < n {
                let rec = &block[at * self.rec_len..(at + 1) * self.rec_len];
                if rec[..KEY] != key[..] {
                    return Ok(None);
                }
                out.copy_from_slice(rec);
                return Ok(Some(first + at as u64));
            }
        }
        Ok(None)
    }

    /// The position of the first record whose key is not less than `key` (`len()` if
    /// there is none): where a run of records sharing a key prefix starts.
    pub(crate) fn lower_bound(&self, key: &[u8; KEY]) -> Result<u64> {
        let Some(file) = &self.file else {
            return Ok(0);
        };
        let p = prefix(key);
        // The first record ≥ key is in the last block starting below the prefix or in a
        // later one: at most the blocks sharing the prefix, and one more, are read.
        let lo = self.fences.partition_point(|f| *f < p).saturating_sub(1);
        let mut block = [0u8; BLOCK_BYTES];
        for b in lo..self.fences.len() {
            let (first, at, n) = self.seek_in_block(file, b, &mut block, key)?;
            if at < n {
                return Ok(first + at as u64);
            }
        }
        Ok(self.records)
    }

    /// Reads block `b` into `block`; returns the position of its first record, the index
    /// in it of the first record whose key is not less than `key`, and its record count.
    fn seek_in_block(
        &self,
        file: &File,
        b: usize,
        block: &mut [u8; BLOCK_BYTES],
        key: &[u8; KEY],
    ) -> Result<(u64, usize, usize)> {
        let first = b as u64 * self.per_block as u64;
        let n = (self.records - first).min(self.per_block as u64) as usize;
        let bytes = &mut block[..n * self.rec_len];
        read_at(file, bytes, first * self.rec_len as u64)
            .map_err(|e| Error::io("read a temporary index file in", &self.dir, e))?;
        let (mut l, mut r) = (0, n);
        while l < r {
            let m = (l + r) / 2;
            if bytes[m * self.rec_len..m * self.rec_len + KEY] < key[..] {
                l = m + 1;
            } else {
                r = m;
            }
        }
        Ok((first, l, n))
    }

    /// Copies the record at `pos` (0..len) into `out` (one record long).
    pub(crate) fn read(&self, pos: u64, out: &mut [u8]) -> Result<()> {
        match &self.file {
            Some(file) if pos < self.records => read_at(file, out, pos * self.rec_len as u64)
                .map_err(|e| Error::io("read a temporary index file in", &self.dir, e)),
            _ => Err(Error::internal("record position out of range")),
        }
    }

    /// Reads the records in key order.
    pub(crate) fn scan(&self) -> Scan<'_> {
        self.scan_by(SCAN_BYTES)
    }

    /// Reads the records in key order, about `bytes` at a time (at least one record).
    fn scan_by(&self, bytes: usize) -> Scan<'_> {
        Scan {
            table: self,
            buf: Vec::new(),
            at: 0,
            next_record: 0,
            records_per_read: (bytes / self.rec_len).max(1) as u64,
        }
    }
}

/// Records of a [`Table`] in key order, read a block of 64 KiB at a time.
pub(crate) struct Scan<'a> {
    table: &'a Table,
    buf: Vec<u8>,
    at: usize,
    next_record: u64,
    records_per_read: u64,
}

impl Scan<'_> {
    /// The next record, or `None` after the last.
    pub(crate) fn next_record(&mut self) -> Result<Option<&[u8]>> {
        let t = self.table;
        if self.at >= self.buf.len() {
            let Some(file) = &t.file else {
                return Ok(None);
            };
            let left = t.records - self.next_record;
            if left == 0 {
                return Ok(None);
            }
            let n = left.min(self.records_per_read);
            self.buf.resize(n as usize * t.rec_len, 0);
            read_at(file, &mut self.buf, self.next_record * t.rec_len as u64)
                .map_err(|e| Error::io("read a temporary index file in", &t.dir, e))?;
            self.next_record += n;
            self.at = 0;
        }
        let r = &self.buf[self.at..self.at + t.rec_len];
        self.at += t.rec_len;
        Ok(Some(r))
    }
}

/// Writes records in strictly increasing key order into a new table.
pub(crate) struct TableWriter {
    out: BufWriter<File>,
    dir: PathBuf,
    rec_len: usize,
    per_block: usize,
    records: u64,
    fences: Vec<u64>,
    last: Option<[u8; KEY]>,
}

impl TableWriter {
    /// A writer of `rec_len`-byte records into an unlinked file in `dir` (else the system's
    /// temporary folder).
    pub(crate) fn new(dir: Option<&Path>, rec_len: usize) -> Result<TableWriter> {
        debug_assert!((KEY..=BLOCK_BYTES).contains(&rec_len));
        Ok(TableWriter {
            out: BufWriter::with_capacity(SCAN_BYTES, temp_file(dir)?),
            dir: folder(dir),
            rec_len,
            per_block: (BLOCK_BYTES / rec_len).max(1),
            records: 0,
            fences: Vec::new(),
            last: None,
        })
    }

    /// Appends a record; a key equal to the previous one is skipped (the first one wins).
    pub(crate) fn push(&mut self, record: &[u8]) -> Result<()> {
        debug_assert_eq!(record.len(), self.rec_len);
        let key: [u8; KEY] = record[..KEY]
            .try_into()
            .map_err(|_| Error::internal("short index record"))?;
        if let Some(last) = &self.last {
            if *last == key {
                return Ok(());
            }
            if *last > key {
                return Err(Error::internal("index records out of order"));
            }
        }
        if self.records % self.per_block as u64 == 0 {
            self.fences.push(prefix(&key));
        }
        self.out
            .write_all(record)
            .map_err(|e| Error::io("write a temporary index file in", &self.dir, e))?;
        self.records += 1;
        self.last = Some(key);
        Ok(())
    }

    /// The finished table.
    pub(crate) fn finish(self) -> Result<Table> {
        let dir = self.dir;
        let file = self
            .out
            .into_inner()
            .map_err(|e| Error::io("write a temporary index file in", &dir, e.into_error()))?;
        Ok(Table {
            file: (self.records > 0).then_some(file),
            dir,
            rec_len: self.rec_len,
            per_block: self.per_block,
            records: self.records,
            fences: {
                let mut f = self.fences;
                f.shrink_to_fit();
                f
            },
        })
    }
}

/// Sorts `records` (each `rec_len` bytes, concatenated) by key, stable, into a new table:
/// of equal keys the first one given is kept.
pub(crate) fn write_sorted(dir: Option<&Path>, rec_len: usize, records: &[u8]) -> Result<Table> {
    let mut order: Vec<&[u8]> = records.chunks_exact(rec_len).collect();
    order.sort_by(|a, b| a[..KEY].cmp(&b[..KEY]));
    let mut w = TableWriter::new(dir, rec_len)?;
    for r in order {
        w.push(r)?;
    }
    w.finish()
}

/// Records sorted into a table in flat memory: a batch at a time into sorted runs on disk,
/// merged by [`TableBuilder::finish`]. Of equal keys the one added first is kept.
pub(crate) struct TableBuilder {
    dir: Option<PathBuf>,
    rec_len: usize,
    batch: Vec<u8>,
    batch_records: usize,
    runs: Vec<Table>,
}

impl TableBuilder {
    /// A builder of `rec_len`-byte records that sorts `batch_records` at a time in memory;
    /// its temporary files go to `dir` (else the system's temporary folder).
    pub(crate) fn new(dir: Option<&Path>, rec_len: usize, batch_records: usize) -> Self {
        TableBuilder {
            dir: dir.map(Path::to_path_buf),
            rec_len,
            batch: Vec::new(),
            batch_records: batch_records.max(1),
            runs: Vec::new(),
        }
    }

    /// Adds a record.
    pub(crate) fn push(&mut self, record: &[u8]) -> Result<()> {
        debug_assert_eq!(record.len(), self.rec_len);
        self.batch.extend_from_slice(record);
        if self.batch.len() >= self.batch_records * self.rec_len {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if !self.batch.is_empty() {
            let run = write_sorted(self.dir.as_deref(), self.rec_len, &self.batch)?;
            self.runs.push(run);
            self.batch.clear();
        }
        Ok(())
    }

    /// Sorted runs written to disk so far.
    #[cfg(test)]
    pub(crate) fn runs(&self) -> usize {
        self.runs.len()
    }

    /// The finished table: the runs merged into one.
    pub(crate) fn finish(mut self) -> Result<Table> {
        self.flush()?;
        Ok(match self.runs.len() {
            0 => Table::empty(self.rec_len),
            1 => self.runs.remove(0),
            _ => merge(self.dir.as_deref(), &self.runs)?,
        })
    }
}

/// Merges tables into one; of equal keys the one in the earliest table wins.
pub(crate) fn merge(dir: Option<&Path>, tables: &[Table]) -> Result<Table> {
    let rec_len = tables.first().map_or(KEY, |t| t.rec_len);
    let mut w = TableWriter::new(dir, rec_len)?;
    let each = (MERGE_BYTES / tables.len().max(1)).clamp(BLOCK_BYTES, SCAN_BYTES);
    let mut scans: Vec<Scan<'_>> = tables.iter().map(|t| t.scan_by(each)).collect();
    let mut heads: Vec<Vec<u8>> = vec![Vec::new(); scans.len()];
    let mut heap = BinaryHeap::new();
    for (i, s) in scans.iter_mut().enumerate() {
        if let Some(r) = s.next_record()? {
            heads[i] = r.to_vec();
            heap.push(Reverse((key_of(&heads[i]), i)));
        }
    }
    while let Some(Reverse((_, i))) = heap.pop() {
        w.push(&heads[i])?;
        if let Some(r) = scans[i].next_record()? {
            heads[i].copy_from_slice(r);
            heap.push(Reverse((key_of(&heads[i]), i)));
        }
    }
    w.finish()
}

fn key_of(record: &[u8]) -> [u8; KEY] {
    let mut k = [0u8; KEY];
    k.copy_from_slice(&record[..KEY]);
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn record(key_seed: u64, value: u8, rec_len: usize) -> Vec<u8> {
        let mut r = vec![value; rec_len];
        // Few distinct 8-byte prefixes, so runs of blocks share a fence.
        r[..8].copy_from_slice(&(key_seed % 7).to_be_bytes());
        r[8..16].copy_from_slice(&key_seed.to_be_bytes());
        r[16..KEY].fill(0);
        r
    }

    #[test]
    fn finds_every_record_and_nothing_else_across_runs_and_merges() {
        for rec_len in [KEY, 49] {
            let mut reference = BTreeMap::new();
            let mut runs = Vec::new();
            let mut seed = 0x2545_f491_4f6c_dd1du64;
            for run in 0..4u8 {
                let mut bytes = Vec::new();
                for _ in 0..3000 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let k = seed % 20_000;
                    let r = record(k, run, rec_len);
                    // Within a run and across runs, the first one given wins.
                    reference.entry(r[..KEY].to_vec()).or_insert(r.clone());
                    bytes.extend_from_slice(&r);
                }
                runs.push(write_sorted(None, rec_len, &bytes).unwrap());
            }
            let merged = merge(None, &runs).unwrap();
            assert_eq!(merged.len(), reference.len() as u64);
            let mut out = vec![0u8; rec_len];
            for (pos, (key, rec)) in reference.iter().enumerate() {
                let key: [u8; KEY] = key[..].try_into().unwrap();
                assert_eq!(merged.find(&key, &mut out).unwrap(), Some(pos as u64));
                assert_eq!(&out, rec);
            }
            for k in 20_000..20_500u64 {
                let key: [u8; KEY] = record(k, 0, rec_len)[..KEY].try_into().unwrap();
                assert_eq!(merged.find(&key, &mut out).unwrap(), None);
            }
            let below = [0u8; KEY];
            assert_eq!(merged.find(&below, &mut out).unwrap(), None);
            let mut scan = merged.scan();
            let mut scanned = Vec::new();
            while let Some(r) = scan.next_record().unwrap() {
                scanned.push(r.to_vec());
            }
            assert_eq!(scanned, reference.values().cloned().collect::<Vec<_>>());
        }
        let empty = merge(None, &[]).unwrap();
        assert_eq!(empty.len(), 0);
        assert_eq!(empty.find(&[1; KEY], &mut [0; KEY]).unwrap(), None);
    }

    /// Records added in any order come out sorted through runs; `lower_bound` finds where
    /// each run of keys sharing a prefix starts, across blocks.
    #[test]
    fn builder_sorts_through_runs_and_lower_bound_finds_prefix_runs() {
        let rec_len = 41;
        let mut b = TableBuilder::new(None, rec_len, 700);
        let mut keys = Vec::new();
        // 500 groups of 1..=9 records sharing the first 24 bytes, told apart by the last 8.
        for g in 0..500u64 {
            for i in 0..(g % 9 + 1) {
                let mut r = vec![0u8; rec_len];
                r[..8].copy_from_slice(&(g.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 13).to_be_bytes());
                r[8..16].copy_from_slice(&g.to_be_bytes());
                r[24..32].copy_from_slice(&(1000 - i).to_be_bytes());
                keys.push(r[..KEY].to_vec());
                b.push(&r).unwrap();
            }
        }
        let table = b.finish().unwrap();
        keys.sort();
        assert_eq!(table.len(), keys.len() as u64);
        let mut out = vec![0u8; rec_len];
        for (pos, k) in keys.iter().enumerate() {
            table.read(pos as u64, &mut out).unwrap();
            assert_eq!(&out[..KEY], &k[..]);
        }
        for g in 0..500u64 {
            let mut probe = [0u8; KEY];
            probe[..24]
                .copy_from_slice(&keys.iter().find(|k| k[8..16] == g.to_be_bytes()).unwrap()[..24]);
            let start = keys.partition_point(|k| k[..] < probe[..]) as u64;
            assert_eq!(table.lower_bound(&probe).unwrap(), start, "group {g}");
        }
        assert_eq!(table.lower_bound(&[0xff; KEY]).unwrap(), table.len());
        assert_eq!(Table::empty(rec_len).lower_bound(&[0; KEY]).unwrap(), 0);
        assert!(table.read(table.len(), &mut out).is_err());
    }

    #[test]
    fn an_unusable_work_folder_is_named_in_the_error() {
        let missing = std::env::temp_dir().join("chatvault-no-such-folder-for-tables");
        let Err(e) = TableWriter::new(Some(&missing), KEY) else {
            panic!("a table in a missing folder");
        };
        let e = e.to_string();
        assert!(e.contains("chatvault-no-such-folder-for-tables"), "{e}");
    }
}
