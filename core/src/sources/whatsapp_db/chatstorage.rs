//! WhatsApp for iPhone: `ChatStorage.sqlite` (and `ContactsV2.sqlite`'s names) into the chat
//! model.
//!
//! Both are Core Data stores (tables `Z<ENTITY>`, columns `Z<ATTRIBUTE>`, rows keyed by
//! `Z_PK`). `ZWACHATSESSION` holds the chats (`ZCONTACTJID`, `ZPARTNERNAME` — the contact's or
//! group's name), `ZWAMESSAGE` the messages (`ZCHATSESSION`, `ZISFROMME`, `ZSTANZAID` — the
//! message id Android calls `key_id` —, `ZMESSAGEDATE` in seconds since 2001-01-01 UTC,
//! `ZMESSAGETYPE`, `ZTEXT`, `ZGROUPMEMBER` → `ZWAGROUPMEMBER` for a group message's sender,
//! `ZPARENTMESSAGE` for a reply's target), `ZWAMEDIAITEM` a message's file
//! (`ZMEDIALOCALPATH`, relative to the app group's `Message/` folder; `ZTITLE`, the caption or
//! file name; coordinates; `ZMETADATA`, a protobuf naming a quoted message), `ZWAMESSAGEINFO`
//! reactions and poll options (`ZRECEIPTINFO`, a protobuf). `ZWAPROFILEPUSHNAME` holds the names
//! people gave themselves; `ContactsV2.sqlite`'s `ZWAADDRESSBOOKCONTACT` the address book's.
//!
//! The facts are from public documentation of the format (docs/FORMAT.md, "WhatsApp for
//! iPhone"); every table and column is looked up before it is named, and read as NULL where
//! a WhatsApp version lacks it. Messages stream in `Z_PK` order through one query.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use rusqlite::Connection;

use super::sql::{conversation_kind, int, jid_user, open, real, text, Schema};
use crate::error::{Error, Result};
use crate::sources::model::{
    ChatSink, Contact, ContactKind, Conversation, ConversationKind, MediaKind, MediaRef, Message,
    MessageDetails, MessageKind, Place, Poll, PollAnswer, Reaction, Timestamp,
};
use crate::sources::protobuf;

/// Seconds from the Unix epoch to Core Data's (2001-01-01T00:00:00Z).
const COCOA_EPOCH: f64 = 978_307_200.0;

/// Where a message's file is, given its `ZMEDIALOCALPATH`.
pub enum MediaPlace<'a> {
    /// An app-group folder copied out of the phone or a backup: files under
    /// `group/Message/`; paths reported relative to `root` (what the user picked).
    Folder {
        /// What the user picked.
        root: &'a Path,
        /// The app group's folder (`ChatStorage.sqlite` is in it).
        group: &'a Path,
    },
    /// An iPhone backup at `root`: each file stored under the SHA-1 of
    /// `domain-Message/<path>` (see [`crate::sources::iphone_backup`]).
    #[cfg(feature = "iphone-backup")]
    Backup {
        /// The backup folder.
        root: &'a Path,
        /// WhatsApp's app-group domain in it.
        domain: &'a str,
        /// In an encrypted backup, the key of each stored media file (by stored path).
        keys: &'a std::collections::HashMap<String, crate::sources::model::MediaKey>,
        /// An older backup (iOS 9 and earlier): files stored flat as `<fileID>`.
        flat: bool,
    },
}

/// Where the database's files are.
pub struct Layout<'a> {
    /// Media files.
    pub media: MediaPlace<'a>,
    /// The database's `-wal` where it is not beside it (an iPhone backup stores it apart).
    pub wal: Option<&'a Path>,
    /// The name to put in errors (the database as the user knows it).
    pub shown: &'a Path,
    /// Where a private copy of a database with a `-wal` goes.
    pub work_dir: Option<&'a Path>,
}

pub use super::sql::Counts;

/// A jid as WhatsApp stores it in the address book: digits alone mean a phone number's
/// account.
fn full_jid(id: &str) -> String {
    if id.contains('@') {
        id.to_string()
    } else {
        format!("{id}@s.whatsapp.net")
    }
}

