//! The archive (#23): every message and media file ever backed up stays listed, searchable
//! and restorable from the newest snapshot, after the phone deleted them and retention
//! forgot the snapshots that first held them.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use chatvault_core::chat::index::TimeWindow;
use chatvault_core::chat::{self, MessageScope, PurgeRequest, SourceBackup};
use chatvault_core::{
    BackupOptions, BlobKind, CancelToken, PruneOptions, ReadData, Repository, RetentionPolicy,
    Snapshot, SourceOptions,
};
use serde_json::json;

mod common;

const DAY_MS: i64 = 86_400_000;
/// 2025-01-01T00:00:00Z: the first day of the simulated year.
const START_MS: i64 = 1_735_689_600_000;

/// A temporary folder with a work folder and a new repository in it.
fn setup() -> (tempfile::TempDir, std::path::PathBuf, Repository) {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    fs::create_dir_all(&work).unwrap();
    let repo = common::new_repo(&tmp.path().join("repo"), "archive test");
    (tmp, work, repo)
}

/// The chats of the simulated phone: (Telegram chat id, type, name).
const CHATS: [(u64, &str, &str); 3] = [
    (9000, "private_supergroup", "旅行群 ✈️"),
    (2001, "personal_chat", "友1"),
    (2002, "personal_chat", "友2"),
];

/// One message a day in each chat: day `k`'s message has id `k + 1`.
fn text_of(chat: u64, k: u64, edited: bool) -> String {
    let base = format!(
        "第{k}天 message {chat}-{k} 长城旅行 {}",
        "ü".repeat((k % 3) as usize)
    );
    if edited {
        format!("{base} (fixed)")
    } else {
        base
    }
}

/// Every 4th message carries a photo, whose bytes are its own; each chat's photos have
/// sizes no other chat's have (the purge test finds them in the repository by size).
fn photo_of(chat: u64, k: u64) -> Option<(String, Vec<u8>)> {
    (k % 4 == 0).then(|| {
        (
            format!("chats/chat_{chat}/photos/photo_{k}@01-01-2025_00-00-00.jpg"),
            format!("\u{ff}\u{d8} photo of chat {chat} day {k} ")
                .repeat(40 + k as usize + (chat % 10) as usize * 500)
                .into_bytes(),
        )
    })
}

/// The phone on day `d`, as a Telegram JSON export: it keeps the messages of the current
/// month and the two before it (older ones deleted month by month), photos for 30 days
/// (older ones cleaned up, their messages kept), edits a message the day after it was sent
/// when `k % 10 == 3`, and from day 180 on the chat with 友2 is deleted whole.
fn write_phone(dir: &Path, d: u64) {
    if dir.exists() {
        fs::remove_dir_all(dir).unwrap();
    }
    fs::create_dir_all(dir).unwrap();
    let oldest = (d / 30).saturating_sub(2) * 30;
    let mut chats = Vec::new();
    for (chat, kind, name) in CHATS {
        if chat == 2002 && d >= 180 {
            continue;
        }
        let mut messages = Vec::new();
        for k in oldest..=d {
            let secs = (START_MS + k as i64 * DAY_MS) / 1000 + chat as i64;
            let date = chrono::DateTime::from_timestamp(secs, 0)
                .unwrap()
                .naive_utc()
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string();
            let from_me = k % 2 == 0;
            let (from, from_id) = if from_me {
                ("Mei Chen".to_string(), "user1000".to_string())
            } else {
                (name.to_string(), format!("user{chat}"))
            };
            let edited = k % 10 == 3 && d > k;
            let mut m = json!({"id": k + 1, "type": "message", "date": date,
                "date_unixtime": secs.to_string(), "from": from, "from_id": from_id,
                "text": text_of(chat, k, edited), "text_entities": []});
            if let Some((rel, bytes)) = photo_of(chat, k) {
                if d - k <= 30 {
                    let file = dir.join(&rel);
                    fs::create_dir_all(file.parent().unwrap()).unwrap();
                    fs::write(&file, bytes).unwrap();
                    m["photo"] = json!(rel);
                } else {
                    m["photo"] =
                        json!("(File not included. Change data exporting settings to download.)");
                }
                m["width"] = json!(1);
                m["height"] = json!(1);
            }
            if edited {
                m["edited"] = json!(date);
                m["edited_unixtime"] = json!((secs + 60).to_string());
            }
            messages.push(m);
        }
        chats.push(json!({"name": name, "type": kind, "id": chat, "messages": messages}));
    }
    let export = json!({
        "about": "Here is the data you requested.",
        "personal_information": {"user_id": 1000, "first_name": "Mei", "last_name": "Chen",
            "phone_number": "+86 100", "bio": ""},
        "contacts": {"about": "", "list": []},
        "chats": {"about": "", "list": chats},
        "left_chats": {"about": "", "list": []},
    });
    fs::write(
        dir.join("result.json"),
        serde_json::to_vec_pretty(&export).unwrap(),
    )
    .unwrap();
}

