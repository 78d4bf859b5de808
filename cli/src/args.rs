//! Command-line surface. Users' scripts rely on these names: keep them stable.

use std::path::PathBuf;

use chatvault_core::schedule::{PlanSpec, Verification};
use clap::{Args, Parser, Subcommand};

/// ChatVault: encrypted, deduplicated, verifiable backups of your chats.
#[derive(Debug, Parser)]
#[command(name = "chatvault", version, about, propagate_version = true)]
pub struct Cli {
    /// Repository: a folder, s3://BUCKET/PREFIX, webdav+https://HOST/PATH or lan://… from
    /// `chatvault pair` (default: a repository in your data directory).
    #[arg(long, global = true, env = "CHATVAULT_REPO")]
    pub repo: Option<String>,
    /// Read the password from this file (else --password-command, $CHATVAULT_PASSWORD, a prompt).
    #[arg(long, global = true, env = "CHATVAULT_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// Run this shell command and use what it prints as the password (a password manager:
    /// `pass show chatvault`, `secret-tool lookup app chatvault`).
    #[arg(long, global = true, env = "CHATVAULT_PASSWORD_COMMAND")]
    pub password_command: Option<String>,
    /// Keep nothing between runs: without it each source's last chat index is kept in
    /// your cache folder (readable by you only), so the next backup reads back only the
    /// part of it that changed.
    #[arg(long, global = true, env = "CHATVAULT_NO_CACHE")]
    pub no_cache: bool,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Only print errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More detail (repeat for debug output).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a repository (prints a recovery key once).
    Init(InitArgs),
    /// Back up files and folders into a new snapshot.
    Backup(BackupArgs),
    /// List snapshots (all, or those --host/--tag/--path select).
    Snapshots(SnapshotsArgs),
    /// Copy snapshots (and only the data they need) to another, linked repository.
    Copy(CopyArgs),
    /// Restore a snapshot (or part of it, or one conversation) into a folder.
    Restore(RestoreArgs),
    /// List a snapshot's files (all, or those under PATH), as restore --include takes them.
    Ls(LsArgs),
    /// Find files whose name matches PATTERN (`*` and `?` as in a shell) in every snapshot.
    Find(FindArgs),
    /// Write one file of a snapshot to standard output.
    Dump(DumpArgs),
    /// What changed between two snapshots: files, and for chats messages and media per conversation.
    Diff(DiffArgs),
    /// List the conversations in a snapshot of a chat export (no download of the index).
    Chats(ChatsArgs),
    /// Search the messages of a snapshot (any language, emoji included).
    Search(SearchArgs),
    /// Write a snapshot's chats as a static HTML site (opens without a network), JSON or text.
    Export(ExportArgs),
    /// Verify the repository: structure, and optionally the data itself.
    Check(CheckArgs),
    /// Remove snapshots by id, or by a retention policy.
    Forget(ForgetArgs),
    /// Delete data no snapshot uses.
    Prune(PruneArgs),
    /// The archive: messages the phone no longer has, kept from earlier backups.
    Archive {
        #[command(subcommand)]
        command: ArchiveCommand,
    },
    /// Sizes, counts, deduplication and compression.
    Stats,
    /// Remove stale locks (a crashed or vanished process); with --remove-all, every lock.
    Unlock(crate::unlock::UnlockArgs),
    /// Manage passwords and the recovery key.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Run the whole job on a generated sample chat export: back up, list, verify, restore, compare.
    Demo(DemoArgs),
    /// Scheduled backups: plans that `schedule run` (from cron or a systemd timer) carries out.
    Schedule(ScheduleArgs),
    /// Receive backups from phones on this network (the PC side of phone → PC over Wi-Fi).
    Serve(ServeArgs),
    /// Pair this machine, as a phone would, with a receiver: by its pairing URI, or its address and code.
    Pair(PairArgs),
    /// Find receivers on the local network (mDNS).
    Discover {
        /// How long to listen, in seconds.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// List the phones paired with a receiver, or revoke one.
    Devices(DevicesArgs),
    /// Every plan's destinations: the newest snapshot each holds and when it was verified.
    Status {
        /// Folder holding the schedule database (default: the data directory).
        #[arg(long, env = "CHATVAULT_STATE_DIR")]
        state_dir: Option<PathBuf>,
        /// Pretend it is this time.
        #[arg(long)]
        now: Option<String>,
    },
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell),
    /// e.g. `chatvault completions bash > ~/.local/share/bash-completion/completions/chatvault`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (chatvault.1 and one per command) into DIR, or print
    /// chatvault.1 to standard output without --out-dir.
    Man {
        /// Folder to write the pages into.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Folder holding the schedule database and plan secrets (default: the data directory).
    #[arg(long, env = "CHATVAULT_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: ScheduleCommand,
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Add a plan (its destination is --repo, or the default repository).
    Add(PlanArgs),
    /// List plans.
    List,
    /// Remove a plan and its history.
    Remove {
        /// Plan name or id.
        plan: String,
    },
    /// Run every due plan whose conditions hold (what cron or a systemd timer calls).
    Run {
        /// Pretend it is this time (RFC 3339, or local `YYYY-MM-DD HH:MM`).
        #[arg(long)]
        now: Option<String>,
        /// The machine runs on battery.
        #[arg(long)]
        on_battery: bool,
        /// The battery is low.
        #[arg(long)]
        battery_low: bool,
        /// The network is metered.
        #[arg(long)]
        metered: bool,
        /// The machine is in use (not idle).
        #[arg(long)]
        busy: bool,
    },
    /// Health of every plan and each of its destinations (same as `chatvault status`).
    Status {
        /// Pretend it is this time.
        #[arg(long)]
        now: Option<String>,
    },
    /// Run history, newest first.
    History {
        /// Only this plan.
        #[arg(long)]
        plan: Option<String>,
        /// At most this many entries (0: all).
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Plan name.
    #[arg(long)]
    pub name: String,
    /// Folder to back up.
    #[arg(long)]
    pub source: PathBuf,
    /// An encrypted SQLite database in the source and its page size (repeatable).
    #[arg(long = "page-size", value_name = "PATH=SIZE")]
    pub page_sizes: Vec<String>,
    /// Run every N hours (default: daily).
    #[arg(long, value_name = "N", conflicts_with_all = ["weekly", "monthly"])]
    pub every_hours: Option<u32>,
    /// Run weekly.
    #[arg(long, conflicts_with = "monthly")]
    pub weekly: bool,
    /// Run monthly.
    #[arg(long)]
    pub monthly: bool,
    /// Preferred local time window, e.g. 01:00-05:00.
    #[arg(long)]
    pub window: Option<String>,
    /// Only on an unmetered network.
    #[arg(long)]
    pub unmetered: bool,
    /// Only while charging.
    #[arg(long)]
    pub charging: bool,
    /// Only when the battery is not low.
    #[arg(long)]
    pub battery_not_low: bool,
    /// Only when idle.
    #[arg(long)]
    pub idle: bool,
    /// Keep the newest N snapshots.
    #[arg(long, default_value_t = PlanSpec::DEFAULT_RETENTION.last)]
    pub keep_last: u32,
    /// Keep N daily snapshots.
    #[arg(long, default_value_t = PlanSpec::DEFAULT_RETENTION.daily)]
    pub keep_daily: u32,
    /// Keep N weekly snapshots.
    #[arg(long, default_value_t = PlanSpec::DEFAULT_RETENTION.weekly)]
    pub keep_weekly: u32,
    /// Keep N monthly snapshots.
    #[arg(long, default_value_t = PlanSpec::DEFAULT_RETENTION.monthly)]
    pub keep_monthly: u32,
    /// Keep N yearly snapshots.
    #[arg(long, default_value_t = PlanSpec::DEFAULT_RETENTION.yearly)]
    pub keep_yearly: u32,
    /// Percentage of data to read back after each run.
    #[arg(long, default_value_t = Verification::DEFAULT.sample_percent)]
    pub verify_percent: f64,
    /// Read everything back every N days (0: never).
    #[arg(long, default_value_t = Verification::DEFAULT.full_every_days)]
    pub full_verify_days: u32,
    /// Leave out photos, videos and voice messages.
    #[arg(long)]
    pub exclude_media: bool,
    /// Warn when there has been no good backup for this many hours.
    #[arg(long, default_value_t = PlanSpec::DEFAULT_WARN_AFTER_HOURS)]
    pub warn_after_hours: u32,
    /// Keep copies in this repository too (repeatable; created linked with
    /// `init --copy-chunker-params-from`, same password). Backups go there when the plan's
    /// own destination cannot be reached.
    #[arg(long = "copy-to", value_name = "REPO")]
    pub copy_to: Vec<PathBuf>,
    /// Copy at most every N hours (0: after every backup).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub copy_every_hours: u32,
    /// Copy only on an unmetered network.
    #[arg(long)]
    pub copy_unmetered: bool,
}

#[derive(Debug, Args)]
pub struct KdfArgs {
    /// Argon2id memory in MiB for the password slot (stored in the slot).
    #[arg(long, default_value_t = 32)]
    pub kdf_memory_mib: u32,
    /// Argon2id passes.
    #[arg(long, default_value_t = 3)]
    pub kdf_iterations: u32,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub kdf: KdfArgs,
    /// Target pack size in MiB.
    #[arg(long, default_value_t = 8)]
    pub pack_size_mib: u32,
    /// Do not create a recovery key.
    #[arg(long)]
    pub no_recovery_key: bool,
    /// Link the new repository to this one (same chunking and blob ids), so `copy`
    /// between them sends only new data. Its password: `--from-password-file` or
    /// `$CHATVAULT_FROM_PASSWORD`.
    #[arg(long, value_name = "REPO")]
    pub copy_chunker_params_from: Option<PathBuf>,
    /// Password file of the repository named by `--copy-chunker-params-from`.
    #[arg(long, value_name = "FILE", env = "CHATVAULT_FROM_PASSWORD_FILE")]
    pub from_password_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Source repository (default: `--repo`, else the embedded default).
    #[arg(long, value_name = "REPO")]
    pub from: Option<PathBuf>,
    /// Destination repository (linked to the source, see `init --copy-chunker-params-from`).
    #[arg(long, value_name = "REPO")]
    pub to: PathBuf,
    /// Source password file (else `$CHATVAULT_FROM_PASSWORD`, else the usual password).
    #[arg(long, value_name = "FILE", env = "CHATVAULT_FROM_PASSWORD_FILE")]
    pub from_password_file: Option<PathBuf>,
    /// Destination password file (else `$CHATVAULT_TO_PASSWORD`, else a prompt).
    #[arg(long, value_name = "FILE", env = "CHATVAULT_TO_PASSWORD_FILE")]
    pub to_password_file: Option<PathBuf>,
    /// Snapshots to copy (ids, prefixes or `latest`); default: all.
    pub snapshots: Vec<String>,
    /// Only the newest N snapshots.
    #[arg(long, conflicts_with = "snapshots")]
    pub latest: Option<usize>,
    /// Every snapshot (what no snapshot arguments mean too; for scripts that say so).
    #[arg(long, conflicts_with_all = ["snapshots", "latest"])]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Files or folders to back up.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Tag the snapshot (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Host or device name to record.
    #[arg(long)]
    pub host: Option<String>,
    /// Worker threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// An encrypted SQLite database and its page size, e.g. `db/EnMicroMsg.db=1024` (repeatable).
    #[arg(long = "page-size", value_name = "PATH=SIZE")]
    pub page_sizes: Vec<String>,
    /// Read every file, even those unchanged since the last snapshot.
    #[arg(long)]
    pub force: bool,
    /// Seconds to wait for a running prune.
    #[arg(long, default_value_t = 60)]
    pub lock_wait: u64,
    /// What the export is (default: detected): wechat-android, wechat-ios, whatsapp,
    /// telegram, folder.
    #[arg(long, value_name = "KIND")]
    pub source: Option<String>,
    /// WeChat Android: the database key (7 hex characters), if known. Other users of this
    /// computer can see a command line: prefer --wechat-key-file or $CHATVAULT_WECHAT_KEY.
    #[arg(long, env = "CHATVAULT_WECHAT_KEY", hide_env_values = true)]
    pub wechat_key: Option<String>,
    /// WeChat Android: a file whose first line is the database key.
    #[arg(long, value_name = "FILE", conflicts_with = "wechat_key")]
    pub wechat_key_file: Option<PathBuf>,
    /// WeChat Android: the phone's IMEI or device id to derive the key from (repeatable;
    /// "1234567890ABCDEF" is always tried too).
    #[arg(long = "imei")]
    pub imeis: Vec<String>,
    /// WeChat Android: the account's uin, if the export has no shared_prefs.
    #[arg(long)]
    pub uin: Option<String>,
    /// WhatsApp text exports: your name as the export writes it, so your messages are
    /// marked as yours (one-to-one chats find it from the file name without this).
    #[arg(long, value_name = "NAME")]
    pub whatsapp_me: Option<String>,
    /// WhatsApp's own backups (Databases/msgstore.db.crypt15): the 64-digit key of
    /// end-to-end encrypted backups, or the path of a `key` file (crypt14/crypt12).
    #[arg(
        long,
        env = "CHATVAULT_WHATSAPP_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub whatsapp_key: Option<String>,
    /// iPhone backups (iTunes/Finder): a file whose first line is the password of an
    /// encrypted backup (else `$CHATVAULT_IPHONE_BACKUP_PASSWORD`; never on the command line).
    #[arg(long, value_name = "FILE")]
    pub iphone_backup_password_file: Option<PathBuf>,
    /// WeChat on iPhone: index only this account (its WeChat id such as `wxid_…`, or its
    /// folder name under Documents/), where the phone was signed in to several; default: all.
    #[arg(long, value_name = "ACCOUNT")]
    pub account: Option<String>,
}

/// Which snapshots `latest` and retention consider (restic's filters).
#[derive(Debug, Args, Default, Clone)]
pub struct FilterArgs {
    /// Only snapshots from this host (repeatable: any of them).
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// Only snapshots with this tag (repeatable: all of them).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only snapshots that backed up this path (repeatable: all of them).
    #[arg(long = "path", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Snapshot id, id prefix, or `latest`.
    #[arg(default_value = "latest")]
    pub snapshot: String,
    /// Only what is at or below this path (it starts with the backed-up folder's name).
    pub path: Option<String>,
    /// Sizes and modification times too.
    #[arg(short, long)]
    pub long: bool,
}

#[derive(Debug, Args)]
pub struct FindArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// File name pattern: `*` any characters, `?` one; case-insensitive.
    pub pattern: String,
    /// Only this snapshot (id, id prefix, or `latest`) instead of all.
    #[arg(long)]
    pub snapshot: Option<String>,
}

#[derive(Debug, Args)]
pub struct DumpArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Snapshot id, id prefix, or `latest`.
    pub snapshot: String,
    /// The file's path in the snapshot (as `ls` shows it).
    pub path: String,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// The older snapshot (id, id prefix, or `latest`).
    pub old: String,
    /// The newer snapshot.
    pub new: String,
}

