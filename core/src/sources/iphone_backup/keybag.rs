//! The backup keybag (`BackupKeyBag` in `Manifest.plist`): a TLV list (4-byte ASCII tag,
//! 4-byte big-endian length, value). Keybag-wide tags come first (`VERS`, `TYPE`, `UUID`,
//! `HMCK`, `WRAP`, `SALT`, `ITER`, `DPWT`, `DPIC`, `DPSL`); each later `UUID` starts a class
//! key (`CLAS`, `WRAP`, `KTYP`, `WPKY`). The password opens it: PBKDF2-HMAC-SHA256 over
//! `DPSL` for `DPIC` rounds, then PBKDF2-HMAC-SHA1 of that over `SALT` for `ITER` rounds
//! gives the key that unwraps (AES key wrap, RFC 3394) each class key whose `WRAP` has bit 2.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use super::decrypt::unwrap_key;

/// Largest keybag accepted (real ones are about 2 KB).
pub const MAX_KEYBAG: usize = 64 * 1024;
/// Most PBKDF2-SHA256 rounds accepted (iOS uses 10,000,000).
pub const MAX_DPIC: u32 = 20_000_000;
/// Most PBKDF2-SHA1 rounds accepted (iOS uses 10,000).
pub const MAX_ITER: u32 = 1_000_000;
/// `WRAP` bit: the class key is wrapped with the password-derived key.
const WRAP_PASSCODE: u32 = 2;

/// One class key of the keybag, still wrapped.
#[derive(Debug, Clone, Default)]
pub struct ClassKey {
    /// Protection class (1 to 11).
    pub class: u32,
    /// How it is wrapped (bit 2: with the password-derived key).
    pub wrap: u32,
    /// Key type (0: AES).
    pub key_type: u32,
    /// The wrapped key (40 bytes for an AES-256 key).
    pub wrapped: Vec<u8>,
}

/// A parsed backup keybag.
#[derive(Debug, Clone, Default)]
pub struct Keybag {
    /// Keybag type (1: backup).
    pub kind: u32,
    /// Salt of the SHA-1 round.
    pub salt: Vec<u8>,
    /// SHA-1 rounds.
    pub iter: u32,
    /// Salt of the SHA-256 round.
    pub dpsl: Vec<u8>,
    /// SHA-256 rounds.
    pub dpic: u32,
    /// The class keys, in keybag order.
    pub classes: Vec<ClassKey>,
}

/// One TLV entry: its tag and value.
pub type Tlv<'a> = ([u8; 4], &'a [u8]);

/// The TLV entries of `bytes`, or why they are malformed.
pub fn tlv(bytes: &[u8]) -> Result<Vec<Tlv<'_>>, String> {
    if bytes.len() > MAX_KEYBAG {
        return Err(format!("the keybag is too large ({} bytes)", bytes.len()));
    }
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (Some(tag), Some(len)) = (rest.get(0..4), rest.get(4..8)) else {
            return Err("the keybag ends inside an entry's head".into());
        };
        let mut t = [0u8; 4];
        t.copy_from_slice(tag);
        let mut l = [0u8; 4];
        l.copy_from_slice(len);
        let len = u32::from_be_bytes(l) as usize;
        let Some(value) = 8usize.checked_add(len).and_then(|end| rest.get(8..end)) else {
            return Err(format!(
                "the keybag's {} entry runs past its end",
                String::from_utf8_lossy(&t)
            ));
        };
        out.push((t, value));
        rest = &rest[8 + len..];
    }
    Ok(out)
}

fn int(tag: &[u8; 4], v: &[u8]) -> Result<u32, String> {
    let b: [u8; 4] = v.try_into().map_err(|_| {
        format!(
            "the keybag's {} is {} bytes, not a 4-byte integer",
            String::from_utf8_lossy(tag),
            v.len()
        )
    })?;
    Ok(u32::from_be_bytes(b))
}

