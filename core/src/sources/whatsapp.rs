//! WhatsApp "Export chat": Android `.txt` files (media beside them or not) and iOS `.zip`
//! archives holding `_chat.txt` and the media.
//!
//! Every header variant the locales produce is accepted (see `chat-formats.md`): date order
//! is inferred per file, times are wall-clock with no zone ([`Timestamp::Local`]).
//! Lines and messages are bounded in length; zips are read without extracting anything, with
//! limits on size and compression ratio.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::OnceLock;

use chrono::{NaiveDate, NaiveTime};
use regex::Regex;

use crate::error::{Error, Result};
use crate::sources::model::{
    ChatSink, Conversation, ConversationKind, MediaKind, MediaRef, Message, MessageKind, Timestamp,
};
use crate::sources::rel_path;

/// Longest line kept (the rest of a longer line is dropped with a warning).
const MAX_LINE: usize = 1 << 20;
/// Longest message text kept.
const MAX_MESSAGE: usize = 4 << 20;
/// Largest `_chat.txt` read from a zip.
const MAX_ZIP_TEXT: u64 = 4 << 30;
/// Highest compression ratio accepted for `_chat.txt` (text compresses ~10×; bombs 1000×+).
const MAX_ZIP_RATIO: u64 = 200;

const LRM: char = '\u{200E}';

fn header() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            r"^[\u{200E}\u{200F}]?\[?",
            r"(?P<d1>\d{1,4})[./-](?P<d2>\d{1,2})[./-](?P<d3>\d{1,4})\.?,?\s",
            r"(?:klo\s)?",
            r"(?P<h>\d{1,2})[:.](?P<m>\d{2})(?:[:.](?P<s>\d{2}))?",
            r"(?:[\s\u{202F}\u{00A0}]?(?P<ap>[aApP])\.?\s?[mM]\.?)?",
            r"(?:\]\s|\s-\s)(?P<rest>.*)$"
        ))
        .expect("static regex")
    })
}

/// How the three date fields are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOrder {
    /// 30/06/23
    DayMonthYear,
    /// 6/30/23
    MonthDayYear,
    /// 2023/06/30
    YearMonthDay,
}

/// One parsed header line.
#[derive(Debug, Clone, PartialEq)]
struct Header {
    fields: [u32; 3],
    hour: u32,
    minute: u32,
    second: u32,
    pm: Option<bool>,
    rest: String,
}

fn parse_header(line: &str) -> Option<Header> {
    let c = header().captures(line)?;
    let num = |n: &str| c.name(n).and_then(|m| m.as_str().parse::<u32>().ok());
    Some(Header {
        fields: [num("d1")?, num("d2")?, num("d3")?],
        hour: num("h")?,
        minute: num("m")?,
        second: num("s").unwrap_or(0),
        pm: c.name("ap").map(|m| m.as_str().eq_ignore_ascii_case("p")),
        rest: c.name("rest")?.as_str().to_string(),
    })
}

fn date_of(fields: [u32; 3], order: DateOrder) -> Option<NaiveDate> {
    let (y, m, d) = match order {
        DateOrder::DayMonthYear => (fields[2], fields[1], fields[0]),
        DateOrder::MonthDayYear => (fields[2], fields[0], fields[1]),
        DateOrder::YearMonthDay => (fields[0], fields[1], fields[2]),
    };
    let y = if y < 100 { 2000 + y } else { y };
    NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)
}

impl Header {
    fn timestamp(&self, order: DateOrder) -> Option<i64> {
        let date = date_of(self.fields, order)?;
        let hour = match self.pm {
            None => self.hour,
            Some(pm) if self.hour == 12 => {
                if pm {
                    12
                } else {
                    0
                }
            }
            Some(true) => self.hour + 12,
            Some(false) => self.hour,
        };
        let time = NaiveTime::from_hms_opt(hour, self.minute, self.second)?;
        Some(date.and_time(time).and_utc().timestamp_millis())
    }
}

/// Reads lines of at most [`MAX_LINE`] bytes, as lossy UTF-8 without the line end.
struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    truncated: u64,
}

impl<R: BufRead> Lines<R> {
    fn new(reader: R) -> Self {
        Lines {
            reader,
            buf: Vec::new(),
            truncated: 0,
        }
    }

