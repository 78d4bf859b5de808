//! Every reader on its generator's output, small and large, and on bad input.

use std::fs;
use std::io::Write;
use std::path::Path;

use chatvault_core::chat::{ChatIndex, ChatIndexWriter};
use chatvault_core::sources::{self, SourceKind, SourceOptions};
use chatvault_core::{ChatSummary, Error};
use chatvault_fixtures::chat_exports::{self, ChatFacts, ChatSpec, WhatsAppLocale, NEEDLE};

mod common;

fn read(
    root: &Path,
    opts: &SourceOptions,
    work: &Path,
) -> chatvault_core::Result<(ChatSummary, ChatIndex)> {
    let path = work.join(format!("index-{}.sqlite", rand_suffix()));
    let mut w = ChatIndexWriter::create(&path)?;
    let (kind, _) = sources::read(root, opts, &mut w)?;
    let summary = w.finish(kind.as_str())?;
    Ok((summary, ChatIndex::open(&path)?))
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn assert_facts(summary: &ChatSummary, index: &ChatIndex, facts: &ChatFacts) {
    let got: std::collections::BTreeMap<String, u64> = summary
        .conversations
        .iter()
        .map(|c| (c.id.clone(), c.messages))
        .collect();
    assert_eq!(got, facts.by_conversation);
    assert_eq!(summary.messages, facts.messages());
    assert_eq!(summary.media_present, facts.media_present, "media present");
    assert_eq!(summary.media_missing, facts.media_missing, "media missing");
    let hits = index.search(NEEDLE, None, 1_000_000).unwrap();
    assert_eq!(hits.len() as u64, facts.needle_hits, "search hits");
    assert!(hits.iter().all(|m| m.text.contains(NEEDLE)));
}

#[test]
fn wechat_android_generated_small_encrypted_and_plain() {
    let tmp = tempfile::tempdir().unwrap();
    for encrypted in [true, false] {
        let dir = tmp.path().join(format!("wx-{encrypted}"));
        let facts = chat_exports::wechat_android(&dir, &ChatSpec::small(3), encrypted).unwrap();
        assert_eq!(sources::detect(&dir).unwrap(), SourceKind::WeChatAndroid);
        let (summary, index) = read(&dir, &SourceOptions::default(), tmp.path()).unwrap();
        assert_facts(&summary, &index, &facts);
        assert_eq!(summary.account.id, "wxid_owner");
        let group = summary
            .conversations
            .iter()
            .find(|c| c.kind == "group")
            .unwrap();
        assert_eq!(group.name, "大家庭 👨‍👩‍👧");
        let kinds: Vec<String> = index
            .connection()
            .prepare("SELECT DISTINCT kind FROM messages ORDER BY kind")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        for k in [
            "file", "image", "link", "location", "other", "quote", "revoke", "system", "text",
            "video", "voice",
        ] {
            assert!(
                kinds.iter().any(|x| x == k),
                "kind {k} missing from {kinds:?}"
            );
        }
        // Unknown types keep their raw content; group senders are split off.
        let raw: String = index
            .connection()
            .query_row(
                "SELECT raw FROM messages WHERE kind = 'other' LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(raw.starts_with("<unknown"));
        let bad_text: i64 = index
            .connection()
            .query_row(
                "SELECT count(*) FROM messages WHERE text LIKE 'wxid_%:%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            bad_text, 0,
            "group sender prefixes are removed from the text"
        );
        assert_android_details(&index);
    }
}

#[test]
fn wechat_android_generated_large() {
    let tmp = tempfile::tempdir().unwrap();
    let facts =
        chat_exports::wechat_android(tmp.path(), &ChatSpec::large(60_000, 5), true).unwrap();
    let (summary, index) = read(tmp.path(), &SourceOptions::default(), tmp.path()).unwrap();
    assert_facts(&summary, &index, &facts);
    assert!(
        assert_android_details(&index) > 0,
        "no voice message in a group"
    );
}

/// Voice messages (Android's `<user>:<ms>:<flag>` content) have their length and, in
/// groups, the sender the content names; places are in the details. Returns how many voice
/// messages came from others in groups.
fn assert_android_details(index: &ChatIndex) -> u64 {
    let (mut voices, mut group_voices, mut places) = (0, 0, 0);
    for c in index.conversations().unwrap() {
        index
            .for_each_message(&c.id, |m| {
                if m.kind == "voice" {
                    assert_eq!(m.details.duration_seconds, Some(3), "{m:?}");
                    assert!(m.sender.is_some(), "{m:?}");
                    voices += 1;
                    group_voices += u64::from(c.kind == "group" && !m.from_me);
                }
                if m.kind == "location" {
                    let place = m.details.place.as_ref().expect("place");
                    assert_eq!(place.title.as_deref(), Some("外滩"));
                    assert_eq!(place.latitude, Some(31.23));
                    places += 1;
                }
                Ok(())
            })
            .unwrap();
    }
    assert!(voices > 0 && places > 0, "{voices} {places}");
    group_voices
}

#[test]
fn wechat_ios_generated_small_and_large() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, spec) in [ChatSpec::small(4), ChatSpec::large(40_000, 6)]
        .iter()
        .enumerate()
    {
        let dir = tmp.path().join(format!("ios{i}"));
        let facts = chat_exports::wechat_ios(&dir, spec).unwrap();
        assert_eq!(sources::detect(&dir).unwrap(), SourceKind::WeChatIos);
        let (summary, index) = read(&dir, &SourceOptions::default(), tmp.path()).unwrap();
        assert_facts(&summary, &index, &facts);
        let names: Vec<&str> = summary
            .conversations
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert!(
            names.contains(&"备注0") && names.contains(&"朋友1"),
            "{names:?}"
        );
        common::assert_wechat_ios_people(&index, "", "wxid_owner");
        assert_eq!(
            summary.account.name,
            chat_exports::wechat_ios_owner_name("wxid_owner"),
            "named by LoginInfo2.dat"
        );
    }
}

