//! Interfaces implemented in Kotlin or Swift, and adapters that let core use them.
//!
//! Every foreign method returns a `Result`: an exception thrown in the app's code arrives
//! as [`ChatVaultError::Internal`] instead of panicking inside Rust.

use std::sync::Arc;

use chatvault_core as core;
use chatvault_core::storage::{ObjectInfo, StorageError};

use crate::error::{ChatVaultError, Result};
use crate::records::{ObjectEntry, ObjectKind, Progress};

/// Resolves where a scheduled plan's backups go, so plans take any destination the app can
/// open a repository on: a folder the user picked (an Android Storage Access Framework tree,
/// an iOS security-scoped folder), which the app hands over as [`Storage`]; or network
/// storage (S3, WebDAV, a paired PC), for which it hands over the credentials from the
/// platform keystore. The plan's `destination` is whatever string the app chose for it
/// (a `content://` tree URI, a bookmark's name, an `s3://…` location).
#[uniffi::export(with_foreign)]
pub trait DestinationResolver: Send + Sync {
    /// The storage the app provides for `destination`, or none when it is a location the
    /// library opens itself (a path, `s3://`, `webdav+https://`, a paired PC).
    fn storage(&self, destination: String) -> Result<Option<Arc<dyn Storage>>>;
    /// The credentials for the network location `destination`, or none.
    fn remote_access(&self, destination: String) -> Result<Option<crate::entry::RemoteAccess>>;
}

/// Receives progress of a long operation (from a background thread, at most ~10 per second).
#[uniffi::export(with_foreign)]
pub trait ProgressListener: Send + Sync {
    /// A new report.
    fn on_progress(&self, progress: Progress) -> Result<()>;
}

/// Where a repository's objects live, implemented by the app: an Android Storage Access
/// Framework tree, an iOS security-scoped folder, or any store it can reach.
///
/// `put` must be atomic: readers see the old object, none, or the whole new one (write to a
/// temporary name, then rename).
#[uniffi::export(with_foreign)]
pub trait Storage: Send + Sync {
    /// A description for messages ("Google Drive/ChatVault").
    fn location(&self) -> Result<String>;
    /// Stores an object atomically, replacing any existing one.
    fn put(&self, kind: ObjectKind, name: String, data: Vec<u8>) -> Result<()>;
    /// Reads a whole object; `None` if it does not exist.
    fn get(&self, kind: ObjectKind, name: String) -> Result<Option<Vec<u8>>>;
    /// Reads `length` bytes at `offset`; `None` if the object does not exist.
    fn get_range(
        &self,
        kind: ObjectKind,
        name: String,
        offset: u64,
        length: u64,
    ) -> Result<Option<Vec<u8>>>;
    /// The object's size; `None` if it does not exist.
    fn size(&self, kind: ObjectKind, name: String) -> Result<Option<u64>>;
    /// All objects of a kind.
    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectEntry>>;
    /// Deletes an object (a missing one is not an error).
    fn delete(&self, kind: ObjectKind, name: String) -> Result<()>;
}

/// Keeps secrets (repository passwords of scheduled plans) in the platform keystore:
/// Android Keystore, iOS Keychain.
#[uniffi::export(with_foreign)]
pub trait SecretStore: Send + Sync {
    /// The secret stored under `key`, if any.
    fn get(&self, key: String) -> Result<Option<String>>;
    /// Stores a secret.
    fn put(&self, key: String, value: String) -> Result<()>;
    /// Removes a secret.
    fn delete(&self, key: String) -> Result<()>;
}

/// Log severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    /// Errors.
    Error,
    /// Warnings.
    Warn,
    /// Information.
    Info,
    /// Debugging detail.
    Debug,
}

/// Receives the engine's log lines (never containing secrets).
#[uniffi::export(with_foreign)]
pub trait Logger: Send + Sync {
    /// One log line.
    fn log(&self, level: LogLevel, target: String, message: String) -> Result<()>;
}

/// Core's progress listener over a foreign one.
pub(crate) struct ProgressAdapter(pub Arc<dyn ProgressListener>);

impl core::ProgressListener for ProgressAdapter {
    fn on_progress(&self, p: &core::Progress) {
        if let Err(e) = self.0.on_progress(p.into()) {
            log::warn!("progress listener failed: {e}");
        }
    }
}

