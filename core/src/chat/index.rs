//! The chat index: the normalized model of one export as a SQLite database with full-text
//! search, stored in every snapshot beside the raw export.
//!
//! Search uses FTS5's trigram tokenizer, which needs no word segmentation and so works for
//! Chinese, Japanese and Korean as well as for emoji; queries shorter than three characters
//! fall back to a substring scan. The schema is documented in `docs/FORMAT.md`.
//!
//! What is stored holds the data only, rows in the order the reader produced them: the
//! search index and the per-conversation index are derived data, built when a reader opens
//! its (private, temporary) copy. A trigram index is about three times the text; storing it
//! in every daily snapshot would cost more than the day's new messages, and building it
//! costs the phone battery for a search that happens on the PC.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, ToSql};
use serde::Serialize;

use super::known::{Known, KnownRow, CONTENT_COUNT, GONE, MEDIA_PRESENT};
use super::source_rows::{
    Conversations, ReadRow, RecordedRows, RowRecord, RowsRecorder, SourceRow, UnchangedRow, MEDIA,
    PRESENT, SKIPPABLE, UNPARSED, UTC,
};
use super::summary::{ChatSummary, ConversationSummary};
use super::waiting::Waiting;
use crate::error::{Error, Result};
use crate::sources::model::{
    Account, ChatSink, Contact, Conversation, MediaKey, Message, MessageDetails, MessageKind,
};

/// Version of the index schema, in `meta`.
///
/// 2 added `messages.details` (JSON of [`MessageDetails`]); a version-1 index gets the
/// column, empty, when it is opened. 3 added `media_keys` (the keys of media files the export
/// stores encrypted); an older index gets the table, empty, when it is opened. 4 made the
/// index cumulative: `messages.first_seen` and `messages.gone_since` (when a backup first
/// held the message, and first found it no longer in the export); older indexes get both
/// columns, empty, when opened, and a backup resumes only an index of this version.
pub const SCHEMA_VERSION: u32 = 4;

const SCHEMA: &str = "
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE account(id TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE contacts(id TEXT PRIMARY KEY, name TEXT NOT NULL, nickname TEXT NOT NULL,
  remark TEXT NOT NULL, alias TEXT NOT NULL, kind TEXT NOT NULL);
CREATE TABLE conversations(id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,
  members TEXT NOT NULL);
CREATE TABLE messages(
  rowid INTEGER PRIMARY KEY,
  conversation TEXT NOT NULL, id TEXT NOT NULL, server_id TEXT,
  sender TEXT, sender_name TEXT, from_me INTEGER NOT NULL,
  time_ms INTEGER NOT NULL, utc INTEGER NOT NULL,
  kind TEXT NOT NULL, text TEXT NOT NULL,
  reply_to TEXT, quote TEXT,
  media_path TEXT, media_kind TEXT, media_present INTEGER, thumbnail TEXT,
  raw TEXT, edited INTEGER NOT NULL, details TEXT,
  first_seen INTEGER, gone_since INTEGER);
CREATE TABLE media_keys(path TEXT PRIMARY KEY, key BLOB NOT NULL, size INTEGER NOT NULL);
";

/// Derived indexes, built by [`ChatIndex::open`] on its copy.
const DERIVED: &str = "
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation, time_ms);
CREATE VIRTUAL TABLE IF NOT EXISTS message_text USING fts5(text, content='messages',
  content_rowid='rowid', tokenize='trigram');
INSERT INTO message_text(message_text) VALUES('rebuild');
";

const INSERT_MESSAGE: &str = "INSERT INTO messages(rowid, conversation, id, server_id, sender,
  sender_name, from_me, time_ms, utc, kind, text, reply_to, quote, media_path, media_kind,
  media_present, thumbnail, raw, edited, details, first_seen)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
  ?20, ?21)";

/// A known message whose content changed (edited, revoked, its media downloaded since):
/// its row is rewritten in place, and it is on the phone again if it was gone.
const UPDATE_MESSAGE: &str = "UPDATE messages SET conversation = ?2, id = ?3, server_id = ?4,
  sender = ?5, sender_name = ?6, from_me = ?7, time_ms = ?8, utc = ?9, kind = ?10, text = ?11,
  reply_to = ?12, quote = ?13, media_path = ?14, media_kind = ?15, media_present = ?16,
  thumbnail = ?17, raw = ?18, edited = ?19, details = ?20, gone_since = NULL WHERE rowid = ?1";

/// Meta keys, written once (a resumed index keeps equal values untouched).
const UPSERT_META: &str = "INSERT INTO meta(key, value) VALUES (?1, ?2)
  ON CONFLICT(key) DO UPDATE SET value = excluded.value WHERE value IS NOT excluded.value";

/// The database's name in errors.
const DB: &str = "chat index";

/// Messages that may wait to be placed before the rows not matched are indexed (new ones
/// of a day wait until the export is read; an export streamed in another order than last
/// time stops waiting here).
const WAITING_LIMIT: u64 = 100_000;

/// Builds a chat index file; receives what a source reader reads.
///
/// A new index ([`ChatIndexWriter::create`]) gets every message as a new row. A resumed one
/// ([`ChatIndexWriter::resume`], the parent snapshot's index) is cumulative: a message it
/// already holds, unchanged, is not written at all (its database pages stay byte-identical,
/// so the repository stores them once); a changed one is rewritten in place; a new one is
/// appended; one the export no longer has is kept and marked `gone_since` (the archive).
pub struct ChatIndexWriter {
    conn: Connection,
    path: std::path::PathBuf,
    account: Account,
    contacts: u64,
    pending: u64,
    /// New messages to insert at the end of the batch: (rowid, message, details JSON).
    inserts: Vec<(i64, Message, Option<String>)>,
    warnings: Vec<String>,
    running: HashMap<String, Running>,
    next_rowid: i64,
    local_time: bool,
    /// The export's rows as placed, for the next backup ([`super::source_rows`]).
    rows: Option<RowsRecorder>,
    /// The conversations of the rows remembered from the last backup, by the number rows
    /// skipped unread name them with.
    remembered: Conversations,
    /// A row was skipped that this index could not take as unchanged: the read must be
    /// done again without skipping.
    rows_unsound: bool,
    /// When this backup started (ms since the epoch, UTC): `first_seen` and `gone_since`.
    now_ms: i64,
    resumed: Option<Resumed>,
}

/// What resuming an index keeps track of.
struct Resumed {
    known: Known,
    /// Messages no cursor matched, until the rows not matched are indexed.
    waiting: Waiting,
    /// How many may wait ([`WAITING_LIMIT`]).
    waiting_limit: u64,
    /// The parent's account, to notice an export of another account at the same path.
    account_id: String,
    /// Media paths (inside the export) that messages hold as stored but the export no
    /// longer has: their files are kept from earlier snapshots.
    kept_media: Vec<String>,
    /// Ids of the conversations and contacts the export delivered.
    conversations: std::collections::HashSet<String>,
    contacts: std::collections::HashSet<String>,
    counts: ResumeCounts,
}

/// What a resumed index did with the export's messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResumeCounts {
    /// Messages already in the index, unchanged (not written).
    pub unchanged: u64,
    /// Of those, the ones the reader skipped without parsing them: rows of the export
    /// this device remembered unchanged since its last backup.
    pub skipped: u64,
    /// Messages already in the index whose content changed (rewritten in place).
    pub changed: u64,
    /// Messages new to the index (appended).
    pub new: u64,
    /// Messages of the index that this export no longer has (kept, marked gone).
    pub gone: u64,
}

