//! The messages a chat index already holds, found by identity, so a backup can resume the
//! parent snapshot's index instead of writing every message again.
//!
//! Identity is the conversation and the reader's message id (the app's own: WeChat's
//! msgId, WhatsApp's key id, Telegram's id); of equal ones, the n-th met in this export is
//! the n-th the index holds.
//!
//! Nothing is read up front. An export streams its messages in the order it did last time,
//! so most messages are the row after one matched before: a few cursors walk the index's
//! rows in row order (the old rows, and the rows earlier backups appended, which the export
//! streams in between), reading a few hundred rows at a time, and a message that is the
//! next row of one of them is matched there, by comparing the stored values themselves
//! (no hash is taken of either side). A message that is the next row of none (new,
//! or streamed out of order) waits; once the stream is over (or too many wait), the rows
//! not matched yet are put in a [`disk_table`](crate::repo::disk_table) table sorted by
//! identity, and the waiting messages are looked up there. Each such row is one 41-byte
//! record, in an unlinked temporary file, so memory stays flat however many messages there
//! are (one bit per row marks those the export still has):
//!
//! ```text
//! key:   BLAKE3(conversation ‖ 0 ‖ id)[..24] ‖ rowid u64 BE   (equal identities adjacent,
//!                                                              in row order)
//! value: content hash u64 LE ‖ flags u8 (GONE, MEDIA_PRESENT)
//! ```

use std::path::{Path, PathBuf};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};

use crate::error::{Error, Result};
use crate::repo::disk_table::{Table, TableBuilder, KEY};

const RECORD: usize = KEY + 8 + 1;
/// Rows sorted in memory at a time (2.6 MiB).
const BATCH: usize = 64 * 1024;

/// The row was already marked "no longer on the phone".
pub(crate) const GONE: u8 = 1;
/// The row's media file was stored.
pub(crate) const MEDIA_PRESENT: u8 = 2;

/// The columns a message's content is, in the order [`content_hash`] takes them (the
/// order `INSERT_MESSAGE` binds them, after the rowid).
pub(crate) const CONTENT_COLUMNS: &str = "conversation, id, server_id, sender, sender_name, \
    from_me, time_ms, utc, kind, text, reply_to, quote, media_path, media_kind, media_present, \
    thumbnail, raw, edited, details";
/// How many there are.
pub(crate) const CONTENT_COUNT: usize = 19;

/// A message's stored values, type and bytes of each, one after the other: the same
/// whether taken from the values bound to insert it ([`Content::is_bound`]) or from the
/// row read back. Each value carries its length, so equal encodings are equal values, and
/// the first two (conversation, id) are a prefix of their own ([`has_identity`]).
fn content_encoding<'a>(values: impl IntoIterator<Item = ValueRef<'a>>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    for v in values {
        encode_value(&mut buf, v);
    }
    buf
}

/// The encoding of the values as they are bound, into `sink`.
fn encode_bound(values: &[&dyn ToSql], sink: &mut impl Sink) -> rusqlite::Result<()> {
    for v in values {
        match v.to_sql()? {
            ToSqlOutput::Borrowed(r) => encode_value(sink, r),
            ToSqlOutput::Owned(o) => encode_value(sink, (&o).into()),
            _ => encode_value(sink, ValueRef::Null),
        }
    }
    Ok(())
}

/// [`content_encoding`] of the values as they are bound.
#[cfg(test)]
pub(crate) fn bound_encoding(values: &[&dyn ToSql]) -> rusqlite::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(256);
    encode_bound(values, &mut buf)?;
    Ok(buf)
}

/// Whether `encoded` is the encoding of a message with this conversation and id.
fn has_identity(encoded: &[u8], conversation: &str, id: &str) -> bool {
    let mut c = Compare {
        rest: encoded,
        same: true,
    };
    encode_value(&mut c, ValueRef::Text(conversation.as_bytes()));
    encode_value(&mut c, ValueRef::Text(id.as_bytes()));
    c.same
}

/// A stored message's content as a match carries it: its encoding when a cursor read the
/// row (compared byte for byte), or a hash of it when the row came from the table of rows
/// not matched (41 bytes a row on disk: a hash, not the values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Content {
    Encoded(Vec<u8>),
    Hash(u64),
}