impl Keybag {
    /// Parses a keybag's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Keybag, String> {
        let mut kb = Keybag::default();
        let mut seen_uuid = false;
        let mut current: Option<ClassKey> = None;
        let (mut have_salt, mut have_dpsl) = (false, false);
        for (tag, v) in tlv(bytes)? {
            match &tag {
                b"UUID" if !seen_uuid => seen_uuid = true,
                b"UUID" => {
                    if let Some(c) = current.take() {
                        kb.classes.push(c);
                    }
                    current = Some(ClassKey::default());
                }
                b"CLAS" | b"WRAP" | b"KTYP" | b"WPKY" if current.is_some() => {
                    let Some(c) = current.as_mut() else { continue };
                    match &tag {
                        b"CLAS" => c.class = int(&tag, v)?,
                        b"WRAP" => c.wrap = int(&tag, v)?,
                        b"KTYP" => c.key_type = int(&tag, v)?,
                        _ => c.wrapped = v.to_vec(),
                    }
                }
                b"TYPE" => kb.kind = int(&tag, v)?,
                b"SALT" => {
                    kb.salt = v.to_vec();
                    have_salt = true;
                }
                b"ITER" => kb.iter = int(&tag, v)?,
                b"DPSL" => {
                    kb.dpsl = v.to_vec();
                    have_dpsl = true;
                }
                b"DPIC" => kb.dpic = int(&tag, v)?,
                _ => {}
            }
        }
        if let Some(c) = current {
            kb.classes.push(c);
        }
        if !have_salt || !have_dpsl {
            return Err(
                "the keybag has no SALT or DPSL (not a backup keybag of iOS 10.2 or later)".into(),
            );
        }
        if !(1..=MAX_ITER).contains(&kb.iter) || !(1..=MAX_DPIC).contains(&kb.dpic) {
            return Err(format!(
                "the keybag's round counts are out of range (ITER {}, DPIC {})",
                kb.iter, kb.dpic
            ));
        }
        if kb.classes.is_empty() {
            return Err("the keybag holds no class keys".into());
        }
        Ok(kb)
    }

    /// The key the password gives (PBKDF2-HMAC-SHA256 over DPSL, then PBKDF2-HMAC-SHA1 over
    /// SALT; 32 bytes).
    pub fn password_key(&self, password: &[u8]) -> Zeroizing<[u8; 32]> {
        let mut round1 = Zeroizing::new([0u8; 32]);
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, &self.dpsl, self.dpic, &mut *round1);
        let mut key = Zeroizing::new([0u8; 32]);
        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(&*round1, &self.salt, self.iter, &mut *key);
        key
    }

    /// The class keys unwrapped with `password_key`, or `None` if it does not unwrap them
    /// (a wrong password).
    pub fn unlock(&self, password_key: &[u8; 32]) -> Option<ClassKeys> {
        let mut keys = BTreeMap::new();
        for c in &self.classes {
            if c.wrap & WRAP_PASSCODE == 0 || c.wrapped.is_empty() {
                continue;
            }
            let key = unwrap_key(password_key, &c.wrapped)?;
            keys.insert(c.class, key);
        }
        if keys.is_empty() {
            return None;
        }
        Some(ClassKeys(keys))
    }
}

/// The unwrapped class keys of a keybag, by protection class.
pub struct ClassKeys(BTreeMap<u32, Zeroizing<[u8; 32]>>);

impl ClassKeys {
    /// Unwraps `wrapped` (a file's or the manifest's key) with the key of `class`.
    pub fn unwrap(&self, class: u32, wrapped: &[u8]) -> Result<Zeroizing<[u8; 32]>, String> {
        let kek = self
            .0
            .get(&class)
            .ok_or_else(|| format!("the keybag has no key for protection class {class}"))?;
        unwrap_key(kek, wrapped)
            .ok_or_else(|| format!("a key of protection class {class} does not unwrap"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_bounds() {
        assert!(tlv(b"VERS").is_err());
        assert!(tlv(b"VERS\0\0\0\x05abc").is_err());
        assert!(tlv(b"VERS\xff\xff\xff\xffabc").is_err());
        let t = tlv(b"VERS\0\0\0\x04\0\0\0\x04").unwrap();
        assert_eq!(t, vec![(*b"VERS", &[0u8, 0, 0, 4][..])]);
        assert!(Keybag::parse(b"VERS\0\0\0\x04\0\0\0\x04").is_err());
        for n in 0..40 {
            let _ = Keybag::parse(&vec![0x41; n]);
        }
    }
}
