//! What WhatsApp writes in each language: AM/PM words, words between date and time, media
//! placeholders, deleted and edited markers, and words that only system lines use. One
//! table per language; the reader asks all of them at once (a file's language is never
//! guessed, so a phrase is recognised whichever language the phone was set to, and a chat
//! whose members wrote in several languages stays one chat).
//!
//! Phrases are compared after dropping direction marks and trimming, ignoring case. The
//! facts come from public documentation, peers' published language tables and lines users
//! posted from their own exports (see `docs/FORMAT.md`, "WhatsApp text exports"); a phrase
//! missing here only costs a message its kind (it stays a text message), never the message.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;

/// One language's words.
pub(super) struct Language {
    /// BCP 47 tag.
    #[cfg_attr(not(test), allow(dead_code))]
    pub code: &'static str,
    /// Words for before noon, as written before or after the time.
    pub am: &'static [&'static str],
    /// Words for after noon.
    pub pm: &'static [&'static str],
    /// Day-period words for the night ("at night", "nachts"): evening hours (6–11) are
    /// after noon, the others (12–5) before.
    pub night: &'static [&'static str],
    /// Words between date and time ("à", "um").
    pub date_time: &'static [&'static str],
    /// How system lines name the phone's owner ("You"); documentation for now: the
    /// phrases that involve the owner are whole phrases ("You deleted this message").
    #[allow(dead_code)]
    pub you: &'static [&'static str],
    /// Android, exported without media: the whole message.
    pub media_omitted: &'static [&'static str],
    /// Android: what follows an attached file's name, "(file attached)".
    pub file_attached: &'static [&'static str],
    /// iOS: the word of "<attached: NAME>".
    pub attached: &'static [&'static str],
    /// iOS, exported without media: the whole message, per kind.
    pub image_omitted: &'static [&'static str],
    pub video_omitted: &'static [&'static str],
    pub audio_omitted: &'static [&'static str],
    pub sticker_omitted: &'static [&'static str],
    pub gif_omitted: &'static [&'static str],
    pub document_omitted: &'static [&'static str],
    pub contact_omitted: &'static [&'static str],
    /// "This message was deleted".
    pub deleted: &'static [&'static str],
    /// "You deleted this message".
    pub deleted_by_me: &'static [&'static str],
    /// "<This message was edited>" at the end of a message.
    pub edited: &'static [&'static str],
    /// A "view once" photo, video or voice message (the content is never exported).
    pub view_once: &'static [&'static str],
    /// Start of a shared location ("location: https://maps.google.com/?q=…").
    pub location: &'static [&'static str],
    /// A live location share.
    pub live_location: &'static [&'static str],
    /// Start of a poll ("POLL:").
    pub poll: &'static [&'static str],
    /// Fragments found only in system lines, some of which tell the chat is a group.
    pub group_system: &'static [&'static str],
    /// Fragments found only in system lines of any chat (encryption notice, calls,
    /// security code changes).
    pub system: &'static [&'static str],
    /// The exported file's name around the chat's name: (prefix, suffix).
    pub chat_file: &'static [(&'static str, &'static str)],
}

const NONE: &[&str] = &[];

const EMPTY: Language = Language {
    code: "",
    am: NONE,
    pm: NONE,
    night: NONE,
    date_time: NONE,
    you: NONE,
    media_omitted: NONE,
    file_attached: NONE,
    attached: NONE,
    image_omitted: NONE,
    video_omitted: NONE,
    audio_omitted: NONE,
    sticker_omitted: NONE,
    gif_omitted: NONE,
    document_omitted: NONE,
    contact_omitted: NONE,
    deleted: NONE,
    deleted_by_me: NONE,
    edited: NONE,
    view_once: NONE,
    location: NONE,
    live_location: NONE,
    poll: NONE,
    group_system: NONE,
    system: NONE,
    chat_file: &[],
};

include!("lang_tables.rs");

/// What a whole message line means, when it is one of the tables' phrases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phrase {
    MediaOmitted,
    ImageOmitted,
    VideoOmitted,
    AudioOmitted,
    StickerOmitted,
    GifOmitted,
    DocumentOmitted,
    ContactOmitted,
    Deleted,
    DeletedByMe,
    ViewOnce,
    LiveLocation,
}