    fn next_line(&mut self) -> std::io::Result<Option<String>> {
        self.buf.clear();
        let mut any = false;
        let mut cut = false;
        loop {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            any = true;
            let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let room = MAX_LINE.saturating_sub(self.buf.len());
            let keep = take.min(room);
            if keep < take {
                cut = true;
            }
            self.buf.extend_from_slice(&chunk[..keep]);
            self.reader.consume(take);
            if done {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        if cut {
            self.truncated += 1;
        }
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        Ok(Some(String::from_utf8_lossy(&self.buf).into_owned()))
    }
}

/// Decides the date order of a file from its headers (see the formats notes).
#[derive(Default)]
struct OrderVote {
    year_first: bool,
    first_over_12: bool,
    second_over_12: bool,
    prev: Option<[u32; 3]>,
    backwards_dmy: u32,
    backwards_mdy: u32,
    changes_first: u32,
    changes_second: u32,
    twelve_hour: bool,
}

impl OrderVote {
    fn add(&mut self, f: [u32; 3], twelve_hour: bool) {
        self.twelve_hour |= twelve_hour;
        if f[0] > 31 {
            self.year_first = true;
        }
        self.first_over_12 |= f[0] > 12;
        self.second_over_12 |= f[1] > 12;
        if let Some(p) = self.prev {
            let key = |x: [u32; 3], dmy: bool| {
                if dmy {
                    (x[2], x[1], x[0])
                } else {
                    (x[2], x[0], x[1])
                }
            };
            if key(f, true) < key(p, true) {
                self.backwards_dmy += 1;
            }
            if key(f, false) < key(p, false) {
                self.backwards_mdy += 1;
            }
            self.changes_first += u32::from(f[0] != p[0]);
            self.changes_second += u32::from(f[1] != p[1]);
        }
        self.prev = Some(f);
    }

    fn decide(&self) -> DateOrder {
        if self.year_first {
            DateOrder::YearMonthDay
        } else if self.first_over_12 && !self.second_over_12 {
            DateOrder::DayMonthYear
        } else if self.second_over_12 && !self.first_over_12 {
            DateOrder::MonthDayYear
        } else if self.backwards_dmy != self.backwards_mdy {
            if self.backwards_dmy < self.backwards_mdy {
                DateOrder::DayMonthYear
            } else {
                DateOrder::MonthDayYear
            }
        } else if self.changes_second != self.changes_first {
            if self.changes_second > self.changes_first {
                DateOrder::MonthDayYear
            } else {
                DateOrder::DayMonthYear
            }
        } else if self.twelve_hour {
            // Nothing in the file decides. A 12-hour clock with numeric dates is mostly the
            // US locale (month first); elsewhere day-first is the common order.
            DateOrder::MonthDayYear
        } else {
            DateOrder::DayMonthYear
        }
    }
}

/// Infers the date order of a chat text.
fn infer_order<R: BufRead>(reader: R) -> std::io::Result<DateOrder> {
    let mut lines = Lines::new(reader);
    let mut vote = OrderVote::default();
    while let Some(line) = lines.next_line()? {
        if let Some(h) = parse_header(&line) {
            vote.add(h.fields, h.pm.is_some());
        }
    }
    Ok(vote.decide())
}

/// Whether a file is a WhatsApp export: a `.txt` whose first lines hold a header, or a zip
/// holding `_chat.txt`.
pub fn looks_like_export(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if name.ends_with(".zip") {
        return File::open(path)
            .ok()
            .and_then(|f| zip::ZipArchive::new(f).ok())
            .is_some_and(|z| z.file_names().any(|n| n == "_chat.txt"));
    }
    if !name.ends_with(".txt") {
        return false;
    }
    let Ok(f) = File::open(path) else {
        return false;
    };
    let mut lines = Lines::new(BufReader::new(f.take(64 * 1024)));
    for _ in 0..20 {
        match lines.next_line() {
            Ok(Some(l)) if parse_header(&l).is_some() => return true,
            Ok(Some(_)) => {}
            _ => return false,
        }
    }
    false
}

/// Reads a WhatsApp export: a folder of chats, one `.txt`, or one `.zip`.
pub(crate) fn read(root: &Path, sink: &mut dyn ChatSink) -> Result<()> {
    sink.account(&Default::default())?;
    let files: Vec<_> = if root.is_dir() {
        crate::sources::find_files(
            root,
            |n| {
                let n = n.to_lowercase();
                n.ends_with(".txt") || n.ends_with(".zip")
            },
            2,
        )
        .into_iter()
        .filter(|p| looks_like_export(p))
        .collect()
    } else {
        vec![root.to_path_buf()]
    };
    if files.is_empty() {
        return Err(Error::Source {
            path: root.into(),
            reason: "no WhatsApp chat (.txt with message lines, or .zip with _chat.txt) found"
                .into(),
        });
    }
    for file in files {
        let id = if root.is_dir() {
            rel_path(root, &file)
        } else {
            file.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let is_zip = file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
        if is_zip {
            read_zip(&file, &id, sink)?;
        } else {
            let media_dir = file.parent().unwrap_or(root).to_path_buf();
            let prefix = if root.is_dir() {
                rel_path(root, &media_dir)
            } else {
                String::new()
            };
            let open = || -> Result<BufReader<File>> {
                Ok(BufReader::new(
                    File::open(&file).map_err(|e| Error::io("open", &file, e))?,
                ))
            };
            let order = infer_order(open()?).map_err(|e| Error::io("read", &file, e))?;
            let in_backup = root.is_dir();
            if !in_backup {
                sink.warning(format!(
                    "only {} itself is backed up: back up its folder to include the media beside it",
                    file.display()
                ));
            }
            let locate = |name: &str| {
                let path = if prefix.is_empty() {
                    name.to_string()
                } else {
                    format!("{prefix}/{name}")
                };
                let present = in_backup && safe_name(name) && media_dir.join(name).is_file();
                (path, present)
            };
            parse_chat(open()?, order, &id, &file, &locate, sink)
                .map_err(|e| Error::io("read", &file, e))??;
        }
    }
    Ok(())
}

fn safe_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '\\', '\0']) && name != ".." && name != "."
}

