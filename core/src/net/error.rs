//! What went wrong on the local network, in words a user can act on.

use std::path::Path;

/// What went wrong on the LAN, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum LanError {
    /// A `lan://` location, pairing URI or address that does not parse.
    #[error("{text:?} is not a receiver address: {reason}")]
    BadAddress {
        /// What was given (cut).
        text: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The receiver could not be reached.
    #[error("the receiver at {address} cannot be reached: {reason}")]
    Unreachable {
        /// host:port
        address: String,
        /// The transport's error, the attempts made, and what usually causes it.
        reason: String,
    },
    /// The receiver presented a certificate other than the paired one.
    #[error(
        "the receiver at {address} is not the one paired with this phone (expected identity \
         {expected}, got {got}); if the PC was reinstalled, pair again"
    )]
    WrongReceiver {
        /// host:port
        address: String,
        /// The pinned fingerprint (short form).
        expected: String,
        /// What the receiver presented (short form).
        got: String,
    },
    /// Pairing was refused: wrong code or secret, too many attempts, or an interception.
    #[error("pairing refused: {0}")]
    PairingRefused(String),
    /// The receiver does not know this device (not paired, or revoked).
    #[error("the receiver does not know this device: pair it again (`chatvault pair`)")]
    NotPaired,
    /// The receiver answered something outside the protocol.
    #[error("the receiver answered unexpectedly: {0}")]
    Protocol(String),
    /// Making or reading an identity failed.
    #[error("device identity: {0}")]
    Identity(String),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl LanError {
    pub(crate) fn identity(e: impl std::fmt::Display) -> Self {
        LanError::Identity(e.to_string())
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        LanError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
