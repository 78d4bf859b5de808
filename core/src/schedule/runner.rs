//! `run_due`: what a phone's background task or a PC's timer calls. It decides which plans
//! are due, checks their constraints, runs backup → retention → prune → verification, and
//! records everything.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::plan::{DeviceConditions, PlanSpec};
use super::store::{Outcome, Plan, RunRecord, Store};
use crate::error::{Error, Result};
use crate::progress::{CancelToken, ProgressListener};
use crate::repo::backup::BackupOptions;
use crate::repo::check::ReadData;
use crate::repo::keys::Secret;
use crate::repo::prune::PruneOptions;
use crate::repo::retention;
use crate::repo::snapshot::SourceInfo;
use crate::repo::Repository;
use crate::storage::{LocalStorage, Storage};

/// First retry after a failure; doubles with each further failure.
const FIRST_RETRY: i64 = 15;

/// Supplies each plan's repository secret (Android Keystore, iOS Keychain, or a 0600 file
/// on a PC). The scheduler never stores secrets.
pub trait SecretProvider: Send + Sync {
    /// The password or recovery key of `plan`'s destination.
    fn secret(&self, plan: &PlanSpec) -> Result<Secret>;
}

/// Opens a plan's destination storage from its location string.
pub trait StorageOpener: Send + Sync {
    /// The storage at `destination`.
    fn open(&self, destination: &str) -> Result<Arc<dyn Storage>>;
}

/// Opens local paths (other backends arrive with their issues).
pub struct LocalOpener;

impl StorageOpener for LocalOpener {
    fn open(&self, destination: &str) -> Result<Arc<dyn Storage>> {
        let path = destination.strip_prefix("file://").unwrap_or(destination);
        if path.contains("://") {
            return Err(Error::InvalidArgument(format!(
                "unsupported destination {destination:?}: this build backs up to local paths"
            )));
        }
        Ok(Arc::new(LocalStorage::new(path)))
    }
}

/// What happened to one plan in one `run_due` call.
#[derive(Debug, Clone, Serialize)]
pub struct PlanRun {
    /// Plan id.
    pub plan_id: i64,
    /// Plan name.
    pub name: String,
    /// Outcome (`skipped` with a reason when it did not run).
    pub outcome: Outcome,
    /// Why it was skipped.
    pub reason: Option<String>,
    /// The run's record, when it ran.
    pub record: Option<RunRecord>,
}

/// The scheduler over a state database.
pub struct Scheduler {
    store: Store,
    opener: Box<dyn StorageOpener>,
    /// Private folder for temporary files (the chat index while it is built): beside the
    /// state database, which the app keeps in its own storage (phones have no usable /tmp).
    work_dir: std::path::PathBuf,
}

/// A user-facing description of an error: what went wrong and what to do.
pub fn plain_error(e: &Error) -> String {
    match e {
        Error::WrongPassword => "The repository password is wrong (was it changed on another device?). Enter the current password.".into(),
        Error::RepositoryNotFound { location } => format!("The backup destination {location} was not found: is the drive connected or the folder moved?"),
        Error::Storage(s) => format!("Could not write to the backup destination: {s}"),
        Error::Io { op, path, source } => format!("Could not {op} {}: {source}", path.display()),
        Error::Corrupt { object, reason } => format!("The backup is damaged ({object}: {reason}). Run a full check."),
        Error::Locked(who) => format!("The repository is busy ({who}); the backup will be retried."),
        Error::Cancelled => "The backup was stopped before it finished; it will resume.".into(),
        Error::WrongKey { .. } => format!("{e}. Open the app and enter the chat database key or the phone's IMEI."),
        Error::Source { .. } => format!("The chat export could not be read: {e}"),
        e => e.to_string(),
    }
}

impl Scheduler {
    /// A scheduler with its state in `db` (created if missing), backing up to local paths.
    pub fn open(db: &Path) -> Result<Scheduler> {
        Self::with_opener(db, Box::new(LocalOpener))
    }

