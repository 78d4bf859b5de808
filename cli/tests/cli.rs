//! End-to-end tests of the `chatvault` binary: exit codes, JSON output, the embedded
//! default repository, keys, kill -9 during backup, Ctrl-C, and peak memory.

use std::fs;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use chatvault_fixtures::{compare_trees, copy_tree, generate_export, random_files, ExportSpec};
use rand::{Rng, SeedableRng};
use serde_json::Value;

mod common;
use common::{code, run_measured, Env, PW};

#[test]
fn the_chat_index_is_kept_in_the_cache_folder_unless_no_cache() {
    let env = Env::new();
    let data = env.home.join("export");
    generate_export(&data, &ExportSpec::small()).unwrap();
    env.init();
    let cache = env.home.join(".cache/chatvault/chat-index");
    let kept = || -> Vec<std::path::PathBuf> {
        let Ok(repos) = std::fs::read_dir(&cache) else {
            return Vec::new();
        };
        repos
            .flat_map(|r| std::fs::read_dir(r.unwrap().path()).unwrap())
            .map(|f| f.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sqlite"))
            .collect()
    };
    env.ok(&["backup", "-q", data.to_str().unwrap()]);
    let files = kept();
    assert_eq!(files.len(), 1, "one export, one index kept: {files:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "readable by the user only");
    }
    std::fs::remove_dir_all(&cache).unwrap();
    env.ok(&["--no-cache", "backup", "-q", data.to_str().unwrap()]);
    assert!(kept().is_empty(), "--no-cache keeps nothing");
    // The next backup that reads the export (it changed) keeps one again.
    std::fs::write(data.join("notes.txt"), "changed").unwrap();
    env.ok(&["backup", "-q", data.to_str().unwrap()]);
    assert_eq!(kept().len(), 1);
}

#[test]
fn exit_codes_json_and_the_everyday_commands() {
    let env = Env::new();
    let data = env.home.join("export");
    generate_export(&data, &ExportSpec::small()).unwrap();

    let missing = env.run(&["snapshots"]);
    assert_eq!(code(&missing), 10, "repository not found");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no repository found"));
    assert_eq!(code(&env.run(&["backup"])), 2, "usage error");
    assert_eq!(code(&env.run(&["frobnicate"])), 2);

    env.init();
    let wrong = env
        .cmd(&["snapshots"])
        .env("CHATVAULT_PASSWORD", "not it")
        .output()
        .unwrap();
    assert_eq!(code(&wrong), 12);
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("wrong password"));

    let b = env.json(&[
        "backup",
        data.to_str().unwrap(),
        "--tag",
        "daily",
        "--host",
        "pixel-8",
    ]);
    assert_eq!(b["summary"]["files"], 15);
    let snaps = env.json(&["snapshots"]);
    assert_eq!(snaps.as_array().unwrap().len(), 1);
    assert_eq!(snaps[0]["host"], "pixel-8");
    assert_eq!(snaps[0]["tags"][0], "daily");
    let short = snaps[0]["short_id"].as_str().unwrap().to_string();

    // Restore a subset by id prefix, and everything by `latest`.
    let part = env.home.join("part");
    env.ok(&[
        "restore",
        &short[..6],
        "--target",
        part.to_str().unwrap(),
        "--include",
        "export/db",
    ]);
    assert!(part.join("export/db/EnMicroMsg.db").exists());
    assert!(!part.join("export/media").exists());
    let all = env.home.join("all");
    env.ok(&["restore", "latest", "--target", all.to_str().unwrap()]);
    assert!(compare_trees(&data, &all.join("export"))
        .unwrap()
        .is_empty());
    assert_eq!(code(&env.run(&["restore", "ffffffff", "--target", "x"])), 1);

    let report = env.json(&["check", "--read-data-subset", "50"]);
    assert!(report["errors"].as_array().unwrap().is_empty());
    assert!(report["packs_read"].as_u64().unwrap() >= 1);
    let stats = env.json(&["stats"]);
    assert_eq!(stats["snapshots"], 1);

    env.ok(&["backup", data.to_str().unwrap(), "--host", "pixel-8"]);
    let forget = env.json(&["forget", "--keep-last", "1", "--prune"]);
    assert_eq!(forget["removed"], 1);
    assert_eq!(env.json(&["snapshots"]).as_array().unwrap().len(), 1);
    assert_eq!(
        code(&env.run(&["forget"])),
        1,
        "forget without a policy is refused"
    );
    env.ok(&["check", "--read-data"]);
}

