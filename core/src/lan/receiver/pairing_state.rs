//! The receiver's side of pairing: the current one-time secret and numeric code, wrong-code
//! counting, and code exchanges waiting for the phone's confirmation.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::lan::pairing::{self, Role, MAX_CODE_ATTEMPTS};
use crate::lan::{Fingerprint, PairingUri};

/// A code exchange must be confirmed this soon.
const EXCHANGE_TTL: Duration = Duration::from_secs(120);

struct Pending {
    key: Zeroizing<Vec<u8>>,
    started: Instant,
    label: String,
}

/// Why pairing was refused: an HTTP status and words for the phone.
pub(crate) struct Refusal(pub u16, pub String);

pub(crate) struct PairingState {
    addresses: Vec<String>,
    fingerprint: Fingerprint,
    name: String,
    secret: Zeroizing<String>,
    code: Zeroizing<String>,
    failures: u32,
    lock_announced: bool,
    pending: HashMap<Fingerprint, Pending>,
}

impl PairingState {
    pub fn new(addresses: Vec<String>, fingerprint: Fingerprint, name: String) -> Self {
        PairingState {
            addresses,
            fingerprint,
            name,
            secret: Zeroizing::new(pairing::new_secret()),
            code: Zeroizing::new(pairing::new_code()),
            failures: 0,
            lock_announced: false,
            pending: HashMap::new(),
        }
    }

    pub fn uri(&self) -> PairingUri {
        PairingUri {
            addresses: self.addresses.clone(),
            fingerprint: self.fingerprint,
            secret: self.secret.to_string(),
            name: self.name.clone(),
        }
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn code_locked(&self) -> bool {
        self.failures >= MAX_CODE_ATTEMPTS
    }

    /// True once, when pairing by code has just been turned off by wrong codes.
    pub fn lock_news(&mut self) -> bool {
        let news = self.code_locked() && !self.lock_announced;
        self.lock_announced |= news;
        news
    }

    /// Whether `given` is the current secret (constant time).
    pub fn secret_matches(&self, given: &str) -> bool {
        let key =
            ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &ring::rand::SystemRandom::new());
        let Ok(key) = key else { return false };
        let tag = ring::hmac::sign(&key, self.secret.as_bytes());
        ring::hmac::verify(&key, given.as_bytes(), tag.as_ref()).is_ok()
    }

    /// A phone starts a code exchange. Each start counts as an attempt until one succeeds.
    pub fn start(
        &mut self,
        phone: &Fingerprint,
        label: &str,
        message: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), Refusal> {
        if self.code_locked() {
            return Err(Refusal(
                429,
                "too many wrong codes: pairing by code is off until `chatvault serve` restarts; \
                 scan the QR code instead"
                    .into(),
            ));
        }
        self.failures += 1;
        self.pending
            .retain(|_, p| p.started.elapsed() < EXCHANGE_TTL);
        let (reply, key) =
            pairing::receiver_exchange(&self.code, phone, &self.fingerprint, message)
                .map_err(|e| Refusal(400, e.to_string()))?;
        let confirm = pairing::confirmation(&key, Role::Receiver);
        self.pending.insert(
            *phone,
            Pending {
                key,
                started: Instant::now(),
                label: label.to_string(),
            },
        );
        Ok((reply, confirm))
    }

    /// The phone confirms; the device's label when it holds the same key.
    pub fn finish(&mut self, phone: &Fingerprint, tag: &[u8]) -> Result<String, Refusal> {
        let pending = self
            .pending
            .remove(phone)
            .filter(|p| p.started.elapsed() < EXCHANGE_TTL)
            .ok_or_else(|| Refusal(403, "no pairing in progress for this device".into()))?;
        if pairing::confirms(&pending.key, Role::Phone, tag) {
            Ok(pending.label)
        } else {
            Err(Refusal(403, "the code does not match".into()))
        }
    }

    /// After a successful pairing: a new secret and code, the wrong-code count cleared.
    pub fn renew(&mut self) {
        self.secret = Zeroizing::new(pairing::new_secret());
        self.code = Zeroizing::new(pairing::new_code());
        self.failures = 0;
        self.lock_announced = false;
        self.pending.clear();
    }
}
