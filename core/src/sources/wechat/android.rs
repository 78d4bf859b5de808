//! WeChat for Android: `EnMicroMsg.db` (plain or SQLCipher-1 encrypted), contacts, groups,
//! messages and their media files.
//!
//! The encrypted database is opened read-only through SQLCipher: pages are decrypted in
//! memory, no decrypted copy ever touches the disk (temporary tables are kept in memory too).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use rusqlite::types::ValueRef;
use rusqlite::Connection;

use super::android_media::{external_folder, Roots};
use super::message::{assemble, file_kind_of_type, Decoded, Row, Senders, SystemLines};
use super::sqlite::{Snapshot, SourceDb};
use super::{contact_kind, conversation_kind};
use crate::error::{Error, Result};
use crate::sources::model::{
    Account, ChatSink, Contact, Conversation, MediaKind, MediaRef, MessageKind, Timestamp,
};
use crate::sources::{
    fingerprint_value, ReadOutcome, RowsContext, Source, SourceKind, SourceOptions,
};

/// The IMEI many devices use in the key derivation.
pub const DEFAULT_IMEI: &str = "1234567890ABCDEF";
/// EnMicroMsg.db's page size (SQLCipher 1 default).
pub const PAGE_SIZE: u32 = 1024;

/// Lowercase hex md5 of `s`.
pub(crate) fn md5_hex(s: &[u8]) -> String {
    hex::encode(Md5::digest(s))
}

/// The database key WeChat derives from a device id and the account's uin.
pub fn derive_key(imei: &str, uin: &str) -> String {
    md5_hex(format!("{imei}{uin}").as_bytes())[..7].to_string()
}

/// A key to try, and how to name it to the user without revealing it.
struct Candidate {
    key: String,
    label: String,
}

/// `shared_prefs` files that hold the account's uin, and the key each names it by.
const PREFS: [(&str, &str); 3] = [
    ("system_config_prefs.xml", "default_uin"),
    ("auth_info_key_prefs.xml", "auth_uin"),
    ("com.tencent.mm_preferences.xml", "last_login_uin"),
];

/// How deep below an export's root WeChat Android's files may lie.
pub(crate) const DEPTH: usize = 5;

/// WeChat Android's files in an export, found by name in the one walk of its tree.
#[derive(Debug, Default)]
pub(crate) struct Files {
    /// `EnMicroMsg.db`, one per account.
    databases: Vec<PathBuf>,
    /// The [`PREFS`] files, in that order.
    prefs: [Vec<PathBuf>; 3],
    /// `CompatibleInfo.cfg` (device ids).
    compatible_info: Vec<PathBuf>,
    /// `MicroMsg/systemInfo.cfg` (the uin, key 1 of a Java-serialized map).
    system_info: Vec<PathBuf>,
    /// `shared_prefs/DENGTA_META.xml` (the IMEI, `IMEI_DENGTA`).
    dengta: Vec<PathBuf>,
}

impl Files {
    /// Keeps the file `name` at `path`, `level` folders below the export's root, if it is
    /// one of WeChat Android's.
    pub(crate) fn offer(&mut self, name: &str, level: usize, path: &Path) {
        if level > DEPTH {
            return;
        }
        if name == "EnMicroMsg.db" {
            self.databases.push(path.to_path_buf());
        } else if let Some(i) = PREFS.iter().position(|(file, _)| *file == name) {
            self.prefs[i].push(path.to_path_buf());
        } else if name == "CompatibleInfo.cfg" && level < DEPTH {
            // (`MicroMsg/CompatibleInfo.cfg`: looked for one level less deep.)
            self.compatible_info.push(path.to_path_buf());
        } else if name == "systemInfo.cfg" && level < DEPTH {
            self.system_info.push(path.to_path_buf());
        } else if name == "DENGTA_META.xml" {
            self.dengta.push(path.to_path_buf());
        }
    }

    /// Whether an account database was found.
    pub(crate) fn has_database(&self) -> bool {
        !self.databases.is_empty()
    }
}

/// The values of the entries named `key` in an Android shared-preferences file:
/// `<int name="KEY" value="..."/>` or `<string name="KEY">...</string>`.
fn pref_values(path: &Path, key: &str) -> Vec<String> {
    let Ok(text) = fs::read_to_string(path) else {
        return Vec::new();
    };
    let x = super::xml::Xml::parse(&text);
    let pairs = x.pairs();
    let mut out = Vec::new();
    for (i, (p, v)) in pairs.iter().enumerate() {
        let Some(base) = p.strip_suffix("@name") else {
            continue;
        };
        if v != key {
            continue;
        }
        let value_path = format!("{base}@value");
        if let Some((_, val)) = pairs[i + 1..]
            .iter()
            .take(4)
            .find(|(q, _)| *q == value_path || q == base)
        {
            out.push(val.trim().to_string());
        }
    }
    out
}

/// uins found in the `shared_prefs` files.
fn uins_from_prefs(prefs: &[Vec<PathBuf>; 3]) -> Vec<String> {
    let mut out = Vec::new();
    for ((_, key), paths) in PREFS.iter().zip(prefs) {
        for path in paths {
            for uin in pref_values(path, key) {
                push_unique(&mut out, uin);
            }
        }
    }
    out
}

