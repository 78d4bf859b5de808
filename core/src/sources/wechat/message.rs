//! WeChat messages, shared by the Android and iOS readers: the type column plus the content
//! text decoded into a kind, the text to show and what a reply quotes ([`decode`]), and a
//! message row assembled into the model's [`Message`] ([`assemble`]). Only reading the rows
//! (SQL, columns) differs per platform.

use std::collections::HashMap;

use super::xml::{Xml, MAX_LIST_VALUES};
use crate::sources::model::{MediaRef, Message, MessageDetails, MessageKind, Place, Timestamp};

/// What a message's type and content say.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Decoded {
    pub kind: MessageKind,
    pub text: String,
    /// Server id of the quoted message.
    pub reply_to: Option<String>,
    /// Quoted text.
    pub quote: Option<String>,
    /// Raw content, kept whenever it is more than the text shown.
    pub raw: Option<String>,
    /// What else the content says (durations, sizes, places, links).
    pub details: MessageDetails,
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
    /// Group → member → the name the member gave themself in that group, which a group's
    /// messages show instead of `names` (filled only where the user gave no remark).
    pub group_names: &'a HashMap<String, HashMap<String, String>>,
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
        // Android's group voice messages name their sender in the voice content instead.
        let who = who.or_else(|| {
            (row.ty & 0xFFFF == 34)
                .then(|| android_voice(rest).map(|(user, _)| user))
                .flatten()
        });
        (who.map(str::to_string), rest)
    } else {
        (Some(row.conversation.clone()), row.content.as_str())
    };
    let mut d = decode(row.ty, body);
    if d.kind == MessageKind::System && d.text.contains("${") {
        d.text = fill_usernames(&d.text, senders.names);
    }
    let media = media(&d, body);
    let system = match senders.system {
        SystemLines::ByType => matches!(row.ty & 0xFFFF, 10000 | 10002),
        SystemLines::ByKind => matches!(d.kind, MessageKind::System | MessageKind::Revoke),
    };
    let sender_name = sender.as_ref().and_then(|s| {
        senders
            .group_names
            .get(&row.conversation)
            .and_then(|room| room.get(s))
            .or_else(|| senders.names.get(s))
            .cloned()
    });
    Message {
        id: row.id.to_string(),
        server_id: row.server_id.filter(|s| *s != 0).map(|s| s.to_string()),
        conversation: row.conversation,
        sender_name,
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
        details: d.details,
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
/// Whatever the content holds beyond the text shown (XML, a voice message's length) is
/// kept as raw, so nothing the database held is lost.
pub(crate) fn decode(ty: i64, content: &str) -> Decoded {
    let mut d = decode_kind(ty, content);
    if d.raw.is_none() && d.text != content && !content.trim().is_empty() {
        d.raw = Some(content.to_string());
    }
    d
}

/// The kind of a message of type `ty` when it has a file and the type alone tells that
/// kind ([`decode_kind`] makes the same choice): `Some(None)` for types whose messages
/// have no file, `None` when only the content tells (stickers; app messages, which may be
/// files, images or stickers).
pub(crate) fn file_kind_of_type(ty: i64) -> Option<Option<MessageKind>> {
    if ty == CUSTOM_STICKER {
        return None;
    }
    match ty & 0xFFFF {
        3 => Some(Some(MessageKind::Image)),
        34 => Some(Some(MessageKind::Voice)),
        43 | 62 => Some(Some(MessageKind::Video)),
        47 | 49 => None,
        _ => Some(None),
    }
}

fn decode_kind(ty: i64, content: &str) -> Decoded {
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
        34 => voice(content, &mut d),
        43 | 62 => {
            d.kind = MessageKind::Video;
            d.details.duration_seconds = Xml::parse(content)
                .text("videomsg@playlength")
                .and_then(|s| s.parse().ok());
        }
        42 => {
            let x = Xml::parse(content);
            d.kind = MessageKind::ContactCard;
            d.text = x
                .text("msg@nickname")
                .or_else(|| x.text("msg@username"))
                .unwrap_or_default();
        }
        47 => sticker(content, &mut d),
        48 => location(&Xml::parse(content), &mut d),
        49 => app_message(ty, content, &mut d),
        50 => call(content, &mut d),
        10000 | 10002 => system(content, &mut d),
        _ => d.kind = MessageKind::Other,
    }
    d
}

