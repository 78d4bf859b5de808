//! A set of blob ids that grows with the data in flat memory: a sorted array (32 bytes an
//! id) searched by binary search plus a small hash set of ids added since the last merge,
//! and, past [`IN_MEMORY`] ids, sorted runs on disk ([`disk_table`](super::disk_table))
//! merged so that there are only a few. A plain `HashSet<Id>` of a 10 GB backup's 1.4 M new
//! blobs reserved room for 2 M and held both tables while it grew: 70-100 MB at its peak;
//! this holds at most 4 MiB whatever the size.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::disk_table::{self, Table, KEY};
use super::id::Id;
use crate::error::Result;

/// Ids added since the last merge, before they are merged into the sorted array.
const RECENT: usize = 4096;
/// Ids held in memory (4 MiB) before they are written to a run on disk. 8 MiB (256 Ki ids)
/// was a seventh of a 3 GB export's full-backup peak (heaptrack), and the 10 GB one broke
/// the 64 MiB budget; halving it
/// adds one run on disk to search, made no measured difference to the 3 GB full backup's
/// time, and took 4-5 MiB off its peak.
const IN_MEMORY: usize = 128 * 1024;

/// A set of ids; see the module documentation.
pub struct IdSet {
    dir: Option<PathBuf>,
    sorted: Vec<Id>,
    recent: HashSet<Id>,
    /// Runs on disk, largest first; each is at least twice the size of the next.
    runs: Vec<Table>,
    in_memory: usize,
}

impl IdSet {
    /// An empty set whose runs on disk go to `work_dir` (else the system's temporary
    /// folder).
    pub fn new(work_dir: Option<&Path>) -> IdSet {
        IdSet {
            dir: work_dir.map(Path::to_path_buf),
            sorted: Vec::new(),
            recent: HashSet::new(),
            runs: Vec::new(),
            in_memory: IN_MEMORY,
        }
    }

    /// True if `id` is in the set.
    pub fn contains(&self, id: &Id) -> Result<bool> {
        if self.recent.contains(id) || self.sorted.binary_search(id).is_ok() {
            return Ok(true);
        }
        let mut rec = [0u8; KEY];
        for run in &self.runs {
            if run.find(&id.0, &mut rec)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Adds `id`; true if it was not there yet.
    pub fn insert(&mut self, id: Id) -> Result<bool> {
        if self.contains(&id)? {
            return Ok(false);
        }
        self.recent.insert(id);
        if self.recent.len() >= RECENT + self.sorted.len() / 8 {
            self.merge();
            if self.sorted.len() >= self.in_memory.max(1) {
                self.spill()?;
            }
        }
        Ok(true)
    }

    /// Merges the recent ids into the sorted array, in place from its end (no second
    /// array: memory stays one id per id).
    fn merge(&mut self) {
        let mut add: Vec<Id> = self.recent.drain().collect();
        add.sort_unstable();
        let (mut i, mut j) = (self.sorted.len(), add.len());
        self.sorted.resize(i + j, Id::default());
        let mut k = i + j;
        while j > 0 {
            k -= 1;
            if i > 0 && self.sorted[i - 1] > add[j - 1] {
                self.sorted[k] = self.sorted[i - 1];
                i -= 1;
            } else {
                self.sorted[k] = add[j - 1];
                j -= 1;
            }
        }
        self.recent.shrink_to(RECENT);
    }

    /// Writes the sorted array to a run on disk; merges the smallest runs while one is not
    /// at least twice the size of the next (so there are at most log₂ of them, and each id
    /// is rewritten a logarithmic number of times).
    fn spill(&mut self) -> Result<()> {
        let mut w = disk_table::TableWriter::new(self.dir.as_deref(), KEY)?;
        for id in &self.sorted {
            w.push(&id.0)?;
        }
        self.runs.push(w.finish()?);
        self.sorted = Vec::new();
        while self.runs.len() >= 2 {
            let n = self.runs.len();
            if self.runs[n - 2].len() >= 2 * self.runs[n - 1].len() {
                break;
            }
            let last = self.runs.split_off(n - 2);
            self.runs
                .push(disk_table::merge(self.dir.as_deref(), &last)?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_hash_set_across_merges() {
        let mut set = IdSet::new(None);
        // Spill to disk every few thousand ids, so runs and their merges are exercised.
        set.in_memory = 5000;
        let mut reference = HashSet::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..60_000u64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Every third id repeats an earlier one, some long merged, some recent.
            let n = if round % 3 == 0 {
                seed % (round + 1)
            } else {
                seed
            };
            let mut id = Id::default();
            id.0[..8].copy_from_slice(&n.to_be_bytes());
            id.0[31] = (n % 251) as u8;
            assert_eq!(
                set.insert(id).unwrap(),
                reference.insert(id),
                "round {round}"
            );
            assert!(set.contains(&id).unwrap());
        }
        let on_disk: u64 = set.runs.iter().map(|r| r.len()).sum();
        assert_eq!(
            set.sorted.len() + set.recent.len() + on_disk as usize,
            reference.len()
        );
        assert!(
            set.sorted.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicates"
        );
        assert!(
            set.runs.len() >= 2,
            "several runs on disk: {}",
            set.runs.len()
        );
        assert!(
            set.runs.windows(2).all(|w| w[0].len() >= 2 * w[1].len()),
            "each run at least twice the next"
        );
        for id in &reference {
            assert!(set.contains(id).unwrap());
        }
        let absent = Id([0xff; 32]);
        assert!(!set.contains(&absent).unwrap());
    }
}
