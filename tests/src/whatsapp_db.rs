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

/// A poll as written: (key_id, question, (option, votes)).
pub type PollFact = (String, String, Vec<(String, u64)>);

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
    /// Calls in chats: (key_id, video, answered, seconds).
    pub calls: Vec<(String, bool, bool, u64)>,
    /// Polls: (key_id, question, (option, votes)).
    pub polls: Vec<PollFact>,
    /// Edited messages (key_id).
    pub edited: Vec<String>,
    /// View-once messages (key_id).
    pub view_once: Vec<String>,
    /// Plain texts: (key_id, text).
    pub texts: Vec<(String, String)>,
    /// Messages whose text a reader composes: (key_id, text) — template messages from
    /// `message_ui_elements`, "X added Y" from `message_system_chat_participant`.
    pub composed: Vec<(String, String)>,
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
CREATE TABLE call_log (_id INTEGER PRIMARY KEY AUTOINCREMENT, jid_row_id INTEGER, from_me INTEGER,
  call_id TEXT, transaction_id INTEGER, timestamp INTEGER, video_call INTEGER, duration INTEGER,
  call_result INTEGER, bytes_transferred INTEGER, group_jid_row_id INTEGER NOT NULL DEFAULT 0,
  is_joinable_group_call INTEGER, call_creator_device_jid_row_id INTEGER NOT NULL DEFAULT 0,
  call_random_id TEXT);
CREATE TABLE message_call_log (message_row_id INTEGER PRIMARY KEY, call_log_row_id INTEGER NOT NULL);
CREATE TABLE missed_call_logs (_id INTEGER PRIMARY KEY AUTOINCREMENT, message_row_id INTEGER,
  timestamp INTEGER, video_call INTEGER, group_jid_row_id INTEGER NOT NULL DEFAULT 0,
  is_joinable_group_call INTEGER);
CREATE TABLE message_poll (message_row_id INTEGER PRIMARY KEY, enc_key BLOB,
  selectable_options_count INTEGER, invalid_state INTEGER, poll_type INTEGER, end_time INTEGER);
CREATE TABLE message_poll_option (_id INTEGER PRIMARY KEY AUTOINCREMENT, message_row_id INTEGER,
  option_sha256 TEXT, option_name TEXT, vote_total INTEGER);
CREATE TABLE message_edit_info (message_row_id INTEGER PRIMARY KEY, original_key_id TEXT NOT NULL,
  edited_timestamp INTEGER NOT NULL, sender_timestamp INTEGER NOT NULL);
CREATE TABLE message_view_once_media (message_row_id INTEGER PRIMARY KEY, state INTEGER NOT NULL);
CREATE TABLE jid_map (lid_row_id INTEGER PRIMARY KEY NOT NULL, jid_row_id INTEGER NOT NULL, sort_id INTEGER);
CREATE TABLE message_thumbnail (message_row_id INTEGER PRIMARY KEY, thumbnail BLOB);
CREATE TABLE message_future (message_row_id INTEGER PRIMARY KEY, version INTEGER, data BLOB);
CREATE TABLE message_system_group (message_row_id INTEGER PRIMARY KEY, is_me_joined INTEGER);
CREATE TABLE message_system_number_change (message_row_id INTEGER PRIMARY KEY,
  old_jid_row_id INTEGER, new_jid_row_id INTEGER);
CREATE TABLE receipt_user (_id INTEGER PRIMARY KEY AUTOINCREMENT, message_row_id INTEGER NOT NULL,
  receipt_user_jid_row_id INTEGER NOT NULL, receipt_timestamp INTEGER, read_timestamp INTEGER,
  played_timestamp INTEGER);
CREATE TABLE media_hash_thumbnail (media_hash TEXT PRIMARY KEY, thumbnail BLOB);
CREATE TABLE message_system_chat_participant (message_row_id INTEGER, user_jid_row_id INTEGER);
CREATE TABLE message_ui_elements (_id INTEGER PRIMARY KEY AUTOINCREMENT, message_row_id INTEGER NOT NULL,
  element_type INTEGER, element_content TEXT, description TEXT, template_id TEXT, hsm_tag TEXT,
  footer_text TEXT, button_text TEXT, message_type INTEGER);
";

/// 2024-01-01T00:00:00Z in ms.
const T0: i64 = 1_704_067_200_000;

