//! Telegram Desktop's JSON export (`result.json`): a single chat or a full export.
//!
//! The file is streamed: messages go to the sink one by one as the JSON parser reaches
//! them, so a chat of millions of messages needs memory for one message, not for the file.

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::sources::model::{
    Account, ChatSink, Contact, ContactKind, Conversation, ConversationKind, MediaKind, MediaRef,
    Message, MessageKind, Timestamp,
};
use crate::sources::rel_path;

/// One message as tdesktop writes it (fields not used here are skipped).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TgMessage {
    id: Value,
    #[serde(rename = "type")]
    kind: String,
    date: String,
    date_unixtime: Value,
    edited: Option<String>,
    from: Option<String>,
    from_id: Option<String>,
    actor: Option<String>,
    actor_id: Option<String>,
    action: Option<String>,
    title: Option<String>,
    reply_to_message_id: Option<Value>,
    text: Value,
    photo: Option<String>,
    file: Option<String>,
    file_name: Option<String>,
    thumbnail: Option<String>,
    media_type: Option<String>,
    sticker_emoji: Option<String>,
    contact_information: Option<Value>,
    location_information: Option<Value>,
    poll: Option<Value>,
    duration_seconds: Option<Value>,
}

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

    fn message(&mut self, conv: &str, personal_peer: Option<&str>, m: TgMessage) -> Result<()> {
        let id = value_string(&m.id).unwrap_or_default();
        let time = match m.date_unixtime.as_str().and_then(|s| s.parse::<i64>().ok()) {
            Some(secs) => Timestamp::Utc(secs.saturating_mul(1000)),
            None => chrono::NaiveDateTime::parse_from_str(&m.date, "%Y-%m-%dT%H:%M:%S")
                .map(|t| Timestamp::Local(t.and_utc().timestamp_millis()))
                .unwrap_or(Timestamp::Local(0)),
        };
        let service = m.kind == "service";
        let sender_id = if service {
            m.actor_id.clone()
        } else {
            m.from_id.clone()
        };
        let from_me = match (&sender_id, &self.me, personal_peer) {
            (Some(s), Some(me), _) => s == me,
            (Some(s), None, Some(peer)) => *s != format!("user{peer}"),
            _ => false,
        };
        let mut text = flatten_text(&m.text);
        let mut media = None;
        let mut kind = MessageKind::Text;
        if service {
            kind = if m.action.as_deref() == Some("phone_call") {
                MessageKind::Call
            } else {
                MessageKind::System
            };
            let action = m.action.clone().unwrap_or_default().replace('_', " ");
            let mut parts: Vec<String> = [m.actor.clone(), Some(action), m.title.clone()]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect();
            if !text.is_empty() {
                parts.push(text.clone());
            }
            text = parts.join(" ");
        } else if let Some(p) = &m.photo {
            kind = MessageKind::Image;
            media = Some(self.media(p, MediaKind::Image, None));
        } else if let Some(f) = &m.file {
            let (mk, k) = match m.media_type.as_deref() {
                Some("sticker") => (MediaKind::Sticker, MessageKind::Sticker),
                Some("video_message" | "video_file" | "animation") => {
                    (MediaKind::Video, MessageKind::Video)
                }
                Some("voice_message" | "audio_file") => (MediaKind::Audio, MessageKind::Voice),
                _ => (MediaKind::File, MessageKind::File),
            };
            kind = k;
            media = Some(self.media(f, mk, m.thumbnail.as_deref()));
            if text.is_empty() {
                text = m
                    .sticker_emoji
                    .clone()
                    .or_else(|| m.file_name.clone())
                    .unwrap_or_default();
            }
        } else if let Some(c) = &m.contact_information {
            kind = MessageKind::ContactCard;
            text = ["first_name", "last_name", "phone_number"]
                .iter()
                .filter_map(|k| c.get(*k).and_then(Value::as_str))
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
        } else if let Some(l) = &m.location_information {
            kind = MessageKind::Location;
            let lat = l.get("latitude").map(|v| v.to_string()).unwrap_or_default();
            let lon = l
                .get("longitude")
                .map(|v| v.to_string())
                .unwrap_or_default();
            let coords = format!("({lat}, {lon})");
            text = if text.is_empty() {
                coords
            } else {
                format!("{text} {coords}")
            };
        } else if let Some(p) = &m.poll {
            kind = MessageKind::Poll;
            text = p
                .get("question")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
        }
        let _ = &m.duration_seconds;
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
            sender_name: if service { m.actor } else { m.from },
            from_me,
            time,
            kind,
            text,
            reply_to: m.reply_to_message_id.as_ref().and_then(value_string),
            quote: None,
            media,
            raw: None,
            edited: m.edited.is_some(),
            details: Default::default(),
        })
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
                "name" => name = map.next_value::<Option<String>>()?.unwrap_or_default(),
                "type" => kind = map.next_value::<String>()?,
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
        while let Some(m) = seq.next_element::<TgMessage>()? {
            if let Err(e) = self.ctx.message(self.conv, self.peer, m) {
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
    let mut ctx = Ctx {
        sink,
        root: root.to_path_buf(),
        base: base.to_path_buf(),
        in_backup,
        me: None,
        error: None,
        chats: 0,
        messages: 0,
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
