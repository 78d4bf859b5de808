//! Commands over the chats in a snapshot: list, search, export, restore one conversation.

use anyhow::{anyhow, bail, Result};
use chatvault_core::chat::{summary_of, ChatSummary};
use chatvault_core::{CancelToken, ExportOptions};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::args::{ChatsArgs, Cli, ExportArgs, RestoreArgs, SearchArgs};
use crate::commands::{print_json, say};
use crate::context;
use crate::ui::{bytes, cell, ProgressView};

/// A message time for people: local time for UTC stamps, as-is for wall-clock ones.
fn when(ms: Option<i64>, local_clock: bool) -> String {
    let Some(ms) = ms else {
        return "-".into();
    };
    let Some(t) = DateTime::<Utc>::from_timestamp_millis(ms) else {
        return "-".into();
    };
    if local_clock {
        t.format("%Y-%m-%d %H:%M").to_string()
    } else {
        t.with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }
}

/// One line describing what a chat backup holds.
pub fn summary_line(c: &ChatSummary) -> String {
    let mut s = format!(
        "{}: {} conversations, {} messages ({} to {})",
        c.app,
        c.conversations.len(),
        c.messages,
        when(c.first, c.local_time),
        when(c.last, c.local_time)
    );
    if c.media_missing > 0 {
        s.push_str(&format!(
            "; {} media files missing from the export (never downloaded or cleaned up)",
            c.media_missing
        ));
    }
    if c.unparsed > 0 {
        s.push_str(&format!(
            "; {} lines not understood, kept as they were (kind \"unparsed\")",
            c.unparsed
        ));
    }
    if let Some(how) = &c.opened_with {
        s.push_str(&format!("; database key from {how}"));
    }
    s
}

/// `chatvault chats [SNAPSHOT]`
pub fn list(cli: &Cli, a: &ChatsArgs) -> Result<i32> {
    let (repo, _) = context::open(cli)?;
    let snap = repo.find_snapshot_in(&a.snapshot, &context::filter(&a.filter))?;
    let Some(summary) = summary_of(&snap) else {
        bail!(
            "snapshot {} is a {} backup, not of a chat export",
            snap.id.short(),
            snap.source.kind
        );
    };
    if cli.json {
        print_json(&summary)?;
        return Ok(0);
    }
    say(cli, summary_line(&summary));
    println!(
        "{}  {}  {:<7}  {:>8}  {:<16}  {:<16}",
        cell("ID", 24),
        cell("NAME", 24),
        "KIND",
        "MESSAGES",
        "FIRST",
        "LAST"
    );
    for c in &summary.conversations {
        println!(
            "{}  {}  {:<7}  {:>8}  {:<16}  {:<16}",
            cell(&c.id, 24),
            cell(&c.name, 24),
            c.kind,
            c.messages,
            when(c.first, summary.local_time),
            when(c.last, summary.local_time)
        );
    }
    Ok(0)
}

/// `chatvault search QUERY`
pub fn search(cli: &Cli, a: &SearchArgs) -> Result<i32> {
    let (repo, _) = context::open(cli)?;
    let snap = repo.find_snapshot_in(&a.snapshot, &context::filter(&a.filter))?;
    let Some(summary) = summary_of(&snap) else {
        bail!(
            "snapshot {} is a {} backup, not of a chat app's data: nothing to search",
            snap.id.short(),
            snap.source.kind
        );
    };
    // --chat takes a conversation's id or its name as `chats` shows them.
    let chat = match a.chat.as_deref() {
        None => None,
        Some(wanted) => Some(
            summary
                .conversations
                .iter()
                .find(|c| c.id == wanted)
                .or_else(|| summary.conversations.iter().find(|c| c.name == wanted))
                .map(|c| c.id.clone())
                .ok_or_else(|| {
                    anyhow!(
                        "no conversation {wanted:?} in snapshot {} (see `chatvault chats`)",
                        snap.id.short()
                    )
                })?,
        ),
    };
    let chats = chatvault_core::chat::open_chats(&repo, &snap, None)?;
    let hits = chats.search(&a.query, chat.as_deref(), a.limit)?;
    if cli.json {
        print_json(&hits)?;
    } else {
        let names: std::collections::HashMap<&str, &str> = summary
            .conversations
            .iter()
            .filter(|c| !c.name.is_empty())
            .map(|c| (c.id.as_str(), c.name.as_str()))
            .collect();
        for m in &hits {
            let who = m
                .sender_name
                .as_deref()
                .or(m.sender.as_deref())
                .unwrap_or("system");
            println!(
                "{}  {}  {}: {}",
                when(Some(m.time_ms), summary.local_time || !m.utc),
                names
                    .get(m.conversation.as_str())
                    .copied()
                    .unwrap_or(&m.conversation),
                who,
                m.text.replace('\n', " ")
            );
        }
        say(cli, format!("{} messages found", hits.len()));
    }
    // Finding nothing is an answer, not an error.
    Ok(0)
}

/// `chatvault restore SNAPSHOT --chat ID --target DIR`
pub fn restore_conversation(
    cli: &Cli,
    a: &RestoreArgs,
    chat: &str,
    cancel: &CancelToken,
) -> Result<i32> {
    let (repo, _) = context::open(cli)?;
    let snap = repo.find_snapshot_in(&a.snapshot, &context::filter(&a.filter))?;
    let view = ProgressView::new(cli.quiet || cli.json);
    let r = chatvault_core::chat::restore_conversation(
        &repo,
        &snap,
        chat,
        &a.target,
        None,
        Some(&view),
        cancel,
    );
    view.finish();
    let r = r?;
    if cli.json {
        print_json(
            &json!({"snapshot": snap.id, "conversation": chat, "target": a.target, "summary": r}),
        )?;
    } else {
        say(
            cli,
            format!(
                "restored conversation {chat} of snapshot {} to {}: {} files, {}",
                snap.id.short(),
                a.target.display(),
                r.files,
                bytes(r.bytes)
            ),
        );
    }
    Ok(0)
}

/// `chatvault export [SNAPSHOT] --format html|json|txt --out DIR`
pub fn export(cli: &Cli, a: &ExportArgs, cancel: &CancelToken) -> Result<i32> {
    let options = ExportOptions {
        format: a.format.parse()?,
        conversations: a.chats.clone(),
        since: a.since,
        until: a.until,
        page_size: a.page_size,
    };
    if let (Some(s), Some(u)) = (options.since, options.until) {
        if s >= u {
            bail!("--since must be before --until");
        }
    }
    let (repo, _) = context::open(cli)?;
    let snap = repo.find_snapshot_in(&a.snapshot, &context::filter(&a.filter))?;
    let view = ProgressView::new(cli.quiet || cli.json);
    let r = chatvault_core::export::export_chats(
        &repo,
        &snap,
        &a.out,
        &options,
        None,
        Some(&view),
        cancel,
    );
    view.finish();
    let r = r?;
    if cli.json {
        print_json(&json!({"snapshot": snap.id, "format": options.format.as_str(), "summary": r}))?;
    } else {
        let mut line = format!(
            "exported {} conversations, {} messages and {} media files of snapshot {} to {}",
            r.conversations,
            r.messages,
            r.media_files,
            snap.id.short(),
            a.out.display()
        );
        if r.media_missing > 0 {
            line.push_str(&format!(
                " ({} media files were not in the export when it was backed up)",
                r.media_missing
            ));
        }
        say(cli, line);
        say(cli, format!("open {}", r.entry.display()));
    }
    Ok(0)
}
