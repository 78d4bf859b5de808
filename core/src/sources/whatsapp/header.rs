//! The header that starts each message of a WhatsApp text export, in every shape the
//! locales produce:
//!
//! ```text
//! 6/30/23, 4:14 PM - Ann: hi                     Android, en-US
//! 30.06.23, 16:14 - Ann: hi                      Android, de
//! 30/06/2023 à 16:14 - Ann: hi                   Android, fr
//! 2023. 6. 30. 오후 4:14 - Ann: hi               Android, ko
//! 2023/6/30 下午4:14 - Ann: hi                    Android, zh
//! ‏٣٠‏/٦‏/٢٠٢٣، ٤:١٤ م - Ann: hi                   Android, ar
//! [30/06/2023, 16:14:05] Ann: hi                 iOS
//! 13.6.2018 klo 21.25.15 - Ann: hi               Android, fi
//! ```
//!
//! The line is first normalized (direction and format marks dropped, native digits made
//! ASCII, odd spaces made plain) up to where the header ends; the shape itself is then one
//! pattern with the locale's words as wildcards (a short word between date and time, an
//! AM/PM word before or after the time). Which words mean AM and PM is asked of the language
//! tables ([`super::lang`]). Date order is inferred per file ([`OrderVote`]).

use std::sync::OnceLock;

use chrono::{NaiveDate, NaiveTime};
use regex::Regex;

use super::lang;

/// Characters dropped wherever they appear in a header: byte-order mark, direction marks
/// and embeddings, isolates, zero-width joiners.
pub(super) fn is_mark(c: char) -> bool {
    matches!(
        c,
        '\u{FEFF}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{061C}'
    )
}

/// Whether `c` is a space WhatsApp writes where a plain one would do: no-break (U+00A0,
/// U+202F before AM/PM), figure, thin and ideographic spaces.
pub(super) fn is_odd_space(c: char) -> bool {
    matches!(
        c,
        '\u{00A0}' | '\u{202F}' | '\u{2007}' | '\u{2009}' | '\u{3000}'
    )
}

/// The ASCII digit of a decimal digit in the scripts WhatsApp writes dates in.
fn ascii_digit(c: char) -> Option<char> {
    let base = match c {
        '\u{0660}'..='\u{0669}' => 0x0660, // Arabic-Indic
        '\u{06F0}'..='\u{06F9}' => 0x06F0, // Extended (Persian, Urdu)
        '\u{0966}'..='\u{096F}' => 0x0966, // Devanagari
        '\u{09E6}'..='\u{09EF}' => 0x09E6, // Bengali
        '\u{0E50}'..='\u{0E59}' => 0x0E50, // Thai
        '\u{FF10}'..='\u{FF19}' => 0xFF10, // full-width
        _ => return None,
    };
    char::from_u32('0' as u32 + (c as u32 - base))
}

/// How far into a line the header can reach, in characters.
const HEADER_SPAN: usize = 96;

/// The start of a line normalized for matching, and where each of its bytes came from.
struct Normalized {
    text: String,
    /// For each byte of `text`, the byte offset in the line of the character it came from.
    origin: Vec<usize>,
}

fn normalize(line: &str) -> Normalized {
    let mut text = String::with_capacity(HEADER_SPAN + 8);
    let mut origin = Vec::with_capacity(HEADER_SPAN + 8);
    for (n, (at, c)) in line.char_indices().enumerate() {
        if n >= HEADER_SPAN {
            break;
        }
        if is_mark(c) {
            continue;
        }
        let mapped = match c {
            c if is_odd_space(c) => ' ',
            // Arabic comma and date separators some locales write.
            '\u{060C}' => ',',
            '\u{2013}' | '\u{2014}' => '-',
            c => ascii_digit(c).unwrap_or(c),
        };
        let before = text.len();
        text.push(mapped);
        origin.extend(std::iter::repeat_n(at, text.len() - before));
    }
    Normalized { text, origin }
}

/// Date: three numbers; separators . / - (with a space after them in ko/hu "2023. 6. 30."),
/// or 年 月 日; a year may carry a Japanese era letter ("R4") or a Buddhist-era mark ("BE").
const DATE: &str = r"(?P<d1>[0-9]{1,4})[ \t]?(?:[./-]|年)[ \t]?(?P<d2>[0-9]{1,2})[ \t]?(?:[./-]|月)[ \t]?(?P<era>[RHS])?(?P<d3>[0-9]{1,4})(?:[ \t]?[.日])?(?:[ \t]?BE)?";
/// Time, with seconds on iOS.
const TIME: &str = r"(?P<h>[0-9]{1,2})[:.](?P<m>[0-9]{2})(?:[:.](?P<s>[0-9]{2}))?";
/// After the time: an AM/PM word ("PM", "p. m.", "vorm.", "ص", "in the afternoon").
const POST: &str = r"(?P<post>[ \t]*[^ \t0-9\[\]\-:,][^0-9\[\]\-:]{0,18}?)?";
/// Android " - ", iOS "] ", early iOS (2016) ": ": the match ends where the rest of the line
/// starts.
const END: &str = r"(?:[ \t]*\][ \t]*|[ \t]+-[ \t]|:[ \t])";