/// What [`ChatIndexWriter::finish_index`] produced.
#[derive(Debug, Clone)]
pub struct FinishedIndex {
    /// The summary (archived messages included).
    pub summary: ChatSummary,
    /// Media paths (inside the export) that messages hold as stored but the export no
    /// longer has, sorted, each once.
    pub kept_media: Vec<String>,
    /// What resuming did, if the index was resumed.
    pub resumed: Option<ResumeCounts>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The index's page size. It is stored cut at its pages (each page one blob), so this is
/// the unit of deduplication and of compression. Measured on the bench export (1.8 M
/// messages, 265 MB of index): at 16 KiB the index stores in 101 MiB instead of 124 MiB at
/// 4 KiB (a page compresses better, and each blob's seal and index entry weigh 4 times
/// less), the full backup takes 3 % less time and the day-later 12 % less (a quarter of the
/// blobs to restore and read back), and a day's appended messages still touch only the
/// last pages. 64 KiB stored 7 % less again but made SQLite's page cache outgrow the
/// 64 MiB budget of a backup.
pub(crate) const PAGE_SIZE: u32 = 16384;

/// New messages held at most before they are inserted through one statement, however
/// many come in one go: the messages that waited (a day's new ones, read back from their
/// temporary file at the end) were held up to the next commit, 20,000, which took 24 MB
/// on a 3 GB export's day-later and broke its memory budget at 10 GB.
const INSERTS_HELD: usize = 1024;

/// What an index's connections cache (1 MiB), set as a count of pages.
const CACHE_BYTES: u32 = 1024 * 1024;

/// What SQLite's allocations may reach (3 MiB) before it recycles cached pages, writing
/// dirty ones out, rather than allocate more: a soft limit, for the whole process. The
/// bundled SQLCipher is built with `SQLITE_ENABLE_MEMORY_MANAGEMENT`, which puts every
/// connection's page cache in one pool bounded by a count of pages, not bytes: beside an
/// export's database on smaller pages (about 500 cached of 4 KiB by default; WeChat's own
/// are 1 KiB) the index's cache of 16 KiB pages grew to 6 MiB against its own 1 MiB
/// `cache_size` (3 GB export, full backup; `sqlite3_db_status`), a good part of what broke
/// the 64 MiB budget at 10 GB.
const SQLITE_HEAP_BYTES: i64 = 3 * 1024 * 1024;

/// Sets [`SQLITE_HEAP_BYTES`] as SQLite's soft heap limit (idempotent).
fn limit_sqlite_heap() {
    // SAFETY: takes and returns plain integers; safe to call from any thread at any time.
    unsafe { rusqlite::ffi::sqlite3_soft_heap_limit64(SQLITE_HEAP_BYTES) };
}

/// Logs (at debug level) what SQLite's allocations hold now and held at most since the
/// process started (every connection: an export's reader and the index writer together),
/// to see [`SQLITE_HEAP_BYTES`] kept.
pub(crate) fn log_sqlite_memory() {
    let (mut now, mut peak) = (0i64, 0i64);
    // SAFETY: sqlite3_status64 only writes the two integers it is given.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_status64(
            rusqlite::ffi::SQLITE_STATUS_MEMORY_USED,
            &mut now,
            &mut peak,
            0,
        )
    };
    if rc == rusqlite::ffi::SQLITE_OK {
        log::debug!(
            "SQLite memory: {:.1} MiB now, {:.1} MiB at most",
            now as f64 / 1048576.0,
            peak as f64 / 1048576.0
        );
    }
}

/// The database's page size and the `cache_size` (in pages, about [`CACHE_BYTES`]) its
/// connections use.
fn page_and_cache(conn: &Connection, path: &Path) -> Result<(u32, u32)> {
    let page: u32 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .map_err(|e| Error::sqlite(DB, Some(path), e))?;
    Ok((page, (CACHE_BYTES / page.max(512)).max(16)))
}

/// Opens the write transaction with what an index being built needs (no journal: the file
/// is a private copy that is stored only once complete; SQLite's memory bounded).
fn begin_writing(conn: &Connection, path: &Path) -> Result<()> {
    let (_, pages) = page_and_cache(conn, path)?;
    limit_sqlite_heap();
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = FILE; \
         PRAGMA locking_mode = EXCLUSIVE; PRAGMA cache_size = {pages}; BEGIN;"
    ))
    .map_err(|e| Error::sqlite(DB, Some(path), e))
}

/// Rewrites an index of smaller pages (made before [`PAGE_SIZE`] was 16 KiB) at that
/// size, once: every page of the index that carries it forward is new, then they
/// deduplicate again from the next backup. Row ids are kept (`messages.rowid` is its
/// primary key). Returns the connection to go on with.
///
/// The copy is written beside the index (`VACUUM INTO`, no temporary database elsewhere:
/// a phone has no writable temporary folder but the app's own) and renamed over it. If it
/// cannot be made, the index goes on with its pages as they are: a slower index, not a
/// failed backup.
fn repage(conn: Connection, path: &Path) -> Result<Connection> {
    let (page, pages) = page_and_cache(&conn, path)?;
    if page >= PAGE_SIZE {
        return Ok(conn);
    }
    let started = std::time::Instant::now();
    let copy = path.with_extension("repaged");
    let written = (|| -> std::result::Result<(), String> {
        let name = copy.to_str().ok_or("its folder's name is not UTF-8")?;
        let _ = std::fs::remove_file(&copy);
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        o.open(&copy).map_err(|e| e.to_string())?;
        conn.execute_batch(&format!(
            "PRAGMA cache_size = {pages}; PRAGMA page_size = {PAGE_SIZE};"
        ))
        .and_then(|()| conn.execute("VACUUM INTO ?1", [name]))
        .map_err(|e| e.to_string())?;
        Ok(())
    })();
    if let Err(why) = written {
        let _ = std::fs::remove_file(&copy);
        log::warn!("the chat index carried forward keeps its {page}-byte pages: {why}");
        return Ok(conn);
    }
    drop(conn);
    match std::fs::rename(&copy, path) {
        Ok(()) => log::info!(
            "the chat index carried forward was rewritten from {page}-byte to {PAGE_SIZE}-byte pages in {:.1}s",
            started.elapsed().as_secs_f64()
        ),
        Err(e) => {
            let _ = std::fs::remove_file(&copy);
            log::warn!("the chat index carried forward keeps its {page}-byte pages: {e}");
        }
    }
    Connection::open(path).map_err(|e| Error::sqlite(DB, Some(path), e))
}

/// A message's content values as the writer binds them (`CONTENT_COLUMNS`' order), from
/// the message `m`, its media `media` (`m.media.as_ref()`) and its details as JSON.
macro_rules! bound_values {
    ($m:expr, $media:expr, $details:expr) => {
        [
            &$m.conversation,
            &$m.id,
            &$m.server_id,
            &$m.sender,
            &$m.sender_name,
            &$m.from_me,
            &$m.time.millis(),
            &$m.time.is_utc(),
            &$m.kind.as_str(),
            &$m.text,
            &$m.reply_to,
            &$m.quote,
            &$media.map(|x| x.path.as_str()),
            &$media.map(|x| x.kind.as_str()),
            &$media.map(|x| x.present),
            &$media.and_then(|x| x.thumbnail.as_deref()),
            &$m.raw,
            &$m.edited,
            &$details,
        ]
    };
}