/// Every language's phrases, folded for lookup.
struct Folded {
    whole: HashMap<String, Phrase>,
    am: Vec<String>,
    pm: Vec<String>,
    night: Vec<String>,
    date_time: Vec<String>,
    file_attached: Vec<String>,
    attached: Vec<String>,
    edited: Vec<String>,
    location: Vec<String>,
    poll: Vec<String>,
    document_omitted: Vec<String>,
    /// Fragments of system lines that tell the chat is a group, all matched at once.
    group_system: Regex,
    /// Fragments of 7 or more characters that only system lines use: a would-be name
    /// holding one is a system sentence. Shorter ones (" left", "ลบ") could be part of a
    /// name ("Ann Left").
    system_in_name: Regex,
}

/// Lower case, direction marks dropped, odd spaces made plain, trimmed.
pub(super) fn fold(s: &str) -> String {
    s.chars()
        .filter(|&c| !super::header::is_mark(c))
        .map(|c| {
            if super::header::is_odd_space(c) {
                ' '
            } else {
                c
            }
        })
        .collect::<String>()
        .trim()
        .to_lowercase()
}

fn folded() -> &'static Folded {
    static F: OnceLock<Folded> = OnceLock::new();
    F.get_or_init(|| {
        let mut f = Folded {
            whole: HashMap::new(),
            am: Vec::new(),
            pm: Vec::new(),
            night: Vec::new(),
            date_time: Vec::new(),
            file_attached: Vec::new(),
            attached: Vec::new(),
            edited: Vec::new(),
            location: Vec::new(),
            poll: Vec::new(),
            document_omitted: Vec::new(),
            group_system: any_of(&[]),
            system_in_name: any_of(&[]),
        };
        let mut group_system = Vec::new();
        let mut system = Vec::new();
        let all = |v: &mut Vec<String>, words: &[&str]| {
            v.extend(words.iter().map(|w| fold(w)).filter(|w| !w.is_empty()))
        };
        for l in LANGUAGES {
            let whole: [(&[&str], Phrase); 12] = [
                (l.media_omitted, Phrase::MediaOmitted),
                (l.image_omitted, Phrase::ImageOmitted),
                (l.video_omitted, Phrase::VideoOmitted),
                (l.audio_omitted, Phrase::AudioOmitted),
                (l.sticker_omitted, Phrase::StickerOmitted),
                (l.gif_omitted, Phrase::GifOmitted),
                (l.document_omitted, Phrase::DocumentOmitted),
                (l.contact_omitted, Phrase::ContactOmitted),
                (l.deleted, Phrase::Deleted),
                (l.deleted_by_me, Phrase::DeletedByMe),
                (l.view_once, Phrase::ViewOnce),
                (l.live_location, Phrase::LiveLocation),
            ];
            for (words, phrase) in whole {
                for w in words {
                    let k = fold(w);
                    f.whole
                        .entry(k.trim_end_matches('.').to_string())
                        .or_insert(phrase);
                }
            }
            all(&mut f.am, l.am);
            all(&mut f.pm, l.pm);
            all(&mut f.night, l.night);
            all(&mut f.date_time, l.date_time);
            all(&mut f.file_attached, l.file_attached);
            all(&mut f.attached, l.attached);
            all(&mut f.edited, l.edited);
            all(&mut f.location, l.location);
            all(&mut f.poll, l.poll);
            all(&mut group_system, l.group_system);
            all(&mut system, l.system);
            all(&mut f.document_omitted, l.document_omitted);
        }
        system.extend(group_system.iter().cloned());
        system.retain(|p| p.trim().chars().count() >= 7);
        f.group_system = any_of(&group_system);
        f.system_in_name = any_of(&system);
        // Longest first, so "(file attached)" is tried before a shorter word it contains.
        for v in [
            &mut f.file_attached,
            &mut f.edited,
            &mut f.location,
            &mut f.poll,
        ] {
            v.sort_by_key(|w| std::cmp::Reverse(w.len()));
            v.dedup();
        }
        f
    })
}

/// One matcher for many literal fragments (the regex crate finds them all at once, with
/// Aho-Corasick underneath): a line is tested once, not once per fragment.
fn any_of(fragments: &[String]) -> Regex {
    let alternation = if fragments.is_empty() {
        // Matches nothing.
        r"[^\s\S]".to_string()
    } else {
        fragments
            .iter()
            .map(|f| regex::escape(f))
            .collect::<Vec<_>>()
            .join("|")
    };
    Regex::new(&alternation).expect("escaped literals form a valid pattern")
}

/// What a day-period word says of a 12-hour time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Meridiem {
    Am,
    Pm,
    /// "at night": 6–11 are evening hours, 12–5 early morning.
    Night,
}

