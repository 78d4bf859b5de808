//! Key slots: each one wraps the repository's master key under a password (Argon2id) or a
//! printable recovery key. Adding, removing or changing a slot never touches data.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::crypto::{random_bytes, Cipher, SecretKey};
use super::id::Id;
use crate::error::{Error, Result};
use crate::storage::{ObjectKind, Storage};

const SLOT_AAD: &[u8] = b"chatvault:key-slot";
const RECOVERY_CONTEXT: &str = "chatvault v1 recovery-key slot";

/// Argon2id cost of a password slot. Stored per slot so each can be tuned to its device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// 32 MiB, 3 passes, 1 lane: above OWASP's Argon2id minimums, about 0.3 s on a mid-range
    /// phone, and leaves a backup's 64 MiB memory budget intact.
    fn default() -> Self {
        KdfParams {
            memory_kib: 32 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

/// The most memory (KiB) a slot may ask Argon2id for: 1 GiB.
pub const MAX_KDF_MEMORY_KIB: u32 = 1024 * 1024;
/// The most passes a slot may ask for.
pub const MAX_KDF_ITERATIONS: u32 = 64;
/// The most lanes a slot may ask for.
pub const MAX_KDF_PARALLELISM: u32 = 16;

impl KdfParams {
    /// Rejects parameters too weak to protect a password or too large to run on a phone.
    pub fn validate(&self) -> Result<()> {
        if !(8 * 1024..=MAX_KDF_MEMORY_KIB).contains(&self.memory_kib)
            || !(1..=MAX_KDF_ITERATIONS).contains(&self.iterations)
            || !(1..=MAX_KDF_PARALLELISM).contains(&self.parallelism)
        {
            return Err(Error::InvalidArgument(format!(
                "key derivation parameters out of range (memory 8 MiB..1 GiB, iterations 1..64, lanes 1..16): {self:?}"
            )));
        }
        Ok(())
    }
}

/// How a slot's wrapping key is derived from the secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "algorithm", rename_all = "lowercase")]
enum Kdf {
    /// Argon2id (version 0x13) of the UTF-8 password.
    Argon2id {
        #[serde(flatten)]
        params: KdfParams,
        salt: String,
    },
    /// BLAKE3 derive_key of salt || recovery key bytes: the recovery key is 256 random
    /// bits, so a slow KDF would add nothing.
    Blake3 { salt: String },
}

/// What kind of secret opens a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlotKind {
    /// A password chosen by the user.
    Password,
    /// A random recovery key shown once.
    Recovery,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SlotBody {
    version: u32,
    kind: SlotKind,
    label: String,
    host: String,
    created: DateTime<Utc>,
    kdf: Kdf,
    /// base64 of nonce || XChaCha20-Poly1305(master key) || tag.
    wrapped_key: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct SlotFile {
    slot: SlotBody,
    /// BLAKE3 of the JSON of `slot`, so a damaged slot is told apart from a wrong password.
    checksum: String,
}

/// A key slot as listed by `key list`.
#[derive(Debug, Clone, Serialize)]
pub struct KeySlotInfo {
    /// Slot id (object name).
    pub id: String,
    /// Password or recovery.
    pub kind: SlotKind,
    /// Free-form label.
    pub label: String,
    /// Host that created it.
    pub host: String,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Whether this slot opened the repository in this session.
    pub current: bool,
}

/// A secret that opens a repository.
#[derive(Clone)]
pub enum Secret {
    /// A password (a recovery key typed as a password is recognised too).
    Password(Zeroizing<String>),
    /// A recovery key as printed.
    RecoveryKey(Zeroizing<String>),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A password secret.
    pub fn password(p: impl Into<String>) -> Self {
        Secret::Password(Zeroizing::new(p.into()))
    }
}

/// A printable 256-bit recovery key: 64 hex digits in 8 groups.
pub struct RecoveryKey(Zeroizing<[u8; 32]>);

impl RecoveryKey {
    fn generate() -> Result<Self> {
        Ok(RecoveryKey(Zeroizing::new(random_bytes()?)))
    }

    /// Parses a recovery key, ignoring case, spaces and dashes.
    pub fn parse(s: &str) -> Option<Self> {
        let digits: Zeroizing<String> = Zeroizing::new(
            s.chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .collect(),
        );
        let mut b = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(digits.to_ascii_lowercase(), &mut b[..]).ok()?;
        Some(RecoveryKey(b))
    }

    /// The key as shown to the user, e.g. `1a2b3c4d-…` (8 groups of 8 hex digits).
    pub fn display(&self) -> String {
        let h = hex::encode(*self.0);
        h.as_bytes()
            .chunks(8)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }
}

fn wrapping_key(kdf: &Kdf, secret: &[u8]) -> Result<SecretKey> {
    match kdf {
        Kdf::Argon2id { params, salt } => {
            let salt = B64
                .decode(salt)
                .map_err(|_| Error::corrupt("key slot", "bad salt"))?;
            let p = Params::new(
                params.memory_kib,
                params.iterations,
                params.parallelism,
                Some(32),
            )
            .map_err(|e| Error::corrupt("key slot", format!("bad Argon2 parameters: {e}")))?;
            let mut out = [0u8; 32];
            Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
                .hash_password_into(secret, &salt, &mut out)
                .map_err(|e| Error::corrupt("key slot", format!("Argon2 failed: {e}")))?;
            Ok(SecretKey(out))
        }
        Kdf::Blake3 { salt } => {
            let mut h = blake3::Hasher::new_derive_key(RECOVERY_CONTEXT);
            h.update(salt.as_bytes());
            h.update(secret);
            Ok(SecretKey(*h.finalize().as_bytes()))
        }
    }
}

fn make_slot(
    kind: SlotKind,
    label: &str,
    kdf: Kdf,
    secret: &[u8],
    master: &SecretKey,
) -> Result<SlotFile> {
    let wk = wrapping_key(&kdf, secret)?;
    let wrapped = Cipher::new(&wk).seal(SLOT_AAD, &master.0)?;
    let slot = SlotBody {
        version: 1,
        kind,
        label: label.to_string(),
        host: crate::repo::hostname(),
        created: Utc::now(),
        kdf,
        wrapped_key: B64.encode(wrapped),
    };
    let checksum = checksum(&slot)?;
    Ok(SlotFile { slot, checksum })
}

fn checksum(slot: &SlotBody) -> Result<String> {
    let json =
        serde_json::to_vec(slot).map_err(|e| Error::internal_from("encode a key slot", e))?;
    Ok(blake3::hash(&json).to_hex().to_string())
}

fn store(storage: &dyn Storage, file: &SlotFile) -> Result<String> {
    let id = Id::random()?.to_hex();
    let json = serde_json::to_vec_pretty(file)
        .map_err(|e| Error::internal_from("encode the key file", e))?;
    storage.put(ObjectKind::Key, &id, &json)?;
    Ok(id)
}

/// Writes a password slot for `master`. Returns the slot id.
pub(crate) fn add_password_slot(
    storage: &dyn Storage,
    master: &SecretKey,
    password: &str,
    label: &str,
    params: KdfParams,
) -> Result<String> {
    params.validate()?;
    if password.is_empty() {
        return Err(Error::InvalidArgument(
            "the password must not be empty".into(),
        ));
    }
    let salt = B64.encode(random_bytes::<16>()?);
    let file = make_slot(
        SlotKind::Password,
        label,
        Kdf::Argon2id { params, salt },
        password.as_bytes(),
        master,
    )?;
    store(storage, &file)
}

/// Writes a recovery slot for `master`. Returns the slot id and the key to show once.
pub(crate) fn add_recovery_slot(
    storage: &dyn Storage,
    master: &SecretKey,
    label: &str,
) -> Result<(String, RecoveryKey)> {
    let key = RecoveryKey::generate()?;
    let salt = hex::encode(random_bytes::<16>()?);
    let file = make_slot(
        SlotKind::Recovery,
        label,
        Kdf::Blake3 { salt },
        &key.0[..],
        master,
    )?;
    Ok((store(storage, &file)?, key))
}

fn load(storage: &dyn Storage, id: &str) -> Result<SlotBody> {
    let object = format!("keys/{id}");
    let raw = storage.get(ObjectKind::Key, id)?;
    let file: SlotFile = serde_json::from_slice(&raw)
        .map_err(|e| Error::corrupt(&object, format!("unreadable key slot: {e}")))?;
    if checksum(&file.slot)? != file.checksum {
        return Err(Error::corrupt(object, "key slot checksum mismatch"));
    }
    if file.slot.version != 1 {
        return Err(Error::UnsupportedVersion {
            found: file.slot.version,
            supported: 1,
        });
    }
    // Whoever can write to the storage can add a slot (its checksum is not a secret): cost
    // parameters no chatvault writes would abort or hang every open, so they are refused
    // before Argon2 runs.
    if let Kdf::Argon2id { params, .. } = &file.slot.kdf {
        if params.memory_kib > MAX_KDF_MEMORY_KIB
            || params.iterations > MAX_KDF_ITERATIONS
            || params.parallelism > MAX_KDF_PARALLELISM
        {
            return Err(Error::corrupt(
                object,
                format!(
                    "key derivation parameters out of bounds (memory {} KiB, {} passes, {} lanes; \
                     at most {MAX_KDF_MEMORY_KIB} KiB, {MAX_KDF_ITERATIONS} passes, \
                     {MAX_KDF_PARALLELISM} lanes): slot refused",
                    params.memory_kib, params.iterations, params.parallelism
                ),
            ));
        }
    }
    Ok(file.slot)
}

/// Tries `candidate` on one slot: `Ok(Some(key))` when it opens, `Ok(None)` when the
/// secret is not this slot's, `Err(Corrupt)` when the slot itself is unusable.
fn try_slot(id: &str, slot: &SlotBody, candidate: &[u8]) -> Result<Option<SecretKey>> {
    let object = format!("keys/{id}");
    let wrapped = B64
        .decode(&slot.wrapped_key)
        .map_err(|_| Error::corrupt(&object, "bad wrapped key"))?;
    let wk = wrapping_key(&slot.kdf, candidate).map_err(|e| match e {
        Error::Corrupt { reason, .. } => Error::corrupt(&object, reason),
        e => e,
    })?;
    let Ok(plain) = Cipher::new(&wk).open(SLOT_AAD, &wrapped) else {
        return Ok(None);
    };
    let plain = Zeroizing::new(plain);
    let bytes: [u8; 32] = plain[..]
        .try_into()
        .map_err(|_| Error::corrupt(&object, "wrapped key has wrong length"))?;
    Ok(Some(SecretKey(bytes)))
}

/// Finds the slot that `secret` opens and returns the master key and that slot's id.
///
/// Recovery slots are tried first when the secret looks like a recovery key (they are
/// cheap); then password slots. A damaged slot (unreadable, checksum mismatch, cost
/// parameters out of bounds) is skipped and the others tried. Fails with
/// [`Error::WrongPassword`] when no slot opens and every slot is intact, and with
/// [`Error::Corrupt`] naming a damaged slot when no slot opens and one is damaged (the
/// right password may be the damaged slot's).
pub(crate) fn unlock(storage: &dyn Storage, secret: &Secret) -> Result<(SecretKey, String)> {
    let mut ids: Vec<String> = storage
        .list(ObjectKind::Key)?
        .into_iter()
        .map(|o| o.name)
        .collect();
    ids.sort();
    if ids.is_empty() {
        return Err(Error::corrupt("keys/", "the repository has no key slots"));
    }
    let (password, recovery) = match secret {
        Secret::Password(p) => (Some(p.as_str()), RecoveryKey::parse(p)),
        Secret::RecoveryKey(k) => (
            None,
            Some(RecoveryKey::parse(k).ok_or_else(|| {
                Error::InvalidArgument("not a recovery key: expected 64 hex digits".into())
            })?),
        ),
    };
    let mut slots = Vec::new();
    let mut first_damage = None;
    for id in ids {
        match load(storage, &id) {
            Ok(s) => slots.push((id, s)),
            Err(e @ Error::Corrupt { .. }) => {
                log::warn!("{e}");
                first_damage.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    let order = [SlotKind::Recovery, SlotKind::Password];
    for kind in order {
        let candidate: Option<&[u8]> = match kind {
            SlotKind::Recovery => recovery.as_ref().map(|k| &k.0[..]),
            SlotKind::Password => password.map(str::as_bytes),
        };
        let Some(candidate) = candidate else { continue };
        for (id, slot) in slots.iter().filter(|(_, s)| s.kind == kind) {
            match try_slot(id, slot, candidate) {
                Ok(Some(key)) => return Ok((key, id.clone())),
                Ok(None) => {}
                Err(e @ Error::Corrupt { .. }) => {
                    log::warn!("{e}");
                    first_damage.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
    }
    match first_damage {
        Some(Error::Corrupt { object, reason }) => Err(Error::corrupt(
            object,
            format!("damaged key slot ({reason}); no other key slot opens with this secret"),
        )),
        Some(e) => Err(e),
        None => Err(Error::WrongPassword),
    }
}

/// Lists all slots.
pub(crate) fn list(storage: &dyn Storage, current: &str) -> Result<Vec<KeySlotInfo>> {
    let mut out = Vec::new();
    for o in storage.list(ObjectKind::Key)? {
        let s = load(storage, &o.name)?;
        out.push(KeySlotInfo {
            current: o.name == current,
            id: o.name,
            kind: s.kind,
            label: s.label,
            host: s.host,
            created: s.created,
        });
    }
    out.sort_by_key(|a| a.created);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::LocalStorage;

    #[test]
    fn recovery_key_text_round_trip() {
        let k = RecoveryKey::generate().unwrap();
        let shown = k.display();
        assert_eq!(shown.len(), 64 + 7);
        let parsed = RecoveryKey::parse(&shown.to_uppercase().replace('-', " ")).unwrap();
        assert_eq!(*parsed.0, *k.0);
        assert!(RecoveryKey::parse("hunter2").is_none());
    }

    #[test]
    fn slots_open_with_their_secret_only() {
        let dir = tempfile::tempdir().unwrap();
        let st = LocalStorage::new(dir.path());
        let master = SecretKey::generate().unwrap();
        let small = KdfParams {
            memory_kib: 8 * 1024,
            iterations: 1,
            parallelism: 1,
        };
        let pw_id = add_password_slot(&st, &master, "correct horse", "main", small).unwrap();
        let (rec_id, rec) = add_recovery_slot(&st, &master, "recovery").unwrap();
        let (k, id) = unlock(&st, &Secret::password("correct horse")).unwrap();
        assert_eq!((k.0, id), (master.0, pw_id));
        let (k, id) = unlock(&st, &Secret::password(rec.display())).unwrap();
        assert_eq!((k.0, id), (master.0, rec_id));
        assert!(matches!(
            unlock(&st, &Secret::password("wrong")),
            Err(Error::WrongPassword)
        ));
    }

    /// A slot as an attacker with write access to the storage makes it: any parameters,
    /// a valid checksum.
    fn hostile_slot(st: &LocalStorage, params: KdfParams) -> String {
        let slot = SlotBody {
            version: 1,
            kind: SlotKind::Password,
            label: "evil".into(),
            host: "evil".into(),
            created: Utc::now(),
            kdf: Kdf::Argon2id {
                params,
                salt: B64.encode([0u8; 16]),
            },
            wrapped_key: B64.encode([0u8; 72]),
        };
        let checksum = checksum(&slot).unwrap();
        store(st, &SlotFile { slot, checksum }).unwrap()
    }

    #[test]
    fn damaged_and_hostile_slots_are_skipped_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let st = LocalStorage::new(dir.path());
        let master = SecretKey::generate().unwrap();
        let small = KdfParams {
            memory_kib: 8 * 1024,
            iterations: 1,
            parallelism: 1,
        };
        let good = add_password_slot(&st, &master, "right", "main", small).unwrap();
        let (_, _rec) = add_recovery_slot(&st, &master, "recovery").unwrap();
        // Bad luck: the only password slot is damaged. The right password is not "wrong".
        let path = dir.path().join("keys").join(&good);
        let mut raw = std::fs::read(&path).unwrap();
        let at = raw.len() / 2;
        raw[at] ^= 0x01;
        std::fs::write(&path, &raw).unwrap();
        match unlock(&st, &Secret::password("right")) {
            Err(Error::Corrupt { object, reason }) => {
                assert_eq!(object, format!("keys/{good}"));
                assert!(reason.contains("damaged key slot"), "{reason}");
            }
            other => panic!("expected a damaged slot, got {other:?}"),
        }
        raw[at] ^= 0x01;
        std::fs::write(&path, &raw).unwrap();

        // An attacker's slots with costs that would abort (64 GiB) or hang (4e9 passes):
        // refused without running Argon2, the intact slot still opens.
        let huge = hostile_slot(
            &st,
            KdfParams {
                memory_kib: 64 * 1024 * 1024,
                iterations: 1,
                parallelism: 1,
            },
        );
        let _slow = hostile_slot(
            &st,
            KdfParams {
                memory_kib: 8 * 1024,
                iterations: 4_000_000_000,
                parallelism: 1,
            },
        );
        let (k, id) = unlock(&st, &Secret::password("right")).unwrap();
        assert_eq!((k.0, id), (master.0, good));
        match unlock(&st, &Secret::password("wrong")) {
            Err(Error::Corrupt { object, reason }) => {
                assert!(object.starts_with("keys/"), "{object}");
                assert!(reason.contains("out of bounds"), "{reason}");
            }
            other => panic!("expected the hostile slot named, got {other:?}"),
        }
        assert!(load(&st, &huge).is_err());
    }
}