impl ChatIndexWriter {
    /// Creates a new index at `path` (which must not exist); readable by the owner only.
    pub fn create(path: &Path) -> Result<Self> {
        {
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                o.mode(0o600);
            }
            o.open(path).map_err(|e| Error::io("create", path, e))?;
        }
        let conn = Connection::open(path).map_err(|e| Error::sqlite(DB, Some(path), e))?;
        conn.execute_batch(&format!("PRAGMA page_size = {PAGE_SIZE};"))
            .map_err(|e| Error::sqlite(DB, Some(path), e))?;
        begin_writing(&conn, path)?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| Error::sqlite(DB, Some(path), e))?;
        Ok(Self::with(conn, path, None))
    }

    fn with(conn: Connection, path: &Path, resumed: Option<Resumed>) -> Self {
        ChatIndexWriter {
            conn,
            path: path.to_path_buf(),
            account: Account::default(),
            contacts: 0,
            pending: 0,
            inserts: Vec::new(),
            warnings: Vec::new(),
            running: HashMap::new(),
            next_rowid: resumed.as_ref().map_or(0, |r| r.known.max_rowid()) + 1,
            local_time: false,
            rows: None,
            remembered: std::sync::Arc::from([]),
            rows_unsound: false,
            now_ms: now_ms(),
            resumed,
        }
    }

    /// Resumes the index at `path` (a private copy of the parent snapshot's, of the same
    /// app): the messages it holds are found by identity as the export's stream in.
    /// `Ok(None)` when it cannot be resumed (an index of another schema version or app: a
    /// new one is built instead). Temporary files go to `work_dir`.
    pub fn resume(path: &Path, app: &str, work_dir: Option<&Path>) -> Result<Option<Self>> {
        let conn = Connection::open(path).map_err(|e| Error::sqlite(DB, Some(path), e))?;
        let meta = |key: &str| -> Result<Option<String>> {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .map_err(|e| Error::sqlite(DB, Some(path), e))
        };
        let version = meta("schema_version")?.and_then(|v| v.parse::<u32>().ok());
        if version != Some(SCHEMA_VERSION) || meta("app")?.as_deref() != Some(app) {
            return Ok(None);
        }
        let conn = repage(conn, path)?;
        begin_writing(&conn, path)?;
        let account_id: String = conn
            .query_row("SELECT id FROM account", [], |r| r.get(0))
            .optional()
            .map_err(|e| Error::sqlite(DB, Some(path), e))?
            .unwrap_or_default();
        let known = Known::open(&conn, work_dir)?;
        let resumed = Resumed {
            known,
            waiting: Waiting::new(work_dir),
            waiting_limit: WAITING_LIMIT,
            account_id,
            kept_media: Vec::new(),
            conversations: Default::default(),
            contacts: Default::default(),
            counts: ResumeCounts::default(),
        };
        Ok(Some(Self::with(conn, path, Some(resumed))))
    }

    /// The parent's index was of another account (a different account's export at the
    /// same path): what the export did not deliver is that account's, not this one's
    /// archive, and goes.
    fn drop_other_account(&mut self) -> Result<()> {
        let Some(r) = self.resumed.as_mut() else {
            return Ok(());
        };
        let path = &self.path;
        let sqlite = |e| Error::sqlite(DB, Some(path), e);
        log::info!(
            "the last backup's chat index is of account {}, this export of {}: its messages are not carried forward",
            r.account_id,
            self.account.id
        );
        let mut delete = self
            .conn
            .prepare("DELETE FROM messages WHERE rowid = ?1")
            .map_err(sqlite)?;
        for rowid in r.known.unclaimed() {
            delete.execute([rowid]).map_err(sqlite)?;
        }
        drop(delete);
        for (table, kept) in [
            ("conversations", &r.conversations),
            ("contacts", &r.contacts),
        ] {
            let ids: Vec<String> = self
                .conn
                .prepare(&format!("SELECT id FROM {table}"))
                .and_then(|mut st| st.query_map([], |x| x.get(0))?.collect())
                .map_err(sqlite)?;
            for id in ids.iter().filter(|id| !kept.contains(*id)) {
                if table == "conversations" && self.running.contains_key(id) {
                    continue;
                }
                self.conn
                    .execute(&format!("DELETE FROM {table} WHERE id = ?1"), [id])
                    .map_err(sqlite)?;
            }
        }
        self.conn
            .execute_batch(
                "DELETE FROM media_keys WHERE path NOT IN (
                   SELECT media_path FROM messages WHERE media_path IS NOT NULL
                   UNION SELECT thumbnail FROM messages WHERE thumbnail IS NOT NULL)",
            )
            .map_err(sqlite)?;
        self.resumed = None;
        Ok(())
    }

    /// Sets the backup's time (ms since the epoch, UTC), which new rows' `first_seen` and
    /// newly gone rows' `gone_since` record; the default is when the writer was made.
    pub fn set_time(&mut self, ms: i64) {
        self.now_ms = ms;
    }

    /// Warnings the reader reported.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Adds messages in order (what [`ChatSink::message`] does for one). A resumed index
    /// matches each with the row it holds for it; one no cursor places waits
    /// ([`Waiting`]) until the rows not matched are indexed.
    pub fn messages(&mut self, batch: impl IntoIterator<Item = Message>) -> Result<()> {
        self.messages_of_rows(batch.into_iter().map(|m| (m, None)))
    }

    /// Records the export's rows (read under `context`, fingerprinted with `key`) as their
    /// messages are placed, for the next backup to skip those unchanged
    /// ([`super::source_rows`]); beside the index file. A file that cannot be made is
    /// logged and done without.
    pub(crate) fn begin_rows(
        &mut self,
        context: [u8; 32],
        key: [u8; 16],
        remembered: Conversations,
    ) {
        self.remembered = remembered;
        match RowsRecorder::create(&self.path.with_extension("rows"), context, key) {
            Ok(r) => self.rows = Some(r),
            Err(e) => log::warn!("the export's rows are not remembered: {e}"),
        }
    }

    /// [`ChatIndexWriter::messages`], each with the source row it was read from, if the
    /// reader named one: recorded with the row it is stored as.
    pub(crate) fn messages_of_rows(
        &mut self,
        batch: impl IntoIterator<Item = (Message, Option<ReadRow>)>,
    ) -> Result<()> {
        for (m, read) in batch {
            let known = match self.resumed.as_mut() {
                None => None,
                Some(r) => {
                    // Where the last backup placed this row's message, else by the cursors.
                    let at = match read.and_then(|x| x.remembered_at) {
                        Some(rowid) => {
                            r.known
                                .claim_at(&self.conn, rowid, &m.conversation, &m.id)?
                        }
                        None => None,
                    };
                    let known = match at {
                        Some(k) => Some(k),
                        None => r.known.claim(&self.conn, &m.conversation, &m.id)?,
                    };
                    if known.is_none() && !r.known.indexed() {
                        r.waiting.push(m, read.map(|x| x.row))?;
                        if r.waiting.len() >= r.waiting_limit {
                            self.place_pending()?;
                        }
                        continue;
                    }
                    known
                }
            };
            self.store_row(m, known, read.map(|x| x.row))?;
        }
        self.insert_new()
    }

    /// [`ChatIndexWriter::store`], recording the source row the message was read from.
    fn store_row(
        &mut self,
        m: Message,
        known: Option<KnownRow>,
        row: Option<SourceRow>,
    ) -> Result<()> {
        let record = match (row, self.rows.as_mut()) {
            (Some(row), Some(rows)) => Some(RowRecord {
                row,
                rowid: known.as_ref().map_or(self.next_rowid, |k| k.rowid),
                time_ms: m.time.millis(),
                conversation: rows.conversation(&m.conversation),
                flags: match &m.media {
                    None => SKIPPABLE,
                    Some(media) if media.present => SKIPPABLE | MEDIA | PRESENT,
                    // Its file, stored before, is kept from an earlier snapshot: named
                    // again by every backup, so never skipped.
                    Some(_) if known.as_ref().is_some_and(|k| k.flags & MEDIA_PRESENT != 0) => {
                        MEDIA
                    }
                    Some(_) => SKIPPABLE | MEDIA,
                } | if m.kind == MessageKind::Unparsed {
                    UNPARSED
                } else {
                    0
                } | if m.time.is_utc() { UTC } else { 0 },
            }),
            _ => None,
        };
        self.store(m, known)?;
        if let Some(r) = record {
            self.record_row(r);
        }
        Ok(())
    }

    fn record_row(&mut self, record: RowRecord) {
        if let Some(rows) = self.rows.as_mut() {
            if let Err(e) = rows.push(record) {
                log::warn!("the export's rows are not remembered: {e}");
                self.rows = None;
            }
        }
    }

    /// A row the reader skipped, unchanged since the last backup: the index row recorded
    /// with it is the export's, as it is. One this index cannot take (not resumed, no such
    /// row, taken already) makes the read unsound ([`ChatIndexWriter::finish_with_rows`]).
    pub(crate) fn unchanged(&mut self, u: UnchangedRow) -> Result<()> {
        let (Some(r), Some(conversation)) = (
            self.resumed.as_mut(),
            self.remembered.get(u.conversation as usize),
        ) else {
            self.rows_unsound = true;
            return Ok(());
        };
        if !r.known.claim_unchanged(u.rowid) {
            self.rows_unsound = true;
            return Ok(());
        }
        r.counts.unchanged += 1;
        r.counts.skipped += 1;
        self.local_time |= u.flags & UTC == 0;
        let run = match self.running.get_mut(&**conversation) {
            Some(run) => run,
            None => self.running.entry(conversation.to_string()).or_default(),
        };
        run.add(
            u.time_ms,
            u.rowid as u64,
            (u.flags & MEDIA != 0).then_some(u.flags & PRESENT != 0),
        );
        run.unparsed += u64::from(u.flags & UNPARSED != 0);
        if let Some(rows) = self.rows.as_mut() {
            let conversation = rows.remembered_conversation(u.conversation, conversation);
            self.record_row(RowRecord {
                row: u.row,
                rowid: u.rowid,
                time_ms: u.time_ms,
                conversation,
                flags: u.flags,
            });
        }
        Ok(())
    }

    /// Indexes the rows of a resumed index not matched yet, and stores the messages that
    /// waited: known rows out of the cursors' order, or new.
    fn place_pending(&mut self) -> Result<()> {
        let Some(r) = self.resumed.as_mut() else {
            return Ok(());
        };
        if r.waiting.is_empty() {
            return Ok(());
        }
        r.known.index_unclaimed(&self.conn)?;
        for entry in r.waiting.take().drain()? {
            let (m, row) = entry?;
            let known = match self.resumed.as_mut() {
                Some(r) => r.known.claim(&self.conn, &m.conversation, &m.id)?,
                None => None,
            };
            self.store_row(m, known, row)?;
        }
        self.insert_new()
    }

    /// Stores one message: a new row, or over the `known` row it matched when its content
    /// changed (nothing written when it did not).
    fn store(&mut self, mut m: Message, known: Option<KnownRow>) -> Result<()> {
        let path = &self.path;
        let sqlite = |e| Error::sqlite(DB, Some(path), e);
        if let (Some(k), Some(media)) = (&known, m.media.as_mut()) {
            // A file stored before and gone from the export since (the phone cleaned
            // it up) stays stored, at the path the index has for it: kept from the
            // earlier snapshot.
            if k.flags & MEDIA_PRESENT != 0 && !media.present {
                let (path, thumbnail): (String, Option<String>) = self
                    .conn
                    .prepare_cached("SELECT media_path, thumbnail FROM messages WHERE rowid = ?1")
                    .and_then(|mut st| st.query_row([k.rowid], |r| Ok((r.get(0)?, r.get(1)?))))
                    .map_err(sqlite)?;
                media.present = true;
                media.path = path;
                if media.thumbnail.is_none() {
                    media.thumbnail = thumbnail;
                }
                if let Some(r) = self.resumed.as_mut() {
                    r.kept_media.push(media.path.clone());
                    r.kept_media.extend(media.thumbnail.clone());
                }
            }
        }
        let details = if m.details.is_empty() {
            None
        } else {
            serde_json::to_string(&m.details).ok()
        };
        let rowid = known.as_ref().map_or(self.next_rowid, |k| k.rowid);
        self.local_time |= !m.time.is_utc();
        let run = match self.running.get_mut(&m.conversation) {
            Some(run) => run,
            None => self.running.entry(m.conversation.clone()).or_default(),
        };
        run.add(
            m.time.millis(),
            rowid as u64,
            m.media.as_ref().map(|x| x.present),
        );
        run.unparsed += u64::from(m.kind == MessageKind::Unparsed);
        match known {
            None => {
                // Inserted with the others of the batch, through one statement.
                self.inserts.push((rowid, m, details));
                self.next_rowid += 1;
                if let Some(r) = self.resumed.as_mut() {
                    r.counts.new += 1;
                }
                if self.inserts.len() >= INSERTS_HELD {
                    self.insert_new()?;
                }
            }
            Some(k) => {
                let media = m.media.as_ref();
                let values: [&dyn ToSql; CONTENT_COUNT] = bound_values!(m, media, details);
                let same = k.content.is_bound(&values).map_err(sqlite)?;
                let r = self
                    .resumed
                    .as_mut()
                    .ok_or_else(|| Error::internal("a known message without a resumed index"))?;
                if !same || k.flags & GONE != 0 {
                    let mut params: Vec<&dyn ToSql> = Vec::with_capacity(CONTENT_COUNT + 1);
                    params.push(&rowid);
                    params.extend(values);
                    self.conn
                        .prepare_cached(UPDATE_MESSAGE)
                        .and_then(|mut st| st.execute(params.as_slice()))
                        .map_err(sqlite)?;
                    r.counts.changed += 1;
                } else {
                    r.counts.unchanged += 1;
                }
            }
        }
        self.pending += 1;
        if self.pending >= 20_000 {
            self.pending = 0;
            self.insert_new()?;
            self.conn
                .execute_batch("COMMIT; BEGIN;")
                .map_err(|e| Error::sqlite(DB, Some(&self.path), e))?;
        }
        Ok(())
    }

    /// Inserts the new messages [`ChatIndexWriter::store`] set aside, through one prepared
    /// statement (taking it from rusqlite's cache for every message, which hashes the SQL
    /// and clears its bindings on return, was a sixth of the index writer's time).
    fn insert_new(&mut self) -> Result<()> {
        if self.inserts.is_empty() {
            return Ok(());
        }
        let Self {
            conn,
            inserts,
            path,
            now_ms,
            ..
        } = self;
        let sqlite = |e| Error::sqlite(DB, Some(path), e);
        let mut st = conn.prepare_cached(INSERT_MESSAGE).map_err(sqlite)?;
        for (rowid, m, details) in inserts.drain(..) {
            let media = m.media.as_ref();
            let values: [&dyn ToSql; CONTENT_COUNT] = bound_values!(m, media, details);
            let mut params: Vec<&dyn ToSql> = Vec::with_capacity(CONTENT_COUNT + 2);
            params.push(&rowid);
            params.extend(values);
            params.push(now_ms);
            st.execute(params.as_slice()).map_err(sqlite)?;
        }
        Ok(())
    }

    /// Marks the messages of a resumed index that the export no longer has (kept, with
    /// `gone_since`), counting them into the summary; gathers their stored media.
    fn mark_gone(&mut self) -> Result<()> {
        let Some(r) = self.resumed.as_mut() else {
            return Ok(());
        };
        let path = &self.path;
        let sqlite = |e| Error::sqlite(DB, Some(path), e);
        let mut get = self
            .conn
            .prepare_cached(
                "SELECT conversation, time_ms, utc, media_present, kind, media_path, thumbnail,
                   gone_since FROM messages WHERE rowid = ?1",
            )
            .map_err(sqlite)?;
        let mut mark = self
            .conn
            .prepare_cached("UPDATE messages SET gone_since = ?2 WHERE rowid = ?1")
            .map_err(sqlite)?;
        for rowid in r.known.unclaimed() {
            type Row = (
                String,
                i64,
                bool,
                Option<bool>,
                String,
                Option<String>,
                Option<String>,
                Option<i64>,
            );
            let row: Option<Row> = get
                .query_row([rowid], |x| {
                    Ok((
                        x.get(0)?,
                        x.get(1)?,
                        x.get(2)?,
                        x.get(3)?,
                        x.get(4)?,
                        x.get(5)?,
                        x.get(6)?,
                        x.get(7)?,
                    ))
                })
                .optional()
                .map_err(sqlite)?;
            let Some((conversation, time_ms, utc, present, kind, media_path, thumbnail, gone)) =
                row
            else {
                continue;
            };
            if gone.is_none() {
                mark.execute(params![rowid, self.now_ms]).map_err(sqlite)?;
            }
            r.counts.gone += 1;
            if present == Some(true) {
                r.kept_media.extend(media_path);
            }
            r.kept_media.extend(thumbnail);
            self.local_time |= !utc;
            let run = match self.running.get_mut(&conversation) {
                Some(run) => run,
                None => self.running.entry(conversation).or_default(),
            };
            run.add(time_ms, rowid as u64, present);
            run.unparsed += u64::from(kind == MessageKind::Unparsed.as_str());
            run.archived += 1;
        }
        Ok(())
    }

    /// Computes the summary and closes the file.
    pub fn finish(self, app: &str) -> Result<ChatSummary> {
        Ok(self.finish_index(app)?.summary)
    }

    /// Marks what a resumed index's export no longer has, computes the summary and closes
    /// the file.
    pub fn finish_index(self, app: &str) -> Result<FinishedIndex> {
        Ok(self.finish_with_rows(app)?.0)
    }

    /// Whether every row the reader skipped was taken (else the index lacks them and the
    /// read must be done again without skipping).
    pub(crate) fn rows_sound(&self) -> bool {
        !self.rows_unsound
    }

    /// [`ChatIndexWriter::finish_index`], with the export's rows as recorded, if the reader
    /// named them.
    pub(crate) fn finish_with_rows(
        mut self,
        app: &str,
    ) -> Result<(FinishedIndex, Option<RecordedRows>)> {
        self.place_pending()?;
        let other_account = self.resumed.as_ref().is_some_and(|r| {
            !r.account_id.is_empty()
                && !self.account.id.is_empty()
                && r.account_id != self.account.id
        });
        if other_account {
            self.drop_other_account()?;
        }
        self.mark_gone()?;
        let path = self.path.clone();
        let sqlite = |e| Error::sqlite(DB, Some(&path), e);
        let c = &self.conn;
        // Conversations a reader never described get a row named by their id.
        let mut describe = c
            .prepare(
                "INSERT OR IGNORE INTO conversations(id, name, kind, members)
                 VALUES (?1, ?1, 'direct', '[]')",
            )
            .map_err(sqlite)?;
        for id in self.running.keys() {
            describe.execute([id]).map_err(sqlite)?;
        }
        drop(describe);
        let meta = [
            ("schema_version", SCHEMA_VERSION.to_string()),
            ("app", app.to_string()),
        ];
        for (k, v) in meta {
            c.execute(UPSERT_META, params![k, v]).map_err(sqlite)?;
        }
        let same_account: bool = c
            .query_row(
                "SELECT count(*) = 1 AND max(id IS ?1 AND name IS ?2) FROM account",
                params![self.account.id, self.account.name],
                |r| r.get(0),
            )
            .map_err(sqlite)?;
        if !same_account {
            c.execute("DELETE FROM account", []).map_err(sqlite)?;
            c.execute(
                "INSERT INTO account(id, name) VALUES (?1, ?2)",
                params![self.account.id, self.account.name],
            )
            .map_err(sqlite)?;
        }
        let mut running = std::mem::take(&mut self.running);
        let summary = summarize(
            c,
            app,
            &self.account,
            self.contacts,
            self.warnings.len(),
            &mut running,
            self.local_time,
        )
        .map_err(sqlite)?;
        c.execute_batch("COMMIT;").map_err(sqlite)?;
        let (kept_media, resumed) = match self.resumed.take() {
            Some(r) => {
                let mut kept = r.kept_media;
                kept.sort_unstable();
                kept.dedup();
                (kept, Some(r.counts))
            }
            None => (Vec::new(), None),
        };
        let rows = self.rows.take().and_then(|r| {
            r.finish()
                .inspect_err(|e| log::warn!("the export's rows are not remembered: {e}"))
                .ok()
        });
        let finished = FinishedIndex {
            summary,
            kept_media,
            resumed,
        };
        Ok((finished, rows))
    }
}