impl Content {
    /// Whether the values as they are bound are this content: compared as they are
    /// encoded, nothing copied (this runs for every message of every backup).
    pub(crate) fn is_bound(&self, values: &[&dyn ToSql]) -> rusqlite::Result<bool> {
        match self {
            Content::Encoded(e) => {
                let mut c = Compare {
                    rest: e,
                    same: true,
                };
                encode_bound(values, &mut c)?;
                Ok(c.same && c.rest.is_empty())
            }
            Content::Hash(h) => {
                let mut hasher = blake3::Hasher::new();
                encode_bound(values, &mut hasher)?;
                Ok(first_u64(hasher.finalize().as_bytes()) == *h)
            }
        }
    }
}

/// Where an encoding goes: a buffer, a hash, or a comparison.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for blake3::Hasher {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

/// Compares what is put, in order, with an encoding.
struct Compare<'a> {
    rest: &'a [u8],
    same: bool,
}

impl Sink for Compare<'_> {
    fn put(&mut self, bytes: &[u8]) {
        match self.rest.strip_prefix(bytes) {
            Some(rest) if self.same => self.rest = rest,
            _ => self.same = false,
        }
    }
}

/// Appends a value, type and bytes, to an encoding.
fn encode_value(sink: &mut impl Sink, v: ValueRef<'_>) {
    match v {
        ValueRef::Null => sink.put(&[0]),
        ValueRef::Integer(i) => {
            sink.put(&[1]);
            sink.put(&i.to_le_bytes());
        }
        ValueRef::Real(f) => {
            sink.put(&[2]);
            sink.put(&f.to_bits().to_le_bytes());
        }
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            sink.put(&[if matches!(v, ValueRef::Text(_)) { 3 } else { 4 }]);
            sink.put(&(t.len() as u64).to_le_bytes());
            sink.put(t);
        }
    }
}

fn first_u64(bytes: &[u8; 32]) -> u64 {
    let mut out = [0u8; 8];
    out.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(out)
}

fn hash(buf: &[u8]) -> u64 {
    first_u64(blake3::hash(buf).as_bytes())
}

fn identity(conversation: &str, id: &str) -> [u8; 24] {
    identity_bytes(conversation.as_bytes(), id.as_bytes())
}

fn identity_bytes(conversation: &[u8], id: &[u8]) -> [u8; 24] {
    let mut h = blake3::Hasher::new();
    h.update(conversation).update(&[0]).update(id);
    let mut out = [0u8; 24];
    out.copy_from_slice(&h.finalize().as_bytes()[..24]);
    out
}

/// A row of the index that a message of the export matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KnownRow {
    pub rowid: i64,
    pub content: Content,
    pub flags: u8,
}

/// A row as the cursors read it.
struct Row {
    rowid: i64,
    flags: u8,
    /// [`content_encoding`]; taken (left empty) when the row is matched.
    encoded: Vec<u8>,
}

/// The rows `filter` selects (a `WHERE` clause), with their identity and content, as
/// [`read_row`] reads them: `rowid, gone_since, <content>`.
fn select_rows(filter: &str) -> String {
    format!("SELECT rowid, gone_since, {CONTENT_COLUMNS} FROM messages {filter}")
}

/// Reads a row of [`select_rows`].
fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let rowid: i64 = r.get(0)?;
    let gone = !matches!(r.get_ref(1)?, ValueRef::Null);
    let values = content_values(r)?;
    let media_present = matches!(values[14], ValueRef::Integer(1));
    Ok(Row {
        rowid,
        flags: if gone { GONE } else { 0 } | if media_present { MEDIA_PRESENT } else { 0 },
        encoded: content_encoding(values),
    })
}

/// The content values of a row of [`select_rows`].
fn content_values<'r>(r: &'r rusqlite::Row<'_>) -> rusqlite::Result<[ValueRef<'r>; CONTENT_COUNT]> {
    let mut values = [ValueRef::Null; CONTENT_COUNT];
    for (i, v) in values.iter_mut().enumerate() {
        *v = r.get_ref(2 + i)?;
    }
    Ok(values)
}

/// The identity of a row of [`select_rows`], its conversation and id taken as the writer
/// binds them: text (a number only in an index made otherwise).
fn row_identity(r: &rusqlite::Row<'_>) -> rusqlite::Result<[u8; 24]> {
    let bytes = |v: ValueRef<'_>| -> Vec<u8> {
        match v {
            ValueRef::Text(t) | ValueRef::Blob(t) => t.to_vec(),
            ValueRef::Integer(n) => n.to_string().into_bytes(),
            ValueRef::Real(f) => f.to_string().into_bytes(),
            ValueRef::Null => Vec::new(),
        }
    };
    Ok(match (r.get_ref(2)?, r.get_ref(3)?) {
        (ValueRef::Text(c), ValueRef::Text(i)) => identity_bytes(c, i),
        (c, i) => identity_bytes(&bytes(c), &bytes(i)),
    })
}