fn back_up(repo: &Repository, phone: &Path, work: &Path, day: u64) -> SourceBackup {
    chat::backup_source(
        repo,
        phone,
        &SourceOptions::default(),
        &BackupOptions {
            time: chrono::DateTime::from_timestamp_millis(START_MS + day as i64 * DAY_MS),
            ..Default::default()
        },
        Some(work),
        None,
        &CancelToken::new(),
    )
    .unwrap()
}

/// A year of backups every third day of a phone that deletes old messages month by
/// month, cleans up photos after 30 days and loses a whole chat half way; retention keeps
/// 7 daily, 4 weekly and 12 monthly snapshots and prune runs about weekly. At the end the
/// newest snapshot lists every message ever backed up once, with its last text, finds the
/// deleted ones by search, marks them, and restores every photo ever backed up
/// byte-identical; "only what the phone has" shows exactly the last export.
#[test]
fn a_year_of_a_shrinking_phone_keeps_every_message_and_photo() {
    let (tmp, work, mut repo) = setup();
    // This device keeps each backup's chat index for the next (pruned repository or not).
    repo.set_cache_dir(Some(tmp.path().join("cache")));
    let phone = tmp.path().join("Telegram Desktop");
    let policy = RetentionPolicy {
        daily: 7,
        weekly: 4,
        monthly: 12,
        ..Default::default()
    };
    // Every message and photo ever backed up: (chat, day) -> text; path -> bytes.
    let mut ever: BTreeMap<(u64, u64), String> = BTreeMap::new();
    let mut photos: BTreeMap<(u64, String), Vec<u8>> = BTreeMap::new();
    let mut on_phone = 0u64;
    let mut last = None;
    for (n, d) in (0..=360u64).step_by(3).enumerate() {
        write_phone(&phone, d);
        let oldest = (d / 30).saturating_sub(2) * 30;
        on_phone = 0;
        for (chat, _, _) in CHATS {
            if chat == 2002 && d >= 180 {
                continue;
            }
            for k in oldest..=d {
                ever.insert((chat, k), text_of(chat, k, k % 10 == 3 && d > k));
                on_phone += 1;
                if let Some((rel, bytes)) = photo_of(chat, k) {
                    if d - k <= 30 {
                        photos.insert((chat, rel), bytes);
                    }
                }
            }
        }
        let r = back_up(&repo, &phone, &work, d);
        let summary = r.summary.clone().unwrap();
        assert_eq!(
            summary.messages,
            ever.len() as u64,
            "day {d}: every message ever"
        );
        assert_eq!(
            summary.archived,
            ever.len() as u64 - on_phone,
            "day {d}: the archive is what the phone no longer has"
        );
        match (n, r.index_resumed) {
            (0, None) => {}
            (0, Some(_)) => panic!("the first backup has nothing to resume"),
            (_, None) => panic!("day {d}: the parent's index was not carried forward"),
            (_, Some(c)) => {
                let carried = r.index_carried.expect("carried forward");
                assert!(
                    carried.kept > carried.read,
                    "day {d}: most of the parent's index is this device's copy: {carried:?}"
                );
                assert_eq!(c.unchanged + c.changed + c.new, on_phone, "day {d}: {c:?}");
                assert_eq!(c.gone, summary.archived, "day {d}: {c:?}");
                // Three days of new messages in three chats (two once 友2 is gone); the
                // edits of the day before; photos that expired since (kept, unchanged).
                assert!(c.new <= 9 && c.new >= 6, "day {d}: {c:?}");
            }
        }
        if n % 2 == 1 {
            repo.forget(&policy, false).unwrap();
            repo.prune(&PruneOptions::default(), None, &CancelToken::new())
                .unwrap();
        }
        last = Some(r.backup.snapshot);
    }
    let last = last.unwrap();
    assert!(
        repo.snapshots().unwrap().len() <= 7 + 4 + 12,
        "retention kept its snapshots only"
    );
    let report = repo
        .check(ReadData::All, None, &CancelToken::new())
        .unwrap();
    assert!(report.is_ok(), "{:#?}", report.errors);

    // Every message ever backed up, once, with its last text.
    let chats = chat::open_chats(&repo, &last, Some(&work)).unwrap();
    let mut listed = BTreeMap::new();
    for (chat, _, _) in CHATS {
        chats
            .for_each_message(&chat.to_string(), |m| {
                let k: u64 = m.id.parse::<u64>().unwrap() - 1;
                assert!(
                    listed.insert((chat, k), m.text.clone()).is_none(),
                    "{chat}/{k} listed twice"
                );
                let gone = k < 300 || chat == 2002;
                assert_eq!(m.gone_since.is_some(), gone, "{chat}/{k}: {m:?}");
                Ok(())
            })
            .unwrap();
    }
    assert_eq!(listed, ever);
    // Deleted in the phone's first months, found by search and marked.
    let hits = chats.search("2002-5 长城", None, 10).unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    // Day 5's message left the phone with the month of day 90's backup.
    let gone = hits[0]
        .gone_since
        .expect("marked as no longer on the phone");
    assert_eq!(gone, START_MS + 90 * DAY_MS);
    drop(chats);
    let phone_only =
        chat::open_chats_scoped(&repo, &last, Some(&work), MessageScope::OnPhone).unwrap();
    let mut n = 0;
    for (chat, _, _) in CHATS {
        n += phone_only
            .for_each_message(&chat.to_string(), |m| {
                assert!(m.gone_since.is_none());
                Ok(())
            })
            .unwrap();
    }
    assert_eq!(n, on_phone, "only what the last export had");
    drop(phone_only);

    // Every photo ever backed up restores byte-identical, the deleted chat's too.
    for (chat, _, _) in CHATS {
        let out = tmp.path().join(format!("restored-{chat}"));
        chat::restore_conversation(
            &repo,
            &last,
            &chat.to_string(),
            &out,
            Some(&work),
            None,
            &CancelToken::new(),
        )
        .unwrap();
        let mut expected = 0;
        for ((c, rel), bytes) in &photos {
            if *c != chat {
                continue;
            }
            let got = fs::read(out.join("Telegram Desktop").join(rel))
                .unwrap_or_else(|e| panic!("{rel} of chat {chat}: {e}"));
            assert!(got == *bytes, "{rel} differs");
            expected += 1;
        }
        assert!(expected > 20, "chat {chat}: {expected} photos");
    }
}

