//! WhatsApp for iPhone's app group with known facts: `ChatStorage.sqlite` (Core Data tables
//! `ZWACHATSESSION`, `ZWAMESSAGE`, `ZWAMEDIAITEM`, `ZWAGROUPMEMBER`, `ZWAGROUPINFO`,
//! `ZWAPROFILEPUSHNAME`, `ZWAMESSAGEINFO`), `ContactsV2.sqlite` (`ZWAADDRESSBOOKCONTACT`) and
//! `Message/Media/…` files, some present, some missing. The layout follows the format's public
//! documentation (docs/FORMAT.md, "WhatsApp for iPhone"); the tests also read it with an
//! independent reader (PyPI whatsapp-chat-exporter) and wrap it in an iPhone backup.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use rusqlite::{params, Connection};

/// Seconds from the Unix epoch to Core Data's.
const COCOA_EPOCH: i64 = 978_307_200;
/// 2024-03-01T08:00:00Z in Core Data seconds.
const T0: f64 = (1_709_280_000 - COCOA_EPOCH) as f64;

const SCHEMA: &str = "
CREATE TABLE ZWACHATSESSION (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
  ZARCHIVED INTEGER, ZCONTACTABID INTEGER, ZFLAGS INTEGER, ZHIDDEN INTEGER, ZMESSAGECOUNTER INTEGER,
  ZREMOVED INTEGER, ZSESSIONTYPE INTEGER, ZSPOTLIGHTSTATUS INTEGER, ZUNREADCOUNT INTEGER,
  ZGROUPINFO INTEGER, ZLASTMESSAGE INTEGER, ZPROPERTIES INTEGER, ZLASTMESSAGEDATE TIMESTAMP,
  ZCONTACTIDENTIFIER VARCHAR, ZCONTACTJID VARCHAR, ZETAG VARCHAR, ZLASTMESSAGETEXT VARCHAR,
  ZPARTNERNAME VARCHAR, ZSAVEDINPUT VARCHAR);
CREATE TABLE ZWAGROUPINFO (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER, ZSTATE INTEGER,
  ZCHATSESSION INTEGER, ZLASTMESSAGEOWNER INTEGER, ZCREATIONDATE TIMESTAMP,
  ZSUBJECTTIMESTAMP TIMESTAMP, ZCREATORJID VARCHAR, ZOWNERJID VARCHAR, ZPICTUREID VARCHAR,
  ZPICTUREPATH VARCHAR, ZSOURCEJID VARCHAR, ZSUBJECTOWNERJID VARCHAR);
CREATE TABLE ZWAGROUPMEMBER (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
  ZCONTACTABID INTEGER, ZISACTIVE INTEGER, ZISADMIN INTEGER, ZSENDERKEYSENT INTEGER,
  ZCHATSESSION INTEGER, ZRECENTGROUPCHAT INTEGER, ZCONTACTIDENTIFIER VARCHAR,
  ZCONTACTNAME VARCHAR, ZFIRSTNAME VARCHAR, ZMEMBERJID VARCHAR);
CREATE TABLE ZWAMESSAGE (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
  ZCHILDMESSAGESDELIVEREDCOUNT INTEGER, ZCHILDMESSAGESPLAYEDCOUNT INTEGER,
  ZCHILDMESSAGESREADCOUNT INTEGER, ZDATAITEMVERSION INTEGER, ZDOCID INTEGER,
  ZENCRETRYCOUNT INTEGER, ZFILTEREDRECIPIENTCOUNT INTEGER, ZFLAGS INTEGER,
  ZGROUPEVENTTYPE INTEGER, ZISFROMME INTEGER, ZMESSAGEERRORSTATUS INTEGER,
  ZMESSAGESTATUS INTEGER, ZMESSAGETYPE INTEGER, ZSORT INTEGER, ZSPOTLIGHTSTATUS INTEGER,
  ZSTARRED INTEGER, ZCHATSESSION INTEGER, ZGROUPMEMBER INTEGER, ZLASTSESSION INTEGER,
  ZMEDIAITEM INTEGER, ZMESSAGEINFO INTEGER, ZPARENTMESSAGE INTEGER, ZMESSAGEDATE TIMESTAMP,
  ZSENTDATE TIMESTAMP, ZFROMJID VARCHAR, ZMEDIASECTIONID VARCHAR, ZPHASH VARCHAR,
  ZPUSHNAME VARCHAR, ZSTANZAID VARCHAR, ZTEXT VARCHAR, ZTOJID VARCHAR);