#[derive(Debug, Args)]
pub struct ChatsArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Snapshot id, id prefix, or `latest`.
    #[arg(default_value = "latest")]
    pub snapshot: String,
    /// Only messages the phone still had at this backup (by default the archive shows too:
    /// messages kept from earlier backups after the phone deleted them).
    #[arg(long)]
    pub on_phone: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Text to find (case-insensitive; any script).
    pub query: String,
    /// Snapshot id, id prefix, or `latest`.
    #[arg(long, default_value = "latest")]
    pub snapshot: String,
    /// Only this conversation (its id, as `chats` lists it).
    #[arg(long)]
    pub chat: Option<String>,
    /// At most this many results, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Only messages from this local time on (a date, or a date and time).
    #[arg(long, value_parser = since_time)]
    pub since: Option<chrono::NaiveDateTime>,
    /// Only messages before this local time (a date counts whole).
    #[arg(long, value_parser = until_time)]
    pub until: Option<chrono::NaiveDateTime>,
    /// Only messages the phone still had at this backup (by default the archive shows too:
    /// messages kept from earlier backups after the phone deleted them).
    #[arg(long)]
    pub on_phone: bool,
}

/// A local time given on the command line: a date (its start, or with `end_of_day` the
/// start of the next day) or a date and time.
fn parse_local_time(s: &str, end_of_day: bool) -> Result<chrono::NaiveDateTime, String> {
    let s = s.trim();
    for f in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Ok(t);
        }
    }
    match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(d) => {
            let d = if end_of_day {
                d.succ_opt().unwrap_or(d)
            } else {
                d
            };
            Ok(d.and_time(chrono::NaiveTime::MIN))
        }
        Err(_) => Err(format!(
            "not a date or time: {s:?} (use 2024-03-01 or 2024-03-01T18:30)"
        )),
    }
}

