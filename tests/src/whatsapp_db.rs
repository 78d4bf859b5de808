//! WhatsApp's own Android folder with known facts: `Databases/msgstore.db` in the newer
//! schema (`message`, `jid`, `chat`, `message_media`, `message_quoted`, `message_location`,
//! `message_system`, `message_revoked`, `message_vcard`, reactions in `message_add_on`),
//! `Databases/wa.db` (`wa_contacts`) and `Media/` files, some present, some missing. The
//! tests encrypt the database with an independent tool (wa-crypt-tools) and read it back.

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};

/// One chat as written.
#[derive(Debug, Clone)]
pub struct ChatFact {
    /// The chat's jid (the conversation id the reader reports).
    pub jid: String,
    /// The name a reader should show.
    pub name: String,
    /// Whether it is a group.
    pub group: bool,
    /// Messages in it.
    pub messages: usize,
    /// Distinct senders of messages not from the owner (jids).
    pub senders: Vec<String>,
}

/// What the generated folder holds.
#[derive(Debug, Clone, Default)]
pub struct WaDbFacts {
    /// Chats, in `chat._id` order.
    pub chats: Vec<ChatFact>,
    /// Messages in all chats (the placeholder row of no chat not counted).
    pub messages: usize,
    /// Messages sent by the owner.
    pub from_me: usize,
    /// Media paths (relative to the WhatsApp folder) whose files exist.
    pub media_present: Vec<String>,
    /// Media paths whose files do not exist.
    pub media_missing: Vec<String>,
    /// (message key_id, quoted key_id) of replies.
    pub quotes: Vec<(String, String)>,
    /// Revoked messages.
    pub revokes: usize,
    /// System events.
    pub system: usize,
    /// Locations (latitude, longitude, place).
    pub locations: Vec<(f64, f64, String)>,
    /// Contact cards (the FN of each).
    pub vcards: Vec<String>,
    /// Reactions: (message key_id, emoji).
    pub reactions: Vec<(String, String)>,
    /// Every message's (key_id, timestamp in ms).
    pub times: Vec<(String, i64)>,
}

const SCHEMA: &str = "
CREATE TABLE jid (_id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, server TEXT NOT NULL,
  agent INTEGER, device INTEGER, type INTEGER, raw_string TEXT);
CREATE UNIQUE INDEX jid_key_index ON jid (user, server, agent, device);
CREATE TABLE chat (_id INTEGER PRIMARY KEY AUTOINCREMENT, jid_row_id INTEGER UNIQUE, hidden INTEGER,
  subject TEXT, created_timestamp INTEGER, display_message_row_id INTEGER,
  last_message_row_id INTEGER, archived INTEGER, sort_timestamp INTEGER);
CREATE TABLE message (_id INTEGER PRIMARY KEY AUTOINCREMENT, chat_row_id INTEGER NOT NULL,
  from_me INTEGER NOT NULL, key_id TEXT NOT NULL, sender_jid_row_id INTEGER, status INTEGER,
  broadcast INTEGER, recipient_count INTEGER, participant_hash TEXT, origination_flags INTEGER,
  origin INTEGER, timestamp INTEGER, received_timestamp INTEGER, receipt_server_timestamp INTEGER,
  message_type INTEGER, text_data TEXT, starred INTEGER, lookup_tables INTEGER, sort_id INTEGER);
CREATE INDEX message_sort_id_index ON message (chat_row_id, sort_id);
CREATE TABLE message_media (message_row_id INTEGER PRIMARY KEY, chat_row_id INTEGER,
  autotransfer_retry_enabled INTEGER, multicast_id TEXT, media_job_uuid TEXT, transferred INTEGER,
  transcoded INTEGER, file_path TEXT, file_size INTEGER, suspicious_content INTEGER,
  trim_from INTEGER, trim_to INTEGER, face_x INTEGER, face_y INTEGER, media_key BLOB,
  media_key_timestamp INTEGER, width INTEGER, height INTEGER, has_streaming_sidecar INTEGER,
  gif_attribution INTEGER, thumbnail_height_width_ratio REAL, direct_path TEXT,
  first_scan_sidecar BLOB, first_scan_length INTEGER, message_url TEXT, mime_type TEXT,
  file_length INTEGER, media_name TEXT, file_hash TEXT, media_duration INTEGER, page_count INTEGER,
  enc_file_hash TEXT, partial_media_hash TEXT, partial_media_enc_hash TEXT, is_animated_sticker INTEGER,
  original_file_hash TEXT, mute_video INTEGER, media_caption TEXT);