/// Per-conversation figures gathered while messages stream in (memory per conversation,
/// not per message).
#[derive(Default)]
struct Running {
    messages: u64,
    first: Option<i64>,
    last: Option<i64>,
    /// (time, rowid) of the newest message; its text is looked up once at the end.
    last_key: (i64, u64),
    media_present: u64,
    media_missing: u64,
    unparsed: u64,
    /// Messages the export no longer has (kept in the archive).
    archived: u64,
}

impl Running {
    /// Counts a message sent at `ms`, the `seq`-th of the export, with media `present`
    /// (`None`: no media).
    fn add(&mut self, ms: i64, seq: u64, present: Option<bool>) {
        self.messages += 1;
        self.first = Some(self.first.map_or(ms, |f| f.min(ms)));
        self.last = Some(self.last.map_or(ms, |l| l.max(ms)));
        if (ms, seq) >= self.last_key {
            self.last_key = (ms, seq);
        }
        match present {
            Some(true) => self.media_present += 1,
            Some(false) => self.media_missing += 1,
            None => {}
        }
    }
}

fn summarize(
    c: &Connection,
    app: &str,
    account: &Account,
    contacts: u64,
    warnings: usize,
    running: &mut HashMap<String, Running>,
    local: bool,
) -> rusqlite::Result<ChatSummary> {
    let mut st = c.prepare("SELECT id, name, kind FROM conversations")?;
    let mut conversations = st
        .query_map([], |r| {
            let id: String = r.get(0)?;
            let run = running.remove(&id).unwrap_or_default();
            let last_text: Option<String> = if run.messages > 0 {
                c.query_row(
                    "SELECT substr(text, 1, 80) FROM messages WHERE rowid = ?1",
                    [run.last_key.1 as i64],
                    |r| r.get(0),
                )
                .optional()?
            } else {
                None
            };
            Ok(ConversationSummary {
                id,
                name: r.get(1)?,
                kind: r.get(2)?,
                messages: run.messages,
                first: run.first,
                last: run.last,
                media_present: run.media_present,
                media_missing: run.media_missing,
                unparsed: run.unparsed,
                archived: run.archived,
                last_text,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    conversations.sort_by(|a, b| b.last.cmp(&a.last).then_with(|| a.id.cmp(&b.id)));
    let mut summary = ChatSummary {
        app: app.to_string(),
        account: account.clone(),
        contacts,
        local_time: local,
        conversations,
        warnings: warnings as u64,
        ..Default::default()
    };
    summary.add_up();
    Ok(summary)
}

impl ChatSink for ChatIndexWriter {
    fn account(&mut self, account: &Account) -> Result<()> {
        self.account = account.clone();
        Ok(())
    }

    fn contact(&mut self, c: &Contact) -> Result<()> {
        self.contacts += 1;
        if let Some(r) = self.resumed.as_mut() {
            r.contacts.insert(c.id.clone());
        }
        let kind = serde_json::to_value(c.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        self.conn
            .prepare_cached(
                "INSERT INTO contacts(id, name, nickname, remark, alias, kind)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, nickname = excluded.nickname,
                   remark = excluded.remark, alias = excluded.alias, kind = excluded.kind
                 WHERE (name, nickname, remark, alias, kind) IS NOT
                   (excluded.name, excluded.nickname, excluded.remark, excluded.alias, excluded.kind)",
            )
            .and_then(|mut st| {
                st.execute(params![c.id, c.name, c.nickname, c.remark, c.alias, kind])
            })
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))?;
        Ok(())
    }

    fn conversation(&mut self, c: &Conversation) -> Result<()> {
        if let Some(r) = self.resumed.as_mut() {
            r.conversations.insert(c.id.clone());
        }
        let members = serde_json::to_string(&c.members).unwrap_or_else(|_| "[]".into());
        self.conn
            .prepare_cached(
                "INSERT INTO conversations(id, name, kind, members) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, kind = excluded.kind,
                   members = excluded.members
                 WHERE (name, kind, members) IS NOT (excluded.name, excluded.kind, excluded.members)",
            )
            .and_then(|mut st| st.execute(params![c.id, c.name, c.kind.as_str(), members]))
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))?;
        Ok(())
    }

    fn message(&mut self, m: Message) -> Result<()> {
        self.messages(std::iter::once(m))
    }

    fn media_key(&mut self, path: &str, key: &MediaKey) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO media_keys(path, key, size) VALUES (?1, ?2, ?3)
                 ON CONFLICT(path) DO UPDATE SET key = excluded.key, size = excluded.size
                 WHERE (key, size) IS NOT (excluded.key, excluded.size)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    path,
                    key.key.as_slice(),
                    i64::try_from(key.size).unwrap_or(i64::MAX)
                ])
            })
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))?;
        Ok(())
    }

    fn warning(&mut self, warning: String) {
        // Reported to the caller with the result (the CLI's `note:` lines): logged, not
        // warned, so a terminal does not show it twice.
        log::info!("{warning}");
        if self.warnings.len() < 1000 {
            self.warnings.push(warning);
        }
    }
}

