//! Telegram Desktop's HTML export, its default format.
//!
//! One chat: a folder with `messages.html`, `messages2.html`, … (1000 messages a page) beside
//! `photos/`, `files/`, `video_files/`, `voice_messages/`, `round_video_messages/`,
//! `stickers/`, `animations/`, `contacts/`. The whole account: `export_results.html`,
//! `lists/chats.html` and `chats/chat_NN/messages*.html`.
//!
//! Pages are read one at a time (each is at most [`MAX_PAGE`] bytes), tokenized with
//! `html5gum` into a small element tree, and every `div.message` becomes one message.
//!
//! What HTML does not carry, compared with `result.json`:
//! * no user ids: `sender` is the sender's display name (as `sender_name`);
//! * no "edited" mark: `edited` is always false;
//! * service lines (joins, pins, …) have no time and no sender: they take the time of the
//!   message before them (or after, at the top of a page);
//! * a reply into another chat names neither the chat nor the message: `reply_to` is empty;
//! * a sticker drawn as a picture has no emoji; users mentioned by name have no id;
//! * "saved from" is not shown.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use html5gum::{DefaultEmitter, Token, Tokenizer};

use crate::error::{Error, Result};
use crate::sources::model::{
    Account, ChatSink, Conversation, ConversationKind, MediaKind, MediaRef, Message,
    MessageDetails, MessageKind, Place, Poll, PollAnswer, Reaction, Timestamp,
};
use crate::sources::rel_path;
use crate::sources::telegram::{
    call_text, is_url, parse_duration, place_text, resolve_inside, CallEnd,
};

/// The largest page read (tdesktop writes 1000 messages a page: a few MB).
pub const MAX_PAGE: u64 = 64 << 20;
/// Elements nested deeper than this are flattened into their parent.
const MAX_DEPTH: usize = 128;
/// Pages of one chat read at most.
const MAX_PAGES: usize = 100_000;

// ---------------------------------------------------------------------------------------
// A minimal element tree.

#[derive(Debug, Default)]
struct El {
    tag: String,
    attrs: Vec<(String, String)>,
    kids: Vec<Kid>,
    start: usize,
    end: usize,
}

#[derive(Debug)]
enum Kid {
    El(usize),
    Text(String),
}

struct Doc<'a> {
    src: &'a [u8],
    els: Vec<El>,
}

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

