//! What a device remembers of the source rows its last backup read, kept beside the chat
//! index it keeps ([`super::index_cache`]), so that the next backup's reader skips the
//! rows that did not change instead of parsing every message and comparing it with the
//! index: a night's cost in proportion to the night's messages.
//!
//! A reader that can name its rows (WeChat's `msgId`) gives each a keyed fingerprint of
//! everything its message is made of ([`ChatSink::source_row`]), the files it names
//! included (what their folder holds), besides a *context* (contact names, the account,
//! lookup tables not per row, the reader's version) that fingerprints the whole read. A
//! row is skipped when the last backup recorded the same key and fingerprint under the
//! same context, unless its message's file is one kept from an earlier snapshot (such a
//! row is always read, so the file stays kept). The skipped row
//! is then the index row recorded with it: claimed as the export's, counted into the
//! summary from the record, nothing read from the index.
//!
//! The file is trusted only for the chat index it names (by the id of the tree a snapshot
//! stores it in: the index its rows point into; a night with nothing new stores the same
//! tree again), checked whole by a BLAKE3 sum once read; a backup that finds
//! it damaged, or whose index could not be carried forward after all, reads the export
//! again without it ([`super::backup`]). Layout (integers little-endian):
//!
//! ```text
//! records   one per row, in key order, each value but the fingerprint as the difference
//!           from the record before (zigzag LEB128 varints; 12-16 bytes a row):
//!           Δkey ‖ fingerprint u64 ‖ Δindex rowid ‖ Δtime_ms ‖ conversation ‖ flags u8
//! table     the conversations records name: (length u32 ‖ UTF-8 bytes) each
//! footer    "CVROWS\0\x02" ‖ index tree id [32] ‖ context [32] ‖ hasher key [16] ‖
//!           records u64 ‖ records' bytes u64 ‖ table's bytes u64 ‖ BLAKE3 sum [32]
//! ```
//!
//! The sum covers the records (each as 37 bytes: the values in full, fixed width), the
//! table, and the footer before it. Like the index it holds conversations' names, not messages: 0600, in the cache's
//! 0700 folder.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::repo::id::Id;
use crate::sources::model::{
    Account, ChatSink, Contact, Conversation, MediaKey, Message, RowHasher,
};

const MAGIC: &[u8; 8] = b"CVROWS\0\x02";
const RECORD: usize = 37;
const FOOTER: usize = 8 + 32 + 32 + 16 + 8 + 8 + 8 + 32;
/// A conversations table larger than this is not one this code wrote.
const MAX_TABLE: u64 = 64 << 20;

/// The row can be skipped when unchanged: its message's file, if any, is not one kept
/// from an earlier snapshot (those must be named again by every backup).
pub(crate) const SKIPPABLE: u8 = 1;
/// The message has media.
pub(crate) const MEDIA: u8 = 8;
/// Its file is in the export.
pub(crate) const PRESENT: u8 = 16;
/// The message was stored as unparsed.
pub(crate) const UNPARSED: u8 = 2;
/// The message's time is UTC.
pub(crate) const UTC: u8 = 4;

/// A source row as a reader named it ([`ChatSink::source_row`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SourceRow {
    pub key: i64,
    pub fingerprint: u64,
}

/// A row the reader read (not skipped), as its message goes to the index writer: the
/// index row remembered for its key, if any, is where its message most likely is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadRow {
    pub row: SourceRow,
    pub remembered_at: Option<i64>,
}

/// A remembered row: the source row, and the index row its message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RowRecord {
    pub row: SourceRow,
    pub rowid: i64,
    pub time_ms: i64,
    pub conversation: u32,
    pub flags: u8,
}

impl RowRecord {
    /// The record in full, fixed width: what the sum covers.
    fn encode(&self) -> [u8; RECORD] {
        let mut b = [0u8; RECORD];
        b[0..8].copy_from_slice(&self.row.key.to_le_bytes());
        b[8..16].copy_from_slice(&self.row.fingerprint.to_le_bytes());
        b[16..24].copy_from_slice(&self.rowid.to_le_bytes());
        b[24..32].copy_from_slice(&self.time_ms.to_le_bytes());
        b[32..36].copy_from_slice(&self.conversation.to_le_bytes());
        b[36] = self.flags;
        b
    }