CREATE INDEX ZWAMESSAGE_ZCHATSESSION_INDEX ON ZWAMESSAGE (ZCHATSESSION);
CREATE TABLE ZWAMEDIAITEM (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
  ZCLOUDSTATUS INTEGER, ZFILESIZE INTEGER, ZMEDIAORIGIN INTEGER, ZMOVIEDURATION INTEGER,
  ZMESSAGE INTEGER, ZASPECTRATIO FLOAT, ZHACCURACY FLOAT, ZLATITUDE FLOAT, ZLONGITUDE FLOAT,
  ZMEDIAURLDATE TIMESTAMP, ZAUTHORNAME VARCHAR, ZCOLLECTIONNAME VARCHAR, ZMEDIALOCALPATH VARCHAR,
  ZMEDIAURL VARCHAR, ZTHUMBNAILLOCALPATH VARCHAR, ZTITLE VARCHAR, ZVCARDNAME VARCHAR,
  ZVCARDSTRING VARCHAR, ZXMPPTHUMBPATH VARCHAR, ZMEDIAKEY BLOB, ZMETADATA BLOB);
CREATE TABLE ZWAMESSAGEINFO (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
  ZMESSAGE INTEGER, ZRECEIPTINFO BLOB);
CREATE TABLE ZWAPROFILEPUSHNAME (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
  ZJID VARCHAR, ZPUSHNAME VARCHAR);
CREATE TABLE ZWAVCARDMENTION (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
  ZISFROMME INTEGER, ZTRUSTEDWHENINDEXED INTEGER, ZMEDIAITEM INTEGER, ZDATE TIMESTAMP,
  ZSENDERJID VARCHAR, ZWHATSAPPID VARCHAR);
CREATE TABLE Z_PRIMARYKEY (Z_ENT INTEGER PRIMARY KEY, Z_NAME VARCHAR, Z_SUPER INTEGER, Z_MAX INTEGER);
CREATE TABLE Z_METADATA (Z_VERSION INTEGER PRIMARY KEY, Z_UUID VARCHAR(255), Z_PLIST BLOB);
";

const CONTACTS_SCHEMA: &str = "
CREATE TABLE ZWAADDRESSBOOKCONTACT (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
  ZABOUTTIMESTAMP TIMESTAMP, ZABOUTTEXT VARCHAR, ZBUSINESSNAME VARCHAR, ZFULLNAME VARCHAR,
  ZGIVENNAME VARCHAR, ZLASTNAME VARCHAR, ZIDENTIFIER VARCHAR, ZLID VARCHAR, ZPHONENUMBER VARCHAR,
  ZPHONENUMBERLABEL VARCHAR, ZWHATSAPPID VARCHAR);
";

/// One chat as written.
#[derive(Debug, Clone)]
pub struct IosChat {
    /// Its jid (the conversation id a reader reports).
    pub jid: String,
    /// The name a reader should show.
    pub name: String,
    /// Whether it is a group.
    pub group: bool,
    /// Messages in it.
    pub messages: usize,
    /// Names of the senders of messages not from the owner, as a reader should show them.
    pub sender_names: Vec<String>,
}

/// What the generated app group holds.
#[derive(Debug, Clone, Default)]
pub struct WaIosFacts {
    /// Chats, in `Z_PK` order.
    pub chats: Vec<IosChat>,
    /// Messages in all chats.
    pub messages: usize,
    /// Messages sent by the owner.
    pub from_me: usize,
    /// Media paths (relative to the app group) whose files exist.
    pub media_present: Vec<String>,
    /// Media paths whose files do not exist.
    pub media_missing: Vec<String>,
    /// (stanza id, quoted stanza id) of replies: through `ZPARENTMESSAGE` or only through
    /// the media item's `ZMETADATA`.
    pub quotes: Vec<(String, String)>,
    /// (stanza id, emoji, who) of reactions.
    pub reactions: Vec<(String, String, String)>,
    /// Group events and notices (type 6 and 10 rows that are not calls).
    pub system: usize,
    /// Missed calls (type 10 with a call event) and call bubbles (59).
    pub calls: usize,
    /// Revoked messages.
    pub revokes: usize,
    /// (latitude, longitude, title) of locations.
    pub locations: Vec<(f64, f64, String)>,
    /// The FN of each contact card.
    pub vcards: Vec<String>,
    /// (question, options) of polls.
    pub polls: Vec<(String, Vec<String>)>,
    /// Every message's (stanza id, time in ms since the Unix epoch).
    pub times: Vec<(String, i64)>,
    /// Every message's (stanza id, text a reader shows) for plain texts.
    pub texts: BTreeMap<String, String>,
}

