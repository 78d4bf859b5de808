//! WhatsApp "Export chat": Android `.txt` files (media beside them or not), zips of them,
//! and iOS `.zip` archives holding `_chat.txt` and the media, in every language WhatsApp
//! exports in.
//!
//! A file is read twice, streamed: first to learn its date order and its authors (who "me"
//! is), then to emit messages. Headers are parsed in [`header`]; what a line means (media,
//! deleted, edited, system) is asked of the language tables in [`lang`], all languages at
//! once; [`classify`] turns a finished message into its kind. Nothing is thrown away: each
//! message keeps its lines in `raw`, and text that cannot be understood (before the first
//! header, or a header with an impossible date) becomes a message of kind `unparsed`.
//! Times are wall-clock with no zone ([`Timestamp::Local`]). Lines and messages are bounded
//! in length; zips are read without extracting anything, with limits on size and
//! compression ratio.

mod classify;
mod header;
mod lang;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::sources::model::{
    Account, ChatSink, Contact, Conversation, ConversationKind, MediaKey, Message, MessageDetails,
    MessageKind, Timestamp,
};
use crate::sources::{rel_path, ReadOutcome, Source, SourceKind};

pub use header::DateOrder;

/// Longest line kept (the rest of a longer line is dropped with a warning).
const MAX_LINE: usize = 1 << 20;
/// Longest message text kept.
const MAX_MESSAGE: usize = 4 << 20;
/// Largest chat text read from a zip.
const MAX_ZIP_TEXT: u64 = 4 << 30;
/// Longest author name: a longer "name: " is the sentence of a system line.
const MAX_AUTHOR_CHARS: usize = 60;
/// Most words in an author name.
const MAX_AUTHOR_WORDS: usize = 7;

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

/// How to read an export.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The phone owner's name as the export writes it, if the user says: their messages
    /// are `from_me`. Otherwise inferred where the export tells (a one-to-one chat names the
    /// partner in its file name; the other author is the owner).
    pub me: Option<String>,
}

/// A line's header and what follows it, split into author and text.
struct Line<'a> {
    header: header::Header,
    author: Option<&'a str>,
    text: &'a str,
    system: bool,
}

/// Splits a line that has a header. A system line never yields an author.
fn split_line(line: &str) -> Option<Line<'_>> {
    let header = header::parse(line)?;
    let rest = line[header.rest_at..].trim_start_matches(header::is_mark);
    let (author, text) = split_author(rest);
    // iOS writes system lines of one-to-one chats under the chat's name, their text after
    // a left-to-right mark (as it does media lines, which keep their author).
    let ios_system =
        author.is_some() && text.starts_with('\u{200E}') && !classify::is_media_line(text);
    let system = author.is_none() || ios_system;
    Some(Line {
        header,
        author: if system { None } else { author },
        text,
        system,
    })
}

/// `author: text`, or `None` for a system line: the part before ": " is an author only if
/// it looks like a name (short, no quotation left open, no phrase only system lines use).
/// A quote left open means the colon is inside a quoted subject: `You created group
/// "Trip: 2023"`; a name may hold a closed one: `Ann "Nini" Lee`.
fn split_author(rest: &str) -> (Option<&str>, &str) {
    let Some(i) = rest.find(": ") else {
        return (None, rest);
    };
    if i == 0 {
        // An author field with no visible name (only direction marks, seen in real
        // exports): a message by someone unnamed, not a system line.
        return (Some(""), &rest[2..]);
    }
    let name = rest[..i].trim_matches(header::is_mark).trim();
    let quotes = |set: &[char]| name.chars().filter(|c| set.contains(c)).count();
    let quoted = quotes(&['"']) % 2 == 1
        || quotes(&['“', '”', '„', '«', '»', '「', '」', '『', '』']) % 2 == 1;
    let long = name.chars().count() > MAX_AUTHOR_CHARS
        || name.split_whitespace().count() > MAX_AUTHOR_WORDS;
    if name.is_empty() || quoted || long || lang::is_system_sentence(name) {
        return (None, rest);
    }
    (Some(name), &rest[i + 2..])
}

/// The year of a file time, in local time (as the phone wrote the export).
fn year_of(t: std::time::SystemTime) -> Option<u32> {
    use chrono::Datelike;
    u32::try_from(chrono::DateTime::<chrono::Local>::from(t).year()).ok()
}

