//! WeChat for iOS, from an unencrypted iTunes/Finder backup or the app container:
//! `Documents/<md5(own username)>/DB/MM.sqlite` and `message_<n>.sqlite` (one
//! `Chat_<md5(peer)>` table per conversation), `WCDB_Contact.sqlite`, media folders.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::android::md5_hex;
use super::message::{assemble, Row, Senders, SystemLines};
use super::{contact_kind, conversation_kind};
use crate::error::{Error, Result};
use crate::sources::model::{
    Account, ChatSink, Contact, Conversation, MediaKind, MediaRef, MessageKind, Timestamp,
};
use crate::sources::{find_files, rel_path, ReadOutcome, Source, SourceKind};

fn open(path: &Path) -> Result<Connection> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Error::source_db(path, e))?;
    c.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| Error::source_db(path, e))?;
    Ok(c)
}

/// Fields 1 (nickname), 2 (alias) and 3 (remark) of WeChat's contact protobuf.
pub(crate) fn remark_fields(buf: &[u8]) -> [String; 3] {
    let mut out: [String; 3] = Default::default();
    let mut i = 0usize;
    let varint = |i: &mut usize| -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *buf.get(*i)?;
            *i += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    };
    while i < buf.len() {
        let Some(tag) = varint(&mut i) else { break };
        let (field, wire) = (tag >> 3, tag & 7);
        match wire {
            0 => {
                if varint(&mut i).is_none() {
                    break;
                }
            }
            1 => i += 8,
            5 => i += 4,
            2 => {
                let Some(len) = varint(&mut i) else { break };
                let Ok(len) = usize::try_from(len) else { break };
                let Some(end) = i.checked_add(len).filter(|e| *e <= buf.len()) else {
                    break;
                };
                if (1..=3).contains(&field) {
                    out[field as usize - 1] = String::from_utf8_lossy(&buf[i..end]).into_owned();
                }
                i = end;
            }
            _ => break,
        }
    }
    out
}

/// How deep below an export's root `MM.sqlite` may lie.
pub(crate) const DEPTH: usize = 6;
/// The main database's name.
pub(crate) const DATABASE: &str = "MM.sqlite";

/// A WeChat iOS export: the account's databases, found once.
pub(crate) struct Export {
    root: PathBuf,
    /// `Documents/<account>/DB`.
    db_dir: PathBuf,
    /// `MM.sqlite`, then `message_<n>.sqlite`.
    databases: Vec<PathBuf>,
}

impl Export {
    /// The export at `root` whose `MM.sqlite` files are `found`; fails if there is none.
    pub(crate) fn new(root: &Path, found: Vec<PathBuf>) -> Result<Self> {
        let Some(mm) = found.into_iter().next() else {
            return Err(Error::Source {
                path: root.into(),
                reason: "no Documents/<account>/DB/MM.sqlite found".into(),
            });
        };
        let db_dir = mm.parent().unwrap_or(root).to_path_buf();
        let mut databases = vec![mm];
        databases.extend(find_files(
            &db_dir,
            |n| n.starts_with("message_") && n.ends_with(".sqlite"),
            0,
        ));
        Ok(Export {
            root: root.to_path_buf(),
            db_dir,
            databases,
        })
    }
}

impl Source for Export {
    fn kind(&self) -> SourceKind {
        SourceKind::WeChatIos
    }

    fn read(self: Box<Self>, sink: &mut dyn ChatSink) -> Result<ReadOutcome> {
        read(&self.root, &self.db_dir, self.databases, sink)?;
        Ok(ReadOutcome::default())
    }
}

/// Reads the WeChat iOS export rooted at `root` whose databases are in `db_dir`.
fn read(
    root: &Path,
    db_dir: &Path,
    databases: Vec<PathBuf>,
    sink: &mut dyn ChatSink,
) -> Result<()> {
    let account_dir = db_dir.parent().unwrap_or(root).to_path_buf();
    let account_rel = rel_path(root, &account_dir);
    sink.account(&Account {
        id: account_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        name: String::new(),
    })?;

    // Contacts: md5(username) -> (username, display name).
    let mut by_hash: HashMap<String, (String, String)> = HashMap::new();
    let contacts_db = db_dir.join("WCDB_Contact.sqlite");
    if contacts_db.is_file() {
        let c = open(&contacts_db)?;
        let mut st = c
            .prepare("SELECT userName, dbContactRemark FROM Friend")
            .map_err(|e| Error::source_db(&contacts_db, e))?;
        let mut rows = st
            .query([])
            .map_err(|e| Error::source_db(&contacts_db, e))?;
        while let Some(r) = rows.next().map_err(|e| Error::source_db(&contacts_db, e))? {
            let id: String = r.get(0).unwrap_or_default();
            let blob: Vec<u8> = r
                .get::<_, Option<Vec<u8>>>(1)
                .ok()
                .flatten()
                .unwrap_or_default();
            let [nickname, alias, remark] = remark_fields(&blob);
            let name = [&remark, &nickname, &id]
                .into_iter()
                .find(|s| !s.is_empty())
                .cloned()
                .unwrap_or_default();
            let kind = contact_kind(&id, false);
            by_hash.insert(md5_hex(id.as_bytes()), (id.clone(), name.clone()));
            sink.contact(&Contact {
                id,
                name,
                nickname,
                remark,
                alias,
                kind,
            })?;
        }
    } else {
        sink.warning(format!(
            "{} is missing: conversations are named by their hash",
            contacts_db.display()
        ));
    }
    let names: HashMap<String, String> = by_hash.values().cloned().collect();
    let senders = Senders {
        names: &names,
        me: None,
        system: SystemLines::ByKind,
    };

    for db in databases {
        let c = open(&db)?;
        let tables: Vec<String> = {
            let mut st = c
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'Chat\\_%' ESCAPE '\\' ORDER BY name")
                .map_err(|e| Error::source_db(&db, e))?;
            let rows = st
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(|e| Error::source_db(&db, e))?;
            rows.filter_map(|r| r.ok()).collect()
        };
        for table in tables {
            let hash = table.trim_start_matches("Chat_").to_string();
            if hash.len() != 32 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let (peer, name) = by_hash
                .get(&hash)
                .cloned()
                .unwrap_or_else(|| (format!("md5:{hash}"), hash.clone()));
            let kind = conversation_kind(&peer, None);
            sink.conversation(&Conversation {
                id: peer.clone(),
                name,
                kind,
                members: Vec::new(),
            })?;
            let sql = format!(
                "SELECT MesLocalID, MesSvrID, CreateTime, CAST(Message AS BLOB), Type, Des FROM \"{table}\" ORDER BY CreateTime, MesLocalID"
            );
            let mut st = c.prepare(&sql).map_err(|e| Error::source_db(&db, e))?;
            let mut rows = st.query([]).map_err(|e| Error::source_db(&db, e))?;
            while let Some(r) = rows.next().map_err(|e| Error::source_db(&db, e))? {
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
                sink.message(assemble(row, &senders, |d, body| {
                    media_for(&account_dir, &account_rel, &hash, local, d.kind, body)
                }))?;
            }
        }
    }
    Ok(())
}

fn media_for(
    account_dir: &Path,
    account_rel: &str,
    hash: &str,
    local: i64,
    kind: MessageKind,
    body: &str,
) -> Option<MediaRef> {
    let file = |rel: String| {
        let full = account_dir.join(&rel);
        let present = full.is_file();
        let path = if account_rel.is_empty() {
            rel
        } else {
            format!("{account_rel}/{rel}")
        };
        (path, present)
    };
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
