//! Every reader on its generator's output, small and large, and on bad input.

use std::fs;
use std::io::Write;
use std::path::Path;

use chatvault_core::chat::{ChatIndex, ChatIndexWriter};
use chatvault_core::sources::{self, SourceKind, SourceOptions};
use chatvault_core::{ChatSummary, Error};
use chatvault_fixtures::chat_exports::{self, ChatFacts, ChatSpec, WhatsAppLocale, NEEDLE};

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
    }
}

#[test]
fn wechat_android_generated_large() {
    let tmp = tempfile::tempdir().unwrap();
    let facts =
        chat_exports::wechat_android(tmp.path(), &ChatSpec::large(60_000, 5), true).unwrap();
    let (summary, index) = read(tmp.path(), &SourceOptions::default(), tmp.path()).unwrap();
    assert_facts(&summary, &index, &facts);
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