/// Names from `ContactsV2.sqlite` (`ZWAADDRESSBOOKCONTACT`: the address book's full name,
/// else given name, else business name), reported to the sink as contacts. Keyed by jid,
/// and by the privacy id (`…@lid`) newer versions show in groups instead of the number.
pub fn read_contacts(
    db: &Path,
    wal: Option<&Path>,
    shown: &Path,
    work_dir: Option<&Path>,
    sink: &mut dyn ChatSink,
) -> Result<HashMap<String, String>> {
    let c = open(db, wal, shown, work_dir)?;
    let s = Schema::load(&c, shown)?;
    let err = |e| Error::source_db(shown, e);
    let mut names = HashMap::new();
    let t = "ZWAADDRESSBOOKCONTACT";
    if !s.has_col(t, "ZWHATSAPPID") {
        sink.warning(format!(
            "{}: no address book table; names are WhatsApp profile names or numbers",
            shown.display()
        ));
        return Ok(names);
    }
    let sql = format!(
        "SELECT c.ZWHATSAPPID, {}, {}, {}, {}, {} FROM {t} c ORDER BY c.Z_PK",
        s.col(t, "c", "ZFULLNAME"),
        s.col(t, "c", "ZGIVENNAME"),
        s.col(t, "c", "ZBUSINESSNAME"),
        s.col(t, "c", "ZLID"),
        s.col(t, "c", "ZNICKNAME"),
    );
    let mut stmt = c.prepare(&sql).map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    while let Some(r) = rows.next().map_err(err)? {
        let Some(id) = text(r, 0).filter(|t| !t.is_empty()) else {
            continue;
        };
        let jid = full_jid(&id);
        let nonempty = |i| text(r, i).filter(|t| !t.trim().is_empty());
        let Some(name) = nonempty(1).or_else(|| nonempty(2)).or_else(|| nonempty(3)) else {
            continue;
        };
        sink.contact(&Contact {
            id: jid.clone(),
            name: name.clone(),
            nickname: nonempty(5).unwrap_or_default(),
            remark: name.clone(),
            alias: String::new(),
            kind: ContactKind::Person,
        })?;
        if let Some(lid) = nonempty(4) {
            names.insert(full_jid(&lid), name.clone());
        }
        names.insert(jid, name);
    }
    Ok(names)
}

/// A push name as stored: plain, or `+` and the base64 of a protobuf whose field 1 is the
/// name (newer versions).
fn push_name(stored: &str) -> Option<String> {
    let stored = stored.trim();
    if let Some(b64) = stored.strip_prefix('+') {
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) {
            if let Some(name) = protobuf::bytes_at(&bytes, &[1]) {
                return std::str::from_utf8(name).ok().map(str::to_string);
            }
        }
    }
    (!stored.is_empty()).then(|| stored.to_string())
}

/// What a `ZMESSAGETYPE` is: (kind, media kind, view once).
fn kind_of(t: i64) -> (MessageKind, Option<MediaKind>, bool) {
    match t {
        0 => (MessageKind::Text, None, false),
        1 => (MessageKind::Image, Some(MediaKind::Image), false),
        2 | 11 | 54 => (MessageKind::Video, Some(MediaKind::Video), false),
        3 => (MessageKind::Voice, Some(MediaKind::Audio), false),
        4 => (MessageKind::ContactCard, None, false),
        5 => (MessageKind::Location, None, false),
        6 | 10 | 12 | 55 => (MessageKind::System, None, false),
        7 => (MessageKind::Link, None, false),
        8 => (MessageKind::File, Some(MediaKind::File), false),
        14 => (MessageKind::Revoke, None, false),
        15 => (MessageKind::Sticker, Some(MediaKind::Sticker), false),
        38 => (MessageKind::Image, Some(MediaKind::Image), true),
        39 => (MessageKind::Video, Some(MediaKind::Video), true),
        53 => (MessageKind::Voice, Some(MediaKind::Audio), true),
        46 => (MessageKind::Poll, None, false),
        59 => (MessageKind::Call, None, false),
        _ => (MessageKind::Unparsed, None, false),
    }
}

