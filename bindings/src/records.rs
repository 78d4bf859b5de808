//! Plain records crossing the FFI, and their conversions from core types.

use chatvault_core as core;
use chatvault_core::schedule as sched;

fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

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

/// A snapshot.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SnapshotInfo {
    /// Full id (64 hex digits).
    pub id: String,
    /// Short id (8 hex digits), as users see it.
    pub short_id: String,
    /// Time, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Device name.
    pub host: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Backed-up paths.
    pub paths: Vec<String>,
    /// Files.
    pub files: u64,
    /// Sum of file sizes.
    pub bytes: u64,
    /// Plaintext bytes this backup added.
    pub bytes_added: u64,
    /// Stored bytes this backup added.
    pub bytes_stored: u64,
    /// Wall time of the backup.
    pub duration_secs: f64,
    /// What was backed up: "folder", "wechat-android", "whatsapp", ...
    pub source_kind: String,
}

impl From<&core::Snapshot> for SnapshotInfo {
    fn from(s: &core::Snapshot) -> Self {
        SnapshotInfo {
            id: s.id.to_hex(),
            short_id: s.id.short(),
            time_ms: ms(s.time),
            host: s.host.clone(),
            tags: s.tags.clone(),
            paths: s.paths.clone(),
            files: s.summary.files,
            bytes: s.summary.bytes,
            bytes_added: s.summary.bytes_added,
            bytes_stored: s.summary.bytes_stored,
            duration_secs: s.summary.duration_secs,
            source_kind: s.source.kind.clone(),
        }
    }
}

/// An encrypted SQLite database in the source and its page size (WeChat: 1,024).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EncryptedDatabase {
    /// Path of the database file.
    pub path: String,
    /// Page size in bytes.
    pub page_size: u32,
}

/// Options for a backup.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BackupOptions {
    /// Device name to record (default: the host name).
    #[uniffi(default = None)]
    pub host: Option<String>,
    /// Tags.
    #[uniffi(default = [])]
    pub tags: Vec<String>,
    /// Worker threads (0: one per core; phones may want 2).
    #[uniffi(default = 0)]
    pub threads: u32,
    /// Encrypted databases and their page sizes.
    #[uniffi(default = [])]
    pub encrypted_databases: Vec<EncryptedDatabase>,
    /// Leave out photos, videos and voice messages.
    #[uniffi(default = false)]
    pub exclude_media: bool,
}

impl From<BackupOptions> for core::BackupOptions {
    fn from(o: BackupOptions) -> Self {
        core::BackupOptions {
            host: o.host,
            tags: o.tags,
            threads: o.threads as usize,
            page_sizes: o
                .encrypted_databases
                .into_iter()
                .map(|d| (d.path.into(), d.page_size))
                .collect(),
            exclude_media: o.exclude_media,
            ..Default::default()
        }
    }
}

/// The result of a backup.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct BackupResult {
    /// The new snapshot.
    pub snapshot: SnapshotInfo,
    /// Files that could not be read (left out), and similar notices.
    pub warnings: Vec<String>,
}

/// What a restore wrote.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RestoreSummary {
    /// Files.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Bytes.
    pub bytes: u64,
}

