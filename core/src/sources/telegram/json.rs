//! Telegram Desktop's JSON export (`result.json`): a single chat or a full export.
//!
//! The file is streamed: messages go to the sink one by one as the JSON parser reaches
//! them, so a chat of millions of messages needs memory for one message, not for the file.

use std::cell::Cell;
use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::sources::json_strings::CutLongStrings;
use crate::sources::model::{
    Account, ChatSink, Contact, ContactKind, Conversation, ConversationKind, MediaKind, MediaRef,
    Message, MessageDetails, MessageKind, Place, Poll, PollAnswer, Reaction, Timestamp,
};
use crate::sources::rel_path;
use crate::sources::telegram::{call_text, list_names, place_text, CallEnd};

/// The longest string kept from the file (Telegram's own limit on a message's text is
/// 4,096 characters); longer ones, which only a damaged or hostile file has, are cut in the
/// chat index, so one huge value cannot take memory several times its size. The file itself
/// is backed up whole.
pub const MAX_STRING: usize = 1 << 20;

/// The text field: a string, or an array of strings and `{type, text}` objects.
fn flatten_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .map(|p| match p {
                Value::String(s) => s.clone(),
                Value::Object(o) => o
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                _ => String::new(),
            })
            .collect(),
        _ => String::new(),
    }
}

/// Link targets of a text entity array, as the HTML export writes them as `<a href>`: URLs,
/// hidden links, e-mail and phone links, @mentions (to `https://t.me/`), and users mentioned
/// by name (`tg://user?id=`, which the HTML export does not carry).
fn text_links(v: &Value) -> Vec<String> {
    let Value::Array(parts) = v else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for p in parts {
        let Value::Object(o) = p else { continue };
        let t = o.get("text").and_then(Value::as_str).unwrap_or_default();
        let link = match o.get("type").and_then(Value::as_str).unwrap_or_default() {
            "link" => t.to_string(),
            "text_link" => o
                .get("href")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            "email" => format!("mailto:{t}"),
            "phone" => format!("tel:{t}"),
            "mention" => format!("https://t.me/{}", t.trim_start_matches('@')),
            "mention_name" => match o.get("user_id").and_then(value_string) {
                Some(id) => format!("tg://user?id={id}"),
                None => String::new(),
            },
            _ => String::new(),
        };
        if !link.is_empty() {
            out.push(link);
        }
    }
    out
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Lenient reads of one message's fields: a field of an unexpected type is noted (and warned
/// about by the caller) and read as absent, so one odd field never loses the message.
struct Fields<'v> {
    o: &'v serde_json::Map<String, Value>,
    odd: Vec<String>,
}

impl<'v> Fields<'v> {
    fn get(&self, k: &str) -> Option<&'v Value> {
        self.o.get(k).filter(|v| !v.is_null())
    }
    fn bad(&mut self, k: &str, v: &Value, want: &str) {
        self.odd
            .push(format!("`{k}` is {}, expected {want}", type_name(v)));
    }
    /// A string (a number is taken as its decimal text).
    fn s(&mut self, k: &str) -> Option<String> {
        let v = self.get(k)?;
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => {
                self.bad(k, v, "a string");
                None
            }
        }
    }
    /// A peer id: `user123`, `channel123`, or a bare number (taken as a user).
    fn peer(&mut self, k: &str) -> Option<String> {
        let v = self.get(k)?;
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(format!("user{n}")),
            _ => {
                self.bad(k, v, "a peer id");
                None
            }
        }
    }
    fn u64(&mut self, k: &str) -> Option<u64> {
        let v = self.get(k)?;
        let r = match v {
            Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        if r.is_none() {
            self.bad(k, v, "a number");
        }
        r
    }
    fn f64(&mut self, k: &str) -> Option<f64> {
        let v = self.get(k)?;
        let r = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|f| f.is_finite());
        if r.is_none() {
            self.bad(k, v, "a number");
        }
        r
    }
    fn bool(&mut self, k: &str) -> bool {
        match self.get(k) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            Some(v) => {
                self.bad(k, v, "a boolean");
                false
            }
        }
    }
    fn obj(&mut self, k: &str) -> Option<Fields<'v>> {
        let v = self.get(k)?;
        match v {
            Value::Object(o) => Some(Fields { o, odd: Vec::new() }),
            _ => {
                self.bad(k, v, "an object");
                None
            }
        }
    }
    fn arr(&mut self, k: &str) -> &'v [Value] {
        match self.get(k) {
            None => &[],
            Some(Value::Array(a)) => a,
            Some(v) => {
                self.bad(k, v, "an array");
                &[]
            }
        }
    }
    /// Text: a string or an entity array.
    fn text(&mut self, k: &str) -> (String, Vec<String>) {
        match self.get(k) {
            None => (String::new(), Vec::new()),
            Some(v @ (Value::String(_) | Value::Array(_))) => (flatten_text(v), text_links(v)),
            Some(v) => {
                self.bad(k, v, "text");
                (String::new(), Vec::new())
            }
        }
    }
    /// Takes the notes of a nested object.
    fn absorb(&mut self, prefix: &str, inner: Fields<'_>) {
        self.odd
            .extend(inner.odd.into_iter().map(|o| format!("{prefix}.{o}")));
    }
}

