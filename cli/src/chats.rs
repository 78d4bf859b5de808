//! Commands over the chats in a snapshot: list, search, export, restore one conversation.

use anyhow::{anyhow, bail, Result};
use chatvault_core::chat::{summary_of, ChatSummary, MessageScope};
use chatvault_core::{CancelToken, ExportOptions};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::args::{ChatsArgs, Cli, ExportArgs, RestoreArgs, SearchArgs};
use crate::commands::{print_json, say};
use crate::context;
use crate::text::{t, tf};
use crate::ui::{bytes, cell, cell_right, ProgressView};

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

/// `--on-phone`: only what the phone still had; by default the archive too.
fn message_scope(on_phone: bool) -> MessageScope {
    if on_phone {
        MessageScope::OnPhone
    } else {
        MessageScope::Everything
    }
}

/// One line describing what a chat backup holds.
pub fn summary_line(c: &ChatSummary) -> String {
    let mut parts = vec![tf(
        "chat-summary",
        &[
            ("app", c.app.as_str().into()),
            ("conversations", (c.conversations.len() as u64).into()),
            ("messages", c.messages.into()),
            ("first", when(c.first, c.local_time).into()),
            ("last", when(c.last, c.local_time).into()),
        ],
    )];
    if c.media_missing > 0 {
        parts.push(tf(
            "chat-media-missing",
            &[("count", c.media_missing.into())],
        ));
    }
    if c.unparsed > 0 {
        parts.push(tf("chat-unparsed", &[("count", c.unparsed.into())]));
    }
    if c.archived > 0 {
        parts.push(tf("chat-archived", &[("count", c.archived.into())]));
    }
    if let Some(how) = &c.opened_with {
        parts.push(tf("chat-key-from", &[("how", how.as_str().into())]));
    }
    parts.join(&t("separator"))
}

/// `chatvault chats [SNAPSHOT]`
pub fn list(cli: &Cli, a: &ChatsArgs) -> Result<i32> {
    let (repo, _) = context::open(cli)?;
    let snap = repo.find_snapshot_in(&a.snapshot, &context::filter(&a.filter))?;
    let Some(mut summary) = summary_of(&snap) else {
        bail!(
            "snapshot {} is a {} backup, not of a chat export",
            snap.id.short(),
            snap.source.kind
        );
    };
    if a.on_phone {
        // What the phone still had: the archive's messages left out, and the
        // conversations that were all archive.
        for c in &mut summary.conversations {
            c.messages -= c.archived.min(c.messages);
            c.archived = 0;
        }
        summary.conversations.retain(|c| c.messages > 0);
        summary.messages -= summary.archived.min(summary.messages);
        summary.archived = 0;
    }
    if cli.json {
        print_json(&summary)?;
        return Ok(0);
    }
    say(cli, summary_line(&summary));
    let archive = summary.archived > 0;
    println!(
        "{}  {}  {}  {}{}  {}  {}",
        cell(&t("chats-header-id"), 24),
        cell(&t("chats-header-name"), 24),
        cell(&t("chats-header-kind"), 7),
        cell_right(&t("chats-header-messages"), 8),
        if archive {
            format!("  {}", cell_right(&t("chats-header-archived"), 8))
        } else {
            String::new()
        },
        cell(&t("chats-header-first"), 16),
        cell(&t("chats-header-last"), 16)
    );
    for c in &summary.conversations {
        println!(
            "{}  {}  {:<7}  {:>8}{}  {:<16}  {:<16}",
            cell(&c.id, 24),
            cell(&c.name, 24),
            c.kind,
            c.messages,
            if archive {
                format!("  {:>8}", c.archived)
            } else {
                String::new()
            },
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
    let chats =
        chatvault_core::chat::open_chats_scoped(&repo, &snap, None, message_scope(a.on_phone))?;
    if let (Some(s), Some(u)) = (a.since, a.until) {
        if s >= u {
            bail!("--since must be before --until");
        }
    }
    let window = chatvault_core::export::window(a.since, a.until);
    let hits = chats.search_in(&a.query, chat.as_deref(), &window, a.limit)?;
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
                .map(str::to_string)
                .unwrap_or_else(|| t("search-system"));
            let gone = m
                .gone_since
                .map(|g| {
                    format!(
                        "  {}",
                        tf("search-gone", &[("since", when(Some(g), false).into())])
                    )
                })
                .unwrap_or_default();
            println!(
                "{}  {}  {}: {}{gone}",
                when(Some(m.time_ms), summary.local_time || !m.utc),
                names
                    .get(m.conversation.as_str())
                    .copied()
                    .unwrap_or(&m.conversation),
                who,
                m.text.replace('\n', " ")
            );
        }
        say(
            cli,
            tf("search-found", &[("count", (hits.len() as u64).into())]),
        );
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
    let view = ProgressView::for_cli(cli);
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
            tf(
                "restored-conversation",
                &[
                    ("chat", (*chat).into()),
                    ("id", snap.id.short().into()),
                    ("target", a.target.display().to_string().into()),
                    ("files", r.files.into()),
                    ("size", bytes(r.bytes).into()),
                ],
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
        language: chatvault_core::Language::from_env(),
        scope: message_scope(a.on_phone),
    };
    if let (Some(s), Some(u)) = (options.since, options.until) {
        if s >= u {
            bail!("--since must be before --until");
        }
    }
    let (repo, _) = context::open(cli)?;
    let snap = repo.find_snapshot_in(&a.snapshot, &context::filter(&a.filter))?;
    let view = ProgressView::for_cli(cli);
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
        let mut line = tf(
            "exported",
            &[
                ("conversations", r.conversations.into()),
                ("messages", r.messages.into()),
                ("media", r.media_files.into()),
                ("id", snap.id.short().into()),
                ("out", a.out.display().to_string().into()),
            ],
        );
        if r.media_missing > 0 {
            line.push(' ');
            line.push_str(&tf(
                "exported-missing",
                &[("count", r.media_missing.into())],
            ));
        }
        say(cli, line);
        say(
            cli,
            tf(
                "open-in-browser",
                &[("path", r.entry.display().to_string().into())],
            ),
        );
    }
    Ok(0)
}
