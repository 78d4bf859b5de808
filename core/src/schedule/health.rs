//! Health: per plan, how old the last good backup is, a warning past a threshold, the last
//! error in plain words, repository size and growth; per destination, how old its newest
//! copy is and when it was last verified.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::runner::Scheduler;
use super::store::{DestinationState, Plan};
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
    /// Every destination of the plan, its own first, then its copies.
    pub destinations: Vec<DestinationHealth>,
}

/// One destination of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct DestinationHealth {
    /// What the scheduler recorded.
    pub state: DestinationState,
    /// "backup" for the plan's own destination, "copy" for the others.
    pub role: String,
    /// Hours since the newest snapshot it holds was made (none: it holds none yet).
    pub hours_behind: Option<f64>,
    /// Set when its newest snapshot is older than the plan's warning threshold plus the
    /// copy interval.
    pub warning: Option<String>,
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
            let mut destinations = Vec::new();
            let own = std::iter::once((plan.spec.destination.clone(), 0, "backup"));
            let copies = plan
                .spec
                .copies
                .iter()
                .map(|c| (c.destination.clone(), c.every_hours, "copy"));
            for (destination, every_hours, role) in own.chain(copies) {
                let state = store.destination(plan.id, &destination)?;
                let newest = state.newest_snapshot.or(if role == "backup" {
                    plan.last_success
                } else {
                    None
                });
                let hours_behind = newest.map(|t| (now - t).num_seconds() as f64 / 3600.0);
                let limit = f64::from(plan.spec.warn_after_hours) + f64::from(every_hours);
                let stale =
                    hours_behind.unwrap_or((now - plan.created).num_seconds() as f64 / 3600.0);
                let warning = (stale > limit).then(|| match newest {
                    Some(t) => format!(
                        "The newest copy in {destination} is {:.0} days old (from {}){}",
                        stale / 24.0,
                        t.with_timezone(&chrono::Local).format("%Y-%m-%d"),
                        state
                            .last_error
                            .as_deref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    ),
                    None => format!("{destination} holds no copy yet."),
                });
                destinations.push(DestinationHealth {
                    state,
                    role: role.into(),
                    hours_behind,
                    warning,
                });
            }
            let repo_bytes = store.repo_bytes_at(plan.id, now)?;
            let earlier = store.repo_bytes_at(plan.id, now - Duration::days(30))?;
            out.push(PlanHealth {
                hours_since_good_backup: hours,
                warning,
                last_error: store.last_error(plan.id)?,
                growth_30d_bytes: repo_bytes.zip(earlier).map(|(a, b)| a as i64 - b as i64),
                repo_bytes,
                plan,
                destinations,
            });
        }
        Ok(out)
    }
}
