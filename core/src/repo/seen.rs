//! What this device last saw of a repository, kept on the device, not in the repository: the
//! newest snapshot. Whoever controls the storage can delete the newest snapshots (a
//! rollback) and every snapshot left still opens; only a memory outside the storage tells
//! that `latest` went back in time. One small JSON file per repository (by its config id),
//! written atomically, readable by its owner only.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::snapshot::Snapshot;
use super::Repository;
use crate::error::{Error, Result};

/// The newest snapshot seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    id: String,
    time: DateTime<Utc>,
}

impl Repository {
    fn seen_path(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}.json", self.config().id.to_hex()))
    }

    fn load_seen(&self, dir: &Path) -> Option<Record> {
        let bytes = fs::read(self.seen_path(dir)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn save_seen(&self, dir: &Path, r: &Record) -> Result<()> {
        fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let path = self.seen_path(dir);
        let json = serde_json::to_vec(r).map_err(|e| Error::internal_from("encode", e))?;
        let mut f = crate::safe_fs::NewFile::create(&path, 0o600, 4096)?;
        std::io::Write::write_all(&mut f, &json).map_err(|e| Error::io("write", &path, e))?;
        f.commit().map_err(|e| Error::io("replace", &path, e))
    }

    /// Compares `snapshots` (this repository's, as just listed) with the newest one this
    /// device saw before, kept in `dir` (a private folder of the device), and remembers the
    /// newest of both. Returns a warning when the newest snapshot seen before is gone and
    /// nothing as new replaced it: the storage was rolled back, or someone removed the
    /// newest snapshot. The warning stays until a newer snapshot exists (or
    /// [`Repository::acknowledge_snapshots`]).
    pub fn check_rollback(&self, snapshots: &[Snapshot], dir: &Path) -> Result<Option<String>> {
        let newest = snapshots.iter().max_by_key(|s| (s.time, s.id));
        let before = self.load_seen(dir);
        let mut warning = None;
        let keep = match (&before, newest) {
            (Some(b), n) if !snapshots.iter().any(|s| s.id.to_hex() == b.id) => {
                if n.is_none_or(|n| n.time <= b.time) {
                    warning = Some(format!(
                        "snapshot {} of {}, the newest this device saw, is gone from the repository{}: \
                         unless it was removed on purpose, the storage was rolled back or tampered with",
                        &b.id[..b.id.len().min(8)],
                        b.time.format("%Y-%m-%d %H:%M UTC"),
                        match n {
                            Some(n) => format!(
                                " (its newest is now {} of {})",
                                n.id.short(),
                                n.time.format("%Y-%m-%d %H:%M UTC")
                            ),
                            None => " (it holds no snapshot now)".into(),
                        }
                    ));
                    None
                } else {
                    n
                }
            }
            (Some(b), Some(n)) if n.time <= b.time => None,
            (_, n) => n,
        };
        if let Some(n) = keep {
            self.save_seen(
                dir,
                &Record {
                    id: n.id.to_hex(),
                    time: n.time,
                },
            )?;
        }
        Ok(warning)
    }

    /// Makes the newest snapshot now in the repository the one this device remembers: after
    /// it removed snapshots itself (`forget`), which is no rollback.
    pub fn acknowledge_snapshots(&self, dir: &Path) -> Result<()> {
        match self.snapshots()?.into_iter().max_by_key(|s| (s.time, s.id)) {
            Some(n) => self.save_seen(
                dir,
                &Record {
                    id: n.id.to_hex(),
                    time: n.time,
                },
            ),
            None => match fs::remove_file(self.seen_path(dir)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(Error::io("remove", self.seen_path(dir), e))
                }
                _ => Ok(()),
            },
        }
    }
}
