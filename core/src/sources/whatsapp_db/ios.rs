//! WhatsApp for iPhone as a source: its app group's folder (copied out of a backup or a
//! Mac, `ChatStorage.sqlite` with `Message/Media/…` beside it) or a whole iPhone backup
//! (plain or encrypted) holding WhatsApp's domain. The databases are read by
//! [`super::chatstorage`].

use std::path::{Path, PathBuf};

use super::chatstorage::{self, Layout, MediaPlace};
use crate::error::{Error, Result};
use crate::sources::{ChatSink, ReadOutcome, Source, SourceKind, SourceOptions};

/// Where the database is.
enum Place {
    /// An app-group folder: the database found in it.
    Folder { database: PathBuf },
    /// An iPhone backup.
    #[cfg(feature = "iphone-backup")]
    Backup {
        password: Option<zeroize::Zeroizing<String>>,
    },
}

/// WhatsApp for iPhone's data at `root`.
pub(crate) struct Export {
    root: PathBuf,
    place: Place,
    work_dir: Option<PathBuf>,
}

impl Export {
    /// The app-group folder (or database) at `root`; fails without `ChatStorage.sqlite`.
    pub(crate) fn new(root: &Path, options: &SourceOptions) -> Result<Self> {
        let database = chatstorage::find(root).ok_or_else(|| Error::Source {
            path: root.into(),
            reason: format!(
                "no {} here (WhatsApp for iPhone keeps it in its app group, {})",
                chatstorage::DATABASE,
                chatstorage::GROUP_FOLDERS[0]
            ),
        })?;
        Ok(Export {
            root: root.to_path_buf(),
            place: Place::Folder { database },
            work_dir: options.work_dir.clone(),
        })
    }

    /// The iPhone backup at `root` (unlocked with `options.iphone_backup_password` when it is
    /// encrypted).
    #[cfg(feature = "iphone-backup")]
    pub(crate) fn from_backup(root: &Path, options: &SourceOptions) -> Result<Self> {
        Ok(Export {
            root: root.to_path_buf(),
            place: Place::Backup {
                password: options
                    .iphone_backup_password
                    .clone()
                    .map(zeroize::Zeroizing::new),
            },
            work_dir: options.work_dir.clone(),
        })
    }
}

