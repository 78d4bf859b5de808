//! Renderings of a snapshot's chats for people and programs: a static HTML site that opens
//! from the file system ([`html`]), one JSON file per conversation ([`json`]) and one text
//! file per conversation ([`text`]), with the media the pages reference copied beside them
//! ([`media`]).
//!
//! Everything streams: messages come from the chat index oldest first and go straight to
//! the files, so memory does not grow with the size of a conversation. The layout of what
//! is written is documented in `docs/FORMAT.md` ("Exports").

mod html;
mod json;
mod media;
mod text;

use std::collections::HashSet;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use fluent_bundle::FluentValue;

use crate::chat::index::{IndexedConversation, TimeWindow};
use crate::chat::{safe_file_name, summary_of, IndexedMessage};
use crate::error::{Error, Result};
use crate::i18n::{Catalog, Language};
use crate::progress::{CancelToken, ProgressListener};
use crate::repo::snapshot::Snapshot;
use crate::repo::Repository;
use crate::safe_fs::{create_dirs_within, write_new, NewFile};

/// File that marks a folder as a ChatVault export (so a new export may replace it).
const MARKER: &str = ".chatvault-export";

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportFormat {
    /// A static site: `index.html`, one paginated page set per conversation, search.
    #[default]
    Html,
    /// `conversations.json` and one JSON file per conversation.
    Json,
    /// One readable text file per conversation.
    Txt,
}

impl ExportFormat {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Html => "html",
            ExportFormat::Json => "json",
            ExportFormat::Txt => "txt",
        }
    }
}

impl FromStr for ExportFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "html" => Ok(ExportFormat::Html),
            "json" => Ok(ExportFormat::Json),
            "txt" | "text" => Ok(ExportFormat::Txt),
            other => Err(Error::InvalidArgument(format!(
                "unknown export format {other:?} (html, json or txt)"
            ))),
        }
    }
}

/// What to export and how.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The format.
    pub format: ExportFormat,
    /// Conversation ids to export; empty exports every conversation.
    pub conversations: Vec<String>,
    /// Only messages at or after this local time.
    pub since: Option<NaiveDateTime>,
    /// Only messages before this local time.
    pub until: Option<NaiveDateTime>,
    /// HTML: messages per page.
    pub page_size: usize,
    /// The language of the site's own texts (headings, labels, search) and of placeholders
    /// such as `[image]`; the messages are shown as written.
    pub language: Language,
    /// Which messages: every one ever backed up (the default, the archive included), or
    /// only those the phone still had.
    pub scope: crate::chat::MessageScope,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            format: ExportFormat::Html,
            conversations: Vec::new(),
            since: None,
            until: None,
            page_size: 1000,
            language: Language::English,
            scope: crate::chat::MessageScope::Everything,
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ExportSummary {
    /// Conversations written (those with messages in the chosen time span).
    pub conversations: u64,
    /// Messages written.
    pub messages: u64,
    /// Media files copied beside the pages.
    pub media_files: u64,
    /// Messages whose media file was not in the export when it was backed up.
    pub media_missing: u64,
    /// The file to open first (`index.html`, `conversations.json` or `conversations.txt`).
    pub entry: PathBuf,
}

/// One message as the renderers get it: the index row plus what the export adds.
pub(crate) struct Item {
    pub m: IndexedMessage,
    /// Position in the conversation's export, from 0.
    pub seq: u64,
    /// Local wall-clock time.
    pub local: NaiveDateTime,
    /// The time with its offset when it is known (UTC stamps), for machine-readable output.
    pub exact: Option<DateTime<Local>>,
    /// The copied media file, relative to the export folder (`media/...`).
    pub media: Option<String>,
    /// The copied thumbnail, relative to the export folder.
    pub thumbnail: Option<String>,
    /// The text of the message this one quotes or replies to.
    pub replied: Option<String>,
}

impl Item {
    /// The sender as people know them.
    pub fn sender(&self) -> &str {
        let m = &self.m;
        match (&m.sender_name, &m.sender) {
            (Some(n), _) if !n.is_empty() => n,
            (_, Some(s)) if !s.is_empty() => s,
            _ if m.from_me => "Me",
            _ => "",
        }
    }
}

/// A conversation about to be written.
pub(crate) struct Conversation {
    pub info: IndexedConversation,
    /// Its file name stem (unique in this export).
    pub stem: String,
    /// Messages that will be written.
    pub total: u64,
}

