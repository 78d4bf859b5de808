//! Pairing a phone with a receiver: afterwards the receiver knows the phone's certificate
//! and the phone pins the receiver's.
//!
//! * By the QR code: it holds the receiver's addresses, its fingerprint and a one-time
//!   secret. The phone connects pinned to that fingerprint and presents the secret.
//! * By the short numeric code: the phone does not know the receiver's fingerprint yet, so
//!   both run SPAKE2 with the code as password and both fingerprints (as each saw them in
//!   the TLS handshake) as identities. Someone in between sees other fingerprints than the
//!   two ends, so the keys differ and the confirmations fail; a guesser gets one guess per
//!   attempt, and the receiver allows few attempts.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::tls::{self, ReceiverVerifier};
use super::{Fingerprint, Identity, LanError, API};
use crate::net::http::{HttpError, HttpOptions};
use crate::storage::lan_location;

/// Digits in the numeric pairing code.
pub const CODE_DIGITS: usize = 6;
/// Failed code attempts a receiver allows before it stops pairing by code, until it
/// restarts (a pairing by QR code does not lift it): each well-formed exchange counts until
/// the phone confirms it; malformed requests do not count.
pub const MAX_CODE_ATTEMPTS: u32 = 5;

/// The pairing code as typed, cleaned for [`PairingMethod::Code`]: the spaces and dashes
/// people type between groups of digits (the receiver shows `123 456`) are dropped.
pub fn clean_code(typed: &str) -> String {
    typed.replace([' ', '-'], "")
}

/// What the receiver's QR code holds:
/// `chatvault://pair?addr=HOST:PORT,HOST:PORT&fp=FINGERPRINT&secret=SECRET&name=NAME`.
#[derive(Clone, PartialEq, Eq)]
pub struct PairingUri {
    /// Where the receiver may be reached (each `host:port`), best first.
    pub addresses: Vec<String>,
    /// The receiver's certificate fingerprint.
    pub fingerprint: Fingerprint,
    /// The one-time secret.
    pub secret: String,
    /// The receiver's name, for the phone's screen.
    pub name: String,
}

impl std::fmt::Debug for PairingUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairingUri")
            .field("addresses", &self.addresses)
            .field("fingerprint", &self.fingerprint)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PairingUri {
    /// The URI text (what the QR code encodes).
    pub fn to_uri(&self) -> String {
        let mut url = url::Url::parse("chatvault://pair").expect("static URL parses");
        url.query_pairs_mut()
            .append_pair("addr", &self.addresses.join(","))
            .append_pair("fp", &self.fingerprint.to_hex())
            .append_pair("secret", &self.secret)
            .append_pair("name", &self.name);
        url.to_string()
    }

    /// Parses a scanned or pasted URI.
    pub fn parse(text: &str) -> Result<Self, LanError> {
        let bad = |reason: &str| LanError::BadAddress {
            text: "(pairing URI)".into(),
            reason: reason.into(),
        };
        let url = url::Url::parse(text.trim()).map_err(|e| bad(&format!("not a URI: {e}")))?;
        if url.scheme() != "chatvault" || url.host_str() != Some("pair") {
            return Err(bad("expected chatvault://pair?..."));
        }
        let get = |key: &str| {
            url.query_pairs()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
        };
        let addresses: Vec<String> = get("addr")
            .unwrap_or_default()
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect();
        if addresses.is_empty() {
            return Err(bad("no addr"));
        }
        let secret = get("secret")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("no secret"))?;
        Ok(PairingUri {
            addresses,
            fingerprint: Fingerprint::parse(&get("fp").ok_or_else(|| bad("no fp"))?)?,
            secret,
            name: get("name").unwrap_or_default(),
        })
    }
}