impl From<core::RestoreSummary> for RestoreSummary {
    fn from(r: core::RestoreSummary) -> Self {
        RestoreSummary {
            files: r.files,
            dirs: r.dirs,
            bytes: r.bytes,
        }
    }
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CheckReport {
    /// Snapshots checked.
    pub snapshots: u64,
    /// Packs indexed.
    pub packs: u64,
    /// Packs read back.
    pub packs_read: u64,
    /// Bytes read back.
    pub bytes_read: u64,
    /// Problems (empty: sound).
    pub errors: Vec<String>,
    /// Notices.
    pub warnings: Vec<String>,
}

impl From<core::CheckReport> for CheckReport {
    fn from(r: core::CheckReport) -> Self {
        CheckReport {
            snapshots: r.snapshots,
            packs: r.packs,
            packs_read: r.packs_read,
            bytes_read: r.bytes_read,
            errors: r.errors,
            warnings: r.warnings,
        }
    }
}

// The defaults are a new plan's, core::schedule::PlanSpec::DEFAULT_RETENTION, restated because
// UniFFI takes literals only; a test checks they agree. (Plain comments: doc comments go into
// the generated Kotlin and Swift.)
/// Which snapshots to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct RetentionPolicy {
    /// Newest N.
    #[uniffi(default = 3)]
    pub keep_last: u32,
    /// Newest per hour for N hours.
    #[uniffi(default = 0)]
    pub keep_hourly: u32,
    /// Newest per day for N days.
    #[uniffi(default = 7)]
    pub keep_daily: u32,
    /// Newest per week for N weeks.
    #[uniffi(default = 4)]
    pub keep_weekly: u32,
    /// Newest per month for N months.
    #[uniffi(default = 12)]
    pub keep_monthly: u32,
    /// Newest per year for N years.
    #[uniffi(default = 0)]
    pub keep_yearly: u32,
}

impl From<RetentionPolicy> for core::RetentionPolicy {
    fn from(p: RetentionPolicy) -> Self {
        core::RetentionPolicy {
            last: p.keep_last,
            hourly: p.keep_hourly,
            daily: p.keep_daily,
            weekly: p.keep_weekly,
            monthly: p.keep_monthly,
            yearly: p.keep_yearly,
            within: None,
        }
    }
}

/// The counts; `within` has no field in the record (neither plans nor forget from the apps
/// set it).
impl From<core::RetentionPolicy> for RetentionPolicy {
    fn from(p: core::RetentionPolicy) -> Self {
        RetentionPolicy {
            keep_last: p.last,
            keep_hourly: p.hourly,
            keep_daily: p.daily,
            keep_weekly: p.weekly,
            keep_monthly: p.monthly,
            keep_yearly: p.yearly,
        }
    }
}

/// Repository sizes.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RepoStats {
    /// Snapshots.
    pub snapshots: u64,
    /// Bytes stored.
    pub stored_bytes: u64,
    /// Bytes of the newest snapshot's files.
    pub latest_bytes: u64,
    /// Deduplication ratio.
    pub dedup_ratio: f64,
    /// Compression ratio.
    pub compression_ratio: f64,
}

impl From<core::RepoStats> for RepoStats {
    fn from(s: core::RepoStats) -> Self {
        RepoStats {
            snapshots: s.snapshots,
            stored_bytes: s.stored_bytes,
            latest_bytes: s.latest_bytes,
            dedup_ratio: s.dedup_ratio,
            compression_ratio: s.compression_ratio,
        }
    }
}

/// A key slot.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeySlot {
    /// Slot id.
    pub id: String,
    /// True for the recovery key's slot.
    pub is_recovery: bool,
    /// Label.
    pub label: String,
    /// Creating device.
    pub host: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// The slot this session opened with.
    pub current: bool,
}

impl From<core::KeySlotInfo> for KeySlot {
    fn from(k: core::KeySlotInfo) -> Self {
        KeySlot {
            id: k.id,
            is_recovery: k.kind == core::SlotKind::Recovery,
            label: k.label,
            host: k.host,
            created_ms: ms(k.created),
            current: k.current,
        }
    }
}

/// The kinds of repository objects a foreign [`crate::Storage`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ObjectKind {
    /// `config`.
    Config,
    /// `keys/`.
    Key,
    /// `snapshots/`.
    Snapshot,
    /// `index/`.
    Index,
    /// `data/xx/`.
    Pack,
    /// `locks/`.
    Lock,
}

