//! One conversation restored: its media at their paths inside the source, and its messages
//! as JSON.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{open_chats, summary_of, ChatIndex, ChatSummary};
use crate::error::{Error, Result};
use crate::progress::{CancelToken, ProgressListener};
use crate::repo::id::Id;
use crate::repo::index::Index;
use crate::repo::restore::{RestoreOptions, RestoreSummary};
use crate::repo::snapshot::Snapshot;
use crate::repo::Repository;

/// Restores one conversation: its media files (at their paths inside the export, under
/// `target/<export name>/`) and its messages as `target/<conversation>.json`.
pub fn restore_conversation(
    repo: &Repository,
    snapshot: &Snapshot,
    conversation: &str,
    target: &Path,
    work_dir: Option<&Path>,
    listener: Option<&dyn ProgressListener>,
    cancel: &CancelToken,
) -> Result<RestoreSummary> {
    let summary = summary_of(&repo.full_snapshot(snapshot)?).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "snapshot {} is not of a chat export",
            snapshot.id.short()
        ))
    })?;
    let chats = open_chats(repo, snapshot, work_dir)?;
    if !chats.has_conversation(conversation)? {
        return Err(Error::InvalidArgument(format!(
            "no conversation {conversation:?} in snapshot {} (see `chats`)",
            snapshot.id.short()
        )));
    }
    let root = &summary.root;
    let media = SnapshotMedia::open(repo, snapshot, &summary)?;
    let root_is_file = media.root_is_file(root)?;
    let include: Vec<String> = if root_is_file {
        vec![root.clone()]
    } else {
        chats
            .media_paths(conversation)?
            .into_iter()
            .map(|p| format!("{root}/{p}"))
            .collect()
    };
    let mut result = if include.is_empty() {
        fs::create_dir_all(target).map_err(|e| Error::io("create", target, e))?;
        RestoreSummary::default()
    } else {
        media.restore(include, target, listener, cancel)?
    };
    if !root_is_file {
        super::encrypted_media::decrypt_restored(
            &chats,
            &target.join(root),
            &chats.media_paths(conversation)?,
        )?;
    }
    let json = target.join(format!("{}.json", safe_file_name(conversation)));
    write_messages_json(&chats, conversation, &json)?;
    result.files += 1;
    Ok(result)
}

/// Where a chat export's snapshot restores its files from: the export as the snapshot
/// holds it, and the snapshot's archive folder ([`super::ARCHIVE_DIR`]) for those the
/// export no longer had; the repository's index is loaded once for every restore.
pub struct SnapshotMedia<'a> {
    repo: &'a Repository,
    snapshot: &'a Snapshot,
    index: Index,
    archive: Option<Id>,
}

impl<'a> SnapshotMedia<'a> {
    /// Loads the repository's index and finds the snapshot's archive folder; `summary` is
    /// the snapshot's chat summary (which its caller has read whole).
    pub fn open(
        repo: &'a Repository,
        snapshot: &'a Snapshot,
        summary: &ChatSummary,
    ) -> Result<Self> {
        let (index, _) = repo.load_index(false)?;
        let archive = match snapshot.extra_tree {
            Some(extra) if summary.kept_media > 0 => {
                repo.subtree_at(&index, &extra, super::ARCHIVE_DIR)?
            }
            _ => None,
        };
        Ok(SnapshotMedia {
            repo,
            snapshot,
            index,
            archive,
        })
    }

    /// Whether the export `root` is a file (a zip) rather than a folder.
    pub fn root_is_file(&self, root: &str) -> Result<bool> {
        self.repo.root_is_file(&self.index, self.snapshot, root)
    }

    /// Restores files by path (`<export name>/<path>`, as [`RestoreOptions::include`])
    /// into `target`.
    pub fn restore(
        &self,
        include: Vec<String>,
        target: &Path,
        listener: Option<&dyn ProgressListener>,
        cancel: &CancelToken,
    ) -> Result<RestoreSummary> {
        let options = RestoreOptions { include };
        let (repo, index) = (self.repo, &self.index);
        let tree = &self.snapshot.tree;
        let mut result = repo.restore_tree_in(index, tree, target, &options, listener, cancel)?;
        if let Some(archive) = &self.archive {
            let kept = repo.restore_tree_in(index, archive, target, &options, listener, cancel)?;
            result.files += kept.files;
            result.dirs += kept.dirs;
            result.bytes += kept.bytes;
            result.damaged.extend(kept.damaged);
        }
        Ok(result)
    }
}

/// A conversation id made safe as a file name.
pub fn safe_file_name(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.').to_string();
    if s.is_empty() {
        "conversation".into()
    } else {
        s
    }
}

/// Writes a conversation's messages as a JSON array, streamed.
fn write_messages_json(chats: &ChatIndex, conversation: &str, path: &PathBuf) -> Result<()> {
    let file = fs::File::create(path).map_err(|e| Error::io("create", path, e))?;
    let mut w = std::io::BufWriter::new(file);
    let io = |e| Error::io("write", path, e);
    w.write_all(b"[\n").map_err(io)?;
    let mut first = true;
    chats.for_each_message(conversation, |m| {
        if !first {
            w.write_all(b",\n").map_err(io)?;
        }
        first = false;
        serde_json::to_writer(&mut w, &m)
            .map_err(|e| Error::internal_from("write a message as JSON", e))
    })?;
    w.write_all(b"\n]\n").map_err(io)?;
    w.flush().map_err(io)?;
    Ok(())
}
