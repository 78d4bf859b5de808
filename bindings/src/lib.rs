//! # chatvault-ffi
//!
//! The UniFFI surface of chatvault-core for Kotlin and Swift. Each export converts its
//! arguments, calls core, and converts the result: no logic lives here.
//!
//! Long operations are blocking calls made from a background thread (Kotlin's
//! `Dispatchers.IO`, a Swift detached task); each takes a [`JobHandle`] whose `cancel()`
//! stops it within a second. Progress arrives through a foreign [`ProgressListener`].

uniffi::setup_scaffolding!();

mod callbacks;
mod chats;
mod entry;
mod error;
mod lan;
mod records;
mod repository;
mod schedule;

pub use callbacks::{
    DestinationResolver, LogLevel, Logger, ProgressListener, SecretStore, Storage,
};
pub use entry::ChatVault;
pub use error::ChatVaultError;
pub use lan::LanPairing;
pub use records::*;
pub use repository::{JobHandle, Repository};
pub use schedule::Scheduler;
