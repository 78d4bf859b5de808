//! Engine properties, through the library API on a local repository.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chatvault_core::storage::{LocalStorage, Storage};
use chatvault_core::{
    BackupOptions, BlobKind, CancelToken, Error, InitOptions, KdfParams, Phase, Progress,
    ProgressListener, PruneOptions, ReadData, Repository, RestoreOptions, RetentionPolicy, Secret,
};
use chatvault_fixtures::{
    add_day, compare_trees, generate_export, random_files, random_tree, ExportSpec,
};

const PASSWORD: &str = "correct horse battery staple";

fn fast_kdf() -> KdfParams {
    KdfParams {
        memory_kib: 8 * 1024,
        iterations: 1,
        parallelism: 1,
    }
}

fn new_repo(dir: &Path) -> Repository {
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir));
    let opts = InitOptions {
        kdf: fast_kdf(),
        pack_size: 1024 * 1024,
        recovery_key: false,
        linked_to: None,
    };
    Repository::init(storage, PASSWORD, &opts).unwrap().0
}

fn open(dir: &Path, pw: &str) -> chatvault_core::Result<Repository> {
    Repository::open(Arc::new(LocalStorage::new(dir)), &Secret::password(pw))
}

fn backup(repo: &Repository, path: &Path) -> chatvault_core::Snapshot {
    let r = repo
        .backup(
            &[path.to_path_buf()],
            &BackupOptions::default(),
            None,
            &CancelToken::new(),
        )
        .unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    r.snapshot
}

fn restore_and_compare(repo: &Repository, snap: &chatvault_core::Snapshot, original: &Path) {
    let out = tempfile::tempdir().unwrap();
    repo.restore(
        snap,
        out.path(),
        &RestoreOptions::default(),
        None,
        &CancelToken::new(),
    )
    .unwrap();
    let name = original.file_name().unwrap();
    let diffs = compare_trees(original, &out.path().join(name)).unwrap();
    assert!(diffs.is_empty(), "restore differs: {diffs:#?}");
}

fn assert_check_clean(repo: &Repository) {
    let report = repo
        .check(ReadData::All, None, &CancelToken::new())
        .unwrap();
    assert!(report.is_ok(), "check found errors: {:#?}", report.errors);
}

#[test]
fn random_trees_round_trip_byte_identical() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("tree");
    random_tree(&root, 42, 150).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::write(root.join("script.sh"), b"#!/bin/sh\necho hi\n").unwrap();
        fs::set_permissions(root.join("script.sh"), fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::symlink("script.sh", root.join("link")).unwrap();
    }
    filetime::set_file_mtime(
        root.join("empty.txt").parent().unwrap(),
        filetime::FileTime::from_unix_time(1_500_000_000, 123),
    )
    .ok();
    let repo_dir = tempfile::tempdir().unwrap();
    let repo = new_repo(repo_dir.path());
    let snap = backup(&repo, &root);
    assert_eq!(snap.summary.files, 152);
    restore_and_compare(&repo, &snap, &root);
    // The same data backed up again with other thread counts yields the very same tree.
    for threads in [1, 2] {
        let opts = BackupOptions {
            threads,
            force_read: true,
            ..Default::default()
        };
        let again = repo
            .backup(
                std::slice::from_ref(&root),
                &opts,
                None,
                &CancelToken::new(),
            )
            .unwrap()
            .snapshot;
        assert_eq!(again.tree, snap.tree);
        assert_eq!(again.summary.blobs_added, 0, "nothing new to store");
    }
    assert_check_clean(&repo);
}

#[test]
fn multi_gigabyte_sparse_file_round_trips_sparse() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("big");
    fs::create_dir(&root).unwrap();
    let size: u64 = 4 * 1024 * 1024 * 1024 + 12345; // past 4 GiB: no 32-bit offsets in files
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = fs::File::create(root.join("sparse.db")).unwrap();
        f.set_len(size).unwrap();
        for (at, text) in [
            (0u64, &b"head"[..]),
            (size / 2, b"middle"),
            (size - 4, b"tail"),
        ] {
            f.seek(SeekFrom::Start(at)).unwrap();
            f.write_all(text).unwrap();
        }
    }
    fs::write(root.join("zero-bytes"), b"").unwrap();
    let repo_dir = tempfile::tempdir().unwrap();
    let repo = new_repo(repo_dir.path());
    let snap = backup(&repo, &root);
    assert_eq!(snap.summary.bytes, size);
    let stats = repo.stats().unwrap();
    assert!(
        stats.stored_bytes < 2 * 1024 * 1024,
        "zeros deduplicate and compress: {} stored",
        stats.stored_bytes
    );
    let out = tempfile::tempdir().unwrap();
    repo.restore(
        &snap,
        out.path(),
        &RestoreOptions::default(),
        None,
        &CancelToken::new(),
    )
    .unwrap();
    let restored = out.path().join("big/sparse.db");
    assert_eq!(fs::metadata(&restored).unwrap().len(), size);
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let allocated = fs::metadata(&restored).unwrap().blocks() * 512;
        assert!(
            allocated < size / 100,
            "restored file is sparse ({allocated} bytes allocated)"
        );
    }
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = fs::File::open(&restored).unwrap();
        let mut buf = [0u8; 6];
        f.seek(SeekFrom::Start(size / 2)).unwrap();
        f.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"middle");
        f.seek(SeekFrom::Start(size - 4)).unwrap();
        f.read_exact(&mut buf[..4]).unwrap();
        assert_eq!(&buf[..4], b"tail");
    }
    assert_eq!(
        fs::metadata(out.path().join("big/zero-bytes"))
            .unwrap()
            .len(),
        0
    );
}

