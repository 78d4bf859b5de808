//! One function per command: parse options into core calls, print the result.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use chatvault_core::{
    parse_duration, BackupOptions, CancelToken, InitOptions, KdfParams, PruneOptions, ReadData,
    Repository, RestoreOptions, RetentionPolicy, SourceOptions,
};
use serde_json::json;

use crate::args::{
    BackupArgs, CheckArgs, Cli, ForgetArgs, InitArgs, KdfArgs, KeyCommand, PruneArgs, RestoreArgs,
    SnapshotsArgs,
};
use crate::context::{self, Target};
use crate::text::{prefixed, t, tf};
use crate::ui::{self, bytes, ProgressView};

/// Exit code for "backup made, but some files could not be read".
pub const EXIT_PARTIAL: i32 = 3;
/// Reader notices printed after a backup (the rest are in `--json`).
const MAX_NOTICES: usize = 20;

pub fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn kdf(a: &KdfArgs) -> KdfParams {
    KdfParams {
        memory_kib: a.kdf_memory_mib.saturating_mul(1024),
        iterations: a.kdf_iterations,
        parallelism: 1,
    }
}

pub fn say(cli: &Cli, msg: impl AsRef<str>) {
    if !cli.quiet && !cli.json {
        println!("{}", msg.as_ref());
    }
}

fn show_recovery_key(cli: &Cli, key: &str) {
    if cli.json {
        return;
    }
    eprintln!("\n{}\n\n    {key}\n", t("recovery-key"));
}

pub fn init(cli: &Cli, a: &InitArgs) -> Result<i32> {
    let target = Target::resolve(cli)?;
    let (repo, recovery) = if target.is_default {
        context::init_default(cli, &target)?
    } else {
        let pw = context::init_password(cli, &target)?;
        let opts = InitOptions {
            kdf: kdf(&a.kdf),
            pack_size: a.pack_size_mib.saturating_mul(1024 * 1024),
            recovery_key: !a.no_recovery_key,
            linked_to: match &a.copy_chunker_params_from {
                Some(from) => Some(
                    crate::copy::open_other(
                        from,
                        a.from_password_file.as_deref(),
                        "CHATVAULT_FROM_PASSWORD",
                    )?
                    .link_params(),
                ),
                None => None,
            },
        };
        Repository::init(target.storage()?, &pw, &opts)?
    };
    if cli.json {
        print_json(
            &json!({"location": target.dir, "id": repo.config().id, "recovery_key": recovery}),
        )?;
    } else {
        say(
            cli,
            tf(
                "created-repository",
                &[
                    ("id", repo.config().id.short().into()),
                    ("path", target.dir.display().to_string().into()),
                ],
            ),
        );
        if let Some(k) = recovery {
            show_recovery_key(cli, &k);
        }
    }
    Ok(0)
}

pub fn parse_page_sizes(specs: &[String]) -> Result<Vec<(PathBuf, u32)>> {
    specs
        .iter()
        .map(|s| {
            let (p, n) = s
                .rsplit_once('=')
                .with_context(|| format!("--page-size {s:?}: expected PATH=SIZE"))?;
            let n: u32 = n
                .parse()
                .with_context(|| format!("--page-size {s:?}: SIZE must be a number"))?;
            if !(512..=65536).contains(&n) || !n.is_power_of_two() {
                bail!("--page-size {s:?}: SIZE must be a power of two from 512 to 65536");
            }
            Ok((PathBuf::from(p), n))
        })
        .collect()
}

