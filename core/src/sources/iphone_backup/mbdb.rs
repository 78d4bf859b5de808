//! `Manifest.mbdb`, the index of backups made by iOS 9 and earlier: `mbdb\x05\x00`, then
//! one record per item: five strings (domain, path, link target, data hash, encryption key;
//! each a big-endian `u16` length then UTF-8, `0xFFFF` for none), `mode` (u16), inode (u64),
//! uid, gid, mtime, atime, ctime (u32 each), size (u64), protection class (u8), a property
//! count (u8) and that many name/value string pairs; numbers big-endian. Each file is
//! stored flat as `<fileID>`, fileID = SHA-1 of `domain-path` as in `Manifest.db` backups.
//!
//! Read into an in-memory `Files` table shaped like `Manifest.db`'s, so every reader lists
//! entries one way.

use rusqlite::{params, Connection};
use sha1::{Digest, Sha1};

/// The file's name in a backup folder.
pub const MANIFEST_MBDB: &str = "Manifest.mbdb";
/// Largest `Manifest.mbdb` read (real ones are a few MB for a whole phone).
pub const MAX_MBDB: u64 = 512 << 20;

/// One item of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The domain (`AppDomain-com.tencent.xin`, ...).
    pub domain: String,
    /// The path inside the domain.
    pub path: String,
    /// `st_mode`: type in the top 4 bits (0x8 file, 0x4 folder, 0xA symbolic link).
    pub mode: u16,
    /// Size in bytes.
    pub size: u64,
}

impl Record {
    /// `Manifest.db`'s `flags` for this item: 1 file, 2 folder, 4 symbolic link, 0 other.
    pub fn flags(&self) -> i64 {
        match self.mode >> 12 {
            0x8 => 1,
            0x4 => 2,
            0xA => 4,
            _ => 0,
        }
    }

    /// The SHA-1 (hex) of `domain-path`, the stored file's name.
    pub fn file_id(&self) -> String {
        let mut h = Sha1::new();
        h.update(self.domain.as_bytes());
        h.update(b"-");
        h.update(self.path.as_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Reads `bytes` of a `Manifest.mbdb`; an error names what is wrong and where.
pub fn parse(bytes: &[u8]) -> Result<Vec<Record>, String> {
    let rest = bytes
        .strip_prefix(b"mbdb\x05\x00")
        .ok_or("not a Manifest.mbdb (its header is not mbdb 5.0)")?;
    let mut r = Reader { rest, at: 6 };
    let mut out = Vec::new();
    while !r.rest.is_empty() {
        let start = r.at;
        let record = r
            .record()
            .ok_or_else(|| format!("record at byte {start} is cut off"))?;
        out.push(record);
    }
    Ok(out)
}

struct Reader<'a> {
    rest: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if n > self.rest.len() {
            return None;
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        self.at += n;
        Some(a)
    }

    fn number<const N: usize>(&mut self) -> Option<u64> {
        Some(
            self.take(N)?
                .iter()
                .fold(0u64, |v, &b| (v << 8) | u64::from(b)),
        )
    }

    fn string(&mut self) -> Option<String> {
        let len = self.number::<2>()?;
        if len == 0xFFFF {
            return Some(String::new());
        }
        let bytes = self.take(usize::try_from(len).ok()?)?;
        Some(String::from_utf8_lossy(bytes).into_owned())
    }

    fn record(&mut self) -> Option<Record> {
        let domain = self.string()?;
        let path = self.string()?;
        for _ in 0..3 {
            self.string()?; // link target, data hash, encryption key
        }
        let mode = u16::try_from(self.number::<2>()?).ok()?;
        self.take(8 + 4 * 5)?; // inode, uid, gid, mtime, atime, ctime
        let size = self.number::<8>()?;
        self.take(1)?; // protection class
        let properties = self.number::<1>()?;
        for _ in 0..properties {
            self.string()?;
            self.string()?;
        }
        Some(Record {
            domain,
            path,
            mode,
            size,
        })
    }
}

/// `records` as an in-memory `Files(fileID, domain, relativePath, flags, file)` table.
pub(crate) fn to_connection(records: &[Record]) -> rusqlite::Result<Connection> {
    let c = Connection::open_in_memory()?;
    c.execute_batch(
        "CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT,
           flags INTEGER, file BLOB); BEGIN;",
    )?;
    {
        let mut st = c.prepare("INSERT OR REPLACE INTO Files VALUES (?1, ?2, ?3, ?4, NULL)")?;
        for r in records {
            st.execute(params![r.file_id(), r.domain, r.path, r.flags()])?;
        }
    }
    c.execute_batch("COMMIT;")?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: Option<&str>) {
        match s {
            Some(s) => {
                out.extend_from_slice(&(s.len() as u16).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            None => out.extend_from_slice(&[0xFF, 0xFF]),
        }
    }

    #[test]
    fn records_ids_and_damage() {
        let mut b = b"mbdb\x05\x00".to_vec();
        for (path, mode, size) in [
            ("Documents", 0x41EDu16, 0u64),
            ("Documents/a.db", 0x81A4, 4096),
        ] {
            string(&mut b, Some("AppDomain-com.tencent.xin"));
            string(&mut b, Some(path));
            for _ in 0..3 {
                string(&mut b, None);
            }
            b.extend_from_slice(&mode.to_be_bytes());
            b.extend_from_slice(&[0; 28]);
            b.extend_from_slice(&size.to_be_bytes());
            b.push(3);
            b.push(1);
            string(&mut b, Some("com.apple.assetsd.UUID"));
            string(&mut b, Some("x"));
        }
        let records = parse(&b).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!((records[0].flags(), records[1].flags()), (2, 1));
        assert_eq!(records[1].size, 4096);
        // fileID = SHA-1("domain-path"), as in Manifest.db backups.
        let mut h = Sha1::new();
        h.update(b"AppDomain-com.tencent.xin-Documents/a.db");
        let want: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(records[1].file_id(), want);
        let c = to_connection(&records).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM Files WHERE flags = 1", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 1);
        // Every cut is an error naming where, never a panic.
        for cut in 6..b.len() - 1 {
            let _ = parse(&b[..cut]);
        }
        assert!(parse(&b[..b.len() - 3]).unwrap_err().contains("cut off"));
        assert!(parse(b"mbdb\x04\x00").is_err());
    }
}