/// What `word` (folded or not) says of a 12-hour time, if it is an AM, PM or night word.
pub(super) fn meridiem(word: &str) -> Option<Meridiem> {
    let w = fold(word);
    let w = w.trim_end_matches(',');
    if w.is_empty() {
        return None;
    }
    let f = folded();
    // "p. m." and "p.m." and "pm" are one word; compare without dots and spaces as well.
    let bare = |s: &str| {
        s.chars()
            .filter(|c| !matches!(c, '.' | ' '))
            .collect::<String>()
    };
    let wb = bare(w);
    let is = |list: &[String]| list.iter().any(|p| *p == w || bare(p) == wb);
    if is(&f.pm) {
        Some(Meridiem::Pm)
    } else if is(&f.am) {
        Some(Meridiem::Am)
    } else if is(&f.night) {
        Some(Meridiem::Night)
    } else {
        None
    }
}

/// Month names old exports (2013–2015) write dates with ("28 Aug 2013", "Mar 5"), by
/// month: English (full, three letters, "Sept"), and the abbreviations of German, French,
/// Spanish, Italian, Portuguese and Dutch that differ from English. No word means two
/// months in these languages ("mar" is March in each).
const MONTHS: [&[&str]; 12] = [
    &["january", "jan", "janv", "ene", "gen", "jän"],
    &["february", "feb", "févr", "fevr", "fev", "fév"],
    &["march", "mar", "mär", "mars", "mrt", "març"],
    &["april", "apr", "avr", "abr"],
    &["may", "mai", "mei", "mag", "mayo", "maio"],
    &["june", "jun", "juin", "giu", "juni", "junio", "junho"],
    &["july", "jul", "juil", "lug", "juli", "julio", "julho"],
    &["august", "aug", "août", "aout", "ago", "agosto", "augustus"],
    &[
        "september",
        "sep",
        "sept",
        "set",
        "septembre",
        "septiembre",
        "settembre",
        "setembro",
    ],
    &[
        "october", "oct", "okt", "ott", "out", "octobre", "octubre", "ottobre", "outubro",
        "oktober",
    ],
    &["november", "nov", "novembre", "noviembre", "novembro"],
    &[
        "december",
        "dec",
        "dez",
        "déc",
        "dic",
        "diciembre",
        "dicembre",
        "dezembro",
        "dezember",
    ],
];

/// The month (1–12) a month name or abbreviation means, if it is one.
pub(super) fn month(word: &str) -> Option<u32> {
    let w = fold(word);
    let w = w.trim_end_matches('.');
    (1u32..)
        .zip(MONTHS.iter())
        .find(|(_, names)| names.contains(&w))
        .map(|(n, _)| n)
}

/// Whether `word` is one of the words some languages put between date and time.
pub(super) fn is_date_time_word(word: &str) -> bool {
    let w = fold(word);
    let w = w.trim_end_matches(',');
    folded().date_time.iter().any(|d| d == w)
}

/// The meaning of a whole message line, if it is a known phrase.
pub(super) fn whole_phrase(line: &str) -> Option<Phrase> {
    let k = fold(line);
    folded().whole.get(k.trim_end_matches('.')).copied()
}

/// The text of `line` without a trailing "file attached" phrase: the file's name.
pub(super) fn strip_file_attached(line: &str) -> Option<&str> {
    let trimmed = line.trim_end();
    let lower = trimmed.to_lowercase();
    for p in &folded().file_attached {
        if lower.ends_with(p.as_str()) && lower.len() == trimmed.len() {
            let name = trimmed[..trimmed.len() - p.len()].trim_end();
            if !name.is_empty() {
                return Some(name);
            }
        }
    }
    None
}

/// The name in an iOS "<attached: NAME>", anywhere in `line` (a description may come
/// first: "Doc.pdf • 2 pages <attached: 00000047-Doc.pdf>").
pub(super) fn attached_name(line: &str) -> Option<&str> {
    let line = line.trim_end();
    let inner = line.strip_suffix('>')?;
    let open = inner.rfind('<')?;
    let inner = &inner[open + 1..];
    let attached = &folded().attached;
    let (known, name) = match inner.split_once([':', '：']) {
        Some((word, name)) => (attached.contains(&fold(word)), name.trim()),
        // Turkish iOS puts the word after the name: "<NAME eklendi>".
        None => match inner.rsplit_once(' ') {
            Some((name, word)) => (attached.contains(&fold(word)), name.trim()),
            None => return None,
        },
    };
    // iOS names attachments "00000042-PHOTO-2020-06-07-15-13-20.jpg": eight digits and a
    // dash, whatever the language of the word before them.
    let ios_name = name.len() > 9
        && name.as_bytes()[..8].iter().all(u8::is_ascii_digit)
        && name.as_bytes()[8] == b'-';
    (!name.is_empty() && (known || ios_name)).then_some(name)
}

