//! `chatvault demo`: the whole job on a generated WeChat export in the real format, narrated:
//! backup (the database key found from the export itself), a day later, the chats, a
//! Chinese search, verification, a full and a one-chat restore, and the HTML site.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use chatvault_core::chat::{backup_source, open_chats, restore_conversation};
use chatvault_core::export::export_chats;
use chatvault_core::{
    BackupOptions, CancelToken, ExportOptions, InitOptions, ReadData, Repository, RestoreOptions,
    Secret, SourceOptions,
};
use chatvault_fixtures::chat_exports::{wechat_android, wechat_android_add_day, ChatSpec};
use chatvault_fixtures::compare_trees;

use crate::args::{Cli, DemoArgs};
use crate::context::{self, Target};
use crate::ui::{self, bytes, ProgressView};

/// Marks a folder the demo made, so a later demo may replace it and nothing else.
const MARKER: &str = ".chatvault-demo";

fn open_or_create(cli: &Cli, target: &Target) -> Result<(Repository, Option<String>)> {
    let storage = target.storage()?;
    if Repository::exists(storage.as_ref())? {
        let pw = context::password(cli, target, "password: ")?;
        return Ok((Repository::open(storage, &Secret::password(pw))?, None));
    }
    if target.is_default {
        return context::init_default(cli, target);
    }
    let pw = context::password(cli, target, "new repository password: ")?;
    Ok(Repository::init(
        storage,
        &pw,
        &InitOptions {
            recovery_key: true,
            ..Default::default()
        },
    )?)
}