#[test]
fn whatsapp_generated_in_both_locales_and_as_ios_zip() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, locale) in [WhatsAppLocale::Us, WhatsAppLocale::DayFirst]
        .into_iter()
        .enumerate()
    {
        for spec in [ChatSpec::small(7), ChatSpec::large(120_000, 8)] {
            let dir = tmp.path().join(format!("wa{i}-{}", spec.messages));
            let facts = chat_exports::whatsapp_android(&dir, &spec, locale).unwrap();
            assert_eq!(sources::detect(&dir).unwrap(), SourceKind::WhatsApp);
            let (summary, index) = read(&dir, &SourceOptions::default(), tmp.path()).unwrap();
            assert_facts(&summary, &index, &facts);
            assert!(summary.local_time);
            // Dates were read in the right order: the first message is on 1 January 2023.
            assert_eq!(
                chrono::DateTime::from_timestamp_millis(summary.first.unwrap())
                    .unwrap()
                    .format("%Y-%m-%d %H:%M")
                    .to_string(),
                "2023-01-01 08:00"
            );
            let family = summary
                .conversations
                .iter()
                .find(|c| c.name.starts_with("Family"))
                .unwrap();
            assert_eq!(family.kind, "group");
        }
    }
    for spec in [ChatSpec::small(9), ChatSpec::large(100_000, 10)] {
        let zip = tmp
            .path()
            .join(format!("WhatsApp Chat - Ann {}.zip", spec.messages));
        let facts = chat_exports::whatsapp_ios_zip(&zip, &spec).unwrap();
        assert_eq!(sources::detect(&zip).unwrap(), SourceKind::WhatsApp);
        let (summary, index) = read(&zip, &SourceOptions::default(), tmp.path()).unwrap();
        assert_facts(&summary, &index, &facts);
        assert_eq!(
            chrono::DateTime::from_timestamp_millis(summary.first.unwrap())
                .unwrap()
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            "2022-12-30 09:00:00",
            "day-first dates (30/12/22) are read day first"
        );
    }
}