/// Bytes of pages that differ between two versions of a database (new pages included).
fn changed_page_bytes(old: &[u8], new: &[u8], page: usize) -> u64 {
    new.chunks(page)
        .enumerate()
        .filter(|(i, p)| old.get(i * page..(i + 1) * page) != Some(*p))
        .map(|(_, p)| p.len() as u64)
        .sum()
}

#[test]
fn sqlite_incremental_backup_stores_only_changed_pages() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("export");
    let spec = ExportSpec {
        messages: 100_000,
        media_files: 3,
        ..ExportSpec::small()
    };
    let facts = generate_export(&root, &spec).unwrap();
    let repo_dir = tempfile::tempdir().unwrap();
    let repo = new_repo(repo_dir.path());
    backup(&repo, &root);
    let before = fs::read(&facts.database).unwrap();
    add_day(&facts, 1_000, 0, 1).unwrap(); // +1 % messages, no media
    let after = fs::read(&facts.database).unwrap();
    let changed = changed_page_bytes(&before, &after, 4096);
    let snap = backup(&repo, &root);
    let added = snap.summary.bytes_added;
    let lists = (after.len() as u64).div_ceil(4096 * 256) * 8 * 1024;
    println!(
        "database {} bytes, changed pages {} bytes, backup added {} bytes ({} stored), ratio {:.3}",
        after.len(),
        changed,
        added,
        snap.summary.bytes_stored,
        added as f64 / changed as f64
    );
    assert!(changed > 0 && changed < after.len() as u64 / 2);
    assert!(added >= changed, "every changed page must be stored");
    assert!(
        added <= changed + lists + 64 * 1024,
        "added {added} bytes for {changed} bytes of changed pages"
    );
    assert_eq!(
        snap.summary.files_read, 1,
        "only the database was read again"
    );
    restore_and_compare(&repo, &snap, &root);
}

/// A folder of many files (its tree past the size at which a tree is compressed as it is
/// encoded) and, on Unix, names that are not UTF-8, two of them with one lossy rendering:
/// backed up again, nothing is read or stored; changed, only what changed is read; each
/// file restores with its own bytes.
#[test]
fn wide_folders_and_names_that_are_not_utf8_are_backed_up_again_from_their_trees() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("export");
    let wide = root.join("WhatsApp Images");
    fs::create_dir_all(&wide).unwrap();
    let photos = 8_000;
    for i in 0..photos {
        fs::write(
            wide.join(format!("IMG-20250101-WA{i:06}.jpg")),
            i.to_string(),
        )
        .unwrap();
    }
    let odd = root.join("odd");
    fs::create_dir_all(&odd).unwrap();
    let mut files = photos;
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = |b: &[u8]| std::ffi::OsStr::from_bytes(b).to_os_string();
        // Same size and time, different bytes: each must keep its own content.
        for (n, content) in [
            (&b"y\xff"[..], "one"),
            (b"y\xfe", "two"),
            ("y\u{fffd}".as_bytes(), "six"),
        ] {
            fs::write(odd.join(name(n)), content).unwrap();
        }
        let sub = odd.join(name(b"\xe9t\xe9"));
        fs::create_dir(&sub).unwrap();
        fs::write(sub.join("a"), "a").unwrap();
        files += 4;
        let now = filetime::FileTime::now();
        for entry in fs::read_dir(&odd).unwrap() {
            filetime::set_file_mtime(entry.unwrap().path(), now).unwrap();
        }
    }
    let repo_dir = tempfile::tempdir().unwrap();
    let repo = new_repo(repo_dir.path());
    let first = backup(&repo, &root);
    assert_eq!(first.summary.files_read, files);
    let again = backup(&repo, &root);
    assert_eq!(again.summary.files_read, 0, "nothing changed");
    assert_eq!(
        again.summary.blobs_added, 0,
        "every tree is the same blob again"
    );
    assert_eq!(again.tree, first.tree);
    fs::write(wide.join("IMG-20250101-WA000042.jpg"), "changed").unwrap();
    fs::write(wide.join("IMG-20250102-WA000000.jpg"), "new").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        fs::write(odd.join(std::ffi::OsStr::from_bytes(b"y\xfe")), "TWO").unwrap();
    }
    let later = backup(&repo, &root);
    assert_eq!(later.summary.files_read, if cfg!(unix) { 3 } else { 2 });
    restore_and_compare(&repo, &later, &root);
}

#[test]
fn encrypted_database_with_stated_page_size_is_cut_at_pages() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("wx");
    random_files(&root, 1, 1024 * 300, 5).unwrap();
    let db = fs::read_dir(&root).unwrap().next().unwrap().unwrap().path();
    let repo_dir = tempfile::tempdir().unwrap();
    let repo = new_repo(repo_dir.path());
    let opts = BackupOptions {
        page_sizes: vec![(db.clone(), 1024)],
        ..Default::default()
    };
    repo.backup(
        std::slice::from_ref(&root),
        &opts,
        None,
        &CancelToken::new(),
    )
    .unwrap();
    // Rewrite 3 pages in place, as SQLCipher does.
    let mut data = fs::read(&db).unwrap();
    for p in [3usize, 150, 299] {
        data[p * 1024 + 17] ^= 0xFF;
    }
    fs::write(&db, &data).unwrap();
    let snap = repo
        .backup(
            std::slice::from_ref(&root),
            &opts,
            None,
            &CancelToken::new(),
        )
        .unwrap()
        .snapshot;
    let data_blobs = repo
        .blobs()
        .unwrap()
        .iter()
        .filter(|b| b.kind == BlobKind::Data)
        .count();
    assert_eq!(data_blobs, 300 + 3, "300 pages, then 3 rewritten pages");
    assert!(
        snap.summary.bytes_added < 3 * 1024 + 2 * 8192 + 4096,
        "added {}",
        snap.summary.bytes_added
    );
    restore_and_compare(&repo, &snap, &root);
}

