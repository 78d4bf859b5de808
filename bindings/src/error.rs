//! The one public error type: a few actionable variants mapped from core's rich errors.

use chatvault_core::Error as CoreError;

/// What went wrong, in terms an app can act on. Kotlin: `ChatVaultException.*`;
/// Swift: `ChatVaultError.*`.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum ChatVaultError {
    /// No key slot opens with this password or recovery key: ask again.
    #[error("wrong password")]
    WrongPassword,
    /// Nothing at this location is a repository: create one, or pick another location.
    #[error("no repository at {location}")]
    RepositoryNotFound {
        /// Where we looked.
        location: String,
    },
    /// A repository already exists here: open it instead.
    #[error("a repository already exists at {location}")]
    RepositoryExists {
        /// Where.
        location: String,
    },
    /// Stored data failed verification: run a full check; restore from another copy.
    #[error("damaged backup data in {object}: {reason}")]
    Corrupt {
        /// The damaged object.
        object: String,
        /// What is wrong.
        reason: String,
    },
    /// The destination could not be read or written (disconnected drive, full disk,
    /// network): retry later.
    #[error("storage failed: {details}")]
    Storage {
        /// Details.
        details: String,
    },
    /// The server refused the credentials (wrong key, secret or password, or the device
    /// clock is too far off to sign): ask the user to check them.
    #[error("access refused: {details}")]
    AccessDenied {
        /// What to fix.
        details: String,
    },
    /// The server could not be reached after retrying: no network, or it is down.
    #[error("unreachable: {details}")]
    Unreachable {
        /// Details.
        details: String,
    },
    /// A source file or restore target could not be read or written.
    #[error("{details}")]
    Io {
        /// Details, naming the file.
        details: String,
    },
    /// The chat database did not open with any key tried: ask the user for the key or the
    /// phone's IMEI.
    #[error("{details}")]
    WrongDatabaseKey {
        /// What was tried, by origin (never a key).
        details: String,
    },
    /// The chat app's data (its export or backup) is damaged, truncated, or not of the
    /// given kind.
    #[error("{details}")]
    SourceUnreadable {
        /// Which file, and what is wrong with it.
        details: String,
    },
    /// Another device or process holds the repository (a prune, usually): retry later.
    #[error("repository busy: {details}")]
    Locked {
        /// Who holds it.
        details: String,
    },
    /// The job was cancelled; the repository is valid and the next run resumes.
    #[error("cancelled")]
    Cancelled,
    /// A bad argument (an unknown snapshot, an invalid setting).
    #[error("{details}")]
    InvalidArgument {
        /// Details.
        details: String,
    },
    /// A bug or an environment failure; report it.
    #[error("internal error: {details}")]
    Internal {
        /// Details.
        details: String,
    },
}

impl From<CoreError> for ChatVaultError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::WrongPassword => ChatVaultError::WrongPassword,
            CoreError::RepositoryNotFound { location } => {
                ChatVaultError::RepositoryNotFound { location }
            }
            CoreError::RepositoryExists { location } => {
                ChatVaultError::RepositoryExists { location }
            }
            CoreError::Corrupt { object, reason } => ChatVaultError::Corrupt { object, reason },
            CoreError::Storage(s @ chatvault_core::storage::StorageError::Denied { .. }) => {
                ChatVaultError::AccessDenied {
                    details: s.to_string(),
                }
            }
            CoreError::Storage(s @ chatvault_core::storage::StorageError::Unreachable { .. }) => {
                ChatVaultError::Unreachable {
                    details: s.to_string(),
                }
            }
            CoreError::Storage(s) => ChatVaultError::Storage {
                details: s.to_string(),
            },
            e @ CoreError::Io { .. } => ChatVaultError::Io {
                details: e.to_string(),
            },
            CoreError::Locked(details) => ChatVaultError::Locked { details },
            e @ CoreError::WrongKey { .. } => ChatVaultError::WrongDatabaseKey {
                details: e.to_string(),
            },
            e @ CoreError::Source { .. } => ChatVaultError::SourceUnreadable {
                details: e.to_string(),
            },
            CoreError::Cancelled => ChatVaultError::Cancelled,
            e @ (CoreError::SnapshotNotFound(_)
            | CoreError::AmbiguousSnapshot(_)
            | CoreError::UnsafePath(_)
            | CoreError::InvalidArgument(_)) => ChatVaultError::InvalidArgument {
                details: e.to_string(),
            },
            e => ChatVaultError::Internal {
                details: e.to_string(),
            },
        }
    }
}

/// An exception thrown by Kotlin or Swift code inside a callback becomes an error, never a
/// panic in Rust.
impl From<uniffi::UnexpectedUniFFICallbackError> for ChatVaultError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        ChatVaultError::Internal {
            details: format!("callback failed: {}", e.reason),
        }
    }
}

pub(crate) type Result<T, E = ChatVaultError> = std::result::Result<T, E>;
