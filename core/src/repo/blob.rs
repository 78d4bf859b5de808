//! Blobs: the unit of deduplication. A blob's id is the keyed BLAKE3 of its plaintext; it is
//! stored sealed, optionally zstd-compressed inside the seal.
//!
//! ```text
//! sealed blob = nonce (24) || XChaCha20-Poly1305(flag || payload) || tag (16)
//! associated data = "chatvault:blob" || kind u8 || id [32]
//! flag: 0 = payload is the plaintext, 1 = payload is a zstd frame of it
//! ```

use std::io::{Read, Write};

use super::crypto::Cipher;
use super::id::Id;
use crate::error::{Error, Result};

/// What a blob holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum BlobKind {
    /// File content (a chunk or a database page).
    Data = 0,
    /// A directory listing (JSON).
    Tree = 1,
    /// A list of content ids of one large file (concatenated 32-byte ids).
    List = 2,
}

impl BlobKind {
    pub(crate) fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(BlobKind::Data),
            1 => Some(BlobKind::Tree),
            2 => Some(BlobKind::List),
            _ => None,
        }
    }
}

/// Names and seals blobs for one repository.
#[derive(Clone)]
pub struct BlobCodec {
    cipher: Cipher,
    id_key: [u8; 32],
    level: i32,
}

fn aad(kind: BlobKind, id: &Id) -> [u8; 47] {
    let mut a = [0u8; 47];
    a[..14].copy_from_slice(b"chatvault:blob");
    a[14] = kind as u8;
    a[15..].copy_from_slice(&id.0);
    a
}

thread_local! {
    // zstd contexts are costly to create (about 1 MiB each): one per thread, reused for
    // every blob, matters when blobs are 1-4 KiB database pages.
    static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { std::cell::RefCell::new(None) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { std::cell::RefCell::new(None) };
    // A compressed blob's frame while it is decompressed (reused, as the contexts are).
    static OPENED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn with_compressor<T>(
    level: i32,
    f: impl FnOnce(&mut zstd::bulk::Compressor<'static>) -> std::io::Result<T>,
) -> Result<T> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        match c.as_mut() {
            None => {
                *c = Some((
                    level,
                    zstd::bulk::Compressor::new(level)
                        .map_err(|e| Error::internal_from("zstd", e))?,
                ))
            }
            // The same context at another level (database pages and other chunks mix).
            Some((l, enc)) if *l != level => {
                enc.set_compression_level(level)
                    .map_err(|e| Error::internal_from("zstd", e))?;
                *l = level;
            }
            Some(_) => {}
        }
        let (_, enc) = c
            .as_mut()
            .ok_or_else(|| Error::internal("zstd context missing"))?;
        f(enc).map_err(|e| Error::internal_from("zstd", e))
    })
}

/// A blob as errors name it: its kind, id and the object it was read from.
fn describe(kind: BlobKind, id: &Id, object: &str) -> String {
    format!("{kind:?} blob {} in {object}", id.to_hex()).to_lowercase()
}

/// Decompresses a zstd frame into `out` on this thread's context; returns the content's
/// length (an error if it does not fit).
fn decompress_into(frame: &[u8], out: &mut [u8]) -> std::io::Result<usize> {
    DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::new()?);
        }
        match d.as_mut() {
            Some(d) => d.decompress_to_buffer(frame, out),
            None => Err(std::io::Error::other("zstd context missing")),
        }
    })
}

/// A thread keeps its scratch buffer for compressed frames up to this size (a larger one,
/// after a rare large blob, is freed).
const KEEP_OPENED: usize = 4 * 1024 * 1024;

/// Blobs up to this size (database pages, up to the chat index's 16 KiB) are compressed
/// at most at zstd level 1 ([`BlobCodec::level_for`]).
const SMALL_BLOB: usize = 16 * 1024;

/// A compressed payload must save at least this fraction to be kept compressed.
const MIN_SAVING: f64 = 0.03;

impl BlobCodec {
    pub(crate) fn new(cipher: Cipher, id_key: [u8; 32], level: i32) -> Self {
        BlobCodec {
            cipher,
            id_key,
            level,
        }
    }

