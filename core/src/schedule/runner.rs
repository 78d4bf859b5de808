//! `run_due`: what a phone's background task or a PC's timer calls. It decides which plans
//! are due, checks their constraints, runs backup → retention → prune → verification, and
//! records everything.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::plan::{Constraints, DeviceConditions, PlanSpec};
use super::store::{DestinationState, Outcome, Plan, RunRecord, Store};
use crate::error::{Error, Result};
use crate::progress::{CancelToken, ProgressListener};
use crate::repo::backup::BackupOptions;
use crate::repo::check::ReadData;
use crate::repo::keys::Secret;
use crate::repo::prune::PruneOptions;
use crate::repo::retention;
use crate::repo::snapshot::SourceInfo;
use crate::repo::Repository;
use crate::storage::Storage;

/// First retry after a failure; doubles with each further failure.
const FIRST_RETRY: i64 = 15;

/// Supplies each plan's repository secret (Android Keystore, iOS Keychain, or a 0600 file
/// on a PC). The scheduler never stores secrets.
pub trait SecretProvider: Send + Sync {
    /// The password or recovery key of `plan`'s destination.
    fn secret(&self, plan: &PlanSpec) -> Result<Secret>;

    /// The password of one of the plan's copy destinations (default: the plan's own).
    fn destination_secret(&self, plan: &PlanSpec, destination: &str) -> Result<Secret> {
        let _ = destination;
        self.secret(plan)
    }
}

/// Opens a plan's destination storage from its location string.
pub trait StorageOpener: Send + Sync {
    /// The storage at `destination`.
    fn open(&self, destination: &str) -> Result<Arc<dyn Storage>>;
}

/// Opens any location [`crate::storage::open`] knows (paths, `s3://`, `webdav+https://`),
/// with network credentials from the environment (a PC's timer). Phones pass an opener
/// that takes them from the keystore.
pub struct LocalOpener;