/// Whether the plain iPhone backup at `root` holds WhatsApp's database; for an encrypted
/// one (whose index needs the password), whether its `Manifest.plist` lists WhatsApp.
#[cfg(feature = "iphone-backup")]
pub(crate) fn backup_has_whatsapp(root: &Path) -> Result<bool> {
    use crate::sources::iphone_backup;
    let info = iphone_backup::read_manifest_plist(root)?;
    if info.encrypted {
        return Ok(info
            .applications
            .iter()
            .any(|a| a == "net.whatsapp.WhatsApp" || a == "net.whatsapp.WhatsAppSMB"));
    }
    let backup = iphone_backup::Backup::open(root, None, None)?;
    for domain in chatstorage::BACKUP_DOMAINS {
        if !backup.entries(domain, chatstorage::DATABASE)?.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

impl Source for Export {
    fn kind(&self) -> SourceKind {
        SourceKind::WhatsAppIos
    }

    fn read(self: Box<Self>, sink: &mut dyn ChatSink) -> Result<ReadOutcome> {
        let work_dir = self.work_dir.as_deref();
        match &self.place {
            Place::Folder { database } => {
                let group = database.parent().unwrap_or(&self.root);
                let contacts = group.join(chatstorage::CONTACTS);
                let names = if contacts.is_file() {
                    read_names(&contacts, None, &contacts, work_dir, sink)
                } else {
                    Default::default()
                };
                let root = if self.root.is_file() {
                    self.root.parent().unwrap_or(&self.root)
                } else {
                    &self.root
                };
                let layout = Layout {
                    media: MediaPlace::Folder { root, group },
                    wal: None,
                    shown: database,
                    work_dir,
                };
                chatstorage::read(database, &layout, &names, sink)?;
                Ok(ReadOutcome {
                    opened_with: Some(crate::sources::rel_path(root, database)),
                })
            }
            #[cfg(feature = "iphone-backup")]
            Place::Backup { password } => read_backup(
                &self.root,
                password.as_deref().map(String::as_str),
                work_dir,
                sink,
            ),
        }
    }
}

/// The address book's names; a `ContactsV2.sqlite` that does not open is reported, not
/// fatal (names are a bonus).
fn read_names(
    db: &Path,
    wal: Option<&Path>,
    shown: &Path,
    work_dir: Option<&Path>,
    sink: &mut dyn ChatSink,
) -> std::collections::HashMap<String, String> {
    match chatstorage::read_contacts(db, wal, shown, work_dir, sink) {
        Ok(n) => n,
        Err(e) => {
            sink.warning(format!("names not read: {e}"));
            Default::default()
        }
    }
}

/// Reads WhatsApp (and WhatsApp Business) from the iPhone backup at `root`: a plain
/// backup's databases in place, an encrypted one's decrypted into a private folder.
#[cfg(feature = "iphone-backup")]
fn read_backup(
    root: &Path,
    password: Option<&str>,
    work_dir: Option<&Path>,
    sink: &mut dyn ChatSink,
) -> Result<ReadOutcome> {
    use crate::sources::iphone_backup::{self, manifest::FLAG_FILE};
    let backup = iphone_backup::Backup::open(root, password, work_dir)?;
    let mut read_any = Vec::new();
    for domain in chatstorage::BACKUP_DOMAINS {
        // The database, its `-wal` and the address book are entries of their own.
        let entries = backup.entries(domain, "")?;
        let entry = |name: &str| {
            entries
                .iter()
                .find(|e| e.flags == FLAG_FILE && e.relative_path == name)
        };
        let Some(db) = entry(chatstorage::DATABASE) else {
            continue;
        };
        let mut used = vec![db];
        let local = |e: &iphone_backup::Entry, name: &str| backup.local(e, name);
        let db_path = local(db, chatstorage::DATABASE)?;
        let wal_name = format!("{}-wal", chatstorage::DATABASE);
        let mut db_wal = None;
        if let Some(wal) = entry(&wal_name) {
            db_wal = Some(local(wal, &wal_name)?);
            used.push(wal);
        }
        let shown = root.join(format!("{domain}/{}", chatstorage::DATABASE));
        let mut names = Default::default();
        if let Some(c) = entry(chatstorage::CONTACTS) {
            let c_path = local(c, chatstorage::CONTACTS)?;
            let c_wal = format!("{}-wal", chatstorage::CONTACTS);
            let mut wal = None;
            if let Some(w) = entry(&c_wal) {
                wal = Some(local(w, &c_wal)?);
                used.push(w);
            }
            used.push(c);
            let c_shown = root.join(format!("{domain}/{}", chatstorage::CONTACTS));
            names = read_names(&c_path, wal.as_deref(), &c_shown, work_dir, sink);
        }
        // An encrypted backup's media: each stored file's key, for restores.
        let mut keys = std::collections::HashMap::new();
        if backup.is_encrypted() {
            for e in entries
                .iter()
                .filter(|e| e.flags == FLAG_FILE && e.relative_path.starts_with("Message/"))
            {
                if let (Some(at), Ok(Some(key))) = (e.stored_rel(), backup.media_key(e)) {
                    keys.insert(at, key);
                }
            }
        }
        let layout = Layout {
            media: MediaPlace::Backup {
                root,
                domain,
                keys: &keys,
                flat: backup.is_flat(),
            },
            wal: db_wal.as_deref(),
            shown: &shown,
            work_dir,
        };
        let read = chatstorage::read(&db_path, &layout, &names, sink);
        for e in used {
            backup.forget(e);
        }
        read?;
        read_any.push(format!("{domain}/{}", chatstorage::DATABASE));
    }
    if read_any.is_empty() {
        return Err(Error::Source {
            path: root.into(),
            reason: format!(
                "the iPhone backup holds no WhatsApp database ({}: {})",
                chatstorage::BACKUP_DOMAINS[0],
                chatstorage::DATABASE
            ),
        });
    }
    Ok(ReadOutcome {
        opened_with: Some(read_any.join(", ")),
    })
}
