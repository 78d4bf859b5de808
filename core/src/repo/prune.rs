//! Prune: delete data no snapshot references, under an exclusive lock.
//!
//! Order, chosen so a crash at any step loses nothing that a snapshot needs:
//! 1. repack the still-used blobs of mostly-unused packs into new packs (sealed bytes are
//!    copied after verification, not re-encrypted);
//! 2. write new index files covering every pack that stays;
//! 3. delete the old index files;
//! 4. delete unused and repacked packs.
//!
//! A crash after 2 leaves duplicate index entries (harmless); after 3, unindexed packs that
//! the next backup adopts and the next prune removes.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;

use super::id::Id;
use super::index::{self, Index, IndexedPack};
use super::lock;
use super::pack::PackBuilder;
use super::tree::NodeKind;
use super::Repository;
use crate::error::{Error, Result};
use crate::progress::{CancelToken, Phase, ProgressListener, Tracker};
use crate::storage::ObjectKind;

/// Options for prune.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Repack a pack when more than this fraction of its bytes is unused (0-1).
    pub repack_threshold: f64,
    /// How long to wait for running backups to finish.
    pub lock_wait: Duration,
    /// Only report what would be done.
    pub dry_run: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            repack_threshold: 0.2,
            lock_wait: Duration::from_secs(60),
            dry_run: false,
        }
    }
}

/// What prune did (or would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneSummary {
    /// Packs before.
    pub packs_before: u64,
    /// Packs deleted because nothing in them is used.
    pub packs_deleted: u64,
    /// Packs rewritten to drop unused blobs.
    pub packs_repacked: u64,
    /// New packs written by repacking.
    pub packs_written: u64,
    /// Blobs no longer referenced.
    pub blobs_removed: u64,
    /// Bytes freed (stored size).
    pub bytes_freed: u64,
    /// Bytes kept.
    pub bytes_kept: u64,
}

impl Repository {
    /// Collects every blob id reachable from every snapshot.
    /// Fails while a snapshot file is damaged: what only it uses cannot be known, and
    /// would be deleted.
    pub(crate) fn used_blobs(&self, idx: &Index, cancel: &CancelToken) -> Result<HashSet<Id>> {
        let (snapshots, damaged) = self.scan_snapshots()?;
        if let Some((name, reason)) = damaged.first() {
            return Err(Error::corrupt(
                format!("snapshots/{name}"),
                format!(
                    "{reason}. Nothing was pruned: the data only this snapshot uses cannot be \
                     told apart. Remove it with `chatvault forget {}` (or restore it from \
                     another copy of the repository), then prune again",
                    &name[..name.len().min(8)]
                ),
            ));
        }
        self.reachable_blobs(
            idx,
            snapshots.iter().flat_map(|s| s.roots()).collect(),
            cancel,
        )
    }

    /// Collects every blob id reachable from the given root trees.
    pub(crate) fn reachable_blobs(
        &self,
        idx: &Index,
        roots: Vec<Id>,
        cancel: &CancelToken,
    ) -> Result<HashSet<Id>> {
        let mut used = HashSet::new();
        let mut stack = roots;
        while let Some(t) = stack.pop() {
            cancel.check()?;
            if !used.insert(t) {
                continue;
            }
            let tree = self.read_tree(idx, &t)?;
            for n in &tree.nodes {
                match n.kind {
                    NodeKind::Dir => stack.extend(n.subtree),
                    NodeKind::File => {
                        used.extend(n.content_lists.iter().copied());
                        used.extend(self.content_ids(idx, n)?);
                    }
                    NodeKind::Symlink => {}
                }
            }
        }
        Ok(used)
    }