/// The rows of an index, by identity, and which of them the export still has (see the
/// module's description).
pub(crate) struct Known {
    claimed: Vec<u64>,
    /// Rows matched so far.
    claimed_count: u64,
    max_rowid: i64,
    /// Most recently matching first.
    cursors: Vec<Cursor>,
    /// The rows not matched when it was made, by identity ([`Known::index_unclaimed`]).
    table: Option<Table>,
    work_dir: Option<PathBuf>,
}

/// Cursors over the rows in row order.
const CURSORS: usize = 4;
/// Rows a cursor reads at a time, at most.
const CURSOR_ROWS: i64 = 256;
/// Bytes of content a cursor holds, at most (past the first row): memory stays bounded
/// when messages are large.
const CURSOR_BYTES: usize = 1 << 20;

/// A position in the rows and the rows read from there.
struct Cursor {
    /// The rowid to try next.
    next: i64,
    /// Rows read, in row order, from rowid `from` on.
    from: i64,
    rows: Vec<Row>,
    /// No row is beyond the last of `rows`.
    complete: bool,
}

impl Cursor {
    fn at(next: i64) -> Cursor {
        Cursor {
            next,
            from: 0,
            rows: Vec::new(),
            complete: false,
        }
    }
}

fn sqlite(e: rusqlite::Error) -> Error {
    Error::sqlite("chat index", None, e)
}

impl Known {
    /// The rows of `conn`'s index (nothing is read yet); temporary files go to `work_dir`.
    pub(crate) fn open(conn: &Connection, work_dir: Option<&Path>) -> Result<Known> {
        let max_rowid: i64 = conn
            .query_row("SELECT coalesce(max(rowid), 0) FROM messages", [], |r| {
                r.get(0)
            })
            .map_err(sqlite)?;
        if max_rowid < 0 {
            return Err(Error::corrupt("chat index", "negative message rowid"));
        }
        let bits = usize::try_from(max_rowid as u64 / 64 + 1).unwrap_or(usize::MAX);
        Ok(Known {
            claimed: vec![0; bits],
            claimed_count: 0,
            max_rowid,
            cursors: vec![Cursor::at(1)],
            table: None,
            work_dir: work_dir.map(Path::to_path_buf),
        })
    }

    /// The largest rowid the index holds (new rows go after it).
    pub(crate) fn max_rowid(&self) -> i64 {
        self.max_rowid
    }

    /// Whether the rows not matched are in the table: a message no cursor matches is then
    /// not in the index (before that, it may be a row out of the cursors' order).
    pub(crate) fn indexed(&self) -> bool {
        self.table.is_some()
    }

    fn mark(&mut self, rowid: i64) {
        let r = rowid.max(0) as u64;
        if let Some(w) = self.claimed.get_mut((r / 64) as usize) {
            if *w & (1 << (r % 64)) == 0 {
                self.claimed_count += 1;
            }
            *w |= 1 << (r % 64);
        }
    }

    fn is_claimed(&self, rowid: i64) -> bool {
        let r = rowid.max(0) as u64;
        self.claimed
            .get((r / 64) as usize)
            .is_some_and(|w| w & (1 << (r % 64)) != 0)
    }

    /// The position in cursor `c`'s rows of the first row at or after `rowid` (read when
    /// it has not): `None` past the last row.
    fn row_at(&mut self, conn: &Connection, c: usize, rowid: i64) -> Result<Option<usize>> {
        let cur = &mut self.cursors[c];
        let read_to = cur.rows.last().map_or(cur.from - 1, |r| r.rowid);
        if rowid < cur.from || (rowid > read_to && !cur.complete) || cur.from == 0 {
            if rowid > self.max_rowid {
                return Ok(None);
            }
            cur.rows.clear();
            cur.from = rowid;
            cur.complete = true;
            let mut st = conn
                .prepare_cached(&select_rows(
                    "WHERE rowid >= ?1 AND rowid <= ?2 ORDER BY rowid LIMIT ?3",
                ))
                .map_err(sqlite)?;
            let mut rows = st
                .query(rusqlite::params![rowid, self.max_rowid, CURSOR_ROWS])
                .map_err(sqlite)?;
            let mut bytes = 0;
            while let Some(r) = rows.next().map_err(sqlite)? {
                if bytes > CURSOR_BYTES {
                    cur.complete = false;
                    break;
                }
                let row = read_row(r).map_err(sqlite)?;
                bytes += row.encoded.len();
                cur.rows.push(row);
            }
            if cur.rows.len() == CURSOR_ROWS as usize {
                cur.complete = false;
            }
        }
        let i = cur.rows.partition_point(|r| r.rowid < rowid);
        Ok((i < cur.rows.len()).then_some(i))
    }

