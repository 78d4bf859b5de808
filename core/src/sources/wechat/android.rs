//! WeChat for Android: `EnMicroMsg.db` (plain or SQLCipher-1 encrypted), contacts, groups,
//! messages and their media files.
//!
//! The encrypted database is opened read-only through SQLCipher: pages are decrypted in
//! memory, no decrypted copy ever touches the disk (temporary tables are kept in memory too).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use rusqlite::{Connection, OpenFlags};

use super::message::{decode, split_group_sender};
use crate::error::{Error, Result};
use crate::sources::model::{
    Account, ChatSink, Contact, ContactKind, Conversation, ConversationKind, MediaKind, MediaRef,
    Message, Timestamp,
};
use crate::sources::{find_files, rel_path, SourceOptions};

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

/// uins found in `shared_prefs` files anywhere under `root`.
fn uins_from_prefs(root: &Path) -> Vec<String> {
    const PREFS: [(&str, &str); 3] = [
        ("system_config_prefs.xml", "default_uin"),
        ("auth_info_key_prefs.xml", "auth_uin"),
        ("com.tencent.mm_preferences.xml", "last_login_uin"),
    ];
    let mut out = Vec::new();
    for (file, key) in PREFS {
        for path in find_files(root, |n| n == file, 5) {
            let Ok(text) = fs::read_to_string(&path) else {
                continue;
            };
            let x = super::xml::Xml::parse(&text);
            let pairs = x.pairs();
            // <int name="default_uin" value="..."/> or <string name="...">...</string>
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
                    push_unique(&mut out, val.trim().to_string());
                }
            }
        }
    }
    out
}

