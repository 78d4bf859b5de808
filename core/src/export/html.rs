//! The HTML export: a static site that opens from the file system with no server and no
//! network. `index.html` lists the conversations; each conversation is a set of pages of
//! `page_size` messages (`chats/<stem>/page-0001.html` is the oldest) plus `search.js`,
//! the data the search box loads on demand; `assets/` holds the style sheet and script.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::{
    create_file, day_label, describe, one_line, starts_day, Conversation, Item, Listed, Origin,
    Renderer,
};
use crate::error::{Error, Result};
use crate::i18n::num;
use crate::safe_fs::{create_dirs_within, write_new, NewFile};

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/app.js");

/// Characters kept as they are in URLs of files we name (everything else is encoded, so a
/// `#`, `?` or `%` in a media file name cannot break a link).
const URL_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Voice and audio formats browsers play; others (WeChat's SILK/AMR) become download links.
const PLAYABLE_AUDIO: &[&str] = &[
    "mp3", "m4a", "aac", "ogg", "oga", "opus", "wav", "webm", "flac",
];

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A relative URL for a path we wrote.
fn url(path: &str) -> String {
    utf8_percent_encode(path, URL_SAFE).to_string()
}

fn page_name(page: u64) -> String {
    format!("page-{page:04}.html")
}

/// A hue for a sender, the same on every page.
fn hue(key: &str) -> u32 {
    key.bytes()
        .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619))
        % 360
}

/// The initial shown in a sender's avatar.
fn initial(name: &str) -> String {
    name.chars()
        .find(|c| c.is_alphanumeric())
        .or_else(|| name.chars().next())
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_else(|| "?".into())
}

fn date_range(first: Option<NaiveDateTime>, last: Option<NaiveDateTime>) -> String {
    match (first, last) {
        (Some(f), Some(l)) if f.date() == l.date() => f.format("%Y-%m-%d").to_string(),
        (Some(f), Some(l)) => format!("{} – {}", f.format("%Y-%m-%d"), l.format("%Y-%m-%d")),
        _ => String::new(),
    }
}

/// The search script's texts, as the page hands them to it (`cv-text`).
const SCRIPT_TEXTS: [&str; 5] = [
    "js-searching",
    "js-none",
    "js-found-one",
    "js-found-many",
    "js-first-shown",
];

fn head(origin: &Origin, title: &str, root: &str) -> String {
    let texts: serde_json::Map<String, serde_json::Value> = SCRIPT_TEXTS
        .iter()
        .map(|id| (id.to_string(), origin.text(id).into()))
        .collect();
    let texts = serde_json::Value::Object(texts)
        .to_string()
        .replace("</", "<\\/");
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"ChatVault\">\n<title>{}</title>\n\
         <link rel=\"stylesheet\" href=\"{root}assets/style.css\">\n\
         <script type=\"application/json\" id=\"cv-text\">{texts}</script>\n</head>\n",
        origin.language.tag(),
        esc(title)
    )
}

/// A conversation kind in the export's language (`group` → 群聊).
fn kind_label(origin: &Origin, kind: &str) -> String {
    match kind {
        "direct" | "group" | "channel" | "saved" => origin.text(&format!("conversation-{kind}")),
        other => other.to_string(),
    }
}

/// The links between the pages of a conversation (`page` of `pages`).
fn pager(origin: &Origin, pages: u64, page: u64) -> String {
    let link = |p: u64, label: &str, rel: &str| {
        if p == page || p == 0 || p > pages {
            format!("<span class=\"off\">{label}</span>")
        } else {
            format!("<a href=\"{}\" rel=\"{rel}\">{label}</a>", page_name(p))
        }
    };
    let at = origin.format(
        "page-of",
        &[("page", num(page as f64)), ("pages", num(pages as f64))],
    );
    format!(
        "<nav class=\"pager\">{} {} <span class=\"at\">{}</span> {} {}</nav>\n",
        link(1, &esc(&origin.text("oldest")), "first"),
        link(page.saturating_sub(1), &esc(&origin.text("older")), "prev"),
        esc(&at),
        link(page + 1, &esc(&origin.text("newer")), "next"),
        link(pages, &esc(&origin.text("newest")), "last"),
    )
}

