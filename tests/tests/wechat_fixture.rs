//! The shared WeChat Android fixture (encrypted by the real SQLCipher) yields exactly the
//! facts in its `.expected.json`; wrong keys and damaged databases fail clearly; a snapshot
//! of it lists, searches and restores one conversation.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use chatvault_core::chat::{summary_of, ChatIndexWriter};
use chatvault_core::sources::{self, SourceKind, SourceOptions};
use chatvault_core::{BackupOptions, CancelToken, Error, Repository, RestoreOptions};
use chatvault_fixtures::copy_tree;
use serde_json::Value;

mod common;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/wechat-android-small")
}

fn expected() -> Value {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/wechat-android-small.expected.json");
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

fn read_into_index(
    root: &Path,
    opts: &SourceOptions,
    dir: &Path,
) -> chatvault_core::Result<(chatvault_core::ChatSummary, PathBuf)> {
    let path = dir.join("chats.sqlite");
    let mut w = ChatIndexWriter::create(&path)?;
    let (kind, _) = sources::read(root, opts, &mut w)?;
    Ok((w.finish(kind.as_str())?, path))
}

/// What each raw WeChat type in the fixture must be read as.
fn kind_of_type(t: &str) -> &'static str {
    match t {
        "1" => "text",
        "3" => "image",
        "34" => "voice",
        "43" => "video",
        "47" => "sticker",
        "48" => "location",
        "49" => "link", // the fixture's app messages are articles (<type>5</type>)
        "10000" => "system",
        "10002" => "revoke",
        "822083633" => "quote",
        "1090519089" => "file",
        other => panic!("fixture has a type the test does not map: {other}"),
    }
}