    /// Appends the record as stored: its differences from `prev`.
    fn store(&self, prev: &RowRecord, out: &mut Vec<u8>) {
        varint(out, zigzag(self.row.key.wrapping_sub(prev.row.key)));
        out.extend_from_slice(&self.row.fingerprint.to_le_bytes());
        varint(out, zigzag(self.rowid.wrapping_sub(prev.rowid)));
        varint(out, zigzag(self.time_ms.wrapping_sub(prev.time_ms)));
        varint(out, u64::from(self.conversation));
        out.push(self.flags);
    }

    /// The record stored after `prev`.
    fn load(prev: &RowRecord, r: &mut impl Read) -> std::io::Result<RowRecord> {
        let key = prev.row.key.wrapping_add(unzigzag(read_varint(r)?));
        let mut fp = [0u8; 8];
        r.read_exact(&mut fp)?;
        let rowid = prev.rowid.wrapping_add(unzigzag(read_varint(r)?));
        let time_ms = prev.time_ms.wrapping_add(unzigzag(read_varint(r)?));
        let conversation = u32::try_from(read_varint(r)?)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "a bad record"))?;
        let mut flags = [0u8; 1];
        r.read_exact(&mut flags)?;
        Ok(RowRecord {
            row: SourceRow {
                key,
                fingerprint: u64::from_le_bytes(fp),
            },
            rowid,
            time_ms,
            conversation,
            flags: flags[0],
        })
    }
}

const NO_RECORD: RowRecord = RowRecord {
    row: SourceRow {
        key: 0,
        fingerprint: 0,
    },
    rowid: 0,
    time_ms: 0,
    conversation: 0,
    flags: 0,
};

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(r: &mut impl Read) -> std::io::Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let mut b = [0u8; 1];
        r.read_exact(&mut b)?;
        v |= u64::from(b[0] & 0x7f) << shift;
        if b[0] & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "a bad record",
    ))
}

/// A row the reader skipped, as the index writer takes it: the index row to claim and
/// what the summary counts of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnchangedRow {
    pub row: SourceRow,
    pub rowid: i64,
    pub time_ms: i64,
    /// Its conversation's number in the remembered rows' table (which the writer got
    /// with [`RowsSink::begin_rows`]): no name, and no reference count shared by two
    /// threads, goes with each of a million rows.
    pub conversation: u32,
    pub flags: u8,
}

/// The conversations of remembered rows, by their number there.
pub(crate) type Conversations = Arc<[Arc<str>]>;

/// The fixed part of the file's footer.
struct Footer {
    tree: [u8; 32],
    context: [u8; 32],
    key: [u8; 16],
    records: u64,
    records_len: u64,
    table_len: u64,
}

impl Footer {
    /// The footer's bytes before its sum.
    fn head(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(FOOTER);
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&self.tree);
        b.extend_from_slice(&self.context);
        b.extend_from_slice(&self.key);
        b.extend_from_slice(&self.records.to_le_bytes());
        b.extend_from_slice(&self.records_len.to_le_bytes());
        b.extend_from_slice(&self.table_len.to_le_bytes());
        b
    }

    fn parse(b: &[u8; FOOTER]) -> Option<(Footer, [u8; 32])> {
        if &b[..8] != MAGIC {
            return None;
        }
        let arr32 = |i: usize| -> [u8; 32] { b[i..i + 32].try_into().unwrap_or_default() };
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or_default());
        let footer = Footer {
            tree: arr32(8),
            context: arr32(40),
            key: b[72..88].try_into().unwrap_or_default(),
            records: u64_at(88),
            records_len: u64_at(96),
            table_len: u64_at(104),
        };
        Some((footer, arr32(112)))
    }
}

/// The BLAKE3 sum of a file's records as they pass: gathered 16 KiB at a time, which BLAKE3
/// hashes many blocks at once, instead of one 37-byte record a call (the same sum).
struct RecordsSum {
    hasher: blake3::Hasher,
    gathered: Vec<u8>,
}

impl RecordsSum {
    const GATHER: usize = 16 * 1024;

