//! iPhone (iTunes/Finder) backups holding WeChat: plain and encrypted, two accounts, a
//! wrong password, detection, and the encrypted layout checked by an independent
//! decrypter (PyPI's iphone-backup-decrypt, see tests/iphone-backup/decrypt.py).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use chatvault_core::chat::{ChatIndex, ChatIndexWriter};
use chatvault_core::sources::{self, SourceKind, SourceOptions};
use chatvault_core::{BackupOptions, CancelToken, ChatSummary, Error, Repository};
use chatvault_fixtures::chat_exports::{self, ChatFacts, ChatSpec, NEEDLE};
use chatvault_fixtures::iphone_backup::{self, BackupFacts, BackupSpec, WECHAT_DOMAIN};
use md5::{Digest, Md5};

mod common;

const PASSWORD: &str = "correct horse 电池 staple";
const OWNERS: [&str; 2] = ["wxid_owner", "wxid_second"];

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Two WeChat accounts laid out by path under `tree`, and what each must read as.
fn two_accounts(tree: &Path) -> Vec<ChatFacts> {
    let specs = [
        ChatSpec::small(4),
        ChatSpec {
            messages: 170,
            conversations: 4,
            ..ChatSpec::small(9)
        },
    ];
    OWNERS
        .iter()
        .zip(specs)
        .map(|(owner, spec)| chat_exports::wechat_ios_account(tree, &spec, owner).unwrap())
        .collect()
}

/// Messages by conversation id as a multi-account read names them (`<account>:<peer>`).
fn expected(facts: &[ChatFacts]) -> BTreeMap<String, u64> {
    OWNERS
        .iter()
        .zip(facts)
        .flat_map(|(owner, f)| {
            let acct = md5_hex(owner);
            f.by_conversation
                .iter()
                .map(move |(peer, n)| (format!("{acct}:{peer}"), *n))
        })
        .collect()
}

fn read(
    root: &Path,
    opts: &SourceOptions,
    work: &Path,
) -> chatvault_core::Result<(ChatSummary, ChatIndex)> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = work.join(format!("index-{n}.sqlite"));
    let mut w = ChatIndexWriter::create(&path)?;
    let (kind, _) = sources::read(root, opts, &mut w)?;
    let summary = w.finish(kind.as_str())?;
    Ok((summary, ChatIndex::open(&path)?))
}

/// The read gives every account's conversations with the generator's exact counts.
fn assert_accounts(summary: &ChatSummary, index: &ChatIndex, facts: &[ChatFacts]) {
    let got: BTreeMap<String, u64> = summary
        .conversations
        .iter()
        .map(|c| (c.id.clone(), c.messages))
        .collect();
    let want = expected(facts);
    assert_eq!(got, want);
    for owner in OWNERS {
        let acct = md5_hex(owner);
        let per: u64 = got
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{acct}:")))
            .map(|(_, n)| n)
            .sum();
        let f = &facts[OWNERS.iter().position(|o| *o == owner).unwrap()];
        assert_eq!(per, f.messages(), "messages of {owner}");
    }
    assert_eq!(
        summary.messages,
        facts.iter().map(ChatFacts::messages).sum::<u64>()
    );
    assert_eq!(
        summary.media_present,
        facts.iter().map(|f| f.media_present).sum::<u64>()
    );
    assert_eq!(
        summary.media_missing,
        facts.iter().map(|f| f.media_missing).sum::<u64>()
    );
    let hits = index.search(NEEDLE, None, 1_000_000).unwrap();
    assert_eq!(
        hits.len() as u64,
        facts.iter().map(|f| f.needle_hits).sum::<u64>()
    );
    // Each account's people: WeChat Work contacts, strangers, groups, the owner.
    for owner in OWNERS {
        common::assert_wechat_ios_people(index, &format!("{}:", md5_hex(owner)), owner);
    }
    // The export's owner (the first account in path order) is named by LoginInfo2.dat.
    let first = OWNERS.iter().min_by_key(|o| md5_hex(o)).unwrap();
    assert_eq!(
        summary.account.name,
        chat_exports::wechat_ios_owner_name(first)
    );
}