/// Device ids that newer WeChat versions keep in `MicroMsg/CompatibleInfo.cfg` (a
/// Java-serialized map; the id is under key 258). Rather than deserializing Java objects,
/// every serialized string (`TC_STRING`, 0x74, u16 length) that looks like a device id is
/// taken as a candidate; wrong ones just fail the key check.
fn device_ids_from_compatible_info(files: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    for path in files {
        let Ok(bytes) = fs::read(path) else { continue };
        if bytes.len() > 1 << 20 {
            continue;
        }
        let mut i = 0;
        while i + 3 <= bytes.len() && out.len() < 16 {
            if bytes[i] == 0x74 {
                let len = usize::from(u16::from_be_bytes([bytes[i + 1], bytes[i + 2]]));
                if let Some(s) = bytes.get(i + 3..i + 3 + len) {
                    if (8..=64).contains(&len) && s.iter().all(u8::is_ascii_alphanumeric) {
                        push_unique(&mut out, String::from_utf8_lossy(s).into_owned());
                        i += 3 + len;
                        continue;
                    }
                }
            }
            i += 1;
        }
    }
    out
}

/// The uin WeChat keeps in `MicroMsg/systemInfo.cfg`: a Java-serialized
/// `HashMap<Integer, Object>` whose key 1 holds the uin as an `Integer`. Rather than
/// deserializing Java objects, the `Integer` objects are read in stream order (the first
/// carries its class description, ending with `java.lang.Number`'s, then its 4-byte
/// value; later ones refer back to it: `TC_OBJECT TC_REFERENCE <handle>` and the value);
/// the value after an `Integer` 1 is taken. Wrong candidates just fail the key check.
fn uins_from_system_info(files: &[PathBuf]) -> Vec<String> {
    const NUMBER: &[u8] = b"java.lang.Number";
    let mut out = Vec::new();
    for path in files {
        let Ok(bytes) = fs::read(path) else { continue };
        if bytes.len() > 1 << 20 {
            continue;
        }
        let Some(first) = bytes.windows(NUMBER.len()).position(|w| w == NUMBER) else {
            continue;
        };
        // java.lang.Number: name, 8-byte serialVersionUID, flags, 0 fields,
        // TC_ENDBLOCKDATA, TC_NULL (no superclass), then the first Integer's value.
        let read_int = |at: usize| {
            bytes
                .get(at..at + 4)
                .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        let mut at = first + NUMBER.len() + 8 + 1 + 2;
        if bytes.get(at..at + 2) != Some(&[0x78, 0x70]) {
            continue;
        }
        at += 2;
        let mut ints = Vec::new();
        if let Some(v) = read_int(at) {
            ints.push(v);
            at += 4;
        }
        // The Integer class description's handle: the one later Integers refer to.
        let mut handle = None;
        while at + 10 <= bytes.len() && ints.len() < 4096 {
            if bytes[at] == 0x73 && bytes[at + 1] == 0x71 {
                let h = &bytes[at + 2..at + 6];
                if handle.is_none() || handle == Some(h) {
                    if handle.is_none() && h[..2] == [0x00, 0x7e] {
                        handle = Some(h);
                    }
                    if handle == Some(h) {
                        if let Some(v) = read_int(at + 6) {
                            ints.push(v);
                        }
                        at += 10;
                        continue;
                    }
                }
            }
            at += 1;
        }
        for pair in ints.windows(2) {
            if pair[0] == 1 && pair[1] != 0 {
                push_unique(&mut out, pair[1].to_string());
            }
        }
    }
    out
}

/// IMEIs in `shared_prefs/DENGTA_META.xml` (`<string name="IMEI_DENGTA">…</string>`).
fn imeis_from_dengta(files: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    for path in files {
        for id in pref_values(path, "IMEI_DENGTA") {
            if (8..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                push_unique(&mut out, id);
            }
        }
    }
    out
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !s.is_empty() && !v.contains(&s) {
        v.push(s);
    }
}

/// The keys to try on the account's database, named by what they were derived from.
fn candidates(found: &Export, userdir_name: &str) -> Vec<Candidate> {
    let opts = &found.options;
    let mut out = Vec::new();
    if let Some(k) = &opts.wechat_key {
        out.push(Candidate {
            key: k.clone(),
            label: "the key given".into(),
        });
    }
    let mut uins = Vec::new();
    if let Some(u) = &opts.uin {
        push_unique(&mut uins, u.clone());
    }
    for u in &found.prefs_uins {
        push_unique(&mut uins, u.clone());
    }
    // The uin whose md5("mm" + uin) names this account's folder goes first.
    uins.sort_by_key(|u| md5_hex(format!("mm{u}").as_bytes()) != userdir_name);
    let mut imeis = opts.imeis.clone();
    for id in device_ids_from_compatible_info(&found.compatible_info) {
        push_unique(&mut imeis, id);
    }
    for id in imeis_from_dengta(&found.dengta) {
        push_unique(&mut imeis, id);
    }
    push_unique(&mut imeis, DEFAULT_IMEI.to_string());
    for uin in &uins {
        for imei in &imeis {
            out.push(Candidate {
                key: derive_key(imei, uin),
                label: format!("IMEI {} with uin {uin}", shown_imei(imei)),
            });
        }
    }
    out
}

/// An IMEI as messages may show it: with the account's uin it is all the key is made of,
/// so only its last four characters are shown (WeChat's well-known default in full).
fn shown_imei(imei: &str) -> String {
    if imei == DEFAULT_IMEI {
        return imei.to_string();
    }
    let n = imei.chars().count();
    imei.chars()
        .enumerate()
        .map(|(i, c)| if i + 4 < n { '•' } else { c })
        .collect()
}

/// Opens EnMicroMsg.db for reading, plain or with the first candidate key that works, its
/// `-wal` included and nothing written beside it ([`super::sqlite`]: a database with a log
/// is read from a private copy, still encrypted). Returns the connection and a description
/// of what opened it.
fn open_database(
    db: &Path,
    found: &Export,
    userdir_name: &str,
) -> Result<(SourceDb, Option<Candidate>)> {
    let head = {
        use std::io::Read;
        let mut f = fs::File::open(db).map_err(|e| Error::io("open", db, e))?;
        let mut h = [0u8; 16];
        let n = f.read(&mut h).map_err(|e| Error::io("read", db, e))?;
        h[..n].to_vec()
    };
    let len = fs::metadata(db)
        .map_err(|e| Error::io("stat", db, e))?
        .len();
    if len == 0 {
        return Err(Error::Source {
            path: db.into(),
            reason: "the database is empty (0 bytes)".into(),
        });
    }
    let snapshot = Snapshot::new(db, None, found.options.work_dir.as_deref())?;
    let open = || snapshot.connect();
    let probe = |c: &Connection| {
        c.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
    };
    if head.as_slice() == b"SQLite format 3\0" {
        let c = open()?;
        c.execute_batch("PRAGMA temp_store = MEMORY;")
            .map_err(|e| Error::source_db(db, e))?;
        probe(&c).map_err(|e| Error::source_db(db, e))?;
        return Ok((SourceDb::new(c, snapshot), None));
    }
    if len % u64::from(PAGE_SIZE) != 0 {
        return Err(Error::Source {
            path: db.into(),
            reason: format!(
                "the encrypted database is truncated ({len} bytes is not a whole number of {PAGE_SIZE}-byte pages)"
            ),
        });
    }
    let tried = candidates(found, userdir_name);
    if tried.is_empty() {
        return Err(Error::WrongKey {
            path: db.into(),
            tried: "nothing: give --wechat-key, or --uin (no uin was found in shared_prefs)".into(),
        });
    }
    for cand in &tried {
        let c = open()?;
        c.pragma_update(None, "key", &cand.key)
            .map_err(|e| Error::source_db(db, e))?;
        c.execute_batch("PRAGMA cipher_compatibility = 1; PRAGMA temp_store = MEMORY;")
            .map_err(|e| Error::source_db(db, e))?;
        if probe(&c).is_ok() {
            log::info!("{} opened with {}", db.display(), cand.label);
            return Ok((
                SourceDb::new(c, snapshot),
                Some(Candidate {
                    key: cand.key.clone(),
                    label: cand.label.clone(),
                }),
            ));
        }
    }
    Err(Error::WrongKey {
        path: db.into(),
        tried: tried
            .iter()
            .map(|c| c.label.as_str())
            .collect::<Vec<_>>()
            .join("; "),
    })
}

/// A WeChat Android export: the account database to read and what its key may be derived
/// from, found once.
pub(crate) struct Export {
    root: PathBuf,
    options: SourceOptions,
    /// The account database read.
    db: PathBuf,
    /// How many account databases there are.
    accounts: usize,
    /// uins found in `shared_prefs` and `systemInfo.cfg`.
    prefs_uins: Vec<String>,
    /// `CompatibleInfo.cfg` files (device ids).
    compatible_info: Vec<PathBuf>,
    /// `DENGTA_META.xml` files (IMEI).
    dengta: Vec<PathBuf>,
}

impl Export {
    /// The export at `root` with the `files` found in it; fails if it holds no account
    /// database.
    pub(crate) fn new(root: &Path, files: Files, options: &SourceOptions) -> Result<Self> {
        let mut prefs_uins = uins_from_prefs(&files.prefs);
        for u in uins_from_system_info(&files.system_info) {
            push_unique(&mut prefs_uins, u);
        }
        let db =
            pick_account(&files.databases, &prefs_uins, options).ok_or_else(|| Error::Source {
                path: root.into(),
                reason: "no MicroMsg/<account>/EnMicroMsg.db found".into(),
            })?;
        Ok(Export {
            root: root.to_path_buf(),
            options: options.clone(),
            db,
            accounts: files.databases.len(),
            prefs_uins,
            compatible_info: files.compatible_info,
            dengta: files.dengta,
        })
    }
}

impl Source for Export {
    fn kind(&self) -> SourceKind {
        SourceKind::WeChatAndroid
    }

    /// The database read, if it is encrypted (its first bytes are not SQLite's header);
    /// known without the key, so the backup can store it page by page while the reader is
    /// still at work.
    fn encrypted_databases(&self) -> Vec<(PathBuf, u32)> {
        use std::io::Read;
        let mut head = [0u8; 16];
        let Ok(n) = fs::File::open(&self.db).and_then(|mut f| f.read(&mut head)) else {
            return Vec::new();
        };
        if head[..n] == *b"SQLite format 3\0" {
            return Vec::new();
        }
        vec![(self.db.clone(), PAGE_SIZE)]
    }

    /// Reads the account's database; tells how it was opened if it was encrypted.
    fn read(self: Box<Self>, sink: &mut dyn ChatSink) -> Result<ReadOutcome> {
        let (root, db) = (self.root.as_path(), self.db.as_path());
        if self.accounts > 1 {
            sink.warning(format!(
                "{} accounts found; reading {} (pass its folder to read another)",
                self.accounts,
                db.display()
            ));
        }
        let userdir = db.parent().unwrap_or(root).to_path_buf();
        let userdir_name = userdir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (conn, opened) = open_database(db, &self, &userdir_name)?;
        let external = external_folder(root, &userdir);
        let r = Reader {
            conn: &conn,
            db,
            roots: Roots::new(root, &userdir, external.as_deref()),
            key: opened.as_ref().map(|c| c.key.as_str()),
            work_dir: self.options.work_dir.as_deref(),
        };
        if let Some(ext) = &external {
            log::info!("media also read from {}", ext.display());
        }
        r.run(sink)?;
        Ok(ReadOutcome {
            opened_with: opened.map(|c| c.label),
        })
    }
}

/// The account database to read: the one of a uin given or found in `shared_prefs`, else
/// the first.
fn pick_account(dbs: &[PathBuf], prefs_uins: &[String], opts: &SourceOptions) -> Option<PathBuf> {
    let mut uins: Vec<String> = opts.uin.iter().cloned().collect();
    uins.extend(prefs_uins.iter().cloned());
    for uin in &uins {
        let dir = md5_hex(format!("mm{uin}").as_bytes());
        if let Some(db) = dbs.iter().find(|d| {
            d.parent()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n.to_string_lossy() == dir)
        }) {
            return Some(db.clone());
        }
    }
    dbs.first().cloned()
}

