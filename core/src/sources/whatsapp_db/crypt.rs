//! WhatsApp's encrypted Android backups: `msgstore.db.crypt15` (the 64-digit key of
//! end-to-end encrypted backups), `.crypt14` and `.crypt12` (the `key` file).
//!
//! Layout (docs/FORMAT.md §8.3):
//!
//! * crypt15 / crypt14: one byte, the length of a protobuf header; an optional `0x01`
//!   (the header carries a feature table); the header (`key_type` = 1, `c14_cipher` = 2 with
//!   the server salt (3) and IV (5), `c15_iv` = 3 with the IV (1), `info` = 4 with the app
//!   version (1) and the phone number's last two digits (3)); the ciphertext; the 16-byte
//!   GCM tag; the MD5 of everything before it.
//! * crypt12: cipher version (2 bytes, `00 01`), key version (1), server salt (32), Google
//!   id salt (16), IV (16); the ciphertext; tag (16); MD5 (16); `--NN` (4 bytes).
//! * The plaintext is a zlib stream of the SQLite database. The cipher is AES-256-GCM with a
//!   16-byte IV and no associated data. crypt15's AES key is derived from the 32-byte root
//!   key: `HMAC-SHA256(HMAC-SHA256(0³², root), "backup encryption" ‖ 0x01)`; crypt14/12's is
//!   the last 32 bytes of the 131-byte `key` file (a Java-serialized `byte[]`).
//!
//! Decryption streams: AES-CTR with GHASH computed alongside (GCM itself, in pieces), into
//! zlib inflate, into a file in a private temporary folder (0700, file 0600) that is removed
//! when the [`Decrypted`] is dropped. The tag is checked at the end, before SQLite ever sees
//! the file; a wrong key shows in the first block (no zlib header, no SQLite header) and is
//! reported as [`Error::WrongKey`] without reading further.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use aes::cipher::{BlockEncrypt, KeyInit, KeyIvInit, StreamCipher};
use aes::Aes256;
use ghash::universal_hash::UniversalHash;
use ghash::GHash;
use md5::{Digest, Md5};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::sources::protobuf::{Fields, Value};

/// The SQLite file header every decrypted database starts with.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// Read and inflate in pieces of this size (a multiple of the 16-byte AES block).
const CHUNK: usize = 64 * 1024;
/// The longest header: a one-byte length, the feature flag, up to 255 bytes of protobuf.
pub const MAX_HEADER: usize = 1 + 1 + 255;

/// Which generation of WhatsApp's backup encryption a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Raw 67-byte header, key file.
    Crypt12,
    /// Protobuf header with the server salt, key file.
    Crypt14,
    /// Protobuf header with only the IV, the 64-digit key.
    Crypt15,
}

impl Format {
    /// Bytes after the ciphertext: tag and MD5 (and crypt12's `--NN`).
    fn trailer_len(self) -> u64 {
        match self {
            Format::Crypt12 => 36,
            Format::Crypt14 | Format::Crypt15 => 32,
        }
    }

    /// "crypt15", "crypt14", "crypt12".
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Crypt12 => "crypt12",
            Format::Crypt14 => "crypt14",
            Format::Crypt15 => "crypt15",
        }
    }
}

/// What a backup's header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The encryption generation.
    pub format: Format,
    /// The GCM IV (16 bytes).
    pub iv: [u8; 16],
    /// Where the ciphertext starts.
    pub data_offset: usize,
    /// crypt14/12: the server salt, which the matching `key` file carries too.
    pub server_salt: Option<[u8; 32]>,
    /// The WhatsApp version that wrote the backup, when the header says.
    pub app_version: Option<String>,
    /// The last two digits of the owner's phone number, when the header says.
    pub jid_suffix: Option<String>,
}