/// `text` without a trailing "edited" marker, if it has one.
pub(super) fn strip_edited(text: &str) -> Option<&str> {
    let trimmed = text.trim_end();
    let cut = trimmed.trim_end_matches(super::header::is_mark);
    let lower = cut.to_lowercase();
    for e in &folded().edited {
        if lower.ends_with(e.as_str()) && lower.len() == cut.len() {
            return Some(
                cut[..cut.len() - e.len()]
                    .trim_end_matches(super::header::is_mark)
                    .trim_end(),
            );
        }
    }
    None
}

/// Whether the first line starts a shared location.
pub(super) fn is_location(first: &str) -> bool {
    let f = fold(first);
    let maps = f.contains("maps.google.com/?q=") || f.contains("maps.apple.com/?");
    maps && folded().location.iter().any(|p| f.starts_with(p.as_str()))
        || f.starts_with("https://maps.google.com/?q=")
}

/// Whether the first line starts a poll.
pub(super) fn is_poll(first: &str) -> bool {
    let f = fold(first);
    folded().poll.iter().any(|p| f.starts_with(p.as_str()))
}

/// Whether a line's text (after the header) is a system line that tells the chat is a group.
pub(super) fn is_group_system(text: &str) -> bool {
    folded().group_system.is_match(&fold(text))
}

/// Whether a would-be author name holds a fragment only system lines use.
pub(super) fn is_system_sentence(name: &str) -> bool {
    folded().system_in_name.is_match(&fold(name))
}

/// The name before a trailing "document omitted" (iOS: "Doc.pdf • 2 pages document
/// omitted"), if the line ends so.
pub(super) fn document_omitted_name(line: &str) -> Option<String> {
    let f = fold(line);
    folded().document_omitted.iter().find_map(|d| {
        let name = f.strip_suffix(d.as_str())?;
        // The folded name: the original casing is not needed, the text keeps the line.
        Some(name.trim().to_string())
    })
}

/// The chat's name from an exported file's name (without its extension), if the name is
/// one WhatsApp gives exports.
pub(super) fn chat_name_from_file(stem: &str) -> Option<String> {
    // Some languages' names hold no-break spaces ("Chat WhatsApp s\u{a0}uživatelem").
    let stem: String = stem
        .chars()
        .map(|c| {
            if super::header::is_odd_space(c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    let stem = stem.as_str();
    for l in LANGUAGES {
        for (prefix, suffix) in l.chat_file {
            if let Some(rest) = stem.strip_prefix(prefix) {
                if let Some(name) = rest.strip_suffix(suffix) {
                    let name = name.trim();
                    if !name.is_empty() {
                        return Some(name.to_string());
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_filled_and_codes_are_unique() {
        let mut codes = std::collections::BTreeSet::new();
        for l in LANGUAGES {
            assert!(codes.insert(l.code), "{} twice", l.code);
            assert!(!l.media_omitted.is_empty(), "{}: media omitted", l.code);
            assert!(!l.deleted.is_empty(), "{}: deleted", l.code);
            assert!(!l.chat_file.is_empty(), "{}: chat file", l.code);
        }
        for code in [
            "en", "de", "fr", "es", "pt-BR", "pt-PT", "it", "nl", "ru", "uk", "pl", "cs", "hu",
            "ro", "tr", "ar", "he", "fa", "hi", "id", "ms", "vi", "th", "zh-CN", "zh-TW", "zh-HK",
            "ja", "ko", "sv", "fi", "da", "nb",
        ] {
            assert!(codes.contains(code), "no table for {code}");
        }
    }

    #[test]
    fn meridiem_words() {
        for (w, pm) in [
            ("PM", true),
            ("p. m.", true),
            ("a.m.", false),
            ("上午", false),
            ("下午", true),
            ("오후", true),
            ("午前", false),
            ("nachm.", true),
            ("م", true),
            ("ص", false),
        ] {
            let want = if pm { Meridiem::Pm } else { Meridiem::Am };
            assert_eq!(meridiem(w), Some(want), "{w}");
        }
        assert_eq!(meridiem("um"), None);
        assert_eq!(meridiem("at night"), Some(Meridiem::Night));
        assert_eq!(meridiem("in the morning"), Some(Meridiem::Am));
    }
}
