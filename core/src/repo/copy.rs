//! Copying snapshots between repositories: each blob a snapshot needs and the target lacks
//! is read from the source (authenticated, decrypted), sealed with the target's keys and
//! written to the target's packs; the snapshot objects are written last, after the data and
//! its index are stored. An interrupted copy leaves finished packs that the next run adopts
//! (as a backup does), so it resumes without sending them again.
//!
//! Repositories copy between each other when they are *linked*: created with the same
//! chunker parameters and blob-id key ([`LinkParams`], `init --copy-chunker-params-from`),
//! so a blob has the same id in both and the target's index says what it already holds.

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::blob::BlobKind;
use super::blob_marks::BlobMarks;
use super::config::ChunkerParams;
use super::id::Id;
use super::index::{BlobLocation, Index};
use super::lock;
use super::snapshot::Snapshot;
use super::writer::BlobWriter;
use super::Repository;
use crate::error::{Error, Result};
use crate::progress::{CancelToken, Phase, ProgressListener, Tracker};

/// What a repository shares with the repositories linked to it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkParams {
    /// Chunking parameters (the secret seed included).
    pub chunker: ChunkerParams,
    /// Key of the keyed hash that names blobs (hex).
    pub id_key: String,
}

impl std::fmt::Debug for LinkParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkParams(<secret>)")
    }
}

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CopySummary {
    /// Snapshots written to the target.
    pub snapshots_copied: u64,
    /// Snapshots the target already had.
    pub snapshots_skipped: u64,
    /// Blobs sent to the target.
    pub blobs_copied: u64,
    /// Their plaintext bytes.
    pub bytes_copied: u64,
}

struct Copier<'a> {
    source: &'a Repository,
    src_index: Index,
    dst_index: Index,
    /// Blobs copied in this run and trees walked, one bit each over the source's index.
    seen: BlobMarks,
    walked: BlobMarks,
    writer: BlobWriter,
    tracker: Tracker<'a>,
    cancel: &'a CancelToken,
    summary: CopySummary,
}

impl Copier<'_> {
    /// Whether the target has blob `id`, or this run copied it.
    fn present(&self, id: &Id) -> Result<bool> {
        Ok(self.dst_index.contains(id)? || self.seen.contains(&self.src_index, id)?)
    }

    /// Reads blob `id` from the source.
    fn read(&self, id: &Id) -> Result<(Vec<u8>, BlobLocation)> {
        self.cancel.check()?;
        let loc = self.src_index.get(id)?.ok_or_else(|| {
            Error::corrupt(
                format!("blob {}", id.to_hex()),
                "needed by a snapshot but not in the source's index",
            )
        })?;
        Ok((self.source.read_blob(&self.src_index, id)?, loc))
    }

    /// Sends blob `id`, read from the source at `loc`, to the target.
    fn send(&mut self, id: &Id, loc: &BlobLocation, data: Vec<u8>) -> Result<()> {
        self.seen.insert(&self.src_index, *id)?;
        self.summary.blobs_copied += 1;
        self.summary.bytes_copied += data.len() as u64;
        self.tracker.p.bytes_done += data.len() as u64;
        self.tracker.report(false);
        // Compress in the target what was worth compressing in the source.
        let compress = loc.kind != BlobKind::Data || loc.length < loc.raw_length;
        self.writer.check()?;
        self.writer.add(loc.kind, *id, data, compress)
    }

    /// Copies blob `id` unless the target has it.
    fn blob(&mut self, id: &Id) -> Result<()> {
        self.cancel.check()?;
        if !self.present(id)? {
            let (data, loc) = self.read(id)?;
            self.send(id, &loc, data)?;
        }
        Ok(())
    }

    /// Reads blob `id` (a tree or a list, which must be read to be walked), hands it to
    /// `walk`, then copies it unless the target has it: the blob is held once, not cloned
    /// for the target while it is walked (a folder's tree can be megabytes).
    fn walked_blob<T>(&mut self, id: &Id, parse: impl FnOnce(&[u8]) -> Result<T>) -> Result<T> {
        let present = self.present(id)?;
        let (data, loc) = self.read(id)?;
        let parsed = parse(&data)?;
        if !present {
            self.send(id, &loc, data)?;
        }
        Ok(parsed)
    }

    /// Walks a tree, copying what the target lacks. Trees the target has are walked too:
    /// an interrupted run may have stored a tree before all of its content.
    fn tree(&mut self, id: &Id) -> Result<()> {
        if !self.walked.insert(&self.src_index, *id)? {
            return Ok(());
        }
        let tree: super::tree::Tree = self.walked_blob(id, |data| {
            serde_json::from_slice(data)
                .map_err(|e| Error::corrupt(format!("tree {}", id.to_hex()), e.to_string()))
        })?;
        for node in &tree.nodes {
            if let Some(sub) = &node.subtree {
                self.tree(sub)?;
            }
            for c in &node.content {
                self.blob(c)?;
            }
            for l in &node.content_lists {
                let ids = self.walked_blob(l, |list| {
                    super::tree::parse_list(list).ok_or_else(|| {
                        Error::corrupt(
                            format!("list {}", l.to_hex()),
                            "length is not a multiple of 32",
                        )
                    })
                })?;
                for c in &ids {
                    self.blob(c)?;
                }
            }
        }
        Ok(())
    }
}

