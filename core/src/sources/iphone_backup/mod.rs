//! iPhone backups made by iTunes or Finder, shared by every iPhone source (WeChat now,
//! WhatsApp later).
//!
//! A backup folder holds `Manifest.plist` (whether it is encrypted, its keybag, the
//! applications backed up), `Manifest.db` (the index, see [`manifest`]), usually
//! `Info.plist` and `Status.plist`, and every file stored as `fileID[0..2]/fileID`, where
//! `fileID` is the SHA-1 of `domain-relativePath`. In an encrypted backup `Manifest.db` and
//! each file are AES-256-CBC encrypted, under keys unwrapped from the password-protected
//! keybag ([`keybag`], [`decrypt`]).
//!
//! [`Backup::open`] reads a plain backup's index in place; for an encrypted one it unlocks
//! the keybag and decrypts the index into a private temporary folder (0700, removed when
//! the [`Backup`] is dropped), where [`Backup::local`] also decrypts the files a reader
//! asks for. Nothing decrypted is written anywhere else.

pub mod decrypt;
pub mod keybag;
pub mod manifest;
pub mod mbdb;

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use manifest::{Entry, FileRecord};
use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::temp::private_temp_dir;
use keybag::{ClassKeys, Keybag};

/// The backup's index.
pub const MANIFEST_DB: &str = "Manifest.db";
/// The backup's description and keybag.
pub const MANIFEST_PLIST: &str = "Manifest.plist";
/// Largest `Manifest.plist` read.
const MAX_PLIST: u64 = 16 << 20;

/// Whether `dir` looks like an iPhone backup (`Manifest.plist` with `Manifest.db`, or
/// `Manifest.mbdb` for iOS 9 and earlier).
pub fn is_backup(dir: &Path) -> bool {
    dir.join(MANIFEST_PLIST).is_file()
        && (dir.join(MANIFEST_DB).is_file() || dir.join(mbdb::MANIFEST_MBDB).is_file())
}

/// What `Manifest.plist` says.
#[derive(Debug, Clone, Default)]
pub struct ManifestInfo {
    /// `IsEncrypted`.
    pub encrypted: bool,
    /// Bundle ids of the applications backed up (keys of `Applications`).
    pub applications: HashSet<String>,
    /// `BackupKeyBag`.
    pub keybag: Option<Vec<u8>>,
    /// `ManifestKey`: 4-byte little-endian protection class, then the wrapped key.
    pub manifest_key: Option<Vec<u8>>,
}

