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

/// A phone's first code message for `code`, as a receiver with `receiver`'s fingerprint
/// would see it from `phone`.
fn code_start(
    code: &str,
    phone: &Fingerprint,
    receiver: &Fingerprint,
) -> (spake2::Spake2<spake2::Ed25519Group>, String) {
    let (id_a, id_b) = crate::lan::pairing::identities(phone, receiver);
    let (state, message) = spake2::Spake2::<spake2::Ed25519Group>::start_a(
        &spake2::Password::new(code.as_bytes()),
        &id_a,
        &id_b,
    );
    let body = serde_json::json!({"name": "phone", "message": crate::lan::pairing::b64(&message)});
    (state, body.to_string())
}

fn post(path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST /v1{path} HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The status of one pairing request from `peer`.
fn pairing_status(r: &TestReceiver, peer: &Fingerprint, path: &str, body: &str) -> (u16, Vec<u8>) {
    let out = r.exchange(peer, &post(path, body));
    let (status, _, body) = answer(&mut &out[..], false);
    (status, body)
}

fn code_locked_events(r: &TestReceiver) -> usize {
    r.events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, ReceiverEvent::CodeLocked))
        .count()
}

#[test]
fn malformed_code_starts_do_not_lock_code_pairing() {
    let r = TestReceiver::new(|_| {});
    let receiver = r.receiver.fingerprint();
    let stranger = Identity::generate("stranger").unwrap().fingerprint();
    // Fifteen malformed starts of every kind (six of them well-formed JSON and base64 whose
    // message is no SPAKE2 element), from anyone.
    for _ in 0..3 {
        for body in [
            "not json".to_string(),
            r#"{"name":"x"}"#.to_string(),
            r#"{"name":"x","message":"%%%"}"#.to_string(),
            r#"{"name":"x","message":"AAAA"}"#.to_string(),
            serde_json::json!({"name": "x", "message": crate::lan::pairing::b64(&[0xff; 33])})
                .to_string(),
        ] {
            let (status, _) = pairing_status(&r, &stranger, "/pair/code/start", &body);
            assert_eq!(status, 400, "{body}");
        }
    }
    assert_eq!(code_locked_events(&r), 0);
    // The owner still pairs by code.
    let phone = Identity::generate("phone").unwrap().fingerprint();
    let code = r.receiver.pairing().1;
    let (state, body) = code_start(&code, &phone, &receiver);
    let (status, reply) = pairing_status(&r, &phone, "/pair/code/start", &body);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    let message = crate::lan::pairing::unb64(reply["message"].as_str().unwrap()).unwrap();
    let key = state.finish(&message).unwrap();
    let confirm = crate::lan::pairing::confirmation(&key, crate::lan::pairing::Role::Phone);
    let body = serde_json::json!({"confirm": crate::lan::pairing::b64(&confirm)}).to_string();
    assert_eq!(
        pairing_status(&r, &phone, "/pair/code/finish", &body).0,
        200
    );
}