/// Media paths of a backup read are the stored files (`xx/<fileID>`) and exist there.
fn assert_media_stored(index: &ChatIndex, backup: &Path, bf: &BackupFacts) {
    let mut seen = 0;
    for c in index.conversations().unwrap() {
        for p in index.media_paths(&c.id).unwrap() {
            let (dir, id) = p.split_once('/').unwrap_or(("", ""));
            if id.len() == 40 && id.starts_with(dir) {
                assert!(backup.join(&p).is_file(), "{p}");
                assert!(bf.files.iter().any(|(_, f)| f == id), "{p}");
                seen += 1;
            }
        }
    }
    assert!(seen > 0, "no media path points into the backup");
}

fn work_is_empty(work: &Path) -> bool {
    fs::read_dir(work).unwrap().next().is_none()
}

#[test]
fn plain_backup_with_two_accounts() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    let facts = two_accounts(&tree);
    // The folder laid out by path reads both accounts too.
    let (summary, index) = read(&tree, &SourceOptions::default(), tmp.path()).unwrap();
    assert_accounts(&summary, &index, &facts);

    let backup = tmp.path().join("backup");
    let bf = iphone_backup::write_backup(&tree, &backup, &BackupSpec::wechat(None)).unwrap();
    assert!(bf
        .file_id(&format!("Documents/{}/DB/MM.sqlite", md5_hex(OWNERS[1])))
        .is_some());
    assert_eq!(sources::detect(&backup).unwrap(), SourceKind::WeChatIos);
    let (summary, index) = read(&backup, &SourceOptions::default(), tmp.path()).unwrap();
    assert_accounts(&summary, &index, &facts);
    assert_media_stored(&index, &backup, &bf);
    // Names come from each account's contacts.
    let names: Vec<&str> = summary
        .conversations
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert!(
        names.contains(&"备注0") && names.contains(&"朋友1"),
        "{names:?}"
    );
    // The owner is the first account in path order.
    let mut accounts: Vec<String> = OWNERS.iter().map(|o| md5_hex(o)).collect();
    accounts.sort();
    assert_eq!(summary.account.id, accounts[0]);
}

#[test]
fn encrypted_backup_reads_the_same_and_leaves_no_plaintext() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    let facts = two_accounts(&tree);
    let backup = tmp.path().join("backup");
    let bf =
        iphone_backup::write_backup(&tree, &backup, &BackupSpec::wechat(Some(PASSWORD))).unwrap();
    // Nothing of the plaintext is in the backup.
    let mm = format!("Documents/{}/DB/MM.sqlite", md5_hex(OWNERS[0]));
    let id = bf.file_id(&mm).unwrap();
    let stored = fs::read(backup.join(&id[..2]).join(id)).unwrap();
    assert!(!stored.starts_with(b"SQLite format 3"));
    assert!(!fs::read(backup.join("Manifest.db"))
        .unwrap()
        .starts_with(b"SQLite format 3"));

    // Detected without the password (Manifest.plist lists WeChat).
    assert_eq!(sources::detect(&backup).unwrap(), SourceKind::WeChatIos);
    let work = tmp.path().join("work");
    fs::create_dir_all(&work).unwrap();
    let opts = SourceOptions {
        iphone_backup_password: Some(PASSWORD.into()),
        work_dir: Some(work.clone()),
        ..Default::default()
    };
    let out = tmp.path().join("out");
    fs::create_dir_all(&out).unwrap();
    let (summary, index) = read(&backup, &opts, &out).unwrap();
    assert_accounts(&summary, &index, &facts);
    assert_media_stored(&index, &backup, &bf);
    assert!(work_is_empty(&work), "decrypted files left in {work:?}");
}

