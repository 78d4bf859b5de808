//! Chat export readers: detect what an export is and read it into one normalized model
//! ([`model`]). Sources know nothing of storage: they read files and call a [`ChatSink`].
//!
//! [`open`] walks an export's tree once: it detects the kind (unless given), finds the files
//! that kind's reader needs and returns them as a [`Source`], which tells the encrypted
//! databases among them ([`Source::encrypted_databases`]) and reads them
//! ([`Source::read`]) without searching again. Each reader module below implements
//! [`Source`] for its kind, holding the paths it found.
//!
//! | kind             | module           | what it reads                                   |
//! |------------------|------------------|-------------------------------------------------|
//! | `wechat-android` | [`wechat::android`] | `MicroMsg/<account>/EnMicroMsg.db` (plain or SQLCipher 1), media |
//! | `wechat-ios`     | [`wechat::ios`]  | `Documents/<account>/DB/MM.sqlite`, `message_N.sqlite`, media; in a folder or in an iPhone backup (plain or encrypted), every account |
//! | `whatsapp`       | [`whatsapp`]     | "Export chat" `.txt` (Android) or `.zip` with `_chat.txt` (iOS) |
//! | `whatsapp-db`    | [`whatsapp_db`]  | WhatsApp's Android folder: `Databases/msgstore.db.crypt15` (crypt14, crypt12, plain `msgstore.db`), `wa.db`, `Media/` |
//! | `telegram`       | [`telegram`]     | Telegram Desktop `result.json` or `messages*.html` / `export_results.html` |
//! | `folder`         | (here)           | anything else: files only, no chat model        |
//!
//! iPhone backups (iTunes/Finder: `Manifest.db`, `Manifest.plist`, files stored as
//! `xx/<sha1>`) are read by [`iphone_backup`] (feature `iphone-backup`) for every iPhone
//! source; a backup holding WeChat is detected as `wechat-ios`, any other as `folder`.
//!
//! WeChat's two platforms share their message decoding and assembly ([`wechat::message`]);
//! only reading the rows differs.

#[cfg(feature = "iphone-backup")]
pub mod iphone_backup;
pub(crate) mod json_strings;
pub mod model;
pub mod protobuf;
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
    /// WhatsApp for iPhone's database (`ChatStorage.sqlite`), in an iPhone backup or its app
    /// group's folder.
    WhatsAppIos,
    /// Telegram Desktop export.
    Telegram,
    /// Any folder: files only.
    Folder,
}