    /// The first row not matched yet after one of the cursors, if it is the message with
    /// this conversation and id: matched now, and that cursor goes first.
    fn claim_next(
        &mut self,
        conn: &Connection,
        conversation: &str,
        id: &str,
    ) -> Result<Option<KnownRow>> {
        for c in 0..self.cursors.len() {
            let mut rowid = self.cursors[c].next;
            loop {
                rowid = self.next_unclaimed(rowid);
                let Some(i) = self.row_at(conn, c, rowid)? else {
                    self.cursors[c].next = self.max_rowid + 1;
                    break;
                };
                let found = self.cursors[c].rows[i].rowid;
                if self.is_claimed(found) {
                    rowid = found + 1;
                    continue;
                }
                // Rows before this one were matched or are gone: this cursor starts here.
                self.cursors[c].next = found;
                let row = &mut self.cursors[c].rows[i];
                if !has_identity(&row.encoded, conversation, id) {
                    if row.flags & GONE != 0 {
                        // An archived row (its message deleted from the export) is not
                        // where the export goes on: the cursor passes it.
                        self.cursors[c].next = found + 1;
                        rowid = found + 1;
                        continue;
                    }
                    break;
                }
                let known = KnownRow {
                    rowid: found,
                    flags: row.flags,
                    content: Content::Encoded(std::mem::take(&mut row.encoded)),
                };
                self.mark(found);
                self.cursors[c].next = found + 1;
                let hit = self.cursors.remove(c);
                self.cursors.insert(0, hit);
                return Ok(Some(known));
            }
        }
        Ok(None)
    }

    /// The first rowid at or after `from` not matched yet (by the bits: a run of rows
    /// matched without being read is passed without reading it).
    fn next_unclaimed(&self, from: i64) -> i64 {
        let mut r = from.max(0) as u64;
        while let Some(&w) = self.claimed.get((r / 64) as usize) {
            let free = !w >> (r % 64);
            if free != 0 {
                return (r + u64::from(free.trailing_zeros())) as i64;
            }
            r = (r / 64 + 1) * 64;
        }
        r as i64
    }

    /// Row `rowid`, if it is the message with this conversation and id and not matched
    /// yet: matched now (read alone; where the last backup placed a row the reader read
    /// again, [`super::source_rows`]). The front cursor goes on after it.
    pub(crate) fn claim_at(
        &mut self,
        conn: &Connection,
        rowid: i64,
        conversation: &str,
        id: &str,
    ) -> Result<Option<KnownRow>> {
        if rowid < 1 || rowid > self.max_rowid || self.is_claimed(rowid) {
            return Ok(None);
        }
        let mut st = conn
            .prepare_cached(&select_rows("WHERE rowid = ?1"))
            .map_err(sqlite)?;
        let mut rows = st.query([rowid]).map_err(sqlite)?;
        let Some(r) = rows.next().map_err(sqlite)? else {
            return Ok(None);
        };
        let mut row = read_row(r).map_err(sqlite)?;
        if !has_identity(&row.encoded, conversation, id) {
            return Ok(None);
        }
        self.mark(rowid);
        self.cursors[0].next = rowid + 1;
        Ok(Some(KnownRow {
            rowid,
            flags: row.flags,
            content: Content::Encoded(std::mem::take(&mut row.encoded)),
        }))
    }

    /// Takes row `rowid` as the export's, unchanged, without reading it (a row the reader
    /// skipped, [`super::source_rows`]): whether it is a row of the index not taken yet.
    /// Cursors at it go on after it, so a run of skipped rows is never read.
    pub(crate) fn claim_unchanged(&mut self, rowid: i64) -> bool {
        if rowid < 1 || rowid > self.max_rowid || self.is_claimed(rowid) {
            return false;
        }
        self.mark(rowid);
        for c in &mut self.cursors {
            if c.next == rowid {
                c.next = rowid + 1;
            }
        }
        true
    }

