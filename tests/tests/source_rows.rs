//! A device remembers the export's rows between backups (#22): the next backup skips the
//! WeChat rows that did not change. What it skips must never show: night after night the
//! chats are exactly those of a repository backed up without any memory of the last night
//! (edits, revokes, deletions, new messages, a renamed contact, a quiet night), and a
//! damaged memory costs a full read, not a wrong chat.

use std::fs;
use std::path::{Path, PathBuf};

use chatvault_core::chat::{self, IndexedMessage, SourceBackup};
use chatvault_core::{BackupOptions, CancelToken, Repository, SourceOptions};
use chatvault_fixtures::{add_day, generate_export, ExportFacts, ExportSpec};
use rusqlite::params;

mod common;

const DAY_MS: i64 = 86_400_000;
const START_MS: i64 = 1_760_000_000_000;

/// One repository and the folder its backups work in.
struct Side {
    _tmp: tempfile::TempDir,
    work: PathBuf,
    repo: Repository,
}

fn side(cache: bool) -> Side {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    fs::create_dir_all(&work).unwrap();
    let mut repo = common::new_repo(&tmp.path().join("repo"), "rows test");
    if cache {
        repo.set_cache_dir(Some(tmp.path().join("cache")));
    }
    Side {
        _tmp: tmp,
        work,
        repo,
    }
}

impl Side {
    fn back_up(&self, export: &Path, day: i64) -> SourceBackup {
        chat::backup_source(
            &self.repo,
            export,
            &SourceOptions::default(),
            &BackupOptions {
                time: chrono::DateTime::from_timestamp_millis(START_MS + day * DAY_MS),
                ..Default::default()
            },
            Some(&self.work),
            None,
            &CancelToken::new(),
        )
        .unwrap()
    }

    /// Every message of a backup's snapshot, conversation by conversation, and its summary.
    fn chats(&self, b: &SourceBackup) -> (Vec<IndexedMessage>, String) {
        let chats = chat::open_chats(&self.repo, &b.backup.snapshot, Some(&self.work)).unwrap();
        let mut out = Vec::new();
        for c in chats.conversations().unwrap() {
            chats
                .for_each_message(&c.id, |m| {
                    out.push(m);
                    Ok(())
                })
                .unwrap();
        }
        let mut summary = b.summary.clone().unwrap();
        summary.fingerprint = None;
        (out, serde_json::to_string_pretty(&summary).unwrap())
    }

    /// Files this side keeps on the device with the given extension.
    fn kept(&self, ext: &str) -> Vec<PathBuf> {
        let dir = self._tmp.path().join("cache");
        let mut out = Vec::new();
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == ext) {
                    out.push(p);
                }
            }
        }
        out
    }
}

fn skipped(b: &SourceBackup) -> u64 {
    b.index_resumed.map_or(0, |c| c.skipped)
}

/// Backs up `export` as of `day` into both repositories and checks their chats are the
/// same; the remembering side's backup.
fn night(remembering: &Side, plain: &Side, export: &Path, day: i64) -> SourceBackup {
    let r = remembering.back_up(export, day);
    let p = plain.back_up(export, day);
    let (rm, rs) = remembering.chats(&r);
    let (pm, ps) = plain.chats(&p);
    assert_eq!(rm.len(), pm.len(), "night {day}");
    for (a, b) in rm.iter().zip(&pm) {
        assert_eq!(a, b, "night {day}");
    }
    assert_eq!(rs, ps, "night {day}");
    assert_eq!(
        skipped(&p),
        0,
        "a repository without a cache remembers nothing"
    );
    r
}

/// Runs SQL on the export's database, as WeChat would between two backups.
fn change(facts: &ExportFacts, sql: &str, values: impl rusqlite::Params) {
    let db = rusqlite::Connection::open(&facts.database).unwrap();
    db.execute(sql, values).unwrap();
}