fn since_time(s: &str) -> Result<chrono::NaiveDateTime, String> {
    parse_local_time(s, false)
}

fn until_time(s: &str) -> Result<chrono::NaiveDateTime, String> {
    parse_local_time(s, true)
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Snapshot id, id prefix, or `latest`.
    #[arg(default_value = "latest")]
    pub snapshot: String,
    /// html (a site to open in any browser), json (one file per conversation) or txt.
    #[arg(long, default_value = "html", value_parser = ["html", "json", "txt"])]
    pub format: String,
    /// Folder to write into: new, empty, or an earlier export (which is replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Only this conversation (repeatable; ids as `chats` lists them).
    #[arg(long = "chat")]
    pub chats: Vec<String>,
    /// Only messages from this local time on: `2024-03-01` or `2024-03-01T18:30`.
    #[arg(long, value_parser = since_time)]
    pub since: Option<chrono::NaiveDateTime>,
    /// Only messages up to this local time: `2024-03-31` (the whole day) or `2024-03-31T12:00`.
    #[arg(long, value_parser = until_time)]
    pub until: Option<chrono::NaiveDateTime>,
    /// HTML: messages per page.
    #[arg(long, default_value_t = 1000)]
    pub page_size: usize,
    /// Only messages the phone still had at this backup (by default the archive shows too:
    /// messages kept from earlier backups after the phone deleted them).
    #[arg(long)]
    pub on_phone: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Snapshot id, id prefix, or `latest`.
    pub snapshot: String,
    /// Folder to restore into (created if missing).
    #[arg(long)]
    pub target: PathBuf,
    /// Only restore this path of the snapshot (repeatable), e.g. `export/db`.
    #[arg(long = "include", conflicts_with = "chat")]
    pub include: Vec<String>,
    /// Only restore this conversation: its media files and its messages as JSON.
    #[arg(long)]
    pub chat: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Read back and verify every pack.
    #[arg(long, conflicts_with = "read_data_subset")]
    pub read_data: bool,
    /// Read back a random PCT percent of the packs.
    #[arg(long, value_name = "PCT")]
    pub read_data_subset: Option<f64>,
}