    fn new() -> Self {
        RecordsSum {
            hasher: blake3::Hasher::new(),
            gathered: Vec::with_capacity(Self::GATHER),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        if self.gathered.len() + bytes.len() > Self::GATHER {
            self.hasher.update(&self.gathered);
            self.gathered.clear();
        }
        self.gathered.extend_from_slice(bytes);
    }

    /// The hasher, every record in it, for what follows them.
    fn into_hasher(mut self) -> blake3::Hasher {
        self.hasher.update(&self.gathered);
        self.hasher
    }
}

/// The rows the last backup remembered, read in key order as the reader asks.
pub(crate) struct RememberedRows {
    records: BufReader<std::io::Take<File>>,
    left: u64,
    conversations: Conversations,
    footer: Footer,
    sum: [u8; 32],
    hasher: RecordsSum,
    table: Vec<u8>,
    /// The next record not yet passed.
    next: Option<RowRecord>,
    /// The record before it.
    prev: RowRecord,
    /// A record could not be read: nothing more is skipped, and the read is redone.
    broken: bool,
}

impl RememberedRows {
    /// The rows remembered in `path` for the chat index stored as tree `index_tree`, if
    /// there are any.
    pub(crate) fn open(path: &Path, index_tree: &Id) -> Option<RememberedRows> {
        match Self::try_open(path, index_tree) {
            Ok(rows) => rows,
            Err(e) => {
                log::warn!(
                    "the rows remembered in {} are not used: {e}",
                    path.display()
                );
                None
            }
        }
    }

    fn try_open(path: &Path, index_tree: &Id) -> std::io::Result<Option<RememberedRows>> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
        if len < FOOTER as u64 {
            return Err(bad("too short"));
        }
        let mut raw = [0u8; FOOTER];
        file.seek(SeekFrom::Start(len - FOOTER as u64))?;
        file.read_exact(&mut raw)?;
        let (footer, sum) = Footer::parse(&raw).ok_or_else(|| bad("not a rows file"))?;
        if footer.tree != index_tree.0 {
            log::debug!("the rows remembered are another chat index's");
            return Ok(None);
        }
        let sizes_fit = footer.table_len <= MAX_TABLE
            && footer
                .records_len
                .checked_add(footer.table_len)
                .and_then(|n| n.checked_add(FOOTER as u64))
                == Some(len);
        if !sizes_fit {
            return Err(bad("its sizes do not add up"));
        }
        let mut table = vec![0u8; footer.table_len as usize];
        file.seek(SeekFrom::Start(footer.records_len))?;
        file.read_exact(&mut table)?;
        let mut conversations = Vec::new();
        let mut rest = table.as_slice();
        while !rest.is_empty() {
            let (n, tail) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| bad("a damaged conversations table"))?;
            let n = u32::from_le_bytes(*n) as usize;
            if tail.len() < n {
                return Err(bad("a damaged conversations table"));
            }
            let name = std::str::from_utf8(&tail[..n]).map_err(|_| bad("a damaged name"))?;
            conversations.push(Arc::from(name));
            rest = &tail[n..];
        }
        file.seek(SeekFrom::Start(0))?;
        let records = BufReader::with_capacity(64 * 1024, file.take(footer.records_len));
        let mut rows = RememberedRows {
            records,
            left: footer.records,
            conversations: conversations.into(),
            footer,
            sum,
            hasher: RecordsSum::new(),
            table,
            next: None,
            prev: NO_RECORD,
            broken: false,
        };
        rows.advance();
        Ok(Some(rows))
    }

    /// The context the rows were read under.
    pub(crate) fn context(&self) -> &[u8; 32] {
        &self.footer.context
    }

    /// The hasher key their fingerprints were taken with.
    pub(crate) fn key(&self) -> [u8; 16] {
        self.footer.key
    }

    fn advance(&mut self) {
        self.next = None;
        if self.left == 0 || self.broken {
            return;
        }
        match RowRecord::load(&self.prev, &mut self.records) {
            Ok(r) => {
                self.left -= 1;
                self.hasher.update(&r.encode());
                self.prev = r;
                self.next = Some(r);
            }
            Err(e) => {
                log::warn!("the rows remembered could not be read: {e}");
                self.broken = true;
            }
        }
    }

    /// The record of `key`, passing those before it; keys are asked in increasing order.
    pub(crate) fn find(&mut self, key: i64) -> Option<RowRecord> {
        while let Some(r) = self.next {
            if r.row.key >= key {
                return (r.row.key == key).then_some(r);
            }
            self.advance();
        }
        None
    }

    /// The conversations of the rows, by their number.
    pub(crate) fn conversations(&self) -> Conversations {
        self.conversations.clone()
    }

    /// Reads what is left and checks the sum: whether every record used was as written.
    pub(crate) fn verified(mut self) -> bool {
        while self.next.is_some() {
            self.advance();
        }
        // Nothing may follow the last record.
        if self.broken || self.records.fill_buf().map_or(true, |b| !b.is_empty()) {
            return false;
        }
        let mut hasher = self.hasher.into_hasher();
        hasher.update(&self.table);
        hasher.update(&self.footer.head());
        *hasher.finalize().as_bytes() == self.sum
    }
}

