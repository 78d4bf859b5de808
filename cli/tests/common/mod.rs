//! What the end-to-end tests of the `chatvault` binary share: an isolated environment
//! (data directory, repository, password) and peak-memory measurement.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub const PW: &str = "a password for tests";

pub struct Env {
    _home: tempfile::TempDir,
    pub home: PathBuf,
    pub repo: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        let home = tempfile::tempdir().unwrap();
        let path = home.path().to_path_buf();
        Env {
            repo: path.join("repo"),
            home: path,
            _home: home,
        }
    }

    /// A command with an isolated data directory, the test repository and password.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_chatvault"));
        c.args(args)
            .env_remove("CHATVAULT_REPO")
            .env_remove("CHATVAULT_PASSWORD_FILE")
            .env("XDG_DATA_HOME", self.home.join("xdg"))
            .env("HOME", &self.home)
            .env("CHATVAULT_REPO", &self.repo)
            .env("CHATVAULT_PASSWORD", PW)
            // Times the tests compute are in UTC; so is the local time of the commands.
            .env("TZ", "UTC")
            // English unless a test asks for another language.
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "chatvault {args:?} failed ({:?}):\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    pub fn init(&self) {
        self.ok(&[
            "init",
            "--kdf-memory-mib",
            "8",
            "--kdf-iterations",
            "1",
            "--pack-size-mib",
            "1",
        ]);
    }
}

/// Runs `c`, asserts it succeeded, returns its stdout.
pub fn ok(mut c: Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Runs a command under GNU time and returns its exit code and peak resident memory in KiB.
///
/// Not `wait4` from this process: a child spawned from the (large, multi-threaded) test
/// process inherits its memory high-water mark across exec, so ru_maxrss would measure the
/// test harness. GNU time is a small process, so its child starts from a clean slate.
#[cfg(target_os = "linux")]
pub fn run_measured(cmd: Command) -> (i32, u64) {
    let time = Path::new("/usr/bin/time");
    assert!(time.exists(), "GNU time is needed to measure peak memory: install the Debian package `time` (the test script does)");
    let mut m = Command::new(time);
    m.arg("-f")
        .arg("peak-rss-kib %M")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => m.env(k, v),
            None => m.env_remove(k),
        };
    }
    let out = m.stdin(Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rss = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("peak-rss-kib "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no measurement in {stderr}"));
    (out.status.code().unwrap_or(-1), rss)
}
