//! Differential test of the WhatsApp text-export reader (issue #18): every fixture chat text
//! under tests/fixtures/whatsapp/ (each `*.txt`, Android exports and iOS `_chat.txt`) is
//! read by ChatVault (`whatsapp::parse_text`) and by an independent parser, the npm package
//! `whatsapp-chat-parser` (installed by scripts/test.sh under $CHATVAULT_TOOLS; run by
//! tests/whatsapp-diff/parse.mjs with its default options). The two message lists are
//! aligned (a weighted longest-common-subsequence, so one missed or extra message does not
//! shift the rest) and each pair compared: author, timestamp (to the minute for Android,
//! to the second for iOS) and text (direction marks and the BOM dropped, CRLF made LF,
//! trimmed; where our reader turned the line into media, a placeholder, a deletion or an
//! edit, its text is compared as the export wrote it, i.e. our `raw` after the author).
//! Messages only one side has count as disagreements too. The peer reads no header written
//! in native digits (Arabic, Persian), so those files are compared a second time with the
//! digits (and the Arabic comma, U+200F) made ASCII for the peer and in our output alike
//! (rows marked `*`, reported apart from the overall rate).
//!
//! Every disagreement is put in a named class ([`CLASSES`]). A class is *explained* when
//! the peer is wrong and ours right, with the reason written there; each detector checks
//! the condition that makes ours right (e.g. for a localized PM word, that our hour is in
//! the afternoon), so a bug of ours does not hide in an explained class. The test prints a
//! table per language and the overall agreement rate, and **asserts that no disagreement is
//! unexplained** (not a rate threshold): any new one fails, with the line, ours and the
//! peer's, until it is fixed in our reader or explained here.
//!
//! Node and the package are required: a missing tool fails the test, naming the install
//! command (scripts/test.sh always installs it). CHATVAULT_WHATSAPP_FIXTURES points the
//! test at another folder of exports (one subfolder per language), to try real chats.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use chatvault_core::sources::model::{Message, MessageKind, Timestamp};
use chatvault_core::sources::whatsapp;
use chrono::{Datelike, NaiveDateTime, Timelike};
use serde_json::Value;

mod common;
use common::Collect;

/// The version scripts/test.sh installs (kept in step with it).
const PEER: &str = "whatsapp-chat-parser@4.0.2";

/// A class of disagreement: a name, whether it is explained (the peer is wrong, ours
/// right), and why.
struct Class {
    name: &'static str,
    explained: bool,
    reason: &'static str,
}

