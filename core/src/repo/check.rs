//! Check: is every snapshot complete and every stored byte what was written?
//!
//! Structure: key slots, config, index files, snapshots and trees decode and authenticate;
//! every blob a snapshot references is in some indexed pack; every indexed pack exists with
//! its indexed size. Read-back (all packs, or a random percentage): each pack's bytes hash
//! to its name, its header matches the index, and every blob authenticates and hashes to
//! its id. Problems are collected (each naming its object), not fatal.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use super::blob_marks::BlobMarks;
use super::id::Id;
use super::index::{self, Index, IndexedPack};
use super::tree::{NodeKind, MAX_DEPTH};
use super::Repository;
use crate::error::{Error, Result};
use crate::progress::{CancelToken, Phase, ProgressListener, Tracker};
use crate::storage::ObjectKind;

/// How much data to read back.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ReadData {
    /// Structure only.
    #[default]
    None,
    /// Every pack.
    All,
    /// A random sample of this percentage of packs (0-100).
    Subset(f64),
}

/// The outcome of a check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// Snapshots checked.
    pub snapshots: u64,
    /// Distinct trees walked.
    pub trees: u64,
    /// Distinct blobs referenced by snapshots.
    pub blobs_referenced: u64,
    /// Indexed packs.
    pub packs: u64,
    /// Packs read back.
    pub packs_read: u64,
    /// Bytes read back.
    pub bytes_read: u64,
    /// Problems found; empty means the repository is sound.
    pub errors: Vec<String>,
    /// Things worth knowing that do not endanger data.
    pub warnings: Vec<String>,
}

impl CheckReport {
    /// True when no error was found.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

impl Repository {
    /// Checks the repository; see the module documentation.
    pub fn check(
        &self,
        read_data: ReadData,
        listener: Option<&dyn ProgressListener>,
        cancel: &CancelToken,
    ) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        if let Err(e) = self.keys() {
            report.errors.push(e.to_string());
        }
        // Index files, each on its own so one bad file does not hide the others.
        let mut idx = Index::builder(self.work_dir());
        let mut indexed: HashMap<Id, u64> = HashMap::new();
        let stored: HashMap<Id, u64> = self
            .storage
            .list(ObjectKind::Pack)?
            .into_iter()
            .filter_map(|o| Id::from_hex(&o.name).map(|id| (id, o.size)))
            .collect();
        for o in self.storage.list(ObjectKind::Index)? {
            cancel.check()?;
            let decoded = self
                .storage
                .get(ObjectKind::Index, &o.name)
                .map_err(Error::from)
                .and_then(|raw| index::decode(&o.name, &raw, &self.cipher));
            match decoded {
                Ok(packs) => {
                    for p in packs {
                        // Blobs count as present only in packs that exist: a snapshot
                        // needing a blob of a vanished pack is reported below.
                        if stored.contains_key(&p.id) {
                            idx.add_pack(&p)?;
                        }
                        indexed.insert(p.id, p.size);
                    }
                }
                Err(e) => report.errors.push(e.to_string()),
            }
        }
        let idx = idx.finish()?;
        report.packs = indexed.len() as u64;
        for (id, size) in &indexed {
            match stored.get(id) {
                None => report.warnings.push(format!(
                    "pack data/{} is listed in the index but missing; snapshots that need its blobs are reported as errors, prune drops the entry",
                    id.to_hex()
                )),
                Some(s) if s != size => report.errors.push(format!(
                    "pack data/{} is {s} bytes, the index says {size}",
                    id.to_hex()
                )),
                _ => {}
            }
        }
        let orphans = stored.keys().filter(|id| !indexed.contains_key(id)).count();
        if orphans > 0 {
            report.warnings.push(format!("{orphans} pack(s) not in any index (left by an interrupted backup; the next backup reuses them, prune removes unused ones)"));
        }

        // Snapshots and their trees.
        let mut seen_trees = HashSet::new();
        let mut referenced = BlobMarks::new(&idx);
        for o in self.storage.list(ObjectKind::Snapshot)? {
            cancel.check()?;
            match self.load_snapshot(&o.name) {
                Ok(s) => {
                    report.snapshots += 1;
                    for root in s.roots() {
                        self.check_tree(
                            &idx,
                            &root,
                            &format!("snapshot {}", s.id.short()),
                            &mut seen_trees,
                            &mut referenced,
                            &mut report,
                            cancel,
                            0,
                        )?;
                    }
                }
                Err(e) => report.errors.push(e.to_string()),
            }
        }
        report.trees = seen_trees.len() as u64;
        report.blobs_referenced = referenced.count();

