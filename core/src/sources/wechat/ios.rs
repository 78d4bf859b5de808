//! WeChat for iOS: `Documents/<md5(own username)>/DB/MM.sqlite` and `message_<n>.sqlite`
//! (one `Chat_<md5(peer)>` table per conversation), `WCDB_Contact.sqlite`, media folders;
//! from the app container or a folder laid out by path, or from an iTunes/Finder backup
//! (plain or encrypted, feature `iphone-backup`: domain `AppDomain-com.tencent.xin`, read
//! through [`crate::sources::iphone_backup`]). Every account found is read; media paths are
//! those of the stored files (`xx/<fileID>` in a backup), relative to the export's root.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::android::md5_hex;
use super::message::{assemble, Row, Senders, SystemLines};
use super::sqlite::SourceDb;
use super::xml::{Xml, MAX_LIST_VALUES};
use super::{contact_kind, conversation_kind};
use crate::error::{Error, Result};
#[cfg(feature = "iphone-backup")]
use crate::sources::iphone_backup;
use crate::sources::model::{
    Account, ChatSink, Contact, Conversation, MediaKind, MediaRef, Message, MessageKind, Timestamp,
};
use crate::sources::protobuf;
use crate::sources::{find_files, rel_path, ReadOutcome, Source, SourceKind, SourceOptions};

/// Opens one of an account's databases for reading (with its `-wal`, beside it or `wal`),
/// writing nothing beside it.
fn open(path: &Path, wal: Option<&Path>, work_dir: Option<&Path>) -> Result<SourceDb> {
    let c = super::sqlite::open(path, wal, work_dir)?;
    c.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| Error::source_db(path, e))?;
    Ok(c)
}

/// Fields 1 (nickname), 2 (alias) and 3 (remark) of WeChat's contact protobuf
/// (`dbContactRemark`).
pub(crate) fn remark_fields(buf: &[u8]) -> [String; 3] {
    [1, 2, 3].map(|n| utf8_field(buf, n))
}

