//! Looking inside a snapshot without restoring it: its entries under a path (`ls`, `find`),
//! one file's bytes (`dump`), and what changed between two snapshots (`diff`).

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use super::id::Id;
use super::index::Index;
use super::snapshot::Snapshot;
use super::tree::{Node, NodeKind, Tree, MAX_DEPTH};
use super::Repository;
use crate::error::{Error, Result};

/// One entry of a snapshot's tree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Its path in the snapshot, `/`-separated, starting with the backed-up path's name.
    pub path: String,
    /// File, directory or symbolic link.
    pub kind: NodeKind,
    /// Size in bytes (files).
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
}

/// How an entry differs between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Only in the newer snapshot.
    Added,
    /// Only in the older snapshot.
    Removed,
    /// In both, with other content or kind.
    Modified,
}

/// Fails for a path nested deeper than a snapshot may be (a forged one).
fn too_deep(prefix: &str) -> Result<()> {
    if segments(prefix).len() >= MAX_DEPTH {
        return Err(Error::corrupt(
            format!("tree at {prefix:.200}"),
            format!("nested deeper than {MAX_DEPTH} folders"),
        ));
    }
    Ok(())
}

/// A path split into its names; `""` and `"/"` are the root.
fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

impl Repository {
    /// Calls `f` for every entry at or below `path` in `snapshot` (`""`: everything), in
    /// name order, parents before children. Fails if `path` is not in the snapshot.
    pub fn walk_snapshot(
        &self,
        snapshot: &Snapshot,
        path: &str,
        mut f: impl FnMut(&Entry) -> Result<()>,
    ) -> Result<()> {
        let (index, _) = self.load_index(false)?;
        let wanted = segments(path);
        if wanted.is_empty() {
            let root = self.read_tree(&index, &snapshot.tree)?;
            return self.walk_tree(&index, &root, "", &mut f);
        }
        let node = self.node_at(&index, snapshot, path)?;
        let node_path = wanted.join("/");
        f(&entry(&node_path, &node))?;
        if let (NodeKind::Dir, Some(sub)) = (node.kind, node.subtree) {
            let tree = self.read_tree(&index, &sub)?;
            self.walk_tree(&index, &tree, &node_path, &mut f)?;
        }
        Ok(())
    }

    /// Calls `f` for every entry of the tree `root` (an extra tree), paths relative to it,
    /// in name order, parents before children.
    pub(crate) fn walk_tree_at(
        &self,
        root: &Id,
        mut f: impl FnMut(&Entry) -> Result<()>,
    ) -> Result<()> {
        let (index, _) = self.load_index(false)?;
        let tree = self.read_tree(&index, root)?;
        self.walk_tree(&index, &tree, "", &mut f)
    }

    fn walk_tree(
        &self,
        index: &Index,
        tree: &Tree,
        prefix: &str,
        f: &mut dyn FnMut(&Entry) -> Result<()>,
    ) -> Result<()> {
        too_deep(prefix)?;
        for node in &tree.nodes {
            let path = join(prefix, &node.name);
            f(&entry(&path, node))?;
            if let (NodeKind::Dir, Some(sub)) = (node.kind, node.subtree) {
                let child = self.read_tree(index, &sub)?;
                self.walk_tree(index, &child, &path, f)?;
            }
        }
        Ok(())
    }

    /// Writes the content of the file at `path` in `snapshot` to `out`; returns its size.
    pub fn dump(&self, snapshot: &Snapshot, path: &str, out: &mut dyn Write) -> Result<u64> {
        let (index, _) = self.load_index(false)?;
        let node = self.node_at(&index, snapshot, path)?;
        if node.kind != NodeKind::File {
            return Err(Error::InvalidArgument(format!(
                "{path} in snapshot {} is not a file",
                snapshot.id.short()
            )));
        }
        let mut written = 0u64;
        self.for_each_content(&index, &node, |ids| {
            for id in ids {
                let data = self.read_blob(&index, id)?;
                out.write_all(&data)
                    .map_err(|e| Error::io("write", "standard output", e))?;
                written += data.len() as u64;
            }
            Ok(())
        })?;
        out.flush()
            .map_err(|e| Error::io("write", "standard output", e))?;
        Ok(written)
    }