        // Read-back.
        let mut packs: Vec<(Id, u64)> = indexed
            .iter()
            .filter(|(id, _)| stored.contains_key(id))
            .map(|(i, s)| (*i, *s))
            .collect();
        packs.sort();
        let chosen: Vec<(Id, u64)> = match read_data {
            ReadData::None => Vec::new(),
            ReadData::All => packs,
            ReadData::Subset(pct) => {
                let pct = pct.clamp(0.0, 100.0);
                let n = ((packs.len() as f64) * pct / 100.0).ceil() as usize;
                // Random order: sort by a random key so every run samples other packs.
                let salt: [u8; 32] = super::crypto::random_bytes()?;
                let mut keyed: Vec<_> = packs
                    .into_iter()
                    .map(|p| (blake3::keyed_hash(&salt, &p.0 .0), p))
                    .collect();
                keyed.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                keyed.into_iter().take(n).map(|(_, p)| p).collect()
            }
        };
        let mut tracker = Tracker::new(listener, Phase::Check);
        tracker.p.files_total = chosen.len() as u64;
        tracker.p.bytes_total = chosen.iter().map(|p| p.1).sum();
        // Each chosen pack is read back against its header as an index file states it.
        // Index files are decoded again, one at a time, rather than keeping every pack's
        // header in memory since the first pass (that grew with the repository).
        let mut pending: HashMap<Id, u64> = chosen.into_iter().collect();
        if !pending.is_empty() {
            for o in self.storage.list(ObjectKind::Index)? {
                let Ok(packs) = self
                    .storage
                    .get(ObjectKind::Index, &o.name)
                    .map_err(Error::from)
                    .and_then(|raw| index::decode(&o.name, &raw, &self.cipher))
                else {
                    continue; // reported by the first pass
                };
                let mine: Vec<(IndexedPack, u64)> = packs
                    .into_iter()
                    .filter_map(|p| pending.remove(&p.id).map(|size| (p, size)))
                    .collect();
                self.read_back_all(&mine, &mut report, &mut tracker, cancel)?;
                if pending.is_empty() {
                    break;
                }
            }
        }
        tracker.p.phase = Phase::Finished;
        tracker.report(true);
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    fn check_tree(
        &self,
        idx: &Index,
        id: &Id,
        context: &str,
        seen: &mut HashSet<Id>,
        referenced: &mut BlobMarks,
        report: &mut CheckReport,
        cancel: &CancelToken,
        depth: usize,
    ) -> Result<()> {
        if depth >= MAX_DEPTH {
            report.errors.push(format!(
                "tree {} ({context}) is nested deeper than {MAX_DEPTH} folders: not followed",
                id.to_hex()
            ));
            return Ok(());
        }
        if !seen.insert(*id) {
            return Ok(());
        }
        cancel.check()?;
        referenced.insert(idx, *id)?;
        let tree = match self.read_tree(idx, id) {
            Ok(t) => t,
            Err(e) => {
                report.errors.push(format!("{e} (referenced by {context})"));
                return Ok(());
            }
        };
        // Names restore would refuse, and names twice in one folder (a forged snapshot).
        let mut names = HashSet::new();
        for n in &tree.nodes {
            if let Err(e) = n.safe_name() {
                report
                    .errors
                    .push(format!("tree {} ({context}): {e}", id.to_hex()));
            }
            if !names.insert(n.name_bytes.as_deref().unwrap_or(&n.name)) {
                report.errors.push(format!(
                    "tree {} ({context}): {:?} is listed twice",
                    id.to_hex(),
                    n.name
                ));
            }
            if n.mode & 0o7000 != 0 {
                report.warnings.push(format!(
                    "tree {} ({context}): {:?} has setuid, setgid or sticky bits (restore leaves them out)",
                    id.to_hex(),
                    n.name
                ));
            }
            match n.kind {
                NodeKind::Dir => match n.subtree {
                    Some(sub) => self.check_tree(
                        idx,
                        &sub,
                        context,
                        seen,
                        referenced,
                        report,
                        cancel,
                        depth + 1,
                    )?,
                    None => report.errors.push(format!(
                        "tree {}: directory {:?} has no subtree",
                        id.to_hex(),
                        n.name
                    )),
                },
                NodeKind::File => {
                    for l in &n.content_lists {
                        referenced.insert(idx, *l)?;
                    }
                    let walked = self.for_each_content(idx, n, |ids| {
                        for b in ids {
                            if !idx.contains(b)? {
                                report.errors.push(format!(
                                    "blob {} of file {:?} (tree {}, {context}) is in no indexed pack",
                                    b.to_hex(),
                                    n.name,
                                    id.short()
                                ));
                            }
                            referenced.insert(idx, *b)?;
                        }
                        Ok(())
                    });
                    if let Err(e) = walked {
                        report.errors.push(format!(
                            "{e} (content list of {:?} in tree {})",
                            n.name,
                            id.short()
                        ));
                    }
                }
                NodeKind::Symlink => {}
            }
        }
        Ok(())
    }