/// A voice message: its length (Android's `<user>:<ms>:<flag>` content, iOS's
/// `<voicemsg voicelength>` in ms) and WeChat's transcript, when it made one, as the text.
fn voice(content: &str, d: &mut Decoded) {
    d.kind = MessageKind::Voice;
    let ms = if content.trim_start().starts_with('<') {
        let x = Xml::parse(content);
        if let Some(t) = x.text("voicetrans@transtext") {
            d.text = t;
        }
        x.text("voicemsg@voicelength").and_then(|s| s.parse().ok())
    } else {
        android_voice(content).map(|(_, ms)| ms)
    };
    d.details.duration_seconds = ms.filter(|ms| *ms > 0).map(|ms: u64| ms.div_ceil(1000));
}

/// Android's voice content `[<room>:]<user>:<length ms>:<flag>\n`: the user and the length.
pub(crate) fn android_voice(content: &str) -> Option<(&str, u64)> {
    let fields: Vec<&str> = content.trim_end().split(':').collect();
    let at = usize::from(fields.len() == 4 && fields[0].ends_with("@chatroom"));
    let user = *fields.get(at)?;
    let ms = fields.get(at + 1)?.trim().parse().ok()?;
    let plausible = !user.is_empty() && !user.contains(char::is_whitespace) && user.len() <= 64;
    plausible.then_some((user, ms))
}

/// A voice or video call: the line WeChat shows ("通话时长 01:23", "已取消", …) and the
/// length a finished call's line gives.
fn call(content: &str, d: &mut Decoded) {
    d.kind = MessageKind::Call;
    let x = Xml::parse(content);
    d.text = x.text("VoIPBubbleMsg/msg").unwrap_or_default();
    d.details.duration_seconds = clock_duration(&d.text);
}

/// The last `[h:]mm:ss` in `text`, in seconds.
fn clock_duration(text: &str) -> Option<u64> {
    let token = text
        .split(|c: char| !(c.is_ascii_digit() || c == ':'))
        .rfind(|t| t.contains(':'))?;
    let parts: Vec<u64> = token
        .split(':')
        .map(|p| p.parse().ok().filter(|_| (1..=2).contains(&p.len())))
        .collect::<Option<_>>()?;
    match parts[..] {
        [m, s] if s < 60 => Some(m * 60 + s),
        [h, m, s] if m < 60 && s < 60 => Some(h * 3600 + m * 60 + s),
        _ => None,
    }
}

/// System lines (10000) and system messages (10002): a revocation, a template WeChat
/// fills with names (invitations, joins: `$names$` from the template's links), a pat
/// (`${username}` placeholders, filled with names when the message is assembled), or the
/// plain text.
fn system(content: &str, d: &mut Decoded) {
    d.kind = MessageKind::System;
    if !content.trim_start().starts_with('<') {
        d.text = content.to_string();
        return;
    }
    let x = Xml::parse(content);
    if x.get("sysmsg@type") == Some("revokemsg") {
        d.kind = MessageKind::Revoke;
    }
    d.text = x
        .text("replacemsg")
        .or_else(|| filled_template(&x))
        .or_else(|| x.text("pat/template"))
        .or_else(|| x.text("content"))
        .or_else(|| x.text("title"))
        .or_else(|| x.text("plain"))
        .unwrap_or_else(|| {
            if x.is_empty() {
                content.to_string()
            } else {
                String::new()
            }
        });
}

/// A `<sysmsgtemplate>`'s template with each `$name$` replaced by its link: the link's
/// members' nicknames (joined by its separator, `、` when it names none), else its text.
fn filled_template(x: &Xml) -> Option<String> {
    let mut text = x.text("content_template/template")?;
    for link in x.each("link_list/link") {
        let Some(name) = link.text("link@name") else {
            continue;
        };
        let members: Vec<String> = link
            .each("member")
            .iter()
            .filter_map(|m| m.text("nickname").or_else(|| m.text("username")))
            .collect();
        let value = if members.is_empty() {
            link.text("plain")
                .or_else(|| link.text("title"))
                .unwrap_or_default()
        } else {
            members.join(&link.text("separator").unwrap_or_else(|| "、".into()))
        };
        text = text.replace(&format!("${name}$"), &value);
    }
    Some(text)
}

/// Replaces each `${username}` in a pat's text with the name `names` gives it.
pub(crate) fn fill_usernames(text: &str, names: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        let Some(len) = rest[at + 2..].find('}') else {
            break;
        };
        let user = &rest[at + 2..at + 2 + len];
        out.push_str(&rest[..at]);
        out.push_str(names.get(user).map_or(user, String::as_str));
        rest = &rest[at + 3 + len..];
    }
    out.push_str(rest);
    out
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
}

