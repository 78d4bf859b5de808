//! `chatvault`: the desktop command line over chatvault-core.

mod archive;
mod args;
mod browse;
mod chats;
mod commands;
mod context;
mod copy;
#[cfg(feature = "demo")]
mod demo;
mod docs;
mod lan;
mod schedule;
mod text;
mod ui;
mod unlock;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use chatvault_core::{CancelToken, Error};

/// Exit codes (scripts rely on them).
const EXIT_ERROR: u8 = 1;
const EXIT_NOT_FOUND: u8 = 10;
const EXIT_WRONG_PASSWORD: u8 = 12;
/// A chat database's key or an iPhone backup's password is wrong or missing.
const EXIT_WRONG_KEY: u8 = 13;
const EXIT_CANCELLED: u8 = 130;

fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<Error>() {
        Some(Error::RepositoryNotFound { .. }) => EXIT_NOT_FOUND,
        Some(Error::WrongPassword) => EXIT_WRONG_PASSWORD,
        Some(Error::WrongKey { .. } | Error::WrongBackupPassword { .. }) => EXIT_WRONG_KEY,
        Some(Error::Cancelled) => EXIT_CANCELLED,
        _ => EXIT_ERROR,
    }
}

/// glibc keeps freed multi-megabyte buffers (chunks, packs) in per-thread arenas, so a
/// process's resident memory drifts well above what it uses. Serving every allocation of
/// 256 KiB or more straight from mmap returns it to the system the moment it is freed, and
/// two arenas are plenty for our few threads.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

/// Output into a pipe that closes early (`chatvault search 你好 | head -1`) ends the program
/// quietly, as it does for other command-line tools, instead of a panic on the failed write.
/// Process-wide, so only for the listing commands (see `main`).
#[cfg(unix)]
fn end_quietly_on_closed_pipe() {
    // SAFETY: restores the default action of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn end_quietly_on_closed_pipe() {}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    // Only commands that just print: a closed pipe ends them. Never for commands that talk
    // to a network or serve one (a peer closing a connection must not end `serve`).
    if matches!(
        cli.command,
        Command::Snapshots(_)
            | Command::Ls(_)
            | Command::Find(_)
            | Command::Dump(_)
            | Command::Diff(_)
            | Command::Chats(_)
            | Command::Search(_)
            | Command::Stats
            | Command::Completions { .. }
            | Command::Man { .. }
    ) {
        end_quietly_on_closed_pipe();
    }
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        _ => "debug",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp(None)
        .init();

    let cancel = CancelToken::new();
    {
        let cancel = cancel.clone();
        let _ = ctrlc::set_handler(move || {
            if cancel.is_cancelled() {
                std::process::exit(EXIT_CANCELLED as i32);
            }
            eprintln!("\ncancelling… (press Ctrl-C again to quit at once)");
            cancel.cancel();
        });
    }

    let result = match &cli.command {
        Command::Init(a) => commands::init(&cli, a),
        Command::Backup(a) => commands::backup(&cli, a, &cancel),
        Command::Snapshots(a) => commands::snapshots(&cli, a),
        Command::Copy(a) => copy::run(&cli, a, &cancel),
        Command::Restore(a) => match &a.chat {
            Some(chat) => chats::restore_conversation(&cli, a, chat, &cancel),
            None => commands::restore(&cli, a, &cancel),
        },
        Command::Ls(a) => browse::ls(&cli, a),
        Command::Find(a) => browse::find(&cli, a),
        Command::Dump(a) => browse::dump(&cli, a),
        Command::Diff(a) => browse::diff(&cli, a),
        Command::Chats(a) => chats::list(&cli, a),
        Command::Search(a) => chats::search(&cli, a),
        Command::Export(a) => chats::export(&cli, a, &cancel),
        Command::Check(a) => commands::check(&cli, a, &cancel),
        Command::Forget(a) => commands::forget(&cli, a, &cancel),
        Command::Prune(a) => commands::prune(&cli, a, &cancel),
        Command::Archive { command } => archive::run(&cli, command, &cancel),
        Command::Stats => commands::stats(&cli),
        Command::Unlock(a) => unlock::run(&cli, a),
        Command::Key { command } => commands::key(&cli, command),
        #[cfg(feature = "demo")]
        Command::Demo(a) => demo::run(&cli, a, &cancel),
        #[cfg(not(feature = "demo"))]
        Command::Demo(_) => Err(anyhow::anyhow!(
            "this build of chatvault has no demo (built without the `demo` feature)"
        )),
        Command::Schedule(a) => schedule::run(&cli, a, &cancel),
        Command::Serve(a) => lan::serve(&cli, a),
        Command::Pair(a) => lan::pair(&cli, a),
        Command::Discover { seconds } => lan::discover(&cli, *seconds),
        Command::Devices(a) => lan::devices(&cli, a),
        Command::Completions { shell } => docs::completions(*shell),
        Command::Man { out_dir } => docs::man(out_dir.as_deref()),
        Command::Status { state_dir, now } => schedule::run(
            &cli,
            &args::ScheduleArgs {
                state_dir: state_dir.clone(),
                command: args::ScheduleCommand::Status { now: now.clone() },
            },
            &cancel,
        ),
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("{}", text::error_line(&e, &describe(&e)));
            ExitCode::from(exit_code(&e))
        }
    }
}

/// An error and its causes in one line, each cause only once: messages that already
/// include their cause's text (as `read FILE: No such file…` does) don't repeat it.
fn describe(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}