pub fn backup(cli: &Cli, a: &BackupArgs, cancel: &CancelToken) -> Result<i32> {
    let target = Target::resolve(cli)?;
    let repo = if target.is_default && !Repository::exists(target.storage()?.as_ref())? {
        let (repo, recovery) = context::init_default(cli, &target)?;
        say(
            cli,
            tf(
                "created-default-repository",
                &[("path", target.dir.display().to_string().into())],
            ),
        );
        if let Some(k) = recovery {
            show_recovery_key(cli, &k);
        }
        repo
    } else {
        context::open(cli)?.0
    };
    // Before the new snapshot: once it exists, a rollback would no longer show.
    context::warn_on_rollback(&repo, &repo.snapshots()?);
    let opts = BackupOptions {
        host: a.host.clone(),
        tags: a.tags.clone(),
        threads: a.threads,
        page_sizes: parse_page_sizes(&a.page_sizes)?,
        lock_wait: Duration::from_secs(a.lock_wait),
        force_read: a.force,
        ..Default::default()
    };
    let view = ProgressView::for_cli(cli);
    let (result, chat) = if let [path] = a.paths.as_slice() {
        let source = SourceOptions {
            kind: a.source.as_deref().map(str::parse).transpose()?,
            wechat_key: wechat_key(a)?,
            imeis: a.imeis.clone(),
            uin: a.uin.clone(),
            whatsapp_me: a.whatsapp_me.clone(),
            whatsapp_key: a.whatsapp_key.clone(),
            iphone_backup_password: iphone_backup_password(a)?,
            wechat_account: a.account.clone(),
            work_dir: None,
        };
        match chatvault_core::chat::backup_source(
            &repo,
            path,
            &source,
            &opts,
            None,
            Some(&view),
            cancel,
        ) {
            Ok(done) => (Ok(done.backup), Some((done.summary, done.notices))),
            Err(e) => (Err(e), None),
        }
    } else {
        if a.source.is_some() {
            bail!("--source reads one export: give one path");
        }
        (repo.backup(&a.paths, &opts, Some(&view), cancel), None)
    };
    view.finish();
    let result = result?;
    let (chat, notices) = chat.unwrap_or_default();
    let s = &result.snapshot;
    if cli.json {
        print_json(
            &json!({"snapshot": s.id, "source": s.source.kind, "summary": s.summary, "chat": chat, "warnings": result.warnings, "notices": notices, "repository": target.dir}),
        )?;
    } else {
        for w in &result.warnings {
            eprintln!("{}", prefixed("warning", w));
        }
        // What the reader noticed about the chats: information, not a failure.
        for n in notices.iter().take(MAX_NOTICES) {
            eprintln!("{}", prefixed("note", n));
        }
        if notices.len() > MAX_NOTICES {
            let more = (notices.len() - MAX_NOTICES) as u64;
            eprintln!("{}", tf("more-notes", &[("count", more.into())]));
        }
        say(
            cli,
            tf(
                "snapshot-saved",
                &[
                    ("id", s.id.short().into()),
                    ("files", s.summary.files.into()),
                    ("size", bytes(s.summary.bytes).into()),
                    ("read", s.summary.files_read.into()),
                    ("added", bytes(s.summary.bytes_added).into()),
                    ("stored", bytes(s.summary.bytes_stored).into()),
                    ("seconds", format!("{:.1}", s.summary.duration_secs).into()),
                ],
            ),
        );
        if let Some(c) = &chat {
            say(cli, crate::chats::summary_line(c));
        }
        if target.is_default {
            say(
                cli,
                tf(
                    "repository",
                    &[("path", target.dir.display().to_string().into())],
                ),
            );
        }
    }
    Ok(if result.warnings.is_empty() {
        0
    } else {
        EXIT_PARTIAL
    })
}

/// `forget ID…`: the named snapshots, after checking every name.
fn forget_ids(
    cli: &Cli,
    repo: &chatvault_core::Repository,
    a: &ForgetArgs,
    cancel: &CancelToken,
) -> Result<i32> {
    let policy_given =
        a.keep_last + a.keep_hourly + a.keep_daily + a.keep_weekly + a.keep_monthly + a.keep_yearly
            > 0
            || a.keep_within.is_some();
    if policy_given {
        bail!("give snapshot ids or --keep-* rules, not both");
    }
    let removed = repo.forget_ids(&a.ids, a.dry_run)?;
    if !a.dry_run {
        context::acknowledge_snapshots(repo);
    }
    let pruned = if a.prune && !a.dry_run {
        Some(repo.prune(&PruneOptions::default(), None, cancel)?)
    } else {
        None
    };
    if cli.json {
        print_json(&json!({"removed_ids": removed, "removed": removed.len(), "prune": pruned}))?;
    } else {
        let verb = if a.dry_run { "would remove" } else { "removed" };
        for id in &removed {
            say(cli, format!("{}  {verb}", &id[..id.len().min(8)]));
        }
        say(cli, format!("{verb} {} snapshot(s)", removed.len()));
        if let Some(p) = pruned {
            say(cli, prune_line(&p));
        }
    }
    Ok(0)
}

/// What a prune after `forget` did, in one line.
pub(crate) fn prune_line(p: &chatvault_core::PruneSummary) -> String {
    format!(
        "prune: deleted {} packs, repacked {}, freed {}",
        p.packs_deleted,
        p.packs_repacked,
        bytes(p.bytes_freed)
    )
}

