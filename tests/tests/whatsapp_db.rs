//! WhatsApp's own Android backups, end to end with real parts: our generator writes a
//! WhatsApp folder (msgstore.db in the newer schema, wa.db, Media/), PyPI's `wa-crypt-tools`
//! (an independent implementation, installed by scripts/test.sh) encrypts it into crypt15
//! (64-digit key) and crypt14 (`key` file), and our reader decrypts and reads it back with
//! exact counts and facts. A missing tool fails the test with the install command.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use chatvault_core::sources::model::{ConversationKind, MessageKind, Timestamp};
use chatvault_core::sources::{self, SourceKind, SourceOptions};
use chatvault_core::Error;
use chatvault_fixtures::whatsapp_db::{
    generate, generate_legacy, msgstore_path, Legacy, WaDbFacts,
};
use chatvault_fixtures::whatsapp_exporter;
use common::Collect;

/// The version scripts/test.sh installs (kept in step with it).
const TOOL: &str = "wa-crypt-tools==0.1.0";
/// A 64-digit key, as WhatsApp shows it.
const KEY: &str = "8a1f3c5e7b9d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c2e4b6d8f0a1c3e5b7d9f2a";
const PER_CHAT: usize = 14;

/// Runs one of wa-crypt-tools' commands, or fails saying how to install it.
fn tool(name: &str, args: &[&str], dir: &Path) {
    let out = Command::new(name).args(args).current_dir(dir).output();
    let install = format!("python3 -m pip install {TOOL}   (scripts/test.sh does this)");
    let out = out.unwrap_or_else(|e| {
        panic!("{name} (PyPI {TOOL}) is missing ({e}): install it with\n  {install}")
    });
    assert!(
        out.status.success(),
        "{name} {:?} failed: {}\n{}",
        args.first(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A WhatsApp folder whose databases exist only as crypt15 backups made by waencrypt.
fn crypt15_folder(tmp: &Path) -> (PathBuf, WaDbFacts) {
    let wa = tmp.join("WhatsApp");
    let facts = generate(&wa, PER_CHAT).unwrap();
    let dbs = wa.join("Databases");
    tool(
        "waencrypt",
        &[KEY, "msgstore.db", "msgstore.db.crypt15"],
        &dbs,
    );
    tool("waencrypt", &[KEY, "wa.db", "wa.db.crypt15"], &dbs);
    fs::remove_file(dbs.join("msgstore.db")).unwrap();
    fs::remove_file(dbs.join("wa.db")).unwrap();
    (wa, facts)
}

fn read(path: &Path, key: Option<&str>, work: &Path) -> Result<Collect, Error> {
    let opts = SourceOptions {
        whatsapp_key: key.map(str::to_string),
        work_dir: Some(work.to_path_buf()),
        ..Default::default()
    };
    let mut c = Collect::default();
    let (kind, _) = sources::read(path, &opts, &mut c)?;
    assert_eq!(kind, SourceKind::WhatsAppDb);
    Ok(c)
}

/// The message whose `server_id` (WhatsApp's key id) is `key`.
fn by_key<'a>(c: &'a Collect, key: &str) -> &'a chatvault_core::sources::model::Message {
    c.messages
        .iter()
        .find(|m| m.server_id.as_deref() == Some(key))
        .unwrap_or_else(|| panic!("no message {key}"))
}

/// Every fact the generator wrote, found in what the reader reported.
fn check_facts(c: &Collect, facts: &WaDbFacts) {
    assert_eq!(c.messages.len(), facts.messages, "{:?}", c.warnings);
    assert_eq!(c.conversations.len(), facts.chats.len());
    for chat in &facts.chats {
        let conv = c.conversations.iter().find(|x| x.id == chat.jid).unwrap();
        assert_eq!(conv.name, chat.name, "{}", chat.jid);
        let kind = if chat.group {
            ConversationKind::Group
        } else {
            ConversationKind::Direct
        };
        assert_eq!(conv.kind, kind);
        if chat.group {
            // Dora's privacy id stands for her number (jid_map).
            assert_eq!(conv.members.len(), 4, "{:?}", conv.members);
            assert!(conv
                .members
                .iter()
                .any(|m| m == "4915100000004@s.whatsapp.net"));
        }
        let msgs: Vec<_> = c
            .messages
            .iter()
            .filter(|m| m.conversation == chat.jid)
            .collect();
        assert_eq!(msgs.len(), chat.messages, "{}", chat.jid);
        let mut senders: Vec<String> = msgs.iter().filter_map(|m| m.sender.clone()).collect();
        senders.sort();
        senders.dedup();
        let mut want = chat.senders.clone();
        want.sort();
        assert_eq!(senders, want, "{}", chat.jid);
    }
    assert_eq!(
        c.messages.iter().filter(|m| m.from_me).count(),
        facts.from_me
    );
    // Exact UTC times, to the millisecond.
    for (key, ts) in &facts.times {
        let m = by_key(c, key);
        assert_eq!(m.time, Timestamp::Utc(*ts));
    }
    let media: Vec<_> = c.messages.iter().filter_map(|m| m.media.as_ref()).collect();
    for p in &facts.media_present {
        let m = media
            .iter()
            .find(|m| m.path.ends_with(p.as_str()))
            .unwrap_or_else(|| panic!("{p}"));
        assert!(m.present, "{p}");
    }
    for p in &facts.media_missing {
        let m = media
            .iter()
            .find(|m| m.path.ends_with(p.as_str()))
            .unwrap_or_else(|| panic!("{p}"));
        assert!(!m.present, "{p}");
    }
    assert_eq!(
        media.len(),
        facts.media_present.len() + facts.media_missing.len()
    );
    for (key, quoted) in &facts.quotes {
        let m = by_key(c, key);
        assert_eq!(m.reply_to.as_deref(), Some(quoted.as_str()));
        assert_eq!(m.kind, MessageKind::Quote);
        assert!(m.quote.as_deref().unwrap_or("").starts_with("message 0"));
        // The target is in the same chat.
        assert!(c
            .messages
            .iter()
            .any(|t| t.server_id.as_deref() == Some(quoted) && t.conversation == m.conversation));
    }
    let count = |k: MessageKind| c.messages.iter().filter(|m| m.kind == k).count();
    assert_eq!(count(MessageKind::Revoke), facts.revokes);
    assert_eq!(count(MessageKind::System), facts.system);
    assert_eq!(count(MessageKind::Location), facts.locations.len());
    assert_eq!(count(MessageKind::ContactCard), facts.vcards.len());
    assert_eq!(count(MessageKind::Unparsed), 0);
    for (lat, lon, place) in &facts.locations {
        assert!(c
            .messages
            .iter()
            .any(|m| m.details.place.as_ref().is_some_and(|p| {
                p.latitude == Some(*lat)
                    && p.longitude == Some(*lon)
                    && p.title.as_deref() == Some(place)
            })));
    }
    assert!(c
        .messages
        .iter()
        .filter(|m| m.kind == MessageKind::ContactCard)
        .all(|m| m.text == "Carla"));
    let sys = c
        .messages
        .iter()
        .find(|m| m.kind == MessageKind::System)
        .unwrap();
    assert!(sys.text.contains("Family 🏠"), "{}", sys.text);
    for (key, emoji) in &facts.reactions {
        let m = by_key(c, key);
        assert_eq!(m.details.reactions.len(), 1);
        assert_eq!(&m.details.reactions[0].emoji, emoji);
    }
    // Calls, polls, edits and view-once messages.
    for (key, video, answered, secs) in &facts.calls {
        let m = by_key(c, key);
        assert_eq!(m.kind, MessageKind::Call, "{key}");
        let what = if *video { "video call" } else { "voice call" };
        assert!(m.text.contains(what), "{key}: {}", m.text);
        if *answered {
            assert_eq!(m.details.duration_seconds, Some(*secs));
        } else {
            assert!(
                m.text.starts_with("Missed") || m.text.starts_with("Unanswered"),
                "{}",
                m.text
            );
        }
    }
    for (key, question, options) in &facts.polls {
        let m = by_key(c, key);
        let p = m.details.poll.as_ref().unwrap();
        assert_eq!(&p.question, question);
        let got: Vec<(String, u64)> = p
            .answers
            .iter()
            .map(|a| (a.text.clone(), a.voters.unwrap()))
            .collect();
        assert_eq!(&got, options);
    }
    assert_eq!(
        c.messages.iter().filter(|m| m.edited).count(),
        facts.edited.len()
    );
    for key in &facts.edited {
        assert!(c
            .messages
            .iter()
            .any(|m| m.server_id.as_deref() == Some(key) && m.edited));
    }
    for key in &facts.view_once {
        assert!(c
            .messages
            .iter()
            .any(|m| m.server_id.as_deref() == Some(key) && m.details.view_once));
    }
    for (key, text) in &facts.texts {
        let m = by_key(c, key);
        assert_eq!(&m.text, text);
    }
    // Texts composed from side tables: template messages, "X added Y".
    for (key, text) in &facts.composed {
        let m = by_key(c, key);
        assert_eq!(&m.text, text, "{key}");
    }
    // A one-to-one chat's reaction (stored without a sender) is the partner's.
    let ann_chat_first = &facts.reactions[0].0;
    let m = by_key(c, ann_chat_first);
    assert_eq!(m.details.reactions[0].from, vec!["Ann Lee".to_string()]);
    // Dora, a group member by privacy id, is named by her number's wa.db entry.
    assert!(c
        .messages
        .iter()
        .any(|m| m.sender_name.as_deref() == Some("Dora Diaz")));
    // Names from wa.db: Ann's messages carry her name.
    let ann = c
        .messages
        .iter()
        .find(|m| m.sender.as_deref() == Some("4915100000001@s.whatsapp.net"))
        .unwrap();
    assert_eq!(ann.sender_name.as_deref(), Some("Ann Lee"));
    // Every message keeps its row.
    assert!(c
        .messages
        .iter()
        .all(|m| m.raw.as_deref().is_some_and(|r| r.contains("\"_id\""))));
}

fn work(tmp: &Path) -> PathBuf {
    let w = tmp.join("work");
    fs::create_dir_all(&w).unwrap();
    w
}

#[test]
fn whatsapp_db_crypt15_made_by_wa_crypt_tools_reads_with_exact_facts() {
    let tmp = tempfile::tempdir().unwrap();
    let (wa, facts) = crypt15_folder(tmp.path());
    let w = work(tmp.path());
    // Detected from the WhatsApp folder and from its parents as people pick them.
    assert_eq!(sources::detect(&wa).unwrap(), SourceKind::WhatsAppDb);
    assert_eq!(sources::detect(tmp.path()).unwrap(), SourceKind::WhatsAppDb);
    // The key as WhatsApp shows it: 16 groups of 4, upper case.
    let shown: String = KEY
        .to_uppercase()
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    let c = read(&wa, Some(&shown), &w).unwrap();
    check_facts(&c, &facts);
    assert_eq!(c.contacts.len(), 3, "names from wa.db.crypt15");
    // Media paths are relative to the folder given.
    let c = read(tmp.path(), Some(KEY), &w).unwrap();
    assert!(c
        .messages
        .iter()
        .filter_map(|m| m.media.as_ref())
        .all(|m| m.path.starts_with("WhatsApp/Media/")));
    // Nothing decrypted is left behind.
    assert_eq!(fs::read_dir(&w).unwrap().count(), 0);
}

#[test]
fn whatsapp_db_newest_backup_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let (wa, facts) = crypt15_folder(tmp.path());
    let dbs = wa.join("Databases");
    // An older, smaller backup with a date: not the one read.
    let old = tmp.path().join("old");
    generate(&old, 12).unwrap();
    tool(
        "waencrypt",
        &[
            KEY,
            "msgstore.db",
            "../../WhatsApp/Databases/msgstore-2023-12-01.1.db.crypt15",
        ],
        &old.join("Databases"),
    );
    assert!(dbs.join("msgstore-2023-12-01.1.db.crypt15").is_file());
    let c = read(&wa, Some(KEY), &work(tmp.path())).unwrap();
    assert_eq!(c.messages.len(), facts.messages);
    // Without the undated one, the dated one is the newest.
    fs::remove_file(dbs.join("msgstore.db.crypt15")).unwrap();
    let c = read(&wa, Some(KEY), &work(tmp.path())).unwrap();
    assert_eq!(c.messages.len(), 4 * 16);
}

