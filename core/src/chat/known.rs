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
//! next row of one of them is matched there. A message that is the next row of none (new,
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

/// A hash of a message's stored values, type and bytes of each: the same whether taken
/// from the values bound to insert it ([`bound_hash`]) or from the row read back.
pub(crate) fn content_hash<'a>(values: impl IntoIterator<Item = ValueRef<'a>>) -> u64 {
    let mut buf = Vec::with_capacity(512);
    for v in values {
        encode_value(&mut buf, v);
    }
    finish(&buf)
}

/// [`content_hash`] of the values as they are bound (no copy of them is kept).
pub(crate) fn bound_hash(values: &[&dyn ToSql]) -> rusqlite::Result<u64> {
    let mut buf = Vec::with_capacity(512);
    for v in values {
        match v.to_sql()? {
            ToSqlOutput::Borrowed(r) => encode_value(&mut buf, r),
            ToSqlOutput::Owned(o) => encode_value(&mut buf, (&o).into()),
            _ => encode_value(&mut buf, ValueRef::Null),
        }
    }
    Ok(finish(&buf))
}

/// Appends a value, type and bytes, to what is hashed (hashed at once: BLAKE3 costs per
/// call, and a message is 19 small values).
fn encode_value(buf: &mut Vec<u8>, v: ValueRef<'_>) {
    match v {
        ValueRef::Null => buf.push(0),
        ValueRef::Integer(i) => {
            buf.push(1);
            buf.extend_from_slice(&i.to_le_bytes());
        }
        ValueRef::Real(f) => {
            buf.push(2);
            buf.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            buf.push(if matches!(v, ValueRef::Text(_)) { 3 } else { 4 });
            buf.extend_from_slice(&(t.len() as u64).to_le_bytes());
            buf.extend_from_slice(t);
        }
    }
}