    /// The zstd level for a blob of `len` bytes: the repository's, except that database
    /// pages and other small blobs (at most [`SMALL_BLOB`]) get at most level 1. At that
    /// size the stronger levels' match finders find next to nothing more: on the bench's
    /// message database, level 1 made 4 KiB pages 2.159× smaller at 184 MB/s, level 3
    /// 2.153× at 144 MB/s (16 KiB pages: 2.187× at 238 MB/s against 2.180× at 178 MB/s).
    fn level_for(&self, len: usize) -> i32 {
        if len <= SMALL_BLOB {
            self.level.min(1)
        } else {
            self.level
        }
    }

    /// The blob id of `data`.
    pub fn id(&self, data: &[u8]) -> Id {
        Id(*blake3::keyed_hash(&self.id_key, data).as_bytes())
    }

    /// A hasher whose [`finalize`](blake3::Hasher::finalize) is the blob id of what was
    /// written to it: the id of content too large to hold twice.
    pub(crate) fn id_hasher(&self) -> blake3::Hasher {
        blake3::Hasher::new_keyed(&self.id_key)
    }

    /// Seals `data`; compresses first when `try_compress` and it saves at least 3 %.
    pub fn seal(
        &self,
        kind: BlobKind,
        id: &Id,
        data: &[u8],
        try_compress: bool,
    ) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.seal_into(kind, id, data, try_compress, &mut out)?;
        Ok(out)
    }

    /// [`BlobCodec::seal`] into a reusable buffer (cleared first).
    pub fn seal_into(
        &self,
        kind: BlobKind,
        id: &Id,
        data: &[u8],
        try_compress: bool,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let compress = try_compress && data.len() >= 64;
        let hint = 1 + if compress {
            zstd::zstd_safe::compress_bound(data.len()).max(data.len())
        } else {
            data.len()
        };
        self.cipher.seal_into(&aad(kind, id), out, hint, |out| {
            let start = out.len();
            if compress {
                out.push(1);
                out.resize(start + 1 + zstd::zstd_safe::compress_bound(data.len()), 0);
                let n = with_compressor(self.level_for(data.len()), |enc| {
                    enc.compress_to_buffer(data, &mut out[start + 1..])
                })?;
                if (n as f64) <= data.len() as f64 * (1.0 - MIN_SAVING) {
                    out.truncate(start + 1 + n);
                    return Ok(());
                }
                out.truncate(start);
            }
            out.push(0);
            out.extend_from_slice(data);
            Ok(())
        })
    }

    /// Opens a sealed blob and checks that its content hashes to `id`.
    /// `object` names where it came from, for the error message.
    pub fn open(
        &self,
        kind: BlobKind,
        id: &Id,
        sealed: &[u8],
        raw_length: u32,
        object: &str,
    ) -> Result<Vec<u8>> {
        let mut data = Vec::new();
        self.open_append(kind, id, sealed, raw_length, object, &mut data)?;
        Ok(data)
    }

    /// [`BlobCodec::open`], with the content appended to `out` (a restore decodes a run of
    /// blobs into one recycled buffer). `out` is left as it was on failure.
    pub fn open_append(
        &self,
        kind: BlobKind,
        id: &Id,
        sealed: &[u8],
        raw_length: u32,
        object: &str,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let what = || describe(kind, id, object);
        let start = out.len();
        let failed = |out: &mut Vec<u8>, e: Error| {
            out.truncate(start);
            Err(e)
        };
        if self
            .cipher
            .open_append(&aad(kind, id), sealed, out)
            .is_err()
        {
            return Err(Error::corrupt(
                what(),
                "authentication failed (the stored bytes were modified)",
            ));
        }
        match out.get(start) {
            Some(0) => {
                out.copy_within(start + 1.., start);
                out.truncate(out.len() - 1);
            }
            Some(1) => {
                // The frame moves to this thread's scratch buffer; the content takes its
                // place in `out`.
                let decompressed = OPENED.with(|scratch| {
                    let mut scratch = scratch.borrow_mut();
                    scratch.clear();
                    scratch.extend_from_slice(&out[start + 1..]);
                    out.truncate(start);
                    out.resize(start + raw_length as usize, 0);
                    let n = decompress_into(&scratch[..], &mut out[start..]);
                    if scratch.capacity() > KEEP_OPENED {
                        *scratch = Vec::new();
                    }
                    n
                });
                match decompressed {
                    Ok(n) if n == raw_length as usize => {}
                    Ok(_) => {
                        return failed(out, Error::corrupt(what(), "length differs from the index"))
                    }
                    Err(e) => return failed(out, Error::corrupt(what(), format!("zstd: {e}"))),
                }
            }
            _ => return failed(out, Error::corrupt(what(), "unknown compression flag")),
        }
        if out.len() - start != raw_length as usize {
            return failed(out, Error::corrupt(what(), "length differs from the index"));
        }
        if self.id(&out[start..]) != *id {
            return failed(out, Error::corrupt(what(), "content does not match its id"));
        }
        Ok(())
    }

    /// Opens a sealed blob as a reader of its content, decompressed as it is read: only the
    /// authenticated, still compressed payload is held. [`BlobReader::finish`] checks its
    /// length and id as [`BlobCodec::open`] does; what was read before is authenticated
    /// (the seal binds the id) but not yet checked.
    pub(crate) fn open_reader(
        &self,
        kind: BlobKind,
        id: &Id,
        sealed: Vec<u8>,
        raw_length: u32,
        object: &str,
    ) -> Result<BlobReader> {
        let what = describe(kind, id, object);
        let mut plain = Vec::new();
        if self
            .cipher
            .open_append(&aad(kind, id), &sealed, &mut plain)
            .is_err()
        {
            return Err(Error::corrupt(
                what,
                "authentication failed (the stored bytes were modified)",
            ));
        }
        drop(sealed);
        let flag = plain.first().copied();
        let mut payload = std::io::Cursor::new(plain);
        payload.set_position(1);
        let inner: Box<dyn Read + Send> = match flag {
            Some(0) => Box::new(payload),
            // A small blob is decompressed at once: a backup holds a reader per folder
            // level, and a streaming decoder's context is 100-200 KB.
            Some(1) if raw_length as usize <= OPEN_WHOLE => {
                let frame = &payload.get_ref()[1..];
                // One byte more than stated, to see a longer content.
                let mut content = vec![0; raw_length as usize + 1];
                let n = decompress_into(frame, &mut content)
                    .map_err(|e| Error::corrupt(what.clone(), format!("zstd: {e}")))?;
                // Shorter content than stated fails the length check in `finish`.
                content.truncate(n);
                Box::new(std::io::Cursor::new(content))
            }
            Some(1) => Box::new(
                zstd::stream::read::Decoder::with_buffer(payload)
                    .map_err(|e| Error::corrupt(what.clone(), format!("zstd: {e}")))?,
            ),
            _ => return Err(Error::corrupt(what, "unknown compression flag")),
        };
        Ok(BlobReader {
            // Boxed, as a builder's hasher (2 KB): a backup holds one per folder level.
            content: Box::new(Counted {
                // One byte more than the index states, to see a longer content.
                inner: inner.take(u64::from(raw_length) + 1),
                hasher: self.id_hasher(),
                len: 0,
            }),
            id: *id,
            raw_length,
            what,
        })
    }

    /// A blob written a piece at a time ([`BlobBuilder`]), compressed at this
    /// repository's level once it is large.
    pub(crate) fn builder(&self) -> BlobBuilder {
        BlobBuilder {
            hasher: Box::new(self.id_hasher()),
            len: 0,
            level: self.level,
            held: Vec::new(),
            compressing: None,
        }
    }

    /// Seals a zstd frame a [`BlobBuilder`] compressed (flag 1, as [`BlobCodec::seal_into`]
    /// writes a compressed payload) into `out` (cleared first).
    pub(crate) fn seal_frame_into(
        &self,
        kind: BlobKind,
        id: &Id,
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        self.cipher
            .seal_into(&aad(kind, id), out, 1 + frame.len(), |out| {
                out.push(1);
                out.extend_from_slice(frame);
                Ok(())
            })
    }
}