fn a_text_message(facts: &ExportFacts, nth: i64) -> i64 {
    let db = rusqlite::Connection::open(&facts.database).unwrap();
    db.query_row(
        "SELECT msgId FROM message WHERE type = 1 ORDER BY msgId LIMIT 1 OFFSET ?1",
        [nth],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn skipped_rows_never_show_night_after_night() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    let facts = generate_export(&export, &ExportSpec::small()).unwrap();
    let remembering = side(true);
    let plain = side(false);
    let night = |day: i64| night(&remembering, &plain, &export, day);

    let first = night(0);
    assert_eq!(skipped(&first), 0, "nothing to remember yet");
    assert_eq!(remembering.kept("rows").len(), 1, "the rows are remembered");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&remembering.kept("rows")[0])
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the user's alone");
    }

    // A day: new messages, one edited, one revoked, one deleted.
    add_day(&facts, 200, 2, 1).unwrap();
    let edited = a_text_message(&facts, 10);
    change(
        &facts,
        "UPDATE message SET content = content || ' (edited)' WHERE msgId = ?1",
        [edited],
    );
    let revoked = a_text_message(&facts, 20);
    change(
        &facts,
        "UPDATE message SET type = 10000, content = '\"Mei\" recalled a message' WHERE msgId = ?1",
        [revoked],
    );
    let deleted = a_text_message(&facts, 30);
    change(&facts, "DELETE FROM message WHERE msgId = ?1", [deleted]);
    let day1 = night(1);
    let counts = day1.index_resumed.unwrap();
    assert!(
        skipped(&day1) > 4000,
        "the unchanged text rows are skipped: {counts:?}"
    );
    assert_eq!(counts.changed, 2, "{counts:?}");
    assert_eq!(counts.new, 200, "{counts:?}");
    assert_eq!(counts.gone, 1, "{counts:?}");

    // One more edit of the same message: the rest is still skipped.
    change(
        &facts,
        "UPDATE message SET content = content || '!' WHERE msgId = ?1",
        [edited],
    );
    let day2 = night(2);
    assert!(skipped(&day2) > 4000, "{:?}", day2.index_resumed);

    // A photo's file arrives for an old image message (its folder changed: that row is
    // read again, the rest skipped), then the phone cleans it up (kept from the snapshot
    // that stored it: a row never skipped from then on).
    let (img, thumb) = {
        let db = rusqlite::Connection::open(&facts.database).unwrap();
        db.query_row(
            "SELECT msgId, imgPath FROM message WHERE type = 3 AND imgPath LIKE 'THUMBNAIL_DIRPATH://th_%' ORDER BY msgId LIMIT 1 OFFSET 5",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )
        .unwrap()
    };
    let h = thumb.strip_prefix("THUMBNAIL_DIRPATH://th_").unwrap();
    let folder = facts
        .database
        .parent()
        .unwrap()
        .join(format!("image2/{}/{}", &h[..2], &h[2..4]));
    fs::create_dir_all(&folder).unwrap();
    let photo = folder.join(format!("th_{h}"));
    fs::write(&photo, b"\xff\xd8 a thumbnail").unwrap();
    let with_photo = night(3);
    let counts = with_photo.index_resumed.unwrap();
    assert!(counts.changed >= 1, "message {img}: {counts:?}");
    assert!(skipped(&with_photo) > 4000, "{counts:?}");
    fs::remove_file(&photo).unwrap();
    let cleaned = night(4);
    assert!(cleaned.summary.unwrap().kept_media >= 1);
    change(
        &facts,
        "UPDATE message SET content = content || '?' WHERE msgId = ?1",
        [edited],
    );
    let later = night(5);
    assert!(later.summary.unwrap().kept_media >= 1, "still kept");

    // A contact renamed: every message's sender name may change, nothing is skipped.
    change(
        &facts,
        "UPDATE rcontact SET conRemark = 'Renamed 改名' WHERE username = (SELECT talker FROM message WHERE type = 1 LIMIT 1)",
        params![],
    );
    let renamed = night(31);
    assert_eq!(
        skipped(&renamed),
        0,
        "another context: {:?}",
        renamed.index_resumed
    );
    add_day(&facts, 10, 0, 32).unwrap();
    let after = night(32);
    assert!(skipped(&after) > 4000, "{:?}", after.index_resumed);

    // A damaged memory: a byte flipped in the middle of the rows. The backup finds it out
    // once read and reads the export again in full; the chats are the same.
    let rows = &remembering.kept("rows")[0];
    let mut bytes = fs::read(rows).unwrap();
    let middle = bytes.len() / 3;
    bytes[middle] ^= 0x10;
    fs::write(rows, &bytes).unwrap();
    add_day(&facts, 10, 0, 33).unwrap();
    let damaged = night(33);
    assert_eq!(
        skipped(&damaged),
        0,
        "read again in full: {:?}",
        damaged.index_resumed
    );
    add_day(&facts, 10, 0, 34).unwrap();
    let again = night(34);
    assert!(
        skipped(&again) > 4000,
        "remembered again: {:?}",
        again.index_resumed
    );

    // A night with nothing new stores the same index again (its tree): the next night's
    // parent has the index the rows were recorded for.
    let quiet = night(35);
    assert!(quiet.index_reused, "nothing new");
    add_day(&facts, 10, 0, 36).unwrap();
    let after_quiet = night(36);
    assert!(
        skipped(&after_quiet) > 4000,
        "after a quiet night: {:?}",
        after_quiet.index_resumed
    );

    // Another index's rows (this device's memory is older than the parent's index, made
    // elsewhere): not used.
    let old = fs::read(rows).unwrap();
    add_day(&facts, 10, 0, 37).unwrap();
    night(37);
    fs::write(rows, &old).unwrap();
    add_day(&facts, 10, 0, 38).unwrap();
    let foreign = night(38);
    assert_eq!(
        skipped(&foreign),
        0,
        "another index's rows: {:?}",
        foreign.index_resumed
    );
}

