//! The messages a chat index already holds, found by identity, so a backup can resume the
//! parent snapshot's index instead of writing every message again.
//!
//! Identity is the conversation and the reader's message id (the app's own: WeChat's
//! msgId, WhatsApp's key id, Telegram's id); of equal ones, the n-th met in this export is
//! the n-th the index holds. Each row is one 41-byte record in a
//! [`disk_table`](crate::repo::disk_table) table, sorted by key, in an unlinked temporary
//! file, so memory stays flat however many messages there are (one bit per row marks those
//! the export still has):
//!
//! ```text
//! key:   BLAKE3(conversation ‖ 0 ‖ id)[..24] ‖ rowid u64 BE   (equal identities adjacent,
//!                                                              in row order)
//! value: content hash u64 LE ‖ flags u8 (GONE, MEDIA_PRESENT)
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};

use crate::error::{Error, Result};
use crate::repo::disk_table::{read_at, Table, TableBuilder, KEY};

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
    let mut h = blake3::Hasher::new();
    for v in values {
        hash_value(&mut h, v);
    }
    finish(&h)
}

/// [`content_hash`] of the values as they are bound (no copy of them is kept).
pub(crate) fn bound_hash(values: &[&dyn ToSql]) -> rusqlite::Result<u64> {
    let mut h = blake3::Hasher::new();
    for v in values {
        match v.to_sql()? {
            ToSqlOutput::Borrowed(r) => hash_value(&mut h, r),
            ToSqlOutput::Owned(o) => hash_value(&mut h, (&o).into()),
            _ => hash_value(&mut h, ValueRef::Null),
        }
    }
    Ok(finish(&h))
}

fn hash_value(h: &mut blake3::Hasher, v: ValueRef<'_>) {
    match v {
        ValueRef::Null => h.update(&[0]),
        ValueRef::Integer(i) => h.update(&[1]).update(&i.to_le_bytes()),
        ValueRef::Real(f) => h.update(&[2]).update(&f.to_bits().to_le_bytes()),
        ValueRef::Text(t) => h
            .update(&[3])
            .update(&(t.len() as u64).to_le_bytes())
            .update(t),
        ValueRef::Blob(b) => h
            .update(&[4])
            .update(&(b.len() as u64).to_le_bytes())
            .update(b),
    };
}

fn finish(h: &blake3::Hasher) -> u64 {
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize().as_bytes()[..8]);
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

/// Bytes of a row's slot in row order: identity [24] ‖ content hash u64 LE ‖ flags u8 ‖
/// 1 if the row exists.
const SLOT: usize = 24 + 8 + 1 + 1;

/// The rows of an index, by identity, and which of them the export still has.
///
/// An export streams its messages in the order it did last time, so most messages are the
/// row after one matched before: a second file holds every row's identity in row order, and
/// a few cursors walk it (the old rows, and the rows earlier backups appended, which the
/// export streams in between); only a message that is the next row of none of them is
/// looked up in the sorted table, and a cursor moves there.
pub(crate) struct Known {
    table: Table,
    claimed: Vec<u64>,
    max_rowid: i64,
    order: File,
    folder: PathBuf,
    /// Most recently matching first.
    cursors: Vec<Cursor>,
}

/// Cursors over the row-order file.
const CURSORS: usize = 4;
/// Slots a cursor reads at a time (4 KiB).
const CURSOR_SLOTS: usize = 120;

/// A position in the row-order file and the slots read from there.
struct Cursor {
    /// The rowid to try next.
    next: i64,
    /// Slots of rowids `first..first + buf.len() / SLOT`.
    first: i64,
    buf: Vec<u8>,
}

