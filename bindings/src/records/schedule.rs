// Backup plans, device conditions, runs and health for the scheduler (included by mod.rs).

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
