//! WhatsApp for iPhone (`ChatStorage.sqlite`), end to end: our generator writes the app
//! group (Core Data tables laid out as the format's public documentation describes), our
//! reader reads it from the folder and from iPhone backups (plain and encrypted) with exact
//! facts, and an independent reader, PyPI's whatsapp-chat-exporter (installed by
//! scripts/test.sh), reads the same database: its counts per chat, senders' direction,
//! texts and replies must equal ours. A missing tool fails the test with the install command.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use chatvault_core::sources::model::{ConversationKind, MessageKind, Timestamp};
use chatvault_core::sources::{self, SourceKind, SourceOptions};
use chatvault_fixtures::iphone_backup::{self, BackupSpec};
use chatvault_fixtures::whatsapp_exporter;
use chatvault_fixtures::whatsapp_ios::{generate, WaIosFacts};
use common::Collect;

const GROUP: &str = "AppDomainGroup-group.net.whatsapp.WhatsApp.shared";
const PER_CHAT: usize = 24;
const PASSWORD: &str = "backup pässword 密码";

fn read(path: &Path, opts: &SourceOptions) -> Collect {
    let mut c = Collect::default();
    let (kind, _) = sources::read(path, opts, &mut c).unwrap();
    assert_eq!(kind, SourceKind::WhatsAppIos);
    c
}

/// Every fact the generator wrote, found in what the reader reported. `in_backup`: media
/// paths are the backup's stored names, so they are checked by presence counts.
fn check_facts(c: &Collect, facts: &WaIosFacts, in_backup: bool) {
    assert_eq!(c.messages.len(), facts.messages, "{:?}", c.warnings);
    // Every media file's size as WhatsApp recorded it (ZWAMEDIAITEM.ZFILESIZE).
    let with_media: Vec<_> = c.messages.iter().filter(|m| m.media.is_some()).collect();
    assert!(!with_media.is_empty());
    for m in with_media {
        assert_eq!(m.details.size_bytes, Some(1234), "{m:?}");
    }
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
            assert_eq!(conv.members.len(), 3, "{:?}", conv.members);
        }
        let msgs: Vec<_> = c
            .messages
            .iter()
            .filter(|m| m.conversation == chat.jid)
            .collect();
        assert_eq!(msgs.len(), chat.messages, "{}", chat.jid);
        let mut senders: Vec<String> = msgs.iter().filter_map(|m| m.sender_name.clone()).collect();
        senders.sort();
        senders.dedup();
        let mut want = chat.sender_names.clone();
        want.sort();
        assert_eq!(senders, want, "{}", chat.jid);
    }
    assert_eq!(
        c.messages.iter().filter(|m| m.from_me).count(),
        facts.from_me
    );
    let by_id = |id: &str| {
        c.messages
            .iter()
            .find(|m| m.server_id.as_deref() == Some(id))
            .unwrap_or_else(|| panic!("no message {id}"))
    };
    for (id, ms) in &facts.times {
        assert_eq!(by_id(id).time, Timestamp::Utc(*ms), "{id}");
    }
    for (id, text) in &facts.texts {
        assert_eq!(&by_id(id).text, text, "{id}");
    }
    let media: Vec<_> = c.messages.iter().filter_map(|m| m.media.as_ref()).collect();
    assert_eq!(
        media.len(),
        facts.media_present.len() + facts.media_missing.len()
    );
    assert_eq!(
        media.iter().filter(|m| m.present).count(),
        facts.media_present.len()
    );
    if !in_backup {
        for p in &facts.media_present {
            assert!(
                media
                    .iter()
                    .any(|m| m.present && m.path.ends_with(p.as_str())),
                "{p}"
            );
        }
        for p in &facts.media_missing {
            assert!(
                media
                    .iter()
                    .any(|m| !m.present && m.path.ends_with(p.as_str())),
                "{p}"
            );
        }
    }
    for (id, quoted) in &facts.quotes {
        let m = by_id(id);
        assert_eq!(m.reply_to.as_deref(), Some(quoted.as_str()), "{id}");
        assert_eq!(m.kind, MessageKind::Quote);
        let q = m.quote.as_deref().unwrap_or("");
        assert!(
            q.starts_with("message 0") || q == "the quoted words",
            "{id}: {q}"
        );
    }
    for (id, emoji, who) in &facts.reactions {
        let r = by_id(id)
            .details
            .reactions
            .iter()
            .find(|r| &r.emoji == emoji);
        let r = r.unwrap_or_else(|| panic!("{id}: no {emoji}"));
        assert!(
            r.from.contains(who),
            "{id}: {emoji} from {:?}, want {who}",
            r.from
        );
    }
    let kinds = |k: MessageKind| c.messages.iter().filter(|m| m.kind == k).count();
    assert_eq!(kinds(MessageKind::Revoke), facts.revokes);
    assert_eq!(kinds(MessageKind::System), facts.system);
    assert_eq!(kinds(MessageKind::Call), facts.calls);
    let places: Vec<_> = c
        .messages
        .iter()
        .filter_map(|m| m.details.place.as_ref())
        .collect();
    assert_eq!(places.len(), facts.locations.len());
    for (lat, lon, title) in &facts.locations {
        assert!(places.iter().any(|p| p.latitude == Some(*lat)
            && p.longitude == Some(*lon)
            && p.title.as_deref() == Some(title.as_str())));
    }
    let cards: Vec<_> = c
        .messages
        .iter()
        .filter(|m| m.kind == MessageKind::ContactCard)
        .collect();
    assert_eq!(cards.len(), facts.vcards.len());
    for fname in &facts.vcards {
        assert!(cards.iter().any(|m| &m.text == fname), "{fname}");
    }
    let polls: Vec<_> = c
        .messages
        .iter()
        .filter_map(|m| m.details.poll.as_ref())
        .collect();
    assert_eq!(polls.len(), facts.polls.len());
    for (q, options) in &facts.polls {
        let p = polls.iter().find(|p| &p.question == q).unwrap();
        let got: Vec<_> = p.answers.iter().map(|a| a.text.clone()).collect();
        assert_eq!(&got, options);
    }
    assert!(
        c.messages.iter().any(|m| m.details.view_once),
        "the view-once photo"
    );
    // Names from the address book (by number and by privacy id) and push names.
    assert!(c.contacts.iter().any(|k| k.name == "Carl Müller"));
}

