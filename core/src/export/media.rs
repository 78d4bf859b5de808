//! Copies the media files an export references from the snapshot to `out/media/`, in
//! batches (one restore pass per batch), never a file twice and never outside `out`.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};

use crate::chat::{ChatIndex, SnapshotMedia};
use crate::error::{Error, Result};
use crate::progress::{CancelToken, ProgressListener};
use crate::safe_fs::{create_dirs_within, NewFile};

/// Paths gathered before a restore pass copies them.
const BATCH: usize = 20_000;

/// The largest media file taken out of a zipped export.
const MAX_ZIP_ENTRY: u64 = 4 << 30;

/// The export's folder for media, relative to the export root.
pub const MEDIA_DIR: &str = "media";

pub(crate) struct Copier<'a> {
    /// The snapshot's chat index: the keys of media stored encrypted.
    chats: &'a ChatIndex,
    /// The snapshot's files.
    source: &'a SnapshotMedia<'a>,
    /// The export's top-level name in the snapshot (a folder, or a zip file).
    root: String,
    root_is_file: bool,
    out: PathBuf,
    work_dir: Option<&'a Path>,
    listener: Option<&'a dyn ProgressListener>,
    cancel: &'a CancelToken,
    pending: BTreeSet<String>,
    /// Hashes of every path asked for so far: 8 bytes a file, not the path.
    seen: HashSet<u64>,
    /// A zipped export, restored once into a private folder to read its entries.
    zip: Option<(tempfile::TempDir, PathBuf)>,
    copied: u64,
}

/// Whether a path from the chat index is a plain relative path (defence in depth: the
/// readers never produce anything else).
fn is_plain(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains('\0')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

impl<'a> Copier<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        chats: &'a ChatIndex,
        source: &'a SnapshotMedia<'a>,
        root: &str,
        root_is_file: bool,
        out: &Path,
        work_dir: Option<&'a Path>,
        listener: Option<&'a dyn ProgressListener>,
        cancel: &'a CancelToken,
    ) -> Self {
        Copier {
            chats,
            source,
            root: root.to_string(),
            root_is_file,
            out: out.to_path_buf(),
            work_dir,
            listener,
            cancel,
            pending: BTreeSet::new(),
            seen: HashSet::new(),
            zip: None,
            copied: 0,
        }
    }

    /// Asks for the file at `path` inside the export; returns where it will be, relative
    /// to the export folder, or `None` if the path is not a plain relative path.
    pub fn want(&mut self, path: &str) -> Option<String> {
        if !is_plain(path) || !is_plain(&self.root) {
            return None;
        }
        let mut h = DefaultHasher::new();
        path.hash(&mut h);
        if self.seen.insert(h.finish()) {
            self.pending.insert(path.to_string());
        }
        Some(format!("{MEDIA_DIR}/{}/{path}", self.root))
    }

    /// Copies what is pending once a batch is full.
    pub fn flush_if_full(&mut self) -> Result<()> {
        if self.pending.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Copies what is pending and returns the number of files copied in all.
    pub fn finish(mut self) -> Result<u64> {
        self.flush()?;
        Ok(self.copied)
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let dir = self.out.join(MEDIA_DIR);
        // A symlink planted at `media` in an earlier export folder is replaced, not followed.
        create_dirs_within(&self.out, &dir)?;
        if self.root_is_file {
            self.copied += self.extract_from_zip(&pending, &dir.join(&self.root))?;
        } else {
            let include = pending
                .iter()
                .map(|p| format!("{}/{p}", self.root))
                .collect();
            let r = self
                .source
                .restore(include, &dir, self.listener, self.cancel)?;
            self.copied += r.files;
            crate::chat::encrypted_media::decrypt_restored(
                self.chats,
                &dir.join(&self.root),
                &pending,
            )?;
        }
        Ok(())
    }

    /// Takes the pending entries out of a zipped export (WhatsApp on iOS).
    fn extract_from_zip(&mut self, pending: &BTreeSet<String>, dir: &Path) -> Result<u64> {
        if self.zip.is_none() {
            let tmp = crate::temp::private_temp_dir(self.work_dir)?;
            self.source
                .restore(vec![self.root.clone()], tmp.path(), None, self.cancel)?;
            let path = tmp.path().join(&self.root);
            self.zip = Some((tmp, path));
        }
        let Some((_, zip_path)) = &self.zip else {
            return Ok(0);
        };
        let file = fs::File::open(zip_path).map_err(|e| Error::io("open", zip_path, e))?;
        let mut archive =
            zip::ZipArchive::new(io::BufReader::new(file)).map_err(|e| Error::Source {
                path: zip_path.clone(),
                reason: format!("not a readable zip: {e}"),
            })?;
        let mut copied = 0;
        for name in pending {
            self.cancel.check()?;
            let Ok(mut entry) = archive.by_name(name) else {
                continue;
            };
            if entry.is_dir() {
                continue;
            }
            // A media entry that would expand like a zip bomb is left out (shown missing).
            let size = entry.size();
            if crate::zip_guard::refusal(size, entry.compressed_size(), MAX_ZIP_ENTRY).is_some() {
                continue;
            }
            let dest = dir.join(name);
            if let Some(parent) = dest.parent() {
                create_dirs_within(&self.out, parent)?;
            }
            let mut f = NewFile::create(&dest, 0o644, 64 * 1024)?;
            io::copy(&mut io::Read::take(&mut entry, size), &mut f)
                .and_then(|_| f.commit())
                .map_err(|e| Error::io("write", &dest, e))?;
            copied += 1;
        }
        Ok(copied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_copied() {
        assert!(is_plain("image2/ab/cd/x.jpg"));
        assert!(is_plain("IMG 0001.jpg"));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
            "a/.",
        ] {
            assert!(!is_plain(bad), "{bad}");
        }
    }
}