/// This year, for month-name dates without a year in a text with no file time.
fn current_year() -> u32 {
    year_of(std::time::SystemTime::now()).unwrap_or(2000)
}

/// What the first pass learns of a chat text.
struct Survey {
    order: DateOrder,
    /// The year of month-name dates that leave it out (the export's own year): the last
    /// year the file writes, else (set by the caller) the year the file was last changed.
    year: Option<u32>,
    /// Authors and how many messages each wrote.
    authors: BTreeMap<String, u64>,
    group: bool,
}

fn survey<R: BufRead>(reader: R) -> std::io::Result<Survey> {
    let mut lines = Lines::new(reader);
    let mut vote = header::OrderVote::default();
    let mut year = None;
    let mut authors = BTreeMap::new();
    let mut group = false;
    while let Some(line) = lines.next_line()? {
        if let Some(l) = split_line(&line) {
            if !l.header.named {
                vote.add(l.header.fields, l.header.pm.is_some());
            } else if l.header.fields[0] != 0 {
                year = year.max(Some(l.header.fields[0]));
            }
            match l.author {
                Some("") => {}
                Some(a) => *authors.entry(a.to_string()).or_insert(0) += 1,
                None => group |= lang::is_group_system(l.text),
            }
        }
    }
    Ok(Survey {
        order: vote.decide(),
        year,
        authors,
        group,
    })
}

/// Whether a file is a WhatsApp export: a `.txt` whose first lines hold a header, or a zip
/// holding `_chat.txt` or such a `.txt`.
pub fn looks_like_export(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if name.ends_with(".zip") {
        return File::open(path)
            .ok()
            .and_then(|f| zip::ZipArchive::new(f).ok())
            .is_some_and(|mut z| chat_entry(&mut z).is_some());
    }
    if !name.ends_with(".txt") {
        return false;
    }
    File::open(path).is_ok_and(starts_like_chat)
}

/// Whether the first lines of a text hold a message header.
fn starts_like_chat(r: impl Read) -> bool {
    let mut lines = Lines::new(BufReader::new(r.take(64 * 1024)));
    for _ in 0..20 {
        match lines.next_line() {
            Ok(Some(l)) if header::parse(&l).is_some() => return true,
            Ok(Some(_)) => {}
            _ => return false,
        }
    }
    false
}

/// The chat text inside a zip: `_chat.txt` (iOS), else the first `.txt` whose first lines
/// hold a header (Android zips name it after the chat).
fn chat_entry<R: Read + std::io::Seek>(zip: &mut zip::ZipArchive<R>) -> Option<String> {
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    if names.iter().any(|n| n == "_chat.txt") {
        return Some("_chat.txt".into());
    }
    let mut txt: Vec<&String> = names
        .iter()
        .filter(|n| n.to_lowercase().ends_with(".txt") && !n.ends_with('/'))
        .collect();
    txt.sort();
    for n in txt {
        let ok = zip.by_name(n).map(starts_like_chat).unwrap_or(false);
        if ok {
            return Some(n.clone());
        }
    }
    None
}

/// How deep below an export's root chats may lie.
pub(crate) const DEPTH: usize = 3;

/// Whether a file named `name` may hold a chat (a `.txt` or a `.zip`; [`looks_like_export`]
/// tells).
pub(crate) fn may_be_chat(name: &str) -> bool {
    let n = name.to_lowercase();
    n.ends_with(".txt") || n.ends_with(".zip")
}

/// A WhatsApp export: a folder of chats, one `.txt`, or one `.zip`, its chats found once.
pub(crate) struct Export {
    root: PathBuf,
    /// The chats: `.txt` and `.zip` files that look like exports (`root` itself when it is
    /// a file).
    files: Vec<PathBuf>,
    options: Options,
}

impl Export {
    /// The export at `root`, whose `.txt` and `.zip` files are `candidates` (when it is a
    /// folder); fails if none of them is a chat.
    pub(crate) fn new(root: &Path, candidates: Vec<PathBuf>, options: Options) -> Result<Self> {
        let files: Vec<_> = if root.is_dir() {
            candidates
                .into_iter()
                .filter(|p| looks_like_export(p))
                .collect()
        } else {
            vec![root.to_path_buf()]
        };
        if files.is_empty() {
            return Err(Error::Source {
                path: root.into(),
                reason: "no WhatsApp chat (.txt with message lines, or .zip with one) found".into(),
            });
        }
        Ok(Export {
            root: root.to_path_buf(),
            files,
            options,
        })
    }
}