#[test]
fn an_app_group_folder_reads_with_exact_facts() {
    let tmp = tempfile::tempdir().unwrap();
    let facts = generate(&tmp.path().join(GROUP), PER_CHAT).unwrap();
    // Detected from the folder that holds the app group, and from the database itself.
    assert_eq!(
        sources::detect(tmp.path()).unwrap(),
        SourceKind::WhatsAppIos
    );
    assert_eq!(
        sources::detect(&tmp.path().join(GROUP).join("ChatStorage.sqlite")).unwrap(),
        SourceKind::WhatsAppIos
    );
    let c = read(tmp.path(), &SourceOptions::default());
    check_facts(&c, &facts, false);
    // Paths are relative to the folder picked.
    let m = c.messages.iter().find_map(|m| m.media.as_ref()).unwrap();
    assert!(
        m.path.starts_with(&format!("{GROUP}/Message/Media/")),
        "{}",
        m.path
    );
}

#[test]
fn plain_and_encrypted_iphone_backups_read_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    let facts = generate(&tree, PER_CHAT).unwrap();
    for password in [None, Some(PASSWORD)] {
        let backup = tmp.path().join(format!("backup-{}", password.is_some()));
        let bf =
            iphone_backup::write_backup(&tree, &backup, &BackupSpec::whatsapp(password)).unwrap();
        assert_eq!(sources::detect(&backup).unwrap(), SourceKind::WhatsAppIos);
        let work = tmp.path().join(format!("work-{}", password.is_some()));
        fs::create_dir_all(&work).unwrap();
        let opts = SourceOptions {
            iphone_backup_password: password.map(str::to_string),
            work_dir: Some(work.clone()),
            ..Default::default()
        };
        let c = read(&backup, &opts);
        check_facts(&c, &facts, true);
        // Media paths name the backup's stored files.
        for p in &facts.media_present {
            let id = bf.file_id(p).unwrap();
            let stored = format!("{}/{id}", &id[..2]);
            assert!(
                c.messages.iter().any(|m| m
                    .media
                    .as_ref()
                    .is_some_and(|x| x.path == stored && x.present)),
                "{p} as {stored}"
            );
            // An encrypted backup's media come with their keys (for restores); a plain
            // one's with none.
            assert_eq!(
                c.media_keys.contains(&stored),
                password.is_some(),
                "{p}: key given for {stored}"
            );
        }
        let left: Vec<_> = walk(&work);
        assert!(left.is_empty(), "decrypted files left behind: {left:?}");
    }
    // A wrong password is the typed error, naming the backup.
    let backup = tmp.path().join("backup-true");
    let opts = SourceOptions {
        iphone_backup_password: Some("wrong".into()),
        ..Default::default()
    };
    let mut c = Collect::default();
    let err = sources::read(&backup, &opts, &mut c).unwrap_err();
    assert!(
        matches!(err, chatvault_core::Error::WrongBackupPassword { .. }),
        "{err}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn an_independent_reader_agrees_on_every_chat() {
    let tmp = tempfile::tempdir().unwrap();
    let group = tmp.path().join(GROUP);
    let facts = generate(&group, PER_CHAT).unwrap();
    let ours = read(tmp.path(), &SourceOptions::default());
    let scratch = tmp.path().join("exporter");
    fs::create_dir_all(&scratch).unwrap();
    let copy = scratch.join("group");
    chatvault_fixtures::copy_tree(&group, &copy).unwrap();
    let theirs = whatsapp_exporter::run(
        &[
            "-i".into(),
            "-d".into(),
            copy.join("ChatStorage.sqlite").into(),
            "-w".into(),
            copy.join("ContactsV2.sqlite").into(),
            "-m".into(),
            copy.into(),
        ],
        &scratch,
    );
    let theirs = theirs.as_object().expect("a JSON object of chats");
    for chat in &facts.chats {
        let c = common::compare_chat(theirs, &chat.jid, &ours.messages, true);
        // Texts, and the reply theirs reads (from ZMETADATA), were compared.
        assert!(
            c.texts >= PER_CHAT / 2,
            "{}: only {} texts compared",
            chat.jid,
            c.texts
        );
        assert!(c.replies >= 1, "{}: no reply compared", chat.jid);
        if chat.group {
            assert!(c.senders > 0, "{}: theirs names no sender", chat.jid);
        }
    }
}
