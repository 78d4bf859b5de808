//! The ciphers of an encrypted backup: AES key wrap (RFC 3394) for class, manifest and file
//! keys; AES-256-CBC with a zero IV and PKCS#7 padding for `Manifest.db` and each file.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use aes::cipher::{BlockDecryptMut, KeyIvInit};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// AES block size.
const BLOCK: usize = 16;
/// Bytes decrypted at a time.
const CHUNK: usize = 1 << 20;

/// `wrapped` (40 bytes) unwrapped with `kek` into an AES-256 key, or `None` if its integrity
/// check fails (a wrong key-encryption key) or it is not 40 bytes long.
pub fn unwrap_key(kek: &[u8; 32], wrapped: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    if wrapped.len() != 40 {
        return None;
    }
    let kek = aes_kw::KekAes256::from(*kek);
    let mut out = Zeroizing::new([0u8; 32]);
    kek.unwrap(wrapped, &mut *out).ok()?;
    Some(out)
}

/// Decrypts the file at `src` with `key` into a new file `dst` (created, never
/// overwritten), removing the PKCS#7 padding; if the padding is not valid, the plaintext is
/// cut to `size` when that is shorter (iOS records each file's size). Returns the bytes
/// written.
pub fn decrypt_file(key: &[u8; 32], src: &Path, dst: &Path, size: Option<u64>) -> Result<u64> {
    let mut input = File::open(src).map_err(|e| Error::io("open", src, e))?;
    let total = input
        .metadata()
        .map_err(|e| Error::io("stat", src, e))?
        .len();
    if total % BLOCK as u64 != 0 {
        return Err(Error::Source {
            path: src.into(),
            reason: format!("encrypted file of {total} bytes is not a whole number of AES blocks"),
        });
    }
    let mut output = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dst)
        .map_err(|e| Error::io("create", dst, e))?;
    let mut cipher = Aes256CbcDec::new(key.into(), &[0u8; BLOCK].into());
    let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
    let mut done = 0u64;
    let mut written = 0u64;
    while done < total {
        let want = usize::try_from((total - done).min(CHUNK as u64)).unwrap_or(CHUNK);
        let chunk = &mut buf[..want];
        input
            .read_exact(chunk)
            .map_err(|e| Error::io("read", src, e))?;
        done += want as u64;
        let (blocks, _) = aes::cipher::inout::InOutBuf::from(&mut *chunk).into_chunks();
        cipher.decrypt_blocks_inout_mut(blocks);
        let keep = if done == total {
            plaintext_len(chunk, total, size)
        } else {
            chunk.len()
        };
        output
            .write_all(&chunk[..keep])
            .map_err(|e| Error::io("write", dst, e))?;
        written += keep as u64;
    }
    output.flush().map_err(|e| Error::io("write", dst, e))?;
    Ok(written)
}

/// How much of the last decrypted chunk `last` is plaintext: without the PKCS#7 padding
/// when it is valid, else cut at the recorded `size` of the whole file (`total` bytes).
fn plaintext_len(last: &[u8], total: u64, size: Option<u64>) -> usize {
    if let Some(&n) = last.last() {
        let n = usize::from(n);
        if (1..=BLOCK).contains(&n)
            && n <= last.len()
            && last[last.len() - n..].iter().all(|&b| usize::from(b) == n)
        {
            return last.len() - n;
        }
    }
    let start = total - last.len() as u64;
    match size {
        Some(s) if s >= start && s < total => usize::try_from(s - start).unwrap_or(last.len()),
        _ => last.len(),
    }
}

/// Decrypts `data` in memory (AES-256-CBC, zero IV) and removes valid PKCS#7 padding.
pub fn decrypt_bytes(key: &[u8; 32], data: &[u8]) -> Option<Vec<u8>> {
    if data.len() % BLOCK != 0 {
        return None;
    }
    let mut buf = data.to_vec();
    let mut cipher = Aes256CbcDec::new(key.into(), &[0u8; BLOCK].into());
    let (blocks, _) = aes::cipher::inout::InOutBuf::from(&mut buf[..]).into_chunks();
    cipher.decrypt_blocks_inout_mut(blocks);
    let keep = plaintext_len(&buf, buf.len() as u64, None);
    buf.truncate(keep);
    Some(buf)
}