#[test]
fn wrong_password_recovery_key_and_password_change() {
    let repo_dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(repo_dir.path()));
    let opts = InitOptions {
        kdf: fast_kdf(),
        recovery_key: true,
        ..Default::default()
    };
    let (mut repo, recovery) = Repository::init(storage.clone(), PASSWORD, &opts).unwrap();
    let recovery = recovery.unwrap();
    assert!(matches!(
        open(repo_dir.path(), "Correct horse battery staple"),
        Err(Error::WrongPassword)
    ));
    assert!(open(repo_dir.path(), PASSWORD).is_ok());
    assert!(Repository::open(
        storage.clone(),
        &Secret::RecoveryKey(recovery.clone().into())
    )
    .is_ok());
    assert!(
        open(repo_dir.path(), &recovery.to_uppercase()).is_ok(),
        "a recovery key typed at the password prompt works"
    );
    repo.change_password("new password", fast_kdf()).unwrap();
    assert!(matches!(
        open(repo_dir.path(), PASSWORD),
        Err(Error::WrongPassword)
    ));
    let repo = open(repo_dir.path(), "new password").unwrap();
    repo.add_password("second device", "phone", fast_kdf())
        .unwrap();
    assert_eq!(repo.keys().unwrap().len(), 3);
    assert!(open(repo_dir.path(), "second device").is_ok());
    let missing = tempfile::tempdir().unwrap();
    assert!(matches!(
        open(missing.path(), PASSWORD),
        Err(Error::RepositoryNotFound { .. })
    ));
}

fn flip(path: &Path, at: u64) {
    let mut b = fs::read(path).unwrap();
    let i = (at as usize).min(b.len() - 1);
    b[i] ^= 0x01;
    fs::write(path, b).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn one_file(dir: &Path) -> PathBuf {
    fs::read_dir(dir).unwrap().next().unwrap().unwrap().path()
}

#[test]
fn a_flipped_byte_in_any_object_is_detected_and_named() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("chat");
    let facts = generate_export(
        &root,
        &ExportSpec {
            messages: 30_000,
            ..ExportSpec::small()
        },
    )
    .unwrap();
    let _ = facts;
    let good = tempfile::tempdir().unwrap();
    let repo = new_repo(good.path());
    let snap = backup(&repo, &root);
    let blobs = repo.blobs().unwrap();
    let pack_path = |id: &chatvault_core::Id| {
        good.path()
            .join("data")
            .join(&id.to_hex()[..2])
            .join(id.to_hex())
    };
    let tree = blobs.iter().find(|b| b.kind == BlobKind::Tree).unwrap();
    let list = blobs
        .iter()
        .find(|b| b.kind == BlobKind::List)
        .expect("the database is long enough for list blobs");
    let data = blobs.iter().find(|b| b.kind == BlobKind::Data).unwrap();
    let pack_size = fs::metadata(pack_path(&data.pack)).unwrap().len();
    drop(repo);

    struct Case {
        what: &'static str,
        file: PathBuf,
        at: u64,
        names: String,
    }
    let rel = |p: &Path| p.strip_prefix(good.path()).unwrap().to_path_buf();
    let cases = vec![
        Case {
            what: "config",
            file: good.path().join("config"),
            at: 30,
            names: "config".into(),
        },
        Case {
            what: "key slot",
            file: one_file(&good.path().join("keys")),
            at: 200,
            names: format!(
                "keys/{}",
                one_file(&good.path().join("keys"))
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
            ),
        },
        Case {
            what: "snapshot",
            file: good.path().join("snapshots").join(snap.id.to_hex()),
            at: 40,
            names: snap.id.to_hex(),
        },
        Case {
            what: "index",
            file: one_file(&good.path().join("index")),
            at: 50,
            names: format!(
                "index/{}",
                one_file(&good.path().join("index"))
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
            ),
        },
        Case {
            what: "data blob",
            file: pack_path(&data.pack),
            at: data.offset as u64 + 30,
            names: data.id.to_hex(),
        },
        Case {
            what: "tree blob",
            file: pack_path(&tree.pack),
            at: tree.offset as u64 + 30,
            names: tree.id.to_hex(),
        },
        Case {
            what: "list blob",
            file: pack_path(&list.pack),
            at: list.offset as u64 + 30,
            names: list.id.to_hex(),
        },
        Case {
            what: "pack header",
            file: pack_path(&data.pack),
            at: pack_size - 20,
            names: data.pack.to_hex(),
        },
    ];
    for case in cases {
        let bad = tempfile::tempdir().unwrap();
        copy_dir(good.path(), bad.path());
        flip(&bad.path().join(rel(&case.file)), case.at);
        let message = match open(bad.path(), PASSWORD) {
            Err(e) => {
                assert!(matches!(e, Error::Corrupt { .. }), "{}: {e}", case.what);
                e.to_string()
            }
            Ok(repo) => {
                let report = repo
                    .check(ReadData::All, None, &CancelToken::new())
                    .unwrap();
                assert!(!report.is_ok(), "{}: check found nothing", case.what);
                let out = tempfile::tempdir().unwrap();
                // Restore goes on past the damage: every file it does not name as damaged
                // is exactly the original (a damaged root tree alone stops it).
                if let Ok(s) = repo.find_snapshot("latest") {
                    if let Ok(summary) = repo.restore(
                        &s,
                        out.path(),
                        &RestoreOptions::default(),
                        None,
                        &CancelToken::new(),
                    ) {
                        let named: Vec<String> =
                            summary.damaged.iter().map(|d| d.path.clone()).collect();
                        let diffs = compare_trees(&root, &out.path().join("chat")).unwrap();
                        for d in &diffs {
                            assert!(
                                named.iter().any(|n| d.contains(n.as_str())),
                                "{}: restore wrote damaged data silently: {d} (named: {named:?})",
                                case.what
                            );
                        }
                    }
                }
                report.errors.join("\n")
            }
        };
        assert!(
            message.contains(&case.names),
            "{}: error does not name the object {}:\n{message}",
            case.what,
            case.names
        );
    }
}

