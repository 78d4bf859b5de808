// Progress reports of long operations (included by mod.rs).

/// What a long operation is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
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
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Progress {
    /// Phase.
    pub phase: Phase,
    /// Files (or packs) done.
    pub files_done: u64,
    /// Files in total (0 while scanning).
    pub files_total: u64,
    /// Bytes done.
    pub bytes_done: u64,
    /// Bytes in total (0 while scanning).
    pub bytes_total: u64,
    /// The current item.
    pub current: String,
    /// Bytes per second.
    pub bytes_per_sec: f64,
    /// Seconds left, once known.
    pub eta_secs: Option<u64>,
    /// 0.0-1.0 by bytes (1.0 when finished).
    pub fraction: f64,
}

impl From<&core::Progress> for Progress {
    fn from(p: &core::Progress) -> Self {
        let phase = match p.phase {
            core::Phase::Scanning => Phase::Scanning,
            core::Phase::Backup => Phase::Backup,
            core::Phase::Restore => Phase::Restore,
            core::Phase::Check => Phase::Check,
            core::Phase::Prune => Phase::Prune,
            core::Phase::Finished => Phase::Finished,
        };
        let fraction = match (phase, p.bytes_total) {
            (Phase::Finished, _) => 1.0,
            (_, 0) => 0.0,
            (_, total) => (p.bytes_done as f64 / total as f64).min(1.0),
        };
        Progress {
            phase,
            files_done: p.files_done,
            files_total: p.files_total,
            bytes_done: p.bytes_done,
            bytes_total: p.bytes_total,
            current: p.current.clone(),
            bytes_per_sec: p.bytes_per_sec,
            eta_secs: p.eta_secs,
            fraction,
        }
    }
}