/// A fresh, empty folder for the demo at `dir`: one the demo made before is replaced; any
/// other existing folder is left alone and refused.
fn demo_folder(dir: &Path) -> Result<()> {
    if dir.exists() {
        if !dir.join(MARKER).exists() {
            bail!(
                "{} exists and was not made by the demo: move it away first",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "made by `chatvault demo`; the next demo replaces it\n",
    )
    .with_context(|| format!("cannot write in {}", dir.display()))?;
    Ok(())
}

pub fn run(cli: &Cli, a: &DemoArgs, cancel: &CancelToken) -> Result<i32> {
    let home = context::data_dir()?.join("demo");
    demo_folder(&home)?;
    let export_dir = home.join("wechat-export");
    let spec = ChatSpec {
        messages: a.messages,
        conversations: 9,
        media_every: 12,
        missing_every: 0,
        seed: 20_241_001,
    };
    println!(
        "1. A sample WeChat for Android export in the real format: {} messages in {} conversations with photos, voice and video, its database encrypted by SQLCipher as WeChat does it, in {}",
        spec.messages,
        spec.conversations,
        export_dir.display()
    );
    let mut facts = wechat_android(&export_dir, &spec, true)?;

    let target = Target::resolve(cli)?;
    let (repo, recovery) = open_or_create(cli, &target)?;
    println!("2. Repository: {}", target.dir.display());
    if let Some(k) = recovery {
        println!("   created it; its password is kept in a file only you can read. Recovery key (shown once):\n   {k}");
    }

    let view = ProgressView::new(cli.quiet);
    let opts = BackupOptions {
        tags: vec!["demo".into()],
        ..Default::default()
    };
    let source = SourceOptions::default();
    let t = Instant::now();
    let first = backup_source(
        &repo,
        &export_dir,
        &source,
        &opts,
        None,
        Some(&view),
        cancel,
    )?;
    view.finish();
    let s = &first.backup.snapshot.summary;
    let chats = first
        .summary
        .as_ref()
        .context("the sample export was not read as a chat export")?;
    println!(
        "3. Backed up in {:.2}s: snapshot {}, {} files ({}), {} stored after deduplication, compression and encryption. Read as {}: {} conversations, {} messages; {}",
        t.elapsed().as_secs_f64(),
        first.backup.snapshot.id.short(),
        s.files,
        bytes(s.bytes),
        bytes(s.bytes_stored),
        first.kind,
        chats.conversations.len(),
        chats.messages - chats.archived,
        chats
            .opened_with
            .as_deref()
            .map(|w| format!("the database key came from the export itself ({w})"))
            .unwrap_or_else(|| "the database was not encrypted".into())
    );

    let added = (a.messages / 100).max(1);
    let total = wechat_android_add_day(&export_dir, &spec, &mut facts, added)?;
    let t = Instant::now();
    let second = backup_source(
        &repo,
        &export_dir,
        &source,
        &opts,
        None,
        Some(&view),
        cancel,
    )?;
    view.finish();
    let s2 = &second.backup.snapshot.summary;
    println!(
        "4. A day later ({added} new messages in the same database): incremental backup in {:.2}s stored {} ({} of new data); the chats now hold {} messages",
        t.elapsed().as_secs_f64(),
        bytes(s2.bytes_stored),
        bytes(s2.bytes_added),
        second
            .summary
            .as_ref()
            .map_or(0, |c| c.messages - c.archived)
    );
    let snap = second.backup.snapshot.clone();

    let summary = second
        .summary
        .as_ref()
        .context("the second backup has no chat summary")?;
    println!("5. The chats it holds (`chatvault chats`), busiest first:");
    let mut busiest: Vec<_> = summary.conversations.iter().collect();
    busiest.sort_by_key(|c| std::cmp::Reverse(c.messages));
    for c in busiest.iter().take(4) {
        println!("   {}  {} messages", ui::cell(&c.name, 20), c.messages);
    }

    let index = open_chats(&repo, &snap, None)?;
    let query = "你好";
    let hits = index.search(query, None, 100_000)?;
    println!(
        "6. `chatvault search {query}` finds {} messages in any script; the newest: {}",
        hits.len(),
        hits.first()
            .map(|m| format!(
                "{}: {}",
                m.sender_name
                    .as_deref()
                    .or(m.sender.as_deref())
                    .unwrap_or("system"),
                m.text.replace('\n', " ")
            ))
            .unwrap_or_else(|| "-".into())
    );
    drop(index);

    let report = repo.check(ReadData::All, None, cancel)?;
    if !report.is_ok() {
        for e in &report.errors {
            eprintln!("error: {e}");
        }
        bail!("check found {} error(s)", report.errors.len());
    }
    println!("7. check --read-data: read back {} packs ({}), every blob authenticated and hashed: no errors", report.packs_read, bytes(report.bytes_read));

    let work = tempfile::Builder::new()
        .prefix("chatvault-demo-")
        .tempdir()
        .context("cannot create a temporary folder")?;
    let r = repo.restore(&snap, work.path(), &RestoreOptions::default(), None, cancel)?;
    let diffs = compare_trees(&export_dir, &work.path().join("wechat-export"))?;
    if !diffs.is_empty() {
        bail!(
            "restored files differ from the originals:\n{}",
            diffs.join("\n")
        );
    }
    println!(
        "8. Restored all {} files ({}): byte-identical with the export, modification times included",
        r.files,
        bytes(r.bytes)
    );
    let one = busiest
        .first()
        .map(|c| c.id.clone())
        .context("no conversation")?;
    let one_dir = home.join("one-chat");
    let r = restore_conversation(&repo, &snap, &one, &one_dir, None, None, cancel)?;
    println!(
        "   `restore --chat {one}`: {} file(s), the chat's media and its messages as JSON, in {}",
        r.files,
        one_dir.display()
    );
    // An earlier demo's messages stay in the index as its archive (the same folder, the
    // same repository): what the export has is the rest.
    if summary.messages - summary.archived != total {
        bail!(
            "the chat index holds {} messages of the export, the export {total}",
            summary.messages - summary.archived
        );
    }

    let site = home.join("html");
    let exported = export_chats(
        &repo,
        &snap,
        &site,
        &ExportOptions::default(),
        None,
        None,
        cancel,
    )?;
    println!(
        "9. `chatvault export`: {} conversations, {} messages and {} media files as a website that opens without a network:\n   {}",
        exported.conversations,
        exported.messages,
        exported.media_files,
        exported.entry.display()
    );
    println!("Done. Try: chatvault chats, chatvault search 长城旅行, chatvault diff {} latest, chatvault ls latest", first.backup.snapshot.id.short());
    Ok(0)
}