CREATE TABLE message_quoted (message_row_id INTEGER PRIMARY KEY, chat_row_id INTEGER,
  parent_message_chat_row_id INTEGER, from_me INTEGER, sender_jid_row_id INTEGER, key_id TEXT,
  timestamp INTEGER, message_type INTEGER, origin INTEGER, text_data TEXT,
  payment_transaction_id TEXT, lookup_tables INTEGER);
CREATE TABLE message_location (message_row_id INTEGER PRIMARY KEY, chat_row_id INTEGER,
  latitude REAL, longitude REAL, place_name TEXT, place_address TEXT, url TEXT,
  live_share_duration INTEGER, live_share_final_sequence_number INTEGER, map_download_status INTEGER);
CREATE TABLE message_system (message_row_id INTEGER PRIMARY KEY, action_type INTEGER NOT NULL);
CREATE TABLE message_revoked (message_row_id INTEGER PRIMARY KEY, revoked_key_id TEXT NOT NULL,
  admin_jid_row_id INTEGER, revoke_timestamp INTEGER);
CREATE TABLE message_vcard (_id INTEGER PRIMARY KEY AUTOINCREMENT, message_row_id INTEGER, vcard TEXT);
CREATE INDEX message_vcard_index ON message_vcard (message_row_id);
CREATE TABLE message_add_on (_id INTEGER PRIMARY KEY AUTOINCREMENT, chat_row_id INTEGER NOT NULL,
  from_me INTEGER NOT NULL, key_id TEXT NOT NULL, sender_jid_row_id INTEGER,
  parent_message_row_id INTEGER, message_add_on_type INTEGER, timestamp INTEGER, status INTEGER);
CREATE INDEX message_add_on_index_parent_message_row_id ON message_add_on (parent_message_row_id);
CREATE TABLE message_add_on_reaction (message_add_on_row_id INTEGER PRIMARY KEY, reaction TEXT,
  sender_timestamp INTEGER);
CREATE TABLE group_participant_user (_id INTEGER PRIMARY KEY AUTOINCREMENT,
  group_jid_row_id INTEGER NOT NULL, user_jid_row_id INTEGER NOT NULL, rank INTEGER, pending INTEGER);
";

/// 2024-01-01T00:00:00Z in ms.
const T0: i64 = 1_704_067_200_000;