const CLASSES: &[Class] = &[
    Class {
        name: "peer-localized-ampm",
        explained: true,
        reason: "The peer knows AM/PM only spelled with the Latin letters a, p, m (\"PM\", \
                 \"p. m.\"); a locale's own word (上午/下午, 오전/오후, 午前/午後, ص/م, vorm./nachm., \
                 ÖÖ/ÖS, SA/CH, ...) is skipped, so a 12-hour time is read as if it were \
                 24-hour: 下午4:14 becomes 04:14. Ours reads the word (checked: a PM word gives \
                 our hour 12-23, an AM word 0-11) and the peer's hour is ours ± 12.",
    },
    Class {
        name: "peer-splits-system-sentence",
        explained: true,
        reason: "A system line whose sentence contains \": \" (You changed the subject to \
                 \"Trip: 2023\") has no author; the peer takes everything before the first \
                 \": \" as the author. Ours checks the would-be name (quotation marks, length, \
                 system phrases) and keeps the line a system line. Checked: the peer's author \
                 + \": \" + text is exactly our text, and that \"author\" opens a quotation it \
                 does not close (it was cut inside a quoted subject: not a name).",
    },
    Class {
        name: "peer-ios-system-under-chat-name",
        explained: true,
        reason: "iOS writes the system lines of a one-to-one chat (the encryption notice, \
                 'security code changed', ...) under the partner's name, the text starting \
                 with a left-to-right mark U+200E. Nobody wrote them: ours makes them system \
                 lines with no author; the peer credits the partner. Checked: the line has \
                 \"NAME: \\u{200E}\" and the texts agree.",
    },
    Class {
        name: "peer-ampm-word-after-time",
        explained: true,
        reason: "Same cause as peer-localized-ampm, where the word comes after the time \
                 (Malay \"9:05 PG - \", Arabic iOS \"[5/1/2023, 1:12:07 م] \"): the peer's \
                 header ends before the word, so the word and the header's end (\" - \", \
                 \"] \") become the start of the author (\"PTG - Aisyah\", \"م] أحمد\") or of \
                 a system line's text. Checked: the peer's author (or text) is exactly the \
                 word, the header's end and ours, and the header has the word.",
    },
    Class {
        name: "peer-bom-line",
        explained: true,
        reason: "The line starts with a byte-order mark U+FEFF (a file's first line, or a \
                 line where exports were joined). The peer only allows U+200E/U+200F before \
                 a header, so the line is not a message to it: it is glued to the message \
                 before (or dropped when there is none). A BOM is an invisible mark, not \
                 text: ours skips it and reads the header.",
    },
    Class {
        name: "peer-native-digits",
        explained: true,
        reason: "The header is written in the locale's digits (Arabic-Indic ٣٠/٦/٢٠٢٣, \
                 Persian ۱۴۰۲): the peer's patterns only know ASCII digits (\\d without the u \
                 flag), so the line is not a message to it and is glued to the message before \
                 (or dropped when there is none). Ours maps the digits to ASCII and reads it.",
    },
    Class {
        name: "peer-time-first",
        explained: true,
        reason: "Vietnamese exports write the time before the date (16:14, 30/06/2023 - ); \
                 the peer's pattern wants the date first, so the line is not a message to it \
                 and is glued to the one before (or dropped). Ours has a time-first shape.",
    },
    Class {
        name: "peer-month-name-date",
        explained: true,
        reason: "Exports from 2013-2015 write the month as a name (19:23, 28 Aug 2013 - ; \
                 Mar 5, 8:11 PM - ; 18 Mar 12:14 - ) and leave out the year of the export's \
                 own year; the peer's patterns know numeric dates only, so the line is not a \
                 message to it. Ours reads month names (checked: the header holds one).",
    },
    Class {
        name: "peer-buddhist-year",
        explained: true,
        reason: "Thai exports count years in the Buddhist era (2566 = 2023 CE). The peer \
                 takes the number as a Gregorian year, 543 years late; ours converts it \
                 (checked: the peer's year is ours + 543 and the rest agrees).",
    },
    Class {
        name: "peer-absorbed-missed-lines",
        explained: true,
        reason: "Consequence of a header the peer did not recognise (one of the classes \
                 above, on the message that follows): the peer appends that whole line to \
                 this message's text. Checked: the peer's text is ours followed by the raw \
                 lines of the messages it missed.",
    },
    Class {
        name: "unexplained-missing-in-peer",
        explained: false,
        reason: "ours has a message the peer does not",
    },
    Class {
        name: "unexplained-missing-in-ours",
        explained: false,
        reason: "the peer has a message ours does not",
    },
    Class {
        name: "unexplained-author",
        explained: false,
        reason: "authors differ",
    },
    Class {
        name: "unexplained-time",
        explained: false,
        reason: "timestamps differ",
    },
    Class {
        name: "unexplained-text",
        explained: false,
        reason: "texts differ",
    },
];

fn class(name: &str) -> &'static Class {
    CLASSES
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no class {name}"))
}

/// AM and PM words of the locales whose word the peer does not know (it knows a/p/m).
const AM_WORDS: &[&str] = &[
    "上午",
    "午前",
    "오전",
    "ص",
    "vorm.",
    "ÖÖ",
    "SA",
    "fm",
    "de.",
    "ق.ظ.",
    "לפנה״צ",
    "ก่อนเที่ยง",
    "PG",
];
const PM_WORDS: &[&str] = &[
    "下午",
    "午後",
    "오후",
    "م",
    "nachm.",
    "ÖS",
    "CH",
    "em",
    "du.",
    "ب.ظ.",
    "אחה״צ",
    "หลังเที่ยง",
    "PTG",
];