/// Every file under `dir`, relative, `/`-separated.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn restore_goes_on_past_a_damaged_blob_and_a_lost_pack_and_names_what_they_cost() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("chat");
    generate_export(
        &root,
        &ExportSpec {
            messages: 30_000,
            ..ExportSpec::small()
        },
    )
    .unwrap();
    let good = tempfile::tempdir().unwrap();
    let repo = new_repo(good.path());
    backup(&repo, &root);
    let blobs = repo.blobs().unwrap();
    drop(repo);
    let pack_path = |dir: &Path, id: &chatvault_core::Id| {
        dir.join("data").join(&id.to_hex()[..2]).join(id.to_hex())
    };
    let data: Vec<_> = blobs.iter().filter(|b| b.kind == BlobKind::Data).collect();
    let files = files_under(&root);

    // 1. One flipped byte in one data blob: that blob's bytes become zeros, nothing else.
    let victim = data[data.len() / 2];
    let bad = tempfile::tempdir().unwrap();
    copy_dir(good.path(), bad.path());
    flip(
        &pack_path(bad.path(), &victim.pack),
        victim.offset as u64 + 40,
    );
    let repo = open(bad.path(), PASSWORD).unwrap();
    let snap = repo.find_snapshot("latest").unwrap();
    let out = tempfile::tempdir().unwrap();
    let summary = repo
        .restore(
            &snap,
            out.path(),
            &RestoreOptions::default(),
            None,
            &CancelToken::new(),
        )
        .expect("a damaged blob does not stop the restore");
    assert_eq!(summary.files as usize, files.len(), "every file is written");
    assert_eq!(summary.damaged.len(), 1, "{:?}", summary.damaged);
    let damaged = &summary.damaged[0];
    assert!(!damaged.folder);
    assert!(
        damaged.reason.contains(&victim.id.to_hex()),
        "{}",
        damaged.reason
    );
    // The blob may repeat within the file (dedup): each time costs its length.
    let n = victim.raw_length as u64;
    assert!(damaged.unreadable_bytes >= n && damaged.unreadable_bytes % n == 0);
    let rel = damaged.path.strip_prefix("chat/").unwrap();
    for f in &files {
        let (a, b) = (
            fs::read(root.join(f)).unwrap(),
            fs::read(out.path().join("chat").join(f)).unwrap(),
        );
        if f != rel {
            assert!(a == b, "{f} differs but was not named damaged");
            continue;
        }
        assert_eq!(a.len(), b.len(), "{f}: the damaged file keeps its size");
        let differing: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
        assert!(!differing.is_empty());
        assert!(
            differing.iter().all(|&i| b[i] == 0),
            "{f}: only zeros replace the damage"
        );
        assert!(differing.len() as u64 <= damaged.unreadable_bytes);
    }

    // 2. A whole pack lost: the files it held are named, every other file is intact.
    // The pack of a data blob (trees sharing it take their folders' files with them).
    let lost = data[0].pack;
    let bad = tempfile::tempdir().unwrap();
    copy_dir(good.path(), bad.path());
    fs::remove_file(pack_path(bad.path(), &lost)).unwrap();
    let repo = open(bad.path(), PASSWORD).unwrap();
    let out = tempfile::tempdir().unwrap();
    let summary = repo
        .restore(
            &snap,
            out.path(),
            &RestoreOptions::default(),
            None,
            &CancelToken::new(),
        )
        .expect("a lost pack does not stop the restore");
    assert!(!summary.damaged.is_empty());
    let named: Vec<&str> = summary
        .damaged
        .iter()
        .map(|d| d.path.strip_prefix("chat/").unwrap_or(&d.path))
        .collect();
    let under_named_folder = |f: &str| {
        summary
            .damaged
            .iter()
            .any(|d| d.folder && format!("chat/{f}").starts_with(&format!("{}/", d.path)))
    };
    for f in &files {
        let restored = out.path().join("chat").join(f);
        if !restored.exists() {
            assert!(
                under_named_folder(f),
                "{f} is missing but no folder above it was named"
            );
            continue;
        }
        let (a, b) = (fs::read(root.join(f)).unwrap(), fs::read(restored).unwrap());
        assert_eq!(a.len(), b.len(), "{f}");
        assert!(
            a == b || named.contains(&f.as_str()),
            "{f} differs but was not named"
        );
    }
    let lost_bytes: u64 = blobs
        .iter()
        .filter(|b| b.pack == lost && b.kind == BlobKind::Data)
        .map(|b| b.raw_length as u64)
        .sum();
    let zeroed: u64 = summary.damaged.iter().map(|d| d.unreadable_bytes).sum();
    assert!(
        zeroed >= lost_bytes,
        "zeroed {zeroed} < the pack's {lost_bytes} data bytes"
    );
}