impl SourceKind {
    /// All kinds, in detection order.
    pub const ALL: [SourceKind; 7] = [
        SourceKind::WeChatAndroid,
        SourceKind::WeChatIos,
        SourceKind::WhatsApp,
        SourceKind::WhatsAppDb,
        SourceKind::WhatsAppIos,
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
            SourceKind::WhatsAppIos => "whatsapp-ios",
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
    /// iPhone backups: the password of an encrypted iTunes/Finder backup.
    pub iphone_backup_password: Option<String>,
    /// WeChat for iPhone: read only this account (its username, e.g. `wxid_…`, or its
    /// folder's name, the md5 of the username), where the phone holds several; default: all.
    pub wechat_account: Option<String>,
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
            .field(
                "iphone_backup_password",
                &self.iphone_backup_password.as_ref().map(|_| "<redacted>"),
            )
            .field("wechat_account", &self.wechat_account)
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

/// An export opened for reading: what it is and the files its reader needs, found once by
/// [`open`] (one walk of its tree), so that neither [`Source::encrypted_databases`] nor
/// [`Source::read`] searches it again. Sent to the thread that reads it.
pub trait Source: Send {
    /// What the export is.
    fn kind(&self) -> SourceKind;

    /// Files of the export that are encrypted SQLite databases, with their page size, for
    /// page-aligned storage. Known before reading (no key needed), so the export's files can
    /// be backed up while it is read.
    fn encrypted_databases(&self) -> Vec<(PathBuf, u32)> {
        Vec::new()
    }

    /// Reads the export into `sink`, and tells what was found beyond the chat model.
    fn read(self: Box<Self>, sink: &mut dyn ChatSink) -> Result<ReadOutcome>;
}

/// Opens the export at `path` (a folder, a `.zip`, a `.txt`, a `result.json`, a database):
/// detects its kind, unless `options.kind` says it, and finds the files its reader needs.
/// Fails like the reader would when the files of the kind given are missing.
pub fn open(path: &Path, options: &SourceOptions) -> Result<Box<dyn Source>> {
    let Some(kind) = options.kind else {
        return detect_and_open(path, options);
    };
    let tree = match kind {
        SourceKind::WeChatIos | SourceKind::WhatsAppIos if is_iphone_backup(path) => {
            Tree::default()
        }
        SourceKind::WeChatAndroid | SourceKind::WeChatIos | SourceKind::WhatsApp => {
            Tree::walk(path, &[kind])
        }
        _ => Tree::default(),
    };
    open_as(kind, path, options, tree, None)
}

/// Guesses what `path` (a folder, a `.zip`, a `.txt`, a `result.json`) is.
pub fn detect(path: &Path) -> Result<SourceKind> {
    Ok(open(path, &SourceOptions::default())?.kind())
}

/// Reads the export at `path` into `sink`: [`open`], then [`Source::read`]. Returns the kind
/// read and what was found.
pub fn read(
    path: &Path,
    options: &SourceOptions,
    sink: &mut dyn ChatSink,
) -> Result<(SourceKind, ReadOutcome)> {
    let source = open(path, options)?;
    let kind = source.kind();
    Ok((kind, source.read(sink)?))
}

/// [`open`] without a kind given: the detection, in order, keeping what it found.
fn detect_and_open(path: &Path, options: &SourceOptions) -> Result<Box<dyn Source>> {
    let meta = fs::metadata(path).map_err(|e| Error::io("open", path, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let opened = |kind, tree| open_as(kind, path, options, tree, None);
    if meta.is_file() {
        if name == "result.json"
            || (name.starts_with("messages") && name.ends_with(".html"))
            || name == "export_results.html"
        {
            return opened(SourceKind::Telegram, Tree::default());
        }
        if whatsapp_db::is_msgstore_name(&name) {
            return opened(SourceKind::WhatsAppDb, Tree::default());
        }
        if name == whatsapp_db::chatstorage::DATABASE.to_lowercase() {
            return opened(SourceKind::WhatsAppIos, Tree::default());
        }
        if whatsapp::looks_like_export(path) {
            return opened(SourceKind::WhatsApp, Tree::default());
        }
        return opened(SourceKind::Folder, Tree::default());
    }
    #[cfg(feature = "iphone-backup")]
    if iphone_backup::is_backup(path) {
        // One app per snapshot: WeChat first; a backup holding both is backed up again
        // with `--source whatsapp-ios` for WhatsApp (the warning says so).
        let kind = if wechat::ios::backup_has_wechat(path)? {
            if whatsapp_db::ios::backup_has_whatsapp(path)? {
                log::warn!(
                    "{} also holds WhatsApp: back it up again with --source whatsapp-ios to keep those chats too",
                    path.display()
                );
            }
            SourceKind::WeChatIos
        } else if whatsapp_db::ios::backup_has_whatsapp(path)? {
            SourceKind::WhatsAppIos
        } else {
            SourceKind::Folder
        };
        return opened(kind, Tree::default());
    }
    if path.join("result.json").is_file()
        || path.join("messages.html").is_file()
        || path.join("export_results.html").is_file()
    {
        return opened(SourceKind::Telegram, Tree::default());
    }
    let tree = Tree::walk(
        path,
        &[
            SourceKind::WeChatAndroid,
            SourceKind::WeChatIos,
            SourceKind::WhatsApp,
        ],
    );
    if tree.wechat_android.has_database() {
        return opened(SourceKind::WeChatAndroid, tree);
    }
    if !tree.wechat_ios.is_empty() {
        return opened(SourceKind::WeChatIos, tree);
    }
    if let Some(found) = whatsapp_db::find(path) {
        return open_as(SourceKind::WhatsAppDb, path, options, tree, Some(found));
    }
    if whatsapp_db::chatstorage::find(path).is_some() {
        return opened(SourceKind::WhatsAppIos, tree);
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
        return opened(SourceKind::WhatsApp, tree);
    }
    opened(SourceKind::Folder, tree)
}

/// The export at `path` opened as `kind`, with the files `tree` (and, for WhatsApp's
/// database, `found`) holds, or found now where they were not looked for.
fn open_as(
    kind: SourceKind,
    path: &Path,
    options: &SourceOptions,
    tree: Tree,
    found: Option<whatsapp_db::Found>,
) -> Result<Box<dyn Source>> {
    Ok(match kind {
        SourceKind::WeChatAndroid => Box::new(wechat::android::Export::new(
            path,
            tree.wechat_android,
            options,
        )?),
        #[cfg(feature = "iphone-backup")]
        SourceKind::WeChatIos if is_iphone_backup(path) => {
            Box::new(wechat::ios::Export::from_backup(path, options)?)
        }
        SourceKind::WeChatIos => {
            Box::new(wechat::ios::Export::new(path, tree.wechat_ios, options)?)
        }
        SourceKind::WhatsApp => Box::new(whatsapp::Export::new(
            path,
            tree.whatsapp,
            whatsapp::Options {
                me: options.whatsapp_me.clone(),
            },
        )?),
        SourceKind::WhatsAppDb => {
            let found = found.or_else(|| whatsapp_db::find(path));
            Box::new(whatsapp_db::Export::new(path, found, options)?)
        }
        #[cfg(feature = "iphone-backup")]
        SourceKind::WhatsAppIos if is_iphone_backup(path) => {
            Box::new(whatsapp_db::ios::Export::from_backup(path, options)?)
        }
        SourceKind::WhatsAppIos => Box::new(whatsapp_db::ios::Export::new(path, options)?),
        SourceKind::Telegram => Box::new(telegram::Export::new(path)?),
        SourceKind::Folder => Box::new(Folder),
    })
}

/// Whether `path` is an iPhone backup this build reads (feature `iphone-backup`).
fn is_iphone_backup(path: &Path) -> bool {
    #[cfg(feature = "iphone-backup")]
    {
        iphone_backup::is_backup(path)
    }
    #[cfg(not(feature = "iphone-backup"))]
    {
        let _ = path;
        false
    }
}

/// Any folder: files only, nothing to read.
struct Folder;

impl Source for Folder {
    fn kind(&self) -> SourceKind {
        SourceKind::Folder
    }

    fn read(self: Box<Self>, _sink: &mut dyn ChatSink) -> Result<ReadOutcome> {
        Ok(ReadOutcome::default())
    }
}

/// The files readers look for by name in an export's folder, found in one walk of its tree.
#[derive(Default)]
struct Tree {
    /// WeChat Android: `EnMicroMsg.db` and the files its key is derived from.
    wechat_android: wechat::android::Files,
    /// WeChat iOS: `MM.sqlite`.
    wechat_ios: Vec<PathBuf>,
    /// WhatsApp: `.txt` and `.zip` files, chats or not.
    whatsapp: Vec<PathBuf>,
}

impl Tree {
    /// Walks `root` once, as deep as the readers of `kinds` look, for their files.
    fn walk(root: &Path, kinds: &[SourceKind]) -> Tree {
        let depth = |k: &SourceKind| match k {
            SourceKind::WeChatAndroid => wechat::android::DEPTH,
            SourceKind::WeChatIos => wechat::ios::DEPTH,
            SourceKind::WhatsApp => whatsapp::DEPTH,
            _ => 0,
        };
        let wants = |k| kinds.contains(&k);
        let (android, ios, chats) = (
            wants(SourceKind::WeChatAndroid),
            wants(SourceKind::WeChatIos),
            wants(SourceKind::WhatsApp),
        );
        let mut tree = Tree::default();
        let max_depth = kinds.iter().map(depth).max().unwrap_or(0);
        walk_files(root, max_depth, &mut |name, level, path| {
            if android {
                tree.wechat_android.offer(name, level, path);
            }
            if ios && level <= wechat::ios::DEPTH && name == wechat::ios::DATABASE {
                tree.wechat_ios.push(path.to_path_buf());
            }
            if chats && level <= whatsapp::DEPTH && whatsapp::may_be_chat(name) {
                tree.whatsapp.push(path.to_path_buf());
            }
        });
        tree
    }
}

/// Regular files under `root` (at most `max_depth` levels down), offered to `visit` with
/// their name and level (0: in `root`, or `root` itself when it is a file), folder by folder
/// in name order. Symbolic links are not followed.
/// A reader's context for [`model::ChatSink::source_rows`]: values length-prefixed, maps
/// in key order, each map closed by an empty value, so different contexts never run
/// together.
pub(crate) struct RowsContext(blake3::Hasher);

impl RowsContext {
    /// A context of reader `reader` (its rows' version) in this build.
    pub(crate) fn new(reader: &str) -> Self {
        let mut c = RowsContext(blake3::Hasher::new());
        c.bytes(reader.as_bytes())
            .bytes(env!("CARGO_PKG_VERSION").as_bytes());
        c
    }

    /// Adds bytes.
    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.update(&(b.len() as u64).to_le_bytes()).update(b);
        self
    }

    /// Adds text.
    pub(crate) fn text(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    /// Adds a map's entries in key order (`each` adds one), then an empty value.
    pub(crate) fn sorted<K: Ord, V>(
        &mut self,
        entries: impl IntoIterator<Item = (K, V)>,
        mut each: impl FnMut(&mut Self, K, V),
    ) -> &mut Self {
        let mut entries: Vec<(K, V)> = entries.into_iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (k, v) in entries {
            each(self, k, v);
        }
        self.bytes(b"")
    }

    /// The context's bytes.
    pub(crate) fn finish(&self) -> Vec<u8> {
        self.0.finalize().as_bytes().to_vec()
    }
}

/// Adds a database column's value to a row's fingerprint ([`model::ChatSink::source_row`]).
pub(crate) fn fingerprint_value(fp: &mut model::RowFingerprint, v: rusqlite::types::ValueRef<'_>) {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => fp.opt_bytes(None),
        ValueRef::Integer(i) => fp.int(i),
        ValueRef::Real(f) => fp.opt_bytes(Some(&f.to_bits().to_le_bytes())).int(0),
        ValueRef::Text(b) | ValueRef::Blob(b) => fp.bytes(b),
    };
}

pub(crate) fn walk_files(root: &Path, max_depth: usize, visit: &mut dyn FnMut(&str, usize, &Path)) {
    fn walk(dir: &Path, level: usize, max_depth: usize, visit: &mut dyn FnMut(&str, usize, &Path)) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        let mut list: Vec<_> = entries.filter_map(|e| e.ok()).collect();
        list.sort_by_key(|e| e.file_name());
        for e in list {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_file() {
                visit(&e.file_name().to_string_lossy(), level, &e.path());
            } else if ft.is_dir() && level < max_depth {
                walk(&e.path(), level + 1, max_depth, visit);
            }
        }
    }
    if root.is_file() {
        if let Some(n) = root.file_name() {
            visit(&n.to_string_lossy(), 0, root);
        }
        return;
    }
    walk(root, 0, max_depth, visit);
}

/// Regular files under `root` (at most `max_depth` levels down) whose name satisfies `pred`,
/// sorted. Symbolic links are not followed.
pub(crate) fn find_files(
    root: &Path,
    pred: impl Fn(&str) -> bool,
    max_depth: usize,
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk_files(root, max_depth, &mut |name, _, path| {
        if pred(name) {
            out.push(path.to_path_buf());
        }
    });
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
