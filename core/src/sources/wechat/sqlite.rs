//! Opening a chat app's SQLite database (WeChat's `EnMicroMsg.db`, `MM.sqlite`,
//! `message_N.sqlite`, `WCDB_Contact.sqlite`, `WxFileIndex.db`; WhatsApp's `msgstore.db`,
//! `wa.db`) for reading without ever writing beside it, and with the committed content of
//! its write-ahead log.
//!
//! Real databases copied off a phone often run in WAL mode: a `<db>-wal` file beside the
//! database holds the newest pages. Opening such a database in place, even read-only, makes
//! SQLite create a `-shm` file (and maybe a `-wal`) in the user's folder, which a backup must
//! never do; ignoring the `-wal` loses the newest messages. So:
//!
//! * a database with no `-wal` and no `-journal` beside it (nor one given) is opened in
//!   place, read-only, as `immutable` (SQLite takes no lock and creates no file);
//! * otherwise the database and its `-wal` (or hot `-journal`) are copied, byte for byte and
//!   still encrypted if they were, into a private temporary folder (0700, under the reader's
//!   work folder, removed when the [`Snapshot`] is dropped), and the copy is opened: SQLite
//!   replays the committed frames of the log (or rolls the journal back) in the copy only.
//!
//! A SQLCipher database stays encrypted on disk either way: pages are decrypted in memory.

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};
use crate::temp::private_temp_dir;

/// A database ready to be opened for reading: the user's file in place, or a private copy
/// of it with its log. Connections made by [`Snapshot::connect`] must be dropped before it.
pub(crate) struct Snapshot {
    /// The user's file (named in errors).
    shown: PathBuf,
    /// What is opened: the copy, or the user's file.
    target: PathBuf,
    /// The private folder holding the copy, if one was made.
    temp: Option<tempfile::TempDir>,
}

/// A `-wal` or `-journal` worth replaying: present and not empty.
fn companion(db: &Path, suffix: &str) -> Option<PathBuf> {
    let mut name = db.file_name()?.to_os_string();
    name.push(suffix);
    let p = db.with_file_name(name);
    fs::metadata(&p)
        .ok()
        .filter(|m| m.is_file() && m.len() > 0)
        .map(|_| p)
}

impl Snapshot {
    /// Prepares `db` for reading. `wal`: its write-ahead log when it is not beside it
    /// under the name `<db>-wal` (an iPhone backup stores it as its own entry); `None`:
    /// looked for beside it, with a hot `-journal`. A copy, if needed, goes to a private
    /// folder under `work_dir` (default: the system's temporary folder).
    pub(crate) fn new(db: &Path, wal: Option<&Path>, work_dir: Option<&Path>) -> Result<Self> {
        let meta = fs::metadata(db).map_err(|e| Error::io("open", db, e))?;
        if !meta.is_file() {
            return Err(Error::Source {
                path: db.into(),
                reason: "not a file".into(),
            });
        }
        let wal = match wal {
            Some(w) => fs::metadata(w)
                .ok()
                .filter(|m| m.is_file() && m.len() > 0)
                .map(|_| w.to_path_buf()),
            None => companion(db, "-wal"),
        };
        let journal = if wal.is_none() {
            companion(db, "-journal")
        } else {
            None
        };
        if wal.is_none() && journal.is_none() {
            return Ok(Snapshot {
                shown: db.to_path_buf(),
                target: db.to_path_buf(),
                temp: None,
            });
        }
        let temp = private_temp_dir(work_dir)?;
        let target = temp.path().join("db");
        copy(db, &target)?;
        if let Some(w) = &wal {
            copy(w, &temp.path().join("db-wal"))?;
        }
        if let Some(j) = &journal {
            copy(j, &temp.path().join("db-journal"))?;
        }
        log::debug!(
            "{} has a {}: read from a private copy",
            db.display(),
            if wal.is_some() { "-wal" } else { "-journal" }
        );
        Ok(Snapshot {
            shown: db.to_path_buf(),
            target,
            temp: Some(temp),
        })
    }

    /// Whether a private copy is read (the database had a log to replay).
    #[cfg(test)]
    pub(crate) fn is_copy(&self) -> bool {
        self.temp.is_some()
    }

    /// A new connection, read-only in effect. The user's file is opened read-only and
    /// immutable (no lock, no `-shm`, nothing created beside it); a private copy is opened
    /// read-write so that SQLite can replay its log into it, with `query_only` set and no
    /// checkpoint when it closes. Nothing is read yet: a SQLCipher key can still be set.
    pub(crate) fn connect(&self) -> Result<Connection> {
        let err = |e| Error::source_db(&self.shown, e);
        let c = if self.temp.is_some() {
            let c = Connection::open_with_flags(
                &self.target,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(err)?;
            c.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                true,
            )
            .map_err(err)?;
            c
        } else {
            Connection::open_with_flags(
                immutable_uri(&self.target),
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(err)?
        };
        c.execute_batch("PRAGMA query_only = 1;").map_err(err)?;
        Ok(c)
    }
}

/// Copies `from` to `to` (a new file in a private folder).
fn copy(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| Error::io("copy", from, e))
}

