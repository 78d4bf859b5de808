//! Cloud storage through the `chatvault` binary, against real servers on loopback started
//! by each test (tests/src/servers.rs): Garage for S3, rclone for WebDAV. Backup, snapshots,
//! restore byte-identical, check --read-data, forget --prune; a server killed in the middle
//! of a backup and restarted; bad credentials, a missing bucket and an unreachable server;
//! and throughput against local disk (printed, not asserted).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chatvault_fixtures::chat_exports::{wechat_android, ChatSpec};
use chatvault_fixtures::servers::{Garage, WebDav};
use chatvault_fixtures::{compare_trees, random_files};
use serde_json::Value;

mod common;
use common::{code, ok, Env};

/// A command against `location`, with the servers' credentials in the environment.
fn at(env: &Env, location: &str, creds: &[(&str, &str)], args: &[&str]) -> Command {
    let mut a = vec!["--repo", location];
    a.extend_from_slice(args);
    let mut c = env.cmd(&a);
    for (k, v) in creds {
        c.env(k, v);
    }
    c
}

/// A fast key derivation; the default pack size (8 MiB: an upload is megabytes, as for
/// users, which is what exposes servers that refuse a request before reading its body).
fn init_args() -> Vec<&'static str> {
    vec!["init", "--kdf-memory-mib", "8", "--kdf-iterations", "1"]
}

/// The whole life of a repository at `location`.
fn full_cycle(env: &Env, location: &str, creds: &[(&str, &str)]) {
    let export = env.home.join("wechat");
    if !export.exists() {
        wechat_android(&export, &ChatSpec::small(11), true).unwrap();
        random_files(&export.join("media-extra"), 6, 700_000, 3).unwrap();
    }
    ok(at(env, location, creds, &init_args()));
    let first: Value = serde_json::from_str(&ok(at(
        env,
        location,
        creds,
        &["--json", "backup", export.to_str().unwrap()],
    )))
    .unwrap();
    assert_eq!(first["source"], "wechat-android");
    // A day later: one more file.
    random_files(&export.join("day2"), 1, 300_000, 9).unwrap();
    ok(at(
        env,
        location,
        creds,
        &["backup", "-q", export.to_str().unwrap()],
    ));
    let snaps: Value =
        serde_json::from_str(&ok(at(env, location, creds, &["--json", "snapshots"]))).unwrap();
    assert_eq!(snaps.as_array().unwrap().len(), 2);
    let out = env.home.join(format!("restored-{}", location.len()));
    ok(at(
        env,
        location,
        creds,
        &["restore", "-q", "latest", "--target", out.to_str().unwrap()],
    ));
    assert!(compare_trees(&export, &out.join("wechat"))
        .unwrap()
        .is_empty());
    let search = ok(at(env, location, creds, &["search", "长城旅行"]));
    assert!(search.contains("长城旅行"));
    ok(at(env, location, creds, &["check", "--read-data"]));
    ok(at(
        env,
        location,
        creds,
        &["forget", "--keep-last", "1", "--prune"],
    ));
    let snaps: Value =
        serde_json::from_str(&ok(at(env, location, creds, &["--json", "snapshots"]))).unwrap();
    assert_eq!(snaps.as_array().unwrap().len(), 1);
    ok(at(env, location, creds, &["check", "--read-data"]));
}

fn garage_creds(g: &Garage) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", g.key_id.clone()),
        ("AWS_SECRET_ACCESS_KEY", g.secret.clone()),
    ]
}

fn borrow<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, s)| (*k, s.as_str())).collect()
}

#[test]
fn garage_s3_backup_restore_check_prune() {
    let env = Env::new();
    let g = Garage::start(&env.home.join("garage"), "chatvault");
    let creds = garage_creds(&g);
    full_cycle(&env, &g.location("phone-1"), &borrow(&creds));
}

