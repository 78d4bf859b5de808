//! Authenticated encryption of every repository object and blob.
//!
//! One random 256-bit master key per repository. The object key is derived from it with
//! BLAKE3's key derivation; every object and blob is sealed with XChaCha20-Poly1305 under a
//! fresh random 192-bit nonce (safe to pick at random, unlike 96-bit nonces), and with
//! associated data naming what the object is, so one object cannot be passed off as another.

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};

/// Bytes of nonce in front of every sealed object.
pub const NONCE_LEN: usize = 24;
/// Bytes of authentication tag at the end of every sealed object.
pub const TAG_LEN: usize = 16;
/// Overhead of sealing: nonce plus tag.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// Fills an array with bytes from the operating system's secure random generator.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b)
        .map_err(|e| Error::internal_from("system random generator failed", e))?;
    Ok(b)
}

/// A 256-bit secret key that is wiped from memory when dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey(pub(crate) [u8; 32]);

impl SecretKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self> {
        Ok(SecretKey(random_bytes()?))
    }

    /// A key derived from this one for one purpose (BLAKE3 `derive_key`).
    pub fn derive(&self, context: &str) -> SecretKey {
        SecretKey(blake3::derive_key(context, &self.0))
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// Seals and opens objects under one key.
#[derive(Clone)]
pub struct Cipher {
    aead: XChaCha20Poly1305,
}

/// Opening failed: wrong key, or the bytes were changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFailed;

impl Cipher {
    /// A cipher using `key` directly.
    pub fn new(key: &SecretKey) -> Self {
        Cipher {
            aead: XChaCha20Poly1305::new((&key.0).into()),
        }
    }

    /// `nonce || ciphertext || tag` of `plain`, authenticated together with `aad`.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.seal_into(aad, &mut out, plain.len(), |out| {
            out.extend_from_slice(plain);
            Ok(())
        })?;
        Ok(out)
    }

    /// Like [`Cipher::seal`], with the plaintext appended to `out` (cleared first) by
    /// `fill` and encrypted in place: no allocation when `out` has room, no copies.
    pub fn seal_into(
        &self,
        aad: &[u8],
        out: &mut Vec<u8>,
        size_hint: usize,
        fill: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        // Nonces come from rand's thread generator (ChaCha12, seeded and reseeded from the
        // OS): a backup of 100,000 database pages makes no 100,000 getrandom system calls.
        // Keys and salts still come straight from the OS (`random_bytes`).
        let mut nonce = [0u8; NONCE_LEN];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
        out.clear();
        out.reserve(NONCE_LEN + size_hint + TAG_LEN);
        out.extend_from_slice(&nonce);
        fill(out)?;
        let tag = self
            .aead
            .encrypt_in_place_detached(XNonce::from_slice(&nonce), aad, &mut out[NONCE_LEN..])
            .map_err(|_| Error::internal("encryption failed"))?;
        out.extend_from_slice(&tag);
        Ok(())
    }

    /// The plaintext of a sealed object, if it authenticates with `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenFailed> {
        let mut buf = Vec::new();
        self.open_append(aad, sealed, &mut buf)?;
        Ok(buf)
    }

    /// Like [`Cipher::open`], with the plaintext appended to `out` (decrypted in place
    /// there: no allocation when `out` has room). `out` is left as it was on failure.
    pub fn open_append(
        &self,
        aad: &[u8],
        sealed: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), OpenFailed> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(OpenFailed);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
        let start = out.len();
        out.extend_from_slice(ct);
        let opened = self.aead.decrypt_in_place_detached(
            XNonce::from_slice(nonce),
            aad,
            &mut out[start..],
            tag.into(),
        );
        if opened.is_err() {
            out.truncate(start);
            return Err(OpenFailed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_tamper() {
        let c = Cipher::new(&SecretKey::generate().unwrap());
        let s = c.seal(b"ad", b"secret message").unwrap();
        assert_eq!(c.open(b"ad", &s).unwrap(), b"secret message");
        assert_eq!(c.open(b"other", &s), Err(OpenFailed));
        for i in 0..s.len() {
            let mut t = s.clone();
            t[i] ^= 1;
            assert_eq!(c.open(b"ad", &t), Err(OpenFailed));
        }
        assert_eq!(c.open(b"ad", &s[..10]), Err(OpenFailed));
    }
}