/// The chat index this device keeps between backups is a starting point, never trusted:
/// a copy damaged, cut short or grown since is brought back to the parent's page by page
/// (only the pages that differ read), and the backup's messages are the same as without
/// it. A cache folder that cannot be made costs nothing but the reads.
#[test]
fn the_index_kept_on_this_device_is_checked_page_by_page() {
    let (tmp, work, mut repo) = setup();
    let cache = tmp.path().join("cache");
    repo.set_cache_dir(Some(cache.clone()));
    let phone = tmp.path().join("export");
    write_phone(&phone, 40);
    back_up(&repo, &phone, &work, 40);
    let kept: Vec<_> = walk(&cache)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sqlite"))
        .collect();
    assert_eq!(kept.len(), 1, "one index kept for one source: {kept:?}");
    let kept = &kept[0];
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(kept).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the kept index is the user's alone");
    }
    let size = fs::metadata(kept).unwrap().len();
    assert!(size > 16 * 1024, "{size}");
    // Damaged in the middle and grown at the end.
    let mut bytes = fs::read(kept).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 100].fill(0xAA);
    bytes.extend_from_slice(&[7u8; 50_000]);
    fs::write(kept, &bytes).unwrap();
    write_phone(&phone, 41);
    let next = back_up(&repo, &phone, &work, 41);
    let carried = next.index_carried.expect("carried forward");
    assert!(carried.read > 0 && carried.kept > 0, "{carried:?}");
    assert_eq!(carried.read + carried.kept, size, "{carried:?}");
    let texts = |repo: &Repository, snapshot: &Snapshot, work: &Path| {
        let chats = chat::open_chats(repo, snapshot, Some(work)).unwrap();
        let mut out = BTreeMap::new();
        for (chat, _, _) in CHATS {
            chats
                .for_each_message(&chat.to_string(), |m| {
                    out.insert((chat, m.id.clone()), (m.text.clone(), m.gone_since));
                    Ok(())
                })
                .unwrap();
        }
        out
    };
    let listing = texts(&repo, &next.backup.snapshot, &work);
    assert_eq!(listing.len(), 3 * 42);
    let plain = {
        // The same backups without a cache, into a repository of their own.
        let (tmp2, work2, repo2) = setup();
        let phone2 = tmp2.path().join("export");
        write_phone(&phone2, 40);
        back_up(&repo2, &phone2, &work2, 40);
        write_phone(&phone2, 41);
        let r = back_up(&repo2, &phone2, &work2, 41);
        assert_eq!(
            r.index_carried.map(|c| c.kept),
            Some(0),
            "no cache: all read"
        );
        texts(&repo2, &r.backup.snapshot, &work2)
    };
    assert_eq!(listing, plain);
    // Cut short to its first page.
    fs::write(kept, &fs::read(kept).unwrap()[..16 * 1024]).unwrap();
    write_phone(&phone, 42);
    let next = back_up(&repo, &phone, &work, 42);
    let carried = next.index_carried.expect("carried forward");
    assert_eq!(carried.kept, 16 * 1024, "{carried:?}");
    assert_eq!(next.summary.unwrap().messages, 3 * 43);
    // A cache folder where a file is: backups go on without it.
    fs::remove_dir_all(&cache).unwrap();
    fs::write(&cache, b"not a folder").unwrap();
    write_phone(&phone, 43);
    let next = back_up(&repo, &phone, &work, 43);
    assert_eq!(next.summary.unwrap().messages, 3 * 44);
    assert_eq!(next.index_carried.map(|c| c.kept), Some(0));
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Another account's export at the same path starts its own index: none of the first
/// account's messages show as its archive.
#[test]
fn another_accounts_export_at_the_same_path_is_not_merged() {
    let (tmp, work, repo) = setup();
    let phone = tmp.path().join("export");
    write_phone(&phone, 10);
    let first = back_up(&repo, &phone, &work, 10);
    assert_eq!(first.summary.unwrap().messages, 33);
    let json = fs::read_to_string(phone.join("result.json")).unwrap();
    let other = json.replace("\"user_id\": 1000", "\"user_id\": 1001");
    assert_ne!(json, other);
    // One chat of the other account's.
    let mut v: serde_json::Value = serde_json::from_str(&other).unwrap();
    v["chats"]["list"].as_array_mut().unwrap().truncate(1);
    fs::write(phone.join("result.json"), serde_json::to_vec(&v).unwrap()).unwrap();
    let second = back_up(&repo, &phone, &work, 11);
    let s = second.summary.unwrap();
    assert_eq!((s.messages, s.archived), (11, 0), "{s:?}");
}