/// Field `n` of `buf` as text (empty when absent or malformed).
fn utf8_field(buf: &[u8], n: u64) -> String {
    protobuf::bytes_at(buf, &[n])
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// A group's `dbContactChatRoom` protobuf: its members (field 1, `;`-separated, else those
/// of field 6) and the names members gave themselves in the group (field 6,
/// `<RoomData><Member UserName="…"><DisplayName>…</DisplayName></Member>…`).
pub(crate) fn room_fields(buf: &[u8]) -> (Vec<String>, HashMap<String, String>) {
    let mut members: Vec<String> = utf8_field(buf, 1)
        .split(';')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
    let room = Xml::parse_bounded(&utf8_field(buf, 6), MAX_LIST_VALUES);
    let mut nicknames = HashMap::new();
    for m in room.each("RoomData/Member") {
        let Some(user) = m.text("Member@UserName") else {
            continue;
        };
        if let Some(name) = m
            .text("Member/DisplayName")
            .or_else(|| m.text("Member@DisplayName"))
        {
            nicknames.insert(user.clone(), name);
        }
        if !members.contains(&user) {
            members.push(user);
        }
    }
    (members, nicknames)
}

/// The accounts `Documents/LoginInfo2.dat` names: md5(username) (the account's folder) →
/// (username, display name). Field 1 holds the records one after another, each a varint
/// length then a message whose field 1 is the username and field 3 the display name.
pub(crate) fn login_accounts(buf: &[u8]) -> HashMap<String, (String, String)> {
    let mut out = HashMap::new();
    for list in protobuf::all_bytes(buf, 1) {
        let mut rest = list;
        while let Some((len, after)) = protobuf::read_varint(rest) {
            let Some(rec) = usize::try_from(len).ok().and_then(|n| after.get(..n)) else {
                break;
            };
            rest = &after[rec.len()..];
            let user = utf8_field(rec, 1);
            if !user.is_empty() {
                let name = utf8_field(rec, 3);
                out.insert(md5_hex(user.as_bytes()), (user, name));
            }
        }
    }
    out
}

/// How deep below an export's root `MM.sqlite` may lie.
pub(crate) const DEPTH: usize = 6;
/// The main database's name.
pub(crate) const DATABASE: &str = "MM.sqlite";
/// The contacts database's name.
const CONTACTS: &str = "WCDB_Contact.sqlite";
/// The file in `Documents/` naming the accounts signed in on the phone.
const LOGIN_INFO: &str = "LoginInfo2.dat";
/// WeChat's domain in an iPhone backup.
#[cfg(feature = "iphone-backup")]
pub(crate) const BACKUP_DOMAIN: &str = "AppDomain-com.tencent.xin";
/// WeChat's bundle id (a key of `Applications` in a backup's `Manifest.plist`).
#[cfg(feature = "iphone-backup")]
const BUNDLE_ID: &str = "com.tencent.xin";

fn is_message_db(name: &str) -> bool {
    name.starts_with("message_") && name.ends_with(".sqlite")
}

/// A WeChat iOS export: where its accounts' databases are, found once.
pub(crate) struct Export {
    root: PathBuf,
    place: Place,
    /// Only this account (username or folder name), if the caller picked one.
    account: Option<String>,
}

/// Whether the account whose folder is `folder` (md5 of its username) is `wanted` (a
/// username or a folder name).
fn is_account(folder: &str, wanted: &str) -> bool {
    folder.eq_ignore_ascii_case(wanted) || folder.eq_ignore_ascii_case(&md5_hex(wanted.as_bytes()))
}

/// The error for an `--account` that is none of `folders` (named, where `logins` knows
/// them, by username and display name).
fn no_such_account(
    root: &Path,
    wanted: &str,
    folders: &[String],
    logins: &HashMap<String, (String, String)>,
) -> Error {
    let known: Vec<String> = folders
        .iter()
        .map(|f| match logins.get(f) {
            Some((user, name)) if !name.is_empty() => format!("{user} ({name})"),
            Some((user, _)) => user.clone(),
            None => f.clone(),
        })
        .collect();
    Error::InvalidArgument(format!(
        "no WeChat account {wanted:?} in {}; it holds: {}",
        root.display(),
        known.join(", ")
    ))
}

enum Place {
    /// A plain folder (an app container, or a backup's files laid out by path): each
    /// account's `MM.sqlite`.
    Folder {
        /// Each account's `MM.sqlite`.
        found: Vec<PathBuf>,
        /// Where a database with a log is copied to be read (private, removed after).
        work_dir: Option<PathBuf>,
    },
    /// An iTunes/Finder backup, opened (and for an encrypted one, unlocked) when read.
    #[cfg(feature = "iphone-backup")]
    Backup {
        password: Option<zeroize::Zeroizing<String>>,
        work_dir: Option<PathBuf>,
    },
}

impl Export {
    /// The export at `root` whose `MM.sqlite` files are `found`; fails if there is none.
    pub(crate) fn new(root: &Path, found: Vec<PathBuf>, options: &SourceOptions) -> Result<Self> {
        if found.is_empty() {
            return Err(Error::Source {
                path: root.into(),
                reason: "no Documents/<account>/DB/MM.sqlite found".into(),
            });
        }
        Ok(Export {
            root: root.to_path_buf(),
            place: Place::Folder {
                found,
                work_dir: options.work_dir.clone(),
            },
            account: options.wechat_account.clone(),
        })
    }

    /// The iPhone backup at `root`. A plain backup must hold a WeChat account now; an
    /// encrypted one is unlocked (with `options.iphone_backup_password`) when read.
    #[cfg(feature = "iphone-backup")]
    pub(crate) fn from_backup(root: &Path, options: &SourceOptions) -> Result<Self> {
        let info = iphone_backup::read_manifest_plist(root)?;
        if !info.encrypted && !backup_has_wechat(root)? {
            return Err(Error::Source {
                path: root.into(),
                reason: format!(
                    "the iPhone backup holds no WeChat account ({BACKUP_DOMAIN}: Documents/<account>/DB/MM.sqlite)"
                ),
            });
        }
        Ok(Export {
            root: root.to_path_buf(),
            place: Place::Backup {
                password: options
                    .iphone_backup_password
                    .clone()
                    .map(zeroize::Zeroizing::new),
                work_dir: options.work_dir.clone(),
            },
            account: options.wechat_account.clone(),
        })
    }
}

/// Whether the iPhone backup at `root` holds WeChat: a plain one, an account's
/// `MM.sqlite` in its index; an encrypted one (whose index needs the password), WeChat
/// among the applications `Manifest.plist` lists.
#[cfg(feature = "iphone-backup")]
pub(crate) fn backup_has_wechat(root: &Path) -> Result<bool> {
    let info = iphone_backup::read_manifest_plist(root)?;
    if info.encrypted {
        return Ok(info.applications.contains(BUNDLE_ID));
    }
    let backup = iphone_backup::Backup::open(root, None, None)?;
    let entries = backup.entries(BACKUP_DOMAIN, "Documents/")?;
    Ok(!backup_accounts(&entries).is_empty())
}

/// The accounts (`Documents/<account>/DB/MM.sqlite` files) among a backup's entries.
#[cfg(feature = "iphone-backup")]
fn backup_accounts(entries: &[iphone_backup::Entry]) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e.flags == iphone_backup::manifest::FLAG_FILE)
        .filter_map(|e| {
            let rest = e.relative_path.strip_prefix("Documents/")?;
            let acct = rest.strip_suffix("/DB/MM.sqlite")?;
            (!acct.is_empty() && !acct.contains('/')).then(|| acct.to_string())
        })
        .collect()
}