/// A date with a month name (any word of 3–10 letters here; [`lang::month`] decides), as
/// exports from 2013–2015 write it: day first ("28 Aug 2013",
/// "18 Mar") or month first ("Mar 5", "Aug 28, 2013"); the year is left out for the
/// export's own year.
const NAMED_DATE: &str = r"(?:(?P<nd>[0-9]{1,2})\.?[ \t]+(?P<nm>[^ \t0-9\[\]:,.\-]{3,10})\.?(?:,?[ \t]+(?P<ny>[0-9]{4}))?|(?P<mm>[^ \t0-9\[\]:,.\-]{3,10})\.?[ \t]+(?P<md>[0-9]{1,2})(?:,[ \t]*(?P<my>[0-9]{4}))?)";

/// Headers with a month name: date then time ("Mar 5, 8:11 PM - ", "18 Mar 12:14 - ") or
/// time then date ("19:23, 28 Aug 2013 - ").
fn named_patterns() -> &'static [Regex; 2] {
    static RE: OnceLock<[Regex; 2]> = OnceLock::new();
    RE.get_or_init(|| {
        let date_first = format!(r"^[ \t]*\[?[ \t]*{NAMED_DATE},?[ \t]*{TIME}{POST}{END}");
        let time_first = format!(r"^[ \t]*\[?[ \t]*{TIME}{POST},[ \t]*{NAMED_DATE}{END}");
        [
            Regex::new(&date_first).expect("static regex"),
            Regex::new(&time_first).expect("static regex"),
        ]
    })
}

fn patterns() -> &'static [Regex; 2] {
    static RE: OnceLock<[Regex; 2]> = OnceLock::new();
    RE.get_or_init(|| {
        // Between date and time: a comma, a space, perhaps a short word ("à", "um", "в",
        // "klo", "kl.") or an AM/PM word that comes first (上午, 오후).
        let pre = r",?[ \t]*(?P<pre>(?:[^ \t0-9\[\]:,-][^ \t0-9\[\]:]{0,7}\.?,?[ \t]*){1,2})?";
        let date_first = format!(r"^[ \t]*\[?[ \t]*{DATE}{pre}{TIME}{POST}{END}");
        // Vietnamese iOS writes the time first: "[21:41:35, 3/27/22]".
        let time_first = format!(r"^[ \t]*\[?[ \t]*{TIME}{POST},?[ \t]*{DATE}{END}");
        [
            Regex::new(&date_first).expect("static regex"),
            Regex::new(&time_first).expect("static regex"),
        ]
    })
}

/// One parsed header line.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Header {
    pub fields: [u32; 3],
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// `Some(true)` for PM, `Some(false)` for AM, `None` on a 24-hour clock.
    pub pm: Option<bool>,
    /// The month was a name: `fields` are year (0 when left out), month, day.
    pub named: bool,
    /// Where the rest of the line (after the header) starts, in the original line.
    pub rest_at: usize,
}

/// Parses the header of `line`, if it has one.
pub(super) fn parse(line: &str) -> Option<Header> {
    // Cheap refusal first: a header has a digit within its first few characters.
    if !line
        .chars()
        .take(12)
        .any(|c| c.is_ascii_digit() || ascii_digit(c).is_some())
    {
        return None;
    }
    let n = normalize(line);
    let [date_first, time_first] = patterns();
    let [named_first, named_last] = named_patterns();
    let (c, named) = match date_first
        .captures(&n.text)
        .or_else(|| time_first.captures(&n.text))
    {
        Some(c) => (c, false),
        None => (
            named_first
                .captures(&n.text)
                .or_else(|| named_last.captures(&n.text))?,
            true,
        ),
    };
    let num = |k: &str| c.name(k).and_then(|m| m.as_str().parse::<u32>().ok());
    let word = |k: &str| c.name(k).map(|m| m.as_str().trim()).unwrap_or("");
    let pm = match (word("pre"), word("post")) {
        ("", "") => None,
        (pre, post) => {
            let a = lang::meridiem(pre);
            let b = lang::meridiem(post);
            // A word that is neither an AM/PM word nor a known connector ("à", "um") makes
            // the line no header: it is text that happens to start with a date.
            if !pre.is_empty() && a.is_none() && !lang::is_date_time_word(pre) {
                return None;
            }
            if !post.is_empty() && b.is_none() {
                return None;
            }
            match a.or(b) {
                None => None,
                Some(lang::Meridiem::Pm) => Some(true),
                Some(lang::Meridiem::Am) => Some(false),
                Some(lang::Meridiem::Night) => Some((6..=11).contains(&num("h")?)),
            }
        }
    };
    let end = c.get(0)?.end();
    let rest_at = if end < n.origin.len() {
        n.origin[end]
    } else {
        // The header filled the whole normalized span: the rest starts where it ended.
        line.char_indices()
            .nth(HEADER_SPAN)
            .map_or(line.len(), |(at, _)| at)
    };
    let hour = num("h")?;
    if hour > 23 || (pm.is_some() && hour > 12) {
        return None;
    }
    if named {
        let field = |a: &str, b: &str| c.name(a).or_else(|| c.name(b));
        let month = lang::month(field("nm", "mm")?.as_str())?;
        let day = field("nd", "md")?.as_str().parse::<u32>().ok()?;
        let year = field("ny", "my").map_or(Some(0), |y| y.as_str().parse::<u32>().ok())?;
        return Some(Header {
            fields: [year, month, day],
            hour,
            minute: num("m")?,
            second: num("s").unwrap_or(0),
            pm,
            named: true,
            rest_at,
        });
    }
    let mut year = num("d3")?;
    if let Some(era) = c.name("era") {
        // Japanese calendar: Reiwa 1 = 2019, Heisei 1 = 1989, Showa 1 = 1926.
        year += match era.as_str() {
            "R" => 2018,
            "H" => 1988,
            _ => 1925,
        };
    }
    Some(Header {
        fields: [num("d1")?, num("d2")?, year],
        hour,
        minute: num("m")?,
        second: num("s").unwrap_or(0),
        pm,
        named: false,
        rest_at,
    })
}