/// Writes a WhatsApp folder (`Databases/msgstore.db`, `Databases/wa.db`, `Media/…`) under
/// `wa_root` with `per_chat` messages in each of four chats (two named one-to-one chats, one
/// unnamed, one group). Returns what it holds.
pub fn generate(wa_root: &Path, per_chat: usize) -> rusqlite::Result<WaDbFacts> {
    let per_chat = per_chat.max(12);
    let dbs = wa_root.join("Databases");
    fs::create_dir_all(&dbs).map_err(io)?;
    fs::create_dir_all(wa_root.join("Media/WhatsApp Images/Sent")).map_err(io)?;
    fs::create_dir_all(wa_root.join("Media/WhatsApp Documents")).map_err(io)?;
    let db_path = dbs.join("msgstore.db");
    let _ = fs::remove_file(&db_path);
    let c = Connection::open(&db_path)?;
    c.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = DELETE;")?;
    c.execute_batch(SCHEMA)?;
    let people = [
        ("4915100000001", "Ann Lee"),
        ("4915100000002", "Bob 王"),
        ("4915100000003", ""), // not in the address book: shown by number
    ];
    let mut jid_rows = Vec::new();
    for (user, _) in people {
        c.execute(
            "INSERT INTO jid (user, server, agent, device, type, raw_string) VALUES (?1, 's.whatsapp.net', 0, 0, 0, ?2)",
            params![user, format!("{user}@s.whatsapp.net")],
        )?;
        jid_rows.push(c.last_insert_rowid());
    }
    let group = "120363000000000001";
    c.execute(
        "INSERT INTO jid (user, server, agent, device, type, raw_string) VALUES (?1, 'g.us', 0, 0, 1, ?2)",
        params![group, format!("{group}@g.us")],
    )?;
    let group_row = c.last_insert_rowid();
    for &j in &jid_rows {
        c.execute(
            "INSERT INTO group_participant_user (group_jid_row_id, user_jid_row_id, rank, pending) VALUES (?1, ?2, 0, 0)",
            params![group_row, j],
        )?;
    }
    // WhatsApp's placeholder row: a message of no chat.
    c.execute(
        "INSERT INTO message (chat_row_id, from_me, key_id, timestamp, message_type, status) VALUES (-1, 0, '-1', 0, -1, -1)",
        [],
    )?;

    let mut facts = WaDbFacts::default();
    let chat_defs: Vec<(i64, String, String, bool)> = vec![
        (
            jid_rows[0],
            format!("{}@s.whatsapp.net", people[0].0),
            people[0].1.into(),
            false,
        ),
        (
            jid_rows[1],
            format!("{}@s.whatsapp.net", people[1].0),
            people[1].1.into(),
            false,
        ),
        (
            jid_rows[2],
            format!("{}@s.whatsapp.net", people[2].0),
            people[2].0.into(),
            false,
        ),
        (group_row, format!("{group}@g.us"), "Family 🏠".into(), true),
    ];
    let mut ts = T0;
    let mut key_n = 0u32;
    for (ci, (jid_row, jid, name, is_group)) in chat_defs.iter().enumerate() {
        c.execute(
            "INSERT INTO chat (jid_row_id, hidden, subject, created_timestamp, archived) VALUES (?1, 0, ?2, ?3, 0)",
            params![jid_row, if *is_group { Some(name.as_str()) } else { None }, T0],
        )?;
        let chat_row = c.last_insert_rowid();
        let mut senders: Vec<String> = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        for i in 0..per_chat {
            key_n += 1;
            ts += 61_001; // odd steps: exact milliseconds survive
            let key = format!("3EB0{key_n:016X}");
            let from_me = i % 3 == 0;
            let sender_row: Option<i64> = if *is_group && !from_me {
                Some(jid_rows[i % jid_rows.len()])
            } else {
                None
            };
            // Which special message this is (same positions in every chat).
            let (mtype, text): (i64, Option<String>) = match i {
                1 => (1, Some("a photo 📷".into())),
                2 => (1, None),
                3 => (0, Some("replying to the first".into())),
                4 => (15, None),
                5 => (5, None),
                6 => (4, Some("Carla".into())),
                7 if *is_group => (7, Some("Family 🏠".into())),
                8 => (9, None),
                _ => (0, Some(format!("message {i} in chat {ci} — ünïcödé 你好"))),
            };
            let status = if from_me { 13 } else { 0 };
            c.execute(
                "INSERT INTO message (chat_row_id, from_me, key_id, sender_jid_row_id, status, broadcast,
                   recipient_count, origin, timestamp, received_timestamp, message_type, text_data, starred,
                   lookup_tables, sort_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, 0, ?6, ?6, ?7, ?8, 0, 0, ?9)",
                params![chat_row, from_me as i64, key, sender_row.unwrap_or(0), status, ts, mtype, text, i as i64 + 1],
            )?;
            let row = c.last_insert_rowid();
            facts.times.push((key.clone(), ts));
            facts.messages += 1;
            if from_me {
                facts.from_me += 1;
            }
            if !from_me && mtype != 7 {
                let s = match sender_row {
                    Some(r) => format!("{}@s.whatsapp.net", people[(r - jid_rows[0]) as usize].0),
                    None => jid.clone(),
                };
                if !senders.contains(&s) {
                    senders.push(s);
                }
            }
            match i {
                1 | 2 | 8 => {
                    let (path, mime, name) = match i {
                        1 => (
                            format!("Media/WhatsApp Images/IMG-20240101-WA{ci:04}.jpg"),
                            "image/jpeg",
                            None,
                        ),
                        2 => (
                            format!("Media/WhatsApp Images/Sent/IMG-20240102-WA{ci:04}.jpg"),
                            "image/jpeg",
                            None,
                        ),
                        _ => (
                            format!("Media/WhatsApp Documents/report {ci}.pdf"),
                            "application/pdf",
                            Some(format!("report {ci}.pdf")),
                        ),
                    };
                    c.execute(
                        "INSERT INTO message_media (message_row_id, chat_row_id, transferred, file_path, file_size,
                           mime_type, media_name, media_duration) VALUES (?1, ?2, 1, ?3, 100, ?4, ?5, 0)",
                        params![row, chat_row, path, mime, name],
                    )?;
                    // The second photo was never downloaded (its file is missing).
                    if i == 2 {
                        facts.media_missing.push(path);
                    } else {
                        let full = wa_root.join(&path);
                        fs::write(&full, format!("media {ci} {i}").repeat(10)).map_err(io)?;
                        facts.media_present.push(path);
                    }
                }
                3 => {
                    c.execute(
                        "INSERT INTO message_quoted (message_row_id, chat_row_id, parent_message_chat_row_id, from_me,
                           key_id, timestamp, message_type, origin, text_data) VALUES (?1, ?2, ?2, 1, ?3, ?4, 0, 0, ?5)",
                        params![row, chat_row, keys[0], T0, format!("message 0 in chat {ci} — ünïcödé 你好")],
                    )?;
                    facts.quotes.push((key.clone(), keys[0].clone()));
                }
                4 => {
                    c.execute(
                        "INSERT INTO message_revoked (message_row_id, revoked_key_id, revoke_timestamp) VALUES (?1, ?2, ?3)",
                        params![row, key, ts],
                    )?;
                    facts.revokes += 1;
                }
                5 => {
                    let place = format!("Café {ci}");
                    let (lat, lon) = (52.52 + ci as f64 / 100.0, 13.405);
                    c.execute(
                        "INSERT INTO message_location (message_row_id, chat_row_id, latitude, longitude, place_name, place_address)
                         VALUES (?1, ?2, ?3, ?4, ?5, 'Unter den Linden 1')",
                        params![row, chat_row, lat, lon, place],
                    )?;
                    facts.locations.push((lat, lon, place));
                }
                6 => {
                    c.execute(
                        "INSERT INTO message_vcard (message_row_id, vcard) VALUES (?1, ?2)",
                        params![
                            row,
                            "BEGIN:VCARD\nVERSION:3.0\nFN:Carla\nTEL:+4915100000009\nEND:VCARD"
                        ],
                    )?;
                    facts.vcards.push("Carla".into());
                }
                7 if *is_group => {
                    c.execute(
                        "INSERT INTO message_system (message_row_id, action_type) VALUES (?1, 1)",
                        params![row],
                    )?;
                    facts.system += 1;
                }
                _ => {}
            }
            if i == 0 {
                // A reaction to each chat's first message, from the partner (or a member).
                c.execute(
                    "INSERT INTO message_add_on (chat_row_id, from_me, key_id, sender_jid_row_id, parent_message_row_id,
                       message_add_on_type, timestamp, status) VALUES (?1, 0, ?2, ?3, ?4, 56, ?5, 0)",
                    params![chat_row, format!("R{key}"), if *is_group { jid_rows[1] } else { *jid_row }, row, ts + 5],
                )?;
                let add_on = c.last_insert_rowid();
                c.execute(
                    "INSERT INTO message_add_on_reaction (message_add_on_row_id, reaction, sender_timestamp) VALUES (?1, '👍', ?2)",
                    params![add_on, ts + 5],
                )?;
                facts.reactions.push((key.clone(), "👍".into()));
            }
            keys.push(key);
        }
        facts.chats.push(ChatFact {
            jid: jid.clone(),
            name: name.clone(),
            group: *is_group,
            messages: per_chat,
            senders,
        });
    }
    drop(c);

    let wa = dbs.join("wa.db");
    let _ = fs::remove_file(&wa);
    let w = Connection::open(&wa)?;
    w.execute_batch(
        "CREATE TABLE wa_contacts (_id INTEGER PRIMARY KEY AUTOINCREMENT, jid TEXT NOT NULL,
           is_whatsapp_user BOOLEAN NOT NULL, status TEXT, number TEXT, display_name TEXT, wa_name TEXT);",
    )?;
    for (user, name) in people.iter().take(2) {
        w.execute(
            "INSERT INTO wa_contacts (jid, is_whatsapp_user, number, display_name, wa_name) VALUES (?1, 1, ?2, ?3, ?4)",
            params![format!("{user}@s.whatsapp.net"), format!("+{user}"), name, format!("{name} (profile)")],
        )?;
    }
    Ok(facts)
}

/// The database file `generate` writes.
pub fn msgstore_path(wa_root: &Path) -> PathBuf {
    wa_root.join("Databases/msgstore.db")
}

fn io(e: std::io::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}