/// Parses the header at the start of a backup (`bytes` is the file's first bytes, at least
/// [`MAX_HEADER`] of them when the file is that long). Never panics; says what is wrong.
pub fn parse_header(bytes: &[u8]) -> std::result::Result<Header, String> {
    if bytes.len() < 2 {
        return Err("too short for a backup header".into());
    }
    if bytes[0] == 0 && bytes[1] == 1 {
        // crypt12: cipher version 00 01, then fixed fields.
        if bytes.len() < 67 {
            return Err("too short for a crypt12 header".into());
        }
        let mut salt = [0u8; 32];
        salt.copy_from_slice(&bytes[3..35]);
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&bytes[51..67]);
        return Ok(Header {
            format: Format::Crypt12,
            iv,
            data_offset: 67,
            server_salt: Some(salt),
            app_version: None,
            jid_suffix: None,
        });
    }
    let size = bytes[0] as usize;
    if size == 0 {
        return Err("the header length is zero".into());
    }
    let start = if bytes[1] == 1 { 2 } else { 1 };
    let end = start + size;
    let proto = bytes
        .get(start..end)
        .ok_or_else(|| format!("the header says {size} bytes but the file is shorter"))?;
    let mut c14: Option<&[u8]> = None;
    let mut c15: Option<&[u8]> = None;
    let mut info: Option<&[u8]> = None;
    for field in Fields::new(proto) {
        match field? {
            (2, Value::Bytes(b)) => c14 = Some(b),
            (3, Value::Bytes(b)) => c15 = Some(b),
            (4, Value::Bytes(b)) => info = Some(b),
            (n @ 2..=4, _) => return Err(format!("header field {n} has the wrong type")),
            _ => {}
        }
    }
    let mut app_version = None;
    let mut jid_suffix = None;
    if let Some(info) = info {
        for field in Fields::new(info) {
            match field? {
                (1, Value::Bytes(b)) => app_version = Some(String::from_utf8_lossy(b).into_owned()),
                (3, Value::Bytes(b)) => jid_suffix = Some(String::from_utf8_lossy(b).into_owned()),
                _ => {}
            }
        }
    }
    let (format, iv, salt) = if let Some(c15) = c15 {
        (Format::Crypt15, bytes_field(c15, 1)?, None)
    } else if let Some(c14) = c14 {
        let salt = bytes_field(c14, 3)?;
        (Format::Crypt14, bytes_field(c14, 5)?, salt)
    } else {
        return Err("the header holds no IV (not a crypt14 or crypt15 backup)".into());
    };
    let iv: [u8; 16] = iv
        .and_then(|v| v.try_into().ok())
        .ok_or("the header's IV is missing or not 16 bytes")?;
    let server_salt = match salt {
        Some(s) => Some(
            s.try_into()
                .map_err(|_| "the header's server salt is not 32 bytes".to_string())?,
        ),
        None => None,
    };
    Ok(Header {
        format,
        iv,
        data_offset: end,
        server_salt,
        app_version,
        jid_suffix,
    })
}

/// The last `bytes` value of field `n` in a protobuf message.
fn bytes_field(msg: &[u8], n: u64) -> std::result::Result<Option<&[u8]>, String> {
    crate::sources::protobuf::last_bytes(msg, n)
}

/// The key of a backup: never printed (its `Debug` is redacted).
#[derive(Clone)]
pub enum BackupKey {
    /// crypt15: the 32-byte root key (the 64 hex digits the user wrote down, or
    /// `encrypted_backup.key`).
    Root(Zeroizing<[u8; 32]>),
    /// crypt14/12: the `key` file's AES key and server salt.
    Legacy {
        /// AES-256 key.
        key: Zeroizing<[u8; 32]>,
        /// The server salt, which the backup's header repeats.
        server_salt: [u8; 32],
    },
}

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackupKey::Root(_) => "BackupKey::Root(<redacted>)",
            BackupKey::Legacy { .. } => "BackupKey::Legacy(<redacted>)",
        })
    }
}