/// A sentence for a group event (`ZMESSAGETYPE` 6) or a chat notice (10), by
/// `ZGROUPEVENTTYPE`. `who` is the member the row names ("You" for the owner).
fn event_text(mtype: i64, event: Option<i64>, who: &str, text: Option<&str>) -> (String, bool) {
    // (sentence, is a call)
    let who = if who.is_empty() { "Someone" } else { who };
    let data = text.unwrap_or("").trim();
    if mtype == 10 {
        return match event {
            Some(2) => ("Messages and calls are end-to-end encrypted".into(), false),
            Some(1 | 45) => ("Missed voice call".into(), true),
            Some(4 | 46) => ("Missed video call".into(), true),
            Some(21) => ("Missed group voice call".into(), true),
            Some(22) => ("Missed group video call".into(), true),
            Some(40 | 41) => (format!("{who} started a group video call"), true),
            Some(3 | 36) => (format!("{who}'s security code changed"), false),
            Some(5 | 6) => (format!("{who} changed their phone number"), false),
            Some(34) => ("You blocked this contact".into(), false),
            Some(35) => ("You unblocked this contact".into(), false),
            Some(n) => (format!("[WhatsApp notice {n}]"), false),
            None => ("[WhatsApp notice]".into(), false),
        };
    }
    if mtype == 12 {
        return ("Waiting for this message".into(), false);
    }
    let sentence = match event {
        Some(1) => format!("{who} changed the group name to \"{data}\""),
        Some(56) => {
            let new = serde_json::from_str::<serde_json::Value>(data)
                .ok()
                .and_then(|v| v["new_subject"].as_str().map(str::to_string))
                .unwrap_or_default();
            format!("{who} changed the group name to \"{new}\"")
        }
        Some(2) => format!("{who} was added"),
        Some(3) => format!("{who} left"),
        Some(4) => format!("{who} changed the group icon"),
        Some(5) => format!("{who} deleted the group icon"),
        Some(7) => format!("{who} was removed"),
        Some(9) => format!("{who} changed their phone number"),
        Some(10) => "You are now an admin".into(),
        Some(11) => "You are no longer an admin".into(),
        Some(12) => format!("{who} created the group"),
        Some(15) => format!("{who} joined using an invite link"),
        Some(17) => format!("{who} changed the group description"),
        Some(22) => format!("{who} deleted the group description"),
        Some(23) => format!("{who} joined from an invitation"),
        Some(26) => format!("{who} changed the disappearing messages timer"),
        Some(39) => format!("{who} is now an admin"),
        Some(n) => format!("[WhatsApp group event {n}]"),
        None => "[WhatsApp group event]".into(),
    };
    (sentence, false)
}

/// The quoted message's id and text from a media item's `ZMETADATA`: field 5 is the
/// quoted stanza id, field 19 a copy of the quoted content (1: text; 6.1: text with a link
/// preview; 3.3 / 9.7: an image's / a video's caption).
fn quote_of(metadata: &[u8]) -> (Option<String>, Option<String>) {
    let utf8 = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_string);
    let id = protobuf::bytes_at(metadata, &[5])
        .and_then(utf8)
        .filter(|s| !s.is_empty());
    let content = protobuf::bytes_at(metadata, &[19]);
    let text = content.and_then(|c| {
        [&[1][..], &[6, 1], &[3, 3], &[9, 7]]
            .iter()
            .find_map(|path| protobuf::bytes_at(c, path).and_then(utf8))
    });
    (id, text)
}

/// Reactions from a `ZRECEIPTINFO`: field 7 holds repeated 1 {2: who (absent: the owner),
/// 3: emoji} and the owner's own as 2 {2: emoji}.
fn reactions_of(info: &[u8], name: &dyn Fn(&str) -> String) -> Vec<Reaction> {
    let mut out: Vec<Reaction> = Vec::new();
    let Some(seven) = protobuf::bytes_at(info, &[7]) else {
        return out;
    };
    let utf8 = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_string);
    let mut add = |emoji: String, who: String| {
        if emoji.is_empty() {
            return; // taken back
        }
        match out.iter_mut().find(|r| r.emoji == emoji) {
            Some(r) => {
                r.count += 1;
                r.from.push(who);
            }
            None => out.push(Reaction {
                emoji,
                count: 1,
                from: vec![who],
            }),
        }
    };
    for r in protobuf::all_bytes(seven, 1) {
        let emoji = protobuf::bytes_at(r, &[3])
            .and_then(utf8)
            .unwrap_or_default();
        let who = match protobuf::bytes_at(r, &[2]).and_then(utf8) {
            Some(jid) if !jid.is_empty() => name(&jid),
            _ => "You".into(),
        };
        add(emoji, who);
    }
    for r in protobuf::all_bytes(seven, 2) {
        let emoji = protobuf::bytes_at(r, &[2])
            .and_then(utf8)
            .unwrap_or_default();
        add(emoji, "You".into());
    }
    out
}

