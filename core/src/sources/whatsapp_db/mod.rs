//! WhatsApp's own Android database: `msgstore.db`, plain or in its encrypted backups
//! (`Databases/msgstore.db.crypt15` and older generations), with `wa.db` for names.
//!
//! The folder a user picks is `Android/media/com.whatsapp/WhatsApp` (or `WhatsApp/` on
//! older phones): `Databases/` holds `msgstore.db.crypt15` (the newest backup) and dated
//! ones (`msgstore-2024-05-01.1.db.crypt15`), `Media/` the files messages refer to. The
//! newest backup is read; the others are backed up byte for byte like every file.

pub mod chatstorage;
pub mod crypt;
pub(crate) mod ios;
pub mod msgstore;
mod sql;

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::sources::{ChatSink, ReadOutcome, Source, SourceKind, SourceOptions};

use crypt::BackupKey;

/// Folders, relative to what the user picked, where WhatsApp keeps its databases.
const DATABASE_DIRS: [&str; 8] = [
    "",
    "Databases",
    "databases",
    "WhatsApp/Databases",
    "com.whatsapp/WhatsApp/Databases",
    "media/com.whatsapp/WhatsApp/Databases",
    "Android/media/com.whatsapp/WhatsApp/Databases",
    "com.whatsapp/databases",
];

/// A database file name: `msgstore.db`, `msgstore.db.crypt15`,
/// `msgstore-2024-05-01.1.db.crypt14`, … (and `wa.db…` with `stem` = "wa").
/// Returns (date if dated, crypt generation or 0 for plain).
fn parse_name<'a>(name: &'a str, stem: &str) -> Option<(Option<&'a str>, u8)> {
    let rest = name.strip_prefix(stem)?;
    let (date, rest) = match rest.strip_prefix('-') {
        Some(r) => {
            let date = r.get(..10)?;
            let ok = date.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
            if !ok {
                return None;
            }
            // `.1` (the backup's number that day), then `.db`.
            let r = &r[10..];
            let r = r.strip_prefix('.')?;
            let dot = r.find('.')?;
            if !r[..dot].bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (Some(date), &r[dot..])
        }
        None => (None, rest),
    };
    match rest {
        ".db" if date.is_none() => Some((None, 0)),
        ".db.crypt12" => Some((date, 12)),
        ".db.crypt14" => Some((date, 14)),
        ".db.crypt15" => Some((date, 15)),
        _ => None,
    }
}

/// Whether `name` is a msgstore database or backup.
pub fn is_msgstore_name(name: &str) -> bool {
    parse_name(name, "msgstore").is_some()
}

/// What was found in a WhatsApp folder.
#[derive(Debug, Clone)]
pub struct Found {
    /// The message database to read (the newest backup, or a plain `msgstore.db`).
    pub msgstore: PathBuf,
    /// `wa.db` (plain or a backup) beside it, for names.
    pub wa_db: Option<PathBuf>,
    /// The WhatsApp folder (`Media/` is in it).
    pub wa_root: PathBuf,
}

/// Finds the database to read under `path` (a WhatsApp folder, its `Databases/`, a parent
/// of it, or one database file).
pub fn find(path: &Path) -> Option<Found> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if path.is_file() {
        let name = path.file_name()?.to_string_lossy();
        is_msgstore_name(&name).then(|| candidates.push(path.to_path_buf()))?;
    } else {
        for sub in DATABASE_DIRS {
            let dir = if sub.is_empty() {
                path.to_path_buf()
            } else {
                path.join(sub)
            };
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let is_file = e.file_type().map(|t| t.is_file()).unwrap_or(false);
                if is_file && is_msgstore_name(&e.file_name().to_string_lossy()) {
                    candidates.push(e.path());
                }
            }
            if !candidates.is_empty() {
                break;
            }
        }
    }
    // Newest first: a plain database (the live one), then the undated backup (WhatsApp
    // writes the newest as `msgstore.db.cryptNN`), then the latest date; between
    // generations of the same standing, the newer file, then the newer generation.
    let rank = |p: &PathBuf| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (date, gen) = parse_name(&name, "msgstore").unwrap_or((None, 0));
        let mtime = fs::metadata(p).and_then(|m| m.modified()).ok();
        (
            gen == 0,
            date.is_none(),
            date.map(str::to_string),
            mtime,
            gen,
            name.clone(),
        )
    };
    let msgstore = candidates.into_iter().max_by_key(rank)?;
    let dir = msgstore.parent().map(Path::to_path_buf).unwrap_or_default();
    let wa_root = if dir
        .file_name()
        .is_some_and(|n| n.to_string_lossy().eq_ignore_ascii_case("databases"))
    {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir.clone())
    } else {
        dir.clone()
    };
    let wa_db = ["wa.db", "wa.db.crypt15", "wa.db.crypt14", "wa.db.crypt12"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file());
    Some(Found {
        msgstore,
        wa_db,
        wa_root,
    })
}

/// The key to open encrypted backups with: the 64-digit key given (hex, or a path to a key
/// file), else a `key` / `encrypted_backup.key` file in the folder. Returns it with a
/// description of where it came from (never the key).
fn key_for(
    path: &Path,
    found: &Found,
    options: &SourceOptions,
) -> Result<Option<(BackupKey, String)>> {
    if let Some(k) = options.whatsapp_key.as_deref() {
        let trimmed = k.trim();
        let as_path = Path::new(trimmed);
        if trimmed.len() < 4096 && !trimmed.is_empty() && as_path.is_file() {
            return Ok(Some((
                BackupKey::from_file(as_path)?,
                format!("the key file {}", as_path.display()),
            )));
        }
        return Ok(Some((
            BackupKey::from_hex(k)?,
            "the 64-digit key given".into(),
        )));
    }
    let mut dirs = vec![path.to_path_buf(), found.wa_root.clone()];
    if let Some(d) = found.msgstore.parent() {
        dirs.push(d.to_path_buf());
    }
    for dir in dirs {
        for name in ["encrypted_backup.key", "key"] {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(Some((
                    BackupKey::from_file(&p)?,
                    format!("the key file {}", p.display()),
                )));
            }
        }
    }
    Ok(None)
}