#[test]
fn telegram_generated_small_and_large() {
    let tmp = tempfile::tempdir().unwrap();
    for spec in [ChatSpec::small(11), ChatSpec::large(150_000, 12)] {
        let dir = tmp.path().join(format!("tg{}", spec.messages));
        let facts = chat_exports::telegram(&dir, &spec).unwrap();
        assert_eq!(sources::detect(&dir).unwrap(), SourceKind::Telegram);
        let (summary, index) = read(&dir, &SourceOptions::default(), tmp.path()).unwrap();
        assert_facts(&summary, &index, &facts);
        assert_eq!(summary.account.name, "Mei Chen");
        assert!(!summary.local_time);
        let from_me: i64 = index
            .connection()
            .query_row("SELECT count(*) FROM messages WHERE from_me = 1", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(from_me > 0);
        let kinds: Vec<String> = summary
            .conversations
            .iter()
            .map(|c| c.kind.clone())
            .collect();
        assert!(
            kinds.contains(&"group".into())
                && kinds.contains(&"channel".into())
                && kinds.contains(&"direct".into())
        );
    }
}

fn expect_source_error(path: &Path, opts: &SourceOptions, work: &Path, needle: &str) {
    match read(path, opts, work) {
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
        }
        Ok(_) => panic!("{} read without error", path.display()),
    }
}