impl Source for Export {
    fn kind(&self) -> SourceKind {
        SourceKind::WeChatIos
    }

    fn read(self: Box<Self>, sink: &mut dyn ChatSink) -> Result<ReadOutcome> {
        match self.place {
            Place::Folder { found, work_dir } => {
                let mut accounts: Vec<AccountFiles> = found
                    .into_iter()
                    .map(|mm| AccountFiles::in_folder(&self.root, mm, work_dir.clone()))
                    .collect();
                if let Some(wanted) = &self.account {
                    let folders: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
                    accounts.retain(|a| is_account(&a.id, wanted));
                    if accounts.is_empty() {
                        let logins = folder_logins(&self.root);
                        return Err(no_such_account(&self.root, wanted, &folders, &logins));
                    }
                }
                let qualify = accounts.len() > 1;
                for (i, a) in accounts.iter().enumerate() {
                    read_account(a, i == 0, qualify, sink)?;
                }
            }
            #[cfg(feature = "iphone-backup")]
            Place::Backup { password, work_dir } => {
                read_backup(
                    &self.root,
                    password.as_deref().map(String::as_str),
                    work_dir.as_deref(),
                    self.account.as_deref(),
                    sink,
                )?;
            }
        }
        Ok(ReadOutcome::default())
    }
}

