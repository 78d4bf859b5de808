//! # chatvault-core
//!
//! The ChatVault engine: encrypted, deduplicating, verifiable, incremental backups of chat
//! exports, into any [`storage::Storage`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use chatvault_core::{Repository, InitOptions, Secret, BackupOptions, CancelToken, storage::LocalStorage};
//!
//! let storage = Arc::new(LocalStorage::new("/sdcard/ChatVault"));
//! let (repo, _) = Repository::init(storage.clone(), "a long password", &InitOptions::default())?;
//! let result = repo.backup(&["/sdcard/export".into()], &BackupOptions::default(), None, &CancelToken::new())?;
//! println!("snapshot {}", result.snapshot.id.short());
//! let repo = Repository::open(storage, &Secret::password("a long password"))?;
//! # Ok::<(), chatvault_core::Error>(())
//! ```
//!
//! The format is specified in `docs/FORMAT.md`.

#![warn(missing_docs)]

pub mod chat;
pub mod error;
pub mod export;
pub mod i18n;
pub mod lan;
pub mod net;
pub mod progress;
mod read_at;
pub mod repo;
mod safe_fs;
pub mod schedule;
pub mod sources;
pub mod storage;
mod temp;
mod zip_guard;

pub use chat::{ChatIndex, ChatSummary, SourceBackup};
pub use error::{Error, Result};
pub use export::{ExportFormat, ExportOptions, ExportSummary};
pub use i18n::Language;
pub use progress::{CancelToken, Phase, Progress, ProgressListener};
pub use repo::backup::{BackupOptions, BackupResult};
pub use repo::blob::BlobKind;
pub use repo::check::{CheckReport, ReadData};
pub use repo::copy::{CopySummary, LinkParams};
pub use repo::filter::SnapshotFilter;
pub use repo::id::Id;
pub use repo::keys::{KdfParams, KeySlotInfo, Secret, SlotKind};
pub use repo::prune::{PruneOptions, PruneSummary};
pub use repo::restore::{DamagedPath, RestoreOptions, RestoreSummary};
pub use repo::retention::{parse_duration, Decision, RetentionPolicy};
pub use repo::snapshot::{Snapshot, SnapshotSummary, SourceInfo};
pub use repo::stats::RepoStats;
pub use repo::{BlobInfo, InitOptions, Repository};
pub use sources::{SourceKind, SourceOptions};