#[test]
fn bad_input_gets_clear_errors_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    fs::create_dir_all(&work).unwrap();

    // Empty folder.
    let empty = tmp.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    assert!(matches!(sources::detect(&empty), Err(Error::Source { .. })));

    // Telegram: wrong shape, truncated, not JSON.
    let tg = tmp.path().join("tg");
    fs::create_dir_all(&tg).unwrap();
    let tg_opts = SourceOptions {
        kind: Some(SourceKind::Telegram),
        ..Default::default()
    };
    fs::write(tg.join("result.json"), b"[1, 2, 3]").unwrap();
    expect_source_error(&tg, &tg_opts, &work, "result.json");
    fs::write(
        tg.join("result.json"),
        br#"{"name": "x", "type": "personal_chat", "id": 1, "messages": [{"id": 1, "type": "mess"#,
    )
    .unwrap();
    expect_source_error(&tg, &tg_opts, &work, "truncated");
    fs::write(tg.join("result.json"), b"\xff\xfe garbage").unwrap();
    expect_source_error(&tg, &tg_opts, &work, "not a Telegram export");
    fs::write(tg.join("result.json"), br#"{"messages": "nope"}"#).unwrap();
    expect_source_error(&tg, &tg_opts, &work, "result.json");

    // WhatsApp zips: truncated, bomb, traversal names.
    let zip = tmp.path().join("chat.zip");
    chat_exports::whatsapp_ios_zip(&zip, &ChatSpec::small(1)).unwrap();
    let bytes = fs::read(&zip).unwrap();
    let cut = tmp.path().join("cut.zip");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let wa_opts = SourceOptions {
        kind: Some(SourceKind::WhatsApp),
        ..Default::default()
    };
    expect_source_error(&cut, &wa_opts, &work, "cut.zip");

    let bomb = tmp.path().join("bomb.zip");
    {
        let mut z = zip::ZipWriter::new(fs::File::create(&bomb).unwrap());
        z.start_file("_chat.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        let line = b"1/1/23, 10:00 - a: x\n";
        z.write_all(line).unwrap();
        let zeros = vec![b'\n'; 1 << 20];
        for _ in 0..300 {
            z.write_all(&zeros).unwrap();
        }
        z.finish().unwrap();
    }
    expect_source_error(&bomb, &wa_opts, &work, "zip bomb");

    let evil = tmp.path().join("evil.zip");
    {
        let mut z = zip::ZipWriter::new(fs::File::create(&evil).unwrap());
        let o = zip::write::SimpleFileOptions::default();
        z.start_file("_chat.txt", o).unwrap();
        z.write_all(b"1/1/23, 10:00 - a: <attached: ../../escape.jpg>\n")
            .unwrap();
        z.start_file("../../escape.jpg", o).unwrap();
        z.write_all(b"x").unwrap();
        z.start_file("/abs.jpg", o).unwrap();
        z.write_all(b"x").unwrap();
        z.finish().unwrap();
    }
    let (summary, _) = read(&evil, &wa_opts, &work).unwrap();
    assert_eq!(summary.messages, 1);
    assert_eq!(
        summary.media_present, 0,
        "traversal entries are never treated as media"
    );
    assert!(summary.warnings >= 2);
    assert!(!tmp.path().parent().unwrap().join("escape.jpg").exists());

    // A 100 MB single line: read in bounded pieces, cut with a warning.
    let wa = tmp.path().join("wa");
    fs::create_dir_all(&wa).unwrap();
    {
        let mut f = fs::File::create(wa.join("WhatsApp Chat with X.txt")).unwrap();
        f.write_all(b"1/1/23, 10:00 - a: ").unwrap();
        let chunk = vec![b'y'; 1 << 20];
        for _ in 0..100 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\n1/1/23, 10:01 - b: after\n").unwrap();
    }
    let (summary, index) = read(&wa, &SourceOptions::default(), &work).unwrap();
    assert_eq!(summary.messages, 2);
    assert!(summary.warnings >= 1);
    assert_eq!(index.search("after", None, 10).unwrap().len(), 1);

    // A text file that is no WhatsApp chat, with invalid UTF-8.
    let junk = tmp.path().join("junk");
    fs::create_dir_all(&junk).unwrap();
    fs::write(junk.join("notes.txt"), b"\xff\xfe\x00 not a chat\n").unwrap();
    assert_eq!(sources::detect(&junk).unwrap(), SourceKind::Folder);
    expect_source_error(&junk, &wa_opts, &work, "no WhatsApp chat");

    // WeChat: a folder without a database, and a database that is not WeChat's.
    let wx = tmp.path().join("wx/MicroMsg/abc");
    fs::create_dir_all(&wx).unwrap();
    let wx_opts = SourceOptions {
        kind: Some(SourceKind::WeChatAndroid),
        ..Default::default()
    };
    expect_source_error(&tmp.path().join("wx"), &wx_opts, &work, "EnMicroMsg.db");
    rusqlite::Connection::open(wx.join("EnMicroMsg.db"))
        .unwrap()
        .execute_batch("CREATE TABLE t(x);")
        .unwrap();
    expect_source_error(
        &tmp.path().join("wx"),
        &wx_opts,
        &work,
        "not a WeChat database",
    );

    // Nothing was written into any of the inputs.
    for dir in [&tg, &wa, &junk] {
        let names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(names.len() <= 1, "{names:?}");
    }
}

/// Every file under `root` with its size and modification time, in path order.
fn tree_listing(root: &Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            out.push((
                e.path().display().to_string(),
                m.len(),
                m.modified().unwrap(),
            ));
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// The WeChat Android export with every variant (key from DENGTA_META.xml and
/// systemInfo.cfg, external SD-card folder, stickers, WxFileIndex files, migrated image
/// names, group nicknames, the last messages only in the -wal): every medium is linked,
/// the -wal is read, and neither reading nor a backup writes anything into the export.
///
/// Media on this fixture (ChatSpec::small(8)), present / missing:
/// before (the reader of e8ca56b, given the key, which it cannot derive): 13 / 17, with
/// stickers and files unlinked and the media on the SD card missing; it read the -wal in
/// place and created `EnMicroMsg.db-shm` in the export;
/// after: 32 / 17, the generator's counts (asserted below), nothing written.
#[test]
fn wechat_android_variants_link_every_medium_and_read_the_wal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wx-variants");
    let v = chat_exports::wechat_android_variants(&dir, &ChatSpec::small(8)).unwrap();
    assert!(dir
        .join(format!(
            "MicroMsg/{}/EnMicroMsg.db-wal",
            fs::read_dir(dir.join("MicroMsg"))
                .unwrap()
                .filter_map(|e| e.ok())
                .find(|e| e.path().join("EnMicroMsg.db").is_file())
                .unwrap()
                .file_name()
                .to_string_lossy()
        ))
        .is_file());
    let before = tree_listing(&dir);
    let work = tmp.path().join("work");
    fs::create_dir_all(&work).unwrap();
    let opts = SourceOptions {
        work_dir: Some(work.clone()),
        ..Default::default()
    };
    let path = work.join("index.sqlite");
    let mut w = ChatIndexWriter::create(&path).unwrap();
    let (kind, outcome) = sources::read(&dir, &opts, &mut w).unwrap();
    assert_eq!(kind, SourceKind::WeChatAndroid);
    let opened = outcome.opened_with.unwrap();
    // The IMEI of DENGTA_META.xml, shown by its last four digits only.
    let imei = chat_exports::VARIANT_IMEI;
    assert!(
        opened.contains(&format!("•{}", &imei[imei.len() - 4..])) && !opened.contains(imei),
        "the IMEI of DENGTA_META.xml: {opened}"
    );
    let summary = w.finish(kind.as_str()).unwrap();
    let index = ChatIndex::open(&path).unwrap();
    eprintln!(
        "media present/missing: {} / {}",
        summary.media_present, summary.media_missing
    );
    assert_facts(&summary, &index, &v.facts);
    assert_eq!(
        (summary.media_present, summary.media_missing),
        (32, 17),
        "the counts in this test's description"
    );
    let c = index.connection();
    let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count("SELECT count(*) FROM messages WHERE text LIKE '只在日志里%'"),
        v.wal_messages as i64,
        "the messages only in the -wal"
    );
    assert_eq!(
        count("SELECT count(*) FROM messages WHERE kind = 'sticker' AND media_kind = 'sticker' AND media_present = 1"),
        4
    );
    assert_eq!(
        count("SELECT count(*) FROM messages WHERE kind = 'sticker' AND raw LIKE '%cdnurl=%'"),
        6,
        "stickers keep their md5 and CDN URL"
    );
    assert_eq!(
        count("SELECT count(*) FROM messages WHERE kind = 'file' AND media_present = 1"),
        4
    );
    assert!(count("SELECT count(*) FROM messages WHERE media_path LIKE '%.jpg_backup'") > 0);
    let ext_like = format!(
        "SELECT count(*) FROM messages WHERE media_present = 1 AND media_path LIKE '{}/%'",
        v.external
    );
    assert!(count(&ext_like) >= 8, "media on the SD card are linked");
    let (nick, member) = &v.group_nickname;
    let n: i64 = c
        .query_row(
            "SELECT count(*) FROM messages WHERE sender = ?1 AND sender_name = ?2",
            [member, nick],
            |r| r.get(0),
        )
        .unwrap();
    assert!(n > 0, "group nickname {nick} of {member}");
    // Every present path exists.
    let mut st = c
        .prepare("SELECT media_path FROM messages WHERE media_present = 1")
        .unwrap();
    for p in st.query_map([], |r| r.get::<_, String>(0)).unwrap() {
        let p = p.unwrap();
        assert!(dir.join(&p).is_file(), "{p}");
    }
    drop(st);
    assert_eq!(
        tree_listing(&dir),
        before,
        "reading wrote nothing into the export"
    );
    assert_eq!(
        fs::read_dir(&work).unwrap().count(),
        1,
        "only the index is left"
    );

    // A whole backup of it writes nothing into it either.
    let repo = common::new_repo(&tmp.path().join("repo"), "pw");
    let done = chatvault_core::chat::backup_source(
        &repo,
        &dir,
        &opts,
        &chatvault_core::BackupOptions::default(),
        Some(&work),
        None,
        &chatvault_core::CancelToken::new(),
    )
    .unwrap();
    assert_eq!(
        chatvault_core::chat::summary_of(&done.backup.snapshot)
            .unwrap()
            .messages,
        v.facts.messages()
    );
    assert_eq!(
        tree_listing(&dir),
        before,
        "a backup wrote nothing into the export"
    );
}