/// Reads every WeChat account of the iPhone backup at `root`: a plain backup's databases in
/// place, an encrypted one's decrypted one account at a time into a private folder.
#[cfg(feature = "iphone-backup")]
fn read_backup(
    root: &Path,
    password: Option<&str>,
    work_dir: Option<&Path>,
    wanted: Option<&str>,
    sink: &mut dyn ChatSink,
) -> Result<()> {
    use iphone_backup::manifest::FLAG_FILE;
    let backup = iphone_backup::Backup::open(root, password, work_dir)?;
    let entries = backup.entries(BACKUP_DOMAIN, "Documents/")?;
    let accounts = backup_accounts(&entries);
    if accounts.is_empty() {
        return Err(Error::Source {
            path: root.into(),
            reason: format!(
                "the iPhone backup holds no WeChat account ({BACKUP_DOMAIN}: Documents/<account>/DB/MM.sqlite)"
            ),
        });
    }
    let mut logins = match entries
        .iter()
        .find(|e| e.flags == FLAG_FILE && e.relative_path == format!("Documents/{LOGIN_INFO}"))
    {
        Some(e) => {
            let read = backup
                .local(e, LOGIN_INFO)
                .and_then(|p| std::fs::read(&p).map_err(|err| Error::io("read", &p, err)));
            backup.forget(e);
            match read {
                Ok(b) => login_accounts(&b),
                Err(err) => {
                    sink.warning(format!(
                        "{LOGIN_INFO} not read (accounts stay unnamed): {err}"
                    ));
                    HashMap::new()
                }
            }
        }
        None => HashMap::new(),
    };
    let mut accounts = accounts;
    if let Some(wanted) = wanted {
        let folders = accounts.clone();
        accounts.retain(|a| is_account(a, wanted));
        if accounts.is_empty() {
            return Err(no_such_account(root, wanted, &folders, &logins));
        }
    }
    let qualify = accounts.len() > 1;
    for (i, acct) in accounts.iter().enumerate() {
        let prefix = format!("Documents/{acct}/");
        let db_prefix = format!("{prefix}DB/");
        let mine: Vec<&iphone_backup::Entry> = entries
            .iter()
            .filter(|e| e.flags == FLAG_FILE && e.relative_path.starts_with(&prefix))
            .collect();
        let in_db = |e: &&iphone_backup::Entry| -> Option<String> {
            let name = e.relative_path.strip_prefix(&db_prefix)?;
            (!name.contains('/')).then(|| name.to_string())
        };
        let mut used = Vec::new();
        // A database's `-wal` is its own entry (`DB/MM.sqlite-wal`), stored apart.
        let wal_entry = |name: &str| {
            let wal_name = format!("{name}-wal");
            mine.iter()
                .copied()
                .find(|e| in_db(e).as_deref() == Some(wal_name.as_str()))
        };
        let local_wal = |name: &str, used: &mut Vec<_>| -> Result<Option<PathBuf>> {
            let Some(e) = wal_entry(name) else {
                return Ok(None);
            };
            used.push(e);
            Ok(Some(backup.local(e, &format!("{name}-wal"))?))
        };
        let mut databases = Vec::new();
        let mut contacts = None;
        // MM.sqlite first, then message_<n>.sqlite in path order.
        for want_main in [true, false] {
            for e in &mine {
                let Some(name) = in_db(e) else { continue };
                let take = if want_main {
                    name == DATABASE
                } else {
                    is_message_db(&name)
                };
                if take {
                    let wal = local_wal(&name, &mut used)?;
                    databases.push(DbFile {
                        path: backup.local(e, &name)?,
                        wal,
                    });
                    used.push(*e);
                }
            }
        }
        if let Some(e) = mine.iter().find(|e| in_db(e).as_deref() == Some(CONTACTS)) {
            let wal = local_wal(CONTACTS, &mut used)?;
            contacts = Some(DbFile {
                path: backup.local(e, CONTACTS)?,
                wal,
            });
            used.push(*e);
        }
        let session_rel = format!("{prefix}session/session.db");
        let session = match mine.iter().find(|e| e.relative_path == session_rel) {
            Some(e) => {
                let wal_rel = format!("{session_rel}-wal");
                let wal = match mine.iter().find(|w| w.relative_path == wal_rel) {
                    Some(w) => {
                        used.push(*w);
                        Some(backup.local(w, "session.db-wal")?)
                    }
                    None => None,
                };
                used.push(*e);
                Some(DbFile {
                    path: backup.local(e, "session.db")?,
                    wal,
                })
            }
            None => None,
        };
        let mut stored = HashMap::new();
        let mut keys = HashMap::new();
        let mut unreadable = 0u64;
        for e in &mine {
            let (Some(rel), Some(at)) = (e.relative_path.strip_prefix(&prefix), e.stored_rel())
            else {
                continue;
            };
            match backup.media_key(e) {
                Ok(Some(key)) => {
                    keys.insert(at.clone(), key);
                }
                Ok(None) => {}
                Err(_) => unreadable += 1,
            }
            stored.insert(rel.to_string(), at);
        }
        if unreadable > 0 {
            sink.warning(format!(
                "{unreadable} files of account {acct} have no readable key in the backup's index: \
                 they are kept as stored (encrypted) and will not open after a restore"
            ));
        }
        let account = AccountFiles {
            id: acct.clone(),
            databases,
            contacts,
            session,
            owner: logins.remove(acct),
            contacts_name: format!("{BACKUP_DOMAIN}/{db_prefix}{CONTACTS}"),
            media: Media::Backup { stored, keys },
            work_dir: work_dir.map(Path::to_path_buf),
        };
        let read = read_account(&account, i == 0, qualify, sink);
        for e in used {
            backup.forget(e);
        }
        read?;
    }
    Ok(())
}

