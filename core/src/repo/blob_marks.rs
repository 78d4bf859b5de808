//! A mark per blob of a repository (used by a snapshot, claimed by a pack, copied): one bit
//! at the blob's position in the [`Index`], plus the ids of marked blobs no pack holds. A
//! set of ids took about 40 bytes a blob; this takes one bit.

use std::collections::HashSet;

use super::id::Id;
use super::index::Index;
use crate::error::Result;

/// Marked blobs; see the module documentation.
pub(crate) struct BlobMarks {
    bits: Vec<u64>,
    missing: HashSet<Id>,
}

impl BlobMarks {
    /// No blob of `index` marked.
    pub(crate) fn new(index: &Index) -> BlobMarks {
        BlobMarks {
            bits: vec![0; index.blob_count().div_ceil(64)],
            missing: HashSet::new(),
        }
    }

    /// Marks `id`; true if it was not marked yet.
    pub(crate) fn insert(&mut self, index: &Index, id: Id) -> Result<bool> {
        Ok(match index.position(&id)? {
            Some(i) => self.insert_at(i),
            None => self.missing.insert(id),
        })
    }

    /// Marks the blob at position `i` of the index; true if it was not marked yet.
    pub(crate) fn insert_at(&mut self, i: usize) -> bool {
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        let fresh = self.bits[word] & bit == 0;
        self.bits[word] |= bit;
        fresh
    }

    /// True if `id` is marked.
    pub(crate) fn contains(&self, index: &Index, id: &Id) -> Result<bool> {
        Ok(match index.position(id)? {
            Some(i) => self.contains_at(i),
            None => self.missing.contains(id),
        })
    }

    /// True if the blob at position `i` of the index is marked.
    pub(crate) fn contains_at(&self, i: usize) -> bool {
        self.bits[i / 64] & (1 << (i % 64)) != 0
    }

    /// Marked blobs that no pack holds.
    pub(crate) fn missing(&self) -> &HashSet<Id> {
        &self.missing
    }

    /// Number of marked blobs.
    pub(crate) fn count(&self) -> u64 {
        self.bits
            .iter()
            .map(|w| u64::from(w.count_ones()))
            .sum::<u64>()
            + self.missing.len() as u64
    }
}
