//! A reader that cuts overlong JSON strings on their way into the parser, so one huge value
//! (a 200 MB message text) costs the parser at most the limit, not the value's size several
//! times over (the parser's scratch buffer, the parsed value, its re-serialization).
//!
//! It follows JSON's string syntax byte by byte (quotes, backslash escapes, `\uXXXX` and
//! surrogate pairs), cuts a string only at a character boundary, puts `…` where the rest
//! was, and counts the strings it cut so the caller can say which records were shortened.
//! Everything outside strings passes unchanged, so a valid document stays valid.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

/// What marks the place of a string's cut-off rest.
const MARK: &[u8] = "…".as_bytes();

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Outside,
    /// In a string, after `kept` bytes of it.
    Inside,
    /// After a backslash.
    Escape,
    /// In a `\uXXXX` escape, `left` hex digits to go, `value` read so far.
    Unicode {
        left: u8,
        value: u16,
    },
    /// Dropping the rest of a cut string.
    Skipping,
    /// After a backslash in a cut string.
    SkippingEscape,
}

/// Wraps a JSON byte stream; strings longer than `limit` bytes (as written, escapes
/// included) are cut. [`CutLongStrings::counter`] tells how many were cut so far.
pub struct CutLongStrings<R> {
    inner: R,
    limit: usize,
    state: State,
    kept: usize,
    /// After a high surrogate's escape: its low half must follow uncut.
    hold: bool,
    cut: Rc<Cell<u64>>,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    pending: &'static [u8],
}

impl<R: Read> CutLongStrings<R> {
    /// Wraps `inner`, cutting strings after `limit` bytes.
    pub fn new(inner: R, limit: usize) -> Self {
        CutLongStrings {
            inner,
            limit,
            state: State::Outside,
            kept: 0,
            hold: false,
            cut: Rc::new(Cell::new(0)),
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            pos: 0,
            len: 0,
            pending: &[],
        }
    }

    /// The number of strings cut so far (shared: it keeps counting while the reader is
    /// inside a parser).
    pub fn counter(&self) -> Rc<Cell<u64>> {
        self.cut.clone()
    }

    /// Takes one input byte; true when it is passed on.
    fn step(&mut self, b: u8) -> bool {
        match self.state {
            State::Outside => {
                if b == b'"' {
                    self.state = State::Inside;
                    self.kept = 0;
                    self.hold = false;
                }
                true
            }
            State::Inside => {
                if b == b'"' {
                    self.state = State::Outside;
                    return true;
                }
                let char_start = b & 0xC0 != 0x80;
                if self.kept >= self.limit && char_start && !self.hold {
                    self.state = if b == b'\\' {
                        State::SkippingEscape
                    } else {
                        State::Skipping
                    };
                    self.pending = MARK;
                    self.cut.set(self.cut.get() + 1);
                    return false;
                }
                self.kept += 1;
                if b == b'\\' {
                    self.state = State::Escape;
                } else {
                    self.hold = false;
                }
                true
            }
            State::Escape => {
                self.kept += 1;
                self.state = if b == b'u' {
                    State::Unicode { left: 4, value: 0 }
                } else {
                    self.hold = false;
                    State::Inside
                };
                true
            }
            State::Unicode { left, value } => {
                self.kept += 1;
                let digit = (b as char).to_digit(16).unwrap_or(0) as u16;
                let value = value.wrapping_shl(4) | digit;
                self.state = if left > 1 {
                    State::Unicode {
                        left: left - 1,
                        value,
                    }
                } else {
                    // A high surrogate's low half follows: never cut between them.
                    self.hold = (0xD800..0xDC00).contains(&value);
                    State::Inside
                };
                true
            }
            State::Skipping => {
                match b {
                    b'"' => {
                        self.state = State::Outside;
                        return true;
                    }
                    b'\\' => self.state = State::SkippingEscape,
                    _ => {}
                }
                false
            }
            State::SkippingEscape => {
                self.state = State::Skipping;
                false
            }
        }
    }
}

impl<R: Read> Read for CutLongStrings<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            let mut n = 0;
            while n < out.len() {
                if let Some((&b, rest)) = self.pending.split_first() {
                    out[n] = b;
                    n += 1;
                    self.pending = rest;
                    continue;
                }
                if self.pos == self.len {
                    break;
                }
                let b = self.buf[self.pos];
                self.pos += 1;
                if self.step(b) {
                    out[n] = b;
                    n += 1;
                }
            }
            if n > 0 {
                return Ok(n);
            }
            self.len = self.inner.read(&mut self.buf)?;
            self.pos = 0;
            if self.len == 0 {
                return Ok(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(json: &str, limit: usize) -> (String, u64) {
        let mut r = CutLongStrings::new(json.as_bytes(), limit);
        let count = r.counter();
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        (out, count.get())
    }

    #[test]
    fn long_strings_are_cut_at_character_boundaries_and_json_stays_valid() {
        let (out, n) = cut(r#"{"short":"ok","long":"abcdefghij","n":[1,2]}"#, 5);
        assert_eq!(out, r#"{"short":"ok","long":"abcde…","n":[1,2]}"#);
        assert_eq!(n, 1);
        // Multi-byte characters are never split: 你 is 3 bytes.
        let (out, _) = cut(r#"["你好世界"]"#, 4);
        assert_eq!(out, r#"["你好…"]"#);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v[0], "你好…");
        // Escapes: a quote inside an escape does not end the string, cut or not; a cut
        // never falls inside an escape or between a surrogate pair's halves.
        for limit in 1..40 {
            let src = r#"{"a":"x\"y\\\u00e9\ud83d\ude00zz\"\n end","b":"k\"\""}"#;
            let (out, _) = cut(src, limit);
            let v: serde_json::Value =
                serde_json::from_str(&out).unwrap_or_else(|e| panic!("limit {limit}: {out}: {e}"));
            let full: serde_json::Value = serde_json::from_str(src).unwrap();
            let (a, whole) = (v["a"].as_str().unwrap(), full["a"].as_str().unwrap());
            assert!(
                a == whole || whole.starts_with(a.trim_end_matches('…')),
                "limit {limit}: {a:?}"
            );
        }
        // Nothing to cut: passed through byte for byte, read in small pieces too.
        let src = r#"{"k": ["v", 1, true, null, {"x": "\"y\""}]}"#;
        let mut r = CutLongStrings::new(src.as_bytes(), 100);
        let mut out = Vec::new();
        let mut piece = [0u8; 3];
        loop {
            let k = r.read(&mut piece).unwrap();
            if k == 0 {
                break;
            }
            out.extend_from_slice(&piece[..k]);
        }
        assert_eq!(out, src.as_bytes());
    }
}
