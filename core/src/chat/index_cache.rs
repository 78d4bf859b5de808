//! The chat index a device keeps between backups: the last index each source's backup
//! wrote, in the device's cache folder ([`Repository::set_cache_dir`]), so the next backup
//! of that source turns it into its parent's index by reading from the repository only
//! the pages that differ ([`Repository::patch_file`]) instead of restoring all of it: on a
//! phone backing up to a PC or a bucket, a few pages a night instead of the whole index.
//!
//! The copy is only a starting point: every page of it is checked against the parent
//! snapshot's before it is used, so a stale, damaged or foreign copy costs reads, never
//! correctness. It holds the chats in plain SQLite (as the index is while a backup builds
//! it), so it is the user's alone (folder 0700, file 0600), one per repository and source:
//!
//! ```text
//! <cache>/chat-index/<repository id>/<BLAKE3(host ‖ 0 ‖ path ‖ 0 ‖ app)[..16] hex>.sqlite
//! ```
//!
//! Taking the copy moves it out (a backup that fails leaves none: the next restores the
//! index in full), and a backup that succeeds moves its index in. What a backup killed
//! half way left in the folder (its private folder, a copy being kept) is removed by the
//! next backup that keeps an index, once a day old. Nothing here fails a backup: a cache
//! that cannot be read or written is logged and done without.

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

    /// Where the rows the last backup read are remembered ([`super::source_rows`]).
    pub(crate) fn rows_file(&self) -> PathBuf {
        self.file.with_extension("rows")
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
        sweep(dir);
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

/// What a backup killed half way left in the cache folder `dir`: private folders
/// (`chatvault-…`, [`crate::temp::private_temp_dir`]) and copies being kept (`.keeping-…`)
/// a day old or older; a backup running beside this one has younger ones.
fn sweep(dir: &Path) {
    const STALE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with("chatvault-") || name.starts_with(".keeping-")) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= STALE);
        if old {
            let path = e.path();
            let removed = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            if let Err(err) = removed {
                log::warn!("cannot remove {}: {err}", path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_killed_backup_left_goes_once_a_day_old() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(25 * 3600);
        let old_dir = d.join("chatvault-old");
        fs::create_dir(&old_dir).unwrap();
        fs::write(old_dir.join("chats.sqlite"), b"plain chats").unwrap();
        fs::write(d.join(".keeping-old"), b"x").unwrap();
        fs::write(d.join("kept.sqlite"), b"the kept index").unwrap();
        fs::create_dir(d.join("chatvault-running")).unwrap();
        for p in [
            old_dir.as_path(),
            &d.join(".keeping-old"),
            &d.join("kept.sqlite"),
        ] {
            fs::File::options()
                .write(p.is_file())
                .read(true)
                .open(p)
                .unwrap()
                .set_modified(day_ago)
                .unwrap();
        }
        sweep(d);
        let mut left: Vec<_> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["chatvault-running", "kept.sqlite"]);
    }
}
