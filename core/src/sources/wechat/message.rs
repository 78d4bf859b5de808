//! WeChat messages, shared by the Android and iOS readers: the type column plus the content
//! text decoded into a kind, the text to show and what a reply quotes ([`decode`]), and a
//! message row assembled into the model's [`Message`] ([`assemble`]). Only reading the rows
//! (SQL, columns) differs per platform.

use std::collections::HashMap;

use super::xml::Xml;
use crate::sources::model::{MediaRef, Message, MessageKind, Timestamp};

/// What a message's type and content say.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Decoded {
    pub kind: MessageKind,
    pub text: String,
    /// Server id of the quoted message.
    pub reply_to: Option<String>,
    /// Quoted text.
    pub quote: Option<String>,
    /// Raw content, kept for app messages and kinds not understood.
    pub raw: Option<String>,
    /// Sticker md5 (for locating the sticker file).
    pub sticker_md5: Option<String>,
}

/// One message row, as either platform's database holds it.
pub(crate) struct Row {
    /// Local message id.
    pub id: i64,
    /// Server id (0: none).
    pub server_id: Option<i64>,
    /// Full type column.
    pub ty: i64,
    /// Sent by the account's owner.
    pub from_me: bool,
    /// When it was sent.
    pub time: Timestamp,
    /// The conversation's username (`…@chatroom` for groups).
    pub conversation: String,
    /// Raw content, with the `<sender>:\n` prefix of received group messages.
    pub content: String,
}

/// Which messages are system lines (shown with no sender).
#[derive(Debug, Clone, Copy)]
pub(crate) enum SystemLines {
    /// Types 10000 and 10002 (the Android reader).
    ByType,
    /// Messages decoded as system lines or revocations, app messages of subtype 62 ("pat")
    /// included (the iOS reader).
    ByKind,
}

/// What assembling an account's messages needs beyond each row.
pub(crate) struct Senders<'a> {
    /// Display names by username.
    pub names: &'a HashMap<String, String>,
    /// The sender given to the owner's messages (Android: the account; iOS: none).
    pub me: Option<&'a str>,
    /// Which messages have no sender.
    pub system: SystemLines,
}

/// Assembles `row` into a model message: its sender (the owner, the group member its
/// content names, or the peer), decoded content, and the media `media` finds for the
/// decoded message and its content (sender prefix removed).
pub(crate) fn assemble(
    row: Row,
    senders: &Senders<'_>,
    media: impl FnOnce(&Decoded, &str) -> Option<MediaRef>,
) -> Message {
    let group = row.conversation.ends_with("@chatroom");
    let (sender, body) = if row.from_me {
        (senders.me.map(str::to_string), row.content.as_str())
    } else if group {
        let (who, rest) = split_group_sender(&row.content);
        (who.map(str::to_string), rest)
    } else {
        (Some(row.conversation.clone()), row.content.as_str())
    };
    let d = decode(row.ty, body);
    let media = media(&d, body);
    let system = match senders.system {
        SystemLines::ByType => matches!(row.ty & 0xFFFF, 10000 | 10002),
        SystemLines::ByKind => matches!(d.kind, MessageKind::System | MessageKind::Revoke),
    };
    Message {
        id: row.id.to_string(),
        server_id: row.server_id.filter(|s| *s != 0).map(|s| s.to_string()),
        conversation: row.conversation,
        sender_name: sender.as_ref().and_then(|s| senders.names.get(s).cloned()),
        sender: if system { None } else { sender },
        from_me: row.from_me,
        time: row.time,
        kind: d.kind,
        text: d.text,
        reply_to: d.reply_to,
        quote: d.quote,
        media,
        raw: d.raw,
        edited: false,
        details: Default::default(),
    }
}

/// Decodes one WeChat message (full type column, raw content with any group-sender
/// prefix) into its sender prefix, kind and display text. Public for fuzzing and tools.
pub fn describe(ty: i64, content: &str) -> (Option<String>, MessageKind, String) {
    let (sender, body) = split_group_sender(content);
    let d = decode(ty, body);
    (sender.map(str::to_string), d.kind, d.text)
}

