//! `chatvault schedule …`: plans and the runner that cron or a systemd timer calls.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use chatvault_core::schedule::{
    Constraints, CopyDestination, DeviceConditions, Frequency, PlanSpec, Scheduler, SecretProvider,
    Verification, Window,
};
use chatvault_core::{CancelToken, Repository, RetentionPolicy, Secret};
use chrono::{DateTime, Local, NaiveDateTime, TimeZone, Utc};
use serde_json::json;

use crate::args::{Cli, PlanArgs, ScheduleArgs, ScheduleCommand};
use crate::context::{self, Target};
use crate::ui::{bytes, ProgressView};
use chatvault_core::storage::Location;

fn state_dir(a: &ScheduleArgs) -> Result<PathBuf> {
    match &a.state_dir {
        Some(d) => Ok(d.clone()),
        None => Ok(context::data_dir()?.join("schedule")),
    }
}

fn secret_path(state: &Path, plan: &str) -> PathBuf {
    state.join("secrets").join(hex::encode(plan.as_bytes()))
}

/// Plan passwords in files only the user can read (the PC's keystore).
struct FileSecrets(PathBuf);

impl SecretProvider for FileSecrets {
    fn secret(&self, plan: &PlanSpec) -> chatvault_core::Result<Secret> {
        let path = secret_path(&self.0, &plan.name);
        let pw = std::fs::read_to_string(&path).map_err(|e| chatvault_core::Error::Io {
            op: "read the password of the plan from",
            path,
            source: e,
        })?;
        Ok(Secret::password(pw))
    }
}

fn parse_now(s: Option<&str>) -> Result<DateTime<Utc>> {
    let Some(s) = s else { return Ok(Utc::now()) };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
        .with_context(|| format!("--now {s:?}: expected RFC 3339 or YYYY-MM-DD HH:MM"))?;
    Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("--now {s:?} does not exist in local time"))
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string()
}

