//! Repository statistics.

use serde::Serialize;

use super::Repository;
use crate::error::Result;
use crate::progress::CancelToken;
use crate::storage::ObjectKind;

/// Sizes and counts of a repository.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepoStats {
    /// Snapshots.
    pub snapshots: u64,
    /// Packs stored.
    pub packs: u64,
    /// Bytes of all packs.
    pub stored_bytes: u64,
    /// Distinct blobs.
    pub blobs: u64,
    /// Plaintext bytes of the distinct blobs.
    pub unique_bytes: u64,
    /// Sum over snapshots of their file sizes (what restoring every snapshot would write).
    pub restore_bytes: u64,
    /// Bytes of the newest snapshot's files.
    pub latest_bytes: u64,
    /// restore_bytes / unique_bytes.
    pub dedup_ratio: f64,
    /// unique_bytes / stored_bytes.
    pub compression_ratio: f64,
    /// Blobs that no snapshot uses (freed by prune).
    pub unused_blobs: u64,
}

impl Repository {
    /// Computes statistics (walks every snapshot's trees).
    pub fn stats(&self) -> Result<RepoStats> {
        let (idx, _) = self.load_index(false)?;
        let snaps = self.snapshots()?;
        let stored_bytes: u64 = self
            .storage
            .list(ObjectKind::Pack)?
            .iter()
            .map(|o| o.size)
            .sum();
        let (unique, _) = idx.totals()?;
        let used = self.used_blobs(&idx, &CancelToken::new())?;
        let restore_bytes: u64 = snaps.iter().map(|s| s.summary.bytes).sum();
        Ok(RepoStats {
            snapshots: snaps.len() as u64,
            packs: idx.packs().len() as u64,
            stored_bytes,
            blobs: idx.blob_count() as u64,
            unique_bytes: unique,
            restore_bytes,
            latest_bytes: snaps.last().map(|s| s.summary.bytes).unwrap_or(0),
            dedup_ratio: if unique > 0 {
                restore_bytes as f64 / unique as f64
            } else {
                0.0
            },
            compression_ratio: if stored_bytes > 0 {
                unique as f64 / stored_bytes as f64
            } else {
                0.0
            },
            unused_blobs: (idx.blob_count() as u64).saturating_sub(used.count()),
        })
    }
}