fn value_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn conversation_kind(t: &str) -> ConversationKind {
    match t {
        "personal_chat" => ConversationKind::Direct,
        "saved_messages" => ConversationKind::Saved,
        "private_group" | "private_supergroup" | "public_supergroup" => ConversationKind::Group,
        _ => ConversationKind::Channel,
    }
}

/// Shared state of one read.
struct Ctx<'a> {
    sink: &'a mut dyn ChatSink,
    /// Folder that media paths are relative to (where result.json is).
    base: PathBuf,
    /// The export root the user gave (media outside it are not in the backup).
    root: PathBuf,
    in_backup: bool,
    /// "user<id>" of the account owner, when the export says.
    me: Option<String>,
    error: Option<Error>,
    chats: u64,
    messages: u64,
    /// Messages kept as unparsed so far (for their ids).
    unparsed: u64,
    /// The file, for warnings.
    file: PathBuf,
    /// How many strings the reader has cut so far (see [`MAX_STRING`]).
    cut: Rc<Cell<u64>>,
}

impl Ctx<'_> {
    fn fail<E: serde::de::Error>(&mut self, e: Error) -> E {
        let msg = e.to_string();
        self.error = Some(e);
        E::custom(msg)
    }

    fn media(&self, path: &str, kind: MediaKind, thumb: Option<&str>) -> MediaRef {
        let not_included = path.starts_with('(');
        let safe = !not_included
            && !path.is_empty()
            && !Path::new(path).is_absolute()
            && !path.split(['/', '\\']).any(|c| c == "..");
        let full = self.base.join(path);
        let rel = if not_included || !safe {
            // A path outside the export never becomes a media path.
            String::new()
        } else {
            rel_path(&self.root, &full)
        };
        let present = safe && self.in_backup && full.is_file();
        let thumbnail = thumb.filter(|t| !t.starts_with('(')).and_then(|t| {
            let f = self.base.join(t);
            (self.in_backup && !t.split(['/', '\\']).any(|c| c == "..") && f.is_file())
                .then(|| rel_path(&self.root, &f))
        });
        MediaRef {
            path: rel,
            kind,
            present,
            thumbnail,
        }
    }

    /// One element of a chat's `messages` array (`cut` when a string in it was cut).
    fn message(
        &mut self,
        conv: &str,
        personal_peer: Option<&str>,
        channel: bool,
        v: Value,
        cut: bool,
    ) -> Result<()> {
        let raw = serde_json::to_string(&v).ok();
        let Value::Object(o) = &v else {
            self.unparsed += 1;
            let id = format!("unparsed-{}", self.unparsed);
            self.sink.warning(format!(
                "{}: message {id} in chat {conv} is {}, not an object: kept as unparsed",
                self.file.display(),
                type_name(&v)
            ));
            self.messages += 1;
            let text = match &v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return self.sink.message(Message {
                id,
                server_id: None,
                conversation: conv.to_string(),
                sender: None,
                sender_name: None,
                from_me: false,
                time: Timestamp::Local(0),
                kind: MessageKind::Unparsed,
                text,
                reply_to: None,
                quote: None,
                media: None,
                raw,
                edited: false,
                details: MessageDetails::default(),
            });
        };
        let mut f = Fields { o, odd: Vec::new() };
        let id = match f.s("id") {
            Some(id) => id,
            None => {
                self.unparsed += 1;
                format!("unparsed-{}", self.unparsed)
            }
        };
        let date = f.s("date").unwrap_or_default();
        let time = match f.get("date_unixtime").map(|_| f.u64("date_unixtime")) {
            Some(Some(secs)) => Timestamp::Utc((secs.min(i64::MAX as u64 / 1000) as i64) * 1000),
            _ => chrono::NaiveDateTime::parse_from_str(&date, "%Y-%m-%dT%H:%M:%S")
                .map(|t| Timestamp::Local(t.and_utc().timestamp_millis()))
                .unwrap_or(Timestamp::Local(0)),
        };
        let service = f.s("type").as_deref() == Some("service");
        let sender_id = if service {
            f.peer("actor_id")
        } else {
            f.peer("from_id")
        };
        let sender_name = if service { f.s("actor") } else { f.s("from") };
        let from_me = match (&sender_id, &self.me, personal_peer) {
            (Some(s), Some(me), _) => s == me,
            (Some(s), None, Some(peer)) => *s != format!("user{peer}"),
            _ => false,
        };
        let (mut text, links) = f.text("text");
        let mut d = MessageDetails {
            links,
            reply_to_chat: f.s("reply_to_peer_id"),
            ..Default::default()
        };
        let mut reply_to = f.s("reply_to_message_id");
        let mut media = None;
        let mut kind = MessageKind::Text;
        let action = f.s("action").unwrap_or_default();
        if service {
            d.duration_seconds = f.u64("duration_seconds");
            if action == "phone_call" || action == "conference_call" {
                kind = MessageKind::Call;
                let end = match f.s("discard_reason").as_deref() {
                    Some("missed") => CallEnd::Missed,
                    Some("busy") => CallEnd::Declined,
                    _ => CallEnd::Other,
                };
                text = call_text(end, d.duration_seconds);
            } else {
                kind = MessageKind::System;
                if action == "pin_message" {
                    reply_to = f.s("message_id");
                }
                text = self.service_text(&mut f, &action, sender_name.as_deref(), channel, text);
            }
        } else {
            d.forwarded_from = f.s("forwarded_from");
            d.saved_from = f.s("saved_from");
            d.via_bot = f.s("via_bot");
            d.author_signature = f.s("author");
            d.duration_seconds = f.u64("duration_seconds");
            let thumb = f.s("thumbnail");
            if let Some(p) = f.s("photo") {
                kind = MessageKind::Image;
                media = Some(self.media(&p, MediaKind::Image, None));
            } else if let Some(file) = f.s("file") {
                let media_type = f.s("media_type");
                let (mk, k) = match media_type.as_deref() {
                    Some("sticker") => (MediaKind::Sticker, MessageKind::Sticker),
                    Some("video_message" | "video_file" | "animation") => {
                        (MediaKind::Video, MessageKind::Video)
                    }
                    Some("voice_message" | "audio_file") => (MediaKind::Audio, MessageKind::Voice),
                    _ => (MediaKind::File, MessageKind::File),
                };
                if media_type.as_deref() == Some("audio_file") {
                    d.performer = f.s("performer");
                    d.title = f.s("title");
                }
                kind = k;
                media = Some(self.media(&file, mk, thumb.as_deref()));
                if text.is_empty() {
                    text = match k {
                        MessageKind::Sticker => f.s("sticker_emoji").unwrap_or_default(),
                        MessageKind::File => f.s("file_name").unwrap_or_default(),
                        _ => String::new(),
                    };
                }
            } else if let Some(mut c) = f.obj("contact_information") {
                kind = MessageKind::ContactCard;
                let name = [c.s("first_name"), c.s("last_name")]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                let phone = c.s("phone_number").unwrap_or_default();
                f.absorb("contact_information", c);
                if text.is_empty() {
                    text = [name.trim(), phone.as_str()]
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ");
                }
                if let Some(vcard) = f.s("contact_vcard") {
                    media = Some(self.media(&vcard, MediaKind::File, None));
                }
            } else if f.get("location_information").is_some() || f.get("place_name").is_some() {
                kind = MessageKind::Location;
                let mut place = Place {
                    title: f.s("place_name"),
                    address: f.s("address"),
                    ..Default::default()
                };
                if let Some(mut l) = f.obj("location_information") {
                    place.latitude = l.f64("latitude");
                    place.longitude = l.f64("longitude");
                    f.absorb("location_information", l);
                }
                if text.is_empty() {
                    text = place_text(&place);
                }
                d.place = Some(place);
            } else if let Some(mut p) = f.obj("poll") {
                kind = MessageKind::Poll;
                let (question, _) = p.text("question");
                let closed = p.bool("closed");
                let mut answers = Vec::new();
                for a in p.arr("answers") {
                    let Value::Object(ao) = a else { continue };
                    let mut af = Fields {
                        o: ao,
                        odd: Vec::new(),
                    };
                    let (t, _) = af.text("text");
                    answers.push(PollAnswer {
                        text: t,
                        voters: af.u64("voters"),
                    });
                    p.absorb("answers[]", af);
                }
                f.absorb("poll", p);
                if text.is_empty() {
                    text = question.clone();
                }
                d.poll = Some(Poll {
                    question,
                    answers,
                    closed,
                });
            } else if let Some(game) = f.s("game_title") {
                kind = MessageKind::Other;
                d.title = Some(game.clone());
                if text.is_empty() {
                    text = game;
                }
            } else if let Some(mut inv) = f.obj("invoice_information") {
                kind = MessageKind::Other;
                d.title = inv.s("title");
                f.absorb("invoice_information", inv);
                if text.is_empty() {
                    text = d.title.clone().unwrap_or_default();
                }
            }
        }
        for r in f.arr("reactions") {
            let Value::Object(ro) = r else { continue };
            let mut rf = Fields {
                o: ro,
                odd: Vec::new(),
            };
            let emoji = match rf.s("type").as_deref() {
                Some("paid") => Some("\u{2B50}".to_string()),
                Some("custom_emoji") => rf.s("document_id"),
                _ => rf.s("emoji"),
            }
            .unwrap_or_default();
            let count = rf.u64("count").unwrap_or(0);
            let from = rf
                .arr("recent")
                .iter()
                .filter_map(|x| x.get("from").and_then(Value::as_str))
                .map(str::to_string)
                .collect();
            f.absorb("reactions[]", rf);
            d.reactions.push(Reaction { emoji, count, from });
        }
        let edited = f.get("edited").is_some() || f.get("edited_unixtime").is_some();
        if cut {
            self.sink.warning(format!(
                "{}: chat {conv}, message {id}: a value longer than {} MiB is cut short in the \
                 chat index (the export file itself is backed up whole)",
                self.file.display(),
                MAX_STRING >> 20
            ));
        }
        for odd in std::mem::take(&mut f.odd) {
            self.sink.warning(format!(
                "{}: chat {conv}, message {id}: {odd}; the field is ignored",
                self.file.display()
            ));
        }
        self.messages += 1;
        self.sink.message(Message {
            id,
            server_id: None,
            conversation: conv.to_string(),
            sender: if service && kind == MessageKind::System {
                None
            } else {
                sender_id
            },
            sender_name,
            from_me,
            time,
            kind,
            text,
            reply_to,
            quote: None,
            media,
            raw,
            edited,
            details: d,
        })
    }

    /// A service message's line, worded as tdesktop's HTML export words it so both formats
    /// give the same text; actions it does not know keep "actor action title text".
    fn service_text(
        &mut self,
        f: &mut Fields<'_>,
        action: &str,
        actor: Option<&str>,
        channel: bool,
        text: String,
    ) -> String {
        let who = actor.filter(|a| !a.is_empty()).unwrap_or("Deleted");
        let title = f.s("title").unwrap_or_default();
        let members: Vec<String> = f
            .arr("members")
            .iter()
            .map(|m| m.as_str().unwrap_or("Deleted Account").to_string())
            .collect();
        let s = match action {
            "create_group" if members.is_empty() => format!("{who} created group «{title}»"),
            "create_group" => format!(
                "{who} created group «{title}» with members {}",
                list_names(&members)
            ),
            "edit_group_title" if channel => format!("Channel title changed to «{title}»"),
            "edit_group_title" => format!("{who} changed group title to «{title}»"),
            "edit_group_photo" if channel => "Channel photo changed".into(),
            "edit_group_photo" => format!("{who} changed group photo"),
            "delete_group_photo" if channel => "Channel photo removed".into(),
            "delete_group_photo" => format!("{who} removed group photo"),
            "invite_members" => format!("{who} invited {}", list_names(&members)),
            "remove_members" => format!(
                "{who} removed {}",
                members
                    .first()
                    .map(String::as_str)
                    .unwrap_or("Deleted Account")
            ),
            "join_group_by_link" => format!(
                "{who} joined group by link from {}",
                f.s("inviter").unwrap_or_else(|| "Deleted Account".into())
            ),
            "join_group_by_request" => format!("{who} joined group by request"),
            "create_channel" => format!("Channel «{title}» created"),
            "migrate_to_supergroup" => format!("{who} converted this group to a supergroup"),
            "migrate_from_group" => {
                format!("{who} converted a basic group to this supergroup «{title}»")
            }
            "pin_message" => format!("{who} pinned this message"),
            "clear_history" => "History cleared".into(),
            "take_screenshot" => format!("{who} took a screenshot"),
            "joined_telegram" => format!("{who} joined Telegram"),
            _ => {
                let act = action.replace('_', " ");
                let mut parts: Vec<&str> = [actor.unwrap_or_default(), &act, &title]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect();
                if !text.is_empty() {
                    parts.push(&text);
                }
                return parts.join(" ");
            }
        };
        s
    }
}

