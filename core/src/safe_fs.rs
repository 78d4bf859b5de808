//! Writing into a folder that someone else may have prepared (a restore target, an earlier
//! export folder) without ever writing outside it: files are created new under a temporary
//! name (`O_EXCL`, so never through a planted symlink or hard link) and renamed into place;
//! folders are created one component at a time, a planted symlink replaced, not followed.
//! Restore goes further ([`Dir`]): every folder is opened from its parent with `O_NOFOLLOW`
//! and held open, and files, symlinks and metadata are made through those descriptors
//! (`openat`, `renameat`, `symlinkat`, `fchmod`, `futimens`), so a folder swapped for a
//! symlink while the restore runs cannot redirect a single byte.

use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Where a [`NewFile`]'s bytes go: a temporary file named by path (exports), or one made in
/// a folder held open ([`Dir`], restore), which no later change to the path can redirect.
enum Backing {
    Temp(tempfile::NamedTempFile),
    #[cfg(unix)]
    At(AtFile),
}

/// A file made in an open folder under a temporary name; removed if dropped before renamed.
#[cfg(unix)]
struct AtFile {
    file: std::fs::File,
    dir: std::sync::Arc<Dir>,
    tmp: std::ffi::OsString,
    name: std::ffi::OsString,
    done: bool,
}

impl Backing {
    fn file(&self) -> &std::fs::File {
        match self {
            Backing::Temp(t) => t.as_file(),
            #[cfg(unix)]
            Backing::At(at) => &at.file,
        }
    }
}

impl Write for Backing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Backing::Temp(t) => t.write(buf),
            #[cfg(unix)]
            Backing::At(at) => at.file.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Backing::Temp(t) => t.flush(),
            #[cfg(unix)]
            Backing::At(at) => at.file.flush(),
        }
    }
}

impl Seek for Backing {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match self {
            Backing::Temp(t) => t.seek(pos),
            #[cfg(unix)]
            Backing::At(at) => at.file.seek(pos),
        }
    }
}

#[cfg(unix)]
impl Drop for AtFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = rustix::fs::unlinkat(
                &self.dir.fd,
                self.tmp.as_os_str(),
                rustix::fs::AtFlags::empty(),
            );
        }
    }
}

