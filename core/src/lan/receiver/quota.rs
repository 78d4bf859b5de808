//! Per-device quotas with reservations: an upload reserves its declared length before its
//! body is read, so parallel uploads cannot overshoot the quota together; the reservation
//! is settled when the object is stored (counting only what the object adds over the one it
//! replaces, so a re-sent object is not counted twice) and released when it is not.

use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::lock;

#[derive(Default)]
struct Usage {
    /// Bytes stored.
    used: u64,
    /// Bytes reserved by uploads in progress.
    reserved: u64,
}

/// Usage and reservations of every device folder.
#[derive(Default)]
pub(crate) struct Quotas {
    usage: Mutex<HashMap<String, Usage>>,
    /// Objects (`folder/path`) being uploaded: a second upload of the same object waits, so
    /// that what each adds is known when it settles.
    uploading: Mutex<HashSet<String>>,
    done: Condvar,
}

/// Why a reservation was not made.
pub(crate) enum Refused {
    /// The quota would be exceeded: bytes used (stored and reserved) and the quota.
    Full { used: u64, quota: u64 },
    /// Another upload of the same object did not end in time.
    Busy,
    /// The folder's usage could not be read.
    Storage(crate::storage::StorageError),
}

/// An upload asking for room: `len` bytes to `object` (its path) in `folder`.
pub(crate) struct Upload<'a> {
    pub folder: &'a str,
    pub object: &'a str,
    pub len: u64,
}

/// Room held for one upload; released on drop unless settled.
pub(crate) struct Reservation<'a> {
    quotas: &'a Quotas,
    folder: String,
    object: String,
    need: u64,
    old: u64,
    settled: bool,
}

impl Quotas {
    /// Reserves room for an upload of `len` bytes to `object` in `folder` under `quota`.
    /// `size_now` gives the object's current size (if stored), `usage_now` the folder's
    /// usage the first time it is needed. Waits up to `wait` for another upload of the
    /// same object to end.
    pub fn reserve(
        &self,
        Upload {
            folder,
            object,
            len,
        }: Upload<'_>,
        quota: u64,
        wait: Duration,
        size_now: impl FnOnce() -> Result<Option<u64>, crate::storage::StorageError>,
        usage_now: impl FnOnce() -> Result<u64, crate::storage::StorageError>,
    ) -> Result<Reservation<'_>, Refused> {
        let key = format!("{folder}/{object}");
        {
            let deadline = Instant::now() + wait;
            let mut uploading = lock(&self.uploading);
            while uploading.contains(&key) {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Refused::Busy);
                }
                uploading = self
                    .done
                    .wait_timeout(uploading, left)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            uploading.insert(key.clone());
        }
        // From here the claim on the object is released by the reservation's drop.
        let mut reservation = Reservation {
            quotas: self,
            folder: folder.to_string(),
            object: key,
            need: 0,
            old: 0,
            settled: false,
        };
        reservation.old = size_now().map_err(Refused::Storage)?.unwrap_or(0);
        let mut usage = lock(&self.usage);
        if !usage.contains_key(folder) {
            let used = usage_now().map_err(Refused::Storage)?;
            usage.insert(folder.to_string(), Usage { used, reserved: 0 });
        }
        let Some(u) = usage.get_mut(folder) else {
            return Err(Refused::Busy);
        };
        // Replacing an object frees its old bytes; an identical re-send needs nothing.
        let need = len.saturating_sub(reservation.old);
        let taken = u.used.saturating_add(u.reserved);
        if taken.saturating_add(need) > quota {
            return Err(Refused::Full { used: taken, quota });
        }
        u.reserved += need;
        reservation.need = need;
        Ok(reservation)
    }

    /// An object of `size` bytes was deleted from `folder`.
    pub fn deleted(&self, folder: &str, size: u64) {
        if let Some(u) = lock(&self.usage).get_mut(folder) {
            u.used = u.used.saturating_sub(size);
        }
    }

    /// Bytes stored in `folder` as counted (`None` before the first upload under a quota).
    #[cfg(test)]
    pub fn used(&self, folder: &str) -> Option<u64> {
        lock(&self.usage).get(folder).map(|u| u.used)
    }
}

impl Reservation<'_> {
    /// The object is stored with `len` bytes: the usage grows by what it added.
    pub fn settle(mut self, len: u64) {
        let mut usage = lock(&self.quotas.usage);
        if let Some(u) = usage.get_mut(&self.folder) {
            u.reserved = u.reserved.saturating_sub(self.need);
            u.used = u.used.saturating_sub(self.old).saturating_add(len);
        }
        self.settled = true;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.settled {
            if let Some(u) = lock(&self.quotas.usage).get_mut(&self.folder) {
                u.reserved = u.reserved.saturating_sub(self.need);
            }
        }
        lock(&self.quotas.uploading).remove(&self.object);
        self.quotas.done.notify_all();
    }
}