/// A shared place: its name and address as the text and the place in the details.
fn location(x: &Xml, d: &mut Decoded) {
    d.kind = MessageKind::Location;
    let (poi, label) = (x.text("location@poiname"), x.text("location@label"));
    let coord = |k: &str| {
        x.text(k)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite())
    };
    let (lat, lon) = (coord("location@x"), coord("location@y"));
    let name = [poi.clone(), label.clone()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    d.text = match (x.text("location@x"), x.text("location@y")) {
        (Some(lat), Some(lon)) if name.is_empty() => format!("({lat}, {lon})"),
        (Some(lat), Some(lon)) => format!("{name} ({lat}, {lon})"),
        _ => name,
    };
    if poi.is_some() || label.is_some() || lat.is_some() {
        d.details.place = Some(Place {
            title: poi,
            address: label,
            latitude: lat,
            longitude: lon,
        });
    }
}

fn app_message(ty: i64, content: &str, d: &mut Decoded) {
    let x = Xml::parse(content);
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
            d.details.links = x.text("appmsg/url").into_iter().collect();
        }
        6 => {
            d.kind = MessageKind::File;
            d.details.size_bytes = x.text("appattach/totallen").and_then(|s| s.parse().ok());
            d.text = title;
        }
        8 => d.kind = MessageKind::Sticker,
        17 => {
            d.kind = MessageKind::Location;
            d.text = title;
        }
        19 => {
            d.kind = MessageKind::Other;
            d.text = chat_record(&title, &x);
            d.details.title = Some(title).filter(|t| !t.is_empty());
        }
        57 => {
            d.kind = MessageKind::Quote;
            d.text = title;
            d.reply_to = x.text("refermsg/svrid");
            d.quote = x.text("refermsg/content");
        }
        62 => {
            d.kind = MessageKind::System;
            d.text = x.text("patinfo/template").unwrap_or(title);
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
            // Notes (24) and whatever comes next: the raw XML is kept, the title shown.
            d.kind = MessageKind::Other;
            d.text = title;
        }
    }
}