fn zip_error(path: &Path, e: zip::result::ZipError) -> Error {
    Error::Source {
        path: path.into(),
        reason: format!("the zip archive is damaged or truncated ({e})"),
    }
}

fn read_zip(path: &Path, id: &str, sink: &mut dyn ChatSink) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| zip_error(path, e))?;
    let mut names = BTreeSet::new();
    for n in zip.file_names() {
        if n.starts_with('/') || n.split(['/', '\\']).any(|c| c == "..") || n.contains(':') {
            sink.warning(format!(
                "{}: entry {n:?} has an unsafe name; it is kept in the backup but never extracted",
                path.display()
            ));
            continue;
        }
        names.insert(n.to_string());
    }
    let (size, compressed) = {
        let entry = zip.by_name("_chat.txt").map_err(|e| Error::Source {
            path: path.into(),
            reason: format!("no _chat.txt in the archive ({e})"),
        })?;
        (entry.size(), entry.compressed_size())
    };
    if size > MAX_ZIP_TEXT || size > compressed.saturating_mul(MAX_ZIP_RATIO).max(1 << 20) {
        return Err(Error::Source {
            path: path.into(),
            reason: format!(
                "_chat.txt expands from {compressed} to {size} bytes: refusing a likely zip bomb"
            ),
        });
    }
    // Two passes over the decompressed stream (order, then messages) without holding it:
    // the text is streamed from the archive each time.
    let order = {
        let mut entry = zip.by_name("_chat.txt").map_err(|e| zip_error(path, e))?;
        infer_order(BufReader::new((&mut entry).take(size))).map_err(|e| Error::Source {
            path: path.into(),
            reason: format!("_chat.txt cannot be read: the archive is damaged or truncated ({e})"),
        })?
    };
    let locate = |name: &str| (name.to_string(), names.contains(name));
    let mut entry = zip.by_name("_chat.txt").map_err(|e| zip_error(path, e))?;
    parse_chat(
        BufReader::new((&mut entry).take(size)),
        order,
        id,
        path,
        &locate,
        sink,
    )
    .map_err(|e| Error::Source {
        path: path.into(),
        reason: format!("_chat.txt cannot be read: the archive is damaged or truncated ({e})"),
    })?
}