/// A chat object: `{name, type, id, messages: [...]}`.
struct ChatSeed<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
}

impl<'de> DeserializeSeed<'de> for ChatSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(ChatVisitor {
            ctx: self.ctx,
            root: false,
        })
    }
}

struct ChatVisitor<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
    /// The root object: may also hold a full export's sections.
    root: bool,
}

impl<'de> Visitor<'de> for ChatVisitor<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Telegram export object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let ctx = self.ctx;
        ctx.chats += 1;
        let mut name = String::new();
        let mut kind = String::new();
        let mut id: Option<String> = None;
        let mut provisional = None;
        let mut had_messages = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "name" => name = value_string(&map.next_value::<Value>()?).unwrap_or_default(),
                "type" => kind = value_string(&map.next_value::<Value>()?).unwrap_or_default(),
                "id" => id = value_string(&map.next_value::<Value>()?),
                "messages" => {
                    let conv = id.clone().unwrap_or_else(|| {
                        let p = format!("chat-{}", ctx.chats);
                        provisional = Some(p.clone());
                        p
                    });
                    let peer = (kind == "personal_chat").then(|| conv.clone());
                    map.next_value_seed(MessagesSeed {
                        ctx: &mut *ctx,
                        conv: &conv,
                        peer: peer.as_deref(),
                        channel: kind.ends_with("_channel"),
                    })?;
                    had_messages = true;
                }
                "personal_information" if self.root => {
                    let v: Value = map.next_value()?;
                    let uid = v.get("user_id").and_then(value_string).unwrap_or_default();
                    let full = ["first_name", "last_name"]
                        .iter()
                        .filter_map(|k| v.get(*k).and_then(Value::as_str))
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ");
                    if !uid.is_empty() {
                        ctx.me = Some(format!("user{uid}"));
                    }
                    let acc = Account {
                        id: uid,
                        name: full,
                    };
                    if let Err(e) = ctx.sink.account(&acc) {
                        return Err(ctx.fail(e));
                    }
                }
                "contacts" if self.root => map.next_value_seed(ListSeed {
                    ctx: &mut *ctx,
                    contacts: true,
                })?,
                "chats" | "left_chats" if self.root => map.next_value_seed(ListSeed {
                    ctx: &mut *ctx,
                    contacts: false,
                })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if had_messages {
            let conv_id = provisional.or(id).unwrap_or_default();
            let conv = Conversation {
                name: if name.is_empty() {
                    conv_id.clone()
                } else {
                    name
                },
                id: conv_id,
                kind: conversation_kind(&kind),
                members: Vec::new(),
            };
            if let Err(e) = ctx.sink.conversation(&conv) {
                return Err(ctx.fail(e));
            }
        }
        Ok(())
    }
}