    /// Reads back `packs` on worker threads (one per core, at most four, each holding one
    /// pack); problems are reported in the order of `packs`.
    fn read_back_all(
        &self,
        packs: &[(IndexedPack, u64)],
        report: &mut CheckReport,
        tracker: &mut Tracker,
        cancel: &CancelToken,
    ) -> Result<()> {
        let workers = super::reading_threads().min(packs.len().max(1));
        let next = AtomicUsize::new(0);
        let (done_tx, done_rx) = crossbeam_channel::unbounded::<(usize, Vec<String>)>();
        let mut found: Vec<Option<Vec<String>>> = vec![None; packs.len()];
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let (next, done) = (&next, done_tx.clone());
                scope.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((p, size)) = packs.get(i) else { break };
                    if cancel.is_cancelled() {
                        break;
                    }
                    let mut errors = Vec::new();
                    self.read_back(&p.id, *size, &p.entries, &mut errors);
                    if done.send((i, errors)).is_err() {
                        break;
                    }
                });
            }
            drop(done_tx);
            for (i, errors) in done_rx {
                let (p, size) = &packs[i];
                tracker.p.current = format!("data/{}", p.id.to_hex());
                tracker.p.files_done += 1;
                tracker.p.bytes_done += size;
                tracker.report(false);
                found[i] = Some(errors);
            }
        });
        cancel.check()?;
        for ((_, size), errors) in packs.iter().zip(found) {
            report.errors.extend(errors.unwrap_or_default());
            report.packs_read += 1;
            report.bytes_read += size;
        }
        Ok(())
    }

    fn read_back(
        &self,
        id: &Id,
        size: u64,
        indexed: &[super::pack::PackEntry],
        errors: &mut Vec<String>,
    ) {
        let name = format!("data/{}", id.to_hex());
        let bytes = match self.storage.get(ObjectKind::Pack, &id.to_hex()) {
            Ok(b) => b,
            Err(e) => {
                errors.push(e.to_string());
                return;
            }
        };
        if Id::of_bytes(&bytes) != *id {
            errors.push(format!(
                "pack {name}: content does not match its name (the stored bytes were modified)"
            ));
        }
        if bytes.len() as u64 != size {
            errors.push(format!(
                "pack {name} is {} bytes, the index says {size}",
                bytes.len()
            ));
        }
        let entries = match super::pack::parse_header(id, bytes.len() as u64, &bytes, &self.cipher)
        {
            Ok(e) => e,
            Err(e) => {
                errors.push(e.to_string());
                return;
            }
        };
        if entries.as_slice() != indexed {
            errors.push(format!("pack {name}: header does not match the index"));
        }
        // Each blob is decoded into the same buffer (verified, then dropped).
        let mut plain = Vec::new();
        for e in &entries {
            plain.clear();
            let loc = super::index::BlobLocation {
                pack: *id,
                kind: e.kind,
                offset: e.offset,
                length: e.length,
                raw_length: e.raw_length,
            };
            if let Err(err) = e
                .slice(id, &bytes)
                .and_then(|sealed| self.open_blob_append(&loc, &e.id, sealed, &mut plain))
            {
                errors.push(err.to_string());
            }
        }
    }
}
