//! Generators of real-format chat exports, deterministic for a seed and any size:
//! WeChat Android (EnMicroMsg.db encrypted with SQLCipher's real SQLCipher-1 parameters,
//! shared_prefs, media), WeChat iOS (MM.sqlite, WCDB_Contact.sqlite, media), WhatsApp
//! (Android `.txt` with media beside it; iOS `.zip` with `_chat.txt`) and Telegram Desktop
//! (`result.json`, full export). Each returns the facts a reader must find.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use md5::{Digest, Md5};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use rusqlite::{params, Connection};

/// Size and shape of a generated chat export.
#[derive(Debug, Clone, Copy)]
pub struct ChatSpec {
    /// Messages in total.
    pub messages: u64,
    /// Conversations (at least 2: one of them is a group).
    pub conversations: u64,
    /// Every n-th message carries a media file (0: none).
    pub media_every: u64,
    /// Of the media messages, every n-th file is left out of the export (0: none).
    pub missing_every: u64,
    /// Seed.
    pub seed: u64,
}

impl ChatSpec {
    /// A few hundred messages.
    pub fn small(seed: u64) -> Self {
        ChatSpec {
            messages: 300,
            conversations: 6,
            media_every: 10,
            missing_every: 5,
            seed,
        }
    }

    /// `messages` messages over 40 conversations, media on every 50th.
    pub fn large(messages: u64, seed: u64) -> Self {
        ChatSpec {
            messages,
            conversations: 40,
            media_every: 50,
            missing_every: 7,
            seed,
        }
    }
}

/// What a reader must find in a generated export.
#[derive(Debug, Clone, Default)]
pub struct ChatFacts {
    /// Messages per conversation id.
    pub by_conversation: BTreeMap<String, u64>,
    /// Messages whose media file is present.
    pub media_present: u64,
    /// Messages whose media file is missing.
    pub media_missing: u64,
    /// Messages containing [`NEEDLE`].
    pub needle_hits: u64,
    /// WeChat: the database key (the generator's, for tests of key handling).
    pub key: Option<String>,
}

impl ChatFacts {
    /// Messages in total.
    pub fn messages(&self) -> u64 {
        self.by_conversation.values().sum()
    }
}

/// A phrase some messages contain, for search tests (Chinese, trigram-searchable).
pub const NEEDLE: &str = "长城旅行";

const PHRASES: &[&str] = &[
    "你好",
    "今天晚上一起吃饭吗？",
    "好的 👍",
    "明天见",
    "哈哈哈😂",
    "收到，谢谢",
    "周末去看电影",
    "It's done — see you",
    "on my way 🚗",
    "开会改到三点",
    "多行\n消息\n第三行",
    "Ünïcödé ✓ ☔",
    "O'Brien said \"hi\"",
];

fn text(rng: &mut SmallRng, i: u64, facts: &mut ChatFacts) -> String {
    if i % 97 == 13 {
        facts.needle_hits += 1;
        return format!("下个月{NEEDLE}，一起去吗 #{i}");
    }
    format!("{} #{i}", PHRASES[rng.random_range(0..PHRASES.len())])
}