/// The same for WhatsApp's database: a message's reactions, votes, cards and the members
/// a group event names are side rows, and its file's presence counts too; a message whose
/// side rows or file changed is read again, the rest skipped.
#[test]
fn whatsapp_rows_skipped_never_show() {
    use chatvault_fixtures::whatsapp_db::{generate, msgstore_path};
    let dir = tempfile::tempdir().unwrap();
    let wa = dir.path().join("WhatsApp");
    let facts = generate(&wa, 60).unwrap();
    let db_path = msgstore_path(&wa);
    let sql = |q: &str| {
        let db = rusqlite::Connection::open(&db_path).unwrap();
        db.execute_batch(q).unwrap();
    };
    let remembering = side(true);
    let plain = side(false);
    let night = |day: i64| night(&remembering, &plain, &wa, day);
    let first = night(0);
    assert_eq!(skipped(&first), 0);
    let total = first.summary.as_ref().unwrap().messages;
    assert!(total as usize >= facts.messages, "{total}");

    // An edit, a reaction to an old message, a deletion, a new message.
    sql("UPDATE message SET text_data = text_data || ' (edited)'
           WHERE _id = (SELECT _id FROM message WHERE message_type = 0 AND text_data IS NOT NULL
                        ORDER BY _id LIMIT 1 OFFSET 3);
         INSERT INTO message_add_on (chat_row_id, from_me, key_id, sender_jid_row_id,
             parent_message_row_id, message_add_on_type, timestamp, status)
           SELECT chat_row_id, 1, 'REACT-NEW', -1, _id, 56, timestamp + 9, 0 FROM message
           WHERE message_type = 0 AND chat_row_id > 0 ORDER BY _id LIMIT 1 OFFSET 7;
         INSERT INTO message_add_on_reaction (message_add_on_row_id, reaction, sender_timestamp)
           VALUES (last_insert_rowid(), '❤️', 1);
         DELETE FROM message
           WHERE _id = (SELECT _id FROM message WHERE message_type = 0 AND chat_row_id > 0
                        ORDER BY _id LIMIT 1 OFFSET 11);
         INSERT INTO message (chat_row_id, from_me, key_id, timestamp, message_type, text_data, status)
           SELECT chat_row_id, 1, 'NEW-1', timestamp + 1, 0, '新しい message', 13 FROM message
           WHERE chat_row_id > 0 ORDER BY _id DESC LIMIT 1;");
    let day1 = night(1);
    let counts = day1.index_resumed.unwrap();
    assert_eq!(
        (counts.changed, counts.new, counts.gone),
        (2, 1, 1),
        "{counts:?}"
    );
    assert!(
        skipped(&day1) as usize + 3 >= facts.messages - 1,
        "{counts:?}"
    );

    // A photo the phone cleaned up: its message is read again (its file is kept).
    let photo = wa.join(&facts.media_present[0]);
    fs::remove_file(&photo).unwrap();
    sql("UPDATE message SET status = status WHERE _id = 1;");
    let day2 = night(2);
    let counts = day2.index_resumed.unwrap();
    assert!(counts.unchanged - counts.skipped >= 1, "{counts:?}");
    assert!(day2.summary.unwrap().kept_media >= 1);
}