/// A readable database and, where it is not beside it, its `-wal`.
struct DbFile {
    path: PathBuf,
    wal: Option<PathBuf>,
}

impl DbFile {
    /// A database of a folder, its `-wal` beside it (if any).
    fn beside(path: PathBuf) -> DbFile {
        DbFile { path, wal: None }
    }

    /// Opens it for reading (see [`super::sqlite`]).
    fn open(&self, work_dir: Option<&Path>) -> Result<SourceDb> {
        open(&self.path, self.wal.as_deref(), work_dir)
    }
}

/// One account's files, wherever they are.
struct AccountFiles {
    /// The account's folder name (md5 of its username).
    id: String,
    /// Readable `MM.sqlite`, then `message_<n>.sqlite`.
    databases: Vec<DbFile>,
    /// Readable `WCDB_Contact.sqlite`, if there is one.
    contacts: Option<DbFile>,
    /// Readable `session/session.db`, if there is one.
    session: Option<DbFile>,
    /// The account's username and display name, from `Documents/LoginInfo2.dat`.
    owner: Option<(String, String)>,
    /// Where private copies of databases with a `-wal` go (default: the system's
    /// temporary folder).
    work_dir: Option<PathBuf>,
    /// How to name the contacts database in a warning.
    contacts_name: String,
    /// Where its media are.
    media: Media,
}

/// Where an account's media are.
enum Media {
    /// In the account's folder (`dir`, at `rel` below the export's root).
    Folder { dir: PathBuf, rel: String },
    /// In a backup: stored path (`xx/<fileID>`, below the backup's root) by path below the
    /// account's folder, and in an encrypted backup each stored file's key.
    #[cfg(feature = "iphone-backup")]
    Backup {
        stored: HashMap<String, String>,
        keys: HashMap<String, crate::sources::model::MediaKey>,
    },
}

impl Media {
    /// The model's path of the account's file `rel` and whether it is present.
    fn file(&self, rel: String) -> (String, bool) {
        match self {
            Media::Folder { dir, rel: acct } => {
                let present = dir.join(&rel).is_file();
                let path = if acct.is_empty() {
                    rel
                } else {
                    format!("{acct}/{rel}")
                };
                (path, present)
            }
            #[cfg(feature = "iphone-backup")]
            Media::Backup { stored, .. } => match stored.get(&rel) {
                Some(s) => (s.clone(), true),
                None => (rel, false),
            },
        }
    }

    /// Hands `sink` the keys of `message`'s media and thumbnail where they are stored
    /// encrypted (an encrypted backup's files).
    fn report_keys(&self, message: &Message, sink: &mut dyn ChatSink) -> Result<()> {
        #[cfg(feature = "iphone-backup")]
        if let (Media::Backup { keys, .. }, Some(m)) = (self, &message.media) {
            for path in std::iter::once(&m.path).chain(m.thumbnail.as_ref()) {
                if let Some(key) = keys.get(path) {
                    sink.media_key(path, key)?;
                }
            }
        }
        let _ = (message, sink);
        Ok(())
    }
}

/// The accounts `Documents/LoginInfo2.dat` names in a folder export (none when it is
/// missing).
fn folder_logins(root: &Path) -> HashMap<String, (String, String)> {
    find_files(root, |n| n == LOGIN_INFO, DEPTH)
        .first()
        .and_then(|p| std::fs::read(p).ok())
        .map(|b| login_accounts(&b))
        .unwrap_or_default()
}