#[test]
fn whatsapp_db_crypt14_with_the_key_file() {
    let tmp = tempfile::tempdir().unwrap();
    let wa = tmp.path().join("WhatsApp");
    let facts = generate(&wa, PER_CHAT).unwrap();
    let dbs = wa.join("Databases");
    // wa-crypt-tools 0.1.0's `wacreatekey --crypt14` fails on PyPI's build (a path bug), so
    // the key file is written by its library (Key14, Java-serialized as WhatsApp does).
    let script = format!(
        "from wa_crypt_tools.lib.key.key14 import Key14\n\
         open('key', 'wb').write(Key14(key=bytes.fromhex('{KEY}')).dump())\n"
    );
    tool("python3", &["-c", &script], &wa);
    tool(
        "waencrypt",
        &[
            "--type",
            "14",
            "../key",
            "msgstore.db",
            "msgstore.db.crypt14",
        ],
        &dbs,
    );
    fs::rename(dbs.join("msgstore.db"), tmp.path().join("plain.db")).unwrap();
    let w = work(tmp.path());
    // The key file found in the folder.
    let c = read(&wa, None, &w).unwrap();
    check_facts(&c, &facts);
    // Or named.
    let moved = tmp.path().join("the-key");
    fs::rename(wa.join("key"), &moved).unwrap();
    let c = read(&wa, Some(moved.to_str().unwrap()), &w).unwrap();
    assert_eq!(c.messages.len(), facts.messages);
    // The 64-digit key does not open a crypt14 backup: a wrong-key error saying why.
    let e = read(&wa, Some(KEY), &w).err().unwrap();
    assert!(matches!(e, Error::WrongKey { .. }), "{e}");
    assert!(e.to_string().contains("key` file"), "{e}");
    // crypt12 (raw header, `--NN` footer) with the same key file.
    fs::rename(&moved, wa.join("key")).unwrap();
    tool(
        "waencrypt",
        &[
            "--type",
            "12",
            "../key",
            "../../plain.db",
            "msgstore.db.crypt12",
        ],
        &dbs,
    );
    fs::remove_file(dbs.join("msgstore.db.crypt14")).unwrap();
    let c = read(&wa, None, &w).unwrap();
    check_facts(&c, &facts);
}