struct Reader<'a> {
    conn: &'a Connection,
    db: &'a Path,
    /// Where the account's media may be.
    roots: Roots,
    /// The key that opened the database, if it is encrypted (`WxFileIndex.db` has the same).
    key: Option<&'a str>,
    /// Where private copies of databases with a `-wal` go.
    work_dir: Option<&'a Path>,
}

fn lossy(v: rusqlite::types::ValueRef<'_>) -> String {
    match v {
        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
            String::from_utf8_lossy(t).into_owned()
        }
        rusqlite::types::ValueRef::Integer(i) => i.to_string(),
        rusqlite::types::ValueRef::Real(f) => f.to_string(),
        rusqlite::types::ValueRef::Null => String::new(),
    }
}

impl Reader<'_> {
    fn err(&self, e: rusqlite::Error) -> Error {
        Error::source_db(self.db, e)
    }

    fn has_table(&self, name: &str) -> bool {
        self.conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [name],
                |_| Ok(()),
            )
            .is_ok()
    }

    /// `SELECT <columns> FROM <table>`, with NULL for columns this WeChat version lacks.
    fn select(&self, table: &str, columns: &[&str], rest: &str) -> Result<String> {
        let mut st = self
            .conn
            .prepare(&format!("PRAGMA table_info(\"{table}\")"))
            .map_err(|e| self.err(e))?;
        let have: Vec<String> = st
            .query_map([], |r| r.get::<_, String>(1))
            .map_err(|e| self.err(e))?
            .filter_map(|r| r.ok())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let cols: Vec<String> = columns
            .iter()
            .map(|c| {
                let (name, expr) = match c.rsplit_once(" AS ") {
                    Some((expr, name)) => (name, expr),
                    None => (*c, *c),
                };
                if have.contains(&name.to_ascii_lowercase()) {
                    expr.replace("$", name)
                } else {
                    "NULL".into()
                }
            })
            .collect();
        Ok(format!("SELECT {} FROM {table} {rest}", cols.join(", ")))
    }

    fn run(&self, sink: &mut dyn ChatSink) -> Result<()> {
        for t in ["message", "rcontact"] {
            if !self.has_table(t) {
                return Err(Error::Source {
                    path: self.db.into(),
                    reason: format!("not a WeChat database (no table {t:?})"),
                });
            }
        }
        let me = self.account(sink)?;
        let (names, remarked) = self.contacts(sink)?;
        self.conversations(sink, &names, &me.id)?;
        self.messages(sink, &names, &remarked, &me.id)
    }

    fn account(&self, sink: &mut dyn ChatSink) -> Result<Account> {
        let mut acc = Account::default();
        if self.has_table("userinfo") {
            let mut st = self
                .conn
                .prepare("SELECT id, value FROM userinfo WHERE id IN (2, 4)")
                .map_err(|e| self.err(e))?;
            let mut rows = st.query([]).map_err(|e| self.err(e))?;
            while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                let id: i64 = r.get(0).unwrap_or(0);
                let v = lossy(r.get_ref(1).map_err(|e| self.err(e))?);
                match id {
                    2 => acc.id = v,
                    _ => acc.name = v,
                }
            }
        }
        sink.account(&acc)?;
        Ok(acc)
    }

    /// Contacts; returns username -> display name, and the usernames the user gave a
    /// remark.
    fn contacts(
        &self,
        sink: &mut dyn ChatSink,
    ) -> Result<(HashMap<String, String>, std::collections::HashSet<String>)> {
        let mut names = HashMap::new();
        let mut remarked = std::collections::HashSet::new();
        let mut st = self
            .conn
            .prepare(&self.select(
                "rcontact",
                &["username", "alias", "conRemark", "nickname", "verifyFlag"],
                "",
            )?)
            .map_err(|e| self.err(e))?;
        let mut rows = st.query([]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let get = |i| r.get_ref(i).map(lossy).unwrap_or_default();
            let id = get(0);
            let remark = get(2);
            let nickname = get(3);
            let verify: i64 = r.get(4).unwrap_or(0);
            let kind = contact_kind(&id, verify != 0);
            let name = if !remark.is_empty() {
                remark.clone()
            } else if !nickname.is_empty() {
                nickname.clone()
            } else {
                id.clone()
            };
            names.insert(id.clone(), name.clone());
            if !remark.is_empty() {
                remarked.insert(id.clone());
            }
            sink.contact(&Contact {
                id,
                name,
                nickname,
                remark,
                alias: get(1),
                kind,
            })?;
        }
        Ok((names, remarked))
    }

    fn conversations(
        &self,
        sink: &mut dyn ChatSink,
        names: &HashMap<String, String>,
        me: &str,
    ) -> Result<()> {
        let mut members: HashMap<String, Vec<String>> = HashMap::new();
        if self.has_table("chatroom") {
            let mut st = self
                .conn
                .prepare(&self.select("chatroom", &["chatroomname", "memberlist"], "")?)
                .map_err(|e| self.err(e))?;
            let mut rows = st.query([]).map_err(|e| self.err(e))?;
            while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                let room = r.get_ref(0).map(lossy).unwrap_or_default();
                let list = r.get_ref(1).map(lossy).unwrap_or_default();
                members.insert(
                    room,
                    list.split(';')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                );
            }
        }
        let mut st = self
            .conn
            .prepare("SELECT DISTINCT talker FROM message WHERE talker IS NOT NULL")
            .map_err(|e| self.err(e))?;
        let mut rows = st.query([]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let id = r.get_ref(0).map(lossy).unwrap_or_default();
            let kind = conversation_kind(&id, Some(me));
            sink.conversation(&Conversation {
                name: names.get(&id).cloned().unwrap_or_else(|| id.clone()),
                members: members.remove(&id).unwrap_or_default(),
                id,
                kind,
            })?;
        }
        Ok(())
    }

    /// Full-size image names from ImgInfo2, by local message id and by server id.
    fn big_images(&self) -> Result<(HashMap<i64, String>, HashMap<i64, String>)> {
        let mut by_local = HashMap::new();
        let mut by_svr = HashMap::new();
        if !self.has_table("ImgInfo2") {
            return Ok((by_local, by_svr));
        }
        let mut st = self
            .conn
            .prepare(&self.select("ImgInfo2", &["msglocalid", "msgSvrId", "bigImgPath"], "")?)
            .map_err(|e| self.err(e))?;
        let mut rows = st.query([]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let big = r.get_ref(2).map(lossy).unwrap_or_default();
            if big.is_empty() {
                continue;
            }
            if let Ok(Some(local)) = r.get::<_, Option<i64>>(0) {
                by_local.insert(local, big.clone());
            }
            if let Ok(Some(svr)) = r.get::<_, Option<i64>>(1) {
                by_svr.insert(svr, big);
            }
        }
        Ok((by_local, by_svr))
    }

    /// Stickers' groups (`EmojiInfo.groupId`, or `EmojiInfoDesc.groupid` in old versions)
    /// by md5.
    fn sticker_groups(&self) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        for (table, column) in [("EmojiInfo", "groupId"), ("EmojiInfoDesc", "groupid")] {
            if !self.has_table(table) {
                continue;
            }
            let mut st = self
                .conn
                .prepare(&self.select(table, &["md5", column], "")?)
                .map_err(|e| self.err(e))?;
            let mut rows = st.query([]).map_err(|e| self.err(e))?;
            while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                let md5 = r.get_ref(0).map(lossy).unwrap_or_default();
                let group = r.get_ref(1).map(lossy).unwrap_or_default();
                if !md5.is_empty() && !group.is_empty() {
                    out.entry(md5).or_insert(group);
                }
            }
        }
        Ok(out)
    }

    /// File paths by local message id from the file index: `WxFileIndex3`, `WxFileIndex2`
    /// or `WxFileIndex` (the first that exists), in EnMicroMsg.db or in `WxFileIndex.db`
    /// beside it (same key). The largest file of a message wins (its thumbnails are smaller).
    fn file_index(&self, sink: &mut dyn ChatSink) -> Result<HashMap<i64, String>> {
        const TABLES: [&str; 3] = ["WxFileIndex3", "WxFileIndex2", "WxFileIndex"];
        let read = |conn: &Connection, db: &Path| -> Result<HashMap<i64, String>> {
            let err = |e| Error::source_db(db, e);
            let mut out: HashMap<i64, (i64, String)> = HashMap::new();
            let exists = |t: &str| {
                conn.query_row(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [t],
                    |_| Ok(()),
                )
                .is_ok()
            };
            let Some(table) = TABLES.into_iter().find(|t| exists(t)) else {
                return Ok(HashMap::new());
            };
            let mut st = conn
                .prepare(&format!("SELECT msgId, path, size FROM {table}"))
                .map_err(err)?;
            let mut rows = st.query([]).map_err(err)?;
            while let Some(r) = rows.next().map_err(err)? {
                let Ok(Some(id)) = r.get::<_, Option<i64>>(0) else {
                    continue;
                };
                let path = r.get_ref(1).map(lossy).unwrap_or_default();
                let size = r.get::<_, Option<i64>>(2).ok().flatten().unwrap_or(0);
                if path.is_empty() {
                    continue;
                }
                match out.get(&id) {
                    Some((s, _)) if *s >= size => {}
                    _ => {
                        out.insert(id, (size, path));
                    }
                }
            }
            Ok(out.into_iter().map(|(k, (_, p))| (k, p)).collect())
        };
        if TABLES.iter().any(|t| self.has_table(t)) {
            return read(self.conn, self.db);
        }
        let beside = self.db.with_file_name("WxFileIndex.db");
        if !beside.is_file() {
            return Ok(HashMap::new());
        }
        let opened = Snapshot::new(&beside, None, self.work_dir).and_then(|snap| {
            let c = snap.connect()?;
            if let Some(key) = self.key {
                c.pragma_update(None, "key", key)
                    .map_err(|e| Error::source_db(&beside, e))?;
                c.execute_batch("PRAGMA cipher_compatibility = 1; PRAGMA temp_store = MEMORY;")
                    .map_err(|e| Error::source_db(&beside, e))?;
            }
            let found = read(&c, &beside);
            drop(c);
            drop(snap);
            found
        });
        match opened {
            Ok(m) => Ok(m),
            Err(e) => {
                // The file index is a bonus: files are then reported missing.
                sink.warning(format!("file index not read: {e}"));
                Ok(HashMap::new())
            }
        }
    }

    /// Group nicknames: room -> member -> the name the member gave themself in the group
    /// (`chatroom.displayname`, in `memberlist`'s order, separated by '、' or ','), kept
    /// only for members the user gave no remark (a remark wins, as in WeChat).
    fn group_nicknames(
        &self,
        remarked: &std::collections::HashSet<String>,
    ) -> Result<HashMap<String, HashMap<String, String>>> {
        let mut out = HashMap::new();
        if !self.has_table("chatroom") {
            return Ok(out);
        }
        let mut st = self
            .conn
            .prepare(&self.select(
                "chatroom",
                &["chatroomname", "memberlist", "displayname"],
                "",
            )?)
            .map_err(|e| self.err(e))?;
        let mut rows = st.query([]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let room = r.get_ref(0).map(lossy).unwrap_or_default();
            let list = r.get_ref(1).map(lossy).unwrap_or_default();
            let shown = r.get_ref(2).map(lossy).unwrap_or_default();
            let members: Vec<&str> = list.split(';').filter(|s| !s.is_empty()).collect();
            let sep = if shown.contains('、') { '、' } else { ',' };
            let names: Vec<&str> = shown.split(sep).collect();
            if names.len() != members.len() {
                continue;
            }
            let map: HashMap<String, String> = members
                .iter()
                .zip(names)
                .filter(|(m, n)| !n.trim().is_empty() && !remarked.contains(**m))
                .map(|(m, n)| (m.to_string(), n.trim().to_string()))
                .collect();
            if !map.is_empty() {
                out.insert(room, map);
            }
        }
        Ok(out)
    }

    fn messages(
        &self,
        sink: &mut dyn ChatSink,
        names: &HashMap<String, String>,
        remarked: &std::collections::HashSet<String>,
        me: &str,
    ) -> Result<()> {
        let (big_by_local, big_by_svr) = self.big_images()?;
        let lookups = Lookups {
            big_by_local,
            big_by_svr,
            sticker_groups: self.sticker_groups()?,
            files: self.file_index(sink)?,
        };
        let nicknames = self.group_nicknames(remarked)?;
        let hasher = sink.source_rows(&rows_context(me, names, remarked, &nicknames, &lookups));
        let mut listings = Listings::default();
        let mut st = self
            .conn
            .prepare(&self.select(
                "message",
                &[
                    "msgId",
                    "msgSvrId",
                    "type",
                    "isSend",
                    "createTime",
                    "talker",
                    "CAST($ AS BLOB) AS content",
                    "imgPath",
                ],
                "ORDER BY msgId",
            )?)
            .map_err(|e| self.err(e))?;
        let senders = Senders {
            names,
            group_names: &nicknames,
            me: Some(me),
            system: SystemLines::ByType,
        };
        let mut rows = st.query([]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let msg_id: i64 = r.get(0).unwrap_or(0);
            // Rows whose files' folder the type alone tells are fingerprinted: everything
            // their message is made of besides the context, the files it may name
            // included. The others (stickers, app messages) are always parsed.
            let file_kind = hasher.as_ref().and_then(|_| {
                file_kind_of_type(r.get::<_, Option<i64>>(2).ok().flatten().unwrap_or(0))
            });
            if let (Some(h), Some(file_kind)) = (&hasher, file_kind) {
                let mut fp = h.row();
                for i in 0..8 {
                    fingerprint_value(&mut fp, r.get_ref(i).unwrap_or(ValueRef::Null));
                }
                fp.opt_bytes(lookups.files.get(&msg_id).map(|p| p.as_bytes()));
                if let Some(kind) = file_kind {
                    let img_path = r.get_ref(7).map(lossy).unwrap_or_default();
                    let svr: Option<i64> = r.get(1).unwrap_or(None);
                    fp.opt_bytes(lookups.big_by_local.get(&msg_id).map(|p| p.as_bytes()));
                    fp.opt_bytes(
                        svr.and_then(|s| lookups.big_by_svr.get(&s))
                            .map(|p| p.as_bytes()),
                    );
                    if let Some(dir) = file_folder(kind, &img_path) {
                        fp.int(listings.of(&self.roots, &dir) as i64);
                    }
                }
                if sink.source_row(msg_id, fp.finish())? {
                    continue;
                }
            }
            let svr: Option<i64> = r.get(1).unwrap_or(None);
            let ty: i64 = r.get(2).unwrap_or(0);
            let row = Row {
                id: msg_id,
                server_id: svr,
                ty,
                from_me: r.get::<_, Option<i64>>(3).unwrap_or(None) == Some(1),
                time: Timestamp::Utc(r.get::<_, Option<i64>>(4).unwrap_or(None).unwrap_or(0)),
                conversation: r.get_ref(5).map(lossy).unwrap_or_default(),
                content: r.get_ref(6).map(lossy).unwrap_or_default(),
            };
            let img_path = r.get_ref(7).map(lossy).unwrap_or_default();
            let message = assemble(row, &senders, |d, _| {
                self.media_for(d, &img_path, msg_id, svr, &lookups)
            });
            sink.message(message)?;
        }
        Ok(())
    }

    fn media_for(
        &self,
        d: &Decoded,
        img_path: &str,
        msg_id: i64,
        svr: Option<i64>,
        lookups: &Lookups,
    ) -> Option<MediaRef> {
        let media = |(path, present): (String, bool), kind, thumbnail| {
            Some(MediaRef {
                path,
                kind,
                present,
                thumbnail,
            })
        };
        match d.kind {
            MessageKind::Image => {
                let (dir, h) = image_folder(img_path)?;
                let (thumb, thumb_ok) = self.roots.file(&format!("{dir}/th_{h}"));
                let big = lookups
                    .big_by_local
                    .get(&msg_id)
                    .or_else(|| svr.and_then(|s| lookups.big_by_svr.get(&s)))
                    .filter(|b| !b.starts_with("SERVERID://") && !b.contains(['/', '\\']));
                let named = big.map(|b| self.roots.file(&format!("{dir}/{b}")));
                let (path, present) = match named {
                    Some((p, true)) => (p, true),
                    _ => match self.roots.search_image(&dir, h) {
                        Some(p) => (p, true),
                        None if thumb_ok => (thumb.clone(), true),
                        None => named.unwrap_or_else(|| (thumb.clone(), false)),
                    },
                };
                media((path, present), MediaKind::Image, thumb_ok.then_some(thumb))
            }
            MessageKind::Voice => {
                let dir = file_folder(MessageKind::Voice, img_path)?;
                media(
                    self.roots.file(&format!("{dir}/msg_{img_path}.amr")),
                    MediaKind::Audio,
                    None,
                )
            }
            MessageKind::Video => {
                let dir = file_folder(MessageKind::Video, img_path)?;
                let (thumb, thumb_ok) = self.roots.file(&format!("{dir}/{img_path}.jpg"));
                media(
                    self.roots.file(&format!("{dir}/{img_path}.mp4")),
                    MediaKind::Video,
                    thumb_ok.then_some(thumb),
                )
            }
            MessageKind::Sticker => {
                let md5 = d
                    .sticker_md5
                    .as_deref()
                    .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphanumeric()))?;
                let group = lookups.sticker_groups.get(md5).map(String::as_str);
                media(self.roots.sticker(md5, group), MediaKind::Sticker, None)
            }
            MessageKind::File => {
                if let Some(p) = lookups.files.get(&msg_id) {
                    return media(self.roots.indexed(p), MediaKind::File, None);
                }
                // Not in the file index: where WeChat downloads files, by their name.
                let name = d.text.trim();
                if name.is_empty() || name.contains(['/', '\\']) || name == ".." {
                    return None;
                }
                media(
                    self.roots.file(&format!("Download/{name}")),
                    MediaKind::File,
                    None,
                )
            }
            _ => None,
        }
    }
}