#[test]
fn wrong_codes_lock_code_pairing_until_restart_whatever_pairs_meanwhile() {
    let r = TestReceiver::new(|_| {});
    let receiver = r.receiver.fingerprint();
    let guesser = Identity::generate("guesser").unwrap().fingerprint();
    // Three wrong guesses, then the owner pairs by code: its attempt is no failure, and the
    // three stay counted (a new code does not give the guesser new attempts).
    for _ in 0..3 {
        let (_, body) = code_start("000000x", &guesser, &receiver);
        assert_eq!(
            pairing_status(&r, &guesser, "/pair/code/start", &body).0,
            200
        );
    }
    let owner = Identity::generate("owner").unwrap().fingerprint();
    let (state, body) = code_start(&r.receiver.pairing().1, &owner, &receiver);
    let (status, reply) = pairing_status(&r, &owner, "/pair/code/start", &body);
    assert_eq!(status, 200);
    let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    let message = crate::lan::pairing::unb64(reply["message"].as_str().unwrap()).unwrap();
    let key = state.finish(&message).unwrap();
    let confirm = crate::lan::pairing::confirmation(&key, crate::lan::pairing::Role::Phone);
    let body = serde_json::json!({"confirm": crate::lan::pairing::b64(&confirm)}).to_string();
    assert_eq!(
        pairing_status(&r, &owner, "/pair/code/finish", &body).0,
        200
    );
    assert_eq!(code_locked_events(&r), 0);
    // The fourth and fifth wrong guesses lock it.
    let (_, body) = code_start("000000x", &guesser, &receiver);
    assert_eq!(
        pairing_status(&r, &guesser, "/pair/code/start", &body).0,
        200
    );
    assert_eq!(code_locked_events(&r), 0);
    let (_, body) = code_start("000000x", &guesser, &receiver);
    assert_eq!(
        pairing_status(&r, &guesser, "/pair/code/start", &body).0,
        200
    );
    let (_, body) = code_start(&r.receiver.pairing().1, &guesser, &receiver);
    assert_eq!(
        pairing_status(&r, &guesser, "/pair/code/start", &body).0,
        429
    );
    assert_eq!(code_locked_events(&r), 1);
    // A pairing by QR code does not lift the lockout (PROTOCOL.md 5.2: until restart).
    let qr = Identity::generate("qr").unwrap().fingerprint();
    let body =
        serde_json::json!({"secret": r.receiver.pairing().0.secret, "name": "qr"}).to_string();
    assert_eq!(pairing_status(&r, &qr, "/pair/secret", &body).0, 200);
    let newcomer = Identity::generate("newcomer").unwrap().fingerprint();
    let (_, body) = code_start(&r.receiver.pairing().1, &newcomer, &receiver);
    let (status, text) = pairing_status(&r, &newcomer, "/pair/code/start", &body);
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&text));
    assert!(String::from_utf8_lossy(&text).contains("restarts"));
    // A restart (a new receiver on the same folder) allows codes again.
    let again =
        Receiver::open(r.receiver.shared.options.clone(), vec![], Box::new(|_| {})).unwrap();
    let (_, body) = code_start(&again.pairing().1, &newcomer, &again.fingerprint());
    let out = {
        let mut conn = BufReader::new(Duplex {
            input: Cursor::new(post("/pair/code/start", &body)),
            output: Vec::new(),
        });
        let _ = requests(&again.shared, &newcomer, &mut conn);
        conn.into_inner().output
    };
    assert_eq!(answer(&mut &out[..], false).0, 200);
}

fn put_request(name: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "PUT /v1/objects/data/{name} HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn files_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            files_size(&e.path())
        } else {
            m.len()
        };
    }
    total
}

#[test]
fn parallel_uploads_cannot_overshoot_the_quota_and_re_sends_count_once() {
    const QUOTA: u64 = 10_700_000;
    let r = TestReceiver::new(|o| o.quota_bytes = Some(QUOTA));
    let phone = r.paired("phone");
    let folder = r.receiver.shared.options.dir.join("phone");
    // Eight 4 MiB uploads at once: two fit.
    let bodies: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 4 << 20]).collect();
    let answers: Vec<(u16, Vec<u8>)> = std::thread::scope(|s| {
        let handles: Vec<_> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let (r, phone) = (&r, &phone);
                s.spawn(move || {
                    let out = r.exchange(phone, &put_request(&hex_name(i as u8), body));
                    let (status, _, body) = answer(&mut &out[..], false);
                    (status, body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let stored: Vec<usize> = (0..8).filter(|&i| answers[i].0 == 200).collect();
    for (status, body) in &answers {
        assert!(
            *status == 200 || (*status == 507 && String::from_utf8_lossy(body).contains("full")),
            "{status} {}",
            String::from_utf8_lossy(body)
        );
    }
    let on_disk = files_size(&folder);
    println!(
        "8 parallel 4 MiB uploads under a {QUOTA} byte quota: {} stored, {on_disk} bytes on disk",
        stored.len()
    );
    assert_eq!(
        stored.len(),
        2,
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert!(
        on_disk <= QUOTA,
        "{on_disk} bytes stored over a {QUOTA} byte quota"
    );
    let used = r.receiver.shared.quotas.used("phone");
    assert_eq!(used, Some(8 << 20));
    // A stored object sent again (its answer was lost): accepted, and counted once.
    let again = stored[0];
    let out = r.exchange(&phone, &put_request(&hex_name(again as u8), &bodies[again]));
    assert_eq!(answer(&mut &out[..], false).0, 200);
    assert_eq!(r.receiver.shared.quotas.used("phone"), Some(8 << 20));
    // So 2 MiB more still fits (10 MiB of 10.7 MB).
    let out = r.exchange(&phone, &put_request(&hex_name(0xee), &vec![1; 2 << 20]));
    let (status, _, body) = answer(&mut &out[..], false);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(files_size(&folder) <= QUOTA);
    // A failed upload (the connection ends early) releases its reservation.
    let mut cut = put_request(&hex_name(0xef), &vec![2; 200_000]);
    cut.truncate(cut.len() - 1000);
    let _ = r.exchange(&phone, &cut);
    let out = r.exchange(&phone, &put_request(&hex_name(0xef), &vec![2; 200_000]));
    assert_eq!(answer(&mut &out[..], false).0, 200);
}
