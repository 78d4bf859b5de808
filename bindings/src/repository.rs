//! An open repository and the job handle that cancels its long operations.

use std::sync::{Arc, RwLock};

use chatvault_core as core;

use crate::callbacks::{ProgressAdapter, ProgressListener};
use crate::chats::{
    ArchivePurge, ChatBackupResult, ChatMessage, ChatSource, ChatSummary, ExportOptions,
    ExportResult,
};
use crate::error::{ChatVaultError, Result};
use crate::records::{
    BackupOptions, BackupResult, CheckReport, KeySlot, RepoStats, RestoreSummary, RetentionPolicy,
    SnapshotInfo,
};

/// Cancels a long operation. Create one, pass it to the call, call `cancel()` from any
/// thread (a coroutine's cancellation, a Swift task's cancellation handler): the operation
/// stops within a second and throws `Cancelled`, leaving the repository valid.
#[derive(uniffi::Object, Default)]
pub struct JobHandle {
    token: core::CancelToken,
}

#[uniffi::export]
impl JobHandle {
    /// A fresh handle.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(JobHandle::default())
    }

    /// Requests cancellation.
    pub fn cancel(&self) {
        self.token.cancel()
    }

    /// True once cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
}

impl JobHandle {
    pub(crate) fn token(&self) -> &core::CancelToken {
        &self.token
    }
}

/// An open repository. Calls block: make them from a background thread. Calls may overlap
/// (list snapshots while a backup runs); only `change_password` waits for the others.
#[derive(uniffi::Object)]
pub struct Repository {
    inner: RwLock<core::Repository>,
    /// Private temporary folder under the library's state directory (phones have no /tmp).
    work_dir: std::path::PathBuf,
}

fn poisoned<T>(_: T) -> ChatVaultError {
    ChatVaultError::Internal {
        details: "repository lock poisoned".into(),
    }
}

impl Repository {
    /// The repository, its temporary files (the index's sorted tables) in `work_dir`.
    pub(crate) fn wrap(
        work_dir: std::path::PathBuf,
        mut inner: core::Repository,
    ) -> Result<Arc<Self>> {
        std::fs::create_dir_all(&work_dir).map_err(|e| ChatVaultError::Io {
            details: format!("create {}: {e}", work_dir.display()),
        })?;
        inner.set_work_dir(Some(work_dir.clone()));
        // The app's own folder outlives a backup: each source's chat index is kept there
        // for the next one.
        inner.set_cache_dir(Some(work_dir.clone()));
        Ok(Arc::new(Repository {
            inner: RwLock::new(inner),
            work_dir,
        }))
    }

    /// The caller's work folder, else the library's, created if missing.
    fn work_dir(&self, given: Option<&str>) -> Result<std::path::PathBuf> {
        let dir = given.map_or_else(|| self.work_dir.clone(), Into::into);
        std::fs::create_dir_all(&dir).map_err(|e| ChatVaultError::Io {
            details: format!("create {}: {e}", dir.display()),
        })?;
        Ok(dir)
    }

    fn with<T>(&self, f: impl FnOnce(&core::Repository) -> core::Result<T>) -> Result<T> {
        Ok(f(&*self.inner.read().map_err(poisoned)?)?)
    }

    fn with_mut<T>(&self, f: impl FnOnce(&mut core::Repository) -> core::Result<T>) -> Result<T> {
        Ok(f(&mut *self.inner.write().map_err(poisoned)?)?)
    }
}

fn adapter(listener: &Option<Arc<dyn ProgressListener>>) -> Option<ProgressAdapter> {
    listener.clone().map(ProgressAdapter)
}

#[uniffi::export]
impl Repository {
    /// Backs up files and folders into a new snapshot.
    pub fn backup(
        &self,
        paths: Vec<String>,
        options: BackupOptions,
        listener: Option<Arc<dyn ProgressListener>>,
        job: Arc<JobHandle>,
    ) -> Result<BackupResult> {
        let paths: Vec<_> = paths.into_iter().map(Into::into).collect();
        let l = adapter(&listener);
        let r = self.with(|repo| {
            repo.backup(
                &paths,
                &options.into(),
                l.as_ref().map(|a| a as _),
                &job.token,
            )
        })?;
        Ok(BackupResult {
            snapshot: (&r.snapshot).into(),
            warnings: r.warnings,
        })
    }