fn md5_hex(s: &[u8]) -> String {
    hex(&Md5::digest(s))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn media_bytes(rng: &mut SmallRng, magic: &[u8], size: usize) -> Vec<u8> {
    let mut data = vec![0u8; size.max(magic.len())];
    rng.fill_bytes(&mut data);
    data[..magic.len()].copy_from_slice(magic);
    data
}

/// A tiny valid PNG (1×1), so browsers can show generated images.
pub const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// Writes a WeChat Android export under `dir`: `shared_prefs/` with the uin and
/// `MicroMsg/<md5("mm"+uin)>/EnMicroMsg.db` (SQLCipher-1 encrypted with the key derived from
/// the default IMEI when `encrypted`), plus images, voice and video files.
pub fn wechat_android(dir: &Path, spec: &ChatSpec, encrypted: bool) -> io::Result<ChatFacts> {
    let mut rng = SmallRng::seed_from_u64(spec.seed);
    let mut facts = ChatFacts::default();
    let uin = format!("{}", 100_000_000 + spec.seed % 1_000_000);
    let userdir = md5_hex(format!("mm{uin}").as_bytes());
    let key = md5_hex(format!("1234567890ABCDEF{uin}").as_bytes())[..7].to_string();
    let prefs = dir.join("shared_prefs");
    fs::create_dir_all(&prefs)?;
    fs::write(
        prefs.join("system_config_prefs.xml"),
        format!("<?xml version='1.0' encoding='utf-8' standalone='yes' ?>\n<map>\n    <int name=\"default_uin\" value=\"{uin}\" />\n</map>\n"),
    )?;
    let udir = dir.join("MicroMsg").join(&userdir);
    fs::create_dir_all(&udir)?;
    let db_path = udir.join("EnMicroMsg.db");
    let _ = fs::remove_file(&db_path);
    let mut db = Connection::open(&db_path).map_err(io::Error::other)?;
    if encrypted {
        db.pragma_update(None, "key", &key)
            .map_err(io::Error::other)?;
        db.execute_batch("PRAGMA cipher_compatibility = 1;")
            .map_err(io::Error::other)?;
        facts.key = Some(key);
    }
    db.execute_batch(
        "CREATE TABLE message (msgId INTEGER PRIMARY KEY, msgSvrId INTEGER, type INT, status INT, isSend INT,
           createTime INTEGER, talker TEXT, content TEXT, imgPath TEXT, reserved TEXT, lvbuffer BLOB,
           talkerId INTEGER, msgSeq INTEGER, flag INT);
         CREATE INDEX messageTalkerCreateTimeIndex ON message (talker, createTime);
         CREATE TABLE rcontact (username TEXT PRIMARY KEY, alias TEXT, conRemark TEXT, nickname TEXT,
           type INTEGER, verifyFlag INTEGER, chatroomFlag INTEGER, deleteFlag INTEGER);
         CREATE TABLE chatroom (chatroomname TEXT PRIMARY KEY, memberlist TEXT, displayname TEXT,
           roomowner TEXT, memberCount INTEGER);
         CREATE TABLE userinfo (id INTEGER PRIMARY KEY, type INT, value TEXT);
         CREATE TABLE ImgInfo2 (id INTEGER PRIMARY KEY, msgSvrId LONG, bigImgPath TEXT,
           thumbImgPath TEXT, msglocalid INT, status INT);",
    )
    .map_err(io::Error::other)?;
    let tx = db.transaction().map_err(io::Error::other)?;
    let me = "wxid_owner";
    tx.execute_batch(&format!(
        "INSERT INTO userinfo VALUES (2, 3, '{me}'); INSERT INTO userinfo VALUES (4, 3, '主人');"
    ))
    .map_err(io::Error::other)?;
    let n_conv = spec.conversations.max(2);
    let peers: Vec<String> = (1..n_conv).map(|c| format!("wxid_p{c:04}")).collect();
    let room = "5000@chatroom".to_string();
    for (i, p) in peers.iter().enumerate() {
        tx.execute(
            "INSERT INTO rcontact VALUES (?1, ?2, ?3, ?4, 3, 0, 0, 0)",
            params![
                p,
                format!("a{i}"),
                if i % 2 == 0 {
                    format!("备注{i}")
                } else {
                    String::new()
                },
                format!("朋友{i} 🌸")
            ],
        )
        .map_err(io::Error::other)?;
    }
    tx.execute(
        "INSERT INTO rcontact VALUES (?1, NULL, NULL, '大家庭 👨‍👩‍👧', 3, 0, 1, 0)",
        [&room],
    )
    .map_err(io::Error::other)?;
    tx.execute(
        "INSERT INTO chatroom VALUES (?1, ?2, '', ?3, ?4)",
        params![
            room,
            format!("{me};{}", peers.join(";")),
            me,
            peers.len() as i64 + 1
        ],
    )
    .map_err(io::Error::other)?;
    let convs: Vec<String> = peers.iter().cloned().chain([room.clone()]).collect();
    {
        let mut ins = tx
            .prepare("INSERT INTO message (msgId, msgSvrId, type, status, isSend, createTime, talker, content, imgPath) VALUES (?1, ?2, ?3, 3, ?4, ?5, ?6, ?7, ?8)")
            .map_err(io::Error::other)?;
        let mut img = tx
            .prepare("INSERT INTO ImgInfo2 (msgSvrId, bigImgPath, thumbImgPath, msglocalid, status) VALUES (?1, ?2, ?3, ?4, 0)")
            .map_err(io::Error::other)?;
        let mut media_seen = 0u64;
        for i in 1..=spec.messages {
            let media = spec.media_every > 0 && i % spec.media_every == 0;
            // Every 7th medium goes to the group (by turn, only even-indexed chats would).
            let conv = if media && (i / spec.media_every) % 7 == 3 {
                &room
            } else {
                &convs[(i % convs.len() as u64) as usize]
            };
            let group = conv == &room;
            let is_send = rng.random_range(0..3) == 0;
            let svr = 1_000_000 + i as i64;
            let time = 1_700_000_000_000i64 + i as i64 * 60_000;
            let (ty, mut content, img_path): (i64, String, Option<String>) = if media {
                media_seen += 1;
                let missing = spec.missing_every > 0 && media_seen % spec.missing_every == 0;
                if missing {
                    facts.media_missing += 1;
                } else {
                    facts.media_present += 1;
                }
                match media_seen % 3 {
                    0 => {
                        let h = md5_hex(format!("img{i}").as_bytes());
                        let d = udir.join("image2").join(&h[..2]).join(&h[2..4]);
                        fs::create_dir_all(&d)?;
                        if !missing {
                            fs::write(d.join(format!("th_{h}")), PNG_1X1)?;
                            fs::write(d.join(format!("{h}.jpg")), PNG_1X1)?;
                        }
                        img.execute(params![
                            svr,
                            format!("{h}.jpg"),
                            format!("th_{h}"),
                            i as i64
                        ])
                        .map_err(io::Error::other)?;
                        (
                            3,
                            format!("<msg><img md5=\"{h}\" length=\"68\" /></msg>"),
                            Some(format!("THUMBNAIL_DIRPATH://th_{h}")),
                        )
                    }
                    1 => {
                        let name = format!("{:016x}", rng.next_u64());
                        let m = md5_hex(name.as_bytes());
                        let d = udir.join("voice2").join(&m[..2]).join(&m[2..4]);
                        fs::create_dir_all(&d)?;
                        if !missing {
                            fs::write(
                                d.join(format!("msg_{name}.amr")),
                                media_bytes(&mut rng, b"\x02#!SILK_V3", 2000),
                            )?;
                        }
                        // Android's voice content is `<user>:<length ms>:<flag>`, filled
                        // below with the sender.
                        (34, String::new(), Some(name))
                    }
                    _ => {
                        let name = format!("{:016x}", rng.next_u64());
                        let d = udir.join("video");
                        fs::create_dir_all(&d)?;
                        if !missing {
                            fs::write(
                                d.join(format!("{name}.mp4")),
                                media_bytes(&mut rng, b"\0\0\0\x18ftypmp42", 9000),
                            )?;
                            fs::write(d.join(format!("{name}.jpg")), PNG_1X1)?;
                        }
                        (
                            43,
                            "<msg><videomsg playlength=\"5\" /></msg>".into(),
                            Some(name),
                        )
                    }
                }
            } else {
                match i % 41 {
                    7 => (48, "<msg><location x=\"31.23\" y=\"121.47\" label=\"上海\" poiname=\"外滩\" /></msg>".into(), None),
                    11 => (822083633, format!("<msg><appmsg><title>同意 #{i}</title><type>57</type><refermsg><svrid>{}</svrid><content>原文</content></refermsg></appmsg></msg>", svr - 1), None),
                    17 => (49, format!("<msg><appmsg><title>文章 #{i}</title><des>摘要 &amp; 更多</des><type>5</type><url>https://example.com/{i}</url></appmsg></msg>"), None),
                    23 => (10000, "\"主人\"邀请\"朋友1\"加入了群聊".into(), None),
                    29 => (10002, "<sysmsg type=\"revokemsg\"><revokemsg><replacemsg><![CDATA[\"朋友\" 撤回了一条消息]]></replacemsg></revokemsg></sysmsg>".into(), None),
                    31 => {
                        // A file never downloaded: its message names it, no file is there.
                        facts.media_missing += 1;
                        (1090519089, format!("<msg><appmsg><title>报告{i}.pdf</title><type>6</type></appmsg></msg>"), None)
                    }
                    37 => (999_999, format!("<unknown n=\"{i}\"/>"), None),
                    _ => (1, text(&mut rng, i, &mut facts), None),
                }
            };
            let who = &peers[(i % peers.len() as u64) as usize];
            if ty == 34 {
                let user = if group && !is_send { who } else { conv };
                content = format!("{user}:3000:0\n");
            } else if group && !is_send && ty != 10000 {
                content = format!("{who}:\n{content}");
            }
            *facts.by_conversation.entry(conv.clone()).or_default() += 1;
            ins.execute(params![
                i as i64,
                svr,
                ty,
                is_send as i64,
                time,
                conv,
                content,
                img_path
            ])
            .map_err(io::Error::other)?;
        }
    }
    tx.commit().map_err(io::Error::other)?;
    Ok(facts)
}

