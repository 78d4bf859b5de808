//! The repository's `config` object: format version, chunking parameters and the secret
//! key for chunk ids, sealed under the master key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::crypto::Cipher;
use super::id::Id;
use crate::error::{Error, Result};

/// The repository format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const MAGIC: &[u8; 4] = b"CVCF";
const AAD: &[u8] = b"chatvault:config";

/// Content-defined chunking parameters (FastCDC 2020, normalization level 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerParams {
    /// Smallest chunk, bytes.
    pub min_size: u32,
    /// Target average chunk, bytes (a power of two).
    pub avg_size: u32,
    /// Largest chunk, bytes.
    pub max_size: u32,
    /// Secret seed XORed into the gear table, so chunk boundaries do not reveal content.
    pub seed: u64,
}

impl ChunkerParams {
    /// Defaults: 256 KiB / 1 MiB / 4 MiB with a random seed.
    pub fn random() -> Result<Self> {
        Ok(ChunkerParams {
            min_size: 256 * 1024,
            avg_size: 1024 * 1024,
            max_size: 4 * 1024 * 1024,
            seed: u64::from_le_bytes(super::crypto::random_bytes()?),
        })
    }

    fn validate(&self) -> Result<()> {
        let ok = (64..=1 << 26).contains(&self.min_size)
            && (256..=1 << 28).contains(&self.avg_size)
            && (1024..=1 << 28).contains(&self.max_size)
            && self.min_size <= self.avg_size
            && self.avg_size <= self.max_size
            && self.max_size <= 16 * 1024 * 1024;
        if ok {
            Ok(())
        } else {
            Err(Error::corrupt(
                "config",
                format!("invalid chunker parameters {self:?}"),
            ))
        }
    }
}

/// The decrypted `config` object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepoConfig {
    /// Format version ([`FORMAT_VERSION`]).
    pub version: u32,
    /// Random repository id.
    pub id: Id,
    /// When the repository was created.
    pub created: DateTime<Utc>,
    /// Chunking parameters for ordinary files.
    pub chunker: ChunkerParams,
    /// Key of the keyed BLAKE3 that names blobs (hex). Copied to linked repositories.
    pub id_key: String,
    /// Target size of a pack in bytes.
    pub pack_size: u32,
    /// zstd level for compressible data.
    pub compression_level: i32,
}

impl RepoConfig {
    /// A new configuration with fresh secrets.
    pub fn new(pack_size: u32) -> Result<Self> {
        Ok(RepoConfig {
            version: FORMAT_VERSION,
            id: Id::random()?,
            created: Utc::now(),
            chunker: ChunkerParams::random()?,
            id_key: hex::encode(super::crypto::random_bytes::<32>()?),
            pack_size,
            compression_level: 3,
        })
    }

    /// The id key as bytes.
    pub(crate) fn id_key_bytes(&self) -> Result<[u8; 32]> {
        let mut k = [0u8; 32];
        hex::decode_to_slice(&self.id_key, &mut k)
            .map_err(|_| Error::corrupt("config", "bad id key"))?;
        Ok(k)
    }

    /// `"CVCF" || version (u32 LE) || sealed JSON`.
    pub(crate) fn encode(&self, cipher: &Cipher) -> Result<Vec<u8>> {
        let json =
            serde_json::to_vec(self).map_err(|e| Error::internal_from("encode the config", e))?;
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&cipher.seal(AAD, &json)?);
        Ok(out)
    }

    pub(crate) fn decode(raw: &[u8], cipher: &Cipher) -> Result<Self> {
        if raw.len() < 8 || &raw[..4] != MAGIC {
            return Err(Error::corrupt("config", "not a ChatVault config object"));
        }
        let version = u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]);
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let plain = cipher.open(AAD, &raw[8..]).map_err(|_| {
            Error::corrupt("config", "authentication failed (the object was modified)")
        })?;
        let cfg: RepoConfig =
            serde_json::from_slice(&plain).map_err(|e| Error::corrupt("config", e.to_string()))?;
        cfg.chunker.validate()?;
        cfg.id_key_bytes()?;
        if !(64 * 1024..=1 << 30).contains(&cfg.pack_size) {
            return Err(Error::corrupt("config", "invalid pack size"));
        }
        Ok(cfg)
    }
}
