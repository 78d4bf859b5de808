//! Scheduled backups with an injected clock: a simulated year, constraints, backoff,
//! overlapping triggers, health.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chatvault_core::repo::retention;
use chatvault_core::schedule::{
    Constraints, CopyDestination, DeviceConditions, Outcome, PlanSpec, Scheduler, SecretProvider,
    Verification, Window,
};
use chatvault_core::storage::LocalStorage;
use chatvault_core::{
    CancelToken, Id, InitOptions, KdfParams, Repository, RestoreOptions, Secret, Snapshot,
};
use chatvault_fixtures::{add_day, compare_trees, generate_export, random_files, ExportSpec};
use chrono::{DateTime, Duration, Local, TimeZone, Utc};

const PW: &str = "plan password";

struct Fixed;
impl SecretProvider for Fixed {
    fn secret(&self, _: &PlanSpec) -> chatvault_core::Result<Secret> {
        Ok(Secret::password(PW))
    }
}

fn init_options(linked_to: Option<chatvault_core::LinkParams>) -> InitOptions {
    InitOptions {
        kdf: KdfParams {
            memory_kib: 8192,
            iterations: 1,
            parallelism: 1,
        },
        pack_size: 1 << 20,
        recovery_key: false,
        linked_to,
    }
}

fn init_repo(dir: &Path) {
    Repository::init(Arc::new(LocalStorage::new(dir)), PW, &init_options(None)).unwrap();
}

/// A repository at `dir` linked to the one at `to` (copies between them share data).
fn init_linked(dir: &Path, to: &Path) {
    let opts = init_options(Some(open_repo(to).link_params()));
    Repository::init(Arc::new(LocalStorage::new(dir)), PW, &opts).unwrap();
}

fn open_repo(dir: &Path) -> Repository {
    Repository::open(Arc::new(LocalStorage::new(dir)), &Secret::password(PW)).unwrap()
}

fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Local
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn a_simulated_year_keeps_what_the_policy_says_and_verifies_as_configured() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    let facts = generate_export(
        &export,
        &ExportSpec {
            messages: 2_000,
            media_files: 2,
            ..ExportSpec::small()
        },
    )
    .unwrap();
    let repo_dir = dir.path().join("repo");
    init_repo(&repo_dir);
    let mut sched = Scheduler::open(&dir.path().join("state/schedule.db")).unwrap();
    let mut spec = PlanSpec::daily("phone", &export, repo_dir.to_str().unwrap());
    spec.window = Some(Window::parse("01:00-05:00").unwrap());
    spec.verification = Verification {
        sample_percent: 10.0,
        full_every_days: 30,
    };
    let start = local(2026, 1, 1, 3, 0);
    sched.add_plan(&spec, start - Duration::hours(1)).unwrap();
    let cond = DeviceConditions::default();
    let days = 400;
    let mut run_times = Vec::new();
    let began = std::time::Instant::now();
    for day in 0..days {
        let now = start + Duration::days(day);
        add_day(&facts, 20, u64::from(day % 30 == 0), day as u64 + 1).unwrap();
        let runs = sched
            .run_due(now, &cond, &Fixed, None, &CancelToken::new())
            .unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(
            runs[0].outcome,
            Outcome::Success,
            "day {day}: {:?}",
            runs[0]
        );
        run_times.push(now);
        // A second trigger the same night does nothing: the plan is not due again.
        let again = sched
            .run_due(
                now + Duration::minutes(30),
                &cond,
                &Fixed,
                None,
                &CancelToken::new(),
            )
            .unwrap();
        assert_eq!(again[0].outcome, Outcome::Skipped);
        // A trigger outside the window does nothing either.
        let noon = sched
            .run_due(
                now + Duration::hours(9),
                &cond,
                &Fixed,
                None,
                &CancelToken::new(),
            )
            .unwrap();
        assert_eq!(noon[0].outcome, Outcome::Skipped);
    }
    println!("simulated {days} days in {:?}", began.elapsed());

    // Exactly the snapshots the retention policy keeps, applied once to every run.
    let repo = open_repo(&repo_dir);
    let snaps = repo.snapshots().unwrap();
    let all: Vec<Snapshot> = run_times
        .iter()
        .enumerate()
        .map(|(i, t)| Snapshot {
            id: Id([i as u8; 32]),
            time: *t,
            ..snaps[0].clone()
        })
        .collect();
    let mut expected: Vec<DateTime<Utc>> = retention::apply(&spec.retention, &all)
        .into_iter()
        .filter(|d| !d.reasons.is_empty())
        .map(|d| d.time)
        .collect();
    expected.sort();
    let kept: Vec<DateTime<Utc>> = snaps.iter().map(|s| s.time).collect();
    assert_eq!(kept, expected);
    println!("{} snapshots kept of {days}", kept.len());

    // The history is complete: one good run a day, full read-back every 30 days.
    let history = sched.store().history(None, 0).unwrap();
    let good: Vec<_> = history
        .iter()
        .filter(|r| r.outcome == Some(Outcome::Success))
        .collect();
    assert_eq!(good.len(), days as usize);
    assert!(good
        .iter()
        .all(|r| r.snapshot.is_some() && r.verified.is_some() && r.repo_bytes.is_some()));
    let full = good
        .iter()
        .filter(|r| r.verified.as_deref().unwrap().starts_with("full"))
        .count();
    assert_eq!(full, (days as usize).div_ceil(30));
    assert!(good.iter().any(|r| r.pruned == Some(true)));

    let report = repo
        .check(chatvault_core::ReadData::All, None, &CancelToken::new())
        .unwrap();
    assert!(report.is_ok(), "{:?}", report.errors);
    let out = tempfile::tempdir().unwrap();
    repo.restore(
        snaps.last().unwrap(),
        out.path(),
        &RestoreOptions::default(),
        None,
        &CancelToken::new(),
    )
    .unwrap();
    assert!(compare_trees(&export, &out.path().join("export"))
        .unwrap()
        .is_empty());
    let health = sched
        .health(start + Duration::days(days - 1) + Duration::hours(2))
        .unwrap();
    assert!(health[0].warning.is_none() && health[0].last_error.is_none());
    assert!(health[0].repo_bytes.unwrap() > 0 && health[0].growth_30d_bytes.is_some());
}

fn small_plan(dir: &Path) -> (PathBuf, PathBuf, PlanSpec) {
    let src = dir.join("src");
    random_files(&src, 3, 10_000, 1).unwrap();
    let repo = dir.join("repo");
    init_repo(&repo);
    let spec = PlanSpec::daily("p", &src, repo.to_str().unwrap());
    (src, repo, spec)
}

#[test]
fn constraints_skip_with_a_recorded_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, mut spec) = small_plan(dir.path());
    spec.constraints = Constraints {
        unmetered: true,
        charging: true,
        battery_not_low: true,
        idle: false,
    };
    let mut sched = Scheduler::open(&dir.path().join("s.db")).unwrap();
    let t0 = local(2026, 5, 1, 2, 0);
    sched.add_plan(&spec, t0).unwrap();
    let metered = DeviceConditions {
        metered: true,
        ..Default::default()
    };
    for i in 0..3 {
        let r = sched
            .run_due(
                t0 + Duration::minutes(15 * i),
                &metered,
                &Fixed,
                None,
                &CancelToken::new(),
            )
            .unwrap();
        assert_eq!(r[0].outcome, Outcome::Skipped);
        assert_eq!(r[0].reason.as_deref(), Some("the network is metered"));
    }
    let battery = DeviceConditions {
        charging: false,
        ..Default::default()
    };
    sched
        .run_due(
            t0 + Duration::hours(1),
            &battery,
            &Fixed,
            None,
            &CancelToken::new(),
        )
        .unwrap();
    let low = DeviceConditions {
        battery_low: true,
        ..Default::default()
    };
    sched
        .run_due(
            t0 + Duration::hours(2),
            &low,
            &Fixed,
            None,
            &CancelToken::new(),
        )
        .unwrap();
    let ok = sched
        .run_due(
            t0 + Duration::hours(3),
            &DeviceConditions::default(),
            &Fixed,
            None,
            &CancelToken::new(),
        )
        .unwrap();
    assert_eq!(ok[0].outcome, Outcome::Success);
    let h = sched.store().history(None, 0).unwrap();
    let reasons: Vec<_> = h
        .iter()
        .rev()
        .map(|r| (r.outcome.unwrap(), r.reason.clone(), r.count))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (
                Outcome::Skipped,
                Some("the network is metered".to_string()),
                3
            ),
            (
                Outcome::Skipped,
                Some("the device is not charging".to_string()),
                1
            ),
            (Outcome::Skipped, Some("the battery is low".to_string()), 1),
            (Outcome::Success, None, 1),
        ]
    );
}