/// Reads a backup's `Manifest.plist` (binary or XML).
pub fn read_manifest_plist(dir: &Path) -> Result<ManifestInfo> {
    let path = dir.join(MANIFEST_PLIST);
    let bad = |reason: String| Error::Source {
        path: path.clone(),
        reason,
    };
    let file = fs::File::open(&path).map_err(|e| Error::io("open", &path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_PLIST + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", &path, e))?;
    if bytes.len() as u64 > MAX_PLIST {
        return Err(bad("larger than any Manifest.plist".into()));
    }
    let value = plist::Value::from_reader(std::io::Cursor::new(&bytes))
        .map_err(|e| bad(format!("not a property list: {e}")))?;
    let dict = value
        .as_dictionary()
        .ok_or_else(|| bad("not a dictionary".into()))?;
    Ok(ManifestInfo {
        encrypted: dict
            .get("IsEncrypted")
            .and_then(plist::Value::as_boolean)
            .unwrap_or(false),
        applications: dict
            .get("Applications")
            .and_then(plist::Value::as_dictionary)
            .map(|a| a.keys().cloned().collect())
            .unwrap_or_default(),
        keybag: dict
            .get("BackupKeyBag")
            .and_then(plist::Value::as_data)
            .map(<[u8]>::to_vec),
        manifest_key: dict
            .get("ManifestKey")
            .and_then(plist::Value::as_data)
            .map(<[u8]>::to_vec),
    })
}

/// `entry`'s file key, unwrapped with the backup's class keys, and its plaintext size (both
/// from its record in the index).
fn file_key(
    keys: &ClassKeys,
    entry: &Entry,
) -> std::result::Result<(zeroize::Zeroizing<[u8; 32]>, u64), String> {
    let record = manifest::parse_record(entry.record.as_deref().unwrap_or_default())?;
    let (class, wrapped) = record
        .encryption_key
        .as_ref()
        .ok_or("its record has no EncryptionKey")?;
    Ok((keys.unwrap(*class, wrapped)?, record.size))
}

/// An opened backup: its index, and for an encrypted one the class keys and the private
/// folder holding what was decrypted.
pub struct Backup {
    root: PathBuf,
    manifest: Connection,
    /// The index's path (decrypted copy for encrypted backups).
    manifest_path: PathBuf,
    keys: Option<ClassKeys>,
    /// Decrypted files; removed on drop (after `manifest`, which is declared first).
    temp: Option<tempfile::TempDir>,
    /// An older backup (`Manifest.mbdb`): files stored flat as `fileID`.
    flat: bool,
}

impl Backup {
    /// Opens the backup at `root`. An encrypted backup needs `password`: without it, or
    /// with a wrong one, this fails with [`Error::WrongBackupPassword`]. Decrypted files go
    /// to a private temporary folder under `work_dir` (default: the system's).
    pub fn open(root: &Path, password: Option<&str>, work_dir: Option<&Path>) -> Result<Backup> {
        let info = read_manifest_plist(root)?;
        let db = root.join(MANIFEST_DB);
        if !db.is_file() && root.join(mbdb::MANIFEST_MBDB).is_file() {
            return Backup::open_mbdb(root, &info);
        }
        if !info.encrypted {
            return Ok(Backup {
                root: root.to_path_buf(),
                manifest: manifest::open(&db)?,
                manifest_path: db,
                keys: None,
                temp: None,
                flat: false,
            });
        }
        let plist_path = root.join(MANIFEST_PLIST);
        let bad = |reason: String| Error::Source {
            path: plist_path.clone(),
            reason,
        };
        let Some(password) = password else {
            return Err(Error::WrongBackupPassword {
                path: root.to_path_buf(),
                given: false,
            });
        };
        let keybag = Keybag::parse(
            info.keybag
                .as_deref()
                .ok_or_else(|| bad("encrypted, but it holds no BackupKeyBag".into()))?,
        )
        .map_err(bad)?;
        let key = keybag.password_key(password.as_bytes());
        let keys = keybag
            .unlock(&key)
            .ok_or_else(|| Error::WrongBackupPassword {
                path: root.to_path_buf(),
                given: true,
            })?;
        let mk = info
            .manifest_key
            .as_deref()
            .ok_or_else(|| bad("encrypted, but it holds no ManifestKey".into()))?;
        let (class, wrapped) = mk
            .split_first_chunk::<4>()
            .ok_or_else(|| bad("its ManifestKey is shorter than 4 bytes".into()))?;
        let manifest_key = keys
            .unwrap(u32::from_le_bytes(*class), wrapped)
            .map_err(|r| bad(format!("its ManifestKey: {r}")))?;
        let temp = private_temp_dir(work_dir)?;
        let plain = temp.path().join(MANIFEST_DB);
        decrypt::decrypt_file(&manifest_key, &db, &plain, None)?;
        let manifest = manifest::open(&plain).map_err(|_| Error::Source {
            path: db.clone(),
            reason: "decrypted with the backup's keys, it is not a SQLite database".into(),
        })?;
        Ok(Backup {
            root: root.to_path_buf(),
            manifest,
            manifest_path: plain,
            keys: Some(keys),
            temp: Some(temp),
            flat: false,
        })
    }

    /// Opens an older backup indexed by `Manifest.mbdb` (iOS 9 and earlier; plain only).
    fn open_mbdb(root: &Path, info: &ManifestInfo) -> Result<Backup> {
        let path = root.join(mbdb::MANIFEST_MBDB);
        let bad = |reason: String| Error::Source {
            path: path.clone(),
            reason,
        };
        if info.encrypted {
            return Err(bad(
                "an encrypted backup in the format of iOS 9 and earlier is not supported: \
                 make a new backup with current iTunes or Finder, or one without encryption"
                    .into(),
            ));
        }
        let file = fs::File::open(&path).map_err(|e| Error::io("open", &path, e))?;
        let mut bytes = Vec::new();
        file.take(mbdb::MAX_MBDB + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("read", &path, e))?;
        if bytes.len() as u64 > mbdb::MAX_MBDB {
            return Err(bad("larger than any Manifest.mbdb".into()));
        }
        let records = mbdb::parse(&bytes).map_err(bad)?;
        let manifest = mbdb::to_connection(&records).map_err(|e| Error::source_db(&path, e))?;
        Ok(Backup {
            root: root.to_path_buf(),
            manifest,
            manifest_path: path,
            keys: None,
            temp: None,
            flat: true,
        })
    }

    /// The backup's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether it is an older backup (`Manifest.mbdb`), its files stored flat as `fileID`.
    pub fn is_flat(&self) -> bool {
        self.flat
    }

    /// Whether the backup is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.keys.is_some()
    }

    /// The index's entries of `domain` whose relative path starts with `prefix`, in path
    /// order.
    pub fn entries(&self, domain: &str, prefix: &str) -> Result<Vec<Entry>> {
        manifest::list(
            &self.manifest,
            &self.manifest_path,
            domain,
            prefix,
            self.flat,
        )
    }

    /// Where `entry`'s file is stored in the backup (encrypted in an encrypted backup).
    pub fn stored_path(&self, entry: &Entry) -> Result<PathBuf> {
        let rel = entry.stored_rel().ok_or_else(|| Error::Source {
            path: self.root.join(MANIFEST_DB),
            reason: format!(
                "invalid fileID {:?} for {}",
                entry.file_id, entry.relative_path
            ),
        })?;
        Ok(self.root.join(rel))
    }

    /// A readable plaintext copy of `entry`'s file: the stored file itself in a plain
    /// backup; in an encrypted one, the file decrypted into the private folder (once; later
    /// calls return the same copy), named `name` (a plain file name, so that a database and
    /// its `-wal` keep their pairing).
    pub fn local(&self, entry: &Entry, name: &str) -> Result<PathBuf> {
        let stored = self.stored_path(entry)?;
        if !stored.is_file() {
            return Err(Error::Source {
                path: stored,
                reason: format!(
                    "the backup lists {} ({}) but its file is missing",
                    entry.relative_path, entry.domain
                ),
            });
        }
        let (Some(keys), Some(temp)) = (&self.keys, &self.temp) else {
            return Ok(stored);
        };
        let bad = |reason: String| Error::Source {
            path: stored.clone(),
            reason: format!("{} ({}): {reason}", entry.relative_path, entry.domain),
        };
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(bad(format!("unsafe local name {name:?}")));
        }
        let dir = temp.path().join(&entry.file_id);
        let dst = dir.join(name);
        if dst.is_file() {
            return Ok(dst);
        }
        let (key, size) = file_key(keys, entry).map_err(&bad)?;
        fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        decrypt::decrypt_file(&key, &stored, &dst, Some(size))?;
        Ok(dst)
    }

    /// How to decrypt `entry`'s stored file later (its unwrapped key and plaintext size):
    /// `None` in a plain backup. What a reader hands its sink for each media file it names,
    /// so a restore decrypts it without the password.
    pub fn media_key(&self, entry: &Entry) -> Result<Option<crate::sources::model::MediaKey>> {
        let Some(keys) = &self.keys else {
            return Ok(None);
        };
        let bad = |reason: String| Error::Source {
            path: self.root.join(MANIFEST_DB),
            reason: format!("{} ({}): {reason}", entry.relative_path, entry.domain),
        };
        let (key, size) = file_key(keys, entry).map_err(bad)?;
        Ok(Some(crate::sources::model::MediaKey { key: *key, size }))
    }

    /// Removes the decrypted copy [`Backup::local`] made of `entry`, if any (to keep at
    /// most one account's databases decrypted at a time).
    pub fn forget(&self, entry: &Entry) {
        if let Some(temp) = &self.temp {
            let _ = fs::remove_dir_all(temp.path().join(&entry.file_id));
        }
    }
}