impl Repository {
    /// The parameters a linked repository must share with this one.
    pub fn link_params(&self) -> LinkParams {
        LinkParams {
            chunker: self.config.chunker,
            id_key: self.config.id_key.clone(),
        }
    }

    /// Copies `snapshots` of this repository, and exactly the data they need, into
    /// `target` (a linked repository, see [`LinkParams`]). Snapshots the target already
    /// holds are skipped, so a second run sends nothing.
    pub fn copy_to(
        &self,
        target: &Repository,
        snapshots: &[Snapshot],
        listener: Option<&dyn ProgressListener>,
        cancel: &CancelToken,
    ) -> Result<CopySummary> {
        if self.config.id_key != target.config.id_key
            || self.config.chunker != target.config.chunker
        {
            return Err(Error::InvalidArgument(format!(
                "{} and {} are not linked; create the destination with `init --copy-chunker-params-from` so copies share data",
                self.storage.location(),
                target.storage.location()
            )));
        }
        let wait = Duration::from_secs(60);
        let _src_lock = lock::acquire(&self.storage, false, "copy", wait, cancel)?;
        let _dst_lock = lock::acquire(&target.storage, false, "copy", wait, cancel)?;
        let (src_index, _) = self.load_index(false)?;
        let (dst_index, dst_files) = target.load_index(true)?;
        let have: HashSet<Id> = target
            .snapshots()?
            .iter()
            .flat_map(|s| [Some(s.id), s.original])
            .flatten()
            .collect();
        let mut tracker = Tracker::new(listener, Phase::Backup);
        tracker.p.bytes_total = snapshots.iter().map(|s| s.summary.bytes).sum();
        let writer = target.start_writer(0)?;
        let mut c = Copier {
            source: self,
            seen: BlobMarks::new(&src_index),
            walked: BlobMarks::new(&src_index),
            src_index,
            dst_index,
            writer,
            tracker,
            cancel,
            summary: CopySummary::default(),
        };
        let mut todo = Vec::new();
        let walked = (|| {
            for s in snapshots {
                // A copy of a copy is the same snapshot: compare by the original too.
                if have.contains(&s.id) || s.original.is_some_and(|o| have.contains(&o)) {
                    c.summary.snapshots_skipped += 1;
                    continue;
                }
                for root in s.roots() {
                    c.tree(&root)?;
                }
                todo.push(s.clone());
            }
            Ok(())
        })();
        let Copier {
            writer,
            mut summary,
            mut tracker,
            ..
        } = c;
        if let Err(e) = walked {
            // Finished packs get indexed: the next run reuses them.
            let _ = writer.finish(false);
            return Err(e);
        }
        writer.finish(true)?;
        for s in &todo {
            let roots = s.roots();
            target.verify_reused_data_survived(&dst_files, roots, cancel)?;
            // A listing's snapshot lacks its chat summary: the copy takes it whole.
            let mut copy = self.full_snapshot(s)?;
            copy.original = Some(s.original.unwrap_or(s.id));
            copy.parent = None;
            target.save_snapshot(&copy)?;
            summary.snapshots_copied += 1;
        }
        tracker.p.phase = Phase::Finished;
        tracker.report(true);
        Ok(summary)
    }
}