impl From<core::storage::ObjectKind> for ObjectKind {
    fn from(k: core::storage::ObjectKind) -> Self {
        use core::storage::ObjectKind as K;
        match k {
            K::Config => ObjectKind::Config,
            K::Key => ObjectKind::Key,
            K::Snapshot => ObjectKind::Snapshot,
            K::Index => ObjectKind::Index,
            K::Pack => ObjectKind::Pack,
            K::Lock => ObjectKind::Lock,
        }
    }
}

/// A listed object.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ObjectEntry {
    /// Name (without directory).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
}

// ----- scheduling -----

/// How often a plan runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Frequency {
    /// Every N hours.
    Hours {
        /// N.
        hours: u32,
    },
    /// Daily.
    Daily,
    /// Weekly.
    Weekly,
    /// Monthly.
    Monthly,
}

// The defaults are core's for a phone's plan (sched::Constraints::PHONE,
// sched::Verification::DEFAULT, sched::PlanSpec::DEFAULT_WARN_AFTER_HOURS), restated because
// UniFFI takes literals only; a test checks they agree.
/// A backup plan.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Plan {
    /// Unique name.
    pub name: String,
    /// Folder to back up.
    pub source: String,
    /// Repository location (a local path; LAN and cloud arrive with their issues).
    pub destination: String,
    /// How often.
    pub frequency: Frequency,
    /// Preferred local window, `HH:MM-HH:MM` (e.g. `01:00-05:00`).
    #[uniffi(default = None)]
    pub window: Option<String>,
    /// Only on unmetered networks.
    #[uniffi(default = true)]
    pub unmetered_only: bool,
    /// Only while charging.
    #[uniffi(default = true)]
    pub charging_only: bool,
    /// Only when the battery is not low.
    #[uniffi(default = true)]
    pub battery_not_low: bool,
    /// Only when idle.
    #[uniffi(default = false)]
    pub idle_only: bool,
    /// What to keep.
    pub retention: RetentionPolicy,
    /// Percentage read back after each run.
    #[uniffi(default = 5.0)]
    pub verify_percent: f64,
    /// Full read-back every N days (0: never).
    #[uniffi(default = 30)]
    pub full_verify_days: u32,
    /// Leave out media.
    #[uniffi(default = false)]
    pub exclude_media: bool,
    /// Warn after this many hours without a good backup.
    #[uniffi(default = 72)]
    pub warn_after_hours: u32,
    /// Encrypted databases in the source.
    #[uniffi(default = [])]
    pub encrypted_databases: Vec<EncryptedDatabase>,
    /// Further repositories that keep copies (linked to `destination`); backups go to the
    /// first of them that can be reached when `destination` cannot.
    #[uniffi(default = [])]
    pub copies: Vec<CopyDestination>,
}

/// A further place that keeps copies of a plan's snapshots.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CopyDestination {
    /// Repository location (linked to the plan's destination).
    pub destination: String,
    /// Copy at most this often, in hours (0: after every backup).
    #[uniffi(default = 0)]
    pub every_hours: u32,
    /// Copy only on an unmetered network.
    #[uniffi(default = false)]
    pub unmetered_only: bool,
    /// Copy only while charging.
    #[uniffi(default = false)]
    pub charging_only: bool,
}

impl From<CopyDestination> for sched::CopyDestination {
    fn from(c: CopyDestination) -> Self {
        sched::CopyDestination {
            destination: c.destination,
            every_hours: c.every_hours,
            constraints: sched::Constraints {
                unmetered: c.unmetered_only,
                charging: c.charging_only,
                ..Default::default()
            },
        }
    }
}

impl From<&sched::CopyDestination> for CopyDestination {
    fn from(c: &sched::CopyDestination) -> Self {
        CopyDestination {
            destination: c.destination.clone(),
            every_hours: c.every_hours,
            unmetered_only: c.constraints.unmetered,
            charging_only: c.constraints.charging,
        }
    }
}