#[test]
fn whatsapp_db_wrong_key_reads_nothing_and_never_shows_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let (wa, _) = crypt15_folder(tmp.path());
    let w = work(tmp.path());
    let wrong = KEY.replace('8', "9");
    let opts = SourceOptions {
        whatsapp_key: Some(wrong.clone()),
        work_dir: Some(w.clone()),
        ..Default::default()
    };
    let mut c = Collect::default();
    let e = sources::read(&wa, &opts, &mut c).err().unwrap();
    assert!(matches!(e, Error::WrongKey { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("msgstore.db.crypt15") && msg.contains("--whatsapp-key"),
        "{msg}"
    );
    assert!(
        !msg.contains(&wrong) && !msg.to_lowercase().contains(&KEY[..16]),
        "{msg}"
    );
    assert!(!format!("{opts:?}").contains(&wrong));
    assert!(c.messages.is_empty() && c.conversations.is_empty());
    assert_eq!(fs::read_dir(&w).unwrap().count(), 0, "no plaintext left");
    // No key at all: the same error kind, saying what to give.
    let e = read(&wa, None, &w).err().unwrap();
    assert!(matches!(e, Error::WrongKey { .. }), "{e}");
    // Not 64 digits: refused without repeating it.
    let e = read(&wa, Some("1234"), &w).err().unwrap();
    assert!(
        matches!(e, Error::InvalidArgument(_)) && !e.to_string().contains("1234"),
        "{e}"
    );
}

#[test]
fn whatsapp_db_truncated_or_foreign_backup_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (wa, _) = crypt15_folder(tmp.path());
    let w = work(tmp.path());
    let file = wa.join("Databases/msgstore.db.crypt15");
    let bytes = fs::read(&file).unwrap();
    for cut in [bytes.len() - 40, bytes.len() / 2, 100, 3] {
        fs::write(&file, &bytes[..cut]).unwrap();
        let e = read(&wa, Some(KEY), &w).err().unwrap();
        assert!(
            matches!(&e, Error::Source { path, .. } if path == &file),
            "cut at {cut}: {e}"
        );
        assert_eq!(fs::read_dir(&w).unwrap().count(), 0, "no plaintext left");
    }
    fs::write(&file, b"PK\x03\x04 this is some zip, not a backup").unwrap();
    let e = read(&wa, Some(KEY), &w).err().unwrap();
    assert!(
        matches!(&e, Error::Source { path, .. } if path == &file),
        "{e}"
    );
}