impl AccountFiles {
    /// The account whose `MM.sqlite` is `mm`, in a folder export rooted at `root`.
    fn in_folder(root: &Path, mm: PathBuf, work_dir: Option<PathBuf>) -> AccountFiles {
        let db_dir = mm.parent().unwrap_or(root).to_path_buf();
        let account_dir = db_dir.parent().unwrap_or(root).to_path_buf();
        let mut databases = vec![DbFile::beside(mm)];
        databases.extend(
            find_files(&db_dir, is_message_db, 0)
                .into_iter()
                .map(DbFile::beside),
        );
        let contacts = db_dir.join(CONTACTS);
        let session = account_dir.join("session").join("session.db");
        let id = account_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let owner = account_dir
            .parent()
            .and_then(|docs| std::fs::read(docs.join(LOGIN_INFO)).ok())
            .and_then(|b| login_accounts(&b).remove(&id));
        AccountFiles {
            id,
            session: session.is_file().then(|| DbFile::beside(session)),
            owner,
            databases,
            contacts_name: contacts.display().to_string(),
            contacts: contacts.is_file().then(|| DbFile::beside(contacts)),
            work_dir,
            media: Media::Folder {
                rel: rel_path(root, &account_dir),
                dir: account_dir,
            },
        }
    }
}

/// What an account's contacts and sessions say.
#[derive(Default)]
struct People {
    /// md5(username) → (username, display name): what names a `Chat_<md5>` table.
    by_hash: HashMap<String, (String, String)>,
    /// Group → its members' usernames.
    members: HashMap<String, Vec<String>>,
    /// Group → member → the name the member gave themself there (only members the user
    /// gave no remark: a remark wins, as in WeChat).
    group_names: HashMap<String, HashMap<String, String>>,
}

impl People {
    /// Reads `Friend` and `OpenIMContact` (WeChat Work contacts, the same columns) of the
    /// contacts database, passing each contact to `sink`.
    fn read_contacts(&mut self, c: &SourceDb, db: &Path, sink: &mut dyn ChatSink) -> Result<()> {
        let mut remarked = std::collections::HashSet::new();
        let mut rooms = HashMap::new();
        for table in ["Friend", "OpenIMContact"] {
            let columns = table_columns(c, db, table)?;
            if columns.is_empty() {
                continue;
            }
            let col = |name: &str| {
                if columns.iter().any(|c| c.eq_ignore_ascii_case(name)) {
                    name.to_string()
                } else {
                    "NULL".to_string()
                }
            };
            let sql = format!(
                "SELECT userName, {}, {} FROM {table}",
                col("dbContactRemark"),
                col("dbContactChatRoom")
            );
            let mut st = c.prepare(&sql).map_err(|e| Error::source_db(db, e))?;
            let mut rows = st.query([]).map_err(|e| Error::source_db(db, e))?;
            while let Some(r) = rows.next().map_err(|e| Error::source_db(db, e))? {
                let id: String = r.get(0).unwrap_or_default();
                if id.is_empty() {
                    continue;
                }
                let blob = |i: usize| -> Vec<u8> {
                    r.get::<_, Option<Vec<u8>>>(i)
                        .ok()
                        .flatten()
                        .unwrap_or_default()
                };
                let [nickname, alias, remark] = remark_fields(&blob(1));
                if !remark.is_empty() {
                    remarked.insert(id.clone());
                }
                if id.ends_with("@chatroom") {
                    rooms.insert(id.clone(), room_fields(&blob(2)));
                }
                let name = [&remark, &nickname, &id]
                    .into_iter()
                    .find(|s| !s.is_empty())
                    .cloned()
                    .unwrap_or_default();
                let kind = contact_kind(&id, false);
                self.by_hash
                    .insert(md5_hex(id.as_bytes()), (id.clone(), name.clone()));
                sink.contact(&Contact {
                    id,
                    name,
                    nickname,
                    remark,
                    alias,
                    kind,
                })?;
            }
        }
        for (room, (members, mut names)) in rooms {
            names.retain(|m, n| !n.is_empty() && !remarked.contains(m));
            if !names.is_empty() {
                self.group_names.insert(room.clone(), names);
            }
            if !members.is_empty() {
                self.members.insert(room, members);
            }
        }
        Ok(())
    }