fn repo(dir: &Path) -> Repository {
    common::new_repo(dir, "pw")
}

/// Backs up the iPhone backup `backup` into `repo` as a chat export, opened with
/// `password`, its temporary files under `work`.
fn back_up(
    repo: &Repository,
    backup: &Path,
    password: Option<&str>,
    work: &Path,
) -> chatvault_core::Result<chatvault_core::SourceBackup> {
    let source = SourceOptions {
        iphone_backup_password: password.map(str::to_string),
        work_dir: Some(work.to_path_buf()),
        ..Default::default()
    };
    chatvault_core::chat::backup_source(
        repo,
        backup,
        &source,
        &BackupOptions::default(),
        Some(work),
        None,
        &CancelToken::new(),
    )
}

#[test]
fn wrong_or_missing_password_is_its_own_error_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    chat_exports::wechat_ios(&tree, &ChatSpec::small(2)).unwrap();
    let backup = tmp.path().join("backup");
    iphone_backup::write_backup(&tree, &backup, &BackupSpec::wechat(Some(PASSWORD))).unwrap();
    let repo = repo(&tmp.path().join("repo"));
    let work = tmp.path().join("work");
    fs::create_dir_all(&work).unwrap();
    for (password, given) in [(Some("wrong password"), true), (None, false)] {
        let e = back_up(&repo, &backup, password, &work)
            .map(|_| ())
            .unwrap_err();
        match &e {
            Error::WrongBackupPassword { path, given: g } => {
                assert_eq!(path, &backup);
                assert_eq!(*g, given);
            }
            other => panic!("expected WrongBackupPassword, got {other}"),
        }
        let msg = e.to_string();
        assert!(
            msg.contains("iPhone backup") && msg.contains(&backup.display().to_string()),
            "{msg}"
        );
        assert!(
            repo.snapshots().unwrap().is_empty(),
            "a snapshot was written"
        );
        assert!(work_is_empty(&work), "files left in {work:?}");
    }
    // The right one backs it up.
    let done = back_up(&repo, &backup, Some(PASSWORD), &work).unwrap();
    assert_eq!(done.kind, SourceKind::WeChatIos);
    assert_eq!(repo.snapshots().unwrap().len(), 1);
    assert!(work_is_empty(&work), "files left in {work:?}");
}

#[test]
fn a_backup_without_wechat_is_a_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    fs::create_dir_all(tree.join("Library")).unwrap();
    fs::write(tree.join("Library/notes.txt"), b"hello").unwrap();
    for password in [None, Some(PASSWORD)] {
        let backup = tmp.path().join(format!("backup-{}", password.is_some()));
        let spec = BackupSpec {
            domain: "HomeDomain".into(),
            bundle: "com.example.notes".into(),
            ..BackupSpec::wechat(password)
        };
        iphone_backup::write_backup(&tree, &backup, &spec).unwrap();
        assert_eq!(sources::detect(&backup).unwrap(), SourceKind::Folder);
    }
}

