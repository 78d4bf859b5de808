//! Reusable byte buffers. A backup moves gigabytes through megabyte-sized chunk, blob and
//! pack buffers; allocating each afresh makes allocators either keep freed memory around
//! (resident memory drifts far above what is used) or return it and fault it back in (a
//! second of system time per 500 MB). A small pool of recycled buffers avoids both, on
//! every platform's allocator.

use std::sync::Mutex;

/// A bounded free list of buffers.
pub struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
    keep: usize,
    max_capacity: usize,
}

impl BufferPool {
    /// A pool that keeps at most `keep` idle buffers of at most `max_capacity` bytes each
    /// (rare oversized buffers are freed rather than kept idle).
    pub fn new(keep: usize, max_capacity: usize) -> Self {
        BufferPool {
            free: Mutex::new(Vec::new()),
            keep,
            max_capacity,
        }
    }

    /// An empty buffer, recycled if one is idle.
    pub fn take(&self) -> Vec<u8> {
        self.free
            .lock()
            .ok()
            .and_then(|mut f| f.pop())
            .unwrap_or_default()
    }

    /// Returns a buffer for reuse (dropped if the pool is full).
    pub fn give(&self, mut buf: Vec<u8>) {
        buf.clear();
        if buf.capacity() > self.max_capacity {
            return;
        }
        if let Ok(mut f) = self.free.lock() {
            if f.len() < self.keep {
                f.push(buf);
            }
        }
    }
}