/// A blob's content as it is read ([`BlobCodec::open_reader`]).
pub(crate) struct BlobReader {
    content: Box<Counted<std::io::Take<Box<dyn Read + Send>>>>,
    id: Id,
    raw_length: u32,
    what: String,
}

impl BlobReader {
    /// What the blob is, for an error message.
    pub(crate) fn what(&self) -> String {
        self.what.clone()
    }

    /// Parses the content as JSON as it is decompressed, then checks it as
    /// [`BlobReader::finish`] does. The JSON is never whole in memory: a folder of 100,000
    /// files has a tree of 20 MB, which the nodes parsed from it held twice over. A zstd
    /// frame of a large blob has a window of at most a few MiB.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(mut self) -> Result<T> {
        let parsed = serde_json::from_reader::<_, T>(std::io::BufReader::new(&mut self));
        // What the parser left (nothing, in a well-formed blob) counts for the checks.
        let what = self.what();
        self.finish()?;
        parsed.map_err(|e| Error::corrupt(what, e.to_string()))
    }

    /// Reads what is left and checks the content's length and id.
    pub(crate) fn finish(mut self) -> Result<()> {
        if let Err(e) = std::io::copy(&mut self.content, &mut std::io::sink()) {
            return Err(Error::corrupt(self.what, format!("zstd: {e}")));
        }
        if self.content.len != u64::from(self.raw_length) {
            return Err(Error::corrupt(self.what, "length differs from the index"));
        }
        if Id(*self.content.hasher.finalize().as_bytes()) != self.id {
            return Err(Error::corrupt(self.what, "content does not match its id"));
        }
        Ok(())
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.content.read(buf)
    }
}