/// How to pair.
#[derive(Clone, Debug)]
pub enum PairingMethod {
    /// The receiver's QR code (or the URI it prints).
    Uri(PairingUri),
    /// A receiver's address and the numeric code it shows.
    Code {
        /// `host:port`.
        address: String,
        /// The digits shown by the receiver.
        code: String,
    },
}

/// A successful pairing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paired {
    /// The receiver's fingerprint (pinned from now on).
    pub receiver: Fingerprint,
    /// The receiver's name.
    pub receiver_name: String,
    /// The address that answered.
    pub address: String,
    /// The folder name the receiver gave this device.
    pub device: String,
    /// The repository location for this device on that receiver (`lan://…`).
    pub location: String,
}

/// Request and answer bodies (JSON).
#[derive(Serialize, Deserialize)]
pub(crate) struct SecretRequest {
    pub secret: String,
    pub name: String,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct CodeStart {
    pub name: String,
    /// SPAKE2 message of the phone (side A), base64.
    pub message: String,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct CodeReply {
    /// SPAKE2 message of the receiver (side B), base64.
    pub message: String,
    /// The receiver's key confirmation, base64.
    pub confirm: String,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct CodeFinish {
    /// The phone's key confirmation, base64.
    pub confirm: String,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct PairedReply {
    pub device: String,
    pub receiver: String,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ErrorReply {
    pub error: String,
}

/// Which side confirms.
#[derive(Clone, Copy)]
pub(crate) enum Role {
    Phone,
    Receiver,
}

/// SPAKE2 identities: each side's fingerprint as the TLS handshake showed it.
pub(crate) fn identities(
    phone: &Fingerprint,
    receiver: &Fingerprint,
) -> (spake2::Identity, spake2::Identity) {
    (
        spake2::Identity::new(&[b"chatvault phone ".as_slice(), phone.as_bytes()].concat()),
        spake2::Identity::new(&[b"chatvault receiver ".as_slice(), receiver.as_bytes()].concat()),
    )
}

fn confirmation_label(role: Role) -> &'static [u8] {
    match role {
        Role::Phone => b"chatvault pairing: phone confirms",
        Role::Receiver => b"chatvault pairing: receiver confirms",
    }
}

/// The key confirmation of `role` for the shared key.
pub(crate) fn confirmation(key: &[u8], role: Role) -> Vec<u8> {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::sign(&k, confirmation_label(role))
        .as_ref()
        .to_vec()
}

/// Whether `tag` is `role`'s confirmation for the key (constant time).
pub(crate) fn confirms(key: &[u8], role: Role, tag: &[u8]) -> bool {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::verify(&k, confirmation_label(role), tag).is_ok()
}

/// The receiver's side of a code exchange: its SPAKE2 message and the shared key.
#[cfg(any(feature = "receiver", test))]
pub(crate) fn receiver_exchange(
    code: &str,
    phone: &Fingerprint,
    receiver: &Fingerprint,
    phone_message: &[u8],
) -> Result<(Vec<u8>, zeroize::Zeroizing<Vec<u8>>), LanError> {
    let (id_a, id_b) = identities(phone, receiver);
    let (state, message) = spake2::Spake2::<spake2::Ed25519Group>::start_b(
        &spake2::Password::new(code.as_bytes()),
        &id_a,
        &id_b,
    );
    let key = state
        .finish(phone_message)
        .map_err(|e| LanError::Protocol(format!("pairing message: {e:?}")))?;
    Ok((message, zeroize::Zeroizing::new(key)))
}

pub(crate) fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub(crate) fn unb64(text: &str) -> Result<Vec<u8>, LanError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| LanError::Protocol("bad base64".into()))
}

/// A fresh numeric code.
pub fn new_code() -> String {
    use rand::Rng;
    let n: u32 = rand::rng().random_range(0..10u32.pow(CODE_DIGITS as u32));
    format!("{n:0width$}", width = CODE_DIGITS)
}

/// A fresh one-time secret (128 bits, hex).
pub fn new_secret() -> String {
    let mut b = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut b);
    hex::encode(b)
}

/// Pairs this device (`identity`, shown to the receiver's user as `device_name`) with a
/// receiver.
pub fn pair(
    method: &PairingMethod,
    identity: &Identity,
    device_name: &str,
) -> Result<Paired, LanError> {
    match method {
        PairingMethod::Uri(uri) => pair_by_secret(uri, identity, device_name),
        PairingMethod::Code { address, code } => {
            pair_by_code(address, code.trim(), identity, device_name)
        }
    }
}

fn pairing_http() -> HttpOptions {
    HttpOptions {
        ca_pem: None,
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(30),
        retry_for: Duration::from_secs(10),
        max_attempts: 3,
    }
}

/// One JSON request to the receiver at `address` whose certificate has the fingerprint `pin`.
fn post<T: Serialize, R: for<'de> Deserialize<'de>>(
    address: &str,
    identity: &Identity,
    pin: Fingerprint,
    path: &str,
    body: &T,
) -> Result<R, LanError> {
    let config = tls::client_config(identity, ReceiverVerifier::pinned(pin))?;
    let location = format!("https://{address}");
    let http = crate::net::http::Http::receiver(&location, pairing_http(), config);
    let url = format!("https://{address}{API}{path}");
    let json = serde_json::to_vec(body).map_err(|e| LanError::Protocol(e.to_string()))?;
    let r = http
        .send("pair", path, |a| {
            a.post(&url)
                .header("content-type", "application/json")
                .send(&json[..])
        })
        .map_err(|e| lan_error(address, e))?;
    let status = r.status().as_u16();
    let body = crate::net::http::read_body("pair", path, r)
        .map_err(|e| LanError::Protocol(e.to_string()))?;
    if status != 200 {
        let reason = serde_json::from_slice::<ErrorReply>(&body)
            .map(|e| e.error)
            .unwrap_or_else(|_| format!("status {status}"));
        return Err(LanError::PairingRefused(reason));
    }
    serde_json::from_slice(&body).map_err(|e| LanError::Protocol(format!("{path}: {e}")))
}

/// A failed pairing request in pairing's terms.
fn lan_error(address: &str, e: HttpError) -> LanError {
    match e {
        HttpError::Unreachable { reason, .. } => LanError::Unreachable {
            address: address.to_string(),
            reason,
        },
        HttpError::Denied { reason, .. } => LanError::PairingRefused(reason),
        other => LanError::Protocol(other.to_string()),
    }
}

fn paired(address: &str, receiver: Fingerprint, reply: PairedReply) -> Paired {
    Paired {
        receiver,
        receiver_name: reply.receiver,
        address: address.to_string(),
        device: reply.device,
        location: lan_location(address, &receiver),
    }
}

fn pair_by_secret(uri: &PairingUri, identity: &Identity, name: &str) -> Result<Paired, LanError> {
    let mut last = None;
    for address in &uri.addresses {
        let request = SecretRequest {
            secret: uri.secret.clone(),
            name: name.to_string(),
        };
        match post::<_, PairedReply>(address, identity, uri.fingerprint, "/pair/secret", &request) {
            Ok(reply) => return Ok(paired(address, uri.fingerprint, reply)),
            Err(e @ LanError::Unreachable { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| LanError::Protocol("no address".into())))
}

fn pair_by_code(
    address: &str,
    code: &str,
    identity: &Identity,
    name: &str,
) -> Result<Paired, LanError> {
    if code.len() != CODE_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LanError::PairingRefused(format!(
            "the code has {CODE_DIGITS} digits"
        )));
    }
    // Start with the identity the receiver shows, whatever it is; SPAKE2 checks it.
    let recording = ReceiverVerifier::recording();
    let phone = identity.fingerprint();
    // The phone's SPAKE2 state needs the receiver's fingerprint, known only after the TLS
    // handshake: a first request (the receiver's info) learns it.
    let _: serde_json::Value = get_info(address, identity, recording.clone())?;
    let receiver = recording
        .seen()
        .ok_or_else(|| LanError::Protocol("no receiver certificate".into()))?;
    let (id_a, id_b) = identities(&phone, &receiver);
    let (state, message) = spake2::Spake2::<spake2::Ed25519Group>::start_a(
        &spake2::Password::new(code.as_bytes()),
        &id_a,
        &id_b,
    );
    let start = CodeStart {
        name: name.to_string(),
        message: b64(&message),
    };
    let reply: CodeReply = post(address, identity, receiver, "/pair/code/start", &start)?;
    let key = zeroize::Zeroizing::new(
        state
            .finish(&unb64(&reply.message)?)
            .map_err(|e| LanError::Protocol(format!("pairing message: {e:?}")))?,
    );
    if !confirms(&key, Role::Receiver, &unb64(&reply.confirm)?) {
        return Err(LanError::PairingRefused(
            "the code does not match (check the digits on the PC; if they are right, \
             something between this device and the PC is intercepting)"
                .into(),
        ));
    }
    let finish = CodeFinish {
        confirm: b64(&confirmation(&key, Role::Phone)),
    };
    let done: PairedReply = post(address, identity, receiver, "/pair/code/finish", &finish)?;
    Ok(paired(address, receiver, done))
}

/// `GET /v1/info` (open to any device with a certificate).
fn get_info(
    address: &str,
    identity: &Identity,
    verifier: Arc<ReceiverVerifier>,
) -> Result<serde_json::Value, LanError> {
    let config = tls::client_config(identity, verifier)?;
    let http =
        crate::net::http::Http::receiver(&format!("https://{address}"), pairing_http(), config);
    let url = format!("https://{address}{API}/info");
    let r = http
        .send("info", "info", |a| a.get(&url).call())
        .map_err(|e| lan_error(address, e))?;
    let body = crate::net::http::read_body("info", "info", r)
        .map_err(|e| LanError::Protocol(e.to_string()))?;
    serde_json::from_slice(&body).map_err(|e| LanError::Protocol(format!("info: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_round_trip() {
        let uri = PairingUri {
            addresses: vec!["192.168.1.5:7459".into(), "[fe80::1]:7459".into()],
            fingerprint: Identity::generate("r").unwrap().fingerprint(),
            secret: new_secret(),
            name: "Anna's PC & co".into(),
        };
        assert_eq!(PairingUri::parse(&uri.to_uri()).unwrap(), uri);
        assert!(PairingUri::parse("https://pair?addr=x").is_err());
        assert!(format!("{uri:?}").find(&uri.secret).is_none());
    }

    #[test]
    fn spake2_agrees_only_on_the_same_code_and_fingerprints() {
        let phone = Identity::generate("p").unwrap().fingerprint();
        let receiver = Identity::generate("r").unwrap().fingerprint();
        let other = Identity::generate("m").unwrap().fingerprint();
        let run = |code_a: &str, code_b: &str, seen_by_phone: &Fingerprint| {
            let (id_a, id_b) = identities(&phone, seen_by_phone);
            let (state, msg_a) = spake2::Spake2::<spake2::Ed25519Group>::start_a(
                &spake2::Password::new(code_a.as_bytes()),
                &id_a,
                &id_b,
            );
            let (msg_b, key_b) = receiver_exchange(code_b, &phone, &receiver, &msg_a).unwrap();
            let key_a = state.finish(&msg_b).unwrap();
            confirms(
                &key_a,
                Role::Receiver,
                &confirmation(&key_b, Role::Receiver),
            )
        };
        assert!(run("123456", "123456", &receiver));
        assert!(!run("123457", "123456", &receiver));
        assert!(!run("123456", "123456", &other));
        let code = new_code();
        assert_eq!(code.len(), CODE_DIGITS);
    }
}
