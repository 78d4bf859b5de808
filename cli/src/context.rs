//! Where the repository is and how to unlock it: `--repo`, the embedded default, passwords.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};
use chatvault_core::storage::{self, Location, Storage};
use chatvault_core::{InitOptions, Repository, Secret};

use crate::args::{Cli, FilterArgs};

/// Opens a repository location; network credentials come from the environment
/// (`AWS_ACCESS_KEY_ID`, `CHATVAULT_WEBDAV_USER`, …), a `lan://` receiver's identity from
/// this PC's identity file.
pub fn open_location(location: &Location) -> Result<Arc<dyn Storage>> {
    let mut access = storage::Access::from_env()?;
    if matches!(location, Location::Lan(_)) {
        access.lan_identity = Some(crate::lan::identity(false)?);
    }
    Ok(location.open(&access)?)
}

/// The repository a command works on.
pub struct Target {
    /// Its directory (for a network location, the location as written).
    pub dir: PathBuf,
    /// Where it is.
    pub location: Location,
    /// True for the embedded default (no `--repo`).
    pub is_default: bool,
}

/// The platform data directory (`~/.local/share/chatvault` on Linux, honouring XDG_DATA_HOME).
pub fn data_dir() -> Result<PathBuf> {
    directories::ProjectDirs::from("", "", "chatvault")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or_else(|| anyhow!("cannot find your data directory (no home directory?); pass --repo"))
}

/// Warns (on stderr) when the repository's newest snapshot went back in time since this
/// device last looked (a rolled-back storage); remembers what it saw in the data directory.
pub fn warn_on_rollback(repo: &Repository, snapshots: &[chatvault_core::Snapshot]) {
    let Ok(dir) = data_dir().map(|d| d.join("seen")) else {
        return;
    };
    match repo.check_rollback(snapshots, &dir) {
        Ok(Some(w)) => eprintln!("warning: {w}"),
        Ok(None) => {}
        Err(e) => log::warn!("cannot remember the newest snapshot: {e}"),
    }
}

/// After this device removed snapshots itself: what it remembers follows.
pub fn acknowledge_snapshots(repo: &Repository) {
    if let Ok(dir) = data_dir().map(|d| d.join("seen")) {
        if let Err(e) = repo.acknowledge_snapshots(&dir) {
            log::warn!("cannot remember the newest snapshot: {e}");
        }
    }
}

fn default_password_file(dir: &Path) -> PathBuf {
    dir.with_file_name("repository.password")
}

impl Target {
    pub fn resolve(cli: &Cli) -> Result<Target> {
        let Some(text) = &cli.repo else {
            let dir = data_dir()?.join("repository");
            return Ok(Target {
                location: Location::local(&dir),
                dir,
                is_default: true,
            });
        };
        let location = Location::parse(text).map_err(|e| anyhow!("--repo: {e}"))?;
        Ok(Target {
            dir: location
                .as_path()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(text)),
            location,
            is_default: false,
        })
    }

    /// The storage, with credentials for network locations from the environment.
    pub fn storage(&self) -> Result<Arc<dyn Storage>> {
        open_location(&self.location)
    }
}

pub fn read_secret_file(path: &Path) -> Result<String> {
    let s = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read password file {}", path.display()))?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

/// The first line a password command prints (`sh -c COMMAND`); its errors go to the
/// terminal, and a command that fails is an error naming its exit status, never its output.
pub fn password_from_command(command: &str) -> Result<String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run the password command")?;
    if !out.status.success() {
        bail!("the password command failed ({})", out.status);
    }
    let text = String::from_utf8(out.stdout).context("the password command printed no text")?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        bail!("the password command printed nothing");
    }
    Ok(line.to_string())
}

/// The password from `--password-file`, `--password-command`, `$CHATVAULT_PASSWORD`, the
/// default repository's stored password, or a prompt, in that order.
pub fn password(cli: &Cli, target: &Target, prompt: &str) -> Result<String> {
    if let Some(f) = &cli.password_file {
        return read_secret_file(f);
    }
    if let Some(c) = &cli.password_command {
        return password_from_command(c);
    }
    if let Ok(p) = std::env::var("CHATVAULT_PASSWORD") {
        return Ok(p);
    }
    let stored = default_password_file(&target.dir);
    if target.is_default && stored.exists() {
        return read_secret_file(&stored);
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(prompt).context("cannot read the password");
    }
    bail!("no password given: use --password-file FILE or set CHATVAULT_PASSWORD")
}