/// A compressed blob of at most this much content is decompressed whole by
/// [`BlobCodec::open_reader`]; a larger one as it is read.
const OPEN_WHOLE: usize = 256 * 1024;

/// Content past this size is compressed as it is written to a [`BlobBuilder`]: a folder of
/// 100,000 files has a tree of 20 MB of JSON, 5 MB compressed.
const BUILD_IN_MEMORY: usize = 1024 * 1024;

/// Once compressing, a [`BlobBuilder`] hashes and compresses what it is given in runs of
/// this size (JSON is written a few bytes at a time).
const BUILD_RUN: usize = 64 * 1024;

/// A blob written a piece at a time: held as written until it passes [`BUILD_IN_MEMORY`],
/// then compressed as it comes; its id is hashed along the way.
pub(crate) struct BlobBuilder {
    /// Boxed (2 KB): a backup holds one per folder level, 512 deep at most, on its stack.
    hasher: Box<blake3::Hasher>,
    len: u64,
    level: i32,
    /// What is not yet hashed: the whole content, or the current run once compressing.
    held: Vec<u8>,
    compressing: Option<zstd::stream::write::Encoder<'static, Vec<u8>>>,
}

/// A finished [`BlobBuilder`]'s content.
pub(crate) enum Built {
    /// The content itself (to seal, compressed or not, like any blob).
    Plain(Vec<u8>),
    /// A zstd frame of `raw_length` bytes of content (for [`BlobCodec::seal_frame_into`]).
    Compressed {
        /// The frame.
        frame: Vec<u8>,
        /// The content's length.
        raw_length: u32,
    },
}