/// The encrypted layout is real: PyPI's iphone-backup-decrypt (an independent
/// implementation) decrypts our Manifest.db and a WeChat database to the generator's bytes.
#[test]
fn independent_decrypter_reads_the_encrypted_fixture() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    chat_exports::wechat_ios(&tree, &ChatSpec::small(5)).unwrap();
    let backup = tmp.path().join("backup");
    let bf =
        iphone_backup::write_backup(&tree, &backup, &BackupSpec::wechat(Some(PASSWORD))).unwrap();
    let pw_file = tmp.path().join("password");
    fs::write(&pw_file, PASSWORD).unwrap();
    let out = tmp.path().join("decrypted");
    let rel = format!("Documents/{}/DB/MM.sqlite", md5_hex("wxid_owner"));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("iphone-backup/decrypt.py");
    let run = Command::new("python3")
        .arg(&script)
        .arg(&backup)
        .arg(&pw_file)
        .arg(&out)
        .arg(WECHAT_DOMAIN)
        .arg(&rel)
        .output()
        .expect("python3 must be installed to run the independent iPhone backup decrypter");
    let stderr = String::from_utf8_lossy(&run.stderr);
    if run.status.code() == Some(3) || stderr.contains("No module named") {
        panic!(
            "the independent decrypter is missing: install it with \
             `python3 -m pip install iphone-backup-decrypt==0.11.2` (scripts/test.sh does)\n{stderr}"
        );
    }
    assert!(run.status.success(), "decrypt.py failed: {stderr}");
    assert_eq!(
        fs::read(out.join("Manifest.db")).unwrap(),
        bf.manifest_plain,
        "Manifest.db decrypted by iphone-backup-decrypt"
    );
    assert_eq!(
        fs::read(out.join("file")).unwrap(),
        fs::read(tree.join(&rel)).unwrap(),
        "MM.sqlite decrypted by iphone-backup-decrypt"
    );
}

/// Every media file under `dir` (stored as `xx/<fileID>`, an encrypted backup's file)
/// holds its plaintext: the file at that id's path in `tree`. Returns how many were checked.
fn assert_plaintext_media(dir: &Path, tree: &Path, bf: &BackupFacts) -> usize {
    let mut checked = 0;
    for (rel, id) in &bf.files {
        let got = dir.join(&id[..2]).join(id);
        if got.is_file() {
            let want = fs::read(tree.join(rel)).unwrap();
            assert!(
                fs::read(&got).unwrap() == want,
                "{rel} restored as stored, not decrypted"
            );
            checked += 1;
        }
    }
    checked
}

/// A chat restored or exported from a snapshot of an encrypted backup has its photos and
/// voice messages decrypted (the snapshot keeps the backup's files as they are: encrypted),
/// without asking for the backup's password again.
#[test]
fn encrypted_backup_media_restore_and_export_decrypted() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    chat_exports::wechat_ios(&tree, &ChatSpec::small(6)).unwrap();
    let backup = tmp.path().join("backup");
    let bf =
        iphone_backup::write_backup(&tree, &backup, &BackupSpec::wechat(Some(PASSWORD))).unwrap();
    let repo = repo(&tmp.path().join("repo"));
    let work = tmp.path().join("work");
    fs::create_dir_all(&work).unwrap();
    back_up(&repo, &backup, Some(PASSWORD), &work).unwrap();
    let snapshot = repo.snapshots().unwrap().remove(0);
    let chats = chatvault_core::chat::open_chats(&repo, &snapshot, Some(&work)).unwrap();
    let with_media: Vec<String> = chats
        .conversations()
        .unwrap()
        .into_iter()
        .filter(|c| !chats.media_paths(&c.id).unwrap().is_empty())
        .map(|c| c.id)
        .collect();
    assert!(!with_media.is_empty());
    let keys: i64 = chats
        .connection()
        .query_row("SELECT count(*) FROM media_keys", [], |r| r.get(0))
        .unwrap();
    assert!(keys > 0, "the index holds the encrypted media's keys");
    drop(chats);

    // One chat restored: each of its media files decrypted.
    let mut restored = 0;
    for (i, id) in with_media.iter().enumerate() {
        let target = tmp.path().join(format!("restore-{i}"));
        chatvault_core::chat::restore_conversation(
            &repo,
            &snapshot,
            id,
            &target,
            Some(&work),
            None,
            &CancelToken::new(),
        )
        .unwrap();
        restored += assert_plaintext_media(&target.join("backup"), &tree, &bf);
    }
    assert!(restored > 0, "no media restored");

    // The HTML export's media too.
    let out = tmp.path().join("site");
    let summary = chatvault_core::export::export_chats(
        &repo,
        &snapshot,
        &out,
        &chatvault_core::ExportOptions::default(),
        Some(&work),
        None,
        &CancelToken::new(),
    )
    .unwrap();
    let exported = assert_plaintext_media(&out.join("media").join("backup"), &tree, &bf);
    assert_eq!(exported as u64, summary.media_files);
    assert!(exported >= restored.min(1));
}