/// One message as read back from the index.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexedMessage {
    /// Conversation id.
    pub conversation: String,
    /// Message id.
    pub id: String,
    /// The chat service's id (WeChat's svrid), which quotes refer to.
    pub server_id: Option<String>,
    /// Sender id.
    pub sender: Option<String>,
    /// Sender display name.
    pub sender_name: Option<String>,
    /// Sent by the owner.
    pub from_me: bool,
    /// Milliseconds (UTC if `utc`, else wall clock of an unknown zone).
    pub time_ms: i64,
    /// Whether `time_ms` is UTC.
    pub utc: bool,
    /// Kind name (see [`crate::sources::model::MessageKind::as_str`]).
    pub kind: String,
    /// Text.
    pub text: String,
    /// Replied-to message (server id or id).
    pub reply_to: Option<String>,
    /// Quoted text.
    pub quote: Option<String>,
    /// Media path inside the export.
    pub media_path: Option<String>,
    /// Media kind (see [`crate::sources::model::MediaKind::as_str`]).
    pub media_kind: Option<String>,
    /// Whether the media file is in the export.
    pub media_present: Option<bool>,
    /// Thumbnail path inside the export.
    pub thumbnail: Option<String>,
    /// Edited after sending.
    pub edited: bool,
    /// What else the message carries (forwarded from, links, reactions, poll, place, ...).
    #[serde(skip_serializing_if = "MessageDetails::is_empty")]
    pub details: MessageDetails,
    /// When a backup first found the message no longer on the phone (ms since the epoch,
    /// UTC); `None` while the phone has it. Such a message is kept from earlier backups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gone_since: Option<i64>,
}