    /// A scheduler that opens destinations with `opener`.
    pub fn with_opener(db: &Path, opener: Box<dyn StorageOpener>) -> Result<Scheduler> {
        let work_dir = db.parent().unwrap_or_else(|| Path::new(".")).join("tmp");
        Ok(Scheduler {
            store: Store::open(db)?,
            opener,
            work_dir,
        })
    }

    /// The private temporary folder, created if missing.
    fn work_dir(&self) -> Result<&Path> {
        std::fs::create_dir_all(&self.work_dir)
            .map_err(|e| Error::io("create", &self.work_dir, e))?;
        Ok(&self.work_dir)
    }

    /// The state database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Adds a plan, due at once.
    pub fn add_plan(&self, spec: &PlanSpec, now: DateTime<Utc>) -> Result<i64> {
        self.store.add_plan(spec, now)
    }

    /// Runs every due plan whose constraints hold; see the module documentation.
    pub fn run_due(
        &mut self,
        now: DateTime<Utc>,
        conditions: &DeviceConditions,
        secrets: &dyn SecretProvider,
        listener: Option<&dyn ProgressListener>,
        cancel: &CancelToken,
    ) -> Result<Vec<PlanRun>> {
        self.store.recover_interrupted(now)?;
        let mut out = Vec::new();
        for plan in self.store.plans()? {
            cancel.check()?;
            let skip = |reason: String| PlanRun {
                plan_id: plan.id,
                name: plan.spec.name.clone(),
                outcome: Outcome::Skipped,
                reason: Some(reason),
                record: None,
            };
            if let Some(why) = not_due(&plan, now) {
                out.push(skip(why));
                continue;
            }
            if let Some(why) = plan.spec.constraints.unmet(conditions) {
                self.store.record_skip(plan.id, now, why)?;
                out.push(skip(why.to_string()));
                continue;
            }
            let Some(run_id) = self.store.claim(plan.id, now)? else {
                out.push(skip("already running".into()));
                continue;
            };
            let record = self.run_plan(plan.clone(), run_id, now, secrets, listener, cancel)?;
            out.push(PlanRun {
                plan_id: plan.id,
                name: plan.spec.name.clone(),
                outcome: record.outcome.unwrap_or(Outcome::Failed),
                reason: None,
                record: Some(record),
            });
            if cancel.is_cancelled() {
                break;
            }
        }
        Ok(out)
    }

    fn run_plan(
        &mut self,
        mut plan: Plan,
        run_id: i64,
        now: DateTime<Utc>,
        secrets: &dyn SecretProvider,
        listener: Option<&dyn ProgressListener>,
        cancel: &CancelToken,
    ) -> Result<RunRecord> {
        let started = Instant::now();
        let mut rec = RunRecord {
            id: run_id,
            plan_id: plan.id,
            started: Some(now),
            count: 1,
            ..Default::default()
        };
        let result = self.execute(&mut plan, &mut rec, now, secrets, listener, cancel);
        rec.ended = Some(now + Duration::from_std(started.elapsed()).unwrap_or_default());
        match result {
            Ok(()) => {
                rec.outcome = Some(Outcome::Success);
                plan.failures = 0;
                plan.last_success = Some(now);
                plan.next_due = plan.spec.next_due(now);
            }
            Err(Error::Cancelled) => {
                rec.outcome = Some(Outcome::Interrupted);
                rec.error = Some(plain_error(&Error::Cancelled));
            }
            Err(e) => {
                log::warn!("plan {}: {e}", plan.spec.name);
                rec.outcome = Some(Outcome::Failed);
                rec.error = Some(plain_error(&e));
                plan.failures += 1;
                // Exponential backoff, never past the next regular slot.
                let backoff = Duration::minutes(FIRST_RETRY << (plan.failures - 1).min(10));
                plan.next_due = (now + backoff).min(plan.spec.next_due(now));
            }
        }
        self.store.finish(&rec, &plan)?;
        Ok(rec)
    }