fn finish(buf: &[u8]) -> u64 {
    let mut out = [0u8; 8];
    out.copy_from_slice(&blake3::hash(buf).as_bytes()[..8]);
    u64::from_le_bytes(out)
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KnownRow {
    pub rowid: i64,
    pub hash: u64,
    pub flags: u8,
}

/// A row as the cursors and the table hold it.
#[derive(Clone, Copy)]
struct Row {
    ident: [u8; 24],
    known: KnownRow,
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
    let mut values = [ValueRef::Null; CONTENT_COUNT];
    for (i, v) in values.iter_mut().enumerate() {
        *v = r.get_ref(2 + i)?;
    }
    // As the writer binds them: text (a number only in an index made otherwise).
    let bytes = |v: ValueRef<'_>| -> Vec<u8> {
        match v {
            ValueRef::Text(t) | ValueRef::Blob(t) => t.to_vec(),
            ValueRef::Integer(n) => n.to_string().into_bytes(),
            ValueRef::Real(f) => f.to_string().into_bytes(),
            ValueRef::Null => Vec::new(),
        }
    };
    let ident = match (values[0], values[1]) {
        (ValueRef::Text(c), ValueRef::Text(i)) => identity_bytes(c, i),
        (c, i) => identity_bytes(&bytes(c), &bytes(i)),
    };
    let media_present = matches!(values[14], ValueRef::Integer(1));
    Ok(Row {
        ident,
        known: KnownRow {
            rowid,
            hash: content_hash(values),
            flags: if gone { GONE } else { 0 } | if media_present { MEDIA_PRESENT } else { 0 },
        },
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
/// Rows a cursor reads at a time.
const CURSOR_ROWS: i64 = 256;

/// A position in the rows and the rows read from there.
struct Cursor {
    /// The rowid to try next.
    next: i64,
    /// Rows read, in row order, from rowid `from` on (none beyond the last of them when
    /// fewer than [`CURSOR_ROWS`] were read).
    from: i64,
    rows: Vec<Row>,
}

impl Cursor {
    fn at(next: i64) -> Cursor {
        Cursor {
            next,
            from: 0,
            rows: Vec::new(),
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

    /// The first row at or after `rowid` that cursor `c` has (read when it has not):
    /// `None` past the last row.
    fn row_at(&mut self, conn: &Connection, c: usize, rowid: i64) -> Result<Option<Row>> {
        let cur = &mut self.cursors[c];
        let read_to = cur.rows.last().map_or(cur.from - 1, |r| r.known.rowid);
        let complete = cur.rows.len() < CURSOR_ROWS as usize;
        if rowid < cur.from || (rowid > read_to && !complete) || cur.from == 0 {
            if rowid > self.max_rowid {
                return Ok(None);
            }
            cur.rows.clear();
            cur.from = rowid;
            let mut st = conn
                .prepare_cached(&select_rows(
                    "WHERE rowid >= ?1 AND rowid <= ?2 ORDER BY rowid LIMIT ?3",
                ))
                .map_err(sqlite)?;
            let mut rows = st
                .query(rusqlite::params![rowid, self.max_rowid, CURSOR_ROWS])
                .map_err(sqlite)?;
            while let Some(r) = rows.next().map_err(sqlite)? {
                cur.rows.push(read_row(r).map_err(sqlite)?);
            }
        }
        let i = cur.rows.partition_point(|r| r.known.rowid < rowid);
        Ok(cur.rows.get(i).copied())
    }

    /// The first row not matched yet after one of the cursors, if it has this identity:
    /// matched now, and that cursor goes first.
    fn claim_next(&mut self, conn: &Connection, ident: &[u8; 24]) -> Result<Option<KnownRow>> {
        for c in 0..self.cursors.len() {
            let mut rowid = self.cursors[c].next;
            loop {
                let Some(row) = self.row_at(conn, c, rowid)? else {
                    self.cursors[c].next = self.max_rowid + 1;
                    break;
                };
                if self.is_claimed(row.known.rowid) {
                    rowid = row.known.rowid + 1;
                    continue;
                }
                // Rows before this one were matched or are gone: this cursor starts here.
                self.cursors[c].next = row.known.rowid;
                if row.ident != *ident {
                    break;
                }
                self.mark(row.known.rowid);
                self.cursors[c].next = row.known.rowid + 1;
                let hit = self.cursors.remove(c);
                self.cursors.insert(0, hit);
                return Ok(Some(row.known));
            }
        }
        Ok(None)
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
        let ident = identity(conversation, id);
        if let Some(row) = self.claim_next(conn, &ident)? {
            return Ok(Some(row));
        }
        let Some(table) = &self.table else {
            return Ok(None);
        };
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
                    hash: u64::from_le_bytes(hash),
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
        let mut push = |row: Row| -> Result<()> {
            record[..24].copy_from_slice(&row.ident);
            record[24..KEY].copy_from_slice(&(row.known.rowid as u64).to_be_bytes());
            record[KEY..KEY + 8].copy_from_slice(&row.known.hash.to_le_bytes());
            record[KEY + 8] = row.known.flags;
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
                    push(read_row(r).map_err(sqlite)?)?;
                }
            }
        } else {
            let mut st = conn
                .prepare(&select_rows("WHERE rowid <= ?1"))
                .map_err(sqlite)?;
            let mut rows = st.query([self.max_rowid]).map_err(sqlite)?;
            while let Some(r) = rows.next().map_err(sqlite)? {
                let row = read_row(r).map_err(sqlite)?;
                if !self.is_claimed(row.known.rowid) {
                    push(row)?;
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

    /// Values hash the same whether bound or read back; identities repeat in row order;
    /// rows in the order of last time match by the cursors, others once indexed.
    #[test]
    fn claims_rows_by_identity_in_order_and_lists_the_rest() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE messages(rowid INTEGER PRIMARY KEY, gone_since INTEGER,
               conversation TEXT, id TEXT, server_id TEXT, sender TEXT, sender_name TEXT,
               from_me INTEGER, time_ms INTEGER, utc INTEGER, kind TEXT, text TEXT,
               reply_to TEXT, quote TEXT, media_path TEXT, media_kind TEXT,
               media_present INTEGER, thumbnail TEXT, raw TEXT, edited INTEGER, details TEXT);",
        )
        .unwrap();
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
        let expected_hash = |c: &str, id: &str, present: Option<bool>| {
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
            bound_hash(&values).unwrap()
        };
        let first = known.claim(&conn, "c", "1").unwrap().unwrap();
        assert_eq!(first.rowid, 1);
        assert_eq!(first.hash, expected_hash("c", "1", Some(true)));
        assert_eq!(first.flags, MEDIA_PRESENT);
        // Row 2 is next: c/1 again is out of the cursor's order, placed once indexed.
        assert_eq!(known.claim(&conn, "c", "1").unwrap(), None);
        assert!(!known.indexed());
        known.index_unclaimed(&conn).unwrap();
        assert_eq!(known.claim(&conn, "c", "1").unwrap().unwrap().rowid, 3);
        assert_eq!(known.claim(&conn, "c", "1").unwrap(), None);
        let gone = known.claim(&conn, "c", "2").unwrap().unwrap();
        assert_eq!((gone.rowid, gone.flags), (2, GONE));
        assert_eq!(known.claim(&conn, "e", "1").unwrap(), None);
        assert_eq!(known.unclaimed().collect::<Vec<_>>(), vec![4, 5, 6, 7]);
        // A cursor followed row 3: the row after it (past the gap) matches without a lookup.
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
}