/// A poll from a `ZRECEIPTINFO`: field 8 {2: question, 3 (repeated) {1: option}}.
fn poll_of(info: &[u8]) -> Option<Poll> {
    let eight = protobuf::bytes_at(info, &[8])?;
    let utf8 = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_string);
    let question = protobuf::bytes_at(eight, &[2]).and_then(utf8)?;
    let answers = protobuf::all_bytes(eight, 3)
        .into_iter()
        .filter_map(|o| protobuf::bytes_at(o, &[1]).and_then(utf8))
        .map(|text| PollAnswer { text, voters: None })
        .collect();
    Some(Poll {
        question,
        answers,
        closed: false,
    })
}

impl MediaPlace<'_> {
    /// The file of `ZMEDIALOCALPATH` `local`: its path relative to what the user picked, and
    /// whether it is there. `None` for a path that would leave the app group.
    fn locate(&self, local: &str) -> Option<(String, bool)> {
        let local = local.replace('\\', "/");
        let local = local.trim_start_matches('/');
        if local.split('/').any(|c| c == ".." || c == ".") {
            return None;
        }
        // Relative to `Message/`; a few versions store the path from the app group.
        let rel = if local.starts_with("Message/") {
            local.to_string()
        } else {
            format!("Message/{local}")
        };
        match self {
            MediaPlace::Folder { root, group } => {
                let full = group.join(&rel);
                Some((crate::sources::rel_path(root, &full), full.is_file()))
            }
            #[cfg(feature = "iphone-backup")]
            MediaPlace::Backup {
                root, domain, flat, ..
            } => {
                let stored = backup_file(domain, &rel, *flat);
                let present = root.join(&stored).is_file();
                Some((stored, present))
            }
        }
    }
}

impl MediaPlace<'_> {
    /// Hands `sink` the key of the media file at `path` when the backup stores it encrypted.
    fn report_key(&self, path: &str, sink: &mut dyn ChatSink) -> Result<()> {
        #[cfg(feature = "iphone-backup")]
        if let MediaPlace::Backup { keys, .. } = self {
            if let Some(key) = keys.get(path) {
                sink.media_key(path, key)?;
            }
        }
        let _ = (path, sink);
        Ok(())
    }
}

/// Where an iPhone backup stores `domain`'s file `rel`: `xx/<sha1 of "domain-rel">`, or
/// `<sha1>` in an older, `flat` backup.
#[cfg(feature = "iphone-backup")]
pub fn backup_file(domain: &str, rel: &str, flat: bool) -> String {
    use sha1::{Digest, Sha1};
    let id = hex::encode(Sha1::digest(format!("{domain}-{rel}").as_bytes()));
    if flat {
        id
    } else {
        format!("{}/{id}", &id[..2])
    }
}

/// Group members by `ZWAGROUPMEMBER.Z_PK`: (jid, name the group shows).
type Members = HashMap<i64, (String, Option<String>)>;

fn read_members(
    c: &Connection,
    s: &Schema,
    shown: &Path,
) -> Result<(Members, HashMap<i64, Vec<String>>)> {
    let err = |e| Error::source_db(shown, e);
    let mut members = HashMap::new();
    let mut by_chat: HashMap<i64, Vec<String>> = HashMap::new();
    let t = "ZWAGROUPMEMBER";
    if !s.has_col(t, "ZMEMBERJID") {
        return Ok((members, by_chat));
    }
    let sql = format!(
        "SELECT g.Z_PK, g.ZMEMBERJID, {}, {}, {} FROM {t} g ORDER BY g.Z_PK",
        s.col(t, "g", "ZCONTACTNAME"),
        s.col(t, "g", "ZFIRSTNAME"),
        s.col(t, "g", "ZCHATSESSION"),
    );
    let mut stmt = c.prepare(&sql).map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    while let Some(r) = rows.next().map_err(err)? {
        let (Some(pk), Some(jid)) = (int(r, 0), text(r, 1).filter(|j| !j.is_empty())) else {
            continue;
        };
        let name = text(r, 2)
            .or_else(|| text(r, 3))
            .filter(|n| !n.trim().is_empty() && n.trim() != jid_user(&jid));
        if let Some(chat) = int(r, 4) {
            let list = by_chat.entry(chat).or_default();
            if !list.contains(&jid) {
                list.push(jid.clone());
            }
        }
        members.insert(pk, (jid, name));
    }
    Ok((members, by_chat))
}