/// The page being written for the current conversation.
struct Open {
    conversation: Conversation,
    page: Option<NewFile>,
    page_path: PathBuf,
    pages: u64,
    current_page: u64,
    last_day: Option<chrono::NaiveDate>,
    search: NewFile,
    search_path: PathBuf,
    search_rows: u64,
}

/// The HTML renderer.
pub(crate) struct Site {
    out: PathBuf,
    origin: Origin,
    open: Option<Open>,
}

impl Site {
    pub fn new(out: &Path, origin: Origin) -> Result<Self> {
        let assets = out.join("assets");
        create_dirs_within(out, &assets)?;
        for (name, body) in [("style.css", STYLE), ("app.js", SCRIPT)] {
            write_new(&assets.join(name), body.as_bytes())?;
        }
        Ok(Site {
            out: out.to_path_buf(),
            origin,
            open: None,
        })
    }

    fn start_page(&mut self, page: u64) -> Result<()> {
        self.end_page()?;
        let Some(o) = self.open.as_mut() else {
            return Ok(());
        };
        o.current_page = page;
        o.last_day = None;
        o.page_path = self
            .out
            .join("chats")
            .join(&o.conversation.stem)
            .join(page_name(page));
        let mut w = create_file(&o.page_path)?;
        let c = &o.conversation;
        let origin = &self.origin;
        let title = origin.format(
            "page-title",
            &[
                ("name", c.info.name.as_str().into()),
                ("page", num(page as f64)),
                ("pages", num(o.pages as f64)),
            ],
        );
        let meta = origin.format(
            "chat-meta",
            &[
                ("kind", kind_label(origin, &c.info.kind).into()),
                ("count", num(c.total as f64)),
                ("app", origin.app.as_str().into()),
            ],
        );
        let search = esc(&origin.text("search-chat"));
        let mut s = head(origin, &title, "../../");
        let _ = write!(
            s,
            "<body class=\"chat {}\" data-root=\"../../\" data-stem=\"{}\" data-name=\"{}\">\n\
             <header>\n<a class=\"back\" href=\"../../index.html\">{}</a>\n\
             <h1>{}</h1>\n<p class=\"meta\">{}</p>\n\
             <form class=\"search\" role=\"search\"><input type=\"search\" \
             placeholder=\"{search}\" aria-label=\"{search}\"></form>\n\
             <div class=\"results\" hidden></div>\n</header>\n",
            esc(&c.info.kind),
            esc(&c.stem),
            esc(&c.info.name),
            esc(&origin.text("all-chats")),
            esc(&c.info.name),
            esc(&meta),
        );
        s.push_str(&pager(origin, o.pages, page));
        s.push_str("<main class=\"messages\">\n");
        w.write_all(s.as_bytes())
            .map_err(|e| Error::io("write", &o.page_path, e))?;
        o.page = Some(w);
        Ok(())
    }

    fn end_page(&mut self) -> Result<()> {
        let Some(o) = self.open.as_mut() else {
            return Ok(());
        };
        let pager = pager(&self.origin, o.pages, o.current_page);
        let Some(mut w) = o.page.take() else {
            return Ok(());
        };
        let footer = self.origin.format(
            "footer-page",
            &[
                ("snapshot", self.origin.snapshot.as_str().into()),
                (
                    "time",
                    self.origin
                        .snapshot_time
                        .format("%Y-%m-%d %H:%M")
                        .to_string()
                        .into(),
                ),
                ("account", self.origin.account.as_str().into()),
            ],
        );
        let tail = format!(
            "</main>\n{pager}<footer>{}</footer>\n\
             <script src=\"../../assets/app.js\"></script>\n</body>\n</html>\n",
            esc(&footer),
        );
        let path = o.page_path.clone();
        w.write_all(tail.as_bytes())
            .and_then(|_| w.commit())
            .map_err(|e| Error::io("write", &path, e))
    }
}