/// A WhatsApp text export's lines for days `from..=to`: one message a day (two equal ones,
/// the same minute, on days divisible by 7; a photo on days divisible by 5) in a chat with
/// Ann.
fn whatsapp_chat(dir: &Path, from: u32, to: u32) {
    if dir.exists() {
        fs::remove_dir_all(dir).unwrap();
    }
    fs::create_dir_all(dir).unwrap();
    let mut text = String::new();
    for day in from..=to {
        let t = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()
            + chrono::Duration::days(i64::from(day));
        let h = format!("{}, 09:{:02} - ", t.format("%d/%m/%Y"), day % 60);
        let who = if day % 2 == 0 { "Ann" } else { "Bo" };
        text.push_str(&format!("{h}{who}: day {day} 你好\nsecond line {day}\n"));
        if day % 7 == 0 {
            text.push_str(&format!("{h}{who}: ok\n{h}{who}: ok\n"));
        }
        if day % 5 == 0 {
            let name = format!("IMG-{}-WA{day:04}.jpg", t.format("%Y%m%d"));
            fs::write(dir.join(&name), format!("photo {day} ").repeat(50)).unwrap();
            text.push_str(&format!("{h}{who}: {name} (file attached)\n"));
        }
    }
    fs::write(dir.join("WhatsApp Chat with Ann.txt"), text).unwrap();
}