fn protobuf_remark(nick: &str, alias: &str, remark: &str) -> Vec<u8> {
    [(1, nick), (2, alias), (3, remark)]
        .iter()
        .flat_map(|(field, s)| pb_field(*field, s.as_bytes()))
        .collect()
}

/// A protobuf varint.
fn pb_varint(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// One length-delimited protobuf field.
fn pb_field(field: u8, bytes: &[u8]) -> Vec<u8> {
    let mut b = vec![field << 3 | 2];
    pb_varint(bytes.len() as u64, &mut b);
    b.extend_from_slice(bytes);
    b
}

/// `Documents/LoginInfo2.dat` naming `owner` (display name `name`) beside the accounts
/// already listed: field 1 holds the accounts one after another, each its length then a
/// message (1 username, 2 alias, 3 display name).
fn add_login_info(documents: &Path, owner: &str, name: &str) -> io::Result<()> {
    let path = documents.join("LoginInfo2.dat");
    let mut records = match fs::read(&path) {
        // Our own file: one field 1 (tag 0x0a, its length) and nothing after it.
        Ok(old) => {
            let mut at = 1;
            while old.get(at).is_some_and(|b| b & 0x80 != 0) {
                at += 1;
            }
            old[at + 1..].to_vec()
        }
        Err(_) => Vec::new(),
    };
    let user: Vec<u8> = [(1, owner), (2, ""), (3, name)]
        .iter()
        .flat_map(|(f, s)| pb_field(*f, s.as_bytes()))
        .collect();
    pb_varint(user.len() as u64, &mut records);
    records.extend_from_slice(&user);
    fs::write(path, pb_field(1, &records))
}

/// The display name the generator gives account `owner` in `LoginInfo2.dat`.
pub fn wechat_ios_owner_name(owner: &str) -> String {
    format!("我自己 {owner}")
}

/// A peer of every generated iPhone account found only in `OpenIMContact` (WeChat Work),
/// and the name it has there.
pub const WECHAT_IOS_OPENIM: (&str, &str) = ("10086@openim", "企业微信同事");
/// A peer of every generated iPhone account who is no contact: only `session.db` names it.
pub const WECHAT_IOS_STRANGER: &str = "wxid_stranger";
/// The name the generated group's member `wxid_p0002` gave themself there.
pub const WECHAT_IOS_GROUP_NICKNAME: &str = "群里的二号";

/// Writes a WeChat iOS app container under `dir`: `Documents/<md5(owner)>/DB/MM.sqlite`,
/// `message_1.sqlite` (half the conversations), `WCDB_Contact.sqlite`, `Img/` and `Audio/`.
pub fn wechat_ios(dir: &Path, spec: &ChatSpec) -> io::Result<ChatFacts> {
    wechat_ios_account(dir, spec, "wxid_owner")
}

/// [`wechat_ios`] for the account `owner`: writes `Documents/<md5(owner)>/…` under `dir`,
/// beside any accounts already there.
pub fn wechat_ios_account(dir: &Path, spec: &ChatSpec, owner: &str) -> io::Result<ChatFacts> {
    let mut rng = SmallRng::seed_from_u64(spec.seed);
    let mut facts = ChatFacts::default();
    let acct = dir.join("Documents").join(md5_hex(owner.as_bytes()));
    let dbdir = acct.join("DB");
    fs::create_dir_all(&dbdir)?;
    let n_conv = spec.conversations.max(2);
    let people: Vec<String> = (1..n_conv).map(|c| format!("wxid_p{c:04}")).collect();
    let group = "6000@chatroom".to_string();
    let peers: Vec<String> = people
        .iter()
        .cloned()
        .chain([
            group.clone(),
            WECHAT_IOS_OPENIM.0.to_string(),
            WECHAT_IOS_STRANGER.to_string(),
        ])
        .collect();
    add_login_info(&dir.join("Documents"), owner, &wechat_ios_owner_name(owner))?;
    let contacts = Connection::open(dbdir.join("WCDB_Contact.sqlite")).map_err(io::Error::other)?;
    contacts
        .execute_batch(
            "CREATE TABLE Friend (userName TEXT PRIMARY KEY, type INTEGER, dbContactRemark BLOB, dbContactChatRoom BLOB);
             CREATE TABLE OpenIMContact (userName TEXT PRIMARY KEY, type INTEGER, dbContactRemark BLOB);",
        )
        .map_err(io::Error::other)?;
    // The group's members (the first two people and the owner) and the name the second
    // gave themself there; the first has a remark, which wins over a group nickname.
    let members: Vec<&str> = people
        .iter()
        .take(2)
        .map(String::as_str)
        .chain([owner])
        .collect();
    let room_xml = format!(
        "<RoomData><Member UserName=\"{}\"><DisplayName>老同学</DisplayName></Member>{}</RoomData>",
        people[0],
        people.get(1).map_or(String::new(), |p| format!(
            "<Member UserName=\"{p}\"><Flag>1</Flag><DisplayName>{WECHAT_IOS_GROUP_NICKNAME}</DisplayName></Member>"
        ))
    );
    let room: Vec<u8> = [
        pb_field(1, members.join(";").as_bytes()),
        pb_field(6, room_xml.as_bytes()),
    ]
    .concat();
    for (i, p) in people.iter().chain([&group]).enumerate() {
        let remark = if i % 2 == 0 {
            format!("备注{i}")
        } else {
            String::new()
        };
        let room = (p == &group).then(|| room.clone());
        contacts
            .execute(
                "INSERT INTO Friend VALUES (?1, 3, ?2, ?3)",
                params![
                    p,
                    protobuf_remark(&format!("朋友{i}"), &format!("a{i}"), &remark),
                    room
                ],
            )
            .map_err(io::Error::other)?;
    }
    contacts
        .execute(
            "INSERT INTO OpenIMContact VALUES (?1, 3, ?2)",
            params![
                WECHAT_IOS_OPENIM.0,
                protobuf_remark(WECHAT_IOS_OPENIM.1, "", "")
            ],
        )
        .map_err(io::Error::other)?;
    // Every chat has a session; the stranger has nothing else.
    let session_dir = acct.join("session");
    fs::create_dir_all(&session_dir)?;
    let _ = fs::remove_file(session_dir.join("session.db"));
    let sessions = Connection::open(session_dir.join("session.db")).map_err(io::Error::other)?;
    sessions
        .execute_batch("CREATE TABLE SessionAbstract (UsrName TEXT, CreateTime INTEGER, ConStrRes1 TEXT, unreadcount INTEGER);")
        .map_err(io::Error::other)?;
    for p in &peers {
        sessions
            .execute(
                "INSERT INTO SessionAbstract VALUES (?1, 1700000000, NULL, 0)",
                [p],
            )
            .map_err(io::Error::other)?;
    }
    let mut dbs: Vec<Connection> = ["MM.sqlite", "message_1.sqlite"]
        .iter()
        .map(|n| {
            let _ = fs::remove_file(dbdir.join(n));
            Connection::open(dbdir.join(n)).map_err(io::Error::other)
        })
        .collect::<io::Result<_>>()?;
    for (ci, p) in peers.iter().enumerate() {
        let db = &dbs[ci % 2];
        db.execute_batch(&format!(
            "CREATE TABLE Chat_{} (TableVer INTEGER, MesLocalID INTEGER PRIMARY KEY, MesSvrID INTEGER, CreateTime INTEGER, Message TEXT, Status INTEGER, ImgStatus INTEGER, Type INTEGER, Des INTEGER);",
            md5_hex(p.as_bytes())
        ))
        .map_err(io::Error::other)?;
    }
    let txs: Vec<_> = dbs.iter_mut().map(|d| d.execute_batch("BEGIN")).collect();
    for t in txs {
        t.map_err(io::Error::other)?;
    }
    let mut media_seen = 0;
    for i in 1..=spec.messages {
        let ci = (i % peers.len() as u64) as usize;
        let peer = &peers[ci];
        let h = md5_hex(peer.as_bytes());
        let group = peer.ends_with("@chatroom");
        let des = rng.random_range(0..2);
        let media = spec.media_every > 0 && i % spec.media_every == 0;
        let (ty, mut content) = if media {
            media_seen += 1;
            let missing = spec.missing_every > 0 && media_seen % spec.missing_every == 0;
            if missing {
                facts.media_missing += 1;
            } else {
                facts.media_present += 1;
            }
            if media_seen % 2 == 0 {
                if !missing {
                    let d = acct.join("Img").join(&h);
                    fs::create_dir_all(&d)?;
                    fs::write(d.join(format!("{i}.pic")), PNG_1X1)?;
                    fs::write(d.join(format!("{i}.pic_thum")), PNG_1X1)?;
                }
                (3, "<msg><img length=\"68\"/></msg>".to_string())
            } else {
                if !missing {
                    let d = acct.join("Audio").join(&h);
                    fs::create_dir_all(&d)?;
                    fs::write(
                        d.join(format!("{i}.aud")),
                        media_bytes(&mut rng, b"#!SILK_V3", 1500),
                    )?;
                }
                (
                    34,
                    "<msg><voicemsg voicelength=\"2000\"/></msg>".to_string(),
                )
            }
        } else {
            (1, text(&mut rng, i, &mut facts))
        };
        if group && des == 1 {
            let who = &people[(i / peers.len() as u64 % 2) as usize % people.len()];
            content = format!("{who}:\n{content}");
        }
        *facts.by_conversation.entry(peer.clone()).or_default() += 1;
        dbs[ci % 2]
            .execute(
                &format!("INSERT INTO Chat_{h} (TableVer, MesLocalID, MesSvrID, CreateTime, Message, Status, ImgStatus, Type, Des) VALUES (1, ?1, ?2, ?3, ?4, 2, 1, ?5, ?6)"),
                params![i as i64, 5_000_000 + i as i64, 1_700_000_000 + i as i64 * 60, content, ty, des],
            )
            .map_err(io::Error::other)?;
    }
    for d in &dbs {
        d.execute_batch("COMMIT").map_err(io::Error::other)?;
    }
    Ok(facts)
}

/// Locale variants of WhatsApp's Android header.
#[derive(Debug, Clone, Copy)]
pub enum WhatsAppLocale {
    /// `6/30/23, 4:14 PM - ` (US, 12 h with U+202F).
    Us,
    /// `30/06/2023, 16:14 - ` (day first, 24 h).
    DayFirst,
}

fn wa_header(locale: WhatsAppLocale, t: chrono::NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    match locale {
        WhatsAppLocale::Us => {
            let (pm, h) = t.hour12();
            format!(
                "{}/{}/{:02}, {}:{:02}\u{202F}{} - ",
                t.month(),
                t.day(),
                t.year() % 100,
                h,
                t.minute(),
                if pm { "PM" } else { "AM" }
            )
        }
        WhatsAppLocale::DayFirst => format!(
            "{:02}/{:02}/{}, {:02}:{:02} - ",
            t.day(),
            t.month(),
            t.year(),
            t.hour(),
            t.minute()
        ),
    }
}

/// Writes WhatsApp Android exports under `dir`: one `WhatsApp Chat with <name>.txt` per
/// conversation, media files beside them (some left out), system lines, multi-line
/// messages, deleted and edited ones.
pub fn whatsapp_android(
    dir: &Path,
    spec: &ChatSpec,
    locale: WhatsAppLocale,
) -> io::Result<ChatFacts> {
    let mut rng = SmallRng::seed_from_u64(spec.seed);
    let mut facts = ChatFacts::default();
    fs::create_dir_all(dir)?;
    let n_conv = spec.conversations.max(1);
    let per = spec.messages / n_conv;
    let start = chrono::NaiveDate::from_ymd_opt(2023, 1, 1)
        .unwrap()
        .and_hms_opt(8, 0, 0)
        .unwrap();
    let mut media_seen = 0;
    for c in 0..n_conv {
        let name = if c == 0 {
            "Family 家庭 👨‍👩‍👧".to_string()
        } else {
            format!("Friend {c}")
        };
        let file = format!("WhatsApp Chat with {name}.txt");
        let mut w = BufWriter::new(fs::File::create(dir.join(&file))?);
        let count = if c == n_conv - 1 {
            spec.messages - per * (n_conv - 1)
        } else {
            per
        };
        for i in 0..count {
            let gi = c * per + i + 1;
            let t = start + chrono::Duration::minutes((i * 7) as i64);
            let h = wa_header(locale, t);
            let author = if c == 0 {
                ["Me", "Mum", "Dad"][(i % 3) as usize]
            } else if i % 2 == 0 {
                "Me"
            } else {
                "Friend"
            };
            if i == 0 {
                writeln!(w, "{h}Messages and calls are end-to-end encrypted. No one outside of this chat can read them.")?;
            } else if spec.media_every > 0 && i % spec.media_every == 0 {
                media_seen += 1;
                let missing = spec.missing_every > 0 && media_seen % spec.missing_every == 0;
                let fname = format!("IMG-{}-WA{gi:06}.jpg", t.format("%Y%m%d"));
                if missing {
                    facts.media_missing += 1;
                } else {
                    facts.media_present += 1;
                    fs::write(dir.join(&fname), PNG_1X1)?;
                }
                writeln!(w, "{h}{author}: {fname} (file attached)\ncaption {gi}")?;
            } else {
                match i % 29 {
                    5 => writeln!(w, "{h}{author}: This message was deleted")?,
                    9 => writeln!(w, "{h}{author}: fixed typo {gi} <This message was edited>")?,
                    12 => {
                        facts.media_missing += 1;
                        writeln!(w, "{h}{author}: <Media omitted>")?
                    }
                    _ => {
                        let t = text(&mut rng, gi, &mut facts);
                        writeln!(w, "{h}{author}: {t}")?
                    }
                }
            }
        }
        w.flush()?;
        *facts.by_conversation.entry(file).or_default() += count;
    }
    Ok(facts)
}

/// Writes a WhatsApp iOS export: a zip holding `_chat.txt` (CRLF, bracketed headers,
/// U+200E marks) and the attached photos.
pub fn whatsapp_ios_zip(path: &Path, spec: &ChatSpec) -> io::Result<ChatFacts> {
    use chrono::Timelike;
    let mut rng = SmallRng::seed_from_u64(spec.seed);
    let mut facts = ChatFacts::default();
    let mut zip = zip::ZipWriter::new(fs::File::create(path)?);
    let opts = zip::write::SimpleFileOptions::default();
    let start = chrono::NaiveDate::from_ymd_opt(2022, 12, 30)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let mut chat = String::new();
    let mut attachments = Vec::new();
    for i in 0..spec.messages {
        let t = start + chrono::Duration::seconds((i * 431) as i64);
        let (pm, h12) = t.hour12();
        let h = format!(
            "[{}, {}:{:02}:{:02}\u{202F}{}] ",
            t.format("%-d/%-m/%y"),
            h12,
            t.minute(),
            t.second(),
            if pm { "PM" } else { "AM" }
        );
        let author = if i % 2 == 0 { "Me" } else { "Ann 安" };
        if i == 0 {
            chat.push_str(&format!(
                "{h}Ann 安: \u{200E}Messages and calls are end-to-end encrypted.\r\n"
            ));
        } else if spec.media_every > 0 && i % spec.media_every == 0 {
            let name = format!("{:08}-PHOTO-{}.jpg", i, t.format("%Y-%m-%d-%H-%M-%S"));
            if spec.missing_every > 0 && (i / spec.media_every) % spec.missing_every == 0 {
                facts.media_missing += 1;
                chat.push_str(&format!("\u{200E}{h}{author}: \u{200E}image omitted\r\n"));
            } else {
                facts.media_present += 1;
                chat.push_str(&format!(
                    "\u{200E}{h}{author}: \u{200E}<attached: {name}>\r\n"
                ));
                attachments.push(name);
            }
        } else {
            let t = text(&mut rng, i, &mut facts).replace('\n', "\r\n");
            chat.push_str(&format!("{h}{author}: {t}\r\n"));
        }
    }
    zip.start_file("_chat.txt", opts)
        .map_err(io::Error::other)?;
    zip.write_all(chat.as_bytes())?;
    for a in attachments {
        zip.start_file(a, opts).map_err(io::Error::other)?;
        zip.write_all(PNG_1X1)?;
    }
    zip.finish().map_err(io::Error::other)?;
    let id = path.file_name().unwrap().to_string_lossy().into_owned();
    facts.by_conversation.insert(id, spec.messages);
    Ok(facts)
}

/// Rewrites the zip at `path` with its first `.jpg` entry replaced by `size` zero bytes
/// (deflated to about a thousandth: a zip bomb where a photo was). Returns the entry's name.
pub fn zip_bomb_first_photo(path: &Path, size: u64) -> io::Result<String> {
    let mut old = zip::ZipArchive::new(fs::File::open(path)?).map_err(io::Error::other)?;
    let tmp = path.with_extension("bomb.tmp");
    let mut zip = zip::ZipWriter::new(fs::File::create(&tmp)?);
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(size >= u32::MAX as u64);
    let mut bombed = None;
    for i in 0..old.len() {
        let mut entry = old.by_index(i).map_err(io::Error::other)?;
        let name = entry.name().to_string();
        zip.start_file(name.as_str(), deflated)
            .map_err(io::Error::other)?;
        if bombed.is_none() && name.ends_with(".jpg") {
            io::copy(&mut io::repeat(0).take(size), &mut zip)?;
            bombed = Some(name);
        } else {
            io::copy(&mut entry, &mut zip)?;
        }
    }
    zip.finish().map_err(io::Error::other)?;
    fs::rename(&tmp, path)?;
    bombed.ok_or_else(|| io::Error::other("no .jpg entry in the zip"))
}

/// Writes a Telegram Desktop full export under `dir`: `result.json` with personal
/// information, contacts and chats (personal, group, channel), text as plain strings and
/// as entity arrays, photos under `chats/chat_NN/photos/` (some "not included"), service
/// messages. The JSON is written as a stream, so any size works.
pub fn telegram(dir: &Path, spec: &ChatSpec) -> io::Result<ChatFacts> {
    use serde_json::json;
    let mut rng = SmallRng::seed_from_u64(spec.seed);
    let mut facts = ChatFacts::default();
    fs::create_dir_all(dir)?;
    let mut w = BufWriter::new(fs::File::create(dir.join("result.json"))?);
    let me = 1000;
    write!(w, "{{\n \"about\": \"Here is the data you requested.\",\n \"personal_information\": {},\n \"contacts\": {{\"about\": \"\", \"list\": [",
        json!({"user_id": me, "first_name": "Mei", "last_name": "Chen", "phone_number": "+86 100", "bio": ""}))?;
    let n_conv = spec.conversations.max(3);
    for c in 1..n_conv {
        if c > 1 {
            write!(w, ",")?;
        }
        write!(
            w,
            "{}",
            json!({"user_id": 2000 + c, "first_name": format!("友{c}"), "last_name": "", "phone_number": format!("+1 555 {c:04}"), "date": "2023-01-01T00:00:00"})
        )?;
    }
    write!(w, "]}},\n \"chats\": {{\"about\": \"\", \"list\": [")?;
    let per = spec.messages / n_conv;
    let mut media_seen = 0;
    for c in 0..n_conv {
        let (kind, name, id) = match c {
            0 => ("private_supergroup", "旅行群 ✈️".to_string(), 9000),
            1 => ("public_channel", "News 频道".to_string(), 9001),
            _ => ("personal_chat", format!("友{}", c - 1), 2000 + c - 1),
        };
        if c > 0 {
            write!(w, ",")?;
        }
        write!(
            w,
            "\n  {{\"name\": {}, \"type\": \"{kind}\", \"id\": {id}, \"messages\": [",
            json!(name)
        )?;
        let count = if c == n_conv - 1 {
            spec.messages - per * (n_conv - 1)
        } else {
            per
        };
        let folder = format!("chats/chat_{c:02}");
        for i in 0..count {
            let gi = c * per + i + 1;
            let secs = 1_700_000_000 + gi as i64 * 60;
            let from_me = i % 3 == 0;
            let (from, from_id) = if from_me {
                ("Mei Chen".to_string(), format!("user{me}"))
            } else {
                (name.clone(), format!("user{}", 2000 + c))
            };
            let date = chrono::DateTime::from_timestamp(secs, 0)
                .unwrap()
                .naive_utc()
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string();
            let mut m = json!({"id": i + 1, "type": "message", "date": date, "date_unixtime": secs.to_string(), "from": from, "from_id": from_id});
            if i == 0 {
                m = json!({"id": i + 1, "type": "service", "date": date, "date_unixtime": secs.to_string(), "actor": from, "actor_id": from_id, "action": "create_group", "title": name, "members": [], "text": "", "text_entities": []});
            } else if spec.media_every > 0 && i % spec.media_every == 0 {
                media_seen += 1;
                let missing = spec.missing_every > 0 && media_seen % spec.missing_every == 0;
                let rel = format!("{folder}/photos/photo_{gi}@01-01-2023_00-00-00.jpg");
                if missing {
                    facts.media_missing += 1;
                    m["photo"] =
                        json!("(File not included. Change data exporting settings to download.)");
                } else {
                    facts.media_present += 1;
                    fs::create_dir_all(dir.join(&folder).join("photos"))?;
                    fs::write(dir.join(&rel), PNG_1X1)?;
                    m["photo"] = json!(rel);
                }
                m["width"] = json!(1);
                m["height"] = json!(1);
                m["text"] = json!("");
                m["text_entities"] = json!([]);
            } else if i % 5 == 0 {
                let t = text(&mut rng, gi, &mut facts);
                m["text"] = json!(["看看 ", {"type": "bold", "text": t}, " ", {"type": "link", "text": "https://t.me/x"}]);
                m["text_entities"] = json!([]);
                m["reply_to_message_id"] = json!(i);
            } else {
                let t = text(&mut rng, gi, &mut facts);
                m["text"] = json!(t);
                m["text_entities"] = json!([{"type": "plain", "text": t}]);
                if i % 11 == 0 {
                    m["edited"] = json!(date);
                    m["edited_unixtime"] = json!((secs + 5).to_string());
                }
            }
            if i > 0 {
                write!(w, ",")?;
            }
            write!(w, "\n   {m}")?;
        }
        write!(w, "\n  ]}}")?;
        facts.by_conversation.insert(id.to_string(), count);
    }
    write!(
        w,
        "\n ]}},\n \"left_chats\": {{\"about\": \"\", \"list\": []}}\n}}\n"
    )?;
    w.flush()?;
    Ok(facts)
}

/// A day of new messages in a WeChat Android export written by [`wechat_android`] (same
/// `spec`): `added` text messages appended to its database in place, as WeChat adds them,
/// so most of the database's pages stay as they were. Returns the messages it now holds.
pub fn wechat_android_add_day(
    dir: &Path,
    spec: &ChatSpec,
    facts: &mut ChatFacts,
    added: u64,
) -> io::Result<u64> {
    let uin = format!("{}", 100_000_000 + spec.seed % 1_000_000);
    let db_path = dir
        .join("MicroMsg")
        .join(md5_hex(format!("mm{uin}").as_bytes()))
        .join("EnMicroMsg.db");
    let mut db = Connection::open(&db_path).map_err(io::Error::other)?;
    if let Some(key) = &facts.key {
        db.pragma_update(None, "key", key)
            .map_err(io::Error::other)?;
        db.execute_batch("PRAGMA cipher_compatibility = 1;")
            .map_err(io::Error::other)?;
    }
    let (last_id, last_time): (i64, i64) = db
        .query_row("SELECT max(msgId), max(createTime) FROM message", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(io::Error::other)?;
    let convs: Vec<String> = facts.by_conversation.keys().cloned().collect();
    let mut rng = SmallRng::seed_from_u64(spec.seed ^ added);
    let tx = db.transaction().map_err(io::Error::other)?;
    for k in 1..=added {
        let i = spec.messages + k;
        let conv = &convs[(k % convs.len().max(1) as u64) as usize];
        let body = text(&mut rng, i, facts);
        tx.execute(
            "INSERT INTO message (msgId, msgSvrId, type, status, isSend, createTime, talker, content) VALUES (?1, ?2, 1, 3, 1, ?3, ?4, ?5)",
            params![last_id + k as i64, 9_000_000 + i as i64, last_time + k as i64 * 30_000, conv, body],
        )
        .map_err(io::Error::other)?;
        *facts.by_conversation.entry(conv.clone()).or_default() += 1;
    }
    tx.commit().map_err(io::Error::other)?;
    Ok(facts.messages())
}

/// What [`wechat_android_variants`] wrote beyond [`wechat_android`], for the tests.
#[derive(Debug, Clone, Default)]
pub struct AndroidVariants {
    /// The facts of the whole export (its media counted as a reader that links every
    /// variant must count them).
    pub facts: ChatFacts,
    /// The database key (derived from the IMEI in `DENGTA_META.xml` and the uin in
    /// `systemInfo.cfg`, which are the only places naming them).
    pub key: String,
    /// Messages written only to `EnMicroMsg.db-wal`.
    pub wal_messages: u64,
    /// The group nickname a member has in the group, and that member's username.
    pub group_nickname: (String, String),
    /// The external folder, relative to the export's root.
    pub external: String,
}

/// The IMEI [`wechat_android_variants`] keys its database with.
pub const VARIANT_IMEI: &str = "866123456789012";

/// A Java-serialized `HashMap<Integer, Object>` as WeChat writes `systemInfo.cfg`: key 2
/// holds a string, key 1 the uin.
fn java_system_info(uin: i32) -> Vec<u8> {
    let mut b = vec![0xac, 0xed, 0x00, 0x05];
    let utf = |b: &mut Vec<u8>, s: &str| {
        b.extend_from_slice(&(s.len() as u16).to_be_bytes());
        b.extend_from_slice(s.as_bytes());
    };
    // HashMap class description (handle 0), object (handle 1).
    b.extend_from_slice(&[0x73, 0x72]);
    utf(&mut b, "java.util.HashMap");
    b.extend_from_slice(&[
        0x05, 0x07, 0xda, 0xc1, 0xc3, 0x16, 0x60, 0xd1, 0x03, 0x00, 0x02,
    ]);
    b.push(b'F');
    utf(&mut b, "loadFactor");
    b.push(b'I');
    utf(&mut b, "threshold");
    b.extend_from_slice(&[0x78, 0x70]);
    b.extend_from_slice(&[0x3f, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c]);
    b.extend_from_slice(&[0x77, 0x08, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x02]);
    // Key 2: the first Integer, with its class description (handle 2) and Number's (3).
    b.extend_from_slice(&[0x73, 0x72]);
    utf(&mut b, "java.lang.Integer");
    b.extend_from_slice(&[
        0x12, 0xe2, 0xa0, 0xa4, 0xf7, 0x81, 0x87, 0x38, 0x02, 0x00, 0x01,
    ]);
    b.push(b'I');
    utf(&mut b, "value");
    b.extend_from_slice(&[0x78, 0x72]);
    utf(&mut b, "java.lang.Number");
    b.extend_from_slice(&[
        0x86, 0xac, 0x95, 0x1d, 0x0b, 0x94, 0xe0, 0x8b, 0x02, 0x00, 0x00,
    ]);
    b.extend_from_slice(&[0x78, 0x70]);
    b.extend_from_slice(&2i32.to_be_bytes());
    b.push(0x74);
    utf(&mut b, "wxid_owner");
    // Key 1 → the uin: Integers referring to handle 2.
    for v in [1, uin] {
        b.extend_from_slice(&[0x73, 0x71, 0x00, 0x7e, 0x00, 0x02]);
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.push(0x78);
    b
}

/// Moves `from` (a file or folder) to `to`, creating `to`'s parent.
fn move_to(from: &Path, to: &Path) -> io::Result<()> {
    if let Some(p) = to.parent() {
        fs::create_dir_all(p)?;
    }
    fs::rename(from, to)
}

/// Writes [`wechat_android`]'s encrypted export and then every variant real phones have
/// that the reader must link: the key only derivable from `DENGTA_META.xml` (IMEI) and
/// `MicroMsg/systemInfo.cfg` (uin); an external `MicroMsg/<sd-dir>` folder (named in
/// `account.mapping`) holding the videos and some images; stickers (type 47 in
/// `emoji/<groupId>/` with `EmojiInfo` rows, custom stickers 1048625 in the external
/// `emoji/`, one missing); files (app message 6) in `WxFileIndex.db`'s `WxFileIndex3` with
/// `wcf://` and absolute paths (one missing); full-size images under migrated names found
/// only by their hash; group nicknames; and the last messages only in `EnMicroMsg.db-wal`.
pub fn wechat_android_variants(dir: &Path, spec: &ChatSpec) -> io::Result<AndroidVariants> {
    let mut facts = wechat_android(dir, spec, true)?;
    let old_key = facts.key.clone().unwrap_or_default();
    let uin = format!("{}", 100_000_000 + spec.seed % 1_000_000);
    let userdir = md5_hex(format!("mm{uin}").as_bytes());
    let key = md5_hex(format!("{VARIANT_IMEI}{uin}").as_bytes())[..7].to_string();
    facts.key = Some(key.clone());
    let udir = dir.join("MicroMsg").join(&userdir);
    // Key material: only in systemInfo.cfg and DENGTA_META.xml.
    fs::remove_file(dir.join("shared_prefs/system_config_prefs.xml"))?;
    fs::write(
        dir.join("shared_prefs/DENGTA_META.xml"),
        format!("<?xml version='1.0' encoding='utf-8' standalone='yes' ?>\n<map>\n    <string name=\"IMEI_DENGTA\">{VARIANT_IMEI}</string>\n</map>\n"),
    )?;
    fs::write(
        dir.join("MicroMsg/systemInfo.cfg"),
        java_system_info(uin.parse().map_err(io::Error::other)?),
    )?;
    // The external folder.
    let sd = md5_hex(format!("sd{uin}").as_bytes());
    let ext_rel = format!("sdcard/Android/data/com.tencent.mm/MicroMsg/{sd}");
    let ext = dir.join(&ext_rel);
    fs::create_dir_all(&ext)?;
    fs::write(udir.join("account.mapping"), &sd)?;
    if udir.join("video").is_dir() {
        move_to(&udir.join("video"), &ext.join("video"))?;
    }
    let db_path = udir.join("EnMicroMsg.db");
    let db = Connection::open(&db_path).map_err(io::Error::other)?;
    db.pragma_update(None, "key", &old_key)
        .map_err(io::Error::other)?;
    db.execute_batch("PRAGMA cipher_compatibility = 1;")
        .map_err(io::Error::other)?;
    db.pragma_update(None, "rekey", &key)
        .map_err(io::Error::other)?;
    // Images: every other present one moves to the external folder; every third keeps its
    // full-size file only under a migrated name, without its ImgInfo2 row.
    let images: Vec<(i64, String)> = {
        let mut st = db
            .prepare("SELECT msgId, imgPath FROM message WHERE type = 3 ORDER BY msgId")
            .map_err(io::Error::other)?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(io::Error::other)?;
        rows.collect::<Result<_, _>>().map_err(io::Error::other)?
    };
    let mut present_images = 0;
    for (id, img_path) in &images {
        let h = img_path.trim_start_matches("THUMBNAIL_DIRPATH://th_");
        let sub = format!("image2/{}/{}", &h[..2], &h[2..4]);
        let (th, big) = (
            udir.join(&sub).join(format!("th_{h}")),
            udir.join(&sub).join(format!("{h}.jpg")),
        );
        if !th.is_file() {
            continue;
        }
        present_images += 1;
        if present_images % 3 == 0 {
            move_to(&big, &udir.join(&sub).join(format!("{h}.jpg_backup")))?;
            db.execute("DELETE FROM ImgInfo2 WHERE msglocalid = ?1", [id])
                .map_err(io::Error::other)?;
        } else if present_images % 2 == 0 {
            move_to(&th, &ext.join(&sub).join(format!("th_{h}")))?;
            move_to(&big, &ext.join(&sub).join(format!("{h}.jpg")))?;
        }
    }
    // Group nicknames.
    let room = "5000@chatroom";
    let members: String = db
        .query_row(
            "SELECT memberlist FROM chatroom WHERE chatroomname = ?1",
            [room],
            |r| r.get(0),
        )
        .map_err(io::Error::other)?;
    let members: Vec<&str> = members.split(';').collect();
    let nicknames: Vec<String> = (0..members.len()).map(|i| format!("群昵称{i}")).collect();
    db.execute(
        "UPDATE chatroom SET displayname = ?1 WHERE chatroomname = ?2",
        params![nicknames.join("、"), room],
    )
    .map_err(io::Error::other)?;
    // A member without a remark (odd peers have none): their group nickname shows.
    let nick_member = members.iter().position(|m| *m == "wxid_p0002").unwrap_or(0);
    let group_nickname = (
        nicknames[nick_member].clone(),
        members[nick_member].to_string(),
    );
    // Stickers and files.
    db.execute_batch(
        "CREATE TABLE EmojiInfo (md5 TEXT PRIMARY KEY, svrid TEXT, catalog INTEGER, type INTEGER,
           size INTEGER, groupId TEXT, cdnUrl TEXT, encrypturl TEXT, aeskey TEXT);",
    )
    .map_err(io::Error::other)?;
    let files_db = udir.join("WxFileIndex.db");
    let _ = fs::remove_file(&files_db);
    let fdb = Connection::open(&files_db).map_err(io::Error::other)?;
    fdb.pragma_update(None, "key", &key)
        .map_err(io::Error::other)?;
    fdb.execute_batch(
        "PRAGMA cipher_compatibility = 1;
         CREATE TABLE WxFileIndex3 (msgId INTEGER, username TEXT, msgType INTEGER,
           msgSubType INTEGER, path TEXT, size INTEGER, msgtime INTEGER, hash BLOB,
           diskSpace INTEGER, linkUUID BLOB);",
    )
    .map_err(io::Error::other)?;
    let convs = ["wxid_p0001", room];
    let mut rng = SmallRng::seed_from_u64(spec.seed ^ 0x5eed);
    let mut next = spec.messages as i64 + 1;
    let mut add = |db: &Connection,
                   facts: &mut ChatFacts,
                   ty: i64,
                   content: &str,
                   conv: &str|
     -> io::Result<i64> {
        let id = next;
        next += 1;
        let content = if conv.ends_with("@chatroom") {
            format!("wxid_p0002:\n{content}")
        } else {
            content.to_string()
        };
        db.execute(
            "INSERT INTO message (msgId, msgSvrId, type, status, isSend, createTime, talker, content) VALUES (?1, ?2, ?3, 3, 0, ?4, ?5, ?6)",
            params![id, 9_000_000 + id, ty, 1_700_000_000_000i64 + id * 60_000, conv, content],
        )
        .map_err(io::Error::other)?;
        *facts.by_conversation.entry(conv.to_string()).or_default() += 1;
        Ok(id)
    };
    for n in 0..6u64 {
        let md5 = md5_hex(format!("sticker{n}").as_bytes());
        let conv = convs[(n % 2) as usize];
        let xml = format!(
            "<msg><emoji fromusername=\"wxid_p0001\" tousername=\"wxid_owner\" type=\"2\" md5=\"{md5}\" len=\"2048\" productid=\"\" cdnurl=\"http://emoji.qpic.cn/wx_emoji/{md5}/\" /></msg>"
        );
        let data = media_bytes(&mut rng, b"GIF89a", 2048);
        match n % 3 {
            0 => {
                // A store sticker in its pack's folder, named by EmojiInfo.
                let group = format!("pack{n}");
                db.execute(
                    "INSERT INTO EmojiInfo (md5, catalog, type, size, groupId, cdnUrl) VALUES (?1, 17, 2, 2048, ?2, ?3)",
                    params![md5, group, format!("http://emoji.qpic.cn/wx_emoji/{md5}/")],
                )
                .map_err(io::Error::other)?;
                fs::create_dir_all(udir.join("emoji").join(&group))?;
                fs::write(udir.join("emoji").join(&group).join(&md5), &data)?;
                facts.media_present += 1;
                add(&db, &mut facts, 47, &xml, conv)?;
            }
            1 => {
                // A custom sticker on the SD card, no EmojiInfo row.
                fs::create_dir_all(ext.join("emoji"))?;
                fs::write(ext.join("emoji").join(&md5), &data)?;
                facts.media_present += 1;
                add(&db, &mut facts, 1048625, &xml, conv)?;
            }
            _ => {
                // Never downloaded.
                facts.media_missing += 1;
                add(&db, &mut facts, 47, &xml, conv)?;
            }
        }
    }
    for n in 0..6u64 {
        let name = format!("合同{n}.docx");
        let conv = convs[(n % 2) as usize];
        let xml = format!(
            "<msg><appmsg><title>{name}</title><type>6</type><appattach><totallen>3000</totallen><fileext>docx</fileext></appattach></appmsg></msg>"
        );
        let id = add(&db, &mut facts, 1090519089, &xml, conv)?;
        let data = media_bytes(&mut rng, b"PK\x03\x04", 3000);
        let path = match n % 3 {
            0 => {
                fs::create_dir_all(ext.join("Download"))?;
                fs::write(ext.join("Download").join(&name), &data)?;
                facts.media_present += 1;
                format!("wcf://Download/{name}")
            }
            1 => {
                fs::create_dir_all(ext.join("attachment"))?;
                fs::write(ext.join("attachment").join(&name), &data)?;
                facts.media_present += 1;
                format!("/storage/emulated/0/Android/data/com.tencent.mm/MicroMsg/{sd}/attachment/{name}")
            }
            _ => {
                facts.media_missing += 1;
                format!("wcf://Download/{name}")
            }
        };
        // A thumbnail row too (smaller): the file itself is the largest.
        fdb.execute(
            "INSERT INTO WxFileIndex3 (msgId, username, msgType, msgSubType, path, size) VALUES (?1, ?2, 1090519089, 20, 'wcf://attachment/thumb.jpg', 10)",
            params![id, conv],
        )
        .map_err(io::Error::other)?;
        fdb.execute(
            "INSERT INTO WxFileIndex3 (msgId, username, msgType, msgSubType, path, size) VALUES (?1, ?2, 1090519089, 6, ?3, 3000)",
            params![id, conv, path],
        )
        .map_err(io::Error::other)?;
    }
    drop(fdb);
    // The last messages only in the -wal: written by a connection in WAL mode that never
    // checkpoints, its files copied while it is open (as a phone's copy would be).
    let wal_messages = 5u64;
    drop(db);
    let side = std::env::temp_dir().join(format!(
        "chatvault-walgen-{}-{}",
        std::process::id(),
        spec.seed
    ));
    let _ = fs::remove_dir_all(&side);
    fs::create_dir_all(&side)?;
    let side_db = side.join("EnMicroMsg.db");
    fs::copy(&db_path, &side_db)?;
    {
        let db = Connection::open(&side_db).map_err(io::Error::other)?;
        db.pragma_update(None, "key", &key)
            .map_err(io::Error::other)?;
        db.execute_batch(
            "PRAGMA cipher_compatibility = 1; PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;",
        )
        .map_err(io::Error::other)?;
        for n in 0..wal_messages {
            add(
                &db,
                &mut facts,
                1,
                &format!("只在日志里 #{n}"),
                convs[(n % 2) as usize],
            )?;
        }
        fs::copy(&side_db, &db_path)?;
        fs::copy(
            side.join("EnMicroMsg.db-wal"),
            udir.join("EnMicroMsg.db-wal"),
        )?;
    }
    fs::remove_dir_all(&side)?;
    Ok(AndroidVariants {
        facts,
        key,
        wal_messages,
        group_nickname,
        external: ext_rel,
    })
}