/// A message as ours read it, reduced to what is compared.
#[derive(Debug)]
struct Ours {
    time: NaiveDateTime,
    author: Option<String>,
    /// The text as our reader exposes it.
    text: String,
    /// The text as the export wrote it (after the author), for media, placeholders,
    /// deletions and edits, where our text is the caption or nothing.
    written: Option<String>,
    /// The export's lines.
    raw: String,
    kind: MessageKind,
}

#[derive(Debug)]
struct Peer {
    time: Option<NaiveDateTime>,
    author: Option<String>,
    text: String,
}

/// Invisible marks dropped, CRLF made LF, trimmed.
fn norm(s: &str) -> String {
    s.replace("\r\n", "\n")
        .chars()
        .filter(|c| {
            !matches!(
                c,
                '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{FEFF}'
            )
        })
        .collect::<String>()
        .trim()
        .to_string()
}

fn ours_of(m: Message) -> Ours {
    let Timestamp::Local(ms) = m.time else {
        panic!("WhatsApp times are wall-clock: {:?}", m.time)
    };
    let time = chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .naive_utc();
    let raw = m.raw.clone().unwrap_or_default();
    let rewritten = m.edited || !matches!(m.kind, MessageKind::Text | MessageKind::System);
    let written = match (&m.sender, rewritten) {
        (Some(a), true) => raw
            .find(&format!("{a}: "))
            .map(|i| raw[i + a.len() + 2..].to_string()),
        _ => None,
    };
    Ours {
        time,
        author: m.sender,
        text: m.text,
        written,
        raw,
        kind: m.kind,
    }
}

fn text_agrees(o: &Ours, p: &Peer) -> bool {
    let pt = norm(&p.text);
    norm(&o.text) == pt || o.written.as_deref().is_some_and(|w| norm(w) == pt)
}

fn time_agrees(o: &Ours, p: &Peer, ios: bool) -> bool {
    p.time.is_some_and(|pt| same_time(o.time, pt, ios))
}

/// Equal to the second (iOS), or to the minute (Android: its headers have no seconds).
fn same_time(a: NaiveDateTime, b: NaiveDateTime, ios: bool) -> bool {
    let cut = |t: NaiveDateTime| {
        let t = t.with_nanosecond(0).unwrap();
        if ios {
            t
        } else {
            t.with_second(0).unwrap()
        }
    };
    cut(a) == cut(b)
}

fn author_agrees(o: &Ours, p: &Peer) -> bool {
    o.author.as_deref().map(norm) == p.author.as_deref().map(norm)
}

/// The header part of a raw line: before the author (or, for a system line, its text).
fn header_of(o: &Ours) -> &str {
    let first = o.raw.lines().next().unwrap_or("");
    let cut = match &o.author {
        Some(a) => first.find(&format!("{a}: ")),
        None => {
            let t = norm(&o.text);
            let t = t.lines().next().unwrap_or("");
            if t.is_empty() {
                None
            } else {
                first.find(t)
            }
        }
    };
    &first[..cut.unwrap_or(first.len())]
}

fn has_word(header: &str, words: &[&str]) -> bool {
    words.iter().any(|w| {
        header.match_indices(w).any(|(i, _)| {
            // A whole word: not inside a longer run of letters.
            let before = header[..i].chars().next_back();
            let after = header[i + w.len()..].chars().next();
            let letter =
                |c: Option<char>| c.is_some_and(|c| c.is_alphabetic() && !w.starts_with(c));
            !letter(before) && !letter(after)
        })
    })
}

/// Whether `s` opens a quotation it does not close: cut inside a quoted group name
/// (`You created group "Trip`), it is not a person's name (`Ann "Nini" Lee` is).
fn open_quote(s: &str) -> bool {
    let n = |c: char| s.chars().filter(|&x| x == c).count();
    n('"') % 2 == 1
        || [
            ('“', '”'),
            ('„', '“'),
            ('«', '»'),
            ('「', '」'),
            ('『', '』'),
        ]
        .iter()
        .any(|&(o, c)| o != c && n(o) > n(c))
}

