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
    /// Bytes per second since the start.
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
}

impl<'a> Tracker<'a> {
    pub fn new(listener: Option<&'a dyn ProgressListener>, phase: Phase) -> Self {
        Tracker {
            listener,
            started: Instant::now(),
            last: None,
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
        self.p.bytes_per_sec = if secs > 0.0 {
            self.p.bytes_done as f64 / secs
        } else {
            0.0
        };
        self.p.eta_secs =
            (self.p.bytes_per_sec > 0.0 && self.p.bytes_total >= self.p.bytes_done && secs > 1.0)
                .then(|| {
                    ((self.p.bytes_total - self.p.bytes_done) as f64 / self.p.bytes_per_sec) as u64
                });
        l.on_progress(&self.p);
    }
}