impl TryFrom<Plan> for sched::PlanSpec {
    type Error = core::Error;
    fn try_from(p: Plan) -> core::Result<Self> {
        let mut spec = sched::PlanSpec::daily(p.name, p.source, p.destination);
        spec.frequency = match p.frequency {
            Frequency::Hours { hours } => sched::Frequency::Hours(hours),
            Frequency::Daily => sched::Frequency::Daily,
            Frequency::Weekly => sched::Frequency::Weekly,
            Frequency::Monthly => sched::Frequency::Monthly,
        };
        spec.window = p.window.as_deref().map(sched::Window::parse).transpose()?;
        spec.constraints = sched::Constraints {
            unmetered: p.unmetered_only,
            charging: p.charging_only,
            battery_not_low: p.battery_not_low,
            idle: p.idle_only,
        };
        spec.retention = p.retention.into();
        spec.verification = sched::Verification {
            sample_percent: p.verify_percent,
            full_every_days: p.full_verify_days,
        };
        spec.exclude_media = p.exclude_media;
        spec.warn_after_hours = p.warn_after_hours;
        spec.page_sizes = p
            .encrypted_databases
            .into_iter()
            .map(|d| (d.path.into(), d.page_size))
            .collect();
        spec.copies = p.copies.into_iter().map(Into::into).collect();
        Ok(spec)
    }
}

impl From<&sched::PlanSpec> for Plan {
    fn from(s: &sched::PlanSpec) -> Self {
        Plan {
            name: s.name.clone(),
            source: s.source.to_string_lossy().into_owned(),
            destination: s.destination.clone(),
            frequency: match s.frequency {
                sched::Frequency::Hours(hours) => Frequency::Hours { hours },
                sched::Frequency::Daily => Frequency::Daily,
                sched::Frequency::Weekly => Frequency::Weekly,
                sched::Frequency::Monthly => Frequency::Monthly,
            },
            window: s.window.map(|w| w.to_string()),
            unmetered_only: s.constraints.unmetered,
            charging_only: s.constraints.charging,
            battery_not_low: s.constraints.battery_not_low,
            idle_only: s.constraints.idle,
            retention: s.retention.into(),
            verify_percent: s.verification.sample_percent,
            full_verify_days: s.verification.full_every_days,
            exclude_media: s.exclude_media,
            warn_after_hours: s.warn_after_hours,
            encrypted_databases: s
                .page_sizes
                .iter()
                .map(|(p, n)| EncryptedDatabase {
                    path: p.to_string_lossy().into_owned(),
                    page_size: *n,
                })
                .collect(),
            copies: s.copies.iter().map(Into::into).collect(),
        }
    }
}

/// The device's state, from WorkManager / BGTaskScheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct DeviceConditions {
    /// On mobile data or a hotspot.
    pub metered: bool,
    /// Charging.
    pub charging: bool,
    /// Battery low.
    pub battery_low: bool,
    /// Idle.
    pub idle: bool,
}

impl From<DeviceConditions> for sched::DeviceConditions {
    fn from(c: DeviceConditions) -> Self {
        sched::DeviceConditions {
            metered: c.metered,
            charging: c.charging,
            battery_low: c.battery_low,
            idle: c.idle,
        }
    }
}

/// How a plan's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RunOutcome {
    /// Still running.
    Running,
    /// Done and verified.
    Success,
    /// Failed (see the error).
    Failed,
    /// Cut off; the next run resumes.
    Interrupted,
    /// Not run (see the reason).
    Skipped,
}

impl From<sched::Outcome> for RunOutcome {
    fn from(o: sched::Outcome) -> Self {
        match o {
            sched::Outcome::Running => RunOutcome::Running,
            sched::Outcome::Success => RunOutcome::Success,
            sched::Outcome::Failed => RunOutcome::Failed,
            sched::Outcome::Interrupted => RunOutcome::Interrupted,
            sched::Outcome::Skipped => RunOutcome::Skipped,
        }
    }
}