#[test]
fn whatsapp_db_plain_msgstore_reads_without_a_key() {
    let tmp = tempfile::tempdir().unwrap();
    let wa = tmp.path().join("WhatsApp");
    let facts = generate(&wa, PER_CHAT).unwrap();
    let c = read(&wa, None, &work(tmp.path())).unwrap();
    check_facts(&c, &facts);
    // Media sizes as WhatsApp recorded them (message_media.file_size), missing files too.
    let sized: Vec<_> = c.messages.iter().filter(|m| m.media.is_some()).collect();
    assert!(!sized.is_empty());
    for m in sized {
        assert_eq!(m.details.size_bytes, Some(100), "{m:?}");
    }
    // The database file itself, picked alone.
    let c = read(&msgstore_path(&wa), None, &work(tmp.path())).unwrap();
    assert_eq!(c.messages.len(), facts.messages);
}

#[test]
fn legacy_databases_before_and_while_the_schema_changed_read_with_exact_facts() {
    for layout in [Legacy::Pure, Legacy::Transitional] {
        let tmp = tempfile::tempdir().unwrap();
        let wa = tmp.path().join("WhatsApp");
        let facts = generate_legacy(&wa, PER_CHAT, layout).unwrap();
        let c = read(&wa, None, &work(tmp.path())).unwrap();
        let what = format!("{layout:?}");
        assert_eq!(c.messages.len(), facts.messages, "{what}: {:?}", c.warnings);
        for chat in &facts.chats {
            let conv = c.conversations.iter().find(|x| x.id == chat.jid).unwrap();
            assert_eq!(conv.name, chat.name, "{what}");
            let msgs: Vec<_> = c
                .messages
                .iter()
                .filter(|m| m.conversation == chat.jid)
                .collect();
            assert_eq!(msgs.len(), chat.messages, "{what}");
            let mut senders: Vec<String> = msgs.iter().filter_map(|m| m.sender.clone()).collect();
            senders.sort();
            senders.dedup();
            let mut want = chat.senders.clone();
            want.sort();
            assert_eq!(senders, want, "{what}: {}", chat.jid);
            if chat.group {
                assert_eq!(conv.members.len(), 2, "{what}: {:?}", conv.members);
            }
        }
        assert_eq!(
            c.messages.iter().filter(|m| m.from_me).count(),
            facts.from_me
        );
        for (key, ts) in &facts.times {
            let m = by_key(&c, key);
            assert_eq!(m.time, Timestamp::Utc(*ts), "{what}");
        }
        for (key, text) in &facts.texts {
            let m = by_key(&c, key);
            assert_eq!(&m.text, text, "{what}");
        }
        for (key, quoted) in &facts.quotes {
            let m = by_key(&c, key);
            assert_eq!(m.reply_to.as_deref(), Some(quoted.as_str()), "{what}");
            assert!(
                m.quote.as_deref().unwrap_or("").starts_with("alt 0"),
                "{what}"
            );
        }
        let count = |k: MessageKind| c.messages.iter().filter(|m| m.kind == k).count();
        assert_eq!(count(MessageKind::Revoke), facts.revokes, "{what}");
        assert_eq!(count(MessageKind::System), facts.system, "{what}");
        assert_eq!(
            count(MessageKind::Location),
            facts.locations.len(),
            "{what}"
        );
        assert_eq!(count(MessageKind::Unparsed), 0, "{what}");
        let cards: Vec<_> = c
            .messages
            .iter()
            .filter(|m| m.kind == MessageKind::ContactCard)
            .collect();
        assert_eq!(cards.len(), facts.vcards.len());
        assert!(cards.iter().all(|m| m.text == "Carla"), "{what}");
        let sys = c
            .messages
            .iter()
            .find(|m| m.kind == MessageKind::System)
            .unwrap();
        assert!(sys.text.contains("Alte Freunde"), "{what}: {}", sys.text);
        // Media: paths where the layout has them (present), else the file's name kept.
        let media: Vec<_> = c.messages.iter().filter_map(|m| m.media.as_ref()).collect();
        assert_eq!(media.len(), facts.media_present.len(), "{what}");
        for p in &facts.media_present {
            assert!(
                media
                    .iter()
                    .any(|m| m.present && m.path.ends_with(p.as_str())),
                "{what}: {p}"
            );
        }
        if layout == Legacy::Pure {
            assert!(c.messages.iter().any(|m| m
                .details
                .title
                .as_deref()
                .is_some_and(|t| t.starts_with("IMG-"))));
        }
    }
}

