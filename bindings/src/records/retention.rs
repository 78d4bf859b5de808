// Which snapshots to keep, for forgetAndPrune and plans (included by mod.rs).

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
