//! Copies between linked local repositories: only what the target lacks is sent, a second
//! run sends nothing, copies restore byte-identical with the target's password alone.

use std::path::Path;
use std::sync::Arc;

use chatvault_core::chat::summary_of;
use chatvault_core::storage::LocalStorage;
use chatvault_core::{
    BackupOptions, CancelToken, Error, InitOptions, KdfParams, ReadData, Repository,
    RestoreOptions, Secret, SourceOptions,
};
use chatvault_fixtures::{add_day, compare_trees, generate_export, ExportSpec};

fn opts(linked: Option<chatvault_core::LinkParams>) -> InitOptions {
    InitOptions {
        kdf: KdfParams {
            memory_kib: 8 * 1024,
            iterations: 1,
            parallelism: 1,
        },
        pack_size: 1024 * 1024,
        recovery_key: false,
        linked_to: linked,
    }
}

fn init(dir: &Path, pw: &str, linked: Option<chatvault_core::LinkParams>) -> Repository {
    Repository::init(Arc::new(LocalStorage::new(dir)), pw, &opts(linked))
        .unwrap()
        .0
}

#[test]
fn copy_sends_only_what_is_missing_and_restores_with_the_targets_password() {
    let tmp = tempfile::tempdir().unwrap();
    let cancel = CancelToken::new();
    let phone = init(&tmp.path().join("phone"), "phone pw", None);
    let export = tmp.path().join("export");
    let facts = generate_export(&export, &ExportSpec::small()).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/wechat-android-small");
    let backup = |path: &Path, kind: Option<&str>| {
        let source = SourceOptions {
            kind: kind.map(|k| k.parse().unwrap()),
            ..Default::default()
        };
        chatvault_core::chat::backup_source(
            &phone,
            path,
            &source,
            &BackupOptions::default(),
            Some(tmp.path()),
            None,
            &cancel,
        )
        .unwrap();
    };
    backup(&export, Some("folder"));
    backup(&fixture, None);
    let phone_chats = summary_of(&phone.find_snapshot("latest").unwrap()).unwrap();

    // An unlinked destination is refused with a clear message.
    let stranger = init(&tmp.path().join("stranger"), "x", None);
    let e = phone
        .copy_to(&stranger, &phone.snapshots().unwrap(), None, &cancel)
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument(ref m) if m.contains("not linked")),
        "{e}"
    );
    assert!(stranger.snapshots().unwrap().is_empty());

    let pc = init(&tmp.path().join("pc"), "pc pw", Some(phone.link_params()));
    let first = phone
        .copy_to(&pc, &phone.snapshots().unwrap(), None, &cancel)
        .unwrap();
    assert_eq!(first.snapshots_copied, 2);
    assert!(first.blobs_copied > 0);

    // Again: nothing to send.
    let again = phone
        .copy_to(&pc, &phone.snapshots().unwrap(), None, &cancel)
        .unwrap();
    assert_eq!(
        (
            again.snapshots_copied,
            again.snapshots_skipped,
            again.blobs_copied
        ),
        (0, 2, 0)
    );

    // A day later: only the day's new data travels.
    add_day(&facts, 50, 2, 1).unwrap();
    backup(&export, Some("folder"));
    let day = phone
        .copy_to(&pc, &phone.snapshots().unwrap(), None, &cancel)
        .unwrap();
    assert_eq!(day.snapshots_copied, 1);
    assert!(
        day.bytes_copied * 3 < first.bytes_copied,
        "day copy {} vs first {}",
        day.bytes_copied,
        first.bytes_copied
    );

    // The copies stand alone: the PC opens them with its own password, checks every byte,
    // restores them identical, and still has the chat index and summary.
    drop(phone);
    let pc = Repository::open(
        Arc::new(LocalStorage::new(tmp.path().join("pc"))),
        &Secret::password("pc pw"),
    )
    .unwrap();
    assert!(matches!(
        Repository::open(
            Arc::new(LocalStorage::new(tmp.path().join("pc"))),
            &Secret::password("phone pw")
        ),
        Err(Error::WrongPassword)
    ));
    let report = pc.check(ReadData::All, None, &cancel).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let snaps = pc.snapshots().unwrap();
    assert_eq!(snaps.len(), 3);
    assert!(snaps.iter().all(|s| s.original.is_some()));
    let wechat = snaps
        .iter()
        .find(|s| s.source.kind == "wechat-android")
        .unwrap();
    // Listed, a snapshot comes without its chat summary (a year of nightly summaries
    // would not fit a phone's memory); the copy holds it whole, as the phone's does.
    assert!(wechat.extra.as_ref().is_some_and(|m| m.left_out()));
    assert_eq!(
        summary_of(&pc.full_snapshot(wechat).unwrap()).as_ref(),
        Some(&phone_chats)
    );
    assert_eq!(
        summary_of(&pc.find_snapshot(&wechat.id.to_hex()).unwrap()).as_ref(),
        Some(&phone_chats)
    );
    let out = tmp.path().join("restored-wechat");
    pc.restore(wechat, &out, &RestoreOptions::default(), None, &cancel)
        .unwrap();
    assert!(compare_trees(&fixture, &out.join("wechat-android-small"))
        .unwrap()
        .is_empty());
    let chats = chatvault_core::chat::open_chats(&pc, wechat, Some(tmp.path())).unwrap();
    assert!(!chats.search("明天见", None, 5).unwrap().is_empty());
    let latest = pc.find_snapshot("latest").unwrap();
    let out = tmp.path().join("restored-export");
    pc.restore(&latest, &out, &RestoreOptions::default(), None, &cancel)
        .unwrap();
    assert!(compare_trees(&export, &out.join("export"))
        .unwrap()
        .is_empty());
}
