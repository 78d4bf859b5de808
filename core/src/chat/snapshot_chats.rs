//! A snapshot's chats: its chat index restored into a private temporary folder and opened.

use std::path::Path;

use super::{ChatIndex, MessageScope, INDEX_FILE};
use crate::error::{Error, Result};
use crate::progress::CancelToken;
use crate::repo::id::Id;
use crate::repo::restore::{RestoreOptions, RestoreSummary};
use crate::repo::snapshot::Snapshot;
use crate::repo::Repository;
use crate::temp::private_temp_dir;

/// A snapshot's chat index, restored into a private temporary folder (removed on drop).
pub struct SnapshotChats {
    index: ChatIndex,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for SnapshotChats {
    type Target = ChatIndex;
    fn deref(&self) -> &ChatIndex {
        &self.index
    }
}

/// Restores a snapshot's chat index into a private temporary folder and opens it: every
/// message ever backed up (the archive too).
pub fn open_chats(
    repo: &Repository,
    snapshot: &Snapshot,
    work_dir: Option<&Path>,
) -> Result<SnapshotChats> {
    open_chats_scoped(repo, snapshot, work_dir, MessageScope::Everything)
}

/// [`open_chats`], showing the messages `scope` names.
pub fn open_chats_scoped(
    repo: &Repository,
    snapshot: &Snapshot,
    work_dir: Option<&Path>,
    scope: MessageScope,
) -> Result<SnapshotChats> {
    let Some(tree) = snapshot.extra_tree else {
        return Err(Error::InvalidArgument(format!(
            "snapshot {} holds no chat index (it is a {} backup)",
            snapshot.id.short(),
            snapshot.source.kind
        )));
    };
    let dir = private_temp_dir(work_dir)?;
    restore_index(repo, &tree, dir.path(), &CancelToken::new())?;
    let index = ChatIndex::open_scoped(&dir.path().join(INDEX_FILE), scope)?;
    Ok(SnapshotChats { index, _dir: dir })
}

/// Restores the chat index file ([`INDEX_FILE`]) of a snapshot's extra tree into `dir`.
pub(crate) fn restore_index(
    repo: &Repository,
    tree: &Id,
    dir: &Path,
    cancel: &CancelToken,
) -> Result<RestoreSummary> {
    repo.restore_tree(
        tree,
        dir,
        &RestoreOptions {
            include: vec![INDEX_FILE.into()],
        },
        None,
        cancel,
    )
}