/// The body of one message: its media, quote and text.
fn body(origin: &Origin, item: &Item, root: &str) -> String {
    let m = &item.m;
    let mut s = String::new();
    let d = &m.details;
    if let Some(from) = d.forwarded_from.as_ref().or(d.saved_from.as_ref()) {
        let _ = write!(s, "<div class=\"fwd\">↪ {}</div>", esc(from));
    }
    if let Some(r) = &item.replied {
        let _ = write!(
            s,
            "<blockquote class=\"reply\">{}</blockquote>",
            esc(&one_line(r, 160))
        );
    }
    let media_kind = m.media_kind.as_deref().unwrap_or(m.kind.as_str());
    let file_name = m
        .media_path
        .as_deref()
        .and_then(|p| p.rsplit('/').next())
        .unwrap_or("");
    let mut text_shown = false;
    match (&item.media, media_kind) {
        (Some(f), "image" | "sticker") => {
            let full = format!("{root}{}", url(f));
            let shown = item
                .thumbnail
                .as_ref()
                .map(|t| format!("{root}{}", url(t)))
                .unwrap_or_else(|| full.clone());
            let _ = write!(
                s,
                "<a class=\"media\" href=\"{full}\"><img src=\"{shown}\" data-full=\"{full}\" \
                 loading=\"lazy\" alt=\"{}\"></a>",
                esc(media_kind)
            );
        }
        (Some(f), "video") => {
            let src = format!("{root}{}", url(f));
            let poster = item
                .thumbnail
                .as_ref()
                .map(|t| format!(" poster=\"{root}{}\"", url(t)))
                .unwrap_or_default();
            let _ = write!(
                s,
                "<video controls preload=\"none\" src=\"{src}\"{poster}></video>\
                 <a class=\"file small\" href=\"{src}\" download>⬇ {}</a>",
                esc(file_name)
            );
        }
        (Some(f), "audio" | "voice") => {
            let src = format!("{root}{}", url(f));
            let ext = file_name
                .rsplit('.')
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if PLAYABLE_AUDIO.contains(&ext.as_str()) {
                let _ = write!(s, "<audio controls preload=\"none\" src=\"{src}\"></audio>");
            } else {
                let label = origin.format("voice-download", &[("format", ext.as_str().into())]);
                let _ = write!(
                    s,
                    "<a class=\"file\" href=\"{src}\" download title=\"{}\">🎤 {}</a>",
                    esc(&origin.text("cannot-play")),
                    esc(&label)
                );
            }
        }
        (Some(f), _) => {
            let label = if m.text.trim().is_empty() {
                file_name.to_string()
            } else {
                text_shown = true;
                m.text.clone()
            };
            let _ = write!(
                s,
                "<a class=\"file\" href=\"{root}{}\">📎 {}</a>",
                url(f),
                esc(&label)
            );
        }
        (None, "image" | "video" | "audio" | "voice" | "sticker" | "file")
            if m.media_present == Some(false) =>
        {
            let what = origin.text(kind_text(media_kind));
            let _ = write!(
                s,
                "<div class=\"missing\">{}</div>",
                esc(&origin.format("not-in-export", &[("what", what.into())]))
            );
        }
        _ => {}
    }
    if !text_shown && !m.text.trim().is_empty() {
        let icon = match m.kind.as_str() {
            "location" => "📍 ",
            "link" => "🔗 ",
            "call" => "📞 ",
            "transfer" => "💸 ",
            "contact_card" => "👤 ",
            "poll" => "📊 ",
            _ => "",
        };
        let class = if m.kind == "unparsed" {
            "text dim"
        } else {
            "text"
        };
        let _ = write!(s, "<div class=\"{class}\">{icon}{}</div>", esc(&m.text));
    } else if s.is_empty() {
        let _ = write!(
            s,
            "<div class=\"text dim\">{}</div>",
            esc(&describe(item, origin.language))
        );
    }
    details(&mut s, d);
    s
}