/// A new password: from a file, `$CHATVAULT_NEW_PASSWORD`, or a prompt asked twice.
pub fn new_password(file: Option<&Path>) -> Result<String> {
    if let Some(f) = file {
        return read_secret_file(f);
    }
    if let Ok(p) = std::env::var("CHATVAULT_NEW_PASSWORD") {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no new password given: use --new-password-file FILE or set CHATVAULT_NEW_PASSWORD");
    }
    ask_new_password()
}

/// The password of a repository being created: from --password-file or
/// `$CHATVAULT_PASSWORD` (the same as every later command reads), or a prompt asked twice.
pub fn init_password(cli: &Cli, target: &Target) -> Result<String> {
    if cli.password_file.is_some()
        || cli.password_command.is_some()
        || std::env::var("CHATVAULT_PASSWORD").is_ok()
    {
        return password(cli, target, "");
    }
    if !std::io::stdin().is_terminal() {
        bail!("no password given: use --password-file FILE or set CHATVAULT_PASSWORD");
    }
    ask_new_password()
}

fn ask_new_password() -> Result<String> {
    let a = rpassword::prompt_password("new password: ")?;
    let b = rpassword::prompt_password("repeat new password: ")?;
    if a != b {
        bail!("the passwords differ");
    }
    Ok(a)
}

/// Opens the repository.
pub fn open(cli: &Cli) -> Result<(Repository, Target)> {
    let target = Target::resolve(cli)?;
    let storage = target.storage()?;
    if !Repository::exists(storage.as_ref())? {
        return Err(chatvault_core::Error::RepositoryNotFound {
            location: target.dir.display().to_string(),
        }
        .into());
    }
    let pw = password(
        cli,
        &target,
        &format!("password for {}: ", target.dir.display()),
    )?;
    let mut repo = Repository::open(storage, &Secret::password(pw))?;
    repo.set_cache_dir(cache_dir(cli));
    Ok((repo, target))
}

/// The folder kept between runs (`~/.cache/chatvault` on Linux, honouring
/// XDG_CACHE_HOME), unless `--no-cache`.
pub fn cache_dir(cli: &Cli) -> Option<PathBuf> {
    if cli.no_cache {
        return None;
    }
    directories::ProjectDirs::from("", "", "chatvault").map(|d| d.cache_dir().to_path_buf())
}

/// Creates the embedded default repository with a random password kept in a file only the
/// user can read (the PC's equivalent of a phone keystore). Returns it and its recovery key.
pub fn init_default(cli: &Cli, target: &Target) -> Result<(Repository, Option<String>)> {
    std::fs::create_dir_all(target.dir.parent().unwrap_or(&target.dir))
        .with_context(|| format!("cannot create {}", target.dir.display()))?;
    let explicit = cli.password_file.is_some() || std::env::var_os("CHATVAULT_PASSWORD").is_some();
    let pw = if explicit {
        password(cli, target, "")?
    } else {
        let pw = hex::encode(chatvault_core::repo::crypto::random_bytes::<24>()?);
        write_private(&default_password_file(&target.dir), pw.as_bytes())?;
        pw
    };
    let opts = InitOptions {
        recovery_key: true,
        ..Default::default()
    };
    Ok(Repository::init(target.storage()?, &pw, &opts)?)
}

/// Writes a file readable only by its owner.
pub fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    Ok(())
}

/// The snapshot filter of `--host/--tag/--path`: each path as backups record it (absolute,
/// links resolved) when it exists here, else as given.
pub fn filter(f: &FilterArgs) -> chatvault_core::SnapshotFilter {
    chatvault_core::SnapshotFilter {
        hosts: f.hosts.clone(),
        tags: f.tags.clone(),
        paths: f
            .paths
            .iter()
            .map(|p| {
                std::fs::canonicalize(p)
                    .unwrap_or_else(|_| p.clone())
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
    }
}