/// Whether the peer's `theirs` is a localized AM/PM word of the header, the header's end
/// (Android " - ", iOS "] "), then `ours`.
fn word_before(theirs: &str, ours: &str, header: &str) -> bool {
    AM_WORDS.iter().chain(PM_WORDS).any(|w| {
        has_word(header, &[w])
            && [" - ", "] "]
                .iter()
                .any(|sep| norm(theirs) == norm(&format!("{w}{sep}{ours}")))
    })
}

/// Why a message the peer did not see as a message was missed, if ours is right.
fn missed_class(o: &Ours) -> Option<&'static str> {
    if o.kind == MessageKind::Unparsed {
        return None;
    }
    let first = o.raw.lines().next().unwrap_or("");
    if first.starts_with('\u{FEFF}') {
        return Some("peer-bom-line");
    }
    let header = header_of(o);
    if header
        .chars()
        .any(|c| c.is_numeric() && !c.is_ascii_digit())
    {
        return Some("peer-native-digits");
    }
    // A month name: "28 Aug 2013", "Mar 5", "18 Mar".
    const MONTHS: [&str; 13] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    ];
    if header
        .split(|c: char| !c.is_alphabetic())
        .any(|w| MONTHS.contains(&w.to_lowercase().as_str()))
    {
        return Some("peer-month-name-date");
    }
    // Time first: "16:14, 30/06/2023 - " or "[16:14:05, 30/06/2023] ".
    let h = header.trim_start_matches(|c: char| c == '[' || norm(&c.to_string()).is_empty());
    let digits = h.chars().take_while(char::is_ascii_digit).count();
    if (1..=2).contains(&digits) && h[digits..].starts_with(':') {
        return Some("peer-time-first");
    }
    None
}

/// The classes of a pair's disagreements (empty: they agree).
fn pair_classes(o: &Ours, p: &Peer, ios: bool, absorbed: &[&Ours]) -> Vec<&'static str> {
    let mut out = Vec::new();
    let text_ok = text_agrees(o, p);
    let author_ok = author_agrees(o, p);
    // Authors.
    if !author_ok {
        let c = match (&o.author, &p.author) {
            (Some(oa), Some(pa)) if word_before(pa, oa, header_of(o)) => {
                Some("peer-ampm-word-after-time")
            }
            (None, Some(a)) if o.kind == MessageKind::System => {
                let joined = norm(&format!("{a}: {}", p.text));
                if joined == norm(&o.text) && open_quote(a) {
                    Some("peer-splits-system-sentence")
                } else if text_ok && o.raw.contains(&format!("{a}: \u{200E}")) {
                    Some("peer-ios-system-under-chat-name")
                } else {
                    None
                }
            }
            _ => None,
        };
        out.push(c.unwrap_or("unexplained-author"));
    }
    // Times.
    if !time_agrees(o, p, ios) {
        let c = p.time.and_then(|pt| {
            let header = header_of(o);
            let ot = o.time;
            let same_rest = pt.minute() == ot.minute() && (!ios || pt.second() == ot.second());
            let ampm = pt.date() == ot.date()
                && same_rest
                && (pt.hour() + 12) % 24 == ot.hour()
                && ((has_word(header, PM_WORDS) && ot.hour() >= 12)
                    || (has_word(header, AM_WORDS) && ot.hour() < 12));
            let buddhist = pt.year() == ot.year() + 543
                && pt
                    .with_year(ot.year())
                    .is_some_and(|t| same_time(ot, t, ios))
                && header.contains(&(ot.year() + 543).to_string());
            if ampm {
                Some("peer-localized-ampm")
            } else if buddhist {
                Some("peer-buddhist-year")
            } else {
                None
            }
        });
        out.push(c.unwrap_or("unexplained-time"));
    }
    // Texts (a split system sentence is one disagreement, already counted).
    if !text_ok && !out.contains(&"peer-splits-system-sentence") {
        let mut c = None;
        if o.kind == MessageKind::System && word_before(&p.text, &o.text, header_of(o)) {
            c = Some("peer-ampm-word-after-time");
        }
        if c.is_none() && !absorbed.is_empty() {
            // The peer's text: ours, then the lines of the messages it missed.
            let mut want = o.written.clone().unwrap_or_else(|| o.text.clone());
            for m in absorbed {
                want.push('\n');
                want.push_str(&m.raw);
            }
            let mut want_alt = o.text.clone();
            for m in absorbed {
                want_alt.push('\n');
                want_alt.push_str(&m.raw);
            }
            let pt = norm(&p.text);
            if norm(&want) == pt || norm(&want_alt) == pt {
                c = Some("peer-absorbed-missed-lines");
            }
        }
        out.push(c.unwrap_or("unexplained-text"));
    }
    out
}

