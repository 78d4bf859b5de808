//! `chatvault unlock`: removes stale locks, or every lock with `--remove-all`.

use anyhow::Result;
use clap::Args;

use crate::args::Cli;
use crate::commands::{print_json, say};
use crate::context;

/// Options of `chatvault unlock`.
#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Remove every lock, live ones too: only when no backup, copy or prune of this
    /// repository runs anywhere.
    #[arg(long)]
    pub remove_all: bool,
}

/// Removes stale locks (or all of them) and says how many.
pub fn run(cli: &Cli, a: &UnlockArgs) -> Result<i32> {
    let (repo, _) = context::open(cli)?;
    let removed = repo.remove_locks(a.remove_all)?;
    if cli.json {
        print_json(&serde_json::json!({ "removed": removed }))?;
    } else {
        say(cli, format!("removed {removed} lock(s)"));
    }
    Ok(0)
}