/// Parses one chat text held in memory (date order inferred from it) into `sink`, as the
/// conversation `conversation`; attachments are never present. Public for fuzzing and tools.
pub fn parse_text(text: &[u8], conversation: &str, sink: &mut dyn ChatSink) -> Result<()> {
    let order = infer_order(text).map_err(|e| Error::Internal(e.to_string()))?;
    parse_chat(
        text,
        order,
        conversation,
        Path::new(conversation),
        &|n: &str| (n.to_string(), false),
        sink,
    )
    .map_err(|e| Error::Internal(e.to_string()))?
}

/// A message being assembled from its header line and continuation lines.
struct Pending {
    msg: Message,
    truncated: bool,
}

fn chat_name(id: &str) -> String {
    let base = id.rsplit('/').next().unwrap_or(id);
    let stem = base
        .strip_suffix(".txt")
        .or_else(|| base.strip_suffix(".zip"))
        .unwrap_or(base);
    for p in [
        "WhatsApp Chat with ",
        "WhatsApp Chat - ",
        "WhatsApp-Chat mit ",
    ] {
        if let Some(n) = stem.strip_prefix(p) {
            return n.to_string();
        }
    }
    stem.to_string()
}

/// Parses one chat text. The outer `io::Result` is the reader's; the inner is the sink's.
fn parse_chat<R: BufRead>(
    reader: R,
    order: DateOrder,
    conversation: &str,
    file: &Path,
    locate: &dyn Fn(&str) -> (String, bool),
    sink: &mut dyn ChatSink,
) -> std::io::Result<Result<()>> {
    let mut lines = Lines::new(reader);
    let mut pending: Option<Pending> = None;
    let mut authors: BTreeSet<String> = BTreeSet::new();
    let mut seq = 0u64;
    let mut group = false;
    let mut long_messages = 0u64;
    let flush = |p: Option<Pending>, sink: &mut dyn ChatSink, long: &mut u64| -> Result<()> {
        if let Some(mut p) = p {
            if p.truncated {
                *long += 1;
            }
            finish(&mut p.msg, locate);
            sink.message(p.msg)?;
        }
        Ok(())
    };
    while let Some(line) = lines.next_line()? {
        let header = parse_header(&line).and_then(|h| h.timestamp(order).map(|t| (h, t)));
        let Some((h, ms)) = header else {
            match pending.as_mut() {
                Some(p) => {
                    if p.msg.text.len() + line.len() + 1 > MAX_MESSAGE {
                        p.truncated = true;
                    } else {
                        p.msg.text.push('\n');
                        p.msg.text.push_str(&line);
                    }
                }
                None if line.trim().is_empty() => {}
                None => sink.warning(format!(
                    "{}: text before the first message line ignored",
                    file.display()
                )),
            }
            continue;
        };
        if let Err(e) = flush(pending.take(), sink, &mut long_messages) {
            return Ok(Err(e));
        }
        seq += 1;
        let (sender, text) = split_author(&h.rest);
        let system = sender.is_none() || text.starts_with(LRM) && !is_media_line(text);
        if let Some(s) = sender {
            if !system {
                authors.insert(s.to_string());
            }
        }
        let text = text.trim_start_matches(LRM).to_string();
        if system && (text.contains("created group") || text.contains("added")) {
            group = true;
        }
        pending = Some(Pending {
            msg: Message {
                id: seq.to_string(),
                server_id: None,
                conversation: conversation.to_string(),
                sender: if system {
                    None
                } else {
                    sender.map(str::to_string)
                },
                sender_name: if system {
                    None
                } else {
                    sender.map(str::to_string)
                },
                from_me: false,
                time: Timestamp::Local(ms),
                kind: if system {
                    MessageKind::System
                } else {
                    MessageKind::Text
                },
                text,
                reply_to: None,
                quote: None,
                media: None,
                raw: None,
                edited: false,
                details: Default::default(),
            },
            truncated: false,
        });
    }
    if let Err(e) = flush(pending.take(), sink, &mut long_messages) {
        return Ok(Err(e));
    }
    if lines.truncated > 0 || long_messages > 0 {
        sink.warning(format!(
            "{}: {} over-long lines or messages were cut",
            file.display(),
            lines.truncated + long_messages
        ));
    }
    if seq == 0 {
        return Ok(Err(Error::Source {
            path: file.into(),
            reason: "no message lines found (is it a WhatsApp export?)".into(),
        }));
    }
    let kind = if group || authors.len() > 2 {
        ConversationKind::Group
    } else {
        ConversationKind::Direct
    };
    Ok(sink.conversation(&Conversation {
        id: conversation.to_string(),
        name: chat_name(conversation),
        kind,
        members: authors.into_iter().collect(),
    }))
}