/// A database opened for reading by [`open`], with the private copy it may read.
pub(crate) struct SourceDb {
    // Declared first: dropped before the copy is removed.
    conn: Connection,
    _snapshot: Snapshot,
}

impl std::ops::Deref for SourceDb {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl SourceDb {
    /// `conn`, made by [`Snapshot::connect`], kept with `snapshot`.
    pub(crate) fn new(conn: Connection, snapshot: Snapshot) -> Self {
        SourceDb {
            conn,
            _snapshot: snapshot,
        }
    }
}

/// Opens the plain SQLite database `db` for reading, its `-wal` (beside it, or `wal`)
/// included, writing nothing beside it (see the module's description).
pub(crate) fn open(db: &Path, wal: Option<&Path>, work_dir: Option<&Path>) -> Result<SourceDb> {
    let snapshot = Snapshot::new(db, wal, work_dir)?;
    let conn = snapshot.connect()?;
    Ok(SourceDb::new(conn, snapshot))
}

/// The `file:` URI that opens `path` read-only and immutable.
fn immutable_uri(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut uri = String::from("file:");
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        abs.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes = {
        let s = abs.to_string_lossy().replace('\\', "/");
        // `C:/x` → `/C:/x`: SQLite wants an absolute path after `file:`.
        if s.starts_with('/') {
            s.into_bytes()
        } else {
            format!("/{s}").into_bytes()
        }
    };
    for b in bytes {
        if b.is_ascii_alphanumeric() || b"/-._~:".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?mode=ro&immutable=1");
    PathBuf::from(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files in `dir` with their sizes and modification times.
    fn listing(dir: &Path) -> Vec<(String, u64, std::time::SystemTime)> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let m = e.metadata().unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    m.len(),
                    m.modified().unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    }

    /// Writes `dir/<name>` in WAL mode with `n` rows, the last `in_wal` only in the `-wal`
    /// (copied while the writer is still open, so nothing is checkpointed).
    fn wal_db(dir: &Path, name: &str, n: i64, in_wal: i64) -> PathBuf {
        let src = dir.join("writer");
        fs::create_dir_all(&src).unwrap();
        let p = src.join(name);
        let c = Connection::open(&p).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
             CREATE TABLE t (x INTEGER);",
        )
        .unwrap();
        for i in 0..n - in_wal {
            c.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
        }
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
        for i in n - in_wal..n {
            c.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
        }
        let out = dir.join("source");
        fs::create_dir_all(&out).unwrap();
        fs::copy(&p, out.join(name)).unwrap();
        fs::copy(
            src.join(format!("{name}-wal")),
            out.join(format!("{name}-wal")),
        )
        .unwrap();
        drop(c);
        out.join(name)
    }

    #[test]
    fn wal_content_is_read_and_nothing_is_written_beside_the_database() {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("work");
        fs::create_dir_all(&work).unwrap();
        let db = wal_db(tmp.path(), "a b%?.sqlite", 10, 4);
        let dir = db.parent().unwrap().to_path_buf();
        let before = listing(&dir);
        assert_eq!(before.len(), 2, "the database and its -wal");
        {
            let c = open(&db, None, Some(&work)).unwrap();
            let n: i64 = c
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 10, "the rows only in the -wal are read");
            assert!(c.execute("INSERT INTO t VALUES (1)", []).is_err());
        }
        assert_eq!(
            listing(&dir),
            before,
            "nothing created or changed beside it"
        );
        assert_eq!(
            fs::read_dir(&work).unwrap().count(),
            0,
            "the copy is removed"
        );

        // Without its -wal: opened in place, immutable; still nothing written.
        fs::remove_file(dir.join("a b%?.sqlite-wal")).unwrap();
        let before = listing(&dir);
        {
            let s = Snapshot::new(&db, None, Some(&work)).unwrap();
            assert!(!s.is_copy());
            let c = s.connect().unwrap();
            let n: i64 = c
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 6);
        }
        assert_eq!(listing(&dir), before);

        // A -wal stored elsewhere (an iPhone backup's own entry).
        let db2 = wal_db(&tmp.path().join("2"), "MM.sqlite", 5, 5);
        let elsewhere = tmp.path().join("stored-wal");
        fs::rename(db2.with_file_name("MM.sqlite-wal"), &elsewhere).unwrap();
        let c = open(&db2, Some(&elsewhere), Some(&work)).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 5);
    }
}