impl Source for Export {
    fn kind(&self) -> SourceKind {
        SourceKind::WhatsApp
    }

    fn read(self: Box<Self>, sink: &mut dyn ChatSink) -> Result<ReadOutcome> {
        read(&self.root, self.files, &self.options, sink)?;
        Ok(ReadOutcome::default())
    }
}

/// Reads the chats `files` of the WhatsApp export at `root`.
fn read(
    root: &Path,
    files: Vec<PathBuf>,
    options: &Options,
    sink: &mut dyn ChatSink,
) -> Result<()> {
    sink.account(&Default::default())?;
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
            read_zip(&file, &id, options, sink)?;
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
            let mut survey = survey(open()?).map_err(|e| Error::io("read", &file, e))?;
            if survey.year.is_none() {
                survey.year = std::fs::metadata(&file)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(year_of);
            }
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
                let present = in_backup && classify::safe(name) && media_dir.join(name).is_file();
                (path, present)
            };
            let chat = ChatFile {
                id: &id,
                name: chat_name(&id, None),
                file: &file,
            };
            parse_chat(open()?, &survey, &chat, options, &locate, sink)
                .map_err(|e| Error::io("read", &file, e))??;
        }
    }
    Ok(())
}

fn zip_error(path: &Path, e: zip::result::ZipError) -> Error {
    Error::Source {
        path: path.into(),
        reason: format!("the zip archive is damaged or truncated ({e})"),
    }
}

fn read_zip(path: &Path, id: &str, options: &Options, sink: &mut dyn ChatSink) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| zip_error(path, e))?;
    let mut names = std::collections::BTreeSet::new();
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
    let entry_name = chat_entry(&mut zip).ok_or_else(|| Error::Source {
        path: path.into(),
        reason: "no chat text (_chat.txt, or a .txt with message lines) in the archive".into(),
    })?;
    let (size, compressed) = {
        let entry = zip.by_name(&entry_name).map_err(|e| zip_error(path, e))?;
        (entry.size(), entry.compressed_size())
    };
    if let Some(why) = crate::zip_guard::refusal(size, compressed, MAX_ZIP_TEXT) {
        return Err(Error::Source {
            path: path.into(),
            reason: format!("{entry_name}: {why}"),
        });
    }
    let damaged = |e: std::io::Error| Error::Source {
        path: path.into(),
        reason: format!("{entry_name} cannot be read: the archive is damaged or truncated ({e})"),
    };
    // Two passes over the decompressed stream without holding it: the text is streamed from
    // the archive each time.
    let survey = {
        let mut entry = zip.by_name(&entry_name).map_err(|e| zip_error(path, e))?;
        let written = entry.last_modified().map(|t| u32::from(t.year()));
        let mut survey = survey(BufReader::new((&mut entry).take(size))).map_err(damaged)?;
        survey.year = survey.year.or(written);
        survey
    };
    // Media sit beside the text in the archive.
    let dir = entry_name.rsplit_once('/').map(|(d, _)| d.to_string());
    let locate = |name: &str| {
        let full = match &dir {
            Some(d) => format!("{d}/{name}"),
            None => name.to_string(),
        };
        let present = names.contains(&full);
        (full, present)
    };
    let inner = (entry_name != "_chat.txt").then_some(entry_name.as_str());
    let chat = ChatFile {
        id,
        name: chat_name(id, inner),
        file: path,
    };
    let mut entry = zip.by_name(&entry_name).map_err(|e| zip_error(path, e))?;
    parse_chat(
        BufReader::new((&mut entry).take(size)),
        &survey,
        &chat,
        options,
        &locate,
        sink,
    )
    .map_err(damaged)?
}

/// Parses one chat text held in memory into `sink`, as the conversation `conversation`
/// (its name taken from it as from a file name); attachments are never present. Public
/// for fuzzing and tools.
pub fn parse_text(
    text: &[u8],
    conversation: &str,
    options: &Options,
    sink: &mut dyn ChatSink,
) -> Result<()> {
    let survey = survey(text).map_err(|e| Error::io("read", Path::new(conversation), e))?;
    let chat = ChatFile {
        id: conversation,
        name: chat_name(conversation, None),
        file: Path::new(conversation),
    };
    parse_chat(
        text,
        &survey,
        &chat,
        options,
        &|n: &str| (n.to_string(), false),
        sink,
    )
    .map_err(|e| Error::io("read", Path::new(conversation), e))?
}