#[test]
fn a_damaged_index_file_or_snapshot_costs_nothing_else() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("chat");
    let facts = generate_export(&root, &ExportSpec::small()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path());
    let first = backup(&repo, &root);
    add_day(&facts, 200, 3, 7).unwrap();
    let second = backup(&repo, &root);
    drop(repo);
    let restore_ok = |repo: &Repository, spec: &str| {
        let out = tempfile::tempdir().unwrap();
        let s = repo.find_snapshot(spec).unwrap();
        let summary = repo
            .restore(
                &s,
                out.path(),
                &RestoreOptions::default(),
                None,
                &CancelToken::new(),
            )
            .unwrap();
        assert!(summary.damaged.is_empty(), "{:?}", summary.damaged);
        compare_trees(&root, &out.path().join("chat")).unwrap()
    };

    // An index file with a flipped byte: its packs are found from their headers.
    let index_file = one_file(&dir.path().join("index"));
    flip(&index_file, 60);
    let repo = open(dir.path(), PASSWORD).unwrap();
    assert_eq!(repo.snapshots().unwrap().len(), 2);
    assert!(
        restore_ok(&repo, "latest").is_empty(),
        "the newest snapshot restores whole"
    );
    let report = repo
        .check(ReadData::None, None, &CancelToken::new())
        .unwrap();
    assert!(
        !report.is_ok(),
        "check still reports the damaged index file"
    );
    repo.prune(&PruneOptions::default(), None, &CancelToken::new())
        .expect("prune works past a damaged index file");
    assert!(
        !index_file.exists(),
        "prune replaced the damaged index file"
    );
    let report = repo
        .check(ReadData::All, None, &CancelToken::new())
        .unwrap();
    assert!(
        report.is_ok(),
        "after prune the repository checks clean: {:?}",
        report.errors
    );
    assert!(restore_ok(&repo, "latest").is_empty());

    // A damaged snapshot: the others stay listed and restorable; prune refuses, naming
    // the way out; forget by id removes it.
    let snap_file = dir.path().join("snapshots").join(first.id.to_hex());
    flip(&snap_file, 40);
    let listed = repo.snapshots().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, second.id);
    assert_eq!(repo.damaged_snapshots().unwrap().len(), 1);
    assert!(restore_ok(&repo, "latest").is_empty());
    let err = repo
        .prune(&PruneOptions::default(), None, &CancelToken::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("forget") && err.contains(&first.id.to_hex()),
        "{err}"
    );
    let short = &first.id.to_hex()[..8];
    assert_eq!(
        repo.forget_ids(&[short.to_string()], true).unwrap(),
        vec![first.id.to_hex()]
    );
    assert!(snap_file.exists(), "a dry run removes nothing");
    assert!(matches!(
        repo.forget_ids(&[short.to_string(), "ffffffffff".into()], false),
        Err(Error::SnapshotNotFound(_))
    ));
    assert!(
        snap_file.exists(),
        "nothing is removed when one name is wrong"
    );
    repo.forget_ids(&[short.to_string()], false).unwrap();
    assert!(repo.damaged_snapshots().unwrap().is_empty());
    repo.prune(&PruneOptions::default(), None, &CancelToken::new())
        .unwrap();
    assert!(restore_ok(&repo, "latest").is_empty());
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Progress>>);

impl ProgressListener for Recorder {
    fn on_progress(&self, p: &Progress) {
        self.0.lock().unwrap().push(p.clone());
    }
}

/// Calls `action` once, at the first progress report for which `point` holds: tests that
/// cancel or race on purpose act at an observable point of the work, never after a fixed
/// sleep (which a fast machine outruns and a slow one undershoots).
struct AtPoint<P, A> {
    point: P,
    action: Mutex<Option<A>>,
}

impl<P, A> AtPoint<P, A>
where
    P: Fn(&Progress) -> bool + Send + Sync,
    A: FnOnce() + Send,
{
    fn new(point: P, action: A) -> Self {
        AtPoint {
            point,
            action: Mutex::new(Some(action)),
        }
    }
}

impl<P, A> ProgressListener for AtPoint<P, A>
where
    P: Fn(&Progress) -> bool + Send + Sync,
    A: FnOnce() + Send,
{
    fn on_progress(&self, p: &Progress) {
        if (self.point)(p) {
            if let Some(action) = self.action.lock().unwrap().take() {
                action();
            }
        }
    }
}

/// The number of pack files in the local repository at `dir`.
fn pack_count(dir: &Path) -> usize {
    fs::read_dir(dir.join("data"))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|d| fs::read_dir(d.path()).into_iter().flatten().flatten())
        .filter(|f| !f.file_name().to_string_lossy().starts_with('.'))
        .count()
}

