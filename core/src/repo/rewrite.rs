//! Rewriting a snapshot: its extra part (the chat layer's index and archive) replaced, all
//! else kept. The new snapshot is written before the old one is removed, so a crash in
//! between leaves both (the same backup twice), never neither.

use super::id::Id;
use super::snapshot::{ExtraMeta, Snapshot};
use super::Repository;
use crate::error::Result;

impl Repository {
    /// Replaces `old`'s extra metadata and tree (stored with
    /// [`Repository::store_extra_tree`]): writes the new snapshot, then removes `old`.
    /// When `existing` already holds a snapshot equal to the new one (a rewrite interrupted
    /// after writing it), that one is kept instead of writing it again. The caller holds
    /// the repository's exclusive lock.
    pub(crate) fn replace_extra(
        &self,
        old: &Snapshot,
        meta: ExtraMeta,
        tree: Id,
        existing: &[Snapshot],
    ) -> Result<Snapshot> {
        let mut new = old.clone();
        new.id = Id::default();
        new.extra = Some(meta);
        new.extra_tree = Some(tree);
        new.program = format!("chatvault {}", env!("CARGO_PKG_VERSION"));
        let same = existing.iter().find(|s| {
            s.id != old.id && {
                let mut s = (*s).clone();
                s.id = Id::default();
                s == new
            }
        });
        new.id = match same {
            Some(s) => s.id,
            None => self.save_snapshot(&new)?,
        };
        self.delete_snapshot(&old.id)?;
        Ok(new)
    }
}
