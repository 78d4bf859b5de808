//! Bringing an older copy of a snapshot's file up to that snapshot's version in place:
//! each of the file's blobs whose bytes the copy already holds at the blob's offset is
//! kept, the others are read from the repository (runs of neighbours in a pack in one
//! read). A kept range is taken only when its keyed hash is the blob's id, and a read blob
//! is authenticated, so the result is the snapshot's file byte for byte, whatever the copy
//! held. A day's backup carries its parent's chat index forward this way: of an index of
//! hundreds of megabytes only the pages the last backup changed are read back.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use super::id::Id;
use super::index::BlobLocation;
use super::tree::NodeKind;
use super::Repository;
use crate::error::{Error, Result};
use crate::progress::CancelToken;
use crate::storage::ObjectKind;

/// The most one read from a pack takes (neighbouring blobs merged).
const MAX_READ: u64 = 4 * 1024 * 1024;
/// Blobs to read gathered before they are read (about 90 bytes each), so memory stays
/// flat however little of a large file the copy holds.
const FILL_BATCH: usize = 16 * 1024;

/// What patching a file did, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Patched {
    /// Bytes the copy already held.
    pub kept: u64,
    /// Bytes read from the repository.
    pub read: u64,
}

/// A blob the copy does not hold: where it goes and where it is.
struct Missing {
    offset: u64,
    id: Id,
    loc: BlobLocation,
}

impl Repository {
    /// Makes `file` (an older copy of the file `name` in tree `root`, or any file) that
    /// file, byte for byte: what it holds of it stays, the rest is read from the
    /// repository. On error the file is left part patched: the caller discards it.
    pub(crate) fn patch_file(
        &self,
        root: &Id,
        name: &str,
        file: &Path,
        cancel: &CancelToken,
    ) -> Result<Patched> {
        let (index, _) = self.load_index(false)?;
        let tree = self.read_tree(&index, root)?;
        let node = tree
            .nodes
            .iter()
            .find(|n| n.name == name && n.kind == NodeKind::File)
            .ok_or_else(|| {
                Error::corrupt(
                    format!("tree {}", root.to_hex()),
                    format!("holds no file {name}"),
                )
            })?;
        let io = |what: &'static str| move |e| Error::io(what, file, e);
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(file)
            .map_err(io("open"))?;
        let held = f.metadata().map_err(io("stat"))?.len();
        let mut patched = Patched::default();
        let mut missing = Vec::new();
        let mut offset = 0u64;
        let mut buf = Vec::new();
        self.for_each_content(&index, node, |ids| {
            for id in ids {
                cancel.check()?;
                let loc = index.get(id)?.ok_or_else(|| {
                    Error::corrupt(
                        format!("blob {}", id.to_hex()),
                        "not in any pack listed by the index",
                    )
                })?;
                let len = u64::from(loc.raw_length);
                let same = offset + len <= held && {
                    buf.resize(len as usize, 0);
                    crate::read_at::read_at(&f, &mut buf, offset).map_err(io("read"))?;
                    self.codec.id(&buf) == *id
                };
                if same {
                    patched.kept += len;
                } else {
                    missing.push(Missing {
                        offset,
                        id: *id,
                        loc,
                    });
                    if missing.len() >= FILL_BATCH {
                        patched.read += self.fill(&mut f, file, &mut missing, cancel)?;
                    }
                }
                offset += len;
            }
            Ok(())
        })?;
        if offset != node.size {
            return Err(Error::corrupt(
                format!("file {name} of tree {}", root.to_hex()),
                format!("content is {offset} bytes, the tree says {}", node.size),
            ));
        }
        f.set_len(node.size).map_err(io("truncate"))?;
        patched.read += self.fill(&mut f, file, &mut missing, cancel)?;
        Ok(patched)
    }