    /// A cursor goes on after `rowid` (the least recently matching one, once there are
    /// enough).
    fn follow(&mut self, rowid: i64) {
        let cursor = if self.cursors.len() < CURSORS {
            Cursor::at(rowid + 1)
        } else {
            let mut c = self.cursors.pop().expect("cursors are never empty");
            c.next = rowid + 1;
            c
        };
        self.cursors.insert(0, cursor);
    }

    /// The row with this identity the export streams next, now marked as matched: the
    /// next row of a cursor, or once [`Known::index_unclaimed`] ran, the first such row
    /// not matched yet.
    pub(crate) fn claim(
        &mut self,
        conn: &Connection,
        conversation: &str,
        id: &str,
    ) -> Result<Option<KnownRow>> {
        if let Some(row) = self.claim_next(conn, conversation, id)? {
            return Ok(Some(row));
        }
        let Some(table) = &self.table else {
            return Ok(None);
        };
        let ident = identity(conversation, id);
        let mut probe = [0u8; KEY];
        probe[..24].copy_from_slice(&ident);
        let mut pos = table.lower_bound(&probe)?;
        let mut rec = [0u8; RECORD];
        while pos < table.len() {
            table.read(pos, &mut rec)?;
            if rec[..24] != ident {
                break;
            }
            let mut rowid = [0u8; 8];
            rowid.copy_from_slice(&rec[24..KEY]);
            let rowid = u64::from_be_bytes(rowid) as i64;
            if !self.is_claimed(rowid) {
                self.mark(rowid);
                // The export goes on from here, as it did last time.
                self.follow(rowid);
                let mut hash = [0u8; 8];
                hash.copy_from_slice(&rec[KEY..KEY + 8]);
                return Ok(Some(KnownRow {
                    rowid,
                    content: Content::Hash(u64::from_le_bytes(hash)),
                    flags: rec[KEY + 8],
                }));
            }
            pos += 1;
        }
        Ok(None)
    }