/// `author: text`, or `None` for a system line.
fn split_author(rest: &str) -> (Option<&str>, &str) {
    match rest.find(": ") {
        Some(i) if i > 0 && !rest[..i].contains('"') => (Some(&rest[..i]), &rest[i + 2..]),
        _ => (None, rest),
    }
}

fn is_media_line(text: &str) -> bool {
    let t = text.trim_start_matches(LRM);
    t.contains("<attached: ") || t.ends_with(" omitted") || t.contains("(file attached)")
}

fn media_kind_of(name: &str) -> (MediaKind, MessageKind) {
    let upper = name.to_uppercase();
    let has = |p: &str| upper.starts_with(p) || upper.contains(&format!("-{p}"));
    if has("PHOTO") || has("IMG-") {
        (MediaKind::Image, MessageKind::Image)
    } else if has("VIDEO") || has("VID-") || has("GIF") {
        (MediaKind::Video, MessageKind::Video)
    } else if has("AUDIO") || has("PTT-") || has("AUD-") {
        (MediaKind::Audio, MessageKind::Voice)
    } else if has("STICKER") || has("STK-") {
        (MediaKind::Sticker, MessageKind::Sticker)
    } else {
        (MediaKind::File, MessageKind::File)
    }
}

/// Classifies a finished message: attachments, omitted media, deletions, edits, locations.
fn finish(msg: &mut Message, locate: &dyn Fn(&str) -> (String, bool)) {
    if msg.kind == MessageKind::System {
        return;
    }
    const EDITED: &str = "<This message was edited>";
    if let Some(t) = msg.text.trim_end().strip_suffix(EDITED) {
        msg.text = t.trim_end().to_string();
        msg.edited = true;
    }
    let first_line_end = msg.text.find('\n').unwrap_or(msg.text.len());
    let text = std::mem::take(&mut msg.text);
    let (first, caption) = text.split_at(first_line_end);
    let first = first.trim_start_matches(LRM).trim_end();
    let caption = caption.trim_start_matches('\n').to_string();
    msg.text = text.clone();

    // iOS: [description • pages] <attached: NAME>
    if let Some(start) = first.find("<attached: ") {
        if let Some(name) = first[start + 11..].strip_suffix('>') {
            attach(msg, name.trim(), locate, caption);
            return;
        }
    }
    // Android: NAME (file attached)
    if let Some(name) = first.strip_suffix(" (file attached)") {
        attach(msg, name.trim().trim_start_matches(LRM), locate, caption);
        return;
    }
    let omitted = match first {
        "<Media omitted>" => Some((MediaKind::File, MessageKind::File)),
        "image omitted" => Some((MediaKind::Image, MessageKind::Image)),
        "video omitted" | "GIF omitted" => Some((MediaKind::Video, MessageKind::Video)),
        "audio omitted" => Some((MediaKind::Audio, MessageKind::Voice)),
        "sticker omitted" => Some((MediaKind::Sticker, MessageKind::Sticker)),
        "document omitted" => Some((MediaKind::File, MessageKind::File)),
        _ => None,
    };
    if let Some((mk, k)) = omitted {
        msg.kind = k;
        msg.text = caption;
        msg.media = Some(MediaRef {
            path: String::new(),
            kind: mk,
            present: false,
            thumbnail: None,
        });
        return;
    }
    match first {
        "This message was deleted" | "You deleted this message" => {
            msg.kind = MessageKind::Revoke;
            msg.from_me = first.starts_with("You");
            return;
        }
        "Contact card omitted" => {
            msg.kind = MessageKind::ContactCard;
            return;
        }
        _ => {}
    }
    if first.starts_with("location: ") && first.contains("?q=") {
        msg.kind = MessageKind::Location;
    } else if first.starts_with("POLL:") {
        msg.kind = MessageKind::Poll;
    }
}

