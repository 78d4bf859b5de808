//! `chatvault archive`: the messages the phone no longer has, kept from earlier backups.

use std::time::Duration;

use anyhow::Result;
use chatvault_core::chat::{purge_archive, PurgeRequest};
use chatvault_core::{CancelToken, PruneOptions};
use serde_json::json;

use crate::args::{ArchiveCommand, Cli, PurgeArgs};
use crate::commands::{print_json, prune_line, say};
use crate::context;
use crate::text::{t, tf};

pub fn run(cli: &Cli, command: &ArchiveCommand, cancel: &CancelToken) -> Result<i32> {
    match command {
        ArchiveCommand::Purge(a) => purge(cli, a, cancel),
    }
}

/// `chatvault archive purge --chat ID [--before DATE]`
fn purge(cli: &Cli, a: &PurgeArgs, cancel: &CancelToken) -> Result<i32> {
    let (repo, _) = context::open(cli)?;
    let request = PurgeRequest {
        conversation: a.chat.clone(),
        window: chatvault_core::export::window(None, a.before),
        filter: context::filter(&a.filter),
        dry_run: a.dry_run,
        lock_wait: Duration::from_secs(a.lock_wait),
    };
    let report = purge_archive(&repo, &request, None, cancel)?;
    if !a.dry_run && !report.snapshots.is_empty() {
        context::acknowledge_snapshots(&repo);
    }
    let pruned = if a.prune && !a.dry_run && !report.snapshots.is_empty() {
        Some(repo.prune(&PruneOptions::default(), None, cancel)?)
    } else {
        None
    };
    let held: u64 = report
        .held_by_exports
        .iter()
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(0);
    if cli.json {
        let snapshots: Vec<_> = report
            .snapshots
            .iter()
            .map(|s| {
                json!({
                    "old": s.old.id.to_hex(),
                    "new": s.new.as_ref().map(|n| n.id.to_hex()),
                    "time": s.old.time,
                    "messages": s.messages,
                    "media": s.media,
                })
            })
            .collect();
        let held_by: Vec<_> = report
            .held_by_exports
            .iter()
            .map(|(s, n)| json!({"snapshot": s.id.to_hex(), "time": s.time, "messages": n}))
            .collect();
        print_json(&json!({
            "chat": a.chat,
            "dry_run": a.dry_run,
            "messages": report.messages(),
            "media": report.media(),
            "snapshots": snapshots,
            "held_by_exports": held_by,
            "prune": pruned,
        }))?;
        return Ok(0);
    }
    for s in &report.snapshots {
        say(
            cli,
            tf(
                "purge-snapshot",
                &[
                    ("old", s.old.id.short().into()),
                    (
                        "new",
                        s.new
                            .as_ref()
                            .map(|n| n.id.short())
                            .unwrap_or_else(|| "-".into())
                            .into(),
                    ),
                    (
                        "time",
                        s.old.time.format("%Y-%m-%d %H:%M").to_string().into(),
                    ),
                    ("messages", s.messages.into()),
                    ("media", s.media.into()),
                ],
            ),
        );
    }
    let key = match (report.snapshots.is_empty(), a.dry_run) {
        (true, _) => "purge-nothing",
        (false, true) => "purge-would",
        (false, false) => "purge-done",
    };
    say(
        cli,
        tf(
            key,
            &[
                ("chat", a.chat.as_str().into()),
                ("messages", report.messages().into()),
                ("media", report.media().into()),
                ("snapshots", (report.snapshots.len() as u64).into()),
            ],
        ),
    );
    if held > 0 {
        let ids: Vec<String> = report
            .held_by_exports
            .iter()
            .map(|(s, _)| s.id.short())
            .collect();
        say(
            cli,
            tf(
                "purge-held",
                &[
                    ("messages", held.into()),
                    ("snapshots", (ids.len() as u64).into()),
                    ("ids", ids.join(" ").into()),
                ],
            ),
        );
    }
    match pruned {
        Some(p) => say(cli, prune_line(&p)),
        None if !a.dry_run && !report.snapshots.is_empty() => say(cli, t("purge-prune")),
        None => {}
    }
    Ok(0)
}
