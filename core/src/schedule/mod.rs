//! Scheduled backups: plans, constraints, retention, verification, history and health.
//!
//! The phone's background task (WorkManager, BGTaskScheduler) or a PC's timer calls
//! [`Scheduler::run_due`] with the current time and the device's conditions; the scheduler
//! decides everything else. Time is always passed in, so a year can be simulated in seconds.

mod health;
mod plan;
mod runner;
mod store;

pub use health::{DestinationHealth, PlanHealth};
pub use plan::{
    Constraints, CopyDestination, DeviceConditions, Frequency, PlanSpec, Verification, Window,
};
pub use runner::{plain_error, LocalOpener, PlanRun, Scheduler, SecretProvider, StorageOpener};
pub use store::{DestinationState, Outcome, Plan, RunRecord, Store};