/// The chat's name: from the export's file name in any language ("WhatsApp Chat with Ann",
/// "WhatsApp Chat mit Ann", "与Ann的 WhatsApp 聊天"), else the file's name. `inner` is the
/// chat text's name inside a zip, when it is not `_chat.txt`.
fn chat_name(id: &str, inner: Option<&str>) -> ChatName {
    let stem = |s: &str| {
        let base = s.rsplit('/').next().unwrap_or(s);
        let lower = base.to_lowercase();
        if lower.ends_with(".txt") || lower.ends_with(".zip") {
            base[..base.len() - 4].to_string()
        } else {
            base.to_string()
        }
    };
    for candidate in inner.into_iter().chain([id]) {
        if let Some(n) = lang::chat_name_from_file(&stem(candidate)) {
            return ChatName {
                name: n,
                from_file_name: true,
            };
        }
    }
    ChatName {
        name: stem(id),
        from_file_name: false,
    }
}

struct ChatName {
    name: String,
    /// WhatsApp wrote it in the file's name (it is the partner of a one-to-one chat, or the
    /// group's subject).
    from_file_name: bool,
}

struct ChatFile<'a> {
    id: &'a str,
    name: ChatName,
    file: &'a Path,
}

/// Who the phone's owner is among the authors: the user's word, else, in a one-to-one chat
/// named after the partner, the author who is not the partner.
fn owner(survey: &Survey, chat: &ChatFile, options: &Options) -> Option<String> {
    if let Some(me) = &options.me {
        return Some(me.clone());
    }
    if !chat.name.from_file_name || survey.group {
        return None;
    }
    let others: Vec<&String> = survey
        .authors
        .keys()
        .filter(|a| **a != chat.name.name)
        .collect();
    let partner_wrote = survey.authors.contains_key(&chat.name.name);
    match (others.as_slice(), partner_wrote) {
        ([me], _) => Some((*me).clone()),
        _ => None,
    }
}

/// Gives each message of a text export an id made of what it says: a text export has no
/// message ids, and line numbers shift when the phone deletes older messages, so two
/// exports of one chat a month apart would otherwise share no message. The id is a hash of
/// the time, the author and the text, and which of equal ones it is (they share a
/// minute, so only the current minute's are counted): `t` + 16 hex digits [+ `-n`].
struct ContentIds<'a> {
    inner: &'a mut dyn ChatSink,
    minute: i64,
    seen: std::collections::HashMap<u64, u32>,
}

impl<'a> ContentIds<'a> {
    fn new(inner: &'a mut dyn ChatSink) -> Self {
        ContentIds {
            inner,
            minute: i64::MIN,
            seen: std::collections::HashMap::new(),
        }
    }
}

impl ChatSink for ContentIds<'_> {
    fn account(&mut self, account: &Account) -> Result<()> {
        self.inner.account(account)
    }
    fn contact(&mut self, contact: &Contact) -> Result<()> {
        self.inner.contact(contact)
    }
    fn conversation(&mut self, conversation: &Conversation) -> Result<()> {
        self.inner.conversation(conversation)
    }
    fn message(&mut self, mut m: Message) -> Result<()> {
        let ms = m.time.millis();
        if ms != self.minute {
            self.minute = ms;
            self.seen.clear();
        }
        let mut h = blake3::Hasher::new();
        h.update(&ms.to_le_bytes());
        for part in [
            m.sender_name
                .as_deref()
                .or(m.sender.as_deref())
                .unwrap_or(""),
            &m.text,
        ] {
            h.update(&(part.len() as u64).to_le_bytes())
                .update(part.as_bytes());
        }
        let mut x = [0u8; 8];
        x.copy_from_slice(&h.finalize().as_bytes()[..8]);
        let x = u64::from_le_bytes(x);
        let n = self.seen.entry(x).or_insert(0);
        m.id = if *n == 0 {
            format!("t{x:016x}")
        } else {
            format!("t{x:016x}-{n}")
        };
        *n += 1;
        self.inner.message(m)
    }
    fn warning(&mut self, warning: String) {
        self.inner.warning(warning)
    }
    fn media_key(&mut self, path: &str, key: &MediaKey) -> Result<()> {
        self.inner.media_key(path, key)
    }
}