/// Backups made by iOS 9 and earlier (`Manifest.mbdb`, files stored flat as `<fileID>`)
/// read like current ones; an encrypted one of that age is refused with a clear reason.
#[test]
fn older_backups_indexed_by_manifest_mbdb() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    let facts = two_accounts(&tree);
    let backup = tmp.path().join("backup");
    let spec = BackupSpec {
        mbdb: true,
        ..BackupSpec::wechat(None)
    };
    let bf = iphone_backup::write_backup(&tree, &backup, &spec).unwrap();
    assert!(backup.join("Manifest.mbdb").is_file() && !backup.join("Manifest.db").exists());
    assert_eq!(sources::detect(&backup).unwrap(), SourceKind::WeChatIos);
    let (summary, index) = read(&backup, &SourceOptions::default(), tmp.path()).unwrap();
    assert_accounts(&summary, &index, &facts);
    // Media paths are the flat stored files.
    let mut seen = 0;
    for c in index.conversations().unwrap() {
        for p in index.media_paths(&c.id).unwrap() {
            assert!(bf.files.iter().any(|(_, id)| *id == p), "{p}");
            assert!(backup.join(&p).is_file(), "{p}");
            seen += 1;
        }
    }
    assert!(seen > 0);

    // The same backup marked encrypted: refused, naming the format.
    let plist = backup.join("Manifest.plist");
    let mut manifest = plist::Value::from_file(&plist).unwrap();
    manifest
        .as_dictionary_mut()
        .unwrap()
        .insert("IsEncrypted".into(), plist::Value::Boolean(true));
    manifest.to_file_binary(&plist).unwrap();
    let opts = SourceOptions {
        iphone_backup_password: Some(PASSWORD.into()),
        ..Default::default()
    };
    let e = read(&backup, &opts, tmp.path()).map(|_| ()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("iOS 9 and earlier") && msg.contains("Manifest.mbdb"),
        "{msg}"
    );
}

/// `--account` (SourceOptions::wechat_account) reads one account of several, by WeChat id
/// or folder name, its conversations named as a one-account export's; an unknown one is a
/// clear error naming those there are.
#[test]
fn one_account_of_several_by_id_or_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    let facts = two_accounts(&tree);
    let backup = tmp.path().join("backup");
    iphone_backup::write_backup(&tree, &backup, &BackupSpec::wechat(Some(PASSWORD))).unwrap();
    for root in [&tree, &backup] {
        for wanted in [OWNERS[1].to_string(), md5_hex(OWNERS[1])] {
            let opts = SourceOptions {
                iphone_backup_password: Some(PASSWORD.into()),
                wechat_account: Some(wanted.clone()),
                ..Default::default()
            };
            let (summary, index) = read(root, &opts, tmp.path()).unwrap();
            let got: BTreeMap<String, u64> = summary
                .conversations
                .iter()
                .map(|c| (c.id.clone(), c.messages))
                .collect();
            assert_eq!(got, facts[1].by_conversation, "{wanted} in {root:?}");
            assert_eq!(summary.account.id, md5_hex(OWNERS[1]));
            common::assert_wechat_ios_people(&index, "", OWNERS[1]);
        }
        let opts = SourceOptions {
            iphone_backup_password: Some(PASSWORD.into()),
            wechat_account: Some("wxid_nobody".into()),
            ..Default::default()
        };
        let e = read(root, &opts, tmp.path()).map(|_| ()).unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, Error::InvalidArgument(_))
                && msg.contains("wxid_nobody")
                && msg.contains(&format!(
                    "{} ({})",
                    OWNERS[0],
                    chat_exports::wechat_ios_owner_name(OWNERS[0])
                )),
            "{msg}"
        );
    }
}