#[test]
fn a_failing_destination_backs_off_warns_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (_, repo, mut spec) = small_plan(dir.path());
    spec.warn_after_hours = 72;
    let mut sched = Scheduler::open(&dir.path().join("s.db")).unwrap();
    let t0 = local(2026, 6, 1, 2, 0);
    sched.add_plan(&spec, t0).unwrap();
    let cond = DeviceConditions::default();
    let run = |s: &mut Scheduler, t| {
        s.run_due(t, &cond, &Fixed, None, &CancelToken::new())
            .unwrap()
            .remove(0)
    };
    assert_eq!(run(&mut sched, t0).outcome, Outcome::Success);

    // The drive goes away.
    let away = dir.path().join("repo-unplugged");
    std::fs::rename(&repo, &away).unwrap();
    let mut t = t0 + Duration::days(1);
    let first = run(&mut sched, t);
    assert_eq!(first.outcome, Outcome::Failed);
    assert!(
        first
            .record
            .unwrap()
            .error
            .unwrap()
            .contains("was not found"),
        "plain-words error"
    );
    // Retries back off: 15 min, 30 min, 60 min, …, never beyond the next daily slot.
    let mut gaps = Vec::new();
    let mut last_attempt = t;
    while t < t0 + Duration::days(5) {
        t += Duration::minutes(5);
        let r = run(&mut sched, t);
        if r.outcome == Outcome::Failed {
            gaps.push((t - last_attempt).num_minutes());
            last_attempt = t;
        }
    }
    println!("retry gaps (minutes): {gaps:?}");
    assert_eq!(&gaps[..4], &[15, 30, 60, 120]);
    assert!(
        gaps.iter().all(|g| *g <= 24 * 60),
        "never beyond the next regular slot"
    );
    let health = sched.health(t).unwrap();
    assert!(
        health[0]
            .warning
            .as_deref()
            .unwrap_or("")
            .contains("No good backup"),
        "{:?}",
        health[0].warning
    );
    assert!(health[0].last_error.is_some());

    // It comes back: the next attempt succeeds and the warning clears.
    std::fs::rename(&away, &repo).unwrap();
    let mut recovered = None;
    for _ in 0..24 * 12 {
        t += Duration::minutes(5);
        let r = run(&mut sched, t);
        if r.outcome == Outcome::Success {
            recovered = Some(t);
            break;
        }
    }
    assert!(recovered.is_some(), "recovers within a day");
    let health = sched.health(t).unwrap();
    assert!(health[0].warning.is_none() && health[0].last_error.is_none());
    assert_eq!(sched.store().plans().unwrap()[0].failures, 0);
}

