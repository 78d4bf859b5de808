//! The scheduler for WorkManager and BGTaskScheduler.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chatvault_core as core;
use chatvault_core::schedule as sched;

use crate::callbacks::{
    plan_key, DestinationResolver, ProgressAdapter, ProgressListener, SecretAdapter, SecretStore,
    StorageAdapter,
};
use crate::error::{ChatVaultError, Result};
use crate::records::{DeviceConditions, Plan, PlanHealth, PlanRun, PlanState};
use crate::repository::JobHandle;

fn time(ms: i64) -> Result<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp_millis(ms).ok_or(ChatVaultError::InvalidArgument {
        details: format!("time {ms} ms is out of range"),
    })
}

/// Backup plans and the runner the phone's background task calls. Calls may overlap (show
/// health while a run is in progress): each uses its own database connection.
#[derive(uniffi::Object)]
pub struct Scheduler {
    db: PathBuf,
    secrets: Arc<dyn SecretStore>,
    destinations: Option<Arc<dyn DestinationResolver>>,
}

impl Scheduler {
    pub(crate) fn open(
        db: &Path,
        secrets: Arc<dyn SecretStore>,
        destinations: Option<Arc<dyn DestinationResolver>>,
    ) -> Result<Arc<Self>> {
        sched::Scheduler::open(db)?;
        Ok(Arc::new(Scheduler {
            db: db.to_path_buf(),
            secrets,
            destinations,
        }))
    }

    fn with<T>(&self, f: impl FnOnce(&mut sched::Scheduler) -> core::Result<T>) -> Result<T> {
        let opener = Box::new(AppOpener(self.destinations.clone()));
        Ok(f(&mut sched::Scheduler::with_opener(&self.db, opener)?)?)
    }
}

/// Opens a plan's destination through the app's [`DestinationResolver`]: its storage, else
/// the location with the credentials it gives; without a resolver, as a PC does (paths, and
/// network credentials from the environment).
struct AppOpener(Option<Arc<dyn DestinationResolver>>);

impl sched::StorageOpener for AppOpener {
    fn open(&self, destination: &str) -> core::Result<Arc<dyn core::storage::Storage>> {
        let Some(resolver) = &self.0 else {
            return sched::LocalOpener.open(destination);
        };
        let failed =
            |e: ChatVaultError| core::Error::internal_from("the app's destination resolver", e);
        if let Some(storage) = resolver.storage(destination.to_string()).map_err(failed)? {
            return Ok(Arc::new(StorageAdapter(storage)));
        }
        let access = resolver
            .remote_access(destination.to_string())
            .map_err(failed)?
            .unwrap_or_default();
        let access = core::storage::Access::try_from(access)
            .map_err(|e| core::Error::InvalidArgument(e.to_string()))?;
        Ok(core::storage::open(destination, &access)?)
    }
}

#[uniffi::export]
impl Scheduler {
    /// Adds a plan, due at once; its repository password goes to the secret store.
    pub fn add_plan(&self, plan: Plan, password: String, now_ms: i64) -> Result<i64> {
        let spec = sched::PlanSpec::try_from(plan)?;
        self.secrets.put(plan_key(&spec.name), password)?;
        let now = time(now_ms)?;
        self.with(|s| s.add_plan(&spec, now))
    }

    /// All plans and their state.
    pub fn plans(&self) -> Result<Vec<PlanState>> {
        Ok(self
            .with(|s| s.store().plans())?
            .iter()
            .map(Into::into)
            .collect())
    }

    /// Removes a plan (by name or id), its history and its stored password.
    pub fn remove_plan(&self, plan: String) -> Result<()> {
        let removed = self.with(|s| s.store().remove_plan(&plan))?;
        self.secrets.delete(plan_key(&removed.spec.name))
    }

    /// Runs every due plan whose conditions hold: call it from the background task.
    pub fn run_due(
        &self,
        now_ms: i64,
        conditions: DeviceConditions,
        listener: Option<Arc<dyn ProgressListener>>,
        job: Arc<JobHandle>,
    ) -> Result<Vec<PlanRun>> {
        let now = time(now_ms)?;
        let l = listener.map(ProgressAdapter);
        let secrets = SecretAdapter(self.secrets.clone());
        let runs = self.with(|s| {
            s.run_due(
                now,
                &conditions.into(),
                &secrets,
                l.as_ref().map(|a| a as _),
                job.token(),
            )
        })?;
        Ok(runs.into_iter().map(Into::into).collect())
    }

    /// Every plan's health: warnings to show, last errors, sizes.
    pub fn health(&self, now_ms: i64) -> Result<Vec<PlanHealth>> {
        let now = time(now_ms)?;
        Ok(self
            .with(|s| s.health(now))?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// A plan's history, newest first (`limit` 0: all).
    pub fn history(&self, plan: String, limit: u32) -> Result<Vec<PlanRun>> {
        self.with(|s| {
            let p = s.store().find_plan(&plan)?;
            Ok(s.store()
                .history(Some(p.id), limit as usize)?
                .iter()
                .map(|r| PlanRun {
                    name: p.spec.name.clone(),
                    ..PlanRun::from(r)
                })
                .collect())
        })
    }
}
