//! `Manifest.db`, the backup's index: table `Files(fileID, domain, relativePath, flags,
//! file)`. `fileID` is the SHA-1 (hex) of `domain-relativePath` and names the stored file
//! `fileID[0..2]/fileID`; `flags` is 1 for a file, 2 for a folder, 4 for a symbolic link;
//! `file` is the file's record, an NSKeyedArchiver binary property list whose root `MBFile`
//! object holds `Size`, `ProtectionClass` and, in encrypted backups, `EncryptionKey` (an
//! `NSData`: 4-byte little-endian protection class, then the wrapped file key).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};

/// Largest file record accepted (real ones are 1 to 3 KB).
pub const MAX_RECORD: usize = 100 * 1024;
/// `flags` of a regular file.
pub const FLAG_FILE: i64 = 1;

/// One row of `Files`.
#[derive(Debug, Clone)]
pub struct Entry {
    /// SHA-1 of `domain-relativePath`, 40 lower-case hex digits.
    pub file_id: String,
    /// The domain (`AppDomain-com.tencent.xin`, `HomeDomain`, ...).
    pub domain: String,
    /// The path inside the domain.
    pub relative_path: String,
    /// 1 file, 2 folder, 4 symbolic link.
    pub flags: i64,
    /// The raw `file` record, if any.
    pub record: Option<Vec<u8>>,
    /// Stored flat as `fileID` (a `Manifest.mbdb` backup of iOS 9 and earlier) rather than
    /// as `fileID[0..2]/fileID`.
    pub flat: bool,
}

impl Entry {
    /// Where the file is stored, relative to the backup's root: `fileID[0..2]/fileID`
    /// (`fileID` in an older, flat backup), or `None` if the id is not 40 hex digits.
    pub fn stored_rel(&self) -> Option<String> {
        let rel = stored_rel(&self.file_id)?;
        Some(if self.flat { self.file_id.clone() } else { rel })
    }
}

/// `fileID[0..2]/fileID` for a valid id (40 hex digits), else `None`.
pub fn stored_rel(file_id: &str) -> Option<String> {
    if file_id.len() != 40 || !file_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(format!("{}/{file_id}", &file_id[..2]))
}

/// What a file record says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileRecord {
    /// Data protection class.
    pub protection_class: u32,
    /// The file's size in bytes.
    pub size: u64,
    /// The protection class the key is wrapped with and the wrapped key (encrypted backups).
    pub encryption_key: Option<(u32, Vec<u8>)>,
}

/// Parses a `file` record (NSKeyedArchiver binary plist of an `MBFile`).
pub fn parse_record(bytes: &[u8]) -> std::result::Result<FileRecord, String> {
    if bytes.len() > MAX_RECORD {
        return Err(format!("file record of {} bytes is too large", bytes.len()));
    }
    let value = plist::Value::from_reader(std::io::Cursor::new(bytes))
        .map_err(|e| format!("file record is not a property list: {e}"))?;
    let top = value
        .as_dictionary()
        .ok_or("file record is not a dictionary")?;
    let objects = top
        .get("$objects")
        .and_then(plist::Value::as_array)
        .ok_or("file record has no $objects")?;
    let object = |v: Option<&plist::Value>| -> Option<&plist::Value> {
        let uid = v?.as_uid()?.get();
        objects.get(usize::try_from(uid).ok()?)
    };
    let root = top
        .get("$top")
        .and_then(plist::Value::as_dictionary)
        .and_then(|t| object(t.get("root")))
        .and_then(plist::Value::as_dictionary)
        .ok_or("file record has no root object")?;
    let uint = |key: &str| -> Option<u64> {
        let v = root.get(key)?;
        v.as_unsigned_integer()
            .or_else(|| v.as_signed_integer().and_then(|i| u64::try_from(i).ok()))
    };
    let protection_class = uint("ProtectionClass")
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0);
    let size = uint("Size").unwrap_or(0);
    let encryption_key = match root.get("EncryptionKey") {
        None => None,
        Some(k) => {
            let target = object(Some(k)).or(Some(k));
            let data = target
                .and_then(|t| match t {
                    plist::Value::Data(d) => Some(d.as_slice()),
                    plist::Value::Dictionary(d) => d.get("NS.data").and_then(plist::Value::as_data),
                    _ => None,
                })
                .ok_or("file record's EncryptionKey holds no data")?;
            let (class, wrapped) = data
                .split_first_chunk::<4>()
                .ok_or("file record's EncryptionKey is shorter than 4 bytes")?;
            Some((u32::from_le_bytes(*class), wrapped.to_vec()))
        }
    };
    Ok(FileRecord {
        protection_class,
        size,
        encryption_key,
    })
}

/// Opens a (plain or decrypted) `Manifest.db` read-only.
pub(crate) fn open(path: &Path) -> Result<Connection> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Error::source_db(path, e))?;
    c.query_row("SELECT count(*) FROM Files", [], |r| r.get::<_, i64>(0))
        .map_err(|e| Error::source_db(path, e))?;
    Ok(c)
}

/// The entries of `domain` whose relative path starts with `prefix`, in path order.
/// `display` names the manifest in errors.
pub(crate) fn list(
    c: &Connection,
    display: &Path,
    domain: &str,
    prefix: &str,
    flat: bool,
) -> Result<Vec<Entry>> {
    let mut st = c
        .prepare(
            "SELECT fileID, domain, relativePath, flags, file FROM Files
             WHERE domain = ?1 AND substr(relativePath, 1, length(?2)) = ?2
             ORDER BY relativePath",
        )
        .map_err(|e| Error::source_db(display, e))?;
    let rows = st
        .query_map([domain, prefix], |r| {
            Ok(Entry {
                file_id: r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                domain: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                relative_path: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                flags: r.get::<_, Option<i64>>(3)?.unwrap_or(0),
                record: r.get::<_, Option<Vec<u8>>>(4)?,
                flat,
            })
        })
        .map_err(|e| Error::source_db(display, e))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row.map_err(|e| Error::source_db(display, e))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_garbage_records() {
        assert_eq!(
            stored_rel("3d0d7e5fb2ce288813306e4d4636395e047a3d28").as_deref(),
            Some("3d/3d0d7e5fb2ce288813306e4d4636395e047a3d28")
        );
        assert_eq!(stored_rel("../etc/passwd"), None);
        assert_eq!(stored_rel("3d0d7e5fb2ce288813306e4d4636395e047a3d2/"), None);
        for n in 0..50 {
            assert!(parse_record(&vec![0x62; n]).is_err());
        }
        assert!(parse_record(b"bplist00").is_err());
    }
}
