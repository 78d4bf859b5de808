//! The engine's error type: one enum whose variants say what the user can do about it.

use std::path::{Path, PathBuf};

use crate::storage::StorageError;

/// Everything that can go wrong in the engine.
///
/// Variants are grouped by what a user (or an app showing an error) can do:
/// fix the password, point at the right repository, repair storage, or report a bug.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No repository exists at the given location.
    #[error("no repository found at {location}")]
    RepositoryNotFound {
        /// Where we looked.
        location: String,
    },
    /// A repository already exists where `init` was asked to create one.
    #[error("a repository already exists at {location}")]
    RepositoryExists {
        /// Where it exists.
        location: String,
    },
    /// None of the key slots opens with the given password or recovery key.
    #[error("wrong password (no key slot of this repository opens with it)")]
    WrongPassword,
    /// An object in the repository failed authentication, hashing, or parsing.
    #[error("corrupt object {object}: {reason}")]
    Corrupt {
        /// Which object, as `kind/name` (e.g. `data/3f/3f2a…`, `snapshots/…`, `blob 9c1e… in pack …`).
        object: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The repository was written by a newer format version.
    #[error("repository format version {found} is not supported (this program reads version {supported})")]
    UnsupportedVersion {
        /// Version found.
        found: u32,
        /// Version this build understands.
        supported: u32,
    },
    /// The storage backend failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Reading the source or writing the restore target failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What we were doing ("read", "create", …).
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// No snapshot matches the given id, prefix or `latest`.
    #[error("no snapshot matches {0:?}")]
    SnapshotNotFound(String),
    /// A snapshot id prefix matches more than one snapshot.
    #[error("snapshot id prefix {0:?} is ambiguous")]
    AmbiguousSnapshot(String),
    /// Another process holds a lock that conflicts with this operation.
    #[error("repository is locked: {0}")]
    Locked(String),
    /// The operation was cancelled by the caller; the repository is left valid.
    #[error("cancelled")]
    Cancelled,
    /// Restore refused a name that would escape the target or is not a plain name.
    #[error("refusing unsafe path {0:?} in snapshot (it would escape the restore target)")]
    UnsafePath(String),
    /// Something that should not happen: the operating system refusing what the engine
    /// needs (randomness, a thread), one of the engine's own databases failing, or a bug.
    #[error("internal error: {what}{}", cause_suffix(.source.as_deref()))]
    Internal {
        /// What failed.
        what: String,
        /// Why, when another error says so.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A chat export could not be read (damaged, truncated, not of the expected kind).
    #[error("cannot read {path}: {reason}")]
    Source {
        /// The file or folder concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An encrypted chat database opened with none of the keys tried.
    #[error("wrong key for {path} (tried {tried}); {}", wrong_key_hint(.path))]
    WrongKey {
        /// The database.
        path: PathBuf,
        /// What was tried, by origin (never the keys themselves).
        tried: String,
    },
    /// An encrypted iPhone backup was given no password, or a wrong one.
    #[error(
        "{} for the encrypted iPhone backup at {}; give it with --iphone-backup-password-file FILE or CHATVAULT_IPHONE_BACKUP_PASSWORD",
        if *.given { "wrong password" } else { "no password given" },
        .path.display()
    )]
    WrongBackupPassword {
        /// The backup's folder.
        path: PathBuf,
        /// Whether a password was given (and is wrong).
        given: bool,
    },
    /// The caller passed an invalid argument.
    #[error("{0}")]
    InvalidArgument(String),
}

/// ": CAUSE" after an internal error's message, so the one line a user sees (or reports)
/// holds the cause too.
fn cause_suffix(source: Option<&(dyn std::error::Error + Send + Sync)>) -> String {
    source.map(|e| format!(": {e}")).unwrap_or_default()
}

/// What to do about a wrong key, by the kind of database.
fn wrong_key_hint(path: &std::path::Path) -> &'static str {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if name.contains(".crypt1") || name.starts_with("msgstore") || name.starts_with("wa.db") {
        "give WhatsApp's 64-digit backup key with --whatsapp-key (crypt14/crypt12: the `key` file)"
    } else {
        "give the key with --wechat-key or the phone's IMEI with --imei"
    }
}

impl Error {
    pub(crate) fn corrupt(object: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Corrupt {
            object: object.into(),
            reason: reason.into(),
        }
    }

    /// An internal error with no other error as its cause.
    pub fn internal(what: impl Into<String>) -> Self {
        Error::Internal {
            what: what.into(),
            source: None,
        }
    }

    /// An internal error caused by `source`.
    pub fn internal_from(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Internal {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// An error of one of the engine's own SQLite databases (the schedule store, a chat
    /// index): `what` names the database, followed by its file when given, e.g.
    /// `chat index /tmp/x/index.db: database is locked`. (Chat sources' databases are the
    /// user's, not the engine's: their errors are [`Error::Source`].)
    pub(crate) fn sqlite(what: &str, path: Option<&Path>, source: rusqlite::Error) -> Self {
        let what = match path {
            Some(path) => format!("{what} {}", path.display()),
            None => what.to_string(),
        };
        Error::internal_from(what, source)
    }

    /// An error of a chat app's SQLite database (the user's data, not the engine's): the
    /// source cannot be read, and the database file is named.
    pub(crate) fn source_db(path: &Path, e: rusqlite::Error) -> Self {
        Error::Source {
            path: path.into(),
            reason: format!("database error: {e}"),
        }
    }
}

/// Result alias used across the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_errors_name_the_database() {
        let e = || rusqlite::Error::QueryReturnedNoRows;
        assert_eq!(
            Error::sqlite("schedule database", None, e()).to_string(),
            format!("internal error: schedule database: {}", e())
        );
        assert_eq!(
            Error::sqlite("chat index", Some(Path::new("/x/index.db")), e()).to_string(),
            format!("internal error: chat index /x/index.db: {}", e())
        );
    }
}