const MESSAGE_COLUMNS: &str = "m.conversation, m.id, m.sender, m.sender_name, m.from_me, m.time_ms, m.utc, m.kind, m.text, m.reply_to, m.quote, m.media_path, m.media_kind, m.media_present, m.thumbnail, m.server_id, m.edited, m.details, m.gone_since";

fn row_message(r: &rusqlite::Row) -> rusqlite::Result<IndexedMessage> {
    Ok(IndexedMessage {
        conversation: r.get(0)?,
        id: r.get(1)?,
        sender: r.get(2)?,
        sender_name: r.get(3)?,
        from_me: r.get(4)?,
        time_ms: r.get(5)?,
        utc: r.get(6)?,
        kind: r.get(7)?,
        text: r.get(8)?,
        reply_to: r.get(9)?,
        quote: r.get(10)?,
        media_path: r.get(11)?,
        media_kind: r.get(12)?,
        media_present: r.get(13)?,
        thumbnail: r.get(14)?,
        server_id: r.get(15)?,
        edited: r.get(16)?,
        // Written by us as JSON; a value this version cannot read shows as no details.
        details: r
            .get::<_, Option<String>>(17)?
            .and_then(|d| serde_json::from_str(&d).ok())
            .unwrap_or_default(),
        gone_since: r.get(18)?,
    })
}

/// A span of message times, from `since` (inclusive) to `until` (exclusive), in both
/// clocks the index holds: UTC milliseconds for UTC stamps and wall-clock milliseconds for
/// exports that record local time without a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// Bounds for messages stamped in UTC.
    pub utc: (i64, i64),
    /// Bounds for messages stamped in wall-clock time.
    pub wall: (i64, i64),
}

impl TimeWindow {
    /// Every message.
    pub const ALL: TimeWindow = TimeWindow {
        utc: (i64::MIN, i64::MAX),
        wall: (i64::MIN, i64::MAX),
    };
}

impl Default for TimeWindow {
    fn default() -> Self {
        TimeWindow::ALL
    }
}

/// A conversation as the index lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexedConversation {
    /// Conversation id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Kind name (see [`crate::sources::model::ConversationKind::as_str`]).
    pub kind: String,
    /// Member ids (groups).
    pub members: Vec<String>,
}

pub(super) const WINDOW: &str =
    "m.conversation = ?1 AND ((m.utc AND m.time_ms >= ?2 AND m.time_ms < ?3)
  OR (NOT m.utc AND m.time_ms >= ?4 AND m.time_ms < ?5))";
/// A search's window (parameters 4 to 7, as [`WINDOW`]'s 2 to 5).
const IN_WINDOW: &str = "((m.utc AND m.time_ms >= ?4 AND m.time_ms < ?5)
  OR (NOT m.utc AND m.time_ms >= ?6 AND m.time_ms < ?7))";

/// Which messages of a cumulative index are shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MessageScope {
    /// Every message ever backed up, those the phone no longer has (the archive) too.
    #[default]
    Everything,
    /// Only what the export still had when the snapshot was taken.
    OnPhone,
}

/// A read-only chat index.
pub struct ChatIndex {
    conn: Connection,
    path: std::path::PathBuf,
}

