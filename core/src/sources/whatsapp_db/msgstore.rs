//! `msgstore.db` (and `wa.db`'s names) into the chat model.
//!
//! The newer schema (WhatsApp 2.21 and later): `message` (one row a message: `chat_row_id`,
//! `from_me`, `key_id`, `sender_jid_row_id`, `timestamp` in ms UTC, `message_type`,
//! `text_data`), `chat` (`jid_row_id`, `subject`), `jid` (`raw_string`), and one table per
//! kind of content keyed by `message_row_id`: `message_media` (`file_path` relative to the
//! WhatsApp folder, `media_name`, `media_duration`), `message_quoted` (`key_id` and
//! `text_data` of the replied-to message), `message_location`, `message_system`
//! (`action_type`), `message_revoked`, `message_vcard` (`vcard`), and reactions in
//! `message_add_on` + `message_add_on_reaction`. The legacy schema has one `messages` table
//! (`key_remote_jid`, `key_from_me`, `data`, `media_wa_type`, `remote_resource`, …).
//!
//! Columns differ between WhatsApp versions, so each optional table and column is looked up
//! first and read as NULL where it is missing. Messages stream in row order through one
//! query; reactions and vcards come from their own ordered queries merged alongside, so
//! memory grows with chats and contacts, never with messages.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::Connection;

use super::sql::{conversation_kind, int, jid_user, open, real, text, Schema};
use crate::error::{Error, Result};
use crate::sources::model::{
    ChatSink, Contact, ContactKind, Conversation, ConversationKind, MediaKind, MediaRef, Message,
    MessageDetails, MessageKind, Place, Poll, PollAnswer, Reaction, Timestamp,
};
use crate::sources::{fingerprint_value, RowsContext};

/// Where the database's files are, for media paths.
pub struct Layout<'a> {
    /// The folder the user gave (media paths are relative to it).
    pub root: &'a Path,
    /// The WhatsApp folder (`Media/` lives in it; `file_path` is relative to it).
    pub wa_root: &'a Path,
    /// The name to put in errors (the backup file, not the temporary plaintext).
    pub shown: &'a Path,
    /// Where a private copy of a database with a `-wal` goes (default: the system's
    /// temporary folder).
    pub work_dir: Option<&'a Path>,
}

pub use super::sql::Counts;

/// Names from `wa.db`'s `wa_contacts` (display name, else the WhatsApp profile name),
/// reported to the sink as contacts.
pub fn read_contacts(
    wa_db: &Path,
    shown: &Path,
    work_dir: Option<&Path>,
    sink: &mut dyn ChatSink,
) -> Result<HashMap<String, String>> {
    let c = open(wa_db, None, shown, work_dir)?;
    let schema = Schema::load(&c, shown)?;
    let mut names = HashMap::new();
    if !schema.has_col("wa_contacts", "jid") {
        sink.warning(format!(
            "{}: no wa_contacts table; names are phone numbers",
            shown.display()
        ));
        return Ok(names);
    }
    let sql = format!(
        "SELECT w.jid, {}, {} FROM wa_contacts w ORDER BY w.jid",
        schema.col("wa_contacts", "w", "display_name"),
        schema.col("wa_contacts", "w", "wa_name"),
    );
    let mut stmt = c.prepare(&sql).map_err(|e| Error::source_db(shown, e))?;
    let mut rows = stmt.query([]).map_err(|e| Error::source_db(shown, e))?;
    while let Some(r) = rows.next().map_err(|e| Error::source_db(shown, e))? {
        let Some(jid) = text(r, 0) else { continue };
        let display = text(r, 1).filter(|s| !s.is_empty());
        let wa_name = text(r, 2).filter(|s| !s.is_empty());
        let name = display
            .clone()
            .or(wa_name.clone())
            .unwrap_or_else(|| jid_user(&jid).to_string());
        sink.contact(&Contact {
            id: jid.clone(),
            name: name.clone(),
            nickname: wa_name.unwrap_or_default(),
            remark: display.unwrap_or_default(),
            alias: String::new(),
            kind: if jid.ends_with("@g.us") {
                ContactKind::Group
            } else if jid.ends_with("@broadcast") || jid.ends_with("@newsletter") {
                ContactKind::Official
            } else {
                ContactKind::Person
            },
        })?;
        names.insert(jid, name);
    }
    Ok(names)
}

/// What a `message_type` (newer schema) or `media_wa_type` (legacy) is: 10 and 90 are
/// calls, 11 "waiting for this message", 64 a message an admin deleted, 66 a poll, 81 a
/// round video, 82 a view-once voice message, 99 an album (its photos follow as rows of their
/// own), 85 a template or interactive message, 23/44 a business item or cart.
fn kind_of(t: i64) -> (MessageKind, Option<MediaKind>, bool) {
    // (kind, media kind, view once)
    match t {
        0 => (MessageKind::Text, None, false),
        1 => (MessageKind::Image, Some(MediaKind::Image), false),
        2 => (MessageKind::Voice, Some(MediaKind::Audio), false),
        3 | 13 | 81 => (MessageKind::Video, Some(MediaKind::Video), false),
        4 | 14 => (MessageKind::ContactCard, None, false),
        5 | 16 => (MessageKind::Location, None, false),
        7 | 11 => (MessageKind::System, None, false),
        9 => (MessageKind::File, Some(MediaKind::File), false),
        // 8: a call in the legacy table.
        8 | 10 | 90 => (MessageKind::Call, None, false),
        15 | 64 => (MessageKind::Revoke, None, false),
        20 => (MessageKind::Sticker, Some(MediaKind::Sticker), false),
        42 => (MessageKind::Image, Some(MediaKind::Image), true),
        43 => (MessageKind::Video, Some(MediaKind::Video), true),
        66 => (MessageKind::Poll, None, false),
        82 => (MessageKind::Voice, Some(MediaKind::Audio), true),
        // A disappearing-messages setting; texts of WhatsApp itself and one-time codes.
        36 => (MessageKind::System, None, false),
        27 | 28 => (MessageKind::Text, None, false),
        // A business item or cart, a template or interactive message (`message_ui_elements`),
        // an album's parent row (its photos are rows of their own).
        23 | 25 | 44 | 85 | 99 => (MessageKind::Other, None, false),
        _ => (MessageKind::Unparsed, None, false),
    }
}