#[test]
fn progress_reports_totals_and_cancellation_leaves_a_valid_repository() {
    let src = tempfile::tempdir().unwrap();
    let first = src.path().join("first");
    random_files(&first, 3, 200_000, 1).unwrap();
    let big = src.path().join("big");
    random_files(&big, 120, 2 * 1024 * 1024, 2).unwrap();
    let repo_dir = tempfile::tempdir().unwrap();
    let repo = new_repo(repo_dir.path());

    let rec = Recorder::default();
    let snap = repo
        .backup(
            std::slice::from_ref(&first),
            &BackupOptions::default(),
            Some(&rec),
            &CancelToken::new(),
        )
        .unwrap()
        .snapshot;
    let reports = rec.0.into_inner().unwrap();
    let last = reports.last().unwrap();
    assert_eq!(last.phase, Phase::Finished);
    assert_eq!((last.files_done, last.files_total), (3, 3));
    assert_eq!((last.bytes_done, last.bytes_total), (600_000, 600_000));
    assert!(reports.iter().any(|p| p.phase == Phase::Backup));

    // Cancelled at the first progress report after a pack of this run is stored: mid-way
    // (with finished packs for the next run to reuse), however fast the machine.
    let cancel = CancelToken::new();
    let cancelled_at = Arc::new(Mutex::new(None::<Instant>));
    let packs_before = pack_count(repo_dir.path());
    let data_dir = repo_dir.path().to_path_buf();
    let stopper = {
        let (cancel, at) = (cancel.clone(), cancelled_at.clone());
        AtPoint::new(
            move |p: &Progress| p.phase == Phase::Backup && pack_count(&data_dir) > packs_before,
            move || {
                *at.lock().unwrap() = Some(Instant::now());
                cancel.cancel();
            },
        )
    };
    let result = repo.backup(
        std::slice::from_ref(&big),
        &BackupOptions::default(),
        Some(&stopper),
        &cancel,
    );
    let stopped = Instant::now();
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    let latency = stopped - cancelled_at.lock().unwrap().unwrap();
    println!("cancellation took effect after {latency:?}");
    assert!(
        latency < Duration::from_secs(1),
        "cancellation took {latency:?}"
    );

    assert_eq!(repo.snapshots().unwrap().len(), 1);
    assert_check_clean(&repo);
    restore_and_compare(&repo, &snap, &first);
    // The next run reuses what the cancelled one stored.
    let stored_before: u64 = repo_dir
        .path()
        .join("data")
        .read_dir()
        .unwrap()
        .flat_map(|d| d.unwrap().path().read_dir().unwrap())
        .map(|f| f.unwrap().metadata().unwrap().len())
        .sum();
    let resumed = backup(&repo, &big);
    let total: u64 = 120 * 2 * 1024 * 1024;
    println!(
        "cancelled run left {stored_before} bytes of packs; resumed run stored {}",
        resumed.summary.bytes_stored
    );
    assert!(resumed.summary.bytes_stored + stored_before >= total);
    assert!(
        resumed.summary.bytes_stored < total,
        "finished packs were reused"
    );
    assert_check_clean(&repo);
    restore_and_compare(&repo, &resumed, &big);
}

#[test]
fn two_devices_back_up_at_once() {
    let src = tempfile::tempdir().unwrap();
    let a = src.path().join("phone-a");
    let b = src.path().join("phone-b");
    random_files(&a, 40, 1024 * 1024, 10).unwrap();
    random_files(&b, 40, 1024 * 1024, 11).unwrap();
    // Shared content: both phones got the same forwarded video.
    random_files(&a.join("fwd"), 2, 3 * 1024 * 1024, 99).unwrap();
    random_files(&b.join("fwd"), 2, 3 * 1024 * 1024, 99).unwrap();
    let repo_dir = tempfile::tempdir().unwrap();
    new_repo(repo_dir.path());
    let run = |dir: PathBuf, host: &str| {
        let repo_dir = repo_dir.path().to_path_buf();
        let host = host.to_string();
        std::thread::spawn(move || {
            let repo = open(&repo_dir, PASSWORD).unwrap();
            repo.backup(
                &[dir],
                &BackupOptions {
                    host: Some(host),
                    ..Default::default()
                },
                None,
                &CancelToken::new(),
            )
            .unwrap()
            .snapshot
        })
    };
    let (ta, tb) = (run(a.clone(), "phone-a"), run(b.clone(), "phone-b"));
    let (sa, sb) = (ta.join().unwrap(), tb.join().unwrap());
    let repo = open(repo_dir.path(), PASSWORD).unwrap();
    assert_eq!(repo.snapshots().unwrap().len(), 2);
    assert_check_clean(&repo);
    restore_and_compare(&repo, &sa, &a);
    restore_and_compare(&repo, &sb, &b);

    // Neither saw the other's new blobs while they ran, so the forwarded video may be
    // stored twice. A prune that repacks every pack with a byte it does not need keeps one
    // copy of every blob (whichever pack it reads from), and forgetting phone-a's snapshot
    // costs phone-b nothing. (At the default threshold a pack mostly in use is kept whole,
    // a second copy in it included: which pack a copy lands in depends on how the two
    // backups interleaved, and this assertion failed on a loaded machine.)
    repo.delete_snapshot(&sa.id).unwrap();
    let repack_all = PruneOptions {
        repack_threshold: 0.0,
        ..PruneOptions::default()
    };
    repo.prune(&repack_all, None, &CancelToken::new()).unwrap();
    let blobs = repo.blobs().unwrap();
    let distinct: std::collections::HashSet<_> = blobs.iter().map(|b| b.id).collect();
    assert_eq!(
        distinct.len(),
        blobs.len(),
        "one copy of each blob after prune"
    );
    assert_check_clean(&repo);
    restore_and_compare(&repo, &sb, &b);
}