pub fn snapshots(cli: &Cli, a: &SnapshotsArgs) -> Result<i32> {
    let (repo, _) = context::open(cli)?;
    let mut snaps = repo.snapshots()?;
    context::warn_on_rollback(&repo, &snaps);
    let filter = context::filter(&a.filter);
    snaps.retain(|s| filter.matches(s));
    for (name, reason) in repo.damaged_snapshots()? {
        eprintln!(
            "warning: snapshot {} cannot be read ({reason}); `chatvault forget {}` removes it",
            &name[..name.len().min(8)],
            &name[..name.len().min(8)]
        );
    }
    if cli.json {
        let v: Vec<_> = snaps
            .iter()
            .map(|s| json!({"id": s.id, "short_id": s.id.short(), "time": s.time, "host": s.host, "tags": s.tags, "paths": s.paths, "source": s.source, "parent": s.parent, "summary": s.summary}))
            .collect();
        return print_json(&v).map(|_| 0);
    }
    println!(
        "{}  {}  {}  {}  {}  {}",
        ui::cell(&t("snapshots-id"), 8),
        ui::cell(&t("snapshots-time"), 19),
        ui::cell(&t("snapshots-host"), 16),
        ui::cell_right(&t("snapshots-files"), 7),
        ui::cell_right(&t("snapshots-size"), 10),
        t("snapshots-paths")
    );
    for s in &snaps {
        let tags = if s.tags.is_empty() {
            String::new()
        } else {
            format!("  [{}]", s.tags.join(", "))
        };
        println!("{}  {}{tags}", ui::snapshot_row(s), s.paths.join(", "));
    }
    println!(
        "{}",
        tf("snapshots-count", &[("count", (snaps.len() as u64).into())])
    );
    Ok(0)
}

pub fn restore(cli: &Cli, a: &RestoreArgs, cancel: &CancelToken) -> Result<i32> {
    let (repo, _) = context::open(cli)?;
    context::warn_on_rollback(&repo, &repo.snapshots()?);
    let snap = repo.find_snapshot_in(&a.snapshot, &context::filter(&a.filter))?;
    let view = ProgressView::for_cli(cli);
    let r = repo.restore(
        &snap,
        &a.target,
        &RestoreOptions {
            include: a.include.clone(),
        },
        Some(&view),
        cancel,
    );
    view.finish();
    let r = r?;
    if !a.include.is_empty() && r.files == 0 && r.dirs == 0 {
        bail!(
            "nothing in snapshot {} matches --include {} (paths start with the backed-up folder's name, as `chatvault ls {}` shows them)",
            snap.id.short(),
            a.include.join(", --include "),
            snap.id.short()
        );
    }
    if cli.json {
        print_json(&json!({"snapshot": snap.id, "target": a.target, "summary": r}))?;
    } else {
        for d in &r.damaged {
            if d.folder {
                eprintln!(
                    "damaged: {}/ could not be read; nothing under it was restored ({})",
                    d.path, d.reason
                );
            } else {
                eprintln!(
                    "damaged: {} restored with {} unreadable, written as zeros ({})",
                    d.path,
                    bytes(d.unreadable_bytes),
                    d.reason
                );
            }
        }
        say(
            cli,
            tf(
                "restored",
                &[
                    ("id", snap.id.short().into()),
                    ("target", a.target.display().to_string().into()),
                    ("files", r.files.into()),
                    ("dirs", r.dirs.into()),
                    ("size", bytes(r.bytes).into()),
                ],
            ),
        );
        if !r.damaged.is_empty() {
            eprintln!(
                "{} of them damaged in the repository: everything else is intact; `chatvault check --read-data` shows the damage",
                r.damaged.len()
            );
        }
    }
    Ok(if r.damaged.is_empty() {
        0
    } else {
        EXIT_PARTIAL
    })
}