    /// Deletes unreferenced data. Waits for running backups (shared locks) up to
    /// `options.lock_wait`, then fails with [`Error::Locked`].
    pub fn prune(
        &self,
        options: &PruneOptions,
        listener: Option<&dyn ProgressListener>,
        cancel: &CancelToken,
    ) -> Result<PruneSummary> {
        let _lock = lock::acquire(&self.storage, true, "prune", options.lock_wait, cancel)?;
        let listed_index_files: Vec<String> = self
            .storage
            .list(ObjectKind::Index)?
            .into_iter()
            .map(|o| o.name)
            .collect();
        let (idx, old_index_files) = self.load_index(true)?;
        // Index files load_index passed over as damaged: their packs are indexed again from
        // their headers (in `old_index_files`' adopted file), so they go with the others.
        let damaged_index_files: Vec<&String> = listed_index_files
            .iter()
            .filter(|n| !old_index_files.contains(n))
            .collect();
        let used = self.used_blobs(&idx, cancel)?;
        let mut summary = PruneSummary {
            packs_before: idx.packs().len() as u64,
            ..Default::default()
        };

        // Decide per pack, reading headers from the index files again (entries per pack).
        let mut packs: Vec<IndexedPack> = Vec::new();
        for name in &old_index_files {
            let raw = self.storage.get(ObjectKind::Index, name)?;
            packs.extend(index::decode(name, &raw, &self.cipher)?);
        }
        let mut seen_pack = HashSet::new();
        packs.retain(|p| seen_pack.insert(p.id));
        let mut claimed: HashSet<Id> = HashSet::new();
        let mut keep: Vec<IndexedPack> = Vec::new();
        let mut repack: Vec<(IndexedPack, Vec<usize>)> = Vec::new();
        let mut delete: Vec<Id> = Vec::new();
        // Packs with the most used bytes claim shared blobs first.
        let used_bytes = |p: &IndexedPack| {
            p.entries
                .iter()
                .filter(|e| used.contains(&e.id))
                .map(|e| e.length as u64)
                .sum::<u64>()
        };
        packs.sort_by_key(|p| std::cmp::Reverse(used_bytes(p)));
        for p in packs {
            let live: Vec<usize> = (0..p.entries.len())
                .filter(|&i| used.contains(&p.entries[i].id) && claimed.insert(p.entries[i].id))
                .collect();
            let live_bytes: u64 = live.iter().map(|&i| p.entries[i].length as u64).sum();
            let total: u64 = p.entries.iter().map(|e| e.length as u64).sum();
            summary.blobs_removed +=
                p.entries.iter().filter(|e| !used.contains(&e.id)).count() as u64;
            if live.is_empty() {
                summary.bytes_freed += p.size;
                delete.push(p.id);
            } else if live.len() == p.entries.len()
                || (total - live_bytes) as f64 <= options.repack_threshold * total as f64
            {
                summary.bytes_kept += p.size;
                keep.push(p);
            } else {
                summary.bytes_freed += total - live_bytes;
                summary.bytes_kept += live_bytes;
                repack.push((p, live));
            }
        }
        summary.packs_deleted = delete.len() as u64;
        summary.packs_repacked = repack.len() as u64;
        if options.dry_run {
            return Ok(summary);
        }

        // 1. Repack.
        let mut tracker = Tracker::new(listener, Phase::Prune);
        tracker.p.files_total = repack.len() as u64;
        let mut builder = PackBuilder::default();
        for (p, live) in &repack {
            cancel.check()?;
            let bytes = self.storage.get(ObjectKind::Pack, &p.id.to_hex())?;
            for &i in live {
                let e = &p.entries[i];
                let sealed = e.slice(&p.id, &bytes)?;
                let loc = index::BlobLocation {
                    pack: p.id,
                    kind: e.kind,
                    offset: e.offset,
                    length: e.length,
                    raw_length: e.raw_length,
                };
                self.open_blob(&loc, &e.id, sealed)?;
                builder.add(e.kind, e.id, sealed, e.raw_length)?;
                if builder.len() >= self.config.pack_size as usize {
                    keep.push(self.store_pack(std::mem::take(&mut builder))?);
                    summary.packs_written += 1;
                }
            }
            delete.push(p.id);
            tracker.p.files_done += 1;
            tracker.report(false);
        }
        if !builder.is_empty() {
            keep.push(self.store_pack(builder)?);
            summary.packs_written += 1;
        }
        // 2. New index files, a bounded number of packs each.
        for chunk in keep.chunks(256) {
            let bytes = index::encode(chunk, &self.cipher)?;
            self.storage
                .put(ObjectKind::Index, &Id::of_bytes(&bytes).to_hex(), &bytes)?;
        }
        // 3. Old index files, damaged ones included.
        for name in old_index_files
            .iter()
            .chain(damaged_index_files.iter().copied())
        {
            self.storage.delete(ObjectKind::Index, name)?;
        }
        // 4. Unused packs.
        for id in &delete {
            self.storage.delete(ObjectKind::Pack, &id.to_hex())?;
        }
        self.storage.clean_temporary(Duration::from_secs(3600))?;
        lock::remove_stale(self.storage.as_ref())?;
        tracker.p.phase = Phase::Finished;
        tracker.report(true);
        Ok(summary)
    }

    fn store_pack(&self, builder: PackBuilder) -> Result<IndexedPack> {
        let done = builder.finish(&self.cipher)?;
        self.storage
            .put(ObjectKind::Pack, &done.id.to_hex(), &done.bytes)
            .map_err(Error::from)?;
        Ok(IndexedPack {
            id: done.id,
            size: done.bytes.len() as u64,
            entries: done.entries,
        })
    }
}
