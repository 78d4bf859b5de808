//! Repository locks. Backups take shared locks (many devices may back up at once); prune
//! takes an exclusive one, so it never deletes what a running backup is about to reference.
//!
//! A lock is an object `locks/<random id>` holding JSON. Taking a lock writes it, then lists
//! the others: a conflicting live lock makes the newcomer delete its own and wait (or give
//! up). Because every party writes before it looks, two conflicting parties can never both
//! proceed. Holders rewrite their lock every [`REFRESH`]; a lock not refreshed for [`STALE`],
//! or held by a dead process on this host, is stale and ignored.
//!
//! A lock's stated time is not trusted alone (a clock ahead, or a forged lock, would keep it
//! live forever): a lock dated more than [`STALE`] in the future is stale, and a lock this
//! process has seen unchanged (same bytes) for [`UNCHANGED`] by its own monotonic clock is
//! stale whatever its stated time, since a live holder rewrites it every [`REFRESH`]. That
//! works on every backend (no storage modification times needed).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::id::Id;
use crate::error::{Error, Result};
use crate::progress::CancelToken;
use crate::storage::{ObjectKind, Storage};

/// How often a held lock is rewritten.
pub const REFRESH: Duration = Duration::from_secs(120);
/// Age after which an unrefreshed lock is ignored.
pub const STALE: Duration = Duration::from_secs(30 * 60);
/// How long this process must see a lock unchanged to call it stale: two missed refreshes.
pub const UNCHANGED: Duration = Duration::from_secs(2 * REFRESH.as_secs() + 30);

/// When this process first saw each lock's current bytes: `(name, BLAKE3 of the bytes)`.
type Sightings = std::collections::HashMap<(String, [u8; 32]), Instant>;

fn sightings() -> &'static std::sync::Mutex<Sightings> {
    static SEEN: std::sync::OnceLock<std::sync::Mutex<Sightings>> = std::sync::OnceLock::new();
    SEEN.get_or_init(Default::default)
}

