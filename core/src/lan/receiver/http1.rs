//! The little of HTTP/1.1 the receiver speaks: request heads parsed by httparse, bodies
//! sized by Content-Length only (no chunked uploads), keep-alive, answers with a length.

use std::io::{self, BufRead, Write};

/// The longest request head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// A request head.
#[derive(Debug)]
pub(crate) struct Request {
    pub method: String,
    pub path: String,
    pub content_length: Option<u64>,
    pub chunked: bool,
    pub range: Option<String>,
    pub close: bool,
    /// The client waits for `100 Continue` before sending the body (curl does for
    /// uploads over 1 MiB).
    pub expect_continue: bool,
}

impl Request {
    /// A HEAD request: its answers carry no body.
    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }
}

/// Why a head could not be read.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// Not HTTP, or too long: answer 400 and close.
    Bad(&'static str),
    /// The connection failed or closed mid-head.
    Io(io::Error),
}

/// Reads the next request head; `None` when the peer closed between requests.
pub(crate) fn read_head(r: &mut impl BufRead) -> Result<Option<Request>, HeadError> {
    let mut head = Vec::with_capacity(512);
    loop {
        let before = head.len();
        let limit = (MAX_HEAD + 1 - head.len()) as u64;
        let n = io::Read::take(&mut *r, limit)
            .read_until(b'\n', &mut head)
            .map_err(HeadError::Io)?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(HeadError::Io(io::ErrorKind::UnexpectedEof.into()))
            };
        }
        if head.len() > MAX_HEAD {
            return Err(HeadError::Bad("request head too large"));
        }
        let line = &head[before..];
        if line == b"\r\n" || line == b"\n" {
            if before == 0 {
                // Stray blank line between requests (allowed by RFC 9112).
                head.clear();
                continue;
            }
            break;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(HeadError::Bad("malformed request")),
    }
    let mut out = Request {
        method: req.method.unwrap_or_default().to_string(),
        path: req.path.unwrap_or_default().to_string(),
        content_length: None,
        chunked: false,
        range: None,
        close: req.version == Some(0),
        expect_continue: false,
    };
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = digits(value).ok_or(HeadError::Bad("bad content-length"))?;
            if out.content_length.is_some_and(|m| m != n) {
                return Err(HeadError::Bad("conflicting content-length"));
            }
            out.content_length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            out.chunked = true;
        } else if h.name.eq_ignore_ascii_case("range") {
            out.range = Some(value.to_string());
        } else if h.name.eq_ignore_ascii_case("expect") {
            out.expect_continue = value.eq_ignore_ascii_case("100-continue");
        } else if h.name.eq_ignore_ascii_case("connection") {
            out.close = value.eq_ignore_ascii_case("close");
        }
    }
    Ok(Some(out))
}

/// A decimal number of ASCII digits only (RFC 9110's `1*DIGIT`): `+5`, `-0`, `5 5`, `0x5`
/// and the empty string are not numbers here, though Rust's `parse` takes some of them.
pub(crate) fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        206 => "Partial Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        507 => "Insufficient Storage",
        _ => "",
    }
}

/// Writes an answer head. `length` is the body's length (sent after by the caller, or
/// the whole body in `body`).
pub(crate) fn write_head(
    w: &mut impl Write,
    status: u16,
    length: u64,
    extra: &[(&str, String)],
    close: bool,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-length: {length}\r\n",
        reason(status)
    );
    for (k, v) in extra {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    if close {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())
}

/// Tells a client that waits (`Expect: 100-continue`) to send the body.
pub(crate) fn write_continue(w: &mut impl Write) -> io::Result<()> {
    w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    w.flush()
}