/// A written conversation, for the list.
pub(crate) struct Listed {
    pub info: IndexedConversation,
    pub stem: String,
    pub messages: u64,
    pub first: Option<NaiveDateTime>,
    pub last: Option<NaiveDateTime>,
    /// "Sender: text" of the newest message, shortened.
    pub last_text: String,
    pub media_missing: u64,
}

/// What every page or file says about where it came from.
pub(crate) struct Origin {
    pub app: String,
    pub account: String,
    pub snapshot: String,
    pub snapshot_time: NaiveDateTime,
    pub page_size: usize,
    pub language: Language,
}

/// The texts of the HTML site and the text export.
pub(crate) static TEXTS: Catalog = Catalog::new(
    include_str!("../../locales/en/site.ftl"),
    include_str!("../../locales/zh-CN/site.ftl"),
);

impl Origin {
    /// The text `id` in the export's language.
    pub fn text(&self, id: &str) -> String {
        TEXTS.text(self.language, id)
    }

    /// The text `id` with arguments, in the export's language.
    pub fn format(&self, id: &str, args: &[(&str, FluentValue<'_>)]) -> String {
        TEXTS.format(self.language, id, args)
    }
}

/// A writer of one format.
pub(crate) trait Renderer {
    fn begin(&mut self, c: &Conversation) -> Result<()>;
    fn message(&mut self, item: &Item) -> Result<()>;
    fn end(&mut self) -> Result<()>;
    /// Writes the list of conversations (newest first) and returns the entry file.
    fn finish(&mut self, list: &[Listed]) -> Result<PathBuf>;
}

/// Starts writing `path` through a 64 KiB buffer: a new file under a temporary name,
/// renamed over `path` by [`NewFile::commit`], so a symlink or hard link planted in an
/// earlier export folder is replaced, never written through.
pub(crate) fn create_file(path: &Path) -> Result<NewFile> {
    NewFile::create(path, 0o644, 64 * 1024)
}

/// A renderer that writes one file a conversation (the JSON and text formats): the export
/// folder, where the chats came from, and what it keeps while a conversation is open (`O`).
pub(crate) struct ChatFiles<O> {
    out: PathBuf,
    origin: Origin,
    open: Option<O>,
}

impl<O> ChatFiles<O> {
    /// A renderer writing below `out`, no conversation open yet.
    pub fn new(out: &Path, origin: Origin) -> Self {
        ChatFiles {
            out: out.to_path_buf(),
            origin,
            open: None,
        }
    }
}

/// A file being written through a buffer, with its path for error messages.
pub(crate) struct OutFile {
    w: NewFile,
    path: PathBuf,
}

impl OutFile {
    /// Creates `chats/<stem>.<ext>` below the export folder `out`, and the `chats` folder.
    pub fn chat(out: &Path, stem: &str, ext: &str) -> Result<Self> {
        let dir = out.join("chats");
        create_dirs_within(out, &dir)?;
        let path = dir.join(format!("{stem}.{ext}"));
        let w = create_file(&path)?;
        Ok(OutFile { w, path })
    }

    /// Writes `text`.
    pub fn write(&mut self, text: &str) -> Result<()> {
        self.w
            .write_all(text.as_bytes())
            .map_err(|e| Error::io("write", &self.path, e))
    }

    /// Writes `tail` and flushes what is buffered.
    pub fn close(self, tail: &str) -> Result<()> {
        let OutFile { mut w, path } = self;
        w.write_all(tail.as_bytes())
            .and_then(|_| w.commit())
            .map_err(|e| Error::io("write", &path, e))
    }
}

/// Whether the message at `local` starts a new day after `last_day` (the day of the message
/// written before); remembers its day.
pub(crate) fn starts_day(last_day: &mut Option<NaiveDate>, local: &NaiveDateTime) -> bool {
    let day = local.date();
    let new = *last_day != Some(day);
    *last_day = Some(day);
    new
}

/// The window for local times `since` and `until`.
pub fn window(since: Option<NaiveDateTime>, until: Option<NaiveDateTime>) -> TimeWindow {
    fn utc(t: NaiveDateTime) -> i64 {
        Local
            .from_local_datetime(&t)
            .earliest()
            .map(|l| l.timestamp_millis())
            .unwrap_or_else(|| t.and_utc().timestamp_millis())
    }
    let mut w = TimeWindow::ALL;
    if let Some(s) = since {
        w.utc.0 = utc(s);
        w.wall.0 = s.and_utc().timestamp_millis();
    }
    if let Some(u) = until {
        w.utc.1 = utc(u);
        w.wall.1 = u.and_utc().timestamp_millis();
    }
    w
}

/// Local wall-clock time of a message: UTC stamps in this machine's zone, wall-clock
/// stamps as they are.
pub(crate) fn local_time(ms: i64, utc: bool) -> (NaiveDateTime, Option<DateTime<Local>>) {
    let t = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    if utc {
        let l = t.with_timezone(&Local);
        (l.naive_local(), Some(l))
    } else {
        (t.naive_utc(), None)
    }
}

/// Shortens `s` to at most `max` characters on one line.
pub(crate) fn one_line(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.trim();
    if flat.chars().count() <= max {
        flat.to_string()
    } else {
        let mut t: String = flat.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A file name stem for a conversation id, unique in this export even on file systems
/// that ignore case.
fn unique_stem(id: &str, used: &mut HashSet<String>) -> String {
    let base: String = safe_file_name(id).chars().take(80).collect();
    let mut stem = base.clone();
    let mut n = 2;
    while !used.insert(stem.to_lowercase()) {
        stem = format!("{base}-{n}");
        n += 1;
    }
    stem
}

/// Creates `out`, which must be missing, empty, or an earlier export.
fn prepare_out(out: &Path) -> Result<()> {
    if out.exists() {
        let mut entries = fs::read_dir(out).map_err(|e| Error::io("open", out, e))?;
        let empty = entries.next().is_none();
        if !empty && !out.join(MARKER).exists() {
            return Err(Error::InvalidArgument(format!(
                "{} is not empty and holds no earlier export: choose an empty or new folder",
                out.display()
            )));
        }
    }
    fs::create_dir_all(out).map_err(|e| Error::io("create", out, e))?;
    write_new(
        &out.join(MARKER),
        b"This folder was written by `chatvault export`; a new export may replace it.\n",
    )
}

/// Exports the chats of `snapshot` into the folder `out` (created; it must be missing,
/// empty, or an earlier export) in the chosen format, with the media the output
/// references copied to `out/media/`. Nothing is written outside `out`.
pub fn export_chats(
    repo: &Repository,
    snapshot: &Snapshot,
    out: &Path,
    options: &ExportOptions,
    work_dir: Option<&Path>,
    listener: Option<&dyn ProgressListener>,
    cancel: &CancelToken,
) -> Result<ExportSummary> {
    let summary = summary_of(&repo.full_snapshot(snapshot)?).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "snapshot {} is a {} backup, not of a chat export",
            snapshot.id.short(),
            snapshot.source.kind
        ))
    })?;
    let chats = crate::chat::open_chats_scoped(repo, snapshot, work_dir, options.scope)?;
    let mut selected = chats.conversations()?;
    if !options.conversations.is_empty() {
        for id in &options.conversations {
            if !selected.iter().any(|c| &c.id == id) {
                return Err(Error::InvalidArgument(format!(
                    "no conversation {id:?} in snapshot {} (see `chats`)",
                    snapshot.id.short()
                )));
            }
        }
        selected.retain(|c| options.conversations.contains(&c.id));
    }
    chats.index_message_ids()?;
    prepare_out(out)?;
    let origin = Origin {
        app: summary.app.clone(),
        account: if summary.account.name.is_empty() {
            summary.account.id.clone()
        } else {
            summary.account.name.clone()
        },
        snapshot: snapshot.id.short(),
        snapshot_time: snapshot.time.with_timezone(&Local).naive_local(),
        page_size: options.page_size.max(1),
        language: options.language,
    };
    let mut renderer: Box<dyn Renderer> = match options.format {
        ExportFormat::Html => Box::new(html::Site::new(out, origin)?),
        ExportFormat::Json => Box::new(json::Files::new(out, origin)),
        ExportFormat::Txt => Box::new(text::Files::new(out, origin)),
    };
    let source = crate::chat::SnapshotMedia::open(repo, snapshot, &summary)?;
    let root_is_file = source.root_is_file(&summary.root)?;
    let mut media = media::Copier::new(
        &chats,
        &source,
        &summary.root,
        root_is_file,
        out,
        work_dir,
        listener,
        cancel,
    );
    let window = window(options.since, options.until);
    let mut result = ExportSummary::default();
    let mut listed = Vec::new();
    let mut stems = HashSet::new();
    for info in selected {
        cancel.check()?;
        let total = chats.count_messages(&info.id, &window)?;
        if total == 0 {
            continue;
        }
        let conversation = Conversation {
            stem: unique_stem(&info.id, &mut stems),
            info,
            total,
        };
        renderer.begin(&conversation)?;
        let mut entry = Listed {
            info: conversation.info.clone(),
            stem: conversation.stem.clone(),
            messages: 0,
            first: None,
            last: None,
            last_text: String::new(),
            media_missing: 0,
        };
        let mut seq = 0;
        chats.for_each_message_in(&conversation.info.id, &window, |m| {
            if seq % 1000 == 0 {
                cancel.check()?;
            }
            let (local, exact) = local_time(m.time_ms, m.utc);
            let media_file = match (&m.media_path, m.media_present) {
                (Some(p), Some(true)) => media.want(p),
                _ => None,
            };
            let thumbnail = m.thumbnail.as_deref().and_then(|t| media.want(t));
            let replied = match (&m.quote, &m.reply_to) {
                (Some(q), _) if !q.is_empty() => Some(q.clone()),
                (_, Some(r)) => chats.replied_text(&m.conversation, r)?,
                _ => None,
            };
            if m.media_present == Some(false) {
                entry.media_missing += 1;
            }
            let item = Item {
                m,
                seq,
                local,
                exact,
                media: media_file,
                thumbnail,
                replied,
            };
            renderer.message(&item)?;
            entry.messages += 1;
            entry.first.get_or_insert(local);
            entry.last = Some(local);
            let who = item.sender();
            let text = describe(&item, options.language);
            entry.last_text = if who.is_empty() {
                one_line(&text, 80)
            } else {
                one_line(&format!("{who}: {text}"), 80)
            };
            seq += 1;
            media.flush_if_full()
        })?;
        renderer.end()?;
        result.messages += entry.messages;
        result.media_missing += entry.media_missing;
        listed.push(entry);
    }
    result.media_files = media.finish()?;
    listed.sort_by(|a, b| b.last.cmp(&a.last).then_with(|| a.stem.cmp(&b.stem)));
    result.conversations = listed.len() as u64;
    result.entry = renderer.finish(&listed)?;
    Ok(result)
}