/// Two text exports of one chat a month apart (the phone deleted the first weeks in
/// between) merge into one history without duplicates: text exports have no message ids,
/// so messages are known by their time, author, text and which of equal ones they are.
#[test]
fn overlapping_whatsapp_text_exports_merge_without_duplicates() {
    let (tmp, work, repo) = setup();
    let export = tmp.path().join("WhatsApp Ann");
    // Messages of days a..=b: one a day, two more on days divisible by 7, a photo on days
    // divisible by 5.
    let count = |a: u32, b: u32| -> u64 {
        (a..=b)
            .map(|d| 1 + if d % 7 == 0 { 2 } else { 0 } + u64::from(d % 5 == 0))
            .sum()
    };
    whatsapp_chat(&export, 1, 40);
    let first = back_up(&repo, &export, &work, 40);
    assert_eq!(first.summary.unwrap().messages, count(1, 40));
    whatsapp_chat(&export, 20, 70);
    let second = back_up(&repo, &export, &work, 70);
    let s = second.summary.unwrap();
    assert_eq!(s.messages, count(1, 70), "{s:?}");
    assert_eq!(s.archived, count(1, 19), "{s:?}");
    let c = second.index_resumed.unwrap();
    assert_eq!(
        (c.unchanged, c.new),
        (count(20, 40), count(41, 70)),
        "{c:?}"
    );

    // The first weeks' photos restore byte-identical from the second snapshot.
    let chats = chat::open_chats(&repo, &second.backup.snapshot, Some(&work)).unwrap();
    let conversation = chats.conversations().unwrap()[0].id.clone();
    drop(chats);
    let out = tmp.path().join("restored");
    chat::restore_conversation(
        &repo,
        &second.backup.snapshot,
        &conversation,
        &out,
        Some(&work),
        None,
        &CancelToken::new(),
    )
    .unwrap();
    for day in (5..=70).step_by(5) {
        let t = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()
            + chrono::Duration::days(i64::from(day));
        let name = format!("IMG-{}-WA{day:04}.jpg", t.format("%Y%m%d"));
        let got = fs::read(out.join("WhatsApp Ann").join(&name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            got,
            format!("photo {day} ").repeat(50).into_bytes(),
            "{name}"
        );
    }
}

/// A snapshot's messages: (chat, Telegram id) -> whether it is archived.
type Listing = BTreeMap<(u64, u64), bool>;

/// Every message of a snapshot.
fn messages_of(repo: &Repository, snapshot: &Snapshot, work: &Path) -> Listing {
    let chats = chat::open_chats(repo, snapshot, Some(work)).unwrap();
    let mut out = BTreeMap::new();
    for (chat, _, _) in CHATS {
        chats
            .for_each_message(&chat.to_string(), |m| {
                out.insert((chat, m.id.parse().unwrap()), m.gone_since.is_some());
                Ok(())
            })
            .unwrap();
    }
    out
}

/// `archive purge` (#23 item 4): removes from every snapshot exactly the archived messages
/// it names (one chat, before a date) and the photos only they used; leaves the messages
/// the snapshots' exports hold and every other chat alone; says which snapshots' exports
/// still hold some; after those are forgotten and pruned, the photos' data is gone from
/// the repository; the next backup does not bring them back.
#[test]
fn purge_removes_exactly_the_archived_messages_it_names_and_their_photos() {
    let (tmp, work, repo) = setup();
    let phone = tmp.path().join("Telegram Desktop");
    for d in (0..=120u64).step_by(10) {
        write_phone(&phone, d);
        back_up(&repo, &phone, &work, d);
    }
    let before: Vec<(Snapshot, Listing)> = repo
        .snapshots()
        .unwrap()
        .into_iter()
        .map(|s| {
            let m = messages_of(&repo, &s, &work);
            (s, m)
        })
        .collect();
    assert_eq!(before.len(), 13);
    // Chat 2001's messages of days 0..60 (Telegram ids 1..=60).
    let cut = START_MS + 60 * DAY_MS;
    let named = |chat: u64, id: u64| chat == 2001 && id <= 60;
    let mut request = PurgeRequest {
        conversation: "2001".into(),
        window: TimeWindow {
            utc: (i64::MIN, cut),
            wall: (i64::MIN, cut),
        },
        filter: Default::default(),
        dry_run: true,
        lock_wait: std::time::Duration::ZERO,
    };
    let cancel = CancelToken::new();

    let dry = chat::purge_archive(&repo, &request, Some(&work), &cancel).unwrap();
    assert_eq!((dry.messages(), dry.media()), (60, 15), "{dry:?}");
    assert!(dry.snapshots.iter().all(|s| s.new.is_none()));
    assert_eq!(
        repo.snapshots().unwrap(),
        before.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(),
        "a dry run changes nothing"
    );

    request.dry_run = false;
    let report = chat::purge_archive(&repo, &request, Some(&work), &cancel).unwrap();
    // The newest (day 120) holds every one of them in its archive, with the 15 photos
    // (every 4th day) the phone cleaned up.
    assert_eq!((report.messages(), report.media()), (60, 15), "{report:?}");
    // Every snapshot from day 90 on had some of them archived (the phone keeps the month
    // and the two before it); before day 120 every snapshot's export held some.
    let rewritten: Vec<_> = report.snapshots.iter().map(|s| s.old.id).collect();
    let held: Vec<_> = report
        .held_by_exports
        .iter()
        .map(|(s, _)| {
            let p = report.snapshots.iter().find(|p| p.new.as_ref() == Some(s));
            p.map_or(s.id, |p| p.old.id)
        })
        .collect();
    for (s, m) in &before {
        let archived = m
            .iter()
            .filter(|(&(c, id), &gone)| named(c, id) && gone)
            .count() as u64;
        let in_export = m
            .iter()
            .filter(|(&(c, id), &gone)| named(c, id) && !gone)
            .count() as u64;
        assert_eq!(rewritten.contains(&s.id), archived > 0, "{}", s.time);
        assert_eq!(held.contains(&s.id), in_export > 0, "{}", s.time);
        if let Some(p) = report.snapshots.iter().find(|p| p.old.id == s.id) {
            assert_eq!(p.messages, archived, "{}", s.time);
        }
    }
    assert_eq!(rewritten.len(), 4, "days 90 to 120");
    assert_eq!(held.len(), 12, "days 0 to 110");

    // Each snapshot lost exactly the named archived messages; its summary agrees.
    let after = repo.snapshots().unwrap();
    assert_eq!(after.len(), before.len());
    for (old, m) in &before {
        let new = match report.snapshots.iter().find(|p| p.old.id == old.id) {
            Some(p) => p.new.clone().unwrap(),
            None => old.clone(),
        };
        assert!(after.iter().any(|a| a.id == new.id));
        assert_eq!((new.time, new.tree), (old.time, old.tree));
        let expected: BTreeMap<_, _> = m
            .iter()
            .filter(|(&(c, id), &gone)| !(named(c, id) && gone))
            .map(|(k, v)| (*k, *v))
            .collect();
        let got = messages_of(&repo, &new, &work);
        assert_eq!(got, expected, "{}", old.time);
        let summary = chat::summary_of(&repo.full_snapshot(&new).unwrap()).unwrap();
        assert_eq!(summary.messages, got.len() as u64);
        assert_eq!(
            summary.archived,
            got.values().filter(|g| **g).count() as u64
        );
        for c in &summary.conversations {
            let n = got
                .keys()
                .filter(|(chat, _)| chat.to_string() == c.id)
                .count() as u64;
            assert_eq!(c.messages, n, "{} of {}", c.id, old.time);
        }
    }

    // The newest restores chat 2001's later photos, none of the purged ones.
    let newest = after.last().unwrap().clone();
    let out = tmp.path().join("restored");
    chat::restore_conversation(&repo, &newest, "2001", &out, Some(&work), None, &cancel).unwrap();
    for k in (0..=120u64).step_by(4) {
        let (rel, bytes) = photo_of(2001, k).unwrap();
        let file = out.join("Telegram Desktop").join(&rel);
        if k < 60 {
            assert!(!file.exists(), "{rel} was purged");
        } else {
            // Photos of days 60 on were each backed up at least once.
            assert_eq!(
                fs::read(&file).unwrap_or_else(|e| panic!("{rel}: {e}")),
                bytes
            );
        }
    }

    // Forget the snapshots whose exports still hold some, prune: the purged photos' data is
    // gone from the repository; the others' is there.
    let ids: Vec<String> = report
        .held_by_exports
        .iter()
        .map(|(s, _)| s.id.to_hex())
        .collect();
    repo.forget_ids(&ids, false).unwrap();
    repo.prune(&PruneOptions::default(), None, &cancel).unwrap();
    let sizes: std::collections::HashSet<u32> = repo
        .blobs()
        .unwrap()
        .into_iter()
        .filter(|b| b.kind == BlobKind::Data)
        .map(|b| b.raw_length)
        .collect();
    for k in (0..=120u64).step_by(4) {
        let (rel, bytes) = photo_of(2001, k).unwrap();
        assert_eq!(sizes.contains(&(bytes.len() as u32)), k >= 60, "{rel}");
    }
    let check = repo.check(ReadData::All, None, &cancel).unwrap();
    assert!(check.is_ok(), "{:#?}", check.errors);

    // The next backup resumes the purged index: the purged messages stay gone.
    write_phone(&phone, 130);
    let next = back_up(&repo, &phone, &work, 130);
    let m = messages_of(&repo, &next.backup.snapshot, &work);
    assert!(!m.keys().any(|&(c, id)| named(c, id)));
    assert!(next.index_resumed.is_some());
}