fn attach(msg: &mut Message, name: &str, locate: &dyn Fn(&str) -> (String, bool), caption: String) {
    let (mk, k) = media_kind_of(name);
    // A name that is not one plain file name never becomes a path.
    let (path, present) = if safe_name(name) {
        locate(name)
    } else {
        (String::new(), false)
    };
    msg.kind = k;
    msg.text = if caption.is_empty() && k == MessageKind::File {
        name.to_string()
    } else {
        caption
    };
    msg.media = Some(MediaRef {
        path,
        kind: mk,
        present,
        thumbnail: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        messages: Vec<Message>,
        conversations: Vec<Conversation>,
        warnings: Vec<String>,
    }

    impl ChatSink for Collect {
        fn account(&mut self, _: &crate::sources::model::Account) -> Result<()> {
            Ok(())
        }
        fn contact(&mut self, _: &crate::sources::model::Contact) -> Result<()> {
            Ok(())
        }
        fn conversation(&mut self, c: &Conversation) -> Result<()> {
            self.conversations.push(c.clone());
            Ok(())
        }
        fn message(&mut self, m: Message) -> Result<()> {
            self.messages.push(m);
            Ok(())
        }
        fn warning(&mut self, w: String) {
            self.warnings.push(w);
        }
    }

    fn parse(text: &str) -> Collect {
        let mut c = Collect::default();
        let order = infer_order(text.as_bytes()).unwrap();
        let locate = |n: &str| (n.to_string(), n.starts_with("IMG") || n.contains("PHOTO"));
        parse_chat(
            text.as_bytes(),
            order,
            "chat",
            Path::new("chat.txt"),
            &locate,
            &mut c,
        )
        .unwrap()
        .unwrap();
        c
    }

    fn ts(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, s)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    #[test]
    fn header_variants_from_the_notes() {
        let cases = [
            ("6/30/23, 16:14 - Ann: hi", ts(2023, 6, 30, 16, 14, 0)),
            (
                "3/6/18, 1:55 p.m. - a: m\n3/7/18, 1:55 a.m. - a: m",
                ts(2018, 3, 6, 13, 55, 0),
            ),
            ("13.6.2018 klo 21.25.15 - a: m", ts(2018, 6, 13, 21, 25, 15)),
            ("2019/01/01, 11:25 - a: m", ts(2019, 1, 1, 11, 25, 0)),
            ("[30/06/2023, 16:14:05] Ann: hi", ts(2023, 6, 30, 16, 14, 5)),
            (
                "\u{200E}[6/30/23, 4:14:05\u{202F}PM] Ann: hi",
                ts(2023, 6, 30, 16, 14, 5),
            ),
            ("[1/2/23, 12:05:00 AM] Ann: hi", ts(2023, 1, 2, 0, 5, 0)),
            (
                "12/1/23, 12:05 p. m. - Ann: hi\n13/1/23, 1:00 - a: b",
                ts(2023, 1, 12, 12, 5, 0),
            ),
        ];
        for (text, want) in cases {
            let c = parse(text);
            assert_eq!(c.messages[0].time, Timestamp::Local(want), "{text}");
        }
    }

    #[test]
    fn day_month_order_is_inferred_per_file() {
        // No field over 12: dates must not go backwards under the right order.
        let dmy = "01/02/23, 10:00 - a: x\n05/02/23, 10:00 - a: y\n03/03/23, 10:00 - a: z";
        assert_eq!(
            infer_order(dmy.as_bytes()).unwrap(),
            DateOrder::DayMonthYear
        );
        let mdy = "02/01/23, 10:00 - a: x\n02/05/23, 10:00 - a: y\n03/03/23, 10:00 - a: z";
        assert_eq!(
            infer_order(mdy.as_bytes()).unwrap(),
            DateOrder::MonthDayYear
        );
        assert_eq!(
            infer_order("6/30/23, 16:14 - a: x".as_bytes()).unwrap(),
            DateOrder::MonthDayYear
        );
    }

    #[test]
    fn multiline_media_system_deleted_edited() {
        let text = "6/30/23, 16:14 - You created group \"Trip: 2023\"\n\
            6/30/23, 16:15 - Ann: first line\nsecond line\n\n\
            6/30/23, 16:16 - Bob: IMG-20230630-WA0001.jpg (file attached)\nnice view\n\
            6/30/23, 16:17 - Bob: <Media omitted>\n\
            6/30/23, 16:18 - Ann: This message was deleted\n\
            6/30/23, 16:19 - Ann: fixed <This message was edited>\n\
            6/30/23, 16:20 - Cy: location: https://maps.google.com/?q=1.5,2.5\n\
            6/30/23, 16:21 - Cy: VID-20230630-WA0002.mp4 (file attached)\n";
        let c = parse(text);
        let m = &c.messages;
        assert_eq!(m.len(), 8);
        assert_eq!(m[0].kind, MessageKind::System);
        assert_eq!(m[0].sender, None);
        assert_eq!(m[1].text, "first line\nsecond line\n");
        assert_eq!(m[2].kind, MessageKind::Image);
        assert_eq!(m[2].text, "nice view");
        let media = m[2].media.as_ref().unwrap();
        assert!(media.present);
        assert_eq!(media.path, "IMG-20230630-WA0001.jpg");
        assert_eq!(m[3].kind, MessageKind::File);
        assert!(!m[3].media.as_ref().unwrap().present);
        assert_eq!(m[4].kind, MessageKind::Revoke);
        assert!(m[5].edited);
        assert_eq!(m[5].text, "fixed");
        assert_eq!(m[6].kind, MessageKind::Location);
        assert_eq!(m[7].kind, MessageKind::Video);
        assert!(
            !m[7].media.as_ref().unwrap().present,
            "missing file counted"
        );
        assert_eq!(c.conversations[0].kind, ConversationKind::Group);
    }

    #[test]
    fn ios_lines() {
        let text = "[6/30/23, 4:14:05 PM] Ann: \u{200E}Messages and calls are end-to-end encrypted.\r\n\
            [6/30/23, 4:15:00 PM] Ann: hello\r\n\
            \u{200E}[6/30/23, 4:16:00 PM] Me: \u{200E}<attached: 00000042-PHOTO-2023-06-30-16-16-00.jpg>\r\n\
            \u{200E}[6/30/23, 4:17:00 PM] Ann: Doc.pdf • 2 pages \u{200E}<attached: 00000047-Doc.pdf>\r\n\
            \u{200E}[6/30/23, 4:18:00 PM] Ann: \u{200E}image omitted\r\n";
        let c = parse(text);
        let m = &c.messages;
        assert_eq!(m[0].kind, MessageKind::System);
        assert_eq!(m[1].text, "hello");
        assert_eq!(m[2].kind, MessageKind::Image);
        assert!(m[2].media.as_ref().unwrap().present);
        assert_eq!(m[3].kind, MessageKind::File);
        assert_eq!(m[3].media.as_ref().unwrap().path, "00000047-Doc.pdf");
        assert_eq!(m[4].kind, MessageKind::Image);
        assert!(!m[4].media.as_ref().unwrap().present);
    }

    #[test]
    fn attachment_names_never_become_paths_outside_the_export() {
        // Found by the fuzzer: a name with `..` or a slash was kept as the media path.
        let text = "[6/30/23, 4:14:00 PM] A: <attached: ../../etc/passwd>\n\
            6/30/23, 16:15 - B: sub/dir.jpg (file attached)\n";
        let c = parse(text);
        for m in &c.messages {
            let media = m.media.as_ref().unwrap();
            assert_eq!(media.path, "");
            assert!(!media.present);
        }
    }

    #[test]
    fn huge_lines_and_garbage_do_not_blow_up() {
        let mut text = String::from("6/30/23, 16:14 - Ann: ");
        text.push_str(&"x".repeat(3 * MAX_LINE));
        text.push_str("\n6/30/23, 16:15 - Ann: after\n");
        let c = parse(&text);
        assert_eq!(c.messages.len(), 2);
        assert!(c.messages[0].text.len() <= MAX_LINE);
        assert_eq!(c.messages[1].text, "after");
        assert!(!c.warnings.is_empty());
        let mut c = Collect::default();
        let bytes: &[u8] = b"\xff\xfe garbage\n\x006/30/23";
        let r = parse_chat(
            bytes,
            DateOrder::MonthDayYear,
            "x",
            Path::new("x.txt"),
            &|n: &str| (n.to_string(), false),
            &mut c,
        )
        .unwrap();
        assert!(r.is_err(), "no message lines is an error naming the file");
    }
}