#[test]
fn rclone_webdav_backup_restore_check_prune() {
    let env = Env::new();
    let w = WebDav::start(&env.home.join("dav"));
    let creds = [
        ("CHATVAULT_WEBDAV_USER", w.user.as_str()),
        ("CHATVAULT_WEBDAV_PASSWORD", w.password.as_str()),
    ];
    // Collections that do not exist yet are created.
    full_cycle(&env, &w.location("nested/backups/phone"), &creds);
    assert!(w.root().join("nested/backups/phone/config").is_file());
}

/// Kills the server while a backup runs, restarts it, and checks that the backup either
/// retried through or failed cleanly, that the next run completes sending only what was
/// missing, and that the repository checks clean.
fn server_killed_mid_backup(
    env: &Env,
    location: &str,
    creds: &[(&str, &str)],
    uploading: &dyn Fn() -> bool,
    kill: &mut dyn FnMut(),
    restart: &mut dyn FnMut(),
) {
    let data = env.home.join("big");
    random_files(&data, 40, 1024 * 1024, 21).unwrap();
    ok(at(env, location, creds, &init_args()));
    let child = at(
        env,
        location,
        creds,
        &["--json", "backup", data.to_str().unwrap()],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Kill it once the first pack has arrived, so the backup is mid-way.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !uploading() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(uploading(), "no pack arrived");
    kill();
    std::thread::sleep(Duration::from_millis(1500));
    restart();
    let out = child.wait_with_output().unwrap();
    let first_ok = out.status.success();
    println!(
        "backup with the server killed for 1.5 s: {}",
        if first_ok {
            "retried through".to_string()
        } else {
            format!(
                "failed cleanly: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        }
    );
    if !first_ok {
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "no panic"
        );
    }
    let second: Value = serde_json::from_str(&ok(at(
        env,
        location,
        creds,
        &["--json", "backup", data.to_str().unwrap()],
    )))
    .unwrap();
    let added = second["summary"]["bytes_added"].as_u64().unwrap();
    println!("the next backup added {added} of 41943040 bytes");
    assert!(
        added < 40 * 1024 * 1024,
        "what arrived before the kill is not sent again"
    );
    if first_ok {
        assert_eq!(added, 0, "everything arrived the first time");
    }
    ok(at(env, location, creds, &["check", "--read-data"]));
    let out = env.home.join(format!("after-kill-{}", location.len()));
    ok(at(
        env,
        location,
        creds,
        &["restore", "-q", "latest", "--target", out.to_str().unwrap()],
    ));
    assert!(compare_trees(&data, &out.join("big")).unwrap().is_empty());
}

#[test]
fn garage_killed_mid_backup_and_restarted() {
    let env = Env::new();
    let g = std::cell::RefCell::new(Garage::start(&env.home.join("garage"), "chatvault"));
    let creds = garage_creds(&g.borrow());
    let location = g.borrow().location("killed");
    server_killed_mid_backup(
        &env,
        &location,
        &borrow(&creds),
        &|| files_under(&env.home.join("garage/data")) > 0,
        &mut || g.borrow_mut().kill(),
        &mut || g.borrow_mut().restart(),
    );
}

#[test]
fn webdav_killed_mid_backup_and_restarted() {
    let env = Env::new();
    let w = std::cell::RefCell::new(WebDav::start(&env.home.join("dav")));
    let (user, password, location) = {
        let w = w.borrow();
        (w.user.clone(), w.password.clone(), w.location("killed"))
    };
    let creds = [
        ("CHATVAULT_WEBDAV_USER", user.as_str()),
        ("CHATVAULT_WEBDAV_PASSWORD", password.as_str()),
    ];
    server_killed_mid_backup(
        &env,
        &location,
        &creds,
        &|| files_under(&env.home.join("dav/killed/data")) > 0,
        &mut || w.borrow_mut().kill(),
        &mut || w.borrow_mut().restart(),
    );
}

fn files_under(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                files_under(&p)
            } else {
                1
            }
        })
        .sum()
}

