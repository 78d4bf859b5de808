//! Prune: delete data no snapshot references, under an exclusive lock.
//!
//! Order, chosen so a crash at any step loses nothing that a snapshot needs:
//! 1. repack the still-used blobs of mostly-unused packs into new packs (sealed bytes are
//!    copied after verification, not re-encrypted) and write new index files covering
//!    every pack that stays, each file only after the packs it lists are stored;
//! 2. delete the old index files;
//! 3. delete unused and repacked packs.
//!
//! A crash during 1 leaves duplicate index entries (harmless); after 2, unindexed packs that
//! the next backup adopts and the next prune removes. Memory stays flat: used blobs are one
//! bit each over the on-disk index, index files are read one at a time (twice: first the
//! used bytes of each pack, then the decisions), and new index files are written as they
//! fill.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::Serialize;

use super::blob_marks::BlobMarks;
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
    /// Marks every blob reachable from every snapshot.
    /// Fails while a snapshot file is damaged: what only it uses cannot be known, and
    /// would be deleted.
    pub(crate) fn used_blobs(&self, idx: &Index, cancel: &CancelToken) -> Result<BlobMarks> {
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

    /// Marks every blob reachable from the given root trees (one bit a blob; reachable ids
    /// no pack holds are in [`BlobMarks::missing`]).
    pub(crate) fn reachable_blobs(
        &self,
        idx: &Index,
        roots: Vec<Id>,
        cancel: &CancelToken,
    ) -> Result<BlobMarks> {
        let mut used = BlobMarks::new(idx);
        let mut stack = roots;
        while let Some(t) = stack.pop() {
            cancel.check()?;
            if !used.insert(idx, t)? {
                continue;
            }
            let tree = self.read_tree(idx, &t)?;
            for n in &tree.nodes {
                match n.kind {
                    NodeKind::Dir => stack.extend(n.subtree),
                    NodeKind::File => {
                        for l in &n.content_lists {
                            used.insert(idx, *l)?;
                        }
                        self.for_each_content(idx, n, |ids| {
                            for id in ids {
                                used.insert(idx, *id)?;
                            }
                            Ok(())
                        })?;
                    }
                    NodeKind::Symlink => {}
                }
            }
        }
        Ok(used)
    }

    /// Calls `f` with each indexed pack of the given index files, once each, one file
    /// decoded at a time (so the packs' entries are never all in memory).
    fn for_each_indexed_pack(
        &self,
        idx: &Index,
        files: &[String],
        cancel: &CancelToken,
        mut f: impl FnMut(IndexedPack) -> Result<()>,
    ) -> Result<()> {
        let mut done = HashSet::new();
        for name in files {
            cancel.check()?;
            let raw = self.storage.get(ObjectKind::Index, name)?;
            for p in index::decode(name, &raw, &self.cipher)? {
                // Packs that no longer exist are left out of the index: dropped here.
                if idx.has_pack(&p.id) && done.insert(p.id) {
                    f(p)?;
                }
            }
        }
        Ok(())
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

        // Pass 1: each pack's used bytes, and which packs hold a second copy of a used blob
        // (the index sends readers to one copy; an interrupted backup can leave others).
        let mut used_bytes: HashMap<Id, u64> = HashMap::new();
        let mut copies: HashMap<Id, Vec<Id>> = HashMap::new();
        self.for_each_indexed_pack(&idx, &old_index_files, cancel, |p| {
            let mut bytes = 0;
            for e in &p.entries {
                if let Some((pos, loc)) = idx.lookup(&e.id)? {
                    if used.contains_at(pos) {
                        bytes += e.length as u64;
                        if loc.pack != p.id {
                            copies
                                .entry(e.id)
                                .or_insert_with(|| vec![loc.pack])
                                .push(p.id);
                        }
                    }
                }
            }
            used_bytes.insert(p.id, bytes);
            Ok(())
        })?;
        // A blob stored more than once is kept in the pack with the most used bytes.
        let owner: HashMap<Id, Id> = copies
            .into_iter()
            .filter_map(|(blob, packs)| {
                let best = packs
                    .into_iter()
                    .max_by_key(|p| used_bytes.get(p).copied().unwrap_or(0))?;
                Some((blob, best))
            })
            .collect();

        // Pass 2: keep, repack or delete each pack. Repacked blobs go into new packs and
        // every new index file lists only packs already stored, so a crash leaves at
        // worst duplicate index entries.
        let mut tracker = Tracker::new(listener, Phase::Prune);
        let mut new_index = NewIndex::default();
        let mut builder = PackBuilder::default();
        let mut delete: Vec<Id> = Vec::new();
        self.for_each_indexed_pack(&idx, &old_index_files, cancel, |p| {
            let mut live = Vec::new();
            for (i, e) in p.entries.iter().enumerate() {
                match idx.lookup(&e.id)? {
                    Some((pos, loc)) if used.contains_at(pos) => {
                        if owner.get(&e.id).copied().unwrap_or(loc.pack) == p.id {
                            live.push(i);
                        }
                    }
                    _ => summary.blobs_removed += 1,
                }
            }
            let live_bytes: u64 = live.iter().map(|&i| p.entries[i].length as u64).sum();
            let total: u64 = p.entries.iter().map(|e| e.length as u64).sum();
            if live.is_empty() {
                summary.bytes_freed += p.size;
                summary.packs_deleted += 1;
                delete.push(p.id);
            } else if live.len() == p.entries.len()
                || (total - live_bytes) as f64 <= options.repack_threshold * total as f64
            {
                summary.bytes_kept += p.size;
                if !options.dry_run {
                    new_index.add(self, p)?;
                }
            } else {
                summary.bytes_freed += total - live_bytes;
                summary.bytes_kept += live_bytes;
                summary.packs_repacked += 1;
                if !options.dry_run {
                    tracker.p.files_total += 1;
                    self.repack(&p, &live, &mut builder, &mut new_index, &mut summary)?;
                    delete.push(p.id);
                    tracker.p.files_done += 1;
                    tracker.report(false);
                }
            }
            Ok(())
        })?;
        if options.dry_run {
            return Ok(summary);
        }
        if !builder.is_empty() {
            new_index.add(self, self.store_pack(builder)?)?;
            summary.packs_written += 1;
        }
        new_index.flush(self)?;
        // Old index files, damaged ones included.
        for name in old_index_files
            .iter()
            .chain(damaged_index_files.iter().copied())
        {
            self.storage.delete(ObjectKind::Index, name)?;
        }
        // Unused and repacked packs.
        for id in &delete {
            self.storage.delete(ObjectKind::Pack, &id.to_hex())?;
        }
        self.storage.clean_temporary(Duration::from_secs(3600))?;
        lock::remove_stale(self.storage.as_ref())?;
        tracker.p.phase = Phase::Finished;
        tracker.report(true);
        Ok(summary)
    }

    /// Copies the `live` blobs of pack `p` (sealed bytes, verified first) into new packs.
    fn repack(
        &self,
        p: &IndexedPack,
        live: &[usize],
        builder: &mut PackBuilder,
        new_index: &mut NewIndex,
        summary: &mut PruneSummary,
    ) -> Result<()> {
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
                new_index.add(self, self.store_pack(std::mem::take(builder))?)?;
                summary.packs_written += 1;
            }
        }
        Ok(())
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

/// The packs that stay, written out as index files of a bounded size while prune goes.
#[derive(Default)]
struct NewIndex {
    packs: Vec<IndexedPack>,
    entries: usize,
}

impl NewIndex {
    /// Blobs listed per new index file (about 3 MB of entries in memory).
    const ENTRIES: usize = 64 * 1024;

    fn add(&mut self, repo: &Repository, pack: IndexedPack) -> Result<()> {
        self.entries += pack.entries.len();
        self.packs.push(pack);
        if self.entries >= Self::ENTRIES {
            self.flush(repo)?;
        }
        Ok(())
    }

    fn flush(&mut self, repo: &Repository) -> Result<()> {
        if self.packs.is_empty() {
            return Ok(());
        }
        let bytes = index::encode(&self.packs, &repo.cipher)?;
        repo.storage
            .put(ObjectKind::Index, &Id::of_bytes(&bytes).to_hex(), &bytes)?;
        self.packs.clear();
        self.entries = 0;
        Ok(())
    }
}