/// A file being written under a temporary name next to `dest`, renamed over `dest` by
/// [`NewFile::commit`]; removed if dropped before.
pub(crate) struct NewFile {
    out: io::BufWriter<Backing>,
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
            out: io::BufWriter::with_capacity(buffer, Backing::Temp(tmp)),
            dest: dest.to_path_buf(),
        })
    }

    /// Starts a new file `name` in the open folder `dir` (see [`NewFile::create`]): made,
    /// written and renamed through the folder's descriptor, so replacing a folder on the
    /// way with a symlink meanwhile changes nothing.
    #[cfg(unix)]
    pub fn create_in(
        dir: &std::sync::Arc<Dir>,
        name: &std::ffi::OsStr,
        mode: u32,
        buffer: usize,
    ) -> Result<Self> {
        use rustix::fs::{Mode, OFlags};
        let dest = dir.path.join(name);
        let flags =
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut attempt = 0u32;
        let (fd, tmp) = loop {
            let mut rand = [0u8; 8];
            getrandom::fill(&mut rand).map_err(|e| Error::internal(format!("random: {e}")))?;
            let tmp = std::ffi::OsString::from(format!(".chatvault-new-{}", hex::encode(rand)));
            match rustix::fs::openat(&dir.fd, tmp.as_os_str(), flags, Mode::from_raw_mode(mode)) {
                Ok(fd) => break (fd, tmp),
                Err(rustix::io::Errno::EXIST) if attempt < 16 => attempt += 1,
                Err(e) => return Err(Error::io("create a file in", &dir.path, e.into())),
            }
        };
        // The mode asked for, whatever the umask took away (as tempfile's path does).
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
            .map_err(|e| Error::io("create a file in", &dir.path, e.into()))?;
        Ok(NewFile {
            out: io::BufWriter::with_capacity(
                buffer,
                Backing::At(AtFile {
                    file: std::fs::File::from(fd),
                    dir: dir.clone(),
                    tmp,
                    name: name.to_os_string(),
                    done: false,
                }),
            ),
            dest,
        })
    }

    /// The file being written (to set its metadata before [`NewFile::commit`]).
    pub fn file(&self) -> &std::fs::File {
        self.out.get_ref().file()
    }

    /// Writes what is buffered and truncates or extends the file to `len` bytes.
    pub fn set_len(&mut self, len: u64) -> Result<()> {
        self.out
            .flush()
            .and_then(|_| self.out.get_ref().file().set_len(len))
            .map_err(|e| Error::io("write", &self.dest, e))
    }

    /// Writes what is buffered and renames the file over its destination (replacing a
    /// file or symlink there, never writing through it).
    pub fn commit(self) -> io::Result<()> {
        let NewFile { out, dest } = self;
        match out.into_inner().map_err(|e| e.into_error())? {
            Backing::Temp(tmp) => tmp.persist(&dest).map(|_| ()).map_err(|e| e.error),
            #[cfg(unix)]
            Backing::At(mut at) => {
                let (fd, tmp, name) = (&at.dir.fd, at.tmp.as_os_str(), at.name.as_os_str());
                rustix::fs::renameat(fd, tmp, fd, name)?;
                at.done = true;
                Ok(())
            }
        }
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

/// A folder inside a target, held open: what is made in it stays in it even if the path
/// that led to it is changed meanwhile (each component is opened with `O_NOFOLLOW` from
/// the one before, never by path).
#[cfg(unix)]
pub(crate) struct Dir {
    fd: rustix::fd::OwnedFd,
    path: PathBuf,
}

#[cfg(unix)]
impl Dir {
    /// Opens the target folder itself (its path is the user's; created if missing).
    pub fn open_target(path: &Path) -> Result<Dir> {
        std::fs::create_dir_all(path).map_err(|e| Error::io("create", path, e))?;
        let fd = rustix::fs::open(
            path,
            rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| Error::io("open", path, e.into()))?;
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The folder's path (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder `name` in this one, made if missing. Anything else there (a symlink
    /// included) is refused: `shown` names it in the error.
    pub fn child(&self, name: &std::ffi::OsStr, shown: &str) -> Result<Dir> {
        use rustix::fs::{Mode, OFlags};
        let path = self.path.join(name);
        match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o777)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(Error::io("create directory", &path, e.into())),
        }
        let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC;
        match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => Ok(Dir { fd, path }),
            Err(rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP) => Err(Error::UnsafePath(
                format!("{shown} (exists in the target and is not a directory)"),
            )),
            Err(e) => Err(Error::io("open", &path, e.into())),
        }
    }

    /// A symlink `name` -> `target` in this folder, replacing a file or symlink there.
    pub fn symlink(&self, target: &str, name: &std::ffi::OsStr) -> Result<()> {
        let path = self.path.join(name);
        match rustix::fs::unlinkat(&self.fd, name, rustix::fs::AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(Error::io("replace", &path, e.into())),
        }
        rustix::fs::symlinkat(target, &self.fd, name)
            .map_err(|e| Error::io("create symlink", &path, e.into()))
    }

    /// The folder's permissions (`mode`, when given) and modification time, set through
    /// its descriptor.
    pub fn set_meta(&self, mode: Option<u32>, mtime: filetime::FileTime) -> Result<()> {
        if let Some(mode) = mode {
            rustix::fs::fchmod(&self.fd, rustix::fs::Mode::from_raw_mode(mode))
                .map_err(|e| Error::io("set permissions of", &self.path, e.into()))?;
        }
        let t = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: mtime.unix_seconds(),
                tv_nsec: mtime.nanoseconds() as _,
            },
        };
        rustix::fs::futimens(&self.fd, &t)
            .map_err(|e| Error::io("set time of", &self.path, e.into()))
    }
}