/// Core's storage over a foreign one.
pub(crate) struct StorageAdapter(pub Arc<dyn Storage>);

impl std::fmt::Debug for StorageAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ForeignStorage({})",
            core::storage::Storage::location(self)
        )
    }
}

fn backend(
    op: &'static str,
    kind: core::storage::ObjectKind,
    name: &str,
    e: ChatVaultError,
) -> StorageError {
    StorageError::Backend {
        op,
        object: kind.path_of(name),
        cause: Box::new(e),
    }
}

fn not_found(kind: core::storage::ObjectKind, name: &str) -> StorageError {
    StorageError::NotFound {
        kind,
        name: name.to_string(),
    }
}

impl core::storage::Storage for StorageAdapter {
    fn location(&self) -> String {
        self.0
            .location()
            .unwrap_or_else(|e| format!("app storage ({e})"))
    }

    fn put(
        &self,
        kind: core::storage::ObjectKind,
        name: &str,
        data: &[u8],
    ) -> Result<(), StorageError> {
        core::storage::validate_name(kind, name)?;
        self.0
            .put(kind.into(), name.into(), data.to_vec())
            .map_err(|e| backend("put", kind, name, e))
    }

    fn get(&self, kind: core::storage::ObjectKind, name: &str) -> Result<Vec<u8>, StorageError> {
        core::storage::validate_name(kind, name)?;
        self.0
            .get(kind.into(), name.into())
            .map_err(|e| backend("get", kind, name, e))?
            .ok_or_else(|| not_found(kind, name))
    }

    fn get_range(
        &self,
        kind: core::storage::ObjectKind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, StorageError> {
        core::storage::validate_name(kind, name)?;
        let data = self
            .0
            .get_range(kind.into(), name.into(), offset, len)
            .map_err(|e| backend("get", kind, name, e))?
            .ok_or_else(|| not_found(kind, name))?;
        if data.len() as u64 != len {
            return Err(backend(
                "get",
                kind,
                name,
                ChatVaultError::Storage {
                    details: format!("asked for {len} bytes, got {}", data.len()),
                },
            ));
        }
        Ok(data)
    }

    fn size(
        &self,
        kind: core::storage::ObjectKind,
        name: &str,
    ) -> Result<Option<u64>, StorageError> {
        core::storage::validate_name(kind, name)?;
        self.0
            .size(kind.into(), name.into())
            .map_err(|e| backend("stat", kind, name, e))
    }

    fn list(&self, kind: core::storage::ObjectKind) -> Result<Vec<ObjectInfo>, StorageError> {
        let entries = self
            .0
            .list(kind.into())
            .map_err(|e| backend("list", kind, "", e))?;
        Ok(entries
            .into_iter()
            .filter(|e| core::storage::validate_name(kind, &e.name).is_ok())
            .map(|e| ObjectInfo {
                name: e.name,
                size: e.size,
            })
            .collect())
    }

    fn delete(&self, kind: core::storage::ObjectKind, name: &str) -> Result<(), StorageError> {
        core::storage::validate_name(kind, name)?;
        self.0
            .delete(kind.into(), name.into())
            .map_err(|e| backend("delete", kind, name, e))
    }
}

/// The scheduler's secret provider over a foreign secret store (key: `plan:<name>`).
pub(crate) struct SecretAdapter(pub Arc<dyn SecretStore>);

pub(crate) fn plan_key(plan: &str) -> String {
    format!("plan:{plan}")
}

impl core::schedule::SecretProvider for SecretAdapter {
    fn secret(&self, plan: &core::schedule::PlanSpec) -> core::Result<core::Secret> {
        match self.0.get(plan_key(&plan.name)) {
            Ok(Some(pw)) => Ok(core::Secret::password(pw)),
            Ok(None) => Err(core::Error::InvalidArgument(format!(
                "no password stored for plan {:?}",
                plan.name
            ))),
            Err(e) => Err(core::Error::internal_from("secret store", e)),
        }
    }
}

/// The `log` facade's backend over a foreign logger.
pub(crate) struct LogAdapter(pub Arc<dyn Logger>);

impl log::Log for LogAdapter {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Info
    }

    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let level = match r.level() {
            log::Level::Error => LogLevel::Error,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Info => LogLevel::Info,
            _ => LogLevel::Debug,
        };
        let _ = self
            .0
            .log(level, r.target().to_string(), r.args().to_string());
    }

    fn flush(&self) {}
}
