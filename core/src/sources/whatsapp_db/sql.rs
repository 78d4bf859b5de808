//! What the readers of WhatsApp's databases (Android's `msgstore.db`, iPhone's
//! `ChatStorage.sqlite`) share: opening a database read-only, its schema looked up before
//! any column is named (WhatsApp changes both between versions), typed row access that
//! never fails on a value of an unexpected type, and jids.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use rusqlite::{Connection, Row};

use crate::error::{Error, Result};
use crate::sources::model::ConversationKind;
use crate::sources::wechat::sqlite::SourceDb;

/// What a read found, for the caller's summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// Conversations.
    pub chats: u64,
    /// Messages.
    pub messages: u64,
}

/// Opens a SQLite file for reading, its `-wal` (beside it, or `wal`) included, writing nothing beside it (a
/// database with a `-wal` or `-journal` is read from a private copy under `work_dir`: see
/// [`crate::sources::wechat::sqlite`]). Errors name `shown`.
pub(crate) fn open(
    db: &Path,
    wal: Option<&Path>,
    shown: &Path,
    work_dir: Option<&Path>,
) -> Result<SourceDb> {
    let named = |e: Error| match e {
        Error::Source { reason, .. } => Error::Source {
            path: shown.into(),
            reason,
        },
        e => e,
    };
    let c = crate::sources::wechat::sqlite::open(db, wal, work_dir).map_err(named)?;
    c.execute_batch("PRAGMA temp_store = MEMORY;")
        .map_err(|e| Error::source_db(shown, e))?;
    Ok(c)
}

/// Tables and their columns.
pub(crate) struct Schema(HashMap<String, HashSet<String>>);

impl Schema {
    pub(crate) fn load(c: &Connection, shown: &Path) -> Result<Self> {
        let mut tables = HashMap::new();
        let names: Vec<String> = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .and_then(|mut s| {
                s.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<_>>()
            })
            .map_err(|e| Error::source_db(shown, e))?;
        for name in names {
            let cols: HashSet<String> = c
                .prepare(&format!(
                    "PRAGMA table_info(\"{}\")",
                    name.replace('"', "\"\"")
                ))
                .and_then(|mut s| {
                    s.query_map([], |r| r.get::<_, String>(1))?
                        .collect::<rusqlite::Result<_>>()
                })
                .map_err(|e| Error::source_db(shown, e))?;
            tables.insert(name, cols);
        }
        Ok(Schema(tables))
    }

    pub(crate) fn has(&self, table: &str) -> bool {
        self.0.contains_key(table)
    }

    /// `alias.column` if the table has it, else `NULL`.
    pub(crate) fn col(&self, table: &str, alias: &str, column: &str) -> String {
        match self.0.get(table) {
            Some(cols) if cols.contains(column) => format!("{alias}.\"{column}\""),
            _ => "NULL".into(),
        }
    }

    pub(crate) fn has_col(&self, table: &str, column: &str) -> bool {
        self.0.get(table).is_some_and(|c| c.contains(column))
    }
}

/// Column `i` as text (numbers and blobs converted), or `None` for NULL.
pub(crate) fn text(r: &Row, i: usize) -> Option<String> {
    match r.get_ref(i).ok()? {
        rusqlite::types::ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        rusqlite::types::ValueRef::Integer(n) => Some(n.to_string()),
        rusqlite::types::ValueRef::Real(f) => Some(f.to_string()),
        rusqlite::types::ValueRef::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        rusqlite::types::ValueRef::Null => None,
    }
}

/// Column `i` as an integer (reals truncated, numeric text parsed).
pub(crate) fn int(r: &Row, i: usize) -> Option<i64> {
    match r.get_ref(i).ok()? {
        rusqlite::types::ValueRef::Integer(n) => Some(n),
        rusqlite::types::ValueRef::Real(f) => Some(f as i64),
        rusqlite::types::ValueRef::Text(t) => std::str::from_utf8(t).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// Column `i` as a real.
pub(crate) fn real(r: &Row, i: usize) -> Option<f64> {
    match r.get_ref(i).ok()? {
        rusqlite::types::ValueRef::Integer(n) => Some(n as f64),
        rusqlite::types::ValueRef::Real(f) => Some(f),
        rusqlite::types::ValueRef::Text(t) => std::str::from_utf8(t).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// The user part of a jid (`4915112345678@s.whatsapp.net` → `4915112345678`).
pub(crate) fn jid_user(jid: &str) -> &str {
    jid.split('@').next().unwrap_or(jid)
}

/// A chat's kind by its jid's server.
pub(crate) fn conversation_kind(jid: &str) -> ConversationKind {
    if jid.ends_with("@g.us") {
        ConversationKind::Group
    } else if jid.ends_with("@broadcast") || jid.ends_with("@newsletter") {
        ConversationKind::Channel
    } else {
        ConversationKind::Direct
    }
}