/// What a call row says: direction and kind, and how it ended (`call_log.call_result`: 5
/// answered; 2, 4, 7… missed, rejected or busy).
fn call_text(from_me: bool, video: bool, result: Option<i64>, secs: Option<i64>) -> String {
    let what = if video { "video call" } else { "voice call" };
    match (result, secs) {
        (Some(5), Some(s)) | (None, Some(s)) => {
            let dir = if from_me { "Outgoing" } else { "Incoming" };
            format!("{dir} {what}, {}:{:02}", s / 60, s % 60)
        }
        _ if from_me => format!("Unanswered {what}"),
        _ => format!("Missed {what}"),
    }
}

/// A sentence for a group event (`message_system.action_type`).
fn system_text(action: Option<i64>, who: &str, data: Option<&str>) -> String {
    system_sentence(action, who, "someone", data)
}

/// [`system_text`] naming the members an event added or removed (`targets`, from
/// `message_system_chat_participant`; "you" when the owner joined).
fn system_sentence(action: Option<i64>, who: &str, targets: &str, data: Option<&str>) -> String {
    let who = if who.is_empty() { "Someone" } else { who };
    let targets = if targets.is_empty() {
        "someone"
    } else {
        targets
    };
    match action {
        Some(1) => format!("{who} changed the group name to \"{}\"", data.unwrap_or("")),
        Some(4) => format!("{who} was added"),
        Some(5) => format!("{who} left"),
        Some(6) => format!("{who} changed the group icon"),
        Some(7) => "You were removed".into(),
        Some(11) => format!("{who} created the group \"{}\"", data.unwrap_or("")),
        Some(12) => format!("{who} added {targets}"),
        Some(14) => format!("{who} removed {targets}"),
        Some(10) | Some(28) => format!("{who} changed their phone number"),
        Some(56) => format!("{who} changed the disappearing messages timer"),
        Some(58) => "You blocked this contact".into(),
        Some(18) | Some(57) => "The security code changed".into(),
        Some(19) => "Messages are end-to-end encrypted".into(),
        Some(20) => "Someone joined with an invite link".into(),
        Some(27) => format!("{who} changed the group description"),
        Some(n) => format!("[WhatsApp system event {n}]"),
        None => "[WhatsApp system event]".into(),
    }
}

/// The media path relative to the export root, and whether the file is there.
fn media_path(layout: &Layout, file_path: &str) -> (String, bool) {
    let fp = file_path.replace('\\', "/");
    // Older versions stored absolute paths (`/storage/emulated/0/WhatsApp/Media/…`).
    let rel = match fp.find("Media/") {
        Some(i) if fp.starts_with('/') => fp[i..].to_string(),
        _ => fp.trim_start_matches('/').to_string(),
    };
    let safe = !rel.split('/').any(|c| c == "..");
    let full = layout.wa_root.join(&rel);
    let present = safe && full.is_file();
    (crate::sources::rel_path(layout.root, &full), present)
}

/// One ordered side query (reactions, vcards) consumed alongside the messages.
struct Side<'s> {
    rows: Option<rusqlite::Rows<'s>>,
    peeked: Option<(i64, Vec<Option<String>>)>,
    width: usize,
}

impl<'s> Side<'s> {
    fn new(rows: Option<rusqlite::Rows<'s>>, width: usize) -> Self {
        Side {
            rows,
            peeked: None,
            width,
        }
    }

    fn fill(&mut self) -> rusqlite::Result<()> {
        if self.peeked.is_none() {
            if let Some(rows) = self.rows.as_mut() {
                match rows.next()? {
                    Some(r) => {
                        let id = int(r, 0).unwrap_or(i64::MIN);
                        let vals = (1..=self.width).map(|i| text(r, i)).collect();
                        self.peeked = Some((id, vals));
                    }
                    None => self.rows = None,
                }
            }
        }
        Ok(())
    }

    /// The rows for message `id` (rows for smaller ids, orphans, are skipped).
    fn take(&mut self, id: i64) -> rusqlite::Result<Vec<Vec<Option<String>>>> {
        let mut out = Vec::new();
        loop {
            self.fill()?;
            match &self.peeked {
                Some((k, _)) if *k < id => self.peeked = None,
                Some((k, _)) if *k == id => {
                    if let Some((_, v)) = self.peeked.take() {
                        out.push(v);
                    }
                }
                _ => return Ok(out),
            }
        }
    }
}