impl ChatIndex {
    /// Opens an index file and builds its search index in place if it has none yet (the
    /// file must be a private copy: a snapshot's index restored to a temporary folder).
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_scoped(path, MessageScope::Everything)
    }

    /// [`ChatIndex::open`], showing only the messages `scope` names (the others are
    /// removed from the private copy before it is indexed).
    pub fn open_scoped(path: &Path, scope: MessageScope) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| Error::sqlite(DB, Some(path), e))?;
        let (_, pages) = page_and_cache(&conn, path)?;
        conn.execute_batch(&format!("PRAGMA cache_size = {pages};"))
            .map_err(|e| Error::sqlite(DB, Some(path), e))?;
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| Error::sqlite(DB, Some(path), e))?;
        match version.as_deref().and_then(|v| v.parse::<u32>().ok()) {
            Some(v) if v <= SCHEMA_VERSION => {}
            Some(v) => {
                return Err(Error::UnsupportedVersion {
                    found: v,
                    supported: SCHEMA_VERSION,
                })
            }
            None => {
                return Err(Error::corrupt(
                    path.display().to_string(),
                    "not a chat index (no schema version)",
                ))
            }
        }
        let built: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'message_text'",
                [],
                |r| r.get::<_, i64>(0).map(|n| n > 0),
            )
            .map_err(|e| Error::sqlite(DB, Some(path), e))?;
        // Columns later schemas added, empty in an older index (this is a private copy).
        for (column, kind) in [
            ("details", "TEXT"),
            ("first_seen", "INTEGER"),
            ("gone_since", "INTEGER"),
        ] {
            let has: bool = conn
                .query_row(
                    "SELECT count(*) FROM pragma_table_info('messages') WHERE name = ?1",
                    [column],
                    |r| r.get::<_, i64>(0).map(|n| n > 0),
                )
                .map_err(|e| Error::sqlite(DB, Some(path), e))?;
            if !has {
                conn.execute_batch(&format!("ALTER TABLE messages ADD COLUMN {column} {kind}"))
                    .map_err(|e| Error::sqlite(DB, Some(path), e))?;
            }
        }
        if scope == MessageScope::OnPhone && !built {
            conn.execute_batch("DELETE FROM messages WHERE gone_since IS NOT NULL")
                .map_err(|e| Error::sqlite(DB, Some(path), e))?;
        }
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS media_keys(path TEXT PRIMARY KEY, key BLOB NOT NULL, size INTEGER NOT NULL)",
        )
        .map_err(|e| Error::sqlite(DB, Some(path), e))?;
        if !built {
            conn.execute_batch(&format!(
                "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = FILE; BEGIN; {DERIVED} COMMIT;"
            ))
            .map_err(|e| Error::sqlite(DB, Some(path), e))?;
        }
        Ok(ChatIndex {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Messages whose text contains `query` (case-insensitive), newest first, at most
    /// `limit`, optionally in one conversation.
    pub fn search(
        &self,
        query: &str,
        conversation: Option<&str>,
        limit: usize,
    ) -> Result<Vec<IndexedMessage>> {
        self.search_in(query, conversation, &TimeWindow::ALL, limit)
    }

    /// [`ChatIndex::search`] among the messages inside `window`.
    pub fn search_in(
        &self,
        query: &str,
        conversation: Option<&str>,
        window: &TimeWindow,
        limit: usize,
    ) -> Result<Vec<IndexedMessage>> {
        let query = query.trim();
        if query.is_empty() {
            return Err(Error::InvalidArgument("empty search".into()));
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql_fts = format!(
            "SELECT {MESSAGE_COLUMNS} FROM message_text t JOIN messages m ON m.rowid = t.rowid
              WHERE message_text MATCH ?1 AND (?2 IS NULL OR m.conversation = ?2) AND {IN_WINDOW}
              ORDER BY m.time_ms DESC, m.rowid DESC LIMIT ?3"
        );
        let sql_like = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m
              WHERE m.text LIKE ?1 ESCAPE '\\' AND (?2 IS NULL OR m.conversation = ?2) AND {IN_WINDOW}
              ORDER BY m.time_ms DESC, m.rowid DESC LIMIT ?3"
        );
        // Trigrams need three characters; shorter queries scan.
        let (sql, pattern) = if query.chars().count() >= 3 {
            (sql_fts, format!("\"{}\"", query.replace('"', "\"\"")))
        } else {
            let escaped = query
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            (sql_like, format!("%{escaped}%"))
        };
        let mut st = self
            .conn
            .prepare(&sql)
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))?;
        let rows = st
            .query_map(
                params![
                    pattern,
                    conversation,
                    limit,
                    window.utc.0,
                    window.utc.1,
                    window.wall.0,
                    window.wall.1
                ],
                row_message,
            )
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))
    }

    /// Calls `each` for every message of a conversation, oldest first (streamed).
    pub fn for_each_message(
        &self,
        conversation: &str,
        each: impl FnMut(IndexedMessage) -> Result<()>,
    ) -> Result<u64> {
        self.for_each_message_in(conversation, &TimeWindow::ALL, each)
    }

    /// Calls `each` for every message of a conversation inside `window`, oldest first
    /// (streamed).
    pub fn for_each_message_in(
        &self,
        conversation: &str,
        window: &TimeWindow,
        mut each: impl FnMut(IndexedMessage) -> Result<()>,
    ) -> Result<u64> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE {WINDOW} ORDER BY m.time_ms, m.rowid"
        );
        let mut st = self
            .conn
            .prepare(&sql)
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))?;
        let w = window;
        let mut rows = st
            .query(params![conversation, w.utc.0, w.utc.1, w.wall.0, w.wall.1])
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))?;
        let mut n = 0;
        while let Some(r) = rows
            .next()
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))?
        {
            each(row_message(r).map_err(|e| Error::sqlite(DB, Some(&self.path), e))?)?;
            n += 1;
        }
        Ok(n)
    }

    /// The number of messages of a conversation inside `window`.
    pub fn count_messages(&self, conversation: &str, window: &TimeWindow) -> Result<u64> {
        let w = window;
        self.conn
            .query_row(
                &format!("SELECT count(*) FROM messages m WHERE {WINDOW}"),
                params![conversation, w.utc.0, w.utc.1, w.wall.0, w.wall.1],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as u64)
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))
    }

    /// Every conversation, in id order.
    pub fn conversations(&self) -> Result<Vec<IndexedConversation>> {
        let mut st = self
            .conn
            .prepare("SELECT id, name, kind, members FROM conversations ORDER BY id")
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))?;
        let rows = st
            .query_map([], |r| {
                let members: String = r.get(3)?;
                Ok(IndexedConversation {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    kind: r.get(2)?,
                    members: serde_json::from_str(&members).unwrap_or_default(),
                })
            })
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))
    }

    /// Builds the lookup that [`ChatIndex::replied_text`] needs (once; call it before
    /// streaming messages, since the schema cannot change while a query is running).
    pub fn index_message_ids(&self) -> Result<()> {
        self.conn
            .execute_batch(
                "CREATE INDEX IF NOT EXISTS messages_by_id ON messages(conversation, id);
                 CREATE INDEX IF NOT EXISTS messages_by_server_id ON messages(conversation, server_id);",
            )
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))
    }

    /// The text of the message that `reply_to` (an id or a server id) names in a
    /// conversation, if it is there.
    pub fn replied_text(&self, conversation: &str, reply_to: &str) -> Result<Option<String>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT text FROM messages WHERE conversation = ?1 AND id = ?2
                 UNION ALL SELECT text FROM messages WHERE conversation = ?1 AND server_id = ?2
                 LIMIT 1",
            )
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))?;
        st.query_row(params![conversation, reply_to], |r| r.get(0))
            .optional()
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))
    }

    /// Whether a conversation exists.
    pub fn has_conversation(&self, id: &str) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT 1 FROM conversations WHERE id = ?1",
                [id],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))
    }

    /// Media files (paths inside the export) present for a conversation, with thumbnails.
    pub fn media_paths(&self, conversation: &str) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT media_path FROM messages WHERE conversation = ?1 AND media_present = 1
                 UNION SELECT thumbnail FROM messages WHERE conversation = ?1 AND thumbnail IS NOT NULL
                 ORDER BY 1",
            )
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))?;
        let rows = st
            .query_map([conversation], |r| r.get::<_, String>(0))
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))
    }

    /// The key of the media file at `path` (inside the export), when the export stores it
    /// encrypted.
    pub fn media_key(&self, path: &str) -> Result<Option<MediaKey>> {
        self.conn
            .query_row(
                "SELECT key, size FROM media_keys WHERE path = ?1",
                [path],
                |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)),
            )
            .optional()
            .map_err(|e| Error::sqlite(DB, Some(&self.path), e))
            .map(|row| {
                let (key, size) = row?;
                // The bytes read are wiped when dropped; a key of another length is none.
                let key = zeroize::Zeroizing::new(key);
                Some(MediaKey {
                    key: key.as_slice().try_into().ok()?,
                    size: u64::try_from(size).ok()?,
                })
            })
    }

    /// Raw access for exporters that need more than the methods above.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::model::{MediaKind, MediaRef, Timestamp};

    fn message(id: &str, media: &str) -> Message {
        Message {
            id: id.into(),
            server_id: None,
            conversation: "c".into(),
            sender: Some("a".into()),
            sender_name: None,
            from_me: false,
            time: Timestamp::Utc(1_700_000_000_000),
            kind: MessageKind::Image,
            text: String::new(),
            reply_to: None,
            quote: None,
            media: Some(MediaRef {
                path: media.into(),
                kind: MediaKind::Image,
                present: true,
                thumbnail: None,
            }),
            raw: None,
            edited: false,
            details: MessageDetails::default(),
        }
    }

    /// More new messages than are held at once ([`INSERTS_HELD`]) wait until the end of a
    /// resumed backup and are then placed in runs: every one appended, in the order it
    /// came, none lost between runs.
    #[test]
    fn a_day_of_many_new_messages_is_placed_in_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.sqlite");
        let mut w = ChatIndexWriter::create(&path).unwrap();
        for i in 0..3 {
            w.message(message(&i.to_string(), "")).unwrap();
        }
        w.finish("telegram").unwrap();
        let mut w = ChatIndexWriter::resume(&path, "telegram", Some(dir.path()))
            .unwrap()
            .unwrap();
        let new = 2 * INSERTS_HELD + 7;
        let mut batch = vec![message("0", ""), message("2", "")];
        batch.extend((0..new).map(|i| message(&format!("n{i}"), "")));
        w.messages(batch).unwrap();
        let f = w.finish_index("telegram").unwrap();
        let counts = f.resumed.unwrap();
        assert_eq!(
            (counts.unchanged, counts.new, counts.gone),
            (2, new as u64, 1)
        );
        assert_eq!(f.summary.messages, 3 + new as u64);
        let c = Connection::open(&path).unwrap();
        let appended: Vec<(i64, String)> = c
            .prepare("SELECT rowid, id FROM messages WHERE rowid > 3 ORDER BY rowid")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let expected: Vec<(i64, String)> =
            (0..new).map(|i| (4 + i as i64, format!("n{i}"))).collect();
        assert_eq!(appended, expected);
    }

    /// A resumed index matches every known message whatever order the export streams
    /// them in (in the order of last time by the cursors, out of it once the rows not
    /// matched are indexed: at the end, or when too many wait); new ones are appended in
    /// the order they came, an edited one is rewritten, a missing one is kept as gone.
    #[test]
    fn a_resumed_index_places_messages_streamed_in_any_order() {
        for limit in [2, WAITING_LIMIT] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("i.sqlite");
            let mut w = ChatIndexWriter::create(&path).unwrap();
            for i in 0..50 {
                w.message(message(&i.to_string(), &format!("m{i}")))
                    .unwrap();
            }
            w.finish("telegram").unwrap();
            let mut w = ChatIndexWriter::resume(&path, "telegram", Some(dir.path()))
                .unwrap()
                .unwrap();
            w.resumed.as_mut().unwrap().waiting_limit = limit;
            let mut batch = Vec::new();
            for i in (0..50).rev() {
                if i % 10 == 0 {
                    batch.push(message(&format!("n{i}"), &format!("n{i}")));
                }
                if i != 10 {
                    let mut m = message(&i.to_string(), &format!("m{i}"));
                    if i == 7 {
                        m.text = "edited".into();
                    }
                    batch.push(m);
                }
            }
            w.messages(batch).unwrap();
            let f = w.finish_index("telegram").unwrap();
            let counts = ResumeCounts {
                unchanged: 48,
                skipped: 0,
                changed: 1,
                new: 5,
                gone: 1,
            };
            assert_eq!(f.resumed, Some(counts), "limit {limit}");
            assert_eq!(f.summary.messages, 55);
            let c = Connection::open(&path).unwrap();
            let appended: Vec<String> = c
                .prepare("SELECT id FROM messages WHERE rowid > 50 ORDER BY rowid")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            assert_eq!(
                appended,
                ["n40", "n30", "n20", "n10", "n0"],
                "limit {limit}"
            );
            let (text, gone): (String, Option<i64>) = c
                .query_row(
                    "SELECT (SELECT text FROM messages WHERE id = '7'),
                       (SELECT gone_since FROM messages WHERE id = '10')",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert_eq!(text, "edited");
            assert!(gone.is_some());
        }
    }

    /// An index made with 4 KiB pages (before they were 16 KiB) is rewritten at 16 KiB
    /// when a backup carries it forward: the same rows under the same row ids, every
    /// message of the export matched as unchanged, a new one appended after them.
    #[test]
    fn an_index_of_small_pages_is_carried_forward_at_the_new_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.sqlite");
        let mut w = ChatIndexWriter::create(&path).unwrap();
        for i in 0..2000 {
            w.message(message(&i.to_string(), &format!("m{i}")))
                .unwrap();
        }
        w.finish("telegram").unwrap();
        let rows = |path: &Path| -> Vec<(i64, String, String)> {
            let c = Connection::open(path).unwrap();
            let mut st = c
                .prepare("SELECT rowid, id, media_path FROM messages ORDER BY rowid")
                .unwrap();
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            rows
        };
        let page_size = |path: &Path| -> u32 {
            Connection::open(path)
                .unwrap()
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(page_size(&path), PAGE_SIZE);
        let old = dir.path().join("old.sqlite");
        Connection::open(&path)
            .unwrap()
            .execute_batch(&format!(
                "VACUUM INTO '{}'; ",
                old.display().to_string().replace('\'', "''")
            ))
            .unwrap();
        Connection::open(&old)
            .unwrap()
            .execute_batch("PRAGMA page_size = 4096; VACUUM;")
            .unwrap();
        assert_eq!(page_size(&old), 4096);
        let before = rows(&old);
        assert_eq!(before.len(), 2000);

        let mut w = ChatIndexWriter::resume(&old, "telegram", Some(dir.path()))
            .unwrap()
            .unwrap();
        let mut batch: Vec<Message> = (0..2000)
            .map(|i| message(&i.to_string(), &format!("m{i}")))
            .collect();
        batch.push(message("new", "new.jpg"));
        w.messages(batch).unwrap();
        let f = w.finish_index("telegram").unwrap();
        assert_eq!(
            f.resumed,
            Some(ResumeCounts {
                unchanged: 2000,
                skipped: 0,
                changed: 0,
                new: 1,
                gone: 0
            })
        );
        assert_eq!(page_size(&old), PAGE_SIZE);
        let after = rows(&old);
        assert_eq!(after[..2000], before[..]);
        assert_eq!(after[2000], (2001, "new".into(), "new.jpg".into()));
        assert!(!old.with_extension("repaged").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&old).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "readable by the owner only");
        }

        // Where the copy cannot be written, the index is carried forward as it is.
        let stuck = dir.path().join("stuck.sqlite");
        std::fs::copy(&path, &stuck).unwrap();
        Connection::open(&stuck)
            .unwrap()
            .execute_batch("PRAGMA page_size = 4096; VACUUM;")
            .unwrap();
        std::fs::create_dir(stuck.with_extension("repaged")).unwrap();
        let mut w = ChatIndexWriter::resume(&stuck, "telegram", Some(dir.path()))
            .unwrap()
            .unwrap();
        w.messages((0..2000).map(|i| message(&i.to_string(), &format!("m{i}"))))
            .unwrap();
        let f = w.finish_index("telegram").unwrap();
        assert_eq!(f.resumed.map(|r| r.unchanged), Some(2000));
        assert_eq!(page_size(&stuck), 4096);
        assert_eq!(rows(&stuck), before);
    }

    /// Media keys round-trip; an index of an older schema (1: no `details`, 2: no
    /// `media_keys`) opens, reads its messages, and has no keys.
    #[test]
    fn media_keys_and_older_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.sqlite");
        let mut w = ChatIndexWriter::create(&path).unwrap();
        w.message(message("1", "ab/ab01")).unwrap();
        let key = MediaKey {
            key: [7; 32],
            size: 1234,
        };
        w.media_key("ab/ab01", &key).unwrap();
        w.finish("wechat-ios").unwrap();
        let index = ChatIndex::open(&path).unwrap();
        assert_eq!(index.media_key("ab/ab01").unwrap(), Some(key));
        assert_eq!(index.media_key("ab/other").unwrap(), None);
        drop(index);

        for (version, change) in [
            (2, "DROP TABLE media_keys"),
            (
                1,
                "DROP TABLE IF EXISTS media_keys; ALTER TABLE messages DROP COLUMN details",
            ),
        ] {
            let old = dir.path().join(format!("v{version}.sqlite"));
            let mut w = ChatIndexWriter::create(&old).unwrap();
            w.message(message("1", "x.jpg")).unwrap();
            w.finish("whatsapp").unwrap();
            let c = Connection::open(&old).unwrap();
            c.execute_batch(&format!(
                "{change}; UPDATE meta SET value = '{version}' WHERE key = 'schema_version'"
            ))
            .unwrap();
            drop(c);
            let index = ChatIndex::open(&old).unwrap();
            assert_eq!(index.media_key("x.jpg").unwrap(), None, "schema {version}");
            let mut n = 0;
            index
                .for_each_message("c", |m| {
                    assert!(m.details.is_empty());
                    n += 1;
                    Ok(())
                })
                .unwrap();
            assert_eq!(n, 1, "schema {version}");
        }
    }
}