    /// Backs up a chat app's data (a source: WeChat, WhatsApp, Telegram, or any folder):
    /// reads it into a searchable chat index and stores the source byte for byte beside it.
    /// Fails before writing anything if the source cannot be read (`WrongDatabaseKey`,
    /// `SourceUnreadable`).
    pub fn backup_source(
        &self,
        path: String,
        source: ChatSource,
        options: BackupOptions,
        listener: Option<Arc<dyn ProgressListener>>,
        job: Arc<JobHandle>,
    ) -> Result<ChatBackupResult> {
        let opts = core::SourceOptions::try_from(&source)?;
        let l = adapter(&listener);
        let work = self.work_dir(source.work_dir.as_deref())?;
        let r = self.with(|repo| {
            core::chat::backup_source(
                repo,
                std::path::Path::new(&path),
                &opts,
                &options.into(),
                Some(&work),
                l.as_ref().map(|a| a as _),
                &job.token,
            )
        })?;
        Ok(ChatBackupResult {
            backup: BackupResult {
                snapshot: (&r.backup.snapshot).into(),
                warnings: r.backup.warnings,
            },
            chats: r.summary.map(Into::into),
            notices: r.notices,
        })
    }

    /// The conversations a snapshot holds (from the snapshot alone; none if it is not of a
    /// chat export).
    pub fn chats(&self, snapshot: String) -> Result<Option<ChatSummary>> {
        let snap = self.with(|repo| repo.find_snapshot(&snapshot))?;
        Ok(core::chat::summary_of(&snap).map(Into::into))
    }

    /// Messages of a snapshot containing `query` (any script, emoji included), newest first.
    pub fn search(
        &self,
        snapshot: String,
        query: String,
        conversation: Option<String>,
        limit: u32,
        work_dir: Option<String>,
    ) -> Result<Vec<ChatMessage>> {
        let work = self.work_dir(work_dir.as_deref())?;
        self.with(|repo| {
            let snap = repo.find_snapshot(&snapshot)?;
            let chats = core::chat::open_chats(repo, &snap, Some(&work))?;
            chats.search(&query, conversation.as_deref(), limit as usize)
        })
        .map(|hits| hits.into_iter().map(Into::into).collect())
    }

    /// Writes a snapshot's chats into the folder `out` (new, empty, or an earlier export) as
    /// a static HTML site, JSON or text, with the media they show copied beside them.
    pub fn export_chats(
        &self,
        snapshot: String,
        out: String,
        options: ExportOptions,
        listener: Option<Arc<dyn ProgressListener>>,
        job: Arc<JobHandle>,
    ) -> Result<ExportResult> {
        let l = adapter(&listener);
        let work = self.work_dir(options.work_dir.as_deref())?;
        self.with(|repo| {
            let snap = repo.find_snapshot(&snapshot)?;
            core::export::export_chats(
                repo,
                &snap,
                std::path::Path::new(&out),
                &(&options).into(),
                Some(&work),
                l.as_ref().map(|a| a as _),
                &job.token,
            )
        })
        .map(Into::into)
    }