/// A message being assembled from its header line and continuation lines.
struct Pending {
    msg: Message,
    truncated: bool,
}

impl Pending {
    fn push_line(&mut self, line: &str) {
        if self.msg.text.len() + line.len() + 1 > MAX_MESSAGE {
            self.truncated = true;
            return;
        }
        self.msg.text.push('\n');
        self.msg.text.push_str(line);
        if let Some(raw) = self.msg.raw.as_mut() {
            raw.push('\n');
            raw.push_str(line);
        }
    }
}

/// Parses one chat text. The outer `io::Result` is the reader's; the inner is the sink's.
fn parse_chat<R: BufRead>(
    reader: R,
    survey: &Survey,
    chat: &ChatFile,
    options: &Options,
    locate: &dyn Fn(&str) -> (String, bool),
    sink: &mut dyn ChatSink,
) -> std::io::Result<Result<()>> {
    let me = owner(survey, chat, options);
    let mut identified = ContentIds::new(sink);
    let sink: &mut dyn ChatSink = &mut identified;
    let mut lines = Lines::new(reader);
    let mut pending: Option<Pending> = None;
    // Text before the first header, kept until the first message's time is known.
    let mut preamble: Vec<String> = Vec::new();
    let mut preamble_bytes = 0usize;
    let mut seq = 0u64;
    let mut last_ms = 0i64;
    let mut long_messages = 0u64;
    let new_message = |seq: u64, ms: i64, kind: MessageKind, text: String, raw: String| Message {
        id: seq.to_string(),
        server_id: None,
        conversation: chat.id.to_string(),
        sender: None,
        sender_name: None,
        from_me: false,
        time: Timestamp::Local(ms),
        kind,
        text,
        reply_to: None,
        quote: None,
        media: None,
        raw: Some(raw),
        edited: false,
        details: MessageDetails::default(),
    };
    // A line that is no message of its own, kept as it stands.
    let unparsed = |seq: u64, ms: i64, line: &str| {
        new_message(seq, ms, MessageKind::Unparsed, line.into(), line.into())
    };
    let flush = |p: Option<Pending>, sink: &mut dyn ChatSink, long: &mut u64| -> Result<()> {
        if let Some(mut p) = p {
            if p.truncated {
                *long += 1;
            }
            classify::finish(&mut p.msg, locate);
            sink.message(p.msg)?;
        }
        Ok(())
    };
    while let Some(line) = lines.next_line()? {
        let parsed = split_line(&line);
        let year = survey.year.unwrap_or_else(current_year);
        let stamped = parsed
            .as_ref()
            .map(|l| l.header.timestamp(survey.order, year));
        let (l, ms) = match (parsed, stamped) {
            (Some(l), Some(Some(ms))) => (l, ms),
            (Some(_), Some(None)) => {
                // A header with a date that does not exist: kept as it is, never merged
                // into the message before it.
                if let Err(e) = flush(pending.take(), sink, &mut long_messages) {
                    return Ok(Err(e));
                }
                seq += 1;
                if let Err(e) = sink.message(unparsed(seq, last_ms, &line)) {
                    return Ok(Err(e));
                }
                continue;
            }
            _ => {
                match pending.as_mut() {
                    Some(p) => p.push_line(&line),
                    None if seq == 0 => {
                        if preamble_bytes + line.len() < MAX_MESSAGE {
                            preamble_bytes += line.len() + 1;
                            preamble.push(line);
                        }
                    }
                    // After an unparsed line: the line continues nothing; keep it visible.
                    None if line.trim().is_empty() => {}
                    None => {
                        seq += 1;
                        if let Err(e) = sink.message(unparsed(seq, last_ms, &line)) {
                            return Ok(Err(e));
                        }
                    }
                }
                continue;
            }
        };
        if let Err(e) = flush(pending.take(), sink, &mut long_messages) {
            return Ok(Err(e));
        }
        if seq == 0 && preamble.iter().any(|l| !l.trim().is_empty()) {
            let text = preamble.join("\n");
            seq += 1;
            sink.warning(format!(
                "{}: text before the first message line kept as an unparsed message",
                chat.file.display()
            ));
            let m = new_message(seq, ms, MessageKind::Unparsed, text.clone(), text);
            if let Err(e) = sink.message(m) {
                return Ok(Err(e));
            }
        }
        preamble.clear();
        seq += 1;
        last_ms = ms;
        let kind = if l.system {
            MessageKind::System
        } else {
            MessageKind::Text
        };
        let text = l.text.trim_start_matches(header::is_mark).to_string();
        let mut msg = new_message(seq, ms, kind, text, line.clone());
        if let Some(a) = l.author {
            msg.sender = Some(a.to_string());
            msg.sender_name = Some(a.to_string());
            msg.from_me = me.as_deref() == Some(a);
        }
        pending = Some(Pending {
            msg,
            truncated: false,
        });
    }
    if let Err(e) = flush(pending.take(), sink, &mut long_messages) {
        return Ok(Err(e));
    }
    if lines.truncated > 0 || long_messages > 0 {
        sink.warning(format!(
            "{}: {} over-long lines or messages were cut",
            chat.file.display(),
            lines.truncated + long_messages
        ));
    }
    if seq == 0 {
        return Ok(Err(Error::Source {
            path: chat.file.into(),
            reason: "no message lines found (is it a WhatsApp export?)".into(),
        }));
    }
    let kind = if survey.group || survey.authors.len() > 2 {
        ConversationKind::Group
    } else {
        ConversationKind::Direct
    };
    Ok(sink.conversation(&Conversation {
        id: chat.id.to_string(),
        name: chat.name.name.clone(),
        kind,
        members: survey.authors.keys().cloned().collect(),
    }))
}
#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

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
        fn media_key(&mut self, _: &str, _: &crate::sources::model::MediaKey) -> Result<()> {
            Ok(())
        }
    }

    fn parse_named(text: &str, id: &str, options: &Options) -> Collect {
        let mut c = Collect::default();
        let survey = survey(text.as_bytes()).unwrap();
        let locate = |n: &str| (n.to_string(), n.starts_with("IMG") || n.contains("PHOTO"));
        let chat = ChatFile {
            id,
            name: chat_name(id, None),
            file: Path::new(id),
        };
        parse_chat(text.as_bytes(), &survey, &chat, options, &locate, &mut c)
            .unwrap()
            .unwrap();
        c
    }

    fn parse(text: &str) -> Collect {
        parse_named(text, "chat", &Options::default())
    }

    fn infer_order(text: &[u8]) -> std::io::Result<DateOrder> {
        survey(text).map(|s| s.order)
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

    /// Exports from 2013–2015 write month names, and leave out the export's own year.
    #[test]
    fn month_name_headers_of_old_exports() {
        let c = parse(
            "19:23, 28 Aug 2013 - Tanay: Viresh joined\n\
             Mar 5, 8:11 PM - Aravind: Whoa. You changed your dp\n\
             18 Mar 12:14 - Shaggy changed the subject to \u{201C}The horde\u{201D}\n\
             Aug 28, 2013, 7:05 AM - Ann: hi\n\
             5. Mär. 2014 08:15 - Jens: Hallo",
        );
        let t: Vec<_> = c.messages.iter().map(|m| m.time).collect();
        assert_eq!(t[0], Timestamp::Local(ts(2013, 8, 28, 19, 23, 0)));
        // No year written: the last year the file writes (2014).
        assert_eq!(t[1], Timestamp::Local(ts(2014, 3, 5, 20, 11, 0)));
        assert_eq!(t[2], Timestamp::Local(ts(2014, 3, 18, 12, 14, 0)));
        assert_eq!(c.messages[1].sender.as_deref(), Some("Aravind"));
        assert_eq!(c.messages[1].text, "Whoa. You changed your dp");
        assert!(c.messages[2].sender.is_none(), "a system line");
        assert_eq!(t[3], Timestamp::Local(ts(2013, 8, 28, 7, 5, 0)));
        assert_eq!(t[4], Timestamp::Local(ts(2014, 3, 5, 8, 15, 0)));
        assert_eq!(c.messages.len(), 5);
        // A word that is not a month is no header: the line continues the message before.
        let c = parse("Mar 5, 8:11 PM - a: x\nChat 5, 8:12 PM - b: y");
        assert_eq!(c.messages.len(), 1);
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
        let r = parse_text(bytes, "x.txt", &Options::default(), &mut c);
        assert!(r.is_err(), "no message lines is an error naming the file");
    }

    #[test]
    fn localized_headers() {
        let cases = [
            (
                "2022. 12. 31. 오후 11:59 - a: m",
                ts(2022, 12, 31, 23, 59, 0),
            ),
            ("2022/12/31 下午11:59 - a: m", ts(2022, 12, 31, 23, 59, 0)),
            ("2022/12/31 上午12:05 - a: m", ts(2022, 12, 31, 0, 5, 0)),
            ("31/12/2022 à 23:59 - a: m", ts(2022, 12, 31, 23, 59, 0)),
            (
                "\u{200F}٣١\u{200F}/١٢\u{200F}/٢٠٢٢، ١١:٥٩\u{00A0}م - a: m",
                ts(2022, 12, 31, 23, 59, 0),
            ),
            ("[۳۱/۱۲/۲۰۲۲, ۲۳:۵۹:۰۱] a: m", ts(2022, 12, 31, 23, 59, 1)),
            ("[3/18/2565 BE, 14:56:01] a: m", ts(2022, 3, 18, 14, 56, 1)),
            ("[3/18/R4, 14:56:01] a: m", ts(2022, 3, 18, 14, 56, 1)),
            ("[21:41:35, 27/3/2022] a: m", ts(2022, 3, 27, 21, 41, 35)),
            ("31.12.22, 11:59 nachm. - a: m", ts(2022, 12, 31, 23, 59, 0)),
            (
                "31/12/22, 11:59\u{202F}p.\u{202F}m. - a: m",
                ts(2022, 12, 31, 23, 59, 0),
            ),
            (
                "\u{FEFF}31.12.22, 23:59 - a: m",
                ts(2022, 12, 31, 23, 59, 0),
            ),
            (
                "\u{200E}\u{202A}31.12.22, 23:59 - a: m",
                ts(2022, 12, 31, 23, 59, 0),
            ),
            ("2022-12-31 23:59 - a: m", ts(2022, 12, 31, 23, 59, 0)),
            ("31.12.2022 klo 23.59 - a: m", ts(2022, 12, 31, 23, 59, 0)),
            ("31-12-2022 23:59 - a: m", ts(2022, 12, 31, 23, 59, 0)),
            ("31/12/22 23.59 - a: m", ts(2022, 12, 31, 23, 59, 0)),
            ("31/12/2565 23:59 - a: m", ts(2022, 12, 31, 23, 59, 0)),
            (
                "2022年12月31日 下午11:59 - a: m",
                ts(2022, 12, 31, 23, 59, 0),
            ),
            (
                "13/01/2021, 9:15 in the morning - a: m",
                ts(2021, 1, 13, 9, 15, 0),
            ),
            (
                "13/01/2021, 3:15 in the afternoon - a: m",
                ts(2021, 1, 13, 15, 15, 0),
            ),
            (
                "13/01/2021, 10:15 at night - a: m",
                ts(2021, 1, 13, 22, 15, 0),
            ),
            (
                "13/01/2021, 12:15 at night - a: m",
                ts(2021, 1, 13, 0, 15, 0),
            ),
            ("31.12.22, 2:05 nachts - a: m", ts(2022, 12, 31, 2, 5, 0)),
            ("7/1/16, 4:56:55 PM: a: m", ts(2016, 7, 1, 16, 56, 55)),
        ];
        for (text, want) in cases {
            let c = parse(text);
            assert_eq!(c.messages.len(), 1, "{text}");
            assert_eq!(c.messages[0].time, Timestamp::Local(want), "{text}");
            assert_eq!(c.messages[0].sender.as_deref(), Some("a"), "{text}");
            assert_eq!(c.messages[0].text, "m", "{text}");
        }
        // Text that starts like a date is not a header.
        let c = parse("31.12.22, 23:59 - a: m\n1.2.3 is out\n12/31 – see you");
        assert_eq!(c.messages.len(), 1);
        assert_eq!(c.messages[0].text, "m\n1.2.3 is out\n12/31 – see you");
    }

    #[test]
    fn system_lines_never_yield_an_author() {
        let text = "12.01.23, 10:00 - Nachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt. Niemand außerhalb dieses Chats kann sie lesen: Tippe, um mehr zu erfahren.\n\
            12.01.23, 10:01 - Jürgen hat den Betreff zu Reise: 2023 geändert\n\
            12.01.23, 10:02 - Du hast die Gruppe „Ausflug: Harz“ erstellt\n\
            12.01.23, 10:03 - Jürgen: Hallo: wie geht's?\n\
            12.01.23, 10:04 - Ann \"Nini\" Lee: hi there\n\
            12.01.23, 10:05 - Bea „Bee“ Ko: <Medien ausgeschlossen>\n\
            12.01.23, 10:06 - Ann Left: a name is not a system phrase\n\
            12.01.23, 10:07 - \u{200E}: someone with no visible name\n";
        let c = parse(text);
        let m = &c.messages;
        assert_eq!(m.len(), 8);
        for s in &m[..3] {
            assert_eq!(s.kind, MessageKind::System, "{}", s.text);
            assert_eq!(s.sender, None, "{}", s.text);
        }
        assert_eq!(m[3].sender.as_deref(), Some("Jürgen"));
        assert_eq!(m[3].text, "Hallo: wie geht's?");
        assert_eq!(m[4].sender.as_deref(), Some("Ann \"Nini\" Lee"));
        assert_eq!(m[4].text, "hi there");
        assert_eq!(m[5].sender.as_deref(), Some("Bea „Bee“ Ko"));
        assert_eq!(m[5].kind, MessageKind::File);
        assert_eq!(m[6].sender.as_deref(), Some("Ann Left"));
        assert_eq!(m[7].kind, MessageKind::Text);
        assert_eq!(m[7].sender.as_deref(), Some(""));
        assert_eq!(m[7].text, "someone with no visible name");
        assert_eq!(c.conversations[0].kind, ConversationKind::Group);
        assert_eq!(
            c.conversations[0].members,
            ["Ann \"Nini\" Lee", "Ann Left", "Bea „Bee“ Ko", "Jürgen"]
        );
    }

    #[test]
    fn nothing_is_thrown_away() {
        let text = "exported by a tool\nsecond line\n\
            31.12.22, 23:59 - a: first\n\
            31.02.22, 23:59 - a: a date that does not exist\n\
            more after it\n\
            01.01.23, 00:01 - b: last\n";
        let c = parse(text);
        let m = &c.messages;
        let kinds: Vec<_> = m.iter().map(|x| x.kind).collect();
        assert_eq!(
            kinds,
            [
                MessageKind::Unparsed,
                MessageKind::Text,
                MessageKind::Unparsed,
                MessageKind::Unparsed,
                MessageKind::Text
            ]
        );
        assert_eq!(m[0].text, "exported by a tool\nsecond line");
        assert_eq!(
            m[0].time, m[1].time,
            "the preamble takes the first message's time"
        );
        assert_eq!(m[2].text, "31.02.22, 23:59 - a: a date that does not exist");
        assert_eq!(m[3].text, "more after it");
        // Every message keeps the lines it came from.
        assert_eq!(m[1].raw.as_deref(), Some("31.12.22, 23:59 - a: first"));
        assert!(c.warnings.iter().any(|w| w.contains("unparsed")));
    }

    #[test]
    fn the_owner_is_inferred_from_the_file_name_or_given() {
        let text = "31.12.22, 23:58 - Jürgen: Hallo\n31.12.22, 23:59 - Lea: Hi\n\
            01.01.23, 00:00 - Lea: Du hast diese Nachricht gelöscht.\n";
        let c = parse_named(text, "WhatsApp Chat mit Jürgen.txt", &Options::default());
        assert_eq!(c.conversations[0].name, "Jürgen");
        let mine: Vec<bool> = c.messages.iter().map(|m| m.from_me).collect();
        assert_eq!(mine, [false, true, true]);
        // A name that says nothing: nobody is the owner unless the user says.
        let c = parse_named(text, "chat.txt", &Options::default());
        assert!(c
            .messages
            .iter()
            .all(|m| !m.from_me || m.kind == MessageKind::Revoke));
        let me = Options {
            me: Some("Jürgen".into()),
        };
        let c = parse_named(text, "chat.txt", &me);
        assert!(c.messages[0].from_me && !c.messages[1].from_me);
        // Chinese file names put the name inside.
        let c = parse_named(
            "2022/12/31 下午11:59 - 王芳: 你好\n2022/12/31 下午11:59 - 李雷: 好\n",
            "与王芳的 WhatsApp 聊天.txt",
            &Options::default(),
        );
        assert_eq!(c.conversations[0].name, "王芳");
        assert!(c.messages[1].from_me && !c.messages[0].from_me);
    }
}
