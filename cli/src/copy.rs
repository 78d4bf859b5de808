//! `chatvault copy`: snapshots from one repository to another, linked one.

use anyhow::{bail, Context as _, Result};
use chatvault_core::{CancelToken, Repository, Secret};
use serde_json::json;
use std::path::Path;

use crate::args::{Cli, CopyArgs};
use crate::commands::{print_json, say};
use crate::context;
use crate::ui::{bytes, ProgressView};
use chatvault_core::storage::Location;

/// Opens the repository at `dir` (a path or a URL) with a password from `file`, `$env`, or
/// a prompt.
pub fn open_other(dir: &Path, file: Option<&Path>, env: &str) -> Result<Repository> {
    let storage = context::open_location(&Location::parse(&dir.to_string_lossy())?)?;
    if !Repository::exists(storage.as_ref())? {
        return Err(chatvault_core::Error::RepositoryNotFound {
            location: dir.display().to_string(),
        }
        .into());
    }
    let pw = if let Some(f) = file {
        context::read_secret_file(f)?
    } else if let Ok(p) = std::env::var(env) {
        p
    } else if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        rpassword::prompt_password(format!("password for {}: ", dir.display()))
            .context("cannot read the password")?
    } else {
        bail!(
            "no password for {}: use a password file or set {env}",
            dir.display()
        )
    };
    Ok(Repository::open(storage, &Secret::password(pw))?)
}

/// `chatvault copy --to REPO [SNAPSHOT...|--latest N]`
pub fn run(cli: &Cli, a: &CopyArgs, cancel: &CancelToken) -> Result<i32> {
    let source = match &a.from {
        Some(dir) => open_other(
            dir,
            a.from_password_file.as_deref(),
            "CHATVAULT_FROM_PASSWORD",
        )?,
        None if a.from_password_file.is_some()
            || std::env::var_os("CHATVAULT_FROM_PASSWORD").is_some() =>
        {
            open_other(
                &context::Target::resolve(cli)?.dir,
                a.from_password_file.as_deref(),
                "CHATVAULT_FROM_PASSWORD",
            )?
        }
        None => context::open(cli)?.0,
    };
    let target = open_other(
        &a.to,
        a.to_password_file.as_deref(),
        "CHATVAULT_TO_PASSWORD",
    )?;
    let mut snapshots = if a.snapshots.is_empty() {
        source.snapshots()?
    } else {
        a.snapshots
            .iter()
            .map(|s| source.find_snapshot(s))
            .collect::<chatvault_core::Result<Vec<_>>>()?
    };
    if let Some(n) = a.latest {
        let skip = snapshots.len().saturating_sub(n);
        snapshots.drain(..skip);
    }
    let view = ProgressView::for_cli(cli);
    let r = source.copy_to(&target, &snapshots, Some(&view), cancel);
    view.finish();
    let r = r?;
    if cli.json {
        print_json(&json!({"to": a.to, "summary": r}))?;
    } else {
        say(
            cli,
            format!(
                "copied {} snapshots to {} ({} already there): {} blobs, {}",
                r.snapshots_copied,
                a.to.display(),
                r.snapshots_skipped,
                r.blobs_copied,
                bytes(r.bytes_copied)
            ),
        );
    }
    Ok(0)
}