pub fn run(cli: &Cli, a: &ScheduleArgs, cancel: &CancelToken) -> Result<i32> {
    let state = state_dir(a)?;
    let mut sched = Scheduler::open(&state.join("schedule.db"))?;
    match &a.command {
        ScheduleCommand::Add(p) => add(cli, &state, &sched, p),
        ScheduleCommand::List => {
            let plans = sched.store().plans()?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&plans)?);
                return Ok(0);
            }
            for p in plans {
                let every = match p.spec.frequency {
                    Frequency::Hours(h) => format!("every {h}h"),
                    f => format!("{f:?}").to_lowercase(),
                };
                let window = p.spec.window.map(|w| format!(" {w}")).unwrap_or_default();
                println!(
                    "{:>3}  {:<16} {every}{window}  {} -> {}  next {}",
                    p.id,
                    p.spec.name,
                    p.spec.source.display(),
                    p.spec.destination,
                    local(p.next_due)
                );
            }
            Ok(0)
        }
        ScheduleCommand::Remove { plan } => {
            let p = sched.store().remove_plan(plan)?;
            let _ = std::fs::remove_file(secret_path(&state, &p.spec.name));
            if cli.json {
                crate::commands::print_json(&json!({
                    "removed": p.spec.name,
                    "id": p.id,
                    "destination": p.spec.destination,
                }))?;
            } else if !cli.quiet {
                println!(
                    "removed plan {:?} (its backups stay in {})",
                    p.spec.name, p.spec.destination
                );
            }
            Ok(0)
        }
        ScheduleCommand::Run {
            now,
            on_battery,
            battery_low,
            metered,
            busy,
        } => {
            let now = parse_now(now.as_deref())?;
            let cond = DeviceConditions {
                metered: *metered,
                charging: !on_battery,
                battery_low: *battery_low,
                idle: !busy,
            };
            let view = ProgressView::for_cli(cli);
            let runs = sched.run_due(now, &cond, &FileSecrets(state.clone()), Some(&view), cancel);
            view.finish();
            let runs = runs?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else if !cli.quiet {
                for r in &runs {
                    match (&r.record, &r.reason) {
                        (Some(rec), _) => println!(
                            "{}: {:?}{}{}",
                            r.name,
                            r.outcome,
                            rec.snapshot
                                .as_deref()
                                .map(|s| format!(
                                    ", snapshot {}, added {}",
                                    &s[..8],
                                    bytes(rec.bytes_stored.unwrap_or(0))
                                ))
                                .unwrap_or_default(),
                            rec.error
                                .as_deref()
                                .map(|e| format!(": {e}"))
                                .unwrap_or_default()
                        ),
                        (None, Some(why)) => println!("{}: skipped, {why}", r.name),
                        (None, None) => println!("{}: {:?}", r.name, r.outcome),
                    }
                }
            }
            let failed = runs
                .iter()
                .any(|r| r.outcome == chatvault_core::schedule::Outcome::Failed);
            Ok(if failed { 1 } else { 0 })
        }
        ScheduleCommand::Status { now } => {
            let now = parse_now(now.as_deref())?;
            let health = sched.health(now)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&health)?);
                return Ok(0);
            }
            for h in &health {
                let last = h
                    .plan
                    .last_success
                    .map(local)
                    .unwrap_or_else(|| "never".into());
                println!(
                    "{}: last good backup {last} ({:.1} h ago), next due {}",
                    h.plan.spec.name,
                    h.hours_since_good_backup,
                    local(h.plan.next_due)
                );
                if let Some(b) = h.repo_bytes {
                    let growth = h
                        .growth_30d_bytes
                        .map(|g| {
                            format!(
                                ", {}{} in 30 days",
                                if g < 0 { "-" } else { "+" },
                                bytes(g.unsigned_abs())
                            )
                        })
                        .unwrap_or_default();
                    println!("  repository {}{growth}", bytes(b));
                }
                if let Some(e) = &h.last_error {
                    println!("  last error: {e}");
                }
                if let Some(w) = &h.warning {
                    println!("  WARNING: {w}");
                }
                for d in &h.destinations {
                    let newest = d
                        .state
                        .newest_snapshot
                        .map(|t| {
                            format!(
                                "newest snapshot {} ({:.0} h ago)",
                                local(t),
                                d.hours_behind.unwrap_or(0.0)
                            )
                        })
                        .unwrap_or_else(|| "no snapshot yet".into());
                    let verified = d
                        .state
                        .verified
                        .map(|t| format!("verified {}", local(t)))
                        .unwrap_or_else(|| "not verified".into());
                    println!(
                        "  {:<6} {}: {newest}, {verified}",
                        d.role, d.state.destination
                    );
                    if let Some(e) = &d.state.last_error {
                        println!("         last error: {e}");
                    }
                    if let Some(w) = &d.warning {
                        println!("         WARNING: {w}");
                    }
                }
            }
            Ok(0)
        }
        ScheduleCommand::History { plan, limit } => {
            let id = plan
                .as_deref()
                .map(|p| sched.store().find_plan(p))
                .transpose()?
                .map(|p| p.id);
            let runs = sched.store().history(id, *limit)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
                return Ok(0);
            }
            for r in runs {
                let what = match (&r.snapshot, &r.reason, &r.error) {
                    (_, _, Some(e)) => e.clone(),
                    (Some(s), _, _) => format!(
                        "snapshot {} ({} files, +{}), {}",
                        &s[..8],
                        r.files.unwrap_or(0),
                        bytes(r.bytes_stored.unwrap_or(0)),
                        r.verified.clone().unwrap_or_default()
                    ),
                    (None, Some(why), _) => format!(
                        "{why}{}",
                        if r.count > 1 {
                            format!(" (×{})", r.count)
                        } else {
                            String::new()
                        }
                    ),
                    _ => String::new(),
                };
                println!(
                    "{}  plan {}  {:<11}  {what}",
                    r.started.map(local).unwrap_or_default(),
                    r.plan_id,
                    format!(
                        "{:?}",
                        r.outcome
                            .unwrap_or(chatvault_core::schedule::Outcome::Failed)
                    )
                    .to_lowercase()
                );
            }
            Ok(0)
        }
    }
}