/// Whether this process has seen the lock `name` holding exactly `bytes` for longer than
/// `limit` (records the sighting).
fn unchanged_for(name: &str, bytes: &[u8], limit: Duration) -> bool {
    let key = (name.to_string(), *blake3::hash(bytes).as_bytes());
    let Ok(mut seen) = sightings().lock() else {
        return false;
    };
    if seen.len() > 10_000 {
        seen.clear();
    }
    let first = *seen.entry(key).or_insert_with(Instant::now);
    first.elapsed() > limit
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LockInfo {
    exclusive: bool,
    operation: String,
    host: String,
    pid: u32,
    time: DateTime<Utc>,
}

impl LockInfo {
    fn is_stale(&self, now: DateTime<Utc>) -> bool {
        let age = now
            .signed_duration_since(self.time)
            .to_std()
            .unwrap_or_default();
        if age > STALE {
            return true;
        }
        let ahead = self
            .time
            .signed_duration_since(now)
            .to_std()
            .unwrap_or_default();
        if ahead > STALE {
            return true;
        }
        self.host == super::hostname() && !process_alive(self.pid)
    }

    fn describe(&self) -> String {
        format!(
            "{} by process {} on {} since {}",
            self.operation,
            self.pid,
            self.host,
            self.time.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

#[cfg(unix)]
pub(crate) fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 sends nothing; it only reports whether the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(not(unix))]
pub(crate) fn process_alive(_pid: u32) -> bool {
    true
}

/// A held lock; released (deleted) when dropped.
pub struct LockGuard {
    storage: Arc<dyn Storage>,
    name: String,
    stop: Arc<AtomicBool>,
    refresher: Option<JoinHandle<()>>,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.refresher.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        if let Err(e) = self.storage.delete(ObjectKind::Lock, &self.name) {
            log::warn!("could not remove lock {}: {e}", self.name);
        }
    }
}

/// Takes a lock, waiting up to `wait` for conflicting locks to go away.
pub fn acquire(
    storage: &Arc<dyn Storage>,
    exclusive: bool,
    operation: &str,
    wait: Duration,
    cancel: &CancelToken,
) -> Result<LockGuard> {
    let name = Id::random()?.to_hex();
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(100);
    loop {
        let info = LockInfo {
            exclusive,
            operation: operation.to_string(),
            host: super::hostname(),
            pid: std::process::id(),
            time: Utc::now(),
        };
        write(storage.as_ref(), &name, &info)?;
        match conflict(storage.as_ref(), &name, exclusive)? {
            None => break,
            Some(other) => {
                storage.delete(ObjectKind::Lock, &name)?;
                if Instant::now() >= deadline {
                    return Err(Error::Locked(other));
                }
                if cancel.is_cancelled() {
                    return Err(Error::Cancelled);
                }
                log::info!("waiting for lock held for {other}");
                let jitter =
                    Duration::from_millis(u64::from(super::crypto::random_bytes::<1>()?[0]));
                std::thread::sleep(
                    pause.min(deadline.saturating_duration_since(Instant::now())) + jitter,
                );
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let refresher = {
        let (storage, name, stop) = (storage.clone(), name.clone(), stop.clone());
        let operation = operation.to_string();
        std::thread::Builder::new()
            .name("chatvault-lock".into())
            .spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    std::thread::park_timeout(REFRESH);
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let info = LockInfo {
                        exclusive,
                        operation: operation.clone(),
                        host: super::hostname(),
                        pid: std::process::id(),
                        time: Utc::now(),
                    };
                    if let Err(e) = write(storage.as_ref(), &name, &info) {
                        log::warn!("could not refresh lock: {e}");
                    }
                }
            })
            .map_err(|e| Error::internal_from("spawn lock refresher", e))?
    };
    Ok(LockGuard {
        storage: storage.clone(),
        name,
        stop,
        refresher: Some(refresher),
    })
}

fn write(storage: &dyn Storage, name: &str, info: &LockInfo) -> Result<()> {
    let json = serde_json::to_vec(info).map_err(|e| Error::internal_from("encode a lock", e))?;
    storage.put(ObjectKind::Lock, name, &json)?;
    Ok(())
}

/// The first live lock other than `own` that conflicts with a lock of kind `exclusive`.
fn conflict(storage: &dyn Storage, own: &str, exclusive: bool) -> Result<Option<String>> {
    let now = Utc::now();
    for o in storage.list(ObjectKind::Lock)? {
        if o.name == own {
            continue;
        }
        let Ok(bytes) = storage.get(ObjectKind::Lock, &o.name) else {
            continue; // vanished: not a live lock
        };
        let Ok(info) = serde_json::from_slice::<LockInfo>(&bytes) else {
            continue; // unreadable: not a live lock
        };
        if info.is_stale(now) || unchanged_for(&o.name, &bytes, UNCHANGED) {
            if info.host == super::hostname() {
                let _ = storage.delete(ObjectKind::Lock, &o.name);
            }
            continue;
        }
        if exclusive || info.exclusive {
            return Ok(Some(info.describe()));
        }
    }
    Ok(None)
}

/// Removes stale locks (crashed processes on this host, unrefreshed for 30 minutes, dated
/// more than 30 minutes ahead, or seen unchanged by this process for [`UNCHANGED`]), or
/// every lock with `all`. Returns how many were removed.
pub fn remove_stale(storage: &dyn Storage) -> Result<usize> {
    remove(storage, false)
}

/// Removes stale locks, or every lock when `all` (only when no other process uses the
/// repository). Returns how many were removed.
pub fn remove(storage: &dyn Storage, all: bool) -> Result<usize> {
    let now = Utc::now();
    let mut n = 0;
    for o in storage.list(ObjectKind::Lock)? {
        let stale = all
            || match storage.get(ObjectKind::Lock, &o.name) {
                Ok(b) => serde_json::from_slice::<LockInfo>(&b).map_or(true, |i| {
                    i.is_stale(now) || unchanged_for(&o.name, &b, UNCHANGED)
                }),
                Err(_) => true,
            };
        if stale {
            storage.delete(ObjectKind::Lock, &o.name)?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(time: DateTime<Utc>) -> LockInfo {
        LockInfo {
            exclusive: true,
            operation: "prune".into(),
            host: "another-host".into(),
            pid: 1,
            time,
        }
    }

    #[test]
    fn a_lock_dated_in_the_future_goes_stale() {
        let now = Utc::now();
        assert!(!info(now).is_stale(now));
        assert!(!info(now + chrono::Duration::minutes(5)).is_stale(now));
        assert!(info(now + chrono::Duration::days(3650)).is_stale(now));
        assert!(info(now - chrono::Duration::hours(1)).is_stale(now));
        // Seen unchanged for longer than the limit by this process's own clock: stale,
        // whatever it says; a rewrite (new bytes) starts the count again.
        assert!(!unchanged_for("l", b"v1", Duration::from_millis(30)));
        std::thread::sleep(Duration::from_millis(60));
        assert!(unchanged_for("l", b"v1", Duration::from_millis(30)));
        assert!(!unchanged_for("l", b"v2", Duration::from_millis(30)));
    }
}