impl BackupKey {
    /// The 64-digit key (hex; spaces and dashes, as people copy it, are ignored). The
    /// error never repeats the input.
    pub fn from_hex(text: &str) -> Result<Self> {
        let digits: Zeroizing<String> = Zeroizing::new(
            text.chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .collect(),
        );
        let mut root = Zeroizing::new([0u8; 32]);
        if digits.len() != 64 || hex::decode_to_slice(digits.as_bytes(), &mut root[..]).is_err() {
            return Err(Error::InvalidArgument(format!(
                "the WhatsApp key must be 64 hexadecimal digits (the end-to-end backup key); \
                 the one given has {} characters that are not all hexadecimal",
                digits.len()
            )));
        }
        Ok(BackupKey::Root(root))
    }

    /// A key file: `key` (crypt14/12, 131 bytes) or `encrypted_backup.key` (crypt15, 32
    /// bytes), as Java-serialized `byte[]` (how WhatsApp writes them) or raw; a text file
    /// holding the 64 hex digits is taken too.
    pub fn from_file(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io("open", path, e))?;
        if meta.len() > 4096 {
            return Err(bad_key_file(
                path,
                "it is too large for a WhatsApp key file",
            ));
        }
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| Error::io("read", path, e))?);
        let body: &[u8] = java_byte_array(&bytes).unwrap_or(&bytes);
        match body.len() {
            32 => {
                let mut root = Zeroizing::new([0u8; 32]);
                root.copy_from_slice(body);
                Ok(BackupKey::Root(root))
            }
            131 => {
                let mut key = Zeroizing::new([0u8; 32]);
                key.copy_from_slice(&body[99..131]);
                let mut server_salt = [0u8; 32];
                server_salt.copy_from_slice(&body[3..35]);
                Ok(BackupKey::Legacy { key, server_salt })
            }
            _ => match std::str::from_utf8(body) {
                Ok(text) => BackupKey::from_hex(text).map_err(|_| {
                    bad_key_file(path, "it is neither a key file nor 64 hexadecimal digits")
                }),
                Err(_) => Err(bad_key_file(
                    path,
                    &format!(
                        "{} bytes of key, expected 32 (crypt15) or 131 (crypt14/12)",
                        body.len()
                    ),
                )),
            },
        }
    }

    /// The AES-256 key for a backup with this header, or why this key cannot open it.
    fn cipher_key(&self, header: &Header) -> std::result::Result<Zeroizing<[u8; 32]>, String> {
        match (self, header.format) {
            (BackupKey::Root(root), Format::Crypt15) => Ok(crypt15_key(root)),
            (BackupKey::Root(_), f) => Err(format!(
                "a {} backup opens with the `key` file, not with the 64-digit key",
                f.as_str()
            )),
            (BackupKey::Legacy { .. }, Format::Crypt15) => {
                Err("a crypt15 backup opens with the 64-digit key, not with a `key` file".into())
            }
            (BackupKey::Legacy { key, server_salt }, _) => {
                if header.server_salt.is_some_and(|s| s != *server_salt) {
                    return Err(
                        "the key file belongs to another backup (its server salt differs)".into(),
                    );
                }
                Ok(key.clone())
            }
        }
    }
}

/// crypt15's backup key from the root key: HKDF-SHA256 with a zero salt, info "backup
/// encryption", one block.
fn crypt15_key(root: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let extract = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[0u8; 32]);
    let prk = ring::hmac::sign(&extract, root);
    let expand = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, prk.as_ref());
    let mut ctx = ring::hmac::Context::with_key(&expand);
    ctx.update(b"backup encryption");
    ctx.update(&[1]);
    let tag = ctx.sign();
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(tag.as_ref());
    out
}