/// Runs a command that must fail; returns its stderr and how long it took.
fn fails(c: Command) -> (String, Duration) {
    let started = Instant::now();
    let mut c = c;
    let out = c.output().unwrap();
    assert_ne!(code(&out), 0);
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn bad_credentials_missing_bucket_and_unreachable_servers_fail_clearly_and_quickly() {
    let env = Env::new();
    let g = Garage::start(&env.home.join("garage"), "chatvault");
    let creds = garage_creds(&g);
    ok(at(&env, &g.location("p"), &borrow(&creds), &init_args()));

    let wrong = [
        ("AWS_ACCESS_KEY_ID", g.key_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", "not the secret"),
    ];
    let (err, took) = fails(at(&env, &g.location("p"), &wrong, &["snapshots"]));
    println!("bad credentials: {took:?}: {err}");
    assert!(
        err.contains("refused access") && err.contains("access key or secret"),
        "{err}"
    );
    assert!(
        !err.contains("not the secret"),
        "the secret is never printed"
    );
    assert!(took < Duration::from_secs(20));

    let missing = format!(
        "s3://no-such-bucket/p?endpoint={}&region=garage",
        g.endpoint
    );
    let (err, took) = fails(at(&env, &missing, &borrow(&creds), &init_args()));
    println!("missing bucket: {took:?}: {err}");
    assert!(
        err.contains("no-such-bucket") && err.contains("does not exist"),
        "{err}"
    );
    assert!(took < Duration::from_secs(20));

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let nowhere = format!("s3://chatvault/p?endpoint=http://127.0.0.1:{closed}&region=garage");
    let (err, took) = fails(at(&env, &nowhere, &borrow(&creds), &["snapshots"]));
    println!("unreachable S3: {took:?}: {err}");
    assert!(err.contains("cannot be reached"), "{err}");
    assert!(took < Duration::from_secs(60), "bounded: {took:?}");

    let w = WebDav::start(&env.home.join("dav"));
    let bad_dav = [
        ("CHATVAULT_WEBDAV_USER", w.user.as_str()),
        ("CHATVAULT_WEBDAV_PASSWORD", "wrong"),
    ];
    let (err, _) = fails(at(&env, &w.location("r"), &bad_dav, &init_args()));
    assert!(err.contains("user name or password is wrong"), "{err}");
    assert!(!err.contains("wrong\""), "{err}");
    assert_eq!(
        std::fs::read_dir(w.root()).unwrap().count(),
        0,
        "nothing written"
    );
    let remote_http = "webdav+http://192.0.2.1/r";
    let (err, took) = fails(at(&env, remote_http, &bad_dav, &["snapshots"]));
    assert!(err.contains("unencrypted"), "{err}");
    assert!(took < Duration::from_secs(5), "refused before connecting");
}

#[test]
fn throughput_to_garage_and_webdav_against_local_disk() {
    let env = Env::new();
    let data = env.home.join("data");
    random_files(&data, 48, 1024 * 1024, 5).unwrap();
    let g = Garage::start(&env.home.join("garage"), "chatvault");
    let w = WebDav::start(&env.home.join("dav"));
    let gc = garage_creds(&g);
    let wc = [
        ("CHATVAULT_WEBDAV_USER", w.user.as_str()),
        ("CHATVAULT_WEBDAV_PASSWORD", w.password.as_str()),
    ];
    let local = env.home.join("local-repo");
    type Target<'a> = (&'a str, String, Vec<(&'a str, &'a str)>);
    let targets: Vec<Target> = vec![
        ("local disk", local.to_string_lossy().into_owned(), vec![]),
        ("Garage (S3)", g.location("bench"), borrow(&gc)),
        ("rclone WebDAV", w.location("bench"), wc.to_vec()),
    ];
    let mut secs = Vec::new();
    for (name, location, creds) in &targets {
        ok(at(&env, location, creds, &init_args()));
        let started = Instant::now();
        ok(at(
            &env,
            location,
            creds,
            &["backup", "-q", data.to_str().unwrap()],
        ));
        let t = started.elapsed().as_secs_f64();
        secs.push(t);
        println!(
            "backup of 48 MiB to {name}: {t:.2} s, {:.1} MiB/s, {:.2}× local disk time",
            48.0 / t,
            t / secs[0]
        );
    }
    assert!(Path::new(&local).join("config").is_file());
}

#[test]
fn copies_go_from_a_local_repository_to_garage_and_webdav() {
    let env = Env::new();
    let g = Garage::start(&env.home.join("garage"), "chatvault");
    let w = WebDav::start(&env.home.join("dav"));
    let gc = garage_creds(&g);
    let mut creds = borrow(&gc);
    creds.push(("CHATVAULT_WEBDAV_USER", w.user.as_str()));
    creds.push(("CHATVAULT_WEBDAV_PASSWORD", w.password.as_str()));
    creds.push(("CHATVAULT_FROM_PASSWORD", common::PW));
    creds.push(("CHATVAULT_TO_PASSWORD", common::PW));
    let data = env.home.join("export");
    wechat_android(&data, &ChatSpec::small(5), true).unwrap();
    let local = env.home.join("local");
    let local_s = local.to_str().unwrap();
    ok(at(&env, local_s, &creds, &init_args()));
    ok(at(
        &env,
        local_s,
        &creds,
        &["backup", "-q", data.to_str().unwrap()],
    ));
    for remote in [g.location("copy"), w.location("copy")] {
        let mut init = init_args();
        init.extend(["--copy-chunker-params-from", local_s]);
        ok(at(&env, &remote, &creds, &init));
        let first: Value = serde_json::from_str(&ok(at(
            &env,
            local_s,
            &creds,
            &["--json", "copy", "--to", &remote],
        )))
        .unwrap();
        assert_eq!(first["summary"]["snapshots_copied"], 1, "{remote}");
        let again: Value = serde_json::from_str(&ok(at(
            &env,
            local_s,
            &creds,
            &["--json", "copy", "--all", "--to", &remote],
        )))
        .unwrap();
        assert_eq!(
            again["summary"]["blobs_copied"], 0,
            "{remote}: a second run sends nothing"
        );
        let out = env.home.join(format!("from-{}", remote.len()));
        ok(at(
            &env,
            &remote,
            &creds,
            &["restore", "-q", "latest", "--target", out.to_str().unwrap()],
        ));
        assert!(
            compare_trees(&data, &out.join("export"))
                .unwrap()
                .is_empty(),
            "{remote}"
        );
        ok(at(&env, &remote, &creds, &["check", "--read-data"]));
    }
}

#[test]
fn webdav_over_real_tls_needs_the_servers_ca_and_works_with_it() {
    let env = Env::new();
    let (w, ca) = WebDav::start_tls(&env.home.join("dav"));
    let location = w.location("tls/phone");
    assert!(location.starts_with("webdav+https://"));
    let creds = [
        ("CHATVAULT_WEBDAV_USER", w.user.as_str()),
        ("CHATVAULT_WEBDAV_PASSWORD", w.password.as_str()),
    ];
    // The public roots do not know a self-hosted server's CA: refused at once, with a hint.
    let (err, took) = fails(at(&env, &location, &creds, &init_args()));
    println!("untrusted certificate: {took:?}: {err}");
    assert!(
        err.contains("certificate") && err.contains("CHATVAULT_CA_FILE"),
        "{err}"
    );
    assert!(took < Duration::from_secs(10), "not retried: {took:?}");
    assert_eq!(files_under(w.root()), 0, "nothing written");
    // With the CA: the whole cycle over TLS.
    let mut with_ca = creds.to_vec();
    let ca_s = ca.to_string_lossy().into_owned();
    with_ca.push(("CHATVAULT_CA_FILE", ca_s.as_str()));
    full_cycle(&env, &location, &with_ca);
}
