//! Plain records crossing the FFI, and their conversions from core types.
//!
//! One file per domain: progress, repository (snapshots, backup, restore, check, sizes, key
//! slots), retention, storage (a foreign backend's objects) and schedule (plans, runs,
//! health). The files are included here rather than made modules: UniFFI writes a record's
//! module path into the checksum of every function that takes or returns it, so the records
//! stay in `records` and the generated Kotlin and Swift stay byte for byte the same.
//! `cargo fmt` does not reach included files: run `rustfmt --edition 2021
//! bindings/src/records/*.rs` after editing them.

use chatvault_core as core;
use chatvault_core::schedule as sched;

/// Milliseconds since the Unix epoch, as times cross the FFI.
fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

include!("progress.rs");
include!("repository.rs");
include!("retention.rs");
include!("storage.rs");
include!("schedule.rs");