/// The payload of a Java-serialized `byte[]` (`AC ED 00 05`, `TC_ARRAY`, class `[B`, …,
/// length, bytes), if `bytes` is one.
fn java_byte_array(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.get(..6)? != [0xAC, 0xED, 0x00, 0x05, 0x75, 0x72] || bytes.get(6..10)? != b"\x00\x02[B"
    {
        return None;
    }
    // uid (8), flags (1), field count (2), TC_ENDBLOCKDATA, TC_NULL, length (4).
    let len_at = 10 + 8 + 1 + 2 + 2;
    let len = u32::from_be_bytes(bytes.get(len_at..len_at + 4)?.try_into().ok()?) as usize;
    let body = bytes.get(len_at + 4..)?;
    (body.len() == len).then_some(body)
}

fn bad_key_file(path: &Path, why: &str) -> Error {
    Error::InvalidArgument(format!(
        "{} is not a WhatsApp key file: {why}",
        path.display()
    ))
}

/// A decrypted database in a private temporary folder, removed when dropped.
pub struct Decrypted {
    path: PathBuf,
    _dir: tempfile::TempDir,
    /// The backup's header.
    pub header: Header,
}

impl Decrypted {
    /// The plain SQLite file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads just the header of the backup at `src`.
pub fn read_header(src: &Path) -> Result<Header> {
    let mut f = File::open(src).map_err(|e| Error::io("open", src, e))?;
    let mut head = Vec::with_capacity(MAX_HEADER);
    (&mut f)
        .take(MAX_HEADER as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io("read", src, e))?;
    parse_header(&head).map_err(|r| source(src, format!("not a WhatsApp backup: {r}")))
}

/// Decrypts the backup at `src` with `key` into a private temporary folder under
/// `work_dir` (else the system's). `key_origin` says where the key came from ("the
/// 64-digit key given", "the key file …") for a wrong-key error; it never holds the key.
pub fn decrypt(
    src: &Path,
    key: &BackupKey,
    key_origin: &str,
    work_dir: Option<&Path>,
) -> Result<Decrypted> {
    let header = read_header(src)?;
    let wrong_key = |why: &str| Error::WrongKey {
        path: src.into(),
        tried: format!("{key_origin}: {why}"),
    };
    let aes_key = key.cipher_key(&header).map_err(|w| wrong_key(&w))?;
    let mut f = File::open(src).map_err(|e| Error::io("open", src, e))?;
    let len = f.metadata().map_err(|e| Error::io("read", src, e))?.len();
    let offset = header.data_offset as u64;
    let trailer = header.format.trailer_len();
    if len < offset + trailer + 2 {
        return Err(source(
            src,
            format!(
                "truncated: {len} bytes is too short for a {} backup",
                header.format.as_str()
            ),
        ));
    }
    let ct_len = len - offset - trailer;

    let dir = crate::temp::private_temp_dir(work_dir)?;
    let path = dir.path().join("msgstore.db");
    let mut open = OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.mode(0o600);
    }
    let out = open
        .open(&path)
        .map_err(|e| Error::io("create", &path, e))?;
    let mut out = BufWriter::with_capacity(CHUNK, out);

    // GCM by hand: H = E(0), J0 = GHASH(IV ‖ len), data under CTR from inc32(J0),
    // tag = GHASH(C ‖ lengths) ⊕ E(J0).
    let aes = Aes256::new(aes_key[..].into());
    let mut h = ghash::Block::default();
    aes.encrypt_block(&mut h);
    let mut j0_hash = GHash::new(&h);
    j0_hash.update_padded(&header.iv);
    let mut iv_len = ghash::Block::default();
    iv_len[8..].copy_from_slice(&128u64.to_be_bytes());
    j0_hash.update(&[iv_len]);
    let j0 = j0_hash.finalize();
    let mut counter = j0;
    let low = u32::from_be_bytes([j0[12], j0[13], j0[14], j0[15]]).wrapping_add(1);
    counter[12..].copy_from_slice(&low.to_be_bytes());
    let mut ek_j0 = j0;
    aes.encrypt_block(&mut ek_j0);
    let mut ctr = ctr::Ctr32BE::<Aes256>::new(aes_key[..].into(), &counter);
    let mut ghash = GHash::new(&h);