/// The rows a backup reads, recorded as the index writer places their messages (written
/// next to the index, kept once the snapshot is stored: [`RecordedRows::keep`]).
pub(crate) struct RowsRecorder {
    path: PathBuf,
    out: BufWriter<File>,
    hasher: RecordsSum,
    records: u64,
    last_key: Option<i64>,
    prev: RowRecord,
    buf: Vec<u8>,
    conversations: HashMap<String, u32>,
    /// The numbers here of the remembered rows' conversations, by their number there
    /// ([`u32::MAX`]: not asked yet): a row skipped unread finds its own without a lookup.
    from_remembered: Vec<u32>,
    table: Vec<u8>,
    context: [u8; 32],
    key: [u8; 16],
}

impl RowsRecorder {
    /// Starts recording into `path` the rows read under `context`, fingerprinted with `key`.
    pub(crate) fn create(path: &Path, context: [u8; 32], key: [u8; 16]) -> Result<RowsRecorder> {
        let io = |e| Error::io("create", path, e);
        let file = private_file(path).map_err(io)?;
        Ok(RowsRecorder {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(64 * 1024, file),
            hasher: RecordsSum::new(),
            records: 0,
            last_key: None,
            prev: NO_RECORD,
            buf: Vec::with_capacity(32),
            conversations: HashMap::new(),
            from_remembered: Vec::new(),
            table: Vec::new(),
            context,
            key,
        })
    }

    /// The number `conversation` has in this file.
    pub(crate) fn conversation(&mut self, conversation: &str) -> u32 {
        if let Some(&i) = self.conversations.get(conversation) {
            return i;
        }
        let i = self.conversations.len() as u32;
        self.table
            .extend_from_slice(&(conversation.len() as u32).to_le_bytes());
        self.table.extend_from_slice(conversation.as_bytes());
        self.conversations.insert(conversation.to_string(), i);
        i
    }

    /// The number here of `conversation`, number `at` in the remembered rows.
    pub(crate) fn remembered_conversation(&mut self, at: u32, conversation: &str) -> u32 {
        let at = at as usize;
        match self.from_remembered.get(at) {
            Some(&i) if i != u32::MAX => i,
            _ => {
                let i = self.conversation(conversation);
                // The remembered table holds each of the export's conversations once.
                if at < 1 << 20 {
                    if self.from_remembered.len() <= at {
                        self.from_remembered.resize(at + 1, u32::MAX);
                    }
                    self.from_remembered[at] = i;
                }
                i
            }
        }
    }

    /// Records a row; one out of key order (placed late) is left out: the next backup
    /// reads it.
    pub(crate) fn push(&mut self, record: RowRecord) -> Result<()> {
        if self.last_key.is_some_and(|k| k >= record.row.key) {
            return Ok(());
        }
        self.last_key = Some(record.row.key);
        self.hasher.update(&record.encode());
        self.records += 1;
        self.buf.clear();
        record.store(&self.prev, &mut self.buf);
        self.prev = record;
        self.out
            .write_all(&self.buf)
            .map_err(|e| Error::io("write", &self.path, e))
    }