/// Device ids that newer WeChat versions keep in `MicroMsg/CompatibleInfo.cfg` (a
/// Java-serialized map; the id is under key 258). Rather than deserializing Java objects,
/// every serialized string (`TC_STRING`, 0x74, u16 length) that looks like a device id is
/// taken as a candidate; wrong ones just fail the key check.
fn device_ids_from_compatible_info(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for path in find_files(root, |n| n == "CompatibleInfo.cfg", 4) {
        let Ok(bytes) = fs::read(&path) else { continue };
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

fn push_unique(v: &mut Vec<String>, s: String) {
    if !s.is_empty() && !v.contains(&s) {
        v.push(s);
    }
}

fn candidates(opts: &SourceOptions, root: &Path, userdir_name: &str) -> Vec<Candidate> {
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
    for u in uins_from_prefs(root) {
        push_unique(&mut uins, u);
    }
    // The uin whose md5("mm" + uin) names this account's folder goes first.
    uins.sort_by_key(|u| md5_hex(format!("mm{u}").as_bytes()) != userdir_name);
    let mut imeis = opts.imeis.clone();
    for id in device_ids_from_compatible_info(root) {
        push_unique(&mut imeis, id);
    }
    push_unique(&mut imeis, DEFAULT_IMEI.to_string());
    for uin in &uins {
        for imei in &imeis {
            out.push(Candidate {
                key: derive_key(imei, uin),
                label: format!("IMEI {imei} with uin {uin}"),
            });
        }
    }
    out
}

/// Opens EnMicroMsg.db read-only, plain or with the first candidate key that works.
/// Returns the connection and a description of what opened it.
fn open_database(
    db: &Path,
    opts: &SourceOptions,
    root: &Path,
    userdir_name: &str,
) -> Result<(Connection, Option<String>)> {
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
    let open = || {
        Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| Error::Source {
            path: db.into(),
            reason: e.to_string(),
        })
    };
    let probe = |c: &Connection| {
        c.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
    };
    if head.as_slice() == b"SQLite format 3\0" {
        let c = open()?;
        c.execute_batch("PRAGMA temp_store = MEMORY;")
            .map_err(|e| db_error(db, e))?;
        probe(&c).map_err(|e| db_error(db, e))?;
        return Ok((c, None));
    }
    if len % u64::from(PAGE_SIZE) != 0 {
        return Err(Error::Source {
            path: db.into(),
            reason: format!(
                "the encrypted database is truncated ({len} bytes is not a whole number of {PAGE_SIZE}-byte pages)"
            ),
        });
    }
    let tried = candidates(opts, root, userdir_name);
    if tried.is_empty() {
        return Err(Error::WrongKey {
            path: db.into(),
            tried: "nothing: give --wechat-key, or --uin (no uin was found in shared_prefs)".into(),
        });
    }
    for cand in &tried {
        let c = open()?;
        c.pragma_update(None, "key", &cand.key)
            .map_err(|e| db_error(db, e))?;
        c.execute_batch("PRAGMA cipher_compatibility = 1; PRAGMA temp_store = MEMORY;")
            .map_err(|e| db_error(db, e))?;
        if probe(&c).is_ok() {
            log::info!("{} opened with {}", db.display(), cand.label);
            return Ok((c, Some(cand.label.clone())));
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

fn db_error(db: &Path, e: rusqlite::Error) -> Error {
    Error::Source {
        path: db.into(),
        reason: format!("database error: {e}"),
    }
}

/// The account database a read of `root` opens, and how many accounts there are.
fn account_database(root: &Path, opts: &SourceOptions) -> Result<(PathBuf, usize)> {
    let dbs = find_files(root, |n| n == "EnMicroMsg.db", 5);
    match pick_account(&dbs, root, opts) {
        Some(db) => Ok((db, dbs.len())),
        None => Err(Error::Source {
            path: root.into(),
            reason: "no MicroMsg/<account>/EnMicroMsg.db found".into(),
        }),
    }
}

/// The database a read of `root` opens, if it is encrypted (its first bytes are not
/// SQLite's header); known without the key, so the backup can store it page by page while
/// the reader is still at work.
pub(crate) fn encrypted_database(root: &Path, opts: &SourceOptions) -> Option<PathBuf> {
    use std::io::Read;
    let (db, _) = account_database(root, opts).ok()?;
    let mut head = [0u8; 16];
    let n = fs::File::open(&db)
        .and_then(|mut f| f.read(&mut head))
        .ok()?;
    (head[..n] != *b"SQLite format 3\0").then_some(db)
}

/// Reads a WeChat Android export rooted at `root` into `sink`.
/// Returns how an encrypted database was opened (`None`: it was not encrypted).
pub(crate) fn read(
    root: &Path,
    opts: &SourceOptions,
    sink: &mut dyn ChatSink,
) -> Result<Option<String>> {
    let (db, accounts) = account_database(root, opts)?;
    if accounts > 1 {
        sink.warning(format!(
            "{} accounts found; reading {} (pass its folder to read another)",
            accounts,
            db.display()
        ));
    }
    let userdir = db.parent().unwrap_or(root).to_path_buf();
    let userdir_name = userdir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (conn, opened_with) = open_database(&db, opts, root, &userdir_name)?;
    let r = Reader {
        conn: &conn,
        db: &db,
        userdir: &userdir,
        userdir_rel: rel_path(root, &userdir),
    };
    r.run(sink)?;
    Ok(opened_with)
}

fn pick_account(dbs: &[PathBuf], root: &Path, opts: &SourceOptions) -> Option<PathBuf> {
    let mut uins: Vec<String> = opts.uin.iter().cloned().collect();
    uins.extend(uins_from_prefs(root));
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
    userdir: &'a Path,
    userdir_rel: String,
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
        db_error(self.db, e)
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
        let names = self.contacts(sink)?;
        self.conversations(sink, &names, &me.id)?;
        self.messages(sink, &names, &me.id)
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

    /// Contacts; returns username -> display name.
    fn contacts(&self, sink: &mut dyn ChatSink) -> Result<HashMap<String, String>> {
        let mut names = HashMap::new();
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
            let kind = if id.ends_with("@chatroom") {
                ContactKind::Group
            } else if verify != 0 || id.starts_with("gh_") {
                ContactKind::Official
            } else {
                ContactKind::Person
            };
            let name = if !remark.is_empty() {
                remark.clone()
            } else if !nickname.is_empty() {
                nickname.clone()
            } else {
                id.clone()
            };
            names.insert(id.clone(), name.clone());
            sink.contact(&Contact {
                id,
                name,
                nickname,
                remark,
                alias: get(1),
                kind,
            })?;
        }
        Ok(names)
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
            let kind = if id.ends_with("@chatroom") {
                ConversationKind::Group
            } else if id.starts_with("gh_") {
                ConversationKind::Channel
            } else if id == "filehelper" || id == me {
                ConversationKind::Saved
            } else {
                ConversationKind::Direct
            };
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

    fn media_file(&self, rel: &str) -> (String, bool) {
        let full = format!("{}/{rel}", self.userdir_rel);
        let full = full.trim_start_matches('/').to_string();
        let present = self.userdir.join(rel).is_file();
        (full, present)
    }

    fn messages(
        &self,
        sink: &mut dyn ChatSink,
        names: &HashMap<String, String>,
        me: &str,
    ) -> Result<()> {
        let (big_by_local, big_by_svr) = self.big_images()?;
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
        let mut rows = st.query([]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let msg_id: i64 = r.get(0).unwrap_or(0);
            let svr: Option<i64> = r.get(1).unwrap_or(None);
            let ty: i64 = r.get(2).unwrap_or(0);
            let is_send = r.get::<_, Option<i64>>(3).unwrap_or(None) == Some(1);
            let time: i64 = r.get::<_, Option<i64>>(4).unwrap_or(None).unwrap_or(0);
            let talker = r.get_ref(5).map(lossy).unwrap_or_default();
            let content = r.get_ref(6).map(lossy).unwrap_or_default();
            let img_path = r.get_ref(7).map(lossy).unwrap_or_default();
            let group = talker.ends_with("@chatroom");
            let (sender, body) = if is_send {
                (Some(me.to_string()), content.as_str())
            } else if group {
                let (who, rest) = split_group_sender(&content);
                (who.map(str::to_string), rest)
            } else {
                (Some(talker.clone()), content.as_str())
            };
            let d = decode(ty, body);
            let media = self.media_for(
                ty & 0xFFFF,
                &img_path,
                msg_id,
                svr,
                &big_by_local,
                &big_by_svr,
            );
            let system = matches!(ty & 0xFFFF, 10000 | 10002);
            sink.message(Message {
                id: msg_id.to_string(),
                server_id: svr.filter(|s| *s != 0).map(|s| s.to_string()),
                conversation: talker,
                sender_name: sender.as_ref().and_then(|s| names.get(s).cloned()),
                sender: if system { None } else { sender },
                from_me: is_send,
                time: Timestamp::Utc(time),
                kind: d.kind,
                text: d.text,
                reply_to: d.reply_to,
                quote: d.quote,
                media,
                raw: d.raw,
                edited: false,
                details: Default::default(),
            })?;
        }
        Ok(())
    }

    fn media_for(
        &self,
        base: i64,
        img_path: &str,
        msg_id: i64,
        svr: Option<i64>,
        big_by_local: &HashMap<i64, String>,
        big_by_svr: &HashMap<i64, String>,
    ) -> Option<MediaRef> {
        match base {
            3 => {
                let h = img_path.strip_prefix("THUMBNAIL_DIRPATH://th_")?;
                if h.len() < 4 || !h.is_char_boundary(4) || h.contains(['/', '\\']) {
                    return None;
                }
                let dir = format!("image2/{}/{}", &h[..2], &h[2..4]);
                let (thumb, thumb_ok) = self.media_file(&format!("{dir}/th_{h}"));
                let big = big_by_local
                    .get(&msg_id)
                    .or_else(|| svr.and_then(|s| big_by_svr.get(&s)))
                    .filter(|b| !b.starts_with("SERVERID://") && !b.contains(['/', '\\']));
                let (path, present) = match big {
                    Some(b) => self.media_file(&format!("{dir}/{b}")),
                    None => (thumb.clone(), false),
                };
                let (path, present) = if present || !thumb_ok {
                    (path, present)
                } else {
                    (thumb.clone(), true)
                };
                Some(MediaRef {
                    path,
                    kind: MediaKind::Image,
                    present,
                    thumbnail: thumb_ok.then_some(thumb),
                })
            }
            34 if !img_path.is_empty() && !img_path.contains(['/', '\\']) => {
                let m = md5_hex(img_path.as_bytes());
                let (path, present) = self.media_file(&format!(
                    "voice2/{}/{}/msg_{img_path}.amr",
                    &m[..2],
                    &m[2..4]
                ));
                Some(MediaRef {
                    path,
                    kind: MediaKind::Audio,
                    present,
                    thumbnail: None,
                })
            }
            43 | 62 if !img_path.is_empty() && !img_path.contains(['/', '\\']) => {
                let (path, present) = self.media_file(&format!("video/{img_path}.mp4"));
                let (thumb, thumb_ok) = self.media_file(&format!("video/{img_path}.jpg"));
                Some(MediaRef {
                    path,
                    kind: MediaKind::Video,
                    present,
                    thumbnail: thumb_ok.then_some(thumb),
                })
            }
            _ => None,
        }
    }
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
        assert_eq!(
            device_ids_from_compatible_info(dir.path()),
            ["866123456789012"]
        );
    }

    #[test]
    fn key_derivation_matches_the_fixture() {
        assert_eq!(derive_key(DEFAULT_IMEI, "1122334455"), "82eea35");
        assert_eq!(md5_hex(b"mm1122334455"), "2fa4a4c1fdb5d1d1599715c848613f45");
    }
}