/// A message as one line of text for lists and plain text: its text, or what it holds.
pub(crate) fn describe(item: &Item, language: Language) -> String {
    let m = &item.m;
    if !m.text.trim().is_empty() {
        return m.text.clone();
    }
    let what = match m.media_kind.as_deref().unwrap_or(m.kind.as_str()) {
        "image" => "placeholder-image",
        "video" => "placeholder-video",
        "audio" | "voice" => "placeholder-voice",
        "sticker" => "placeholder-sticker",
        "file" => "placeholder-file",
        "location" => "placeholder-location",
        "call" => "placeholder-call",
        _ => return String::new(),
    };
    TEXTS.text(language, what)
}

/// A day as a heading: `2025-03-02 · Sunday` (the weekday in the export's language).
pub(crate) fn day_label(t: &NaiveDateTime, language: Language) -> String {
    use chrono::Datelike;
    let day = TEXTS.format(
        language,
        "weekday",
        &[("day", FluentValue::from(t.weekday().number_from_monday()))],
    );
    format!("{} · {day}", t.format("%Y-%m-%d"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_site_text_is_in_every_language() {
        assert_eq!(TEXTS.problems(), Vec::<String>::new());
        let day = NaiveDate::from_ymd_opt(2025, 3, 2)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        assert_eq!(day_label(&day, Language::English), "2025-03-02 · Sunday");
        assert_eq!(day_label(&day, Language::Chinese), "2025-03-02 · 星期日");
    }

    #[test]
    fn stems_are_unique_ignoring_case_and_safe() {
        let mut used = HashSet::new();
        assert_eq!(unique_stem("a/b", &mut used), "a_b");
        assert_eq!(unique_stem("a_b", &mut used), "a_b-2");
        assert_eq!(unique_stem("A_B", &mut used), "A_B-3");
        assert_eq!(unique_stem("../x", &mut used), "_x");
        assert_eq!(unique_stem("群聊@chatroom", &mut used), "群聊@chatroom");
    }

    #[test]
    fn one_line_flattens_and_shortens() {
        assert_eq!(one_line("a\nb", 10), "a b");
        assert_eq!(one_line("长城旅行一起去吗", 5), "长城旅行…");
    }

    #[test]
    fn windows_bound_both_clocks() {
        let d = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        let w = window(Some(d("2024-01-01 00:00")), Some(d("2024-02-01 00:00")));
        assert_eq!(w.wall.0, d("2024-01-01 00:00").and_utc().timestamp_millis());
        assert_eq!(w.wall.1, d("2024-02-01 00:00").and_utc().timestamp_millis());
        assert!(w.utc.0 < w.utc.1);
        assert_eq!(window(None, None), TimeWindow::ALL);
    }
}
