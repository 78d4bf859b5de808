//! The plain-text export: `chats/<stem>.txt`, one readable file per conversation, and
//! `conversations.txt` listing them.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::{
    day_label, describe, one_line, starts_day, ChatFiles, Conversation, Item, Listed, OutFile,
    Renderer,
};
use crate::error::Result;
use crate::safe_fs::write_new;

/// The conversation being written.
pub(super) struct Open {
    file: OutFile,
    last_day: Option<chrono::NaiveDate>,
}

/// The text renderer.
pub(crate) type Files = ChatFiles<Open>;

impl Renderer for Files {
    fn begin(&mut self, c: &Conversation) -> Result<()> {
        let mut file = OutFile::chat(&self.out, &c.stem, "txt")?;
        let head = format!(
            "{} ({}, {} messages)\nExported by ChatVault from {} snapshot {} of {}\n",
            c.info.name,
            c.info.kind,
            c.total,
            self.origin.app,
            self.origin.snapshot,
            self.origin.snapshot_time.format("%Y-%m-%d %H:%M"),
        );
        file.write(&head)?;
        self.open = Some(Open {
            file,
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
        if starts_day(&mut o.last_day, &item.local) {
            let day = day_label(&item.local, self.origin.language);
            let _ = write!(s, "\n--- {day} ---\n");
        }
        let time = item.local.format("%H:%M");
        let mut text = describe(item, self.origin.language);
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
        if let Some(g) = m
            .gone_since
            .and_then(chrono::DateTime::from_timestamp_millis)
        {
            text.push_str(&format!(
                " (no longer on the phone since {})",
                g.format("%Y-%m-%d")
            ));
        }
        let indent = "\n      ";
        let text = text.replace('\n', indent);
        if matches!(m.kind.as_str(), "system" | "revoke") {
            let _ = writeln!(s, "{time} * {text}");
        } else {
            let _ = writeln!(s, "{time} {}: {text}", item.sender());
        }
        o.file.write(&s)
    }

    fn end(&mut self) -> Result<()> {
        if let Some(o) = self.open.take() {
            o.file.close("")?;
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
        write_new(&path, s.as_bytes())?;
        Ok(path)
    }
}
