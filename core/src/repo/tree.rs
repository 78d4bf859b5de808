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
                    by_name
                        .entry((n.name.as_str(), n.name_bytes.as_deref()))
                        .or_insert(n);
                }
                by_name
            }),
        }
    }
}

/// Entries of a [`Tree`] by name; see [`Tree::lookup`].
pub(crate) struct NodeLookup<'a> {
    nodes: &'a [Node],
    #[allow(clippy::type_complexity)]
    unsorted: Option<std::collections::HashMap<(&'a str, Option<&'a str>), &'a Node>>,
}

impl<'a> NodeLookup<'a> {
    /// The first entry named `name` whose exact name bytes are `name_bytes` (two names
    /// that are not UTF-8 may have one lossy rendering), if any.
    pub(crate) fn get(&self, name: &str, name_bytes: Option<&str>) -> Option<&'a Node> {
        if let Some(by_name) = &self.unsorted {
            return by_name.get(&(name, name_bytes)).copied();
        }
        let i = self.nodes.partition_point(|n| n.name.as_str() < name);
        self.nodes[i..]
            .iter()
            .take_while(|n| n.name == name)
            .find(|n| n.name_bytes.as_deref() == name_bytes)
    }
}

/// How every tree's JSON begins (serde's rendering of [`Tree`], which has one field).
const TREE_START: &[u8] = b"{\"nodes\":[";

/// Writes a tree's JSON one node at a time, byte for byte what serializing the whole
/// [`Tree`] writes (so its id is the same): a backup need not hold a folder's nodes to
/// store its tree.
pub(crate) struct TreeEncoder<W: std::io::Write> {
    out: W,
    first: bool,
}

impl<W: std::io::Write> TreeEncoder<W> {
    /// Starts a tree.
    pub(crate) fn new(mut out: W) -> std::io::Result<Self> {
        out.write_all(TREE_START)?;
        Ok(TreeEncoder { out, first: true })
    }

    /// Appends the next node (nodes go in name order).
    pub(crate) fn push(&mut self, node: &Node) -> std::io::Result<()> {
        if !self.first {
            self.out.write_all(b",")?;
        }
        self.first = false;
        serde_json::to_writer(&mut self.out, node).map_err(std::io::Error::other)
    }

    /// Ends the tree.
    pub(crate) fn finish(mut self) -> std::io::Result<W> {
        self.out.write_all(b"]}")?;
        Ok(self.out)
    }
}

/// A tree's nodes read one at a time, in order, as its blob is decompressed: a backup
/// walks a folder's entries in name order beside its previous tree, so it need not hold
/// the previous tree's nodes (20 MB for a folder of 100,000 photos).
pub(crate) struct NodeStream<R: std::io::Read> {
    nodes: serde_json::StreamDeserializer<
        'static,
        serde_json::de::IoRead<std::io::BufReader<Elements<R>>>,
        Node,
    >,
    current: Option<Node>,
    ended: bool,
}

impl<R: std::io::Read> NodeStream<R> {
    /// The nodes of the tree JSON `json` reads.
    pub(crate) fn new(json: R) -> Self {
        let elements = Elements {
            inner: json,
            matched: 0,
            depth: 0,
            in_string: false,
            escaped: false,
            closed: 0,
        };
        NodeStream {
            nodes: serde_json::Deserializer::from_reader(std::io::BufReader::new(elements))
                .into_iter(),
            current: None,
            ended: false,
        }
    }

    /// The first node named `name` (exactly: `name_bytes` as in [`NodeLookup::get`]) after
    /// those already passed, if any. Names asked for in
    /// ascending order find every node a sorted tree holds; a name asked for out of order
    /// (or a tree not in order) is not found.
    pub(crate) fn take(&mut self, name: &str, name_bytes: Option<&str>) -> Result<Option<Node>> {
        loop {
            let Some(next) = self.next_node()? else {
                return Ok(None);
            };
            match next.name.as_str().cmp(name) {
                std::cmp::Ordering::Less => self.current = None,
                std::cmp::Ordering::Equal if next.name_bytes.as_deref() == name_bytes => {
                    return Ok(self.current.take())
                }
                // Another entry of the same lossy name.
                std::cmp::Ordering::Equal => self.current = None,
                std::cmp::Ordering::Greater => return Ok(None),
            }
        }
    }