    /// Ends the records; the footer waits for the stored index's tree id.
    pub(crate) fn finish(self) -> Result<RecordedRows> {
        let io = |e| Error::io("write", &self.path, e);
        let mut file = self.out.into_inner().map_err(|e| io(e.into_error()))?;
        let records_len = file.stream_position().map_err(io)?;
        file.write_all(&self.table).map_err(io)?;
        let mut hasher = self.hasher.into_hasher();
        hasher.update(&self.table);
        Ok(RecordedRows {
            path: self.path,
            file,
            hasher,
            footer: Footer {
                tree: [0; 32],
                context: self.context,
                key: self.key,
                records: self.records,
                records_len,
                table_len: self.table.len() as u64,
            },
        })
    }
}

/// Rows recorded by a backup whose chat index is not stored yet.
pub(crate) struct RecordedRows {
    path: PathBuf,
    file: File,
    hasher: blake3::Hasher,
    footer: Footer,
}

impl RecordedRows {
    /// Seals the rows as those of the chat index stored as tree `index_tree` and moves
    /// them to `to` (0600), replacing what was there; a failure is logged (the next backup
    /// reads every row).
    pub(crate) fn keep(mut self, index_tree: &Id, to: &Path) {
        self.footer.tree = index_tree.0;
        let head = self.footer.head();
        self.hasher.update(&head);
        let sealed = self
            .file
            .write_all(&head)
            .and_then(|()| self.file.write_all(self.hasher.finalize().as_bytes()))
            .and_then(|()| self.file.sync_all());
        let kept = sealed.and_then(|()| match fs::rename(&self.path, to) {
            Ok(()) => Ok(()),
            // Another file system: copied beside the target, then renamed over it.
            Err(_) => {
                let name = to.file_name().map(|n| n.to_string_lossy().into_owned());
                let beside = to.with_file_name(format!(".keeping-{}", name.unwrap_or_default()));
                let copied = fs::copy(&self.path, &beside)
                    .and_then(|_| fs::rename(&beside, to))
                    .inspect_err(|_| {
                        let _ = fs::remove_file(&beside);
                    });
                let _ = fs::remove_file(&self.path);
                copied
            }
        });
        if let Err(e) = kept {
            log::warn!("cannot keep the rows read in {}: {e}", to.display());
            let _ = fs::remove_file(to);
        }
    }
}