/// Writes a WhatsApp folder (`Databases/msgstore.db`, `Databases/wa.db`, `Media/…`) under
/// `wa_root` with `per_chat` messages in each of four chats (two named one-to-one chats, one
/// unnamed, one group whose members include one known by a privacy id, `@lid`, mapped to
/// a number in `jid_map`). Returns what it holds.
pub fn generate(wa_root: &Path, per_chat: usize) -> rusqlite::Result<WaDbFacts> {
    let per_chat = per_chat.max(16);
    let dbs = wa_root.join("Databases");
    fs::create_dir_all(&dbs).map_err(io)?;
    fs::create_dir_all(wa_root.join("Media/WhatsApp Images/Sent")).map_err(io)?;
    fs::create_dir_all(wa_root.join("Media/WhatsApp Documents")).map_err(io)?;
    let db_path = dbs.join("msgstore.db");
    let _ = fs::remove_file(&db_path);
    let c = Connection::open(&db_path)?;
    c.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = DELETE;")?;
    c.execute_batch(SCHEMA)?;
    // One transaction: a million rows in seconds, not one fsync each.
    c.execute_batch("BEGIN")?;
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
    // Dora is a group member known by her privacy id; `jid_map` names her number.
    c.execute(
        "INSERT INTO jid (user, server, agent, device, type, raw_string) VALUES ('4915100000004', 's.whatsapp.net', 0, 0, 0, '4915100000004@s.whatsapp.net')",
        [],
    )?;
    let dora_phone_row = c.last_insert_rowid();
    c.execute(
        "INSERT INTO jid (user, server, agent, device, type, raw_string) VALUES ('81234567890123', 'lid', 0, 0, 18, '81234567890123@lid')",
        [],
    )?;
    let dora_lid_row = c.last_insert_rowid();
    c.execute(
        "INSERT INTO jid_map (lid_row_id, jid_row_id, sort_id) VALUES (?1, ?2, 0)",
        params![dora_lid_row, dora_phone_row],
    )?;
    let dora = "4915100000004@s.whatsapp.net";
    let group = "120363000000000001";
    c.execute(
        "INSERT INTO jid (user, server, agent, device, type, raw_string) VALUES (?1, 'g.us', 0, 0, 1, ?2)",
        params![group, format!("{group}@g.us")],
    )?;
    let group_row = c.last_insert_rowid();
    for &j in jid_rows.iter().chain([&dora_lid_row]) {
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
            let sender_row: Option<i64> = if *is_group && !from_me && i == 14 {
                Some(dora_lid_row)
            } else if *is_group && !from_me {
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
                9 | 10 => (90, None),
                11 => (66, Some(format!("Lunch where? {ci}"))),
                12 => (0, Some(format!("edited words {ci}"))),
                13 => (82, None),
                15 if *is_group => (7, None),
                15 => (85, None),
                _ => (0, Some(format!("message {i} in chat {ci} — ünïcödé 你好"))),
            };
            // System lines have status 6 (WhatsApp's own views say so).
            let status = if mtype == 7 {
                6
            } else if from_me {
                13
            } else {
                0
            };
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
            if mtype == 0 && i != 3 {
                facts
                    .texts
                    .push((key.clone(), text.clone().unwrap_or_default()));
            }
            if !from_me && mtype != 7 {
                let s = match sender_row {
                    Some(r) if r == dora_lid_row => dora.to_string(),
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
                9 | 10 => {
                    // A voice call answered for 65 s; a video call missed.
                    let (video, answered, secs) = if i == 9 {
                        (false, true, 65u64)
                    } else {
                        (true, false, 0)
                    };
                    c.execute(
                        "INSERT INTO call_log (jid_row_id, from_me, call_id, transaction_id, timestamp, video_call, duration, call_result, bytes_transferred)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1200)",
                        params![if *is_group { jid_rows[0] } else { *jid_row }, from_me as i64, format!("CALL{key_n}"), key_n, ts, video as i64, secs, if answered { 5 } else { 2 }],
                    )?;
                    c.execute(
                        "INSERT INTO message_call_log (message_row_id, call_log_row_id) VALUES (?1, ?2)",
                        params![row, c.last_insert_rowid()],
                    )?;
                    facts.calls.push((key.clone(), video, answered, secs));
                }
                11 => {
                    c.execute(
                        "INSERT INTO message_poll (message_row_id, selectable_options_count, invalid_state, poll_type) VALUES (?1, 1, 0, 0)",
                        params![row],
                    )?;
                    let options = vec![("Noodles 面".to_string(), 2u64), ("Salad".to_string(), 1)];
                    for (o, votes) in &options {
                        c.execute(
                            "INSERT INTO message_poll_option (message_row_id, option_name, vote_total) VALUES (?1, ?2, ?3)",
                            params![row, o, *votes as i64],
                        )?;
                    }
                    facts
                        .polls
                        .push((key.clone(), format!("Lunch where? {ci}"), options));
                }
                12 => {
                    c.execute(
                        "INSERT INTO message_edit_info (message_row_id, original_key_id, edited_timestamp, sender_timestamp) VALUES (?1, ?2, ?3, ?3)",
                        params![row, key, ts + 30_000],
                    )?;
                    facts.edited.push(key.clone());
                }
                13 => {
                    c.execute(
                        "INSERT INTO message_view_once_media (message_row_id, state) VALUES (?1, 1)",
                        params![row],
                    )?;
                    facts.view_once.push(key.clone());
                }
                15 if *is_group => {
                    // The owner added Dora (by her privacy id); the event names her.
                    c.execute(
                        "INSERT INTO message_system (message_row_id, action_type) VALUES (?1, 12)",
                        params![row],
                    )?;
                    c.execute(
                        "INSERT INTO message_system_chat_participant (message_row_id, user_jid_row_id) VALUES (?1, ?2)",
                        params![row, dora_lid_row],
                    )?;
                    facts.system += 1;
                    facts
                        .composed
                        .push((key.clone(), "You added Dora Diaz".into()));
                }
                15 => {
                    // A business's template message: its text is JSON beside the row.
                    c.execute(
                        "INSERT INTO message_ui_elements (message_row_id, element_type, element_content) VALUES (?1, 6, ?2)",
                        params![row, r#"{"title":"","sub_title":"Your order","description":"Line 1\nLine 2","templateId":"1"}"#],
                    )?;
                    facts
                        .composed
                        .push((key.clone(), "Your order\nLine 1\nLine 2".into()));
                }
                _ => {}
            }
            if i == 0 {
                // A reaction to each chat's first message, from the partner (or a member).
                c.execute(
                    "INSERT INTO message_add_on (chat_row_id, from_me, key_id, sender_jid_row_id, parent_message_row_id,
                       message_add_on_type, timestamp, status) VALUES (?1, 0, ?2, ?3, ?4, 56, ?5, 0)",
                    // In a one-to-one chat WhatsApp stores no sender (-1): the partner reacted.
                    params![chat_row, format!("R{key}"), if *is_group { jid_rows[1] } else { -1 }, row, ts + 5],
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
    c.execute_batch("COMMIT")?;
    drop(c);

    let wa = dbs.join("wa.db");
    let _ = fs::remove_file(&wa);
    let w = Connection::open(&wa)?;
    w.execute_batch(
        "CREATE TABLE wa_contacts (_id INTEGER PRIMARY KEY AUTOINCREMENT, jid TEXT NOT NULL,
           is_whatsapp_user BOOLEAN NOT NULL, status TEXT, number TEXT, display_name TEXT, wa_name TEXT);",
    )?;
    for (user, name) in people
        .iter()
        .take(2)
        .chain([&("4915100000004", "Dora Diaz")])
    {
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

/// Which legacy layout [`generate_legacy`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legacy {
    /// Before 2020: `messages`, `chat_list`, `messages_quotes`, `group_participants` only;
    /// media files known by name, not path.
    Pure,
    /// 2020-2021: the same `messages` table (where the rows are) beside the newer tables
    /// (`jid`, `chat` with the subjects, an empty `message`, `message_media` with the paths,
    /// `message_system`), as WhatsApp wrote them while moving between schemas.
    Transitional,
}

const LEGACY_SCHEMA: &str = "
CREATE TABLE messages (_id INTEGER PRIMARY KEY AUTOINCREMENT, key_remote_jid TEXT NOT NULL,
  key_from_me INTEGER, key_id TEXT NOT NULL, status INTEGER, needs_push INTEGER, data TEXT,
  timestamp INTEGER, media_url TEXT, media_mime_type TEXT, media_wa_type TEXT, media_size INTEGER,
  media_name TEXT, media_caption TEXT, media_hash TEXT, media_duration INTEGER, origin INTEGER,
  latitude REAL, longitude REAL, thumb_image TEXT, remote_resource TEXT,
  received_timestamp INTEGER, send_timestamp INTEGER, receipt_server_timestamp INTEGER,
  receipt_device_timestamp INTEGER, read_device_timestamp INTEGER, played_device_timestamp INTEGER,
  raw_data BLOB, recipient_count INTEGER, participant_hash TEXT, starred INTEGER,
  quoted_row_id INTEGER, mentioned_jids TEXT, multicast_id TEXT, edit_version INTEGER,
  media_enc_hash TEXT, payment_transaction_id TEXT, forwarded INTEGER, preview_type INTEGER,
  send_count INTEGER, lookup_tables INTEGER, future_message_type INTEGER);
CREATE UNIQUE INDEX messages_key_index ON messages (key_remote_jid, key_from_me, key_id);
CREATE TABLE messages_quotes (_id INTEGER PRIMARY KEY AUTOINCREMENT, key_remote_jid TEXT NOT NULL,
  key_from_me INTEGER, key_id TEXT NOT NULL, status INTEGER, data TEXT, timestamp INTEGER,
  media_wa_type TEXT, remote_resource TEXT);
CREATE TABLE group_participants (_id INTEGER PRIMARY KEY AUTOINCREMENT, gjid TEXT NOT NULL,
  jid TEXT NOT NULL, admin INTEGER, pending INTEGER, sent_sender_key INTEGER);
";

const PURE_ONLY: &str = "
CREATE TABLE chat_list (_id INTEGER PRIMARY KEY AUTOINCREMENT, key_remote_jid TEXT UNIQUE,
  message_table_id INTEGER, subject TEXT, creation INTEGER, archived INTEGER, sort_timestamp INTEGER);
";

/// Writes a WhatsApp folder in a legacy layout (see [`Legacy`]) under `wa_root`: two named
/// one-to-one chats and a group, `per_chat` (at least 8) messages each, with a photo, a
/// reply, a place, a contact card, a message deleted for everyone and (in the group) a
/// subject change. Returns what it holds (media paths only where the layout has them).
pub fn generate_legacy(
    wa_root: &Path,
    per_chat: usize,
    layout: Legacy,
) -> rusqlite::Result<WaDbFacts> {
    let per_chat = per_chat.max(8);
    let dbs = wa_root.join("Databases");
    fs::create_dir_all(&dbs).map_err(io)?;
    fs::create_dir_all(wa_root.join("Media/WhatsApp Images")).map_err(io)?;
    let db_path = dbs.join("msgstore.db");
    let _ = fs::remove_file(&db_path);
    let c = Connection::open(&db_path)?;
    c.execute_batch("PRAGMA journal_mode = DELETE;")?;
    c.execute_batch(LEGACY_SCHEMA)?;
    match layout {
        Legacy::Pure => c.execute_batch(PURE_ONLY)?,
        Legacy::Transitional => c.execute_batch(SCHEMA)?,
    }
    let ann = "4915100000001@s.whatsapp.net";
    let bob = "4915100000002@s.whatsapp.net";
    // Old group ids are the creator's number and the creation time.
    let group = "4915100000001-1546300800@g.us";
    let subject = "Alte Freunde 老朋友";
    // The placeholder row of no chat.
    c.execute(
        "INSERT INTO messages (key_remote_jid, key_from_me, key_id, status, timestamp, media_wa_type) VALUES ('-1', 0, '-1', -1, 0, '0')",
        [],
    )?;
    for member in [ann, bob] {
        c.execute(
            "INSERT INTO group_participants (gjid, jid, admin, pending) VALUES (?1, ?2, 0, 0)",
            params![group, member],
        )?;
    }
    c.execute(
        "INSERT INTO group_participants (gjid, jid, admin, pending) VALUES (?1, '', 1, 0)",
        params![group],
    )?;
    match layout {
        Legacy::Pure => {
            for (jid, sub) in [(ann, None), (bob, None), (group, Some(subject))] {
                c.execute(
                    "INSERT INTO chat_list (key_remote_jid, subject, creation, archived) VALUES (?1, ?2, 0, 0)",
                    params![jid, sub],
                )?;
            }
        }
        Legacy::Transitional => {
            for (n, jid, sub) in [(0, ann, None), (1, bob, None), (2, group, Some(subject))] {
                let (user, server) = jid.split_once('@').unwrap();
                c.execute(
                    "INSERT INTO jid (user, server, agent, device, type, raw_string) VALUES (?1, ?2, 0, 0, ?3, ?4)",
                    params![user, server, if n == 2 { 1 } else { 0 }, jid],
                )?;
                c.execute(
                    "INSERT INTO chat (jid_row_id, hidden, subject, created_timestamp, archived) VALUES (?1, 0, ?2, ?3, 0)",
                    params![c.last_insert_rowid(), sub, T0],
                )?;
            }
        }
    }
    let mut facts = WaDbFacts::default();
    let mut ts = T0 - 86_400_000 * 900; // 2021
    let mut key_n = 0u32;
    for (ci, (jid, name, is_group)) in [
        (ann, "Ann Lee", false),
        (bob, "Bob 王", false),
        (group, subject, true),
    ]
    .into_iter()
    .enumerate()
    {
        let mut senders: Vec<String> = Vec::new();
        let mut first: Option<(String, String)> = None;
        for i in 0..per_chat {
            key_n += 1;
            ts += 47_003;
            let key = format!("{key_n:032X}");
            let from_me = i % 3 == 0;
            let resource: Option<&str> = if is_group && !from_me {
                Some(if i % 2 == 0 { ann } else { bob })
            } else {
                None
            };
            let mut mtype = "0";
            let mut status = if from_me { 13 } else { 0 };
            let mut data: Option<String> = Some(format!("alt {i} in chat {ci} — grüße 问候"));
            let (mut caption, mut media_name, mut lat, mut lon) =
                (None::<String>, None::<String>, None::<f64>, None::<f64>);
            let mut quoted: Option<i64> = None;
            let mut edit_version = 0;
            let mut file: Option<String> = None;
            match i {
                1 => {
                    mtype = "1";
                    data = None;
                    caption = Some("am See".into());
                    media_name = Some(format!("IMG-20210101-WA{ci:04}.jpg"));
                    file = Some(format!("Media/WhatsApp Images/IMG-20210101-WA{ci:04}.jpg"));
                }
                2 => {
                    let (qkey, qtext) = first.clone().unwrap();
                    c.execute(
                        "INSERT INTO messages_quotes (key_remote_jid, key_from_me, key_id, status, data, timestamp, media_wa_type) VALUES (?1, 1, ?2, 13, ?3, ?4, '0')",
                        params![jid, qkey, qtext, ts],
                    )?;
                    quoted = Some(c.last_insert_rowid());
                    facts.quotes.push((key.clone(), qkey));
                }
                3 => {
                    mtype = "5";
                    data = None;
                    lat = Some(48.137);
                    lon = Some(11.575);
                    facts.locations.push((48.137, 11.575, String::new()));
                }
                4 if is_group => {
                    status = 6;
                    data = Some(subject.into());
                    facts.system += 1;
                }
                5 => {
                    data = None;
                    edit_version = 7;
                    facts.revokes += 1;
                }
                6 => {
                    mtype = "4";
                    data = Some(
                        "BEGIN:VCARD\nVERSION:3.0\nFN:Carla\nTEL:+4915100000009\nEND:VCARD".into(),
                    );
                    media_name = Some("Carla".into());
                    facts.vcards.push("Carla".into());
                }
                _ => {}
            }
            c.execute(
                "INSERT INTO messages (key_remote_jid, key_from_me, key_id, status, data, timestamp, media_wa_type, media_name,
                   media_caption, latitude, longitude, remote_resource, received_timestamp, quoted_row_id, edit_version, media_duration)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?6, ?13, ?14, 0)",
                params![jid, from_me as i64, key, status, data, ts, mtype, media_name, caption, lat, lon, resource, quoted, edit_version],
            )?;
            let row = c.last_insert_rowid();
            if layout == Legacy::Transitional {
                if let Some(f) = &file {
                    c.execute(
                        "INSERT INTO message_media (message_row_id, chat_row_id, transferred, file_path, mime_type, media_name) VALUES (?1, ?2, 1, ?3, 'image/jpeg', ?4)",
                        params![row, ci as i64 + 1, f, media_name],
                    )?;
                    fs::write(wa_root.join(f), b"\xff\xd8\xff old photo").map_err(io)?;
                    facts.media_present.push(f.clone());
                }
                if status == 6 {
                    c.execute(
                        "INSERT INTO message_system (message_row_id, action_type) VALUES (?1, 1)",
                        params![row],
                    )?;
                }
            }
            if i == 0 {
                first = Some((key.clone(), data.clone().unwrap_or_default()));
            }
            if mtype == "0" && status != 6 && edit_version != 7 && i != 2 {
                facts
                    .texts
                    .push((key.clone(), data.clone().unwrap_or_default()));
            }
            facts.times.push((key.clone(), ts));
            facts.messages += 1;
            facts.from_me += from_me as usize;
            if !from_me && status != 6 {
                let s = resource.unwrap_or(jid).to_string();
                if !senders.contains(&s) {
                    senders.push(s);
                }
            }
        }
        facts.chats.push(ChatFact {
            jid: jid.to_string(),
            name: name.to_string(),
            group: is_group,
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
    for (jid, name) in [(ann, "Ann Lee"), (bob, "Bob 王")] {
        w.execute(
            "INSERT INTO wa_contacts (jid, is_whatsapp_user, display_name, wa_name) VALUES (?1, 1, ?2, ?2)",
            params![jid, name],
        )?;
    }
    Ok(facts)
}
