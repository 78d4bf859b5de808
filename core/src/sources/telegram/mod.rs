//! Telegram Desktop exports: JSON (`result.json`, chosen by the user) and HTML
//! (`messages.html`, `messages2.html`, …: the default), of one chat or of the whole account.
//! Both give the same messages in the same model; where one format carries less (HTML has no
//! user ids, no "edited" mark, no time on service lines), [`html`] says so.

#[cfg(feature = "telegram-html")]
pub mod html;
pub mod json;

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use crate::sources::model::ChatSink;
use crate::sources::{ReadOutcome, Source, SourceKind};

#[cfg(feature = "telegram-html")]
pub use html::read_html_page;
pub use json::{read_json, MAX_STRING};

/// A Telegram export: a folder holding `result.json` (JSON), or `messages.html` /
/// `export_results.html` (HTML), or one of those files itself; its format found once.
pub(crate) struct Export {
    path: PathBuf,
    html: bool,
}

impl Export {
    /// The export at `path`; fails if it is a folder holding neither format's first file.
    pub(crate) fn new(path: &Path) -> Result<Self> {
        let html = if path.is_dir() {
            if path.join("result.json").is_file() {
                false
            } else if path.join("export_results.html").is_file()
                || path.join("messages.html").is_file()
            {
                true
            } else {
                return Err(Error::Source {
                    path: path.into(),
                    reason: "no result.json, messages.html or export_results.html in the folder"
                        .into(),
                });
            }
        } else {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            name.ends_with(".html") || name.ends_with(".htm")
        };
        Ok(Export {
            path: path.to_path_buf(),
            html,
        })
    }
}

impl Source for Export {
    fn kind(&self) -> SourceKind {
        SourceKind::Telegram
    }

    fn read(self: Box<Self>, sink: &mut dyn ChatSink) -> Result<ReadOutcome> {
        if self.html {
            read_html(&self.path, sink)?;
        } else {
            json::read(&self.path, sink)?;
        }
        Ok(ReadOutcome::default())
    }
}

#[cfg(feature = "telegram-html")]
fn read_html(path: &Path, sink: &mut dyn ChatSink) -> Result<()> {
    html::read(path, sink)
}

#[cfg(not(feature = "telegram-html"))]
fn read_html(path: &Path, _sink: &mut dyn ChatSink) -> Result<()> {
    Err(Error::Source {
        path: path.into(),
        reason: "this build reads Telegram's JSON export only: export the chat again with \
                 \"Machine-readable JSON\", or read this HTML export with the chatvault command line"
            .into(),
    })
}

/// Names as tdesktop lists them: "A", "A and B", "A, B and C".
pub(crate) fn list_names(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// How a call ended, as both formats can tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallEnd {
    Missed,
    Declined,
    Other,
}

/// The text of a call message, the same for JSON and HTML.
pub(crate) fn call_text(end: CallEnd, seconds: Option<u64>) -> String {
    let head = match end {
        CallEnd::Missed => "Missed call",
        CallEnd::Declined => "Declined call",
        CallEnd::Other => "Call",
    };
    match seconds {
        Some(s) if s > 0 => format!("{head} ({s} seconds)"),
        _ => head.to_string(),
    }
}

/// The text shown for a shared place when the message has no caption: the venue's name and
/// address, or the coordinates. The same for JSON and HTML.
pub(crate) fn place_text(p: &crate::sources::model::Place) -> String {
    let named: Vec<&str> = [p.title.as_deref(), p.address.as_deref()]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect();
    if !named.is_empty() {
        return named.join(", ");
    }
    match (p.latitude, p.longitude) {
        (Some(a), Some(b)) => format!("{a}, {b}"),
        _ => String::new(),
    }
}

/// Seconds of a duration as tdesktop prints it ("0:05", "12:01", "1:02:03").
#[cfg_attr(not(feature = "telegram-html"), allow(dead_code))]
pub(crate) fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || s.len() > 32 {
        return None;
    }
    let mut total: u64 = 0;
    for part in s.split(':') {
        let n: u64 = part.trim().parse().ok()?;
        total = total.checked_mul(60)?.checked_add(n)?;
    }
    Some(total)
}

/// Whether a link target is an address to follow (has a scheme) rather than a file of the
/// export or a script hook.
#[cfg_attr(not(feature = "telegram-html"), allow(dead_code))]
pub(crate) fn is_url(href: &str) -> bool {
    let Some(colon) = href.find(':') else {
        return false;
    };
    let scheme = &href[..colon];
    !scheme.is_empty()
        && scheme.len() <= 32
        && scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !scheme.eq_ignore_ascii_case("javascript")
}

/// `rel` (a `/`- or `\`-separated path relative to `dir`) resolved lexically, if it stays inside
/// `root` (which `dir` is in): the safety rule for media paths. Absolute paths, URLs, drive
/// letters and any path that climbs out of `root` give `None`.
#[cfg_attr(not(feature = "telegram-html"), allow(dead_code))]
pub(crate) fn resolve_inside(root: &Path, dir: &Path, rel: &str) -> Option<PathBuf> {
    if rel.is_empty() || rel.len() > 4096 || rel.contains('\0') || is_url(rel) {
        return None;
    }
    if rel.starts_with('/') || rel.starts_with('\\') || Path::new(rel).is_absolute() {
        return None;
    }
    let start = dir.strip_prefix(root).ok()?;
    let mut parts: Vec<String> = Vec::new();
    for c in start.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            _ => return None,
        }
    }
    for comp in rel.split(['/', '\\']) {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c.to_string()),
        }
    }
    if parts.is_empty() {
        return None;
    }
    let mut out = root.to_path_buf();
    for p in &parts {
        out.push(p);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegram_helpers_names_durations_paths() {
        let n = |v: &[&str]| list_names(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(n(&["A"]), "A");
        assert_eq!(n(&["A", "B", "C"]), "A, B and C");
        assert_eq!(parse_duration("1:02:03"), Some(3723));
        assert_eq!(parse_duration("0:05"), Some(5));
        assert_eq!(parse_duration("x"), None);
        let root = Path::new("/r");
        let dir = Path::new("/r/chats/chat_1");
        assert_eq!(
            resolve_inside(root, dir, "../../chats/chat_1/photos/a.jpg"),
            Some(PathBuf::from("/r/chats/chat_1/photos/a.jpg"))
        );
        assert_eq!(resolve_inside(root, dir, "../../../etc/passwd"), None);
        assert_eq!(resolve_inside(root, dir, "/etc/passwd"), None);
        assert_eq!(resolve_inside(root, dir, "https://x.org/a"), None);
        assert!(is_url("mailto:a@b.c") && !is_url("photos/a:b.jpg") && !is_url("javascript:x"));
    }
}