impl Known {
    /// Reads every message row of `conn`'s index (one pass, in row order); temporary files
    /// go to `work_dir`.
    pub(crate) fn read(conn: &Connection, work_dir: Option<&Path>) -> Result<Known> {
        let sqlite = |e| Error::sqlite("chat index", None, e);
        let mut st = conn
            .prepare(&format!(
                "SELECT rowid, gone_since, {CONTENT_COLUMNS} FROM messages"
            ))
            .map_err(sqlite)?;
        let mut rows = st.query([]).map_err(sqlite)?;
        let mut builder = TableBuilder::new(work_dir, RECORD, BATCH);
        let mut record = [0u8; RECORD];
        let mut max_rowid = 0i64;
        let folder = work_dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let io = |e| Error::io("write a temporary file in", &folder, e);
        let file = match work_dir {
            Some(d) => tempfile::tempfile_in(d),
            None => tempfile::tempfile(),
        }
        .map_err(io)?;
        let mut order = BufWriter::with_capacity(64 * 1024, file);
        let mut slot = [0u8; SLOT];
        while let Some(r) = rows.next().map_err(sqlite)? {
            let rowid: i64 = r.get(0).map_err(sqlite)?;
            let gone = !matches!(r.get_ref(1).map_err(sqlite)?, ValueRef::Null);
            // As the writer binds them: text (a number only in an index made otherwise).
            let bytes = |v: ValueRef<'_>| -> Vec<u8> {
                match v {
                    ValueRef::Text(t) | ValueRef::Blob(t) => t.to_vec(),
                    ValueRef::Integer(n) => n.to_string().into_bytes(),
                    ValueRef::Real(f) => f.to_string().into_bytes(),
                    ValueRef::Null => Vec::new(),
                }
            };
            let mut values = [ValueRef::Null; CONTENT_COUNT];
            for (i, v) in values.iter_mut().enumerate() {
                *v = r.get_ref(2 + i).map_err(sqlite)?;
            }
            let media_present = matches!(values[14], ValueRef::Integer(1));
            let ident = match (values[0], values[1]) {
                (ValueRef::Text(c), ValueRef::Text(i)) => identity_bytes(c, i),
                (c, i) => identity_bytes(&bytes(c), &bytes(i)),
            };
            record[..24].copy_from_slice(&ident);
            record[24..KEY].copy_from_slice(&(rowid as u64).to_be_bytes());
            record[KEY..KEY + 8].copy_from_slice(&content_hash(values).to_le_bytes());
            record[KEY + 8] =
                if gone { GONE } else { 0 } | if media_present { MEDIA_PRESENT } else { 0 };
            builder.push(&record)?;
            if rowid <= max_rowid || rowid < 1 {
                return Err(Error::corrupt("chat index", "message rows out of order"));
            }
            // Rows purged from the index leave empty slots.
            for _ in max_rowid + 1..rowid {
                order.write_all(&[0u8; SLOT]).map_err(io)?;
            }
            slot[..24].copy_from_slice(&record[..24]);
            slot[24..33].copy_from_slice(&record[KEY..KEY + 9]);
            slot[33] = 1;
            order.write_all(&slot).map_err(io)?;
            max_rowid = rowid;
        }
        let file = order.into_inner().map_err(|e| io(e.into_error()))?;
        let bits = usize::try_from(max_rowid.max(0) as u64 / 64 + 1).unwrap_or(usize::MAX);
        Ok(Known {
            table: builder.finish()?,
            claimed: vec![0; bits],
            max_rowid,
            order: file,
            folder,
            cursors: vec![Cursor {
                next: 1,
                first: 1,
                buf: Vec::new(),
            }],
        })
    }

    /// The largest rowid the index holds (new rows go after it).
    pub(crate) fn max_rowid(&self) -> i64 {
        self.max_rowid
    }

    fn mark(&mut self, rowid: i64) {
        let r = rowid.max(0) as u64;
        if let Some(w) = self.claimed.get_mut((r / 64) as usize) {
            *w |= 1 << (r % 64);
        }
    }

    /// The slot of `rowid` as cursor `c` has it (read from the file when it has not).
    fn slot(&mut self, c: usize, rowid: i64) -> Result<[u8; SLOT]> {
        let cur = &mut self.cursors[c];
        let held = (cur.buf.len() / SLOT) as i64;
        if rowid < cur.first || rowid >= cur.first + held {
            let n = (self.max_rowid - rowid + 1).clamp(0, CURSOR_SLOTS as i64) as usize;
            cur.buf.resize(n * SLOT, 0);
            cur.first = rowid;
            read_at(&self.order, &mut cur.buf, (rowid - 1) as u64 * SLOT as u64)
                .map_err(|e| Error::io("read a temporary file in", &self.folder, e))?;
        }
        let at = (rowid - cur.first) as usize * SLOT;
        let mut slot = [0u8; SLOT];
        slot.copy_from_slice(&cur.buf[at..at + SLOT]);
        Ok(slot)
    }

    /// The first row not matched yet after one of the cursors, if it has this identity:
    /// matched now, and that cursor goes first.
    fn claim_next(&mut self, ident: &[u8; 24]) -> Result<Option<KnownRow>> {
        for c in 0..self.cursors.len() {
            let mut rowid = self.cursors[c].next;
            while rowid <= self.max_rowid {
                let slot = self.slot(c, rowid)?;
                if slot[33] == 0 || self.is_claimed(rowid) {
                    rowid += 1;
                    continue;
                }
                // Rows before this one were matched or are gone: this cursor starts here.
                self.cursors[c].next = rowid;
                if slot[..24] != ident[..] {
                    break;
                }
                self.mark(rowid);
                self.cursors[c].next = rowid + 1;
                let hit = self.cursors.remove(c);
                self.cursors.insert(0, hit);
                let mut hash = [0u8; 8];
                hash.copy_from_slice(&slot[24..32]);
                return Ok(Some(KnownRow {
                    rowid,
                    hash: u64::from_le_bytes(hash),
                    flags: slot[32],
                }));
            }
            if rowid > self.max_rowid {
                self.cursors[c].next = rowid;
            }
        }
        Ok(None)
    }

    /// A cursor goes on after `rowid` (the least recently matching one, once there are
    /// enough).
    fn follow(&mut self, rowid: i64) {
        let cursor = if self.cursors.len() < CURSORS {
            Cursor {
                next: rowid + 1,
                first: 0,
                buf: Vec::new(),
            }
        } else {
            let mut c = self.cursors.pop().expect("cursors are never empty");
            c.next = rowid + 1;
            c
        };
        self.cursors.insert(0, cursor);
    }

    fn is_claimed(&self, rowid: i64) -> bool {
        let r = rowid.max(0) as u64;
        self.claimed
            .get((r / 64) as usize)
            .is_some_and(|w| w & (1 << (r % 64)) != 0)
    }

    /// The first row with this identity that no earlier message of the export matched,
    /// now marked as matched.
    pub(crate) fn claim(&mut self, conversation: &str, id: &str) -> Result<Option<KnownRow>> {
        let ident = identity(conversation, id);
        if let Some(row) = self.claim_next(&ident)? {
            return Ok(Some(row));
        }
        let mut probe = [0u8; KEY];
        probe[..24].copy_from_slice(&ident);
        let mut pos = self.table.lower_bound(&probe)?;
        let mut rec = [0u8; RECORD];
        while pos < self.table.len() {
            self.table.read(pos, &mut rec)?;
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

    /// Rowids (1..=max) no message of the export matched, in order; some may name no row
    /// (a purged message).
    pub(crate) fn unclaimed(&self) -> impl Iterator<Item = i64> + '_ {
        (1..=self.max_rowid).filter(|r| !self.is_claimed(*r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values hash the same whether bound or read back; identities repeat in row order.
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
        let mut known = Known::read(&conn, None).unwrap();
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
        let first = known.claim("c", "1").unwrap().unwrap();
        assert_eq!(first.rowid, 1);
        assert_eq!(first.hash, expected_hash("c", "1", Some(true)));
        assert_eq!(first.flags, MEDIA_PRESENT);
        assert_eq!(known.claim("c", "1").unwrap().unwrap().rowid, 3);
        assert_eq!(known.claim("c", "1").unwrap(), None);
        let gone = known.claim("c", "2").unwrap().unwrap();
        assert_eq!((gone.rowid, gone.flags), (2, GONE));
        assert_eq!(known.claim("e", "1").unwrap(), None);
        assert_eq!(known.unclaimed().collect::<Vec<_>>(), vec![4, 5, 6, 7]);
    }
}