#[test]
fn overlapping_triggers_run_a_plan_once() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    random_files(&src, 60, 1 << 20, 3).unwrap();
    let repo = dir.path().join("repo");
    init_repo(&repo);
    let spec = PlanSpec::daily("p", &src, repo.to_str().unwrap());
    let db = dir.path().join("s.db");
    let t0 = local(2026, 7, 1, 2, 0);
    Scheduler::open(&db).unwrap().add_plan(&spec, t0).unwrap();
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut s = Scheduler::open(&db).unwrap();
                s.run_due(
                    t0,
                    &DeviceConditions::default(),
                    &Fixed,
                    None,
                    &CancelToken::new(),
                )
                .unwrap()
                .remove(0)
            })
        })
        .collect();
    let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let ran = outcomes
        .iter()
        .filter(|r| r.outcome == Outcome::Success)
        .count();
    println!(
        "{:?}",
        outcomes
            .iter()
            .map(|r| (r.outcome, r.reason.clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(ran, 1);
    assert_eq!(open_repo(&repo).snapshots().unwrap().len(), 1);
}

/// The plan's snapshots in a repository, as their original ids (a copy keeps the id of the
/// snapshot it copies), sorted.
fn plan_snapshots(repo: &Path) -> Vec<Id> {
    let mut ids: Vec<Id> = open_repo(repo)
        .snapshots()
        .unwrap()
        .iter()
        .filter(|s| s.tags.contains(&"plan:two".to_string()))
        .map(|s| s.original.unwrap_or(s.id))
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_plan_with_two_destinations_survives_a_week_without_one_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    random_files(&src, 3, 10_000, 1).unwrap();
    let pc = dir.path().join("pc");
    let usb = dir.path().join("usb");
    init_repo(&pc);
    init_linked(&usb, &pc);
    let mut spec = PlanSpec::daily("two", &src, pc.to_str().unwrap());
    spec.retention.daily = 60;
    spec.copies = vec![CopyDestination {
        destination: usb.to_str().unwrap().to_string(),
        every_hours: 0,
        constraints: Constraints::default(),
    }];
    let mut sched = Scheduler::open(&dir.path().join("s.db")).unwrap();
    let t0 = local(2026, 6, 1, 2, 0);
    sched.add_plan(&spec, t0).unwrap();
    let cond = DeviceConditions::default();
    let mut day = 0i64;
    let mut run_day = |s: &mut Scheduler| {
        day += 1;
        random_files(&src.join(format!("day{day}")), 1, 5_000, day as u64).unwrap();
        let t = t0 + Duration::days(day);
        let r = s
            .run_due(t, &cond, &Fixed, None, &CancelToken::new())
            .unwrap()
            .remove(0);
        (t, r)
    };
    let (_, first) = run_day(&mut sched);
    assert_eq!(first.outcome, Outcome::Success);
    assert_eq!(plan_snapshots(&pc), plan_snapshots(&usb), "copied at once");

    // The USB drive is away for a week: backups go on to the PC, the copy is reported
    // stale, with the reason.
    let away = dir.path().join("usb-away");
    std::fs::rename(&usb, &away).unwrap();
    let mut t = t0;
    for _ in 0..7 {
        let (at, r) = run_day(&mut sched);
        t = at;
        assert_eq!(
            r.outcome,
            Outcome::Success,
            "the backup does not wait for the copy"
        );
        let reason = r.record.unwrap().reason.unwrap_or_default();
        assert!(
            reason.contains("copy to") && reason.contains("failed"),
            "{reason}"
        );
    }
    let health = sched.health(t).unwrap();
    let [own, copy] = &health[0].destinations[..] else {
        panic!("two destinations: {:?}", health[0].destinations)
    };
    assert!(own.warning.is_none(), "{:?}", own.warning);
    assert!(health[0].warning.is_none(), "backups themselves are fine");
    let behind = copy.hours_behind.unwrap();
    assert!(
        (7.0 * 24.0 - 1.0..7.0 * 24.0 + 1.0).contains(&behind),
        "{behind}"
    );
    let w = copy.warning.as_deref().unwrap_or("");
    assert!(
        w.contains("7 days old") && w.contains("was not found"),
        "{w}"
    );
    assert_eq!(copy.state.failures, 7);

    // It returns: the next run catches up with every snapshot of the week.
    std::fs::rename(&away, &usb).unwrap();
    let (t, r) = run_day(&mut sched);
    assert_eq!(r.outcome, Outcome::Success);
    assert_eq!(plan_snapshots(&pc).len(), 9);
    assert_eq!(plan_snapshots(&pc), plan_snapshots(&usb), "caught up");
    let health = sched.health(t).unwrap();
    let copy = &health[0].destinations[1];
    assert!(copy.warning.is_none() && copy.state.last_error.is_none());
    assert_eq!(copy.state.verified, Some(t));
    assert_eq!(copy.state.newest_snapshot, Some(t));

    // Now the PC is away for two days: backups go to the USB drive instead, and come back
    // to the PC when it returns, so both hold the same history again.
    let pc_away = dir.path().join("pc-away");
    std::fs::rename(&pc, &pc_away).unwrap();
    for _ in 0..2 {
        let (_, r) = run_day(&mut sched);
        assert_eq!(r.outcome, Outcome::Success);
        let reason = r.record.unwrap().reason.unwrap_or_default();
        assert!(reason.contains("could not be reached"), "{reason}");
    }
    std::fs::rename(&pc_away, &pc).unwrap();
    let (_, r) = run_day(&mut sched);
    assert_eq!(r.outcome, Outcome::Success);
    assert_eq!(plan_snapshots(&pc).len(), 12);
    assert_eq!(
        plan_snapshots(&pc),
        plan_snapshots(&usb),
        "both hold every day"
    );

    // The copy restores byte-identical with its own password.
    let usb_repo = open_repo(&usb);
    let latest = usb_repo.snapshots().unwrap().pop().unwrap();
    let out = dir.path().join("restored");
    usb_repo
        .restore(
            &latest,
            &out,
            &RestoreOptions::default(),
            None,
            &CancelToken::new(),
        )
        .unwrap();
    assert!(compare_trees(&src, &out.join("src")).unwrap().is_empty());
    assert!(open_repo(&pc)
        .check(chatvault_core::ReadData::All, None, &CancelToken::new())
        .unwrap()
        .is_ok());
    assert!(usb_repo
        .check(chatvault_core::ReadData::All, None, &CancelToken::new())
        .unwrap()
        .is_ok());
}

#[test]
fn copy_destinations_follow_the_plans_retention_and_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    random_files(&src, 2, 200_000, 3).unwrap();
    let pc = dir.path().join("pc");
    let usb = dir.path().join("usb");
    init_repo(&pc);
    init_linked(&usb, &pc);
    let mut spec = PlanSpec::daily("two", &src, pc.to_str().unwrap());
    spec.retention = chatvault_core::RetentionPolicy {
        last: 2,
        ..Default::default()
    };
    spec.prune_every_days = 0;
    spec.copies = vec![CopyDestination {
        destination: usb.to_str().unwrap().to_string(),
        every_hours: 0,
        constraints: Constraints::default(),
    }];
    let mut sched = Scheduler::open(&dir.path().join("s.db")).unwrap();
    let t0 = local(2026, 6, 1, 2, 0);
    sched.add_plan(&spec, t0).unwrap();
    let mut t = t0;
    for day in 1..=4u64 {
        // Each day replaces a large file: old snapshots hold data the new ones do not.
        std::fs::remove_dir_all(src.join("big")).ok();
        random_files(&src.join("big"), 1, 400_000, 100 + day).unwrap();
        t = t0 + Duration::days(day as i64);
        let r = sched
            .run_due(
                t,
                &DeviceConditions::default(),
                &Fixed,
                None,
                &CancelToken::new(),
            )
            .unwrap()
            .remove(0);
        assert_eq!(r.outcome, Outcome::Success);
    }
    assert_eq!(
        plan_snapshots(&usb).len(),
        2,
        "the copy keeps what the plan keeps"
    );
    assert_eq!(plan_snapshots(&pc), plan_snapshots(&usb));
    let state = sched
        .store()
        .destination(sched.store().plans().unwrap()[0].id, usb.to_str().unwrap())
        .unwrap();
    assert_eq!(state.last_prune, Some(t), "pruned after forgetting");
    let usb_repo = open_repo(&usb);
    assert!(usb_repo
        .check(chatvault_core::ReadData::All, None, &CancelToken::new())
        .unwrap()
        .is_ok());
    // What is kept: the two small files and the two kept days' big files, 1.2 MB of
    // random data; without the prune the two forgotten days' files (0.8 MB) would remain.
    let stored = usb_repo.stored_bytes().unwrap();
    println!("copy destination after pruning: {stored} bytes");
    assert!(stored < 1_600_000, "{stored} bytes stored after pruning");
}