/// A forwarded chat record (app message 19): its title, then one line per forwarded
/// message, `<sender>: <text>` (a file's or link's title; `[image]`-like for the rest), so
/// every forwarded message is shown and found by search. Its `<recorditem>` holds the
/// record's own XML document.
fn chat_record(title: &str, x: &Xml) -> String {
    let mut lines = vec![title.to_string()];
    if let Some(record) = x.get("appmsg/recorditem") {
        let record = Xml::parse_bounded(record, MAX_LIST_VALUES);
        for item in record.each("datalist/dataitem") {
            let body = item
                .text("datadesc")
                .or_else(|| item.text("datatitle"))
                .unwrap_or_else(|| {
                    let kind = match item.get("dataitem@datatype") {
                        Some("2") => "image",
                        Some("3") => "voice",
                        Some("4") | Some("15") => "video",
                        Some("6") => "location",
                        Some("8") => "file",
                        Some("17") => "chat record",
                        _ => "item",
                    };
                    format!("[{kind}]")
                });
            match item.text("sourcename") {
                Some(who) => lines.push(format!("{who}: {body}")),
                None => lines.push(body),
            }
        }
    } else if let Some(des) = x.text("appmsg/des") {
        lines.push(des);
    }
    lines.retain(|l| !l.is_empty());
    lines.join("\n")
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

    #[test]
    fn what_users_see_beyond_the_kind() {
        // Voice: Android's colon form and iOS's XML, both in ms; a transcript is the text.
        let v = decode(34, "wxid_b:2540:0\n");
        assert_eq!(
            (v.kind, v.details.duration_seconds),
            (MessageKind::Voice, Some(3))
        );
        assert_eq!(v.raw.as_deref(), Some("wxid_b:2540:0\n"), "raw kept");
        assert_eq!(
            android_voice("123@chatroom:wxid_b:900:1\n"),
            Some(("wxid_b", 900))
        );
        assert_eq!(android_voice("garbage"), None);
        let v = decode(
            34,
            r#"<msg><voicemsg voicelength="4740" length="8198"/><voicetrans transtext="晚上见"/></msg>"#,
        );
        assert_eq!(
            (v.details.duration_seconds, v.text.as_str()),
            (Some(5), "晚上见")
        );
        // Video length in seconds; a file's size; a place.
        let v = decode(43, r#"<msg><videomsg playlength="12" length="99"/></msg>"#);
        assert_eq!(v.details.duration_seconds, Some(12));
        let f = decode(
            49,
            "<msg><appmsg><title>报告.pdf</title><type>6</type><appattach><totallen>40960</totallen><fileext>pdf</fileext></appattach></appmsg></msg>",
        );
        assert_eq!(
            (f.text.as_str(), f.details.size_bytes),
            ("报告.pdf", Some(40960))
        );
        let l = decode(
            48,
            r#"<msg><location x="39.9" y="116.4" label="东城区" poiname="故宫"/></msg>"#,
        );
        let place = l.details.place.expect("place");
        assert_eq!(
            (place.title.as_deref(), place.latitude),
            (Some("故宫"), Some(39.9))
        );
        // Calls: the line WeChat shows and its length.
        let c = decode(
            50,
            "<voipmsg type=\"VoIPBubbleMsg\"><VoIPBubbleMsg><msg><![CDATA[通话时长 01:23]]></msg><room_type>1</room_type></VoIPBubbleMsg></voipmsg>",
        );
        assert_eq!(
            (c.kind, c.text.as_str()),
            (MessageKind::Call, "通话时长 01:23")
        );
        assert_eq!(c.details.duration_seconds, Some(83));
        assert_eq!(clock_duration("Duration 1:02:03"), Some(3723));
        assert_eq!(clock_duration("已取消"), None);
        assert_eq!(clock_duration("12:345"), None);
        // An invitation: the template filled with the links' nicknames.
        let inv = decode(
            10002,
            r#"<sysmsg type="sysmsgtemplate"><sysmsgtemplate><content_template type="tmpl_type_profile"><plain></plain><template><![CDATA["$username$"邀请"$names$"加入了群聊]]></template><link_list><link name="username" type="link_profile"><memberlist><member><username>wxid_a</username><nickname>张三</nickname></member></memberlist></link><link name="names" type="link_profile"><memberlist><member><username>wxid_b</username><nickname>李四</nickname></member><member><username>wxid_c</username><nickname>王五</nickname></member></memberlist><separator>、</separator></link></link_list></content_template></sysmsgtemplate></sysmsg>"#,
        );
        assert_eq!(inv.kind, MessageKind::System);
        assert_eq!(inv.text, "\"张三\"邀请\"李四、王五\"加入了群聊");
        // A pat: usernames filled with names when assembled.
        let pat = decode(
            10002,
            r#"<sysmsg type="pat"><pat><fromusername>wxid_a</fromusername><template><![CDATA["${wxid_a}" 拍了拍 "${wxid_b}"]]></template></pat></sysmsg>"#,
        );
        let names = HashMap::from([("wxid_a".to_string(), "张三".to_string())]);
        assert_eq!(
            fill_usernames(&pat.text, &names),
            "\"张三\" 拍了拍 \"wxid_b\""
        );
        assert_eq!(fill_usernames("${unclosed", &names), "${unclosed");
        // A forwarded chat record: every forwarded message in the text.
        let rec = decode(
            49,
            r#"<msg><appmsg><title>群聊的聊天记录</title><type>19</type><des>张三: 你好</des><recorditem><![CDATA[<recordinfo><datalist count="3"><dataitem datatype="1"><datadesc>你好</datadesc><sourcename>张三</sourcename></dataitem><dataitem datatype="2"><sourcename>李四</sourcename></dataitem><dataitem datatype="8"><datatitle>合同.docx</datatitle><sourcename>王五</sourcename></dataitem></datalist></recordinfo>]]></recorditem></appmsg></msg>"#,
        );
        assert_eq!(
            rec.text,
            "群聊的聊天记录\n张三: 你好\n李四: [image]\n王五: 合同.docx"
        );
        assert_eq!(rec.details.title.as_deref(), Some("群聊的聊天记录"));
        // Plain text keeps no raw copy of itself.
        assert_eq!(decode(1, "hi").raw, None);
    }

    /// The kinds the type alone tells are the kinds decoding makes, whatever the content.
    #[test]
    fn a_file_kind_told_by_the_type_is_the_decoded_kind() {
        let files = [
            MessageKind::Image,
            MessageKind::Voice,
            MessageKind::Video,
            MessageKind::Sticker,
            MessageKind::File,
        ];
        for ty in (0..70).chain([10000, 10002, 268_435_505, CUSTOM_STICKER, 1_090_519_089]) {
            for content in ["", "<msg><appmsg><type>6</type></appmsg></msg>", "x:1:0"] {
                let decoded = decode_kind(ty, content).kind;
                match file_kind_of_type(ty) {
                    Some(Some(kind)) => assert_eq!(decoded, kind, "type {ty}"),
                    Some(None) => assert!(!files.contains(&decoded), "type {ty}: {decoded:?}"),
                    None => {}
                }
            }
        }
    }
}