pub fn check(cli: &Cli, a: &CheckArgs, cancel: &CancelToken) -> Result<i32> {
    let (repo, _) = context::open(cli)?;
    let mode = match (a.read_data, a.read_data_subset) {
        (true, _) => ReadData::All,
        (_, Some(p)) if (0.0..=100.0).contains(&p) => ReadData::Subset(p),
        (_, Some(p)) => bail!("--read-data-subset {p}: expected a percentage from 0 to 100"),
        _ => ReadData::None,
    };
    let view = ProgressView::for_cli(cli);
    let report = repo.check(mode, Some(&view), cancel);
    view.finish();
    let report = report?;
    if cli.json {
        print_json(&report)?;
    } else {
        for w in &report.warnings {
            eprintln!("{}", prefixed("warning", w));
        }
        for e in &report.errors {
            eprintln!("{}", prefixed("error", e));
        }
        let read = if report.packs_read > 0 {
            tf(
                "checked-read",
                &[
                    ("packs", report.packs_read.into()),
                    ("size", bytes(report.bytes_read).into()),
                ],
            )
        } else {
            String::new()
        };
        let verdict = if report.is_ok() {
            t("check-ok")
        } else {
            tf(
                "check-errors",
                &[("count", (report.errors.len() as u64).into())],
            )
        };
        if !cli.quiet || !report.is_ok() {
            let line = tf(
                "checked",
                &[
                    ("snapshots", report.snapshots.into()),
                    ("trees", report.trees.into()),
                    ("blobs", report.blobs_referenced.into()),
                    ("packs", report.packs.into()),
                    ("read", read.into()),
                    ("verdict", verdict.into()),
                ],
            );
            println!("{line}");
        }
    }
    Ok(if report.is_ok() { 0 } else { 1 })
}

pub fn forget(cli: &Cli, a: &ForgetArgs, cancel: &CancelToken) -> Result<i32> {
    let (repo, _) = context::open(cli)?;
    if !a.ids.is_empty() {
        return forget_ids(cli, &repo, a, cancel);
    }
    let policy = RetentionPolicy {
        last: a.keep_last,
        hourly: a.keep_hourly,
        daily: a.keep_daily,
        weekly: a.keep_weekly,
        monthly: a.keep_monthly,
        yearly: a.keep_yearly,
        within: a.keep_within.as_deref().map(parse_duration).transpose()?,
    };
    let decisions = repo.forget_in(&policy, &context::filter(&a.filter), a.dry_run)?;
    if !a.dry_run {
        context::acknowledge_snapshots(&repo);
    }
    let removed = decisions.iter().filter(|d| d.reasons.is_empty()).count();
    let pruned = if a.prune && !a.dry_run {
        Some(repo.prune(&PruneOptions::default(), None, cancel)?)
    } else {
        None
    };
    if cli.json {
        print_json(&json!({"decisions": decisions, "removed": removed, "prune": pruned}))?;
    } else {
        for d in &decisions {
            let what = if d.reasons.is_empty() {
                "remove".to_string()
            } else {
                format!("keep ({})", d.reasons.join(", "))
            };
            say(
                cli,
                format!(
                    "{}  {}  {:<16}  {what}",
                    d.id.short(),
                    d.time
                        .with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M"),
                    d.host
                ),
            );
        }
        say(
            cli,
            format!(
                "{} {removed} snapshot(s)",
                if a.dry_run { "would remove" } else { "removed" }
            ),
        );
        if let Some(p) = pruned {
            say(cli, prune_line(&p));
        }
    }
    Ok(0)
}

pub fn prune(cli: &Cli, a: &PruneArgs, cancel: &CancelToken) -> Result<i32> {
    let (repo, _) = context::open(cli)?;
    let opts = PruneOptions {
        dry_run: a.dry_run,
        lock_wait: Duration::from_secs(a.lock_wait),
        ..Default::default()
    };
    let view = ProgressView::for_cli(cli);
    let s = repo.prune(&opts, Some(&view), cancel);
    view.finish();
    let s = s?;
    if cli.json {
        print_json(&s)?;
    } else {
        say(
            cli,
            format!(
                "{} {} of {} packs, repacked {} into {}, {} unused blobs, freed {} (kept {})",
                if a.dry_run { "would delete" } else { "deleted" },
                s.packs_deleted,
                s.packs_before,
                s.packs_repacked,
                s.packs_written,
                s.blobs_removed,
                bytes(s.bytes_freed),
                bytes(s.bytes_kept)
            ),
        );
    }
    Ok(0)
}