/// Elsewhere a folder is known by its path (no `*at` calls): the same interface, without
/// the protection against paths changed during the run.
#[cfg(not(unix))]
pub(crate) struct Dir {
    path: PathBuf,
}

#[cfg(not(unix))]
impl Dir {
    pub fn open_target(path: &Path) -> Result<Dir> {
        std::fs::create_dir_all(path).map_err(|e| Error::io("create", path, e))?;
        Ok(Dir {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn child(&self, name: &std::ffi::OsStr, shown: &str) -> Result<Dir> {
        let path = self.path.join(name);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::UnsafePath(format!(
                    "{shown} (exists in the target and is not a directory)"
                )))
            }
            Err(_) => {
                std::fs::create_dir(&path).map_err(|e| Error::io("create directory", &path, e))?
            }
        }
        Ok(Dir { path })
    }

    pub fn symlink(&self, target: &str, name: &std::ffi::OsStr) -> Result<()> {
        log::warn!(
            "symlink {} -> {target} not restored on this platform",
            self.path.join(name).display()
        );
        Ok(())
    }

    pub fn set_meta(&self, _mode: Option<u32>, mtime: filetime::FileTime) -> Result<()> {
        filetime::set_file_mtime(&self.path, mtime)
            .map_err(|e| Error::io("set time of", &self.path, e))
    }
}

#[cfg(not(unix))]
impl NewFile {
    pub fn create_in(
        dir: &std::sync::Arc<Dir>,
        name: &std::ffi::OsStr,
        mode: u32,
        buffer: usize,
    ) -> Result<Self> {
        NewFile::create(&dir.path.join(name), mode, buffer)
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

    /// A folder swapped for a symlink to somewhere else after restore opened it: what is
    /// written in it still lands in the folder that was opened (by path, it went outside).
    #[test]
    fn an_open_folder_swapped_for_a_symlink_keeps_writes_inside() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let (root, outside) = (d.path().join("root"), d.path().join("outside"));
        std::fs::create_dir_all(&outside).unwrap();
        let target = std::sync::Arc::new(Dir::open_target(&root).unwrap());
        let a = std::sync::Arc::new(target.child("a".as_ref(), "a").unwrap());
        // The swap, between opening the folder and writing into it.
        std::fs::rename(root.join("a"), root.join("a-moved")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("a")).unwrap();
        let mut f = NewFile::create_in(&a, "f".as_ref(), 0o640, 1024).unwrap();
        f.write_all(b"restored").unwrap();
        f.commit().unwrap();
        a.symlink("elsewhere", "s".as_ref()).unwrap();
        a.set_meta(
            Some(0o700),
            filetime::FileTime::from_unix_time(1_000_000, 0),
        )
        .unwrap();
        assert!(
            std::fs::read_dir(&outside).unwrap().next().is_none(),
            "written outside"
        );
        let moved = root.join("a-moved");
        assert_eq!(std::fs::read(moved.join("f")).unwrap(), b"restored");
        let mode = std::fs::metadata(moved.join("f"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
        assert!(std::fs::symlink_metadata(moved.join("s"))
            .unwrap()
            .is_symlink());
        let m = std::fs::metadata(&moved).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o700);
        assert_eq!(
            filetime::FileTime::from_last_modification_time(&m).unix_seconds(),
            1_000_000
        );
        assert_ne!(
            std::fs::metadata(&outside).unwrap().permissions().mode() & 0o777,
            0o700,
            "the outside folder's mode changed"
        );
        // A symlink where a folder is asked for is refused, and a file dropped before its
        // commit leaves nothing behind.
        assert!(matches!(
            target.child("a".as_ref(), "a"),
            Err(Error::UnsafePath(_))
        ));
        drop(NewFile::create_in(&a, "g".as_ref(), 0o600, 1024).unwrap());
        let names: Vec<_> = std::fs::read_dir(&moved)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}