/// An image message's folder (`image2/<h[0:2]>/<h[2:4]>`) and hash `h`, from the
/// thumbnail path WeChat stores (`THUMBNAIL_DIRPATH://th_<h>`).
fn image_folder(img_path: &str) -> Option<(String, &str)> {
    let h = img_path.strip_prefix("THUMBNAIL_DIRPATH://th_")?;
    if h.len() < 4 || !h.is_char_boundary(4) || h.contains(['/', '\\']) {
        return None;
    }
    Some((format!("image2/{}/{}", &h[..2], &h[2..4]), h))
}

/// The folder (relative to an account folder) that holds the files of a message of
/// `kind` (image, voice or video) with `img_path`, if it has one: whether they are there
/// depends on nothing else ([`Roots::listing`]).
fn file_folder(kind: MessageKind, img_path: &str) -> Option<String> {
    let named = !img_path.is_empty() && !img_path.contains(['/', '\\']);
    match kind {
        MessageKind::Image => image_folder(img_path).map(|(dir, _)| dir),
        MessageKind::Voice if named => {
            let m = md5_hex(img_path.as_bytes());
            Some(format!("voice2/{}/{}", &m[..2], &m[2..4]))
        }
        MessageKind::Video if named => Some("video".to_string()),
        _ => None,
    }
}