/// The plan's copy destinations, each checked now: it must exist, open with the plan's
/// password, and be linked to the plan's destination (so copies cost only new data).
fn linked_copies(target: &Target, password: &str, p: &PlanArgs) -> Result<Vec<CopyDestination>> {
    if p.copy_to.is_empty() {
        return Ok(Vec::new());
    }
    let own = Repository::open(target.storage()?, &Secret::password(password))?.link_params();
    let mut out = Vec::new();
    for dir in &p.copy_to {
        let storage = context::open_location(&Location::parse(&dir.to_string_lossy())?)?;
        if !Repository::exists(storage.as_ref())? {
            bail!(
                "no repository at {0}: create it linked to {1} with `chatvault --repo {0} init --copy-chunker-params-from {1}` and the same password",
                dir.display(),
                target.dir.display()
            );
        }
        let repo = Repository::open(storage, &Secret::password(password))
            .with_context(|| format!("{} must open with the plan's password", dir.display()))?;
        if repo.link_params() != own {
            bail!(
                "{} is not linked to {}: create it with `init --copy-chunker-params-from`",
                dir.display(),
                target.dir.display()
            );
        }
        out.push(CopyDestination {
            destination: std::fs::canonicalize(dir)
                .unwrap_or(dir.clone())
                .to_string_lossy()
                .into_owned(),
            every_hours: p.copy_every_hours,
            constraints: Constraints {
                unmetered: p.copy_unmetered,
                ..Default::default()
            },
        });
    }
    Ok(out)
}

fn add(cli: &Cli, state: &Path, sched: &Scheduler, p: &PlanArgs) -> Result<i32> {
    let target = Target::resolve(cli)?;
    // The destination must open with the password now, not fail at 3 a.m.
    let password = if target.is_default && !Repository::exists(target.storage()?.as_ref())? {
        context::init_default(cli, &target)?;
        context::password(cli, &target, "")?
    } else {
        if !Repository::exists(target.storage()?.as_ref())? {
            bail!(
                "no repository at {}: create it first with `chatvault --repo {} init`",
                target.dir.display(),
                target.dir.display()
            );
        }
        let pw = context::password(
            cli,
            &target,
            &format!("password for {}: ", target.dir.display()),
        )?;
        Repository::open(target.storage()?, &Secret::password(pw.clone()))?;
        pw
    };
    let source = std::fs::canonicalize(&p.source)
        .with_context(|| format!("source {}", p.source.display()))?;
    let destination = std::fs::canonicalize(&target.dir)
        .unwrap_or(target.dir.clone())
        .to_string_lossy()
        .into_owned();
    let mut spec = PlanSpec::daily(p.name.clone(), source, destination);
    spec.page_sizes = crate::commands::parse_page_sizes(&p.page_sizes)?;
    spec.frequency = match (p.every_hours, p.weekly, p.monthly) {
        (Some(h), _, _) => Frequency::Hours(h),
        (_, true, _) => Frequency::Weekly,
        (_, _, true) => Frequency::Monthly,
        _ => Frequency::Daily,
    };
    spec.window = p.window.as_deref().map(Window::parse).transpose()?;
    spec.constraints = Constraints {
        unmetered: p.unmetered,
        charging: p.charging,
        battery_not_low: p.battery_not_low,
        idle: p.idle,
    };
    spec.retention = RetentionPolicy {
        last: p.keep_last,
        daily: p.keep_daily,
        weekly: p.keep_weekly,
        monthly: p.keep_monthly,
        yearly: p.keep_yearly,
        ..PlanSpec::DEFAULT_RETENTION
    };
    spec.verification = Verification {
        sample_percent: p.verify_percent,
        full_every_days: p.full_verify_days,
    };
    spec.exclude_media = p.exclude_media;
    spec.warn_after_hours = p.warn_after_hours;
    spec.copies = linked_copies(&target, &password, p)?;
    let id = sched.add_plan(&spec, Utc::now())?;
    let secret = secret_path(state, &spec.name);
    std::fs::create_dir_all(secret.parent().unwrap_or(state))?;
    let _ = std::fs::remove_file(&secret);
    context::write_private(&secret, password.as_bytes())?;
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"id": id, "plan": spec}))?
        );
    } else if !cli.quiet {
        println!(
            "added plan {:?} (id {id}): {} -> {}; `chatvault schedule run` carries it out when due",
            spec.name,
            spec.source.display(),
            spec.destination
        );
    }
    Ok(0)
}
