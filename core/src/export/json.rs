//! The JSON export: `conversations.json` lists the conversations; `chats/<stem>.json` holds
//! one conversation and its messages in the normalized model. The schema (format
//! `chatvault.chats`, version 1) is documented in `docs/FORMAT.md`.

use std::path::PathBuf;

use serde::Serialize;

use super::{ChatFiles, Conversation, Item, Listed, OutFile, Renderer};
use crate::error::{Error, Result};
use crate::safe_fs::write_new;
use crate::sources::model::MessageDetails;

/// The format name and version every file carries.
const FORMAT: &str = "chatvault.chats";
const VERSION: u32 = 1;

#[derive(Serialize)]
struct Media<'a> {
    /// Path inside the chat export.
    path: &'a str,
    kind: Option<&'a str>,
    present: bool,
    /// The copied file, relative to the export folder.
    file: Option<&'a str>,
    thumbnail: Option<&'a str>,
    thumbnail_file: Option<&'a str>,
}

#[derive(Serialize)]
struct Message<'a> {
    id: &'a str,
    server_id: Option<&'a str>,
    sender: Option<&'a str>,
    sender_name: Option<&'a str>,
    from_me: bool,
    /// RFC 3339 with offset for UTC stamps; without offset for wall-clock stamps.
    time: String,
    time_ms: i64,
    utc: bool,
    kind: &'a str,
    text: &'a str,
    reply_to: Option<&'a str>,
    quote: Option<&'a str>,
    replied_text: Option<&'a str>,
    media: Option<Media<'a>>,
    edited: bool,
    #[serde(skip_serializing_if = "MessageDetails::is_empty")]
    details: &'a MessageDetails,
    /// When a backup first found the message no longer on the phone (ms, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    gone_since_ms: Option<i64>,
}

/// The conversation being written.
pub(super) struct Open {
    file: OutFile,
    first: bool,
}

/// The JSON renderer.
pub(crate) type Files = ChatFiles<Open>;

fn to_json(v: &impl Serialize) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::internal_from("encode JSON", e))
}

impl Renderer for Files {
    fn begin(&mut self, c: &Conversation) -> Result<()> {
        let mut file = OutFile::chat(&self.out, &c.stem, "json")?;
        let head = format!(
            "{{\"format\":{},\"version\":{VERSION},\"app\":{},\"snapshot\":{},\"conversation\":{},\"messages\":[",
            to_json(&FORMAT)?,
            to_json(&self.origin.app)?,
            to_json(&self.origin.snapshot)?,
            to_json(&c.info)?,
        );
        file.write(&head)?;
        self.open = Some(Open { file, first: true });
        Ok(())
    }

    fn message(&mut self, item: &Item) -> Result<()> {
        let Some(o) = self.open.as_mut() else {
            return Ok(());
        };
        let m = &item.m;
        let time = match &item.exact {
            Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
            None => item.local.format("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
        };
        let media = m.media_path.as_deref().map(|path| Media {
            path,
            kind: m.media_kind.as_deref(),
            present: m.media_present == Some(true),
            file: item.media.as_deref(),
            thumbnail: m.thumbnail.as_deref(),
            thumbnail_file: item.thumbnail.as_deref(),
        });
        let msg = Message {
            id: &m.id,
            server_id: m.server_id.as_deref(),
            sender: m.sender.as_deref(),
            sender_name: m.sender_name.as_deref(),
            from_me: m.from_me,
            time,
            time_ms: m.time_ms,
            utc: m.utc,
            kind: &m.kind,
            text: &m.text,
            reply_to: m.reply_to.as_deref(),
            quote: m.quote.as_deref(),
            replied_text: item.replied.as_deref(),
            media,
            edited: m.edited,
            details: &m.details,
            gone_since_ms: m.gone_since,
        };
        let sep = if o.first { "\n" } else { ",\n" };
        o.first = false;
        let line = format!("{sep}{}", to_json(&msg)?);
        o.file.write(&line)
    }

    fn end(&mut self) -> Result<()> {
        if let Some(o) = self.open.take() {
            o.file.close("\n]}\n")?;
        }
        Ok(())
    }

    fn finish(&mut self, list: &[Listed]) -> Result<PathBuf> {
        #[derive(Serialize)]
        struct Entry<'a> {
            id: &'a str,
            name: &'a str,
            kind: &'a str,
            file: String,
            messages: u64,
            first: Option<String>,
            last: Option<String>,
            media_missing: u64,
        }
        let fmt =
            |t: Option<chrono::NaiveDateTime>| t.map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string());
        let conversations: Vec<Entry> = list
            .iter()
            .map(|l| Entry {
                id: &l.info.id,
                name: &l.info.name,
                kind: &l.info.kind,
                file: format!("chats/{}.json", l.stem),
                messages: l.messages,
                first: fmt(l.first),
                last: fmt(l.last),
                media_missing: l.media_missing,
            })
            .collect();
        let doc = serde_json::json!({
            "format": FORMAT,
            "version": VERSION,
            "app": self.origin.app,
            "account": self.origin.account,
            "snapshot": self.origin.snapshot,
            "conversations": conversations,
        });
        let path = self.out.join("conversations.json");
        let text = serde_json::to_string_pretty(&doc)
            .map_err(|e| Error::internal_from("encode JSON", e))?;
        write_new(&path, (text + "\n").as_bytes())?;
        Ok(path)
    }
}