/// Fingerprints of media folders ([`Roots::listing`]) taken during one read. Images and
/// voice are spread over 65,536 folders each (`image2/ab/cd`): each kind's fingerprints
/// are in an array by the folder's four characters (512 KiB, made on first use), so one
/// read lists each folder once in flat memory; other folders are listed each time.
#[derive(Default)]
struct Listings {
    image: FolderTable,
    voice: FolderTable,
    video: Option<u64>,
}

/// Fingerprints by a folder's four lowercase hexadecimal characters, with a bit for each
/// taken.
#[derive(Default)]
struct FolderTable {
    taken: Vec<u64>,
    listing: Vec<u64>,
}

impl FolderTable {
    fn of(&mut self, slot: usize, list: impl FnOnce() -> u64) -> u64 {
        if self.listing.is_empty() {
            self.taken = vec![0; 1 << 10];
            self.listing = vec![0; 1 << 16];
        }
        if self.taken[slot / 64] & (1 << (slot % 64)) == 0 {
            self.listing[slot] = list();
            self.taken[slot / 64] |= 1 << (slot % 64);
        }
        self.listing[slot]
    }
}

impl Listings {
    fn of(&mut self, roots: &Roots, dir: &str) -> u64 {
        let list = || roots.listing(dir);
        if dir == "video" {
            return *self.video.get_or_insert_with(list);
        }
        let table = match dir.get(..7) {
            Some("image2/") => &mut self.image,
            Some("voice2/") => &mut self.voice,
            _ => return list(),
        };
        let b = dir.as_bytes();
        if b.len() != 12 || b[9] != b'/' {
            return list();
        }
        // Lowercase only (WeChat's): one slot is one folder.
        let hex = |c: u8| match c {
            b'0'..=b'9' => Some(u32::from(c - b'0')),
            b'a'..=b'f' => Some(u32::from(c - b'a' + 10)),
            _ => None,
        };
        match (hex(b[7]), hex(b[8]), hex(b[10]), hex(b[11])) {
            (Some(a), Some(b), Some(c), Some(d)) => {
                table.of((a << 12 | b << 8 | c << 4 | d) as usize, list)
            }
            _ => list(),
        }
    }
}