    let mut md5 = Md5::new();
    let mut head = vec![0u8; header.data_offset];
    f.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io("read", src, e))?;
    f.read_exact(&mut head)
        .map_err(|e| Error::io("read", src, e))?;
    md5.update(&head);

    let mut inflate = Inflate::new();
    let mut buf = vec![0u8; CHUNK];
    let mut remaining = ct_len;
    while remaining > 0 {
        let n = remaining.min(CHUNK as u64) as usize;
        f.read_exact(&mut buf[..n])
            .map_err(|e| Error::io("read", src, e))?;
        md5.update(&buf[..n]);
        // Every piece but the last is a whole number of blocks, so padding is only ever
        // applied to the last one, as GCM wants.
        ghash.update_padded(&buf[..n]);
        ctr.apply_keystream(&mut buf[..n]);
        inflate.feed(&buf[..n], &mut out).map_err(|e| match e {
            Fed::WrongKey(why) => wrong_key(why),
            Fed::Damaged(why) => source(src, format!("damaged: {why}")),
            Fed::Write(e) => Error::io("write", &path, e),
        })?;
        remaining -= n as u64;
    }
    let mut tag = [0u8; 16];
    f.read_exact(&mut tag)
        .map_err(|e| Error::io("read", src, e))?;
    md5.update(tag);
    let mut stored_md5 = [0u8; 16];
    f.read_exact(&mut stored_md5)
        .map_err(|e| Error::io("read", src, e))?;

    let mut lens = ghash::Block::default();
    lens[8..].copy_from_slice(&(ct_len.wrapping_mul(8)).to_be_bytes());
    ghash.update(&[lens]);
    let mut expected = ghash.finalize();
    for (e, k) in expected.iter_mut().zip(ek_j0.iter()) {
        *e ^= k;
    }
    let tag_ok = expected
        .iter()
        .zip(tag.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0;
    let md5_ok = md5.finalize()[..] == stored_md5[..];
    if !tag_ok {
        return Err(source(
            src,
            if md5_ok {
                "the authentication tag does not match: the backup was modified".to_string()
            } else {
                "damaged or truncated: its checksum and authentication tag do not match".to_string()
            },
        ));
    }
    if !inflate.ended {
        return Err(source(
            src,
            "truncated: the compressed database ends early".into(),
        ));
    }
    out.flush().map_err(|e| Error::io("write", &path, e))?;
    drop(out);
    Ok(Decrypted {
        path,
        _dir: dir,
        header,
    })
}

fn source(path: &Path, reason: String) -> Error {
    Error::Source {
        path: path.into(),
        reason,
    }
}

/// Why feeding plaintext to the inflater stopped.
enum Fed {
    WrongKey(&'static str),
    Damaged(String),
    Write(std::io::Error),
}

/// zlib inflate of the plaintext, checking the zlib and SQLite headers on the way.
struct Inflate {
    z: flate2::Decompress,
    out: Vec<u8>,
    /// Bytes of plaintext seen so far (only whether any is needed).
    started: bool,
    /// The first inflated bytes, until the SQLite header is checked.
    magic: Vec<u8>,
    checked: bool,
    ended: bool,
}

impl Inflate {
    fn new() -> Self {
        Inflate {
            z: flate2::Decompress::new(true),
            out: vec![0u8; CHUNK],
            started: false,
            magic: Vec::with_capacity(SQLITE_MAGIC.len()),
            checked: false,
            ended: false,
        }
    }