#[derive(Debug, Args)]
pub struct ForgetArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Snapshots to remove, by id or unique id prefix (damaged ones too); not with --keep-*.
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// Keep the newest N snapshots.
    #[arg(long, default_value_t = 0)]
    pub keep_last: u32,
    /// Keep the newest snapshot of each of the last N hours.
    #[arg(long, default_value_t = 0)]
    pub keep_hourly: u32,
    /// … of each of the last N days.
    #[arg(long, default_value_t = 0)]
    pub keep_daily: u32,
    /// … of each of the last N weeks.
    #[arg(long, default_value_t = 0)]
    pub keep_weekly: u32,
    /// … of each of the last N months.
    #[arg(long, default_value_t = 0)]
    pub keep_monthly: u32,
    /// … of each of the last N years.
    #[arg(long, default_value_t = 0)]
    pub keep_yearly: u32,
    /// Keep every snapshot within this duration of the newest (e.g. 7d, 2w, 1y6m).
    #[arg(long)]
    pub keep_within: Option<String>,
    /// Prune afterwards.
    #[arg(long)]
    pub prune: bool,
    /// Only show what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// Remove a conversation's archived messages (those the phone no longer has) and the
    /// media only they used from every snapshot; `prune` then deletes their data.
    Purge(PurgeArgs),
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// The conversation (its id, as `chats` lists it).
    #[arg(long)]
    pub chat: String,
    /// Only messages sent before this local time: `2024-03-01` (its start) or
    /// `2024-03-01T18:30`.
    #[arg(long, value_parser = since_time)]
    pub before: Option<chrono::NaiveDateTime>,
    /// Only show what would be removed.
    #[arg(long)]
    pub dry_run: bool,
    /// Prune afterwards, so the data is gone from the repository at once.
    #[arg(long)]
    pub prune: bool,
    /// Seconds to wait for running backups to finish.
    #[arg(long, default_value_t = 60)]
    pub lock_wait: u64,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Only show what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    /// Seconds to wait for running backups to finish.
    #[arg(long, default_value_t = 60)]
    pub lock_wait: u64,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// List key slots.
    List,
    /// Add a password (from $CHATVAULT_NEW_PASSWORD, --new-password-file, or a prompt).
    Add {
        /// Label for the slot.
        #[arg(long, default_value = "password")]
        label: String,
        #[command(flatten)]
        new: NewPassword,
    },
    /// Change the password you opened the repository with.
    Passwd {
        #[command(flatten)]
        new: NewPassword,
    },
    /// Create a new recovery key (replacing the old one) and print it once.
    Recovery,
    /// Remove a key slot by id prefix.
    Remove {
        /// Slot id or prefix.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct NewPassword {
    /// File holding the new password.
    #[arg(long)]
    pub new_password_file: Option<PathBuf>,
    #[command(flatten)]
    pub kdf: KdfArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Messages in the sample export.
    #[arg(long, default_value_t = 20_000)]
    pub messages: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_times() {
        let t = |s, end| parse_local_time(s, end).unwrap().to_string();
        assert_eq!(t("2024-03-01", false), "2024-03-01 00:00:00");
        assert_eq!(t("2024-03-31", true), "2024-04-01 00:00:00");
        assert_eq!(t("2024-03-01T18:30", true), "2024-03-01 18:30:00");
        assert!(parse_local_time("yesterday", false).is_err());
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where phones' repositories (one folder per phone) and the receiver's identity live
    /// (default: `received` in the data directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Address and port to listen on.
    #[arg(long, default_value = "0.0.0.0:7459")]
    pub listen: String,
    /// The name phones show (default: this machine's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Also write the current pairing URI to this file (0600), for scripts.
    #[arg(long)]
    pub pair_uri_file: Option<PathBuf>,
    /// At most this many GiB per phone.
    #[arg(long)]
    pub quota_gib: Option<f64>,
    /// Refuse objects larger than this many MiB (default 1025, the largest pack; 128 with
    /// --store, where an object is held in memory while it is passed on).
    #[arg(long)]
    pub max_object_mib: Option<u64>,
    /// Keep phones' repositories at this location instead of under --dir (`s3://…` on a
    /// Garage cluster, `webdav+https://…`; credentials from the environment as for --repo).
    /// The receiver's identity and device list stay in --dir.
    #[arg(long, value_name = "LOCATION")]
    pub store: Option<String>,
    /// Do not advertise on the network (mDNS).
    #[arg(long)]
    pub no_mdns: bool,
}

#[derive(Debug, Args)]
pub struct PairArgs {
    /// The receiver's pairing URI (`chatvault://pair?…`, as its QR code holds), or its
    /// address `HOST:PORT` followed by the code it shows.
    pub target: String,
    /// The numeric code the receiver shows (with an address).
    pub code: Option<String>,
    /// The name the receiver shows for this device (default: this machine's name).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// The receiver's directory (as given to `serve --dir`).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Forget this device (its folder name or fingerprint prefix); its backups stay.
    #[arg(long)]
    pub revoke: Option<String>,
    /// Give this device (folder name or fingerprint prefix) the folder given by --to: a new
    /// or reset phone reaches the repository an earlier one made.
    #[arg(long, requires = "to")]
    pub assign: Option<String>,
    /// The existing folder for --assign.
    #[arg(long)]
    pub to: Option<String>,
    /// The receiver's --store, if it has one (to check the folder for --assign).
    #[arg(long, value_name = "LOCATION")]
    pub store: Option<String>,
}