/// Ours and the exporter's reading of the same database: the same rows per chat (keyed by
/// row id in both), directions, times to the millisecond, texts, replies and group senders.
fn compare_with_exporter(wa: &Path, facts: &WaDbFacts, scratch: &Path) {
    let ours = read(wa, None, &work(scratch)).unwrap();
    let copy = scratch.join("WhatsApp");
    chatvault_fixtures::copy_tree(wa, &copy).unwrap();
    let theirs = whatsapp_exporter::run(
        &[
            "-a".into(),
            "-d".into(),
            copy.join("Databases/msgstore.db").into(),
            "-w".into(),
            copy.join("Databases/wa.db").into(),
            "-m".into(),
            copy.into(),
        ],
        scratch,
    );
    let theirs = theirs.as_object().expect("a JSON object of chats");
    for chat in &facts.chats {
        let c = common::compare_chat(theirs, &chat.jid, &ours.messages, false);
        assert!(
            c.texts >= 2 && c.replies >= 1,
            "{}: too little compared",
            chat.jid
        );
        if chat.group {
            assert!(c.senders > 0, "{}: no sender compared", chat.jid);
        }
    }
}

#[test]
fn an_independent_reader_agrees_on_the_newer_and_the_2021_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let wa = tmp.path().join("new/WhatsApp");
    let facts = generate(&wa, PER_CHAT).unwrap();
    let scratch = tmp.path().join("new-scratch");
    fs::create_dir_all(&scratch).unwrap();
    compare_with_exporter(&wa, &facts, &scratch);
    let wa = tmp.path().join("old/WhatsApp");
    let facts = generate_legacy(&wa, PER_CHAT, Legacy::Transitional).unwrap();
    let scratch = tmp.path().join("old-scratch");
    fs::create_dir_all(&scratch).unwrap();
    compare_with_exporter(&wa, &facts, &scratch);
}

