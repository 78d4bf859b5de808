//! The scheduler's state: plans, run history and due times, in a SQLite database in the
//! app's state directory. Secrets are never stored here.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use super::plan::PlanSpec;
use crate::error::{Error, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS plans (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    spec TEXT NOT NULL,
    created TEXT NOT NULL,
    next_due TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    last_success TEXT,
    last_full_verify TEXT,
    last_prune TEXT,
    running_pid INTEGER,
    running_host TEXT,
    running_run INTEGER
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    plan_id INTEGER NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
    started TEXT NOT NULL,
    ended TEXT,
    outcome TEXT NOT NULL,
    reason TEXT,
    files INTEGER,
    bytes_added INTEGER,
    bytes_stored INTEGER,
    snapshot TEXT,
    forgotten INTEGER,
    pruned INTEGER,
    verified TEXT,
    repo_bytes INTEGER,
    error TEXT,
    count INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS runs_by_plan ON runs(plan_id, id);
CREATE TABLE IF NOT EXISTS destinations (
    plan_id INTEGER NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
    destination TEXT NOT NULL,
    last_attempt TEXT,
    last_success TEXT,
    newest_snapshot TEXT,
    verified TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    next_due TEXT,
    last_error TEXT,
    last_prune TEXT,
    PRIMARY KEY (plan_id, destination)
);
";

/// What the scheduler knows of one destination of a plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DestinationState {
    /// Repository location.
    pub destination: String,
    /// The last time a backup or copy to it was tried.
    pub last_attempt: Option<DateTime<Utc>>,
    /// The last time one succeeded.
    pub last_success: Option<DateTime<Utc>>,
    /// The time of the newest snapshot of the plan it holds.
    pub newest_snapshot: Option<DateTime<Utc>>,
    /// The last time it was verified after a backup or copy.
    pub verified: Option<DateTime<Utc>>,
    /// Failures in a row.
    pub failures: u32,
    /// When a copy to it is next due (none: at the next run).
    pub next_due: Option<DateTime<Utc>>,
    /// The newest error, in plain words, since its last success.
    pub last_error: Option<String>,
    /// The last time data its snapshots no longer need was deleted there.
    pub last_prune: Option<DateTime<Utc>>,
}

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A time column (RFC 3339 text).
fn time_col(r: &rusqlite::Row, i: usize) -> rusqlite::Result<DateTime<Utc>> {
    let s: String = r.get(i)?;
    DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
        })
}

/// A nullable time column.
fn opt_time_col(r: &rusqlite::Row, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match r.get::<_, Option<String>>(i)? {
        None => Ok(None),
        Some(_) => time_col(r, i).map(Some),
    }
}

/// The database's name in errors.
const DB: &str = "schedule database";

/// A stored plan with its scheduling state.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Database id.
    pub id: i64,
    /// What the plan says.
    pub spec: PlanSpec,
    /// When it was added.
    pub created: DateTime<Utc>,
    /// When it is next due.
    pub next_due: DateTime<Utc>,
    /// Failures since the last good run.
    pub failures: u32,
    /// Start of the last good run.
    pub last_success: Option<DateTime<Utc>>,
    /// Start of the last run that read everything back.
    pub last_full_verify: Option<DateTime<Utc>>,
    /// Start of the last run that pruned.
    pub last_prune: Option<DateTime<Utc>>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Still running (or its process died without a word; see `Interrupted`).
    Running,
    /// Backed up, retention applied, verified.
    Success,
    /// Failed; `error` says why.
    Failed,
    /// The process was killed or the run cancelled; the next run resumes.
    Interrupted,
    /// Not run; `reason` says why.
    Skipped,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Success => "success",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
            Outcome::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> Outcome {
        match s {
            "running" => Outcome::Running,
            "success" => Outcome::Success,
            "failed" => Outcome::Failed,
            "interrupted" => Outcome::Interrupted,
            _ => Outcome::Skipped,
        }
    }
}

/// One entry of a plan's history.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunRecord {
    /// Database id.
    pub id: i64,
    /// Plan id.
    pub plan_id: i64,
    /// Start (scheduler time).
    pub started: Option<DateTime<Utc>>,
    /// End.
    pub ended: Option<DateTime<Utc>>,
    /// Outcome.
    pub outcome: Option<Outcome>,
    /// Why it was skipped.
    pub reason: Option<String>,
    /// Files in the snapshot.
    pub files: Option<u64>,
    /// Plaintext bytes added.
    pub bytes_added: Option<u64>,
    /// Stored bytes added.
    pub bytes_stored: Option<u64>,
    /// Snapshot written.
    pub snapshot: Option<String>,
    /// Snapshots removed by retention.
    pub forgotten: Option<u64>,
    /// Whether prune ran.
    pub pruned: Option<bool>,
    /// What was read back ("sample 5%", "full").
    pub verified: Option<String>,
    /// Repository size after the run.
    pub repo_bytes: Option<u64>,
    /// The error, in plain words.
    pub error: Option<String>,
    /// How many consecutive identical skips this row stands for.
    pub count: u64,
}