    /// Adds the peers of `session.db`'s sessions (`SessionAbstract.UsrName`) that are not
    /// contacts (people met in groups, strangers, closed WeChat Work chats): their chats are
    /// then named by username, not by hash.
    fn read_sessions(&mut self, c: &SourceDb, db: &Path) -> Result<()> {
        if table_columns(c, db, "SessionAbstract")?.is_empty() {
            return Ok(());
        }
        let mut st = c
            .prepare("SELECT UsrName FROM SessionAbstract")
            .map_err(|e| Error::source_db(db, e))?;
        let mut rows = st.query([]).map_err(|e| Error::source_db(db, e))?;
        while let Some(r) = rows.next().map_err(|e| Error::source_db(db, e))? {
            let user: String = r
                .get::<_, Option<String>>(0)
                .ok()
                .flatten()
                .unwrap_or_default();
            if !user.is_empty() {
                self.by_hash
                    .entry(md5_hex(user.as_bytes()))
                    .or_insert_with(|| (user.clone(), user));
            }
        }
        Ok(())
    }
}

/// The columns of `table` (none when there is no such table).
fn table_columns(c: &SourceDb, db: &Path, table: &str) -> Result<Vec<String>> {
    let mut st = c
        .prepare("SELECT name FROM pragma_table_info(?1)")
        .map_err(|e| Error::source_db(db, e))?;
    let rows = st
        .query_map([table], |r| r.get::<_, String>(0))
        .map_err(|e| Error::source_db(db, e))?;
    Ok(rows.filter_map(|r| r.ok()).collect())
}

/// Reads one account: its contacts and sessions, then every conversation table of its
/// databases. The first account read is the export's owner; with several (`qualify`),
/// conversation ids are `<account>:<peer>` so that accounts talking to the same peer stay
/// apart.
fn read_account(
    acct: &AccountFiles,
    first: bool,
    qualify: bool,
    sink: &mut dyn ChatSink,
) -> Result<()> {
    if first {
        sink.account(&Account {
            id: acct.id.clone(),
            name: acct
                .owner
                .as_ref()
                .map(|(_, n)| n.clone())
                .unwrap_or_default(),
        })?;
    }

    let mut people = People::default();
    match &acct.contacts {
        Some(f) => people.read_contacts(&f.open(acct.work_dir.as_deref())?, &f.path, sink)?,
        None => sink.warning(format!(
            "{} is missing: conversations are named by their hash",
            acct.contacts_name
        )),
    }
    if let Some(f) = &acct.session {
        people.read_sessions(&f.open(acct.work_dir.as_deref())?, &f.path)?;
    }
    let mut names: HashMap<String, String> = people.by_hash.values().cloned().collect();
    let me = acct.owner.as_ref().map(|(user, _)| user.as_str());
    if let Some((user, name)) = &acct.owner {
        if !name.is_empty() {
            names.insert(user.clone(), name.clone());
        }
    }
    let senders = Senders {
        names: &names,
        group_names: &people.group_names,
        me,
        system: SystemLines::ByKind,
    };

    for file in &acct.databases {
        let db = &file.path;
        let c = file.open(acct.work_dir.as_deref())?;
        let tables: Vec<String> = {
            let mut st = c
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'Chat\\_%' ESCAPE '\\' ORDER BY name")
                .map_err(|e| Error::source_db(db, e))?;
            let rows = st
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(|e| Error::source_db(db, e))?;
            rows.filter_map(|r| r.ok()).collect()
        };
        for table in tables {
            let hash = table.trim_start_matches("Chat_").to_string();
            if hash.len() != 32 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let (peer, name) = people
                .by_hash
                .get(&hash)
                .cloned()
                .unwrap_or_else(|| (format!("md5:{hash}"), hash.clone()));
            let kind = conversation_kind(&peer, me);
            let conversation_id = if qualify {
                format!("{}:{peer}", acct.id)
            } else {
                peer.clone()
            };
            sink.conversation(&Conversation {
                id: conversation_id.clone(),
                name,
                kind,
                members: people.members.get(&peer).cloned().unwrap_or_default(),
            })?;
            let sql = format!(
                "SELECT MesLocalID, MesSvrID, CreateTime, CAST(Message AS BLOB), Type, Des FROM \"{table}\" ORDER BY CreateTime, MesLocalID"
            );
            let mut st = c.prepare(&sql).map_err(|e| Error::source_db(db, e))?;
            let mut rows = st.query([]).map_err(|e| Error::source_db(db, e))?;
            while let Some(r) = rows.next().map_err(|e| Error::source_db(db, e))? {
                let local: i64 = r.get(0).unwrap_or(0);
                let row = Row {
                    id: local,
                    server_id: r.get(1).unwrap_or(None),
                    time: Timestamp::Utc(
                        r.get::<_, Option<i64>>(2)
                            .unwrap_or(None)
                            .unwrap_or(0)
                            .saturating_mul(1000),
                    ),
                    content: r
                        .get_ref(3)
                        .ok()
                        .and_then(|v| v.as_bytes_or_null().ok().flatten())
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .unwrap_or_default(),
                    ty: r.get(4).unwrap_or(0),
                    from_me: r.get::<_, Option<i64>>(5).unwrap_or(None) == Some(0),
                    conversation: peer.clone(),
                };
                let mut message = assemble(row, &senders, |d, body| {
                    media_for(&acct.media, &hash, local, d.kind, body)
                });
                if qualify {
                    message.conversation = conversation_id.clone();
                }
                acct.media.report_keys(&message, sink)?;
                sink.message(message)?;
            }
        }
    }
    Ok(())
}

