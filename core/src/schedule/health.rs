//! Health: per plan, how old the last good backup is, a warning past a threshold, the last
//! error in plain words, repository size and growth.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::runner::Scheduler;
use super::store::Plan;
use crate::error::Result;

/// A plan's health.
#[derive(Debug, Clone, Serialize)]
pub struct PlanHealth {
    /// The plan.
    pub plan: Plan,
    /// Hours since the last good backup (since the plan was added, if none yet).
    pub hours_since_good_backup: f64,
    /// Set when there has been no good backup for longer than the plan's threshold.
    pub warning: Option<String>,
    /// The error of the newest failed or interrupted run since the last good one.
    pub last_error: Option<String>,
    /// Repository size after the newest good run.
    pub repo_bytes: Option<u64>,
    /// Growth over the last 30 days.
    pub growth_30d_bytes: Option<i64>,
}

impl Scheduler {
    /// The health of every plan at `now`.
    pub fn health(&self, now: DateTime<Utc>) -> Result<Vec<PlanHealth>> {
        let store = self.store();
        let mut out = Vec::new();
        for plan in store.plans()? {
            let since = plan.last_success.unwrap_or(plan.created);
            let hours = (now - since).num_seconds() as f64 / 3600.0;
            let warning =
                (hours > f64::from(plan.spec.warn_after_hours)).then(|| match plan.last_success {
                    Some(t) => format!(
                        "No good backup of {:?} for {:.0} days (the last was on {}).",
                        plan.spec.name,
                        hours / 24.0,
                        t.with_timezone(&chrono::Local).format("%Y-%m-%d")
                    ),
                    None => format!("{:?} has never completed a backup.", plan.spec.name),
                });
            let repo_bytes = store.repo_bytes_at(plan.id, now)?;
            let earlier = store.repo_bytes_at(plan.id, now - Duration::days(30))?;
            out.push(PlanHealth {
                hours_since_good_backup: hours,
                warning,
                last_error: store.last_error(plan.id)?,
                growth_30d_bytes: repo_bytes.zip(earlier).map(|(a, b)| a as i64 - b as i64),
                repo_bytes,
                plan,
            });
        }
        Ok(out)
    }
}