/// A new file only its owner can read.
fn private_file(path: &Path) -> std::io::Result<File> {
    let mut o = fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// What the index writer's side of a hand-over takes besides a [`ChatSink`]'s records.
pub(crate) trait RowsSink: ChatSink {
    /// The reader fingerprints rows under `context` with `key`: record them. Rows skipped
    /// name their conversation by its number in `remembered`.
    fn begin_rows(
        &mut self,
        context: [u8; 32],
        key: [u8; 16],
        remembered: Conversations,
    ) -> Result<()>;
    /// A row's message, as read.
    fn row_message(&mut self, message: Message, row: ReadRow) -> Result<()>;
    /// A row skipped, unchanged.
    fn unchanged(&mut self, row: UnchangedRow) -> Result<()>;
}

/// A [`ChatSink`] that skips the rows remembered unchanged (see the module's description)
/// and passes everything else on.
pub(crate) struct Remembering<S: RowsSink> {
    pub(crate) inner: S,
    previous: Option<RememberedRows>,
    /// Rows are remembered for the next backup.
    enabled: bool,
    /// Rows may be skipped (the reader's context is the one remembered).
    skipping: bool,
    last_key: Option<i64>,
    /// The row whose message comes next.
    pending: Option<ReadRow>,
    /// Rows skipped.
    skipped: u64,
}

impl<S: RowsSink> Remembering<S> {
    /// Passes records on to `inner`, skipping the rows `previous` remembers unchanged;
    /// `None`: nothing is remembered for the next backup either.
    pub(crate) fn new(inner: S, previous: Option<Option<RememberedRows>>) -> Self {
        Remembering {
            inner,
            enabled: previous.is_some(),
            previous: previous.flatten(),
            skipping: false,
            last_key: None,
            pending: None,
            skipped: 0,
        }
    }

    /// How many rows were skipped, and whether every record used was as written (a
    /// damaged file's skips must be redone).
    pub(crate) fn finish(self) -> (S, u64, bool) {
        let sound = match self.previous {
            Some(p) if self.skipped > 0 => p.verified(),
            _ => true,
        };
        (self.inner, self.skipped, sound)
    }
}

impl<S: RowsSink> ChatSink for Remembering<S> {
    fn account(&mut self, account: &Account) -> Result<()> {
        self.inner.account(account)
    }
    fn contact(&mut self, contact: &Contact) -> Result<()> {
        self.inner.contact(contact)
    }
    fn conversation(&mut self, conversation: &Conversation) -> Result<()> {
        self.inner.conversation(conversation)
    }
    fn message(&mut self, message: Message) -> Result<()> {
        match self.pending.take() {
            Some(row) => self.inner.row_message(message, row),
            None => self.inner.message(message),
        }
    }
    fn warning(&mut self, warning: String) {
        self.inner.warning(warning)
    }
    fn media_key(&mut self, path: &str, key: &MediaKey) -> Result<()> {
        self.inner.media_key(path, key)
    }

    fn source_rows(&mut self, context: &[u8]) -> Option<RowHasher> {
        if !self.enabled {
            return None;
        }
        let context = *blake3::hash(context).as_bytes();
        let (key, remembered) = match &self.previous {
            Some(p) if p.context() == &context => {
                self.skipping = true;
                (p.key(), p.conversations())
            }
            _ => {
                self.previous = None;
                (rand::random(), Arc::from([]))
            }
        };
        self.inner.begin_rows(context, key, remembered).ok()?;
        Some(RowHasher::new(key))
    }

    fn source_row(&mut self, key: i64, fingerprint: u64) -> Result<bool> {
        let in_order = self.last_key.is_none_or(|k| k < key);
        self.last_key = Some(key);
        let row = SourceRow { key, fingerprint };
        self.pending = Some(ReadRow {
            row,
            remembered_at: None,
        });
        if !in_order {
            // A reader out of key order: nothing more is skipped.
            self.skipping = false;
        }
        if !self.skipping {
            return Ok(false);
        }
        let Some(p) = self.previous.as_mut() else {
            return Ok(false);
        };
        let Some(r) = p.find(key) else {
            return Ok(false);
        };
        self.pending = Some(ReadRow {
            row,
            remembered_at: Some(r.rowid),
        });
        if r.conversation as usize >= p.conversations.len() {
            return Ok(false);
        }
        if r.row.fingerprint != fingerprint || r.flags & SKIPPABLE == 0 {
            return Ok(false);
        }
        self.pending = None;
        self.skipped += 1;
        self.inner.unchanged(UnchangedRow {
            row,
            rowid: r.rowid,
            time_ms: r.time_ms,
            conversation: r.conversation,
            flags: r.flags,
        })?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: i64, rowid: i64, conversation: u32) -> RowRecord {
        RowRecord {
            row: SourceRow {
                key,
                fingerprint: (key as u64).wrapping_mul(7919),
            },
            rowid,
            time_ms: key.wrapping_mul(1000),
            conversation,
            flags: SKIPPABLE | UTC,
        }
    }

    fn recorded(dir: &Path, snapshot: &Id, keys: &[i64]) -> PathBuf {
        let mut w = RowsRecorder::create(&dir.join("rows.partial"), [7; 32], [9; 16]).unwrap();
        for (i, &k) in keys.iter().enumerate() {
            let c = w.conversation(if k % 2 == 0 { "even" } else { "odd" });
            w.push(record(k, i as i64 + 1, c)).unwrap();
        }
        let to = dir.join("kept.rows");
        w.finish().unwrap().keep(snapshot, &to);
        to
    }

    /// Rows come back by key, in order, for their chat index only; a record out of order is
    /// left out; the file is private.
    #[test]
    fn rows_are_remembered_for_their_index() {
        let dir = tempfile::tempdir().unwrap();
        let snap = Id([3; 32]);
        let path = recorded(dir.path(), &snap, &[2, 5, 4, 9, 10]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(RememberedRows::open(&path, &Id([4; 32])).is_none());
        let mut rows = RememberedRows::open(&path, &snap).unwrap();
        assert_eq!(rows.context(), &[7; 32]);
        assert_eq!(rows.key(), [9; 16]);
        assert_eq!(rows.find(1), None);
        let two = rows.find(2).unwrap();
        assert_eq!(two, record(2, 1, 0));
        let names = rows.conversations();
        assert_eq!(
            names.get(two.conversation as usize).map(|n| &**n),
            Some("even")
        );
        assert_eq!(rows.find(4), None, "4 came after 5: left out");
        let nine = rows.find(9).unwrap();
        assert_eq!(nine.rowid, 4);
        assert_eq!(
            names.get(nine.conversation as usize).map(|n| &**n),
            Some("odd")
        );
        assert!(rows.verified());
        assert!(RememberedRows::open(&dir.path().join("none"), &snap).is_none());
    }

    /// Whatever becomes of the file's bytes (any byte changed, bytes cut off or added),
    /// reading it never panics, and a file read to its end that differs from the one
    /// written is never taken as sound.
    #[test]
    fn damage_anywhere_is_never_taken_as_sound() {
        let dir = tempfile::tempdir().unwrap();
        let snap = Id([3; 32]);
        let keys: Vec<i64> = (1..300).map(|k| k * 3).collect();
        let path = recorded(dir.path(), &snap, &keys);
        let good = fs::read(&path).unwrap();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..3000 {
            let mut bad = good.clone();
            match round % 3 {
                0 => {
                    let at = next() as usize % bad.len();
                    bad[at] ^= 1 << (next() % 8);
                }
                1 => bad.truncate(next() as usize % bad.len()),
                _ => {
                    let at = next() as usize % bad.len();
                    bad.insert(at, next() as u8);
                }
            }
            fs::write(&path, &bad).unwrap();
            let Some(mut rows) = RememberedRows::open(&path, &snap) else {
                continue;
            };
            for k in 0..1000 {
                rows.find(k);
            }
            assert!(
                !rows.verified(),
                "round {round}: a damaged file taken as sound"
            );
        }
    }

    /// Values far apart (differences that overflow, going back) come back as they were.
    #[test]
    fn extreme_values_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let snap = Id([5; 32]);
        let records = [
            RowRecord {
                row: SourceRow {
                    key: i64::MIN,
                    fingerprint: u64::MAX,
                },
                rowid: i64::MAX,
                time_ms: i64::MIN,
                conversation: u32::MAX,
                flags: 0xff,
            },
            RowRecord {
                row: SourceRow {
                    key: -1,
                    fingerprint: 0,
                },
                rowid: 1,
                time_ms: i64::MAX,
                conversation: 0,
                flags: 0,
            },
            record(i64::MAX, -5, 3),
        ];
        let mut w = RowsRecorder::create(&dir.path().join("p"), [1; 32], [2; 16]).unwrap();
        for r in records {
            w.push(r).unwrap();
        }
        let to = dir.path().join("k");
        w.finish().unwrap().keep(&snap, &to);
        let mut rows = RememberedRows::open(&to, &snap).unwrap();
        for r in records {
            assert_eq!(rows.find(r.row.key), Some(r));
        }
        assert!(rows.verified());
    }

    /// A byte changed anywhere is found: in the records (once read), in the table, in the
    /// footer; a file cut short is not opened.
    #[test]
    fn a_damaged_file_is_found_out() {
        let dir = tempfile::tempdir().unwrap();
        let snap = Id([3; 32]);
        let keys: Vec<i64> = (1..5000).collect();
        let path = recorded(dir.path(), &snap, &keys);
        let good = fs::read(&path).unwrap();
        let len = good.len();
        // The records, the table, the footer's counts.
        for at in [10, len - FOOTER - 3, len - FOOTER + 90] {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            fs::write(&path, &bad).unwrap();
            let sound = match RememberedRows::open(&path, &snap) {
                None => false,
                Some(mut rows) => {
                    rows.find(4000);
                    rows.verified()
                }
            };
            assert!(!sound, "damage at {at} of {len} went unnoticed");
        }
        fs::write(&path, &good[..len - 1]).unwrap();
        assert!(RememberedRows::open(&path, &snap).is_none());
    }
}