#[test]
fn prune_beside_a_backup_never_deletes_what_it_references() {
    let src = tempfile::tempdir().unwrap();
    let old = src.path().join("old");
    random_files(&old, 10, 1024 * 1024, 20).unwrap();
    let big = src.path().join("big");
    random_files(&big, 80, 2 * 1024 * 1024, 21).unwrap();
    // The running backup will reuse blobs of the old snapshot that forget removes.
    copy_dir(&old, &big.join("from-old"));
    let repo_dir = tempfile::tempdir().unwrap();
    let repo = new_repo(repo_dir.path());
    let old_snap = backup(&repo, &old);
    // Prune starts once the backup reports bytes backed up: it holds its lock and is mid-way.
    let (started, running) = std::sync::mpsc::channel();
    let backup_thread = {
        let (dir, big) = (repo_dir.path().to_path_buf(), big.clone());
        std::thread::spawn(move || {
            let repo = open(&dir, PASSWORD).unwrap();
            let at = AtPoint::new(
                |p: &Progress| p.phase == Phase::Backup && p.bytes_done > 0,
                move || {
                    let _ = started.send(());
                },
            );
            repo.backup(
                &[big],
                &BackupOptions::default(),
                Some(&at),
                &CancelToken::new(),
            )
            .unwrap()
            .snapshot
        })
    };
    running
        .recv()
        .expect("the backup ended before its first progress report");
    repo.delete_snapshot(&old_snap.id).unwrap();
    let summary = repo
        .prune(
            &PruneOptions {
                lock_wait: Duration::from_secs(300),
                ..Default::default()
            },
            None,
            &CancelToken::new(),
        )
        .unwrap();
    let snap = backup_thread.join().unwrap();
    println!("prune beside backup: {summary:?}");
    assert_check_clean(&repo);
    restore_and_compare(&repo, &snap, &big);
}

#[test]
fn forget_and_prune_reclaim_space_and_keep_the_rest_restorable() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("chat");
    let repo_dir = tempfile::tempdir().unwrap();
    let repo = new_repo(repo_dir.path());
    let mut last = None;
    for day in 0..4u64 {
        let _ = fs::remove_dir_all(&root);
        random_files(&root, 4, 500_000, 100 + day).unwrap();
        random_files(&root.join("kept"), 2, 500_000, 7).unwrap();
        last = Some(backup(&repo, &root));
    }
    let decisions = repo
        .forget(
            &RetentionPolicy {
                last: 1,
                ..Default::default()
            },
            false,
        )
        .unwrap();
    let before = repo.stats().unwrap();
    assert_eq!(decisions.iter().filter(|d| d.reasons.is_empty()).count(), 3);
    assert!(
        repo.forget(&RetentionPolicy::default(), false).is_err(),
        "an empty policy is refused"
    );
    let s = repo
        .prune(&PruneOptions::default(), None, &CancelToken::new())
        .unwrap();
    let after = repo.stats().unwrap();
    println!(
        "prune: {s:?}; stored {} -> {}",
        before.stored_bytes, after.stored_bytes
    );
    // Packs that are mostly in use are kept whole, so a few small unused blobs may remain.
    assert!(
        after.unused_blobs * 10 < before.unused_blobs,
        "{} unused blobs left of {}",
        after.unused_blobs,
        before.unused_blobs
    );
    assert!(after.stored_bytes < before.stored_bytes / 2);
    assert_check_clean(&repo);
    restore_and_compare(&repo, &last.unwrap(), &root);
}

#[test]
fn a_prune_while_a_backup_is_paused_cannot_break_its_snapshot() {
    let src = tempfile::tempdir().unwrap();
    let old = src.path().join("old");
    random_files(&old, 10, 1024 * 1024, 30).unwrap();
    let big = src.path().join("big");
    // Sorted first, so the backup reuses the old snapshot's blobs right at the start.
    copy_dir(&old, &big.join("a-from-old"));
    random_files(&big, 80, 2 * 1024 * 1024, 31).unwrap();
    let repo_dir = tempfile::tempdir().unwrap();
    let repo = new_repo(repo_dir.path());
    let old_snap = backup(&repo, &old);
    // The locks are removed once the backup has gone past the 10 files it shares with the
    // old snapshot (an observable point, not a fixed sleep): it has certainly reused them.
    let (reused, reused_seen) = std::sync::mpsc::channel();
    let running = {
        let (dir, big) = (repo_dir.path().to_path_buf(), big.clone());
        std::thread::spawn(move || {
            let at = AtPoint::new(
                |p: &Progress| p.phase == Phase::Backup && p.files_done > 10,
                move || {
                    let _ = reused.send(());
                },
            );
            open(&dir, PASSWORD).unwrap().backup(
                &[big],
                &BackupOptions::default(),
                Some(&at),
                &CancelToken::new(),
            )
        })
    };
    reused_seen
        .recv()
        .expect("the backup ended before it was past the reused files");
    // The backup's lock goes stale (a phone asleep for half an hour): prune gets in and
    // deletes everything no snapshot references, including data the backup reused.
    for l in fs::read_dir(repo_dir.path().join("locks")).unwrap() {
        fs::remove_file(l.unwrap().path()).unwrap();
    }
    repo.delete_snapshot(&old_snap.id).unwrap();
    let pruned = repo
        .prune(
            &PruneOptions {
                lock_wait: Duration::ZERO,
                ..Default::default()
            },
            None,
            &CancelToken::new(),
        )
        .unwrap();
    assert!(pruned.packs_deleted > 0);
    let result = running.join().unwrap();
    assert!(
        matches!(result, Err(Error::Locked(_))),
        "the backup must not commit a snapshot with missing data: {result:?}"
    );
    assert!(repo.snapshots().unwrap().is_empty());
    assert_check_clean(&repo);
    // The next run stores what is missing and commits.
    let snap = backup(&repo, &big);
    assert_check_clean(&repo);
    restore_and_compare(&repo, &snap, &big);
}