/// How the three date fields are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOrder {
    /// 30/06/23
    DayMonthYear,
    /// 6/30/23
    MonthDayYear,
    /// 2023/06/30
    YearMonthDay,
}

fn date_of(fields: [u32; 3], order: DateOrder) -> Option<NaiveDate> {
    let (y, m, d) = match order {
        DateOrder::DayMonthYear => (fields[2], fields[1], fields[0]),
        DateOrder::MonthDayYear => (fields[2], fields[0], fields[1]),
        DateOrder::YearMonthDay => (fields[0], fields[1], fields[2]),
    };
    let y = match y {
        0..=99 => 2000 + y,
        // Thai phones may write Buddhist-era years (2566 = 2023).
        2400.. => y - 543,
        _ => y,
    };
    NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)
}

impl Header {
    /// Wall-clock milliseconds since 1970-01-01T00:00, if the date exists. Numeric dates
    /// are read in the file's `order`; a month-name date without a year is in `year`.
    pub fn timestamp(&self, order: DateOrder, year: u32) -> Option<i64> {
        let date = if self.named {
            let [y, m, d] = self.fields;
            date_of(
                [if y == 0 { year } else { y }, m, d],
                DateOrder::YearMonthDay,
            )?
        } else {
            date_of(self.fields, order)?
        };
        let hour = match self.pm {
            None => self.hour,
            Some(pm) => self.hour % 12 + if pm { 12 } else { 0 },
        };
        let time = NaiveTime::from_hms_opt(hour, self.minute, self.second)?;
        Some(date.and_time(time).and_utc().timestamp_millis())
    }
}

/// Decides the date order of a file from its headers: a year first; else a field over 12;
/// else the order under which dates never go backwards; else the field that changes more
/// often; else the locale's habit (12-hour clocks are mostly month-first).
#[derive(Default)]
pub(super) struct OrderVote {
    year_first: bool,
    first_over_12: bool,
    second_over_12: bool,
    prev: Option<[u32; 3]>,
    backwards_dmy: u32,
    backwards_mdy: u32,
    changes_first: u32,
    changes_second: u32,
    twelve_hour: bool,
}

impl OrderVote {
    pub fn add(&mut self, f: [u32; 3], twelve_hour: bool) {
        self.twelve_hour |= twelve_hour;
        if f[0] > 31 {
            self.year_first = true;
        }
        self.first_over_12 |= f[0] > 12;
        self.second_over_12 |= f[1] > 12;
        if let Some(p) = self.prev {
            let key = |x: [u32; 3], dmy: bool| {
                if dmy {
                    (x[2], x[1], x[0])
                } else {
                    (x[2], x[0], x[1])
                }
            };
            if key(f, true) < key(p, true) {
                self.backwards_dmy += 1;
            }
            if key(f, false) < key(p, false) {
                self.backwards_mdy += 1;
            }
            self.changes_first += u32::from(f[0] != p[0]);
            self.changes_second += u32::from(f[1] != p[1]);
        }
        self.prev = Some(f);
    }

    pub fn decide(&self) -> DateOrder {
        if self.year_first {
            DateOrder::YearMonthDay
        } else if self.first_over_12 && !self.second_over_12 {
            DateOrder::DayMonthYear
        } else if self.second_over_12 && !self.first_over_12 {
            DateOrder::MonthDayYear
        } else if self.backwards_dmy != self.backwards_mdy {
            if self.backwards_dmy < self.backwards_mdy {
                DateOrder::DayMonthYear
            } else {
                DateOrder::MonthDayYear
            }
        } else if self.changes_second != self.changes_first {
            if self.changes_second > self.changes_first {
                DateOrder::MonthDayYear
            } else {
                DateOrder::DayMonthYear
            }
        } else if self.twelve_hour {
            DateOrder::MonthDayYear
        } else {
            DateOrder::DayMonthYear
        }
    }
}
