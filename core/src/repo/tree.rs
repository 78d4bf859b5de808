//! Trees: one JSON blob per directory, listing its entries sorted by name.
//!
//! A file's content is the list of its blob ids in order. Up to [`INLINE_IDS`] ids are kept
//! in the node; longer lists (a database of 58,000 pages) are cut into list blobs of
//! [`IDS_PER_LIST`] ids each, which deduplicate like any blob: a database whose pages
//! changed in a few regions stores only the list blobs of those regions again.

use serde::{Deserialize, Serialize};

use super::chunker::Chunking;
use super::id::Id;
use crate::error::{Error, Result};

/// At most this many content ids are stored inline in a file node.
pub const INLINE_IDS: usize = 64;
/// Content ids per list blob.
pub const IDS_PER_LIST: usize = 256;

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// File name (UTF-8; see `name_bytes` for names that are not).
    pub name: String,
    /// The exact name bytes, hex, when the name is not valid UTF-8 (Unix only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_bytes: Option<String>,
    /// Kind of entry.
    pub kind: NodeKind,
    /// Size in bytes (files).
    #[serde(default)]
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    #[serde(default)]
    pub mtime_ns: i64,
    /// Permission bits (Unix mode & 0o7777).
    #[serde(default)]
    pub mode: u32,
    /// How the content was chunked (files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunking: Option<Chunking>,
    /// Content blob ids, when there are at most [`INLINE_IDS`].
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "exact_ids"
    )]
    pub content: Vec<Id>,
    /// List blobs holding the content ids, for longer files.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "exact_ids"
    )]
    pub content_lists: Vec<Id>,
    /// The directory's tree blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtree: Option<Id>,
    /// Symlink target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Ids read into a vector of their exact length. JSON does not say how many follow, so a
/// vector grows as they come: a photo's one id took 128 bytes, not 32 (13 MB in a folder
/// of 100,000 photos).
fn exact_ids<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<Id>, D::Error> {
    let mut ids = Vec::<Id>::deserialize(d)?;
    ids.shrink_to_fit();
    Ok(ids)
}

impl Node {
    /// A node with only name and kind set.
    pub fn new(name: String, kind: NodeKind) -> Self {
        Node {
            name,
            name_bytes: None,
            kind,
            size: 0,
            mtime_ns: 0,
            mode: 0,
            chunking: None,
            content: Vec::new(),
            content_lists: Vec::new(),
            subtree: None,
            target: None,
        }
    }
}

/// The deepest folder nesting a snapshot holds: backup leaves deeper folders out (with a
/// warning), and every walk of a snapshot (restore, check, ls, diff) refuses to go deeper,
/// so a forged snapshot of endlessly nested trees can exhaust neither a stack nor memory.
/// Real folders are nowhere near it (a path is at most 4096 bytes).
pub const MAX_DEPTH: usize = 512;

/// A directory listing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Entries, sorted by name.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// Finds entries by name, each in `O(log n)`: a backup looks up every entry of a
    /// folder in its previous tree, and a linear search per entry made a folder of
    /// 100,000 photos take 10⁹ comparisons a night.
    pub(crate) fn lookup(&self) -> NodeLookup<'_> {
        let sorted = self.nodes.windows(2).all(|w| w[0].name <= w[1].name);
        NodeLookup {
            nodes: &self.nodes,
            // A tree whose entries are out of order (not one a backup wrote) is indexed.
            unsorted: (!sorted).then(|| {
                let mut by_name = std::collections::HashMap::with_capacity(self.nodes.len());
                for n in &self.nodes {
                    by_name.entry(n.name.as_str()).or_insert(n);
                }
                by_name
            }),
        }
    }
}

/// Entries of a [`Tree`] by name; see [`Tree::lookup`].
pub(crate) struct NodeLookup<'a> {
    nodes: &'a [Node],
    unsorted: Option<std::collections::HashMap<&'a str, &'a Node>>,
}

impl<'a> NodeLookup<'a> {
    /// The first entry named `name`, if any.
    pub(crate) fn get(&self, name: &str) -> Option<&'a Node> {
        if let Some(by_name) = &self.unsorted {
            return by_name.get(name).copied();
        }
        let i = self.nodes.partition_point(|n| n.name.as_str() < name);
        self.nodes.get(i).filter(|n| n.name == name)
    }
}

/// Splits a list blob into ids.
pub fn parse_list(data: &[u8]) -> Option<Vec<Id>> {
    if data.len() % 32 != 0 {
        return None;
    }
    data.chunks_exact(32)
        .map(|c| c.try_into().ok().map(Id))
        .collect()
}

/// A name is safe if it is one plain path component.
fn check_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\0')
        || (cfg!(windows) && (name.contains('\\') || name.contains(':')));
    if bad {
        Err(Error::UnsafePath(name.to_string()))
    } else {
        Ok(())
    }
}

impl Node {
    /// The node's name as a file name, if it is one plain path component (restore and
    /// check refuse the others: a forged snapshot must not reach outside its folder).
    pub(crate) fn safe_name(&self) -> Result<std::ffi::OsString> {
        check_name(&self.name)?;
        #[cfg(unix)]
        if let Some(h) = &self.name_bytes {
            use std::os::unix::ffi::OsStringExt;
            let bytes = hex::decode(h).map_err(|_| Error::UnsafePath(self.name.clone()))?;
            if bytes.is_empty()
                || bytes.contains(&b'/')
                || bytes.contains(&0)
                || bytes == b"."
                || bytes == b".."
            {
                return Err(Error::UnsafePath(self.name.clone()));
            }
            return Ok(std::ffi::OsString::from_vec(bytes));
        }
        Ok(self.name.clone().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names_are_refused() {
        for n in ["..", ".", "", "a/b", "../x", "x\0y"] {
            assert!(check_name(n).is_err(), "{n:?}");
        }
        assert!(check_name("微信 ✓.db").is_ok());
    }

    fn named(names: &[&str]) -> Tree {
        Tree {
            nodes: names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let mut node = Node::new(n.to_string(), NodeKind::File);
                    node.size = i as u64;
                    node
                })
                .collect(),
        }
    }

    #[test]
    fn lookup_finds_the_first_entry_of_a_name_in_sorted_and_unsorted_trees() {
        // Two entries may share a (lossy) name: the first is the one a backup compares.
        let sorted = named(&["IMG-1.jpg", "IMG-2.jpg", "IMG-2.jpg", "b", "微信.db"]);
        let unsorted = named(&["微信.db", "IMG-2.jpg", "b", "IMG-2.jpg", "IMG-1.jpg"]);
        for (tree, first_img2) in [(&sorted, 1), (&unsorted, 1)] {
            let l = tree.lookup();
            assert_eq!(l.get("IMG-2.jpg").map(|n| n.size), Some(first_img2));
            for n in &tree.nodes {
                assert_eq!(l.get(&n.name).map(|x| &x.name), Some(&n.name));
            }
            for absent in ["", "IMG-0.jpg", "IMG-3.jpg", "c", "微"] {
                assert!(l.get(absent).is_none(), "{absent}");
            }
        }
        assert!(Tree::default().lookup().get("a").is_none());
    }
}
