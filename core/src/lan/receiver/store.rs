//! Where the receiver keeps a device's repository: a folder under its directory (files are
//! streamed in and out), or, with `serve --store LOCATION`, any storage location (an S3
//! bucket on a Garage cluster, a WebDAV server), one sub-location per device.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use super::http1;
use crate::storage::{LocalStorage, ObjectKind, Storage, StorageError};

/// One device's repository.
pub(crate) enum DeviceStore {
    Local(LocalStorage),
    Remote(Arc<dyn Storage>),
}

/// What a read of an object answers.
pub(crate) enum Fetched {
    NotFound,
    /// The range lies outside the object of this size.
    Unsatisfiable(u64),
    Body {
        /// `Some((start, len))` for a range.
        range: Option<(u64, u64)>,
        size: u64,
        data: Box<dyn Read>,
    },
}

impl DeviceStore {
    /// The Storage view (list, size, delete).
    pub fn storage(&self) -> &dyn Storage {
        match self {
            DeviceStore::Local(l) => l,
            DeviceStore::Remote(r) => r.as_ref(),
        }
    }

    /// Stores exactly `len` bytes of `body` (streamed to disk, or held in memory while a
    /// remote store takes it).
    pub fn put(
        &self,
        kind: ObjectKind,
        name: &str,
        body: &mut dyn Read,
        len: u64,
    ) -> Result<(), StorageError> {
        match self {
            DeviceStore::Local(l) => l.put_from(kind, name, body, len),
            DeviceStore::Remote(r) => {
                let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                body.take(len).read_to_end(&mut data).map_err(|e| {
                    StorageError::backend("put", &kind.path_of(name), e.to_string())
                })?;
                if data.len() as u64 != len {
                    return Err(StorageError::backend(
                        "put",
                        &kind.path_of(name),
                        format!("the upload ended after {} of {len} bytes", data.len()),
                    ));
                }
                r.put(kind, name, &data)
            }
        }
    }

    /// Opens an object for an answer, honouring a `Range` header.
    pub fn read(
        &self,
        kind: ObjectKind,
        name: &str,
        range: Option<&str>,
    ) -> Result<Fetched, StorageError> {
        match self {
            DeviceStore::Local(l) => {
                let path = l.object_path(kind, name)?;
                let mut file = match std::fs::File::open(&path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Fetched::NotFound),
                    Err(e) => {
                        return Err(StorageError::backend(
                            "get",
                            &path.display().to_string(),
                            e.to_string(),
                        ))
                    }
                };
                let io_err = |e: io::Error| {
                    StorageError::backend("get", &path.display().to_string(), e.to_string())
                };
                let size = file.metadata().map_err(io_err)?.len();
                match http1::parse_range(range, size) {
                    Err(()) => Ok(Fetched::Unsatisfiable(size)),
                    Ok(None) => Ok(Fetched::Body {
                        range: None,
                        size,
                        data: Box::new(file),
                    }),
                    Ok(Some((start, len))) => {
                        file.seek(SeekFrom::Start(start)).map_err(io_err)?;
                        Ok(Fetched::Body {
                            range: Some((start, len)),
                            size,
                            data: Box::new(file.take(len)),
                        })
                    }
                }
            }
            DeviceStore::Remote(r) => {
                let Some(size) = r.size(kind, name)? else {
                    return Ok(Fetched::NotFound);
                };
                match http1::parse_range(range, size) {
                    Err(()) => Ok(Fetched::Unsatisfiable(size)),
                    Ok(None) => Ok(Fetched::Body {
                        range: None,
                        size,
                        data: Box::new(io::Cursor::new(r.get(kind, name)?)),
                    }),
                    Ok(Some((start, len))) => Ok(Fetched::Body {
                        range: Some((start, len)),
                        size,
                        data: Box::new(io::Cursor::new(r.get_range(kind, name, start, len)?)),
                    }),
                }
            }
        }
    }

    /// Bytes the device's objects take.
    pub fn usage(&self) -> Result<u64, StorageError> {
        let mut total = 0;
        for kind in [
            ObjectKind::Config,
            ObjectKind::Key,
            ObjectKind::Snapshot,
            ObjectKind::Index,
            ObjectKind::Pack,
            ObjectKind::Lock,
        ] {
            total += self
                .storage()
                .list(kind)?
                .iter()
                .map(|o| o.size)
                .sum::<u64>();
        }
        Ok(total)
    }
}