/// An open message database and what reading its rows needs: the schema, where the files
/// are, and the contacts' names.
struct Db<'a> {
    c: &'a Connection,
    s: &'a Schema,
    layout: &'a Layout<'a>,
    names: &'a HashMap<String, String>,
}

/// Reads the database `db` (plain SQLite) into `sink`.
pub fn read(
    db: &Path,
    layout: &Layout,
    names: &HashMap<String, String>,
    sink: &mut dyn ChatSink,
) -> Result<Counts> {
    let c = open(db, None, layout.shown, layout.work_dir)?;
    let schema = Schema::load(&c, layout.shown)?;
    let db = Db {
        c: &c,
        s: &schema,
        layout,
        names,
    };
    // Databases of 2020-2021 have both tables, with the messages in the legacy one.
    let legacy_rows = schema.has_col("messages", "key_remote_jid")
        && c.query_row(
            "SELECT EXISTS(SELECT 1 FROM messages WHERE key_remote_jid <> '-1')",
            [],
            |r| r.get::<_, bool>(0),
        )
        .map_err(|e| Error::source_db(layout.shown, e))?;
    if schema.has("message") && schema.has("chat") && schema.has("jid") && !legacy_rows {
        read_new(&db, sink)
    } else if schema.has("messages") {
        read_legacy(&db, sink)
    } else {
        Err(Error::Source {
            path: layout.shown.into(),
            reason: "not a WhatsApp message database (no message or messages table)".into(),
        })
    }
}

/// The details every message row starts with: whether it is view-once, and its media's
/// duration and size.
fn row_details(view_once: bool, duration: Option<i64>, size: Option<i64>) -> MessageDetails {
    MessageDetails {
        view_once,
        duration_seconds: duration.map(|d| d as u64),
        size_bytes: size.filter(|n| *n > 0).map(|n| n as u64),
        ..Default::default()
    }
}

fn display_name(jid: &str, names: &HashMap<String, String>) -> String {
    names
        .get(jid)
        .cloned()
        .unwrap_or_else(|| jid_user(jid).to_string())
}

