//! `chatvault demo`: the whole job on a generated sample export, narrated.

use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use chatvault_core::{
    BackupOptions, CancelToken, InitOptions, ReadData, Repository, RestoreOptions, Secret,
};
use chatvault_fixtures::{add_day, compare_trees, count_messages, generate_export, ExportSpec};

use crate::args::{Cli, DemoArgs};
use crate::context::{self, Target};
use crate::ui::{self, bytes, ProgressView};

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

pub fn run(cli: &Cli, a: &DemoArgs, cancel: &CancelToken) -> Result<i32> {
    let work = tempfile::Builder::new()
        .prefix("chatvault-demo-")
        .tempdir()
        .context("cannot create a temporary folder")?;
    let export_dir = work.path().join("wechat-export");
    println!(
        "1. Generating a sample chat export ({} messages, media, unicode names) in {}",
        a.messages,
        export_dir.display()
    );
    let spec = ExportSpec {
        messages: a.messages,
        ..ExportSpec::small()
    };
    let facts = generate_export(&export_dir, &spec)?;
    let db_size = std::fs::metadata(&facts.database)?.len();
    println!(
        "   message database: {} ({} messages, 4 KiB SQLite pages)",
        bytes(db_size),
        facts.messages
    );

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
    let t = Instant::now();
    let first = repo.backup(
        std::slice::from_ref(&export_dir),
        &opts,
        Some(&view),
        cancel,
    )?;
    view.finish();
    let s = &first.snapshot.summary;
    println!(
        "3. Backed up {} files ({}) in {:.2}s: snapshot {}, {} stored after deduplication, compression and encryption",
        s.files,
        bytes(s.bytes),
        t.elapsed().as_secs_f64(),
        first.snapshot.id.short(),
        bytes(s.bytes_stored)
    );

    let added = a.messages / 100;
    let total = add_day(&facts, added, 2, 1)?;
    let t = Instant::now();
    let second = repo.backup(
        std::slice::from_ref(&export_dir),
        &opts,
        Some(&view),
        cancel,
    )?;
    view.finish();
    let s2 = &second.snapshot.summary;
    println!(
        "4. A day later ({added} new messages, 2 new media files): incremental backup in {:.2}s read {} changed files and stored {} ({} of new data)",
        t.elapsed().as_secs_f64(),
        s2.files_read,
        bytes(s2.bytes_stored),
        bytes(s2.bytes_added)
    );

    let snaps = repo.snapshots()?;
    println!(
        "5. The repository holds {} snapshot(s); the newest:",
        snaps.len()
    );
    for sn in snaps.iter().rev().take(2) {
        println!("   {}", ui::snapshot_row(sn));
    }

    let report = repo.check(ReadData::All, None, cancel)?;
    if !report.is_ok() {
        for e in &report.errors {
            eprintln!("error: {e}");
        }
        bail!("check found {} error(s)", report.errors.len());
    }
    println!("6. check --read-data: read back {} packs ({}), every blob authenticated and hashed: no errors", report.packs_read, bytes(report.bytes_read));

    let restore_dir = work.path().join("restored");
    let r = repo.restore(
        &second.snapshot,
        &restore_dir,
        &RestoreOptions::default(),
        None,
        cancel,
    )?;
    let restored_root = restore_dir.join("wechat-export");
    let diffs = compare_trees(&export_dir, &restored_root)?;
    if !diffs.is_empty() {
        bail!(
            "restored files differ from the originals:\n{}",
            diffs.join("\n")
        );
    }
    let restored_messages = count_messages(&restored_root.join("db").join("EnMicroMsg.db"))?;
    println!(
        "7. Restored {} files ({}) to a temporary folder: byte-identical with the originals, modification times included; the restored database opens and holds {restored_messages} messages (expected {total})",
        r.files,
        bytes(r.bytes)
    );
    if restored_messages != total {
        bail!("restored database holds {restored_messages} messages, expected {total}");
    }
    println!("Done. Try: chatvault snapshots, chatvault check --read-data, chatvault restore latest --target DIR");
    Ok(0)
}