/// What a message carries beyond its text: poll answers, a place, links, reactions.
fn details(s: &mut String, d: &crate::sources::model::MessageDetails) {
    if let Some(p) = &d.poll {
        s.push_str("<ol class=\"poll\">");
        for a in &p.answers {
            let votes = a.voters.map(|v| format!(" · {v}")).unwrap_or_default();
            let _ = write!(s, "<li>{}{votes}</li>", esc(&a.text));
        }
        s.push_str("</ol>");
    }
    if let Some(p) = &d.place {
        let name = [p.title.as_deref(), p.address.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
        if !name.is_empty() {
            let _ = write!(s, "<div class=\"place\">📍 {}</div>", esc(&name));
        }
    }
    let mut facts = Vec::new();
    if let Some(secs) = d.duration_seconds {
        facts.push(format!("⏱ {}:{:02}", secs / 60, secs % 60));
    }
    if let Some(n) = d.size_bytes {
        facts.push(size_text(n));
    }
    if !facts.is_empty() {
        let _ = write!(
            s,
            "<div class=\"facts dim\">{}</div>",
            esc(&facts.join(" · "))
        );
    }
    for l in &d.links {
        // Shown as text, never as a link: the page makes no request to the network.
        let _ = write!(s, "<div class=\"link dim\">🔗 {}</div>", esc(l));
    }
    if !d.reactions.is_empty() {
        let r: Vec<String> = d
            .reactions
            .iter()
            .map(|r| format!("{} {}", esc(&r.emoji), r.count))
            .collect();
        let _ = write!(s, "<div class=\"reactions\">{}</div>", r.join(" "));
    }
}

/// A file size as people read it: `812 B`, `40.0 KiB`, `3.2 MiB`, `1.5 GiB`.
fn size_text(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// The text id naming a kind of media file.
fn kind_text(kind: &str) -> &'static str {
    match kind {
        "audio" | "voice" => "kind-voice",
        "image" => "kind-image",
        "video" => "kind-video",
        "sticker" => "kind-sticker",
        _ => "kind-file",
    }
}

impl Renderer for Site {
    fn begin(&mut self, c: &Conversation) -> Result<()> {
        let dir = self.out.join("chats").join(&c.stem);
        create_dirs_within(&self.out, &dir)?;
        let search_path = dir.join("search.js");
        let mut search = create_file(&search_path)?;
        let head = format!(
            "CV.add({},[\n",
            serde_json::to_string(&c.stem).unwrap_or_default()
        );
        search
            .write_all(head.as_bytes())
            .map_err(|e| Error::io("write", &search_path, e))?;
        let size = self.origin.page_size as u64;
        self.open = Some(Open {
            conversation: Conversation {
                info: c.info.clone(),
                stem: c.stem.clone(),
                total: c.total,
            },
            page: None,
            page_path: PathBuf::new(),
            pages: c.total.div_ceil(size).max(1),
            current_page: 0,
            last_day: None,
            search,
            search_path,
            search_rows: 0,
        });
        Ok(())
    }

    fn message(&mut self, item: &Item) -> Result<()> {
        let size = self.origin.page_size as u64;
        let page = item.seq / size + 1;
        if self.open.as_ref().is_some_and(|o| o.current_page != page) {
            self.start_page(page)?;
        }
        let Some(o) = self.open.as_mut() else {
            return Ok(());
        };
        let m = &item.m;
        let mut s = String::new();
        if starts_day(&mut o.last_day, &item.local) {
            let _ = writeln!(
                s,
                "<div class=\"day\">{}</div>",
                esc(&day_label(&item.local, self.origin.language))
            );
        }
        let time = item.local.format("%H:%M").to_string();
        let stamp = match &item.exact {
            Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            None => item.local.format("%Y-%m-%dT%H:%M:%S").to_string(),
        };
        let edited = if m.edited {
            format!(" · {}", esc(&self.origin.text("edited")))
        } else {
            String::new()
        };
        // A message the phone no longer has, kept from earlier backups (the archive).
        let gone = match m
            .gone_since
            .and_then(chrono::DateTime::from_timestamp_millis)
        {
            Some(g) => format!(
                " · <span class=\"gone\">{}</span>",
                esc(&self.origin.format(
                    "gone-since",
                    &[("since", g.format("%Y-%m-%d").to_string().into())]
                ))
            ),
            None => String::new(),
        };
        let time_html = format!(
            "<time datetime=\"{stamp}\" title=\"{}\">{time}{edited}{gone}</time>",
            item.local.format("%Y-%m-%d %H:%M:%S")
        );
        if matches!(m.kind.as_str(), "system" | "revoke") {
            let _ = writeln!(
                s,
                "<div class=\"sys {}\" id=\"m{}\">{} {time_html}</div>",
                esc(&m.kind),
                item.seq,
                esc(&describe(item, self.origin.language))
            );
        } else {
            let who = item.sender();
            let side = if m.from_me { "me" } else { "them" };
            let group = o.conversation.info.kind == "group";
            let _ = write!(s, "<div class=\"msg {side}\" id=\"m{}\">", item.seq);
            if group && !m.from_me {
                let key = m.sender.as_deref().unwrap_or(who);
                let _ = write!(
                    s,
                    "<div class=\"avatar\" style=\"--h:{}\" aria-hidden=\"true\">{}</div>",
                    hue(key),
                    esc(&initial(who))
                );
            }
            s.push_str("<div class=\"bubble\">");
            if group && !m.from_me && !who.is_empty() {
                let _ = write!(
                    s,
                    "<div class=\"sender\" style=\"--h:{}\">{}</div>",
                    hue(m.sender.as_deref().unwrap_or(who)),
                    esc(who)
                );
            }
            s.push_str(&body(&self.origin, item, "../../"));
            s.push_str(&time_html);
            s.push_str("</div></div>\n");
        }
        let path = o.page_path.clone();
        o.page
            .as_mut()
            .map_or(Ok(()), |w| w.write_all(s.as_bytes()))
            .map_err(|e| Error::io("write", &path, e))?;
        // One search row: [page, seq, time, sender, text].
        let text = describe(item, self.origin.language);
        if !text.is_empty() {
            let row = serde_json::json!([
                page,
                item.seq,
                item.local.format("%Y-%m-%d %H:%M").to_string(),
                item.sender(),
                text
            ]);
            let sep = if o.search_rows == 0 { "" } else { ",\n" };
            o.search_rows += 1;
            o.search
                .write_all(format!("{sep}{row}").as_bytes())
                .map_err(|e| Error::io("write", &o.search_path, e))?;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<()> {
        self.end_page()?;
        if let Some(mut o) = self.open.take() {
            o.search
                .write_all(b"\n]);\n")
                .and_then(|_| o.search.commit())
                .map_err(|e| Error::io("write", &o.search_path, e))?;
        }
        Ok(())
    }

    fn finish(&mut self, list: &[Listed]) -> Result<PathBuf> {
        let path = self.out.join("index.html");
        let mut w = create_file(&path)?;
        let total: u64 = list.iter().map(|l| l.messages).sum();
        let origin = &self.origin;
        let title = origin.format(
            "chats-title",
            &[("account", origin.account.as_str().into())],
        );
        let meta = origin.format(
            "index-meta",
            &[
                ("app", origin.app.as_str().into()),
                ("account", origin.account.as_str().into()),
                ("chats", num(list.len() as f64)),
                ("messages", num(total as f64)),
                ("snapshot", origin.snapshot.as_str().into()),
                (
                    "time",
                    origin
                        .snapshot_time
                        .format("%Y-%m-%d %H:%M")
                        .to_string()
                        .into(),
                ),
            ],
        );
        let search = esc(&origin.text("search-all"));
        let mut s = head(origin, &title, "");
        let _ = write!(
            s,
            "<body class=\"list\" data-root=\"\">\n<header>\n<h1>{}</h1>\n\
             <p class=\"meta\">{}</p>\n\
             <form class=\"search\" role=\"search\"><input type=\"search\" \
             placeholder=\"{search}\" aria-label=\"{search}\"></form>\n\
             <div class=\"results\" hidden></div>\n</header>\n<main>\n<ul class=\"conversations\">\n",
            esc(&origin.text("chats")),
            esc(&meta),
        );
        let size = self.origin.page_size as u64;
        let mut names = serde_json::Map::new();
        for l in list {
            names.insert(l.stem.clone(), serde_json::Value::from(l.info.name.clone()));
            let newest = l.messages.div_ceil(size).max(1);
            let href = url(&format!("chats/{}/{}", l.stem, page_name(newest)));
            let last_date = l.last.map(|t| t.format("%Y-%m-%d").to_string());
            let missing = if l.media_missing > 0 {
                let said =
                    origin.format("media-missing", &[("count", num(l.media_missing as f64))]);
                format!(" · {}", esc(&said))
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "<li><a href=\"{href}\"><div class=\"avatar\" style=\"--h:{}\" aria-hidden=\"true\">{}</div>\
                 <div class=\"info\"><div class=\"row\"><span class=\"name\">{}</span>\
                 <span class=\"date\">{}</span></div>\
                 <div class=\"row\"><span class=\"last\">{}</span><span class=\"count\">{}</span></div>\
                 <div class=\"detail\">{} · {}{}</div></div></a></li>",
                hue(&l.info.id),
                esc(&initial(&l.info.name)),
                esc(&l.info.name),
                esc(last_date.as_deref().unwrap_or("")),
                esc(&l.last_text),
                l.messages,
                esc(&kind_label(origin, &l.info.kind)),
                esc(&date_range(l.first, l.last)),
                missing,
            );
        }
        let data = serde_json::Value::Object(names)
            .to_string()
            .replace("</", "<\\/");
        let _ = write!(
            s,
            "</ul>\n</main>\n<footer>{}</footer>\n\
             <script type=\"application/json\" id=\"cv-names\">{data}</script>\n\
             <script src=\"assets/app.js\"></script>\n</body>\n</html>\n",
            esc(&origin.text("footer-index"))
        );
        w.write_all(s.as_bytes())
            .and_then(|_| w.commit())
            .map_err(|e| Error::io("write", &path, e))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_urls_are_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(url("media/x/a b#1?.jpg"), "media/x/a%20b%231%3F.jpg");
        assert_eq!(url("media/图.png"), "media/%E5%9B%BE.png");
    }

    #[test]
    fn lengths_and_sizes_read_as_people_read_them() {
        assert_eq!(size_text(812), "812 B");
        assert_eq!(size_text(40_960), "40.0 KiB");
        assert_eq!(size_text(3 * 1024 * 1024 + 200_000), "3.2 MiB");
        let mut s = String::new();
        details(
            &mut s,
            &crate::sources::model::MessageDetails {
                duration_seconds: Some(83),
                size_bytes: Some(2048),
                ..Default::default()
            },
        );
        assert!(s.contains("⏱ 1:23 · 2.0 KiB"), "{s}");
    }

    #[test]
    fn initials_and_hues_are_stable() {
        assert_eq!(initial("alice"), "A");
        assert_eq!(initial("张三"), "张");
        assert_eq!(initial("😀"), "😀");
        assert_eq!(initial(""), "?");
        assert_eq!(hue("wxid_a"), hue("wxid_a"));
        assert!(hue("x") < 360);
    }
}