fn media_for(
    media: &Media,
    hash: &str,
    local: i64,
    kind: MessageKind,
    body: &str,
) -> Option<MediaRef> {
    let file = |rel: String| media.file(rel);
    let (main, thumb, mk) = match kind {
        MessageKind::Image => {
            let (hd, hd_ok) = file(format!("Img/{hash}/{local}.pic_hd"));
            let (pic, pic_ok) = file(format!("Img/{hash}/{local}.pic"));
            let main = if hd_ok { (hd, true) } else { (pic, pic_ok) };
            (
                main,
                Some(format!("Img/{hash}/{local}.pic_thum")),
                MediaKind::Image,
            )
        }
        MessageKind::Voice => (
            file(format!("Audio/{hash}/{local}.aud")),
            None,
            MediaKind::Audio,
        ),
        MessageKind::Video => (
            file(format!("Video/{hash}/{local}.mp4")),
            Some(format!("Video/{hash}/{local}.video_thum")),
            MediaKind::Video,
        ),
        MessageKind::File => {
            let x = super::xml::Xml::parse(body);
            let ext = x
                .text("appattach/fileext")
                .filter(|e| e.chars().all(|c| c.is_ascii_alphanumeric()))
                .unwrap_or_default();
            (
                file(format!("OpenData/{hash}/{local}.{ext}")),
                None,
                MediaKind::File,
            )
        }
        _ => return None,
    };
    let thumbnail = thumb.map(file).filter(|(_, ok)| *ok).map(|(p, _)| p);
    Some(MediaRef {
        path: main.0,
        kind: mk,
        present: main.1,
        thumbnail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_remark_fields() {
        // field 1 "Nick", field 2 "al", field 3 "备注", plus a varint field 4 to skip.
        let mut b = vec![0x0a, 4];
        b.extend_from_slice(b"Nick");
        b.extend_from_slice(&[0x12, 2]);
        b.extend_from_slice(b"al");
        b.extend_from_slice(&[0x20, 0x96, 0x01]);
        let r = "备注".as_bytes();
        b.extend_from_slice(&[0x1a, r.len() as u8]);
        b.extend_from_slice(r);
        assert_eq!(
            remark_fields(&b),
            ["Nick".to_string(), "al".into(), "备注".into()]
        );
        // Truncated and garbage input never panics.
        for cut in 0..b.len() {
            let _ = remark_fields(&b[..cut]);
        }
        let _ = remark_fields(&[0xff; 20]);
        let _ = remark_fields(&[
            0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ]);
    }
}