/// Splits the `<sender>:\n` prefix WeChat puts before received group messages.
pub(crate) fn split_group_sender(content: &str) -> (Option<&str>, &str) {
    if let Some(pos) = content.find(":\n") {
        let who = &content[..pos];
        let plausible = !who.is_empty()
            && who.len() <= 64
            && !who.contains(char::is_whitespace)
            && !who.contains('<');
        if plausible {
            return (Some(who), &content[pos + 2..]);
        }
    }
    (None, content)
}

/// Decodes a message of full type `ty` with `content` (sender prefix already removed).
pub(crate) fn decode(ty: i64, content: &str) -> Decoded {
    let base = ty & 0xFFFF;
    let mut d = Decoded::default();
    if ty == CUSTOM_STICKER {
        sticker(content, &mut d);
        return d;
    }
    match base {
        1 => {
            d.kind = MessageKind::Text;
            d.text = content.to_string();
        }
        3 => d.kind = MessageKind::Image,
        34 => d.kind = MessageKind::Voice,
        43 | 62 => d.kind = MessageKind::Video,
        42 => {
            let x = Xml::parse(content);
            d.kind = MessageKind::ContactCard;
            d.text = x
                .text("msg@nickname")
                .or_else(|| x.text("msg@username"))
                .unwrap_or_default();
        }
        47 => sticker(content, &mut d),
        48 => {
            let x = Xml::parse(content);
            d.kind = MessageKind::Location;
            d.text = location_text(&x);
        }
        49 => app_message(ty, content, &mut d),
        50 => {
            d.kind = MessageKind::Call;
            d.raw = Some(content.to_string());
        }
        10000 => {
            d.kind = MessageKind::System;
            let x = Xml::parse(content);
            d.text = if content.trim_start().starts_with('<') && !x.is_empty() {
                x.text("replacemsg")
                    .or_else(|| x.text("content"))
                    .or_else(|| x.text("title"))
                    .unwrap_or_default()
            } else {
                content.to_string()
            };
            if content.trim_start().starts_with('<') {
                d.raw = Some(content.to_string());
            }
        }
        10002 => {
            let x = Xml::parse(content);
            if x.get("sysmsg@type") == Some("revokemsg") {
                d.kind = MessageKind::Revoke;
                d.text = x.text("replacemsg").unwrap_or_default();
            } else {
                d.kind = MessageKind::System;
                d.text = x.text("replacemsg").unwrap_or_default();
                d.raw = Some(content.to_string());
            }
        }
        _ => {
            d.kind = MessageKind::Other;
            d.raw = Some(content.to_string());
        }
    }
    d
}

/// The type column of a custom sticker (one the user added), whose low 16 bits say app
/// message (49) but whose content is a sticker's `<emoji>`.
const CUSTOM_STICKER: i64 = 1_048_625;

/// A sticker (type 47 or a custom sticker): its md5 (to find its file) from `<emoji md5>`
/// (`androidmd5` when that is missing, or an app message's `emoticonmd5`); the content is
/// kept as raw (md5, CDN URL, size, AES key: what a later version can fetch it with).
fn sticker(content: &str, d: &mut Decoded) {
    let x = Xml::parse(content);
    d.kind = MessageKind::Sticker;
    d.sticker_md5 = x
        .text("emoji@md5")
        .or_else(|| x.text("emoji@androidmd5"))
        .or_else(|| x.text("appattach/emoticonmd5"))
        .map(|m| m.to_ascii_lowercase());
    d.raw = Some(content.to_string());
}