pub fn stats(cli: &Cli) -> Result<i32> {
    let (repo, target) = context::open(cli)?;
    let s = repo.stats()?;
    if cli.json {
        return print_json(&s).map(|_| 0);
    }
    println!("repository      {}", target.dir.display());
    println!("snapshots       {}", s.snapshots);
    println!("latest snapshot {}", bytes(s.latest_bytes));
    println!(
        "all snapshots   {} (what restoring every snapshot would write)",
        bytes(s.restore_bytes)
    );
    println!(
        "unique data     {} in {} blobs",
        bytes(s.unique_bytes),
        s.blobs
    );
    println!(
        "stored          {} in {} packs",
        bytes(s.stored_bytes),
        s.packs
    );
    println!("deduplication   {:.2}x", s.dedup_ratio);
    println!("compression     {:.2}x", s.compression_ratio);
    println!("unused blobs    {} (freed by prune)", s.unused_blobs);
    Ok(0)
}

pub fn key(cli: &Cli, cmd: &KeyCommand) -> Result<i32> {
    let (mut repo, _) = context::open(cli)?;
    match cmd {
        KeyCommand::List => {
            let keys = repo.keys()?;
            if cli.json {
                return print_json(&keys).map(|_| 0);
            }
            for k in keys {
                println!(
                    "{}{}  {:<8}  {:<16}  {:<16}  {}",
                    if k.current { "*" } else { " " },
                    &k.id[..8],
                    format!("{:?}", k.kind).to_lowercase(),
                    k.label,
                    k.host,
                    k.created
                        .with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M")
                );
            }
        }
        KeyCommand::Add { label, new } => {
            let pw = context::new_password(new.new_password_file.as_deref())?;
            let id = repo.add_password(&pw, label, kdf(&new.kdf))?;
            if cli.json {
                print_json(&json!({"added": id, "label": label}))?;
            } else {
                say(cli, format!("added key slot {}", &id[..8]));
            }
        }
        KeyCommand::Passwd { new } => {
            let pw = context::new_password(new.new_password_file.as_deref())?;
            let id = repo.change_password(&pw, kdf(&new.kdf))?;
            if cli.json {
                print_json(&json!({"password_changed": true, "key": id}))?;
            } else {
                say(cli, format!("password changed (new key slot {})", &id[..8]));
            }
        }
        KeyCommand::Recovery => {
            let key = repo.new_recovery_key()?;
            if cli.json {
                print_json(&json!({"recovery_key": key}))?;
            } else {
                show_recovery_key(cli, &key);
            }
        }
        KeyCommand::Remove { id } => {
            repo.remove_key(id)?;
            if cli.json {
                print_json(&json!({"removed": id}))?;
            } else {
                say(cli, format!("removed key slot {id}"));
            }
        }
    }
    Ok(0)
}

/// The iPhone backup password: from `--iphone-backup-password-file`, else
/// `$CHATVAULT_IPHONE_BACKUP_PASSWORD` (never from the command line itself).
fn iphone_backup_password(a: &BackupArgs) -> Result<Option<String>> {
    if let Some(f) = &a.iphone_backup_password_file {
        return Ok(Some(context::read_secret_file(f)?));
    }
    Ok(std::env::var("CHATVAULT_IPHONE_BACKUP_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty()))
}

/// Whether `value` of option `flag` came from the command line rather than from `env`:
/// then every user of this computer could read it (`/proc/PID/cmdline`), so say so.
fn warn_if_on_command_line(value: &Option<String>, env: &str, flag: &str, better: &str) {
    if value.is_some() && std::env::var(env).ok() != *value {
        eprintln!(
            "warning: {flag} on the command line is visible to other users of this computer; \
             use {better} or ${env} instead"
        );
    }
}

/// The WeChat key: --wechat-key-file, else --wechat-key / $CHATVAULT_WECHAT_KEY.
fn wechat_key(a: &BackupArgs) -> Result<Option<String>> {
    if let Some(f) = &a.wechat_key_file {
        return Ok(Some(context::read_secret_file(f)?.trim().to_string()));
    }
    warn_if_on_command_line(
        &a.wechat_key,
        "CHATVAULT_WECHAT_KEY",
        "--wechat-key",
        "--wechat-key-file",
    );
    // A key file path is fine on the command line; the 64 digits are not.
    if a.whatsapp_key
        .as_deref()
        .is_some_and(|k| !std::path::Path::new(k).exists())
    {
        warn_if_on_command_line(
            &a.whatsapp_key,
            "CHATVAULT_WHATSAPP_KEY",
            "--whatsapp-key",
            "a key file",
        );
    }
    Ok(a.wechat_key.clone())
}