/// Reads `ChatStorage.sqlite` (plain SQLite) into `sink`. `names` are the address book's
/// (see [`read_contacts`]).
pub fn read(
    db: &Path,
    layout: &Layout,
    names: &HashMap<String, String>,
    sink: &mut dyn ChatSink,
) -> Result<Counts> {
    let shown = layout.shown;
    let c = open(db, layout.wal, shown, layout.work_dir)?;
    let s = Schema::load(&c, shown)?;
    let err = |e| Error::source_db(shown, e);
    for (t, col) in [
        ("ZWACHATSESSION", "ZCONTACTJID"),
        ("ZWAMESSAGE", "ZCHATSESSION"),
    ] {
        if !s.has_col(t, col) {
            return Err(Error::Source {
                path: shown.into(),
                reason: format!("not WhatsApp's iPhone database (no {t}.{col})"),
            });
        }
    }
    let mut counts = Counts::default();
    // Push names: what people call themselves, for those not in the address book.
    let mut push: HashMap<String, String> = HashMap::new();
    if s.has_col("ZWAPROFILEPUSHNAME", "ZJID") && s.has_col("ZWAPROFILEPUSHNAME", "ZPUSHNAME") {
        let mut stmt = c
            .prepare("SELECT ZJID, ZPUSHNAME FROM ZWAPROFILEPUSHNAME")
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            if let (Some(j), Some(n)) = (text(r, 0), text(r, 1).and_then(|n| push_name(&n))) {
                push.insert(j, n);
            }
        }
    }
    let (members, mut by_chat) = read_members(&c, &s, shown)?;
    let name_of = |jid: &str| -> String {
        names
            .get(jid)
            .or_else(|| push.get(jid))
            .cloned()
            .unwrap_or_else(|| jid_user(jid).to_string())
    };

    // Chats.
    let mut chats: HashMap<i64, String> = HashMap::new();
    {
        let t = "ZWACHATSESSION";
        let sql = format!(
            "SELECT c.Z_PK, c.ZCONTACTJID, {}, {}, {} FROM {t} c ORDER BY c.Z_PK",
            s.col(t, "c", "ZPARTNERNAME"),
            s.col(t, "c", "ZSESSIONTYPE"),
            s.col(t, "c", "ZGROUPINFO"),
        );
        let mut stmt = c.prepare(&sql).map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            let (Some(pk), Some(jid)) = (int(r, 0), text(r, 1).filter(|j| !j.is_empty())) else {
                continue;
            };
            let partner = text(r, 2).filter(|n| !n.trim().is_empty());
            let session = int(r, 3);
            let kind = if session == Some(1) || int(r, 4).is_some() {
                ConversationKind::Group
            } else {
                conversation_kind(&jid)
            };
            let name = match kind {
                ConversationKind::Group => partner.unwrap_or_else(|| jid_user(&jid).to_string()),
                _ if jid == "status@broadcast" => "Status".into(),
                _ => names
                    .get(&jid)
                    .cloned()
                    .or(partner)
                    .unwrap_or_else(|| name_of(&jid)),
            };
            sink.conversation(&Conversation {
                id: jid.clone(),
                name,
                kind,
                members: by_chat.remove(&pk).unwrap_or_default(),
            })?;
            counts.chats += 1;
            chats.insert(pk, jid);
        }
    }

    // Messages, with their media item, receipt info and replied-to row.
    let mut joins = String::new();
    let media_join = if s.has_col("ZWAMESSAGE", "ZMEDIAITEM") && s.has("ZWAMEDIAITEM") {
        Some("mi.Z_PK = m.ZMEDIAITEM")
    } else if s.has_col("ZWAMEDIAITEM", "ZMESSAGE") {
        Some("mi.ZMESSAGE = m.Z_PK")
    } else {
        None
    };
    if let Some(on) = media_join {
        joins.push_str(&format!(" LEFT JOIN ZWAMEDIAITEM mi ON {on}"));
    }
    let media_col = |col: &str| {
        if media_join.is_some() {
            s.col("ZWAMEDIAITEM", "mi", col)
        } else {
            "NULL".into()
        }
    };
    let info_join =
        s.has_col("ZWAMESSAGE", "ZMESSAGEINFO") && s.has_col("ZWAMESSAGEINFO", "ZRECEIPTINFO");
    if info_join {
        joins.push_str(" LEFT JOIN ZWAMESSAGEINFO inf ON inf.Z_PK = m.ZMESSAGEINFO");
    }
    let parent_join = s.has_col("ZWAMESSAGE", "ZPARENTMESSAGE");
    if parent_join {
        joins.push_str(" LEFT JOIN ZWAMESSAGE p ON p.Z_PK = m.ZPARENTMESSAGE");
    }
    let m = |col: &str| s.col("ZWAMESSAGE", "m", col);
    let sql = format!(
        "SELECT m.Z_PK, m.ZCHATSESSION, {from_me}, {stanza}, {member}, {date}, {mtype}, {text},
                {status}, {event}, {local}, {title}, {vstring}, {vname}, {lat}, {lon}, {duration},
                {metadata}, {receipt}, {p_stanza}, {p_text}, {size}
         FROM ZWAMESSAGE m{joins} ORDER BY m.Z_PK",
        from_me = m("ZISFROMME"),
        stanza = m("ZSTANZAID"),
        member = m("ZGROUPMEMBER"),
        date = m("ZMESSAGEDATE"),
        mtype = m("ZMESSAGETYPE"),
        text = m("ZTEXT"),
        status = m("ZMESSAGESTATUS"),
        event = m("ZGROUPEVENTTYPE"),
        local = media_col("ZMEDIALOCALPATH"),
        title = media_col("ZTITLE"),
        vstring = media_col("ZVCARDSTRING"),
        vname = media_col("ZVCARDNAME"),
        lat = media_col("ZLATITUDE"),
        lon = media_col("ZLONGITUDE"),
        duration = media_col("ZMOVIEDURATION"),
        metadata = media_col("ZMETADATA"),
        size = media_col("ZFILESIZE"),
        receipt = if info_join {
            "inf.ZRECEIPTINFO".to_string()
        } else {
            "NULL".into()
        },
        p_stanza = if parent_join {
            s.col("ZWAMESSAGE", "p", "ZSTANZAID")
        } else {
            "NULL".into()
        },
        p_text = if parent_join {
            s.col("ZWAMESSAGE", "p", "ZTEXT")
        } else {
            "NULL".into()
        },
    );
    let mut stmt = c.prepare(&sql).map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    let blob = |r: &rusqlite::Row, i: usize| -> Option<Vec<u8>> {
        match r.get_ref(i).ok()? {
            rusqlite::types::ValueRef::Blob(b) if !b.is_empty() => Some(b.to_vec()),
            _ => None,
        }
    };
    let mut orphans = 0u64;
    let mut outside = 0u64;
    while let Some(r) = rows.next().map_err(err)? {
        let Some(pk) = int(r, 0) else { continue };
        let Some(conv) = int(r, 1).and_then(|id| chats.get(&id)) else {
            orphans += 1;
            continue;
        };
        let from_me = int(r, 2).unwrap_or(0) == 1;
        let stanza = text(r, 3).filter(|t| !t.is_empty());
        let member = int(r, 4).and_then(|m| members.get(&m));
        let time_ms = real(r, 5)
            .filter(|d| d.is_finite())
            .map(|d| ((d + COCOA_EPOCH) * 1000.0).round() as i64)
            .unwrap_or(0);
        let mtype = int(r, 6).unwrap_or(0);
        let body = text(r, 7);
        let status = int(r, 8);
        let event = int(r, 9);
        let local = text(r, 10).filter(|p| !p.is_empty());
        let title = text(r, 11).filter(|t| !t.is_empty());
        let vstring = text(r, 12).filter(|t| !t.is_empty());
        let vname = text(r, 13).filter(|t| !t.is_empty());
        let (lat, lon) = (real(r, 14), real(r, 15));
        let duration = real(r, 16).filter(|d| *d > 0.0 && d.is_finite());
        let metadata = blob(r, 17);
        let receipt = blob(r, 18);
        let size = int(r, 21).filter(|n| *n > 0);
        let p_stanza = text(r, 19).filter(|t| !t.is_empty());
        let p_text = text(r, 20);

        let (mut kind, media_kind, view_once) = kind_of(mtype);
        let group = conversation_kind(conv) == ConversationKind::Group
            || member.is_some() && conversation_kind(conv) != ConversationKind::Direct;
        let member_name = |m: &(String, Option<String>)| {
            names
                .get(&m.0)
                .or_else(|| push.get(&m.0))
                .cloned()
                .or_else(|| m.1.clone())
                .unwrap_or_else(|| jid_user(&m.0).to_string())
        };
        // The sender: none for the owner's messages and notices; the member in a group, the
        // partner in a one-to-one chat.
        let (sender, sender_name) = if from_me || kind == MessageKind::System {
            (None, None)
        } else if let Some(m) = member {
            (Some(m.0.clone()), Some(member_name(m)))
        } else if group {
            (None, None)
        } else {
            (Some(conv.clone()), Some(name_of(conv)))
        };
        let mut details = MessageDetails {
            view_once,
            duration_seconds: duration.map(|d| d.round() as u64),
            size_bytes: size.map(|n| n as u64),
            ..Default::default()
        };
        let mut text_out = body.clone().unwrap_or_default();
        let mut media = None;
        if let (Some(p), Some(mk)) = (local.as_deref(), media_kind) {
            match layout.media.locate(p) {
                Some((path, present)) => {
                    layout.media.report_key(&path, sink)?;
                    media = Some(MediaRef {
                        path,
                        kind: mk,
                        present,
                        thumbnail: None,
                    })
                }
                None => outside += 1,
            }
        }
        if media_kind.is_some() {
            // A caption (or a document's file name) is the media item's title.
            if text_out.is_empty() {
                text_out = title.clone().unwrap_or_default();
            }
            if media.is_none() {
                details.title = title.clone();
            }
        }
        let (mut reply_to, mut quote) = (p_stanza, p_text);
        if let Some(md) = metadata.as_deref() {
            let (id, quoted) = quote_of(md);
            if reply_to.is_none() {
                reply_to = id;
            }
            if quote.is_none() {
                quote = quoted;
            }
        }
        match kind {
            MessageKind::Location => {
                details.place = Some(Place {
                    title: title.clone(),
                    address: vname.clone(),
                    latitude: lat,
                    longitude: lon,
                });
                if text_out.is_empty() {
                    text_out = title.clone().or(vname.clone()).unwrap_or_default();
                }
            }
            MessageKind::ContactCard if text_out.is_empty() => {
                // Several cards share one item: their names joined by a separator (a list
                // title first when there is one name more than cards).
                let cards: Vec<&str> = vstring
                    .as_deref()
                    .map(|v| v.split("_$!<VCard-Separator>!$_").collect())
                    .unwrap_or_default();
                text_out = cards
                    .iter()
                    .filter_map(|v| v.lines().find_map(|l| l.strip_prefix("FN:")).map(str::trim))
                    .collect::<Vec<_>>()
                    .join(", ");
                if text_out.is_empty() {
                    text_out = vname
                        .as_deref()
                        .unwrap_or("")
                        .split("_$!<Name-Separator>!$_")
                        .collect::<Vec<_>>()
                        .join(", ");
                }
            }
            MessageKind::System => {
                let who = if from_me {
                    "You".to_string()
                } else {
                    member.map(member_name).unwrap_or_default()
                };
                let (sentence, call) = event_text(mtype, event, &who, body.as_deref());
                text_out = sentence;
                if call {
                    kind = MessageKind::Call;
                }
            }
            MessageKind::Revoke => text_out = "This message was deleted".into(),
            MessageKind::Call if text_out.is_empty() => {
                text_out = if from_me {
                    "Outgoing call"
                } else {
                    "Incoming call"
                }
                .into();
            }
            MessageKind::Poll => {
                details.poll = receipt.as_deref().and_then(poll_of);
                if let Some(p) = &details.poll {
                    text_out = p.question.clone();
                }
            }
            MessageKind::Unparsed if text_out.is_empty() => {
                text_out = format!("[WhatsApp message type {mtype}]");
            }
            _ => {}
        }
        if let Some(info) = receipt.as_deref() {
            details.reactions = reactions_of(info, &name_of);
        }
        if reply_to.is_some() && kind == MessageKind::Text {
            kind = MessageKind::Quote;
        }
        let mut raw = serde_json::json!({
            "table": "ZWAMESSAGE",
            "Z_PK": pk,
            "ZMESSAGETYPE": mtype,
            "ZMESSAGESTATUS": status,
            "ZSTANZAID": stanza,
        });
        if let Some(obj) = raw.as_object_mut() {
            if matches!(
                kind,
                MessageKind::System | MessageKind::Call | MessageKind::Unparsed
            ) {
                obj.insert("ZGROUPEVENTTYPE".into(), event.into());
                if let Some(b) = &body {
                    obj.insert("ZTEXT".into(), b.clone().into());
                }
            }
            if let Some(p) = &local {
                obj.insert("ZMEDIALOCALPATH".into(), p.clone().into());
            }
            if let (Some(v), MessageKind::ContactCard) = (&vstring, kind) {
                obj.insert("ZVCARDSTRING".into(), v.clone().into());
            }
        }
        sink.message(Message {
            id: pk.to_string(),
            server_id: stanza,
            conversation: conv.clone(),
            sender,
            sender_name,
            from_me,
            time: Timestamp::Utc(time_ms),
            kind,
            text: text_out,
            reply_to,
            quote,
            media,
            raw: Some(raw.to_string()),
            edited: false,
            details,
        })?;
        counts.messages += 1;
    }
    if orphans > 0 {
        sink.warning(format!(
            "{}: {orphans} message rows belong to no chat and were skipped",
            shown.display()
        ));
    }
    if outside > 0 {
        sink.warning(format!(
            "{}: {outside} media paths point outside WhatsApp's folder and were not followed",
            shown.display()
        ));
    }
    Ok(counts)
}