fn read_new(db: &Db<'_>, sink: &mut dyn ChatSink) -> Result<Counts> {
    let (c, s, layout, names) = (db.c, db.s, db.layout, db.names);
    let err = |e| Error::source_db(layout.shown, e);
    let mut counts = Counts::default();
    // jid row → raw string (grows with contacts, not messages).
    let mut jids: HashMap<i64, String> = HashMap::new();
    {
        let mut stmt = c.prepare("SELECT _id, raw_string FROM jid").map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            if let (Some(id), Some(raw)) = (int(r, 0), text(r, 1)) {
                jids.insert(id, raw);
            }
        }
    }
    // A privacy id (`…@lid`) stands for the number `jid_map` names, where it names one: the
    // person is then the same as in one-to-one chats and the address book.
    if s.has_col("jid_map", "lid_row_id") && s.has_col("jid_map", "jid_row_id") {
        let mut stmt = c
            .prepare("SELECT lid_row_id, jid_row_id FROM jid_map")
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        let mut mapped = Vec::new();
        while let Some(r) = rows.next().map_err(err)? {
            if let (Some(lid), Some(phone)) = (int(r, 0), int(r, 1)) {
                if let Some(p) = jids.get(&phone) {
                    mapped.push((lid, p.clone()));
                }
            }
        }
        for (lid, phone) in mapped {
            jids.insert(lid, phone);
        }
    }
    // Group members.
    let mut members: HashMap<i64, Vec<String>> = HashMap::new();
    if s.has_col("group_participant_user", "group_jid_row_id")
        && s.has_col("group_participant_user", "user_jid_row_id")
    {
        let mut stmt = c
            .prepare(
                "SELECT group_jid_row_id, user_jid_row_id FROM group_participant_user \
                 ORDER BY group_jid_row_id, user_jid_row_id",
            )
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            if let (Some(g), Some(u)) = (int(r, 0), int(r, 1)) {
                if let Some(j) = jids.get(&u) {
                    members.entry(g).or_default().push(j.clone());
                }
            }
        }
    }
    // Chats: row → jid.
    let mut chats: HashMap<i64, String> = HashMap::new();
    {
        let sql = format!(
            "SELECT c._id, c.jid_row_id, {} FROM chat c ORDER BY c._id",
            s.col("chat", "c", "subject")
        );
        let mut stmt = c.prepare(&sql).map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            let (Some(id), Some(jid_row)) = (int(r, 0), int(r, 1)) else {
                continue;
            };
            let Some(jid) = jids.get(&jid_row).cloned() else {
                continue;
            };
            let subject = text(r, 2).filter(|t| !t.is_empty());
            let kind = conversation_kind(&jid);
            let name = match (kind, subject) {
                (ConversationKind::Group, Some(sub)) => sub,
                (_, sub) => names.get(&jid).cloned().or(sub).unwrap_or_else(|| {
                    if jid == "status@broadcast" {
                        "Status".into()
                    } else {
                        jid_user(&jid).to_string()
                    }
                }),
            };
            sink.conversation(&Conversation {
                id: jid.clone(),
                name,
                kind,
                members: members.remove(&jid_row).unwrap_or_default(),
            })?;
            counts.chats += 1;
            chats.insert(id, jid);
        }
    }

    let mut joins = String::new();
    let mut join = |table: &str, alias: &str| {
        if s.has_col(table, "message_row_id") {
            joins.push_str(&format!(
                " LEFT JOIN {table} {alias} ON {alias}.message_row_id = m._id"
            ));
        }
    };
    join("message_media", "mm");
    join("message_quoted", "q");
    join("message_location", "l");
    join("message_system", "sy");
    join("message_revoked", "rv");
    join("message_edit_info", "ed");
    join("message_view_once_media", "vo");
    join("message_call_log", "mcl");
    join("message_system_group", "sg");
    let calls = s.has_col("message_call_log", "call_log_row_id") && s.has_col("call_log", "_id");
    if calls {
        joins.push_str(" LEFT JOIN call_log cl ON cl._id = mcl.call_log_row_id");
    }
    let call_col = |col: &str| {
        if calls {
            s.col("call_log", "cl", col)
        } else {
            "NULL".into()
        }
    };
    let sql = format!(
        "SELECT m._id, m.chat_row_id, {from_me}, {key_id}, {sender}, {ts}, {mtype}, {text}, {status},
                {file_path}, {media_name}, {duration}, {mime},
                {q_key}, {q_text}, {lat}, {lon}, {place}, {address}, {action}, {revoked},
                {edited}, {once}, {video}, {call_secs}, {call_result}, {me_joined}, {size}
         FROM message m{joins} ORDER BY m._id",
        from_me = s.col("message", "m", "from_me"),
        key_id = s.col("message", "m", "key_id"),
        sender = s.col("message", "m", "sender_jid_row_id"),
        ts = s.col("message", "m", "timestamp"),
        mtype = s.col("message", "m", "message_type"),
        text = s.col("message", "m", "text_data"),
        status = s.col("message", "m", "status"),
        file_path = s.col("message_media", "mm", "file_path"),
        media_name = s.col("message_media", "mm", "media_name"),
        duration = s.col("message_media", "mm", "media_duration"),
        mime = s.col("message_media", "mm", "mime_type"),
        q_key = s.col("message_quoted", "q", "key_id"),
        q_text = s.col("message_quoted", "q", "text_data"),
        lat = s.col("message_location", "l", "latitude"),
        lon = s.col("message_location", "l", "longitude"),
        place = s.col("message_location", "l", "place_name"),
        address = s.col("message_location", "l", "place_address"),
        action = s.col("message_system", "sy", "action_type"),
        revoked = s.col("message_revoked", "rv", "revoked_key_id"),
        edited = s.col("message_edit_info", "ed", "edited_timestamp"),
        once = s.col("message_view_once_media", "vo", "state"),
        video = call_col("video_call"),
        call_secs = call_col("duration"),
        call_result = call_col("call_result"),
        me_joined = s.col("message_system_group", "sg", "is_me_joined"),
        size = s.col("message_media", "mm", "file_size"),
    );
    let mut stmt = c.prepare(&sql).map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;

    let mut react_stmt = if s.has_col("message_add_on", "parent_message_row_id")
        && s.has_col("message_add_on_reaction", "message_add_on_row_id")
    {
        Some(
            c.prepare(&format!(
                "SELECT a.parent_message_row_id, r.reaction, {from_me}, a.sender_jid_row_id
                 FROM message_add_on a JOIN message_add_on_reaction r
                   ON r.message_add_on_row_id = a._id
                 ORDER BY a.parent_message_row_id, a._id",
                from_me = s.col("message_add_on", "a", "from_me"),
            ))
            .map_err(err)?,
        )
    } else {
        None
    };
    let reactions_rows = react_stmt.as_mut().map(|st| st.query([])).transpose();
    let mut reactions = Side::new(reactions_rows.map_err(err)?, 3);
    let mut vcard_stmt = if s.has_col("message_vcard", "message_row_id")
        && s.has_col("message_vcard", "vcard")
    {
        Some(
            c.prepare(
                "SELECT message_row_id, vcard FROM message_vcard ORDER BY message_row_id, _id",
            )
            .or_else(|_| {
                c.prepare("SELECT message_row_id, vcard FROM message_vcard ORDER BY message_row_id")
            })
            .map_err(err)?,
        )
    } else {
        None
    };
    let vcards_rows = vcard_stmt.as_mut().map(|st| st.query([])).transpose();
    let mut vcards = Side::new(vcards_rows.map_err(err)?, 1);
    let mut option_stmt = if s.has_col("message_poll_option", "message_row_id")
        && s.has_col("message_poll_option", "option_name")
    {
        Some(
            c.prepare(&format!(
                "SELECT o.message_row_id, o.option_name, {} FROM message_poll_option o
                 ORDER BY o.message_row_id, o._id",
                s.col("message_poll_option", "o", "vote_total")
            ))
            .map_err(err)?,
        )
    } else {
        None
    };
    let option_rows = option_stmt.as_mut().map(|st| st.query([])).transpose();
    let mut options = Side::new(option_rows.map_err(err)?, 2);
    // The members a group event added or removed.
    let mut participant_stmt = if s.has_col("message_system_chat_participant", "message_row_id")
        && s.has_col("message_system_chat_participant", "user_jid_row_id")
    {
        Some(
            c.prepare(
                "SELECT message_row_id, user_jid_row_id FROM message_system_chat_participant
                 ORDER BY message_row_id, user_jid_row_id",
            )
            .map_err(err)?,
        )
    } else {
        None
    };
    let participant_rows = participant_stmt.as_mut().map(|st| st.query([])).transpose();
    let mut participants = Side::new(participant_rows.map_err(err)?, 1);
    // Template and interactive messages: their text is JSON in `message_ui_elements`.
    let mut ui_stmt = if s.has_col("message_ui_elements", "message_row_id")
        && s.has_col("message_ui_elements", "element_content")
    {
        Some(
            c.prepare(
                "SELECT message_row_id, element_content FROM message_ui_elements
                 ORDER BY message_row_id, _id",
            )
            .map_err(err)?,
        )
    } else {
        None
    };
    let ui_rows = ui_stmt.as_mut().map(|st| st.query([])).transpose();
    let mut ui = Side::new(ui_rows.map_err(err)?, 1);

    let hasher = sink.source_rows(&rows_context(layout, names, &jids, &chats));
    let mut orphans = 0u64;
    while let Some(r) = rows.next().map_err(err)? {
        let Some(row_id) = int(r, 0) else { continue };
        let Some(conv) = int(r, 1).and_then(|id| chats.get(&id)) else {
            // WhatsApp's own placeholder row (chat -1) is in every database: not worth a word.
            if int(r, 1) != Some(-1) {
                orphans += 1;
            }
            continue;
        };
        // The side tables' rows of this message (each query is in message order).
        let row_participants = participants.take(row_id).map_err(err)?;
        let row_ui = ui.take(row_id).map_err(err)?;
        let row_options = options.take(row_id).map_err(err)?;
        let row_vcards = vcards.take(row_id).map_err(err)?;
        let row_reactions = reactions.take(row_id).map_err(err)?;
        let (_, file_kind, _) = kind_of(int(r, 6).unwrap_or(0));
        // Where its file is, and whether it is there.
        let found = match (text(r, 9).filter(|p| !p.is_empty()), file_kind) {
            (Some(fp), Some(_)) => Some(media_path(layout, &fp)),
            _ => None,
        };
        if let Some(h) = &hasher {
            // Everything the message is made of besides the context: the row, its side
            // rows, its file's presence.
            let mut fp = h.row();
            for i in 0..28 {
                fingerprint_value(&mut fp, r.get_ref(i).unwrap_or(ValueRef::Null));
            }
            for side in [
                &row_participants,
                &row_ui,
                &row_options,
                &row_vcards,
                &row_reactions,
            ] {
                fp.int(side.len() as i64);
                for values in side {
                    for v in values {
                        fp.opt_bytes(v.as_deref().map(str::as_bytes));
                    }
                }
            }
            if let Some((path, present)) = &found {
                fp.bytes(path.as_bytes()).int(i64::from(*present));
            }
            if sink.source_row(row_id, fp.finish())? {
                counts.messages += 1;
                continue;
            }
        }
        let from_me = int(r, 2).unwrap_or(0) == 1;
        let key_id = text(r, 3);
        let sender_jid = int(r, 4).filter(|&j| j > 0).and_then(|j| jids.get(&j));
        let ts = int(r, 5).unwrap_or(0);
        let mtype = int(r, 6).unwrap_or(0);
        let body = text(r, 7);
        let status = int(r, 8);
        let file_path = text(r, 9).filter(|p| !p.is_empty());
        let media_name = text(r, 10).filter(|p| !p.is_empty());
        let duration = int(r, 11).filter(|d| *d > 0);
        let mime = text(r, 12);
        let q_key = text(r, 13);
        let q_text = text(r, 14);
        let (lat, lon) = (real(r, 15), real(r, 16));
        let (place, address) = (text(r, 17), text(r, 18));
        let action = int(r, 19);
        let revoked = text(r, 20);
        let edited = int(r, 21).is_some();
        let once = int(r, 22).is_some();
        let video = int(r, 23);
        let call_secs = int(r, 24).filter(|d| *d > 0);
        let call_result = int(r, 25);
        let me_joined = int(r, 26) == Some(1);
        let size = int(r, 27);

        let (mut kind, media_kind, view_once) = kind_of(mtype);
        let view_once = view_once || once;
        // The sender: none for what the owner sent and for system lines; the chat partner in
        // a one-to-one chat; the member in a group.
        let sender = if from_me || kind == MessageKind::System {
            None
        } else {
            match sender_jid {
                Some(j) => Some(j.clone()),
                None if conversation_kind(conv) == ConversationKind::Direct => Some(conv.clone()),
                None => None,
            }
        };
        let sender_name = sender.as_deref().map(|j| display_name(j, names));
        let mut details = row_details(view_once, duration, size);
        let mut text_out = body.clone().unwrap_or_default();
        let mut media = None;
        if let (Some((path, present)), Some(mk)) = (found, media_kind) {
            media = Some(MediaRef {
                path,
                kind: mk,
                present,
                thumbnail: None,
            });
        }
        if kind == MessageKind::File && text_out.is_empty() {
            text_out = media_name.clone().unwrap_or_default();
        }
        if media_kind.is_some() && media.is_none() {
            // Media never downloaded: the row has no file.
            details.title = media_name.clone();
        }
        match kind {
            MessageKind::Location => {
                details.place = Some(Place {
                    title: place.clone().filter(|p| !p.is_empty()),
                    address: address.clone().filter(|p| !p.is_empty()),
                    latitude: lat,
                    longitude: lon,
                });
                if text_out.is_empty() {
                    text_out = place.clone().unwrap_or_default();
                }
            }
            MessageKind::System if mtype == 11 => text_out = "Waiting for this message".into(),
            MessageKind::System if mtype == 36 => {
                text_out = "The disappearing messages setting changed".into();
            }
            MessageKind::System => {
                // The actor is the sender row, also on the owner's own rows ("X added you").
                let who = match sender_jid {
                    Some(j) => display_name(j, names),
                    None if from_me => "You".into(),
                    None => String::new(),
                };
                let mut targets: Vec<String> = row_participants
                    .into_iter()
                    .filter_map(|p| p.into_iter().next().flatten())
                    .filter_map(|j| j.parse::<i64>().ok())
                    .filter_map(|j| jids.get(&j))
                    .map(|j| display_name(j, names))
                    .collect();
                if me_joined {
                    targets = vec!["you".into()];
                }
                text_out = system_sentence(action, &who, &targets.join(", "), body.as_deref());
            }
            MessageKind::Other if text_out.is_empty() => {
                text_out = row_ui
                    .into_iter()
                    .filter_map(|e| e.into_iter().next().flatten())
                    .filter_map(|json| serde_json::from_str::<serde_json::Value>(&json).ok())
                    .flat_map(|v| {
                        ["title", "sub_title", "description"]
                            .into_iter()
                            .filter_map(|k| v[k].as_str().map(str::to_string))
                            .filter(|t| !t.trim().is_empty())
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                if text_out.is_empty() {
                    text_out = match mtype {
                        99 => "Album",
                        44 => "A cart",
                        23 | 25 => "A business item",
                        _ => "A WhatsApp template message",
                    }
                    .into();
                }
            }
            MessageKind::Revoke if text_out.is_empty() => {
                text_out = if mtype == 64 {
                    "This message was deleted by an admin"
                } else if from_me {
                    "You deleted this message"
                } else {
                    "This message was deleted"
                }
                .into();
            }
            MessageKind::Call => {
                text_out = call_text(from_me, video == Some(1), call_result, call_secs);
                details.duration_seconds = call_secs.map(|d| d as u64);
            }
            MessageKind::Poll => {
                let answers: Vec<PollAnswer> = row_options
                    .into_iter()
                    .filter_map(|o| {
                        let text = o.first().cloned().flatten()?;
                        let voters = o.get(1).cloned().flatten().and_then(|v| v.parse().ok());
                        Some(PollAnswer { text, voters })
                    })
                    .collect();
                details.poll = Some(Poll {
                    question: text_out.clone(),
                    answers,
                    closed: false,
                });
            }
            MessageKind::Unparsed if text_out.is_empty() => {
                text_out = format!("[WhatsApp message type {mtype}]");
            }
            _ => {}
        }
        let vcard_text: Vec<String> = row_vcards
            .into_iter()
            .filter_map(|v| v.into_iter().next().flatten())
            .collect();
        if kind == MessageKind::ContactCard && text_out.is_empty() {
            text_out = vcard_text
                .iter()
                .filter_map(|v| v.lines().find_map(|l| l.strip_prefix("FN:")).map(str::trim))
                .collect::<Vec<_>>()
                .join(", ");
        }
        for rx in row_reactions {
            let emoji = rx.first().cloned().flatten().unwrap_or_default();
            if emoji.is_empty() {
                continue; // a reaction taken back
            }
            let who = if rx.get(1).cloned().flatten().as_deref() == Some("1") {
                "You".to_string()
            } else {
                // A one-to-one chat's reactions carry no sender (-1): the partner's.
                rx.get(2)
                    .cloned()
                    .flatten()
                    .and_then(|j| j.parse::<i64>().ok())
                    .and_then(|j| jids.get(&j))
                    .or_else(|| {
                        (conversation_kind(conv) == ConversationKind::Direct).then_some(conv)
                    })
                    .map(|j| display_name(j, names))
                    .unwrap_or_default()
            };
            match details.reactions.iter_mut().find(|x| x.emoji == emoji) {
                Some(x) => {
                    x.count += 1;
                    if !who.is_empty() {
                        x.from.push(who);
                    }
                }
                None => details.reactions.push(Reaction {
                    emoji,
                    count: 1,
                    from: if who.is_empty() {
                        Vec::new()
                    } else {
                        vec![who]
                    },
                }),
            }
        }
        let reply_to = q_key.filter(|k| !k.is_empty());
        if reply_to.is_some() && kind == MessageKind::Text {
            kind = MessageKind::Quote;
        }
        let mut raw = serde_json::json!({
            "table": "message",
            "_id": row_id,
            "message_type": mtype,
            "status": status,
            "key_id": key_id,
            "timestamp": ts,
        });
        if let Some(obj) = raw.as_object_mut() {
            if let Some(fp) = &file_path {
                obj.insert("file_path".into(), fp.clone().into());
            }
            if let Some(m) = &mime {
                obj.insert("mime_type".into(), m.clone().into());
            }
            if let Some(a) = action {
                obj.insert("action_type".into(), a.into());
            }
            if let Some(k) = &revoked {
                obj.insert("revoked_key_id".into(), k.clone().into());
            }
            if !vcard_text.is_empty() {
                obj.insert("vcard".into(), vcard_text.join("\n").into());
            }
            if kind == MessageKind::System || kind == MessageKind::Unparsed {
                if let Some(b) = &body {
                    obj.insert("text_data".into(), b.clone().into());
                }
            }
        }
        sink.message(Message {
            id: row_id.to_string(),
            server_id: key_id,
            conversation: conv.clone(),
            sender,
            sender_name,
            from_me,
            time: Timestamp::Utc(ts),
            kind,
            text: text_out,
            reply_to,
            quote: q_text,
            media,
            raw: Some(raw.to_string()),
            edited,
            details,
        })?;
        counts.messages += 1;
    }
    if orphans > 0 {
        sink.warning(format!(
            "{}: {orphans} message rows belong to no chat and were skipped",
            layout.shown.display()
        ));
    }
    Ok(counts)
}

/// What every message of a read depends on besides its row and side rows, for
/// [`ChatSink::source_rows`]: the reader's version, where the files are, the names of
/// contacts and the jids and chats that rows point to.
fn rows_context(
    layout: &Layout,
    names: &HashMap<String, String>,
    jids: &HashMap<i64, String>,
    chats: &HashMap<i64, String>,
) -> Vec<u8> {
    let mut c = RowsContext::new("whatsapp-db rows 1");
    c.bytes(layout.root.as_os_str().as_encoded_bytes())
        .bytes(layout.wa_root.as_os_str().as_encoded_bytes())
        .sorted(names, |c, k, v| {
            c.text(k).text(v);
        });
    for map in [jids, chats] {
        c.sorted(map, |c, k, v| {
            c.bytes(&k.to_le_bytes()).text(v);
        });
    }
    c.finish()
}

/// The legacy schema: one `messages` table keyed by the chat's jid.
fn read_legacy(db: &Db<'_>, sink: &mut dyn ChatSink) -> Result<Counts> {
    let (c, s, layout, names) = (db.c, db.s, db.layout, db.names);
    let err = |e| Error::source_db(layout.shown, e);
    let mut counts = Counts::default();
    // Conversations: the distinct jids, subjects from `chat_list` (older) or `chat` by jid
    // (2020-2021, when both schemas are there), members from `group_participants`.
    let mut subjects: HashMap<String, String> = HashMap::new();
    let subject_sql =
        if s.has_col("chat_list", "key_remote_jid") && s.has_col("chat_list", "subject") {
            Some("SELECT key_remote_jid, subject FROM chat_list")
        } else if s.has_col("chat", "subject")
            && s.has_col("chat", "jid_row_id")
            && s.has_col("jid", "raw_string")
        {
            Some("SELECT j.raw_string, c.subject FROM chat c JOIN jid j ON j._id = c.jid_row_id")
        } else {
            None
        };
    if let Some(sql) = subject_sql {
        let mut stmt = c.prepare(sql).map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            if let (Some(j), Some(sub)) = (text(r, 0), text(r, 1).filter(|t| !t.is_empty())) {
                subjects.insert(j, sub);
            }
        }
    }
    let mut members: HashMap<String, Vec<String>> = HashMap::new();
    if s.has_col("group_participants", "gjid") && s.has_col("group_participants", "jid") {
        let mut stmt = c
            .prepare("SELECT gjid, jid FROM group_participants ORDER BY gjid, jid")
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            // The owner is listed with an empty jid.
            if let (Some(g), Some(j)) = (text(r, 0), text(r, 1).filter(|j| !j.is_empty())) {
                members.entry(g).or_default().push(j);
            }
        }
    }
    {
        let mut stmt = c
            .prepare("SELECT DISTINCT key_remote_jid FROM messages WHERE key_remote_jid <> '-1' ORDER BY key_remote_jid")
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            let Some(jid) = text(r, 0) else { continue };
            let kind = conversation_kind(&jid);
            let name = subjects
                .get(&jid)
                .cloned()
                .unwrap_or_else(|| display_name(&jid, names));
            sink.conversation(&Conversation {
                id: jid.clone(),
                name,
                kind,
                members: members.remove(&jid).unwrap_or_default(),
            })?;
            counts.chats += 1;
        }
    }
    let quotes = s.has_col("messages", "quoted_row_id") && s.has_col("messages_quotes", "key_id");
    // 2020-2021: media paths and group events in the newer side tables, by row id.
    let media =
        s.has_col("message_media", "message_row_id") && s.has_col("message_media", "file_path");
    let system = s.has_col("message_system", "message_row_id");
    let sql = format!(
        "SELECT m._id, m.key_remote_jid, {from_me}, {key_id}, {res}, {ts}, {mtype}, {data}, {status},
                {caption}, {name}, {lat}, {lon}, {duration}, {q_key}, {q_data}, {file_path},
                {action}, {edit}, {size}
         FROM messages m{join}{media_join}{system_join} WHERE m.key_remote_jid <> '-1' ORDER BY m._id",
        from_me = s.col("messages", "m", "key_from_me"),
        key_id = s.col("messages", "m", "key_id"),
        res = s.col("messages", "m", "remote_resource"),
        ts = s.col("messages", "m", "timestamp"),
        mtype = s.col("messages", "m", "media_wa_type"),
        data = s.col("messages", "m", "data"),
        status = s.col("messages", "m", "status"),
        caption = s.col("messages", "m", "media_caption"),
        name = s.col("messages", "m", "media_name"),
        lat = s.col("messages", "m", "latitude"),
        lon = s.col("messages", "m", "longitude"),
        duration = s.col("messages", "m", "media_duration"),
        q_key = if quotes { "q.key_id".to_string() } else { "NULL".into() },
        q_data = if quotes { s.col("messages_quotes", "q", "data") } else { "NULL".into() },
        join = if quotes { " LEFT JOIN messages_quotes q ON q._id = m.quoted_row_id" } else { "" },
        file_path = if media { "mm.file_path".to_string() } else { "NULL".into() },
        media_join = if media { " LEFT JOIN message_media mm ON mm.message_row_id = m._id" } else { "" },
        action = if system { s.col("message_system", "sy", "action_type") } else { "NULL".into() },
        system_join = if system { " LEFT JOIN message_system sy ON sy.message_row_id = m._id" } else { "" },
        edit = s.col("messages", "m", "edit_version"),
        size = s.col("messages", "m", "media_size"),
    );
    let mut stmt = c.prepare(&sql).map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    while let Some(r) = rows.next().map_err(err)? {
        let Some(row_id) = int(r, 0) else { continue };
        let Some(conv) = text(r, 1) else { continue };
        let from_me = int(r, 2).unwrap_or(0) == 1;
        let key_id = text(r, 3);
        let resource = text(r, 4).filter(|t| !t.is_empty());
        let ts = int(r, 5).unwrap_or(0);
        let mtype = int(r, 6).unwrap_or(0);
        let data = text(r, 7);
        let status = int(r, 8);
        let caption = text(r, 9);
        let media_name = text(r, 10);
        let (lat, lon) = (real(r, 11), real(r, 12));
        let duration = int(r, 13).filter(|d| *d > 0);
        let q_key = text(r, 14).filter(|k| !k.is_empty());
        let q_text = text(r, 15);
        let file_path = text(r, 16).filter(|p| !p.is_empty());
        let action = int(r, 17);
        let edit_version = int(r, 18);
        let size = int(r, 19);
        let (mut kind, media_kind, view_once) = kind_of(mtype);
        // The legacy table marks group events with status 6, and a message deleted for
        // everyone with edit_version 7.
        if status == Some(6) {
            kind = MessageKind::System;
        } else if edit_version == Some(7) {
            kind = MessageKind::Revoke;
        }
        let sender = if from_me || kind == MessageKind::System {
            None
        } else {
            resource.clone().or_else(|| {
                (conversation_kind(&conv) == ConversationKind::Direct).then(|| conv.clone())
            })
        };
        let sender_name = sender.as_deref().map(|j| display_name(j, names));
        let mut text_out = match kind {
            MessageKind::Text => data.clone().unwrap_or_default(),
            _ => caption.clone().or(data.clone()).unwrap_or_default(),
        };
        let mut details = row_details(view_once, duration, size);
        match kind {
            MessageKind::Location => {
                details.place = Some(Place {
                    latitude: lat,
                    longitude: lon,
                    ..Default::default()
                })
            }
            MessageKind::System => {
                let who = match resource.as_deref() {
                    Some(j) => display_name(j, names),
                    None if from_me => "You".into(),
                    None => String::new(),
                };
                // Before `message_system`, a subject change kept the new subject in `data`
                // (other events hold a number or nothing there).
                let action = action.or_else(|| {
                    data.as_deref()
                        .filter(|d| {
                            !d.trim().is_empty() && !d.trim().bytes().all(|b| b.is_ascii_digit())
                        })
                        .map(|_| 1)
                });
                text_out = system_text(action, &who, data.as_deref());
            }
            MessageKind::Revoke => text_out = "This message was deleted".into(),
            // The legacy table keeps a contact card's vCard in `data`, its name in `media_name`.
            MessageKind::ContactCard => {
                let card = data.as_deref().unwrap_or("");
                text_out = card
                    .lines()
                    .find_map(|l| l.strip_prefix("FN:"))
                    .map(|n| n.trim().to_string())
                    .or(media_name.clone())
                    .unwrap_or_default();
            }
            MessageKind::File if text_out.is_empty() => {
                text_out = media_name.clone().unwrap_or_default()
            }
            MessageKind::Call if text_out.is_empty() => {
                text_out = call_text(from_me, false, None, duration);
            }
            MessageKind::Unparsed if text_out.is_empty() => {
                text_out = format!("[WhatsApp message type {mtype}]")
            }
            _ => {}
        }
        if q_key.is_some() && kind == MessageKind::Text {
            kind = MessageKind::Quote;
        }
        // Media: the path in `message_media` where the database has it (2020-2021); older
        // ones keep it only inside a serialized Java object, so the name is kept instead.
        let media = match (file_path.as_deref(), media_kind, kind) {
            (Some(fp), Some(mk), k) if k != MessageKind::Revoke && k != MessageKind::System => {
                let (path, present) = media_path(layout, fp);
                Some(MediaRef {
                    path,
                    kind: mk,
                    present,
                    thumbnail: None,
                })
            }
            _ => None,
        };
        if media.is_none() && media_kind.is_some() {
            details.title = media_name.clone().filter(|n| !n.is_empty());
        }
        let raw = serde_json::json!({
            "table": "messages",
            "_id": row_id,
            "media_wa_type": mtype,
            "status": status,
            "key_id": key_id,
            "timestamp": ts,
            "data": if matches!(kind, MessageKind::System | MessageKind::Unparsed) { data.clone() } else { None },
        });
        sink.message(Message {
            id: row_id.to_string(),
            server_id: key_id,
            conversation: conv,
            sender,
            sender_name,
            from_me,
            time: Timestamp::Utc(ts),
            kind,
            text: text_out,
            reply_to: q_key,
            quote: q_text,
            media,
            raw: Some(raw.to_string()),
            edited: false,
            details,
        })?;
        counts.messages += 1;
    }
    Ok(counts)
}
