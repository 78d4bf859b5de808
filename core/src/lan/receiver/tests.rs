//! The receiver's request handling over an in-memory connection (no TLS, no sockets): the
//! peer's fingerprint is given, requests are bytes in, answers bytes out.

use std::io::{BufReader, Cursor, Read, Write};
use std::sync::{Arc, Mutex};

use super::*;

/// A connection whose input is fixed and whose output is kept.
pub(super) struct Duplex {
    input: Cursor<Vec<u8>>,
    pub output: Vec<u8>,
}

impl Read for Duplex {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Duplex {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.output.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A receiver in a temporary folder, and what it told the PC's user.
pub(super) struct TestReceiver {
    pub receiver: Receiver,
    #[allow(dead_code)] // read by the pairing tests
    pub events: Arc<Mutex<Vec<ReceiverEvent>>>,
    pub _dir: tempfile::TempDir,
}

impl TestReceiver {
    pub fn new(tune: impl FnOnce(&mut ReceiverOptions)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut options = ReceiverOptions::new(dir.path());
        tune(&mut options);
        let events = Arc::new(Mutex::new(Vec::new()));
        let e = events.clone();
        let receiver = Receiver::open(
            options,
            vec!["127.0.0.1:1".into()],
            Box::new(move |ev| e.lock().unwrap().push(ev)),
        )
        .unwrap();
        TestReceiver {
            receiver,
            events,
            _dir: dir,
        }
    }

    /// A new certificate registered as a paired device.
    pub fn paired(&self, label: &str) -> Fingerprint {
        let fp = Identity::generate(label).unwrap().fingerprint();
        lock(&self.receiver.shared.registry)
            .register(&fp, label, |_| false)
            .unwrap();
        fp
    }

    /// Runs the requests in `input` from `peer` on one connection; the raw answers.
    pub fn exchange(&self, peer: &Fingerprint, input: &[u8]) -> Vec<u8> {
        let mut conn = BufReader::new(Duplex {
            input: Cursor::new(input.to_vec()),
            output: Vec::new(),
        });
        let _ = requests(&self.receiver.shared, peer, &mut conn);
        conn.into_inner().output
    }
}

/// One answer read off the front of `raw`: status, headers (lower-case names), body. A HEAD
/// answer (`head`) has no body whatever its length says.
pub(super) fn answer(raw: &mut &[u8], head: bool) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer head in {:?}", String::from_utf8_lossy(raw)))
        + 4;
    let text = std::str::from_utf8(&raw[..end]).unwrap().to_string();
    *raw = &raw[end..];
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line:?}");
    let status = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(": ").unwrap();
            (k.to_ascii_lowercase(), v.to_string())
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let body = if head || status == 100 {
        Vec::new()
    } else {
        let b = raw[..len].to_vec();
        *raw = &raw[len..];
        b
    };
    (status, headers, body)
}

fn hex_name(seed: u8) -> String {
    format!("{seed:02x}").repeat(32)
}

#[test]
fn head_on_a_missing_object_answers_without_a_body() {
    let r = TestReceiver::new(|_| {});
    let phone = r.paired("phone");
    let missing = hex_name(1);
    let input = format!(
        "HEAD /v1/objects/data/{missing} HTTP/1.1\r\n\r\n\
         HEAD /v1/objects/data/NOT-HEX HTTP/1.1\r\n\r\n\
         GET /v1/objects/keys/ HTTP/1.1\r\n\r\n"
    );
    let out = r.exchange(&phone, input.as_bytes());
    let mut raw = &out[..];
    let (status, headers, _) = answer(&mut raw, true);
    assert_eq!(status, 404);
    assert!(headers.iter().any(|(k, _)| k == "content-length"));
    assert_eq!(answer(&mut raw, true).0, 400);
    // The next answer follows the HEAD answers' heads directly: no stray body in between.
    let (status, _, body) = answer(&mut raw, false);
    assert_eq!(status, 200, "{:?}", String::from_utf8_lossy(&out));
    assert_eq!(body, b"[]");
    assert!(raw.is_empty());
}

#[test]
fn a_signed_content_length_is_refused() {
    let r = TestReceiver::new(|_| {});
    let phone = r.paired("phone");
    let name = hex_name(2);
    let input = format!("PUT /v1/objects/data/{name} HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello");
    let out = r.exchange(&phone, input.as_bytes());
    let (status, _, body) = answer(&mut &out[..], false);
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let stored = r.receiver.shared.device_store("phone").unwrap();
    assert_eq!(
        stored
            .storage()
            .size(crate::storage::ObjectKind::Pack, &name)
            .unwrap(),
        None
    );
}