impl StorageOpener for LocalOpener {
    fn open(&self, destination: &str) -> Result<Arc<dyn Storage>> {
        Ok(crate::storage::open(
            destination,
            &crate::storage::Access::from_env()?,
        )?)
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
        let cx = RunContext {
            now,
            conditions,
            secrets,
            listener,
            cancel,
        };
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
            let record = self.run_plan(plan.clone(), run_id, &cx)?;
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

    fn run_plan(&mut self, mut plan: Plan, run_id: i64, cx: &RunContext<'_>) -> Result<RunRecord> {
        let now = cx.now;
        let started = Instant::now();
        let mut rec = RunRecord {
            id: run_id,
            plan_id: plan.id,
            started: Some(now),
            count: 1,
            ..Default::default()
        };
        let result = self.execute(&mut plan, &mut rec, cx);
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

    fn execute(&self, plan: &mut Plan, rec: &mut RunRecord, cx: &RunContext<'_>) -> Result<()> {
        let (now, listener, cancel) = (cx.now, cx.listener, cx.cancel);
        let spec = plan.spec.clone();
        let (repo, used) = self.first_reachable(plan, rec, cx)?;
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
        let result = crate::chat::backup_source(
            &repo,
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
        for d in retention::apply(&spec.retention, &mine)
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
            repo.prune(&scheduled_prune(), listener, cancel)?;
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
        let mut state = self.store.destination(plan.id, &used)?;
        succeeded(&mut state, now, Some(now));
        self.store.save_destination(plan.id, &state)?;
        self.copy_to_others(plan, &repo, &used, rec, cx)
    }

    /// The plan's destinations in order: its own, then its copies' (with their
    /// constraints; none for its own).
    fn destinations(spec: &PlanSpec) -> Vec<(String, u32, Constraints)> {
        std::iter::once((spec.destination.clone(), 0, Constraints::default()))
            .chain(
                spec.copies
                    .iter()
                    .map(|c| (c.destination.clone(), c.every_hours, c.constraints)),
            )
            .collect()
    }

    fn open_destination(
        &self,
        spec: &PlanSpec,
        destination: &str,
        secrets: &dyn SecretProvider,
    ) -> Result<Repository> {
        let storage = self.opener.open(destination)?;
        let secret = if destination == spec.destination {
            secrets.secret(spec)?
        } else {
            secrets.destination_secret(spec, destination)?
        };
        let mut repo = Repository::open(storage, &secret)?;
        repo.set_work_dir(Some(self.work_dir()?.to_path_buf()));
        // Kept between nights: each source's chat index (a night reads back only what
        // changed of it).
        repo.set_cache_dir(Some(self.work_dir()?.to_path_buf()));
        Ok(repo)
    }

    /// Opens the first destination that can be reached now; records the others that could
    /// not as failed attempts.
    fn first_reachable(
        &self,
        plan: &Plan,
        rec: &mut RunRecord,
        cx: &RunContext<'_>,
    ) -> Result<(Repository, String)> {
        let (now, conditions, secrets) = (cx.now, cx.conditions, cx.secrets);
        let mut first_error = None;
        for (destination, _, constraints) in Self::destinations(&plan.spec) {
            if constraints.unmet(conditions).is_some() {
                continue;
            }
            match self.open_destination(&plan.spec, &destination, secrets) {
                Ok(repo) => {
                    if let Some((down, _)) = &first_error {
                        let note =
                            format!("backed up to {destination}: {down} could not be reached");
                        add_note(rec, note);
                    }
                    return Ok((repo, destination));
                }
                Err(e) if unreachable(&e) => {
                    self.record_failure(plan.id, &destination, 0, now, &e)?;
                    if first_error.is_none() {
                        first_error = Some((destination, e));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(first_error
            .map(|(_, e)| e)
            .unwrap_or_else(|| Error::InvalidArgument("the plan has no destination".into())))
    }

    fn record_failure(
        &self,
        plan_id: i64,
        destination: &str,
        every_hours: u32,
        now: DateTime<Utc>,
        e: &Error,
    ) -> Result<()> {
        let mut state = self.store.destination(plan_id, destination)?;
        state.last_attempt = Some(now);
        state.failures += 1;
        state.last_error = Some(plain_error(e));
        let cap = Duration::hours(i64::from(every_hours.max(24)));
        let backoff = Duration::minutes(FIRST_RETRY << (state.failures - 1).min(10));
        state.next_due = Some(now + backoff.min(cap));
        self.store.save_destination(plan_id, &state)
    }

    /// Copies the plan's snapshots from `repo` (where this run backed up) to every other
    /// destination that is due and whose constraints hold, and back the snapshots that were
    /// made on a destination while `repo` could not be reached. A failed copy is recorded
    /// on its destination (with its own backoff) and does not fail the run.
    fn copy_to_others(
        &self,
        plan: &Plan,
        repo: &Repository,
        used: &str,
        rec: &mut RunRecord,
        cx: &RunContext<'_>,
    ) -> Result<()> {
        let (now, conditions) = (cx.now, cx.conditions);
        let spec = &plan.spec;
        for (destination, every_hours, constraints) in Self::destinations(spec) {
            if destination == used || constraints.unmet(conditions).is_some() {
                continue;
            }
            let mut state = self.store.destination(plan.id, &destination)?;
            if state.next_due.is_some_and(|t| t > now) {
                continue;
            }
            let synced = self.sync_copy(spec, repo, &destination, &mut state, cx);
            match synced {
                Ok(newest) => {
                    succeeded(&mut state, now, newest);
                    state.next_due =
                        (every_hours > 0).then(|| now + Duration::hours(i64::from(every_hours)));
                    self.store.save_destination(plan.id, &state)?;
                }
                Err(Error::Cancelled) => return Err(Error::Cancelled),
                Err(e) => {
                    log::warn!("plan {}: copy to {destination}: {e}", spec.name);
                    self.record_failure(plan.id, &destination, every_hours, now, &e)?;
                    let note = format!("copy to {destination} failed: {}", plain_error(&e));
                    add_note(rec, note);
                }
            }
        }
        Ok(())
    }

    /// One copy exchange with `destination`; returns the time of the newest snapshot of
    /// the plan it holds afterwards.
    fn sync_copy(
        &self,
        spec: &PlanSpec,
        repo: &Repository,
        destination: &str,
        state: &mut DestinationState,
        cx: &RunContext<'_>,
    ) -> Result<Option<DateTime<Utc>>> {
        let (now, secrets, listener, cancel) = (cx.now, cx.secrets, cx.listener, cx.cancel);
        let target = self.open_destination(spec, destination, secrets)?;
        let tag = format!("plan:{}", spec.name);
        let of_plan = |r: &Repository| -> Result<Vec<crate::repo::snapshot::Snapshot>> {
            Ok(r.snapshots()?
                .into_iter()
                .filter(|s| s.tags.contains(&tag))
                .collect())
        };
        // Backups made on the destination while this repository was out of reach come
        // back first, so every destination ends with the same history.
        let stranded: Vec<_> = of_plan(&target)?
            .into_iter()
            .filter(|s| s.original.is_none())
            .collect();
        if !stranded.is_empty() {
            target.copy_to(repo, &stranded, listener, cancel)?;
        }
        repo.copy_to(&target, &of_plan(repo)?, listener, cancel)?;
        // The plan's retention applies on every destination; the copy's forgotten data is
        // pruned at most every `prune_every_days`, like the plan's own.
        let mut forgotten_here = 0;
        for r in [repo, &target] {
            let mine = of_plan(r)?;
            for d in retention::apply(&spec.retention, &mine)
                .iter()
                .filter(|d| d.reasons.is_empty())
            {
                r.delete_snapshot(&d.id)?;
                if std::ptr::eq(r, &target) {
                    forgotten_here += 1;
                }
            }
        }
        let prune_due = state
            .last_prune
            .is_none_or(|t| now - t >= Duration::days(i64::from(spec.prune_every_days)));
        if forgotten_here > 0 && prune_due {
            target.prune(&scheduled_prune(), listener, cancel)?;
            state.last_prune = Some(now);
        }
        let report = target.check(ReadData::None, None, cancel)?;
        if !report.is_ok() {
            return Err(Error::corrupt(destination, report.errors.join("; ")));
        }
        Ok(of_plan(&target)?.iter().map(|s| s.time).max())
    }
}

/// What one call of [`Scheduler::run_due`] runs with: the time, the device's state, the
/// plans' secrets, and where progress and cancellation go.
struct RunContext<'a> {
    now: DateTime<Utc>,
    conditions: &'a DeviceConditions,
    secrets: &'a dyn SecretProvider,
    listener: Option<&'a dyn ProgressListener>,
    cancel: &'a CancelToken,
}

/// Records on `state` an exchange with its destination that succeeded at `now`, the
/// destination's newest snapshot then from `newest`.
fn succeeded(state: &mut DestinationState, now: DateTime<Utc>, newest: Option<DateTime<Utc>>) {
    state.last_attempt = Some(now);
    state.last_success = Some(now);
    state.newest_snapshot = newest;
    state.verified = Some(now);
    state.failures = 0;
    state.last_error = None;
}

/// Adds `note` to the run's reason ("; " between notes).
fn add_note(rec: &mut RunRecord, note: String) {
    rec.reason = Some(match rec.reason.take() {
        Some(r) => format!("{r}; {note}"),
        None => note,
    });
}

/// A scheduled prune waits up to two minutes for a backup running on another device.
fn scheduled_prune() -> PruneOptions {
    PruneOptions {
        lock_wait: std::time::Duration::from_secs(120),
        ..Default::default()
    }
}

/// Whether an error means the destination is out of reach (not mounted, offline), as
/// opposed to wrong (a bad password, damage), which must not be papered over by going
/// elsewhere.
fn unreachable(e: &Error) -> bool {
    match e {
        Error::Storage(crate::storage::StorageError::Denied { .. }) => false,
        Error::RepositoryNotFound { .. } | Error::Storage(_) | Error::Io { .. } => true,
        _ => false,
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