#[test]
fn fixture_yields_the_expected_facts() {
    let exp = expected();
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(
        sources::detect(&fixture()).unwrap(),
        SourceKind::WeChatAndroid
    );
    // No key given: derived from the default IMEI and the uin in shared_prefs.
    let (summary, index_path) =
        read_into_index(&fixture(), &SourceOptions::default(), tmp.path()).unwrap();
    assert_eq!(summary.messages, exp["messages_total"].as_u64().unwrap());
    assert_eq!(summary.contacts, exp["contacts_total"].as_u64().unwrap());
    assert_eq!(summary.account.id, exp["self"].as_str().unwrap());

    let by_conv: BTreeMap<String, u64> = summary
        .conversations
        .iter()
        .map(|c| (c.id.clone(), c.messages))
        .collect();
    let want: BTreeMap<String, u64> = exp["messages_by_conversation"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(by_conv, want);

    for (id, name) in exp["display_names"].as_object().unwrap() {
        let c = summary.conversations.iter().find(|c| &c.id == id).unwrap();
        assert_eq!(c.name, name.as_str().unwrap(), "display name of {id}");
    }

    let conn = rusqlite::Connection::open(&index_path).unwrap();
    let mut want_kinds: BTreeMap<&str, u64> = BTreeMap::new();
    for (t, n) in exp["messages_by_type"].as_object().unwrap() {
        *want_kinds.entry(kind_of_type(t)).or_default() += n.as_u64().unwrap();
    }
    let mut st = conn
        .prepare("SELECT kind, count(*) FROM messages GROUP BY kind")
        .unwrap();
    let got_kinds: BTreeMap<String, u64> = st
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let want_kinds: BTreeMap<String, u64> = want_kinds
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(got_kinds, want_kinds);

    for (room, n) in exp["chatrooms"].as_object().unwrap() {
        let members: String = conn
            .query_row(
                "SELECT members FROM conversations WHERE id = ?1",
                [room],
                |r| r.get(0),
            )
            .unwrap();
        let members: Vec<String> = serde_json::from_str(&members).unwrap();
        assert_eq!(
            members.len() as u64,
            n.as_u64().unwrap(),
            "members of {room}"
        );
    }

    assert_eq!(
        summary.media_present,
        exp["media_present"].as_u64().unwrap()
    );
    let images_missing: i64 = conn
        .query_row(
            "SELECT count(*) FROM messages WHERE kind = 'image' AND media_present = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        images_missing as u64,
        exp["images_missing"].as_u64().unwrap()
    );
    // Every present media path really exists in the export.
    let mut st = conn
        .prepare("SELECT media_path FROM messages WHERE media_present = 1")
        .unwrap();
    for p in st.query_map([], |r| r.get::<_, String>(0)).unwrap() {
        let p = p.unwrap();
        assert!(fixture().join(&p).is_file(), "{p} claimed present");
    }

    for s in exp["samples"].as_array().unwrap() {
        let (conv, sender, from_me, time, text): (String, Option<String>, bool, i64, String) = conn
            .query_row(
                "SELECT conversation, sender, from_me, time_ms, text FROM messages WHERE id = ?1",
                [s["msgId"].to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(conv, s["conversation"].as_str().unwrap());
        assert_eq!(sender.as_deref(), s["sender"].as_str());
        assert_eq!(from_me, s["isSend"].as_bool().unwrap());
        assert_eq!(time, s["createTime_ms"].as_i64().unwrap());
        assert_eq!(text, s["text"].as_str().unwrap());
    }
}

#[test]
fn keys_are_tried_in_order_and_wrong_ones_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    let export = tmp.path().join("export");
    copy_tree(&fixture(), &export).unwrap();
    fs::remove_dir_all(export.join("shared_prefs")).unwrap();
    let db = export.join("MicroMsg/2fa4a4c1fdb5d1d1599715c848613f45/EnMicroMsg.db");
    let before = fs::read(&db).unwrap();

    // No uin anywhere: nothing to try.
    let e = read_into_index(
        &export,
        &SourceOptions::default(),
        &tmp.path().join("a").tap_mkdir(),
    )
    .err()
    .unwrap();
    assert!(matches!(e, Error::WrongKey { .. }), "{e}");

    // Wrong key and wrong IMEI: the error lists what was tried, never a key.
    let opts = SourceOptions {
        wechat_key: Some("0000000".into()),
        imeis: vec!["123456789012345".into()],
        uin: Some("999".into()),
        ..Default::default()
    };
    let e = read_into_index(&export, &opts, &tmp.path().join("b").tap_mkdir())
        .err()
        .unwrap();
    let msg = e.to_string();
    assert!(matches!(e, Error::WrongKey { .. }), "{msg}");
    assert!(
        msg.contains("wrong key")
            && msg.contains("2345 with uin 999")
            && !msg.contains("123456789012345"),
        "{msg}"
    );
    assert!(
        !msg.contains("0000000"),
        "keys never appear in errors: {msg}"
    );

    // The right uin among wrong candidates: found, and reported which worked.
    let opts = SourceOptions {
        imeis: vec!["123456789012345".into()],
        uin: Some("1122334455".into()),
        ..Default::default()
    };
    let (summary, _) = read_into_index(&export, &opts, &tmp.path().join("c").tap_mkdir()).unwrap();
    assert_eq!(summary.messages, 240);
    let mut w = ChatIndexWriter::create(&tmp.path().join("d.sqlite")).unwrap();
    let (_, outcome) = sources::read(&export, &opts, &mut w).unwrap();
    assert_eq!(
        outcome.opened_with.as_deref(),
        Some("IMEI 1234567890ABCDEF with uin 1122334455")
    );
    // The key itself works too.
    let opts = SourceOptions {
        wechat_key: Some("82eea35".into()),
        ..Default::default()
    };
    read_into_index(&export, &opts, &tmp.path().join("e").tap_mkdir()).unwrap();

    // Reading changed nothing and left no decrypted copy beside the database.
    assert_eq!(fs::read(&db).unwrap(), before);
    let names: Vec<String> = fs::read_dir(db.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.contains("EnMicroMsg.db-") || n.ends_with(".tmp")),
        "{names:?}"
    );

    // Truncated: says so and names the file.
    fs::write(&db, &before[..before.len() - 100]).unwrap();
    let e = read_into_index(&export, &opts, &tmp.path().join("f").tap_mkdir())
        .err()
        .unwrap();
    let msg = e.to_string();
    assert!(
        msg.contains("truncated") && msg.contains("EnMicroMsg.db"),
        "{msg}"
    );
    // Damaged pages: the key check fails like a wrong key would, or the read fails; never a panic.
    let mut damaged = before.clone();
    for b in &mut damaged[2048..6144] {
        *b ^= 0x5a;
    }
    fs::write(&db, &damaged).unwrap();
    let r = read_into_index(&export, &opts, &tmp.path().join("g").tap_mkdir());
    if let Err(e) = r {
        assert!(e.to_string().contains("EnMicroMsg.db"), "{e}");
    }
    fs::write(&db, b"").unwrap();
    let e = read_into_index(&export, &opts, &tmp.path().join("h").tap_mkdir())
        .err()
        .unwrap();
    assert!(e.to_string().contains("empty"), "{e}");
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}
impl TapMkdir for PathBuf {
    fn tap_mkdir(self) -> Self {
        fs::create_dir_all(&self).unwrap();
        self
    }
}

#[test]
fn snapshot_lists_searches_and_restores_one_conversation() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = common::new_repo(&tmp.path().join("repo"), "pw");
    let cancel = CancelToken::new();
    let backup = |repo: &Repository, path: &Path| {
        chatvault_core::chat::backup_source(
            repo,
            path,
            &SourceOptions::default(),
            &BackupOptions::default(),
            Some(tmp.path()),
            None,
            &cancel,
        )
        .unwrap()
    };
    let done = backup(&repo, &fixture());
    assert_eq!(done.kind, SourceKind::WeChatAndroid);
    assert!(!done.index_reused);
    let first_index = done.backup.snapshot.extra_tree;
    // Backed up again unchanged: the index is reused, not read again.
    let again = backup(&repo, &fixture());
    assert!(again.index_reused);
    assert_eq!(again.backup.snapshot.extra_tree, first_index);
    assert_eq!(summary_of(&again.backup.snapshot).unwrap().messages, 240);
    let snap = repo.find_snapshot("latest").unwrap();
    assert_eq!(snap.source.kind, "wechat-android");

    // Listing needs only the snapshot object.
    let summary = summary_of(&snap).unwrap();
    assert_eq!(summary.messages, 240);
    assert_eq!(summary.conversations.len(), 9);
    assert_eq!(summary.root, "wechat-android-small");
    assert!(summary.opened_with.is_some());
    let family = summary
        .conversations
        .iter()
        .find(|c| c.id == "2100@chatroom")
        .unwrap();
    assert_eq!(family.name, "家庭群 👨‍👩‍👧");
    assert_eq!(family.kind, "group");

    // Search: Chinese (3+ characters through the trigram index, 2 by substring), emoji.
    let chats = chatvault_core::chat::open_chats(&repo, &snap, Some(tmp.path())).unwrap();
    let hits = chats.search("明天见", None, 1000).unwrap();
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|m| m.text.contains("明天见")));
    let hits2 = chats.search("带伞", None, 1000).unwrap();
    assert_eq!(
        hits2.len(),
        hits.iter().filter(|m| m.text.contains("带伞")).count()
    );
    assert!(!chats.search("😂", None, 1000).unwrap().is_empty());
    assert!(!chats
        .search("see you", Some("wxid_f00401"), 1000)
        .unwrap()
        .is_empty());
    assert!(chats.search("不存在的词", None, 10).unwrap().is_empty());
    assert!(
        chats.search("\"\"\" OR *", None, 10).is_ok(),
        "FTS syntax is quoted"
    );
    drop(chats);

    // Restore one conversation alone: its media and its messages.
    let out = tmp.path().join("one");
    chatvault_core::chat::restore_conversation(
        &repo,
        &snap,
        "wxid_f00401",
        &out,
        Some(tmp.path()),
        None,
        &cancel,
    )
    .unwrap();
    let msgs: Vec<Value> =
        serde_json::from_slice(&fs::read(out.join("wxid_f00401.json")).unwrap()).unwrap();
    assert_eq!(msgs.len(), 23);
    let media: Vec<&str> = msgs
        .iter()
        .filter(|m| m["media_present"] == Value::Bool(true))
        .map(|m| m["media_path"].as_str().unwrap())
        .collect();
    assert!(!media.is_empty());
    for p in &media {
        let restored = out.join("wechat-android-small").join(p);
        assert_eq!(
            fs::read(&restored).unwrap(),
            fs::read(fixture().join(p)).unwrap()
        );
    }
    assert!(
        !out.join("wechat-android-small/MicroMsg/2fa4a4c1fdb5d1d1599715c848613f45/EnMicroMsg.db")
            .exists(),
        "only that conversation's files"
    );

    // The whole export restores byte for byte; check is clean (the index tree included).
    let all = tmp.path().join("all");
    repo.restore(&snap, &all, &RestoreOptions::default(), None, &cancel)
        .unwrap();
    let diff =
        chatvault_fixtures::compare_trees(&fixture(), &all.join("wechat-android-small")).unwrap();
    assert!(diff.is_empty(), "{diff:?}");
    let report = repo
        .check(chatvault_core::ReadData::All, None, &cancel)
        .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);

    // A changed export (a file's time moved, as a new export would) is read again.
    let copy = tmp.path().join("wechat-android-small");
    copy_tree(&fixture(), &copy).unwrap();
    assert!(
        !backup(&repo, &copy).index_reused,
        "a new path has no parent"
    );
    assert!(backup(&repo, &copy).index_reused);
    let db = copy.join("MicroMsg/2fa4a4c1fdb5d1d1599715c848613f45/EnMicroMsg.db");
    filetime::set_file_mtime(&db, filetime::FileTime::from_unix_time(1_800_000_000, 0)).unwrap();
    let third = backup(&repo, &copy);
    assert!(!third.index_reused, "a changed database is read again");
    assert_eq!(summary_of(&third.backup.snapshot).unwrap().messages, 240);
    // The temporary index folders are gone.
    let leftovers: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("chatvault-"))
        .collect();
    assert!(leftovers.is_empty());
}