/// What every message of a read depends on besides its row, for
/// [`ChatSink::source_rows`]: the reader's version, the account, contact and group names.
/// Of the lookups only the sticker groups, not per row; the per-row ones (the file index,
/// full-size image names) go into each row's fingerprint, with what the folder of its
/// files holds.
fn rows_context(
    me: &str,
    names: &HashMap<String, String>,
    remarked: &std::collections::HashSet<String>,
    nicknames: &HashMap<String, HashMap<String, String>>,
    lookups: &Lookups,
) -> Vec<u8> {
    let mut c = RowsContext::new("wechat-android rows 1");
    c.text(me)
        .sorted(names, |c, k, v| {
            c.text(k).text(v);
        })
        .sorted(remarked.iter().map(|k| (k, ())), |c, k, ()| {
            c.text(k);
        })
        .sorted(nicknames, |c, group, members| {
            c.text(group).sorted(members, |c, k, v| {
                c.text(k).text(v);
            });
        })
        .sorted(&lookups.sticker_groups, |c, k, v| {
            c.text(k).text(v);
        });
    c.finish()
}

/// What locating media needs from the account's tables.
struct Lookups {
    /// Full-size image names (ImgInfo2) by local message id.
    big_by_local: HashMap<i64, String>,
    /// Full-size image names (ImgInfo2) by server id.
    big_by_svr: HashMap<i64, String>,
    /// Sticker groups by md5.
    sticker_groups: HashMap<String, String>,
    /// File index paths by local message id.
    files: HashMap<i64, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids_are_found_in_compatible_info() {
        let dir = tempfile::tempdir().unwrap();
        let mm = dir.path().join("MicroMsg");
        fs::create_dir_all(&mm).unwrap();
        // A fragment shaped like Java serialization: ... Integer 258 -> TC_STRING "866..."
        let mut cfg = vec![0xac, 0xed, 0x00, 0x05, 0x73, 0x72, 0x00, 0x11];
        cfg.extend_from_slice(b"java.util.HashMap");
        cfg.extend_from_slice(&[0x00, 0x00, 0x01, 0x02, 0x74, 0x00, 15]);
        cfg.extend_from_slice(b"866123456789012");
        cfg.extend_from_slice(&[0x74, 0xff, 0xff]); // a bogus length at the end
        fs::write(mm.join("CompatibleInfo.cfg"), &cfg).unwrap();
        let mut files = Files::default();
        crate::sources::walk_files(dir.path(), DEPTH, &mut |name, level, path| {
            files.offer(name, level, path)
        });
        assert_eq!(
            device_ids_from_compatible_info(&files.compatible_info),
            ["866123456789012"]
        );
    }

    #[test]
    fn key_derivation_matches_the_fixture() {
        assert_eq!(derive_key(DEFAULT_IMEI, "1122334455"), "82eea35");
        assert_eq!(md5_hex(b"mm1122334455"), "2fa4a4c1fdb5d1d1599715c848613f45");
    }
}