/// The state database.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        }
        // Plans name destinations and hosts: readable by this user only (SQLite gives its
        // -wal and -shm files the database's mode).
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)
                .map_err(|e| Error::io("create", path, e))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| Error::io("protect", path, e))?;
        }
        let conn = Connection::open(path).map_err(|e| Error::sqlite(DB, None, e))?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(|e| Error::sqlite(DB, None, e))?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
            .map_err(|e| Error::sqlite(DB, None, e))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| Error::sqlite(DB, None, e))?;
        Ok(Store { conn })
    }

    /// Adds a plan, due at `now`.
    pub fn add_plan(&self, spec: &PlanSpec, now: DateTime<Utc>) -> Result<i64> {
        spec.validate()?;
        let json =
            serde_json::to_string(spec).map_err(|e| Error::internal_from("encode a plan", e))?;
        self.conn
            .execute(
                "INSERT INTO plans (name, spec, created, next_due) VALUES (?1, ?2, ?3, ?3)",
                params![spec.name, json, ts(now)],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Error::InvalidArgument(format!("a plan named {:?} already exists", spec.name))
                }
                e => Error::sqlite(DB, None, e),
            })?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Removes a plan (and its history) by name or id.
    pub fn remove_plan(&self, name_or_id: &str) -> Result<Plan> {
        let plan = self.find_plan(name_or_id)?;
        self.conn
            .execute("DELETE FROM plans WHERE id = ?1", params![plan.id])
            .map_err(|e| Error::sqlite(DB, None, e))?;
        Ok(plan)
    }

    /// A plan by name or id.
    pub fn find_plan(&self, name_or_id: &str) -> Result<Plan> {
        self.plans()?
            .into_iter()
            .find(|p| p.spec.name == name_or_id || p.id.to_string() == name_or_id)
            .ok_or_else(|| Error::InvalidArgument(format!("no plan named {name_or_id:?}")))
    }

    /// All plans.
    pub fn plans(&self) -> Result<Vec<Plan>> {
        let mut st = self.conn.prepare("SELECT id, spec, created, next_due, failures, last_success, last_full_verify, last_prune FROM plans ORDER BY id").map_err(|e| Error::sqlite(DB, None, e))?;
        let rows = st
            .query_map([], |r| {
                let id: i64 = r.get(0)?;
                let spec: String = r.get(1)?;
                Ok(Plan {
                    id,
                    spec: serde_json::from_str(&spec).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            1,
                            rusqlite::types::Type::Text,
                            Box::new(e),
                        )
                    })?,
                    created: time_col(r, 2)?,
                    next_due: time_col(r, 3)?,
                    failures: r.get(4)?,
                    last_success: opt_time_col(r, 5)?,
                    last_full_verify: opt_time_col(r, 6)?,
                    last_prune: opt_time_col(r, 7)?,
                })
            })
            .map_err(|e| Error::sqlite(DB, None, e))?;
        let out = rows
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| Error::sqlite(DB, None, e))?;
        Ok(out)
    }

    /// Marks runs left `running` by processes that no longer exist as interrupted, and
    /// frees their plans. Returns how many.
    pub fn recover_interrupted(&mut self, now: DateTime<Utc>) -> Result<usize> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| Error::sqlite(DB, None, e))?;
        let stale: Vec<(i64, i64)> = {
            let mut st = tx.prepare("SELECT id, running_pid, running_host, running_run FROM plans WHERE running_pid IS NOT NULL").map_err(|e| Error::sqlite(DB, None, e))?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, u32>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .map_err(|e| Error::sqlite(DB, None, e))?;
            let mut v = Vec::new();
            for r in rows {
                let (plan, pid, host, run) = r.map_err(|e| Error::sqlite(DB, None, e))?;
                if !(host == crate::repo::hostname() && crate::repo::lock::process_alive(pid)) {
                    v.push((plan, run));
                }
            }
            v
        };
        for (plan, run) in &stale {
            tx.execute("UPDATE runs SET outcome = 'interrupted', ended = ?2, error = 'the run was cut off (the process was killed); the next run resumes it' WHERE id = ?1 AND outcome = 'running'", params![run, ts(now)])
                .map_err(|e| Error::sqlite(DB, None, e))?;
            tx.execute("UPDATE plans SET running_pid = NULL, running_host = NULL, running_run = NULL WHERE id = ?1", params![plan]).map_err(|e| Error::sqlite(DB, None, e))?;
        }
        tx.commit().map_err(|e| Error::sqlite(DB, None, e))?;
        Ok(stale.len())
    }

    /// Claims a plan for this process and starts a run record; `None` if another live
    /// process (or thread) already runs it.
    pub fn claim(&mut self, plan_id: i64, now: DateTime<Utc>) -> Result<Option<i64>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| Error::sqlite(DB, None, e))?;
        let busy: Option<Option<u32>> = tx
            .query_row(
                "SELECT running_pid FROM plans WHERE id = ?1",
                params![plan_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| Error::sqlite(DB, None, e))?;
        match busy {
            None => return Err(Error::InvalidArgument(format!("no plan {plan_id}"))),
            Some(Some(_)) => return Ok(None),
            Some(None) => {}
        }
        tx.execute(
            "INSERT INTO runs (plan_id, started, outcome) VALUES (?1, ?2, 'running')",
            params![plan_id, ts(now)],
        )
        .map_err(|e| Error::sqlite(DB, None, e))?;
        let run = tx.last_insert_rowid();
        tx.execute(
            "UPDATE plans SET running_pid = ?2, running_host = ?3, running_run = ?4 WHERE id = ?1",
            params![plan_id, std::process::id(), crate::repo::hostname(), run],
        )
        .map_err(|e| Error::sqlite(DB, None, e))?;
        tx.commit().map_err(|e| Error::sqlite(DB, None, e))?;
        Ok(Some(run))
    }

    /// Finishes a claimed run: writes its record and the plan's new state, and releases it.
    pub fn finish(&mut self, rec: &RunRecord, plan: &Plan) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| Error::sqlite(DB, None, e))?;
        tx.execute(
            "UPDATE runs SET ended = ?2, outcome = ?3, files = ?4, bytes_added = ?5, bytes_stored = ?6, snapshot = ?7, forgotten = ?8,
                 pruned = ?9, verified = ?10, repo_bytes = ?11, error = ?12 WHERE id = ?1",
            params![
                rec.id,
                rec.ended.map(ts),
                rec.outcome.unwrap_or(Outcome::Failed).as_str(),
                rec.files,
                rec.bytes_added,
                rec.bytes_stored,
                rec.snapshot,
                rec.forgotten,
                rec.pruned,
                rec.verified,
                rec.repo_bytes,
                rec.error
            ],
        )
        .map_err(|e| Error::sqlite(DB, None, e))?;
        tx.execute(
            "UPDATE plans SET next_due = ?2, failures = ?3, last_success = ?4, last_full_verify = ?5, last_prune = ?6,
                 running_pid = NULL, running_host = NULL, running_run = NULL WHERE id = ?1",
            params![plan.id, ts(plan.next_due), plan.failures, plan.last_success.map(ts), plan.last_full_verify.map(ts), plan.last_prune.map(ts)],
        )
        .map_err(|e| Error::sqlite(DB, None, e))?;
        tx.commit().map_err(|e| Error::sqlite(DB, None, e))
    }

    /// Records a skip; consecutive identical skips share one row (with a count).
    pub fn record_skip(&self, plan_id: i64, now: DateTime<Utc>, reason: &str) -> Result<()> {
        let last: Option<(i64, String, Option<String>)> = self
            .conn
            .query_row(
                "SELECT id, outcome, reason FROM runs WHERE plan_id = ?1 ORDER BY id DESC LIMIT 1",
                params![plan_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| Error::sqlite(DB, None, e))?;
        match last {
            Some((id, outcome, Some(r))) if outcome == "skipped" && r == reason => {
                self.conn
                    .execute(
                        "UPDATE runs SET ended = ?2, count = count + 1 WHERE id = ?1",
                        params![id, ts(now)],
                    )
                    .map_err(|e| Error::sqlite(DB, None, e))?;
            }
            _ => {
                self.conn
                    .execute("INSERT INTO runs (plan_id, started, ended, outcome, reason) VALUES (?1, ?2, ?2, 'skipped', ?3)", params![plan_id, ts(now), reason])
                    .map_err(|e| Error::sqlite(DB, None, e))?;
            }
        }
        Ok(())
    }

    /// A plan's history, newest first (`limit` 0: all).
    pub fn history(&self, plan_id: Option<i64>, limit: usize) -> Result<Vec<RunRecord>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, plan_id, started, ended, outcome, reason, files, bytes_added, bytes_stored, snapshot, forgotten, pruned, verified, repo_bytes, error, count
                 FROM runs WHERE (?1 IS NULL OR plan_id = ?1) ORDER BY id DESC LIMIT ?2",
            )
            .map_err(|e| Error::sqlite(DB, None, e))?;
        let limit = if limit == 0 { -1 } else { limit as i64 };
        let rows = st
            .query_map(params![plan_id, limit], |r| {
                let outcome: String = r.get(4)?;
                Ok(RunRecord {
                    id: r.get(0)?,
                    plan_id: r.get(1)?,
                    started: Some(time_col(r, 2)?),
                    ended: opt_time_col(r, 3)?,
                    outcome: Some(Outcome::parse(&outcome)),
                    reason: r.get(5)?,
                    files: r.get(6)?,
                    bytes_added: r.get(7)?,
                    bytes_stored: r.get(8)?,
                    snapshot: r.get(9)?,
                    forgotten: r.get(10)?,
                    pruned: r.get(11)?,
                    verified: r.get(12)?,
                    repo_bytes: r.get(13)?,
                    error: r.get(14)?,
                    count: r.get(15)?,
                })
            })
            .map_err(|e| Error::sqlite(DB, None, e))?;
        let out = rows
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| Error::sqlite(DB, None, e))?;
        Ok(out)
    }

    /// The repository size recorded by the newest good run at or before `t`.
    pub fn repo_bytes_at(&self, plan_id: i64, t: DateTime<Utc>) -> Result<Option<u64>> {
        self.conn
            .query_row(
                "SELECT repo_bytes FROM runs WHERE plan_id = ?1 AND outcome = 'success' AND started <= ?2 AND repo_bytes IS NOT NULL ORDER BY started DESC LIMIT 1",
                params![plan_id, ts(t)],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| Error::sqlite(DB, None, e))
    }

    /// What is known of one destination of a plan (empty if nothing yet).
    pub fn destination(&self, plan_id: i64, destination: &str) -> Result<DestinationState> {
        self.conn
            .query_row(
                "SELECT last_attempt, last_success, newest_snapshot, verified, failures, next_due,
                        last_error, last_prune
                   FROM destinations WHERE plan_id = ?1 AND destination = ?2",
                params![plan_id, destination],
                |r| {
                    Ok(DestinationState {
                        destination: destination.to_string(),
                        last_attempt: opt_time_col(r, 0)?,
                        last_success: opt_time_col(r, 1)?,
                        newest_snapshot: opt_time_col(r, 2)?,
                        verified: opt_time_col(r, 3)?,
                        failures: r.get(4)?,
                        next_due: opt_time_col(r, 5)?,
                        last_error: r.get(6)?,
                        last_prune: opt_time_col(r, 7)?,
                    })
                },
            )
            .optional()
            .map_err(|e| Error::sqlite(DB, None, e))
            .map(|o| {
                o.unwrap_or_else(|| DestinationState {
                    destination: destination.to_string(),
                    ..Default::default()
                })
            })
    }

    /// Records what the scheduler now knows of a destination of a plan.
    pub fn save_destination(&self, plan_id: i64, d: &DestinationState) -> Result<()> {
        let t = |x: Option<DateTime<Utc>>| x.map(ts);
        self.conn
            .execute(
                "INSERT OR REPLACE INTO destinations(plan_id, destination, last_attempt,
                   last_success, newest_snapshot, verified, failures, next_due, last_error,
                   last_prune)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    plan_id,
                    d.destination,
                    t(d.last_attempt),
                    t(d.last_success),
                    t(d.newest_snapshot),
                    t(d.verified),
                    d.failures,
                    t(d.next_due),
                    d.last_error,
                    t(d.last_prune)
                ],
            )
            .map_err(|e| Error::sqlite(DB, None, e))?;
        Ok(())
    }

    /// The newest error of a plan since its last good run.
    pub fn last_error(&self, plan_id: i64) -> Result<Option<String>> {
        let row: Option<(String, Option<String>)> = self
            .conn
            .query_row("SELECT outcome, error FROM runs WHERE plan_id = ?1 AND outcome IN ('success', 'failed', 'interrupted') ORDER BY id DESC LIMIT 1", params![plan_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(|e| Error::sqlite(DB, None, e))?;
        Ok(row.and_then(|(o, e)| if o == "success" { None } else { e }))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::Store;

    #[test]
    fn the_state_database_is_readable_by_its_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("schedule.db");
        drop(Store::open(&path).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // An older, world-readable one is made private when opened.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(Store::open(&path).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
