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

    /// A phone starts a code exchange. A well-formed start counts as a failed attempt until
    /// the phone confirms it ([`Self::finish`]): the receiver's answer already lets the
    /// phone test one guess of the code. A malformed one (a message that is not a SPAKE2
    /// element) is refused without counting, so it cannot lock pairing out.
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
        self.pending
            .retain(|_, p| p.started.elapsed() < EXCHANGE_TTL);
        let (reply, key) =
            pairing::receiver_exchange(&self.code, phone, &self.fingerprint, message)
                .map_err(|e| Refusal(400, e.to_string()))?;
        self.failures += 1;
        let confirm = pairing::confirmation(&key, Role::Receiver);
        // A second start from the same phone replaces the first, whose attempt stays counted.
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
            // The right code: this exchange was no failure (if it was the one that reached
            // the limit, pairing by code is on again, and a later lock is news again).
            self.failures = self.failures.saturating_sub(1);
            self.lock_announced &= self.code_locked();
            Ok(pending.label)
        } else {
            Err(Refusal(403, "the code does not match".into()))
        }
    }

    /// After a successful pairing: a new secret and code. The count of failed code attempts
    /// stays (it lasts as long as the receiver runs), so pairing a device of one's own does
    /// not give a guesser new attempts, nor lift a lockout.
    pub fn renew(&mut self) {
        self.secret = Zeroizing::new(pairing::new_secret());
        self.code = Zeroizing::new(pairing::new_code());
        self.pending.clear();
    }
}
