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
/// At most this many values from a document that lists many items (a forwarded chat
/// record's items).
pub(crate) const MAX_LIST_VALUES: usize = 16_384;
/// At most this deep.
const MAX_DEPTH: usize = 32;

/// A flattened XML document.
#[derive(Debug, Default)]
pub(crate) struct Xml {
    values: Vec<(String, String)>,
    /// Each element read, in document order.
    elements: Vec<Element>,
}

/// Where one element's values and descendants are.
#[derive(Debug, Clone)]
struct Element {
    path: String,
    /// Its values (attributes, text, its descendants') in `Xml::values`.
    values: std::ops::Range<usize>,
    /// Its descendants are the elements after it, up to this index of `Xml::elements`.
    descendants_end: usize,
}

impl Xml {
    /// Parses `text`; never fails (bad XML gives fewer values).
    pub(crate) fn parse(text: &str) -> Xml {
        Xml::parse_bounded(text, MAX_VALUES)
    }

    /// Parses `text`, keeping at most `max_values` values (and as many elements).
    pub(crate) fn parse_bounded(text: &str, max_values: usize) -> Xml {
        let mut xml = Xml::default();
        let mut reader = Reader::from_str(text);
        reader.config_mut().trim_text(false);
        let mut path: Vec<String> = Vec::new();
        // Index in `elements` of each open element.
        let mut open: Vec<usize> = Vec::new();
        let mut text_buf = String::new();
        loop {
            if xml.values.len() >= max_values || xml.elements.len() >= max_values {
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
                    open.push(xml.open_element(&path));
                    xml.attributes(&path, &e);
                }
                Event::Empty(e) => {
                    xml.flush_text(&path, &mut text_buf);
                    path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                    let i = xml.open_element(&path);
                    xml.attributes(&path, &e);
                    xml.close_element(Some(i));
                    path.pop();
                }
                Event::End(_) => {
                    xml.flush_text(&path, &mut text_buf);
                    xml.close_element(open.pop());
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
        while let Some(i) = open.pop() {
            xml.close_element(Some(i));
        }
        xml
    }

    /// Records the start of the element at `path`; returns its index.
    fn open_element(&mut self, path: &[String]) -> usize {
        let start = self.values.len();
        let i = self.elements.len();
        self.elements.push(Element {
            path: path.join("/"),
            values: start..start,
            descendants_end: i + 1,
        });
        i
    }

    /// Records the end of element `i`: its values and descendants end here.
    fn close_element(&mut self, i: Option<usize>) {
        let (values_end, elements_end) = (self.values.len(), self.elements.len());
        if let Some(e) = i.and_then(|i| self.elements.get_mut(i)) {
            e.values.end = values_end;
            e.descendants_end = elements_end;
        }
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
            .find(|(p, _)| ends_with_components(p, suffix))
            .map(|(_, v)| v.as_str())
    }

    /// Like [`Xml::get`], trimmed, `None` when empty.
    pub(crate) fn text(&self, suffix: &str) -> Option<String> {
        self.get(suffix)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// Each element whose path ends with `suffix` (whole components), in document order,
    /// as a document of its own: its values keep their full paths.
    pub(crate) fn each(&self, suffix: &str) -> Vec<Xml> {
        self.elements
            .iter()
            .enumerate()
            .filter(|(_, e)| ends_with_components(&e.path, suffix))
            .map(|(i, e)| {
                let (first, at) = (e.values.start, i);
                Xml {
                    values: self.values[e.values.clone()].to_vec(),
                    elements: self.elements[i..e.descendants_end]
                        .iter()
                        .map(|d| Element {
                            path: d.path.clone(),
                            values: d.values.start - first..d.values.end - first,
                            descendants_end: d.descendants_end - at,
                        })
                        .collect(),
                }
            })
            .collect()
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

/// Whether `path` ends with `suffix` at a component boundary (`/` or, for an attribute
/// suffix, its element's boundary).
fn ends_with_components(path: &str, suffix: &str) -> bool {
    path == suffix
        || (path.ends_with(suffix) && path.as_bytes()[path.len() - suffix.len() - 1] == b'/')
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
    fn repeated_elements_read_one_by_one() {
        let x =
            Xml::parse("<l><m><u>a</u><n>A</n></m><m><u>b</u></m><m/><m k='v'><n>C</n></m></l>");
        let ms = x.each("m");
        assert_eq!(ms.len(), 4);
        assert_eq!(ms[0].get("u"), Some("a"));
        assert_eq!(ms[0].get("n"), Some("A"));
        assert_eq!(ms[1].get("n"), None, "no value leaks from a sibling");
        assert!(ms[2].is_empty());
        assert_eq!(ms[3].get("m@k"), Some("v"));
        assert_eq!(ms[3].get("l/m/n"), Some("C"));
        // Nested: each of an element's own repeated children.
        let x = Xml::parse("<r><k><n>1</n><m>a</m><m>b</m></k><k><n>2</n><m>c</m></k><k/></r>");
        let ks = x.each("k");
        let ms = |k: &Xml| {
            k.each("m")
                .iter()
                .map(|m| m.get("m").unwrap_or("").to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(ms(&ks[0]), ["a", "b"]);
        assert_eq!(ms(&ks[1]), ["c"]);
        assert!(ms(&ks[2]).is_empty());
        assert_eq!(ks[1].get("n"), Some("2"));
        // Unclosed elements end with the document.
        assert_eq!(
            Xml::parse("<l><m><u>a</u>").each("m")[0].get("u"),
            Some("a")
        );
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
        let empty = "<a/>".repeat(10_000);
        assert!(Xml::parse(&empty).elements.len() <= MAX_VALUES);
    }
}