/// Writes a whole answer. An answer to HEAD (`head_only`) carries the head alone: its
/// `Content-Length` says what GET would have sent, and no body follows (RFC 9110 §9.3.2),
/// so the next answer on the connection is not taken for one.
pub(crate) fn respond(
    w: &mut impl Write,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    close: bool,
    head_only: bool,
) -> io::Result<()> {
    let extra: Vec<(&str, String)> = content_type
        .map(|t| vec![("content-type", t.to_string())])
        .unwrap_or_default();
    write_head(w, status, body.len() as u64, &extra, close)?;
    if !head_only {
        w.write_all(body)?;
    }
    w.flush()
}

/// A `Range: bytes=A-B` / `bytes=A-` / `bytes=-N` header against an object of `size`:
/// `Ok(Some((start, len)))`, `Ok(None)` for no range, `Err(())` when unsatisfiable.
pub(crate) fn parse_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(h) = header else { return Ok(None) };
    let spec = h.trim().strip_prefix("bytes=").ok_or(())?;
    if spec.contains(',') {
        return Err(());
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = if a.is_empty() {
        let n = digits(b).ok_or(())?;
        if n == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size.saturating_sub(1))
    } else {
        let start = digits(a).ok_or(())?;
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            digits(b).ok_or(())?.min(size.saturating_sub(1))
        };
        (start, end)
    };
    if start >= size || end < start {
        return Err(());
    }
    Ok(Some((start, end - start + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_and_ranges() {
        let mut r = &b"PUT /v1/objects/data/ab HTTP/1.1\r\nContent-Length: 5\r\nRange: bytes=1-2\r\n\r\nhello"[..];
        let h = read_head(&mut r).unwrap().unwrap();
        assert_eq!(
            (h.method.as_str(), h.path.as_str()),
            ("PUT", "/v1/objects/data/ab")
        );
        assert_eq!(h.content_length, Some(5));
        assert!(!h.expect_continue);
        let h = read_head(&mut &b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n"[..])
            .unwrap()
            .unwrap();
        assert!(h.expect_continue);
        assert_eq!(r, b"hello");
        assert!(read_head(&mut &b""[..]).unwrap().is_none());
        assert!(matches!(
            read_head(&mut &b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"[..]),
            Err(HeadError::Bad(_))
        ));
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(matches!(
            read_head(&mut huge.as_bytes()),
            Err(HeadError::Bad(_))
        ));
        assert_eq!(parse_range(Some("bytes=1-2"), 10), Ok(Some((1, 2))));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Ok(Some((5, 5))));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Ok(Some((7, 3))));
        assert_eq!(parse_range(Some("bytes=8-20"), 10), Ok(Some((8, 2))));
        assert_eq!(parse_range(Some("bytes=10-12"), 10), Err(()));
        assert_eq!(parse_range(None, 10), Ok(None));
    }

    #[test]
    fn lengths_and_ranges_are_digits_only() {
        for bad in ["+5", "-0", " +5", "5 5", "0x5", "5.0", "", "５"] {
            let head = format!("PUT /x HTTP/1.1\r\nContent-Length: {bad}\r\n\r\n");
            assert!(
                matches!(read_head(&mut head.as_bytes()), Err(HeadError::Bad(_))),
                "Content-Length {bad:?} was accepted"
            );
        }
        let h = read_head(&mut &b"PUT /x HTTP/1.1\r\nContent-Length:  007 \r\n\r\n"[..])
            .unwrap()
            .unwrap();
        assert_eq!(h.content_length, Some(7));
        for bad in ["bytes=+1-2", "bytes=1-+2", "bytes=-+3", "bytes= 1-2"] {
            assert_eq!(parse_range(Some(bad), 10), Err(()), "{bad}");
        }
    }

    #[test]
    fn a_head_answer_has_no_body() {
        let mut out = Vec::new();
        respond(
            &mut out,
            404,
            Some("application/json"),
            b"{\"error\":\"x\"}",
            false,
            true,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("\r\n\r\n"), "{text:?}");
        assert!(text.contains("content-length: 13\r\n"), "{text:?}");
    }
}