    /// Lists snapshots, oldest first.
    pub fn snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        Ok(self
            .with(|repo| repo.snapshots())?
            .iter()
            .map(Into::into)
            .collect())
    }

    /// Restores a snapshot (id, id prefix or `latest`) into `target`; `include` limits it to
    /// some paths of the snapshot (empty: everything).
    pub fn restore(
        &self,
        snapshot: String,
        target: String,
        include: Vec<String>,
        listener: Option<Arc<dyn ProgressListener>>,
        job: Arc<JobHandle>,
    ) -> Result<RestoreSummary> {
        let l = adapter(&listener);
        let options = core::RestoreOptions { include };
        Ok(self
            .with(|repo| {
                let snap = repo.find_snapshot(&snapshot)?;
                repo.restore(
                    &snap,
                    std::path::Path::new(&target),
                    &options,
                    l.as_ref().map(|a| a as _),
                    &job.token,
                )
            })?
            .into())
    }

    /// Verifies the repository, reading back `read_data_percent` % of the data (0: structure
    /// only, 100: everything).
    pub fn check(
        &self,
        read_data_percent: f64,
        listener: Option<Arc<dyn ProgressListener>>,
        job: Arc<JobHandle>,
    ) -> Result<CheckReport> {
        let mode = match read_data_percent {
            p if p <= 0.0 => core::ReadData::None,
            p if p >= 100.0 => core::ReadData::All,
            p => core::ReadData::Subset(p),
        };
        let l = adapter(&listener);
        Ok(self
            .with(|repo| repo.check(mode, l.as_ref().map(|a| a as _), &job.token))?
            .into())
    }

    /// Removes snapshots the policy does not keep, then deletes unused data. Returns how many
    /// snapshots were removed.
    pub fn forget_and_prune(&self, policy: RetentionPolicy, job: Arc<JobHandle>) -> Result<u32> {
        let policy = core::RetentionPolicy::from(policy);
        self.with(|repo| {
            let removed = repo
                .forget(&policy, false)?
                .iter()
                .filter(|d| d.reasons.is_empty())
                .count() as u32;
            repo.prune(&core::PruneOptions::default(), None, &job.token)?;
            Ok(removed)
        })
    }

    /// Removes the snapshots named by id or unique id prefix (damaged ones too: a snapshot
    /// that no longer opens is removed by its id), then deletes unused data. Every name is
    /// checked first: none is removed when one matches no snapshot or several. Returns the
    /// ids removed.
    pub fn forget_snapshots(&self, ids: Vec<String>, job: Arc<JobHandle>) -> Result<Vec<String>> {
        self.with(|repo| {
            let removed = repo.forget_ids(&ids, false)?;
            repo.prune(&core::PruneOptions::default(), None, &job.token)?;
            Ok(removed)
        })
    }

    /// Removes a conversation's archived messages (those the phone no longer has, kept by
    /// earlier backups) sent before `before_ms` (ms since the epoch; none: all of them),
    /// and the media only they used, from every snapshot, then deletes their data. With
    /// `dry_run`, only counts. Messages a snapshot's backed-up export still holds are left
    /// as they are: [`ArchivePurge::held_by_exports`] names those snapshots.
    pub fn purge_archive(
        &self,
        conversation: String,
        before_ms: Option<i64>,
        dry_run: bool,
        work_dir: Option<String>,
        job: Arc<JobHandle>,
    ) -> Result<ArchivePurge> {
        let work = self.work_dir(work_dir.as_deref())?;
        let before = before_ms
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.with_timezone(&chrono::Local).naive_local());
        let request = core::chat::PurgeRequest {
            conversation,
            window: core::export::window(None, before),
            filter: Default::default(),
            dry_run,
            lock_wait: std::time::Duration::from_secs(60),
        };
        self.with(|repo| {
            let report = core::chat::purge_archive(repo, &request, Some(&work), &job.token)?;
            if !dry_run && !report.snapshots.is_empty() {
                repo.prune(&core::PruneOptions::default(), None, &job.token)?;
            }
            Ok(report)
        })
        .map(Into::into)
    }

    /// Sizes and ratios.
    pub fn stats(&self) -> Result<RepoStats> {
        Ok(self.with(|repo| repo.stats())?.into())
    }

    /// Key slots.
    pub fn keys(&self) -> Result<Vec<KeySlot>> {
        Ok(self
            .with(|repo| repo.keys())?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Replaces the password this repository was opened with.
    pub fn change_password(&self, new_password: String) -> Result<()> {
        self.with_mut(|repo| {
            repo.change_password(&new_password, core::KdfParams::default())
                .map(|_| ())
        })
    }

    /// Creates a new recovery key (replacing any earlier one) and returns it: show it to the
    /// user once; it is not stored anywhere.
    pub fn new_recovery_key(&self) -> Result<String> {
        self.with(|repo| repo.new_recovery_key())
    }
}
