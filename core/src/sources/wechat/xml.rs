//! A tolerant reader for the small XML documents WeChat keeps in message content.
//!
//! Flattens a document into `(path, value)` pairs in document order: element text under
//! `msg/appmsg/title`, attributes under `msg/img@md5`. Malformed input yields what was read
//! before the error; size is bounded so a hostile message cannot exhaust memory.

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};

/// At most this many values are kept from one document.
const MAX_VALUES: usize = 512;
/// At most this deep.
const MAX_DEPTH: usize = 32;

/// A flattened XML document.
#[derive(Debug, Default)]
pub(crate) struct Xml {
    values: Vec<(String, String)>,
}

impl Xml {
    /// Parses `text`; never fails (bad XML gives fewer values).
    pub(crate) fn parse(text: &str) -> Xml {
        let mut xml = Xml::default();
        let mut reader = Reader::from_str(text);
        reader.config_mut().trim_text(false);
        let mut path: Vec<String> = Vec::new();
        let mut text_buf = String::new();
        loop {
            if xml.values.len() >= MAX_VALUES {
                break;
            }
            let event = match reader.read_event() {
                Ok(e) => e,
                Err(_) => break,
            };
            match event {
                Event::Start(e) | Event::Empty(e) if path.len() >= MAX_DEPTH => {
                    let _ = e;
                    break;
                }
                Event::Start(e) => {
                    xml.flush_text(&path, &mut text_buf);
                    path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                    xml.attributes(&path, &e);
                }
                Event::Empty(e) => {
                    xml.flush_text(&path, &mut text_buf);
                    path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                    xml.attributes(&path, &e);
                    path.pop();
                }
                Event::End(_) => {
                    xml.flush_text(&path, &mut text_buf);
                    path.pop();
                }
                Event::Text(t) => {
                    if let Ok(s) = t.decode() {
                        text_buf.push_str(&s);
                    }
                }
                Event::CData(c) => {
                    if let Ok(s) = c.decode() {
                        text_buf.push_str(&s);
                    }
                }
                Event::GeneralRef(r) => {
                    if let Ok(Some(ch)) = r.resolve_char_ref() {
                        text_buf.push(ch);
                    } else if let Ok(name) = r.decode() {
                        if let Some(v) = resolve_predefined_entity(&name) {
                            text_buf.push_str(v);
                        }
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        xml.flush_text(&path, &mut text_buf);
        xml
    }

    fn flush_text(&mut self, path: &[String], buf: &mut String) {
        let t = buf.trim();
        if !t.is_empty() && !path.is_empty() {
            self.values.push((path.join("/"), t.to_string()));
        }
        buf.clear();
    }

    fn attributes(&mut self, path: &[String], e: &quick_xml::events::BytesStart) {
        let base = path.join("/");
        for a in e.attributes().flatten() {
            let Ok(v) = a.normalized_value(XmlVersion::Implicit1_0) else {
                continue;
            };
            let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
            self.values.push((format!("{base}@{key}"), v.into_owned()));
        }
    }

    /// The first value whose path ends with `suffix` (matching whole path components).
    pub(crate) fn get(&self, suffix: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(p, _)| {
                p == suffix
                    || (p.ends_with(suffix) && p.as_bytes()[p.len() - suffix.len() - 1] == b'/')
            })
            .map(|(_, v)| v.as_str())
    }

    /// Like [`Xml::get`], trimmed, `None` when empty.
    pub(crate) fn text(&self, suffix: &str) -> Option<String> {
        self.get(suffix)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// All `(path, value)` pairs in document order.
    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.values
    }

    /// Whether the document had any element at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_text_attributes_cdata_and_entities() {
        let x = Xml::parse(
            r#"<msg><appmsg appid=""><title>A &amp; B &#x1F600;</title><type>57</type>
            <refermsg><content><![CDATA[<b>q</b>]]></content></refermsg></appmsg>
            <img md5="abc" /></msg>"#,
        );
        assert_eq!(x.get("appmsg/title"), Some("A & B 😀"));
        assert_eq!(x.get("type"), Some("57"));
        assert_eq!(x.get("refermsg/content"), Some("<b>q</b>"));
        assert_eq!(x.get("img@md5"), Some("abc"));
        assert_eq!(x.get("msg/img@md5"), Some("abc"));
        assert_eq!(x.get("g@md5"), None, "suffixes match whole components");
    }

    #[test]
    fn malformed_and_hostile_input_is_tolerated() {
        for s in [
            "",
            "<",
            "<msg><a>x</b>",
            "not xml",
            "<a b='1' b='2'/>",
            "&bogus;",
        ] {
            let _ = Xml::parse(s);
        }
        let deep = "<a>".repeat(10_000);
        assert!(Xml::parse(&deep).values.len() <= MAX_VALUES);
        let many = "<a x='1'/>".repeat(10_000);
        assert!(Xml::parse(&many).values.len() <= MAX_VALUES);
    }
}
