//! Chat export readers: detect what an export is and read it into one normalized model
//! ([`model`]). Sources know nothing of storage: they read files and call a [`ChatSink`].
//!
//! | kind             | what it reads                                                  |
//! |------------------|----------------------------------------------------------------|
//! | `wechat-android` | `MicroMsg/<account>/EnMicroMsg.db` (plain or SQLCipher 1), media |
//! | `wechat-ios`     | `Documents/<account>/DB/MM.sqlite`, `message_N.sqlite`, media   |
//! | `whatsapp`       | "Export chat" `.txt` (Android) or `.zip` with `_chat.txt` (iOS) |
//! | `whatsapp-db`    | WhatsApp's Android folder: `Databases/msgstore.db.crypt15` (crypt14, crypt12, plain `msgstore.db`), `wa.db`, `Media/` |
//! | `telegram`       | Telegram Desktop `result.json` or `messages*.html` / `export_results.html` |
//! | `folder`         | anything else: files only, no chat model                        |

pub mod model;
pub mod telegram;
pub mod wechat;
pub mod whatsapp;
pub mod whatsapp_db;

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use model::ChatSink;

use crate::error::{Error, Result};

/// Which app an export comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// WeChat for Android.
    WeChatAndroid,
    /// WeChat for iOS.
    WeChatIos,
    /// WhatsApp "Export chat".
    WhatsApp,
    /// WhatsApp's own Android database and its encrypted backups.
    WhatsAppDb,
    /// Telegram Desktop export.
    Telegram,
    /// Any folder: files only.
    Folder,
}

impl SourceKind {
    /// All kinds, in detection order.
    pub const ALL: [SourceKind; 6] = [
        SourceKind::WeChatAndroid,
        SourceKind::WeChatIos,
        SourceKind::WhatsApp,
        SourceKind::WhatsAppDb,
        SourceKind::Telegram,
        SourceKind::Folder,
    ];

    /// The name used on the command line and in snapshots.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::WeChatAndroid => "wechat-android",
            SourceKind::WeChatIos => "wechat-ios",
            SourceKind::WhatsApp => "whatsapp",
            SourceKind::WhatsAppDb => "whatsapp-db",
            SourceKind::Telegram => "telegram",
            SourceKind::Folder => "folder",
        }
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        SourceKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown source kind {s:?} (known: {})",
                    SourceKind::ALL.map(|k| k.as_str()).join(", ")
                ))
            })
    }
}

/// How to read an export.
#[derive(Clone, Default)]
pub struct SourceOptions {
    /// The kind, if the caller knows it (else it is detected).
    pub kind: Option<SourceKind>,
    /// WeChat Android: the database key (7 hex characters), if known.
    pub wechat_key: Option<String>,
    /// WeChat Android: device ids (IMEI) to try, before the common "1234567890ABCDEF".
    pub imeis: Vec<String>,
    /// WeChat Android: the account's uin, if not in `shared_prefs`.
    pub uin: Option<String>,
    /// WhatsApp text exports: the phone owner's name as the export writes it (else
    /// inferred where the export tells: the partner of a one-to-one chat is named in its
    /// file name).
    pub whatsapp_me: Option<String>,
    /// WhatsApp backups: the 64-digit key of end-to-end encrypted backups (crypt15, hex;
    /// spaces ignored), or the path of a key file (`key` for crypt14/crypt12,
    /// `encrypted_backup.key`). Without it, a key file in the folder is used if there is one.
    pub whatsapp_key: Option<String>,
    /// Where readers may put temporary files (a decrypted WhatsApp backup, in a private
    /// folder removed afterwards): the app's cache directory on phones; default: the
    /// system's temporary folder.
    pub work_dir: Option<PathBuf>,
}

impl std::fmt::Debug for SourceOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceOptions")
            .field("kind", &self.kind)
            .field(
                "wechat_key",
                &self.wechat_key.as_ref().map(|_| "<redacted>"),
            )
            .field("imeis", &self.imeis.len())
            .field("uin", &self.uin)
            .field("whatsapp_me", &self.whatsapp_me)
            .field(
                "whatsapp_key",
                &self.whatsapp_key.as_ref().map(|_| "<redacted>"),
            )
            .field("work_dir", &self.work_dir)
            .finish()
    }
}

/// What reading an export found out, beyond the chat model.
#[derive(Debug, Clone, Default)]
pub struct ReadOutcome {
    /// How an encrypted database was opened ("IMEI … with uin …"), never the key itself.
    pub opened_with: Option<String>,
}