    /// The entries that differ between `old` and `new`, by path in name order: added,
    /// removed, or modified (other content, size or kind). Unchanged directories are not
    /// read: a subtree with the same id is the same.
    pub fn diff(&self, old: &Snapshot, new: &Snapshot) -> Result<Vec<(Change, Entry)>> {
        let (index, _) = self.load_index(false)?;
        let mut out = Vec::new();
        self.diff_trees(&index, Some(&old.tree), Some(&new.tree), "", &mut out)?;
        Ok(out)
    }

    fn diff_trees(
        &self,
        index: &Index,
        old: Option<&super::id::Id>,
        new: Option<&super::id::Id>,
        prefix: &str,
        out: &mut Vec<(Change, Entry)>,
    ) -> Result<()> {
        if old.is_some() && old == new {
            return Ok(());
        }
        too_deep(prefix)?;
        let read = |id: Option<&super::id::Id>| -> Result<Tree> {
            match id {
                Some(id) => self.read_tree(index, id),
                None => Ok(Tree::default()),
            }
        };
        let (a, b) = (read(old)?, read(new)?);
        let mut both: BTreeMap<&str, (Option<&Node>, Option<&Node>)> = BTreeMap::new();
        for n in &a.nodes {
            both.entry(&n.name).or_default().0 = Some(n);
        }
        for n in &b.nodes {
            both.entry(&n.name).or_default().1 = Some(n);
        }
        for (name, pair) in both {
            let path = join(prefix, name);
            match pair {
                (None, Some(n)) => {
                    out.push((Change::Added, entry(&path, n)));
                    self.diff_trees(index, None, n.subtree.as_ref(), &path, out)?;
                }
                (Some(o), None) => {
                    out.push((Change::Removed, entry(&path, o)));
                    self.diff_trees(index, o.subtree.as_ref(), None, &path, out)?;
                }
                (Some(o), Some(n)) => {
                    if o.kind != n.kind {
                        out.push((Change::Removed, entry(&path, o)));
                        out.push((Change::Added, entry(&path, n)));
                    } else if n.kind == NodeKind::Dir {
                        self.diff_trees(index, o.subtree.as_ref(), n.subtree.as_ref(), &path, out)?;
                        continue;
                    } else if o.size != n.size
                        || o.content != n.content
                        || o.content_lists != n.content_lists
                        || o.target != n.target
                    {
                        out.push((Change::Modified, entry(&path, n)));
                    } else {
                        continue;
                    }
                    if o.kind == NodeKind::Dir || n.kind == NodeKind::Dir {
                        self.diff_trees(index, o.subtree.as_ref(), n.subtree.as_ref(), &path, out)?;
                    }
                }
                (None, None) => {}
            }
        }
        Ok(())
    }

    fn node_at(&self, index: &Index, snapshot: &Snapshot, path: &str) -> Result<Node> {
        let wanted = segments(path);
        let mut tree = self.read_tree(index, &snapshot.tree)?;
        for (i, name) in wanted.iter().enumerate() {
            let node = tree
                .nodes
                .iter()
                .find(|n| n.name == *name)
                .cloned()
                .ok_or_else(|| not_in(snapshot, path))?;
            if i + 1 == wanted.len() {
                return Ok(node);
            }
            match node.subtree {
                Some(sub) if node.kind == NodeKind::Dir => tree = self.read_tree(index, &sub)?,
                _ => break,
            }
        }
        Err(not_in(snapshot, path))
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

fn entry(path: &str, node: &Node) -> Entry {
    Entry {
        path: path.to_string(),
        kind: node.kind,
        size: node.size,
        mtime_ns: node.mtime_ns,
    }
}

fn not_in(snapshot: &Snapshot, path: &str) -> Error {
    Error::InvalidArgument(format!(
        "no {path:?} in snapshot {} (see `chatvault ls {}`)",
        snapshot.id.short(),
        snapshot.id.short()
    ))
}
