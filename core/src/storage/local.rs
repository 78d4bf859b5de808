//! Local filesystem storage: a directory per kind, atomic writes by temp file + fsync +
//! rename + fsync of the directory. Leftover temp files (`.tmp-*`) are ignored by `list`
//! and removed by [`Storage::clean_temporary`].

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::{list_config, validate_name, ObjectInfo, ObjectKind, Storage, StorageError};

const TEMP_PREFIX: &str = ".tmp-";

/// Pack files kept open for range reads: a restore or check reads tens of thousands of
/// ranges from a hundred packs, and opening the file for each cost a third of a restore's
/// system time.
const OPEN_PACKS: usize = 8;

/// A repository in a local directory (phone storage, SD card, USB drive, PC disk).
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
    open: Arc<OpenPacks>,
}

/// The pack files opened last, kept open (packs never change once written; a deleted one
/// is dropped from here first).
#[derive(Debug, Default)]
struct OpenPacks(Mutex<VecDeque<(String, Arc<File>)>>);

impl OpenPacks {
    fn get(&self, name: &str) -> Option<Arc<File>> {
        let open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        open.iter().find(|(n, _)| n == name).map(|(_, f)| f.clone())
    }

    fn keep(&self, name: &str, file: Arc<File>) {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if open.iter().any(|(n, _)| n == name) {
            return;
        }
        if open.len() == OPEN_PACKS {
            open.pop_back();
        }
        open.push_front((name.to_string(), file));
    }

    fn forget(&self, name: &str) {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|(n, _)| n != name);
    }
}

impl LocalStorage {
    /// Storage rooted at `root`. Nothing is created until the first `put`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStorage {
            root: root.into(),
            open: Arc::default(),
        }
    }

    /// The repository directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, kind: ObjectKind, name: &str) -> Result<PathBuf, StorageError> {
        validate_name(kind, name)?;
        Ok(self.root.join(kind.path_of(name)))
    }

    fn err(op: &'static str, path: &Path, e: std::io::Error) -> StorageError {
        StorageError::Backend {
            op,
            object: path.display().to_string(),
            cause: Box::new(e),
        }
    }

    fn map_get_err(kind: ObjectKind, name: &str, path: &Path, e: std::io::Error) -> StorageError {
        if e.kind() == std::io::ErrorKind::NotFound {
            StorageError::not_found(kind, name)
        } else {
            Self::err("get", path, e)
        }
    }

    /// Stores exactly `len` bytes read from `data` under `kind/name`, atomically and durably
    /// (temp file, fsync, rename, fsync of the folder). Fails, leaving nothing behind, if
    /// `data` ends early — a dropped upload never becomes an object.
    pub fn put_from(
        &self,
        kind: ObjectKind,
        name: &str,
        data: &mut dyn Read,
        len: u64,
    ) -> Result<(), StorageError> {
        let path = self.path(kind, name)?;
        if kind == ObjectKind::Pack {
            // A pack written again (a repair) is a new file under the old name.
            self.open.forget(name);
        }
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        if !dir.exists() {
            fs::create_dir_all(&dir).map_err(|e| Self::err("put", &dir, e))?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent).map_err(|e| Self::err("put", parent, e))?;
            }
        }
        let tmp = dir.join(format!("{TEMP_PREFIX}{}", random_suffix()));
        let result = (|| {
            let mut opts = OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp)?;
            let copied = std::io::copy(&mut Read::take(&mut *data, len), &mut f)?;
            if copied != len {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("the upload ended after {copied} of {len} bytes"),
                ));
            }
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, &path)?;
            sync_dir(&dir)
        })();
        result.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Self::err("put", &path, e)
        })
    }

    /// The file of an object (the name validated), for serving it without copying.
    pub fn object_path(&self, kind: ObjectKind, name: &str) -> Result<PathBuf, StorageError> {
        self.path(kind, name)
    }

    fn list_dir(&self, dir: &Path, out: &mut Vec<ObjectInfo>) -> Result<(), StorageError> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Self::err("list", dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Self::err("list", dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            let meta = entry
                .metadata()
                .map_err(|e| Self::err("list", &entry.path(), e))?;
            if meta.is_file() {
                out.push(ObjectInfo {
                    name: name.to_string(),
                    size: meta.len(),
                });
            }
        }
        Ok(())
    }

    fn temp_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.root.clone()];
        for kind in [
            ObjectKind::Key,
            ObjectKind::Snapshot,
            ObjectKind::Index,
            ObjectKind::Lock,
        ] {
            dirs.push(self.root.join(kind.dir()));
        }
        if let Ok(entries) = fs::read_dir(self.root.join("data")) {
            dirs.extend(entries.flatten().map(|e| e.path()));
        }
        dirs
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

fn random_suffix() -> String {
    let mut b = [0u8; 8];
    // A failing OS RNG here only risks a temp-name clash, which create_new reports.
    let _ = getrandom::fill(&mut b);
    hex::encode(b)
}

impl Storage for LocalStorage {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn put(&self, kind: ObjectKind, name: &str, data: &[u8]) -> Result<(), StorageError> {
        self.put_from(kind, name, &mut &data[..], data.len() as u64)
    }