    fn execute(
        &self,
        plan: &mut Plan,
        rec: &mut RunRecord,
        now: DateTime<Utc>,
        secrets: &dyn SecretProvider,
        listener: Option<&dyn ProgressListener>,
        cancel: &CancelToken,
    ) -> Result<()> {
        let spec = plan.spec.clone();
        let storage = self.opener.open(&spec.destination)?;
        let repo = Repository::open(storage, &secrets.secret(&spec)?)?;
        let options = BackupOptions {
            host: None,
            tags: vec![format!("plan:{}", spec.name)],
            page_sizes: spec.page_sizes.clone(),
            source: SourceInfo {
                kind: spec.source_kind.clone(),
                description: format!("scheduled plan {}", spec.name),
            },
            exclude_media: spec.exclude_media,
            time: Some(now),
            lock_wait: std::time::Duration::from_secs(120),
            ..Default::default()
        };
        // A chat export gets its chat index like a manual backup (the kind is detected and
        // WeChat's key derived from the export itself).
        let result = repo
            .backup_export(
                &spec.source,
                &crate::sources::SourceOptions::default(),
                &options,
                Some(self.work_dir()?),
                listener,
                cancel,
            )?
            .backup;
        let s = &result.snapshot;
        rec.snapshot = Some(s.id.to_hex());
        rec.files = Some(s.summary.files);
        rec.bytes_added = Some(s.summary.bytes_added);
        rec.bytes_stored = Some(s.summary.bytes_stored);
        if !result.warnings.is_empty() {
            rec.reason = Some(format!(
                "{} file(s) could not be read: {}",
                result.warnings.len(),
                result.warnings.join("; ")
            ));
        }

        // Retention applies to this plan's own snapshots.
        let tag = format!("plan:{}", spec.name);
        let mine: Vec<_> = repo
            .snapshots()?
            .into_iter()
            .filter(|x| x.tags.contains(&tag))
            .collect();
        let mut forgotten = 0;
        for d in retention::apply(&spec.retention.policy(), &mine)
            .iter()
            .filter(|d| d.reasons.is_empty())
        {
            repo.delete_snapshot(&d.id)?;
            forgotten += 1;
        }
        rec.forgotten = Some(forgotten);
        let prune_due = plan
            .last_prune
            .is_none_or(|t| now - t >= Duration::days(i64::from(spec.prune_every_days)));
        if forgotten > 0 && prune_due {
            cancel.check()?;
            repo.prune(
                &PruneOptions {
                    lock_wait: std::time::Duration::from_secs(120),
                    ..Default::default()
                },
                listener,
                cancel,
            )?;
            plan.last_prune = Some(now);
            rec.pruned = Some(true);
        }

        let v = spec.verification;
        let full_due = v.full_every_days > 0
            && plan
                .last_full_verify
                .is_none_or(|t| now - t >= Duration::days(i64::from(v.full_every_days)));
        let mode = if full_due {
            ReadData::All
        } else if v.sample_percent > 0.0 {
            ReadData::Subset(v.sample_percent)
        } else {
            ReadData::None
        };
        let report = repo.check(mode, listener, cancel)?;
        if !report.is_ok() {
            return Err(Error::corrupt("repository", report.errors.join("; ")));
        }
        if full_due {
            plan.last_full_verify = Some(now);
        }
        rec.verified = Some(match mode {
            ReadData::All => format!("full: {} packs read back", report.packs_read),
            ReadData::Subset(p) => format!("sample {p}%: {} packs read back", report.packs_read),
            ReadData::None => "structure".into(),
        });
        rec.repo_bytes = Some(repo.stored_bytes()?);
        Ok(())
    }
}

/// Why `plan` is not due at `now`, if it is not.
fn not_due(plan: &Plan, now: DateTime<Utc>) -> Option<String> {
    if now < plan.next_due {
        return Some(format!(
            "not due until {}",
            plan.next_due
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
        ));
    }
    if let Some(w) = plan.spec.window {
        // Outside the preferred window, wait for it, unless backups are two periods late.
        let last = plan.last_success.unwrap_or(plan.created);
        let overdue = now - last > plan.spec.frequency.period() * 2;
        if !w.contains(now) && !overdue {
            return Some(format!(
                "outside the window {}-{}",
                w.start.format("%H:%M"),
                w.end.format("%H:%M")
            ));
        }
    }
    None
}