/// A run (or skip) of a plan.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PlanRun {
    /// Plan id.
    pub plan_id: i64,
    /// Plan name.
    pub name: String,
    /// Outcome.
    pub outcome: RunOutcome,
    /// Why it was skipped, or a notice.
    pub reason: Option<String>,
    /// Start, ms since the epoch (absent for plans that were not due).
    pub started_ms: Option<i64>,
    /// Snapshot written.
    pub snapshot_id: Option<String>,
    /// Stored bytes added.
    pub bytes_stored: Option<u64>,
    /// What was verified.
    pub verified: Option<String>,
    /// The error, in plain words.
    pub error: Option<String>,
}

impl From<&sched::RunRecord> for PlanRun {
    fn from(r: &sched::RunRecord) -> Self {
        PlanRun {
            plan_id: r.plan_id,
            name: String::new(),
            outcome: r.outcome.map(Into::into).unwrap_or(RunOutcome::Failed),
            reason: r.reason.clone(),
            started_ms: r.started.map(ms),
            snapshot_id: r.snapshot.clone(),
            bytes_stored: r.bytes_stored,
            verified: r.verified.clone(),
            error: r.error.clone(),
        }
    }
}

impl From<sched::PlanRun> for PlanRun {
    fn from(r: sched::PlanRun) -> Self {
        match &r.record {
            Some(rec) => PlanRun {
                name: r.name,
                ..PlanRun::from(rec)
            },
            None => PlanRun {
                plan_id: r.plan_id,
                name: r.name,
                outcome: r.outcome.into(),
                reason: r.reason,
                started_ms: None,
                snapshot_id: None,
                bytes_stored: None,
                verified: None,
                error: None,
            },
        }
    }
}

/// A stored plan and its state.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PlanState {
    /// Id.
    pub id: i64,
    /// The plan.
    pub plan: Plan,
    /// Next due, ms since the epoch.
    pub next_due_ms: i64,
    /// Failures since the last good run.
    pub failures: u32,
    /// Last good run, ms since the epoch.
    pub last_success_ms: Option<i64>,
}

impl From<&sched::Plan> for PlanState {
    fn from(p: &sched::Plan) -> Self {
        PlanState {
            id: p.id,
            plan: (&p.spec).into(),
            next_due_ms: ms(p.next_due),
            failures: p.failures,
            last_success_ms: p.last_success.map(ms),
        }
    }
}

/// A plan's health.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PlanHealth {
    /// The plan and its state.
    pub state: PlanState,
    /// Hours since the last good backup.
    pub hours_since_good_backup: f64,
    /// A warning to show, when backups stopped succeeding.
    pub warning: Option<String>,
    /// The last error, in plain words.
    pub last_error: Option<String>,
    /// Repository size.
    pub repo_bytes: Option<u64>,
    /// Growth over 30 days.
    pub growth_30d_bytes: Option<i64>,
    /// Every destination: the plan's own first, then its copies.
    pub destinations: Vec<DestinationHealth>,
}

/// How one destination of a plan is doing.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DestinationHealth {
    /// Repository location.
    pub destination: String,
    /// "backup" (the plan's own) or "copy".
    pub role: String,
    /// When its newest snapshot of the plan was made (ms since 1970).
    pub newest_snapshot_ms: Option<i64>,
    /// When it was last verified (ms since 1970).
    pub verified_ms: Option<i64>,
    /// Hours since its newest snapshot.
    pub hours_behind: Option<f64>,
    /// A warning to show when its copy is stale.
    pub warning: Option<String>,
    /// Its newest error, in plain words.
    pub last_error: Option<String>,
}

impl From<sched::DestinationHealth> for DestinationHealth {
    fn from(d: sched::DestinationHealth) -> Self {
        DestinationHealth {
            destination: d.state.destination,
            role: d.role,
            newest_snapshot_ms: d.state.newest_snapshot.map(ms),
            verified_ms: d.state.verified.map(ms),
            hours_behind: d.hours_behind,
            warning: d.warning,
            last_error: d.state.last_error,
        }
    }
}

