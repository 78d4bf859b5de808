//! Looking inside snapshots without restoring them: `ls`, `find`, `dump`, `diff`.

use std::collections::HashMap;

use anyhow::{bail, Context as _, Result};
use chatvault_core::chat::{summary_of, ChatSummary};
use chatvault_core::repo::browse::{Change, Entry};
use chatvault_core::repo::tree::NodeKind;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::args::{Cli, DiffArgs, DumpArgs, FindArgs, LsArgs};
use crate::commands::{print_json, say};
use crate::context;
use crate::ui::bytes;

fn kind_mark(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Dir => "d",
        NodeKind::File => "-",
        NodeKind::Symlink => "l",
    }
}

fn mtime(ns: i64) -> String {
    DateTime::<Utc>::from_timestamp(ns.div_euclid(1_000_000_000), 0)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| "-".into())
}

fn print_entry(e: &Entry, long: bool) {
    if long {
        println!(
            "{} {:>10}  {}  {}",
            kind_mark(e.kind),
            if e.kind == NodeKind::File {
                e.size.to_string()
            } else {
                String::new()
            },
            mtime(e.mtime_ns),
            e.path
        );
    } else {
        println!("{}", e.path);
    }
}

/// `chatvault ls [SNAPSHOT] [PATH]`
pub fn ls(cli: &Cli, a: &LsArgs) -> Result<i32> {
    let (repo, _) = context::open(cli)?;
    let snap = repo.find_snapshot_in(&a.snapshot, &context::filter(&a.filter))?;
    let path = a.path.as_deref().unwrap_or("");
    if cli.json {
        let mut all = Vec::new();
        repo.walk_snapshot(&snap, path, |e| {
            all.push(e.clone());
            Ok(())
        })?;
        print_json(&all)?;
    } else {
        repo.walk_snapshot(&snap, path, |e| {
            print_entry(e, a.long);
            Ok(())
        })?;
    }
    Ok(0)
}

/// `chatvault find PATTERN [--snapshot S]`
pub fn find(cli: &Cli, a: &FindArgs) -> Result<i32> {
    let pattern = glob::Pattern::new(&a.pattern)
        .with_context(|| format!("{:?} is not a file name pattern", a.pattern))?;
    let options = glob::MatchOptions {
        case_sensitive: false,
        require_literal_separator: false,
        require_literal_leading_dot: false,
    };
    let (repo, _) = context::open(cli)?;
    let snapshots = match &a.snapshot {
        Some(s) => vec![repo.find_snapshot_in(s, &context::filter(&a.filter))?],
        None => {
            let filter = context::filter(&a.filter);
            let mut all = repo.snapshots()?;
            all.retain(|s| filter.matches(s));
            all
        }
    };
    let mut found = Vec::new();
    for snap in &snapshots {
        let mut hits = Vec::new();
        repo.walk_snapshot(snap, "", |e| {
            let name = e.path.rsplit('/').next().unwrap_or(&e.path);
            if pattern.matches_with(name, options) {
                hits.push(e.clone());
            }
            Ok(())
        })?;
        if hits.is_empty() {
            continue;
        }
        if !cli.json {
            println!(
                "snapshot {} of {}:",
                snap.id.short(),
                snap.time
                    .with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M")
            );
            for e in &hits {
                print!("  ");
                print_entry(e, true);
            }
        }
        found.push(json!({"snapshot": snap.id, "time": snap.time, "matches": hits}));
    }
    if cli.json {
        print_json(&found)?;
    } else {
        say(
            cli,
            format!(
                "{} of {} snapshot(s) hold a match",
                found.len(),
                snapshots.len()
            ),
        );
    }
    Ok(0)
}

/// `chatvault dump SNAPSHOT PATH`
pub fn dump(cli: &Cli, a: &DumpArgs) -> Result<i32> {
    let (repo, _) = context::open(cli)?;
    let snap = repo.find_snapshot_in(&a.snapshot, &context::filter(&a.filter))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    repo.dump(&snap, &a.path, &mut out)?;
    Ok(0)
}