enum Step {
    Pair(usize, usize),
    OursOnly(usize),
    PeerOnly(usize),
}

/// Aligns the two lists: a longest common subsequence weighted by how much of a pair
/// agrees (text counts most), pairs that share neither text nor time excluded.
fn align(ours: &[Ours], peer: &[Peer], ios: bool) -> Vec<Step> {
    let score = |o: &Ours, p: &Peer| -> i64 {
        let t = text_agrees(o, p);
        let tm = time_agrees(o, p, ios);
        let a = author_agrees(o, p);
        let pt = norm(&p.text);
        let ot = norm(&o.text);
        let overlap = !ot.is_empty() && pt.contains(&ot)
            || o.written
                .as_deref()
                .is_some_and(|w| !norm(w).is_empty() && pt.contains(&norm(w)));
        if !(t || tm || overlap) {
            return 0;
        }
        1 + 4 * t as i64 + 2 * tm as i64 + a as i64 + overlap as i64
    };
    let (n, m) = (ours.len(), peer.len());
    if n.saturating_mul(m) > MAX_EXACT_CELLS {
        return align_greedy(ours, peer, &score);
    }
    let mut best = vec![vec![0i64; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            let s = score(&ours[i], &peer[j]);
            let mut b = best[i + 1][j].max(best[i][j + 1]);
            if s > 0 {
                b = b.max(s + best[i + 1][j + 1]);
            }
            best[i][j] = b;
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut steps = Vec::new();
    while i < n || j < m {
        if i < n && j < m {
            let s = score(&ours[i], &peer[j]);
            if s > 0 && best[i][j] == s + best[i + 1][j + 1] {
                steps.push(Step::Pair(i, j));
                i += 1;
                j += 1;
                continue;
            }
        }
        if i < n && (j == m || best[i][j] == best[i + 1][j]) {
            steps.push(Step::OursOnly(i));
            i += 1;
        } else {
            steps.push(Step::PeerOnly(j));
            j += 1;
        }
    }
    steps
}

/// Above this many (ours × peer) pairs the exact alignment is too slow and too large (real
/// chats of 10,000+ messages, CHATVAULT_WHATSAPP_FIXTURES): a greedy one is used.
const MAX_EXACT_CELLS: usize = 4_000_000;

/// Greedy alignment for long chats: pair while the next two agree; otherwise skip the
/// fewest messages (on either side, within a window) that makes them agree again.
fn align_greedy(ours: &[Ours], peer: &[Peer], score: &dyn Fn(&Ours, &Peer) -> i64) -> Vec<Step> {
    const WINDOW: usize = 50;
    let (n, m) = (ours.len(), peer.len());
    let (mut i, mut j) = (0, 0);
    let mut steps = Vec::new();
    while i < n || j < m {
        if i < n && j < m && score(&ours[i], &peer[j]) > 0 {
            steps.push(Step::Pair(i, j));
            i += 1;
            j += 1;
            continue;
        }
        let resync = (1..=WINDOW).find_map(|d| {
            (0..=d).find_map(|a| {
                let b = d - a;
                (i + a < n && j + b < m && score(&ours[i + a], &peer[j + b]) > 0).then_some((a, b))
            })
        });
        let (a, b) = resync.unwrap_or((usize::from(i < n), usize::from(j < m)));
        for _ in 0..a {
            steps.push(Step::OursOnly(i));
            i += 1;
        }
        for _ in 0..b {
            steps.push(Step::PeerOnly(j));
            j += 1;
        }
    }
    steps
}

#[derive(Default)]
struct Tally {
    messages: u64,
    agreeing: u64,
    /// Messages by class (a message may fall in more than one).
    by_class: BTreeMap<&'static str, u64>,
    unexplained: Vec<String>,
    examples: BTreeMap<&'static str, String>,
}

impl Tally {
    fn disagree(&mut self, classes: &[&'static str], detail: String) {
        for c in classes {
            *self.by_class.entry(c).or_insert(0) += 1;
            self.examples.entry(c).or_insert_with(|| detail.clone());
        }
        if classes.iter().any(|c| !class(c).explained) {
            self.unexplained.push(format!("{classes:?} {detail}"));
        }
    }
}

/// Aligns ours and the peer's messages of one file and counts where they agree.
fn compare(rel: &str, ours: &[Ours], theirs: &[Peer], ios: bool, tally: &mut Tally) {
    let steps = align(ours, theirs, ios);
    // Which of ours the peer missed, and so glued to the peer message before them.
    let mut classes_of_missed: BTreeMap<usize, Option<&'static str>> = BTreeMap::new();
    for s in &steps {
        if let Step::OursOnly(i) = s {
            classes_of_missed.insert(*i, missed_class(&ours[*i]));
        }
    }
    for (k, s) in steps.iter().enumerate() {
        tally.messages += 1;
        let at = |line: usize| format!("{rel}: message {}", line + 1);
        match *s {
            Step::Pair(i, j) => {
                // Ours-only messages right after this pair, which the peer glued on.
                let absorbed: Vec<&Ours> = steps[k + 1..]
                    .iter()
                    .map_while(|s| match s {
                        Step::OursOnly(x) if classes_of_missed[x].is_some() => Some(&ours[*x]),
                        _ => None,
                    })
                    .collect();
                let classes = pair_classes(&ours[i], &theirs[j], ios, &absorbed);
                if classes.is_empty() {
                    tally.agreeing += 1;
                } else {
                    let d = format!("{}\n    {}", at(i), show(Some(&ours[i]), Some(&theirs[j])));
                    tally.disagree(&classes, d);
                }
            }
            Step::OursOnly(i) => {
                let c = classes_of_missed[&i].unwrap_or("unexplained-missing-in-peer");
                let d = format!("{}\n    {}", at(i), show(Some(&ours[i]), None));
                tally.disagree(&[c], d);
            }
            Step::PeerOnly(j) => {
                let d = format!(
                    "{}: peer message {}\n    {}",
                    rel,
                    j + 1,
                    show(None, Some(&theirs[j]))
                );
                tally.disagree(&["unexplained-missing-in-ours"], d);
            }
        }
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn chat_texts(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            chat_texts(&p, out);
        } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("txt")) {
            out.push(p);
        }
    }
}

/// What parse.mjs --transliterate does to a file before the peer reads it: native digits
/// made ASCII, the Arabic comma a comma, U+200F dropped.
fn transliterate(s: &str) -> String {
    s.chars()
        .filter(|&c| c != '\u{200F}')
        .map(|c| match c {
            '\u{0660}'..='\u{0669}' => char::from(b'0' + (c as u32 - 0x0660) as u8),
            '\u{06F0}'..='\u{06F9}' => char::from(b'0' + (c as u32 - 0x06F0) as u8),
            '\u{060C}' => ',',
            c => c,
        })
        .collect()
}

fn transliterated(o: &Ours) -> Ours {
    Ours {
        time: o.time,
        author: o.author.as_deref().map(transliterate),
        text: transliterate(&o.text),
        written: o.written.as_deref().map(transliterate),
        raw: transliterate(&o.raw),
        kind: o.kind,
    }
}

/// Runs the peer on every file at once (`transliterate`: see parse.mjs): file -> its
/// messages.
fn run_peer(files: &[PathBuf], transliterate: bool) -> BTreeMap<String, Vec<Peer>> {
    let install = format!(
        "npm install --prefix \"$(scripts/tools-dir.sh)\" --no-save --no-audit --no-fund \
         kotlin-compiler@2.4.20 playwright-core@1.65.1 {PEER} (scripts/test.sh does it)"
    );
    let tools = chatvault_fixtures::servers::tools_dir();
    assert!(
        tools.join("node_modules/whatsapp-chat-parser").exists(),
        "the peer parser whatsapp-chat-parser is missing under {}: install it with\n  {install}",
        tools.display()
    );
    let out = Command::new("node")
        .arg(workspace().join("tests/whatsapp-diff/parse.mjs"))
        .args(transliterate.then_some("--transliterate"))
        .args(files)
        .env("CHATVAULT_TOOLS", &tools)
        .env("TZ", "UTC")
        .output()
        .unwrap_or_else(|e| panic!("node (Node.js) is needed to run the peer parser: {e}"));
    assert!(
        out.status.success(),
        "the peer parser failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("the peer's JSON");
    json.as_object()
        .unwrap()
        .iter()
        .map(|(file, msgs)| {
            let msgs = msgs
                .as_array()
                .unwrap()
                .iter()
                .map(|m| Peer {
                    time: m["date"].as_str().map(|d| {
                        NaiveDateTime::parse_from_str(d, "%Y-%m-%dT%H:%M:%S")
                            .unwrap_or_else(|e| panic!("peer date {d}: {e}"))
                    }),
                    author: m["author"].as_str().map(str::to_string),
                    text: m["message"].as_str().unwrap_or_default().to_string(),
                })
                .collect();
            (file.clone(), msgs)
        })
        .collect()
}

fn show(o: Option<&Ours>, p: Option<&Peer>) -> String {
    let ours = o.map(|o| {
        format!(
            "ours: {} {:?} {:?} ({:?}) raw {:?}",
            o.time, o.author, o.text, o.kind, o.raw
        )
    });
    let peer = p.map(|p| {
        format!(
            "peer: {} {:?} {:?}",
            p.time.map(|t| t.to_string()).unwrap_or("-".into()),
            p.author,
            p.text
        )
    });
    [ours, peer]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n    ")
}

#[test]
fn whatsapp_reader_agrees_with_an_independent_parser() {
    let root = std::env::var_os("CHATVAULT_WHATSAPP_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("tests/fixtures/whatsapp"));
    let mut files = Vec::new();
    chat_texts(&root, &mut files);
    assert!(!files.is_empty(), "no chat texts under {}", root.display());
    let peer = run_peer(&files, false);
    // Files written in native digits, compared again transliterated: (file, ios, relative
    // name, ours transliterated), by language.
    type Later = Vec<(PathBuf, bool, String, Vec<Ours>)>;
    let mut transliterate_later: BTreeMap<String, Later> = BTreeMap::new();

    let mut by_lang: BTreeMap<String, Tally> = BTreeMap::new();
    let mut unreadable: Vec<String> = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&root).unwrap();
        let lang = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .into_owned();
        let ios = rel.components().any(|c| c.as_os_str() == "ios")
            || file.file_name().is_some_and(|n| n == "_chat.txt");
        let bytes = std::fs::read(file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy();
        let mut sink = Collect::default();
        if let Err(e) =
            whatsapp::parse_text(&bytes, &name, &whatsapp::Options::default(), &mut sink)
        {
            // Every file is tried before the test fails, so one run lists them all.
            unreadable.push(format!("{}: {e}", rel.display()));
            continue;
        }
        let ours: Vec<Ours> = sink.messages.into_iter().map(ours_of).collect();
        let native = ours.iter().any(|o| {
            header_of(o)
                .chars()
                .any(|c| c.is_numeric() && !c.is_ascii_digit())
        });
        if native {
            let ours: Vec<Ours> = ours.iter().map(transliterated).collect();
            let entry = (file.clone(), ios, rel.display().to_string(), ours);
            transliterate_later
                .entry(lang.clone())
                .or_default()
                .push(entry);
        }
        let theirs = &peer[file.to_str().unwrap()];
        compare(
            &rel.display().to_string(),
            &ours,
            theirs,
            ios,
            by_lang.entry(lang).or_default(),
        );
    }
    // Second look at the exports written in native digits, which the peer cannot read: the
    // same files transliterated for it, ours mapped alike.
    let files2: Vec<PathBuf> = transliterate_later
        .values()
        .flatten()
        .map(|(f, ..)| f.clone())
        .collect();
    let peer2 = if files2.is_empty() {
        BTreeMap::new()
    } else {
        run_peer(&files2, true)
    };
    for (lang, entries) in &transliterate_later {
        for (file, ios, rel, ours) in entries {
            let theirs = &peer2[file.to_str().unwrap()];
            let tally = by_lang.entry(format!("{lang}*")).or_default();
            compare(
                &format!("{rel} (transliterated)"),
                ours,
                theirs,
                *ios,
                tally,
            );
        }
    }

    // The report.
    println!(
        "\nWhatsApp reader vs {PEER}, {} chat texts under {}",
        files.len(),
        root.display()
    );
    println!(
        "{:<8} {:>8} {:>8} {:>8}  disagreeing by class",
        "lang", "messages", "agree", "rate"
    );
    // The overall rate is over the files as they are; the transliterated second look
    // (rows marked *) is reported on its own.
    let mut total = Tally::default();
    let mut second = Tally::default();
    let mut all = Tally::default();
    for (lang, t) in &by_lang {
        let classes: Vec<String> = t.by_class.iter().map(|(c, n)| format!("{c} {n}")).collect();
        println!(
            "{lang:<8} {:>8} {:>8} {:>7.1}%  {}",
            t.messages,
            t.agreeing,
            100.0 * t.agreeing as f64 / t.messages.max(1) as f64,
            classes.join(", ")
        );
        for sum in [
            if lang.ends_with('*') {
                &mut second
            } else {
                &mut total
            },
            &mut all,
        ] {
            sum.messages += t.messages;
            sum.agreeing += t.agreeing;
            for (c, n) in &t.by_class {
                *sum.by_class.entry(c).or_insert(0) += n;
            }
            for (c, e) in &t.examples {
                sum.examples.entry(c).or_insert_with(|| e.clone());
            }
            sum.unexplained.extend(t.unexplained.iter().cloned());
        }
    }
    for (what, t) in [
        ("overall", &total),
        ("* native digits transliterated for the peer", &second),
    ] {
        let unexplained = t.unexplained.len() as u64;
        println!(
            "{what}: {} messages, {} agree: agreement rate {:.2}%; {} disagree, {} of them \
             unexplained ({:.2}% agree or are explained)",
            t.messages,
            t.agreeing,
            100.0 * t.agreeing as f64 / t.messages.max(1) as f64,
            t.messages - t.agreeing,
            unexplained,
            100.0 * (t.messages - unexplained) as f64 / t.messages.max(1) as f64,
        );
    }
    println!("disagreements by class (a message may have several):");
    for (c, n) in &all.by_class {
        let cl = class(c);
        println!(
            "  {c}: {n} ({})\n    why: {}\n    e.g. {}",
            if cl.explained {
                "explained"
            } else {
                "UNEXPLAINED"
            },
            cl.reason,
            all.examples[c]
        );
    }
    let total = all;
    for u in &unreadable {
        println!("ours could not read {u}");
    }
    assert!(
        unreadable.is_empty(),
        "{} chat texts ours could not read (listed above)",
        unreadable.len()
    );
    assert!(
        total.unexplained.is_empty(),
        "{} unexplained disagreements with {PEER} (fix our reader, or explain the class in \
         CLASSES with the reason ours is right):\n{}",
        total.unexplained.len(),
        total.unexplained.join("\n")
    );
}