    fn feed(&mut self, input: &[u8], sink: &mut impl Write) -> std::result::Result<(), Fed> {
        if self.ended || input.is_empty() {
            return Ok(());
        }
        if !self.started {
            self.started = true;
            if input.starts_with(b"PK") {
                return Err(Fed::Damaged(
                    "it is a multi-file backup (stickers or wallpapers), not a database".into(),
                ));
            }
            let ok = input.len() >= 2
                && input[0] & 0x0f == 8
                && input[0] >> 4 <= 7
                && (u16::from(input[0]) << 8 | u16::from(input[1])) % 31 == 0;
            if !ok {
                return Err(Fed::WrongKey("the decrypted data is not compressed data"));
            }
        }
        let mut pos = 0;
        loop {
            let (in0, out0) = (self.z.total_in(), self.z.total_out());
            let status =
                self.z
                    .decompress(&input[pos..], &mut self.out, flate2::FlushDecompress::None);
            let status = match status {
                Ok(s) => s,
                Err(_) if !self.checked => {
                    return Err(Fed::WrongKey("the decrypted data does not inflate"));
                }
                Err(e) => {
                    return Err(Fed::Damaged(format!(
                        "the compressed database is corrupt ({e})"
                    )))
                }
            };
            let consumed = (self.z.total_in() - in0) as usize;
            let produced = (self.z.total_out() - out0) as usize;
            pos += consumed;
            let piece = &self.out[..produced];
            if !self.checked && !piece.is_empty() {
                let want = (SQLITE_MAGIC.len() - self.magic.len()).min(piece.len());
                self.magic.extend_from_slice(&piece[..want]);
                if self.magic.len() == SQLITE_MAGIC.len() {
                    if self.magic[..] != SQLITE_MAGIC[..] {
                        return Err(Fed::WrongKey("the decrypted data is not a SQLite database"));
                    }
                    self.checked = true;
                }
            }
            sink.write_all(piece).map_err(Fed::Write)?;
            if status == flate2::Status::StreamEnd {
                self.ended = true;
                if !self.checked {
                    return Err(Fed::WrongKey("the decrypted data is not a SQLite database"));
                }
                return Ok(());
            }
            if (pos >= input.len() && produced < self.out.len()) || (consumed == 0 && produced == 0)
            {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::Aead;

    type Gcm16 = aes_gcm::AesGcm<Aes256, aes_gcm::aead::consts::U16>;

    fn varint(mut v: usize, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn bytes_field(n: u8, data: &[u8], out: &mut Vec<u8>) {
        out.push(n << 3 | 2);
        varint(data.len(), out);
        out.extend_from_slice(data);
    }

    fn plain_db(size: usize) -> Vec<u8> {
        let mut db = SQLITE_MAGIC.to_vec();
        db.extend((0..size).map(|i| (i * 7 % 251) as u8));
        db
    }

    /// A crypt15 file made with the RustCrypto AES-GCM (an independent GCM).
    fn crypt15(root: &[u8; 32], iv: &[u8; 16], plain: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(plain).unwrap();
        let compressed = z.finish().unwrap();
        let mut c15 = Vec::new();
        bytes_field(1, iv, &mut c15);
        let mut info = Vec::new();
        bytes_field(1, b"2.23.18.12", &mut info);
        bytes_field(3, b"42", &mut info);
        let mut proto = vec![0x08, 0x01];
        bytes_field(3, &c15, &mut proto);
        bytes_field(4, &info, &mut proto);
        let mut file = vec![proto.len() as u8, 1];
        file.extend_from_slice(&proto);
        let key = crypt15_key(root);
        let gcm = Gcm16::new(key[..].into());
        let sealed = gcm.encrypt(iv[..].into(), &compressed[..]).unwrap();
        file.extend_from_slice(&sealed);
        let md5 = Md5::digest(&file);
        file.extend_from_slice(&md5);
        file
    }

    #[test]
    fn whatsapp_db_crypt15_round_trip_against_an_independent_gcm() {
        let tmp = tempfile::tempdir().unwrap();
        let root = [7u8; 32];
        let plain = plain_db(300_000);
        let src = tmp.path().join("msgstore.db.crypt15");
        std::fs::write(&src, crypt15(&root, &[9u8; 16], &plain)).unwrap();
        let key = BackupKey::Root(Zeroizing::new(root));
        let d = decrypt(&src, &key, "test key", Some(tmp.path())).unwrap();
        assert_eq!(d.header.format, Format::Crypt15);
        assert_eq!(d.header.jid_suffix.as_deref(), Some("42"));
        assert_eq!(std::fs::read(d.path()).unwrap(), plain);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dmode = std::fs::metadata(d.path().parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dmode & 0o777, 0o700);
        }
        let dir = d.path().parent().unwrap().to_path_buf();
        drop(d);
        assert!(!dir.exists(), "the plaintext folder is removed on drop");
    }

    #[test]
    fn whatsapp_db_wrong_key_truncation_and_foreign_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = [7u8; 32];
        let file = crypt15(&root, &[9u8; 16], &plain_db(200_000));
        let src = tmp.path().join("msgstore.db.crypt15");
        std::fs::write(&src, &file).unwrap();
        let wrong = BackupKey::Root(Zeroizing::new([8u8; 32]));
        let e = decrypt(&src, &wrong, "the 64-digit key given", Some(tmp.path()))
            .err()
            .unwrap();
        assert!(matches!(e, Error::WrongKey { .. }), "{e}");
        // Nothing left behind on the error path.
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);

        let key = BackupKey::Root(Zeroizing::new(root));
        std::fs::write(&src, &file[..file.len() / 2]).unwrap();
        let e = decrypt(&src, &key, "k", Some(tmp.path())).err().unwrap();
        assert!(
            matches!(&e, Error::Source { path, .. } if path == &src),
            "{e}"
        );
        assert!(e.to_string().contains("truncated"), "{e}");

        let mut flipped = file.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 1;
        std::fs::write(&src, &flipped).unwrap();
        let e = decrypt(&src, &key, "k", Some(tmp.path())).err().unwrap();
        assert!(matches!(&e, Error::Source { .. }), "{e}");

        std::fs::write(
            &src,
            b"SQLite format 3\0 not a backup at all, just some bytes",
        )
        .unwrap();
        let e = decrypt(&src, &key, "k", Some(tmp.path())).err().unwrap();
        assert!(matches!(&e, Error::Source { .. }), "{e}");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn whatsapp_db_keys_parse_and_never_print() {
        let k = BackupKey::from_hex(&"ab12 ".repeat(16)).unwrap();
        assert!(!format!("{k:?}").contains("ab"));
        let e = BackupKey::from_hex("0123456789").err().unwrap();
        assert!(!e.to_string().contains("0123456789"));
        let tmp = tempfile::tempdir().unwrap();
        // A Java-serialized byte[131], as WhatsApp's `key` file.
        let mut body = vec![0u8; 131];
        body[3..35].copy_from_slice(&[5u8; 32]);
        body[99..].copy_from_slice(&[6u8; 32]);
        let mut file = vec![0xAC, 0xED, 0x00, 0x05, 0x75, 0x72, 0x00, 0x02, b'[', b'B'];
        file.extend_from_slice(&[
            0xAC, 0xF3, 0x17, 0xF8, 0x06, 0x08, 0x54, 0xE0, 0x02, 0x00, 0x00, 0x78, 0x70,
        ]);
        file.extend_from_slice(&131u32.to_be_bytes());
        file.extend_from_slice(&body);
        std::fs::write(tmp.path().join("key"), &file).unwrap();
        match BackupKey::from_file(&tmp.path().join("key")).unwrap() {
            BackupKey::Legacy { key, server_salt } => {
                assert_eq!(*key, [6u8; 32]);
                assert_eq!(server_salt, [5u8; 32]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn whatsapp_db_header_parser_rejects_garbage_without_panicking() {
        for bad in [
            &b""[..],
            b"\x05",
            b"\x05\x01\x08",
            b"\xff\x01",
            b"\x03\x1a\x02\x0a",
            b"\x04\x0f\x00\x00\x00",
        ] {
            assert!(parse_header(bad).is_err());
        }
        let mut c12 = vec![0u8, 1, 2];
        c12.extend_from_slice(&[0u8; 64]);
        assert_eq!(parse_header(&c12).unwrap().format, Format::Crypt12);
    }
}