/// A `ZWAMEDIAITEM` row as written.
#[derive(Default)]
struct MediaItem {
    local: Option<String>,
    title: Option<String>,
    vstring: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    metadata: Option<Vec<u8>>,
    vname: Option<String>,
    duration: i64,
}

/// A protobuf length-delimited field.
fn pb(field: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut key = (field << 3) | 2;
    loop {
        let b = (key & 0x7f) as u8;
        key >>= 7;
        out.push(if key == 0 { b } else { b | 0x80 });
        if key == 0 {
            break;
        }
    }
    let mut len = bytes.len();
    loop {
        let b = (len & 0x7f) as u8;
        len >>= 7;
        out.push(if len == 0 { b } else { b | 0x80 });
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(bytes);
    out
}

/// The app group's `Message/` folder, relative path of a chat's media file.
fn media_rel(jid: &str, n: usize, ext: &str) -> String {
    format!(
        "Media/{jid}/{}/{}/{n:08x}-4a3b-11ee-be56-0242ac120002.{ext}",
        n % 10,
        n % 7
    )
}

fn io(e: std::io::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

/// Writes WhatsApp for iPhone's app group into `group` (`ChatStorage.sqlite`,
/// `ContactsV2.sqlite`, `Message/Media/…`): a one-to-one chat with a contact from the
/// address book, one with someone known only by their push name, and a group whose members
/// include one shown by a privacy id (`@lid`), with `per_chat` (at least 20) messages each.
pub fn generate(group: &Path, per_chat: usize) -> rusqlite::Result<WaIosFacts> {
    let per_chat = per_chat.max(20);
    fs::create_dir_all(group).map_err(io)?;
    let db_path = group.join("ChatStorage.sqlite");
    let contacts_path = group.join("ContactsV2.sqlite");
    for p in [&db_path, &contacts_path] {
        let _ = fs::remove_file(p);
    }
    let c = Connection::open(&db_path)?;
    c.execute_batch("PRAGMA journal_mode = DELETE;")?;
    c.execute_batch(SCHEMA)?;
    let book = Connection::open(&contacts_path)?;
    book.execute_batch("PRAGMA journal_mode = DELETE;")?;
    book.execute_batch(CONTACTS_SCHEMA)?;

    let ann = "4915100000001@s.whatsapp.net";
    let bob = "4915100000002@s.whatsapp.net";
    let carl_lid = "88211000000003@lid";
    let group_jid = "120363000000000042@g.us";
    // Address book: Ann by number, Carl by number and privacy id.
    book.execute(
        "INSERT INTO ZWAADDRESSBOOKCONTACT (Z_PK, Z_ENT, Z_OPT, ZFULLNAME, ZGIVENNAME, ZWHATSAPPID, ZPHONENUMBER, ZLID) VALUES (1, 1, 1, 'Ann Lee', 'Ann', '4915100000001', '+49 151 00000001', NULL)",
        [],
    )?;
    book.execute(
        "INSERT INTO ZWAADDRESSBOOKCONTACT (Z_PK, Z_ENT, Z_OPT, ZFULLNAME, ZGIVENNAME, ZWHATSAPPID, ZPHONENUMBER, ZLID) VALUES (2, 1, 1, 'Carl Müller', 'Carl', '4915100000003@s.whatsapp.net', '+49 151 00000003', ?1)",
        params![carl_lid],
    )?;
    // Bob is known by his push name only, stored wrapped (`+` base64 of {1: name}).
    let bob_name = "Bob 王";
    {
        use base64::Engine;
        let wrapped = base64::engine::general_purpose::STANDARD.encode(pb(1, bob_name.as_bytes()));
        c.execute(
            "INSERT INTO ZWAPROFILEPUSHNAME (Z_PK, Z_ENT, Z_OPT, ZJID, ZPUSHNAME) VALUES (1, 9, 1, ?1, ?2)",
            params![bob, format!("+{wrapped}")],
        )?;
    }
    let chats = [
        // The chat's name is the one WhatsApp shows: the address book's.
        (1i64, ann, "Ann Lee", 0i64, None::<i64>),
        (2, bob, "", 0, None),
        (3, group_jid, "Family 家族 🏡", 1, Some(1i64)),
    ];
    for (pk, jid, partner, session, info) in chats {
        c.execute(
            "INSERT INTO ZWACHATSESSION (Z_PK, Z_ENT, Z_OPT, ZCONTACTJID, ZPARTNERNAME, ZSESSIONTYPE, ZGROUPINFO, ZHIDDEN, ZREMOVED, ZARCHIVED)
             VALUES (?1, 2, 1, ?2, ?3, ?4, ?5, 0, 0, 0)",
            params![pk, jid, partner, session, info],
        )?;
    }
    c.execute(
        "INSERT INTO ZWAGROUPINFO (Z_PK, Z_ENT, Z_OPT, ZCHATSESSION, ZCREATORJID, ZCREATIONDATE) VALUES (1, 3, 1, 3, ?1, ?2)",
        params![ann, T0 - 86_400.0],
    )?;
    // Members: Ann (by number, address-book name), Carl (by privacy id), Dora (no name
    // anywhere but the group's own).
    let members = [
        (1i64, ann, "4915100000001", "Ann Lee"),
        (2, carl_lid, "", "Carl Müller"),
        (3, "4915100000009@s.whatsapp.net", "Dora", "Dora"),
    ];
    for (pk, jid, contact_name, _) in members {
        c.execute(
            "INSERT INTO ZWAGROUPMEMBER (Z_PK, Z_ENT, Z_OPT, ZCHATSESSION, ZMEMBERJID, ZCONTACTNAME, ZISACTIVE, ZISADMIN) VALUES (?1, 4, 1, 3, ?2, ?3, 1, 0)",
            params![pk, jid, contact_name],
        )?;
    }

    let mut facts = WaIosFacts::default();
    let mut pk = 0i64;
    let mut media_pk = 0i64;
    let mut info_pk = 0i64;
    let msg_dir = group.join("Message");
    for (chat_pk, jid, _, _, _) in chats {
        let is_group = jid.ends_with("@g.us");
        let mut count = 0;
        let mut senders: Vec<String> = Vec::new();
        let mut first_stanza: Option<(i64, String)> = None;
        for i in 0..per_chat {
            pk += 1;
            let stanza = format!("3EB0{chat_pk:02}{i:04}A1B2C3D4E5"); // 20 characters, as WhatsApp writes them
            let from_me = i % 3 == 0;
            let date = T0 + (chat_pk as f64) * 10_000.0 + (i as f64) * 61.5;
            let member = if is_group && !from_me {
                Some(1 + (i as i64 % 3))
            } else {
                None
            };
            let sender_name = |m: Option<i64>| -> String {
                match m {
                    Some(m) => members[(m - 1) as usize].3.to_string(),
                    None if jid == ann => "Ann Lee".into(),
                    None => bob_name.into(),
                }
            };
            let (from_jid, to_jid) = if from_me {
                (None, Some(jid))
            } else {
                (Some(jid), None)
            };
            // What this row is, by its place in the chat.
            let mut mtype = 0i64;
            let mut text: Option<String> =
                Some(format!("message {i} in chat {chat_pk}: héllo 你好 👋"));
            let mut event: Option<i64> = if from_me { Some(0) } else { Some(2) };
            let mut media: Option<MediaItem> = None;
            let mut parent: Option<i64> = None;
            let mut receipt: Option<Vec<u8>> = None;
            let mut is_text = true;
            match i {
                1 => {
                    // A photo with a caption, its file present.
                    mtype = 1;
                    let rel = media_rel(jid, pk as usize, "jpg");
                    let full = msg_dir.join(&rel);
                    fs::create_dir_all(full.parent().unwrap()).map_err(io)?;
                    fs::write(&full, b"\xff\xd8\xff\xe0 photo").map_err(io)?;
                    facts.media_present.push(format!("Message/{rel}"));
                    text = None;
                    media = Some(MediaItem {
                        local: Some(format!("/{rel}")),
                        title: Some("at the lake 湖".into()),
                        vstring: Some("image/jpeg".into()),
                        lat: Some(1280.0),
                        lon: Some(960.0),
                        ..Default::default()
                    });
                    is_text = false;
                }
                2 => {
                    // A voice note whose file is gone.
                    mtype = 3;
                    let rel = media_rel(jid, pk as usize, "opus");
                    facts.media_missing.push(format!("Message/{rel}"));
                    text = None;
                    media = Some(MediaItem {
                        local: Some(rel),
                        vstring: Some("audio/ogg; codecs=opus".into()),
                        duration: 7,
                        ..Default::default()
                    });
                    is_text = false;
                }
                3 => {
                    // A reply through ZPARENTMESSAGE.
                    let (ppk, pst) = first_stanza.clone().unwrap();
                    parent = Some(ppk);
                    facts.quotes.push((stanza.clone(), pst));
                }
                4 => {
                    // A reply known only from the media item's metadata (field 5), with the
                    // quoted text copied in field 19.1.
                    let (_, pst) = first_stanza.clone().unwrap();
                    let mut md = pb(5, pst.as_bytes());
                    md.extend(pb(19, &pb(1, b"the quoted words")));
                    media = Some(MediaItem {
                        metadata: Some(md),
                        ..Default::default()
                    });
                    facts.quotes.push((stanza.clone(), pst));
                }
                5 => {
                    mtype = 5;
                    text = None;
                    media = Some(MediaItem {
                        title: Some("Brandenburger Tor".into()),
                        lat: Some(52.5163),
                        lon: Some(13.3777),
                        vname: Some("Pariser Platz, Berlin".into()),
                        ..Default::default()
                    });
                    facts
                        .locations
                        .push((52.5163, 13.3777, "Brandenburger Tor".into()));
                    is_text = false;
                }
                6 => {
                    mtype = 4;
                    text = None;
                    let card = format!("BEGIN:VCARD\nVERSION:3.0\nFN:Zoë {chat_pk}\nTEL;type=CELL:+49 30 1234\nEND:VCARD");
                    media = Some(MediaItem {
                        vstring: Some(card),
                        vname: Some(format!("Zoë {chat_pk}")),
                        ..Default::default()
                    });
                    facts.vcards.push(format!("Zoë {chat_pk}"));
                    is_text = false;
                }
                7 => {
                    mtype = 14;
                    text = None;
                    facts.revokes += 1;
                    is_text = false;
                }
                8 => {
                    // A document, its file present; the title is the file name.
                    mtype = 8;
                    let rel = media_rel(jid, pk as usize, "pdf");
                    let full = msg_dir.join(&rel);
                    fs::create_dir_all(full.parent().unwrap()).map_err(io)?;
                    fs::write(&full, b"%PDF-1.4 plan").map_err(io)?;
                    facts.media_present.push(format!("Message/{rel}"));
                    text = None;
                    media = Some(MediaItem {
                        local: Some(rel),
                        title: Some("Plan 2024.pdf".into()),
                        vstring: Some("application/pdf".into()),
                        ..Default::default()
                    });
                    is_text = false;
                }
                9 => {
                    // Reactions: one from a person, one from the owner.
                    let who = if is_group { carl_lid } else { jid };
                    let mut seven =
                        pb(1, &[pb(2, who.as_bytes()), pb(3, "❤️".as_bytes())].concat());
                    seven.extend(pb(2, &pb(2, "😂".as_bytes())));
                    receipt = Some(pb(7, &seven));
                    let who_name = if is_group {
                        "Carl Müller".to_string()
                    } else {
                        sender_name(None)
                    };
                    facts
                        .reactions
                        .push((stanza.clone(), "❤️".into(), who_name));
                    facts
                        .reactions
                        .push((stanza.clone(), "😂".into(), "You".into()));
                }
                10 => {
                    if is_group {
                        // The group's name changed (an event by a member).
                        mtype = 6;
                        event = Some(1);
                        text = Some("Family 家族 🏡".into());
                        facts.system += 1;
                    } else {
                        // A missed voice call notice.
                        mtype = 10;
                        event = Some(1);
                        text = None;
                        facts.calls += 1;
                    }
                    is_text = false;
                }
                11 => {
                    mtype = 46;
                    text = None;
                    let poll = [
                        pb(2, "Dinner where? 晚饭".as_bytes()),
                        pb(3, &pb(1, b"Pizza")),
                        pb(3, &pb(1, "Dim sum 点心".as_bytes())),
                    ]
                    .concat();
                    receipt = Some(pb(8, &poll));
                    facts.polls.push((
                        "Dinner where? 晚饭".into(),
                        vec!["Pizza".into(), "Dim sum 点心".into()],
                    ));
                    is_text = false;
                }
                12 => {
                    // Encryption notice.
                    mtype = 10;
                    event = Some(2);
                    text = None;
                    facts.system += 1;
                    is_text = false;
                }
                13 => {
                    // A view-once photo (no file kept).
                    mtype = 38;
                    text = None;
                    media = Some(MediaItem {
                        vstring: Some("image/jpeg".into()),
                        ..Default::default()
                    });
                    is_text = false;
                }
                _ => {}
            }
            let is_system = matches!(mtype, 6 | 10);
            let sender_shown = !from_me && !is_system;
            if sender_shown {
                let n = sender_name(member);
                if !senders.contains(&n) {
                    senders.push(n);
                }
            }
            let media_item = if let Some(MediaItem {
                local,
                title,
                vstring,
                lat,
                lon,
                metadata: md,
                vname,
                duration,
            }) = media
            {
                media_pk += 1;
                c.execute(
                    "INSERT INTO ZWAMEDIAITEM (Z_PK, Z_ENT, Z_OPT, ZMESSAGE, ZMEDIALOCALPATH, ZTITLE, ZVCARDSTRING, ZLATITUDE, ZLONGITUDE, ZMETADATA, ZVCARDNAME, ZMOVIEDURATION, ZFILESIZE)
                     VALUES (?1, 5, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1234)",
                    params![media_pk, pk, local, title, vstring, lat, lon, md, vname, duration],
                )?;
                Some(media_pk)
            } else {
                None
            };
            let info = if let Some(r) = &receipt {
                info_pk += 1;
                c.execute(
                    "INSERT INTO ZWAMESSAGEINFO (Z_PK, Z_ENT, Z_OPT, ZMESSAGE, ZRECEIPTINFO) VALUES (?1, 6, 1, ?2, ?3)",
                    params![info_pk, pk, r],
                )?;
                Some(info_pk)
            } else {
                None
            };
            c.execute(
                "INSERT INTO ZWAMESSAGE (Z_PK, Z_ENT, Z_OPT, ZCHATSESSION, ZISFROMME, ZSTANZAID, ZMESSAGEDATE, ZSENTDATE, ZMESSAGETYPE, ZTEXT,
                   ZGROUPMEMBER, ZGROUPEVENTTYPE, ZMEDIAITEM, ZMESSAGEINFO, ZPARENTMESSAGE, ZFROMJID, ZTOJID, ZMESSAGESTATUS, ZSORT, ZFLAGS)
                 VALUES (?1, 7, 1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, 16777216)",
                params![
                    pk, chat_pk, from_me as i64, stanza, date, mtype, text, member, event, media_item, info, parent,
                    from_jid, to_jid, if from_me { 8 } else { 0 }, i as i64 + 1
                ],
            )?;
            if i == 0 {
                first_stanza = Some((pk, stanza.clone()));
            }
            if is_text {
                if let Some(t) = &text {
                    facts.texts.insert(stanza.clone(), t.clone());
                }
            }
            facts.times.push((
                stanza,
                ((date + COCOA_EPOCH as f64) * 1000.0).round() as i64,
            ));
            facts.messages += 1;
            facts.from_me += from_me as usize;
            count += 1;
        }
        let name = match jid {
            j if j == ann => "Ann Lee".to_string(),
            j if j == bob => bob_name.to_string(),
            _ => "Family 家族 🏡".to_string(),
        };
        facts.chats.push(IosChat {
            jid: jid.to_string(),
            name,
            group: is_group,
            messages: count,
            sender_names: senders,
        });
    }
    Ok(facts)
}
