//! Writing into a folder that someone else may have prepared (a restore target, an earlier
//! export folder) without ever writing outside it: files are created new under a temporary
//! name (`O_EXCL`, so never through a planted symlink or hard link) and renamed into place;
//! folders are created one component at a time, a planted symlink replaced, not followed.

use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// A file being written under a temporary name next to `dest`, renamed over `dest` by
/// [`NewFile::commit`]; removed if dropped before.
pub(crate) struct NewFile {
    out: io::BufWriter<tempfile::NamedTempFile>,
    dest: PathBuf,
}

impl NewFile {
    /// Starts a new file that will replace `dest`, with permissions `mode` (unix) and a
    /// write buffer of `buffer` bytes.
    pub fn create(dest: &Path, mode: u32, buffer: usize) -> Result<Self> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let mut b = tempfile::Builder::new();
        b.prefix(".chatvault-new-");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            b.permissions(std::fs::Permissions::from_mode(mode));
        }
        #[cfg(not(unix))]
        let _ = mode;
        // tempfile creates with O_CREAT | O_EXCL: a name that exists (a planted symlink
        // included) is never opened, another name is tried.
        let tmp = b
            .tempfile_in(dir)
            .map_err(|e| Error::io("create a file in", dir, e))?;
        Ok(NewFile {
            out: io::BufWriter::with_capacity(buffer, tmp),
            dest: dest.to_path_buf(),
        })
    }

    /// The temporary file's path (to set its metadata before [`NewFile::commit`]).
    pub fn temp_path(&self) -> &Path {
        self.out.get_ref().path()
    }

    /// Writes what is buffered and truncates or extends the file to `len` bytes.
    pub fn set_len(&mut self, len: u64) -> Result<()> {
        self.out
            .flush()
            .and_then(|_| self.out.get_ref().as_file().set_len(len))
            .map_err(|e| Error::io("write", &self.dest, e))
    }

    /// Writes what is buffered and renames the file over its destination (replacing a
    /// file or symlink there, never writing through it).
    pub fn commit(self) -> io::Result<()> {
        let NewFile { out, dest } = self;
        let tmp = out.into_inner().map_err(|e| e.into_error())?;
        tmp.persist(&dest).map(|_| ()).map_err(|e| e.error)
    }
}

impl Write for NewFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Seek for NewFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.out.seek(pos)
    }
}

/// Writes `data` as a new file replacing `path` (see [`NewFile`]).
pub(crate) fn write_new(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = NewFile::create(path, 0o644, 64 * 1024)?;
    f.write_all(data)
        .and_then(|_| f.commit())
        .map_err(|e| Error::io("write", path, e))
}

/// Creates the folder `dir` below `root` (which must exist or is created as asked by its
/// owner), one component at a time: a symlink where a folder should be is replaced by a
/// folder (never followed), anything else that is not a folder is refused.
pub(crate) fn create_dirs_within(root: &Path, dir: &Path) -> Result<()> {
    let rel = dir.strip_prefix(root).map_err(|_| {
        Error::UnsafePath(format!(
            "{} is not inside {}",
            dir.display(),
            root.display()
        ))
    })?;
    let mut at = root.to_path_buf();
    for c in rel.components() {
        let Component::Normal(name) = c else {
            return Err(Error::UnsafePath(format!(
                "{} (not a plain path inside {})",
                dir.display(),
                root.display()
            )));
        };
        at.push(name);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => continue,
            Ok(m) if m.file_type().is_symlink() => {
                std::fs::remove_file(&at).map_err(|e| Error::io("replace the symlink", &at, e))?
            }
            Ok(_) => {
                return Err(Error::UnsafePath(format!(
                    "{} (exists and is not a folder)",
                    at.display()
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("inspect", &at, e)),
        }
        match std::fs::create_dir(&at) {
            Ok(()) => {}
            // Made meanwhile (by another thread of ours): fine if it is a real folder.
            Err(e)
                if e.kind() == io::ErrorKind::AlreadyExists
                    && std::fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir()) => {}
            Err(e) => return Err(Error::io("create", &at, e)),
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn new_files_replace_planted_links_and_folders_are_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let (root, outside) = (d.path().join("root"), d.path().join("outside"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let victim = outside.join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        std::os::unix::fs::symlink(&victim, root.join("sym")).unwrap();
        std::fs::hard_link(&victim, root.join("hard")).unwrap();
        write_new(&root.join("sym"), b"new").unwrap();
        write_new(&root.join("hard"), b"new").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(std::fs::read(root.join("hard")).unwrap(), b"new");
        assert!(!std::fs::symlink_metadata(root.join("sym"))
            .unwrap()
            .file_type()
            .is_symlink());

        std::os::unix::fs::symlink(&outside, root.join("dir")).unwrap();
        create_dirs_within(&root, &root.join("dir").join("sub")).unwrap();
        assert!(root.join("dir").join("sub").is_dir());
        assert!(!outside.join("sub").exists());
        assert!(create_dirs_within(&root, &outside).is_err());
        // Nothing temporary is left behind.
        let names: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }
}
