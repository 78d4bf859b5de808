//! Progress reporting and cancellation, shared by every long operation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

/// What a long operation is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Counting what there is to do.
    Scanning,
    /// Backing up.
    Backup,
    /// Restoring.
    Restore,
    /// Reading data back.
    Check,
    /// Rewriting packs.
    Prune,
    /// Done.
    Finished,
}

/// A progress report.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    /// Phase.
    pub phase: Phase,
    /// Items (files, packs) done.
    pub files_done: u64,
    /// Items in total (0 while unknown).
    pub files_total: u64,
    /// Bytes done.
    pub bytes_done: u64,
    /// Bytes in total (0 while unknown).
    pub bytes_total: u64,
    /// The item being worked on.
    pub current: String,
    /// Bytes per second since the start, of the bytes that needed work (a backup's files
    /// unchanged since the last one are done without reading them).
    pub bytes_per_sec: f64,
    /// Estimated seconds left, once it can be estimated.
    pub eta_secs: Option<u64>,
}

/// Receives progress reports. Called from the operation's thread, at most every 100 ms
/// plus once at the end; keep it quick.
pub trait ProgressListener: Send + Sync {
    /// A new report.
    fn on_progress(&self, progress: &Progress);
}

/// Cancels a running operation. Clone it, hand it to the operation, call
/// [`CancelToken::cancel`] from anywhere: the operation stops within a second, leaving the
/// repository valid (earlier snapshots intact, finished packs reused by the next run).
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    own: Arc<AtomicBool>,
    /// The tokens this one was derived from ([`CancelToken::child`]).
    parents: Vec<Arc<AtomicBool>>,
}

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// A token cancelled when this one is, and also on its own (without cancelling this
    /// one): lets one part of an operation stop the others.
    pub(crate) fn child(&self) -> CancelToken {
        let mut parents = self.parents.clone();
        parents.push(self.own.clone());
        CancelToken {
            own: Arc::default(),
            parents,
        }
    }

    /// Requests cancellation.
    pub fn cancel(&self) {
        self.own.store(true, Ordering::SeqCst);
    }

    /// True once cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.own.load(Ordering::Relaxed) || self.parents.iter().any(|p| p.load(Ordering::Relaxed))
    }

    /// `Err(Cancelled)` once cancelled.
    pub fn check(&self) -> crate::Result<()> {
        if self.is_cancelled() {
            Err(crate::Error::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Tracks counters and throttles reports to a listener.
pub(crate) struct Tracker<'a> {
    listener: Option<&'a dyn ProgressListener>,
    started: Instant,
    last: Option<Instant>,
    pub p: Progress,
    /// Of `p.bytes_done`, the bytes done without work (files unchanged since the parent
    /// snapshot), which say nothing about the speed.
    pub skipped: u64,
}

/// Seconds left: the bytes still to do, of which as large a share will need work as so far
/// did, at the speed the worked bytes went. An incremental backup that found 95% of what it
/// passed unchanged expects the same of the rest, instead of reading the whole tree.
pub(crate) fn estimate_eta(total: u64, done: u64, skipped: u64, secs: f64) -> Option<u64> {
    let worked = done.saturating_sub(skipped);
    if secs <= 1.0 || worked == 0 || total < done {
        return None;
    }
    let share = worked as f64 / done as f64;
    let speed = worked as f64 / secs;
    Some(((total - done) as f64 * share / speed).round() as u64)
}

impl<'a> Tracker<'a> {
    pub fn new(listener: Option<&'a dyn ProgressListener>, phase: Phase) -> Self {
        Tracker {
            listener,
            started: Instant::now(),
            last: None,
            skipped: 0,
            p: Progress {
                phase,
                files_done: 0,
                files_total: 0,
                bytes_done: 0,
                bytes_total: 0,
                current: String::new(),
                bytes_per_sec: 0.0,
                eta_secs: None,
            },
        }
    }

    pub fn set_phase(&mut self, phase: Phase) {
        self.p.phase = phase;
        self.started = Instant::now();
        self.report(true);
    }

    /// Sends a report if 100 ms passed since the last one, or if `force`.
    pub fn report(&mut self, force: bool) {
        let Some(l) = self.listener else { return };
        let now = Instant::now();
        if !force
            && self
                .last
                .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        let secs = now.duration_since(self.started).as_secs_f64();
        let worked = self.p.bytes_done.saturating_sub(self.skipped);
        self.p.bytes_per_sec = if secs > 0.0 {
            worked as f64 / secs
        } else {
            0.0
        };
        self.p.eta_secs = estimate_eta(self.p.bytes_total, self.p.bytes_done, self.skipped, secs);
        l.on_progress(&self.p);
    }
}

#[cfg(test)]
mod tests {
    use super::estimate_eta;

    #[test]
    fn the_estimate_expects_the_rest_to_change_as_much_as_what_was_seen() {
        const MB: u64 = 1 << 20;
        // A first backup: everything is read; 10 MB in 2 s, 90 MB to go: 18 s.
        assert_eq!(estimate_eta(100 * MB, 10 * MB, 0, 2.0), Some(18));
        // A day later: of 50 MB passed, 45 were unchanged; 5 MB read in 2 s (2.5 MB/s).
        // Of the 50 MB left, a tenth (5 MB) will be read: 2 s, not the 20 s of reading all.
        assert_eq!(estimate_eta(100 * MB, 50 * MB, 45 * MB, 2.0), Some(2));
        // Nothing read yet, or too early to say: no estimate rather than a wrong one.
        assert_eq!(estimate_eta(100 * MB, 50 * MB, 50 * MB, 3.0), None);
        assert_eq!(estimate_eta(100 * MB, 10 * MB, 0, 0.5), None);
        assert_eq!(estimate_eta(10 * MB, 20 * MB, 0, 3.0), None);
    }
}
