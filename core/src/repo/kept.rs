//! Files kept from trees already stored: found by path in earlier snapshots' trees and laid
//! out in a new tree, so a snapshot keeps referencing files its backed-up folder no longer
//! has (the chat archive's media) without reading or storing them again.

use std::collections::BTreeMap;

use super::id::Id;
use super::index::Index;
use super::tree::{Node, NodeKind, Tree};
use super::Repository;
use crate::error::Result;

/// Files to keep: each path (`/`-separated, relative) is looked up in `from`'s trees in
/// order, and found files are laid out under a folder named `dir` of the extra tree.
#[derive(Debug, Clone, Default)]
pub struct KeptFiles {
    /// The folder's name in the extra tree.
    pub dir: String,
    /// Trees to look in, each with the folder inside it that the paths are relative to
    /// (`""`: its top); the first that has a path wins.
    pub from: Vec<(Id, String)>,
    /// The paths.
    pub paths: Vec<String>,
}

enum Entry {
    File(Node),
    Dir(BTreeMap<String, Entry>),
}

/// The files of a [`KeptFiles`] that were found, as the folder they make.
pub(crate) struct KeptTree {
    dir: String,
    root: BTreeMap<String, Entry>,
}

impl KeptTree {
    /// Saves the folder's trees with `save`; returns its node.
    pub(crate) fn save(self, save: &mut dyn FnMut(Tree) -> Result<Id>) -> Result<Node> {
        save_dir(&self.dir, self.root, save)
    }
}

/// Looks up `kept`'s paths; `None` when none of them was found.
pub(crate) fn find_kept(
    repo: &Repository,
    index: &Index,
    kept: &KeptFiles,
) -> Result<Option<KeptTree>> {
    let mut paths: Vec<&str> = kept.paths.iter().map(String::as_str).collect();
    paths.sort_unstable();
    paths.dedup();
    // The folder tree last read from each source, since sorted paths come folder by folder.
    let mut last: Vec<Option<(String, Tree)>> = kept.from.iter().map(|_| None).collect();
    let mut root = BTreeMap::new();
    let mut found = 0u64;
    for path in paths {
        let parts: Vec<&str> = path.split('/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            continue;
        }
        let (name, dirs) = parts.split_last().expect("split yields one part at least");
        let dir_key = dirs.join("/");
        let mut node = None;
        for (i, (from, under)) in kept.from.iter().enumerate() {
            if last[i].as_ref().map(|(k, _)| k) != Some(&dir_key) {
                let inside: Vec<&str> = under
                    .split('/')
                    .filter(|p| !p.is_empty())
                    .chain(dirs.iter().copied())
                    .collect();
                last[i] = folder(repo, index, from, &inside)?.map(|t| (dir_key.clone(), t));
            }
            if let Some((_, tree)) = &last[i] {
                node = tree
                    .nodes
                    .iter()
                    .find(|n| n.name == *name && n.kind == NodeKind::File && n.name_bytes.is_none())
                    .cloned();
            }
            if node.is_some() {
                break;
            }
        }
        let Some(node) = node else { continue };
        found += u64::from(insert(&mut root, dirs, name, node));
    }
    if found == 0 {
        return Ok(None);
    }
    Ok(Some(KeptTree {
        dir: kept.dir.clone(),
        root,
    }))
}

/// Puts a file at `dirs/name`; false if a file already stands where a folder would.
fn insert(at: &mut BTreeMap<String, Entry>, dirs: &[&str], name: &str, node: Node) -> bool {
    match dirs.split_first() {
        None => {
            at.insert(name.to_string(), Entry::File(node));
            true
        }
        Some((d, rest)) => match at
            .entry((*d).to_string())
            .or_insert_with(|| Entry::Dir(BTreeMap::new()))
        {
            Entry::Dir(m) => insert(m, rest, name, node),
            Entry::File(_) => false,
        },
    }
}

/// The tree of the folder at `dirs` under `root`, if there is one.
fn folder(repo: &Repository, index: &Index, root: &Id, dirs: &[&str]) -> Result<Option<Tree>> {
    let mut tree = match repo.read_tree(index, root) {
        Ok(t) => t,
        // A damaged or missing earlier tree keeps nothing; the backup goes on.
        Err(e) => {
            log::warn!("kept files: tree {} unreadable: {e}", root.short());
            return Ok(None);
        }
    };
    for d in dirs {
        let Some(sub) = tree
            .nodes
            .iter()
            .find(|n| n.name == *d && n.kind == NodeKind::Dir)
            .and_then(|n| n.subtree)
        else {
            return Ok(None);
        };
        tree = match repo.read_tree(index, &sub) {
            Ok(t) => t,
            Err(e) => {
                log::warn!("kept files: tree {} unreadable: {e}", sub.short());
                return Ok(None);
            }
        };
    }
    Ok(Some(tree))
}

fn save_dir(
    name: &str,
    entries: BTreeMap<String, Entry>,
    save: &mut dyn FnMut(Tree) -> Result<Id>,
) -> Result<Node> {
    let mut tree = Tree::default();
    for (n, e) in entries {
        tree.nodes.push(match e {
            Entry::File(mut node) => {
                node.name = n;
                node
            }
            Entry::Dir(m) => save_dir(&n, m, save)?,
        });
    }
    let mut node = Node::new(name.to_string(), NodeKind::Dir);
    node.mode = 0o755;
    node.subtree = Some(save(tree)?);
    Ok(node)
}