/// What a chat backup gained or lost in one conversation.
struct ChatChange {
    name: String,
    messages: i64,
    media: i64,
    new: bool,
    gone: bool,
}

/// Per conversation, how the message and media counts of two chat summaries differ.
fn chat_changes(old: &ChatSummary, new: &ChatSummary) -> Vec<ChatChange> {
    let before: HashMap<&str, _> = old
        .conversations
        .iter()
        .map(|c| (c.id.as_str(), c))
        .collect();
    let after: HashMap<&str, _> = new
        .conversations
        .iter()
        .map(|c| (c.id.as_str(), c))
        .collect();
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let label = |id: &str, name: &str| {
        if name.is_empty() {
            id.to_string()
        } else {
            name.to_string()
        }
    };
    let mut out = Vec::new();
    for c in &new.conversations {
        let was = before.get(c.id.as_str());
        let (m0, p0) = was.map_or((0, 0), |w| (count(w.messages), count(w.media_present)));
        let change = ChatChange {
            name: label(&c.id, &c.name),
            messages: count(c.messages) - m0,
            media: count(c.media_present) - p0,
            new: was.is_none(),
            gone: false,
        };
        if change.new || change.messages != 0 || change.media != 0 {
            out.push(change);
        }
    }
    for c in &old.conversations {
        if !after.contains_key(c.id.as_str()) {
            out.push(ChatChange {
                name: label(&c.id, &c.name),
                messages: -count(c.messages),
                media: -count(c.media_present),
                new: false,
                gone: true,
            });
        }
    }
    out
}

fn signed(n: i64, what: &str) -> String {
    let sign = if n > 0 { "+" } else { "" };
    format!("{sign}{n} {what}")
}

/// `chatvault diff OLD NEW`
pub fn diff(cli: &Cli, a: &DiffArgs) -> Result<i32> {
    let (repo, _) = context::open(cli)?;
    let filter = context::filter(&a.filter);
    let old = repo.find_snapshot_in(&a.old, &filter)?;
    let new = repo.find_snapshot_in(&a.new, &filter)?;
    if old.id == new.id {
        bail!("{} and {} are the same snapshot", a.old, a.new);
    }
    let files = repo.diff(&old, &new)?;
    let chats = match (summary_of(&old), summary_of(&new)) {
        (Some(o), Some(n)) => chat_changes(&o, &n),
        _ => Vec::new(),
    };
    if cli.json {
        let files: Vec<_> = files
            .iter()
            .map(|(c, e)| json!({"change": c, "entry": e}))
            .collect();
        let chats: Vec<_> = chats
            .iter()
            .map(|c| {
                json!({"conversation": c.name, "messages": c.messages, "media": c.media,
                       "new": c.new, "removed": c.gone})
            })
            .collect();
        print_json(&json!({"old": old.id, "new": new.id, "files": files, "chats": chats}))?;
        return Ok(0);
    }
    for c in &chats {
        let mut parts = vec![signed(c.messages, "messages")];
        if c.media != 0 {
            parts.push(signed(c.media, "media files"));
        }
        let note = if c.new {
            " (new conversation)"
        } else if c.gone {
            " (no longer in the backup)"
        } else {
            ""
        };
        println!("{} in {}{note}", parts.join(", "), c.name);
    }
    let (mut added, mut removed, mut modified, mut grown) = (0, 0, 0, 0i128);
    for (change, e) in &files {
        let mark = match change {
            Change::Added => {
                added += 1;
                grown += i128::from(e.size);
                "+"
            }
            Change::Removed => {
                removed += 1;
                grown -= i128::from(e.size);
                "-"
            }
            Change::Modified => {
                modified += 1;
                "M"
            }
        };
        println!("{mark}    {}", e.path);
    }
    let net = if grown >= 0 {
        format!("+{}", bytes(u64::try_from(grown).unwrap_or(u64::MAX)))
    } else {
        format!("-{}", bytes(u64::try_from(-grown).unwrap_or(u64::MAX)))
    };
    say(
        cli,
        format!(
            "{added} added, {removed} removed, {modified} modified ({net} in added and removed files)"
        ),
    );
    Ok(0)
}