impl From<sched::PlanHealth> for PlanHealth {
    fn from(h: sched::PlanHealth) -> Self {
        PlanHealth {
            state: (&h.plan).into(),
            hours_since_good_backup: h.hours_since_good_backup,
            warning: h.warning,
            last_error: h.last_error,
            repo_bytes: h.repo_bytes,
            growth_30d_bytes: h.growth_30d_bytes,
            destinations: h.destinations.into_iter().map(Into::into).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use uniffi_meta::{DefaultValueMetadata, LiteralMetadata, Metadata};

    use super::*;

    /// The default values UniFFI records for a record's fields (what Kotlin and Swift get).
    fn defaults(meta: &[u8]) -> HashMap<String, LiteralMetadata> {
        match uniffi_meta::read_metadata(meta).expect("UniFFI metadata reads") {
            Metadata::Record(r) => r
                .fields
                .into_iter()
                .filter_map(|f| match f.default {
                    Some(DefaultValueMetadata::Literal(l)) => Some((f.name, l)),
                    _ => None,
                })
                .collect(),
            m => panic!("not a record: {m:?}"),
        }
    }

    fn uint(l: &LiteralMetadata) -> u64 {
        match l {
            LiteralMetadata::UInt(n, ..) => *n,
            l => panic!("not an unsigned integer: {l:?}"),
        }
    }

    fn float(l: &LiteralMetadata) -> f64 {
        match l {
            LiteralMetadata::Float(text, _) => text.parse().expect("a float literal"),
            l => panic!("not a float: {l:?}"),
        }
    }

    fn boolean(l: &LiteralMetadata) -> bool {
        match l {
            LiteralMetadata::Boolean(b) => *b,
            l => panic!("not a boolean: {l:?}"),
        }
    }

    #[test]
    fn record_defaults_are_cores_plan_defaults() {
        let r = defaults(&UNIFFI_META_CHATVAULT_FFI_RECORD_RETENTIONPOLICY);
        let keep = sched::PlanSpec::DEFAULT_RETENTION;
        for (field, count) in [
            ("keep_last", keep.last),
            ("keep_hourly", keep.hourly),
            ("keep_daily", keep.daily),
            ("keep_weekly", keep.weekly),
            ("keep_monthly", keep.monthly),
            ("keep_yearly", keep.yearly),
        ] {
            assert_eq!(uint(&r[field]), u64::from(count), "{field}");
        }

        let p = defaults(&UNIFFI_META_CHATVAULT_FFI_RECORD_PLAN);
        let phone = sched::Constraints::PHONE;
        assert_eq!(boolean(&p["unmetered_only"]), phone.unmetered);
        assert_eq!(boolean(&p["charging_only"]), phone.charging);
        assert_eq!(boolean(&p["battery_not_low"]), phone.battery_not_low);
        assert_eq!(boolean(&p["idle_only"]), phone.idle);
        let verify = sched::Verification::DEFAULT;
        assert_eq!(float(&p["verify_percent"]), verify.sample_percent);
        assert_eq!(
            uint(&p["full_verify_days"]),
            u64::from(verify.full_every_days)
        );
        assert_eq!(
            uint(&p["warn_after_hours"]),
            u64::from(sched::PlanSpec::DEFAULT_WARN_AFTER_HOURS)
        );
        assert!(!boolean(&p["exclude_media"]));

        // A copy asks nothing unless told.
        let c = defaults(&UNIFFI_META_CHATVAULT_FFI_RECORD_COPYDESTINATION);
        let copy = sched::Constraints::default();
        assert_eq!(boolean(&c["unmetered_only"]), copy.unmetered);
        assert_eq!(boolean(&c["charging_only"]), copy.charging);
    }
}