#[cfg(target_os = "linux")]
#[test]
fn file_names_that_are_not_utf8_round_trip() {
    use std::os::unix::ffi::OsStrExt;
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("names");
    fs::create_dir(&root).unwrap();
    // A GBK-encoded name (as old Windows-made zips produce), invalid as UTF-8.
    let name = std::ffi::OsStr::from_bytes(b"\xc1\xc4\xcc\xec\xbc\xc7\xc2\xbc.txt");
    fs::write(root.join(name), b"chat log").unwrap();
    let repo_dir = tempfile::tempdir().unwrap();
    let repo = new_repo(repo_dir.path());
    let snap = backup(&repo, &root);
    assert_eq!(snap.summary.files, 1);
    restore_and_compare(&repo, &snap, &root);
    let out = tempfile::tempdir().unwrap();
    repo.restore(
        &snap,
        out.path(),
        &RestoreOptions::default(),
        None,
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!(
        fs::read(out.path().join("names").join(name)).unwrap(),
        b"chat log"
    );
}

/// A chat export is read into its index while its files are backed up. A reader that fails
/// part-way (a damaged page deep in the database, after the export was opened) stops the
/// backup: the error is the reader's and names the database, no snapshot is written, and
/// the earlier snapshot still checks clean. A cancel stops both sides.
#[test]
fn a_reader_failing_part_way_stops_the_export_backup() {
    use chatvault_core::sources::SourceOptions;
    let tmp = tempfile::tempdir().unwrap();
    let facts = generate_export(
        &tmp.path().join("export"),
        &ExportSpec {
            messages: 150_000,
            conversations: 20,
            media_files: 30,
            media_avg_bytes: 512 * 1024,
            seed: 11,
        },
    )
    .unwrap();
    let repo = new_repo(&tmp.path().join("repo"));
    let work = tmp.path().join("work");
    fs::create_dir_all(&work).unwrap();
    let backup_export = |cancel: &CancelToken, listener: Option<&dyn ProgressListener>| {
        chatvault_core::chat::backup_source(
            &repo,
            &facts.root,
            &SourceOptions::default(),
            &BackupOptions {
                force_read: true,
                ..Default::default()
            },
            Some(&work),
            listener,
            cancel,
        )
    };
    let first = backup_export(&CancelToken::new(), None).unwrap();
    assert_eq!(first.summary.unwrap().messages, 150_000);

    // Damage pages three quarters into the database: it still opens, its tables are
    // there, and reading the messages fails when it reaches them.
    let original = fs::read(&facts.database).unwrap();
    let mut bytes = original.clone();
    let at = bytes.len() / 4 * 3 / 4096 * 4096;
    for b in &mut bytes[at..at + 16 * 4096] {
        *b = 0xA5;
    }
    fs::write(&facts.database, &bytes).unwrap();
    let e = backup_export(&CancelToken::new(), None).expect_err("a damaged database fails");
    assert!(
        !matches!(e, Error::Cancelled),
        "the reader's error, not a cancel: {e}"
    );
    assert!(
        e.to_string().contains("EnMicroMsg.db"),
        "names the database: {e}"
    );
    assert_eq!(repo.snapshots().unwrap().len(), 1, "no snapshot written");
    assert_check_clean(&repo);
    // Nothing was left in the work folder.
    assert_eq!(fs::read_dir(&work).unwrap().count(), 0);

    // A cancel while both run: Cancelled, no snapshot, the reader stopped too (the call
    // returned), the repository checks clean.
    fs::write(&facts.database, &original).unwrap();
    struct CancelOnFirstFile(CancelToken);
    impl ProgressListener for CancelOnFirstFile {
        fn on_progress(&self, p: &Progress) {
            if p.phase == Phase::Backup && p.files_done > 0 {
                self.0.cancel();
            }
        }
    }
    let cancel = CancelToken::new();
    let listener = CancelOnFirstFile(cancel.clone());
    let e = backup_export(&cancel, Some(&listener)).expect_err("cancelled");
    assert!(matches!(e, Error::Cancelled), "{e}");
    assert_eq!(repo.snapshots().unwrap().len(), 1);
    assert_check_clean(&repo);
    assert_eq!(fs::read_dir(&work).unwrap().count(), 0);
}

#[test]
fn folders_nested_deeper_than_a_snapshot_holds_are_left_out_with_a_warning() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("deep");
    let mut p = root.clone();
    for _ in 0..520 {
        p = p.join("d");
    }
    fs::create_dir_all(&p).unwrap();
    fs::write(p.join("bottom.txt"), b"too deep").unwrap();
    fs::write(root.join("top.txt"), b"kept").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path());
    let r = repo
        .backup(
            std::slice::from_ref(&root),
            &BackupOptions::default(),
            None,
            &CancelToken::new(),
        )
        .unwrap();
    assert!(
        r.warnings.iter().any(|w| w.contains("deeper than 512")),
        "{:?}",
        r.warnings
    );
    // What the snapshot holds restores whole: the top file, the folders down to the cut.
    let out = tempfile::tempdir().unwrap();
    let s = repo
        .restore(
            &r.snapshot,
            out.path(),
            &RestoreOptions::default(),
            None,
            &CancelToken::new(),
        )
        .unwrap();
    assert!(s.damaged.is_empty(), "{:?}", s.damaged);
    assert_eq!(fs::read(out.path().join("deep/top.txt")).unwrap(), b"kept");
    assert!(repo
        .check(ReadData::All, None, &CancelToken::new())
        .unwrap()
        .is_ok());
}
