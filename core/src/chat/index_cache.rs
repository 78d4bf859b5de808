//! The chat index a device keeps between backups: the last index each source's backup
//! wrote, in the device's cache folder ([`Repository::set_cache_dir`]), so the next backup
//! of that source turns it into its parent's index by reading from the repository only
//! the pages that differ ([`Repository::patch_file`]) instead of restoring all of it: on a
//! phone backing up to a PC or a bucket, a few pages a night instead of the whole index.
//!
//! The copy is only a starting point: every page of it is checked against the parent
//! snapshot's before it is used, so a stale, damaged or foreign copy costs reads, never
//! correctness. It holds the chats in plain form, as the export does, so it is the user's
//! alone (folder 0700, file 0600), one per repository and source:
//!
//! ```text
//! <cache>/chat-index/<repository id>/<BLAKE3(host ‖ 0 ‖ path ‖ 0 ‖ app)[..16] hex>.sqlite
//! ```
//!
//! Taking the copy moves it out (a backup that fails leaves none: the next restores the
//! index in full), and a backup that succeeds moves its index in. Nothing here fails a
//! backup: a cache that cannot be read or written is logged and done without.

use std::fs;
use std::path::{Path, PathBuf};

use crate::repo::Repository;

/// Where one source's index is kept.
pub(crate) struct IndexCache {
    file: PathBuf,
}

impl IndexCache {
    /// The cache of the source at `path` (canonical) backed up from `host` as `app`, if
    /// the repository has a cache folder.
    pub(crate) fn of(repo: &Repository, host: &str, path: &Path, app: &str) -> Option<Self> {
        let dir = repo
            .cache_dir()?
            .join("chat-index")
            .join(repo.config().id.to_hex());
        let mut h = blake3::Hasher::new();
        h.update(host.as_bytes())
            .update(&[0])
            .update(path.to_string_lossy().as_bytes())
            .update(&[0])
            .update(app.as_bytes());
        let key = &h.finalize().to_hex()[..32];
        Some(IndexCache {
            file: dir.join(format!("{key}.sqlite")),
        })
    }

    /// Moves the kept index to `to` (a private folder on the same file system, see
    /// [`IndexCache::folder`]); whether there was one.
    pub(crate) fn take(&self, to: &Path) -> bool {
        match fs::rename(&self.file, to) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => {
                log::warn!(
                    "cannot take the chat index kept in {}: {e}",
                    self.file.display()
                );
                false
            }
        }
    }

    /// The folder the kept index lives in, created (0700) if missing: a backup builds its
    /// index under it so that keeping it is a rename.
    pub(crate) fn folder(&self) -> Option<&Path> {
        let dir = self.file.parent()?;
        let mut b = fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        match b.create(dir) {
            Ok(()) => Some(dir),
            Err(e) => {
                log::warn!("cannot create the chat index cache {}: {e}", dir.display());
                None
            }
        }
    }

    /// Keeps `index` (the index the backup just stored) for the next backup: moved in, or
    /// copied when it is on another file system.
    pub(crate) fn keep(&self, index: &Path) {
        let Some(dir) = self.folder() else { return };
        if fs::rename(index, &self.file).is_ok() {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = fs::set_permissions(&self.file, fs::Permissions::from_mode(0o600));
            }
            return;
        }
        let copied = tempfile::Builder::new()
            .prefix(".keeping-")
            .tempfile_in(dir)
            .and_then(|mut tmp| {
                let mut from = fs::File::open(index)?;
                std::io::copy(&mut from, tmp.as_file_mut())?;
                tmp.persist(&self.file).map_err(|e| e.error)?;
                Ok(())
            });
        if let Err(e) = copied {
            log::warn!("cannot keep the chat index in {}: {e}", dir.display());
        }
    }
}