    fn get(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>, StorageError> {
        let path = self.path(kind, name)?;
        fs::read(&path).map_err(|e| Self::map_get_err(kind, name, &path, e))
    }

    fn get_range(
        &self,
        kind: ObjectKind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, StorageError> {
        let mut buf = Vec::new();
        self.get_range_into(kind, name, offset, len, &mut buf)?;
        Ok(buf)
    }

    fn get_range_into(
        &self,
        kind: ObjectKind,
        name: &str,
        offset: u64,
        len: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), StorageError> {
        let path = self.path(kind, name)?;
        let cached = (kind == ObjectKind::Pack)
            .then(|| self.open.get(name))
            .flatten();
        let f = match cached {
            Some(f) => f,
            None => {
                let f = Arc::new(
                    File::open(&path).map_err(|e| Self::map_get_err(kind, name, &path, e))?,
                );
                if kind == ObjectKind::Pack {
                    self.open.keep(name, f.clone());
                }
                f
            }
        };
        let len = usize::try_from(len).map_err(|_| {
            Self::err(
                "get",
                &path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "range too large"),
            )
        })?;
        out.clear();
        out.resize(len, 0);
        crate::read_at::read_at(&f, out, offset).map_err(|e| Self::err("get", &path, e))
    }

    fn size(&self, kind: ObjectKind, name: &str) -> Result<Option<u64>, StorageError> {
        let path = self.path(kind, name)?;
        match fs::metadata(&path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::err("stat", &path, e)),
        }
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StorageError> {
        if kind == ObjectKind::Config {
            return list_config(self);
        }
        let mut out = Vec::new();
        match kind {
            ObjectKind::Pack => {
                let data = self.root.join("data");
                let subdirs = match fs::read_dir(&data) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
                    Err(e) => return Err(Self::err("list", &data, e)),
                };
                for sub in subdirs {
                    let sub = sub.map_err(|e| Self::err("list", &data, e))?;
                    if sub.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                        self.list_dir(&sub.path(), &mut out)?;
                    }
                }
            }
            _ => self.list_dir(&self.root.join(kind.dir()), &mut out)?,
        }
        out.retain(|o| validate_name(kind, &o.name).is_ok());
        Ok(out)
    }

    fn delete(&self, kind: ObjectKind, name: &str) -> Result<(), StorageError> {
        let path = self.path(kind, name)?;
        if kind == ObjectKind::Pack {
            self.open.forget(name);
        }
        match fs::remove_file(&path) {
            Ok(()) => {
                if let Some(dir) = path.parent() {
                    sync_dir(dir).map_err(|e| Self::err("delete", dir, e))?;
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Self::err("delete", &path, e)),
        }
    }

    fn clean_temporary(&self, min_age: Duration) -> Result<usize, StorageError> {
        let now = SystemTime::now();
        let mut removed = 0;
        for dir in self.temp_dirs() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let is_temp = entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(TEMP_PREFIX));
                if !is_temp {
                    continue;
                }
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .map(|t| now.duration_since(t).unwrap_or_default() >= min_age)
                    .unwrap_or(false);
                if old && fs::remove_file(entry.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_list_delete_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStorage::new(dir.path());
        let name = "ab".repeat(32);
        s.put(ObjectKind::Pack, &name, b"hello world").unwrap();
        assert_eq!(s.get(ObjectKind::Pack, &name).unwrap(), b"hello world");
        assert_eq!(
            s.get_range(ObjectKind::Pack, &name, 6, 5).unwrap(),
            b"world"
        );
        assert_eq!(s.size(ObjectKind::Pack, &name).unwrap(), Some(11));
        assert!(dir.path().join("data/ab").join(&name).exists());
        // A leftover temp file is invisible to list and removed by the cleaner.
        fs::write(dir.path().join("data/ab/.tmp-dead"), b"partial").unwrap();
        assert_eq!(s.list(ObjectKind::Pack).unwrap().len(), 1);
        assert_eq!(s.clean_temporary(Duration::ZERO).unwrap(), 1);
        s.delete(ObjectKind::Pack, &name).unwrap();
        assert!(matches!(
            s.get(ObjectKind::Pack, &name),
            Err(StorageError::NotFound { .. })
        ));
        // The pack kept open for range reads is let go with it, and a pack put again under
        // the same name is read anew.
        assert!(matches!(
            s.get_range(ObjectKind::Pack, &name, 0, 1),
            Err(StorageError::NotFound { .. })
        ));
        s.put(ObjectKind::Pack, &name, b"again").unwrap();
        assert_eq!(
            s.get_range(ObjectKind::Pack, &name, 0, 5).unwrap(),
            b"again"
        );
        s.put(ObjectKind::Pack, &name, b"other").unwrap();
        assert_eq!(
            s.get_range(ObjectKind::Pack, &name, 0, 5).unwrap(),
            b"other"
        );
        assert!(
            s.get_range(ObjectKind::Pack, &name, 3, 5).is_err(),
            "past the end"
        );
        for bad in ["../etc", "AB", "", "a/b", "zz", "config"] {
            assert!(s.put(ObjectKind::Snapshot, bad, b"x").is_err(), "{bad}");
        }
    }
}