/// The app group's folders a user may pick or copy, relative to which `ChatStorage.sqlite`
/// sits (WhatsApp and WhatsApp Business).
pub const GROUP_FOLDERS: [&str; 4] = [
    "AppDomainGroup-group.net.whatsapp.WhatsApp.shared",
    "AppDomainGroup-group.net.whatsapp.WhatsAppSMB.shared",
    "group.net.whatsapp.WhatsApp.shared",
    "group.net.whatsapp.WhatsAppSMB.shared",
];

/// The database's file name.
pub const DATABASE: &str = "ChatStorage.sqlite";
/// The address book's file name (beside the database).
pub const CONTACTS: &str = "ContactsV2.sqlite";
/// WhatsApp's and WhatsApp Business's app-group domains in an iPhone backup.
pub const BACKUP_DOMAINS: [&str; 2] = [
    "AppDomainGroup-group.net.whatsapp.WhatsApp.shared",
    "AppDomainGroup-group.net.whatsapp.WhatsAppSMB.shared",
];

/// `ChatStorage.sqlite` under `path`: the file itself, in `path`, or in one of the app
/// group's folders in it.
pub fn find(path: &Path) -> Option<PathBuf> {
    if path.is_file() {
        return (path.file_name()? == DATABASE).then(|| path.to_path_buf());
    }
    std::iter::once(path.join(DATABASE))
        .chain(GROUP_FOLDERS.iter().map(|g| path.join(g).join(DATABASE)))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "iphone-backup")]
    #[test]
    fn backup_file_ids_are_the_documented_ones() {
        // The fileIDs of ChatStorage.sqlite and ContactsV2.sqlite in WhatsApp's domain, as
        // documented by the tools that read iPhone backups.
        assert_eq!(
            backup_file(BACKUP_DOMAINS[0], DATABASE, false),
            "7c/7c7fba66680ef796b916b067077cc246adacf01d"
        );
        assert_eq!(
            backup_file(BACKUP_DOMAINS[0], CONTACTS, false),
            "b8/b8548dc30aa1030df0ce18ef08b882cf7ab5212f"
        );
    }

    #[test]
    fn push_names_plain_and_wrapped() {
        assert_eq!(push_name(" Ann ").as_deref(), Some("Ann"));
        // `+` and base64 of {1: "Bé"}.
        let wrapped = base64::engine::general_purpose::STANDARD.encode([0x0a, 3, b'B', 0xc3, 0xa9]);
        assert_eq!(push_name(&format!("+{wrapped}")).as_deref(), Some("Bé"));
        assert_eq!(push_name(""), None);
    }

    #[test]
    fn media_paths_never_leave_the_group() {
        let place = MediaPlace::Folder {
            root: Path::new("/x"),
            group: Path::new("/x/g"),
        };
        assert_eq!(
            place.locate("/Media/1@s.whatsapp.net/a/b/c.jpg").unwrap().0,
            "g/Message/Media/1@s.whatsapp.net/a/b/c.jpg"
        );
        assert!(place.locate("Media/../../etc/passwd").is_none());
    }
}