struct MessagesSeed<'c, 'a, 's> {
    ctx: &'c mut Ctx<'a>,
    conv: &'s str,
    peer: Option<&'s str>,
    channel: bool,
}

impl<'de> DeserializeSeed<'de> for MessagesSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for MessagesSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of messages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        // One message at a time, as a JSON value: memory per message, not per file.
        let mut cut = self.ctx.cut.get();
        while let Some(m) = seq.next_element::<Value>()? {
            let was_cut = std::mem::replace(&mut cut, self.ctx.cut.get()) != cut;
            if let Err(e) = self
                .ctx
                .message(self.conv, self.peer, self.channel, m, was_cut)
            {
                return Err(self.ctx.fail(e));
            }
        }
        Ok(())
    }
}

/// `{about, list: [...]}` of chats or contacts.
struct ListSeed<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
    contacts: bool,
}

impl<'de> DeserializeSeed<'de> for ListSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with a list")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "list" {
                map.next_value_seed(ItemsSeed {
                    ctx: &mut *self.ctx,
                    contacts: self.contacts,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct ItemsSeed<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
    contacts: bool,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        if self.contacts {
            while let Some(c) = seq.next_element::<Value>()? {
                let name = ["first_name", "last_name"]
                    .iter()
                    .filter_map(|k| c.get(*k).and_then(Value::as_str))
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                let id = c
                    .get("user_id")
                    .and_then(value_string)
                    .or_else(|| c.get("phone_number").and_then(value_string))
                    .unwrap_or_default();
                let contact = Contact {
                    id: format!("user{id}"),
                    nickname: name.clone(),
                    name,
                    alias: c
                        .get("phone_number")
                        .and_then(value_string)
                        .unwrap_or_default(),
                    remark: String::new(),
                    kind: ContactKind::Person,
                };
                if let Err(e) = self.ctx.sink.contact(&contact) {
                    return Err(self.ctx.fail(e));
                }
            }
        } else {
            while seq
                .next_element_seed(ChatSeed {
                    ctx: &mut *self.ctx,
                })?
                .is_some()
            {}
        }
        Ok(())
    }
}