    /// Puts the rows not matched yet in the table, by identity: each read by its rowid when
    /// they are few, else in one pass over all rows.
    pub(crate) fn index_unclaimed(&mut self, conn: &Connection) -> Result<()> {
        let mut builder = TableBuilder::new(self.work_dir.as_deref(), RECORD, BATCH);
        let mut record = [0u8; RECORD];
        let mut push = |r: &rusqlite::Row<'_>| -> Result<()> {
            let row = read_row(r).map_err(sqlite)?;
            record[..24].copy_from_slice(&row_identity(r).map_err(sqlite)?);
            record[24..KEY].copy_from_slice(&(row.rowid as u64).to_be_bytes());
            record[KEY..KEY + 8].copy_from_slice(&hash(&row.encoded).to_le_bytes());
            record[KEY + 8] = row.flags;
            builder.push(&record)
        };
        let unclaimed = (self.max_rowid as u64).saturating_sub(self.claimed_count);
        if unclaimed.saturating_mul(8) < self.max_rowid as u64 {
            let mut st = conn
                .prepare_cached(&select_rows("WHERE rowid = ?1"))
                .map_err(sqlite)?;
            for rowid in self.unclaimed() {
                let mut rows = st.query([rowid]).map_err(sqlite)?;
                if let Some(r) = rows.next().map_err(sqlite)? {
                    push(r)?;
                }
            }
        } else {
            let mut st = conn
                .prepare(&select_rows("WHERE rowid <= ?1"))
                .map_err(sqlite)?;
            let mut rows = st.query([self.max_rowid]).map_err(sqlite)?;
            while let Some(r) = rows.next().map_err(sqlite)? {
                if !self.is_claimed(r.get(0).map_err(sqlite)?) {
                    push(r)?;
                }
            }
        }
        self.table = Some(builder.finish()?);
        Ok(())
    }

    /// Rowids (1..=max) no message of the export matched, in order; some may name no row
    /// (a purged message).
    pub(crate) fn unclaimed(&self) -> impl Iterator<Item = i64> + '_ {
        (1..=self.max_rowid).filter(|r| !self.is_claimed(*r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty `messages` table with the index's columns.
    fn messages_table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE messages(rowid INTEGER PRIMARY KEY, gone_since INTEGER,
               conversation TEXT, id TEXT, server_id TEXT, sender TEXT, sender_name TEXT,
               from_me INTEGER, time_ms INTEGER, utc INTEGER, kind TEXT, text TEXT,
               reply_to TEXT, quote TEXT, media_path TEXT, media_kind TEXT,
               media_present INTEGER, thumbnail TEXT, raw TEXT, edited INTEGER, details TEXT);",
        )
        .unwrap();
        conn
    }

    /// Values hash the same whether bound or read back; identities repeat in row order;
    /// rows in the order of last time match by the cursors, others once indexed.
    #[test]
    fn claims_rows_by_identity_in_order_and_lists_the_rest() {
        let conn = messages_table();
        // rowid, conversation, id, gone_since, media_present
        type Row<'a> = (i64, &'a str, &'a str, Option<i64>, Option<bool>);
        let rows: [Row; 5] = [
            (1, "c", "1", None, Some(true)),
            (2, "c", "2", Some(5), None),
            (3, "c", "1", None, None),
            (5, "d", "1", None, Some(false)),
            (7, "c", "3", None, None),
        ];
        for (rowid, c, id, gone, present) in rows {
            conn.execute(
                &format!("INSERT INTO messages(rowid, gone_since, {CONTENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, NULL, 'a', NULL, 0, 1700, 1, 'text', 'hi', NULL, NULL, NULL, NULL, ?5, NULL, NULL, 0, NULL)"),
                rusqlite::params![rowid, gone, c, id, present],
            )
            .unwrap();
        }
        let mut known = Known::open(&conn, None).unwrap();
        assert_eq!(known.max_rowid(), 7);
        // The values a message with this identity and media flag binds, handed to `f`.
        fn with_values<R>(
            c: &str,
            id: &str,
            present: Option<bool>,
            f: impl FnOnce(&[&dyn ToSql]) -> R,
        ) -> R {
            let values: [&dyn ToSql; CONTENT_COUNT] = [
                &c,
                &id,
                &None::<String>,
                &"a",
                &None::<String>,
                &false,
                &1700i64,
                &true,
                &"text",
                &"hi",
                &None::<String>,
                &None::<String>,
                &None::<String>,
                &None::<String>,
                &present,
                &None::<String>,
                &None::<String>,
                &false,
                &None::<String>,
            ];
            f(&values)
        }
        let expected = |c: &str, id: &str, present: Option<bool>| {
            with_values(c, id, present, |v| bound_encoding(v).unwrap())
        };
        let same = |content: &Content, c: &str, id: &str, present: Option<bool>| {
            with_values(c, id, present, |v| content.is_bound(v).unwrap())
        };
        let first = known.claim(&conn, "c", "1").unwrap().unwrap();
        assert_eq!(first.rowid, 1);
        // Read by a cursor: the values themselves, compared byte for byte.
        assert_eq!(
            first.content,
            Content::Encoded(expected("c", "1", Some(true)))
        );
        assert!(same(&first.content, "c", "1", Some(true)));
        assert!(!same(&first.content, "c", "1", None));
        assert!(!same(&first.content, "c", "10", Some(true)));
        assert_eq!(first.flags, MEDIA_PRESENT);
        // Row 2 is archived (its message gone from the export): the cursor passes it, and
        // c/1 again is the next row.
        let third = known.claim(&conn, "c", "1").unwrap().unwrap();
        assert_eq!(third.rowid, 3);
        assert!(matches!(third.content, Content::Encoded(_)));
        // c/3 (row 7) ahead of d/1 (row 5): out of the cursor's order, placed once indexed.
        assert_eq!(known.claim(&conn, "c", "3").unwrap(), None);
        assert!(!known.indexed());
        known.index_unclaimed(&conn).unwrap();
        // From the table: by their hash, which tells the values apart as well.
        let seventh = known.claim(&conn, "c", "3").unwrap().unwrap();
        assert_eq!(seventh.rowid, 7);
        assert!(matches!(seventh.content, Content::Hash(_)));
        assert!(same(&seventh.content, "c", "3", None));
        assert!(!same(&seventh.content, "c", "3", Some(true)));
        assert_eq!(known.claim(&conn, "c", "1").unwrap(), None);
        let gone = known.claim(&conn, "c", "2").unwrap().unwrap();
        assert_eq!((gone.rowid, gone.flags), (2, GONE));
        assert_eq!(known.claim(&conn, "e", "1").unwrap(), None);
        assert_eq!(known.unclaimed().collect::<Vec<_>>(), vec![4, 5, 6]);
        // A cursor followed row 2: the next row not matched (past the gap) matches without
        // a lookup.
        assert_eq!(known.claim(&conn, "d", "1").unwrap().unwrap().rowid, 5);

        // In row order, every row matches by the cursors alone.
        let mut known = Known::open(&conn, None).unwrap();
        for (c, id, rowid) in [
            ("c", "1", 1),
            ("c", "2", 2),
            ("c", "1", 3),
            ("d", "1", 5),
            ("c", "3", 7),
        ] {
            assert_eq!(known.claim(&conn, c, id).unwrap().unwrap().rowid, rowid);
        }
        assert!(!known.indexed());
        assert_eq!(known.unclaimed().collect::<Vec<_>>(), vec![4, 6]);
    }

    /// Rows taken unread (skipped by the reader) are passed by the cursors without being
    /// read; a row taken where it was remembered is read alone and checked to be the
    /// message; neither takes a row twice or one the index lacks.
    #[test]
    fn rows_taken_unread_or_where_remembered() {
        let conn = messages_table();
        for n in 1..=2000i64 {
            conn.execute(
                &format!("INSERT INTO messages(rowid, {CONTENT_COLUMNS}) VALUES (?1, 'c', ?1, NULL, 'a', NULL, 0, 1700, 1, 'text', 'hi', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL)"),
                [n],
            )
            .unwrap();
        }
        let mut known = Known::open(&conn, None).unwrap();
        for n in 1..=999 {
            assert!(known.claim_unchanged(n));
        }
        assert!(!known.claim_unchanged(5), "taken already");
        assert!(!known.claim_unchanged(0) && !known.claim_unchanged(2001));
        assert!(
            known.cursors.iter().all(|c| c.rows.is_empty()),
            "nothing read"
        );
        // The message of row 1000, by the cursor: only rows from there on are read.
        let row = known.claim(&conn, "c", "1000").unwrap().unwrap();
        assert_eq!(row.rowid, 1000);
        assert!(known
            .cursors
            .iter()
            .flat_map(|c| &c.rows)
            .all(|r| r.rowid >= 1000));
        // Where it was remembered: the row itself, if it is that message.
        assert_eq!(known.claim_at(&conn, 1500, "c", "1501").unwrap(), None);
        assert_eq!(
            known
                .claim_at(&conn, 1500, "c", "1500")
                .unwrap()
                .unwrap()
                .rowid,
            1500
        );
        assert_eq!(known.claim_at(&conn, 1500, "c", "1500").unwrap(), None);
        assert_eq!(known.claim_at(&conn, 9999, "c", "9999").unwrap(), None);
        assert_eq!(known.unclaimed().count(), 2000 - 999 - 2);
    }

    /// Large messages: a cursor holds about a megabyte of them at a time and reads on,
    /// so memory stays bounded and rows in order still match without a lookup.
    #[test]
    fn cursors_read_large_rows_a_few_at_a_time() {
        let conn = messages_table();
        let raw = |n: i64| format!("{n}").repeat(200_000);
        for n in 1..=12i64 {
            conn.execute(
                &format!("INSERT INTO messages(rowid, {CONTENT_COLUMNS}) VALUES (?1, 'c', ?1, NULL, 'a', NULL, 0, 1700, 1, 'text', 'hi', NULL, NULL, NULL, NULL, NULL, NULL, ?2, 0, NULL)"),
                rusqlite::params![n, raw(n)],
            )
            .unwrap();
        }
        let mut known = Known::open(&conn, None).unwrap();
        for n in 1..=12i64 {
            let row = known.claim(&conn, "c", &n.to_string()).unwrap().unwrap();
            assert_eq!(row.rowid, n);
            let held: usize = known
                .cursors
                .iter()
                .flat_map(|c| &c.rows)
                .map(|r| r.encoded.len())
                .sum();
            // A megabyte and the row that went past it (12 rows are 3 MB).
            assert!(held < CURSOR_BYTES + 500_000, "{held} bytes held");
            let Content::Encoded(e) = &row.content else {
                panic!("row {n} not read by a cursor")
            };
            let r = raw(n);
            assert!(e.windows(r.len()).any(|w| w == r.as_bytes()));
        }
        assert!(!known.indexed());
        assert_eq!(known.unclaimed().count(), 0);
    }
}