/// Guesses what `path` (a folder, a `.zip`, a `.txt`, a `result.json`) is.
pub fn detect(path: &Path) -> Result<SourceKind> {
    let meta = fs::metadata(path).map_err(|e| Error::io("open", path, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if meta.is_file() {
        if name == "result.json"
            || (name.starts_with("messages") && name.ends_with(".html"))
            || name == "export_results.html"
        {
            return Ok(SourceKind::Telegram);
        }
        if whatsapp_db::is_msgstore_name(&name) {
            return Ok(SourceKind::WhatsAppDb);
        }
        if whatsapp::looks_like_export(path) {
            return Ok(SourceKind::WhatsApp);
        }
        return Ok(SourceKind::Folder);
    }
    if path.join("result.json").is_file()
        || path.join("messages.html").is_file()
        || path.join("export_results.html").is_file()
    {
        return Ok(SourceKind::Telegram);
    }
    if !find_files(path, |n| n == "EnMicroMsg.db", 5).is_empty() {
        return Ok(SourceKind::WeChatAndroid);
    }
    if !find_files(path, |n| n == "MM.sqlite", 6).is_empty() {
        return Ok(SourceKind::WeChatIos);
    }
    if whatsapp_db::find(path).is_some() {
        return Ok(SourceKind::WhatsAppDb);
    }
    let entries: Vec<PathBuf> = fs::read_dir(path)
        .map_err(|e| Error::io("read directory", path, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    if entries.is_empty() {
        return Err(Error::Source {
            path: path.into(),
            reason: "the folder is empty".into(),
        });
    }
    if entries
        .iter()
        .any(|p| p.is_file() && whatsapp::looks_like_export(p))
    {
        return Ok(SourceKind::WhatsApp);
    }
    Ok(SourceKind::Folder)
}

/// Reads the export at `path` into `sink`. Returns the kind read and what was found.
pub fn read(
    path: &Path,
    options: &SourceOptions,
    sink: &mut dyn ChatSink,
) -> Result<(SourceKind, ReadOutcome)> {
    let kind = match options.kind {
        Some(k) => k,
        None => detect(path)?,
    };
    let mut outcome = ReadOutcome::default();
    match kind {
        SourceKind::WeChatAndroid => {
            outcome.opened_with = wechat::android::read(path, options, sink)?;
        }
        SourceKind::WeChatIos => wechat::ios::read(path, sink)?,
        SourceKind::WhatsApp => {
            let wa = whatsapp::Options {
                me: options.whatsapp_me.clone(),
            };
            whatsapp::read(path, &wa, sink)?
        }
        SourceKind::WhatsAppDb => {
            outcome.opened_with = whatsapp_db::read(path, options, sink)?;
        }
        SourceKind::Telegram => telegram::read(path, sink)?,
        SourceKind::Folder => {}
    }
    Ok((kind, outcome))
}

/// Files of the export at `path` that are encrypted SQLite databases, with their page
/// size, for page-aligned storage. Known before reading (no key needed), so the export's
/// files can be backed up while it is read.
pub fn encrypted_databases(
    path: &Path,
    options: &SourceOptions,
    kind: SourceKind,
) -> Vec<(PathBuf, u32)> {
    match kind {
        SourceKind::WeChatAndroid => wechat::android::encrypted_database(path, options)
            .map(|db| (db, wechat::android::PAGE_SIZE))
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// Regular files under `root` (at most `max_depth` levels down) whose name satisfies `pred`,
/// sorted. Symbolic links are not followed.
pub(crate) fn find_files(
    root: &Path,
    pred: impl Fn(&str) -> bool,
    max_depth: usize,
) -> Vec<PathBuf> {
    fn walk(dir: &Path, pred: &dyn Fn(&str) -> bool, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        let mut list: Vec<_> = entries.filter_map(|e| e.ok()).collect();
        list.sort_by_key(|e| e.file_name());
        for e in list {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_file() && pred(&e.file_name().to_string_lossy()) {
                out.push(e.path());
            } else if ft.is_dir() && depth > 0 {
                walk(&e.path(), pred, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    if root.is_file() {
        if root.file_name().is_some_and(|n| pred(&n.to_string_lossy())) {
            out.push(root.to_path_buf());
        }
        return out;
    }
    walk(root, &pred, max_depth, &mut out);
    out
}

/// `path` relative to `root`, `/`-separated ("" for the root itself).
pub(crate) fn rel_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