fn location_text(x: &Xml) -> String {
    let name = [x.text("location@poiname"), x.text("location@label")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    match (x.text("location@x"), x.text("location@y")) {
        (Some(lat), Some(lon)) if name.is_empty() => format!("({lat}, {lon})"),
        (Some(lat), Some(lon)) => format!("{name} ({lat}, {lon})"),
        _ => name,
    }
}

fn app_message(ty: i64, content: &str, d: &mut Decoded) {
    let x = Xml::parse(content);
    d.raw = Some(content.to_string());
    let title = x.text("appmsg/title").unwrap_or_default();
    let sub: i64 = x
        .get("appmsg/type")
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(match ty {
            436207665 => 2001,
            419430449 => 2000,
            822083633 => 57,
            1090519089 => 6,
            _ => -1,
        });
    let link = |title: &str| {
        [
            Some(title.to_string()),
            x.text("appmsg/des"),
            x.text("appmsg/url"),
        ]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
    };
    match sub {
        1 => {
            d.kind = MessageKind::Text;
            d.text = title;
        }
        2 => d.kind = MessageKind::Image,
        3 | 4 | 5 | 33 | 36 => {
            d.kind = MessageKind::Link;
            d.text = link(&title);
        }
        6 => {
            d.kind = MessageKind::File;
            d.text = title;
        }
        8 => d.kind = MessageKind::Sticker,
        17 => {
            d.kind = MessageKind::Location;
            d.text = title;
        }
        57 => {
            d.kind = MessageKind::Quote;
            d.text = title;
            d.reply_to = x.text("refermsg/svrid");
            d.quote = x.text("refermsg/content");
        }
        62 => {
            d.kind = MessageKind::System;
            d.text = title;
        }
        2000 | 2001 => {
            d.kind = MessageKind::Transfer;
            d.text = [title, x.text("appmsg/des").unwrap_or_default()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
        }
        _ => {
            // Forwarded chat records (19), notes (24) and whatever comes next: keep the raw
            // XML, show the title.
            d.kind = MessageKind::Other;
            d.text = title;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_sender_prefix() {
        assert_eq!(
            split_group_sender("wxid_a:\nhello"),
            (Some("wxid_a"), "hello")
        );
        assert_eq!(
            split_group_sender("wxid_a:\n<msg/>"),
            (Some("wxid_a"), "<msg/>")
        );
        assert_eq!(split_group_sender("note: x\ny"), (None, "note: x\ny"));
        assert_eq!(split_group_sender("plain"), (None, "plain"));
    }

    #[test]
    fn kinds_by_type_and_subtype() {
        assert_eq!(decode(1, "hi").kind, MessageKind::Text);
        assert_eq!(
            decode(268435457, "hi").kind,
            MessageKind::Text,
            "low 16 bits"
        );
        let q = decode(
            822083633,
            "<msg><appmsg><title>ok</title><type>57</type><refermsg><svrid>42</svrid><content>orig</content></refermsg></appmsg></msg>",
        );
        assert_eq!(q.kind, MessageKind::Quote);
        assert_eq!(q.text, "ok");
        assert_eq!(q.reply_to.as_deref(), Some("42"));
        assert_eq!(q.quote.as_deref(), Some("orig"));
        let f = decode(
            1090519089,
            "<msg><appmsg><title>a.pdf</title><type>6</type></appmsg></msg>",
        );
        assert_eq!((f.kind, f.text.as_str()), (MessageKind::File, "a.pdf"));
        let l = decode(
            48,
            r#"<msg><location x="39.9" y="116.4" label="L" poiname="P"/></msg>"#,
        );
        assert_eq!(l.text, "P L (39.9, 116.4)");
        let r = decode(
            10002,
            r#"<sysmsg type="revokemsg"><revokemsg><replacemsg><![CDATA["x" recalled]]></replacemsg></revokemsg></sysmsg>"#,
        );
        assert_eq!(
            (r.kind, r.text.as_str()),
            (MessageKind::Revoke, "\"x\" recalled")
        );
        let red = decode(436207665, "<msg><appmsg><title>红包</title></appmsg></msg>");
        assert_eq!(red.kind, MessageKind::Transfer);
        let s = decode(
            1048625,
            r#"<msg><emoji md5="ABCDEF0123456789abcdef0123456789" cdnurl="http://e/x" /></msg>"#,
        );
        assert_eq!(s.kind, MessageKind::Sticker);
        assert_eq!(
            s.sticker_md5.as_deref(),
            Some("abcdef0123456789abcdef0123456789")
        );
        assert!(s.raw.as_deref().is_some_and(|r| r.contains("cdnurl")));
        let unknown = decode(12345, "<weird/>");
        assert_eq!(unknown.kind, MessageKind::Other);
        assert_eq!(unknown.raw.as_deref(), Some("<weird/>"));
        let rec = decode(
            49,
            "<msg><appmsg><title>Chat record</title><type>19</type></appmsg></msg>",
        );
        assert_eq!(rec.kind, MessageKind::Other);
        assert!(rec.raw.is_some());
    }
}