/// Reads a Telegram export: `path` is the folder holding `result.json`, or the file.
pub(crate) fn read(path: &Path, sink: &mut dyn ChatSink) -> Result<()> {
    let (file, base, in_backup) = if path.is_dir() {
        (path.join("result.json"), path.to_path_buf(), true)
    } else {
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        (path.to_path_buf(), base, false)
    };
    let f = File::open(&file).map_err(|e| Error::io("open", &file, e))?;
    if !in_backup {
        sink.warning(format!(
            "only {} itself is backed up: back up its folder to include photos and files",
            file.display()
        ));
    }
    let root = if in_backup {
        path.to_path_buf()
    } else {
        base.clone()
    };
    read_json(
        BufReader::with_capacity(1 << 16, f),
        &file,
        &base,
        &root,
        in_backup,
        sink,
    )
}

/// Reads Telegram JSON from `reader` (`file` names it in errors; media paths are resolved
/// against `base` and made relative to `root`). Public for fuzzing and tools.
pub fn read_json<R: std::io::Read>(
    reader: R,
    file: &Path,
    base: &Path,
    root: &Path,
    in_backup: bool,
    sink: &mut dyn ChatSink,
) -> Result<()> {
    let file = file.to_path_buf();
    let reader = CutLongStrings::new(reader, MAX_STRING);
    let mut ctx = Ctx {
        cut: reader.counter(),
        sink,
        root: root.to_path_buf(),
        base: base.to_path_buf(),
        in_backup,
        me: None,
        error: None,
        chats: 0,
        messages: 0,
        unparsed: 0,
        file: file.clone(),
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let parsed = de
        .deserialize_map(ChatVisitor {
            ctx: &mut ctx,
            root: true,
        })
        .and_then(|()| de.end());
    if let Err(e) = parsed {
        if let Some(inner) = ctx.error.take() {
            return Err(inner);
        }
        let reason = if e.is_eof() {
            format!("the file ends too early (truncated?): {e}")
        } else {
            format!("not a Telegram export: {e}")
        };
        return Err(Error::Source { path: file, reason });
    }
    if ctx.messages == 0 && ctx.chats <= 1 {
        return Err(Error::Source {
            path: file,
            reason: "no chats or messages found (is it a Telegram Desktop JSON export?)".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_as_string_or_entities() {
        let v: Value = serde_json::from_str(
            r#"["Hello ", {"type": "bold", "text": "world"}, {"type":"link","text":"x.org","href":"h"}]"#,
        )
        .unwrap();
        assert_eq!(flatten_text(&v), "Hello worldx.org");
        assert_eq!(flatten_text(&Value::String("plain".into())), "plain");
        assert_eq!(flatten_text(&Value::Null), "");
    }
}