impl<'a> Doc<'a> {
    fn parse(src: &'a [u8]) -> Doc<'a> {
        let mut els = vec![El {
            tag: "#root".into(),
            start: 0,
            end: src.len(),
            ..Default::default()
        }];
        let mut stack: Vec<usize> = vec![0];
        let mut emitter = DefaultEmitter::<usize>::new_with_span();
        emitter.naively_switch_states(true);
        for tok in Tokenizer::new_with_emitter(src, emitter) {
            let Ok(tok) = tok;
            match tok {
                Token::StartTag(t) => {
                    let tag = String::from_utf8_lossy(&t.name).to_ascii_lowercase();
                    let parent = *stack.last().unwrap_or(&0);
                    let idx = els.len();
                    let attrs = t
                        .attributes
                        .iter()
                        .take(16)
                        .map(|(k, v)| {
                            (
                                String::from_utf8_lossy(k).into_owned(),
                                String::from_utf8_lossy(&v.value).into_owned(),
                            )
                        })
                        .collect();
                    let void = t.self_closing || VOID.contains(&tag.as_str());
                    let start = t.span.start.min(src.len());
                    let end = t.span.end.clamp(start, src.len());
                    els.push(El {
                        tag,
                        attrs,
                        kids: Vec::new(),
                        start,
                        end,
                    });
                    els[parent].kids.push(Kid::El(idx));
                    if !void && stack.len() < MAX_DEPTH {
                        stack.push(idx);
                    }
                }
                Token::EndTag(t) => {
                    let name = String::from_utf8_lossy(&t.name).to_ascii_lowercase();
                    if let Some(pos) = stack.iter().rposition(|&i| i != 0 && els[i].tag == name) {
                        let end = t.span.end.min(src.len());
                        for &i in &stack[pos..] {
                            els[i].end = end.max(els[i].start);
                        }
                        stack.truncate(pos);
                    }
                }
                Token::String(s) => {
                    let parent = *stack.last().unwrap_or(&0);
                    let text = String::from_utf8_lossy(&s.value);
                    if let Some(Kid::Text(prev)) = els[parent].kids.last_mut() {
                        prev.push_str(&text);
                    } else {
                        els[parent].kids.push(Kid::Text(text.into_owned()));
                    }
                }
                _ => {}
            }
        }
        // Elements left open run to the end of the page.
        for &i in stack.iter().skip(1) {
            els[i].end = src.len();
        }
        Doc { src, els }
    }

    fn attr(&self, e: usize, name: &str) -> Option<&str> {
        self.els[e]
            .attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_class(&self, e: usize, class: &str) -> bool {
        self.attr(e, "class")
            .is_some_and(|c| c.split_ascii_whitespace().any(|x| x == class))
    }

    fn kids(&self, e: usize) -> impl Iterator<Item = usize> + '_ {
        self.els[e].kids.iter().filter_map(|k| match k {
            Kid::El(i) => Some(*i),
            Kid::Text(_) => None,
        })
    }

    /// The first element child of `e` with all of `classes`.
    fn child(&self, e: usize, classes: &[&str]) -> Option<usize> {
        self.kids(e)
            .find(|&k| classes.iter().all(|c| self.has_class(k, c)))
    }

    /// The text of the first descendant of `e` with `class`; empty if there is none.
    fn find_text(&self, e: usize, class: &str) -> String {
        self.find(e, &[class])
            .map(|x| self.text(x))
            .unwrap_or_default()
    }

    /// The first descendant of `e` (depth first) with all of `classes`.
    fn find(&self, e: usize, classes: &[&str]) -> Option<usize> {
        let mut todo: Vec<usize> = self.kids(e).collect();
        todo.reverse();
        while let Some(k) = todo.pop() {
            if classes.iter().all(|c| self.has_class(k, c)) {
                return Some(k);
            }
            let mut more: Vec<usize> = self.kids(k).collect();
            more.reverse();
            todo.extend(more);
        }
        None
    }

    /// Every descendant of `e` with all of `classes`, not looking inside a match.
    fn find_all(&self, e: usize, classes: &[&str]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut todo: Vec<usize> = self.kids(e).collect();
        todo.reverse();
        while let Some(k) = todo.pop() {
            if classes.iter().all(|c| self.has_class(k, c)) {
                out.push(k);
                continue;
            }
            let mut more: Vec<usize> = self.kids(k).collect();
            more.reverse();
            todo.extend(more);
        }
        out
    }

    /// Plain text of `e`: `<br>` is a newline; the exporter's own line breaks and indentation
    /// (never part of a message: its newlines are written as `<br>`) are dropped. Hrefs of
    /// `<a>` elements that are addresses go to `links`. Elements with a class in `skip` are
    /// left out.
    fn text_into(&self, e: usize, out: &mut String, links: &mut Vec<String>, skip: &[&str]) {
        let mut todo: Vec<Option<&Kid>> = self.els[e].kids.iter().rev().map(Some).collect();
        while let Some(k) = todo.pop() {
            match k {
                None => {}
                Some(Kid::Text(t)) => push_text(out, t),
                Some(Kid::El(i)) => {
                    let el = &self.els[*i];
                    if el.tag == "br" {
                        out.push('\n');
                        continue;
                    }
                    if skip.iter().any(|c| self.has_class(*i, c)) {
                        continue;
                    }
                    if el.tag == "a" {
                        if let Some(h) = self.attr(*i, "href") {
                            let h = h.trim();
                            if is_url(h) && links.len() < 1000 {
                                links.push(h.to_string());
                            }
                        }
                    }
                    todo.extend(el.kids.iter().rev().map(Some));
                }
            }
        }
    }

    /// Every `<a>` inside `e`.
    fn anchors(&self, e: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut todo: Vec<usize> = self.kids(e).collect();
        while let Some(k) = todo.pop() {
            if self.els[k].tag == "a" {
                out.push(k);
            }
            todo.extend(self.kids(k));
        }
        out.sort_unstable();
        out
    }

    fn text(&self, e: usize) -> String {
        let mut s = String::new();
        self.text_into(e, &mut s, &mut Vec::new(), &[]);
        s.trim().to_string()
    }

    fn raw(&self, e: usize) -> String {
        let el = &self.els[e];
        let end = el.end.min(self.src.len());
        let start = el.start.min(end);
        String::from_utf8_lossy(&self.src[start..end]).into_owned()
    }
}

/// Appends text as written in the page, without the exporter's formatting: a raw newline and
/// the spaces after it.
fn push_text(out: &mut String, t: &str) {
    let mut skipping = false;
    for c in t.chars() {
        if c == '\n' || c == '\r' {
            skipping = true;
        } else if skipping && (c == ' ' || c == '\t') {
        } else {
            skipping = false;
            out.push(c);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reading.

/// What carries over from one message (and page) to the next.
#[derive(Debug, Default, Clone)]
pub struct PageState {
    /// Sender of the last non-service message (joined messages have no name of their own).
    last_sender: Option<String>,
    last_via: Option<String>,
    last_forwarded: Option<String>,
    /// Time of the last message that had one.
    last_time: Option<Timestamp>,
    /// Distinct senders seen (to tell a group from a direct chat).
    senders: Vec<String>,
    group_hint: bool,
    unparsed: u64,
    /// The chat's name from the page header.
    pub chat_name: Option<String>,
    /// The account owner's name (full export), to set `from_me`.
    pub me: Option<String>,
    /// Messages read.
    pub messages: u64,
}

/// Where a page is: what its relative paths resolve against.
pub struct PageContext<'p> {
    /// The export root (media outside it never become media paths).
    pub root: &'p Path,
    /// The folder holding the page.
    pub dir: &'p Path,
    /// File name of the page (`messages2.html`), to name it in ids and warnings.
    pub page: &'p str,
    /// Conversation id.
    pub conversation: &'p str,
    /// Whether files are checked for presence (false when only the page is read).
    pub check_files: bool,
}

/// Reads one `messages*.html` page from `bytes` into `sink`, carrying `state` from the page
/// before. Public for fuzzing and tools.
pub fn read_html_page(
    bytes: &[u8],
    cx: &PageContext<'_>,
    state: &mut PageState,
    sink: &mut dyn ChatSink,
) -> Result<()> {
    let doc = Doc::parse(bytes);
    if state.chat_name.is_none() {
        if let Some(h) = doc.find(0, &["page_header"]) {
            let name = doc
                .find(h, &["text", "bold"])
                .map(|t| doc.text(t))
                .unwrap_or_default();
            if !name.is_empty() {
                state.chat_name = Some(name);
            }
        }
    }
    let msgs = doc.find_all(0, &["message"]);
    // Times known on this page, for service lines (which have none).
    let times: Vec<Option<Timestamp>> = msgs
        .iter()
        .map(|&m| {
            doc.find(m, &["pull_right", "date"])
                .and_then(|d| doc.attr(d, "title"))
                .and_then(parse_date)
        })
        .collect();
    for (n, &m) in msgs.iter().enumerate() {
        let time = times[n];
        let fallback = state
            .last_time
            .or_else(|| times[n..].iter().flatten().next().copied());
        let msg = read_message(&doc, m, cx, state, time, fallback);
        if let Some(msg) = msg {
            if let Some(t) = time {
                state.last_time = Some(t);
            }
            state.messages += 1;
            sink.message(msg)?;
        }
    }
    Ok(())
}

fn unparsed(
    doc: &Doc<'_>,
    m: usize,
    cx: &PageContext<'_>,
    state: &mut PageState,
    why: &str,
    time: Option<Timestamp>,
) -> Message {
    state.unparsed += 1;
    let id = match doc.attr(m, "id").and_then(|i| i.strip_prefix("message")) {
        Some(i) if !i.is_empty() && i.len() < 40 => format!("unparsed-{i}"),
        _ => format!("unparsed-{}-{}", cx.page, state.unparsed),
    };
    let _ = why;
    senderless(doc, m, cx, id, time, MessageKind::Unparsed, doc.text(m))
}

/// A message of the page's conversation that no one sent (a service line, a block not
/// understood), kept with its HTML; at time 0 when the page gave none before it.
fn senderless(
    doc: &Doc<'_>,
    m: usize,
    cx: &PageContext<'_>,
    id: String,
    time: Option<Timestamp>,
    kind: MessageKind,
    text: String,
) -> Message {
    Message {
        id,
        server_id: None,
        conversation: cx.conversation.to_string(),
        sender: None,
        sender_name: None,
        from_me: false,
        time: time.unwrap_or(Timestamp::Local(0)),
        kind,
        text,
        reply_to: None,
        quote: None,
        media: None,
        raw: Some(doc.raw(m)),
        edited: false,
        details: MessageDetails::default(),
    }
}

/// Reply target of a `go_to_message` link: `#go_to_message12` or `messages2.html#go_to_message12`.
fn go_to(href: &str) -> Option<String> {
    let (page, frag) = href.split_once('#')?;
    let id = frag.strip_prefix("go_to_message")?;
    let page_ok = page.is_empty()
        || (page.starts_with("messages") && page.ends_with(".html") && !page.contains(['/', '\\']));
    (page_ok && !id.is_empty() && id.len() < 20 && id.bytes().all(|b| b.is_ascii_digit()))
        .then(|| id.to_string())
}

fn read_message(
    doc: &Doc<'_>,
    m: usize,
    cx: &PageContext<'_>,
    state: &mut PageState,
    time: Option<Timestamp>,
    fallback: Option<Timestamp>,
) -> Option<Message> {
    let id_attr = doc.attr(m, "id").unwrap_or_default();
    let num = id_attr.strip_prefix("message").unwrap_or_default();
    let service = doc.has_class(m, "service");
    let default = doc.has_class(m, "default");
    if service && num.starts_with('-') {
        // A date separator ("message-1"): not a message.
        return None;
    }
    let valid_id = !num.is_empty() && num.len() < 20 && num.bytes().all(|b| b.is_ascii_digit());
    if !valid_id || !(service || default) {
        return Some(unparsed(
            doc,
            m,
            cx,
            state,
            "unknown element",
            time.or(fallback),
        ));
    }
    let id = num.to_string();
    if service {
        let Some(body) = doc.child(m, &["body", "details"]) else {
            return Some(unparsed(
                doc,
                m,
                cx,
                state,
                "service without body",
                fallback,
            ));
        };
        let mut text = String::new();
        doc.text_into(body, &mut text, &mut Vec::new(), &[]);
        let text = text.trim().to_string();
        let reply_to = doc
            .anchors(body)
            .into_iter()
            .find_map(|a| doc.attr(a, "href").and_then(go_to));
        if text.contains(" created group ") || text.contains(" invited ") {
            state.group_hint = true;
        }
        state.last_sender = None;
        state.last_via = None;
        state.last_forwarded = None;
        return Some(Message {
            reply_to,
            ..senderless(doc, m, cx, id, fallback, MessageKind::System, text)
        });
    }
    let Some(body) = doc.child(m, &["body"]) else {
        return Some(unparsed(
            doc,
            m,
            cx,
            state,
            "message without body",
            time.or(fallback),
        ));
    };
    let Some(time) = time else {
        return Some(unparsed(
            doc,
            m,
            cx,
            state,
            "message without date",
            fallback,
        ));
    };
    let mut d = MessageDetails::default();
    // Sender: its own from_name, or the previous message's (joined messages).
    let (sender, via) = match doc.child(body, &["from_name"]) {
        Some(f) => split_via(&doc.text(f)),
        None => (state.last_sender.clone(), state.last_via.clone()),
    };
    d.via_bot = via.clone();
    // Forwarded: the content sits inside `div.forwarded.body`.
    let mut content = body;
    if let Some(fw) = doc.child(body, &["forwarded", "body"]) {
        content = fw;
        d.forwarded_from = match doc.child(fw, &["from_name"]) {
            Some(f) => {
                let mut s = String::new();
                doc.text_into(f, &mut s, &mut Vec::new(), &["date"]);
                let (name, v) = split_via(s.trim());
                if d.via_bot.is_none() {
                    d.via_bot = v;
                }
                name
            }
            None => state.last_forwarded.clone(),
        };
    }
    state.last_sender = sender.clone();
    state.last_via = via;
    state.last_forwarded = d.forwarded_from.clone();
    if let Some(s) = &sender {
        if !state.senders.contains(s) && state.senders.len() < 8 {
            state.senders.push(s.clone());
        }
    }
    let mut reply_to = None;
    if let Some(r) = doc.child(content, &["reply_to"]) {
        reply_to = doc
            .anchors(r)
            .into_iter()
            .find_map(|a| doc.attr(a, "href").and_then(go_to));
    }
    let mut text = String::new();
    if let Some(t) = doc.child(content, &["text"]) {
        doc.text_into(t, &mut text, &mut d.links, &[]);
    }
    d.author_signature = doc
        .child(content, &["signature"])
        .map(|s| doc.text(s))
        .filter(|s| !s.is_empty());
    let mut kind = MessageKind::Text;
    let mut media = None;
    if let Some(w) = doc.child(content, &["media_wrap"]) {
        match read_media(doc, w, cx, &mut d) {
            Some((k, mref, fallback_text)) => {
                kind = k;
                media = mref;
                if text.is_empty() {
                    text = fallback_text;
                }
            }
            None => {
                let mut msg = unparsed(doc, m, cx, state, "unknown media", Some(time));
                msg.id = id;
                msg.sender = sender.clone();
                msg.sender_name = sender;
                return Some(msg);
            }
        }
    }
    if let Some(r) = doc.child(body, &["reactions"]) {
        for x in doc.find_all(r, &["reaction"]) {
            let emoji = doc
                .find(x, &["emoji"])
                .map(|e| {
                    let custom = doc
                        .anchors(e)
                        .into_iter()
                        .next()
                        .and_then(|a| doc.attr(a, "href"))
                        .filter(|h| !h.trim().is_empty())
                        .and_then(|h| resolve_inside(cx.root, cx.dir, h.trim()))
                        .map(|p| rel_path(cx.root, &p));
                    custom.unwrap_or_else(|| doc.text(e))
                })
                .unwrap_or_default();
            let from: Vec<String> = doc
                .find(x, &["userpics"])
                .map(|u| {
                    doc.find_all(u, &["initials"])
                        .into_iter()
                        .chain(
                            doc.find_all(u, &["userpic"])
                                .into_iter()
                                .filter(|&p| doc.els[p].tag == "img"),
                        )
                        .filter_map(|p| doc.attr(p, "title").map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let count = doc
                .find(x, &["count"])
                .and_then(|c| doc.text(c).parse::<u64>().ok())
                .unwrap_or(from.len() as u64);
            d.reactions.push(Reaction { emoji, count, from });
        }
    }
    let from_me = match (&sender, &state.me) {
        (Some(s), Some(me)) => s == me,
        _ => false,
    };
    Some(Message {
        id,
        server_id: None,
        conversation: cx.conversation.to_string(),
        sender: sender.clone(),
        sender_name: sender,
        from_me,
        time,
        kind,
        text,
        reply_to,
        quote: None,
        media,
        raw: Some(doc.raw(m)),
        edited: false,
        details: d,
    })
}

/// "Name via @bot" → ("Name", "@bot").
fn split_via(s: &str) -> (Option<String>, Option<String>) {
    let s = s.trim();
    match s.rfind(" via @") {
        Some(i) => (
            Some(s[..i].trim().to_string()).filter(|x| !x.is_empty()),
            Some(s[i + 5..].trim().to_string()),
        ),
        None => (Some(s.to_string()).filter(|x| !x.is_empty()), None),
    }
}

fn media_ref(cx: &PageContext<'_>, href: Option<&str>, kind: MediaKind) -> MediaRef {
    let resolved = href
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .and_then(|h| resolve_inside(cx.root, cx.dir, h));
    match resolved {
        Some(full) => MediaRef {
            path: rel_path(cx.root, &full),
            kind,
            present: cx.check_files && full.is_file(),
            thumbnail: None,
        },
        None => MediaRef {
            path: String::new(),
            kind,
            present: false,
            thumbnail: None,
        },
    }
}

/// A media block: the message kind, its file, and a text for a message without one. `None`
/// for a block not understood.
fn read_media(
    doc: &Doc<'_>,
    w: usize,
    cx: &PageContext<'_>,
    d: &mut MessageDetails,
) -> Option<(MessageKind, Option<MediaRef>, String)> {
    let first = doc.kids(w).next()?;
    let href = doc.attr(first, "href");
    let has = |c: &str| doc.has_class(first, c);
    let with_file = |kind: MessageKind, media: MediaKind, text: String| {
        Some((kind, Some(media_ref(cx, href, media)), text))
    };
    if has("photo_wrap") {
        return with_file(MessageKind::Image, MediaKind::Image, String::new());
    }
    if has("sticker_wrap") {
        return with_file(MessageKind::Sticker, MediaKind::Sticker, String::new());
    }
    if has("video_file_wrap") || has("animated_wrap") {
        d.duration_seconds = doc
            .find(first, &["video_duration"])
            .and_then(|x| parse_duration(&doc.text(x)));
        return with_file(MessageKind::Video, MediaKind::Video, String::new());
    }
    if has("media_poll") {
        let question = doc
            .child(first, &["question"])
            .map(|q| doc.text(q))
            .unwrap_or_default();
        let closed = doc
            .child(first, &["details"])
            .is_some_and(|x| doc.text(x) == "Final results");
        let answers = doc
            .find_all(first, &["answer"])
            .into_iter()
            .map(|a| {
                let mut t = String::new();
                doc.text_into(a, &mut t, &mut Vec::new(), &["details"]);
                let t = t.trim();
                let t = t.strip_prefix("- ").unwrap_or(t).trim_end().to_string();
                let voters = doc
                    .child(a, &["details"])
                    .map(|x| votes(&doc.text(x)))
                    .unwrap_or(Some(0));
                PollAnswer { text: t, voters }
            })
            .collect();
        d.poll = Some(Poll {
            question: question.clone(),
            answers,
            closed,
        });
        return Some((MessageKind::Poll, None, question));
    }
    if !has("media") {
        return None;
    }
    let part = |c: &str| doc.find_text(first, c);
    let title = part("title");
    let description = part("description");
    let status = part("status");
    let status_head = status.split(", ").next().unwrap_or_default().to_string();
    if has("media_call") {
        let end = match status_head.split(" (").next().unwrap_or_default() {
            "Missed" | "Cancelled" => CallEnd::Missed,
            "Declined" => CallEnd::Declined,
            _ => CallEnd::Other,
        };
        d.duration_seconds = status
            .split_once(" (")
            .and_then(|(_, r)| r.strip_suffix(" seconds)"))
            .and_then(|n| n.trim().parse().ok());
        return Some((MessageKind::Call, None, call_text(end, d.duration_seconds)));
    }
    if has("media_voice_message") || has("media_audio_file") {
        d.duration_seconds = parse_duration(&status_head);
        if has("media_audio_file") && title != "Audio file" {
            if let Some((p, t)) = title.split_once(" \u{2013} ") {
                d.performer = Some(p.to_string());
                d.title = Some(t.to_string());
            }
        }
        return with_file(MessageKind::Voice, MediaKind::Audio, String::new());
    }
    if has("media_video") {
        if title != "Animation" {
            d.duration_seconds = parse_duration(&status_head);
        }
        return with_file(MessageKind::Video, MediaKind::Video, String::new());
    }
    if has("media_photo") {
        if title == "Sticker" {
            let emoji = if href.is_none() { status_head } else { status };
            let emoji = if parse_size(&emoji) {
                String::new()
            } else {
                emoji
            };
            return with_file(MessageKind::Sticker, MediaKind::Sticker, emoji);
        }
        return with_file(MessageKind::Image, MediaKind::Image, String::new());
    }
    if has("media_file") {
        let name = if title == "File" {
            String::new()
        } else {
            title
        };
        return with_file(MessageKind::File, MediaKind::File, name);
    }
    if has("media_contact") {
        let phone = status
            .strip_suffix(" - vCard")
            .unwrap_or(&status)
            .trim()
            .to_string();
        let text = [title.trim(), phone.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let vcard = href.map(|_| media_ref(cx, href, MediaKind::File));
        return Some((MessageKind::ContactCard, vcard, text));
    }
    if has("media_location") || has("media_live_location") || has("media_venue") {
        let mut place = Place::default();
        if has("media_venue") {
            place.title = Some(title).filter(|s| !s.is_empty());
            place.address = Some(description).filter(|s| !s.is_empty());
        }
        if let Some((a, b)) = href.and_then(map_coords) {
            place.latitude = Some(a);
            place.longitude = Some(b);
        } else if let Some((a, b)) = status.split_once(", ") {
            place.latitude = a.trim().parse().ok().filter(|f: &f64| f.is_finite());
            place.longitude = b.trim().parse().ok().filter(|f: &f64| f.is_finite());
        }
        let text = place_text(&place);
        d.place = Some(place);
        return Some((MessageKind::Location, None, text));
    }
    if has("media_game") || has("media_invoice") {
        d.title = Some(title.clone()).filter(|s| !s.is_empty());
        return Some((MessageKind::Other, None, title));
    }
    None
}

/// "3 votes, chosen vote" → 3; "1 vote" → 1; "No votes" → 0.
fn votes(s: &str) -> Option<u64> {
    let head = s.split(',').next().unwrap_or_default().trim();
    if head == "No votes" {
        return Some(0);
    }
    head.split_whitespace().next().and_then(|n| n.parse().ok())
}

/// Whether `s` is a file size as tdesktop prints it ("12.5 KB").
fn parse_size(s: &str) -> bool {
    let mut it = s.split_whitespace();
    matches!(
        (
            it.next().map(|n| n.parse::<f64>().is_ok()),
            it.next(),
            it.next()
        ),
        (Some(true), Some("B" | "KB" | "MB" | "GB"), None)
    )
}

/// Coordinates of a `https://maps.google.com/maps?q=LAT,LON&...` link.
fn map_coords(href: &str) -> Option<(f64, f64)> {
    let q = href.split_once("?q=")?.1;
    let q = q.split('&').next()?;
    let (a, b) = q.split_once(',')?;
    let a: f64 = a.trim().parse().ok()?;
    let b: f64 = b.trim().parse().ok()?;
    (a.is_finite() && b.is_finite()).then_some((a, b))
}

/// The `title` of a message's date: "dd.MM.yyyy hh:mm:ss UTC+hh:mm" (UTC), or without the
/// zone in older versions (the computer's local time).
fn parse_date(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let (dt, zone) = match s.find(" UTC") {
        Some(i) => (&s[..i], Some(&s[i + 4..])),
        None => (s, None),
    };
    let t = chrono::NaiveDateTime::parse_from_str(dt.trim(), "%d.%m.%Y %H:%M:%S").ok()?;
    let ms = t.and_utc().timestamp_millis();
    match zone {
        None => Some(Timestamp::Local(ms)),
        Some(z) => {
            let z = z.trim();
            if z.is_empty() {
                return Some(Timestamp::Utc(ms));
            }
            let sign = match z.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Some(Timestamp::Local(ms)),
            };
            let rest = &z[1..];
            let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
            let h: i64 = h.parse().ok()?;
            let m: i64 = m.parse().ok()?;
            if h > 23 || m > 59 {
                return None;
            }
            Some(Timestamp::Utc(ms - sign * (h * 3600 + m * 60) * 1000))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Folders.

/// Pages of a chat folder in order: `messages.html`, `messages2.html`, ….
fn pages(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<(u64, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let n = name.strip_prefix("messages")?.strip_suffix(".html")?;
            let n = if n.is_empty() {
                1
            } else {
                n.parse::<u64>().ok()?
            };
            e.file_type().ok()?.is_file().then(|| (n, e.path()))
        })
        .collect();
    found.sort();
    found.truncate(MAX_PAGES);
    found.into_iter().map(|(_, p)| p).collect()
}

fn read_page_file(path: &Path, sink: &mut dyn ChatSink) -> Option<Vec<u8>> {
    match fs::metadata(path) {
        Ok(m) if m.len() > MAX_PAGE => {
            sink.warning(format!(
                "{}: {} bytes, more than a Telegram page can be: skipped",
                path.display(),
                m.len()
            ));
            None
        }
        Ok(_) => match fs::read(path) {
            Ok(b) => Some(b),
            Err(e) => {
                sink.warning(format!("{}: {e}: skipped", path.display()));
                None
            }
        },
        Err(e) => {
            sink.warning(format!("{}: {e}: skipped", path.display()));
            None
        }
    }
}

/// Reads one chat folder (its pages in order) as a conversation.
#[allow(clippy::too_many_arguments)]
fn read_chat(
    root: &Path,
    dir: &Path,
    only: Option<&Path>,
    id_hint: Option<String>,
    kind_hint: Option<ConversationKind>,
    me: Option<&str>,
    check_files: bool,
    sink: &mut dyn ChatSink,
) -> Result<u64> {
    let list = match only {
        Some(p) => vec![p.to_path_buf()],
        None => pages(dir),
    };
    let mut state = PageState {
        me: me.map(str::to_string),
        ..Default::default()
    };
    // The conversation id must be known before the first message: the header of the first
    // page names the chat.
    let first = list.first().and_then(|p| read_page_file(p, sink));
    let name = first
        .as_deref()
        .and_then(|b| {
            let doc = Doc::parse(b);
            let h = doc.find(0, &["page_header"])?;
            let t = doc.find(h, &["text", "bold"])?;
            Some(doc.text(t)).filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "telegram".into())
        });
    let conv = id_hint.unwrap_or_else(|| name.clone());
    let mut first = first;
    for (i, p) in list.iter().enumerate() {
        let bytes = if i == 0 {
            first.take()
        } else {
            read_page_file(p, sink)
        };
        let Some(bytes) = bytes else { continue };
        let page = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cx = PageContext {
            root,
            dir,
            page: &page,
            conversation: &conv,
            check_files,
        };
        read_html_page(&bytes, &cx, &mut state, sink)?;
    }
    let kind = kind_hint.unwrap_or(if state.group_hint || state.senders.len() > 2 {
        ConversationKind::Group
    } else {
        ConversationKind::Direct
    });
    sink.conversation(&Conversation {
        id: conv,
        name,
        kind,
        members: Vec::new(),
    })?;
    Ok(state.messages)
}

/// Chats listed in `lists/chats.html`: (folder, name, kind).
fn listed_chats(root: &Path, sink: &mut dyn ChatSink) -> Vec<(PathBuf, String, ConversationKind)> {
    let lists = root.join("lists");
    let Some(bytes) = read_page_file(&lists.join("chats.html"), sink) else {
        return Vec::new();
    };
    let doc = Doc::parse(&bytes);
    let mut out = Vec::new();
    for e in doc.find_all(0, &["entry"]) {
        let Some(href) = doc.attr(e, "href") else {
            continue;
        };
        let href = href.split('#').next().unwrap_or_default();
        let Some(page) = resolve_inside(root, &lists, href) else {
            continue;
        };
        let Some(dir) = page.parent().map(Path::to_path_buf) else {
            continue;
        };
        let name = doc.find_text(e, "name");
        let info = doc.find_text(e, "info");
        let kind = match info.as_str() {
            "group" => ConversationKind::Group,
            "channel" | "bot" => ConversationKind::Channel,
            _ if name == "Saved messages" => ConversationKind::Saved,
            _ => ConversationKind::Direct,
        };
        if !out.iter().any(|(d, _, _)| *d == dir) {
            out.push((dir, name, kind));
        }
    }
    out
}

/// The account owner from `export_results.html`'s personal information.
fn personal_info(root: &Path, sink: &mut dyn ChatSink) -> Option<Account> {
    let bytes = read_page_file(&root.join("export_results.html"), sink)?;
    let doc = Doc::parse(&bytes);
    let info = doc.find(0, &["personal_info"])?;
    let mut fields: HashMap<String, String> = HashMap::new();
    for row in doc.find_all(info, &["row"]) {
        let label = doc.find_text(row, "label");
        let value = doc.find_text(row, "value");
        fields.insert(label, value);
    }
    let name = [fields.get("First name"), fields.get("Last name")]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    let id = fields
        .get("Phone number")
        .or(fields.get("Username"))
        .cloned()
        .unwrap_or_default();
    (!name.is_empty()).then_some(Account { id, name })
}

/// Reads an HTML export: a chat folder, a full export's root, or one page given directly.
pub(crate) fn read(path: &Path, sink: &mut dyn ChatSink) -> Result<()> {
    if path.is_file() {
        sink.warning(format!(
            "only {} itself is read: give its folder to read every page and include the media",
            path.display()
        ));
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let n = read_chat(&dir, &dir, Some(path), None, None, None, false, sink)?;
        return no_messages(path, n);
    }
    if path.join("export_results.html").is_file() {
        let me = personal_info(path, sink);
        if let Some(a) = &me {
            sink.account(a)?;
        }
        let mut chats = listed_chats(path, sink);
        // Chat folders the list does not name (or no list at all).
        let mut folders: Vec<PathBuf> = fs::read_dir(path.join("chats"))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.join("messages.html").is_file())
            .collect();
        folders.sort();
        for f in folders {
            if !chats.iter().any(|(d, _, _)| *d == f) {
                chats.push((f, String::new(), ConversationKind::Direct));
            }
        }
        let mut total = 0;
        let mut ids: Vec<String> = Vec::new();
        for (dir, name, kind) in chats {
            if !dir.join("messages.html").is_file() {
                continue;
            }
            // Conversation id: the chat's name, made unique with its folder.
            let folder = rel_path(path, &dir);
            let id = if name.is_empty() || ids.contains(&name) {
                folder
            } else {
                name.clone()
            };
            ids.push(id.clone());
            let kind_hint = (!name.is_empty()).then_some(kind);
            total += read_chat(
                path,
                &dir,
                None,
                Some(id),
                kind_hint,
                me.as_ref().map(|a| a.name.as_str()),
                true,
                sink,
            )?;
        }
        return no_messages(path, total);
    }
    let n = read_chat(path, path, None, None, None, None, true, sink)?;
    no_messages(path, n)
}

fn no_messages(path: &Path, n: u64) -> Result<()> {
    if n == 0 {
        return Err(Error::Source {
            path: path.into(),
            reason: "no messages found (is it a Telegram Desktop HTML export?)".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegram_html_dates_and_text() {
        assert_eq!(
            parse_date("06.09.2025 20:05:21 UTC+04:00"),
            Some(Timestamp::Utc(1_757_174_721_000))
        );
        assert_eq!(
            parse_date("06.09.2025 16:05:21 UTC"),
            Some(Timestamp::Utc(1_757_174_721_000))
        );
        assert!(matches!(
            parse_date("06.09.2025 16:05:21"),
            Some(Timestamp::Local(_))
        ));
        assert_eq!(parse_date("garbage"), None);
        let doc = Doc::parse(
            b"<div class=\"text\">\n  a<br>b &amp; <a href=\"https://x.org\">x</a> <strong>c</strong>\n </div>",
        );
        let t = doc.find(0, &["text"]).unwrap();
        let mut s = String::new();
        let mut links = Vec::new();
        doc.text_into(t, &mut s, &mut links, &[]);
        assert_eq!(s, "a\nb & x c");
        assert_eq!(links, vec!["https://x.org"]);
        assert_eq!(go_to("messages2.html#go_to_message7"), Some("7".into()));
        assert_eq!(go_to("../x/messages.html#go_to_message7"), None);
        assert_eq!(votes("3 votes, chosen vote"), Some(3));
    }
}