/// A one-to-one chat of the database written as WhatsApp's "Export chat" writes it (Android,
/// English, US dates, times in UTC), line by line from the rows: what the text export
/// shows for each kind (attachments by file name, places as a maps link, polls, edits).
/// Calls and view-once media are not in text exports.
fn text_export_of(c: &Collect, jid: &str, partner: &str, owner: &str) -> String {
    use chrono::{Datelike, Timelike};
    let mut out = String::new();
    for m in c.messages.iter().filter(|m| m.conversation == jid) {
        if m.kind == MessageKind::Call || m.details.view_once {
            continue;
        }
        let t = chrono::DateTime::from_timestamp_millis(m.time.millis())
            .unwrap()
            .naive_utc();
        let (pm, h) = t.hour12();
        let head = format!(
            "{}/{}/{:02}, {}:{:02}\u{202F}{} - ",
            t.month(),
            t.day(),
            t.year() % 100,
            h,
            t.minute(),
            if pm { "PM" } else { "AM" }
        );
        let author = if m.from_me { owner } else { partner };
        let body = match m.kind {
            MessageKind::Image | MessageKind::File => match &m.media {
                Some(x) if x.present => {
                    let name = x.path.rsplit('/').next().unwrap();
                    if m.text.is_empty() || m.kind == MessageKind::File {
                        format!("{name} (file attached)")
                    } else {
                        format!("{name} (file attached)\n{}", m.text)
                    }
                }
                _ => "<Media omitted>".into(),
            },
            MessageKind::Revoke if m.from_me => "You deleted this message".into(),
            MessageKind::Revoke => "This message was deleted".into(),
            MessageKind::Location => {
                let p = m.details.place.as_ref().unwrap();
                format!(
                    "location: https://maps.google.com/?q={},{}",
                    p.latitude.unwrap(),
                    p.longitude.unwrap()
                )
            }
            MessageKind::ContactCard => format!("{}.vcf (file attached)", m.text),
            MessageKind::Poll => {
                let p = m.details.poll.as_ref().unwrap();
                let mut s = format!("POLL:\n{}", p.question);
                for a in &p.answers {
                    let v = a.voters.unwrap_or(0);
                    s.push_str(&format!(
                        "\nOPTION: {} ({v} vote{})",
                        a.text,
                        if v == 1 { "" } else { "s" }
                    ));
                }
                s
            }
            _ if m.edited => format!("{} <This message was edited>", m.text),
            _ => m.text.clone(),
        };
        out.push_str(&format!("{head}{author}: {body}\n"));
    }
    out
}

