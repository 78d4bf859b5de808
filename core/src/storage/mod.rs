//! Where repository objects live. Storage knows names and bytes, nothing of encryption.
//!
//! Every backend implements [`Storage`]: whole-object atomic put, whole or ranged get,
//! size (exists), list by kind, delete. Names are validated here so that no backend can be
//! asked to touch anything outside its repository.

mod access;
mod lan;
mod local;
mod location;
mod s3;
mod webdav;

pub use crate::net::http::HttpOptions;
pub use access::Access;
pub use lan::{lan_http_options, location_of as lan_location, LanConfig, LanStorage};
pub use local::LocalStorage;
pub use location::{open, Location};
pub use s3::{S3Config, S3Storage};
pub use webdav::{WebDavConfig, WebDavStorage};

use std::fmt;

/// The kinds of objects a repository holds; each lives in its own namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// The single `config` object.
    Config,
    /// Key slots, `keys/<id>`.
    Key,
    /// Snapshots, `snapshots/<id>`.
    Snapshot,
    /// Index files, `index/<id>`.
    Index,
    /// Packs of blobs, `data/<first two hex>/<id>`.
    Pack,
    /// Lock objects, `locks/<id>`.
    Lock,
}

impl ObjectKind {
    /// The directory (or key prefix) of this kind.
    pub fn dir(self) -> &'static str {
        match self {
            ObjectKind::Config => "",
            ObjectKind::Key => "keys",
            ObjectKind::Snapshot => "snapshots",
            ObjectKind::Index => "index",
            ObjectKind::Pack => "data",
            ObjectKind::Lock => "locks",
        }
    }

    /// The object's path relative to the repository root, e.g. `data/ab/ab12…`.
    pub fn path_of(self, name: &str) -> String {
        match self {
            ObjectKind::Config => "config".to_string(),
            ObjectKind::Pack => format!("data/{}/{}", &name[..2.min(name.len())], name),
            _ => format!("{}/{}", self.dir(), name),
        }
    }
}

/// Checks that `name` is a valid object name for `kind`: `config` for the config object,
/// else 1 to 128 lowercase hex digits (pack names at least 2). Nothing else reaches a backend.
pub fn validate_name(kind: ObjectKind, name: &str) -> Result<(), StorageError> {
    let ok = match kind {
        ObjectKind::Config => name == "config",
        ObjectKind::Pack => (2..=128).contains(&name.len()) && is_lower_hex(name),
        _ => (1..=128).contains(&name.len()) && is_lower_hex(name),
    };
    if ok {
        Ok(())
    } else {
        Err(StorageError::InvalidName {
            kind,
            name: name.chars().take(80).collect(),
        })
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// An object as listed: its name and size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Object name (without directory).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
}

/// Errors from storage backends.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The object does not exist.
    #[error("{} not found", .kind.path_of(.name))]
    NotFound {
        /// Kind of the object.
        kind: ObjectKind,
        /// Its name.
        name: String,
    },
    /// The name is not a valid object name.
    #[error("invalid object name {name:?} for {kind:?}")]
    InvalidName {
        /// Kind asked for.
        kind: ObjectKind,
        /// The rejected name (truncated).
        name: String,
    },
    /// The server could not be reached (after retrying for a bounded time).
    #[error("{location} cannot be reached: {reason}")]
    Unreachable {
        /// Where.
        location: String,
        /// The last failure.
        reason: String,
    },
    /// The server refused the credentials (or the clock is too far off to sign).
    #[error("{location} refused access: {reason}")]
    Denied {
        /// Where.
        location: String,
        /// What to fix.
        reason: String,
    },
    /// The backend failed for another reason.
    #[error("storage {op} {object}: {cause}")]
    Backend {
        /// Operation ("put", "get", …).
        op: &'static str,
        /// Object path or location.
        object: String,
        /// What went wrong (in the message, so not repeated as a source).
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl From<crate::net::http::HttpError> for StorageError {
    fn from(e: crate::net::http::HttpError) -> Self {
        use crate::net::http::HttpError;
        match e {
            HttpError::Unreachable { location, reason } => {
                StorageError::Unreachable { location, reason }
            }
            HttpError::Denied { location, reason } => StorageError::Denied { location, reason },
            HttpError::Failed { op, object, reason } => StorageError::backend(op, &object, reason),
        }
    }
}

impl StorageError {
    /// The object `kind/name` does not exist.
    pub(crate) fn not_found(kind: ObjectKind, name: &str) -> Self {
        StorageError::NotFound {
            kind,
            name: name.to_string(),
        }
    }

    /// A backend failure with a message of its own.
    pub(crate) fn backend(op: &'static str, object: &str, msg: impl Into<String>) -> Self {
        StorageError::Backend {
            op,
            object: object.to_string(),
            cause: msg.into().into(),
        }
    }
}

/// The listing of the config object for backends that learn of it by asking its size: the
/// object if it exists, else nothing.
pub(crate) fn list_config(storage: &dyn Storage) -> Result<Vec<ObjectInfo>, StorageError> {
    let size = storage.size(ObjectKind::Config, "config")?;
    Ok(size
        .map(|size| ObjectInfo {
            name: "config".into(),
            size,
        })
        .into_iter()
        .collect())
}

/// Operations on named objects. Implementations must be safe to share across threads.
///
/// Contract: `put` is atomic (a reader sees the old object, nothing, or the whole new one,
/// never part of it) and durable once it returns; `list` never shows a partial object.
pub trait Storage: Send + Sync + fmt::Debug {
    /// A human-readable location for messages ("/home/a/repo", "s3://bucket/x").
    fn location(&self) -> String;
    /// Stores `data` under `kind/name`, atomically and durably. Replaces an existing object.
    fn put(&self, kind: ObjectKind, name: &str, data: &[u8]) -> Result<(), StorageError>;
    /// Reads a whole object.
    fn get(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>, StorageError>;
    /// Reads `len` bytes at `offset`. Fails if the object is shorter.
    fn get_range(
        &self,
        kind: ObjectKind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, StorageError>;
    /// [`Storage::get_range`] into `out` (replacing its content), so a caller reading many
    /// ranges reuses one buffer; backends that can read in place do.
    fn get_range_into(
        &self,
        kind: ObjectKind,
        name: &str,
        offset: u64,
        len: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), StorageError> {
        *out = self.get_range(kind, name, offset, len)?;
        Ok(())
    }
    /// Size of the object, or `None` if it does not exist.
    fn size(&self, kind: ObjectKind, name: &str) -> Result<Option<u64>, StorageError>;
    /// All objects of a kind.
    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StorageError>;
    /// Deletes an object; deleting a missing object is not an error.
    fn delete(&self, kind: ObjectKind, name: &str) -> Result<(), StorageError>;
    /// Removes leftovers of interrupted writes older than `min_age`. Returns how many.
    fn clean_temporary(&self, min_age: std::time::Duration) -> Result<usize, StorageError> {
        let _ = min_age;
        Ok(0)
    }
}