#[cfg(target_os = "linux")]
#[test]
fn unreadable_source_files_give_exit_code_3_and_a_snapshot() {
    let env = Env::new();
    env.init();
    let data = env.home.join("d");
    random_files(&data, 2, 1000, 1).unwrap();
    // /proc/self/mem of the reading process fails with EIO at offset 0, even for root.
    let out = env.run(&["backup", data.to_str().unwrap(), "/proc/self/mem"]);
    assert_eq!(code(&out), 3, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mem"));
    assert_eq!(env.json(&["snapshots"]).as_array().unwrap().len(), 1);
}

#[test]
fn embedded_default_repository_needs_no_setup() {
    let env = Env::new();
    let data = env.home.join("chats");
    random_files(&data, 3, 10_000, 3).unwrap();
    let backup = env
        .cmd(&["backup", data.to_str().unwrap()])
        .env_remove("CHATVAULT_REPO")
        .env_remove("CHATVAULT_PASSWORD")
        .output()
        .unwrap();
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    let default = env.home.join("xdg/chatvault/repository");
    assert!(
        String::from_utf8_lossy(&backup.stdout).contains(default.to_str().unwrap()),
        "the location is printed"
    );
    assert!(
        String::from_utf8_lossy(&backup.stderr).contains("Recovery key"),
        "the recovery key is shown once"
    );
    assert!(default.join("config").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(env.home.join("xdg/chatvault/repository.password"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the stored password is private");
    }
    let list = env
        .cmd(&["snapshots", "--json"])
        .env_remove("CHATVAULT_REPO")
        .env_remove("CHATVAULT_PASSWORD")
        .output()
        .unwrap();
    assert!(list.status.success());
    let v: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
}

#[test]
fn key_management_and_recovery_key() {
    let env = Env::new();
    let init: Value = serde_json::from_str(&env.ok(&[
        "init",
        "--kdf-memory-mib",
        "8",
        "--kdf-iterations",
        "1",
        "--json",
    ]))
    .unwrap();
    let recovery = init["recovery_key"].as_str().unwrap().to_string();
    let added = env
        .cmd(&[
            "--json",
            "key",
            "add",
            "--label",
            "tablet",
            "--kdf-memory-mib",
            "8",
            "--kdf-iterations",
            "1",
        ])
        .env("CHATVAULT_NEW_PASSWORD", "tablet pw")
        .output()
        .unwrap();
    assert!(added.status.success());
    // --json: the new slot's id, as `key list` shows it.
    let added: Value = serde_json::from_slice(&added.stdout).unwrap();
    assert_eq!(added["label"], "tablet");
    let keys = env.json(&["key", "list"]);
    assert_eq!(keys.as_array().unwrap().len(), 3);
    assert!(keys
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["id"] == added["added"] && k["label"] == "tablet"));
    let ok = |pw: &str| {
        env.cmd(&["snapshots"])
            .env("CHATVAULT_PASSWORD", pw)
            .output()
            .unwrap()
    };
    assert!(ok("tablet pw").status.success());
    assert!(
        ok(&recovery).status.success(),
        "the recovery key opens the repository"
    );
    let passwd = env
        .cmd(&[
            "key",
            "passwd",
            "--kdf-memory-mib",
            "8",
            "--kdf-iterations",
            "1",
        ])
        .env("CHATVAULT_NEW_PASSWORD", "changed")
        .output()
        .unwrap();
    assert!(passwd.status.success());
    assert_eq!(code(&ok(PW)), 12, "the old password no longer opens it");
    assert!(ok("changed").status.success());
    let newkey = env
        .cmd(&["key", "recovery", "--json"])
        .env("CHATVAULT_PASSWORD", "changed")
        .output()
        .unwrap();
    let newkey: Value = serde_json::from_slice(&newkey.stdout).unwrap();
    assert_eq!(
        code(&ok(&recovery)),
        12,
        "the old recovery key was replaced"
    );
    assert!(ok(newkey["recovery_key"].as_str().unwrap())
        .status
        .success());
}

fn pack_names(repo: &Path) -> Vec<String> {
    let mut v = Vec::new();
    if let Ok(d) = fs::read_dir(repo.join("data")) {
        for sub in d.flatten() {
            // Read while a backup or prune writes: a folder may come or go meanwhile.
            for f in fs::read_dir(sub.path()).into_iter().flatten().flatten() {
                v.push(f.file_name().to_string_lossy().into_owned());
            }
        }
    }
    v.retain(|n| !n.starts_with('.'));
    v.sort();
    v
}

/// The names of the lock objects of `repo`.
fn lock_names(repo: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(repo.join("locks"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|f| f.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

/// Waits, without a fixed sleep, until `reached` holds (an observable point of the child's
/// work: a pack on disk, its lock) or the child has exited. True when the point was reached
/// while the child still ran, so a kill now lands mid-way on a fast machine and a slow one.
fn wait_for_point(child: &mut Child, what: &str, mut reached: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        if reached() {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reached: {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn kill_9_during_backup_loses_nothing_and_the_next_run_resumes() {
    let env = Env::new();
    env.init();
    let earlier = env.home.join("earlier");
    random_files(&earlier, 5, 300_000, 1).unwrap();
    env.ok(&["backup", earlier.to_str().unwrap()]);
    let big = env.home.join("big");
    random_files(&big, 150, 1024 * 1024, 2).unwrap();

    let seed: u64 = rand::random();
    println!("kill points seed {seed}");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    for round in 0..6 {
        // Kill once this run has stored a random number of new packs (~150 in all, 1 MiB
        // each): always mid-way, however fast the machine.
        let start = pack_names(&env.repo).len();
        let wait = rng.random_range(1..=20);
        let mut child: Child = env
            .cmd(&["backup", "-q", big.to_str().unwrap()])
            .spawn()
            .unwrap();
        let mid_way = wait_for_point(&mut child, "new packs", || {
            pack_names(&env.repo).len() >= start + wait
        });
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        println!(
            "round {round}: killed after {wait} new packs (mid-way: {mid_way}, {status:?}), {} packs on disk",
            pack_names(&env.repo).len()
        );
        // Every earlier snapshot is intact and the repository checks clean.
        let check = env.run(&["check", "--read-data"]);
        assert!(
            check.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let out = env.home.join(format!("restore-{round}"));
        let first = env.json(&["snapshots"])[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        env.ok(&["restore", &first, "--target", out.to_str().unwrap()]);
        assert!(compare_trees(&earlier, &out.join("earlier"))
            .unwrap()
            .is_empty());
    }
    let before = pack_names(&env.repo);
    let resumed = env.json(&["backup", big.to_str().unwrap()]);
    let stored = resumed["summary"]["bytes_stored"].as_u64().unwrap();
    let after = pack_names(&env.repo);
    println!(
        "resumed backup stored {stored} bytes; {} packs existed before it",
        before.len()
    );
    assert!(
        before.iter().all(|p| after.contains(p)),
        "finished packs are kept"
    );
    if before.len() > 2 {
        assert!(
            stored < 150 * 1024 * 1024,
            "finished packs were reused, not uploaded again"
        );
    }
    env.ok(&["check", "--read-data"]);
    let out = env.home.join("final");
    env.ok(&["restore", "latest", "--target", out.to_str().unwrap()]);
    assert!(compare_trees(&big, &out.join("big")).unwrap().is_empty());
}

#[cfg(unix)]
#[test]
fn ctrl_c_cancels_with_exit_code_130_and_leaves_a_valid_repository() {
    let env = Env::new();
    env.init();
    let big = env.home.join("big");
    random_files(&big, 100, 1024 * 1024, 4).unwrap();
    let mut child = env
        .cmd(&["backup", big.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Interrupt once the first pack is stored: the backup is certainly running.
    wait_for_point(&mut child, "a first pack", || {
        !pack_names(&env.repo).is_empty()
    });
    // SAFETY: sending SIGINT to our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert!(
        matches!(code(&out), 130 | 0),
        "exit code {:?}",
        out.status.code()
    );
    env.ok(&["check", "--read-data"]);
}

#[cfg(target_os = "linux")]
#[test]
fn backup_and_restore_stay_under_64_mib_of_memory() {
    let env = Env::new();
    // Default settings: 32 MiB Argon2id, 8 MiB packs, one worker per core.
    env.ok(&["init"]);
    let data = env.home.join("export");
    generate_export(
        &data,
        &ExportSpec {
            messages: 400_000,
            media_files: 0,
            ..ExportSpec::small()
        },
    )
    .unwrap();
    random_files(&data.join("media"), 300, 1024 * 1024, 5).unwrap();
    let size: u64 = walk_size(&data);
    let (code, rss) = run_measured(env.cmd(&["backup", "-q", data.to_str().unwrap()]));
    assert_eq!(code, 0);
    println!("backup of {} MiB: peak RSS {} MiB", size >> 20, rss >> 10);
    assert!(rss < 64 * 1024, "backup peak RSS {rss} KiB");
    let out = env.home.join("out");
    let (code, rss) =
        run_measured(env.cmd(&["restore", "-q", "latest", "--target", out.to_str().unwrap()]));
    assert_eq!(code, 0);
    println!("restore of {} MiB: peak RSS {} MiB", size >> 20, rss >> 10);
    assert!(rss < 64 * 1024, "restore peak RSS {rss} KiB");
    let (code, rss) = run_measured(env.cmd(&["check", "-q", "--read-data"]));
    assert_eq!(code, 0);
    println!("check --read-data: peak RSS {} MiB", rss >> 10);
    assert!(compare_trees(&data, &out.join("export"))
        .unwrap()
        .is_empty());
}

fn walk_size(p: &Path) -> u64 {
    let m = fs::symlink_metadata(p).unwrap();
    if m.is_dir() {
        fs::read_dir(p)
            .unwrap()
            .map(|e| walk_size(&e.unwrap().path()))
            .sum()
    } else {
        m.len()
    }
}

#[test]
fn demo_runs_end_to_end() {
    let env = Env::new();
    let out = env
        .cmd(&["demo", "--messages", "3000"])
        .env_remove("CHATVAULT_REPO")
        .env_remove("CHATVAULT_PASSWORD")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("byte-identical"), "{text}");
    assert!(env.home.join("xdg/chatvault/repository/config").exists());
    // The chat features, end to end, on a real-format export kept in the data directory.
    assert!(
        text.contains("Read as wechat-android: 9 conversations, 3000 messages"),
        "{text}"
    );
    assert!(text.contains("the chats now hold 3030 messages"), "{text}");
    assert!(text.contains("`chatvault search 你好` finds"), "{text}");
    let demo = env.home.join("xdg/chatvault/demo");
    assert!(demo.join("html/index.html").exists());
    // What the demo suggests next works on what it left.
    let chats = env
        .cmd(&["chats", "--json"])
        .env_remove("CHATVAULT_REPO")
        .env_remove("CHATVAULT_PASSWORD")
        .output()
        .unwrap();
    assert!(
        chats.status.success(),
        "{}",
        String::from_utf8_lossy(&chats.stderr)
    );
    let chats: Value = serde_json::from_slice(&chats.stdout).unwrap();
    assert_eq!(chats["messages"], 3030);
    // A second demo replaces its own folder and adds to the same repository.
    let again = env
        .cmd(&["demo", "--messages", "300"])
        .env_remove("CHATVAULT_REPO")
        .env_remove("CHATVAULT_PASSWORD")
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn kill_9_during_prune_loses_nothing() {
    let env = Env::new();
    env.init();
    let data = env.home.join("chat");
    random_files(&data, 300, 100_000, 1).unwrap();
    env.ok(&["backup", data.to_str().unwrap()]);
    let seed: u64 = rand::random();
    println!("prune kill points seed {seed}");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let (mut killed, mut finished) = (0, 0);
    for round in 0..8u64 {
        // New work for prune each round: drop every other file (half-used packs to
        // repack), add new ones, keep only the newest snapshot.
        for (i, f) in fs::read_dir(&data).unwrap().enumerate() {
            let f = f.unwrap().path();
            if i % 2 == 0 && f.is_file() {
                fs::remove_file(f).unwrap();
            }
        }
        random_files(&data, 150, 100_000, 100 + round).unwrap();
        env.ok(&["backup", data.to_str().unwrap()]);
        let kept = env.json(&["snapshots"]).as_array().unwrap().last().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        env.ok(&["forget", "--keep-last", "1"]);

        // Kill at an observable point of prune's work: once it holds its lock, or once it
        // has also written or deleted its first pack.
        let (locks, packs) = (lock_names(&env.repo), pack_names(&env.repo));
        let at_first_pack = rng.random_bool(0.5);
        let mut child = env.cmd(&["prune", "-q"]).spawn().unwrap();
        let point = if at_first_pack {
            "its first pack written or deleted"
        } else {
            "its lock taken"
        };
        wait_for_point(&mut child, point, || {
            if at_first_pack {
                pack_names(&env.repo) != packs
            } else {
                lock_names(&env.repo).iter().any(|l| !locks.contains(l))
            }
        });
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.success() {
            finished += 1
        } else {
            killed += 1
        }
        println!("round {round}: prune killed at {point} ({status:?})");
        let check = env.run(&["check", "--read-data"]);
        assert!(
            check.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let out = env.home.join(format!("restore-{round}"));
        env.ok(&["restore", &kept, "--target", out.to_str().unwrap()]);
        assert!(
            compare_trees(&data, &out.join("chat")).unwrap().is_empty(),
            "round {round}"
        );
    }
    println!("prune killed mid-way {killed} times, finished before the kill {finished} times");
    assert!(killed >= 3, "the kills must land while prune runs");
    // A prune that runs to the end still works.
    env.ok(&["prune"]);
    env.ok(&["check", "--read-data"]);
}

#[test]
fn schedule_runs_plans_once_records_kills_and_resumes() {
    let env = Env::new();
    env.init();
    let src = env.home.join("export");
    random_files(&src, 120, 1024 * 1024, 7).unwrap();
    let state = env.home.join("state");
    let s = |args: &[&str]| {
        let mut a = vec!["schedule", "--state-dir", state.to_str().unwrap()];
        a.extend_from_slice(args);
        a.iter().map(|x| x.to_string()).collect::<Vec<_>>()
    };
    let run = |args: &[&str]| {
        let a = s(args);
        env.ok(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    run(&[
        "add",
        "--name",
        "nightly",
        "--source",
        src.to_str().unwrap(),
        "--window",
        "01:00-05:00",
        "--unmetered",
        "--charging",
    ]);
    let plans: Value = serde_json::from_str(&run(&["list", "--json"])).unwrap();
    assert_eq!(plans[0]["spec"]["name"], "nightly");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let secret = fs::read_dir(state.join("secrets"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        assert_eq!(
            fs::metadata(secret).unwrap().permissions().mode() & 0o077,
            0
        );
    }

    // Constraints: on battery it is skipped, with the reason.
    let skipped: Value = serde_json::from_str(&run(&[
        "run",
        "--now",
        "2027-03-01 02:00",
        "--on-battery",
        "--json",
    ]))
    .unwrap();
    assert_eq!(skipped[0]["outcome"], "skipped");
    assert_eq!(skipped[0]["reason"], "the device is not charging");

    // kill -9 in the middle of a scheduled run: recorded as interrupted, resumed next time.
    // Killed once its first pack is stored (of ~120): the run has claimed the plan and is
    // mid-way, on a fast machine and a slow one alike.
    let a = s(&["run", "--now", "2027-03-01 02:05", "-q"]);
    let mut child = env
        .cmd(&a.iter().map(String::as_str).collect::<Vec<_>>())
        .spawn()
        .unwrap();
    assert!(
        wait_for_point(&mut child, "the scheduled run's first pack", || {
            !pack_names(&env.repo).is_empty()
        }),
        "the scheduled run ended before storing a pack"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    // Two overlapping triggers: the plan runs once.
    let a = s(&["run", "--now", "2027-03-01 02:10", "--json"]);
    let args: Vec<&str> = a.iter().map(String::as_str).collect();
    let first = env.cmd(&args).stdout(Stdio::piped()).spawn().unwrap();
    let second = env.cmd(&args).stdout(Stdio::piped()).spawn().unwrap();
    let (o1, o2) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    let outcomes: Vec<Value> = [o1, o2]
        .iter()
        .map(|o| serde_json::from_slice::<Value>(&o.stdout).unwrap()[0].clone())
        .collect();
    let successes = outcomes
        .iter()
        .filter(|o| o["outcome"] == "success")
        .count();
    println!(
        "{:?}",
        outcomes
            .iter()
            .map(|o| (o["outcome"].clone(), o["reason"].clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        successes, 1,
        "one run resumes the interrupted one; the others find it running or done"
    );

    let history: Value =
        serde_json::from_str(&run(&["history", "--json", "--limit", "0"])).unwrap();
    let outcomes: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        vec!["skipped", "interrupted", "success"],
        "{history:#}"
    );
    assert_eq!(env.json(&["snapshots"]).as_array().unwrap().len(), 1);
    env.ok(&["check", "--read-data"]);

    let status: Value =
        serde_json::from_str(&run(&["status", "--now", "2027-03-01 03:00", "--json"])).unwrap();
    assert!(status[0]["warning"].is_null());
    let later: Value =
        serde_json::from_str(&run(&["status", "--now", "2027-03-05 03:00", "--json"])).unwrap();
    assert!(later[0]["warning"]
        .as_str()
        .unwrap()
        .contains("No good backup"));
    // `chatvault status`: every destination with its newest snapshot and verification.
    let text = env.ok(&[
        "status",
        "--state-dir",
        state.to_str().unwrap(),
        "--now",
        "2027-03-01 03:00",
    ]);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("backup"))
        .unwrap_or_else(|| panic!("no destination line in\n{text}"));
    assert!(
        line.contains(env.repo.file_name().unwrap().to_str().unwrap())
            && line.contains("newest snapshot 2027-03-01")
            && line.contains("verified 2027-03-01"),
        "{line}"
    );

    // A copy destination must exist, open with the plan's password and be linked.
    let elsewhere = env.home.join("usb");
    let a = s(&[
        "add",
        "--name",
        "two",
        "--source",
        src.to_str().unwrap(),
        "--copy-to",
        elsewhere.to_str().unwrap(),
    ]);
    let out = env.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_ne!(code(&out), 0);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--copy-chunker-params-from"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let init = env
        .cmd(&[
            "--repo",
            elsewhere.to_str().unwrap(),
            "init",
            "--kdf-memory-mib",
            "8",
            "--kdf-iterations",
            "1",
            "--copy-chunker-params-from",
            env.repo.to_str().unwrap(),
        ])
        .env("CHATVAULT_FROM_PASSWORD", PW)
        .output()
        .unwrap();
    assert_eq!(code(&init), 0, "{}", String::from_utf8_lossy(&init.stderr));
    run(&[
        "add",
        "--name",
        "two",
        "--source",
        src.to_str().unwrap(),
        "--copy-to",
        elsewhere.to_str().unwrap(),
    ]);
    // Removing a plan says which, in JSON too; its password file goes with it.
    let removed: Value = serde_json::from_str(&run(&["remove", "two", "--json"])).unwrap();
    assert_eq!(removed["removed"], "two");
    let plans: Value = serde_json::from_str(&run(&["list", "--json"])).unwrap();
    assert_eq!(plans.as_array().unwrap().len(), 1, "{plans}");
}

#[test]
fn kill_9_during_copy_resumes_and_the_copy_checks_clean() {
    let env = Env::new();
    env.init();
    let big = env.home.join("big");
    random_files(&big, 100, 1024 * 1024, 3).unwrap();
    env.ok(&["backup", "-q", big.to_str().unwrap()]);
    let to = env.home.join("pc-copy");
    let to_s = to.to_str().unwrap();
    const TO_PW: &str = "the pc's own password";
    let with_to = |args: &[&str]| {
        let mut c = env.cmd(args);
        c.env("CHATVAULT_PASSWORD", TO_PW)
            .env("CHATVAULT_FROM_PASSWORD", PW)
            .env("CHATVAULT_TO_PASSWORD", TO_PW);
        c
    };
    let o = with_to(&[
        "--repo",
        to_s,
        "init",
        "--no-recovery-key",
        "--kdf-memory-mib",
        "8",
        "--kdf-iterations",
        "1",
        "--copy-chunker-params-from",
        env.repo.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let seed: u64 = rand::random();
    println!("kill points seed {seed}");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    for round in 0..4 {
        let start = pack_names(&to).len();
        let wait = rng.random_range(1..=3);
        let mut child = with_to(&[
            "--repo",
            env.repo.to_str().unwrap(),
            "copy",
            "-q",
            "--to",
            to_s,
        ])
        .spawn()
        .unwrap();
        // Killed once this run has stored a random number of new packs in the copy.
        let mid_way = wait_for_point(&mut child, "new packs in the copy", || {
            pack_names(&to).len() >= start + wait
        });
        let _ = child.kill();
        let status = child.wait().unwrap();
        println!(
            "round {round}: killed after {wait} new packs (mid-way: {mid_way}, {status:?}), {} packs in the copy",
            pack_names(&to).len()
        );
        let check = with_to(&["--repo", to_s, "check", "--read-data"])
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
    let before = pack_names(&to).len();
    let o = with_to(&[
        "--repo",
        env.repo.to_str().unwrap(),
        "--json",
        "copy",
        "--to",
        to_s,
    ])
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let sent = v["summary"]["bytes_copied"].as_u64().unwrap();
    println!("resumed copy sent {sent} bytes; {before} packs existed before it");
    if before > 2 {
        assert!(
            sent < 100 * 1024 * 1024,
            "packs stored by killed runs were reused"
        );
    }
    // A second run (`--all`, said explicitly) sends nothing; the copy restores identical
    // with its own password.
    let o = with_to(&[
        "--repo",
        env.repo.to_str().unwrap(),
        "--json",
        "copy",
        "--all",
        "--to",
        to_s,
    ])
    .output()
    .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["blobs_copied"].as_u64(), Some(0));
    assert_eq!(v["summary"]["snapshots_skipped"].as_u64(), Some(1));
    let out = env.home.join("from-copy");
    let o = with_to(&[
        "--repo",
        to_s,
        "restore",
        "latest",
        "--target",
        out.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(compare_trees(&big, &out.join("big")).unwrap().is_empty());
}

#[test]
fn chat_exports_are_listed_searched_and_restored_by_conversation() {
    let env = Env::new();
    env.init();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/wechat-android-small");
    // A copy without shared_prefs and a wrong key: exit 13, the message names what was tried.
    let noprefs = env.home.join("noprefs");
    copy_tree(&fixture, &noprefs).unwrap();
    fs::remove_dir_all(noprefs.join("shared_prefs")).unwrap();
    let o = env.run(&[
        "backup",
        noprefs.to_str().unwrap(),
        "--wechat-key",
        "0000000",
        "--uin",
        "42",
    ]);
    assert_eq!(code(&o), 13, "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("wrong key") && err.contains("uin 42") && !err.contains("0000000"),
        "{err}"
    );
    assert_eq!(
        env.json(&["snapshots"]).as_array().unwrap().len(),
        0,
        "nothing written"
    );
    // The same with the right uin works and says how.
    let v = env.json(&["backup", noprefs.to_str().unwrap(), "--uin", "1122334455"]);
    assert_eq!(v["source"], "wechat-android");
    assert_eq!(v["chat"]["messages"], 240);

    let chats = env.json(&["chats"]);
    assert_eq!(chats["conversations"].as_array().unwrap().len(), 9);
    let o = env.run(&["search", "明天见"]);
    assert_eq!(code(&o), 0);
    assert!(String::from_utf8_lossy(&o.stdout).contains("记得带伞"));
    let none = env.run(&["search", "没有这句话"]);
    assert_eq!(code(&none), 0, "finding nothing is an answer, not an error");
    assert!(String::from_utf8_lossy(&none.stdout).contains("0 messages found"));
    // --chat by name as `chats` shows it; an unknown one is an error that names it.
    let by_name = env.json(&["search", "明天见", "--chat", "wxid_f00101"]);
    assert!(by_name.as_array().is_some());
    let unknown = env.run(&["search", "明天见", "--chat", "李四不在"]);
    assert_eq!(code(&unknown), 1);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no conversation \"李四不在\""));
    let out = env.home.join("one");
    env.ok(&[
        "restore",
        "latest",
        "--chat",
        "wxid_f00101",
        "--target",
        out.to_str().unwrap(),
    ]);
    let msgs: Value =
        serde_json::from_slice(&fs::read(out.join("wxid_f00101.json")).unwrap()).unwrap();
    assert_eq!(msgs.as_array().unwrap().len(), 24);
}

/// `ls`, `find`, `dump` and `diff` look inside snapshots of a chat export without restoring
/// them; `diff` says what each conversation gained.
#[test]
fn snapshots_are_listed_searched_dumped_and_compared() {
    let env = Env::new();
    env.init();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/whatsapp/zh-CN/android");
    let chat = env.home.join("wa");
    copy_tree(&fixture, &chat).unwrap();
    let txt = fs::read_dir(&chat)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "txt"))
        .unwrap();
    let txt_name = txt.file_name().unwrap().to_str().unwrap().to_string();
    env.ok(&["backup", chat.to_str().unwrap()]);
    let first = env.json(&["snapshots"])[0]["short_id"]
        .as_str()
        .unwrap()
        .to_string();

    // ls: every file, with the paths restore --include takes.
    let ls = env.ok(&["ls"]);
    assert!(ls.lines().any(|l| l == format!("wa/{txt_name}")), "{ls}");
    let listed = env.json(&["ls", "latest", "wa"]);
    let paths: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths[0], "wa");
    assert_eq!(paths.len(), fs::read_dir(&chat).unwrap().count() + 1);
    assert_eq!(code(&env.run(&["ls", "latest", "wa/nothing-here"])), 1);

    // dump: the file's bytes exactly.
    let dumped = env
        .cmd(&["dump", "latest", &format!("wa/{txt_name}")])
        .output()
        .unwrap();
    assert!(dumped.status.success());
    assert_eq!(dumped.stdout, fs::read(&txt).unwrap());

    // A day later: one more message and one more photo.
    let original = fs::read_to_string(&txt).unwrap();
    let last = original
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap()
        .to_string();
    let header_end = last.find(" - ").unwrap() + 3;
    let author_end = header_end + last[header_end..].find(": ").unwrap();
    let added = format!("{}: 又一条消息 ✓\n", &last[..author_end]);
    fs::write(
        &txt,
        format!(
            "{}{added}",
            original.trim_end_matches('\n').to_string() + "\n"
        ),
    )
    .unwrap();
    fs::write(chat.join("IMG-20991231-WA0999.jpg"), b"new photo").unwrap();
    env.ok(&["backup", chat.to_str().unwrap()]);

    // find: by name, any case, in every snapshot that holds it.
    let found = env.json(&["find", "img-2099*.JPG"]);
    assert_eq!(
        found.as_array().unwrap().len(),
        1,
        "only the newer snapshot: {found}"
    );
    assert_eq!(found[0]["matches"][0]["path"], "wa/IMG-20991231-WA0999.jpg");

    // diff: files and, per conversation, messages gained.
    let d = env.json(&["diff", &first, "latest"]);
    let changes: Vec<(String, String)> = d["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["change"].as_str().unwrap().to_string(),
                f["entry"]["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        changes.contains(&("added".into(), "wa/IMG-20991231-WA0999.jpg".into())),
        "{d}"
    );
    assert!(
        changes.contains(&("modified".into(), format!("wa/{txt_name}"))),
        "{d}"
    );
    assert_eq!(changes.len(), 2, "{d}");
    assert_eq!(d["chats"].as_array().unwrap().len(), 1, "{d}");
    assert_eq!(d["chats"][0]["messages"], 1, "{d}");
    let text = env.ok(&["diff", &first, "latest"]);
    assert!(text.contains("+1 messages in "), "{text}");

    // restore --include that matches nothing is an error that says where to look.
    let none = env.run(&[
        "restore",
        "latest",
        "--target",
        env.home.join("r").to_str().unwrap(),
        "--include",
        "nope",
    ]);
    assert_eq!(code(&none), 1);
    assert!(String::from_utf8_lossy(&none.stderr).contains("chatvault ls"));
}

/// The `chats` table lines up Chinese names by display width (two columns a character).
#[test]
fn chinese_names_keep_the_chats_table_aligned() {
    let env = Env::new();
    env.init();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/wechat-android-small");
    env.ok(&["backup", fixture.to_str().unwrap()]);
    let table = env.ok(&["chats"]);
    let rows: Vec<&str> = table.lines().filter(|l| l.contains("  ")).skip(1).collect();
    assert!(rows.len() >= 9, "{table}");
    let kind_column = |l: &str| {
        use unicode_width::UnicodeWidthStr;
        let at = ["direct", "group", "channel", "system"]
            .iter()
            .filter_map(|k| l.find(&format!("  {k} ")))
            .min()
            .unwrap_or_else(|| panic!("no kind in {l:?}"));
        l[..at].width()
    };
    let first = kind_column(rows[0]);
    assert!(
        rows.iter()
            .any(|l| l.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))),
        "{table}"
    );
    for l in &rows {
        assert_eq!(kind_column(l), first, "misaligned: {table}");
    }
}

/// Output into a pipe closed early ends the command quietly: no panic, no exit 101.
#[test]
fn a_pipe_closed_early_ends_the_command_quietly() {
    let env = Env::new();
    env.init();
    let data = env.home.join("many");
    // Far more output than a pipe holds (64 KiB), so writing must outlive the reader.
    random_files(&data, 3000, 10, 3).unwrap();
    env.ok(&["backup", data.to_str().unwrap()]);
    let mut child = env
        .cmd(&["ls", "-l"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then close the pipe, as `| head -1` does.
    {
        use std::io::BufRead;
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty());
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    assert_ne!(out.status.code(), Some(101), "{err}");
}

/// Without a terminal, `init` names the options init reads.
#[test]
fn init_without_a_terminal_names_its_own_options() {
    let env = Env::new();
    let o = env
        .cmd(&["init"])
        .env_remove("CHATVAULT_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--password-file") && !err.contains("--new-password-file"),
        "{err}"
    );
}

/// `--password-command` reads the password from a password manager's output; a failing
/// command is an error that does not print what it printed.
#[test]
fn the_password_can_come_from_a_command() {
    let env = Env::new();
    env.init();
    let secret = env.home.join("secret.txt");
    fs::write(&secret, format!("{PW}\n")).unwrap();
    let o = env
        .cmd(&[
            "--password-command",
            &format!("cat '{}'", secret.display()),
            "snapshots",
        ])
        .env_remove("CHATVAULT_PASSWORD")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let wrong = env
        .cmd(&["--password-command", "echo not-it", "snapshots"])
        .env_remove("CHATVAULT_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(code(&wrong), 12);
    let failing = env
        .cmd(&["--password-command", "echo leaked; exit 3", "snapshots"])
        .env_remove("CHATVAULT_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(code(&failing), 1);
    let err = String::from_utf8_lossy(&failing.stderr);
    assert!(
        err.contains("password command failed") && !err.contains("leaked"),
        "{err}"
    );
}

#[test]
fn a_lock_dated_in_the_future_goes_stale_and_unlock_removes_locks() {
    let env = Env::new();
    env.init();
    let data = env.home.join("chat");
    random_files(&data, 3, 10_000, 5).unwrap();
    let locks = env.repo.join("locks");
    let plant = |name: &str, time: &str| {
        fs::create_dir_all(&locks).unwrap();
        let lock = serde_json::json!({
            "exclusive": true, "operation": "prune", "host": "another-host",
            "pid": 1, "time": time,
        });
        fs::write(locks.join(name), lock.to_string()).unwrap();
    };
    let future = "f".repeat(64);
    let live = "a".repeat(64);
    // An exclusive lock dated far in the future (a wrong clock, or forged) does not block.
    plant(&future, "2999-01-01T00:00:00Z");
    env.ok(&["backup", "-q", "--lock-wait", "0", data.to_str().unwrap()]);
    // unlock removes stale locks only; --remove-all removes live ones too.
    plant(&future, "2999-01-01T00:00:00Z");
    plant(&live, &chrono::Utc::now().to_rfc3339());
    assert_eq!(env.json(&["unlock"])["removed"], 1);
    assert_eq!(lock_names(&env.repo), vec![live.clone()]);
    assert_eq!(env.json(&["unlock", "--remove-all"])["removed"], 1);
    assert!(lock_names(&env.repo).is_empty());
}

#[test]
fn a_damaged_repository_restores_what_it_can_with_exit_3_and_forget_removes_a_bad_snapshot() {
    let env = Env::new();
    env.init();
    let data = env.home.join("export");
    generate_export(&data, &ExportSpec::small()).unwrap();
    env.ok(&["backup", "-q", data.to_str().unwrap()]);
    env.ok(&["backup", "-q", data.to_str().unwrap()]);
    // One byte flipped in the first pack.
    let packs = pack_names(&env.repo);
    let pack = env.repo.join("data").join(&packs[0][..2]).join(&packs[0]);
    let mut bytes = fs::read(&pack).unwrap();
    bytes[100] ^= 1;
    fs::write(&pack, bytes).unwrap();
    let out = env.home.join("out");
    let o = env.run(&["restore", "latest", "--target", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 3, "{err}");
    assert!(
        err.contains("damaged:") && err.contains("everything else is intact"),
        "{err}"
    );
    // What was not named damaged is the original.
    let diffs = compare_trees(&data, &out.join("export")).unwrap();
    for d in &diffs {
        let name = d.rsplit('/').next().unwrap();
        assert!(err.contains(name), "{d} differs but is not named: {err}");
    }

    // A snapshot file damaged: listed as a warning, prune refuses naming `forget`,
    // `forget ID` removes it, then prune works.
    let snaps = env.json(&["snapshots"]);
    let first = snaps[0]["id"].as_str().unwrap().to_string();
    let file = env.repo.join("snapshots").join(&first);
    let mut bytes = fs::read(&file).unwrap();
    bytes[40] ^= 1;
    fs::write(&file, bytes).unwrap();
    let o = env.run(&["snapshots"]);
    assert_eq!(code(&o), 0);
    assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("forget {}", &first[..8])));
    let o = env.run(&["prune"]);
    assert_ne!(code(&o), 0);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("forget"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = env.run(&["forget", "deadbeef"]);
    assert_eq!(code(&o), 1, "an unknown id is an error");
    assert!(file.exists());
    env.ok(&["forget", &first[..8]]);
    assert!(!file.exists());
    let o = env.run(&["forget", "--keep-last", "1", &first[..8]]);
    assert_eq!(code(&o), 1, "ids and rules together are refused");
    env.ok(&["prune"]);
}

#[test]
fn a_wrong_whatsapp_key_is_exit_13_writes_nothing_and_is_never_shown() {
    const KEY: &str = "8a1f3c5e7b9d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c2e4b6d8f0a1c3e5b7d9f2a";
    let env = Env::new();
    env.init();
    let wa = env.home.join("WhatsApp");
    chatvault_fixtures::whatsapp_db::generate(&wa, 16).unwrap();
    let dbs = wa.join("Databases");
    // Encrypted by an independent implementation (PyPI wa-crypt-tools; scripts/test.sh).
    let enc = std::process::Command::new("waencrypt")
        .args([KEY, "msgstore.db", "msgstore.db.crypt15"])
        .current_dir(&dbs)
        .output()
        .unwrap_or_else(|e| panic!("waencrypt (PyPI wa-crypt-tools==0.1.0) is missing: {e}"));
    assert!(
        enc.status.success(),
        "{}",
        String::from_utf8_lossy(&enc.stderr)
    );
    fs::remove_file(dbs.join("msgstore.db")).unwrap();
    let wrong = KEY.replace('8', "9");
    let o = env
        .cmd(&["backup", wa.to_str().unwrap()])
        .env("CHATVAULT_WHATSAPP_KEY", &wrong)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 13, "{err}");
    assert!(err.contains("msgstore.db.crypt15"), "{err}");
    assert!(
        !err.contains(&wrong) && !err.contains(KEY),
        "the key was shown: {err}"
    );
    assert_eq!(
        env.json(&["snapshots"]).as_array().unwrap().len(),
        0,
        "nothing written"
    );
    let o = env
        .cmd(&["backup", "-q", wa.to_str().unwrap()])
        .env("CHATVAULT_WHATSAPP_KEY", KEY)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let chats = env.json(&["chats"]);
    assert_eq!(
        chats["conversations"].as_array().map(Vec::len),
        Some(4),
        "{chats}"
    );
    assert_eq!(chats["messages"], 64);
    assert_eq!(
        chats["warnings"], 0,
        "the placeholder row is not worth a warning"
    );
}

#[test]
fn a_storage_rolled_back_to_an_older_snapshot_is_noticed() {
    let env = Env::new();
    env.init();
    let data = env.home.join("export");
    generate_export(&data, &ExportSpec::small()).unwrap();
    env.ok(&["backup", "-q", data.to_str().unwrap()]);
    fs::write(data.join("new.txt"), b"day two").unwrap();
    env.ok(&["backup", "-q", data.to_str().unwrap()]);
    let snaps = env.json(&["snapshots"]);
    let newest = snaps[1]["id"].as_str().unwrap().to_string();
    // Whoever controls the storage deletes the newest snapshot.
    fs::remove_file(env.repo.join("snapshots").join(&newest)).unwrap();
    for args in [
        &["snapshots"][..],
        &["restore", "latest", "--target", "/dev/null/x"][..],
    ] {
        let o = env.run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&newest[..8]) && err.contains("rolled back"),
            "{args:?}: {err}"
        );
    }
    // The next backup says so before it makes a newer snapshot; afterwards all is well.
    let o = env.run(&["backup", "-q", data.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("rolled back"));
    let o = env.run(&["snapshots"]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("rolled back"));
    // Removing the newest snapshot here is no rollback.
    let snaps = env.json(&["snapshots"]);
    let last = snaps.as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(&["forget", &last[..8]]);
    let o = env.run(&["snapshots"]);
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("rolled back"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn shell_completions_and_manual_pages_come_from_the_parser() {
    let env = Env::new();
    // bash loads the script and registers the completion function.
    let script = env.home.join("chatvault.bash");
    fs::write(&script, env.ok(&["completions", "bash"])).unwrap();
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p chatvault",
            script.display()
        ))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("_chatvault"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(env
        .ok(&["completions", "zsh"])
        .contains("#compdef chatvault"));
    assert!(env
        .ok(&["completions", "fish"])
        .contains("complete -c chatvault"));
    // Manual pages: the program's and one per command, with the options the parser has.
    assert!(env.ok(&["man"]).contains(".TH chatvault 1"));
    let dir = env.home.join("man");
    env.ok(&["man", "--out-dir", dir.to_str().unwrap()]);
    for page in [
        "chatvault.1",
        "chatvault-backup.1",
        "chatvault-restore.1",
        "chatvault-forget.1",
    ] {
        assert!(dir.join(page).is_file(), "{page}");
    }
    let backup = fs::read_to_string(dir.join("chatvault-backup.1")).unwrap();
    assert!(
        backup.contains("whatsapp\\-key"),
        "the backup page lists --whatsapp-key"
    );
}

/// What a reader notices about the chats (here a line before the first message, kept as
/// unparsed) is shown as a note and listed in --json's "notices", and the backup exits 0:
/// exit 3 is for files left out of the snapshot.
#[test]
fn reader_notices_are_notes_not_a_partial_backup() {
    let env = Env::new();
    env.init();
    let dir = env.home.join("wa");
    fs::create_dir_all(&dir).unwrap();
    let chat = dir.join("WhatsApp Chat with Ann.txt");
    fs::write(
        &chat,
        "this line came from nowhere\n\
         12/31/22, 9:15 PM - Ann: hello\n\
         12/31/22, 9:16 PM - Ann: how are you\n\
         1/1/23, 10:00 AM - Ann: happy new year\n",
    )
    .unwrap();
    let out = env.run(&[
        "--json",
        "backup",
        chat.to_str().unwrap(),
        "--source",
        "whatsapp",
    ]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!v["notices"].as_array().unwrap().is_empty(), "{v}");
    assert!(v["warnings"].as_array().unwrap().is_empty(), "{v}");
    // A day later (one more message, so the export is read again), without --json.
    let mut f = fs::OpenOptions::new().append(true).open(&chat).unwrap();
    std::io::Write::write_all(&mut f, b"1/2/23, 8:00 AM - Ann: and another\n").unwrap();
    drop(f);
    let out = env.run(&["backup", chat.to_str().unwrap(), "--whatsapp-me", "Me"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 0, "{err}");
    assert!(
        err.contains("note: ") && !err.contains("warning: "),
        "{err}"
    );
}

/// `--host`, `--tag` and `--path` select snapshots for `snapshots`, `latest` and `forget`
/// (restic's filters); an explicit id is taken whatever they say.
#[test]
fn host_tag_and_path_filters_select_snapshots() {
    let env = Env::new();
    env.init();
    let (phone, pc) = (env.home.join("phone-export"), env.home.join("pc-docs"));
    random_files(&phone, 2, 1000, 1).unwrap();
    random_files(&pc, 2, 1000, 2).unwrap();
    let backup = |dir: &Path, host: &str, tag: &str| {
        let v: Value = serde_json::from_str(&env.ok(&[
            "--json",
            "backup",
            dir.to_str().unwrap(),
            "--host",
            host,
            "--tag",
            tag,
        ]))
        .unwrap();
        v["snapshot"].as_str().unwrap().to_string()
    };
    let p1 = backup(&phone, "phone", "wechat");
    let p2 = backup(&phone, "phone", "wechat");
    let c1 = backup(&pc, "pc", "docs");
    let ids = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["snapshots"];
        a.extend_from_slice(args);
        env.json(&a)
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&[]).len(), 3);
    assert_eq!(ids(&["--host", "phone"]), [p1.clone(), p2.clone()]);
    assert_eq!(ids(&["--tag", "docs"]), std::slice::from_ref(&c1));
    assert_eq!(
        ids(&["--path", pc.to_str().unwrap()]),
        std::slice::from_ref(&c1)
    );
    assert!(ids(&["--host", "phone", "--tag", "docs"]).is_empty());
    // `latest` is the newest of those selected: the phone's, though the PC's is newer.
    let listed = env.ok(&["ls", "latest", "--host", "phone"]);
    assert!(
        listed.contains("phone-export") && !listed.contains("pc-docs"),
        "{listed}"
    );
    let out = env.run(&["ls", "latest", "--host", "tablet"]);
    assert_ne!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--host/--tag/--path"));
    // An id is taken as it is.
    assert!(env
        .ok(&["ls", &c1[..8], "--host", "phone"])
        .contains("pc-docs"));
    // forget: the rule holds among the selected only; the PC's snapshot stays.
    env.ok(&["forget", "--keep-last", "1", "--host", "phone"]);
    assert_eq!(ids(&[]), [p2, c1]);
}

/// With a Chinese locale the command line speaks Chinese: the tables' headings, the
/// summaries, the search count and the errors people meet first (their exit codes unchanged).
#[test]
fn a_chinese_locale_gets_chinese_output() {
    let env = Env::new();
    env.init();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/wechat-android-small");
    let zh = |args: &[&str]| {
        let mut c = env.cmd(args);
        c.env("LANG", "zh_CN.UTF-8");
        c.output().unwrap()
    };
    let out = zh(&["backup", fixture.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(said.contains("已保存") && said.contains("个会话"), "{said}");
    let table = String::from_utf8(zh(&["chats"]).stdout).unwrap();
    assert!(
        table.contains("名称") && table.contains("消息数"),
        "{table}"
    );
    let found = String::from_utf8(zh(&["search", "晚上吃什么"]).stdout).unwrap();
    let hits = env
        .json(&["search", "晚上吃什么"])
        .as_array()
        .unwrap()
        .len();
    assert!(found.contains(&format!("找到 {hits} 条消息")), "{found}");
    let listed = String::from_utf8(zh(&["snapshots"]).stdout).unwrap();
    assert!(
        listed.contains("共 1 个快照") && listed.contains("路径"),
        "{listed}"
    );
    // LC_ALL wins over LANG, as POSIX orders them.
    let mut c = env.cmd(&["snapshots"]);
    c.env("LANG", "zh_CN.UTF-8").env("LC_ALL", "en_US.UTF-8");
    let english = String::from_utf8(c.output().unwrap().stdout).unwrap();
    assert!(english.contains("1 snapshot(s)"), "{english}");
    // A wrong password: said in Chinese, exit code 12 as in English.
    let mut c = env.cmd(&["snapshots"]);
    c.env("LANG", "zh_CN.UTF-8")
        .env("CHATVAULT_PASSWORD", "not the password");
    let out = c.output().unwrap();
    assert_eq!(code(&out), 12);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("错误：备份仓库的密码不正确"), "{err}");
}

/// `--json` on a long command: the result stays one JSON document on standard output, and
/// progress is a stream of JSON lines on standard error, every phase reported.
#[test]
fn json_progress_is_a_stream_of_lines_beside_the_result() {
    let env = Env::new();
    env.init();
    let src = env.home.join("src");
    random_files(&src, 40, 256 * 1024, 11).unwrap();
    let out = env.run(&["backup", "--json", src.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["summary"]["files"], 40);
    let lines: Vec<Value> = String::from_utf8(out.stderr)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert!(lines.iter().all(|l| l["type"] == "progress"), "{lines:?}");
    let phases: Vec<&str> = lines.iter().filter_map(|l| l["phase"].as_str()).collect();
    for phase in ["scanning", "backup", "finished"] {
        assert!(phases.contains(&phase), "no {phase} in {phases:?}");
    }
    let last = lines.last().unwrap();
    assert_eq!(last["files_done"], 40);
    assert_eq!(last["bytes_done"], 40 * 256 * 1024);
    // Restore and check stream theirs the same way.
    let target = env.home.join("out");
    for args in [
        &[
            "restore",
            "--json",
            "latest",
            "--target",
            target.to_str().unwrap(),
        ][..],
        &["check", "--json", "--read-data"][..],
    ] {
        let out = env.run(args);
        assert_eq!(code(&out), 0, "{args:?}");
        serde_json::from_slice::<Value>(&out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.lines().count() >= 2, "{args:?}: {stderr}");
        for l in stderr.lines() {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
            assert_eq!(v["type"], "progress", "{l}");
        }
    }
}

/// An incremental backup's progress as a terminal shows it (tmux): the phase is named from
/// the first frame (no blank "0 B/0 B"), and the run ends with its summary. Every frame is
/// saved to target/test-artifacts/progress/incremental-backup.txt.
#[test]
fn an_incremental_backup_shows_its_progress_on_a_terminal() {
    let env = Env::new();
    env.init();
    let src = env.home.join("src");
    random_files(&src, 300, 1024 * 1024, 12).unwrap();
    env.ok(&["backup", "-q", src.to_str().unwrap()]);
    // A day later: 30 of 300 files changed.
    random_files(&src.join("new"), 30, 1024 * 1024, 13).unwrap();
    // The command with the test's environment, in a script (the password stays off argv).
    let cmd = env.cmd(&["backup", src.to_str().unwrap()]);
    let mut script = String::from("#!/bin/sh\n");
    for (k, v) in cmd.get_envs() {
        let k = k.to_str().unwrap();
        match v {
            Some(v) => script.push_str(&format!("export {k}='{}'\n", v.to_str().unwrap())),
            None => script.push_str(&format!("unset {k}\n")),
        }
    }
    script.push_str(&format!(
        "exec '{}' backup '{}'\n",
        cmd.get_program().to_str().unwrap(),
        src.display()
    ));
    let run = env.home.join("run.sh");
    fs::write(&run, script).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&run, fs::Permissions::from_mode(0o700)).unwrap();
    }
    let session = format!("cv-progress-{}", std::process::id());
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .args(args)
            .output()
            .expect("tmux is needed for the terminal test (scripts/test.sh installs it)")
    };
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "120",
        "-y",
        "8",
        // Kept open after the command ends, so its last frame can be read.
        ";",
        "set-option",
        "-t",
        &session,
        "remain-on-exit",
        "on",
        ";",
        "respawn-pane",
        "-k",
        "-t",
        &session,
        run.to_str().unwrap(),
    ]);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let mut frames: Vec<String> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        // The observable end: the command exited (read before the frame, so the frame
        // taken after it is the last).
        let dead = tmux(&["display-message", "-p", "-t", &session, "#{pane_dead}"]);
        let dead = String::from_utf8_lossy(&dead.stdout).trim() == "1";
        // The screen with what scrolled off it.
        let shot = tmux(&["capture-pane", "-p", "-S", "-", "-t", &session]);
        let frame = String::from_utf8_lossy(&shot.stdout).trim().to_string();
        if frames.last() != Some(&frame) && !frame.is_empty() {
            frames.push(frame.clone());
        }
        if dead {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not finished: {frames:#?}"
        );
        std::thread::yield_now();
    }
    tmux(&["kill-session", "-t", &session]);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts/progress");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("incremental-backup.txt"),
        frames.join("\n\n---- next frame ----\n\n"),
    )
    .unwrap();
    println!("{} frames captured", frames.len());
    for f in &frames {
        assert!(!f.contains("0 B/0 B"), "a blank first frame: {f}");
        for line in f.lines().filter(|l| l.contains("] ")) {
            assert!(
                ["scanning", "backup", "finished"]
                    .iter()
                    .any(|p| line.contains(p)),
                "a progress line without its phase: {line}"
            );
        }
    }
    let last = frames.last().unwrap();
    assert!(
        last.contains(" saved: 330 files") && last.contains("(30 read)"),
        "{last}"
    );
}

/// `search --since/--until` finds only the messages of that stretch of time (local dates,
/// `--until` counting its whole day), and a window with nothing in it is an answer (exit 0).
#[test]
fn search_takes_a_time_window() {
    let env = Env::new();
    env.init();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/wechat-android-small");
    env.ok(&["backup", "-q", fixture.to_str().unwrap()]);
    let all = env.json(&["search", "晚上吃什么", "--limit", "1000"]);
    let all = all.as_array().unwrap();
    assert!(all.len() > 2, "{all:?}");
    // The commands run with TZ=UTC, so local dates are UTC dates here.
    let from = chrono::NaiveDate::from_ymd_opt(2023, 11, 17).unwrap();
    let to = chrono::NaiveDate::from_ymd_opt(2023, 11, 20).unwrap();
    let day = |m: &Value| {
        chrono::DateTime::from_timestamp_millis(m["time_ms"].as_i64().unwrap())
            .unwrap()
            .date_naive()
    };
    let expected: Vec<&Value> = all
        .iter()
        .filter(|m| day(m) >= from && day(m) <= to)
        .collect();
    assert!(!expected.is_empty() && expected.len() < all.len());
    let some = env.json(&[
        "search",
        "晚上吃什么",
        "--since",
        "2023-11-17",
        "--until",
        "2023-11-20",
        "--limit",
        "1000",
    ]);
    let some = some.as_array().unwrap();
    assert_eq!(some.len(), expected.len(), "{some:?}");
    assert!(some.iter().all(|m| day(m) >= from && day(m) <= to));
    let none = env.run(&["search", "晚上吃什么", "--since", "2030-01-01"]);
    assert_eq!(code(&none), 0);
    assert!(String::from_utf8_lossy(&none.stdout).contains("0 messages found"));
    let wrong = env.run(&[
        "search",
        "x",
        "--since",
        "2024-02-01",
        "--until",
        "2024-01-01",
    ]);
    assert_eq!(code(&wrong), 1);
}

/// A WhatsApp text export of days `from..=to` of January 2024, a message a day.
fn whatsapp_days(dir: &Path, from: u32, to: u32) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    std::fs::create_dir_all(dir).unwrap();
    let text: String = (from..=to)
        .map(|d| format!("{d:02}/01/2024, 09:00 - Ann: note of day {d} 你好\n"))
        .collect();
    std::fs::write(dir.join("WhatsApp Chat with Ann.txt"), text).unwrap();
}

#[test]
fn archive_purge_removes_what_it_names_and_says_what_exports_still_hold() {
    let env = Env::new();
    env.init();
    let export = env.home.join("WhatsApp Ann");
    whatsapp_days(&export, 1, 20);
    env.ok(&["backup", "-q", export.to_str().unwrap()]);
    whatsapp_days(&export, 11, 25);
    env.ok(&["backup", "-q", export.to_str().unwrap()]);
    let chats = env.json(&["chats"]);
    assert_eq!(chats["archived"], 10, "days 1 to 10 left the phone");
    let chat = chats["conversations"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let unknown = env.run(&["archive", "purge", "--chat", "nobody"]);
    assert_eq!(code(&unknown), 1);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nobody"));

    let dry = env.json(&[
        "archive",
        "purge",
        "--chat",
        &chat,
        "--before",
        "2024-01-06",
        "--dry-run",
    ]);
    assert_eq!(dry["messages"], 5, "{dry}");
    assert_eq!(
        env.json(&["chats"])["archived"],
        10,
        "a dry run changes nothing"
    );

    let out = env.ok(&[
        "archive",
        "purge",
        "--chat",
        &chat,
        "--before",
        "2024-01-06",
        "--prune",
    ]);
    assert!(out.contains("purged 5 archived messages"), "{out}");
    // The first snapshot's export still holds days 1 to 5, and says so.
    assert!(out.contains("1 snapshots still hold up to 5"), "{out}");
    let chats = env.json(&["chats"]);
    assert_eq!(
        (chats["messages"].as_u64(), chats["archived"].as_u64()),
        (Some(20), Some(5))
    );
    let found = |q: &str| env.json(&["search", q]).as_array().unwrap().len();
    assert_eq!(found("note of day 3 "), 0, "purged");
    assert_eq!(found("note of day 7 "), 1, "archived, not named");
    assert_eq!(found("note of day 12 "), 1, "on the phone");
    env.ok(&["check", "--read-data"]);
}