/// WhatsApp's Android folder (or one of its databases): the message database to read and
/// `wa.db`, found once.
pub(crate) struct Export {
    path: PathBuf,
    found: Found,
    options: SourceOptions,
}

impl Export {
    /// The folder or database at `path` where [`find`] found `found`; fails if it found
    /// nothing.
    pub(crate) fn new(path: &Path, found: Option<Found>, options: &SourceOptions) -> Result<Self> {
        let found = found.ok_or_else(|| Error::Source {
            path: path.into(),
            reason: "no WhatsApp database here (Databases/msgstore.db.crypt15, .crypt14, .crypt12 or msgstore.db)"
                .into(),
        })?;
        Ok(Export {
            path: path.to_path_buf(),
            found,
            options: options.clone(),
        })
    }
}

impl Source for Export {
    fn kind(&self) -> SourceKind {
        SourceKind::WhatsAppDb
    }

    /// Reads the newest message database; tells which one, and with what key.
    fn read(self: Box<Self>, sink: &mut dyn ChatSink) -> Result<ReadOutcome> {
        Ok(ReadOutcome {
            opened_with: Some(read(&self.path, &self.found, &self.options, sink)?),
        })
    }
}

/// Reads the WhatsApp database `found` under `path` into `sink`. Returns how it was opened.
fn read(
    path: &Path,
    found: &Found,
    options: &SourceOptions,
    sink: &mut dyn ChatSink,
) -> Result<String> {
    let root = if path.is_file() {
        path.parent().unwrap_or(path)
    } else {
        path
    };
    let work_dir = options.work_dir.as_deref();
    let encrypted = |p: &Path| {
        p.extension()
            .is_some_and(|e| e.to_string_lossy().starts_with("crypt"))
    };
    let key = if encrypted(&found.msgstore) || found.wa_db.as_deref().is_some_and(encrypted) {
        key_for(root, found, options)?
    } else {
        None
    };
    let need_key = |p: &Path| Error::WrongKey {
        path: p.into(),
        tried: "no key: give the 64-digit key of the end-to-end encrypted backup with \
                --whatsapp-key (or the `key` file for crypt14/crypt12)"
            .into(),
    };
    // Names first (wa.db), so conversations and senders get them.
    let mut names = std::collections::HashMap::new();
    if let Some(wa) = &found.wa_db {
        let r = if encrypted(wa) {
            match &key {
                Some((k, origin)) => crypt::decrypt(wa, k, origin, work_dir)
                    .and_then(|d| msgstore::read_contacts(d.path(), wa, work_dir, sink)),
                None => Err(need_key(wa)),
            }
        } else {
            msgstore::read_contacts(wa, wa, work_dir, sink)
        };
        match r {
            Ok(n) => names = n,
            // The names are a bonus: a wa.db that does not open is reported, not fatal.
            Err(e) => sink.warning(format!("names not read: {e}")),
        }
    }
    let layout = msgstore::Layout {
        root,
        wa_root: &found.wa_root,
        shown: &found.msgstore,
        work_dir,
    };
    let opened = if encrypted(&found.msgstore) {
        let (k, origin) = key.as_ref().ok_or_else(|| need_key(&found.msgstore))?;
        let plain = crypt::decrypt(&found.msgstore, k, origin, work_dir)?;
        msgstore::read(plain.path(), &layout, &names, sink)?;
        format!(
            "{} ({}) with {origin}",
            crate::sources::rel_path(root, &found.msgstore),
            plain.header.format.as_str()
        )
    } else {
        msgstore::read(&found.msgstore, &layout, &names, sink)?;
        crate::sources::rel_path(root, &found.msgstore)
    };
    Ok(opened)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatsapp_db_names_and_the_newest_backup() {
        assert_eq!(parse_name("msgstore.db", "msgstore"), Some((None, 0)));
        assert_eq!(
            parse_name("msgstore.db.crypt15", "msgstore"),
            Some((None, 15))
        );
        assert_eq!(
            parse_name("msgstore-2024-05-01.1.db.crypt14", "msgstore"),
            Some((Some("2024-05-01"), 14))
        );
        for bad in [
            "msgstore.db-wal",
            "msgstore-2024-5-01.1.db.crypt15",
            "msgstore-2024-05-01.db",
            "msgstore.db.crypt9",
            "x.db",
        ] {
            assert_eq!(parse_name(bad, "msgstore"), None, "{bad}");
        }
        let tmp = tempfile::tempdir().unwrap();
        let dbs = tmp.path().join("WhatsApp/Databases");
        fs::create_dir_all(&dbs).unwrap();
        for n in [
            "msgstore-2024-05-01.1.db.crypt15",
            "msgstore-2024-05-03.1.db.crypt15",
            "notes.txt",
        ] {
            fs::write(dbs.join(n), b"x").unwrap();
        }
        let f = find(tmp.path()).unwrap();
        assert!(f.msgstore.ends_with("msgstore-2024-05-03.1.db.crypt15"));
        assert_eq!(f.wa_root, tmp.path().join("WhatsApp"));
        fs::write(dbs.join("msgstore.db.crypt15"), b"x").unwrap();
        assert!(find(&tmp.path().join("WhatsApp"))
            .unwrap()
            .msgstore
            .ends_with("msgstore.db.crypt15"));
    }
}