    /// The nodes not yet passed, as a tree.
    pub(crate) fn rest(&mut self) -> Result<Tree> {
        let mut tree = Tree::default();
        while self.next_node()?.is_some() {
            tree.nodes.extend(self.current.take());
        }
        Ok(tree)
    }

    fn next_node(&mut self) -> Result<Option<&Node>> {
        if self.current.is_none() && !self.ended {
            match self.nodes.next() {
                Some(Ok(n)) => self.current = Some(n),
                Some(Err(e)) => {
                    self.ended = true;
                    return Err(Error::corrupt("tree", e.to_string()));
                }
                None => self.ended = true,
            }
        }
        Ok(self.current.as_ref())
    }
}

/// A tree's JSON with everything but its nodes blanked: `{"nodes":[`, the commas between
/// nodes and the closing `]}` become spaces, so serde_json reads the nodes as a stream of
/// values.
struct Elements<R> {
    inner: R,
    /// Bytes of [`TREE_START`] seen.
    matched: usize,
    /// Nesting inside the nodes array.
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// 1 once the array closed, 2 once the tree did.
    closed: u8,
}

impl<R: std::io::Read> std::io::Read for Elements<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not a tree");
        for b in &mut buf[..n] {
            if self.matched < TREE_START.len() {
                if *b != TREE_START[self.matched] {
                    return Err(bad());
                }
                self.matched += 1;
                *b = b' ';
            } else if self.closed > 0 {
                if self.closed == 2 || *b != b'}' {
                    return Err(bad());
                }
                self.closed = 2;
                *b = b' ';
            } else if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if *b == b'\\' {
                    self.escaped = true;
                } else if *b == b'"' {
                    self.in_string = false;
                }
            } else {
                match *b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b']' if self.depth == 0 => {
                        self.closed = 1;
                        *b = b' ';
                    }
                    b'}' | b']' => self.depth = self.depth.checked_sub(1).ok_or_else(bad)?,
                    b',' if self.depth == 0 => *b = b' ',
                    _ => {}
                }
            }
        }
        if n == 0 && !buf.is_empty() && self.closed != 2 {
            return Err(bad());
        }
        Ok(n)
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
            assert_eq!(l.get("IMG-2.jpg", None).map(|n| n.size), Some(first_img2));
            for n in &tree.nodes {
                assert_eq!(l.get(&n.name, None).map(|x| &x.name), Some(&n.name));
            }
            for absent in ["", "IMG-0.jpg", "IMG-3.jpg", "c", "微"] {
                assert!(l.get(absent, None).is_none(), "{absent}");
            }
        }
        assert!(Tree::default().lookup().get("a", None).is_none());
    }

    #[test]
    fn names_of_one_lossy_rendering_are_told_apart_by_their_bytes() {
        // "y\xff", "y\xfe" (not UTF-8) and "y\u{fffd}" (UTF-8) are all named "y\u{fffd}".
        let mut tree = named(&["x", "y\u{fffd}", "y\u{fffd}", "y\u{fffd}", "z"]);
        tree.nodes[1].name_bytes = Some("79ff".into());
        tree.nodes[2].name_bytes = Some("79fe".into());
        let json = serde_json::to_vec(&tree).unwrap();
        let mut reversed = tree.clone();
        reversed.nodes.reverse();
        for t in [&tree, &reversed] {
            let l = t.lookup();
            for bytes in [Some("79fe"), None, Some("79ff")] {
                let found = l.get("y\u{fffd}", bytes).unwrap();
                assert_eq!(found.name_bytes.as_deref(), bytes);
            }
            assert!(l.get("y\u{fffd}", Some("79fd")).is_none());
        }
        let mut s = NodeStream::new(&json[..]);
        assert_eq!(s.take("y\u{fffd}", Some("79fe")).unwrap().unwrap().size, 2);
        assert_eq!(s.take("y\u{fffd}", None).unwrap().unwrap().size, 3);
        assert_eq!(s.take("z", None).unwrap().unwrap().size, 4);
    }

    fn tricky() -> Tree {
        let mut t = named(&["", "a", "b,]}", "c\\\"[{", "d", "微信.db"]);
        t.nodes[0].name = "0".into();
        t.nodes[1].content = vec![Id([7; 32])];
        t.nodes[3].kind = NodeKind::Dir;
        t.nodes[3].subtree = Some(Id([9; 32]));
        t.nodes[4].target = Some("]},{\"nodes\":[".into());
        t
    }

    #[test]
    fn a_tree_encoded_node_by_node_is_the_tree_serialized_whole() {
        for tree in [Tree::default(), named(&["a"]), tricky()] {
            let mut enc = TreeEncoder::new(Vec::new()).unwrap();
            for n in &tree.nodes {
                enc.push(n).unwrap();
            }
            assert_eq!(enc.finish().unwrap(), serde_json::to_vec(&tree).unwrap());
        }
    }

    #[test]
    fn a_streamed_tree_yields_its_nodes_in_order_and_the_rest() {
        let tree = tricky();
        let json = serde_json::to_vec(&tree).unwrap();
        // Asked in order: every node found, absent names not.
        let mut s = NodeStream::new(&json[..]);
        assert!(s.take("-", None).unwrap().is_none());
        for n in &tree.nodes {
            assert_eq!(s.take(&n.name, None).unwrap().as_ref(), Some(n));
            assert!(s.take(&n.name, None).unwrap().is_none());
        }
        assert!(s.take("微信.db", None).unwrap().is_none());
        assert!(s.take("zzz", None).unwrap().is_none());
        // Skipping ahead passes nodes by; what is left comes whole.
        let mut s = NodeStream::new(&json[..]);
        assert!(s.take("b", None).unwrap().is_none());
        assert_eq!(s.take("b,]}", None).unwrap().as_ref(), Some(&tree.nodes[2]));
        assert!(s.take("a", None).unwrap().is_none());
        assert_eq!(s.rest().unwrap().nodes, tree.nodes[3..]);
        assert!(NodeStream::new(&b"{\"nodes\":[]}"[..])
            .take("a", None)
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_damaged_tree_stream_is_an_error_not_a_panic() {
        let json = serde_json::to_vec(&tricky()).unwrap();
        let mut cases: Vec<Vec<u8>> = (0..json.len()).map(|n| json[..n].to_vec()).collect();
        cases.push(b"{\"nodes\":[]}}".to_vec());
        cases.push(b"{\"nodes\": []}".to_vec());
        cases.push(b"[]".to_vec());
        cases.push(b"{\"nodes\":[}]}".to_vec());
        cases.push(b"{\"nodes\":[{\"name\":1}]}".to_vec());
        for bad in cases {
            let mut s = NodeStream::new(&bad[..]);
            assert!(s.rest().is_err(), "{}", String::from_utf8_lossy(&bad));
        }
        // Any byte replaced by any of JSON's structural bytes (or another): nodes or an
        // error, never a panic, whether read whole or by name.
        for at in 0..json.len() {
            for b in *b"{}[],:\"\\x0 " {
                let mut bad = json.clone();
                bad[at] = b;
                let _ = NodeStream::new(&bad[..]).rest();
                let mut s = NodeStream::new(&bad[..]);
                let _ = (s.take("b,]}", None), s.take("d", None), s.rest());
            }
        }
    }
}
