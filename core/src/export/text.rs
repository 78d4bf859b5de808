//! The plain-text export: `chats/<stem>.txt`, one readable file per conversation, and
//! `conversations.txt` listing them.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{create_file, describe, one_line, Conversation, Item, Listed, Origin, Renderer};
use crate::error::{Error, Result};

struct Open {
    w: BufWriter<fs::File>,
    path: PathBuf,
    last_day: Option<chrono::NaiveDate>,
}

/// The text renderer.
pub(crate) struct Files {
    out: PathBuf,
    origin: Origin,
    open: Option<Open>,
}

impl Files {
    pub fn new(out: &Path, origin: Origin) -> Self {
        Files {
            out: out.to_path_buf(),
            origin,
            open: None,
        }
    }
}

impl Renderer for Files {
    fn begin(&mut self, c: &Conversation) -> Result<()> {
        let dir = self.out.join("chats");
        fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        let path = dir.join(format!("{}.txt", c.stem));
        let mut w = create_file(&path)?;
        let head = format!(
            "{} ({}, {} messages)\nExported by ChatVault from {} snapshot {} of {}\n",
            c.info.name,
            c.info.kind,
            c.total,
            self.origin.app,
            self.origin.snapshot,
            self.origin.snapshot_time.format("%Y-%m-%d %H:%M"),
        );
        w.write_all(head.as_bytes())
            .map_err(|e| Error::io("write", &path, e))?;
        self.open = Some(Open {
            w,
            path,
            last_day: None,
        });
        Ok(())
    }

    fn message(&mut self, item: &Item) -> Result<()> {
        let Some(o) = self.open.as_mut() else {
            return Ok(());
        };
        let m = &item.m;
        let mut s = String::new();
        let day = item.local.date();
        if o.last_day != Some(day) {
            o.last_day = Some(day);
            let _ = write!(s, "\n--- {} ---\n", item.local.format("%Y-%m-%d %A"));
        }
        let time = item.local.format("%H:%M");
        let mut text = describe(item);
        if let Some(f) = &item.media {
            text = if m.text.trim().is_empty() {
                format!("[{}: {f}]", m.media_kind.as_deref().unwrap_or("media"))
            } else {
                format!("{text} [{f}]")
            };
        } else if m.media_present == Some(false) {
            text.push_str(" [not in the export]");
        }
        if let Some(r) = &item.replied {
            text = format!("> {}\n{text}", one_line(r, 100));
        }
        if m.edited {
            text.push_str(" (edited)");
        }
        let indent = "\n      ";
        let text = text.replace('\n', indent);
        if matches!(m.kind.as_str(), "system" | "revoke") {
            let _ = writeln!(s, "{time} * {text}");
        } else {
            let _ = writeln!(s, "{time} {}: {text}", item.sender());
        }
        o.w.write_all(s.as_bytes())
            .map_err(|e| Error::io("write", &o.path, e))
    }

    fn end(&mut self) -> Result<()> {
        if let Some(mut o) = self.open.take() {
            o.w.flush().map_err(|e| Error::io("write", &o.path, e))?;
        }
        Ok(())
    }

    fn finish(&mut self, list: &[Listed]) -> Result<PathBuf> {
        let mut s = format!(
            "{} · {} · snapshot {}: {} conversations\n\n",
            self.origin.app,
            self.origin.account,
            self.origin.snapshot,
            list.len()
        );
        for l in list {
            let range = match (l.first, l.last) {
                (Some(f), Some(t)) => {
                    format!("{} to {}", f.format("%Y-%m-%d"), t.format("%Y-%m-%d"))
                }
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "chats/{}.txt  {} ({}): {} messages, {range}",
                l.stem, l.info.name, l.info.kind, l.messages
            );
        }
        let path = self.out.join("conversations.txt");
        fs::write(&path, s).map_err(|e| Error::io("write", &path, e))?;
        Ok(path)
    }
}