#[test]
fn a_chat_read_from_the_database_equals_its_text_export() {
    let tmp = tempfile::tempdir().unwrap();
    let wa = tmp.path().join("WhatsApp");
    let facts = generate(&wa, PER_CHAT).unwrap();
    let db = read(&wa, None, &work(tmp.path())).unwrap();
    let chat = &facts.chats[0];
    let partner = chat.name.as_str();
    let export = tmp.path().join("export");
    fs::create_dir_all(&export).unwrap();
    let file = export.join(format!("WhatsApp Chat with {partner}.txt"));
    fs::write(&file, text_export_of(&db, &chat.jid, partner, "Mei Chen")).unwrap();
    let mut text = Collect::default();
    let (kind, _) = sources::read(&export, &SourceOptions::default(), &mut text).unwrap();
    assert_eq!(kind, SourceKind::WhatsApp);
    assert!(text.warnings.is_empty(), "{:?}", text.warnings);
    let from_db: Vec<_> = db
        .messages
        .iter()
        .filter(|m| {
            m.conversation == chat.jid && m.kind != MessageKind::Call && !m.details.view_once
        })
        .collect();
    assert_eq!(text.messages.len(), from_db.len(), "the same messages");
    for (t, d) in text.messages.iter().zip(&from_db) {
        let what = format!("{:?} {:?}", d.server_id, d.kind);
        // The same minute (the export has no seconds, and no zone: its wall clock is UTC
        // here), the same direction and author.
        assert_eq!(t.time.millis(), d.time.millis() / 60_000 * 60_000, "{what}");
        assert_eq!(t.from_me, d.from_me, "{what}");
        if !d.from_me {
            assert_eq!(t.sender_name.as_deref(), Some(partner), "{what}");
        }
        // A text export shows a quote's or a template message's text as plain text.
        let same_kind = match d.kind {
            MessageKind::Quote | MessageKind::Other => MessageKind::Text,
            k => k,
        };
        // "<Media omitted>" does not say which kind of file was left out.
        let omitted = d.media.as_ref().is_some_and(|m| !m.present);
        if !omitted {
            assert_eq!(t.kind, same_kind, "{what}: {}", t.text);
        }
        match d.kind {
            MessageKind::Text | MessageKind::Quote => assert_eq!(t.text, d.text, "{what}"),
            MessageKind::Location => assert_eq!(
                t.details.place.as_ref().map(|p| (p.latitude, p.longitude)),
                d.details.place.as_ref().map(|p| (p.latitude, p.longitude)),
                "{what}"
            ),
            MessageKind::Poll => {
                let (tp, dp) = (
                    t.details.poll.as_ref().unwrap(),
                    d.details.poll.as_ref().unwrap(),
                );
                assert_eq!(tp.question, dp.question, "{what}");
                assert_eq!(tp.answers, dp.answers, "{what}");
            }
            // Both name a file (the export's files were not copied beside it).
            MessageKind::Image | MessageKind::File => {
                assert_eq!(t.media.is_some(), d.media.is_some(), "{what}")
            }
            _ => {}
        }
        assert_eq!(t.edited, d.edited, "{what}");
    }
}