    /// Writes the `missing` blobs into `f` (and empties it), reading runs of neighbours in
    /// a pack at once; returns the bytes written.
    fn fill(
        &self,
        f: &mut File,
        file: &Path,
        missing: &mut Vec<Missing>,
        cancel: &CancelToken,
    ) -> Result<u64> {
        missing.sort_by_key(|m| (m.loc.pack, m.loc.offset));
        let mut written = 0u64;
        let mut plain = Vec::new();
        let mut i = 0;
        while i < missing.len() {
            cancel.check()?;
            let first = &missing[i].loc;
            let start = u64::from(first.offset);
            let mut end = start + u64::from(first.length);
            let mut j = i + 1;
            while let Some(next) = missing.get(j) {
                let (at, len) = (u64::from(next.loc.offset), u64::from(next.loc.length));
                // The same blob twice (a page repeated in the file) is read once per place.
                if next.loc.pack != first.pack
                    || at < start
                    || at > end
                    || at + len - start > MAX_READ
                {
                    break;
                }
                end = end.max(at + len);
                j += 1;
            }
            let sealed = self.storage.get_range(
                ObjectKind::Pack,
                &first.pack.to_hex(),
                start,
                end - start,
            )?;
            for m in &missing[i..j] {
                let at = (u64::from(m.loc.offset) - start) as usize;
                let piece = sealed
                    .get(at..at + m.loc.length as usize)
                    .ok_or_else(|| Error::internal("patch read shorter than its blobs"))?;
                plain.clear();
                self.open_blob_append(&m.loc, &m.id, piece, &mut plain)?;
                f.seek(SeekFrom::Start(m.offset))
                    .and_then(|_| f.write_all(&plain))
                    .map_err(|e| Error::io("write", file, e))?;
                written += plain.len() as u64;
            }
            i = j;
        }
        missing.clear();
        Ok(written)
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::repo::blob::BlobKind;
    use crate::repo::test_repo;
    use crate::repo::tree::{Node, Tree};
    use crate::repo::writer::BlobWriter;

    const PAGE: usize = 4096;

    /// A file of `pages` pages (page 5 the same as page 2), stored as `index.sqlite` in a
    /// tree of its own: the tree's id and the file's bytes.
    fn stored_file(repo: &Repository, pages: usize) -> (Id, Vec<u8>) {
        let w = BlobWriter::start(
            repo.storage.clone(),
            repo.codec.clone(),
            repo.cipher.clone(),
            1 << 20,
            1,
        )
        .unwrap();
        let mut bytes = Vec::new();
        let mut node = Node::new("index.sqlite".into(), NodeKind::File);
        for p in 0..pages {
            let seed = if p == 5 { 2 } else { p };
            let page: Vec<u8> = (0..PAGE).map(|i| (i * 7 + seed * 131) as u8).collect();
            let id = repo.codec.id(&page);
            w.add(BlobKind::Data, id, page.clone(), true).unwrap();
            node.content.push(id);
            bytes.extend_from_slice(&page);
        }
        node.size = bytes.len() as u64;
        let tree = Tree { nodes: vec![node] };
        let json = serde_json::to_vec(&tree).unwrap();
        let tid = repo.codec.id(&json);
        w.add(BlobKind::Tree, tid, json, true).unwrap();
        w.finish(true).unwrap();
        (tid, bytes)
    }

    #[test]
    fn an_older_copy_becomes_the_file_reading_only_what_differs() {
        let dir = tempfile::tempdir().unwrap();
        let repo = test_repo(dir.path());
        let (tree, want) = stored_file(&repo, 12);
        let copy = dir.path().join("copy");
        let patch = |seed: &[u8]| {
            std::fs::write(&copy, seed).unwrap();
            let p = repo
                .patch_file(&tree, "index.sqlite", &copy, &CancelToken::new())
                .unwrap();
            assert!(std::fs::read(&copy).unwrap() == want, "patched to the file");
            assert_eq!(p.kept + p.read, want.len() as u64);
            p
        };
        // The same file: nothing read.
        assert_eq!(patch(&want).read, 0);
        // Two pages changed, two pages more than the file: those two read, the rest cut.
        let mut older = want.clone();
        older[3 * PAGE + 10] ^= 1;
        older[7 * PAGE] ^= 0x80;
        older.extend_from_slice(&[9u8; 2 * PAGE]);
        assert_eq!(patch(&older).read, 2 * PAGE as u64);
        // A copy from before the file grew: the new pages read.
        assert_eq!(patch(&want[..4 * PAGE]).read, 8 * PAGE as u64);
        // A page the file holds twice (2 and 5), both places wrong: both written.
        let mut twice = want.clone();
        twice[2 * PAGE..3 * PAGE].fill(0);
        twice[5 * PAGE..6 * PAGE].fill(1);
        assert_eq!(patch(&twice).read, 2 * PAGE as u64);
        // Nothing in common, or nothing at all: all of it read.
        assert_eq!(patch(&[0x55; 3 * PAGE + 17]).read, want.len() as u64);
        assert_eq!(patch(&[]).read, want.len() as u64);
    }

    #[test]
    fn a_file_the_tree_does_not_hold_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let repo = test_repo(dir.path());
        let (tree, _) = stored_file(&repo, 2);
        let copy = dir.path().join("copy");
        std::fs::write(&copy, b"old").unwrap();
        let e = repo
            .patch_file(&tree, "other.sqlite", &copy, &CancelToken::new())
            .unwrap_err();
        assert!(e.to_string().contains("other.sqlite"), "{e}");
        assert_eq!(std::fs::read(&copy).unwrap(), b"old", "left as it was");
    }
}