impl Write for BlobBuilder {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.held.extend_from_slice(buf);
        self.len += buf.len() as u64;
        match &mut self.compressing {
            None if self.held.len() > BUILD_IN_MEMORY => {
                self.compressing = Some(zstd::stream::write::Encoder::new(Vec::new(), self.level)?);
                self.run()?;
                self.held = Vec::with_capacity(BUILD_RUN);
            }
            Some(_) if self.held.len() >= BUILD_RUN => self.run()?,
            _ => {}
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl BlobBuilder {
    /// Hashes what is held; once compressing, compresses it and lets it go.
    fn run(&mut self) -> std::io::Result<()> {
        self.hasher.update(&self.held);
        if let Some(enc) = &mut self.compressing {
            enc.write_all(&self.held)?;
            self.held.clear();
        }
        Ok(())
    }

    /// The blob's id and content.
    pub(crate) fn finish(mut self) -> Result<(Id, Built)> {
        let zstd = |e| Error::internal_from("zstd", e);
        self.run().map_err(zstd)?;
        let built = match self.compressing.take() {
            // Never compressing: `run` hashed what is held and left it.
            None => Built::Plain(std::mem::take(&mut self.held)),
            Some(enc) => Built::Compressed {
                frame: enc.finish().map_err(zstd)?,
                raw_length: u32::try_from(self.len)
                    .map_err(|_| Error::internal("blob too large"))?,
            },
        };
        Ok((Id(*self.hasher.finalize().as_bytes()), built))
    }
}

/// A reader that hashes and counts what passes through it.
struct Counted<R> {
    inner: R,
    hasher: blake3::Hasher,
    len: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::crypto::SecretKey;

    #[test]
    fn compressible_and_incompressible_round_trip() {
        let c = BlobCodec::new(Cipher::new(&SecretKey::generate().unwrap()), [7; 32], 3);
        let text = "你好, hello ".repeat(1000).into_bytes();
        let id = c.id(&text);
        let s = c.seal(BlobKind::Data, &id, &text, true).unwrap();
        assert!(s.len() < text.len() / 4, "text compresses");
        assert_eq!(
            c.open(BlobKind::Data, &id, &s, text.len() as u32, "t")
                .unwrap(),
            text
        );
        let noise: Vec<u8> = (0..10000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let id = c.id(&noise);
        let s = c.seal(BlobKind::Data, &id, &noise, true).unwrap();
        assert_eq!(
            c.open(BlobKind::Data, &id, &s, noise.len() as u32, "t")
                .unwrap(),
            noise
        );
        // A blob presented under another id or kind is rejected.
        assert!(c
            .open(BlobKind::Tree, &id, &s, noise.len() as u32, "t")
            .is_err());
    }

    /// Pages and larger chunks mix on one thread (one zstd context, its level switched
    /// between them): every one compresses and opens to what was sealed.
    #[test]
    fn pages_and_chunks_alternate_on_one_context() {
        let c = BlobCodec::new(Cipher::new(&SecretKey::generate().unwrap()), [7; 32], 3);
        for size in [100_000, 4096, 16 * 1024, 16 * 1024 + 1, 4096, 300_000] {
            let data: Vec<u8> = format!("{size} 消息 message ")
                .repeat(size / 10 + 1)
                .into_bytes()[..size]
                .to_vec();
            let id = c.id(&data);
            let s = c.seal(BlobKind::Data, &id, &data, true).unwrap();
            assert!(s.len() < size / 2, "{size} bytes compress");
            assert_eq!(
                c.open(BlobKind::Data, &id, &s, size as u32, "t").unwrap(),
                data
            );
        }
    }

    /// A restore decodes a run of blobs into one buffer: each content lands after the
    /// previous one, and a blob that fails (tampered, wrong length, wrong id) leaves the
    /// buffer as it was, so the next one still lands in its place.
    #[test]
    fn blobs_open_one_after_another_into_one_buffer() {
        let c = BlobCodec::new(Cipher::new(&SecretKey::generate().unwrap()), [7; 32], 3);
        let text = "页面 page ".repeat(500).into_bytes();
        let noise: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
            .collect();
        let sealed = |data: &[u8]| {
            let id = c.id(data);
            (id, c.seal(BlobKind::Data, &id, data, true).unwrap())
        };
        let (text_id, text_sealed) = sealed(&text);
        let (noise_id, noise_sealed) = sealed(&noise);
        let mut out = b"before".to_vec();
        c.open_append(
            BlobKind::Data,
            &text_id,
            &text_sealed,
            text.len() as u32,
            "t",
            &mut out,
        )
        .unwrap();
        let mut tampered = noise_sealed.clone();
        tampered[30] ^= 1;
        let failures = [
            (&noise_id, &tampered, noise.len()),
            (&noise_id, &noise_sealed, noise.len() - 1),
            (&text_id, &noise_sealed, noise.len()),
            (&noise_id, &text_sealed, text.len()),
        ];
        for (id, bytes, len) in failures {
            let before = out.len();
            assert!(c
                .open_append(BlobKind::Data, id, bytes, len as u32, "t", &mut out)
                .is_err());
            assert_eq!(out.len(), before);
        }
        c.open_append(
            BlobKind::Data,
            &noise_id,
            &noise_sealed,
            noise.len() as u32,
            "t",
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [&b"before"[..], &text, &noise].concat());
    }

    #[test]
    fn json_is_parsed_as_it_is_opened_and_checked_like_any_blob() {
        let c = BlobCodec::new(Cipher::new(&SecretKey::generate().unwrap()), [7; 32], 3);
        let big: Vec<String> = (0..100_000).map(|i| format!("IMG-{i:06}.jpg")).collect();
        let medium: Vec<String> = big[..1000].to_vec();
        let small = vec!["a".to_string()];
        // Large: decoded as read; medium: compressed, decoded at once; small: stored as is.
        for value in [&big, &medium, &small] {
            let json = serde_json::to_vec(value).unwrap();
            let id = c.id(&json);
            let sealed = c.seal(BlobKind::Tree, &id, &json, true).unwrap();
            let len = json.len() as u32;
            let opened: Vec<String> = c
                .open_reader(BlobKind::Tree, &id, sealed.clone(), len, "t")
                .and_then(BlobReader::json)
                .unwrap();
            assert_eq!(&opened, value);
            let mut tampered = sealed.clone();
            tampered[30] ^= 1;
            let wrong_id = c.id(b"another");
            for (id, sealed, len, why) in [
                (&id, tampered, len, "authentication failed"),
                (&id, sealed.clone(), len - 1, "length differs"),
                (&id, sealed.clone(), len + 1, "length differs"),
                (&wrong_id, sealed.clone(), len, "authentication failed"),
            ] {
                let e = c
                    .open_reader(BlobKind::Tree, id, sealed, len, "t")
                    .and_then(BlobReader::json::<Vec<String>>)
                    .unwrap_err();
                assert!(e.to_string().contains(why), "{e}");
            }
        }
        // Sealed under its id but not JSON of that type: a clear error, no panic.
        let json = b"{\"nodes\": 7}".to_vec();
        let id = c.id(&json);
        let sealed = c.seal(BlobKind::Tree, &id, &json, true).unwrap();
        assert!(c
            .open_reader(BlobKind::Tree, &id, sealed, json.len() as u32, "t")
            .and_then(BlobReader::json::<Vec<String>>)
            .is_err());
    }

    #[test]
    fn a_blob_built_piece_by_piece_is_the_blob_of_its_content() {
        use std::io::Write;
        let c = BlobCodec::new(Cipher::new(&SecretKey::generate().unwrap()), [7; 32], 3);
        // Small (held, sealed like any blob) and large (compressed as it came, in pieces
        // of every size, across the switch to compressing).
        let small = b"{\"nodes\":[]}".to_vec();
        let large: Vec<u8> = (0..300_000u32)
            .flat_map(|i| {
                format!("{{\"name\":\"IMG-{i:06}.jpg\",\"size\":{}}},", i * 7).into_bytes()
            })
            .collect();
        assert!(large.len() > 3 * BUILD_IN_MEMORY);
        for content in [&small, &large] {
            let mut b = c.builder();
            let mut rest = &content[..];
            let mut piece = 1;
            while !rest.is_empty() {
                let n = piece.min(rest.len());
                b.write_all(&rest[..n]).unwrap();
                rest = &rest[n..];
                piece = piece * 3 % 100_003 + 1;
            }
            let (id, built) = b.finish().unwrap();
            assert_eq!(id, c.id(content));
            let sealed = match built {
                Built::Plain(held) => {
                    assert!(content.len() <= BUILD_IN_MEMORY);
                    assert_eq!(&held, content);
                    c.seal(BlobKind::Tree, &id, &held, true).unwrap()
                }
                Built::Compressed { frame, raw_length } => {
                    assert!(content.len() > BUILD_IN_MEMORY);
                    assert_eq!(raw_length as usize, content.len());
                    assert!(frame.len() < content.len() / 4);
                    let mut sealed = Vec::new();
                    c.seal_frame_into(BlobKind::Tree, &id, &frame, &mut sealed)
                        .unwrap();
                    sealed
                }
            };
            let len = content.len() as u32;
            assert_eq!(
                &c.open(BlobKind::Tree, &id, &sealed, len, "t").unwrap(),
                content
            );
            let mut r = c
                .open_reader(BlobKind::Tree, &id, sealed.clone(), len, "t")
                .unwrap();
            let mut read = Vec::new();
            r.read_to_end(&mut read).unwrap();
            assert_eq!(&read, content);
            r.finish().unwrap();
            // A reader of a shorter content than the index says fails its check.
            let r = c
                .open_reader(BlobKind::Tree, &id, sealed, len + 1, "t")
                .unwrap();
            assert!(r
                .finish()
                .unwrap_err()
                .to_string()
                .contains("length differs"));
        }
    }
}
